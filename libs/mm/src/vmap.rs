//! Kernel virtual address ranges for vmalloc and ioremap (Linux:
//! mm/vmalloc.c, struct vmap_area, alloc_vmap_area / free_vmap_area).
//!
//! Two ordered trees, as Linux keeps: busy areas by start address, and
//! free ranges by start address. Allocation is first fit from the lowest
//! address (Linux: the lowest free area that fits, found through its
//! augmented free tree); freeing merges with free neighbours. Every area
//! gets an unmapped guard page after it, so running off its end faults.
//!
//! Differences from Linux: BTreeMaps instead of augmented rb-trees (so the
//! search is a scan of the free ranges, not O(log n)), and no lazy purge.

use alloc::collections::BTreeMap;
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
    busy: BTreeMap<usize, VmapArea>,
    /// start -> end of each free range.
    free: BTreeMap<usize, usize>,
    pub start: usize,
    pub end: usize,
}

impl VmapAreas {
    pub fn new(start: usize, end: usize) -> Self {
        let mut free = BTreeMap::new();
        free.insert(start, end);
        VmapAreas { busy: BTreeMap::new(), free, start, end }
    }

    /// Takes `[start, end)` out of the free ranges.
    fn take(&mut self, start: usize, end: usize) {
        let (&fs, &fe) = self.free.range(..=start).next_back().expect("range not free");
        debug_assert!(fe >= end);
        self.free.remove(&fs);
        if fs < start {
            self.free.insert(fs, start);
        }
        if end < fe {
            self.free.insert(end, fe);
        }
    }

    /// Reserves `[start, end)`, which must be free (e.g. the kernel image).
    pub fn reserve(&mut self, start: usize, end: usize, kind: VmKind) -> bool {
        let free = self.free.range(..=start).next_back().is_some_and(|(_, &fe)| fe >= end);
        if free {
            self.take(start, end);
            self.busy.insert(start, VmapArea { start, end, kind, pages: Vec::new(), phys: 0 });
        }
        free
    }

    /// A new area of `size` bytes aligned to `align`, plus a guard page
    /// (Linux: alloc_vmap_area). Returns its start.
    pub fn alloc(&mut self, size: usize, align: usize, kind: VmKind) -> Option<usize> {
        let size = size.checked_next_multiple_of(PAGE_SIZE)?;
        if size == 0 {
            return None;
        }
        let need = size + PAGE_SIZE;
        let (start, _) = self
            .free
            .iter()
            .map(|(&s, &e)| (s.next_multiple_of(align.max(PAGE_SIZE)), e))
            .find(|&(s, e)| s.checked_add(need).is_some_and(|x| x <= e))?;
        self.take(start, start + need);
        self.busy.insert(start, VmapArea { start, end: start + size, kind, pages: Vec::new(), phys: 0 });
        Some(start)
    }

    /// Releases the area starting at `start` with its guard page, merging
    /// free neighbours (Linux: free_vmap_area). Returns the area.
    pub fn free(&mut self, start: usize) -> Option<VmapArea> {
        let area = self.busy.remove(&start)?;
        let (mut s, mut e) = (area.start, area.end + PAGE_SIZE);
        if let Some((&ps, &pe)) = self.free.range(..s).next_back() {
            if pe == s {
                self.free.remove(&ps);
                s = ps;
            }
        }
        if let Some(&ne) = self.free.get(&e) {
            self.free.remove(&e);
            e = ne;
        }
        self.free.insert(s, e);
        Some(area)
    }

    /// The busy area containing `addr` (Linux: find_vmap_area).
    pub fn find(&self, addr: usize) -> Option<&VmapArea> {
        self.busy.range(..=addr).next_back().map(|(_, a)| a).filter(|a| addr < a.end)
    }

    pub fn find_mut(&mut self, start: usize) -> Option<&mut VmapArea> {
        self.busy.get_mut(&start)
    }

    pub fn busy(&self) -> impl Iterator<Item = &VmapArea> {
        self.busy.values()
    }

    pub fn free_ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.free.iter().map(|(&s, &e)| (s, e))
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
    fn reserve_takes_a_fixed_range() {
        let mut v = VmapAreas::new(S, S + 0x10_0000);
        assert!(v.reserve(S + 0x8000, S + 0x9000, VmKind::Reserved));
        assert!(!v.reserve(S + 0x8000, S + 0x9000, VmKind::Reserved));
        let a = v.alloc(0x8000, PAGE_SIZE, VmKind::Vmalloc).unwrap();
        assert_ne!(a, S, "0x8000 + guard does not fit below the reservation");
        assert_eq!(v.find(S + 0x8800).unwrap().kind, VmKind::Reserved);
    }
}
