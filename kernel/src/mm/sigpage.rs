//! The signal-return trampoline, a special mapping (Linux: the arm64 vDSO's
//! `__kernel_rt_sigreturn`, mapped by arch/arm64/kernel/vdso.c through
//! mm/mmap.c `_install_special_mapping` and `special_mapping_fault`).
//!
//! One read-only executable page holds `mov x8, #139 (rt_sigreturn);
//! svc #0`. A signal handler installed without SA_RESTORER (glibc on
//! arm64 never sets it) returns there. As with Linux's vDSO, the page is
//! made once and shared by every process: exec maps a VMA for it at
//! mmap_base, and its first use faults the page in through the VMA's
//! `vm_ops`, so it comes back even after MADV_DONTNEED. It counts in
//! MM_FILEPAGES and stays outside the mapcounts, as a special mapping.

use super::memory::FaultError;
use super::mm_types::MmStruct;
use super::vma::{MmMap, VmFault, VmFlags, VmOperations, Vma};
use core::sync::atomic::{AtomicUsize, Ordering};
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::addr::PAGE_SIZE;
use pagoda_mm::gfp::Gfp;

/// The trampoline's page frame; 0 until the first exec makes it.
static SIGPAGE_PFN: AtomicUsize = AtomicUsize::new(0);

/// Whether `pfn` is the trampoline's page.
pub fn is_sigpage(pfn: usize) -> bool {
    pfn != 0 && pfn == SIGPAGE_PFN.load(Ordering::Acquire)
}

/// The trampoline's page, written the first time.
fn sigpage_pfn() -> Result<usize, Errno> {
    const MOV_X8_139: u32 = 0xd280_1168;
    const SVC_0: u32 = 0xd400_0001;
    let pfn = SIGPAGE_PFN.load(Ordering::Acquire);
    if pfn != 0 {
        return Ok(pfn);
    }
    let pfn =
        super::page_alloc::alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_ZERO, 0).map_err(|_| Errno::ENOMEM)?;
    let kva = super::page_alloc::page_address(pfn);
    // SAFETY: a fresh page of our own, through the linear map.
    unsafe {
        (kva as *mut u32).write(MOV_X8_139);
        ((kva + 4) as *mut u32).write(SVC_0);
        // The instructions were written as data: make them visible to
        // instruction fetch (clean to the point of unification, then
        // invalidate the instruction caches).
        core::arch::asm!("dc cvau, {0}", "dsb ish", "ic ialluis", "dsb ish", "isb", in(reg) kva, options(nostack));
    }
    match SIGPAGE_PFN.compare_exchange(0, pfn, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Ok(pfn),
        Err(winner) => {
            super::page_alloc::put_page(pfn); // another CPU made it first
            Ok(winner)
        }
    }
}

/// Faults on the trampoline's VMA (Linux: special_mapping_vmops).
struct SigpageVmOps;

impl VmOperations for SigpageVmOps {
    /// The trampoline page, with a reference for the new mapping (Linux:
    /// special_mapping_fault); SIGBUS past its one page.
    fn fault(&self, _mm: &MmStruct, vma: &Vma, vmf: &VmFault) -> Result<usize, FaultError> {
        if vmf.pgoff != vma.pgoff {
            return Err(FaultError::SigBus);
        }
        let pfn = sigpage_pfn().map_err(|_| FaultError::Oom)?;
        super::page_alloc::get_page(pfn);
        Ok(pfn)
    }
}

static SIGPAGE_VM_OPS: SigpageVmOps = SigpageVmOps;

/// Maps the trampoline's VMA at mmap_base for a new program (Linux:
/// arch_setup_additional_pages). The page itself is made now if it does
/// not exist yet, so that a fault on it cannot fail for want of memory.
pub fn install_sigpage(map: &mut MmMap) -> KResult<()> {
    sigpage_pfn()?;
    let at = map.mmap_base;
    // A special mapping: never merged or expanded (Linux: VM_DONTEXPAND
    // from _install_special_mapping). VM_MAYWRITE as Linux's vDSO has it:
    // a debugger may write a breakpoint there (the write copies the page).
    let flags = VmFlags::READ
        | VmFlags::EXEC
        | VmFlags::MAYREAD
        | VmFlags::MAYWRITE
        | VmFlags::MAYEXEC
        | VmFlags::DONTEXPAND;
    let vma = Vma { vm_ops: Some(&SIGPAGE_VM_OPS), pgoff: 0, ..Vma::anon(flags, at) };
    map.insert_vma(at, at + PAGE_SIZE, vma)?;
    map.sigpage = at;
    Ok(())
}
