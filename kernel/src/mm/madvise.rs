//! Advice, locking, residency and sync for ranges of an address space
//! (Linux: mm/madvise.c, mm/mlock.c, mm/mincore.c, mm/msync.c).
//!
//! Each call takes a page-aligned start and a length and works on the VMAs
//! the range covers, splitting them where a flag changes for part of one,
//! as mprotect does. Where the range has holes, Linux reports ENOMEM
//! (madvise after doing the mapped parts; the others before doing
//! anything), and so does Pagoda.
//!
//! What each piece of advice does here (anonymous memory only, as in the
//! rest of Pagoda for now):
//!
//! | advice | effect |
//! |---|---|
//! | DONTNEED | the pages are freed now; the next touch gets zeroed pages |
//! | FREE | nothing until memory runs short (Linux frees lazily: reclaim, issue 13) |
//! | WILLNEED, COLD, PAGEOUT | hints for swap and reclaim: nothing yet |
//! | NORMAL, RANDOM, SEQUENTIAL | VM_RAND_READ / VM_SEQ_READ (readahead, for files) |
//! | DONTFORK, DOFORK | VM_DONTCOPY: the child does not get the range |
//! | WIPEONFORK, KEEPONFORK | VM_WIPEONFORK: the child gets it empty |
//! | DONTDUMP, DODUMP, HUGEPAGE, NOHUGEPAGE, MERGEABLE, UNMERGEABLE | their VM_ flags |
//! | POPULATE_READ, POPULATE_WRITE | fault the pages in now |
//!
//! mlock sets VM_LOCKED and faults the range in (mlock2's MLOCK_ONFAULT
//! leaves that to the faults); locked pages are counted in locked_vm.
//! Every process runs as root, which has CAP_IPC_LOCK, so RLIMIT_MEMLOCK
//! does not limit it, exactly as on Linux.

use super::mm_types::MmStruct;
use super::mmap::{change_vma_flags, check_mapped};
use super::vma::{MmMap, VmFlags};
use crate::arch::mm::layout::TASK_SIZE;
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::addr::PAGE_SIZE;

pub const MADV_NORMAL: usize = 0;
pub const MADV_RANDOM: usize = 1;
pub const MADV_SEQUENTIAL: usize = 2;
pub const MADV_WILLNEED: usize = 3;
pub const MADV_DONTNEED: usize = 4;
pub const MADV_FREE: usize = 8;
pub const MADV_REMOVE: usize = 9;
pub const MADV_DONTFORK: usize = 10;
pub const MADV_DOFORK: usize = 11;
pub const MADV_MERGEABLE: usize = 12;
pub const MADV_UNMERGEABLE: usize = 13;
pub const MADV_HUGEPAGE: usize = 14;
pub const MADV_NOHUGEPAGE: usize = 15;
pub const MADV_DONTDUMP: usize = 16;
pub const MADV_DODUMP: usize = 17;
pub const MADV_WIPEONFORK: usize = 18;
pub const MADV_KEEPONFORK: usize = 19;
pub const MADV_COLD: usize = 20;
pub const MADV_PAGEOUT: usize = 21;
pub const MADV_POPULATE_READ: usize = 22;
pub const MADV_POPULATE_WRITE: usize = 23;
pub const MADV_DONTNEED_LOCKED: usize = 24;

/// `[start, end)` for a call on `(start, len)`: EINVAL for an unaligned
/// start or a range that wraps or leaves user space (Linux: the checks at
/// the top of do_madvise). None for an empty range.
fn user_range(start: usize, len: usize, wrap: Errno) -> KResult<Option<(usize, usize)>> {
    if !start.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let len = len.checked_next_multiple_of(PAGE_SIZE).ok_or(wrap)?;
    let end = start.checked_add(len).ok_or(wrap)?;
    if len == 0 {
        return Ok(None);
    }
    if end > TASK_SIZE {
        return Err(wrap);
    }
    Ok(Some((start, end)))
}

