//! A disk as a file: `/dev/vda` and its page cache (Linux: block/bdev.c,
//! block/fops.c, and the generic parts of mm/filemap.c and
//! mm/page-writeback.c they use).
//!
//! `read` and `write` on a block device go through its own page cache,
//! page `i` holding bytes `[i * 4096, (i + 1) * 4096)` of the disk; meminfo
//! counts these pages as `Buffers`. A read that misses reads the window the
//! file's readahead state decides (mm/filemap.rs, libs/mm readahead.rs): it
//! allocates the missing pages, locks them, puts them in the cache and
//! reads them, one bio per run; whoever wants one of them waits for its
//! lock, and finds it up to date, or not if the read failed (EIO). A write copies into cached
//! pages and marks them dirty; they reach the disk when the flusher, an
//! fsync, a sync or the last close writes them back.
//!
//! ```text
//!   read(i) miss:  readahead window i..i+n: alloc + lock, add to cache, read bio
//!                  end_io: PG_uptodate on success, unlock_page (wakes readers)
//!   write(i):      read(i) if needed, lock_page, copy, set_page_dirty
//!   writeback:     lock_page, clear_page_dirty_for_io, set_page_writeback,
//!                  unlock_page; contiguous pages in one write bio;
//!                  end_io: end_page_writeback (wakes fsync)
//! ```
//!
//! Where Pagoda differs: no buffer heads (a page is the unit of I/O).

use super::{submit_bio, Bio, Gendisk, ReqOp, PAGE_SECTORS, SECTOR_SIZE};
use crate::fs::inode::InodeRef;
use crate::kernel::time::jiffies;
use crate::mm::address_space::AddressSpace;
use crate::mm::filemap::{file_transfer, filemap_fault_page, filemap_get_page, filemap_read, ReadPages};
use crate::mm::filemap::{lock_page, unlock_page, wait_on_page_locked, wait_on_page_writeback};
use crate::mm::memory::FaultError;
use crate::mm::mm_types::MmStruct;
use crate::mm::page_alloc::{alloc_pages, get_page, page_address, pfn_to_page, put_page};
use crate::mm::page_writeback::{
    clear_page_dirty_for_io, end_page_writeback, set_page_dirty, set_page_writeback,
};
use crate::mm::rmap::page_mkclean;
use crate::mm::uaccess::copy_from_user_partial;
use crate::mm::vma::{VmFault, VmFlags, VmOperations, Vma};
use crate::sync::SpinLockIrq;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::addr::PAGE_SIZE;
use pagoda_mm::gfp::Gfp;
use pagoda_mm::page::PageFlags;
use pagoda_mm::readahead::RaState;

/// The most pages read or written in one bio.
pub const MAX_BIO_PAGES: usize = 32;

/// One disk's file side (Linux: struct block_device with its bd_inode).
pub struct BlockDevice {
    pub disk: Arc<Gendisk>,
    pub mapping: AddressSpace,
    /// When the oldest dirty page was dirtied, in jiffies; 0 when clean
    /// (Linux: inode->dirtied_when).
    dirtied_when: AtomicU64,
    /// A write-back failed since the last sync (Linux: the mapping's
    /// wb_err / AS_EIO): the next fsync reports EIO.
    wb_err: AtomicBool,
    /// Open files (Linux: bd_openers); the last close writes back.
    openers: AtomicUsize,
}

static BDEVS: SpinLockIrq<Vec<&'static BlockDevice>> = SpinLockIrq::new(Vec::new());

/// Makes the file side of a new disk (Linux: bdev_alloc in device_add_disk).
pub(super) fn bdev_add(disk: &Arc<Gendisk>) -> KResult<()> {
    let bdev = Box::leak(Box::new(BlockDevice {
        disk: disk.clone(),
        mapping: AddressSpace::new(false),
        dirtied_when: AtomicU64::new(0),
        wb_err: AtomicBool::new(false),
        openers: AtomicUsize::new(0),
    }));
    let mut all = BDEVS.lock();
    all.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
    all.push(bdev);
    Ok(())
}

/// The block device called `name` (Linux: lookup_bdev).
pub fn lookup_bdev(name: &str) -> Option<&'static BlockDevice> {
    BDEVS.lock().iter().copied().find(|b| b.disk.name == name)
}

/// Every block device.
pub fn all_bdevs() -> Vec<&'static BlockDevice> {
    BDEVS.lock().clone()
}

