//! Pagoda: a teaching kernel for Linux memory management on AArch64.
//!
//! `start_kernel` mirrors init/main.c: each step below is the Pagoda
//! counterpart of a Linux boot step, and logs what it did.
#![no_std]
#![no_main]
// Some mm API (TLB flush by ASID, iounmap, ...) has no caller in the plain
// kernel yet, only in the in-kernel tests; the test build, which compiles
// both, still reports dead code.
#![cfg_attr(not(feature = "ktest"), allow(dead_code))]

extern crate alloc;

mod arch;
mod block;
mod debug;
mod drivers;
mod fs;
mod kernel;
mod mm;
mod sched;
mod sync;
mod syscall;

use drivers::{console, devicetree};
use kernel::{irq, kallsyms, percpu, power, printk, smp, time};

use log::{info, warn};

/// The kernel version string: crate version and git hash.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_HASH: &str = env!("PAGODA_GIT_HASH");

/// Entry from boot/head.S, running at the kernel's high virtual address with
/// the boot page tables, on the boot stack, interrupts masked.
#[no_mangle]
pub extern "C" fn start_kernel(fdt_pa: usize, text_pa: usize, boot_el: u64) -> ! {
    arch::mm::layout::init_kimage_voffset(text_pa);
    percpu::set_my_cpu(0);
    mm::early_heap::init();
    printk::init();
    let midr = arch::cpu::midr();
    info!("Booting Pagoda on physical CPU {:#012x} [{:#010x}]", arch::cpu::hwid(), midr.0);
    info!("Pagoda version {VERSION} (git {GIT_HASH}) ({}) #1 SMP", env!("PAGODA_RUSTC"));

    // setup_arch: the fixmap, then the device tree through it.
    let ttbr1 = aarch64_cpu::registers::TTBR1_EL1.get_baddr() as usize;
    arch::mm::fixmap::early_fixmap_init(ttbr1);
    setup_machine_fdt(fdt_pa);

    // parse_early_param: the console loglevel, then the console itself.
    let cmdline = devicetree::bootargs();
    printk::setup_loglevel(cmdline);
    setup_console();

    info!("CPU0: {midr}, entered at EL{boot_el}, running at EL{}", arch::cpu::current_el());
    devicetree::print_info();
    info!("Kernel command line: {cmdline}");
    setup_psci();
    info!("kallsyms: {} symbols", kallsyms::count());

    // setup_arch, continued: the physical memory map, then the kernel page table.
    mm::memblock::arm64_memblock_init(cmdline, fdt_pa);
    arch::mm::mmu::paging_init();
    arch::mm::layout::print_memory_layout(arch::mm::mmu::linear_map_end());
    arch::mm::context::asids_init();

    // mm_core_init: nodes, zones, struct pages, then the buddy allocator.
    mm::mm_init::free_area_init(cmdline);
    mm::mm_init::mem_init_print_info();
    mm::slab::kmem_cache_init(cmdline);
    mm::vmalloc::vmalloc_init();
    console_init();

    // init_IRQ, time_init: the GIC, the tick, UART input by interrupt.
    if !irq::init_irq() {
        // No interrupt controller: no tick, so no scheduler. Run init's work
        // on the boot stack.
        kernel_init(0);
        power::poweroff();
    }
    time::time_init(cmdline);
    console::enable_rx_irq();
    arch::irqflags::local_irq_enable();
    sched::sched_init();
    // The boot context becomes swapper/0; init (PID 1) does the rest.
    sched::rest_init(kernel_init)
}

