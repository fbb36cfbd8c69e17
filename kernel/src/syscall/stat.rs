//! stat and the console tty (Linux: fs/stat.c newfstatat/fstat,
//! drivers/tty/tty_io.c TCGETS and TIOCGWINSZ).
//!
//! Until file descriptors exist, fds 0, 1 and 2 are the console, which
//! looks like Linux's /dev/console (a character device 5:1, mode 0600) and
//! answers the two terminal ioctls glibc uses. Paths are looked up in the
//! initramfs.

use crate::fs::initramfs;
use crate::mm::uaccess::{copy_to_user, strncpy_from_user};
use pagoda_klib::errno::{Errno, KResult};

const S_IFCHR: u32 = 0o020000;
const AT_FDCWD: isize = -100;
const AT_EMPTY_PATH: usize = 0x1000;
const AT_SYMLINK_NOFOLLOW: usize = 0x100;
const AT_NO_AUTOMOUNT: usize = 0x800;

/// Whether `fd` is one of the console descriptors.
fn is_console(fd: isize) -> bool {
    (0..=2).contains(&fd)
}

/// Fills the 128-byte struct stat of asm-generic (arm64's layout).
fn put_stat(buf: usize, mode: u32, rdev: u64, size: u64, ino: u64) -> KResult<usize> {
    let mut st = [0u8; 128];
    st[8..16].copy_from_slice(&ino.to_le_bytes()); // st_ino
    st[16..20].copy_from_slice(&mode.to_le_bytes()); // st_mode
    st[20..24].copy_from_slice(&1u32.to_le_bytes()); // st_nlink
    st[32..40].copy_from_slice(&rdev.to_le_bytes()); // st_rdev
    st[48..56].copy_from_slice(&size.to_le_bytes()); // st_size
    st[56..60].copy_from_slice(&4096u32.to_le_bytes()); // st_blksize
    st[64..72].copy_from_slice(&size.div_ceil(512).to_le_bytes()); // st_blocks
    copy_to_user(buf, &st)?;
    Ok(0)
}

fn stat_console(buf: usize) -> KResult<usize> {
    // /dev/console: character device 5:1 (new_encode_dev), crw-------.
    put_stat(buf, S_IFCHR | 0o600, (5 << 8) | 1, 0, 1)
}

/// fstat(2).
pub fn sys_fstat(fd: isize, buf: usize) -> KResult<usize> {
    if !is_console(fd) {
        return Err(Errno::EBADF);
    }
    stat_console(buf)
}

/// newfstatat(2): a path in the initramfs, or with AT_EMPTY_PATH the fd.
pub fn sys_newfstatat(dirfd: isize, path: usize, buf: usize, flags: usize) -> KResult<usize> {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    let mut name = [0u8; 256];
    let n = strncpy_from_user(&mut name, path)?;
    if n == name.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    if n == 0 {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        return sys_fstat(dirfd, buf);
    }
    let name = core::str::from_utf8(&name[..n]).map_err(|_| Errno::ENOENT)?;
    if !name.starts_with('/') && dirfd != AT_FDCWD {
        return Err(Errno::EBADF); // no directory descriptors yet
    }
    // The working directory is / until chdir exists.
    let mut abs = alloc::string::String::new();
    abs.try_reserve(n + 1).map_err(|_| Errno::ENOMEM)?;
    if !name.starts_with('/') {
        abs.push('/');
    }
    abs.push_str(name);
    let path = match abs.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    let e = initramfs::lookup(path).ok_or(Errno::ENOENT)?;
    put_stat(buf, e.mode, 0, e.data.len() as u64, 2)
}

const TCGETS: usize = 0x5401;
const TIOCGWINSZ: usize = 0x5413;

/// The console's termios, as the kernel's struct termios (NCCS = 19, 36
/// bytes: glibc's tcgetattr reads exactly that): Linux's tty_std_termios (ICRNL IXON; OPOST
/// ONLCR; B38400 CS8 CREAD HUPCL; ISIG ICANON ECHO ECHOE ECHOK ECHOCTL
/// ECHOKE IEXTEN) with its control characters.
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

/// ioctl(2) on the console: TCGETS and TIOCGWINSZ; other requests ENOTTY.
pub fn sys_ioctl(fd: isize, cmd: usize, arg: usize) -> KResult<usize> {
    if !is_console(fd) {
        return Err(Errno::EBADF);
    }
    match cmd as u32 as usize {
        TCGETS => copy_to_user(arg, &console_termios()).map(|()| 0),
        // A serial console does not know its size: Linux reports 0 x 0.
        TIOCGWINSZ => copy_to_user(arg, &[0u8; 8]).map(|()| 0),
        _ => Err(Errno::ENOTTY),
    }
}
