//! The slots of one swap device and who uses them (Linux: mm/swapfile.c
//! swap_info_struct's swap_map and cluster_info, scan_swap_map_slots,
//! swap_duplicate, swapcache_prepare, __swap_entry_free).
//!
//! A swap device is an array of page-sized slots; slot 0 holds the mkswap
//! header. Each slot has a use count (`swap_map`):
//!
//! ```text
//!   count      = how many PTEs (and shmem entries) hold this slot's swap entry
//!   HAS_CACHE  = a page for it is in the swap cache (the page being written
//!                out, or read back and not yet dropped)
//!   BAD        = never used: the header, or a bad block mkswap listed
//! ```
//!
//! A slot is free when its value is 0. Reclaim allocates a slot with
//! HAS_CACHE set (`alloc`), try_to_unmap adds one count per PTE it turns
//! into the swap entry (`duplicate`), the fault that reads it back drops
//! one (`put(Usage::Map)`), and deleting the page from the swap cache drops
//! HAS_CACHE (`put(Usage::Cache)`).
//!
//! ## Clusters
//!
//! Slots are handed out in clusters of 256 (1 MiB), each CPU filling its
//! own cluster before it takes another from the free-cluster list. Pages
//! reclaimed together then sit together on the disk, so writing them out
//! and reading them back (swap readahead) is sequential I/O, and CPUs do
//! not fight over neighbouring slots. A cluster whose slots are all free
//! again goes back on the list. When no free cluster is left, slots are
//! found by a scan from where the last one ended (Linux: the fragmented
//! case of scan_swap_map_slots).
//!
//! Differences from Linux: counts are 16 bits wide (up to 0x3ffe mappings
//! of one slot) instead of 6 bits with continuation pages; no discard;
//! the free-cluster list is a FIFO of indexes like Linux's.

use alloc::vec::Vec;

/// Slots per cluster (Linux: SWAPFILE_CLUSTER).
pub const SWAPFILE_CLUSTER: usize = 256;
/// A page for this slot is in the swap cache (Linux: SWAP_HAS_CACHE).
pub const SWAP_HAS_CACHE: u16 = 0x4000;
/// A slot never used (Linux: SWAP_MAP_BAD).
pub const SWAP_MAP_BAD: u16 = 0x3fff;
/// The most mappings one slot may have (Linux: SWAP_MAP_MAX, with
/// continuations beyond).
pub const SWAP_MAP_MAX: u16 = 0x3ffe;
const COUNT_MASK: u16 = 0x3fff;
const NONE: u32 = u32::MAX;

/// Which use of a slot `put` drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A PTE or shmem entry that held the swap entry.
    Map,
    /// The swap cache's page.
    Cache,
}

/// Why `duplicate` or `cache_prepare` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapMapError {
    /// The slot is free or bad: the entry is stale (Linux: -ENOENT).
    NoEntry,
    /// The count is at its maximum (Linux: -ENOMEM without continuation).
    TooMany,
    /// swapcache_prepare: a page for it is in the swap cache already
    /// (Linux: -EEXIST).
    Exists,
}

#[derive(Debug, Clone, Copy)]
struct Cluster {
    /// Slots in use, bad ones included.
    count: u16,
    /// The next cluster on the free list, or NONE.
    next: u32,
    on_free_list: bool,
    /// A CPU is filling it: it stays off the free list even if empty.
    owned: bool,
}

/// The slot map of one swap device.
pub struct SwapMap {
    map: Vec<u16>,
    /// The swap cache: the page frame holding each slot's data, plus one
    /// (0: none) (Linux: the swapper_spaces xarrays; a flat array here,
    /// 4 bytes a slot, allocated once at swapon like swap_map itself).
    cache: Vec<u32>,
    clusters: Vec<Cluster>,
    free_head: u32,
    free_tail: u32,
    /// Per CPU: the cluster it fills and the next slot to try there
    /// (Linux: percpu_cluster).
    percpu: Vec<Option<(usize, usize)>>,
    /// Where the fragmented scan goes on (Linux: cluster_next).
    scan_next: usize,
    /// Usable slots: all but the bad ones (Linux: si->pages).
    pages: usize,
    /// Slots in use (Linux: inuse_pages).
    inuse: usize,
}

