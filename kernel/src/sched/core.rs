//! The scheduler core (Linux: kernel/sched/core.c): per-CPU run queues,
//! `schedule()`, wake-ups and the tick.
//!
//! - Round robin on per-CPU run queues. The tick asks for a reschedule when
//!   another task is waiting; the switch happens at the next scheduling
//!   point (`cond_resched()`, a sleep, `yield_now` and the idle loop).
//!   That is Linux's PREEMPT_NONE model: kernel code is never switched away
//!   from while it might hold a spin lock. (User tasks, later, are
//!   preempted on any tick when they return to EL0.)
//! - Sleeping follows Linux's protocol: a task sets its state (e.g.
//!   TASK_UNINTERRUPTIBLE), checks its condition, and calls `schedule()`,
//!   which takes it off the run queue (`on_rq` cleared) unless a wake-up
//!   already set it back to TASK_RUNNING. `try_to_wake_up` serialises on the
//!   task's `pi_lock`: a task still on a run queue just gets TASK_RUNNING
//!   back; one that left it is put on a run queue, once its CPU has
//!   finished switching away from it (`on_cpu` clear). No wake-up is lost,
//!   and none touches a task that is half switched out.
//! - The context switch also switches the user address space: TTBR0 and
//!   the ASID change when the next task's mm differs from the one loaded on
//!   this CPU. Kernel threads have no mm and keep whatever was loaded
//!   (Linux's lazy TLB mode), so switching to one costs no TLB work.
//!
//! Lock order: a task's pi_lock, then a run queue's lock; two run-queue
//! locks are never held at once.

use super::task::*;
use crate::arch::irqflags::{local_irq_restore, local_irq_save};
use crate::kernel::percpu::{smp_processor_id, NR_CPUS};
use crate::mm::mm_types::MmRef;
use crate::sync::SpinLockIrq;
use alloc::collections::VecDeque;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering::*};
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::Errno;

pub(super) struct Rq {
    /// Runnable tasks waiting for this CPU (each holds a reference).
    pub(super) queue: VecDeque<TaskRef>,
    pub(super) curr: Option<TaskRef>,
    pub(super) idle: Option<TaskRef>,
    /// The user address space in TTBR0 (Linux: the active_mm of the running
    /// task; x86 calls it cpu_tlbstate.loaded_mm).
    loaded_mm: Option<MmRef>,
    /// An mm this CPU stopped using, dropped once the switch is over and
    /// interrupts are back on (Linux: rq->prev_mm).
    prev_mm: Option<MmRef>,
}

pub(super) static RQS: [SpinLockIrq<Rq>; NR_CPUS] = [const {
    SpinLockIrq::new(Rq { queue: VecDeque::new(), curr: None, idle: None, loaded_mm: None, prev_mm: None })
}; NR_CPUS];
static NEED_RESCHED: [AtomicBool; NR_CPUS] = [const { AtomicBool::new(false) }; NR_CPUS];
pub(super) static READY: AtomicBool = AtomicBool::new(false);

/// The task each CPU is switching away from, as a reference given up with
/// Arc::into_raw, until finish_task_switch takes it back.
static SWITCHING_FROM: [AtomicPtr<Task>; NR_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; NR_CPUS];

/// The task each CPU runs, for the entry from EL0 to reload `current` into
/// sp_el0 (Linux: __entry_task).
#[no_mangle]
static __entry_task: [AtomicPtr<Task>; NR_CPUS] = [const { AtomicPtr::new(core::ptr::null_mut()) }; NR_CPUS];

extern "C" {
    fn cpu_switch_to(prev: *mut CpuContext, next: *const CpuContext, next_task: usize);
}

/// Makes `t` the task running on `cpu`, from code already running on that
/// CPU: the boot CPU's initial context, or a secondary's first instructions
/// (Linux: init_idle + the `current` set-up of the bring-up path).
pub(super) fn set_curr_here(cpu: usize, t: &TaskRef) {
    t.set_state(TASK_RUNNING);
    t.set_cpu(cpu);
    t.on_cpu.store(true, Release);
    t.on_rq.store(true, Release);
    let mut rq = RQS[cpu].lock();
    rq.curr = Some(t.clone());
    if t.is_idle() {
        rq.idle = Some(t.clone());
    }
    __entry_task[cpu].store(Arc::as_ptr(t).cast_mut(), Release);
    crate::arch::cpu::write_sp_el0(Arc::as_ptr(t) as u64);
}

