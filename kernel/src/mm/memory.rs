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

use super::mm_types::{MmStruct, MM_ANONPAGES};
use super::page_alloc::{alloc_pages, put_page};
use super::rmap::AnonVma;
use super::vma::{MmMap, VmFault, VmFlags, Vma};
use pagoda_klib::arc::Arc;
use pagoda_mm::gfp::Gfp;
use pagoda_mm::pgtable::{Pgprot, Pte, PteSlot};

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
    /// do_read_fault / do_shared_fault: the backing object's page.
    Shared,
    /// do_cow_fault: a private copy of the backing object's page.
    CowFault,
    /// do_fault, with the object's page read from a disk first.
    SharedMajor,
    /// do_cow_fault, with the object's page read from a disk first.
    CowFaultMajor,
    /// do_swap_page: the page was still in the swap cache.
    SwapCache,
    /// do_swap_page: the page read back from swap (major).
    SwapIn,
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
            Handled::Shared => "do_fault: the backing object's page (vm_ops->fault)",
            Handled::CowFault => "do_cow_fault: private copy of the object's page",
            Handled::SharedMajor => "do_fault: the object's page, read from disk (major)",
            Handled::CowFaultMajor => "do_cow_fault: private copy of a page read from disk (major)",
            Handled::SwapCache => "do_swap_page: the page found in the swap cache",
            Handled::SwapIn => "do_swap_page: the page read back from swap (major)",
        }
    }

    /// Whether the fault waited for a disk (Linux: VM_FAULT_MAJOR).
    pub fn is_major(self) -> bool {
        matches!(self, Handled::SharedMajor | Handled::CowFaultMajor | Handled::SwapIn)
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

/// Faults that had to wait for a disk read (vmstat pgmajfault).
pub static PGMAJFAULT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Counts a handled fault for the current task, for getrusage: major if
/// it read from a disk, else minor (Linux: mm_account_fault with
/// VM_FAULT_MAJOR).
pub fn mm_account_fault(how: Handled) {
    use core::sync::atomic::Ordering::Relaxed;
    if how.is_major() {
        PGMAJFAULT.fetch_add(1, Relaxed);
        crate::sched::with_current(|t| t.maj_flt.fetch_add(1, Relaxed));
    } else {
        crate::sched::with_current(|t| t.min_flt.fetch_add(1, Relaxed));
    }
}

/// Handles a fault at user address `addr` in `mm` (Linux: do_page_fault ->
/// handle_mm_fault -> handle_pte_fault).
pub fn handle_mm_fault(mm: &MmStruct, addr: usize, write: bool, exec: bool) -> Result<Handled, FaultError> {
    PAGE_FAULTS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let map = mm.mmap_lock.read();
    let Some((start, end, vma)) = vma_for(&map, addr) else {
        drop(map);
        // Maybe just below a stack: grow it under the write lock.
        let mut map = mm.mmap_lock.write();
        expand_stack(&mut map, addr)?;
        drop(map);
        return handle_mm_fault(mm, addr, write, exec);
    };
    let flags = vma.flags;
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
    let address = addr & !0xfff;
    let (pte, slot) = mm.pte_get_lockless(address);
    // A missing table is allocated now, with no lock held (Linux: the
    // pte_alloc of __handle_mm_fault).
    let slot = match slot {
        Some(slot) => slot,
        None => mm.pte_alloc(address).map_err(|_| FaultError::Oom)?,
    };
    let fault = Fault { mm, vma, address, start, end, write, slot };
    if pte.pte_none() {
        return if vma.has_backing() { do_fault(&fault) } else { do_anonymous_page(&fault) };
    }
    if let Some(entry) = pte.to_swp_entry() {
        return do_swap_page(&fault, pte, entry);
    }
    if !pte.pte_present() {
        return Err(FaultError::AccErr);
    }
    if write && !pte.pte_write() {
        return do_wp_page(&fault);
    }
    if write && !pte.pte_dirty() && flags.contains(VmFlags::SHARED) {
        return wp_page_shared(&fault, pte.pte_pfn());
    }
    // The software dirty bit of a clean writable page (arm64 without
    // hardware DBM), or the young bit; or another CPU got here first.
    fault.update_pte(|pte| {
        if !pte.pte_present() {
            return None;
        }
        if write && pte.pte_write() {
            Some((pte.pte_mkdirty().pte_mkyoung(), Handled::Dirty))
        } else if write {
            None // made read-only meanwhile: fault again
        } else {
            Some((pte.pte_mkyoung(), Handled::Spurious))
        }
    })
}

/// One fault being handled, with the mmap_lock held for reading (Linux:
/// struct vm_fault).
struct Fault<'a> {
    mm: &'a MmStruct,
    vma: &'a Vma,
    /// The faulting page's address.
    address: usize,
    /// The VMA's start and end.
    start: usize,
    end: usize,
    write: bool,
    /// The PTE's place: tables are not freed while the mmap_lock is held,
    /// so it stays valid.
    slot: PteSlot,
}

