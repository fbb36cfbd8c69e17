//! Memory statistics (Linux: include/linux/mmzone.h's zone_stat_item and
//! node_stat_item, mm/vmstat.c). Counters are plain atomics; Linux batches
//! them per CPU (vm_stat_diff), Pagoda updates the zone counter directly.

use core::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// Per-zone counters (Linux: enum zone_stat_item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum ZoneStatItem {
    NrFreePages,
    NrZoneInactiveAnon,
    NrZoneActiveAnon,
    NrZoneInactiveFile,
    NrZoneActiveFile,
    NrZoneUnevictable,
    NrZoneWritePending,
    NrMlock,
    NrBounce,
    NrFreeCmaPages,
}

pub const NR_VM_ZONE_STAT_ITEMS: usize = 10;

/// Names as /proc/zoneinfo and /proc/vmstat print them.
pub const ZONE_STAT_NAMES: [&str; NR_VM_ZONE_STAT_ITEMS] = [
    "nr_free_pages",
    "nr_zone_inactive_anon",
    "nr_zone_active_anon",
    "nr_zone_inactive_file",
    "nr_zone_active_file",
    "nr_zone_unevictable",
    "nr_zone_write_pending",
    "nr_mlock",
    "nr_bounce",
    "nr_free_cma",
];

/// Per-node counters (Linux: enum node_stat_item); bytes where named _B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum NodeStatItem {
    NrInactiveAnon,
    NrActiveAnon,
    NrInactiveFile,
    NrActiveFile,
    NrUnevictable,
    NrSlabReclaimableB,
    NrSlabUnreclaimableB,
    NrAnonMapped,
    NrFileMapped,
    NrFilePages,
    NrFileDirty,
    NrWriteback,
    NrShmem,
    NrKernelStackKb,
    NrPagetable,
    NrSwapcache,
    NrVmallocPages,
}

pub const NR_VM_NODE_STAT_ITEMS: usize = 17;

/// Names as /proc/vmstat and /proc/zoneinfo print them, in Linux's order
/// (enum node_stat_item).
pub const NODE_STAT_NAMES: [&str; NR_VM_NODE_STAT_ITEMS] = [
    "nr_inactive_anon",
    "nr_active_anon",
    "nr_inactive_file",
    "nr_active_file",
    "nr_unevictable",
    "nr_slab_reclaimable",
    "nr_slab_unreclaimable",
    "nr_anon_pages",
    "nr_mapped",
    "nr_file_pages",
    "nr_dirty",
    "nr_writeback",
    "nr_shmem",
    "nr_kernel_stack",
    "nr_page_table_pages",
    "nr_swapcached",
    "nr_vmalloc",
];

/// Event counters (Linux: enum vm_event_item), per zone here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum VmEvent {
    /// Pages allocated from this zone (pgalloc_<zone>).
    PgAlloc,
    /// Pages freed to this zone (pgfree).
    PgFree,
    /// Allocations satisfied from another migratetype's list (extfrag events).
    ExtfragFallback,
    /// Fallbacks that claimed the whole pageblock.
    ExtfragClaimed,
    /// pcp list refills from the buddy lists.
    PcpRefill,
    /// pcp list drains to the buddy lists.
    PcpDrain,
    /// Allocations that failed this zone's watermark check.
    WmarkFail,
}

pub const NR_VM_EVENTS: usize = 7;

pub const VM_EVENT_NAMES: [&str; NR_VM_EVENTS] =
    ["pgalloc", "pgfree", "extfrag_fallback", "extfrag_claimed", "pcp_refill", "pcp_drain", "wmark_fail"];

/// A fixed set of signed counters.
pub struct Counters<const N: usize>([AtomicIsize; N]);

impl<const N: usize> Counters<N> {
    pub const fn new() -> Self {
        Self([const { AtomicIsize::new(0) }; N])
    }
    pub fn get(&self, i: usize) -> isize {
        self.0[i].load(Ordering::Relaxed)
    }
    pub fn add(&self, i: usize, delta: isize) {
        self.0[i].fetch_add(delta, Ordering::Relaxed);
    }
    /// Adds without a read-modify-write atomic: only for a counter whose
    /// writers are serialised by a lock the caller holds.
    pub fn add_unsynchronised(&self, i: usize, delta: isize) {
        let v = self.0[i].load(Ordering::Relaxed);
        self.0[i].store(v + delta, Ordering::Relaxed);
    }
}

impl<const N: usize> Default for Counters<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// A fixed set of event counters.
pub struct Events<const N: usize>([AtomicUsize; N]);

impl<const N: usize> Events<N> {
    pub const fn new() -> Self {
        Self([const { AtomicUsize::new(0) }; N])
    }
    pub fn get(&self, i: usize) -> usize {
        self.0[i].load(Ordering::Relaxed)
    }
    pub fn count(&self, i: usize, n: usize) {
        self.0[i].fetch_add(n, Ordering::Relaxed);
    }
}

impl<const N: usize> Default for Events<N> {
    fn default() -> Self {
        Self::new()
    }
}
