//! The page allocator's front end: the nodes, and the allocation and free
//! paths (Linux: mm/page_alloc.c __alloc_pages, get_page_from_freelist,
//! __alloc_pages_slowpath, __free_pages; mm/mm_init.c free_area_init_node).
//! The buddy lists, pcp lists, watermarks and zonelists are in the
//! submodules named after them.
//!
//! ```text
//! alloc_pages(gfp, order)
//!   -> zonelist of the local node: its zones, then other nodes' by distance,
//!      each list highest zone first, cut at gfp_zone(gfp)
//!   -> fast path: first zone above its LOW watermark (+ lowmem_reserve)
//!        -> rmqueue: pcp list (order <= 3) or the buddy lists
//!   -> slow path: wake kswapd, retry at the MIN watermark (less for
//!      __GFP_HIGH / atomic); direct reclaim and retry while it makes
//!      progress; then the OOM killer (small orders, __GFP_FS, not
//!      __GFP_NORETRY) and the whole loop again while it finds victims;
//!      an OOM victim itself may dip below min (ALLOC_OOM). Then fail,
//!      with a warning unless __GFP_NOWARN. Never panics.
//! ```

pub mod buddy;
pub mod pcp;
#[cfg(test)]
mod tests;
pub mod watermark;
pub mod zonelist;

use crate::gfp::Gfp;
use crate::mmzone::*;
use crate::page::{MemMap, PageFlags};
use crate::vmstat::{Counters, VmEvent, ZoneStatItem};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};

/// Rounds of direct reclaim without progress before an allocation fails
/// (Linux: MAX_RECLAIM_RETRIES).
const MAX_RECLAIM_RETRIES: usize = 16;
/// Rounds in all, progress or not: others may take what reclaim frees.
const MAX_RECLAIM_LOOPS: usize = 64;

pub use pcp::zone_batch_high;
pub use watermark::{int_sqrt, LOWMEM_RESERVE_RATIO, WATERMARK_SCALE_FACTOR};
pub use zonelist::{ZoneRef, Zonelist};

pub const MAX_NUMNODES: usize = 4;

bitflags::bitflags! {
    /// Internal allocation flags (Linux: mm/internal.h ALLOC_*).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct AllocFlags: u32 {
        const WMARK_MIN = 0;
        const WMARK_LOW = 1;
        const WMARK_HIGH = 2;
        const NO_WATERMARKS = 4;
        /// Try harder: atomic requests (min - min/4).
        const HARDER = 0x10;
        /// __GFP_HIGH: may use half of the min reserve.
        const HIGH = 0x20;
        /// An OOM victim on its way out: half of the min reserve is
        /// open to it, so that it can exit and free the rest (Linux:
        /// ALLOC_OOM).
        const OOM = 0x100;
        const KSWAPD = 0x800;
    }
}

pub(crate) const ALLOC_WMARK_MASK: u32 = 3;

/// Why an allocation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocFailure {
    pub order: usize,
    pub gfp: Gfp,
}

/// What the OOM step of the slow path came to.
enum MayOom {
    /// A page after all.
    Page(usize),
    /// A victim was killed or is still exiting: reclaim and try again.
    Retry,
    /// No OOM kill for this allocation, or nobody left to kill.
    Fail,
}

/// The seam for labs and benchmarks: anything that hands out physical
/// page frames. Pagoda's buddy allocator is one implementation; a lab can
/// plug in its own, and `make bench` wraps buddy_system_allocator in it.
pub trait FrameAllocator: Sync {
    /// Allocates 2^order contiguous frames; returns the first PFN.
    fn alloc_frames(&self, gfp: Gfp, order: usize) -> Result<usize, AllocFailure>;
    /// Frees a block returned by `alloc_frames`.
    fn free_frames(&self, pfn: usize, order: usize);
    /// Free frames right now.
    fn nr_free_frames(&self) -> usize;
    fn name(&self) -> &'static str;
}

