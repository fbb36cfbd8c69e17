//! The LRU lists and the decisions of page reclaim (Linux: include/linux/
//! mmzone.h enum lru_list and struct lruvec, mm/swap.c, the list parts of
//! mm/vmscan.c: isolate_lru_folios, folio_check_references,
//! inactive_is_low, get_scan_count).
//!
//! Every page a process or a file uses sits on one of five lists of its
//! node: anonymous or file, each split in an *active* and an *inactive*
//! half, and the *unevictable* list (mlocked pages). New pages start
//! inactive; a page found used again while inactive is *activated*;
//! reclaim takes pages from the tail of the inactive lists, and refills
//! them from the tail of the active ones, so a page must go unused for a
//! whole trip down the inactive list before it is evicted: the *second
//! chance*.
//!
//! ```text
//!          new page                      referenced twice
//!   head ─────────────► inactive ───────────────────────────► active
//!                          │ tail: not referenced                │ tail: shrink_active_list
//!                          ▼                                     │ (deactivate unless an
//!                   reclaim (evict)  ◄──── inactive head ◄───────┘  executable file page)
//! ```
//!
//! This module holds the lists and the pure decisions; the kernel's
//! mm/vmscan.rs walks the rmap, unmaps and frees.

use crate::mmzone::FreeList;
use crate::page::{MemMap, PageFlags};

/// The five lists (Linux: enum lru_list), in Linux's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum LruList {
    InactiveAnon = 0,
    ActiveAnon = 1,
    InactiveFile = 2,
    ActiveFile = 3,
    Unevictable = 4,
}

pub const NR_LRU_LISTS: usize = 5;

impl LruList {
    pub const ALL: [LruList; NR_LRU_LISTS] = [
        LruList::InactiveAnon,
        LruList::ActiveAnon,
        LruList::InactiveFile,
        LruList::ActiveFile,
        LruList::Unevictable,
    ];

    /// The list for a page of this kind (Linux: folio_lru_list).
    pub fn of(file: bool, active: bool) -> LruList {
        match (file, active) {
            (false, false) => LruList::InactiveAnon,
            (false, true) => LruList::ActiveAnon,
            (true, false) => LruList::InactiveFile,
            (true, true) => LruList::ActiveFile,
        }
    }

    pub fn is_file(self) -> bool {
        matches!(self, LruList::InactiveFile | LruList::ActiveFile)
    }

    pub fn is_active(self) -> bool {
        matches!(self, LruList::ActiveAnon | LruList::ActiveFile)
    }

    /// The other half of the same kind.
    pub fn toggled(self) -> LruList {
        match self {
            LruList::Unevictable => LruList::Unevictable,
            l => LruList::of(l.is_file(), !l.is_active()),
        }
    }

    /// As /proc/meminfo names it.
    pub fn name(self) -> &'static str {
        match self {
            LruList::InactiveAnon => "Inactive(anon)",
            LruList::ActiveAnon => "Active(anon)",
            LruList::InactiveFile => "Inactive(file)",
            LruList::ActiveFile => "Active(file)",
            LruList::Unevictable => "Unevictable",
        }
    }
}

/// One node's LRU lists (Linux: struct lruvec). The kernel keeps it under
/// the node's lru_lock, which also owns the `lru` links of every page on
/// it and its PG_lru/PG_active/PG_unevictable bits.
pub struct Lruvec {
    lists: [FreeList; NR_LRU_LISTS],
    nr: [usize; NR_LRU_LISTS],
}

impl Default for Lruvec {
    fn default() -> Self {
        Self::new()
    }
}

impl Lruvec {
    pub const fn new() -> Self {
        Lruvec { lists: [FreeList::EMPTY; NR_LRU_LISTS], nr: [0; NR_LRU_LISTS] }
    }