/// Pages in every block device's page cache (Linux: nr_blockdev_pages,
/// meminfo's Buffers).
pub fn nr_blockdev_pages() -> usize {
    BDEVS.lock().iter().map(|b| b.mapping.nrpages()).sum()
}

/// Which part of page `index` of a disk of `capacity` sectors exists.
fn sectors_in_page(capacity: u64, index: usize) -> u64 {
    capacity.saturating_sub(index as u64 * PAGE_SECTORS).min(PAGE_SECTORS)
}

impl BlockDevice {
    pub fn size(&self) -> u64 {
        self.disk.size_bytes()
    }

    fn pages(&self) -> usize {
        self.disk.capacity.div_ceil(PAGE_SECTORS) as usize
    }

    /// The page at `index` for a write into it, locked, and whether it is
    /// new and not up to date (Linux: block_write_begin). A write of the
    /// whole page needs nothing from the disk: a missing page is made
    /// fresh; a partial write reads the page first (no readahead).
    fn write_begin(&'static self, index: usize, whole: bool) -> KResult<(usize, bool)> {
        if whole && self.mapping.find_get_page(index).map(put_page).is_none() {
            let pfn = alloc_pages(Gfp::GFP_HIGHUSER_MOVABLE, 0).map_err(|_| Errno::ENOMEM)?;
            let page = pfn_to_page(pfn);
            assert!(page.trylock()); // fresh: nobody else can see it
            if self.mapping.add_to_page_cache(pfn, index).is_ok() {
                return Ok((pfn, true));
            }
            unlock_page(page); // someone else made it first
            put_page(pfn);
        }
        // No readahead: a writer gets the one page it writes into.
        let (pfn, _) = filemap_get_page(self, &mut RaState { random: true, ..RaState::default() }, index, 1)?;
        lock_page(pfn_to_page(pfn));
        Ok((pfn, false))
    }

    /// read(2) at `off`, reading ahead as the file's `ra` decides (Linux:
    /// blkdev_read_iter -> filemap_read).
    pub fn read(&'static self, ra: &mut RaState, off: u64, buf: usize, count: usize) -> KResult<usize> {
        filemap_read(self, ra, self.size(), off, buf, count)
    }

    /// write(2) at `off` from user memory at `buf` (Linux: blkdev_write_iter).
    pub fn write(&'static self, off: u64, buf: usize, count: usize) -> KResult<usize> {
        self.write_with(off, count, |dst, done| copy_from_user_partial(dst, buf + done))
    }

    /// Writes `count` bytes at `off`, each piece filled by `src(piece,
    /// bytes_done_before)`, which returns how much it filled (less on a
    /// fault) (Linux: generic_perform_write): ENOSPC at or past the end of
    /// the disk, a short write up to it; EPERM on a read-only disk.
    pub fn write_with(
        &'static self,
        off: u64,
        count: usize,
        mut src: impl FnMut(&mut [u8], usize) -> usize,
    ) -> KResult<usize> {
        if self.disk.read_only {
            return Err(Errno::EPERM);
        }
        if count > 0 && off >= self.size() {
            return Err(Errno::ENOSPC);
        }
        let done = file_transfer(self.size(), off, count, |index, in_page, n, done| {
            let whole = in_page == 0 && n == PAGE_SIZE;
            let (pfn, fresh) = self.write_begin(index, whole)?;
            let page = pfn_to_page(pfn);
            // SAFETY: a cached page, locked by us, through the linear map;
            // [in_page, in_page + n) is inside it.
            let dst = unsafe { core::slice::from_raw_parts_mut((page_address(pfn) + in_page) as *mut u8, n) };
            let mut copied = src(dst, done);
            if fresh {
                if copied == PAGE_SIZE {
                    page.set_bit(PageFlags::UPTODATE);
                } else {
                    // A fault part way through a page the disk's bytes were
                    // never read into: it holds nothing valid (Linux:
                    // block_write_end's short copy on a !uptodate folio).
                    copied = 0;
                }
            }
            if copied > 0 && set_page_dirty(pfn) {
                self.redirty();
            }
            // Linux: write_begin's FGP_ACCESSED.
            crate::mm::swap::mark_page_accessed(pfn);
            unlock_page(page);
            put_page(pfn);
            if copied == 0 {
                if fresh {
                    crate::mm::swap::lru_add_drain_all();
                    self.mapping.invalidate_mapping_pages(index, index + 1);
                }
                return Err(Errno::EFAULT);
            }
            Ok(copied)
        })?;
        crate::fs::fs_writeback::balance_dirty_pages();
        Ok(done)
    }

