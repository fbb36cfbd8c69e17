//! Host tests of the walker over a simulated physical memory.

use super::walk::*;
use super::Prot;
use super::{MmuGather, Pgprot, Pte, SwpEntry};
use crate::addr::PhysAddr;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::vec::Vec;

const K4: usize = 4096;
const M2: usize = 2 << 20;
const G1: usize = 1 << 30;

/// Table pages live in a map from fake physical address to 512 entries.
#[derive(Default)]
struct SimMem {
    pages: BTreeMap<usize, Box<[u64; 512]>>,
    next: usize,
    allocs: usize,
    frees: usize,
    flushes: Vec<(usize, usize)>,
    fail_alloc: bool,
    /// Flushes, table frees and (through `page_freer`) page frees, in order.
    log: Rc<RefCell<Vec<Event>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Flush { start: usize, end: usize, last_level: bool },
    FreeTable(usize),
    FreePage(usize),
}

impl SimMem {
    fn new() -> (Self, PhysAddr) {
        let mut m = SimMem { next: 0x1000_0000, ..Default::default() };
        let root = m.alloc_table().unwrap();
        m.allocs = 0;
        (m, root)
    }
    fn live(&self) -> usize {
        self.pages.len()
    }
}

impl SimMem {
    /// A free_page callback for the gather that logs into the same list.
    fn page_freer(&self) -> impl FnMut(usize) {
        let log = self.log.clone();
        move |pfn| log.borrow_mut().push(Event::FreePage(pfn))
    }
    fn events(&self) -> Vec<Event> {
        self.log.borrow().clone()
    }
}

// SAFETY: every table is a live boxed [u64; 512] until free_table removes it,
// and the walker is the only one touching them.
unsafe impl PageTableMem for SimMem {
    fn table(&mut self, pa: PhysAddr) -> *mut u64 {
        self.pages.get_mut(&pa.0).expect("walker used a page that is not a table").as_mut_ptr()
    }
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        if self.fail_alloc {
            return None;
        }
        let pa = self.next;
        self.next += K4;
        self.pages.insert(pa, Box::new([0; 512]));
        self.allocs += 1;
        Some(PhysAddr(pa))
    }
    fn free_table(&mut self, pa: PhysAddr) {
        let t = self.pages.remove(&pa.0).expect("double free of a table");
        assert!(t.iter().all(|&e| e == 0), "freed a table that still holds an entry");
        self.frees += 1;
        self.log.borrow_mut().push(Event::FreeTable(pa.0));
    }
    fn flush_tlb_range(&mut self, start: usize, end: usize, last_level: bool) {
        self.flushes.push((start, end.wrapping_sub(start)));
        self.log.borrow_mut().push(Event::Flush { start, end, last_level });
    }
}

const KVA: usize = 0xffff_8000_0000_0000;

#[test]
fn indices_follow_the_va_layout() {
    let va = 0xffff_8000_4020_3000usize;
    assert_eq!(pgd_index(va), 256);
    assert_eq!(pud_index(va), 1);
    assert_eq!(pmd_index(va), 1);
    assert_eq!(pte_index(va), 3);
}

#[test]
fn linear_map_uses_1g_then_2m_then_4k_blocks() {
    let (mut mem, root) = SimMem::new();
    let mut pt = PageTable::new(root, &mut mem);
    // 1 GiB + 2 MiB + 8 KiB of RAM starting at a 1 GiB boundary.
    let size = G1 + M2 + 2 * K4;
    pt.map(KVA, PhysAddr(0x4000_0000), size, Prot::PAGE_KERNEL, MapFlags::BLOCKS).unwrap();
    let levels: Vec<usize> =
        [KVA, KVA + G1, KVA + G1 + M2].iter().map(|&va| pt.walk(va).leaf.unwrap().2).collect();
    assert_eq!(levels, [1, 2, 3]);
    assert_eq!(pt.translate(KVA + 0x1234), Some(PhysAddr(0x4000_1234)));
    assert_eq!(pt.translate(KVA + G1 + M2 + K4 + 5), Some(PhysAddr(0x4000_0000 + G1 + M2 + K4 + 5)));
    assert_eq!(pt.translate(KVA + size), None);
    // PGD + PUD + PMD + PTE tables.
    assert_eq!(pt.count_tables(), 4);
}

