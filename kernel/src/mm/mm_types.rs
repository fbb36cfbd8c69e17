//! The user address space object (Linux: include/linux/mm_types.h struct
//! mm_struct; kernel/fork.c mm_alloc, __mmdrop; arch/arm64 pgd_alloc).
//!
//! It holds the page-table root (`pgd`), the ASID context id that
//! arch/aarch64/mm/context.rs hands out, the page-table lock, and under
//! `mmap_lock` the VMA tree with the brk and mmap_base bounds (mm/vma.rs).
//!
//! An `MmRef` is Linux's `mm_count` reference (it keeps the struct and its
//! page tables alive, including for CPUs that still have it loaded lazily);
//! dropping the last one frees the page tables.

use crate::arch::mm::context::check_and_switch_context;
use crate::arch::mm::layout::TASK_SIZE;
use crate::arch::mm::mmu::KernelPgtableMem;
use crate::sync::Mutex;
use core::sync::atomic::{AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::Errno;
use pagoda_mm::addr::PhysAddr;
use pagoda_mm::pgtable::{MmuGather, PageTable, PageTableMem, Pte, PteSlot};

pub type MmRef = Arc<MmStruct>;

pub struct MmStruct {
    pgd: PhysAddr,
    /// Tasks using this address space (Linux: mm_users). When the last one
    /// goes, its mappings are torn down (`mmput` -> `exit_mmap`), even if
    /// CPUs still hold the struct lazily.
    mm_users: AtomicUsize,
    /// ASID and generation (Linux: mm->context.id); 0 until first loaded.
    context_id: AtomicU64,
    /// Serialises changes to the page tables. A sleeping mutex, because
    /// table pages are allocated (GFP_KERNEL) while it is held; Linux
    /// allocates a table before taking its spinning page_table_lock, which
    /// is what the fault path of the address-space issue will do.
    page_table_lock: Mutex<()>,
    /// The VMAs and address-space bounds (Linux: mmap_lock and what it
    /// guards): faults take it for reading, mmap/munmap/brk for writing.
    pub mmap_lock: super::vma::MmapLock,
    /// Resident pages by kind (Linux: rss_stat): MM_FILEPAGES,
    /// MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES.
    rss_stat: [AtomicIsize; NR_MM_COUNTERS],
    /// MMF_* bits (Linux: mm->flags).
    flags: AtomicUsize,
}

/// The OOM killer may pass this address space over: its memory is gone
/// already (exit_mmap or the oom_reaper ran) (Linux: MMF_OOM_SKIP).
pub const MMF_OOM_SKIP: usize = 21;
/// An OOM victim's (Linux: MMF_OOM_VICTIM).
pub const MMF_OOM_VICTIM: usize = 25;

/// rss_stat's members (Linux: enum MM_FILEPAGES...).
pub const MM_FILEPAGES: usize = 0;
pub const MM_ANONPAGES: usize = 1;
pub const MM_SWAPENTS: usize = 2;
pub const MM_SHMEMPAGES: usize = 3;
pub const NR_MM_COUNTERS: usize = 4;
const RSS_NAMES: [&str; NR_MM_COUNTERS] = ["MM_FILEPAGES", "MM_ANONPAGES", "MM_SWAPENTS", "MM_SHMEMPAGES"];

/// Address spaces freed with a non-zero rss counter (tests assert 0).
pub static BAD_RSS_COUNTER: AtomicUsize = AtomicUsize::new(0);

impl MmStruct {
    /// A new, empty address space (Linux: mm_alloc -> mm_init -> pgd_alloc).
    pub fn alloc() -> Result<MmRef, Errno> {
        let pgd = KernelPgtableMem.alloc_table().ok_or(Errno::ENOMEM)?;
        let mm = MmStruct {
            pgd,
            mm_users: AtomicUsize::new(0),
            context_id: AtomicU64::new(0),
            page_table_lock: Mutex::new(()),
            mmap_lock: crate::sync::RwSem::new(super::vma::MmMap::new()),
            rss_stat: [const { AtomicIsize::new(0) }; NR_MM_COUNTERS],
            flags: AtomicUsize::new(0),
        };
        // On failure the returned value is dropped, which frees the pgd.
        Arc::try_new(mm).map_err(|_| Errno::ENOMEM)
    }

    pub fn pgd(&self) -> PhysAddr {
        self.pgd
    }

    /// The ASID this mm has now (0 if it was never loaded).
    pub fn asid(&self) -> u16 {
        self.context_id.load(Ordering::Relaxed) as u16
    }

    /// Runs `f` on the page tables with the page-table lock held.
    pub fn with_page_table<R>(&self, f: impl FnOnce(&mut PageTable<'_, KernelPgtableMem>) -> R) -> R {
        let _ptl = self.page_table_lock.lock();
        let mut mem = KernelPgtableMem;
        let mut pt = PageTable::new(self.pgd, &mut mem);
        f(&mut pt)
    }

    /// The PTE for `va`, read without the page-table lock; none if no table
    /// covers it (Linux: ptep_get_lockless in handle_pte_fault). Called with
    /// the mmap_lock held, for reading at least: page tables are freed
    /// only with it held for writing (or with no user left), so the walk
    /// reads live tables. The value may change the moment it is read:
    /// whoever acts on it re-checks under the page-table lock.
    /// The slot comes too: it stays valid while the mmap_lock is held.
    pub fn pte_get_lockless(&self, va: usize) -> (Pte, Option<PteSlot>) {
        let mut mem = KernelPgtableMem;
        let mut pt = PageTable::new(self.pgd, &mut mem);
        match pt.pte_offset(va) {
            Some(slot) => (pt.ptep_get(slot), Some(slot)),
            None => (Pte::NONE, None),
        }
    }

    /// The PTE slot for `va`, allocating missing tables one at a time with
    /// no lock held, each installed under the page-table lock unless a
    /// racing fault installed one first (Linux: __pte_alloc and friends:
    /// pte_alloc_one, then pmd_install). Allocating under the lock would
    /// deadlock when the allocation reclaims and reclaim walks this mm.
    /// Called with the mmap_lock held, so the slot stays valid.
    pub fn pte_alloc(&self, va: usize) -> Result<PteSlot, Errno> {
        loop {
            if let (_, Some(slot)) = self.pte_get_lockless(va) {
                return Ok(slot);
            }
            let table = KernelPgtableMem.alloc_table().ok_or(Errno::ENOMEM)?;
            if !self.with_page_table(|pt| pt.install_table(va, table)) {
                KernelPgtableMem.free_table(table);
                if self.pte_get_lockless(va).1.is_none() {
                    return Err(Errno::EFAULT); // a block maps it
                }
            }
        }
    }

    /// Sets MMF_ bit `bit`; returns whether it was set before.
    pub fn set_flag(&self, bit: usize) -> bool {
        self.flags.fetch_or(1 << bit, Ordering::AcqRel) & (1 << bit) != 0
    }

    pub fn test_flag(&self, bit: usize) -> bool {
        self.flags.load(Ordering::Acquire) & (1 << bit) != 0
    }

    /// Page-table memory in bytes (Linux: mm_pgtables_bytes), or None if
    /// the page-table lock is held: the OOM killer asks from an allocation
    /// that may have been made under it. Linux keeps an atomic count.
    pub fn try_pgtables_bytes(&self) -> Option<usize> {
        let _ptl = self.page_table_lock.try_lock()?;
        let mut mem = KernelPgtableMem;
        Some(PageTable::new(self.pgd, &mut mem).count_tables() * pagoda_mm::addr::PAGE_SIZE)
    }

    /// One more task uses this address space (Linux: mmget).
    pub fn mmget(&self) {
        self.mm_users.fetch_add(1, Ordering::Relaxed);
    }

    /// A task stops using it; the last one tears the mappings down (Linux:
    /// mmput).
    pub fn mmput(&self) {
        if self.mm_users.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.exit_mmap();
        }
    }

    /// Unmaps all of user space and frees the pages and page tables, with
    /// one TLB flush before anything is freed (Linux: exit_mmap with a
    /// fullmm mmu_gather).
    fn exit_mmap(&self) {
        // Only where the VMAs are (Linux: unmap_vmas, free_pgtables):
        // walking all of user space visits thousands of empty entries.
        let ranges = {
            let map = self.mmap_lock.read();
            let mut v = alloc::vec::Vec::new();
            if v.try_reserve_exact(map.vmas.len()).is_ok() {
                v.extend(map.vmas.iter().map(|id| map.vmas.range(id)));
            } else {
                v.clear();
            }
            v
        };
        // Every table under the VMAs goes: nothing below, around or
        // above them is mapped any more (Linux: free_pgtables from
        // FIRST_USER_ADDRESS to USER_PGTABLES_CEILING).
        if ranges.is_empty() {
            self.zap(&[(0, TASK_SIZE)], true, Some((0, TASK_SIZE)));
        } else {
            self.zap(&ranges, true, Some((0, TASK_SIZE)));
        }
        self.mmap_lock.write().remove_all();
        // Nothing is left for the OOM killer to take (Linux: exit_mmap).
        self.set_flag(MMF_OOM_SKIP);
    }

    /// Clears the PTEs of `[start, start + len)` and frees the pages after
    /// one TLB flush, keeping the page tables (Linux: zap_page_range, as
    /// MADV_DONTNEED uses it). Pages are released with put_page: the
    /// mapping held one reference.
    pub fn zap_page_range(&self, start: usize, len: usize) {
        self.zap(&[(start, start + len)], false, None);
    }

    /// `zap_page_range`, then frees the page tables that only mapped the
    /// range's part of the hole `[floor, ceiling)` around it (Linux:
    /// unmap_region -> unmap_vmas + free_pgtables, for munmap). Called with
    /// the mmap_lock held for writing; `floor` and `ceiling` are the
    /// neighbouring VMAs' end and start.
    pub fn unmap_region(&self, start: usize, len: usize, floor: usize, ceiling: usize) {
        self.zap(&[(start, start + len)], false, Some((floor, ceiling)));
    }

    /// Adds `delta` pages to an rss_stat member (Linux: add_mm_counter).
    pub fn add_mm_counter(&self, member: usize, delta: isize) {
        self.rss_stat[member].fetch_add(delta, Ordering::Relaxed);
    }

    /// An rss_stat member, in pages (Linux: get_mm_counter).
    pub fn get_mm_counter(&self, member: usize) -> usize {
        self.rss_stat[member].load(Ordering::Relaxed).max(0) as usize
    }

    /// Resident pages (Linux: get_mm_rss).
    pub fn get_mm_rss(&self) -> usize {
        // Swap entries (MM_SWAPENTS) are not resident.
        self.get_mm_counter(MM_FILEPAGES)
            + self.get_mm_counter(MM_ANONPAGES)
            + self.get_mm_counter(MM_SHMEMPAGES)
    }

    /// The rss_stat member a mapped page counts in (Linux: mm_counter):
    /// anonymous pages, shmem (tmpfs) pages, and the pages of files on
    /// disks, with the signal trampoline counted as a file page as Linux
    /// counts the vDSO.
    pub fn mm_counter(&self, pfn: usize) -> usize {
        let page = super::page_alloc::pfn_to_page(pfn);
        if super::sigpage::is_sigpage(pfn) {
            MM_FILEPAGES
        } else if !super::address_space::page_in_cache(pfn) {
            MM_ANONPAGES
        } else if page.test(pagoda_mm::page::PageFlags::SWAPBACKED) {
            MM_SHMEMPAGES
        } else {
            MM_FILEPAGES
        }
    }

    /// Unmaps the pages of each `[start, end)` of `ranges` (sorted,
    /// disjoint) through one mmu_gather; then, given the hole
    /// `[floor, ceiling)` around them, frees their page tables as Linux's
    /// free_pgtables does: each range up to the next one's start.
    ///
    /// Takes the page-table lock: truncation zaps with the mmap_lock held
    /// only for reading, while faults run. The pages and tables are freed
    /// after it is released.
    fn zap(&self, ranges: &[(usize, usize)], fullmm: bool, hole: Option<(usize, usize)>) {
        let mut tlb = if fullmm { MmuGather::new_fullmm() } else { MmuGather::new() };
        let mut mem = KernelPgtableMem;
        // The gather's queue grows under the page-table lock, which
        // reclaim may need: those allocations must not reclaim (Linux's
        // mmu_gather takes its batch pages with GFP_NOWAIT).
        super::vmscan::memalloc_noreclaim(|| {
            let _ptl = self.page_table_lock.lock();
            let mut pt = PageTable::new(self.pgd, &mut mem);
            // The counters move once at the end (Linux: zap_pte_range's
            // rss[] array and add_mm_rss_vec).
            let mut rss = [0isize; NR_MM_COUNTERS];
            for &(start, end) in ranges {
                let _ = pt.unmap_page_range(start, end - start, &mut tlb, |_, pte: Pte, _, tlb| {
                    // A swapped-out page: its slot loses this PTE (Linux:
                    // zap_pte_range's free_swap_and_cache).
                    if let Some(e) = pte.to_swp_entry() {
                        rss[MM_SWAPENTS] -= 1;
                        super::swap_state::free_swap_and_cache(e);
                        return;
                    }
                    if !pte.pte_present() || pte.pte_special() {
                        return;
                    }
                    let pfn = pte.pte_pfn();
                    let kind = self.mm_counter(pfn);
                    rss[kind] -= 1;
                    if !super::sigpage::is_sigpage(pfn) {
                        super::rmap::page_remove_rmap(pfn, kind == MM_ANONPAGES);
                    }
                    if !tlb.tlb_remove_page(pfn) {
                        // The batch is full: flush it and free what it
                        // holds, then queue this page again (Linux: the
                        // tlb_flush_mmu of zap_pte_range's force_flush).
                        tlb.tlb_flush_mmu(&mut KernelPgtableMem, super::swap_state::free_page_and_swap_cache);
                        if !tlb.tlb_remove_page(pfn) {
                            // No memory for even an empty batch's queue.
                            crate::arch::mm::tlb::flush_tlb_all();
                            super::swap_state::free_page_and_swap_cache(pfn);
                        }
                    }
                });
            }
            for (kind, n) in rss.into_iter().enumerate() {
                self.add_mm_counter(kind, n);
            }
            if let Some((floor, ceiling)) = hole {
                for (i, &(start, end)) in ranges.iter().enumerate() {
                    let next = ranges.get(i + 1).map_or(ceiling, |r| r.0);
                    pt.free_pgd_range(start, end, floor, next, &mut tlb);
                }
            }
        });
        tlb.tlb_finish_mmu(&mut mem, super::swap_state::free_page_and_swap_cache);
    }

    /// Moves the PTEs of `[old, old + len)` to `[new, new + len)`: the pages
    /// themselves stay where they are, only their addresses change, then
    /// the old range is flushed (Linux: move_page_tables -> move_ptes).
    /// Called with the mmap_lock held for writing. ENOMEM if a page table
    /// for the new range cannot be had; what was moved is moved back.
    pub fn move_page_tables(&self, old: usize, new: usize, len: usize) -> Result<(), Errno> {
        use pagoda_mm::addr::PAGE_SIZE;
        let moved = self.with_page_table(|pt| {
            let mut move_one = |from: usize, to: usize| -> Result<(), ()> {
                let Some(src) = pt.pte_offset(from) else { return Ok(()) };
                let pte = pt.ptep_get(src);
                if pte.pte_none() {
                    return Ok(());
                }
                let dst = pt.pte_alloc(to).map_err(|_| ())?;
                pt.set_pte(dst, pte);
                pt.set_pte(src, Pte::NONE);
                Ok(())
            };
            for off in (0..len).step_by(PAGE_SIZE) {
                if move_one(old + off, new + off).is_err() {
                    // Put back what moved; the tables for it exist.
                    for back in (0..off).step_by(PAGE_SIZE) {
                        let _ = move_one(new + back, old + back);
                    }
                    return false;
                }
            }
            true
        });
        crate::arch::mm::tlb::flush_tlb_range(self.asid(), old, old + len, true);
        if moved {
            Ok(())
        } else {
            crate::arch::mm::tlb::flush_tlb_range(self.asid(), new, new + len, true);
            Err(Errno::ENOMEM)
        }
    }

    /// Gives every page present in `[start, end)` the protection `prot`,
    /// keeping its address and young/dirty bits, then flushes the range
    /// (Linux: change_protection -> change_pte_range).
    pub fn change_protection(&self, start: usize, end: usize, prot: pagoda_mm::pgtable::Pgprot) {
        self.with_page_table(|pt| {
            pt.for_each_pte_slot(start, end, |pt, _, slot| {
                let pte = pt.ptep_get(slot);
                if pte.pte_present() {
                    pt.set_pte(slot, pte.pte_modify(prot));
                }
            })
        });
        crate::arch::mm::tlb::flush_tlb_range(self.asid(), start, end, true);
    }

    /// Installs this mm in TTBR0 on `cpu`, which must be the calling CPU,
    /// with interrupts masked (Linux: switch_mm_irqs_off).
    pub(crate) fn switch_to_on(&self, cpu: usize) {
        check_and_switch_context(&self.context_id, self.pgd.0, cpu);
    }
}

impl Drop for MmStruct {
    /// Frees the page tables (Linux: free_pgtables + pgd_free in
    /// exit_mmap/__mmdrop). The pages they mapped belong to whoever mapped
    /// them and must be unmapped first; an entry still present is reported,
    /// as Linux's "BUG: Bad rss-counter state", and its page is left alone.
    fn drop(&mut self) {
        // Every mapped page was counted, and every unmapped one uncounted
        // (Linux: check_mm's "Bad rss-counter state").
        for (member, c) in self.rss_stat.iter().enumerate() {
            let v = c.load(Ordering::Relaxed);
            if v != 0 {
                BAD_RSS_COUNTER.fetch_add(1, Ordering::Relaxed);
                log::error!("BUG: Bad rss-counter state mm:{:p} type:{} val:{v}", self, RSS_NAMES[member]);
            }
        }
        let mut tlb = MmuGather::new();
        let mut left = 0usize;
        let mut mem = KernelPgtableMem;
        {
            // No page-table lock: `&mut self` means nobody else can reach
            // this mm, and the last reference may be dropped where sleeping
            // is not allowed (schedule() with interrupts masked, after the
            // CPU that kept it loaded lazily switched to another mm).
            let mut pt = PageTable::new(self.pgd, &mut mem);
            let _ = pt.zap_range(0, TASK_SIZE, &mut tlb, |_, pte: Pte, size, _| {
                if pte.pte_present() {
                    left += size;
                }
            });
        }
        tlb.tlb_finish_mmu(&mut mem, |_| {});
        if left > 0 {
            log::error!("BUG: mm freed with {} KiB still mapped", left >> 10);
        }
        KernelPgtableMem.free_table(self.pgd);
    }
}
