//! Kernel threads and the scheduler (Linux: kernel/sched/core.c,
//! kernel/kthread.c, kernel/sched/wait.c), kept small.
//!
//! - Per-CPU run queues, round robin. The timer tick asks for a reschedule
//!   when another task is waiting; the switch happens at the next
//!   scheduling point: `cond_resched()`, `msleep`, `wait_event`, `yield_now`
//!   and the idle loop. That is Linux's PREEMPT_NONE model: kernel code is
//!   never switched away from while it might hold a spin lock. (User tasks,
//!   later, are preempted on any tick when they return to EL0.)
//! - Each CPU has an idle task (`swapper/N`) that sleeps in WFI, pulling a
//!   runnable task from the busiest CPU first (a simple load balance).
//!   `kthread_run` puts a new thread on the least loaded CPU.
//! - Context switch (`cpu_switch_to`) saves callee-saved registers and sp;
//!   the user-task issue will add FP/SIMD state and TTBR0/ASID there.

use crate::arch::irqflags::{local_irq_enable, local_irq_restore, local_irq_save};
use crate::kernel::percpu::{smp_processor_id, NR_CPUS};
use crate::kernel::time::{jiffies, msecs_to_jiffies};
use crate::mm::page_alloc::{__free_pages, alloc_pages, page_address};
use crate::sync::SpinLockIrq;
use crate::{kprintln, monitor_cmd};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use pagoda_mm::gfp::Gfp;

const STACK_ORDER: usize = 4; // 64 KiB kernel stacks

/// Saved callee-saved state of a task (layout shared with cpu_switch_to).
#[repr(C)]
#[derive(Default)]
struct Context {
    regs: [u64; 12], // x19..x30
    sp: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TaskState {
    Running = 0,
    Runnable = 1,
    Sleeping = 2,
    Dead = 3,
}

/// A kernel thread (Linux: struct task_struct, the parts we need).
pub struct Task {
    pub pid: usize,
    name: [u8; 16],
    state: AtomicU8,
    pub cpu: AtomicUsize,
    ctx: UnsafeCell<Context>,
    wake_at: AtomicU64,
    pub switches: AtomicUsize,
    idle: bool,
    /// Nobody holds a handle any more: once dead, the task can be freed.
    released: AtomicBool,
    /// A CPU is running this task or still switching away from it: its
    /// saved context is not valid yet, so it must not run elsewhere, be
    /// migrated or be freed (Linux: task_struct.on_cpu).
    on_cpu: AtomicBool,
    stack_pfn: usize,
    entry: Option<fn(usize)>,
    arg: usize,
}

// SAFETY: `ctx` is touched only by the CPU switching the task in or out,
// with its run queue's interrupts masked.
unsafe impl Sync for Task {}

impl Task {
    pub fn name(&self) -> &str {
        let n = self.name.iter().position(|&b| b == 0).unwrap_or(16);
        core::str::from_utf8(&self.name[..n]).unwrap_or("?")
    }
    pub fn state(&self) -> TaskState {
        match self.state.load(Acquire) {
            0 => TaskState::Running,
            1 => TaskState::Runnable,
            2 => TaskState::Sleeping,
            _ => TaskState::Dead,
        }
    }
    fn set_state(&self, s: TaskState) {
        self.state.store(s as u8, Release);
    }
}

struct Rq {
    queue: VecDeque<&'static Task>,
    current: Option<&'static Task>,
    idle: Option<&'static Task>,
    /// Ticks the current task has run.
    ticks: u64,
}

static RQS: [SpinLockIrq<Rq>; NR_CPUS] =
    [const { SpinLockIrq::new(Rq { queue: VecDeque::new(), current: None, idle: None, ticks: 0 }) }; NR_CPUS];
static NEED_RESCHED: [AtomicBool; NR_CPUS] = [const { AtomicBool::new(false) }; NR_CPUS];
static TASKS: SpinLockIrq<Vec<&'static Task>> = SpinLockIrq::new(Vec::new());
static SLEEPERS: SpinLockIrq<Vec<&'static Task>> = SpinLockIrq::new(Vec::new());
static NEXT_PID: AtomicUsize = AtomicUsize::new(1);
static READY: AtomicBool = AtomicBool::new(false);

extern "C" {
    fn cpu_switch_to(prev: *mut Context, next: *const Context);
    fn ret_from_fork();
}

fn new_task(
    name: &str,
    pid: usize,
    idle: bool,
    stack_pfn: usize,
    entry: Option<fn(usize)>,
    arg: usize,
) -> &'static Task {
    let mut n = [0u8; 16];
    let len = name.len().min(15);
    n[..len].copy_from_slice(&name.as_bytes()[..len]);
    let t: &'static Task = Box::leak(Box::new(Task {
        pid,
        name: n,
        state: AtomicU8::new(TaskState::Running as u8),
        cpu: AtomicUsize::new(smp_processor_id()),
        ctx: UnsafeCell::new(Context::default()),
        wake_at: AtomicU64::new(0),
        switches: AtomicUsize::new(0),
        idle,
        released: AtomicBool::new(false),
        on_cpu: AtomicBool::new(false),
        stack_pfn,
        entry,
        arg,
    }));
    TASKS.lock().push(t);
    t
}

