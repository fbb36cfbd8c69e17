//! The swap cache, swap-out and swap-in (Linux: mm/swap_state.c
//! add_to_swap_cache, __delete_from_swap_cache, add_to_swap,
//! lookup_swap_cache, __read_swap_cache_async, swap_cluster_readahead;
//! mm/memory.c do_swap_page; mm/rmap.c try_to_unmap_one for anonymous
//! folios; mm/swapfile.c free_swap_and_cache, try_to_unuse).
//!
//! One anonymous page's trip to swap and back:
//!
//! ```text
//! reclaim: add_to_swap       slot taken (HAS_CACHE), page in the swap cache,
//!                            private = the swap entry, PG_swapcache, dirty
//!          try_to_unmap      every PTE -> the swap entry (count +1 each),
//!                            anon rss -1, swap entries +1
//!          pageout           PG_writeback, bio to the slot; at its end the
//!                            page is clean and rotates to the inactive tail
//!          next pass         clean, unmapped, nobody else holds it: out of
//!                            the swap cache (HAS_CACHE dropped) and freed
//! fault:   do_swap_page      swap cache hit, or a new page read from the
//!                            slot (with readahead of its neighbours); the PTE
//!                            maps it again, the slot loses one count, and a
//!                            write by the only user takes the page out of
//!                            the swap cache, freeing the slot
//! ```
//!
//! Lock order: page lock, then a swap device's map lock, a spin lock
//! under which the swap cache (the page of each slot) changes too.

use super::filemap::{lock_page, trylock_page, unlock_page};
use super::mm_types::{MmStruct, MM_ANONPAGES, MM_SWAPENTS};
use super::page_alloc::{alloc_pages, get_page, mod_node_page_state, pfn_to_page, put_page};
use super::swapfile::{self, raw_to_swp, swp_to_raw, SwapInfo};
use core::sync::atomic::Ordering::Relaxed;
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::gfp::Gfp;
use pagoda_mm::page::PageFlags;
use pagoda_mm::pgtable::{Pte, SwpEntry};
use pagoda_mm::vmstat::NodeStatItem;

/// Pages read around a swap-in: 2^page_cluster slots, aligned (Linux:
/// vm.page-cluster, 3 by default).
pub static PAGE_CLUSTER: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(3);

/// The swap entry of a page in the swap cache.
pub fn page_swap_entry(pfn: usize) -> Option<SwpEntry> {
    let page = pfn_to_page(pfn);
    if page.test(PageFlags::SWAPCACHE) {
        raw_to_swp(page.private())
    } else {
        None
    }
}

/// Puts `pfn` in the swap cache at `e`, whose HAS_CACHE use the caller
/// holds; the cache takes a reference (Linux: add_to_swap_cache). EEXIST
/// if a page is there.
fn add_to_swap_cache(si: &SwapInfo, pfn: usize, e: SwpEntry) -> KResult<()> {
    let mut map = si.map.lock();
    if !map.cache_set(e.offset as usize, pfn) {
        return Err(Errno::EEXIST);
    }
    get_page(pfn);
    drop(map);
    let page = pfn_to_page(pfn);
    page.set_private(swp_to_raw(e));
    page.set_bit(PageFlags::SWAPCACHE | PageFlags::SWAPBACKED);
    mod_node_page_state(pfn, NodeStatItem::NrFilePages, 1);
    mod_node_page_state(pfn, NodeStatItem::NrSwapcache, 1);
    Ok(())
}

/// Takes a page out of the swap cache and drops the cache's use of its
/// slot and its reference on the page (Linux: delete_from_swap_cache).
/// Called with the page locked and a reference of the caller's.
pub fn delete_from_swap_cache(pfn: usize) {
    let Some(e) = page_swap_entry(pfn) else { return };
    let Some(si) = swapfile::swap_info(e.swp_type) else { return };
    if !si.map.lock().cache_clear(e.offset as usize, pfn) {
        return;
    }
    swap_cache_gone(pfn, e);
}

/// The flags, accounting, slot use and reference of a page that just left
/// the swap cache (Linux: the tail of __delete_from_swap_cache and
/// put_swap_folio).
fn swap_cache_gone(pfn: usize, e: SwpEntry) {
    let page = pfn_to_page(pfn);
    page.clear_bit(PageFlags::SWAPCACHE);
    page.set_private(0);
    mod_node_page_state(pfn, NodeStatItem::NrFilePages, -1);
    mod_node_page_state(pfn, NodeStatItem::NrSwapcache, -1);
    swapfile::swapcache_free(e);
    put_page(pfn); // the cache's
}

