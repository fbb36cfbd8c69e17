//! Memory system calls (Linux: mm/mmap.c SYSCALL_DEFINE brk, mmap_pgoff,
//! munmap; mm/mprotect.c mprotect). They take the caller's mmap_lock for
//! writing and call mm/mmap.rs.

use crate::mm::mmap;
use crate::sched::current;
use pagoda_klib::errno::{Errno, KResult};

fn with_map<R>(
    f: impl FnOnce(&crate::mm::mm_types::MmStruct, &mut crate::mm::vma::MmMap) -> R,
) -> KResult<R> {
    let mm = current().and_then(|t| t.mm()).ok_or(Errno::EFAULT)?;
    let mut map = mm.mmap_lock.write();
    Ok(f(&mm, &mut map))
}

/// brk(2): returns the new break, or the old one if it could not move.
pub fn sys_brk(addr: usize) -> KResult<usize> {
    with_map(|mm, map| mmap::do_brk(mm, map, addr))
}

pub fn sys_mmap(addr: usize, len: usize, prot: usize, flags: usize, fd: isize, off: usize) -> KResult<usize> {
    let args = mmap::MmapArgs { addr, len, prot, flags, fd, off };
    with_map(|mm, map| mmap::do_mmap(mm, map, args))?
}

pub fn sys_munmap(addr: usize, len: usize) -> KResult<usize> {
    with_map(|mm, map| mmap::do_munmap(mm, map, addr, len))?.map(|()| 0)
}

pub fn sys_mprotect(addr: usize, len: usize, prot: usize) -> KResult<usize> {
    with_map(|mm, map| mmap::do_mprotect(mm, map, addr, len, prot))?.map(|()| 0)
}
