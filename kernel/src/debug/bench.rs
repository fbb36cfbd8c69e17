//! `make bench`: the page allocator measured against buddy_system_allocator
//! in one boot, over the same physical memory.
//!
//! A 64 MiB run of physically contiguous pages is taken from the kernel's
//! allocator. Then, in turn, each allocator manages exactly that range:
//! - ours: a private `Zone` (the same code as the kernel's zones) with its
//!   own struct page array;
//! - `bsa_frame`: buddy_system_allocator's FrameAllocator (free lists in
//!   BTreeSets on the kernel heap, behind a spin lock);
//! - `bsa_heap`: buddy_system_allocator's Heap (intrusive free lists in the
//!   free memory itself, behind a spin lock).
//!
//! Both of ours take locks too (pcp lock, zone->lock). Time is the generic
//! counter; run under `-icount shift=0` guest time counts instructions, so
//! the figures repeat exactly. Nothing asserts a time: this prints.

use crate::arch::time::{counter, counter_freq};
use crate::kprintln;
use crate::mm::page_alloc::{__free_pages, alloc_pages, page_address};
use alloc::vec::Vec;
use buddy_system_allocator::{LockedFrameAllocator, LockedHeap};
use core::alloc::Layout;
use pagoda_klib::rand::XorShift64;
use pagoda_mm::gfp::Gfp;
use pagoda_mm::mmzone::{MigrateType, Zone, ZoneType, MAX_ORDER, PAGE_ALLOC_COSTLY_ORDER};
use pagoda_mm::page::{MemMap, Page};
use pagoda_mm::page_alloc::zone_batch_high;

const RANGE_ORDER: usize = MAX_ORDER - 1;
const RANGE_BLOCKS: usize = 16; // 16 x 4 MiB = 64 MiB
const RANGE_PAGES: usize = RANGE_BLOCKS << RANGE_ORDER;
const ROUNDTRIPS: usize = 100_000;
const MIXED_OPS: usize = 100_000;

/// Nanoseconds per operation, as fixed-point thousandths.
fn ns_per_op(ticks: u64, ops: usize) -> u64 {
    (ticks as u128 * 1_000_000_000_000 / counter_freq() as u128 / ops as u128) as u64
}

fn time(ops: usize, f: impl FnOnce()) -> u64 {
    let t0 = counter();
    f();
    ns_per_op(counter() - t0, ops)
}

struct Fixed(u64);
impl core::fmt::Display for Fixed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{:01}", self.0 / 1000, self.0 % 1000 / 100)
    }
}

fn report(name: &str, ours: u64, baseline: &str, theirs: u64) {
    let speedup = theirs * 100 / ours.max(1);
    kprintln!(
        "bench: {name} ours={} ns/op {baseline}={} ns/op speedup={}.{:02}",
        Fixed(ours),
        Fixed(theirs),
        speedup / 100,
        speedup % 100
    );
}

/// A 64 MiB physically contiguous range from the kernel's allocator.
fn take_contiguous_range() -> Option<(usize, Vec<usize>)> {
    let mut blocks = Vec::new();
    for _ in 0..4 * RANGE_BLOCKS {
        blocks.push(alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, RANGE_ORDER).ok()?);
        let mut sorted = blocks.clone();
        sorted.sort_unstable();
        for w in sorted.windows(RANGE_BLOCKS) {
            if w.windows(2).all(|p| p[1] == p[0] + (1 << RANGE_ORDER)) {
                let start = w[0];
                let extra = blocks.iter().copied().filter(|b| !w.contains(b)).collect();
                return Some((start, extra));
            }
        }
    }
    None
}

