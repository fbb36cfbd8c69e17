//! Arch-independent kernel helpers that do not touch hardware, so that they
//! build and test on the host (`cargo test`) as well as in the kernel.
//!
//! Each module names the Linux code it models.
#![cfg_attr(not(any(test, feature = "std")), no_std)]

pub mod cmdline;
pub mod esr;
pub mod fmtbuf;
pub mod kallsyms;
pub mod logbuf;
pub mod midr;
pub mod rand;
