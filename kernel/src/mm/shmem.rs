//! Shared anonymous memory (Linux: mm/shmem.c shmem_zero_setup, the object
//! behind `mmap(MAP_SHARED | MAP_ANONYMOUS)`).
//!
//! Private anonymous pages belong to one process (copy on write after
//! fork); shared ones belong to an object that every mapping of it sees:
//! a write by a child is read by its parent. Linux makes such a mapping a
//! file on an internal tmpfs mount and its pages live in that file's page
//! cache; Pagoda gives the object an address_space of its own (the page
//! cache, `address_space.rs`), so that a huge mapping costs nothing until
//! it is touched. The cache holds one reference to each of its pages, each
//! PTE mapping it another; the pages go when the last VMA using the object
//! does. They count in meminfo's Cached and Shmem.
//!
//! A shmem page is marked by `page->mapping` pointing at the object's
//! address_space, so that unmapping it counts it in MM_SHMEMPAGES, as
//! Linux's mm_counter does. (Until tmpfs files exist, every page-cache page
//! is a shmem page.) Its size is fixed at mmap time: a fault past it (after
//! mremap grew the VMA) is SIGBUS, as on Linux.

use super::address_space::AddressSpace;
use super::page_alloc::{alloc_pages, put_page};
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::gfp::Gfp;

/// One shared anonymous mapping's memory (Linux: a shmem inode on the
/// internal tmpfs mount).
pub struct ShmemObject {
    /// Its pages, in the page cache (Linux: the inode's i_mapping).
    mapping: AddressSpace,
    /// The size in pages, fixed at mmap time.
    size: usize,
}

pub type ShmemRef = Arc<ShmemObject>;

impl ShmemObject {
    /// An object of `pages` pages, none allocated yet.
    pub fn new(pages: usize) -> KResult<ShmemRef> {
        Arc::try_new(ShmemObject { mapping: AddressSpace::new(true), size: pages }).map_err(|_| Errno::ENOMEM)
    }

    /// The page at `index`, made (zeroed) on first use, with a reference
    /// taken for the caller's mapping (Linux: shmem_get_folio). Two faults
    /// racing to make the same page agree on one: the loser's goes back.
    pub fn get_page(self_: &ShmemRef, index: usize) -> Result<usize, ShmemError> {
        if index >= self_.size {
            return Err(ShmemError::Beyond);
        }
        loop {
            if let Some(pfn) = self_.mapping.find_get_page(index) {
                return Ok(pfn);
            }
            let pfn = alloc_pages(Gfp::GFP_HIGHUSER_MOVABLE | Gfp::__GFP_ZERO, 0)
                .map_err(|_| ShmemError::NoMemory)?;
            match self_.mapping.add_to_page_cache(pfn, index) {
                Ok(()) => return Ok(pfn), // our allocation's reference is the caller's
                Err(e) => {
                    put_page(pfn);
                    if e != Errno::EEXIST {
                        return Err(ShmemError::NoMemory);
                    }
                }
            }
        }
    }
}

/// Why a shmem page could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmemError {
    Beyond,
    NoMemory,
}

/// Whether `pfn` is a shmem page (mapped by a shared anonymous mapping).
pub fn is_shmem_page(pfn: usize) -> bool {
    super::address_space::page_in_cache(pfn)
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
