//! A reader-writer semaphore (Linux: kernel/locking/rwsem.c,
//! include/linux/rwsem.h): many readers or one writer, and waiters sleep.
//! This is what `mmap_lock` is: page faults take it for reading, mmap and
//! munmap for writing.
//!
//! `count` is the number of readers, or -1 while a writer holds it. A
//! writer that has to wait raises `writers_waiting`, and new readers then
//! wait too, so a stream of faults cannot starve an munmap (Linux gets the
//! same effect from its wait-list order and lock handoff).

use crate::sched::{might_sleep, WaitQueue};
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

pub struct RwSem<T> {
    count: AtomicIsize,
    writers_waiting: AtomicUsize,
    wq: WaitQueue,
    data: UnsafeCell<T>,
}

// SAFETY: readers get `&T` only while no writer holds the semaphore, and a
// writer gets `&mut T` only while it is the sole holder (count == -1).
unsafe impl<T: Send + Sync> Sync for RwSem<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for RwSem<T> {}

pub struct RwSemReadGuard<'a, T> {
    sem: &'a RwSem<T>,
}

pub struct RwSemWriteGuard<'a, T> {
    sem: &'a RwSem<T>,
}

impl<T> RwSem<T> {
    pub const fn new(v: T) -> Self {
        RwSem {
            count: AtomicIsize::new(0),
            writers_waiting: AtomicUsize::new(0),
            wq: WaitQueue::new(),
            data: UnsafeCell::new(v),
        }
    }

    /// Linux: down_read_trylock.
    pub fn try_read(&self) -> Option<RwSemReadGuard<'_, T>> {
        let mut cur = self.count.load(Ordering::Relaxed);
        while cur >= 0 && self.writers_waiting.load(Ordering::Relaxed) == 0 {
            match self.count.compare_exchange_weak(cur, cur + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Some(RwSemReadGuard { sem: self }),
                Err(v) => cur = v,
            }
        }
        None
    }

    /// Linux: down_write_trylock.
    pub fn try_write(&self) -> Option<RwSemWriteGuard<'_, T>> {
        // Build the guard only on success: a guard made and dropped on the
        // failure path would release the lock its real holder has.
        match self.count.compare_exchange(0, -1, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => Some(RwSemWriteGuard { sem: self }),
            Err(_) => None,
        }
    }

    /// Shared access, sleeping while a writer holds or waits for it (Linux: down_read).
    #[track_caller]
    pub fn read(&self) -> RwSemReadGuard<'_, T> {
        might_sleep();
        loop {
            if let Some(g) = self.try_read() {
                return g;
            }
            self.wq.wait_event(|| {
                self.count.load(Ordering::Acquire) >= 0 && self.writers_waiting.load(Ordering::Acquire) == 0
            });
        }
    }

    /// Exclusive access, sleeping until every holder is gone (Linux: down_write).
    #[track_caller]
    pub fn write(&self) -> RwSemWriteGuard<'_, T> {
        might_sleep();
        if let Some(g) = self.try_write() {
            return g;
        }
        self.writers_waiting.fetch_add(1, Ordering::AcqRel);
        let g = loop {
            if let Some(g) = self.try_write() {
                break g;
            }
            self.wq.wait_event(|| self.count.load(Ordering::Acquire) == 0);
        };
        self.writers_waiting.fetch_sub(1, Ordering::AcqRel);
        g
    }

    /// Readers holding it now (-1: a writer).
    pub fn count(&self) -> isize {
        self.count.load(Ordering::Relaxed)
    }
}

impl<T> Deref for RwSemReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: no writer while a read guard lives.
        unsafe { &*self.sem.data.get() }
    }
}

impl<T> Drop for RwSemReadGuard<'_, T> {
    fn drop(&mut self) {
        if self.sem.count.fetch_sub(1, Ordering::Release) == 1 {
            self.sem.wq.wake_up_if_active(); // the last reader lets a writer in
        }
    }
}

impl<T> Deref for RwSemWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write guard is the only holder.
        unsafe { &*self.sem.data.get() }
    }
}

impl<T> DerefMut for RwSemWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above.
        unsafe { &mut *self.sem.data.get() }
    }
}

impl<T> Drop for RwSemWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.sem.count.store(0, Ordering::Release);
        self.sem.wq.wake_up_if_active();
    }
}
