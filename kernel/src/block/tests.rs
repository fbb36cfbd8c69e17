//! In-kernel tests of the block layer and the virtio disk under it.
//! tests/ktest.sh attaches two images: vda (8 MiB, writable) whose sector
//! N begins with the line `sector N of the pagoda test disk`, and vdb
//! (1 MiB, read-only, the same pattern; scripts/make-test-disk.sh).

use super::*;
use crate::debug::ktest::ktest;
use crate::mm::page_alloc::{__free_pages, alloc_pages, page_address};
use crate::sched::Completion;
use alloc::boxed::Box;
use alloc::format;
use core::sync::atomic::{AtomicUsize, Ordering::*};
use pagoda_mm::addr::PAGE_SIZE;
use pagoda_mm::gfp::Gfp;
use pagoda_mm::page::PageFlags;

fn disk(name: &str) -> Arc<Gendisk> {
    get_disk(name).unwrap_or_else(|| panic!("no /dev/{name}: tests/ktest.sh attaches the test disks"))
}

/// `n` pages, freed when dropped.
struct Pages(Vec<usize>);

impl Pages {
    fn new(n: usize) -> Pages {
        Pages((0..n).map(|_| alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_ZERO, 0).unwrap()).collect())
    }

    fn bytes(&self, i: usize) -> &[u8] {
        // SAFETY: the test owns the page and no I/O is in flight on it.
        unsafe { core::slice::from_raw_parts(page_address(self.0[i]) as *const u8, PAGE_SIZE) }
    }

    fn fill(&mut self, i: usize, byte: u8) {
        // SAFETY: as for `bytes`, and `&mut self` makes it the only view.
        unsafe { core::ptr::write_bytes(page_address(self.0[i]) as *mut u8, byte, PAGE_SIZE) }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        for &pfn in &self.0 {
            __free_pages(pfn, 0);
        }
    }
}

fn sector_line(sector: u64) -> alloc::string::String {
    format!("sector {sector} of the pagoda test disk\n")
}

fn assert_image_pattern(p: &Pages, first_sector: u64) {
    for (i, _) in p.0.iter().enumerate() {
        for s in 0..PAGE_SECTORS {
            let sector = first_sector + i as u64 * PAGE_SECTORS + s;
            let want = sector_line(sector);
            let off = s as usize * SECTOR_SIZE;
            assert_eq!(&p.bytes(i)[off..off + want.len()], want.as_bytes(), "sector {sector}");
        }
    }
}

#[ktest]
fn a_read_returns_what_the_image_holds() {
    let vda = disk("vda");
    assert_eq!(vda.size_bytes(), 8 << 20);
    let reads = vda.stats.ios[0].load(Relaxed);
    let p = Pages::new(8);
    // One bio of eight pages, some of them pieces out of order in memory.
    rw_pages_sync(&vda, ReqOp::Read, 64, &p.0).unwrap();
    assert_image_pattern(&p, 64);
    assert_eq!(vda.stats.ios[0].load(Relaxed), reads + 1);
}

#[ktest]
fn a_bio_can_start_inside_a_page() {
    let vda = disk("vda");
    let p = Pages::new(1);
    let mut bio = Bio::new(vda.clone(), ReqOp::Read, 9);
    bio.add_page(p.0[0], 1024, 2048).unwrap();
    submit_bio_wait(bio).unwrap();
    assert_eq!(&p.bytes(0)[2048..2048 + sector_line(9).len()], sector_line(9).as_bytes());
    assert_eq!(&p.bytes(0)[2560..2560 + sector_line(10).len()], sector_line(10).as_bytes());
    assert!(p.bytes(0)[..2048].iter().all(|&b| b == 0), "bytes before the piece were touched");
    // Pieces must be whole sectors inside one page.
    let mut bad = Bio::new(vda, ReqOp::Read, 0);
    assert_eq!(bad.add_page(p.0[0], 100, 0), Err(Errno::EINVAL));
    assert_eq!(bad.add_page(p.0[0], 1024, 3584), Err(Errno::EINVAL));
}