/// The page for `e` in the swap cache, with a reference for the caller
/// (Linux: lookup_swap_cache).
pub fn lookup_swap_cache(e: SwpEntry) -> Option<usize> {
    let si = swapfile::swap_info(e.swp_type)?;
    let map = si.map.lock();
    let pfn = map.cache_get(e.offset as usize)?;
    // Under the lock: the cache's own reference keeps it alive here.
    get_page(pfn);
    Some(pfn)
}

/// Gives the locked anonymous page `pfn` a swap slot and puts it in the
/// swap cache, dirty, so that pageout writes it (Linux: add_to_swap).
/// False if every swap device is full.
pub fn add_to_swap(pfn: usize) -> bool {
    let Some(e) = swapfile::get_swap_page() else { return false };
    let Some(si) = swapfile::swap_info(e.swp_type) else { return false };
    if add_to_swap_cache(&si, pfn, e).is_err() {
        swapfile::swapcache_free(e);
        return false;
    }
    // Its data is what the slot will hold: a fault that finds it in the
    // swap cache maps it as it is (Linux marks every anonymous folio
    // uptodate when it is made).
    pfn_to_page(pfn).set_bit(PageFlags::DIRTY | PageFlags::UPTODATE);
    true
}

/// Replaces every PTE that maps the locked anonymous page `pfn`, in the
/// swap cache at `e`, with the swap entry (Linux: try_to_unmap ->
/// try_to_unmap_one for an anonymous folio). True once nothing maps it.
/// A page in a VM_LOCKED VMA is never unmapped: mlocked memory stays.
pub fn try_to_unmap_anon(pfn: usize, e: SwpEntry) -> bool {
    let page = pfn_to_page(pfn);
    let mut refused = false;
    let walked = super::rmap::rmap_walk_anon_page(pfn, |m, address, flags, pt| {
        if refused || flags.contains(super::vma::VmFlags::LOCKED) {
            refused = true;
            return;
        }
        let Some(slot) = pt.pte_offset(address) else { return };
        let pte = pt.ptep_get(slot);
        if !pte.pte_present() || pte.pte_pfn() != pfn {
            return;
        }
        if swapfile::swap_duplicate(e).is_err() {
            refused = true;
            return;
        }
        pt.set_pte(slot, Pte::from_swp_entry(e));
        crate::arch::mm::tlb::flush_tlb_page(m.asid(), address);
        if pte.pte_dirty() {
            page.set_bit(PageFlags::DIRTY);
        }
        super::rmap::page_remove_rmap(pfn, true);
        m.add_mm_counter(MM_ANONPAGES, -1);
        m.add_mm_counter(MM_SWAPENTS, 1);
        put_page(pfn); // the PTE's reference; reclaim still holds one
    });
    walked.is_ok() && !refused && page.page_mapcount() == 0
}

/// Writes the locked, dirty swap-cache page out (Linux: pageout ->
/// swap_writepage): PG_writeback until the disk has it, then clean and
/// rotated to the inactive tail for the next scan to free. The page is
/// unlocked once the write is under way. False if it could not be
/// started (it stays dirty).
pub fn swap_pageout(pfn: usize) -> bool {
    let Some(e) = page_swap_entry(pfn) else { return false };
    let page = pfn_to_page(pfn);
    page.clear_bit(PageFlags::DIRTY);
    super::filemap::set_page_writeback(page);
    mod_node_page_state(pfn, NodeStatItem::NrWriteback, 1);
    get_page(pfn); // for the I/O
    let started = swapfile::swap_writepage(pfn, e, move |ok| {
        let page = pfn_to_page(pfn);
        if !ok {
            // The slot is bad: the page stays dirty, to be written again.
            page.set_bit(PageFlags::DIRTY);
        }
        mod_node_page_state(pfn, NodeStatItem::NrWriteback, -1);
        super::filemap::end_page_writeback(page);
        if ok {
            super::swap::rotate_reclaimable_page(pfn);
        }
        put_page(pfn);
    });
    if started.is_err() {
        page.set_bit(PageFlags::DIRTY);
        mod_node_page_state(pfn, NodeStatItem::NrWriteback, -1);
        super::filemap::end_page_writeback(page);
        put_page(pfn);
        return false;
    }
    true
}

