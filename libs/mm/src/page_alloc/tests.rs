//! Host tests of the buddy allocator, pcp lists, fallback and watermarks,
//! over a simulated mem_map (struct pages in a Vec; no frame is touched).

use crate::gfp::Gfp;
use crate::mmzone::*;
use crate::page::{MemMap, Page};
use crate::page_alloc::*;
use crate::vmstat::{VmEvent, ZoneStatItem};
use std::collections::BTreeMap;
use std::vec::Vec;

/// A node layout for a simulation: (start_pfn, end_pfn, zone ends).
struct NodeSpec {
    start: usize,
    end: usize,
    zone_end: [usize; MAX_NR_ZONES],
}

struct Sim {
    pa: PageAllocator,
    _map: Vec<Page>,
}

fn sim(nodes: &[NodeSpec]) -> Sim {
    let lo = nodes.iter().map(|n| n.start).min().unwrap();
    let hi = nodes.iter().map(|n| n.end).max().unwrap();
    let mut map: Vec<Page> = Vec::with_capacity(hi - lo);
    for pfn in lo..hi {
        let (nid, n) = nodes.iter().enumerate().find(|(_, n)| (n.start..n.end).contains(&pfn)).unwrap();
        let z = n.zone_end.iter().position(|&e| pfn < e).unwrap_or(2);
        map.push(Page::new_reserved(nid as u8, z as u8, MigrateType::Movable as u8));
    }
    // SAFETY: `map` lives in the Sim next to the allocator and is never resized.
    let mm = unsafe { MemMap::new(map.as_mut_ptr(), lo, hi) };
    let mut pa = PageAllocator::new();
    for (nid, n) in nodes.iter().enumerate() {
        let mut present = [0; MAX_NR_ZONES];
        let mut s = n.start;
        for (z, p) in present.iter_mut().enumerate() {
            let e = n.zone_end[z].clamp(s, n.end);
            *p = e - s;
            s = e;
        }
        pa.init_node(nid, n.start, n.end, n.zone_end, present, mm);
    }
    for n in nodes {
        pa.free_boot_range(n.start, n.end);
    }
    pa.build_all_zonelists(|a, b| if a == b { 10 } else { 20 });
    let kb = pa.calculate_min_free_kbytes();
    pa.setup_per_zone_wmarks(kb);
    pa.setup_per_zone_lowmem_reserve();
    pa.setup_pcp();
    Sim { pa, _map: map }
}

/// One node of `pages` pages starting at 1 GiB, all in DMA32.
fn one_zone(pages: usize) -> Sim {
    let start = 0x40000;
    sim(&[NodeSpec { start, end: start + pages, zone_end: [start + pages; 3] }])
}

use pagoda_klib::rand::XorShift64 as Rng;

const GFPS: [Gfp; 4] = [Gfp::GFP_KERNEL, Gfp::GFP_HIGHUSER_MOVABLE, Gfp::GFP_ATOMIC, Gfp::GFP_KERNEL];

fn reclaimable() -> Gfp {
    Gfp::GFP_KERNEL.union(Gfp::__GFP_RECLAIMABLE)
}

/// Free + pcp + allocated must equal managed; every list must be consistent.
fn check_accounting(pa: &PageAllocator, allocated: usize) {
    let mut listed = 0;
    for z in pa.zones() {
        listed += z.check_free_lists().unwrap_or_else(|e| panic!("{} zone: {e}", z.name()));
    }
    assert_eq!(listed, pa.nr_free_pages());
    assert_eq!(
        pa.nr_free_pages() + pa.nr_pcp_pages() + allocated,
        pa.totalram_pages(),
        "pages lost or invented"
    );
}

#[test]
fn boot_free_gives_maximal_blocks() {
    let s = one_zone(16 * 1024);
    let z = s.pa.zones().next().unwrap();
    let bi = z.buddyinfo();
    assert_eq!(bi[MAX_ORDER - 1], 16);
    assert!(bi[..MAX_ORDER - 1].iter().all(|&n| n == 0));
    assert_eq!(z.managed(), 16 * 1024);
    check_accounting(&s.pa, 0);
}

