//! fork, vfork and threads for user tasks (Linux: kernel/fork.c
//! copy_process, arch/arm64/kernel/process.c copy_thread, ret_from_fork).
//!
//! The child is a new task with its own kernel stack and, at the top of it,
//! a copy of the caller's user register frame with x0 = 0. What else it
//! gets depends on the clone flags: a copy of the address space (copy on
//! write, mm/fork.rs) or the same one (CLONE_VM); its own process (limits,
//! dispositions and parent copied) or a place in the caller's
//! (CLONE_THREAD); a copy of the file table or the same one (CLONE_FILES);
//! its own TLS pointer (CLONE_SETTLS). Its first switch-in lands in
//! `ret_from_fork_user`, which leaves straight for user space through that
//! frame: clone returns 0 in the child and the child's TID in the caller.

use super::core::{reserve_rq_slots, wake_up_new_task};
use super::stack::KernelStack;
use super::task::*;
use crate::arch::exception::TrapFrame;
use core::sync::atomic::Ordering::*;
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};

extern "C" {
    fn ret_from_fork_user();
}

// clone flags (Linux: include/uapi/linux/sched.h).
pub const CSIGNAL: u64 = 0xff;
pub const CLONE_VM: u64 = 0x100;
pub const CLONE_FS: u64 = 0x200;
pub const CLONE_FILES: u64 = 0x400;
pub const CLONE_SIGHAND: u64 = 0x800;
pub const CLONE_VFORK: u64 = 0x4000;
pub const CLONE_THREAD: u64 = 0x10000;
pub const CLONE_SYSVSEM: u64 = 0x40000;
pub const CLONE_SETTLS: u64 = 0x80000;
pub const CLONE_PARENT_SETTID: u64 = 0x100000;
pub const CLONE_CHILD_CLEARTID: u64 = 0x200000;
pub const CLONE_DETACHED: u64 = 0x400000;
pub const CLONE_UNTRACED: u64 = 0x800000;
pub const CLONE_CHILD_SETTID: u64 = 0x1000000;

/// The flags Pagoda implements; any other makes clone fail with EINVAL.
/// CLONE_SYSVSEM is accepted with nothing to share (no System V
/// semaphores); CLONE_DETACHED and CLONE_UNTRACED are ignored, as Linux
/// ignores them.
const CLONE_SUPPORTED: u64 = CSIGNAL
    | CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_VFORK
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED
    | CLONE_UNTRACED
    | CLONE_CHILD_SETTID;

/// What clone and clone3 ask for (Linux: struct kernel_clone_args).
#[derive(Default, Clone, Copy)]
pub struct CloneArgs {
    pub flags: u64,
    /// The child's stack pointer, or 0 to keep the parent's.
    pub stack: usize,
    pub parent_tid: usize,
    pub child_tid: usize,
    pub tls: u64,
    pub exit_signal: usize,
}

