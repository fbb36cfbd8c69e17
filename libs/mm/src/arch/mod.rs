//! Architecture-specific formats and policies that are still pure data and
//! so host-testable (Linux: arch/arm64/include/asm). Pagoda runs on AArch64
//! only.
pub mod aarch64;
