//! Zones, free areas and the buddy allocator proper (Linux: mm/page_alloc.c,
//! include/linux/mmzone.h).
//!
//! A zone owns a range of PFNs. Its free memory is kept in `free_area`:
//! for each order 0..MAX_ORDER-1 a free list per migratetype, holding blocks
//! of 2^order pages. Allocation takes the smallest block that fits and
//! splits it (`expand`); freeing merges a block with its buddy, found by
//! flipping bit `order` of the PFN (`__free_one_page`), for as long as the
//! buddy is free and of the same order.
//!
//! In front of the buddy lists each CPU has per-CPU page lists (`pcp`) for
//! small orders, refilled and drained `batch` pages at a time under
//! `zone->lock`; an allocation or free that hits the pcp list never takes
//! `zone->lock`.
//!
//! Locking: `lock` is Linux's zone->lock and guards `free_area` and the
//! struct pages of free blocks. Each pcp has its own lock (Linux 6.x
//! pcp->lock), taken only by its CPU in the common case.

use crate::page::{MemMap, PageFlags, NIL};
use crate::vmstat::{Counters, Events, VmEvent, ZoneStatItem, NR_VM_EVENTS, NR_VM_ZONE_STAT_ITEMS};
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::Mutex;

/// Orders 0..MAX_ORDER-1: the largest block is 2^10 pages = 4 MiB
/// (Linux before 6.4 used the same exclusive MAX_ORDER).
pub const MAX_ORDER: usize = 11;
/// Pageblocks: the unit that carries a migratetype, 2 MiB.
pub const PAGEBLOCK_ORDER: usize = 9;
pub const PAGEBLOCK_NR_PAGES: usize = 1 << PAGEBLOCK_ORDER;
/// Orders up to this one are cached on the per-CPU lists.
pub const PAGE_ALLOC_COSTLY_ORDER: usize = 3;
pub const NR_CPUS: usize = 8;

/// Zones, lowest first (Linux: enum zone_type; arm64 has no ZONE_DMA here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum ZoneType {
    /// Below 4 GiB, for devices that can only address 32 bits.
    Dma32 = 0,
    Normal = 1,
    /// Only movable (user, page cache) allocations: kernelcore=/movablecore=.
    Movable = 2,
}

pub const MAX_NR_ZONES: usize = 3;
pub const ZONE_TYPES: [ZoneType; MAX_NR_ZONES] = [ZoneType::Dma32, ZoneType::Normal, ZoneType::Movable];

impl ZoneType {
    pub const fn name(self) -> &'static str {
        match self {
            ZoneType::Dma32 => "DMA32",
            ZoneType::Normal => "Normal",
            ZoneType::Movable => "Movable",
        }
    }
    /// The lower-case name /proc/vmstat uses (pgalloc_dma32, ...).
    pub const fn vmstat_name(self) -> &'static str {
        match self {
            ZoneType::Dma32 => "dma32",
            ZoneType::Normal => "normal",
            ZoneType::Movable => "movable",
        }
    }
}

/// Free-list types (Linux: enum migratetype).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MigrateType {
    Unmovable = 0,
    Movable = 1,
    Reclaimable = 2,
    HighAtomic = 3,
    Isolate = 4,
}

pub const MIGRATE_TYPES: usize = 5;
/// The types that have per-CPU lists.
pub const MIGRATE_PCPTYPES: usize = 3;
pub const MIGRATE_TYPE_LIST: [MigrateType; MIGRATE_TYPES] = [
    MigrateType::Unmovable,
    MigrateType::Movable,
    MigrateType::Reclaimable,
    MigrateType::HighAtomic,
    MigrateType::Isolate,
];

impl MigrateType {
    pub const fn name(self) -> &'static str {
        match self {
            MigrateType::Unmovable => "Unmovable",
            MigrateType::Movable => "Movable",
            MigrateType::Reclaimable => "Reclaimable",
            MigrateType::HighAtomic => "HighAtomic",
            MigrateType::Isolate => "Isolate",
        }
    }
    pub fn from_u8(v: u8) -> MigrateType {
        match v {
            0 => MigrateType::Unmovable,
            1 => MigrateType::Movable,
            2 => MigrateType::Reclaimable,
            3 => MigrateType::HighAtomic,
            _ => MigrateType::Isolate,
        }
    }
}

