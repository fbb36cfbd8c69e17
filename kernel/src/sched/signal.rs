//! Signals (Linux: kernel/signal.c, arch/arm64/kernel/signal.c).
//!
//! A signal sent to a process (kill) sets a bit in the process's shared
//! pending set; one sent to a thread (tgkill, a fault) in the thread's own.
//! A thread that does not block the signal is woken if it sleeps
//! interruptibly; interruptible sleeps (nanosleep, wait4, futex) then end
//! with EINTR. On its next return to user space the thread acts on the
//! lowest pending signal that is not blocked, its own first:
//!
//! - a handler installed with rt_sigaction runs: the kernel pushes an
//!   `rt_sigframe` (siginfo, and a ucontext holding every register, the FP
//!   state and the old mask) on the user stack and enters the handler with
//!   x0 = signal, x1 = &siginfo, x2 = &ucontext, x30 = the restorer (glibc's
//!   trampoline that calls rt_sigreturn), the signal blocked meanwhile; with
//!   SA_ONSTACK the frame goes on the alternate stack set by sigaltstack;
//!   rt_sigreturn restores everything from the frame;
//! - otherwise the default action: ignore (SIGCHLD, SIGCONT, SIGURG,
//!   SIGWINCH) or end the whole process with the signal as its wait status
//!   (every other thread gets SIGKILL: Linux's complete_signal and
//!   do_group_exit).
//!
//! A fault the task cannot survive (SIGSEGV, SIGILL...) is forced: if the
//! signal is blocked or ignored, its default action kills (Linux:
//! force_sig_fault). Not yet: stop/continue (SIGSTOP and friends kill
//! instead of stopping), real-time signal queues (a pending signal is one
//! bit, so a second one sent before delivery merges), process groups.

use super::core::try_to_wake_up;
use super::task::*;
use crate::arch::exception::TrapFrame;
use crate::mm::uaccess::{copy_from_user, copy_to_user};
use core::sync::atomic::Ordering::*;
use pagoda_klib::errno::{Errno, KResult};

pub const NSIG: usize = 64;
// Signal numbers (Linux: arch/arm64 uses include/uapi/asm-generic/signal.h).
pub const SIGKILL: usize = 9;
pub const SIGPIPE: usize = 13;
pub const SIGCHLD: usize = 17;
pub const SIGCONT: usize = 18;
pub const SIGSTOP: usize = 19;
pub const SIGTSTP: usize = 20;
pub const SIGTTIN: usize = 21;
pub const SIGTTOU: usize = 22;
const SIGURG: usize = 23;
const SIGWINCH: usize = 28;

const SIG_DFL: usize = 0;
const SIG_IGN: usize = 1;
// SA_SIGINFO (0x4) needs nothing: like Linux on arm64, every handler gets
// x1 = &siginfo and x2 = &ucontext.
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

/// One signal's disposition (Linux: struct k_sigaction; the layout of
/// rt_sigaction's struct sigaction on arm64: handler, flags, restorer, mask).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigAction {
    pub handler: usize,
    pub flags: u64,
    pub restorer: usize,
    pub mask: u64,
}

impl SigAction {
    pub const DEFAULT: SigAction = SigAction { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0 };
}

fn bit(sig: usize) -> u64 {
    1 << (sig - 1)
}

/// Whether the default action of `sig` is to ignore it (Linux: sig_kernel_ignore).
fn ignored_by_default(sig: usize) -> bool {
    matches!(sig, SIGCHLD | SIGCONT | SIGURG | SIGWINCH)
}

/// Whether `sig` would be dropped at once: ignored, explicitly or by
/// default (Linux: sig_ignored). SIGKILL never is.
fn sig_ignored(t: &Task, sig: usize) -> bool {
    let handler = t.signal.sigactions.lock()[sig - 1].handler;
    sig != SIGKILL && (handler == SIG_IGN || (handler == SIG_DFL && ignored_by_default(sig)))
}

