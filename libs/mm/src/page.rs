//! struct page: one descriptor per 4 KiB physical page frame
//! (Linux: include/linux/mm_types.h, include/linux/page-flags.h,
//! include/linux/page_ref.h, include/linux/mm.h).
//!
//! Kept at 64 bytes, one cache line, as in Linux. The mem_map is an array of
//! these indexed by PFN; free lists and LRU lists link pages by PFN
//! (`lru.next`/`lru.prev`) instead of pointers, so the same code runs over
//! the kernel's vmemmap and over a Vec in host tests.
//!
//! # Concurrency
//!
//! Every CPU may hold a `&Page` to any page at any time (a PFN walk, a
//! /proc view, a speculative lookup), so no `&mut Page` is ever handed out.
//! Each field that changes after boot is an atomic behind an accessor:
//! - `flags` has Linux's two kinds of bit operations: the atomic ones
//!   (`set_bit`, `clear_bit`, `test_and_set_bit_lock`, `clear_bit_unlock`:
//!   SetPageDirty, trylock_page) for pages others may touch, and the
//!   non-atomic `__set_bit`/`__clear_bit` (__SetPageBuddy) for a page that
//!   only its owner, under its owner's lock, can change. Both are sound in
//!   Rust terms (a Relaxed load and store never race undefinedly); the
//!   non-atomic ones are only *logically* wrong if the ownership rule is
//!   broken, exactly as in Linux.
//! - the list links, `private`, `mapping` and `index` are owned by whoever
//!   owns the page (zone->lock for a free block, the pcp lock for a page on
//!   a pcp list, the slab for a slab page, the mapper for a mapped page) and
//!   use Relaxed loads and stores: on AArch64 those are plain LDR and STR,
//!   as fast as the fields they replace.
//! - `refcount` and `mapcount` are atomic counters with Linux's helpers.
//! - `nid` and `zone_idx` are written once by memmap_init and never change.
//!
//! Differences from Linux: no unions (fields have one meaning each), the
//! zone and node ids have their own bytes instead of living in `flags`'
//! top bits, and the pageblock migratetype is kept in the first page of
//! each pageblock rather than in a separate bitmap (`pageblock_flags`).

use core::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, Ordering};

/// "No page" in a PFN link.
pub const NIL: u64 = u64::MAX;

/// `page->mapping` with this bit set points at an anon_vma, not an
/// address_space (Linux: PAGE_MAPPING_ANON).
pub const PAGE_MAPPING_ANON: u64 = 0x1;

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
        /// Page is locked for I/O or a state change (lock_page).
        const LOCKED      = 1 << 0;
        /// Someone sleeps on this page's hashed wait queue (PG_waiters).
        const WAITERS     = 1 << 1;
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
        /// The first page of a readahead window still ahead of the reader:
        /// reaching it starts the next window (Linux: PG_readahead).
        const READAHEAD   = 1 << 18;
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
    flags: AtomicU64,
    /// Free-list, pcp-list or LRU links (Linux: lru).
    lru_next: AtomicU64,
    lru_prev: AtomicU64,
    /// Buddy order when PG_buddy; otherwise owner-specific (swap entry, ...).
    private: AtomicU64,
    /// The address_space, or the anon_vma with PAGE_MAPPING_ANON set.
    mapping: AtomicU64,
    /// Offset within `mapping`; on free lists, the list's migratetype.
    index: AtomicU64,
    /// References (Linux: _refcount): 0 when free.
    refcount: AtomicI32,
    /// Page-table mappings minus one (Linux: _mapcount): -1 when unmapped.
    mapcount: AtomicI32,
    /// Node and zone of the page (Linux: in the top bits of flags).
    nid: u8,
    zone_idx: u8,
    /// For the first page of a pageblock: the block's migratetype.
    pageblock_mt: AtomicU8,
    _pad: [u8; 5],
}

const _: () = assert!(core::mem::size_of::<Page>() == 64);

impl Page {
    /// A reserved page of `zone_idx` on `nid`: the state memmap_init leaves
    /// every page in (Linux: __init_single_page + SetPageReserved).
    pub const fn new_reserved(nid: u8, zone_idx: u8, pageblock_mt: u8) -> Page {
        Page {
            flags: AtomicU64::new(PageFlags::RESERVED.bits()),
            lru_next: AtomicU64::new(NIL),
            lru_prev: AtomicU64::new(NIL),
            private: AtomicU64::new(0),
            mapping: AtomicU64::new(0),
            index: AtomicU64::new(0),
            refcount: AtomicI32::new(1),
            mapcount: AtomicI32::new(-1),
            nid,
            zone_idx,
            pageblock_mt: AtomicU8::new(pageblock_mt),
            _pad: [0; 5],
        }
    }

