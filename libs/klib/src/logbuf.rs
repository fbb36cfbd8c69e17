//! The kernel log ring buffer, modelled on kernel/printk/printk_ringbuffer.c.
//!
//! Every message is stored as a record (timestamp, level, text) in a fixed
//! byte ring. When the ring is full the oldest records are dropped, as in
//! Linux. `dmesg` replays the records; the console prints them as they come,
//! filtered by `loglevel=`.
//!
//! Differences from Linux: one writer at a time (the caller holds a lock), no
//! lockless readers, and no continuation lines.

/// Bytes of header before each record's text: len (2), level (1), pad (1), ts_ns (8).
const HDR: usize = 12;
/// Longest text kept for one record; longer messages are cut.
pub const MAX_TEXT: usize = 1024;

/// One record as seen by a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub seq: u64,
    pub ts_ns: u64,
    /// Linux console level: 0 = KERN_EMERG ... 7 = KERN_DEBUG.
    pub level: u8,
    pub text: &'a [u8],
}

/// A ring of `N` bytes holding log records.
pub struct LogBuf<const N: usize> {
    buf: [u8; N],
    /// Byte offsets, counted from the start of time (taken modulo N).
    head: u64,
    tail: u64,
    /// Sequence number of the record at `tail`, and of the next record.
    first_seq: u64,
    next_seq: u64,
}

impl<const N: usize> Default for LogBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LogBuf<N> {
    pub const fn new() -> Self {
        assert!(N >= HDR + MAX_TEXT);
        Self { buf: [0; N], head: 0, tail: 0, first_seq: 0, next_seq: 0 }
    }

    /// Sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Sequence number of the oldest record still held.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Appends a record, dropping the oldest ones if needed. Returns its sequence number.
    pub fn push(&mut self, ts_ns: u64, level: u8, text: &[u8]) -> u64 {
        let text = &text[..text.len().min(MAX_TEXT)];
        let need = (HDR + text.len()) as u64;
        while self.head - self.tail + need > N as u64 {
            let len = self.record_len_at(self.tail);
            self.tail += len;
            self.first_seq += 1;
        }
        let mut hdr = [0u8; HDR];
        hdr[0..2].copy_from_slice(&(text.len() as u16).to_le_bytes());
        hdr[2] = level;
        hdr[4..12].copy_from_slice(&ts_ns.to_le_bytes());
        self.write_at(self.head, &hdr);
        self.write_at(self.head + HDR as u64, text);
        self.head += need;
        self.next_seq += 1;
        self.next_seq - 1
    }

    /// Calls `f` for every record with sequence number >= `from_seq`, oldest first.
    pub fn for_each_from(&self, from_seq: u64, mut f: impl FnMut(Record<'_>)) {
        let mut text = [0u8; MAX_TEXT];
        let mut pos = self.tail;
        let mut seq = self.first_seq;
        while pos < self.head {
            let mut hdr = [0u8; HDR];
            self.read_at(pos, &mut hdr);
            let len = u16::from_le_bytes([hdr[0], hdr[1]]) as usize;
            if seq >= from_seq {
                self.read_at(pos + HDR as u64, &mut text[..len]);
                let ts_ns = u64::from_le_bytes(hdr[4..12].try_into().unwrap());
                f(Record { seq, ts_ns, level: hdr[2], text: &text[..len] });
            }
            pos += (HDR + len) as u64;
            seq += 1;
        }
    }

    fn record_len_at(&self, pos: u64) -> u64 {
        let mut len = [0u8; 2];
        self.read_at(pos, &mut len);
        (HDR + u16::from_le_bytes(len) as usize) as u64
    }

    fn write_at(&mut self, pos: u64, data: &[u8]) {
        let start = (pos % N as u64) as usize;
        let first = data.len().min(N - start);
        self.buf[start..start + first].copy_from_slice(&data[..first]);
        self.buf[..data.len() - first].copy_from_slice(&data[first..]);
    }

    fn read_at(&self, pos: u64, out: &mut [u8]) {
        let start = (pos % N as u64) as usize;
        let first = out.len().min(N - start);
        out[..first].copy_from_slice(&self.buf[start..start + first]);
        let rest = out.len() - first;
        out[first..].copy_from_slice(&self.buf[..rest]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    fn texts<const N: usize>(lb: &LogBuf<N>, from: u64) -> Vec<String> {
        let mut v = Vec::new();
        lb.for_each_from(from, |r| v.push(String::from_utf8(r.text.to_vec()).unwrap()));
        v
    }

    #[test]
    fn records_come_back_in_order_with_their_metadata() {
        let mut lb = LogBuf::<4096>::new();
        lb.push(10, 6, b"hello");
        lb.push(20, 3, b"world");
        let mut got = Vec::new();
        lb.for_each_from(0, |r| got.push((r.seq, r.ts_ns, r.level, r.text.to_vec())));
        assert_eq!(got, [(0, 10, 6, b"hello".to_vec()), (1, 20, 3, b"world".to_vec())]);
    }

    #[test]
    fn full_ring_drops_oldest_and_wraps_text_correctly() {
        let mut lb = LogBuf::<{ HDR + MAX_TEXT + 64 }>::new();
        for i in 0..200 {
            lb.push(i, 6, std::format!("message number {i}").as_bytes());
        }
        let all = texts(&lb, 0);
        assert_eq!(all.last().unwrap(), "message number 199");
        // Everything held is contiguous and intact.
        let first = lb.first_seq();
        for (k, t) in all.iter().enumerate() {
            assert_eq!(*t, std::format!("message number {}", first + k as u64));
        }
        assert_eq!(lb.next_seq(), 200);
        assert!(first > 0, "old records must have been dropped");
    }

    #[test]
    fn replay_from_a_sequence_number_skips_older_records() {
        let mut lb = LogBuf::<4096>::new();
        for m in ["a", "b", "c"] {
            lb.push(0, 6, m.as_bytes());
        }
        assert_eq!(texts(&lb, 1), ["b", "c"]);
    }

    #[test]
    fn overlong_text_is_cut_not_lost() {
        let mut lb = LogBuf::<8192>::new();
        let long = [b'x'; MAX_TEXT + 100];
        lb.push(0, 6, &long);
        let t = texts(&lb, 0);
        assert_eq!(t[0].len(), MAX_TEXT);
    }
}