impl Fault<'_> {
    /// The page's index in the VMA's object or anonymous memory (Linux:
    /// vmf->pgoff).
    fn pgoff(&self) -> usize {
        super::rmap::linear_page_index(self.vma, self.start, self.address)
    }

    /// The PTE for `pfn` with the VMA's protection, young, and writable
    /// and dirty if this is a write (Linux: mk_pte, maybe_mkwrite).
    fn mk_pte(&self, pfn: usize) -> Pte {
        let entry = Pte::pfn_pte(pfn, vm_page_prot(self.vma.flags)).pte_mkyoung();
        if self.write {
            entry.pte_mkwrite().pte_mkdirty()
        } else {
            entry
        }
    }

    /// Replaces the PTE with what `f` makes of it, under the page-table
    /// lock, and flushes the page's old translation. `f` sees the PTE as it
    /// is once the lock is held, and returns None if another CPU changed it
    /// so that there is nothing to do.
    fn update_pte(&self, f: impl FnOnce(Pte) -> Option<(Pte, Handled)>) -> Result<Handled, FaultError> {
        self.mm.with_page_table(|pt| {
            let slot = self.slot;
            let Some((new, how)) = f(pt.ptep_get(slot)) else { return Ok(Handled::Spurious) };
            pt.set_pte(slot, new);
            crate::arch::mm::tlb::flush_tlb_page(self.mm.asid(), self.address);
            Ok(how)
        })
    }

    /// Installs `entry` for a new mapping of `pfn` if the PTE is still
    /// none (Linux: finish_fault, re-checking pte_none under the lock).
    /// False if another CPU mapped the page first; the caller then drops
    /// what it brought.
    fn set_pte_if_none(&self, entry: Pte) -> Result<bool, FaultError> {
        self.mm.with_page_table(|pt| {
            let slot = self.slot;
            if !pt.ptep_get(slot).pte_none() {
                return Ok(false);
            }
            pt.set_pte(slot, entry);
            Ok(true)
        })
    }

    /// A new anonymous page just mapped at the fault address: its rmap, its
    /// place on the LRU (inactive anon), and the mm's count (Linux:
    /// folio_add_new_anon_rmap + folio_add_lru_vma + inc_mm_counter).
    fn add_new_anon_page(&self, pfn: usize, anon_vma: &Arc<AnonVma>) {
        super::rmap::page_add_new_anon_rmap(pfn, anon_vma, self.pgoff());
        super::swap::lru_cache_add(pfn);
        self.mm.add_mm_counter(MM_ANONPAGES, 1);
    }

    /// The VMA's anon_vma, made now if this is its first anonymous page.
    fn anon_vma(&self) -> Result<Arc<AnonVma>, FaultError> {
        super::rmap::anon_vma_prepare(self.mm, self.vma).map_err(|_| FaultError::Oom)
    }
}