/// Hooks the kernel fills in: reclaim, the OOM killer and where the caller
/// runs.
pub struct Hooks {
    /// Wake node's kswapd (Linux: wakeup_kswapd).
    pub wakeup_kswapd: Option<fn(nid: usize, order: usize, highest: ZoneType)>,
    /// Direct reclaim; returns pages reclaimed (Linux: __alloc_pages_direct_reclaim).
    pub direct_reclaim: Option<fn(gfp: Gfp, order: usize) -> usize>,
    /// The OOM killer; true if it killed a process, or one it killed
    /// before is still on its way out: memory is coming, try again
    /// (Linux: out_of_memory, from __alloc_pages_may_oom).
    pub out_of_memory: Option<fn(gfp: Gfp, order: usize) -> bool>,
    /// Whether the caller is an OOM victim (Linux: tsk_is_oom_victim(current)).
    pub oom_victim: fn() -> bool,
    /// Whether the caller is reclaiming, or holds a lock reclaim needs
    /// (Linux: current->flags & PF_MEMALLOC).
    pub pf_memalloc: fn() -> bool,
    /// Which CPU is running (the pcp to use).
    pub this_cpu: fn() -> usize,
    /// The node of the running CPU: where allocations start looking
    /// (Linux: numa_node_id).
    pub this_node: fn() -> usize,
}

/// The default for both hooks: CPU 0 on node 0.
fn cpu0() -> usize {
    0
}

fn no() -> bool {
    false
}

/// All nodes and the allocation policy (Linux: the globals of page_alloc.c).
pub struct PageAllocator {
    nodes: [Option<PglistData>; MAX_NUMNODES],
    pub nr_online_nodes: usize,
    pub min_free_kbytes: usize,
    pub hooks: Hooks,
    pub alloc_failures: AtomicUsize,
    pub alloc_stalls: AtomicUsize,
}

impl Default for PageAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl PageAllocator {
    pub const fn new() -> Self {
        PageAllocator {
            nodes: [const { None }; MAX_NUMNODES],
            nr_online_nodes: 0,
            min_free_kbytes: 0,
            hooks: Hooks {
                wakeup_kswapd: None,
                direct_reclaim: None,
                out_of_memory: None,
                oom_victim: no,
                pf_memalloc: no,
                this_cpu: cpu0,
                this_node: cpu0,
            },
            alloc_failures: AtomicUsize::new(0),
            alloc_stalls: AtomicUsize::new(0),
        }
    }

    pub fn node(&self, nid: usize) -> Option<&PglistData> {
        self.nodes.get(nid)?.as_ref()
    }

    pub fn online_nodes(&self) -> impl Iterator<Item = &PglistData> {
        self.nodes.iter().flatten()
    }

    pub fn zones(&self) -> impl Iterator<Item = &Zone> {
        self.online_nodes().flat_map(|n| n.populated_zones())
    }

    /// Sets up node `nid` spanning `[start_pfn, end_pfn)`; `zone_end[z]` is
    /// where zone z ends (zones are contiguous: DMA32, Normal, Movable), and
    /// `present` counts the RAM pages of each zone (Linux: free_area_init_node).
    pub fn init_node(
        &mut self,
        nid: usize,
        start_pfn: usize,
        end_pfn: usize,
        zone_end: [usize; MAX_NR_ZONES],
        present: [usize; MAX_NR_ZONES],
        map: MemMap,
    ) {
        let mut zstart = start_pfn;
        let zones: [Zone; MAX_NR_ZONES] = core::array::from_fn(|z| {
            let zend = zone_end[z].clamp(zstart, end_pfn);
            let mut zone = Zone::new(ZONE_TYPES[z], nid, zstart, zend, map);
            zone.present_pages = present[z];
            zstart = zend;
            zone
        });
        self.nodes[nid] = Some(PglistData {
            node_id: nid,
            node_start_pfn: start_pfn,
            node_spanned_pages: end_pfn - start_pfn,
            node_present_pages: present.iter().sum(),
            node_zones: zones,
            node_zonelist: Zonelist::EMPTY,
            vm_stat: Counters::new(),
            kswapd_wakeups: AtomicUsize::new(0),
            lruvec: pagoda_klib::sync::SpinLockIrq::new(crate::lru::Lruvec::new()),
        });
        self.nr_online_nodes = self.nodes.iter().flatten().count();
    }

    /// The zone a PFN belongs to.
    /// On the free path: the node by range, then the zone its struct page
    /// names (Linux: page_zone), instead of searching every zone.
    pub fn pfn_zone(&self, pfn: usize) -> Option<&Zone> {
        let node = self.online_nodes().find(|n| (n.node_start_pfn..n.node_end_pfn()).contains(&pfn))?;
        let map = node.node_zones[0].map;
        if !map.contains(pfn) {
            return None;
        }
        let zone = node.node_zones.get(map.page(pfn).zone_idx())?;
        zone.contains_pfn(pfn).then_some(zone)
    }