/// Whether `sig`, if delivered, would end the process: no handler and a
/// default action that kills (Linux: sig_fatal).
fn sig_fatal(t: &Task, sig: usize) -> bool {
    sig == SIGKILL
        || (t.signal.sigactions.lock()[sig - 1].handler == SIG_DFL
            && !ignored_by_default(sig)
            && !super::jobctl::is_stop_signal(sig))
}

/// Sends `sig` to the thread `t` (tgkill, tkill).
pub fn send_signal(t: &Task, sig: usize) {
    __send_signal(t, sig, false)
}

/// Sends `sig` to the process `t` belongs to (kill): any of its threads
/// that does not block it may take it (Linux: group_send_sig_info).
pub fn group_send_sig(t: &Task, sig: usize) {
    __send_signal(t, sig, true)
}

/// Makes `sig` pending and wakes a thread that will act on it (Linux:
/// __send_signal_locked -> complete_signal). A fatal signal that nobody
/// blocks starts a group exit at once: every thread gets SIGKILL and is
/// woken, so the process ends even where threads sleep.
fn __send_signal(t: &Task, sig: usize, group: bool) {
    super::jobctl::prepare_signal(t, sig);
    if sig_ignored(t, sig) {
        return; // Linux drops it at once
    }
    let pending = if group { &t.signal.shared_pending } else { &t.pending };
    pending.fetch_or(bit(sig), Release);
    let wants =
        |p: &Task| p.state() != TASK_DEAD && (sig == SIGKILL || p.blocked.load(Acquire) & bit(sig) == 0);
    let mut target = None;
    if wants(t) {
        target = Some(t);
    } else if !group {
        return; // blocked: it waits in the thread's pending set
    }
    let sigs = &t.signal;
    if sig_fatal(t, sig) && sigs.group_exit_code().is_none() {
        // Find out whether anyone takes it; if so, it is fatal to all.
        let mut taker = target.is_some();
        if !taker {
            sigs.for_each_thread(|p| taker |= wants(p));
        }
        if taker {
            sigs.start_group_exit(sig as i32);
            sigs.for_each_thread(|p| {
                p.pending.fetch_or(bit(SIGKILL), Release);
                try_to_wake_up(p, TASK_INTERRUPTIBLE | TASK_STOPPED);
            });
        }
        return;
    }
    match target {
        Some(p) => {
            try_to_wake_up(p, TASK_INTERRUPTIBLE);
        }
        None => {
            let mut woken = false;
            sigs.for_each_thread(|p| {
                if !woken && wants(p) {
                    woken = true;
                    try_to_wake_up(p, TASK_INTERRUPTIBLE);
                }
            })
        }
    }
}

/// Whether the current task has a handler for `sig` that can run now (not
/// default, not ignored, not blocked).
pub fn has_handler(sig: usize) -> bool {
    current().is_some_and(|t| {
        let a = t.signal.sigactions.lock()[sig - 1];
        a.handler != SIG_DFL && a.handler != SIG_IGN && t.blocked.load(Acquire) & bit(sig) == 0
    })
}

/// Forces a fault signal on the current task with its si_code and address
/// (Linux: force_sig_fault): a blocked or ignored one reverts to its
/// default action, which kills.
pub fn force_sig_fault(sig: usize, code: i32, addr: u64) {
    let Some(me) = current() else { return };
    {
        let mut acts = me.signal.sigactions.lock();
        let a = &mut acts[sig - 1];
        if a.handler == SIG_IGN || me.blocked.load(Acquire) & bit(sig) != 0 {
            *a = SigAction::DEFAULT;
            me.blocked.fetch_and(!bit(sig), AcqRel);
        }
    }
    *me.fault_info.lock() = Some((sig, code, addr));
    me.pending.fetch_or(bit(sig), Release);
}

