//! Per-CPU page lists (Linux: mm/page_alloc.c rmqueue_pcplist,
//! free_unref_page, free_pcppages_bulk, drain_pages_zone, zone_batchsize).
//!
//! Each CPU keeps a few free pages of each small order (0..=3) and pcp
//! migratetype in front of the buddy lists. An allocation or a free that
//! hits the list takes only this CPU's pcp lock, never zone->lock; the list
//! is refilled, or drained past `high`, `batch` pages at a time under one
//! zone->lock acquisition. Freed pages go to the head (hot, LIFO) and drains
//! take from the tail (cold).

use crate::addr::PAGE_SHIFT;
use crate::mmzone::*;
use crate::page::PageFlags;
use crate::page_alloc::PageAllocator;
use crate::vmstat::VmEvent;

impl Zone {
    /// Allocates through this CPU's pcp list, refilling it in a batch from
    /// the buddy lists when empty (Linux: rmqueue_pcplist).
    pub fn rmqueue_pcplist(&self, cpu: usize, order: usize, mt: MigrateType) -> Option<usize> {
        let mut pcp = self.pcp[cpu].lock();
        let idx = order_to_pindex(mt as usize, order);
        if pcp.lists[idx].is_empty() {
            // Refill: `batch` pages' worth of blocks, at least two (Linux: nr_pcp_alloc).
            let want = (pcp.batch >> order).max(2);
            let mut zf = self.lock.lock();
            let mut got = 0;
            for _ in 0..want {
                let Some(pfn) = self.rmqueue_locked(&mut zf, order, mt) else { break };
                // The block just left the buddy lists: ours, under the pcp lock.
                let p = self.map.page(pfn);
                p.__set_bit(PageFlags::PCP);
                p.set_private(order as u64);
                pcp.lists[idx].push(&self.map, pfn, true);
                got += 1;
            }
            self.mod_free_pages(&mut zf, -((got << order) as isize));
            drop(zf);
            if got == 0 {
                return None;
            }
            pcp.count += got << order;
            self.count_event(VmEvent::PcpRefill, 1);
        }
        let pfn = pcp.lists[idx].first()?;
        // pcp lock held; pfn is on this list.
        pcp.lists[idx].remove(&self.map, pfn);
        self.map.page(pfn).__clear_bit(PageFlags::PCP);
        pcp.count -= 1 << order;
        Some(pfn)
    }

    /// Frees to this CPU's pcp list; drains a batch to the buddy lists when
    /// the list passes `high` (Linux: free_unref_page).
    pub fn free_pcp(&self, cpu: usize, pfn: usize, order: usize) {
        let mt = self.get_pageblock_migratetype(pfn);
        if mt as usize >= MIGRATE_PCPTYPES {
            return self.free_one_page(pfn, order);
        }
        let mut pcp = self.pcp[cpu].lock();
        // The caller gave the block up; it is ours under the pcp lock.
        let p = self.map.page(pfn);
        p.__set_bit(PageFlags::PCP);
        p.set_private(order as u64);
        pcp.lists[order_to_pindex(mt as usize, order)].push(&self.map, pfn, false);
        pcp.count += 1 << order;
        if pcp.count >= pcp.high {
            let batch = pcp.batch;
            self.free_pcppages_bulk(&mut pcp, batch);
        }
    }

    /// Returns `count` pages from the pcp lists to the buddy lists, coldest
    /// (tail) first, round-robin over the lists (Linux: free_pcppages_bulk).
    fn free_pcppages_bulk(&self, pcp: &mut PerCpuPages, count: usize) {
        let mut zf = self.lock.lock();
        let mut freed = 0;
        while freed < count && pcp.count > 0 {
            let idx = pcp.drain_idx;
            pcp.drain_idx = (pcp.drain_idx + 1) % NR_PCP_LISTS;
            let Some(pfn) = pcp.lists[idx].last() else { continue };
            let order = idx / MIGRATE_PCPTYPES;
            // pcp lock held; pfn is on this list.
            pcp.lists[idx].remove(&self.map, pfn);
            self.map.page(pfn).__clear_bit(PageFlags::PCP);
            pcp.count -= 1 << order;
            let mt = self.get_pageblock_migratetype(pfn);
            self.free_one_page_locked(&mut zf, pfn, order, mt);
            freed += 1 << order;
        }
        self.count_event(VmEvent::PcpDrain, 1);
    }

    /// Empties `cpu`'s pcp lists into the buddy lists (Linux: drain_pages_zone).
    pub fn drain_pages(&self, cpu: usize) {
        let mut pcp = self.pcp[cpu].lock();
        let n = pcp.count;
        if n > 0 {
            self.free_pcppages_bulk(&mut pcp, n);
        }
    }

    /// Pages on all CPUs' pcp lists.
    pub fn pcp_count(&self) -> usize {
        self.pcp.iter().map(|p| p.lock().count).sum()
    }
}

impl PageAllocator {
    /// pcp batch and high for every zone and CPU (Linux: zone_batchsize and
    /// the classic high = 6 * batch).
    pub fn setup_pcp(&self) {
        for z in self.zones() {
            let (batch, high) = zone_batch_high(z.managed());
            for pcp in z.pcp.iter() {
                let mut p = pcp.lock();
                p.batch = batch;
                p.high = high;
            }
        }
    }
}

/// pcp batch and high for a zone of `managed` pages.
pub fn zone_batch_high(managed: usize) -> (usize, usize) {
    // About a quarter of a 1024th of the zone, at most 1 MiB / 4, rounded
    // to a power of two minus one to spread cache colours (Linux: zone_batchsize).
    let mut batch = (managed >> 10).min((1 << 20) >> PAGE_SHIFT) / 4;
    batch = batch.max(1);
    let b = batch + batch / 2;
    batch = (1usize << (usize::BITS - 1 - b.leading_zeros())).saturating_sub(1).max(1);
    (batch, 6 * batch)
}
