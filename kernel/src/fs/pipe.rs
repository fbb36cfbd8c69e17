//! Pipes (Linux: fs/pipe.c).
//!
//! A pipe is a 64 KiB ring (Linux's default: 16 pages) with a read end and
//! a write end. A reader sleeps while the ring is empty and a writer
//! exists, and gets 0 (end of file) once no writer is left; a writer
//! sleeps while the ring is full, and gets EPIPE with SIGPIPE once no
//! reader is left. A write of at most PIPE_BUF bytes is atomic: it waits
//! until all of it fits. O_NONBLOCK turns each wait into EAGAIN; a
//! signal ends it with ERESTARTSYS (restarted after an SA_RESTART handler
//! or a stop, EINTR otherwise), or with the bytes already moved.
//!
//! The ring is under a sleeping lock, since copying to or from user memory
//! may fault; sleepers wait on wait queues and test the counters, which
//! are atomics, so no lock is needed to decide whether to sleep.

use crate::mm::uaccess::{copy_from_user, copy_to_user};
use crate::sched::WaitQueue;
use crate::sync::Mutex;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};

/// The ring's size (Linux: PIPE_DEF_BUFFERS pages).
pub const PIPE_SIZE: usize = 16 * 4096;
/// Writes up to this size are atomic (Linux: PIPE_BUF).
pub const PIPE_BUF: usize = 4096;

struct Ring {
    buf: Vec<u8>,
    head: usize, // next byte to read
}

/// A pipe (Linux: struct pipe_inode_info).
pub struct Pipe {
    ring: Mutex<Ring>,
    /// Bytes in the ring.
    len: AtomicUsize,
    readers: AtomicUsize,
    writers: AtomicUsize,
    rd_wait: WaitQueue,
    wr_wait: WaitQueue,
    /// Its inode number on the pipe filesystem, for fstat.
    pub ino: u64,
}

static NEXT_PIPE_INO: AtomicU64 = AtomicU64::new(1000);

impl Pipe {
    /// A pipe with one reader and one writer (Linux: create_pipe_files).
    pub fn new() -> KResult<Arc<Pipe>> {
        let mut buf = Vec::new();
        buf.try_reserve_exact(PIPE_SIZE).map_err(|_| Errno::ENFILE)?;
        buf.resize(PIPE_SIZE, 0);
        Arc::try_new(Pipe {
            ring: Mutex::new(Ring { buf, head: 0 }),
            len: AtomicUsize::new(0),
            readers: AtomicUsize::new(1),
            writers: AtomicUsize::new(1),
            rd_wait: WaitQueue::new(),
            wr_wait: WaitQueue::new(),
            ino: NEXT_PIPE_INO.fetch_add(1, Relaxed),
        })
        .map_err(|_| Errno::ENFILE)
    }