#[test]
fn without_block_flags_everything_is_4k_pages() {
    let (mut mem, root) = SimMem::new();
    let mut pt = PageTable::new(root, &mut mem);
    pt.map(KVA, PhysAddr(0), M2, Prot::PAGE_KERNEL, MapFlags::empty()).unwrap();
    assert_eq!(pt.walk(KVA + M2 - K4).leaf.unwrap().2, 3);
}

#[test]
fn mapping_twice_is_refused_and_misalignment_is_an_error() {
    let (mut mem, root) = SimMem::new();
    let mut pt = PageTable::new(root, &mut mem);
    pt.map(KVA, PhysAddr(0), 4 * K4, Prot::PAGE_KERNEL, MapFlags::empty()).unwrap();
    assert_eq!(
        pt.map(KVA + 3 * K4, PhysAddr(0), 2 * K4, Prot::PAGE_KERNEL, MapFlags::empty()),
        Err(PgtableError::AlreadyMapped(KVA + 3 * K4))
    );
    assert_eq!(
        pt.map(KVA + 1, PhysAddr(0), K4, Prot::PAGE_KERNEL, MapFlags::empty()),
        Err(PgtableError::Misaligned)
    );
    assert_eq!(pt.unmap(KVA, 100), Err(PgtableError::Misaligned));
}

#[test]
fn out_of_memory_is_an_error_not_a_crash() {
    let (mut mem, root) = SimMem::new();
    mem.fail_alloc = true;
    let mut pt = PageTable::new(root, &mut mem);
    assert_eq!(
        pt.map(KVA, PhysAddr(0), K4, Prot::PAGE_KERNEL, MapFlags::empty()),
        Err(PgtableError::NoMemory)
    );
}

#[test]
fn unmap_across_a_block_boundary_splits_and_frees_tables() {
    let (mut mem, root) = SimMem::new();
    {
        let mut pt = PageTable::new(root, &mut mem);
        // Two 2 MiB blocks.
        pt.map(KVA, PhysAddr(0x4000_0000), 2 * M2, Prot::PAGE_KERNEL, MapFlags::BLOCK_2M).unwrap();
        assert_eq!(pt.count_tables(), 3);
        // Unmap 8 KiB on each side of the boundary: both blocks split.
        let n = pt.unmap(KVA + M2 - 2 * K4, 4 * K4).unwrap();
        assert_eq!(n, 4 * K4);
        assert_eq!(pt.translate(KVA + M2 - 2 * K4), None);
        assert_eq!(pt.translate(KVA + M2 + K4), None);
        assert_eq!(pt.translate(KVA + M2 - 3 * K4), Some(PhysAddr(0x4000_0000 + M2 - 3 * K4)));
        assert_eq!(pt.translate(KVA + M2 + 2 * K4), Some(PhysAddr(0x4000_0000 + M2 + 2 * K4)));
        assert_eq!(pt.walk(KVA).leaf.unwrap().2, 3, "the split block is now pages");
        assert_eq!(pt.count_tables(), 5);
        // Unmapping the rest frees every table but the root.
        pt.unmap(KVA, 2 * M2).unwrap();
        assert_eq!(pt.count_tables(), 1);
    }
    assert_eq!(mem.live(), 1);
    assert_eq!(mem.allocs, mem.frees);
    // Break-before-make: each split flushed the whole old block.
    assert!(mem.flushes.contains(&(KVA, M2)) && mem.flushes.contains(&(KVA + M2, M2)));
}