/// The signals the task may act on now: pending for it or its process,
/// and not blocked.
fn deliverable(t: &Task) -> u64 {
    (t.pending.load(Acquire) | t.signal.shared_pending.load(Acquire)) & !t.blocked.load(Acquire)
}

/// Whether the current task's last system call asked to be restarted: the
/// way out must go through do_signal even if the signal is gone (taken by
/// another thread, or a stop that a SIGCONT ended).
pub fn restart_pending() -> bool {
    with_current(|t| t.restart_pending.load(Acquire)).unwrap_or(false)
}

/// Whether `t` is being killed: SIGKILL pending or its group exiting
/// (Linux: fatal_signal_pending, __fatal_signal_pending).
pub fn fatal_signal_pending(t: &Task) -> bool {
    t.pending.load(Acquire) & bit(SIGKILL) != 0 || t.signal.group_exit_code().is_some()
}

/// Whether the current task has an unblocked signal to act on (Linux:
/// signal_pending).
pub fn signal_pending() -> bool {
    with_current(|t| deliverable(t) != 0 || t.jobctl_stop.load(Acquire)).unwrap_or(false)
}

/// Takes the lowest deliverable signal off the pending sets, the thread's
/// own first (Linux: dequeue_signal).
fn dequeue_signal(me: &Task) -> Option<usize> {
    let blocked = me.blocked.load(Acquire);
    for set in [&me.pending, &me.signal.shared_pending] {
        let ready = set.load(Acquire) & !blocked;
        if ready != 0 {
            let sig = ready.trailing_zeros() as usize + 1;
            set.fetch_and(!bit(sig), AcqRel);
            return Some(sig);
        }
    }
    None
}

/// On the way back to user space: acts on the lowest pending unblocked
/// signal (Linux: do_signal -> get_signal, handle_signal). If no handler
/// ran, a mask saved by sigsuspend or ppoll comes back.
pub fn do_signal(frame: &mut TrapFrame) {
    let exit = {
        let Some(me) = current() else { return };
        let restart = me.restart_pending.swap(false, AcqRel).then(|| me.restart_x0.load(Relaxed));
        let exit = __do_signal(&me, frame, restart);
        restore_saved_sigmask(&me);
        exit
    };
    // No reference to the task may stay on this stack: do_group_exit does
    // not return.
    if let Some(code) = exit {
        super::exit::do_group_exit(code)
    }
}

/// The system call number restart_syscall has (Linux: __NR_restart_syscall).
const NR_RESTART_SYSCALL: u64 = 128;

/// Makes the interrupted system call run again when the thread returns to
/// user space: back to the `svc` with its first argument (Linux: the
/// restart part of arm64's do_signal). RESTARTBLOCK goes through
/// restart_syscall instead.
fn restart_syscall(frame: &mut TrapFrame, orig_x0: u64) {
    if frame.regs[0] as i64 == Errno::ERESTART_RESTARTBLOCK.as_syscall_ret() as i64 {
        frame.regs[8] = NR_RESTART_SYSCALL;
    }
    frame.regs[0] = orig_x0;
    frame.pc -= 4;
}

