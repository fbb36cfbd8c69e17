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
//! COW-shared page in both. A VMA without anonymous pages (a file or
//! shared mapping never written privately, memory only read) is not copied
//! at all: the child's faults fill it, as Linux's vma_needs_copy decides.

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
            let Some(vma) = map.vmas.get(id) else { continue };
            if vma.flags.contains(VmFlags::DONTCOPY) {
                continue;
            }
            // Locks are not inherited (Linux: VM_LOCKED is cleared in the
            // child's copy).
            let flags = vma.flags - (VmFlags::LOCKED | VmFlags::LOCKONFAULT);
            // The child's VMA gets its own anon_vma, chained to the
            // parent's, where its COW copies will go (anon_vma_fork).
            let anon_vma = super::rmap::anon_vma_fork(&new, vma)?;
            let vm_file = vma.vm_file.as_ref().map(|f| f.dup(&new)).transpose()?;
            let (pgoff, vm_ops) = (vma.pgoff, vma.vm_ops);
            new_map.insert_vma(start, end, super::vma::Vma { flags, pgoff, vm_file, anon_vma, vm_ops })?;
            // MADV_WIPEONFORK: the child gets the range, empty. A VMA with
            // no anonymous page (no anon_vma) is not copied either: a fault
            // fills it again, from its file or the zero page (Linux:
            // vma_needs_copy).
            if !vma.flags.contains(VmFlags::WIPEONFORK) && vma.anon_vma.get().is_some() {
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

/// Copies the present PTEs of `[start, end)` (Linux: copy_page_range ->
/// copy_pte_range -> copy_present_pte), one PTE table at a time: the
/// child's table is allocated once per parent table, and the counters are
/// added once per call. Private writable pages become read-only in both
/// (COW). Takes the parent's page-table lock, then the child's, which
/// nobody else can reach yet.
fn copy_page_range(old: &MmStruct, new: &MmStruct, start: usize, end: usize, flags: VmFlags) -> KResult<()> {
    let cow = flags.contains(VmFlags::WRITE) && !flags.contains(VmFlags::SHARED);
    let mut rss = [0isize; super::mm_types::NR_MM_COUNTERS];
    let result = old.with_page_table(|src| {
        new.with_page_table(|dst| {
            // The child's PTE table for the 2 MiB unit being copied.
            let mut dst_table: Option<(usize, pagoda_mm::addr::PhysAddr)> = None;
            let mut result = Ok(());
            src.for_each_pte_slot(start, end, |src, va, slot| {
                let pte = src.ptep_get(slot);
                if result.is_err() || pte.pte_none() {
                    return;
                }
                let swap = pte.to_swp_entry();
                if swap.is_none() && !pte.pte_present() {
                    return;
                }
                let unit = va / pagoda_mm::addr::PMD_SIZE;
                let table = match dst_table {
                    Some((u, t)) if u == unit => t,
                    _ => match dst.pte_alloc(va) {
                        Ok(s) => {
                            dst_table = Some((unit, s.table));
                            s.table
                        }
                        Err(_) => {
                            result = Err(Errno::ENOMEM);
                            return;
                        }
                    },
                };
                // copy_nonpresent_pte: a swapped-out page is shared by
                // its slot, which gains a count.
                if let Some(e) = swap {
                    if let Err(err) = super::swapfile::swap_duplicate(e) {
                        result = Err(err);
                        return;
                    }
                    dst.set_pte(pagoda_mm::pgtable::PteSlot { table, index: slot.index }, pte);
                    rss[super::mm_types::MM_SWAPENTS] += 1;
                    return;
                }
                // copy_present_pte: a private writable page becomes
                // read-only in the parent too, so that its next write
                // copies.
                // (Written only if it changes: a PTE exec made is writable
                // to the MMU without the software write bit.)
                let pte = if cow && pte.pte_wrprotect() != pte {
                    let ro = pte.pte_wrprotect();
                    src.set_pte(slot, ro);
                    ro
                } else {
                    pte
                };
                dst.set_pte(pagoda_mm::pgtable::PteSlot { table, index: slot.index }, pte);
                // A special page (the zero page) has no reference or
                // mapcount to take (Linux: vm_normal_page returns NULL).
                if !pte.pte_special() {
                    let pfn = pte.pte_pfn();
                    get_page(pfn);
                    let kind = new.mm_counter(pfn);
                    rss[kind] += 1;
                    // The sigpage is not counted in mapcounts (a special
                    // mapping).
                    if !super::sigpage::is_sigpage(pfn) {
                        super::rmap::page_dup_rmap(pfn);
                    }
                }
            });
            result
        })
    });
    // What was copied counts in the child, and is undone with it on error.
    for (kind, n) in rss.into_iter().enumerate() {
        new.add_mm_counter(kind, n);
    }
    result
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use pagoda_mm::pgtable::{MapFlags, Prot};

    fn pte_at(mm: &MmStruct, va: usize) -> pagoda_mm::pgtable::Pte {
        mm.pte_get_lockless(va).0
    }

    /// Every private writable page is write-protected in parent and child,
    /// however it was mapped: here one mapped by the generic mapper (as
    /// exec once mapped the initial stack), which a regression once left
    /// writable in both (the child then wrote to the parent's stack).
    #[ktest]
    fn fork_write_protects_every_private_writable_page() {
        const A: usize = 0x4000_0000;
        let mm = MmStruct::alloc().unwrap();
        mm.mmget();
        let rw = VmFlags::READ | VmFlags::WRITE | VmFlags::MAYREAD | VmFlags::MAYWRITE;
        mm.mmap_lock.write().insert(A, A + 2 * 4096, rw).unwrap();
        let pfn = crate::mm::page_alloc::alloc_pages(pagoda_mm::gfp::Gfp::GFP_KERNEL, 0).unwrap();
        let prot = Prot::USER | Prot::READ | Prot::WRITE;
        mm.with_page_table(|pt| {
            pt.map(A, pagoda_mm::addr::PhysAddr(pfn << 12), 4096, prot, MapFlags::empty())
        })
        .unwrap();
        {
            let map = mm.mmap_lock.read();
            let vma = map.vmas.get(map.vmas.find(A).unwrap()).unwrap();
            let anon_vma = crate::mm::rmap::anon_vma_prepare(&mm, vma).unwrap();
            crate::mm::rmap::page_add_new_anon_rmap(pfn, &anon_vma, A >> 12);
        }
        mm.add_mm_counter(super::super::mm_types::MM_ANONPAGES, 1);
        crate::mm::memory::handle_mm_fault(&mm, A + 4096, true, false).unwrap();
        let child = dup_mmap(&mm).unwrap();
        for va in [A, A + 4096] {
            for (who, m) in [("parent", &mm), ("child", &child)] {
                let pte = pte_at(m, va);
                assert!(pte.pte_present() && pte.pte_rdonly() && !pte.pte_write(), "{who} {va:#x}: {pte:?}");
            }
        }
        assert_eq!(pte_at(&mm, A).pte_pfn(), pte_at(&child, A).pte_pfn(), "the page is shared until a write");
        child.mmput();
        mm.mmput();
    }
}
