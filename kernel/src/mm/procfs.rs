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

/// A zone counter summed over every zone (Linux: global_zone_page_state).
fn global_zone_page_state(item: ZoneStatItem) -> usize {
    page_allocator().zones().map(|z| z.zone_page_state(item)).sum()
}

/// /proc/meminfo, the lines of Linux 6.1 that Pagoda has counters for, in
/// its order and format. Lines whose subsystem has not landed yet (the page
/// cache, LRU lists, swap) read their real counters, which are zero until
/// then.
pub fn show_meminfo() {
    use super::page_alloc::global_node_page_state as node;
    use pagoda_mm::vmstat::NodeStatItem::*;
    let pa = page_allocator();
    let total = pa.totalram_pages();
    let free = mem_free_pages();
    let available = free.saturating_sub(totalreserve_pages());
    let buffers = crate::block::nr_blockdev_pages();
    let swapcached = node(NrSwapcache);
    let cached = node(NrFilePages).saturating_sub(swapcached + buffers);
    let lru = [node(NrActiveAnon), node(NrInactiveAnon), node(NrActiveFile), node(NrInactiveFile)];
    mi("MemTotal", total * K);
    mi("MemFree", free * K);
    mi("MemAvailable", available * K);
    mi("Buffers", buffers * K);
    mi("Cached", cached * K);
    mi("SwapCached", swapcached * K);
    mi("Active", (lru[0] + lru[2]) * K);
    mi("Inactive", (lru[1] + lru[3]) * K);
    mi("Active(anon)", lru[0] * K);
    mi("Inactive(anon)", lru[1] * K);
    mi("Active(file)", lru[2] * K);
    mi("Inactive(file)", lru[3] * K);
    mi("Unevictable", node(NrUnevictable) * K);
    mi("Mlocked", global_zone_page_state(ZoneStatItem::NrMlock) * K);
    mi("SwapTotal", super::swapfile::total_swap_pages() * K);
    mi("SwapFree", super::swapfile::nr_swap_pages() * K);
    mi("Dirty", node(NrFileDirty) * K);
    mi("Writeback", node(NrWriteback) * K);
    mi("AnonPages", node(NrAnonMapped) * K);
    mi("Mapped", node(NrFileMapped) * K);
    mi("Shmem", node(NrShmem) * K);
    let (reclaimable, unreclaimable) = super::slab::slab_bytes();
    mi("KReclaimable", reclaimable >> 10);
    mi("Slab", (reclaimable + unreclaimable) >> 10);
    mi("SReclaimable", reclaimable >> 10);
    mi("SUnreclaim", unreclaimable >> 10);
    mi("KernelStack", node(NrKernelStackKb));
    mi("PageTables", node(NrPagetable) * K);
    mi("Bounce", global_zone_page_state(ZoneStatItem::NrBounce) * K);
    mi("WritebackTmp", 0);
    mi("CommitLimit", super::util::vm_commit_limit() * K);
    mi("Committed_AS", super::util::committed_as() * K);
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
    // Every online CPU's lists, as Linux shows every possible CPU's.
    for (cpu, pcp) in z.pcp.iter().enumerate().take(crate::kernel::percpu::num_online_cpus()) {
        let p = pcp.lock();
        if p.high == 0 {
            continue; // a zone too small for pcp lists
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
    // Fault events (Linux: PGFAULT, PGMAJFAULT, PGREUSE; cow_fault is
    // Pagoda's own count of wp_page_copy).
    kprintln!("pgfault {}", super::memory::PAGE_FAULTS.load(Relaxed));
    kprintln!("pgmajfault {}", super::memory::PGMAJFAULT.load(Relaxed));
    // Linux counts sectors and prints kilobytes.
    kprintln!("pgpgin {}", crate::block::PGPGIN_SECTORS.load(Relaxed) / 2);
    kprintln!("pgpgout {}", crate::block::PGPGOUT_SECTORS.load(Relaxed) / 2);
    kprintln!("pswpin {}", super::swapfile::PSWPIN.load(Relaxed));
    kprintln!("pswpout {}", super::swapfile::PSWPOUT.load(Relaxed));
    kprintln!("nr_dirtied {}", super::page_writeback::NR_DIRTIED.load(Relaxed));
    kprintln!("nr_written {}", super::page_writeback::NR_WRITTEN.load(Relaxed));
    kprintln!("pgreuse {}", super::memory::PAGE_REUSES.load(Relaxed));
    kprintln!("pgactivate {}", super::swap::PGACTIVATE.load(Relaxed));
    {
        use super::vmscan::*;
        kprintln!("pgdeactivate {}", PGDEACTIVATE.load(Relaxed));
        kprintln!("pgrefill {}", PGREFILL.load(Relaxed));
        kprintln!("pgsteal_kswapd {}", PGSTEAL_KSWAPD.load(Relaxed));
        kprintln!("pgsteal_direct {}", PGSTEAL_DIRECT.load(Relaxed));
        kprintln!("pgscan_kswapd {}", PGSCAN_KSWAPD.load(Relaxed));
        kprintln!("pgscan_direct {}", PGSCAN_DIRECT.load(Relaxed));
    }
    kprintln!("cow_fault {}", super::memory::COW_COPIES.load(Relaxed));
    let wakeups: usize = pa.online_nodes().map(|n| n.kswapd_wakeups.load(Relaxed)).sum();
    kprintln!("kswapd_wakeup {wakeups}");
    kprintln!("allocstall {}", pa.alloc_stalls.load(Relaxed));
    kprintln!("alloc_fail {}", pa.alloc_failures.load(Relaxed));
    kprintln!("oom_kill {}", super::oom_kill::OOM_KILL.load(Relaxed));
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

/// `pmap PID`: the address space of a process, one line per VMA, as
/// procps's `pmap -x` prints it: address, size, resident and dirty KiB,
/// mode, and what is mapped (Linux: what pmap reads from /proc/PID/smaps).
pub fn show_pmap(pid: usize) {
    use super::vma::VmFlags;
    let Some(t) = crate::sched::find_process(pid).filter(|t| !t.is_kthread()) else {
        return kprintln!("pmap: {pid}: no such process");
    };
    let Some(mm) = t.mm() else { return kprintln!("pmap: {pid}: no address space") };
    let mut vmas = alloc::vec::Vec::new();
    let (bounds, brk) = {
        let map = mm.mmap_lock.read();
        (map.bounds, (map.start_brk, map.brk))
    };
    {
        let map = mm.mmap_lock.read();
        if vmas.try_reserve_exact(map.vmas.len()).is_err() {
            return kprintln!("pmap: out of memory");
        }
        for id in map.vmas.iter() {
            let (s, e) = map.vmas.range(id);
            let f = map.vmas.get(id).map_or(VmFlags::empty(), |v| v.flags);
            let file = map.vmas.get(id).and_then(|v| v.vm_file.as_ref()).map(|f| f.name().clone());
            vmas.push((s, e, f, 0usize, 0usize, file));
        }
    }
    // Resident and dirty pages, from one walk of the page tables.
    mm.with_page_table(|pt| {
        pt.for_each_leaf(0, |va, _, size, prot, _| {
            if let Some(v) = vmas.iter_mut().find(|v| v.0 <= va && va < v.1) {
                v.3 += size;
                if prot.contains(pagoda_mm::pgtable::Prot::DIRTY) {
                    v.4 += size;
                }
            }
        })
    });
    kprintln!("{pid}:   {}", t.name());
    kprintln!("Address           Kbytes     RSS   Dirty Mode  Mapping");
    let (mut total, mut rss, mut dirty) = (0, 0, 0);
    for (s, e, f, r, d, file) in &vmas {
        let (s, e, f, r, d) = (*s, *e, *f, *r, *d);
        let bit = |flag: VmFlags, c: char| if f.contains(flag) { c } else { '-' };
        // pmap shows a file by its last path component.
        let name = if let Some(file) = file {
            file.rsplit('/').next().unwrap_or("")
        } else if f.contains(VmFlags::GROWSDOWN) {
            "[ stack ]"
        } else {
            "[ anon ]"
        };
        kprintln!(
            "{s:016x} {:7} {:7} {:7} {}{}{}{}- {name}",
            (e - s) >> 10,
            r >> 10,
            d >> 10,
            bit(VmFlags::READ, 'r'),
            bit(VmFlags::WRITE, 'w'),
            bit(VmFlags::EXEC, 'x'),
            bit(VmFlags::SHARED, 's'),
        );
        total += e - s;
        rss += r;
        dirty += d;
    }
    kprintln!("---------------- ------- ------- -------");
    kprintln!("total kB         {:7} {:7} {:7}", total >> 10, rss >> 10, dirty >> 10);
    // What /proc/PID/stat reports as startcode, endcode, startstack... .
    kprintln!(
        "mm: code {:#x}-{:#x} data {:#x}-{:#x} brk {:#x}-{:#x} stack {:#x}",
        bounds.start_code,
        bounds.end_code,
        bounds.start_data,
        bounds.end_data,
        brk.0,
        brk.1,
        bounds.start_stack
    );
}

fn cmd_pmap(args: &str) {
    let arg = args.trim();
    match arg.parse::<usize>() {
        Ok(pid) => show_pmap(pid),
        Err(_) if !arg.is_empty() => match crate::sched::find_process_by_name(arg) {
            Some(pid) => show_pmap(pid),
            None => kprintln!("pmap: no process named {arg}"),
        },
        Err(_) => kprintln!("usage: pmap PID|NAME"),
    }
}

monitor_cmd!(
    MON_PMAP,
    "pmap",
    "pmap PID|NAME: a process's mappings with RSS and dirty KiB (pmap -x)",
    cmd_pmap
);