#[ktest]
fn more_bios_than_the_queue_holds_all_complete_and_land() {
    const N: u64 = 64; // four times the virtqueue's 16 requests
    let vda = disk("vda");
    let first = 4096; // the second half of the disk, which other tests only read
    let mut p = Pages::new(N as usize);
    for i in 0..N as usize {
        p.fill(i, 0xa0 ^ i as u8);
    }
    static DONE: AtomicUsize = AtomicUsize::new(0);
    static ERRORS: AtomicUsize = AtomicUsize::new(0);
    static ALL: Completion = Completion::new();
    DONE.store(0, Relaxed);
    ERRORS.store(0, Relaxed);
    let writes = vda.stats.ios[1].load(Relaxed);
    for i in 0..N {
        let mut bio = Bio::new(vda.clone(), ReqOp::Write, first + i * PAGE_SECTORS);
        bio.add_page(p.0[i as usize], PAGE_SIZE, 0).unwrap();
        bio.set_end_io(Box::new(|_, status| {
            if status.is_err() {
                ERRORS.fetch_add(1, Relaxed);
            }
            if DONE.fetch_add(1, AcqRel) + 1 == N as usize {
                ALL.complete();
            }
        }));
        submit_bio(bio);
    }
    ALL.wait_for_completion();
    assert_eq!((DONE.load(Relaxed), ERRORS.load(Relaxed)), (N as usize, 0));
    assert_eq!(vda.stats.ios[1].load(Relaxed), writes + N as usize);
    // Read all of it back in one bio and compare.
    let q = Pages::new(N as usize);
    rw_pages_sync(&vda, ReqOp::Read, first, &q.0).unwrap();
    for i in 0..N as usize {
        assert!(q.bytes(i).iter().all(|&b| b == 0xa0 ^ i as u8), "page {i} did not reach the disk");
    }
}

#[ktest]
fn io_beyond_the_end_of_the_disk_fails_with_eio() {
    let vda = disk("vda");
    let errors = vda.stats.errors.load(Relaxed);
    let p = Pages::new(1);
    // The page would end 7 sectors past the end.
    assert_eq!(rw_pages_sync(&vda, ReqOp::Read, vda.capacity - 1, &p.0), Err(Errno::EIO));
    assert_eq!(rw_pages_sync(&vda, ReqOp::Write, u64::MAX - 2, &p.0), Err(Errno::EIO));
    assert_eq!(vda.stats.errors.load(Relaxed), errors + 2);
    // The last page itself is fine.
    rw_pages_sync(&vda, ReqOp::Read, vda.capacity - PAGE_SECTORS, &p.0).unwrap();
    assert_image_pattern(&p, vda.capacity - PAGE_SECTORS);
}

#[ktest]
fn a_read_only_disk_refuses_writes_and_still_reads() {
    let vdb = disk("vdb");
    assert!(vdb.read_only);
    let p = Pages::new(1);
    assert_eq!(rw_pages_sync(&vdb, ReqOp::Write, 0, &p.0), Err(Errno::EIO));
    rw_pages_sync(&vdb, ReqOp::Read, 8, &p.0).unwrap();
    assert_image_pattern(&p, 8);
}

#[ktest]
fn disks_are_named_as_linux_names_them() {
    assert_eq!(disk_name("vd", 0), "vda");
    assert_eq!(disk_name("vd", 25), "vdz");
    assert_eq!(disk_name("vd", 26), "vdaa");
    assert_eq!(disk_name("vd", 27), "vdab");
    assert_eq!(disk_name("vd", 26 + 26 * 26), "vdaaa");
    assert_eq!(disk("vdb").first_minor, 16);
}

/// Writes `pages` pages of `byte` at page `first` of vda through its page
/// cache, as write(2) would.
fn write_through_cache(bdev: &'static BlockDevice, first: usize, pages: usize, byte: u8) {
    let n = bdev
        .write_with((first * PAGE_SIZE) as u64, pages * PAGE_SIZE, |dst, _| {
            dst.fill(byte);
            dst.len()
        })
        .unwrap();
    assert_eq!(n, pages * PAGE_SIZE);
}

/// Reads the disk itself, around the page cache, and checks every byte.
fn assert_on_disk(first: usize, pages: usize, byte: u8) {
    let p = Pages::new(pages);
    rw_pages_sync(&disk("vda"), ReqOp::Read, first as u64 * PAGE_SECTORS, &p.0).unwrap();
    for i in 0..pages {
        assert!(p.bytes(i).iter().all(|&b| b == byte), "page {} is not on the disk", first + i);
    }
}

fn dirty_and_writeback() -> (usize, usize) {
    use crate::mm::page_alloc::global_node_page_state;
    use pagoda_mm::vmstat::NodeStatItem::{NrFileDirty, NrWriteback};
    (global_node_page_state(NrFileDirty), global_node_page_state(NrWriteback))
}

