//! Reverse mapping of anonymous pages and mapping counts (Linux:
//! mm/rmap.c anon_vma_prepare, anon_vma_fork, unlink_anon_vmas,
//! page_add_new_anon_rmap, page_move_anon_rmap, page_dup_rmap,
//! page_add_file_rmap, page_remove_rmap, rmap_walk_anon).
//!
//! Every time a PTE starts or stops mapping a page, the page's `_mapcount`
//! moves, and the first mapping and the last unmapping move the node
//! counters meminfo shows: AnonPages (NR_ANON_MAPPED) for anonymous pages,
//! Mapped (NR_FILE_MAPPED) for shared memory's pages. A page shared
//! copy-on-write by a parent and its children is one page mapped three
//! times: AnonPages counts it once, `page_mapcount` says 3.
//!
//! ## anon_vma
//!
//! Reclaim starts from a page and must find every PTE that maps it. For a
//! file page the file says who maps it; an anonymous page has no file, so
//! its `mapping` points at an **anon_vma** instead, and its `index` is its
//! linear page index (the VMA's `vm_pgoff` plus its page offset in the
//! VMA), which stays the same when mremap moves the VMA.
//!
//! - A VMA gets its anon_vma at its first anonymous fault
//!   (`anon_vma_prepare`); split halves share it; a VMA with none merges
//!   with one that has one.
//! - fork gives the child's VMA a new anon_vma whose `parent` is the
//!   parent VMA's (`anon_vma_fork`). Pages still COW-shared keep pointing
//!   at the parent's anon_vma; the child's VMA is *chained* to it and to
//!   every ancestor, so a walk from the parent's anon_vma reaches the
//!   child. A page the child then writes is a new page in the child's own
//!   anon_vma, which the parent's VMA is not chained to.
//! - `rmap_walk_anon` visits every address space chained to the page's
//!   anon_vma and, in each, the VMAs chained to it whose pgoff range holds
//!   the page's index: the address is `vm_start + (index - vm_pgoff)`.
//!
//! Differences from Linux: the chain of an anon_vma lists address spaces,
//! each with a count of its VMAs chained to it, instead of one
//! anon_vma_chain per VMA in an interval tree; a walk therefore checks
//! each VMA of a listed address space, O(VMAs) rather than O(log VMAs).
//! There is no root lock or anon_vma reuse (`degree`). Reclaim starts
//! from the page alone: a page holds a counted reference on its anon_vma
//! from the moment it joins it until it is freed, so whoever holds the page
//! (and its lock, against page_move_anon_rmap) may follow `mapping` (Linux
//! keeps the anon_vma alive for such a walk with SLAB_TYPESAFE_BY_RCU and
//! folio_get_anon_vma instead).

use super::mm_types::{MmRef, MmStruct};
use super::page_alloc::{mod_node_page_state, pfn_to_page};
use super::vma::Vma;
use crate::arch::mm::mmu::KernelPgtableMem;
use crate::sync::SpinLockIrq;
use alloc::vec::Vec;
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::pgtable::PageTable;
use pagoda_mm::vmstat::NodeStatItem;

/// The address spaces with VMAs on a list, each with how many (Linux: an
/// anon_vma's tree of anon_vma_chains, an address_space's i_mmap tree):
/// who may map the pages of an anon_vma or a file. An address space listed
/// here is not freed yet: its VMAs leave the list under this lock before it
/// goes. Lock order: a VMA's anon_vma slot lock, then this; taken with no
/// page-table lock held, never across an allocation.
pub struct MmChain(SpinLockIrq<Vec<(usize, usize)>>);

impl MmChain {
    pub const fn new() -> Self {
        MmChain(SpinLockIrq::new(Vec::new()))
    }

    /// Adds one VMA of `mm`. A bigger vector is allocated with the lock
    /// dropped, and the list re-checked once it is retaken.
    pub fn add(&self, mm: &MmStruct) -> KResult<()> {
        let mm = mm as *const MmStruct as usize;
        let mut bigger: Vec<(usize, usize)> = Vec::new();
        loop {
            let mut chain = self.0.lock();
            if let Some(e) = chain.iter_mut().find(|e| e.0 == mm) {
                e.1 += 1;
                return Ok(());
            }
            if chain.len() < chain.capacity() {
                chain.push((mm, 1));
                return Ok(());
            }
            if bigger.capacity() > chain.len() {
                bigger.extend(chain.drain(..));
                bigger.push((mm, 1));
                core::mem::swap(&mut *chain, &mut bigger);
                drop(chain);
                return Ok(()); // the old vector is freed outside the lock
            }
            let want = chain.len() * 2 + 4;
            drop(chain);
            bigger.try_reserve_exact(want).map_err(|_| Errno::ENOMEM)?;
        }
    }