/// Makes the code running on this CPU a task: `init` on CPU 0 (the
/// monitor or test runner), the idle task `swapper/N` on the others.
fn adopt_current(cpu: usize) {
    let task = if cpu == 0 {
        new_task("init", 1, false, 0, None, 0)
    } else {
        new_task(&alloc::format!("swapper/{cpu}"), 0, true, 0, None, 0)
    };
    task.on_cpu.store(true, Release);
    let mut rq = RQS[cpu].lock();
    rq.current = Some(task);
    if cpu != 0 {
        rq.idle = Some(task);
    }
}

/// Makes the code running on a secondary CPU its idle task `swapper/N`,
/// before the CPU is marked online, so that nobody sees an online CPU
/// without one (Linux: init_idle, called from the CPU bring-up path).
pub fn init_idle(cpu: usize) {
    if RQS[cpu].lock().current.is_none() {
        adopt_current(cpu);
    }
}

/// Sets up CPU 0's tasks and the tick hook (Linux: sched_init).
pub fn sched_init() {
    NEXT_PID.store(2, Relaxed);
    adopt_current(0);
    // CPU 0's idle task needs a stack of its own.
    let idle = spawn("swapper/0", idle_thread, 0, Some(0), true).expect("no memory for swapper/0");
    RQS[0].lock().idle = Some(idle);
    crate::kernel::time::set_tick_hook(scheduler_tick);
    READY.store(true, Release);
    log::info!("sched: round-robin run queues, PREEMPT_NONE, HZ={}", crate::kernel::time::hz());
}

fn idle_thread(_: usize) {
    cpu_idle()
}

/// The idle loop of every CPU (Linux: do_idle).
pub fn cpu_idle() -> ! {
    let cpu = smp_processor_id();
    if cpu != 0 && RQS[cpu].lock().current.is_none() {
        adopt_current(cpu);
    }
    let mut idle_since = jiffies();
    let mut drained = false;
    loop {
        if RQS[cpu].lock().queue.is_empty() {
            pull_task(cpu);
        }
        if !RQS[cpu].lock().queue.is_empty() {
            schedule();
            idle_since = jiffies();
            drained = false;
        } else {
            // Idle for a second: give this CPU's cached free pages and slab
            // objects back, so other CPUs can use them (Linux drains a CPU's
            // pcp lists and array caches from vmstat and cache_reap work).
            if !drained && jiffies() > idle_since + crate::kernel::time::hz() {
                crate::mm::page_alloc::drain_local_pages();
                drained = true;
            }
            crate::arch::cpu::wait_for_interrupt();
        }
    }
}