#[ktest]
fn written_pages_are_dirty_until_fsync_puts_them_on_the_disk() {
    let bdev = lookup_bdev("vda").unwrap();
    let (dirty0, _) = dirty_and_writeback();
    let cached = bdev.mapping.nrpages();
    write_through_cache(bdev, 1024, 16, 0x5a);
    assert_eq!(dirty_and_writeback().0, dirty0 + 16);
    assert!(bdev.mapping.nrpages() >= cached + 16);
    // Not on the disk yet: the disk still holds the image's pattern.
    let p = Pages::new(1);
    rw_pages_sync(&disk("vda"), ReqOp::Read, 1024 * PAGE_SECTORS, &p.0).unwrap();
    assert_image_pattern(&p, 1024 * PAGE_SECTORS);
    bdev.fsync().unwrap();
    assert_eq!(dirty_and_writeback(), (dirty0, 0));
    assert_on_disk(1024, 16, 0x5a);
    // The cached pages stay, clean and up to date.
    bdev.mapping.for_each_page(1024, 1040, |_, pfn| {
        let page = crate::mm::page_alloc::pfn_to_page(pfn);
        assert!(page.test(PageFlags::UPTODATE) && !page.test(PageFlags::DIRTY));
    });
}

#[ktest]
fn the_flusher_writes_back_expired_dirty_pages() {
    use crate::fs::fs_writeback::{set_dirty_writeback_centisecs, FLUSHER_PAGES};
    use crate::mm::page_writeback::DIRTY_EXPIRE_CENTISECS;
    let bdev = lookup_bdev("vda").unwrap();
    let (dirty0, _) = dirty_and_writeback();
    let flushed = FLUSHER_PAGES.load(Relaxed);
    // As `sysctl vm.dirty_expire_centisecs=0 vm.dirty_writeback_centisecs=10`.
    let expire = DIRTY_EXPIRE_CENTISECS.swap(0, Relaxed);
    let interval = set_dirty_writeback_centisecs(10);
    write_through_cache(bdev, 1100, 64, 0xc3);
    let t0 = crate::kernel::time::jiffies();
    while dirty_and_writeback() != (dirty0, 0)
        && crate::kernel::time::jiffies() < t0 + 10 * crate::kernel::time::hz()
    {
        crate::kernel::timer::msleep(20);
    }
    DIRTY_EXPIRE_CENTISECS.store(expire, Relaxed);
    set_dirty_writeback_centisecs(interval);
    assert_eq!(dirty_and_writeback(), (dirty0, 0), "Dirty and Writeback did not fall back");
    assert!(FLUSHER_PAGES.load(Relaxed) >= flushed + 64, "the flusher did not write them");
    assert_on_disk(1100, 64, 0xc3);
}

#[ktest]
fn a_write_under_writeback_is_written_again() {
    let bdev = lookup_bdev("vda").unwrap();
    write_through_cache(bdev, 1200, 4, 0x11);
    // Start writeback, then dirty the same pages before waiting for it.
    bdev.write_dirty_pages();
    write_through_cache(bdev, 1200, 4, 0x22);
    bdev.fsync().unwrap();
    assert_on_disk(1200, 4, 0x22);
    assert_eq!(dirty_and_writeback().1, 0);
}

#[ktest]
fn a_sequential_reader_is_read_ahead_in_growing_windows() {
    use crate::mm::filemap::filemap_get_page;
    use pagoda_mm::readahead::RaState;
    let bdev = lookup_bdev("vda").unwrap();
    let reads = || disk("vda").stats.ios[0].load(Relaxed);
    // 700 pages, a page at a time, as `read(fd, buf, 4096)` in a loop.
    let (first, n) = (1300, 700);
    let mut ra = RaState::default();
    ra.note_read(first); // the reader arrives from the page before
    let before = reads();
    for i in first..first + n {
        let (pfn, _) = filemap_get_page(bdev, &mut ra, i, 1).unwrap();
        // SAFETY: an up-to-date cached page we hold a reference to.
        let head = unsafe { core::slice::from_raw_parts(page_address(pfn) as *const u8, 40) };
        let want = sector_line(i as u64 * PAGE_SECTORS);
        assert_eq!(&head[..want.len()], want.as_bytes(), "page {i}");
        crate::mm::page_alloc::put_page(pfn);
        ra.note_read(i + 1);
    }
    let bios = reads() - before;
    // Windows of 4, 8, 16, then read_ahead_kb's 32 pages: about 25 bios,
    // against 700 without readahead.
    assert!(bios <= n / 32 + 5, "{bios} read bios for {n} sequential pages");
    // The last window is still being read: wait for its pages.
    for i in first + n..first + n + 64 {
        if let Some(pfn) = bdev.mapping.find_get_page(i) {
            crate::mm::filemap::wait_on_page_locked(crate::mm::page_alloc::pfn_to_page(pfn));
            crate::mm::page_alloc::put_page(pfn);
        }
    }
    // A random reader gets what it asks for and no more.
    let before = reads();
    let cached = bdev.mapping.nrpages();
    for &i in &[1000usize, 40, 1290, 700, 2040] {
        let mut ra = RaState { prev_index: 5, ..RaState::default() };
        if let Ok((pfn, _)) = filemap_get_page(bdev, &mut ra, i, 1) {
            crate::mm::page_alloc::put_page(pfn);
        }
    }
    assert!(reads() - before <= 5);
    assert!(bdev.mapping.nrpages() <= cached + 5);
}

