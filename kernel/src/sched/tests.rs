//! In-kernel tests of the scheduler, kernel threads, wait queues, stacks and
//! mm switching (run on 4 CPUs by `make test`).

use super::*;
use crate::debug::ktest::ktest;
use crate::kernel::percpu::{num_online_cpus, smp_processor_id, NR_CPUS};
use crate::kernel::time::jiffies;
use crate::kernel::timer::msleep;
use ::core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use alloc::vec::Vec;
use pagoda_klib::arc::Arc;
use pagoda_mm::gfp::Gfp;

static SEEN_CPU: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(usize::MAX) }; NR_CPUS];

fn record_cpu(slot: usize) {
    yield_now(); // still pinned: yielding must bring it back to its CPU
    SEEN_CPU[slot].store(smp_processor_id(), Relaxed);
}

#[ktest]
fn kthreads_run_on_every_cpu() {
    let n = num_online_cpus();
    let threads: Vec<KThread> =
        (0..n).map(|c| kthread_run("ktest-cpu", record_cpu, c, Some(c)).unwrap()).collect();
    for t in threads {
        assert_eq!(kthread_join(t), 0);
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
    let t0 = jiffies();
    while t.state() != TASK_UNINTERRUPTIBLE && jiffies() < t0 + 100 {
        msleep(10);
    }
    assert_eq!(t.state(), TASK_UNINTERRUPTIBLE, "the thread did not sleep on the wait queue");
    assert!(WQ.is_active());
    assert!(!WOKE.load(Acquire));
    FLAG.store(true, Release);
    WQ.wake_up();
    kthread_join(t);
    assert!(WOKE.load(Acquire));
    assert!(!WQ.is_active(), "a wait-queue entry outlived its wait");
}

static STARTED: AtomicBool = AtomicBool::new(false);
fn mark_started(_: usize) {
    STARTED.store(true, Release);
}

#[ktest]
fn kthread_create_waits_for_the_start() {
    STARTED.store(false, Release);
    let t = kthread_create("ktest-created", mark_started, 0, None).unwrap();
    assert!(t.pid() > 1);
    msleep(30);
    assert!(!STARTED.load(Acquire), "kthread_create must not start the thread");
    assert_eq!(t.state(), TASK_NEW);
    assert!(!t.wake_up(), "a plain wake-up must not start a new task");
    t.start();
    kthread_join(t);
    assert!(STARTED.load(Acquire));
}

static CURRENT_OK: AtomicUsize = AtomicUsize::new(0);
static PIDS: [AtomicUsize; 2 * NR_CPUS] = [const { AtomicUsize::new(0) }; 2 * NR_CPUS];

fn check_current(slot: usize) {
    let pid = PIDS[slot].load(Acquire);
    for _ in 0..50 {
        let me = current().expect("no current in a kernel thread");
        if me.pid == pid && me.cpu() == smp_processor_id() && me.state() == TASK_RUNNING {
            CURRENT_OK.fetch_add(1, Relaxed);
        }
        drop(me);
        yield_now();
    }
}

/// `current` comes from sp_el0, set by every switch: each of several
/// threads, yielding all the time on every CPU, always finds itself.
#[ktest]
fn current_is_the_running_task_after_every_switch() {
    CURRENT_OK.store(0, Relaxed);
    assert_eq!(current().unwrap().pid, 1, "the test runner is init");
    let n = 2 * num_online_cpus();
    let ts: Vec<KThread> = (0..n)
        .map(|slot| {
            let t = kthread_create("ktest-current", check_current, slot, None).unwrap();
            PIDS[slot].store(t.pid(), Release);
            t.start();
            t
        })
        .collect();
    for t in ts {
        kthread_join(t);
    }
    assert_eq!(CURRENT_OK.load(Relaxed), 50 * n);
}

fn nothing(_: usize) {}

/// Tasks are counted references: after join the handle holds the last
/// one, and the stack is gone; a second round of threads costs nothing
/// more (no task, stack or vmalloc page leaked).
#[ktest]
fn finished_threads_leave_nothing_behind() {
    let round = || {
        let ts: Vec<KThread> = (0..2 * num_online_cpus())
            .map(|_| kthread_run("ktest-leak", nothing, 0, None).unwrap())
            .collect();
        for t in ts {
            let task = t.task().clone();
            assert_eq!(kthread_join(t), 0);
            assert_eq!(Arc::count(&task), 1, "someone still holds the dead task");
            assert!(task.stack_range().is_none(), "the dead task kept its stack");
        }
    };
    round();
    let (tasks, vpages) = (nr_tasks(), crate::mm::vmalloc::vmalloc_used_pages());
    round();
    assert_eq!(nr_tasks(), tasks);
    assert_eq!(crate::mm::vmalloc::vmalloc_used_pages(), vpages, "kernel stacks leaked");
}

static STACK_OK: AtomicBool = AtomicBool::new(false);
fn check_my_stack(_: usize) {
    let me = current().unwrap();
    let (bottom, top) = me.stack_range().unwrap();
    let sp = crate::arch::backtrace::current_fp();
    let guard_unmapped = crate::arch::mm::mmu::at_s1e1r(bottom - 8).is_none();
    let ok = bottom.is_multiple_of(stack::THREAD_ALIGN)
        && top - bottom == stack::THREAD_SIZE
        && (bottom..top).contains(&sp)
        && stack::sp_in_lower_half(sp)
        && guard_unmapped
        && crate::mm::vmalloc::find_area(bottom).is_some();
    STACK_OK.store(ok, Release);
}

/// A kernel thread's stack is a vmalloc area of THREAD_SIZE aligned to
/// twice that, with an unmapped page below it.
#[ktest]
fn kernel_stacks_are_vmalloc_areas_with_a_guard_page() {
    STACK_OK.store(false, Release);
    kthread_join(kthread_run("ktest-stack", check_my_stack, 0, None).unwrap());
    assert!(STACK_OK.load(Acquire));
}

#[inline(never)]
#[allow(unconditional_recursion)] // on purpose: it ends in the guard page
fn recurse(depth: usize) -> usize {
    let mut buf = [0u8; 512];
    buf[depth % 512] = depth as u8;
    let buf = ::core::hint::black_box(buf);
    recurse(depth + 1) + buf[(depth + 1) % 512] as usize
}

fn overflow_my_stack(_: usize) {
    recurse(0);
}

static AFTER_RAN: AtomicBool = AtomicBool::new(false);
fn after(_: usize) {
    AFTER_RAN.store(true, Release);
}

/// Expected fault: a kernel thread that recurses without end runs into
/// its guard page; the entry code notices the bad stack, switches to the
/// overflow stack and oopses naming the thread, and only that thread dies
/// (with SIGSEGV) while the system runs on.
#[ktest]
fn a_kernel_stack_overflow_oopses_and_kills_only_that_thread() {
    use crate::arch::exception::{OOPS_COUNT, SIGSEGV, STACK_OVERFLOWS};
    let (oopses, overflows) = (OOPS_COUNT.load(Relaxed), STACK_OVERFLOWS.load(Relaxed));
    crate::debug::ktest::expect_oops();
    let t = kthread_run("ktest-overflow", overflow_my_stack, 0, None).unwrap();
    let pid = t.pid();
    assert_eq!(kthread_join(t), SIGSEGV, "the overflowing thread was not killed by the oops");
    assert_eq!(STACK_OVERFLOWS.load(Relaxed), overflows + 1);
    assert_eq!(OOPS_COUNT.load(Relaxed), oopses + 1);
    // The oops named the thread, Linux-style, in the kernel log.
    let want = alloc::format!("PID: {pid} Comm: ktest-overflow");
    assert!(crate::kernel::printk::log_contains(&want), "no oops line '{want}' in the log");
    assert!(crate::kernel::printk::log_contains("Insufficient stack space to handle exception!"));
    // Life goes on, on every CPU.
    AFTER_RAN.store(false, Release);
    for c in 0..num_online_cpus() {
        kthread_join(kthread_run("ktest-after", after, 0, Some(c)).unwrap());
    }
    assert!(AFTER_RAN.load(Acquire));
}

/// A ping-pong between two threads on different CPUs through wait queues:
/// a single lost wake-up hangs it (and the runner's timeout fails the run).
static PING: AtomicUsize = AtomicUsize::new(0);
static PING_WQ: [WaitQueue; 2] = [WaitQueue::new(), WaitQueue::new()];
const ROUNDS: usize = 2000;

fn pinger(me: usize) {
    for i in 0..ROUNDS {
        let want = 2 * i + me;
        PING_WQ[me].wait_event(|| PING.load(Acquire) == want);
        PING.store(want + 1, Release);
        PING_WQ[1 - me].wake_up();
    }
}

#[ktest]
fn wake_ups_racing_with_sleeps_are_never_lost() {
    PING.store(0, Release);
    let cpus = num_online_cpus();
    let a = kthread_run("ktest-ping", pinger, 0, Some(cpus - 1)).unwrap();
    let b = kthread_run("ktest-pong", pinger, 1, Some(cpus.saturating_sub(2))).unwrap();
    kthread_join(a);
    kthread_join(b);
    assert_eq!(PING.load(Acquire), 2 * ROUNDS);
}

fn churn_pages(_: usize) {
    for _ in 0..8 {
        let p = crate::mm::page_alloc::alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
        crate::mm::page_alloc::__free_pages(p, 0);
    }
}

#[ktest]
fn an_idle_cpu_drains_its_pcp_lists() {
    let cpu = num_online_cpus() - 1;
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
    let n = num_online_cpus();
    let want: usize = (0..n).map(|c| 1 << (4 * c)).sum();
    assert_eq!(EACH.load(Relaxed), want);
}

#[ktest]
fn call_function_ipi_runs_on_the_target_cpu() {
    let last = num_online_cpus() - 1;
    assert!(crate::kernel::smp::smp_call_function_single(last, note_cpu));
    assert_eq!(CALLED_ON.load(Relaxed), last);
}

// --- address spaces ---------------------------------------------------

const UVA: usize = 0x0000_0040_0000_0000;
static MMS: spin::Mutex<Vec<crate::mm::mm_types::MmRef>> = spin::Mutex::new(Vec::new());
static MM_READS_OK: AtomicUsize = AtomicUsize::new(0);
static MM_READS_BAD: AtomicUsize = AtomicUsize::new(0);

fn read_my_mm(i: usize) {
    let mm = MMS.lock()[i].clone();
    kthread_use_mm(&mm);
    assert!(current().unwrap().mm().is_some_and(|m| Arc::ptr_eq(&m, &mm)));
    let ttbr0_matches = || {
        use aarch64_cpu::registers::TTBR0_EL1;
        use tock_registers::interfaces::Readable;
        let ttbr0 = TTBR0_EL1.get();
        (ttbr0 & 0x0000_ffff_ffff_fffe) as usize == mm.pgd().0 && (ttbr0 >> 48) as u16 == mm.asid()
    };
    for _ in 0..200 {
        if !ttbr0_matches() {
            MM_READS_BAD.fetch_add(1, Relaxed);
        }
        // SAFETY: UVA is mapped readable in `mm`, which this thread uses;
        // PAN is off, so EL1 may read it.
        let v = unsafe { (UVA as *const u64).read_volatile() };
        if v == 0x1000 + i as u64 {
            MM_READS_OK.fetch_add(1, Relaxed);
        } else {
            MM_READS_BAD.fetch_add(1, Relaxed);
        }
        yield_now();
    }
    kthread_unuse_mm();
    // Lazy TLB: the CPU keeps the mm loaded after the thread lets it go.
    assert!(loaded_mm(smp_processor_id()).is_some());
}

/// Threads with different address spaces, all mapping the same user
/// address to a different page, run and yield on the same CPUs: every read
/// sees its own page, so schedule() switched TTBR0 and the ASID each time.
#[ktest]
fn schedule_switches_the_user_address_space() {
    use crate::mm::mm_types::MmStruct;
    use crate::mm::page_alloc::{__free_pages, alloc_pages, page_address};
    use pagoda_mm::addr::PhysAddr;
    use pagoda_mm::pgtable::{MapFlags, Prot};
    MM_READS_OK.store(0, Relaxed);
    MM_READS_BAD.store(0, Relaxed);
    let n = 4;
    let mut pages = Vec::new();
    for i in 0..n {
        let mm = MmStruct::alloc().unwrap();
        let pfn = alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
        // SAFETY: a fresh page, through the linear map.
        unsafe { (page_address(pfn) as *mut u64).write(0x1000 + i as u64) };
        let user = Prot::READ | Prot::USER;
        mm.with_page_table(|pt| pt.map(UVA, PhysAddr(pfn << 12), 4096, user, MapFlags::empty())).unwrap();
        MMS.lock().push(mm);
        pages.push(pfn);
    }
    // Two CPUs at most, so that threads with different mms share one.
    let cpus = num_online_cpus().min(2);
    let ts: Vec<KThread> =
        (0..n).map(|i| kthread_run("ktest-mm", read_my_mm, i, Some(cpus - 1 - i % cpus)).unwrap()).collect();
    for t in ts {
        assert_eq!(kthread_join(t), 0);
    }
    assert_eq!(MM_READS_BAD.load(Relaxed), 0, "a thread read another address space's page");
    assert_eq!(MM_READS_OK.load(Relaxed), 200 * n);
    let mms: Vec<_> = MMS.lock().drain(..).collect();
    let asids: Vec<u16> = mms.iter().map(|m| m.asid()).collect();
    for (i, a) in asids.iter().enumerate() {
        assert_ne!(*a, 0, "mm {i} never got an ASID");
        assert!(!asids[..i].contains(a), "two live mms share ASID {a}");
    }
    for mm in &mms {
        mm.with_page_table(|pt| pt.unmap(UVA, 4096)).unwrap();
    }
    drop(mms); // page tables freed once no CPU keeps them loaded
    for pfn in pages {
        __free_pages(pfn, 0);
    }
}

/// Every kernel stack is counted in NR_KERNEL_STACK_KB (meminfo's
/// KernelStack) from its allocation until the dead task is reaped.
#[ktest]
fn kernel_stacks_are_counted_in_kernelstack() {
    use crate::mm::page_alloc::global_node_page_state;
    use pagoda_mm::vmstat::NodeStatItem::NrKernelStackKb;
    reap();
    let before = global_node_page_state(NrKernelStackKb);
    assert!(
        before >= (num_online_cpus() + 1) * (stack::THREAD_SIZE >> 10),
        "the idle and init stacks are not counted"
    );
    let t = kthread_create("ktest-kstack", nothing, 0, None).unwrap();
    assert_eq!(global_node_page_state(NrKernelStackKb), before + (stack::THREAD_SIZE >> 10));
    t.start();
    kthread_join(t);
    assert_eq!(global_node_page_state(NrKernelStackKb), before);
}
