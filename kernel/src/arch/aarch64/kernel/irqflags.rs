//! Interrupt masking on this CPU (Linux: arch/arm64/include/asm/irqflags.h).
//! The implementation lives in `pagoda_klib::irqflags`, shared with the
//! IRQ-safe lock that pagoda_mm's allocators use; this is its arch home.
pub use pagoda_klib::irqflags::{
    irqs_disabled, local_irq_disable, local_irq_enable, local_irq_restore, local_irq_save,
};
