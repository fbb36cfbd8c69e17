//! Path lookup (Linux: fs/namei.c path_lookupat, link_path_walk,
//! filename_parentat; fs/d_path.c for getcwd).
//!
//! A [`Path`] is the chain of directories from the root down to an inode,
//! with their names: Linux finds `..` and the name of the working
//! directory through each dentry's parent, and the chain is Pagoda's
//! stand-in for the dentry tree. A walk starts from the root (an absolute
//! path), the working directory, or a directory descriptor, and takes one
//! component at a time: `.` stays, `..` goes up (never above the root), a
//! symbolic link is replaced by its target (at most 40 in one lookup:
//! ELOOP), a mountpoint leads into the root of what is mounted on it
//! (mount.rs), and every component but the last must be a directory
//! (ENOTDIR).

use super::inode::{Inode, InodeKind, InodeRef, NAME_MAX};
use crate::sync::SpinLockIrq;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use pagoda_klib::errno::{Errno, KResult};

/// Symbolic links followed in one lookup at most (Linux: MAXSYMLINKS).
const MAXSYMLINKS: usize = 40;
/// The longest path (Linux: PATH_MAX, with its NUL).
pub const PATH_MAX: usize = 4096;

static ROOT: SpinLockIrq<Option<InodeRef>> = SpinLockIrq::new(None);

/// The root directory, made on first use (Linux: init_mount_tree with
/// rootfs).
pub fn root() -> KResult<InodeRef> {
    if let Some(r) = ROOT.lock().as_ref() {
        return Ok(r.clone());
    }
    let r = Inode::new_dir(0o755)?;
    let mut slot = ROOT.lock();
    Ok(slot.get_or_insert(r).clone())
}

/// Where an inode sits: the directories from the root down to it, each
/// with its name ("" for the root) (Linux: struct path with its dentry
/// chain).
#[derive(Clone)]
pub struct Path {
    chain: Vec<(String, InodeRef)>,
}

impl Path {
    pub fn root() -> KResult<Path> {
        let mut chain = Vec::new();
        chain.try_reserve(8).map_err(|_| Errno::ENOMEM)?;
        chain.push((String::new(), root()?));
        Ok(Path { chain })
    }

    /// A file in no directory, known by `name` (Linux: a memfd's inode on
    /// the internal shmem mount, shown as "/memfd:NAME (deleted)").
    pub fn detached(name: &str, inode: InodeRef) -> KResult<Path> {
        let mut chain = Vec::new();
        chain.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        chain.push((try_string(name)?, inode));
        Ok(Path { chain })
    }

    pub fn inode(&self) -> &InodeRef {
        &self.chain.last().expect("a path has its root").1
    }

    /// The inode number of the parent directory (the root is its own).
    pub fn parent_ino(&self) -> u64 {
        let n = self.chain.len();
        self.chain[n.saturating_sub(2)].1.ino
    }

    /// A copy that may fail instead of aborting when memory is short.
    pub fn try_clone(&self) -> KResult<Path> {
        let mut chain = Vec::new();
        chain.try_reserve_exact(self.chain.len() + 8).map_err(|_| Errno::ENOMEM)?;
        for (n, i) in &self.chain {
            chain.push((try_string(n)?, i.clone()));
        }
        Ok(Path { chain })
    }

    fn push(&mut self, name: &str, inode: InodeRef) -> KResult<()> {
        self.chain.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        self.chain.push((try_string(name)?, inode));
        Ok(())
    }

    fn up(&mut self) {
        if self.chain.len() > 1 {
            self.chain.pop();
        }
    }

    fn go_root(&mut self) {
        self.chain.truncate(1);
    }

