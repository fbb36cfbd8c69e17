//! VMSAv8-64 translation table descriptors, 4 KiB granule (Arm ARM D8.3,
//! "Translation table descriptor formats"), as tock-registers bitfields.
//! Linux: arch/arm64/include/asm/pgtable-hwdef.h and pgtable-prot.h.
//!
//! Generic code never touches these bits; it speaks in [`super::Prot`] and
//! calls [`mk_leaf`] / [`mk_table`] / [`decode`].

use tock_registers::interfaces::{ReadWriteable, Readable};
use tock_registers::register_bitfields;
use tock_registers::registers::InMemoryRegister;

register_bitfields! {u64,
    /// A table descriptor (levels 0-2) pointing at the next-level table.
    pub TABLE_DESCRIPTOR [
        /// NSTable, APTable, UXNTable, PXNTable: hierarchical controls, unused (0).
        PXNTABLE OFFSET(59) NUMBITS(1) [],
        /// Next-level table address [47:12].
        NEXT_LEVEL_TABLE_ADDR OFFSET(12) NUMBITS(36) [],
        /// Descriptor type: 1 = table (at levels 0-2).
        TYPE OFFSET(1) NUMBITS(1) [ Block = 0, Table = 1 ],
        /// Valid.
        VALID OFFSET(0) NUMBITS(1) []
    ],

    /// A block (levels 1-2) or page (level 3) descriptor.
    pub PAGE_DESCRIPTOR [
        /// Software bits [58:55], ignored by hardware. Linux uses them for
        /// PTE_DIRTY (55), PTE_SPECIAL (56) and PTE_DEVMAP (57).
        SW_DIRTY OFFSET(55) NUMBITS(1) [],
        SW_SPECIAL OFFSET(56) NUMBITS(1) [],
        /// Unprivileged (EL0) execute-never.
        UXN OFFSET(54) NUMBITS(1) [],
        /// Privileged (EL1) execute-never.
        PXN OFFSET(53) NUMBITS(1) [],
        /// Contiguous hint (unused).
        CONT OFFSET(52) NUMBITS(1) [],
        /// Dirty Bit Modifier. With hardware dirty management off (this
        /// CPU model), the hardware ignores it; Linux uses it as PTE_WRITE,
        /// the software write permission of a writable page, whichever way
        /// AP[2] says right now.
        DBM OFFSET(51) NUMBITS(1) [],
        /// Output address [47:12] (a block uses [47:21] or [47:30]).
        OUTPUT_ADDR OFFSET(12) NUMBITS(36) [],
        /// not Global: the entry belongs to the ASID of the current TTBR.
        NG OFFSET(11) NUMBITS(1) [],
        /// Access Flag: an access to a page with AF = 0 faults (the "young" bit).
        AF OFFSET(10) NUMBITS(1) [],
        /// Shareability.
        SH OFFSET(8) NUMBITS(2) [ NonShareable = 0b00, OuterShareable = 0b10, InnerShareable = 0b11 ],
        /// Access Permissions [7:6]: AP[2] read-only, AP[1] EL0 access.
        AP OFFSET(6) NUMBITS(2) [ RW_EL1 = 0b00, RW_EL1_EL0 = 0b01, RO_EL1 = 0b10, RO_EL1_EL0 = 0b11 ],
        /// Memory attributes index into MAIR_EL1.
        ATTR_INDX OFFSET(2) NUMBITS(3) [],
        /// 1 = page (level 3) / table (levels 0-2); 0 = block (levels 1-2).
        TYPE OFFSET(1) NUMBITS(1) [ Block = 0, PageOrTable = 1 ],
        VALID OFFSET(0) NUMBITS(1) []
    ]
}

/// MAIR_EL1 indices, as Linux numbers them (boot/sysregs.inc programs MAIR).
pub const MT_DEVICE_NGNRNE: u64 = 0;
pub const MT_DEVICE_NGNRE: u64 = 1;
pub const MT_DEVICE_GRE: u64 = 2;
pub const MT_NORMAL_NC: u64 = 3;
pub const MT_NORMAL: u64 = 4;
pub const MT_NORMAL_WT: u64 = 5;

const ADDR_MASK: u64 = ((1 << 48) - 1) & !0xfff;

use crate::pgtable::Prot;

/// A table descriptor pointing at the table at physical `pa`.
pub fn mk_table(pa: usize) -> u64 {
    let d = InMemoryRegister::<u64, TABLE_DESCRIPTOR::Register>::new(0);
    d.modify(
        TABLE_DESCRIPTOR::NEXT_LEVEL_TABLE_ADDR.val((pa as u64) >> 12)
            + TABLE_DESCRIPTOR::TYPE::Table
            + TABLE_DESCRIPTOR::VALID::SET,
    );
    d.get()
}

