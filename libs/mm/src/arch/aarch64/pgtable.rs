//! The PTE value type for user space, with Linux's helpers
//! (Linux: arch/arm64/include/asm/pgtable.h, pgtable-prot.h).
//!
//! A `Pte` is the 64-bit descriptor of a level-3 entry, as a value: the
//! fault path reads one, builds the next with `pte_mkyoung`/`pte_mkdirty`/
//! ..., and installs it with a compare-and-replace (see
//! `pgtable::walk::PteSlot`).
//!
//! # Software write and dirty bits
//!
//! This CPU model has no hardware dirty-bit management (no FEAT_HAFDBS), so
//! arm64 Linux tracks writes in software:
//! - `PTE_WRITE` (bit 51, the DBM position) says "the mapping *may* be
//!   written"; `PTE_RDONLY` (AP[2]) says what the MMU enforces now.
//! - A writable page that is clean has both: the first write takes a
//!   permission fault, the fault handler marks the PTE dirty
//!   (`pte_mkdirty`), which clears `PTE_RDONLY`, and the write is retried.
//! - `PTE_DIRTY` (bit 55) remembers dirtiness after write-protection
//!   (`pte_wrprotect` of a hardware-writable PTE sets it first).
//! - The young bit is the Access Flag: a PTE made old faults on its next
//!   access (an access-flag fault), which is how reclaim's second chance
//!   learns that a page was used.
//!
//! # Non-present encodings
//!
//! ```text
//! swap entry:  bits 0-1 zero (invalid), 2-7 type, 8-57 offset, 58 zero
//! PROT_NONE:   bit 0 zero (invalid to the MMU), bit 58 PTE_PROT_NONE set,
//!              every other bit as the present PTE had it
//! ```
//! A PROT_NONE PTE is present to the kernel (`pte_present`), so the page
//! stays mapped and counted; the MMU faults on any access.
//!
//! Difference from Linux 6.1: `pte_mkwrite` clears PTE_RDONLY only for a PTE
//! that is already dirty (as Linux 6.6's pte_mkwrite_novma does), so a
//! writable PTE is never hardware-writable while clean.

use super::pgtable_hwdef::{MT_DEVICE_NGNRE, MT_NORMAL};
use crate::addr::PAGE_SHIFT;

pub const PTE_VALID: u64 = 1 << 0;
/// At level 3: a page descriptor (bit 1 set).
pub const PTE_TYPE_PAGE: u64 = 1 << 1;
pub const PTE_ATTRINDX_SHIFT: u64 = 2;
pub const PTE_ATTRINDX_MASK: u64 = 7 << PTE_ATTRINDX_SHIFT;
/// AP[1]: EL0 may access.
pub const PTE_USER: u64 = 1 << 6;
/// AP[2]: read-only for the MMU.
pub const PTE_RDONLY: u64 = 1 << 7;
/// SH[1:0] = inner shareable.
pub const PTE_SHARED: u64 = 3 << 8;
/// Access Flag: the "young" bit.
pub const PTE_AF: u64 = 1 << 10;
/// not Global: tagged with the ASID.
pub const PTE_NG: u64 = 1 << 11;
/// Software write permission, kept in the DBM bit (Linux: PTE_WRITE = PTE_DBM).
pub const PTE_WRITE: u64 = 1 << 51;
pub const PTE_PXN: u64 = 1 << 53;
pub const PTE_UXN: u64 = 1 << 54;
/// Software dirty bit.
pub const PTE_DIRTY: u64 = 1 << 55;
/// Software: no struct page behind it (the zero page, PFN maps).
pub const PTE_SPECIAL: u64 = 1 << 56;
/// Software, only when !PTE_VALID: a PROT_NONE mapping.
pub const PTE_PROT_NONE: u64 = 1 << 58;
/// Output address [47:12].
pub const PTE_ADDR_MASK: u64 = ((1 << 48) - 1) & !((1 << PAGE_SHIFT) - 1);

