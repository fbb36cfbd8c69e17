//! Filesystems (Linux: fs/). So far the initramfs, read in place; the VFS,
//! tmpfs, binfmt_elf and /proc arrive with the user-space and file issues.
//! The /proc-style views live in mm/procfs.rs until procfs exists.
pub mod initramfs;
