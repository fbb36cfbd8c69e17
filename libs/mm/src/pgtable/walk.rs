//! The generic page-table walker: walk, map, unmap and change protection
//! over a range of a 4-level, 4 KiB-granule table (Linux: mm/memory.c,
//! mm/pgtable-generic.c, arch/arm64/mm/mmu.c's alloc_init_* helpers and
//! mm/pageattr.c).
//!
//! Levels use arm64's Linux names: 0 = PGD, 1 = PUD, 2 = PMD, 3 = PTE.
//! Each level indexes 9 bits of the virtual address:
//!
//! ```text
//!  47      39 38      30 29      21 20      12 11         0
//! +----------+----------+----------+----------+------------+
//! | PGD idx  | PUD idx  | PMD idx  | PTE idx  | page offset|
//! +----------+----------+----------+----------+------------+
//! ```
//!
//! The walker never touches hardware: [`PageTableMem`] tells it how to reach
//! a table's memory, how to get and free table pages, and how to invalidate
//! the TLB. The kernel implements it over the linear map; the host tests over
//! a simulated physical memory.
//!
//! Rules kept here, as in Linux:
//! - intermediate tables are allocated on demand (`pud_alloc`, `pmd_alloc`,
//!   `pte_alloc`) and freed when an unmap empties them (`free_pgd_range`);
//! - 1 GiB (PUD) and 2 MiB (PMD) blocks are used where the caller allows and
//!   alignment permits (`alloc_init_pud`'s `use_1G_block`);
//! - a block that is only partly unmapped or re-protected is first split into
//!   a next-level table of the same attributes (`split_pmd`), using
//!   break-before-make: invalidate, flush the TLB, then install the table;
//! - a non-zero entry that is not valid (a swap entry, a PROT_NONE page) is
//!   occupied: `map` refuses it, and a table holding only such entries is not
//!   empty;
//! - unmapping goes through an [`MmuGather`]: entries are cleared, the TLB is
//!   flushed once for the whole range (by ASID for user tables), and only
//!   then are the pages and the page-table pages freed. Freeing a table
//!   needs a flush that also drops walk-cache entries (a non-last-level
//!   TLBI), which the gather requests.
//!
//! # Locking
//!
//! A `PageTable` is used with its owner's page-table lock held: the kernel
//! table under `with_kernel_pgtable`'s lock, a user table under its mm's
//! `page_table_lock` (Linux: mm->page_table_lock; Pagoda has no split PTE
//! locks). Table memory is only ever read and written with atomic accesses,
//! so the single-entry helpers ([`PteSlot`]) are sound even against a
//! concurrent walker; a fault handler that read a PTE before taking the lock
//! re-checks it with `ptep_cmpxchg` (Linux: pte_same after
//! pte_offset_map_lock) and backs off if it changed.

use super::desc::{self, Desc};
use super::tlb::MmuGather;
use super::{Prot, Pte};
use crate::addr::PhysAddr;
use core::sync::atomic::{AtomicU64, Ordering};

pub const PTRS_PER_TABLE: usize = 512;
const LEVEL_SHIFT: [usize; 4] = [39, 30, 21, 12];
const LEVEL_NAMES: [&str; 4] = ["PGD", "PUD", "PMD", "PTE"];

/// Bytes mapped by one entry at `level` (512 GiB, 1 GiB, 2 MiB, 4 KiB).
pub const fn level_size(level: usize) -> usize {
    1 << LEVEL_SHIFT[level]
}

/// Linux's name for a level.
pub const fn level_name(level: usize) -> &'static str {
    LEVEL_NAMES[level]
}

/// Index of `va` in a table at `level`.
pub const fn table_index(va: usize, level: usize) -> usize {
    (va >> LEVEL_SHIFT[level]) & (PTRS_PER_TABLE - 1)
}
pub const fn pgd_index(va: usize) -> usize {
    table_index(va, 0)
}
pub const fn pud_index(va: usize) -> usize {
    table_index(va, 1)
}
pub const fn pmd_index(va: usize) -> usize {
    table_index(va, 2)
}
pub const fn pte_index(va: usize) -> usize {
    table_index(va, 3)
}