/// The VM_ flag an advice sets or clears: (flag, set?).
fn advice_flag(advice: usize) -> Option<(VmFlags, bool)> {
    Some(match advice {
        MADV_DONTFORK => (VmFlags::DONTCOPY, true),
        MADV_DOFORK => (VmFlags::DONTCOPY, false),
        MADV_WIPEONFORK => (VmFlags::WIPEONFORK, true),
        MADV_KEEPONFORK => (VmFlags::WIPEONFORK, false),
        MADV_DONTDUMP => (VmFlags::DONTDUMP, true),
        MADV_DODUMP => (VmFlags::DONTDUMP, false),
        MADV_MERGEABLE => (VmFlags::MERGEABLE, true),
        MADV_UNMERGEABLE => (VmFlags::MERGEABLE, false),
        _ => return None,
    })
}

/// What madvise does once the mmap_lock is released: populate a range.
pub enum AfterMadvise {
    Nothing,
    Populate { start: usize, end: usize, write: bool },
}

/// madvise(2), with the mmap_lock held for writing (Linux: do_madvise).
/// Holes in the range: the mapped parts are advised, then ENOMEM.
pub fn do_madvise(
    mm: &MmStruct,
    map: &mut MmMap,
    start: usize,
    len: usize,
    advice: usize,
) -> KResult<AfterMadvise> {
    let valid = matches!(advice, 0..=4 | 8..=24);
    if !valid {
        return Err(Errno::EINVAL);
    }
    let Some((start, end)) = user_range(start, len, Errno::EINVAL)? else {
        return Ok(AfterMadvise::Nothing);
    };
    let hole = check_mapped(map, start, end).is_err();
    if map.vmas.find_intersection(start, end).is_none() {
        return Err(Errno::ENOMEM);
    }
    // Per-VMA refusals, checked before anything changes.
    for id in map.vmas.iter() {
        let (s, e) = map.vmas.range(id);
        if e <= start || s >= end {
            continue;
        }
        let f = map.vmas.get(id).map_or(VmFlags::empty(), |v| v.flags);
        let refused = match advice {
            MADV_DONTNEED => f.contains(VmFlags::LOCKED),
            // Lazy freeing is for private anonymous memory only.
            MADV_FREE => f.contains(VmFlags::LOCKED) || f.contains(VmFlags::SHARED),
            MADV_REMOVE => true, // only for shared file mappings
            MADV_WIPEONFORK => f.contains(VmFlags::SHARED),
            _ => false,
        };
        if refused {
            return Err(Errno::EINVAL);
        }
    }
    let mut after = AfterMadvise::Nothing;
    match advice {
        MADV_DONTNEED | MADV_DONTNEED_LOCKED => zap_mapped(mm, map, start, end),
        MADV_NORMAL | MADV_RANDOM | MADV_SEQUENTIAL => {
            let set = match advice {
                MADV_RANDOM => VmFlags::RAND_READ,
                MADV_SEQUENTIAL => VmFlags::SEQ_READ,
                _ => VmFlags::empty(),
            };
            change_vma_flags(
                map,
                start,
                end,
                |f| (f - (VmFlags::RAND_READ | VmFlags::SEQ_READ)) | set,
                |_, _, _| {},
            )?;
        }
        MADV_HUGEPAGE | MADV_NOHUGEPAGE => {
            let (on, off) = if advice == MADV_HUGEPAGE {
                (VmFlags::HUGEPAGE, VmFlags::NOHUGEPAGE)
            } else {
                (VmFlags::NOHUGEPAGE, VmFlags::HUGEPAGE)
            };
            change_vma_flags(map, start, end, |f| (f - off) | on, |_, _, _| {})?;
        }
        MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
            if hole {
                return Err(Errno::ENOMEM);
            }
            after = AfterMadvise::Populate { start, end, write: advice == MADV_POPULATE_WRITE };
        }
        // Hints for swap-in and reclaim, which have nothing to do yet.
        MADV_WILLNEED | MADV_FREE | MADV_COLD | MADV_PAGEOUT => {}
        a => {
            if let Some((flag, set)) = advice_flag(a) {
                change_vma_flags(map, start, end, |f| if set { f | flag } else { f - flag }, |_, _, _| {})?;
            }
        }
    }
    if hole {
        return Err(Errno::ENOMEM);
    }
    Ok(after)
}

