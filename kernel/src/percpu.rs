//! Per-CPU data (Linux: include/linux/percpu.h, arch/arm64 uses TPIDR_EL1).
//!
//! Each CPU's TPIDR_EL1 holds the address of its `PerCpu` block, so
//! `this_cpu()` is one register read. CPU 0 sets it in start_kernel,
//! secondaries in secondary_start_kernel.

use aarch64_cpu::registers::TPIDR_EL1;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use tock_registers::interfaces::{Readable, Writeable};

pub const NR_CPUS: usize = crate::arch::mm::context::NR_CPUS;

/// What each CPU keeps for itself.
#[repr(C, align(64))]
pub struct PerCpu {
    pub cpu: usize,
    /// MPIDR affinity of this CPU.
    pub hwid: u64,
    /// Interrupt nesting depth (Linux: preempt_count's hardirq part).
    pub irq_depth: AtomicUsize,
}

static PERCPU: [PerCpu; NR_CPUS] =
    [const { PerCpu { cpu: 0, hwid: 0, irq_depth: AtomicUsize::new(0) } }; NR_CPUS];
static HWIDS: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(usize::MAX) }; NR_CPUS];
static MIDRS: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(0) }; NR_CPUS];
static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// Points TPIDR_EL1 at `cpu`'s block (Linux: set_my_cpu_offset).
pub fn set_my_cpu(cpu: usize) {
    TPIDR_EL1.set(&PERCPU[cpu] as *const PerCpu as u64);
    HWIDS[cpu].store(crate::arch::cpu::hwid() as usize, Relaxed);
    MIDRS[cpu].store(crate::arch::cpu::midr().0 as usize, Relaxed);
}

/// The MIDR_EL1 an online CPU reported when it came up.
pub fn cpu_midr(cpu: usize) -> pagoda_klib::midr::Midr {
    pagoda_klib::midr::Midr(MIDRS[cpu].load(Relaxed) as u32)
}

/// This CPU's number (Linux: smp_processor_id).
pub fn smp_processor_id() -> usize {
    let p = TPIDR_EL1.get() as usize;
    if p == 0 {
        return 0;
    }
    (p - PERCPU.as_ptr() as usize) / core::mem::size_of::<PerCpu>()
}

pub fn num_online_cpus() -> usize {
    ONLINE.load(Relaxed)
}

/// Marks one more CPU online.
pub fn set_cpu_online() -> usize {
    ONLINE.fetch_add(1, Relaxed) + 1
}

/// The hardware id of an online CPU.
pub fn cpu_hwid(cpu: usize) -> Option<u64> {
    let v = HWIDS.get(cpu)?.load(Relaxed);
    (v != usize::MAX).then_some(v as u64)
}
