//! arch/arm64/kernel: entry, traps, CPU features, PSCI, the arch timer.
pub mod backtrace;
pub mod cpu;
pub mod exception;
pub mod fpsimd;
pub mod irqflags;
pub mod process;
pub mod psci;
pub mod semihosting;
pub mod time;