#[test]
fn unaligned_boot_range_is_split_into_aligned_blocks() {
    let start = 0x40000 + 3;
    let s = sim(&[NodeSpec { start, end: start + 1000, zone_end: [start + 1000; 3] }]);
    let z = s.pa.zones().next().unwrap();
    assert_eq!(z.managed(), 1000);
    check_accounting(&s.pa, 0);
    // 0x40003: order 0, 0x40004: order 2, 0x40008: order 3 ... all aligned.
    assert_eq!(z.buddyinfo().iter().enumerate().map(|(o, n)| n << o).sum::<usize>(), 1000);
}

#[test]
fn randomized_alloc_free_never_overlaps_and_accounts_every_page() {
    let mut s = one_zone(8 * 1024);
    s.pa.setup_per_zone_wmarks(0); // let the test use the whole zone
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut owner: Vec<Option<usize>> = vec![None; 8 * 1024]; // page -> block id
    let mut live: BTreeMap<usize, usize> = BTreeMap::new(); // pfn -> order
    let mut allocated = 0;
    for step in 0..20_000 {
        if live.is_empty() || rng.below(100) < 55 {
            let order = match rng.below(10) {
                0..=5 => 0,
                6..=7 => rng.below(4),
                _ => rng.below(MAX_ORDER),
            };
            let gfp = if rng.below(5) == 0 { reclaimable() } else { GFPS[rng.below(4)] } | Gfp::__GFP_NOWARN;
            if let Ok(pfn) = s.pa.alloc_pages(gfp, order, 0) {
                assert_eq!(pfn % (1 << order), 0, "block not aligned to its order");
                for p in pfn..pfn + (1 << order) {
                    let i = p - 0x40000;
                    assert!(owner[i].is_none(), "step {step}: pfn {p:#x} handed out twice");
                    owner[i] = Some(pfn);
                }
                live.insert(pfn, order);
                allocated += 1 << order;
            }
        } else {
            let k = rng.below(live.len());
            let (&pfn, &order) = live.iter().nth(k).unwrap();
            live.remove(&pfn);
            for p in pfn..pfn + (1 << order) {
                owner[p - 0x40000] = None;
            }
            s.pa.free_pages(pfn, order);
            allocated -= 1 << order;
        }
        if step % 997 == 0 {
            check_accounting(&s.pa, allocated);
        }
    }
    check_accounting(&s.pa, allocated);
    for (pfn, order) in std::mem::take(&mut live) {
        s.pa.free_pages(pfn, order);
    }
    s.pa.drain_all_pages();
    check_accounting(&s.pa, 0);
    let z = s.pa.zones().next().unwrap();
    assert_eq!(z.buddyinfo()[MAX_ORDER - 1], 8, "freeing everything must restore the maximal blocks");
    assert_eq!(z.pcp_count(), 0);
}

