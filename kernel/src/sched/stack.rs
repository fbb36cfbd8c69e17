//! Kernel stacks (Linux: kernel/fork.c alloc_thread_stack_node with
//! CONFIG_VMAP_STACK; arch/arm64/include/asm/memory.h THREAD_SIZE).
//!
//! Every task's stack is THREAD_SIZE bytes of vmalloc space, aligned to
//! 2 × THREAD_SIZE. The page below it is never mapped (vmalloc leaves a
//! guard page after every area, and the alignment gap or the previous
//! area's guard lies below ours), so running off the bottom faults instead
//! of silently overwriting whatever lies below.
//!
//! The alignment is what lets the exception entry notice the overflow
//! without touching memory: every valid stack pointer has bit THREAD_SHIFT
//! clear, and one that ran off the bottom has it set (entry.S,
//! `kernel_ventry`). The boot CPU's stack in the image is aligned the same
//! way (linker.ld), and the secondary CPUs start on their idle task's stack.
//!
//! A few freed stacks are kept for the next tasks (Linux: the per-CPU
//! cached_stacks of alloc_thread_stack_node): mapping 16 pages of vmalloc
//! space and unmapping them with a TLB flush is most of what a short-lived
//! process costs. A reused stack is zeroed first, as Linux zeroes it.

use crate::mm::page_alloc::mod_node_page_state;
use crate::mm::vmalloc::{__vmalloc_node, vfree, vmalloc_to_pfn};
use pagoda_mm::gfp::Gfp;
use pagoda_mm::vmstat::NodeStatItem;

/// log2 of the kernel stack size (64 KiB; Linux arm64 uses 16 KiB, but
/// Pagoda's test kernel keeps larger frames on the stack).
pub const THREAD_SHIFT: usize = 16;
pub const THREAD_SIZE: usize = 1 << THREAD_SHIFT;
/// Stacks are aligned to twice their size (Linux: THREAD_ALIGN).
pub const THREAD_ALIGN: usize = 2 * THREAD_SIZE;

const _: () = assert!(THREAD_SHIFT == 16, "entry.S and linker.ld hard-code THREAD_SHIFT = 16");

/// A task's kernel stack; freed (or cached) when dropped.
pub struct KernelStack {
    bottom: usize,
}

/// Freed stacks kept for reuse (Linux: NR_CACHED_STACKS per CPU; one pool
/// here); 0 is an empty slot.
const NR_CACHED_STACKS: usize = 4;
static CACHED_STACKS: crate::sync::SpinLockIrq<[usize; NR_CACHED_STACKS]> =
    crate::sync::SpinLockIrq::new([0; NR_CACHED_STACKS]);

impl KernelStack {
    /// Linux: alloc_thread_stack_node. None when memory is short.
    pub fn alloc() -> Option<Self> {
        let cached = CACHED_STACKS.lock().iter_mut().find(|s| **s != 0).map(core::mem::take);
        let bottom = match cached {
            Some(b) => {
                // SAFETY: a whole stack of ours, mapped as Normal memory.
                unsafe { crate::arch::mm::page::clear_pages(b, THREAD_SIZE) };
                b
            }
            None => __vmalloc_node(THREAD_SIZE, THREAD_ALIGN, Gfp::GFP_KERNEL)?,
        };
        account_kernel_stack(bottom, 1);
        Some(KernelStack { bottom })
    }

    pub fn bottom(&self) -> usize {
        self.bottom
    }

    /// The initial stack pointer.
    pub fn top(&self) -> usize {
        self.bottom + THREAD_SIZE
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        account_kernel_stack(self.bottom, -1);
        let kept = {
            let mut cache = CACHED_STACKS.lock();
            match cache.iter_mut().find(|s| **s == 0) {
                Some(slot) => {
                    *slot = self.bottom;
                    true
                }
                None => false,
            }
        };
        if !kept {
            vfree(self.bottom);
        }
    }
}

/// Counts the stack's pages in NR_KERNEL_STACK_KB of the nodes they come
/// from (Linux: account_kernel_stack; meminfo's KernelStack line).
fn account_kernel_stack(bottom: usize, sign: isize) {
    for va in (bottom..bottom + THREAD_SIZE).step_by(pagoda_mm::addr::PAGE_SIZE) {
        if let Some(pfn) = vmalloc_to_pfn(va) {
            mod_node_page_state(pfn, NodeStatItem::NrKernelStackKb, sign * 4);
        }
    }
}

/// Whether `sp` lies on a stack placed as above: the test the exception
/// entry makes in assembly, for host-side reasoning and ktests.
pub fn sp_in_lower_half(sp: usize) -> bool {
    sp & THREAD_SIZE == 0
}
