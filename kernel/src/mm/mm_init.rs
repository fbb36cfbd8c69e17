//! Nodes, zones and the struct page array at boot (Linux: mm/mm_init.c
//! free_area_init, find_zone_movable_pfns_for_nodes, memmap_init;
//! mm/sparse-vmemmap.c vmemmap_populate; mm/memblock.c memblock_free_all).
//!
//! Steps, all logged:
//! 1. node ranges from memblock (`numa-node-id` in the device tree);
//! 2. zone boundaries: DMA32 below 4 GiB, Normal above, and ZONE_MOVABLE at
//!    the top of each node if `kernelcore=` / `movablecore=` ask for it;
//! 3. the vmemmap: struct pages for every PFN a node spans, at
//!    VMEMMAP_START + (pfn - PHYS_OFFSET/4K) * 64, backed by 2 MiB blocks;
//! 4. memmap_init: every struct page starts reserved, in its zone and node,
//!    and every pageblock starts MIGRATE_MOVABLE;
//! 5. memblock_free_all: memblock's free ranges go to the buddy allocator;
//! 6. zonelists, watermarks, lowmem_reserve, pcp sizes.

use super::memblock::{self, MEMBLOCK};
use super::page_alloc;
use crate::arch::mm::layout::{self, VMEMMAP_START};
use crate::arch::mm::mmu::with_kernel_pgtable;
use crate::arch::time::uptime_ns;
use crate::drivers::devicetree;
use log::{info, warn};
use pagoda_mm::addr::PhysAddr;
use pagoda_mm::mmzone::{MigrateType, MAX_NR_ZONES, MAX_ORDER, ZONE_TYPES};
use pagoda_mm::page::{MemMap, Page};
use pagoda_mm::page_alloc::{PageAllocator, MAX_NUMNODES};
use pagoda_mm::pgtable::{MapFlags, Prot};

use pagoda_mm::addr::PAGE_SHIFT;
const DMA32_END_PFN: usize = 1 << (32 - PAGE_SHIFT);
const SZ_2M: usize = 2 << 20;
const MAX_ORDER_NR_PAGES: usize = 1 << (MAX_ORDER - 1);

/// What one node spans and holds.
#[derive(Debug, Clone, Copy, Default)]
struct NodeLayout {
    online: bool,
    start_pfn: usize,
    end_pfn: usize,
    present: usize,
    zone_end: [usize; MAX_NR_ZONES],
    zone_present: [usize; MAX_NR_ZONES],
}

/// The kernel's struct page array, for every PFN of every node.
static MEM_MAP: spin::Once<MemMap> = spin::Once::new();

/// The global mem_map (Linux: vmemmap + pfn_to_page).
pub fn mem_map() -> &'static MemMap {
    MEM_MAP.get().expect("mem_map used before free_area_init")
}

/// Virtual address of the struct page of `pfn` (Linux: the vmemmap macro).
pub fn vmemmap_addr(pfn: usize) -> usize {
    let base_pfn = layout::phys_offset() >> PAGE_SHIFT;
    VMEMMAP_START + (pfn - base_pfn) * core::mem::size_of::<Page>()
}

fn pfn_up(pa: usize) -> usize {
    pa.div_ceil(4096)
}
fn pfn_down(pa: usize) -> usize {
    pa >> PAGE_SHIFT
}

/// Parses `kernelcore=`/`movablecore=`: a size or a percentage of RAM;
/// returns the pages ZONE_MOVABLE should get in total.
fn required_movable_pages(cmdline: &str, total_pages: usize) -> Option<usize> {
    use pagoda_klib::cmdline::{get, memparse};
    let parse = |v: &str| -> Option<usize> {
        match v.strip_suffix('%') {
            Some(p) => p.parse::<usize>().ok().filter(|&p| p <= 100).map(|p| total_pages * p / 100),
            None => memparse(v).map(|b| b as usize >> PAGE_SHIFT),
        }
    };
    if let Some(Some(v)) = get(cmdline, "movablecore") {
        match parse(v) {
            Some(n) => return Some(n.min(total_pages)),
            None => warn!("movablecore={v}: not a size or a percentage; ignored"),
        }
    }
    if let Some(Some(v)) = get(cmdline, "kernelcore") {
        match parse(v) {
            Some(n) => return Some(total_pages.saturating_sub(n)),
            None => warn!("kernelcore={v}: not a size or a percentage; ignored"),
        }
    }
    None
}

