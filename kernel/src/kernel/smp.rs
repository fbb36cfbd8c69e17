//! Bringing up the other CPUs and talking to them (Linux:
//! arch/arm64/kernel/smp.c, kernel/smp.c).
//!
//! `smp_init` starts every CPU of the device tree's /cpus with PSCI CPU_ON:
//! each starts on the stack of the idle task made for it and enters
//! boot/head.S's `secondary_entry`,
//! which turns its MMU on with the kernel page table and calls
//! `secondary_start_kernel`. IPIs are SGIs: 0 reschedule, 1 call function.

use crate::arch::psci;
use crate::kernel::percpu::{self, NR_CPUS};
use crate::{irq, kprintln, monitor_cmd};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use log::{info, warn};

pub const IPI_RESCHEDULE: u32 = 0;
pub const IPI_CALL_FUNC: u32 = 1;

extern "C" {
    static mut secondary_data: [u64; 2];
    fn secondary_entry();
}

static CPU_ONLINE: [AtomicBool; NR_CPUS] = [const { AtomicBool::new(false) }; NR_CPUS];
/// A function for each CPU to run on the next call-function IPI.
static CALL_FUNC: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(0) }; NR_CPUS];
static CALL_DONE: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(0) }; NR_CPUS];
/// IPIs received per CPU and kind.
pub static IPI_COUNTS: [[AtomicUsize; 2]; NR_CPUS] = [const { [const { AtomicUsize::new(0) }; 2] }; NR_CPUS];

pub fn cpu_online(cpu: usize) -> bool {
    cpu == 0 || CPU_ONLINE.get(cpu).is_some_and(|c| c.load(Acquire))
}

fn ipi_handler(intid: u32) {
    let cpu = percpu::smp_processor_id();
    IPI_COUNTS[cpu][intid as usize].fetch_add(1, Relaxed);
    if intid == IPI_CALL_FUNC {
        let f = CALL_FUNC[cpu].swap(0, AcqRel);
        if f != 0 {
            // SAFETY: only smp_call_function_single stores fn() pointers here.
            let f: fn() = unsafe { core::mem::transmute(f) };
            f();
            CALL_DONE[cpu].fetch_add(1, Release);
        }
    } else if intid == IPI_RESCHEDULE {
        crate::sched::set_need_resched();
    }
}

/// Sends an IPI to one CPU (Linux: smp_send_reschedule, arch_send_call_function_single_ipi).
pub fn send_ipi(cpu: usize, ipi: u32) {
    if let Some(g) = irq::gic() {
        g.send_sgi(ipi, 1 << cpu);
    }
}