impl SwapMap {
    /// A map of `max` slots (the device's size in pages), with slot 0 and
    /// every slot in `bad` marked bad, for `nr_cpus` CPUs. None if no slot
    /// would be usable.
    pub fn new(max: usize, bad: &[usize], nr_cpus: usize) -> Option<SwapMap> {
        let nclusters = max.div_ceil(SWAPFILE_CLUSTER);
        let mut map = Vec::new();
        map.try_reserve_exact(max).ok()?;
        map.resize(max, 0);
        let mut cache = Vec::new();
        cache.try_reserve_exact(max).ok()?;
        cache.resize(max, 0);
        let mut clusters = Vec::new();
        clusters.try_reserve_exact(nclusters).ok()?;
        clusters.resize(nclusters, Cluster { count: 0, next: NONE, on_free_list: false, owned: false });
        let mut percpu = Vec::new();
        percpu.try_reserve_exact(nr_cpus.max(1)).ok()?;
        percpu.resize(nr_cpus.max(1), None);
        let mut s = SwapMap {
            map,
            cache,
            clusters,
            free_head: NONE,
            free_tail: NONE,
            percpu,
            scan_next: 1,
            pages: 0,
            inuse: 0,
        };
        if max > 0 {
            s.mark_bad(0);
        }
        for &b in bad.iter().filter(|&&b| b < max) {
            s.mark_bad(b);
        }
        // The tail of the last cluster, past the device's end, is never
        // handed out: count it as used.
        let tail = nclusters * SWAPFILE_CLUSTER - max;
        if let Some(last) = s.clusters.last_mut() {
            last.count += tail as u16;
        }
        s.pages = max - s.map.iter().filter(|&&v| v == SWAP_MAP_BAD).count();
        for c in 0..nclusters {
            if s.clusters[c].count == 0 {
                s.free_push(c);
            }
        }
        (s.pages > 0).then_some(s)
    }

    fn mark_bad(&mut self, slot: usize) {
        if self.map[slot] != SWAP_MAP_BAD {
            self.map[slot] = SWAP_MAP_BAD;
            self.clusters[slot / SWAPFILE_CLUSTER].count += 1;
        }
    }

    fn free_push(&mut self, c: usize) {
        let cl = &mut self.clusters[c];
        cl.next = NONE;
        cl.on_free_list = true;
        if self.free_tail == NONE {
            self.free_head = c as u32;
        } else {
            self.clusters[self.free_tail as usize].next = c as u32;
        }
        self.free_tail = c as u32;
    }

    fn free_pop(&mut self) -> Option<usize> {
        if self.free_head == NONE {
            return None;
        }
        let c = self.free_head as usize;
        self.free_head = self.clusters[c].next;
        if self.free_head == NONE {
            self.free_tail = NONE;
        }
        self.clusters[c].on_free_list = false;
        Some(c)
    }

    /// Takes cluster `c` off the free list wherever it is (the fragmented
    /// scan found a slot in it).
    fn free_unlink(&mut self, c: usize) {
        let mut prev = NONE;
        let mut at = self.free_head;
        while at != NONE {
            if at as usize == c {
                let next = self.clusters[c].next;
                if prev == NONE {
                    self.free_head = next;
                } else {
                    self.clusters[prev as usize].next = next;
                }
                if self.free_tail as usize == c {
                    self.free_tail = prev;
                }
                self.clusters[c].on_free_list = false;
                return;
            }
            prev = at;
            at = self.clusters[at as usize].next;
        }
    }

    /// Slots on the device, the header and bad ones included.
    pub fn max(&self) -> usize {
        self.map.len()
    }

    /// Usable slots (Linux: si->pages).
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// Slots in use (Linux: si->inuse_pages).
    pub fn inuse(&self) -> usize {
        self.inuse
    }

    /// Free clusters.
    pub fn free_clusters(&self) -> usize {
        self.clusters.iter().filter(|c| c.on_free_list).count()
    }

    /// How many mappings hold `slot` (Linux: swap_count).
    pub fn count(&self, slot: usize) -> usize {
        match self.map.get(slot) {
            Some(&v) if v != SWAP_MAP_BAD => (v & COUNT_MASK) as usize,
            _ => 0,
        }
    }

