//! The mount table (Linux: fs/namespace.c do_mount, path_mount, do_umount;
//! fs/namei.c follow_mount; fs/proc_namespace.c for /proc/mounts).
//!
//! A mount puts the root directory of a filesystem over a directory, the
//! mountpoint: path lookup, on reaching the mountpoint, continues in the
//! mounted root instead (`follow_mount`), and `..` from that root goes back
//! to the mountpoint's parent, because a `Path` remembers the chain it came
//! down. Filesystems: `ext4` (and `ext2`), read-only, from a disk; `tmpfs`
//! (and `ramfs`), an empty RAM directory.
//!
//! Where Pagoda differs: one mount namespace, no bind, move or remount,
//! and ext4 is always read-only.

use super::inode::{Inode, InodeKind, InodeRef};
use super::namei::{path_lookup, Path};
use crate::kprintln;
use crate::sync::SpinLockIrq;
use alloc::string::String;
use alloc::vec::Vec;
use log::warn;
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};

/// mount(2) flags (Linux: include/uapi/linux/mount.h).
pub const MS_RDONLY: usize = 1;
const MS_NOSUID: usize = 2;
const MS_NODEV: usize = 4;
const MS_NOEXEC: usize = 8;
const MS_SILENT: usize = 1 << 15;
const MS_NOATIME: usize = 1 << 10;
const MS_RELATIME: usize = 1 << 21;
/// The flags Pagoda takes (and, beyond MS_RDONLY, ignores).
const MS_SUPPORTED: usize =
    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SILENT | MS_NOATIME | MS_RELATIME;
/// umount2(2) flags.
const MNT_FORCE: usize = 1;
const MNT_DETACH: usize = 2;

struct Mount {
    /// The directory it covers (Linux: mnt_mountpoint).
    mountpoint: InodeRef,
    /// The mounted filesystem's root (Linux: mnt_root).
    root: InodeRef,
    /// For /proc/mounts.
    source: String,
    target: String,
    fstype: &'static str,
    read_only: bool,
}

static MOUNTS: SpinLockIrq<Vec<Mount>> = SpinLockIrq::new(Vec::new());

/// The root of what is mounted on `dir`, the last mount if several are
/// stacked (Linux: follow_mount / __lookup_mnt).
pub fn follow_mount(dir: &InodeRef) -> Option<InodeRef> {
    let mounts = MOUNTS.lock();
    let mut at = mounts.iter().rev().find(|m| Arc::ptr_eq(&m.mountpoint, dir))?.root.clone();
    // A filesystem mounted on the root of another.
    while let Some(m) = mounts.iter().rev().find(|m| Arc::ptr_eq(&m.mountpoint, &at)) {
        at = m.root.clone();
    }
    Some(at)
}

/// Makes the root of a new filesystem of type `fstype` from `source`
/// (Linux: the file_system_type's ->mount / get_tree). Returns it and
/// whether it is read-only.
fn get_tree(
    fstype: &str,
    source: &str,
    start: &Path,
    flags: usize,
) -> KResult<(InodeRef, &'static str, bool)> {
    match fstype {
        "ext4" | "ext2" | "ext3" => {
            let dev = path_lookup(start, source, true)?;
            let InodeKind::Blk(bdev) = dev.inode().kind else { return Err(Errno::ENOTBLK) };
            if flags & MS_RDONLY == 0 {
                warn!("EXT4-fs ({}): Pagoda mounts ext4 read-only", bdev.disk.name);
            }
            let name = if fstype == "ext2" { "ext2" } else { "ext4" };
            Ok((super::ext4::ext4_fill_super(bdev)?, name, true))
        }
        "tmpfs" | "ramfs" => {
            let name = if fstype == "tmpfs" { "tmpfs" } else { "ramfs" };
            Ok((Inode::new_dir(0o1777)?, name, flags & MS_RDONLY != 0))
        }
        _ => Err(Errno::ENODEV),
    }
}