    /// One more VMA of an address space already listed (a split): only a
    /// count moves, nothing is allocated.
    pub(super) fn add_listed(&self, mm: usize) {
        if let Some(e) = self.0.lock().iter_mut().find(|e| e.0 == mm) {
            e.1 += 1;
        }
    }

    /// Takes one VMA of `mm` off the list (Linux: unlink_anon_vmas,
    /// unlink_file_vma).
    pub fn del(&self, mm: usize) {
        let mut chain = self.0.lock();
        if let Some(at) = chain.iter().position(|e| e.0 == mm) {
            chain[at].1 -= 1;
            if chain[at].1 == 0 {
                chain.swap_remove(at);
            }
        }
    }

    /// Calls `f` with each listed address space that is still alive, the
    /// list unlocked. Up to 16 are held on the stack, so reclaim, which runs
    /// when memory is short, allocates nothing in the common case; a longer
    /// list is copied as `mms` does. ENOMEM if that copy cannot be made.
    pub fn for_each_mm(&self, mut f: impl FnMut(&MmStruct)) -> KResult<()> {
        const ON_STACK: usize = 16;
        let mut held: [Option<MmRef>; ON_STACK] = Default::default();
        {
            let chain = self.0.lock();
            if chain.len() <= ON_STACK {
                for (slot, &(mm, _)) in held.iter_mut().zip(chain.iter()) {
                    // SAFETY: as in `mms`.
                    *slot = unsafe { Arc::try_from_inner(mm as *const MmStruct) };
                }
            } else {
                drop(chain);
                for m in self.mms()? {
                    f(&m);
                }
                return Ok(());
            }
        }
        for m in held.iter().flatten() {
            f(m);
        }
        Ok(())
    }

    /// Counted references to the listed address spaces that are still
    /// alive.
    pub fn mms(&self) -> KResult<Vec<MmRef>> {
        let mut out = Vec::new();
        loop {
            let chain = self.0.lock();
            if out.capacity() >= chain.len() {
                for &(mm, _) in chain.iter() {
                    // SAFETY: an address space on the list is not freed
                    // before its VMAs leave the list under this lock, which
                    // is held.
                    if let Some(m) = unsafe { Arc::try_from_inner(mm as *const MmStruct) } {
                        out.push(m);
                    }
                }
                return Ok(out);
            }
            let want = chain.len();
            drop(chain);
            out.try_reserve_exact(want).map_err(|_| Errno::ENOMEM)?;
        }
    }
}

impl Default for MmChain {
    fn default() -> Self {
        Self::new()
    }
}

/// The anonymous pages of a VMA and of the VMAs forked from it (Linux:
/// struct anon_vma).
pub struct AnonVma {
    /// The anon_vma of the VMA this one's was forked from (Linux:
    /// anon_vma->parent).
    parent: Option<Arc<AnonVma>>,
    /// The address spaces with VMAs chained here (Linux: rb_root, the
    /// anon_vma_chains).
    chain: MmChain,
}

impl AnonVma {
    fn alloc(parent: Option<Arc<AnonVma>>) -> KResult<Arc<AnonVma>> {
        Arc::try_new(AnonVma { parent, chain: MmChain::new() }).map_err(|_| Errno::ENOMEM)
    }
}

/// `anon_vma` and its ancestors, nearest first.
fn lineage(anon_vma: &Arc<AnonVma>) -> impl Iterator<Item = &Arc<AnonVma>> {
    core::iter::successors(Some(anon_vma), |a| a.parent.as_ref())
}

/// A VMA's membership of its anon_vma's chain and its ancestors' (Linux:
/// the VMA's list of anon_vma_chains). Cloning it (a split) chains one
/// more VMA of the same address space; dropping it unchains one.
pub struct AvcLink {
    anon_vma: Arc<AnonVma>,
    mm: usize,
}

