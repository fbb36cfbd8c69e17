//! What the virtio-drivers crate needs from the kernel (its `Hal` trait):
//! DMA memory for the virtqueues, and the bus address of a buffer (Linux:
//! the DMA API, dma_alloc_coherent and dma_map_single).
//!
//! QEMU virt has no IOMMU and its devices are cache-coherent, so a bus
//! address is the physical address and sharing a buffer needs no copy or
//! cache maintenance.

use crate::arch::mm::layout::{is_linear_map_address, virt_to_phys};
use crate::mm::page_alloc::{__free_pages, alloc_pages, page_address};
use crate::mm::vmalloc::vmalloc_to_pfn;
use core::ptr::NonNull;
use pagoda_mm::addr::PAGE_SIZE;
use pagoda_mm::gfp::Gfp;
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

pub struct PagodaHal;

/// The order of the smallest block holding `pages` pages.
fn order_for(pages: usize) -> usize {
    pages.max(1).next_power_of_two().trailing_zeros() as usize
}

/// The physical address of any kernel address: the linear map by
/// arithmetic, vmalloc space (task stacks) through the kernel page table.
fn kernel_virt_to_phys(va: usize) -> PhysAddr {
    if is_linear_map_address(va) {
        return virt_to_phys(va) as PhysAddr;
    }
    let pfn = vmalloc_to_pfn(va).expect("virtio: buffer at an unmapped kernel address");
    ((pfn * PAGE_SIZE) + va % PAGE_SIZE) as PhysAddr
}

// SAFETY: dma_alloc returns zeroed, page-aligned memory that nothing else
// owns until dma_dealloc; share returns the address the device must use.
unsafe impl Hal for PagodaHal {
    fn dma_alloc(pages: usize, _dir: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        match alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_ZERO, order_for(pages)) {
            Ok(pfn) => {
                let va = page_address(pfn);
                // The crate treats a zero physical address as failure.
                (virt_to_phys(va) as PhysAddr, NonNull::new(va as *mut u8).expect("linear map address"))
            }
            Err(_) => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        __free_pages(paddr as usize / PAGE_SIZE, order_for(pages));
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        // Only the PCI transport asks; Pagoda uses virtio-mmio.
        let va = crate::mm::ioremap::ioremap(paddr as usize, size).expect("virtio: cannot map a BAR");
        NonNull::new(va as *mut u8).expect("ioremap returned null")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _dir: BufferDirection) -> PhysAddr {
        let va = buffer.as_ptr() as *mut u8 as usize;
        let pa = kernel_virt_to_phys(va);
        // A vmalloc buffer is contiguous only within its page. The driver's
        // buffers are pages and kmalloc'd headers; the crate's own small
        // headers on the stack (16 bytes, 8-aligned) never cross a page.
        let last = va + buffer.len().max(1) - 1;
        assert!(
            is_linear_map_address(va) || last / PAGE_SIZE == va / PAGE_SIZE,
            "virtio: a vmalloc buffer crosses a page"
        );
        pa
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _dir: BufferDirection) {}
}
