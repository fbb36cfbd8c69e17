//! The OOM killer (Linux: mm/oom_kill.c out_of_memory, select_bad_process,
//! oom_badness, oom_kill_process, dump_header, dump_tasks, the oom_reaper).
//!
//! When reclaim has done what it can and a small allocation that may
//! touch the filesystem still fails, the page allocator calls
//! `out_of_memory`. It gives memory back the only way left: it kills a
//! process.
//!
//! ```text
//! alloc_pages slow path: reclaim, no progress 16 times
//!   -> out_of_memory(gfp, order)
//!        the caller is dying already?       -> let it use reserves, retry
//!        vm.panic_on_oom?                    -> panic, with the report
//!        select_bad_process: every process, oom_badness =
//!            rss + swap entries + page tables (pages)
//!            + oom_score_adj * (RAM + swap) / 1000
//!          a victim still on its way out     -> wait for it, retry
//!        oom_kill_process: the report, SIGKILL to the victim (and every
//!          process sharing its mm), queue it for the oom_reaper
//!   -> the allocator retries; the victim exits or the reaper empties it
//! oom_reaper: unmaps the victim's private memory at once, under the
//!   mmap_lock taken for reading, without waiting for the victim to run
//! ```
//!
//! Differences from Linux: no memory cgroups or cpusets (the constraint is
//! always CONSTRAINT_NONE); when no process can be killed, Linux panics
//! ("System is deadlocked on memory") while Pagoda fails the allocation,
//! so the faulting task dies instead; a process's page-table bytes and
//! total_vm are read under their locks, and count as 0 for the process
//! whose allocation holds them (Linux keeps atomic counters).

use super::mm_types::{
    MmRef, MmStruct, MMF_OOM_SKIP, MMF_OOM_VICTIM, MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS,
};
use super::page_alloc::page_allocator;
use super::vma::VmFlags;
use crate::sched::{Task, TaskRef, WaitQueue};
use crate::sync::{Mutex, SpinLockIrq};
use core::sync::atomic::{AtomicUsize, Ordering::*};
use pagoda_mm::gfp::Gfp;
use pagoda_mm::page_alloc::LineLogger;

pub const OOM_SCORE_ADJ_MIN: i32 = -1000;
pub const OOM_SCORE_ADJ_MAX: i32 = 1000;

/// vm.panic_on_oom: 0 kill a process, 1 or 2 panic (Linux: sysctl_panic_on_oom).
pub static SYSCTL_PANIC_ON_OOM: AtomicUsize = AtomicUsize::new(0);
/// Processes killed (vmstat oom_kill).
pub static OOM_KILL: AtomicUsize = AtomicUsize::new(0);
/// One OOM kill at a time (Linux: oom_lock).
static OOM_LOCK: Mutex<()> = Mutex::new(());

/// How bad it would be to let `t`'s process live, in pages: what killing
/// it frees, shifted by its oom_score_adj in thousandths of `totalpages`.
/// None if it must not be killed: -1000, or its memory already gone
/// (Linux: oom_badness).
pub fn oom_badness(t: &Task, mm: &MmStruct, totalpages: usize) -> Option<i64> {
    let adj = t.signal.oom_score_adj.load(Relaxed);
    if adj == OOM_SCORE_ADJ_MIN || mm.test_flag(MMF_OOM_SKIP) {
        return None;
    }
    let points = mm.get_mm_rss()
        + mm.get_mm_counter(MM_SWAPENTS)
        + mm.try_pgtables_bytes().unwrap_or(0) / pagoda_mm::addr::PAGE_SIZE;
    Some(points as i64 + adj as i64 * (totalpages / 1000) as i64)
}

/// Pages the OOM killer weighs against: RAM and swap (Linux: oc->totalpages).
pub fn oom_totalpages() -> usize {
    page_allocator().totalram_pages() + super::swapfile::total_swap_pages()
}

