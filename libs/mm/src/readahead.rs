//! The readahead window (Linux: mm/readahead.c ondemand_readahead,
//! get_init_ra_size, get_next_ra_size, and do_sync_mmap_readahead's
//! read-around).
//!
//! A file being read has a window `[start, start + size)` of pages read (or
//! being read) ahead of the reader; the last `async_size` pages of it are
//! the part still ahead, and the first of those carries PG_readahead. When
//! the reader reaches that marked page, the next window is read before the
//! reader needs it. Windows grow while the reads stay sequential:
//!
//! ```text
//! read(1 page) at 0       initial window: 4 pages [0, 4), marker at page 1
//! reader reaches page 1   marker hit: next window [4, 12), marker at 4
//! reader reaches page 4   [12, 28), marker at 12; then 32-page windows
//!                         (max_pages, read_ahead_kb = 128) from there on
//! a read far away         a random read: just the pages asked for
//! ```
//!
//! This module only decides the windows; the page cache reads them.

/// A file's readahead state (Linux: struct file_ra_state).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RaState {
    /// First page of the current window.
    pub start: usize,
    /// Pages in it.
    pub size: usize,
    /// Pages at its end not yet reached; the first of them is marked.
    pub async_size: usize,
    /// The last page the reader read, +1 (Linux: prev_pos >> PAGE_SHIFT,
    /// kept as the next expected page; 0 before any read).
    pub prev_index: usize,
    /// The reader said its reads are random (fadvise RANDOM; Linux:
    /// FMODE_RANDOM): no reading ahead.
    pub random: bool,
}

/// What to read: `nr` pages from `start`, marking page `start + nr -
/// async_size` with PG_readahead if `async_size` is not zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaWindow {
    pub start: usize,
    pub nr: usize,
    pub async_size: usize,
}

/// The first window for a read of `req` pages (Linux: get_init_ra_size):
/// small reads get four times as much, medium ones twice, up to `max`.
pub fn get_init_ra_size(req: usize, max: usize) -> usize {
    let size = req.max(1).next_power_of_two();
    if size <= max / 32 {
        size * 4
    } else if size <= max / 4 {
        size * 2
    } else {
        max
    }
}

/// The next window after one of `cur` pages (Linux: get_next_ra_size).
pub fn get_next_ra_size(cur: usize, max: usize) -> usize {
    if cur < max / 16 {
        4 * cur
    } else if cur <= max / 2 {
        2 * cur
    } else {
        max
    }
}

impl RaState {
    /// The window to read for a read of `req` pages at `index` that missed
    /// the cache, or reached a PG_readahead page (`hit_marker`) (Linux:
    /// ondemand_readahead). `max` is the device's read_ahead_kb in pages.
    pub fn ondemand(&mut self, index: usize, req: usize, hit_marker: bool, max: usize) -> RaWindow {
        let max = max.max(1);
        let req = req.max(1);
        if self.random {
            return RaWindow { start: index, nr: req.min(max), async_size: 0 };
        }
        let expected = self.start + self.size;
        let sequential =
            index != 0 && self.size != 0 && (index == expected - self.async_size || index == expected);
        if sequential {
            // The reader is where the window said it would be: the next one.
            self.start = expected;
            self.size = get_next_ra_size(self.size, max);
            self.async_size = self.size;
        } else if index != 0 && hit_marker {
            // A marker of an older window: go on from there.
            self.start = index;
            self.size = get_next_ra_size(self.size.max(req), max);
            self.async_size = self.size;
        } else if index == 0 || req > max || index.abs_diff(self.prev_index) <= 1 {
            // The start of the file, a big read, or a sequential miss.
            self.initial(index, req, max);
        } else {
            // A random read: just what was asked, and forget the window.
            return RaWindow { start: index, nr: req.min(max), async_size: 0 };
        }
        self.window()
    }

    fn initial(&mut self, index: usize, req: usize, max: usize) {
        self.start = index;
        self.size = get_init_ra_size(req, max);
        self.async_size = if self.size > req { self.size - req } else { self.size };
        // Linux's readit: a first window all ahead of the reader is doubled
        // at once, so the reader does not reach its end right away.
        if self.size == self.async_size {
            let add = get_next_ra_size(self.size, max);
            if self.size + add <= max {
                self.async_size = add;
                self.size += add;
            } else {
                self.size = max;
                self.async_size = max / 2;
            }
        }
    }

