//! Page reclaim (Linux: mm/vmscan.c shrink_node, shrink_active_list,
//! shrink_inactive_list, shrink_folio_list, folio_referenced,
//! __remove_mapping, try_to_free_pages; mm/rmap.c try_to_unmap for file
//! pages).
//!
//! When free memory runs low, kswapd (or an allocating task, in direct
//! reclaim) takes pages from the tail of the inactive lists and decides,
//! page by page, whether they were used since they were last looked at:
//!
//! ```text
//! shrink_node(priority)                     lists >> priority pages, swappiness split
//!   shrink_active_list   (inactive too small) active tail -> inactive head,
//!                                            unless a mapped executable page was used
//!   shrink_inactive_list: isolate from the inactive tail (with a reference)
//!     shrink_folio_list, per page:
//!       trylock; under writeback -> keep
//!       folio_referenced: young PTEs cleared through the rmap, PG_referenced
//!       page_check_references -> activate | keep | reclaim
//!       reclaim, a file page:
//!                mapped -> try_to_unmap (every PTE cleared through the rmap)
//!                dirty -> keep (the flusher writes it)
//!                __remove_mapping: out of the page cache, freed
//!       reclaim, an anonymous page (swap_state.rs):
//!                add_to_swap: a slot, the swap cache
//!                mapped -> try_to_unmap (every PTE becomes the swap entry)
//!                dirty -> pageout: written to the slot, kept until clean
//!                __remove_mapping: out of the swap cache, freed
//!     putback: the rest to the head of their lists
//! ```
//!
//! Priority runs from DEF_PRIORITY (12: scan 1/4096 of each list) down to
//! 0 (everything) until enough pages were reclaimed.
//!
//! What is reclaimed: file pages (clean ones, after unmapping them), and
//! with swap on, anonymous pages. Without swap the anonymous lists are
//! not scanned (get_scan_count's SCAN_FILE). Pages in VM_LOCKED VMAs are
//! never unmapped. Shmem pages are not swapped yet.
//!
//! Locking: pages are isolated under the node's lruvec lock and examined
//! without it, each under its page lock (trylock: a page someone holds is
//! kept for the next round). The rmap walks only *try* each address
//! space's mmap_lock (see rmap_walk_file); a contended walk keeps the page.

use super::address_space::AddressSpace;
use super::filemap::unlock_page;
use super::page_alloc::{page_allocator, pfn_to_page, put_page};
use super::swap::{add_page_to_lru, lru_add_drain_all, lru_stat_item, PGACTIVATE};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use pagoda_mm::lru::{self, LruList, PageReferences};
use pagoda_mm::page::PageFlags;
use pagoda_mm::pgtable::Pte;
use pagoda_mm::vmstat::ZoneStatItem;

/// The first, gentlest priority (Linux: DEF_PRIORITY).
pub const DEF_PRIORITY: usize = 12;
/// Pages reclaim aims for in one go (Linux: SWAP_CLUSTER_MAX).
pub const SWAP_CLUSTER_MAX: usize = 32;

/// vm.swappiness (Linux: vm_swappiness, 0..=200, default 60).
pub static SWAPPINESS: AtomicUsize = AtomicUsize::new(60);

/// vmstat events (Linux: PGSCAN_KSWAPD, PGSCAN_DIRECT, PGSTEAL_*,
/// PGREFILL, PGDEACTIVATE).
pub static PGSCAN_KSWAPD: AtomicUsize = AtomicUsize::new(0);
pub static PGSCAN_DIRECT: AtomicUsize = AtomicUsize::new(0);
pub static PGSTEAL_KSWAPD: AtomicUsize = AtomicUsize::new(0);
pub static PGSTEAL_DIRECT: AtomicUsize = AtomicUsize::new(0);
pub static PGREFILL: AtomicUsize = AtomicUsize::new(0);
pub static PGDEACTIVATE: AtomicUsize = AtomicUsize::new(0);

