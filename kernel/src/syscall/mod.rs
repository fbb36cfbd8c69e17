//! The system-call table (Linux: arch/arm64/kernel/syscall.c invoke_syscall
//! and the SYSCALL_DEFINE functions), with Linux's aarch64 numbers
//! (include/uapi/asm-generic/unistd.h).
//!
//! `svc #0` arrives here from el0_sync with the number in x8 and up to six
//! arguments in x0-x5; the result goes back in x0, a negative errno on
//! failure. Every argument from user space is untrusted: pointers go
//! through uaccess, and nothing here may panic on any value.
//!
//! What exists so far: openat, close, read, write, readv, writev,
//! pread64, pwrite64, lseek, getdents64, dup, dup3, fcntl, pipe2, ioctl,
//! mkdirat, unlinkat, symlinkat, readlinkat, faccessat(2), getcwd, chdir,
//! fchdir, umask, fstat, newfstatat, exit, exit_group, getpid, gettid, getppid,
//! the id getters, uname, clock_gettime, clock_getres, nanosleep,
//! getrandom, sched_yield, set_tid_address, reboot, gettimeofday, times,
//! sysinfo, prlimit64, getrlimit, setrlimit, brk, mmap (anonymous),
//! munmap, mprotect,
//! set_robust_list, clone and clone3 (fork, vfork, threads), futex,
//! execve, wait4, kill, tkill, tgkill, rt_sigaction, rt_sigprocmask,
//! rt_sigreturn, sigaltstack, getrusage. Everything else returns -ENOSYS
//! and is logged once at debug level with its number.

mod fd;
mod mm;
mod open;
mod process;
mod read_write;
pub mod rlimit;
pub mod rusage;
mod stat;
mod sys;

use crate::arch::exception::TrapFrame;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use pagoda_klib::errno::{Errno, KResult};

pub const NR_GETCWD: u64 = 17;
pub const NR_DUP: u64 = 23;
pub const NR_DUP3: u64 = 24;
pub const NR_FCNTL: u64 = 25;
pub const NR_IOCTL: u64 = 29;
pub const NR_MKDIRAT: u64 = 34;
pub const NR_UNLINKAT: u64 = 35;
pub const NR_SYMLINKAT: u64 = 36;
pub const NR_FACCESSAT: u64 = 48;
pub const NR_CHDIR: u64 = 49;
pub const NR_FCHDIR: u64 = 50;
pub const NR_OPENAT: u64 = 56;
pub const NR_CLOSE: u64 = 57;
pub const NR_FTRUNCATE: u64 = 46;
pub const NR_UMOUNT2: u64 = 39;
pub const NR_MOUNT: u64 = 40;
pub const NR_SWAPON: u64 = 224;
pub const NR_SWAPOFF: u64 = 225;
pub const NR_SYNC: u64 = 81;
pub const NR_FSYNC: u64 = 82;
pub const NR_FDATASYNC: u64 = 83;
pub const NR_SYNCFS: u64 = 267;
pub const NR_MEMFD_CREATE: u64 = 279;
pub const NR_PIPE2: u64 = 59;
pub const NR_GETDENTS64: u64 = 61;
pub const NR_LSEEK: u64 = 62;
pub const NR_READ: u64 = 63;
pub const NR_WRITE: u64 = 64;
pub const NR_READV: u64 = 65;
pub const NR_WRITEV: u64 = 66;
pub const NR_PREAD64: u64 = 67;
pub const NR_PWRITE64: u64 = 68;
pub const NR_READLINKAT: u64 = 78;
pub const NR_UMASK: u64 = 166;
pub const NR_FACCESSAT2: u64 = 439;
pub const NR_NEWFSTATAT: u64 = 79;
pub const NR_FSTAT: u64 = 80;
pub const NR_FUTEX: u64 = 98;
pub const NR_SET_ROBUST_LIST: u64 = 99;
pub const NR_SET_TID_ADDRESS: u64 = 96;
pub const NR_NANOSLEEP: u64 = 101;
pub const NR_CLOCK_GETTIME: u64 = 113;
pub const NR_CLOCK_GETRES: u64 = 114;
pub const NR_CLOCK_NANOSLEEP: u64 = 115;
pub const NR_SCHED_YIELD: u64 = 124;
pub const NR_KILL: u64 = 129;
pub const NR_TKILL: u64 = 130;
pub const NR_TGKILL: u64 = 131;
pub const NR_SIGALTSTACK: u64 = 132;
pub const NR_RT_SIGACTION: u64 = 134;
pub const NR_RT_SIGPROCMASK: u64 = 135;
pub const NR_RESTART_SYSCALL: u64 = 128;
pub const NR_RT_SIGSUSPEND: u64 = 133;
pub const NR_RT_SIGRETURN: u64 = 139;
pub const NR_PPOLL: u64 = 73;
pub const NR_REBOOT: u64 = 142;
pub const NR_TIMES: u64 = 153;
pub const NR_UNAME: u64 = 160;
pub const NR_GETRLIMIT: u64 = 163;
pub const NR_SETRLIMIT: u64 = 164;
pub const NR_GETRUSAGE: u64 = 165;
pub const NR_SETPGID: u64 = 154;
pub const NR_GETPGID: u64 = 155;
pub const NR_GETSID: u64 = 156;
pub const NR_SETSID: u64 = 157;
pub const NR_PRLIMIT64: u64 = 261;
pub const NR_GETUID: u64 = 174;
pub const NR_GETEUID: u64 = 175;
pub const NR_GETGID: u64 = 176;
pub const NR_GETEGID: u64 = 177;
pub const NR_GETRANDOM: u64 = 278;
pub const NR_BRK: u64 = 214;
pub const NR_CLONE: u64 = 220;
pub const NR_EXECVE: u64 = 221;
pub const NR_WAIT4: u64 = 260;
pub const NR_CLONE3: u64 = 435;
pub const NR_MUNMAP: u64 = 215;
pub const NR_MMAP: u64 = 222;
pub const NR_MPROTECT: u64 = 226;
pub const NR_MREMAP: u64 = 216;
pub const NR_MSYNC: u64 = 227;
pub const NR_MLOCK: u64 = 228;
pub const NR_MUNLOCK: u64 = 229;
pub const NR_MLOCKALL: u64 = 230;
pub const NR_MUNLOCKALL: u64 = 231;
pub const NR_MINCORE: u64 = 232;
pub const NR_MADVISE: u64 = 233;
pub const NR_FADVISE64: u64 = 223;
pub const NR_MLOCK2: u64 = 284;
pub const NR_EXIT: u64 = 93;
pub const NR_EXIT_GROUP: u64 = 94;
pub const NR_GETPID: u64 = 172;
pub const NR_GETPPID: u64 = 173;
pub const NR_GETTID: u64 = 178;
pub const NR_GETTIMEOFDAY: u64 = 169;
pub const NR_SYSINFO: u64 = 179;