/// A fault on a PTE that was never mapped, in anonymous memory (Linux:
/// do_anonymous_page): the shared zero page for a read, a zeroed page of
/// its own for a write.
fn do_anonymous_page(f: &Fault) -> Result<Handled, FaultError> {
    if !f.write {
        let entry = Pte::pfn_pte(zero_pfn()?, vm_page_prot(f.vma.flags)).pte_mkspecial().pte_mkyoung();
        f.set_pte_if_none(entry.pte_wrprotect())?;
        return Ok(Handled::ZeroPage);
    }
    let anon_vma = f.anon_vma()?;
    let pfn = alloc_pages(Gfp::GFP_HIGHUSER_MOVABLE | Gfp::__GFP_ZERO, 0).map_err(|_| FaultError::Oom)?;
    if !f.set_pte_if_none(f.mk_pte(pfn)).inspect_err(|_| put_page(pfn))? {
        put_page(pfn);
        return Ok(Handled::Spurious);
    }
    f.add_new_anon_page(pfn, &anon_vma);
    Ok(Handled::Anonymous)
}

/// A fault on a PTE never mapped, in a VMA with a backing object (Linux:
/// do_fault): a read maps the object's page (do_read_fault), a write to a
/// shared mapping maps it writable (do_shared_fault), a write to a private
/// one maps a private copy (do_cow_fault).
fn do_fault(f: &Fault) -> Result<Handled, FaultError> {
    let ops = f.vma.vm_ops.ok_or(FaultError::SigBus)?;
    if !f.write {
        do_fault_around(f, ops);
    }
    let vmf = VmFault { pgoff: f.pgoff(), major: core::cell::Cell::new(false) };
    // ->fault runs without the page-table lock: it may allocate and sleep.
    let page = ops.fault(f.mm, f.vma, &vmf)?;
    let major = vmf.major.get();
    if f.write && !f.vma.flags.contains(VmFlags::SHARED) {
        let r = do_cow_fault(f, page);
        put_page(page);
        return r.map(|h| if major && h == Handled::CowFault { Handled::CowFaultMajor } else { h });
    }
    if f.write {
        // do_shared_fault: the page is dirty before its PTE is.
        ops.page_mkwrite(f.vma, page).inspect_err(|_| put_page(page))?;
    }
    if !f.set_pte_if_none(f.mk_pte(page)).inspect_err(|_| put_page(page))? {
        put_page(page);
        return Ok(Handled::Spurious);
    }
    f.mm.add_mm_counter(page_add_object_rmap(f.mm, page), 1);
    Ok(if major { Handled::SharedMajor } else { Handled::Shared })
}

/// A page of a VMA's backing object got a PTE in `mm`: one more mapping in
/// its mapcount, except the signal trampoline's (a special mapping, outside
/// mapcounts). Returns the rss_stat member it counts in.
fn page_add_object_rmap(mm: &MmStruct, page: usize) -> usize {
    if !super::sigpage::is_sigpage(page) {
        super::rmap::page_add_file_rmap(page);
    }
    mm.mm_counter(page)
}

/// How much around a read fault of a mapped file is mapped at once from the
/// pages its page cache already holds (Linux: fault_around_bytes).
pub const FAULT_AROUND_BYTES: usize = 64 << 10;

