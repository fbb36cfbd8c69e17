//! kmalloc: general-purpose allocation from size-class caches
//! (Linux: mm/slab_common.c kmalloc_caches, kmalloc_index,
//! include/linux/slab.h kmalloc/kzalloc/kcalloc, mm/util.c krealloc).
//!
//! Sizes up to 8 KiB come from caches `kmalloc-8` ... `kmalloc-8192`
//! (with the odd sizes 96 and 192, as Linux has); larger requests go
//! straight to the page allocator as 2^order pages. Power-of-two caches
//! keep their objects naturally aligned.

use super::*;

pub const KMALLOC_SIZES: [usize; 13] = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];
pub const KMALLOC_NAMES: [&str; 13] = [
    "kmalloc-8",
    "kmalloc-16",
    "kmalloc-32",
    "kmalloc-64",
    "kmalloc-96",
    "kmalloc-128",
    "kmalloc-192",
    "kmalloc-256",
    "kmalloc-512",
    "kmalloc-1k",
    "kmalloc-2k",
    "kmalloc-4k",
    "kmalloc-8k",
];
pub const KMALLOC_MAX_CACHE_SIZE: usize = 8192;
/// What kmalloc(0) returns: not NULL, not dereferenceable (Linux: ZERO_SIZE_PTR).
pub const ZERO_SIZE_PTR: *mut u8 = 16 as *mut u8;

/// Cache index for sizes up to 192, by (size - 1) / 8 (Linux: size_index[]).
const SIZE_INDEX: [u8; 24] = [0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6];

/// The cache index for `size` bytes (Linux: kmalloc_index / kmalloc_slab):
/// a table for small sizes, the highest set bit for the rest.
pub fn kmalloc_index(size: usize) -> Option<usize> {
    match size {
        0 => None,
        1..=192 => Some(SIZE_INDEX[(size - 1) / 8] as usize),
        193..=KMALLOC_MAX_CACHE_SIZE => Some((usize::BITS - (size - 1).leading_zeros()) as usize - 1),
        _ => None,
    }
}

/// Where large (page-backed) kmalloc blocks record their order.
pub trait LargeKmalloc: Sync {
    fn set_large_order(&self, va: usize, order: Option<usize>);
    fn large_order(&self, va: usize) -> Option<usize>;
}

