//! The idle tasks (Linux: kernel/sched/idle.c do_idle, init_idle, and
//! kernel/fork.c fork_idle).
//!
//! Each CPU has an idle task, `swapper/N` with PID 0, that runs when its
//! run queue is empty: it pulls a waiting task from the busiest CPU, and
//! otherwise sleeps in WFI until an interrupt. The boot CPU's initial
//! context becomes `swapper/0` (on the image's init_stack); each secondary
//! CPU starts on the stack of an idle task made for it beforehand.

use super::core::{pull_task, rq_queue_is_empty, schedule, set_curr_here};
use super::task::*;
use crate::kernel::percpu::{smp_processor_id, NR_CPUS};
use crate::kernel::time::jiffies;
use crate::sync::SpinLockIrq;
use pagoda_klib::errno::Errno;

/// Idle tasks made for CPUs not yet started (Linux: idle_threads).
static IDLE_THREADS: [SpinLockIrq<Option<TaskRef>>; NR_CPUS] = [const { SpinLockIrq::new(None) }; NR_CPUS];

fn idle_fn(_: usize) {
    unreachable!("an idle task is never started as a thread");
}

/// Makes the idle task of a CPU about to be started, with its stack; the
/// bring-up code starts the CPU on that stack (Linux: fork_idle).
pub fn fork_idle(cpu: usize) -> Result<usize, Errno> {
    let name = alloc::format!("swapper/{cpu}");
    let t = super::kthread::create_kthread(&name, 0, PF_IDLE, idle_fn, 0, Some(cpu))?;
    let top = t.stack_range().map(|(_, top)| top).ok_or(Errno::ENOMEM)?;
    *IDLE_THREADS[cpu].lock() = Some(t);
    Ok(top)
}

/// Drops the idle task of a CPU that did not start; reap() frees it.
pub fn unfork_idle(cpu: usize) {
    if let Some(t) = IDLE_THREADS[cpu].lock().take() {
        t.set_state(TASK_DEAD);
    }
}

/// Makes the code running on a secondary CPU its idle task, before the
/// CPU is marked online, so that nobody sees an online CPU without one
/// (Linux: init_idle, called from the bring-up path).
pub fn init_idle(cpu: usize) {
    let t = IDLE_THREADS[cpu].lock().take().expect("no idle task made for this CPU");
    set_curr_here(cpu, &t);
}

/// Makes the boot CPU's initial context `swapper/0` (Linux: init_task and
/// sched_init's init_idle(current)).
pub(super) fn init_boot_idle() -> Result<(), Errno> {
    let t = Task::new("swapper/0", 0, None, PF_IDLE | PF_KTHREAD, None, None, Some(0))?;
    register(&t)?;
    set_curr_here(0, &t);
    Ok(())
}

/// The idle loop of every CPU (Linux: do_idle).
pub fn cpu_idle() -> ! {
    let cpu = smp_processor_id();
    let mut idle_since = jiffies();
    let mut drained = false;
    loop {
        if rq_queue_is_empty(cpu) {
            pull_task(cpu);
        }
        if !rq_queue_is_empty(cpu) {
            schedule();
            idle_since = jiffies();
            drained = false;
        } else {
            // Idle for a second: give this CPU's cached free pages back, so
            // other CPUs can use them (Linux drains a CPU's pcp lists from
            // vmstat work when it goes quiet).
            if !drained && jiffies() > idle_since + crate::kernel::time::hz() {
                crate::mm::page_alloc::drain_local_pages();
                drained = true;
            }
            // Check and sleep with interrupts masked: a wake-up that lands
            // between the two leaves its interrupt pending, and WFI returns
            // at once (Linux: default_idle_call -> cpu_do_idle).
            let flags = crate::arch::irqflags::local_irq_save();
            if rq_queue_is_empty(cpu) {
                crate::arch::cpu::wait_for_interrupt();
            }
            crate::arch::irqflags::local_irq_restore(flags);
        }
    }
}