/// A leaf: a page at level 3, a block at levels 1 and 2.
pub fn mk_leaf(pa: usize, prot: Prot, level: usize) -> u64 {
    use PAGE_DESCRIPTOR::*;
    let d = InMemoryRegister::<u64, PAGE_DESCRIPTOR::Register>::new(0);
    let attr = if prot.contains(Prot::DEVICE) {
        MT_DEVICE_NGNRE
    } else if prot.contains(Prot::NOCACHE) {
        MT_NORMAL_NC
    } else {
        MT_NORMAL
    };
    let ap = match (prot.contains(Prot::WRITE), prot.contains(Prot::USER)) {
        (true, false) => AP::RW_EL1,
        (true, true) => AP::RW_EL1_EL0,
        (false, false) => AP::RO_EL1,
        (false, true) => AP::RO_EL1_EL0,
    };
    let exec_user = prot.contains(Prot::EXEC) && prot.contains(Prot::USER);
    let exec_kernel = prot.contains(Prot::EXEC) && !prot.contains(Prot::USER);
    d.modify(
        OUTPUT_ADDR.val((pa as u64) >> 12)
            + ATTR_INDX.val(attr)
            + ap
            + SH::InnerShareable
            + AF.val(!prot.contains(Prot::OLD) as u64)
            + NG.val(prot.contains(Prot::USER) as u64)
            + UXN.val(!exec_user as u64)
            + PXN.val(!exec_kernel as u64)
            + DBM.val(prot.contains(Prot::WRITE) as u64)
            + SW_DIRTY.val(prot.contains(Prot::DIRTY) as u64)
            + SW_SPECIAL.val(prot.contains(Prot::SPECIAL) as u64)
            + if level == 3 { TYPE::PageOrTable } else { TYPE::Block }
            + VALID::SET,
    );
    d.get()
}

/// What a descriptor at `level` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Desc {
    Invalid,
    /// Points at a next-level table.
    Table(usize),
    /// Maps memory: a block (levels 1, 2) or a page (level 3).
    Leaf {
        pa: usize,
        prot: Prot,
    },
}

/// The next-level table a descriptor above level 3 points at, if it is a
/// table descriptor (bits[1:0] = 0b11); the walkers' fast path, which
/// `decode` would answer with more work (Linux: pmd_table, pud_table).
#[inline]
pub fn table_addr(raw: u64) -> Option<usize> {
    (raw & 0b11 == 0b11).then_some((raw & ADDR_MASK) as usize)
}

/// Decodes a descriptor found at `level`.
pub fn decode(raw: u64, level: usize) -> Desc {
    use PAGE_DESCRIPTOR::*;
    let d = InMemoryRegister::<u64, PAGE_DESCRIPTOR::Register>::new(raw);
    if !d.is_set(VALID) {
        return Desc::Invalid;
    }
    let pa = (raw & ADDR_MASK) as usize;
    let is_table_or_page = d.is_set(TYPE);
    if level < 3 && is_table_or_page {
        return Desc::Table(pa);
    }
    if level == 3 && !is_table_or_page {
        return Desc::Invalid; // reserved encoding at level 3
    }
    let mut prot = Prot::READ;
    let ap = d.read(AP);
    if ap & 0b10 == 0 {
        prot |= Prot::WRITE;
    }
    if ap & 0b01 != 0 {
        prot |= Prot::USER;
    }
    let xn = if prot.contains(Prot::USER) { d.is_set(UXN) } else { d.is_set(PXN) };
    if !xn {
        prot |= Prot::EXEC;
    }
    match d.read(ATTR_INDX) {
        MT_DEVICE_NGNRNE | MT_DEVICE_NGNRE | MT_DEVICE_GRE => prot |= Prot::DEVICE,
        MT_NORMAL_NC => prot |= Prot::NOCACHE,
        _ => {}
    }
    if !d.is_set(AF) {
        prot |= Prot::OLD;
    }
    if d.is_set(SW_DIRTY) {
        prot |= Prot::DIRTY;
    }
    if d.is_set(SW_SPECIAL) {
        prot |= Prot::SPECIAL;
    }
    Desc::Leaf { pa, prot }
}

/// Raw fields for the teaching views (`pt`): AttrIndx, AP, SH, AF, nG, PXN, UXN.
pub fn fields(raw: u64) -> [(&'static str, u64); 7] {
    use PAGE_DESCRIPTOR::*;
    let d = InMemoryRegister::<u64, PAGE_DESCRIPTOR::Register>::new(raw);
    [
        ("AttrIndx", d.read(ATTR_INDX)),
        ("AP", d.read(AP)),
        ("SH", d.read(SH)),
        ("AF", d.read(AF)),
        ("nG", d.read(NG)),
        ("PXN", d.read(PXN)),
        ("UXN", d.read(UXN)),
    ]
}
