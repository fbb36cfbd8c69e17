//! Process and thread system calls (Linux: kernel/exit.c, kernel/sys.c,
//! kernel/fork.c). A process is a thread group: getpid is its ID (the
//! leader's TID), gettid the caller's own; exit ends one thread,
//! exit_group all of them.

use crate::sched::{current, do_exit, do_group_exit, CloneArgs};
use pagoda_klib::errno::{Errno, KResult};

/// The wait status of a normal exit (Linux: (code & 0xff) << 8).
fn exit_status(code: i32) -> i32 {
    (code & 0xff) << 8
}

pub fn sys_exit(code: i32) -> KResult<usize> {
    do_exit(exit_status(code))
}

pub fn sys_exit_group(code: i32) -> KResult<usize> {
    do_group_exit(exit_status(code))
}

pub fn sys_getpid() -> KResult<usize> {
    current().map(|t| t.tgid).ok_or(Errno::ESRCH)
}

pub fn sys_gettid() -> KResult<usize> {
    current().map(|t| t.pid).ok_or(Errno::ESRCH)
}

/// The parent's PID; 1 for a process the monitor (init) started.
pub fn sys_getppid() -> KResult<usize> {
    current().map(|t| t.ppid()).ok_or(Errno::ESRCH)
}

/// clone(2), arm64 argument order: flags, stack, parent_tid, tls,
/// child_tid. The low byte of the flags is the signal the parent gets when
/// the child ends.
pub fn sys_clone(
    frame: &crate::arch::exception::TrapFrame,
    flags: u64,
    stack: usize,
    parent_tid: usize,
    tls: u64,
    child_tid: usize,
) -> KResult<usize> {
    // Linux keeps only the low 32 bits of clone's flags (clone3 has the rest).
    let flags = flags as u32 as u64;
    let exit_signal = (flags & crate::sched::fork::CSIGNAL) as usize;
    if exit_signal > crate::sched::NSIG {
        return Err(Errno::EINVAL);
    }
    let args = CloneArgs { flags, stack, parent_tid, tls, child_tid, exit_signal };
    crate::sched::copy_process(frame, &args)
}

/// The sizes of struct clone_args: the first version, and all Pagoda knows.
const CLONE_ARGS_SIZE_VER0: usize = 64;
const CLONE_ARGS_SIZE_VER2: usize = 88;

/// clone3(2) (Linux: copy_clone_args_from_user): the arguments in a
/// struct; its stack is (base, size), not a stack pointer. Newer, longer
/// structs are accepted if the fields Pagoda does not know are zero.
pub fn sys_clone3(frame: &crate::arch::exception::TrapFrame, uargs: usize, size: usize) -> KResult<usize> {
    if !(CLONE_ARGS_SIZE_VER0..=pagoda_mm::addr::PAGE_SIZE).contains(&size) {
        return Err(Errno::EINVAL);
    }
    let mut b = [0u8; pagoda_mm::addr::PAGE_SIZE];
    crate::mm::uaccess::copy_from_user(&mut b[..size], uargs)?;
    if b[CLONE_ARGS_SIZE_VER2.min(size)..size].iter().any(|&x| x != 0) {
        return Err(Errno::E2BIG);
    }
    let field = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let (flags, pidfd, child_tid, parent_tid, exit_signal) =
        (field(0), field(1), field(2), field(3), field(4));
    let (stack, stack_size, tls, set_tid, set_tid_size, cgroup) =
        (field(5), field(6), field(7), field(8), field(9), field(10));
    // CSIGNAL bits belong in exit_signal; pidfds, set_tid and cgroups are
    // not supported.
    if flags & crate::sched::fork::CSIGNAL != 0
        || exit_signal > crate::sched::NSIG as u64
        || pidfd != 0
        || set_tid != 0
        || set_tid_size != 0
        || cgroup != 0
    {
        return Err(Errno::EINVAL);
    }
    // Linux: clone3_stack_valid.
    if (stack == 0) != (stack_size == 0) {
        return Err(Errno::EINVAL);
    }
    let sp = stack.checked_add(stack_size).ok_or(Errno::EINVAL)?;
    if stack != 0 && !crate::mm::uaccess::access_ok(stack as usize, stack_size as usize) {
        return Err(Errno::EFAULT);
    }
    let args = CloneArgs {
        flags,
        stack: sp as usize,
        parent_tid: parent_tid as usize,
        tls,
        child_tid: child_tid as usize,
        exit_signal: exit_signal as usize,
    };
    crate::sched::copy_process(frame, &args)
}

/// The size of struct robust_list_head on arm64.
const ROBUST_LIST_HEAD_SIZE: usize = 24;

/// set_robust_list(2): checks the size and accepts the list. Pagoda does
/// not walk it at exit (Linux marks the futexes a dead thread held with
/// FUTEX_OWNER_DIED and wakes a waiter), so a robust mutex held by a
/// thread that dies stays locked.
pub fn sys_set_robust_list(_head: usize, len: usize) -> KResult<usize> {
    if len != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}