/// mount(2) of a new filesystem on the directory `target` (Linux:
/// do_new_mount). ENOENT/ENOTDIR for a bad target, ENODEV for an unknown
/// type, ENOTBLK for a source that is not a disk, EINVAL for a disk with no
/// such filesystem or flags Pagoda does not have (bind, move, remount).
pub fn do_mount(start: &Path, source: &str, target: &str, fstype: &str, flags: usize) -> KResult<()> {
    if flags & !MS_SUPPORTED != 0 {
        return Err(Errno::EINVAL);
    }
    let at = path_lookup(start, target, true)?;
    if !at.inode().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let (root, fstype, read_only) = get_tree(fstype, source, start, flags)?;
    let mount = Mount {
        mountpoint: at.inode().clone(),
        root,
        source: try_string(source)?,
        target: at.to_string()?,
        fstype,
        read_only,
    };
    let mut mounts = MOUNTS.lock();
    mounts.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
    mounts.push(mount);
    Ok(())
}

fn try_string(s: &str) -> KResult<String> {
    let mut o = String::new();
    o.try_reserve_exact(s.len()).map_err(|_| Errno::ENOMEM)?;
    o.push_str(s);
    Ok(o)
}

/// Whether anything beyond the filesystem's own tree holds an inode in it:
/// an open file, a working directory, a mapping (Linux: the mount's
/// reference count, propagate_mount_busy). `root_refs` is how many
/// references the root has from the mount table and the caller.
fn busy(root: &InodeRef, root_refs: usize) -> bool {
    fn subtree_busy(dir: &InodeRef) -> bool {
        let check = |e: &[(String, InodeRef)]| {
            e.iter().any(|(_, i)| Arc::count(i) > 1 || (i.is_dir() && subtree_busy(i)))
        };
        match &dir.kind {
            InodeKind::Dir(e) => check(&e.lock()),
            InodeKind::Ext4Dir(d) => d.with_loaded_entries(check),
            _ => false,
        }
    }
    Arc::count(root) > root_refs || subtree_busy(root)
}

/// umount2(2) (Linux: do_umount): EINVAL if `target` is not the root of a
/// mount, EBUSY if something in it is in use (unless MNT_DETACH, which
/// takes it out of the tree at once and leaves the rest to the last user).
pub fn do_umount(start: &Path, target: &str, flags: usize) -> KResult<()> {
    if flags & !(MNT_FORCE | MNT_DETACH) != 0 {
        return Err(Errno::EINVAL);
    }
    let at = path_lookup(start, target, true)?;
    let is_root = |m: &Mount| Arc::ptr_eq(&m.root, at.inode());
    if !MOUNTS.lock().iter().any(is_root) {
        return Err(Errno::EINVAL);
    }
    // The root is held by the table, by `at`, and by nothing else if the
    // filesystem is idle. Checked without the table's spin lock: the walk
    // takes the directories' sleeping locks.
    if flags & MNT_DETACH == 0 && busy(at.inode(), 2) {
        return Err(Errno::EBUSY);
    }
    let mut mounts = MOUNTS.lock();
    let i = mounts.iter().rposition(is_root).ok_or(Errno::EINVAL)?;
    let gone = mounts.remove(i);
    drop(mounts);
    drop(gone);
    Ok(())
}

/// /proc/mounts (Linux: show_vfsmnt): the root first, then each mount.
pub fn show_mounts() {
    kprintln!("rootfs / rootfs rw 0 0");
    for m in MOUNTS.lock().iter() {
        kprintln!(
            "{} {} {} {},relatime 0 0",
            m.source,
            m.target,
            m.fstype,
            if m.read_only { "ro" } else { "rw" }
        );
    }
}

fn cmd_mounts(_: &str) {
    show_mounts()
}

crate::monitor_cmd!(MON_MOUNTS, "mounts", "mounted filesystems (/proc/mounts)", cmd_mounts);