    /// The absolute path, as getcwd returns it (Linux: d_path).
    /// A file in no directory shows as "/NAME (deleted)", as Linux shows a
    /// memfd.
    pub fn to_string(&self) -> KResult<String> {
        let mut s = String::new();
        if !self.chain[0].0.is_empty() {
            let name = &self.chain[0].0;
            s.try_reserve_exact(name.len() + 11).map_err(|_| Errno::ENOMEM)?;
            s.push('/');
            s.push_str(name);
            s.push_str(" (deleted)");
            return Ok(s);
        }
        let len: usize = self.chain.iter().skip(1).map(|(n, _)| n.len() + 1).sum();
        s.try_reserve_exact(len.max(1)).map_err(|_| Errno::ENOMEM)?;
        for (n, _) in self.chain.iter().skip(1) {
            s.push('/');
            s.push_str(n);
        }
        if s.is_empty() {
            s.push('/');
        }
        Ok(s)
    }
}

fn try_string(s: &str) -> KResult<String> {
    let mut o = String::new();
    o.try_reserve_exact(s.len()).map_err(|_| Errno::ENOMEM)?;
    o.push_str(s);
    Ok(o)
}

/// Splits a path into its components, dropping empty ones and `.`
/// (`a//b/./c` is a, b, c). ENAMETOOLONG for a component over NAME_MAX.
fn components(path: &str, out: &mut VecDeque<String>, front: bool) -> KResult<()> {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    out.try_reserve(parts.len()).map_err(|_| Errno::ENOMEM)?;
    let mut owned = Vec::new();
    owned.try_reserve_exact(parts.len()).map_err(|_| Errno::ENOMEM)?;
    for c in parts {
        if c.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        owned.push(try_string(c)?);
    }
    if front {
        for c in owned.into_iter().rev() {
            out.push_front(c);
        }
    } else {
        out.extend(owned);
    }
    Ok(())
}

/// Walks `path` from `start` (used when `path` is relative). With
/// `follow`, a symbolic link as the last component is followed too
/// (Linux: LOOKUP_FOLLOW). ENOENT for an empty path.
pub fn path_lookup(start: &Path, path: &str, follow: bool) -> KResult<Path> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let mut at = if path.starts_with('/') { Path::root()? } else { start.try_clone()? };
    let mut todo = VecDeque::new();
    components(path, &mut todo, false)?;
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        let last = todo.is_empty();
        if !at.inode().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if name == ".." {
            at.up();
            continue;
        }
        let next = at.inode().lookup(&name)?.ok_or(Errno::ENOENT)?;
        // A mountpoint: go on in the mounted filesystem's root.
        let next = super::mount::follow_mount(&next).unwrap_or(next);
        if let InodeKind::Symlink(target) = &next.kind {
            if !last || follow {
                links += 1;
                if links > MAXSYMLINKS {
                    return Err(Errno::ELOOP);
                }
                if target.starts_with('/') {
                    at.go_root();
                }
                components(target, &mut todo, true)?;
                continue;
            }
        }
        at.push(&name, next)?;
    }
    // "file/" names a directory: a trailing slash on anything else fails.
    if path.ends_with('/') && !at.inode().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    Ok(at)
}

/// Walks to the parent of the last component and returns it with that
/// name, for creating or removing it (Linux: filename_parentat). The last
/// component may not be `.` or `..` (EEXIST for mkdir, EBUSY or ENOTEMPTY
/// elsewhere in Linux; the caller decides) and is returned as it is.
pub fn path_parent(start: &Path, path: &str) -> KResult<(Path, String)> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        // "/" or "": no last component to create or remove.
        return Err(if path.is_empty() { Errno::ENOENT } else { Errno::EEXIST });
    }
    let (dir, name) = match trimmed.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((dir, name)) => (dir, name),
        None => (".", trimmed),
    };
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let parent = if dir == "." { start.try_clone()? } else { path_lookup(start, dir, true)? };
    if !parent.inode().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    Ok((parent, try_string(name)?))
}

/// Looks up an absolute path from the root, following links (for the
/// kernel's own lookups: exec, the monitor, init).
pub fn kern_path(path: &str) -> KResult<Path> {
    path_lookup(&Path::root()?, path, true)
}

