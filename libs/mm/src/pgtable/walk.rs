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
//!   break-before-make: invalidate, flush the TLB, then install the table.

use super::desc::{self, Desc};
use super::Prot;
use crate::addr::PhysAddr;

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
pub trait PageTableMem {
    /// A pointer to the 512 descriptors of the table at physical `pa`.
    fn table(&mut self, pa: PhysAddr) -> *mut u64;
    /// A new, zeroed table page.
    fn alloc_table(&mut self) -> Option<PhysAddr>;
    /// Returns a table page that no longer holds any valid entry.
    fn free_table(&mut self, pa: PhysAddr);
    /// A valid entry covering `[va, va + size)` was changed or removed:
    /// invalidate the TLB for that range (with the barriers; see tlb.rs).
    fn flush_tlb(&mut self, va: usize, size: usize);
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
    /// Part of the range is already mapped (the address given).
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

    fn read(&mut self, table: PhysAddr, idx: usize) -> u64 {
        // SAFETY: `table` is a table page reached from the root; idx < 512.
        unsafe { self.mem.table(table).add(idx).read_volatile() }
    }

    fn write(&mut self, table: PhysAddr, idx: usize, val: u64) {
        // SAFETY: as in `read`.
        unsafe { self.mem.table(table).add(idx).write_volatile(val) }
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
        self.mem.flush_tlb(base, level_size(level));
        self.write(table, idx, desc::mk_table(child.0));
        Ok(child)
    }

    /// Unmaps `[va, va+size)`, splitting blocks at the edges and freeing
    /// tables left empty (Linux: unmap_kernel_range + free_pgd_range).
    /// Returns the number of bytes that were mapped.
    pub fn unmap(&mut self, va: usize, size: usize) -> Result<usize, PgtableError> {
        if (va | size) & (level_size(3) - 1) != 0 {
            return Err(PgtableError::Misaligned);
        }
        let mut unmapped = 0;
        self.unmap_level(self.root, 0, va, va + size, &mut unmapped)?;
        Ok(unmapped)
    }

    /// Returns whether the table is empty afterwards.
    fn unmap_level(
        &mut self,
        table: PhysAddr,
        level: usize,
        va: usize,
        end: usize,
        unmapped: &mut usize,
    ) -> Result<bool, PgtableError> {
        let size = level_size(level);
        for (idx, va, next) in entries(va, end, level) {
            match desc::decode(self.read(table, idx), level) {
                Desc::Invalid => {}
                Desc::Leaf { .. } if next - va == size || level == 3 => {
                    self.write(table, idx, 0);
                    self.mem.flush_tlb(va & !(size - 1), size);
                    *unmapped += size;
                }
                Desc::Leaf { .. } => {
                    let child = self.split_block(table, idx, level, va)?;
                    self.unmap_child(table, idx, child, level, va, next, unmapped)?;
                }
                Desc::Table(child) => {
                    self.unmap_child(table, idx, PhysAddr(child), level, va, next, unmapped)?;
                }
            }
        }
        Ok(self.table_is_empty(table))
    }

    #[allow(clippy::too_many_arguments)]
    fn unmap_child(
        &mut self,
        table: PhysAddr,
        idx: usize,
        child: PhysAddr,
        level: usize,
        va: usize,
        end: usize,
        unmapped: &mut usize,
    ) -> Result<(), PgtableError> {
        if self.unmap_level(child, level + 1, va, end, unmapped)? {
            // The walk caches may hold the table entry: clear, flush, free.
            self.write(table, idx, 0);
            self.mem.flush_tlb(va & !(level_size(level) - 1), level_size(level));
            self.mem.free_table(child);
        }
        Ok(())
    }

    fn table_is_empty(&mut self, table: PhysAddr) -> bool {
        (0..PTRS_PER_TABLE).all(|i| self.read(table, i) & 1 == 0)
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
                Desc::Leaf { pa, .. } if next - va == size || level == 3 => {
                    // Only permissions change, not the output address or the
                    // size, so no break-before-make is needed; just flush.
                    self.write(table, idx, desc::mk_leaf(pa, prot, level));
                    self.mem.flush_tlb(va & !(size - 1), size);
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
            match desc::decode(self.read(table, idx), level) {
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