    /// Whether it has dirty pages dirtied at or before `jiffies` `before`.
    pub fn dirty_since(&self, before: u64) -> bool {
        let t = self.dirtied_when.load(Relaxed);
        t != 0 && t <= before
    }

    /// Starts writing every dirty page; returns how many went and how many
    /// stay dirty because a process mapping them could not be reached now
    /// (Linux: write_cache_pages with WB_SYNC_ALL: a page already under
    /// writeback is waited for, then written again).
    pub fn write_dirty_pages(&'static self) -> (usize, usize) {
        self.dirtied_when.store(0, Relaxed);
        let mut dirty = Vec::new();
        self.mapping.for_each_page(0, usize::MAX, |index, pfn| {
            if pfn_to_page(pfn).test(PageFlags::DIRTY) && dirty.try_reserve(1).is_ok() {
                get_page(pfn);
                dirty.push((index, pfn));
            }
        });
        let (mut written, mut skipped) = (0, 0);
        let mut bio: Option<Bio> = None;
        let mut next_index = usize::MAX;
        for (index, pfn) in dirty {
            let page = pfn_to_page(pfn);
            lock_page(page);
            wait_on_page_writeback(page);
            if !page.test(PageFlags::DIRTY) || page.mapping() == 0 {
                unlock_page(page); // written by someone else, or truncated
                put_page(pfn);
                continue;
            }
            // Mapped pages: their PTEs go clean first, so that a write
            // through a mapping after this point dirties the page again.
            if page.page_mapcount() > 0 && page_mkclean(&self.mapping, index, pfn).is_err() {
                self.redirty();
                skipped += 1;
                unlock_page(page);
                put_page(pfn);
                continue;
            }
            clear_page_dirty_for_io(pfn);
            set_page_writeback(pfn);
            unlock_page(page);
            if next_index != index || bio.as_ref().is_some_and(|b| b.vecs.len() >= MAX_BIO_PAGES) {
                if let Some(b) = bio.take() {
                    submit_bio(b);
                }
            }
            let b = bio.get_or_insert_with(|| self.new_write_bio(index));
            let have = sectors_in_page(self.disk.capacity, index) as usize * SECTOR_SIZE;
            if b.add_page(pfn, have, 0).is_err() {
                // No memory for the vector: end this page's writeback as
                // failed and keep it dirty for the next round.
                set_page_dirty(pfn);
                end_page_writeback(pfn);
                put_page(pfn);
                continue;
            }
            next_index = index + 1;
            written += 1;
        }
        if let Some(b) = bio {
            submit_bio(b);
        }
        (written, skipped)
    }

    /// Notes that the device has dirty pages (again), for the flusher.
    fn redirty(&self) {
        let _ = self.dirtied_when.compare_exchange(0, jiffies().max(1), Relaxed, Relaxed);
    }

    /// A write bio whose completion ends the writeback of its pages
    /// (Linux: end_bio_bh_io_sync / mpage_end_io for writes).
    fn new_write_bio(&'static self, index: usize) -> Bio {
        let mut bio = Bio::new(self.disk.clone(), ReqOp::Write, index as u64 * PAGE_SECTORS);
        bio.set_end_io(Box::new(move |bio, status| {
            if status.is_err() {
                self.wb_err.store(true, Relaxed);
            }
            // On an error the pages stay cached and clean, holding the
            // data the disk did not take, as in Linux; fsync reports it.
            for v in &bio.vecs {
                end_page_writeback(v.pfn);
                put_page(v.pfn);
            }
        }));
        bio
    }

    /// Waits until no page is under writeback (Linux: filemap_fdatawait).
    pub fn wait_writeback(&self) {
        let mut busy = Vec::new();
        self.mapping.for_each_page(0, usize::MAX, |_, pfn| {
            if pfn_to_page(pfn).test(PageFlags::WRITEBACK) && busy.try_reserve(1).is_ok() {
                get_page(pfn);
                busy.push(pfn);
            }
        });
        for pfn in busy {
            wait_on_page_writeback(pfn_to_page(pfn));
            put_page(pfn);
        }
    }

