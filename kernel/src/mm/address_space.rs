//! The page cache of one file (Linux: include/linux/fs.h struct
//! address_space; mm/filemap.c find_get_page, filemap_add_folio,
//! __filemap_remove_folio; mm/truncate.c truncate_inode_pages_range).
//!
//! Every page of a file that is in memory sits in its address_space's
//! `i_pages`, an xarray keyed by the page's offset in the file (in pages),
//! and knows its place: `page->mapping` points back at the address_space
//! and `page->index` is the offset. The cache holds one reference to each
//! of its pages; whoever looks a page up gets one more.
//!
//! ```text
//! find_get_page(i):   lock; entry at i? -> get_page, return it
//! add_to_page_cache:  lock; offset taken? -> EEXIST (a racing fault won: use its page)
//!                     else store, get_page for the cache, mapping/index set,
//!                     NR_FILE_PAGES (+ NR_SHMEM for swap-backed memory) += 1
//! truncate(from):     every page at or past `from` leaves the cache and is put
//! ```
//!
//! Shared anonymous memory (`shmem.rs`) is the first user; tmpfs files,
//! the block devices and ext4 come next.
//!
//! Differences from Linux: `i_pages` is under a sleeping lock rather than
//! the xa_lock spin lock, because storing may allocate a node (which it
//! does without reclaiming, so reclaim may take the lock); and a truncated
//! page that is still mapped stays until it is unmapped (Linux unmaps it
//! first). Every page added also joins the LRU (mm/swap.rs).

use super::page_alloc::{get_page, mod_node_page_state, pfn_to_page, put_page};
use crate::sync::Mutex;
use core::sync::atomic::{AtomicUsize, Ordering};
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::vmstat::NodeStatItem;
use pagoda_mm::xarray::XArray;

/// A file's cached pages (Linux: struct address_space).
pub struct AddressSpace {
    /// Offset -> page frame number (Linux: i_pages).
    i_pages: Mutex<XArray>,
    /// Pages in the cache (Linux: nrpages).
    nrpages: AtomicUsize,
    /// The address spaces with VMAs mapping the file (Linux: i_mmap, an
    /// interval tree of the VMAs; here the address spaces, whose VMAs are
    /// checked in turn).
    pub i_mmap: super::rmap::MmChain,
    /// Memory with no file behind it (shmem, tmpfs): its pages count as
    /// Shmem too, and only swap can take them (Linux: AS_SWAPBACKED /
    /// PageSwapBacked).
    swap_backed: bool,
}

impl AddressSpace {
    pub const fn new(swap_backed: bool) -> Self {
        AddressSpace {
            i_pages: Mutex::new(XArray::new()),
            nrpages: AtomicUsize::new(0),
            i_mmap: super::rmap::MmChain::new(),
            swap_backed,
        }
    }

    /// The value a page's `mapping` holds for this cache.
    fn as_mapping(&self) -> u64 {
        self as *const AddressSpace as u64
    }

    pub fn nrpages(&self) -> usize {
        self.nrpages.load(Ordering::Relaxed)
    }

    /// The page at `index`, with a reference for the caller (Linux:
    /// find_get_page).
    pub fn find_get_page(&self, index: usize) -> Option<usize> {
        let pages = self.i_pages.lock();
        let pfn = pages.load(index as u64)? as usize;
        // Under the lock: the cache's own reference keeps it alive here.
        get_page(pfn);
        Some(pfn)
    }

    /// Puts the page `pfn` in the cache at `index`; the cache takes its own
    /// reference and the caller keeps its own (Linux: filemap_add_folio).
    /// EEXIST if the offset is taken (another task added a page first),
    /// ENOMEM if the index cannot grow.
    pub fn add_to_page_cache(&self, pfn: usize, index: usize) -> KResult<()> {
        // The index may need a node. Allocated under the lock without
        // reclaiming (reclaim would want this lock to evict this file's
        // pages); if that fails, reclaim with the lock dropped and try
        // again (Linux: xas_nomem, GFP_NOWAIT under xa_lock).
        let mut retries = 0;
        let pages = loop {
            let mut pages = self.i_pages.lock();
            if pages.load(index as u64).is_some() {
                return Err(Errno::EEXIST);
            }
            match super::vmscan::memalloc_noreclaim(|| pages.store(index as u64, pfn as u64)) {
                Ok(_) => break pages,
                Err(_) if retries < 3 => {
                    drop(pages);
                    retries += 1;
                    super::vmscan::try_to_free_pages(pagoda_mm::gfp::Gfp::GFP_KERNEL, 0);
                }
                Err(_) => return Err(Errno::ENOMEM),
            }
        };
        get_page(pfn);
        let page = pfn_to_page(pfn);
        page.set_index(index as u64);
        page.set_mapping(self.as_mapping());
        self.nrpages.fetch_add(1, Ordering::Relaxed);
        mod_node_page_state(pfn, NodeStatItem::NrFilePages, 1);
        if self.swap_backed {
            mod_node_page_state(pfn, NodeStatItem::NrShmem, 1);
            page.set_bit(pagoda_mm::page::PageFlags::SWAPBACKED);
        }
        drop(pages);
        // On the inactive list of its kind (Linux: filemap_add_folio ->
        // folio_add_lru): shmem with the anonymous pages, the rest as file.
        super::swap::lru_cache_add(pfn);
        Ok(())
    }

