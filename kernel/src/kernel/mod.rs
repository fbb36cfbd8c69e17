//! The core of the kernel outside mm and scheduling, named after Linux's
//! kernel/ directory: printk and the console log, panic, interrupts (irq),
//! time and the tick, sleeping timers (timer), SMP bring-up and IPIs (smp), power off and reboot,
//! kallsyms, per-CPU data and the linker's section symbols.
pub mod futex;
pub mod irq;
pub mod kallsyms;
pub mod panic;
pub mod percpu;
pub mod power;
pub mod printk;
pub mod sections;
pub mod smp;
pub mod time;
pub mod timer;
