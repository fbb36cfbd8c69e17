//! fork for user processes (Linux: kernel/fork.c copy_process,
//! arch/arm64/kernel/process.c copy_thread, ret_from_fork).
//!
//! The child is a new task with its own kernel stack, a copy of the
//! parent's address space (copy on write, mm/fork.rs), the parent's FP/SIMD
//! and TLS registers and limits, and at the top of its kernel stack a copy
//! of the parent's user register frame with x0 = 0. Its first switch-in
//! lands in `ret_from_fork_user`, which leaves straight for user space
//! through that frame: fork returns 0 in the child and the child's PID in
//! the parent.

use super::core::{reserve_rq_slots, wake_up_new_task};
use super::stack::KernelStack;
use super::task::*;
use crate::arch::exception::TrapFrame;
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};

extern "C" {
    fn ret_from_fork_user();
}

/// Creates a child of the current user process that resumes from `frame`
/// (the parent's saved user registers) with x0 = 0. `child_tid`, if set,
/// receives the child's TID in the child's memory (CLONE_CHILD_SETTID) and
/// is cleared when it exits (CLONE_CHILD_CLEARTID). Returns the child's PID.
pub fn copy_process(frame: &TrapFrame, set_child_tid: usize, clear_child_tid: usize) -> KResult<usize> {
    let me = current().ok_or(Errno::ESRCH)?;
    let mm = me.mm().ok_or(Errno::EINVAL)?;
    let child_mm = crate::mm::fork::dup_mmap(&mm)?;
    let stack = KernelStack::alloc().ok_or(Errno::ENOMEM)?;
    let top = stack.top();
    let pid = alloc_pid();
    let child =
        Task::new(me.name().as_str(), pid, 0, Some(stack), None, None).inspect_err(|_| child_mm.mmput())?;
    *child.mm.lock() = Some(child_mm);
    for r in 0..crate::syscall::rlimit::RLIM_NLIMITS {
        child.set_rlimit(r, me.rlimit(r));
    }
    // Signal dispositions and the mask are inherited (Linux: copy_sighand).
    *child.sigactions.lock() = *me.sigactions.lock();
    child
        .blocked
        .store(me.blocked.load(core::sync::atomic::Ordering::Acquire), core::sync::atomic::Ordering::Release);
    child.clear_child_tid.store(clear_child_tid, core::sync::atomic::Ordering::Relaxed);
    // The user registers: the parent's frame, returning 0.
    let child_frame = (top - core::mem::size_of::<TrapFrame>()) as *mut TrapFrame;
    let mut regs = frame.clone();
    regs.regs[0] = 0;
    let flags = crate::arch::irqflags::local_irq_save();
    // SAFETY: the child has never run: its stack, context and thread state
    // are ours. The parent's FP/SIMD registers are live in this CPU (the
    // kernel never touches them) and are saved straight into the child;
    // interrupts are masked so that no switch happens meanwhile.
    unsafe {
        child_frame.write(regs);
        crate::arch::fpsimd::thread_save(child.thread.get());
        let ctx = &mut *child.ctx.get();
        ctx.regs[0] = child_frame as u64; // x19: the frame
        ctx.regs[1] = set_child_tid as u64; // x20
        ctx.regs[11] = ret_from_fork_user as *const () as u64; // x30
        ctx.sp = child_frame as u64;
    }
    crate::arch::irqflags::local_irq_restore(flags);
    reserve_rq_slots(nr_tasks() + 1)?;
    {
        let mut children = me.children.lock();
        children.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        children.push(child.clone());
    }
    *child.parent.lock() = Some(me.clone());
    if let Err(e) = register(&child) {
        me.children.lock().retain(|c| !Arc::ptr_eq(c, &child));
        return Err(e);
    }
    wake_up_new_task(&child);
    Ok(pid)
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
