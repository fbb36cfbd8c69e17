//! Mapping counts of user pages (Linux: mm/rmap.c page_add_new_anon_rmap,
//! page_dup_rmap, page_add_file_rmap, page_remove_rmap).
//!
//! Every time a PTE starts or stops mapping a page, the page's `_mapcount`
//! moves, and the first mapping and the last unmapping move the node
//! counters meminfo shows: AnonPages (NR_ANON_MAPPED) for anonymous pages,
//! Mapped (NR_FILE_MAPPED) for shared memory's pages. A page shared
//! copy-on-write by a parent and its children is one page mapped three
//! times: AnonPages counts it once, `page_mapcount` says 3.
//!
//! A new anonymous page also records its index (its virtual page number,
//! as Linux's linear_page_index gives for anonymous memory) and is marked
//! anonymous in `mapping`. The anon_vma that lets reclaim find every PTE
//! mapping it comes with the reclaim issue; until then `mapping` holds
//! only the PAGE_MAPPING_ANON bit.

use super::page_alloc::{mod_node_page_state, pfn_to_page};
use pagoda_mm::vmstat::NodeStatItem;

/// A new anonymous page's first mapping, at user address `addr`.
pub fn page_add_new_anon_rmap(pfn: usize, addr: usize) {
    let page = pfn_to_page(pfn);
    page.set_anon_mapping(0, (addr >> 12) as u64);
    if page.mapcount_inc() {
        mod_node_page_state(pfn, NodeStatItem::NrAnonMapped, 1);
    }
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
/// takes the page out of AnonPages or Mapped; an anonymous page also
/// forgets its index and marker.
pub fn page_remove_rmap(pfn: usize, anon: bool) {
    let page = pfn_to_page(pfn);
    if page.mapcount_dec() {
        if anon {
            mod_node_page_state(pfn, NodeStatItem::NrAnonMapped, -1);
            page.set_mapping(0);
            page.set_index(0);
        } else {
            mod_node_page_state(pfn, NodeStatItem::NrFileMapped, -1);
        }
    }
}