/// The entries of a table at `level` that `[va, end)` touches, as
/// (index, first address, end of the part inside this entry).
fn entries(mut va: usize, end: usize, level: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    let size = level_size(level);
    core::iter::from_fn(move || {
        (va < end).then(|| {
            let next = ((va | (size - 1)) + 1).min(end);
            let item = (table_index(va, level), va, next);
            va = next;
            item
        })
    })
}

/// What the walker needs from its environment.
///
/// # Safety
/// The walker dereferences what `table` returns without further checks:
/// for every table page reachable from a root this memory serves (and every
/// page `alloc_table` returned), `table` must return a pointer to 512
/// 8-byte-aligned `u64`s that stay valid and are not accessed non-atomically
/// by anyone else while the walker runs. `alloc_table` must return zeroed
/// pages that nothing else uses.
pub unsafe trait PageTableMem {
    /// A pointer to the 512 descriptors of the table at physical `pa`.
    fn table(&mut self, pa: PhysAddr) -> *mut u64;
    /// A new, zeroed table page.
    fn alloc_table(&mut self) -> Option<PhysAddr>;
    /// Returns a table page that no longer holds any entry.
    fn free_table(&mut self, pa: PhysAddr);
    /// Entries covering `[start, end)` were changed or removed: invalidate
    /// the TLB for that range (with the barriers; see the kernel's tlb.rs).
    /// `last_level` is false when table entries were removed too, so the
    /// walk caches must be invalidated as well (TLBI VAE1IS, not VALE1IS).
    fn flush_tlb_range(&mut self, start: usize, end: usize, last_level: bool);
}

bitflags::bitflags! {
    /// How `map` may build the mapping.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MapFlags: u32 {
        /// 1 GiB blocks at the PUD level where aligned.
        const BLOCK_1G = 1 << 0;
        /// 2 MiB blocks at the PMD level where aligned.
        const BLOCK_2M = 1 << 1;
        /// Both, as for the linear map.
        const BLOCKS = Self::BLOCK_1G.bits() | Self::BLOCK_2M.bits();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgtableError {
    /// No page for an intermediate table.
    NoMemory,
    /// Part of the range is already mapped, or holds a swap or PROT_NONE
    /// entry (the address given).
    AlreadyMapped(usize),
    /// Address or size not page aligned.
    Misaligned,
}

/// One level of a walk, for the `pt` teaching view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalkStep {
    pub level: usize,
    pub index: usize,
    /// Physical address of the table that was indexed.
    pub table: usize,
    /// The descriptor found.
    pub raw: u64,
}

/// The result of walking one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Walk {
    pub steps: [WalkStep; 4],
    pub depth: usize,
    /// (physical address of the byte, protection, level of the leaf).
    pub leaf: Option<(PhysAddr, Prot, usize)>,
}

/// A page table rooted at a PGD, with the memory it lives in.
pub struct PageTable<'m, M: PageTableMem> {
    root: PhysAddr,
    mem: &'m mut M,
}

impl<'m, M: PageTableMem> PageTable<'m, M> {
    pub fn new(root: PhysAddr, mem: &'m mut M) -> Self {
        Self { root, mem }
    }

    pub fn root(&self) -> PhysAddr {
        self.root
    }

    fn entry(&mut self, table: PhysAddr, idx: usize) -> &AtomicU64 {
        assert!(idx < PTRS_PER_TABLE);
        // SAFETY: `table` is a table page reached from the root, so per the
        // PageTableMem contract the pointer is valid, aligned and only ever
        // accessed atomically; idx < 512 keeps it inside the page.
        unsafe { AtomicU64::from_ptr(self.mem.table(table).add(idx)) }
    }

    fn read(&mut self, table: PhysAddr, idx: usize) -> u64 {
        self.entry(table, idx).load(Ordering::Relaxed)
    }

    fn write(&mut self, table: PhysAddr, idx: usize, val: u64) {
        self.entry(table, idx).store(val, Ordering::Relaxed)
    }

