//! The initramfs (Linux: init/initramfs.c populate_rootfs, unpack_to_rootfs).
//!
//! The boot loader (QEMU's `-initrd`) puts a cpio archive in RAM and names
//! it in `/chosen/linux,initrd-start` and `-end`; memblock keeps those pages
//! reserved. Linux unpacks the archive into a tmpfs and frees it. Pagoda,
//! until its VFS exists, indexes the archive where it lies (the `newc`
//! format, read with the `cpio_reader` crate) and keeps the pages: files
//! are slices of the archive. A corrupt archive is reported and ignored.

use crate::sync::SpinLockIrq;
use crate::{kprintln, monitor_cmd};
use alloc::vec::Vec;
use log::{info, warn};

/// The type bits of a cpio/stat mode (Linux: S_IFMT and friends).
pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;

/// One file of the archive.
#[derive(Clone, Copy)]
pub struct RootfsEntry {
    /// Absolute path, "/" for the root.
    pub path: &'static str,
    pub mode: u32,
    pub data: &'static [u8],
}

impl RootfsEntry {
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
}

static ROOTFS: SpinLockIrq<Vec<RootfsEntry>> = SpinLockIrq::new(Vec::new());

/// Indexes the archive `bytes` (Linux: unpack_to_rootfs). Returns the
/// number of entries, or an error message for a corrupt archive.
fn unpack_to_rootfs(bytes: &'static [u8]) -> Result<usize, &'static str> {
    if !bytes.starts_with(b"070701") && !bytes.starts_with(b"070702") {
        return Err("no cpio magic (070701); only the newc format is read");
    }
    let mut entries = Vec::new();
    // The reader stops quietly at the trailer and at the first corrupt
    // header alike; follow the offsets (newc: a 110-byte header, the name
    // with its NUL and the data, each padded to 4 bytes) to tell them apart.
    let mut offset = 0usize;
    for e in cpio_reader::iter_files(bytes) {
        offset += (110 + e.name().len() + 1).next_multiple_of(4) + e.file().len().next_multiple_of(4);
        let name = e.name().trim_start_matches("./").trim_start_matches('/');
        let path = match name {
            "" | "." => "/",
            // The archive outlives everything: names are kept for good.
            _ => leak_path(name).ok_or("out of memory")?,
        };
        entries.try_reserve(1).map_err(|_| "out of memory")?;
        entries.push(RootfsEntry { path, mode: e.mode().bits(), data: e.file() });
    }
    let trailer = bytes.get(offset + 110..offset + 120);
    if trailer != Some(&b"TRAILER!!!"[..]) {
        return Err("corrupt or truncated archive (no TRAILER!!! after the last entry)");
    }
    let n = entries.len();
    *ROOTFS.lock() = entries;
    Ok(n)
}

/// "/" + name, kept for the life of the kernel.
fn leak_path(name: &str) -> Option<&'static str> {
    let mut s = alloc::string::String::new();
    s.try_reserve(name.len() + 1).ok()?;
    s.push('/');
    s.push_str(name);
    Some(alloc::boxed::Box::leak(s.into_boxed_str()))
}

/// Finds the initrd and indexes it (Linux: populate_rootfs, run from
/// do_basic_setup).
pub fn populate_rootfs() {
    let Some(r) = crate::drivers::devicetree::initrd() else {
        info!("initramfs: no initrd");
        return;
    };
    info!("Trying to unpack rootfs image as initramfs...");
    let va = crate::arch::mm::layout::phys_to_virt(r.base);
    // SAFETY: the initrd is RAM inside the linear map, reserved by memblock
    // for good, and nothing writes to it.
    let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(va as *const u8, r.size) };
    match unpack_to_rootfs(bytes) {
        Ok(n) => {
            let files = ROOTFS.lock().iter().filter(|e| e.mode & S_IFMT == S_IFREG).count();
            info!("initramfs: {n} entries, {files} files, {} KiB kept in place", r.size >> 10);
        }
        Err(why) => warn!("Initramfs unpacking failed: {why}"),
    }
}

/// The entry at `path` (absolute, no trailing '/').
pub fn lookup(path: &str) -> Option<RootfsEntry> {
    ROOTFS.lock().iter().find(|e| e.path == path).copied()
}

