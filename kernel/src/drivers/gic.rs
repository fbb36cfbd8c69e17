//! The Arm Generic Interrupt Controller, v2 and v3 (Linux:
//! drivers/irqchip/irq-gic.c and irq-gic-v3.c), found through the device
//! tree. Interrupt IDs: 0-15 SGIs (inter-processor), 16-31 PPIs (per-CPU,
//! e.g. the timer), 32-1019 SPIs (shared devices, e.g. the UART).
//!
//! v2 talks to a memory-mapped distributor and CPU interface; v3 keeps the
//! distributor, adds one redistributor per CPU for SGIs/PPIs, and moves the
//! CPU interface into system registers (ICC_*_EL1).

use core::arch::asm;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! {u32,
    /// GICD_CTLR (v2 layout; v3 adds ARE_NS at bit 4).
    GICD_CTLR [
        EnableGrp0 OFFSET(0) NUMBITS(1) [],
        EnableGrp1 OFFSET(1) NUMBITS(1) [],
        ARE_NS OFFSET(4) NUMBITS(1) [],
        RWP OFFSET(31) NUMBITS(1) []
    ],
    /// GICD_TYPER.
    GICD_TYPER [
        /// Number of SPI lines / 32 - 1.
        ITLinesNumber OFFSET(0) NUMBITS(5) []
    ],
    /// GICC_CTLR (v2 CPU interface).
    GICC_CTLR [
        Enable OFFSET(0) NUMBITS(1) []
    ],
    /// GICC_IAR / GICC_EOIR.
    GICC_IAR [
        InterruptID OFFSET(0) NUMBITS(10) [],
        CPUID OFFSET(10) NUMBITS(3) []
    ]
}

register_structs! {
    #[allow(non_snake_case)]
    pub GicdRegs {
        (0x000 => CTLR: ReadWrite<u32, GICD_CTLR::Register>),
        (0x004 => TYPER: ReadOnly<u32, GICD_TYPER::Register>),
        (0x008 => _r0),
        (0x080 => IGROUPR: [ReadWrite<u32>; 32]),
        (0x100 => ISENABLER: [ReadWrite<u32>; 32]),
        (0x180 => ICENABLER: [ReadWrite<u32>; 32]),
        (0x200 => _r1),
        (0x400 => IPRIORITYR: [ReadWrite<u32>; 255]),
        (0x7fc => _r2),
        (0x800 => ITARGETSR: [ReadWrite<u32>; 255]),
        (0xbfc => _r3),
        (0xc00 => ICFGR: [ReadWrite<u32>; 64]),
        (0xd00 => _r4),
        (0xf00 => SGIR: WriteOnly<u32>),
        (0xf04 => @END),
    }
}

register_structs! {
    #[allow(non_snake_case)]
    pub GiccRegs {
        (0x00 => CTLR: ReadWrite<u32, GICC_CTLR::Register>),
        (0x04 => PMR: ReadWrite<u32>),
        (0x08 => BPR: ReadWrite<u32>),
        (0x0c => IAR: ReadOnly<u32, GICC_IAR::Register>),
        (0x10 => EOIR: WriteOnly<u32, GICC_IAR::Register>),
        (0x14 => @END),
    }
}

// The v3 redistributor's SGI/PPI frame (RD_base + 64 KiB).
register_structs! {
    #[allow(non_snake_case)]
    pub GicrSgiRegs {
        (0x000 => _r0),
        (0x080 => IGROUPR0: ReadWrite<u32>),
        (0x084 => _r1),
        (0x100 => ISENABLER0: ReadWrite<u32>),
        (0x104 => _r2),
        (0x180 => ICENABLER0: ReadWrite<u32>),
        (0x184 => _r3),
        (0x400 => IPRIORITYR: [ReadWrite<u32>; 8]),
        (0x420 => @END),
    }
}

/// Spurious interrupt ID: nothing to handle.
pub const GIC_SPURIOUS: u32 = 1023;
/// Default priority of every interrupt, and the mask letting them all in.
const DEFAULT_PRIORITY: u32 = 0xa0;
const PRIORITY_MASK: u32 = 0xf0;

