//! Process system calls (Linux: kernel/exit.c, kernel/sys.c,
//! kernel/fork.c). Pagoda has one thread per process so far, so exit and
//! exit_group are the same, and the thread id is the process id.

use crate::sched::{current, do_exit};
use pagoda_klib::errno::{Errno, KResult};

/// The wait status of a normal exit (Linux: (code & 0xff) << 8).
fn exit_status(code: i32) -> i32 {
    (code & 0xff) << 8
}

pub fn sys_exit(code: i32) -> KResult<usize> {
    do_exit(exit_status(code))
}

pub fn sys_exit_group(code: i32) -> KResult<usize> {
    do_exit(exit_status(code))
}

pub fn sys_getpid() -> KResult<usize> {
    current().map(|t| t.pid).ok_or(Errno::ESRCH)
}

/// The parent's PID; 1 for a process the monitor (init) started.
pub fn sys_getppid() -> KResult<usize> {
    current().map(|t| t.ppid()).ok_or(Errno::ESRCH)
}

const CSIGNAL: usize = 0xff;
const SIGCHLD: usize = 17;
const CLONE_CHILD_CLEARTID: usize = 0x0020_0000;
const CLONE_CHILD_SETTID: usize = 0x0100_0000;

/// clone(2) with fork's semantics (arm64 argument order: flags, stack,
/// parent_tid, tls, child_tid). Threads (CLONE_VM, CLONE_THREAD...) come
/// with futexes; until then those flags are refused with EINVAL.
pub fn sys_clone(
    frame: &crate::arch::exception::TrapFrame,
    flags: usize,
    stack: usize,
    child_tid: usize,
) -> KResult<usize> {
    let extra = flags & !CSIGNAL & !(CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID);
    if extra != 0 || !matches!(flags & CSIGNAL, 0 | SIGCHLD) {
        return Err(Errno::EINVAL);
    }
    let mut frame = frame.clone();
    if stack != 0 {
        frame.sp = stack as u64;
    }
    let set = if flags & CLONE_CHILD_SETTID != 0 { child_tid } else { 0 };
    let clear = if flags & CLONE_CHILD_CLEARTID != 0 { child_tid } else { 0 };
    crate::sched::copy_process(&frame, set, clear)
}

/// The size of struct robust_list_head on arm64.
const ROBUST_LIST_HEAD_SIZE: usize = 24;

/// set_robust_list(2): records where the thread's robust futex list is.
/// Nothing walks it until threads and futexes exist (Linux: at exit, the
/// kernel releases the futexes a dead thread held).
pub fn sys_set_robust_list(_head: usize, len: usize) -> KResult<usize> {
    if len != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}
