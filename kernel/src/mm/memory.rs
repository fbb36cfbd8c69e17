//! Page faults on user memory (Linux: mm/memory.c handle_mm_fault,
//! do_anonymous_page, do_wp_page; mm/mmap.c expand_stack).
//!
//! ```text
//! fault at addr (write? exec?)
//!   vma = find_vma(addr)          none, or below a stack that cannot grow: SIGSEGV (SEGV_MAPERR)
//!   access not allowed by vma     SIGSEGV (SEGV_ACCERR)
//!   pte none, read                do_anonymous_page: the shared zero page, read-only (special)
//!   pte none, write               do_anonymous_page: a zeroed page, writable and dirty
//!   pte present, write, !pte_write   do_wp_page: the zero page is replaced by a new page; the
//!                                 only user of a page reuses it; others copy it
//!   pte present, write, clean     the software dirty bit: mark it dirty, make it MMU-writable
//!   otherwise                     spurious (another CPU already fixed it): mark young
//! ```
//!
//! Called with interrupts on; takes the mmap_lock for reading (for writing
//! only to grow the stack), then the page-table lock.

use super::mm_types::MmStruct;
use super::page_alloc::{alloc_pages, put_page};
use super::vma::{MmMap, VmFlags};
use pagoda_mm::gfp::Gfp;
use pagoda_mm::pgtable::{Pgprot, Pte};

/// Why a fault could not be handled (Linux: the si_code of SIGSEGV, or OOM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultError {
    /// No VMA there (SEGV_MAPERR).
    MapErr,
    /// The VMA forbids this access (SEGV_ACCERR).
    AccErr,
    /// No memory for the page or its tables (VM_FAULT_OOM).
    Oom,
    /// Past the end of a shared mapping's object (VM_FAULT_SIGBUS).
    SigBus,
}

/// How a fault was handled, for trace_faults and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// do_anonymous_page: a new zeroed page.
    Anonymous,
    /// do_anonymous_page for a read: the shared zero page.
    ZeroPage,
    /// do_wp_page on the zero page: a new zeroed page.
    ZeroPageCopy,
    /// do_wp_page: the page had other users; the writer got a copy.
    CopyOnWrite,
    /// do_wp_page: this mm was the page's only user; it kept it.
    Reuse,
    /// The software dirty bit of a clean writable page.
    Dirty,
    /// Nothing to do (another CPU fixed it first, or the young bit).
    Spurious,
    /// A shared mapping's page, from its shmem object.
    Shared,
}

impl Handled {
    pub fn as_str(self) -> &'static str {
        match self {
            Handled::Anonymous => "do_anonymous_page: new zeroed page",
            Handled::ZeroPage => "do_anonymous_page: shared zero page, read-only",
            Handled::ZeroPageCopy => "do_wp_page: zero page replaced by a new page",
            Handled::CopyOnWrite => "do_wp_page: wp_page_copy (COW copy)",
            Handled::Reuse => "do_wp_page: wp_page_reuse (only user)",
            Handled::Dirty => "software dirty bit set",
            Handled::Spurious => "spurious (already fixed) / young bit",
            Handled::Shared => "shmem_fault: the shared object's page",
        }
    }
}

/// Statistics for getrusage and /proc (Linux: min_flt counts).
pub static PAGE_FAULTS: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Pages copied on write (Linux: the cow_fault count).
pub static COW_COPIES: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Pages reused by do_wp_page because this mm was their only user (Linux:
/// the pgreuse event).
pub static PAGE_REUSES: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// The shared zero page, mapped read-only wherever anonymous memory is
/// read before it is written (Linux: ZERO_PAGE, empty_zero_page). Made on
/// first use; 0 until then.
static ZERO_PFN: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// The zero page's frame, allocating it the first time.
fn zero_pfn() -> Result<usize, FaultError> {
    use core::sync::atomic::Ordering::*;
    let z = ZERO_PFN.load(Acquire);
    if z != 0 {
        return Ok(z);
    }
    let pfn = alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_ZERO, 0).map_err(|_| FaultError::Oom)?;
    match ZERO_PFN.compare_exchange(0, pfn, AcqRel, Acquire) {
        Ok(_) => Ok(pfn),
        Err(winner) => {
            put_page(pfn); // another CPU made it first
            Ok(winner)
        }
    }
}

/// Whether `pfn` is the zero page (Linux: is_zero_pfn).
pub fn is_zero_pfn(pfn: usize) -> bool {
    pfn == ZERO_PFN.load(core::sync::atomic::Ordering::Acquire)
}

/// The gap kept below a growing stack (Linux: stack_guard_gap, 256 pages).
const STACK_GUARD_GAP: usize = 256 << 12;

/// The page protection for a VMA's flags (Linux: vm_get_page_prot).
pub fn vm_page_prot(flags: VmFlags) -> Pgprot {
    Pgprot::vm_get_page_prot(
        flags.contains(VmFlags::READ),
        flags.contains(VmFlags::WRITE),
        flags.contains(VmFlags::EXEC),
        flags.contains(VmFlags::SHARED),
    )
}

