//! Inodes of the RAM filesystem (Linux: include/linux/fs.h struct inode,
//! fs/ramfs/inode.c, fs/libfs.c simple_* operations).
//!
//! Pagoda's root filesystem lives in memory, as Linux's rootfs does before
//! it mounts a disk: the initramfs is unpacked into it at boot, and
//! programs may create directories and files in it. An inode is one of:
//!
//! - a directory: its entries, name to inode, under a sleeping lock (Linux:
//!   i_rwsem; the dentry cache is these lists);
//! - a regular file: its bytes, which for a file from the archive are the
//!   archive's own bytes until the first write copies them (the archive
//!   stays in RAM, as Linux keeps the initramfs pages until it frees them);
//! - a symbolic link: its target;
//! - a character device: /dev/null, /dev/zero or /dev/console;
//! - a block device: /dev/vda, ... (block/bdev.rs).
//!
//! Where Pagoda differs: file data is a plain byte vector, not pages in a
//! page cache (the file issue brings the address_space and tmpfs); there
//! are no hard links across directories beyond `.`/`..` counting, no
//! timestamps, owners other than root, or permission checks beyond the
//! execute bit exec needs (every process runs as root).

use crate::sync::Mutex;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};

/// The type bits of a mode (Linux: S_IFMT and friends).
pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFBLK: u32 = 0o060000;
pub const S_IFIFO: u32 = 0o010000;

/// The longest name of one path component (Linux: NAME_MAX).
pub const NAME_MAX: usize = 255;

pub type InodeRef = Arc<Inode>;

/// The character devices Pagoda has (Linux: drivers/char/mem.c for null
/// and zero, drivers/tty for the console).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CharDev {
    Null,
    Zero,
    Console,
}

impl CharDev {
    /// The device number, as new_encode_dev packs (major, minor).
    pub fn rdev(self) -> u64 {
        let (major, minor) = match self {
            CharDev::Null => (1, 3),
            CharDev::Zero => (1, 5),
            CharDev::Console => (5, 1),
        };
        (major << 8) | minor
    }
}

/// What an inode is.
pub enum InodeKind {
    /// Entries in creation order (Linux: the dentry's d_subdirs).
    Dir(Mutex<Vec<(String, InodeRef)>>),
    /// A tmpfs file: its bytes in its page cache (mm/shmem.rs).
    Reg(crate::mm::shmem::ShmemFile),
    Symlink(String),
    Char(CharDev),
    /// A disk (block/bdev.rs): /dev/vda.
    Blk(&'static crate::block::BlockDevice),
    /// A directory and a regular file of a mounted ext4 filesystem (ext4.rs).
    Ext4Dir(super::ext4::Ext4Dir),
    Ext4File(super::ext4::Ext4File),
}

/// A file in the RAM filesystem (Linux: struct inode).
pub struct Inode {
    pub ino: u64,
    /// Type and permission bits (Linux: i_mode).
    mode: AtomicU32,
    /// Links: names that refer to it, plus `.` and the subdirectories' `..`
    /// for a directory (Linux: i_nlink).
    nlink: AtomicU32,
    pub kind: InodeKind,
}

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

impl Inode {
    /// A new inode (Linux: new_inode + the ramfs_get_inode switch on mode).
    pub fn new(mode: u32, kind: InodeKind) -> KResult<InodeRef> {
        let nlink = if mode & S_IFMT == S_IFDIR { 2 } else { 1 };
        Arc::try_new(Inode {
            ino: NEXT_INO.fetch_add(1, Relaxed),
            mode: AtomicU32::new(mode),
            nlink: AtomicU32::new(nlink),
            kind,
        })
        .map_err(|_| Errno::ENOMEM)
    }

    pub fn new_dir(perm: u32) -> KResult<InodeRef> {
        Inode::new(S_IFDIR | (perm & 0o7777), InodeKind::Dir(Mutex::new(Vec::new())))
    }

    pub fn mode(&self) -> u32 {
        self.mode.load(Relaxed)
    }

    pub fn file_type(&self) -> u32 {
        self.mode() & S_IFMT
    }

    pub fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }

    pub fn nlink(&self) -> u32 {
        self.nlink.load(Relaxed)
    }

    pub(super) fn inc_nlink(&self) {
        self.nlink.fetch_add(1, Relaxed);
    }

    pub(super) fn drop_nlink(&self) {
        self.nlink.fetch_sub(1, Relaxed);
    }

    /// The size stat reports: bytes for a file, the target's length for a
    /// symlink, 0 otherwise (tmpfs reports directory sizes differently;
    /// tests do not print them).
    pub fn size(&self) -> u64 {
        match &self.kind {
            InodeKind::Reg(f) => f.size(),
            InodeKind::Ext4File(f) => f.size(),
            InodeKind::Symlink(t) => t.len() as u64,
            _ => 0,
        }
    }

