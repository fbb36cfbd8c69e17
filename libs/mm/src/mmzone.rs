//! Zones, nodes and their free areas: the data structures of the page
//! allocator (Linux: include/linux/mmzone.h).
//!
//! A zone owns a range of PFNs. Its free memory is kept in `free_area`:
//! for each order 0..MAX_ORDER-1 a free list per migratetype, holding blocks
//! of 2^order pages. In front of the buddy lists each CPU has per-CPU page
//! lists (`pcp`) for small orders. The algorithms that work on these live
//! where a reader of Linux's mm/page_alloc.c looks for them:
//!
//! | piece | file |
//! |---|---|
//! | `expand`, `__rmqueue_smallest`, `__free_one_page`, fallback and stealing | page_alloc/buddy.rs |
//! | `rmqueue_pcplist`, `free_unref_page`, `free_pcppages_bulk`, draining | page_alloc/pcp.rs |
//! | watermarks, `lowmem_reserve`, `min_free_kbytes` | page_alloc/watermark.rs |
//! | zonelists and their construction | page_alloc/zonelist.rs |
//! | `__alloc_pages`, the slow path, `__free_pages` | page_alloc/mod.rs |
//!
//! Locking: `lock` is Linux's zone->lock and guards `free_area` and the
//! struct pages of free blocks. Each pcp has its own lock (Linux 6.x
//! pcp->lock), taken only by its CPU in the common case. Both are IRQ-safe
//! spin locks: a page may be freed from an interrupt (I/O completion).

use crate::page::{MemMap, NIL};
use crate::page_alloc::zonelist::Zonelist;
use crate::vmstat::{
    Counters, Events, VmEvent, ZoneStatItem, NR_VM_EVENTS, NR_VM_NODE_STAT_ITEMS, NR_VM_ZONE_STAT_ITEMS,
};
use core::sync::atomic::{AtomicUsize, Ordering};
use pagoda_klib::sync::SpinLockIrq;
pub use pagoda_klib::sync::NR_CPUS;

/// Orders 0..MAX_ORDER-1: the largest block is 2^10 pages = 4 MiB
/// (Linux before 6.4 used the same exclusive MAX_ORDER).
pub const MAX_ORDER: usize = 11;
/// Pageblocks: the unit that carries a migratetype, 2 MiB.
pub const PAGEBLOCK_ORDER: usize = 9;
pub const PAGEBLOCK_NR_PAGES: usize = 1 << PAGEBLOCK_ORDER;
/// Orders up to this one are cached on the per-CPU lists.
pub const PAGE_ALLOC_COSTLY_ORDER: usize = 3;

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

    /// Adds `pfn` at the head or the tail. The caller holds the lock that
    /// owns this list and the page's links (zone->lock or the pcp lock).
    pub(crate) fn push(&mut self, map: &MemMap, pfn: usize, at_tail: bool) {
        let p = map.page(pfn);
        if at_tail {
            p.set_lru(crate::page::PfnLink { next: NIL, prev: self.tail });
            match self.last() {
                Some(t) => map.page(t).set_lru_next(pfn as u64),
                None => self.head = pfn as u64,
            }
            self.tail = pfn as u64;
        } else {
            p.set_lru(crate::page::PfnLink { next: self.head, prev: NIL });
            match self.first() {
                Some(h) => map.page(h).set_lru_prev(pfn as u64),
                None => self.tail = pfn as u64,
            }
            self.head = pfn as u64;
        }
    }

    /// Unlinks `pfn`, which is on this list; same locking as `push`.
    pub(crate) fn remove(&mut self, map: &MemMap, pfn: usize) {
        let link = map.page(pfn).lru();
        match link.prev {
            NIL => self.head = link.next,
            prev => map.page(prev as usize).set_lru_next(link.next),
        }
        match link.next {
            NIL => self.tail = link.prev,
            next => map.page(next as usize).set_lru_prev(link.prev),
        }
    }

    /// Walks the list (for statistics and checks).
    pub fn iter<'a>(&self, map: &'a MemMap) -> impl Iterator<Item = usize> + 'a {
        let mut cur = self.head;
        core::iter::from_fn(move || {
            (cur != NIL).then(|| {
                let pfn = cur as usize;
                cur = map.page(pfn).lru().next;
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
    pub(crate) drain_idx: usize,
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
    pub lock: SpinLockIrq<ZoneFree>,
    pub pcp: [SpinLockIrq<PerCpuPages>; NR_CPUS],
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
            lock: SpinLockIrq::new(ZoneFree { free_area: [FreeArea::EMPTY; MAX_ORDER] }),
            pcp: [const { SpinLockIrq::new(PerCpuPages::new()) }; NR_CPUS],
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
    pub(crate) fn mod_free_pages(&self, _locked: &mut ZoneFree, delta: isize) {
        self.vm_stat.add_unsynchronised(ZoneStatItem::NrFreePages as usize, delta);
    }
    pub fn count_event(&self, ev: VmEvent, n: usize) {
        self.events.count(ev as usize, n);
    }

    // ---- pageblocks ----------------------------------------------------

    pub(crate) fn pageblock_start(&self, pfn: usize) -> usize {
        (pfn & !(PAGEBLOCK_NR_PAGES - 1)).max(self.map.start_pfn())
    }

    /// Linux: get_pageblock_migratetype.
    pub fn get_pageblock_migratetype(&self, pfn: usize) -> MigrateType {
        MigrateType::from_u8(self.map.page(self.pageblock_start(pfn)).pageblock_mt())
    }

    /// Linux: set_pageblock_migratetype. Caller holds zone->lock (or is booting).
    pub fn set_pageblock_migratetype(&self, pfn: usize, mt: MigrateType) {
        self.map.page(self.pageblock_start(pfn)).set_pageblock_mt(mt as u8);
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
}

/// A memory node (Linux: struct pglist_data, pg_data_t).
pub struct PglistData {
    pub node_id: usize,
    pub node_start_pfn: usize,
    pub node_spanned_pages: usize,
    pub node_present_pages: usize,
    pub node_zones: [Zone; MAX_NR_ZONES],
    pub node_zonelist: Zonelist,
    pub vm_stat: Counters<NR_VM_NODE_STAT_ITEMS>,
    /// kswapd wakeups requested for this node.
    pub kswapd_wakeups: AtomicUsize,
    /// The node's LRU lists, under their lock (Linux: lruvec with
    /// lru_lock; one lruvec per node, as without memory cgroups).
    pub lruvec: SpinLockIrq<crate::lru::Lruvec>,
}

impl PglistData {
    pub fn zone(&self, t: ZoneType) -> &Zone {
        &self.node_zones[t as usize]
    }
    pub fn populated_zones(&self) -> impl Iterator<Item = &Zone> {
        self.node_zones.iter().filter(|z| z.present_pages > 0)
    }
    pub fn node_end_pfn(&self) -> usize {
        self.node_start_pfn + self.node_spanned_pages
    }
}
