//! Decoding of ESR_ELx, the Exception Syndrome Register, modelled on
//! arch/arm64/include/asm/esr.h, arch/arm64/kernel/traps.c (esr_class_str)
//! and the fault_info table of arch/arm64/mm/fault.c.
//!
//! ESR layout (Arm ARM D17.2.37): EC [31:26] exception class, IL [25]
//! instruction length, ISS [24:0] class-specific syndrome.

use core::fmt::{self, Write};

/// Exception classes Pagoda handles or names.
pub mod ec {
    pub const UNKNOWN: u8 = 0x00;
    pub const WFX: u8 = 0x01;
    pub const FP_ASIMD: u8 = 0x07;
    pub const BTI: u8 = 0x0d;
    pub const ILL: u8 = 0x0e;
    pub const SVC32: u8 = 0x11;
    pub const SVC64: u8 = 0x15;
    pub const HVC64: u8 = 0x16;
    pub const SMC64: u8 = 0x17;
    pub const SYS64: u8 = 0x18;
    pub const SVE: u8 = 0x19;
    pub const IABT_LOW: u8 = 0x20;
    pub const IABT_CUR: u8 = 0x21;
    pub const PC_ALIGN: u8 = 0x22;
    pub const DABT_LOW: u8 = 0x24;
    pub const DABT_CUR: u8 = 0x25;
    pub const SP_ALIGN: u8 = 0x26;
    pub const FP_EXC64: u8 = 0x2c;
    pub const SERROR: u8 = 0x2f;
    pub const BREAKPT_LOW: u8 = 0x30;
    pub const BREAKPT_CUR: u8 = 0x31;
    pub const SOFTSTP_LOW: u8 = 0x32;
    pub const SOFTSTP_CUR: u8 = 0x33;
    pub const WATCHPT_LOW: u8 = 0x34;
    pub const WATCHPT_CUR: u8 = 0x35;
    pub const BRK64: u8 = 0x3c;
}

/// A raw ESR_EL1 value with named accessors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Esr(pub u64);

impl Esr {
    /// Exception Class, ESR[31:26].
    pub fn ec(self) -> u8 {
        ((self.0 >> 26) & 0x3f) as u8
    }
    /// Instruction Length: true for a 32-bit instruction, ESR[25].
    pub fn il(self) -> bool {
        self.0 & (1 << 25) != 0
    }
    /// Instruction Specific Syndrome, ESR[24:0].
    pub fn iss(self) -> u32 {
        (self.0 & 0x1ff_ffff) as u32
    }
    /// Fault Status Code of an abort (DFSC/IFSC), ISS[5:0].
    pub fn fsc(self) -> u8 {
        (self.0 & 0x3f) as u8
    }
    /// Write not Read of a data abort, ISS[6].
    pub fn wnr(self) -> bool {
        self.0 & (1 << 6) != 0
    }
    /// Cache Maintenance: the abort came from a cache maintenance instruction, ISS[8].
    pub fn cm(self) -> bool {
        self.0 & (1 << 8) != 0
    }
    /// FAR not Valid, ISS[10].
    pub fn fnv(self) -> bool {
        self.0 & (1 << 10) != 0
    }
    /// The immediate of a BRK/SVC/HVC, ISS[15:0].
    pub fn imm16(self) -> u16 {
        self.0 as u16
    }
    /// Whether this is an instruction or data abort.
    pub fn is_abort(self) -> bool {
        matches!(self.ec(), ec::IABT_LOW | ec::IABT_CUR | ec::DABT_LOW | ec::DABT_CUR)
    }
    /// The class name, as Linux's `esr_class_str` prints it.
    pub fn class_str(self) -> &'static str {
        class_str(self.ec())
    }
    /// The fault-status name, as Linux's `fault_info[].name`.
    pub fn fsc_str(self) -> &'static str {
        fsc_str(self.fsc())
    }
    /// Kind of abort, for the fault handler.
    pub fn fault_kind(self) -> FaultKind {
        match self.fsc() {
            0x04..=0x07 => FaultKind::Translation(self.fsc() & 3),
            0x08..=0x0b => FaultKind::AccessFlag(self.fsc() & 3),
            0x0c..=0x0f => FaultKind::Permission(self.fsc() & 3),
            0x21 => FaultKind::Alignment,
            _ => FaultKind::Other,
        }
    }
}

/// What an abort's FSC says went wrong, with the table level where relevant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Translation(u8),
    AccessFlag(u8),
    Permission(u8),
    Alignment,
    Other,
}

pub fn class_str(ec: u8) -> &'static str {
    match ec {
        ec::UNKNOWN => "Unknown/Uncategorized",
        ec::WFX => "WFI/WFE",
        ec::FP_ASIMD => "ASIMD",
        ec::BTI => "BTI",
        ec::ILL => "PSTATE.IL",
        ec::SVC32 => "SVC (AArch32)",
        ec::SVC64 => "SVC (AArch64)",
        ec::HVC64 => "HVC (AArch64)",
        ec::SMC64 => "SMC (AArch64)",
        ec::SYS64 => "MSR/MRS (AArch64)",
        ec::SVE => "SVE",
        ec::IABT_LOW => "IABT (lower EL)",
        ec::IABT_CUR => "IABT (current EL)",
        ec::PC_ALIGN => "PC Alignment",
        ec::DABT_LOW => "DABT (lower EL)",
        ec::DABT_CUR => "DABT (current EL)",
        ec::SP_ALIGN => "SP Alignment",
        ec::FP_EXC64 => "FP (AArch64)",
        ec::SERROR => "SError",
        ec::BREAKPT_LOW => "Breakpoint (lower EL)",
        ec::BREAKPT_CUR => "Breakpoint (current EL)",
        ec::SOFTSTP_LOW => "Software Step (lower EL)",
        ec::SOFTSTP_CUR => "Software Step (current EL)",
        ec::WATCHPT_LOW => "Watchpoint (lower EL)",
        ec::WATCHPT_CUR => "Watchpoint (current EL)",
        ec::BRK64 => "BRK (AArch64)",
        _ => "UNRECOGNIZED EC",
    }
}

