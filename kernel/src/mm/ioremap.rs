//! ioremap: mapping device registers into kernel virtual space (Linux:
//! arch/arm64/mm/ioremap.c, mm/ioremap.c).
//!
//! Device memory gets its own kernel virtual addresses with the
//! Device-nGnRE attribute, never executable, never in the linear map.
//! Addresses come from the IOREMAP window of the vmalloc area, with a guard
//! page after each mapping. Until vmalloc's area allocator exists, the window
//! is handed out by a bump pointer: iounmap unmaps, but the address range
//! is not reused.

use super::layout::VMALLOC_START;
use crate::arch::mm::mmu::with_kernel_pgtable;
use core::sync::atomic::{AtomicUsize, Ordering};
use pagoda_mm::addr::PhysAddr;
use pagoda_mm::pgtable::{MapFlags, PgtableError, Prot};

/// 1 GiB above the start of vmalloc (where the kernel image is), 1 GiB long.
pub const IOREMAP_START: usize = VMALLOC_START + (1 << 30);
pub const IOREMAP_END: usize = IOREMAP_START + (1 << 30);

static NEXT: AtomicUsize = AtomicUsize::new(IOREMAP_START);

/// Maps `size` bytes of device registers at physical `pa`; returns the
/// virtual address of `pa` (Linux: ioremap).
pub fn ioremap(pa: usize, size: usize) -> Result<usize, PgtableError> {
    let offset = pa & 0xfff;
    let base = pa & !0xfff;
    let len = (size + offset + 0xfff) & !0xfff;
    let va = NEXT.fetch_add(len + 4096, Ordering::Relaxed); // + guard page
    if va + len > IOREMAP_END {
        return Err(PgtableError::NoMemory);
    }
    with_kernel_pgtable(|pt| pt.map(va, PhysAddr(base), len, Prot::PAGE_DEVICE, MapFlags::empty()))?;
    Ok(va + offset)
}

/// Unmaps an ioremap()ed range (Linux: iounmap).
pub fn iounmap(va: usize, size: usize) {
    let base = va & !0xfff;
    let len = (size + (va & 0xfff) + 0xfff) & !0xfff;
    let _ = with_kernel_pgtable(|pt| pt.unmap(base, len));
}