    pub fn len(&self, lru: LruList) -> usize {
        self.nr[lru as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.nr.iter().all(|&n| n == 0)
    }

    /// Pages on every list.
    pub fn total(&self) -> usize {
        self.nr.iter().sum()
    }

    /// Puts `pfn` at the head of `lru` and sets PG_lru (and PG_active or
    /// PG_unevictable as the list says) (Linux: lruvec_add_folio).
    pub fn add(&mut self, map: &MemMap, pfn: usize, lru: LruList) {
        let page = map.page(pfn);
        debug_assert!(!page.test(PageFlags::LRU), "pfn {pfn:#x} is on an LRU list already");
        page.set_bit(PageFlags::LRU);
        if lru.is_active() {
            page.set_bit(PageFlags::ACTIVE);
        } else {
            page.clear_bit(PageFlags::ACTIVE);
        }
        if lru == LruList::Unevictable {
            page.set_bit(PageFlags::UNEVICTABLE);
        } else {
            page.clear_bit(PageFlags::UNEVICTABLE);
        }
        self.lists[lru as usize].push(map, pfn, false);
        self.nr[lru as usize] += 1;
    }

    /// The list a page on the LRU is on, from its flags (Linux:
    /// folio_lru_list).
    pub fn list_of(map: &MemMap, pfn: usize) -> LruList {
        let page = map.page(pfn);
        if page.test(PageFlags::UNEVICTABLE) {
            LruList::Unevictable
        } else {
            LruList::of(!page.test(PageFlags::SWAPBACKED), page.test(PageFlags::ACTIVE))
        }
    }

    /// Takes `pfn` off its list and clears PG_lru; returns the list it was
    /// on (Linux: lruvec_del_folio + folio_clear_lru).
    pub fn del(&mut self, map: &MemMap, pfn: usize) -> LruList {
        let lru = Self::list_of(map, pfn);
        debug_assert!(map.page(pfn).test(PageFlags::LRU), "pfn {pfn:#x} is not on an LRU list");
        self.lists[lru as usize].remove(map, pfn);
        self.nr[lru as usize] -= 1;
        map.page(pfn).clear_bit(PageFlags::LRU);
        lru
    }

    /// Moves a page on the LRU to the head of `to` (Linux: the
    /// del + add of folio_activate / lru_deactivate).
    pub fn move_to(&mut self, map: &MemMap, pfn: usize, to: LruList) {
        self.del(map, pfn);
        self.add(map, pfn, to);
    }

    /// Moves a page on the LRU to the tail of its list, where reclaim
    /// looks next (Linux: lru_move_tail, for a folio whose writeback for
    /// reclaim just ended: folio_rotate_reclaimable).
    pub fn rotate_to_tail(&mut self, map: &MemMap, pfn: usize) {
        let lru = Self::list_of(map, pfn);
        self.lists[lru as usize].remove(map, pfn);
        self.lists[lru as usize].push(map, pfn, true);
    }

    /// Takes up to `nr` pages from the tail of `lru` for reclaim to look at;
    /// they leave the list with PG_lru cleared, and `isolated` gets them
    /// oldest first (Linux: isolate_lru_folios). A page `skip` refuses
    /// (pinned by someone, say) goes back to the head instead. Returns the
    /// pages scanned.
    pub fn isolate(
        &mut self,
        map: &MemMap,
        lru: LruList,
        nr: usize,
        mut skip: impl FnMut(usize) -> bool,
        isolated: &mut impl Extend<usize>,
    ) -> usize {
        let mut scanned = 0;
        while scanned < nr {
            let Some(pfn) = self.lists[lru as usize].last() else { break };
            scanned += 1;
            self.lists[lru as usize].remove(map, pfn);
            if skip(pfn) {
                self.lists[lru as usize].push(map, pfn, false);
                continue;
            }
            self.nr[lru as usize] -= 1;
            map.page(pfn).clear_bit(PageFlags::LRU);
            isolated.extend(core::iter::once(pfn));
        }
        scanned
    }

    /// The pages of `lru`, head (newest) first.
    pub fn iter<'a>(&self, map: &'a MemMap, lru: LruList) -> impl Iterator<Item = usize> + 'a {
        self.lists[lru as usize].iter(map)
    }
}

/// What shrink_page_list does with an inactive page (Linux: enum
/// folio_references).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageReferences {
    /// Used: back to the active list.
    Activate,
    /// Used once: stays inactive for another round.
    Keep,
    /// Not used since it was last looked at: evict it.
    Reclaim,
}