/// Frees the locked swap-cache page `pfn` if nothing but the cache and the
/// caller hold it: clean, not under writeback, unmapped (Linux:
/// __remove_mapping for a swap-cache folio). The slot keeps the data for
/// the PTEs that hold its entry.
pub fn remove_swap_mapping(pfn: usize) -> bool {
    let page = pfn_to_page(pfn);
    if page.test(PageFlags::DIRTY) || page.test(PageFlags::WRITEBACK) || page.page_mapcount() > 0 {
        return false;
    }
    let Some(e) = page_swap_entry(pfn) else { return false };
    let Some(si) = swapfile::swap_info(e.swp_type) else { return false };
    {
        let mut map = si.map.lock();
        // Lookups take their reference under this lock: two references
        // (the cache's and the caller's) mean nobody else has it.
        if page.page_ref_count() != 2 || !map.cache_clear(e.offset as usize, pfn) {
            return false;
        }
    }
    swap_cache_gone(pfn, e);
    true
}

/// The page for `e`, from the swap cache or read from the device, with a
/// reference for the caller; the second value says whether a read was
/// started (a major fault). A page being read is locked until the read
/// ends (Linux: __read_swap_cache_async + swap_readpage). ENOENT if the
/// entry was freed meanwhile (the PTE changed), ENOMEM without a page.
pub fn read_swap_cache_async(e: SwpEntry) -> KResult<(usize, bool)> {
    loop {
        if let Some(pfn) = lookup_swap_cache(e) {
            return Ok((pfn, false));
        }
        match swapfile::swapcache_prepare(e) {
            Ok(()) => break,
            // Another task is putting the page in: wait for it to land.
            Err(Errno::EEXIST) => crate::sched::yield_now(),
            Err(err) => return Err(err),
        }
    }
    let Some(si) = swapfile::swap_info(e.swp_type) else { return Err(Errno::ENOENT) };
    let Ok(pfn) = alloc_pages(Gfp::GFP_HIGHUSER_MOVABLE, 0) else {
        swapfile::swapcache_free(e);
        return Err(Errno::ENOMEM);
    };
    let page = pfn_to_page(pfn);
    let locked = trylock_page(page);
    debug_assert!(locked, "a new page is unlocked");
    if let Err(err) = add_to_swap_cache(&si, pfn, e) {
        unlock_page(page);
        put_page(pfn);
        swapfile::swapcache_free(e);
        return Err(err);
    }
    super::swap::lru_cache_add(pfn);
    get_page(pfn); // for the I/O
    let r = swapfile::swap_readpage(pfn, e, move |ok| {
        let page = pfn_to_page(pfn);
        if ok {
            page.set_bit(PageFlags::UPTODATE);
        }
        unlock_page(page);
        put_page(pfn);
    });
    if r.is_err() {
        put_page(pfn);
        unlock_page(page);
    }
    Ok((pfn, true))
}

/// Starts reading the slots around `e` that are in use, 2^page_cluster of
/// them aligned, so that a process reading back what it swapped out in
/// order finds its next pages on the way (Linux: swap_cluster_readahead).
/// Returns the page for `e` itself, as read_swap_cache_async does.
pub fn swap_cluster_readahead(e: SwpEntry) -> KResult<(usize, bool)> {
    let window = 1u64 << PAGE_CLUSTER.load(Relaxed).min(5);
    if window > 1 {
        let start = (e.offset & !(window - 1)).max(1);
        for off in (start..start + window).filter(|&o| o != e.offset) {
            let near = SwpEntry { swp_type: e.swp_type, offset: off };
            if swapfile::swap_count(near) == 0 {
                continue; // free, or a header or bad slot
            }
            if let Ok((pfn, _)) = read_swap_cache_async(near) {
                put_page(pfn);
            }
        }
    }
    read_swap_cache_async(e)
}

/// A PTE that held `e` is gone (zap): one use less, and if only the swap
/// cache holds the slot and nobody uses its page, the page goes too
/// (Linux: free_swap_and_cache -> __try_to_reclaim_swap).
pub fn free_swap_and_cache(e: SwpEntry) {
    swapfile::swap_free(e);
    if !swapfile::swap_has_cache_only(e) {
        return;
    }
    let Some(pfn) = lookup_swap_cache(e) else { return };
    let page = pfn_to_page(pfn);
    if trylock_page(page) {
        if page.page_mapcount() == 0 && !page.test(PageFlags::WRITEBACK) && page_swap_entry(pfn) == Some(e) {
            delete_from_swap_cache(pfn);
        }
        unlock_page(page);
    }
    put_page(pfn);
}