/// Picks the next task and switches to it (Linux: __schedule).
/// Called with no spin lock held.
pub fn schedule() {
    if !READY.load(Acquire) {
        return;
    }
    let flags = local_irq_save();
    let cpu = smp_processor_id();
    NEED_RESCHED[cpu].store(false, Relaxed);
    let mut rq = RQS[cpu].lock();
    let prev = rq.curr.take().expect("schedule() on a CPU without tasks");
    // The state is read under the run-queue lock: a wake-up that got here
    // first set it back to TASK_RUNNING, and the task stays.
    if prev.state() == TASK_RUNNING {
        if !prev.is_idle() {
            // Room was reserved for every task when it was created.
            rq.queue.push_back(prev.clone());
            prev.queued_at.store(crate::kernel::time::jiffies(), Relaxed);
        }
    } else {
        prev.on_rq.store(false, Release); // deactivate_task
    }
    let next = match rq.queue.pop_front() {
        Some(t) => t,
        None => rq.idle.clone().unwrap_or_else(|| prev.clone()),
    };
    if Arc::ptr_eq(&prev, &next) {
        rq.curr = Some(next);
        drop(rq);
        drop(prev);
        local_irq_restore(flags);
        return;
    }
    next.set_cpu(cpu);
    next.on_cpu.store(true, Release); // Linux: prepare_task
    next.switches.fetch_add(1, Relaxed);
    switch_mm_locked(&mut rq, &next, cpu);
    // User tasks' FP/SIMD and TLS registers; the soft-float kernel never
    // changes them, so kernel threads have none to switch.
    // SAFETY: prev is running here and next is about to; no other CPU
    // touches either's thread state (next is on_cpu, prev still is).
    unsafe {
        if !prev.is_kthread() {
            crate::arch::fpsimd::thread_save(prev.thread.get());
        }
        if !next.is_kthread() {
            crate::arch::fpsimd::thread_load(next.thread.get());
        }
    }
    let prev_ctx = prev.ctx.get();
    let next_ctx = next.ctx.get();
    let next_ptr = Arc::as_ptr(&next);
    __entry_task[cpu].store(next_ptr.cast_mut(), Release);
    rq.curr = Some(next);
    drop(rq);
    // No reference may stay on this stack across the switch (prev might
    // never come back): hand prev's over to finish_task_switch.
    SWITCHING_FROM[cpu].store(Arc::into_raw(prev).cast_mut(), Release);
    // SAFETY: both contexts belong to tasks this CPU is switching between
    // with interrupts masked; next is on_cpu here, so no other CPU touches
    // its context, and prev's is saved before anyone may run it (on_cpu is
    // cleared only by finish_task_switch, after the switch).
    unsafe { cpu_switch_to(prev_ctx, next_ctx, next_ptr as usize) };
    // Back in prev, possibly much later and on another CPU.
    let mm = finish_task_switch();
    local_irq_restore(flags);
    drop(mm);
}

/// Runs on the task switched to, right after the switch, with interrupts
/// masked: the previous task's registers are saved now, so it may run
/// elsewhere or be reaped (Linux: finish_task_switch -> finish_lock_switch
/// clearing prev->on_cpu). Returns the mm this CPU stopped using, for the
/// caller to drop once interrupts are enabled.
pub(super) fn finish_task_switch() -> Option<MmRef> {
    let cpu = smp_processor_id();
    let prev = SWITCHING_FROM[cpu].swap(core::ptr::null_mut(), AcqRel);
    if !prev.is_null() {
        // SAFETY: schedule() gave this reference up with into_raw.
        let prev_ref = unsafe { Arc::from_raw(prev) };
        // Not the last reference: the task list keeps one until reap(),
        // which waits for on_cpu to clear.
        drop(prev_ref);
        // SAFETY: as just said, the task lives until on_cpu is clear, and
        // this store is the last access.
        unsafe { (*prev).on_cpu.store(false, Release) };
    }
    RQS[cpu].lock().prev_mm.take()
}

/// Loads `next`'s address space on this CPU if it has one and it is not
/// loaded yet (Linux: context_switch -> switch_mm_irqs_off). Kernel threads
/// keep the loaded one (lazy TLB).
fn switch_mm_locked(rq: &mut Rq, next: &Task, cpu: usize) {
    let Some(mm) = next.mm.try_lock().and_then(|m| m.clone()) else { return };
    if rq.loaded_mm.as_ref().is_some_and(|l| Arc::ptr_eq(l, &mm)) {
        return;
    }
    mm.switch_to_on(cpu);
    let old = rq.loaded_mm.replace(mm);
    // Dropping a reference to an mm may free its page tables: not here.
    debug_assert!(rq.prev_mm.is_none());
    rq.prev_mm = old;
}