    /// The accounting and the reference of a page that left the cache.
    fn page_cache_gone(&self, pfn: usize) {
        let page = pfn_to_page(pfn);
        page.set_mapping(0);
        self.nrpages.fetch_sub(1, Ordering::Relaxed);
        mod_node_page_state(pfn, NodeStatItem::NrFilePages, -1);
        if self.swap_backed {
            mod_node_page_state(pfn, NodeStatItem::NrShmem, -1);
        }
        put_page(pfn);
    }

    /// Drops every page at offset `from` or beyond, waiting for each to be
    /// unlocked (Linux: truncate_inode_pages_range). Returns how many went.
    pub fn truncate_inode_pages(&self, from: usize) -> usize {
        self.remove_pages_where(from, usize::MAX, true, |_| true)
    }

    /// Takes out of the cache the pages of `[start, end)` for which `drop`
    /// says so, each under its page lock (waited for with `wait`, else a
    /// locked page is skipped), and puts them; returns how many went.
    /// Removing a page only under its lock is what lets reclaim, holding
    /// the lock, trust `page->mapping` (Linux: truncate_inode_folio and
    /// mapping_evict_folio run with the folio locked). `drop` is asked with
    /// the page locked and the cache locked; the page's count then includes
    /// the cache's reference and the one taken here.
    fn remove_pages_where(
        &self,
        start: usize,
        end: usize,
        wait: bool,
        drop: impl Fn(&pagoda_mm::page::Page) -> bool,
    ) -> usize {
        use super::filemap::{lock_page, unlock_page};
        let mut gone = 0;
        let mut at = start as u64;
        loop {
            let (index, pfn) = {
                let pages = self.i_pages.lock();
                let Some((index, pfn)) = pages.find(at, end.saturating_sub(1) as u64, None) else {
                    return gone;
                };
                // Under the cache lock: the cache's reference keeps it alive.
                get_page(pfn as usize);
                (index, pfn as usize)
            };
            at = index + 1;
            let page = pfn_to_page(pfn);
            if wait {
                lock_page(page);
            } else if !page.trylock() {
                put_page(pfn);
                continue;
            }
            let removed = {
                let mut pages = self.i_pages.lock();
                let here = pages.load(index) == Some(pfn as u64);
                if here && drop(page) {
                    pages.erase(index);
                }
                here && pages.load(index).is_none()
            };
            if removed {
                self.page_cache_gone(pfn);
                gone += 1;
            }
            unlock_page(page);
            put_page(pfn);
        }
    }

    /// Unmaps, from every process mapping the file, the pages at offset
    /// `from` and beyond, private copies included (Linux:
    /// unmap_mapping_range with even_cows, as truncation calls it). The
    /// next access there faults, and past the end of the file is SIGBUS.
    /// Called with no mmap_lock held; takes each address space's for
    /// reading in turn.
    pub fn unmap_mapping_range(&self, from: usize) -> KResult<()> {
        for mm in self.i_mmap.mms()? {
            let map = mm.mmap_lock.read();
            for id in map.vmas.iter() {
                let (start, end) = map.vmas.range(id);
                let Some(vma) = map.vmas.get(id) else { continue };
                if !vma.vm_file.as_ref().and_then(|f| f.mapping()).is_some_and(|m| core::ptr::eq(m, self)) {
                    continue;
                }
                let pages = (end - start) >> 12;
                if vma.pgoff + pages <= from {
                    continue;
                }
                let first = start + (from.saturating_sub(vma.pgoff) << 12);
                mm.zap_page_range(first, end - first);
            }
        }
        Ok(())
    }

    /// Drops the cached pages of `[start, end)` that nobody uses: clean,
    /// not under writeback, not locked, not mapped, and referenced by the
    /// cache alone. Returns how many went (Linux: invalidate_mapping_pages,
    /// which fadvise(DONTNEED) and drop_caches call; the page cache lock
    /// keeps find_get_page from taking a reference meanwhile).
    pub fn invalidate_mapping_pages(&self, start: usize, end: usize) -> usize {
        use pagoda_mm::page::PageFlags;
        let busy = PageFlags::DIRTY | PageFlags::WRITEBACK;
        // The cache's reference and remove_pages_where's, no other.
        self.remove_pages_where(start, end, false, |page| {
            !page.flags().intersects(busy) && page.page_mapcount() == 0 && page.page_ref_count() == 2
        })
    }

