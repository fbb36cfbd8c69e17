//! Virtual memory areas (Linux: include/linux/mm_types.h vm_area_struct,
//! include/linux/mm.h VM_* flags, vm_get_page_prot).
//!
//! A process's address space is a set of non-overlapping VMAs, each a
//! page-aligned range with the same permissions and the same backing. The
//! set lives in `MmMap` under the mm's `mmap_lock` (a reader-writer
//! semaphore: faults read it, mmap/munmap/mprotect/brk write it), in the
//! augmented red-black tree of `pagoda_mm::vma_tree`.
//!
//! Anonymous memory and shared anonymous memory exist so far; a VMA with
//! `vm_ops` (shmem, the signal trampoline) gets its pages from them on a
//! fault, as file-backed VMAs will with the page cache.

use crate::sync::RwSem;
use alloc::string::String;
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};

use crate::syscall::rlimit::{RLIMIT_AS, RLIMIT_DATA};

/// Whether a VMA counts as data: private, writable, not a stack (Linux:
/// is_data_mapping).
pub fn is_data_mapping(flags: VmFlags) -> bool {
    flags & (VmFlags::WRITE | VmFlags::SHARED | VmFlags::GROWSDOWN) == VmFlags::WRITE
}
use pagoda_mm::vma_tree::VmaTree;

bitflags::bitflags! {
    /// Linux's vm_flags values.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct VmFlags: u64 {
        const READ = 0x0000_0001;
        const WRITE = 0x0000_0002;
        const EXEC = 0x0000_0004;
        const SHARED = 0x0000_0008;
        const MAYREAD = 0x0000_0010;
        const MAYWRITE = 0x0000_0020;
        const MAYEXEC = 0x0000_0040;
        const MAYSHARE = 0x0000_0080;
        const GROWSDOWN = 0x0000_0100;
        const LOCKED = 0x0000_2000;
        const SEQ_READ = 0x0000_8000;
        const RAND_READ = 0x0001_0000;
        const DONTCOPY = 0x0002_0000;
        const DONTEXPAND = 0x0004_0000;
        const ACCOUNT = 0x0010_0000;
        const NORESERVE = 0x0020_0000;
        const WIPEONFORK = 0x0200_0000;
        const DONTDUMP = 0x0400_0000;
        const HUGEPAGE = 0x2000_0000;
        const NOHUGEPAGE = 0x4000_0000;
        const MERGEABLE = 0x8000_0000;
        const LOCKONFAULT = 0x1_0000_0000;
    }
}

impl VmFlags {
    /// The permission bits from mmap's PROT_READ/WRITE/EXEC (1, 2, 4: the
    /// same values as VM_READ/WRITE/EXEC, as in Linux's calc_vm_prot_bits).
    pub fn from_prot(prot: usize) -> VmFlags {
        VmFlags::from_bits_truncate(prot as u64 & 7)
    }
}

/// One VMA's own data; its range is the tree node's (Linux:
/// vm_area_struct).
#[derive(Clone)]
pub struct Vma {
    pub flags: VmFlags,
    /// The page offset of vm_start (Linux: vm_pgoff): in a shared object,
    /// where the mapping starts in it; in anonymous memory, the virtual page
    /// number vm_start had when the VMA was made, kept when mremap moves
    /// it, so that an anonymous page's index stays valid.
    pub pgoff: usize,
    /// The file mapped, for a file mapping or shared anonymous memory
    /// (Linux: vm_file).
    pub vm_file: Option<VmFile>,
    /// Where its anonymous pages are found by rmap (Linux: anon_vma and
    /// the anon_vma_chain list), set at the first anonymous fault.
    pub anon_vma: super::rmap::AnonVmaSlot,
    /// How faults on a mapping with a backing object find its pages
    /// (Linux: vm_ops); None for anonymous memory.
    pub vm_ops: Option<&'static dyn VmOperations>,
}