/// Pages mapped by fault-around, for the tests.
pub static FAULT_AROUND_PAGES: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Maps, around a read fault, the pages of the aligned 64 KiB window that
/// the object already has in memory: a program's code then takes one fault
/// per 16 pages rather than one per page (Linux: do_fault_around ->
/// filemap_map_pages). Only inside the VMA and the fault's PTE table, only
/// where no PTE is, never reading or allocating a page; the faulting
/// address itself is left to the fault.
fn do_fault_around(f: &Fault, ops: &dyn super::vma::VmOperations) {
    use pagoda_mm::addr::PMD_SIZE;
    let table = f.address & !(PMD_SIZE - 1);
    let from = (f.address & !(FAULT_AROUND_BYTES - 1)).max(f.start).max(table);
    let to = (from + FAULT_AROUND_BYTES).min(f.end).min(table + PMD_SIZE);
    let mut mapped = [0isize; super::mm_types::NR_MM_COUNTERS];
    f.mm.with_page_table(|pt| {
        for addr in (from..to).step_by(4096).filter(|&a| a != f.address) {
            let Some(slot) = pt.pte_offset(addr) else { return };
            if !pt.ptep_get(slot).pte_none() {
                continue;
            }
            let pgoff = super::rmap::linear_page_index(f.vma, f.start, addr);
            let Some(page) = ops.map_page(f.vma, pgoff) else { continue };
            pt.set_pte(slot, f.mk_pte(page)); // a read: not writable
            mapped[page_add_object_rmap(f.mm, page)] += 1;
        }
    });
    for (kind, n) in mapped.into_iter().enumerate() {
        f.mm.add_mm_counter(kind, n);
        FAULT_AROUND_PAGES.fetch_add(n as usize, core::sync::atomic::Ordering::Relaxed);
    }
}

/// A private write to an object's page never mapped here: the writer gets
/// an anonymous copy (Linux: do_cow_fault).
fn do_cow_fault(f: &Fault, src: usize) -> Result<Handled, FaultError> {
    let anon_vma = f.anon_vma()?;
    let copy = alloc_pages(Gfp::GFP_HIGHUSER_MOVABLE, 0).map_err(|_| FaultError::Oom)?;
    copy_user_highpage(copy, src);
    if !f.set_pte_if_none(f.mk_pte(copy)).inspect_err(|_| put_page(copy))? {
        put_page(copy);
        return Ok(Handled::Spurious);
    }
    f.add_new_anon_page(copy, &anon_vma);
    COW_COPIES.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    Ok(Handled::CowFault)
}

/// Copies a whole page (Linux: copy_user_highpage).
fn copy_user_highpage(dst: usize, src: usize) {
    let (src, dst) = (super::page_alloc::page_address(src), super::page_alloc::page_address(dst));
    // SAFETY: two distinct whole pages through the linear map; the source
    // is mapped read-only wherever it is mapped, so it does not change.
    unsafe { core::ptr::copy_nonoverlapping(src as *const u8, dst as *mut u8, 4096) };
}

/// A PTE holding a swap entry (Linux: do_swap_page): the page from the
/// swap cache, or read back with its neighbours (readahead); mapped again
/// with the slot losing this PTE's count. A write fault by the only user
/// takes the page out of the swap cache and maps it writable; otherwise it
/// is mapped read-only and a write goes through do_wp_page. SIGBUS if the
/// read failed.
fn do_swap_page(f: &Fault, orig: Pte, entry: pagoda_mm::pgtable::SwpEntry) -> Result<Handled, FaultError> {
    use super::swap_state::*;
    let anon_vma = f.anon_vma()?;
    let (pfn, major) = match swap_cluster_readahead(entry) {
        Ok(p) => p,
        // The entry was freed: another thread brought the page back.
        Err(pagoda_klib::errno::Errno::ENOENT) => return Ok(Handled::Spurious),
        Err(_) => return Err(FaultError::Oom),
    };
    if !lock_swapin_page(pfn) {
        put_page(pfn);
        return Err(FaultError::SigBus);
    }
    let page = super::page_alloc::pfn_to_page(pfn);
    if page_swap_entry(pfn) != Some(entry) {
        // Freed and reused while we waited: fault again.
        super::filemap::unlock_page(page);
        put_page(pfn);
        return Ok(Handled::Spurious);
    }
    let mut mapped = false;
    let mut exclusive = false;
    f.mm.with_page_table(|pt| {
        if pt.ptep_get(f.slot) != orig {
            return; // another thread mapped it first
        }
        super::swapfile::swap_free(entry);
        // The only user of the slot and the page: a write keeps the page
        // for itself (Linux: the exclusive case of do_swap_page).
        exclusive = f.write && super::swapfile::swap_count(entry) == 0 && page.page_mapcount() == 0;
        let mut pte = Pte::pfn_pte(pfn, vm_page_prot(f.vma.flags)).pte_mkyoung();
        if exclusive {
            pte = pte.pte_mkwrite().pte_mkdirty();
        }
        pt.set_pte(f.slot, pte);
        super::rmap::page_add_anon_rmap(pfn, &anon_vma, f.pgoff());
        f.mm.add_mm_counter(MM_ANONPAGES, 1);
        f.mm.add_mm_counter(super::mm_types::MM_SWAPENTS, -1);
        mapped = true;
    });
    if !mapped {
        super::filemap::unlock_page(page);
        put_page(pfn);
        return Ok(Handled::Spurious);
    }
    // The slot is not needed once the page is this process's alone, or
    // when swap is filling up (Linux: should_try_to_free_swap).
    if exclusive || vm_swap_full() {
        if exclusive {
            page.set_bit(pagoda_mm::page::PageFlags::DIRTY);
        }
        try_free_swap(pfn);
    }
    super::filemap::unlock_page(page);
    // The lookup's reference is now the PTE's. A write that could not keep
    // the page goes on as a write to a read-only page (Linux: the
    // do_wp_page at the end of do_swap_page).
    if f.write && !exclusive {
        do_wp_page(f)?;
    }
    Ok(if major { Handled::SwapIn } else { Handled::SwapCache })
}