/// One reclaim pass's goal and tally (Linux: struct scan_control).
pub struct ScanControl {
    pub nr_to_reclaim: usize,
    pub nr_reclaimed: usize,
    pub nr_scanned: usize,
    pub priority: usize,
    /// kswapd rather than direct reclaim (for the counters).
    pub kswapd: bool,
}

impl ScanControl {
    pub fn new(nr_to_reclaim: usize, kswapd: bool) -> Self {
        ScanControl { nr_to_reclaim, nr_reclaimed: 0, nr_scanned: 0, priority: DEF_PRIORITY, kswapd }
    }

    fn count_scan(&mut self, n: usize) {
        self.nr_scanned += n;
        if self.kswapd { &PGSCAN_KSWAPD } else { &PGSCAN_DIRECT }.fetch_add(n, Relaxed);
    }

    fn count_steal(&mut self, n: usize) {
        self.nr_reclaimed += n;
        if self.kswapd { &PGSTEAL_KSWAPD } else { &PGSTEAL_DIRECT }.fetch_add(n, Relaxed);
    }
}

/// Up to SWAP_CLUSTER_MAX pages reclaim holds at once, on the stack: reclaim
/// runs when memory is short and allocates nothing (Linux threads them on a
/// list through page->lru).
pub struct PageBatch {
    pfns: [usize; SWAP_CLUSTER_MAX],
    n: usize,
}

impl PageBatch {
    fn new() -> Self {
        PageBatch { pfns: [0; SWAP_CLUSTER_MAX], n: 0 }
    }

    fn push(&mut self, pfn: usize) {
        self.pfns[self.n] = pfn;
        self.n += 1;
    }

    fn as_slice(&self) -> &[usize] {
        &self.pfns[..self.n]
    }
}

impl Extend<usize> for PageBatch {
    fn extend<I: IntoIterator<Item = usize>>(&mut self, it: I) {
        for pfn in it {
            self.push(pfn);
        }
    }
}

/// Takes up to `nr` (at most SWAP_CLUSTER_MAX) pages from the tail of `lru`
/// of node `nid`, each with a reference for reclaim; returns them and how
/// many were scanned (Linux: isolate_lru_folios). A page whose count
/// already fell to zero is being freed: it stays for its freer to take off.
fn isolate(nid: usize, l: LruList, nr: usize) -> (PageBatch, usize) {
    let node = page_allocator().node(nid).expect("an online node");
    let mut pages = PageBatch::new();
    let nr = nr.min(SWAP_CLUSTER_MAX);
    let scanned = {
        let mut lruvec = node.lruvec.lock();
        lruvec.isolate(
            super::mm_init::mem_map(),
            l,
            nr,
            |pfn| !pfn_to_page(pfn).get_page_unless_zero(),
            &mut pages,
        )
    };
    for &pfn in pages.as_slice() {
        super::page_alloc::mod_node_page_state(pfn, lru_stat_item(l), -1);
    }
    (pages, scanned)
}

/// Puts isolated pages back at the head of the list their flags now name,
/// then drops reclaim's references (Linux: move_folios_to_lru).
fn putback(pages: &[usize]) {
    for &pfn in pages {
        super::swap::with_lruvec(pfn, |l| add_page_to_lru(l, pfn));
    }
    for &pfn in pages {
        put_page(pfn);
    }
}

/// The page cache a locked file page belongs to, if any.
///
/// # Safety
/// The page must be locked: removal from a page cache, and so the end of
/// that cache, happens only under the page lock (address_space.rs).
unsafe fn page_mapping(pfn: usize) -> Option<&'static AddressSpace> {
    let page = pfn_to_page(pfn);
    let m = page.mapping();
    if m == 0 || page.page_anon() {
        return None;
    }
    // SAFETY: the caller holds the page lock, which keeps the page in its
    // cache and the cache alive.
    Some(unsafe { &*(m as *const AddressSpace) })
}

