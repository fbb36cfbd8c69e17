//! Tools around the kernel rather than part of it: the monitor prompt, the
//! in-kernel test runner, the allocator benchmarks and the stress test.
pub mod bench;
pub mod ktest;
pub mod monitor;
pub mod stress;
