//! The kernel's page allocator instance and its API (Linux:
//! include/linux/gfp.h alloc_pages, __get_free_pages, get_zeroed_page,
//! __free_pages, free_pages; mm/page_alloc.c prep_new_page).
//!
//! The algorithm is pagoda_mm (host-tested); this module owns the one
//! instance, zeroes pages for __GFP_ZERO through the linear map, keeps
//! struct page reference counts, and exposes the frame-allocator seam.

use super::mm_init::mem_map;
use crate::arch::mm::layout::{phys_to_virt, virt_to_phys};
use core::sync::atomic::{AtomicUsize, Ordering};
use pagoda_mm::gfp::Gfp;
use pagoda_mm::page::Page;
use pagoda_mm::page_alloc::{AllocFailure, FrameAllocator, PageAllocator};
use spin::Once;

pub use pagoda_mm::addr::{PAGE_SHIFT, PAGE_SIZE};

/// The allocator, built in place during boot (it is too large for the stack).
static mut PAGE_ALLOC_STORAGE: PageAllocator = PageAllocator::new();
static PAGE_ALLOC: Once<&'static PageAllocator> = Once::new();
/// The frame allocator behind alloc_pages: Pagoda's buddy unless a lab swaps it.
static FRAME_ALLOCATOR: Once<&'static dyn FrameAllocator> = Once::new();

/// Pages handed out and not yet freed, for the accounting self-check.
static NR_ALLOCATED: AtomicUsize = AtomicUsize::new(0);

/// # Safety
/// Only mm_init may call this, once, single-threaded, before `publish`.
pub(super) unsafe fn page_allocator_storage() -> &'static mut PageAllocator {
    // SAFETY: see the function's contract.
    unsafe { &mut *core::ptr::addr_of_mut!(PAGE_ALLOC_STORAGE) }
}

/// Makes the allocator available to everyone (end of mm_init).
pub(super) fn publish() {
    // SAFETY: initialisation is over; from now on it is only shared.
    let pa: &'static PageAllocator = unsafe { &*core::ptr::addr_of!(PAGE_ALLOC_STORAGE) };
    PAGE_ALLOC.call_once(|| pa);
    FRAME_ALLOCATOR.call_once(|| pa as &dyn FrameAllocator);
}

/// The buddy allocator, for statistics and the /proc-style views.
pub fn page_allocator() -> &'static PageAllocator {
    PAGE_ALLOC.get().expect("page allocator used before mm_init")
}

pub fn is_ready() -> bool {
    PAGE_ALLOC.get().is_some()
}

/// The allocator alloc_pages uses (the lab seam).
pub fn frame_allocator() -> &'static dyn FrameAllocator {
    *FRAME_ALLOCATOR.get().expect("page allocator used before mm_init")
}

pub fn pfn_to_page(pfn: usize) -> &'static Page {
    mem_map().page(pfn)
}

/// Linear-map address of a page (Linux: page_address).
pub fn page_address(pfn: usize) -> usize {
    phys_to_virt(pfn << PAGE_SHIFT)
}

/// PFN of a linear-map address (Linux: virt_to_pfn; virt_to_page gives the struct page).
pub fn virt_to_pfn(va: usize) -> usize {
    virt_to_phys(va) >> PAGE_SHIFT
}

pub fn virt_to_page(va: usize) -> &'static Page {
    pfn_to_page(virt_to_pfn(va))
}

/// Allocates 2^order pages; returns the first PFN (Linux: alloc_pages,
/// returning a struct page). __GFP_ZERO zeroes them. Never panics.
/// A request that may block (GFP_KERNEL) made in atomic context is
/// reported by might_sleep().
#[track_caller]
pub fn alloc_pages(gfp: Gfp, order: usize) -> Result<usize, AllocFailure> {
    if gfp.allows_blocking() {
        crate::sched::might_sleep();
    }
    let pfn = frame_allocator().alloc_frames(gfp, order)?;
    prep_new_page(pfn, order, gfp);
    Ok(pfn)
}

/// Linux: prep_new_page: a reference for the caller, zeroing if asked.
fn prep_new_page(pfn: usize, order: usize, gfp: Gfp) {
    if mem_map().contains(pfn) {
        pfn_to_page(pfn).set_page_count(1);
    }
    if gfp.contains(Gfp::__GFP_ZERO) {
        // SAFETY: the block is ours, page-aligned, and mapped by the linear
        // map as Normal memory.
        unsafe { crate::arch::mm::page::clear_pages(page_address(pfn), PAGE_SIZE << order) };
    }
    NR_ALLOCATED.fetch_add(1 << order, Ordering::Relaxed);
}