/// Drops an unmapped page's reference; a page in the swap cache that no
/// PTE maps any more and whose slot no PTE holds leaves the cache first
/// (Linux: free_page_and_swap_cache, from tlb_finish_mmu).
pub fn free_page_and_swap_cache(pfn: usize) {
    let page = pfn_to_page(pfn);
    if page.test(PageFlags::SWAPCACHE) && page.page_mapcount() == 0 && trylock_page(page) {
        try_free_swap(pfn);
        unlock_page(page);
    }
    put_page(pfn);
}

/// Whether the swap space is more than half used (Linux: vm_swap_full):
/// then a page read back gives up its slot at once.
pub fn vm_swap_full() -> bool {
    swapfile::nr_swap_pages() * 2 < swapfile::total_swap_pages()
}

/// If the locked page `pfn` is in the swap cache and no PTE holds its
/// slot any more, takes it out, freeing the slot (Linux:
/// folio_free_swap). True if it did.
pub fn try_free_swap(pfn: usize) -> bool {
    let Some(e) = page_swap_entry(pfn) else { return false };
    let page = pfn_to_page(pfn);
    if page.test(PageFlags::WRITEBACK) || swapfile::swap_count(e) > 0 {
        return false;
    }
    delete_from_swap_cache(pfn);
    true
}

/// Waits for the page of a swap-in to be read, and checks it (Linux: the
/// folio_lock_or_retry and PageUptodate checks of do_swap_page).
pub fn lock_swapin_page(pfn: usize) -> bool {
    let page = pfn_to_page(pfn);
    lock_page(page);
    if page.test(PageFlags::UPTODATE) {
        true
    } else {
        unlock_page(page);
        false
    }
}

/// Brings every page of `si` back into memory and points each PTE that
/// held its swap entry at it (Linux: try_to_unuse -> unuse_mm over every
/// address space). ENOMEM if memory runs out; what was brought back stays
/// back.
pub fn try_to_unuse(si: &SwapInfo) -> KResult<()> {
    let mut from = 1;
    let mut slots = [0usize; 64];
    loop {
        let n = swapfile::used_slots(si, from, &mut slots);
        if n == 0 {
            return Ok(());
        }
        for &slot in &slots[..n] {
            let e = SwpEntry::new(si.ty, slot as u64);
            let (pfn, _) = match read_swap_cache_async(e) {
                Ok(p) => p,
                Err(Errno::ENOENT) => continue, // freed meanwhile
                Err(err) => return Err(err),
            };
            if !lock_swapin_page(pfn) {
                put_page(pfn);
                return Err(Errno::EIO);
            }
            let r = unuse_all_mms(e, pfn);
            if r.is_ok() {
                // No PTE holds the slot now: the page leaves the swap
                // cache and is an ordinary anonymous page.
                pfn_to_page(pfn).set_bit(PageFlags::DIRTY);
                delete_from_swap_cache(pfn);
            }
            unlock_page(pfn_to_page(pfn));
            put_page(pfn);
            r?;
            if crate::sched::with_current(crate::sched::fatal_signal_pending).unwrap_or(false) {
                return Err(Errno::EINTR);
            }
        }
        from = slots[n - 1] + 1;
    }
}

/// Points every PTE of every address space that holds `e` at the locked
/// page `pfn` (Linux: unuse_mm -> unuse_pte).
fn unuse_all_mms(e: SwpEntry, pfn: usize) -> KResult<()> {
    let mut i = 0;
    let mut result = Ok(());
    while let Some(t) = crate::sched::nth_task(i) {
        i += 1;
        if t.is_kthread() || !t.signal.first_thread_is(&t) {
            continue;
        }
        let Some(mm) = t.mm() else { continue };
        if let Err(err) = unuse_mm(&mm, e, pfn) {
            result = Err(err);
        }
    }
    result
}