/// Load balance: an idle CPU takes a waiting task from the busiest queue.
fn pull_task(cpu: usize) {
    let busiest = (0..NR_CPUS)
        .filter(|&c| c != cpu && crate::kernel::smp::cpu_online(c))
        .max_by_key(|&c| RQS[c].lock().queue.len());
    let Some(b) = busiest else { return };
    let stolen = {
        let mut rq = RQS[b].lock();
        // A task still being switched out over there cannot move yet
        // (Linux: can_migrate_task refuses a task_on_cpu).
        if rq.queue.len() < 2 || rq.queue.back().is_some_and(|t| t.on_cpu.load(Acquire)) {
            return;
        }
        rq.queue.pop_back()
    };
    if let Some(t) = stolen {
        t.cpu.store(cpu, Release);
        RQS[cpu].lock().queue.push_back(t);
    }
}

/// Picks the next task and switches to it (Linux: __schedule).
pub fn schedule() {
    if !READY.load(Acquire) {
        return;
    }
    let flags = local_irq_save();
    let cpu = smp_processor_id();
    NEED_RESCHED[cpu].store(false, Relaxed);
    let switch = {
        let mut rq = RQS[cpu].lock();
        let prev = rq.current.expect("schedule() on a CPU without tasks");
        if prev.state() == TaskState::Running && !prev.idle {
            prev.set_state(TaskState::Runnable);
            rq.queue.push_back(prev);
        }
        let next = match rq.queue.pop_front() {
            Some(t) => t,
            // A Runnable prev was queued above, so an empty queue means prev
            // is idle or going to sleep: run the idle task.
            None => rq.idle.unwrap_or(prev),
        };
        next.set_state(TaskState::Running);
        next.cpu.store(cpu, Release);
        rq.current = Some(next);
        rq.ticks = 0;
        (!core::ptr::eq(prev, next)).then_some((prev, next))
    };
    if let Some((prev, next)) = switch {
        next.switches.fetch_add(1, Relaxed);
        next.on_cpu.store(true, Release);
        LAST_SWITCHED_FROM[cpu].store(prev as *const Task as *mut Task, Release);
        // SAFETY: both contexts belong to tasks this CPU is switching with
        // interrupts masked; `prev` resumes here when switched back in.
        unsafe { cpu_switch_to(prev.ctx.get(), next.ctx.get()) };
        // Back in `prev`, possibly much later and on another CPU.
        finish_task_switch();
    }
    local_irq_restore(flags);
}

/// The task each CPU just switched away from, until the switch is complete.
static LAST_SWITCHED_FROM: [core::sync::atomic::AtomicPtr<Task>; NR_CPUS] =
    [const { core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()) }; NR_CPUS];

/// Runs on the task switched to, right after the switch: the previous task's
/// registers are saved now, so it may run elsewhere or be freed (Linux:
/// finish_task_switch -> finish_lock_switch, clearing prev->on_cpu).
fn finish_task_switch() {
    let prev = LAST_SWITCHED_FROM[smp_processor_id()].swap(core::ptr::null_mut(), AcqRel);
    // SAFETY: a task is only freed by reap() once its on_cpu is clear, which
    // is what this store does last; until then the pointer is valid.
    if let Some(prev) = unsafe { prev.as_ref() } {
        prev.on_cpu.store(false, Release);
    }
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
    if !READY.load(Relaxed) {
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
    let loc = core::panic::Location::caller();
    let (pid, name) = current_nolock().map_or((0, "?"), |t| (t.pid, t.name()));
    log::error!("BUG: sleeping function called from invalid context at {}:{}", loc.file(), loc.line());
    log::error!(
        "in_atomic(): {}, irqs_disabled(): {}, in_interrupt(): {}, pid: {pid}, name: {name}",
        in_atomic() as u8,
        irqs_off as u8,
        in_interrupt() as u8
    );
    let mut w = crate::drivers::console::OopsWriter;
    let _ = core::fmt::Write::write_str(&mut w, "Call trace:\n");
    let fp = crate::arch::backtrace::current_fp();
    crate::arch::backtrace::print_trace(fp, might_sleep as *const () as usize, &mut w);
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

/// Called from the IPI: the next scheduling point should reschedule.
pub fn set_need_resched() {
    NEED_RESCHED[smp_processor_id()].store(true, Relaxed);
}

/// The task running on this CPU (Linux: current).
pub fn current() -> Option<&'static Task> {
    RQS[smp_processor_id()].lock().current
}

/// `current` if the run-queue lock is free, for the oops path (which may
/// have interrupted the lock's holder).
pub fn current_nolock() -> Option<&'static Task> {
    RQS[smp_processor_id()].try_lock().and_then(|rq| rq.current)
}

