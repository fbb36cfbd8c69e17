//! File descriptor tables and working directories (Linux: fs/file.c,
//! include/linux/fdtable.h struct files_struct; fs/fs_struct.c).
//!
//! A process's descriptors are indexes into its table of open files, each
//! with its close-on-exec flag. fork copies the table (the files are
//! shared, with their positions); CLONE_FILES (threads) shares the table
//! itself; exec closes the close-on-exec ones. The lowest free number is
//! always the one handed out, up to RLIMIT_NOFILE (EMFILE).
//!
//! The working directory lives in an `FsStruct`, shared by CLONE_FS
//! (threads) and copied by fork (Linux: struct fs_struct; Pagoda has no
//! chroot, so no per-process root).

use super::file::FileRef;
use super::namei::Path;
use crate::sync::SpinLockIrq;
use alloc::vec::Vec;
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};

use crate::syscall::rlimit::RLIMIT_NOFILE;

#[derive(Clone)]
struct Fd {
    file: FileRef,
    cloexec: bool,
}

/// A descriptor table (Linux: struct files_struct).
pub struct FilesStruct {
    fds: SpinLockIrq<Vec<Option<Fd>>>,
}

pub type FilesRef = Arc<FilesStruct>;

impl FilesStruct {
    pub fn new() -> KResult<FilesRef> {
        Arc::try_new(FilesStruct { fds: SpinLockIrq::new(Vec::new()) }).map_err(|_| Errno::ENOMEM)
    }

    /// A copy for fork (Linux: dup_fd).
    pub fn dup(&self) -> KResult<FilesRef> {
        let mut copy = Vec::new();
        {
            let fds = self.fds.lock();
            copy.try_reserve_exact(fds.len()).map_err(|_| Errno::ENOMEM)?;
            copy.extend(fds.iter().cloned());
        }
        Arc::try_new(FilesStruct { fds: SpinLockIrq::new(copy) }).map_err(|_| Errno::ENOMEM)
    }

    /// The file of descriptor `fd` (Linux: fget). EBADF if not open.
    pub fn get(&self, fd: i32) -> KResult<FileRef> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        self.fds.lock().get(i).and_then(|e| e.as_ref()).map(|e| e.file.clone()).ok_or(Errno::EBADF)
    }

    /// Installs `file` at the lowest free descriptor >= `min` (Linux:
    /// alloc_fd + fd_install). EMFILE past the limit; EINVAL if `min` is
    /// already past it (F_DUPFD's rule).
    pub fn alloc_fd(&self, min: usize, file: FileRef, cloexec: bool) -> KResult<i32> {
        let limit = nofile_limit();
        if min >= limit {
            return Err(Errno::EINVAL);
        }
        let mut fds = self.fds.lock();
        let fd = (min..limit).find(|&i| fds.get(i).is_none_or(|e| e.is_none())).ok_or(Errno::EMFILE)?;
        if fd >= fds.len() {
            let more = fd + 1 - fds.len();
            fds.try_reserve(more).map_err(|_| Errno::ENOMEM)?;
            fds.resize(fd + 1, None);
        }
        fds[fd] = Some(Fd { file, cloexec });
        Ok(fd as i32)
    }

    /// Puts `file` at descriptor `fd`, closing what was there (Linux:
    /// do_dup2). EBADF past the limit.
    pub fn install(&self, fd: i32, file: FileRef, cloexec: bool) -> KResult<()> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        if i >= nofile_limit() {
            return Err(Errno::EBADF);
        }
        let old = {
            let mut fds = self.fds.lock();
            if i >= fds.len() {
                let more = i + 1 - fds.len();
                fds.try_reserve(more).map_err(|_| Errno::ENOMEM)?;
                fds.resize(i + 1, None);
            }
            fds[i].replace(Fd { file, cloexec })
        };
        drop(old); // the old file may be released: not under the lock
        Ok(())
    }

    /// close(2) (Linux: close_fd). EBADF if not open.
    pub fn close(&self, fd: i32) -> KResult<()> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        let old = self.fds.lock().get_mut(i).and_then(|e| e.take());
        old.map(drop).ok_or(Errno::EBADF)
    }

    /// The close-on-exec flag of `fd` (fcntl F_GETFD).
    pub fn cloexec(&self, fd: i32) -> KResult<bool> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        self.fds.lock().get(i).and_then(|e| e.as_ref()).map(|e| e.cloexec).ok_or(Errno::EBADF)
    }

    /// fcntl F_SETFD.
    pub fn set_cloexec(&self, fd: i32, on: bool) -> KResult<()> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        let mut fds = self.fds.lock();
        let e = fds.get_mut(i).and_then(|e| e.as_mut()).ok_or(Errno::EBADF)?;
        e.cloexec = on;
        Ok(())
    }

    /// Closes every close-on-exec descriptor (Linux: do_close_on_exec).
    pub fn close_on_exec(&self) {
        let mut closed = Vec::new();
        {
            let mut fds = self.fds.lock();
            for e in fds.iter_mut() {
                if e.as_ref().is_some_and(|e| e.cloexec) && closed.try_reserve(1).is_ok() {
                    closed.push(e.take());
                }
            }
        }
        drop(closed);
    }
}

/// The soft RLIMIT_NOFILE of the current process.
fn nofile_limit() -> usize {
    crate::sched::current().map_or(1024, |t| t.rlimit(RLIMIT_NOFILE).0.min(1 << 20) as usize)
}

/// A working directory (Linux: struct fs_struct, its pwd).
pub struct FsStruct {
    cwd: SpinLockIrq<Path>,
    /// The mode bits new files and directories do not get (Linux: umask).
    umask: core::sync::atomic::AtomicU32,
}

pub type FsRef = Arc<FsStruct>;

impl FsStruct {
    pub fn new(cwd: Path) -> KResult<FsRef> {
        let umask = core::sync::atomic::AtomicU32::new(0o022);
        Arc::try_new(FsStruct { cwd: SpinLockIrq::new(cwd), umask }).map_err(|_| Errno::ENOMEM)
    }

    /// A copy for fork (Linux: copy_fs_struct).
    pub fn copy(&self) -> KResult<FsRef> {
        let copy = FsStruct::new(self.cwd()?)?;
        copy.umask.store(self.umask(), core::sync::atomic::Ordering::Relaxed);
        Ok(copy)
    }

    pub fn umask(&self) -> u32 {
        self.umask.load(core::sync::atomic::Ordering::Relaxed)
    }

    /// umask(2): sets the mask, returns the old one.
    pub fn set_umask(&self, mask: u32) -> u32 {
        self.umask.swap(mask & 0o777, core::sync::atomic::Ordering::Relaxed)
    }

    pub fn cwd(&self) -> KResult<Path> {
        self.cwd.lock().try_clone()
    }

    pub fn set_cwd(&self, p: Path) {
        let old = core::mem::replace(&mut *self.cwd.lock(), p);
        drop(old);
    }
}
