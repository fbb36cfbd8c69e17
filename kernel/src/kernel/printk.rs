//! printk: the `log` crate backend, modelled on kernel/printk/printk.c.
//!
//! Every message goes into the log ring buffer with its timestamp and level;
//! the console prints it as `[    0.012345] text` if its level is below the
//! console loglevel (`loglevel=N`, `quiet`, `ignore_loglevel`), exactly like
//! Linux. Messages logged before the console exists are replayed to it when
//! it registers. `dmesg` reprints the whole ring.
//!
//! Levels: `log::Level::Error` is KERN_ERR (3), `Warn` KERN_WARNING (4),
//! `Info` KERN_INFO (6), `Debug`/`Trace` KERN_DEBUG (7). Oops and panic text
//! is KERN_EMERG (0).

use crate::arch::time::uptime_ns;
use crate::sync::SpinLockIrq;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use pagoda_klib::fmtbuf::FmtBuf;
use pagoda_klib::logbuf::{LogBuf, Record, MAX_TEXT};
use spin::Mutex;

pub const KERN_EMERG: u8 = 0;
pub const KERN_ERR: u8 = 3;
pub const KERN_WARNING: u8 = 4;
pub const KERN_INFO: u8 = 6;
pub const KERN_DEBUG: u8 = 7;

/// Linux's CONSOLE_LOGLEVEL_DEFAULT: print everything but KERN_DEBUG.
pub const CONSOLE_LOGLEVEL_DEFAULT: u8 = 7;
/// Linux's CONSOLE_LOGLEVEL_QUIET (`quiet` on the command line).
pub const CONSOLE_LOGLEVEL_QUIET: u8 = 4;

/// 128 KiB of log, like a small CONFIG_LOG_BUF_SHIFT.
const LOG_BUF_LEN: usize = 128 * 1024;

static LOG: SpinLockIrq<LogBuf<LOG_BUF_LEN>> = SpinLockIrq::new(LogBuf::new());
static CONSOLE_LOGLEVEL: AtomicU8 = AtomicU8::new(CONSOLE_LOGLEVEL_DEFAULT);
static IGNORE_LOGLEVEL: AtomicBool = AtomicBool::new(false);

struct Printk;
static LOGGER: Printk = Printk;

/// Installs the logger. Safe to call before the console exists.
pub fn init() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
}

/// Applies `loglevel=`, `quiet` and `ignore_loglevel` from the command line.
pub fn setup_loglevel(cmdline: &str) {
    use pagoda_klib::cmdline::{get, has};
    if has(cmdline, "quiet") {
        CONSOLE_LOGLEVEL.store(CONSOLE_LOGLEVEL_QUIET, Ordering::Relaxed);
    }
    if has(cmdline, "debug") {
        CONSOLE_LOGLEVEL.store(10, Ordering::Relaxed);
    }
    if let Some(Some(v)) = get(cmdline, "loglevel") {
        match v.parse::<u8>() {
            Ok(n) => CONSOLE_LOGLEVEL.store(n, Ordering::Relaxed),
            Err(_) => log::warn!("loglevel: bad value '{v}', keeping {}", console_loglevel()),
        }
    }
    if has(cmdline, "ignore_loglevel") {
        IGNORE_LOGLEVEL.store(true, Ordering::Relaxed);
    }
}

pub fn console_loglevel() -> u8 {
    CONSOLE_LOGLEVEL.load(Ordering::Relaxed)
}

fn should_print(level: u8) -> bool {
    IGNORE_LOGLEVEL.load(Ordering::Relaxed) || level < console_loglevel()
}

/// Prints one record with a timestamp before every line.
fn print_record(r: &Record<'_>) {
    let secs = r.ts_ns / 1_000_000_000;
    let usecs = (r.ts_ns % 1_000_000_000) / 1000;
    for line in r.text.split(|&b| b == b'\n') {
        crate::kprintln!("[{secs:5}.{usecs:06}] {}", core::str::from_utf8(line).unwrap_or("<bad utf-8>"));
    }
}

