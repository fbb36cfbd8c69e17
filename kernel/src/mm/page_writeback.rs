//! Dirty pages and their writeback (Linux: mm/page-writeback.c).
//!
//! A page written through the page cache of a file that lives on a disk
//! becomes dirty: PG_dirty is set and `nr_dirty` counts it. To write it
//! back, the writer first takes the dirty bit away under the page lock
//! (`clear_page_dirty_for_io`) and sets PG_writeback (`nr_writeback`), then
//! submits the I/O; the completion clears PG_writeback and wakes whoever
//! waits for it. A page written again while under writeback is dirty again
//! and goes out once more later.
//!
//! ```text
//!   write()          flusher / fsync                       bio completion
//!   set_page_dirty   lock_page, clear_page_dirty_for_io,    end_page_writeback
//!   nr_dirty+1       set_page_writeback, unlock_page,       nr_writeback-1
//!                    submit_bio          nr_dirty-1, nr_writeback+1
//! ```
//!
//! How much may be dirty: `vm.dirty_background_ratio` (10%) of the memory
//! that could hold page cache wakes the flusher; a writer that finds
//! `vm.dirty_ratio` (20%) dirty writes back before it goes on
//! (`balance_dirty_pages`). Linux throttles the writer by sleeping in
//! proportion to the write bandwidth; Pagoda makes it write out and wait.
//!
//! Where Pagoda differs: only block-device page caches are written back
//! (tmpfs pages are dirty by nature and only swap takes them), so the
//! dirty set is tracked per block device, not per inode.

use super::page_alloc::{mod_node_page_state, pfn_to_page};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use pagoda_mm::page::PageFlags;
use pagoda_mm::vmstat::NodeStatItem::{NrFileDirty, NrWriteback};

/// vm.dirty_background_ratio: percent of dirtyable memory at which the
/// flusher starts writing in the background.
pub static DIRTY_BACKGROUND_RATIO: AtomicUsize = AtomicUsize::new(10);
/// vm.dirty_ratio: percent at which a writer must write back itself.
pub static DIRTY_RATIO: AtomicUsize = AtomicUsize::new(20);
/// vm.dirty_writeback_centisecs: how often the flusher wakes.
pub static DIRTY_WRITEBACK_CENTISECS: AtomicUsize = AtomicUsize::new(500);
/// vm.dirty_expire_centisecs: how old dirty data must be before the
/// periodic flusher writes it.
pub static DIRTY_EXPIRE_CENTISECS: AtomicUsize = AtomicUsize::new(3000);

/// Pages ever dirtied and ever written back (vmstat nr_dirtied, nr_written).
pub static NR_DIRTIED: AtomicUsize = AtomicUsize::new(0);
pub static NR_WRITTEN: AtomicUsize = AtomicUsize::new(0);

/// Marks a page-cache page dirty; true if it was clean, in which case it
/// is counted (Linux: __folio_mark_dirty + folio_account_dirtied).
/// Called with the page locked.
pub fn set_page_dirty(pfn: usize) -> bool {
    if pfn_to_page(pfn).test_and_set_bit(PageFlags::DIRTY) {
        return false;
    }
    mod_node_page_state(pfn, NrFileDirty, 1);
    NR_DIRTIED.fetch_add(1, Relaxed);
    true
}

/// Takes the dirty bit before writing the page out; true if it was dirty
/// (Linux: folio_clear_dirty_for_io). Called with the page locked.
pub fn clear_page_dirty_for_io(pfn: usize) -> bool {
    if !pfn_to_page(pfn).test_and_clear_bit(PageFlags::DIRTY) {
        return false;
    }
    mod_node_page_state(pfn, NrFileDirty, -1);
    true
}

/// The page goes to the disk (Linux: folio_start_writeback). Called with
/// the page locked, after `clear_page_dirty_for_io`.
pub fn set_page_writeback(pfn: usize) {
    if super::filemap::set_page_writeback(pfn_to_page(pfn)) {
        mod_node_page_state(pfn, NrWriteback, 1);
    }
}

/// The disk has it (Linux: folio_end_writeback). Safe in interrupt context.
pub fn end_page_writeback(pfn: usize) {
    mod_node_page_state(pfn, NrWriteback, -1);
    NR_WRITTEN.fetch_add(1, Relaxed);
    super::filemap::end_page_writeback(pfn_to_page(pfn));
}

/// Memory that could hold dirty page cache: free pages plus the file pages
/// already cached (Linux: global_dirtyable_memory, without highmem and
/// reserve adjustments).
fn dirtyable_pages() -> usize {
    super::page_alloc::mem_free_pages()
        + super::page_alloc::global_node_page_state(pagoda_mm::vmstat::NodeStatItem::NrFilePages)
}

/// The background and hard dirty limits in pages (Linux: global_dirty_limits).
pub fn dirty_limits() -> (usize, usize) {
    let avail = dirtyable_pages();
    let bg = avail * DIRTY_BACKGROUND_RATIO.load(Relaxed) / 100;
    let hard = avail * DIRTY_RATIO.load(Relaxed) / 100;
    (bg.min(hard), hard)
}

/// Pages dirty or being written (Linux: global_node_page_state(NR_FILE_DIRTY) + NR_WRITEBACK).
pub fn dirty_and_writeback_pages() -> usize {
    use super::page_alloc::global_node_page_state;
    global_node_page_state(NrFileDirty) + global_node_page_state(NrWriteback)
}
