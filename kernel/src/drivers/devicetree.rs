//! The flattened device tree, read with the `fdt` crate (Linux:
//! drivers/of/fdt.c, early_init_dt_scan*). Everything Pagoda knows about
//! the board (RAM, UART, GIC, timer, PSCI, the initrd and the command line)
//! comes from here; nothing is hard-coded.

use fdt::node::FdtNode;
use fdt::Fdt;
use log::info;
use spin::Once;

static FDT: Once<Fdt<'static>> = Once::new();

/// Parses the device tree mapped at `va`.
///
/// # Safety
/// `va` must point at a mapped device tree blob that stays mapped and unchanged.
pub unsafe fn init(va: usize) -> Result<&'static Fdt<'static>, fdt::FdtError> {
    // SAFETY: guaranteed by the caller.
    let fdt = unsafe { Fdt::from_ptr(va as *const u8)? };
    Ok(FDT.call_once(|| fdt))
}

/// Whether the device tree has been parsed (the panic path asks).
pub fn is_ready() -> bool {
    FDT.get().is_some()
}

pub fn get() -> &'static Fdt<'static> {
    FDT.get().expect("device tree not parsed yet")
}

/// The total size of the blob whose header is at `va`, read before parsing
/// so the caller can check that all of it is mapped.
///
/// # Safety
/// At least the 40-byte header at `va` must be mapped.
pub unsafe fn header_total_size(va: usize) -> Option<usize> {
    // SAFETY: the caller maps the header.
    let (magic, size) = unsafe { (*(va as *const u32), *((va + 4) as *const u32)) };
    (u32::from_be(magic) == 0xd00d_feed).then_some(u32::from_be(size) as usize)
}

/// A physical range from a `reg` property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub base: usize,
    pub size: usize,
}

impl From<fdt::standard_nodes::MemoryRegion> for Range {
    fn from(r: fdt::standard_nodes::MemoryRegion) -> Range {
        Range { base: r.starting_address as usize, size: r.size.unwrap_or(0) }
    }
}

fn first_reg(node: &FdtNode) -> Option<Range> {
    node.reg()?.next().map(Range::from)
}

fn is_memory_node(node: &FdtNode) -> bool {
    node.property("device_type").and_then(|p| p.as_str()) == Some("memory")
}

/// Every RAM bank of every `/memory` node, with its NUMA node id (0 if none).
pub fn memory_banks() -> impl Iterator<Item = (Range, u32)> {
    get().all_nodes().filter(is_memory_node).flat_map(|n| {
        let nid = n.property("numa-node-id").and_then(|p| p.as_usize()).unwrap_or(0) as u32;
        n.reg().into_iter().flatten().map(move |r| (Range::from(r), nid))
    })
}

fn chosen() -> Option<FdtNode<'static, 'static>> {
    get().find_node("/chosen")
}

/// The command line (`/chosen/bootargs`).
pub fn bootargs() -> &'static str {
    chosen().and_then(|c| c.property("bootargs")).and_then(|p| p.as_str()).unwrap_or("")
}

/// Random bytes the boot loader left for the kernel, folded into 64 bits:
/// `/chosen/rng-seed` (QEMU's virt machine provides 32) or `kaslr-seed`
/// (Linux: early_init_dt_scan_chosen's add_bootloader_randomness).
pub fn rng_seed() -> Option<u64> {
    let c = chosen()?;
    let bytes = c.property("rng-seed").or_else(|| c.property("kaslr-seed"))?.value;
    Some(bytes.chunks(8).fold(0u64, |acc, ch| {
        let mut b = [0u8; 8];
        b[..ch.len()].copy_from_slice(ch);
        acc.rotate_left(17) ^ u64::from_le_bytes(b)
    }))
}

/// The initrd's physical range, from `/chosen/linux,initrd-{start,end}`.
pub fn initrd() -> Option<Range> {
    let c = chosen()?;
    let start = c.property("linux,initrd-start")?.as_usize()?;
    let end = c.property("linux,initrd-end")?.as_usize()?;
    (end > start).then_some(Range { base: start, size: end - start })
}

/// The console UART: `/chosen/stdout-path` if it names a PL011, else the first PL011.
fn stdout_uart_node() -> Option<FdtNode<'static, 'static>> {
    let fdt = get();
    let by_path = chosen()
        .and_then(|c| c.property("stdout-path"))
        .and_then(|p| p.as_str())
        .and_then(|path| fdt.find_node(path.split(':').next().unwrap_or(path)))
        .filter(|n| n.compatible().is_some_and(|c| c.all().any(|s| s == "arm,pl011")));
    by_path.or_else(|| fdt.find_compatible(&["arm,pl011"]))
}

pub fn stdout_uart() -> Option<Range> {
    first_reg(&stdout_uart_node()?)
}

/// Ranges under `/reserved-memory` (firmware carve-outs) with a `reg`.
pub fn reserved_memory() -> impl Iterator<Item = Range> {
    get()
        .find_node("/reserved-memory")
        .into_iter()
        .flat_map(|n| n.children())
        .filter_map(|c| first_reg(&c))
        .filter(|r| r.size > 0)
}

/// The interrupt controller: (GIC version, distributor, CPU interface or
/// redistributor region).
pub fn gic() -> Option<(u8, Range, Range)> {
    for (version, compat) in [(2u8, &["arm,cortex-a15-gic", "arm,gic-400"][..]), (3, &["arm,gic-v3"][..])] {
        if let Some(n) = get().find_compatible(compat) {
            let mut it = n.reg()?.map(Range::from);
            return Some((version, it.next()?, it.next()?));
        }
    }
    None
}