/// Swap entry layout (Linux 6.1 arm64 __SWP_*).
pub const SWP_TYPE_SHIFT: u64 = 2;
pub const SWP_TYPE_BITS: u64 = 6;
pub const SWP_OFFSET_SHIFT: u64 = SWP_TYPE_SHIFT + SWP_TYPE_BITS;
pub const SWP_OFFSET_BITS: u64 = 50;
pub const MAX_SWAPFILES: usize = 1 << SWP_TYPE_BITS;
pub const MAX_SWAP_OFFSET: u64 = (1 << SWP_OFFSET_BITS) - 1;

/// A protection value: the attribute bits of a PTE (Linux: pgprot_t).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pgprot(pub u64);

const PROT_DEFAULT: u64 = PTE_TYPE_PAGE | PTE_AF | PTE_SHARED;
const PAGE_DEFAULT: u64 = PROT_DEFAULT | (MT_NORMAL << PTE_ATTRINDX_SHIFT);
const PAGE_USER_BASE: u64 = PAGE_DEFAULT | PTE_VALID | PTE_USER | PTE_NG | PTE_PXN;

impl Pgprot {
    /// No access at all (Linux: PAGE_NONE): invalid to the MMU, present to
    /// the kernel.
    pub const PAGE_NONE: Pgprot =
        Pgprot((PAGE_DEFAULT | PTE_PROT_NONE | PTE_NG | PTE_PXN | PTE_UXN | PTE_RDONLY) & !PTE_VALID);
    /// Read and write, clean: the first write faults (Linux: PAGE_SHARED).
    pub const PAGE_SHARED: Pgprot = Pgprot(PAGE_USER_BASE | PTE_RDONLY | PTE_UXN | PTE_WRITE);
    pub const PAGE_SHARED_EXEC: Pgprot = Pgprot(PAGE_USER_BASE | PTE_RDONLY | PTE_WRITE);
    /// Read only; for a private writable mapping too, until COW (Linux:
    /// PAGE_READONLY, and PAGE_COPY which equals it on arm64).
    pub const PAGE_READONLY: Pgprot = Pgprot(PAGE_USER_BASE | PTE_RDONLY | PTE_UXN);
    pub const PAGE_READONLY_EXEC: Pgprot = Pgprot(PAGE_USER_BASE | PTE_RDONLY);
    pub const PAGE_EXECONLY: Pgprot =
        Pgprot((PAGE_DEFAULT | PTE_VALID | PTE_RDONLY | PTE_NG | PTE_PXN) & !PTE_UXN);
    /// Device memory for user mappings of MMIO.
    pub const PAGE_DEVICE_USER: Pgprot = Pgprot(
        (PAGE_USER_BASE & !PTE_ATTRINDX_MASK)
            | (MT_DEVICE_NGNRE << PTE_ATTRINDX_SHIFT)
            | PTE_UXN
            | PTE_RDONLY,
    );

    /// The PTE protection of a VMA (Linux: vm_get_page_prot over
    /// protection_map[VM_READ|VM_WRITE|VM_EXEC|VM_SHARED]). A private
    /// writable mapping starts read-only: writes go through COW.
    pub const fn vm_get_page_prot(read: bool, write: bool, exec: bool, shared: bool) -> Pgprot {
        match (read, write, exec, shared) {
            (false, false, false, _) => Self::PAGE_NONE,
            (false, false, true, _) => Self::PAGE_EXECONLY,
            (_, true, false, true) => Self::PAGE_SHARED,
            (_, true, true, true) => Self::PAGE_SHARED_EXEC,
            (_, _, false, _) => Self::PAGE_READONLY,
            (_, _, true, _) => Self::PAGE_READONLY_EXEC,
        }
    }
}

/// A swap entry: which swap device and which slot (Linux: swp_entry_t).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SwpEntry {
    pub swp_type: usize,
    pub offset: u64,
}