/// /proc/PID/oom_score: the badness in thousandths of memory, shifted by
/// 1000 and scaled by 2/3; 0 for a process that is never chosen (Linux:
/// proc_oom_score).
pub fn oom_score(t: &Task) -> usize {
    let total = oom_totalpages().max(1) as i64;
    let Some(mm) = t.mm().filter(|_| !t.is_kthread()) else { return 0 };
    match oom_badness(t, &mm, total as usize) {
        Some(badness) => ((1000 + badness * 1000 / total) * 2 / 3).max(0) as usize,
        None => 0,
    }
}

/// Processes the OOM killer never picks: kernel threads and init (Linux:
/// oom_unkillable_task).
fn oom_unkillable(t: &Task) -> bool {
    t.is_kthread() || t.tgid == 1 || t.is_idle()
}

/// Calls `f` with one live thread of every process that has an address
/// space (Linux: for_each_process + find_lock_task_mm). The task list is
/// locked only to take one task at a time, so `f` may sleep and nothing is
/// allocated; a process created or reaped meanwhile may be missed or seen
/// twice, which for choosing a victim does not matter.
fn for_each_process_mm(mut f: impl FnMut(&TaskRef, &MmRef) -> bool) {
    let mut i = 0;
    while let Some(t) = crate::sched::nth_task(i) {
        i += 1;
        if t.state() == crate::sched::TASK_DEAD || !t.signal.first_thread_is(&t) {
            continue;
        }
        let Some(mm) = t.mm().filter(|_| !t.is_kthread()) else { continue };
        if !f(&t, &mm) {
            return;
        }
    }
}

enum Selection {
    Victim(TaskRef, MmRef),
    /// A victim chosen before is still freeing its memory: wait for it.
    Abort,
    Nobody,
}

/// The process with the highest badness; the later one on a tie (Linux:
/// select_bad_process -> oom_evaluate_task).
fn select_bad_process(totalpages: usize) -> Selection {
    let mut chosen: Option<(TaskRef, MmRef, i64)> = None;
    let mut abort = false;
    for_each_process_mm(|t, mm| {
        if oom_unkillable(t) {
            return true;
        }
        if t.signal.is_oom_victim() {
            let gone = t.signal.oom_mm.lock().as_ref().is_none_or(|m| m.test_flag(MMF_OOM_SKIP));
            if !gone {
                abort = true;
                return false;
            }
            return true;
        }
        if let Some(points) = oom_badness(t, mm, totalpages) {
            if chosen.as_ref().is_none_or(|c| points >= c.2) {
                chosen = Some((t.clone(), mm.clone(), points));
            }
        }
        true
    });
    match (abort, chosen) {
        (true, _) => Selection::Abort,
        (false, Some((t, mm, _))) => Selection::Victim(t, mm),
        (false, None) => Selection::Nobody,
    }
}

/// The allocator's hook: frees memory by killing a process. True if one
/// was killed or an earlier victim is still exiting (the caller should
/// reclaim and retry), false if nobody can be killed (Linux: out_of_memory).
pub fn out_of_memory(gfp: Gfp, order: usize) -> bool {
    // Another task is choosing a victim: its kill will help us too (Linux:
    // the mutex_trylock(&oom_lock) of __alloc_pages_may_oom).
    let Some(_oom_lock) = OOM_LOCK.try_lock() else {
        crate::kernel::timer::msleep(1);
        return true;
    };
    // A task on its way out frees its memory soon: let it have the
    // reserves rather than kill someone else (Linux: task_will_free_mem).
    if let Some(me) = crate::sched::current() {
        if let Some(mm) = me.mm().filter(|_| !me.is_kthread()) {
            if crate::sched::fatal_signal_pending(&me) && !mm.test_flag(MMF_OOM_SKIP) {
                mark_oom_victim(&me, &mm);
                queue_oom_reaper(&me, mm);
                return true;
            }
        }
    }
    let panic = SYSCTL_PANIC_ON_OOM.load(Relaxed);
    if panic != 0 {
        dump_header(gfp, order, None);
        let why = if panic == 2 { "compulsory" } else { "system-wide" };
        panic!("Out of memory: {why} panic_on_oom is enabled");
    }
    match select_bad_process(oom_totalpages()) {
        Selection::Abort => {
            drop(_oom_lock);
            crate::kernel::timer::msleep(1);
            true
        }
        Selection::Nobody => {
            dump_header(gfp, order, None);
            log::error!("Out of memory and no killable processes...");
            false
        }
        Selection::Victim(victim, mm) => {
            oom_kill_process(&victim, mm, gfp, order);
            drop(_oom_lock);
            // Give the victim a chance to exit before allocating again
            // (Linux: schedule_timeout_killable(1)).
            crate::kernel::timer::msleep(1);
            true
        }
    }
}