/// Frees the pages of the mapped parts of `[start, end)`; the VMAs stay
/// (Linux: madvise_dontneed_single_vma -> zap_page_range).
fn zap_mapped(mm: &MmStruct, map: &MmMap, start: usize, end: usize) {
    for id in map.vmas.iter() {
        let (s, e) = map.vmas.range(id);
        let (s, e) = (s.max(start), e.min(end));
        if s < e {
            mm.zap_page_range(s, e - s);
        }
    }
}

/// Faults in every page of `[start, end)`, for writing if `write` or if
/// the VMA is private and writable (breaking COW now, as Linux's
/// populate_vma_page_range asks FOLL_WRITE). Called without the mmap_lock
/// (the fault takes it). ENOMEM if a page cannot be had, EFAULT if the
/// access is not allowed (Linux: faultin_page's errors for MADV_POPULATE).
pub fn populate_range(mm: &MmStruct, start: usize, end: usize, write: bool) -> KResult<()> {
    use super::memory::{handle_mm_fault, FaultError};
    let mut at = start;
    while at < end {
        // One look at the VMA for all its pages (the fault takes the lock
        // again for each page, as any fault does).
        let (vma_end, w) = {
            let map = mm.mmap_lock.read();
            let Some(id) = map.vmas.find(at) else { return Err(Errno::ENOMEM) };
            let f = map.vmas.get(id).map_or(VmFlags::empty(), |v| v.flags);
            let private_writable = f.contains(VmFlags::WRITE) && !f.contains(VmFlags::SHARED);
            (map.vmas.range(id).1.min(end), write || private_writable)
        };
        while at < vma_end {
            match handle_mm_fault(mm, at, w, false) {
                Ok(_) => {}
                Err(FaultError::Oom | FaultError::MapErr) => return Err(Errno::ENOMEM),
                Err(FaultError::AccErr | FaultError::SigBus) => return Err(Errno::EFAULT),
            }
            at += PAGE_SIZE;
        }
    }
    Ok(())
}

pub const MLOCK_ONFAULT: usize = 1;
pub const MCL_CURRENT: usize = 1;
pub const MCL_FUTURE: usize = 2;
pub const MCL_ONFAULT: usize = 4;

/// mlock(2) and mlock2(2) with the mmap_lock held for writing: the range
/// is aligned out to pages (Linux does not refuse an unaligned start),
/// must be mapped (ENOMEM), and gets VM_LOCKED. Returns the range to fault
/// in once the lock is released, unless MLOCK_ONFAULT.
pub fn do_mlock(map: &mut MmMap, start: usize, len: usize, flags: usize) -> KResult<Option<(usize, usize)>> {
    if flags & !MLOCK_ONFAULT != 0 {
        return Err(Errno::EINVAL);
    }
    let off = start % PAGE_SIZE;
    let start = start - off;
    let Some((start, end)) = user_range(start, len.checked_add(off).ok_or(Errno::ENOMEM)?, Errno::ENOMEM)?
    else {
        return Ok(None);
    };
    check_mapped(map, start, end)?;
    let onfault = if flags & MLOCK_ONFAULT != 0 { VmFlags::LOCKONFAULT } else { VmFlags::empty() };
    change_vma_flags(
        map,
        start,
        end,
        |f| (f - VmFlags::LOCKONFAULT) | VmFlags::LOCKED | onfault,
        |_, _, _| {},
    )?;
    Ok((flags & MLOCK_ONFAULT == 0).then_some((start, end)))
}

/// munlock(2).
pub fn do_munlock(map: &mut MmMap, start: usize, len: usize) -> KResult<()> {
    let off = start % PAGE_SIZE;
    let start = start - off;
    let Some((start, end)) = user_range(start, len.checked_add(off).ok_or(Errno::ENOMEM)?, Errno::ENOMEM)?
    else {
        return Ok(());
    };
    check_mapped(map, start, end)?;
    change_vma_flags(map, start, end, |f| f - (VmFlags::LOCKED | VmFlags::LOCKONFAULT), |_, _, _| {})
}