    /// Its page cache, for a file whose data has one (Linux: i_mapping).
    pub fn mapping(&self) -> Option<&crate::mm::address_space::AddressSpace> {
        match &self.kind {
            InodeKind::Reg(f) => Some(f.mapping()),
            InodeKind::Blk(b) => Some(&b.mapping),
            InodeKind::Ext4File(f) => Some(&f.mapping),
            _ => None,
        }
    }

    /// The device of the filesystem holding it, if not the RAM root's
    /// (stat's st_dev).
    pub fn dev(&self) -> Option<u64> {
        match &self.kind {
            InodeKind::Ext4Dir(d) => Some(d.dev()),
            InodeKind::Ext4File(f) => Some(f.dev()),
            _ => None,
        }
    }

    /// The device number of a character or block device, else 0.
    pub fn rdev(&self) -> u64 {
        match &self.kind {
            InodeKind::Char(c) => c.rdev(),
            InodeKind::Blk(b) => b.disk.rdev(),
            _ => 0,
        }
    }

    /// The entry `name` of this directory (Linux: simple_lookup in the
    /// dcache). ENOTDIR if this is not a directory.
    pub fn lookup(&self, name: &str) -> KResult<Option<InodeRef>> {
        let find = |e: &[(String, InodeRef)]| e.iter().find(|(n, _)| n == name).map(|(_, i)| i.clone());
        match &self.kind {
            InodeKind::Dir(entries) => Ok(find(&entries.lock())),
            InodeKind::Ext4Dir(d) => d.with_entries(find),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// Whether this inode belongs to a read-only filesystem (EROFS for
    /// anything that would change it).
    pub fn is_read_only(&self) -> bool {
        matches!(self.kind, InodeKind::Ext4Dir(_) | InodeKind::Ext4File(_))
    }

    /// Adds `name` -> `inode` to this directory (Linux: d_instantiate after
    /// ramfs_mknod / ramfs_mkdir). EEXIST if the name is taken.
    pub fn link(&self, name: &str, inode: InodeRef) -> KResult<()> {
        if self.is_read_only() {
            return Err(Errno::EROFS);
        }
        let InodeKind::Dir(entries) = &self.kind else { return Err(Errno::ENOTDIR) };
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut e = entries.lock();
        if e.iter().any(|(n, _)| n == name) {
            return Err(Errno::EEXIST);
        }
        let mut owned = String::new();
        owned.try_reserve_exact(name.len()).map_err(|_| Errno::ENOMEM)?;
        owned.push_str(name);
        e.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        if inode.is_dir() {
            self.inc_nlink(); // the child's ".."
        }
        e.push((owned, inode));
        Ok(())
    }

    /// Removes `name` from this directory (Linux: simple_unlink, and
    /// simple_rmdir when `dir` is set): EISDIR/ENOTDIR if the entry is of
    /// the other kind, ENOTEMPTY for a directory with entries.
    pub fn unlink(&self, name: &str, dir: bool) -> KResult<()> {
        if self.is_read_only() {
            return Err(Errno::EROFS);
        }
        let InodeKind::Dir(entries) = &self.kind else { return Err(Errno::ENOTDIR) };
        let mut e = entries.lock();
        let i = e.iter().position(|(n, _)| n == name).ok_or(Errno::ENOENT)?;
        let victim = &e[i].1;
        match (dir, victim.is_dir()) {
            (false, true) => return Err(Errno::EISDIR),
            (true, false) => return Err(Errno::ENOTDIR),
            (true, true) => {
                if victim.lookup_any()? {
                    return Err(Errno::ENOTEMPTY);
                }
                self.drop_nlink(); // its ".."
                victim.drop_nlink(); // its "."
            }
            (false, false) => {}
        }
        victim.drop_nlink();
        // The inode lives on while a file or a working directory holds it.
        let (_, gone) = e.remove(i);
        drop(e);
        drop(gone);
        Ok(())
    }

    /// Whether this directory has any entry.
    fn lookup_any(&self) -> KResult<bool> {
        let InodeKind::Dir(entries) = &self.kind else { return Err(Errno::ENOTDIR) };
        Ok(!entries.lock().is_empty())
    }

    /// The entries, for getdents (names and inodes, in creation order).
    pub fn entries(&self) -> KResult<Vec<(String, InodeRef)>> {
        match &self.kind {
            InodeKind::Dir(entries) => copy_entries(&entries.lock()),
            InodeKind::Ext4Dir(d) => d.with_entries(copy_entries)?,
            _ => Err(Errno::ENOTDIR),
        }
    }
}

/// A copy of a directory's entries that may fail instead of aborting.
fn copy_entries(e: &[(String, InodeRef)]) -> KResult<Vec<(String, InodeRef)>> {
    let mut out = Vec::new();
    out.try_reserve_exact(e.len()).map_err(|_| Errno::ENOMEM)?;
    for (n, i) in e.iter() {
        let mut name = String::new();
        name.try_reserve_exact(n.len()).map_err(|_| Errno::ENOMEM)?;
        name.push_str(n);
        out.push((name, i.clone()));
    }
    Ok(out)
}
