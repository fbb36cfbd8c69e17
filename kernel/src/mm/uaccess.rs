//! Reaching user memory from the kernel (Linux: include/linux/uaccess.h,
//! arch/arm64/include/asm/uaccess.h, lib/strncpy_from_user.c).
//!
//! A system call gets user addresses as plain numbers. The kernel never
//! dereferences them: it checks the range lies below TASK_SIZE
//! (`access_ok`), then copies with the routines of
//! arch/aarch64/lib/uaccess.S, whose every user access is an unprivileged
//! LDTR/STTR with an exception-table entry. A bad pointer therefore costs
//! the caller `-EFAULT`, never an oops, and cannot reach kernel memory.
//!
//! Linux's contract is kept: `copy_from_user` zero-fills what it could not
//! copy, and the raw routines return the bytes not copied. The wrappers here
//! turn that into `Result<(), Errno>` for system calls.

// The system calls that use these arrive with the user-task issue's next
// step; until then only the tests do.
#![cfg_attr(not(feature = "ktest"), allow(dead_code))]

use crate::arch::mm::layout::TASK_SIZE;
use pagoda_klib::errno::Errno;

extern "C" {
    fn __arch_copy_from_user(to: *mut u8, from: usize, n: usize) -> usize;
    fn __arch_copy_to_user(to: usize, from: *const u8, n: usize) -> usize;
    fn __arch_clear_user(to: usize, n: usize) -> usize;
    fn __arch_strncpy_from_user(dst: *mut u8, src: usize, n: usize) -> isize;
}

/// Whether `[addr, addr + size)` lies in user space (Linux: access_ok).
/// A range that wraps around is refused.
pub fn access_ok(addr: usize, size: usize) -> bool {
    addr.checked_add(size).is_some_and(|end| end <= TASK_SIZE)
}

/// Copies `to.len()` bytes from user address `from`; on a fault the rest of
/// `to` is zeroed and the result is EFAULT (Linux: copy_from_user).
pub fn copy_from_user(to: &mut [u8], from: usize) -> Result<(), Errno> {
    let n = to.len();
    let left = if access_ok(from, n) {
        // SAFETY: `to` is a valid kernel buffer of n bytes; user accesses
        // are unprivileged and fault into the exception table.
        unsafe { __arch_copy_from_user(to.as_mut_ptr(), from, n) }
    } else {
        n
    };
    if left == 0 {
        return Ok(());
    }
    to[n - left..].fill(0);
    Err(Errno::EFAULT)
}