/// GIC INTIDs of an `interrupts` property with 3-cell specifiers
/// (type 0 = SPI, numbered from 32; 1 = PPI, numbered from 16).
fn intids(prop: &[u8]) -> impl Iterator<Item = u32> + '_ {
    prop.chunks_exact(12).map(|c| {
        let cell = |i: usize| u32::from_be_bytes(c[i * 4..i * 4 + 4].try_into().unwrap());
        cell(1) + if cell(0) == 1 { 16 } else { 32 }
    })
}

/// The virtio-mmio transports with their interrupts, in device-tree order,
/// lowest address first, which is the order Linux names their disks in
/// (QEMU plugs the first `-device` of its command line into the highest
/// slot, so with several disks that one is not vda; scripts/run-qemu.sh
/// lists them in reverse).
pub fn virtio_mmio_transports() -> alloc::vec::Vec<(Range, Option<u32>)> {
    get()
        .all_nodes()
        .filter(|n| n.compatible().is_some_and(|c| c.all().any(|s| s == "virtio,mmio")))
        .filter_map(|n| Some((first_reg(&n)?, n.property("interrupts").and_then(|p| intids(p.value).next()))))
        .collect()
}

/// The generic timer's PPIs: secure phys, non-secure phys, virtual, hyp.
pub fn timer_intids() -> Option<[u32; 4]> {
    let t = get().find_compatible(&["arm,armv8-timer", "arm,armv7-timer"])?;
    let mut it = intids(t.property("interrupts")?.value);
    Some([it.next()?, it.next()?, it.next()?, it.next()?])
}

/// The console UART's interrupt.
pub fn stdout_uart_intid() -> Option<u32> {
    intids(stdout_uart_node()?.property("interrupts")?.value).next()
}

/// NUMA distance between two nodes from `/distance-map` (10 = local,
/// 20 = remote when the tree says nothing), as Linux's of_numa does.
pub fn numa_distance(a: usize, b: usize) -> u8 {
    let default = if a == b { 10 } else { 20 };
    let Some(dm) = get().find_compatible(&["numa-distance-map-v1"]) else { return default };
    let Some(m) = dm.property("distance-matrix") else { return default };
    for t in m.value.chunks_exact(12) {
        let cell = |i: usize| u32::from_be_bytes(t[i * 4..i * 4 + 4].try_into().unwrap()) as usize;
        if (cell(0), cell(1)) == (a, b) || (cell(0), cell(1)) == (b, a) {
            return cell(2).min(255) as u8;
        }
    }
    default
}

/// The PSCI conduit, `"hvc"` or `"smc"`.
pub fn psci_method() -> Option<&'static str> {
    let n = get().find_compatible(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])?;
    n.property("method")?.as_str()
}

/// Number of `/cpus/cpu@*` nodes.
pub fn cpu_count() -> usize {
    get().cpus().count()
}

/// Logs what the kernel learnt from the device tree.
pub fn print_info() {
    let fdt = get();
    info!("Machine model: {}", fdt.root().model());
    info!("Device tree: {} bytes, {} CPUs in /cpus", fdt.total_size(), cpu_count());
    for (r, nid) in memory_banks() {
        info!(
            "  memory: [mem {:#018x}-{:#018x}] {} MiB, node {}",
            r.base,
            r.base + r.size - 1,
            r.size >> 20,
            nid
        );
    }
    match initrd() {
        Some(r) => info!("  initrd: [mem {:#018x}-{:#018x}] {} bytes", r.base, r.base + r.size - 1, r.size),
        None => info!("  initrd: none"),
    }
    if let Some(r) = stdout_uart() {
        info!("  uart: arm,pl011 at {:#x} (size {:#x})", r.base, r.size);
    }
    if let Some((v, dist, other)) = gic() {
        let what = if v == 3 { "redist" } else { "cpu" };
        info!("  gic: GICv{v} dist {:#x} {what} {:#x}", dist.base, other.base);
    }
    if let Some(irqs) = timer_intids() {
        info!(
            "  timer: arm,armv8-timer, PPIs sec-phys {} phys {} virt {} hyp {}, {} Hz",
            irqs[0],
            irqs[1],
            irqs[2],
            irqs[3],
            crate::arch::time::counter_freq()
        );
    }
    if let Some(m) = psci_method() {
        info!("  psci: method {m}");
    }
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

    #[ktest]
    fn the_kernel_lies_in_a_memory_bank() {
        let text_pa = crate::arch::mm::layout::pa_symbol(crate::start_kernel as *const ());
        let mut banks = 0;
        let mut inside = false;
        for (r, _) in memory_banks() {
            banks += 1;
            assert!(r.size > 0);
            inside |= (r.base..r.base + r.size).contains(&text_pa);
        }
        assert!(banks >= 1);
        assert!(inside, "kernel at {text_pa:#x} is outside every /memory bank");
    }

    #[ktest]
    fn console_uart_and_psci_are_found() {
        let uart = stdout_uart().expect("no PL011 in the device tree");
        assert!(uart.size >= 0x1000);
        assert!(matches!(psci_method(), Some("hvc") | Some("smc")));
        assert!(cpu_count() >= 1);
    }

    #[ktest]
    fn bootargs_reach_the_kernel() {
        // tests/ktest.sh always passes a command line; the runner reads ktest.* from it.
        let args = bootargs();
        assert_eq!(args, args.trim_end_matches('\0'));
        assert!(initrd().is_none_or(|r| r.size > 0));
    }
}