/// A VMA's file, and the VMA's place on the file's i_mmap list, so that
/// truncation finds every mapping (Linux: vm_file, a struct file, and the
/// VMA's node in the address_space's i_mmap tree; here the file's inode).
/// Cloning it (a split) lists one more VMA of the same address space;
/// dropping it takes one off.
pub struct VmFile {
    inode: crate::fs::inode::InodeRef,
    mm: usize,
    /// The path it was mapped by, as /proc/PID/maps shows it (Linux: the
    /// file's d_path).
    name: Arc<String>,
}

impl VmFile {
    /// `inode`, mapped by the name `name`, in a VMA of `mm` (Linux:
    /// get_file + vma_link_file).
    pub fn new(
        inode: crate::fs::inode::InodeRef,
        mm: &super::mm_types::MmStruct,
        name: &str,
    ) -> KResult<VmFile> {
        let mut s = String::new();
        s.try_reserve_exact(name.len()).map_err(|_| Errno::ENOMEM)?;
        s.push_str(name);
        let name = Arc::try_new(s).map_err(|_| Errno::ENOMEM)?;
        if let Some(m) = mapping_of(&inode) {
            m.i_mmap.add(mm)?;
        }
        Ok(VmFile { inode, mm: mm as *const _ as usize, name })
    }

    /// The same file for a VMA of another address space (fork).
    pub fn dup(&self, mm: &super::mm_types::MmStruct) -> KResult<VmFile> {
        if let Some(m) = self.mapping() {
            m.i_mmap.add(mm)?;
        }
        Ok(VmFile { inode: self.inode.clone(), mm: mm as *const _ as usize, name: self.name.clone() })
    }

    pub fn inode(&self) -> &crate::fs::inode::InodeRef {
        &self.inode
    }

    pub fn name(&self) -> &Arc<String> {
        &self.name
    }

    /// The file's page cache.
    pub fn mapping(&self) -> Option<&super::address_space::AddressSpace> {
        mapping_of(&self.inode)
    }
}

fn mapping_of(inode: &crate::fs::inode::InodeRef) -> Option<&super::address_space::AddressSpace> {
    inode.mapping()
}

impl Clone for VmFile {
    fn clone(&self) -> Self {
        if let Some(m) = self.mapping() {
            m.i_mmap.add_listed(self.mm);
        }
        VmFile { inode: self.inode.clone(), mm: self.mm, name: self.name.clone() }
    }
}

impl Drop for VmFile {
    fn drop(&mut self) {
        if let Some(m) = self.mapping() {
            m.i_mmap.del(self.mm);
        }
    }
}

impl Vma {
    /// An anonymous VMA starting at `start` (Linux: vm_area_alloc +
    /// vma_set_anonymous; mmap sets vm_pgoff to the start's page number).
    pub fn anon(flags: VmFlags, start: usize) -> Vma {
        Vma {
            flags,
            pgoff: start >> 12,
            vm_file: None,
            anon_vma: super::rmap::AnonVmaSlot::none(),
            vm_ops: None,
        }
    }

    /// A mapping, in `mm`, of the file `inode` (known by `name`) from page
    /// `pgoff`, whose faults `ops` serves (Linux: the VMA do_mmap makes,
    /// with call_mmap setting vm_ops).
    pub fn file(
        mm: &super::mm_types::MmStruct,
        flags: VmFlags,
        inode: crate::fs::inode::InodeRef,
        pgoff: usize,
        name: &str,
        ops: &'static dyn VmOperations,
    ) -> KResult<Vma> {
        Ok(Vma {
            flags,
            pgoff,
            vm_file: Some(VmFile::new(inode, mm, name)?),
            anon_vma: super::rmap::AnonVmaSlot::none(),
            vm_ops: Some(ops),
        })
    }

    /// Whether faults here go to `vm_ops` (Linux: !vma_is_anonymous).
    pub fn has_backing(&self) -> bool {
        self.vm_ops.is_some()
    }
}