/// Loads `mm` on this CPU now (kthread_use_mm). Returns the mm it replaced.
pub(super) fn switch_mm_here(mm: &MmRef) -> Option<MmRef> {
    let flags = local_irq_save();
    let cpu = smp_processor_id();
    let old = {
        let mut rq = RQS[cpu].lock();
        if rq.loaded_mm.as_ref().is_some_and(|l| Arc::ptr_eq(l, mm)) {
            None
        } else {
            mm.switch_to_on(cpu);
            rq.loaded_mm.replace(mm.clone())
        }
    };
    local_irq_restore(flags);
    old
}

/// Leaves lazy TLB mode on this CPU: if the running task has no mm, TTBR0
/// goes back to the empty reserved table and the lazily kept mm is let go
/// (Linux x86: leave_mm). For code that installs tables by hand.
pub fn leave_mm() {
    let flags = local_irq_save();
    let cpu = smp_processor_id();
    let old = {
        let mut rq = RQS[cpu].lock();
        let has_mm = rq.curr.as_ref().is_some_and(|c| c.mm.try_lock().is_some_and(|m| m.is_some()));
        if has_mm {
            None
        } else {
            crate::arch::mm::context::switch_to_reserved(cpu);
            rq.loaded_mm.take()
        }
    };
    local_irq_restore(flags);
    drop(old);
}

/// The address space loaded in TTBR0 on `cpu` (for tests and `ps`-like views).
pub fn loaded_mm(cpu: usize) -> Option<MmRef> {
    RQS[cpu].lock().loaded_mm.clone()
}

/// The CPU a waking task goes to: its pinned CPU, else the CPU it last ran
/// on if that one is idle, else the least loaded (Linux: select_task_rq_fair,
/// much simplified).
fn select_task_rq(p: &Task) -> usize {
    if let Some(cpu) = p.affinity {
        return cpu;
    }
    if p.state() == TASK_NEW {
        return select_cpu(); // Linux: the fork balance of wake_up_new_task
    }
    let last = p.cpu();
    if crate::kernel::smp::cpu_online(last) && load(last) == 0 {
        return last;
    }
    select_cpu()
}

/// Wakes `p` if its state is in `mask` (Linux: try_to_wake_up). Returns
/// whether it did. Safe from interrupt handlers: it neither allocates nor
/// frees.
pub fn try_to_wake_up(p: &Task, mask: u32) -> bool {
    let _pi = p.pi_lock.lock();
    if p.state() & mask == 0 {
        return false;
    }
    if p.on_rq.load(Acquire) {
        // Still on its run queue (it has not reached schedule(), or is
        // being migrated): TASK_RUNNING keeps it there (ttwu_runnable).
        let rq = RQS[p.cpu()].lock();
        if p.on_rq.load(Acquire) {
            p.set_state(TASK_RUNNING);
            drop(rq);
            return true;
        }
    }
    // Off every run queue. Its CPU may still be saving its registers: wait
    // for that (Linux: smp_cond_load_acquire(&p->on_cpu, !VAL)).
    let mut spins = 0u64;
    while p.on_cpu.load(Acquire) {
        core::hint::spin_loop();
        spins += 1;
        if spins == 1 << 28 {
            // A switch never takes this long: say so once, for whoever
            // debugs the hang (the wait goes on, as it must).
            log::error!(
                "BUG: waking pid {} ({}): CPU{} has not finished switching away from it",
                p.pid,
                p.name(),
                p.cpu()
            );
        }
    }
    let cpu = select_task_rq(p);
    p.set_cpu(cpu);
    {
        let mut rq = RQS[cpu].lock();
        // SAFETY: the caller's reference keeps p alive for this call.
        rq.queue.push_back(unsafe { Arc::from_inner(p) });
        p.queued_at.store(crate::kernel::time::jiffies(), Relaxed);
        p.on_rq.store(true, Release); // activate_task
        p.set_state(TASK_RUNNING);
    }
    resched_cpu(cpu);
    true
}

/// Makes a sleeping task runnable (Linux: wake_up_process).
pub fn wake_up_process(p: &Task) -> bool {
    try_to_wake_up(p, TASK_NORMAL)
}

/// Starts a task made by kthread_create (Linux: wake_up_new_task).
pub(super) fn wake_up_new_task(p: &Task) -> bool {
    try_to_wake_up(p, TASK_NEW)
}

/// Asks `cpu` to reschedule at its next scheduling point (Linux: resched_curr).
fn resched_cpu(cpu: usize) {
    if cpu == smp_processor_id() {
        set_need_resched();
    } else {
        crate::kernel::smp::send_ipi(cpu, crate::kernel::smp::IPI_RESCHEDULE);
    }
}

