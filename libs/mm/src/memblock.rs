//! memblock: the boot-time physical memory map and allocator
//! (Linux: mm/memblock.c, include/linux/memblock.h).
//!
//! Two sorted, non-overlapping region arrays: `memory` (all RAM the device
//! tree describes, with its NUMA node) and `reserved` (what is in use: the
//! kernel image, the device tree, the initrd, early allocations). Allocation
//! is top-down, like Linux's default, from memory that is not reserved.
//! When the buddy allocator starts, every free range is handed over
//! (`free_ranges`) and memblock retires.
//!
//! Differences from Linux: fixed-size arrays (no doubling), no mirrored or
//! hotplug flags.

/// One physical range, `[base, base + size)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Region {
    pub base: usize,
    pub size: usize,
    pub nid: u32,
}

impl Region {
    pub const fn end(&self) -> usize {
        self.base + self.size
    }
}

/// Maximum regions per type (Linux starts with INIT_MEMBLOCK_REGIONS = 128).
pub const MAX_REGIONS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemblockError {
    /// More than MAX_REGIONS distinct regions.
    TooManyRegions,
    /// No free range is large enough.
    NoMemory,
}

/// A sorted array of non-overlapping regions (Linux: struct memblock_type).
#[derive(Debug, Clone)]
pub struct RegionSet {
    regions: [Region; MAX_REGIONS],
    cnt: usize,
}

impl RegionSet {
    pub const fn new() -> Self {
        Self { regions: [Region { base: 0, size: 0, nid: 0 }; MAX_REGIONS], cnt: 0 }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Region> + Clone {
        self.regions[..self.cnt].iter()
    }

    pub fn len(&self) -> usize {
        self.cnt
    }

    pub fn is_empty(&self) -> bool {
        self.cnt == 0
    }

    /// Total bytes.
    pub fn total_size(&self) -> usize {
        self.iter().map(|r| r.size).sum()
    }

    /// Adds `[base, base+size)`, merging with neighbours of the same node
    /// (Linux: memblock_add_range + memblock_merge_regions).
    pub fn add(&mut self, base: usize, size: usize, nid: u32) -> Result<(), MemblockError> {
        if size == 0 {
            return Ok(());
        }
        // Remove any overlap first, then insert, then merge: simple and exact.
        self.remove(base, size)?;
        if self.cnt == MAX_REGIONS {
            return Err(MemblockError::TooManyRegions);
        }
        let pos = self.regions[..self.cnt].iter().position(|r| r.base > base).unwrap_or(self.cnt);
        self.regions.copy_within(pos..self.cnt, pos + 1);
        self.regions[pos] = Region { base, size, nid };
        self.cnt += 1;
        self.merge();
        Ok(())
    }

    /// Removes `[base, base+size)`, splitting regions that straddle it.
    pub fn remove(&mut self, base: usize, size: usize) -> Result<(), MemblockError> {
        let end = base.saturating_add(size);
        let mut i = 0;
        while i < self.cnt {
            let r = self.regions[i];
            if r.end() <= base || r.base >= end {
                i += 1;
                continue;
            }
            let left = (r.base < base).then(|| Region { base: r.base, size: base - r.base, nid: r.nid });
            let right = (r.end() > end).then(|| Region { base: end, size: r.end() - end, nid: r.nid });
            match (left, right) {
                (Some(l), Some(rt)) => {
                    if self.cnt == MAX_REGIONS {
                        return Err(MemblockError::TooManyRegions);
                    }
                    self.regions.copy_within(i + 1..self.cnt, i + 2);
                    self.regions[i] = l;
                    self.regions[i + 1] = rt;
                    self.cnt += 1;
                    i += 2;
                }
                (Some(part), None) | (None, Some(part)) => {
                    self.regions[i] = part;
                    i += 1;
                }
                (None, None) => {
                    self.regions.copy_within(i + 1..self.cnt, i);
                    self.cnt -= 1;
                }
            }
        }
        Ok(())
    }

    fn merge(&mut self) {
        let mut i = 0;
        while i + 1 < self.cnt {
            let (a, b) = (self.regions[i], self.regions[i + 1]);
            if a.end() == b.base && a.nid == b.nid {
                self.regions[i].size += b.size;
                self.regions.copy_within(i + 2..self.cnt, i + 1);
                self.cnt -= 1;
            } else {
                i += 1;
            }
        }
    }

    /// Whether any part of `[base, base+size)` is in the set.
    pub fn overlaps(&self, base: usize, size: usize) -> bool {
        self.iter().any(|r| r.base < base + size && base < r.end())
    }
}

impl Default for RegionSet {
    fn default() -> Self {
        Self::new()
    }
}

/// The memblock allocator (Linux: struct memblock).
#[derive(Debug, Clone, Default)]
pub struct Memblock {
    pub memory: RegionSet,
    pub reserved: RegionSet,
    /// Allocations stay below this address (Linux: memblock.current_limit).
    pub current_limit: usize,
}

impl Memblock {
    pub const fn new() -> Self {
        Self { memory: RegionSet::new(), reserved: RegionSet::new(), current_limit: usize::MAX }
    }