impl AvcLink {
    fn new(anon_vma: Arc<AnonVma>, mm: &MmStruct) -> KResult<AvcLink> {
        let key = mm as *const MmStruct as usize;
        for (done, a) in lineage(&anon_vma).enumerate() {
            if let Err(e) = a.chain.add(mm) {
                lineage(&anon_vma).take(done).for_each(|a| a.chain.del(key));
                return Err(e);
            }
        }
        Ok(AvcLink { anon_vma, mm: key })
    }
}

impl Clone for AvcLink {
    fn clone(&self) -> Self {
        // The address space is on every chain already: only counts move,
        // nothing is allocated.
        for a in lineage(&self.anon_vma) {
            a.chain.add_listed(self.mm);
        }
        AvcLink { anon_vma: self.anon_vma.clone(), mm: self.mm }
    }
}

impl Drop for AvcLink {
    fn drop(&mut self) {
        for a in lineage(&self.anon_vma) {
            a.chain.del(self.mm);
        }
    }
}

/// A VMA's anon_vma, set once by the first anonymous fault (Linux:
/// vma->anon_vma, written under the page_table_lock). The lock makes the
/// write safe under a read-held mmap_lock.
pub struct AnonVmaSlot(SpinLockIrq<Option<AvcLink>>);

impl AnonVmaSlot {
    pub const fn none() -> Self {
        AnonVmaSlot(SpinLockIrq::new(None))
    }

    /// The anon_vma, if the VMA has one.
    pub fn get(&self) -> Option<Arc<AnonVma>> {
        self.0.lock().as_ref().map(|l| l.anon_vma.clone())
    }

    /// Whether two VMAs' anonymous pages may live in one VMA: the same
    /// anon_vma, or at most one of them has any (Linux:
    /// is_mergeable_anon_vma).
    pub fn mergeable(&self, other: &AnonVmaSlot) -> bool {
        match (self.get(), other.get()) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a, &b),
            _ => true,
        }
    }

    /// Takes `other`'s anon_vma if this slot has none (a merge that keeps
    /// this VMA and removes `other`).
    pub fn adopt(&self, other: &AnonVmaSlot) {
        let theirs = other.0.lock().take();
        let mut mine = self.0.lock();
        if mine.is_none() {
            *mine = theirs;
        } else {
            drop(mine);
            drop(theirs);
        }
    }

    /// Whether this VMA is chained to `anon_vma` (its own or an ancestor).
    fn chained_to(&self, anon_vma: &Arc<AnonVma>) -> bool {
        self.0.lock().as_ref().is_some_and(|l| lineage(&l.anon_vma).any(|a| Arc::ptr_eq(a, anon_vma)))
    }

    /// The anon_vma on this VMA's chain whose address is `raw` (a page's
    /// `mapping`), as a counted reference.
    fn find(&self, raw: u64) -> Option<Arc<AnonVma>> {
        let slot = self.0.lock();
        let found = lineage(&slot.as_ref()?.anon_vma).find(|a| Arc::as_ptr(a) as u64 == raw).cloned();
        found
    }
}

impl Clone for AnonVmaSlot {
    fn clone(&self) -> Self {
        AnonVmaSlot(SpinLockIrq::new(self.0.lock().clone()))
    }
}

/// Gives `vma` (of `mm`) an anon_vma if it has none yet, before its first
/// anonymous page is mapped (Linux: anon_vma_prepare). Called with the
/// mmap_lock held (for reading is enough); two faults racing here agree on
/// one: the loser's is dropped.
pub fn anon_vma_prepare(mm: &MmStruct, vma: &Vma) -> KResult<Arc<AnonVma>> {
    if let Some(a) = vma.anon_vma.get() {
        return Ok(a);
    }
    let anon_vma = AnonVma::alloc(None)?;
    let link = AvcLink::new(anon_vma.clone(), mm)?;
    let mut slot = vma.anon_vma.0.lock();
    // Re-check under the lock: another fault may have set it meanwhile.
    if let Some(l) = slot.as_ref() {
        let theirs = l.anon_vma.clone();
        drop(slot);
        drop(link);
        return Ok(theirs);
    }
    *slot = Some(link);
    Ok(anon_vma)
}