/// Where to steal from when a migratetype's lists are empty
/// (Linux: fallbacks[][]).
const FALLBACKS: [[MigrateType; 2]; MIGRATE_PCPTYPES] = [
    [MigrateType::Reclaimable, MigrateType::Movable], // Unmovable
    [MigrateType::Reclaimable, MigrateType::Unmovable], // Movable
    [MigrateType::Unmovable, MigrateType::Movable],   // Reclaimable
];

/// A free list: PFNs linked through `page.lru` (Linux: struct list_head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeList {
    head: u64,
    tail: u64,
}

impl FreeList {
    pub const EMPTY: FreeList = FreeList { head: NIL, tail: NIL };
    pub fn is_empty(&self) -> bool {
        self.head == NIL
    }
    pub fn first(&self) -> Option<usize> {
        (self.head != NIL).then_some(self.head as usize)
    }
    pub fn last(&self) -> Option<usize> {
        (self.tail != NIL).then_some(self.tail as usize)
    }

    /// # Safety
    /// The caller holds the lock that owns this list and `pfn`'s page.
    unsafe fn push(&mut self, map: &MemMap, pfn: usize, at_tail: bool) {
        // SAFETY: per the contract, we own these pages' links.
        unsafe {
            let p = map.page_mut(pfn);
            if at_tail {
                p.lru.prev = self.tail;
                p.lru.next = NIL;
                match self.last() {
                    Some(t) => map.page_mut(t).lru.next = pfn as u64,
                    None => self.head = pfn as u64,
                }
                self.tail = pfn as u64;
            } else {
                p.lru.next = self.head;
                p.lru.prev = NIL;
                match self.first() {
                    Some(h) => map.page_mut(h).lru.prev = pfn as u64,
                    None => self.tail = pfn as u64,
                }
                self.head = pfn as u64;
            }
        }
    }

    /// # Safety
    /// As for `push`; `pfn` must be on this list.
    unsafe fn remove(&mut self, map: &MemMap, pfn: usize) {
        // SAFETY: per the contract.
        unsafe {
            let link = map.page(pfn).lru;
            match link.prev {
                NIL => self.head = link.next,
                prev => map.page_mut(prev as usize).lru.next = link.next,
            }
            match link.next {
                NIL => self.tail = link.prev,
                next => map.page_mut(next as usize).lru.prev = link.prev,
            }
        }
    }

    /// Walks the list (for statistics and checks).
    pub fn iter<'a>(&self, map: &'a MemMap) -> impl Iterator<Item = usize> + 'a {
        let mut cur = self.head;
        core::iter::from_fn(move || {
            (cur != NIL).then(|| {
                let pfn = cur as usize;
                cur = map.page(pfn).lru.next;
                pfn
            })
        })
    }
}

/// One order's free lists (Linux: struct free_area).
#[derive(Debug, Clone, Copy)]
pub struct FreeArea {
    pub free_list: [FreeList; MIGRATE_TYPES],
    pub nr_free: usize,
}

impl FreeArea {
    pub const EMPTY: FreeArea = FreeArea { free_list: [FreeList::EMPTY; MIGRATE_TYPES], nr_free: 0 };
}

/// The state under zone->lock.
pub struct ZoneFree {
    pub free_area: [FreeArea; MAX_ORDER],
}

/// pcp lists: one per (order <= PAGE_ALLOC_COSTLY_ORDER, pcp migratetype).
pub const NR_PCP_LISTS: usize = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1);

/// List index for an order and migratetype (Linux: order_to_pindex).
pub const fn order_to_pindex(mt: usize, order: usize) -> usize {
    order * MIGRATE_PCPTYPES + mt
}

