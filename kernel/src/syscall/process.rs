//! Process system calls (Linux: kernel/exit.c, kernel/sys.c). Pagoda has
//! one thread per process so far, so exit and exit_group are the same, and
//! the thread id is the process id.

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

/// Every process is started by init so far.
pub fn sys_getppid() -> KResult<usize> {
    Ok(1)
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
