//! The kernel page table (Linux: arch/arm64/mm/mmu.c).
//!
//! `paging_init` builds `swapper_pg_dir`, the TTBR1 table the kernel runs on
//! for good, replacing head.S's boot tables:
//!
//! - the linear map of all RAM at PAGE_OFFSET, RW and never executable, with
//!   1 GiB and 2 MiB blocks where alignment allows (map_mem);
//! - the kernel image at its link address, section by section: text RX,
//!   rodata R, data and bss RW (map_kernel). No mapping is both W and X;
//! - the fixmap, whose static tables are linked in again.
//!
//! New table pages come from memblock. Until the switch they are written
//! through the boot identity map (so allocation is kept below the end of
//! what it maps), afterwards through the linear map. Once on swapper,
//! TTBR0 gets an empty table: the identity map is gone and TTBR0 is free for
//! user address spaces.

use super::fixmap;
use super::tlb;
use crate::arch::mm::layout::{self, *};
use crate::mm::memblock;
use aarch64_cpu::registers::*;
use core::sync::atomic::{AtomicBool, Ordering};
use log::info;
use pagoda_mm::addr::PhysAddr;
use pagoda_mm::pgtable::{MapFlags, PageTable, PageTableMem, Prot};
use spin::Mutex;
use tock_registers::interfaces::{Readable, Writeable};

#[repr(C, align(4096))]
struct Table([u64; 512]);

/// The kernel's top-level table (Linux: swapper_pg_dir).
static mut SWAPPER_PG_DIR: Table = Table([0; 512]);
/// An empty table for TTBR0 when no user mm is installed (Linux: reserved_pg_dir).
static mut RESERVED_PG_DIR: Table = Table([0; 512]);

/// Set once TTBR1 is swapper_pg_dir and the linear map is usable.
static LINEAR_MAP_LIVE: AtomicBool = AtomicBool::new(false);

/// Serialises changes to the kernel page table (Linux: init_mm.page_table_lock).
static KERNEL_PGTABLE_LOCK: Mutex<()> = Mutex::new(());

extern "C" {
    fn idmap_cpu_replace_ttbr1(ttbr1: usize, zero: usize);
}

pub fn swapper_pg_dir_pa() -> PhysAddr {
    PhysAddr(layout::pa_symbol(&raw const SWAPPER_PG_DIR))
}

pub fn reserved_pg_dir_pa() -> PhysAddr {
    PhysAddr(layout::pa_symbol(&raw const RESERVED_PG_DIR))
}

/// How the walker reaches kernel table pages and gets new ones.
pub struct KernelPgtableMem;

// SAFETY: every table page reachable from swapper_pg_dir (or from a user
// root built with this memory) is a whole page from memblock or the page
// allocator, reached through the identity map before the switch and the
// linear map after it; callers hold the table's lock (KERNEL_PGTABLE_LOCK
// for swapper_pg_dir), and new tables are zeroed before use.
unsafe impl PageTableMem for KernelPgtableMem {
    fn table(&mut self, pa: PhysAddr) -> *mut u64 {
        if LINEAR_MAP_LIVE.load(Ordering::Acquire) {
            layout::phys_to_virt(pa.0) as *mut u64
        } else {
            pa.0 as *mut u64 // through the boot identity map
        }
    }

    fn alloc_table(&mut self) -> Option<PhysAddr> {
        let pa = PhysAddr(crate::mm::pgalloc::alloc_table_page()?);
        // SAFETY: a fresh page, reachable as computed by `table`.
        unsafe { core::ptr::write_bytes(self.table(pa), 0, 512) };
        Some(pa)
    }

    fn free_table(&mut self, pa: PhysAddr) {
        crate::mm::pgalloc::free_table_page(pa.0);
    }

    fn flush_tlb_range(&mut self, start: usize, end: usize, last_level: bool) {
        tlb::flush_tlb_kernel_range(start, end, last_level);
    }
}

