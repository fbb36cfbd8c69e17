//! Changing an address space (Linux: mm/mmap.c do_mmap, do_munmap,
//! do_brk_flags, get_unmapped_area, split_vma; mm/mprotect.c).
//!
//! Every function here is called with the mm's `mmap_lock` held for
//! writing (the `&mut MmMap`). Mapping only creates VMAs: pages arrive on
//! the first touch, through the fault handler (mm/memory.rs). Unmapping
//! removes the VMAs, then zaps the page tables through an mmu_gather, which
//! flushes the TLB before any page or table is freed.
//!
//! Adjacent VMAs with the same flags and backing merge (`merge_range`), as
//! Linux's vma_merge makes them. Only anonymous memory so far: private, or
//! shared through a shmem object (mm/shmem.rs) that fork shares; file
//! mappings come with the page cache. Placement is randomised
//! (mm/randomize.rs) and private writable memory is committed
//! (mm/util.rs).

use super::memory::vm_page_prot;
use super::mm_types::MmStruct;
use super::vma::{MmMap, VmFlags, Vma};
use crate::arch::mm::layout::TASK_SIZE;
use alloc::string::String;
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::addr::PAGE_SIZE;
use pagoda_mm::vma_tree::NodeId;

pub const PROT_READ: usize = 1;
pub const PROT_WRITE: usize = 2;
pub const PROT_EXEC: usize = 4;
pub const MAP_SHARED: usize = 0x01;
pub const MAP_PRIVATE: usize = 0x02;
pub const MAP_SHARED_VALIDATE: usize = 0x03;
pub const MAP_FIXED: usize = 0x10;
pub const MAP_ANONYMOUS: usize = 0x20;
pub const MAP_GROWSDOWN: usize = 0x100;
pub const MAP_DENYWRITE: usize = 0x800;
pub const MAP_EXECUTABLE: usize = 0x1000;
pub const MAP_LOCKED: usize = 0x2000;
pub const MAP_NORESERVE: usize = 0x4000;
pub const MAP_POPULATE: usize = 0x8000;
pub const MAP_NONBLOCK: usize = 0x1_0000;
pub const MAP_STACK: usize = 0x2_0000;
pub const MAP_HUGETLB: usize = 0x4_0000;
pub const MAP_FIXED_NOREPLACE: usize = 0x10_0000;
pub const MAP_UNINITIALIZED: usize = 0x400_0000;
/// The flags MAP_SHARED_VALIDATE accepts (Linux: LEGACY_MAP_MASK; its
/// MAP_SYNC needs a DAX file, so it is refused here too).
const LEGACY_MAP_MASK: usize = MAP_SHARED
    | MAP_PRIVATE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_DENYWRITE
    | MAP_EXECUTABLE
    | MAP_UNINITIALIZED
    | MAP_GROWSDOWN
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB;

/// The lowest address a mapping may use (Linux: vm.mmap_min_addr).
pub const MMAP_MIN_ADDR: usize = 0x1000;
/// The least and most room left for the stack below STACK_TOP when
/// placing mmap_base (Linux arm64: MIN_GAP 128 MiB, MAX_GAP 5/6 of it).
const MMAP_MIN_GAP: usize = 128 << 20;
const MMAP_MAX_GAP: usize = TASK_SIZE / 6 * 5;
/// The guard gap below a stack (Linux: stack_guard_gap, 256 pages).
const STACK_GUARD_GAP: usize = 256 << 12;

/// Where top-down mmap searches start (Linux: arch_pick_mmap_layout ->
/// mmap_base): below STACK_TOP (which is TASK_SIZE), the stack's rlimit,
/// its guard gap and, when randomised, the room the stack top may move,
/// then `rnd` lower.
pub fn mmap_base(rlim_stack: usize, rnd: usize) -> usize {
    let mut pad = STACK_GUARD_GAP;
    if super::randomize::enabled(1) {
        pad += super::randomize::STACK_RND_MASK << 12;
    }
    let gap = rlim_stack.saturating_add(pad).clamp(MMAP_MIN_GAP, MMAP_MAX_GAP);
    (TASK_SIZE - gap - rnd) & !(PAGE_SIZE - 1)
}

fn page_align(len: usize) -> Option<usize> {
    len.checked_next_multiple_of(PAGE_SIZE)
}

