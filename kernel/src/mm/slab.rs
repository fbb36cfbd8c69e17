//! The kernel's slab instance: kmalloc caches, the cache registry,
//! /proc/slabinfo, and the Rust global allocator (Linux: mm/slab.c
//! kmem_cache_init, mm/slab_common.c). The algorithms are pagoda_mm::slab.
//!
//! # The allocator handover
//!
//! Rust's `GlobalAlloc` starts on the early heap (linked_list_allocator in
//! .bss). `kmem_cache_init` builds the kmalloc caches, and from then on new
//! allocations are served by kmalloc. A free is routed by address: a
//! pointer inside the early heap goes back to the early heap, anything else
//! to kfree. So a block allocated before the handover and freed after it
//! returns to the allocator it came from (`EARLY_FREES_AFTER_HANDOVER`
//! counts them), and kfree never sees an early-heap address.

use super::early_heap;
use super::mm_init::mem_map;
use super::page_alloc::{__free_pages, alloc_pages, page_address, pfn_to_page, virt_to_pfn};
use crate::arch::mm::layout::is_linear_map_address;
use crate::{kprintln, monitor_cmd};
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use log::info;
use pagoda_mm::gfp::Gfp;
use pagoda_mm::page::PageFlags;
use pagoda_mm::slab::kmalloc::{Kmalloc, LargeKmalloc};
use pagoda_mm::slab::{KmemCache, SlabBackend, SlabError, SlabFlags, SlabOwner};
use pagoda_mm::vmstat::NodeStatItem;
use spin::{Mutex, Once};

/// The slab allocator's view of the machine: pages from alloc_pages,
/// PG_slab and the owner in struct page (page->slab_cache, page->slab).
pub struct KernelSlabBackend;

fn slab_pfn(va: usize) -> Option<usize> {
    if !is_linear_map_address(va) {
        return None;
    }
    let pfn = virt_to_pfn(va);
    mem_map().contains(pfn).then_some(pfn)
}

impl SlabBackend for KernelSlabBackend {
    fn alloc_slab_pages(&self, order: usize, gfp: Gfp, _nid: usize) -> Option<usize> {
        alloc_pages(gfp - Gfp::__GFP_ZERO, order).ok().map(page_address)
    }
    fn free_slab_pages(&self, va: usize, order: usize) {
        __free_pages(virt_to_pfn(va), order);
    }
    fn set_slab_owner(&self, va: usize, order: usize, owner: Option<SlabOwner>) {
        let pfn = virt_to_pfn(va);
        for p in pfn..pfn + (1 << order) {
            // The slab's pages are owned by the slab allocator: __SetPageSlab.
            let page = mem_map().page(p);
            match owner {
                Some(o) => {
                    page.set_mapping(o.cache as u64);
                    page.set_private(o.slab as u64);
                    page.__set_bit(PageFlags::SLAB);
                }
                None => {
                    page.__clear_bit(PageFlags::SLAB);
                    page.set_mapping(0);
                    page.set_private(0);
                }
            }
        }
    }
    fn slab_owner(&self, va: usize) -> Option<SlabOwner> {
        let page = pfn_to_page(slab_pfn(va)?);
        page.test(PageFlags::SLAB)
            .then_some(SlabOwner { cache: page.mapping() as usize, slab: page.private() as usize })
    }
    fn page_nid(&self, va: usize) -> usize {
        slab_pfn(va).map_or(0, |p| pfn_to_page(p).nid())
    }
    fn this_cpu(&self) -> usize {
        crate::kernel::percpu::smp_processor_id()
    }
    fn this_node(&self) -> usize {
        crate::kernel::percpu::numa_node_id()
    }
    fn account_slab_pages(&self, nid: usize, reclaimable: bool, pages: isize) {
        if let Some(node) = super::page_alloc::page_allocator().node(nid) {
            let item = if reclaimable {
                NodeStatItem::NrSlabReclaimableB
            } else {
                NodeStatItem::NrSlabUnreclaimableB
            };
            node.vm_stat.add(item as usize, pages * 4096);
        }
    }
    fn report(&self, msg: core::fmt::Arguments) {
        log::error!("{msg}");
    }
}

impl LargeKmalloc for KernelSlabBackend {
    fn set_large_order(&self, va: usize, order: Option<usize>) {
        // The block belongs to kmalloc.
        let page = mem_map().page(virt_to_pfn(va));
        match order {
            Some(o) => {
                page.set_private(o as u64);
                page.__set_bit(PageFlags::HEAD);
            }
            None => {
                page.__clear_bit(PageFlags::HEAD);
                page.set_private(0);
            }
        }
    }
    fn large_order(&self, va: usize) -> Option<usize> {
        let page = pfn_to_page(slab_pfn(va)?);
        (page.test(PageFlags::HEAD) && !page.test(PageFlags::SLAB)).then_some(page.private() as usize)
    }
}