    /// Whether a page for `slot` is in the swap cache.
    pub fn has_cache(&self, slot: usize) -> bool {
        self.map.get(slot).is_some_and(|&v| v != SWAP_MAP_BAD && v & SWAP_HAS_CACHE != 0)
    }

    fn take(&mut self, slot: usize) {
        self.map[slot] = SWAP_HAS_CACHE;
        self.clusters[slot / SWAPFILE_CLUSTER].count += 1;
        self.inuse += 1;
    }

    /// A free slot for a page about to enter the swap cache, HAS_CACHE
    /// set: from this CPU's cluster, else a free cluster, else anywhere
    /// (Linux: get_swap_pages -> scan_swap_map_slots). None when full.
    pub fn alloc(&mut self, cpu: usize) -> Option<usize> {
        if self.inuse >= self.pages {
            return None;
        }
        let cpu = cpu % self.percpu.len();
        loop {
            let (c, next) = match self.percpu[cpu] {
                Some(p) => p,
                None => match self.free_pop() {
                    Some(c) => {
                        self.clusters[c].owned = true;
                        (c, c * SWAPFILE_CLUSTER)
                    }
                    None => break,
                },
            };
            let end = (c + 1) * SWAPFILE_CLUSTER;
            if let Some(slot) = (next..end.min(self.map.len())).find(|&s| self.map[s] == 0) {
                self.take(slot);
                self.percpu[cpu] = (slot + 1 < end).then_some((c, slot + 1));
                if slot + 1 >= end {
                    self.release(c);
                }
                return Some(slot);
            }
            self.percpu[cpu] = None;
            self.release(c);
        }
        // No free cluster: scan for any free slot from where the last scan
        // ended (Linux: the "no free cluster" path, slow and fragmenting).
        let n = self.map.len();
        for i in 0..n {
            let slot = (self.scan_next + i) % n;
            if self.map[slot] == 0 {
                let c = slot / SWAPFILE_CLUSTER;
                if self.clusters[c].on_free_list {
                    self.free_unlink(c);
                }
                self.take(slot);
                self.scan_next = slot + 1;
                return Some(slot);
            }
        }
        None
    }

    /// A CPU stops filling cluster `c`: back to the free list if empty.
    fn release(&mut self, c: usize) {
        self.clusters[c].owned = false;
        if self.clusters[c].count == 0 && !self.clusters[c].on_free_list {
            self.free_push(c);
        }
    }

    /// One more mapping holds `slot` (fork copying a swap PTE,
    /// try_to_unmap installing one) (Linux: swap_duplicate).
    pub fn duplicate(&mut self, slot: usize) -> Result<(), SwapMapError> {
        let v = *self.map.get(slot).ok_or(SwapMapError::NoEntry)?;
        if v == 0 || v == SWAP_MAP_BAD {
            return Err(SwapMapError::NoEntry);
        }
        if v & COUNT_MASK >= SWAP_MAP_MAX {
            return Err(SwapMapError::TooMany);
        }
        self.map[slot] = v + 1;
        Ok(())
    }

    /// Claims the swap cache for `slot` before reading it in, so that two
    /// faults do not both read it (Linux: swapcache_prepare).
    pub fn cache_prepare(&mut self, slot: usize) -> Result<(), SwapMapError> {
        let v = *self.map.get(slot).ok_or(SwapMapError::NoEntry)?;
        if v == SWAP_MAP_BAD || v & COUNT_MASK == 0 {
            return Err(SwapMapError::NoEntry);
        }
        if v & SWAP_HAS_CACHE != 0 {
            return Err(SwapMapError::Exists);
        }
        self.map[slot] = v | SWAP_HAS_CACHE;
        Ok(())
    }

