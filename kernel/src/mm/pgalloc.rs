//! Where page-table pages come from (Linux: pgd_alloc / pte_alloc_one and
//! arm64's early_pgtable_alloc). During boot, from memblock; once the page
//! allocator runs, from it. A table that memblock gave out at boot goes to
//! the buddy allocator when freed (free_reserved_page).

use super::{memblock, page_alloc};
use pagoda_mm::gfp::Gfp;
use pagoda_mm::vmstat::NodeStatItem;

/// A 4 KiB physical page for a page table (zeroed by the caller). Once
/// the page allocator runs, it counts in meminfo's PageTables (Linux:
/// NR_PAGETABLE, kept by the page-table constructors).
pub fn alloc_table_page() -> Option<usize> {
    if page_alloc::is_ready() {
        let pfn = page_alloc::alloc_pages(Gfp::GFP_KERNEL, 0).ok()?;
        page_alloc::mod_node_page_state(pfn, NodeStatItem::NrPagetable, 1);
        Some(pfn << 12)
    } else {
        memblock::phys_alloc(4096, 4096)
    }
}

/// Returns a page-table page.
pub fn free_table_page(pa: usize) {
    let pfn = pa >> 12;
    if !page_alloc::is_ready() {
        memblock::phys_free(pa, 4096);
    } else if page_alloc::pfn_to_page(pfn).is_reserved() {
        page_alloc::free_reserved_page(pfn);
    } else {
        page_alloc::mod_node_page_state(pfn, NodeStatItem::NrPagetable, -1);
        page_alloc::__free_pages(pfn, 0);
    }
}
