//! Swap devices (Linux: mm/swapfile.c swapon, swapoff, get_swap_page,
//! swap_duplicate, swap_free, free_swap_and_cache, swap_show; mm/page_io.c
//! swap_writepage, swap_readpage).
//!
//! A swap device is a disk prepared by `mkswap`: page 0 holds the header
//! (the "SWAPSPACE2" signature in its last ten bytes, the last usable page,
//! the bad pages), every other page is a slot for one swapped-out page.
//! `swapon(2)` reads the header and adds the device with a priority;
//! reclaim takes slots from the highest-priority device that has any
//! (round robin among equal ones). Which slot holds what, and how many
//! PTEs still point at it, is the device's `SwapMap` (libs/mm/swap_map.rs).
//!
//! A swapped-out page is named by a swap entry (type = the device's index
//! in `swap_info`, offset = the slot), which is what its PTEs hold
//! (arch pgtable.rs's encoding), and which a page in the swap cache keeps
//! in `private`.
//!
//! Differences from Linux: only whole disks, not swap files (Pagoda's
//! writable filesystems live in RAM); no discard, no swap extents (a disk
//! is one extent); at most `MAX_SWAPFILES` (8) devices.

use crate::block::{rw_pages_sync, submit_bio, Bio, BlockDevice, ReqOp};
use crate::sync::SpinLockIrq;
use alloc::string::String;
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering::*};
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::pgtable::{Pte, SwpEntry};
use pagoda_mm::swap_map::{SwapMap, SwapMapError, Usage};

/// Pages of swap space on every active swap area.
pub static TOTAL_SWAP_PAGES: AtomicUsize = AtomicUsize::new(0);
/// Of those, the pages not holding a swapped-out page.
pub static NR_SWAP_PAGES: AtomicUsize = AtomicUsize::new(0);
/// Pages written to and read from swap (vmstat pswpout, pswpin).
pub static PSWPOUT: AtomicUsize = AtomicUsize::new(0);
pub static PSWPIN: AtomicUsize = AtomicUsize::new(0);

pub fn total_swap_pages() -> usize {
    TOTAL_SWAP_PAGES.load(Relaxed)
}

pub fn nr_swap_pages() -> usize {
    NR_SWAP_PAGES.load(Relaxed)
}

/// Swap devices at once (Linux allows MAX_SWAPFILES, 32 or so).
pub const MAX_SWAPFILES: usize = 8;

/// swapon(2)'s flags (Linux: SWAP_FLAG_*).
pub const SWAP_FLAG_PREFER: usize = 0x8000;
pub const SWAP_FLAG_PRIO_MASK: usize = 0x7fff;
pub const SWAP_FLAG_DISCARD: usize = 0x10000;
const SWAP_FLAGS_VALID: usize = SWAP_FLAG_PRIO_MASK | SWAP_FLAG_PREFER | SWAP_FLAG_DISCARD | 0x60000;

/// One active swap device (Linux: struct swap_info_struct).
pub struct SwapInfo {
    /// Its index: the type of its swap entries.
    pub ty: usize,
    pub prio: i32,
    pub bdev: &'static BlockDevice,
    /// The path swapon was given, for /proc/swaps.
    pub path: String,
    /// Slot counts, the cluster allocator and the swap cache of this
    /// device (slot -> page; Linux: the swapper_spaces address_spaces).
    pub(super) map: SpinLockIrq<SwapMap>,
    /// New slots may be taken (Linux: SWP_WRITEOK); cleared by swapoff.
    writeok: core::sync::atomic::AtomicBool,
}

static SWAP_INFO: SpinLockIrq<[Option<Arc<SwapInfo>>; MAX_SWAPFILES]> =
    SpinLockIrq::new([const { None }; MAX_SWAPFILES]);
/// The priority of the next swapon without SWAP_FLAG_PREFER (Linux:
/// least_priority, counting down from -1).
static LEAST_PRIORITY: AtomicI32 = AtomicI32::new(-1);
/// Round robin among devices of equal priority.
static NEXT_ROTOR: AtomicUsize = AtomicUsize::new(0);

/// The device of swap type `ty` (Linux: get_swap_device).
pub fn swap_info(ty: usize) -> Option<Arc<SwapInfo>> {
    SWAP_INFO.lock().get(ty)?.clone()
}

