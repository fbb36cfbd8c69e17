//! System calls on names (Linux: fs/open.c do_sys_openat2, close,
//! faccessat, chdir; fs/namei.c mkdirat, unlinkat, symlinkat; fs/stat.c
//! readlinkat; fs/d_path.c getcwd).
//!
//! A relative name starts at the working directory (AT_FDCWD) or at a
//! directory descriptor; errors are Linux's, errno for errno.

use crate::fs::file::{self, File, O_ACCMODE, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_PATH};
use crate::fs::file::{O_RDONLY, O_TRUNC};
use crate::fs::inode::{Inode, InodeKind, S_IFLNK, S_IFREG};
use crate::fs::namei::{path_lookup, path_parent, Path, PATH_MAX};
use crate::fs::{current_cwd, current_files, current_fs};
use crate::mm::uaccess::{copy_to_user, strncpy_from_user};
use alloc::string::String;
use alloc::vec::Vec;
use pagoda_klib::errno::{Errno, KResult};

pub const AT_FDCWD: i32 = -100;
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
pub const AT_REMOVEDIR: u32 = 0x200;
pub const AT_EACCESS: u32 = 0x200;
pub const AT_EMPTY_PATH: u32 = 0x1000;

/// Copies a name from user memory (Linux: getname): EFAULT, ENAMETOOLONG
/// at PATH_MAX, ENOENT for a name that is not UTF-8 (Pagoda's names are).
pub fn user_path(addr: usize) -> KResult<String> {
    let mut buf = Vec::new();
    buf.try_reserve_exact(PATH_MAX).map_err(|_| Errno::ENOMEM)?;
    buf.resize(PATH_MAX, 0);
    let n = strncpy_from_user(&mut buf, addr)?;
    if n == PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    buf.truncate(n);
    String::from_utf8(buf).map_err(|_| Errno::ENOENT)
}

/// Where a walk of `name` starts (Linux: path_init): the root for an
/// absolute name, else the working directory or the directory `dirfd`
/// (EBADF if not open, ENOTDIR if not a directory).
pub fn dir_start(dirfd: i32, name: &str) -> KResult<Path> {
    if name.starts_with('/') {
        return Path::root();
    }
    if dirfd == AT_FDCWD {
        return current_cwd();
    }
    let f = current_files()?.get(dirfd)?;
    let p = f.path().ok_or(Errno::ENOTDIR)?;
    if !p.inode().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    p.try_clone()
}

/// The file mode bits a new file gets: `mode` less the umask.
fn create_mode(mode: u32) -> u32 {
    let umask = current_fs().map_or(0o022, |fs| fs.umask());
    mode & 0o7777 & !umask
}

/// Finds or creates what open(2) opens (Linux: path_openat -> open_last_lookups).
fn open_path(dirfd: i32, name: &str, flags: u32, mode: u32) -> KResult<Path> {
    let start = dir_start(dirfd, name)?;
    let follow = flags & O_NOFOLLOW == 0;
    if flags & O_CREAT == 0 {
        let p = path_lookup(&start, name, follow)?;
        if !follow && p.inode().file_type() == S_IFLNK && flags & O_PATH == 0 {
            return Err(Errno::ELOOP);
        }
        return Ok(p);
    }
    let (parent, leaf) = path_parent(&start, name)?;
    if leaf == "." || leaf == ".." || name.ends_with('/') {
        return Err(Errno::EISDIR);
    }
    match parent.inode().lookup(&leaf)? {
        Some(_) if flags & O_EXCL != 0 => Err(Errno::EEXIST),
        Some(i) if i.file_type() == S_IFLNK && !follow => Err(Errno::ELOOP),
        Some(_) => path_lookup(&parent, &leaf, follow),
        None => {
            let inode = Inode::new(
                S_IFREG | create_mode(mode),
                InodeKind::Reg(crate::mm::shmem::ShmemFile::new(&[])),
            )?;
            parent.inode().link(&leaf, inode)?;
            path_lookup(&parent, &leaf, false)
        }
    }
}

/// openat(2).
pub fn sys_openat(dirfd: i32, name: usize, flags: u32, mode: u32) -> KResult<usize> {
    let name = user_path(name)?;
    let flags =
        if flags & O_PATH != 0 { flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) } else { flags };
    let p = open_path(dirfd, &name, flags, mode)?;
    let inode = p.inode().clone();
    if flags & O_DIRECTORY != 0 && !inode.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    if inode.is_dir() && flags & O_PATH == 0 && (flags & O_ACCMODE != O_RDONLY || flags & O_CREAT != 0) {
        return Err(Errno::EISDIR);
    }
    if flags & O_ACCMODE == O_ACCMODE && flags & O_PATH == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & O_TRUNC != 0 && flags & O_ACCMODE != O_RDONLY && inode.file_type() == S_IFREG {
        file::truncate(&inode, 0)?;
    }
    let f = File::open(p, flags)?;
    current_files()?.alloc_fd(0, f, flags & O_CLOEXEC != 0).map(|fd| fd as usize)
}

