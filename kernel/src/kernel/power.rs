//! Power off and reboot (Linux: kernel/reboot.c), through PSCI.

use crate::{arch, kprintln, monitor_cmd};

/// Powers the machine off with PSCI SYSTEM_OFF. If that fails (no PSCI),
/// exits QEMU through semihosting, and as a last resort halts.
pub fn poweroff() -> ! {
    log::info!("reboot: Power down");
    crate::drivers::console::flush();
    arch::psci::system_off();
    arch::semihosting::exit(0)
}

fn cmd_poweroff(_: &str) {
    poweroff();
}

/// Restarts the machine with PSCI SYSTEM_RESET; powers off if that fails.
pub fn reboot() -> ! {
    log::info!("reboot: Restarting system");
    crate::drivers::console::flush();
    arch::psci::system_reset();
    kprintln!("reboot: PSCI SYSTEM_RESET failed");
    poweroff()
}

fn cmd_reboot(_: &str) {
    reboot();
}

monitor_cmd!(MON_POWEROFF, "poweroff", "power the machine off (PSCI SYSTEM_OFF)", cmd_poweroff);
monitor_cmd!(MON_REBOOT, "reboot", "restart the machine (PSCI SYSTEM_RESET)", cmd_reboot);
