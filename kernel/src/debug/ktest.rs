//! The in-kernel test runner.
//!
//! Tests are ordinary functions marked `#[ktest]` next to the code they
//! test (see pagoda_ktest_macro). The test kernel (`--features ktest`) walks
//! the `.ktests` linker section, runs every test and prints
//!
//! ```text
//! 1. pagoda::mm::fixmap::fdt_is_mapped ... [ok]
//! ktest: 1 passed, 0 failed
//! ```
//!
//! then exits QEMU through semihosting with status 0 (all passed) or 1.
//!
//! A failed assertion panics; the panic handler comes back here through
//! `ktest_longjmp` and the test is marked failed, and the run goes on.
//! A `#[ktest(should_fault)]` test passes only if its body takes a
//! synchronous exception (or panics): the exception handler resumes here the
//! same way. A test that hangs is caught by the host-side timeout.
//! `ktest.filter=WORD` on the command line runs only tests whose path
//! contains WORD.

#![cfg_attr(not(feature = "ktest"), allow(dead_code))]

use crate::arch::exception::{FAULT_RECOVERY, LAST_RECOVERED_ESR, LAST_RECOVERED_FAR, OOPS_COUNT};
use crate::kprintln;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

pub use pagoda_ktest_macro::ktest;

/// One registered test; built by `#[ktest]`.
pub struct KTest {
    pub name: &'static str,
    pub module: &'static str,
    pub func: fn(),
    pub should_fault: bool,
}

extern "C" {
    // Bounds of the .ktests section; only their addresses are used.
    static __start_ktests: u8;
    static __stop_ktests: u8;
    fn ktest_setjmp(buf: *mut u64) -> u64;
    fn ktest_longjmp(buf: *mut u64) -> !;
}

/// The recovery point of the running test, for the panic handler.
static PANIC_RECOVERY: AtomicPtr<u64> = AtomicPtr::new(core::ptr::null_mut());

pub fn tests() -> &'static [KTest] {
    // SAFETY: linker.ld places only KTest statics between these symbols.
    unsafe {
        let start = (&raw const __start_ktests).cast::<KTest>();
        let end = (&raw const __stop_ktests).cast::<KTest>();
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Returned,
    /// Took a synchronous exception or panicked.
    Faulted,
}

/// Set by recover_from_panic, so the runner can say which it was.
static PANICKED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

#[inline(never)]
fn run_one(t: &KTest) -> Outcome {
    // The panic path masks interrupts; put them back as they were.
    let daif = crate::arch::irqflags::local_irq_save();
    crate::arch::irqflags::local_irq_restore(daif);
    let mut buf = [0u64; 13];
    let p = buf.as_mut_ptr();
    // SAFETY: setjmp/longjmp save and restore only callee-saved registers
    // and sp; this frame stays live while the test runs, and nothing in it
    // is changed between the two returns.
    if unsafe { ktest_setjmp(p) } == 0 {
        FAULT_RECOVERY.store(p, Ordering::Release);
        PANIC_RECOVERY.store(p, Ordering::Release);
        (t.func)();
        FAULT_RECOVERY.store(core::ptr::null_mut(), Ordering::Release);
        PANIC_RECOVERY.store(core::ptr::null_mut(), Ordering::Release);
        Outcome::Returned
    } else {
        FAULT_RECOVERY.store(core::ptr::null_mut(), Ordering::Release);
        PANIC_RECOVERY.store(core::ptr::null_mut(), Ordering::Release);
        crate::arch::irqflags::local_irq_restore(daif);
        Outcome::Faulted
    }
}

/// Runs `f` expecting a synchronous exception; returns (ESR, FAR) of the
/// fault, or None if `f` returned normally. Lets a test check *which*
/// fault happened, not only that one did.
#[inline(never)]
pub fn expect_fault(f: impl FnOnce()) -> Option<(u64, u64)> {
    let mut buf = [0u64; 13];
    let p = buf.as_mut_ptr();
    let outer = FAULT_RECOVERY.load(Ordering::Acquire);
    // SAFETY: as in run_one.
    let faulted = if unsafe { ktest_setjmp(p) } == 0 {
        FAULT_RECOVERY.store(p, Ordering::Release);
        f();
        false
    } else {
        true
    };
    FAULT_RECOVERY.store(outer, Ordering::Release);
    faulted.then(|| (LAST_RECOVERED_ESR.load(Ordering::Relaxed), LAST_RECOVERED_FAR.load(Ordering::Relaxed)))
}

/// Whether the code running is the test runner (init, PID 1, pinned to
/// CPU 0), the only task that may go back to a recovery point.
pub fn is_runner() -> bool {
    let mut runner = false;
    crate::sched::current_pid_comm(|pid, _| runner = pid == 1);
    runner && crate::kernel::percpu::smp_processor_id() == 0
}

