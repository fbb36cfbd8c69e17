//! CPU identification and small CPU helpers.

use aarch64_cpu::asm;
use aarch64_cpu::registers::*;
use pagoda_klib::midr::Midr;
use tock_registers::interfaces::Readable;

/// This CPU's MIDR_EL1.
pub fn midr() -> Midr {
    Midr(MIDR_EL1.get() as u32)
}

/// This CPU's hardware id (MPIDR_EL1 affinity fields), as Linux prints it.
pub fn hwid() -> u64 {
    MPIDR_EL1.get() & 0xff_00ff_ffff
}

/// The exception level we run at (1 for the kernel after head.S).
pub fn current_el() -> u64 {
    CurrentEL.read(CurrentEL::EL)
}

/// Waits for an interrupt (the idle loop's WFI).
pub fn wait_for_interrupt() {
    asm::wfi();
}

/// Stops this CPU for good, with interrupts masked.
pub fn halt() -> ! {
    // SAFETY: masking interrupts on the way to an endless wfe cannot break anything.
    unsafe { core::arch::asm!("msr daifset, #0xf") };
    loop {
        asm::wfe();
    }
}

/// Busy-wait hint (Linux: cpu_relax). The monitor polls the UART with it
/// until the UART moves to interrupts and the idle loop can use WFI.
#[cfg_attr(feature = "ktest", allow(dead_code))] // the test kernel has no prompt
pub fn cpu_relax() {
    core::hint::spin_loop();
}

/// SP_EL0, which holds `current` while the CPU is in the kernel (see
/// sched/task.rs). The kernel runs on SP_EL1 (SPSel = 1), so at EL1
/// SP_EL0 is an ordinary system register.
#[inline(always)]
pub fn read_sp_el0() -> u64 {
    SP_EL0.get()
}

/// Sets SP_EL0 (the scheduler's `current`).
#[inline(always)]
pub fn write_sp_el0(v: u64) {
    use tock_registers::interfaces::Writeable;
    SP_EL0.set(v);
}

/// The AT_HWCAP bits this CPU earns (Linux: elf_hwcap from the ID
/// registers; arch/arm64/include/uapi/asm/hwcap.h). Only FP and AdvSIMD are
/// reported so far.
pub fn elf_hwcap() -> u64 {
    const HWCAP_FP: u64 = 1 << 0;
    const HWCAP_ASIMD: u64 = 1 << 1;
    let pfr0 = ID_AA64PFR0_EL1.get();
    // A field of 0xf means "not implemented".
    let fp = (pfr0 >> 16) & 0xf != 0xf;
    let asimd = (pfr0 >> 20) & 0xf != 0xf;
    (if fp { HWCAP_FP } else { 0 }) | (if asimd { HWCAP_ASIMD } else { 0 })
}