    /// Drops one use of `slot`; true if the slot became free (Linux:
    /// __swap_entry_free_locked, then swap_entry_free). A put on a free or
    /// bad slot, or of a use it does not have, changes nothing and
    /// returns false: the caller's entry was stale, which its caller
    /// reports.
    pub fn put(&mut self, slot: usize, usage: Usage) -> bool {
        let Some(&v) = self.map.get(slot) else { return false };
        if v == 0 || v == SWAP_MAP_BAD {
            return false;
        }
        let nv = match usage {
            Usage::Map if v & COUNT_MASK > 0 => v - 1,
            Usage::Cache if v & SWAP_HAS_CACHE != 0 => v & !SWAP_HAS_CACHE,
            _ => return false,
        };
        self.map[slot] = nv;
        if nv != 0 {
            return false;
        }
        let c = slot / SWAPFILE_CLUSTER;
        self.inuse -= 1;
        self.clusters[c].count -= 1;
        if self.clusters[c].count == 0 && !self.clusters[c].owned && !self.clusters[c].on_free_list {
            self.free_push(c);
        }
        true
    }

    /// The page in the swap cache for `slot`, if any.
    pub fn cache_get(&self, slot: usize) -> Option<usize> {
        match self.cache.get(slot) {
            Some(&v) if v != 0 => Some(v as usize - 1),
            _ => None,
        }
    }

    /// Puts page `pfn` in the swap cache for `slot`; false if one is there
    /// or the frame number does not fit.
    pub fn cache_set(&mut self, slot: usize, pfn: usize) -> bool {
        match (self.cache.get_mut(slot), u32::try_from(pfn + 1)) {
            (Some(v), Ok(new)) if *v == 0 => {
                *v = new;
                true
            }
            _ => false,
        }
    }

    /// Takes `slot`'s page out of the swap cache if it is `pfn`.
    pub fn cache_clear(&mut self, slot: usize, pfn: usize) -> bool {
        match self.cache.get_mut(slot) {
            Some(v) if *v as usize == pfn + 1 => {
                *v = 0;
                true
            }
            _ => false,
        }
    }

    /// The slots in use, in order (for swapoff, which brings each back).
    pub fn used_slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.map.iter().enumerate().filter(|&(_, &v)| v != 0 && v != SWAP_MAP_BAD).map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagoda_klib::rand::XorShift64 as Rng;
    use std::collections::BTreeMap;

    /// What the map must agree with: per slot (count, has_cache).
    type Model = BTreeMap<usize, (usize, bool)>;

    fn check(m: &SwapMap, model: &Model) {
        assert_eq!(m.inuse(), model.len());
        for s in 0..m.max() {
            let (count, cache) = model.get(&s).copied().unwrap_or((0, false));
            assert_eq!(m.count(s), count, "slot {s}");
            assert_eq!(m.has_cache(s), cache, "slot {s}");
        }
        // Every cluster's count is its used slots, and an empty cluster
        // nobody fills is on the free list.
        for (c, cl) in m.clusters.iter().enumerate() {
            let lo = c * SWAPFILE_CLUSTER;
            let used = (lo..lo + SWAPFILE_CLUSTER).filter(|&s| s >= m.max() || m.map[s] != 0).count();
            assert_eq!(cl.count as usize, used, "cluster {c}");
            assert_eq!(cl.on_free_list, used == 0 && !cl.owned, "cluster {c} free list");
        }
    }

    #[test]
    fn the_header_and_bad_slots_are_never_handed_out() {
        let mut m = SwapMap::new(600, &[5, 300, 9999], 1).unwrap();
        assert_eq!(m.pages(), 597, "600 slots less the header and two bad blocks (9999 is past the end)");
        let mut got = Vec::new();
        while let Some(s) = m.alloc(0) {
            got.push(s);
        }
        assert_eq!(got.len(), 597);
        assert!(!got.contains(&0) && !got.contains(&5) && !got.contains(&300));
        assert_eq!(m.alloc(0), None, "full");
        assert_eq!(m.duplicate(5), Err(SwapMapError::NoEntry), "a bad slot is no entry");
        assert!(SwapMap::new(1, &[], 1).is_none(), "a device of only its header is refused");
    }