/// A write to a present, write-protected page (Linux: do_wp_page). A shared
/// mapping's page is made writable in place (wp_page_shared); a private
/// anonymous page this mm alone uses is kept (wp_page_reuse); anything
/// else, the zero page included, is copied for the writer (wp_page_copy).
fn do_wp_page(f: &Fault) -> Result<Handled, FaultError> {
    if f.vma.flags.contains(VmFlags::SHARED) {
        let pfn = f.mm.with_page_table(|pt| pt.ptep_get(f.slot).pte_pfn());
        return wp_page_shared(f, pfn);
    }
    let anon_vma = f.anon_vma()?;
    // A page still in this CPU's LRU batch is referenced by it: drain the
    // batch so the count below is the mappings' alone (Linux:
    // wp_can_reuse_anon_folio's lru_add_drain).
    {
        let pfn = f.mm.with_page_table(|pt| pt.ptep_get(f.slot).pte_pfn());
        let page = super::page_alloc::pfn_to_page(pfn);
        if page.page_ref_count() > 1 && !page.test(pagoda_mm::page::PageFlags::LRU) {
            super::swap::lru_add_drain();
        }
    }
    // A page read back from swap that only this PTE maps is still in the
    // swap cache, which holds a reference: let it go first if no other
    // PTE holds the slot (Linux: the folio_free_swap of
    // wp_can_reuse_anon_folio, under the page lock).
    {
        let pfn = f.mm.with_page_table(|pt| pt.ptep_get(f.slot).pte_pfn());
        let page = super::page_alloc::pfn_to_page(pfn);
        if page.test(pagoda_mm::page::PageFlags::SWAPCACHE)
            && page.page_mapcount() == 1
            && page.get_page_unless_zero()
        {
            if super::filemap::trylock_page(page) {
                super::swap_state::try_free_swap(pfn);
                super::filemap::unlock_page(page);
            }
            put_page(pfn);
        }
    }
    // Reuse: decided under the page-table lock, where the mapping and the
    // reference count cannot change under us (Linux: the page lock and
    // page_count check of wp_can_reuse_anon_folio).
    let mut old = 0;
    let reused = f.update_pte(|pte| {
        if !pte.pte_present() || pte.pte_write() {
            return None;
        }
        old = pte.pte_pfn();
        let page = super::page_alloc::pfn_to_page(old);
        if pte.pte_special() || !page.page_anon() || page.page_ref_count() != 1 {
            return None;
        }
        super::rmap::page_move_anon_rmap(old, &anon_vma);
        PAGE_REUSES.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        Some((pte.pte_mkwrite().pte_mkdirty().pte_mkyoung(), Handled::Reuse))
    })?;
    if reused == Handled::Reuse || old == 0 {
        return Ok(reused);
    }
    wp_page_copy(f, &anon_vma, old)
}