#[test]
fn fallback_steals_pageblocks_and_gives_them_back() {
    let mut s = one_zone(8 * 1024); // 16 pageblocks, all Movable at boot
    s.pa.setup_per_zone_wmarks(0);
    let z = s.pa.zones().next().unwrap();
    assert_eq!(z.pageblock_counts()[MigrateType::Movable as usize], 16);
    // Unmovable requests must steal: the first claims a whole pageblock.
    let mut pfns = Vec::new();
    for _ in 0..600 {
        pfns.push(s.pa.alloc_pages(Gfp::GFP_KERNEL, 0, 0).unwrap());
    }
    let counts = z.pageblock_counts();
    assert!(counts[MigrateType::Unmovable as usize] >= 2, "{counts:?}");
    // One claim may convert two pageblocks at once (a free order-10 block).
    assert!(z.events.get(VmEvent::ExtfragClaimed as usize) >= 1);
    // The unmovable pages sit together in the claimed blocks, not spread out.
    let blocks: std::collections::BTreeSet<usize> = pfns.iter().map(|p| p / PAGEBLOCK_NR_PAGES).collect();
    assert!(blocks.len() <= 3, "unmovable pages spread over {} pageblocks", blocks.len());
    for p in pfns {
        s.pa.free_pages(p, 0);
    }
    s.pa.drain_all_pages();
    check_accounting(&s.pa, 0);
    // Movable requests for all of memory steal the blocks back.
    let mut all = Vec::new();
    while let Ok(p) = s.pa.alloc_pages(Gfp::GFP_HIGHUSER_MOVABLE | Gfp::__GFP_NOWARN, 0, 0) {
        all.push(p);
    }
    assert_eq!(all.len() + s.pa.nr_pcp_pages(), 8 * 1024, "stolen blocks were not usable again");
    assert_eq!(z.pageblock_counts()[MigrateType::Unmovable as usize], 0, "{:?}", z.pageblock_counts());
    for p in all {
        s.pa.free_pages(p, 0);
    }
    s.pa.drain_all_pages();
    check_accounting(&s.pa, 0);
    assert_eq!(z.buddyinfo()[MAX_ORDER - 1], 8);
}

#[test]
fn pcp_refills_in_a_batch_and_drains_above_high() {
    let s = one_zone(64 * 1024);
    let z = s.pa.zones().next().unwrap();
    let (batch, high) = zone_batch_high(z.managed());
    assert_eq!((batch, high), (15, 90));
    let free0 = s.pa.nr_free_pages();
    let a = s.pa.alloc_pages(Gfp::GFP_KERNEL, 0, 0).unwrap();
    // One allocation pulled a whole batch off the buddy lists.
    assert_eq!(free0 - s.pa.nr_free_pages(), batch);
    assert_eq!(z.pcp_count(), batch - 1);
    assert_eq!(z.events.get(VmEvent::PcpRefill as usize), 1);
    // The next batch-1 allocations come from the pcp list: no refill.
    let mut got = vec![a];
    for _ in 1..batch {
        got.push(s.pa.alloc_pages(Gfp::GFP_KERNEL, 0, 0).unwrap());
    }
    assert_eq!(z.events.get(VmEvent::PcpRefill as usize), 1);
    assert_eq!(z.pcp_count(), 0);
    // LIFO: a freed page is the next one handed out (cache-hot).
    s.pa.free_pages(got[3], 0);
    assert_eq!(s.pa.alloc_pages(Gfp::GFP_KERNEL, 0, 0).unwrap(), got[3]);
    // Freeing past `high` drains a batch back to the buddy lists.
    let mut many = Vec::new();
    for _ in 0..high + 10 {
        many.push(s.pa.alloc_pages(Gfp::GFP_KERNEL, 0, 0).unwrap());
    }
    for p in many {
        s.pa.free_pages(p, 0);
        assert!(z.pcp_count() < high, "pcp list grew past high");
    }
    assert!(z.events.get(VmEvent::PcpDrain as usize) >= 1);
    for p in got {
        s.pa.free_pages(p, 0);
    }
    check_accounting(&s.pa, 0);
    s.pa.drain_all_pages();
    assert_eq!(z.pcp_count(), 0);
    check_accounting(&s.pa, 0);
}

#[test]
fn pcp_also_caches_small_orders() {
    let s = one_zone(16 * 1024);
    let z = s.pa.zones().next().unwrap();
    let p = s.pa.alloc_pages(Gfp::GFP_KERNEL, 2, 0).unwrap();
    assert!(z.pcp_count() > 0 && z.pcp_count().is_multiple_of(4));
    s.pa.free_pages(p, 2);
    let big = s.pa.alloc_pages(Gfp::GFP_KERNEL, 5, 0).unwrap();
    let before = z.pcp_count();
    s.pa.free_pages(big, 5);
    assert_eq!(z.pcp_count(), before, "order 5 bypasses the pcp lists");
}

