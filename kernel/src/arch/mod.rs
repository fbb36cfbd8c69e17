//! Architecture code. Pagoda runs on AArch64 only; the generic kernel calls
//! through this module so the split stays visible, as in
//! rust-raspberrypi-OS-tutorials' `_arch/` and Linux's `arch/`.
pub mod aarch64;
pub use aarch64::*;