/// PID 1: brings up the other CPUs and the kernel threads, then runs the
/// benchmarks, the tests or the monitor (Linux: kernel_init ->
/// kernel_init_freeable -> smp_init, do_basic_setup, then /init).
fn kernel_init(_: usize) {
    let cmdline = devicetree::bootargs();
    if sched::current().is_some() {
        smp::smp_init();
        mm::kswapd::kswapd_init();
        mm::oom_kill::oom_init();
    }
    // do_basic_setup: the drivers' initcalls.
    drivers::virtio::virtio_mmio_init();
    fs::fs_writeback::writeback_init();
    fs::initramfs::populate_rootfs();
    mm::swapfile::swapon_from_cmdline(cmdline);
    mm::memory::trace_faults_init(cmdline);
    mm::vmscan::reclaim_init(cmdline);
    mm::randomize::randomize_init(cmdline);
    mm::mm_init::print_buddyinfo();

    match pagoda_klib::cmdline::get(cmdline, "bench") {
        Some(Some("smp")) => {
            debug::bench::smp::run_all();
            power::poweroff();
        }
        Some(_) => {
            debug::bench::run_all();
            power::poweroff();
        }
        None => {}
    }

    #[cfg(feature = "ktest")]
    debug::ktest::run_all(pagoda_klib::cmdline::get(cmdline, "ktest.filter").flatten());
    #[cfg(not(feature = "ktest"))]
    {
        fs::exec::run_init_process(cmdline);
        debug::monitor::run()
    }
}

/// Maps the device tree through the fixmap and parses it (Linux: setup_machine_fdt).
fn setup_machine_fdt(fdt_pa: usize) {
    let (va, mapped) = arch::mm::fixmap::fixmap_remap_fdt(fdt_pa);
    // SAFETY: fixmap_remap_fdt mapped at least the header at `va`.
    let size = unsafe { devicetree::header_total_size(va) };
    match size {
        Some(size) if size <= mapped => {}
        Some(size) => panic!("device tree at {fdt_pa:#x} is {size} bytes; only {mapped} fit the fixmap"),
        None => panic!("no valid device tree at physical address {fdt_pa:#x} (x0 at entry)"),
    }
    // SAFETY: the whole blob is mapped read-only and stays so.
    if let Err(e) = unsafe { devicetree::init(va) } {
        panic!("device tree at {fdt_pa:#x} does not parse: {e:?}");
    }
}

/// Finds the UART in the device tree and makes it the console (Linux: earlycon).
fn setup_console() {
    let Some(uart) = devicetree::stdout_uart() else {
        // Nothing to print on; the log is still in the ring buffer.
        return;
    };
    let va = arch::mm::fixmap::set_fixmap_io(arch::mm::fixmap::FixedAddress::EarlyconMemBase, uart.base);
    // SAFETY: the fixmap slot maps the PL011's registers as Device memory.
    unsafe { console::register(va) };
    printk::console_replay();
    info!("earlycon: pl011 at MMIO {:#010x} (fixmap {va:#x})", uart.base);
}

/// Moves the console from its fixmap slot to an ioremap()ed address, as the
/// real PL011 driver takes over from earlycon (Linux: console_init).
fn console_init() {
    let Some(uart) = devicetree::stdout_uart() else { return };
    match mm::ioremap::ioremap(uart.base, uart.size.max(0x1000)) {
        Ok(va) => {
            // SAFETY: `va` maps the same PL011 as Device memory.
            unsafe { console::rebase(va) };
            arch::mm::fixmap::clear_fixmap(arch::mm::fixmap::FixedAddress::EarlyconMemBase);
            info!(
                "{:x}.pl011: ttyAMA0 at MMIO {:#x} mapped at {va:#x}; earlycon disabled",
                uart.base, uart.base
            );
        }
        Err(e) => warn!("pl011: ioremap failed ({e:?}); staying on earlycon"),
    }
}

/// Reads the PSCI conduit from the device tree (Linux: psci_dt_init).
fn setup_psci() {
    match devicetree::psci_method().and_then(arch::psci::init) {
        Some(conduit) => match arch::psci::version() {
            Some((major, minor)) => {
                info!("psci: PSCIv{major}.{minor} detected in firmware ({conduit:?} conduit)")
            }
            None => warn!("psci: no answer to PSCI_VERSION"),
        },
        None => warn!("psci: no PSCI in the device tree; poweroff will use semihosting"),
    }
}
