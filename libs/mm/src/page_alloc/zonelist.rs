//! Zonelists: the order in which an allocation tries zones (Linux:
//! include/linux/mmzone.h struct zonelist, mm/page_alloc.c
//! build_all_zonelists with node ordering).
//!
//! A node's zonelist holds its own zones first, highest zone first, then the
//! other nodes' zones by distance. An allocation walks it from the top,
//! skipping zones above what its GFP flags allow (`gfp_zone`).

use crate::mmzone::*;
use crate::page_alloc::{PageAllocator, MAX_NUMNODES};

/// A zonelist entry: (node, zone type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneRef {
    pub nid: u8,
    pub zone: ZoneType,
}

/// The fallback order for one node (Linux: struct zonelist).
#[derive(Debug, Clone, Copy)]
pub struct Zonelist {
    pub zones: [ZoneRef; MAX_NUMNODES * MAX_NR_ZONES],
    pub len: usize,
}

impl Zonelist {
    pub(crate) const EMPTY: Zonelist =
        Zonelist { zones: [ZoneRef { nid: 0, zone: ZoneType::Dma32 }; 12], len: 0 };
    pub fn iter(&self) -> impl Iterator<Item = ZoneRef> + '_ {
        self.zones[..self.len].iter().copied()
    }
}

impl PageAllocator {
    /// Builds each node's zonelist: own zones first, then the other nodes
    /// in order of distance, highest zone first within a node
    /// (Linux: build_all_zonelists, node ordering).
    pub fn build_all_zonelists(&mut self, distance: impl Fn(usize, usize) -> u8) {
        let online: [bool; MAX_NUMNODES] = core::array::from_fn(|n| self.nodes[n].is_some());
        for nid in 0..MAX_NUMNODES {
            let mut order: [usize; MAX_NUMNODES] = core::array::from_fn(|n| n);
            order.sort_unstable_by_key(|&n| (n != nid, distance(nid, n), n));
            let mut zl = Zonelist::EMPTY;
            for &other in order.iter().filter(|&&n| online[n]) {
                let node = self.nodes[other].as_ref().unwrap();
                for z in node.node_zones.iter().rev().filter(|z| z.present_pages > 0) {
                    zl.zones[zl.len] = ZoneRef { nid: other as u8, zone: z.zone_type };
                    zl.len += 1;
                }
            }
            if let Some(node) = self.nodes[nid].as_mut() {
                node.node_zonelist = zl;
            }
        }
    }
}