static BACKEND: KernelSlabBackend = KernelSlabBackend;
static KMALLOC: Once<Kmalloc> = Once::new();
static SLAB_READY: AtomicBool = AtomicBool::new(false);

/// Every cache, for slabinfo and cache_reap (Linux: slab_caches).
static CACHES: Mutex<[Option<&'static KmemCache>; 64]> = Mutex::new([None; 64]);

fn register(c: &'static KmemCache) {
    let mut caches = CACHES.lock();
    match caches.iter_mut().find(|s| s.is_none()) {
        Some(slot) => *slot = Some(c),
        None => log::warn!("slab: cache registry full; {} not listed in slabinfo", c.name),
    }
}

/// All registered caches.
pub fn caches() -> impl Iterator<Item = &'static KmemCache> {
    let snapshot = *CACHES.lock();
    snapshot.into_iter().flatten()
}

/// Builds the kmalloc caches and hands GlobalAlloc over to them
/// (Linux: kmem_cache_init). `slab_debug` (or `slub_debug`) on the command
/// line turns on red zones and poisoning for them.
pub fn kmem_cache_init(cmdline: &str) {
    use pagoda_klib::cmdline::has;
    let debug = if has(cmdline, "slab_debug") || has(cmdline, "slub_debug") {
        info!("slab: debugging on: red zones and poisoning in every kmalloc cache");
        SlabFlags::DEBUG
    } else {
        SlabFlags::empty()
    };
    let k = match Kmalloc::create(&BACKEND, &BACKEND, debug) {
        Ok(k) => k,
        Err(e) => panic!("kmem_cache_init: cannot create the kmalloc caches: {e:?}"),
    };
    for c in k.caches {
        register(c);
        info!(
            "kmem_cache_create: {:<12} object {:>5} stride {:>5} align {:>4}: {:>3} per slab, order {}, {}, {} colours",
            c.name,
            c.object_size,
            c.size,
            c.align,
            c.num,
            c.gfporder,
            if c.off_slab { "off-slab" } else { "on-slab" },
            c.colour
        );
    }
    KMALLOC.call_once(|| k);
    SLAB_READY.store(true, Relaxed);
    let (used, _) = early_heap::usage();
    info!("slab: GlobalAlloc handed over from the early heap ({used} bytes in use there) to kmalloc");
}

fn kmalloc_caches() -> &'static Kmalloc {
    KMALLOC.get().expect("kmalloc used before kmem_cache_init")
}

pub fn slab_is_available() -> bool {
    SLAB_READY.load(Relaxed)
}

/// Linux: kmalloc. None on failure.
pub fn kmalloc(size: usize, gfp: Gfp) -> Option<*mut u8> {
    kmalloc_caches().kmalloc(size, gfp)
}
/// Linux: kzalloc.
pub fn kzalloc(size: usize, gfp: Gfp) -> Option<*mut u8> {
    kmalloc_caches().kzalloc(size, gfp)
}
/// Linux: kcalloc.
pub fn kcalloc(n: usize, size: usize, gfp: Gfp) -> Option<*mut u8> {
    kmalloc_caches().kcalloc(n, size, gfp)
}
/// Linux: krealloc.
///
/// # Safety
/// `p` is null or a live kmalloc block.
pub unsafe fn krealloc(p: *mut u8, size: usize, gfp: Gfp) -> Option<*mut u8> {
    // SAFETY: per the contract.
    unsafe { kmalloc_caches().krealloc(p, size, gfp) }
}
/// Linux: kfree.
pub fn kfree(p: *mut u8) {
    kmalloc_caches().kfree(p)
}
/// Linux: ksize.
pub fn ksize(p: *const u8) -> usize {
    kmalloc_caches().ksize(p)
}

/// Linux: kmem_cache_create.
pub fn kmem_cache_create(
    name: &'static str,
    size: usize,
    align: usize,
    flags: SlabFlags,
    ctor: Option<fn(*mut u8)>,
) -> Result<&'static KmemCache, SlabError> {
    // Off-slab descriptors come from the kmalloc cache that fits the largest
    // descriptor (kmalloc-1k).
    const OFF_SLAB_MGMT_MAX: usize = 1024;
    let index =
        pagoda_mm::slab::kmalloc::kmalloc_index(OFF_SLAB_MGMT_MAX).expect("a kmalloc cache fits 1 KiB");
    let mgmt = KMALLOC.get().map(|k| k.caches[index]);
    let c = KmemCache::create(name, size, align, flags, ctor, &BACKEND, mgmt)?;
    register(c);
    Ok(c)
}