/// Our zone over `[start, start + RANGE_PAGES)` with its own mem_map.
fn private_zone(start: usize, map_pages: &mut [Page]) -> Zone {
    // SAFETY: `map_pages` outlives the zone (both live in run_all's frame).
    let map = unsafe { MemMap::new(map_pages.as_mut_ptr(), start, start + RANGE_PAGES) };
    let mut zone = Zone::new(ZoneType::Normal, 0, start, start + RANGE_PAGES, map);
    zone.present_pages = RANGE_PAGES;
    for pfn in (start..start + RANGE_PAGES).step_by(1 << RANGE_ORDER) {
        zone.free_pages_core(pfn, RANGE_ORDER);
    }
    // The pcp tunables of the kernel's first zone, so that the private zone
    // behaves like the allocator the kernel actually runs (a 64 MiB zone
    // alone would get Linux's tiny batch of 3).
    let (batch, high) = crate::mm::page_alloc::page_allocator()
        .zones()
        .next()
        .map(|z| zone_batch_high(z.managed()))
        .unwrap_or_else(|| zone_batch_high(RANGE_PAGES));
    for pcp in zone.pcp.iter() {
        let mut p = pcp.lock();
        p.batch = batch;
        p.high = high;
    }
    zone
}

/// The mixed workload: 256 slots; each step frees a live block or
/// allocates one of order 0..=5 (mostly small). Same sequence for everyone.
fn mixed(mut alloc: impl FnMut(usize) -> Option<usize>, mut free: impl FnMut(usize, usize)) {
    let mut slots = [(0usize, 0usize, false); 256];
    let mut rng = XorShift64::new(0x2545_f491_4f6c_dd1d);
    for _ in 0..MIXED_OPS {
        let r = rng.next_u64() as usize;
        let s = &mut slots[r % 256];
        if s.2 {
            free(s.0, s.1);
            s.2 = false;
        } else {
            let order = [0, 0, 0, 0, 1, 1, 2, 3, 4, 5][(r >> 8) % 10];
            if let Some(pfn) = alloc(order) {
                *s = (pfn, order, true);
            }
        }
    }
    for s in slots.iter().filter(|s| s.2) {
        free(s.0, s.1);
    }
}

/// Objects live in the mixed-size slab benchmark.
const LIVE_OBJECTS: usize = 10_000;
/// Memory given to each baseline heap.
const HEAP_BYTES: usize = 16 << 20;

/// An allocator under test: allocate and free by size.
trait Bench {
    fn alloc(&mut self, size: usize) -> *mut u8;
    fn free(&mut self, p: *mut u8, size: usize);
}

struct Ours;
impl Bench for Ours {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        crate::mm::slab::kmalloc(size, Gfp::GFP_KERNEL).unwrap()
    }
    fn free(&mut self, p: *mut u8, _size: usize) {
        crate::mm::slab::kfree(p)
    }
}

struct LinkedList(linked_list_allocator::Heap);
impl Bench for LinkedList {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        self.0.allocate_first_fit(Layout::from_size_align(size, 8).unwrap()).unwrap().as_ptr()
    }
    fn free(&mut self, p: *mut u8, size: usize) {
        // SAFETY: `p` came from this heap with this layout.
        unsafe {
            self.0.deallocate(core::ptr::NonNull::new(p).unwrap(), Layout::from_size_align(size, 8).unwrap())
        }
    }
}

struct BsaHeap(buddy_system_allocator::Heap<33>);
impl Bench for BsaHeap {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        self.0.alloc(Layout::from_size_align(size, 8).unwrap()).unwrap().as_ptr()
    }
    fn free(&mut self, p: *mut u8, size: usize) {
        // SAFETY: `p` came from this heap with this layout.
        unsafe {
            self.0.dealloc(core::ptr::NonNull::new(p).unwrap(), Layout::from_size_align(size, 8).unwrap())
        }
    }
}

/// 64-byte alloc+free round trips.
fn roundtrip_64(b: &mut dyn Bench) -> u64 {
    time(ROUNDTRIPS, || {
        for _ in 0..ROUNDTRIPS {
            let p = b.alloc(64);
            b.free(p, 64);
        }
    })
}