/// Gives up the CPU if a reschedule is pending (Linux: cond_resched).
pub fn cond_resched() {
    if NEED_RESCHED[smp_processor_id()].load(Relaxed) {
        schedule();
    }
}

/// Lets other runnable tasks run (Linux: yield).
pub fn yield_now() {
    schedule();
}

/// Called from the IPI and the tick: the next scheduling point should
/// reschedule (Linux: set_tsk_need_resched).
pub fn set_need_resched() {
    NEED_RESCHED[smp_processor_id()].store(true, Relaxed);
}

/// Sets the current task's state before it checks a condition and sleeps
/// (Linux: set_current_state).
pub fn set_current_state(state: u32) {
    // SAFETY: the current task is alive while it runs.
    if let Some(t) = unsafe { current_ptr().as_ref() } {
        t.set_state(state);
    }
}

/// Every tick, on every CPU (Linux: scheduler_tick). Interrupt context:
/// nothing here allocates or frees.
/// Whether this CPU's current interrupt came from user space.
static IRQ_FROM_USER: [AtomicBool; NR_CPUS] = [const { AtomicBool::new(false) }; NR_CPUS];

/// Set by the EL0 interrupt entry around the handler.
pub fn set_irq_from_user(on: bool) {
    IRQ_FROM_USER[smp_processor_id()].store(on, Relaxed);
}

/// Charges the tick to the running task, as user or system time (Linux:
/// account_process_tick, tick-based accounting without
/// VIRT_CPU_ACCOUNTING).
fn account_process_tick(cpu: usize) {
    // SAFETY: the running task cannot be freed while it runs here.
    let Some(t) = (unsafe { super::task::current_ptr().as_ref() }) else { return };
    if t.is_idle() {
        return;
    }
    if IRQ_FROM_USER[cpu].load(Relaxed) {
        t.utime.fetch_add(1, Relaxed);
    } else {
        t.stime.fetch_add(1, Relaxed);
    }
}

pub(super) fn scheduler_tick() {
    let cpu = smp_processor_id();
    account_process_tick(cpu);
    if cpu == 0 {
        crate::kernel::timer::run_timers();
        crate::mm::kswapd::kick();
    }
    if !RQS[cpu].lock().queue.is_empty() {
        NEED_RESCHED[cpu].store(true, Relaxed);
    }
}

/// Runnable tasks on a CPU, counting the one running unless it is idle.
pub(super) fn load(cpu: usize) -> usize {
    let rq = RQS[cpu].lock();
    rq.queue.len() + rq.curr.as_ref().is_some_and(|c| !c.is_idle()) as usize
}

/// The least loaded online CPU (Linux: select_task_rq).
pub(super) fn select_cpu() -> usize {
    (0..NR_CPUS).filter(|&c| crate::kernel::smp::cpu_online(c)).min_by_key(|&c| load(c)).unwrap_or(0)
}

/// Makes room on every run queue for one more task, so that a wake-up in
/// interrupt context never has to grow a queue.
pub(super) fn reserve_rq_slots(ntasks: usize) -> Result<(), Errno> {
    for rq in RQS.iter() {
        let mut rq = rq.lock();
        let len = rq.queue.len();
        rq.queue.try_reserve(ntasks.saturating_sub(len)).map_err(|_| Errno::ENOMEM)?;
    }
    Ok(())
}

/// Load balance: an idle CPU takes a waiting task from the busiest queue
/// (Linux: newidle_balance, much simplified).
pub(super) fn pull_task(cpu: usize) {
    let busiest = (0..NR_CPUS)
        .filter(|&c| c != cpu && crate::kernel::smp::cpu_online(c))
        .max_by_key(|&c| RQS[c].lock().queue.len());
    let Some(b) = busiest else { return };
    let stolen = {
        let mut rq = RQS[b].lock();
        if rq.queue.len() < 2 {
            return;
        }
        // A task still being switched out over there cannot move yet, nor
        // can a pinned one (Linux: can_migrate_task).
        let movable = |t: &TaskRef| !t.on_cpu.load(Acquire) && t.affinity.is_none();
        let Some(i) = rq.queue.iter().rposition(movable) else { return };
        rq.queue.remove(i)
    };
    if let Some(t) = stolen {
        // Still on_rq throughout; a wake-up meanwhile only finds it running.
        t.set_cpu(cpu);
        t.queued_at.store(crate::kernel::time::jiffies(), Relaxed);
        RQS[cpu].lock().queue.push_back(t);
    }
}

/// Whether no task waits for `cpu`.
pub(super) fn rq_queue_is_empty(cpu: usize) -> bool {
    RQS[cpu].lock().queue.is_empty()
}