#[test]
fn protect_splits_only_what_it_must_and_keeps_addresses() {
    let (mut mem, root) = SimMem::new();
    let mut pt = PageTable::new(root, &mut mem);
    pt.map(KVA, PhysAddr(0x4000_0000), G1, Prot::PAGE_KERNEL, MapFlags::BLOCKS).unwrap();
    assert_eq!(pt.walk(KVA).leaf.unwrap().2, 1);
    // Make one 2 MiB-aligned region plus one page read-only.
    let changed = pt.protect(KVA + M2, M2 + K4, Prot::PAGE_KERNEL_RO).unwrap();
    assert_eq!(changed, M2 + K4);
    let (pa, prot, level) = pt.walk(KVA + M2 + 0x10).leaf.unwrap();
    assert_eq!((pa, prot, level), (PhysAddr(0x4000_0000 + M2 + 0x10), Prot::PAGE_KERNEL_RO, 2));
    let (_, prot, level) = pt.walk(KVA + 2 * M2).leaf.unwrap();
    assert_eq!((prot, level), (Prot::PAGE_KERNEL_RO, 3));
    let (_, prot, level) = pt.walk(KVA + 2 * M2 + K4).leaf.unwrap();
    assert_eq!((prot, level), (Prot::PAGE_KERNEL, 3));
    let (_, prot, level) = pt.walk(KVA).leaf.unwrap();
    assert_eq!((prot, level), (Prot::PAGE_KERNEL, 2));
    // Every byte still translates to the same physical address.
    for off in (0..G1).step_by(M2 / 2 + K4) {
        assert_eq!(pt.translate(KVA + off), Some(PhysAddr(0x4000_0000 + off)));
    }
}

#[test]
fn leaves_are_reported_in_address_order_with_sizes() {
    let (mut mem, root) = SimMem::new();
    let mut pt = PageTable::new(root, &mut mem);
    pt.map(KVA + G1, PhysAddr(G1), M2 + K4, Prot::PAGE_KERNEL_ROX, MapFlags::BLOCKS).unwrap();
    pt.map(KVA, PhysAddr(0), K4, Prot::PAGE_DEVICE, MapFlags::empty()).unwrap();
    let mut seen = Vec::new();
    pt.for_each_leaf(0xffff << 48, |va, pa, size, prot, _| seen.push((va, pa.0, size, prot)));
    assert_eq!(
        seen,
        [
            (KVA, 0, K4, Prot::PAGE_DEVICE),
            (KVA + G1, G1, M2, Prot::PAGE_KERNEL_ROX),
            (KVA + G1 + M2, G1 + M2, K4, Prot::PAGE_KERNEL_ROX)
        ]
    );
}

#[test]
fn descriptors_round_trip_every_protection() {
    use super::desc::{decode, mk_leaf, Desc};
    for prot in [
        Prot::PAGE_KERNEL,
        Prot::PAGE_KERNEL_RO,
        Prot::PAGE_KERNEL_ROX,
        Prot::PAGE_KERNEL_EXEC,
        Prot::PAGE_DEVICE,
        Prot::READ | Prot::USER,
        Prot::READ | Prot::WRITE | Prot::USER | Prot::DIRTY,
        Prot::READ | Prot::EXEC | Prot::USER | Prot::OLD,
        Prot::READ | Prot::NOCACHE | Prot::SPECIAL,
    ] {
        for level in 1..4 {
            let raw = mk_leaf(0x4020_0000 & !(level_size(level) - 1), prot, level);
            assert_eq!(
                decode(raw, level),
                Desc::Leaf { pa: 0x4020_0000 & !(level_size(level) - 1), prot },
                "{prot:?} at level {level}"
            );
        }
    }
    // Kernel text: PXN clear, UXN set; user exec: UXN clear, PXN set.
    let text = mk_leaf(0, Prot::PAGE_KERNEL_ROX, 3);
    assert_eq!((text >> 53) & 3, 0b10);
    let user_x = mk_leaf(0, Prot::READ | Prot::EXEC | Prot::USER, 3);
    assert_eq!((user_x >> 53) & 3, 0b01);
    assert_ne!(user_x & (1 << 11), 0, "user pages are non-global");
}

const UVA: usize = 0x0000_0040_0000_0000;

