//! What the threads of one process share (Linux: struct signal_struct and
//! struct sighand_struct, include/linux/sched/signal.h; the thread-group
//! parts of kernel/fork.c and kernel/exit.c).
//!
//! A process is a thread group: the leader, whose TID is the process ID
//! (`tgid`), and the threads `clone(CLONE_THREAD)` made. They share one
//! `SignalStruct`: the signal dispositions, the process-wide pending set
//! that kill(2) fills, the resource limits, the parent, the children, and
//! the exit status of a group exit. Each thread keeps its own pending set
//! (tgkill), mask and registers.
//!
//! Where Pagoda differs: Linux keeps the dispositions in a separate
//! `sighand_struct` because `CLONE_SIGHAND` can share them without
//! `CLONE_THREAD`; Pagoda only shares them between threads, and refuses
//! that combination. The children list is per process here (Linux keeps
//! one per thread and walks them all in do_wait).
//!
//! Lifetime: a process is a zombie once its leader is dead and `live`, the
//! count of threads not yet past do_exit, is 0. The leader's task struct
//! stays in the parent's `children` list until wait4 reaps it, so a leader
//! that exits before its threads (pthread_exit in main) is kept for its
//! exit status.

use super::signal::{SigAction, NSIG};
use super::task::TaskRef;
use super::wait::WaitQueue;
use crate::sync::SpinLockIrq;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering::*};
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::Errno;

/// Job control: a group stop under way or done, and what the parent has
/// not been told yet (Linux: SIGNAL_STOP_STOPPED, group_stop_count,
/// group_exit_code for the stop signal, SIGNAL_CLD_*).
#[derive(Default)]
pub struct JobCtl {
    /// The signal that stops the group; 0 when it runs.
    pub stop_sig: usize,
    /// Threads that have not parked yet.
    pub stopping: usize,
    /// Every thread has parked.
    pub stopped: bool,
    /// wait4(WUNTRACED) has a stop to report.
    pub report_stop: bool,
    /// wait4(WCONTINUED) has a continue to report.
    pub report_cont: bool,
}

/// The process-wide state of a thread group.
pub struct SignalStruct {
    /// Signal dispositions (Linux: sighand->action).
    pub(crate) sigactions: SpinLockIrq<[SigAction; NSIG]>,
    /// Signals sent to the process, not to one thread: bit n-1 for signal
    /// n (Linux: shared_pending). Any thread that does not block one may
    /// take it.
    pub(crate) shared_pending: AtomicU64,
    /// Threads not yet past do_exit (Linux: live).
    pub(super) live: AtomicUsize,
    /// Every thread of the group, the leader first (Linux: thread_head).
    /// A thread leaves it in do_exit, which breaks the reference cycle.
    pub(super) threads: SpinLockIrq<Vec<TaskRef>>,
    /// The wait status of a group exit (exit_group, a fatal signal), or
    /// -1 while there is none (Linux: SIGNAL_GROUP_EXIT + group_exit_code).
    group_exit_code: AtomicI32,
    /// Resource limits, (soft, hard) (Linux: rlim).
    rlim: SpinLockIrq<[(u64, u64); crate::syscall::rlimit::RLIM_NLIMITS]>,
    /// The process that forked this one, as its leader, until it exits
    /// (Linux: the leader's real_parent).
    pub(super) parent: SpinLockIrq<Option<TaskRef>>,
    /// Forked child processes (their leaders) not yet reaped by wait4,
    /// zombies included (Linux: the children lists of every thread).
    pub(super) children: SpinLockIrq<Vec<TaskRef>>,
    /// Where wait4 sleeps until a child exits (Linux: wait_chldexit).
    pub(super) wait_chldexit: WaitQueue,
    /// The TID whose exit code is the process's status when the group did
    /// not exit as a whole: the leader's (Linux reports the leader's
    /// exit_code), or the thread that exec'd after de_thread.
    pub(super) leader_tid: AtomicUsize,
    leader_code: AtomicI32,
    /// Set once every thread is past do_exit: wait4 may reap the process
    /// (Linux: the leader's EXIT_ZOMBIE with an empty thread group).
    zombie: AtomicBool,
    /// The signal the parent gets when the process ends (Linux: the
    /// leader's exit_signal, from clone's CSIGNAL bits; SIGCHLD for fork).
    pub(super) exit_signal: AtomicUsize,
    /// Job control state (stop and continue).
    pub jobctl: SpinLockIrq<JobCtl>,
    /// The process group and session (Linux: the PIDTYPE_PGID and
    /// PIDTYPE_SID pids). 0 is the kernel's own group and session, which
    /// init and the processes it starts belong to until setsid/setpgid.
    pub(crate) pgid: AtomicUsize,
    pub(crate) sid: AtomicUsize,
    /// Set once the process has exec'd: its parent may no longer move it to
    /// another group (Linux: the clear PF_FORKNOEXEC).
    pub(crate) did_exec: AtomicBool,
    /// Minor and major faults of reaped children, for getrusage
    /// (Linux: cmin_flt, cmaj_flt).
    pub(crate) cmin_flt: AtomicUsize,
    pub(crate) cmaj_flt: AtomicUsize,
    /// Faults of threads that have exited (Linux: signal->min_flt, maj_flt).
    pub(crate) min_flt: AtomicUsize,
    pub(crate) maj_flt: AtomicUsize,
    /// CPU ticks of exited threads, user and system (Linux: utime, stime).
    pub(crate) utime: AtomicU64,
    pub(crate) stime: AtomicU64,
    /// CPU ticks of reaped children (Linux: cutime, cstime).
    pub(crate) cutime: AtomicU64,
    pub(crate) cstime: AtomicU64,
    /// How much the OOM killer prefers this process, -1000 (never) to
    /// 1000 (first); inherited by fork (Linux: oom_score_adj).
    pub oom_score_adj: AtomicI32,
    /// The address space the OOM killer killed this process for; set once
    /// (Linux: oom_mm, with tsk_is_oom_victim).
    pub(crate) oom_mm: SpinLockIrq<Option<crate::mm::mm_types::MmRef>>,
    pub(crate) oom_victim: AtomicBool,
}