/// The second-chance rule (Linux: folio_check_references). `ptes` is how
/// many PTEs had the young (access) bit set, which the rmap walk cleared;
/// `referenced` is whether PG_referenced was set, which the caller has
/// cleared; `swapbacked` whether it is anonymous or shmem memory; `exec`
/// whether it is mapped executable from a file.
pub fn page_check_references(ptes: usize, referenced: bool, swapbacked: bool, exec: bool) -> PageReferences {
    if ptes > 0 {
        // Anonymous pages are activated at their first sign of use: they
        // cost a swap-out to lose.
        if swapbacked {
            return PageReferences::Activate;
        }
        // A file page mapped by processes and used twice (the young bits
        // this round and PG_referenced from the last), or used by several
        // processes at once, is part of a working set.
        if referenced || ptes > 1 {
            return PageReferences::Activate;
        }
        // Executable code is activated at once: programs should not wait
        // for their own instructions.
        if exec {
            return PageReferences::Activate;
        }
        // Used once: keep it another round, remembering the use (the
        // caller sets PG_referenced again).
        return PageReferences::Keep;
    }
    // No PTE saw it; a file page read() recently has PG_referenced, and
    // the reads already moved it if that was the second time.
    PageReferences::Reclaim
}

/// What mark_page_accessed does to a page a read() or write() touched
/// (Linux: folio_mark_accessed): the first touch sets PG_referenced, the
/// second on an inactive page activates it. Returns (set PG_referenced,
/// activate).
pub fn mark_accessed(referenced: bool, active: bool, on_lru: bool) -> (bool, bool) {
    if !referenced {
        (true, false)
    } else if !active && on_lru {
        // Activated: PG_referenced is cleared, as Linux's folio_activate does.
        (false, true)
    } else {
        (true, false)
    }
}

/// Whether the inactive list of a kind is too short against its active
/// list, so reclaim should deactivate some active pages first (Linux:
/// inactive_is_low): the ratio grows with the square root of the size, so
/// 1 GiB of file pages keeps about 1/4 inactive (ratio 3), 10 GiB 1/10.
pub fn inactive_is_low(inactive: usize, active: usize) -> bool {
    // Pages to GiB (4 KiB pages).
    let gb = (inactive + active) >> 18;
    let ratio = if gb > 0 { crate::page_alloc::watermark::int_sqrt(10 * gb) } else { 1 };
    inactive * ratio < active
}

