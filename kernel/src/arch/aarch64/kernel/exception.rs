//! Exception handling at EL1, modelled on arch/arm64/kernel/entry-common.c,
//! traps.c and mm/fault.c (the kernel-fault half).
//!
//! entry.S saves a [`TrapFrame`] and calls [`handle_exception`] with the
//! vector index. A synchronous exception taken from EL1 is a kernel bug: it
//! prints a Linux-style oops and kills the task that caused it (a kernel
//! thread dies alone; in an interrupt, the idle task or init, or with
//! `panic_on_oops`, the kernel panics). A kernel stack overflow is caught
//! on the way in (entry.S) and reported by `handle_bad_stack`. Exceptions
//! from EL0 will be routed to the mm fault handler and the system calls by
//! the user-task issue. The in-kernel test runner can ask to recover from a
//! fault instead (see `ktest`), which is how expected-fault tests pass.

use core::fmt::Write;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use pagoda_klib::esr::{self, write_mem_abort_info, Esr};

/// The registers saved on exception entry (Linux: struct pt_regs).
/// Layout must match entry.S.
#[repr(C)]
#[derive(Debug, Clone)]
pub struct TrapFrame {
    pub regs: [u64; 31],
    pub sp: u64,
    pub pc: u64,
    pub pstate: u64,
    pub esr: u64,
    pub far: u64,
    /// Frame record {x29, pc} for the call trace.
    pub stackframe: [u64; 2],
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 304);

/// Which of the 16 vectors was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorKind {
    Sync,
    Irq,
    Fiq,
    SError,
}

const VECTOR_NAMES: [&str; 4] = ["Synchronous", "IRQ", "FIQ", "SError"];
const VECTOR_ORIGINS: [&str; 4] = ["EL1t", "EL1h", "EL0 (AArch64)", "EL0 (AArch32)"];

/// Where to resume when a fault happens while a recovery point is armed.
/// The test runner arms it around expected-fault tests (ktest::run_one).
pub static FAULT_RECOVERY: AtomicPtr<u64> = AtomicPtr::new(core::ptr::null_mut());
/// ESR of the last fault taken while recovery was armed (for tests to check).
pub static LAST_RECOVERED_ESR: AtomicU64 = AtomicU64::new(0);
/// FAR of the last fault taken while recovery was armed.
pub static LAST_RECOVERED_FAR: AtomicU64 = AtomicU64::new(0);

extern "C" {
    fn ktest_longjmp(buf: *mut u64) -> !;
}

/// Called from entry.S for every exception.
#[no_mangle]
extern "C" fn handle_exception(frame: &mut TrapFrame, index: u64) {
    let kind = [VectorKind::Sync, VectorKind::Irq, VectorKind::Fiq, VectorKind::SError][(index & 3) as usize];
    let from_el1 = index < 8;
    match (kind, from_el1, index) {
        (VectorKind::Sync, true, 4) => el1h_sync(frame),
        (VectorKind::Irq, _, 5) => crate::kernel::irq::handle_irq(),
        (VectorKind::Irq, _, 9) => {
            // The tick must know it interrupted user code (Linux:
            // user_mode(get_irq_regs()) in update_process_times).
            crate::sched::set_irq_from_user(true);
            crate::kernel::irq::handle_irq();
            crate::sched::set_irq_from_user(false);
            exit_to_user_mode(frame);
        }
        (VectorKind::Sync, false, 8) => {
            el0_sync(frame);
            exit_to_user_mode(frame);
        }
        _ => bad_mode(frame, index),
    }
}

/// A synchronous exception taken from the kernel itself (EL1h).
fn el1h_sync(frame: &mut TrapFrame) {
    let esr = Esr(frame.esr);
    // A user access from a uaccess routine that faulted: resume at its
    // fixup, which returns -EFAULT (Linux: __do_kernel_fault ->
    // fixup_exception). Once user page faults exist, do_page_fault tries to
    // bring the page in first.
    if esr.ec() == esr::ec::DABT_CUR {
        if kernel_fault_on_user_address(frame, esr) {
            return; // the page is there now: retry the access
        }
        if crate::arch::mm::extable::fixup_exception(frame) {
            return;
        }
    }
    if try_recover(frame) {
        return;
    }
    let mut w = crate::drivers::console::OopsWriter;
    if esr.is_abort() {
        // do_mem_abort -> __do_kernel_fault
        let msg = if frame.far < 4096 { "NULL pointer dereference" } else { "paging request" };
        let _ = writeln!(w, "Unable to handle kernel {msg} at virtual address {:016x}", frame.far);
        let _ = write_mem_abort_info(esr, &mut w);
        die("Oops", frame);
    } else {
        match esr.ec() {
            esr::ec::BRK64 => die("BRK handler", frame),
            esr::ec::UNKNOWN => die("Oops - undefined instruction", frame),
            _ => die("Oops - bad mode", frame),
        }
    }
}

