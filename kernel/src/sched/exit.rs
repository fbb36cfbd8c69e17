//! Task exit (Linux: kernel/exit.c do_exit, make_task_dead, release_task).
//!
//! An exiting task marks itself TASK_DEAD, wakes whoever waits for exits,
//! and switches away for the last time. Its stack cannot be freed by the
//! task itself (it is running on it), nor by the next task until the switch
//! is over: `reap()` frees it once `on_cpu` is clear, and drops the task
//! list's reference. The task struct itself goes when the last reference
//! does (a KThread handle may keep it to read the exit code).

use super::core::schedule;
use super::task::*;
use super::wait::WaitQueue;
use alloc::vec::Vec;
use core::sync::atomic::Ordering::*;
use pagoda_klib::errno::{Errno, KResult};

/// Woken whenever a task exits.
pub static EXIT_WQ: WaitQueue = WaitQueue::new();

/// Ends the current task (Linux: do_exit).
pub fn do_exit(code: i32) -> ! {
    let me = current().expect("do_exit without a task");
    // The address space is let go (Linux: exit_mm): a user process's last
    // user tears its mappings down; a kernel thread's borrowed mm is just
    // given back. This CPU may keep it loaded lazily until it switches.
    let mm = me.mm.lock().take();
    if let Some(mm) = mm {
        if !me.is_kthread() {
            mm.mmput();
        }
    }
    if !me.is_kthread() {
        exit_notify_prepare(&me);
    }
    me.set_exit_code(code);
    me.set_state(TASK_DEAD);
    // A zombie now: the parent's wait4 may reap it (Linux: exit_notify).
    let parent = me.parent.lock().take();
    if let Some(p) = parent {
        p.wait_chldexit.wake_up();
    }
    drop(me);
    EXIT_WQ.wake_up();
    schedule();
    unreachable!("a dead task was scheduled again");
}

/// What a user task does on its way out before it becomes a zombie
/// (Linux: mm_release's clear_child_tid, forget_original_parent).
fn exit_notify_prepare(me: &TaskRef) {
    let tid_addr = me.clear_child_tid.swap(0, Relaxed);
    if tid_addr != 0 {
        // The futex wake that goes with it comes with futexes.
        let _ = crate::mm::uaccess::copy_to_user(tid_addr, &0u32.to_le_bytes());
    }
    // Orphans: Pagoda's init (the monitor) does not wait, so they are
    // detached instead of reparented, and reaped on their own.
    let children = core::mem::take(&mut *me.children.lock());
    for c in children {
        c.parent.lock().take();
    }
}

const WNOHANG: usize = 1;
const WUNTRACED: usize = 2;
const WCONTINUED: usize = 8;
const WALL_FLAGS: usize = 0x4000_0000 | 0x8000_0000 | 0x2000_0000; // __WALL, __WCLONE, __WNOTHREAD

/// wait4(2): reaps a zombie child and returns its PID and wait status
/// (Linux: kernel/exit.c kernel_wait4 -> do_wait -> wait_task_zombie).
/// `pid` -1 (or 0, as there are no process groups yet) means any child.
pub fn sys_wait4(pid: isize, wstatus: usize, options: usize, rusage: usize) -> KResult<usize> {
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WALL_FLAGS) != 0 {
        return Err(Errno::EINVAL);
    }
    let me = current().ok_or(Errno::ECHILD)?;
    let wanted = |c: &TaskRef| pid <= 0 || c.pid == pid as usize;
    loop {
        {
            let mut children = me.children.lock();
            if !children.iter().any(wanted) {
                return Err(Errno::ECHILD);
            }
            if let Some(i) = children.iter().position(|c| wanted(c) && c.state() == TASK_DEAD) {
                let child = children.remove(i);
                drop(children);
                if wstatus != 0 {
                    crate::mm::uaccess::copy_to_user(wstatus, &child.exit_code().to_le_bytes())?;
                }
                if rusage != 0 {
                    crate::mm::uaccess::clear_user(rusage, 144)?; // no accounting yet
                }
                return Ok(child.pid);
            }
        }
        if options & WNOHANG != 0 {
            return Ok(0);
        }
        me.wait_chldexit.wait_event_interruptible(|| {
            me.pending.load(Acquire) != 0
                || me.children.lock().iter().any(|c| wanted(c) && c.state() == TASK_DEAD)
        });
        if me.pending.load(Acquire) != 0 {
            return Err(Errno::EINTR);
        }
    }
}

/// Ends the current task after an oops (Linux: make_task_dead). A kernel
/// thread dies with the signal as its exit code and the system goes on;
/// the idle tasks, init and interrupt handlers cannot die, so the kernel
/// panics instead.
pub fn make_task_dead(signr: i32) -> ! {
    use pagoda_klib::sync::{in_interrupt, preempt_count, preempt_count_sub};
    if in_interrupt() {
        panic!("Aiee, killing interrupt handler!");
    }
    let Some(me) = current() else { panic!("Fatal exception") };
    if me.is_idle() {
        panic!("Attempted to kill the idle task!");
    }
    if me.pid == 1 {
        panic!("Attempted to kill init! exitcode={signr:#010x}");
    }
    // It may have died holding spin locks: they stay held (anyone waiting
    // for them will hang and show up in ps), but this CPU must not stay in
    // atomic context for the tasks that run next.
    let count = preempt_count();
    if count != 0 {
        log::info!("note: {}[{}] exited with preempt_count {count}", me.name(), me.pid);
        preempt_count_sub(count);
    }
    drop(me);
    do_exit(signr)
}

/// Frees the stacks of dead tasks and drops the task list's references
/// (Linux: release_task -> put_task_struct, and the stack freeing of
/// finish_task_switch). Called from process context only.
pub fn reap() {
    let dead: Vec<TaskRef> = {
        let mut tasks = TASKS.lock();
        let mut dead = Vec::new();
        if dead.try_reserve(tasks.len()).is_err() {
            return; // try again next time
        }
        tasks.retain(|t| {
            let is_dead = t.state() == TASK_DEAD;
            if is_dead {
                dead.push(t.clone());
            }
            !is_dead
        });
        dead
    };
    for t in dead {
        // The CPU that ran it may still be switching away from it.
        while t.on_cpu.load(Acquire) {
            core::hint::spin_loop();
        }
        let stack = t.stack.lock().take();
        drop(stack); // vfree, with no lock held
    }
}