    /// The level-3 entry for `va`, if a PTE table covers it (Linux:
    /// pte_offset_map). None if a table is missing or a block maps `va`.
    /// Calls `f(va, slot)` for every page of `[start, end)` that a PTE
    /// table covers, walking down once per table rather than once per page
    /// (Linux: the pmd-by-pmd loops of change_pte_range, copy_pte_range).
    /// Ranges without a PTE table are skipped.
    pub fn for_each_pte_slot(
        &mut self,
        start: usize,
        end: usize,
        mut f: impl FnMut(&mut Self, usize, PteSlot),
    ) {
        let span = level_size(2);
        let mut va = start;
        while va < end {
            let table_end = ((va / span) + 1).saturating_mul(span).min(end);
            if let Some(slot) = self.pte_offset(va) {
                let mut at = va;
                let mut index = slot.index;
                while at < table_end {
                    f(self, at, PteSlot { table: slot.table, index });
                    at += level_size(3);
                    index += 1;
                }
            }
            va = table_end;
        }
    }

    pub fn pte_offset(&mut self, va: usize) -> Option<PteSlot> {
        let mut table = self.root;
        for level in 0..3 {
            table = PhysAddr(desc::table_addr(self.read(table, table_index(va, level)))?);
        }
        Some(PteSlot { table, index: pte_index(va) })
    }

    /// The level-3 entry for `va`, allocating the PUD, PMD and PTE tables on
    /// the way (Linux: pud_alloc, pmd_alloc, pte_alloc + pte_offset_map).
    /// Fails with AlreadyMapped if a block maps `va`.
    pub fn pte_alloc(&mut self, va: usize) -> Result<PteSlot, PgtableError> {
        let mut table = self.root;
        for level in 0..3 {
            let idx = table_index(va, level);
            let raw = self.read(table, idx);
            if let Some(next) = desc::table_addr(raw) {
                table = PhysAddr(next);
                continue;
            }
            table = match desc::decode(raw, level) {
                Desc::Table(next) => PhysAddr(next),
                Desc::Leaf { .. } => return Err(PgtableError::AlreadyMapped(va)),
                Desc::Invalid => {
                    let child = self.mem.alloc_table().ok_or(PgtableError::NoMemory)?;
                    self.write(table, idx, desc::mk_table(child.0));
                    child
                }
            };
        }
        Ok(PteSlot { table, index: pte_index(va) })
    }

    /// Installs `table`, a zeroed table page, at the first level missing
    /// on the way to `va`'s PTE (Linux: pud_populate, pmd_populate and
    /// pmd_install, after the table was allocated with no lock held).
    /// False, `table` unused, if nothing is missing or a block maps `va`.
    pub fn install_table(&mut self, va: usize, table: PhysAddr) -> bool {
        let mut at = self.root;
        for level in 0..3 {
            let idx = table_index(va, level);
            match desc::decode(self.read(at, idx), level) {
                Desc::Table(next) => at = PhysAddr(next),
                Desc::Leaf { .. } => return false,
                Desc::Invalid => {
                    self.write(at, idx, desc::mk_table(table.0));
                    return true;
                }
            }
        }
        false
    }

    /// Reads a PTE (Linux: ptep_get).
    pub fn ptep_get(&mut self, slot: PteSlot) -> Pte {
        Pte(self.read(slot.table, slot.index))
    }

    /// Writes a PTE (Linux: set_pte_at). Replacing a valid entry needs a
    /// TLB flush by the caller; an empty or invalid one needs none.
    pub fn set_pte(&mut self, slot: PteSlot, pte: Pte) {
        self.write(slot.table, slot.index, pte.0)
    }

    /// Replaces `old` with `new` only if the entry still holds `old`;
    /// otherwise returns what it holds (Linux: ptep_set_access_flags'
    /// cmpxchg loop, and the pte_same() re-check of the fault path).
    pub fn ptep_cmpxchg(&mut self, slot: PteSlot, old: Pte, new: Pte) -> Result<(), Pte> {
        self.entry(slot.table, slot.index)
            .compare_exchange(old.0, new.0, Ordering::AcqRel, Ordering::Relaxed)
            .map(|_| ())
            .map_err(Pte)
    }

