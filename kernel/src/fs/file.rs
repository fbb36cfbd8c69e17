//! Open files (Linux: include/linux/fs.h struct file, fs/read_write.c,
//! fs/libfs.c dcache_readdir, fs/stat.c).
//!
//! A file is what a descriptor refers to: an inode reached by a path (a
//! regular file, a directory, a character device) or one end of a pipe,
//! with a position and the status flags of open(2). Descriptors share a
//! file after dup or fork, and with it the position, as in Linux.
//!
//! Every transfer goes straight between the file and user memory through
//! uaccess: a bad buffer gives EFAULT, or the count done before the fault.

use super::inode::{CharDev, InodeKind, InodeRef, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT};
use super::namei::Path;
use super::pipe::Pipe;
use crate::mm::uaccess::{clear_user, copy_to_user};
use crate::sync::Mutex;
use core::sync::atomic::{AtomicU32, Ordering::*};
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};

// open(2) flags, arm64 values (Linux: include/uapi/asm-generic/fcntl.h
// and arch/arm64/include/uapi/asm/fcntl.h).
pub const O_ACCMODE: u32 = 0o3;
pub const O_RDONLY: u32 = 0o0;
pub const O_WRONLY: u32 = 0o1;
pub const O_RDWR: u32 = 0o2;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_NOCTTY: u32 = 0o400;
pub const O_TRUNC: u32 = 0o1000;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_DIRECTORY: u32 = 0o40000;
pub const O_NOFOLLOW: u32 = 0o100000;
pub const O_DIRECT: u32 = 0o200000;
pub const O_LARGEFILE: u32 = 0o400000;
pub const O_NOATIME: u32 = 0o1000000;
pub const O_CLOEXEC: u32 = 0o2000000;
pub const O_PATH: u32 = 0o10000000;

/// The largest count one read or write moves (Linux: MAX_RW_COUNT).
pub const MAX_RW_COUNT: usize = 0x7fff_f000;

pub type FileRef = Arc<File>;

/// What a file reads from and writes to.
pub enum FileKind {
    /// An inode, with the path it was opened by (for fchdir and `..` in
    /// getdents).
    Inode(Path),
    PipeRead(Arc<Pipe>),
    PipeWrite(Arc<Pipe>),
}

/// An open file (Linux: struct file).
pub struct File {
    pub kind: FileKind,
    /// The position (Linux: f_pos, serialised by f_pos_lock).
    pos: Mutex<u64>,
    /// Access mode and status flags (Linux: f_flags).
    flags: AtomicU32,
    /// Where reads of it stand, for readahead (Linux: f_ra).
    ra: Mutex<pagoda_mm::readahead::RaState>,
}

/// What stat(2) reports (Linux: struct kstat, the fields Pagoda has).
pub struct Kstat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub nlink: u32,
    pub rdev: u64,
    pub size: u64,
}

impl File {
    /// A file for `path`'s inode with open(2)'s `flags` (the creation
    /// flags and O_CLOEXEC are not kept, as in Linux's do_dentry_open).
    /// A read-only disk opens for writing too; writes get EPERM (Linux 6.1).
    pub fn open(path: Path, flags: u32) -> KResult<FileRef> {
        if path.inode().is_read_only() && flags & O_PATH == 0 && flags & O_ACCMODE != O_RDONLY {
            return Err(Errno::EROFS); // Linux: mnt_want_write on a read-only mount
        }
        let bdev = match &path.inode().kind {
            InodeKind::Blk(bdev) => Some(*bdev),
            _ => None,
        };
        let file = Self::new(FileKind::Inode(path), flags)?;
        if let Some(b) = bdev {
            b.open(); // paired with release in Drop
        }
        Ok(file)
    }

