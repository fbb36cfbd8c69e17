//! Clearing and copying whole pages (Linux: arch/arm64/lib/clear_page.S).
//!
//! `DC ZVA` zeroes one block of memory (its size is in DCZID_EL0, 64 bytes
//! on the Cortex-A72) in a single instruction, so a page takes 64 of them
//! instead of 512 stores. The kernel is built soft-float, so this is also
//! the only way it has to write more than 8 bytes at once.

/// Zeroes the page-aligned `len` bytes at kernel address `va` (Linux:
/// clear_page).
///
/// # Safety
/// `[va, va + len)` must be writable Normal memory the caller owns, `va`
/// page-aligned and `len` a multiple of the page size.
pub unsafe fn clear_pages(va: usize, len: usize) {
    let dczid: u64;
    // SAFETY: reading an identification register has no side effect.
    unsafe { core::arch::asm!("mrs {0}, dczid_el0", out(reg) dczid, options(nomem, nostack)) };
    // DZP set: DC ZVA is prohibited; fall back to plain stores.
    if dczid & (1 << 4) != 0 {
        // SAFETY: per the contract.
        unsafe { core::ptr::write_bytes(va as *mut u8, 0, len) };
        return;
    }
    let block = 4usize << (dczid & 0xf);
    let mut at = va;
    while at < va + len {
        // SAFETY: `at` is inside the caller's range, aligned to the block
        // size (the range is page-aligned and blocks divide pages).
        unsafe { core::arch::asm!("dc zva, {0}", in(reg) at, options(nostack)) };
        at += block;
    }
}
