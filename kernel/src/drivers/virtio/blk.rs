//! The virtio block driver (Linux: drivers/block/virtio_blk.c), on the
//! virtio-drivers crate's `VirtIOBlk`, which formats the requests and owns
//! the virtqueue.
//!
//! Each piece of a bio (`BioVec`) becomes one virtio request: a header
//! (type, sector), the data, and a status byte the device writes. Requests
//! go on the virtqueue without waiting; when the device has used some it
//! raises its interrupt, and `virtblk_done` collects them and ends the bios
//! whose last piece came back. Pieces that find the queue full wait in a
//! software list and go on as the device frees descriptors.
//!
//! Locking: one spin lock (interrupts masked) per disk guards the device,
//! the in-flight requests and the waiting list; `end_io` callbacks run after
//! it is dropped.
//!
//! Where Pagoda differs: one virtqueue per disk (Linux uses one per CPU),
//! no request merging, and no discard or write-zeroes.

use super::hal::PagodaHal;
use crate::block::{add_disk, Bio, BlockDriver, Gendisk, ReqOp, SECTOR_SIZE};
use crate::sync::SpinLockIrq;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use log::{error, info};
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};
use spin::Once;
use virtio_drivers::device::blk::{BlkReq, BlkResp, VirtIOBlk};
use virtio_drivers::transport::mmio::MmioTransport;

type Device = VirtIOBlk<PagodaHal, MmioTransport<'static>>;

/// Requests that may be in flight at once (the crate's queue size).
const NR_TAGS: usize = 16;

/// The header and status of one virtio request, which the device reads and
/// writes. They are preallocated per tag, as blk-mq preallocates requests,
/// and never move: the driver is never freed.
#[derive(Default)]
struct Request {
    req: BlkReq,
    resp: BlkResp,
    part: Option<Part>,
}

/// A piece of a bio waiting for, or on, the virtqueue.
#[derive(Clone, Copy)]
struct Part {
    /// Key of the bio in `Inner::bios`.
    bio: u64,
    /// Index of its BioVec.
    vec: usize,
    sector: u64,
}

/// A bio with pieces still at the device.
struct InflightBio {
    bio: Bio,
    remaining: usize,
    status: KResult<()>,
}

struct Inner {
    dev: Device,
    bios: BTreeMap<u64, InflightBio>,
    next_bio: u64,
    requests: [Request; NR_TAGS],
    /// Tags whose request is free, as a bit mask.
    free_tags: u32,
    /// The tag of each virtqueue token (the head descriptor's index).
    tag_of_token: [u8; NR_TAGS],
    waiting: VecDeque<Part>,
}

// SAFETY: the transport holds pointers to the device's MMIO registers,
// which any CPU may access; the lock around `Inner` serialises them.
unsafe impl Send for Inner {}

pub struct VirtioBlk {
    inner: SpinLockIrq<Inner>,
    disk: Once<Arc<Gendisk>>,
    irq: u32,
}

