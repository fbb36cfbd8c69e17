//! Call traces by frame-pointer walk (Linux: arch/arm64/kernel/stacktrace.c).
//!
//! With `-C force-frame-pointers=yes` every function keeps a frame record
//! {previous x29, x30} and points x29 at it, so the chain of records is the
//! chain of callers. Names come from the kallsyms table.

use core::fmt::Write;

const MAX_DEPTH: usize = 64;
/// Kernel addresses are in the TTBR1 half.
const KERNEL_VA_START: usize = 0xffff_0000_0000_0000;

/// Prints `name+0xoff` for `pc`, or the raw address if no symbol is known.
pub fn print_symbol(pc: usize, w: &mut impl Write) {
    match crate::kernel::kallsyms::lookup(pc) {
        Some((name, off)) => {
            let _ = write!(w, "{name}+{off:#x}");
        }
        None => {
            let _ = write!(w, "{pc:#018x}");
        }
    }
}

/// Prints the call trace starting with `pc`, then walking frame records from `fp`.
pub fn print_trace(mut fp: usize, pc: usize, w: &mut impl Write) {
    let _ = write!(w, " ");
    print_symbol(pc, w);
    let _ = writeln!(w);
    for _ in 0..MAX_DEPTH {
        if fp < KERNEL_VA_START || !fp.is_multiple_of(16) {
            break;
        }
        // A corrupt chain (say, after a stack overflow) may point anywhere:
        // ask the MMU first rather than fault in the middle of an oops.
        if crate::arch::mm::mmu::at_s1e1r(fp).is_none() {
            break;
        }
        // SAFETY: fp is a 16-byte aligned kernel address taken from the frame
        // chain, and the MMU just translated it (a record never straddles a
        // page: it is 16 bytes at a 16-byte aligned address).
        let (next, lr) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if lr == 0 {
            break;
        }
        let _ = write!(w, " ");
        // lr is the return address; the call was the instruction before it.
        print_symbol(lr.wrapping_sub(4), w);
        let _ = writeln!(w);
        if next <= fp {
            break; // frames only ever move up the stack
        }
        fp = next;
    }
}

/// Current frame pointer.
#[inline(always)]
pub fn current_fp() -> usize {
    let fp: usize;
    // SAFETY: reads x29 only.
    unsafe { core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack)) };
    fp
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use pagoda_klib::fmtbuf::FmtBuf;

    #[ktest]
    fn kallsyms_names_start_kernel() {
        assert!(crate::kernel::kallsyms::count() > 100, "symbol table not filled in");
        let addr = crate::start_kernel as *const () as usize;
        assert_eq!(crate::kernel::kallsyms::lookup(addr), Some(("start_kernel", 0)));
        assert_eq!(crate::kernel::kallsyms::lookup(addr + 8), Some(("start_kernel", 8)));
    }

    #[ktest]
    fn call_trace_walks_up_to_the_test_runner() {
        let mut out = FmtBuf::<4096>::new();
        print_trace(current_fp(), call_trace_walks_up_to_the_test_runner as *const () as usize, &mut out);
        let trace = out.as_str();
        assert!(trace.contains("call_trace_walks_up_to_the_test_runner"), "{trace}");
        assert!(trace.contains("ktest::run_one"), "{trace}");
        // The runner is init, a kernel thread: its chain ends where it began.
        assert!(trace.contains("kernel_init"), "{trace}");
        assert!(trace.contains("kthread_entry"), "{trace}");
    }
}
