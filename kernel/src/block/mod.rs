//! The block layer (Linux: block/genhd.c, block/bio.c, block/blk-core.c),
//! reduced to what the page cache and swap need.
//!
//! A driver that finds a disk registers it with `add_disk`, which names it
//! (`vda`, `vdb`, … in probe order, as Linux's virtio_blk does) and keeps
//! it in the disk list. I/O is a `Bio`: an operation, a starting sector
//! and the pages it reads into or writes from. `submit_bio` hands it to the
//! disk's driver and returns at once; the driver calls the bio's `end_io`
//! when the device has finished, from its interrupt handler. `submit_bio_wait`
//! is the synchronous form: it sleeps until that completion.
//!
//! ```text
//!   submit_bio(bio) ──> disk.driver.submit(bio) ──> device queue
//!                                                       │ interrupt
//!   bio.end_io(status) <── driver completion <──────────┘
//! ```
//!
//! Where Pagoda differs: there is no request queue, merging or I/O
//! scheduler between the bio and the driver (Linux's blk-mq); a driver
//! queues what its device has no room for yet. Disks have no partitions.

mod bdev;
mod bio;

pub use bdev::*;
pub use bio::*;

use crate::kprintln;
use crate::sync::SpinLockIrq;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};

/// The unit of a block device's addresses (Linux: SECTOR_SIZE).
pub const SECTOR_SIZE: usize = 512;
/// Sectors per page (Linux: PAGE_SECTORS).
pub const PAGE_SECTORS: u64 = (pagoda_mm::addr::PAGE_SIZE / SECTOR_SIZE) as u64;
/// The major number of virtio block devices (Linux allocates one
/// dynamically; 254 is what it gets on Debian's kernel).
pub const VIRTBLK_MAJOR: u32 = 254;

/// What a block driver does for the block layer (Linux: the blk_mq_ops
/// behind a gendisk's request queue).
pub trait BlockDriver: Send + Sync {
    /// Starts `bio`; calls `bio.complete()` when the device has finished,
    /// possibly before returning, possibly from an interrupt.
    fn submit(&self, bio: Bio);
}

/// Reads and writes done, as /proc/diskstats counts them.
#[derive(Default)]
pub struct DiskStats {
    pub ios: [AtomicUsize; 2],
    pub sectors: [AtomicUsize; 2],
    pub errors: AtomicUsize,
}

/// One disk (Linux: struct gendisk).
pub struct Gendisk {
    pub name: String,
    pub major: u32,
    pub first_minor: u32,
    /// Size in sectors (Linux: get_capacity).
    pub capacity: u64,
    pub read_only: bool,
    /// How far reads of it go ahead, in KiB (Linux: the queue's
    /// read_ahead_kb, 128 by default).
    pub read_ahead_kb: AtomicUsize,
    pub stats: DiskStats,
    driver: &'static dyn BlockDriver,
}

impl Gendisk {
    /// read_ahead_kb in pages (Linux: bdi->ra_pages).
    pub fn ra_pages(&self) -> usize {
        (self.read_ahead_kb.load(Relaxed) / 4).max(1)
    }

    pub fn size_bytes(&self) -> u64 {
        self.capacity * SECTOR_SIZE as u64
    }

    /// The device number, as new_encode_dev packs (major, minor).
    pub fn rdev(&self) -> u64 {
        ((self.major as u64) << 8) | self.first_minor as u64
    }
}

static DISKS: SpinLockIrq<Vec<Arc<Gendisk>>> = SpinLockIrq::new(Vec::new());

/// Names the next virtio disk: vda … vdz, then vdaa (Linux: virtblk_name_format).
fn disk_name(prefix: &str, index: usize) -> String {
    let mut suffix = Vec::new();
    let mut i = index + 1;
    while i > 0 {
        i -= 1;
        suffix.push(b'a' + (i % 26) as u8);
        i /= 26;
    }
    suffix.reverse();
    let mut name = String::from(prefix);
    name.extend(suffix.iter().map(|&b| b as char));
    name
}

/// Registers a disk that `driver` serves and returns it (Linux: device_add_disk).
pub fn add_disk(
    prefix: &str,
    capacity: u64,
    read_only: bool,
    driver: &'static dyn BlockDriver,
) -> KResult<Arc<Gendisk>> {
    let mut disks = DISKS.lock();
    let index = disks.iter().filter(|d| d.name.starts_with(prefix)).count();
    let disk = Arc::try_new(Gendisk {
        name: disk_name(prefix, index),
        major: VIRTBLK_MAJOR,
        first_minor: index as u32 * 16,
        capacity,
        read_only,
        read_ahead_kb: AtomicUsize::new(128),
        stats: DiskStats::default(),
        driver,
    })
    .map_err(|_| Errno::ENOMEM)?;
    disks.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
    disks.push(disk.clone());
    drop(disks);
    bdev_add(&disk)?;
    Ok(disk)
}

/// The disk called `name` (`vda`), if there is one.
pub fn get_disk(name: &str) -> Option<Arc<Gendisk>> {
    DISKS.lock().iter().find(|d| d.name == name).cloned()
}

/// Every disk, in the order they were found.
pub fn disks() -> Vec<Arc<Gendisk>> {
    DISKS.lock().clone()
}

/// /proc/partitions.
pub fn show_partitions() {
    kprintln!("major minor  #blocks  name\n");
    for d in disks() {
        kprintln!("{:4} {:7} {:10} {}", d.major, d.first_minor, d.capacity / 2, d.name);
    }
}

/// /proc/diskstats: the first fields of Linux's line (reads completed,
/// merged, sectors read, ms reading, writes completed, merged, sectors
/// written, ms writing); Pagoda neither merges nor times requests.
pub fn show_diskstats() {
    for d in disks() {
        let s = &d.stats;
        kprintln!(
            "{:4} {:7} {} {} 0 {} 0 {} 0 {} 0",
            d.major,
            d.first_minor,
            d.name,
            s.ios[0].load(Relaxed),
            s.sectors[0].load(Relaxed),
            s.ios[1].load(Relaxed),
            s.sectors[1].load(Relaxed)
        );
    }
}

crate::monitor_cmd!(MON_PARTITIONS, "partitions", "the disks (/proc/partitions)", cmd_partitions);
crate::monitor_cmd!(
    MON_DISKSTATS,
    "diskstats",
    "reads and writes per disk (/proc/diskstats, first fields)",
    cmd_diskstats
);

fn cmd_partitions(_: &str) {
    show_partitions()
}

fn cmd_diskstats(_: &str) {
    show_diskstats()
}

#[cfg(feature = "ktest")]
mod tests;
