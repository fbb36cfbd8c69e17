//! The console: where printk output and the monitor go (Linux: kernel/printk
//! console drivers). One console, a PL011, registered once the device tree
//! has told us where it is.

use crate::drivers::pl011::Pl011;
use core::fmt::{self, Write};
use spin::{Mutex, Once};

static CONSOLE: Once<Pl011> = Once::new();
/// Serialises writers so lines do not interleave.
static CONSOLE_LOCK: Mutex<()> = Mutex::new(());

/// Registers the console. Messages logged before this are replayed by printk.
pub fn register(uart: Pl011) {
    CONSOLE.call_once(|| {
        uart.init();
        uart
    });
}

pub fn is_registered() -> bool {
    CONSOLE.get().is_some()
}

/// Writes bytes to the console, turning `\n` into `\r\n`.
pub fn write_bytes(bytes: &[u8]) {
    if let Some(c) = CONSOLE.get() {
        for &b in bytes {
            if b == b'\n' {
                c.putc(b'\r');
            }
            c.putc(b);
        }
    }
}

/// A received byte, if any.
pub fn getc() -> Option<u8> {
    CONSOLE.get().and_then(|c| c.getc())
}

pub fn flush() {
    if let Some(c) = CONSOLE.get() {
        c.flush();
    }
}

/// Writer used by `kprint!`: takes the console lock per call.
pub struct ConsoleWriter;

impl Write for ConsoleWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

pub fn _print(args: fmt::Arguments) {
    let _guard = CONSOLE_LOCK.lock();
    let _ = ConsoleWriter.write_fmt(args);
}

/// Writer for oops and panic output: logs each complete line at KERN_EMERG,
/// so an oops reaches both the console and the dmesg ring.
pub struct OopsWriter;

impl Write for OopsWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::printk::emerg_str(s);
        Ok(())
    }
}

/// Breaks the console lock: used on panic, when the lock holder may be the
/// very code that panicked.
///
/// # Safety
/// Only the panic path may call this; afterwards nothing else runs.
pub unsafe fn force_unlock() {
    // SAFETY: the caller is the panic path; see above.
    unsafe { CONSOLE_LOCK.force_unlock() };
}

/// Prints to the console without a timestamp or the log ring (for monitor output).
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => ($crate::console::_print(format_args!($($arg)*)));
}

/// Like `kprint!`, with a newline.
#[macro_export]
macro_rules! kprintln {
    () => ($crate::kprint!("\n"));
    ($($arg:tt)*) => ($crate::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}