/// The value a page's `private` holds for `e` while in the swap cache:
/// the swap PTE's bits, never 0.
pub fn swp_to_raw(e: SwpEntry) -> u64 {
    Pte::from_swp_entry(e).0
}

pub fn raw_to_swp(raw: u64) -> Option<SwpEntry> {
    Pte(raw).to_swp_entry()
}

/// A free slot on the best device, for a page about to be swapped out,
/// with the swap cache's use of it taken (Linux: folio_alloc_swap ->
/// get_swap_pages). None when every device is full.
pub fn get_swap_page() -> Option<SwpEntry> {
    let cpu = crate::kernel::percpu::smp_processor_id();
    let devices = SWAP_INFO.lock().clone();
    let mut order: [Option<&Arc<SwapInfo>>; MAX_SWAPFILES] = [None; MAX_SWAPFILES];
    for (slot, si) in order.iter_mut().zip(devices.iter()) {
        *slot = si.as_ref().filter(|si| si.writeok.load(Acquire));
    }
    // Highest priority first; equal ones starting at a rotating point.
    let rotor = NEXT_ROTOR.fetch_add(1, Relaxed);
    order.sort_by_key(|si| core::cmp::Reverse(si.map(|s| s.prio)));
    let n = order.iter().flatten().count();
    let mut i = 0;
    while i < n {
        let prio = order[i].map(|s| s.prio);
        let same = order[i..n].iter().take_while(|s| s.map(|s| s.prio) == prio).count();
        for k in 0..same {
            let si = order[i + (rotor + k) % same].expect("counted above");
            if let Some(slot) = si.map.lock().alloc(cpu) {
                NR_SWAP_PAGES.fetch_sub(1, Relaxed);
                return Some(SwpEntry::new(si.ty, slot as u64));
            }
        }
        i += same;
    }
    None
}

/// Drops one use of `e`'s slot; counts the slot free again if it was the
/// last (Linux: __swap_entry_free + swap_entry_free).
fn put_swap(e: SwpEntry, usage: Usage) {
    let Some(si) = swap_info(e.swp_type) else {
        log::error!("swap_free: Bad swap file entry {:#x}", swp_to_raw(e));
        return;
    };
    // A device being swapped off left the counts already: its slots are
    // not free space any more.
    if si.map.lock().put(e.offset as usize, usage) && si.writeok.load(Acquire) {
        NR_SWAP_PAGES.fetch_add(1, Relaxed);
    }
}

/// A PTE (or a copy of one, at fork) stops holding `e` (Linux: swap_free).
pub fn swap_free(e: SwpEntry) {
    put_swap(e, Usage::Map);
}

/// The swap cache lets go of `e` (Linux: put_swap_folio).
pub fn swapcache_free(e: SwpEntry) {
    put_swap(e, Usage::Cache);
}

/// One more PTE holds `e` (Linux: swap_duplicate). ENOENT for a stale
/// entry, ENOMEM when the count is full.
pub fn swap_duplicate(e: SwpEntry) -> KResult<()> {
    let si = swap_info(e.swp_type).ok_or(Errno::ENOENT)?;
    let r = si.map.lock().duplicate(e.offset as usize);
    r.map_err(|err| match err {
        SwapMapError::TooMany => Errno::ENOMEM,
        _ => Errno::ENOENT,
    })
}

/// Claims the swap cache for `e` before reading it in (Linux:
/// swapcache_prepare): EEXIST if a page for it is there or on its way,
/// ENOENT if the entry was freed meanwhile.
pub fn swapcache_prepare(e: SwpEntry) -> KResult<()> {
    let si = swap_info(e.swp_type).ok_or(Errno::ENOENT)?;
    let r = si.map.lock().cache_prepare(e.offset as usize);
    r.map_err(|err| match err {
        SwapMapError::Exists => Errno::EEXIST,
        _ => Errno::ENOENT,
    })
}

/// How many PTEs hold `e` (Linux: __swap_count).
pub fn swap_count(e: SwpEntry) -> usize {
    swap_info(e.swp_type).map_or(0, |si| si.map.lock().count(e.offset as usize))
}