/// Makes a sleeping task runnable on its CPU (Linux: wake_up_process).
pub fn wake_up_process(t: &'static Task) {
    let cpu = t.cpu.load(Acquire);
    {
        let mut rq = RQS[cpu].lock();
        if t.state() != TaskState::Sleeping {
            return;
        }
        if rq.current.is_some_and(|c| core::ptr::eq(c, t)) {
            t.set_state(TaskState::Running); // woken before it got to schedule()
            return;
        }
        t.set_state(TaskState::Runnable);
        rq.queue.push_back(t);
    }
    if cpu != smp_processor_id() {
        crate::kernel::smp::send_ipi(cpu, crate::kernel::smp::IPI_RESCHEDULE);
    } else {
        set_need_resched();
    }
}

/// Every tick, on every CPU (Linux: scheduler_tick + the timer wheel's
/// sleeper wake-ups).
fn scheduler_tick() {
    let cpu = smp_processor_id();
    // Interrupt context: nothing here may allocate or free memory (the
    // interrupted code may hold an allocator lock).
    if cpu == 0 {
        let now = jiffies();
        loop {
            let due = {
                let mut s = SLEEPERS.lock();
                let i = s.iter().position(|t| t.wake_at.load(Relaxed) <= now);
                i.map(|i| s.swap_remove(i))
            };
            match due {
                Some(t) => wake_up_process(t),
                None => break,
            }
        }
        crate::mm::kswapd::kick();
    }
    let mut rq = RQS[cpu].lock();
    rq.ticks += 1;
    if !rq.queue.is_empty() {
        NEED_RESCHED[cpu].store(true, Relaxed);
    }
}

/// Sleeps for at least `ms` milliseconds (Linux: msleep).
pub fn msleep(ms: u64) {
    let Some(t) = current().filter(|_| READY.load(Acquire)) else {
        let end = jiffies() + msecs_to_jiffies(ms);
        while jiffies() < end {
            crate::arch::cpu::wait_for_interrupt();
        }
        return;
    };
    t.wake_at.store(jiffies() + msecs_to_jiffies(ms).max(1), Relaxed);
    {
        let mut s = SLEEPERS.lock();
        t.set_state(TaskState::Sleeping);
        s.push(t);
    }
    schedule();
}

/// Tasks waiting for a condition (Linux: wait_queue_head_t).
pub struct WaitQueue {
    waiters: SpinLockIrq<Vec<&'static Task>>,
}

impl WaitQueue {
    pub const fn new() -> Self {
        WaitQueue { waiters: SpinLockIrq::new(Vec::new()) }
    }

    /// Sleeps until `cond()` holds (Linux: wait_event). The condition is
    /// re-checked after queueing, so a wake-up cannot be lost.
    pub fn wait_event(&self, cond: impl Fn() -> bool) {
        loop {
            if cond() {
                return;
            }
            let Some(t) = current() else { return };
            {
                let mut w = self.waiters.lock();
                // No panic if the queue cannot grow: try again after others ran.
                if w.try_reserve(1).is_err() {
                    drop(w);
                    yield_now();
                    continue;
                }
                t.set_state(TaskState::Sleeping);
                w.push(t);
            }
            if cond() {
                self.waiters.lock().retain(|x| !core::ptr::eq(*x, t));
                t.set_state(TaskState::Running);
                return;
            }
            schedule();
        }
    }