/// A fault that a VMA's backing object must answer (Linux: struct
/// vm_fault, of which the object needs only the offset so far).
pub struct VmFault {
    /// The page's offset in the object (Linux: vmf->pgoff, from
    /// linear_page_index).
    pub pgoff: usize,
    /// Set by ->fault when it had to read the page from a disk (Linux:
    /// VM_FAULT_MAJOR in its return value).
    pub major: core::cell::Cell<bool>,
}

/// A mapping's backing object as faults see it (Linux:
/// vm_operations_struct). Shared anonymous memory (shmem) and the signal
/// trampoline (a special mapping) have one now; files get theirs with the
/// page cache.
pub trait VmOperations: Sync {
    /// The page at `vmf.pgoff` of `vma`'s object in `mm`, with a reference
    /// taken for the mapping about to be made (Linux: ->fault filling
    /// vmf->page). Called with the mmap_lock held for reading and no
    /// page-table lock.
    fn fault(
        &self,
        mm: &super::mm_types::MmStruct,
        vma: &Vma,
        vmf: &VmFault,
    ) -> Result<usize, super::memory::FaultError>;

    /// The page at `pgoff` if the object already has it in memory and it
    /// lies inside the object, with a reference; never reads or allocates
    /// (Linux: ->map_pages, filemap_map_pages, for fault-around). Called
    /// with the page-table lock held.
    fn map_page(&self, _vma: &Vma, _pgoff: usize) -> Option<usize> {
        None
    }

    /// A write through a shared mapping is about to dirty the page `pfn`
    /// (its PTE becomes dirty, so the MMU lets writes through): the object
    /// marks the page dirty so that writeback finds it, waiting first if
    /// it is being written back (Linux: ->page_mkwrite, filemap_page_mkwrite).
    /// Called with the mmap_lock held for reading and no page-table lock;
    /// the caller holds a reference to the page.
    fn page_mkwrite(&self, _vma: &Vma, _pfn: usize) -> Result<(), super::memory::FaultError> {
        Ok(())
    }
}

/// Where an exec'd program's pieces lie (Linux: mm_struct's start_code,
/// end_code, start_data, end_data, start_stack), for /proc and for
/// RLIMIT_DATA's check of brk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MmBounds {
    pub start_code: usize,
    pub end_code: usize,
    pub start_data: usize,
    pub end_data: usize,
    pub start_stack: usize,
}

/// What `mmap_lock` protects (Linux: the VMA parts of mm_struct).
pub struct MmMap {
    pub vmas: VmaTree<Vma>,
    /// The heap: `[start_brk, brk)` (Linux: mm->start_brk, mm->brk).
    pub start_brk: usize,
    pub brk: usize,
    /// Where top-down mmap searches start (Linux: mm->mmap_base).
    pub mmap_base: usize,
    /// Pages mapped by all VMAs (Linux: total_vm).
    pub total_vm: usize,
    /// Pages in VM_LOCKED VMAs (Linux: locked_vm).
    pub locked_vm: usize,
    /// Pages of private writable VMAs that are not stacks (Linux: data_vm,
    /// what RLIMIT_DATA limits).
    pub data_vm: usize,
    /// Flags every new VMA gets: VM_LOCKED after mlockall(MCL_FUTURE)
    /// (Linux: def_flags).
    pub def_flags: VmFlags,
    /// The program's code, data and stack bounds, set at exec.
    pub bounds: MmBounds,
    /// The page with the rt_sigreturn trampoline that signal handlers
    /// return to (Linux arm64: the vDSO's __kernel_rt_sigreturn).
    pub sigpage: usize,
}

impl MmMap {
    pub fn new() -> Self {
        MmMap {
            vmas: VmaTree::new(),
            start_brk: 0,
            brk: 0,
            mmap_base: 0,
            total_vm: 0,
            locked_vm: 0,
            data_vm: 0,
            def_flags: VmFlags::empty(),
            bounds: MmBounds { start_code: 0, end_code: 0, start_data: 0, end_data: 0, start_stack: 0 },
            sigpage: 0,
        }
    }