impl SwpEntry {
    /// Linux: swp_entry. Panics on a type or offset that does not fit, or
    /// on offset 0: slot 0 of every swap device holds its header and is
    /// never a page's slot, and (type 0, offset 0) would encode as an empty
    /// PTE.
    pub const fn new(swp_type: usize, offset: u64) -> SwpEntry {
        assert!(swp_type < MAX_SWAPFILES && offset >= 1 && offset <= MAX_SWAP_OFFSET);
        SwpEntry { swp_type, offset }
    }
}

/// A level-3 descriptor as a value (Linux: pte_t).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct Pte(pub u64);

impl Pte {
    pub const NONE: Pte = Pte(0);

    /// A PTE mapping physical `pa` with `prot` (Linux: pfn_pte).
    pub const fn pfn_pte(pfn: usize, prot: Pgprot) -> Pte {
        Pte((((pfn as u64) << PAGE_SHIFT) & PTE_ADDR_MASK) | prot.0)
    }

    pub const fn val(self) -> u64 {
        self.0
    }
    /// Nothing at all: never mapped, or zapped (Linux: pte_none).
    pub const fn pte_none(self) -> bool {
        self.0 == 0
    }
    /// Mapped as far as the kernel is concerned: valid to the MMU, or
    /// PROT_NONE (Linux: pte_present).
    pub const fn pte_present(self) -> bool {
        self.0 & (PTE_VALID | PTE_PROT_NONE) != 0
    }
    /// Valid to the MMU (Linux: pte_valid).
    pub const fn pte_valid(self) -> bool {
        self.0 & PTE_VALID != 0
    }
    /// A PROT_NONE mapping (Linux: pte_protnone).
    pub const fn pte_protnone(self) -> bool {
        self.0 & (PTE_VALID | PTE_PROT_NONE) == PTE_PROT_NONE
    }
    /// Holds a swap entry (Linux: is_swap_pte).
    pub const fn is_swap_pte(self) -> bool {
        !self.pte_none() && !self.pte_present()
    }
    pub const fn pte_pfn(self) -> usize {
        ((self.0 & PTE_ADDR_MASK) >> PAGE_SHIFT) as usize
    }
    pub const fn pte_young(self) -> bool {
        self.0 & PTE_AF != 0
    }
    /// May be written (Linux: pte_write).
    pub const fn pte_write(self) -> bool {
        self.0 & PTE_WRITE != 0
    }
    pub const fn pte_rdonly(self) -> bool {
        self.0 & PTE_RDONLY != 0
    }
    /// Writable by the MMU right now, hence dirty (Linux: pte_hw_dirty).
    pub const fn pte_hw_dirty(self) -> bool {
        self.pte_write() && !self.pte_rdonly()
    }
    pub const fn pte_sw_dirty(self) -> bool {
        self.0 & PTE_DIRTY != 0
    }
    pub const fn pte_dirty(self) -> bool {
        self.pte_sw_dirty() || self.pte_hw_dirty()
    }
    pub const fn pte_special(self) -> bool {
        self.0 & PTE_SPECIAL != 0
    }
    pub const fn pte_user(self) -> bool {
        self.0 & PTE_USER != 0
    }
    pub const fn pte_user_exec(self) -> bool {
        self.pte_user() && self.0 & PTE_UXN == 0
    }

    const fn set(self, bits: u64) -> Pte {
        Pte(self.0 | bits)
    }
    const fn clear(self, bits: u64) -> Pte {
        Pte(self.0 & !bits)
    }