/// The anon_vma slot of the child's copy of `parent` for fork (Linux:
/// anon_vma_fork): a new anon_vma whose parent is the parent VMA's, with
/// the child chained to it and every ancestor; empty if the parent VMA
/// has no anonymous pages.
pub fn anon_vma_fork(child: &MmStruct, parent: &Vma) -> KResult<AnonVmaSlot> {
    let Some(pav) = parent.anon_vma.get() else { return Ok(AnonVmaSlot::none()) };
    let anon_vma = AnonVma::alloc(Some(pav))?;
    Ok(AnonVmaSlot(SpinLockIrq::new(Some(AvcLink::new(anon_vma, child)?))))
}

/// The oldest ancestor of `anon_vma` (Linux: anon_vma->root): a page
/// reachable from several processes' VMAs (read back from swap) joins it,
/// since every VMA forked from it is chained there.
fn anon_vma_root(anon_vma: &Arc<AnonVma>) -> &Arc<AnonVma> {
    lineage(anon_vma).last().unwrap_or(anon_vma)
}

/// Points `pfn` at `anon_vma` with `index`, the page taking its own
/// reference on it; the reference on the anon_vma it had goes (Linux:
/// __page_set_anon_rmap; the reference is Pagoda's).
fn set_page_anon_vma(pfn: usize, anon_vma: &Arc<AnonVma>, index: u64) {
    let page = pfn_to_page(pfn);
    let old = page.page_anon_vma();
    page.set_anon_mapping(Arc::into_raw(anon_vma.clone()) as u64, index);
    if let Some(old) = old {
        // SAFETY: `old` came from Arc::into_raw in this function, and the
        // page held that reference until now.
        drop(unsafe { Arc::from_raw(old as *const AnonVma) });
    }
}

/// The page is being freed: its reference on its anon_vma goes (called by
/// __free_pages).
pub fn page_free_anon_vma(pfn: usize) {
    let page = pfn_to_page(pfn);
    if let Some(old) = page.page_anon_vma() {
        page.set_mapping(0);
        page.set_index(0);
        // SAFETY: as in set_page_anon_vma; the page is at its last
        // reference, so nobody else reads `mapping` now.
        drop(unsafe { Arc::from_raw(old as *const AnonVma) });
    }
}

/// A page read back from swap and mapped at `index` of a VMA with
/// `anon_vma`: it joins the root, where every process that may still hold
/// its swap entry is chained (Linux: folio_add_anon_rmap on a !PageAnon
/// folio, with exclusive false). Counted in AnonPages at its first mapping.
pub fn page_add_anon_rmap(pfn: usize, anon_vma: &Arc<AnonVma>, index: usize) {
    let page = pfn_to_page(pfn);
    if page.page_anon_vma().is_none() {
        set_page_anon_vma(pfn, anon_vma_root(anon_vma), index as u64);
    }
    if page.mapcount_inc() {
        mod_node_page_state(pfn, NodeStatItem::NrAnonMapped, 1);
    }
}

/// The index of the page at `addr` in `vma` (which starts at `start`)
/// (Linux: linear_page_index).
pub fn linear_page_index(vma: &Vma, start: usize, addr: usize) -> usize {
    vma.pgoff + ((addr - start) >> 12)
}

/// A new anonymous page's first mapping: it joins `anon_vma` at `index`
/// (Linux: page_add_new_anon_rmap -> __page_set_anon_rmap).
pub fn page_add_new_anon_rmap(pfn: usize, anon_vma: &Arc<AnonVma>, index: usize) {
    let page = pfn_to_page(pfn);
    // Only swap can take it: it goes on the anon LRU lists.
    page.set_bit(pagoda_mm::page::PageFlags::SWAPBACKED);
    set_page_anon_vma(pfn, anon_vma, index as u64);
    if page.mapcount_inc() {
        mod_node_page_state(pfn, NodeStatItem::NrAnonMapped, 1);
    }
}

/// A page that write fault reuses moves to the writer's own anon_vma, so
/// that a later walk need not look at the VMAs forked from the old one
/// (Linux: page_move_anon_rmap). Called when this mapping holds the page's
/// only reference, so reclaim (which holds one while it reads `mapping`)
/// is not looking at it.
pub fn page_move_anon_rmap(pfn: usize, anon_vma: &Arc<AnonVma>) {
    set_page_anon_vma(pfn, anon_vma, pfn_to_page(pfn).index());
}