    /// Reads up to `count` bytes: what is there, at least one, or 0 when
    /// no writer is left (Linux: pipe_read).
    pub fn read(&self, buf: usize, count: usize, nonblock: bool) -> KResult<usize> {
        if count == 0 {
            return Ok(0);
        }
        loop {
            if self.len.load(Acquire) > 0 {
                let mut r = self.ring.lock();
                let len = self.len.load(Acquire);
                let n = len.min(count);
                // At most two pieces: up to the end of the ring, then from 0.
                let first = n.min(PIPE_SIZE - r.head);
                copy_to_user(buf, &r.buf[r.head..r.head + first])?;
                if n > first {
                    copy_to_user(buf + first, &r.buf[..n - first])?;
                }
                r.head = (r.head + n) % PIPE_SIZE;
                self.len.fetch_sub(n, AcqRel);
                drop(r);
                self.wr_wait.wake_up();
                super::select::POLL_WAIT.wake_up();
                return Ok(n);
            }
            if self.writers.load(Acquire) == 0 {
                return Ok(0);
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            self.rd_wait.wait_event_interruptible(|| {
                self.len.load(Acquire) > 0
                    || self.writers.load(Acquire) == 0
                    || crate::sched::signal_pending()
            });
            if self.len.load(Acquire) == 0
                && self.writers.load(Acquire) != 0
                && crate::sched::signal_pending()
            {
                return Err(Errno::ERESTARTSYS);
            }
        }
    }

    /// Writes `count` bytes, sleeping for room (Linux: pipe_write).
    /// Returns the bytes written; EPIPE (and SIGPIPE) without readers.
    pub fn write(&self, buf: usize, count: usize, nonblock: bool) -> KResult<usize> {
        let mut done = 0;
        while done < count || count == 0 {
            if self.readers.load(Acquire) == 0 {
                if let Some(me) = crate::sched::current() {
                    crate::sched::send_signal(&me, crate::sched::SIGPIPE);
                }
                return if done > 0 { Ok(done) } else { Err(Errno::EPIPE) };
            }
            if count == 0 {
                return Ok(0);
            }
            let room = PIPE_SIZE - self.len.load(Acquire);
            let left = count - done;
            // A small write goes in whole or not at all (PIPE_BUF).
            let fits = if count <= PIPE_BUF { room >= left } else { room > 0 };
            if fits {
                let mut r = self.ring.lock();
                let len = self.len.load(Acquire);
                let n = left.min(PIPE_SIZE - len);
                let tail = (r.head + len) % PIPE_SIZE;
                let first = n.min(PIPE_SIZE - tail);
                let copied = copy_from_user(&mut r.buf[tail..tail + first], buf + done).and_then(|()| {
                    if n > first {
                        copy_from_user(&mut r.buf[..n - first], buf + done + first)
                    } else {
                        Ok(())
                    }
                });
                if let Err(e) = copied {
                    return if done > 0 { Ok(done) } else { Err(e) };
                }
                self.len.fetch_add(n, AcqRel);
                drop(r);
                self.rd_wait.wake_up();
                super::select::POLL_WAIT.wake_up();
                done += n;
                continue;
            }
            if nonblock {
                return if done > 0 { Ok(done) } else { Err(Errno::EAGAIN) };
            }
            let need = if count <= PIPE_BUF { left } else { 1 };
            self.wr_wait.wait_event_interruptible(|| {
                PIPE_SIZE - self.len.load(Acquire) >= need
                    || self.readers.load(Acquire) == 0
                    || crate::sched::signal_pending()
            });
            if crate::sched::signal_pending() && PIPE_SIZE - self.len.load(Acquire) < need {
                return if done > 0 { Ok(done) } else { Err(Errno::ERESTARTSYS) };
            }
        }
        Ok(done)
    }

    /// One end closed for good (Linux: pipe_release): wake the other side
    /// so it sees the end of file or the broken pipe.
    pub fn release(&self, writer: bool) {
        if writer {
            self.writers.fetch_sub(1, AcqRel);
            self.rd_wait.wake_up();
        } else {
            self.readers.fetch_sub(1, AcqRel);
            self.wr_wait.wake_up();
        }
        super::select::POLL_WAIT.wake_up();
    }

    /// Readiness for ppoll (Linux: pipe_poll): the read end is readable
    /// with bytes in the ring and hung up without writers; the write end is
    /// writable with PIPE_BUF bytes of room and in error without readers.
    pub fn poll(&self, writer: bool) -> u16 {
        use super::select::*;
        let len = self.len.load(Acquire);
        if writer {
            let mut m = if PIPE_SIZE - len >= PIPE_BUF { POLLOUT | POLLWRNORM } else { 0 };
            if self.readers.load(Acquire) == 0 {
                m |= POLLERR;
            }
            m
        } else {
            let mut m = if len > 0 { POLLIN | POLLRDNORM } else { 0 };
            if self.writers.load(Acquire) == 0 {
                m |= POLLHUP;
            }
            m
        }
    }
}
