//! A sleeping mutex (Linux: kernel/locking/mutex.c, include/linux/mutex.h).
//!
//! Unlike a spin lock, a task that finds the mutex taken sleeps on the
//! mutex's wait queue until the holder unlocks it, so the holder may itself
//! sleep (wait for block I/O, allocate with GFP_KERNEL) while holding it.
//! It may only be taken where sleeping is allowed: `might_sleep()` reports a
//! `lock()` made in atomic context.
//!
//! Differences from Linux: no optimistic spinning and no handoff; unlock
//! wakes every waiter and they race for the lock again (fine at Pagoda's
//! scale, and the simplest correct thing: wait_event re-checks after
//! queueing, so no wake-up is lost).

use crate::sched::{might_sleep, WaitQueue};
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub struct Mutex<T> {
    locked: AtomicBool,
    wq: WaitQueue,
    /// Times a locker had to sleep (for tests and the curious).
    contended: AtomicUsize,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, and only one guard
// exists at a time (the `locked` flag, taken with acquire and released with
// release ordering).
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Mutex<T> {}

pub struct MutexGuard<'a, T> {
    lock: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    pub const fn new(v: T) -> Self {
        Mutex {
            locked: AtomicBool::new(false),
            wq: WaitQueue::new(),
            contended: AtomicUsize::new(0),
            data: UnsafeCell::new(v),
        }
    }

    /// Takes the mutex if it is free (Linux: mutex_trylock).
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        // Build the guard only on success: a guard made and dropped on the
        // failure path would unlock the mutex its real holder has.
        match self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => Some(MutexGuard { lock: self }),
            Err(_) => None,
        }
    }

    /// Takes the mutex, sleeping while someone else holds it (Linux: mutex_lock).
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        might_sleep();
        loop {
            if let Some(g) = self.try_lock() {
                return g;
            }
            self.contended.fetch_add(1, Ordering::Relaxed);
            self.wq.wait_event(|| !self.locked.load(Ordering::Acquire));
        }
    }

    pub fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }

    pub fn contended(&self) -> usize {
        self.contended.load(Ordering::Relaxed)
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (see the Sync impl).
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
        self.lock.wq.wake_up_if_active();
    }
}
