//! Descriptor plumbing (Linux: fs/file.c dup, dup3; fs/fcntl.c; fs/pipe.c
//! pipe2; fs/ioctl.c).

use crate::fs::current_files;
use crate::fs::file::{File, FileKind, O_CLOEXEC, O_DIRECT, O_NONBLOCK, O_RDONLY, O_WRONLY};
use crate::fs::pipe::Pipe;
use crate::mm::uaccess::copy_to_user;
use pagoda_klib::errno::{Errno, KResult};

/// dup(2): the lowest free descriptor, close-on-exec clear.
pub fn sys_dup(fd: i32) -> KResult<usize> {
    let files = current_files()?;
    let f = files.get(fd)?;
    files.alloc_fd(0, f, false).map(|n| n as usize)
}

/// dup3(2): `newfd` becomes `oldfd`, closing what it was. EINVAL if they
/// are equal or for flags other than O_CLOEXEC.
pub fn sys_dup3(oldfd: i32, newfd: i32, flags: u32) -> KResult<usize> {
    if flags & !O_CLOEXEC != 0 || oldfd == newfd {
        return Err(Errno::EINVAL);
    }
    let files = current_files()?;
    let f = files.get(oldfd)?;
    files.install(newfd, f, flags & O_CLOEXEC != 0)?;
    Ok(newfd as usize)
}

const F_DUPFD: u32 = 0;
const F_GETFD: u32 = 1;
const F_SETFD: u32 = 2;
const F_GETFL: u32 = 3;
const F_SETFL: u32 = 4;
const F_DUPFD_CLOEXEC: u32 = 1030;
const FD_CLOEXEC: usize = 1;

/// fcntl(2): duplicating, the close-on-exec flag and the status flags.
/// Record locks and the rest are EINVAL, as Linux answers an unknown
/// command.
pub fn sys_fcntl(fd: i32, cmd: u32, arg: usize) -> KResult<usize> {
    let files = current_files()?;
    let f = files.get(fd)?;
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = i32::try_from(arg).map_err(|_| Errno::EINVAL)? as usize;
            files.alloc_fd(min, f, cmd == F_DUPFD_CLOEXEC).map(|n| n as usize)
        }
        F_GETFD => files.cloexec(fd).map(|c| if c { FD_CLOEXEC } else { 0 }),
        F_SETFD => files.set_cloexec(fd, arg & FD_CLOEXEC != 0).map(|()| 0),
        F_GETFL => Ok(f.flags() as usize),
        F_SETFL => {
            f.set_status_flags(arg as u32);
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// pipe2(2): a read end and a write end, in the two ints at `fds`.
pub fn sys_pipe2(fds: usize, flags: u32) -> KResult<usize> {
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let pipe = Pipe::new()?;
    let extra = flags & O_NONBLOCK;
    // Each end is made as soon as possible, so that if making the other
    // fails, dropping it closes its side.
    let rd = File::new(FileKind::PipeRead(pipe.clone()), O_RDONLY | extra)?;
    let wr = File::new(FileKind::PipeWrite(pipe), O_WRONLY | extra)?;
    let files = current_files()?;
    let cloexec = flags & O_CLOEXEC != 0;
    let r = files.alloc_fd(0, rd, cloexec)?;
    let w = match files.alloc_fd(0, wr, cloexec) {
        Ok(w) => w,
        Err(e) => {
            let _ = files.close(r);
            return Err(e);
        }
    };
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&r.to_le_bytes());
    b[4..].copy_from_slice(&w.to_le_bytes());
    if let Err(e) = copy_to_user(fds, &b) {
        let _ = files.close(r);
        let _ = files.close(w);
        return Err(e);
    }
    Ok(0)
}

/// ioctl(2): passed to the file (the console answers the terminal ones).
pub fn sys_ioctl(fd: i32, cmd: usize, arg: usize) -> KResult<usize> {
    current_files()?.get(fd)?.ioctl(cmd as u32, arg)
}
