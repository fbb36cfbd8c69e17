//! Per-mm ASIDs and TTBR0 switching (Linux: arch/arm64/mm/context.c).
//! The allocation policy (generations, rollover, reserved ASIDs) is the
//! host-tested pagoda_mm::asid; this file owns the instance and the
//! registers.
//!
//! TTBR0_EL1 holds both the user table and, in bits [63:48], the ASID
//! (TCR_EL1.A1 = 0 selects TTBR0's ASID). With TCR_EL1.AS = 1 ASIDs are 16
//! bits wide, otherwise 8.

use super::tlb;
use crate::sync::SpinLockIrq;
use aarch64_cpu::registers::*;
use core::sync::atomic::{AtomicU64, Ordering};
use pagoda_mm::asid::{AsidAllocator, Switch};
use spin::Once;
use tock_registers::interfaces::{Readable, Writeable};

use crate::kernel::percpu::NR_CPUS;

/// Taken in schedule() with interrupts masked: IRQ-safe (Linux: cpu_asid_lock).
static ASIDS: Once<SpinLockIrq<AsidAllocator<NR_CPUS>>> = Once::new();

/// ASID width of this CPU, as head.S configured TCR_EL1.AS.
pub fn asid_bits() -> u32 {
    if TCR_EL1.is_set(TCR_EL1::AS) {
        16
    } else {
        8
    }
}

/// Sets up the allocator (Linux: asids_init).
pub fn asids_init() {
    let bits = asid_bits();
    ASIDS.call_once(|| SpinLockIrq::new(AsidAllocator::new(bits)));
    log::info!("ASID allocator initialised with {} entries ({bits}-bit ASIDs)", (1usize << bits) - 1);
}

/// Installs a user table for `ctx` (an mm's context id; 0 for a new mm) on
/// `cpu`, flushing this CPU's TLB first if the ASID generation rolled over
/// (Linux: check_and_switch_context + cpu_switch_mm).
///
/// `ctx` is read and updated under the allocator's lock, so two CPUs
/// switching to the same new mm at once agree on one ASID.
pub fn check_and_switch_context(ctx: &AtomicU64, pgd_pa: usize, cpu: usize) -> Switch {
    let sw = {
        let mut asids = ASIDS.get().expect("asids_init not called").lock();
        let mut id = ctx.load(Ordering::Relaxed);
        let sw = asids.check_and_switch(&mut id, cpu);
        ctx.store(id, Ordering::Relaxed);
        sw
    };
    if sw.flush_local_tlb {
        tlb::local_flush_tlb_all();
    }
    TTBR0_EL1.set(((sw.asid as u64) << 48) | pgd_pa as u64);
    // SAFETY: barrier only; later accesses use the new TTBR0.
    unsafe { core::arch::asm!("isb", options(nostack)) };
    sw
}

/// Leaves user space on `cpu`: TTBR0 back to the empty reserved table, ASID 0
/// (Linux: cpu_set_reserved_ttbr0).
pub fn switch_to_reserved(cpu: usize) {
    TTBR0_EL1.set(super::mmu::reserved_pg_dir_pa().0 as u64);
    // SAFETY: barrier only.
    unsafe { core::arch::asm!("isb", options(nostack)) };
    if let Some(a) = ASIDS.get() {
        a.lock().deactivate(cpu);
    }
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

    #[ktest]
    fn switching_context_puts_the_asid_in_ttbr0() {
        crate::sched::leave_mm(); // this test installs tables itself
        let pgd = super::super::mmu::reserved_pg_dir_pa().0; // any empty table will do
        let (a, b) = (AtomicU64::new(0), AtomicU64::new(0));
        let sa = check_and_switch_context(&a, pgd, 0);
        assert_eq!(TTBR0_EL1.get() >> 48, sa.asid as u64);
        let sb = check_and_switch_context(&b, pgd, 0);
        assert_ne!(sa.asid, sb.asid);
        assert_ne!(sa.asid, 0);
        // Coming back keeps the same ASID.
        assert_eq!(check_and_switch_context(&a, pgd, 0).asid, sa.asid);
        switch_to_reserved(0);
        assert_eq!(TTBR0_EL1.get() >> 48, 0);
    }

    /// A user-space mapping under an ASID, retargeted and flushed by ASID:
    /// after flush_tlb_page / flush_tlb_mm the CPU sees the new page.
    #[ktest]
    fn tlb_flush_by_asid_makes_a_changed_mapping_visible() {
        use crate::arch::mm::layout::phys_to_virt;
        use crate::arch::mm::mmu::KernelPgtableMem;
        use crate::mm::page_alloc::{__free_pages, alloc_pages};
        use pagoda_mm::addr::PhysAddr;
        use pagoda_mm::gfp::Gfp;
        use pagoda_mm::pgtable::{MapFlags, PageTable, PageTableMem, Prot};

        const UVA: usize = 0x0000_0040_0000_0000;
        crate::sched::leave_mm(); // this test installs tables itself
        let user = Prot::READ | Prot::WRITE | Prot::USER;
        let mut mem = KernelPgtableMem;
        let pgd = mem.alloc_table().unwrap();
        let pages = alloc_pages(Gfp::GFP_KERNEL, 1).unwrap() << 12;
        // SAFETY: two fresh pages, through the linear map.
        unsafe {
            (phys_to_virt(pages) as *mut u64).write(0xaaaa);
            (phys_to_virt(pages + 4096) as *mut u64).write(0xbbbb);
        }
        let read = || {
            // SAFETY: UVA is mapped in the installed TTBR0 table; PAN is off.
            unsafe { (UVA as *const u64).read_volatile() }
        };
        let ctx = AtomicU64::new(0);
        PageTable::new(pgd, &mut mem).map(UVA, PhysAddr(pages), 4096, user, MapFlags::empty()).unwrap();
        let asid = check_and_switch_context(&ctx, pgd.0, 0).asid;
        assert_eq!(read(), 0xaaaa);
        // Retarget without the walker's flush, then flush by (ASID, VA).
        let retarget = |mem: &mut KernelPgtableMem, to: usize| {
            let mut pt = PageTable::new(pgd, mem);
            let w = pt.walk(UVA);
            let s = w.steps[3];
            let pte = pagoda_mm::pgtable::desc::mk_leaf(to, user, 3);
            // SAFETY: the PTE slot of the table we own.
            unsafe { (phys_to_virt(s.table) as *mut u64).add(s.index).write_volatile(pte) };
        };
        retarget(&mut mem, pages + 4096);
        tlb::flush_tlb_page(asid, UVA);
        assert_eq!(read(), 0xbbbb);
        retarget(&mut mem, pages);
        tlb::flush_tlb_mm(asid);
        assert_eq!(read(), 0xaaaa);
        // The range flush by ASID, leaf-only and with walk caches.
        retarget(&mut mem, pages + 4096);
        tlb::flush_tlb_range(asid, UVA, UVA + 4096, true);
        assert_eq!(read(), 0xbbbb);
        retarget(&mut mem, pages);
        tlb::flush_tlb_range(asid, UVA, UVA + 4096, false);
        assert_eq!(read(), 0xaaaa);
        switch_to_reserved(0);
        PageTable::new(pgd, &mut mem).unmap(UVA, 4096).unwrap();
        mem.free_table(pgd);
        __free_pages(pages >> 12, 1);
    }
}
