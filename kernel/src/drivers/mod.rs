//! Device drivers. Only what the memory-management lessons need.
pub mod gic;
pub mod pl011;