/// Splits the VMA `id` at `addr` (strictly inside it); the lower part
/// keeps `id` (Linux: __split_vma).
fn split_vma(map: &mut MmMap, id: NodeId, addr: usize) -> KResult<()> {
    let (start, end) = map.vmas.range(id);
    let mut vma: Vma = map.vmas.get(id).ok_or(Errno::EINVAL)?.clone();
    // The upper part starts further into its object, or its pages'
    // linear indexes (vm_pgoff).
    vma.pgoff += (addr - start) >> 12;
    map.vmas.adjust(id, start, addr).map_err(|_| Errno::EINVAL)?;
    if map.vmas.insert(addr, end, vma).is_err() {
        // Put it back as it was: nothing changed.
        let _ = map.vmas.adjust(id, start, end);
        return Err(Errno::ENOMEM);
    }
    Ok(())
}

/// Makes `[start, end)` start and end on VMA boundaries, splitting the
/// VMAs that straddle them.
fn split_at_edges(map: &mut MmMap, start: usize, end: usize) -> KResult<()> {
    if let Some(id) = map.vmas.find(start) {
        let (s, e) = map.vmas.range(id);
        if s < start && start < e {
            split_vma(map, id, start)?;
        }
    }
    if let Some(id) = map.vmas.find(end) {
        let (s, e) = map.vmas.range(id);
        if s < end && end < e {
            split_vma(map, id, end)?;
        }
    }
    Ok(())
}

/// ENOMEM unless every page of `[start, end)` is in a VMA (the check of
/// mprotect, mlock, mincore and msync).
pub fn check_mapped(map: &MmMap, start: usize, end: usize) -> KResult<()> {
    let mut at = start;
    while at < end {
        let id = map.vmas.find(at).ok_or(Errno::ENOMEM)?;
        let (s, e) = map.vmas.range(id);
        if s > at {
            return Err(Errno::ENOMEM);
        }
        at = e;
    }
    Ok(())
}

/// Gives the VMAs of `[start, end)` new flags, `change(old)`, splitting
/// those that straddle the edges, and calls `after` on each changed piece
/// (Linux: the vma_modify pattern of mprotect_fixup, madvise_update_vma,
/// mlock_fixup). Holes in the range are skipped. Keeps locked_vm right.
pub fn change_vma_flags(
    map: &mut MmMap,
    start: usize,
    end: usize,
    change: impl Fn(VmFlags) -> VmFlags,
    mut after: impl FnMut(usize, usize, VmFlags),
) -> KResult<()> {
    split_at_edges(map, start, end)?;
    let mut at = start;
    while at < end {
        let Some(id) = map.vmas.find(at) else { break };
        let (s, e) = map.vmas.range(id);
        if s >= end {
            break;
        }
        let mut changed = None;
        if let Some(v) = map.vmas.get_mut(id) {
            let new = change(v.flags);
            if new != v.flags {
                changed = Some((v.flags, new));
                v.flags = new;
                after(s.max(start), e.min(end), new);
            }
        }
        if let Some((old, new)) = changed {
            // Move the pages from the old flags' counters to the new ones'.
            let pages = ((e - s) >> 12) as isize;
            map.account(old, -pages);
            map.account(new, pages);
        }
        at = e;
    }
    merge_range(map, start, end);
    Ok(())
}

/// Whether two VMAs, `a` right below `b`, can be one (Linux:
/// can_vma_merge_after: the same flags, the same backing object at
/// contiguous offsets (for anonymous memory, contiguous linear indexes,
/// which a VMA moved by mremap no longer has with its new neighbours),
/// compatible anon_vmas; special mappings never merge).
fn can_merge(map: &MmMap, a: NodeId, b: NodeId) -> bool {
    let (Some(va), Some(vb)) = (map.vmas.get(a), map.vmas.get(b)) else { return false };
    let (sa, ea) = map.vmas.range(a);
    let same_object = match (&va.vm_file, &vb.vm_file) {
        (None, None) => true,
        (Some(oa), Some(ob)) => pagoda_klib::arc::Arc::ptr_eq(oa.inode(), ob.inode()),
        _ => false,
    };
    ea == map.vmas.range(b).0
        && va.flags == vb.flags
        && !va.flags.contains(VmFlags::DONTEXPAND)
        && same_object
        && va.pgoff + ((ea - sa) >> 12) == vb.pgoff
        && va.anon_vma.mergeable(&vb.anon_vma)
}