    /// Walks `va` down to its leaf (Linux: pgd_offset, pud_offset, pmd_offset, pte_offset).
    pub fn walk(&mut self, va: usize) -> Walk {
        let mut w = Walk::default();
        let mut table = self.root;
        for level in 0..4 {
            let index = table_index(va, level);
            let raw = self.read(table, index);
            w.steps[level] = WalkStep { level, index, table: table.0, raw };
            w.depth = level + 1;
            match desc::decode(raw, level) {
                Desc::Invalid => break,
                Desc::Table(next) => table = PhysAddr(next),
                Desc::Leaf { pa, prot } => {
                    w.leaf = Some((PhysAddr(pa + (va & (level_size(level) - 1))), prot, level));
                    break;
                }
            }
        }
        w
    }

    /// The physical address `va` maps to, if any.
    pub fn translate(&mut self, va: usize) -> Option<PhysAddr> {
        self.walk(va).leaf.map(|l| l.0)
    }

    /// Maps `[va, va+size)` to `[pa, pa+size)` (Linux: __create_pgd_mapping).
    /// Nothing already mapped is overwritten.
    pub fn map(
        &mut self,
        va: usize,
        pa: PhysAddr,
        size: usize,
        prot: Prot,
        flags: MapFlags,
    ) -> Result<(), PgtableError> {
        if (va | pa.0 | size) & (level_size(3) - 1) != 0 {
            return Err(PgtableError::Misaligned);
        }
        self.map_level(self.root, 0, va, va + size, pa.0, prot, flags)
    }

    #[allow(clippy::too_many_arguments)]
    fn map_level(
        &mut self,
        table: PhysAddr,
        level: usize,
        va: usize,
        end: usize,
        mut pa: usize,
        prot: Prot,
        flags: MapFlags,
    ) -> Result<(), PgtableError> {
        let size = level_size(level);
        for (idx, va, next) in entries(va, end, level) {
            let raw = self.read(table, idx);
            let block_ok = match level {
                1 => flags.contains(MapFlags::BLOCK_1G),
                2 => flags.contains(MapFlags::BLOCK_2M),
                _ => false,
            };
            match desc::decode(raw, level) {
                Desc::Leaf { .. } => return Err(PgtableError::AlreadyMapped(va)),
                // Not valid but not empty: a swap entry or a PROT_NONE page.
                Desc::Invalid if raw != 0 => return Err(PgtableError::AlreadyMapped(va)),
                Desc::Invalid if level == 3 => self.write(table, idx, desc::mk_leaf(pa, prot, 3)),
                Desc::Invalid if block_ok && next - va == size && (va | pa) & (size - 1) == 0 => {
                    self.write(table, idx, desc::mk_leaf(pa, prot, level))
                }
                Desc::Invalid => {
                    let child = self.mem.alloc_table().ok_or(PgtableError::NoMemory)?;
                    self.write(table, idx, desc::mk_table(child.0));
                    self.map_level(child, level + 1, va, next, pa, prot, flags)?;
                }
                Desc::Table(child) => {
                    self.map_level(PhysAddr(child), level + 1, va, next, pa, prot, flags)?
                }
            }
            pa += next - va;
        }
        Ok(())
    }

    /// Replaces the block at `table[idx]` (covering `va`) with a next-level
    /// table of the same attributes, break-before-make (Linux: split_pmd).
    fn split_block(
        &mut self,
        table: PhysAddr,
        idx: usize,
        level: usize,
        va: usize,
    ) -> Result<PhysAddr, PgtableError> {
        let Desc::Leaf { pa, prot } = desc::decode(self.read(table, idx), level) else {
            unreachable!("split_block on a non-block entry");
        };
        let child = self.mem.alloc_table().ok_or(PgtableError::NoMemory)?;
        let child_size = level_size(level + 1);
        for i in 0..PTRS_PER_TABLE {
            self.write(child, i, desc::mk_leaf(pa + i * child_size, prot, level + 1));
        }
        let base = va & !(level_size(level) - 1);
        self.write(table, idx, 0);
        self.mem.flush_tlb_range(base, base + level_size(level), true);
        self.write(table, idx, desc::mk_table(child.0));
        Ok(child)
    }

