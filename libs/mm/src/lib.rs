//! Pagoda's generic memory-management code.
//!
//! Everything here compiles and is tested on the host (`cargo test -p
//! pagoda-mm`): no hardware access, no inline assembly. The kernel plugs in
//! the hardware through narrow traits (for page tables: how to reach a
//! table's memory, get and free table pages, and flush the TLB).
//!
//! What depends on the architecture but not on the hardware, the AArch64
//! descriptor format and PTE encodings and the ASID allocation policy, is
//! in `arch::aarch64`, as Linux keeps them under arch/arm64/include/asm.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod addr;
pub mod arch;
pub mod gfp;
pub mod lru;
pub mod memblock;
pub mod mmzone;
pub mod page;
pub mod page_alloc;
pub mod pgtable;
pub mod readahead;
pub mod slab;
pub mod swap_map;
pub mod vma_tree;
pub mod vmap;
pub mod vmstat;
pub mod xarray;

pub use arch::aarch64::asid;
