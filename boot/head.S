/*
 * boot/head.S - the kernel entry point, modelled on arch/arm64/kernel/head.S.
 *
 * QEMU (or any arm64 boot loader) loads the flat Image at RAM base +
 * text_offset and jumps to its first byte with the MMU off, x0 holding the
 * physical address of the device tree. This file:
 *
 *   1. carries the 64-byte arm64 Image header (Documentation/arm64/booting.rst),
 *   2. drops from EL2 to EL1 if we were entered at EL2 (init_kernel_el),
 *   3. parks every CPU but the boot CPU (SMP bring-up is PSCI CPU_ON, later),
 *   4. clears .bss and sets up the boot stack,
 *   5. builds two boot page tables (create_idmap, create_kernel_mapping):
 *        idmap_pg_dir - VA == PA for the 2 GiB around the image, so the
 *                       instruction that turns the MMU on keeps running;
 *        init_pg_dir  - the image at its link address KIMAGE_VADDR, 2 MiB blocks,
 *   6. programs MAIR/TCR (__cpu_setup), turns the MMU on (__enable_mmu) and
 *      jumps to the high virtual address, where Rust's start_kernel runs.
 *
 * Differences from Linux: no KASLR, no relocation, no 52-bit VA, and the boot
 * tables map the image RWX; paging_init replaces them with swapper_pg_dir,
 * where text is RX, rodata R and data RW+XN.
 *
 * Register use until start_kernel: x21 = FDT physical address,
 * x22 = physical address of _text, x23 = the exception level we were entered at.
 */

// Constants come from boot/sysregs.inc, assembled ahead of this file.

    .section .head.text, "ax"
    .globl _head
_head:
    b       primary_entry           // code0: branch to the kernel entry
    .long   0                       // code1
    .quad   0x80000                 // text_offset: QEMU loads us at RAM + this
    .quad   _kernel_size_le         // image_size: _end - _text, from linker.ld
    .quad   0xa                     // flags: LE, 4 KiB pages, place anywhere
    .quad   0                       // res2
    .quad   0                       // res3
    .quad   0                       // res4
    .ascii  "ARM\x64"               // magic
    .long   0                       // res5 (PE header offset, unused)

primary_entry:
    mov     x21, x0                 // keep the FDT address
    mrs     x23, CurrentEL
    lsr     x23, x23, #2                // the EL we were entered at, for the log
    mrs     x1, mpidr_el1
    and     x1, x1, #MPIDR_HWID_MASK_LOW
    cbnz    x1, secondary_park      // only CPU 0 boots for now

    bl      init_kernel_el          // returns at EL1, MMU off
    adrp    x22, _text              // PC-relative: physical address of _text

    /* Clear .bss (which also holds the boot page tables and stack). */
    adrp    x0, __bss_start
    add     x0, x0, :lo12:__bss_start
    adrp    x1, __bss_end
    add     x1, x1, :lo12:__bss_end
1:  stp     xzr, xzr, [x0], #16
    cmp     x0, x1
    b.lo    1b

    adrp    x0, init_stack_top
    mov     sp, x0

    bl      create_idmap
    bl      create_kernel_mapping
    bl      __cpu_setup
    b       __enable_mmu

/*
 * Secondary CPUs should not get here: QEMU holds them off until PSCI CPU_ON.
 * If a boot loader releases them anyway, park them with interrupts masked.
 */
secondary_park:
    msr     daifset, #0xf
1:  wfe
    b       1b

/*
 * init_kernel_el: if entered at EL2, configure EL2 to let EL1 run the kernel
 * natively (HCR_EL2.RW, timer access, no FP traps, GICv3 sysregs) and eret to
 * EL1h with interrupts masked. At EL1, just put SCTLR_EL1 in a known state.
 */
init_kernel_el:
    mrs     x0, CurrentEL
    cmp     x0, #CurrentEL_EL2
    b.eq    1f
    ldr     x0, =SCTLR_EL1_RES1
    msr     sctlr_el1, x0
    isb
    ret
1:
    mov     x0, #HCR_EL2_RW                 // EL1 is AArch64
    msr     hcr_el2, x0
    mrs     x0, cnthctl_el2
    orr     x0, x0, #(CNTHCTL_EL1PCTEN | CNTHCTL_EL1PCEN)
    msr     cnthctl_el2, x0                 // EL1 may read the physical counter/timer
    msr     cntvoff_el2, xzr
    mrs     x0, id_aa64pfr0_el1
    ubfx    x0, x0, #24, #4                 // GIC system register interface?
    cbz     x0, 2f
    mrs     x0, S3_4_C12_C9_5
    mov     x1, #(ICC_SRE_EL2_SRE | ICC_SRE_EL2_ENABLE)
    orr     x0, x0, x1
    msr     S3_4_C12_C9_5, x0                 // let EL1 use ICC_* registers
    isb
