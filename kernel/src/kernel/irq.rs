//! Interrupt handling (Linux: kernel/irq/, arch/arm64/kernel/irq.c).
//!
//! The GIC is found through the device tree and mapped with ioremap.
//! Drivers register a handler per interrupt ID with `request_irq`; the
//! exception vector for IRQs calls `handle_irq`, which acknowledges,
//! dispatches and signals end-of-interrupt until nothing is pending.

use crate::drivers::gic::{Gic, GIC_SPURIOUS};
use crate::sync::SpinLockIrq;
use crate::{kprint, kprintln, monitor_cmd};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use log::{info, warn};
use spin::Once;

pub const NR_IRQS: usize = 1020;
use crate::kernel::percpu::NR_CPUS;

pub type IrqHandler = fn(intid: u32);

#[derive(Clone, Copy)]
struct IrqAction {
    name: &'static str,
    handler: IrqHandler,
}

static GIC: Once<Gic> = Once::new();
static ACTIONS: SpinLockIrq<[Option<IrqAction>; NR_IRQS]> = SpinLockIrq::new([None; NR_IRQS]);
/// Interrupts taken, per interrupt and CPU (/proc/interrupts).
static COUNTS: [[AtomicUsize; NR_CPUS]; NR_IRQS] =
    [const { [const { AtomicUsize::new(0) }; NR_CPUS] }; NR_IRQS];
static SPURIOUS: AtomicUsize = AtomicUsize::new(0);

pub fn gic() -> Option<&'static Gic> {
    GIC.get()
}

/// Finds, maps and initialises the GIC (Linux: init_IRQ / gic_of_init).
pub fn init_irq() -> bool {
    let Some((version, dist, other)) = crate::drivers::devicetree::gic() else {
        warn!("irq: no GIC in the device tree; interrupts stay off");
        return false;
    };
    let map = |r: crate::drivers::devicetree::Range| crate::mm::ioremap::ioremap(r.base, r.size.max(0x1000));
    let (Ok(d), Ok(o)) = (map(dist), map(other)) else {
        warn!("irq: cannot map the GIC");
        return false;
    };
    // SAFETY: both regions were just mapped as Device memory.
    let gic = GIC.call_once(|| unsafe { Gic::new(version, d, o) });
    gic.init_dist();
    gic.init_cpu();
    info!(
        "GICv{version}: {} irq lines, distributor at {:#x}, {} at {:#x}",
        gic.lines(),
        dist.base,
        if version == 3 { "redistributors" } else { "CPU interface" },
        other.base
    );
    true
}

