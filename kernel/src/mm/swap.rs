//! How pages get onto the LRU lists and move between them (Linux:
//! mm/swap.c, which despite its name is about the LRU: folio_add_lru with
//! the per-CPU lru_add batch, lru_add_drain, folio_mark_accessed,
//! folio_activate, and the LRU part of __folio_put).
//!
//! A new anonymous page or a page entering a page cache is not put on its
//! list at once: it goes into this CPU's batch of 15 (Linux's folio_batch,
//! PAGEVEC_SIZE), which holds a reference to it, and a full batch is added
//! under the node's lru_lock in one go, so the lock is taken once per 15
//! pages. Reclaim and the tests drain the batches first
//! (`lru_add_drain_all`), as Linux does.
//!
//! A page whose last reference goes while it is on a list leaves the list
//! on its way to the allocator (`lru_del_freed`).
//!
//! Locking: the node's `lruvec` lock (Linux: lruvec->lru_lock) guards the
//! lists, the pages' `lru` links and their PG_lru, PG_active and
//! PG_unevictable bits. It is a leaf: nothing else is taken under it.

use super::page_alloc::{get_page, mod_node_page_state, page_allocator, pfn_to_page, put_page};
use crate::kernel::percpu::{smp_processor_id, NR_CPUS};
use crate::sync::SpinLockIrq;
use pagoda_mm::lru::{LruList, Lruvec};
use pagoda_mm::page::PageFlags;
use pagoda_mm::vmstat::NodeStatItem;

/// Pages per batch (Linux: PAGEVEC_SIZE).
const LRU_BATCH: usize = 15;

struct Batch {
    pfns: [usize; LRU_BATCH],
    n: usize,
}

static LRU_ADD: [SpinLockIrq<Batch>; NR_CPUS] =
    [const { SpinLockIrq::new(Batch { pfns: [0; LRU_BATCH], n: 0 }) }; NR_CPUS];

/// The node counter of each list (Linux: NR_LRU_BASE + lru).
pub fn lru_stat_item(lru: LruList) -> NodeStatItem {
    match lru {
        LruList::InactiveAnon => NodeStatItem::NrInactiveAnon,
        LruList::ActiveAnon => NodeStatItem::NrActiveAnon,
        LruList::InactiveFile => NodeStatItem::NrInactiveFile,
        LruList::ActiveFile => NodeStatItem::NrActiveFile,
        LruList::Unevictable => NodeStatItem::NrUnevictable,
    }
}

/// Runs `f` with the lruvec of `pfn`'s node locked.
pub fn with_lruvec<R>(pfn: usize, f: impl FnOnce(&mut Lruvec) -> R) -> R {
    let nid = pfn_to_page(pfn).nid();
    let node = page_allocator().node(nid).expect("a page of an offline node");
    f(&mut node.lruvec.lock())
}

/// Puts a page on the list its flags say, counting it (Linux:
/// lruvec_add_folio). Called with the lruvec locked.
pub fn add_page_to_lru(lruvec: &mut Lruvec, pfn: usize) {
    let page = pfn_to_page(pfn);
    let lru = if page.test(PageFlags::MLOCKED) {
        LruList::Unevictable
    } else {
        LruList::of(!page.test(PageFlags::SWAPBACKED), page.test(PageFlags::ACTIVE))
    };
    lruvec.add(super::mm_init::mem_map(), pfn, lru);
    mod_node_page_state(pfn, lru_stat_item(lru), 1);
}

/// Takes a page off its list, uncounting it (Linux: lruvec_del_folio).
/// Called with the lruvec locked; the page must be on a list.
pub fn del_page_from_lru(lruvec: &mut Lruvec, pfn: usize) -> LruList {
    let lru = lruvec.del(super::mm_init::mem_map(), pfn);
    mod_node_page_state(pfn, lru_stat_item(lru), -1);
    lru
}

/// Adds the batch's pages to their lists and drops the batch's references.
fn drain(b: &mut Batch) -> ([usize; LRU_BATCH], usize) {
    let n = core::mem::replace(&mut b.n, 0);
    (b.pfns, n)
}

