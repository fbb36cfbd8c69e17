//! Device drivers, only what the lessons need: the interrupt controller
//! (gic), the UART (pl011), the console on top of it, virtio block devices
//! (virtio), and the device tree that describes the machine (Linux:
//! drivers/of).
pub mod console;
pub mod devicetree;
pub mod gic;
pub mod pl011;
pub mod virtio;