/// One CPU's page cache for one zone (Linux: struct per_cpu_pages).
pub struct PerCpuPages {
    /// Pages on all lists.
    pub count: usize,
    /// Drain when count reaches this.
    pub high: usize,
    /// Pages moved per refill/drain.
    pub batch: usize,
    pub lists: [FreeList; NR_PCP_LISTS],
    /// Round-robin position for draining.
    drain_idx: usize,
}

impl PerCpuPages {
    pub const fn new() -> Self {
        PerCpuPages { count: 0, high: 0, batch: 1, lists: [FreeList::EMPTY; NR_PCP_LISTS], drain_idx: 0 }
    }
}

impl Default for PerCpuPages {
    fn default() -> Self {
        Self::new()
    }
}

/// Watermark indices (Linux: enum zone_watermarks).
pub const WMARK_MIN: usize = 0;
pub const WMARK_LOW: usize = 1;
pub const WMARK_HIGH: usize = 2;

/// A zone (Linux: struct zone).
pub struct Zone {
    pub zone_type: ZoneType,
    pub nid: usize,
    pub zone_start_pfn: usize,
    /// PFNs from start to end, holes included.
    pub spanned_pages: usize,
    /// PFNs that are RAM.
    pub present_pages: usize,
    /// Pages given to the buddy allocator (present minus boot reservations).
    pub managed_pages: AtomicUsize,
    pub watermark: [AtomicUsize; 3],
    /// Pages kept back from allocations that could have used a higher zone.
    pub lowmem_reserve: [AtomicUsize; MAX_NR_ZONES],
    pub vm_stat: Counters<NR_VM_ZONE_STAT_ITEMS>,
    pub events: Events<NR_VM_EVENTS>,
    pub map: MemMap,
    /// zone->lock.
    pub lock: Mutex<ZoneFree>,
    pub pcp: [Mutex<PerCpuPages>; NR_CPUS],
}

impl Zone {
    pub fn new(zone_type: ZoneType, nid: usize, start_pfn: usize, end_pfn: usize, map: MemMap) -> Zone {
        assert!(
            start_pfn == end_pfn || (map.start_pfn() <= start_pfn && end_pfn <= map.end_pfn()),
            "zone [{start_pfn:#x}, {end_pfn:#x}) outside its mem_map"
        );
        Zone {
            zone_type,
            nid,
            zone_start_pfn: start_pfn,
            spanned_pages: end_pfn - start_pfn,
            present_pages: 0,
            managed_pages: AtomicUsize::new(0),
            watermark: [const { AtomicUsize::new(0) }; 3],
            lowmem_reserve: [const { AtomicUsize::new(0) }; MAX_NR_ZONES],
            vm_stat: Counters::new(),
            events: Events::new(),
            map,
            lock: Mutex::new(ZoneFree { free_area: [FreeArea::EMPTY; MAX_ORDER] }),
            pcp: [const { Mutex::new(PerCpuPages::new()) }; NR_CPUS],
        }
    }

