//! A concurrency stress test of the page and slab allocators (in-kernel
//! test only): one kernel thread per CPU allocates and frees pages and
//! kmalloc objects of random sizes for a while; then every page must be
//! accounted for and nothing may be left behind.

#[cfg(feature = "ktest")]
mod tests {
    use crate::debug::ktest::ktest;
    use crate::kernel::percpu::{num_online_cpus, smp_processor_id};
    use crate::mm::page_alloc::{__free_pages, alloc_pages, mem_free_pages, page_address, page_allocator};
    use crate::mm::slab::{kfree, kmalloc};
    use crate::sched::{cond_resched, kthread_join, kthread_run};
    use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use pagoda_klib::rand::XorShift64;
    use pagoda_mm::gfp::Gfp;

    const ITERATIONS: usize = 3000;
    static ERRORS: AtomicUsize = AtomicUsize::new(0);
    static DONE: AtomicUsize = AtomicUsize::new(0);

    fn hammer(seed: usize) {
        let mut rng = XorShift64::new(seed as u64 * 7919 + 1);
        let mut pages = [(0usize, 0usize); 16];
        let mut objs = [(0usize, 0usize); 32];
        for i in 0..ITERATIONS {
            let ps = rng.below(pages.len());
            if pages[ps].0 != 0 {
                let (pfn, order) = pages[ps];
                // SAFETY: our block; check the pattern survived.
                if unsafe { (page_address(pfn) as *const usize).read() } != pfn ^ seed {
                    ERRORS.fetch_add(1, Relaxed);
                }
                __free_pages(pfn, order);
                pages[ps] = (0, 0);
            } else {
                let order = rng.below(4);
                if let Ok(pfn) = alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, order) {
                    // SAFETY: our new block.
                    unsafe { (page_address(pfn) as *mut usize).write(pfn ^ seed) };
                    pages[ps] = (pfn, order);
                }
            }
            let os = rng.below(objs.len());
            if objs[os].0 != 0 {
                let (p, size) = objs[os];
                // SAFETY: our object; check the pattern at both ends.
                let ok = unsafe {
                    *(p as *const u8) == seed as u8 && *((p + size - 1) as *const u8) == seed as u8
                };
                if !ok {
                    ERRORS.fetch_add(1, Relaxed);
                }
                kfree(p as *mut u8);
                objs[os] = (0, 0);
            } else {
                let size = 1 + rng.below(3000);
                if let Some(p) = kmalloc(size, Gfp::GFP_KERNEL) {
                    // SAFETY: our object of `size` bytes.
                    unsafe { core::ptr::write_bytes(p, seed as u8, size) };
                    objs[os] = (p as usize, size);
                }
            }
            if i % 64 == 0 {
                cond_resched();
            }
        }
        for (pfn, order) in pages.into_iter().filter(|p| p.0 != 0) {
            __free_pages(pfn, order);
        }
        for (p, _) in objs.into_iter().filter(|o| o.0 != 0) {
            kfree(p as *mut u8);
        }
        let _ = smp_processor_id();
        DONE.fetch_add(1, Relaxed);
    }

    fn run_on_all_cpus(f: fn(usize)) {
        let threads: alloc::vec::Vec<_> =
            (0..num_online_cpus()).map(|c| kthread_run("ktest-hammer", f, c + 1, Some(c)).unwrap()).collect();
        for t in threads {
            kthread_join(t);
        }
    }

    fn settle() {
        crate::sched::reap();
        crate::mm::slab::shrink_all();
        page_allocator().drain_all_pages();
    }

    #[ktest]
    fn all_cpus_hammer_page_and_slab_allocators_and_every_page_is_accounted() {
        let n = num_online_cpus();
        // A first round grows the scheduler's and the allocators' own
        // bookkeeping (run queues, task lists, caches); the second round must
        // then end exactly where it started: a leak per thread or per block
        // would show.
        run_on_all_cpus(hammer);
        settle();
        let free_before = mem_free_pages();
        let allocated_before = crate::mm::page_alloc::nr_allocated_pages();
        let slab_state = || -> alloc::vec::Vec<(usize, usize, usize)> {
            crate::mm::slab::caches()
                .map(|c| (c.info().active_objs, c.info().num_slabs, 1 << c.gfporder))
                .collect()
        };
        let slabs_before = slab_state();
        DONE.store(0, Relaxed);
        run_on_all_cpus(hammer);
        assert_eq!(DONE.load(Relaxed), n);
        assert_eq!(ERRORS.load(Relaxed), 0, "a block's contents changed under its owner: handed out twice?");
        crate::mm::page_alloc::verify_accounting().unwrap();
        for c in crate::mm::slab::caches() {
            c.check().unwrap_or_else(|e| panic!("{}: {e}", c.name));
        }
        // Dead threads (stack and task struct) go back when reaped; slab
        // keeps the slabs it grew until shrunk. After that, every page the
        // threads took must be back.
        settle();
        crate::mm::page_alloc::verify_accounting().unwrap();
        let allocated = crate::mm::page_alloc::nr_allocated_pages();
        // No small object (task structs, lists) may be left behind; the same
        // objects may sit in more slabs than before (fragmentation), and
        // exactly those slab pages may differ. kmalloc-512 and -1k also hold
        // the off-slab descriptors of bigger caches, which follow their slab
        // counts, so only their pages are checked.
        let slabs_after = slab_state();
        let mut slab_pages_delta = 0isize;
        for (c, (b, a)) in crate::mm::slab::caches().zip(slabs_before.iter().zip(slabs_after.iter())) {
            if c.object_size < 512 {
                assert_eq!(a.0, b.0, "{}: objects leaked", c.name);
            }
            slab_pages_delta += (a.1 as isize - b.1 as isize) * a.2 as isize;
        }
        assert_eq!(
            allocated as isize,
            allocated_before as isize + slab_pages_delta,
            "pages leaked (stacks, task structs or blocks)"
        );
        // (MemFree itself is covered by verify_accounting above: it may also
        // grow when a boot-time page table is freed to the buddy allocator.)
        let _ = free_before;
    }
}
