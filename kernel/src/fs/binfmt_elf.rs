//! Loading an ELF executable (Linux: fs/binfmt_elf.c load_elf_binary and
//! create_elf_tables).
//!
//! The file is parsed with the `elf` crate; the mapping is ours, as Linux's
//! elf_map does it: each PT_LOAD segment's file pages become a private
//! mapping of the file (faulted in from its page cache on first use), its
//! bss an anonymous mapping, and the rest of its last file page is zeroed,
//! which gives the process its own copy of that page (padzero). A page two
//! segments share takes the later segment's mapping, as MAP_FIXED does.
//!
//! A dynamically linked program names its interpreter (PT_INTERP, the
//! dynamic linker `/lib/ld-linux-aarch64.so.1`); exec loads that too,
//! below mmap_base, and starts there with AT_BASE saying where it is. The
//! dynamic linker then maps the libraries with mmap.
//!
//! A bad or truncated file fails with ENOEXEC, never a panic.

use crate::fs::inode::InodeRef;
use crate::mm::mm_types::MmStruct;
use crate::mm::uaccess::copy_to_user;
use crate::mm::vma::VmFlags;
use elf::abi;
use elf::endian::AnyEndian;
use elf::ElfBytes;
use pagoda_klib::errno::{Errno, KResult};
use pagoda_klib::return_errno_with_message;
use pagoda_mm::addr::PAGE_SIZE;

/// Where a static-pie (ET_DYN) program is loaded (Linux: ELF_ET_DYN_BASE,
/// 2/3 of a 48-bit address space, before randomisation).
const ELF_ET_DYN_BASE: usize = ((1usize << 48) / 3 * 2) & !(PAGE_SIZE - 1);
/// The top of the initial stack (Linux: STACK_TOP = TASK_SIZE_64).
pub const STACK_TOP: usize = 1 << 48;
/// Pages of stack mapped at exec (Linux maps 128 KiB plus the argument pages).
pub const STACK_PAGES: usize = 32;

/// What the loader learnt, for the initial stack and the process.
#[derive(Debug, Clone, Copy)]
pub struct ElfInfo {
    pub entry: usize,
    /// Where the program headers are in the loaded image (AT_PHDR).
    pub phdr: usize,
    pub phnum: usize,
    pub phent: usize,
    /// The first address after the highest segment: where brk starts.
    pub end: usize,
    /// The top of the initial stack (STACK_TOP, moved down at random by
    /// exec unless randomisation is off).
    pub stack_top: usize,
    /// Where the program's code and data lie, for the mm.
    pub bounds: MmBounds,
    /// Where execution starts: the interpreter's entry point for a
    /// dynamically linked program, else `entry`.
    pub start: usize,
    /// Where the interpreter was loaded (AT_BASE), 0 without one.
    pub interp_base: usize,
    /// The byte range of the PT_INTERP path in the file, if any.
    pub interp: Option<(usize, usize)>,
}

pub use crate::mm::vma::MmBounds;

/// PT_LOAD segments a program may have (Linux has no such limit; real
/// programs have two to four).
pub const MAX_LOAD_SEGMENTS: usize = 8;

/// Maps the PT_LOAD segments of `data` into `mm` (Linux: load_elf_binary's
/// elf_map loop). On failure whatever was mapped stays in `mm`, which the
/// caller drops.
pub fn load_elf_binary(mm: &MmStruct, data: &[u8], inode: &InodeRef, name: &str) -> KResult<ElfInfo> {
    load_elf_at(mm, data, inode, name, usize::MAX)
}

/// One PT_LOAD segment's mappings: the file pages `[start, file_end)` from
/// page `pgoff` of the file, then anonymous zeroes up to `end` (the bss),
/// and the bytes from `zero_from` to the end of its last file page zeroed.
#[derive(Clone, Copy)]
struct Segment {
    start: usize,
    file_end: usize,
    end: usize,
    flags: VmFlags,
    pgoff: usize,
    zero_from: usize,
}

