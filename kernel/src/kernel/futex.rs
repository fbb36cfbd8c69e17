//! Fast user-space mutexes (Linux: kernel/futex/core.c, waitwake.c,
//! requeue.c).
//!
//! A futex is a 32-bit word in user memory. User space does the
//! uncontended work with atomics and calls the kernel only to sleep until
//! the word changes (FUTEX_WAIT) or to wake sleepers (FUTEX_WAKE):
//! pthread mutexes, condition variables, pthread_join and the CLONE_CHILD_CLEARTID word
//! all work this way.
//!
//! Waiters hang on one of 64 hash buckets, keyed by (address space,
//! address). The bucket's lock is what makes the check-then-sleep of
//! FUTEX_WAIT safe: the waiter reads the word and queues itself under the
//! lock, and a waker changes the word before it takes the lock to wake, so
//! either the waiter sees the new value or the waker sees the waiter.
//! The lock is a spin lock, so the word is read with page faults not
//! handled (interrupts are masked): if its page is not present, the
//! waiter drops the lock, faults the page in, and tries again, as Linux's
//! futex_wait_setup does.
//!
//! Where Pagoda differs: shared futexes (no FUTEX_PRIVATE_FLAG) are keyed
//! like private ones, by address space and address, which is right until
//! MAP_SHARED memory exists (the file issue); FUTEX_REQUEUE and
//! FUTEX_CMP_REQUEUE wake the waiters they would move (a spurious wake-up,
//! which every futex user must tolerate) instead of moving them; the PI
//! and WAKE_OP operations return ENOSYS.

use crate::mm::uaccess::{access_ok, copy_from_user};
use crate::sched::{current, TaskRef, TASK_INTERRUPTIBLE, TASK_RUNNING};
use crate::sync::SpinLockIrq;
use alloc::vec::Vec;
use core::sync::atomic::Ordering::*;
use pagoda_klib::arc::Arc;
use pagoda_klib::errno::{Errno, KResult};

pub const FUTEX_WAIT: u32 = 0;
pub const FUTEX_WAKE: u32 = 1;
pub const FUTEX_REQUEUE: u32 = 3;
pub const FUTEX_CMP_REQUEUE: u32 = 4;
pub const FUTEX_WAIT_BITSET: u32 = 9;
pub const FUTEX_WAKE_BITSET: u32 = 10;
pub const FUTEX_PRIVATE_FLAG: u32 = 128;
pub const FUTEX_CLOCK_REALTIME: u32 = 256;
pub const FUTEX_BITSET_MATCH_ANY: u32 = 0xffff_ffff;

/// Which futex: the address space and the user address (Linux: union
/// futex_key, its private variant).
#[derive(Clone, Copy, PartialEq, Eq)]
struct FutexKey {
    mm: usize,
    addr: usize,
}

/// A sleeping waiter (Linux: struct futex_q).
struct FutexQ {
    key: FutexKey,
    bitset: u32,
    task: TaskRef,
}

const FUTEX_HASHSIZE: usize = 64;

/// The hash buckets (Linux: futex_queues, struct futex_hash_bucket).
static QUEUES: [SpinLockIrq<Vec<FutexQ>>; FUTEX_HASHSIZE] =
    [const { SpinLockIrq::new(Vec::new()) }; FUTEX_HASHSIZE];

fn hash_futex(key: &FutexKey) -> &'static SpinLockIrq<Vec<FutexQ>> {
    let h = ((key.addr >> 2) ^ (key.mm >> 6)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    &QUEUES[h >> (usize::BITS - FUTEX_HASHSIZE.trailing_zeros())]
}

/// Frees an empty bucket's array, so that no memory stays with a bucket
/// once its waiters are gone (Linux's buckets are intrusive lists of
/// futex_q on the waiters' stacks and need nothing). Allocating and
/// freeing under the bucket's spin lock is atomic allocation, as for
/// every spin lock in Pagoda.
fn release_if_empty(q: &mut Vec<FutexQ>) {
    if q.is_empty() && q.capacity() != 0 {
        *q = Vec::new();
    }
}

