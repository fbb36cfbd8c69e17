//! Swap space accounting (Linux: mm/swapfile.c total_swap_pages and
//! nr_swap_pages). Swap areas arrive with reclaim; until a swap device is
//! added with swapon both counters stay 0, which is what meminfo's SwapTotal
//! and SwapFree read.

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Pages of swap space on every active swap area.
pub static TOTAL_SWAP_PAGES: AtomicUsize = AtomicUsize::new(0);
/// Of those, the pages not holding a swapped-out page.
pub static NR_SWAP_PAGES: AtomicUsize = AtomicUsize::new(0);

pub fn total_swap_pages() -> usize {
    TOTAL_SWAP_PAGES.load(Relaxed)
}

pub fn nr_swap_pages() -> usize {
    NR_SWAP_PAGES.load(Relaxed)
}