    // ---- flags (include/linux/page-flags.h) -----------------------------

    pub fn flags(&self) -> PageFlags {
        PageFlags::from_bits_retain(self.flags.load(Ordering::Relaxed))
    }
    /// PageX().
    pub fn test(&self, f: PageFlags) -> bool {
        self.flags.load(Ordering::Relaxed) & f.bits() != 0
    }
    /// SetPageX(): atomic.
    pub fn set_bit(&self, f: PageFlags) {
        self.flags.fetch_or(f.bits(), Ordering::Relaxed);
    }
    /// ClearPageX(): atomic.
    pub fn clear_bit(&self, f: PageFlags) {
        self.flags.fetch_and(!f.bits(), Ordering::Relaxed);
    }
    /// TestSetPageX(): atomic; returns whether any bit of `f` was set.
    pub fn test_and_set_bit(&self, f: PageFlags) -> bool {
        self.flags.fetch_or(f.bits(), Ordering::AcqRel) & f.bits() != 0
    }
    /// TestClearPageX(): atomic; returns whether any bit of `f` was set.
    pub fn test_and_clear_bit(&self, f: PageFlags) -> bool {
        self.flags.fetch_and(!f.bits(), Ordering::AcqRel) & f.bits() != 0
    }
    /// __SetPageX(): non-atomic, for a page only the caller can change.
    pub fn __set_bit(&self, f: PageFlags) {
        let v = self.flags.load(Ordering::Relaxed);
        self.flags.store(v | f.bits(), Ordering::Relaxed);
    }
    /// __ClearPageX(): non-atomic, for a page only the caller can change.
    pub fn __clear_bit(&self, f: PageFlags) {
        let v = self.flags.load(Ordering::Relaxed);
        self.flags.store(v & !f.bits(), Ordering::Relaxed);
    }
    /// Takes PG_locked if it is free, with acquire ordering: what the
    /// previous holder wrote is visible (Linux: trylock_page,
    /// test_and_set_bit_lock).
    pub fn trylock(&self) -> bool {
        self.flags.fetch_or(PageFlags::LOCKED.bits(), Ordering::Acquire) & PageFlags::LOCKED.bits() == 0
    }
    /// Releases PG_locked with release ordering and returns whether
    /// PG_waiters was set, in which case the caller wakes the page's wait
    /// queue (Linux: folio_unlock -> clear_bit_unlock_is_negative_byte).
    /// SeqCst pairs with the waiter, which sets PG_waiters and then
    /// re-reads PG_locked: one of the two always sees the other's store.
    pub fn unlock_test_waiters(&self) -> bool {
        let old = self.flags.fetch_and(!PageFlags::LOCKED.bits(), Ordering::SeqCst);
        debug_assert!(old & PageFlags::LOCKED.bits() != 0, "unlock_page of an unlocked page");
        old & PageFlags::WAITERS.bits() != 0
    }
    /// Clears `bit` (PG_locked or PG_writeback) with release ordering and
    /// returns whether PG_waiters was set (for end_page_writeback).
    pub fn clear_bit_test_waiters(&self, bit: PageFlags) -> bool {
        self.flags.fetch_and(!bit.bits(), Ordering::SeqCst) & PageFlags::WAITERS.bits() != 0
    }
    /// A waiter announces itself before sleeping, then re-reads the bit it
    /// waits on (see `unlock_test_waiters`).
    pub fn set_waiters(&self) {
        self.flags.fetch_or(PageFlags::WAITERS.bits(), Ordering::SeqCst);
    }
    pub fn clear_waiters(&self) {
        self.flags.fetch_and(!PageFlags::WAITERS.bits(), Ordering::Relaxed);
    }

    pub fn is_buddy(&self) -> bool {
        self.test(PageFlags::BUDDY)
    }
    pub fn is_reserved(&self) -> bool {
        self.test(PageFlags::RESERVED)
    }
    pub fn is_locked(&self) -> bool {
        self.test(PageFlags::LOCKED)
    }

    // ---- owner fields ----------------------------------------------------

