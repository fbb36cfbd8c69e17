//! The /proc views of memory, as monitor commands (Linux: fs/proc/meminfo.c,
//! mm/vmstat.c's buddyinfo, pagetypeinfo, zoneinfo and vmstat), printed in
//! the same formats so they can be read side by side with a real Linux.

use super::page_alloc::{mem_free_pages, page_allocator};
use crate::{kprint, kprintln, monitor_cmd};
use core::sync::atomic::Ordering::Relaxed;
use pagoda_mm::mmzone::PglistData;
use pagoda_mm::mmzone::{Zone, MAX_NR_ZONES, MAX_ORDER, MIGRATE_TYPES, MIGRATE_TYPE_LIST, PAGEBLOCK_ORDER};
use pagoda_mm::vmstat::{
    ZoneStatItem, NODE_STAT_NAMES, NR_VM_EVENTS, NR_VM_NODE_STAT_ITEMS, NR_VM_ZONE_STAT_ITEMS,
    VM_EVENT_NAMES, ZONE_STAT_NAMES,
};

const K: usize = 4; // kB per page

/// Pages the allocator keeps back: high watermarks plus the largest
/// lowmem_reserve of each zone (Linux: calculate_totalreserve_pages).
fn totalreserve_pages() -> usize {
    page_allocator()
        .zones()
        .map(|z| {
            let reserve = z.lowmem_reserve.iter().map(|r| r.load(Relaxed)).max();
            (z.high_wmark_pages() + reserve.unwrap_or(0)).min(z.managed())
        })
        .sum()
}

/// Prints a line of /proc/meminfo: the name and colon padded to 16, the
/// value right-aligned in 8 (Linux: show_val_kb).
fn mi(name: &str, kb: usize) {
    let mut label = pagoda_klib::fmtbuf::FmtBuf::<24>::new();
    let _ = core::fmt::write(&mut label, format_args!("{name}:"));
    kprintln!("{:<16}{kb:>8} kB", label.as_str());
}

pub fn show_meminfo() {
    let pa = page_allocator();
    let total = pa.totalram_pages();
    let free = mem_free_pages();
    let available = free.saturating_sub(totalreserve_pages());
    mi("MemTotal", total * K);
    mi("MemFree", free * K);
    mi("MemAvailable", available * K);
    for name in ["Buffers", "Cached", "SwapCached", "Active", "Inactive", "Unevictable", "Mlocked"] {
        mi(name, 0);
    }
    mi("SwapTotal", 0);
    mi("SwapFree", 0);
    for name in ["Dirty", "Writeback", "AnonPages", "Mapped", "Shmem"] {
        mi(name, 0);
    }
    let (reclaimable, unreclaimable) = super::slab::slab_bytes();
    mi("Slab", (reclaimable + unreclaimable) >> 10);
    mi("SReclaimable", reclaimable >> 10);
    mi("SUnreclaim", unreclaimable >> 10);
    mi("VmallocTotal", (crate::arch::mm::layout::VMALLOC_END - crate::arch::mm::layout::VMALLOC_START) >> 10);
    mi("VmallocUsed", super::vmalloc::vmalloc_used_pages() * K);
}

pub fn show_buddyinfo() {
    for z in page_allocator().zones() {
        kprint!("Node {}, zone {:>8} ", z.nid, z.name());
        for n in z.buddyinfo() {
            kprint!("{n:6} ");
        }
        kprintln!();
    }
}

pub fn show_pagetypeinfo() {
    let pa = page_allocator();
    kprintln!("Page block order: {PAGEBLOCK_ORDER}");
    kprintln!("Pages per block:  {}", 1 << PAGEBLOCK_ORDER);
    kprintln!();
    kprint!("{:<48}", "Free pages count per migrate type at order");
    for o in 0..MAX_ORDER {
        kprint!("{o:6} ");
    }
    kprintln!();
    for z in pa.zones() {
        let pt = z.pagetypeinfo();
        for (mt, row) in pt.iter().enumerate() {
            kprint!("Node {:4}, zone {:>8}, type {:>12} ", z.nid, z.name(), MIGRATE_TYPE_LIST[mt].name());
            for n in row {
                kprint!("{n:6} ");
            }
            kprintln!();
        }
    }
    kprintln!();
    kprint!("{:<26}", "Number of blocks type ");
    for mt in MIGRATE_TYPE_LIST {
        kprint!("{:>12} ", mt.name());
    }
    kprintln!();
    for z in pa.zones() {
        kprint!("Node {}, zone {:>8} ", z.nid, z.name());
        for n in z.pageblock_counts().iter().take(MIGRATE_TYPES) {
            kprint!("{n:12} ");
        }
        kprintln!();
    }
}

