//! The generic timer's system counter (CNTPCT_EL0 / CNTFRQ_EL0): the clock
//! behind printk timestamps, like Linux's arch_timer sched_clock.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::*;
use tock_registers::interfaces::Readable;

/// Counter frequency in Hz.
pub fn counter_freq() -> u64 {
    CNTFRQ_EL0.get()
}

/// Raw counter value. The ISB keeps the read from being hoisted above
/// earlier instructions.
pub fn counter() -> u64 {
    barrier::isb(barrier::SY);
    CNTPCT_EL0.get()
}

/// Nanoseconds since the counter started (machine reset).
pub fn uptime_ns() -> u64 {
    let freq = counter_freq().max(1);
    let c = counter() as u128;
    (c * 1_000_000_000 / freq as u128) as u64
}
