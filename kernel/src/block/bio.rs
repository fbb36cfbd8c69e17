//! Block I/O requests (Linux: include/linux/blk_types.h struct bio,
//! block/bio.c bio_add_page / bio_endio / submit_bio_wait).
//!
//! A bio names its disk, an operation, the first sector and a list of page
//! pieces (`BioVec`) laid end to end on the disk. Whoever submits it owns
//! the pages until `end_io` runs: a page-cache read keeps the page locked,
//! a writeback keeps PG_writeback set.

use super::{Gendisk, SECTOR_SIZE};
use crate::mm::page_alloc::page_address;
use crate::sched::Completion;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering::*};
use log::error;
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::addr::PAGE_SIZE;

/// The operation of a bio (Linux: enum req_op).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReqOp {
    Read,
    Write,
    /// Make earlier writes durable (Linux: REQ_OP_FLUSH / REQ_PREFLUSH).
    Flush,
}

impl ReqOp {
    /// Index into the read/write statistics.
    fn dir(self) -> usize {
        (self != ReqOp::Read) as usize
    }
}

/// A piece of a page (Linux: struct bio_vec).
#[derive(Clone, Copy, Debug)]
pub struct BioVec {
    pub pfn: usize,
    pub offset: usize,
    pub len: usize,
}

impl BioVec {
    /// The bytes, through the linear map.
    ///
    /// # Safety
    /// Nobody else may access those bytes while the slice lives: the bio's
    /// submitter owns the page until `end_io`, and hands it to the device.
    pub unsafe fn as_mut_slice<'a>(&self) -> &'a mut [u8] {
        // SAFETY: the range lies inside one page (checked by `add_page`),
        // which the linear map covers; exclusivity is the caller's promise.
        unsafe {
            core::slice::from_raw_parts_mut((page_address(self.pfn) + self.offset) as *mut u8, self.len)
        }
    }
}

/// Called once when the device has finished the bio, maybe in an interrupt
/// handler: it must not sleep (Linux: bio_end_io_t).
pub type EndIo = Box<dyn FnOnce(&Bio, KResult<()>) + Send>;

/// One block I/O (Linux: struct bio).
pub struct Bio {
    pub disk: Arc<Gendisk>,
    pub op: ReqOp,
    /// First sector (Linux: bi_iter.bi_sector).
    pub sector: u64,
    pub vecs: Vec<BioVec>,
    end_io: Option<EndIo>,
}

impl Bio {
    /// An empty bio (Linux: bio_alloc + bio_set_dev).
    pub fn new(disk: Arc<Gendisk>, op: ReqOp, sector: u64) -> Bio {
        Bio { disk, op, sector, vecs: Vec::new(), end_io: None }
    }

    /// Appends `len` bytes of page `pfn` from `offset` (Linux: bio_add_page).
    /// The length must be whole sectors.
    pub fn add_page(&mut self, pfn: usize, len: usize, offset: usize) -> KResult<()> {
        if len == 0
            || !len.is_multiple_of(SECTOR_SIZE)
            || !offset.is_multiple_of(SECTOR_SIZE)
            || offset + len > PAGE_SIZE
        {
            return Err(Errno::EINVAL);
        }
        self.vecs.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        self.vecs.push(BioVec { pfn, offset, len });
        Ok(())
    }

    /// Bytes in the bio (Linux: bio->bi_iter.bi_size).
    pub fn size(&self) -> usize {
        self.vecs.iter().map(|v| v.len).sum()
    }

    pub fn sectors(&self) -> u64 {
        (self.size() / SECTOR_SIZE) as u64
    }

    pub fn set_end_io(&mut self, f: EndIo) {
        self.end_io = Some(f);
    }

    /// The device has finished: count it, report an error, and call
    /// `end_io` (Linux: bio_endio). Called by drivers.
    pub fn complete(mut self, status: KResult<()>) {
        let stats = &self.disk.stats;
        stats.ios[self.op.dir()].fetch_add(1, Relaxed);
        stats.sectors[self.op.dir()].fetch_add(self.sectors() as usize, Relaxed);
        if let Err(e) = status {
            stats.errors.fetch_add(1, Relaxed);
            // Linux: blk_print_req_error.
            error!(
                "I/O error, dev {}, sector {} op {:?} ({}), {} sectors",
                self.disk.name,
                self.sector,
                self.op,
                e.name(),
                self.sectors()
            );
        }
        if let Some(f) = self.end_io.take() {
            f(&self, status);
        }
    }
}

/// Sectors read and written (vmstat pgpgin, pgpgout, which print kilobytes).
pub static PGPGIN_SECTORS: AtomicUsize = AtomicUsize::new(0);
pub static PGPGOUT_SECTORS: AtomicUsize = AtomicUsize::new(0);

/// Hands `bio` to its disk's driver (Linux: submit_bio). A bio that does
/// not fit the disk, or writes a read-only one, completes at once with EIO.
pub fn submit_bio(bio: Bio) {
    match bio.op {
        ReqOp::Read => &PGPGIN_SECTORS,
        _ => &PGPGOUT_SECTORS,
    }
    .fetch_add(bio.sectors() as usize, Relaxed);
    let d = &bio.disk;
    if bio.sector.checked_add(bio.sectors()).is_none_or(|end| end > d.capacity) {
        error!(
            "{}: attempt to access beyond end of device: sector {}, {} sectors, capacity {}",
            d.name,
            bio.sector,
            bio.sectors(),
            d.capacity
        );
        return bio.complete(Err(Errno::EIO));
    }
    if bio.op == ReqOp::Write && d.read_only {
        error!("Trying to write to read-only block-device {}", d.name);
        return bio.complete(Err(Errno::EIO));
    }
    let driver = d.driver;
    driver.submit(bio);
}

/// The result a waiter reads after the completion fires.
struct Waiter {
    done: Completion,
    /// 0, or the negated errno.
    status: AtomicI32,
}

/// Submits `bio` and sleeps until it has finished (Linux: submit_bio_wait).
pub fn submit_bio_wait(mut bio: Bio) -> KResult<()> {
    let w = Arc::try_new(Waiter { done: Completion::new(), status: AtomicI32::new(0) })
        .map_err(|_| Errno::ENOMEM)?;
    let w2 = w.clone();
    bio.set_end_io(Box::new(move |_, status| {
        w2.status.store(status.err().map_or(0, |e| -e.0), Release);
        w2.done.complete();
    }));
    submit_bio(bio);
    w.done.wait_for_completion();
    match w.status.load(Acquire) {
        0 => Ok(()),
        e => Err(Errno(-e)),
    }
}

/// Reads or writes whole pages synchronously (Linux: the shape of
/// `__bdev_read_page`/`swap_readpage` with `submit_bio_wait`).
pub fn rw_pages_sync(disk: &Arc<Gendisk>, op: ReqOp, sector: u64, pfns: &[usize]) -> KResult<()> {
    let mut bio = Bio::new(disk.clone(), op, sector);
    for &pfn in pfns {
        bio.add_page(pfn, PAGE_SIZE, 0)?;
    }
    submit_bio_wait(bio)
}