/// Merges the VMAs around `[start, end)` that touch and match, so that a
/// range mapped in pieces, or split and changed back, is one VMA again
/// (Linux: vma_merge after mmap, brk, mprotect, madvise, mremap).
pub fn merge_range(map: &mut MmMap, start: usize, end: usize) {
    let Some(mut id) = map.vmas.find(start.saturating_sub(1)).or_else(|| map.vmas.find(start)) else {
        return;
    };
    loop {
        let Some(next) = map.vmas.next(id) else { return };
        if map.vmas.range(next).0 > end {
            return;
        }
        if can_merge(map, id, next) {
            let (s, _) = map.vmas.range(id);
            let (_, e) = map.vmas.range(next);
            if let Some(gone) = map.vmas.erase(next) {
                // The pages of either part are in the merged VMA's anon_vma.
                if let Some(kept) = map.vmas.get(id) {
                    kept.anon_vma.adopt(&gone.anon_vma);
                }
            }
            let _ = map.vmas.adjust(id, s, e);
        } else {
            id = next;
        }
    }
}

/// Merges the VMA at `addr` with its neighbours (Linux: vma_merge).
pub fn vma_merge(map: &mut MmMap, addr: usize) {
    if let Some(id) = map.vmas.find(addr) {
        let (s, e) = map.vmas.range(id);
        merge_range(map, s, e);
    }
}

/// Unmaps `[start, start + len)` (Linux: do_munmap). Parts not mapped are
/// fine; the pages are freed after one TLB flush.
pub fn do_munmap(mm: &MmStruct, map: &mut MmMap, start: usize, len: usize) -> KResult<()> {
    if !start.is_multiple_of(PAGE_SIZE) || start >= TASK_SIZE {
        return Err(Errno::EINVAL);
    }
    let len = page_align(len).filter(|&l| l > 0).ok_or(Errno::EINVAL)?;
    let end = start.checked_add(len).filter(|&e| e <= TASK_SIZE).ok_or(Errno::EINVAL)?;
    if map.vmas.find_intersection(start, end).is_none() {
        return Ok(());
    }
    split_at_edges(map, start, end)?;
    // The pages go before their VMAs, so that no mapped anonymous page
    // outlives the anon_vma it points at (Linux: unmap_region, then
    // remove_vma); so do the page tables that only served the hole the
    // range leaves between its neighbours.
    let prev = match map.vmas.find(start) {
        Some(id) => map.vmas.prev(id),
        None => map.vmas.last(),
    };
    let floor = prev.map_or(0, |id| map.vmas.range(id).1);
    let ceiling = map.vmas.find(end).map_or(TASK_SIZE, |id| map.vmas.range(id).0);
    mm.unmap_region(start, len, floor, ceiling);
    while let Some(id) = map.vmas.find_intersection(start, end) {
        map.remove(id);
    }
    Ok(())
}

/// The VMA flags for mmap's prot and flags (Linux: calc_vm_prot_bits,
/// calc_vm_flag_bits, plus VM_MAY* for an anonymous mapping).
fn mmap_vm_flags(prot: usize, flags: usize) -> VmFlags {
    let mut vm = VmFlags::from_prot(prot) | VmFlags::MAYREAD | VmFlags::MAYWRITE | VmFlags::MAYEXEC;
    if flags & MAP_SHARED_VALIDATE != MAP_PRIVATE {
        vm |= VmFlags::SHARED | VmFlags::MAYSHARE;
    }
    if flags & MAP_GROWSDOWN != 0 {
        vm |= VmFlags::GROWSDOWN;
    }
    if flags & MAP_LOCKED != 0 {
        vm |= VmFlags::LOCKED;
    }
    // Linux ignores MAP_NORESERVE when overcommit is off.
    if flags & MAP_NORESERVE != 0
        && super::util::OVERCOMMIT_MEMORY.load(core::sync::atomic::Ordering::Relaxed)
            != super::util::OVERCOMMIT_NEVER
    {
        vm |= VmFlags::NORESERVE;
    }
    vm
}

/// mmap(2)'s arguments.
#[derive(Debug, Clone, Copy)]
pub struct MmapArgs {
    pub addr: usize,
    pub len: usize,
    pub prot: usize,
    pub flags: usize,
    pub fd: isize,
    pub off: usize,
}