/// Linux: kmem_cache_destroy. Refused (and reported) while objects are live.
///
/// # Safety
/// The cache is not used after a successful destroy.
pub unsafe fn kmem_cache_destroy(c: &'static KmemCache) -> Result<(), SlabError> {
    // SAFETY: per the contract.
    unsafe { c.destroy() }?;
    let mut caches = CACHES.lock();
    for slot in caches.iter_mut() {
        if slot.is_some_and(|s| core::ptr::eq(s, c)) {
            *slot = None;
        }
    }
    Ok(())
}

/// Shrinks every cache, biggest objects first: destroying an off-slab
/// slab frees its descriptor into a smaller cache, which is shrunk after
/// it. Returns pages freed (Linux: the slab part of drop_caches / shrink_slab).
pub fn shrink_all() -> usize {
    let mut all: alloc::vec::Vec<&'static KmemCache> = caches().collect();
    all.sort_unstable_by_key(|c| core::cmp::Reverse(c.size));
    all.iter().map(|c| c.shrink()).sum()
}

/// One cache_reap pass over every cache (Linux runs it every 2 s from a
/// workqueue; Pagoda calls it on demand until timers exist, and reclaim
/// will call it). Returns pages freed.
pub fn cache_reap() -> usize {
    caches().map(|c| c.reap()).sum()
}

/// (reclaimable, unreclaimable) slab bytes.
pub fn slab_bytes() -> (usize, usize) {
    let pa = super::page_alloc::page_allocator();
    let sum =
        |item: NodeStatItem| pa.online_nodes().map(|n| n.vm_stat.get(item as usize).max(0) as usize).sum();
    (sum(NodeStatItem::NrSlabReclaimableB), sum(NodeStatItem::NrSlabUnreclaimableB))
}

/// /proc/slabinfo.
pub fn show_slabinfo() {
    kprintln!("slabinfo - version: 2.1");
    kprintln!("# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>");
    for c in caches() {
        let i = c.info();
        kprintln!(
            "{:<17} {:6} {:6} {:6} {:4} {:4} : tunables {:4} {:4} {:4} : slabdata {:6} {:6} {:6}",
            c.name,
            i.active_objs,
            i.num_objs,
            c.size,
            c.num,
            1 << c.gfporder,
            c.limit,
            c.batchcount,
            0,
            i.active_slabs,
            i.num_slabs,
            0
        );
    }
}

fn cmd_slabinfo(_: &str) {
    show_slabinfo();
}

fn cmd_slabreap(args: &str) {
    let pages = if args == "shrink" { shrink_all() } else { cache_reap() };
    kprintln!("slab: {} pages returned to the page allocator", pages);
}

monitor_cmd!(MON_SLABINFO, "slabinfo", "slab caches (/proc/slabinfo)", cmd_slabinfo);
monitor_cmd!(
    MON_SLABREAP,
    "slabreap",
    "run cache_reap once ('slabreap shrink': shrink every cache)",
    cmd_slabreap
);

/// Rust's global allocator: the early heap until kmem_cache_init, kmalloc after.
struct KernelAllocator;

/// Early-heap blocks freed after the handover (they go back to the early heap).
pub static EARLY_FREES_AFTER_HANDOVER: AtomicUsize = AtomicUsize::new(0);

// SAFETY: both underlying allocators return blocks of at least the layout's
// size and alignment, and frees go back to the allocator that made the block.
/// Rust's collections carry no GFP flags, so the global allocator chooses:
/// GFP_KERNEL where the caller may sleep, GFP_ATOMIC where it may not
/// (holding a spin lock, interrupts masked, in an interrupt). Kernel code
/// that calls kmalloc or alloc_pages itself passes its own flags, and
/// might_sleep() reports a blocking request made in atomic context.
fn rust_alloc_gfp() -> Gfp {
    if crate::sync::in_atomic() || crate::arch::irqflags::irqs_disabled() {
        Gfp::GFP_ATOMIC | Gfp::__GFP_NOWARN
    } else {
        Gfp::GFP_KERNEL
    }
}