#[test]
fn the_gather_frees_pages_and_tables_only_after_one_flush() {
    let (mut mem, root) = SimMem::new();
    let mut pt = PageTable::new(root, &mut mem);
    let user = Prot::READ | Prot::WRITE | Prot::USER;
    pt.map(UVA, PhysAddr(0x8000_0000), 8 * K4, user, MapFlags::empty()).unwrap();
    let mut tlb = MmuGather::new();
    let mut seen = Vec::new();
    let n = pt
        .zap_range(UVA, 8 * K4, &mut tlb, |va, old, size, tlb| {
            assert!(old.pte_present() && size == K4);
            seen.push(va);
            assert!(tlb.tlb_remove_page(old.pte_pfn()));
        })
        .unwrap();
    assert_eq!(n, 8 * K4);
    assert_eq!(seen.len(), 8);
    assert_eq!(tlb.queued_pages(), 8);
    // Nothing was flushed or freed while zapping.
    assert!(mem.events().is_empty(), "{:?}", mem.events());
    let free = mem.page_freer();
    tlb.tlb_finish_mmu(&mut mem, free);
    let ev = mem.events();
    // One flush first, including walk caches because tables went too ...
    assert!(
        matches!(ev[0], Event::Flush { start, end, last_level: false } if start <= UVA && end >= UVA + 8 * K4),
        "{ev:?}"
    );
    assert_eq!(ev.iter().filter(|e| matches!(e, Event::Flush { .. })).count(), 1);
    // ... then the 8 pages, then the PTE, PMD and PUD tables.
    assert_eq!(ev.iter().filter(|e| matches!(e, Event::FreePage(_))).count(), 8);
    assert_eq!(ev.iter().filter(|e| matches!(e, Event::FreeTable(_))).count(), 3);
    assert_eq!(mem.live(), 1);
}

#[test]
fn a_gather_that_frees_no_table_flushes_only_leaf_entries() {
    let (mut mem, root) = SimMem::new();
    let mut pt = PageTable::new(root, &mut mem);
    pt.map(UVA, PhysAddr(0x8000_0000), 4 * K4, Prot::READ | Prot::USER, MapFlags::empty()).unwrap();
    let mut tlb = MmuGather::new();
    pt.zap_range(UVA + K4, K4, &mut tlb, |_, old, _, tlb| assert!(tlb.tlb_remove_page(old.pte_pfn())))
        .unwrap();
    let free = mem.page_freer();
    tlb.tlb_finish_mmu(&mut mem, free);
    assert_eq!(
        mem.events(),
        [Event::Flush { start: UVA + K4, end: UVA + 2 * K4, last_level: true }, Event::FreePage(0x8_0001)]
    );
}

#[test]
fn swap_and_prot_none_entries_are_occupied_not_empty() {
    let (mut mem, root) = SimMem::new();
    let mut pt = PageTable::new(root, &mut mem);
    let swp = Pte::from_swp_entry(SwpEntry::new(3, 0x1234));
    let slot = pt.pte_alloc(UVA).unwrap();
    pt.set_pte(slot, swp);
    let none = Pte::pfn_pte(0x9_0000, Pgprot::PAGE_NONE);
    let slot2 = pt.pte_alloc(UVA + K4).unwrap();
    pt.set_pte(slot2, none);
    // map must not overwrite either.
    for va in [UVA, UVA + K4] {
        assert_eq!(
            pt.map(va, PhysAddr(0), K4, Prot::READ | Prot::USER, MapFlags::empty()),
            Err(PgtableError::AlreadyMapped(va))
        );
    }
    // Unmapping a neighbour leaves the table (it is not empty).
    pt.map(UVA + 2 * K4, PhysAddr(0), K4, Prot::READ | Prot::USER, MapFlags::empty()).unwrap();
    pt.unmap(UVA + 2 * K4, K4).unwrap();
    let (s0, s1) = (pt.pte_offset(UVA).unwrap(), pt.pte_offset(UVA + K4).unwrap());
    assert_eq!(pt.ptep_get(s0), swp);
    assert_eq!(pt.ptep_get(s1), none);
    // Zapping hands both to the caller, then the tables go.
    let mut old = Vec::new();
    let mut tlb = MmuGather::new();
    pt.zap_range(UVA, 2 * K4, &mut tlb, |va, pte, _, _| old.push((va, pte))).unwrap();
    assert_eq!(old, [(UVA, swp), (UVA + K4, none)]);
    tlb.tlb_finish_mmu(&mut mem, |_| {});
    assert_eq!(mem.live(), 1);
}

