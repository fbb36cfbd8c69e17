//! The frame-allocator seam (see pagoda_mm::page_alloc::FrameAllocator):
//! an adapter that puts buddy_system_allocator behind the same trait as
//! Pagoda's buddy, and a conformance check any implementation must pass.
//! A lab swaps in its own allocator the same way, and the check is what a
//! grader runs on it.

use buddy_system_allocator::LockedFrameAllocator;
use core::sync::atomic::{AtomicUsize, Ordering};
use pagoda_mm::gfp::Gfp;
use pagoda_mm::page_alloc::{AllocFailure, FrameAllocator};

/// buddy_system_allocator's FrameAllocator over a PFN range.
pub struct BsaFrames {
    inner: LockedFrameAllocator<33>,
    free: AtomicUsize,
}

impl BsaFrames {
    pub fn new(start_pfn: usize, end_pfn: usize) -> Self {
        let inner = LockedFrameAllocator::<33>::new();
        inner.lock().add_frame(start_pfn, end_pfn);
        BsaFrames { inner, free: AtomicUsize::new(end_pfn - start_pfn) }
    }
}

impl FrameAllocator for BsaFrames {
    fn alloc_frames(&self, gfp: Gfp, order: usize) -> Result<usize, AllocFailure> {
        let pfn = self.inner.lock().alloc(1 << order).ok_or(AllocFailure { order, gfp })?;
        self.free.fetch_sub(1 << order, Ordering::Relaxed);
        Ok(pfn)
    }
    fn free_frames(&self, pfn: usize, order: usize) {
        self.inner.lock().dealloc(pfn, 1 << order);
        self.free.fetch_add(1 << order, Ordering::Relaxed);
    }
    fn nr_free_frames(&self) -> usize {
        self.free.load(Ordering::Relaxed)
    }
    fn name(&self) -> &'static str {
        "buddy_system_allocator"
    }
}

/// Exercises any frame allocator: random orders 0..=6, blocks must be
/// aligned and never overlap, and freeing everything must give every frame
/// back. Returns the number of successful allocations.
pub fn conformance(fa: &dyn FrameAllocator, steps: usize) -> Result<usize, &'static str> {
    const SLOTS: usize = 64;
    let mut live = [(0usize, 0usize); SLOTS];
    let mut used = [false; SLOTS];
    let free0 = fa.nr_free_frames();
    let mut rng = pagoda_klib::rand::XorShift64::new(0x1234_5678_9abc_def1);
    let mut allocated = 0;
    for _ in 0..steps {
        let seed = rng.next_u64();
        let slot = seed as usize % SLOTS;
        if used[slot] {
            fa.free_frames(live[slot].0, live[slot].1);
            used[slot] = false;
            continue;
        }
        let order = (seed >> 32) as usize % 7;
        let Ok(pfn) = fa.alloc_frames(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, order) else { continue };
        if pfn % (1 << order) != 0 {
            return Err("block not aligned to its order");
        }
        for (i, &(p, o)) in live.iter().enumerate() {
            if used[i] && pfn < p + (1 << o) && p < pfn + (1 << order) {
                return Err("two live blocks overlap");
            }
        }
        live[slot] = (pfn, order);
        used[slot] = true;
        allocated += 1;
    }
    for i in 0..SLOTS {
        if used[i] {
            fa.free_frames(live[i].0, live[i].1);
        }
    }
    // Per-CPU caches may hold freed frames; they still count as free.
    if fa.nr_free_frames() != free0 {
        return Err("frames lost after freeing everything");
    }
    Ok(allocated)
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use crate::mm::page_alloc::{__free_pages, alloc_pages, frame_allocator};

    #[ktest]
    fn pagoda_buddy_passes_the_frame_allocator_conformance_check() {
        let n = conformance(frame_allocator(), 5000).unwrap();
        assert!(n > 1000);
        assert_eq!(frame_allocator().name(), "pagoda-buddy");
    }

    #[ktest]
    fn buddy_system_allocator_plugs_into_the_same_seam() {
        // Lend it 16 MiB of real frames.
        let base = alloc_pages(Gfp::GFP_KERNEL, 10).unwrap();
        let more: [usize; 3] = core::array::from_fn(|_| alloc_pages(Gfp::GFP_KERNEL, 10).unwrap());
        let bsa = BsaFrames::new(base, base + 1024);
        for m in more {
            bsa.inner.lock().add_frame(m, m + 1024);
            bsa.free.fetch_add(1024, Ordering::Relaxed);
        }
        let n = conformance(&bsa, 5000).unwrap();
        assert!(n > 1000);
        for b in more.into_iter().chain([base]) {
            __free_pages(b, 10);
        }
    }
}