// SAFETY: alloc returns memory of at least `layout` from kmalloc or the
// early heap, and dealloc routes each block back to where it came from.
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if slab_is_available() {
            kmalloc_caches()
                .kmalloc_aligned(layout.size(), layout.align(), rust_alloc_gfp())
                .unwrap_or(core::ptr::null_mut())
        } else {
            // SAFETY: forwarded with the caller's layout.
            unsafe { early_heap::alloc(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if early_heap::contains(ptr as usize) {
            if slab_is_available() {
                EARLY_FREES_AFTER_HANDOVER.fetch_add(1, Relaxed);
            }
            // SAFETY: the block came from the early heap with this layout.
            unsafe { early_heap::dealloc(ptr, layout) };
        } else {
            kfree(ptr);
        }
    }
}

#[global_allocator]
static GLOBAL: KernelAllocator = KernelAllocator;

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use crate::mm::page_alloc::mem_free_pages;
    use alloc::boxed::Box;
    use pagoda_mm::slab::kmalloc::KMALLOC_SIZES;

    #[ktest]
    fn kmalloc_every_class_and_its_boundaries() {
        for (i, &size) in KMALLOC_SIZES.iter().enumerate() {
            let lowest = if i == 0 { 1 } else { KMALLOC_SIZES[i - 1] + 1 };
            for s in [lowest, size] {
                let p = kmalloc(s, Gfp::GFP_KERNEL).unwrap();
                assert_eq!(ksize(p), size, "kmalloc({s}) should use kmalloc-{size}");
                let owner = BACKEND.slab_owner(p as usize).expect("not a slab page");
                assert!(pfn_to_page(virt_to_pfn(p as usize)).test(PageFlags::SLAB));
                // SAFETY: owner records point at live caches.
                assert_eq!(unsafe { (*(owner.cache as *const KmemCache)).object_size }, size);
                // SAFETY: ours, `s` bytes.
                unsafe { core::ptr::write_bytes(p, 0x33, s) };
                kfree(p);
            }
        }
    }

    #[ktest]
    fn large_kmalloc_comes_from_the_page_allocator() {
        let before = mem_free_pages();
        let p = kmalloc(40_000, Gfp::GFP_KERNEL).unwrap();
        assert_eq!(p as usize % 4096, 0);
        assert_eq!(ksize(p), 64 * 1024);
        let page = pfn_to_page(virt_to_pfn(p as usize));
        assert!(!page.test(PageFlags::SLAB) && page.test(PageFlags::HEAD));
        assert!(before - mem_free_pages() >= 16, "16 pages should have left the free lists");
        kfree(p);
        assert_eq!(mem_free_pages(), before);
    }

    #[ktest]
    fn global_alloc_is_kmalloc_after_the_handover() {
        let b = Box::new([7u8; 100]);
        let p = &*b as *const [u8; 100] as *const u8;
        assert_eq!(ksize(p), 128);
        assert!(BACKEND.slab_owner(p as usize).is_some());
        let v: alloc::vec::Vec<u64> = (0..5000).collect();
        assert_eq!(ksize(v.as_ptr() as *const u8), 64 * 1024, "40000 bytes: a large kmalloc");
        assert_eq!(v.iter().sum::<u64>(), 4999 * 5000 / 2);
    }

    #[ktest]
    fn early_heap_blocks_go_back_to_the_early_heap() {
        let layout = Layout::from_size_align(256, 8).unwrap();
        // SAFETY: freed below through GlobalAlloc with the same layout.
        let p = unsafe { early_heap::alloc(layout) };
        assert!(early_heap::contains(p as usize));
        let (used, _) = early_heap::usage();
        let frees = EARLY_FREES_AFTER_HANDOVER.load(Relaxed);
        // SAFETY: a block of the early heap, freed through the global allocator.
        unsafe { alloc::alloc::dealloc(p, layout) };
        assert_eq!(EARLY_FREES_AFTER_HANDOVER.load(Relaxed), frees + 1);
        assert!(early_heap::usage().0 < used, "the block went somewhere else");
    }

    static CTOR_RUNS: AtomicUsize = AtomicUsize::new(0);
    fn ctor(p: *mut u8) {
        CTOR_RUNS.fetch_add(1, Relaxed);
        // SAFETY: the slab allocator passes an object of at least 32 bytes.
        unsafe { core::ptr::write_bytes(p, 0xc7, 32) };
    }

    #[ktest]
    fn kmem_cache_lifecycle_with_ctor_shrink_and_destroy() {
        let c = kmem_cache_create("ktest-obj", 32, 0, SlabFlags::HWCACHE_ALIGN, Some(ctor)).unwrap();
        assert!(caches().any(|x| core::ptr::eq(x, c)));
        let objs: alloc::vec::Vec<*mut u8> = (0..500).map(|_| c.alloc(Gfp::GFP_KERNEL).unwrap()).collect();
        assert!(CTOR_RUNS.load(Relaxed) >= 500, "constructor not run for new objects");
        // SAFETY: a constructed object.
        assert_eq!(unsafe { objs[0].read() }, 0xc7);
        let info = c.info();
        assert!(info.num_objs >= 500 && info.num_slabs >= 500 / c.num);
        // SAFETY: not destroyed yet.
        assert_eq!(unsafe { kmem_cache_destroy(c) }, Err(SlabError::Busy), "destroy with live objects");
        for o in objs {
            c.free(o);
        }
        assert!(c.shrink() > 0);
        assert_eq!(c.info().num_slabs, 0);
        c.check().unwrap();
        // SAFETY: nothing uses the cache afterwards.
        unsafe { kmem_cache_destroy(c) }.unwrap();
        assert!(!caches().any(|x| core::ptr::eq(x, c)));
    }

    #[ktest]
    fn double_free_and_overrun_are_detected_with_debugging() {
        let c = kmem_cache_create("ktest-debug", 64, 0, SlabFlags::DEBUG, None).unwrap();
        let p = c.alloc(Gfp::GFP_KERNEL).unwrap();
        c.free(p);
        c.free(p);
        assert_eq!(c.errors.load(Relaxed), 1, "double free not detected");
        let q = c.alloc(Gfp::GFP_KERNEL).unwrap();
        // SAFETY: deliberately writes just past the object, into red zone 2.
        unsafe { q.add(64).write(0x41) };
        c.free(q);
        assert_eq!(c.errors.load(Relaxed), 2, "overrun not detected");
        c.check().unwrap();
        // SAFETY: nothing uses the cache afterwards.
        unsafe { kmem_cache_destroy(c) }.unwrap();
    }

    #[ktest]
    fn kzalloc_kcalloc_krealloc() {
        let p = kmalloc(200, Gfp::GFP_KERNEL).unwrap();
        // SAFETY: ours.
        unsafe { core::ptr::write_bytes(p, 0xff, 200) };
        kfree(p);
        let z = kzalloc(200, Gfp::GFP_KERNEL).unwrap();
        // SAFETY: ours, 200 bytes.
        assert!(unsafe { core::slice::from_raw_parts(z, 200) }.iter().all(|&b| b == 0));
        assert!(kcalloc(1 << 62, 8, Gfp::GFP_KERNEL).is_none());
        let c = kcalloc(10, 30, Gfp::GFP_KERNEL).unwrap();
        assert_eq!(ksize(c), 512);
        // SAFETY: z is a live kmalloc block; its first bytes survive the move.
        unsafe { z.write(9) };
        // SAFETY: z is a live kmalloc block, not used again after the move.
        let r = unsafe { krealloc(z, 3000, Gfp::GFP_KERNEL) }.unwrap();
        assert_eq!(ksize(r), 4096);
        // SAFETY: ours.
        assert_eq!(unsafe { r.read() }, 9);
        kfree(r);
        kfree(c);
    }

    #[ktest]
    fn kfree_of_a_non_kmalloc_address_is_refused() {
        let stack_var = 0u64;
        kfree(&stack_var as *const u64 as *mut u8);
        let pfn = crate::mm::page_alloc::alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
        kfree(page_address(pfn) as *mut u8); // a plain page, not from kmalloc
        assert_eq!(pfn_to_page(pfn).page_ref_count(), 1, "kfree must not have freed it");
        __free_pages(pfn, 0);
    }

    #[ktest]
    fn meminfo_slab_counts_follow_slab_pages() {
        let (r0, _) = slab_bytes();
        let c = kmem_cache_create("ktest-acct", 2000, 0, SlabFlags::RECLAIM_ACCOUNT, None).unwrap();
        let objs: alloc::vec::Vec<*mut u8> = (0..20).map(|_| c.alloc(Gfp::GFP_KERNEL).unwrap()).collect();
        // Other CPUs (kswapd, the reaper) may shrink unreclaimable caches
        // meanwhile; only our reclaimable cache is checked.
        let (r1, _) = slab_bytes();
        assert!(r1 >= r0 + 10 * 4096, "SReclaimable did not grow");
        for o in objs {
            c.free(o);
        }
        // SAFETY: nothing uses the cache afterwards.
        unsafe { kmem_cache_destroy(c) }.unwrap();
        assert_eq!(slab_bytes().0, r0);
    }
}