/// Oopses the running test announced (see `expect_oops`).
static EXPECTED_OOPSES: AtomicU64 = AtomicU64::new(0);

/// Announces that the running test will make a kernel thread oops; any
/// other oops during a test fails it.
pub fn expect_oops() {
    EXPECTED_OOPSES.fetch_add(1, Ordering::Relaxed);
}

/// Called by the panic handler: if a test is running, abandon it and resume
/// the runner. Returns only if no test is running.
pub fn recover_from_panic() {
    // Only the runner's own thread can go back to its setjmp point; a panic
    // in another kernel thread or CPU fails the whole run.
    if !is_runner() {
        return;
    }
    let p = PANIC_RECOVERY.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if !p.is_null() {
        PANICKED.store(true, Ordering::Relaxed);
        crate::kernel::panic::reset_after_recovery();
        // SAFETY: `p` is the live setjmp buffer of run_one.
        unsafe { ktest_longjmp(p) }
    }
}

/// Runs every test (or those matching `filter`), prints the summary and exits QEMU.
pub fn run_all(filter: Option<&str>) -> ! {
    // Tests compare global page counts: keep background reclaim quiet.
    crate::mm::kswapd::BACKGROUND_PAUSED.store(true, Ordering::Release);
    let selected = || tests().iter().filter(|t| filter.is_none_or(|f| matches(t, f)));
    kprintln!("ktest: running {} tests", selected().count());
    let (mut passed, mut failed) = (0, 0);
    for (i, t) in selected().enumerate() {
        crate::kprint!("{}. {}::{} ... ", i + 1, t.module, t.name);
        PANICKED.store(false, Ordering::Relaxed);
        let oopses = OOPS_COUNT.load(Ordering::Relaxed);
        EXPECTED_OOPSES.store(0, Ordering::Relaxed);
        let outcome = run_one(t);
        let oopsed = OOPS_COUNT.load(Ordering::Relaxed) - oopses;
        let expected = EXPECTED_OOPSES.load(Ordering::Relaxed);
        let ok = match (t.should_fault, &outcome) {
            // An oops in a kernel thread kills only that thread, so the test
            // might not notice; the runner does.
            _ if oopsed != expected => {
                kprintln!("{oopsed} oops(es) in kernel threads during the test, {expected} expected");
                false
            }
            (false, Outcome::Returned) | (true, Outcome::Faulted) => true,
            (true, Outcome::Returned) => {
                kprintln!("expected a fault, but the test returned normally");
                false
            }
            (false, Outcome::Faulted) => false,
        };
        if t.should_fault && outcome == Outcome::Faulted && PANICKED.load(Ordering::Relaxed) {
            kprintln!("    panicked as expected");
        } else if t.should_fault && outcome == Outcome::Faulted {
            kprintln!(
                "    faulted as expected: ESR {:#010x} FAR {:#018x}",
                LAST_RECOVERED_ESR.load(Ordering::Relaxed),
                LAST_RECOVERED_FAR.load(Ordering::Relaxed)
            );
        }
        if ok {
            passed += 1;
            kprintln!("[ok]");
        } else {
            failed += 1;
            kprintln!("[FAILED]");
        }
    }
    kprintln!("ktest: {passed} passed, {failed} failed");
    crate::drivers::console::flush();
    crate::arch::semihosting::exit(if failed == 0 { 0 } else { 1 })
}

/// Whether a test's path (`module::name`) matches the filter word.
fn matches(t: &KTest, word: &str) -> bool {
    t.module.contains(word) || t.name.contains(word)
}

/// Whether `ktest.force_fail` is on the command line (the runner's self-check).
fn force_fail() -> bool {
    pagoda_klib::cmdline::has(crate::drivers::devicetree::bootargs(), "ktest.force_fail")
}

/// Canary: must fault. With `ktest.force_fail` it returns instead, and the
/// runner must then report it failed (checked by tests/ktest.sh).
#[ktest(should_fault)]
fn ktest_canary_fault() {
    if !force_fail() {
        // SAFETY: deliberately reads an unmapped kernel address to fault.
        unsafe { core::ptr::read_volatile(0xffff_0000_0000_1000 as *const u64) };
    }
}

/// Canary: must pass. With `ktest.force_fail` its assertion fails.
#[ktest]
fn ktest_canary_assert() {
    assert!(!force_fail(), "ktest.force_fail is set: this failure is deliberate");
}

/// A failed assertion inside a should_fault test counts as the expected fault.
#[ktest(should_fault)]
fn panic_counts_as_fault_for_should_fault() {
    let two = core::hint::black_box(2);
    assert_eq!(two, 3);
}