impl Inner {
    /// The bytes of a part's page piece.
    ///
    /// # Safety
    /// See `BioVec::as_mut_slice`: the bio's pages belong to the device
    /// until it completes.
    unsafe fn buf(&self, p: Part) -> &'static mut [u8] {
        // SAFETY: forwarded from the caller.
        unsafe { self.bios[&p.bio].bio.vecs[p.vec].as_mut_slice() }
    }

    fn in_flight(&self) -> bool {
        self.free_tags != (1 << NR_TAGS) - 1
    }

    /// Puts waiting parts on the virtqueue while it has room.
    fn kick(&mut self, done: &mut Vec<InflightBio>) {
        while let Some(&part) = self.waiting.front() {
            if self.free_tags == 0 {
                break;
            }
            let tag = self.free_tags.trailing_zeros() as usize;
            let op = self.bios[&part.bio].bio.op;
            // SAFETY: the request header, status and data stay where they
            // are, untouched, until reap pops the token: the request is in
            // the never-freed driver, the pages belong to the bio.
            let res = unsafe {
                let buf = self.buf(part);
                let r = &mut self.requests[tag];
                match op {
                    ReqOp::Read => {
                        self.dev.read_blocks_nb(part.sector as usize, &mut r.req, buf, &mut r.resp)
                    }
                    ReqOp::Write => {
                        self.dev.write_blocks_nb(part.sector as usize, &mut r.req, buf, &mut r.resp)
                    }
                    ReqOp::Flush => Err(virtio_drivers::Error::Unsupported),
                }
            };
            match res {
                Ok(token) if (token as usize) < NR_TAGS => {
                    self.waiting.pop_front();
                    self.free_tags &= !(1 << tag);
                    self.requests[tag].part = Some(part);
                    self.tag_of_token[token as usize] = tag as u8;
                }
                Ok(token) => panic!("virtio_blk: token {token} beyond the queue size {NR_TAGS}"),
                Err(virtio_drivers::Error::QueueFull) => break,
                Err(e) => {
                    error!("virtio_blk: cannot queue a request: {e}");
                    self.waiting.pop_front();
                    self.end_part(part, Err(Errno::EIO), done);
                }
            }
        }
    }

    /// One piece finished; the bio ends with its last piece.
    fn end_part(&mut self, part: Part, status: KResult<()>, done: &mut Vec<InflightBio>) {
        let b = self.bios.get_mut(&part.bio).expect("a part of an unknown bio");
        if status.is_err() {
            b.status = status;
        }
        b.remaining -= 1;
        if b.remaining == 0 {
            done.push(self.bios.remove(&part.bio).unwrap());
        }
    }

    /// Collects what the device has used (Linux: virtblk_done).
    fn reap(&mut self, done: &mut Vec<InflightBio>) {
        while let Some(token) = self.dev.peek_used() {
            let tag = self.tag_of_token.get(token as usize).copied().unwrap_or(0) as usize;
            let Some(part) = self.requests[tag].part.take().filter(|_| self.free_tags & (1 << tag) == 0)
            else {
                error!("virtio_blk: the device used unknown request {token}");
                break;
            };
            let op = self.bios[&part.bio].bio.op;
            // SAFETY: the same header, buffer and status as were queued
            // under this token.
            let res = unsafe {
                let buf = self.buf(part);
                let r = &mut self.requests[tag];
                match op {
                    ReqOp::Read => self.dev.complete_read_blocks(token, &r.req, buf, &mut r.resp),
                    _ => self.dev.complete_write_blocks(token, &r.req, buf, &mut r.resp),
                }
            };
            self.free_tags |= 1 << tag;
            self.end_part(part, res.map_err(|_| Errno::EIO), done);
        }
    }
}

fn finish(done: Vec<InflightBio>) {
    for b in done {
        b.bio.complete(b.status);
    }
}

impl BlockDriver for VirtioBlk {
    fn submit(&self, bio: Bio) {
        if bio.op == ReqOp::Flush {
            // QEMU writes through to the image file; nothing is cached in
            // the device that a flush would have to push out.
            return bio.complete(Ok(()));
        }
        let mut done = Vec::new();
        {
            let mut inner = self.inner.lock();
            let key = inner.next_bio;
            inner.next_bio += 1;
            let mut sector = bio.sector;
            let n = bio.vecs.len();
            for (vec, v) in bio.vecs.iter().enumerate() {
                inner.waiting.push_back(Part { bio: key, vec, sector });
                sector += (v.len / SECTOR_SIZE) as u64;
            }
            inner.bios.insert(key, InflightBio { bio, remaining: n, status: Ok(()) });
            inner.kick(&mut done);
            // Without an interrupt line, poll until everything is back.
            if self.irq == 0 {
                while inner.in_flight() || !inner.waiting.is_empty() {
                    inner.reap(&mut done);
                    inner.kick(&mut done);
                    core::hint::spin_loop();
                }
            }
        }
        finish(done);
    }
}

