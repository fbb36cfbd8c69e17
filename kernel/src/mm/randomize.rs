//! Address-space layout randomisation (Linux: mm/util.c randomize_page,
//! arch_mmap_rnd, mmap_base via arch_pick_mmap_layout; fs/binfmt_elf.c
//! randomize_stack_top; arch/arm64/kernel/process.c arch_randomize_brk).
//!
//! At exec, with `kernel.randomize_va_space` 2 (the default), as on arm64
//! Linux with 4 KiB pages:
//!
//! - the stack top moves down by a random number of pages, up to 1 GiB
//!   (STACK_RND_MASK 0x3ffff pages);
//! - mmap_base, below the stack and its gap, moves by up to 2^18 pages
//!   (mmap_rnd_bits 18), and the signal trampoline page with it;
//! - the heap starts a random number of pages, up to 1 GiB, above the end
//!   of the program (randomize_va_space 2 only);
//! - a static-pie program is loaded at ELF_ET_DYN_BASE plus the same kind
//!   of mmap offset.
//!
//! `norandmaps` on the command line sets randomize_va_space to 0 (the
//! monitor's `sysctl kernel.randomize_va_space=N` too), and every address
//! is then the same on every run, which debugging likes. The random
//! numbers come from a generator seeded with the boot loader's rng-seed
//! and the counter: unpredictable enough for a teaching kernel, not for
//! security.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use pagoda_mm::addr::PAGE_SIZE;

/// kernel.randomize_va_space: 0 off, 1 stack/mmap/vdso, 2 also brk.
pub static RANDOMIZE_VA_SPACE: AtomicUsize = AtomicUsize::new(2);

/// Pages the stack top may move (Linux arm64: STACK_RND_MASK, 4K pages).
pub const STACK_RND_MASK: usize = 0x3ffff;
/// Bits of mmap_base randomness (Linux: mmap_rnd_bits, arm64's default).
pub const MMAP_RND_BITS: usize = 18;
/// The range the heap start may move by (arm64's arch_randomize_brk).
const BRK_RND_RANGE: usize = 1 << 30;

static STATE: AtomicU64 = AtomicU64::new(0);

/// Reads `norandmaps` from the command line, at boot.
pub fn randomize_init(cmdline: &str) {
    // The boot loader's random bytes, so that layouts differ between
    // boots too (the counter alone starts the same way each time).
    if let Some(seed) = crate::drivers::devicetree::rng_seed() {
        STATE.fetch_xor(seed, Relaxed);
    }
    if pagoda_klib::cmdline::has(cmdline, "norandmaps") {
        RANDOMIZE_VA_SPACE.store(0, Relaxed);
        log::info!("norandmaps: address-space randomisation is off");
    }
}

/// Whether exec randomises at level `level` or above.
pub fn enabled(level: usize) -> bool {
    RANDOMIZE_VA_SPACE.load(Relaxed) >= level
}

/// A random 64-bit number (Linux: get_random_long).
pub fn get_random_long() -> u64 {
    let mixed = STATE.load(Relaxed) ^ crate::arch::time::counter().rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
    let mut g = pagoda_klib::rand::XorShift64::new(mixed);
    let v = g.next_u64();
    STATE.store(v, Relaxed);
    v
}

/// The stack top, moved down by up to STACK_RND_MASK pages (Linux:
/// randomize_stack_top).
pub fn randomize_stack_top(top: usize) -> usize {
    if !enabled(1) {
        return top;
    }
    top - ((get_random_long() as usize & STACK_RND_MASK) << 12)
}

/// A random, page-aligned offset for mmap_base (Linux: arch_mmap_rnd).
pub fn arch_mmap_rnd() -> usize {
    if !enabled(1) {
        return 0;
    }
    (get_random_long() as usize & ((1 << MMAP_RND_BITS) - 1)) << 12
}

/// A random page-aligned address in `[start, start + range)` (Linux:
/// randomize_page).
fn randomize_page(start: usize, range: usize) -> usize {
    start + ((get_random_long() as usize % (range / PAGE_SIZE)) << 12)
}

/// Where the heap starts (Linux: arch_randomize_brk, only with
/// randomize_va_space 2).
pub fn arch_randomize_brk(brk: usize) -> usize {
    if !enabled(2) {
        return brk;
    }
    randomize_page(brk, BRK_RND_RANGE)
}

fn cmd_show() {
    crate::kprintln!("kernel.randomize_va_space = {}", RANDOMIZE_VA_SPACE.load(Relaxed));
}

/// The monitor's `sysctl kernel.randomize_va_space=N`.
pub fn sysctl(key: &str, v: usize) -> bool {
    if key == "kernel.randomize_va_space" && v <= 2 {
        RANDOMIZE_VA_SPACE.store(v, Relaxed);
        cmd_show();
        return true;
    }
    false
}
