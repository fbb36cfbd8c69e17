//! Sleeping for a time (Linux: kernel/time/timer.c schedule_timeout,
//! msleep, msleep_interruptible).
//!
//! A sleeper puts a timer (its expiry in jiffies and a reference to itself)
//! on one list; CPU 0's tick wakes the sleepers whose time has come. A
//! sleeper removes its own timer when it wakes (del_timer), whatever woke
//! it, so no timer outlives its sleep. Linux keeps per-CPU timer wheels;
//! one unsorted list is enough at Pagoda's scale.

use crate::kernel::time::{jiffies, msecs_to_jiffies};
use crate::sched::{current, schedule, set_current_state, wake_up_process, yield_now, TaskRef};
use crate::sched::{TASK_INTERRUPTIBLE, TASK_RUNNING, TASK_UNINTERRUPTIBLE};
use crate::sync::SpinLockIrq;
use alloc::vec::Vec;
use pagoda_klib::arc::Arc;

struct Timer {
    expires: u64,
    task: TaskRef,
}

static TIMERS: SpinLockIrq<Vec<Timer>> = SpinLockIrq::new(Vec::new());

/// Wakes the sleepers whose time has come. Called from CPU 0's tick:
/// nothing here allocates, and the references dropped are never a task's
/// last (the sleeper's del_timer waits for this lock before it can exit).
pub fn run_timers() {
    let now = jiffies();
    if now.is_multiple_of(crate::kernel::time::hz().max(1)) {
        check_lost_wakeups(now);
    }
    let mut timers = TIMERS.lock();
    let mut i = 0;
    while i < timers.len() {
        if timers[i].expires <= now {
            let t = timers.swap_remove(i);
            wake_up_process(&t.task);
        } else {
            i += 1;
        }
    }
}

/// Runnable tasks found waiting on a run queue for seconds.
pub static STARVED_TASKS: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Lost wake-ups reported so far (the check reports each sleeper once).
pub static LOST_WAKEUPS: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Once a second, from CPU 0's tick: a task still asleep a second after
/// its timed sleep should have ended lost its wake-up. Say so with what the
/// scheduler thinks of it, for whoever debugs the hang (a debugging aid in
/// the spirit of Linux's hung-task detector; Pagoda has seen one unexplained
/// hang in a timed sleep). Runs in interrupt context: it only try-locks.
fn check_lost_wakeups(now: u64) {
    let hz = crate::kernel::time::hz().max(1);
    let queued = |pid: usize| TIMERS.try_lock().map(|t| t.iter().any(|t| t.task.pid == pid));
    crate::sched::try_for_each_task(|t| {
        // Runnable, queued, and not run for more than a second: a run
        // queue that is not being served (or a CPU stuck with interrupts
        // masked). Reported at most every ten seconds per task.
        let (on_rq, on_cpu) = crate::sched::sched_flags(t);
        let queued_at = t.queued_at.load(core::sync::atomic::Ordering::Relaxed);
        if t.state() == crate::sched::TASK_RUNNING
            && on_rq
            && !on_cpu
            && !t.is_idle()
            && now > queued_at + 2 * hz
        {
            t.queued_at.store(now + 10 * hz, core::sync::atomic::Ordering::Relaxed);
            STARVED_TASKS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            log::error!(
                "BUG: runnable task pid {} ({}) has waited {} jiffies on CPU{}'s run queue without running",
                t.pid,
                t.name(),
                now - queued_at,
                t.cpu()
            );
        }
        let expires = t.sleep_expires.load(core::sync::atomic::Ordering::Acquire);
        let asleep = matches!(t.state(), TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE);
        if expires != 0 && asleep && now > expires + hz {
            // Report once per sleep.
            t.sleep_expires.store(0, core::sync::atomic::Ordering::Release);
            LOST_WAKEUPS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            let (on_rq, on_cpu) = crate::sched::sched_flags(t);
            log::error!(
                "BUG: lost wake-up: pid {} ({}) state {} on_rq {} on_cpu {} cpu {}: its sleep ended {} jiffies ago; timer still queued: {:?}",
                t.pid,
                t.name(),
                t.state_char(),
                on_rq,
                on_cpu,
                t.cpu(),
                now - expires,
                queued(t.pid)
            );
        }
    });
}