impl SignalStruct {
    /// A new process's state: default dispositions and the given limits.
    pub(super) fn alloc(
        rlim: [(u64, u64); crate::syscall::rlimit::RLIM_NLIMITS],
    ) -> Result<Arc<SignalStruct>, Errno> {
        Arc::try_new(SignalStruct {
            leader_tid: AtomicUsize::new(0),
            leader_code: AtomicI32::new(0),
            zombie: AtomicBool::new(false),
            exit_signal: AtomicUsize::new(0),
            jobctl: SpinLockIrq::new(JobCtl {
                stop_sig: 0,
                stopping: 0,
                stopped: false,
                report_stop: false,
                report_cont: false,
            }),
            pgid: AtomicUsize::new(0),
            sid: AtomicUsize::new(0),
            did_exec: AtomicBool::new(false),
            sigactions: SpinLockIrq::new([SigAction::DEFAULT; NSIG]),
            shared_pending: AtomicU64::new(0),
            live: AtomicUsize::new(1),
            threads: SpinLockIrq::new(Vec::new()),
            group_exit_code: AtomicI32::new(-1),
            rlim: SpinLockIrq::new(rlim),
            parent: SpinLockIrq::new(None),
            children: SpinLockIrq::new(Vec::new()),
            wait_chldexit: WaitQueue::new(),
            cmin_flt: AtomicUsize::new(0),
            cmaj_flt: AtomicUsize::new(0),
            min_flt: AtomicUsize::new(0),
            maj_flt: AtomicUsize::new(0),
            utime: AtomicU64::new(0),
            stime: AtomicU64::new(0),
            cutime: AtomicU64::new(0),
            cstime: AtomicU64::new(0),
            oom_score_adj: AtomicI32::new(0),
            oom_mm: SpinLockIrq::new(None),
            oom_victim: AtomicBool::new(false),
        })
        .map_err(|_| Errno::ENOMEM)
    }

    /// The (soft, hard) limit of `resource` (< RLIM_NLIMITS).
    pub fn rlimit(&self, resource: usize) -> (u64, u64) {
        self.rlim.lock()[resource]
    }

    pub fn set_rlimit(&self, resource: usize, lim: (u64, u64)) {
        self.rlim.lock()[resource] = lim;
    }

    /// Whether the group is exiting, and with which status.
    pub fn group_exit_code(&self) -> Option<i32> {
        let c = self.group_exit_code.load(Acquire);
        (c >= 0).then_some(c)
    }

    /// Starts a group exit with `code`, unless one is under way; returns
    /// the code the group exits with (Linux: the SIGNAL_GROUP_EXIT test in
    /// do_group_exit).
    pub(super) fn start_group_exit(&self, code: i32) -> i32 {
        match self.group_exit_code.compare_exchange(-1, code, AcqRel, Acquire) {
            Ok(_) => code,
            Err(prev) => prev,
        }
    }

    /// Calls `f` on each thread still in the group, with the group's
    /// thread list locked (Linux: for_each_thread under siglock): `f` must
    /// not sleep.
    pub fn for_each_thread(&self, mut f: impl FnMut(&TaskRef)) {
        for t in self.threads.lock().iter() {
            f(t);
        }
    }

    /// Records a thread's exit and returns true for the last thread (Linux:
    /// the atomic_dec_and_test(&signal->live) of do_exit).
    pub(super) fn thread_exited(&self, tid: usize, code: i32) -> bool {
        if tid == self.leader_tid.load(Acquire) {
            self.leader_code.store(code, Release);
        }
        self.live.fetch_sub(1, AcqRel) == 1
    }

    pub(super) fn set_zombie(&self) {
        self.zombie.store(true, Release);
    }

    /// Whether every thread has exited and the process waits to be reaped.
    pub fn is_zombie(&self) -> bool {
        self.zombie.load(Acquire)
    }

    /// The wait status of an ended process (Linux: wait_task_zombie's
    /// choice between group_exit_code and the leader's exit_code).
    pub fn exit_status(&self) -> i32 {
        self.group_exit_code().unwrap_or_else(|| self.leader_code.load(Acquire))
    }

    /// (user, system) ticks of the whole process: live threads and exited
    /// ones (Linux: thread_group_cputime).
    pub fn cputime(&self) -> (u64, u64) {
        let (mut u, mut s) = (self.utime.load(Relaxed), self.stime.load(Relaxed));
        self.for_each_thread(|t| {
            u += t.utime.load(Relaxed);
            s += t.stime.load(Relaxed);
        });
        (u, s)
    }

    /// Whether `t` is the first thread still in the group: the one to
    /// visit when each process is to be visited once (Linux:
    /// for_each_process with find_lock_task_mm).
    pub fn first_thread_is(&self, t: &super::task::Task) -> bool {
        self.threads.lock().first().is_some_and(|f| core::ptr::eq(&**f, t))
    }

    /// Whether the OOM killer chose this process (Linux: tsk_is_oom_victim).
    pub fn is_oom_victim(&self) -> bool {
        self.oom_victim.load(Acquire)
    }

    pub fn nr_threads(&self) -> usize {
        self.live.load(Acquire)
    }
}