/// Checks the flag combinations Linux refuses (Linux: the checks at the
/// top of copy_process).
fn check_clone_flags(f: u64) -> KResult<()> {
    if f & !CLONE_SUPPORTED != 0 {
        return Err(Errno::EINVAL);
    }
    // Threads share signal handlers, and shared handlers need a shared mm.
    if f & CLONE_THREAD != 0 && f & CLONE_SIGHAND == 0 {
        return Err(Errno::EINVAL);
    }
    if f & CLONE_SIGHAND != 0 && f & CLONE_VM == 0 {
        return Err(Errno::EINVAL);
    }
    // Pagoda shares dispositions only within a thread group.
    if f & CLONE_SIGHAND != 0 && f & CLONE_THREAD == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Creates a child of the current user process: a new process (fork,
/// vfork) or a new thread of this one (CLONE_THREAD), resuming from
/// `frame` (the caller's user registers) with x0 = 0 (Linux:
/// kernel_clone -> copy_process). Returns the child's TID.
pub fn copy_process(frame: &TrapFrame, args: &CloneArgs) -> KResult<usize> {
    let f = args.flags;
    check_clone_flags(f)?;
    // Free the stacks of tasks that died since (Linux frees them as soon as
    // the next task runs; Pagoda's reap needs process context).
    super::exit::reap();
    let me = current().ok_or(Errno::ESRCH)?;
    let mm = me.mm().ok_or(Errno::EINVAL)?;
    // The address space: shared (threads, vfork) or copied on write.
    let child_mm = if f & CLONE_VM != 0 {
        mm.mmget();
        mm
    } else {
        crate::mm::fork::dup_mmap(&mm)?
    };
    let (files, fs) = match copy_files_and_fs(&me, f) {
        Ok(x) => x,
        Err(e) => {
            child_mm.mmput();
            return Err(e);
        }
    };
    let Some(stack) = KernelStack::alloc() else {
        child_mm.mmput();
        return Err(Errno::ENOMEM);
    };
    let top = stack.top();
    let pid = alloc_pid();
    let group = (f & CLONE_THREAD != 0).then(|| (me.tgid, me.signal.clone()));
    let child = Task::new(me.name().as_str(), pid, group, 0, Some(stack), None, None)
        .inspect_err(|_| child_mm.mmput())?;
    *child.mm.lock() = Some(child_mm);
    *child.files.lock() = files;
    *child.fs.lock() = fs;
    if f & CLONE_THREAD == 0 {
        // A new process: the parent's limits and dispositions (Linux:
        // copy_signal, copy_sighand), the caller's process as parent.
        for r in 0..crate::syscall::rlimit::RLIM_NLIMITS {
            child.set_rlimit(r, me.rlimit(r));
        }
        *child.signal.sigactions.lock() = *me.signal.sigactions.lock();
        child.signal.pgid.store(me.signal.pgid.load(Relaxed), Relaxed);
        child.signal.sid.store(me.signal.sid.load(Relaxed), Relaxed);
        child.signal.exit_signal.store(args.exit_signal, Relaxed);
        child.signal.oom_score_adj.store(me.signal.oom_score_adj.load(Relaxed), Relaxed);
    }
    // The mask is inherited; the alternate stack too, unless the child
    // gets its own stack (Linux: copy_process clears sas_ss for
    // CLONE_VM without CLONE_VFORK).
    child.blocked.store(me.blocked.load(Acquire), Release);
    if f & (CLONE_VM | CLONE_VFORK) != CLONE_VM {
        *child.sigaltstack.lock() = *me.sigaltstack.lock();
    }
    if f & CLONE_CHILD_CLEARTID != 0 {
        child.clear_child_tid.store(args.child_tid, Relaxed);
    }
    let set_child_tid = if f & CLONE_CHILD_SETTID != 0 { args.child_tid } else { 0 };
    // The user registers: the parent's frame, returning 0, on the given
    // stack (Linux: copy_thread).
    let child_frame = (top - core::mem::size_of::<TrapFrame>()) as *mut TrapFrame;
    let mut regs = frame.clone();
    regs.regs[0] = 0;
    if args.stack != 0 {
        regs.sp = args.stack as u64;
    }
    let flags = crate::arch::irqflags::local_irq_save();
    // SAFETY: the child has never run: its stack, context and thread state
    // are ours. The parent's FP/SIMD registers are live in this CPU (the
    // kernel never touches them) and are saved straight into the child;
    // interrupts are masked so that no switch happens meanwhile.
    unsafe {
        child_frame.write(regs);
        crate::arch::fpsimd::thread_save(child.thread.get());
        if f & CLONE_SETTLS != 0 {
            (*child.thread.get()).tpidr_el0 = args.tls;
        }
        let ctx = &mut *child.ctx.get();
        ctx.regs[0] = child_frame as u64; // x19: the frame
        ctx.regs[1] = set_child_tid as u64; // x20
        ctx.regs[11] = ret_from_fork_user as *const () as u64; // x30
        ctx.sp = child_frame as u64;
    }
    crate::arch::irqflags::local_irq_restore(flags);
    if let Err(e) = link_child(&me, &child, f) {
        Task::discard(&child);
        return Err(e);
    }
    if f & CLONE_PARENT_SETTID != 0 {
        // Linux ignores a failure here too.
        let _ = crate::mm::uaccess::copy_to_user(args.parent_tid, &(pid as u32).to_le_bytes());
    }
    if f & CLONE_VFORK != 0 {
        child.vfork_parent.store(true, Release);
    }
    wake_up_new_task(&child);
    if f & CLONE_VFORK != 0 {
        // The parent sleeps until the child execs or exits and so gives
        // the shared mm back (Linux: wait_for_vfork_done).
        super::exit::EXIT_WQ.wait_event(|| !child.vfork_parent.load(Acquire));
    }
    Ok(pid)
}

/// The child's descriptor table and working directory: shared with
/// CLONE_FILES and CLONE_FS, else copied (Linux: copy_files, copy_fs).
type FilesAndFs = (Option<crate::fs::fdtable::FilesRef>, Option<crate::fs::fdtable::FsRef>);

fn copy_files_and_fs(me: &TaskRef, f: u64) -> KResult<FilesAndFs> {
    let files = match me.files.lock().clone() {
        Some(files) if f & CLONE_FILES != 0 => Some(files),
        Some(files) => Some(files.dup()?),
        None => None,
    };
    let fs = match me.fs.lock().clone() {
        Some(fs) if f & CLONE_FS != 0 => Some(fs),
        Some(fs) => Some(fs.copy()?),
        None => None,
    };
    Ok((files, fs))
}

/// Makes the new task reachable: the task list, and the parent's children
/// for a new process. Nothing is changed if it fails.
fn link_child(me: &TaskRef, child: &TaskRef, f: u64) -> KResult<()> {
    reserve_rq_slots(nr_tasks() + 1)?;
    if f & CLONE_THREAD == 0 {
        let leader = me.signal.threads.lock().first().cloned().unwrap_or_else(|| me.clone());
        let mut children = me.signal.children.lock();
        children.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        children.push(child.clone());
        drop(children);
        *child.signal.parent.lock() = Some(leader);
    }
    if let Err(e) = register(child) {
        me.signal.children.lock().retain(|c| !Arc::ptr_eq(c, child));
        return Err(e);
    }
    Ok(())
}

/// The child's first code after its first switch-in (Linux: schedule_tail),
/// called by `ret_from_fork_user` before it returns to user space.
#[no_mangle]
extern "C" fn schedule_tail_user(set_child_tid: usize, frame: *mut TrapFrame) {
    let mm = super::core::finish_task_switch();
    crate::arch::irqflags::local_irq_enable();
    drop(mm);
    if set_child_tid != 0 {
        if let Some(me) = current() {
            // Linux ignores a failure here too.
            let _ = crate::mm::uaccess::copy_to_user(set_child_tid, &(me.pid as u32).to_le_bytes());
        }
    }
    // A signal may have come before the child ever ran.
    // SAFETY: `frame` is this task's user frame at its kernel stack top.
    crate::arch::exception::exit_to_user_mode(unsafe { &mut *frame });
    crate::arch::irqflags::local_irq_disable();
}