    /// Gives `[start_pfn, end_pfn)` to the buddy allocator at boot in the
    /// largest aligned blocks (Linux: memblock_free_all -> __free_pages_memory).
    pub fn free_boot_range(&self, mut start: usize, end: usize) -> usize {
        let mut freed = 0;
        while start < end {
            let Some(zone) = self.pfn_zone(start) else { break };
            let limit = end.min(zone.zone_end_pfn());
            let mut order = (MAX_ORDER - 1).min(start.trailing_zeros() as usize);
            while start + (1 << order) > limit {
                order -= 1;
            }
            zone.free_pages_core(start, order);
            freed += 1 << order;
            start += 1 << order;
        }
        freed
    }

    /// Total managed pages of all zones.
    pub fn totalram_pages(&self) -> usize {
        self.zones().map(|z| z.managed()).sum()
    }

    fn zone_ref(&self, r: ZoneRef) -> &Zone {
        self.nodes[r.nid as usize].as_ref().unwrap().zone(r.zone)
    }

    /// Walks the zonelist for a zone that passes its watermark and allocates
    /// from it (Linux: get_page_from_freelist).
    fn get_page_from_freelist(&self, gfp: Gfp, order: usize, flags: AllocFlags, nid: usize) -> Option<usize> {
        let highest = gfp.zone();
        let mt = gfp.migratetype();
        let cpu = (self.hooks.this_cpu)();
        let node = self.node(nid).or_else(|| self.online_nodes().next())?;
        for r in node.node_zonelist.iter().filter(|r| r.zone <= highest) {
            let zone = self.zone_ref(r);
            if !flags.contains(AllocFlags::NO_WATERMARKS) {
                let min = Self::effective_min(zone, flags);
                let reserve = zone.lowmem_reserve[highest as usize].load(Ordering::Relaxed);
                if !zone.watermark_ok(order, min, reserve, flags.contains(AllocFlags::HARDER)) {
                    zone.count_event(VmEvent::WmarkFail, 1);
                    continue;
                }
            }
            let pfn = if order <= PAGE_ALLOC_COSTLY_ORDER {
                zone.rmqueue_pcplist(cpu, order, mt)
            } else {
                zone.rmqueue_buddy(order, mt)
            };
            if let Some(pfn) = pfn {
                zone.count_event(VmEvent::PgAlloc, 1 << order);
                return Some(pfn);
            }
        }
        None
    }

    /// Allocates 2^order pages (Linux: __alloc_pages). `nid` is the
    /// preferred node. Returns the head PFN. Never panics.
    pub fn alloc_pages(&self, gfp: Gfp, order: usize, nid: usize) -> Result<usize, AllocFailure> {
        let fail = AllocFailure { order, gfp };
        if order >= MAX_ORDER {
            if !gfp.contains(Gfp::__GFP_NOWARN) {
                log::warn!("page allocation: order {order} >= MAX_ORDER {MAX_ORDER}, refused");
            }
            return Err(fail);
        }
        // Fast path: the low watermark.
        if let Some(pfn) = self.get_page_from_freelist(gfp, order, AllocFlags::WMARK_LOW, nid) {
            return Ok(pfn);
        }
        self.alloc_pages_slowpath(gfp, order, nid).ok_or(fail)
    }

    /// Linux: gfp_to_alloc_flags.
    fn gfp_to_alloc_flags(gfp: Gfp) -> AllocFlags {
        let mut f = AllocFlags::WMARK_MIN;
        if gfp.contains(Gfp::__GFP_HIGH) {
            f |= AllocFlags::HIGH;
        }
        if gfp.contains(Gfp::__GFP_ATOMIC) || !gfp.allows_blocking() && !gfp.contains(Gfp::__GFP_NOMEMALLOC) {
            f |= AllocFlags::HARDER;
        }
        if gfp.contains(Gfp::__GFP_KSWAPD_RECLAIM) {
            f |= AllocFlags::KSWAPD;
        }
        f
    }