    /// Unmaps `[va, va+size)` at once: zaps it through a gather and
    /// finishes the gather, flushing before any table page is freed (Linux:
    /// unmap_kernel_range). Returns the number of bytes that were mapped.
    pub fn unmap(&mut self, va: usize, size: usize) -> Result<usize, PgtableError> {
        let mut tlb = MmuGather::new();
        let unmapped = self.zap_range(va, size, &mut tlb, |_, _, _, _| {})?;
        tlb.tlb_finish_mmu(self.mem, |_| {});
        Ok(unmapped)
    }

    /// Clears every entry in `[va, va+size)`, splitting blocks at the edges
    /// and handing tables left empty to `tlb` (Linux: unmap_page_range +
    /// free_pgd_range, with zap_pte_range's per-entry work in `on_entry`).
    ///
    /// No TLB flush happens here: the range is recorded in `tlb`, which
    /// flushes once in `tlb_finish_mmu` and only then frees pages and tables.
    /// `on_entry(va, old, size, tlb)` sees every non-empty entry removed
    /// (present pages, swap entries, PROT_NONE pages), so the caller can
    /// queue the page with `tlb.tlb_remove_page` or drop a swap slot.
    /// Returns the bytes whose entries were removed.
    pub fn zap_range(
        &mut self,
        va: usize,
        size: usize,
        tlb: &mut MmuGather,
        on_entry: impl FnMut(usize, Pte, usize, &mut MmuGather),
    ) -> Result<usize, PgtableError> {
        self.zap(va, size, true, tlb, on_entry)
    }

    /// Clears every entry in `[va, va+size)` like `zap_range`, but leaves
    /// the page tables in place, even empty ones (Linux: unmap_page_range;
    /// munmap then frees tables with `free_pgd_range`, MADV_DONTNEED keeps
    /// them). No table is scanned for emptiness, so the cost is the
    /// entries in the range.
    pub fn unmap_page_range(
        &mut self,
        va: usize,
        size: usize,
        tlb: &mut MmuGather,
        on_entry: impl FnMut(usize, Pte, usize, &mut MmuGather),
    ) -> Result<usize, PgtableError> {
        self.zap(va, size, false, tlb, on_entry)
    }

    /// `zap_range` (`free_empty`) or `unmap_page_range`.
    fn zap(
        &mut self,
        va: usize,
        size: usize,
        free_empty: bool,
        tlb: &mut MmuGather,
        mut on_entry: impl FnMut(usize, Pte, usize, &mut MmuGather),
    ) -> Result<usize, PgtableError> {
        if (va | size) & (level_size(3) - 1) != 0 {
            return Err(PgtableError::Misaligned);
        }
        let mut unmapped = 0;
        self.zap_level(self.root, 0, va, va + size, free_empty, tlb, &mut on_entry, &mut unmapped)?;
        Ok(unmapped)
    }

    /// Frees the page tables under `[addr, end)` whose whole span lies in
    /// `[floor, ceiling)`, queueing them in `tlb` (Linux: free_pgd_range ->
    /// free_pud_range -> free_pmd_range -> free_pte_range). `floor` and
    /// `ceiling` bound the hole around the range where no mapping lives
    /// (the neighbouring VMAs' end and start): a table reaching beyond
    /// them may still be in use and stays. The range is first trimmed to
    /// whole PTE-table spans (2 MiB) inside the hole, whose PTE tables go
    /// without being read; a PMD or PUD table goes once its span is inside
    /// too. Called after the range's pages were unmapped: the tables freed
    /// hold no entries. The PGD itself is never freed here.
    pub fn free_pgd_range(
        &mut self,
        addr: usize,
        end: usize,
        floor: usize,
        ceiling: usize,
        tlb: &mut MmuGather,
    ) {
        let unit = level_size(2); // what one PTE table maps
        let mut addr = addr & !(unit - 1);
        if addr < floor {
            addr += unit;
        }
        let ceiling_unit = ceiling & !(unit - 1);
        let end = if end > ceiling_unit { end.saturating_sub(unit) } else { end };
        if addr >= end {
            return;
        }
        self.free_level(self.root, 0, addr, end, floor, ceiling, tlb);
    }