/// Copies `from` to user address `to` (Linux: copy_to_user). EFAULT if any
/// byte could not be written (the bytes before it were).
pub fn copy_to_user(to: usize, from: &[u8]) -> Result<(), Errno> {
    if !access_ok(to, from.len()) {
        return Err(Errno::EFAULT);
    }
    // SAFETY: `from` is a valid kernel buffer; user accesses are
    // unprivileged and fault into the exception table.
    match unsafe { __arch_copy_to_user(to, from.as_ptr(), from.len()) } {
        0 => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// Copies `from` to user address `to` as far as it can; returns the bytes
/// copied before a fault (Linux: copy_to_user's "bytes not copied", for
/// callers that report partial transfers).
pub fn copy_to_user_partial(to: usize, from: &[u8]) -> usize {
    if !access_ok(to, from.len()) {
        return 0;
    }
    // SAFETY: as in copy_to_user.
    let left = unsafe { __arch_copy_to_user(to, from.as_ptr(), from.len()) };
    from.len() - left
}

/// Copies from user address `from` into `to` as far as it can; returns the
/// bytes copied before a fault and leaves the rest of `to` as it was (for
/// writes into the page cache, where zeroing would lose file data; Linux:
/// copy_page_from_iter_atomic's short copy).
pub fn copy_from_user_partial(to: &mut [u8], from: usize) -> usize {
    if !access_ok(from, to.len()) {
        return 0;
    }
    // SAFETY: as in copy_from_user.
    let left = unsafe { __arch_copy_from_user(to.as_mut_ptr(), from, to.len()) };
    to.len() - left
}

/// Zeroes `n` bytes of user memory (Linux: clear_user).
pub fn clear_user(to: usize, n: usize) -> Result<(), Errno> {
    if !access_ok(to, n) {
        return Err(Errno::EFAULT);
    }
    // SAFETY: writes only through unprivileged, fixed-up stores.
    match unsafe { __arch_clear_user(to, n) } {
        0 => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// Copies a NUL-terminated string of at most `dst.len()` bytes (Linux:
/// strncpy_from_user). Returns its length without the NUL, or `dst.len()`
/// if no NUL came within it (the caller decides whether that is
/// ENAMETOOLONG); EFAULT if a byte could not be read.
pub fn strncpy_from_user(dst: &mut [u8], src: usize) -> Result<usize, Errno> {
    // Only the part of the range below TASK_SIZE may be read; a string
    // that runs into the top of user space faults there.
    let n = dst.len().min(TASK_SIZE.saturating_sub(src));
    if src >= TASK_SIZE {
        return Err(Errno::EFAULT);
    }
    // SAFETY: writes at most n bytes into `dst`; user reads are
    // unprivileged and fault into the exception table.
    let r = unsafe { __arch_strncpy_from_user(dst.as_mut_ptr(), src, n) };
    match r {
        r if r < 0 => Err(Errno::EFAULT),
        r if (r as usize) == n && n < dst.len() => Err(Errno::EFAULT), // ran into TASK_SIZE
        r => Ok(r as usize),
    }
}

#[cfg(feature = "ktest")]
mod tests {
    use super::*;
    use crate::debug::ktest::ktest;
    use crate::mm::mm_types::MmStruct;
    use crate::mm::page_alloc::{__free_pages, alloc_pages, page_address};
    use crate::sched::{kthread_unuse_mm, kthread_use_mm};
    use pagoda_mm::addr::PhysAddr;
    use pagoda_mm::gfp::Gfp;
    use pagoda_mm::pgtable::{MapFlags, Prot};

    /// A user page at UVA (read-write), a read-only one after it, and
    /// nothing mapped after that.
    const UVA: usize = 0x0000_0050_0000_0000;

    fn with_user_pages(f: impl FnOnce()) {
        let mm = MmStruct::alloc().unwrap();
        let pfns = [
            alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_ZERO, 0).unwrap(),
            alloc_pages(Gfp::GFP_KERNEL, 0).unwrap(),
        ];
        // SAFETY: a fresh page, through the linear map.
        unsafe { core::ptr::write_bytes(page_address(pfns[1]) as *mut u8, b'r', 4096) };
        let rw = Prot::READ | Prot::WRITE | Prot::USER;
        let ro = Prot::READ | Prot::USER;
        mm.with_page_table(|pt| {
            pt.map(UVA, PhysAddr(pfns[0] << 12), 4096, rw, MapFlags::empty()).unwrap();
            pt.map(UVA + 4096, PhysAddr(pfns[1] << 12), 4096, ro, MapFlags::empty()).unwrap();
        });
        kthread_use_mm(&mm);
        f();
        kthread_unuse_mm();
        crate::sched::leave_mm();
        mm.with_page_table(|pt| pt.unmap(UVA, 2 * 4096)).unwrap();
        drop(mm);
        for pfn in pfns {
            __free_pages(pfn, 0);
        }
    }

    #[ktest]
    fn copies_round_trip_through_a_user_page() {
        with_user_pages(|| {
            let msg = b"hello, user space, in words and bytes";
            copy_to_user(UVA + 3, msg).unwrap();
            let mut back = [0u8; 37];
            copy_from_user(&mut back, UVA + 3).unwrap();
            assert_eq!(&back, msg);
            clear_user(UVA + 5, 4).unwrap();
            copy_from_user(&mut back[..10], UVA + 3).unwrap();
            assert_eq!(&back[..10], b"he\0\0\0\0 use");
            let mut s = [0xffu8; 64];
            copy_to_user(UVA + 100, b"path/name\0").unwrap();
            assert_eq!(strncpy_from_user(&mut s, UVA + 100), Ok(9));
            assert_eq!(&s[..10], b"path/name\0");
            assert_eq!(strncpy_from_user(&mut s[..4], UVA + 100), Ok(4), "no NUL within n");
        });
    }

    /// A copy that runs off the mapped pages faults inside the copy loop;
    /// the exception table resumes it, the bytes before the hole are
    /// copied, the rest of the kernel buffer is zeroed, and the caller gets
    /// EFAULT: no oops.
    #[ktest]
    fn a_fault_inside_copy_from_user_returns_efault() {
        use crate::arch::exception::OOPS_COUNT;
        let oopses = OOPS_COUNT.load(core::sync::atomic::Ordering::Relaxed);
        with_user_pages(|| {
            let mut buf = [0x55u8; 32];
            // The last 8 bytes of the read-only page, then unmapped memory.
            assert_eq!(copy_from_user(&mut buf, UVA + 2 * 4096 - 8), Err(Errno::EFAULT));
            assert_eq!(&buf[..8], b"rrrrrrrr", "the bytes before the hole were copied");
            assert!(buf[8..].iter().all(|&b| b == 0), "the rest was zeroed");
            // Writing to the read-only page faults too (EL0 permissions).
            assert_eq!(copy_to_user(UVA + 4096, b"x"), Err(Errno::EFAULT));
            assert_eq!(clear_user(UVA + 4090, 100), Err(Errno::EFAULT));
            let mut s = [0u8; 16];
            assert_eq!(strncpy_from_user(&mut s, UVA + 2 * 4096 - 4), Err(Errno::EFAULT));
        });
        assert_eq!(OOPS_COUNT.load(core::sync::atomic::Ordering::Relaxed), oopses);
    }

    /// Kernel addresses are refused by access_ok; and even handed straight
    /// to the copy routine, an unprivileged load of kernel memory faults.
    #[ktest]
    fn kernel_memory_is_out_of_reach() {
        static SECRET: [u8; 8] = *b"secret!!";
        let kaddr = SECRET.as_ptr() as usize;
        let mut buf = [0u8; 8];
        assert!(!access_ok(kaddr, 8));
        assert!(!access_ok(TASK_SIZE - 4, 8), "a range crossing TASK_SIZE");
        assert!(!access_ok(usize::MAX - 2, 8), "a range that wraps");
        assert_eq!(copy_from_user(&mut buf, kaddr), Err(Errno::EFAULT));
        assert_eq!(copy_to_user(kaddr, b"x"), Err(Errno::EFAULT));
        assert_eq!(strncpy_from_user(&mut buf, kaddr), Err(Errno::EFAULT));
        // SAFETY: buf is 8 bytes; the source is read with EL0 permissions.
        let left = unsafe { __arch_copy_from_user(buf.as_mut_ptr(), kaddr, 8) };
        assert_eq!(left, 8, "LDTR read kernel memory");
        assert_eq!(buf, [0; 8]);
    }
}
