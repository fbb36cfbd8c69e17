//! The slab allocator, in the classic SLAB design (Linux 2.6-5.x:
//! mm/slab.c; removed in 6.8 in favour of SLUB, kept here because its
//! structure is the clearest to learn from).
//!
//! ```text
//! kmem_cache "kmalloc-64"
//!   cpu[n]: array_cache   LIFO stack of free object pointers (limit, batchcount)
//!      |  refill / flush `batchcount` objects at a time
//!   node[nid]: slabs_partial -> slab -> slab
//!              slabs_full    -> slab
//!              slabs_free    -> slab            (kept up to free_limit objects)
//!   slab: 2^gfporder pages
//!      [ colour | struct slab + freelist (on-slab) | obj 0 | obj 1 | ... | left over ]
//! ```
//!
//! - Allocation pops the CPU's array cache; when it is empty, `batchcount`
//!   objects come from partial (then free) slabs, growing the cache by a new
//!   slab if needed (`cache_alloc_refill`, `cache_grow`).
//! - Free pushes on the array cache; when full, `batchcount` of the oldest go
//!   back to their slabs (`cache_flusharray`, `free_block`), and an empty slab
//!   is kept on slabs_free or, beyond `free_limit`, given back to the page
//!   allocator.
//! - Colouring staggers where objects start in successive slabs by a cache
//!   line, so equal objects of different slabs do not fight for one cache set.
//! - The slab descriptor and its freelist (an array of u16 "bufctl" indices)
//!   live at the start of the slab (on-slab) for small objects, or in a
//!   separate allocation (off-slab) for objects of PAGE_SIZE/8 and more.
//! - Slab pages are marked PG_slab in their struct page and point back to
//!   their cache and slab, so `kfree` finds the cache from an address.
//! - With SLAB_RED_ZONE | SLAB_POISON (`slab_debug` on the command line),
//!   double frees, writes past an object and use after free are detected and
//!   reported as Linux does.
//!
//! Differences from Linux: no shared array caches or alien caches, one
//! descriptor type for on- and off-slab, caches are never merged.

mod cache;
mod debug;
pub mod kmalloc;

#[cfg(test)]
mod tests;

pub use cache::{KmemCache, SlabInfo};
pub use debug::{POISON_END, POISON_FREE, POISON_INUSE, RED_ACTIVE, RED_INACTIVE};

use crate::gfp::Gfp;

bitflags::bitflags! {
    /// Cache creation flags (Linux: include/linux/slab.h SLAB_*).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct SlabFlags: u32 {
        /// Guard words before and after each object, checked on free.
        const RED_ZONE        = 0x0000_0400;
        /// Fill free objects with 0x6b (0xa5 at the end), checked on allocation.
        const POISON          = 0x0000_0800;
        /// Align objects to the cache line.
        const HWCACHE_ALIGN   = 0x0000_2000;
        /// Objects can be reclaimed (counted as SReclaimable).
        const RECLAIM_ACCOUNT = 0x0002_0000;
        /// Panic on creation failure (kmalloc caches).
        const PANIC           = 0x0004_0000;
    }
}

impl SlabFlags {
    /// What `slab_debug` turns on.
    pub const DEBUG: SlabFlags = SlabFlags::RED_ZONE.union(SlabFlags::POISON);
}

pub const CACHE_LINE_SIZE: usize = 64;
pub use crate::addr::PAGE_SIZE;
/// Most CPUs a cache keeps array caches for.
pub const SLAB_NR_CPUS: usize = crate::mmzone::NR_CPUS;
/// Most NUMA nodes a cache keeps lists for.
pub const SLAB_MAX_NUMNODES: usize = crate::page_alloc::MAX_NUMNODES;

/// Who owns a slab page: the cache and the slab descriptor, as addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlabOwner {
    pub cache: usize,
    pub slab: usize,
}

/// What the slab allocator needs from the machine: pages, and the struct
/// page bits that mark them (the kernel implements it over alloc_pages and
/// the mem_map; the host tests over std's allocator and a map).
pub trait SlabBackend: Sync {
    /// 2^order contiguous pages on node `nid` if possible; their virtual address.
    fn alloc_slab_pages(&self, order: usize, gfp: Gfp, nid: usize) -> Option<usize>;
    fn free_slab_pages(&self, va: usize, order: usize);
    /// Marks (PG_slab + owner) or unmarks every page of a slab.
    fn set_slab_owner(&self, va: usize, order: usize, owner: Option<SlabOwner>);
    /// The owner of the slab page holding `va`, if it is a slab page.
    fn slab_owner(&self, va: usize) -> Option<SlabOwner>;
    /// The NUMA node of the page holding `va`.
    fn page_nid(&self, va: usize) -> usize;
    fn this_cpu(&self) -> usize;
    fn this_node(&self) -> usize;
    /// Slab pages came (+) or went (-): NR_SLAB_RECLAIMABLE_B / UNRECLAIMABLE_B.
    fn account_slab_pages(&self, _nid: usize, _reclaimable: bool, _pages: isize) {}
    /// Reports a debugging finding (the kernel logs it like Linux).
    fn report(&self, msg: core::fmt::Arguments);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlabError {
    /// Object too large or alignment not a power of two.
    InvalidSize,
    NoMemory,
    /// kmem_cache_destroy with live objects.
    Busy,
}
