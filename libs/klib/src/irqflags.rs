//! Interrupt masking on this CPU (Linux: arch/arm64/include/asm/irqflags.h).
//! PSTATE.DAIF.I masks IRQs; the saved flags are the whole DAIF value.
//!
//! This is the one piece of hardware access in klib: the IRQ-safe lock
//! below needs it, and both the kernel and the host-testable mm crate use
//! that lock. On the host (tests) there are no interrupts and these are
//! no-ops.

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod imp {
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
    #[inline(always)]
    pub fn irqs_disabled() -> bool {
        let daif: usize;
        // SAFETY: reads DAIF only.
        unsafe { asm!("mrs {0}, daif", out(reg) daif, options(nomem, nostack)) };
        daif & (1 << 7) != 0
    }

    /// This CPU's number: the kernel keeps it + 1 in TPIDR_EL1 (0 before
    /// set_my_cpu, read as CPU 0) (Linux: smp_processor_id).
    #[inline(always)]
    pub fn smp_processor_id() -> usize {
        let v: usize;
        // SAFETY: reads a system register only.
        unsafe { asm!("mrs {0}, tpidr_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
        v.saturating_sub(1)
    }
}

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
mod imp {
    pub fn local_irq_save() -> usize {
        0
    }
    pub fn local_irq_restore(_flags: usize) {}
    pub fn local_irq_enable() {}
    pub fn local_irq_disable() {}
    pub fn irqs_disabled() -> bool {
        false
    }
    pub fn smp_processor_id() -> usize {
        0
    }
}

pub use imp::*;
