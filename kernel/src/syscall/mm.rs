//! Memory system calls (Linux: mm/mmap.c SYSCALL_DEFINE brk, mmap_pgoff,
//! munmap; mm/mprotect.c mprotect; mm/madvise.c, mlock.c, mincore.c,
//! msync.c). They take the caller's mmap_lock for writing and call
//! mm/mmap.rs and mm/madvise.rs; pages to fault in (MAP_POPULATE,
//! MAP_LOCKED, mlock, MADV_POPULATE_*) are faulted in after the lock is
//! released, as Linux's mm_populate does.

use crate::mm::{madvise, mmap};
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
    let (start, populate) = with_map(|mm, map| mmap::do_mmap(mm, map, args))??;
    if let Some((s, e)) = populate {
        // Linux ignores a failure here: the pages come later, on faults.
        let mm = current().and_then(|t| t.mm()).ok_or(Errno::EFAULT)?;
        let _ = madvise::populate_range(&mm, s, e, false);
    }
    Ok(start)
}

/// mremap(2).
pub fn sys_mremap(
    addr: usize,
    old_len: usize,
    new_len: usize,
    flags: usize,
    new_addr: usize,
) -> KResult<usize> {
    let (to, populate) =
        with_map(|mm, map| crate::mm::mremap::do_mremap(mm, map, addr, old_len, new_len, flags, new_addr))??;
    if let Some((s, e)) = populate {
        let mm = current().and_then(|t| t.mm()).ok_or(Errno::EFAULT)?;
        let _ = madvise::populate_range(&mm, s, e, false);
    }
    Ok(to)
}

/// madvise(2).
pub fn sys_madvise(start: usize, len: usize, advice: usize) -> KResult<usize> {
    match with_map(|mm, map| madvise::do_madvise(mm, map, start, len, advice))?? {
        madvise::AfterMadvise::Nothing => Ok(0),
        madvise::AfterMadvise::Populate { start, end, write } => {
            let mm = current().and_then(|t| t.mm()).ok_or(Errno::EFAULT)?;
            madvise::populate_range(&mm, start, end, write).map(|()| 0)
        }
    }
}

/// mlock(2) and mlock2(2): lock, then fault the range in.
pub fn sys_mlock2(start: usize, len: usize, flags: usize) -> KResult<usize> {
    if let Some((s, e)) = with_map(|_, map| madvise::do_mlock(map, start, len, flags))?? {
        let mm = current().and_then(|t| t.mm()).ok_or(Errno::EFAULT)?;
        madvise::populate_range(&mm, s, e, false)?;
    }
    Ok(0)
}

pub fn sys_munlock(start: usize, len: usize) -> KResult<usize> {
    with_map(|_, map| madvise::do_munlock(map, start, len))?.map(|()| 0)
}

pub fn sys_mlockall(flags: usize) -> KResult<usize> {
    if with_map(|_, map| madvise::do_mlockall(map, flags))?? {
        let mm = current().and_then(|t| t.mm()).ok_or(Errno::EFAULT)?;
        let ranges: alloc::vec::Vec<(usize, usize)> = {
            let map = mm.mmap_lock.read();
            let mut v = alloc::vec::Vec::new();
            v.try_reserve_exact(map.vmas.len()).map_err(|_| Errno::ENOMEM)?;
            v.extend(map.vmas.iter().map(|id| map.vmas.range(id)));
            v
        };
        for (s, e) in ranges {
            // A PROT_NONE or guard VMA cannot be faulted in: Linux skips it.
            let _ = madvise::populate_range(&mm, s, e, false);
        }
    }
    Ok(0)
}

pub fn sys_munlockall() -> KResult<usize> {
    with_map(|_, map| madvise::do_munlockall(map))?.map(|()| 0)
}

/// mincore(2): one byte a page at `vec`.
pub fn sys_mincore(start: usize, len: usize, vec: usize) -> KResult<usize> {
    if !start.is_multiple_of(pagoda_mm::addr::PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let pages = len.div_ceil(pagoda_mm::addr::PAGE_SIZE);
    let end = start.checked_add(pages * pagoda_mm::addr::PAGE_SIZE).ok_or(Errno::ENOMEM)?;
    if !crate::mm::uaccess::access_ok(start, end - start) {
        return Err(Errno::ENOMEM);
    }
    // A page of answers at a time, as Linux does.
    let mut buf = [0u8; 512];
    let mut done = 0;
    while done < pages {
        let n = (pages - done).min(buf.len());
        let s = start + done * pagoda_mm::addr::PAGE_SIZE;
        with_map(|mm, map| {
            madvise::do_mincore(mm, map, s, s + n * pagoda_mm::addr::PAGE_SIZE, &mut buf[..n])
        })??;
        crate::mm::uaccess::copy_to_user(vec + done, &buf[..n])?;
        done += n;
    }
    Ok(0)
}

/// msync(2).
pub fn sys_msync(start: usize, len: usize, flags: usize) -> KResult<usize> {
    for bdev in with_map(|_, map| madvise::do_msync(map, start, len, flags))?? {
        bdev.fsync()?;
    }
    Ok(0)
}

pub fn sys_munmap(addr: usize, len: usize) -> KResult<usize> {
    with_map(|mm, map| mmap::do_munmap(mm, map, addr, len))?.map(|()| 0)
}

pub fn sys_mprotect(addr: usize, len: usize, prot: usize) -> KResult<usize> {
    with_map(|mm, map| mmap::do_mprotect(mm, map, addr, len, prot))?.map(|()| 0)
}