/// Marks `t`'s process as an OOM victim: its allocations may dip into the
/// reserves so that it can exit (Linux: mark_oom_victim).
fn mark_oom_victim(t: &Task, mm: &MmRef) {
    let mut oom_mm = t.signal.oom_mm.lock();
    if oom_mm.is_none() {
        *oom_mm = Some(mm.clone());
        mm.set_flag(MMF_OOM_VICTIM);
    }
    t.signal.oom_victim.store(true, Release);
}

/// The allocator's other hook: whether the caller is an OOM victim.
pub fn current_is_oom_victim() -> bool {
    crate::sched::with_current(|t| t.signal.is_oom_victim()).unwrap_or(false)
}

/// Kills `victim`'s process and every other process sharing `mm`, and
/// hands the memory to the reaper (Linux: oom_kill_process ->
/// __oom_kill_process).
fn oom_kill_process(victim: &TaskRef, mm: MmRef, gfp: Gfp, order: usize) {
    dump_header(gfp, order, Some(victim));
    crate::sched::group_send_sig(victim, crate::sched::SIGKILL);
    mark_oom_victim(victim, &mm);
    OOM_KILL.fetch_add(1, Relaxed);
    let kb = |member| mm.get_mm_counter(member) * 4;
    let total_vm = mm.mmap_lock.try_read().map_or(0, |m| m.total_vm);
    log::error!(
        "Out of memory: Killed process {} ({}) total-vm:{}kB, anon-rss:{}kB, file-rss:{}kB, shmem-rss:{}kB, UID:0 pgtables:{}kB oom_score_adj:{}",
        victim.tgid,
        victim.name().as_str(),
        total_vm * 4,
        kb(MM_ANONPAGES),
        kb(MM_FILEPAGES),
        kb(MM_SHMEMPAGES),
        mm.try_pgtables_bytes().unwrap_or(0) >> 10,
        victim.signal.oom_score_adj.load(Relaxed)
    );
    // vfork children and CLONE_VM processes share the memory: killing
    // only the victim would free nothing.
    let mut can_reap = true;
    for_each_process_mm(|t, other| {
        if core::ptr::eq(&**other, &*mm) && t.tgid != victim.tgid {
            if oom_unkillable(t) {
                can_reap = false;
                log::info!(
                    "oom killer {} ({}) has mm pinned by {} ({})",
                    victim.tgid,
                    victim.name().as_str(),
                    t.tgid,
                    t.name().as_str()
                );
            } else {
                crate::sched::group_send_sig(t, crate::sched::SIGKILL);
            }
        }
        true
    });
    if can_reap {
        queue_oom_reaper(victim, mm);
    }
}

/// The report (Linux: dump_header, with show_mem and dump_tasks).
fn dump_header(gfp: Gfp, order: usize, victim: Option<&TaskRef>) {
    crate::sched::current_pid_comm(|pid, comm| {
        let adj = crate::sched::with_current(|t| t.signal.oom_score_adj.load(Relaxed)).unwrap_or(0);
        log::warn!(
            "{comm} invoked oom-killer: gfp_mask={:#x}({gfp}), order={order}, oom_score_adj={adj}",
            gfp.bits()
        );
        log::warn!("CPU: {} PID: {pid} Comm: {comm}", crate::kernel::percpu::smp_processor_id());
    });
    let mut w = LineLogger::new();
    let _ = core::fmt::Write::write_str(&mut w, "Call trace:\n");
    crate::arch::backtrace::print_trace(
        crate::arch::backtrace::current_fp(),
        dump_header as *const () as usize,
        &mut w,
    );
    let _ = page_allocator().show_mem(&mut w);
    dump_tasks();
    if let Some(v) = victim {
        log::info!(
            "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,task={},pid={},uid=0",
            v.name().as_str(),
            v.tgid
        );
    }
}

