//! Physical and virtual addresses and page arithmetic (include/linux/mm.h,
//! include/asm-generic/page.h).

pub const PAGE_SHIFT: usize = 12;
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
pub const PAGE_MASK: usize = !(PAGE_SIZE - 1);
/// What one PTE table maps, and one PMD entry (Linux: PMD_SIZE).
pub const PMD_SIZE: usize = 1 << 21;

/// A physical address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct PhysAddr(pub usize);

/// A virtual address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct VirtAddr(pub usize);

macro_rules! addr_ops {
    ($t:ident) => {
        impl $t {
            pub const fn as_usize(self) -> usize {
                self.0
            }
            pub const fn page_offset(self) -> usize {
                self.0 & !PAGE_MASK
            }
            pub const fn align_down(self, align: usize) -> Self {
                Self(self.0 & !(align - 1))
            }
            pub const fn align_up(self, align: usize) -> Self {
                Self((self.0 + align - 1) & !(align - 1))
            }
            pub const fn is_aligned(self, align: usize) -> bool {
                self.0 & (align - 1) == 0
            }
        }
        impl core::ops::Add<usize> for $t {
            type Output = Self;
            fn add(self, rhs: usize) -> Self {
                Self(self.0 + rhs)
            }
        }
        impl core::fmt::LowerHex for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}
addr_ops!(PhysAddr);
addr_ops!(VirtAddr);

/// Page frame number of a physical address (`PHYS_PFN`).
pub const fn phys_pfn(pa: PhysAddr) -> usize {
    pa.0 >> PAGE_SHIFT
}

/// Physical address of a page frame number (`PFN_PHYS`).
pub const fn pfn_phys(pfn: usize) -> PhysAddr {
    PhysAddr(pfn << PAGE_SHIFT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_and_pfn_round_trip() {
        let pa = PhysAddr(0x4008_1234);
        assert_eq!(pa.align_down(PAGE_SIZE), PhysAddr(0x4008_1000));
        assert_eq!(pa.align_up(PAGE_SIZE), PhysAddr(0x4008_2000));
        assert_eq!(pa.page_offset(), 0x234);
        assert_eq!(pfn_phys(phys_pfn(pa)), PhysAddr(0x4008_1000));
        assert!(PhysAddr(0x20_0000).is_aligned(0x20_0000));
    }
}