/// Whether the PTE at `address` was used since last asked: its young bit
/// (arm64's Access Flag) is cleared, with the TLB flush that makes the next
/// use set it again (Linux: ptep_clear_flush_young). Called with the
/// page-table lock held.
fn ptep_clear_flush_young(
    m: &super::mm_types::MmStruct,
    pt: &mut pagoda_mm::pgtable::PageTable<'_, crate::arch::mm::mmu::KernelPgtableMem>,
    address: usize,
) -> bool {
    let Some(slot) = pt.pte_offset(address) else { return false };
    let pte = pt.ptep_get(slot);
    if !pte.pte_present() || !pte.pte_young() {
        return false;
    }
    pt.set_pte(slot, pte.pte_mkold());
    crate::arch::mm::tlb::flush_tlb_page(m.asid(), address);
    true
}

/// How many PTEs used the file page since last asked, clearing their young
/// bits (with the TLB flush that makes the next use set it again), and
/// whether a VMA maps it executable (Linux: folio_referenced on a file
/// folio). None if an address space could not be reached.
fn page_referenced_file(mapping: &AddressSpace, pfn: usize) -> Option<(usize, bool)> {
    let (mut young, mut exec) = (0, false);
    let index = pfn_to_page(pfn).index() as usize;
    super::rmap::rmap_walk_file(mapping, index, pfn, |m, address, flags, pt| {
        young += ptep_clear_flush_young(m, pt, address) as usize;
        exec |= flags.contains(super::vma::VmFlags::EXEC);
    })
    .ok()?;
    Some((young, exec))
}

/// Unmaps the file page from every process (Linux: try_to_unmap with
/// try_to_unmap_one for a file folio): each PTE cleared, its dirt passed to
/// the page, its rmap, rss and reference dropped. False if a mapping is
/// left (an address space could not be reached).
fn try_to_unmap_file(mapping: &AddressSpace, pfn: usize) -> bool {
    let index = pfn_to_page(pfn).index() as usize;
    let _ = super::rmap::rmap_walk_file(mapping, index, pfn, |m, address, _, pt| {
        let Some(slot) = pt.pte_offset(address) else { return };
        let pte = pt.ptep_get(slot);
        if !pte.pte_present() || pte.pte_pfn() != pfn {
            return;
        }
        pt.set_pte(slot, Pte::NONE);
        crate::arch::mm::tlb::flush_tlb_page(m.asid(), address);
        if pte.pte_dirty() {
            super::page_writeback::set_page_dirty(pfn);
        }
        let kind = m.mm_counter(pfn);
        super::rmap::page_remove_rmap(pfn, false);
        m.add_mm_counter(kind, -1);
        put_page(pfn); // the PTE's reference; reclaim still holds one
    });
    pfn_to_page(pfn).page_mapcount() == 0
}

/// How many PTEs used the anonymous page since last asked, clearing their
/// young bits, and whether a VM_LOCKED VMA maps it (Linux: folio_referenced
/// on an anonymous folio). None if an address space could not be reached.
/// Called with the page locked.
fn page_referenced_anon(pfn: usize) -> Option<(usize, bool)> {
    let (mut young, mut mlocked) = (0, false);
    super::rmap::rmap_walk_anon_page(pfn, |m, address, flags, pt| {
        mlocked |= flags.contains(super::vma::VmFlags::LOCKED);
        young += ptep_clear_flush_young(m, pt, address) as usize;
    })
    .ok()?;
    Some((young, mlocked))
}

