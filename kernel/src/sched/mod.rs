//! Tasks and scheduling (Linux: kernel/sched/, kernel/kthread.c,
//! kernel/exit.c, the task parts of kernel/fork.c).
//!
//! - `task.rs`: the task struct, its reference count, states, `current`, ps;
//! - `thread_group.rs`: what the threads of a process share (signal_struct);
//! - `stack.rs`: vmalloc'd kernel stacks with a guard page;
//! - `core.rs`: run queues, `schedule()`, wake-ups, mm switching, the tick;
//! - `wait.rs`: wait queues; `completion.rs`: one-shot events on top;
//! - `kthread.rs`: kernel threads and `kthread_use_mm`;
//! - `fork.rs`: fork, vfork and threads (copy_process, ret_from_fork);
//! - `exit.rs`: `do_exit`, wait4, `make_task_dead` (an oopsing kernel thread dies
//!   alone), and reaping;
//! - `signal.rs`: kill, tgkill, handlers, sigaltstack, default actions;
//! - `idle.rs`: the idle tasks and the idle loop.
//!
//! Sleeping for a time (`msleep`) is in `kernel/timer.rs`, as in Linux.

mod completion;
mod core;
mod exit;
pub mod fork;
mod idle;
mod jobctl;
mod kthread;
mod pgrp;
mod signal;
pub mod stack;
mod task;
mod thread_group;
mod wait;

// Part of the API is used only by the tests until user tasks arrive.
#[cfg_attr(not(feature = "ktest"), allow(unused_imports))]
pub use self::core::{
    cond_resched, leave_mm, loaded_mm, schedule, set_current_state, set_irq_from_user, set_need_resched,
    wake_up_process, yield_now,
};
pub use completion::Completion;
#[cfg_attr(not(feature = "ktest"), allow(unused_imports))]
pub use exit::{de_thread, do_exit, do_group_exit, make_task_dead, reap, sys_wait4};
pub use fork::{copy_process, CloneArgs};
pub use idle::{cpu_idle, fork_idle, init_idle, unfork_idle};
#[cfg_attr(not(feature = "ktest"), allow(unused_imports))]
pub use kthread::{
    exec_mmap, kthread_create, kthread_join, kthread_run, kthread_unuse_mm, kthread_use_mm, KThread,
};
pub use pgrp::{sys_getpgid, sys_getsid, sys_setpgid, sys_setsid};
pub use signal::{
    do_signal, force_sig_fault, has_handler, restart_pending, restore_saved_sigmask, set_temporary_sigmask,
    signal_pending, sys_kill, sys_rt_sigaction, sys_rt_sigprocmask, sys_rt_sigreturn, sys_rt_sigsuspend,
    sys_sigaltstack, sys_tgkill,
};
pub use signal::{fatal_signal_pending, group_send_sig, send_signal, NSIG, SIGKILL, SIGPIPE};
#[cfg_attr(not(feature = "ktest"), allow(unused_imports))]
pub use task::{
    current, current_pid_comm, find_process, find_process_by_name, nr_tasks, nth_task, sched_flags,
    try_for_each_task, with_current, Comm, RestartBlock, Task, TaskRef, TASK_DEAD, TASK_INTERRUPTIBLE,
    TASK_NEW, TASK_RUNNING, TASK_UNINTERRUPTIBLE,
};
pub use wait::WaitQueue;

#[cfg(feature = "ktest")]
mod tests;

use ::core::sync::atomic::{AtomicUsize, Ordering::*};

/// Sets up the boot CPU's idle task and the tick hook (Linux: sched_init).
pub fn sched_init() {
    idle::init_boot_idle().expect("no memory for swapper/0");
    crate::kernel::time::set_tick_hook(self::core::scheduler_tick);
    self::core::READY.store(true, Release);
    log::info!("sched: round-robin run queues, PREEMPT_NONE, HZ={}", crate::kernel::time::hz());
}

/// Starts init (PID 1) running `f` on the boot CPU, and turns the boot
/// context into the idle loop (Linux: rest_init, which starts kernel_init
/// as PID 1 and ends in cpu_startup_entry).
pub fn rest_init(f: fn(usize)) -> ! {
    match kthread::create_kthread("init", 1, 0, f, 0, Some(0)) {
        Ok(t) => {
            self::core::wake_up_new_task(&t);
        }
        Err(e) => panic!("no memory to start init: {e}"),
    }
    cpu_idle()
}

/// Times might_sleep() found a caller that must not sleep.
pub static MIGHT_SLEEP_WARNINGS: AtomicUsize = AtomicUsize::new(0);

/// Reports a call that may sleep made where sleeping is a bug: in an
/// interrupt, with a spin lock held, or with interrupts masked (Linux:
/// might_sleep -> __might_sleep, "BUG: sleeping function called from
/// invalid context"). The first few print the context and a call trace;
/// all are counted in MIGHT_SLEEP_WARNINGS. Silent until the scheduler runs
/// (boot runs with interrupts masked, as Linux's early boot does).
#[track_caller]
pub fn might_sleep() {
    use crate::sync::{in_atomic, in_interrupt};
    if !self::core::READY.load(Relaxed) {
        return;
    }
    let irqs_off = crate::arch::irqflags::irqs_disabled();
    if !in_atomic() && !irqs_off {
        return;
    }
    let n = MIGHT_SLEEP_WARNINGS.fetch_add(1, Relaxed);
    if n >= 10 {
        return; // rate limit, as Linux's prev_jiffy check does
    }
    let loc = ::core::panic::Location::caller();
    log::error!("BUG: sleeping function called from invalid context at {}:{}", loc.file(), loc.line());
    current_pid_comm(|pid, name| {
        log::error!(
            "in_atomic(): {}, irqs_disabled(): {}, in_interrupt(): {}, pid: {pid}, name: {name}",
            in_atomic() as u8,
            irqs_off as u8,
            in_interrupt() as u8
        )
    });
    let mut w = crate::drivers::console::OopsWriter;
    let _ = ::core::fmt::Write::write_str(&mut w, "Call trace:\n");
    let fp = crate::arch::backtrace::current_fp();
    crate::arch::backtrace::print_trace(fp, might_sleep as *const () as usize, &mut w);
}
