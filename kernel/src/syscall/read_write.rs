//! Reading and writing descriptors (Linux: fs/read_write.c ksys_read,
//! ksys_write, do_readv/do_writev, ksys_pread64/pwrite64, ksys_lseek;
//! fs/readdir.c getdents64).

use crate::fs::current_files;
use crate::mm::uaccess::copy_from_user;
use pagoda_klib::errno::{Errno, KResult};

/// The most iovecs one call takes (Linux: UIO_MAXIOV).
const UIO_MAXIOV: usize = 1024;

pub fn sys_read(fd: i32, buf: usize, count: usize) -> KResult<usize> {
    current_files()?.get(fd)?.read(buf, count, None)
}

pub fn sys_write(fd: i32, buf: usize, count: usize) -> KResult<usize> {
    current_files()?.get(fd)?.write(buf, count, None)
}

/// pread64(2): at `off`, leaving the position alone.
pub fn sys_pread64(fd: i32, buf: usize, count: usize, off: i64) -> KResult<usize> {
    let f = current_files()?.get(fd)?;
    if off < 0 {
        return Err(Errno::EINVAL);
    }
    f.read(buf, count, Some(off as u64))
}

/// pwrite64(2).
pub fn sys_pwrite64(fd: i32, buf: usize, count: usize, off: i64) -> KResult<usize> {
    let f = current_files()?.get(fd)?;
    if off < 0 {
        return Err(Errno::EINVAL);
    }
    f.write(buf, count, Some(off as u64))
}

/// Reads the iovec array (Linux: import_iovec): EINVAL for a bad count or
/// a total past isize::MAX, EFAULT for a bad array.
fn import_iovec(iov: usize, iovcnt: i32) -> KResult<alloc::vec::Vec<(usize, usize)>> {
    let n = usize::try_from(iovcnt).map_err(|_| Errno::EINVAL)?;
    if n > UIO_MAXIOV {
        return Err(Errno::EINVAL);
    }
    let mut v = alloc::vec::Vec::new();
    v.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
    let mut total = 0usize;
    for i in 0..n {
        let mut b = [0u8; 16];
        copy_from_user(&mut b, iov.wrapping_add(i * 16))?;
        let base = usize::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
        let len = usize::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
        total = total.checked_add(len).filter(|&t| t <= isize::MAX as usize).ok_or(Errno::EINVAL)?;
        v.push((base, len));
    }
    Ok(v)
}

/// readv(2) and writev(2): one buffer after another, stopping at a short
/// transfer; an error after some bytes moved returns the bytes.
pub fn sys_readv_writev(fd: i32, iov: usize, iovcnt: i32, write: bool) -> KResult<usize> {
    let f = current_files()?.get(fd)?;
    let segs = import_iovec(iov, iovcnt)?;
    let mut done = 0usize;
    for (base, len) in segs {
        if len == 0 {
            continue;
        }
        let r = if write { f.write(base, len, None) } else { f.read(base, len, None) };
        match r {
            Ok(n) => {
                done += n;
                if n < len {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// lseek(2).
pub fn sys_lseek(fd: i32, off: i64, whence: u32) -> KResult<usize> {
    current_files()?.get(fd)?.llseek(off, whence).map(|p| p as usize)
}

/// getdents64(2).
pub fn sys_getdents64(fd: i32, dirp: usize, count: usize) -> KResult<usize> {
    current_files()?.get(fd)?.getdents64(dirp, count)
}

// posix_fadvise advice (Linux: include/uapi/linux/fadvise.h).
const POSIX_FADV_NORMAL: u32 = 0;
const POSIX_FADV_RANDOM: u32 = 1;
const POSIX_FADV_SEQUENTIAL: u32 = 2;
const POSIX_FADV_WILLNEED: u32 = 3;
const POSIX_FADV_DONTNEED: u32 = 4;
const POSIX_FADV_NOREUSE: u32 = 5;

/// fadvise64(2), what posix_fadvise calls (Linux: generic_fadvise): EBADF,
/// ESPIPE for a pipe, EINVAL for unknown advice or a negative length.
/// RANDOM turns the file's readahead off and NORMAL/SEQUENTIAL back on;
/// WILLNEED reads the range into the page cache; DONTNEED starts writing
/// it back and drops its pages that nobody uses. tmpfs has no backing
/// store and takes no advice, as in Linux.
pub fn sys_fadvise64(fd: i32, offset: i64, len: i64, advice: u32) -> KResult<usize> {
    let f = current_files()?.get(fd)?;
    let inode = f.inode().ok_or(Errno::ESPIPE)?;
    if advice > POSIX_FADV_NOREUSE || len < 0 {
        return Err(Errno::EINVAL);
    }
    let first = (offset.max(0) as u64 / 4096) as usize;
    let end = if len == 0 {
        usize::MAX
    } else {
        (offset.max(0) as u64).saturating_add(len as u64).div_ceil(4096) as usize
    };
    match advice {
        POSIX_FADV_RANDOM => f.set_readahead(false),
        POSIX_FADV_NORMAL | POSIX_FADV_SEQUENTIAL => f.set_readahead(true),
        POSIX_FADV_WILLNEED => crate::fs::file::force_readahead(inode, first, end)?,
        POSIX_FADV_DONTNEED => crate::fs::file::invalidate(inode, first, end),
        _ => {}
    }
    Ok(0)
}