/// One more PTE for a page already mapped (fork) (Linux: page_dup_rmap).
pub fn page_dup_rmap(pfn: usize) {
    pfn_to_page(pfn).mapcount_inc();
}

/// A shared-memory page mapped by one more PTE (Linux: page_add_file_rmap).
pub fn page_add_file_rmap(pfn: usize) {
    if pfn_to_page(pfn).mapcount_inc() {
        mod_node_page_state(pfn, NodeStatItem::NrFileMapped, 1);
    }
}

/// A PTE no longer maps the page (Linux: page_remove_rmap). The last one
/// takes the page out of AnonPages or Mapped. An anonymous page keeps its
/// anon_vma and index until it is freed: in the swap cache it may be
/// mapped again.
pub fn page_remove_rmap(pfn: usize, anon: bool) {
    let page = pfn_to_page(pfn);
    if page.mapcount_dec() {
        if anon {
            mod_node_page_state(pfn, NodeStatItem::NrAnonMapped, -1);
        } else {
            mod_node_page_state(pfn, NodeStatItem::NrFileMapped, -1);
        }
    }
}

/// Calls `f(mm, address)` for every mapping of the anonymous page that
/// `mm` maps at `addr`, `mm`'s own included (Linux: rmap_walk_anon with an
/// rmap_walk_control). Returns the page's frame number. EFAULT if nothing
/// anonymous is mapped there. Called with no mmap_lock held; takes each
/// address space's for reading in turn.
pub fn rmap_walk_anon(mm: &MmStruct, addr: usize, mut f: impl FnMut(&MmStruct, usize)) -> KResult<usize> {
    let (pfn, anon_vma, index) = {
        let map = mm.mmap_lock.read();
        let id = map.vmas.find(addr).filter(|&id| map.vmas.range(id).0 <= addr).ok_or(Errno::EFAULT)?;
        let vma = map.vmas.get(id).ok_or(Errno::EFAULT)?;
        let pfn = mm.with_page_table(|pt| pt.translate(addr)).ok_or(Errno::EFAULT)?.0 >> 12;
        let page = pfn_to_page(pfn);
        // The page's anon_vma is this VMA's or an ancestor, which the VMA
        // keeps alive; find it there rather than trusting the raw pointer.
        let raw = page.page_anon_vma().ok_or(Errno::EFAULT)?;
        let anon_vma = vma.anon_vma.find(raw).ok_or(Errno::EFAULT)?;
        (pfn, anon_vma, page.index() as usize)
    };
    for m in anon_vma.chain.mms()? {
        let map = m.mmap_lock.read();
        for id in map.vmas.iter() {
            let (start, end) = map.vmas.range(id);
            let Some(vma) = map.vmas.get(id) else { continue };
            let pages = (end - start) >> 12;
            if index < vma.pgoff || index >= vma.pgoff + pages || !vma.anon_vma.chained_to(&anon_vma) {
                continue;
            }
            let address = start + ((index - vma.pgoff) << 12);
            // The VMA covers the index; the PTE says whether this page is
            // still the one there (a COW write may have replaced it).
            if m.with_page_table(|pt| pt.translate(address)).is_some_and(|pa| pa.0 >> 12 == pfn) {
                f(&m, address);
            }
        }
    }
    Ok(pfn)
}

/// Some address space's mmap_lock was taken: the walk did not see all of
/// the page's mappings.
#[derive(Debug, PartialEq, Eq)]
pub struct Contended;