/// Set by `trace_faults` on the command line (see the exception code).
static TRACE_FAULTS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Reads `trace_faults` from the command line, at boot.
pub fn trace_faults_init(cmdline: &str) {
    if pagoda_klib::cmdline::has(cmdline, "trace_faults") {
        TRACE_FAULTS.store(true, core::sync::atomic::Ordering::Relaxed);
        log::info!("trace_faults: every user page fault is logged");
    }
}

pub fn trace_faults() -> bool {
    TRACE_FAULTS.load(core::sync::atomic::Ordering::Relaxed)
}

/// Counts a handled fault for the current task, for getrusage (Linux:
/// mm_account_fault; every fault is minor until swap-in and file reads
/// make major ones).
pub fn mm_account_fault() {
    crate::sched::with_current(|t| t.min_flt.fetch_add(1, core::sync::atomic::Ordering::Relaxed));
}

/// Handles a fault at user address `addr` in `mm` (Linux: do_page_fault ->
/// handle_mm_fault).
pub fn handle_mm_fault(mm: &MmStruct, addr: usize, write: bool, exec: bool) -> Result<Handled, FaultError> {
    PAGE_FAULTS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let map = mm.mmap_lock.read();
    let (flags, shm) = match vma_for(&map, addr) {
        Some(f) => f,
        None => {
            drop(map);
            // Maybe just below a stack: grow it under the write lock.
            let mut map = mm.mmap_lock.write();
            expand_stack(&mut map, addr)?;
            drop(map);
            return handle_mm_fault(mm, addr, write, exec);
        }
    };
    let allowed = if write {
        flags.contains(VmFlags::WRITE)
    } else if exec {
        flags.contains(VmFlags::EXEC)
    } else {
        flags.intersects(VmFlags::READ | VmFlags::WRITE | VmFlags::EXEC)
    };
    if !allowed {
        return Err(FaultError::AccErr);
    }
    let page = addr & !0xfff;
    mm.with_page_table(|pt| {
        let slot = pt.pte_alloc(page).map_err(|_| FaultError::Oom)?;
        let pte = pt.ptep_get(slot);
        if pte.pte_none() {
            if let Some((obj, index)) = &shm {
                // A shared mapping: the object's page, the same for every
                // process mapping it (Linux: do_shared_fault / shmem_fault).
                let pfn = super::shmem::ShmemObject::get_page(obj, *index).map_err(|e| match e {
                    super::shmem::ShmemError::Beyond => FaultError::SigBus,
                    super::shmem::ShmemError::NoMemory => FaultError::Oom,
                })?;
                let mut entry = Pte::pfn_pte(pfn, vm_page_prot(flags)).pte_mkyoung();
                if write {
                    entry = entry.pte_mkwrite().pte_mkdirty();
                }
                pt.set_pte(slot, entry);
                super::rmap::page_add_file_rmap(pfn);
                mm.add_mm_counter(super::mm_types::MM_SHMEMPAGES, 1);
                return Ok(Handled::Shared);
            }
        }
        if pte.pte_none() && !write && !flags.contains(VmFlags::SHARED) {
            // do_anonymous_page, read: the zero page, until a write.
            let entry = Pte::pfn_pte(zero_pfn()?, vm_page_prot(flags)).pte_mkspecial().pte_mkyoung();
            pt.set_pte(slot, entry.pte_wrprotect());
            return Ok(Handled::ZeroPage);
        }
        if pte.pte_none() {
            // do_anonymous_page: a zeroed page of our own.
            let pfn =
                alloc_pages(Gfp::GFP_HIGHUSER_MOVABLE | Gfp::__GFP_ZERO, 0).map_err(|_| FaultError::Oom)?;
            let mut entry = Pte::pfn_pte(pfn, vm_page_prot(flags)).pte_mkyoung();
            if write {
                entry = entry.pte_mkwrite().pte_mkdirty();
            }
            pt.set_pte(slot, entry);
            super::rmap::page_add_new_anon_rmap(pfn, page);
            mm.add_mm_counter(super::mm_types::MM_ANONPAGES, 1);
            return Ok(Handled::Anonymous);
        }
        if !pte.pte_present() {
            // A swap entry or PROT_NONE page: not possible yet.
            return Err(FaultError::AccErr);
        }
        let mut how = Handled::Spurious;
        let new = if write && !pte.pte_write() && flags.contains(VmFlags::SHARED) {
            // A shared page is written in place, never copied (Linux:
            // wp_page_shared).
            how = Handled::Dirty;
            pte.pte_mkwrite().pte_mkdirty().pte_mkyoung()
        } else if write && !pte.pte_write() {
            let pfn = pte.pte_pfn();
            if is_zero_pfn(pfn) {
                // wp_page_copy from the zero page: a new zeroed page.
                let page = alloc_pages(Gfp::GFP_HIGHUSER_MOVABLE | Gfp::__GFP_ZERO, 0)
                    .map_err(|_| FaultError::Oom)?;
                pt.set_pte(
                    slot,
                    Pte::pfn_pte(page, vm_page_prot(flags)).pte_mkwrite().pte_mkdirty().pte_mkyoung(),
                );
                crate::arch::mm::tlb::flush_tlb_page(mm.asid(), page_addr(addr));
                super::rmap::page_add_new_anon_rmap(page, page_addr(addr));
                COW_COPIES.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                mm.add_mm_counter(super::mm_types::MM_ANONPAGES, 1);
                return Ok(Handled::ZeroPageCopy);
            }
            if super::page_alloc::pfn_to_page(pfn).page_ref_count() == 1 {
                // do_wp_page -> wp_page_reuse: the only user keeps the page.
                PAGE_REUSES.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                how = Handled::Reuse;
                pte.pte_mkwrite().pte_mkdirty().pte_mkyoung()
            } else {
                // wp_page_copy: shared since fork; the writer gets a copy.
                let copy = alloc_pages(Gfp::GFP_HIGHUSER_MOVABLE, 0).map_err(|_| FaultError::Oom)?;
                let (src, dst) =
                    (super::page_alloc::page_address(pfn), super::page_alloc::page_address(copy));
                // SAFETY: two distinct whole pages through the linear map;
                // the source is mapped read-only everywhere now.
                unsafe { core::ptr::copy_nonoverlapping(src as *const u8, dst as *mut u8, 4096) };
                pt.set_pte(
                    slot,
                    Pte::pfn_pte(copy, vm_page_prot(flags)).pte_mkwrite().pte_mkdirty().pte_mkyoung(),
                );
                crate::arch::mm::tlb::flush_tlb_page(mm.asid(), page);
                super::rmap::page_add_new_anon_rmap(copy, page);
                super::rmap::page_remove_rmap(pfn, true);
                put_page(pfn);
                COW_COPIES.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                return Ok(Handled::CopyOnWrite);
            }
        } else if write {
            // A clean writable page: the software dirty bit (arm64 without
            // hardware DBM).
            how = Handled::Dirty;
            pte.pte_mkdirty().pte_mkyoung()
        } else {
            pte.pte_mkyoung()
        };
        pt.set_pte(slot, new);
        crate::arch::mm::tlb::flush_tlb_page(mm.asid(), page);
        Ok(how)
    })
}