    /// Wakes every waiter (Linux: wake_up_all). Safe in interrupt context:
    /// it neither allocates nor frees.
    pub fn wake_up(&self) {
        let mut w = self.waiters.lock();
        while let Some(t) = w.pop() {
            wake_up_process(t);
        }
    }
}

/// Where a new kernel thread starts running Rust (from ret_from_fork).
#[no_mangle]
extern "C" fn kthread_entry(task: &'static Task) -> ! {
    finish_task_switch();
    local_irq_enable();
    if let Some(f) = task.entry {
        f(task.arg);
    }
    // The thread returned: it is dead; its stack is freed by reap().
    task.set_state(TaskState::Dead);
    EXIT_WQ.wake_up();
    loop {
        schedule();
    }
}

/// Woken whenever a kernel thread exits.
pub static EXIT_WQ: WaitQueue = WaitQueue::new();

/// Frees dead threads whose handle is gone: their stack and their task
/// struct (Linux: release_task / delayed_put_task_struct).
pub fn reap() {
    let reapable = |t: &&'static Task| t.state() == TaskState::Dead && t.released.load(Acquire);
    let dead: Vec<&'static Task> = {
        let mut tasks = TASKS.lock();
        let dead = tasks.iter().copied().filter(reapable).collect();
        tasks.retain(|t| !reapable(t));
        dead
    };
    for t in dead {
        // A dead task may be the one a CPU is switching away from right now;
        // it is off every run queue, and its stack and context are no longer
        // in use once that switch has finished (on_cpu cleared).
        while t.on_cpu.load(Acquire) {
            core::hint::spin_loop();
        }
        if t.stack_pfn != 0 {
            __free_pages(t.stack_pfn, STACK_ORDER);
        }
        // SAFETY: the task is dead, off every list, not running, and its
        // handle was dropped: no reference to it is left.
        drop(unsafe { Box::from_raw(t as *const Task as *mut Task) });
    }
}

/// A handle to a kernel thread. Dropping it detaches the thread; a dead
/// thread is freed once its handle is gone.
pub struct KThread(&'static Task);

impl KThread {
    pub fn pid(&self) -> usize {
        self.0.pid
    }
    pub fn state(&self) -> TaskState {
        self.0.state()
    }
    /// Starts a thread made by `kthread_create` (Linux: wake_up_process).
    pub fn start(&self) {
        wake_up_process(self.0);
    }
    /// Waits until the thread has exited (Linux: kthread_stop's wait).
    pub fn join(self) {
        let t = self.0;
        EXIT_WQ.wait_event(|| t.state() == TaskState::Dead);
    }
}

impl Drop for KThread {
    fn drop(&mut self) {
        self.0.released.store(true, Release);
    }
}

/// Runnable tasks on a CPU, counting the one running unless it is idle.
fn load(cpu: usize) -> usize {
    let rq = RQS[cpu].lock();
    rq.queue.len() + rq.current.is_some_and(|c| !c.idle) as usize
}

/// The least loaded online CPU (Linux: select_task_rq).
fn select_cpu() -> usize {
    (0..NR_CPUS).filter(|&c| crate::kernel::smp::cpu_online(c)).min_by_key(|&c| load(c)).unwrap_or(0)
}

fn spawn(name: &str, f: fn(usize), arg: usize, cpu: Option<usize>, idle: bool) -> Option<&'static Task> {
    spawn_state(name, f, arg, cpu, idle, true)
}

