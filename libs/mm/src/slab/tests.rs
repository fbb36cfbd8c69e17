//! Host tests of the slab allocator and kmalloc over real host memory.

use super::kmalloc::*;
use super::*;
use pagoda_klib::rand::XorShift64;
use std::collections::BTreeMap;
use std::string::String;
use std::sync::Mutex as StdMutex;
use std::vec::Vec;

/// Pages from std's allocator; a map stands in for struct page.
#[derive(Default)]
struct HostBackend {
    owners: StdMutex<BTreeMap<usize, SlabOwner>>,
    large: StdMutex<BTreeMap<usize, usize>>,
    live_pages: StdMutex<BTreeMap<usize, usize>>,
    reports: StdMutex<Vec<String>>,
}

impl HostBackend {
    fn leak() -> &'static HostBackend {
        Box::leak(Box::default())
    }
    fn pages_in_use(&self) -> usize {
        self.live_pages.lock().unwrap().values().map(|o| 1 << o).sum()
    }
    fn reports(&self) -> Vec<String> {
        self.reports.lock().unwrap().clone()
    }
}

impl SlabBackend for HostBackend {
    fn alloc_slab_pages(&self, order: usize, _gfp: Gfp, _nid: usize) -> Option<usize> {
        let layout = std::alloc::Layout::from_size_align(PAGE_SIZE << order, PAGE_SIZE << order).unwrap();
        // SAFETY: non-zero size.
        let p = unsafe { std::alloc::alloc(layout) } as usize;
        self.live_pages.lock().unwrap().insert(p, order);
        Some(p)
    }
    fn free_slab_pages(&self, va: usize, order: usize) {
        assert_eq!(self.live_pages.lock().unwrap().remove(&va), Some(order), "freeing pages not allocated");
        let layout = std::alloc::Layout::from_size_align(PAGE_SIZE << order, PAGE_SIZE << order).unwrap();
        // SAFETY: allocated above with this layout.
        unsafe { std::alloc::dealloc(va as *mut u8, layout) };
    }
    fn set_slab_owner(&self, va: usize, order: usize, owner: Option<SlabOwner>) {
        let mut m = self.owners.lock().unwrap();
        for p in (va..va + (PAGE_SIZE << order)).step_by(PAGE_SIZE) {
            match owner {
                Some(o) => m.insert(p, o),
                None => m.remove(&p),
            };
        }
    }
    fn slab_owner(&self, va: usize) -> Option<SlabOwner> {
        self.owners.lock().unwrap().get(&(va & !(PAGE_SIZE - 1))).copied()
    }
    fn page_nid(&self, _va: usize) -> usize {
        0
    }
    fn this_cpu(&self) -> usize {
        0
    }
    fn this_node(&self) -> usize {
        0
    }
    fn report(&self, msg: core::fmt::Arguments) {
        self.reports.lock().unwrap().push(std::format!("{msg}"));
    }
}

impl LargeKmalloc for HostBackend {
    fn set_large_order(&self, va: usize, order: Option<usize>) {
        match order {
            Some(o) => self.large.lock().unwrap().insert(va, o),
            None => self.large.lock().unwrap().remove(&va),
        };
    }
    fn large_order(&self, va: usize) -> Option<usize> {
        self.large.lock().unwrap().get(&va).copied()
    }
}

fn cache(
    b: &'static HostBackend,
    name: &'static str,
    size: usize,
    align: usize,
    flags: SlabFlags,
) -> &'static KmemCache {
    KmemCache::create(name, size, align, flags, None, b, None).unwrap()
}

#[test]
fn geometry_matches_the_classic_slab_layout() {
    let b = HostBackend::leak();
    let c = cache(b, "t-64", 64, 0, SlabFlags::empty());
    assert_eq!((c.size, c.gfporder), (64, 0));
    assert!(c.num >= 60 && c.num <= 63, "num {}", c.num);
    assert!(!c.off_slab);
    assert_eq!(c.limit, 120);
    assert_eq!(c.batchcount, 60);
    let hw = cache(b, "t-hw", 20, 0, SlabFlags::HWCACHE_ALIGN);
    assert_eq!(hw.align, 32, "a 20-byte object gets half a cache line");
    assert_eq!(hw.size, 32);
    assert!(KmemCache::create("bad", 0, 0, SlabFlags::empty(), None, b, None).is_err());
    assert!(KmemCache::create("bad", 8, 3, SlabFlags::empty(), None, b, None).is_err());
}