#[test]
fn watermarks_follow_linux_formulas() {
    let s = one_zone(256 * 1024); // 1 GiB
    assert_eq!(s.pa.calculate_min_free_kbytes(), 4096); // sqrt(1048576 * 16)
    let z = s.pa.zones().next().unwrap();
    assert_eq!(z.min_wmark_pages(), 1024);
    assert_eq!(z.low_wmark_pages(), 1024 + 262);
    assert_eq!(z.high_wmark_pages(), 1024 + 524);
    assert_eq!(int_sqrt(99), 9);
    assert_eq!(int_sqrt(100), 10);
}

static KSWAPD_WAKES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
fn count_wake(_: usize, _: usize, _: ZoneType) {
    KSWAPD_WAKES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

#[test]
fn atomic_may_dip_below_min_where_kernel_fails_and_kswapd_is_woken() {
    let mut s = one_zone(64 * 1024);
    s.pa.hooks.wakeup_kswapd = Some(count_wake);
    let z = s.pa.zones().next().unwrap();
    let min = z.min_wmark_pages();
    let mut held = Vec::new();
    // Use GFP_KERNEL until it fails: the zone is then at (about) min.
    while let Ok(p) = s.pa.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, 0, 0) {
        held.push(p);
    }
    let free = z.zone_page_state(ZoneStatItem::NrFreePages);
    assert!(free <= min + 1, "GFP_KERNEL stopped at {free} free, min is {min}");
    assert!(KSWAPD_WAKES.load(std::sync::atomic::Ordering::Relaxed) > 0, "kswapd not woken below low");
    assert!(s.pa.alloc_failures.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    // GFP_ATOMIC (__GFP_HIGH + atomic) may still take pages from the reserve.
    let mut atomic = 0;
    while let Ok(p) = s.pa.alloc_pages(Gfp::GFP_ATOMIC | Gfp::__GFP_NOWARN, 0, 0) {
        held.push(p);
        atomic += 1;
    }
    assert!(atomic > min / 4, "atomic got only {atomic} pages below min {min}");
    // The floor is min/2 less a quarter (ALLOC_HIGH, ALLOC_HARDER); the
    // last pcp refill may take up to one batch past it, as in Linux.
    let floor = z.zone_page_state(ZoneStatItem::NrFreePages);
    let (batch, _) = zone_batch_high(z.managed());
    let limit = (min - min / 2) - (min - min / 2) / 4;
    assert!(floor + batch >= limit, "atomic dipped too far: {floor} (limit {limit})");
    assert!(floor <= limit + 1, "atomic stopped early at {floor} (limit {limit})");
    for p in held {
        s.pa.free_pages(p, 0);
    }
    check_accounting(&s.pa, 0);
}

fn two_nodes_with_movable() -> Sim {
    // Node 0: DMA32 [4G-1G .. 4G), Normal [4G .. 5G). Node 1: Normal [5G .. 6G), Movable last 256 MiB.
    let g = 1usize << 18; // pages per GiB
    sim(&[
        NodeSpec { start: 3 * g, end: 5 * g, zone_end: [4 * g, 5 * g, 5 * g] },
        NodeSpec { start: 5 * g, end: 6 * g, zone_end: [5 * g, 6 * g - g / 4, 6 * g] },
    ])
}

#[test]
fn zonelists_prefer_local_node_highest_zone_first() {
    let s = two_nodes_with_movable();
    let zl0: Vec<(u8, ZoneType)> =
        s.pa.node(0).unwrap().node_zonelist.iter().map(|r| (r.nid, r.zone)).collect();
    assert_eq!(
        zl0,
        [(0, ZoneType::Normal), (0, ZoneType::Dma32), (1, ZoneType::Movable), (1, ZoneType::Normal)]
    );
    let zl1: Vec<(u8, ZoneType)> =
        s.pa.node(1).unwrap().node_zonelist.iter().map(|r| (r.nid, r.zone)).collect();
    assert_eq!(zl1[0], (1, ZoneType::Movable));
    assert_eq!(zl1[2], (0, ZoneType::Normal));
}

#[test]
fn gfp_selects_zone_and_node() {
    let s = two_nodes_with_movable();
    let g = 1usize << 18;
    let dma = s.pa.alloc_pages(Gfp::GFP_KERNEL | Gfp::GFP_DMA32, 0, 0).unwrap();
    assert!(dma < 4 * g, "GFP_DMA32 gave pfn {dma:#x}");
    let k = s.pa.alloc_pages(Gfp::GFP_KERNEL, 0, 0).unwrap();
    assert!((4 * g..5 * g).contains(&k), "GFP_KERNEL on node 0 should use Normal");
    let k1 = s.pa.alloc_pages(Gfp::GFP_KERNEL, 0, 1).unwrap();
    assert!((5 * g..6 * g - g / 4).contains(&k1), "GFP_KERNEL on node 1: its Normal zone, never Movable");
    let m = s.pa.alloc_pages(Gfp::GFP_HIGHUSER_MOVABLE, 0, 1).unwrap();
    assert!(m >= 6 * g - g / 4, "movable prefers ZONE_MOVABLE");
    // Kernel allocations never land in ZONE_MOVABLE, even when node 0 is exhausted.
    let mut held = Vec::new();
    while let Ok(p) = s.pa.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, 10, 0) {
        assert!(p < 6 * g - g / 4, "kernel page in ZONE_MOVABLE");
        held.push(p);
    }
    assert!(held.iter().any(|&p| p >= 5 * g), "node 0 full: should fall back to node 1");
}

