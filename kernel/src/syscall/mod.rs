//! The system-call table and its thin wrappers (Linux: arch/arm64/kernel/
//! syscall.c and the SYSCALL_DEFINE functions), which check arguments and
//! call mm/, fs/ and sched/. Empty until user tasks arrive.
