//! Process groups and sessions (Linux: kernel/sys.c setpgid, getpgid,
//! setsid, getsid; kernel/signal.c kill_pgrp and kill(-1)).
//!
//! A session is a set of process groups; a process group is a set of
//! processes a shell runs as one job. Both are named by the PID of the
//! process that made them. Signals can go to a whole group (kill with 0
//! or a negative PID) and wait4 can wait for any child of a group.
//!
//! Where Pagoda differs: there are no controlling terminals yet, so no
//! foreground group, no SIGHUP when a session leader exits, and no orphaned
//! group rules. Groups are found by scanning the task list (Linux keeps a
//! list per struct pid).

use super::signal::group_send_sig;
use super::task::*;
use alloc::vec::Vec;
use core::sync::atomic::Ordering::*;
use pagoda_klib::errno::{Errno, KResult};

/// One live thread of every user process (Linux: for_each_process).
fn processes() -> KResult<Vec<TaskRef>> {
    let mut out: Vec<TaskRef> = Vec::new();
    let tasks = TASKS.lock();
    out.try_reserve(tasks.len()).map_err(|_| Errno::ENOMEM)?;
    for t in tasks.iter() {
        if !t.is_idle() && !t.is_kthread() && t.state() != TASK_DEAD && !out.iter().any(|o| o.tgid == t.tgid)
        {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// Sends `sig` to every process `which` picks; ESRCH if it picks none
/// (Linux: the loops of __kill_pgrp_info and kill_something_info).
fn signal_processes(which: impl Fn(&TaskRef) -> bool, sig: usize) -> KResult<usize> {
    let mut found = false;
    for p in processes()?.iter().filter(|p| which(p)) {
        found = true;
        if sig != 0 {
            group_send_sig(p, sig);
        }
    }
    if found {
        Ok(0)
    } else {
        Err(Errno::ESRCH)
    }
}

/// Sends `sig` to every process of group `pgid` (Linux: __kill_pgrp_info).
pub fn kill_pgrp(pgid: usize, sig: usize) -> KResult<usize> {
    signal_processes(|p| p.signal.pgid.load(Relaxed) == pgid, sig)
}

/// kill(-1, sig): every process but init and the caller (Linux: the
/// pid == -1 branch of kill_something_info).
pub fn kill_all(sig: usize) -> KResult<usize> {
    let me = current().ok_or(Errno::ESRCH)?;
    signal_processes(|p| p.tgid > 1 && p.tgid != me.tgid, sig)
}

/// setpgid(2): moves process `pid` (0: the caller) to group `pgid` (0: its
/// own PID). Only the caller or a child of it that has not exec'd, in the
/// same session and not a session leader, may move, and only to a group of
/// that session.
pub fn sys_setpgid(pid: isize, pgid: isize) -> KResult<usize> {
    if pid < 0 || pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let me = current().ok_or(Errno::ESRCH)?;
    let pid = if pid == 0 { me.tgid } else { pid as usize };
    let pgid = if pgid == 0 { pid } else { pgid as usize };
    let target = if pid == me.tgid {
        me.clone()
    } else {
        let child = me.signal.children.lock().iter().find(|c| c.tgid == pid).cloned().ok_or(Errno::ESRCH)?;
        if child.signal.sid.load(Relaxed) != me.signal.sid.load(Relaxed) {
            return Err(Errno::EPERM);
        }
        if child.signal.did_exec.load(Relaxed) {
            return Err(Errno::EACCES);
        }
        child
    };
    let sid = target.signal.sid.load(Relaxed);
    if sid == target.tgid {
        return Err(Errno::EPERM); // a session leader stays in its group
    }
    if pgid != pid
        && !processes()?
            .iter()
            .any(|p| p.signal.pgid.load(Relaxed) == pgid && p.signal.sid.load(Relaxed) == sid)
    {
        return Err(Errno::EPERM);
    }
    target.signal.pgid.store(pgid, Relaxed);
    Ok(0)
}

/// The process `pid` names (0: the caller).
fn process(pid: isize) -> KResult<TaskRef> {
    match pid {
        0 => current().ok_or(Errno::ESRCH),
        p if p < 0 => Err(Errno::ESRCH),
        p => find_process(p as usize).filter(|t| !t.is_kthread()).ok_or(Errno::ESRCH),
    }
}

/// getpgid(2).
pub fn sys_getpgid(pid: isize) -> KResult<usize> {
    Ok(process(pid)?.signal.pgid.load(Relaxed))
}

/// getsid(2).
pub fn sys_getsid(pid: isize) -> KResult<usize> {
    Ok(process(pid)?.signal.sid.load(Relaxed))
}

/// setsid(2): a new session and group, both named by the caller's PID.
/// EPERM for a group leader (or if a group of that number exists).
pub fn sys_setsid() -> KResult<usize> {
    let me = current().ok_or(Errno::ESRCH)?;
    let id = me.tgid;
    if processes()?.iter().any(|p| p.signal.pgid.load(Relaxed) == id) {
        return Err(Errno::EPERM);
    }
    me.signal.sid.store(id, Relaxed);
    me.signal.pgid.store(id, Relaxed);
    Ok(id)
}
