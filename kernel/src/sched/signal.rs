//! Signals, their default actions only (Linux: kernel/signal.c kill,
//! send_signal, get_signal's default-action part; the do_notify_resume
//! check on the way back to user space).
//!
//! A signal sent to a task sets a bit in its pending set and wakes it if it
//! sleeps interruptibly; interruptible sleeps (nanosleep, wait4) then end
//! with EINTR. On its next return to user space the task acts on it: the
//! signals whose default action is to ignore (SIGCHLD, SIGURG, SIGWINCH)
//! are dropped, every other one ends the process with that signal as its
//! wait status. Handlers (rt_sigaction), masks and stop/continue come with
//! the rest of signal delivery.

use super::core::try_to_wake_up;
use super::task::*;
use core::sync::atomic::Ordering::*;
use pagoda_klib::errno::{Errno, KResult};

pub const NSIG: usize = 64;
const SIGCHLD: usize = 17;
const SIGCONT: usize = 18;
const SIGURG: usize = 23;
const SIGWINCH: usize = 28;

/// Whether the default action of `sig` is to ignore it (Linux: sig_kernel_ignore).
fn ignored_by_default(sig: usize) -> bool {
    matches!(sig, SIGCHLD | SIGCONT | SIGURG | SIGWINCH)
}

/// Makes `sig` pending for `t` and wakes it from an interruptible sleep
/// (Linux: send_signal -> signal_wake_up).
pub fn send_signal(t: &Task, sig: usize) {
    if ignored_by_default(sig) {
        return; // Linux drops it at once (sig_ignored)
    }
    t.pending.fetch_or(1 << (sig - 1), Release);
    try_to_wake_up(t, TASK_INTERRUPTIBLE);
}

/// Whether the current task has a signal to act on (Linux: signal_pending).
pub fn signal_pending() -> bool {
    current().is_some_and(|t| t.pending.load(Acquire) != 0)
}

/// On the way back to user space: acts on a pending signal (Linux:
/// do_signal -> get_signal). With default actions only, that is death.
pub fn do_signal() {
    let Some(me) = current() else { return };
    let pending = me.pending.swap(0, AcqRel);
    if pending == 0 {
        return;
    }
    let sig = pending.trailing_zeros() as i32 + 1;
    drop(me);
    super::exit::do_exit(sig)
}

/// kill(2): `pid` > 0 only so far (no process groups). Signal 0 checks
/// that the process exists.
pub fn sys_kill(pid: isize, sig: usize) -> KResult<usize> {
    if sig > NSIG {
        return Err(Errno::EINVAL);
    }
    if pid <= 0 {
        return Err(Errno::ESRCH); // process groups and -1 come later
    }
    let t = find_task_by_pid(pid as usize).filter(|t| !t.is_kthread()).ok_or(Errno::ESRCH)?;
    if t.state() == TASK_DEAD {
        return Ok(0); // a zombie: Linux accepts and ignores
    }
    if sig != 0 {
        send_signal(&t, sig);
    }
    Ok(0)
}