#[test]
fn single_entry_access_and_compare_and_replace() {
    let (mut mem, root) = SimMem::new();
    let mut pt = PageTable::new(root, &mut mem);
    assert_eq!(pt.pte_offset(UVA), None, "no PTE table yet");
    let slot = pt.pte_alloc(UVA).unwrap();
    assert_eq!(pt.pte_offset(UVA), Some(slot));
    assert!(pt.ptep_get(slot).pte_none());
    let pte = Pte::pfn_pte(0x8_0000, Pgprot::PAGE_SHARED).pte_mkold();
    assert_eq!(pt.ptep_cmpxchg(slot, Pte::NONE, pte), Ok(()));
    // A second fault that read "none" must see that someone else won.
    assert_eq!(pt.ptep_cmpxchg(slot, Pte::NONE, pte.pte_mkyoung()), Err(pte));
    assert_eq!(pt.ptep_cmpxchg(slot, pte, pte.pte_mkyoung().pte_mkdirty()), Ok(()));
    let now = pt.ptep_get(slot);
    assert!(now.pte_young() && now.pte_dirty() && !now.pte_rdonly());
    assert_eq!(pt.translate(UVA + 5), Some(PhysAddr(0x8000_0000 + 5)));
}

#[test]
fn protect_keeps_young_dirty_and_special() {
    let (mut mem, root) = SimMem::new();
    let mut pt = PageTable::new(root, &mut mem);
    let rw = Prot::READ | Prot::WRITE | Prot::USER;
    pt.map(UVA, PhysAddr(0), K4, rw | Prot::DIRTY | Prot::SPECIAL, MapFlags::empty()).unwrap();
    pt.map(UVA + K4, PhysAddr(K4), K4, rw | Prot::OLD, MapFlags::empty()).unwrap();
    pt.protect(UVA, 2 * K4, Prot::READ | Prot::USER).unwrap();
    let p0 = pt.walk(UVA).leaf.unwrap().1;
    assert_eq!(p0, Prot::READ | Prot::USER | Prot::DIRTY | Prot::SPECIAL);
    let p1 = pt.walk(UVA + K4).leaf.unwrap().1;
    assert_eq!(p1, Prot::READ | Prot::USER | Prot::OLD, "an old page must stay old");
}

#[test]
fn for_each_pte_slot_visits_the_covered_pages_once_and_skips_missing_tables() {
    let (mut mem, root) = SimMem::new();
    let mut pt = PageTable::new(root, &mut mem);
    // Three pages at the end of one PTE table, two at the start of the next,
    // and one far away with nothing in between.
    let a = KVA + M2 - 3 * K4;
    pt.map(a, PhysAddr(0x1000), 5 * K4, Prot::PAGE_KERNEL, MapFlags::empty()).unwrap();
    let far = KVA + 16 * M2 + 7 * K4;
    pt.map(far, PhysAddr(0x9000), K4, Prot::PAGE_KERNEL, MapFlags::empty()).unwrap();
    let mut seen = Vec::new();
    pt.for_each_pte_slot(KVA, KVA + 32 * M2, |pt, va, slot| {
        if pt.ptep_get(slot).pte_present() {
            seen.push(va);
        }
    });
    let want: Vec<usize> = (0..5).map(|i| a + i * K4).chain([far]).collect();
    assert_eq!(seen, want);
    // Every slot handed out is the one pte_offset gives for its address.
    let mut same = true;
    pt.for_each_pte_slot(a, a + 5 * K4, |pt, va, slot| same &= pt.pte_offset(va) == Some(slot));
    assert!(same);
}

