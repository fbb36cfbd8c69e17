//! getrusage(2) and the struct rusage that wait4 fills (Linux:
//! kernel/sys.c getrusage, k_getrusage).
//!
//! Pagoda counts page faults per thread and charges CPU time a tick at a
//! time (so times move in 10 ms steps at HZ=100). ru_maxrss is not kept
//! yet (0); the fields Linux itself leaves 0 are 0.

use crate::sched::current;
use core::sync::atomic::Ordering::Relaxed;
use pagoda_klib::errno::{Errno, KResult};

const RUSAGE_SELF: i32 = 0;
const RUSAGE_CHILDREN: i32 = -1;
const RUSAGE_THREAD: i32 = 1;

/// The size of struct rusage on arm64: two timevals and 14 longs.
const RUSAGE_SIZE: usize = 144;
const RU_MINFLT: usize = 64;
const RU_MAJFLT: usize = 72;

/// Writes a struct rusage with these user and system ticks and faults.
pub fn put_rusage(addr: usize, utime: u64, stime: u64, (min_flt, maj_flt): (usize, usize)) -> KResult<()> {
    let mut b = [0u8; RUSAGE_SIZE];
    let hz = crate::kernel::time::hz().max(1);
    for (off, ticks) in [(0, utime), (16, stime)] {
        // struct timeval: seconds and microseconds.
        let us = ticks * 1_000_000 / hz;
        b[off..off + 8].copy_from_slice(&(us / 1_000_000).to_le_bytes());
        b[off + 8..off + 16].copy_from_slice(&(us % 1_000_000).to_le_bytes());
    }
    b[RU_MINFLT..RU_MINFLT + 8].copy_from_slice(&(min_flt as u64).to_le_bytes());
    b[RU_MAJFLT..RU_MAJFLT + 8].copy_from_slice(&(maj_flt as u64).to_le_bytes());
    crate::mm::uaccess::copy_to_user(addr, &b)
}

/// getrusage(2): the caller's process (every thread, live or exited), its
/// reaped children, or the calling thread.
pub fn sys_getrusage(who: i32, ru: usize) -> KResult<usize> {
    let me = current().ok_or(Errno::ESRCH)?;
    let sig = &me.signal;
    let (u, s, faults) = match who {
        RUSAGE_SELF => {
            let mut n = (sig.min_flt.load(Relaxed), sig.maj_flt.load(Relaxed));
            sig.for_each_thread(|t| {
                n.0 += t.min_flt.load(Relaxed);
                n.1 += t.maj_flt.load(Relaxed);
            });
            let (u, s) = sig.cputime();
            (u, s, n)
        }
        RUSAGE_CHILDREN => {
            let n = (sig.cmin_flt.load(Relaxed), sig.cmaj_flt.load(Relaxed));
            (sig.cutime.load(Relaxed), sig.cstime.load(Relaxed), n)
        }
        RUSAGE_THREAD => {
            let n = (me.min_flt.load(Relaxed), me.maj_flt.load(Relaxed));
            (me.utime.load(Relaxed), me.stime.load(Relaxed), n)
        }
        _ => return Err(Errno::EINVAL),
    };
    put_rusage(ru, u, s, faults)?;
    Ok(0)
}
