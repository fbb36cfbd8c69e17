//! Kernel virtual address ranges for vmalloc and ioremap (Linux:
//! mm/vmalloc.c, struct vmap_area, alloc_vmap_area / free_vmap_area).
//!
//! Two ordered sets, as Linux keeps: busy areas by start address, and
//! free ranges by start address. Allocation is first fit from the lowest
//! address (Linux: the lowest free area that fits, found through its
//! augmented free tree); freeing merges with free neighbours. Every area
//! gets an unmapped guard page after it, so running off its end faults.
//!
//! Both sets are sorted vectors whose room is reserved (fallibly) when an
//! area is allocated, so an allocation fails cleanly when memory is short
//! and freeing never allocates.
//!
//! Differences from Linux: sorted vectors instead of augmented rb-trees (so
//! the search is a scan of the free ranges, not O(log n)), and no lazy purge.

use alloc::vec::Vec;

pub use crate::addr::PAGE_SIZE;

/// What an area is for (Linux: VM_ALLOC, VM_IOREMAP, VM_MAP flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmKind {
    Vmalloc,
    Ioremap,
    /// Kernel image or other fixed reservation.
    Reserved,
    /// A range handed out without pages (get_vm_area).
    Area,
}

impl VmKind {
    pub fn name(self) -> &'static str {
        match self {
            VmKind::Vmalloc => "vmalloc",
            VmKind::Ioremap => "ioremap",
            VmKind::Reserved => "reserved",
            VmKind::Area => "vmap",
        }
    }
}

/// A busy area (Linux: struct vm_struct / vmap_area).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmapArea {
    pub start: usize,
    /// End of the usable part; the guard page follows.
    pub end: usize,
    pub kind: VmKind,
    /// Physical pages backing a vmalloc area, in order.
    pub pages: Vec<usize>,
    /// Physical address an ioremap area maps.
    pub phys: usize,
}

impl VmapArea {
    pub fn size(&self) -> usize {
        self.end - self.start
    }
}

pub struct VmapAreas {
    /// Busy areas, sorted by start.
    busy: Vec<VmapArea>,
    /// Free ranges [start, end), sorted by start.
    free: Vec<(usize, usize)>,
    pub start: usize,
    pub end: usize,
}

impl VmapAreas {
    pub fn new(start: usize, end: usize) -> Self {
        VmapAreas { busy: Vec::new(), free: alloc::vec![(start, end)], start, end }
    }

    /// Makes room for one more busy area, and for every free range there can
    /// then be (one more than the busy areas, plus one while freeing), so
    /// that `take` and `free` never allocate. False if memory is short.
    fn reserve_room(&mut self) -> bool {
        let free_room = (self.busy.len() + 3).saturating_sub(self.free.len());
        self.busy.try_reserve(1).is_ok() && self.free.try_reserve(free_room).is_ok()
    }

    /// The index of the free range containing `addr`, if any.
    fn free_index(&self, addr: usize) -> Option<usize> {
        let i = self.free.partition_point(|&(s, _)| s <= addr).checked_sub(1)?;
        (addr < self.free[i].1).then_some(i)
    }

    /// Takes `[start, end)`, which lies in one free range, out of the free
    /// ranges. Room was reserved by the caller.
    fn take(&mut self, start: usize, end: usize) {
        let i = self.free_index(start).expect("range not free");
        let (fs, fe) = self.free[i];
        debug_assert!(fe >= end);
        match (fs < start, end < fe) {
            (true, true) => {
                self.free[i] = (fs, start);
                self.free.insert(i + 1, (end, fe));
            }
            (true, false) => self.free[i] = (fs, start),
            (false, true) => self.free[i] = (end, fe),
            (false, false) => {
                self.free.remove(i);
            }
        }
    }

    fn insert_busy(&mut self, area: VmapArea) {
        let i = self.busy.partition_point(|a| a.start < area.start);
        self.busy.insert(i, area);
    }

    /// Reserves `[start, end)`, which must be free (e.g. the kernel image).
    pub fn reserve(&mut self, start: usize, end: usize, kind: VmKind) -> bool {
        let free = self.free_index(start).is_some_and(|i| self.free[i].1 >= end);
        if !free || !self.reserve_room() {
            return false;
        }
        self.take(start, end);
        self.insert_busy(VmapArea { start, end, kind, pages: Vec::new(), phys: 0 });
        true
    }

    /// A new area of `size` bytes aligned to `align`, plus a guard page
    /// (Linux: alloc_vmap_area). Returns its start; None if no range fits or
    /// memory for the bookkeeping is short.
    pub fn alloc(&mut self, size: usize, align: usize, kind: VmKind) -> Option<usize> {
        let size = size.checked_next_multiple_of(PAGE_SIZE)?;
        if size == 0 {
            return None;
        }
        let need = size.checked_add(PAGE_SIZE)?;
        let align = align.max(PAGE_SIZE);
        let start = self
            .free
            .iter()
            .filter_map(|&(s, e)| s.checked_next_multiple_of(align).map(|s| (s, e)))
            .find(|&(s, e)| s.checked_add(need).is_some_and(|x| x <= e))?
            .0;
        if !self.reserve_room() {
            return None;
        }
        self.take(start, start + need);
        self.insert_busy(VmapArea { start, end: start + size, kind, pages: Vec::new(), phys: 0 });
        Some(start)
    }