#[test]
fn randomized_alloc_free_across_caches_never_overlaps_and_respects_alignment() {
    let b = HostBackend::leak();
    let caches = [
        cache(b, "r-8", 8, 0, SlabFlags::empty()),
        cache(b, "r-24", 24, 8, SlabFlags::empty()),
        cache(b, "r-100", 100, 64, SlabFlags::HWCACHE_ALIGN),
        cache(b, "r-700", 700, 16, SlabFlags::empty()),
        cache(b, "r-3000", 3000, 8, SlabFlags::empty()),
        cache(b, "r-dbg", 40, 8, SlabFlags::DEBUG),
    ];
    let mut rng = XorShift64::new(7);
    let mut live: Vec<(usize, usize)> = Vec::new(); // (ptr, cache index)
    let mut spans: BTreeMap<usize, usize> = BTreeMap::new(); // start -> end
    for step in 0..40_000 {
        if live.is_empty() || rng.below(100) < 55 {
            let ci = rng.below(caches.len());
            let c = caches[ci];
            let p = c.alloc(Gfp::GFP_KERNEL).unwrap() as usize;
            assert_eq!(p % c.align, 0, "{}: object {p:#x} misaligned", c.name);
            let end = p + c.object_size;
            if let Some((&s, &e)) = spans.range(..end).next_back() {
                assert!(e <= p || s >= end, "step {step}: {:#x}..{end:#x} overlaps {s:#x}..{e:#x}", p);
            }
            spans.insert(p, end);
            // SAFETY: the object is ours; fill it to catch overlaps and red-zone hits.
            unsafe { core::ptr::write_bytes(p as *mut u8, ci as u8, c.object_size) };
            live.push((p, ci));
        } else {
            let (p, ci) = live.swap_remove(rng.below(live.len()));
            spans.remove(&p);
            // SAFETY: still ours.
            let bytes = unsafe { core::slice::from_raw_parts(p as *const u8, caches[ci].object_size) };
            assert!(bytes.iter().all(|&x| x == ci as u8), "object contents changed under us");
            caches[ci].free(p as *mut u8);
        }
        if step % 4999 == 0 {
            for c in caches {
                c.check().unwrap_or_else(|e| panic!("{}: {e}", c.name));
            }
        }
    }
    for (p, ci) in live.drain(..) {
        caches[ci].free(p as *mut u8);
    }
    assert!(b.reports().is_empty(), "{:?}", b.reports());
    for c in caches {
        c.shrink();
        c.check().unwrap();
        assert_eq!(c.info().num_slabs, 0, "{}: empty slabs kept after shrink", c.name);
        assert_eq!(c.allocs(), c.frees());
    }
}

#[test]
fn array_cache_refills_and_flushes_in_batches() {
    let b = HostBackend::leak();
    let c = cache(b, "ac-64", 64, 0, SlabFlags::empty());
    let first = c.alloc(Gfp::GFP_KERNEL).unwrap();
    // One refill moved `batchcount` objects to the array cache; one is out.
    assert_eq!(c.array_avail(0), c.batchcount - 1);
    assert_eq!(c.grown.load(core::sync::atomic::Ordering::Relaxed), 1);
    // LIFO: the object freed last is the next one handed out.
    c.free(first);
    assert_eq!(c.alloc(Gfp::GFP_KERNEL).unwrap(), first);
    // Fill the array cache to its limit, then one more free flushes a batch.
    let mut objs: Vec<*mut u8> = (0..c.limit + 1).map(|_| c.alloc(Gfp::GFP_KERNEL).unwrap()).collect();
    objs.push(first);
    let info_before = c.info();
    for &o in &objs[..c.limit] {
        c.free(o);
    }
    assert_eq!(c.array_avail(0), c.limit);
    c.free(objs[c.limit]);
    assert_eq!(c.array_avail(0), c.limit - c.batchcount + 1, "one batch went back to the slabs");
    assert!(c.info().active_objs < info_before.active_objs);
    c.free(objs[c.limit + 1]);
    c.check().unwrap();
}