/// Maps `len` bytes of anonymous memory (Linux: do_mmap for an anonymous
/// mapping). Returns the address, and the range to fault in once the
/// mmap_lock is released (MAP_POPULATE, or a locked mapping).
pub fn do_mmap(mm: &MmStruct, map: &mut MmMap, args: MmapArgs) -> KResult<(usize, Option<(usize, usize)>)> {
    let MmapArgs { addr, len, prot, flags, fd, off } = args;
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_align(len).ok_or(Errno::ENOMEM)?;
    if len > TASK_SIZE {
        return Err(Errno::ENOMEM);
    }
    if !off.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    if !matches!(flags & MAP_SHARED_VALIDATE, MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE) {
        return Err(Errno::EINVAL);
    }
    if flags & MAP_HUGETLB != 0 {
        // No huge page pool yet (hugetlbfs: issue 18): as Linux with none
        // reserved.
        return Err(Errno::ENOMEM);
    }
    let file = if flags & MAP_ANONYMOUS == 0 {
        let file = crate::fs::current_files()?.get(fd as u32 as i32)?;
        // Only a file mapping checks MAP_SHARED_VALIDATE's flags.
        if flags & MAP_SHARED_VALIDATE == MAP_SHARED_VALIDATE && flags & !LEGACY_MAP_MASK != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        Some(file)
    } else {
        None
    };
    // A file mapping: its pages come from the file's page cache (Linux: the
    // file branch of do_mmap, then shmem_mmap).
    let mut taken_away = VmFlags::empty();
    let inode = match &file {
        Some(file) => {
            // tmpfs files and disks can be mapped (ENODEV, what Linux says
            // for a file without an mmap operation, for the rest).
            use crate::fs::inode::InodeKind::{Blk, Ext4File, Reg};
            let inode = file.inode().filter(|i| matches!(i.kind, Reg(_) | Blk(_) | Ext4File(_)));
            let inode = inode.ok_or(Errno::ENODEV)?.clone();
            let name = file.path().map_or(Ok(String::new()), |p| p.to_string())?;
            if !file.readable() {
                return Err(Errno::EACCES);
            }
            if flags & MAP_SHARED_VALIDATE != MAP_PRIVATE {
                // Writing through a shared mapping writes the file.
                if prot & PROT_WRITE != 0 && !file.writable() {
                    return Err(Errno::EACCES);
                }
                if !file.writable() {
                    taken_away = VmFlags::MAYWRITE | VmFlags::SHARED;
                }
            }
            off.checked_add(len).ok_or(Errno::EOVERFLOW)?;
            Some((inode, name))
        }
        None => None,
    };
    // An anonymous mapping is private, or shared without growing down
    // (Linux: the anonymous branch of do_mmap's MAP_TYPE switch).
    match flags & MAP_SHARED_VALIDATE {
        MAP_PRIVATE => {}
        MAP_SHARED if flags & MAP_GROWSDOWN == 0 || inode.is_some() => {}
        MAP_SHARED_VALIDATE if inode.is_some() => {}
        _ => return Err(Errno::EINVAL),
    }
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    let start = if fixed {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let end = addr.checked_add(len).filter(|&e| e <= TASK_SIZE).ok_or(Errno::ENOMEM)?;
        if addr < MMAP_MIN_ADDR {
            return Err(Errno::EPERM);
        }
        if map.vmas.find_intersection(addr, end).is_some() {
            if flags & MAP_FIXED_NOREPLACE != 0 {
                return Err(Errno::EEXIST);
            }
            do_munmap(mm, map, addr, len)?;
        }
        addr
    } else {
        get_unmapped_area(map, addr, len)?
    };
    // A shared mapping of a file opened read-only may never be made
    // writable (Linux: VM_MAYWRITE and VM_SHARED cleared without
    // FMODE_WRITE; VM_MAYSHARE stays).
    let vm = (mmap_vm_flags(prot, flags) | map.def_flags) - taken_away;
    let vma = match inode {
        Some((inode, name)) if matches!(inode.kind, crate::fs::inode::InodeKind::Blk(_)) => {
            crate::block::bdev_mmap(mm, vm, inode, off >> 12, &name)?
        }
        Some((inode, name)) if matches!(inode.kind, crate::fs::inode::InodeKind::Ext4File(_)) => {
            super::vma::Vma::file(mm, vm, inode, off >> 12, &name, crate::fs::ext4::EXT4_VM_OPS)?
        }
        Some((inode, name)) => super::shmem::shmem_mmap(mm, vm, inode, off >> 12, &name)?,
        // A shared anonymous mapping gets its file (Linux: shmem_zero_setup).
        None if vm.contains(VmFlags::SHARED) => super::shmem::shmem_zero_setup(mm, vm, len >> 12)?,
        None => Vma::anon(vm, start),
    };
    map.insert_vma(start, start + len, vma)?;
    vma_merge(map, start);
    let locked = vm.contains(VmFlags::LOCKED) && !vm.contains(VmFlags::LOCKONFAULT);
    let populate = flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE || locked;
    Ok((start, populate.then_some((start, start + len))))
}

