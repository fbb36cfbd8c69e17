//! Kernel helpers that build and test on the host (`cargo test`) as well as
//! in the kernel. Only `irqflags` touches hardware (DAIF and TPIDR_EL1, for
//! the IRQ-safe lock in `sync`), and on the host it is a set of no-ops.
//!
//! Each module names the Linux code it models.
#![cfg_attr(not(any(test, feature = "std")), no_std)]

extern crate alloc;

pub mod arc;
pub mod cmdline;
pub mod errno;
pub mod esr;
pub mod fmtbuf;
pub mod irqflags;
pub mod kallsyms;
pub mod logbuf;
pub mod midr;
pub mod rand;
pub mod sync;
