//! Task exit (Linux: kernel/exit.c do_exit, do_group_exit, make_task_dead,
//! release_task, do_wait).
//!
//! An exiting thread gives its address space back, leaves its thread
//! group, marks itself TASK_DEAD, and switches away for the last time. The
//! last thread of a process makes it a zombie and tells the parent, which
//! reaps it with wait4. exit_group and fatal signals end every thread of
//! the process (do_group_exit). Its stack cannot be freed by the
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

/// Ends the current thread (Linux: do_exit).
pub fn do_exit(code: i32) -> ! {
    let me = current().expect("do_exit without a task");
    // The address space is let go (Linux: exit_mm): the last user tears
    // the mappings down; a kernel thread's borrowed mm is just given back.
    // This CPU may keep it loaded lazily until it switches.
    if !me.is_kthread() {
        super::jobctl::exit_group_stop(&me);
        mm_release(&me);
    }
    let mm = me.mm.lock().take();
    if let Some(mm) = mm {
        if !me.is_kthread() {
            mm.mmput();
        }
    }
    // Descriptors and working directory (Linux: exit_files, exit_fs): a
    // pipe's other end sees the close now, not when the parent reaps.
    let files = me.files.lock().take();
    let fs = me.fs.lock().take();
    drop((files, fs));
    let sig = me.signal.clone();
    sig.min_flt.fetch_add(me.min_flt.load(Relaxed), Relaxed);
    sig.maj_flt.fetch_add(me.maj_flt.load(Relaxed), Relaxed);
    sig.utime.fetch_add(me.utime.load(Relaxed), Relaxed);
    sig.stime.fetch_add(me.stime.load(Relaxed), Relaxed);
    let last = sig.thread_exited(me.pid, code);
    // Off the thread list: this breaks the task -> group -> task cycle.
    sig.threads.lock().retain(|t| !pagoda_klib::arc::Arc::ptr_eq(t, &me));
    if last && !me.is_kthread() {
        forget_original_parent(&sig);
    }
    me.set_state(TASK_DEAD);
    if last {
        // A zombie now: the parent's wait4 may reap it (Linux: exit_notify,
        // do_notify_parent).
        sig.set_zombie();
        let parent = sig.parent.lock().clone();
        if let Some(p) = parent {
            let exit_signal = sig.exit_signal.load(Relaxed);
            if exit_signal != 0 {
                super::signal::group_send_sig(&p, exit_signal);
            }
            p.signal.wait_chldexit.wake_up();
        }
    }
    drop(sig);
    drop(me);
    EXIT_WQ.wake_up();
    schedule();
    unreachable!("a dead task was scheduled again");
}

/// Ends the whole process: every other thread gets SIGKILL and exits with
/// the same status (Linux: do_group_exit). `status` is a wait status.
pub fn do_group_exit(status: i32) -> ! {
    let me = current().expect("do_group_exit without a task");
    let status = me.signal.start_group_exit(status);
    zap_other_threads(&me);
    drop(me);
    do_exit(status)
}

/// Sends SIGKILL to every other thread of the caller's process (Linux:
/// zap_other_threads). They die on their way back to user space, or at
/// once if they sleep interruptibly.
pub(super) fn zap_other_threads(me: &TaskRef) {
    me.signal.for_each_thread(|t| {
        if !pagoda_klib::arc::Arc::ptr_eq(t, me) {
            super::signal::send_signal(t, super::signal::SIGKILL);
        }
    });
}

/// Kills the other threads of the caller's process and waits until they
/// are gone, before exec replaces the address space (Linux: de_thread).
/// If the caller is not the leader, its exit code becomes the process's
/// status (Linux instead gives it the leader's TID).
pub fn de_thread() {
    let Some(me) = current() else { return };
    if me.signal.nr_threads() == 1 {
        return;
    }
    zap_other_threads(&me);
    EXIT_WQ.wait_event(|| me.signal.nr_threads() == 1);
    me.signal.leader_tid.store(me.pid, Release);
}

/// What a user thread does before it lets its address space go (Linux:
/// mm_release): clear the TID word and wake one futex waiter on it (how
/// pthread_join learns the thread is gone), and let a vfork parent go on.
pub(crate) fn mm_release(me: &TaskRef) {
    let tid_addr = me.clear_child_tid.swap(0, Relaxed);
    if tid_addr != 0 && crate::mm::uaccess::copy_to_user(tid_addr, &0u32.to_le_bytes()).is_ok() {
        let _ =
            crate::kernel::futex::futex_wake(tid_addr, 1, crate::kernel::futex::FUTEX_BITSET_MATCH_ANY, true);
    }
    if me.vfork_parent.swap(false, AcqRel) {
        EXIT_WQ.wake_up();
    }
}

