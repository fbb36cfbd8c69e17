//! The kernel virtual memory layout (Linux 4.x arm64, 48-bit VA, 4 KiB
//! pages: arch/arm64/include/asm/memory.h), and the translations between
//! kernel-image addresses and physical addresses.
//!
//! ```text
//! 0xffff_0000_0000_0000  modules   128 MiB
//! 0xffff_0000_0800_0000  vmalloc   (the kernel image is at its start)
//! 0xffff_7dff_fe00_0000  fixmap    6 MiB  (early console, FDT)
//! 0xffff_7dff_fee0_0000  PCI I/O   16 MiB
//! 0xffff_7e00_0000_0000  vmemmap   2 TiB  (struct page array)
//! 0xffff_8000_0000_0000  linear map of all RAM (PAGE_OFFSET)
//! ```

use core::sync::atomic::{AtomicUsize, Ordering};

/// The end of user space: TTBR0 covers [0, TASK_SIZE) (Linux: TASK_SIZE_64
/// with VA_BITS = 48).
pub const TASK_SIZE: usize = 1 << 48;
pub const VA_START: usize = 0xffff_0000_0000_0000;
pub const MODULES_VADDR: usize = VA_START;
pub const MODULES_END: usize = MODULES_VADDR + (128 << 20);
pub const KIMAGE_VADDR: usize = MODULES_END;
pub const VMALLOC_START: usize = MODULES_END;
pub const VMALLOC_END: usize = 0xffff_7dff_fdff_0000;
pub const FIXADDR_START: usize = 0xffff_7dff_fe00_0000;
pub const FIXADDR_TOP: usize = FIXADDR_START + (6 << 20);
pub const PCI_IO_START: usize = 0xffff_7dff_fee0_0000;
pub const PCI_IO_END: usize = PCI_IO_START + (16 << 20);
pub const VMEMMAP_START: usize = 0xffff_7e00_0000_0000;
pub const VMEMMAP_END: usize = PAGE_OFFSET;
pub const PAGE_OFFSET: usize = 0xffff_8000_0000_0000;

/// The linear map starts at a 1 GiB-aligned PHYS_OFFSET so it can use 1 GiB
/// blocks (Linux: ARM64_MEMSTART_ALIGN).
pub const ARM64_MEMSTART_ALIGN: usize = 1 << 30;

/// Physical address that PAGE_OFFSET maps (Linux: memstart_addr / PHYS_OFFSET).
static PHYS_OFFSET: AtomicUsize = AtomicUsize::new(0);

pub fn set_phys_offset(pa: usize) {
    PHYS_OFFSET.store(pa, Ordering::Relaxed);
}

pub fn phys_offset() -> usize {
    PHYS_OFFSET.load(Ordering::Relaxed)
}

/// Linear-map address of a physical address (Linux: __va / phys_to_virt).
pub fn phys_to_virt(pa: usize) -> usize {
    pa - phys_offset() + PAGE_OFFSET
}

/// Physical address of a linear-map address (Linux: __pa / virt_to_phys).
pub fn virt_to_phys(va: usize) -> usize {
    va - PAGE_OFFSET + phys_offset()
}

/// Whether `va` is in the linear map.
pub fn is_linear_map_address(va: usize) -> bool {
    va >= PAGE_OFFSET
}

/// VA - PA of the kernel image (Linux: kimage_voffset), set once at boot.
static KIMAGE_VOFFSET: AtomicUsize = AtomicUsize::new(0);

/// Records where head.S found the image (`text_pa` = physical `_text`).
pub fn init_kimage_voffset(text_pa: usize) {
    let text_va = crate::kernel::sections::text();
    KIMAGE_VOFFSET.store(text_va - text_pa, Ordering::Relaxed);
}

pub fn kimage_voffset() -> usize {
    KIMAGE_VOFFSET.load(Ordering::Relaxed)
}

/// Physical address of a kernel-image symbol (Linux: __pa_symbol).
pub fn pa_symbol<T>(p: *const T) -> usize {
    p as usize - kimage_voffset()
}

/// Kernel-image virtual address of a physical address inside the image.
pub fn kimage_va(pa: usize) -> usize {
    pa + kimage_voffset()
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

    #[ktest]
    fn image_is_linked_at_kimage_vaddr_plus_text_offset() {
        let text = crate::kernel::sections::text();
        assert_eq!(text, KIMAGE_VADDR + 0x80000);
        assert_eq!(pa_symbol(text as *const u8) & 0x1f_ffff, 0x80000);
    }

    #[ktest]
    fn linear_map_translations_round_trip() {
        let pa = phys_offset() + 0x12_3000;
        assert_eq!(virt_to_phys(phys_to_virt(pa)), pa);
        assert!(is_linear_map_address(phys_to_virt(pa)));
        assert!(!is_linear_map_address(KIMAGE_VADDR));
    }
}

/// `(   128 MB)`: a region size as Linux 4.x's mem_init printed it.
struct MemSize(usize);

impl core::fmt::Display for MemSize {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.0;
        if s >= 64 << 30 {
            write!(f, "({:>6} GB)", s >> 30)
        } else if s >= 64 << 20 {
            write!(f, "({:>6} MB)", s >> 20)
        } else {
            write!(f, "({:>6} KB)", s >> 10)
        }
    }
}

/// Logs the "Virtual kernel memory layout" table (Linux 4.x mem_init).
pub fn print_memory_layout(linear_end: usize) {
    use log::info;
    let line = |name: &str, start: usize, end: usize, note: &str| {
        info!("    {name:>10} : {start:#018x} - {end:#018x}   {}{note}", MemSize(end - start));
    };
    info!("Virtual kernel memory layout:");
    line("modules", MODULES_VADDR, MODULES_END, "");
    line("vmalloc", VMALLOC_START, VMALLOC_END, "");
    for (name, va, len, _) in crate::arch::mm::mmu::kernel_sections() {
        line(name, va, va + len, "");
    }
    line("fixed", FIXADDR_START, FIXADDR_TOP, "");
    line("PCI I/O", PCI_IO_START, PCI_IO_END, "");
    line("vmemmap", VMEMMAP_START, VMEMMAP_END, " maximum");
    line("memory", PAGE_OFFSET, linear_end, "");
}
