//! The flusher, sync and dirty throttling (Linux: fs/fs-writeback.c
//! wb_workfn / wb_do_writeback / wakeup_flusher_threads / ksys_sync, and
//! mm/page-writeback.c balance_dirty_pages).
//!
//! One kernel thread, `writeback`, wakes every `dirty_writeback_centisecs`
//! and writes back each block device whose dirty data is older than
//! `dirty_expire_centisecs` (kupdate-style writeback), or every device when
//! dirty memory is above the background limit or someone kicked it (sync,
//! a throttled writer).
//!
//! Where Pagoda differs: one thread for every device rather than a work
//! item per backing device, and a writer over `dirty_ratio` writes back
//! and waits instead of sleeping in proportion to the disk's bandwidth.

use crate::block::all_bdevs;
use crate::kernel::time::{hz, jiffies};
use crate::mm::page_writeback::*;
use crate::sched::{schedule, WaitQueue, TASK_INTERRUPTIBLE};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};

static FLUSHER_WAIT: WaitQueue = WaitQueue::new();
static KICKED: AtomicBool = AtomicBool::new(false);
/// Passes of the flusher that wrote something, and pages it wrote.
pub static FLUSHER_RUNS: AtomicUsize = AtomicUsize::new(0);
pub static FLUSHER_PAGES: AtomicUsize = AtomicUsize::new(0);
/// Writers made to write back by balance_dirty_pages.
pub static THROTTLED: AtomicUsize = AtomicUsize::new(0);

fn centisecs_to_jiffies(cs: usize) -> u64 {
    (cs as u64 * hz()).div_ceil(100)
}

/// Asks the flusher to write everything back now (Linux: wakeup_flusher_threads).
pub fn wakeup_flusher_threads() {
    KICKED.store(true, Release);
    FLUSHER_WAIT.wake_up_if_active();
}

/// Sets vm.dirty_writeback_centisecs and wakes the flusher so that the new
/// interval starts now (Linux: dirty_writeback_centisecs_handler).
pub fn set_dirty_writeback_centisecs(cs: usize) -> usize {
    let old = DIRTY_WRITEBACK_CENTISECS.swap(cs, Relaxed);
    FLUSHER_WAIT.wake_up_if_active();
    old
}

/// One pass: what is due goes out (Linux: wb_do_writeback with
/// wb_check_old_data_flush and wb_check_background_flush).
fn wb_do_writeback(all: bool) -> usize {
    let expire = centisecs_to_jiffies(DIRTY_EXPIRE_CENTISECS.load(Relaxed));
    let older_than = jiffies().saturating_sub(expire);
    let background = dirty_and_writeback_pages() > dirty_limits().0;
    let mut pages = 0;
    for bdev in all_bdevs() {
        if all || background || bdev.dirty_since(older_than) {
            pages += bdev.write_dirty_pages().0;
        }
    }
    pages
}

fn flusher(_: usize) {
    loop {
        let interval = centisecs_to_jiffies(DIRTY_WRITEBACK_CENTISECS.load(Relaxed)).max(1);
        if FLUSHER_WAIT.prepare_to_wait(TASK_INTERRUPTIBLE) {
            if !KICKED.load(Acquire) {
                crate::kernel::timer::schedule_timeout(interval);
            }
            FLUSHER_WAIT.finish_wait();
        } else {
            schedule();
        }
        let all = KICKED.swap(false, AcqRel);
        let pages = wb_do_writeback(all);
        if pages > 0 {
            FLUSHER_RUNS.fetch_add(1, Relaxed);
            FLUSHER_PAGES.fetch_add(pages, Relaxed);
            log::debug!("writeback: {pages} pages to disk ({})", if all { "kicked" } else { "periodic" });
        }
    }
}

/// Starts the flusher if there is a disk to flush to.
pub fn writeback_init() {
    if all_bdevs().is_empty() {
        return;
    }
    if crate::sched::kthread_run("writeback", flusher, 0, None).is_err() {
        log::warn!("writeback: the flusher did not start; data reaches disks only on sync");
    }
}

/// Called after a write dirtied pages (Linux: balance_dirty_pages_ratelimited):
/// above the background limit the flusher starts; above `dirty_ratio` the
/// writer itself writes back and waits.
pub fn balance_dirty_pages() {
    let (background, hard) = dirty_limits();
    let dirty = dirty_and_writeback_pages();
    if dirty <= background {
        return;
    }
    wakeup_flusher_threads();
    if dirty > hard {
        THROTTLED.fetch_add(1, Relaxed);
        for bdev in all_bdevs() {
            let _ = bdev.fsync();
        }
    }
}

/// sync(2): every dirty page to its disk, and wait (Linux: ksys_sync).
pub fn ksys_sync() {
    for bdev in all_bdevs() {
        let _ = bdev.fsync();
    }
}
