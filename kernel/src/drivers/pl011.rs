//! Arm PL011 UART (PrimeCell UART, Arm DDI 0183), polled transmit and
//! receive. Modelled on drivers/tty/serial/amba-pl011.c's earlycon path.
//!
//! The base address comes from the device tree (`/chosen/stdout-path`).
//! QEMU's model needs no baud-rate programming, and we leave the divisors
//! as firmware set them, like Linux's earlycon.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! {u32,
    /// Data Register.
    DR [
        DATA OFFSET(0) NUMBITS(8) []
    ],
    /// Flag Register.
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    /// Line Control Register.
    LCR_H [
        /// Word length.
        WLEN OFFSET(5) NUMBITS(2) [ EightBit = 0b11 ],
        /// Enable FIFOs.
        FEN OFFSET(4) NUMBITS(1) []
    ],
    /// Control Register.
    CR [
        RXE OFFSET(9) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        UARTEN OFFSET(0) NUMBITS(1) []
    ],
    /// Interrupt Mask Set/Clear Register (1 = interrupt enabled).
    IMSC [
        /// Receive timeout: data has sat in the FIFO for 32 bit periods.
        RTIM OFFSET(6) NUMBITS(1) [],
        /// Receive: the FIFO reached its trigger level.
        RXIM OFFSET(4) NUMBITS(1) []
    ],
    /// Interrupt Clear Register.
    ICR [
        ALL OFFSET(0) NUMBITS(11) []
    ]
}

register_structs! {
    #[allow(non_snake_case)]
    pub Pl011Regs {
        (0x00 => DR: ReadWrite<u32, DR::Register>),
        (0x04 => _reserved0),
        (0x18 => FR: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
        (0x2c => LCR_H: ReadWrite<u32, LCR_H::Register>),
        (0x30 => CR: ReadWrite<u32, CR::Register>),
        (0x34 => _reserved2),
        (0x38 => IMSC: ReadWrite<u32, IMSC::Register>),
        (0x3c => _reserved3),
        (0x44 => ICR: WriteOnly<u32, ICR::Register>),
        (0x48 => @END),
    }
}

pub struct Pl011 {
    regs: *const Pl011Regs,
}

// SAFETY: the registers are MMIO; callers serialise access through the console lock.
unsafe impl Send for Pl011 {}
// SAFETY: as above.
unsafe impl Sync for Pl011 {}

impl Pl011 {
    /// # Safety
    /// `base` must be the virtual address of a PL011's registers, mapped as
    /// Device memory for as long as the driver is used.
    pub const unsafe fn new(base: usize) -> Self {
        Self { regs: base as *const Pl011Regs }
    }

    fn regs(&self) -> &Pl011Regs {
        // SAFETY: guaranteed by `new`'s contract.
        unsafe { &*self.regs }
    }

    /// Transmit and receive enabled, interrupts masked and cleared. The
    /// line settings (LCR_H) are left as firmware set them, as Linux's
    /// earlycon does: changing FEN resets the receive FIFO, and would drop
    /// input that is already waiting.
    pub fn init(&self) {
        let r = self.regs();
        while r.FR.is_set(FR::BUSY) {}
        r.IMSC.set(0);
        r.ICR.write(ICR::ALL::SET);
        r.CR.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    pub fn putc(&self, c: u8) {
        let r = self.regs();
        while r.FR.is_set(FR::TXFF) {}
        r.DR.set(c as u32);
    }

    #[cfg_attr(feature = "ktest", allow(dead_code))] // only the monitor reads
    /// A received byte, if one is waiting.
    pub fn getc(&self) -> Option<u8> {
        let r = self.regs();
        (!r.FR.is_set(FR::RXFE)).then(|| r.DR.read(DR::DATA) as u8)
    }

    /// Raises an interrupt when bytes arrive (receive and receive timeout).
    pub fn enable_rx_interrupt(&self) {
        self.regs().ICR.write(ICR::ALL::SET);
        self.regs().IMSC.write(IMSC::RXIM::SET + IMSC::RTIM::SET);
    }

    /// Acknowledges all interrupts.
    pub fn clear_interrupts(&self) {
        self.regs().ICR.write(ICR::ALL::SET);
    }

    /// Waits until everything written has left the transmitter.
    pub fn flush(&self) {
        while self.regs().FR.is_set(FR::BUSY) {}
    }
}