fn add_batch(pfns: &[usize]) {
    for &pfn in pfns {
        with_lruvec(pfn, |l| add_page_to_lru(l, pfn));
    }
    for &pfn in pfns {
        // The batch's reference: if it was the last, the page leaves the
        // list again on its way out.
        put_page(pfn);
    }
}

/// Queues a new page for its LRU list (Linux: folio_add_lru). Anonymous
/// and shmem pages must have PG_swapbacked set first.
pub fn lru_cache_add(pfn: usize) {
    get_page(pfn);
    let full = {
        let mut b = LRU_ADD[smp_processor_id() % NR_CPUS].lock();
        let n = b.n;
        b.pfns[n] = pfn;
        b.n += 1;
        (b.n == LRU_BATCH).then(|| drain(&mut b))
    };
    if let Some((pfns, n)) = full {
        add_batch(&pfns[..n]);
    }
}

/// Empties this CPU's batch onto the lists (Linux: lru_add_drain).
pub fn lru_add_drain() {
    lru_add_drain_cpu(smp_processor_id() % NR_CPUS);
}

fn lru_add_drain_cpu(cpu: usize) {
    let (pfns, n) = drain(&mut LRU_ADD[cpu].lock());
    add_batch(&pfns[..n]);
}

/// Empties every CPU's batch (Linux: lru_add_drain_all, which asks each
/// CPU; here each batch has its own lock, so this CPU can do it).
pub fn lru_add_drain_all() {
    for cpu in 0..NR_CPUS {
        lru_add_drain_cpu(cpu);
    }
}

/// A page whose last reference went: off its list (Linux: the
/// __page_cache_release step of __folio_put). Nobody can isolate it now,
/// as isolation takes a reference first.
pub fn lru_del_freed(pfn: usize) {
    with_lruvec(pfn, |l| {
        if pfn_to_page(pfn).test(PageFlags::LRU) {
            del_page_from_lru(l, pfn);
        }
    });
}

