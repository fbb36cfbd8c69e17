//! GFP ("get free pages") flags: what the caller of the page allocator
//! allows it to do, and where the page may come from (Linux:
//! include/linux/gfp.h, gfp_types.h; bit values as in Linux 6.1).

use crate::mmzone::{MigrateType, ZoneType};

bitflags::bitflags! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Gfp: u32 {
        /// Zone modifiers.
        const __GFP_DMA            = 0x01;
        const __GFP_HIGHMEM        = 0x02;
        const __GFP_DMA32          = 0x04;
        const __GFP_MOVABLE        = 0x08;
        /// Mobility: can be reclaimed by a shrinker (slab caches).
        const __GFP_RECLAIMABLE    = 0x10;
        /// High priority: may dip below the min watermark (by half).
        const __GFP_HIGH           = 0x20;
        const __GFP_IO             = 0x40;
        const __GFP_FS             = 0x80;
        /// Return zeroed memory.
        const __GFP_ZERO           = 0x100;
        /// Cannot sleep or reclaim: may dip further (Linux 6.1's __GFP_ATOMIC).
        const __GFP_ATOMIC         = 0x200;
        const __GFP_DIRECT_RECLAIM = 0x400;
        const __GFP_KSWAPD_RECLAIM = 0x800;
        const __GFP_WRITE          = 0x1000;
        /// Do not print a warning on failure.
        const __GFP_NOWARN         = 0x2000;
        const __GFP_RETRY_MAYFAIL  = 0x4000;
        const __GFP_NOFAIL         = 0x8000;
        /// Fail rather than retry hard.
        const __GFP_NORETRY        = 0x10000;
        const __GFP_MEMALLOC       = 0x20000;
        const __GFP_COMP           = 0x40000;
        const __GFP_NOMEMALLOC     = 0x80000;
        const __GFP_HARDWALL       = 0x100000;
        const __GFP_THISNODE       = 0x200000;
        const __GFP_ACCOUNT        = 0x400000;

        const __GFP_RECLAIM = Self::__GFP_DIRECT_RECLAIM.bits() | Self::__GFP_KSWAPD_RECLAIM.bits();

        const GFP_ATOMIC = Self::__GFP_HIGH.bits() | Self::__GFP_ATOMIC.bits() | Self::__GFP_KSWAPD_RECLAIM.bits();
        const GFP_KERNEL = Self::__GFP_RECLAIM.bits() | Self::__GFP_IO.bits() | Self::__GFP_FS.bits();
        const GFP_KERNEL_ACCOUNT = Self::GFP_KERNEL.bits() | Self::__GFP_ACCOUNT.bits();
        const GFP_NOWAIT = Self::__GFP_KSWAPD_RECLAIM.bits();
        const GFP_NOIO = Self::__GFP_RECLAIM.bits();
        const GFP_NOFS = Self::__GFP_RECLAIM.bits() | Self::__GFP_IO.bits();
        const GFP_USER = Self::__GFP_RECLAIM.bits() | Self::__GFP_IO.bits() | Self::__GFP_FS.bits() | Self::__GFP_HARDWALL.bits();
        const GFP_DMA32 = Self::__GFP_DMA32.bits();
        const GFP_HIGHUSER = Self::GFP_USER.bits() | Self::__GFP_HIGHMEM.bits();
        const GFP_HIGHUSER_MOVABLE = Self::GFP_HIGHUSER.bits() | Self::__GFP_MOVABLE.bits();
    }
}

