//! Decoding MIDR_EL1 (Main ID Register) into the name Linux prints, modelled
//! on arch/arm64/include/asm/cputype.h.
//!
//! Layout: Implementer [31:24], Variant [23:20], Architecture [19:16],
//! PartNum [15:4], Revision [3:0].

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Midr(pub u32);

impl Midr {
    pub fn implementer(self) -> u8 {
        (self.0 >> 24) as u8
    }
    pub fn variant(self) -> u8 {
        ((self.0 >> 20) & 0xf) as u8
    }
    pub fn part(self) -> u16 {
        ((self.0 >> 4) & 0xfff) as u16
    }
    pub fn revision(self) -> u8 {
        (self.0 & 0xf) as u8
    }
    /// The core's marketing name, or None if we do not know it.
    pub fn name(self) -> Option<&'static str> {
        Some(match (self.implementer(), self.part()) {
            (0x41, 0xd03) => "Cortex-A53",
            (0x41, 0xd04) => "Cortex-A35",
            (0x41, 0xd05) => "Cortex-A55",
            (0x41, 0xd07) => "Cortex-A57",
            (0x41, 0xd08) => "Cortex-A72",
            (0x41, 0xd09) => "Cortex-A73",
            (0x41, 0xd0a) => "Cortex-A75",
            (0x41, 0xd0b) => "Cortex-A76",
            (0x41, 0xd0c) => "Neoverse-N1",
            (0x41, 0xd0d) => "Cortex-A77",
            (0x41, 0xd40) => "Neoverse-V1",
            (0x41, 0xd41) => "Cortex-A78",
            (0x41, 0xd44) => "Cortex-X1",
            (0x41, 0xd46) => "Cortex-A510",
            (0x41, 0xd47) => "Cortex-A710",
            (0x41, 0xd48) => "Cortex-X2",
            (0x41, 0xd49) => "Neoverse-N2",
            (0x00, 0x051) => "QEMU max",
            _ => return None,
        })
    }
    pub fn implementer_name(self) -> &'static str {
        match self.implementer() {
            0x00 => "Reserved (software)",
            0x41 => "ARM",
            0x42 => "Broadcom",
            0x43 => "Cavium",
            0x51 => "Qualcomm",
            0x61 => "Apple",
            _ => "unknown",
        }
    }
}

impl core::fmt::Display for Midr {
    /// `Cortex-A72 r0p3`, or `ARM part 0xd99 r1p0` for an unknown part.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}")?,
            None => write!(f, "{} part {:#05x}", self.implementer_name(), self.part())?,
        }
        write!(f, " r{}p{}", self.variant(), self.revision())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn decodes_the_cores_qemu_offers() {
        assert_eq!(Midr(0x410f_d083).to_string(), "Cortex-A72 r0p3");
        assert_eq!(Midr(0x411f_d070).to_string(), "Cortex-A57 r1p0");
        assert_eq!(Midr(0x410f_d034).to_string(), "Cortex-A53 r0p4");
        assert_eq!(Midr(0x41ff_d999).to_string(), "ARM part 0xd99 r15p9");
    }
}
