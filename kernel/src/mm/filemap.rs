//! Page locks and writeback waits (Linux: mm/filemap.c folio_wait_table,
//! folio_lock / __folio_lock, folio_unlock, folio_wait_writeback,
//! folio_end_writeback).
//!
//! PG_locked is a sleeping lock on one page, held across I/O and state
//! changes (reading a page in, moving it into the swap cache). Wait queues
//! are not kept per page, which would cost every struct page 16+ bytes:
//! instead 256 queues are shared, hashed by the page's address, and a
//! sleeper sets PG_waiters so that unlock_page only touches the queue when
//! someone is there.
//!
//! ```text
//! lock_page:   trylock ok? -> done
//!              else: queue on hash(page), set PG_waiters, re-check PG_locked, sleep
//! unlock_page: clear PG_locked; PG_waiters was set? -> clear it, wake hash(page)
//! ```
//! Woken tasks race for the bit again; one that loses re-announces itself
//! with PG_waiters and sleeps again.
//!
//! Also here, as in Linux's filemap.c: the loop of a read through a page
//! cache (`filemap_read`) and the piece-by-piece walk reads and writes share
//! (`file_transfer`).

use crate::sched::{might_sleep, WaitQueue};
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::addr::PAGE_SIZE;
use pagoda_mm::page::{Page, PageFlags};

const PAGE_WAIT_TABLE_BITS: u32 = 8;
static PAGE_WAIT_TABLE: [WaitQueue; 1 << PAGE_WAIT_TABLE_BITS] =
    [const { WaitQueue::new() }; 1 << PAGE_WAIT_TABLE_BITS];

/// The shared wait queue of a page (Linux: folio_waitqueue, hash_ptr).
fn page_waitqueue(page: &Page) -> &'static WaitQueue {
    const GOLDEN_RATIO_64: u64 = 0x61c8_8646_80b5_83eb;
    let h = (page as *const Page as u64).wrapping_mul(GOLDEN_RATIO_64) >> (64 - PAGE_WAIT_TABLE_BITS);
    &PAGE_WAIT_TABLE[h as usize]
}

/// Sleeps until `bit` is clear on `page` (Linux: folio_wait_bit_common).
fn wait_on_page_bit(page: &Page, bit: PageFlags) {
    page_waitqueue(page).wait_event(|| {
        page.set_waiters();
        !page.test(bit)
    });
}

/// Wakes the sleepers of `page` if the bit that was just cleared had any
/// (Linux: folio_wake_bit).
fn wake_up_page(page: &Page, had_waiters: bool) {
    if had_waiters {
        page.clear_waiters();
        page_waitqueue(page).wake_up();
    }
}

/// Takes PG_locked, sleeping while another task holds it (Linux: lock_page).
#[track_caller]
pub fn lock_page(page: &Page) {
    might_sleep();
    while !page.trylock() {
        wait_on_page_bit(page, PageFlags::LOCKED);
    }
}

/// Linux: trylock_page.
pub fn trylock_page(page: &Page) -> bool {
    page.trylock()
}

/// Releases PG_locked and wakes whoever waits for it (Linux: unlock_page).
pub fn unlock_page(page: &Page) {
    wake_up_page(page, page.unlock_test_waiters());
}

/// Sleeps until the page is unlocked, without taking the lock (Linux:
/// folio_wait_locked): a reader waiting for the I/O that fills a page.
#[track_caller]
pub fn wait_on_page_locked(page: &Page) {
    might_sleep();
    if page.is_locked() {
        wait_on_page_bit(page, PageFlags::LOCKED);
    }
}

/// Sleeps until the page is not under writeback (Linux: wait_on_page_writeback).
#[track_caller]
pub fn wait_on_page_writeback(page: &Page) {
    might_sleep();
    while page.test(PageFlags::WRITEBACK) {
        wait_on_page_bit(page, PageFlags::WRITEBACK);
    }
}

