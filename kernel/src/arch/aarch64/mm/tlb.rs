//! TLB maintenance (Linux: arch/arm64/include/asm/tlbflush.h).
//!
//! The rules (Arm ARM D8.13/D8.14, "break-before-make" and the TLB
//! maintenance requirements):
//! - `DSB ISHST` before a TLBI: the page-table store must be visible to the
//!   table walkers of every CPU before we ask them to drop old entries, or a
//!   walker could refetch the old descriptor after the invalidation.
//! - TLBI ... IS: the "inner shareable" forms broadcast to every CPU in the
//!   inner-shareable domain, so one CPU's TLBI covers all of them.
//! - `DSB ISH` after: waits until the invalidation has completed everywhere.
//! - `ISB`: later instructions on this CPU are fetched and translated with
//!   the new tables, not with a context fetched earlier.

use core::arch::asm;

/// Makes new table entries visible to the walker (no TLBI needed when an
/// entry goes from invalid to valid: invalid entries are never cached).
#[inline]
pub fn publish_table_update() {
    // SAFETY: barriers only.
    unsafe { asm!("dsb ishst", "isb", options(nostack)) };
}

/// Invalidates one kernel page on all CPUs, for every ASID (TLBI VAALE1IS).
pub fn flush_tlb_kernel_page(va: usize) {
    let arg = (va >> 12) & ((1 << 44) - 1);
    // SAFETY: TLB maintenance has no memory effects besides translation.
    unsafe {
        asm!("dsb ishst", "tlbi vaale1is, {0}", "dsb ish", "isb", in(reg) arg, options(nostack));
    }
}

/// Above this many pages a range flush invalidates everything instead
/// (Linux: MAX_TLBI_OPS).
const MAX_TLBI_OPS: usize = 512;

/// Invalidates a range of kernel addresses, page by page, or everything if
/// the range is large (Linux: flush_tlb_kernel_range, MAX_TLBI_OPS).
/// With `last_level` only leaf entries go (TLBI VAALE1IS); without it, the
/// walk caches too (TLBI VAAE1IS), which a freed table page needs.
pub fn flush_tlb_kernel_range(start: usize, end: usize, last_level: bool) {
    if end.saturating_sub(start) >> 12 > MAX_TLBI_OPS {
        flush_tlb_all();
        return;
    }
    // SAFETY: as above.
    unsafe { asm!("dsb ishst", options(nostack)) };
    let mut va = start & !0xfff;
    while va < end {
        let arg = (va >> 12) & ((1 << 44) - 1);
        // SAFETY: as above.
        unsafe {
            if last_level {
                asm!("tlbi vaale1is, {0}", in(reg) arg, options(nostack))
            } else {
                asm!("tlbi vaae1is, {0}", in(reg) arg, options(nostack))
            }
        };
        va += 4096;
    }
    // SAFETY: as above.
    unsafe { asm!("dsb ish", "isb", options(nostack)) };
}

/// Invalidates `[start, end)` of address space `asid` on all CPUs, leaf
/// entries only (TLBI VALE1IS) or with walk caches (TLBI VAE1IS), or the
/// whole ASID if the range is large (Linux: __flush_tlb_range).
pub fn flush_tlb_range(asid: u16, start: usize, end: usize, last_level: bool) {
    if end.saturating_sub(start) >> 12 > MAX_TLBI_OPS {
        flush_tlb_mm(asid);
        return;
    }
    // SAFETY: as above.
    unsafe { asm!("dsb ishst", options(nostack)) };
    let mut va = start & !0xfff;
    while va < end {
        let arg = ((asid as usize) << 48) | ((va >> 12) & ((1 << 44) - 1));
        // SAFETY: as above.
        unsafe {
            if last_level {
                asm!("tlbi vale1is, {0}", in(reg) arg, options(nostack))
            } else {
                asm!("tlbi vae1is, {0}", in(reg) arg, options(nostack))
            }
        };
        va += 4096;
    }
    // SAFETY: as above.
    unsafe { asm!("dsb ish", options(nostack)) };
}

/// Invalidates every stage 1 EL1&0 entry on all CPUs (TLBI VMALLE1IS).
pub fn flush_tlb_all() {
    // SAFETY: as above.
    unsafe { asm!("dsb ishst", "tlbi vmalle1is", "dsb ish", "isb", options(nostack)) };
}

/// Invalidates one user page of address space `asid` on all CPUs (TLBI VALE1IS).
pub fn flush_tlb_page(asid: u16, va: usize) {
    let arg = ((asid as usize) << 48) | ((va >> 12) & ((1 << 44) - 1));
    // SAFETY: as above.
    unsafe { asm!("dsb ishst", "tlbi vale1is, {0}", "dsb ish", in(reg) arg, options(nostack)) };
}

/// Invalidates every entry of address space `asid` on all CPUs (TLBI ASIDE1IS).
pub fn flush_tlb_mm(asid: u16) {
    let arg = (asid as usize) << 48;
    // SAFETY: as above.
    unsafe { asm!("dsb ishst", "tlbi aside1is, {0}", "dsb ish", in(reg) arg, options(nostack)) };
}

/// Invalidates every stage 1 EL1&0 entry on this CPU only (TLBI VMALLE1),
/// after an ASID rollover (Linux: local_flush_tlb_all).
pub fn local_flush_tlb_all() {
    // SAFETY: TLB maintenance only. NSH: this CPU only.
    unsafe { asm!("dsb nshst", "tlbi vmalle1", "dsb nsh", "isb", options(nostack)) };
}
