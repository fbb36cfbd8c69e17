//! A small deterministic pseudo-random generator (Marsaglia's xorshift64),
//! for randomized tests and benchmark workloads that must repeat exactly.
//! Not for anything that needs unpredictability.

#[derive(Debug, Clone)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// `seed` must not be zero (zero is a fixed point); zero is replaced.
    pub const fn new(seed: u64) -> Self {
        XorShift64(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n` (n > 0), with the slight modulo bias tests can live with.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_for_a_seed_and_stays_in_range() {
        let (mut a, mut b) = (XorShift64::new(42), XorShift64::new(42));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            assert!(a.below(7) < 7);
            b.below(7);
        }
        let mut z = XorShift64::new(0);
        assert_ne!(z.next_u64(), 0);
    }
}
