//! Filesystems (Linux: fs/).
//!
//! - `inode.rs`: the RAM filesystem's inodes (directories, files, symbolic
//!   links, character devices);
//! - `namei.rs`: path lookup, with `..`, symbolic links and mountpoints;
//! - `mount.rs`: the mount table, mount and umount2;
//! - `ext4.rs`: ext4 disks, read-only, with each file's page cache;
//! - `initramfs.rs`: unpacking the boot archive into the root, and /dev;
//! - `file.rs`: open files: read, write, lseek, getdents, stat;
//! - `fdtable.rs`: descriptor tables and working directories;
//! - `pipe.rs`: pipes;
//! - `fs_writeback.rs`: the flusher thread, sync, dirty throttling;
//! - `char_dev.rs`: the console as a terminal;
//! - `select.rs`: ppoll (and so pause);
//! - `binfmt_elf.rs`, `exec.rs`: the ELF loader and execve.
//!
//! The system calls on top are in syscall/open.rs, read_write.rs, fd.rs and
//! stat.rs. The page cache, tmpfs, block devices and mounts come with the
//! file issue; the /proc-style views live in mm/procfs.rs until procfs
//! exists.
pub mod binfmt_elf;
pub mod char_dev;
pub mod exec;
pub mod ext4;
pub mod fdtable;
pub mod file;
pub mod fs_writeback;
pub mod initramfs;
pub mod inode;
pub mod mount;
pub mod namei;
pub mod pipe;
pub mod select;

use fdtable::{FilesRef, FsRef};
use pagoda_klib::errno::{Errno, KResult};

/// The current process's descriptor table (EBADF for a kernel thread).
pub fn current_files() -> KResult<FilesRef> {
    crate::sched::current().and_then(|t| t.files.lock().clone()).ok_or(Errno::EBADF)
}

/// The current process's working directory state.
pub fn current_fs() -> KResult<FsRef> {
    crate::sched::current().and_then(|t| t.fs.lock().clone()).ok_or(Errno::ENOENT)
}

/// The working directory, or the root for a kernel thread.
pub fn current_cwd() -> KResult<namei::Path> {
    match current_fs() {
        Ok(fs) => fs.cwd(),
        Err(_) => namei::Path::root(),
    }
}

/// Gives the current process the descriptors init gets, 0, 1 and 2 on
/// /dev/console, and the root as working directory, if it has none yet
/// (Linux: console_on_rootfs, for the first exec of a kernel thread).
pub fn init_files_and_fs() -> KResult<()> {
    let me = crate::sched::current().ok_or(Errno::ESRCH)?;
    if me.files.lock().is_none() {
        let files = fdtable::FilesStruct::new()?;
        let console = file::File::open(namei::kern_path("/dev/console")?, file::O_RDWR)?;
        for _ in 0..3 {
            files.alloc_fd(0, console.clone(), false)?;
        }
        *me.files.lock() = Some(files);
    }
    if me.fs.lock().is_none() {
        let fs = fdtable::FsStruct::new(namei::Path::root()?)?;
        *me.fs.lock() = Some(fs);
    }
    Ok(())
}

/// The disk `path` names, from the working directory (Linux:
/// lookup_bdev). ENOTBLK if it is something else.
pub fn lookup_blkdev(path: &str) -> KResult<&'static crate::block::BlockDevice> {
    let p = namei::path_lookup(&current_cwd()?, path, true)?;
    match p.inode().kind {
        inode::InodeKind::Blk(bdev) => Ok(bdev),
        _ => Err(Errno::ENOTBLK),
    }
}