/// Delivers what is deliverable; Some(wait status) if the process must die.
/// `restart` is the first argument of a system call that returned an
/// ERESTART code: it is restarted, or fails with EINTR if a handler runs
/// and the code says so.
fn __do_signal(me: &TaskRef, frame: &mut TrapFrame, restart: Option<u64>) -> Option<i32> {
    loop {
        if me.jobctl_stop.load(Acquire) {
            super::jobctl::park(me);
        }
        let Some(sig) = dequeue_signal(me) else { break };
        let action = me.signal.sigactions.lock()[sig - 1];
        match action.handler {
            _ if sig == SIGKILL => {}
            SIG_IGN => continue,
            SIG_DFL if ignored_by_default(sig) => continue,
            SIG_DFL if super::jobctl::is_stop_signal(sig) => {
                super::jobctl::do_signal_stop(me, sig);
                continue;
            }
            SIG_DFL => {}
            _ => {
                if let Some(orig_x0) = restart {
                    let code = Errno(-(frame.regs[0] as i64) as i32);
                    let again = code == Errno::ERESTARTNOINTR
                        || (code == Errno::ERESTARTSYS && action.flags & SA_RESTART != 0);
                    if again {
                        restart_syscall(frame, orig_x0);
                    } else {
                        frame.regs[0] = Errno::EINTR.as_syscall_ret() as u64;
                    }
                }
                let info = me.fault_info.lock().take().filter(|i| i.0 == sig);
                // After sigsuspend/ppoll the frame saves the caller's own
                // mask, which rt_sigreturn brings back (Linux:
                // sigmask_to_save).
                let saved = me.saved_sigmask.lock().take().unwrap_or_else(|| me.blocked.load(Acquire));
                if setup_rt_frame(me, frame, sig, &action, info, saved).is_err() {
                    return Some(11); // no room for the frame: Linux forces SIGSEGV
                }
                let mut block = action.mask;
                if action.flags & SA_NODEFER == 0 {
                    block |= bit(sig);
                }
                me.blocked.fetch_or(block & !(bit(SIGKILL) | bit(SIGSTOP)), AcqRel);
                if action.flags & SA_RESETHAND != 0 {
                    me.signal.sigactions.lock()[sig - 1] = SigAction::DEFAULT;
                }
                return None;
            }
        }
        // The default action kills the process: its wait status is the
        // signal (or the status of a group exit already under way).
        return Some(sig as i32);
    }
    // No handler ran: the interrupted call goes on as if nothing happened.
    if let Some(orig_x0) = restart {
        restart_syscall(frame, orig_x0);
    }
    None
}

// The arm64 rt_sigframe (arch/arm64/kernel/signal.c, uapi/asm/sigcontext.h):
// siginfo (128 bytes), then the ucontext: uc_flags, uc_link, uc_stack (24),
// uc_sigmask at 40, padding to 168, uc_mcontext (struct sigcontext, 16-byte
// aligned) at 176: fault_address, regs[31], sp, pc, pstate, and at 288 the
// 4096-byte __reserved area of records (the FP/SIMD one, then a terminator).
const SIGINFO_SIZE: usize = 128;
const UC: usize = SIGINFO_SIZE;
const UC_SIGMASK: usize = UC + 40;
const MC: usize = UC + 176;
const MC_REGS: usize = MC + 8;
const MC_SP: usize = MC + 256;
const MC_PC: usize = MC + 264;
const MC_PSTATE: usize = MC + 272;
const MC_RESERVED: usize = MC + 288;
const FRAME_SIZE: usize = MC_RESERVED + 4096;
const FPSIMD_MAGIC: u32 = 0x4650_8001;
const FPSIMD_SIZE: usize = 528;