/// `load_elf_binary`, with an ET_DYN file loaded at `base` unless it is
/// usize::MAX.
fn load_elf_at(mm: &MmStruct, data: &[u8], inode: &InodeRef, name: &str, base: usize) -> KResult<ElfInfo> {
    let Ok(file) = ElfBytes::<AnyEndian>::minimal_parse(data) else {
        return_errno_with_message!(Errno::ENOEXEC, "not an ELF file");
    };
    let eh = file.ehdr;
    if eh.class != elf::file::Class::ELF64 || eh.e_machine != abi::EM_AARCH64 {
        return_errno_with_message!(Errno::ENOEXEC, "not an aarch64 ELF64 file");
    }
    let bias = match eh.e_type {
        abi::ET_EXEC => 0,
        abi::ET_DYN if base != usize::MAX => base,
        // Linux: ELF_ET_DYN_BASE + arch_mmap_rnd() for a PF_RANDOMIZE task.
        abi::ET_DYN => ELF_ET_DYN_BASE + crate::mm::randomize::arch_mmap_rnd(),
        _ => return_errno_with_message!(Errno::ENOEXEC, "ELF type {} is not executable", eh.e_type),
    };
    let Some(phdrs) = file.segments() else {
        return_errno_with_message!(Errno::ENOEXEC, "no program headers");
    };
    let interp = match phdrs.iter().find(|p| p.p_type == abi::PT_INTERP) {
        Some(p) => {
            let (off, len) = (p.p_offset as usize, p.p_filesz as usize);
            if !(2..=4096).contains(&len) || off.checked_add(len).is_none_or(|e| e > data.len()) {
                return_errno_with_message!(Errno::ENOEXEC, "a malformed PT_INTERP");
            }
            Some((off, len - 1)) // without its NUL
        }
        None => None,
    };
    let mut load_addr = None;
    let mut end = 0usize;
    // The bounds Linux records in the mm (load_elf_binary's start_code,
    // end_code, start_data, end_data), from the segments' file extents.
    let (mut start_code, mut end_code, mut start_data, mut end_data) = (usize::MAX, 0, 0, 0);
    let none = Segment { start: 0, file_end: 0, end: 0, flags: VmFlags::empty(), pgoff: 0, zero_from: 0 };
    let mut segments = [none; MAX_LOAD_SEGMENTS];
    let mut nr_segments = 0;
    for p in phdrs.iter().filter(|p| p.p_type == abi::PT_LOAD) {
        let (off, filesz, memsz) = (p.p_offset as usize, p.p_filesz as usize, p.p_memsz as usize);
        let vaddr = (p.p_vaddr as usize).checked_add(bias).ok_or(Errno::ENOEXEC)?;
        let seg_end = vaddr.checked_add(memsz).filter(|&e| e <= STACK_TOP - STACK_PAGES * PAGE_SIZE);
        let file_end = off.checked_add(filesz).filter(|&e| e <= data.len());
        let (Some(seg_end), Some(_)) = (seg_end, file_end) else {
            return_errno_with_message!(Errno::ENOEXEC, "a segment lies outside the file or user space");
        };
        if filesz > memsz || vaddr < PAGE_SIZE || (vaddr - off) % PAGE_SIZE != 0 {
            return_errno_with_message!(Errno::ENOEXEC, "a malformed PT_LOAD");
        }
        load_addr.get_or_insert(vaddr.wrapping_sub(off));
        start_code = start_code.min(vaddr);
        start_data = start_data.max(vaddr);
        if p.p_flags & abi::PF_X != 0 {
            end_code = end_code.max(vaddr + filesz);
        }
        end_data = end_data.max(vaddr + filesz);
        if nr_segments == MAX_LOAD_SEGMENTS {
            return_errno_with_message!(Errno::ENOEXEC, "more than {MAX_LOAD_SEGMENTS} PT_LOAD segments");
        }
        segments[nr_segments] = Segment {
            start: vaddr & !(PAGE_SIZE - 1),
            file_end: (vaddr + filesz).next_multiple_of(PAGE_SIZE),
            end: seg_end.next_multiple_of(PAGE_SIZE),
            flags: VmFlags::from_prot(
                ((p.p_flags & abi::PF_R) >> 2 | (p.p_flags & abi::PF_W) | (p.p_flags & abi::PF_X) << 2)
                    as usize,
            ),
            pgoff: off / PAGE_SIZE,
            zero_from: vaddr + filesz,
        };
        nr_segments += 1;
        end = end.max(seg_end);
    }
    let Some(load_addr) = load_addr else {
        return_errno_with_message!(Errno::ENOEXEC, "no PT_LOAD segment");
    };
    elf_map(mm, inode, name, &segments[..nr_segments])?;
    let entry = (eh.e_entry as usize).wrapping_add(bias);
    Ok(ElfInfo {
        entry,
        phdr: load_addr.wrapping_add(eh.e_phoff as usize),
        phnum: eh.e_phnum as usize,
        phent: eh.e_phentsize as usize,
        end: end.next_multiple_of(PAGE_SIZE),
        stack_top: STACK_TOP,
        bounds: MmBounds { start_code, end_code, start_data, end_data, start_stack: 0 },
        start: entry,
        interp_base: 0,
        interp,
    })
}