/// The kmalloc caches.
pub struct Kmalloc {
    pub caches: [&'static KmemCache; 13],
    backend: &'static dyn SlabBackend,
    large: &'static dyn LargeKmalloc,
}

impl Kmalloc {
    /// Creates the caches smallest first, so the big ones can keep their
    /// slab descriptors off-slab in the small ones (Linux: create_kmalloc_caches).
    pub fn create(
        backend: &'static dyn SlabBackend,
        large: &'static dyn LargeKmalloc,
        debug: SlabFlags,
    ) -> Result<Kmalloc, SlabError> {
        let mut made: [Option<&'static KmemCache>; 13] = [None; 13];
        for (i, &size) in KMALLOC_SIZES.iter().enumerate() {
            let align = if size.is_power_of_two() { size.min(PAGE_SIZE) } else { 8 };
            // Off-slab descriptors come from the smallest cache already made
            // that fits the biggest descriptor (at most ~0.6 KiB: 256 objects).
            let mgmt = made.iter().flatten().copied().find(|c| c.object_size >= 1024);
            let mgmt = mgmt.or_else(|| made.iter().flatten().copied().last());
            made[i] = Some(KmemCache::create(
                KMALLOC_NAMES[i],
                size,
                align,
                debug | SlabFlags::PANIC,
                None,
                backend,
                mgmt,
            )?);
        }
        Ok(Kmalloc { caches: made.map(|c| c.unwrap()), backend, large })
    }

    /// Linux: kmalloc.
    pub fn kmalloc(&self, size: usize, gfp: Gfp) -> Option<*mut u8> {
        if size == 0 {
            return Some(ZERO_SIZE_PTR);
        }
        match kmalloc_index(size) {
            Some(i) => self.caches[i].alloc(gfp),
            None => self.kmalloc_large(size, gfp),
        }
    }

    /// Large allocations: whole pages (Linux: kmalloc_large).
    fn kmalloc_large(&self, size: usize, gfp: Gfp) -> Option<*mut u8> {
        let order = size.div_ceil(PAGE_SIZE).next_power_of_two().trailing_zeros() as usize;
        let va = self.backend.alloc_slab_pages(order, gfp, self.backend.this_node())?;
        self.large.set_large_order(va, Some(order));
        if gfp.contains(Gfp::__GFP_ZERO) {
            // SAFETY: fresh pages of ours.
            unsafe { core::ptr::write_bytes(va as *mut u8, 0, PAGE_SIZE << order) };
        }
        Some(va as *mut u8)
    }

    /// kmalloc with an alignment (for Rust's GlobalAlloc): power-of-two
    /// classes and page blocks are naturally aligned, so round up to one.
    pub fn kmalloc_aligned(&self, size: usize, align: usize, gfp: Gfp) -> Option<*mut u8> {
        if align <= 8 {
            return self.kmalloc(size, gfp);
        }
        let size = size.max(align).next_power_of_two();
        let p = self.kmalloc(size, gfp)?;
        if !(p as usize).is_multiple_of(align) {
            // Red zones can shift objects; fall back to whole pages.
            self.kfree(p);
            return self.kmalloc_large(size.max(PAGE_SIZE), gfp);
        }
        Some(p)
    }

    /// Linux: kzalloc.
    pub fn kzalloc(&self, size: usize, gfp: Gfp) -> Option<*mut u8> {
        self.kmalloc(size, gfp | Gfp::__GFP_ZERO)
    }

    /// Linux: kcalloc; None if n * size overflows.
    pub fn kcalloc(&self, n: usize, size: usize, gfp: Gfp) -> Option<*mut u8> {
        self.kzalloc(n.checked_mul(size)?, gfp)
    }

    /// The usable size of a kmalloc'ed block (Linux: ksize).
    pub fn ksize(&self, p: *const u8) -> usize {
        if p.is_null() || p == ZERO_SIZE_PTR {
            return 0;
        }
        match self.backend.slab_owner(p as usize) {
            // SAFETY: owner records point at live caches.
            Some(o) => unsafe { (*(o.cache as *const KmemCache)).ksize() },
            None => self.large.large_order(p as usize).map_or(0, |o| PAGE_SIZE << o),
        }
    }

    /// Linux: krealloc. The contents up to the old size are kept.
    ///
    /// # Safety
    /// `p` is null, ZERO_SIZE_PTR, or a live block from this kmalloc.
    pub unsafe fn krealloc(&self, p: *mut u8, new_size: usize, gfp: Gfp) -> Option<*mut u8> {
        if p.is_null() || p == ZERO_SIZE_PTR {
            return self.kmalloc(new_size, gfp);
        }
        if new_size == 0 {
            self.kfree(p);
            return Some(ZERO_SIZE_PTR);
        }
        let old = self.ksize(p);
        if new_size <= old {
            return Some(p);
        }
        let q = self.kmalloc(new_size, gfp)?;
        // SAFETY: both blocks are ours and at least `old` bytes long.
        unsafe { core::ptr::copy_nonoverlapping(p, q, old) };
        self.kfree(p);
        Some(q)
    }

    /// Linux: kfree. Finds the cache from the address (PG_slab); frees page
    /// blocks of large allocations; reports anything else.
    pub fn kfree(&self, p: *mut u8) {
        if p.is_null() || p == ZERO_SIZE_PTR {
            return;
        }
        if let Some(o) = self.backend.slab_owner(p as usize) {
            // SAFETY: owner records point at live caches.
            let cache = unsafe { &*(o.cache as *const KmemCache) };
            if cache.flags.intersects(SlabFlags::DEBUG) || cache.owns(p, o) {
                cache.free(p);
            } else {
                self.backend.report(format_args!(
                    "kfree: {:#x} points into an object of `{}', not at its start; ignored",
                    p as usize, cache.name
                ));
            }
        } else if let Some(order) =
            self.large.large_order(p as usize).filter(|_| (p as usize).is_multiple_of(PAGE_SIZE))
        {
            self.large.set_large_order(p as usize, None);
            self.backend.free_slab_pages(p as usize, order);
        } else {
            self.backend
                .report(format_args!("kfree: {:#x} is not a kmalloc'ed address; ignored", p as usize));
        }
    }
}