/// Calls `f(mm, address)` for every address where a VMA of a mapping of
/// `mapping` maps page `index` with `pfn` (Linux: rmap_walk_file over the
/// i_mmap tree). Each address space's mmap_lock is only tried, never
/// waited for: the caller holds the page lock, and a fault holding the
/// mmap_lock may be waiting for that page lock (Linux walks under the
/// file's i_mmap_rwsem instead, which Pagoda does not have). `f(mm,
/// address, VMA flags, page table)` runs with that address space's
/// page-table lock held.
pub fn rmap_walk_file(
    mapping: &super::address_space::AddressSpace,
    index: usize,
    pfn: usize,
    mut f: impl FnMut(&MmStruct, usize, super::vma::VmFlags, &mut PageTable<'_, KernelPgtableMem>),
) -> Result<(), Contended> {
    walk_chain(
        &mapping.i_mmap,
        index,
        pfn,
        |vma| vma.vm_file.as_ref().and_then(|f| f.mapping()).is_some_and(|mp| core::ptr::eq(mp, mapping)),
        &mut f,
    )
}

/// The walk both rmap walks share: for each address space on `chain` whose
/// mmap_lock is free (only tried: the caller holds the page lock, and a
/// fault holding the mmap_lock may wait for it), each VMA that covers
/// `index` and that `ours` accepts, `f(mm, address, flags, page table)` if
/// the PTE there maps `pfn`, with the page-table lock held. Allocates
/// nothing in the common case: reclaim runs it when memory is short.
fn walk_chain(
    chain: &MmChain,
    index: usize,
    pfn: usize,
    ours: impl Fn(&Vma) -> bool,
    f: &mut impl FnMut(&MmStruct, usize, super::vma::VmFlags, &mut PageTable<'_, KernelPgtableMem>),
) -> Result<(), Contended> {
    let mut contended = false;
    let all = chain.for_each_mm(|m| {
        let Some(map) = m.mmap_lock.try_read() else {
            contended = true;
            return;
        };
        for id in map.vmas.iter() {
            let (start, end) = map.vmas.range(id);
            let Some(vma) = map.vmas.get(id) else { continue };
            if index < vma.pgoff || index >= vma.pgoff + ((end - start) >> 12) || !ours(vma) {
                continue;
            }
            let address = start + ((index - vma.pgoff) << 12);
            m.with_page_table(|pt| {
                if pt.translate(address).is_some_and(|pa| pa.0 >> 12 == pfn) {
                    f(m, address, vma.flags, pt);
                }
            });
        }
    });
    if contended || all.is_err() {
        Err(Contended)
    } else {
        Ok(())
    }
}

/// Calls `f(mm, address, VMA flags, page table)` for every PTE that maps
/// the anonymous page `pfn`, starting from the page (Linux: rmap_walk_anon
/// from folio_lock_anon_vma_read). Called with the page locked and a
/// reference held, which keep its anon_vma alive; each address space's
/// mmap_lock is only tried, as in `rmap_walk_file`, and `f` runs with its
/// page-table lock held.
pub fn rmap_walk_anon_page(
    pfn: usize,
    mut f: impl FnMut(&MmStruct, usize, super::vma::VmFlags, &mut PageTable<'_, KernelPgtableMem>),
) -> Result<(), Contended> {
    let page = pfn_to_page(pfn);
    let Some(raw) = page.page_anon_vma() else { return Ok(()) };
    // SAFETY: the page holds a reference on its anon_vma (set_page_anon_vma)
    // and the caller holds the page, so it lives while this runs.
    let anon_vma = unsafe { &*(raw as *const AnonVma) };
    let index = page.index() as usize;
    walk_chain(
        &anon_vma.chain,
        index,
        pfn,
        |vma| {
            let link = vma.anon_vma.0.lock();
            link.as_ref().is_some_and(|l| lineage(&l.anon_vma).any(|a| Arc::as_ptr(a) as u64 == raw))
        },
        &mut f,
    )
}

/// Makes every PTE that maps the file page `pfn` clean, so that the next
/// write through it faults and dirties the page again (Linux:
/// folio_mkclean -> page_mkclean_one). Called with the page locked, before
/// writeback takes its dirty bit. Contended if a mapping could not be
/// reached: the page must then stay dirty.
pub fn page_mkclean(
    mapping: &super::address_space::AddressSpace,
    index: usize,
    pfn: usize,
) -> Result<(), Contended> {
    rmap_walk_file(mapping, index, pfn, |m, address, _, pt| {
        let Some(slot) = pt.pte_offset(address) else { return };
        let pte = pt.ptep_get(slot);
        if pte.pte_present() && pte.pte_dirty() {
            pt.set_pte(slot, pte.pte_mkclean());
            crate::arch::mm::tlb::flush_tlb_page(m.asid(), address);
        }
    })
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use crate::mm::memory::{handle_mm_fault, Handled};
    use crate::mm::vma::VmFlags;

    const A: usize = 0x4000_0000;
    const PAGES: usize = 4;

    /// Where `mm`'s page at `addr` is mapped, as (address space, address)
    /// pairs with the address spaces named by their index in `mms`.
    fn mappings(mm: &MmStruct, addr: usize, mms: &[&MmStruct]) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        rmap_walk_anon(mm, addr, |m, a| {
            let who = mms.iter().position(|&x| core::ptr::eq(x, m)).expect("a walk found an unknown mm");
            found.push((who, a));
        })
        .expect("an anonymous page is mapped there");
        found.sort_unstable();
        found
    }

    fn fault(mm: &MmStruct, addr: usize) -> Handled {
        handle_mm_fault(mm, addr, true, false).expect("write fault")
    }

    /// The anon_vma of the VMA at `addr`, by address.
    fn vma_anon_vma(mm: &MmStruct, addr: usize) -> u64 {
        let map = mm.mmap_lock.read();
        let id = map.vmas.find(addr).unwrap();
        map.vmas.get(id).unwrap().anon_vma.get().map_or(0, |a| Arc::as_ptr(&a) as u64)
    }

    fn page_at(mm: &MmStruct, addr: usize) -> &'static pagoda_mm::page::Page {
        pfn_to_page(mm.with_page_table(|pt| pt.translate(addr)).expect("mapped").0 >> 12)
    }

    /// The seeds' rmap story: a page written before fork is found in the
    /// parent and every child; a COW write takes the writer's copy out of
    /// the others' walks and puts it in the writer's own anon_vma; mremap
    /// moves a mapping without changing the page's index; a page with one
    /// user left is reused and moves to that user's anon_vma.
    #[ktest]
    fn rmap_finds_every_mapping_of_an_anonymous_page() {
        let parent = MmStruct::alloc().unwrap();
        parent.mmget();
        let rw = VmFlags::READ | VmFlags::WRITE | VmFlags::MAYREAD | VmFlags::MAYWRITE;
        parent.mmap_lock.write().insert(A, A + PAGES * 4096, rw).unwrap();
        assert_eq!(vma_anon_vma(&parent, A), 0, "no anon_vma before the first fault");
        for i in 0..PAGES {
            assert_eq!(fault(&parent, A + i * 4096), Handled::Anonymous);
        }
        let pav = vma_anon_vma(&parent, A);
        assert_ne!(pav, 0, "the first anonymous fault made the anon_vma");
        for i in 0..PAGES {
            let page = page_at(&parent, A + i * 4096);
            assert_eq!(page.page_anon_vma(), Some(pav), "page {i} points at the VMA's anon_vma");
            assert_eq!(page.index() as usize, (A >> 12) + i, "page {i}'s index is its linear page index");
        }

        let c1 = crate::mm::fork::dup_mmap(&parent).unwrap();
        let c2 = crate::mm::fork::dup_mmap(&parent).unwrap();
        let all: [&MmStruct; 3] = [&parent, &c1, &c2];
        let (c1av, c2av) = (vma_anon_vma(&c1, A), vma_anon_vma(&c2, A));
        assert!(c1av != 0 && c2av != 0 && c1av != pav && c1av != c2av, "each child has its own anon_vma");
        assert_eq!(mappings(&parent, A, &all), [(0, A), (1, A), (2, A)], "shared by all three");
        assert_eq!(mappings(&c2, A, &all), [(0, A), (1, A), (2, A)], "the same walk from a child");
        assert_eq!(page_at(&parent, A).page_mapcount(), 3);

        // Child 1 writes page 0: its copy is its own, in its anon_vma.
        assert_eq!(fault(&c1, A), Handled::CopyOnWrite);
        assert_eq!(page_at(&c1, A).page_anon_vma(), Some(c1av));
        assert_eq!(page_at(&c1, A).index() as usize, A >> 12, "the copy keeps the linear index");
        assert_eq!(mappings(&c1, A, &all), [(1, A)]);
        assert_eq!(mappings(&parent, A, &all), [(0, A), (2, A)]);

        // Child 2 moves the whole mapping: found at its new address.
        const B: usize = 0x5000_0000;
        {
            let mut map = c2.mmap_lock.write();
            let moved = crate::mm::mremap::do_mremap(&c2, &mut map, A, PAGES * 4096, PAGES * 4096, 3, B);
            assert_eq!(moved.map(|r| r.0), Ok(B), "MREMAP_MAYMOVE | MREMAP_FIXED");
        }
        assert_eq!(page_at(&c2, B + 4096).index() as usize, (A >> 12) + 1, "mremap keeps indexes");
        assert_eq!(mappings(&parent, A + 4096, &all), [(0, A + 4096), (1, A + 4096), (2, B + 4096)]);

        // Page 3 ends up with child 1 alone: its write reuses the page,
        // which moves to child 1's anon_vma.
        crate::mm::mmap::do_munmap(&parent, &mut parent.mmap_lock.write(), A + 3 * 4096, 4096).unwrap();
        crate::mm::mmap::do_munmap(&c2, &mut c2.mmap_lock.write(), B + 3 * 4096, 4096).unwrap();
        assert_eq!(page_at(&c1, A + 3 * 4096).page_anon_vma(), Some(pav), "still the parent's");
        assert_eq!(fault(&c1, A + 3 * 4096), Handled::Reuse);
        assert_eq!(page_at(&c1, A + 3 * 4096).page_anon_vma(), Some(c1av), "page_move_anon_rmap");
        assert_eq!(mappings(&c1, A + 3 * 4096, &all), [(1, A + 3 * 4096)]);

        // A child that exits (its VMAs gone with its mappings) leaves
        // every walk.
        c2.mmput();
        assert_eq!(mappings(&parent, A + 4096, &all), [(0, A + 4096), (1, A + 4096)]);
        c1.mmput();
        assert_eq!(mappings(&parent, A + 4096, &all), [(0, A + 4096)]);
        assert_eq!(page_at(&parent, A + 4096).page_mapcount(), 1);
        parent.mmput();
    }

    /// Merging and splitting keep one anon_vma per range of pages: halves
    /// of a split share it, and a VMA without one merges into a neighbour
    /// that has one. A moved VMA with pages does not merge with a
    /// neighbour whose linear indexes do not continue its own.
    #[ktest]
    fn split_and_merge_keep_the_anon_vma() {
        let mm = MmStruct::alloc().unwrap();
        mm.mmget();
        let rw = VmFlags::READ | VmFlags::WRITE | VmFlags::MAYREAD | VmFlags::MAYWRITE;
        mm.mmap_lock.write().insert(A, A + 4 * 4096, rw).unwrap();
        fault(&mm, A);
        let av = vma_anon_vma(&mm, A);
        {
            let mut map = mm.mmap_lock.write();
            crate::mm::mmap::do_mprotect(&mm, &mut map, A + 2 * 4096, 4096, 1).unwrap();
            assert_eq!(map.vmas.len(), 3, "mprotect split the VMA in three");
        }
        assert_eq!(vma_anon_vma(&mm, A + 3 * 4096), av, "the split parts share the anon_vma");
        {
            let mut map = mm.mmap_lock.write();
            crate::mm::mmap::do_mprotect(&mm, &mut map, A + 2 * 4096, 4096, 3).unwrap();
            assert_eq!(map.vmas.len(), 1, "and merged back");
            // A fresh mapping right above merges and joins the anon_vma.
            map.insert(A + 4 * 4096, A + 5 * 4096, rw).unwrap();
            crate::mm::mmap::vma_merge(&mut map, A + 4 * 4096);
            assert_eq!(map.vmas.len(), 1, "an adjacent new mapping merged");
        }
        assert_eq!(fault(&mm, A + 4 * 4096), Handled::Anonymous);
        assert_eq!(page_at(&mm, A + 4 * 4096).page_anon_vma(), Some(av));
        {
            // Moved away and back next to a mapping whose indexes do not
            // continue it, a VMA with pages stays separate.
            const C: usize = 0x6000_0000;
            let mut map = mm.mmap_lock.write();
            map.insert(C + 4096, C + 2 * 4096, rw).unwrap();
            crate::mm::mremap::do_mremap(&mm, &mut map, A, 4096, 4096, 3, C).unwrap();
            assert_eq!(map.vmas.len(), 3, "moved page stays its own VMA at C");
        }
        assert_eq!(page_at(&mm, 0x6000_0000).index() as usize, A >> 12);
        mm.mmput();
    }
}