/// Maps the segments (Linux: elf_map and set_brk): each one's file pages
/// as a private mapping of the file, its bss as anonymous memory, and the
/// rest of its last file page zeroed, which gives the process its own copy
/// of that page (Linux: padzero). A later segment sharing a page with an
/// earlier one replaces it there, as MAP_FIXED does.
fn elf_map(mm: &MmStruct, inode: &InodeRef, name: &str, segments: &[Segment]) -> KResult<()> {
    use crate::mm::mmap::do_munmap;
    {
        let mut map = mm.mmap_lock.write();
        for s in segments {
            let flags = s.flags | VmFlags::MAYREAD | VmFlags::MAYWRITE | VmFlags::MAYEXEC;
            if s.start < s.file_end {
                do_munmap(mm, &mut map, s.start, s.file_end - s.start)?;
                let vma = crate::mm::shmem::shmem_mmap(mm, flags, inode.clone(), s.pgoff, name)?;
                map.insert_vma(s.start, s.file_end, vma)?;
            }
            if s.file_end < s.end {
                do_munmap(mm, &mut map, s.file_end, s.end - s.file_end)?;
                map.insert(s.file_end, s.end, flags)?;
            }
        }
    }
    for s in segments.iter().filter(|s| s.zero_from % PAGE_SIZE != 0 && s.zero_from < s.end) {
        if !s.flags.contains(VmFlags::WRITE) {
            continue; // Linux's padzero would fail there too; nothing reads it as bss
        }
        crate::mm::memory::handle_mm_fault(mm, s.zero_from, true, false).map_err(|_| Errno::ENOMEM)?;
        let pa = mm.with_page_table(|pt| pt.translate(s.zero_from)).ok_or(Errno::EFAULT)?;
        let n = PAGE_SIZE - s.zero_from % PAGE_SIZE;
        // SAFETY: the process's own copy of the page (the write fault just
        // made it), through the linear map; [zero_from, page end) is in it.
        unsafe { core::ptr::write_bytes(crate::arch::mm::layout::phys_to_virt(pa.0) as *mut u8, 0, n) };
    }
    Ok(())
}

/// Maps the program interpreter (the dynamic linker) so that it ends at
/// `top`, adds its segments to `info` for their VMAs, and makes execution
/// start at its entry point (Linux: load_elf_interp, which maps it where
/// get_unmapped_area finds room below mmap_base). It must be ET_DYN and
/// need no interpreter itself.
pub fn load_elf_interp(
    mm: &MmStruct,
    data: &[u8],
    inode: &InodeRef,
    name: &str,
    top: usize,
    info: &mut ElfInfo,
) -> KResult<()> {
    let Ok(file) = ElfBytes::<AnyEndian>::minimal_parse(data) else {
        return_errno_with_message!(Errno::ELIBBAD, "the interpreter is not an ELF file");
    };
    let Some(phdrs) = file.segments() else {
        return_errno_with_message!(Errno::ELIBBAD, "the interpreter has no program headers");
    };
    if file.ehdr.e_type != abi::ET_DYN || file.ehdr.e_machine != abi::EM_AARCH64 {
        return_errno_with_message!(Errno::ELIBBAD, "the interpreter is not an aarch64 shared object");
    }
    let span = phdrs
        .iter()
        .filter(|p| p.p_type == abi::PT_LOAD)
        .map(|p| (p.p_vaddr + p.p_memsz) as usize)
        .max()
        .ok_or(Errno::ELIBBAD)?
        .next_multiple_of(PAGE_SIZE);
    let base = top.checked_sub(span).ok_or(Errno::ENOMEM)? & !(PAGE_SIZE - 1);
    let interp = load_elf_at(mm, data, inode, name, base)?;
    info.start = interp.entry;
    info.interp_base = base;
    Ok(())
}

/// Faults in the initial stack's pages below `stack_top`, through the
/// stack VMA exec made (Linux: setup_arg_pages, and the get_user_pages of
/// copy_strings); the VMA grows from there on faults.
pub fn setup_arg_pages(mm: &MmStruct, stack_top: usize) -> KResult<()> {
    for i in 1..=STACK_PAGES {
        crate::mm::memory::handle_mm_fault(mm, stack_top - i * PAGE_SIZE, true, false)
            .map_err(|_| Errno::ENOMEM)?;
    }
    Ok(())
}

