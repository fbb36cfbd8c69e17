//! AArch64 (ARMv8-A) support, split as Linux's arch/arm64 is:
//! - `kernel/`: boot entry and exception vectors (entry.S), traps, CPU
//!   identification, interrupt masking, the generic timer's counter, PSCI,
//!   semihosting, the frame-pointer unwinder;
//! - `mm/`: the MMU and the kernel page table, the memory layout, the fixmap,
//!   TLB maintenance, ASIDs and TTBR0 switching, the page-table dump, and
//!   the exception table (extable.rs);
//! - `lib/`: the user-copy routines (uaccess.S).
//!
//! The generic kernel reaches the first group as `crate::arch::cpu`,
//! `crate::arch::irqflags`, ... (re-exported below) and the second as
//! `crate::arch::mm::*`.

use core::arch::global_asm;

pub mod kernel;
pub mod mm;

pub use kernel::{backtrace, cpu, exception, fpsimd, irqflags, process, psci, semihosting, time};

// boot/head.S (the Image header and early boot) and the exception vectors.
global_asm!(include_str!("../../../../boot/sysregs.inc"), include_str!("../../../../boot/head.S"));
global_asm!(include_str!("kernel/entry.S"));
global_asm!(include_str!("mm/proc.S"));
global_asm!(include_str!("lib/uaccess.S"));
global_asm!(include_str!("kernel/fpsimd.S"));
