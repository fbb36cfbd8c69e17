//! AArch64 (ARMv8-A) support: boot entry, exception vectors, CPU
//! identification, the generic timer's counter, PSCI and semihosting.

use core::arch::global_asm;

pub mod backtrace;
pub mod cpu;
pub mod exception;
pub mod irqflags;
pub mod mm;
pub mod psci;
pub mod semihosting;
pub mod time;

// boot/head.S (the Image header and early boot) and the exception vectors.
global_asm!(include_str!("../../../../boot/sysregs.inc"), include_str!("../../../../boot/head.S"));
global_asm!(include_str!("entry.S"));
global_asm!(include_str!("mm/proc.S"));