/// A synchronous exception from user space (Linux: el0_sync,
/// el0_svc/el0_da/el0_ia in entry-common.c). System calls go to the table
/// with interrupts on; anything else kills the task with the signal Linux
/// would send, printing the line Linux prints for an unhandled signal. (The
/// mm fault handler that pages memory in arrives with the address-space
/// issue; until then every user fault is fatal.)
fn el0_sync(frame: &mut TrapFrame) {
    let esr = Esr(frame.esr);
    // Work for user space runs with interrupts on, as any process context
    // does (Linux: local_daif_restore(DAIF_PROCCTX) in el0_svc, el0_da...).
    crate::arch::irqflags::local_irq_enable();
    match esr.ec() {
        esr::ec::SVC64 => crate::syscall::invoke_syscall(frame),
        esr::ec::DABT_LOW | esr::ec::IABT_LOW => do_page_fault(frame, esr),
        // Linux: do_sp_pc_abort.
        esr::ec::PC_ALIGN => user_fault(frame, SIGBUS, BUS_ADRALN, "PC alignment exception", frame.far),
        esr::ec::SP_ALIGN => user_fault(frame, SIGBUS, BUS_ADRALN, "SP alignment exception", frame.sp),
        // A brk no debugger claims (Linux: brk_handler -> arm64_notify_die).
        esr::ec::BRK64 => user_fault(frame, SIGTRAP, TRAP_BRKPT, "BRK", frame.pc),
        _ => user_fault(frame, SIGILL, ILL_ILLOPC, "unhandled exception", frame.pc),
    }
    crate::arch::irqflags::local_irq_disable();
}

/// A user instruction or data abort (Linux: do_mem_abort, which picks the
/// handler by the fault status code). Translation, access-flag and
/// permission faults go to the mm fault handler, which brings the page in,
/// or the task gets SIGSEGV (SIGKILL when memory ran out, where Linux would
/// run the OOM killer). An alignment fault is SIGBUS/BUS_ADRALN, an
/// external abort SIGBUS/BUS_OBJERR, anything else SIGKILL: retrying those
/// would fault again forever.
fn do_page_fault(frame: &mut TrapFrame, esr: Esr) {
    use crate::mm::memory::{handle_mm_fault, FaultError};
    use pagoda_klib::esr::FaultKind;
    let far = if esr.fnv() { 0 } else { frame.far as usize };
    match esr.fault_kind() {
        FaultKind::Translation(_) | FaultKind::AccessFlag(_) | FaultKind::Permission(_) => {}
        FaultKind::Alignment => return user_fault(frame, SIGBUS, BUS_ADRALN, "alignment fault", far as u64),
        FaultKind::Other if (0x10..=0x1f).contains(&esr.fsc()) => {
            return user_fault(frame, SIGBUS, BUS_OBJERR, "external abort", far as u64)
        }
        FaultKind::Other => return user_fault(frame, SIGKILL, 0x80, "unhandled fault", far as u64),
    }
    let exec = esr.ec() == esr::ec::IABT_LOW;
    let write = !exec && esr.wnr();
    let result = match crate::sched::current().and_then(|t| t.mm()) {
        Some(mm) => handle_mm_fault(&mm, far, write, exec),
        None => Err(FaultError::MapErr),
    };
    if crate::mm::memory::trace_faults() {
        trace_fault(esr, far, write, exec, &result);
    }
    match result {
        Ok(how) => crate::mm::memory::mm_account_fault(how),
        // The OOM killer chose this task: the SIGKILL is on its way.
        Err(FaultError::Oom)
            if crate::sched::with_current(crate::sched::fatal_signal_pending).unwrap_or(false) => {}
        // Nobody could be killed to make room: this task goes instead
        // (Linux would panic, "System is deadlocked on memory").
        Err(FaultError::Oom) => user_fault(frame, SIGKILL, 0, "page fault, out of memory", far as u64),
        Err(FaultError::SigBus) => user_fault(frame, SIGBUS, BUS_ADRERR, "bus error", far as u64),
        Err(FaultError::AccErr) => user_fault(frame, SIGSEGV, SEGV_ACCERR, "segfault", far as u64),
        Err(FaultError::MapErr) => user_fault(frame, SIGSEGV, SEGV_MAPERR, "segfault", far as u64),
    }
}

