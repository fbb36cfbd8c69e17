//! struct page: one descriptor per 4 KiB physical page frame
//! (Linux: include/linux/mm_types.h, include/linux/page-flags.h).
//!
//! Kept at 64 bytes, one cache line, as in Linux. The mem_map is an array of
//! these indexed by PFN; free lists and LRU lists link pages by PFN
//! (`lru.next`/`lru.prev`) instead of pointers, so the same code runs over
//! the kernel's vmemmap and over a Vec in host tests.
//!
//! Differences from Linux: no unions (fields have one meaning each), the
//! zone and node ids have their own bytes instead of living in `flags`'
//! top bits, and the pageblock migratetype is kept in the first page of
//! each pageblock rather than in a separate bitmap (`pageblock_flags`).

use core::sync::atomic::{AtomicI32, Ordering};

/// "No page" in a PFN link.
pub const NIL: u64 = u64::MAX;

/// A doubly linked list node, by PFN (Linux: struct list_head lru).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct PfnLink {
    pub next: u64,
    pub prev: u64,
}

impl PfnLink {
    pub const EMPTY: PfnLink = PfnLink { next: NIL, prev: NIL };
}

bitflags::bitflags! {
    /// Page flags (Linux: enum pageflags). Only what Pagoda uses.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PageFlags: u64 {
        const LOCKED      = 1 << 0;
        const REFERENCED  = 1 << 2;
        const UPTODATE    = 1 << 3;
        const DIRTY       = 1 << 4;
        const LRU         = 1 << 5;
        const ACTIVE      = 1 << 6;
        const WORKINGSET  = 1 << 7;
        const SLAB        = 1 << 9;
        const WRITEBACK   = 1 << 10;
        /// Memory the allocator must never hand out (kernel image, holes, firmware).
        const RESERVED    = 1 << 11;
        const PRIVATE     = 1 << 12;
        const HEAD        = 1 << 13;
        const SWAPBACKED  = 1 << 14;
        const UNEVICTABLE = 1 << 15;
        const MLOCKED     = 1 << 16;
        const SWAPCACHE   = 1 << 17;
        /// A free block head in the buddy allocator; `private` holds its order.
        /// (Linux keeps this as a page type in _mapcount, not a flag.)
        const BUDDY       = 1 << 20;
        /// On a per-CPU free list.
        const PCP         = 1 << 21;
    }
}

/// The descriptor of one physical page.
#[repr(C, align(64))]
pub struct Page {
    /// PG_* flags.
    pub flags: PageFlags,
    /// Free-list, pcp-list or LRU links.
    pub lru: PfnLink,
    /// Buddy order when PG_buddy; otherwise owner-specific (swap entry, ...).
    pub private: u64,
    /// The address_space or anon_vma this page belongs to (later issues).
    pub mapping: u64,
    /// Offset within `mapping`; on pcp lists, the migratetype.
    pub index: u64,
    /// References: 0 when free.
    pub refcount: AtomicI32,
    /// Page-table mappings minus one: -1 when unmapped.
    pub mapcount: AtomicI32,
    /// Node and zone of the page (Linux: in the top bits of flags).
    pub nid: u8,
    pub zone_idx: u8,
    /// For the first page of a pageblock: the block's migratetype.
    pub pageblock_mt: u8,
    _pad: [u8; 5],
}

const _: () = assert!(core::mem::size_of::<Page>() == 64);

impl Page {
    /// A reserved page of `zone_idx` on `nid`: the state memmap_init leaves
    /// every page in (Linux: __init_single_page + SetPageReserved).
    pub const fn new_reserved(nid: u8, zone_idx: u8, pageblock_mt: u8) -> Page {
        Page {
            flags: PageFlags::RESERVED,
            lru: PfnLink::EMPTY,
            private: 0,
            mapping: 0,
            index: 0,
            refcount: AtomicI32::new(1),
            mapcount: AtomicI32::new(-1),
            nid,
            zone_idx,
            pageblock_mt,
            _pad: [0; 5],
        }
    }

    pub fn page_ref_count(&self) -> i32 {
        self.refcount.load(Ordering::Relaxed)
    }
    pub fn set_page_count(&self, v: i32) {
        self.refcount.store(v, Ordering::Relaxed)
    }
    /// Takes a reference (Linux: get_page).
    pub fn get_page(&self) {
        self.refcount.fetch_add(1, Ordering::Relaxed);
    }
    /// Drops a reference; true if it was the last (Linux: put_page_testzero).
    pub fn put_page_testzero(&self) -> bool {
        self.refcount.fetch_sub(1, Ordering::AcqRel) == 1
    }
    pub fn page_mapcount(&self) -> i32 {
        self.mapcount.load(Ordering::Relaxed) + 1
    }
    pub fn is_buddy(&self) -> bool {
        self.flags.contains(PageFlags::BUDDY)
    }
    pub fn is_reserved(&self) -> bool {
        self.flags.contains(PageFlags::RESERVED)
    }
    /// The order of a free buddy block (Linux: buddy_order).
    pub fn buddy_order(&self) -> usize {
        self.private as usize
    }
}

/// The mem_map: struct pages for PFNs `[start_pfn, end_pfn)`, reached by
/// PFN arithmetic (Linux: pfn_to_page / page_to_pfn with vmemmap).
#[derive(Clone, Copy)]
pub struct MemMap {
    base: *mut Page,
    start_pfn: usize,
    end_pfn: usize,
}

// SAFETY: the mem_map is shared kernel data; fields are only changed under
// the lock that owns the page (zone->lock for free pages, pcp lock for pcp pages).
unsafe impl Send for MemMap {}
// SAFETY: as above.
unsafe impl Sync for MemMap {}

impl MemMap {
    /// # Safety
    /// `base` must point at `end_pfn - start_pfn` initialised pages that
    /// outlive every user of this map; `base` is the page of `start_pfn`.
    pub const unsafe fn new(base: *mut Page, start_pfn: usize, end_pfn: usize) -> Self {
        MemMap { base, start_pfn, end_pfn }
    }

    pub fn start_pfn(&self) -> usize {
        self.start_pfn
    }
    pub fn end_pfn(&self) -> usize {
        self.end_pfn
    }
    pub fn contains(&self, pfn: usize) -> bool {
        (self.start_pfn..self.end_pfn).contains(&pfn)
    }

    /// The struct page of `pfn` (Linux: pfn_to_page).
    pub fn pfn_to_page(&self, pfn: usize) -> *mut Page {
        debug_assert!(self.contains(pfn), "pfn {pfn:#x} outside the mem_map");
        // SAFETY: in range, per `new`'s contract.
        unsafe { self.base.add(pfn - self.start_pfn) }
    }

    /// The PFN of a struct page (Linux: page_to_pfn).
    pub fn page_to_pfn(&self, page: *const Page) -> usize {
        (page as usize - self.base as usize) / core::mem::size_of::<Page>() + self.start_pfn
    }

    /// Shared access to a page descriptor.
    pub fn page(&self, pfn: usize) -> &Page {
        // SAFETY: in range and initialised; shared reads of a descriptor are
        // fine, mutation goes through `page_mut` under the owning lock.
        unsafe { &*self.pfn_to_page(pfn) }
    }

    /// Exclusive access to a page descriptor.
    ///
    /// # Safety
    /// The caller holds the lock that owns this page's fields (zone->lock
    /// for buddy pages, the pcp lock for pcp pages, or owns the page).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn page_mut(&self, pfn: usize) -> &mut Page {
        // SAFETY: see the function's contract.
        unsafe { &mut *self.pfn_to_page(pfn) }
    }
}
