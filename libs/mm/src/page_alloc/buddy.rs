//! The buddy allocator proper (Linux: mm/page_alloc.c: expand,
//! __rmqueue_smallest, __free_one_page, __rmqueue_fallback and friends).
//!
//! Allocation takes the smallest free block that fits and splits it
//! (`expand`); freeing merges a block with its buddy, found by flipping bit
//! `order` of the PFN (`__free_one_page`), for as long as the buddy is free
//! and of the same order. When a migratetype's lists are empty, a block is
//! stolen from another type, and with it, when worthwhile, its whole
//! pageblock (`steal_suitable_fallback`), so that unmovable allocations
//! cluster instead of pinning every pageblock.
//!
//! Everything here runs with zone->lock held: the `&mut ZoneFree` argument
//! is the proof.

use crate::mmzone::*;
use crate::page::PageFlags;
use crate::vmstat::{VmEvent, ZoneStatItem};
use core::sync::atomic::Ordering;

/// Where to steal from when a migratetype's lists are empty
/// (Linux: fallbacks[][]).
const FALLBACKS: [[MigrateType; 2]; MIGRATE_PCPTYPES] = [
    [MigrateType::Reclaimable, MigrateType::Movable], // Unmovable
    [MigrateType::Reclaimable, MigrateType::Unmovable], // Movable
    [MigrateType::Unmovable, MigrateType::Movable],   // Reclaimable
];

impl Zone {
    fn add_to_free_list(&self, zf: &mut ZoneFree, pfn: usize, order: usize, mt: MigrateType, tail: bool) {
        // zone->lock is held (we have &mut ZoneFree): the block's page is ours.
        let p = self.map.page(pfn);
        p.__set_bit(PageFlags::BUDDY);
        p.set_private(order as u64);
        p.set_index(mt as u64); // which list it is on
        zf.free_area[order].free_list[mt as usize].push(&self.map, pfn, tail);
        zf.free_area[order].nr_free += 1;
    }

    fn del_page_from_free_list(&self, zf: &mut ZoneFree, pfn: usize, order: usize) {
        let p = self.map.page(pfn);
        let mt = p.index() as usize;
        zf.free_area[order].free_list[mt].remove(&self.map, pfn);
        p.__clear_bit(PageFlags::BUDDY);
        p.set_private(0);
        zf.free_area[order].nr_free -= 1;
    }

    fn move_to_free_list(&self, zf: &mut ZoneFree, pfn: usize, order: usize, mt: MigrateType) {
        self.del_page_from_free_list(zf, pfn, order);
        self.add_to_free_list(zf, pfn, order, mt, true);
    }

    /// Is `pfn` the head of a free block of exactly `order` in this zone?
    /// (Linux: page_is_buddy)
    fn page_is_buddy(&self, pfn: usize, order: usize) -> bool {
        // The zone lies inside the mem_map (checked in Zone::new).
        if !self.contains_pfn(pfn) {
            return false;
        }
        let p = self.map.page(pfn);
        p.is_buddy() && p.buddy_order() == order
    }

    /// Splits a block of `high` order at `pfn` down to `low`, putting the
    /// upper halves back on the free lists (Linux: expand).
    ///
    /// ```text
    /// high=3: [ 0 1 2 3 4 5 6 7 ]  -> keep [0 1 2 3], free order-2 [4 5 6 7]
    ///         [ 0 1 2 3 ]          -> keep [0 1],     free order-1 [2 3]
    ///         [ 0 1 ]              -> keep [0],       free order-0 [1]
    /// ```
    pub(crate) fn expand(&self, zf: &mut ZoneFree, pfn: usize, low: usize, mut high: usize, mt: MigrateType) {
        while high > low {
            high -= 1;
            self.add_to_free_list(zf, pfn + (1 << high), high, mt, false);
        }
    }

    /// The smallest free block of `mt` that fits (Linux: __rmqueue_smallest).
    pub(crate) fn rmqueue_smallest(&self, zf: &mut ZoneFree, order: usize, mt: MigrateType) -> Option<usize> {
        for current in order..MAX_ORDER {
            if let Some(pfn) = zf.free_area[current].free_list[mt as usize].first() {
                self.del_page_from_free_list(zf, pfn, current);
                self.expand(zf, pfn, order, current, mt);
                return Some(pfn);
            }
        }
        None
    }

