//! Per-task FP/SIMD registers and the user TLS register (Linux:
//! arch/arm64/kernel/fpsimd.c, and tls_thread_switch in process.c).
//!
//! Linux switches FP/SIMD state lazily (TIF_FOREIGN_FPSTATE); Pagoda
//! switches it eagerly, but only for user tasks: the kernel is soft-float,
//! so kernel threads never change these registers, and a switch from a user
//! task to a kernel thread and back needs no FP work at all.

/// q0-q31, FPSR and FPCR (Linux: struct user_fpsimd_state).
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FpsimdState {
    pub vregs: [u128; 32],
    pub fpsr: u32,
    pub fpcr: u32,
}

impl FpsimdState {
    pub const fn new() -> Self {
        FpsimdState { vregs: [0; 32], fpsr: 0, fpcr: 0 }
    }
}

impl Default for FpsimdState {
    fn default() -> Self {
        Self::new()
    }
}

/// A user task's registers that cpu_switch_to does not keep
/// (Linux: the FP/SIMD and TLS parts of struct thread_struct).
#[derive(Default)]
pub struct ThreadState {
    pub fpsimd: FpsimdState,
    /// TPIDR_EL0, the user's thread pointer (glibc's TLS).
    pub tpidr_el0: u64,
}

extern "C" {
    fn fpsimd_save_state(state: *mut FpsimdState);
    fn fpsimd_load_state(state: *const FpsimdState);
}

/// Saves this CPU's user registers into `t` (Linux: fpsimd_save + the TLS
/// save of tls_thread_switch).
///
/// # Safety
/// `t` belongs to the task this CPU is switching away from, and nothing
/// else touches it meanwhile (interrupts are masked).
pub unsafe fn thread_save(t: *mut ThreadState) {
    use aarch64_cpu::registers::TPIDR_EL0;
    use tock_registers::interfaces::Readable;
    // SAFETY: per the contract; the layout matches fpsimd.S.
    unsafe {
        fpsimd_save_state(&raw mut (*t).fpsimd);
        (*t).tpidr_el0 = TPIDR_EL0.get();
    }
}

/// Loads `t` into this CPU's user registers (Linux: fpsimd_restore_current_state).
///
/// # Safety
/// As for `thread_save`, for the task being switched to.
pub unsafe fn thread_load(t: *const ThreadState) {
    use aarch64_cpu::registers::TPIDR_EL0;
    use tock_registers::interfaces::Writeable;
    // SAFETY: per the contract; the layout matches fpsimd.S.
    unsafe {
        fpsimd_load_state(&raw const (*t).fpsimd);
        TPIDR_EL0.set((*t).tpidr_el0);
    }
}

/// Saves this CPU's FP/SIMD registers into `state` (for a signal frame).
///
/// # Safety
/// Interrupts may be on: nothing else changes these registers meanwhile,
/// because the kernel never uses them and a switch saves and restores them.
pub unsafe fn fpsimd_save(state: &mut FpsimdState) {
    // SAFETY: the layout matches fpsimd.S.
    unsafe { fpsimd_save_state(state) }
}

/// Loads `state` into this CPU's FP/SIMD registers (for rt_sigreturn).
///
/// # Safety
/// As for `fpsimd_save`: the registers belong to the running user task.
pub unsafe fn fpsimd_load(state: &FpsimdState) {
    // SAFETY: the layout matches fpsimd.S.
    unsafe { fpsimd_load_state(state) }
}
