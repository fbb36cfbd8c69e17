/*
 * uaccess.S - copying to and from user space (Linux:
 * arch/arm64/lib/copy_from_user.S, copy_to_user.S, clear_user.S and
 * strncpy_from_user's word-at-a-time loop, kept to simple loops here).
 *
 * Every access to user memory is an unprivileged load or store (LDTR /
 * STTR): the MMU checks it with EL0's permissions, so even a pointer that
 * slipped past access_ok() cannot make the kernel read or write kernel
 * memory, and PAN does not apply to it. Each such instruction has an entry
 * in __ex_table (the `uaccess` macro): if it faults, the fault handler
 * resumes at the entry's fixup instead of oopsing, and the routine returns
 * how much it could not do.
 *
 * Calling convention: x0 = kernel/user destination, x1 = source, x2 = n.
 * Returns in x0 the number of bytes NOT copied (0 = all done).
 */

    /* One exception-table entry: the faulting instruction and where to go
     * instead, both as offsets from the entry (Linux: _asm_extable). */
    .macro uaccess, fixup, insn:vararg
9999:
    \insn
    .pushsection __ex_table, "a"
    .balign 4
    .long   (9999b - .), (\fixup - .)
    .popsection
    .endm

    .text
    .globl __arch_copy_from_user
__arch_copy_from_user:
    mov     x4, x2                          // bytes left
    cbz     x4, 2f
1:  cmp     x4, #8
    b.lo    3f
    uaccess 8f, ldtr x3, [x1]
    str     x3, [x0], #8
    add     x1, x1, #8
    sub     x4, x4, #8
    cbnz    x4, 1b
    b       2f
3:  uaccess 8f, ldtrb w3, [x1]
    strb    w3, [x0], #1
    add     x1, x1, #1
    subs    x4, x4, #1
    b.ne    3b
2:  mov     x0, #0
    ret
    /* A word load faulted: finish byte by byte up to the bad byte. */
8:  uaccess 9f, ldtrb w3, [x1]
    strb    w3, [x0], #1
    add     x1, x1, #1
    subs    x4, x4, #1
    b.ne    8b
9:  mov     x0, x4
    ret

    .globl __arch_copy_to_user
__arch_copy_to_user:
    mov     x4, x2
    cbz     x4, 2f
1:  cmp     x4, #8
    b.lo    3f
    ldr     x3, [x1], #8
    uaccess 8f, sttr x3, [x0]
    add     x0, x0, #8
    sub     x4, x4, #8
    cbnz    x4, 1b
    b       2f
3:  ldrb    w3, [x1], #1
    uaccess 9f, sttrb w3, [x0]
    add     x0, x0, #1
    subs    x4, x4, #1
    b.ne    3b
2:  mov     x0, #0
    ret
    /* A word store faulted (x1 already moved past the word): redo it
     * byte by byte up to the bad byte. */
8:  sub     x1, x1, #8
4:  ldrb    w3, [x1], #1
    uaccess 9f, sttrb w3, [x0]
    add     x0, x0, #1
    subs    x4, x4, #1
    b.ne    4b
9:  mov     x0, x4
    ret

    /* __arch_clear_user(x0 = user address, x1 = n): bytes not cleared. */
    .globl __arch_clear_user
__arch_clear_user:
    mov     x4, x1
    cbz     x4, 2f
1:  uaccess 9f, sttrb wzr, [x0]
    add     x0, x0, #1
    subs    x4, x4, #1
    b.ne    1b
2:  mov     x0, #0
    ret
9:  mov     x0, x4
    ret

    /*
     * __arch_strncpy_from_user(x0 = dst, x1 = user src, x2 = n): the length
     * of the string copied without its NUL (the NUL is copied too), n if
     * no NUL came within n bytes, or -1 if a read faulted.
     */
    .globl __arch_strncpy_from_user
__arch_strncpy_from_user:
    mov     x4, #0
1:  cmp     x4, x2
    b.hs    2f
    uaccess 9f, ldtrb w3, [x1, #0]
    strb    w3, [x0, x4]
    cbz     w3, 2f
    add     x1, x1, #1
    add     x4, x4, #1
    b       1b
2:  mov     x0, x4
    ret
9:  mov     x0, #-1
    ret
