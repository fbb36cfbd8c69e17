//! Kernel threads (Linux: kernel/kthread.c, and the kernel-thread half of
//! kernel/fork.c copy_process).
//!
//! `kthread_create` makes a task with its own vmalloc'd stack, in TASK_NEW,
//! and returns a [`KThread`] handle; `start` (or `kthread_run`) puts it on
//! the least loaded CPU. The thread runs `f(arg)`; returning from it is
//! `do_exit(0)`. The handle can wait for the exit (`join`) and read the
//! exit code; dropping it detaches the thread, which is then reaped on its
//! own.
//!
//! `kthread_use_mm` lets a kernel thread work in a user address space, as
//! Linux's io_uring and vhost workers do.

use super::core::{reserve_rq_slots, switch_mm_here, wake_up_new_task, wake_up_process};
use super::exit::{do_exit, reap, EXIT_WQ};
use super::stack::KernelStack;
use super::task::*;
use crate::arch::irqflags::local_irq_enable;
use crate::mm::mm_types::MmRef;
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::Errno;

extern "C" {
    fn ret_from_fork();
}

/// Makes a kernel thread that runs `f(arg)` once started, pinned to `cpu`
/// if given (Linux: copy_process for a kernel thread). ENOMEM if its stack,
/// task struct or run-queue room cannot be had.
pub(super) fn create_kthread(
    name: &str,
    pid: usize,
    flags: u32,
    f: fn(usize),
    arg: usize,
    cpu: Option<usize>,
) -> Result<TaskRef, Errno> {
    reap();
    let stack = KernelStack::alloc().ok_or(Errno::ENOMEM)?;
    let top = stack.top();
    let t = Task::new(name, pid, None, flags | PF_KTHREAD, Some(stack), Some((f, arg)), cpu)?;
    // SAFETY: the task has never run; its context is ours to set up.
    unsafe {
        let ctx = &mut *t.ctx.get();
        ctx.regs[0] = Arc::as_ptr(&t) as u64; // x19: kthread_entry's argument
        ctx.regs[11] = ret_from_fork as *const () as u64; // x30
        ctx.sp = top as u64;
    }
    // A wake-up in interrupt context must never have to grow a run queue:
    // make room on every queue for every task first.
    reserve_rq_slots(nr_tasks() + 1)?;
    register(&t)?;
    Ok(t)
}

/// Where a new kernel thread starts running Rust (from ret_from_fork, with
/// interrupts masked by the switch).
#[no_mangle]
extern "C" fn kthread_entry(task: *const Task) -> ! {
    let mm = super::core::finish_task_switch();
    local_irq_enable();
    drop(mm);
    // SAFETY: `task` is the running task, alive while it runs.
    let (f, arg) = unsafe { &*task }.entry.expect("kernel thread without a function");
    f(arg);
    do_exit(0)
}

/// A handle to a kernel thread (Linux: the task_struct reference that
/// kthread_create returns and kthread_stop drops).
pub struct KThread(TaskRef);

impl KThread {
    pub fn pid(&self) -> usize {
        self.0.pid
    }
    pub fn task(&self) -> &TaskRef {
        &self.0
    }
    pub fn state(&self) -> u32 {
        self.0.state()
    }
    /// Starts a thread made by `kthread_create`.
    pub fn start(&self) {
        wake_up_new_task(&self.0);
    }
    /// Wakes the thread if it sleeps (Linux: wake_up_process on it).
    pub fn wake_up(&self) -> bool {
        wake_up_process(&self.0)
    }
    /// Waits until the thread has exited and returns its exit code: 0 when
    /// its function returned, the signal number if an oops killed it.
    pub fn join(self) -> i32 {
        let t = self.0;
        EXIT_WQ.wait_event(|| t.signal.is_zombie());
        // It became a zombie just before its last schedule(), which marks it
        // TASK_DEAD: wait for that, or reap() would leave it (and what it
        // holds) for a later reap, and a caller counting objects after the
        // join would find them.
        while t.state() != super::task::TASK_DEAD {
            super::core::yield_now();
        }
        reap();
        t.signal.exit_status()
    }
}

/// Creates a kernel thread that does not run until `start`
/// (Linux: kthread_create / kthread_create_on_cpu).
pub fn kthread_create(name: &str, f: fn(usize), arg: usize, cpu: Option<usize>) -> Result<KThread, Errno> {
    create_kthread(name, alloc_pid(), 0, f, arg, cpu).map(KThread)
}

/// Creates and starts a kernel thread on the least loaded CPU, or on `cpu`
/// (Linux: kthread_run).
pub fn kthread_run(name: &str, f: fn(usize), arg: usize, cpu: Option<usize>) -> Result<KThread, Errno> {
    let k = kthread_create(name, f, arg, cpu)?;
    k.start();
    Ok(k)
}

/// Waits until `t` has exited; returns its exit code.
pub fn kthread_join(t: KThread) -> i32 {
    t.join()
}

/// Lets the current kernel thread work in `mm`: it becomes the task's mm
/// and is loaded in TTBR0 now (Linux: kthread_use_mm).
pub fn kthread_use_mm(mm: &MmRef) {
    let me = current().expect("kthread_use_mm before the scheduler");
    assert!(me.is_kthread(), "kthread_use_mm from a user task");
    let old_task_mm = me.mm.lock().replace(mm.clone());
    assert!(old_task_mm.is_none(), "kthread_use_mm: {} already uses an mm", me.name());
    drop(switch_mm_here(mm));
}

/// Makes `mm` the current task's address space for good, loads it, and
/// turns the kernel thread into a user process (Linux: exec_mmap and the
/// PF_KTHREAD clearing of begin_new_exec). The caller holds an mm_users
/// reference for the task (mmget), which do_exit gives back.
pub fn exec_mmap(mm: MmRef) {
    let me = current().expect("exec_mmap before the scheduler");
    if !me.is_kthread() {
        // The old mm's TID word and a waiting vfork parent (Linux:
        // exec_mm_release).
        super::exit::mm_release(&me);
    }
    drop(switch_mm_here(&mm));
    let old = me.mm.lock().replace(mm);
    if let Some(old) = old {
        if !me.is_kthread() {
            old.mmput();
        }
    }
    me.clear_kthread();
    me.signal.did_exec.store(true, core::sync::atomic::Ordering::Relaxed);
    super::signal::flush_signal_handlers(&me);
    // A fresh program starts with zeroed FP/SIMD registers and no TLS
    // (Linux: flush_thread -> fpsimd_flush_thread, tls_thread_flush).
    let flags = crate::arch::irqflags::local_irq_save();
    // SAFETY: the current task's own thread state, with interrupts masked;
    // only the CPU running a task touches it.
    unsafe {
        *me.thread.get() = crate::arch::fpsimd::ThreadState::default();
        crate::arch::fpsimd::thread_load(me.thread.get());
    }
    crate::arch::irqflags::local_irq_restore(flags);
}

/// Gives the mm back (Linux: kthread_unuse_mm). It stays loaded on this
/// CPU, lazily, until a task with another mm runs here.
pub fn kthread_unuse_mm() {
    let me = current().expect("kthread_unuse_mm before the scheduler");
    let mm = me.mm.lock().take();
    drop(mm);
}
