//! Shared anonymous memory (Linux: mm/shmem.c shmem_zero_setup, the object
//! behind `mmap(MAP_SHARED | MAP_ANONYMOUS)`).
//!
//! Private anonymous pages belong to one process (copy on write after
//! fork); shared ones belong to an object that every mapping of it sees:
//! a write by a child is read by its parent. Linux makes such a mapping a
//! file on an internal tmpfs mount and its pages live in that file's page
//! cache; Pagoda, before its page cache (the file issue), gives the object
//! a sorted array of (page offset, page) pairs, so that a huge mapping
//! costs nothing until it is touched. The object holds one
//! reference to each of its pages, each PTE mapping it another; the pages
//! go when the last VMA using the object does.
//!
//! A shmem page is marked by `page->mapping` pointing at its object, so
//! that unmapping it counts it in MM_SHMEMPAGES, as Linux's mm_counter
//! does. Its size is fixed at mmap time: a fault past it (after mremap
//! grew the VMA) is SIGBUS, as on Linux.

use super::page_alloc::{alloc_pages, pfn_to_page, put_page};
use crate::sync::Mutex;
use alloc::vec::Vec;
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::gfp::Gfp;

/// The pages of one shared anonymous mapping (Linux: a shmem inode's
/// address_space).
pub struct ShmemObject {
    /// (page offset, page frame number) of the pages touched so far,
    /// sorted by offset.
    pages: Mutex<Vec<(usize, usize)>>,
    /// The size in pages, fixed at mmap time.
    size: usize,
}

pub type ShmemRef = Arc<ShmemObject>;

impl ShmemObject {
    /// An object of `pages` pages, none allocated yet.
    pub fn new(pages: usize) -> KResult<ShmemRef> {
        Arc::try_new(ShmemObject { pages: Mutex::new(Vec::new()), size: pages }).map_err(|_| Errno::ENOMEM)
    }

    /// The page at `index`, made (zeroed) on first use, with a reference
    /// taken for the caller's mapping (Linux: shmem_get_folio + get_page).
    /// None past the end (SIGBUS) or when memory runs out.
    pub fn get_page(self_: &ShmemRef, index: usize) -> Result<usize, ShmemError> {
        if index >= self_.size {
            return Err(ShmemError::Beyond);
        }
        let mut pages = self_.pages.lock();
        let pfn = match pages.binary_search_by_key(&index, |&(i, _)| i) {
            Ok(at) => pages[at].1,
            Err(at) => {
                pages.try_reserve(1).map_err(|_| ShmemError::NoMemory)?;
                let pfn = alloc_pages(Gfp::GFP_HIGHUSER_MOVABLE | Gfp::__GFP_ZERO, 0)
                    .map_err(|_| ShmemError::NoMemory)?;
                pfn_to_page(pfn).set_mapping(Arc::as_ptr(self_) as u64 & !1);
                super::page_alloc::mod_node_page_state(pfn, pagoda_mm::vmstat::NodeStatItem::NrShmem, 1);
                pages.insert(at, (index, pfn));
                pfn
            }
        };
        super::page_alloc::get_page(pfn);
        Ok(pfn)
    }
}

/// Why a shmem page could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmemError {
    Beyond,
    NoMemory,
}

impl Drop for ShmemObject {
    fn drop(&mut self) {
        for &(_, pfn) in self.pages.get_mut().iter() {
            pfn_to_page(pfn).set_mapping(0);
            super::page_alloc::mod_node_page_state(pfn, pagoda_mm::vmstat::NodeStatItem::NrShmem, -1);
            put_page(pfn);
        }
    }
}

/// Whether `pfn` is a shmem page (mapped by a shared anonymous mapping).
pub fn is_shmem_page(pfn: usize) -> bool {
    let m = pfn_to_page(pfn).mapping();
    m != 0 && !pfn_to_page(pfn).page_anon()
}

/// Faults on a shared anonymous mapping (Linux: shmem_vm_ops).
struct ShmemVmOps;

impl super::vma::VmOperations for ShmemVmOps {
    /// The object's page at the fault's offset, made on first use (Linux:
    /// shmem_fault). SIGBUS past the object's end.
    fn fault(
        &self,
        _mm: &super::mm_types::MmStruct,
        vma: &super::vma::Vma,
        vmf: &super::vma::VmFault,
    ) -> Result<usize, super::memory::FaultError> {
        use super::memory::FaultError;
        let obj = vma.shm.as_ref().ok_or(FaultError::SigBus)?;
        ShmemObject::get_page(obj, vmf.pgoff).map_err(|e| match e {
            ShmemError::Beyond => FaultError::SigBus,
            ShmemError::NoMemory => FaultError::Oom,
        })
    }
}

static SHMEM_VM_OPS: ShmemVmOps = ShmemVmOps;

/// The VMA of a new shared anonymous mapping of `pages` pages: a new
/// object, mapped from its start (Linux: shmem_zero_setup).
pub fn shmem_zero_setup(flags: super::vma::VmFlags, pages: usize) -> KResult<super::vma::Vma> {
    Ok(super::vma::Vma {
        flags,
        pgoff: 0,
        shm: Some(ShmemObject::new(pages)?),
        anon_vma: super::rmap::AnonVmaSlot::none(),
        vm_ops: Some(&SHMEM_VM_OPS),
    })
}
