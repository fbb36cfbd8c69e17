//! AArch64: the VMSAv8-64 descriptor format (Linux: pgtable-hwdef.h,
//! pgtable-prot.h), the PTE helpers with arm64's software dirty and write
//! bits (pgtable.h), and the ASID allocator (arch/arm64/mm/context.c).
pub mod asid;
pub mod pgtable;
pub mod pgtable_hwdef;
