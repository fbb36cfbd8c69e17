//! Copying an address space for fork (Linux: kernel/fork.c dup_mmap,
//! mm/memory.c copy_page_range -> copy_pte_range -> copy_present_pte).
//!
//! The child gets the same VMAs and, for every present page, a PTE to the
//! same page with one more reference. Private writable pages are
//! write-protected in both parent and child: the first write by either
//! faults, and do_wp_page copies the page for the writer (copy on write).
//! The parent's TLB is flushed once at the end, since its PTEs lost write
//! permission.
//!
//! Each child VMA whose parent has anonymous pages gets a new anon_vma
//! chained to the parent's (anon_vma_fork), so that rmap finds a
//! COW-shared page in both.

use super::mm_types::{MmRef, MmStruct};
use super::page_alloc::get_page;
use super::vma::VmFlags;
use pagoda_klib::errno::{Errno, KResult};

/// A copy of `old` for a child process (Linux: dup_mm -> dup_mmap). Called
/// with nothing locked; takes old's mmap_lock for writing.
pub fn dup_mmap(old: &MmStruct) -> KResult<MmRef> {
    let new = MmStruct::alloc()?;
    new.mmget();
    let map = old.mmap_lock.write();
    let result = (|| {
        let mut new_map = new.mmap_lock.write();
        new_map.start_brk = map.start_brk;
        new_map.brk = map.brk;
        new_map.mmap_base = map.mmap_base;
        new_map.bounds = map.bounds;
        new_map.sigpage = map.sigpage;
        for id in map.vmas.iter() {
            let (start, end) = map.vmas.range(id);
            let Some(vma) = map.vmas.get(id).cloned() else { continue };
            if vma.flags.contains(VmFlags::DONTCOPY) {
                continue;
            }
            // Locks are not inherited (Linux: VM_LOCKED is cleared in the
            // child's copy).
            let flags = vma.flags - (VmFlags::LOCKED | VmFlags::LOCKONFAULT);
            // The child's VMA gets its own anon_vma, chained to the
            // parent's, where its COW copies will go (anon_vma_fork).
            let anon_vma = super::rmap::anon_vma_fork(&new, &vma)?;
            new_map.insert_vma(start, end, super::vma::Vma { flags, anon_vma, ..vma.clone() })?;
            // MADV_WIPEONFORK: the child gets the range, empty.
            if !vma.flags.contains(VmFlags::WIPEONFORK) {
                copy_page_range(old, &new, start, end, vma.flags)?;
            }
        }
        Ok(())
    })();
    crate::arch::mm::tlb::flush_tlb_mm(old.asid());
    drop(map);
    match result {
        Ok(()) => Ok(new),
        Err(e) => {
            new.mmput(); // frees whatever was copied
            Err(e)
        }
    }
}

/// Copies the present PTEs of `[start, end)` (Linux: copy_page_range):
/// one walk of the parent's tables collects them (write-protecting private
/// writable ones in the parent too), one walk of the child's installs them.
fn copy_page_range(old: &MmStruct, new: &MmStruct, start: usize, end: usize, flags: VmFlags) -> KResult<()> {
    let cow = flags.contains(VmFlags::WRITE) && !flags.contains(VmFlags::SHARED);
    let mut ptes: alloc::vec::Vec<(usize, pagoda_mm::pgtable::Pte)> = alloc::vec::Vec::new();
    let collected = old.with_page_table(|pt| {
        let mut ok = true;
        pt.for_each_pte_slot(start, end, |pt, va, slot| {
            let pte = pt.ptep_get(slot);
            if !ok || !pte.pte_present() {
                return;
            }
            if ptes.try_reserve(1).is_err() {
                ok = false;
                return;
            }
            // copy_present_pte: a private writable page becomes read-only
            // in the parent too, so that its next write copies.
            let pte = if cow { pte.pte_wrprotect() } else { pte };
            pt.set_pte(slot, pte);
            ptes.push((va, pte));
        });
        ok
    });
    if !collected {
        return Err(Errno::ENOMEM);
    }
    // A special page (the zero page) has no reference to take (Linux:
    // vm_normal_page returns NULL for it).
    for &(_, pte) in &ptes {
        if !pte.pte_special() {
            get_page(pte.pte_pfn());
        }
    }
    let installed = new.with_page_table(|pt| {
        for (i, &(va, pte)) in ptes.iter().enumerate() {
            match pt.pte_alloc(va) {
                Ok(slot) => pt.set_pte(slot, pte),
                Err(_) => return Err(i),
            }
        }
        Ok(())
    });
    // What was installed counts in the child; what was not loses the
    // reference taken for it.
    let done = match installed {
        Ok(()) => ptes.len(),
        Err(i) => i,
    };
    for (i, &(_, pte)) in ptes.iter().enumerate() {
        if pte.pte_special() {
            continue;
        }
        if i < done {
            let kind = new.mm_counter(pte.pte_pfn());
            new.add_mm_counter(kind, 1);
            // The sigpage is not counted in mapcounts (a special mapping).
            if kind != super::mm_types::MM_FILEPAGES {
                super::rmap::page_dup_rmap(pte.pte_pfn());
            }
        } else {
            super::page_alloc::put_page(pte.pte_pfn());
        }
    }
    if done < ptes.len() {
        return Err(Errno::ENOMEM);
    }
    Ok(())
}
