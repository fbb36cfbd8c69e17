//! The IRQ-safe spin lock and the preemption count (Linux:
//! include/linux/spinlock.h, include/linux/preempt.h).
//!
//! `SpinLockIrq` is `spin_lock_irqsave`: it masks interrupts on this CPU
//! before taking the lock and restores them after releasing it, so an
//! interrupt handler that takes the same lock cannot deadlock against the
//! code it interrupted. Every lock that an interrupt handler may take, or
//! that guards memory an interrupt may free (zone->lock, the pcp lists, the
//! slab caches, vmap areas, ASIDs, the printk ring), is one of these.
//!
//! Holding one also raises this CPU's preempt count, as spin_lock's
//! preempt_disable does, and interrupt entry adds HARDIRQ_OFFSET: that is
//! what `in_interrupt()` and `in_atomic()` read, and what the kernel's
//! `might_sleep()` checks before an allocation that may block.

use crate::irqflags::{local_irq_restore, local_irq_save, smp_processor_id};
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::{Mutex, MutexGuard};

/// The largest number of CPUs Pagoda runs on (Linux: CONFIG_NR_CPUS). The
/// one definition: every per-CPU array in the kernel and in pagoda_mm is
/// sized by it.
pub const NR_CPUS: usize = 8;

/// Preempt count bits (Linux: include/linux/preempt.h): the low byte counts
/// held spin locks (preempt_disable), HARDIRQ counts nested interrupt entries.
pub const PREEMPT_MASK: usize = 0xff;
pub const HARDIRQ_OFFSET: usize = 1 << 16;
pub const HARDIRQ_MASK: usize = 0xf << 16;

static PREEMPT_COUNT: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(0) }; NR_CPUS];

/// This CPU's preempt count (Linux: preempt_count).
#[inline(always)]
pub fn preempt_count() -> usize {
    PREEMPT_COUNT[smp_processor_id()].load(Ordering::Relaxed)
}

/// Only this CPU changes its count, and never while an interrupt on this CPU
/// could be half-way through changing it (entry and exit are balanced), so a
/// load and a store suffice, as in Linux's per-CPU preempt_count.
#[inline(always)]
pub fn preempt_count_add(n: usize) {
    let c = &PREEMPT_COUNT[smp_processor_id()];
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

#[inline(always)]
pub fn preempt_count_sub(n: usize) {
    let c = &PREEMPT_COUNT[smp_processor_id()];
    c.store(c.load(Ordering::Relaxed).wrapping_sub(n), Ordering::Relaxed);
}

/// In a hardware interrupt handler (Linux: in_interrupt, which also counts
/// softirqs; Pagoda has none).
pub fn in_interrupt() -> bool {
    preempt_count() & HARDIRQ_MASK != 0
}

/// Holding a spin lock or in an interrupt: sleeping now would be a bug
/// (Linux: in_atomic).
pub fn in_atomic() -> bool {
    preempt_count() != 0
}

/// A spin lock that masks interrupts while held.
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
    #[inline]
    pub fn lock(&self) -> SpinLockIrqGuard<'_, T> {
        let flags = local_irq_save();
        preempt_count_add(1);
        SpinLockIrqGuard { guard: Some(self.inner.lock()), flags }
    }

    /// Takes the lock only if it is free (Linux: spin_trylock_irqsave).
    pub fn try_lock(&self) -> Option<SpinLockIrqGuard<'_, T>> {
        let flags = local_irq_save();
        match self.inner.try_lock() {
            Some(g) => {
                preempt_count_add(1);
                Some(SpinLockIrqGuard { guard: Some(g), flags })
            }
            None => {
                local_irq_restore(flags);
                None
            }
        }
    }

    /// Whether someone holds the lock (for assertions and the oops path).
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
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

impl<T: Default> Default for SpinLockIrq<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> Deref for SpinLockIrqGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // The guard is only taken out in drop.
        self.guard.as_ref().unwrap()
    }
}

impl<T> DerefMut for SpinLockIrqGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().unwrap()
    }
}

impl<T> Drop for SpinLockIrqGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Release the lock first, then let interrupts in again.
        drop(self.guard.take());
        preempt_count_sub(1);
        local_irq_restore(self.flags);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_raises_the_preempt_count_and_drop_restores_it() {
        let l = SpinLockIrq::new(1);
        let before = preempt_count();
        {
            let mut g = l.lock();
            *g += 1;
            assert!(l.is_locked());
            assert!(l.try_lock().is_none());
        }
        assert_eq!(preempt_count(), before);
        assert_eq!(*l.lock(), 2);
    }
}
