//! Locks (Linux: include/linux/spinlock.h).
//!
//! `SpinLockIrq` is `spin_lock_irqsave`: it masks interrupts on this CPU
//! before taking the lock and restores them after releasing it, so an
//! interrupt handler that takes the same lock cannot deadlock against the
//! code it interrupted. Use it for anything an IRQ handler touches (the
//! printk ring, the console, the UART receive buffer, timers).

use crate::arch::irqflags::{local_irq_restore, local_irq_save};
use core::ops::{Deref, DerefMut};
use spin::{Mutex, MutexGuard};

pub struct SpinLockIrq<T> {
    inner: Mutex<T>,
}

pub struct SpinLockIrqGuard<'a, T> {
    guard: Option<MutexGuard<'a, T>>,
    flags: usize,
}

impl<T> SpinLockIrq<T> {
    pub const fn new(v: T) -> Self {
        SpinLockIrq { inner: Mutex::new(v) }
    }

    /// Masks IRQs, then spins for the lock (Linux: spin_lock_irqsave).
    pub fn lock(&self) -> SpinLockIrqGuard<'_, T> {
        let flags = local_irq_save();
        SpinLockIrqGuard { guard: Some(self.inner.lock()), flags }
    }

    /// Takes the lock only if it is free (Linux: spin_trylock_irqsave).
    pub fn try_lock(&self) -> Option<SpinLockIrqGuard<'_, T>> {
        let flags = local_irq_save();
        match self.inner.try_lock() {
            Some(g) => Some(SpinLockIrqGuard { guard: Some(g), flags }),
            None => {
                local_irq_restore(flags);
                None
            }
        }
    }

    /// Breaks the lock (panic path only).
    ///
    /// # Safety
    /// No other holder may touch the data afterwards.
    pub unsafe fn force_unlock(&self) {
        // SAFETY: per the contract.
        unsafe { self.inner.force_unlock() }
    }
}

impl<T> Deref for SpinLockIrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().unwrap()
    }
}

impl<T> DerefMut for SpinLockIrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().unwrap()
    }
}

impl<T> Drop for SpinLockIrqGuard<'_, T> {
    fn drop(&mut self) {
        // Release the lock first, then let interrupts in again.
        drop(self.guard.take());
        local_irq_restore(self.flags);
    }
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::arch::irqflags::{irqs_disabled, local_irq_disable, local_irq_enable};
    use crate::ktest::ktest;

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
