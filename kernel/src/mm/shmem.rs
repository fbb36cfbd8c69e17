//! tmpfs and shared anonymous memory (Linux: mm/shmem.c): the data of
//! every regular file of the RAM filesystem (`ShmemFile`), and the object
//! behind `mmap(MAP_SHARED | MAP_ANONYMOUS)` (`shmem_zero_setup`). Both keep
//! their pages in a page cache (`address_space.rs`), counted in meminfo's
//! Cached and Shmem; only swap could take them (the reclaim issue).
//!
//! Private anonymous pages belong to one process (copy on write after
//! fork); shared ones belong to an object that every mapping of it sees:
//! a write by a child is read by its parent. Linux makes such a mapping a
//! file on an internal tmpfs mount and its pages live in that file's page
//! cache; Pagoda gives the object an address_space of its own (the page
//! cache, `address_space.rs`), so that a huge mapping costs nothing until
//! it is touched. The cache holds one reference to each of its pages, each
//! PTE mapping it another; the pages go when the last VMA using the object
//! does. They count in meminfo's Cached and Shmem.
//!
//! A shmem page is marked by `page->mapping` pointing at the object's
//! address_space, so that unmapping it counts it in MM_SHMEMPAGES, as
//! Linux's mm_counter does. (Until tmpfs files exist, every page-cache page
//! is a shmem page.) Its size is fixed at mmap time: a fault past it (after
//! mremap grew the VMA) is SIGBUS, as on Linux.

use super::address_space::AddressSpace;
use super::page_alloc::{alloc_pages, put_page};
use pagoda_klib::errno::{Errno, KResult};
use pagoda_mm::gfp::Gfp;

/// Faults on a mapping of a tmpfs file, shared anonymous memory included
/// (Linux: shmem_vm_ops).
struct ShmemVmOps;

impl super::vma::VmOperations for ShmemVmOps {
    /// The file's page at the fault's offset, made on first use (Linux:
    /// shmem_fault). SIGBUS at or past the end of the file.
    fn fault(
        &self,
        _mm: &super::mm_types::MmStruct,
        vma: &super::vma::Vma,
        vmf: &super::vma::VmFault,
    ) -> Result<usize, super::memory::FaultError> {
        use super::memory::FaultError;
        let inode = vma.vm_file.as_ref().ok_or(FaultError::SigBus)?.inode();
        let crate::fs::inode::InodeKind::Reg(file) = &inode.kind else { return Err(FaultError::SigBus) };
        file.fault_page(vmf.pgoff)
    }

    /// A page the file has cached, inside the file (Linux:
    /// filemap_map_pages for shmem).
    fn map_page(&self, vma: &super::vma::Vma, pgoff: usize) -> Option<usize> {
        let crate::fs::inode::InodeKind::Reg(file) = &vma.vm_file.as_ref()?.inode().kind else { return None };
        if pgoff as u64 >= file.size().div_ceil(PAGE_SIZE as u64) {
            return None;
        }
        file.mapping().find_get_page(pgoff)
    }
}

static SHMEM_VM_OPS: ShmemVmOps = ShmemVmOps;

/// The VMA, in `mm`, of a mapping of the tmpfs file `inode` from page
/// `pgoff` (Linux: shmem_mmap).
pub fn shmem_mmap(
    mm: &super::mm_types::MmStruct,
    flags: super::vma::VmFlags,
    inode: crate::fs::inode::InodeRef,
    pgoff: usize,
    name: &str,
) -> KResult<super::vma::Vma> {
    super::vma::Vma::file(mm, flags, inode, pgoff, name, &SHMEM_VM_OPS)
}

/// The VMA of a new shared anonymous mapping of `pages` pages: a file of
/// that size in no directory, mapped from its start (Linux:
/// shmem_zero_setup, whose file /proc shows as "/dev/zero (deleted)").
pub fn shmem_zero_setup(
    mm: &super::mm_types::MmStruct,
    flags: super::vma::VmFlags,
    pages: usize,
) -> KResult<super::vma::Vma> {
    let file = ShmemFile::new(&[]);
    file.state.lock().size = (pages as u64) << 12;
    let kind = crate::fs::inode::InodeKind::Reg(file);
    let inode = crate::fs::inode::Inode::new(crate::fs::inode::S_IFREG | 0o600, kind)?;
    shmem_mmap(mm, flags, inode, 0, "/dev/zero (deleted)")
}

