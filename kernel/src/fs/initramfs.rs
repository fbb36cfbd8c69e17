//! The initramfs (Linux: init/initramfs.c populate_rootfs, unpack_to_rootfs).
//!
//! The boot loader (QEMU's `-initrd`) puts a cpio archive in RAM and names
//! it in `/chosen/linux,initrd-start` and `-end`; memblock keeps those pages
//! reserved. The archive (the `newc` format, read with the `cpio_reader`
//! crate) is unpacked into the RAM root filesystem: directories, files,
//! symbolic links and the device nodes Pagoda knows. Linux copies each
//! file into the page cache and frees the archive; Pagoda's files keep
//! pointing into the archive until they are written, so the archive's
//! pages stay reserved. A corrupt archive is reported, and what came
//! before the corruption stays.

use super::inode::{CharDev, Inode, InodeKind, S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use super::namei::{kern_path, mkdir_p, Path};
use crate::{kprintln, monitor_cmd};
use alloc::string::String;
use log::{info, warn};
use pagoda_klib::errno::{Errno, KResult};

/// What an archive held, for the boot log.
#[derive(Debug, Default, PartialEq, Eq)]
struct Unpacked {
    entries: usize,
    files: usize,
}

/// Unpacks the archive `bytes` into the directory `dest` (the root at
/// boot) (Linux: unpack_to_rootfs and its do_name/do_copy/do_symlink
/// states). Regular files keep pointing at the archive's bytes until
/// written. A later entry of the same name replaces an earlier one, as
/// Linux's clean_path does.
fn unpack_to_rootfs(bytes: &'static [u8], dest: &str) -> Result<Unpacked, &'static str> {
    if !bytes.starts_with(b"070701") && !bytes.starts_with(b"070702") {
        return Err("no cpio magic (070701); only the newc format is read");
    }
    let mut done = Unpacked::default();
    // The reader stops quietly at the trailer and at the first corrupt
    // header alike; follow the offsets (newc: a 110-byte header, the name
    // with its NUL and the data, each padded to 4 bytes) to tell them apart.
    let mut offset = 0usize;
    for e in cpio_reader::iter_files(bytes) {
        offset += (110 + e.name().len() + 1).next_multiple_of(4) + e.file().len().next_multiple_of(4);
        let name = e.name().trim_start_matches("./").trim_start_matches('/');
        let mode = e.mode().bits();
        let rdev = (e.rdevmajor().unwrap_or(0), e.rdevminor().unwrap_or(0));
        do_entry(dest, name, mode, rdev, e.file()).map_err(|_| "out of memory")?;
        done.entries += 1;
        done.files += (mode & S_IFMT == S_IFREG) as usize;
    }
    let trailer = bytes.get(offset + 110..offset + 120);
    if trailer != Some(&b"TRAILER!!!"[..]) {
        return Err("corrupt or truncated archive (no TRAILER!!! after the last entry)");
    }
    Ok(done)
}

/// Creates one archive entry under `dest`.
fn do_entry(dest: &str, name: &str, mode: u32, rdev: (u32, u32), data: &'static [u8]) -> KResult<()> {
    let mut full = String::new();
    full.try_reserve(dest.len() + name.len() + 1).map_err(|_| Errno::ENOMEM)?;
    full.push_str(dest);
    full.push('/');
    full.push_str(name);
    let (dir, leaf) = match full.trim_end_matches('/').rsplit_once('/') {
        Some((d, l)) if !l.is_empty() && l != "." => (d, l),
        _ => return Ok(()), // the archive's "." : the directory exists
    };
    let parent = mkdir_p(dir)?;
    let inode = match mode & S_IFMT {
        S_IFDIR => {
            if parent.inode().lookup(leaf)?.is_some_and(|i| i.is_dir()) {
                return Ok(());
            }
            Inode::new_dir(mode)?
        }
        S_IFREG => Inode::new(mode, InodeKind::Reg(crate::mm::shmem::ShmemFile::new(data)))?,
        S_IFLNK => {
            let target = core::str::from_utf8(data).map_err(|_| Errno::EINVAL)?;
            let mut t = String::new();
            t.try_reserve_exact(target.len()).map_err(|_| Errno::ENOMEM)?;
            t.push_str(target);
            Inode::new(mode, InodeKind::Symlink(t))?
        }
        S_IFCHR => match char_dev(rdev) {
            Some(c) => Inode::new(mode, InodeKind::Char(c))?,
            None => {
                warn!("initramfs: /{name}: device {}:{} is not one Pagoda has; skipped", rdev.0, rdev.1);
                return Ok(());
            }
        },
        _ => {
            warn!("initramfs: /{name}: mode {mode:o} is not supported; skipped");
            return Ok(());
        }
    };
    // A later entry replaces an earlier one (Linux: clean_path).
    if parent.inode().lookup(leaf)?.is_some() {
        let is_dir = parent.inode().lookup(leaf)?.is_some_and(|i| i.is_dir());
        let _ = parent.inode().unlink(leaf, is_dir);
    }
    parent.inode().link(leaf, inode)
}

fn char_dev(rdev: (u32, u32)) -> Option<CharDev> {
    match rdev {
        (1, 3) => Some(CharDev::Null),
        (1, 5) => Some(CharDev::Zero),
        (5, 1) => Some(CharDev::Console),
        _ => None,
    }
}

/// The device nodes every program may count on, made as devtmpfs would
/// (Linux: devtmpfs's /dev/null, /dev/zero and /dev/console, and a node
/// per disk; Pagoda has no device model to make them from, so the three
/// character devices are listed here and the disks come from the block
/// layer's list).
fn populate_dev() -> KResult<()> {
    let dev = mkdir_p("/dev")?;
    for (name, perm, c) in
        [("null", 0o666, CharDev::Null), ("zero", 0o666, CharDev::Zero), ("console", 0o600, CharDev::Console)]
    {
        if dev.inode().lookup(name)?.is_none() {
            dev.inode().link(name, Inode::new(S_IFCHR | perm, InodeKind::Char(c))?)?;
        }
    }
    for bdev in crate::block::all_bdevs() {
        if dev.inode().lookup(&bdev.disk.name)?.is_none() {
            dev.inode().link(&bdev.disk.name, Inode::new(S_IFBLK | 0o660, InodeKind::Blk(bdev))?)?;
        }
    }
    Ok(())
}

/// Finds the initrd and unpacks it into the root (Linux: populate_rootfs,
/// run from do_basic_setup), then makes /dev.
pub fn populate_rootfs() {
    match crate::drivers::devicetree::initrd() {
        None => info!("initramfs: no initrd"),
        Some(r) => {
            info!("Trying to unpack rootfs image as initramfs...");
            let va = crate::arch::mm::layout::phys_to_virt(r.base);
            // SAFETY: the initrd is RAM inside the linear map, reserved by
            // memblock for good, and nothing writes to it.
            let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(va as *const u8, r.size) };
            match unpack_to_rootfs(bytes, "") {
                Ok(u) => info!(
                    "initramfs: {} entries, {} files; file data stays in the archive ({} KiB) until written",
                    u.entries,
                    u.files,
                    r.size >> 10
                ),
                Err(why) => warn!("Initramfs unpacking failed: {why}"),
            }
        }
    }
    match populate_dev() {
        Ok(()) => {
            let disks = crate::block::disks();
            let names: alloc::vec::Vec<&str> = disks.iter().map(|d| d.name.as_str()).collect();
            info!(
                "devtmpfs: /dev/null, /dev/zero, /dev/console{}{}",
                if names.is_empty() { "" } else { ", /dev/" },
                names.join(", /dev/")
            )
        }
        Err(e) => warn!("devtmpfs: cannot make /dev: {e}"),
    }
}

/// Whether `path` names something in the root filesystem.
pub fn exists(path: &str) -> bool {
    kern_path(path).is_ok()
}

/// `ls -l`'s type letter and permission bits.
fn mode_string(mode: u32) -> [u8; 10] {
    let mut s = *b"----------";
    s[0] = match mode & S_IFMT {
        S_IFDIR => b'd',
        S_IFLNK => b'l',
        S_IFCHR => b'c',
        _ => b'-',
    };
    for (i, c) in b"rwxrwxrwx".iter().enumerate() {
        if mode & (0o400 >> i) != 0 {
            s[1 + i] = *c;
        }
    }
    s
}

fn show_entry(name: &str, i: &super::inode::InodeRef) {
    let mode = mode_string(i.mode());
    let mode = core::str::from_utf8(&mode).unwrap_or("?");
    match &i.kind {
        InodeKind::Symlink(t) => kprintln!("{mode} {:>9} {name} -> {t}", i.size()),
        _ => kprintln!("{mode} {:>9} {name}", i.size()),
    }
}

fn cmd_ls(args: &str) {
    let dir = match args.trim() {
        "" => "/",
        d => d,
    };
    let p = match super::namei::path_lookup(&Path::root().expect("no memory"), dir, false) {
        Ok(p) => p,
        Err(e) => return kprintln!("ls: {dir}: {}", e.message()),
    };
    if !p.inode().is_dir() {
        return show_entry(dir, p.inode());
    }
    match p.inode().entries() {
        Ok(entries) => {
            for (name, i) in entries {
                show_entry(&name, &i);
            }
        }
        Err(e) => kprintln!("ls: {dir}: {}", e.message()),
    }
}

fn cmd_cat(args: &str) {
    let path = args.trim();
    match kern_path(path) {
        Ok(p) => match &p.inode().kind {
            InodeKind::Reg(f) => match f.contents() {
                Ok(bytes) => match core::str::from_utf8(&bytes) {
                    Ok(text) => crate::kprint!("{text}"),
                    Err(_) => kprintln!("cat: {path}: binary file ({} bytes)", bytes.len()),
                },
                Err(e) => kprintln!("cat: {path}: {}", e.message()),
            },
            InodeKind::Dir(_) => kprintln!("cat: {path}: Is a directory"),
            _ => kprintln!("cat: {path}: not a regular file"),
        },
        Err(e) => kprintln!("cat: {path}: {}", e.message()),
    }
}

monitor_cmd!(MON_LS, "ls", "ls [DIR]: the files of the root filesystem, as ls -l shows them", cmd_ls);
monitor_cmd!(MON_CAT, "cat", "cat FILE: print a text file", cmd_cat);

/// How much of a file (or disk) is in the page cache, and how much of that
/// is dirty or being written back (util-linux's fincore, with Pagoda's
/// DIRTY and WRITEBACK columns).
fn cmd_fincore(args: &str) {
    use pagoda_mm::page::PageFlags;
    let path = args.trim();
    let p = match kern_path(path) {
        Ok(p) => p,
        Err(e) => return kprintln!("fincore: {path}: {}", e.message()),
    };
    let inode = p.inode();
    let Some(mapping) = inode.mapping() else { return kprintln!("fincore: {path}: no page cache") };
    let (mut pages, mut dirty, mut writeback) = (0, 0, 0);
    mapping.for_each_page(0, usize::MAX, |_, pfn| {
        let page = crate::mm::page_alloc::pfn_to_page(pfn);
        pages += 1;
        dirty += page.test(PageFlags::DIRTY) as usize;
        writeback += page.test(PageFlags::WRITEBACK) as usize;
    });
    let size = match &inode.kind {
        InodeKind::Blk(b) => b.size(),
        _ => inode.size(),
    };
    kprintln!("  RES PAGES DIRTY WRITEBACK  SIZE FILE");
    kprintln!("{:>4}K {:>5} {:>5} {:>9} {:>5} {path}", pages * 4, pages, dirty, writeback, size);
}

monitor_cmd!(MON_FINCORE, "fincore", "fincore FILE: pages of the file in the page cache", cmd_fincore);

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use alloc::vec::Vec;

    /// A newc header for `name` with `data` (what `cpio -o -H newc` writes).
    fn entry(out: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]) {
        let hdr = alloc::format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            1,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        );
        let pad4 = |out: &mut Vec<u8>| out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(hdr.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        pad4(out);
        out.extend_from_slice(data);
        pad4(out);
    }

    fn file_bytes(path: &str) -> Option<alloc::vec::Vec<u8>> {
        let p = kern_path(path).ok()?;
        match &p.inode().kind {
            InodeKind::Reg(f) => f.contents().ok().map(|b| b.to_vec()),
            _ => None,
        }
    }

    /// The archive `make` builds from user/ reached the kernel: the first
    /// user program is an aarch64 ELF executable.
    #[ktest]
    fn the_built_initramfs_holds_the_user_programs() {
        if crate::drivers::devicetree::initrd().is_none() {
            return; // booted without -initrd (tests/ktest.sh run by hand)
        }
        let hello = kern_path("/bin/hello").expect("/bin/hello is not in the initramfs");
        assert_eq!(hello.inode().file_type(), S_IFREG);
        let data = file_bytes("/bin/hello").unwrap();
        assert_eq!(&data[..4], b"\x7fELF");
        assert_eq!(u16::from_le_bytes([data[18], data[19]]), 183, "e_machine is not EM_AARCH64");
        assert!(file_bytes("/etc/motd").is_some_and(|d| d.starts_with(b"Welcome to Pagoda")));
        assert_eq!(kern_path("/dev/null").unwrap().inode().rdev(), (1 << 8) | 3);
    }

    #[ktest]
    fn a_newc_archive_is_unpacked_and_a_corrupt_one_refused() {
        let mut a = Vec::new();
        entry(&mut a, ".", S_IFDIR | 0o755, b"");
        entry(&mut a, "etc", S_IFDIR | 0o755, b"");
        entry(&mut a, "etc/motd", S_IFREG | 0o644, b"hello\n");
        entry(&mut a, "etc/link", S_IFLNK | 0o777, b"motd");
        entry(&mut a, "TRAILER!!!", 0, b"");
        let a: &'static [u8] = alloc::boxed::Box::leak(a.into_boxed_slice());
        mkdir_p("/ktest-cpio").unwrap();
        assert_eq!(unpack_to_rootfs(a, "/ktest-cpio"), Ok(Unpacked { entries: 4, files: 1 }));
        assert_eq!(file_bytes("/ktest-cpio/etc/motd").as_deref(), Some(&b"hello\n"[..]));
        assert_eq!(file_bytes("/ktest-cpio/etc/link").as_deref(), Some(&b"hello\n"[..]));
        assert!(kern_path("/ktest-cpio/etc").unwrap().inode().is_dir());
        assert_eq!(&mode_string(S_IFREG | 0o644), b"-rw-r--r--");
        // Truncated (no trailer) and garbage archives are refused, not trusted.
        assert!(unpack_to_rootfs(&a[..a.len() - 20], "/ktest-cpio").is_err());
        assert!(unpack_to_rootfs(b"not a cpio archive", "/ktest-cpio").is_err());
        let etc = kern_path("/ktest-cpio/etc").unwrap();
        etc.inode().unlink("motd", false).unwrap();
        etc.inode().unlink("link", false).unwrap();
        kern_path("/ktest-cpio").unwrap().inode().unlink("etc", true).unwrap();
        Path::root().unwrap().inode().unlink("ktest-cpio", true).unwrap();
    }
}