fn unuse_mm(mm: &MmStruct, e: SwpEntry, pfn: usize) -> KResult<()> {
    let map = mm.mmap_lock.read();
    let want = Pte::from_swp_entry(e);
    for id in map.vmas.iter() {
        let (start, end) = map.vmas.range(id);
        let Some(vma) = map.vmas.get(id) else { continue };
        if vma.vm_file.is_some() && vma.flags.contains(super::vma::VmFlags::SHARED) {
            continue; // shmem keeps its swap entries in its own index
        }
        let anon_vma = super::rmap::anon_vma_prepare(mm, vma)?;
        let prot = super::memory::vm_page_prot(vma.flags);
        mm.with_page_table(|pt| {
            pt.for_each_pte_slot(start, end, |pt, va, slot| {
                if pt.ptep_get(slot) != want {
                    return;
                }
                get_page(pfn);
                pt.set_pte(slot, Pte::pfn_pte(pfn, prot).pte_mkold());
                super::rmap::page_add_anon_rmap(
                    pfn,
                    &anon_vma,
                    super::rmap::linear_page_index(vma, start, va),
                );
                mm.add_mm_counter(MM_ANONPAGES, 1);
                mm.add_mm_counter(MM_SWAPENTS, -1);
                swapfile::swap_free(e);
            })
        });
    }
    Ok(())
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use crate::mm::memory::{handle_mm_fault, Handled};
    use crate::mm::page_alloc::{global_node_page_state, page_address};
    use crate::mm::vma::VmFlags;
    use crate::mm::vmscan::{deactivate_whole_list, reclaim_whole_list};
    use pagoda_mm::lru::LruList;

    const A: usize = 0x7000_0000;
    const N: usize = 16;

    fn pte_at(mm: &MmStruct, addr: usize) -> Pte {
        mm.with_page_table(|pt| pt.pte_offset(addr).map_or(Pte::NONE, |s| pt.ptep_get(s)))
    }

    /// The first byte of every 512 of the page mapped at `addr`.
    fn bytes_at(mm: &MmStruct, addr: usize) -> [u8; 8] {
        let pfn = pte_at(mm, addr).pte_pfn();
        // SAFETY: a page mapped by `mm`, read through the linear map.
        let p = unsafe { core::slice::from_raw_parts(page_address(pfn) as *const u8, 4096) };
        core::array::from_fn(|i| p[i * 512])
    }

    fn pattern(i: usize) -> [u8; 8] {
        core::array::from_fn(|k| (i * 8 + k) as u8 ^ 0x5a)
    }

    /// Reclaim passes over the anonymous lists until every page of `mm` at
    /// A is out and freed, waiting for the writes between passes. (Shared by two
    /// young PTEs, the pages are activated by the first look.)
    fn swap_all_out(mm: &MmStruct) {
        for _ in 0..6 {
            deactivate_whole_list(LruList::ActiveAnon);
            reclaim_whole_list(LruList::InactiveAnon);
            for _ in 0..200 {
                if global_node_page_state(NodeStatItem::NrWriteback) == 0 {
                    break;
                }
                crate::kernel::timer::msleep(5);
            }
            if (0..N).all(|i| pte_at(mm, A + i * 4096).is_swap_pte())
                && global_node_page_state(NodeStatItem::NrSwapcache) == 0
            {
                return;
            }
        }
    }

    /// The seeds' swap story: pages written by a process, shared with a
    /// forked child, are written to the swap disk and freed, both PTEs
    /// holding the swap entry (count 2); the parent reads them back intact
    /// (major faults, the slot keeps the child's count); the child's write
    /// gets it a copy of its own; when both exit every slot is free again.
    #[ktest]
    fn anonymous_pages_go_to_swap_and_back_shared_by_fork() {
        use crate::mm::mm_types::{MM_ANONPAGES, MM_SWAPENTS};
        swapfile::do_swapon("/dev/vde", 0).expect("tests/ktest.sh attaches a swap disk as vde");
        let free_swap = swapfile::nr_swap_pages();
        let parent = MmStruct::alloc().unwrap();
        parent.mmget();
        let rw = VmFlags::READ | VmFlags::WRITE | VmFlags::MAYREAD | VmFlags::MAYWRITE;
        parent.mmap_lock.write().insert(A, A + N * 4096, rw).unwrap();
        for i in 0..N {
            handle_mm_fault(&parent, A + i * 4096, true, false).unwrap();
            let pfn = pte_at(&parent, A + i * 4096).pte_pfn();
            // SAFETY: the page just faulted in for `parent`, nobody else's.
            let p = unsafe { core::slice::from_raw_parts_mut(page_address(pfn) as *mut u8, 4096) };
            for (k, b) in pattern(i).iter().enumerate() {
                p[k * 512] = *b;
            }
        }
        let child = crate::mm::fork::dup_mmap(&parent).unwrap();
        crate::mm::swap::lru_add_drain_all();
        let out = swapfile::PSWPOUT.load(Relaxed);
        swap_all_out(&parent);
        for mm in [&parent, &child] {
            for i in 0..N {
                assert!(pte_at(mm, A + i * 4096).is_swap_pte(), "page {i} is out");
            }
            assert_eq!((mm.get_mm_counter(MM_ANONPAGES), mm.get_mm_counter(MM_SWAPENTS)), (0, N));
        }
        let e0 = pte_at(&parent, A).to_swp_entry().unwrap();
        assert_eq!(pte_at(&child, A).to_swp_entry(), Some(e0), "one slot for both");
        assert_eq!(swapfile::swap_count(e0), 2);
        assert_eq!(swapfile::PSWPOUT.load(Relaxed) - out, N, "each page written once");
        assert_eq!(swapfile::nr_swap_pages(), free_swap - N);
        assert_eq!(global_node_page_state(NodeStatItem::NrSwapcache), 0, "written and freed");

        // The parent reads them back: the first fault reads (with its
        // neighbours: readahead), data intact, the child's count stays.
        let first = handle_mm_fault(&parent, A, false, false).unwrap();
        assert_eq!(first, Handled::SwapIn, "a major fault");
        for i in 0..N {
            if i > 0 {
                handle_mm_fault(&parent, A + i * 4096, false, false).unwrap();
            }
            assert_eq!(bytes_at(&parent, A + i * 4096), pattern(i), "page {i} came back intact");
        }
        assert_eq!(swapfile::swap_count(e0), 1, "the child's PTE still holds the slot");
        assert_eq!(parent.get_mm_counter(MM_SWAPENTS), 0);
        // The child writes: its own copy, with the data it shared.
        handle_mm_fault(&child, A, true, false).unwrap();
        let (pp, cp) = (pte_at(&parent, A), pte_at(&child, A));
        assert!(cp.pte_present() && cp.pte_write() && cp.pte_pfn() != pp.pte_pfn(), "the child's copy");
        assert_eq!(bytes_at(&child, A), pattern(0));
        assert_eq!(swapfile::swap_count(e0), 0);
        child.mmput();
        parent.mmput();
        assert_eq!(swapfile::nr_swap_pages(), free_swap, "every slot free again");
        assert_eq!(global_node_page_state(NodeStatItem::NrSwapcache), 0);
        swapfile::do_swapoff("/dev/vde").unwrap();
        assert_eq!(swapfile::total_swap_pages(), 0);
    }

    /// mlocked memory is never swapped: reclaim passes over pages of a
    /// VM_LOCKED VMA leave every one of them mapped, and write none out,
    /// while the same pages unlocked go.
    #[ktest]
    fn mlocked_pages_are_never_swapped() {
        use crate::mm::mm_types::MM_SWAPENTS;
        swapfile::do_swapon("/dev/vde", 0).unwrap();
        let mm = MmStruct::alloc().unwrap();
        mm.mmget();
        let rw = VmFlags::READ | VmFlags::WRITE | VmFlags::MAYREAD | VmFlags::MAYWRITE;
        mm.mmap_lock.write().insert(A, A + N * 4096, rw | VmFlags::LOCKED).unwrap();
        for i in 0..N {
            handle_mm_fault(&mm, A + i * 4096, true, false).unwrap();
        }
        crate::mm::swap::lru_add_drain_all();
        let out = swapfile::PSWPOUT.load(Relaxed);
        for _ in 0..4 {
            deactivate_whole_list(LruList::ActiveAnon);
            reclaim_whole_list(LruList::InactiveAnon);
        }
        assert!((0..N).all(|i| pte_at(&mm, A + i * 4096).pte_present()), "a locked page was unmapped");
        assert_eq!(swapfile::PSWPOUT.load(Relaxed), out, "a locked page was written out");
        assert_eq!(mm.get_mm_counter(MM_SWAPENTS), 0);
        // munlock: the same pages may go now.
        crate::mm::mmap::change_vma_flags(
            &mut mm.mmap_lock.write(),
            A,
            A + N * 4096,
            |f| f - VmFlags::LOCKED,
            |_, _, _| {},
        )
        .unwrap();
        swap_all_out(&mm);
        assert_eq!(mm.get_mm_counter(MM_SWAPENTS), N, "unlocked, they are swapped");
        mm.mmput();
        swapfile::do_swapoff("/dev/vde").unwrap();
    }
}