/// Runs `f` on `cpu` and waits for it (Linux: smp_call_function_single with wait=1).
pub fn smp_call_function_single(cpu: usize, f: fn()) -> bool {
    if cpu == percpu::smp_processor_id() {
        let flags = crate::arch::irqflags::local_irq_save();
        f();
        crate::arch::irqflags::local_irq_restore(flags);
        return true;
    }
    if !cpu_online(cpu) {
        return false;
    }
    let done = CALL_DONE[cpu].load(Acquire);
    while CALL_FUNC[cpu].compare_exchange(0, f as usize, AcqRel, Acquire).is_err() {
        core::hint::spin_loop();
    }
    send_ipi(cpu, IPI_CALL_FUNC);
    let t0 = crate::arch::time::uptime_ns();
    while CALL_DONE[cpu].load(Acquire) == done {
        if crate::arch::time::uptime_ns() - t0 > 1_000_000_000 {
            warn!("smp: CPU{cpu} did not run a call-function IPI within 1 s");
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// Runs `f` on every online CPU (Linux: on_each_cpu).
pub fn on_each_cpu(f: fn()) {
    for cpu in 0..percpu::num_online_cpus().max(1) {
        smp_call_function_single(cpu, f);
    }
}

/// The MPIDRs of /cpus, in device-tree order.
/// (MPIDR affinity, NUMA node) of each CPU in the device tree's /cpus.
fn dt_cpus() -> [Option<(u64, usize)>; NR_CPUS] {
    let mut out = [None; NR_CPUS];
    for (i, c) in crate::drivers::devicetree::get().cpus().take(NR_CPUS).enumerate() {
        let nid = c.property("numa-node-id").and_then(|p| p.as_usize()).unwrap_or(0);
        out[i] = Some((c.ids().first() as u64, nid));
    }
    out
}

/// Starts the secondary CPUs (Linux: smp_init / bringup_nonboot_cpus).
pub fn smp_init() {
    irq::request_irq(IPI_RESCHEDULE, "IPI reschedule", ipi_handler).ok();
    irq::request_irq(IPI_CALL_FUNC, "IPI call function", ipi_handler).ok();
    let boot_hwid = crate::arch::cpu::hwid();
    let ttbr1 = crate::arch::mm::mmu::swapper_pg_dir_pa().0 as u64;
    let entry = crate::arch::mm::layout::pa_symbol(secondary_entry as *const u8) as u64;
    let mut cpu = 1;
    for (hwid, nid) in dt_cpus().into_iter().flatten() {
        if hwid == boot_hwid {
            percpu::set_cpu_node(0, nid);
        }
        if hwid == boot_hwid || cpu >= NR_CPUS {
            continue;
        }
        percpu::set_cpu_node(cpu, nid);
        // The CPU starts on the stack of its idle task (Linux: fork_idle,
        // then secondary_data.task).
        let top = match crate::sched::fork_idle(cpu) {
            Ok(top) => top,
            Err(e) => {
                warn!("smp: no idle task for CPU{cpu}: {e}");
                break;
            }
        };
        // SAFETY: the secondary reads this block with its MMU off; we write
        // it and clean it to the point of coherency before starting it.
        unsafe {
            let d = &raw mut secondary_data;
            (*d)[0] = ttbr1;
            (*d)[1] = top as u64;
            core::arch::asm!("dc cvac, {0}", "dsb sy", in(reg) d as usize);
        }
        let ret = psci::cpu_on(hwid, entry, cpu as u64);
        if ret != 0 {
            warn!("psci: failed to boot CPU{cpu} (hwid {hwid:#x}): error {ret}");
            crate::sched::unfork_idle(cpu);
            continue;
        }
        let t0 = crate::arch::time::uptime_ns();
        while !CPU_ONLINE[cpu].load(Acquire) && crate::arch::time::uptime_ns() - t0 < 1_000_000_000 {
            core::hint::spin_loop();
        }
        if !CPU_ONLINE[cpu].load(Acquire) {
            warn!("CPU{cpu}: failed to come online");
            continue;
        }
        cpu += 1;
    }
    info!("SMP: Total of {} processors activated.", percpu::num_online_cpus());
}

/// First Rust code of a secondary CPU (Linux: secondary_start_kernel).
#[no_mangle]
extern "C" fn secondary_start_kernel(cpu: usize) -> ! {
    percpu::set_my_cpu(cpu);
    // The identity map was only for the MMU switch.
    crate::arch::mm::context::switch_to_reserved(cpu);
    crate::arch::mm::tlb::local_flush_tlb_all();
    irq::init_irq_cpu();
    // SGIs are per CPU (on GICv3 they live in each CPU's redistributor).
    irq::enable_percpu_irq(IPI_RESCHEDULE);
    irq::enable_percpu_irq(IPI_CALL_FUNC);
    crate::kernel::time::time_init_cpu();
    let midr = crate::arch::cpu::midr();
    info!("CPU{cpu}: Booted secondary processor {:#012x} [{:#010x}]", crate::arch::cpu::hwid(), midr.0);
    crate::sched::init_idle(cpu);
    percpu::set_cpu_online();
    CPU_ONLINE[cpu].store(true, Release);
    crate::arch::irqflags::local_irq_enable();
    crate::sched::cpu_idle()
}

fn cmd_cpus(_: &str) {
    kprintln!("CPU  hwid          MIDR        core              state    node  IPIs(resched/call)");
    for (cpu, ipis) in IPI_COUNTS.iter().enumerate() {
        let Some(hwid) = percpu::cpu_hwid(cpu) else { continue };
        kprintln!(
            "{cpu:3}  {hwid:#012x}  {:#010x}  {:<16}  {:<7}  {:4}  {}/{}",
            percpu::cpu_midr(cpu).0,
            alloc::format!("{}", percpu::cpu_midr(cpu)),
            if cpu_online(cpu) { "online" } else { "offline" },
            percpu::cpu_to_node(cpu),
            ipis[0].load(Relaxed),
            ipis[1].load(Relaxed)
        );
    }
}

monitor_cmd!(MON_CPUS, "cpus", "the CPUs, their state and IPIs", cmd_cpus);