    /// Merges a freed block with its free buddies and puts the result on a
    /// free list (Linux: __free_one_page).
    ///
    /// ```text
    /// free pfn 5, order 0: buddy = 5 ^ 1 = 4 free?   -> merge to [4,5] order 1
    ///                      buddy = 4 ^ 2 = 6 free?   -> merge to [4..7] order 2
    ///                      buddy = 4 ^ 4 = 0 in use? -> stop: free [4..7] at order 2
    /// ```
    pub(crate) fn free_one_page_locked(
        &self,
        zf: &mut ZoneFree,
        mut pfn: usize,
        mut order: usize,
        mt: MigrateType,
    ) {
        self.mod_free_pages(zf, 1 << order);
        while order < MAX_ORDER - 1 {
            let buddy = pfn ^ (1 << order);
            if !self.page_is_buddy(buddy, order) {
                break;
            }
            self.del_page_from_free_list(zf, buddy, order);
            pfn &= buddy; // the lower of the two is the combined block's head
            order += 1;
        }
        self.add_to_free_list(zf, pfn, order, mt, false);
    }

    // ---- fallback: stealing from other migratetypes --------------------

    /// Large blocks, and any unmovable/reclaimable request, may claim the
    /// whole pageblock (Linux: can_steal_fallback).
    fn can_steal_fallback(order: usize, start_mt: MigrateType) -> bool {
        order >= PAGEBLOCK_ORDER / 2
            || start_mt == MigrateType::Reclaimable
            || start_mt == MigrateType::Unmovable
    }

    /// Linux: find_suitable_fallback.
    fn find_suitable_fallback(
        zf: &ZoneFree,
        order: usize,
        start_mt: MigrateType,
    ) -> Option<(MigrateType, bool)> {
        if zf.free_area[order].nr_free == 0 {
            return None;
        }
        FALLBACKS[start_mt as usize]
            .iter()
            .find(|fb| !zf.free_area[order].free_list[**fb as usize].is_empty())
            .map(|&fb| (fb, Self::can_steal_fallback(order, start_mt)))
    }

    /// Moves every free block inside `pfn`'s pageblock to `mt`'s lists;
    /// returns (free pages moved, pages on the LRU) (Linux: move_freepages_block).
    fn move_freepages_block(&self, zf: &mut ZoneFree, pfn: usize, mt: MigrateType) -> (usize, usize) {
        let start = (pfn & !(PAGEBLOCK_NR_PAGES - 1)).max(self.zone_start_pfn);
        let end = ((pfn | (PAGEBLOCK_NR_PAGES - 1)) + 1).min(self.zone_end_pfn());
        let (mut free, mut movable) = (0, 0);
        let mut p = start;
        while p < end {
            let page = self.map.page(p);
            if page.is_buddy() {
                let order = page.buddy_order();
                self.move_to_free_list(zf, p, order, mt);
                free += 1 << order;
                p += 1 << order;
            } else {
                movable += page.test(PageFlags::LRU) as usize;
                p += 1;
            }
        }
        (free, movable)
    }

    /// Takes the free block at `pfn` (of `order`) for `start_mt`, and, if the
    /// rest of its pageblock is mostly free or alike, the whole pageblock
    /// (Linux: steal_suitable_fallback).
    fn steal_suitable_fallback(
        &self,
        zf: &mut ZoneFree,
        pfn: usize,
        order: usize,
        start_mt: MigrateType,
        whole: bool,
    ) {
        self.count_event(VmEvent::ExtfragFallback, 1);
        let old_mt = self.get_pageblock_migratetype(pfn);
        if order >= PAGEBLOCK_ORDER {
            // The block spans whole pageblocks: convert them all.
            for pb in (pfn..pfn + (1 << order)).step_by(PAGEBLOCK_NR_PAGES) {
                self.set_pageblock_migratetype(pb, start_mt);
            }
            self.move_to_free_list(zf, pfn, order, start_mt);
            self.count_event(VmEvent::ExtfragClaimed, 1);
            return;
        }
        if whole {
            let (free, movable) = self.move_freepages_block(zf, pfn, start_mt);
            if free > 0 {
                let alike = if start_mt == MigrateType::Movable {
                    movable
                } else if old_mt == MigrateType::Movable {
                    PAGEBLOCK_NR_PAGES - (free + movable)
                } else {
                    0
                };
                if free + alike >= PAGEBLOCK_NR_PAGES / 2 {
                    self.set_pageblock_migratetype(pfn, start_mt);
                    self.count_event(VmEvent::ExtfragClaimed, 1);
                }
                return;
            }
        }
        self.move_to_free_list(zf, pfn, order, start_mt);
    }

