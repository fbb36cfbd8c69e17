//! ASID allocation with generation rollover (Linux: arch/arm64/mm/context.c).
//!
//! Each user address space (mm) is tagged with an ASID so that TLB entries
//! of different processes can coexist and a context switch needs no TLB
//! flush. There are only 2^8 or 2^16 ASIDs, so they are handed out in
//! *generations*: an mm's `context.id` is `generation | asid`. When the
//! bitmap runs out, the generation is bumped, the bitmap cleared, and every
//! CPU must flush its TLB before it next uses an ASID; the ASIDs running on
//! CPUs at that moment are kept ("reserved") so those mms need not change.
//!
//! ASID 0 is never given out: TTBR0 points at an empty table with ASID 0
//! whenever no user mm is installed.
//!
//! Differences from Linux: one lock around everything (no lockless fast path
//! through `active_asids`), no pinned ASIDs, no KPTI odd/even pairs.

pub const MAX_ASID_BITS: u32 = 16;
const WORDS: usize = (1 << MAX_ASID_BITS) / 64;

/// The allocator state for `NR_CPUS` CPUs.
pub struct AsidAllocator<const NR_CPUS: usize> {
    bits: u32,
    /// Current generation, in the bits above the ASID.
    generation: u64,
    map: [u64; WORDS],
    cur_idx: usize,
    active: [u64; NR_CPUS],
    reserved: [u64; NR_CPUS],
    flush_pending: [bool; NR_CPUS],
    /// How many times the ASID space was exhausted.
    pub rollovers: u64,
}

/// What a CPU must do to run an mm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    pub asid: u16,
    /// Flush this CPU's TLB (all ASIDs) first: a rollover happened.
    pub flush_local_tlb: bool,
}

impl<const NR_CPUS: usize> AsidAllocator<NR_CPUS> {
    /// `bits` is 8 or 16 (ID_AA64MMFR0_EL1.ASIDBits); tests may use fewer.
    pub const fn new(bits: u32) -> Self {
        assert!(bits >= 2 && bits <= MAX_ASID_BITS);
        let mut map = [0; WORDS];
        map[0] = 1; // ASID 0 is reserved.
        Self {
            bits,
            generation: 1 << bits,
            map,
            cur_idx: 1,
            active: [0; NR_CPUS],
            reserved: [0; NR_CPUS],
            flush_pending: [false; NR_CPUS],
            rollovers: 0,
        }
    }

    fn nr_asids(&self) -> usize {
        1 << self.bits
    }
    fn asid_mask(&self) -> u64 {
        (1 << self.bits) - 1
    }
    fn test(&self, a: usize) -> bool {
        self.map[a / 64] & (1 << (a % 64)) != 0
    }
    fn set(&mut self, a: usize) {
        self.map[a / 64] |= 1 << (a % 64);
    }

    /// The generation of a context id.
    pub fn generation_of(&self, id: u64) -> u64 {
        id & !self.asid_mask()
    }

    /// Starts a new generation (Linux: flush_context).
    fn flush_context(&mut self) {
        self.map = [0; WORDS];
        self.map[0] = 1;
        for cpu in 0..NR_CPUS {
            // Keep what each CPU is running; if it is idle, keep what it ran last.
            let mut asid = core::mem::take(&mut self.active[cpu]);
            if asid == 0 {
                asid = self.reserved[cpu];
            }
            let a = (asid & self.asid_mask()) as usize;
            if a != 0 {
                self.set(a);
            }
            self.reserved[cpu] = asid;
            self.flush_pending[cpu] = true;
        }
        self.rollovers += 1;
    }

    fn is_reserved(&mut self, id: u64, newid: u64) -> bool {
        let mut hit = false;
        for r in self.reserved.iter_mut() {
            if *r == id {
                *r = newid;
                hit = true;
            }
        }
        hit
    }