/// Names tried in this order when printing, composites first, as Linux's
/// `%pGg` (show_gfp_flags in include/trace/events/mmflags.h) does.
const GFP_NAMES: &[(Gfp, &str)] = &[
    (Gfp::GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"),
    (Gfp::GFP_HIGHUSER, "GFP_HIGHUSER"),
    (Gfp::GFP_USER, "GFP_USER"),
    (Gfp::GFP_KERNEL_ACCOUNT, "GFP_KERNEL_ACCOUNT"),
    (Gfp::GFP_KERNEL, "GFP_KERNEL"),
    (Gfp::GFP_NOFS, "GFP_NOFS"),
    (Gfp::GFP_ATOMIC, "GFP_ATOMIC"),
    (Gfp::GFP_NOIO, "GFP_NOIO"),
    (Gfp::GFP_NOWAIT, "GFP_NOWAIT"),
    (Gfp::__GFP_DMA, "GFP_DMA"),
    (Gfp::__GFP_HIGHMEM, "__GFP_HIGHMEM"),
    (Gfp::__GFP_DMA32, "GFP_DMA32"),
    (Gfp::__GFP_HIGH, "__GFP_HIGH"),
    (Gfp::__GFP_ATOMIC, "__GFP_ATOMIC"),
    (Gfp::__GFP_IO, "__GFP_IO"),
    (Gfp::__GFP_FS, "__GFP_FS"),
    (Gfp::__GFP_NOWARN, "__GFP_NOWARN"),
    (Gfp::__GFP_RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"),
    (Gfp::__GFP_NOFAIL, "__GFP_NOFAIL"),
    (Gfp::__GFP_NORETRY, "__GFP_NORETRY"),
    (Gfp::__GFP_COMP, "__GFP_COMP"),
    (Gfp::__GFP_ZERO, "__GFP_ZERO"),
    (Gfp::__GFP_NOMEMALLOC, "__GFP_NOMEMALLOC"),
    (Gfp::__GFP_MEMALLOC, "__GFP_MEMALLOC"),
    (Gfp::__GFP_HARDWALL, "__GFP_HARDWALL"),
    (Gfp::__GFP_THISNODE, "__GFP_THISNODE"),
    (Gfp::__GFP_RECLAIMABLE, "__GFP_RECLAIMABLE"),
    (Gfp::__GFP_MOVABLE, "__GFP_MOVABLE"),
    (Gfp::__GFP_ACCOUNT, "__GFP_ACCOUNT"),
    (Gfp::__GFP_WRITE, "__GFP_WRITE"),
    (Gfp::__GFP_RECLAIM, "__GFP_RECLAIM"),
    (Gfp::__GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"),
    (Gfp::__GFP_KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"),
];

impl Gfp {
    /// The highest zone this request may use (Linux: gfp_zone).
    pub fn zone(self) -> ZoneType {
        if self.contains(Gfp::__GFP_DMA32) {
            ZoneType::Dma32
        } else if self.contains(Gfp::__GFP_MOVABLE) {
            ZoneType::Movable
        } else {
            ZoneType::Normal
        }
    }

    /// The free-list type to take from (Linux: gfp_migratetype).
    pub fn migratetype(self) -> MigrateType {
        if self.contains(Gfp::__GFP_MOVABLE) {
            MigrateType::Movable
        } else if self.contains(Gfp::__GFP_RECLAIMABLE) {
            MigrateType::Reclaimable
        } else {
            MigrateType::Unmovable
        }
    }

    /// May the allocator sleep to reclaim? (Linux: gfpflags_allow_blocking)
    pub fn allows_blocking(self) -> bool {
        self.contains(Gfp::__GFP_DIRECT_RECLAIM)
    }
}

/// `mode:0xcc0(GFP_KERNEL)`-style printing.
impl core::fmt::Display for Gfp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut rest = *self;
        let mut first = true;
        for &(flag, name) in GFP_NAMES {
            if !flag.is_empty() && rest.contains(flag) {
                write!(f, "{}{name}", if first { "" } else { "|" })?;
                rest.remove(flag);
                first = false;
            }
        }
        if first {
            write!(f, "none")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn values_match_linux_6_1() {
        assert_eq!(Gfp::GFP_KERNEL.bits(), 0xcc0);
        assert_eq!(Gfp::GFP_ATOMIC.bits(), 0xa20);
        assert_eq!(Gfp::GFP_HIGHUSER_MOVABLE.bits(), 0x100cca);
        assert_eq!(Gfp::GFP_NOWAIT.bits(), 0x800);
    }

    #[test]
    fn names_print_like_pgg() {
        assert_eq!(Gfp::GFP_KERNEL.to_string(), "GFP_KERNEL");
        assert_eq!((Gfp::GFP_KERNEL | Gfp::__GFP_ZERO).to_string(), "GFP_KERNEL|__GFP_ZERO");
        assert_eq!((Gfp::GFP_ATOMIC | Gfp::__GFP_NOWARN).to_string(), "GFP_ATOMIC|__GFP_NOWARN");
        assert_eq!(Gfp::GFP_HIGHUSER_MOVABLE.to_string(), "GFP_HIGHUSER_MOVABLE");
    }

    #[test]
    fn zone_and_migratetype_selection() {
        assert_eq!(Gfp::GFP_KERNEL.zone(), ZoneType::Normal);
        assert_eq!((Gfp::GFP_KERNEL | Gfp::GFP_DMA32).zone(), ZoneType::Dma32);
        assert_eq!(Gfp::GFP_HIGHUSER_MOVABLE.zone(), ZoneType::Movable);
        assert_eq!(Gfp::GFP_HIGHUSER_MOVABLE.migratetype(), MigrateType::Movable);
        assert_eq!((Gfp::GFP_KERNEL | Gfp::__GFP_RECLAIMABLE).migratetype(), MigrateType::Reclaimable);
        assert_eq!(Gfp::GFP_ATOMIC.migratetype(), MigrateType::Unmovable);
        assert!(!Gfp::GFP_ATOMIC.allows_blocking() && Gfp::GFP_KERNEL.allows_blocking());
    }
}