/// A free range of `len` bytes: the hint if it is free, else the highest
/// hole below mmap_base (Linux: get_unmapped_area ->
/// arch_get_unmapped_area_topdown, with the legacy bottom-up search as the
/// fallback).
pub fn get_unmapped_area(map: &MmMap, hint: usize, len: usize) -> KResult<usize> {
    if hint != 0 {
        let hint = hint & !(PAGE_SIZE - 1);
        if hint >= MMAP_MIN_ADDR
            && hint.checked_add(len).is_some_and(|e| e <= TASK_SIZE)
            && map.vmas.find_intersection(hint, hint + len).is_none()
        {
            return Ok(hint);
        }
    }
    map.vmas
        .unmapped_area_topdown(len, MMAP_MIN_ADDR, map.mmap_base)
        .or_else(|| map.vmas.unmapped_area(len, map.mmap_base, TASK_SIZE))
        .ok_or(Errno::ENOMEM)
}

/// Moves the program break (Linux: sys_brk). Returns the new break, or the
/// old one if the move is refused, as Linux does.
pub fn do_brk(mm: &MmStruct, map: &mut MmMap, new: usize) -> usize {
    let (start_brk, old) = (map.start_brk, map.brk);
    if new < start_brk || new >= TASK_SIZE {
        return old;
    }
    let (old_top, new_top) = (old.next_multiple_of(PAGE_SIZE), new.next_multiple_of(PAGE_SIZE));
    if new_top < old_top {
        if do_munmap(mm, map, new_top, old_top - new_top).is_err() {
            return old;
        }
    } else if new_top > old_top {
        // RLIMIT_DATA covers the heap and the data segment (Linux:
        // check_data_rlimit); the VMA insert checks data_vm as well.
        let rlim =
            crate::sched::current().map_or(u64::MAX, |t| t.rlimit(crate::syscall::rlimit::RLIMIT_DATA).0);
        let data = (new - start_brk) + map.bounds.end_data.saturating_sub(map.bounds.start_data);
        if rlim != u64::MAX && data as u64 > rlim {
            return old;
        }
        if map.vmas.find_intersection(old_top, new_top).is_some() {
            return old;
        }
        let flags = VmFlags::READ | VmFlags::WRITE | VmFlags::MAYREAD | VmFlags::MAYWRITE | VmFlags::MAYEXEC;
        if map.insert(old_top, new_top, flags | map.def_flags).is_err() {
            return old;
        }
        vma_merge(map, old_top);
    }
    map.brk = new;
    new
}