#[test]
fn lowmem_reserve_protects_dma32_from_normal_requests() {
    let s = two_nodes_with_movable();
    let n0 = s.pa.node(0).unwrap();
    let dma = n0.zone(ZoneType::Dma32);
    let normal_managed = n0.zone(ZoneType::Normal).managed();
    assert_eq!(
        dma.lowmem_reserve[ZoneType::Normal as usize].load(std::sync::atomic::Ordering::Relaxed),
        normal_managed / 256
    );
    assert_eq!(dma.lowmem_reserve[ZoneType::Dma32 as usize].load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[test]
fn double_free_and_bad_orders_are_refused_without_damage() {
    let s = one_zone(4 * 1024);
    let p = s.pa.alloc_pages(Gfp::GFP_KERNEL, 4, 0).unwrap();
    s.pa.free_pages(p, 4);
    s.pa.free_pages(p, 4); // double free: reported, ignored
    check_accounting(&s.pa, 0);
    let q = s.pa.alloc_pages(Gfp::GFP_KERNEL, 0, 0).unwrap();
    s.pa.free_pages(q, 0);
    s.pa.free_pages(q, 0); // on the pcp list now: also refused
    check_accounting(&s.pa, 0);
    assert!(s.pa.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, MAX_ORDER, 0).is_err());
    assert!(s.pa.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, 10, 0).is_ok());
}

#[test]
fn show_mem_reports_every_zone() {
    let s = two_nodes_with_movable();
    let mut out = std::string::String::new();
    s.pa.show_mem(&mut out).unwrap();
    assert!(out.contains("Mem-Info:"));
    assert!(out.contains("Node 0 DMA32 free:"));
    assert!(out.contains("Node 1 Movable: "));
}

static OOM_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// An OOM killer that says "a victim is on its way out" twice, then that
/// nobody is left.
fn oom_twice(_: Gfp, _: usize) -> bool {
    OOM_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 2
}
fn no_reclaim(_: Gfp, _: usize) -> usize {
    0
}