    /// Linux: __alloc_pages_slowpath, without compaction.
    fn alloc_pages_slowpath(&self, gfp: Gfp, order: usize, nid: usize) -> Option<usize> {
        let flags = Self::gfp_to_alloc_flags(gfp);
        if flags.contains(AllocFlags::KSWAPD) {
            self.wake_all_kswapds(order, gfp, nid);
        }
        if let Some(pfn) = self.get_page_from_freelist(gfp, order, flags, nid) {
            return Some(pfn);
        }
        // Reclaim's own allocations may take the whole reserve, and never
        // reclaim or kill again (Linux: __gfp_pfmemalloc_flags gives
        // ALLOC_NO_WATERMARKS; "avoid recursion of direct reclaim").
        if (self.hooks.pf_memalloc)() && !gfp.contains(Gfp::__GFP_NOMEMALLOC) {
            if let Some(pfn) = self.get_page_from_freelist(gfp, order, AllocFlags::NO_WATERMARKS, nid) {
                return Some(pfn);
            }
        } else if gfp.allows_blocking() {
            loop {
                if let Some(pfn) = self.reclaim_and_retry(gfp, order, flags, nid) {
                    return Some(pfn);
                }
                // A victim gets part of the reserve, once: if even that is
                // not enough it fails rather than loop (Linux: the
                // tsk_is_oom_victim checks of the slow path). The caller
                // may have become one in the last round.
                if (self.hooks.oom_victim)() {
                    if let Some(pfn) = self.get_page_from_freelist(gfp, order, flags | AllocFlags::OOM, nid) {
                        return Some(pfn);
                    }
                    break;
                }
                match self.may_oom(gfp, order, nid) {
                    MayOom::Page(pfn) => return Some(pfn),
                    // Memory is on its way back: start over.
                    MayOom::Retry => {}
                    MayOom::Fail => break,
                }
            }
        }
        self.alloc_failures.fetch_add(1, Ordering::Relaxed);
        if !gfp.contains(Gfp::__GFP_NOWARN) {
            self.warn_alloc(gfp, order);
        }
        None
    }

    /// Reclaims and retries while reclaim makes progress, and a few times
    /// more without (kswapd works meanwhile); gives up sooner with
    /// __GFP_NORETRY (Linux: the slow path's retry loop with
    /// should_reclaim_retry and MAX_RECLAIM_RETRIES).
    fn reclaim_and_retry(&self, gfp: Gfp, order: usize, flags: AllocFlags, nid: usize) -> Option<usize> {
        let mut no_progress = 0;
        for _ in 0..MAX_RECLAIM_LOOPS {
            self.alloc_stalls.fetch_add(1, Ordering::Relaxed);
            let progress = self.hooks.direct_reclaim.map_or(0, |reclaim| reclaim(gfp, order));
            // Pages parked on other CPUs' lists may be enough.
            self.drain_all_pages();
            if let Some(pfn) = self.get_page_from_freelist(gfp, order, flags, nid) {
                return Some(pfn);
            }
            // Costly orders are not worth hammering reclaim for: freeing
            // scattered pages rarely makes a large block (Linux leaves
            // that to compaction, and fails them early).
            if gfp.contains(Gfp::__GFP_NORETRY)
                || order > PAGE_ALLOC_COSTLY_ORDER
                || self.hooks.direct_reclaim.is_none()
            {
                return None;
            }
            no_progress = if progress > 0 { 0 } else { no_progress + 1 };
            if no_progress > MAX_RECLAIM_RETRIES {
                return None;
            }
        }
        None
    }

    /// Whether to call the OOM killer, and what it said (Linux:
    /// __alloc_pages_may_oom). Not for costly orders, __GFP_NORETRY (the
    /// caller has a fallback) or allocations without __GFP_FS (reclaim
    /// could not do its best for them; Linux loops on them instead, Pagoda
    /// fails them). One last try at the high watermark first: another
    /// task may have freed plenty meanwhile.
    fn may_oom(&self, gfp: Gfp, order: usize, nid: usize) -> MayOom {
        let Some(oom) = self.hooks.out_of_memory else { return MayOom::Fail };
        if order > PAGE_ALLOC_COSTLY_ORDER || gfp.contains(Gfp::__GFP_NORETRY) || !gfp.contains(Gfp::__GFP_FS)
        {
            return MayOom::Fail;
        }
        if let Some(pfn) = self.get_page_from_freelist(gfp, order, AllocFlags::WMARK_HIGH, nid) {
            return MayOom::Page(pfn);
        }
        if oom(gfp, order) {
            MayOom::Retry
        } else {
            MayOom::Fail
        }
    }