/// Changes the permissions of `[start, start + len)` (Linux: do_mprotect_pkey).
pub fn do_mprotect(mm: &MmStruct, map: &mut MmMap, start: usize, len: usize, prot: usize) -> KResult<()> {
    if !start.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_align(len).ok_or(Errno::ENOMEM)?;
    let end = start.checked_add(len).filter(|&e| e <= TASK_SIZE).ok_or(Errno::ENOMEM)?;
    if len == 0 {
        return Ok(());
    }
    // Every page of the range must be mapped.
    check_mapped(map, start, end)?;
    // No permission beyond what the mapping may ever have: VM_MAYREAD,
    // VM_MAYWRITE, VM_MAYEXEC (a file opened read-only, a special
    // mapping) (Linux: the (newflags & ~(newflags >> 4)) & VM_ACCESS_FLAGS
    // test of do_mprotect_pkey).
    let want = VmFlags::from_prot(prot).bits();
    for id in map.vmas.iter() {
        let (s, e) = map.vmas.range(id);
        if s < end && e > start {
            let may = map.vmas.get(id).map_or(0, |v| v.flags.bits() >> 4) & 7;
            if want & !may != 0 {
                return Err(Errno::EACCES);
            }
        }
    }
    // Private memory made writable for the first time is committed now
    // (Linux: the VM_ACCOUNT charge of mprotect_fixup).
    let uncharged =
        |f: VmFlags| !f.intersects(VmFlags::ACCOUNT | VmFlags::WRITE | VmFlags::SHARED | VmFlags::NORESERVE);
    let mut charge = 0;
    if prot & PROT_WRITE != 0 {
        for id in map.vmas.iter() {
            let (s, e) = map.vmas.range(id);
            if s < end && e > start && map.vmas.get(id).is_some_and(|v| uncharged(v.flags)) {
                charge += (e.min(end) - s.max(start)) >> 12;
            }
        }
        super::util::vm_enough_memory(charge)?;
    }
    let rwx = VmFlags::READ | VmFlags::WRITE | VmFlags::EXEC;
    let new_prot = VmFlags::from_prot(prot);
    let account = if charge > 0 { VmFlags::ACCOUNT } else { VmFlags::empty() };
    let r = change_vma_flags(
        map,
        start,
        end,
        |f| (f - rwx) | new_prot | if uncharged(f) { account } else { VmFlags::empty() },
        |s, e, f| mm.change_protection(s, e, vm_page_prot(f)),
    );
    if r.is_err() {
        super::util::vm_unacct_memory(charge);
    }
    r
}

/// Sets up the VMAs an exec'd program starts with besides its segments
/// (which the ELF loader maps): the stack, and an empty heap at `brk`
/// (Linux: setup_arg_pages and the mm->brk part of load_elf_binary).
pub fn exec_vmas(map: &mut MmMap, stack: (usize, usize), brk: usize, mmap_base: usize) -> KResult<()> {
    let stack_flags =
        VmFlags::READ | VmFlags::WRITE | VmFlags::MAYREAD | VmFlags::MAYWRITE | VmFlags::GROWSDOWN;
    map.insert(stack.0, stack.1, stack_flags)?;
    map.start_brk = brk;
    map.brk = brk;
    map.mmap_base = mmap_base;
    Ok(())
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use crate::mm::memory::handle_mm_fault;

    fn tables(mm: &MmStruct) -> usize {
        mm.with_page_table(|pt| pt.count_tables())
    }

    /// munmap frees the page tables that served only the hole it leaves
    /// (free_pgtables with the neighbours as floor and ceiling); a table a
    /// neighbour still uses stays, and MADV_DONTNEED keeps them all.
    #[ktest]
    fn munmap_frees_the_page_tables_of_the_hole_only() {
        const A: usize = 0x40_0000_0000; // a PUD of its own
        let mm = MmStruct::alloc().unwrap();
        mm.mmget();
        let empty = tables(&mm);
        let rw = VmFlags::READ | VmFlags::WRITE | VmFlags::MAYREAD | VmFlags::MAYWRITE;
        {
            let mut map = mm.mmap_lock.write();
            map.insert(A, A + 4 * PAGE_SIZE, rw).unwrap();
            map.insert(A + 16 * PAGE_SIZE, A + 17 * PAGE_SIZE, rw).unwrap();
        }
        for va in [A, A + PAGE_SIZE, A + 16 * PAGE_SIZE] {
            handle_mm_fault(&mm, va, true, false).unwrap();
        }
        assert_eq!(tables(&mm), empty + 3, "a PUD, a PMD and a PTE table");
        mm.zap_page_range(A, 4 * PAGE_SIZE); // what MADV_DONTNEED does
        assert_eq!(tables(&mm), empty + 3, "MADV_DONTNEED keeps the tables");
        do_munmap(&mm, &mut mm.mmap_lock.write(), A, 4 * PAGE_SIZE).unwrap();
        assert_eq!(tables(&mm), empty + 3, "the PTE table also maps the neighbour");
        do_munmap(&mm, &mut mm.mmap_lock.write(), A + 16 * PAGE_SIZE, PAGE_SIZE).unwrap();
        assert_eq!(tables(&mm), empty, "nothing left there: all three tables freed");
        mm.mmput();
    }
}