/// With LIVE_OBJECTS objects of mixed sizes live, replace a random one by a
/// new one of a random size, ROUNDTRIPS times (one op = one free + one alloc).
fn live_mixed(b: &mut dyn Bench, slots: &mut [(usize, usize)]) -> u64 {
    const SIZES: [usize; 12] = [8, 16, 24, 32, 48, 64, 96, 128, 200, 256, 512, 1024];
    let mut rng = XorShift64::new(0x5eed);
    for s in slots.iter_mut() {
        let size = SIZES[rng.below(SIZES.len())];
        *s = (b.alloc(size) as usize, size);
    }
    let t = time(ROUNDTRIPS, || {
        for _ in 0..ROUNDTRIPS {
            let i = rng.below(slots.len());
            let (p, size) = slots[i];
            b.free(p as *mut u8, size);
            let size = SIZES[rng.below(SIZES.len())];
            slots[i] = (b.alloc(size) as usize, size);
        }
    });
    for &(p, size) in slots.iter() {
        b.free(p as *mut u8, size);
    }
    t
}

fn run_slab(pcp_roundtrip: u64) {
    kprintln!(
        "bench: slab, {LIVE_OBJECTS} live objects for the mixed test, baselines get {} MiB each",
        HEAP_BYTES >> 20
    );
    let Some(ll_mem) = crate::mm::vmalloc::vmalloc(HEAP_BYTES) else { return };
    let Some(bsa_mem) = crate::mm::vmalloc::vmalloc(HEAP_BYTES) else { return };
    // SAFETY: both regions are ours, mapped, and used only by these heaps.
    let mut ll = LinkedList(unsafe { linked_list_allocator::Heap::new(ll_mem as *mut u8, HEAP_BYTES) });
    let mut bsa = BsaHeap(buddy_system_allocator::Heap::new());
    // SAFETY: as above.
    unsafe { bsa.0.add_to_heap(bsa_mem, bsa_mem + HEAP_BYTES) };
    let mut slots = alloc::vec![(0usize, 0usize); LIVE_OBJECTS];

    let ours_rt = roundtrip_64(&mut Ours);
    // The slab fast path proper: kmem_cache_alloc/free on a cache, no size
    // lookup and no address-to-cache lookup (Linux: kmem_cache_alloc/free).
    let cache =
        crate::mm::slab::kmem_cache_create("bench-64", 64, 0, pagoda_mm::slab::SlabFlags::empty(), None)
            .unwrap();
    let fast = time(ROUNDTRIPS, || {
        for _ in 0..ROUNDTRIPS {
            let p = cache.alloc(Gfp::GFP_KERNEL).unwrap();
            cache.free(p);
        }
    });
    let ll_rt = roundtrip_64(&mut ll);
    let bsa_rt = roundtrip_64(&mut bsa);
    let ours_live = live_mixed(&mut Ours, &mut slots);
    let ll_live = live_mixed(&mut ll, &mut slots);
    let bsa_live = live_mixed(&mut bsa, &mut slots);
    report("kmalloc64_roundtrip", ours_rt, "linked_list", ll_rt);
    report("kmalloc64_roundtrip", ours_rt, "bsa_heap", bsa_rt);
    report("kmalloc_10k_live_mixed", ours_live, "linked_list", ll_live);
    report("kmalloc_10k_live_mixed", ours_live, "bsa_heap", bsa_live);
    report("slab_fastpath_vs_page", fast, "ours_pcp_page", pcp_roundtrip);
    report("kmalloc_vs_kmem_cache", ours_rt, "kmem_cache_fastpath", fast);
    cache.shrink();
    // SAFETY: the bench cache is not used again.
    let _ = unsafe { crate::mm::slab::kmem_cache_destroy(cache) };
    drop(slots);
    crate::mm::vmalloc::vfree(ll_mem);
    crate::mm::vmalloc::vfree(bsa_mem);
}

