//! Job control: stopping and continuing a process (Linux: kernel/signal.c
//! do_signal_stop, do_jobctl_trap's group-stop part, prepare_signal's
//! SIGCONT handling, do_notify_parent_cldstop).
//!
//! SIGSTOP, and SIGTSTP, SIGTTIN and SIGTTOU without a handler, stop every
//! thread of the process: the thread that takes the signal starts a group
//! stop and marks the others (JOBCTL_STOP_PENDING), which park as soon as
//! they reach the signal code, interrupting what they sleep in. When the
//! last one parks the process is stopped, and the parent is told (wait4
//! with WUNTRACED, and SIGCHLD unless it set SA_NOCLDSTOP). SIGCONT, as it
//! is sent, cancels pending stop signals and a stop under way, wakes the
//! parked threads and tells the parent (WCONTINUED). SIGKILL wakes a
//! stopped process to die. System calls the stop interrupted restart when
//! the threads go on (see do_signal's restart handling).
//!
//! Where Pagoda differs: no ptrace stops, and no orphaned-process-group
//! rule (Linux discards SIGTSTP/TTIN/TTOU to an orphaned group).

use super::core::{schedule, try_to_wake_up};
use super::signal::{group_send_sig, SIGCHLD, SIGCONT, SIGKILL, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU};
use super::task::*;
use super::thread_group::SignalStruct;
use core::sync::atomic::Ordering::*;
use pagoda_klib::arc::Arc;

/// SIGCHLD's SA_NOCLDSTOP: no SIGCHLD for stops and continues.
const SA_NOCLDSTOP: u64 = 1;

pub fn is_stop_signal(sig: usize) -> bool {
    matches!(sig, SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU)
}

fn bit(sig: usize) -> u64 {
    1 << (sig - 1)
}

const STOP_MASK: u64 =
    (1 << (SIGSTOP - 1)) | (1 << (SIGTSTP - 1)) | (1 << (SIGTTIN - 1)) | (1 << (SIGTTOU - 1));

/// Tells the parent its child stopped or went on: wait4 may report it, and
/// SIGCHLD comes unless the parent asked not to (Linux:
/// do_notify_parent_cldstop).
fn notify_parent_cldstop(sigs: &SignalStruct) {
    let parent = sigs.parent.lock().clone();
    if let Some(p) = parent {
        let flags = p.signal.sigactions.lock()[SIGCHLD - 1].flags;
        if flags & SA_NOCLDSTOP == 0 {
            group_send_sig(&p, SIGCHLD);
        }
        p.signal.wait_chldexit.wake_up();
    }
}

/// What sending `sig` does before it is queued (Linux: prepare_signal):
/// SIGCONT cancels stop signals and any group stop and wakes the process;
/// a stop signal cancels a pending SIGCONT.
pub fn prepare_signal(t: &Task, sig: usize) {
    let sigs = &t.signal;
    if is_stop_signal(sig) {
        sigs.shared_pending.fetch_and(!bit(SIGCONT), AcqRel);
        sigs.for_each_thread(|p| {
            p.pending.fetch_and(!bit(SIGCONT), AcqRel);
        });
        return;
    }
    if sig != SIGCONT {
        return;
    }
    sigs.shared_pending.fetch_and(!STOP_MASK, AcqRel);
    let was_stopped = {
        let mut j = sigs.jobctl.lock();
        let was_stopped = j.stopped;
        j.stop_sig = 0;
        j.stopping = 0;
        j.stopped = false;
        if was_stopped {
            j.report_stop = false;
            j.report_cont = true;
        }
        sigs.for_each_thread(|p| {
            p.pending.fetch_and(!STOP_MASK, AcqRel);
            p.jobctl_stop.store(false, Release);
            try_to_wake_up(p, TASK_STOPPED);
        });
        was_stopped
    };
    if was_stopped {
        notify_parent_cldstop(sigs);
    }
}

/// The current thread took a stop signal with the default action: start
/// the group stop (unless the process is exiting or already stopping) and
/// park (Linux: do_signal_stop).
pub fn do_signal_stop(me: &TaskRef, sig: usize) {
    let sigs = &me.signal;
    if sigs.group_exit_code().is_some() {
        return;
    }
    {
        let mut j = sigs.jobctl.lock();
        if j.stop_sig == 0 {
            j.stop_sig = sig;
            j.stopping = 0;
            sigs.for_each_thread(|p| {
                if p.state() != TASK_DEAD {
                    p.jobctl_stop.store(true, Release);
                    j.stopping += 1;
                    if !Arc::ptr_eq(p, me) {
                        // Out of interruptible sleeps, into the signal code.
                        try_to_wake_up(p, TASK_INTERRUPTIBLE);
                    }
                }
            });
        }
    }
    park(me);
}

/// Takes part in the group stop: the last thread to park makes the
/// process stopped; then sleep in TASK_STOPPED until SIGCONT or SIGKILL
/// (Linux: do_signal_stop's second half).
pub fn park(me: &TaskRef) {
    let sigs = &me.signal;
    let now_stopped = {
        let mut j = sigs.jobctl.lock();
        if !me.jobctl_stop.swap(false, AcqRel) {
            return; // a SIGCONT got here first
        }
        j.stopping = j.stopping.saturating_sub(1);
        let last = j.stopping == 0 && j.stop_sig != 0 && !j.stopped;
        if last {
            j.stopped = true;
            j.report_stop = true;
        }
        // Set under the lock: SIGCONT's wake-up comes after it.
        me.set_state(TASK_STOPPED);
        last
    };
    if now_stopped {
        notify_parent_cldstop(sigs);
    }
    loop {
        let stopped = {
            let j = sigs.jobctl.lock();
            j.stop_sig != 0 || j.stopped
        };
        if !stopped || me.pending.load(Acquire) & bit(SIGKILL) != 0 {
            break;
        }
        schedule();
        me.set_state(TASK_STOPPED);
    }
    me.set_state(TASK_RUNNING);
}

/// A thread that exits while a group stop waits for it counts as parked
/// (Linux: task_participate_group_stop from exit_signals).
pub fn exit_group_stop(me: &TaskRef) {
    let sigs = &me.signal;
    let now_stopped = {
        let mut j = sigs.jobctl.lock();
        if !me.jobctl_stop.swap(false, AcqRel) {
            return;
        }
        j.stopping = j.stopping.saturating_sub(1);
        let last = j.stopping == 0 && j.stop_sig != 0 && !j.stopped;
        if last {
            j.stopped = true;
            j.report_stop = true;
        }
        last
    };
    if now_stopped {
        notify_parent_cldstop(sigs);
    }
}

/// What wait4 may report about a child that has not exited: Some(status)
/// for a stop (WUNTRACED: sig << 8 | 0x7f) or a continue (WCONTINUED:
/// 0xffff), consuming the report (Linux: wait_task_stopped,
/// wait_task_continued).
pub fn wait_report(child: &Task, untraced: bool, continued: bool) -> Option<i32> {
    let mut j = child.signal.jobctl.lock();
    if untraced && j.stopped && j.report_stop {
        j.report_stop = false;
        return Some(((j.stop_sig as i32) << 8) | 0x7f);
    }
    if continued && j.report_cont {
        j.report_cont = false;
        return Some(0xffff);
    }
    None
}

/// Whether wait4 has a stop or continue to report, without consuming it.
pub fn has_report(child: &Task, untraced: bool, continued: bool) -> bool {
    let j = child.signal.jobctl.lock();
    (untraced && j.stopped && j.report_stop) || (continued && j.report_cont)
}
