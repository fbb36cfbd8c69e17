//! Memory management: the kernel's side of it. The generic algorithms live in
//! the host-testable `pagoda_mm` crate; this module wires them to the machine.
pub mod bench;
pub mod early_heap;
pub mod fixmap;
pub mod frame_seam;
pub mod ioremap;
pub mod kswapd;
pub mod layout;
pub mod memblock;
pub mod mm_init;
pub mod page_alloc;
pub mod pgalloc;
pub mod procfs;
pub mod ptdump;
pub mod slab;
pub mod stress;
pub mod vmalloc;