/// Reclaim of one locked anonymous or swap-cache page: the second chance
/// from its PTEs' young bits, then a swap slot, unmapping, writing out,
/// and once clean and unmapped, freeing (Linux: the anonymous branches of
/// shrink_folio_list). True if the page was freed, and so unlocked; else
/// the caller unlocks and keeps it.
fn shrink_anon_page(pfn: usize) -> bool {
    use super::swap_state::*;
    let page = pfn_to_page(pfn);
    let (young, mlocked) = if page.page_mapcount() > 0 {
        match page_referenced_anon(pfn) {
            Some(r) => r,
            None => return false,
        }
    } else {
        (0, false)
    };
    if mlocked {
        return false; // mlocked memory is never swapped
    }
    if page.page_mapcount() == 0 && !page.test(PageFlags::SWAPCACHE) {
        return false; // unmapped already: its last holder frees it
    }
    let referenced = page.test_and_clear_bit(PageFlags::REFERENCED);
    match lru::page_check_references(young, referenced, true, false) {
        PageReferences::Activate => {
            page.set_bit(PageFlags::ACTIVE);
            PGACTIVATE.fetch_add(1, Relaxed);
            return false;
        }
        PageReferences::Keep => {
            page.set_bit(PageFlags::REFERENCED);
            return false;
        }
        PageReferences::Reclaim => {}
    }
    if !page.test(PageFlags::SWAPCACHE) && !add_to_swap(pfn) {
        // Swap is full: keep it where it is used (Linux: activate_locked).
        page.set_bit(PageFlags::ACTIVE);
        return false;
    }
    let Some(e) = page_swap_entry(pfn) else { return false };
    if page.page_mapcount() > 0 && !try_to_unmap_anon(pfn, e) {
        return false;
    }
    if page.test(PageFlags::DIRTY) {
        swap_pageout(pfn); // kept until the write ends
        return false;
    }
    if !remove_swap_mapping(pfn) {
        return false;
    }
    unlock_page(page);
    put_page(pfn); // the last reference: the page is free
    true
}

/// Decides about each isolated inactive page and reclaims what it can;
/// the rest is returned for putback (Linux: shrink_folio_list).
fn shrink_folio_list(pages: &PageBatch, sc: &mut ScanControl) -> PageBatch {
    let mut keep = PageBatch::new();
    let mut reclaimed = 0;
    for &pfn in pages.as_slice() {
        let page = pfn_to_page(pfn);
        if !page.trylock() {
            keep.push(pfn);
            continue;
        }
        if page.test(PageFlags::WRITEBACK) {
            unlock_page(page);
            keep.push(pfn);
            continue;
        }
        if page.page_anon() || page.test(PageFlags::SWAPCACHE) {
            if shrink_anon_page(pfn) {
                reclaimed += 1;
            } else {
                unlock_page(page);
                keep.push(pfn);
            }
            continue;
        }
        // SAFETY: the page is locked.
        let mapping = unsafe { page_mapping(pfn) };
        let Some(mapping) = mapping else {
            // Truncated meanwhile.
            unlock_page(page);
            keep.push(pfn);
            continue;
        };
        let swapbacked = page.test(PageFlags::SWAPBACKED);
        let (ptes, exec) = if page.page_mapcount() > 0 {
            match page_referenced_file(mapping, pfn) {
                Some(r) => r,
                None => {
                    unlock_page(page);
                    keep.push(pfn);
                    continue;
                }
            }
        } else {
            (0, false)
        };
        let referenced = page.test_and_clear_bit(PageFlags::REFERENCED);
        match lru::page_check_references(ptes, referenced, swapbacked, exec) {
            PageReferences::Activate => {
                page.set_bit(PageFlags::ACTIVE);
                PGACTIVATE.fetch_add(1, Relaxed);
            }
            PageReferences::Keep => page.set_bit(PageFlags::REFERENCED),
            PageReferences::Reclaim => {
                // shmem needs swap; a mapped page goes only once unmapped
                // everywhere; a dirty one waits for the flusher.
                let freeable = !swapbacked
                    && (page.page_mapcount() == 0 || try_to_unmap_file(mapping, pfn))
                    && !page.test(PageFlags::DIRTY)
                    && mapping.remove_mapping(pfn);
                if freeable {
                    unlock_page(page);
                    put_page(pfn); // the last reference: the page is free
                    reclaimed += 1;
                    continue;
                }
                if page.test(PageFlags::DIRTY) {
                    crate::fs::fs_writeback::wakeup_flusher_threads();
                }
            }
        }
        unlock_page(page);
        keep.push(pfn);
    }
    sc.count_steal(reclaimed);
    keep
}