#[ktest]
fn a_device_error_is_eio_with_a_log_line_and_the_other_pages_still_read() {
    use crate::mm::filemap::filemap_get_page;
    use pagoda_mm::readahead::RaState;
    let vdc = disk("vdc");
    let bdev = lookup_bdev("vdc").unwrap();
    let errors = vdc.stats.errors.load(Relaxed);
    let p = Pages::new(1);
    // Page 8 holds sector 64, which the device fails to read.
    assert_eq!(rw_pages_sync(&vdc, ReqOp::Read, 64, &p.0), Err(Errno::EIO));
    assert_eq!(vdc.stats.errors.load(Relaxed), errors + 1);
    rw_pages_sync(&vdc, ReqOp::Read, 0, &p.0).unwrap();
    assert_image_pattern(&p, 0);
    // Through the page cache: a sequential reader's window [6, 10) fails
    // as a whole; page 6 is then read alone and is fine, page 8 is EIO.
    let mut ra = RaState { prev_index: 5, ..RaState::default() };
    let (pfn, _) = filemap_get_page(bdev, &mut ra, 6, 1).unwrap();
    // SAFETY: an up-to-date cached page we hold a reference to.
    let head = unsafe { core::slice::from_raw_parts(page_address(pfn) as *const u8, 40) };
    assert_eq!(&head[..sector_line(48).len()], sector_line(48).as_bytes());
    crate::mm::page_alloc::put_page(pfn);
    assert_eq!(filemap_get_page(bdev, &mut ra, 8, 1).err(), Some(Errno::EIO));
    assert!(vdc.stats.errors.load(Relaxed) >= errors + 3, "the window and page 8's own read failed");
    // Still cached, not up to date: the next reader tries the disk again.
    assert_eq!(filemap_get_page(bdev, &mut ra, 8, 1).err(), Some(Errno::EIO));
}

#[ktest]
fn a_failed_writeback_is_reported_by_the_next_fsync_once() {
    let bdev = lookup_bdev("vdc").unwrap();
    let vdc = disk("vdc");
    let errors = vdc.stats.errors.load(Relaxed);
    // Page 8 holds sector 64, which the device fails to write too (and to
    // read: a whole-page write does not read it first).
    let n = bdev
        .write_with(8 * PAGE_SIZE as u64, PAGE_SIZE, |dst, _| {
            dst.fill(b'w');
            dst.len()
        })
        .unwrap();
    assert_eq!(n, PAGE_SIZE);
    assert_eq!(bdev.fsync(), Err(Errno::EIO));
    assert!(vdc.stats.errors.load(Relaxed) > errors);
    assert_eq!(dirty_and_writeback().1, 0, "the failed page's writeback ended");
    // Reported once, as Linux's errseq: the next fsync has nothing new.
    assert_eq!(bdev.fsync(), Ok(()));
    // A write elsewhere on the disk (a page the other vdc test does not
    // read) goes through.
    bdev.write_with(200 * PAGE_SIZE as u64, 16, |dst, _| {
        dst.fill(b'k');
        dst.len()
    })
    .unwrap();
    assert_eq!(bdev.fsync(), Ok(()));
    // Leave page 8 out of the cache, as the read-error test expects it
    // (off the LRU batch first, which holds a reference).
    crate::mm::swap::lru_add_drain_all();
    assert_eq!(bdev.mapping.invalidate_mapping_pages(8, 9), 1);
}