/// mlockall(2): every VMA now (MCL_CURRENT) and every new one
/// (MCL_FUTURE) is locked. Returns whether to fault everything in.
pub fn do_mlockall(map: &mut MmMap, flags: usize) -> KResult<bool> {
    if flags == 0 || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 || flags == MCL_ONFAULT {
        return Err(Errno::EINVAL);
    }
    let onfault = if flags & MCL_ONFAULT != 0 { VmFlags::LOCKONFAULT } else { VmFlags::empty() };
    map.def_flags = if flags & MCL_FUTURE != 0 { VmFlags::LOCKED | onfault } else { VmFlags::empty() };
    if flags & MCL_CURRENT != 0 {
        change_vma_flags(
            map,
            0,
            TASK_SIZE,
            |f| (f - VmFlags::LOCKONFAULT) | VmFlags::LOCKED | onfault,
            |_, _, _| {},
        )?;
    }
    Ok(flags & MCL_CURRENT != 0 && flags & MCL_ONFAULT == 0)
}

/// munlockall(2).
pub fn do_munlockall(map: &mut MmMap) -> KResult<()> {
    map.def_flags = VmFlags::empty();
    change_vma_flags(map, 0, TASK_SIZE, |f| f - (VmFlags::LOCKED | VmFlags::LOCKONFAULT), |_, _, _| {})
}

/// mincore(2)'s answer for `[start, end)`: one byte a page, 1 if the page
/// is in memory (Linux: mincore_pte_range; an anonymous page never touched
/// is not). ENOMEM unless the range is mapped.
pub fn do_mincore(mm: &MmStruct, map: &MmMap, start: usize, end: usize, out: &mut [u8]) -> KResult<()> {
    check_mapped(map, start, end)?;
    mm.with_page_table(|pt| {
        for (i, b) in out.iter_mut().enumerate() {
            *b = pt.translate(start + i * PAGE_SIZE).is_some() as u8;
        }
    });
    Ok(())
}

pub const MS_ASYNC: usize = 1;
pub const MS_INVALIDATE: usize = 2;
pub const MS_SYNC: usize = 4;

/// msync(2): checks the arguments and the range, and with MS_SYNC returns
/// the disks whose shared mappings the range covers; the caller writes
/// them back once it has dropped the mmap_lock, as Linux's sys_msync
/// calls vfs_fsync_range without it. Anonymous memory and tmpfs have
/// nothing to write back; MS_ASYNC does nothing, as in Linux since 2.6.19.
pub fn do_msync(
    map: &MmMap,
    start: usize,
    len: usize,
    flags: usize,
) -> KResult<alloc::vec::Vec<&'static crate::block::BlockDevice>> {
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 || flags & MS_ASYNC != 0 && flags & MS_SYNC != 0 {
        return Err(Errno::EINVAL);
    }
    let Some((start, end)) = user_range(start, len, Errno::ENOMEM)? else {
        return Ok(alloc::vec::Vec::new());
    };
    check_mapped(map, start, end)?;
    if flags & MS_INVALIDATE != 0 {
        let locked = map.vmas.iter().any(|id| {
            let (s, e) = map.vmas.range(id);
            s < end && e > start && map.vmas.get(id).is_some_and(|v| v.flags.contains(VmFlags::LOCKED))
        });
        if locked {
            return Err(Errno::EBUSY);
        }
    }
    let mut sync: alloc::vec::Vec<&'static crate::block::BlockDevice> = alloc::vec::Vec::new();
    if flags & MS_SYNC != 0 {
        for id in map.vmas.iter() {
            let (s, e) = map.vmas.range(id);
            let Some(v) =
                map.vmas.get(id).filter(|v| s < end && e > start && v.flags.contains(VmFlags::SHARED))
            else {
                continue;
            };
            if let Some(crate::fs::inode::InodeKind::Blk(b)) = v.vm_file.as_ref().map(|f| &f.inode().kind) {
                if !sync.iter().any(|&x| core::ptr::eq(x, *b)) {
                    sync.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
                    sync.push(*b);
                }
            }
        }
    }
    Ok(sync)
}