2:
    mrs     x0, midr_el1
    msr     vpidr_el2, x0                   // EL1 reads of MIDR/MPIDR see the real ones
    mrs     x0, mpidr_el1
    msr     vmpidr_el2, x0
    msr     hstr_el2, xzr
    mov     x0, #CPTR_EL2_RES1              // TFP = 0: no FP/SIMD traps to EL2
    msr     cptr_el2, x0
    msr     vttbr_el2, xzr
    ldr     x0, =SCTLR_EL1_RES1
    msr     sctlr_el1, x0
    mov     x0, #SPSR_EL1h_DAIF_MASKED
    msr     spsr_el2, x0
    msr     elr_el2, x30
    eret

/*
 * create_idmap: idmap_pg_dir (L0) -> idmap_pg_dir + 4K (L1), and two 1 GiB
 * Normal-memory blocks covering the image's physical address. Only used for
 * the few instructions around the MMU switch; paging_init drops it.
 */
create_idmap:
    adrp    x0, idmap_pg_dir                // L0 table
    add     x1, x0, #PAGE_SIZE              // L1 table
    lsr     x2, x22, #39
    and     x2, x2, #0x1ff                  // L0 index of _text
    orr     x3, x1, #PTE_TABLE
    str     x3, [x0, x2, lsl #3]
    lsr     x2, x22, #30
    and     x2, x2, #0x1ff                  // L1 index of _text
    lsl     x4, x2, #30                     // 1 GiB aligned physical base
    ldr     x5, =PMD_SECT_NORMAL
    orr     x3, x4, x5
    str     x3, [x1, x2, lsl #3]
    add     x2, x2, #1                      // and the next GiB, in case the image
    cmp     x2, #512                        // or its stack straddles a boundary
    b.hs    1f
    mov     x9, #(1 << 30)
    add     x4, x4, x9
    orr     x3, x4, x5
    str     x3, [x1, x2, lsl #3]
1:  adrp    x0, idmap_pg_dir
    add     x1, x0, #(2 * PAGE_SIZE)
    b       dcache_inval_poc                // tail call

/*
 * create_kernel_mapping: init_pg_dir (L0) -> L1 -> L2, then one 2 MiB block
 * per 2 MiB of image, from (KIMAGE_VADDR, phys(_text) & ~2M) upwards.
 */
create_kernel_mapping:
    adrp    x0, init_pg_dir                 // L0
    add     x1, x0, #PAGE_SIZE              // L1
    add     x2, x1, #PAGE_SIZE              // L2
    ldr     x6, =_text                      // link-time VA of _text
    lsr     x3, x6, #39
    and     x3, x3, #0x1ff
    orr     x4, x1, #PTE_TABLE
    str     x4, [x0, x3, lsl #3]            // L0[idx] -> L1
    lsr     x3, x6, #30
    and     x3, x3, #0x1ff
    orr     x4, x2, #PTE_TABLE
    str     x4, [x1, x3, lsl #3]            // L1[idx] -> L2
    lsr     x3, x6, #21
    and     x3, x3, #0x1ff                  // first L2 index
    ldr     x7, =_end
    sub     x7, x7, #1
    lsr     x7, x7, #21
    and     x7, x7, #0x1ff                  // last L2 index
    and     x4, x22, #~(SZ_2M - 1)          // physical 2 MiB block of _text
    ldr     x5, =PMD_SECT_NORMAL
1:  orr     x8, x4, x5
    str     x8, [x2, x3, lsl #3]
    add     x4, x4, #(SZ_2M >> 12), lsl #12
    add     x3, x3, #1
    cmp     x3, x7
    b.ls    1b
    adrp    x0, init_pg_dir
    adrp    x1, init_pg_end
    b       dcache_inval_poc

/*
 * dcache_inval_poc(start = x0, end = x1): the tables were written with the
 * MMU and caches off; discard any stale cache lines covering them, so the
 * table walker and the kernel see what is in memory once caches are on.
 */
dcache_inval_poc:
    mrs     x3, ctr_el0
    ubfx    x3, x3, #16, #4                 // DminLine: log2(words per line)
    mov     x2, #4
    lsl     x2, x2, x3                      // line size in bytes
    sub     x3, x2, #1
    bic     x0, x0, x3
1:  dc      ivac, x0
    add     x0, x0, x2
    cmp     x0, x1
    b.lo    1b
    dsb     sy
    ret

/*
 * __cpu_setup: the memory attribute table, translation control, and a clean
 * TLB. IPS comes from ID_AA64MMFR0_EL1.PARange and 16-bit ASIDs are used when
 * the CPU has them (TCR_EL1.AS).
 */
__cpu_setup:
    tlbi    vmalle1                         // no stale entries from firmware
    dsb     nsh
    mov     x0, #(3 << 20)                  // CPACR_EL1.FPEN = 0b11: FP/SIMD usable at EL0
    msr     cpacr_el1, x0                   // (the kernel is softfloat and never touches it)
    msr     mdscr_el1, xzr
    ldr     x0, =MAIR_EL1_VALUE
    msr     mair_el1, x0
    ldr     x0, =TCR_EL1_VALUE
    mrs     x1, id_aa64mmfr0_el1
    and     x2, x1, #0xf                    // PARange
    cmp     x2, #5                          // cap at 48 bits (no 52-bit PA support)
    mov     x3, #5
    csel    x2, x2, x3, ls
    bfi     x0, x2, #32, #3                 // TCR_EL1.IPS
    ubfx    x2, x1, #4, #4                  // ASIDBits
    cmp     x2, #2
    b.ne    1f
    orr     x0, x0, #TCR_AS                 // 16-bit ASIDs
1:  msr     tcr_el1, x0
    isb
    ret

/*
 * __enable_mmu: TTBR0 = idmap, TTBR1 = init_pg_dir, then SCTLR_EL1.M/C/I.
 * We are executing from the identity map, so the next instruction fetch after
 * the switch still finds us; then branch to the link-time (high) address.
 */
__enable_mmu:
    adrp    x1, idmap_pg_dir
    msr     ttbr0_el1, x1
    adrp    x1, init_pg_dir
    msr     ttbr1_el1, x1
    isb
    ldr     x0, =SCTLR_EL1_MMU_ON
    msr     sctlr_el1, x0
    isb
    ic      iallu                           // drop instructions fetched with MMU off
    dsb     nsh
    isb
    ldr     x8, =__primary_switched         // absolute: a high VA
    br      x8
    .ltorg

/*
 * secondary_entry: where PSCI CPU_ON starts a secondary CPU, MMU off, with
 * x0 = context_id = its CPU number (Linux: secondary_entry /
 * secondary_startup). The boot CPU left the kernel page table and this
 * CPU's stack in `secondary_data` (cleaned to memory so we can read it with
 * caches off). We go to EL1, program MAIR/TCR, turn the MMU on with the
 * identity map in TTBR0 and swapper_pg_dir in TTBR1, and jump high.
 */
    .globl secondary_entry
secondary_entry:
    mov     x19, x0                         // CPU number
    bl      init_kernel_el
    bl      __cpu_setup
    adrp    x1, idmap_pg_dir
    msr     ttbr0_el1, x1
    adrp    x2, secondary_data
    add     x2, x2, :lo12:secondary_data
    ldr     x1, [x2]                        // swapper_pg_dir (physical)
    msr     ttbr1_el1, x1
    isb
    ldr     x0, =SCTLR_EL1_MMU_ON
    msr     sctlr_el1, x0
    isb
    ic      iallu
    dsb     nsh
    isb
    ldr     x8, =__secondary_switched
    br      x8
    .ltorg

    .text
/*
 * __secondary_switched: at the high address; take the stack and call
 * secondary_start_kernel(cpu).
 */
__secondary_switched:
    ldr     x2, =secondary_data
    ldr     x1, [x2, #8]                    // its idle task's stack top (virtual)
    mov     sp, x1
    msr     sp_el0, xzr                     // no `current` until init_idle
    mov     x29, xzr
    mov     x30, xzr
    ldr     x1, =vectors
    msr     vbar_el1, x1
    isb
    mov     x0, x19
    bl      secondary_start_kernel
1:  wfe
    b       1b
    .ltorg

    .data
    .balign 64
    .globl secondary_data
secondary_data:
    .quad   0                               // TTBR1 value for the new CPU
    .quad   0                               // its stack top
    .balign 64

    .text
/*
 * __primary_switched: now at the high address. Set the stack to its kernel
 * VA, install the exception vectors, and call start_kernel(fdt_pa, text_pa, boot_el).
 */
__primary_switched:
    ldr     x0, =init_stack_top
    mov     sp, x0
    msr     sp_el0, xzr                     // no `current` until sched_init
    mov     x29, xzr                        // terminate the frame-pointer chain
    mov     x30, xzr
    ldr     x0, =vectors
    msr     vbar_el1, x0
    isb
    mov     x0, x21
    mov     x1, x22
    mov     x2, x23
    bl      start_kernel
1:  wfe                                     // start_kernel does not return
    b       1b
    .ltorg