pub enum Gic {
    V2 { dist: &'static GicdRegs, cpu: &'static GiccRegs, lines: u32 },
    V3 { dist: &'static GicdRegs, redist: usize, lines: u32 },
}

// SAFETY: MMIO accesses; the GIC serialises them itself.
unsafe impl Sync for Gic {}
// SAFETY: as above.
unsafe impl Send for Gic {}

/// Writes a GICv3 CPU-interface system register by its encoding.
macro_rules! icc_write {
    ($reg:literal, $v:expr) => {
        // SAFETY: ICC_* registers only affect interrupt delivery to this CPU.
        unsafe { asm!(concat!("msr ", $reg, ", {0}"), "isb", in(reg) $v as u64, options(nostack)) }
    };
}

macro_rules! icc_read {
    ($reg:literal) => {{
        let v: u64;
        // SAFETY: as above.
        unsafe { asm!(concat!("mrs {0}, ", $reg), out(reg) v, options(nostack)) };
        v
    }};
}

impl Gic {
    /// # Safety
    /// `dist` and `other` must map the GIC's distributor and (v2) CPU
    /// interface or (v3) redistributor region as Device memory, for good.
    pub unsafe fn new(version: u8, dist: usize, other: usize) -> Gic {
        // SAFETY: per the contract.
        let d = unsafe { &*(dist as *const GicdRegs) };
        let lines = 32 * (d.TYPER.read(GICD_TYPER::ITLinesNumber) + 1);
        if version == 3 {
            Gic::V3 { dist: d, redist: other, lines: lines.min(1020) }
        } else {
            // SAFETY: per the contract.
            Gic::V2 { dist: d, cpu: unsafe { &*(other as *const GiccRegs) }, lines: lines.min(1020) }
        }
    }

    pub fn version(&self) -> u8 {
        match self {
            Gic::V2 { .. } => 2,
            Gic::V3 { .. } => 3,
        }
    }

    pub fn lines(&self) -> u32 {
        match self {
            Gic::V2 { lines, .. } | Gic::V3 { lines, .. } => *lines,
        }
    }

    /// Distributor set-up, once (Linux: gic_dist_init).
    pub fn init_dist(&self) {
        match self {
            Gic::V2 { dist, lines, .. } => {
                dist.CTLR.set(0);
                for i in 1..(*lines as usize / 32) {
                    dist.ICENABLER[i].set(u32::MAX);
                }
                for i in 8..(*lines as usize / 4) {
                    dist.IPRIORITYR[i].set(DEFAULT_PRIORITY * 0x0101_0101);
                    dist.ITARGETSR[i].set(0x0101_0101); // every SPI to CPU 0
                }
                dist.CTLR.write(GICD_CTLR::EnableGrp0::SET);
            }
            Gic::V3 { dist, lines, .. } => {
                dist.CTLR.set(0);
                while dist.CTLR.is_set(GICD_CTLR::RWP) {}
                for i in 1..(*lines as usize / 32) {
                    dist.ICENABLER[i].set(u32::MAX);
                    dist.IGROUPR[i].set(u32::MAX); // non-secure group 1
                }
                for i in 8..(*lines as usize / 4) {
                    dist.IPRIORITYR[i].set(DEFAULT_PRIORITY * 0x0101_0101);
                }
                // Affinity routing on: SPIs route by GICD_IROUTER, which resets to CPU 0.
                dist.CTLR.write(GICD_CTLR::ARE_NS::SET + GICD_CTLR::EnableGrp1::SET);
                while dist.CTLR.is_set(GICD_CTLR::RWP) {}
            }
        }
    }

    /// The v3 redistributor frame of the calling CPU (matched by affinity).
    fn this_redist(redist: usize) -> usize {
        let mpidr = crate::arch::cpu::hwid();
        let aff = (mpidr & 0xff_ffff) | ((mpidr >> 32) & 0xff) << 24;
        let mut rd = redist;
        loop {
            // SAFETY: GICR_TYPER at RD_base + 8, inside the mapped region.
            let typer = unsafe { ((rd + 8) as *const u64).read_volatile() };
            if (typer >> 32) == aff || typer & (1 << 4) != 0 {
                return rd; // matching frame, or the Last frame
            }
            rd += 0x20000;
        }
    }