/// munmap's two steps: unmap_page_range clears the entries and keeps every
/// table; free_pgd_range then frees the tables whose span lies in the hole
/// between the neighbouring mappings, and no other.
#[test]
fn free_pgd_range_frees_only_tables_inside_the_hole() {
    const M2: usize = 2 << 20;
    let (mut mem, root) = SimMem::new();
    let mut pt = PageTable::new(root, &mut mem);
    let user = Prot::READ | Prot::WRITE | Prot::USER;
    // Two mappings in one PMD table, two PTE tables apart, and a third in
    // the first one's PTE table.
    pt.map(UVA, PhysAddr(0x8000_0000), 2 * K4, user, MapFlags::empty()).unwrap();
    pt.map(UVA + 0x10_000, PhysAddr(0x8010_0000), K4, user, MapFlags::empty()).unwrap();
    pt.map(UVA + 2 * M2, PhysAddr(0x8020_0000), K4, user, MapFlags::empty()).unwrap();
    let tables = mem.live();
    assert_eq!(tables, 5, "PGD, PUD, PMD and two PTE tables");

    // The first mapping goes: its PTE table also holds the one at +64 KiB.
    let mut pt = PageTable::new(root, &mut mem);
    let mut tlb = MmuGather::new();
    assert_eq!(pt.unmap_page_range(UVA, 2 * K4, &mut tlb, |_, _, _, _| {}), Ok(2 * K4));
    pt.free_pgd_range(UVA, UVA + 2 * K4, 0, UVA + 0x10_000, &mut tlb);
    tlb.tlb_finish_mmu(&mut mem, |_| {});
    assert_eq!(mem.live(), tables, "the shared PTE table stays");

    // The one at +64 KiB goes: its PTE table is alone in the hole up to
    // the third mapping; the PMD table still maps the third.
    let mut pt = PageTable::new(root, &mut mem);
    let mut tlb = MmuGather::new();
    pt.unmap_page_range(UVA + 0x10_000, K4, &mut tlb, |_, _, _, _| {}).unwrap();
    pt.free_pgd_range(UVA + 0x10_000, UVA + 0x11_000, 0, UVA + 2 * M2, &mut tlb);
    let pt_live = PageTable::new(root, &mut mem).translate(UVA + 2 * M2);
    assert_eq!(pt_live, Some(PhysAddr(0x8020_0000)), "the third mapping is untouched");
    tlb.tlb_finish_mmu(&mut mem, |_| {});
    assert_eq!(mem.live(), tables - 1, "one PTE table freed");

    // The last one goes with nothing around it: every table but the PGD.
    let mut pt = PageTable::new(root, &mut mem);
    let mut tlb = MmuGather::new();
    pt.unmap_page_range(UVA + 2 * M2, K4, &mut tlb, |_, _, _, _| {}).unwrap();
    assert!(!tlb.freed_tables, "unmap_page_range frees no table");
    pt.free_pgd_range(UVA + 2 * M2, UVA + 2 * M2 + K4, 0, 1 << 48, &mut tlb);
    assert!(tlb.freed_tables);
    tlb.tlb_finish_mmu(&mut mem, |_| {});
    assert_eq!(mem.live(), 1, "only the PGD is left");
}

/// A floor above the range's first PTE-table span keeps that table: the
/// mapping below the floor may share it.
#[test]
fn free_pgd_range_respects_the_floor() {
    let (mut mem, root) = SimMem::new();
    let mut pt = PageTable::new(root, &mut mem);
    let user = Prot::READ | Prot::USER;
    pt.map(UVA, PhysAddr(0x8000_0000), K4, user, MapFlags::empty()).unwrap();
    pt.map(UVA + 8 * K4, PhysAddr(0x8000_8000), K4, user, MapFlags::empty()).unwrap();
    let tables = mem.live();
    let mut pt = PageTable::new(root, &mut mem);
    let mut tlb = MmuGather::new();
    pt.unmap_page_range(UVA + 8 * K4, K4, &mut tlb, |_, _, _, _| {}).unwrap();
    pt.free_pgd_range(UVA + 8 * K4, UVA + 9 * K4, UVA + K4, 1 << 48, &mut tlb);
    tlb.tlb_finish_mmu(&mut mem, |_| {});
    assert_eq!(mem.live(), tables, "the PTE table also maps UVA, below the floor");
    assert_eq!(PageTable::new(root, &mut mem).translate(UVA), Some(PhysAddr(0x8000_0000)));
}

/// A writable leaf made by `map` carries the software write bit (PTE_WRITE,
/// the DBM bit) as one made by a fault does, so that fork's COW sees it as
/// writable and write-protects it.
#[test]
fn a_writable_leaf_has_the_software_write_bit() {
    use super::desc::mk_leaf;
    let rw = Pte(mk_leaf(0x8000_0000, Prot::READ | Prot::WRITE | Prot::USER, 3));
    assert!(rw.pte_write() && !rw.pte_rdonly(), "writable to the MMU and to the software");
    let ro = rw.pte_wrprotect();
    assert!(!ro.pte_write() && ro.pte_rdonly());
    let r = Pte(mk_leaf(0x8000_0000, Prot::READ | Prot::USER, 3));
    assert!(!r.pte_write() && r.pte_rdonly());
}
