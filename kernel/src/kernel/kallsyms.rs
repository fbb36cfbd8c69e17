//! The kernel symbol table (Linux: kernel/kallsyms.c), filled in after
//! linking by the `kallsyms` build tool. See pagoda_klib::kallsyms.

use pagoda_klib::kallsyms::Kallsyms;

extern "C" {
    static __kallsyms_start: u8;
    static __kallsyms_end: u8;
}

fn table() -> Option<Kallsyms<'static>> {
    // SAFETY: linker.ld reserves [__kallsyms_start, __kallsyms_end) in rodata.
    let blob = unsafe {
        let start = &raw const __kallsyms_start;
        let end = &raw const __kallsyms_end;
        core::slice::from_raw_parts(start, end as usize - start as usize)
    };
    Kallsyms::new(blob)
}

/// The symbol containing `addr` and the offset into it.
pub fn lookup(addr: usize) -> Option<(&'static str, usize)> {
    table()?.lookup(addr as u64).map(|(n, off)| (n, off as usize))
}

/// Number of symbols in the table (0 if the build did not fill it in).
pub fn count() -> usize {
    table().map_or(0, |t| t.len())
}
