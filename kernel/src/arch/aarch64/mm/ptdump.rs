//! Teaching views of the page tables (Linux: arch/arm64/mm/ptdump.c, i.e.
//! /sys/kernel/debug/kernel_page_tables), as monitor commands:
//!
//! - `pt VADDR`: walk one address level by level, decode each descriptor,
//!   and compare the result with the hardware's own walk (AT S1E1R).
//! - `kpt`: every kernel mapping as address ranges with their attributes
//!   and block sizes.

use super::layout::*;
use crate::arch::mm::mmu::{self, with_kernel_pgtable, KernelPgtableMem};
use crate::{kprintln, monitor_cmd};
use pagoda_mm::pgtable::desc::{self, Desc};
use pagoda_mm::pgtable::walk::{level_name, level_size};
use pagoda_mm::pgtable::{PageTable, Prot};

/// `1024K`, `2M`, `1G`: a size as ptdump prints it.
pub struct Size(pub usize);

impl core::fmt::Display for Size {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.0;
        let (v, unit) = if s >= 1 << 30 && s.is_multiple_of(1 << 30) {
            (s >> 30, 'G')
        } else if s >= 1 << 20 && s.is_multiple_of(1 << 20) {
            (s >> 20, 'M')
        } else {
            (s >> 10, 'K')
        };
        let mut text = pagoda_klib::fmtbuf::FmtBuf::<24>::new();
        let _ = core::fmt::write(&mut text, format_args!("{v}{unit}"));
        f.pad(text.as_str())
    }
}

fn memtype(prot: Prot) -> &'static str {
    if prot.contains(Prot::DEVICE) {
        "DEVICE/nGnRE"
    } else if prot.contains(Prot::NOCACHE) {
        "MEM/NORMAL-NC"
    } else {
        "MEM/NORMAL"
    }
}

/// `ro x`, `RW NX`, `USR`: the permission columns of ptdump.
pub fn perms(prot: Prot) -> (&'static str, &'static str, &'static str) {
    (
        if prot.contains(Prot::WRITE) { "RW" } else { "ro" },
        if prot.contains(Prot::EXEC) { "x " } else { "NX" },
        if prot.contains(Prot::USER) { "USR" } else { "   " },
    )
}

const ATTR_NAMES: [&str; 8] =
    ["DEVICE_nGnRnE", "DEVICE_nGnRE", "DEVICE_GRE", "NORMAL_NC", "NORMAL", "NORMAL_WT", "?", "?"];
const AP_NAMES: [&str; 4] = ["RW EL1", "RW EL1+EL0", "RO EL1", "RO EL1+EL0"];

/// Parses a hex address, with or without `0x`, ignoring `_` separators.
fn parse_addr(s: &str) -> Option<usize> {
    let s = s.trim();
    let digits = s.strip_prefix("0x").unwrap_or(s);
    let mut v: usize = 0;
    let mut any = false;
    for c in digits.chars().filter(|&c| c != '_') {
        v = v.checked_mul(16)?.checked_add(c.to_digit(16)? as usize)?;
        any = true;
    }
    any.then_some(v)
}