/// Sets up this CPU's side of the GIC (secondary CPUs).
pub fn init_irq_cpu() {
    if let Some(g) = gic() {
        g.init_cpu();
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum IrqError {
    NoController,
    Invalid,
    Busy,
}

/// Registers `handler` for `intid` and unmasks it (Linux: request_irq).
pub fn request_irq(intid: u32, name: &'static str, handler: IrqHandler) -> Result<(), IrqError> {
    let gic = gic().ok_or(IrqError::NoController)?;
    if intid as usize >= NR_IRQS || intid >= gic.lines().max(32) {
        return Err(IrqError::Invalid);
    }
    {
        let mut actions = ACTIONS.lock();
        let slot = &mut actions[intid as usize];
        if slot.is_some() {
            return Err(IrqError::Busy);
        }
        *slot = Some(IrqAction { name, handler });
    }
    gic.enable(intid);
    Ok(())
}

/// Masks `intid` and forgets its handler (Linux: free_irq).
pub fn free_irq(intid: u32) {
    if let Some(g) = gic() {
        g.disable(intid);
    }
    if let Some(a) = ACTIONS.lock().get_mut(intid as usize) {
        *a = None;
    }
}

/// Unmasks a per-CPU interrupt on the calling CPU (PPIs: the timer).
pub fn enable_percpu_irq(intid: u32) {
    if let Some(g) = gic() {
        g.enable(intid);
    }
}

/// Called from the IRQ vector (Linux: gic_handle_irq + generic_handle_irq).
pub fn handle_irq() {
    let Some(gic) = gic() else { return };
    let cpu = crate::kernel::percpu::smp_processor_id();
    // in_interrupt() from here to the end (Linux: irq_enter / irq_exit).
    pagoda_klib::sync::preempt_count_add(pagoda_klib::sync::HARDIRQ_OFFSET);
    loop {
        let iar = gic.ack();
        let intid = iar & 0x3ff;
        if intid >= GIC_SPURIOUS - 3 {
            if intid == GIC_SPURIOUS {
                break;
            }
            SPURIOUS.fetch_add(1, Relaxed);
            break;
        }
        COUNTS[intid as usize][cpu % NR_CPUS].fetch_add(1, Relaxed);
        let action = ACTIONS.lock()[intid as usize];
        match action {
            Some(a) => (a.handler)(intid),
            None => {
                SPURIOUS.fetch_add(1, Relaxed);
                gic.disable(intid); // nobody wants it: stop it firing
            }
        }
        gic.eoi(iar);
    }
    pagoda_klib::sync::preempt_count_sub(pagoda_klib::sync::HARDIRQ_OFFSET);
}

/// Interrupts of `intid` taken on `cpu`.
pub fn irq_count(intid: u32, cpu: usize) -> usize {
    COUNTS[intid as usize][cpu].load(Relaxed)
}

/// /proc/interrupts.
pub fn show_interrupts() {
    let ncpus = crate::kernel::percpu::num_online_cpus();
    kprint!("     ");
    for c in 0..ncpus {
        kprint!("      CPU{c}");
    }
    kprintln!();
    let version = gic().map_or(0, |g| g.version());
    let actions = *ACTIONS.lock();
    for (i, a) in actions.iter().enumerate() {
        let total: usize = (0..NR_CPUS).map(|c| irq_count(i as u32, c)).sum();
        let Some(a) = a else { continue };
        if total == 0 && i < 16 {
            continue;
        }
        kprint!("{i:4}:");
        for c in 0..ncpus {
            kprint!(" {:>10}", irq_count(i as u32, c));
        }
        kprintln!("     GICv{version} {i:3} {}  {}", if i < 16 { "Edge " } else { "Level" }, a.name);
    }
    kprintln!(" Err: {:>10}", SPURIOUS.load(Relaxed));
}

fn cmd_irqs(_: &str) {
    show_interrupts();
}

monitor_cmd!(MON_IRQS, "irqs", "interrupt counts per CPU (/proc/interrupts)", cmd_irqs);

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

    static HITS: AtomicUsize = AtomicUsize::new(0);
    fn sgi_handler(_: u32) {
        HITS.fetch_add(1, Relaxed);
    }

    #[ktest]
    fn an_sgi_sent_to_ourselves_reaches_its_handler() {
        const SGI: u32 = 7;
        request_irq(SGI, "ktest-sgi", sgi_handler).unwrap();
        assert_eq!(request_irq(SGI, "again", sgi_handler), Err(IrqError::Busy));
        assert_eq!(request_irq(5000, "bad", sgi_handler), Err(IrqError::Invalid));
        let before = HITS.load(Relaxed);
        gic().unwrap().send_sgi(SGI, 1 << crate::kernel::percpu::smp_processor_id());
        let t0 = crate::arch::time::uptime_ns();
        while HITS.load(Relaxed) == before && crate::arch::time::uptime_ns() - t0 < 1_000_000_000 {
            core::hint::spin_loop();
        }
        assert_eq!(HITS.load(Relaxed), before + 1, "SGI not delivered");
        assert!(irq_count(SGI, 0) >= 1);
        free_irq(SGI);
        init_irq_cpu(); // re-running the per-CPU set-up is harmless
    }
}
