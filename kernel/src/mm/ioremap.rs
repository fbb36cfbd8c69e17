//! ioremap: mapping device registers into kernel virtual space (Linux:
//! arch/arm64/mm/ioremap.c, mm/ioremap.c).
//!
//! Device memory gets its own kernel virtual addresses from the vmalloc
//! area (the same area allocator as vmalloc, with a guard page after each),
//! mapped Device-nGnRE, never executable, never in the linear map.

use super::vmalloc::{find_area, free_vm_area, get_vm_area, set_area_phys};
use crate::arch::mm::mmu::with_kernel_pgtable;
use pagoda_mm::addr::PhysAddr;
use pagoda_mm::pgtable::{MapFlags, PgtableError, Prot};
use pagoda_mm::vmap::VmKind;

/// Maps `size` bytes of device registers at physical `pa`; returns the
/// virtual address of `pa` (Linux: ioremap).
pub fn ioremap(pa: usize, size: usize) -> Result<usize, PgtableError> {
    let offset = pa & 0xfff;
    let base = pa & !0xfff;
    let len = (size + offset + 0xfff) & !0xfff;
    let va = get_vm_area(len, 4096, VmKind::Ioremap).ok_or(PgtableError::NoMemory)?;
    set_area_phys(va, base);
    if let Err(e) =
        with_kernel_pgtable(|pt| pt.map(va, PhysAddr(base), len, Prot::PAGE_DEVICE, MapFlags::empty()))
    {
        free_vm_area(va);
        return Err(e);
    }
    Ok(va + offset)
}

/// Unmaps an ioremap()ed address (Linux: iounmap).
pub fn iounmap(va: usize) {
    match find_area(va) {
        Some((start, size, VmKind::Ioremap)) => {
            let _ = with_kernel_pgtable(|pt| pt.unmap(start, size));
            free_vm_area(start);
        }
        _ => log::warn!("iounmap: bad address {va:#x}"),
    }
}
