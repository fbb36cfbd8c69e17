//! The early boot heap (Linux has no direct equivalent; it is the role
//! bootmem played before memblock): a fixed region of .bss managed by the
//! linked_list_allocator crate, serving Rust's `alloc` until slab exists.
//! Only code that is not the lesson uses it (crates that want `alloc`, such
//! as the benchmark's baseline allocator).

use linked_list_allocator::LockedHeap;

const EARLY_HEAP_SIZE: usize = 1 << 20;

#[repr(C, align(4096))]
struct HeapArea([u8; EARLY_HEAP_SIZE]);

static mut EARLY_HEAP: HeapArea = HeapArea([0; EARLY_HEAP_SIZE]);

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Hands the region to the allocator. Call once, before anything allocates.
pub fn init() {
    // SAFETY: called once at boot; the region is used by nothing else.
    unsafe { HEAP.lock().init(core::ptr::addr_of_mut!(EARLY_HEAP) as *mut u8, EARLY_HEAP_SIZE) };
}

/// (used, free) bytes.
#[cfg_attr(not(feature = "ktest"), allow(dead_code))]
pub fn usage() -> (usize, usize) {
    let h = HEAP.lock();
    (h.used(), h.free())
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::ktest::ktest;

    #[ktest]
    fn global_alloc_is_served_by_the_early_heap() {
        let (used0, _) = usage();
        let v: alloc::vec::Vec<u64> = (0..1000).collect();
        let (used1, free1) = usage();
        assert!(used1 >= used0 + 8000, "the Vec did not come from the early heap");
        assert_eq!(used1 + free1, EARLY_HEAP_SIZE);
        assert_eq!(v.iter().sum::<u64>(), 999 * 1000 / 2);
        drop(v);
        assert_eq!(usage().0, used0);
    }
}
