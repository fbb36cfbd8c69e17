//! kswapd, one per node (Linux: mm/vmscan.c kswapd). The page allocator
//! wakes it when a zone falls below its low watermark. It shrinks the slab
//! caches (shrink_slab), drains the per-CPU page lists, and reclaims from
//! the LRU lists until the node is balanced (vmscan.rs balance_pgdat),
//! then goes back to sleep. Swap, for anonymous pages, is still to come.
//!
//! The allocator may ask from deep inside other locks (even the scheduler's,
//! when a run queue grows), so a wake-up only sets a flag; the next timer
//! tick, which holds no such lock, wakes the thread (`kick`).

use super::page_alloc::page_allocator;
use core::sync::atomic::{AtomicUsize, Ordering::*};
use pagoda_mm::mmzone::ZoneType;
use pagoda_mm::page_alloc::MAX_NUMNODES;

static PENDING: [AtomicUsize; MAX_NUMNODES] = [const { AtomicUsize::new(0) }; MAX_NUMNODES];
static KSWAPD_WAIT: [crate::sched::WaitQueue; MAX_NUMNODES] =
    [const { crate::sched::WaitQueue::new() }; MAX_NUMNODES];
/// While set, kswapd and the reaper do no work. The in-kernel test runner
/// sets it so that tests comparing global page counts are not disturbed by
/// background reclaim on other CPUs.
pub static BACKGROUND_PAUSED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn paused() -> bool {
    BACKGROUND_PAUSED.load(Acquire)
}

/// Times kswapd ran, per node.
pub static RUNS: [AtomicUsize; MAX_NUMNODES] = [const { AtomicUsize::new(0) }; MAX_NUMNODES];
/// Slab pages kswapd gave back, per node.
pub static RECLAIMED: [AtomicUsize; MAX_NUMNODES] = [const { AtomicUsize::new(0) }; MAX_NUMNODES];

/// The allocator's hook (Linux: wakeup_kswapd).
pub fn wakeup_kswapd(nid: usize, _order: usize, _highest: ZoneType) {
    if let Some(p) = PENDING.get(nid) {
        p.fetch_add(1, Relaxed);
    }
}

/// Called from the timer tick: wake the kswapd of every node that was asked for.
pub fn kick() {
    for (nid, p) in PENDING.iter().enumerate() {
        if p.load(Relaxed) > 0 {
            KSWAPD_WAIT[nid].wake_up();
        }
    }
}

fn kswapd(nid: usize) {
    // kswapd's own allocations never reclaim (Linux: PF_MEMALLOC).
    if let Some(me) = crate::sched::current() {
        me.set_memalloc(true);
    }
    loop {
        KSWAPD_WAIT[nid].wait_event_interruptible(|| PENDING[nid].load(Acquire) > 0 && !paused());
        let n = PENDING[nid].swap(0, AcqRel);
        let slab = super::slab::shrink_all();
        page_allocator().drain_all_pages();
        let lru = super::vmscan::balance_pgdat(nid);
        RECLAIMED[nid].fetch_add(slab + lru, Relaxed);
        RUNS[nid].fetch_add(1, Relaxed);
        log::debug!("kswapd{nid}: {n} wake-ups; {lru} pages reclaimed from the LRU, {slab} from slab caches");
    }
}

fn cache_reaper(_: usize) {
    loop {
        crate::kernel::timer::msleep_interruptible(2000);
        if !paused() {
            super::slab::cache_reap();
        }
    }
}

/// Starts kswapdN for every node and the periodic slab reaper
/// (Linux: kswapd_init, and cache_reap's delayed work).
pub fn kswapd_init() {
    for node in page_allocator().online_nodes() {
        let nid = node.node_id;
        let name = alloc::format!("kswapd{nid}");
        if crate::sched::kthread_run(&name, kswapd, nid, None).is_err() {
            log::warn!("{name}: failed to start");
        }
    }
    if crate::sched::kthread_run("kworker/reap", cache_reaper, 0, None).is_err() {
        log::warn!("kworker/reap: failed to start");
    }
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

    #[ktest]
    fn a_wakeup_runs_kswapd_within_a_tick() {
        let runs = RUNS[0].load(Relaxed);
        BACKGROUND_PAUSED.store(false, Release);
        wakeup_kswapd(0, 0, ZoneType::Normal);
        let t0 = crate::kernel::time::jiffies();
        while RUNS[0].load(Relaxed) == runs && crate::kernel::time::jiffies() < t0 + crate::kernel::time::hz()
        {
            crate::kernel::timer::msleep(10);
        }
        // Let it finish its pass before other tests look at page counts.
        crate::kernel::timer::msleep(50);
        BACKGROUND_PAUSED.store(true, Release);
        assert!(RUNS[0].load(Relaxed) > runs, "kswapd0 did not run after a wake-up");
    }
}