/// Drops the caller's reference to 2^order pages from alloc_pages and
/// frees them if it was the last (Linux: __free_pages). A page shared by
/// COW, the page cache or rmap stays until its last user lets go.
pub fn __free_pages(pfn: usize, order: usize) {
    if mem_map().contains(pfn) {
        let page = pfn_to_page(pfn);
        if page.is_buddy() || page.page_ref_count() <= 0 {
            log::error!(
                "BUG: Bad page state in __free_pages: pfn:{pfn:#x} refcount:{} flags:{:?}",
                page.page_ref_count(),
                page.flags()
            );
            return;
        }
        if !page.put_page_testzero() {
            return; // someone else still holds it
        }
        if page.test(pagoda_mm::page::PageFlags::LRU) {
            super::swap::lru_del_freed(pfn);
        }
        if page.page_anon() {
            super::rmap::page_free_anon_vma(pfn);
        }
        page.reset_mapcount();
        // The state of its last life goes (Linux: free_pages_prepare
        // clearing PAGE_FLAGS_CHECK_AT_PREP).
        use pagoda_mm::page::PageFlags as F;
        page.clear_bit(
            F::REFERENCED
                | F::UPTODATE
                | F::ACTIVE
                | F::WORKINGSET
                | F::SWAPBACKED
                | F::READAHEAD
                | F::UNEVICTABLE
                | F::DIRTY,
        );
    }
    free_the_page(pfn, order);
}

/// Returns a page whose count reached zero to the allocator (Linux:
/// free_the_page / free_unref_page).
fn free_the_page(pfn: usize, order: usize) {
    NR_ALLOCATED.fetch_sub(1 << order, Ordering::Relaxed);
    frame_allocator().free_frames(pfn, order);
}

/// Takes a reference to a page (Linux: get_page).
pub fn get_page(pfn: usize) {
    pfn_to_page(pfn).get_page();
}

/// Drops a reference to an order-0 page; the last one frees it (Linux:
/// put_page). Mapping, COW and the page cache share pages through this.
pub fn put_page(pfn: usize) {
    __free_pages(pfn, 0)
}

/// Linux: __get_free_pages: the linear-map address of 2^order new pages.
pub fn __get_free_pages(gfp: Gfp, order: usize) -> Option<usize> {
    alloc_pages(gfp, order).ok().map(page_address)
}

/// Linux: get_zeroed_page.
pub fn get_zeroed_page(gfp: Gfp) -> Option<usize> {
    __get_free_pages(gfp | Gfp::__GFP_ZERO, 0)
}

/// Linux: free_pages (by address).
pub fn free_pages(va: usize, order: usize) {
    __free_pages(virt_to_pfn(va), order)
}

/// Gives a page that memblock reserved at boot (a page table, say) to the
/// buddy allocator (Linux: free_reserved_page).
pub fn free_reserved_page(pfn: usize) {
    let pa = page_allocator();
    match pa.pfn_zone(pfn) {
        Some(zone) if pfn_to_page(pfn).is_reserved() => zone.free_pages_core(pfn, 0),
        _ => log::error!("BUG: free_reserved_page of pfn {pfn:#x}, which is not reserved"),
    }
}

/// Pages allocated through this API and not freed.
pub fn nr_allocated_pages() -> usize {
    NR_ALLOCATED.load(Ordering::Relaxed)
}

/// Returns this CPU's pcp pages to the buddy lists in every zone
/// (Linux: drain_local_pages).
pub fn drain_local_pages() {
    let cpu = crate::kernel::percpu::smp_processor_id();
    for z in page_allocator().zones() {
        z.drain_pages(cpu);
    }
}