fn put64(buf: &mut [u8], off: usize, v: u64) {
    buf[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

fn get64(buf: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[off..off + 8]);
    u64::from_le_bytes(b)
}

/// Builds the signal frame on the user stack and points the registers at
/// the handler (Linux: setup_rt_frame).
fn setup_rt_frame(
    me: &Task,
    frame: &mut TrapFrame,
    sig: usize,
    a: &SigAction,
    info: Option<(usize, i32, u64)>,
    saved_mask: u64,
) -> KResult<()> {
    let mut f = alloc::vec::Vec::new();
    f.try_reserve_exact(FRAME_SIZE).map_err(|_| Errno::ENOMEM)?;
    f.resize(FRAME_SIZE, 0);
    // siginfo: si_signo, si_errno, si_code, and for faults si_addr.
    f[0..4].copy_from_slice(&(sig as i32).to_le_bytes());
    let (code, addr) = info.map_or((0, 0), |(_, c, a)| (c, a)); // SI_USER = 0
    f[8..12].copy_from_slice(&code.to_le_bytes());
    put64(&mut f, 16, addr);
    // ucontext: the mask to restore, every register, the FP/SIMD record.
    put64(&mut f, UC_SIGMASK, saved_mask);
    put64(&mut f, MC, addr);
    for (i, r) in frame.regs.iter().enumerate() {
        put64(&mut f, MC_REGS + 8 * i, *r);
    }
    put64(&mut f, MC_SP, frame.sp);
    put64(&mut f, MC_PC, frame.pc);
    put64(&mut f, MC_PSTATE, frame.pstate);
    let mut fp = crate::arch::fpsimd::FpsimdState::new();
    // SAFETY: this task is running; its FP/SIMD registers are live here.
    unsafe { crate::arch::fpsimd::fpsimd_save(&mut fp) };
    f[MC_RESERVED..MC_RESERVED + 4].copy_from_slice(&FPSIMD_MAGIC.to_le_bytes());
    f[MC_RESERVED + 4..MC_RESERVED + 8].copy_from_slice(&(FPSIMD_SIZE as u32).to_le_bytes());
    f[MC_RESERVED + 8..MC_RESERVED + 12].copy_from_slice(&fp.fpsr.to_le_bytes());
    f[MC_RESERVED + 12..MC_RESERVED + 16].copy_from_slice(&fp.fpcr.to_le_bytes());
    for (i, v) in fp.vregs.iter().enumerate() {
        let o = MC_RESERVED + 16 + 16 * i;
        f[o..o + 16].copy_from_slice(&v.to_le_bytes());
    }
    // (the terminator record after it is already zero)
    // The stack to use: the alternate one if the handler asked for it and
    // we are not on it already (Linux: get_sigframe -> sigsp).
    let mut top = frame.sp as usize;
    let (alt_base, alt_size, alt_flags) = *me.sigaltstack.lock();
    f[UC + 16..UC + 40].copy_from_slice(&altstack_bytes(me, top));
    if a.flags & SA_ONSTACK != 0 && alt_size != 0 && !on_sig_stack(me, top) {
        top = alt_base + alt_size;
        if alt_flags & SS_AUTODISARM != 0 {
            *me.sigaltstack.lock() = (0, 0, SS_DISABLE);
        }
    }
    let sp = top.checked_sub(FRAME_SIZE + 16).ok_or(Errno::EFAULT)? & !15;
    copy_to_user(sp, &f)?;
    // A frame record {fp, lr} above the frame, as Linux makes, for unwinders.
    let mut rec = [0u8; 16];
    rec[..8].copy_from_slice(&frame.regs[29].to_le_bytes());
    rec[8..].copy_from_slice(&frame.regs[30].to_le_bytes());
    copy_to_user(sp + FRAME_SIZE, &rec)?;
    frame.regs[0] = sig as u64;
    frame.regs[1] = sp as u64;
    frame.regs[2] = (sp + UC) as u64;
    frame.regs[29] = (sp + FRAME_SIZE) as u64;
    // The handler returns to the restorer, or to the trampoline page.
    let sigpage = me.mm().map_or(0, |mm| mm.mmap_lock.read().sigpage);
    frame.regs[30] = if a.flags & SA_RESTORER != 0 { a.restorer as u64 } else { sigpage as u64 };
    frame.sp = sp as u64;
    frame.pc = a.handler as u64;
    Ok(())
}

/// rt_sigreturn(2): restores the registers, FP state and mask saved in the
/// frame at the user stack pointer (Linux: sys_rt_sigreturn). A corrupt
/// frame kills with SIGSEGV, as in Linux.
pub fn sys_rt_sigreturn(frame: &mut TrapFrame) -> KResult<usize> {
    let Some(me) = current() else { return Err(Errno::EFAULT) };
    let sp = frame.sp as usize;
    let mut f = alloc::vec::Vec::new();
    f.try_reserve_exact(FRAME_SIZE).map_err(|_| Errno::ENOMEM)?;
    f.resize(FRAME_SIZE, 0);
    if !sp.is_multiple_of(16) || copy_from_user(&mut f, sp).is_err() {
        drop(me);
        super::exit::do_group_exit(11)
    }
    let pstate = get64(&f, MC_PSTATE);
    // Only EL0t with the NZCV flags and DAIF clear may be returned to.
    if pstate & !0xf000_0000 != 0
        || get64(&f, MC_RESERVED) as u32 != FPSIMD_MAGIC
        || (get64(&f, MC_RESERVED) >> 32) as usize != FPSIMD_SIZE
    {
        drop(me);
        super::exit::do_group_exit(11)
    }
    for i in 0..31 {
        frame.regs[i] = get64(&f, MC_REGS + 8 * i);
    }
    frame.sp = get64(&f, MC_SP);
    frame.pc = get64(&f, MC_PC);
    frame.pstate = pstate;
    let mut fp = crate::arch::fpsimd::FpsimdState::new();
    fp.fpsr = get64(&f, MC_RESERVED + 8) as u32;
    fp.fpcr = (get64(&f, MC_RESERVED + 8) >> 32) as u32;
    for (i, v) in fp.vregs.iter_mut().enumerate() {
        let o = MC_RESERVED + 16 + 16 * i;
        *v = u128::from_le_bytes(f[o..o + 16].try_into().unwrap_or([0; 16]));
    }
    // SAFETY: this task is running; loading its own FP/SIMD registers.
    unsafe { crate::arch::fpsimd::fpsimd_load(&fp) };
    let mask = get64(&f, UC_SIGMASK) & !(bit(SIGKILL) | bit(SIGSTOP));
    me.blocked.store(mask, Release);
    // The alternate stack as the frame says (Linux: restore_altstack,
    // which ignores a failure).
    let mut ss = [0u8; 24];
    ss.copy_from_slice(&f[UC + 16..UC + 40]);
    let _ = set_altstack(&me, &ss, frame.sp as usize);
    Ok(frame.regs[0] as usize)
}

/// rt_sigaction(2).
pub fn sys_rt_sigaction(sig: usize, act: usize, oact: usize, sigsetsize: usize) -> KResult<usize> {
    if sigsetsize != 8 || sig == 0 || sig > NSIG {
        return Err(Errno::EINVAL);
    }
    let me = current().ok_or(Errno::ESRCH)?;
    let mut new = None;
    if act != 0 {
        if sig == SIGKILL || sig == SIGSTOP {
            return Err(Errno::EINVAL);
        }
        let mut b = [0u8; 32];
        copy_from_user(&mut b, act)?;
        new = Some(SigAction {
            handler: get64(&b, 0) as usize,
            flags: get64(&b, 8),
            restorer: get64(&b, 16) as usize,
            mask: get64(&b, 24) & !(bit(SIGKILL) | bit(SIGSTOP)),
        });
    }
    let old = me.signal.sigactions.lock()[sig - 1];
    if oact != 0 {
        let mut b = [0u8; 32];
        put64(&mut b, 0, old.handler as u64);
        put64(&mut b, 8, old.flags);
        put64(&mut b, 16, old.restorer as u64);
        put64(&mut b, 24, old.mask);
        copy_to_user(oact, &b)?;
    }
    if let Some(n) = new {
        me.signal.sigactions.lock()[sig - 1] = n;
        // Setting SIG_IGN (or a default that ignores) discards a pending
        // one, in the process and in every thread.
        if n.handler == SIG_IGN || (n.handler == SIG_DFL && ignored_by_default(sig)) {
            me.signal.shared_pending.fetch_and(!bit(sig), AcqRel);
            me.signal.for_each_thread(|t| {
                t.pending.fetch_and(!bit(sig), AcqRel);
            });
        }
    }
    Ok(0)
}

const SIG_BLOCK: usize = 0;
const SIG_UNBLOCK: usize = 1;
const SIG_SETMASK: usize = 2;

/// Waits with a temporary mask read from user memory (for ppoll and
/// rt_sigsuspend; Linux: set_user_sigmask).
pub fn set_temporary_sigmask(uaddr: usize, sigsetsize: usize) -> KResult<()> {
    if sigsetsize != 8 {
        return Err(Errno::EINVAL);
    }
    let me = current().ok_or(Errno::ESRCH)?;
    let mut b = [0u8; 8];
    copy_from_user(&mut b, uaddr)?;
    let mask = u64::from_le_bytes(b) & !(bit(SIGKILL) | bit(SIGSTOP));
    let old = me.blocked.swap(mask, AcqRel);
    me.saved_sigmask.lock().get_or_insert(old);
    Ok(())
}

/// Puts back a mask saved by set_temporary_sigmask, if any (Linux:
/// restore_saved_sigmask).
pub fn restore_saved_sigmask(me: &Task) {
    let saved = me.saved_sigmask.lock().take();
    if let Some(m) = saved {
        me.blocked.store(m, Release);
    }
}

/// rt_sigsuspend(2): waits with `mask` until a signal is delivered; EINTR
/// once a handler ran (ERESTARTNOHAND: without one it waits again), with
/// the old mask restored by the handler's return.
pub fn sys_rt_sigsuspend(mask: usize, sigsetsize: usize) -> KResult<usize> {
    set_temporary_sigmask(mask, sigsetsize)?;
    let me = current().ok_or(Errno::ESRCH)?;
    loop {
        me.set_state(TASK_INTERRUPTIBLE);
        if signal_pending() {
            break;
        }
        super::core::schedule();
    }
    me.set_state(TASK_RUNNING);
    Err(Errno::ERESTARTNOHAND)
}

/// rt_sigprocmask(2).
pub fn sys_rt_sigprocmask(how: usize, set: usize, oset: usize, sigsetsize: usize) -> KResult<usize> {
    if sigsetsize != 8 {
        return Err(Errno::EINVAL);
    }
    let me = current().ok_or(Errno::ESRCH)?;
    let old = me.blocked.load(Acquire);
    let mut new = None;
    if set != 0 {
        let mut b = [0u8; 8];
        copy_from_user(&mut b, set)?;
        let s = u64::from_le_bytes(b) & !(bit(SIGKILL) | bit(SIGSTOP));
        new = Some(match how {
            SIG_BLOCK => old | s,
            SIG_UNBLOCK => old & !s,
            SIG_SETMASK => s,
            _ => return Err(Errno::EINVAL),
        });
    }
    if oset != 0 {
        copy_to_user(oset, &old.to_le_bytes())?;
    }
    if let Some(n) = new {
        me.blocked.store(n, Release);
    }
    Ok(0)
}

/// kill(2): `pid` > 0 is a process (any of its threads' TIDs names it,
/// as in Linux), 0 the caller's process group, -1 every process but init
/// and the caller, < -1 the group -pid. Signal 0 checks that the target
/// exists.
pub fn sys_kill(pid: isize, sig: usize) -> KResult<usize> {
    if sig > NSIG {
        return Err(Errno::EINVAL);
    }
    match pid {
        0 => {
            let me = current().ok_or(Errno::ESRCH)?;
            return super::pgrp::kill_pgrp(me.signal.pgid.load(Relaxed), sig);
        }
        -1 => return super::pgrp::kill_all(sig),
        p if p < -1 => return super::pgrp::kill_pgrp(p.unsigned_abs(), sig),
        _ => {}
    }
    let Some(t) = find_process(pid as usize) else {
        // A zombie waiting for its parent: Linux accepts and ignores.
        return match find_task_by_pid(pid as usize) {
            Some(z) if !z.is_kthread() => Ok(0),
            _ => Err(Errno::ESRCH),
        };
    };
    if t.is_kthread() {
        return Err(Errno::ESRCH);
    }
    if sig != 0 {
        group_send_sig(&t, sig);
    }
    Ok(0)
}

/// tgkill(2): sends `sig` to the thread `tid` of process `tgid` (Linux:
/// do_tkill). tkill(2) is the same without the process check.
pub fn sys_tgkill(tgid: isize, tid: isize, sig: usize) -> KResult<usize> {
    if tid <= 0 || tgid == 0 || tgid < -1 || sig > NSIG {
        return Err(Errno::EINVAL);
    }
    let t = find_task_by_pid(tid as usize)
        .filter(|t| !t.is_kthread() && t.state() != TASK_DEAD && (tgid == -1 || t.tgid == tgid as usize))
        .ok_or(Errno::ESRCH)?;
    if sig != 0 {
        send_signal(&t, sig);
    }
    Ok(0)
}

// sigaltstack flags (Linux: include/uapi/linux/signal.h) and arm64's
// minimum size (MINSIGSTKSZ).
const SS_ONSTACK: u32 = 1;
pub const SS_DISABLE: u32 = 2;
const SS_AUTODISARM: u32 = 1 << 31;
const MINSIGSTKSZ: usize = 5120;

/// Whether `sp` is on the task's alternate signal stack (Linux: on_sig_stack).
fn on_sig_stack(t: &Task, sp: usize) -> bool {
    let (base, size, _) = *t.sigaltstack.lock();
    size != 0 && sp > base && sp - base <= size
}

/// The stack_t that describes the alternate stack for user space:
/// ss_sp, ss_flags, ss_size (Linux: __save_altstack).
fn altstack_bytes(t: &Task, sp: usize) -> [u8; 24] {
    let (base, size, flags) = *t.sigaltstack.lock();
    let flags = if on_sig_stack(t, sp) { SS_ONSTACK } else { flags };
    let mut b = [0u8; 24];
    put64(&mut b, 0, base as u64);
    b[8..12].copy_from_slice(&flags.to_le_bytes());
    put64(&mut b, 16, size as u64);
    b
}

/// Installs an alternate stack from a user stack_t (Linux:
/// do_sigaltstack): EPERM while running on the current one, EINVAL for
/// unknown flags, ENOMEM below MINSIGSTKSZ.
fn set_altstack(t: &Task, b: &[u8; 24], sp: usize) -> KResult<()> {
    let base = get64(b, 0) as usize;
    let flags = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
    let size = get64(b, 16) as usize;
    if on_sig_stack(t, sp) {
        return Err(Errno::EPERM);
    }
    let mode = flags & !SS_AUTODISARM;
    if mode != SS_DISABLE && mode != SS_ONSTACK && mode != 0 {
        return Err(Errno::EINVAL);
    }
    *t.sigaltstack.lock() = if mode == SS_DISABLE {
        (0, 0, SS_DISABLE)
    } else {
        if size < MINSIGSTKSZ {
            return Err(Errno::ENOMEM);
        }
        (base, size, flags & SS_AUTODISARM)
    };
    Ok(())
}

/// sigaltstack(2).
pub fn sys_sigaltstack(frame: &TrapFrame, ss: usize, old_ss: usize) -> KResult<usize> {
    let me = current().ok_or(Errno::ESRCH)?;
    let sp = frame.sp as usize;
    let old = altstack_bytes(&me, sp);
    if ss != 0 {
        let mut b = [0u8; 24];
        copy_from_user(&mut b, ss)?;
        set_altstack(&me, &b, sp)?;
    }
    if old_ss != 0 {
        copy_to_user(old_ss, &old)?;
    }
    Ok(0)
}

/// Resets handled signals to their default at exec; ignored ones stay
/// ignored (Linux: flush_signal_handlers).
pub fn flush_signal_handlers(t: &Task) {
    for a in t.signal.sigactions.lock().iter_mut() {
        if a.handler != SIG_IGN {
            *a = SigAction::DEFAULT;
        }
    }
}
