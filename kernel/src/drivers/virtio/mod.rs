//! virtio devices on the virtio-mmio transport (Linux: drivers/virtio/
//! virtio_mmio.c, which probes each `virtio,mmio` node of the device tree
//! and hands the device to the driver for its type).
//!
//! QEMU virt has 32 such transports; those with nothing plugged in report
//! device ID 0 and are skipped. Pagoda drives block devices; other types
//! are listed and left alone.

pub mod blk;
mod hal;

use crate::drivers::devicetree;
use core::ptr::NonNull;
use log::{debug, info, warn};
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};

/// Probes every virtio-mmio transport (Linux: virtio_mmio_probe for each
/// node, then the virtio bus matching a driver).
pub fn virtio_mmio_init() {
    let mut found = 0;
    for (reg, irq) in devicetree::virtio_mmio_transports() {
        let Ok(va) = crate::mm::ioremap::ioremap(reg.base, reg.size.max(0x200)) else {
            warn!("virtio_mmio: cannot map {:#x}", reg.base);
            continue;
        };
        let Some(header) = NonNull::new(va as *mut VirtIOHeader) else { continue };
        // SAFETY: `va` maps the transport's whole register window as Device
        // memory, for the rest of the kernel's life.
        let transport = match unsafe { MmioTransport::new(header, reg.size.max(0x200)) } {
            Ok(t) => t,
            Err(e) => {
                // An empty slot (device ID 0) is the common case.
                debug!("virtio_mmio at {:#x}: {e}", reg.base);
                crate::mm::ioremap::iounmap(va);
                continue;
            }
        };
        found += 1;
        match transport.device_type() {
            DeviceType::Block => {
                let _ = blk::probe(transport, irq, reg.base);
            }
            t => info!("virtio_mmio at {:#x}: {t:?} device, no driver", reg.base),
        }
    }
    if found == 0 {
        info!("virtio_mmio: no devices");
    }
}
