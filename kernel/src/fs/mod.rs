//! Filesystems (Linux: fs/). So far the initramfs, read in place, and
//! exec with the ELF loader; the VFS, tmpfs and /proc arrive with the
//! user-space and file issues. The /proc-style views live in mm/procfs.rs
//! until procfs exists.
pub mod binfmt_elf;
pub mod exec;
pub mod initramfs;
