//! Descriptor helpers for the kernel's early mappings. The descriptor format
//! itself (tock-registers bitfields with Arm ARM names) is in
//! `pagoda_mm::pgtable::desc`, so the host tests share it.

pub use pagoda_mm::pgtable::desc::*;
use pagoda_mm::pgtable::Prot;

/// A level-3 page of device registers.
pub fn mk_page_device(pa: usize) -> u64 {
    mk_leaf(pa, Prot::PAGE_DEVICE, 3)
}

/// A level-2 (2 MiB) block of read-only normal memory.
pub fn mk_block_normal_ro(pa: usize) -> u64 {
    mk_leaf(pa, Prot::PAGE_KERNEL_RO, 2)
}
