//! ext4, read-only (Linux: fs/ext4/ as mounted with `-o ro`: ext4_fill_super,
//! ext4_lookup, ext4_readdir, ext4_read_folio / ext4_mpage_readpages), on
//! the ext4-view crate, which parses the on-disk structures.
//!
//! What Pagoda adds is the memory side: every regular file has its own page
//! cache (`Cached` in meminfo), filled by readahead windows when a read or
//! a fault misses (a fault that had to wait for the disk is a
//! *major* fault, counted in `pgmajfault` and getrusage's `ru_majflt`), and
//! mappings of the file map those pages. Its pages are clean: reclaim can
//! drop them and a later access reads them again.
//!
//! Directories are read when first looked into; their entries become
//! inodes of the ordinary kinds (`InodeKind::Ext4Dir`, `Ext4File`,
//! `Symlink`), so path lookup, stat and getdents work on them unchanged.
//! Creating, removing or writing anything gives EROFS.
//!
//! Where Pagoda differs: the crate reads the disk directly, block by block,
//! with its own small cache of metadata blocks, rather than through the
//! disk's page cache (Linux's buffer heads, `Buffers`); and a directory's
//! entries stay in memory once read (Linux's dentry cache can shrink).

use crate::block::{rw_pages_sync, BlockDevice, ReqOp, SECTOR_SIZE};
use crate::mm::address_space::AddressSpace;
use crate::mm::page_alloc::{alloc_pages, page_address, put_page};
use crate::sync::Mutex;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use ext4_view::{Ext4, Ext4Read, FileType};
use log::warn;
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::addr::PAGE_SIZE;
use pagoda_mm::gfp::Gfp;
use pagoda_mm::readahead::RaState;

use super::inode::{Inode, InodeKind, InodeRef, S_IFDIR, S_IFLNK, S_IFREG};

/// The most pages the crate is asked for in one disk read.
const MAX_READ_PAGES: usize = 32;