pub fn run_all() {
    kprintln!("bench: page allocator, {} MiB range, counter {} Hz", RANGE_PAGES >> 8, counter_freq());
    let Some((start, extra)) = take_contiguous_range() else {
        kprintln!("bench: could not find 64 MiB of contiguous memory; skipped");
        return;
    };
    for b in extra {
        __free_pages(b, RANGE_ORDER);
    }
    // The private struct page array: 16384 x 64 bytes = 1 MiB, an order-8 block.
    let map_order = 8;
    let Ok(map_pfn) = alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, map_order) else {
        kprintln!("bench: no memory for the private mem_map; skipped");
        return;
    };
    // SAFETY: our own 1 MiB block; every element is written before use.
    let map_pages = unsafe {
        let p = page_address(map_pfn) as *mut Page;
        for i in 0..RANGE_PAGES {
            p.add(i).write(Page::new_reserved(0, 1, MigrateType::Movable as u8));
        }
        core::slice::from_raw_parts_mut(p, RANGE_PAGES)
    };
    let zone = private_zone(start, map_pages);
    let mt = MigrateType::Unmovable;

    let frames = LockedFrameAllocator::<33>::new();
    frames.lock().add_frame(start, start + RANGE_PAGES);
    let heap = LockedHeap::<33>::new();
    // SAFETY: the range is ours and mapped by the linear map; the Heap keeps
    // its free lists inside it. It is used only here.
    unsafe { heap.lock().add_to_heap(page_address(start), page_address(start + RANGE_PAGES)) };
    let layout = |order: usize| Layout::from_size_align(4096 << order, 4096 << order).unwrap();
    let heap_alloc = |order: usize| heap.lock().alloc(layout(order)).ok().map(|p| p.as_ptr() as usize);
    let heap_free = |va: usize, order: usize| {
        // SAFETY: `va` came from heap_alloc with the same order.
        unsafe { heap.lock().dealloc(core::ptr::NonNull::new(va as *mut u8).unwrap(), layout(order)) }
    };

    // Warm up every allocator's lists once.
    let _ = (
        zone.rmqueue_pcplist(0, 0, mt).map(|p| zone.free_pcp(0, p, 0)),
        heap_alloc(0).map(|v| heap_free(v, 0)),
    );

    let pcp = time(ROUNDTRIPS, || {
        for _ in 0..ROUNDTRIPS {
            let p = zone.rmqueue_pcplist(0, 0, mt).unwrap();
            zone.free_pcp(0, p, 0);
        }
    });
    let buddy = time(ROUNDTRIPS, || {
        for _ in 0..ROUNDTRIPS {
            let p = zone.rmqueue_buddy(0, mt).unwrap();
            zone.free_one_page(p, 0);
        }
    });
    let ours_mixed = time(MIXED_OPS, || {
        mixed(
            |o| {
                if o <= PAGE_ALLOC_COSTLY_ORDER {
                    zone.rmqueue_pcplist(0, o, mt)
                } else {
                    zone.rmqueue_buddy(o, mt)
                }
            },
            |p, o| {
                if o <= PAGE_ALLOC_COSTLY_ORDER {
                    zone.free_pcp(0, p, o)
                } else {
                    zone.free_one_page(p, o)
                }
            },
        )
    });
    zone.drain_pages(0);
    let buddy_mixed =
        time(MIXED_OPS, || mixed(|o| zone.rmqueue_buddy(o, mt), |p, o| zone.free_one_page(p, o)));
    let frame_rt = time(ROUNDTRIPS, || {
        for _ in 0..ROUNDTRIPS {
            let p = frames.lock().alloc(1).unwrap();
            frames.lock().dealloc(p, 1);
        }
    });
    let frame_mixed =
        time(MIXED_OPS, || mixed(|o| frames.lock().alloc(1 << o), |p, o| frames.lock().dealloc(p, 1 << o)));
    let heap_rt = time(ROUNDTRIPS, || {
        for _ in 0..ROUNDTRIPS {
            let v = heap_alloc(0).unwrap();
            heap_free(v, 0);
        }
    });
    let heap_mixed = time(MIXED_OPS, || mixed(heap_alloc, heap_free));
    // The full kernel API on the real allocator: GFP, zonelist, watermark, pcp.
    let api = time(ROUNDTRIPS, || {
        for _ in 0..ROUNDTRIPS {
            let p = alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
            __free_pages(p, 0);
        }
    });

    report("order0_pcp_roundtrip", pcp, "bsa_frame", frame_rt);
    report("order0_pcp_roundtrip", pcp, "bsa_heap", heap_rt);
    report("order0_buddy_roundtrip", buddy, "bsa_frame", frame_rt);
    report("order0_buddy_roundtrip", buddy, "bsa_heap", heap_rt);
    report("mixed_random_orders", ours_mixed, "bsa_frame", frame_mixed);
    report("mixed_random_orders", ours_mixed, "bsa_heap", heap_mixed);
    report("mixed_random_orders_buddy_only", buddy_mixed, "bsa_frame", frame_mixed);
    report("mixed_random_orders_buddy_only", buddy_mixed, "bsa_heap", heap_mixed);
    report("pcp_vs_own_buddy", pcp, "ours_buddy", buddy);
    report("alloc_pages_api_roundtrip", api, "ours_pcp_direct", pcp);
    run_slab(pcp);

    // The private zone must have every page back: the benchmark is also a check.
    let free = zone.check_free_lists();
    kprintln!("bench: private zone free pages after the run: {free:?} of {RANGE_PAGES}");
    // The private zone is done with; its mem_map and range go back.
    __free_pages(map_pfn, map_order);
    for b in 0..RANGE_BLOCKS {
        __free_pages(start + (b << RANGE_ORDER), RANGE_ORDER);
    }
}