/// `trace_faults` on the command line: one line per user fault, with the
/// ESR decoded and what the mm made of it (a teaching aid; Linux has
/// tracepoints for this).
fn trace_fault(
    esr: Esr,
    far: usize,
    write: bool,
    exec: bool,
    result: &Result<crate::mm::memory::Handled, crate::mm::memory::FaultError>,
) {
    let access = if exec {
        "exec"
    } else if write {
        "write"
    } else {
        "read"
    };
    crate::sched::current_pid_comm(|pid, comm| {
        let outcome = match result {
            Ok(h) => h.as_str(),
            Err(e) => match e {
                crate::mm::memory::FaultError::MapErr => "no VMA: SIGSEGV (SEGV_MAPERR)",
                crate::mm::memory::FaultError::AccErr => "not allowed: SIGSEGV (SEGV_ACCERR)",
                crate::mm::memory::FaultError::Oom => "out of memory",
                crate::mm::memory::FaultError::SigBus => "past the end of the object: SIGBUS",
            },
        };
        log::info!(
            "fault: {comm}[{pid}] {access} at {far:#x}, esr {:#010x} ({}, {}) -> {outcome}",
            esr.0,
            esr.class_str(),
            esr.fsc_str()
        )
    });
}

/// Linux's SIGKILL.
pub const SIGKILL: i32 = 9;

/// A fault taken by the kernel on a user address, inside a uaccess routine
/// (Linux: do_page_fault for a kernel-mode fault below TASK_SIZE): if the
/// interrupted code could sleep, try to bring the page in like a user
/// fault, so the access is retried; otherwise (or if that fails) the
/// caller's exception-table fixup turns it into -EFAULT.
fn kernel_fault_on_user_address(frame: &TrapFrame, esr: Esr) -> bool {
    const PSTATE_I: u64 = 1 << 7;
    let far = frame.far as usize;
    if esr.fnv() || far >= crate::arch::mm::layout::TASK_SIZE || frame.pstate & PSTATE_I != 0 {
        return false;
    }
    // Only a fault a page can fix; anything else would recur forever.
    if !matches!(
        esr.fault_kind(),
        pagoda_klib::esr::FaultKind::Translation(_)
            | pagoda_klib::esr::FaultKind::AccessFlag(_)
            | pagoda_klib::esr::FaultKind::Permission(_)
    ) {
        return false;
    }
    if crate::arch::mm::extable::search_exception_tables(frame.pc as usize).is_none() {
        return false; // only uaccess routines touch user memory
    }
    let Some(mm) = crate::sched::current().and_then(|t| t.mm()) else { return false };
    crate::arch::irqflags::local_irq_enable();
    let result = crate::mm::memory::handle_mm_fault(&mm, far, esr.wnr(), false);
    if let Ok(how) = result {
        crate::mm::memory::mm_account_fault(how);
    }
    let ok = result.is_ok();
    crate::arch::irqflags::local_irq_disable();
    ok
}

/// Kills the current user task with `sig` after an exception it cannot
/// survive (Linux: arm64_force_sig_fault with its show_unhandled_signals
/// line; signal handlers arrive with the user-task issue).
fn user_fault(frame: &TrapFrame, sig: i32, code: i32, what: &str, addr: u64) {
    if crate::sched::has_handler(sig as usize) {
        // The task handles it: deliver on the way back to user space.
        crate::sched::force_sig_fault(sig as usize, code, addr);
        return;
    }
    crate::sched::current_pid_comm(|pid, comm| {
        log::info!(
            "{comm}[{pid}]: unhandled {what} ({sig}) at {addr:#018x}, esr {:#010x} -- {}",
            frame.esr,
            Esr(frame.esr).class_str()
        )
    });
    // The wait status of a death by signal is the signal number; the whole
    // process dies.
    crate::sched::do_group_exit(sig)
}

/// si_code values (Linux: include/uapi/asm-generic/siginfo.h).
const BUS_ADRALN: i32 = 1;
const BUS_ADRERR: i32 = 2;
const TRAP_BRKPT: i32 = 1;
/// Linux's SIGTRAP.
const SIGTRAP: i32 = 5;
const BUS_OBJERR: i32 = 3;
const SEGV_MAPERR: i32 = 1;
const SEGV_ACCERR: i32 = 2;
const ILL_ILLOPC: i32 = 1;

/// Linux's SIGILL, for an undefined or trapped instruction in user space.
pub const SIGILL: i32 = 4;

