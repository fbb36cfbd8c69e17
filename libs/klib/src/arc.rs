//! A reference-counted pointer whose allocation can fail (Linux: struct
//! kref and get_task_struct/put_task_struct; Rust for Linux's
//! `kernel::sync::Arc`).
//!
//! `alloc::sync::Arc::new` aborts when memory runs out, which a kernel must
//! not do on a path that memory pressure can reach (creating a task, an
//! mm). `Arc::try_new` returns the value back instead, so the caller can
//! undo what it set up and return `-ENOMEM`.
//!
//! The count lives next to the value (`ArcInner`), so a plain `&T` that is
//! known to live inside an `Arc` can be turned back into a counted
//! reference (`Arc::from_inner`), as Linux takes a reference on a
//! `task_struct *` it found on a list.

use alloc::alloc::{alloc, dealloc, Layout};
use core::fmt;
use core::ops::Deref;
use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicUsize, Ordering};

#[repr(C)]
struct ArcInner<T> {
    count: AtomicUsize,
    data: T,
}

/// A counted reference to a `T` shared between CPUs.
pub struct Arc<T> {
    ptr: NonNull<ArcInner<T>>,
}

// SAFETY: as for `alloc::sync::Arc`: the count is atomic, and `T` is shared
// between threads only if it is `Send + Sync`.
unsafe impl<T: Send + Sync> Send for Arc<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Arc<T> {}

impl<T> Arc<T> {
    /// Allocates the count and the value; on failure gives the value back.
    pub fn try_new(data: T) -> Result<Self, T> {
        let layout = Layout::new::<ArcInner<T>>();
        // SAFETY: ArcInner has a non-zero size (it holds the count).
        let raw = unsafe { alloc(layout) }.cast::<ArcInner<T>>();
        let Some(ptr) = NonNull::new(raw) else { return Err(data) };
        // SAFETY: freshly allocated with ArcInner's layout.
        unsafe { ptr.as_ptr().write(ArcInner { count: AtomicUsize::new(1), data }) };
        Ok(Arc { ptr })
    }

    fn inner(&self) -> &ArcInner<T> {
        // SAFETY: the allocation lives while this reference counts in it.
        unsafe { self.ptr.as_ref() }
    }

    /// How many references exist (for tests and assertions; racy by nature).
    pub fn count(this: &Self) -> usize {
        this.inner().count.load(Ordering::Relaxed)
    }

    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.ptr == b.ptr
    }

    /// The value's address, the same for every reference.
    pub fn as_ptr(this: &Self) -> *const T {
        // SAFETY: ptr is a live ArcInner; only the field's address is taken.
        unsafe { &raw const (*this.ptr.as_ptr()).data }
    }

    /// Gives up the reference without dropping it, as a pointer to the
    /// value (for a slot that holds a reference as a raw pointer).
    pub fn into_raw(this: Self) -> *const T {
        let p = Self::as_ptr(&this);
        core::mem::forget(this);
        p
    }

    /// Takes back a reference given up with `into_raw`.
    ///
    /// # Safety
    /// `p` came from `into_raw` and that reference was not taken back yet.
    pub unsafe fn from_raw(p: *const T) -> Self {
        let offset = core::mem::offset_of!(ArcInner<T>, data);
        // SAFETY: per the contract, p points at the data field of a live
        // ArcInner<T>, `offset` bytes into it.
        let inner = unsafe { p.byte_sub(offset) }.cast_mut().cast::<ArcInner<T>>();
        // SAFETY: derived from a NonNull by into_raw.
        Arc { ptr: unsafe { NonNull::new_unchecked(inner) } }
    }

    /// A new counted reference to a value known to live in an `Arc`
    /// (Linux: get_task_struct on a pointer found on a list).
    ///
    /// # Safety
    /// `data` is the value of a live `Arc<T>` (reached through some other
    /// reference that keeps it alive for the duration of this call).
    pub unsafe fn from_inner(data: &T) -> Self {
        // SAFETY: per the contract, data lives inside an ArcInner.
        let this = unsafe { Self::from_raw(data) };
        this.inner().count.fetch_add(1, Ordering::Relaxed);
        this
    }
}