fn node_layouts(cmdline: &str) -> [NodeLayout; MAX_NUMNODES] {
    let mut nodes = [NodeLayout::default(); MAX_NUMNODES];
    let mb = MEMBLOCK.lock();
    for r in mb.memory.iter() {
        let nid = (r.nid as usize).min(MAX_NUMNODES - 1);
        let (s, e) = (pfn_up(r.base), pfn_down(r.end()));
        let n = &mut nodes[nid];
        if !n.online {
            *n = NodeLayout { online: true, start_pfn: s, end_pfn: e, ..Default::default() };
        }
        n.start_pfn = n.start_pfn.min(s);
        n.end_pfn = n.end_pfn.max(e);
        n.present += e - s;
    }
    let total: usize = nodes.iter().map(|n| n.present).sum();
    // ZONE_MOVABLE: the top of each node, shared out in proportion to its
    // size and aligned to MAX_ORDER blocks (Linux spreads it evenly).
    let movable = required_movable_pages(cmdline, total);
    for n in nodes.iter_mut().filter(|n| n.online) {
        let dma_end = DMA32_END_PFN.clamp(n.start_pfn, n.end_pfn);
        n.zone_end = [dma_end, n.end_pfn, n.end_pfn];
        if let Some(req) = movable.filter(|&m| m > 0) {
            let share = req * n.present / total.max(1);
            let start =
                (n.end_pfn - share).next_multiple_of(MAX_ORDER_NR_PAGES).clamp(n.start_pfn, n.end_pfn);
            n.zone_end[0] = n.zone_end[0].min(start);
            n.zone_end[1] = start;
        }
    }
    // Present pages per zone: RAM inside each zone's range.
    for r in mb.memory.iter() {
        let nid = (r.nid as usize).min(MAX_NUMNODES - 1);
        let n = &mut nodes[nid];
        let (s, e) = (pfn_up(r.base), pfn_down(r.end()));
        let mut zstart = n.start_pfn;
        for z in 0..MAX_NR_ZONES {
            let zend = n.zone_end[z];
            let lo = s.max(zstart);
            let hi = e.min(zend);
            if hi > lo {
                n.zone_present[z] += hi - lo;
            }
            zstart = zend;
        }
    }
    nodes
}

fn print_zone_ranges(nodes: &[NodeLayout; MAX_NUMNODES]) {
    // Like Linux, the ranges before ZONE_MOVABLE is carved out of them.
    let online = || nodes.iter().filter(|n| n.online);
    let lo = online().map(|n| n.start_pfn).min().unwrap_or(0);
    let hi = online().map(|n| n.end_pfn).max().unwrap_or(0);
    info!("Zone ranges:");
    for (zt, s, e) in [(ZONE_TYPES[0], lo, hi.min(DMA32_END_PFN)), (ZONE_TYPES[1], lo.max(DMA32_END_PFN), hi)]
    {
        if e > s {
            info!("  {:<8} [mem {:#018x}-{:#018x}]", zt.name(), s << PAGE_SHIFT, (e << PAGE_SHIFT) - 1);
        } else {
            info!("  {:<8} empty", zt.name());
        }
    }
    info!("Movable zone start for each node");
    for (nid, n) in nodes.iter().enumerate().filter(|(_, n)| n.online) {
        if n.zone_end[1] < n.end_pfn {
            info!("  Node {nid}: {:#018x}", n.zone_end[1] << PAGE_SHIFT);
        }
    }
    info!("Early memory node ranges");
    for r in MEMBLOCK.lock().memory.iter() {
        info!("  node {:3}: [mem {:#018x}-{:#018x}]", r.nid, r.base, r.end() - 1);
    }
}