/// Work before returning to user space (Linux: exit_to_user_mode ->
/// do_notify_resume): reschedule if the tick or a wake-up asked for it, so
/// a user task that spins is preempted; and act on pending signals.
pub fn exit_to_user_mode(frame: &mut TrapFrame) {
    crate::sched::cond_resched();
    // Signal work may sleep (a frame written to a page not yet faulted in,
    // an exit freeing the address space): interrupts on, as in Linux's
    // do_notify_resume, and off again for the return.
    if crate::sched::signal_pending() || crate::sched::restart_pending() {
        crate::arch::irqflags::local_irq_enable();
        crate::sched::do_signal(frame);
        crate::arch::irqflags::local_irq_disable();
    }
}

/// If a recovery point is armed (an expected-fault test is running), resume
/// there instead of oopsing: rewrite the return address to ktest_longjmp.
fn try_recover(frame: &mut TrapFrame) -> bool {
    if !crate::debug::ktest::is_runner() {
        return false; // the recovery point is on the test runner's stack
    }
    let buf = FAULT_RECOVERY.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if buf.is_null() {
        return false;
    }
    LAST_RECOVERED_ESR.store(frame.esr, Ordering::Relaxed);
    LAST_RECOVERED_FAR.store(frame.far, Ordering::Relaxed);
    frame.pc = ktest_longjmp as *const () as u64;
    frame.regs[0] = buf as u64;
    true
}

/// An exception we have no handler for yet (Linux: bad_mode / __panic_unhandled).
fn bad_mode(frame: &mut TrapFrame, index: u64) {
    if try_recover(frame) {
        return;
    }
    let mut w = crate::drivers::console::OopsWriter;
    let _ = writeln!(
        w,
        "Unhandled {} exception from {} on CPU{}, ESR {:#010x} -- {}",
        VECTOR_NAMES[(index & 3) as usize],
        VECTOR_ORIGINS[(index >> 2) as usize],
        crate::kernel::percpu::smp_processor_id(),
        frame.esr,
        Esr(frame.esr).class_str()
    );
    die("Oops - bad mode", frame);
}

/// Oopses so far (Linux: the die counter, `[#N]`).
pub static OOPS_COUNT: AtomicU64 = AtomicU64::new(0);

/// Prints the oops (Linux: die -> __die -> show_regs, dump_backtrace), then
/// kills the task that caused it: a kernel thread dies alone and the system
/// goes on, as in Linux without panic_on_oops; in an interrupt, in the idle
/// task or in init, the kernel panics.
fn die(str: &str, frame: &TrapFrame) -> ! {
    let mut w = crate::drivers::console::OopsWriter;
    let n = OOPS_COUNT.fetch_add(1, Ordering::Relaxed) + 1;
    let _ = writeln!(w, "Internal error: {str}: {:016x} [#{n}] SMP", frame.esr);
    let cpu = crate::kernel::percpu::smp_processor_id();
    crate::sched::current_pid_comm(|pid, comm| {
        let _ = match pid {
            0 => writeln!(w, "CPU: {cpu} PID: 0 Comm: swapper/{cpu}"),
            _ => writeln!(w, "CPU: {cpu} PID: {pid} Comm: {comm}"),
        };
    });
    show_regs(frame, &mut w);
    let _ = writeln!(w, "Call trace:");
    super::backtrace::print_trace(frame.regs[29] as usize, frame.pc as usize, &mut w);
    let _ = writeln!(w, "---[ end trace {n:016x} ]---");
    if crate::kernel::panic::panic_on_oops() {
        panic!("Fatal exception");
    }
    crate::sched::make_task_dead(SIGSEGV)
}

/// Linux's signal number for a bad memory access: the exit code of a
/// kernel thread killed by an oops.
pub const SIGSEGV: i32 = 11;
/// Linux's SIGBUS.
pub const SIGBUS: i32 = 7;

extern "C" {
    static overflow_stacks: u8;
    static overflow_stacks_end: u8;
}