    fn window(&self) -> RaWindow {
        RaWindow { start: self.start, nr: self.size, async_size: self.async_size }
    }

    /// The reader has read up to page `index` (Linux: updating prev_pos).
    pub fn note_read(&mut self, index: usize) {
        self.prev_index = index;
    }
}

/// The window a fault in a mapping reads around page `index` (Linux:
/// do_sync_mmap_readahead without VM_SEQ_READ): `max` pages centred on it,
/// a quarter of them marked for asynchronous readahead.
pub fn mmap_read_around(index: usize, max: usize) -> RaWindow {
    let max = max.max(1);
    RaWindow { start: index.saturating_sub(max / 2), nr: max, async_size: max / 4 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_sizes_follow_linux() {
        // read_ahead_kb = 128: 32 pages.
        assert_eq!(get_init_ra_size(1, 32), 4);
        assert_eq!(get_init_ra_size(4, 32), 8);
        assert_eq!(get_init_ra_size(8, 32), 16);
        assert_eq!(get_init_ra_size(9, 32), 32);
        assert_eq!(get_init_ra_size(64, 32), 32);
        assert_eq!(get_next_ra_size(1, 32), 4);
        assert_eq!(get_next_ra_size(4, 32), 8);
        assert_eq!(get_next_ra_size(16, 32), 32);
        assert_eq!(get_next_ra_size(32, 32), 32);
    }

    /// A sequential reader, a page at a time: where a window begins, the
    /// cache misses or the marker is hit, and every page is read once.
    #[test]
    fn a_sequential_reader_gets_growing_windows_and_every_page_once() {
        let max = 32;
        let mut ra = RaState::default();
        let mut cached = vec![false; 1000];
        let mut marker = vec![false; 1000];
        let mut windows = Vec::new();
        for index in 0..1000 {
            let hit = marker[index];
            if !cached[index] || hit {
                marker[index] = false;
                let w = ra.ondemand(index, 1, hit, max);
                windows.push(w);
                for (p, c) in cached.iter_mut().enumerate().take(w.start + w.nr).skip(w.start) {
                    assert!(!*c || p < index || hit, "page {p} read twice");
                    *c = true;
                }
                if w.async_size > 0 && w.start + w.nr - w.async_size < 1000 {
                    marker[w.start + w.nr - w.async_size] = true;
                }
            }
            assert!(cached[index]);
            ra.note_read(index + 1);
        }
        // Ramp-up: 4 pages, the marker on the second; then 8, 16, and
        // 32-page windows, each read when the reader reaches its first page.
        assert_eq!(windows[0], RaWindow { start: 0, nr: 4, async_size: 3 });
        assert_eq!(windows[1], RaWindow { start: 4, nr: 8, async_size: 8 });
        assert_eq!(windows[2], RaWindow { start: 12, nr: 16, async_size: 16 });
        assert!(windows.iter().skip(3).all(|w| w.nr == max));
        // One window per 32 pages once ramped up, always one ahead of the
        // reader (the last starts past the 1000 pages read).
        assert_eq!(windows.len(), 3 + (1000usize - 28).div_ceil(32) + 1);
    }

    #[test]
    fn a_random_read_reads_only_what_it_asks() {
        let mut ra = RaState::default();
        ra.ondemand(0, 4, false, 32);
        ra.note_read(4);
        let w = ra.ondemand(500, 2, false, 32);
        assert_eq!(w, RaWindow { start: 500, nr: 2, async_size: 0 });
        // A big read is read whole (up to the maximum) as a new window.
        let w = ra.ondemand(900, 64, false, 32);
        assert_eq!((w.start, w.nr), (900, 32));
        // fadvise(RANDOM): never more than asked, even from the start.
        let mut ra = RaState { random: true, ..RaState::default() };
        assert_eq!(ra.ondemand(0, 1, false, 32), RaWindow { start: 0, nr: 1, async_size: 0 });
    }

    #[test]
    fn faults_read_around_the_page() {
        assert_eq!(mmap_read_around(100, 32), RaWindow { start: 84, nr: 32, async_size: 8 });
        assert_eq!(mmap_read_around(3, 32).start, 0);
    }
}