    pub fn lru(&self) -> PfnLink {
        PfnLink { next: self.lru_next.load(Ordering::Relaxed), prev: self.lru_prev.load(Ordering::Relaxed) }
    }
    pub fn set_lru_next(&self, pfn: u64) {
        self.lru_next.store(pfn, Ordering::Relaxed)
    }
    pub fn set_lru_prev(&self, pfn: u64) {
        self.lru_prev.store(pfn, Ordering::Relaxed)
    }
    pub fn set_lru(&self, link: PfnLink) {
        self.set_lru_next(link.next);
        self.set_lru_prev(link.prev);
    }
    pub fn private(&self) -> u64 {
        self.private.load(Ordering::Relaxed)
    }
    pub fn set_private(&self, v: u64) {
        self.private.store(v, Ordering::Relaxed)
    }
    pub fn index(&self) -> u64 {
        self.index.load(Ordering::Relaxed)
    }
    pub fn set_index(&self, v: u64) {
        self.index.store(v, Ordering::Relaxed)
    }
    /// The raw `mapping` word (an address_space, or an anon_vma | ANON).
    pub fn mapping(&self) -> u64 {
        self.mapping.load(Ordering::Relaxed)
    }
    pub fn set_mapping(&self, v: u64) {
        self.mapping.store(v, Ordering::Relaxed)
    }
    /// Makes this an anonymous page of `anon_vma` at `index` (Linux:
    /// __page_set_anon_rmap). `anon_vma` is an address, at least 2-aligned.
    pub fn set_anon_mapping(&self, anon_vma: u64, index: u64) {
        debug_assert!(anon_vma & PAGE_MAPPING_ANON == 0, "anon_vma address must be aligned");
        self.set_index(index);
        self.mapping.store(anon_vma | PAGE_MAPPING_ANON, Ordering::Release);
    }
    /// Linux: PageAnon.
    pub fn page_anon(&self) -> bool {
        self.mapping() & PAGE_MAPPING_ANON != 0
    }
    /// The anon_vma of an anonymous page (Linux: page_anon_vma).
    pub fn page_anon_vma(&self) -> Option<u64> {
        let m = self.mapping.load(Ordering::Acquire);
        (m & PAGE_MAPPING_ANON != 0).then_some(m & !PAGE_MAPPING_ANON)
    }
    /// The order of a free buddy block (Linux: buddy_order).
    pub fn buddy_order(&self) -> usize {
        self.private() as usize
    }
    pub fn nid(&self) -> usize {
        self.nid as usize
    }
    pub fn zone_idx(&self) -> usize {
        self.zone_idx as usize
    }
    pub fn pageblock_mt(&self) -> u8 {
        self.pageblock_mt.load(Ordering::Relaxed)
    }
    pub fn set_pageblock_mt(&self, mt: u8) {
        self.pageblock_mt.store(mt, Ordering::Relaxed)
    }

    // ---- reference counts (include/linux/page_ref.h, mm.h) ---------------

    pub fn page_ref_count(&self) -> i32 {
        self.refcount.load(Ordering::Relaxed)
    }
    pub fn set_page_count(&self, v: i32) {
        self.refcount.store(v, Ordering::Relaxed)
    }
    /// Takes a reference (Linux: get_page).
    pub fn get_page(&self) {
        let old = self.refcount.fetch_add(1, Ordering::Relaxed);
        debug_assert!(old > 0, "get_page on a free page");
    }
    /// Takes a reference unless the page is free (Linux: get_page_unless_zero),
    /// for lookups that may race with the last put.
    pub fn get_page_unless_zero(&self) -> bool {
        let mut cur = self.refcount.load(Ordering::Relaxed);
        while cur > 0 {
            match self.refcount.compare_exchange_weak(cur, cur + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(v) => cur = v,
            }
        }
        false
    }
    /// Drops a reference; true if it was the last (Linux: put_page_testzero).
    /// The caller that sees true frees the page (the kernel's put_page).
    pub fn put_page_testzero(&self) -> bool {
        let old = self.refcount.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(old > 0, "put_page on a free page");
        old == 1
    }

    /// Page-table mappings (Linux: page_mapcount).
    pub fn page_mapcount(&self) -> i32 {
        self.mapcount.load(Ordering::Relaxed) + 1
    }
    /// One more mapping; true if it is the first (Linux: atomic_inc_and_test(&_mapcount)).
    pub fn mapcount_inc(&self) -> bool {
        self.mapcount.fetch_add(1, Ordering::Relaxed) == -1
    }
    /// One mapping less; true if it was the last (Linux: atomic_add_negative(-1, &_mapcount)).
    pub fn mapcount_dec(&self) -> bool {
        self.mapcount.fetch_sub(1, Ordering::Relaxed) == 0
    }
    /// Back to "unmapped" (page freeing).
    pub fn reset_mapcount(&self) {
        self.mapcount.store(-1, Ordering::Relaxed)
    }
}