/// The sector of slot `offset`.
fn slot_sector(offset: u64) -> u64 {
    offset * (pagoda_mm::addr::PAGE_SIZE as u64 / crate::block::SECTOR_SIZE as u64)
}

/// Swap reads and writes on their way to a disk, and their limit.
static SWAP_IO_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
const SWAP_IO_MAX: usize = 128;
static SWAP_IO_WAIT: crate::sched::WaitQueue = crate::sched::WaitQueue::new();

/// Reads or writes page `pfn` at `e`'s slot; `done(ok)` runs when the
/// disk is done, maybe in interrupt context (Linux: swap_writepage ->
/// __swap_writepage, swap_readpage).
fn swap_io(op: ReqOp, pfn: usize, e: SwpEntry, done: impl FnOnce(bool) + Send + 'static) -> KResult<()> {
    let si = swap_info(e.swp_type).ok_or(Errno::ENOENT)?;
    let mut b = Bio::new(si.bdev.disk.clone(), op, slot_sector(e.offset));
    b.add_page(pfn, pagoda_mm::addr::PAGE_SIZE, 0)?;
    // Reclaim can start writes far faster than a disk takes them: past
    // SWAP_IO_MAX in flight the submitter waits, as Linux's does for a
    // free request of the disk's queue (and reclaim_throttle).
    SWAP_IO_WAIT.wait_event(|| SWAP_IO_IN_FLIGHT.load(Acquire) < SWAP_IO_MAX);
    SWAP_IO_IN_FLIGHT.fetch_add(1, AcqRel);
    b.set_end_io(alloc::boxed::Box::new(move |_: &Bio, r: KResult<()>| {
        SWAP_IO_IN_FLIGHT.fetch_sub(1, AcqRel);
        SWAP_IO_WAIT.wake_up();
        done(r.is_ok())
    }));
    if op == ReqOp::Read { &PSWPIN } else { &PSWPOUT }.fetch_add(1, Relaxed);
    submit_bio(b);
    Ok(())
}

pub fn swap_writepage(pfn: usize, e: SwpEntry, done: impl FnOnce(bool) + Send + 'static) -> KResult<()> {
    swap_io(ReqOp::Write, pfn, e, done)
}

pub fn swap_readpage(pfn: usize, e: SwpEntry, done: impl FnOnce(bool) + Send + 'static) -> KResult<()> {
    swap_io(ReqOp::Read, pfn, e, done)
}

// ---- swapon and swapoff ----

/// What mkswap wrote in page 0 (Linux: union swap_header).
struct SwapHeader {
    last_page: u32,
    bad: alloc::vec::Vec<usize>,
}

const SWAP_SIGNATURE: &[u8; 10] = b"SWAPSPACE2";
/// The most bad pages a header may list (Linux: MAX_SWAP_BADPAGES).
const MAX_SWAP_BADPAGES: usize = (4096 - 1536 - 10) / 4;

fn parse_header(page: &[u8]) -> KResult<SwapHeader> {
    let word = |at: usize| u32::from_le_bytes([page[at], page[at + 1], page[at + 2], page[at + 3]]);
    if &page[4086..4096] != SWAP_SIGNATURE {
        log::error!("Unable to find swap-space signature");
        return Err(Errno::EINVAL);
    }
    let version = word(1024);
    if version != 1 {
        log::warn!("Unable to handle swap header version {version}");
        return Err(Errno::EINVAL);
    }
    let last_page = word(1028);
    let nr_bad = word(1032) as usize;
    if nr_bad > MAX_SWAP_BADPAGES {
        return Err(Errno::EINVAL);
    }
    let mut bad = alloc::vec::Vec::new();
    bad.try_reserve_exact(nr_bad).map_err(|_| Errno::ENOMEM)?;
    for i in 0..nr_bad {
        let b = word(1536 + 4 * i);
        if b == 0 || b > last_page {
            return Err(Errno::EINVAL);
        }
        bad.push(b as usize);
    }
    Ok(SwapHeader { last_page, bad })
}

