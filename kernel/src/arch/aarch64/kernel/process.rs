//! Entering user space for the first time (Linux:
//! arch/arm64/include/asm/processor.h start_thread, and the ret_to_user
//! path of arch/arm64/kernel/entry.S).
//!
//! A user task's kernel stack holds, at its very top, the frame of its user
//! registers: every entry from EL0 saves them there and every return
//! restores them (the stack is empty whenever the task runs at EL0). A task
//! that has just exec'd builds that frame itself, with the program's entry
//! point and stack, and "returns" to user space through it.

use super::exception::TrapFrame;

/// PSTATE for EL0 in AArch64 with interrupts unmasked (Linux: PSR_MODE_EL0t).
const PSR_MODE_EL0T: u64 = 0;

extern "C" {
    fn ret_to_user(frame: *mut TrapFrame) -> !;
}

/// Starts user code at `pc` with stack pointer `sp`, on the current task's
/// kernel stack `[.., stack_top)`. Never returns (Linux: start_thread, then
/// the return from execve).
///
/// # Safety
/// `stack_top` is the top of the current task's kernel stack and nothing
/// on that stack is in use any more (the caller's frames are abandoned).
pub unsafe fn start_thread(pc: usize, sp: usize, stack_top: usize) -> ! {
    let frame = (stack_top - core::mem::size_of::<TrapFrame>()) as *mut TrapFrame;
    let regs = TrapFrame {
        regs: [0; 31],
        sp: sp as u64,
        pc: pc as u64,
        pstate: PSR_MODE_EL0T,
        esr: 0,
        far: 0,
        stackframe: [0; 2],
    };
    // From here to the eret, SP_EL0 holds the user's stack pointer, not
    // `current`: an interrupt in between would run kernel code with a
    // garbage `current`. Interrupts stay masked until the eret unmasks them
    // (Linux: ret_to_user runs with DAIF masked).
    super::irqflags::local_irq_disable();
    // SAFETY: per the contract, the top of the stack is free; the frame
    // fits (stacks are far larger than 304 bytes) and is 16-byte aligned.
    unsafe {
        frame.write(regs);
        ret_to_user(frame)
    }
}