    /// Per-CPU set-up: SGIs/PPIs and the CPU interface (Linux: gic_cpu_init).
    pub fn init_cpu(&self) {
        match self {
            Gic::V2 { dist, cpu, .. } => {
                for i in 0..8 {
                    dist.IPRIORITYR[i].set(DEFAULT_PRIORITY * 0x0101_0101);
                }
                cpu.PMR.set(PRIORITY_MASK);
                cpu.CTLR.write(GICC_CTLR::Enable::SET);
            }
            Gic::V3 { redist, .. } => {
                let rd = Self::this_redist(*redist);
                // GICR_WAKER: clear ProcessorSleep, wait until ChildrenAsleep clears.
                // SAFETY: RD_base + 0x14 is GICR_WAKER.
                unsafe {
                    let waker = (rd + 0x14) as *mut u32;
                    waker.write_volatile(waker.read_volatile() & !(1 << 1));
                    while waker.read_volatile() & (1 << 2) != 0 {}
                }
                // SAFETY: the SGI frame follows RD_base by 64 KiB.
                let sgi = unsafe { &*((rd + 0x10000) as *const GicrSgiRegs) };
                sgi.IGROUPR0.set(u32::MAX);
                for p in sgi.IPRIORITYR.iter() {
                    p.set(DEFAULT_PRIORITY * 0x0101_0101);
                }
                let sre = icc_read!("S3_0_C12_C12_5"); // ICC_SRE_EL1
                icc_write!("S3_0_C12_C12_5", sre | 1);
                icc_write!("S3_0_C4_C6_0", PRIORITY_MASK); // ICC_PMR_EL1
                icc_write!("S3_0_C12_C12_7", 1u64); // ICC_IGRPEN1_EL1
            }
        }
    }

    /// Sets or clears the enable bit of `intid`: SGIs and PPIs live in the
    /// calling CPU's redistributor on v3, everything else in the distributor.
    fn set_enabled(&self, intid: u32, on: bool) {
        let (reg, bit) = ((intid / 32) as usize, 1u32 << (intid % 32));
        match self {
            Gic::V3 { redist, .. } if intid < 32 => {
                // SAFETY: the SGI frame of this CPU's redistributor.
                let sgi = unsafe { &*((Self::this_redist(*redist) + 0x10000) as *const GicrSgiRegs) };
                if on {
                    sgi.ISENABLER0.set(bit)
                } else {
                    sgi.ICENABLER0.set(bit)
                }
            }
            Gic::V2 { dist, .. } | Gic::V3 { dist, .. } => {
                if on {
                    dist.ISENABLER[reg].set(bit)
                } else {
                    dist.ICENABLER[reg].set(bit)
                }
            }
        }
    }

    /// Linux: gic_unmask_irq.
    pub fn enable(&self, intid: u32) {
        self.set_enabled(intid, true);
    }

    /// Linux: gic_mask_irq.
    pub fn disable(&self, intid: u32) {
        self.set_enabled(intid, false);
    }

    /// Acknowledges the highest-priority pending interrupt; returns the raw
    /// IAR value (its low 10 bits are the ID; 1023 = spurious).
    pub fn ack(&self) -> u32 {
        match self {
            Gic::V2 { cpu, .. } => cpu.IAR.get(),
            Gic::V3 { .. } => icc_read!("S3_0_C12_C12_0") as u32, // ICC_IAR1_EL1
        }
    }

    /// Signals the end of handling (Linux: gic_eoi_irq).
    pub fn eoi(&self, iar: u32) {
        match self {
            Gic::V2 { cpu, .. } => cpu.EOIR.set(iar),
            Gic::V3 { .. } => icc_write!("S3_0_C12_C12_1", iar), // ICC_EOIR1_EL1
        }
    }

    /// Sends SGI `sgi` (0-15) to the CPUs in `targets` (a bitmask of CPU
    /// numbers, Aff0 only) (Linux: gic_ipi_send_mask).
    pub fn send_sgi(&self, sgi: u32, targets: u16) {
        match self {
            Gic::V2 { dist, .. } => dist.SGIR.set(((targets as u32 & 0xff) << 16) | sgi),
            Gic::V3 { .. } => {
                // ICC_SGI1R_EL1: INTID [27:24], TargetList [15:0] (Aff0 bits), Aff1.. = 0.
                let v = ((sgi as u64) << 24) | targets as u64;
                // SAFETY: sends an SGI; no memory effects.
                unsafe { asm!("dsb ishst", "msr S3_0_C12_C11_5, {0}", "isb", in(reg) v, options(nostack)) };
            }
        }
    }
}