/// Reads page 0 of `bdev`, past its page cache.
fn read_header(bdev: &'static BlockDevice) -> KResult<SwapHeader> {
    use pagoda_mm::gfp::Gfp;
    let pfn = super::page_alloc::alloc_pages(Gfp::GFP_KERNEL, 0).map_err(|_| Errno::ENOMEM)?;
    let r = rw_pages_sync(&bdev.disk, ReqOp::Read, 0, &[pfn]).and_then(|()| {
        // SAFETY: a page of our own, through the linear map.
        let bytes = unsafe {
            core::slice::from_raw_parts(
                super::page_alloc::page_address(pfn) as *const u8,
                pagoda_mm::addr::PAGE_SIZE,
            )
        };
        parse_header(bytes)
    });
    super::page_alloc::put_page(pfn);
    r
}

/// Adds the disk at `path` as swap (Linux: sys_swapon). EINVAL for bad
/// flags, a file that is not a disk, or no mkswap signature; EBUSY if it
/// is swap already; EPERM when every swap type is taken.
pub fn do_swapon(path: &str, flags: usize) -> KResult<()> {
    if flags & !SWAP_FLAGS_VALID != 0 {
        return Err(Errno::EINVAL);
    }
    // Not a disk: Linux takes regular files too, Pagoda does not.
    let bdev =
        crate::fs::lookup_blkdev(path).map_err(|e| if e == Errno::ENOTBLK { Errno::EINVAL } else { e })?;
    if SWAP_INFO.lock().iter().flatten().any(|si| core::ptr::eq(si.bdev, bdev)) {
        return Err(Errno::EBUSY);
    }
    if bdev.disk.read_only {
        return Err(Errno::EPERM);
    }
    let hdr = read_header(bdev)?;
    let dev_pages = (bdev.size() / pagoda_mm::addr::PAGE_SIZE as u64) as usize;
    let mut maxpages = hdr.last_page as usize + 1;
    if maxpages > dev_pages {
        log::warn!("Truncating oversized swap area, only using {}k out of {}k", dev_pages * 4, maxpages * 4);
        maxpages = dev_pages;
    }
    let map = SwapMap::new(maxpages, &hdr.bad, crate::kernel::percpu::NR_CPUS).ok_or_else(|| {
        log::warn!("Empty swap-file");
        Errno::EINVAL
    })?;
    let prio = if flags & SWAP_FLAG_PREFER != 0 {
        (flags & SWAP_FLAG_PRIO_MASK) as i32
    } else {
        LEAST_PRIORITY.fetch_sub(1, Relaxed) - 1
    };
    let pages = map.pages();
    let mut name = String::new();
    name.try_reserve_exact(path.len()).map_err(|_| Errno::ENOMEM)?;
    name.push_str(path);
    let mut table = SWAP_INFO.lock();
    if table.iter().flatten().any(|si| core::ptr::eq(si.bdev, bdev)) {
        return Err(Errno::EBUSY);
    }
    let ty = table.iter().position(|s| s.is_none()).ok_or(Errno::EPERM)?;
    let si = Arc::try_new(SwapInfo {
        ty,
        prio,
        bdev,
        path: name,
        map: SpinLockIrq::new(map),
        writeok: core::sync::atomic::AtomicBool::new(true),
    })
    .map_err(|_| Errno::ENOMEM)?;
    table[ty] = Some(si);
    drop(table);
    bdev.open();
    TOTAL_SWAP_PAGES.fetch_add(pages, Relaxed);
    NR_SWAP_PAGES.fetch_add(pages, Relaxed);
    log::info!(
        "Adding {}k swap on {path}.  Priority:{prio} extents:1 across:{}k",
        pages * 4,
        (maxpages - 1) * 4
    );
    Ok(())
}

