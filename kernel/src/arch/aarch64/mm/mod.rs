//! AArch64 MMU support (Linux: arch/arm64/mm): descriptors and TLB maintenance.
pub mod context;
pub mod mmu;
pub mod pte;
pub mod tlb;