/// Scans `nr` pages from the tail of inactive list `l` (Linux:
/// shrink_inactive_list).
fn shrink_inactive_list(nid: usize, l: LruList, nr: usize, sc: &mut ScanControl) {
    let (pages, scanned) = isolate(nid, l, nr);
    sc.count_scan(scanned);
    let keep = shrink_folio_list(&pages, sc);
    putback(keep.as_slice());
    // A long scan must let the other tasks of this CPU run (Linux: the
    // cond_resched calls of shrink_folio_list and shrink_lruvec).
    crate::sched::cond_resched();
}

/// Moves up to `nr` pages from the tail of active list `l` to the inactive
/// list, except mapped executable pages that were used (Linux:
/// shrink_active_list).
fn shrink_active_list(nid: usize, l: LruList, nr: usize) {
    let mut left = nr;
    while left > 0 {
        let batch = left.min(SWAP_CLUSTER_MAX);
        let scanned = shrink_active_batch(nid, l, batch);
        crate::sched::cond_resched();
        if scanned == 0 {
            break;
        }
        left -= batch;
    }
}

fn shrink_active_batch(nid: usize, l: LruList, nr: usize) -> usize {
    let (pages, scanned) = isolate(nid, l, nr);
    PGREFILL.fetch_add(scanned, Relaxed);
    for &pfn in pages.as_slice() {
        let page = pfn_to_page(pfn);
        let mut keep_active = false;
        if page.page_mapcount() > 0 && page.trylock() {
            if page.page_anon() {
                // Young bits cleared, so that the page must be used again
                // on the inactive list to come back (Linux: the
                // folio_referenced of shrink_active_list).
                let _ = page_referenced_anon(pfn);
            } else if let Some(mapping) =
                // SAFETY: the page is locked.
                unsafe { page_mapping(pfn) }
            {
                keep_active =
                    page_referenced_file(mapping, pfn).is_some_and(|(young, exec)| young > 0 && exec);
            }
            unlock_page(page);
        }
        if !keep_active {
            page.clear_bit(PageFlags::ACTIVE);
            PGDEACTIVATE.fetch_add(1, Relaxed);
        }
    }
    putback(pages.as_slice());
    scanned
}

/// One pass over node `nid`'s lists at `sc.priority` (Linux: shrink_node ->
/// shrink_lruvec).
pub fn shrink_node(nid: usize, sc: &mut ScanControl) {
    lru_add_drain_all();
    let Some(node) = page_allocator().node(nid) else { return };
    let n = |l: LruList| node.vm_stat.get(lru_stat_item(l) as usize).max(0) as usize;
    let have_swap = super::swapfile::nr_swap_pages() > 0;
    let (anon, file) = lru::get_scan_count(
        n(LruList::InactiveAnon) + n(LruList::ActiveAnon),
        n(LruList::InactiveFile) + n(LruList::ActiveFile),
        sc.priority,
        SWAPPINESS.load(Relaxed),
        have_swap,
    );
    for (nr, inactive, active) in [
        (file, LruList::InactiveFile, LruList::ActiveFile),
        (anon, LruList::InactiveAnon, LruList::ActiveAnon),
    ] {
        if nr == 0 || sc.nr_reclaimed >= sc.nr_to_reclaim {
            continue;
        }
        if lru::inactive_is_low(n(inactive), n(active)) {
            shrink_active_list(nid, active, nr.max(SWAP_CLUSTER_MAX));
        }
        let mut left = nr.max(SWAP_CLUSTER_MAX.min(n(inactive)));
        while left > 0 && sc.nr_reclaimed < sc.nr_to_reclaim {
            let batch = left.min(SWAP_CLUSTER_MAX);
            shrink_inactive_list(nid, inactive, batch, sc);
            left -= batch;
        }
    }
}

