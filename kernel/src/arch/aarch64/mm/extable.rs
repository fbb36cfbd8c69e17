//! The exception table (Linux: arch/arm64/mm/extable.c fixup_exception,
//! kernel/extable.c search_exception_tables).
//!
//! Each entry pairs an instruction that may fault on a user address with
//! the place to resume instead: the `uaccess` macro of
//! arch/aarch64/lib/uaccess.S emits them into `__ex_table`, as two 32-bit
//! offsets relative to the entry's own fields (so the table needs no
//! relocation). A kernel fault at an address in the table is not a bug:
//! the handler moves the PC to the fixup and the copy routine returns what
//! it could not do.

use crate::arch::exception::TrapFrame;

#[repr(C)]
struct ExceptionTableEntry {
    insn: i32,
    fixup: i32,
}

extern "C" {
    // Bounds of the table; only their addresses are used.
    static __start___ex_table: ExceptionTableEntry;
    static __stop___ex_table: ExceptionTableEntry;
}

fn table() -> &'static [ExceptionTableEntry] {
    // SAFETY: the linker script places only entries of this layout (two
    // 32-bit words, 4-byte aligned) between these symbols.
    unsafe {
        let start = &raw const __start___ex_table;
        let end = &raw const __stop___ex_table;
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    }
}

impl ExceptionTableEntry {
    fn field_addr(field: &i32, offset: i32) -> usize {
        (field as *const i32 as usize).wrapping_add_signed(offset as isize)
    }
    fn insn(&self) -> usize {
        Self::field_addr(&self.insn, self.insn)
    }
    fn fixup(&self) -> usize {
        Self::field_addr(&self.fixup, self.fixup)
    }
}

/// The fixup for a faulting instruction at `pc`, if it has one (Linux:
/// search_exception_tables). A linear scan: the table has a few dozen entries.
pub fn search_exception_tables(pc: usize) -> Option<usize> {
    table().iter().find(|e| e.insn() == pc).map(|e| e.fixup())
}

/// Resumes a faulting kernel access at its fixup; false if it has none
/// (Linux: fixup_exception).
pub fn fixup_exception(frame: &mut TrapFrame) -> bool {
    match search_exception_tables(frame.pc as usize) {
        Some(fixup) => {
            frame.pc = fixup as u64;
            true
        }
        None => false,
    }
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;

    #[ktest]
    fn every_exception_table_entry_points_into_text() {
        let text = crate::kernel::sections::text()..crate::kernel::sections::etext();
        assert!(table().len() >= 8, "uaccess.S has at least 8 user accesses");
        for e in table() {
            assert!(
                text.contains(&e.insn()) && text.contains(&e.fixup()),
                "{:#x} -> {:#x}",
                e.insn(),
                e.fixup()
            );
            assert!(e.insn().is_multiple_of(4) && e.fixup().is_multiple_of(4));
        }
        assert_eq!(search_exception_tables(table()[0].insn()), Some(table()[0].fixup()));
        assert_eq!(search_exception_tables(text.start), None);
    }
}
