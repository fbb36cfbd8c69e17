//! Where page-table pages come from (Linux: pgd_alloc / pte_alloc_one and
//! arm64's early_pgtable_alloc). During boot, from memblock; once the page
//! allocator runs, from it.

use super::memblock;

/// A 4 KiB physical page for a page table (not yet zeroed).
pub fn alloc_table_page() -> Option<usize> {
    memblock::phys_alloc(4096, 4096)
}

/// Returns a page-table page.
pub fn free_table_page(pa: usize) {
    memblock::phys_free(pa, 4096)
}