    pub fn new(kind: FileKind, flags: u32) -> KResult<FileRef> {
        let kept = (flags & !(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC)) | O_LARGEFILE;
        let ra = Mutex::new(pagoda_mm::readahead::RaState::default());
        Arc::try_new(File { kind, pos: Mutex::new(0), flags: AtomicU32::new(kept), ra })
            .map_err(|_| Errno::ENOMEM)
    }

    pub fn flags(&self) -> u32 {
        self.flags.load(Relaxed)
    }

    /// fcntl(F_SETFL): only O_APPEND, O_NONBLOCK, O_DIRECT and O_NOATIME
    /// change (Linux: setfl).
    pub fn set_status_flags(&self, new: u32) {
        const CHANGEABLE: u32 = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME;
        let old = self.flags();
        self.flags.store((old & !CHANGEABLE) | (new & CHANGEABLE), Relaxed);
    }

    pub fn readable(&self) -> bool {
        self.flags() & O_PATH == 0 && matches!(self.flags() & O_ACCMODE, O_RDONLY | O_RDWR)
    }

    pub fn writable(&self) -> bool {
        self.flags() & O_PATH == 0 && matches!(self.flags() & O_ACCMODE, O_WRONLY | O_RDWR)
    }

    fn nonblock(&self) -> bool {
        self.flags() & O_NONBLOCK != 0
    }

