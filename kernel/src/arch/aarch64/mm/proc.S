/*
 * proc.S - MMU switches that must run from the identity map
 * (Linux: arch/arm64/mm/proc.S, idmap_cpu_replace_ttbr1).
 *
 * Replacing TTBR1 while executing through TTBR1 risks the CPU holding TLB
 * entries from the old and the new tables for the same address at once
 * (e.g. a 2 MiB block and 4 KiB pages), a "TLB conflict". So we run this
 * from the identity map (TTBR0), point TTBR1 at an empty table, flush, and
 * only then install the new table. Interrupts are masked by the caller, and
 * nothing here touches the stack.
 *
 * x0 = physical address of the new TTBR1 table
 * x1 = physical address of an all-zero table (reserved_pg_dir)
 */
    .text
    .balign 4
    .globl idmap_cpu_replace_ttbr1
idmap_cpu_replace_ttbr1:
    msr     ttbr1_el1, x1           // no kernel translations for a moment
    isb
    tlbi    vmalle1                 // drop every cached TTBR1 translation
    dsb     nsh
    isb
    msr     ttbr1_el1, x0           // the new kernel page table
    isb
    ret                             // x30 is a high address, mapped again
