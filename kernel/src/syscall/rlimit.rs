//! Resource limits (Linux: kernel/sys.c prlimit64, getrlimit, setrlimit;
//! include/asm-generic/resource.h INIT_RLIMITS).
//!
//! Each task carries its limits; a new task starts with Linux's INIT_RLIMITS
//! (what init gets), and exec keeps them. The mm enforces RLIMIT_STACK
//! (stack growth), RLIMIT_AS and RLIMIT_DATA (mmap, brk, mremap); the
//! descriptor table RLIMIT_NOFILE. RLIMIT_MEMLOCK does not limit root, who
//! has CAP_IPC_LOCK, and every process runs as root.

use crate::mm::uaccess::{copy_from_user, copy_to_user};
use crate::sched::current;
use pagoda_klib::errno::{Errno, KResult};

pub const RLIM_NLIMITS: usize = 16;
pub const RLIM_INFINITY: u64 = u64::MAX;
/// The resources the kernel enforces (Linux: include/uapi/asm-generic/resource.h).
pub const RLIMIT_DATA: usize = 2;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_NOFILE: usize = 7;
pub const RLIMIT_AS: usize = 9;

/// (soft, hard) for every resource, as Linux gives init: CPU, FSIZE, DATA,
/// STACK (8 MiB), CORE (0), RSS, NPROC, NOFILE (1024/4096), MEMLOCK (8 MiB),
/// AS, LOCKS, SIGPENDING, MSGQUEUE (819200), NICE, RTPRIO, RTTIME. NPROC and
/// SIGPENDING depend on memory in Linux; Pagoda uses a fixed 7680.
pub const INIT_RLIMITS: [(u64, u64); RLIM_NLIMITS] = [
    (RLIM_INFINITY, RLIM_INFINITY),
    (RLIM_INFINITY, RLIM_INFINITY),
    (RLIM_INFINITY, RLIM_INFINITY),
    (8 << 20, RLIM_INFINITY),
    (0, RLIM_INFINITY),
    (RLIM_INFINITY, RLIM_INFINITY),
    (7680, 7680),
    (1024, 4096),
    (8 << 20, 8 << 20),
    (RLIM_INFINITY, RLIM_INFINITY),
    (RLIM_INFINITY, RLIM_INFINITY),
    (7680, 7680),
    (819_200, 819_200),
    (0, 0),
    (0, 0),
    (RLIM_INFINITY, RLIM_INFINITY),
];

/// The most files a process may have open (Linux: sysctl_nr_open).
const NR_OPEN: u64 = 1 << 20;

/// prlimit64(2) for the calling process (pid 0 or its own pid): reads the
/// old limit into `old` and sets `new`, each if non-null.
pub fn sys_prlimit64(pid: usize, resource: usize, new: usize, old: usize) -> KResult<usize> {
    let me = current().ok_or(Errno::ESRCH)?;
    if pid != 0 && pid != me.pid {
        return Err(Errno::ESRCH); // other processes come with fork
    }
    if resource >= RLIM_NLIMITS {
        return Err(Errno::EINVAL);
    }
    let mut new_lim = None;
    if new != 0 {
        let mut b = [0u8; 16];
        copy_from_user(&mut b, new)?;
        let soft = u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
        let hard = u64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
        if soft > hard {
            return Err(Errno::EINVAL);
        }
        if resource == RLIMIT_NOFILE && hard > NR_OPEN {
            return Err(Errno::EPERM);
        }
        // Raising a hard limit needs CAP_SYS_RESOURCE: every process is
        // root so far, so it is allowed.
        new_lim = Some((soft, hard));
    }
    let cur = me.rlimit(resource);
    if old != 0 {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&cur.0.to_le_bytes());
        b[8..].copy_from_slice(&cur.1.to_le_bytes());
        copy_to_user(old, &b)?;
    }
    if let Some(l) = new_lim {
        me.set_rlimit(resource, l);
    }
    Ok(0)
}

/// getrlimit(2).
pub fn sys_getrlimit(resource: usize, rlim: usize) -> KResult<usize> {
    if rlim == 0 {
        return Err(Errno::EFAULT);
    }
    sys_prlimit64(0, resource, 0, rlim)
}

/// setrlimit(2).
pub fn sys_setrlimit(resource: usize, rlim: usize) -> KResult<usize> {
    if rlim == 0 {
        return Err(Errno::EFAULT);
    }
    sys_prlimit64(0, resource, rlim, 0)
}