/// The table of every process the OOM killer weighed (Linux: dump_tasks).
fn dump_tasks() {
    log::info!("Tasks state (memory values in pages):");
    log::info!("[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name");
    for_each_process_mm(|t, mm| {
        if oom_unkillable(t) {
            return true;
        }
        let total_vm = mm.mmap_lock.try_read().map_or(0, |m| m.total_vm);
        log::info!(
            "[{:>7}] {:>5} {:>5} {:>8} {:>8} {:>8} {:>8}         {:>5} {}",
            t.pid,
            0,
            t.tgid,
            total_vm,
            mm.get_mm_rss(),
            mm.try_pgtables_bytes().unwrap_or(0),
            mm.get_mm_counter(MM_SWAPENTS),
            t.signal.oom_score_adj.load(Relaxed),
            t.name().as_str()
        );
        true
    });
}

// ---- The oom_reaper ----

/// Victims waiting for the reaper. A short fixed queue: nothing is
/// allocated on the way to it, and a victim that finds it full is left to
/// exit by itself (Linux: the oom_reaper_list).
const REAP_QUEUE: usize = 8;
type ReapItem = (MmRef, usize, crate::sched::Comm);
static OOM_REAPER_LIST: SpinLockIrq<[Option<ReapItem>; REAP_QUEUE]> =
    SpinLockIrq::new([const { None }; REAP_QUEUE]);
static OOM_REAPER_WAIT: WaitQueue = WaitQueue::new();
/// Tries before the reaper gives up on a victim whose mmap_lock it cannot
/// take (Linux: MAX_OOM_REAP_RETRIES).
const MAX_OOM_REAP_RETRIES: usize = 10;
/// Victims whose memory the reaper freed.
pub static OOM_REAPED: AtomicUsize = AtomicUsize::new(0);

/// Hands a victim's memory to the reaper (Linux: queue_oom_reaper).
fn queue_oom_reaper(t: &Task, mm: MmRef) {
    {
        let mut list = OOM_REAPER_LIST.lock();
        if list.iter().flatten().any(|(m, _, _)| MmRef::ptr_eq(m, &mm)) {
            return;
        }
        let Some(slot) = list.iter_mut().find(|s| s.is_none()) else { return };
        *slot = Some((mm, t.tgid, t.name()));
    }
    OOM_REAPER_WAIT.wake_up();
}

fn take_victim() -> Option<ReapItem> {
    OOM_REAPER_LIST.lock().iter_mut().find_map(|s| s.take())
}

fn oom_reaper(_: usize) {
    // Its own allocations (the unmap's gather queue) must not wait for
    // the memory it is there to free.
    if let Some(me) = crate::sched::current() {
        me.set_memalloc(true);
    }
    loop {
        OOM_REAPER_WAIT.wait_event_interruptible(|| OOM_REAPER_LIST.lock().iter().any(|s| s.is_some()));
        while let Some((mm, pid, comm)) = take_victim() {
            oom_reap_task(&mm, pid, comm.as_str());
        }
    }
}

/// Empties a victim's memory, retrying while its mmap_lock is held; then
/// lets the OOM killer pass over it (Linux: oom_reap_task).
fn oom_reap_task(mm: &MmStruct, pid: usize, comm: &str) {
    let mut reaped = false;
    for _ in 0..MAX_OOM_REAP_RETRIES {
        if oom_reap_task_mm(mm, pid, comm) {
            reaped = true;
            break;
        }
        crate::kernel::timer::msleep(100);
    }
    if !reaped {
        log::info!("oom_reaper: unable to reap pid:{pid} ({comm})");
    }
    mm.set_flag(MMF_OOM_SKIP);
}