/// One zone's block of /proc/zoneinfo; the node's stats come with its first zone.
fn show_zone(z: &Zone, node: Option<&PglistData>) {
    kprintln!("Node {}, zone {:>8}", z.nid, z.name());
    if let Some(node) = node {
        kprintln!("  per-node stats");
        for (i, name) in NODE_STAT_NAMES.iter().enumerate().take(NR_VM_NODE_STAT_ITEMS) {
            kprintln!("      {name:<22} {}", node.vm_stat.get(i));
        }
    }
    kprintln!("  pages free     {}", z.zone_page_state(ZoneStatItem::NrFreePages));
    kprintln!("        boost    0");
    kprintln!("        min      {}", z.min_wmark_pages());
    kprintln!("        low      {}", z.low_wmark_pages());
    kprintln!("        high     {}", z.high_wmark_pages());
    kprintln!("        spanned  {}", z.spanned_pages);
    kprintln!("        present  {}", z.present_pages);
    kprintln!("        managed  {}", z.managed());
    kprintln!("        cma      0");
    if z.present_pages == 0 {
        return;
    }
    kprint!("        protection: (");
    for i in 0..MAX_NR_ZONES {
        let v = z.lowmem_reserve[i].load(Relaxed);
        kprint!("{v}{}", if i + 1 < MAX_NR_ZONES { ", " } else { ")\n" });
    }
    for (i, name) in ZONE_STAT_NAMES.iter().enumerate().take(NR_VM_ZONE_STAT_ITEMS) {
        kprintln!("      {name:<22} {}", z.vm_stat.get(i));
    }
    kprintln!("  pagesets");
    for (cpu, pcp) in z.pcp.iter().enumerate() {
        let p = pcp.lock();
        // One CPU runs for now; show the others only once they hold pages.
        if p.high == 0 || (cpu > 0 && p.count == 0) {
            continue;
        }
        kprintln!("    cpu: {cpu}");
        kprintln!("              count: {}", p.count);
        kprintln!("              high:  {}", p.high);
        kprintln!("              batch: {}", p.batch);
    }
    kprintln!("  node_unreclaimable:  0");
    kprintln!("  start_pfn:           {}", z.zone_start_pfn);
}

pub fn show_zoneinfo() {
    for node in page_allocator().online_nodes() {
        for (i, z) in node.node_zones.iter().enumerate() {
            show_zone(z, (i == 0).then_some(node));
        }
    }
}

pub fn show_vmstat() {
    let pa = page_allocator();
    for (i, name) in ZONE_STAT_NAMES.iter().enumerate() {
        let v: isize = pa.zones().map(|z| z.vm_stat.get(i)).sum();
        kprintln!("{name} {v}");
    }
    for (i, name) in NODE_STAT_NAMES.iter().enumerate() {
        let v: isize = pa.online_nodes().map(|n| n.vm_stat.get(i)).sum();
        kprintln!("{name} {v}");
    }
    for z in pa.zones() {
        kprintln!("pgalloc_{} {}", z.zone_type.vmstat_name(), z.events.get(0));
    }
    for (i, name) in VM_EVENT_NAMES.iter().enumerate().take(NR_VM_EVENTS).skip(1) {
        let v: usize = pa.zones().map(|z| z.events.get(i)).sum();
        kprintln!("{name} {v}");
    }
    let wakeups: usize = pa.online_nodes().map(|n| n.kswapd_wakeups.load(Relaxed)).sum();
    kprintln!("kswapd_wakeup {wakeups}");
    kprintln!("allocstall {}", pa.alloc_stalls.load(Relaxed));
    kprintln!("alloc_fail {}", pa.alloc_failures.load(Relaxed));
}

monitor_cmd!(MON_MEMINFO, "meminfo", "memory summary (/proc/meminfo)", cmd_meminfo);
monitor_cmd!(MON_BUDDYINFO, "buddyinfo", "free blocks per order per zone (/proc/buddyinfo)", cmd_buddyinfo);
monitor_cmd!(
    MON_PAGETYPEINFO,
    "pagetypeinfo",
    "free blocks per migratetype (/proc/pagetypeinfo)",
    cmd_ptinfo
);
monitor_cmd!(MON_ZONEINFO, "zoneinfo", "zones, watermarks, pcp lists (/proc/zoneinfo)", cmd_zoneinfo);
monitor_cmd!(MON_VMSTAT, "vmstat", "memory counters and events (/proc/vmstat)", cmd_vmstat);

fn cmd_meminfo(_: &str) {
    show_meminfo();
}
fn cmd_buddyinfo(_: &str) {
    show_buddyinfo();
}
fn cmd_ptinfo(_: &str) {
    show_pagetypeinfo();
}
fn cmd_zoneinfo(_: &str) {
    show_zoneinfo();
}
fn cmd_vmstat(_: &str) {
    show_vmstat();
}
