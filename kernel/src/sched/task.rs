//! Tasks (Linux: include/linux/sched.h struct task_struct, kernel/fork.c,
//! kernel/pid.c; arch/arm64/include/asm/current.h).
//!
//! A task is reference-counted ([`TaskRef`]): the task list, a run queue
//! that holds it, a wait queue or timer it sleeps on, and a kthread handle
//! each own a reference, so nothing is freed while another CPU can still
//! reach it (Linux: get_task_struct / put_task_struct). Its kernel stack is
//! freed earlier, when the dead task is reaped (see `exit.rs`), because
//! handles may outlive the thread.
//!
//! `current` is read from `sp_el0`, as arm64 Linux does: the kernel runs on
//! `SP_EL1`, so `SP_EL0` is a free register while at EL1, and
//! `cpu_switch_to` loads it with the next task. Entry from EL0 reloads it
//! from the per-CPU `__entry_task` (the user's stack pointer is in `SP_EL0`
//! while user code runs).
//!
//! Locking: `state` changes follow the rules in `core.rs`; `mm` is only
//! changed by the task itself (kthread_use_mm) and read under its lock
//! (Linux: task_lock); `ctx` only by the CPU switching the task.

use super::stack::KernelStack;
use crate::mm::mm_types::MmRef;
use crate::sync::SpinLockIrq;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::Errno;

/// A copy of a task's command name (Linux: char comm[TASK_COMM_LEN]).
#[derive(Clone, Copy)]
pub struct Comm([u8; 16]);

impl Comm {
    pub fn as_str(&self) -> &str {
        let n = self.0.iter().position(|&b| b == 0).unwrap_or(16);
        core::str::from_utf8(&self.0[..n]).unwrap_or("?")
    }
}

