//! Small system calls about the system, time and identity (Linux:
//! kernel/sys.c uname and the id getters, kernel/time/posix-timers.c
//! clock_gettime, kernel/time/hrtimer.c nanosleep, drivers/char/random.c
//! getrandom, kernel/sched/core.c sched_yield, kernel/fork.c
//! set_tid_address). Every user pointer goes through uaccess.

use crate::mm::uaccess::copy_to_user;
use core::sync::atomic::Ordering::Relaxed;
use pagoda_klib::errno::{Errno, KResult};

/// The release glibc and uname(1) see: a Linux 6.1 that says it is Pagoda.
pub const UTS_RELEASE: &str = "6.1.0-pagoda";

/// uname(2): struct new_utsname, six fields of 65 bytes.
pub fn sys_uname(buf: usize) -> KResult<usize> {
    let mut uts = [0u8; 6 * 65];
    let fields = ["Linux", "(none)", UTS_RELEASE, "#1 SMP Pagoda", "aarch64", "(none)"];
    for (i, f) in fields.iter().enumerate() {
        uts[i * 65..i * 65 + f.len()].copy_from_slice(f.as_bytes());
    }
    copy_to_user(buf, &uts)?;
    Ok(0)
}

/// Clock ids (Linux: include/uapi/linux/time.h).
const CLOCK_REALTIME: usize = 0;
const CLOCK_MONOTONIC: usize = 1;
const CLOCK_MONOTONIC_RAW: usize = 4;
const CLOCK_REALTIME_COARSE: usize = 5;
const CLOCK_MONOTONIC_COARSE: usize = 6;
const CLOCK_BOOTTIME: usize = 7;

fn write_timespec(ts: usize, ns: u64) -> KResult<()> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
    b[8..].copy_from_slice(&(ns % 1_000_000_000).to_le_bytes());
    copy_to_user(ts, &b)
}

/// clock_gettime(2). Pagoda has no real-time clock driver yet, so
/// CLOCK_REALTIME counts from boot like the monotonic clocks (Linux starts
/// it from the RTC).
pub fn sys_clock_gettime(clock: usize, ts: usize) -> KResult<usize> {
    match clock {
        CLOCK_REALTIME
        | CLOCK_MONOTONIC
        | CLOCK_MONOTONIC_RAW
        | CLOCK_REALTIME_COARSE
        | CLOCK_MONOTONIC_COARSE
        | CLOCK_BOOTTIME => write_timespec(ts, crate::arch::time::uptime_ns()).map(|()| 0),
        _ => Err(Errno::EINVAL),
    }
}

/// clock_getres(2): the counter's resolution, at least 1 ns.
pub fn sys_clock_getres(clock: usize, ts: usize) -> KResult<usize> {
    if clock > CLOCK_BOOTTIME || clock == 2 || clock == 3 {
        return Err(Errno::EINVAL);
    }
    if ts == 0 {
        return Ok(0);
    }
    let res = (1_000_000_000 / crate::arch::time::counter_freq().max(1)).max(1);
    write_timespec(ts, res).map(|()| 0)
}

/// nanosleep(2): sleeps at least the requested time (rounded up to
/// ticks). A signal interrupts it: the time left goes to `rem`, and the
/// sleep resumes through restart_syscall unless a handler runs, when it
/// fails with EINTR (Linux: hrtimer_nanosleep's restart block).
pub fn sys_nanosleep(req: usize, rem: usize) -> KResult<usize> {
    let ns = crate::kernel::futex::get_timespec_ns(req)?;
    nanosleep_until(crate::arch::time::uptime_ns().saturating_add(ns), rem)
}

const TIMER_ABSTIME: usize = 1;

/// clock_nanosleep(2), which glibc's nanosleep and sleep use: a relative
/// sleep, or with TIMER_ABSTIME until a time of `clock`. Pagoda's clocks
/// all count from boot (no RTC yet), so they are the same clock here.
pub fn sys_clock_nanosleep(clock: usize, flags: usize, req: usize, rem: usize) -> KResult<usize> {
    match clock {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME => {}
        _ => return Err(Errno::EINVAL),
    }
    let ns = crate::kernel::futex::get_timespec_ns(req)?;
    if flags & TIMER_ABSTIME != 0 {
        // No time left to report for an absolute sleep.
        nanosleep_until(ns, 0)
    } else {
        nanosleep_until(crate::arch::time::uptime_ns().saturating_add(ns), rem)
    }
}

