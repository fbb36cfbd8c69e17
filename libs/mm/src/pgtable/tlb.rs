//! Gathering unmapped pages until the TLB is flushed (Linux:
//! include/asm-generic/tlb.h, mm/mmu_gather.c: struct mmu_gather,
//! tlb_gather_mmu, __tlb_remove_page, pte_free_tlb, tlb_finish_mmu).
//!
//! Why: after a PTE is cleared, other CPUs may still hold the old
//! translation in their TLBs and go on reading and writing the page. If the
//! page were freed at once, it could be handed to someone else while a stale
//! TLB entry still points at it. So unmapping is three steps:
//!
//! ```text
//! 1. clear the entries          (zap_range: records the range, queues pages/tables)
//! 2. flush the TLB once          (by ASID and range; all of it for a whole mm)
//! 3. free the queued pages and page-table pages
//! ```
//!
//! A freed page-table page needs more than a leaf flush: the walk caches may
//! hold the table descriptor that pointed at it, so the flush must be a
//! non-last-level one (`last_level = false`).

use super::walk::PageTableMem;
use crate::addr::PhysAddr;
use alloc::vec::Vec;

/// Pages one gather queues before it must be flushed (Linux: about
/// MAX_GATHER_BATCH * MAX_GATHER_BATCH_COUNT, 10000 on 4 KiB pages; less
/// here, so the queue is one 16 KiB allocation).
pub const MAX_GATHER_PAGES: usize = 2048;

/// Pages and tables waiting for a TLB flush (Linux: struct mmu_gather).
#[derive(Debug, Default)]
pub struct MmuGather {
    /// The range whose translations were removed: [start, end).
    pub start: usize,
    pub end: usize,
    /// Tearing down a whole address space (exit, execve): one flush of the
    /// ASID covers everything (Linux: tlb->fullmm).
    pub fullmm: bool,
    /// A page-table page was queued: the flush must include walk caches.
    pub freed_tables: bool,
    pages: Vec<usize>,
    tables: Vec<PhysAddr>,
    /// Tables that could not be queued for lack of memory and were flushed
    /// and freed at once.
    pub early_flushes: usize,
}

impl MmuGather {
    /// An empty gather for part of an address space (Linux: tlb_gather_mmu).
    pub fn new() -> Self {
        MmuGather { start: usize::MAX, end: 0, ..Default::default() }
    }

    /// An empty gather for tearing down a whole mm (Linux: tlb_gather_mmu_fullmm).
    pub fn new_fullmm() -> Self {
        MmuGather { fullmm: true, ..Self::new() }
    }

    /// Records that translations for `[start, end)` were removed
    /// (Linux: tlb_flush_pte_range / __tlb_adjust_range).
    pub fn tlb_flush_range(&mut self, start: usize, end: usize) {
        self.start = self.start.min(start);
        self.end = self.end.max(end);
    }

    /// Something needs flushing.
    pub fn needs_flush(&self) -> bool {
        self.start < self.end
    }

    /// Queues a page to be freed after the flush (Linux: __tlb_remove_page).
    /// Returns false if the queue could not grow: the caller must then
    /// `tlb_flush_mmu` (flush and free what is queued) and queue again, as
    /// Linux does when its batch is full.
    #[must_use]
    pub fn tlb_remove_page(&mut self, pfn: usize) -> bool {
        // A bounded batch, as Linux's (MAX_GATHER_BATCH_COUNT batches): a
        // big munmap flushes every so often rather than ask for megabytes
        // of queue when memory may be short.
        if self.pages.len() >= MAX_GATHER_PAGES || self.pages.try_reserve(1).is_err() {
            return false;
        }
        self.pages.push(pfn);
        true
    }

    /// Queues a page-table page whose parent entry for `[start, end)` was
    /// just cleared (Linux: pte_free_tlb, pmd_free_tlb, pud_free_tlb).
    /// Returns false if the queue could not grow; the caller then flushes
    /// that range with walk caches and frees the table at once (Linux:
    /// tlb_remove_table_one).
    #[must_use]
    pub fn pte_free_tlb(&mut self, table: PhysAddr, start: usize, end: usize) -> bool {
        self.tlb_flush_range(start, end);
        self.freed_tables = true;
        if self.tables.try_reserve(1).is_err() {
            self.early_flushes += 1;
            return false;
        }
        self.tables.push(table);
        true
    }

    /// Pages queued and not yet freed.
    pub fn queued_pages(&self) -> usize {
        self.pages.len()
    }

    /// Flushes the TLB for what was gathered, then frees the queued pages
    /// with `free_page` and the queued tables through `mem` (Linux:
    /// tlb_flush_mmu). The gather can be used again afterwards.
    pub fn tlb_flush_mmu<M: PageTableMem + ?Sized>(&mut self, mem: &mut M, mut free_page: impl FnMut(usize)) {
        if self.needs_flush() || self.fullmm && (self.freed_tables || !self.pages.is_empty()) {
            let (start, end) = if self.fullmm { (0, usize::MAX) } else { (self.start, self.end) };
            mem.flush_tlb_range(start, end, !self.freed_tables);
        }
        for pfn in self.pages.drain(..) {
            free_page(pfn);
        }
        for t in self.tables.drain(..) {
            mem.free_table(t);
        }
        self.start = usize::MAX;
        self.end = 0;
        self.freed_tables = false;
    }

    /// The last flush and free (Linux: tlb_finish_mmu).
    pub fn tlb_finish_mmu<M: PageTableMem + ?Sized>(mut self, mem: &mut M, free_page: impl FnMut(usize)) {
        self.tlb_flush_mmu(mem, free_page);
    }
}
