//! Interrupt masking on this CPU (Linux: arch/arm64/include/asm/irqflags.h).
//! PSTATE.DAIF.I masks IRQs; the saved flags are the whole DAIF value.

use core::arch::asm;

/// Masks IRQs and returns the previous DAIF (Linux: arch_local_irq_save).
#[inline(always)]
pub fn local_irq_save() -> usize {
    let flags: usize;
    // SAFETY: reading and setting DAIF.I has no memory effects.
    unsafe { asm!("mrs {0}, daif", "msr daifset, #2", out(reg) flags, options(nomem, nostack)) };
    flags
}

/// Restores DAIF saved by `local_irq_save` (Linux: arch_local_irq_restore).
#[inline(always)]
pub fn local_irq_restore(flags: usize) {
    // SAFETY: as above.
    unsafe { asm!("msr daif, {0}", in(reg) flags, options(nomem, nostack)) };
}

/// Unmasks IRQs (Linux: local_irq_enable).
#[inline(always)]
pub fn local_irq_enable() {
    // SAFETY: as above.
    unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
}

/// Masks IRQs (Linux: local_irq_disable).
#[inline(always)]
pub fn local_irq_disable() {
    // SAFETY: as above.
    unsafe { asm!("msr daifset, #2", options(nomem, nostack)) };
}

/// Whether IRQs are masked on this CPU (Linux: irqs_disabled).
pub fn irqs_disabled() -> bool {
    let daif: usize;
    // SAFETY: reads DAIF only.
    unsafe { asm!("mrs {0}, daif", out(reg) daif, options(nomem, nostack)) };
    daif & (1 << 7) != 0
}