    /// Frees the tables below `table` (at `level`) for `[addr, end)`; see
    /// `free_pgd_range`.
    #[allow(clippy::too_many_arguments)]
    fn free_level(
        &mut self,
        table: PhysAddr,
        level: usize,
        addr: usize,
        end: usize,
        floor: usize,
        ceiling: usize,
        tlb: &mut MmuGather,
    ) {
        let span = level_size(level); // what one entry here maps
        for (idx, va, next) in entries(addr, end, level) {
            let Some(child) = desc::table_addr(self.read(table, idx)) else { continue };
            let child = PhysAddr(child);
            if level + 1 < 3 {
                self.free_level(child, level + 1, va, next, floor, ceiling, tlb);
                // The child table goes if all it maps is inside the hole.
                let start = va & !(span - 1);
                if start < floor || next > ceiling & !(span - 1) {
                    continue;
                }
            } else {
                // A PTE table: the trimmed range covers all it maps.
                debug_assert!(self.table_is_empty(child), "a PTE table in the hole maps something");
            }
            self.write(table, idx, 0);
            let base = va & !(span - 1);
            if !tlb.pte_free_tlb(child, base, base + span) {
                self.mem.flush_tlb_range(base, base + span, false);
                self.mem.free_table(child);
            }
        }
    }

    /// Returns whether the table is empty afterwards.
    #[allow(clippy::too_many_arguments)]
    fn zap_level(
        &mut self,
        table: PhysAddr,
        level: usize,
        va: usize,
        end: usize,
        free_empty: bool,
        tlb: &mut MmuGather,
        on_entry: &mut impl FnMut(usize, Pte, usize, &mut MmuGather),
        unmapped: &mut usize,
    ) -> Result<bool, PgtableError> {
        let size = level_size(level);
        for (idx, va, next) in entries(va, end, level) {
            let raw = self.read(table, idx);
            // Most entries are empty: skip them before any decoding.
            if raw == 0 {
                continue;
            }
            if level == 3 {
                // Any non-empty PTE goes (pages, swap entries, PROT_NONE):
                // no decoding needed.
                self.write(table, idx, 0);
                tlb.tlb_flush_range(va, va + size);
                on_entry(va, Pte(raw), size, tlb);
                *unmapped += size;
                continue;
            }
            match desc::decode(raw, level) {
                Desc::Invalid if raw == 0 => {}
                Desc::Leaf { .. } | Desc::Invalid if next - va == size || level == 3 => {
                    self.write(table, idx, 0);
                    let base = va & !(size - 1);
                    tlb.tlb_flush_range(base, base + size);
                    on_entry(base, Pte(raw), size, tlb);
                    *unmapped += size;
                }
                Desc::Leaf { .. } => {
                    let child = self.split_block(table, idx, level, va)?;
                    self.zap_child(table, idx, child, level, va, next, free_empty, tlb, on_entry, unmapped)?;
                }
                Desc::Invalid => {} // an invalid non-zero entry above level 3: nothing below it
                Desc::Table(child) => {
                    let child = PhysAddr(child);
                    self.zap_child(table, idx, child, level, va, next, free_empty, tlb, on_entry, unmapped)?;
                }
            }
        }
        Ok(free_empty && self.table_is_empty(table))
    }

    #[allow(clippy::too_many_arguments)]
    fn zap_child(
        &mut self,
        table: PhysAddr,
        idx: usize,
        child: PhysAddr,
        level: usize,
        va: usize,
        end: usize,
        free_empty: bool,
        tlb: &mut MmuGather,
        on_entry: &mut impl FnMut(usize, Pte, usize, &mut MmuGather),
        unmapped: &mut usize,
    ) -> Result<(), PgtableError> {
        if self.zap_level(child, level + 1, va, end, free_empty, tlb, on_entry, unmapped)? {
            // The walk caches may hold the table entry: clear it now, and let
            // the gather free the table after a non-last-level flush
            // (Linux: pte_free_tlb and friends).
            self.write(table, idx, 0);
            let (base, end) =
                (va & !(level_size(level) - 1), (va & !(level_size(level) - 1)) + level_size(level));
            if !tlb.pte_free_tlb(child, base, end) {
                self.mem.flush_tlb_range(base, end, false);
                self.mem.free_table(child);
            }
        }
        Ok(())
    }