/// Stores a message and prints it on the console if its level allows.
pub fn log_store(level: u8, text: &[u8]) {
    let mut log = LOG.lock();
    let seq = log.push(uptime_ns(), level, text);
    if crate::drivers::console::is_registered() && should_print(level) {
        log.for_each_from(seq, |r| print_record(&r));
    }
}

/// Called when the console registers: print what was logged before it.
pub fn console_replay() {
    let log = LOG.lock();
    log.for_each_from(0, |r| {
        if should_print(r.level) {
            print_record(&r)
        }
    });
}

/// Reprints the whole ring, whatever the loglevel (the `dmesg` command).
pub fn dmesg(mut f: impl FnMut(&Record<'_>)) {
    LOG.lock().for_each_from(0, |r| f(&r));
}

/// Whether a record in the ring contains `needle` (for tests that check
/// what the kernel said).
#[cfg_attr(not(feature = "ktest"), allow(dead_code))]
pub fn log_contains(needle: &str) -> bool {
    let mut found = false;
    LOG.lock().for_each_from(0, |r| {
        found |= r.text.windows(needle.len()).any(|w| w == needle.as_bytes());
    });
    found
}

/// Prints a record exactly as the console does (used by `dmesg`).
pub fn print(r: &Record<'_>) {
    print_record(r);
}

type LineBuf = FmtBuf<MAX_TEXT>;

impl log::Log for Printk {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let level = match record.level() {
            log::Level::Error => KERN_ERR,
            log::Level::Warn => KERN_WARNING,
            log::Level::Info => KERN_INFO,
            log::Level::Debug | log::Level::Trace => KERN_DEBUG,
        };
        let mut line = LineBuf::new();
        let _ = write!(line, "{}", record.args());
        log_store(level, line.as_bytes());
    }

    fn flush(&self) {}
}

/// Partial line of emergency (oops/panic) output, flushed at each newline.
static EMERG_LINE: Mutex<LineBuf> = Mutex::new(LineBuf::new());

/// Logs `s` at KERN_EMERG, one record per completed line.
pub fn emerg_str(s: &str) {
    let mut pending = EMERG_LINE.lock();
    for (i, part) in s.split('\n').enumerate() {
        if i > 0 {
            log_store(KERN_EMERG, pending.as_bytes());
            pending.clear();
        }
        let _ = pending.write_str(part);
    }
}

/// Breaks the printk locks for the panic path.
///
/// # Safety
/// Only the panic path may call this, when nothing else will run.
pub unsafe fn force_unlock() {
    // SAFETY: see the function's contract.
    unsafe {
        LOG.force_unlock();
        EMERG_LINE.force_unlock();
    }
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

    #[ktest]
    fn messages_land_in_the_ring_with_level_and_time() {
        let before = uptime_ns();
        log::warn!("printk-test-marker {}", 42);
        let mut found = None;
        dmesg(|r| {
            if r.text == b"printk-test-marker 42" {
                found = Some((r.level, r.ts_ns));
            }
        });
        let (level, ts) = found.expect("message not in the ring");
        assert_eq!(level, KERN_WARNING);
        assert!(ts >= before && ts <= uptime_ns());
    }

    #[ktest]
    fn console_loglevel_filters_like_linux() {
        let saved = console_loglevel();
        CONSOLE_LOGLEVEL.store(CONSOLE_LOGLEVEL_QUIET, Ordering::Relaxed);
        assert!(should_print(KERN_ERR) && !should_print(KERN_WARNING) && !should_print(KERN_INFO));
        CONSOLE_LOGLEVEL.store(CONSOLE_LOGLEVEL_DEFAULT, Ordering::Relaxed);
        assert!(should_print(KERN_INFO) && !should_print(KERN_DEBUG));
        CONSOLE_LOGLEVEL.store(saved, Ordering::Relaxed);
    }
}