pub fn fsc_str(fsc: u8) -> &'static str {
    const LEVEL_NAMES: [[&str; 4]; 4] = [
        [
            "level 0 address size fault",
            "level 1 address size fault",
            "level 2 address size fault",
            "level 3 address size fault",
        ],
        [
            "level 0 translation fault",
            "level 1 translation fault",
            "level 2 translation fault",
            "level 3 translation fault",
        ],
        [
            "level 0 access flag fault",
            "level 1 access flag fault",
            "level 2 access flag fault",
            "level 3 access flag fault",
        ],
        [
            "level 0 permission fault",
            "level 1 permission fault",
            "level 2 permission fault",
            "level 3 permission fault",
        ],
    ];
    match fsc {
        0x00..=0x0f => LEVEL_NAMES[(fsc >> 2) as usize][(fsc & 3) as usize],
        0x10 => "synchronous external abort",
        0x11 => "synchronous tag check fault",
        0x14..=0x17 => "synchronous external abort (translation table walk)",
        0x18 => "synchronous parity or ECC error",
        0x1c..=0x1f => "synchronous parity or ECC error (translation table walk)",
        0x21 => "alignment fault",
        0x30 => "TLB conflict abort",
        0x31 => "Unsupported atomic hardware update fault",
        0x34 => "implementation fault (lockdown abort)",
        0x35 => "implementation fault (unsupported exclusive)",
        0x3d => "section domain fault",
        0x3e => "page domain fault",
        _ => "unknown fault status",
    }
}

/// Writes the `Mem abort info:` block Linux prints in an oops (mem_abort_decode).
pub fn write_mem_abort_info(esr: Esr, w: &mut impl Write) -> fmt::Result {
    writeln!(w, "Mem abort info:")?;
    writeln!(w, "  ESR = {:#010x}", esr.0)?;
    writeln!(
        w,
        "  EC = {:#04x}: {}, IL = {} bits",
        esr.ec(),
        esr.class_str(),
        if esr.il() { 32 } else { 16 }
    )?;
    writeln!(w, "  SET = {}, FnV = {}", (esr.0 >> 11) & 3, esr.fnv() as u8)?;
    writeln!(w, "  EA = {}, S1PTW = {}", (esr.0 >> 9) & 1, (esr.0 >> 7) & 1)?;
    writeln!(w, "  FSC = {:#04x}: {}", esr.fsc(), esr.fsc_str())?;
    if matches!(esr.ec(), ec::DABT_LOW | ec::DABT_CUR) {
        writeln!(w, "Data abort info:")?;
        writeln!(w, "  ISV = {}, ISS = {:#010x}", (esr.0 >> 24) & 1, esr.iss())?;
        writeln!(w, "  CM = {}, WnR = {}", esr.cm() as u8, esr.wnr() as u8)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn decodes_a_kernel_write_translation_fault() {
        // A store (WnR) to an unmapped kernel address, level 3 translation fault.
        let esr = Esr(0x9600_0047);
        assert_eq!(esr.ec(), ec::DABT_CUR);
        assert!(esr.il() && esr.wnr() && esr.is_abort());
        assert_eq!(esr.fault_kind(), FaultKind::Translation(3));
        let mut s = String::new();
        write_mem_abort_info(esr, &mut s).unwrap();
        assert!(s.contains("EC = 0x25: DABT (current EL), IL = 32 bits"), "{s}");
        assert!(s.contains("FSC = 0x07: level 3 translation fault"), "{s}");
        assert!(s.contains("CM = 0, WnR = 1"), "{s}");
    }

    #[test]
    fn decodes_permission_access_flag_alignment_and_brk() {
        assert_eq!(Esr(0x9600_004f).fault_kind(), FaultKind::Permission(3));
        assert_eq!(Esr(0x9200_000b).fault_kind(), FaultKind::AccessFlag(3));
        assert_eq!(Esr(0x9600_0021).fault_kind(), FaultKind::Alignment);
        let brk = Esr(0xf200_0800);
        assert_eq!(brk.ec(), ec::BRK64);
        assert_eq!(brk.imm16(), 0x800);
        assert_eq!(brk.class_str(), "BRK (AArch64)");
        assert_eq!(Esr(0x8600_000e).class_str(), "IABT (current EL)");
        assert_eq!(Esr(0x8600_000e).fsc_str(), "level 2 permission fault");
    }

    #[test]
    fn unknown_values_have_names_too() {
        assert_eq!(class_str(0x3f), "UNRECOGNIZED EC");
        assert_eq!(fsc_str(0x3f), "unknown fault status");
    }
}
