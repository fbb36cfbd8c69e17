/*
 * entry.S - exception vectors and trap frames, modelled on
 * arch/arm64/kernel/entry.S.
 *
 * VBAR_EL1 points at `vectors`: 16 entries of 0x80 bytes, four groups of four
 * (synchronous, IRQ, FIQ, SError):
 *   current EL with SP_EL0 ("t"), current EL with SP_ELx ("h"),
 *   lower EL in AArch64, lower EL in AArch32.
 * Every entry saves a full struct pt_regs (see exception.rs, TrapFrame) on
 * the kernel stack and calls handle_exception(frame, vector_index). On
 * return the frame is restored, so a handler may change the return address
 * (ELR) or registers of the interrupted context.
 */

    .equ S_FRAME_SIZE, 304          // 31 GPRs, sp, elr, spsr, esr, far, stackframe[2]
    .equ S_STACKFRAME, 288
    .equ S_LR,  240
    .equ S_SP,  248
    .equ S_PC,  256
    .equ S_ESR, 272

    .equ THREAD_SHIFT, 16               // sched/stack.rs
    .equ OVERFLOW_STACK_SHIFT, 13       // 8 KiB per CPU
    .equ NR_CPUS, 8                     // pagoda_klib::sync::NR_CPUS

    .macro kernel_entry, el
    sub     sp, sp, #S_FRAME_SIZE
    stp     x0, x1, [sp, #16 * 0]
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #16 * 9]
    stp     x20, x21, [sp, #16 * 10]
    stp     x22, x23, [sp, #16 * 11]
    stp     x24, x25, [sp, #16 * 12]
    stp     x26, x27, [sp, #16 * 13]
    stp     x28, x29, [sp, #16 * 14]
    .if \el == 0
    mrs     x21, sp_el0                     // the user stack pointer
    .else
    add     x21, sp, #S_FRAME_SIZE          // the kernel sp before the exception
    .endif
    stp     x30, x21, [sp, #S_LR]
    mrs     x22, elr_el1
    mrs     x23, spsr_el1
    stp     x22, x23, [sp, #S_PC]
    mrs     x24, esr_el1
    mrs     x25, far_el1
    stp     x24, x25, [sp, #S_ESR]
    /*
     * A frame record (x29, elr) inside the frame, and x29 pointing at it, so
     * a frame-pointer call trace walks through the exception into the
     * interrupted code (Linux: pt_regs::stackframe).
     */
    stp     x29, x22, [sp, #S_STACKFRAME]
    add     x29, sp, #S_STACKFRAME
    .if \el == 0
    /*
     * While user code ran, SP_EL0 held its stack pointer; in the kernel it
     * holds `current`. Reload it from this CPU's __entry_task (TPIDR_EL1
     * holds the CPU number + 1; see kernel/percpu.rs).
     */
    mrs     x19, tpidr_el1
    sub     x19, x19, #1
    adrp    x20, __entry_task
    add     x20, x20, :lo12:__entry_task
    ldr     x19, [x20, x19, lsl #3]
    msr     sp_el0, x19
    .endif
    .endm

    .macro kernel_exit, el
    ldp     x22, x23, [sp, #S_PC]
    msr     elr_el1, x22
    msr     spsr_el1, x23
    .if \el == 0
    ldr     x21, [sp, #S_SP]
    msr     sp_el0, x21
    .endif
    ldp     x0, x1, [sp, #16 * 0]
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x18, x19, [sp, #16 * 9]
    ldp     x20, x21, [sp, #16 * 10]
    ldp     x22, x23, [sp, #16 * 11]
    ldp     x24, x25, [sp, #16 * 12]
    ldp     x26, x27, [sp, #16 * 13]
    ldp     x28, x29, [sp, #16 * 14]
    ldr     x30, [sp, #S_LR]
    add     sp, sp, #S_FRAME_SIZE
    eret
    .endm

    /* One handler stub per vector: save, call Rust with (frame, index), restore. */
    .macro entry_handler, el, index
    .balign 4
el\el\()_\index\()_handler:
    kernel_entry \el
    mov     x0, sp
    mov     x1, #\index
    bl      handle_exception
    kernel_exit \el
    .endm

    /*
     * The callee-saved state of a C/Rust function boundary: x19-x28, the
     * frame pointer x29, the return address x30 and sp, 13 words at \base.
     * Shared by the context switch and the test runner's setjmp/longjmp.
     */
    .macro save_callee_regs, base
    stp     x19, x20, [\base, #0]
    stp     x21, x22, [\base, #16]
    stp     x23, x24, [\base, #32]
    stp     x25, x26, [\base, #48]
    stp     x27, x28, [\base, #64]
    stp     x29, x30, [\base, #80]
    mov     x9, sp
    str     x9, [\base, #96]
    .endm

    .macro restore_callee_regs, base
    ldp     x19, x20, [\base, #0]
    ldp     x21, x22, [\base, #16]
    ldp     x23, x24, [\base, #32]
    ldp     x25, x26, [\base, #48]
    ldp     x27, x28, [\base, #64]
    ldp     x29, x30, [\base, #80]
    ldr     x9, [\base, #96]
    mov     sp, x9
    .endm

    .macro ventry, label
    .balign 0x80
    b       \label
    .endm

    /*
     * The entry of an exception taken on a kernel stack (EL1h). Before
     * anything is pushed, check that the frame will fit: every kernel stack
     * is THREAD_SIZE bytes aligned to 2 * THREAD_SIZE (sched/stack.rs), so
     * a stack pointer inside one has bit THREAD_SHIFT clear, and one that
     * ran off the bottom into the guard page has it set. There is no free
     * register yet, so x0 is folded into sp and back out (the arithmetic
     * Linux's kernel_ventry uses for the same test).
     */
    .macro ventry_el1h, label
    .balign 0x80
    sub     sp, sp, #S_FRAME_SIZE
    add     sp, sp, x0                      // sp = sp' + x0
    sub     x0, sp, x0                      // x0 = sp'
    tbnz    x0, #THREAD_SHIFT, __bad_stack_\label
    sub     x0, sp, x0                      // x0 = x0 again
    sub     sp, sp, x0                      // sp = sp'
    add     sp, sp, #S_FRAME_SIZE           // kernel_entry subtracts it again
    b       \label
__bad_stack_\label:
    b       __bad_stack
    .endm

    .section .text.vectors, "ax"
    .balign 0x800
    .globl vectors
vectors:
    ventry  el1_0_handler           // Synchronous EL1t
    ventry  el1_1_handler           // IRQ EL1t
    ventry  el1_2_handler           // FIQ EL1t
    ventry  el1_3_handler           // SError EL1t
    ventry_el1h el1_4_handler          // Synchronous EL1h
    ventry_el1h el1_5_handler          // IRQ EL1h
    ventry_el1h el1_6_handler          // FIQ EL1h
    ventry_el1h el1_7_handler          // SError EL1h
    ventry  el0_8_handler           // Synchronous 64-bit EL0
    ventry  el0_9_handler           // IRQ 64-bit EL0
    ventry  el0_10_handler          // FIQ 64-bit EL0
    ventry  el0_11_handler          // SError 64-bit EL0
    ventry  el0_12_handler          // Synchronous 32-bit EL0
    ventry  el0_13_handler          // IRQ 32-bit EL0
    ventry  el0_14_handler          // FIQ 32-bit EL0
    ventry  el0_15_handler          // SError 32-bit EL0

    .text
    entry_handler 1, 0
    entry_handler 1, 1
    entry_handler 1, 2
    entry_handler 1, 3
    entry_handler 1, 4
    entry_handler 1, 5
    entry_handler 1, 6
    entry_handler 1, 7
    entry_handler 0, 8
    entry_handler 0, 9
    entry_handler 0, 10
    entry_handler 0, 11
    entry_handler 0, 12
    entry_handler 0, 13
    entry_handler 0, 14
    entry_handler 0, 15

/*
 * __bad_stack: an exception found the kernel stack overflowed (Linux:
 * __bad_stack). x0 holds the would-be frame address sp', and sp holds
 * sp' + x0. Stash sp' in TPIDR_EL0 and the original x0 in TPIDRRO_EL0 (the
 * user's TLS registers: the task will not go back to user space), move to
 * this CPU's overflow stack, save a frame there and report.
 */
__bad_stack:
    msr     tpidr_el0, x0
    sub     x0, sp, x0
    msr     tpidrro_el0, x0
    mrs     x0, tpidr_el1                   // CPU number + 1
    sub     x0, x0, #1
    and     x0, x0, #(NR_CPUS - 1)
    add     x0, x0, #1
    lsl     x0, x0, #OVERFLOW_STACK_SHIFT
    mov     sp, x0
    adrp    x0, overflow_stacks
    add     x0, x0, :lo12:overflow_stacks
    add     sp, sp, x0                      // the top of this CPU's overflow stack
    kernel_entry 1
    mov     x0, sp
    bl      handle_bad_stack
1:  wfe
    b       1b

/*
 * One small stack per CPU to report an overflow on. Together they fill the
 * lower half of a block aligned like a task stack, so that the entry check
 * above passes while on them.
 */
    .bss
    .balign 1 << (THREAD_SHIFT + 1)
    .globl overflow_stacks
overflow_stacks:
    .space NR_CPUS << OVERFLOW_STACK_SHIFT
    .globl overflow_stacks_end
overflow_stacks_end:
    .text

/*
 * ktest_setjmp(buf) / ktest_longjmp(buf): save and restore the callee-saved
 * state so the test runner can recover from a test that is expected to
 * fault. setjmp returns 0; a later longjmp makes it return 1.
 * buf: x19..x30, sp (13 words, the same layout as a task's Context).
 */
    .globl ktest_setjmp
ktest_setjmp:
    save_callee_regs x0
    mov     x0, #0
    ret

    .globl ktest_longjmp
ktest_longjmp:
    restore_callee_regs x0
    mov     x0, #1
    ret

/*
 * cpu_switch_to(prev: *mut CpuContext, next: *const CpuContext, next_task)
 * (Linux: arch/arm64/kernel/entry.S cpu_switch_to).
 * Saves the callee-saved registers, the frame pointer, the return address
 * and sp of the current task into `prev`, loads `next`'s, and returns into
 * `next`. Everything else was saved by the compiler around the call.
 * Context: x19..x28, x29, x30, sp (13 words).
 */
    .globl cpu_switch_to
cpu_switch_to:
    save_callee_regs x0
    restore_callee_regs x1
    msr     sp_el0, x2                      // current = next
    ret

/*
 * ret_to_user(frame): leave the kernel for user space through a frame that
 * start_thread built at the top of the task's kernel stack (Linux: the
 * ret_to_user path a new process takes after execve).
 */
    .globl ret_to_user
ret_to_user:
    mov     sp, x0
    kernel_exit 0

/*
 * A forked user process starts here, from cpu_switch_to's `ret`, with
 * x19 = its user register frame (a copy of the parent's, x0 = 0) and
 * x20 = the CLONE_CHILD_SETTID address. schedule_tail_user finishes the
 * switch; then the frame takes it to user space (Linux: ret_from_fork).
 */
    .globl ret_from_fork_user
ret_from_fork_user:
    mov     x0, x20
    mov     x1, x19
    mov     x29, xzr
    bl      schedule_tail_user
    mov     sp, x19
    kernel_exit 0

/*
 * A new kernel thread starts here, from cpu_switch_to's `ret`, with
 * x19 = its Task. Call kthread_entry(task), which never returns.
 */
    .globl ret_from_fork
ret_from_fork:
    mov     x0, x19
    mov     x29, xzr
    bl      kthread_entry
1:  wfe
    b       1b
