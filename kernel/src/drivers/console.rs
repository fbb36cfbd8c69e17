//! The console: where printk output and the monitor go (Linux: kernel/printk
//! console drivers). One console, a PL011, registered once the device tree
//! has told us where it is.

use crate::drivers::pl011::Pl011;
use crate::sync::SpinLockIrq;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Virtual address of the console PL011's registers; 0 before registration.
static UART_BASE: AtomicUsize = AtomicUsize::new(0);
/// Serialises writers so lines do not interleave.
static CONSOLE_LOCK: SpinLockIrq<()> = SpinLockIrq::new(());

/// Bytes of input kept while nobody reads (the monitor waits for a
/// program). A scripted session pipes all its input at once, so this must
/// hold a whole script: 256 bytes lost the end of a 14-program run.
const RX_RING: usize = 4096;

/// Bytes received by the UART interrupt and not yet read (a tty flip buffer).
struct RxRing {
    buf: [u8; RX_RING],
    head: usize,
    tail: usize,
}

static RX: SpinLockIrq<RxRing> = SpinLockIrq::new(RxRing { buf: [0; RX_RING], head: 0, tail: 0 });
static RX_IRQ: AtomicBool = AtomicBool::new(false);

/// Readers of the console (a program's read(2) of /dev/console) sleep
/// here until the UART interrupt brings input.
pub static RX_WAIT: crate::sched::WaitQueue = crate::sched::WaitQueue::new();

fn uart() -> Option<Pl011> {
    let base = UART_BASE.load(Ordering::Acquire);
    // SAFETY: register/rebase only store addresses that map a PL011.
    (base != 0).then(|| unsafe { Pl011::new(base) })
}

/// Registers the PL011 at virtual address `base` as the console.
/// Messages logged before this are replayed by printk.
///
/// # Safety
/// `base` must map a PL011's registers as Device memory, for good.
pub unsafe fn register(base: usize) {
    // SAFETY: guaranteed by the caller.
    let u = unsafe { Pl011::new(base) };
    // Input may already be waiting (a script piped into QEMU): keep it, as
    // re-initialising the UART flushes its FIFO.
    drain_rx(&u);
    u.init();
    UART_BASE.store(base, Ordering::Release);
}

/// Moves the console to another mapping of the same UART (from the fixmap
/// to its ioremap()ed address). Returns the old address.
///
/// # Safety
/// As for `register`.
pub unsafe fn rebase(base: usize) -> usize {
    let _guard = CONSOLE_LOCK.lock();
    UART_BASE.swap(base, Ordering::AcqRel)
}

pub fn is_registered() -> bool {
    UART_BASE.load(Ordering::Acquire) != 0
}

/// Writes bytes to the console, turning `\n` into `\r\n`.
pub fn write_bytes(bytes: &[u8]) {
    if let Some(c) = uart() {
        for &b in bytes {
            if b == b'\n' {
                c.putc(b'\r');
            }
            c.putc(b);
        }
    }
}

/// A received byte, if any: from the ring (filled by the UART interrupt,
/// or by `register`), else by polling the UART when its interrupt is off.
pub fn getc() -> Option<u8> {
    {
        let mut rx = RX.lock();
        if rx.head != rx.tail {
            let c = rx.buf[rx.tail % RX_RING];
            rx.tail += 1;
            return Some(c);
        }
    }
    if RX_IRQ.load(Ordering::Acquire) {
        return None;
    }
    uart().and_then(|c| c.getc())
}

/// Whether input waits in the ring (for sleepers' wake-up condition).
pub fn has_input() -> bool {
    let rx = RX.lock();
    rx.head != rx.tail
}

/// Moves every byte waiting in the UART into the ring.
fn drain_rx(u: &Pl011) {
    let mut rx = RX.lock();
    while let Some(c) = u.getc() {
        if rx.head - rx.tail < RX_RING {
            let h = rx.head;
            rx.buf[h % RX_RING] = c;
            rx.head += 1;
        }
    }
}

/// The UART interrupt: move every waiting byte into the ring. Clear the
/// interrupt first, then drain (as Linux's pl011_int does): a byte that
/// arrives after the drain found the FIFO empty raises a new interrupt,
/// while clearing after the drain could swallow the interrupt of a byte
/// that slipped in between, leaving it (and all input behind it) unread.
fn uart_interrupt(_intid: u32) {
    let Some(u) = uart() else { return };
    u.clear_interrupts();
    drain_rx(&u);
    RX_WAIT.wake_up();
    crate::fs::select::POLL_WAIT.wake_up();
}

/// Moves console input to interrupts (Linux: the pl011 driver's startup).
pub fn enable_rx_irq() -> bool {
    let (Some(u), Some(intid)) = (uart(), crate::drivers::devicetree::stdout_uart_intid()) else {
        return false;
    };
    if crate::kernel::irq::request_irq(intid, "uart-pl011", uart_interrupt).is_err() {
        return false;
    }
    RX_IRQ.store(true, Ordering::Release);
    u.enable_rx_interrupt();
    // Bytes that arrived before the interrupt was enabled raise no new
    // interrupt: collect them now.
    uart_interrupt(intid);
    log::info!("pl011: receive interrupts on IRQ {intid}");
    true
}

/// Whether input arrives by interrupt (the monitor may then sleep in WFI).
pub fn rx_irq_enabled() -> bool {
    RX_IRQ.load(Ordering::Acquire)
}

pub fn flush() {
    if let Some(c) = uart() {
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
        crate::kernel::printk::emerg_str(s);
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
    ($($arg:tt)*) => ($crate::drivers::console::_print(format_args!($($arg)*)));
}

/// Like `kprint!`, with a newline.
#[macro_export]
macro_rules! kprintln {
    () => ($crate::kprint!("\n"));
    ($($arg:tt)*) => ($crate::drivers::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}
