//! A fixed-capacity string that `write!` can fill without an allocator
//! (Linux: scnprintf into a stack buffer). Output beyond the capacity is cut
//! at a character boundary and counted, never an error.

use core::fmt;

pub struct FmtBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
    truncated: usize,
}

impl<const N: usize> Default for FmtBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FmtBuf<N> {
    pub const fn new() -> Self {
        Self { buf: [0; N], len: 0, truncated: 0 }
    }
    pub fn as_str(&self) -> &str {
        // SAFETY: only whole UTF-8 characters are ever copied in.
        unsafe { core::str::from_utf8_unchecked(&self.buf[..self.len]) }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    /// Bytes that did not fit.
    pub fn truncated(&self) -> usize {
        self.truncated
    }
    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = 0;
    }
}

impl<const N: usize> fmt::Write for FmtBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut n = s.len().min(N - self.len);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        self.truncated += s.len() - n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn fills_then_cuts_at_a_char_boundary() {
        let mut b = FmtBuf::<8>::new();
        write!(b, "ab{}", 12).unwrap();
        assert_eq!(b.as_str(), "ab12");
        write!(b, "héllo").unwrap(); // 'é' is 2 bytes: "hé" + "l" fit in 4 bytes
        assert_eq!(b.as_str(), "ab12hél");
        assert_eq!(b.truncated(), 2);
        b.clear();
        assert_eq!(b.as_str(), "");
    }
}