/// The data of a tmpfs regular file (Linux: shmem_inode_info, with the
/// inode's i_size and i_mapping).
///
/// Its pages live in its page cache. A file unpacked from the initramfs
/// starts with none: its bytes stay in the archive, which plays the disk,
/// and a page is read from there into the cache the first time it is
/// needed (Linux unpacks everything at boot; doing it lazily keeps the
/// boot fast and shows a page cache filling). A page that was never
/// written and lies past the archive's bytes is a hole: it reads as zeros
/// without a page being made.
pub struct ShmemFile {
    mapping: AddressSpace,
    /// Writers and truncation, one at a time (Linux: the inode lock,
    /// i_rwsem). Faults never take it, so a write whose user buffer is a
    /// mapping of the same file can fault that page in.
    rw: crate::sync::Mutex<()>,
    /// Taken only for a moment, never across a user copy.
    state: crate::sync::SpinLockIrq<ShmemState>,
}

#[derive(Clone, Copy)]
struct ShmemState {
    /// Linux: i_size.
    size: u64,
    /// The bytes the file started with that are not superseded: cut when
    /// the file is truncated below them.
    archive: &'static [u8],
}

/// A page of zeros, what a hole reads as (Linux: ZERO_PAGE).
static ZEROES: [u8; PAGE_SIZE] = [0; PAGE_SIZE];

const PAGE_SIZE: usize = 4096;

impl ShmemFile {
    /// A file holding `archive`'s bytes (empty for a new file).
    pub fn new(archive: &'static [u8]) -> ShmemFile {
        ShmemFile {
            mapping: AddressSpace::new(true),
            rw: crate::sync::Mutex::new(()),
            state: crate::sync::SpinLockIrq::new(ShmemState { size: archive.len() as u64, archive }),
        }
    }

    /// Linux: i_size_read.
    pub fn size(&self) -> u64 {
        self.state.lock().size
    }

    /// The file's page cache (Linux: i_mapping).
    pub fn mapping(&self) -> &AddressSpace {
        &self.mapping
    }

    /// Pages in the page cache.
    pub fn nrpages(&self) -> usize {
        self.mapping.nrpages()
    }

