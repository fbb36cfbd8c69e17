//! The monitor: a prompt on the console where a student inspects the running
//! kernel (think of it as a tiny /proc and sysrq). Subsystems register
//! commands next to their code with [`monitor_cmd!`]; each lands in the
//! `.monitor_cmds` linker section, so this file never needs editing.
//!
//! Input is polled from the UART, so a script can drive it:
//! `printf 'dmesg\npoweroff\n' | make qemu`.

use crate::{console, kprint, kprintln};

/// One monitor command.
pub struct MonitorCmd {
    pub name: &'static str,
    pub help: &'static str,
    pub func: fn(args: &str),
}

/// Registers a monitor command: `monitor_cmd!(NAME_STATIC, "name", "help", fn)`.
#[macro_export]
macro_rules! monitor_cmd {
    ($static:ident, $name:literal, $help:literal, $func:path) => {
        #[used]
        #[link_section = ".monitor_cmds"]
        static $static: $crate::debug::monitor::MonitorCmd =
            $crate::debug::monitor::MonitorCmd { name: $name, help: $help, func: $func };
    };
}

extern "C" {
    // Bounds of the .monitor_cmds section; only their addresses are used.
    static __start_monitor_cmds: u8;
    static __stop_monitor_cmds: u8;
}

/// All registered commands, sorted as linked.
pub fn commands() -> &'static [MonitorCmd] {
    // SAFETY: linker.ld places only MonitorCmd statics between these symbols.
    unsafe {
        let start = (&raw const __start_monitor_cmds).cast::<MonitorCmd>();
        let end = (&raw const __stop_monitor_cmds).cast::<MonitorCmd>();
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    }
}

/// Runs one command line. Returns false if the command is unknown.
pub fn execute(line: &str) -> bool {
    let line = line.trim();
    if line.is_empty() {
        return true;
    }
    let (name, args) = line.split_once(' ').unwrap_or((line, ""));
    match commands().iter().find(|c| c.name == name) {
        Some(c) => {
            (c.func)(args.trim());
            true
        }
        None => {
            kprintln!("{name}: unknown command; try 'help'");
            false
        }
    }
}

// The test kernel runs tests instead of the prompt, so it never reads input.
#[cfg_attr(feature = "ktest", allow(dead_code))]
/// Reads a line with echo and backspace. Returns None on end of input (^D).
fn read_line(buf: &mut [u8]) -> Option<&str> {
    let mut len = 0;
    loop {
        let Some(c) = console::getc() else {
            if console::rx_irq_enabled() {
                crate::sched::cond_resched(); // let runnable threads on this CPU go first
                crate::arch::cpu::wait_for_interrupt(); // the UART interrupt wakes us
            } else {
                crate::arch::cpu::cpu_relax();
            }
            continue;
        };
        match c {
            b'\r' | b'\n' => {
                kprintln!();
                return core::str::from_utf8(&buf[..len]).ok();
            }
            0x04 if len == 0 => return None,
            0x08 | 0x7f if len > 0 => {
                len -= 1;
                kprint!("\x08 \x08");
            }
            0x20..=0x7e if len < buf.len() => {
                buf[len] = c;
                len += 1;
                kprint!("{}", c as char);
            }
            _ => {}
        }
    }
}

#[cfg_attr(feature = "ktest", allow(dead_code))]
/// The prompt loop. Never returns; `poweroff` ends the machine.
pub fn run() -> ! {
    kprintln!("Pagoda monitor. Type 'help' for commands.");
    let mut buf = [0u8; 256];
    loop {
        kprint!("pagoda> ");
        match read_line(&mut buf) {
            Some(line) => {
                execute(line);
            }
            None => {
                kprintln!("end of input; powering off");
                crate::kernel::power::poweroff();
            }
        }
    }
}

fn cmd_help(_: &str) {
    let width = commands().iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in commands() {
        kprintln!("  {:width$}  {}", c.name, c.help);
    }
}

fn cmd_dmesg(_: &str) {
    crate::kernel::printk::dmesg(crate::kernel::printk::print);
}

fn cmd_cmdline(_: &str) {
    kprintln!("{}", crate::drivers::devicetree::bootargs());
}

monitor_cmd!(MON_HELP, "help", "list the monitor commands", cmd_help);
monitor_cmd!(MON_DMESG, "dmesg", "print the kernel log ring buffer", cmd_dmesg);
monitor_cmd!(MON_CMDLINE, "cmdline", "print the kernel command line", cmd_cmdline);

fn cmd_sleep(args: &str) {
    match args.trim().parse::<u64>() {
        Ok(ms) => crate::kernel::timer::msleep(ms),
        Err(_) => kprintln!("usage: sleep MS"),
    }
}

monitor_cmd!(
    MON_SLEEP,
    "sleep",
    "sleep MS: wait, for scripts (a background program runs meanwhile)",
    cmd_sleep
);

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

    #[ktest]
    fn base_commands_are_registered() {
        for name in ["help", "dmesg", "cmdline", "poweroff"] {
            assert!(commands().iter().any(|c| c.name == name), "missing {name}");
        }
    }

    #[ktest]
    fn unknown_commands_are_reported_not_run() {
        assert!(execute("cmdline"));
        assert!(execute("   "));
        assert!(!execute("no-such-command with args"));
    }
}