/// The key of the futex at `uaddr` in the current address space (Linux:
/// get_futex_key): EINVAL if misaligned, EFAULT outside user space, and
/// for a shared futex EFAULT if nothing is mapped there (Linux looks the
/// page up to key it by its backing object; a private key needs no page).
fn get_futex_key(uaddr: usize, shared: bool) -> KResult<FutexKey> {
    if !uaddr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    if !access_ok(uaddr, 4) {
        return Err(Errno::EFAULT);
    }
    if shared {
        get_user_u32(uaddr)?;
    }
    let mm = current().and_then(|t| t.mm()).ok_or(Errno::EFAULT)?;
    Ok(FutexKey { mm: Arc::as_ptr(&mm) as usize, addr: uaddr })
}

/// Reads the futex word; may fault the page in (and sleep).
fn get_user_u32(uaddr: usize) -> KResult<u32> {
    let mut b = [0u8; 4];
    copy_from_user(&mut b, uaddr)?;
    Ok(u32::from_le_bytes(b))
}

/// Reads the futex word with the bucket lock held (Linux:
/// get_futex_value_locked). Interrupts are masked, so a fault is not
/// handled: EFAULT means "not present now", and the caller retries after
/// get_user_u32 outside the lock.
fn get_futex_value_locked(uaddr: usize) -> KResult<u32> {
    debug_assert!(crate::arch::irqflags::irqs_disabled());
    get_user_u32(uaddr)
}

/// Sleeps while the word at `uaddr` holds `val`, until a FUTEX_WAKE whose
/// bitset meets `bitset`, a signal (restarted, or EINTR after a handler
/// without SA_RESTART) or `deadline` on the monotonic
/// clock in ns (ETIMEDOUT). EAGAIN if the word already differs (Linux:
/// futex_wait).
pub fn futex_wait(
    uaddr: usize,
    val: u32,
    deadline: Option<u64>,
    bitset: u32,
    shared: bool,
) -> KResult<usize> {
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let key = get_futex_key(uaddr, shared)?;
    let me = current().ok_or(Errno::EFAULT)?;
    let bucket = hash_futex(&key);
    loop {
        let mut q = bucket.lock();
        let Ok(cur) = get_futex_value_locked(uaddr) else {
            drop(q);
            get_user_u32(uaddr)?; // fault it in, or a real EFAULT
            continue;
        };
        if cur != val {
            return Err(Errno::EAGAIN);
        }
        q.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        me.futex_queued.store(true, SeqCst);
        q.push(FutexQ { key, bitset, task: me.clone() });
        break;
    }
    // A waker clears futex_queued before it wakes us: checked after the
    // state is set, a wake-up cannot be lost (see wait.rs).
    let mut why = Ok(0);
    loop {
        crate::sched::set_current_state(TASK_INTERRUPTIBLE);
        if !me.futex_queued.load(SeqCst) {
            break;
        }
        if crate::sched::signal_pending() {
            why = Err(Errno::ERESTARTSYS);
            break;
        }
        match deadline {
            None => crate::sched::schedule(),
            Some(d) => {
                let now = crate::arch::time::uptime_ns();
                if now >= d {
                    why = Err(Errno::ETIMEDOUT);
                    break;
                }
                crate::kernel::timer::schedule_timeout(crate::kernel::time::nsecs_to_jiffies(d - now));
            }
        }
    }
    crate::sched::set_current_state(TASK_RUNNING);
    if why.is_err() {
        // Still queued: take ourselves off. Woken meanwhile: that wins
        // (Linux: unqueue_me returning 0).
        let mut q = bucket.lock();
        match q.iter().position(|w| w.key == key && Arc::ptr_eq(&w.task, &me)) {
            Some(i) => {
                q.swap_remove(i);
                me.futex_queued.store(false, SeqCst);
            }
            None => why = Ok(0),
        }
        release_if_empty(&mut q);
    }
    why
}