/// Sleeps until `deadline` (monotonic ns), or until a signal.
fn nanosleep_until(deadline: u64, rem: usize) -> KResult<usize> {
    while crate::arch::time::uptime_ns() < deadline {
        let left = deadline - crate::arch::time::uptime_ns();
        crate::sched::set_current_state(crate::sched::TASK_INTERRUPTIBLE);
        crate::kernel::timer::schedule_timeout(crate::kernel::time::nsecs_to_jiffies(left));
        if crate::sched::signal_pending() {
            if rem != 0 {
                write_timespec(rem, deadline.saturating_sub(crate::arch::time::uptime_ns()))?;
            }
            let me = crate::sched::current().ok_or(Errno::EINTR)?;
            *me.restart_block.lock() = Some(crate::sched::RestartBlock::Nanosleep { deadline, rem });
            return Err(Errno::ERESTART_RESTARTBLOCK);
        }
    }
    Ok(0)
}

/// restart_syscall(2): resumes the sleep a signal interrupted (Linux:
/// sys_restart_syscall -> restart_block.fn). EINTR if there is none.
pub fn sys_restart_syscall() -> KResult<usize> {
    let me = crate::sched::current().ok_or(Errno::EINTR)?;
    let block = me.restart_block.lock().take();
    match block {
        Some(crate::sched::RestartBlock::Nanosleep { deadline, rem }) => nanosleep_until(deadline, rem),
        None => Err(Errno::EINTR),
    }
}

const GRND_NONBLOCK: usize = 1;
const GRND_RANDOM: usize = 2;
const GRND_INSECURE: usize = 4;