    /// Writes back, waits, and reports a write error since the last call
    /// (Linux: sync_blockdev + blkdev_issue_flush, as blkdev_fsync does).
    pub fn fsync(&'static self) -> KResult<()> {
        // A page whose mappings were busy stays dirty: go round again.
        while self.write_dirty_pages().1 > 0 {
            crate::kernel::timer::msleep(1);
        }
        self.wait_writeback();
        super::submit_bio_wait(Bio::new(self.disk.clone(), ReqOp::Flush, 0))?;
        if self.wb_err.swap(false, Relaxed) {
            return Err(Errno::EIO);
        }
        Ok(())
    }

    /// An open of the device file (Linux: blkdev_get).
    pub fn open(&self) {
        self.openers.fetch_add(1, Relaxed);
    }

    /// The last close writes back (Linux: blkdev_put -> sync_blockdev).
    pub fn release(&'static self) {
        if self.openers.fetch_sub(1, Relaxed) == 1 {
            let _ = self.fsync();
        }
    }
}

// The disk ioctls programs use to size a disk (Linux: include/uapi/linux/fs.h).
const BLKROGET: u32 = 0x125e;
const BLKGETSIZE: u32 = 0x1260;
const BLKSSZGET: u32 = 0x1268;
const BLKGETSIZE64: u32 = 0x8008_1272;

/// ioctl(2) on a disk (Linux: blkdev_ioctl): its size in bytes or in
/// sectors, its sector size, whether it is read-only; ENOTTY otherwise.
pub fn blkdev_ioctl(bdev: &BlockDevice, cmd: u32, arg: usize) -> KResult<usize> {
    use crate::mm::uaccess::copy_to_user;
    match cmd {
        BLKROGET => copy_to_user(arg, &(bdev.disk.read_only as i32).to_ne_bytes()),
        BLKGETSIZE => copy_to_user(arg, &bdev.disk.capacity.to_ne_bytes()),
        BLKSSZGET => copy_to_user(arg, &(SECTOR_SIZE as i32).to_ne_bytes()),
        BLKGETSIZE64 => copy_to_user(arg, &bdev.size().to_ne_bytes()),
        _ => return Err(Errno::ENOTTY),
    }
    .map(|()| 0)
}

/// A disk's page cache is filled by read bios (Linux: def_blk_aops,
/// blkdev_read_folio / blkdev_readahead through mpage).
impl ReadPages for BlockDevice {
    fn cache(&self) -> &AddressSpace {
        &self.mapping
    }

    fn ra_pages(&self) -> usize {
        self.disk.ra_pages()
    }

    fn nr_pages(&self) -> usize {
        self.pages()
    }

    /// One bio per run of missing pages; each page is locked and in the
    /// cache before its read starts, and unlocked (up to date, or not on an
    /// error) by the bio's completion.
    fn readahead(&self, start: usize, nr: usize, mark: Option<usize>) -> KResult<()> {
        let mut bio: Option<Bio> = None;
        for i in start..(start + nr).min(self.pages()) {
            if self.mapping.find_get_page(i).map(put_page).is_some() {
                if let Some(b) = bio.take() {
                    submit_read(b);
                }
                continue;
            }
            let Ok(pfn) = alloc_pages(Gfp::GFP_HIGHUSER_MOVABLE, 0) else { break };
            let page = pfn_to_page(pfn);
            // A fresh page nobody else can see: the lock is free.
            assert!(page.trylock());
            if self.mapping.add_to_page_cache(pfn, i).is_err() {
                unlock_page(page);
                put_page(pfn);
                continue; // someone else is reading it
            }
            if mark == Some(i) {
                page.set_bit(PageFlags::READAHEAD);
            }
            let have = sectors_in_page(self.disk.capacity, i) as usize * SECTOR_SIZE;
            if have < PAGE_SIZE {
                // SAFETY: our locked page, not yet up to date: nobody reads it.
                unsafe { core::ptr::write_bytes((page_address(pfn) + have) as *mut u8, 0, PAGE_SIZE - have) };
            }
            let b =
                bio.get_or_insert_with(|| Bio::new(self.disk.clone(), ReqOp::Read, i as u64 * PAGE_SECTORS));
            if b.add_page(pfn, have, 0).is_err() || b.vecs.len() >= MAX_BIO_PAGES {
                if b.vecs.last().is_none_or(|v| v.pfn != pfn) {
                    // No room for the vector: leave the page to update_page.
                    unlock_page(page);
                    put_page(pfn);
                }
                if let Some(b) = bio.take() {
                    submit_read(b);
                }
            }
        }
        if let Some(b) = bio {
            submit_read(b);
        }
        Ok(())
    }