    fn wake_all_kswapds(&self, order: usize, gfp: Gfp, nid: usize) {
        let Some(node) = self.node(nid).or_else(|| self.online_nodes().next()) else { return };
        let mut woken = [false; MAX_NUMNODES];
        for r in node.node_zonelist.iter().filter(|r| r.zone <= gfp.zone()) {
            if !woken[r.nid as usize] {
                woken[r.nid as usize] = true;
                if let Some(n) = self.node(r.nid as usize) {
                    n.kswapd_wakeups.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(wake) = self.hooks.wakeup_kswapd {
                    wake(r.nid as usize, order, gfp.zone());
                }
            }
        }
    }

    /// The "page allocation failure" warning with a Mem-Info dump (Linux: warn_alloc + show_mem).
    fn warn_alloc(&self, gfp: Gfp, order: usize) {
        log::warn!("page allocation failure: order:{order}, mode:{:#x}({gfp}), nodemask=(null)", gfp.bits());
        let mut line = LineLogger::new();
        let _ = self.show_mem(&mut line);
    }

    /// Frees 2^order pages at `pfn` (Linux: __free_pages): to the pcp list
    /// for small orders, else straight to the buddy lists.
    pub fn free_pages(&self, pfn: usize, order: usize) {
        let Some(zone) = self.pfn_zone(pfn) else {
            log::error!("BUG: free_pages of pfn {pfn:#x} outside every zone");
            return;
        };
        let page = zone.map.page(pfn);
        if page.is_buddy() || page.test(PageFlags::PCP) || page.is_reserved() {
            log::error!(
                "BUG: Bad page state: pfn:{pfn:#x} order:{order} flags:{:?} (double free or freeing a reserved page)",
                page.flags()
            );
            return;
        }
        zone.count_event(VmEvent::PgFree, 1 << order);
        if order <= PAGE_ALLOC_COSTLY_ORDER {
            zone.free_pcp((self.hooks.this_cpu)(), pfn, order);
        } else {
            zone.free_one_page(pfn, order);
        }
    }

    /// Empties every CPU's pcp lists (Linux: drain_all_pages).
    pub fn drain_all_pages(&self) {
        for z in self.zones() {
            for cpu in 0..NR_CPUS {
                z.drain_pages(cpu);
            }
        }
    }

    /// Free pages in the buddy lists (Linux: global NR_FREE_PAGES).
    pub fn nr_free_pages(&self) -> usize {
        self.zones().map(|z| z.zone_page_state(ZoneStatItem::NrFreePages)).sum()
    }

    /// Free pages on pcp lists.
    pub fn nr_pcp_pages(&self) -> usize {
        self.zones().map(|z| z.pcp_count()).sum()
    }

    /// The Mem-Info block (Linux: show_mem / __show_free_areas).
    pub fn show_mem(&self, w: &mut impl Write) -> fmt::Result {
        writeln!(w, "Mem-Info:")?;
        writeln!(
            w,
            "free:{} free_pcp:{} managed:{}",
            self.nr_free_pages(),
            self.nr_pcp_pages(),
            self.totalram_pages()
        )?;
        for z in self.zones() {
            writeln!(
                w,
                "Node {} {} free:{}kB boost:0kB min:{}kB low:{}kB high:{}kB present:{}kB managed:{}kB free_pcp:{}kB",
                z.nid,
                z.name(),
                z.zone_page_state(ZoneStatItem::NrFreePages) * 4,
                z.min_wmark_pages() * 4,
                z.low_wmark_pages() * 4,
                z.high_wmark_pages() * 4,
                z.present_pages * 4,
                z.managed() * 4,
                z.pcp_count() * 4
            )?;
        }
        for z in self.zones() {
            write!(w, "Node {} {}: ", z.nid, z.name())?;
            let mut total = 0;
            for (o, n) in z.buddyinfo().iter().enumerate() {
                write!(w, "{n}*{}kB ", 4 << o)?;
                total += n * (4 << o);
            }
            writeln!(w, "= {total}kB")?;
        }
        Ok(())
    }
}

impl FrameAllocator for PageAllocator {
    fn alloc_frames(&self, gfp: Gfp, order: usize) -> Result<usize, AllocFailure> {
        self.alloc_pages(gfp, order, (self.hooks.this_node)())
    }
    fn free_frames(&self, pfn: usize, order: usize) {
        self.free_pages(pfn, order)
    }
    fn nr_free_frames(&self) -> usize {
        self.nr_free_pages() + self.nr_pcp_pages()
    }
    fn name(&self) -> &'static str {
        "pagoda-buddy"
    }
}

/// Sends each line written to it to the log at warning level.
pub struct LineLogger {
    buf: [u8; 256],
    len: usize,
}

impl Default for LineLogger {
    fn default() -> Self {
        Self::new()
    }
}

impl LineLogger {
    pub fn new() -> Self {
        LineLogger { buf: [0; 256], len: 0 }
    }
}

impl Write for LineLogger {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                log::warn!("{}", core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?"));
                self.len = 0;
            } else if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}