    /// The inode, if the file has one (pipes have none here).
    pub fn inode(&self) -> Option<&InodeRef> {
        match &self.kind {
            FileKind::Inode(p) => Some(p.inode()),
            _ => None,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        match &self.kind {
            FileKind::Inode(p) => Some(p),
            _ => None,
        }
    }

    /// Whether the file has a position to seek (Linux: FMODE_LSEEK).
    fn seekable(&self) -> bool {
        match self.inode() {
            Some(i) => !matches!(i.kind, InodeKind::Char(CharDev::Console)),
            None => false,
        }
    }

    /// The checks before a transfer (Linux: the FMODE_READ/WRITE tests and
    /// rw_verify_area): EBADF without the access, EFAULT for a buffer
    /// outside user space (even for /dev/null), ESPIPE for a positioned
    /// transfer on an unseekable file; the count capped at MAX_RW_COUNT.
    fn rw_verify(&self, allowed: bool, buf: usize, count: usize, at: Option<u64>) -> KResult<usize> {
        if !allowed {
            return Err(Errno::EBADF);
        }
        if !crate::mm::uaccess::access_ok(buf, count) {
            return Err(Errno::EFAULT);
        }
        if at.is_some() && !self.seekable() {
            return Err(Errno::ESPIPE);
        }
        Ok(count.min(MAX_RW_COUNT))
    }

    /// read(2) at the file position, or pread64 at `at` (Linux: vfs_read).
    pub fn read(&self, buf: usize, count: usize, at: Option<u64>) -> KResult<usize> {
        let count = self.rw_verify(self.readable(), buf, count, at)?;
        match &self.kind {
            FileKind::PipeRead(p) => p.read(buf, count, self.nonblock()),
            FileKind::PipeWrite(_) => Err(Errno::EBADF),
            FileKind::Inode(path) => match &path.inode().kind {
                InodeKind::Dir(_) | InodeKind::Ext4Dir(_) => Err(Errno::EISDIR),
                InodeKind::Symlink(_) => Err(Errno::EINVAL),
                InodeKind::Ext4File(f) => {
                    self.positioned(at, |off| f.read(&mut self.ra.lock(), off, buf, count))
                }
                InodeKind::Char(CharDev::Null) => Ok(0),
                InodeKind::Char(CharDev::Zero) => read_zero(buf, count),
                InodeKind::Char(CharDev::Console) => super::char_dev::console_read(buf, count),
                InodeKind::Reg(data) => self.positioned(at, |off| data.read(off, buf, count)),
                InodeKind::Blk(bdev) => {
                    self.positioned(at, |off| bdev.read(&mut self.ra.lock(), off, buf, count))
                }
            },
        }
    }

    /// A transfer at `at` (pread/pwrite) or at the file position, which
    /// then moves past what was transferred. A fault part way returns what
    /// was copied (Linux: filemap_read's partial copy_page_to_iter).
    fn positioned(&self, at: Option<u64>, f: impl FnOnce(u64) -> KResult<usize>) -> KResult<usize> {
        let mut pos = self.pos.lock();
        let off = at.unwrap_or(*pos);
        let n = f(off)?;
        if at.is_none() {
            *pos = off + n as u64;
        }
        Ok(n)
    }

    /// Turns readahead on or off for this file (fadvise RANDOM/NORMAL;
    /// Linux: FMODE_RANDOM).
    pub fn set_readahead(&self, on: bool) {
        self.ra.lock().random = !on;
    }

    /// fsync(2) and fdatasync(2) (Linux: vfs_fsync_range): a disk's dirty
    /// pages go out and are waited for; a tmpfs file has nowhere to go;
    /// EINVAL for what has no fsync (pipes, character devices).
    pub fn fsync(&self) -> KResult<()> {
        match self.inode().map(|i| &i.kind) {
            Some(InodeKind::Blk(bdev)) => bdev.fsync(),
            Some(InodeKind::Reg(_) | InodeKind::Dir(_) | InodeKind::Ext4Dir(_) | InodeKind::Ext4File(_)) => {
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// write(2) at the file position (the end with O_APPEND), or pwrite64
    /// at `at` (Linux: vfs_write, generic_perform_write for the RAM file).
    pub fn write(&self, buf: usize, count: usize, at: Option<u64>) -> KResult<usize> {
        let count = self.rw_verify(self.writable(), buf, count, at)?;
        match &self.kind {
            FileKind::PipeWrite(p) => p.write(buf, count, self.nonblock()),
            FileKind::PipeRead(_) => Err(Errno::EBADF),
            FileKind::Inode(path) => match &path.inode().kind {
                InodeKind::Dir(_) | InodeKind::Ext4Dir(_) => Err(Errno::EISDIR),
                InodeKind::Symlink(_) => Err(Errno::EINVAL),
                // Not opened for writing: File::open refused with EROFS.
                InodeKind::Ext4File(_) => Err(Errno::EBADF),
                InodeKind::Char(CharDev::Null | CharDev::Zero) => Ok(count),
                InodeKind::Char(CharDev::Console) => super::char_dev::console_write(buf, count),
                InodeKind::Blk(bdev) => self.positioned(at, |off| bdev.write(off, buf, count)),
                InodeKind::Reg(data) => {
                    let mut pos = self.pos.lock();
                    let append = self.flags() & O_APPEND != 0;
                    let (n, off) = data.write(at.unwrap_or(*pos), append, buf, count)?;
                    if at.is_none() {
                        *pos = off + n as u64;
                    }
                    Ok(n)
                }
            },
        }
    }

    /// lseek(2) (Linux: generic_file_llseek, dcache_dir_lseek, null_lseek).
    pub fn llseek(&self, offset: i64, whence: u32) -> KResult<u64> {
        const SEEK_SET: u32 = 0;
        const SEEK_CUR: u32 = 1;
        const SEEK_END: u32 = 2;
        const SEEK_DATA: u32 = 3;
        const SEEK_HOLE: u32 = 4;
        let inode = match self.inode() {
            Some(i) if self.seekable() => i,
            _ => return Err(Errno::ESPIPE),
        };
        if matches!(inode.kind, InodeKind::Char(_)) {
            // /dev/null and /dev/zero: every seek succeeds and lands at 0.
            *self.pos.lock() = 0;
            return Ok(0);
        }
        let mut pos = self.pos.lock();
        let size = match &inode.kind {
            InodeKind::Blk(bdev) => bdev.size() as i64, // Linux: blkdev_llseek
            _ => inode.size() as i64,
        };
        let dir = inode.is_dir();
        let new = match whence {
            SEEK_SET => Some(offset),
            SEEK_CUR => (*pos as i64).checked_add(offset),
            SEEK_END if !dir => size.checked_add(offset),
            SEEK_DATA if !dir => {
                if offset >= size {
                    return Err(Errno::ENXIO);
                }
                Some(offset)
            }
            SEEK_HOLE if !dir => {
                if offset >= size {
                    return Err(Errno::ENXIO);
                }
                Some(size)
            }
            _ => return Err(Errno::EINVAL),
        };
        match new {
            Some(n) if n >= 0 => {
                *pos = n as u64;
                Ok(n as u64)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// getdents64(2): `.`, `..`, then the entries, newest first as Linux's
    /// dcache_readdir lists a ramfs directory; the position counts entries.
    pub fn getdents64(&self, buf: usize, count: usize) -> KResult<usize> {
        let Some(path) = self.path() else { return Err(Errno::ENOTDIR) };
        if !path.inode().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if self.flags() & O_PATH != 0 {
            return Err(Errno::EBADF);
        }
        let entries = path.inode().entries()?;
        let parent_ino = path.parent_ino();
        let mut pos = self.pos.lock();
        let mut out = 0usize;
        loop {
            let i = *pos as usize;
            let (name, ino, dtype): (&str, u64, u8) = match i {
                0 => (".", path.inode().ino, DT_DIR),
                1 => ("..", parent_ino, DT_DIR),
                _ => match entries.len().checked_sub(i - 1) {
                    Some(k) => {
                        let (n, inode) = &entries[k];
                        (n.as_str(), inode.ino, dtype_of(inode.mode()))
                    }
                    None => break,
                },
            };
            let reclen = (19 + name.len() + 1).next_multiple_of(8);
            if out + reclen > count {
                if out == 0 {
                    return Err(Errno::EINVAL); // not even one fits
                }
                break;
            }
            let mut rec = [0u8; 19 + super::inode::NAME_MAX + 1 + 8];
            rec[0..8].copy_from_slice(&ino.to_le_bytes());
            rec[8..16].copy_from_slice(&(i as u64 + 1).to_le_bytes()); // d_off: the next position
            rec[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
            rec[18] = dtype;
            rec[19..19 + name.len()].copy_from_slice(name.as_bytes());
            copy_to_user(buf + out, &rec[..reclen])?;
            out += reclen;
            *pos += 1;
        }
        Ok(out)
    }

    /// fstat(2)'s view of the file.
    pub fn stat(&self) -> Kstat {
        match &self.kind {
            FileKind::Inode(p) => stat_inode(p.inode()),
            FileKind::PipeRead(pipe) | FileKind::PipeWrite(pipe) => {
                Kstat { dev: PIPEFS_DEV, ino: pipe.ino, mode: S_IFIFO | 0o600, nlink: 1, rdev: 0, size: 0 }
            }
        }
    }

    /// ioctl(2): the terminal requests on the console, the size requests
    /// on a disk; ENOTTY elsewhere.
    pub fn ioctl(&self, cmd: u32, arg: usize) -> KResult<usize> {
        match self.inode().map(|i| &i.kind) {
            Some(InodeKind::Char(CharDev::Console)) => super::char_dev::console_ioctl(cmd, arg),
            Some(InodeKind::Blk(bdev)) => crate::block::blkdev_ioctl(bdev, cmd, arg),
            _ => Err(Errno::ENOTTY),
        }
    }
}

/// The device numbers stat shows: the RAM root filesystem (Linux's rootfs
/// is an anonymous device, 0:N) and the pipe filesystem.
const ROOTFS_DEV: u64 = 2;
const PIPEFS_DEV: u64 = 12;

/// stat(2) of an inode.
pub fn stat_inode(i: &InodeRef) -> Kstat {
    let dev = i.dev().unwrap_or(ROOTFS_DEV);
    Kstat { dev, ino: i.ino, mode: i.mode(), nlink: i.nlink(), rdev: i.rdev(), size: i.size() }
}

/// Reading /dev/zero: zeros, a page-sized chunk at a time; a chunk that
/// faults ends the read with what the earlier chunks cleared, or EFAULT
/// (Linux: read_iter_zero).
fn read_zero(buf: usize, count: usize) -> KResult<usize> {
    let mut done = 0;
    while done < count {
        let n = (count - done).min(4096);
        if clear_user(buf + done, n).is_err() {
            return if done > 0 { Ok(done) } else { Err(Errno::EFAULT) };
        }
        done += n;
        if crate::sched::signal_pending() {
            break;
        }
    }
    Ok(done)
}

// d_type values (Linux: include/linux/fs_types.h).
const DT_FIFO: u8 = 1;
const DT_CHR: u8 = 2;
const DT_DIR: u8 = 4;
const DT_BLK: u8 = 6;
const DT_REG: u8 = 8;
const DT_LNK: u8 = 10;

fn dtype_of(mode: u32) -> u8 {
    match mode & S_IFMT {
        S_IFDIR => DT_DIR,
        S_IFLNK => DT_LNK,
        S_IFCHR => DT_CHR,
        S_IFBLK => DT_BLK,
        S_IFIFO => DT_FIFO,
        _ => DT_REG,
    }
}

/// The page cache of a file with a backing store (a disk, or a file on
/// one) and how to fill it; None for tmpfs, pipes and devices.
fn backed_cache(i: &InodeRef) -> Option<&dyn crate::mm::filemap::ReadPages> {
    match &i.kind {
        InodeKind::Blk(b) => Some(*b),
        InodeKind::Ext4File(f) => Some(f),
        _ => None,
    }
}

/// Reads pages `[first, end)` of the file into its page cache, at most a
/// readahead window's worth, as Linux does (force_page_cache_ra caps the
/// request at the device's ra_pages or io_pages; fadvise WILLNEED).
pub fn force_readahead(i: &InodeRef, first: usize, end: usize) -> KResult<()> {
    let Some(f) = backed_cache(i) else { return Ok(()) };
    let end = end.min(f.nr_pages()).min(first.saturating_add(f.ra_pages()));
    if first < end {
        f.readahead(first, end - first, None)?;
    }
    Ok(())
}

/// Starts writing back the dirty pages of the file and drops its cached
/// pages in `[first, end)` that nobody uses (Linux: fadvise DONTNEED's
/// __filemap_fdatawrite_range + invalidate_mapping_pages).
pub fn invalidate(i: &InodeRef, first: usize, end: usize) {
    if let InodeKind::Blk(b) = &i.kind {
        b.write_dirty_pages();
    }
    if let Some(f) = backed_cache(i) {
        // Pages still in a per-CPU LRU batch are referenced by it: put them
        // on their lists first (Linux: lru_add_drain_all in generic_fadvise).
        crate::mm::swap::lru_add_drain_all();
        f.cache().invalidate_mapping_pages(first, end);
    }
}

/// Cuts or extends a file to `len` bytes (Linux: O_TRUNC's do_truncate,
/// ftruncate).
pub fn truncate(i: &InodeRef, len: usize) -> KResult<()> {
    if i.is_read_only() {
        return Err(Errno::EROFS);
    }
    let InodeKind::Reg(data) = &i.kind else { return Err(Errno::EISDIR) };
    data.truncate(len as u64)
}

impl Drop for File {
    /// The last descriptor went: a pipe end tells the other side (Linux:
    /// fput -> pipe_release).
    fn drop(&mut self) {
        match &self.kind {
            FileKind::PipeRead(p) => p.release(false),
            FileKind::PipeWrite(p) => p.release(true),
            FileKind::Inode(path) => {
                if let InodeKind::Blk(bdev) = &path.inode().kind {
                    bdev.release();
                }
            }
        }
    }
}
