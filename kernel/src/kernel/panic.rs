//! The panic handler (Linux: kernel/panic.c).
//!
//! Prints `Kernel panic - not syncing: <message>`, the location and a call
//! trace, then stops. In the test kernel a panic inside a test is reported
//! as that test's failure (or success, for a should_fault test) and the run
//! goes on; a panic elsewhere exits QEMU with a failure status.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // SAFETY: masking interrupts has no memory effects.
    unsafe { core::arch::asm!("msr daifset, #0xf") };
    if PANICKING.swap(true, Ordering::SeqCst) {
        // A panic while panicking: print nothing more, just stop.
        crate::arch::semihosting::exit(3);
    }
    // SAFETY: we are the panic path and nothing else will run on this CPU.
    unsafe {
        crate::kernel::printk::force_unlock();
        crate::drivers::console::force_unlock();
    }
    let mut w = crate::drivers::console::OopsWriter;
    let _ = write!(w, "Kernel panic - not syncing: {}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(w, " (at {}:{})", loc.file(), loc.line());
    }
    let _ = writeln!(w);
    let fp = crate::arch::backtrace::current_fp();
    let _ = writeln!(w, "Call trace:");
    crate::arch::backtrace::print_trace(fp, panic as *const () as usize, &mut w);

    // Inside a test, this resumes the test runner and does not return.
    #[cfg(feature = "ktest")]
    crate::debug::ktest::recover_from_panic();
    let _ = writeln!(w, "---[ end Kernel panic - not syncing: {} ]---", info.message());
    crate::drivers::console::flush();
    if cfg!(feature = "ktest") {
        crate::arch::semihosting::exit(1);
    }
    // panic=N (N != 0): power off instead of halting, so scripted runs end
    // (Linux reboots after N seconds; there is no one to reboot for here).
    if crate::drivers::devicetree::is_ready() && panic_timeout() != 0 {
        crate::arch::psci::system_off();
        crate::arch::semihosting::exit(1);
    }
    crate::arch::cpu::halt()
}

fn panic_timeout() -> i64 {
    match pagoda_klib::cmdline::get(crate::drivers::devicetree::bootargs(), "panic") {
        Some(Some(v)) => v.parse().unwrap_or(0),
        _ => 0,
    }
}

/// Lets the test runner clear the flag after recovering from a test's panic.
pub fn reset_after_recovery() {
    PANICKING.store(false, Ordering::SeqCst);
}

/// `panic_on_oops` on the command line (Linux's sysctl of that name, 0 by
/// default): an oops panics instead of killing only the task that caused it.
pub fn panic_on_oops() -> bool {
    crate::drivers::devicetree::is_ready()
        && match pagoda_klib::cmdline::get(crate::drivers::devicetree::bootargs(), "panic_on_oops") {
            Some(Some(v)) => v != "0",
            Some(None) => true,
            None => false,
        }
}