/// An exception found the kernel stack overflowed; entry.S moved to this
/// CPU's overflow stack and saved the frame there (Linux: handle_bad_stack).
/// TPIDR_EL0 holds where the frame would have gone, TPIDRRO_EL0 the
/// interrupted x0.
#[no_mangle]
extern "C" fn handle_bad_stack(frame: &mut TrapFrame) -> ! {
    use aarch64_cpu::registers::{TPIDRRO_EL0, TPIDR_EL0};
    use tock_registers::interfaces::Readable;
    frame.regs[0] = TPIDRRO_EL0.get();
    frame.sp = TPIDR_EL0.get() + core::mem::size_of::<TrapFrame>() as u64;
    let mut w = crate::drivers::console::OopsWriter;
    let _ = writeln!(w, "Insufficient stack space to handle exception!");
    let _ = writeln!(w, "ESR: {:#010x} -- {}", frame.esr, Esr(frame.esr).class_str());
    let _ = writeln!(w, "FAR: {:#018x}", frame.far);
    if let Some((bottom, top)) = crate::sched::current().and_then(|t| t.stack_range()) {
        let _ = writeln!(w, "Task stack:     [{bottom:#018x}..{top:#018x}]");
    }
    let (ob, oe) = (&raw const overflow_stacks as usize, &raw const overflow_stacks_end as usize);
    let _ = writeln!(w, "Overflow stack: [{ob:#018x}..{oe:#018x}]");
    STACK_OVERFLOWS.fetch_add(1, Ordering::Relaxed);
    die("kernel stack overflow", frame)
}

// entry.S lays out NR_CPUS overflow stacks of 8 KiB in the lower half of a
// block aligned to 2 * THREAD_SIZE.
const _: () = assert!(
    crate::kernel::percpu::NR_CPUS == 8
        && (crate::kernel::percpu::NR_CPUS << 13) <= crate::sched::stack::THREAD_SIZE
);

/// Kernel stack overflows caught (for tests).
pub static STACK_OVERFLOWS: AtomicU64 = AtomicU64::new(0);

/// The register dump of an oops, as Linux's __show_regs prints it.
pub fn show_regs(frame: &TrapFrame, w: &mut impl Write) {
    let _ = writeln!(w, "pstate: {:08x}", frame.pstate);
    let _ = write!(w, "pc : ");
    super::backtrace::print_symbol(frame.pc as usize, w);
    let _ = write!(w, "\nlr : ");
    super::backtrace::print_symbol(frame.regs[30] as usize, w);
    let _ = writeln!(w, "\nsp : {:016x}", frame.sp);
    let mut i = 29i32;
    while i >= 0 {
        let _ = write!(w, "x{:<2}: {:016x}", i, frame.regs[i as usize]);
        if i % 2 == 0 || i == 0 {
            let _ = writeln!(w);
        } else {
            let _ = write!(w, " ");
        }
        i -= 1;
    }
}

#[cfg(feature = "ktest")]
mod tests {
    use crate::debug::ktest::{expect_fault, ktest};
    use pagoda_klib::esr::{ec, Esr, FaultKind};

    /// An address in the modules region, which nothing maps yet.
    const UNMAPPED: usize = 0xffff_0000_0010_0000;

    #[ktest]
    fn brk_reaches_the_sync_handler_decoded() {
        // SAFETY: BRK only traps; the handler resumes the test runner.
        let (esr, _) = expect_fault(|| unsafe { core::arch::asm!("brk #0x800") }).expect("no exception");
        assert_eq!(Esr(esr).ec(), ec::BRK64);
        assert_eq!(Esr(esr).imm16(), 0x800);
    }

    #[ktest]
    fn undefined_instruction_is_ec_unknown() {
        // SAFETY: UDF only traps.
        let (esr, _) = expect_fault(|| unsafe { core::arch::asm!("udf #0") }).expect("no exception");
        assert_eq!(Esr(esr).ec(), ec::UNKNOWN);
    }

    #[ktest]
    fn unmapped_read_is_a_translation_fault_with_far() {
        // SAFETY: deliberately faults.
        let (esr, far) = expect_fault(|| unsafe {
            core::ptr::read_volatile(UNMAPPED as *const u64);
        })
        .expect("no fault");
        let esr = Esr(esr);
        assert_eq!(esr.ec(), ec::DABT_CUR);
        assert!(matches!(esr.fault_kind(), FaultKind::Translation(_)), "{:?}", esr.fault_kind());
        assert!(!esr.wnr());
        assert_eq!(far as usize, UNMAPPED);
    }

    #[ktest]
    fn unmapped_write_sets_wnr() {
        // SAFETY: deliberately faults.
        let (esr, far) = expect_fault(|| unsafe {
            core::ptr::write_volatile((UNMAPPED + 8) as *mut u64, 1);
        })
        .expect("no fault");
        assert!(Esr(esr).wnr());
        assert_eq!(far as usize, UNMAPPED + 8);
    }

    /// The plain expected-fault form: passes only because the access faults.
    #[ktest(should_fault)]
    fn null_dereference_faults() {
        // SAFETY: deliberately faults (nothing is mapped at 0 in TTBR1 or the idmap).
        unsafe { core::ptr::read_volatile(core::hint::black_box(0usize) as *const u64) };
    }
}