    /// Takes the locked page `pfn` out of the cache if nobody but the cache
    /// and reclaim holds it and it is clean (Linux: __remove_mapping, which
    /// freezes the count at 2). The cache's reference is put; reclaim's is
    /// left to free the page. False if it is in use or dirty. Nothing
    /// allocates under the cache lock with reclaim allowed
    /// (add_to_page_cache stores with PF_MEMALLOC), so reclaim may wait
    /// for the lock.
    pub fn remove_mapping(&self, pfn: usize) -> bool {
        let page = pfn_to_page(pfn);
        let index = page.index();
        {
            let mut pages = self.i_pages.lock();
            if pages.load(index) != Some(pfn as u64)
                || page.page_ref_count() != 2
                || page.test(pagoda_mm::page::PageFlags::DIRTY)
            {
                return false;
            }
            pages.erase(index);
        }
        self.page_cache_gone(pfn);
        true
    }

    /// Calls `f(index, pfn)` for each cached page of `[start, end)` in
    /// order, with the cache locked (for views like fincore).
    pub fn for_each_page(&self, start: usize, end: usize, mut f: impl FnMut(usize, usize)) {
        if start >= end {
            return;
        }
        let pages = self.i_pages.lock();
        for (index, pfn) in pages.iter_range(start as u64, end as u64 - 1) {
            f(index as usize, pfn as usize);
        }
    }
}

impl Drop for AddressSpace {
    /// The file is gone: so are its cached pages (Linux: evict ->
    /// truncate_inode_pages_final).
    fn drop(&mut self) {
        // Each page under its lock: reclaim may be looking at one.
        self.truncate_inode_pages(0);
    }
}

/// Whether `pfn` belongs to a page cache (Linux: a page with a mapping
/// that is not anonymous).
pub fn page_in_cache(pfn: usize) -> bool {
    let page = pfn_to_page(pfn);
    page.mapping() != 0 && !page.page_anon()
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use crate::mm::page_alloc::{alloc_pages, global_node_page_state};
    use pagoda_mm::gfp::Gfp;

    /// Pages go in at their offsets with a reference for the cache, a
    /// second add at a taken offset is refused, lookups take a reference,
    /// and truncation and the end of the file take the pages out, with the
    /// counters back where they were.
    #[ktest]
    fn the_page_cache_adds_finds_and_truncates() {
        let file_pages = global_node_page_state(NodeStatItem::NrFilePages);
        let shmem = global_node_page_state(NodeStatItem::NrShmem);
        let mapping = AddressSpace::new(true);
        let mut pfns = [0usize; 4];
        for (i, p) in pfns.iter_mut().enumerate() {
            *p = alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
            mapping.add_to_page_cache(*p, i * 100).unwrap();
            put_page(*p); // the cache's reference is the only one now
        }
        let extra = alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
        assert_eq!(mapping.add_to_page_cache(extra, 200), Err(Errno::EEXIST), "offset 200 is taken");
        put_page(extra);
        assert_eq!(mapping.nrpages(), 4);
        assert_eq!(global_node_page_state(NodeStatItem::NrFilePages), file_pages + 4);
        assert_eq!(global_node_page_state(NodeStatItem::NrShmem), shmem + 4);
        // Pages wait in a per-CPU batch, holding a reference, until it goes
        // onto the LRU lists.
        crate::mm::swap::lru_add_drain_all();
        let got = mapping.find_get_page(300).unwrap();
        assert_eq!(got, pfns[3]);
        let page = pfn_to_page(got);
        assert_eq!((page.page_ref_count(), page.index()), (2, 300), "the cache's and ours");
        assert_eq!(page.mapping(), mapping.as_mapping());
        put_page(got);
        assert_eq!(mapping.find_get_page(301), None);
        let mut seen = alloc::vec::Vec::new();
        mapping.for_each_page(0, 250, |i, _| seen.push(i));
        assert_eq!(seen, [0, 100, 200]);
        assert_eq!(mapping.truncate_inode_pages(150), 2, "offsets 200 and 300");
        assert_eq!(mapping.nrpages(), 2);
        assert_eq!(pfn_to_page(pfns[0]).page_ref_count(), 1, "only the cache holds what is left");
        drop(mapping);
        assert_eq!(global_node_page_state(NodeStatItem::NrFilePages), file_pages);
        assert_eq!(global_node_page_state(NodeStatItem::NrShmem), shmem, "every page left the cache");
    }
}
