//! Completions (Linux: kernel/sched/completion.c): a one-shot event that
//! one side signals, often from an interrupt, and another sleeps for.

use super::wait::WaitQueue;
use core::sync::atomic::{AtomicBool, Ordering};

pub struct Completion {
    done: AtomicBool,
    wait: WaitQueue,
}

impl Default for Completion {
    fn default() -> Self {
        Self::new()
    }
}

impl Completion {
    pub const fn new() -> Self {
        Completion { done: AtomicBool::new(false), wait: WaitQueue::new() }
    }

    /// Signals the event and wakes the waiter (Linux: complete_all). Safe
    /// in interrupt context.
    pub fn complete(&self) {
        self.done.store(true, Ordering::Release);
        self.wait.wake_up_if_active();
    }

    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Sleeps (uninterruptibly) until `complete` (Linux: wait_for_completion).
    pub fn wait_for_completion(&self) {
        self.wait.wait_event(|| self.is_done());
    }
}