    pub const fn pte_mkyoung(self) -> Pte {
        self.set(PTE_AF)
    }
    /// The next access faults (an access-flag fault), setting it young again.
    pub const fn pte_mkold(self) -> Pte {
        self.clear(PTE_AF)
    }
    /// Dirty; a writable PTE becomes writable by the MMU.
    pub const fn pte_mkdirty(self) -> Pte {
        let p = self.set(PTE_DIRTY);
        if p.pte_write() {
            p.clear(PTE_RDONLY)
        } else {
            p
        }
    }
    /// Clean: the next write faults again (if writable at all).
    pub const fn pte_mkclean(self) -> Pte {
        self.clear(PTE_DIRTY).set(PTE_RDONLY)
    }
    /// May be written. Stays MMU-read-only while clean, so the first write
    /// faults and marks it dirty.
    pub const fn pte_mkwrite(self) -> Pte {
        let p = self.set(PTE_WRITE);
        if p.pte_sw_dirty() {
            p.clear(PTE_RDONLY)
        } else {
            p
        }
    }
    /// Read only; a PTE the MMU had writable keeps its dirtiness in PTE_DIRTY.
    pub const fn pte_wrprotect(self) -> Pte {
        let p = if self.pte_hw_dirty() { self.set(PTE_DIRTY) } else { self };
        p.clear(PTE_WRITE).set(PTE_RDONLY)
    }
    pub const fn pte_mkspecial(self) -> Pte {
        self.set(PTE_SPECIAL)
    }

    /// Changes the protection, keeping the address and the young, dirty
    /// and special bits (Linux: pte_modify).
    pub const fn pte_modify(self, prot: Pgprot) -> Pte {
        const MASK: u64 = PTE_USER
            | PTE_PXN
            | PTE_UXN
            | PTE_RDONLY
            | PTE_PROT_NONE
            | PTE_VALID
            | PTE_WRITE
            | PTE_ATTRINDX_MASK;
        let p = if self.pte_hw_dirty() { self.set(PTE_DIRTY) } else { self };
        let p = Pte((p.0 & !MASK) | (prot.0 & MASK));
        // A dirty PTE that stays writable may stay MMU-writable.
        if p.pte_sw_dirty() && p.pte_write() {
            p.clear(PTE_RDONLY)
        } else {
            p
        }
    }