fn spawn_state(
    name: &str,
    f: fn(usize),
    arg: usize,
    cpu: Option<usize>,
    idle: bool,
    start: bool,
) -> Option<&'static Task> {
    reap();
    let stack = alloc_pages(Gfp::GFP_KERNEL, STACK_ORDER).ok()?;
    let pid = if idle { 0 } else { NEXT_PID.fetch_add(1, Relaxed) };
    let t = new_task(name, pid, idle, stack, Some(f), arg);
    // Run queues and the sleeper list must never grow in interrupt context
    // (a tick waking a sleeper): make room for every task now.
    let ntasks = TASKS.lock().len();
    for rq in RQS.iter() {
        let mut rq = rq.lock();
        let len = rq.queue.len();
        rq.queue.reserve(ntasks.saturating_sub(len));
    }
    {
        let mut s = SLEEPERS.lock();
        let len = s.len();
        s.reserve(ntasks.saturating_sub(len));
    }
    // SAFETY: the task has never run; its context is ours to set up.
    unsafe {
        let ctx = &mut *t.ctx.get();
        ctx.regs[0] = t as *const Task as u64; // x19
        ctx.regs[11] = ret_from_fork as *const () as u64; // x30
        ctx.sp = (page_address(stack) + (4096 << STACK_ORDER)) as u64;
    }
    let cpu = cpu.unwrap_or_else(select_cpu);
    t.cpu.store(cpu, Release);
    if !start {
        t.set_state(TaskState::Sleeping); // wake_up_process starts it
    } else if !idle {
        t.set_state(TaskState::Runnable);
        RQS[cpu].lock().queue.push_back(t);
        if cpu != smp_processor_id() {
            crate::kernel::smp::send_ipi(cpu, crate::kernel::smp::IPI_RESCHEDULE);
        }
    } else {
        t.set_state(TaskState::Runnable);
    }
    Some(t)
}

/// Creates a kernel thread that does not run until `wake_up_process`
/// (Linux: kthread_create).
pub fn kthread_create(name: &str, f: fn(usize), arg: usize, cpu: Option<usize>) -> Option<KThread> {
    spawn_state(name, f, arg, cpu, false, false).map(KThread)
}

/// Creates and starts a kernel thread on the least loaded CPU, or on `cpu`
/// (Linux: kthread_run / kthread_create_on_cpu).
pub fn kthread_run(name: &str, f: fn(usize), arg: usize, cpu: Option<usize>) -> Option<KThread> {
    spawn(name, f, arg, cpu, false).map(KThread)
}

/// Waits until `t` has exited; its memory is freed afterwards.
pub fn kthread_join(t: KThread) {
    t.join()
}

/// ps.
pub fn show_tasks() {
    kprintln!("  PID  CPU  STATE  SWITCHES  COMMAND");
    for t in TASKS.lock().iter() {
        let st = match t.state() {
            TaskState::Running => "R",
            TaskState::Runnable => "R",
            TaskState::Sleeping => "S",
            TaskState::Dead => "Z",
        };
        let st = if t.idle { "I" } else { st };
        kprintln!(
            "{:5}  {:3}  {:5}  {:8}  {}",
            t.pid,
            t.cpu.load(Relaxed),
            st,
            t.switches.load(Relaxed),
            t.name()
        );
    }
}

fn cmd_ps(_: &str) {
    show_tasks();
}

