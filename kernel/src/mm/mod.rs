//! Memory management: the kernel's side of it. The generic algorithms live in
//! the host-testable `pagoda_mm` crate; this module owns their instances and
//! wires them to the machine. The arch-specific half (page-table formats,
//! the layout, the fixmap, TLB maintenance) is in `arch::mm`.
pub mod address_space;
pub mod early_heap;
pub mod filemap;
pub mod fork;
pub mod frame_seam;
pub mod ioremap;
pub mod kswapd;
pub mod madvise;
pub mod memblock;
pub mod memory;
pub mod mm_init;
pub mod mm_types;
pub mod mmap;
pub mod mremap;
pub mod oom_kill;
pub mod page_alloc;
pub mod page_writeback;
pub mod pgalloc;
pub mod procfs;
pub mod randomize;
pub mod rmap;
pub mod shmem;
pub mod sigpage;
pub mod slab;
pub mod swap;
pub mod swap_state;
pub mod swapfile;
pub mod uaccess;
pub mod util;
pub mod vma;
pub mod vmalloc;
pub mod vmscan;