/// Walks the whole mem_map and checks that every page is in exactly one
/// state (free in a buddy block, on a pcp list, reserved, or allocated) and
/// that the counts agree with NR_FREE_PAGES, the pcp counts, the managed
/// pages and the pages handed out through this API.
pub fn verify_accounting() -> Result<(), &'static str> {
    use pagoda_mm::page::PageFlags;
    let pa = page_allocator();
    let (mut buddy, mut pcp, mut reserved, mut allocated) = (0, 0, 0, 0);
    for node in pa.online_nodes() {
        let mut pfn = node.node_start_pfn;
        while pfn < node.node_end_pfn() {
            let p = pfn_to_page(pfn);
            pfn += if p.is_buddy() {
                buddy += 1 << p.buddy_order();
                1 << p.buddy_order()
            } else if p.test(PageFlags::PCP) {
                pcp += 1 << p.private();
                1 << p.private()
            } else if p.is_reserved() {
                reserved += 1;
                1
            } else {
                allocated += 1;
                1
            };
        }
    }
    let present: usize = pa.online_nodes().map(|n| n.node_present_pages).sum();
    if buddy != pa.nr_free_pages() {
        return Err("pages in buddy blocks differ from NR_FREE_PAGES");
    }
    if pcp != pa.nr_pcp_pages() {
        return Err("pages on pcp lists differ from the pcp counts");
    }
    if buddy + pcp + reserved + allocated != present {
        return Err("page states do not add up to the present pages");
    }
    if present - reserved != pa.totalram_pages() {
        return Err("managed pages are not the non-reserved ones");
    }
    if allocated != nr_allocated_pages() {
        return Err("allocated pages found differ from pages handed out");
    }
    for z in pa.zones() {
        z.check_free_lists()?;
    }
    Ok(())
}