/// Per-CPU scaling: the same round trips on 1 CPU and on every CPU at once
/// (pcp pages through alloc_pages, and kmalloc-64). Runs without -icount
/// (which serialises the CPUs), so figures vary a little run to run.
pub mod smp {
    use super::*;
    use crate::sched::{kthread_join, kthread_run};
    use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};

    const OPS: usize = 200_000;
    static GO: AtomicBool = AtomicBool::new(false);
    static READY: AtomicUsize = AtomicUsize::new(0);
    static KIND: AtomicUsize = AtomicUsize::new(0);

    fn worker(_: usize) {
        READY.fetch_add(1, AcqRel);
        while !GO.load(Acquire) {
            // The runner may share this CPU (PREEMPT_NONE): let it run.
            crate::sched::cond_resched();
            core::hint::spin_loop();
        }
        if KIND.load(Relaxed) == 0 {
            for _ in 0..OPS {
                let p = alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
                __free_pages(p, 0);
            }
        } else {
            for _ in 0..OPS {
                let p = crate::mm::slab::kmalloc(64, Gfp::GFP_KERNEL).unwrap();
                crate::mm::slab::kfree(p);
            }
        }
    }

    /// Aggregate ns per operation with `n` CPUs working at once.
    fn run(n: usize, kind: usize) -> u64 {
        KIND.store(kind, Relaxed);
        GO.store(false, Release);
        READY.store(0, Release);
        let threads: Vec<_> = (0..n).map(|c| kthread_run("bench", worker, 0, Some(c)).unwrap()).collect();
        while READY.load(Acquire) < n.saturating_sub(1) {
            crate::kernel::timer::msleep(1); // let the workers on other CPUs get ready
        }
        let t0 = counter();
        GO.store(true, Release);
        for t in threads {
            kthread_join(t);
        }
        ns_per_op(counter() - t0, n * OPS)
    }

    pub fn run_all() {
        let n = crate::kernel::percpu::num_online_cpus();
        kprintln!("bench: per-CPU scaling on {n} CPUs (no -icount; QEMU runs one host thread per vCPU)");
        for (kind, name) in [(0, "pcp_roundtrip"), (1, "kmalloc64_roundtrip")] {
            let one = run(1, kind);
            let all = run(n, kind);
            kprintln!(
                "bench: {name}_{n}cpu ours={} ns/op 1cpu={} ns/op speedup={}.{:02}",
                Fixed(all),
                Fixed(one),
                one * 100 / all.max(1) / 100,
                one * 100 / all.max(1) % 100
            );
        }
    }
}
