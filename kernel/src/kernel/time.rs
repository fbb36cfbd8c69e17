//! The tick (Linux: kernel/time/, drivers/clocksource/arm_arch_timer.c).
//!
//! The generic timer's virtual timer (CNTV, a per-CPU PPI) fires HZ times
//! a second; every tick advances `jiffies` (on CPU 0) and calls the
//! scheduler tick. `hz=` on the command line sets HZ (default 100).

use crate::arch::time::counter_freq;
use aarch64_cpu::registers::{CNTV_CTL_EL0, CNTV_TVAL_EL0};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use log::{info, warn};
use tock_registers::interfaces::Writeable;

pub static JIFFIES: AtomicU64 = AtomicU64::new(0);
static HZ: AtomicU64 = AtomicU64::new(100);
static TIMER_INTID: AtomicUsize = AtomicUsize::new(0);
/// Called on every tick (the scheduler installs it).
static TICK_HOOK: spin::Once<fn()> = spin::Once::new();

pub fn hz() -> u64 {
    HZ.load(Relaxed)
}

pub fn jiffies() -> u64 {
    JIFFIES.load(Relaxed)
}

fn program_next_tick() {
    CNTV_TVAL_EL0.set(counter_freq() / hz());
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

fn timer_interrupt(_intid: u32) {
    if crate::kernel::percpu::smp_processor_id() == 0 {
        JIFFIES.fetch_add(1, Relaxed);
    }
    program_next_tick();
    if let Some(hook) = TICK_HOOK.get() {
        hook();
    }
}

/// Starts the tick on CPU 0 (Linux: time_init + tick setup).
pub fn time_init(cmdline: &str) -> bool {
    if let Some(Some(v)) = pagoda_klib::cmdline::get(cmdline, "hz") {
        match v.parse::<u64>() {
            Ok(h) if (10..=1000).contains(&h) => HZ.store(h, Relaxed),
            _ => warn!("hz={v}: want 10..1000; keeping {}", hz()),
        }
    }
    let Some(irqs) = crate::drivers::devicetree::timer_intids() else {
        warn!("arch_timer: no timer in the device tree");
        return false;
    };
    let intid = irqs[2]; // the virtual timer, as Linux uses at EL1
    TIMER_INTID.store(intid as usize, Relaxed);
    if let Err(e) = crate::kernel::irq::request_irq(intid, "arch_timer", timer_interrupt) {
        warn!("arch_timer: cannot get IRQ {intid}: {e:?}");
        return false;
    }
    program_next_tick();
    let f = counter_freq();
    info!(
        "arch_timer: cp15 timer running at {}.{:02}MHz (virt), IRQ {intid}, HZ={}",
        f / 1_000_000,
        f % 1_000_000 / 10_000,
        hz()
    );
    true
}

/// Starts the tick on a secondary CPU.
pub fn time_init_cpu() {
    let intid = TIMER_INTID.load(Relaxed) as u32;
    if intid != 0 {
        crate::kernel::irq::enable_percpu_irq(intid);
        program_next_tick();
    }
}

/// Installs the scheduler's tick function.
pub fn set_tick_hook(f: fn()) {
    TICK_HOOK.call_once(|| f);
}

/// Milliseconds to jiffies, rounding up (Linux: msecs_to_jiffies).
pub fn msecs_to_jiffies(ms: u64) -> u64 {
    (ms * hz()).div_ceil(1000)
}

/// Nanoseconds to jiffies, rounded up, at least 1 (Linux: nsecs_to_jiffies
/// rounds down; sleepers want "at least this long").
pub fn nsecs_to_jiffies(ns: u64) -> u64 {
    ns.div_ceil(1_000_000_000 / hz().max(1)).max(1)
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

    #[ktest]
    fn timer_ticks_advance_jiffies() {
        let j0 = jiffies();
        let t0 = crate::arch::time::uptime_ns();
        // Wait (with interrupts on) for 5 ticks, at most 2 s of guest time.
        while jiffies() < j0 + 5 && crate::arch::time::uptime_ns() - t0 < 2_000_000_000 {
            crate::arch::cpu::wait_for_interrupt();
        }
        assert!(jiffies() >= j0 + 5, "jiffies stuck at {} (was {j0})", jiffies());
        let intid = TIMER_INTID.load(Relaxed) as u32;
        assert!(crate::kernel::irq::irq_count(intid, 0) >= 5);
    }
}