/// Linux: si_meminfo's freeram. MemFree counts pages on pcp lists as free
/// (Linux counts them as allocated); see docs/physical-memory.md.
pub fn mem_free_pages() -> usize {
    let pa = page_allocator();
    pa.nr_free_pages() + pa.nr_pcp_pages()
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use pagoda_mm::mmzone::MAX_ORDER;
    #[ktest]
    fn memfree_equals_buddyinfo_plus_pcp() {
        let pa = page_allocator();
        let buddyinfo_pages: usize =
            pa.zones().map(|z| z.buddyinfo().iter().enumerate().map(|(o, n)| n << o).sum::<usize>()).sum();
        assert_eq!(mem_free_pages(), buddyinfo_pages + pa.nr_pcp_pages());
        for z in pa.zones() {
            let listed = z.check_free_lists().unwrap_or_else(|e| panic!("{}: {e}", z.name()));
            assert_eq!(listed, z.zone_page_state(pagoda_mm::vmstat::ZoneStatItem::NrFreePages));
        }
    }

    #[ktest]
    fn every_page_is_accounted_for() {
        verify_accounting().unwrap();
    }

    #[ktest]
    fn every_order_allocates_aligned_usable_memory_and_frees_cleanly() {
        let before = mem_free_pages();
        for order in 0..MAX_ORDER {
            let pfn = alloc_pages(Gfp::GFP_KERNEL, order).expect("allocation failed");
            assert_eq!(pfn % (1 << order), 0, "order {order} block not aligned");
            assert_eq!(pfn_to_page(pfn).page_ref_count(), 1);
            let va = page_address(pfn);
            let words = (PAGE_SIZE << order) / 8;
            // SAFETY: the block is ours, mapped by the linear map.
            unsafe {
                let p = va as *mut u64;
                for i in (0..words).step_by(61) {
                    p.add(i).write_volatile(i as u64 ^ pfn as u64);
                }
                for i in (0..words).step_by(61) {
                    assert_eq!(p.add(i).read_volatile(), i as u64 ^ pfn as u64);
                }
            }
            assert_eq!(virt_to_pfn(va + 123), pfn);
            __free_pages(pfn, order);
        }
        assert_eq!(mem_free_pages(), before, "pages leaked");
    }

    #[ktest]
    fn gfp_zero_returns_zeroed_memory() {
        let pfn = alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
        // SAFETY: our page.
        unsafe { core::ptr::write_bytes(page_address(pfn) as *mut u8, 0xa5, PAGE_SIZE) };
        __free_pages(pfn, 0);
        // LIFO pcp list: the dirty page comes straight back, and must be zeroed.
        let va = get_zeroed_page(Gfp::GFP_KERNEL).unwrap();
        assert_eq!(virt_to_pfn(va), pfn, "pcp list is not LIFO");
        // SAFETY: our page.
        let bytes = unsafe { core::slice::from_raw_parts(va as *const u8, PAGE_SIZE) };
        assert!(bytes.iter().all(|&b| b == 0));
        free_pages(va, 0);
    }

    #[ktest]
    fn gfp_dma32_stays_below_4g() {
        for _ in 0..8 {
            let pfn = alloc_pages(Gfp::GFP_KERNEL | Gfp::GFP_DMA32, 3).unwrap();
            assert!(pfn + 8 <= 1 << 20, "GFP_DMA32 block at pfn {pfn:#x}");
            __free_pages(pfn, 3);
        }
    }

    #[ktest]
    fn struct_page_round_trips() {
        assert_eq!(core::mem::size_of::<Page>(), 64);
        let pfn = alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
        let page = pfn_to_page(pfn);
        assert_eq!(mem_map().page_to_pfn(page), pfn);
        assert!(core::ptr::eq(virt_to_page(page_address(pfn) + 100), page));
        assert_eq!(page as *const Page as usize, crate::mm::mm_init::vmemmap_addr(pfn));
        __free_pages(pfn, 0);
    }

    #[ktest]
    fn exhausting_memory_fails_cleanly_and_recovers() {
        // Track the blocks in an order-3 page: room for 16 GiB of 4 MiB blocks.
        let list_pfn = alloc_pages(Gfp::GFP_KERNEL, 3).unwrap();
        // SAFETY: our 32 KiB, as an array of 4096 PFNs.
        let blocks = unsafe { core::slice::from_raw_parts_mut(page_address(list_pfn) as *mut usize, 4096) };
        // Pages other tests freed may still be held by a per-CPU LRU batch:
        // let them go now, not when reclaim drains the batches.
        crate::mm::swap::lru_add_drain_all();
        let before = mem_free_pages();
        let stolen = || {
            use crate::mm::vmscan::{PGSTEAL_DIRECT, PGSTEAL_KSWAPD};
            PGSTEAL_DIRECT.load(core::sync::atomic::Ordering::Relaxed)
                + PGSTEAL_KSWAPD.load(core::sync::atomic::Ordering::Relaxed)
        };
        let stolen_before = stolen();
        let mut n = 0;
        // Take 4 MiB blocks until the allocator says no (NOWARN: no Mem-Info spam).
        while n < blocks.len() {
            match alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN | Gfp::__GFP_NORETRY, 10) {
                Ok(pfn) => {
                    blocks[n] = pfn;
                    n += 1;
                }
                Err(e) => {
                    assert_eq!(e.order, 10);
                    break;
                }
            }
        }
        assert!(n > 0 && n < blocks.len(), "expected to run out before 16 GiB (got {n} blocks)");
        let wakeups: usize = page_allocator()
            .online_nodes()
            .map(|n| n.kswapd_wakeups.load(core::sync::atomic::Ordering::Relaxed))
            .sum();
        assert!(wakeups > 0, "kswapd was not woken below the low watermark");
        for &pfn in &blocks[..n] {
            __free_pages(pfn, 10);
        }
        // Every block came back, and so did what reclaim took from the
        // page cache on the way.
        assert_eq!(mem_free_pages(), before + (stolen() - stolen_before));
        __free_pages(list_pfn, 3);
    }

    #[ktest]
    fn put_page_frees_only_at_the_last_reference() {
        let before = mem_free_pages();
        let pfn = alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
        get_page(pfn); // a second user, as COW or the page cache would be
        assert_eq!(pfn_to_page(pfn).page_ref_count(), 2);
        put_page(pfn);
        assert_eq!(pfn_to_page(pfn).page_ref_count(), 1, "the page went while still shared");
        assert_eq!(mem_free_pages(), before - 1);
        put_page(pfn);
        assert_eq!(pfn_to_page(pfn).page_ref_count(), 0);
        assert_eq!(mem_free_pages(), before, "the last put must free the page");
        verify_accounting().unwrap();
    }

    #[ktest]
    fn freeing_a_free_page_is_refused() {
        let before = mem_free_pages();
        let pfn = alloc_pages(Gfp::GFP_KERNEL, 2).unwrap();
        __free_pages(pfn, 2);
        __free_pages(pfn, 2); // reported as a bad page state, ignored
        assert_eq!(mem_free_pages(), before);
    }
}

/// The sum of a node counter over every node, never negative (Linux:
/// global_node_page_state).
pub fn global_node_page_state(item: pagoda_mm::vmstat::NodeStatItem) -> usize {
    page_allocator().online_nodes().map(|n| n.vm_stat.get(item as usize)).sum::<isize>().max(0) as usize
}

/// Adds `delta` to a counter of the node that holds `pfn` (Linux:
/// mod_node_page_state(page_pgdat(page), ...)).
pub fn mod_node_page_state(pfn: usize, item: pagoda_mm::vmstat::NodeStatItem, delta: isize) {
    let pa = page_allocator();
    let nid = pa.pfn_zone(pfn).map_or(0, |z| z.nid);
    if let Some(n) = pa.node(nid) {
        n.vm_stat.add(item as usize, delta);
    }
}