/// The first 448 syscall numbers (Linux's NR_syscalls on arm64 in 6.1 is
/// 451), one bit each: which unknown numbers were already logged.
static ENOSYS_LOGGED: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// Runs the system call in `frame` and stores its result in x0 (Linux:
/// invoke_syscall).
pub fn invoke_syscall(frame: &mut TrapFrame) {
    let nr = frame.regs[8];
    let a = [frame.regs[0], frame.regs[1], frame.regs[2], frame.regs[3], frame.regs[4], frame.regs[5]];
    let ret: KResult<usize> = match nr {
        NR_READ => read_write::sys_read(a[0] as i32, a[1] as usize, a[2] as usize),
        NR_WRITE => read_write::sys_write(a[0] as i32, a[1] as usize, a[2] as usize),
        NR_READV => read_write::sys_readv_writev(a[0] as i32, a[1] as usize, a[2] as i32, false),
        NR_WRITEV => read_write::sys_readv_writev(a[0] as i32, a[1] as usize, a[2] as i32, true),
        NR_PREAD64 => read_write::sys_pread64(a[0] as i32, a[1] as usize, a[2] as usize, a[3] as i64),
        NR_PWRITE64 => read_write::sys_pwrite64(a[0] as i32, a[1] as usize, a[2] as usize, a[3] as i64),
        NR_LSEEK => read_write::sys_lseek(a[0] as i32, a[1] as i64, a[2] as u32),
        NR_GETDENTS64 => read_write::sys_getdents64(a[0] as i32, a[1] as usize, a[2] as usize),
        NR_OPENAT => open::sys_openat(a[0] as i32, a[1] as usize, a[2] as u32, a[3] as u32),
        NR_CLOSE => open::sys_close(a[0] as i32),
        NR_FTRUNCATE => open::sys_ftruncate(a[0] as i32, a[1] as i64),
        NR_MOUNT => open::sys_mount(a[0] as usize, a[1] as usize, a[2] as usize, a[3] as usize),
        NR_UMOUNT2 => open::sys_umount2(a[0] as usize, a[1] as usize),
        NR_SWAPON => open::sys_swapon(a[0] as usize, a[1] as usize),
        NR_SWAPOFF => open::sys_swapoff(a[0] as usize),
        NR_SYNC => open::sys_sync(),
        NR_FSYNC | NR_FDATASYNC => open::sys_fsync(a[0] as i32),
        NR_SYNCFS => open::sys_syncfs(a[0] as i32),
        NR_MEMFD_CREATE => open::sys_memfd_create(a[0] as usize, a[1] as u32),
        NR_MKDIRAT => open::sys_mkdirat(a[0] as i32, a[1] as usize, a[2] as u32),
        NR_UNLINKAT => open::sys_unlinkat(a[0] as i32, a[1] as usize, a[2] as u32),
        NR_SYMLINKAT => open::sys_symlinkat(a[0] as usize, a[1] as i32, a[2] as usize),
        NR_READLINKAT => open::sys_readlinkat(a[0] as i32, a[1] as usize, a[2] as usize, a[3] as i32),
        NR_FACCESSAT => open::sys_faccessat(a[0] as i32, a[1] as usize, a[2] as u32, 0),
        NR_FACCESSAT2 => open::sys_faccessat(a[0] as i32, a[1] as usize, a[2] as u32, a[3] as u32),
        NR_GETCWD => open::sys_getcwd(a[0] as usize, a[1] as usize),
        NR_CHDIR => open::sys_chdir(a[0] as usize),
        NR_FCHDIR => open::sys_fchdir(a[0] as i32),
        NR_UMASK => open::sys_umask(a[0] as u32),
        NR_DUP => fd::sys_dup(a[0] as i32),
        NR_DUP3 => fd::sys_dup3(a[0] as i32, a[1] as i32, a[2] as u32),
        NR_FCNTL => fd::sys_fcntl(a[0] as i32, a[1] as u32, a[2] as usize),
        NR_PIPE2 => fd::sys_pipe2(a[0] as usize, a[1] as u32),
        NR_EXIT => process::sys_exit(a[0] as i32),
        NR_EXIT_GROUP => process::sys_exit_group(a[0] as i32),
        NR_GETPID => process::sys_getpid(),
        NR_GETTID => process::sys_gettid(),
        NR_FUTEX => crate::kernel::futex::sys_futex(
            a[0] as usize,
            a[1] as u32,
            a[2] as u32,
            a[3] as usize,
            a[4] as usize,
            a[5] as u32,
        ),
        NR_TKILL => crate::sched::sys_tgkill(-1, a[0] as i32 as isize, a[1] as usize),
        NR_TGKILL => crate::sched::sys_tgkill(a[0] as i32 as isize, a[1] as i32 as isize, a[2] as usize),
        NR_SIGALTSTACK => crate::sched::sys_sigaltstack(frame, a[0] as usize, a[1] as usize),
        NR_GETRUSAGE => rusage::sys_getrusage(a[0] as i32, a[1] as usize),
        NR_SETPGID => crate::sched::sys_setpgid(a[0] as i32 as isize, a[1] as i32 as isize),
        NR_GETPGID => crate::sched::sys_getpgid(a[0] as i32 as isize),
        NR_GETSID => crate::sched::sys_getsid(a[0] as i32 as isize),
        NR_SETSID => crate::sched::sys_setsid(),
        NR_CLONE3 => process::sys_clone3(frame, a[0] as usize, a[1] as usize),
        NR_GETPPID => process::sys_getppid(),
        NR_SET_TID_ADDRESS => sys::sys_set_tid_address(a[0] as usize),
        NR_NANOSLEEP => sys::sys_nanosleep(a[0] as usize, a[1] as usize),
        NR_RESTART_SYSCALL => sys::sys_restart_syscall(),
        NR_CLOCK_NANOSLEEP => {
            sys::sys_clock_nanosleep(a[0] as usize, a[1] as usize, a[2] as usize, a[3] as usize)
        }
        NR_CLOCK_GETTIME => sys::sys_clock_gettime(a[0] as usize, a[1] as usize),
        NR_CLOCK_GETRES => sys::sys_clock_getres(a[0] as usize, a[1] as usize),
        NR_SCHED_YIELD => sys::sys_sched_yield(),
        NR_KILL => crate::sched::sys_kill(a[0] as i32 as isize, a[1] as usize),
        NR_RT_SIGACTION => {
            crate::sched::sys_rt_sigaction(a[0] as usize, a[1] as usize, a[2] as usize, a[3] as usize)
        }
        NR_RT_SIGPROCMASK => {
            crate::sched::sys_rt_sigprocmask(a[0] as usize, a[1] as usize, a[2] as usize, a[3] as usize)
        }
        NR_RT_SIGRETURN => crate::sched::sys_rt_sigreturn(frame),
        NR_RT_SIGSUSPEND => crate::sched::sys_rt_sigsuspend(a[0] as usize, a[1] as usize),
        NR_PPOLL => crate::fs::select::sys_ppoll(
            a[0] as usize,
            a[1] as usize,
            a[2] as usize,
            a[3] as usize,
            a[4] as usize,
        ),
        NR_REBOOT => sys::sys_reboot(a[0] as usize, a[1] as usize, a[2] as usize),
        NR_TIMES => sys::sys_times(a[0] as usize),
        NR_GETTIMEOFDAY => sys::sys_gettimeofday(a[0] as usize, a[1] as usize),
        NR_SYSINFO => sys::sys_sysinfo(a[0] as usize),
        NR_UNAME => sys::sys_uname(a[0] as usize),
        NR_GETRLIMIT => rlimit::sys_getrlimit(a[0] as usize, a[1] as usize),
        NR_SETRLIMIT => rlimit::sys_setrlimit(a[0] as usize, a[1] as usize),
        NR_PRLIMIT64 => rlimit::sys_prlimit64(a[0] as usize, a[1] as usize, a[2] as usize, a[3] as usize),
        NR_GETUID | NR_GETEUID | NR_GETGID | NR_GETEGID => sys::sys_getuid(),
        NR_GETRANDOM => sys::sys_getrandom(a[0] as usize, a[1] as usize, a[2] as usize),
        NR_BRK => mm::sys_brk(a[0] as usize),
        NR_CLONE => process::sys_clone(frame, a[0], a[1] as usize, a[2] as usize, a[3], a[4] as usize),
        NR_EXECVE => crate::fs::exec::sys_execve(a[0] as usize, a[1] as usize, a[2] as usize),
        NR_WAIT4 => {
            crate::sched::sys_wait4(a[0] as i32 as isize, a[1] as usize, a[2] as usize, a[3] as usize)
        }
        NR_IOCTL => fd::sys_ioctl(a[0] as i32, a[1] as usize, a[2] as usize),
        NR_FSTAT => stat::sys_fstat(a[0] as i32, a[1] as usize),
        NR_NEWFSTATAT => stat::sys_newfstatat(a[0] as i32, a[1] as usize, a[2] as usize, a[3] as u32),
        NR_SET_ROBUST_LIST => process::sys_set_robust_list(a[0] as usize, a[1] as usize),
        NR_MUNMAP => mm::sys_munmap(a[0] as usize, a[1] as usize),
        NR_MMAP => mm::sys_mmap(
            a[0] as usize,
            a[1] as usize,
            a[2] as usize,
            a[3] as usize,
            a[4] as isize,
            a[5] as usize,
        ),
        NR_MPROTECT => mm::sys_mprotect(a[0] as usize, a[1] as usize, a[2] as usize),
        NR_MSYNC => mm::sys_msync(a[0] as usize, a[1] as usize, a[2] as usize),
        NR_MREMAP => {
            mm::sys_mremap(a[0] as usize, a[1] as usize, a[2] as usize, a[3] as usize, a[4] as usize)
        }
        NR_MLOCK => mm::sys_mlock2(a[0] as usize, a[1] as usize, 0),
        NR_MLOCK2 => mm::sys_mlock2(a[0] as usize, a[1] as usize, a[2] as usize),
        NR_MUNLOCK => mm::sys_munlock(a[0] as usize, a[1] as usize),
        NR_MLOCKALL => mm::sys_mlockall(a[0] as usize),
        NR_MUNLOCKALL => mm::sys_munlockall(),
        NR_MINCORE => mm::sys_mincore(a[0] as usize, a[1] as usize, a[2] as usize),
        NR_MADVISE => mm::sys_madvise(a[0] as usize, a[1] as usize, a[2] as usize),
        NR_FADVISE64 => read_write::sys_fadvise64(a[0] as i32, a[1] as i64, a[2] as i64, a[3] as u32),
        _ => sys_ni_syscall(nr),
    };
    frame.regs[0] = match ret {
        Ok(v) => v as u64,
        Err(e) => e.as_syscall_ret() as u64,
    };
    // A signal interrupted it: the way out restarts it or turns the code
    // into EINTR, and needs the first argument for a restart (Linux keeps
    // orig_x0 in pt_regs).
    if let Err(e) = ret {
        if e.is_restart() {
            if let Some(me) = crate::sched::current() {
                me.restart_x0.store(a[0], core::sync::atomic::Ordering::Relaxed);
                me.restart_pending.store(true, core::sync::atomic::Ordering::Release);
            }
        }
    }
}

/// An unimplemented system call (Linux: sys_ni_syscall).
fn sys_ni_syscall(nr: u64) -> KResult<usize> {
    if let Some(word) = ENOSYS_LOGGED.get((nr / 64) as usize) {
        if word.fetch_or(1 << (nr % 64), Relaxed) & (1 << (nr % 64)) == 0 {
            log::debug!("syscall {nr} is not implemented: -ENOSYS");
        }
    }
    Err(Errno::ENOSYS)
}