/// Maps struct pages for `[start_pfn, end_pfn)` (Linux: vmemmap_populate
/// with PMD blocks). Returns bytes of backing memory allocated.
fn vmemmap_populate(start_pfn: usize, end_pfn: usize, node_base: usize, node_end: usize) -> usize {
    let start = vmemmap_addr(start_pfn) & !(SZ_2M - 1);
    let end = vmemmap_addr(end_pfn).next_multiple_of(SZ_2M);
    let mut allocated = 0;
    for va in (start..end).step_by(SZ_2M) {
        if with_kernel_pgtable(|pt| pt.translate(va).is_some()) {
            continue; // shared with the previous node's map
        }
        // Prefer the node's own memory, as Linux's vmemmap_alloc_block does.
        let pa = memblock::phys_alloc_range(SZ_2M, SZ_2M, node_base, node_end)
            .or_else(|| memblock::phys_alloc(SZ_2M, SZ_2M))
            .expect("vmemmap: out of memory for struct pages");
        with_kernel_pgtable(|pt| pt.map(va, PhysAddr(pa), SZ_2M, Prot::PAGE_KERNEL, MapFlags::BLOCK_2M))
            .expect("vmemmap: mapping");
        allocated += SZ_2M;
    }
    allocated
}

/// Initialises every struct page of a node (Linux: memmap_init_range).
fn memmap_init(nid: usize, n: &NodeLayout) {
    let map = mem_map();
    let mut zstart = n.start_pfn;
    for z in 0..MAX_NR_ZONES {
        let zend = n.zone_end[z].max(zstart);
        for pfn in zstart..zend {
            // SAFETY: the vmemmap for the node's span was just mapped; nothing
            // else uses these struct pages yet.
            unsafe { map.init_page(pfn, Page::new_reserved(nid as u8, z as u8, MigrateType::Movable as u8)) };
        }
        zstart = zend;
    }
}