    pub fn name(&self) -> &'static str {
        self.zone_type.name()
    }
    pub fn zone_end_pfn(&self) -> usize {
        self.zone_start_pfn + self.spanned_pages
    }
    pub fn contains_pfn(&self, pfn: usize) -> bool {
        (self.zone_start_pfn..self.zone_end_pfn()).contains(&pfn)
    }
    pub fn is_populated(&self) -> bool {
        self.managed() > 0
    }
    pub fn managed(&self) -> usize {
        self.managed_pages.load(Ordering::Relaxed)
    }
    pub fn wmark(&self, i: usize) -> usize {
        self.watermark[i].load(Ordering::Relaxed)
    }
    pub fn min_wmark_pages(&self) -> usize {
        self.wmark(WMARK_MIN)
    }
    pub fn low_wmark_pages(&self) -> usize {
        self.wmark(WMARK_LOW)
    }
    pub fn high_wmark_pages(&self) -> usize {
        self.wmark(WMARK_HIGH)
    }
    /// Linux: zone_page_state.
    pub fn zone_page_state(&self, item: ZoneStatItem) -> usize {
        self.vm_stat.get(item as usize).max(0) as usize
    }
    /// Linux: __mod_zone_page_state.
    pub fn mod_zone_page_state(&self, item: ZoneStatItem, delta: isize) {
        self.vm_stat.add(item as usize, delta);
    }

    /// NR_FREE_PAGES changes only under zone->lock (the `&mut ZoneFree`
    /// proves it), so a plain load and store suffice (Linux:
    /// __mod_zone_freepage_state, non-atomic per-CPU in Linux).
    fn mod_free_pages(&self, _locked: &mut ZoneFree, delta: isize) {
        self.vm_stat.add_unsynchronised(ZoneStatItem::NrFreePages as usize, delta);
    }
    pub fn count_event(&self, ev: VmEvent, n: usize) {
        self.events.count(ev as usize, n);
    }

    // ---- pageblocks ----------------------------------------------------

    fn pageblock_start(&self, pfn: usize) -> usize {
        (pfn & !(PAGEBLOCK_NR_PAGES - 1)).max(self.map.start_pfn())
    }

    /// Linux: get_pageblock_migratetype.
    pub fn get_pageblock_migratetype(&self, pfn: usize) -> MigrateType {
        MigrateType::from_u8(self.map.page(self.pageblock_start(pfn)).pageblock_mt)
    }

    /// Linux: set_pageblock_migratetype. Caller holds zone->lock (or is booting).
    pub fn set_pageblock_migratetype(&self, pfn: usize, mt: MigrateType) {
        // SAFETY: the pageblock's first page's pageblock_mt is zone-lock data.
        unsafe { self.map.page_mut(self.pageblock_start(pfn)).pageblock_mt = mt as u8 };
    }

    // ---- free lists (zone->lock held: &mut ZoneFree) -------------------

    fn add_to_free_list(&self, zf: &mut ZoneFree, pfn: usize, order: usize, mt: MigrateType, tail: bool) {
        // SAFETY: zone->lock is held (we have &mut ZoneFree) and pfn is a free block of this zone.
        unsafe {
            let p = self.map.page_mut(pfn);
            p.flags.insert(PageFlags::BUDDY);
            p.private = order as u64;
            p.index = mt as u64; // which list it is on
            zf.free_area[order].free_list[mt as usize].push(&self.map, pfn, tail);
        }
        zf.free_area[order].nr_free += 1;
    }

    fn del_page_from_free_list(&self, zf: &mut ZoneFree, pfn: usize, order: usize) {
        let mt = self.map.page(pfn).index as usize;
        // SAFETY: as above; the page is on list `mt` of `order`.
        unsafe {
            zf.free_area[order].free_list[mt].remove(&self.map, pfn);
            let p = self.map.page_mut(pfn);
            p.flags.remove(PageFlags::BUDDY);
            p.private = 0;
        }
        zf.free_area[order].nr_free -= 1;
    }

    fn move_to_free_list(&self, zf: &mut ZoneFree, pfn: usize, order: usize, mt: MigrateType) {
        self.del_page_from_free_list(zf, pfn, order);
        self.add_to_free_list(zf, pfn, order, mt, true);
    }

    /// Is `pfn` the head of a free block of exactly `order` in this zone?
    /// (Linux: page_is_buddy)
    fn page_is_buddy(&self, pfn: usize, order: usize) -> bool {
        // The zone lies inside the mem_map (checked in Zone::new).
        if !self.contains_pfn(pfn) {
            return false;
        }
        let p = self.map.page(pfn);
        p.is_buddy() && p.buddy_order() == order
    }

    /// Splits a block of `high` order at `pfn` down to `low`, putting the
    /// upper halves back on the free lists (Linux: expand).
    ///
    /// ```text
    /// high=3: [ 0 1 2 3 4 5 6 7 ]  -> keep [0 1 2 3], free order-2 [4 5 6 7]
    ///         [ 0 1 2 3 ]          -> keep [0 1],     free order-1 [2 3]
    ///         [ 0 1 ]              -> keep [0],       free order-0 [1]
    /// ```
    fn expand(&self, zf: &mut ZoneFree, pfn: usize, low: usize, mut high: usize, mt: MigrateType) {
        while high > low {
            high -= 1;
            self.add_to_free_list(zf, pfn + (1 << high), high, mt, false);
        }
    }

    /// The smallest free block of `mt` that fits (Linux: __rmqueue_smallest).
    fn rmqueue_smallest(&self, zf: &mut ZoneFree, order: usize, mt: MigrateType) -> Option<usize> {
        for current in order..MAX_ORDER {
            if let Some(pfn) = zf.free_area[current].free_list[mt as usize].first() {
                self.del_page_from_free_list(zf, pfn, current);
                self.expand(zf, pfn, order, current, mt);
                return Some(pfn);
            }
        }
        None
    }

    /// Merges a freed block with its free buddies and puts the result on a
    /// free list (Linux: __free_one_page).
    ///
    /// ```text
    /// free pfn 5, order 0: buddy = 5 ^ 1 = 4 free?   -> merge to [4,5] order 1
    ///                      buddy = 4 ^ 2 = 6 free?   -> merge to [4..7] order 2
    ///                      buddy = 4 ^ 4 = 0 in use? -> stop: free [4..7] at order 2
    /// ```
    fn free_one_page_locked(&self, zf: &mut ZoneFree, mut pfn: usize, mut order: usize, mt: MigrateType) {
        self.mod_free_pages(zf, 1 << order);
        while order < MAX_ORDER - 1 {
            let buddy = pfn ^ (1 << order);
            if !self.page_is_buddy(buddy, order) {
                break;
            }
            self.del_page_from_free_list(zf, buddy, order);
            pfn &= buddy; // the lower of the two is the combined block's head
            order += 1;
        }
        self.add_to_free_list(zf, pfn, order, mt, false);
    }

    // ---- fallback: stealing from other migratetypes --------------------

    /// Large blocks, and any unmovable/reclaimable request, may claim the
    /// whole pageblock (Linux: can_steal_fallback).
    fn can_steal_fallback(order: usize, start_mt: MigrateType) -> bool {
        order >= PAGEBLOCK_ORDER / 2
            || start_mt == MigrateType::Reclaimable
            || start_mt == MigrateType::Unmovable
    }

    /// Linux: find_suitable_fallback.
    fn find_suitable_fallback(
        zf: &ZoneFree,
        order: usize,
        start_mt: MigrateType,
    ) -> Option<(MigrateType, bool)> {
        if zf.free_area[order].nr_free == 0 {
            return None;
        }
        FALLBACKS[start_mt as usize]
            .iter()
            .find(|fb| !zf.free_area[order].free_list[**fb as usize].is_empty())
            .map(|&fb| (fb, Self::can_steal_fallback(order, start_mt)))
    }

    /// Moves every free block inside `pfn`'s pageblock to `mt`'s lists;
    /// returns (free pages moved, pages on the LRU) (Linux: move_freepages_block).
    fn move_freepages_block(&self, zf: &mut ZoneFree, pfn: usize, mt: MigrateType) -> (usize, usize) {
        let start = (pfn & !(PAGEBLOCK_NR_PAGES - 1)).max(self.zone_start_pfn);
        let end = ((pfn | (PAGEBLOCK_NR_PAGES - 1)) + 1).min(self.zone_end_pfn());
        let (mut free, mut movable) = (0, 0);
        let mut p = start;
        while p < end {
            let page = self.map.page(p);
            if page.is_buddy() {
                let order = page.buddy_order();
                self.move_to_free_list(zf, p, order, mt);
                free += 1 << order;
                p += 1 << order;
            } else {
                movable += page.flags.contains(PageFlags::LRU) as usize;
                p += 1;
            }
        }
        (free, movable)
    }

    /// Takes the free block at `pfn` (of `order`) for `start_mt`, and, if the
    /// rest of its pageblock is mostly free or alike, the whole pageblock
    /// (Linux: steal_suitable_fallback).
    fn steal_suitable_fallback(
        &self,
        zf: &mut ZoneFree,
        pfn: usize,
        order: usize,
        start_mt: MigrateType,
        whole: bool,
    ) {
        self.count_event(VmEvent::ExtfragFallback, 1);
        let old_mt = self.get_pageblock_migratetype(pfn);
        if order >= PAGEBLOCK_ORDER {
            // The block spans whole pageblocks: convert them all.
            for pb in (pfn..pfn + (1 << order)).step_by(PAGEBLOCK_NR_PAGES) {
                self.set_pageblock_migratetype(pb, start_mt);
            }
            self.move_to_free_list(zf, pfn, order, start_mt);
            self.count_event(VmEvent::ExtfragClaimed, 1);
            return;
        }
        if whole {
            let (free, movable) = self.move_freepages_block(zf, pfn, start_mt);
            if free > 0 {
                let alike = if start_mt == MigrateType::Movable {
                    movable
                } else if old_mt == MigrateType::Movable {
                    PAGEBLOCK_NR_PAGES - (free + movable)
                } else {
                    0
                };
                if free + alike >= PAGEBLOCK_NR_PAGES / 2 {
                    self.set_pageblock_migratetype(pfn, start_mt);
                    self.count_event(VmEvent::ExtfragClaimed, 1);
                }
                return;
            }
        }
        self.move_to_free_list(zf, pfn, order, start_mt);
    }

    /// Linux: __rmqueue_fallback. Steals the *largest* free block of a
    /// fallback type, to take over whole pageblocks and keep fragmentation
    /// down; small blocks that may not be claimed are taken smallest first.
    fn rmqueue_fallback(&self, zf: &mut ZoneFree, order: usize, start_mt: MigrateType) -> bool {
        for current in (order..MAX_ORDER).rev() {
            if let Some((fb, can_steal)) = Self::find_suitable_fallback(zf, current, start_mt) {
                if !can_steal {
                    break; // fall through to the smallest-first search
                }
                let pfn = zf.free_area[current].free_list[fb as usize].first().unwrap();
                self.steal_suitable_fallback(zf, pfn, current, start_mt, true);
                return true;
            }
        }
        for current in order..MAX_ORDER {
            if let Some((fb, _)) = Self::find_suitable_fallback(zf, current, start_mt) {
                let pfn = zf.free_area[current].free_list[fb as usize].first().unwrap();
                self.steal_suitable_fallback(zf, pfn, current, start_mt, false);
                return true;
            }
        }
        false
    }

    /// Linux: __rmqueue.
    fn rmqueue_locked(&self, zf: &mut ZoneFree, order: usize, mt: MigrateType) -> Option<usize> {
        loop {
            if let Some(pfn) = self.rmqueue_smallest(zf, order, mt) {
                return Some(pfn);
            }
            if mt as usize >= MIGRATE_PCPTYPES || !self.rmqueue_fallback(zf, order, mt) {
                return None;
            }
        }
    }

    // ---- public entry points -------------------------------------------

    /// Allocates straight from the buddy lists under zone->lock
    /// (Linux: rmqueue_buddy). Returns the head PFN.
    pub fn rmqueue_buddy(&self, order: usize, mt: MigrateType) -> Option<usize> {
        let mut zf = self.lock.lock();
        let pfn = self.rmqueue_locked(&mut zf, order, mt)?;
        self.mod_free_pages(&mut zf, -(1 << order));
        Some(pfn)
    }

    /// Frees a block straight to the buddy lists (Linux: free_one_page).
    pub fn free_one_page(&self, pfn: usize, order: usize) {
        let mut zf = self.lock.lock();
        let mt = self.get_pageblock_migratetype(pfn);
        self.free_one_page_locked(&mut zf, pfn, order, mt);
    }

    /// Allocates through this CPU's pcp list, refilling it in a batch from
    /// the buddy lists when empty (Linux: rmqueue_pcplist).
    pub fn rmqueue_pcplist(&self, cpu: usize, order: usize, mt: MigrateType) -> Option<usize> {
        let mut pcp = self.pcp[cpu].lock();
        let idx = order_to_pindex(mt as usize, order);
        if pcp.lists[idx].is_empty() {
            // Refill: `batch` pages' worth of blocks, at least two (Linux: nr_pcp_alloc).
            let want = (pcp.batch >> order).max(2);
            let mut zf = self.lock.lock();
            let mut got = 0;
            for _ in 0..want {
                let Some(pfn) = self.rmqueue_locked(&mut zf, order, mt) else { break };
                // SAFETY: the block just left the buddy lists; we own it under the pcp lock.
                unsafe {
                    let p = self.map.page_mut(pfn);
                    p.flags.insert(PageFlags::PCP);
                    p.private = order as u64;
                    pcp.lists[idx].push(&self.map, pfn, true);
                }
                got += 1;
            }
            self.mod_free_pages(&mut zf, -((got << order) as isize));
            drop(zf);
            if got == 0 {
                return None;
            }
            pcp.count += got << order;
            self.count_event(VmEvent::PcpRefill, 1);
        }
        let pfn = pcp.lists[idx].first()?;
        // SAFETY: pcp lock held; pfn is on this list.
        unsafe {
            pcp.lists[idx].remove(&self.map, pfn);
            self.map.page_mut(pfn).flags.remove(PageFlags::PCP);
        }
        pcp.count -= 1 << order;
        Some(pfn)
    }

    /// Frees to this CPU's pcp list; drains a batch to the buddy lists when
    /// the list passes `high` (Linux: free_unref_page).
    pub fn free_pcp(&self, cpu: usize, pfn: usize, order: usize) {
        let mt = self.get_pageblock_migratetype(pfn);
        if mt as usize >= MIGRATE_PCPTYPES {
            return self.free_one_page(pfn, order);
        }
        let mut pcp = self.pcp[cpu].lock();
        // SAFETY: the caller gave the block up; it is ours under the pcp lock.
        unsafe {
            let p = self.map.page_mut(pfn);
            p.flags.insert(PageFlags::PCP);
            p.private = order as u64;
            pcp.lists[order_to_pindex(mt as usize, order)].push(&self.map, pfn, false);
        }
        pcp.count += 1 << order;
        if pcp.count >= pcp.high {
            let batch = pcp.batch;
            self.free_pcppages_bulk(&mut pcp, batch);
        }
    }

    /// Returns `count` pages from the pcp lists to the buddy lists, coldest
    /// (tail) first, round-robin over the lists (Linux: free_pcppages_bulk).
    fn free_pcppages_bulk(&self, pcp: &mut PerCpuPages, count: usize) {
        let mut zf = self.lock.lock();
        let mut freed = 0;
        while freed < count && pcp.count > 0 {
            let idx = pcp.drain_idx;
            pcp.drain_idx = (pcp.drain_idx + 1) % NR_PCP_LISTS;
            let Some(pfn) = pcp.lists[idx].last() else { continue };
            let order = idx / MIGRATE_PCPTYPES;
            // SAFETY: pcp lock held; pfn is on this list.
            unsafe {
                pcp.lists[idx].remove(&self.map, pfn);
                self.map.page_mut(pfn).flags.remove(PageFlags::PCP);
            }
            pcp.count -= 1 << order;
            let mt = self.get_pageblock_migratetype(pfn);
            self.free_one_page_locked(&mut zf, pfn, order, mt);
            freed += 1 << order;
        }
        self.count_event(VmEvent::PcpDrain, 1);
    }

    /// Empties `cpu`'s pcp lists into the buddy lists (Linux: drain_pages_zone).
    pub fn drain_pages(&self, cpu: usize) {
        let mut pcp = self.pcp[cpu].lock();
        let n = pcp.count;
        if n > 0 {
            self.free_pcppages_bulk(&mut pcp, n);
        }
    }

    /// Pages on all CPUs' pcp lists.
    pub fn pcp_count(&self) -> usize {
        self.pcp.iter().map(|p| p.lock().count).sum()
    }

    /// Hands a boot-time free range to the allocator: clears PG_reserved,
    /// counts the pages as managed, frees the block (Linux: __free_pages_core).
    pub fn free_pages_core(&self, pfn: usize, order: usize) {
        for p in pfn..pfn + (1 << order) {
            // SAFETY: boot-time, single-threaded; the pages are not yet in use.
            let page = unsafe { self.map.page_mut(p) };
            page.flags.remove(PageFlags::RESERVED);
            page.set_page_count(0);
        }
        self.managed_pages.fetch_add(1 << order, Ordering::Relaxed);
        self.free_one_page(pfn, order);
    }

    /// Linux: __zone_watermark_ok. `reserve` is lowmem_reserve for the
    /// request's highest zone; `min` is the already-adjusted watermark.
    pub fn watermark_ok(&self, order: usize, min: usize, reserve: usize, can_use_highatomic: bool) -> bool {
        let free = self.zone_page_state(ZoneStatItem::NrFreePages) as isize - ((1 << order) - 1);
        if free <= (min + reserve) as isize {
            return false;
        }
        if order == 0 {
            return true;
        }
        // Is there a free block big enough for this order?
        let zf = self.lock.lock();
        (order..MAX_ORDER).any(|o| {
            let fa = &zf.free_area[o];
            (0..MIGRATE_PCPTYPES).any(|mt| !fa.free_list[mt].is_empty())
                || (can_use_highatomic && !fa.free_list[MigrateType::HighAtomic as usize].is_empty())
        })
    }

    /// Per-order free block counts (a /proc/buddyinfo row).
    pub fn buddyinfo(&self) -> [usize; MAX_ORDER] {
        let zf = self.lock.lock();
        core::array::from_fn(|o| zf.free_area[o].nr_free)
    }

    /// Per-migratetype, per-order free block counts (/proc/pagetypeinfo),
    /// by walking the lists as Linux does.
    pub fn pagetypeinfo(&self) -> [[usize; MAX_ORDER]; MIGRATE_TYPES] {
        let zf = self.lock.lock();
        core::array::from_fn(|mt| {
            core::array::from_fn(|o| zf.free_area[o].free_list[mt].iter(&self.map).count())
        })
    }

    /// Number of pageblocks of each migratetype.
    pub fn pageblock_counts(&self) -> [usize; MIGRATE_TYPES] {
        let mut n = [0; MIGRATE_TYPES];
        let start = self.zone_start_pfn & !(PAGEBLOCK_NR_PAGES - 1);
        for pb in (start..self.zone_end_pfn()).step_by(PAGEBLOCK_NR_PAGES) {
            let pfn = pb.max(self.zone_start_pfn);
            if self.map.contains(pfn) {
                n[self.get_pageblock_migratetype(pfn) as usize] += 1;
            }
        }
        n
    }

    /// Walks every free list and checks it against the counters and the
    /// struct pages; returns free pages found. For tests and `vmstat`-style
    /// self-checks (Linux has no such walk; CONFIG_DEBUG_VM checks pieces).
    pub fn check_free_lists(&self) -> Result<usize, &'static str> {
        let zf = self.lock.lock();
        let mut pages = 0;
        for (order, fa) in zf.free_area.iter().enumerate() {
            let mut blocks = 0;
            for (mt, list) in fa.free_list.iter().enumerate() {
                let mut n = 0;
                for pfn in list.iter(&self.map) {
                    let p = self.map.page(pfn);
                    if !p.is_buddy() || p.buddy_order() != order || p.index as usize != mt {
                        return Err("free-list page without matching PG_buddy/order/list");
                    }
                    if pfn & ((1 << order) - 1) != 0 || !self.contains_pfn(pfn + (1 << order) - 1) {
                        return Err("misaligned or out-of-zone free block");
                    }
                    n += 1;
                }
                blocks += n;
            }
            if blocks != fa.nr_free {
                return Err("nr_free does not match the lists");
            }
            pages += blocks << order;
        }
        if pages != self.zone_page_state(ZoneStatItem::NrFreePages) {
            return Err("NR_FREE_PAGES does not match the free lists");
        }
        Ok(pages)
    }
}
