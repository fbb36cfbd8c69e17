//! Slab debugging: red zones and poisoning (Linux: mm/slab.c with
//! CONFIG_DEBUG_SLAB; values from include/linux/poison.h).
//!
//! ```text
//! debug object layout:  [ pad | red zone 1 (8) | object ... | red zone 2 (8) ]
//!                             the object starts at obj_offset, so it keeps the cache's alignment
//!                         RED_ACTIVE while allocated, RED_INACTIVE while free
//! free object contents: 6b 6b 6b ... 6b a5
//! ```
//! - Free checks both red zones: both inactive means a double free (the free
//!   is refused); anything else but active means something wrote outside
//!   the object.
//! - Allocation checks the poison: a changed byte means someone wrote to the
//!   object after freeing it.

use super::cache::KmemCache;

pub const RED_INACTIVE: u64 = 0x09F9_1102_9D74_E35B;
pub const RED_ACTIVE: u64 = 0xD841_56C5_6356_88C0;
pub const POISON_INUSE: u8 = 0x5a;
pub const POISON_FREE: u8 = 0x6b;
pub const POISON_END: u8 = 0xa5;

/// Bytes of red zone on each side.
pub const REDZONE: usize = 8;

impl KmemCache {
    fn redzone1_offset(&self) -> usize {
        self.obj_offset - REDZONE
    }

    fn redzone2_offset(&self) -> usize {
        self.obj_offset + self.object_size.next_multiple_of(8)
    }

    /// # Safety
    /// `obj` is the start (not the user pointer) of an object of this cache.
    unsafe fn redzones(&self, obj: usize) -> (u64, u64) {
        // SAFETY: per the contract, both red zones lie inside the object's stride.
        unsafe {
            (
                ((obj + self.redzone1_offset()) as *const u64).read(),
                ((obj + self.redzone2_offset()) as *const u64).read(),
            )
        }
    }

    /// # Safety
    /// As for `redzones`.
    unsafe fn set_redzones(&self, obj: usize, v: u64) {
        // SAFETY: as above.
        unsafe {
            ((obj + self.redzone1_offset()) as *mut u64).write(v);
            ((obj + self.redzone2_offset()) as *mut u64).write(v);
        }
    }

    /// Fills the object with POISON_FREE, ending in POISON_END.
    ///
    /// # Safety
    /// As for `redzones`.
    unsafe fn poison(&self, obj: usize) {
        let user = obj + self.obj_offset;
        // SAFETY: the user part of the object is object_size bytes.
        unsafe {
            core::ptr::write_bytes(user as *mut u8, POISON_FREE, self.object_size);
            ((user + self.object_size - 1) as *mut u8).write(POISON_END);
        }
    }

    /// The first byte of the user area that is not the free poison.
    ///
    /// # Safety
    /// As for `redzones`.
    unsafe fn check_poison(&self, obj: usize) -> Option<usize> {
        let user = obj + self.obj_offset;
        // SAFETY: as above.
        let bytes = unsafe { core::slice::from_raw_parts(user as *const u8, self.object_size) };
        let last = self.object_size - 1;
        bytes.iter().enumerate().position(|(i, &b)| b != if i == last { POISON_END } else { POISON_FREE })
    }

    /// Debug state of a freshly made object (Linux: cache_init_objs).
    ///
    /// # Safety
    /// As for `redzones`.
    pub(super) unsafe fn debug_init_obj(&self, obj: usize) {
        // SAFETY: per the contract.
        unsafe {
            if self.flags.contains(super::SlabFlags::RED_ZONE) {
                self.set_redzones(obj, RED_INACTIVE);
            }
            if self.flags.contains(super::SlabFlags::POISON) {
                self.poison(obj);
            }
        }
    }

    /// Checks an object being handed out (Linux: cache_alloc_debugcheck_after).
    ///
    /// # Safety
    /// As for `redzones`.
    pub(super) unsafe fn debug_check_alloc(&self, obj: usize) {
        // SAFETY: per the contract.
        unsafe {
            if self.flags.contains(super::SlabFlags::POISON) {
                if let Some(off) = self.check_poison(obj) {
                    self.bad(format_args!(
                        "Slab corruption: {} start={:#x} len={}: use after free, byte {off:#x} is {:#04x}, expected {:#04x}",
                        self.name,
                        obj + self.obj_offset,
                        self.object_size,
                        *((obj + self.obj_offset + off) as *const u8),
                        if off == self.object_size - 1 { POISON_END } else { POISON_FREE }
                    ));
                }
            }
            if self.flags.contains(super::SlabFlags::RED_ZONE) {
                let (r1, r2) = self.redzones(obj);
                if r1 != RED_INACTIVE || r2 != RED_INACTIVE {
                    self.bad(format_args!(
                        "slab error in cache_alloc_debugcheck_after(): cache `{}': double free, or memory outside object was overwritten: {:#x} redzone 1:{r1:#018x}, redzone 2:{r2:#018x}",
                        self.name,
                        obj + self.obj_offset
                    ));
                }
                self.set_redzones(obj, RED_ACTIVE);
            }
        }
    }

    /// Checks an object being freed; false if the free must be refused
    /// (Linux: cache_free_debugcheck / verify_redzone_free).
    ///
    /// # Safety
    /// As for `redzones`.
    pub(super) unsafe fn debug_check_free(&self, obj: usize) -> bool {
        // SAFETY: per the contract.
        unsafe {
            if self.flags.contains(super::SlabFlags::RED_ZONE) {
                let (r1, r2) = self.redzones(obj);
                if r1 == RED_INACTIVE && r2 == RED_INACTIVE {
                    self.bad(format_args!(
                        "slab error in verify_redzone_free(): cache `{}': double free detected (object {:#x})",
                        self.name,
                        obj + self.obj_offset
                    ));
                    return false;
                }
                if r1 != RED_ACTIVE || r2 != RED_ACTIVE {
                    self.bad(format_args!(
                        "slab error in verify_redzone_free(): cache `{}': memory outside object was overwritten: {:#x} redzone 1:{r1:#018x}, redzone 2:{r2:#018x}",
                        self.name,
                        obj + self.obj_offset
                    ));
                }
                self.set_redzones(obj, RED_INACTIVE);
            }
            if self.flags.contains(super::SlabFlags::POISON) {
                self.poison(obj);
            }
        }
        true
    }
}