    /// Inserts `[start, end)` with `flags` (Linux: mmap_region's checks,
    /// then vma_link): ENOMEM past RLIMIT_AS or RLIMIT_DATA, if the
    /// overcommit policy refuses a private writable mapping (which is then
    /// VM_ACCOUNT), if it overlaps, or if no memory is left.
    pub fn insert(&mut self, start: usize, end: usize, flags: VmFlags) -> Result<(), Errno> {
        self.insert_vma(start, end, Vma::anon(flags, start))
    }

    /// `insert` for a VMA with its backing.
    pub fn insert_vma(&mut self, start: usize, end: usize, vma: Vma) -> Result<(), Errno> {
        let flags = vma.flags;
        let pages = (end - start) >> 12;
        if !self.may_expand_vm(flags, pages) {
            return Err(Errno::ENOMEM);
        }
        let mut flags = flags - VmFlags::ACCOUNT;
        if super::util::accountable(flags) {
            super::util::vm_enough_memory(pages)?;
            flags |= VmFlags::ACCOUNT;
        }
        if self.vmas.insert(start, end, Vma { flags, ..vma }).is_err() {
            if flags.contains(VmFlags::ACCOUNT) {
                super::util::vm_unacct_memory(pages);
            }
            return Err(Errno::ENOMEM);
        }
        self.account(flags, pages as isize);
        Ok(())
    }

    /// Removes a VMA, giving back what it counted (Linux: remove_vma with
    /// vm_stat_account and vm_unacct_memory).
    pub fn remove(&mut self, id: pagoda_mm::vma_tree::NodeId) {
        let (s, e) = self.vmas.range(id);
        if let Some(v) = self.vmas.erase(id) {
            let pages = (e - s) >> 12;
            self.account(v.flags, -(pages as isize));
            if v.flags.contains(VmFlags::ACCOUNT) {
                super::util::vm_unacct_memory(pages);
            }
        }
    }

    /// Adds (or with a negative count, takes away) a VMA's pages to the
    /// counters its flags put it in (Linux: vm_stat_account).
    pub fn account(&mut self, flags: VmFlags, pages: isize) {
        let add = |c: &mut usize| *c = (*c as isize + pages).max(0) as usize;
        add(&mut self.total_vm);
        if flags.contains(VmFlags::LOCKED) {
            add(&mut self.locked_vm);
        }
        if is_data_mapping(flags) {
            add(&mut self.data_vm);
        }
    }

    /// Whether `pages` more pages with `flags` stay within RLIMIT_AS and,
    /// for data, RLIMIT_DATA (Linux: may_expand_vm).
    pub fn may_expand_vm(&self, flags: VmFlags, pages: usize) -> bool {
        let Some(t) = crate::sched::current() else { return true };
        let (rlimit_as, rlimit_data) = (t.rlimit(RLIMIT_AS).0, t.rlimit(RLIMIT_DATA).0);
        if (self.total_vm + pages) as u64 > rlimit_as >> 12 {
            return false;
        }
        !(is_data_mapping(flags) && (self.data_vm + pages) as u64 > rlimit_data >> 12)
    }

    /// Removes every VMA, giving back their commitment, when the address
    /// space goes and its pages are unmapped (Linux: exit_mmap's
    /// vm_unacct_memory and remove_vma loop). Their anon_vmas and shared
    /// objects go with them.
    pub fn remove_all(&mut self) {
        let mut pages = 0;
        for id in self.vmas.iter().collect::<alloc::vec::Vec<_>>() {
            let (s, e) = self.vmas.range(id);
            if let Some(v) = self.vmas.get_mut(id) {
                if v.flags.contains(VmFlags::ACCOUNT) {
                    v.flags -= VmFlags::ACCOUNT;
                    pages += (e - s) >> 12;
                }
            }
        }
        super::util::vm_unacct_memory(pages);
        drop(core::mem::replace(&mut self.vmas, VmaTree::new()));
    }
}

impl Default for MmMap {
    fn default() -> Self {
        Self::new()
    }
}

/// The mmap_lock and what it guards.
pub type MmapLock = RwSem<MmMap>;