#[test]
fn the_oom_killer_is_asked_only_for_small_fs_allocations_and_retried_while_it_kills() {
    use std::sync::atomic::Ordering::Relaxed;
    let mut s = one_zone(64 * 1024);
    s.pa.hooks.direct_reclaim = Some(no_reclaim);
    s.pa.hooks.out_of_memory = Some(oom_twice);
    let mut held = Vec::new();
    while let Ok(p) = s.pa.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, 0, 0) {
        held.push(p);
    }
    // Two "victims" then none: asked three times, then the allocation failed.
    assert_eq!(OOM_CALLS.load(Relaxed), 3, "retried while the OOM killer made progress");
    OOM_CALLS.store(10, Relaxed);
    for (gfp, order, what) in [
        (Gfp::GFP_NOFS, 0, "GFP_NOFS"),
        (Gfp::GFP_KERNEL | Gfp::__GFP_NORETRY, 0, "__GFP_NORETRY"),
        (Gfp::GFP_KERNEL, 4, "a costly order"),
        (Gfp::GFP_ATOMIC, 9, "an atomic allocation"),
    ] {
        assert!(s.pa.alloc_pages(gfp | Gfp::__GFP_NOWARN, order, 0).is_err());
        assert_eq!(OOM_CALLS.load(Relaxed), 10, "the OOM killer was asked for {what}");
    }
    for p in held {
        s.pa.free_pages(p, 0);
    }
    check_accounting(&s.pa, 0);
}

fn is_victim() -> bool {
    true
}
fn oom_must_not_run(_: Gfp, _: usize) -> bool {
    panic!("a victim's allocation asked the OOM killer")
}

#[test]
fn an_oom_victim_may_use_half_the_min_reserve_and_then_fails() {
    let mut s = one_zone(64 * 1024);
    s.pa.hooks.direct_reclaim = Some(no_reclaim);
    let mut held = Vec::new();
    while let Ok(p) = s.pa.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, 0, 0) {
        held.push(p);
    }
    s.pa.hooks.oom_victim = is_victim;
    s.pa.hooks.out_of_memory = Some(oom_must_not_run);
    let z = s.pa.zones().next().unwrap();
    let min = z.min_wmark_pages();
    let mut extra = 0;
    while let Ok(p) = s.pa.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, 0, 0) {
        held.push(p);
        extra += 1;
    }
    let floor = z.zone_page_state(ZoneStatItem::NrFreePages);
    let (batch, _) = zone_batch_high(z.managed());
    assert!(extra >= min / 2 - batch, "a victim got only {extra} pages below min {min}");
    assert!(floor + batch >= min / 2, "a victim dipped to {floor}, below half of min {min}");
    for p in held {
        s.pa.free_pages(p, 0);
    }
    check_accounting(&s.pa, 0);
}

fn reclaiming() -> bool {
    true
}
fn reclaim_must_not_run(_: Gfp, _: usize) -> usize {
    panic!("a PF_MEMALLOC allocation reclaimed")
}

#[test]
fn reclaims_own_allocations_take_the_reserve_and_never_reclaim_or_kill() {
    let mut s = one_zone(64 * 1024);
    let mut held = Vec::new();
    while let Ok(p) = s.pa.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, 0, 0) {
        held.push(p);
    }
    s.pa.hooks.pf_memalloc = reclaiming;
    s.pa.hooks.direct_reclaim = Some(reclaim_must_not_run);
    s.pa.hooks.out_of_memory = Some(oom_must_not_run);
    while let Ok(p) = s.pa.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, 0, 0) {
        held.push(p);
    }
    let z = s.pa.zones().next().unwrap();
    let (batch, _) = zone_batch_high(z.managed());
    assert!(z.zone_page_state(ZoneStatItem::NrFreePages) <= batch, "PF_MEMALLOC left reserve pages unused");
    for p in held {
        s.pa.free_pages(p, 0);
    }
    check_accounting(&s.pa, 0);
}