    /// The cached page at `index`, reading it in from the archive if it is
    /// there, or making a zeroed one if `create`; with a reference for the
    /// caller. None for a hole when not creating (Linux: shmem_get_folio
    /// with SGP_READ or SGP_WRITE).
    fn get_page(&self, index: usize, create: bool) -> Result<Option<usize>, Errno> {
        loop {
            if let Some(pfn) = self.mapping.find_get_page(index) {
                return Ok(Some(pfn));
            }
            let archive = self.state.lock().archive;
            let from = index.saturating_mul(PAGE_SIZE);
            if from >= archive.len() && !create {
                return Ok(None);
            }
            let pfn =
                alloc_pages(Gfp::GFP_HIGHUSER_MOVABLE | Gfp::__GFP_ZERO, 0).map_err(|_| Errno::ENOMEM)?;
            if from < archive.len() {
                let bytes = &archive[from..archive.len().min(from + PAGE_SIZE)];
                // SAFETY: a fresh page of ours, through the linear map;
                // `bytes` is at most a page.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        bytes.as_ptr(),
                        super::page_alloc::page_address(pfn) as *mut u8,
                        bytes.len(),
                    )
                };
            }
            match self.mapping.add_to_page_cache(pfn, index) {
                Ok(()) => return Ok(Some(pfn)),
                Err(e) => {
                    put_page(pfn);
                    if e != Errno::EEXIST {
                        return Err(e);
                    }
                    // Someone else read it in first: use theirs.
                }
            }
        }
    }

    /// The page at `index` for a fault on a mapping of the file, made on
    /// first use, with a reference for the mapping (Linux: shmem_fault ->
    /// shmem_get_folio with SGP_CACHE). SIGBUS at or past the end of the
    /// file.
    pub fn fault_page(&self, index: usize) -> Result<usize, super::memory::FaultError> {
        use super::memory::FaultError;
        if (index as u64) >= self.size().div_ceil(PAGE_SIZE as u64) {
            return Err(FaultError::SigBus);
        }
        match self.get_page(index, true) {
            Ok(Some(pfn)) => Ok(pfn),
            _ => Err(FaultError::Oom),
        }
    }

    /// Hands `sink` the file's bytes from `off`, page by page, up to
    /// `count` bytes or the end of the file, until it takes fewer than it
    /// was given (Linux: filemap_read's loop, shmem_file_read_iter).
    /// Returns the bytes taken.
    fn read_with(
        &self,
        off: u64,
        count: usize,
        mut sink: impl FnMut(&[u8]) -> usize,
    ) -> Result<usize, Errno> {
        let mut done = 0;
        while done < count {
            let pos = off + done as u64;
            let size = self.size();
            if pos >= size {
                break;
            }
            let (index, in_page) = ((pos / PAGE_SIZE as u64) as usize, (pos % PAGE_SIZE as u64) as usize);
            let n = (PAGE_SIZE - in_page).min(count - done).min((size - pos) as usize);
            let took = match self.get_page(index, false)? {
                Some(pfn) => {
                    // SAFETY: a cached page we hold a reference to, through
                    // the linear map; [in_page, in_page + n) is inside it.
                    let bytes = unsafe {
                        core::slice::from_raw_parts(
                            (super::page_alloc::page_address(pfn) + in_page) as *const u8,
                            n,
                        )
                    };
                    let took = sink(bytes);
                    put_page(pfn);
                    took
                }
                None => sink(&ZEROES[..n]),
            };
            done += took;
            if took < n {
                break;
            }
        }
        Ok(done)
    }

    /// read(2) into user memory at `buf` (Linux: shmem_file_read_iter).
    /// EFAULT if nothing could be copied.
    pub fn read(&self, off: u64, buf: usize, count: usize) -> KResult<usize> {
        let mut at = buf;
        let n = self.read_with(off, count, |bytes| {
            let took = super::uaccess::copy_to_user_partial(at, bytes);
            at += took;
            took
        })?;
        if n == 0 && count > 0 && off < self.size() {
            return Err(Errno::EFAULT);
        }
        Ok(n)
    }

    /// The whole file, borrowed from the archive when it is still exactly
    /// the archive's bytes, else read into a buffer (for exec and the
    /// monitor).
    pub fn contents(&self) -> KResult<alloc::borrow::Cow<'static, [u8]>> {
        let st = *self.state.lock();
        if st.size == st.archive.len() as u64 && self.mapping.nrpages() == 0 {
            return Ok(alloc::borrow::Cow::Borrowed(st.archive));
        }
        let size = usize::try_from(st.size).map_err(|_| Errno::EFBIG)?;
        let mut v = alloc::vec::Vec::new();
        v.try_reserve_exact(size).map_err(|_| Errno::ENOMEM)?;
        self.read_with(0, size, |bytes| {
            v.extend_from_slice(bytes);
            bytes.len()
        })?;
        Ok(alloc::borrow::Cow::Owned(v))
    }

    /// write(2) of `count` user bytes at `buf` to offset `off`, or at the
    /// end with `append` (Linux: generic_perform_write with
    /// shmem_write_begin/end). Returns the bytes written and where they
    /// started; EFAULT if none could be, ENOSPC when memory runs out (as a
    /// full tmpfs says), EFBIG past the largest offset.
    pub fn write(&self, off: u64, append: bool, buf: usize, count: usize) -> KResult<(usize, u64)> {
        let _rw = self.rw.lock();
        let start = if append { self.size() } else { off };
        if count == 0 {
            return Ok((0, start));
        }
        start.checked_add(count as u64).filter(|&e| e <= i64::MAX as u64).ok_or(Errno::EFBIG)?;
        let mut done = 0;
        while done < count {
            let pos = start + done as u64;
            let (index, in_page) = ((pos / PAGE_SIZE as u64) as usize, (pos % PAGE_SIZE as u64) as usize);
            let n = (PAGE_SIZE - in_page).min(count - done);
            let pfn = match self.get_page(index, true) {
                Ok(Some(pfn)) => pfn,
                _ if done > 0 => break,
                _ => return Err(Errno::ENOSPC),
            };
            // SAFETY: a cached page we hold a reference to, through the
            // linear map; [in_page, in_page + n) is inside it. A fault part
            // way leaves the file's other bytes as they were.
            let dst = unsafe {
                core::slice::from_raw_parts_mut(
                    (super::page_alloc::page_address(pfn) + in_page) as *mut u8,
                    n,
                )
            };
            let copied = super::uaccess::copy_from_user_partial(dst, buf + done);
            put_page(pfn);
            done += copied;
            // The file grows to cover what was written (Linux: i_size_write
            // in shmem_write_end).
            let end = start + done as u64;
            let mut st = self.state.lock();
            st.size = st.size.max(end);
            drop(st);
            if copied < n {
                break;
            }
        }
        if done == 0 {
            return Err(Errno::EFAULT);
        }
        Ok((done, start))
    }

    /// Sets the size to `len` (Linux: shmem_setattr -> truncate_setsize ->
    /// truncate_pagecache): pages wholly past it leave the cache, the rest
    /// of the last page is zeroed, and growing adds a hole.
    pub fn truncate(&self, len: u64) -> KResult<()> {
        let _rw = self.rw.lock();
        {
            let mut st = self.state.lock();
            st.size = len;
            let keep = st.archive.len().min(usize::try_from(len).unwrap_or(usize::MAX));
            st.archive = &st.archive[..keep];
        }
        let first_gone = usize::try_from(len.div_ceil(PAGE_SIZE as u64)).unwrap_or(usize::MAX);
        // Mappings first, so that no process keeps a page past the end
        // (Linux: truncate_pagecache).
        self.mapping.unmap_mapping_range(first_gone)?;
        self.mapping.truncate_inode_pages(first_gone);
        let in_page = (len % PAGE_SIZE as u64) as usize;
        if in_page != 0 {
            if let Some(pfn) = self.mapping.find_get_page((len / PAGE_SIZE as u64) as usize) {
                // SAFETY: a cached page we hold a reference to.
                unsafe {
                    core::ptr::write_bytes(
                        (super::page_alloc::page_address(pfn) + in_page) as *mut u8,
                        0,
                        PAGE_SIZE - in_page,
                    )
                };
                put_page(pfn);
            }
        }
        Ok(())
    }
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

    /// An initramfs file reads from the archive until a page is needed in
    /// the cache; truncating cuts the archive too, so growing the file
    /// again shows zeros, not the old bytes; holes take no page.
    #[ktest]
    fn a_tmpfs_file_reads_its_archive_and_truncates_it() {
        static TEXT: &[u8] = b"hello, page cache";
        let f = ShmemFile::new(TEXT);
        assert!(matches!(f.contents(), Ok(alloc::borrow::Cow::Borrowed(b)) if b == TEXT));
        assert_eq!(f.nrpages(), 0, "nothing read in yet");
        let pfn = f.get_page(0, false).unwrap().expect("page 0 is in the archive");
        put_page(pfn);
        assert_eq!(f.mapping.find_get_page(0), Some(pfn), "cached at its offset");
        put_page(pfn);
        assert_eq!(f.nrpages(), 1, "the page was read in once");
        assert_eq!(f.get_page(1, false), Ok(None), "past the archive: a hole");
        assert_eq!(f.contents().unwrap().as_ref(), TEXT, "now read through the cache");
        f.truncate(5).unwrap();
        assert_eq!(f.contents().unwrap().as_ref(), b"hello");
        f.truncate(3 * 4096).unwrap();
        let all = f.contents().unwrap();
        assert_eq!(all.len(), 3 * 4096);
        assert!(all[..5] == *b"hello" && all[5..].iter().all(|&b| b == 0), "the cut bytes stay gone");
        assert_eq!(f.nrpages(), 1, "the two new pages are holes");
        f.truncate(0).unwrap();
        assert_eq!(f.nrpages(), 0);
        assert_eq!(f.size(), 0);
    }

    /// A read fault on a file mapping also maps the neighbours its page
    /// cache holds, in the aligned 64 KiB window (fault-around); a page
    /// not cached, or past the window, waits for its own fault.
    #[ktest]
    fn a_read_fault_maps_the_cached_pages_around_it() {
        use crate::fs::inode::{Inode, InodeKind, S_IFREG};
        use crate::mm::memory::{handle_mm_fault, Handled, FAULT_AROUND_PAGES};
        use crate::mm::vma::VmFlags;
        use core::sync::atomic::Ordering::Relaxed;
        static DATA: [u8; 20 * PAGE_SIZE] = [7; 20 * PAGE_SIZE];
        const A: usize = 0x4000_0000;
        let inode = Inode::new(S_IFREG | 0o644, InodeKind::Reg(ShmemFile::new(&DATA))).unwrap();
        let InodeKind::Reg(file) = &inode.kind else { unreachable!() };
        // Pages 0..16 and 18 are cached; 16 and 17 are not.
        for i in (0..16).chain([18]) {
            put_page(file.fault_page(i).unwrap());
        }
        let mm = crate::mm::mm_types::MmStruct::alloc().unwrap();
        mm.mmget();
        let vma = shmem_mmap(&mm, VmFlags::READ | VmFlags::MAYREAD, inode.clone(), 0, "/test").unwrap();
        mm.mmap_lock.write().insert_vma(A, A + 20 * PAGE_SIZE, vma).unwrap();
        let before = FAULT_AROUND_PAGES.load(Relaxed);
        assert_eq!(handle_mm_fault(&mm, A + 5 * PAGE_SIZE, false, false), Ok(Handled::Shared));
        let present = |i: usize| mm.pte_get_lockless(A + i * PAGE_SIZE).0.pte_present();
        assert!((0..16).all(present), "the whole 64 KiB window is mapped");
        assert!(!(16..20).any(present), "nothing past the window");
        assert_eq!(FAULT_AROUND_PAGES.load(Relaxed) - before, 15);
        assert_eq!(mm.get_mm_counter(crate::mm::mm_types::MM_SHMEMPAGES), 16);
        // The next window: page 16 is not cached, so only the fault's own
        // page 16 (read in now) and the cached page 18 are mapped.
        assert_eq!(handle_mm_fault(&mm, A + 16 * PAGE_SIZE, false, false), Ok(Handled::Shared));
        assert!(present(16) && !present(17) && present(18) && !present(19));
        mm.mmput();
    }
}
