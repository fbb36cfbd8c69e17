//! Wait queues (Linux: kernel/sched/wait.c, include/linux/wait.h).
//!
//! A sleeper queues itself (`prepare_to_wait`, which also sets its state),
//! re-checks its condition, and calls `schedule()`; when it wakes it
//! removes itself (`finish_wait`). A waker removes each task it wakes
//! (Linux's autoremove_wake_function), so an entry never outlives the wait
//! that made it, and a task is on a queue at most once.
//!
//! Each entry holds a reference to its task, so a waker in an interrupt
//! handler never touches a freed task. Entries are only dropped with the
//! queue's lock held, and a woken task's `finish_wait` takes that lock
//! before it can go on to exit: the last reference to a task is therefore
//! never dropped here.

use super::core::{schedule, try_to_wake_up, yield_now};
use super::task::*;
use crate::sync::SpinLockIrq;
use alloc::vec::Vec;
use core::sync::atomic::{fence, AtomicUsize, Ordering};
use pagoda_klib::arc::Arc;

/// Tasks waiting for a condition (Linux: wait_queue_head_t).
pub struct WaitQueue {
    waiters: SpinLockIrq<Vec<TaskRef>>,
    /// How many are queued, kept with the list under its lock and read
    /// without it by `wake_up_if_active`.
    queued: AtomicUsize,
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    pub const fn new() -> Self {
        WaitQueue { waiters: SpinLockIrq::new(Vec::new()), queued: AtomicUsize::new(0) }
    }

    /// Queues the current task (once) and sets its state (Linux:
    /// prepare_to_wait). False if the queue could not grow: the caller
    /// should let others run and try again.
    #[must_use]
    pub fn prepare_to_wait(&self, state: u32) -> bool {
        let Some(me) = current() else { return false };
        let mut w = self.waiters.lock();
        if !w.iter().any(|t| Arc::ptr_eq(t, &me)) {
            if w.try_reserve(1).is_err() {
                return false;
            }
            w.push(me.clone());
            self.queued.store(w.len(), Ordering::Relaxed);
        }
        me.set_state(state);
        drop(w);
        // Being queued is visible before the caller re-checks its
        // condition (Linux: the smp_mb of set_current_state); pairs with
        // the fence in wake_up_if_active.
        fence(Ordering::SeqCst);
        true
    }

    /// Back to TASK_RUNNING and off the queue (Linux: finish_wait).
    pub fn finish_wait(&self) {
        let Some(me) = current() else { return };
        me.set_state(TASK_RUNNING);
        let mut w = self.waiters.lock();
        w.retain(|t| !Arc::ptr_eq(t, &me));
        self.queued.store(w.len(), Ordering::Relaxed);
    }

    /// Sleeps in `state` until `cond()` holds (Linux: ___wait_event). The
    /// condition is checked after queueing, so a wake-up between the check
    /// and the sleep is not lost: it set the state back to TASK_RUNNING,
    /// and schedule() returns at once.
    fn wait_event_state(&self, state: u32, mut cond: impl FnMut() -> bool) {
        if cond() {
            return;
        }
        loop {
            if !self.prepare_to_wait(state) {
                // No task yet (early boot), or no memory for the entry: poll.
                if current().is_none() {
                    while !cond() {
                        crate::arch::cpu::wait_for_interrupt();
                    }
                    return;
                }
                yield_now();
                if cond() {
                    break;
                }
                continue;
            }
            if cond() {
                break;
            }
            schedule();
            if cond() {
                break;
            }
        }
        self.finish_wait();
    }

    /// Sleeps (uninterruptibly, `D` in ps) until `cond()` holds (Linux: wait_event).
    pub fn wait_event(&self, cond: impl FnMut() -> bool) {
        self.wait_event_state(TASK_UNINTERRUPTIBLE, cond)
    }

    /// Sleeps (`S` in ps) until `cond()` holds (Linux:
    /// wait_event_interruptible). Pagoda has no signals for kernel threads
    /// yet, so nothing interrupts the wait early.
    pub fn wait_event_interruptible(&self, cond: impl FnMut() -> bool) {
        self.wait_event_state(TASK_INTERRUPTIBLE, cond)
    }

    /// Wakes every waiter (Linux: wake_up_all). Safe in interrupt context:
    /// it neither allocates nor frees.
    pub fn wake_up(&self) {
        let mut w = self.waiters.lock();
        for t in w.iter() {
            try_to_wake_up(t, TASK_NORMAL);
        }
        // Dropped under the lock: see the module comment.
        w.clear();
        self.queued.store(0, Ordering::Relaxed);
    }

    /// `wake_up` if anyone waits, without taking the lock when nobody
    /// does (Linux: wq_has_sleeper + wake_up). For a waker that has just
    /// made the condition true: the fence orders that store before the
    /// check, as prepare_to_wait's orders the queueing before the waiter's
    /// re-check, so one of the two sees the other.
    pub fn wake_up_if_active(&self) {
        fence(Ordering::SeqCst);
        if self.queued.load(Ordering::Relaxed) != 0 {
            self.wake_up();
        }
    }

    /// Whether anyone waits (Linux: waitqueue_active).
    pub fn is_active(&self) -> bool {
        !self.waiters.lock().is_empty()
    }
}
