//! The kernel's memblock instance and its setup from the device tree
//! (Linux: arm64_memblock_init in arch/arm64/mm/init.c, and
//! early_init_dt_scan_memory). The algorithm is pagoda_mm::memblock.

use crate::arch::mm::layout;
use crate::drivers::devicetree;
use log::{info, warn};
use pagoda_mm::memblock::{Memblock, MemblockError};
use spin::Mutex;

pub static MEMBLOCK: Mutex<Memblock> = Mutex::new(Memblock::new());

/// Adds RAM from the device tree, applies `mem=`, reserves the kernel, the
/// device tree, the initrd and /reserved-memory, and sets PHYS_OFFSET.
pub fn arm64_memblock_init(cmdline: &str, fdt_pa: usize) {
    let mut mb = MEMBLOCK.lock();
    for (r, nid) in devicetree::memory_banks() {
        if let Err(e) = mb.add_node(r.base, r.size, nid) {
            warn!("memblock: cannot add [mem {:#x}-{:#x}]: {e:?}", r.base, r.base + r.size - 1);
        }
    }
    if let Some(Some(v)) = pagoda_klib::cmdline::get(cmdline, "mem") {
        match pagoda_klib::cmdline::memparse(v) {
            Some(limit) if limit >= 64 << 20 => {
                mb.enforce_memory_limit(limit as usize).expect("memblock: mem= cut");
                info!("memblock: mem={v}: RAM limited to {} MiB", limit >> 20);
            }
            _ => warn!("memblock: ignoring mem={v}: not a size of at least 64M"),
        }
    }
    let text = layout::pa_symbol(crate::kernel::sections::text() as *const u8);
    let end = layout::pa_symbol(crate::kernel::sections::end() as *const u8);
    let reserve = |mb: &mut Memblock, base: usize, size: usize, what: &str| -> Result<(), MemblockError> {
        info!("memblock: reserve [mem {:#018x}-{:#018x}] {what}", base, base + size - 1);
        mb.reserve(base, size)
    };
    let _ = reserve(&mut mb, text, end - text, "kernel image");
    let fdt_size = devicetree::get().total_size();
    let _ = reserve(&mut mb, fdt_pa, fdt_size, "device tree");
    if let Some(r) = devicetree::initrd() {
        let _ = reserve(&mut mb, r.base & !0xfff, (r.size + (r.base & 0xfff) + 0xfff) & !0xfff, "initrd");
    }
    for r in devicetree::reserved_memory() {
        let _ = reserve(&mut mb, r.base, r.size, "/reserved-memory");
    }
    let start = mb.start_of_dram().expect("no RAM in the device tree");
    layout::set_phys_offset(start & !(layout::ARM64_MEMSTART_ALIGN - 1));
    drop(mb);
    memblock_dump_all();
}

/// Prints both region arrays (Linux: memblock_dump_all, under memblock=debug).
pub fn memblock_dump_all() {
    let mb = MEMBLOCK.lock();
    info!(
        "MEMBLOCK configuration: memory size = {:#x} reserved size = {:#x}",
        mb.memory.total_size(),
        mb.reserved.total_size()
    );
    for (name, set) in [("memory", &mb.memory), ("reserved", &mb.reserved)] {
        info!(" {name}.cnt  = {:#x}", set.len());
        for (i, r) in set.iter().enumerate() {
            info!(
                " {name}[{i:#x}]\t[{:#018x}-{:#018x}], {:#x} bytes on node {}",
                r.base,
                r.end() - 1,
                r.size,
                r.nid
            );
        }
    }
}

/// Set when memblock has handed its free memory to the buddy allocator.
static RETIRED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Marks memblock retired (Linux: after memblock_free_all, memblock
/// allocations are a bug): its free ranges now belong to the buddy allocator.
pub fn retire() {
    RETIRED.store(true, core::sync::atomic::Ordering::Release);
}

pub fn is_retired() -> bool {
    RETIRED.load(core::sync::atomic::Ordering::Acquire)
}

/// Allocates and reserves `size` bytes (Linux: memblock_phys_alloc).
/// Refused, with a warning, once the buddy allocator has taken over.
pub fn phys_alloc(size: usize, align: usize) -> Option<usize> {
    if is_retired() {
        warn!("memblock: allocation of {size} bytes after memblock_free_all refused");
        return None;
    }
    MEMBLOCK.lock().alloc(size, align).ok()
}

/// Like `phys_alloc`, within `[start, end)` (Linux: memblock_alloc_range_nid).
pub fn phys_alloc_range(size: usize, align: usize, start: usize, end: usize) -> Option<usize> {
    if is_retired() {
        return None;
    }
    MEMBLOCK.lock().alloc_range(size, align, start, end).ok()
}

/// Releases a memblock allocation (Linux: memblock_phys_free).
pub fn phys_free(base: usize, size: usize) {
    let _ = MEMBLOCK.lock().free(base, size);
}

/// Sets the highest address memblock may hand out (Linux: memblock_set_current_limit).
pub fn set_current_limit(limit: usize) {
    MEMBLOCK.lock().current_limit = limit;
}
