//! Tasks and scheduling (Linux: kernel/sched/, kernel/kthread.c).
mod core;
pub use self::core::*;