fn page_addr(addr: usize) -> usize {
    addr & !0xfff
}

/// The flags of the VMA containing `addr`, if any, and for a shared
/// mapping its object and the page offset of `addr` in it.
fn vma_for(map: &MmMap, addr: usize) -> Option<(VmFlags, Option<(super::shmem::ShmemRef, usize)>)> {
    let id = map.vmas.find(addr)?;
    let (start, _) = map.vmas.range(id);
    if start > addr {
        return None;
    }
    let v = map.vmas.get(id)?;
    let shm = v.shm.as_ref().map(|(obj, pgoff)| (obj.clone(), pgoff + ((addr - start) >> 12)));
    Some((v.flags, shm))
}

/// Grows the stack VMA above `addr` down to cover it (Linux: expand_stack
/// -> expand_downwards), keeping the guard gap from the VMA below and the
/// stack within RLIMIT_STACK.
fn expand_stack(map: &mut MmMap, addr: usize) -> Result<(), FaultError> {
    let id = map.vmas.find(addr).ok_or(FaultError::MapErr)?;
    let (start, end) = map.vmas.range(id);
    if start <= addr {
        return Ok(()); // someone grew it meanwhile
    }
    if !map.vmas.get(id).is_some_and(|v| v.flags.contains(VmFlags::GROWSDOWN)) {
        return Err(FaultError::MapErr);
    }
    let new_start = addr & !0xfff;
    let prev_end = map.vmas.prev(id).map_or(0, |p| map.vmas.range(p).1);
    if new_start < prev_end.saturating_add(STACK_GUARD_GAP) {
        return Err(FaultError::MapErr);
    }
    let limit = crate::sched::current()
        .map_or(8 << 20, |t| t.rlimit(crate::syscall::rlimit::RLIMIT_STACK).0 as usize);
    if end - new_start > limit {
        return Err(FaultError::MapErr);
    }
    // The growth counts against RLIMIT_AS and is committed like any
    // private writable memory (Linux: acct_stack_growth).
    let pages = (start - new_start) >> 12;
    let flags = map.vmas.get(id).map_or(VmFlags::empty(), |v| v.flags);
    if !map.may_expand_vm(flags, pages) {
        return Err(FaultError::MapErr);
    }
    if flags.contains(VmFlags::ACCOUNT) && super::util::vm_enough_memory(pages).is_err() {
        return Err(FaultError::Oom);
    }
    if map.vmas.adjust(id, new_start, end).is_err() {
        if flags.contains(VmFlags::ACCOUNT) {
            super::util::vm_unacct_memory(pages);
        }
        return Err(FaultError::MapErr);
    }
    map.account(flags, pages as isize);
    Ok(())
}
