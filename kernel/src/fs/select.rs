//! ppoll (Linux: fs/select.c do_sys_poll, do_pollfd; the f_op->poll
//! methods of pipes and ttys).
//!
//! Each descriptor is asked whether it is ready now; if none is, the
//! caller sleeps until something that could make one ready happens, the
//! timeout passes or a signal comes, and asks again. Linux hangs the
//! poller on every file's own wait queue through a poll_table; Pagoda has
//! one wait queue, POLL_WAIT, that pipes and the console wake whenever
//! their state changes: a poller may wake for nothing and ask again, which
//! costs time, never correctness. With no descriptors, ppoll is pause(2)
//! (glibc's pause is ppoll(NULL, 0, NULL, NULL)).

use super::file::{File, FileKind};
use super::inode::{CharDev, InodeKind};
use crate::mm::uaccess::{copy_from_user, copy_to_user};
use crate::sched::WaitQueue;
use alloc::vec::Vec;
use pagoda_klib::errno::{Errno, KResult};

pub const POLLIN: u16 = 0x001;
pub const POLLOUT: u16 = 0x004;
pub const POLLERR: u16 = 0x008;
pub const POLLHUP: u16 = 0x010;
pub const POLLNVAL: u16 = 0x020;
pub const POLLRDNORM: u16 = 0x040;
pub const POLLWRNORM: u16 = 0x100;

/// What an always-ready file answers (Linux: DEFAULT_POLLMASK).
const DEFAULT_POLLMASK: u16 = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

/// Woken whenever a pipe or the console changes state.
pub static POLL_WAIT: WaitQueue = WaitQueue::new();

impl File {
    /// The events the file is ready for now (Linux: vfs_poll).
    pub fn poll(&self) -> u16 {
        match &self.kind {
            FileKind::PipeRead(p) => p.poll(false),
            FileKind::PipeWrite(p) => p.poll(true),
            FileKind::Inode(path) => match path.inode().kind {
                InodeKind::Char(CharDev::Console) => {
                    let input = if super::char_dev::console_has_input() { POLLIN | POLLRDNORM } else { 0 };
                    input | POLLOUT | POLLWRNORM
                }
                _ => DEFAULT_POLLMASK,
            },
        }
    }
}

/// The longest array ppoll takes (Linux: RLIMIT_NOFILE; Pagoda's default).
const MAX_POLLFDS: usize = 1024;

/// ppoll(2): `nfds` struct pollfd at `ufds`, an optional timeout and an
/// optional signal mask to wait with (as sigsuspend).
pub fn sys_ppoll(ufds: usize, nfds: usize, tsp: usize, sigmask: usize, sigsetsize: usize) -> KResult<usize> {
    if nfds > MAX_POLLFDS {
        return Err(Errno::EINVAL);
    }
    let deadline = match tsp {
        0 => None,
        t => Some(crate::arch::time::uptime_ns().saturating_add(crate::kernel::futex::get_timespec_ns(t)?)),
    };
    let mut fds = Vec::new();
    fds.try_reserve_exact(nfds).map_err(|_| Errno::ENOMEM)?;
    for i in 0..nfds {
        let mut b = [0u8; 8];
        copy_from_user(&mut b, ufds.wrapping_add(i * 8))?;
        fds.push((i32::from_le_bytes([b[0], b[1], b[2], b[3]]), u16::from_le_bytes([b[4], b[5]])));
    }
    if sigmask != 0 {
        crate::sched::set_temporary_sigmask(sigmask, sigsetsize)?;
    }
    let r = do_poll(&fds, ufds, deadline);
    // The temporary mask stays for the signal that ended the wait; any
    // other outcome restores it now (Linux: restore_saved_sigmask_unless).
    // ERESTARTNOHAND becomes EINTR if a handler runs, else ppoll restarts.
    if r != Err(Errno::ERESTARTNOHAND) {
        if let Some(me) = crate::sched::current() {
            crate::sched::restore_saved_sigmask(&me);
        }
    }
    r
}

fn do_poll(fds: &[(i32, u16)], ufds: usize, deadline: Option<u64>) -> KResult<usize> {
    let nfds = fds.len();
    let files = super::current_files().ok();
    loop {
        let mut ready = 0;
        let mut revents = Vec::new();
        revents.try_reserve_exact(nfds).map_err(|_| Errno::ENOMEM)?;
        for &(fd, events) in fds {
            let r = if fd < 0 {
                0
            } else {
                match files.as_ref().and_then(|f| f.get(fd).ok()) {
                    None => POLLNVAL,
                    Some(f) => f.poll() & (events | POLLERR | POLLHUP),
                }
            };
            ready += (r != 0) as usize;
            revents.push(r);
        }
        let timed_out = deadline.is_some_and(|d| crate::arch::time::uptime_ns() >= d);
        if ready > 0 || timed_out {
            for (i, r) in revents.iter().enumerate() {
                copy_to_user(ufds + i * 8 + 6, &r.to_le_bytes())?;
            }
            return Ok(ready);
        }
        if crate::sched::signal_pending() {
            return Err(Errno::ERESTARTNOHAND);
        }
        sleep_until_poll_event(deadline);
    }
}

/// Sleeps until POLL_WAIT is woken, a signal comes or `deadline` passes.
fn sleep_until_poll_event(deadline: Option<u64>) {
    if !POLL_WAIT.prepare_to_wait(crate::sched::TASK_INTERRUPTIBLE) {
        crate::sched::yield_now();
        return;
    }
    if !crate::sched::signal_pending() {
        match deadline {
            None => crate::sched::schedule(),
            Some(d) => {
                let left = d.saturating_sub(crate::arch::time::uptime_ns());
                crate::kernel::timer::schedule_timeout(crate::kernel::time::nsecs_to_jiffies(left));
            }
        }
    }
    POLL_WAIT.finish_wait();
}