/// Sleeps until `timeout` jiffies have passed or the task is woken, in the
/// state the caller set (Linux: schedule_timeout). Returns the jiffies
/// left (0 if the time ran out).
pub fn schedule_timeout(timeout: u64) -> u64 {
    let expires = jiffies() + timeout;
    let Some(me) = current() else {
        // Before the scheduler: spin on the tick.
        while jiffies() < expires {
            crate::arch::cpu::wait_for_interrupt();
        }
        return 0;
    };
    let queued = {
        let mut timers = TIMERS.lock();
        let ok = timers.try_reserve(1).is_ok();
        if ok {
            timers.push(Timer { expires, task: me.clone() });
        }
        ok
    };
    if queued {
        me.sleep_expires.store(expires, core::sync::atomic::Ordering::Release);
        schedule();
        me.sleep_expires.store(0, core::sync::atomic::Ordering::Release);
        // del_timer: gone already if it fired.
        TIMERS.lock().retain(|t| !Arc::ptr_eq(&t.task, &me));
    } else {
        // No memory for the timer: poll instead of sleeping.
        set_current_state(TASK_RUNNING);
        yield_now();
    }
    expires.saturating_sub(jiffies())
}

fn msleep_state(ms: u64, state: u32) {
    // Linux adds one jiffy: the current one is partly over.
    let mut timeout = msecs_to_jiffies(ms) + 1;
    while timeout > 0 {
        set_current_state(state);
        timeout = schedule_timeout(timeout);
    }
}

/// Sleeps for at least `ms` milliseconds (Linux: msleep). Shown as `D`.
pub fn msleep(ms: u64) {
    msleep_state(ms, TASK_UNINTERRUPTIBLE)
}

/// The same, shown as `S` (Linux: msleep_interruptible; no signal cuts
/// it short yet).
pub fn msleep_interruptible(ms: u64) {
    msleep_state(ms, TASK_INTERRUPTIBLE)
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

    #[ktest]
    fn msleep_sleeps_at_least_that_long() {
        let j0 = jiffies();
        msleep(50);
        assert!(jiffies() >= j0 + msecs_to_jiffies(50), "woke after {} jiffies", jiffies() - j0);
        assert!(!TIMERS.lock().iter().any(|t| t.task.pid == 1), "the timer outlived the sleep");
    }

    #[ktest]
    fn an_early_wake_up_does_not_end_msleep() {
        use crate::sched::{kthread_join, kthread_run};
        use core::sync::atomic::{AtomicU64, Ordering::*};
        static SLEPT: AtomicU64 = AtomicU64::new(0);
        fn sleeper(_: usize) {
            let j0 = jiffies();
            msleep(100);
            SLEPT.store(jiffies() - j0, Release);
        }
        let t = kthread_run("ktest-msleep", sleeper, 0, None).unwrap();
        // Poke it while it sleeps: a stray wake-up must not cut the sleep short.
        for _ in 0..5 {
            msleep(10);
            t.wake_up();
        }
        kthread_join(t);
        assert!(SLEPT.load(Acquire) >= msecs_to_jiffies(100), "slept {} jiffies", SLEPT.load(Acquire));
    }

    /// Sleepers on every CPU doing many one-jiffy sleeps at once, against
    /// CPU 0's timer wake-ups and each other's switches: every sleep ends
    /// (the test would hang otherwise, and ktest.sh's timeout would fail
    /// it), none takes more than a second over its time, and the
    /// lost-wake-up check stays quiet.
    #[ktest]
    fn many_short_sleeps_on_every_cpu_all_end() {
        use crate::sched::{kthread_join, kthread_run};
        use core::sync::atomic::{AtomicU64, Ordering::*};
        static WORST: AtomicU64 = AtomicU64::new(0);
        fn sleeper(_: usize) {
            for _ in 0..60 {
                let j0 = jiffies();
                set_current_state(TASK_INTERRUPTIBLE);
                schedule_timeout(1);
                WORST.fetch_max(jiffies() - j0, Relaxed);
            }
        }
        let lost = LOST_WAKEUPS.load(Relaxed);
        let n = crate::kernel::percpu::num_online_cpus();
        let mut threads = alloc::vec::Vec::new();
        for i in 0..2 * n {
            threads.push(kthread_run("ktest-tsleep", sleeper, 0, Some(i % n)).unwrap());
        }
        for t in threads {
            kthread_join(t);
        }
        let hz = crate::kernel::time::hz();
        assert!(WORST.load(Relaxed) <= 1 + hz, "a one-jiffy sleep took {} jiffies", WORST.load(Relaxed));
        assert_eq!(LOST_WAKEUPS.load(Relaxed), lost, "the lost-wake-up check fired");
        assert_eq!(STARVED_TASKS.load(Relaxed), 0, "a runnable task waited seconds for its CPU");
    }
}