/// How reclaim splits its scanning between anonymous and file pages (Linux:
/// get_scan_count, the SCAN_FRACT case): each list's size >> `priority`,
/// times `swappiness / 200` for anonymous pages and `(200 - swappiness) /
/// 200` for file pages (`vm.swappiness`, 0..=200, default 60). With no
/// swap, or swappiness 0, only file pages are scanned. Linux also weighs
/// each kind by the recent cost of reclaiming it (anon_cost, file_cost);
/// Pagoda leaves that out.
pub fn get_scan_count(
    nr_anon: usize,
    nr_file: usize,
    priority: usize,
    swappiness: usize,
    have_swap: bool,
) -> (usize, usize) {
    let scan = |n: usize| (n >> priority).max(if n > 0 && priority == 0 { 1 } else { 0 });
    if !have_swap || swappiness == 0 {
        return (0, scan(nr_file));
    }
    let anon_prio = swappiness.min(200);
    let file_prio = 200 - anon_prio;
    if file_prio == 0 {
        return (scan(nr_anon), 0);
    }
    let (a, f) = (scan(nr_anon), scan(nr_file));
    (a * anon_prio / 200, f * file_prio / 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::{MemMap, Page};
    use alloc::vec::Vec;
    use std::collections::VecDeque;

    fn map(n: usize) -> (Vec<Page>, MemMap) {
        let mut pages: Vec<Page> = (0..n).map(|_| Page::new_reserved(0, 0, 0)).collect();
        // SAFETY: `pages` outlives the map in every test (returned with it).
        let mm = unsafe { MemMap::new(pages.as_mut_ptr(), 0, n) };
        for p in &pages {
            p.clear_bit(PageFlags::RESERVED);
        }
        (pages, mm)
    }

    /// The lists against a model of five deques, under random operations.
    #[test]
    fn lists_match_a_model_under_random_operations() {
        let (_pages, mm) = map(256);
        let mut lru = Lruvec::new();
        let mut model: [VecDeque<usize>; NR_LRU_LISTS] = Default::default();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n) as usize
        };
        for _ in 0..20_000 {
            let pfn = rnd(256);
            let on = mm.page(pfn).test(PageFlags::LRU);
            match rnd(4) {
                0 if !on => {
                    let l = LruList::ALL[rnd(5)];
                    mm.page(pfn).clear_bit(PageFlags::SWAPBACKED);
                    if !l.is_file() && l != LruList::Unevictable {
                        mm.page(pfn).set_bit(PageFlags::SWAPBACKED);
                    }
                    lru.add(&mm, pfn, l);
                    model[l as usize].push_front(pfn);
                }
                1 if on => {
                    let l = lru.del(&mm, pfn);
                    let q = &mut model[l as usize];
                    q.remove(q.iter().position(|&p| p == pfn).unwrap());
                }
                2 if on && Lruvec::list_of(&mm, pfn) != LruList::Unevictable => {
                    let from = Lruvec::list_of(&mm, pfn);
                    let to = from.toggled();
                    lru.move_to(&mm, pfn, to);
                    let q = &mut model[from as usize];
                    q.remove(q.iter().position(|&p| p == pfn).unwrap());
                    model[to as usize].push_front(pfn);
                }
                3 => {
                    let l = LruList::ALL[rnd(5)];
                    let mut got = Vec::new();
                    let n = rnd(5);
                    // Refuse odd PFNs: they go back to the head.
                    lru.isolate(&mm, l, n, |p| p % 2 == 1, &mut got);
                    let q = &mut model[l as usize];
                    let mut want = Vec::new();
                    for _ in 0..n {
                        let Some(p) = q.pop_back() else { break };
                        if p % 2 == 1 {
                            q.push_front(p);
                        } else {
                            want.push(p);
                        }
                    }
                    assert_eq!(got, want);
                    for p in got {
                        assert!(!mm.page(p).test(PageFlags::LRU));
                    }
                }
                _ => {}
            }
            for l in LruList::ALL {
                assert_eq!(lru.len(l), model[l as usize].len());
            }
        }
        for l in LruList::ALL {
            assert_eq!(
                lru.iter(&mm, l).collect::<Vec<_>>(),
                model[l as usize].iter().copied().collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn second_chance_follows_folio_check_references() {
        use PageReferences::*;
        // Anonymous: activated on any young PTE, else reclaimed.
        assert_eq!(page_check_references(1, false, true, false), Activate);
        assert_eq!(page_check_references(0, true, true, false), Reclaim);
        // File, mapped: used once -> keep; twice or by two -> activate.
        assert_eq!(page_check_references(1, false, false, false), Keep);
        assert_eq!(page_check_references(1, true, false, false), Activate);
        assert_eq!(page_check_references(2, false, false, false), Activate);
        assert_eq!(page_check_references(1, false, false, true), Activate);
        assert_eq!(page_check_references(0, false, false, false), Reclaim);
    }

    /// A page touched once by read() stays inactive with PG_referenced; a
    /// second touch activates it (and clears the bit).
    #[test]
    fn two_reads_activate_a_page() {
        assert_eq!(mark_accessed(false, false, true), (true, false));
        assert_eq!(mark_accessed(true, false, true), (false, true));
        assert_eq!(mark_accessed(true, true, true), (true, false));
        // Not on the LRU yet (in a per-CPU batch): remembered, not moved.
        assert_eq!(mark_accessed(true, false, false), (true, false));
    }

    #[test]
    fn inactive_ratio_grows_with_the_square_root_of_the_size() {
        // Under 1 GiB: inactive should be at least as large as active.
        assert!(inactive_is_low(100, 101));
        assert!(!inactive_is_low(100, 100));
        // 1 GiB: ratio int_sqrt(10) = 3.
        let gib = 1 << 18;
        assert!(!inactive_is_low(gib / 4, 3 * gib / 4));
        assert!(inactive_is_low(gib / 5, 4 * gib / 5));
    }

    #[test]
    fn swappiness_splits_the_scan() {
        // No swap: files only.
        assert_eq!(get_scan_count(1000, 1000, 0, 60, false), (0, 1000));
        // 60: anon gets 60/200 of its list's share, file 140/200.
        assert_eq!(get_scan_count(4096, 4096, 2, 60, true), (307, 716));
        assert_eq!(get_scan_count(4096, 4096, 2, 100, true), (512, 512));
        assert_eq!(get_scan_count(4096, 4096, 2, 200, true), (1024, 0));
        assert_eq!(get_scan_count(4096, 4096, 2, 0, true), (0, 1024));
        // Priority 12 scans nothing of small lists, priority 0 everything.
        assert_eq!(get_scan_count(100, 100, 12, 60, false), (0, 0));
        assert_eq!(get_scan_count(100, 100, 0, 60, false), (0, 100));
    }
}
