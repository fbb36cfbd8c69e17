//! stat (Linux: fs/stat.c vfs_fstat, vfs_fstatat, cp_new_stat).

use super::open::{dir_start, user_path, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW};
use crate::fs::current_files;
use crate::fs::file::{stat_inode, Kstat};
use crate::fs::namei::path_lookup;
use crate::mm::uaccess::copy_to_user;
use pagoda_klib::errno::{Errno, KResult};

const AT_NO_AUTOMOUNT: u32 = 0x800;

/// Fills the 128-byte struct stat of asm-generic (arm64's layout). Every
/// file belongs to root; times are not kept (0).
fn cp_new_stat(st: &Kstat, buf: usize) -> KResult<usize> {
    let mut b = [0u8; 128];
    b[0..8].copy_from_slice(&st.dev.to_le_bytes()); // st_dev
    b[8..16].copy_from_slice(&st.ino.to_le_bytes()); // st_ino
    b[16..20].copy_from_slice(&st.mode.to_le_bytes()); // st_mode
    b[20..24].copy_from_slice(&st.nlink.to_le_bytes()); // st_nlink
    b[32..40].copy_from_slice(&st.rdev.to_le_bytes()); // st_rdev
    b[48..56].copy_from_slice(&st.size.to_le_bytes()); // st_size
    b[56..60].copy_from_slice(&4096u32.to_le_bytes()); // st_blksize
    b[64..72].copy_from_slice(&st.size.div_ceil(512).to_le_bytes()); // st_blocks
    copy_to_user(buf, &b)?;
    Ok(0)
}

/// fstat(2).
pub fn sys_fstat(fd: i32, buf: usize) -> KResult<usize> {
    let f = current_files()?.get(fd)?;
    cp_new_stat(&f.stat(), buf)
}

/// newfstatat(2): a name relative to `dirfd`, or with AT_EMPTY_PATH and an
/// empty name the descriptor itself.
pub fn sys_newfstatat(dirfd: i32, name: usize, buf: usize, flags: u32) -> KResult<usize> {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    let name = user_path(name)?;
    if name.is_empty() && flags & AT_EMPTY_PATH != 0 {
        if dirfd == super::open::AT_FDCWD {
            let cwd = crate::fs::current_cwd()?;
            return cp_new_stat(&stat_inode(cwd.inode()), buf);
        }
        return sys_fstat(dirfd, buf);
    }
    let p = path_lookup(&dir_start(dirfd, &name)?, &name, flags & AT_SYMLINK_NOFOLLOW == 0)?;
    cp_new_stat(&stat_inode(p.inode()), buf)
}