/// Every probed disk's driver, for the interrupt handler to find.
static DEVICES: SpinLockIrq<Vec<&'static VirtioBlk>> = SpinLockIrq::new(Vec::new());

/// The interrupt handler (Linux: vm_interrupt -> virtblk_done).
fn virtblk_irq(intid: u32) {
    let Some(vblk) = DEVICES.lock().iter().copied().find(|d| d.irq == intid) else { return };
    let mut done = Vec::new();
    {
        let mut inner = vblk.inner.lock();
        inner.dev.ack_interrupt();
        inner.reap(&mut done);
        inner.kick(&mut done);
    }
    finish(done);
}

/// Sets up a block device found on a virtio-mmio transport (Linux: virtblk_probe).
pub fn probe(transport: MmioTransport<'static>, irq: Option<u32>, base: usize) -> KResult<()> {
    let mut dev = VirtIOBlk::<PagodaHal, _>::new(transport).map_err(|e| {
        error!("virtio_blk at {base:#x}: cannot initialise: {e}");
        Errno::EIO
    })?;
    let capacity = dev.capacity();
    let read_only = dev.readonly();
    let irq_line = irq.unwrap_or(0);
    if irq_line != 0 {
        dev.enable_interrupts();
    } else {
        dev.disable_interrupts();
    }
    let vblk: &'static VirtioBlk = Box::leak(Box::new(VirtioBlk {
        inner: SpinLockIrq::new(Inner {
            dev,
            bios: BTreeMap::new(),
            next_bio: 0,
            requests: Default::default(),
            free_tags: (1 << NR_TAGS) - 1,
            tag_of_token: [0; NR_TAGS],
            waiting: VecDeque::new(),
        }),
        disk: Once::new(),
        irq: irq_line,
    }));
    DEVICES.lock().push(vblk);
    if irq_line != 0 {
        if let Err(e) = crate::kernel::irq::request_irq(irq_line, "virtio_blk", virtblk_irq) {
            error!("virtio_blk at {base:#x}: cannot take IRQ {irq_line}: {e:?}");
            return Err(Errno::EBUSY);
        }
    }
    let disk = add_disk("vd", capacity, read_only, vblk)?;
    vblk.disk.call_once(|| disk.clone());
    let how = if irq_line != 0 { "interrupts" } else { "polling" };
    // Linux: "virtio_blk virtio1: [vda] 2097152 512-byte logical blocks (1.07 GB/1.00 GiB)".
    info!(
        "virtio_blk: [{}] {} 512-byte logical blocks ({} MiB){} at {base:#x}, IRQ {irq_line} ({how})",
        disk.name,
        capacity,
        capacity / 2048,
        if read_only { ", read-only" } else { "" }
    );
    Ok(())
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::block::{get_disk, rw_pages_sync};
    use crate::debug::ktest::ktest;
    use crate::kernel::irq::irq_count;
    use crate::kernel::percpu::NR_CPUS;
    use crate::mm::page_alloc::{__free_pages, alloc_pages};
    use pagoda_mm::gfp::Gfp;

    #[ktest]
    fn completions_arrive_by_interrupt() {
        let vda = get_disk("vda").expect("tests/ktest.sh attaches vda");
        let vblk = DEVICES
            .lock()
            .iter()
            .copied()
            .find(|d| d.disk.get().is_some_and(|d| Arc::ptr_eq(d, &vda)))
            .unwrap();
        assert_ne!(vblk.irq, 0, "the device tree gives virtio-mmio an interrupt");
        let taken = || (0..NR_CPUS).map(|c| irq_count(vblk.irq, c)).sum::<usize>();
        let before = taken();
        let pfn = alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
        for i in 0..4 {
            rw_pages_sync(&vda, ReqOp::Read, i * 8, &[pfn]).unwrap();
        }
        __free_pages(pfn, 0);
        assert!(taken() >= before + 4, "{} interrupts for 4 synchronous reads", taken() - before);
        assert!(!vblk.inner.lock().in_flight());
    }
}