    /// A swap entry as a PTE (Linux: swp_entry_to_pte).
    pub const fn from_swp_entry(e: SwpEntry) -> Pte {
        Pte(((e.swp_type as u64) << SWP_TYPE_SHIFT) | (e.offset << SWP_OFFSET_SHIFT))
    }
    /// The swap entry a swap PTE holds (Linux: pte_to_swp_entry).
    pub const fn to_swp_entry(self) -> Option<SwpEntry> {
        if !self.is_swap_pte() {
            return None;
        }
        Some(SwpEntry {
            swp_type: ((self.0 >> SWP_TYPE_SHIFT) & ((1 << SWP_TYPE_BITS) - 1)) as usize,
            offset: (self.0 >> SWP_OFFSET_SHIFT) & MAX_SWAP_OFFSET,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgtable::desc::{decode, Desc};

    #[test]
    fn swap_entries_round_trip_for_every_type_and_a_spread_of_offsets() {
        // Offset 0 is the swap header, never a slot (SwpEntry::new refuses it):
        // it is the one encoding that would collide with pte_none.
        assert!(Pte::from_swp_entry(SwpEntry { swp_type: 0, offset: 0 }).pte_none());
        let mut offsets = vec![1, 2, 0xff, 0x100, 0xdead_beef, MAX_SWAP_OFFSET - 1, MAX_SWAP_OFFSET];
        offsets.extend((0..SWP_OFFSET_BITS).map(|b| 1u64 << b));
        for t in 0..MAX_SWAPFILES {
            for &off in &offsets {
                let e = SwpEntry::new(t, off);
                let pte = Pte::from_swp_entry(e);
                assert!(!pte.pte_present() && !pte.pte_valid(), "{e:?} looks present");
                assert!(!pte.pte_none(), "{e:?} looks empty");
                assert!(pte.is_swap_pte());
                assert_eq!(pte.0 & PTE_PROT_NONE, 0, "{e:?} overlaps PTE_PROT_NONE");
                assert_eq!(pte.to_swp_entry(), Some(e));
                assert_eq!(decode(pte.0, 3), Desc::Invalid, "the MMU must not see {e:?} as valid");
            }
        }
    }

    #[test]
    fn prot_none_is_invalid_to_the_mmu_but_present_to_software() {
        let pte = Pte::pfn_pte(0x4_2000, Pgprot::PAGE_NONE);
        assert!(!pte.pte_valid());
        assert_eq!(decode(pte.0, 3), Desc::Invalid);
        assert!(pte.pte_present() && pte.pte_protnone());
        assert!(!pte.is_swap_pte() && pte.to_swp_entry().is_none());
        assert_eq!(pte.pte_pfn(), 0x4_2000);
        // mprotect back to read-write: the same page, valid again.
        let rw = pte.pte_modify(Pgprot::PAGE_SHARED);
        assert!(rw.pte_valid() && rw.pte_write() && !rw.pte_protnone());
        assert_eq!(rw.pte_pfn(), 0x4_2000);
    }

    #[test]
    fn a_clean_writable_pte_is_read_only_to_the_mmu_until_marked_dirty() {
        let pte = Pte::pfn_pte(7, Pgprot::PAGE_SHARED);
        assert!(pte.pte_write() && pte.pte_rdonly() && !pte.pte_dirty());
        let Desc::Leaf { prot, .. } = decode(pte.0, 3) else { panic!("not a page") };
        assert!(!prot.contains(crate::pgtable::Prot::WRITE), "the MMU must fault the first write");
        let dirty = pte.pte_mkdirty();
        assert!(dirty.pte_dirty() && !dirty.pte_rdonly());
        let Desc::Leaf { prot, .. } = decode(dirty.0, 3) else { panic!("not a page") };
        assert!(prot.contains(crate::pgtable::Prot::WRITE));
        // Cleaning makes the next write fault again.
        let clean = dirty.pte_mkclean();
        assert!(!clean.pte_dirty() && clean.pte_rdonly() && clean.pte_write());
        // pte_mkwrite of a clean read-only PTE keeps it MMU-read-only.
        let w = Pte::pfn_pte(7, Pgprot::PAGE_READONLY).pte_mkwrite();
        assert!(w.pte_write() && w.pte_rdonly());
    }

    #[test]
    fn wrprotect_keeps_dirtiness_and_modify_keeps_young_dirty_special() {
        let pte = Pte::pfn_pte(9, Pgprot::PAGE_SHARED).pte_mkdirty().pte_mkyoung().pte_mkspecial();
        let ro = pte.pte_wrprotect();
        assert!(!ro.pte_write() && ro.pte_rdonly() && ro.pte_dirty(), "COW must not lose the dirty bit");
        let m = pte.pte_modify(Pgprot::PAGE_READONLY);
        assert!(m.pte_young() && m.pte_dirty() && m.pte_special());
        assert!(!m.pte_write() && m.pte_rdonly());
        let old = m.pte_mkold();
        assert!(!old.pte_young() && old.pte_mkyoung().pte_young());
    }

    #[test]
    fn vm_get_page_prot_follows_the_protection_map() {
        assert_eq!(Pgprot::vm_get_page_prot(true, true, false, false), Pgprot::PAGE_READONLY);
        assert_eq!(Pgprot::vm_get_page_prot(true, true, false, true), Pgprot::PAGE_SHARED);
        assert_eq!(Pgprot::vm_get_page_prot(false, false, false, true), Pgprot::PAGE_NONE);
        assert_eq!(Pgprot::vm_get_page_prot(true, false, true, false), Pgprot::PAGE_READONLY_EXEC);
        assert!(Pte::pfn_pte(1, Pgprot::PAGE_READONLY_EXEC).pte_user_exec());
        assert!(!Pte::pfn_pte(1, Pgprot::PAGE_READONLY).pte_user_exec());
    }
}