/// The first write to a page of a shared mapping since it was mapped or
/// cleaned by writeback: the object marks the page dirty (page_mkwrite),
/// then the PTE becomes writable and dirty if it still maps that page
/// (Linux: wp_page_shared; on arm64 without hardware dirty bits, a clean
/// writable PTE is read-only to the MMU, so this write faulted).
fn wp_page_shared(f: &Fault, pfn: usize) -> Result<Handled, FaultError> {
    if let (Some(ops), true) = (f.vma.vm_ops, pfn != 0) {
        let page = super::page_alloc::pfn_to_page(pfn);
        // A reference, so that the page outlives an unmap by another CPU
        // while page_mkwrite sleeps.
        if !page.get_page_unless_zero() {
            return Ok(Handled::Spurious);
        }
        let r = ops.page_mkwrite(f.vma, pfn);
        if r.is_err() {
            put_page(pfn);
        }
        r?;
        let how = f.update_pte(|pte| {
            (pte.pte_present() && pte.pte_pfn() == pfn)
                .then(|| (pte.pte_mkwrite().pte_mkdirty().pte_mkyoung(), Handled::Dirty))
        });
        put_page(pfn);
        return how;
    }
    f.update_pte(|pte| {
        pte.pte_present().then(|| (pte.pte_mkwrite().pte_mkdirty().pte_mkyoung(), Handled::Dirty))
    })
}

/// Gives the writer its own copy of the page `old` mapped read-only at the
/// fault address (a zeroed page if `old` is the zero page) (Linux:
/// wp_page_copy). The old page loses this mapping and its reference.
fn wp_page_copy(f: &Fault, anon_vma: &Arc<AnonVma>, old: usize) -> Result<Handled, FaultError> {
    let zero = is_zero_pfn(old);
    let gfp = if zero { Gfp::GFP_HIGHUSER_MOVABLE | Gfp::__GFP_ZERO } else { Gfp::GFP_HIGHUSER_MOVABLE };
    let copy = alloc_pages(gfp, 0).map_err(|_| FaultError::Oom)?;
    if !zero {
        copy_user_highpage(copy, old);
    }
    let how = f
        .update_pte(|pte| {
            // Re-check: the PTE must still map `old` read-only.
            (pte.pte_present() && !pte.pte_write() && pte.pte_pfn() == old).then(|| {
                let how = if zero { Handled::ZeroPageCopy } else { Handled::CopyOnWrite };
                (f.mk_pte(copy), how)
            })
        })
        .inspect_err(|_| put_page(copy))?;
    if how == Handled::Spurious {
        put_page(copy);
        return Ok(how);
    }
    f.add_new_anon_page(copy, anon_vma);
    if !zero {
        let kind = f.mm.mm_counter(old);
        if !super::sigpage::is_sigpage(old) {
            super::rmap::page_remove_rmap(old, kind == MM_ANONPAGES);
        }
        f.mm.add_mm_counter(kind, -1);
        put_page(old);
    }
    COW_COPIES.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    Ok(how)
}

/// The VMA containing `addr`, if any, with its start and end.
fn vma_for(map: &MmMap, addr: usize) -> Option<(usize, usize, &Vma)> {
    let id = map.vmas.find(addr)?;
    let (start, end) = map.vmas.range(id);
    if start > addr {
        return None;
    }
    Some((start, end, map.vmas.get(id)?))
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
    // The start's linear index must not go below zero (Linux:
    // expand_downwards' `grow <= vma->vm_pgoff`).
    if !map.may_expand_vm(flags, pages) || map.vmas.get(id).is_none_or(|v| pages > v.pgoff) {
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
    // vm_start moved down: so does the linear index of the VMA's start.
    if let Some(v) = map.vmas.get_mut(id) {
        v.pgoff -= pages; // checked above
    }
    map.account(flags, pages as isize);
    Ok(())
}