/// Whether every populated zone of node `nid` has at least its high
/// watermark free (Linux: pgdat_balanced).
pub fn pgdat_balanced(nid: usize) -> bool {
    let Some(node) = page_allocator().node(nid) else { return true };
    node.populated_zones().all(|z| z.zone_page_state(ZoneStatItem::NrFreePages) >= z.high_wmark_pages())
}

/// Pages node `nid` lacks to be balanced.
fn pgdat_shortfall(nid: usize) -> usize {
    let Some(node) = page_allocator().node(nid) else { return 0 };
    node.populated_zones()
        .map(|z| z.high_wmark_pages().saturating_sub(z.zone_page_state(ZoneStatItem::NrFreePages)))
        .sum()
}

/// kswapd's work on node `nid`: reclaim until the node is balanced,
/// raising the pressure one priority at a time (Linux: balance_pgdat).
/// Returns the pages reclaimed.
pub fn balance_pgdat(nid: usize) -> usize {
    let mut sc = ScanControl::new(0, true);
    for priority in (0..=DEF_PRIORITY).rev() {
        if pgdat_balanced(nid) {
            break;
        }
        sc.priority = priority;
        sc.nr_to_reclaim = sc.nr_reclaimed + pgdat_shortfall(nid).max(SWAP_CLUSTER_MAX);
        shrink_node(nid, &mut sc);
        if TRACE_RECLAIM.load(Relaxed) {
            log::info!(
                "kswapd{nid}: priority {priority}: scanned {}, reclaimed {}",
                sc.nr_scanned,
                sc.nr_reclaimed
            );
        }
    }
    sc.nr_reclaimed
}

/// An allocation that may sleep found too little free memory: reclaim at
/// least SWAP_CLUSTER_MAX pages from every node itself before it retries
/// (Linux: __alloc_pages_direct_reclaim -> try_to_free_pages ->
/// do_try_to_free_pages). The allocator counts the stall (allocstall).
pub fn try_to_free_pages(_gfp: pagoda_mm::gfp::Gfp, order: usize) -> usize {
    // Reclaim allocates too (its page lists, a bio): those allocations must
    // not reclaim again (Linux: PF_MEMALLOC, which also lets them use the
    // reserves below the min watermark).
    let Some(me) = crate::sched::current() else { return 0 };
    if me.set_memalloc(true) {
        return 0; // already reclaiming: this is such an allocation
    }
    let reclaimed = do_try_to_free_pages(order);
    me.set_memalloc(false);
    reclaimed
}

fn do_try_to_free_pages(order: usize) -> usize {
    let mut sc = ScanControl::new(SWAP_CLUSTER_MAX << order, false);
    for priority in (0..=DEF_PRIORITY).rev() {
        sc.priority = priority;
        for node in page_allocator().online_nodes() {
            shrink_node(node.node_id, &mut sc);
        }
        if TRACE_RECLAIM.load(Relaxed) {
            log::info!(
                "direct reclaim: priority {priority}: scanned {}, reclaimed {}",
                sc.nr_scanned,
                sc.nr_reclaimed
            );
        }
        if sc.nr_reclaimed >= sc.nr_to_reclaim {
            break;
        }
    }
    // Nothing freed, but pages are on their way to the disk: wait a little
    // for them and call it progress, so the allocator retries rather than
    // kill (Linux: reclaim_throttle(VMSCAN_THROTTLE_WRITEBACK), and
    // should_reclaim_retry counting pages under writeback).
    if sc.nr_reclaimed == 0
        && super::page_alloc::global_node_page_state(pagoda_mm::vmstat::NodeStatItem::NrWriteback) > 0
    {
        crate::kernel::timer::msleep(10);
        return 1;
    }
    sc.nr_reclaimed
}