    /// Releases the area starting at `start` with its guard page, merging
    /// free neighbours (Linux: free_vmap_area). Never allocates. Returns
    /// the area.
    pub fn free(&mut self, start: usize) -> Option<VmapArea> {
        let i = self.busy.binary_search_by_key(&start, |a| a.start).ok()?;
        let area = self.busy.remove(i);
        let (s, e) = (area.start, area.end + PAGE_SIZE);
        let j = self.free.partition_point(|&(fs, _)| fs < s);
        let merges_prev = j > 0 && self.free[j - 1].1 == s;
        let merges_next = j < self.free.len() && self.free[j].0 == e;
        match (merges_prev, merges_next) {
            (true, true) => {
                self.free[j - 1].1 = self.free[j].1;
                self.free.remove(j);
            }
            (true, false) => self.free[j - 1].1 = e,
            (false, true) => self.free[j].0 = s,
            (false, false) => {
                debug_assert!(self.free.len() < self.free.capacity(), "room reserved by alloc");
                self.free.insert(j, (s, e));
            }
        }
        Some(area)
    }

    /// The busy area containing `addr` (Linux: find_vmap_area).
    pub fn find(&self, addr: usize) -> Option<&VmapArea> {
        let i = self.busy.partition_point(|a| a.start <= addr).checked_sub(1)?;
        Some(&self.busy[i]).filter(|a| addr < a.end)
    }

    pub fn find_mut(&mut self, start: usize) -> Option<&mut VmapArea> {
        let i = self.busy.binary_search_by_key(&start, |a| a.start).ok()?;
        Some(&mut self.busy[i])
    }

    pub fn busy(&self) -> impl Iterator<Item = &VmapArea> {
        self.busy.iter()
    }

    pub fn free_ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.free.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: usize = 0x1000_0000;

    #[test]
    fn first_fit_with_guard_pages_and_alignment() {
        let mut v = VmapAreas::new(S, S + 0x10_0000);
        let a = v.alloc(5000, PAGE_SIZE, VmKind::Vmalloc).unwrap();
        assert_eq!(a, S);
        assert_eq!(v.find(a).unwrap().size(), 8192);
        let b = v.alloc(4096, PAGE_SIZE, VmKind::Vmalloc).unwrap();
        assert_eq!(b, S + 8192 + PAGE_SIZE, "a guard page separates areas");
        let c = v.alloc(4096, 0x10000, VmKind::Ioremap).unwrap();
        assert_eq!(c % 0x10000, 0);
        assert!(v.find(a + 8192).is_none(), "the guard page belongs to no area");
        assert!(v.alloc(0x20_0000, PAGE_SIZE, VmKind::Vmalloc).is_none());
        assert!(v.alloc(0, PAGE_SIZE, VmKind::Vmalloc).is_none());
    }

    #[test]
    fn free_merges_neighbours_back_into_one_range() {
        let mut v = VmapAreas::new(S, S + 0x10_0000);
        let areas: Vec<usize> = (0..10).map(|_| v.alloc(4096, PAGE_SIZE, VmKind::Vmalloc).unwrap()).collect();
        for &a in areas.iter().step_by(2) {
            v.free(a).unwrap();
        }
        // The first hole is reused first.
        assert_eq!(v.alloc(4096, PAGE_SIZE, VmKind::Vmalloc), Some(areas[0]));
        v.free(areas[0]).unwrap();
        for &a in areas.iter().skip(1).step_by(2) {
            v.free(a).unwrap();
        }
        assert_eq!(v.free_ranges().collect::<Vec<_>>(), [(S, S + 0x10_0000)]);
        assert!(v.free(areas[3]).is_none(), "double vfree is refused");
    }

    #[test]
    fn many_areas_alloc_and_free_in_any_order_restore_one_range() {
        let mut v = VmapAreas::new(S, S + 0x100_0000);
        let mut areas: Vec<usize> = (0..200)
            .map(|i| v.alloc(4096 * (1 + i % 3), PAGE_SIZE << (i % 2), VmKind::Vmalloc).unwrap())
            .collect();
        for (i, a) in areas.iter().enumerate() {
            assert_eq!(v.find(*a).unwrap().start, *a, "area {i} not found");
        }
        // Free in a scrambled order: every merge case happens.
        let mut x = 12345u64;
        while !areas.is_empty() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let a = areas.swap_remove((x >> 33) as usize % areas.len());
            v.free(a).unwrap();
            let ranges: Vec<_> = v.free_ranges().collect();
            assert!(
                ranges.windows(2).all(|w| w[0].1 < w[1].0),
                "free ranges unsorted or unmerged: {ranges:x?}"
            );
        }
        assert_eq!(v.free_ranges().collect::<Vec<_>>(), [(S, S + 0x100_0000)]);
        assert_eq!(v.busy().count(), 0);
    }

    #[test]
    fn reserve_takes_a_fixed_range() {
        let mut v = VmapAreas::new(S, S + 0x10_0000);
        assert!(v.reserve(S + 0x8000, S + 0x9000, VmKind::Reserved));
        assert!(!v.reserve(S + 0x8000, S + 0x9000, VmKind::Reserved));
        let a = v.alloc(0x8000, PAGE_SIZE, VmKind::Vmalloc).unwrap();
        assert_ne!(a, S, "0x8000 + guard does not fit below the reservation");
        assert_eq!(v.find(S + 0x8800).unwrap().kind, VmKind::Reserved);
    }
}
