//! PSCI (Arm DEN 0022) calls: PSCI_VERSION, CPU_ON, SYSTEM_OFF, SYSTEM_RESET.
//! Every function id Pagoda uses is defined here.
//! The conduit (HVC or SMC) comes from the device tree's /psci `method`,
//! as in drivers/firmware/psci/psci.c.

use spin::Once;

pub const PSCI_0_2_FN_SYSTEM_OFF: u32 = 0x8400_0008;
pub const PSCI_0_2_FN_SYSTEM_RESET: u32 = 0x8400_0009;
pub const PSCI_0_2_FN_PSCI_VERSION: u32 = 0x8400_0000;
pub const PSCI_0_2_FN64_CPU_ON: u32 = 0xc400_0003;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conduit {
    Hvc,
    Smc,
}

static CONDUIT: Once<Conduit> = Once::new();

/// Records the conduit named by the device tree (`"hvc"` or `"smc"`).
pub fn init(method: &str) -> Option<Conduit> {
    let c = match method {
        "hvc" => Conduit::Hvc,
        "smc" => Conduit::Smc,
        _ => return None,
    };
    Some(*CONDUIT.call_once(|| c))
}

/// A raw PSCI call through the conduit; returns x0.
pub fn call(func: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    let mut ret = func as u64;
    match CONDUIT.get() {
        // SAFETY: a PSCI call clobbers x0-x3 only (SMCCC), which we declare.
        Some(Conduit::Hvc) => unsafe {
            core::arch::asm!("hvc #0", inout("x0") ret, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _)
        },
        // SAFETY: as above.
        Some(Conduit::Smc) => unsafe {
            core::arch::asm!("smc #0", inout("x0") ret, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _)
        },
        None => return -1,
    }
    ret as i64
}

/// PSCI version as (major, minor), if PSCI is present.
pub fn version() -> Option<(u16, u16)> {
    CONDUIT.get()?;
    let v = call(PSCI_0_2_FN_PSCI_VERSION, 0, 0, 0);
    (v >= 0).then_some(((v >> 16) as u16, v as u16))
}

/// Starts the CPU with MPIDR affinity `hwid` at physical address `entry`
/// with x0 = `context_id` (Linux: psci_cpu_on). Returns 0 or a PSCI error.
pub fn cpu_on(hwid: u64, entry: u64, context_id: u64) -> i64 {
    call(PSCI_0_2_FN64_CPU_ON, hwid, entry, context_id)
}

/// Powers the machine off. Returns only if PSCI is missing or refuses.
pub fn system_off() {
    call(PSCI_0_2_FN_SYSTEM_OFF, 0, 0, 0);
}

/// Resets the machine. Returns only if PSCI is missing or refuses.
pub fn system_reset() {
    call(PSCI_0_2_FN_SYSTEM_RESET, 0, 0, 0);
}
