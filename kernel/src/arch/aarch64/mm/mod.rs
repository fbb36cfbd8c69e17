//! arch/arm64/mm: the kernel page table and MMU set-up (mmu), the virtual
//! memory layout (layout, Linux's asm/memory.h), fixed mappings (fixmap),
//! TLB maintenance (tlb), ASIDs and TTBR0 switching (context), the
//! descriptor helpers for early mappings (pte) and the page-table views
//! (ptdump).
pub mod context;
pub mod extable;
pub mod fixmap;
pub mod layout;
pub mod mmu;
pub mod page;
pub mod ptdump;
pub mod pte;
pub mod tlb;