impl core::fmt::Display for Comm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An interrupted sleep that restart_syscall resumes (Linux: struct
/// restart_block, its nanosleep variant).
#[derive(Clone, Copy, Debug)]
pub enum RestartBlock {
    /// nanosleep until `deadline` (monotonic ns); the time left goes to
    /// `rem` if the sleep is interrupted again.
    Nanosleep { deadline: u64, rem: usize },
}

/// A counted reference to a task (Linux: a `task_struct *` with a reference).
pub type TaskRef = Arc<Task>;

/// Task states, with Linux's values (include/linux/sched.h). A task that
/// runs or waits on a run queue is TASK_RUNNING; `on_rq` tells which.
pub const TASK_RUNNING: u32 = 0x0000;
pub const TASK_INTERRUPTIBLE: u32 = 0x0001;
pub const TASK_UNINTERRUPTIBLE: u32 = 0x0002;
pub const TASK_STOPPED: u32 = 0x0004;
pub const TASK_DEAD: u32 = 0x0080;
pub const TASK_NEW: u32 = 0x0800;
/// The states a plain wake-up ends (Linux: TASK_NORMAL).
pub const TASK_NORMAL: u32 = TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE;

/// Task flags, with Linux's values.
pub const PF_IDLE: u32 = 0x0000_0002;
/// Reclaiming memory: its own allocations must not reclaim again.
pub const PF_MEMALLOC: u32 = 0x0000_0800;
pub const PF_KTHREAD: u32 = 0x0020_0000;

/// Saved callee-saved state of a task (layout shared with cpu_switch_to).
#[repr(C)]
#[derive(Default)]
pub(super) struct CpuContext {
    pub regs: [u64; 12], // x19..x30
    pub sp: u64,
}

/// A thread of execution (Linux: struct task_struct, the parts Pagoda uses).
pub struct Task {
    pub pid: usize,
    comm: SpinLockIrq<[u8; 16]>,
    flags: AtomicU32,
    /// TASK_* (Linux: __state).
    state: AtomicU32,
    /// On a run queue: queued or running (Linux: on_rq). Changed under the
    /// run queue's lock.
    pub(super) on_rq: AtomicBool,
    /// A CPU is running this task or still switching away from it: its
    /// saved context is not valid yet, so it must not run elsewhere, be
    /// migrated or be reaped (Linux: on_cpu).
    pub(super) on_cpu: AtomicBool,
    /// The CPU it runs or last ran on.
    cpu: AtomicUsize,
    /// The only CPU it may run on, if pinned (Linux: cpus_mask of one CPU).
    pub(super) affinity: Option<usize>,
    /// Serialises wake-ups of this task (Linux: pi_lock). Taken before a
    /// run-queue lock.
    pub(super) pi_lock: SpinLockIrq<()>,
    pub(super) ctx: UnsafeCell<CpuContext>,
    /// A user task's FP/SIMD and TLS registers while it is switched out;
    /// touched only by the CPU switching it, like `ctx`.
    pub(super) thread: UnsafeCell<crate::arch::fpsimd::ThreadState>,
    /// None for the boot CPU's idle task, which runs on the image's init_stack.
    pub(super) stack: SpinLockIrq<Option<KernelStack>>,
    /// The user address space, if any (Linux: mm; kernel threads have none
    /// unless they borrow one with kthread_use_mm).
    pub(super) mm: SpinLockIrq<Option<MmRef>>,
    pub(super) entry: Option<(fn(usize), usize)>,
    /// The thread group ID: the process ID, the leader's TID (Linux: tgid).
    pub tgid: usize,
    /// What the threads of the process share (Linux: signal and sighand).
    pub signal: Arc<super::thread_group::SignalStruct>,
    /// Signals sent to this thread (tgkill, faults), bit n-1 for signal n
    /// (Linux: pending.signal).
    pub(crate) pending: core::sync::atomic::AtomicU64,
    /// This thread must stop for its process's group stop (Linux:
    /// JOBCTL_STOP_PENDING).
    pub(crate) jobctl_stop: AtomicBool,
    /// The first argument of a system call that returned one of the
    /// ERESTART codes, to restart it with (Linux: orig_x0 in pt_regs).
    pub(crate) restart_x0: AtomicU64,
    /// Whether `restart_x0` holds a value (read on every return to user
    /// space, so an atomic rather than a lock).
    pub(crate) restart_pending: AtomicBool,
    /// How restart_syscall resumes an interrupted sleep (Linux:
    /// restart_block).
    pub(crate) restart_block: SpinLockIrq<Option<RestartBlock>>,
    /// The mask to restore after sigsuspend or ppoll waited with a
    /// temporary one: the signal frame saves it, or it comes back when no
    /// handler runs (Linux: saved_sigmask with TIF_RESTORE_SIGMASK).
    pub(crate) saved_sigmask: SpinLockIrq<Option<u64>>,
    /// Blocked signals, bit n-1 for signal n (Linux: blocked).
    pub(crate) blocked: core::sync::atomic::AtomicU64,
    /// The si_code and si_addr of a pending fault signal (Linux: the
    /// siginfo queued by force_sig_fault).
    pub(crate) fault_info: SpinLockIrq<Option<(usize, i32, u64)>>,
    /// Open files (Linux: files), shared by threads (CLONE_FILES).
    pub files: SpinLockIrq<Option<crate::fs::fdtable::FilesRef>>,
    /// Working directory (Linux: fs), shared by threads (CLONE_FS).
    pub fs: SpinLockIrq<Option<crate::fs::fdtable::FsRef>>,
    /// The jiffy a timed sleep (schedule_timeout) should end by, or 0; the
    /// lost-wake-up check in kernel/timer.rs reads it.
    pub sleep_expires: AtomicU64,
    /// The jiffy the task was last put on a run queue (the same check
    /// reports a runnable task that waits there for seconds).
    pub queued_at: AtomicU64,
    /// Set while the task waits on a futex; the waker clears it (Linux:
    /// the futex_q's presence on its bucket).
    pub(crate) futex_queued: AtomicBool,
    /// Set while a vfork parent waits for this child to exec or exit
    /// (Linux: vfork_done).
    pub(super) vfork_parent: AtomicBool,
    /// Written with 0 when the task exits (Linux: clear_child_tid).
    pub(super) clear_child_tid: AtomicUsize,
    /// Ticks spent in user mode and in the kernel (Linux: utime, stime, in
    /// jiffies here rather than ns).
    pub utime: AtomicU64,
    pub stime: AtomicU64,
    /// Page faults handled without I/O, and with (Linux: min_flt, maj_flt).
    pub min_flt: AtomicUsize,
    pub maj_flt: AtomicUsize,
    /// The alternate signal stack: (ss_sp, ss_size, ss_flags) (Linux:
    /// sas_ss_sp, sas_ss_size, sas_ss_flags).
    pub(crate) sigaltstack: SpinLockIrq<(usize, usize, u32)>,
    /// Times this task was switched in (Linux: nvcsw + nivcsw).
    pub switches: AtomicUsize,
}

// SAFETY: `ctx` is touched only by the CPU switching the task in or out,
// with interrupts masked (see core.rs); every other field is atomic or
// behind a lock.
unsafe impl Sync for Task {}
// SAFETY: as above.
unsafe impl Send for Task {}

impl Task {
    /// A new task. `group` is the thread group it joins (CLONE_THREAD), or
    /// None for a new process, which gets its own with default limits.
    pub(super) fn new(
        name: &str,
        pid: usize,
        group: Option<(usize, Arc<super::thread_group::SignalStruct>)>,
        flags: u32,
        stack: Option<KernelStack>,
        entry: Option<(fn(usize), usize)>,
        affinity: Option<usize>,
    ) -> Result<TaskRef, Errno> {
        let mut comm = [0u8; 16];
        let len = name.len().min(15); // TASK_COMM_LEN - 1
        comm[..len].copy_from_slice(&name.as_bytes()[..len]);
        let (tgid, signal) = match group {
            Some(g) => g,
            None => (pid, super::thread_group::SignalStruct::alloc(crate::syscall::rlimit::INIT_RLIMITS)?),
        };
        let task = Task {
            pid,
            tgid,
            signal,
            comm: SpinLockIrq::new(comm),
            flags: AtomicU32::new(flags),
            state: AtomicU32::new(TASK_NEW),
            on_rq: AtomicBool::new(false),
            on_cpu: AtomicBool::new(false),
            cpu: AtomicUsize::new(affinity.unwrap_or(0)),
            affinity,
            pi_lock: SpinLockIrq::new(()),
            ctx: UnsafeCell::new(CpuContext::default()),
            thread: UnsafeCell::new(crate::arch::fpsimd::ThreadState::default()),
            stack: SpinLockIrq::new(stack),
            mm: SpinLockIrq::new(None),
            entry,
            min_flt: AtomicUsize::new(0),
            maj_flt: AtomicUsize::new(0),
            utime: AtomicU64::new(0),
            stime: AtomicU64::new(0),
            sigaltstack: SpinLockIrq::new((0, 0, super::signal::SS_DISABLE)),
            clear_child_tid: AtomicUsize::new(0),
            vfork_parent: AtomicBool::new(false),
            futex_queued: AtomicBool::new(false),
            sleep_expires: AtomicU64::new(0),
            queued_at: AtomicU64::new(0),
            files: SpinLockIrq::new(None),
            fs: SpinLockIrq::new(None),
            pending: core::sync::atomic::AtomicU64::new(0),
            blocked: core::sync::atomic::AtomicU64::new(0),
            saved_sigmask: SpinLockIrq::new(None),
            jobctl_stop: AtomicBool::new(false),
            restart_x0: AtomicU64::new(0),
            restart_pending: AtomicBool::new(false),
            restart_block: SpinLockIrq::new(None),
            fault_info: SpinLockIrq::new(None),
            switches: AtomicUsize::new(0),
        };
        let task = Arc::try_new(task).map_err(|_| Errno::ENOMEM)?;
        {
            let mut threads = task.signal.threads.lock();
            threads.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
            threads.push(task.clone());
        }
        if task.is_group_leader() {
            task.signal.leader_tid.store(pid, Relaxed);
        } else {
            task.signal.live.fetch_add(1, AcqRel);
        }
        Ok(task)
    }

    /// Takes a task that never ran back out of its thread group, on the
    /// error path of its creation (Linux: the bad_fork_* unwinding).
    pub(super) fn discard(self_: &TaskRef) {
        self_.signal.threads.lock().retain(|t| !Arc::ptr_eq(t, self_));
        if !self_.is_group_leader() {
            self_.signal.live.fetch_sub(1, AcqRel);
        }
    }

    /// The command name (Linux: comm).
    /// The command name. Lock-free for the oops path: if someone is renaming
    /// the task right now, "?" is shown.
    pub fn name(&self) -> Comm {
        self.comm.try_lock().map_or(Comm(*b"?\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), |c| Comm(*c))
    }

    pub fn state(&self) -> u32 {
        self.state.load(Acquire)
    }

    /// Sets the state with a full barrier, so that a condition checked after
    /// it cannot be read before it (Linux: set_current_state's smp_store_mb).
    pub(super) fn set_state(&self, s: u32) {
        self.state.store(s, SeqCst);
    }

    pub fn cpu(&self) -> usize {
        self.cpu.load(Acquire)
    }

    pub(super) fn set_cpu(&self, cpu: usize) {
        self.cpu.store(cpu, Release);
    }

    pub fn is_idle(&self) -> bool {
        self.flags.load(Relaxed) & PF_IDLE != 0
    }

    pub fn is_kthread(&self) -> bool {
        self.flags.load(Relaxed) & PF_KTHREAD != 0
    }

    /// Whether PF_MEMALLOC is set: the task reclaims, or holds a lock
    /// reclaim may need.
    pub fn is_memalloc(&self) -> bool {
        self.flags.load(Relaxed) & PF_MEMALLOC != 0
    }

    /// Sets or clears PF_MEMALLOC; returns whether it was set (Linux:
    /// memalloc_noreclaim_save / _restore).
    pub fn set_memalloc(&self, on: bool) -> bool {
        let old = if on {
            self.flags.fetch_or(PF_MEMALLOC, Relaxed)
        } else {
            self.flags.fetch_and(!PF_MEMALLOC, Relaxed)
        };
        old & PF_MEMALLOC != 0
    }

    /// A kernel thread becoming a user process drops PF_KTHREAD (Linux:
    /// begin_new_exec -> current->flags &= ~PF_KTHREAD).
    pub(crate) fn clear_kthread(&self) {
        self.flags.fetch_and(!PF_KTHREAD, Relaxed);
    }

    /// Renames the task (Linux: __set_task_comm, at exec).
    pub(crate) fn set_comm(&self, name: &str) {
        let mut comm = [0u8; 16];
        let len = name.len().min(15);
        comm[..len].copy_from_slice(&name.as_bytes()[..len]);
        *self.comm.lock() = comm;
    }

    /// The parent's PID: 1 (init, the monitor) for a process it started
    /// and for an orphan.
    pub fn ppid(&self) -> usize {
        self.signal.parent.lock().as_ref().map_or(1, |p| p.tgid)
    }

    /// Whether this is the first thread of its process (Linux:
    /// thread_group_leader).
    pub fn is_group_leader(&self) -> bool {
        self.pid == self.tgid
    }

    /// The (soft, hard) limit of `resource` (< RLIM_NLIMITS), per process.
    pub fn rlimit(&self, resource: usize) -> (u64, u64) {
        self.signal.rlimit(resource)
    }

    pub fn set_rlimit(&self, resource: usize, lim: (u64, u64)) {
        self.signal.set_rlimit(resource, lim)
    }

    /// set_tid_address(2).
    pub fn set_clear_child_tid(&self, addr: usize) {
        self.clear_child_tid.store(addr, Relaxed);
    }

    /// The task's user address space (Linux: get_task_mm).
    pub fn mm(&self) -> Option<MmRef> {
        self.mm.lock().clone()
    }

    /// The bounds `[bottom, top)` of the task's kernel stack, if it has one.
    pub fn stack_range(&self) -> Option<(usize, usize)> {
        self.stack.try_lock()?.as_ref().map(|s| (s.bottom(), s.top()))
    }

    /// The state letter `ps` shows (Linux: task_state_to_char).
    pub fn state_char(&self) -> char {
        match self.state() {
            _ if self.is_idle() => 'I',
            TASK_RUNNING => 'R',
            TASK_INTERRUPTIBLE => 'S',
            TASK_UNINTERRUPTIBLE => 'D',
            TASK_STOPPED => 'T',
            TASK_DEAD => 'Z',
            _ => 'N',
        }
    }
}

/// Every task that has not been reaped (Linux: the init_task.tasks list).
pub(super) static TASKS: SpinLockIrq<Vec<TaskRef>> = SpinLockIrq::new(Vec::new());
static NEXT_PID: AtomicUsize = AtomicUsize::new(2);

/// A new PID; 1 is init's, 0 the idle tasks' (Linux: alloc_pid).
pub(super) fn alloc_pid() -> usize {
    NEXT_PID.fetch_add(1, Relaxed)
}

/// Adds a task to the task list (Linux: the list_add_tail_rcu in copy_process).
pub(super) fn register(t: &TaskRef) -> Result<(), Errno> {
    let mut tasks = TASKS.lock();
    tasks.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
    tasks.push(t.clone());
    Ok(())
}

/// The `i`th task of the task list, if there is one, taken with the list
/// locked only for that (for walks that sleep between tasks).
pub fn nth_task(i: usize) -> Option<TaskRef> {
    TASKS.lock().get(i).cloned()
}

pub fn nr_tasks() -> usize {
    TASKS.lock().len()
}

/// Calls `f` on every task if the task list is free now; for checks run
/// from interrupt context, which must not wait for the lock.
pub fn try_for_each_task(mut f: impl FnMut(&Task)) -> bool {
    match TASKS.try_lock() {
        Some(tasks) => {
            tasks.iter().for_each(|t| f(t));
            true
        }
        None => false,
    }
}

/// Whether the task is on a run queue and whether a CPU is running it or
/// switching away from it (Linux: on_rq, on_cpu), for diagnostics.
pub fn sched_flags(t: &Task) -> (bool, bool) {
    (t.on_rq.load(Acquire), t.on_cpu.load(Acquire))
}

/// The live task with this PID (Linux: find_task_by_vpid).
pub fn find_task_by_pid(pid: usize) -> Option<TaskRef> {
    TASKS.lock().iter().find(|t| t.pid == pid && !t.is_idle()).cloned()
}

/// The task this CPU runs, as a raw pointer from `sp_el0` (null before the
/// scheduler starts).
#[inline(always)]
pub(super) fn current_ptr() -> *const Task {
    let p = crate::arch::cpu::read_sp_el0();
    // Only a kernel address can be a task. Anything else means SP_EL0 holds
    // a user stack pointer (a bug this refuses to build on, or the oops
    // path looking at a broken state): no current task.
    if p < crate::arch::mm::layout::VA_START as u64 {
        return core::ptr::null();
    }
    p as *const Task
}

/// A live thread of the process `pid` names: the thread with that TID, or
/// else any live thread of the process with that ID (whose leader may have
/// exited already) (Linux: find_vpid, then pid_task with PIDTYPE_TGID).
pub fn find_process(pid: usize) -> Option<TaskRef> {
    let tasks = TASKS.lock();
    let live = |t: &&TaskRef| !t.is_idle() && t.state() != TASK_DEAD;
    tasks
        .iter()
        .filter(live)
        .find(|t| t.pid == pid)
        .or_else(|| tasks.iter().filter(live).find(|t| t.tgid == pid))
        .cloned()
}

/// The process ID of the newest live user process called `name` (pgrep
/// -n's choice).
pub fn find_process_by_name(name: &str) -> Option<usize> {
    let tasks = TASKS.lock();
    tasks
        .iter()
        .filter(|t| !t.is_kthread() && t.state() != TASK_DEAD && t.name().as_str() == name)
        .map(|t| t.tgid)
        .max()
}

/// Runs `f` on the current task without taking a reference (for the hot
/// paths: every return to user space asks about signals). None before the
/// scheduler starts.
pub fn with_current<R>(f: impl FnOnce(&Task) -> R) -> Option<R> {
    // SAFETY: as in current(): the running task cannot be freed while it
    // runs, and `f` runs on this CPU, in this task.
    unsafe { current_ptr().as_ref() }.map(f)
}

/// The task running on this CPU (Linux: current), or None before the
/// scheduler starts. Lock-free: safe in the oops path.
pub fn current() -> Option<TaskRef> {
    // SAFETY: sp_el0 holds the running task, which its run queue keeps
    // alive while it runs (it cannot be reaped before it switches away).
    unsafe { current_ptr().as_ref() }.map(|t| {
        // SAFETY: as above, `t` lives inside a TaskRef.
        unsafe { Arc::from_inner(t) }
    })
}

/// PID and name of the current task without taking a reference, for
/// messages: (0, "swapper/N") when there is no task yet.
pub fn current_pid_comm(w: impl FnOnce(usize, &str)) {
    // SAFETY: as in current().
    match unsafe { current_ptr().as_ref() } {
        Some(t) => w(t.pid, t.name().as_str()),
        None => w(0, "swapper"),
    }
}

/// `ps`: every task (each thread of a process: TGID is the process) with
/// its parent, CPU, state, switch count, CPU time (user + system, in
/// seconds), and its address space's size and resident memory in KiB (VSZ
/// and RSS, as procps's ps shows them; 0 for a kernel thread).
pub fn show_tasks() {
    crate::kprintln!("  PID   TGID   PPID  CPU  STATE  SWITCHES     TIME       VSZ      RSS  COMMAND");
    let hz = crate::kernel::time::hz().max(1);
    // The sizes first: reading an address space takes its mmap_lock, which
    // may sleep, so not with the task list locked.
    let mut rows = Vec::new();
    for t in TASKS.lock().iter() {
        if rows.try_reserve(1).is_ok() {
            rows.push(t.clone());
        }
    }
    for t in rows {
        let (vsz, rss) = match t.mm().filter(|_| !t.is_kthread()) {
            Some(mm) => (mm.mmap_lock.read().total_vm * 4, mm.get_mm_rss() * 4),
            None => (0, 0),
        };
        let ticks = t.utime.load(Relaxed) + t.stime.load(Relaxed);
        crate::kprintln!(
            "{:5}  {:5}  {:5}  {:3}  {:5}  {:8}  {:4}.{:02}  {:8}  {:7}  {}",
            t.pid,
            t.tgid,
            if t.is_kthread() { 0 } else { t.ppid() },
            t.cpu(),
            t.state_char(),
            t.switches.load(Relaxed),
            ticks / hz,
            ticks % hz * 100 / hz,
            vsz,
            rss,
            t.name()
        );
    }
}

fn cmd_ps(_: &str) {
    show_tasks();
}

crate::monitor_cmd!(MON_PS, "ps", "tasks: pid, CPU, state, switches", cmd_ps);

/// `bt PID`: the kernel call trace of a task that is not running, from the
/// frame pointer and return address its last switch saved (Linux: sysrq-t's
/// show_stack for one task). For finding where a task sleeps.
fn cmd_bt(args: &str) {
    let Some(t) = args.trim().parse().ok().and_then(find_task_by_pid) else {
        crate::kprintln!("usage: bt PID (a live task)");
        return;
    };
    if t.on_cpu.load(Acquire) {
        crate::kprintln!("bt: {} is running on CPU {}", t.pid, t.cpu());
        return;
    }
    // SAFETY: the task is switched out (on_cpu clear), so its saved
    // context is not being written; a racing switch-in makes the trace
    // stale, not unsafe, since the walk checks every frame address.
    let (fp, lr) = unsafe {
        let ctx = &*t.ctx.get();
        (ctx.regs[10] as usize, ctx.regs[11] as usize)
    };
    crate::kprintln!("{} ({}) state {}:", t.pid, t.name().as_str(), t.state_char());
    crate::arch::backtrace::print_trace(fp, lr, &mut crate::drivers::console::ConsoleWriter);
}

crate::monitor_cmd!(MON_BT, "bt", "bt PID: kernel call trace of a sleeping task", cmd_bt);
