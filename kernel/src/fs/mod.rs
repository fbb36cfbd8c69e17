//! Filesystems (Linux: fs/): the VFS, tmpfs, the initramfs, binfmt_elf and
//! /proc arrive with the user-space issues. Empty for now; the /proc-style
//! views live in mm/procfs.rs until procfs exists.