/// Pages activated by mark_page_accessed (vmstat pgactivate counts these
/// and reclaim's activations).
pub static PGACTIVATE: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// A read() or write() used this page-cache page (Linux:
/// folio_mark_accessed): the first use sets PG_referenced, the second
/// moves an inactive page to the active list.
pub fn mark_page_accessed(pfn: usize) {
    let page = pfn_to_page(pfn);
    let (referenced, activate) = pagoda_mm::lru::mark_accessed(
        page.test(PageFlags::REFERENCED),
        page.test(PageFlags::ACTIVE),
        page.test(PageFlags::LRU),
    );
    if activate {
        with_lruvec(pfn, |l| {
            let p = pfn_to_page(pfn);
            // Re-checked under the lock: reclaim may have isolated it.
            if p.test(PageFlags::LRU) && !p.test(PageFlags::ACTIVE) && !p.test(PageFlags::UNEVICTABLE) {
                let from = del_page_from_lru(l, pfn);
                p.set_bit(PageFlags::ACTIVE);
                add_page_to_lru(l, pfn);
                debug_assert_eq!(from.toggled(), Lruvec::list_of(super::mm_init::mem_map(), pfn));
                PGACTIVATE.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    if referenced {
        page.set_bit(PageFlags::REFERENCED);
    } else {
        page.clear_bit(PageFlags::REFERENCED);
    }
}

/// A page written out for reclaim is clean now: to the tail of its
/// inactive list, so the next scan frees it rather than a full lap later
/// (Linux: folio_rotate_reclaimable). Safe in interrupt context.
pub fn rotate_reclaimable_page(pfn: usize) {
    with_lruvec(pfn, |l| {
        let p = pfn_to_page(pfn);
        // Re-checked under the lock: reclaim may hold it isolated.
        if p.test(PageFlags::LRU) && !p.test(PageFlags::ACTIVE) && !p.test(PageFlags::UNEVICTABLE) {
            l.rotate_to_tail(super::mm_init::mem_map(), pfn);
        }
    });
}

/// The pages on each list of node `nid`, counted by walking them (for
/// checks against the counters).
pub fn lru_walk_counts(nid: usize) -> [usize; pagoda_mm::lru::NR_LRU_LISTS] {
    let node = page_allocator().node(nid).expect("an online node");
    let l = node.lruvec.lock();
    LruList::ALL.map(|lru| l.iter(super::mm_init::mem_map(), lru).count())
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use crate::mm::memory::handle_mm_fault;
    use crate::mm::mm_types::MmStruct;
    use crate::mm::page_alloc::global_node_page_state;
    use crate::mm::vma::VmFlags;

    const A: usize = 0x5000_0000;
    const PAGES: usize = 32;

    fn lists() -> [usize; pagoda_mm::lru::NR_LRU_LISTS] {
        LruList::ALL.map(|l| global_node_page_state(lru_stat_item(l)))
    }

    /// The counters agree with the lists as walked, on every node.
    fn assert_counters_match_lists() {
        for node in page_allocator().online_nodes() {
            let walked = lru_walk_counts(node.node_id);
            let counted = LruList::ALL.map(|l| node.vm_stat.get(lru_stat_item(l) as usize) as usize);
            assert_eq!(walked, counted, "node {}", node.node_id);
        }
    }

    fn anon_mm() -> pagoda_klib::arc::Arc<MmStruct> {
        let mm = MmStruct::alloc().unwrap();
        mm.mmget();
        let rw = VmFlags::READ | VmFlags::WRITE | VmFlags::MAYREAD | VmFlags::MAYWRITE;
        mm.mmap_lock.write().insert(A, A + PAGES * 4096, rw).unwrap();
        for i in 0..PAGES {
            handle_mm_fault(&mm, A + i * 4096, true, false).unwrap();
        }
        mm
    }

    fn pfn_at(mm: &MmStruct, addr: usize) -> usize {
        mm.with_page_table(|pt| pt.translate(addr)).unwrap().0 >> 12
    }

    #[ktest]
    fn new_anonymous_pages_go_inactive_and_leave_the_lists_when_freed() {
        lru_add_drain_all();
        let before = lists();
        let mm = anon_mm();
        lru_add_drain_all();
        let after = lists();
        assert_eq!(after[LruList::InactiveAnon as usize], before[LruList::InactiveAnon as usize] + PAGES);
        for l in [LruList::ActiveAnon, LruList::InactiveFile, LruList::ActiveFile, LruList::Unevictable] {
            assert_eq!(after[l as usize], before[l as usize], "{}", l.name());
        }
        for i in 0..PAGES {
            let page = pfn_to_page(pfn_at(&mm, A + i * 4096));
            assert!(
                page.test(PageFlags::LRU)
                    && page.test(PageFlags::SWAPBACKED)
                    && !page.test(PageFlags::ACTIVE)
            );
        }
        assert_counters_match_lists();
        mm.mmput();
        assert_eq!(lists(), before, "freed pages left their lists");
        assert_counters_match_lists();
    }

    #[ktest]
    fn a_page_used_twice_is_activated() {
        let mm = anon_mm();
        lru_add_drain_all();
        let pfn = pfn_at(&mm, A);
        let page = pfn_to_page(pfn);
        let active = lists()[LruList::ActiveAnon as usize];
        let activations = PGACTIVATE.load(core::sync::atomic::Ordering::Relaxed);
        mark_page_accessed(pfn);
        assert!(page.test(PageFlags::REFERENCED) && !page.test(PageFlags::ACTIVE), "once: referenced");
        mark_page_accessed(pfn);
        assert!(page.test(PageFlags::ACTIVE) && !page.test(PageFlags::REFERENCED), "twice: active");
        assert_eq!(lists()[LruList::ActiveAnon as usize], active + 1);
        assert_eq!(PGACTIVATE.load(core::sync::atomic::Ordering::Relaxed), activations + 1);
        assert_eq!(Lruvec::list_of(crate::mm::mm_init::mem_map(), pfn), LruList::ActiveAnon);
        assert_counters_match_lists();
        mm.mmput();
    }
}