/// Prints the walk of `va` (the `pt` command).
pub fn print_walk(va: usize) {
    let (ttbr, root) = mmu::root_for(va);
    kprintln!("pt {va:#018x}: {ttbr} -> table at {:#x}", root.0);
    let mut mem = KernelPgtableMem;
    let w = PageTable::new(root, &mut mem).walk(va);
    for s in &w.steps[..w.depth] {
        let name = level_name(s.level);
        let what = match desc::decode(s.raw, s.level) {
            Desc::Invalid => "invalid: the walk stops here (translation fault)",
            Desc::Table(_) => "table",
            Desc::Leaf { .. } if s.level == 3 => "page",
            Desc::Leaf { .. } => "block",
        };
        kprintln!("  {name}[{:3}] @ {:#x}: {:#018x}  {what}", s.index, s.table + 8 * s.index, s.raw);
        match desc::decode(s.raw, s.level) {
            Desc::Table(next) => kprintln!("         next-level table at {next:#x}"),
            Desc::Leaf { pa, prot } => {
                let f = desc::fields(s.raw);
                let (rw, x, user) = perms(prot);
                kprintln!(
                    "         {} {:#x}, {}: AttrIndx={} ({}) AP={:02b} ({}) SH={} AF={} nG={} PXN={} UXN={}",
                    if s.level == 3 { "page" } else { "block" },
                    pa,
                    Size(level_size(s.level)),
                    f[0].1,
                    ATTR_NAMES[f[0].1 as usize],
                    f[1].1,
                    AP_NAMES[f[1].1 as usize],
                    f[2].1,
                    f[3].1,
                    f[4].1,
                    f[5].1,
                    f[6].1
                );
                kprintln!("         = {rw} {x} {user} {}", memtype(prot));
            }
            Desc::Invalid => {}
        }
    }
    let hw = mmu::at_s1e1r(va);
    match (w.leaf, hw) {
        (Some((pa, _, _)), Some(hw)) => kprintln!(
            "  => PA {:#x}; hardware AT S1E1R says {hw:#x} {}",
            pa.0,
            if hw == pa.0 { "(agrees)" } else { "(DISAGREES: stale TLB or table?)" }
        ),
        (None, None) => kprintln!(
            "  => not mapped; hardware AT S1E1R faults too (PAR_EL1 = {:#x})",
            mmu::at_s1e1r_raw(va)
        ),
        (sw, hw) => kprintln!("  => software walk {sw:?} but hardware says {hw:?}"),
    }
}

fn cmd_pt(args: &str) {
    match parse_addr(args) {
        Some(va) => print_walk(va),
        None => kprintln!("usage: pt VADDR   (hex, e.g. pt ffff800000000000)"),
    }
}

/// Region markers between which `kpt` prints mappings.
fn markers() -> [(usize, &'static str); 8] {
    [
        (MODULES_VADDR, "Modules start"),
        (VMALLOC_START, "vmalloc() area (kernel image first)"),
        (VMALLOC_END, "vmalloc() end"),
        (FIXADDR_START, "Fixmap start"),
        (FIXADDR_TOP, "Fixmap end"),
        (PCI_IO_START, "PCI I/O start"),
        (VMEMMAP_START, "vmemmap start"),
        (PAGE_OFFSET, "Linear mapping"),
    ]
}

/// A run of contiguous leaves with the same attributes.
#[derive(Clone, Copy)]
struct Run {
    start: usize,
    end: usize,
    pa_next: usize,
    prot: Prot,
    level: usize,
}

fn print_run(r: &Run) {
    let (rw, x, user) = perms(r.prot);
    kprintln!(
        "{:#018x}-{:#018x} {:>8} {}  {rw} {x} {user} AF {} {}",
        r.start,
        r.end,
        Size(r.end - r.start),
        level_name(r.level),
        if r.prot.contains(Prot::USER) { "nG" } else { "  " },
        memtype(r.prot)
    );
}

/// Prints every kernel mapping as ranges (the `kpt` command).
pub fn dump_kernel_page_tables() {
    let marks = markers();
    let mut next_mark = 0;
    let mut run: Option<Run> = None;
    let emit_marks_upto = |va: usize, next_mark: &mut usize| {
        while *next_mark < marks.len() && marks[*next_mark].0 <= va {
            kprintln!("---[ {} ]---", marks[*next_mark].1);
            *next_mark += 1;
        }
    };
    with_kernel_pgtable(|pt| {
        pt.for_each_leaf(0xffff << 48, |va, pa, size, prot, level| {
            if let Some(r) = run.as_mut() {
                if r.end == va && r.pa_next == pa.0 && r.prot == prot && r.level == level {
                    r.end += size;
                    r.pa_next += size;
                    return;
                }
                print_run(r);
            }
            emit_marks_upto(va, &mut next_mark);
            run = Some(Run { start: va, end: va + size, pa_next: pa.0 + size, prot, level });
        });
    });
    if let Some(r) = run {
        print_run(&r);
    }
}

fn cmd_kpt(_: &str) {
    dump_kernel_page_tables();
}

monitor_cmd!(MON_PT, "pt", "walk the page tables for VADDR, level by level", cmd_pt);
monitor_cmd!(MON_KPT, "kpt", "dump the kernel page tables as ranges (kernel_page_tables)", cmd_kpt);