    #[test]
    fn each_cpu_fills_its_own_cluster_in_order() {
        let mut m = SwapMap::new(4 * SWAPFILE_CLUSTER, &[], 2).unwrap();
        assert_eq!(m.free_clusters(), 3, "cluster 0 holds the header");
        let a: Vec<_> = (0..4).map(|_| m.alloc(0).unwrap()).collect();
        let b: Vec<_> = (0..4).map(|_| m.alloc(1).unwrap()).collect();
        assert_eq!(a, [256, 257, 258, 259], "CPU 0 took cluster 1 (cluster 0 has the header)");
        assert_eq!(b, [512, 513, 514, 515], "CPU 1 took its own cluster");
        // Freed slots: the cluster stays CPU 0's while it fills it.
        for s in a {
            assert!(m.put(s, Usage::Cache));
        }
        assert_eq!(m.free_clusters(), 1, "an owned cluster is not on the free list");
    }

    #[test]
    fn counts_follow_mappings_and_the_cache() {
        let mut m = SwapMap::new(1024, &[], 1).unwrap();
        let s = m.alloc(0).unwrap();
        assert!(m.has_cache(s) && m.count(s) == 0, "a new slot belongs to the swap cache");
        m.duplicate(s).unwrap(); // the parent's PTE
        m.duplicate(s).unwrap(); // the child's, at fork
        assert_eq!(m.count(s), 2);
        assert!(!m.put(s, Usage::Cache), "the page left the cache, the PTEs keep the slot");
        assert_eq!(m.cache_prepare(s), Ok(()), "a fault claims the cache to read it back");
        assert_eq!(m.cache_prepare(s), Err(SwapMapError::Exists), "a second fault waits for the first");
        assert!(!m.put(s, Usage::Map));
        assert!(!m.put(s, Usage::Map));
        assert!(m.cache_set(s, 0x4_0000) && !m.cache_set(s, 0x4_0001), "one page per slot in the cache");
        assert_eq!(m.cache_get(s), Some(0x4_0000));
        assert!(!m.cache_clear(s, 0x4_0001) && m.cache_clear(s, 0x4_0000) && m.cache_get(s).is_none());
        assert!(m.put(s, Usage::Cache), "the last use frees it");
        assert_eq!(m.duplicate(s), Err(SwapMapError::NoEntry), "a stale entry");
        assert!(!m.put(s, Usage::Map), "a put on a free slot is refused");
        assert_eq!(m.inuse(), 0);
    }

    #[test]
    fn random_use_matches_a_model() {
        for cpus in [1, 3] {
            let max = 5 * SWAPFILE_CLUSTER + 77;
            let mut m = SwapMap::new(max, &[700, 701], cpus).unwrap();
            let mut model = Model::new();
            let mut rng = Rng::new(0x5a17 + cpus as u64);
            for step in 0..40_000 {
                match rng.below(8) {
                    0..=2 => {
                        if let Some(s) = m.alloc(rng.below(cpus)) {
                            assert!(model.insert(s, (0, true)).is_none(), "slot {s} handed out twice");
                        } else {
                            assert_eq!(model.len(), m.pages(), "alloc failed with free slots");
                        }
                    }
                    3 | 4 => {
                        if let Some((&s, _)) = model.iter().nth(rng.below(model.len().max(1))) {
                            m.duplicate(s).unwrap();
                            model.get_mut(&s).unwrap().0 += 1;
                        }
                    }
                    _ => {
                        if let Some((&s, &(count, cache))) = model.iter().nth(rng.below(model.len().max(1))) {
                            let usage = if cache && (count == 0 || rng.below(2) == 0) {
                                Usage::Cache
                            } else {
                                Usage::Map
                            };
                            let (nc, ncache) = match usage {
                                Usage::Cache => (count, false),
                                Usage::Map => (count - 1, cache),
                            };
                            let freed = m.put(s, usage);
                            assert_eq!(freed, nc == 0 && !ncache);
                            if freed {
                                model.remove(&s);
                            } else {
                                model.insert(s, (nc, ncache));
                            }
                        }
                    }
                }
                if step % 4000 == 0 {
                    check(&m, &model);
                }
            }
            check(&m, &model);
            // Everything freed: every cluster nobody fills is free again.
            for (&s, &(count, cache)) in model.clone().iter() {
                for _ in 0..count {
                    m.put(s, Usage::Map);
                }
                if cache {
                    m.put(s, Usage::Cache);
                }
            }
            model.clear();
            check(&m, &model);
        }
    }
}
