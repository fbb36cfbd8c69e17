//! vmalloc: virtually contiguous kernel memory from scattered pages
//! (Linux: mm/vmalloc.c vmalloc, vzalloc, vfree, vmalloc_to_page,
//! /proc/vmallocinfo). Address ranges come from pagoda_mm::vmap (busy and
//! free trees with a guard page after each area); pages come one at a time
//! from the page allocator and are mapped with 4 KiB PTEs through the
//! generic page-table API. vfree unmaps (flushing the TLB for each page, no
//! lazy purge), frees the pages and returns the range.

use super::page_alloc::{__free_pages, alloc_pages};
use crate::arch::mm::layout::{KIMAGE_VADDR, VMALLOC_END, VMALLOC_START};
use crate::arch::mm::mmu::with_kernel_pgtable;
use crate::sync::SpinLockIrq;
use crate::{kprintln, monitor_cmd};
use alloc::vec::Vec;
use log::{info, warn};
use pagoda_mm::addr::PhysAddr;
use pagoda_mm::gfp::Gfp;
use pagoda_mm::pgtable::{MapFlags, Prot};
use pagoda_mm::vmap::{VmKind, VmapAreas};
use pagoda_mm::vmstat::NodeStatItem;
use spin::Once;

use pagoda_mm::addr::PAGE_SIZE;

/// The vmap areas, under an IRQ-safe lock (Linux: vmap_area_lock): vfree
/// may come from contexts that interrupt a vmalloc.
static VMAP: Once<SpinLockIrq<VmapAreas>> = Once::new();

fn vmap() -> &'static SpinLockIrq<VmapAreas> {
    VMAP.get().expect("vmalloc used before vmalloc_init")
}

/// Sets up the vmalloc area, with the kernel image reserved at its start
/// (Linux: vmalloc_init).
pub fn vmalloc_init() {
    let mut areas = VmapAreas::new(VMALLOC_START, VMALLOC_END);
    let image_end = crate::kernel::sections::end().next_multiple_of(2 << 20);
    areas.reserve(KIMAGE_VADDR, image_end, VmKind::Reserved);
    VMAP.call_once(|| SpinLockIrq::new(areas));
    info!(
        "vmalloc: [{VMALLOC_START:#x}-{VMALLOC_END:#x}] {} GiB, kernel image reserved up to {image_end:#x}",
        (VMALLOC_END - VMALLOC_START) >> 30
    );
}

/// A bare range of kernel virtual addresses, nothing mapped (Linux: get_vm_area).
pub fn get_vm_area(size: usize, align: usize, kind: VmKind) -> Option<usize> {
    vmap().lock().alloc(size, align, kind)
}

/// Returns a range from get_vm_area; the caller has unmapped it.
pub fn free_vm_area(start: usize) {
    if vmap().lock().free(start).is_none() {
        warn!("free_vm_area: no area at {start:#x}");
    }
}

/// Records the physical address an ioremap area maps.
pub fn set_area_phys(start: usize, phys: usize) {
    if let Some(a) = vmap().lock().find_mut(start) {
        a.phys = phys;
    }
}

/// The (start, size) of the busy area containing `addr`.
pub fn find_area(addr: usize) -> Option<(usize, usize, VmKind)> {
    vmap().lock().find(addr).map(|a| (a.start, a.size(), a.kind))
}

/// Counts vmalloc pages on the nodes they come from (Linux: NR_VMALLOC).
fn account(pages: &[usize], sign: isize) {
    for &pfn in pages {
        super::page_alloc::mod_node_page_state(pfn, NodeStatItem::NrVmallocPages, sign);
    }
}

/// Linux: __vmalloc. None (and nothing left behind) on failure.
pub fn vmalloc_gfp(size: usize, gfp: Gfp) -> Option<usize> {
    __vmalloc_node(size, PAGE_SIZE, gfp)
}

/// `size` bytes at an address aligned to `align`, with the guard page after
/// (Linux: __vmalloc_node; kernel stacks ask for 2 × THREAD_SIZE
/// alignment). None (and nothing left behind) on failure.
pub fn __vmalloc_node(size: usize, align: usize, gfp: Gfp) -> Option<usize> {
    let n = size.div_ceil(PAGE_SIZE);
    let mut pages = Vec::new();
    if pages.try_reserve_exact(n).is_err() {
        return None;
    }
    let start = get_vm_area(size, align, VmKind::Vmalloc)?;
    let mut ok = true;
    for i in 0..n {
        let Ok(pfn) = alloc_pages(gfp, 0) else {
            ok = false;
            break;
        };
        pages.push(pfn);
        let mapped = with_kernel_pgtable(|pt| {
            pt.map(
                start + i * PAGE_SIZE,
                PhysAddr(pfn << 12),
                PAGE_SIZE,
                Prot::PAGE_KERNEL,
                MapFlags::empty(),
            )
        });
        if mapped.is_err() {
            ok = false;
            break;
        }
    }
    if !ok {
        let mapped = pages.len();
        let _ = with_kernel_pgtable(|pt| pt.unmap(start, mapped * PAGE_SIZE));
        for pfn in pages {
            __free_pages(pfn, 0);
        }
        free_vm_area(start);
        if !gfp.contains(Gfp::__GFP_NOWARN) {
            warn!("vmalloc: allocation failure: {size} bytes, mode:{:#x}({gfp})", gfp.bits());
        }
        return None;
    }
    account(&pages, 1);
    if let Some(a) = vmap().lock().find_mut(start) {
        a.pages = pages;
    }
    Some(start)
}

/// Linux: vmalloc.
pub fn vmalloc(size: usize) -> Option<usize> {
    vmalloc_gfp(size, Gfp::GFP_KERNEL)
}

