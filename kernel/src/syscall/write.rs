//! write(2) (Linux: fs/read_write.c ksys_write). Until the VFS and file
//! descriptors exist, fds 1 and 2 are the console, as a process started by
//! init on /dev/console sees them.

use crate::mm::uaccess::copy_from_user;
use pagoda_klib::errno::{Errno, KResult};

/// Bytes copied from user space per round, on the kernel stack.
const CHUNK: usize = 256;

pub fn sys_write(fd: i32, buf: usize, count: usize) -> KResult<usize> {
    if fd != 1 && fd != 2 {
        return Err(Errno::EBADF);
    }
    // Linux caps one write at MAX_RW_COUNT (INT_MAX rounded down to a page).
    let count = count.min(0x7fff_f000);
    let mut done = 0;
    let mut chunk = [0u8; CHUNK];
    while done < count {
        let n = (count - done).min(CHUNK);
        if let Err(e) = copy_from_user(&mut chunk[..n], buf.wrapping_add(done)) {
            // Linux returns what was written before the fault, or -EFAULT.
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        crate::drivers::console::write_bytes(&chunk[..n]);
        done += n;
    }
    Ok(done)
}
