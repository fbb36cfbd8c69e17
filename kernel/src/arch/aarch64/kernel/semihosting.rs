//! Arm semihosting, used only to exit QEMU with a status (test kernels).
//! QEMU must run with `-semihosting`. AArch64 semihosting is `HLT #0xF000`
//! with the operation in w0 and a parameter block pointer in x1.

const SYS_EXIT: u64 = 0x18;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

/// Exits QEMU with `code` as its exit status.
pub fn exit(code: u32) -> ! {
    let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, code as u64];
    // SAFETY: SYS_EXIT reads the two-word block and stops the machine; if
    // semihosting is off the HLT traps and we fall through to halt().
    unsafe {
        core::arch::asm!("hlt #0xf000", in("x0") SYS_EXIT, in("x1") block.as_ptr(), options(nostack));
    }
    super::cpu::halt()
}