/// The crate's view of the disk: whole pages read synchronously with a
/// bio, and the bytes wanted copied out.
struct DiskReader(&'static BlockDevice);

#[derive(Debug)]
struct IoError(Errno);

impl core::fmt::Display for IoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl core::error::Error for IoError {}

impl Ext4Read for DiskReader {
    fn read(&mut self, start: u64, dst: &mut [u8]) -> Result<(), Box<dyn core::error::Error + Send + Sync>> {
        let disk = &self.0.disk;
        let end = start.checked_add(dst.len() as u64).filter(|&e| e <= disk.size_bytes());
        end.ok_or_else(|| Box::new(IoError(Errno::EIO)) as Box<_>)?;
        let mut done = 0;
        while done < dst.len() {
            let pos = start + done as u64;
            // Up to a bio's worth of pages from the sector holding `pos`.
            let sector = pos / SECTOR_SIZE as u64;
            let skip = (pos % SECTOR_SIZE as u64) as usize;
            let want = (dst.len() - done + skip).min(MAX_READ_PAGES * PAGE_SIZE);
            let sectors = (want.div_ceil(SECTOR_SIZE) as u64).min(disk.capacity - sector);
            let pages = (sectors as usize * SECTOR_SIZE).div_ceil(PAGE_SIZE);
            let mut pfns = Vec::new();
            for _ in 0..pages {
                match alloc_pages(Gfp::GFP_NOIO, 0) {
                    Ok(pfn) => pfns.push(pfn),
                    Err(_) => break,
                }
            }
            let res = if pfns.is_empty() {
                Err(Errno::ENOMEM)
            } else {
                read_sectors(self.0, sector, sectors, &pfns)
            };
            if res.is_ok() {
                let got = (sectors as usize * SECTOR_SIZE).min(pfns.len() * PAGE_SIZE) - skip;
                let n = got.min(dst.len() - done);
                for (i, &pfn) in pfns.iter().enumerate() {
                    // Bytes [skip, skip + n) of the pages read, page `i`'s part.
                    let (lo, hi) = ((i * PAGE_SIZE).max(skip), ((i + 1) * PAGE_SIZE).min(skip + n));
                    if lo < hi {
                        // SAFETY: our page, read and no longer at the device.
                        let src =
                            unsafe { core::slice::from_raw_parts(page_address(pfn) as *const u8, PAGE_SIZE) };
                        dst[done + lo - skip..done + hi - skip]
                            .copy_from_slice(&src[lo - i * PAGE_SIZE..hi - i * PAGE_SIZE]);
                    }
                }
                done += n;
            }
            for pfn in pfns {
                put_page(pfn);
            }
            res.map_err(|e| Box::new(IoError(e)) as Box<_>)?;
        }
        Ok(())
    }
}

/// Reads `sectors` sectors from `sector` into the pages `pfns` (which hold
/// at least that many), the last page partly if the count is not whole pages.
fn read_sectors(bdev: &BlockDevice, sector: u64, sectors: u64, pfns: &[usize]) -> KResult<()> {
    let whole = (sectors as usize * SECTOR_SIZE / PAGE_SIZE).min(pfns.len());
    if whole > 0 {
        rw_pages_sync(&bdev.disk, ReqOp::Read, sector, &pfns[..whole])?;
    }
    let rest = sectors as usize * SECTOR_SIZE - whole * PAGE_SIZE;
    if rest > 0 && whole < pfns.len() {
        let mut bio = crate::block::Bio::new(
            bdev.disk.clone(),
            ReqOp::Read,
            sector + (whole * PAGE_SIZE / SECTOR_SIZE) as u64,
        );
        bio.add_page(pfns[whole], rest, 0)?;
        crate::block::submit_bio_wait(bio)?;
    }
    Ok(())
}

/// The parsed filesystem and the files being read, behind one lock.
struct Ext4State {
    fs: Ext4,
    /// An open crate file per inode being read, so that sequential reads
    /// need no seek (seeking walks the file's blocks from its start).
    cursors: BTreeMap<u64, ext4_view::File>,
}

// SAFETY: `Ext4` counts references with `Rc` and keeps its caches in
// `RefCell`s. Every clone of it (the crate's `File`s) lives in this struct,
// which is only reached through the `Mutex` in `Ext4Sb`: no two CPUs ever
// touch those counts or cells at once, and none escapes the lock.
unsafe impl Send for Ext4State {}

/// A mounted ext4 filesystem (Linux: struct super_block with ext4_sb_info).
pub struct Ext4Sb {
    pub bdev: &'static BlockDevice,
    state: Mutex<Ext4State>,
    /// Pages read into the page cache of its files.
    pub pages_read: AtomicU64,
}

fn crate_err(e: ext4_view::Ext4Error) -> Errno {
    use ext4_view::Ext4Error as E;
    match e {
        E::NotFound => Errno::ENOENT,
        E::NotADirectory => Errno::ENOTDIR,
        E::IsADirectory => Errno::EISDIR,
        E::PathTooLong => Errno::ENAMETOOLONG,
        _ => Errno::EIO,
    }
}

/// Reads the superblock of `bdev` and makes the root directory's inode
/// (Linux: ext4_fill_super). EINVAL if the disk holds no ext4 (or ext2)
/// filesystem, as Linux's mount says.
pub fn ext4_fill_super(bdev: &'static BlockDevice) -> KResult<InodeRef> {
    let fs = Ext4::load(Box::new(DiskReader(bdev))).map_err(|e| {
        warn!("EXT4-fs ({}): VFS: Can't find ext4 filesystem ({e})", bdev.disk.name);
        Errno::EINVAL
    })?;
    let label = String::from(fs.label().to_str().unwrap_or(""));
    let sb = Arc::try_new(Ext4Sb {
        bdev,
        state: Mutex::new(Ext4State { fs, cursors: BTreeMap::new() }),
        pages_read: AtomicU64::new(0),
    })
    .map_err(|_| Errno::ENOMEM)?;
    log::info!(
        "EXT4-fs ({}): mounted filesystem{} read-only",
        bdev.disk.name,
        if label.is_empty() { String::new() } else { alloc::format!(" \"{label}\"") }
    );
    Inode::new(S_IFDIR | 0o755, InodeKind::Ext4Dir(Ext4Dir::new(sb, String::from("/"))?))
}

/// A directory of an ext4 filesystem; its entries are read on first use
/// (Linux: ext4_lookup and ext4_readdir, with the dcache holding them).
pub struct Ext4Dir {
    sb: Arc<Ext4Sb>,
    path: String,
    entries: Mutex<Option<Vec<(String, InodeRef)>>>,
}

impl Ext4Dir {
    fn new(sb: Arc<Ext4Sb>, path: String) -> KResult<Ext4Dir> {
        Ok(Ext4Dir { sb, path, entries: Mutex::new(None) })
    }

    /// Calls `f` with the entries, reading them from the disk the first time.
    pub fn with_entries<R>(&self, f: impl FnOnce(&[(String, InodeRef)]) -> R) -> KResult<R> {
        let mut e = self.entries.lock();
        if e.is_none() {
            *e = Some(self.read_entries()?);
        }
        Ok(f(e.as_deref().unwrap_or(&[])))
    }

    /// `f` of the entries if they have been read, else false.
    pub fn with_loaded_entries(&self, f: impl FnOnce(&[(String, InodeRef)]) -> bool) -> bool {
        self.entries.lock().as_deref().is_some_and(f)
    }

    /// The device the filesystem is on (stat's st_dev).
    pub fn dev(&self) -> u64 {
        self.sb.bdev.disk.rdev()
    }

    fn read_entries(&self) -> KResult<Vec<(String, InodeRef)>> {
        let st = self.sb.state.lock();
        let mut out = Vec::new();
        // A damaged directory is logged as Linux's ext4_error does, and EIO.
        let fail = |e: ext4_view::Ext4Error| {
            log::error!("EXT4-fs error (device {}): {}: {e}", self.sb.bdev.disk.name, self.path);
            crate_err(e)
        };
        for entry in st.fs.read_dir(self.path.as_str()).map_err(fail)? {
            let entry = entry.map_err(fail)?;
            let Ok(name) = entry.file_name().as_str() else {
                warn!(
                    "EXT4-fs ({}): {}: a name that is not UTF-8, skipped",
                    self.sb.bdev.disk.name, self.path
                );
                continue;
            };
            if name == "." || name == ".." {
                continue;
            }
            let path = if self.path == "/" {
                alloc::format!("/{name}")
            } else {
                alloc::format!("{}/{name}", self.path)
            };
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) => {
                    // A damaged inode: listed, but reading it is EIO
                    // (Linux: ext4_iget's "checksum invalid", EFSBADCRC).
                    log::error!("EXT4-fs error (device {}): {path}: {e}", self.sb.bdev.disk.name);
                    let file = Ext4File {
                        sb: self.sb.clone(),
                        path,
                        size: 0,
                        broken: true,
                        mapping: AddressSpace::new(false),
                    };
                    out.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
                    out.push((String::from(name), Inode::new(S_IFREG, InodeKind::Ext4File(file))?));
                    continue;
                }
            };
            let perm = meta.mode() as u32;
            let inode = match meta.file_type() {
                FileType::Directory => {
                    Inode::new(S_IFDIR | perm, InodeKind::Ext4Dir(Ext4Dir::new(self.sb.clone(), path)?))?
                }
                FileType::Regular => {
                    let file = Ext4File {
                        sb: self.sb.clone(),
                        path,
                        size: meta.len(),
                        broken: false,
                        mapping: AddressSpace::new(false),
                    };
                    Inode::new(S_IFREG | perm, InodeKind::Ext4File(file))?
                }
                FileType::Symlink => {
                    let target = st.fs.read_link(path.as_str()).map_err(crate_err)?;
                    let target = String::from(target.to_str().map_err(|_| Errno::EIO)?);
                    Inode::new(S_IFLNK | 0o777, InodeKind::Symlink(target))?
                }
                _ => continue, // devices, fifos and sockets: not on Pagoda's disks
            };
            out.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
            out.push((String::from(name), inode));
        }
        Ok(out)
    }
}

