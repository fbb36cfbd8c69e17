//! Device drivers. Only what the memory-management lessons need.
pub mod pl011;