/// Runs `f` with PF_MEMALLOC set, so that its allocations do not reclaim
/// (Linux: memalloc_noreclaim_save/restore): for allocating under a lock
/// that reclaim may need, as the page cache does under its index lock.
pub fn memalloc_noreclaim<R>(f: impl FnOnce() -> R) -> R {
    let me = crate::sched::current();
    let was = me.as_ref().is_some_and(|t| t.set_memalloc(true));
    let r = f();
    if let (Some(t), false) = (me, was) {
        t.set_memalloc(false);
    }
    r
}

/// `trace_reclaim` on the command line logs every reclaim pass.
pub static TRACE_RECLAIM: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Reads `trace_reclaim` from the command line, at boot.
pub fn reclaim_init(cmdline: &str) {
    if pagoda_klib::cmdline::has(cmdline, "trace_reclaim") {
        TRACE_RECLAIM.store(true, Relaxed);
        log::info!("trace_reclaim: every reclaim pass is logged");
    }
}

/// Looks at every page of node 0's inactive list `l` once, at priority 0;
/// returns the pages reclaimed (for the tests of reclaim and swap).
#[cfg(feature = "ktest")]
pub fn reclaim_whole_list(l: LruList) -> usize {
    let mut sc = ScanControl::new(usize::MAX, false);
    sc.priority = 0;
    let mut left = page_allocator().node(0).unwrap().vm_stat.get(lru_stat_item(l) as usize).max(0) as usize;
    while left > 0 {
        shrink_inactive_list(0, l, left.min(SWAP_CLUSTER_MAX), &mut sc);
        left = left.saturating_sub(SWAP_CLUSTER_MAX);
    }
    sc.nr_reclaimed
}

