//! The console as a terminal for programs (Linux: drivers/tty/tty_io.c,
//! drivers/tty/n_tty.c canonical mode, the TCGETS and TIOCGWINSZ ioctls).
//!
//! /dev/console writes go to the UART with `\n` turned into `\r\n`
//! (OPOST|ONLCR). Reads follow the canonical line discipline's main
//! rules: input is echoed, `\r` becomes `\n` (ICRNL), backspace and DEL
//! erase (ERASE), ^U kills the line, ^D at the start of a line is end of
//! file, and a read returns at most one line, keeping the rest for the
//! next. /dev/null and /dev/zero are handled in file.rs.
//!
//! Where Pagoda differs: there is one console and no job control, so no
//! ^C/^Z signals (ISIG); the settings cannot change, so TCSETS fails with
//! EINVAL where Linux would apply it, and there is no raw mode.

use crate::drivers::console;
use crate::mm::uaccess::{copy_from_user, copy_to_user};
use crate::sync::Mutex;
use alloc::vec::Vec;
use pagoda_klib::errno::{Errno, KResult};

/// Bytes copied from user space per round, on the kernel stack.
const CHUNK: usize = 256;

/// Writes user bytes to the console (Linux: tty_write -> n_tty_write).
pub fn console_write(buf: usize, count: usize) -> KResult<usize> {
    let mut done = 0;
    let mut chunk = [0u8; CHUNK];
    while done < count {
        let n = (count - done).min(CHUNK);
        if let Err(e) = copy_from_user(&mut chunk[..n], buf.wrapping_add(done)) {
            // Linux returns what was written before the fault, or -EFAULT.
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        console::write_bytes(&chunk[..n]);
        done += n;
    }
    Ok(done)
}

/// The line being edited and finished lines not yet read (Linux: the
/// n_tty read buffer).
struct Ldisc {
    line: Vec<u8>,
    ready: Vec<u8>,
    eof: bool,
}

static LDISC: Mutex<Ldisc> = Mutex::new(Ldisc { line: Vec::new(), ready: Vec::new(), eof: false });

/// The longest line kept (Linux: N_TTY_BUF_SIZE).
const N_TTY_BUF_SIZE: usize = 4096;

/// Takes one input byte through the line discipline (Linux: n_tty_receive_char).
fn receive(l: &mut Ldisc, c: u8) {
    match c {
        b'\r' | b'\n' => {
            console::write_bytes(b"\n");
            if l.ready.try_reserve(l.line.len() + 1).is_ok() {
                l.ready.append(&mut l.line);
                l.ready.push(b'\n');
            }
            l.line.clear();
        }
        0x7f | 0x08 => {
            if l.line.pop().is_some() {
                console::write_bytes(b"\x08 \x08");
            }
        }
        0x15 => {
            for _ in 0..l.line.len() {
                console::write_bytes(b"\x08 \x08");
            }
            l.line.clear();
        }
        0x04 => {
            // ^D: hands over the line so far, or end of file if empty.
            if l.line.is_empty() {
                l.eof = true;
            } else if l.ready.try_reserve(l.line.len()).is_ok() {
                l.ready.append(&mut l.line);
            }
        }
        _ => {
            if l.line.len() < N_TTY_BUF_SIZE - 1 && l.line.try_reserve(1).is_ok() {
                l.line.push(c);
                console::write_bytes(&[c]);
            }
        }
    }
}

/// Reads at most one line from the console, sleeping until there is one
/// (Linux: n_tty_read in ICANON mode). 0 at end of file (^D).
pub fn console_read(buf: usize, count: usize) -> KResult<usize> {
    if count == 0 {
        return Ok(0);
    }
    loop {
        {
            let mut l = LDISC.lock();
            while let Some(c) = console::getc() {
                receive(&mut l, c);
            }
            if !l.ready.is_empty() {
                let n = match l.ready.iter().position(|&c| c == b'\n') {
                    Some(i) => (i + 1).min(count),
                    None => l.ready.len().min(count),
                };
                copy_to_user(buf, &l.ready[..n])?;
                l.ready.drain(..n);
                return Ok(n);
            }
            if l.eof {
                l.eof = false;
                return Ok(0);
            }
        }
        if crate::sched::signal_pending() {
            return Err(Errno::ERESTARTSYS);
        }
        if console::rx_irq_enabled() {
            console::RX_WAIT
                .wait_event_interruptible(|| console::has_input() || crate::sched::signal_pending());
        } else {
            crate::kernel::timer::msleep_interruptible(10);
        }
    }
}

/// Whether a read would find something: a finished line, end of file, or
/// bytes in the receive ring (which may complete one).
pub fn console_has_input() -> bool {
    if let Some(l) = LDISC.try_lock() {
        if !l.ready.is_empty() || l.eof {
            return true;
        }
    }
    console::has_input()
}

const TCGETS: u32 = 0x5401;
const TCSETS: u32 = 0x5402;
const TIOCGWINSZ: u32 = 0x5413;

/// The console's termios, as the kernel's struct termios (NCCS = 19, 36
/// bytes: glibc's tcgetattr reads exactly that): Linux's tty_std_termios
/// (ICRNL IXON; OPOST ONLCR; B38400 CS8 CREAD HUPCL; ISIG ICANON ECHO
/// ECHOE ECHOK ECHOCTL ECHOKE IEXTEN) with its control characters.
fn console_termios() -> [u8; 36] {
    let mut t = [0u8; 36];
    t[0..4].copy_from_slice(&0o2400u32.to_le_bytes()); // c_iflag
    t[4..8].copy_from_slice(&0o5u32.to_le_bytes()); // c_oflag
    t[8..12].copy_from_slice(&0o2277u32.to_le_bytes()); // c_cflag
    t[12..16].copy_from_slice(&0o105073u32.to_le_bytes()); // c_lflag
                                                           // c_line, then c_cc (INIT_C_CC): ^C ^\ ^? ^U ^D 0 1 0 ^Q ^S ^Z 0 ^R ^O ^W ^V 0
    let cc = [3u8, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0];
    t[17..17 + cc.len()].copy_from_slice(&cc);
    t
}

/// ioctl(2) on the console: TCGETS and TIOCGWINSZ; TCSETS is refused
/// (the settings cannot change); other requests ENOTTY.
pub fn console_ioctl(cmd: u32, arg: usize) -> KResult<usize> {
    match cmd {
        TCGETS => copy_to_user(arg, &console_termios()).map(|()| 0),
        TCSETS => Err(Errno::EINVAL),
        // A serial console does not know its size: Linux reports 0 x 0.
        TIOCGWINSZ => copy_to_user(arg, &[0u8; 8]).map(|()| 0),
        _ => Err(Errno::ENOTTY),
    }
}