/// Runs `f` on the kernel page table (swapper_pg_dir), under its lock.
pub fn with_kernel_pgtable<R>(f: impl FnOnce(&mut PageTable<'_, KernelPgtableMem>) -> R) -> R {
    let _guard = KERNEL_PGTABLE_LOCK.lock();
    let mut mem = KernelPgtableMem;
    let mut pt = PageTable::new(swapper_pg_dir_pa(), &mut mem);
    f(&mut pt)
}

/// The kernel image sections and their protections, for map_kernel and the tests.
pub fn kernel_sections() -> [(&'static str, usize, usize, Prot); 3] {
    use crate::kernel::sections::*;
    [
        (".text", text(), etext() - text(), Prot::PAGE_KERNEL_ROX),
        (".rodata", start_rodata(), end_rodata() - start_rodata(), Prot::PAGE_KERNEL_RO),
        (".data/.bss", sdata(), end() - sdata(), Prot::PAGE_KERNEL),
    ]
}

/// Builds swapper_pg_dir and switches to it (Linux: paging_init).
pub fn paging_init() {
    // New tables must be reachable through the boot identity map, which
    // covers the 2 GiB from the 1 GiB block holding the image.
    let idmap_end =
        (layout::pa_symbol(crate::kernel::sections::text() as *const u8) & !((1 << 30) - 1)) + (2 << 30);
    memblock::set_current_limit(idmap_end);

    let t0 = crate::arch::time::uptime_ns();
    // Copied out so the memblock lock is not held while tables are allocated.
    let banks: alloc::vec::Vec<(usize, usize)> =
        memblock::MEMBLOCK.lock().memory.iter().map(|r| (r.base, r.size)).collect();
    with_kernel_pgtable(|pt| {
        // map_mem: the linear map.
        for &(base, size) in &banks {
            pt.map(layout::phys_to_virt(base), PhysAddr(base), size, Prot::PAGE_KERNEL, MapFlags::BLOCKS)
                .expect("paging_init: linear map");
        }
        // map_kernel: each section with its own permissions, 4 KiB pages.
        for (_, va, len, prot) in kernel_sections() {
            let pa = PhysAddr(layout::pa_symbol(va as *const u8));
            pt.map(va, pa, len, prot, MapFlags::empty()).expect("paging_init: kernel image");
        }
    });
    fixmap::early_fixmap_init(swapper_pg_dir_pa().0);

    // SAFETY: called through its identity-mapped physical address, with
    // interrupts masked; it switches TTBR1 break-before-make style.
    unsafe {
        let f: unsafe extern "C" fn(usize, usize) =
            core::mem::transmute(layout::pa_symbol(idmap_cpu_replace_ttbr1 as *const u8));
        f(swapper_pg_dir_pa().0, reserved_pg_dir_pa().0);
    }
    LINEAR_MAP_LIVE.store(true, Ordering::Release);
    memblock::set_current_limit(usize::MAX);

    // Drop the identity map: TTBR0 now points at an empty table, ASID 0.
    TTBR0_EL1.set(reserved_pg_dir_pa().0 as u64);
    tlb::flush_tlb_all();

    let tables = with_kernel_pgtable(|pt| pt.count_tables());
    info!(
        "paging_init: swapper_pg_dir at {:#x}, {} table pages, linear map + image mapped in {} us",
        swapper_pg_dir_pa().0,
        tables,
        (crate::arch::time::uptime_ns() - t0) / 1000
    );
    info!("paging_init: identity map dropped; TTBR0_EL1 = reserved_pg_dir (empty, ASID 0)");
}

/// Hardware translation of `va` for a read at EL1 (AT S1E1R): the physical
/// address, or None if the MMU would fault. Used by `pt` and the tests.
pub fn at_s1e1r(va: usize) -> Option<usize> {
    // SAFETY: AT only updates PAR_EL1; the ISB makes the result visible.
    unsafe { core::arch::asm!("at s1e1r, {0}", "isb", in(reg) va, options(nostack)) };
    let par = PAR_EL1.get();
    (par & 1 == 0).then_some(((par & 0x0000_ffff_ffff_f000) as usize) | (va & 0xfff))
}

/// The raw PAR_EL1 after an AT S1E1R of `va`.
pub fn at_s1e1r_raw(va: usize) -> u64 {
    // SAFETY: as above.
    unsafe { core::arch::asm!("at s1e1r, {0}", "isb", in(reg) va, options(nostack)) };
    PAR_EL1.get()
}

/// The table root that translates `va`: TTBR1 for kernel addresses, else TTBR0.
pub fn root_for(va: usize) -> (&'static str, PhysAddr) {
    if va >> 48 == 0xffff {
        ("TTBR1_EL1", PhysAddr(TTBR1_EL1.get_baddr() as usize))
    } else {
        ("TTBR0_EL1", PhysAddr(TTBR0_EL1.get_baddr() as usize))
    }
}

/// Linear-map size, for the layout table: the RAM memblock knows.
pub fn linear_map_end() -> usize {
    let mb = memblock::MEMBLOCK.lock();
    mb.end_of_dram().map_or(PAGE_OFFSET, layout::phys_to_virt)
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::{expect_fault, ktest};
    use pagoda_klib::esr::{ec, Esr, FaultKind};
    use pagoda_mm::pgtable::walk::level_size;

    static RODATA_WORD: u64 = 0x1234_5678;
    /// `ret`, placed in writable data: executing it must fault (data is XN).
    static mut DATA_CODE: [u32; 1] = [0xd65f_03c0];

    fn sw_translate(va: usize) -> Option<usize> {
        let (_, root) = root_for(va);
        let mut mem = KernelPgtableMem;
        PageTable::new(root, &mut mem).translate(va).map(|p| p.0)
    }

    #[ktest]
    fn software_walk_agrees_with_at_s1e1r() {
        let stack_var = 0u64;
        let linear_end = linear_map_end();
        let samples = [
            crate::start_kernel as *const () as usize,
            &raw const RODATA_WORD as usize,
            &raw const DATA_CODE as usize,
            &raw const stack_var as usize,
            PAGE_OFFSET,
            PAGE_OFFSET + 0x12_3458,
            PAGE_OFFSET + (((linear_end - PAGE_OFFSET) / 2) & !7),
            linear_end - 8,
            crate::arch::mm::fixmap::FIX_FDT,
            MODULES_VADDR + 0x1000,
            linear_end,
            0x4000_0000,
        ];
        let mut mapped = 0;
        for va in samples {
            let (sw, hw) = (sw_translate(va), at_s1e1r(va));
            assert_eq!(sw, hw, "walk of {va:#x}: software {sw:x?} hardware {hw:x?}");
            mapped += sw.is_some() as usize;
        }
        assert_eq!(mapped, 9, "expected 9 mapped and 3 unmapped samples");
    }

    #[ktest]
    fn linear_map_covers_all_ram_with_blocks() {
        let banks = memblock::MEMBLOCK.lock().memory.clone();
        for r in banks.iter() {
            for pa in [r.base, r.base + r.size / 2, r.end() - 4096] {
                let va = layout::phys_to_virt(pa);
                assert_eq!(at_s1e1r(va), Some(pa), "linear map of {pa:#x}");
            }
            let level = with_kernel_pgtable(|pt| pt.walk(layout::phys_to_virt(r.base)).leaf.unwrap().2);
            assert!(level <= 2, "RAM at {:#x} is mapped with 4K pages, not blocks", r.base);
        }
    }

    #[ktest]
    fn no_mapping_is_both_writable_and_executable() {
        let mut wx = 0;
        let mut leaves = 0;
        with_kernel_pgtable(|pt| {
            pt.for_each_leaf(0xffff << 48, |_, _, _, prot, _| {
                leaves += 1;
                wx += (prot.contains(Prot::WRITE) && prot.contains(Prot::EXEC)) as usize;
            })
        });
        assert!(leaves > 10);
        assert_eq!(wx, 0, "W+X mappings found");
    }

    #[ktest]
    fn identity_map_is_gone() {
        let text_pa = layout::pa_symbol(crate::start_kernel as *const u8);
        assert_eq!(at_s1e1r(text_pa), None, "TTBR0 still maps the kernel");
        assert_eq!(TTBR0_EL1.get_baddr() as usize, reserved_pg_dir_pa().0);
    }

    #[ktest]
    fn writing_rodata_is_a_permission_fault() {
        let (esr, far) = expect_fault(|| {
            let p = &raw const RODATA_WORD as *mut u64;
            // SAFETY: deliberately writes read-only data to fault.
            unsafe { p.write_volatile(1) };
        })
        .expect("rodata is writable");
        let esr = Esr(esr);
        assert_eq!(esr.ec(), ec::DABT_CUR);
        assert_eq!(esr.fault_kind(), FaultKind::Permission(3));
        assert!(esr.wnr());
        assert_eq!(far as usize, &raw const RODATA_WORD as usize);
        assert_eq!(RODATA_WORD, 0x1234_5678);
    }

    #[ktest(should_fault)]
    fn write_to_rodata_faults() {
        let p = core::hint::black_box(&raw const RODATA_WORD as *mut u64);
        // SAFETY: deliberately faults.
        unsafe { p.write_volatile(2) };
    }

    #[ktest]
    fn executing_data_is_an_instruction_permission_fault() {
        let (esr, far) = expect_fault(|| {
            // SAFETY: deliberately branches into writable, never-executable data.
            let f: extern "C" fn() = unsafe { core::mem::transmute(&raw const DATA_CODE as *const u8) };
            f();
        })
        .expect("data is executable");
        let esr = Esr(esr);
        assert_eq!(esr.ec(), ec::IABT_CUR);
        assert_eq!(esr.fault_kind(), FaultKind::Permission(3));
        assert_eq!(far as usize, &raw const DATA_CODE as usize);
    }

    #[ktest(should_fault)]
    fn exec_from_data_faults() {
        // SAFETY: deliberately faults.
        let f: extern "C" fn() = unsafe { core::mem::transmute(&raw const DATA_CODE as *const u8) };
        core::hint::black_box(f)();
    }

    #[ktest(should_fault)]
    fn exec_from_the_linear_map_faults() {
        // The kernel text's alias in the linear map is never executable.
        let pa = layout::pa_symbol(crate::start_kernel as *const u8);
        // SAFETY: deliberately faults.
        let f: extern "C" fn() = unsafe { core::mem::transmute(layout::phys_to_virt(pa)) };
        core::hint::black_box(f)();
    }

    #[ktest]
    fn map_unmap_protect_across_block_boundaries_and_free_tables() {
        const M2: usize = 2 << 20;
        // A scratch range of the vmalloc area, 2 MiB aligned, nothing mapped.
        let scratch = crate::mm::vmalloc::get_vm_area(2 * M2, M2, pagoda_mm::vmap::VmKind::Area).unwrap();
        // One order-10 block: 4 MiB, aligned to 4 MiB.
        let pfn = crate::mm::page_alloc::alloc_pages(pagoda_mm::gfp::Gfp::GFP_KERNEL, 10).expect("no 4 MiB");
        let pa = pfn << 12;
        let before = with_kernel_pgtable(|pt| pt.count_tables());
        // Two 2 MiB blocks, then write through them and read through the linear map.
        with_kernel_pgtable(|pt| {
            pt.map(scratch, PhysAddr(pa), 2 * M2, Prot::PAGE_KERNEL, MapFlags::BLOCK_2M)
        })
        .unwrap();
        assert_eq!(with_kernel_pgtable(|pt| pt.walk(scratch).leaf.unwrap().2), 2, "not a 2M block");
        for off in [0, M2 - 8, M2, 2 * M2 - 8] {
            // SAFETY: the range was just mapped RW.
            unsafe { ((scratch + off) as *mut u64).write_volatile(off as u64 ^ 0x5a5a) };
            // SAFETY: the same RAM through the linear map.
            let v = unsafe { (layout::phys_to_virt(pa + off) as *const u64).read_volatile() };
            assert_eq!(v, off as u64 ^ 0x5a5a);
        }
        // Protect one page on each side of the boundary: both blocks split.
        with_kernel_pgtable(|pt| pt.protect(scratch + M2 - 4096, 8192, Prot::PAGE_KERNEL_RO)).unwrap();
        let (esr, _) = expect_fault(|| {
            // SAFETY: deliberately writes the page made read-only.
            unsafe { ((scratch + M2) as *mut u64).write_volatile(0) }
        })
        .expect("stale TLB: the read-only page is still writable");
        assert_eq!(Esr(esr).fault_kind(), FaultKind::Permission(3));
        // SAFETY: the neighbour page is still RW.
        unsafe { ((scratch + M2 + 4096) as *mut u64).write_volatile(7) };
        // Unmap 8 KiB across the boundary: accesses there now fault.
        let n = with_kernel_pgtable(|pt| pt.unmap(scratch + M2 - 4096, 8192)).unwrap();
        assert_eq!(n, 8192);
        let (esr, far) = expect_fault(|| {
            // SAFETY: deliberately reads the unmapped page.
            unsafe { ((scratch + M2 - 8) as *const u64).read_volatile() };
        })
        .expect("unmapped page still readable");
        assert_eq!(Esr(esr).fault_kind(), FaultKind::Translation(3));
        assert_eq!(far as usize, scratch + M2 - 8);
        assert_eq!(at_s1e1r(scratch + 2 * M2 - 8), Some(pa + 2 * M2 - 8));
        // Unmap everything: the tables the mapping needed are freed.
        with_kernel_pgtable(|pt| pt.unmap(scratch, 2 * M2)).unwrap();
        assert_eq!(with_kernel_pgtable(|pt| pt.count_tables()), before, "page tables leaked");
        assert_eq!(at_s1e1r(scratch + level_size(3)), None);
        crate::mm::page_alloc::__free_pages(pfn, 10);
        crate::mm::vmalloc::free_vm_area(scratch);
    }

    #[ktest]
    fn ioremap_maps_device_memory_never_executable() {
        let uart = crate::drivers::devicetree::stdout_uart().unwrap();
        let va = crate::mm::ioremap::ioremap(uart.base, 0x1000).unwrap();
        let (pa, prot, _) = with_kernel_pgtable(|pt| pt.walk(va).leaf.unwrap());
        assert_eq!(pa.0, uart.base);
        assert!(prot.contains(Prot::DEVICE) && !prot.contains(Prot::EXEC));
        // The guard page after it is unmapped.
        assert_eq!(at_s1e1r(va + 0x1000), None);
        crate::mm::ioremap::iounmap(va);
        assert_eq!(at_s1e1r(va), None);
    }
}
