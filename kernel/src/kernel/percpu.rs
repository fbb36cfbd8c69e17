//! Per-CPU data (Linux: include/linux/percpu.h; arm64 keeps the per-CPU
//! offset in TPIDR_EL1).
//!
//! Pagoda keeps the CPU number + 1 in TPIDR_EL1 (0 = not set yet, read as
//! CPU 0), so `smp_processor_id()` is one register read; per-CPU data are
//! arrays indexed by it. CPU 0 sets it in start_kernel, secondaries in
//! secondary_start_kernel.

use aarch64_cpu::registers::TPIDR_EL1;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use tock_registers::interfaces::Writeable;

pub use pagoda_klib::sync::NR_CPUS;

static HWIDS: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(usize::MAX) }; NR_CPUS];
static MIDRS: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(0) }; NR_CPUS];
static ONLINE: AtomicUsize = AtomicUsize::new(1);
/// The NUMA node of each CPU, from the device tree's `numa-node-id` on its
/// /cpus entry (Linux: numa_store_cpu_info / cpu_to_node).
static CPU_NODE: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(0) }; NR_CPUS];

/// Records that this CPU is `cpu` (Linux: set_my_cpu_offset).
pub fn set_my_cpu(cpu: usize) {
    TPIDR_EL1.set(cpu as u64 + 1);
    HWIDS[cpu].store(crate::arch::cpu::hwid() as usize, Relaxed);
    MIDRS[cpu].store(crate::arch::cpu::midr().0 as usize, Relaxed);
}

/// Records the node of `cpu` (Linux: set_cpu_numa_node).
pub fn set_cpu_node(cpu: usize, nid: usize) {
    CPU_NODE[cpu].store(nid, Relaxed);
}

/// The node of `cpu` (Linux: cpu_to_node).
pub fn cpu_to_node(cpu: usize) -> usize {
    CPU_NODE[cpu].load(Relaxed)
}

/// The node of the CPU running this code (Linux: numa_node_id).
pub fn numa_node_id() -> usize {
    cpu_to_node(smp_processor_id())
}

/// The MIDR_EL1 an online CPU reported when it came up.
pub fn cpu_midr(cpu: usize) -> pagoda_klib::midr::Midr {
    pagoda_klib::midr::Midr(MIDRS[cpu].load(Relaxed) as u32)
}

/// This CPU's number (Linux: smp_processor_id).
pub use pagoda_klib::irqflags::smp_processor_id;

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
