//! Pagoda's generic memory-management code.
//!
//! Everything here is free of arch code and hardware access, so it compiles
//! and is tested on the host (`cargo test -p pagoda-mm`). The kernel plugs in
//! the hardware through narrow traits (for page tables: how to reach a
//! table's memory and how to get a new table page).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod addr;
pub mod asid;
pub mod gfp;
pub mod memblock;
pub mod mmzone;
pub mod page;
pub mod page_alloc;
pub mod pgtable;
pub mod slab;
pub mod vmap;
pub mod vmstat;

#[cfg(test)]
mod page_alloc_tests;