/// The entries directly inside directory `dir`, in archive order.
pub fn readdir(dir: &str) -> Vec<RootfsEntry> {
    let dir = dir.trim_end_matches('/');
    ROOTFS
        .lock()
        .iter()
        .filter(|e| e.path != "/" && e.path.rsplit_once('/').is_some_and(|(parent, _)| parent == dir))
        .copied()
        .collect()
}

/// `ls -l`'s type letter and permission bits.
fn mode_string(mode: u32) -> [u8; 10] {
    let mut s = *b"----------";
    s[0] = match mode & S_IFMT {
        S_IFDIR => b'd',
        S_IFLNK => b'l',
        _ => b'-',
    };
    for (i, c) in b"rwxrwxrwx".iter().enumerate() {
        if mode & (0o400 >> i) != 0 {
            s[1 + i] = *c;
        }
    }
    s
}

fn cmd_ls(args: &str) {
    let dir = match args.trim() {
        "" => "/",
        d => d,
    };
    match lookup(dir.trim_end_matches('/')).or_else(|| (dir == "/").then(|| lookup("/")).flatten()) {
        Some(e) if !e.is_dir() => show_entry(&e),
        _ => {
            for e in readdir(dir) {
                show_entry(&e);
            }
        }
    }
}

fn show_entry(e: &RootfsEntry) {
    let name = e.path.rsplit('/').next().unwrap_or(e.path);
    let mode = mode_string(e.mode);
    kprintln!("{} {:>9} {}", core::str::from_utf8(&mode).unwrap_or("?"), e.data.len(), name);
}

fn cmd_cat(args: &str) {
    match lookup(args.trim()) {
        Some(e) if !e.is_dir() => match core::str::from_utf8(e.data) {
            Ok(text) => crate::kprint!("{text}"),
            Err(_) => kprintln!("cat: {}: binary file ({} bytes)", e.path, e.data.len()),
        },
        Some(_) => kprintln!("cat: {}: Is a directory", args.trim()),
        None => kprintln!("cat: {}: No such file or directory", args.trim()),
    }
}

monitor_cmd!(MON_LS, "ls", "ls [DIR]: the initramfs files, as ls -l shows them", cmd_ls);
monitor_cmd!(MON_CAT, "cat", "cat FILE: print a text file of the initramfs", cmd_cat);

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

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

    /// The archive `make` builds from user/ reached the kernel: the first
    /// user program is an aarch64 ELF executable.
    #[ktest]
    fn the_built_initramfs_holds_the_user_programs() {
        if crate::drivers::devicetree::initrd().is_none() {
            return; // booted without -initrd (tests/ktest.sh run by hand)
        }
        let hello = lookup("/bin/hello").expect("/bin/hello is not in the initramfs");
        assert_eq!(hello.mode & S_IFMT, S_IFREG);
        assert_eq!(&hello.data[..4], b"\x7fELF");
        assert_eq!(u16::from_le_bytes([hello.data[18], hello.data[19]]), 183, "e_machine is not EM_AARCH64");
        assert!(lookup("/etc/motd").is_some_and(|e| e.data.starts_with(b"Welcome to Pagoda")));
    }

    #[ktest]
    fn a_newc_archive_is_indexed_and_a_corrupt_one_refused() {
        let saved = core::mem::take(&mut *ROOTFS.lock());
        let mut a = Vec::new();
        entry(&mut a, ".", S_IFDIR | 0o755, b"");
        entry(&mut a, "etc", S_IFDIR | 0o755, b"");
        entry(&mut a, "etc/motd", S_IFREG | 0o644, b"hello\n");
        entry(&mut a, "TRAILER!!!", 0, b"");
        let a: &'static [u8] = alloc::boxed::Box::leak(a.into_boxed_slice());
        assert_eq!(unpack_to_rootfs(a), Ok(3));
        assert_eq!(lookup("/etc/motd").map(|e| e.data), Some(&b"hello\n"[..]));
        assert!(lookup("/etc").unwrap().is_dir());
        assert_eq!(readdir("/etc").len(), 1);
        assert_eq!(readdir("/").iter().map(|e| e.path).collect::<Vec<_>>(), ["/etc"]);
        assert_eq!(&mode_string(S_IFREG | 0o644), b"-rw-r--r--");
        // Truncated (no trailer) and garbage archives are refused, not trusted.
        assert!(unpack_to_rootfs(&a[..a.len() - 20]).is_err());
        assert!(unpack_to_rootfs(b"not a cpio archive").is_err());
        *ROOTFS.lock() = saved;
    }
}
