//! Compile-time-fixed virtual addresses for early boot (Linux:
//! arch/arm64/mm/fixmap.c, asm/fixmap.h).
//!
//! Before the linear map exists the kernel still has to reach two things at
//! physical addresses it only learns at run time: the device tree and the
//! console UART. The fixmap is a small window at FIXADDR_START whose page
//! tables are static arrays in the image (bm_pud/bm_pmd/bm_pte in Linux),
//! hooked into the boot page table by early_fixmap_init().
//!
//! ```text
//! FIXADDR_START + 0       one L3 table: 512 4 KiB slots (FIX_EARLYCON_MEM_BASE ...)
//! FIXADDR_START + 2 MiB   FIX_FDT: two 2 MiB blocks, a DTB of up to 2 MiB anywhere
//! ```

use super::layout::*;
use crate::arch::mm::{pte, tlb};
use core::ptr::addr_of_mut;

/// Slots of the 4 KiB part of the fixmap.
#[derive(Debug, Clone, Copy)]
#[repr(usize)]
pub enum FixedAddress {
    EarlyconMemBase = 0,
}

pub const FIX_FDT: usize = FIXADDR_START + (2 << 20);
pub const FIX_FDT_SIZE: usize = 4 << 20;
const SZ_2M: usize = 2 << 20;

#[repr(C, align(4096))]
struct Table([u64; 512]);

static mut BM_PUD: Table = Table([0; 512]);
static mut BM_PMD: Table = Table([0; 512]);
static mut BM_PTE: Table = Table([0; 512]);

fn idx(va: usize, level: usize) -> usize {
    (va >> (12 + 9 * (3 - level))) & 511
}

/// Hooks the fixmap tables into the page table whose root is `pgd_pa`
/// (a table inside the kernel image: init_pg_dir, later swapper_pg_dir).
pub fn early_fixmap_init(pgd_pa: usize) {
    // SAFETY: boot is single-threaded; the tables are only reached through here.
    unsafe {
        let pgd = kimage_va(pgd_pa) as *mut u64;
        let pud = addr_of_mut!(BM_PUD.0);
        let pmd = addr_of_mut!(BM_PMD.0);
        let ptep = addr_of_mut!(BM_PTE.0);
        pgd.add(idx(FIXADDR_START, 0)).write_volatile(pte::mk_table(pa_symbol(pud)));
        (*pud)[idx(FIXADDR_START, 1)] = pte::mk_table(pa_symbol(pmd));
        (*pmd)[idx(FIXADDR_START, 2)] = pte::mk_table(pa_symbol(ptep));
    }
    tlb::publish_table_update();
}

/// Virtual address of a fixmap slot (Linux: __fix_to_virt).
pub const fn fix_to_virt(idx: FixedAddress) -> usize {
    FIXADDR_START + ((idx as usize) << 12)
}

/// Maps the device page at `pa` into slot `idx` (Linux: set_fixmap_io).
pub fn set_fixmap_io(idx: FixedAddress, pa: usize) -> usize {
    let va = fix_to_virt(idx);
    // SAFETY: single writer at boot; the slot belongs to `idx`.
    unsafe { (*addr_of_mut!(BM_PTE.0))[idx as usize] = pte::mk_page_device(pa & !0xfff) };
    tlb::flush_tlb_kernel_page(va);
    va + (pa & 0xfff)
}

/// Empties slot `idx` (Linux: clear_fixmap).
pub fn clear_fixmap(idx: FixedAddress) {
    let va = fix_to_virt(idx);
    // SAFETY: single writer; the slot belongs to `idx`.
    unsafe { (*addr_of_mut!(BM_PTE.0))[idx as usize] = 0 };
    tlb::flush_tlb_kernel_page(va);
}

/// Maps the device tree at `pa` read-only (Linux: fixmap_remap_fdt). Returns
/// its virtual address; the caller checks the size fits in what is mapped.
pub fn fixmap_remap_fdt(pa: usize) -> (usize, usize) {
    let base = pa & !(SZ_2M - 1);
    for i in 0..FIX_FDT_SIZE / SZ_2M {
        let va = FIX_FDT + i * SZ_2M;
        // SAFETY: single writer at boot; these PMD slots belong to FIX_FDT.
        unsafe { (*addr_of_mut!(BM_PMD.0))[idx(va, 2)] = pte::mk_block_normal_ro(base + i * SZ_2M) };
        tlb::flush_tlb_kernel_page(va);
    }
    let va = FIX_FDT + (pa - base);
    (va, FIX_FDT + FIX_FDT_SIZE - va)
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

    #[ktest]
    fn fdt_is_readable_through_the_fixmap() {
        let fdt = crate::drivers::devicetree::get();
        let va = fdt as *const _ as usize;
        let _ = va;
        let total = fdt.total_size();
        assert!(total > 0 && total <= FIX_FDT_SIZE);
        // The parsed tree points into the fixmap window.
        let model = fdt.root().model();
        let p = model.as_ptr() as usize;
        assert!((FIX_FDT..FIX_FDT + FIX_FDT_SIZE).contains(&p), "{p:#x}");
    }

    #[ktest]
    fn fixmap_slots_are_page_sized_and_in_range() {
        let va = fix_to_virt(FixedAddress::EarlyconMemBase);
        assert_eq!(va, FIXADDR_START);
        assert!(va < FIX_FDT && FIX_FDT + FIX_FDT_SIZE <= FIXADDR_TOP);
    }
}