    /// No entry at all: swap entries and PROT_NONE pages count as occupied.
    fn table_is_empty(&mut self, table: PhysAddr) -> bool {
        (0..PTRS_PER_TABLE).all(|i| self.read(table, i) == 0)
    }

    /// Changes the protection of every mapped page in `[va, va+size)`,
    /// splitting blocks that straddle the edges (Linux: change_memory_common,
    /// set_memory_ro/rw/x/nx). Returns the bytes changed.
    pub fn protect(&mut self, va: usize, size: usize, prot: Prot) -> Result<usize, PgtableError> {
        if (va | size) & (level_size(3) - 1) != 0 {
            return Err(PgtableError::Misaligned);
        }
        let mut changed = 0;
        self.protect_level(self.root, 0, va, va + size, prot, &mut changed)?;
        Ok(changed)
    }

    fn protect_level(
        &mut self,
        table: PhysAddr,
        level: usize,
        va: usize,
        end: usize,
        prot: Prot,
        changed: &mut usize,
    ) -> Result<(), PgtableError> {
        let size = level_size(level);
        for (idx, va, next) in entries(va, end, level) {
            match desc::decode(self.read(table, idx), level) {
                Desc::Invalid => {}
                Desc::Leaf { pa, prot: old } if next - va == size || level == 3 => {
                    // Only permissions change, not the output address or the
                    // size, so no break-before-make is needed; just flush.
                    // The accessed, dirty and special bits are the page's
                    // history, not its protection: they are kept.
                    const KEEP: Prot = Prot::OLD.union(Prot::DIRTY).union(Prot::SPECIAL);
                    let new = (prot - KEEP) | (old & KEEP);
                    self.write(table, idx, desc::mk_leaf(pa, new, level));
                    let base = va & !(size - 1);
                    self.mem.flush_tlb_range(base, base + size, true);
                    *changed += size;
                }
                Desc::Leaf { .. } => {
                    let child = self.split_block(table, idx, level, va)?;
                    self.protect_level(child, level + 1, va, next, prot, changed)?;
                }
                Desc::Table(child) => {
                    self.protect_level(PhysAddr(child), level + 1, va, next, prot, changed)?
                }
            }
        }
        Ok(())
    }

    /// Calls `f(va, pa, size, prot, level)` for every leaf, in address order.
    /// `va_base` is OR-ed into the addresses (0xffff << 48 for a TTBR1 table).
    pub fn for_each_leaf(&mut self, va_base: usize, mut f: impl FnMut(usize, PhysAddr, usize, Prot, usize)) {
        self.leaves(self.root, 0, va_base, &mut f);
    }

    fn leaves(
        &mut self,
        table: PhysAddr,
        level: usize,
        base: usize,
        f: &mut impl FnMut(usize, PhysAddr, usize, Prot, usize),
    ) {
        for idx in 0..PTRS_PER_TABLE {
            let va = base | (idx << LEVEL_SHIFT[level]);
            let raw = self.read(table, idx);
            if raw == 0 {
                continue;
            }
            match desc::decode(raw, level) {
                Desc::Invalid => {}
                Desc::Leaf { pa, prot } => f(va, PhysAddr(pa), level_size(level), prot, level),
                Desc::Table(child) => self.leaves(PhysAddr(child), level + 1, va, f),
            }
        }
    }

    /// Number of table pages below (and including) the root.
    pub fn count_tables(&mut self) -> usize {
        self.count_from(self.root, 0)
    }

    fn count_from(&mut self, table: PhysAddr, level: usize) -> usize {
        let mut n = 1;
        for idx in 0..PTRS_PER_TABLE {
            if let Desc::Table(child) = desc::decode(self.read(table, idx), level) {
                n += self.count_from(PhysAddr(child), level + 1);
            }
        }
        n
    }
}

/// One level-3 entry: its table and index (Linux: the pte_t * that
/// pte_offset_map returns). Valid while the table's lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PteSlot {
    pub table: PhysAddr,
    pub index: usize,
}