/// Linux: vzalloc.
pub fn vzalloc(size: usize) -> Option<usize> {
    vmalloc_gfp(size, Gfp::GFP_KERNEL | Gfp::__GFP_ZERO)
}

/// Linux: vfree. An address that is not the start of a vmalloc area is
/// reported and ignored.
pub fn vfree(addr: usize) {
    let area = {
        let v = vmap().lock();
        match v.find(addr) {
            Some(a) if a.start == addr && a.kind == VmKind::Vmalloc => a.clone(),
            _ => {
                drop(v);
                warn!("vfree: Trying to vfree() nonexistent vm area ({addr:#x})");
                return;
            }
        }
    };
    // Unmap first (the walker flushes the TLB), then free the pages, then
    // give the range back, so no one can reuse an address still in a TLB.
    let _ = with_kernel_pgtable(|pt| pt.unmap(area.start, area.size()));
    for &pfn in &area.pages {
        __free_pages(pfn, 0);
    }
    account(&area.pages, -1);
    free_vm_area(area.start);
}

/// The PFN a vmalloc address maps (Linux: vmalloc_to_page).
pub fn vmalloc_to_pfn(addr: usize) -> Option<usize> {
    with_kernel_pgtable(|pt| pt.translate(addr)).map(|pa| pa.0 >> 12)
}

/// Pages backing vmalloc areas.
pub fn vmalloc_used_pages() -> usize {
    super::page_alloc::global_node_page_state(NodeStatItem::NrVmallocPages)
}

/// /proc/vmallocinfo.
pub fn show_vmallocinfo() {
    for a in vmap().lock().busy() {
        // Areas carry a guard page, which vmallocinfo counts; reservations do not.
        let guard = if a.kind == VmKind::Reserved { 0 } else { PAGE_SIZE };
        crate::kprint!(
            "{:#018x}-{:#018x} {:>10} {}",
            a.start,
            a.end + guard,
            a.size() + guard,
            a.kind.name()
        );
        // Printed piece by piece: this view must work when memory is short.
        match a.kind {
            VmKind::Vmalloc => kprintln!(" pages={}", a.pages.len()),
            VmKind::Ioremap => kprintln!(" phys={:#x}", a.phys),
            _ => kprintln!(),
        }
    }
}

fn cmd_vmallocinfo(_: &str) {
    show_vmallocinfo();
}

monitor_cmd!(
    MON_VMALLOCINFO,
    "vmallocinfo",
    "vmalloc and ioremap areas (/proc/vmallocinfo)",
    cmd_vmallocinfo
);

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::arch::mm::mmu::at_s1e1r;
    use crate::debug::ktest::{expect_fault, ktest};
    use crate::mm::page_alloc::mem_free_pages;
    use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use pagoda_klib::esr::{Esr, FaultKind};

    const MIB: usize = 1 << 20;
    static LAST: AtomicUsize = AtomicUsize::new(0);

    #[ktest]
    fn vmalloc_1mib_is_contiguous_accessible_and_guarded() {
        let free0 = mem_free_pages();
        let va = vmalloc(MIB).unwrap();
        assert!((VMALLOC_START..VMALLOC_END).contains(&va));
        // Every page is mapped to some physical page, not necessarily contiguous.
        let mut contiguous = true;
        for i in 0..MIB / PAGE_SIZE {
            let pfn = vmalloc_to_pfn(va + i * PAGE_SIZE).expect("hole in a vmalloc area");
            assert_eq!(at_s1e1r(va + i * PAGE_SIZE), Some(pfn << 12));
            if i > 0 && vmalloc_to_pfn(va + (i - 1) * PAGE_SIZE) != Some(pfn - 1) {
                contiguous = false;
            }
        }
        let _ = contiguous; // physically it may or may not be; virtually it is:
                            // SAFETY: the whole MiB is ours and mapped.
        unsafe {
            let words = va as *mut u64;
            for i in 0..MIB / 8 {
                words.add(i).write_volatile(i as u64);
            }
            for i in (0..MIB / 8).step_by(509) {
                assert_eq!(words.add(i).read_volatile(), i as u64);
            }
        }
        // The guard page right after the area faults.
        LAST.store(va + MIB, Relaxed);
        let (esr, far) = expect_fault(|| {
            // SAFETY: deliberately touches the guard page.
            unsafe { (LAST.load(Relaxed) as *const u8).read_volatile() };
        })
        .expect("the guard page is mapped");
        assert!(matches!(Esr(esr).fault_kind(), FaultKind::Translation(_)));
        assert_eq!(far as usize, va + MIB);
        assert!(vmalloc_used_pages() >= 256);
        vfree(va);
        assert_eq!(at_s1e1r(va), None, "still mapped after vfree");
        assert_eq!(mem_free_pages(), free0, "vmalloc leaked pages or page tables");
    }

    #[ktest(should_fault)]
    fn access_after_vfree_faults() {
        let va = vmalloc(MIB).unwrap();
        vfree(va);
        // SAFETY: deliberately reads the freed area.
        unsafe { (va as *const u64).read_volatile() };
    }

    #[ktest]
    fn vzalloc_zeroes_and_bad_vfree_is_refused() {
        let va = vzalloc(3 * PAGE_SIZE + 100).unwrap();
        // SAFETY: 4 pages of ours.
        let bytes = unsafe { core::slice::from_raw_parts(va as *const u8, 4 * PAGE_SIZE) };
        assert!(bytes.iter().all(|&b| b == 0));
        vfree(va + PAGE_SIZE); // not the start: reported, ignored
        assert!(at_s1e1r(va).is_some());
        vfree(va);
        vfree(va); // already gone: reported, ignored
        assert!(vmalloc(0).is_none());
    }
}