#[test]
fn shrink_returns_empty_slabs_and_reap_trims_idle_caches() {
    let b = HostBackend::leak();
    let c = cache(b, "s-256", 256, 0, SlabFlags::empty());
    let objs: Vec<*mut u8> = (0..1000).map(|_| c.alloc(Gfp::GFP_KERNEL).unwrap()).collect();
    let pages_full = b.pages_in_use();
    for o in objs {
        c.free(o);
    }
    // Free slabs beyond free_limit went back already; shrink returns the rest.
    assert!(b.pages_in_use() < pages_full);
    let freed = c.shrink();
    assert!(freed > 0);
    assert_eq!(c.info().num_slabs, 0);
    assert_eq!(c.array_avail(0), 0);
    // Reap: an idle array cache gives back a fifth per pass.
    let objs: Vec<*mut u8> = (0..50).map(|_| c.alloc(Gfp::GFP_KERNEL).unwrap()).collect();
    for o in objs {
        c.free(o);
    }
    let before = c.array_avail(0);
    c.reap(); // clears `touched`
    assert_eq!(c.array_avail(0), before);
    c.reap(); // idle: trims
    assert!(c.array_avail(0) < before);
    c.check().unwrap();
}

#[test]
fn colouring_staggers_slabs() {
    let b = HostBackend::leak();
    let c = cache(b, "col-600", 600, 0, SlabFlags::empty());
    assert!(c.colour > 1, "expected left-over space for colours");
    // The first object of successive slabs starts at different offsets.
    let mut offsets = std::collections::BTreeSet::new();
    let mut all = Vec::new();
    for _ in 0..c.colour * c.num {
        let p = c.alloc(Gfp::GFP_KERNEL).unwrap() as usize;
        all.push(p);
    }
    for &p in &all {
        offsets.insert((p % PAGE_SIZE) % c.size);
    }
    assert!(offsets.len() >= 2, "all slabs start their objects at the same offset");
    for p in all {
        c.free(p as *mut u8);
    }
}

#[test]
fn debug_detects_double_free_overrun_and_use_after_free() {
    let b = HostBackend::leak();
    let c = cache(b, "dbg-64", 64, 0, SlabFlags::DEBUG);
    let p = c.alloc(Gfp::GFP_KERNEL).unwrap();
    c.free(p);
    c.free(p); // double free: reported and refused
    assert_eq!(c.errors.load(core::sync::atomic::Ordering::Relaxed), 1);
    assert!(b.reports()[0].contains("double free detected"), "{:?}", b.reports());
    assert!(b.reports()[0].contains("dbg-64"));
    c.check().unwrap();

    let q = c.alloc(Gfp::GFP_KERNEL).unwrap();
    // SAFETY: deliberately writes one byte past the object.
    unsafe { q.add(64).write(0) };
    c.free(q);
    assert!(b.reports()[1].contains("memory outside object was overwritten"), "{:?}", b.reports());

    // Use after free: write to a freed object; the next allocation of it notices.
    let r = c.alloc(Gfp::GFP_KERNEL).unwrap();
    c.free(r);
    // SAFETY: deliberately writes freed memory (it stays mapped in the slab).
    unsafe { r.add(10).write(0) };
    let again = c.alloc(Gfp::GFP_KERNEL).unwrap();
    assert_eq!(again, r, "LIFO should hand the same object back");
    assert!(b.reports()[2].contains("Slab corruption"), "{:?}", b.reports());
    assert!(b.reports()[2].contains("use after free"));
    c.free(again);
    // A pointer into the middle of an object is refused.
    let s = c.alloc(Gfp::GFP_KERNEL).unwrap();
    // SAFETY: computing a pointer, not dereferencing it.
    c.free(unsafe { s.add(8) });
    assert!(b.reports()[3].contains("is not an object of cache"));
    c.free(s);
}

#[test]
fn destroy_refuses_live_objects_then_succeeds() {
    let b = HostBackend::leak();
    let c = cache(b, "d-32", 32, 0, SlabFlags::empty());
    let p = c.alloc(Gfp::GFP_KERNEL).unwrap();
    // SAFETY: the cache is not used after a successful destroy.
    assert_eq!(unsafe { c.destroy() }, Err(SlabError::Busy));
    c.free(p);
    let before = b.pages_in_use();
    // SAFETY: as above.
    assert_eq!(unsafe { c.destroy() }, Ok(()));
    assert!(b.pages_in_use() < before);
}

