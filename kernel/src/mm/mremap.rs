//! Growing, shrinking and moving a mapping (Linux: mm/mremap.c).
//!
//! ```text
//! mremap(addr, old_len, new_len, flags, new_addr)
//!   shrink                 unmap the tail; same address
//!   grow, room after it    extend the VMA in place; same address
//!   grow, no room          MREMAP_MAYMOVE: a new VMA elsewhere, the PTEs
//!                          moved into it (the pages stay, only their
//!                          addresses change), the old range unmapped
//!   MREMAP_FIXED           move to new_addr, unmapping what was there
//!   MREMAP_DONTUNMAP       move, and leave the old range mapped but empty
//! ```
//!
//! glibc's realloc of a block it got from mmap (128 KiB and up) is an
//! mremap with MREMAP_MAYMOVE, so a large realloc copies no data. Called
//! with the mmap_lock held for writing.

use super::mm_types::MmStruct;
use super::mmap::{do_munmap, get_unmapped_area};
use super::vma::{MmMap, VmFlags};
use crate::arch::mm::layout::TASK_SIZE;
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::addr::PAGE_SIZE;
use pagoda_mm::vma_tree::NodeId;

pub const MREMAP_MAYMOVE: usize = 1;
pub const MREMAP_FIXED: usize = 2;
pub const MREMAP_DONTUNMAP: usize = 4;

/// The new address, and a range to fault in once the lock is released (a
/// locked mapping that grew).
pub type MremapResult = (usize, Option<(usize, usize)>);

/// mremap(2) (Linux: SYSCALL_DEFINE5(mremap)).
pub fn do_mremap(
    mm: &MmStruct,
    map: &mut MmMap,
    addr: usize,
    old_len: usize,
    new_len: usize,
    flags: usize,
    new_addr: usize,
) -> KResult<MremapResult> {
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MREMAP_DONTUNMAP != 0 && (flags & MREMAP_MAYMOVE == 0 || old_len != new_len) {
        return Err(Errno::EINVAL);
    }
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let old_len = old_len.checked_next_multiple_of(PAGE_SIZE).ok_or(Errno::EINVAL)?;
    let new_len = new_len.checked_next_multiple_of(PAGE_SIZE).ok_or(Errno::EINVAL)?;
    // old_len 0 duplicates a shared mapping in Linux; private memory
    // cannot be duplicated that way.
    if new_len == 0 || old_len == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
        return mremap_to(mm, map, addr, old_len, new_addr, new_len, flags);
    }
    if old_len >= new_len {
        if old_len > new_len {
            do_munmap(mm, map, addr + new_len, old_len - new_len)?;
        }
        return Ok((addr, None));
    }
    let id = vma_to_resize(map, addr, old_len)?;
    let (_, end) = map.vmas.range(id);
    // At the end of its VMA, with room after it: grow in place.
    if addr + old_len == end {
        let delta = new_len - old_len;
        let room = end.checked_add(delta).is_some_and(|e| e <= TASK_SIZE)
            && map.vmas.find_intersection(end, end + delta).is_none();
        if room {
            return grow_in_place(map, id, delta).map(|populate| (addr, populate));
        }
    }
    if flags & MREMAP_MAYMOVE == 0 {
        return Err(Errno::ENOMEM);
    }
    let to = get_unmapped_area(map, 0, new_len)?;
    move_vma(mm, map, addr, old_len, to, new_len, false)
}

/// Extends the VMA `id` by `delta` bytes at its end, within the limits and
/// the overcommit policy (Linux: the vma_expandable branch of mremap).
fn grow_in_place(map: &mut MmMap, id: NodeId, delta: usize) -> KResult<Option<(usize, usize)>> {
    let (start, end) = map.vmas.range(id);
    let flags = map.vmas.get(id).map_or(VmFlags::empty(), |v| v.flags);
    let pages = delta >> 12;
    if !map.may_expand_vm(flags, pages) {
        return Err(Errno::ENOMEM);
    }
    if flags.contains(VmFlags::ACCOUNT) {
        super::util::vm_enough_memory(pages)?;
    }
    if map.vmas.adjust(id, start, end + delta).is_err() {
        if flags.contains(VmFlags::ACCOUNT) {
            super::util::vm_unacct_memory(pages);
        }
        return Err(Errno::ENOMEM);
    }
    map.account(flags, pages as isize);
    let locked = flags.contains(VmFlags::LOCKED) && !flags.contains(VmFlags::LOCKONFAULT);
    Ok(locked.then_some((end, end + delta)))
}