/// Unmaps the private memory of every VMA the victim could not keep
/// anyway: anonymous and private file mappings, not mlocked ones. Under the
/// mmap_lock for reading, as MADV_DONTNEED (Linux: __oom_reap_task_mm).
/// False if the lock was not free.
fn oom_reap_task_mm(mm: &MmStruct, pid: usize, comm: &str) -> bool {
    if mm.test_flag(MMF_OOM_SKIP) {
        return true; // exit_mmap was faster
    }
    let Some(map) = mm.mmap_lock.try_read() else { return false };
    for id in map.vmas.iter() {
        let (start, end) = map.vmas.range(id);
        let Some(vma) = map.vmas.get(id) else { continue };
        if vma.flags.contains(VmFlags::LOCKED) {
            continue;
        }
        if vma.vm_file.is_none() || !vma.flags.contains(VmFlags::SHARED) {
            mm.zap_page_range(start, end - start);
        }
    }
    drop(map);
    OOM_REAPED.fetch_add(1, Relaxed);
    let kb = |member| mm.get_mm_counter(member) * 4;
    log::info!(
        "oom_reaper: reaped process {pid} ({comm}), now anon-rss:{}kB, file-rss:{}kB, shmem-rss:{}kB",
        kb(MM_ANONPAGES),
        kb(MM_FILEPAGES),
        kb(MM_SHMEMPAGES)
    );
    true
}

/// Starts the oom_reaper thread (Linux: oom_init).
pub fn oom_init() {
    if crate::sched::kthread_run("oom_reaper", oom_reaper, 0, None).is_err() {
        log::warn!("oom_reaper: failed to start");
    }
}

/// `oom [PID ADJ]`: every process the OOM killer would weigh, with its
/// badness and /proc/PID/oom_score; with PID and ADJ, sets that process's
/// oom_score_adj (-1000 to 1000), as writing /proc/PID/oom_score_adj does.
fn cmd_oom(args: &str) {
    let mut words = args.split_whitespace();
    if let (Some(pid), Some(adj)) = (words.next(), words.next()) {
        let adj = adj.parse::<i32>().ok().filter(|a| (OOM_SCORE_ADJ_MIN..=OOM_SCORE_ADJ_MAX).contains(a));
        match (pid.parse().ok().and_then(crate::sched::find_process).filter(|t| !t.is_kthread()), adj) {
            (Some(t), Some(adj)) => t.signal.oom_score_adj.store(adj, Relaxed),
            (None, _) => crate::kprintln!("oom: no process {pid}"),
            (_, None) => crate::kprintln!("oom: ADJ must be -1000..1000"),
        }
        return;
    }
    let total = oom_totalpages();
    crate::kprintln!("  PID      RSS  SWAPENTS  PGTABLES  OOM_SCORE_ADJ  BADNESS  OOM_SCORE  COMMAND");
    for_each_process_mm(|t, mm| {
        if oom_unkillable(t) {
            return true;
        }
        let badness = oom_badness(t, mm, total);
        crate::kprintln!(
            "{:>5} {:>8} {:>9} {:>9} {:>14} {:>8} {:>10}  {}",
            t.tgid,
            mm.get_mm_rss(),
            mm.get_mm_counter(MM_SWAPENTS),
            mm.try_pgtables_bytes().unwrap_or(0) / pagoda_mm::addr::PAGE_SIZE,
            t.signal.oom_score_adj.load(Relaxed),
            badness.map_or(alloc::string::String::from("never"), |b| alloc::format!("{b}")),
            oom_score(t),
            t.name().as_str()
        );
        true
    });
}

crate::monitor_cmd!(
    MON_OOM,
    "oom",
    "oom [PID ADJ]: the OOM killer's view of each process; set oom_score_adj",
    cmd_oom
);