#[test]
fn kmalloc_classes_boundaries_and_large_allocations() {
    let b = HostBackend::leak();
    let k = Kmalloc::create(b, b, SlabFlags::empty()).unwrap();
    assert_eq!(kmalloc_index(1), Some(0));
    assert_eq!(kmalloc_index(8), Some(0));
    assert_eq!(kmalloc_index(9), Some(1));
    assert_eq!(kmalloc_index(65), Some(4)); // 96
    assert_eq!(kmalloc_index(97), Some(5)); // 128
    assert_eq!(kmalloc_index(129), Some(6)); // 192
    assert_eq!(kmalloc_index(8192), Some(12));
    assert_eq!(kmalloc_index(8193), None);
    for size in 1..=KMALLOC_MAX_CACHE_SIZE {
        let i = kmalloc_index(size).unwrap();
        assert!(
            KMALLOC_SIZES[i] >= size && (i == 0 || KMALLOC_SIZES[i - 1] < size),
            "size {size} -> class {i}"
        );
    }
    for (i, &size) in KMALLOC_SIZES.iter().enumerate() {
        // Both edges of each class: one past the previous class, and the size itself.
        let lowest = if i == 0 { 1 } else { KMALLOC_SIZES[i - 1] + 1 };
        for s in [lowest, size] {
            let p = k.kmalloc(s, Gfp::GFP_KERNEL).unwrap();
            assert_eq!(k.ksize(p), size, "{s} bytes should come from kmalloc-{size}");
            if size.is_power_of_two() {
                assert_eq!(p as usize % size.min(PAGE_SIZE), 0, "kmalloc-{size} not naturally aligned");
            }
            k.kfree(p);
        }
    }
    let big = k.kmalloc(100_000, Gfp::GFP_KERNEL).unwrap();
    assert_eq!(k.ksize(big), 128 * 1024);
    assert!(b.slab_owner(big as usize).is_none(), "large kmalloc must come from the page allocator");
    k.kfree(big);
    assert_eq!(k.kmalloc(0, Gfp::GFP_KERNEL), Some(ZERO_SIZE_PTR));
    k.kfree(ZERO_SIZE_PTR);
    // Off-slab descriptors for the big caches.
    assert!(k.caches[12].off_slab && !k.caches[0].off_slab);
    assert!(b.reports().is_empty());
}

#[test]
fn kzalloc_kcalloc_krealloc_keep_their_promises() {
    let b = HostBackend::leak();
    let k = Kmalloc::create(b, b, SlabFlags::empty()).unwrap();
    let p = k.kmalloc(100, Gfp::GFP_KERNEL).unwrap();
    // SAFETY: ours.
    unsafe { core::ptr::write_bytes(p, 0xee, 100) };
    k.kfree(p);
    let z = k.kzalloc(100, Gfp::GFP_KERNEL).unwrap();
    // SAFETY: ours.
    assert!(unsafe { core::slice::from_raw_parts(z, 100) }.iter().all(|&x| x == 0));
    assert!(k.kcalloc(usize::MAX / 2, 4, Gfp::GFP_KERNEL).is_none(), "kcalloc overflow must fail");
    // SAFETY: ours.
    unsafe { z.write(42) };
    // SAFETY: z is a live kmalloc block.
    let r = unsafe { k.krealloc(z, 5000, Gfp::GFP_KERNEL) }.unwrap();
    assert_eq!(k.ksize(r), 8192);
    // SAFETY: ours; the first byte was copied.
    assert_eq!(unsafe { r.read() }, 42);
    // SAFETY: r is a live kmalloc block.
    let same = unsafe { k.krealloc(r, 10, Gfp::GFP_KERNEL) }.unwrap();
    assert_eq!(same, r, "shrinking keeps the block");
    k.kfree(same);
    let aligned = k.kmalloc_aligned(24, 64, Gfp::GFP_KERNEL).unwrap();
    assert_eq!(aligned as usize % 64, 0);
    k.kfree(aligned);
    k.kfree(0x1234_5000 as *mut u8);
    assert!(b.reports()[0].contains("not a kmalloc'ed address"));
}

#[test]
fn debug_kmalloc_keeps_alignment() {
    let b = HostBackend::leak();
    let k = Kmalloc::create(b, b, SlabFlags::DEBUG).unwrap();
    for align in [16, 64, 256, 4096] {
        let p = k.kmalloc_aligned(align / 2, align, Gfp::GFP_KERNEL).unwrap();
        assert_eq!(p as usize % align, 0);
        k.kfree(p);
    }
    assert!(b.reports().is_empty(), "{:?}", b.reports());
}