/// Auxiliary vector keys (Linux: include/uapi/linux/auxvec.h).
pub mod at {
    pub const NULL: u64 = 0;
    pub const PHDR: u64 = 3;
    pub const PHENT: u64 = 4;
    pub const PHNUM: u64 = 5;
    pub const PAGESZ: u64 = 6;
    pub const BASE: u64 = 7;
    pub const FLAGS: u64 = 8;
    pub const ENTRY: u64 = 9;
    pub const UID: u64 = 11;
    pub const EUID: u64 = 12;
    pub const GID: u64 = 13;
    pub const EGID: u64 = 14;
    pub const PLATFORM: u64 = 15;
    pub const HWCAP: u64 = 16;
    pub const CLKTCK: u64 = 17;
    pub const SECURE: u64 = 23;
    pub const RANDOM: u64 = 25;
    pub const HWCAP2: u64 = 26;
    pub const EXECFN: u64 = 31;
}

/// Copies `s` and a NUL below `*sp`; returns its user address.
fn push_string(sp: &mut usize, s: &[u8]) -> KResult<usize> {
    *sp -= s.len() + 1;
    copy_to_user(*sp, s)?;
    copy_to_user(*sp + s.len(), &[0])?;
    Ok(*sp)
}

/// Builds the initial stack exactly as Linux's create_elf_tables does, in
/// the current (new) address space, and returns the stack pointer:
///
/// ```text
///   STACK_TOP  execfn string, envp strings, argv strings,
///              "aarch64" (AT_PLATFORM), 16 random bytes (AT_RANDOM)
///   ...        (aligned down to 16 bytes, so that sp ends 16-byte aligned)
///   sp ->      argc, argv[0..argc], NULL, envp[0..envc], NULL,
///              auxv (key, value) pairs ending with AT_NULL
/// ```
pub fn create_elf_tables(
    info: &ElfInfo,
    stack_top: usize,
    execfn: &str,
    argv: &[&str],
    envp: &[&str],
) -> KResult<usize> {
    let mut sp = stack_top - 8;
    let execfn_at = push_string(&mut sp, execfn.as_bytes())?;
    let mut envp_at = [0usize; 32];
    let mut argv_at = [0usize; 32];
    if argv.len() > argv_at.len() || envp.len() > envp_at.len() {
        return Err(Errno::E2BIG);
    }
    for (i, e) in envp.iter().enumerate().rev() {
        envp_at[i] = push_string(&mut sp, e.as_bytes())?;
    }
    for (i, a) in argv.iter().enumerate().rev() {
        argv_at[i] = push_string(&mut sp, a.as_bytes())?;
    }
    let platform_at = push_string(&mut sp, b"aarch64")?;
    let mut random = [0u8; 16];
    let mut rng = pagoda_klib::rand::XorShift64::new(crate::arch::time::uptime_ns() | 1);
    for chunk in random.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    sp -= 16;
    let random_at = sp;
    copy_to_user(random_at, &random)?;
    let auxv: [(u64, u64); 19] = [
        (at::HWCAP, crate::arch::cpu::elf_hwcap()),
        (at::PAGESZ, PAGE_SIZE as u64),
        (at::CLKTCK, 100), // USER_HZ
        (at::PHDR, info.phdr as u64),
        (at::PHENT, info.phent as u64),
        (at::PHNUM, info.phnum as u64),
        (at::BASE, info.interp_base as u64),
        (at::FLAGS, 0),
        (at::ENTRY, info.entry as u64),
        (at::UID, 0),
        (at::EUID, 0),
        (at::GID, 0),
        (at::EGID, 0),
        (at::SECURE, 0),
        (at::RANDOM, random_at as u64),
        (at::HWCAP2, 0),
        (at::EXECFN, execfn_at as u64),
        (at::PLATFORM, platform_at as u64),
        (at::NULL, 0),
    ];
    let words = 1 + argv.len() + 1 + envp.len() + 1 + 2 * auxv.len();
    sp = (sp - words * 8) & !15;
    let mut w = sp;
    let mut put = |v: u64| -> KResult<()> {
        copy_to_user(w, &v.to_le_bytes())?;
        w += 8;
        Ok(())
    };
    put(argv.len() as u64)?;
    for &a in &argv_at[..argv.len()] {
        put(a as u64)?;
    }
    put(0)?;
    for &e in &envp_at[..envp.len()] {
        put(e as u64)?;
    }
    put(0)?;
    for (k, v) in auxv {
        put(k)?;
        put(v)?;
    }
    Ok(sp)
}