    /// Linux: __rmqueue_fallback. Steals the *largest* free block of a
    /// fallback type, to take over whole pageblocks and keep fragmentation
    /// down; small blocks that may not be claimed are taken smallest first.
    fn rmqueue_fallback(&self, zf: &mut ZoneFree, order: usize, start_mt: MigrateType) -> bool {
        for current in (order..MAX_ORDER).rev() {
            if let Some((fb, can_steal)) = Self::find_suitable_fallback(zf, current, start_mt) {
                if !can_steal {
                    break; // fall through to the smallest-first search
                }
                let pfn = zf.free_area[current].free_list[fb as usize].first().unwrap();
                self.steal_suitable_fallback(zf, pfn, current, start_mt, true);
                return true;
            }
        }
        for current in order..MAX_ORDER {
            if let Some((fb, _)) = Self::find_suitable_fallback(zf, current, start_mt) {
                let pfn = zf.free_area[current].free_list[fb as usize].first().unwrap();
                self.steal_suitable_fallback(zf, pfn, current, start_mt, false);
                return true;
            }
        }
        false
    }

    /// Linux: __rmqueue.
    pub(crate) fn rmqueue_locked(&self, zf: &mut ZoneFree, order: usize, mt: MigrateType) -> Option<usize> {
        loop {
            if let Some(pfn) = self.rmqueue_smallest(zf, order, mt) {
                return Some(pfn);
            }
            if mt as usize >= MIGRATE_PCPTYPES || !self.rmqueue_fallback(zf, order, mt) {
                return None;
            }
        }
    }

    // ---- entry points ----------------------------------------------------

    /// Allocates straight from the buddy lists under zone->lock
    /// (Linux: rmqueue_buddy). Returns the head PFN.
    pub fn rmqueue_buddy(&self, order: usize, mt: MigrateType) -> Option<usize> {
        let mut zf = self.lock.lock();
        let pfn = self.rmqueue_locked(&mut zf, order, mt)?;
        self.mod_free_pages(&mut zf, -(1 << order));
        Some(pfn)
    }

    /// Frees a block straight to the buddy lists (Linux: free_one_page).
    pub fn free_one_page(&self, pfn: usize, order: usize) {
        let mut zf = self.lock.lock();
        let mt = self.get_pageblock_migratetype(pfn);
        self.free_one_page_locked(&mut zf, pfn, order, mt);
    }

    /// Hands a boot-time free range to the allocator: clears PG_reserved,
    /// counts the pages as managed, frees the block (Linux: __free_pages_core).
    pub fn free_pages_core(&self, pfn: usize, order: usize) {
        for p in pfn..pfn + (1 << order) {
            // Boot time: the pages are not in use yet.
            let page = self.map.page(p);
            page.__clear_bit(PageFlags::RESERVED);
            page.set_page_count(0);
        }
        self.managed_pages.fetch_add(1 << order, Ordering::Relaxed);
        self.free_one_page(pfn, order);
    }

    /// Walks every free list and checks it against the counters and the
    /// struct pages; returns free pages found. For tests and `vmstat`-style
    /// self-checks (Linux has no such walk; CONFIG_DEBUG_VM checks pieces).
    pub fn check_free_lists(&self) -> Result<usize, &'static str> {
        let zf = self.lock.lock();
        let mut pages = 0;
        for (order, fa) in zf.free_area.iter().enumerate() {
            let mut blocks = 0;
            for (mt, list) in fa.free_list.iter().enumerate() {
                let mut n = 0;
                for pfn in list.iter(&self.map) {
                    let p = self.map.page(pfn);
                    if !p.is_buddy() || p.buddy_order() != order || p.index() as usize != mt {
                        return Err("free-list page without matching PG_buddy/order/list");
                    }
                    if pfn & ((1 << order) - 1) != 0 || !self.contains_pfn(pfn + (1 << order) - 1) {
                        return Err("misaligned or out-of-zone free block");
                    }
                    n += 1;
                }
                blocks += n;
            }
            if blocks != fa.nr_free {
                return Err("nr_free does not match the lists");
            }
            pages += blocks << order;
        }
        if pages != self.zone_page_state(ZoneStatItem::NrFreePages) {
            return Err("NR_FREE_PAGES does not match the free lists");
        }
        Ok(pages)
    }
}