/// The VMA `[addr, addr + old_len)` lies in: EFAULT unless the whole range
/// is in one VMA that may change size (Linux: vma_to_resize).
fn vma_to_resize(map: &MmMap, addr: usize, old_len: usize) -> KResult<NodeId> {
    let id = map.vmas.find(addr).ok_or(Errno::EFAULT)?;
    let (start, end) = map.vmas.range(id);
    if start > addr || old_len > end - addr {
        return Err(Errno::EFAULT);
    }
    if map.vmas.get(id).is_some_and(|v| v.flags.contains(VmFlags::DONTEXPAND)) {
        return Err(Errno::EFAULT);
    }
    Ok(id)
}

/// MREMAP_FIXED and MREMAP_DONTUNMAP (Linux: mremap_to).
fn mremap_to(
    mm: &MmStruct,
    map: &mut MmMap,
    addr: usize,
    mut old_len: usize,
    new_addr: usize,
    new_len: usize,
    flags: usize,
) -> KResult<MremapResult> {
    let to = if flags & MREMAP_FIXED != 0 {
        if !new_addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if new_len > TASK_SIZE || new_addr > TASK_SIZE - new_len {
            return Err(Errno::EINVAL);
        }
        // The two ranges may not overlap.
        if addr + old_len > new_addr && new_addr + new_len > addr {
            return Err(Errno::EINVAL);
        }
        do_munmap(mm, map, new_addr, new_len)?;
        Some(new_addr)
    } else {
        None
    };
    if old_len > new_len {
        do_munmap(mm, map, addr + new_len, old_len - new_len)?;
        old_len = new_len;
    }
    vma_to_resize(map, addr, old_len)?;
    let to = match to {
        Some(t) => t,
        None => get_unmapped_area(map, 0, new_len)?,
    };
    move_vma(mm, map, addr, old_len, to, new_len, flags & MREMAP_DONTUNMAP != 0)
}

/// Makes `[to, to + new_len)` a VMA like the one at `addr`, moves the PTEs
/// of `[addr, addr + old_len)` into it, and unmaps the old range (unless
/// `dontunmap`, which leaves it mapped and empty) (Linux: move_vma).
fn move_vma(
    mm: &MmStruct,
    map: &mut MmMap,
    addr: usize,
    old_len: usize,
    to: usize,
    new_len: usize,
    dontunmap: bool,
) -> KResult<MremapResult> {
    let id = map.vmas.find(addr).ok_or(Errno::EFAULT)?;
    let (vstart, _) = map.vmas.range(id);
    let mut vma = map.vmas.get(id).ok_or(Errno::EFAULT)?.clone();
    let flags = vma.flags;
    // The new VMA maps the same part of its object, and its anonymous
    // pages keep their indexes; one that never had any takes the new
    // address's, so that it can merge there (Linux: copy_vma).
    vma.pgoff += (addr - vstart) >> 12;
    if !vma.has_backing() && vma.anon_vma.get().is_none() {
        vma.pgoff = to >> 12;
    }
    map.insert_vma(to, to + new_len, vma)?;
    if let Err(e) = mm.move_page_tables(addr, to, old_len) {
        let _ = do_munmap(mm, map, to, new_len);
        return Err(e);
    }
    if dontunmap {
        // The old range stays, empty and unlocked (Linux clears VM_LOCKED).
        super::mmap::change_vma_flags(map, addr, addr + old_len, |f| f - VmFlags::LOCKED, |_, _, _| {})?;
    } else {
        do_munmap(mm, map, addr, old_len)?;
    }
    super::mmap::vma_merge(map, to);
    let locked = flags.contains(VmFlags::LOCKED) && !flags.contains(VmFlags::LOCKONFAULT);
    Ok((to, (locked && new_len > old_len).then_some((to + old_len, to + new_len))))
}