    pub fn add_node(&mut self, base: usize, size: usize, nid: u32) -> Result<(), MemblockError> {
        self.memory.add(base, size, nid)
    }

    pub fn reserve(&mut self, base: usize, size: usize) -> Result<(), MemblockError> {
        self.reserved.add(base, size, 0)
    }

    /// Frees an earlier reservation (Linux: memblock_phys_free).
    pub fn free(&mut self, base: usize, size: usize) -> Result<(), MemblockError> {
        self.reserved.remove(base, size)
    }

    /// Caps usable RAM at `limit` bytes in total (`mem=` on the command
    /// line; Linux: memblock_cap_memory_range / memblock_mem_limit_remove_map).
    pub fn enforce_memory_limit(&mut self, limit: usize) -> Result<(), MemblockError> {
        let mut left = limit;
        let mut cut_at = None;
        for r in self.memory.iter() {
            if r.size >= left {
                cut_at = Some(r.base + left);
                break;
            }
            left -= r.size;
        }
        if let Some(cut) = cut_at {
            self.memory.remove(cut, usize::MAX - cut)?;
            // Reservations beyond RAM no longer matter.
            self.reserved.remove(cut, usize::MAX - cut)?;
        }
        Ok(())
    }

    /// Free ranges: memory minus reserved, in address order
    /// (Linux: for_each_free_mem_range).
    pub fn free_ranges(&self) -> impl Iterator<Item = Region> + '_ {
        self.memory.iter().flat_map(move |m| {
            let mut cursor = m.base;
            let mut out = [Region::default(); 2 * MAX_REGIONS + 1];
            let mut n = 0;
            for r in self.reserved.iter() {
                if r.end() <= cursor || r.base >= m.end() {
                    continue;
                }
                if r.base > cursor {
                    out[n] = Region { base: cursor, size: r.base - cursor, nid: m.nid };
                    n += 1;
                }
                cursor = cursor.max(r.end());
            }
            if cursor < m.end() {
                out[n] = Region { base: cursor, size: m.end() - cursor, nid: m.nid };
                n += 1;
            }
            out.into_iter().take(n)
        })
    }

    /// Allocates `size` bytes aligned to `align`, top-down below
    /// `current_limit`, and reserves them (Linux: memblock_phys_alloc).
    pub fn alloc(&mut self, size: usize, align: usize) -> Result<usize, MemblockError> {
        self.alloc_range(size, align, 0, self.current_limit)
    }

