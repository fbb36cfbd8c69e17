//! getrusage(2) and the struct rusage that wait4 fills (Linux:
//! kernel/sys.c getrusage, k_getrusage).
//!
//! Pagoda counts page faults per thread; CPU times are not accounted yet
//! (ru_utime and ru_stime read 0, as do the fields Linux itself leaves 0).

use crate::sched::current;
use core::sync::atomic::Ordering::Relaxed;
use pagoda_klib::errno::{Errno, KResult};

const RUSAGE_SELF: i32 = 0;
const RUSAGE_CHILDREN: i32 = -1;
const RUSAGE_THREAD: i32 = 1;

/// The size of struct rusage on arm64: two timevals and 14 longs.
const RUSAGE_SIZE: usize = 144;
const RU_MAXRSS: usize = 32;
const RU_MINFLT: usize = 64;
const RU_MAJFLT: usize = 72;

/// Writes a struct rusage with these counts to user memory.
pub fn put_rusage(addr: usize, maxrss_kb: usize, min_flt: usize) -> KResult<()> {
    let mut b = [0u8; RUSAGE_SIZE];
    b[RU_MAXRSS..RU_MAXRSS + 8].copy_from_slice(&(maxrss_kb as u64).to_le_bytes());
    b[RU_MINFLT..RU_MINFLT + 8].copy_from_slice(&(min_flt as u64).to_le_bytes());
    b[RU_MAJFLT..RU_MAJFLT + 8].copy_from_slice(&0u64.to_le_bytes());
    crate::mm::uaccess::copy_to_user(addr, &b)
}

/// getrusage(2): the caller's process (every thread, live or exited), its
/// reaped children, or the calling thread.
pub fn sys_getrusage(who: i32, ru: usize) -> KResult<usize> {
    let me = current().ok_or(Errno::ESRCH)?;
    let min_flt = match who {
        RUSAGE_SELF => {
            let mut n = me.signal.min_flt.load(Relaxed);
            me.signal.for_each_thread(|t| n += t.min_flt.load(Relaxed));
            n
        }
        RUSAGE_CHILDREN => me.signal.cmin_flt.load(Relaxed),
        RUSAGE_THREAD => me.min_flt.load(Relaxed),
        _ => return Err(Errno::EINVAL),
    };
    put_rusage(ru, 0, min_flt)?;
    Ok(0)
}