impl<T> Arc<T> {
    /// A new counted reference to a value that may be on its way out: None
    /// once its count has reached zero (Linux: mmget_not_zero,
    /// kref_get_unless_zero; alloc's Weak::upgrade).
    ///
    /// # Safety
    /// `data` is the value of an `Arc<T>` whose memory is not freed for the
    /// duration of this call (for example because whoever frees it first
    /// takes a lock the caller holds), though its count may be zero.
    pub unsafe fn try_from_inner(data: *const T) -> Option<Self> {
        // SAFETY: per the contract, data lives inside an ArcInner whose
        // memory stays valid; the count is only read and raised from
        // non-zero, so a value already being dropped is never revived.
        let this = core::mem::ManuallyDrop::new(unsafe { Self::from_raw(data) });
        let count = &this.inner().count;
        let mut c = count.load(Ordering::Relaxed);
        loop {
            if c == 0 {
                return None;
            }
            match count.compare_exchange_weak(c, c + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Some(Arc { ptr: this.ptr }),
                Err(now) => c = now,
            }
        }
    }
}

impl<T> Clone for Arc<T> {
    fn clone(&self) -> Self {
        // Relaxed, as in alloc::sync::Arc: the new reference is made from an
        // existing one, so the value cannot be freed meanwhile.
        let old = self.inner().count.fetch_add(1, Ordering::Relaxed);
        assert!(old < usize::MAX / 2, "Arc count overflow");
        Arc { ptr: self.ptr }
    }
}

impl<T> Drop for Arc<T> {
    fn drop(&mut self) {
        if self.inner().count.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Every other reference's last use happens before the free.
        fence(Ordering::Acquire);
        // SAFETY: this was the last reference: nothing else can reach the
        // value; it was allocated in try_new with this layout.
        unsafe {
            core::ptr::drop_in_place(self.ptr.as_ptr());
            dealloc(self.ptr.as_ptr().cast(), Layout::new::<ArcInner<T>>());
        }
    }
}

impl<T> Deref for Arc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner().data
    }
}

impl<T: fmt::Debug> fmt::Debug for Arc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    struct Flag<'a>(&'a AtomicBool);
    impl Drop for Flag<'_> {
        fn drop(&mut self) {
            assert!(!self.0.swap(true, Ordering::Relaxed), "dropped twice");
        }
    }

    #[test]
    fn the_value_is_dropped_with_the_last_reference() {
        let dropped = AtomicBool::new(false);
        let a = Arc::try_new(Flag(&dropped)).ok().unwrap();
        let b = a.clone();
        assert_eq!(Arc::count(&a), 2);
        drop(a);
        assert!(!dropped.load(Ordering::Relaxed));
        drop(b);
        assert!(dropped.load(Ordering::Relaxed));
    }

    #[test]
    fn try_from_inner_takes_a_live_value_and_refuses_a_dying_one() {
        struct Probe(AtomicBool);
        impl Drop for Probe {
            fn drop(&mut self) {
                // The count is zero while the value drops: no new reference.
                // SAFETY: self's memory is valid until drop returns.
                assert!(unsafe { Arc::try_from_inner(self as *const Probe) }.is_none());
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let a = Arc::try_new(Probe(AtomicBool::new(false))).ok().unwrap();
        // SAFETY: a keeps the value alive.
        let b = unsafe { Arc::try_from_inner(Arc::as_ptr(&a)) }.expect("live value");
        assert_eq!(Arc::count(&a), 2);
        drop(b);
        drop(a);
    }

    #[test]
    fn raw_round_trip_and_from_inner_count() {
        let dropped = AtomicBool::new(false);
        let a = Arc::try_new(Flag(&dropped)).ok().unwrap();
        let p = Arc::into_raw(a.clone());
        assert_eq!(p, Arc::as_ptr(&a));
        // SAFETY: p came from into_raw just above.
        let back = unsafe { Arc::from_raw(p) };
        assert!(Arc::ptr_eq(&a, &back));
        // SAFETY: `a` keeps the value alive.
        let c = unsafe { Arc::from_inner(&*a) };
        assert_eq!(Arc::count(&a), 3);
        drop((back, c));
        assert_eq!(Arc::count(&a), 1);
        drop(a);
        assert!(dropped.load(Ordering::Relaxed));
    }

    #[test]
    fn many_threads_share_and_drop_once() {
        let d: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        let a = Arc::try_new(Flag(d)).ok().unwrap();
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let a = a.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        drop(a.clone());
                    }
                })
            })
            .collect();
        drop(a);
        for h in hs {
            h.join().unwrap();
        }
        assert!(d.load(Ordering::Relaxed));
    }
}
