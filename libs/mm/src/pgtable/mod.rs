//! Page tables: generic protections, the walker (walk.rs), the TLB gather
//! (tlb.rs), and the arch PTE type re-exported as `Pte`.
pub use crate::arch::aarch64::pgtable_hwdef as desc;
pub mod tlb;
pub mod walk;

pub use crate::arch::aarch64::pgtable::{Pgprot, Pte, SwpEntry};
pub use tlb::MmuGather;
pub use walk::{MapFlags, PageTable, PageTableMem, PgtableError, PteSlot, Walk};

bitflags::bitflags! {
    /// What a mapping allows, in generic terms (Linux: pgprot_t and the
    /// PAGE_* protections of pgtable-prot.h). `desc` turns these into bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Prot: u32 {
        const READ    = 1 << 0;
        const WRITE   = 1 << 1;
        const EXEC    = 1 << 2;
        /// Accessible from EL0 (user space); also makes the entry non-global.
        const USER    = 1 << 3;
        /// Device-nGnRE memory (MMIO).
        const DEVICE  = 1 << 4;
        /// Normal non-cacheable memory.
        const NOCACHE = 1 << 5;
        /// Access flag clear: the first access faults ("old", not young).
        const OLD     = 1 << 6;
        /// Software dirty bit.
        const DIRTY   = 1 << 7;
        /// Software special bit (no struct page behind it, e.g. the zero page).
        const SPECIAL = 1 << 8;
    }
}

impl Prot {
    /// Kernel data: RW, never executable (Linux: PAGE_KERNEL).
    pub const PAGE_KERNEL: Prot = Prot::READ.union(Prot::WRITE);
    /// Kernel read-only data (Linux: PAGE_KERNEL_RO).
    pub const PAGE_KERNEL_RO: Prot = Prot::READ;
    /// Kernel text: read and execute (Linux: PAGE_KERNEL_ROX).
    pub const PAGE_KERNEL_ROX: Prot = Prot::READ.union(Prot::EXEC);
    /// Kernel RWX, only for the boot tables (Linux: PAGE_KERNEL_EXEC).
    pub const PAGE_KERNEL_EXEC: Prot = Prot::READ.union(Prot::WRITE).union(Prot::EXEC);
    /// Device registers (Linux: PROT_DEVICE_nGnRE).
    pub const PAGE_DEVICE: Prot = Prot::READ.union(Prot::WRITE).union(Prot::DEVICE);
}

#[cfg(test)]
mod tests;
