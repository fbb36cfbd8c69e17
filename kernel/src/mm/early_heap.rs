//! The early boot heap (Linux has no direct equivalent; it is the role
//! bootmem played before memblock): a fixed region of .bss managed by the
//! linked_list_allocator crate. It serves Rust's `alloc` until slab exists;
//! see mm/slab.rs for the handover.

use core::alloc::Layout;
use linked_list_allocator::LockedHeap;

const EARLY_HEAP_SIZE: usize = 1 << 20;

#[repr(C, align(4096))]
struct HeapArea([u8; EARLY_HEAP_SIZE]);

static mut EARLY_HEAP: HeapArea = HeapArea([0; EARLY_HEAP_SIZE]);

static HEAP: LockedHeap = LockedHeap::empty();

fn base() -> usize {
    core::ptr::addr_of!(EARLY_HEAP) as usize
}

/// Hands the region to the allocator. Call once, before anything allocates.
pub fn init() {
    // SAFETY: called once at boot; the region is used by nothing else.
    unsafe { HEAP.lock().init(core::ptr::addr_of_mut!(EARLY_HEAP) as *mut u8, EARLY_HEAP_SIZE) };
}

/// Whether `addr` lies in the early heap.
pub fn contains(addr: usize) -> bool {
    (base()..base() + EARLY_HEAP_SIZE).contains(&addr)
}

/// # Safety
/// As `GlobalAlloc::alloc`.
pub unsafe fn alloc(layout: Layout) -> *mut u8 {
    HEAP.lock().allocate_first_fit(layout).map_or(core::ptr::null_mut(), |p| p.as_ptr())
}

/// # Safety
/// `ptr` came from `alloc` with `layout`.
pub unsafe fn dealloc(ptr: *mut u8, layout: Layout) {
    // SAFETY: per the contract.
    unsafe { HEAP.lock().deallocate(core::ptr::NonNull::new_unchecked(ptr), layout) };
}

/// (used, free) bytes.
pub fn usage() -> (usize, usize) {
    let h = HEAP.lock();
    (h.used(), h.free())
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

    #[ktest]
    fn early_heap_allocates_and_frees_within_its_region() {
        let (used0, _) = usage();
        let layout = Layout::from_size_align(8000, 8).unwrap();
        // SAFETY: freed below with the same layout.
        let p = unsafe { alloc(layout) };
        assert!(contains(p as usize));
        let (used1, free1) = usage();
        assert!(used1 >= used0 + 8000);
        assert_eq!(used1 + free1, EARLY_HEAP_SIZE);
        // SAFETY: from alloc above.
        unsafe { dealloc(p, layout) };
        assert_eq!(usage().0, used0);
    }
}
