//! Watermarks and reserves (Linux: mm/page_alloc.c __zone_watermark_ok,
//! calculate_min_free_kbytes, __setup_per_zone_wmarks,
//! setup_per_zone_lowmem_reserve).
//!
//! Every zone has three watermarks. Below `low` the allocator wakes kswapd;
//! below `min` only __GFP_HIGH and atomic requests may allocate (and direct
//! reclaim starts); kswapd reclaims until `high`. `lowmem_reserve` keeps a
//! lower zone's pages from requests that could have used a higher zone.

use crate::addr::PAGE_SHIFT;
use crate::mmzone::*;
use crate::page_alloc::{AllocFlags, PageAllocator, ALLOC_WMARK_MASK};
use crate::vmstat::ZoneStatItem;
use core::sync::atomic::Ordering;

/// Linux's SWAP_CLUSTER_MAX, the floor of ZONE_MOVABLE's min watermark.
const SWAP_CLUSTER_MAX: usize = 32;

/// sysctl_lowmem_reserve_ratio, per zone (DMA32, Normal, Movable).
pub const LOWMEM_RESERVE_RATIO: [usize; MAX_NR_ZONES] = [256, 32, 0];
/// watermark_scale_factor: the low-high gap is 0.1% of the zone.
pub const WATERMARK_SCALE_FACTOR: usize = 10;

impl Zone {
    /// Linux: __zone_watermark_ok. `reserve` is lowmem_reserve for the
    /// request's highest zone; `min` is the already-adjusted watermark.
    pub fn watermark_ok(&self, order: usize, min: usize, reserve: usize, can_use_highatomic: bool) -> bool {
        let free = self.zone_page_state(ZoneStatItem::NrFreePages) as isize - ((1 << order) - 1);
        if free <= (min + reserve) as isize {
            return false;
        }
        if order == 0 {
            return true;
        }
        // Is there a free block big enough for this order?
        let zf = self.lock.lock();
        (order..MAX_ORDER).any(|o| {
            let fa = &zf.free_area[o];
            (0..MIGRATE_PCPTYPES).any(|mt| !fa.free_list[mt].is_empty())
                || (can_use_highatomic && !fa.free_list[MigrateType::HighAtomic as usize].is_empty())
        })
    }
}

impl PageAllocator {
    /// min_free_kbytes = sqrt(lowmem_kbytes * 16), clamped to [128, 262144]
    /// (Linux: calculate_min_free_kbytes).
    pub fn calculate_min_free_kbytes(&self) -> usize {
        let lowmem_kbytes =
            self.zones().filter(|z| z.zone_type != ZoneType::Movable).map(|z| z.managed()).sum::<usize>()
                << (PAGE_SHIFT - 10);
        int_sqrt(lowmem_kbytes * 16).clamp(128, 262_144)
    }

    /// Sets min/low/high of every zone (Linux: __setup_per_zone_wmarks).
    pub fn setup_per_zone_wmarks(&mut self, min_free_kbytes: usize) {
        self.min_free_kbytes = min_free_kbytes;
        let pages_min = min_free_kbytes >> (PAGE_SHIFT - 10);
        let lowmem_pages: usize = self
            .zones()
            .filter(|z| z.zone_type != ZoneType::Movable)
            .map(|z| z.managed())
            .sum::<usize>()
            .max(1);
        for z in self.zones() {
            let managed = z.managed();
            let min = if z.zone_type == ZoneType::Movable {
                // Like highmem: a small min; the movable zone need not hold reserves.
                (managed / 1024).clamp(SWAP_CLUSTER_MAX, 128)
            } else {
                pages_min * managed / lowmem_pages
            };
            let tmp = (min / 4).max(managed * WATERMARK_SCALE_FACTOR / 10_000);
            z.watermark[WMARK_MIN].store(min, Ordering::Relaxed);
            z.watermark[WMARK_LOW].store(min + tmp, Ordering::Relaxed);
            z.watermark[WMARK_HIGH].store(min + 2 * tmp, Ordering::Relaxed);
        }
    }

    /// Each zone keeps back managed(higher zones) / ratio pages from
    /// requests that could have used those higher zones
    /// (Linux: setup_per_zone_lowmem_reserve).
    #[allow(clippy::needless_range_loop)] // i and j index zones and ratios alike
    pub fn setup_per_zone_lowmem_reserve(&self) {
        for node in self.online_nodes() {
            for i in 0..MAX_NR_ZONES {
                let ratio = LOWMEM_RESERVE_RATIO[i];
                let mut managed_above = 0;
                for j in i + 1..MAX_NR_ZONES {
                    managed_above += node.node_zones[j].managed();
                    let v = if ratio == 0 || !node.node_zones[i].is_populated() {
                        0
                    } else {
                        managed_above / ratio
                    };
                    node.node_zones[i].lowmem_reserve[j].store(v, Ordering::Relaxed);
                }
            }
        }
    }

    /// The watermark an allocation must keep above (Linux: wmark_pages +
    /// the ALLOC_HIGH / ALLOC_HARDER adjustments of __zone_watermark_ok).
    pub(crate) fn effective_min(zone: &Zone, flags: AllocFlags) -> usize {
        let mut min = zone.wmark((flags.bits() & ALLOC_WMARK_MASK) as usize);
        if flags.intersects(AllocFlags::HIGH | AllocFlags::OOM) {
            min -= min / 2;
        }
        if flags.contains(AllocFlags::HARDER) {
            min -= min / 4;
        }
        min
    }
}

/// Integer square root (Linux: int_sqrt).
pub fn int_sqrt(x: usize) -> usize {
    // Bit-by-bit, as Linux's int_sqrt does, no floating point.
    let mut op = x;
    let mut res = 0usize;
    let mut one = 1usize << (usize::BITS - 2);
    while one > op {
        one >>= 2;
    }
    while one != 0 {
        if op >= res + one {
            op -= res + one;
            res = (res >> 1) + one;
        } else {
            res >>= 1;
        }
        one >>= 2;
    }
    res
}