/// Makes every directory of `path` that does not exist yet (for the
/// initramfs, whose archive may list a file before its directory).
pub fn mkdir_p(path: &str) -> KResult<Path> {
    let mut at = Path::root()?;
    let mut todo = VecDeque::new();
    components(path, &mut todo, false)?;
    while let Some(name) = todo.pop_front() {
        let next = match at.inode().lookup(&name)? {
            Some(i) => i,
            None => {
                let d = Inode::new_dir(0o755)?;
                at.inode().link(&name, d.clone())?;
                d
            }
        };
        at.push(&name, next)?;
    }
    Ok(at)
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use crate::fs::inode::{S_IFLNK, S_IFREG};

    #[ktest]
    fn lookups_follow_dots_and_symlinks_and_report_linux_errors() {
        let base = mkdir_p("/ktest-namei/a/b").unwrap();
        let a = kern_path("/ktest-namei/a").unwrap();
        let f = Inode::new(S_IFREG | 0o644, InodeKind::Reg(crate::mm::shmem::ShmemFile::new(b"x"))).unwrap();
        base.inode().link("file", f.clone()).unwrap();
        let to_b = Inode::new(S_IFLNK | 0o777, InodeKind::Symlink(String::from("b"))).unwrap();
        a.inode().link("lb", to_b).unwrap();
        let abs =
            Inode::new(S_IFLNK | 0o777, InodeKind::Symlink(String::from("/ktest-namei/a/b/file"))).unwrap();
        a.inode().link("labs", abs).unwrap();
        let lp = Inode::new(S_IFLNK | 0o777, InodeKind::Symlink(String::from("loop"))).unwrap();
        a.inode().link("loop", lp).unwrap();

        let p = path_lookup(&a, "b/../b/./file", true).unwrap();
        assert!(pagoda_klib::arc::Arc::ptr_eq(p.inode(), &f));
        assert_eq!(p.to_string().unwrap(), "/ktest-namei/a/b/file");
        assert!(pagoda_klib::arc::Arc::ptr_eq(path_lookup(&a, "lb/file", true).unwrap().inode(), &f));
        assert!(pagoda_klib::arc::Arc::ptr_eq(path_lookup(&a, "labs", true).unwrap().inode(), &f));
        // Not followed as the last component without LOOKUP_FOLLOW.
        assert_eq!(path_lookup(&a, "labs", false).unwrap().inode().file_type(), S_IFLNK);
        assert_eq!(path_lookup(&a, "/../../ktest-namei", true).unwrap().to_string().unwrap(), "/ktest-namei");
        assert_eq!(path_lookup(&a, "nope", true).err(), Some(Errno::ENOENT));
        assert_eq!(path_lookup(&a, "b/file/x", true).err(), Some(Errno::ENOTDIR));
        assert_eq!(path_lookup(&a, "b/file/", true).err(), Some(Errno::ENOTDIR));
        assert_eq!(path_lookup(&a, "loop", true).err(), Some(Errno::ELOOP));
        assert_eq!(path_lookup(&a, "", true).err(), Some(Errno::ENOENT));
        let long = "x".repeat(NAME_MAX + 1);
        assert_eq!(path_lookup(&a, &long, true).err(), Some(Errno::ENAMETOOLONG));
        let (parent, name) = path_parent(&a, "b/newfile").unwrap();
        assert_eq!((parent.to_string().unwrap().as_str(), name.as_str()), ("/ktest-namei/a/b", "newfile"));
        // Clean up: leaves, then directories.
        base.inode().unlink("file", false).unwrap();
        for l in ["lb", "labs", "loop"] {
            a.inode().unlink(l, false).unwrap();
        }
        assert_eq!(a.inode().unlink("b", false).err(), Some(Errno::EISDIR));
        a.inode().unlink("b", true).unwrap();
        let top = kern_path("/ktest-namei").unwrap();
        assert_eq!(Path::root().unwrap().inode().unlink("ktest-namei", true).err(), Some(Errno::ENOTEMPTY));
        top.inode().unlink("a", true).unwrap();
        Path::root().unwrap().inode().unlink("ktest-namei", true).unwrap();
    }
}