    /// Picks an ASID for a context whose id is stale (Linux: new_context).
    fn new_context(&mut self, id: u64) -> u64 {
        if id != 0 {
            let newid = self.generation | (id & self.asid_mask());
            // It was running when the generation rolled over: keep it.
            if self.is_reserved(id, newid) {
                return newid;
            }
            // Its old ASID is free in this generation: take it back.
            let a = (id & self.asid_mask()) as usize;
            if !self.test(a) {
                self.set(a);
                return newid;
            }
        }
        let asid = match self.find_free(self.cur_idx) {
            Some(a) => a,
            None => {
                self.generation += 1 << self.bits;
                self.flush_context();
                self.find_free(1).expect("more CPUs than ASIDs")
            }
        };
        self.set(asid);
        self.cur_idx = asid;
        self.generation | asid as u64
    }

    fn find_free(&self, from: usize) -> Option<usize> {
        (from..self.nr_asids()).chain(1..from).find(|&a| !self.test(a))
    }

    /// Makes `ctx` (an mm's context.id, 0 for a new mm) runnable on `cpu`
    /// (Linux: check_and_switch_context). Updates `ctx` if it needed a new ASID.
    pub fn check_and_switch(&mut self, ctx: &mut u64, cpu: usize) -> Switch {
        if self.generation_of(*ctx) != self.generation {
            *ctx = self.new_context(*ctx);
        }
        let flush_local_tlb = core::mem::take(&mut self.flush_pending[cpu]);
        self.active[cpu] = *ctx;
        Switch { asid: (*ctx & self.asid_mask()) as u16, flush_local_tlb }
    }

    /// `cpu` stops running any user mm (it switched to a kernel thread).
    pub fn deactivate(&mut self, cpu: usize) {
        self.reserved[cpu] = core::mem::take(&mut self.active[cpu]).max(self.reserved[cpu]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asids_are_unique_within_a_generation_and_never_zero() {
        let mut a = AsidAllocator::<1>::new(8);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..255 {
            let mut ctx = 0;
            let s = a.check_and_switch(&mut ctx, 0);
            assert_ne!(s.asid, 0);
            assert!(seen.insert(s.asid), "ASID {} given twice", s.asid);
            assert!(!s.flush_local_tlb);
        }
        assert_eq!(a.rollovers, 0);
    }

    #[test]
    fn a_context_keeps_its_asid_while_the_generation_lasts() {
        let mut a = AsidAllocator::<2>::new(8);
        let mut ctx = 0;
        let first = a.check_and_switch(&mut ctx, 0).asid;
        let id = ctx;
        assert_eq!(a.check_and_switch(&mut ctx, 1).asid, first);
        assert_eq!(ctx, id);
    }

    #[test]
    fn rollover_bumps_the_generation_flushes_and_keeps_running_asids() {
        // 4-bit ASIDs: 15 usable.
        let mut a = AsidAllocator::<2>::new(4);
        let mut running0 = 0;
        let asid0 = a.check_and_switch(&mut running0, 0).asid;
        let mut ctxs = [0u64; 14];
        for c in ctxs.iter_mut() {
            a.check_and_switch(c, 1);
        }
        // The 16th mm forces a new generation.
        let mut newcomer = 0;
        let s = a.check_and_switch(&mut newcomer, 1);
        assert_eq!(a.rollovers, 1);
        assert!(s.flush_local_tlb, "CPU 1 must flush after the rollover");
        // CPU 0 was running `running0` during the rollover: it keeps its ASID.
        let s0 = a.check_and_switch(&mut running0, 0);
        assert_eq!(s0.asid, asid0);
        assert!(s0.flush_local_tlb);
        assert_eq!(a.generation_of(running0), a.generation_of(newcomer));
        assert_ne!(s.asid, asid0);
        // A stale mm gets a fresh ASID of the new generation, distinct from both.
        let s2 = a.check_and_switch(&mut ctxs[0], 1);
        assert_eq!(a.generation_of(ctxs[0]), a.generation_of(newcomer));
        assert!(!s2.flush_local_tlb, "flush happens once per rollover");
        assert!(s2.asid != s.asid && s2.asid != asid0);
    }
}