/// A regular file of an ext4 filesystem (Linux: an ext4 inode with its
/// address_space).
pub struct Ext4File {
    sb: Arc<Ext4Sb>,
    path: String,
    size: u64,
    /// Its inode could not be read: every read is EIO.
    broken: bool,
    pub mapping: AddressSpace,
}

impl Ext4File {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The device the filesystem is on (stat's st_dev).
    pub fn dev(&self) -> u64 {
        self.sb.bdev.disk.rdev()
    }

    fn pages(&self) -> usize {
        self.size.div_ceil(PAGE_SIZE as u64) as usize
    }

    /// Reads pages `[index, index + n)` that are not cached into the cache,
    /// setting PG_readahead on page `mark`; synchronously, the crate reading
    /// under the filesystem's lock (Linux: ext4_mpage_readpages, which
    /// submits bios and returns).
    fn read_pages(&self, index: usize, n: usize, mark: Option<usize>) -> KResult<()> {
        let mut st = self.sb.state.lock();
        let Ext4State { fs, cursors } = &mut *st;
        let key = self as *const Ext4File as u64;
        let file = match cursors.entry(key) {
            alloc::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            alloc::collections::btree_map::Entry::Vacant(v) => {
                v.insert(fs.open(self.path.as_str()).map_err(crate_err)?)
            }
        };
        for i in index..(index + n).min(self.pages()) {
            if self.mapping.find_get_page(i).map(put_page).is_some() {
                continue;
            }
            let pfn =
                alloc_pages(Gfp::GFP_HIGHUSER_MOVABLE | Gfp::__GFP_ZERO, 0).map_err(|_| Errno::ENOMEM)?;
            let pos = (i * PAGE_SIZE) as u64;
            let res: KResult<()> = (|| {
                if file.position() != pos {
                    file.seek_to(pos).map_err(crate_err)?;
                }
                // SAFETY: a fresh page of ours, not in the cache yet.
                let buf = unsafe { core::slice::from_raw_parts_mut(page_address(pfn) as *mut u8, PAGE_SIZE) };
                let mut got = 0;
                while got < PAGE_SIZE {
                    match file.read_bytes(&mut buf[got..]).map_err(crate_err)? {
                        0 => break,
                        k => got += k,
                    }
                }
                Ok(())
            })();
            if let Err(e) = res {
                put_page(pfn);
                cursors.remove(&key);
                warn!("EXT4-fs ({}): {}: cannot read page {i}: {e}", self.sb.bdev.disk.name, self.path);
                return Err(Errno::EIO);
            }
            let page = crate::mm::page_alloc::pfn_to_page(pfn);
            page.set_bit(pagoda_mm::page::PageFlags::UPTODATE);
            if mark == Some(i) {
                page.set_bit(pagoda_mm::page::PageFlags::READAHEAD);
            }
            let added = self.mapping.add_to_page_cache(pfn, i);
            put_page(pfn); // the cache holds it now, or nobody does
            match added {
                Ok(()) => {
                    self.sb.pages_read.fetch_add(1, Relaxed);
                }
                Err(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// read(2), reading ahead as the file's `ra` decides (Linux:
    /// ext4_file_read_iter -> filemap_read).
    pub fn read(&self, ra: &mut RaState, off: u64, buf: usize, count: usize) -> KResult<usize> {
        if self.broken {
            return Err(Errno::EIO);
        }
        crate::mm::filemap::filemap_read(self, ra, self.size, off, buf, count)
    }
}

impl crate::mm::filemap::ReadPages for Ext4File {
    fn cache(&self) -> &AddressSpace {
        &self.mapping
    }

    fn ra_pages(&self) -> usize {
        self.sb.bdev.disk.ra_pages()
    }

    fn nr_pages(&self) -> usize {
        self.pages()
    }

    fn readahead(&self, start: usize, nr: usize, mark: Option<usize>) -> KResult<()> {
        self.read_pages(start, nr, mark)
    }

    /// Pages enter the cache up to date: nothing to wait for.
    fn update_page(&self, _index: usize, _pfn: usize) -> KResult<()> {
        Ok(())
    }
}

impl Drop for Ext4File {
    fn drop(&mut self) {
        let key = self as *const Ext4File as u64;
        self.sb.state.lock().cursors.remove(&key);
    }
}

/// Faults on a mapping of an ext4 file (Linux: ext4_file_vm_ops:
/// filemap_fault, filemap_map_pages; no page_mkwrite, the filesystem is
/// read-only).
struct Ext4VmOps;

pub static EXT4_VM_OPS: &dyn crate::mm::vma::VmOperations = &Ext4VmOps;

fn vma_file(vma: &crate::mm::vma::Vma) -> Option<&Ext4File> {
    match &vma.vm_file.as_ref()?.inode().kind {
        InodeKind::Ext4File(f) => Some(f),
        _ => None,
    }
}

impl crate::mm::vma::VmOperations for Ext4VmOps {
    /// The file's page; a read from the disk makes it a major fault; SIGBUS
    /// past the end of the file or on an I/O error.
    fn fault(
        &self,
        _mm: &crate::mm::mm_types::MmStruct,
        vma: &crate::mm::vma::Vma,
        vmf: &crate::mm::vma::VmFault,
    ) -> Result<usize, crate::mm::memory::FaultError> {
        use crate::mm::memory::FaultError;
        let file = vma_file(vma).ok_or(FaultError::SigBus)?;
        if vmf.pgoff >= file.pages() {
            return Err(FaultError::SigBus);
        }
        match crate::mm::filemap::filemap_fault_page(file, vmf.pgoff) {
            Ok((pfn, read)) => {
                vmf.major.set(read);
                Ok(pfn)
            }
            Err(Errno::ENOMEM) => Err(FaultError::Oom),
            Err(_) => Err(FaultError::SigBus),
        }
    }

    fn map_page(&self, vma: &crate::mm::vma::Vma, pgoff: usize) -> Option<usize> {
        crate::mm::filemap::filemap_map_page(vma_file(vma)?, pgoff)
    }
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use crate::fs::mount::{do_mount, do_umount, MS_RDONLY};
    use crate::fs::namei::{kern_path, mkdir_p, Path};
    use crate::mm::filemap::filemap_get_page;

    /// tests/ktest.sh attaches vdd: scripts/make-ext4-image.sh's disk with
    /// /hello.txt's inode and /dir's directory block damaged.
    #[ktest]
    fn a_damaged_ext4_disk_is_eio_where_damaged_and_readable_elsewhere() {
        mkdir_p("/ktest-ext4").unwrap();
        let root = Path::root().unwrap();
        do_mount(&root, "/dev/vdd", "/ktest-ext4", "ext4", MS_RDONLY).unwrap();
        {
            // The damaged inode is listed, and reading it is EIO.
            let hello = kern_path("/ktest-ext4/hello.txt").unwrap();
            let InodeKind::Ext4File(f) = &hello.inode().kind else { panic!("not an ext4 file") };
            assert_eq!(f.read(&mut RaState::default(), 0, 0x1000, 10), Err(Errno::EIO));
            // The damaged directory cannot be looked into.
            assert_eq!(kern_path("/ktest-ext4/dir/nested.txt").err(), Some(Errno::EIO));
            // The rest of the disk reads fine.
            let big = kern_path("/ktest-ext4/big").unwrap();
            let InodeKind::Ext4File(f) = &big.inode().kind else { panic!("not an ext4 file") };
            assert_eq!(f.size(), 64 << 20);
            let (pfn, read) = filemap_get_page(f, &mut RaState::default(), 5000, 1).unwrap();
            assert!(read, "the first access reads the disk");
            // SAFETY: an up-to-date cached page we hold a reference to.
            let head = unsafe { core::slice::from_raw_parts(page_address(pfn) as *const u8, 17) };
            assert_eq!(head, b"page 5000 of big\n");
            put_page(pfn);
            assert!(f.mapping.nrpages() > 0);
        }
        do_umount(&root, "/ktest-ext4", 0).unwrap();
        root.inode().unlink("ktest-ext4", true).unwrap();
    }
}
