//! Overcommit accounting (Linux: mm/util.c __vm_enough_memory,
//! vm_commit_limit; include/linux/mman.h vm_acct_memory).
//!
//! Private writable mappings promise memory that is only taken when the
//! pages are touched. Linux counts the promise in Committed_AS and, by
//! vm.overcommit_memory, decides whether to make a new one:
//!
//! - 0 (heuristic, the default): refuse only a single request larger than
//!   all of RAM and swap;
//! - 1 (always): never refuse;
//! - 2 (never): refuse once Committed_AS would pass CommitLimit, which is
//!   swap plus overcommit_ratio percent (50) of RAM.
//!
//! A mapping is accounted (VM_ACCOUNT) if it is private and writable, or
//! shared, and not MAP_NORESERVE; unmapping it gives the pages back. Every process runs
//! as root, so Linux's admin reserve is not held back from it.
//! `/proc/sys/vm/overcommit_*` come with procfs; until then the monitor's
//! `sysctl` sets them.

use super::vma::VmFlags;
use core::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::*};
use pagoda_klib::errno::{Errno, KResult};

pub const OVERCOMMIT_GUESS: usize = 0;
pub const OVERCOMMIT_ALWAYS: usize = 1;
pub const OVERCOMMIT_NEVER: usize = 2;

/// vm.overcommit_memory and vm.overcommit_ratio.
pub static OVERCOMMIT_MEMORY: AtomicUsize = AtomicUsize::new(OVERCOMMIT_GUESS);
pub static OVERCOMMIT_RATIO: AtomicUsize = AtomicUsize::new(50);

/// Pages promised to private writable mappings (Linux: vm_committed_as).
static COMMITTED: AtomicIsize = AtomicIsize::new(0);

/// Committed_AS, in pages.
pub fn committed_as() -> usize {
    COMMITTED.load(Relaxed).max(0) as usize
}

/// CommitLimit, in pages (Linux: vm_commit_limit).
pub fn vm_commit_limit() -> usize {
    let ram = super::page_alloc::page_allocator().totalram_pages();
    ram * OVERCOMMIT_RATIO.load(Relaxed) / 100 + super::swapfile::total_swap_pages()
}

pub fn vm_acct_memory(pages: usize) {
    COMMITTED.fetch_add(pages as isize, Relaxed);
}

pub fn vm_unacct_memory(pages: usize) {
    COMMITTED.fetch_sub(pages as isize, Relaxed);
}

/// Whether an anonymous mapping with these flags is accounted: private
/// writable memory (Linux: accountable_mapping), and shared memory, which
/// Linux charges whole when it makes the shmem object behind it
/// (shmem_acct_size), writable or not; MAP_NORESERVE exempts both.
pub fn accountable(flags: VmFlags) -> bool {
    if flags.contains(VmFlags::NORESERVE) {
        return false;
    }
    flags.contains(VmFlags::SHARED) || flags.contains(VmFlags::WRITE)
}

/// Charges `pages` to Committed_AS if the policy allows it; ENOMEM if not
/// (Linux: __vm_enough_memory).
pub fn vm_enough_memory(pages: usize) -> KResult<()> {
    vm_acct_memory(pages);
    let ok = match OVERCOMMIT_MEMORY.load(Relaxed) {
        OVERCOMMIT_ALWAYS => true,
        OVERCOMMIT_NEVER => committed_as() <= vm_commit_limit(),
        _ => {
            let ram = super::page_alloc::page_allocator().totalram_pages();
            pages <= ram + super::swapfile::total_swap_pages()
        }
    };
    if ok {
        Ok(())
    } else {
        vm_unacct_memory(pages);
        Err(Errno::ENOMEM)
    }
}

/// The vm settings the monitor's sysctl shows and sets, with the largest
/// value each takes (Linux: vm_table's proc_dointvec_minmax bounds).
fn vm_knobs() -> [(&'static str, &'static AtomicUsize, usize); 5] {
    [
        ("vm.overcommit_memory", &OVERCOMMIT_MEMORY, 2),
        ("vm.overcommit_ratio", &OVERCOMMIT_RATIO, usize::MAX),
        ("vm.page-cluster", &super::swap_state::PAGE_CLUSTER, 31),
        ("vm.panic_on_oom", &super::oom_kill::SYSCTL_PANIC_ON_OOM, 2),
        ("vm.swappiness", &super::vmscan::SWAPPINESS, 200),
    ]
}

fn cmd_sysctl(args: &str) {
    let show = || {
        crate::kprintln!(
            "kernel.randomize_va_space = {}",
            super::randomize::RANDOMIZE_VA_SPACE.load(Relaxed)
        );
        for (name, value, _) in vm_knobs() {
            crate::kprintln!("{name} = {}", value.load(Relaxed));
        }
    };
    let Some((key, value)) = args.trim().split_once('=') else { return show() };
    let Ok(v) = value.trim().parse::<usize>() else {
        return crate::kprintln!("sysctl: {}: not a number", value.trim());
    };
    let key = key.trim();
    if !super::randomize::sysctl(key, v) {
        match vm_knobs().into_iter().find(|k| k.0 == key && v <= k.2) {
            Some((_, value, _)) => value.store(v, Relaxed),
            None => return crate::kprintln!("sysctl: {key}={v}: not a setting Pagoda has, or out of range"),
        }
    }
    show();
}

crate::monitor_cmd!(
    MON_SYSCTL,
    "sysctl",
    "sysctl [KEY=N]: show or set vm.overcommit_*, vm.swappiness, vm.page-cluster, vm.panic_on_oom, kernel.randomize_va_space",
    cmd_sysctl
);