monitor_cmd!(MON_PS, "ps", "kernel threads: pid, CPU, state, switches", cmd_ps);

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

    static SEEN_CPU: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(usize::MAX) }; NR_CPUS];

    fn record_cpu(slot: usize) {
        yield_now(); // still pinned: yielding must bring it back to its CPU
        SEEN_CPU[slot].store(smp_processor_id(), Relaxed);
    }

    #[ktest]
    fn kthreads_run_on_every_cpu() {
        let n = crate::kernel::percpu::num_online_cpus();
        let threads: Vec<KThread> =
            (0..n).map(|c| kthread_run("ktest-cpu", record_cpu, c, Some(c)).unwrap()).collect();
        for t in threads {
            kthread_join(t);
        }
        for (c, seen) in SEEN_CPU.iter().enumerate().take(n) {
            assert_eq!(seen.load(Relaxed), c, "thread pinned to CPU{c} ran elsewhere");
        }
    }

    static WQ: WaitQueue = WaitQueue::new();
    static FLAG: AtomicBool = AtomicBool::new(false);
    static WOKE: AtomicBool = AtomicBool::new(false);

    fn sleeper(_: usize) {
        WQ.wait_event(|| FLAG.load(Acquire));
        WOKE.store(true, Release);
    }

    #[ktest]
    fn wait_queues_wake_sleepers() {
        FLAG.store(false, Release);
        WOKE.store(false, Release);
        let t = kthread_run("ktest-sleeper", sleeper, 0, None).unwrap();
        // Give it time to go to sleep on the queue.
        let t0 = jiffies();
        while t.state() != TaskState::Sleeping && jiffies() < t0 + 100 {
            msleep(10);
        }
        assert_eq!(t.state(), TaskState::Sleeping, "the thread did not sleep on the wait queue");
        assert!(!WOKE.load(Acquire));
        FLAG.store(true, Release);
        WQ.wake_up();
        kthread_join(t);
        assert!(WOKE.load(Acquire));
    }

    static STARTED: AtomicBool = AtomicBool::new(false);
    fn mark_started(_: usize) {
        STARTED.store(true, Release);
    }

    #[ktest]
    fn kthread_create_waits_for_wake_up_process() {
        STARTED.store(false, Release);
        let t = kthread_create("ktest-created", mark_started, 0, None).unwrap();
        assert!(t.pid() > 1);
        msleep(30);
        assert!(!STARTED.load(Acquire), "kthread_create must not start the thread");
        assert_eq!(t.state(), TaskState::Sleeping);
        t.start();
        kthread_join(t);
        assert!(STARTED.load(Acquire));
    }

    fn churn_pages(_: usize) {
        for _ in 0..8 {
            let p = crate::mm::page_alloc::alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
            crate::mm::page_alloc::__free_pages(p, 0);
        }
    }

    #[ktest]
    fn an_idle_cpu_drains_its_pcp_lists() {
        let cpu = crate::kernel::percpu::num_online_cpus() - 1;
        let pcp_of = |cpu: usize| -> usize {
            crate::mm::page_alloc::page_allocator().zones().map(|z| z.pcp[cpu].lock().count).sum()
        };
        let t = kthread_run("ktest-churn", churn_pages, 0, Some(cpu)).unwrap();
        kthread_join(t);
        if cpu == 0 {
            return; // one CPU: nothing idles while the test runs
        }
        assert!(pcp_of(cpu) > 0, "the thread left no pages on CPU{cpu}'s lists");
        // The CPU drains after a second of continuous idleness; a periodic
        // thread may interrupt that once, so allow up to four seconds.
        let t0 = jiffies();
        while pcp_of(cpu) > 0 && jiffies() < t0 + 4 * crate::kernel::time::hz() {
            msleep(100);
        }
        assert_eq!(pcp_of(cpu), 0, "CPU{cpu} went idle but kept its pcp pages");
    }

    #[ktest]
    fn msleep_sleeps_at_least_that_long() {
        let j0 = jiffies();
        msleep(50);
        assert!(jiffies() >= j0 + msecs_to_jiffies(50), "woke after {} jiffies", jiffies() - j0);
    }

    static CALLED_ON: AtomicUsize = AtomicUsize::new(usize::MAX);
    fn note_cpu() {
        CALLED_ON.store(smp_processor_id(), Relaxed);
    }

    static EACH: AtomicUsize = AtomicUsize::new(0);
    fn count_me() {
        EACH.fetch_add(1 << (4 * smp_processor_id()), Relaxed);
    }

    #[ktest]
    fn on_each_cpu_runs_everywhere_once() {
        EACH.store(0, Relaxed);
        crate::kernel::smp::on_each_cpu(count_me);
        let n = crate::kernel::percpu::num_online_cpus();
        let want: usize = (0..n).map(|c| 1 << (4 * c)).sum();
        assert_eq!(EACH.load(Relaxed), want);
    }

    #[ktest]
    fn call_function_ipi_runs_on_the_target_cpu() {
        let last = crate::kernel::percpu::num_online_cpus() - 1;
        assert!(crate::kernel::smp::smp_call_function_single(last, note_cpu));
        assert_eq!(CALLED_ON.load(Relaxed), last);
    }
}