/// Wakes up to `nr` waiters on the futex at `uaddr` whose bitset meets
/// `bitset`; returns how many (Linux: futex_wake). Like Linux, a count of
/// 0 or less still wakes one.
pub fn futex_wake(uaddr: usize, nr: i32, bitset: u32, shared: bool) -> KResult<usize> {
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let key = get_futex_key(uaddr, shared)?;
    let limit = nr.max(1) as usize;
    let mut q = hash_futex(&key).lock();
    let mut woken = 0;
    let mut i = 0;
    while i < q.len() && woken < limit {
        if q[i].key == key && q[i].bitset & bitset != 0 {
            // FIFO order among the waiters, as Linux's plist gives for
            // equal priorities.
            let w = q.remove(i);
            w.task.futex_queued.store(false, SeqCst);
            crate::sched::wake_up_process(&w.task);
            woken += 1;
        } else {
            i += 1;
        }
    }
    release_if_empty(&mut q);
    Ok(woken)
}

/// FUTEX_REQUEUE and FUTEX_CMP_REQUEUE (Linux: futex_requeue), with every
/// waiter that would move woken instead (see the module comment).
/// Returns the waiters woken plus those "requeued".
fn futex_requeue(
    uaddr: usize,
    uaddr2: usize,
    nr_wake: i32,
    nr_requeue: i32,
    cmpval: Option<u32>,
    shared: bool,
) -> KResult<usize> {
    if nr_wake < 0 || nr_requeue < 0 {
        return Err(Errno::EINVAL);
    }
    get_futex_key(uaddr2, shared)?;
    if let Some(v) = cmpval {
        let key = get_futex_key(uaddr, shared)?;
        loop {
            let _q = hash_futex(&key).lock();
            match get_futex_value_locked(uaddr) {
                Ok(cur) if cur != v => return Err(Errno::EAGAIN),
                Ok(_) => break,
                Err(_) => {
                    drop(_q);
                    get_user_u32(uaddr)?;
                }
            }
        }
    }
    let total = (nr_wake as usize).saturating_add(nr_requeue as usize).min(i32::MAX as usize) as i32;
    if total == 0 {
        return Ok(0);
    }
    futex_wake(uaddr, total, FUTEX_BITSET_MATCH_ANY, shared)
}

/// Reads a struct timespec: ns, or EINVAL for a negative or out-of-range one.
pub fn get_timespec_ns(addr: usize) -> KResult<u64> {
    let mut b = [0u8; 16];
    copy_from_user(&mut b, addr)?;
    let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
    let nsec = i64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok((sec as u64).saturating_mul(1_000_000_000).saturating_add(nsec as u64))
}

/// futex(2) (Linux: kernel/futex/syscalls.c do_futex). CLOCK_REALTIME and
/// CLOCK_MONOTONIC are the same clock in Pagoda (no RTC yet).
pub fn sys_futex(uaddr: usize, op: u32, val: u32, utime: usize, uaddr2: usize, val3: u32) -> KResult<usize> {
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let shared = op & FUTEX_PRIVATE_FLAG == 0;
    if op & FUTEX_CLOCK_REALTIME != 0 && cmd != FUTEX_WAIT_BITSET {
        return Err(Errno::ENOSYS);
    }
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT { FUTEX_BITSET_MATCH_ANY } else { val3 };
            let deadline = match utime {
                0 => None,
                t => {
                    let ns = get_timespec_ns(t)?;
                    // FUTEX_WAIT's timeout is relative, WAIT_BITSET's absolute.
                    Some(if cmd == FUTEX_WAIT {
                        crate::arch::time::uptime_ns().saturating_add(ns)
                    } else {
                        ns
                    })
                }
            };
            futex_wait(uaddr, val, deadline, bitset, shared)
        }
        FUTEX_WAKE => futex_wake(uaddr, val as i32, FUTEX_BITSET_MATCH_ANY, shared),
        FUTEX_WAKE_BITSET => futex_wake(uaddr, val as i32, val3, shared),
        // The fourth argument is a count here, not a pointer.
        FUTEX_REQUEUE => futex_requeue(uaddr, uaddr2, val as i32, utime as i32, None, shared),
        FUTEX_CMP_REQUEUE => futex_requeue(uaddr, uaddr2, val as i32, utime as i32, Some(val3), shared),
        _ => Err(Errno::ENOSYS),
    }
}