/// getrandom(2). The bytes come from a generator seeded with the counter:
/// unpredictable enough for glibc's malloc and stack protector, not for
/// cryptography (Linux's CRNG is the real thing).
pub fn sys_getrandom(buf: usize, count: usize, flags: usize) -> KResult<usize> {
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
    {
        return Err(Errno::EINVAL);
    }
    let count = count.min(i32::MAX as usize); // Linux: at most INT_MAX per call
    if !crate::mm::uaccess::access_ok(buf, count) {
        return Err(Errno::EFAULT);
    }
    // In 64-byte blocks, as Linux's get_random_bytes_user copies them: a
    // block that faults ends the call with the blocks before it, or EFAULT.
    let mut rng = pagoda_klib::rand::XorShift64::new(crate::arch::time::counter() | 1);
    let mut done = 0;
    let mut block = [0u8; 64];
    while done < count {
        for w in block.chunks_exact_mut(8) {
            w.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        let n = (count - done).min(block.len());
        if let Err(e) = copy_to_user(buf + done, &block[..n]) {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        done += n;
        if done % 4096 == 0 && crate::sched::signal_pending() {
            break;
        }
    }
    Ok(done)
}

/// sched_yield(2).
pub fn sys_sched_yield() -> KResult<usize> {
    crate::sched::yield_now();
    Ok(0)
}

/// set_tid_address(2): the word cleared and futex-woken when the thread
/// exits (as CLONE_CHILD_CLEARTID sets it); returns the caller's TID.
pub fn sys_set_tid_address(tidptr: usize) -> KResult<usize> {
    let me = crate::sched::current().ok_or(Errno::ESRCH)?;
    me.set_clear_child_tid(tidptr);
    Ok(me.pid)
}

/// getuid, geteuid, getgid, getegid: every process runs as root so far.
pub fn sys_getuid() -> KResult<usize> {
    Ok(0)
}

const LINUX_REBOOT_MAGIC1: usize = 0xfee1_dead;
const LINUX_REBOOT_MAGIC2: [usize; 4] = [672_274_793, 85_072_278, 369_367_448, 537_993_216];
const LINUX_REBOOT_CMD_RESTART: usize = 0x0123_4567;
const LINUX_REBOOT_CMD_POWER_OFF: usize = 0x4321_fedc;
const LINUX_REBOOT_CMD_CAD_ON: usize = 0x89ab_cdef;
const LINUX_REBOOT_CMD_CAD_OFF: usize = 0;

/// reboot(2) (Linux: kernel/reboot.c): checks the magic numbers, then
/// powers off or restarts the machine.
pub fn sys_reboot(magic1: usize, magic2: usize, cmd: usize) -> KResult<usize> {
    if magic1 as u32 as usize != LINUX_REBOOT_MAGIC1
        || !LINUX_REBOOT_MAGIC2.contains(&(magic2 as u32 as usize))
    {
        return Err(Errno::EINVAL);
    }
    match cmd as u32 as usize {
        LINUX_REBOOT_CMD_POWER_OFF => crate::kernel::power::poweroff(),
        LINUX_REBOOT_CMD_RESTART => crate::kernel::power::reboot(),
        LINUX_REBOOT_CMD_CAD_ON | LINUX_REBOOT_CMD_CAD_OFF => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

/// gettimeofday(2): the same clock as CLOCK_REALTIME; the obsolete
/// timezone argument, if given, is zeroed.
pub fn sys_gettimeofday(tv: usize, tz: usize) -> KResult<usize> {
    if tv != 0 {
        let ns = crate::arch::time::uptime_ns();
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
        b[8..].copy_from_slice(&((ns % 1_000_000_000) / 1000).to_le_bytes());
        copy_to_user(tv, &b)?;
    }
    if tz != 0 {
        copy_to_user(tz, &[0u8; 8])?;
    }
    Ok(0)
}

/// Clock ticks as user space counts them (Linux: USER_HZ).
const USER_HZ: u64 = 100;

/// Jiffies to USER_HZ clock ticks (Linux: jiffies_to_clock_t).
pub fn jiffies_to_clock_t(j: u64) -> u64 {
    j * USER_HZ / crate::kernel::time::hz().max(1)
}

/// times(2): struct tms (the process's user and system time, and its
/// reaped children's, in USER_HZ ticks) and the ticks since boot. Time is
/// charged a tick at a time to whoever the tick interrupts.
pub fn sys_times(buf: usize) -> KResult<usize> {
    if buf != 0 {
        let me = crate::sched::current().ok_or(Errno::ESRCH)?;
        let (u, s) = me.signal.cputime();
        let (cu, cs) = (me.signal.cutime.load(Relaxed), me.signal.cstime.load(Relaxed));
        let mut b = [0u8; 32];
        for (i, v) in [u, s, cu, cs].into_iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&jiffies_to_clock_t(v).to_le_bytes());
        }
        copy_to_user(buf, &b)?;
    }
    Ok((crate::arch::time::uptime_ns() / (1_000_000_000 / USER_HZ)) as usize)
}

/// sysinfo(2): struct sysinfo in its 64-bit layout (112 bytes). Sizes are
/// in bytes (mem_unit = 1), as Linux gives them when they fit.
pub fn sys_sysinfo(info: usize) -> KResult<usize> {
    let pa = crate::mm::page_alloc::page_allocator();
    let mut b = [0u8; 112];
    let mut put = |off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(0, crate::arch::time::uptime_ns() / 1_000_000_000); // uptime
                                                            // loads[3] at 8..32: no load average yet.
    put(32, (pa.totalram_pages() * 4096) as u64); // totalram
    put(40, (crate::mm::page_alloc::mem_free_pages() * 4096) as u64); // freeram
                                                                      // sharedram, bufferram at 48, 56: 0.
    put(64, (crate::mm::swapfile::total_swap_pages() * 4096) as u64); // totalswap
    put(72, (crate::mm::swapfile::nr_swap_pages() * 4096) as u64); // freeswap
    let procs = crate::sched::nr_tasks().min(u16::MAX as usize) as u16;
    b[80..82].copy_from_slice(&procs.to_le_bytes());
    // totalhigh, freehigh at 88, 96: 0; mem_unit at 104.
    b[104..108].copy_from_slice(&1u32.to_le_bytes());
    copy_to_user(info, &b)?;
    Ok(0)
}