/// Moves every page of node 0's active list `l` to the inactive one
/// (shrink_active_list over all of it), for the tests.
#[cfg(feature = "ktest")]
pub fn deactivate_whole_list(l: LruList) {
    let n = page_allocator().node(0).unwrap().vm_stat.get(lru_stat_item(l) as usize).max(0) as usize;
    shrink_active_list(0, l, n);
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::block::lookup_bdev;
    use crate::debug::ktest::ktest;
    use crate::mm::filemap::filemap_get_page;
    use crate::mm::memory::handle_mm_fault;
    use crate::mm::mm_types::MmStruct;
    use crate::mm::vma::VmFlags;
    use pagoda_mm::readahead::RaState;

    /// Pages [first, first + n) of vda in its page cache, clean and
    /// unmapped, on the inactive file list.
    fn cache_vda(first: usize, n: usize) -> &'static crate::block::BlockDevice {
        let bdev = lookup_bdev("vda").expect("tests/ktest.sh attaches vda");
        let mut ra = RaState { random: true, ..RaState::default() };
        for i in first..first + n {
            let (pfn, _) = filemap_get_page(bdev, &mut ra, i, 1).unwrap();
            put_page(pfn);
        }
        lru_add_drain_all();
        bdev
    }

    fn cached(bdev: &crate::block::BlockDevice, i: usize) -> bool {
        bdev.mapping.find_get_page(i).map(put_page).is_some()
    }

    /// Reclaims from node 0's inactive file list until the pages of vda at
    /// `pages` have all been looked at (they are the oldest).
    fn reclaim_pass() -> ScanControl {
        let mut sc = ScanControl::new(usize::MAX, false);
        sc.nr_reclaimed = reclaim_whole_list(LruList::InactiveFile);
        sc
    }

    #[ktest]
    fn clean_unused_file_pages_are_reclaimed_and_active_ones_stay() {
        let (first, n) = (900, 64);
        let bdev = cache_vda(first, n);
        // Page first+1 was used twice: active, out of the inactive scan.
        let hot = bdev.mapping.find_get_page(first + 1).unwrap();
        crate::mm::swap::mark_page_accessed(hot);
        crate::mm::swap::mark_page_accessed(hot);
        put_page(hot);
        let steal = PGSTEAL_DIRECT.load(Relaxed);
        let free = crate::mm::page_alloc::mem_free_pages();
        let sc = reclaim_pass();
        assert!(sc.nr_reclaimed >= n - 1, "reclaimed {} of {}", sc.nr_reclaimed, n - 1);
        assert_eq!(PGSTEAL_DIRECT.load(Relaxed) - steal, sc.nr_reclaimed);
        assert!(crate::mm::page_alloc::mem_free_pages() >= free + n - 1);
        for i in first..first + n {
            assert_eq!(cached(bdev, i), i == first + 1, "page {i}");
        }
        // The survivor reads back intact, and a reclaimed page comes back
        // from the disk when wanted again.
        let (pfn, read) = filemap_get_page(bdev, &mut RaState::default(), first + 2, 1).unwrap();
        assert!(read, "a reclaimed page is read from the disk again");
        // SAFETY: an up-to-date cached page we hold a reference to.
        let head =
            unsafe { core::slice::from_raw_parts(crate::mm::page_alloc::page_address(pfn) as *const u8, 11) };
        assert_eq!(head, b"sector 7216", "page 902 begins with sector 7216");
        put_page(pfn);
        bdev.mapping.invalidate_mapping_pages(first, first + n);
    }

    /// A mapped page gets its second chance from the access flag: the first
    /// scan finds its PTE young (clears it) and keeps it; untouched till the
    /// second scan, it is unmapped and reclaimed; touched again, activated.
    #[ktest]
    fn mapped_file_pages_get_a_second_chance_from_the_access_flag() {
        const A: usize = 0x6000_0000;
        let (first, n) = (980, 8);
        let bdev = cache_vda(first, n);
        let inode = crate::fs::namei::kern_path("/dev/vda").unwrap().inode().clone();
        let mm = MmStruct::alloc().unwrap();
        mm.mmget();
        let flags = VmFlags::READ | VmFlags::MAYREAD | VmFlags::SHARED | VmFlags::MAYSHARE;
        let vma = crate::block::bdev_mmap(&mm, flags, inode, first, "/dev/vda").unwrap();
        mm.mmap_lock.write().insert_vma(A, A + n * 4096, vma).unwrap();
        for i in 0..n {
            handle_mm_fault(&mm, A + i * 4096, false, false).unwrap();
        }
        let rss = || mm.get_mm_counter(crate::mm::mm_types::MM_FILEPAGES);
        assert_eq!(rss(), n);
        // Scan 1: every PTE young -> kept (PG_referenced), young bits cleared.
        reclaim_pass();
        assert!((first..first + n).all(|i| cached(bdev, i)), "young pages were reclaimed");
        // Page 0 is used again before scan 2; the others are not.
        handle_mm_fault(&mm, A, false, false).unwrap();
        mm.with_page_table(|pt| {
            let slot = pt.pte_offset(A).unwrap();
            let pte = pt.ptep_get(slot);
            pt.set_pte(slot, pte.pte_mkyoung()); // the MMU's access flag
        });
        let sc = reclaim_pass();
        assert!(sc.nr_reclaimed >= n - 1);
        assert!(cached(bdev, first), "used twice: activated");
        let page0 = bdev.mapping.find_get_page(first).unwrap();
        assert!(pfn_to_page(page0).test(PageFlags::ACTIVE));
        put_page(page0);
        for i in 1..n {
            assert!(!cached(bdev, first + i), "page {i} unused since scan 1: reclaimed");
            assert!(mm.with_page_table(|pt| pt.translate(A + i * 4096)).is_none(), "and unmapped");
        }
        assert_eq!(rss(), 1, "the unmapped pages left the rss");
        // A reclaimed page faults back in, from the disk (a major fault).
        assert_eq!(
            handle_mm_fault(&mm, A + 4096, false, false).unwrap(),
            crate::mm::memory::Handled::SharedMajor
        );
        mm.mmput();
        bdev.mapping.invalidate_mapping_pages(first, first + n);
    }
}