/// Sets up nodes, zones, the mem_map and the buddy allocator
/// (Linux: free_area_init + memblock_free_all + build_all_zonelists + ...).
pub fn free_area_init(cmdline: &str) {
    let nodes = node_layouts(cmdline);
    print_zone_ranges(&nodes);
    let online = || nodes.iter().enumerate().filter(|(_, n)| n.online);
    let min_pfn = online().map(|(_, n)| n.start_pfn).min().expect("no memory");
    let max_pfn = online().map(|(_, n)| n.end_pfn).max().unwrap();

    // The struct page array.
    // SAFETY: every struct page in [min_pfn, max_pfn) of an online node is
    // mapped and initialised below before anyone uses the map.
    MEM_MAP.call_once(|| unsafe { MemMap::new(vmemmap_addr(min_pfn) as *mut Page, min_pfn, max_pfn) });
    let t0 = uptime_ns();
    let mut map_bytes = 0;
    for (nid, n) in online() {
        info!(
            "Initmem setup node {nid} [mem {:#018x}-{:#018x}]",
            n.start_pfn << PAGE_SHIFT,
            (n.end_pfn << PAGE_SHIFT) - 1
        );
        map_bytes +=
            vmemmap_populate(n.start_pfn, n.end_pfn, n.start_pfn << PAGE_SHIFT, n.end_pfn << PAGE_SHIFT);
        memmap_init(nid, n);
    }
    let pages: usize = online().map(|(_, n)| n.end_pfn - n.start_pfn).sum();
    let present: usize = online().map(|(_, n)| n.present).sum();
    let t1 = uptime_ns();
    info!(
        "memmap_init: {pages} struct pages of {} bytes at {:#x}: mem_map {} KiB ({}.{:02}% of RAM), initialised in {} ms",
        core::mem::size_of::<Page>(),
        vmemmap_addr(min_pfn),
        map_bytes >> 10,
        map_bytes * 100 / (present << PAGE_SHIFT),
        map_bytes * 10_000 / (present << PAGE_SHIFT) % 100,
        (t1 - t0) / 1_000_000
    );

    // The allocator's nodes and zones.
    // SAFETY: single-threaded boot; nobody holds a reference yet.
    let pa: &mut PageAllocator = unsafe { page_alloc::page_allocator_storage() };
    for (nid, n) in online() {
        pa.init_node(nid, n.start_pfn, n.end_pfn, n.zone_end, n.zone_present, *mem_map());
        for (z, zt) in ZONE_TYPES.iter().enumerate() {
            if n.zone_present[z] > 0 {
                info!("On node {nid}, zone {}: {} pages present", zt.name(), n.zone_present[z]);
            }
        }
    }

    // memblock_free_all: every free range goes to the buddy allocator.
    let t2 = uptime_ns();
    let mut freed = 0;
    // Copied out: freeing takes the zone locks, not memblock's.
    let free_ranges: alloc::vec::Vec<(usize, usize)> =
        MEMBLOCK.lock().free_ranges().map(|r| (pfn_up(r.base), pfn_down(r.end()))).collect();
    for &(s, e) in free_ranges.iter().filter(|r| r.1 > r.0) {
        freed += pa.free_boot_range(s, e);
    }
    memblock::retire();
    info!(
        "memblock_free_all: {freed} pages released to the buddy allocator in {} ms",
        (uptime_ns() - t2) / 1_000_000
    );

    pa.build_all_zonelists(devicetree::numa_distance);
    let min_free_kbytes = pa.calculate_min_free_kbytes();
    pa.setup_per_zone_wmarks(min_free_kbytes);
    pa.setup_per_zone_lowmem_reserve();
    pa.setup_pcp();
    pa.hooks.wakeup_kswapd = Some(super::kswapd::wakeup_kswapd);
    pa.hooks.direct_reclaim = Some(super::vmscan::try_to_free_pages);
    pa.hooks.out_of_memory = Some(super::oom_kill::out_of_memory);
    pa.hooks.oom_victim = super::oom_kill::current_is_oom_victim;
    pa.hooks.pf_memalloc = || crate::sched::with_current(|t| t.is_memalloc()).unwrap_or(false);
    pa.hooks.this_cpu = crate::kernel::percpu::smp_processor_id;
    pa.hooks.this_node = crate::kernel::percpu::numa_node_id;
    info!(
        "Built {} zonelists, mobility grouping on.  Total pages: {}",
        pa.nr_online_nodes,
        pa.totalram_pages()
    );
    for node in pa.online_nodes() {
        let mut order = pagoda_klib::fmtbuf::FmtBuf::<64>::new();
        let mut last = usize::MAX;
        for r in node.node_zonelist.iter() {
            if r.nid as usize != last {
                let _ = core::fmt::write(&mut order, format_args!(" {}", r.nid));
                last = r.nid as usize;
            }
        }
        info!("Fallback order for Node {}:{}", node.node_id, order.as_str());
    }
    info!("min_free_kbytes: {min_free_kbytes}");
    for z in pa.zones() {
        let pcp = z.pcp[0].lock();
        info!(
            "  Node {} {:<7} managed {:>8} pages, watermarks min {} low {} high {}, pcp batch {} high {}",
            z.nid,
            z.name(),
            z.managed(),
            z.min_wmark_pages(),
            z.low_wmark_pages(),
            z.high_wmark_pages(),
            pcp.batch,
            pcp.high
        );
    }
    page_alloc::publish();
}

/// The `Memory: ...K/...K available (...)` line (Linux: mem_init_print_info).
pub fn mem_init_print_info() {
    let pa = page_alloc::page_allocator();
    use crate::kernel::sections::*;
    let physpages: usize = pa.online_nodes().map(|n| n.node_present_pages).sum();
    let available = pa.totalram_pages();
    let codesize = (etext() - text()) >> 10;
    let rosize = (end_rodata() - start_rodata()) >> 10;
    let datasize = (edata() - sdata()) >> 10;
    let bss_size = (end() - bss_start()) >> 10;
    info!(
        "Memory: {}K/{}K available ({codesize}K kernel code, {datasize}K rwdata, {rosize}K rodata, 0K init, {bss_size}K bss, {}K reserved, 0K cma-reserved)",
        available << 2,
        physpages << 2,
        (physpages - available) << 2
    );
}

/// Logs the buddyinfo table (end of boot).
pub fn print_buddyinfo() {
    let pa = page_alloc::page_allocator();
    info!("buddyinfo: free blocks per order          0      1      2      3      4      5      6      7      8      9     10");
    for z in pa.zones() {
        let b = z.buddyinfo();
        let mut row = pagoda_klib::fmtbuf::FmtBuf::<128>::new();
        for n in b {
            let _ = core::fmt::write(&mut row, format_args!("{n:6} "));
        }
        info!("buddyinfo: Node {}, zone {:>8}           {}", z.nid, z.name(), row.as_str());
    }
}
