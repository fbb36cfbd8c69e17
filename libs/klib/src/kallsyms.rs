//! The in-kernel symbol table used by the panic call trace, modelled on
//! kernel/kallsyms.c (and scripts/kallsyms.c, which builds it).
//!
//! The table is written after linking into the `.kallsyms` section that
//! linker.ld reserves, so filling it moves no address. Format (little endian):
//!
//! ```text
//! "KSYM"  count:u32  { addr:u64 name_off:u32 name_len:u32 } * count  names...
//! ```
//! Entries are sorted by address; a name is UTF-8, demangled, without the
//! Rust hash suffix.

pub const MAGIC: &[u8; 4] = b"KSYM";
const ENTRY: usize = 16;

/// Builds a table from `(address, name)` pairs. Used by the build tool and by tests.
#[cfg(any(test, feature = "std"))]
pub fn encode(mut syms: std::vec::Vec<(u64, std::string::String)>) -> std::vec::Vec<u8> {
    syms.sort();
    syms.dedup_by_key(|s| s.0);
    let mut out = std::vec::Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(syms.len() as u32).to_le_bytes());
    let mut names = std::vec::Vec::new();
    for (addr, name) in &syms {
        out.extend_from_slice(&addr.to_le_bytes());
        out.extend_from_slice(&(names.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        names.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(&names);
    out
}

/// A read-only view of an encoded table.
pub struct Kallsyms<'a> {
    blob: &'a [u8],
    count: usize,
}

impl<'a> Kallsyms<'a> {
    /// Returns None if `blob` does not hold a table (for example, the build
    /// did not fill it in).
    pub fn new(blob: &'a [u8]) -> Option<Self> {
        if blob.len() < 8 || &blob[..4] != MAGIC {
            return None;
        }
        let count = u32::from_le_bytes(blob[4..8].try_into().ok()?) as usize;
        if 8 + count * ENTRY > blob.len() {
            return None;
        }
        Some(Self { blob, count })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn addr(&self, i: usize) -> u64 {
        let o = 8 + i * ENTRY;
        u64::from_le_bytes(self.blob[o..o + 8].try_into().unwrap())
    }

    fn name(&self, i: usize) -> &'a str {
        let o = 8 + i * ENTRY;
        let off = u32::from_le_bytes(self.blob[o + 8..o + 12].try_into().unwrap()) as usize;
        let len = u32::from_le_bytes(self.blob[o + 12..o + 16].try_into().unwrap()) as usize;
        let base = 8 + self.count * ENTRY + off;
        self.blob.get(base..base + len).and_then(|b| core::str::from_utf8(b).ok()).unwrap_or("?")
    }

    /// The symbol containing `addr` and the offset into it, like `%pS`.
    pub fn lookup(&self, addr: u64) -> Option<(&'a str, u64)> {
        // The last entry whose address is <= addr.
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.addr(mid) <= addr {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let i = lo.checked_sub(1)?;
        Some((self.name(i), addr - self.addr(i)))
    }

    /// The address of a symbol by exact name (linear scan; for tests and tools).
    pub fn address_of(&self, name: &str) -> Option<u64> {
        (0..self.count).find(|&i| self.name(i) == name).map(|i| self.addr(i))
    }
}

/// Strips the `::h0123456789abcdef` hash that legacy Rust mangling appends.
pub fn strip_rust_hash(name: &str) -> &str {
    match name.rfind("::h") {
        Some(i) if name.len() - i == 19 && name[i + 3..].bytes().all(|b| b.is_ascii_hexdigit()) => &name[..i],
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec;

    #[test]
    fn lookup_finds_the_enclosing_symbol_and_offset() {
        let blob =
            encode(vec![(0x2000, "b".to_string()), (0x1000, "a".to_string()), (0x3000, "c".to_string())]);
        let k = Kallsyms::new(&blob).unwrap();
        assert_eq!(k.len(), 3);
        assert_eq!(k.lookup(0x1000), Some(("a", 0)));
        assert_eq!(k.lookup(0x2010), Some(("b", 0x10)));
        assert_eq!(k.lookup(0x9999), Some(("c", 0x6999)));
        assert_eq!(k.lookup(0xfff), None);
        assert_eq!(k.address_of("b"), Some(0x2000));
    }

    #[test]
    fn an_unfilled_section_is_not_a_table() {
        assert!(Kallsyms::new(&[0u8; 64]).is_none());
    }

    #[test]
    fn strips_only_real_hashes() {
        assert_eq!(strip_rust_hash("pagoda::start_kernel::h0123456789abcdef"), "pagoda::start_kernel");
        assert_eq!(strip_rust_hash("pagoda::hello"), "pagoda::hello");
    }
}