/// Marks the page as being written back (Linux: set_page_writeback).
/// Returns false if it already was.
pub fn set_page_writeback(page: &Page) -> bool {
    !page.test_and_set_bit(PageFlags::WRITEBACK)
}

/// Writeback finished (Linux: end_page_writeback). Safe in interrupt
/// context: the block-I/O completion calls it.
pub fn end_page_writeback(page: &Page) {
    wake_up_page(page, page.clear_bit_test_waiters(PageFlags::WRITEBACK));
}

/// Walks `[off, off + count)` of a file of `size` bytes, a page piece at
/// a time: `f(index, in_page, len, done)` moves one piece and returns how
/// much it moved. A short piece ends the transfer; an error ends it short,
/// or is the result if nothing moved yet (Linux: the loops of
/// filemap_read and generic_perform_write).
pub fn file_transfer(
    size: u64,
    off: u64,
    count: usize,
    mut f: impl FnMut(usize, usize, usize, usize) -> KResult<usize>,
) -> KResult<usize> {
    let mut done = 0;
    while done < count {
        let pos = off + done as u64;
        if pos >= size {
            break;
        }
        let (index, in_page) = ((pos / PAGE_SIZE as u64) as usize, (pos % PAGE_SIZE as u64) as usize);
        let n = (PAGE_SIZE - in_page).min(count - done).min((size - pos) as usize);
        match f(index, in_page, n, done) {
            Ok(moved) => {
                done += moved;
                if moved < n {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// How a page cache is filled from its backing store (Linux: the
/// read_folio and readahead address_space_operations).
pub trait ReadPages {
    fn cache(&self) -> &super::address_space::AddressSpace;

    /// Pages the device reads ahead at most (Linux: bdi->ra_pages, from
    /// read_ahead_kb).
    fn ra_pages(&self) -> usize;

    /// Pages in the file (or disk).
    fn nr_pages(&self) -> usize;

    /// Reads the pages of `[start, start + nr)` that are not cached into
    /// the cache, setting PG_readahead on page `mark` (Linux: ->readahead).
    /// May return before the reads complete: a page being read is locked
    /// until it is up to date or failed.
    fn readahead(&self, start: usize, nr: usize, mark: Option<usize>) -> KResult<()>;

    /// Makes the cached page `pfn` at `index` up to date, waiting for a read
    /// in flight and reading it alone if that failed; EIO if it cannot be
    /// read (Linux: filemap_update_page, filemap_read_folio).
    fn update_page(&self, index: usize, pfn: usize) -> KResult<()>;
}

/// Starts the reads of readahead window `w` (Linux: page_cache_ra_order):
/// clipped to the file, PG_readahead on its first page still ahead.
fn read_window(f: &dyn ReadPages, w: pagoda_mm::readahead::RaWindow) -> KResult<()> {
    let end = (w.start + w.nr).min(f.nr_pages());
    if w.start >= end {
        return Ok(());
    }
    let mark = (w.async_size > 0).then(|| w.start + w.nr - w.async_size).filter(|&m| m < end);
    f.readahead(w.start, end - w.start, mark)
}

/// The up-to-date page at `index` for a reader that wants `req` pages from
/// there, with a reference, and whether it had to wait for the disk. A miss
/// reads the readahead window `ra` decides; a page marked PG_readahead
/// starts the next window first (Linux: filemap_get_pages with
/// page_cache_sync_ra and page_cache_async_ra).
pub fn filemap_get_page(
    f: &dyn ReadPages,
    ra: &mut pagoda_mm::readahead::RaState,
    index: usize,
    req: usize,
) -> KResult<(usize, bool)> {
    let (pfn, missed) = match f.cache().find_get_page(index) {
        Some(pfn) => (pfn, false),
        None => {
            read_window(f, ra.ondemand(index, req, false, f.ra_pages()))?;
            (find_or_read_page(f, index)?, true)
        }
    };
    let page = super::page_alloc::pfn_to_page(pfn);
    if page.test_and_clear_bit(PageFlags::READAHEAD) {
        // The reader caught up with the window: read the next one now.
        let _ = read_window(f, ra.ondemand(index, req, true, f.ra_pages()));
    }
    let waited = missed || !page.test(PageFlags::UPTODATE);
    update_or_put(f, index, pfn)?;
    Ok((pfn, waited))
}

/// The page at `index` after a readahead that should have brought it; if
/// reclaim took it back already (memory is that short), it is read alone,
/// a few times at most (Linux: filemap_create_folio after a failed batch).
fn find_or_read_page(f: &dyn ReadPages, index: usize) -> KResult<usize> {
    for _ in 0..4 {
        if let Some(pfn) = f.cache().find_get_page(index) {
            return Ok(pfn);
        }
        f.readahead(index, 1, None)?;
    }
    f.cache().find_get_page(index).ok_or(Errno::ENOMEM)
}

/// The page a fault at `index` of a mapping needs, reading the pages
/// around it on a miss (Linux: filemap_fault with do_sync_mmap_readahead's
/// read-around and do_async_mmap_readahead). Whether it waited for the
/// disk: a major fault.
pub fn filemap_fault_page(f: &dyn ReadPages, index: usize) -> KResult<(usize, bool)> {
    use pagoda_mm::readahead::{mmap_read_around, RaWindow};
    let max = f.ra_pages();
    let (pfn, missed) = match f.cache().find_get_page(index) {
        Some(pfn) => (pfn, false),
        None => {
            read_window(f, mmap_read_around(index, max))?;
            (find_or_read_page(f, index)?, true)
        }
    };
    let page = super::page_alloc::pfn_to_page(pfn);
    if page.test_and_clear_bit(PageFlags::READAHEAD) {
        // The marker a quarter from the end of the window read around an
        // earlier fault: the next window, as do_async_mmap_readahead reads
        // it (the file's window moved on by its size).
        let _ = read_window(f, RaWindow { start: index + max / 4, nr: max, async_size: max / 4 });
    }
    update_or_put(f, index, pfn)?;
    // Major only if the page was not in the cache at all; waiting for a
    // read already in flight is minor, as in Linux's filemap_fault.
    Ok((pfn, missed))
}

/// The cached page at `pgoff` that fault-around may map, with a
/// reference: inside the file, up to date, and not carrying the readahead
/// marker, which a fault must reach to start the next window (Linux:
/// filemap_map_pages with next_uptodate_page). Never reads.
pub fn filemap_map_page(f: &dyn ReadPages, pgoff: usize) -> Option<usize> {
    if pgoff >= f.nr_pages() {
        return None;
    }
    let pfn = f.cache().find_get_page(pgoff)?;
    let page = super::page_alloc::pfn_to_page(pfn);
    if page.test(PageFlags::UPTODATE) && !page.test(PageFlags::READAHEAD) {
        Some(pfn)
    } else {
        super::page_alloc::put_page(pfn);
        None
    }
}

/// Brings the cached page `pfn` up to date, or drops the caller's
/// reference to it and fails.
fn update_or_put(f: &dyn ReadPages, index: usize, pfn: usize) -> KResult<()> {
    f.update_page(index, pfn).inspect_err(|_| super::page_alloc::put_page(pfn))
}

/// read(2) of a file of `size` bytes through its page cache into user
/// memory at `buf`, reading ahead as `ra` decides (Linux: filemap_read).
pub fn filemap_read(
    f: &dyn ReadPages,
    ra: &mut pagoda_mm::readahead::RaState,
    size: u64,
    off: u64,
    buf: usize,
    count: usize,
) -> KResult<usize> {
    let mut last = None;
    let r = file_transfer(size, off, count, |index, in_page, n, done| {
        let (pfn, _) = filemap_get_page(f, ra, index, (count - done).div_ceil(PAGE_SIZE))?;
        last = Some(index);
        // SAFETY: an up-to-date cached page we hold a reference to.
        let bytes = unsafe {
            core::slice::from_raw_parts((super::page_alloc::page_address(pfn) + in_page) as *const u8, n)
        };
        let took = super::uaccess::copy_to_user_partial(buf + done, bytes);
        super::swap::mark_page_accessed(pfn);
        super::page_alloc::put_page(pfn);
        if took == 0 {
            return Err(Errno::EFAULT);
        }
        Ok(took)
    });
    if let Some(i) = last {
        ra.note_read(i + 1);
    }
    r
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use crate::kernel::timer::msleep;
    use crate::mm::page_alloc::{__free_pages, alloc_pages, pfn_to_page};
    use crate::sched::{kthread_join, kthread_run};
    use core::sync::atomic::{AtomicUsize, Ordering::*};
    use pagoda_mm::gfp::Gfp;

    static PFN: AtomicUsize = AtomicUsize::new(0);
    static INSIDE: AtomicUsize = AtomicUsize::new(0);
    static ENTRIES: AtomicUsize = AtomicUsize::new(0);
    static OVERLAPS: AtomicUsize = AtomicUsize::new(0);

    fn lock_unlock_many(_: usize) {
        let page = pfn_to_page(PFN.load(Acquire));
        for _ in 0..200 {
            lock_page(page);
            if INSIDE.fetch_add(1, AcqRel) != 0 {
                OVERLAPS.fetch_add(1, Relaxed);
            }
            ENTRIES.fetch_add(1, Relaxed);
            for _ in 0..50 {
                core::hint::spin_loop();
            }
            INSIDE.fetch_sub(1, AcqRel);
            unlock_page(page);
        }
    }

    /// Four CPUs fight for one page's PG_locked: never two holders, no
    /// lost wake-up (every thread finishes), the bit is clear at the end.
    #[ktest]
    fn lock_page_excludes_across_cpus() {
        let pfn = alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
        PFN.store(pfn, Release);
        ENTRIES.store(0, Relaxed);
        OVERLAPS.store(0, Relaxed);
        let n = crate::kernel::percpu::num_online_cpus().max(2);
        let ts: alloc::vec::Vec<_> =
            (0..n).map(|c| kthread_run("ktest-lockpg", lock_unlock_many, 0, Some(c % n)).unwrap()).collect();
        for t in ts {
            kthread_join(t);
        }
        assert_eq!(OVERLAPS.load(Relaxed), 0, "two tasks held PG_locked at once");
        assert_eq!(ENTRIES.load(Relaxed), 200 * n);
        let page = pfn_to_page(pfn);
        assert!(!page.is_locked());
        __free_pages(pfn, 0);
    }

    static WAITED: AtomicUsize = AtomicUsize::new(0);
    fn waiter(_: usize) {
        let page = pfn_to_page(PFN.load(Acquire));
        lock_page(page); // sleeps: the test holds it
        WAITED.store(1, Release);
        unlock_page(page);
    }

    #[ktest]
    fn a_sleeper_on_a_locked_page_wakes_at_unlock() {
        let pfn = alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
        PFN.store(pfn, Release);
        WAITED.store(0, Release);
        let page = pfn_to_page(pfn);
        assert!(trylock_page(page));
        assert!(!trylock_page(page), "PG_locked taken twice");
        let t = kthread_run("ktest-pgwait", waiter, 0, None).unwrap();
        msleep(30);
        assert_eq!(WAITED.load(Acquire), 0, "the waiter got a locked page");
        assert!(page.test(PageFlags::WAITERS), "a sleeper must announce itself with PG_waiters");
        unlock_page(page);
        kthread_join(t);
        assert_eq!(WAITED.load(Acquire), 1);
        assert!(!page.is_locked());
        // Writeback: set, then end from "interrupt" side, a waiter returns.
        assert!(set_page_writeback(page));
        assert!(!set_page_writeback(page));
        end_page_writeback(page);
        wait_on_page_writeback(page);
        __free_pages(pfn, 0);
    }
}