    /// Like `alloc`, within `[start, end)`.
    pub fn alloc_range(
        &mut self,
        size: usize,
        align: usize,
        start: usize,
        end: usize,
    ) -> Result<usize, MemblockError> {
        let mut best = None;
        for f in self.free_ranges() {
            let top = f.end().min(end);
            if top < size {
                continue;
            }
            let base = (top - size) & !(align - 1);
            if base >= f.base && base >= start {
                best = Some(best.map_or(base, |b: usize| b.max(base)));
            }
        }
        let base = best.ok_or(MemblockError::NoMemory)?;
        self.reserve(base, size)?;
        Ok(base)
    }

    /// Lowest and highest RAM address.
    pub fn start_of_dram(&self) -> Option<usize> {
        self.memory.iter().next().map(|r| r.base)
    }
    pub fn end_of_dram(&self) -> Option<usize> {
        self.memory.iter().last().map(|r| r.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const G: usize = 1 << 30;
    const M: usize = 1 << 20;

    fn regions(s: &RegionSet) -> Vec<(usize, usize)> {
        s.iter().map(|r| (r.base, r.size)).collect()
    }

    #[test]
    fn add_merges_adjacent_and_overlapping_ranges() {
        let mut s = RegionSet::new();
        s.add(G, G, 0).unwrap();
        s.add(2 * G, G, 0).unwrap();
        s.add(G + M, 10 * M, 0).unwrap();
        assert_eq!(regions(&s), [(G, 2 * G)]);
        s.add(5 * G, G, 1).unwrap();
        s.add(4 * G, G, 0).unwrap();
        assert_eq!(regions(&s), [(G, 2 * G), (4 * G, G), (5 * G, G)], "different nodes do not merge");
    }

    #[test]
    fn remove_splits_a_region() {
        let mut s = RegionSet::new();
        s.add(0, 100, 0).unwrap();
        s.remove(40, 20).unwrap();
        assert_eq!(regions(&s), [(0, 40), (60, 40)]);
        s.remove(0, 1000).unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn free_ranges_are_memory_minus_reserved() {
        let mut mb = Memblock::new();
        mb.add_node(G, G, 0).unwrap();
        mb.reserve(G + 0x80000, 2 * M).unwrap(); // kernel
        mb.reserve(G, 0x1000).unwrap(); // dtb
        let free: Vec<_> = mb.free_ranges().map(|r| (r.base, r.size)).collect();
        assert_eq!(free, [(G + 0x1000, 0x80000 - 0x1000), (G + 0x80000 + 2 * M, G - 0x80000 - 2 * M)]);
        let total_free: usize = free.iter().map(|f| f.1).sum();
        assert_eq!(total_free + mb.reserved.total_size(), mb.memory.total_size());
    }

    #[test]
    fn alloc_is_top_down_aligned_and_reserved() {
        let mut mb = Memblock::new();
        mb.add_node(G, G, 0).unwrap();
        let a = mb.alloc(4096, 4096).unwrap();
        assert_eq!(a, 2 * G - 4096);
        let b = mb.alloc(100, 2 * M).unwrap();
        assert_eq!(b % (2 * M), 0);
        assert!(b < a);
        assert!(mb.reserved.overlaps(a, 4096) && mb.reserved.overlaps(b, 100));
        mb.current_limit = G + 8 * M;
        let c = mb.alloc(M, 4096).unwrap();
        assert!(c + M <= G + 8 * M);
        assert_eq!(mb.alloc(2 * G, 4096), Err(MemblockError::NoMemory));
    }

    #[test]
    fn mem_limit_caps_total_ram_across_banks() {
        let mut mb = Memblock::new();
        mb.add_node(G, G, 0).unwrap();
        mb.add_node(3 * G, G, 1).unwrap();
        mb.reserve(3 * G + 900 * M, M).unwrap();
        mb.enforce_memory_limit(G + 512 * M).unwrap();
        assert_eq!(regions(&mb.memory), [(G, G), (3 * G, 512 * M)]);
        assert!(mb.reserved.is_empty(), "reservation above the limit is dropped");
    }
}