/// ftruncate(2): sets a regular file's size (Linux: do_sys_ftruncate).
/// EINVAL for a negative length, a file not open for writing, or one that
/// is not regular.
pub fn sys_ftruncate(fd: i32, length: i64) -> KResult<usize> {
    if length < 0 {
        return Err(Errno::EINVAL);
    }
    let f = current_files()?.get(fd)?;
    let inode = f.inode().filter(|i| i.file_type() == S_IFREG).ok_or(Errno::EINVAL)?;
    if !f.writable() {
        return Err(Errno::EINVAL);
    }
    let InodeKind::Reg(data) = &inode.kind else { return Err(Errno::EINVAL) };
    data.truncate(length as u64).map(|()| 0)
}

/// memfd_create(2): an empty tmpfs file in no directory, open for reading
/// and writing (Linux: mm/memfd.c). EINVAL for unknown flags or a name
/// longer than 249 bytes; MFD_HUGETLB needs the huge page pool, which does
/// not exist yet.
pub fn sys_memfd_create(uname: usize, flags: u32) -> KResult<usize> {
    const MFD_CLOEXEC: u32 = 1;
    const MFD_ALLOW_SEALING: u32 = 2;
    const MFD_HUGETLB: u32 = 4;
    const MFD_NAME_MAX_LEN: usize = 255 - "memfd:".len();
    if flags & !(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MFD_HUGETLB != 0 {
        return Err(Errno::ENOENT); // no hugetlbfs mount, as Linux without one
    }
    let mut buf = [0u8; MFD_NAME_MAX_LEN + 1];
    let n = crate::mm::uaccess::strncpy_from_user(&mut buf, uname)?;
    if n > MFD_NAME_MAX_LEN {
        return Err(Errno::EINVAL);
    }
    let name = core::str::from_utf8(&buf[..n]).map_err(|_| Errno::EINVAL)?;
    let inode = Inode::new(S_IFREG | 0o777, InodeKind::Reg(crate::mm::shmem::ShmemFile::new(&[])))?;
    let path = crate::fs::namei::Path::detached(&alloc::format!("memfd:{name}"), inode)?;
    let f = File::open(path, crate::fs::file::O_RDWR)?;
    current_files()?.alloc_fd(0, f, flags & MFD_CLOEXEC != 0).map(|fd| fd as usize)
}

/// close(2).
pub fn sys_close(fd: i32) -> KResult<usize> {
    current_files()?.close(fd).map(|()| 0)
}

/// mkdirat(2).
pub fn sys_mkdirat(dirfd: i32, name: usize, mode: u32) -> KResult<usize> {
    let name = user_path(name)?;
    let (parent, leaf) = path_parent(&dir_start(dirfd, &name)?, &name)?;
    if leaf == "." || leaf == ".." {
        return Err(Errno::EEXIST);
    }
    let dir = Inode::new_dir(create_mode(mode) & 0o1777)?;
    parent.inode().link(&leaf, dir).map(|()| 0)
}

/// unlinkat(2): a file, or a directory with AT_REMOVEDIR (rmdir).
pub fn sys_unlinkat(dirfd: i32, name: usize, flags: u32) -> KResult<usize> {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let rmdir = flags & AT_REMOVEDIR != 0;
    let name = user_path(name)?;
    let start = dir_start(dirfd, &name)?;
    let (parent, leaf) =
        path_parent(&start, &name).map_err(|e| if e == Errno::EEXIST { Errno::EBUSY } else { e })?;
    match (rmdir, leaf.as_str()) {
        (true, ".") => return Err(Errno::EINVAL),
        (true, "..") => return Err(Errno::ENOTEMPTY),
        (false, "." | "..") => return Err(Errno::EISDIR),
        _ => {}
    }
    if !rmdir && name.ends_with('/') {
        // "file/": Linux's do_unlinkat "slashes" case.
        return match parent.inode().lookup(&leaf)? {
            None => Err(Errno::ENOENT),
            Some(i) if i.is_dir() => Err(Errno::EISDIR),
            Some(_) => Err(Errno::ENOTDIR),
        };
    }
    parent.inode().unlink(&leaf, rmdir).map(|()| 0)
}

/// symlinkat(2).
pub fn sys_symlinkat(target: usize, dirfd: i32, name: usize) -> KResult<usize> {
    let target = user_path(target)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let name = user_path(name)?;
    let (parent, leaf) = path_parent(&dir_start(dirfd, &name)?, &name)?;
    if leaf == "." || leaf == ".." {
        return Err(Errno::EEXIST);
    }
    let link = Inode::new(S_IFLNK | 0o777, InodeKind::Symlink(target))?;
    parent.inode().link(&leaf, link).map(|()| 0)
}

/// readlinkat(2): the target, not NUL-terminated, cut to `size`.
pub fn sys_readlinkat(dirfd: i32, name: usize, buf: usize, size: i32) -> KResult<usize> {
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    let name = user_path(name)?;
    let p = path_lookup(&dir_start(dirfd, &name)?, &name, false)?;
    let InodeKind::Symlink(target) = &p.inode().kind else { return Err(Errno::EINVAL) };
    let n = target.len().min(size as usize);
    copy_to_user(buf, &target.as_bytes()[..n])?;
    Ok(n)
}

const F_OK: u32 = 0;
const X_OK: u32 = 1;
const W_OK: u32 = 2;
const R_OK: u32 = 4;

/// faccessat(2) and faccessat2(2). Every process runs as root: read and
/// write are always allowed, execute needs one execute bit on a file.
pub fn sys_faccessat(dirfd: i32, name: usize, mode: u32, flags: u32) -> KResult<usize> {
    if mode & !(F_OK | X_OK | W_OK | R_OK) != 0
        || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0
    {
        return Err(Errno::EINVAL);
    }
    let name = user_path(name)?;
    let inode = if name.is_empty() && flags & AT_EMPTY_PATH != 0 {
        current_files()?.get(dirfd)?.inode().cloned().ok_or(Errno::EBADF)?
    } else {
        path_lookup(&dir_start(dirfd, &name)?, &name, flags & AT_SYMLINK_NOFOLLOW == 0)?.inode().clone()
    };
    if mode & X_OK != 0 && !inode.is_dir() && inode.mode() & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    Ok(0)
}

/// getcwd(2): the working directory with its NUL; returns its length
/// with the NUL, ERANGE if `size` is too small.
pub fn sys_getcwd(buf: usize, size: usize) -> KResult<usize> {
    let cwd = current_cwd()?.to_string()?;
    let n = cwd.len() + 1;
    if size < n {
        return Err(Errno::ERANGE);
    }
    copy_to_user(buf, cwd.as_bytes())?;
    copy_to_user(buf + cwd.len(), &[0])?;
    Ok(n)
}

/// chdir(2).
pub fn sys_chdir(name: usize) -> KResult<usize> {
    let name = user_path(name)?;
    let p = path_lookup(&current_cwd()?, &name, true)?;
    if !p.inode().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    current_fs()?.set_cwd(p);
    Ok(0)
}

/// fchdir(2).
pub fn sys_fchdir(fd: i32) -> KResult<usize> {
    let f = current_files()?.get(fd)?;
    let p = f.path().ok_or(Errno::ENOTDIR)?;
    if !p.inode().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    current_fs()?.set_cwd(p.try_clone()?);
    Ok(0)
}

/// umask(2).
pub fn sys_umask(mask: u32) -> KResult<usize> {
    Ok(current_fs()?.set_umask(mask) as usize)
}

/// sync(2): every dirty page to its disk (Linux: ksys_sync).
pub fn sys_sync() -> KResult<usize> {
    crate::fs::fs_writeback::ksys_sync();
    Ok(0)
}

/// fsync(2) and fdatasync(2) (Linux: do_fsync): EBADF for a bad or O_PATH
/// descriptor, EINVAL for a file with nothing to sync.
pub fn sys_fsync(fd: i32) -> KResult<usize> {
    let f = current_files()?.get(fd)?;
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    f.fsync().map(|()| 0)
}

/// syncfs(2): Pagoda's filesystems are the RAM root and the disks, so this
/// is sync on a valid descriptor (Linux: sync_filesystem of its sb).
pub fn sys_syncfs(fd: i32) -> KResult<usize> {
    current_files()?.get(fd)?;
    sys_sync()
}

/// mount(2) of a new filesystem (Linux: do_mount -> path_mount ->
/// do_new_mount): `source` is a disk for ext4, anything for tmpfs; the data
/// argument is not read (Pagoda has no mount options).
pub fn sys_mount(source: usize, target: usize, fstype: usize, flags: usize) -> KResult<usize> {
    let target = user_path(target)?;
    let fstype = if fstype == 0 { return Err(Errno::EINVAL) } else { user_path(fstype)? };
    let source = if source == 0 { String::new() } else { user_path(source)? };
    crate::fs::mount::do_mount(&current_cwd()?, &source, &target, &fstype, flags).map(|()| 0)
}

/// swapon(2): adds a disk prepared by mkswap as swap (mm/swapfile.rs).
pub fn sys_swapon(path: usize, flags: usize) -> KResult<usize> {
    let path = user_path(path)?;
    crate::mm::swapfile::do_swapon(&path, flags).map(|()| 0)
}

/// swapoff(2): brings every page back and removes the device.
pub fn sys_swapoff(path: usize) -> KResult<usize> {
    let path = user_path(path)?;
    crate::mm::swapfile::do_swapoff(&path).map(|()| 0)
}

/// umount2(2) (Linux: ksys_umount).
pub fn sys_umount2(target: usize, flags: usize) -> KResult<usize> {
    let target = user_path(target)?;
    crate::fs::mount::do_umount(&current_cwd()?, &target, flags).map(|()| 0)
}