/// The mem_map: struct pages for PFNs `[start_pfn, end_pfn)`, reached by
/// PFN arithmetic (Linux: pfn_to_page / page_to_pfn with vmemmap).
#[derive(Clone, Copy)]
pub struct MemMap {
    base: *const Page,
    start_pfn: usize,
    end_pfn: usize,
}

// SAFETY: the mem_map is shared kernel data, and every field of a Page that
// changes after boot is an atomic, so shared references from any CPU are sound.
unsafe impl Send for MemMap {}
// SAFETY: as above.
unsafe impl Sync for MemMap {}

impl MemMap {
    /// # Safety
    /// `base` must point at `end_pfn - start_pfn` initialised pages that
    /// outlive every user of this map; `base` is the page of `start_pfn`.
    pub const unsafe fn new(base: *const Page, start_pfn: usize, end_pfn: usize) -> Self {
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

    /// The PFN of a struct page (Linux: page_to_pfn).
    pub fn page_to_pfn(&self, page: *const Page) -> usize {
        (page as usize - self.base as usize) / core::mem::size_of::<Page>() + self.start_pfn
    }

    /// Writes the initial descriptor of `pfn` (Linux: __init_single_page).
    ///
    /// # Safety
    /// Boot only: no reference to this page's descriptor may exist yet.
    pub unsafe fn init_page(&self, pfn: usize, page: Page) {
        assert!(self.contains(pfn), "pfn {pfn:#x} outside the mem_map");
        // SAFETY: in range; the caller guarantees nobody else looks at it.
        unsafe { (self.base.add(pfn - self.start_pfn) as *mut Page).write(page) }
    }

    /// The struct page of `pfn` (Linux: pfn_to_page).
    ///
    /// Panics on a PFN outside the map: that is a kernel bug, and a wild
    /// reference would be worse.
    pub fn page(&self, pfn: usize) -> &Page {
        assert!(self.contains(pfn), "pfn {pfn:#x} outside the mem_map");
        // SAFETY: in range and initialised, per `new`'s contract; every
        // mutable field is atomic, so shared references are sound.
        unsafe { &*self.base.add(pfn - self.start_pfn) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anon_mapping_is_tagged_and_read_back() {
        let p = Page::new_reserved(0, 0, 0);
        assert!(!p.page_anon());
        p.set_anon_mapping(0x1000, 7);
        assert!(p.page_anon());
        assert_eq!(p.page_anon_vma(), Some(0x1000));
        assert_eq!(p.index(), 7);
        p.set_mapping(0x2000); // an address_space
        assert!(!p.page_anon());
        assert_eq!(p.page_anon_vma(), None);
    }

    #[test]
    fn lock_bit_and_waiters() {
        let p = Page::new_reserved(0, 0, 0);
        assert!(p.trylock());
        assert!(!p.trylock(), "PG_locked is exclusive");
        assert!(!p.unlock_test_waiters());
        assert!(p.trylock());
        p.set_waiters();
        assert!(p.unlock_test_waiters(), "unlock must report sleepers");
        assert!(!p.is_locked());
    }

    #[test]
    fn refcount_and_mapcount_helpers() {
        let p = Page::new_reserved(0, 0, 0);
        assert_eq!(p.page_ref_count(), 1);
        p.get_page();
        assert!(!p.put_page_testzero());
        assert!(p.put_page_testzero());
        assert!(!p.get_page_unless_zero(), "a free page cannot be revived");
        p.set_page_count(1);
        assert!(p.get_page_unless_zero());
        assert!(p.mapcount_inc(), "first mapping");
        assert!(!p.mapcount_inc());
        assert_eq!(p.page_mapcount(), 2);
        assert!(!p.mapcount_dec());
        assert!(p.mapcount_dec(), "last mapping");
    }

    #[test]
    fn concurrent_bit_operations_lose_nothing() {
        let p = std::sync::Arc::new(Page::new_reserved(0, 0, 0));
        let bits = [PageFlags::DIRTY, PageFlags::REFERENCED, PageFlags::ACTIVE, PageFlags::WORKINGSET];
        let threads: Vec<_> = bits
            .iter()
            .map(|&b| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        p.set_bit(b);
                        p.clear_bit(b);
                    }
                    p.set_bit(b);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for b in bits {
            assert!(p.test(b), "{b:?} lost");
        }
        assert!(p.is_reserved());
    }
}