/// Removes the swap device at `path` (Linux: sys_swapoff): no new slot is
/// taken from it, every page still out is read back (`try_to_unuse`), and
/// the device goes. EINVAL if it is not swap; ENOMEM (the device stays on)
/// if the pages do not fit in memory.
pub fn do_swapoff(path: &str) -> KResult<()> {
    let bdev =
        crate::fs::lookup_blkdev(path).map_err(|e| if e == Errno::ENOTBLK { Errno::EINVAL } else { e })?;
    let si = SWAP_INFO.lock().iter().flatten().find(|si| core::ptr::eq(si.bdev, bdev)).cloned();
    let si = si.ok_or(Errno::EINVAL)?;
    if !si.writeok.swap(false, AcqRel) {
        return Err(Errno::EBUSY); // another swapoff is at work
    }
    let (pages, inuse) = {
        let m = si.map.lock();
        (m.pages(), m.inuse())
    };
    NR_SWAP_PAGES.fetch_sub(pages - inuse, Relaxed);
    TOTAL_SWAP_PAGES.fetch_sub(pages, Relaxed);
    if let Err(e) = super::swap_state::try_to_unuse(&si) {
        // Back on, as it was (Linux: reinsert_swap_info).
        let free = {
            let m = si.map.lock();
            m.pages() - m.inuse()
        };
        NR_SWAP_PAGES.fetch_add(free, Relaxed);
        TOTAL_SWAP_PAGES.fetch_add(pages, Relaxed);
        si.writeok.store(true, Release);
        return Err(e);
    }
    SWAP_INFO.lock()[si.ty] = None;
    bdev.release();
    Ok(())
}

/// Every active device, for swapoff's and the views' walks.
pub fn swap_devices() -> [Option<Arc<SwapInfo>>; MAX_SWAPFILES] {
    SWAP_INFO.lock().clone()
}

/// /proc/swaps (Linux: swap_show).
pub fn show_swaps() {
    crate::kprintln!("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority");
    for si in swap_devices().iter().flatten() {
        let (size, used) = {
            let m = si.map.lock();
            (m.pages() * 4, m.inuse() * 4)
        };
        let pad = if si.path.len() < 40 { 40 - si.path.len() } else { 1 };
        crate::kprintln!(
            "{}{:pad$}partition\t{size}\t{}{used}\t{}{}",
            si.path,
            "",
            if size < 10_000_000 { "\t" } else { "" },
            if used < 10_000_000 { "\t" } else { "" },
            si.prio
        );
    }
}

fn cmd_swaps(_: &str) {
    show_swaps();
}

fn cmd_swapon(args: &str) {
    let mut words = args.split_whitespace();
    let Some(path) = words.next() else {
        show_swaps();
        return;
    };
    let flags = words
        .next()
        .and_then(|p| p.parse::<usize>().ok())
        .map_or(0, |p| SWAP_FLAG_PREFER | (p & SWAP_FLAG_PRIO_MASK));
    if let Err(e) = do_swapon(path, flags) {
        crate::kprintln!("swapon: {path}: {}", e.message());
    }
}

fn cmd_swapoff(args: &str) {
    let path = args.trim();
    if let Err(e) = do_swapoff(path) {
        crate::kprintln!("swapoff: {path}: {}", e.message());
    }
}

crate::monitor_cmd!(MON_SWAPS, "swaps", "swap devices (/proc/swaps)", cmd_swaps);
crate::monitor_cmd!(
    MON_SWAPON,
    "swapon",
    "swapon DEV [PRIO]: add a disk prepared by mkswap as swap",
    cmd_swapon
);
crate::monitor_cmd!(
    MON_SWAPOFF,
    "swapoff",
    "swapoff DEV: bring every page back and remove the swap device",
    cmd_swapoff
);

/// `swapon=/dev/vdX[,/dev/vdY...]` on the command line: swap devices to
/// add at boot, after the disks are probed.
pub fn swapon_from_cmdline(cmdline: &str) {
    let Some(Some(list)) = pagoda_klib::cmdline::get(cmdline, "swapon") else { return };
    for path in list.split(',').filter(|p| !p.is_empty()) {
        if let Err(e) = do_swapon(path, 0) {
            log::warn!("swapon: {path}: {}", e.message());
        }
    }
}

/// Called by the fault path and reclaim: whether the slot of `e` is still
/// used (for a page found in the swap cache that nobody maps).
pub fn swap_has_cache_only(e: SwpEntry) -> bool {
    swap_info(e.swp_type).is_some_and(|si| {
        let m = si.map.lock();
        m.count(e.offset as usize) == 0 && m.has_cache(e.offset as usize)
    })
}

/// Slots of `si` that are used, in order (swapoff).
pub(super) fn used_slots(si: &SwapInfo, from: usize, out: &mut [usize]) -> usize {
    let m = si.map.lock();
    let mut n = 0;
    for s in m.used_slots().filter(|&s| s >= from) {
        if n == out.len() {
            break;
        }
        out[n] = s;
        n += 1;
    }
    n
}
