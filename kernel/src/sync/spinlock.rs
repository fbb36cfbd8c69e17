//! The IRQ-safe spin lock (Linux: include/linux/spinlock.h
//! spin_lock_irqsave). The type lives in `pagoda_klib::sync`, because the
//! host-testable allocators in pagoda_mm use it too; its in-kernel tests
//! are here. See that module for what holding one means for
//! `in_atomic()` and `might_sleep()`.

pub use pagoda_klib::sync::{in_atomic, in_interrupt, SpinLockIrq};

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::arch::irqflags::{irqs_disabled, local_irq_disable, local_irq_enable};
    use crate::debug::ktest::ktest;

    #[ktest]
    fn irqsave_masks_and_restores() {
        let lock = SpinLockIrq::new(5);
        let was = irqs_disabled();
        local_irq_enable();
        {
            let mut g = lock.lock();
            assert!(irqs_disabled(), "IRQs must be masked while the lock is held");
            *g += 1;
        }
        assert!(!irqs_disabled(), "IRQs must come back on");
        local_irq_disable();
        {
            let _g = lock.lock();
        }
        assert!(irqs_disabled(), "a lock must not enable IRQs the caller had masked");
        assert_eq!(*lock.lock(), 6);
        if !was {
            local_irq_enable();
        }
    }
}