/// The children of an exited process: Pagoda's init (the monitor) does
/// not wait, so they are detached instead of reparented (their ppid
/// becomes 1, as after Linux reparents them to init) and reaped on their
/// own (Linux: forget_original_parent).
fn forget_original_parent(sig: &super::thread_group::SignalStruct) {
    let children = core::mem::take(&mut *sig.children.lock());
    for c in children {
        c.signal.parent.lock().take();
    }
}

const WNOHANG: usize = 1;
const WUNTRACED: usize = 2;
const WCONTINUED: usize = 8;
const WALL_FLAGS: usize = 0x4000_0000 | 0x8000_0000 | 0x2000_0000; // __WALL, __WCLONE, __WNOTHREAD

/// wait4(2): reaps a zombie child and returns its PID and wait status
/// (Linux: kernel/exit.c kernel_wait4 -> do_wait -> wait_task_zombie).
/// `pid` > 0 is that child, -1 any child, 0 any child in the caller's
/// process group, < -1 any child in group -pid. Any thread of the parent
/// may reap any child of its process.
pub fn sys_wait4(pid: isize, wstatus: usize, options: usize, rusage: usize) -> KResult<usize> {
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WALL_FLAGS) != 0 {
        return Err(Errno::EINVAL);
    }
    let me = current().ok_or(Errno::ECHILD)?;
    let sig = &me.signal;
    let my_pgid = sig.pgid.load(Relaxed);
    let wanted = |c: &TaskRef| match pid {
        -1 => true,
        0 => c.signal.pgid.load(Relaxed) == my_pgid,
        p if p < -1 => c.signal.pgid.load(Relaxed) == p.unsigned_abs(),
        p => c.tgid == p as usize,
    };
    loop {
        {
            let mut children = sig.children.lock();
            if !children.iter().any(wanted) {
                return Err(Errno::ECHILD);
            }
            let untraced = options & WUNTRACED != 0;
            let continued = options & WCONTINUED != 0;
            // A stop or continue to report (Linux: wait_task_stopped,
            // wait_task_continued): the child stays.
            let report = children
                .iter()
                .filter(|c| wanted(c))
                .find_map(|c| super::jobctl::wait_report(c, untraced, continued).map(|st| (c.tgid, st)));
            if let Some((tgid, status)) = report {
                drop(children);
                if wstatus != 0 {
                    crate::mm::uaccess::copy_to_user(wstatus, &status.to_le_bytes())?;
                }
                if rusage != 0 {
                    crate::mm::uaccess::clear_user(rusage, 144)?;
                }
                return Ok(tgid);
            }
            if let Some(i) = children.iter().position(|c| wanted(c) && c.signal.is_zombie()) {
                let child = children.remove(i);
                drop(children);
                // The parent inherits the child's counts and its children's
                // (Linux: wait_task_zombie's cutime/cmin_flt sums).
                let cs = &child.signal;
                sig.cmin_flt.fetch_add(cs.min_flt.load(Relaxed) + cs.cmin_flt.load(Relaxed), Relaxed);
                sig.cmaj_flt.fetch_add(cs.maj_flt.load(Relaxed) + cs.cmaj_flt.load(Relaxed), Relaxed);
                sig.cutime.fetch_add(cs.utime.load(Relaxed) + cs.cutime.load(Relaxed), Relaxed);
                sig.cstime.fetch_add(cs.stime.load(Relaxed) + cs.cstime.load(Relaxed), Relaxed);
                if wstatus != 0 {
                    crate::mm::uaccess::copy_to_user(wstatus, &child.signal.exit_status().to_le_bytes())?;
                }
                if rusage != 0 {
                    let (u, s) = (cs.utime.load(Relaxed), cs.stime.load(Relaxed));
                    let faults = (cs.min_flt.load(Relaxed), cs.maj_flt.load(Relaxed));
                    crate::syscall::rusage::put_rusage(rusage, u, s, faults)?;
                }
                let tgid = child.tgid;
                drop(child);
                // The child's stack and task struct go now (Linux:
                // release_task), not at the next kernel thread's creation.
                reap();
                return Ok(tgid);
            }
        }
        if options & WNOHANG != 0 {
            return Ok(0);
        }
        let (untraced, continued) = (options & WUNTRACED != 0, options & WCONTINUED != 0);
        sig.wait_chldexit.wait_event_interruptible(|| {
            super::signal::signal_pending()
                || sig.children.lock().iter().any(|c| {
                    wanted(c) && (c.signal.is_zombie() || super::jobctl::has_report(c, untraced, continued))
                })
        });
        if super::signal::signal_pending() {
            return Err(Errno::ERESTARTSYS);
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