    fn update_page(&self, index: usize, pfn: usize) -> KResult<()> {
        let page = pfn_to_page(pfn);
        if page.test(PageFlags::UPTODATE) {
            return Ok(());
        }
        wait_on_page_locked(page);
        if page.test(PageFlags::UPTODATE) {
            return Ok(());
        }
        // The read failed, or a racing one has not started: try it
        // ourselves once, synchronously (Linux: filemap_read_folio).
        lock_page(page);
        let res = if page.test(PageFlags::UPTODATE) {
            Ok(())
        } else {
            let have = sectors_in_page(self.disk.capacity, index) as usize * SECTOR_SIZE;
            let mut bio = Bio::new(self.disk.clone(), ReqOp::Read, index as u64 * PAGE_SECTORS);
            bio.add_page(pfn, have, 0).and_then(|_| super::submit_bio_wait(bio))
        };
        if res.is_ok() {
            page.set_bit(PageFlags::UPTODATE);
        }
        unlock_page(page);
        res
    }
}

/// Submits a readahead bio whose completion marks its pages up to date (or
/// not, on an error) and unlocks them (Linux: mpage_end_io for reads).
fn submit_read(mut bio: Bio) {
    bio.set_end_io(Box::new(|bio, status| {
        for v in &bio.vecs {
            let page = pfn_to_page(v.pfn);
            if status.is_ok() {
                page.set_bit(PageFlags::UPTODATE);
            }
            unlock_page(page);
            put_page(v.pfn); // the reference alloc_pages gave us
        }
    }));
    submit_bio(bio);
}

/// Faults on a mapping of a disk (Linux: generic_file_vm_ops over the
/// block device's page cache: filemap_fault, filemap_map_pages,
/// filemap_page_mkwrite).
struct BdevVmOps;

static BDEV_VM_OPS: BdevVmOps = BdevVmOps;

fn vma_bdev(vma: &Vma) -> Option<&'static BlockDevice> {
    match vma.vm_file.as_ref()?.inode().kind {
        crate::fs::inode::InodeKind::Blk(b) => Some(b),
        _ => None,
    }
}

impl VmOperations for BdevVmOps {
    /// The disk's page, read in if needed; SIGBUS past the end of the
    /// disk, or if it cannot be read (Linux: filemap_fault, VM_FAULT_SIGBUS).
    fn fault(&self, _mm: &MmStruct, vma: &Vma, vmf: &VmFault) -> Result<usize, FaultError> {
        let bdev = vma_bdev(vma).ok_or(FaultError::SigBus)?;
        if vmf.pgoff >= bdev.pages() {
            return Err(FaultError::SigBus);
        }
        match filemap_fault_page(bdev, vmf.pgoff) {
            Ok((pfn, waited)) => {
                vmf.major.set(waited);
                Ok(pfn)
            }
            Err(Errno::ENOMEM) => Err(FaultError::Oom),
            Err(_) => Err(FaultError::SigBus),
        }
    }

    /// A cached, up-to-date page of the disk (Linux: filemap_map_pages).
    fn map_page(&self, vma: &Vma, pgoff: usize) -> Option<usize> {
        crate::mm::filemap::filemap_map_page(vma_bdev(vma)?, pgoff)
    }

    /// The page is dirty before a PTE lets writes reach it; one under
    /// writeback is waited for first, so the disk gets a stable copy
    /// (Linux: filemap_page_mkwrite, folio_wait_stable).
    fn page_mkwrite(&self, vma: &Vma, pfn: usize) -> Result<(), FaultError> {
        let bdev = vma_bdev(vma).ok_or(FaultError::SigBus)?;
        let page = pfn_to_page(pfn);
        lock_page(page);
        if page.mapping() == 0 {
            unlock_page(page);
            return Err(FaultError::SigBus); // no longer the disk's page
        }
        wait_on_page_writeback(page);
        if set_page_dirty(pfn) {
            bdev.redirty();
        }
        unlock_page(page);
        Ok(())
    }
}

/// The VMA, in `mm`, of a mapping of the disk `inode` from page `pgoff`
/// (Linux: blkdev_mmap -> generic_file_mmap).
pub fn bdev_mmap(mm: &MmStruct, flags: VmFlags, inode: InodeRef, pgoff: usize, name: &str) -> KResult<Vma> {
    Vma::file(mm, flags, inode, pgoff, name, &BDEV_VM_OPS)
}
