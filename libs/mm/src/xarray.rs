//! The page cache's index: a radix tree from page offset to page, with
//! marks (Linux: lib/xarray.c, include/linux/xarray.h; before 4.20 the
//! radix tree of lib/radix-tree.c).
//!
//! Each file's `address_space` keeps its cached pages in one of these,
//! keyed by the page's offset in the file. Most files are small and most
//! offsets dense, so a tree of 64-way nodes works well: a lookup reads one
//! slot per level, and a tree of height h holds offsets up to 64^h - 1.
//!
//! ```text
//!                root (shift 6): slots 0..63 cover offsets 0..4095
//!               /        \
//!   node (shift 0)      node (shift 0)         leaves: the entries themselves
//!   offsets 0..63       offsets 128..191
//! ```
//!
//! Every node keeps, besides its slots, a bitmap of the slots in use and
//! one bitmap per **mark**. The page cache marks dirty pages and pages
//! under writeback (Linux: PAGECACHE_TAG_DIRTY, PAGECACHE_TAG_WRITEBACK);
//! in an inner node a mark bit says "some entry below this slot has the
//! mark", so writeback finds the dirty pages of a large file without
//! visiting the clean ones.
//!
//! The tree grows a level when an offset beyond its reach is stored and
//! shrinks again when only its first slot is left; a node whose last entry
//! goes is freed at once.
//!
//! Differences from Linux: nodes live in an arena indexed by number (as
//! the VMA tree's do), so the structure needs no unsafe code and an
//! allocation failure is an error, not a panic; there are no multi-index
//! entries, value entries or RCU readers: the owner's lock serialises
//! every access.

use alloc::vec::Vec;

/// Offsets one node covers per level: 64 slots (Linux: XA_CHUNK_SHIFT).
pub const XA_CHUNK_SHIFT: u32 = 6;
pub const XA_CHUNK_SIZE: usize = 1 << XA_CHUNK_SHIFT;
const XA_CHUNK_MASK: u64 = XA_CHUNK_SIZE as u64 - 1;

/// Marks an entry can carry (Linux: XA_MARK_0..XA_MARK_2).
pub const XA_MAX_MARKS: usize = 3;

/// A mark (Linux: xa_mark_t).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XaMark(pub usize);

/// The page cache's names for the marks (Linux: PAGECACHE_TAG_*).
pub const PAGECACHE_TAG_DIRTY: XaMark = XaMark(0);
pub const PAGECACHE_TAG_WRITEBACK: XaMark = XaMark(1);
pub const PAGECACHE_TAG_TOWRITE: XaMark = XaMark(2);

/// No memory for a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XaNoMemory;

const NIL: u32 = u32::MAX;

/// One node (Linux: struct xa_node).
#[derive(Clone)]
struct XaNode {
    /// 0 for a leaf, whose slots are entries; else the bits of the offset
    /// below this node's slot index, and the slots are child nodes.
    shift: u32,
    /// Where this node sits in its parent.
    parent: u32,
    offset: u8,
    /// Bit i set: slot i is in use.
    present: u64,
    /// Bit i set: slot i (or, in an inner node, something below it) has
    /// the mark.
    marks: [u64; XA_MAX_MARKS],
    /// Entries (leaf) or child node numbers (inner).
    slots: [u64; XA_CHUNK_SIZE],
}

impl XaNode {
    fn new(shift: u32, parent: u32, offset: u8) -> Self {
        XaNode { shift, parent, offset, present: 0, marks: [0; XA_MAX_MARKS], slots: [0; XA_CHUNK_SIZE] }
    }
}

/// A sparse array of u64 entries indexed by u64 offsets, with marks
/// (Linux: struct xarray).
#[derive(Clone, Default)]
pub struct XArray {
    /// The root node; NIL when empty.
    root: u32,
    nodes: Vec<XaNode>,
    /// Nodes free for reuse.
    free: Vec<u32>,
    len: usize,
}

impl XArray {
    pub const fn new() -> Self {
        XArray { root: NIL, nodes: Vec::new(), free: Vec::new(), len: 0 }
    }

    /// Entries stored.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Nodes in use (for tests and the page-cache view).
    pub fn nr_nodes(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// The largest offset the tree reaches without growing.
    fn max_index(&self) -> u64 {
        if self.root == NIL {
            return 0;
        }
        let bits = self.nodes[self.root as usize].shift + XA_CHUNK_SHIFT;
        if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        }
    }

    fn slot_of(index: u64, shift: u32) -> usize {
        ((index >> shift) & XA_CHUNK_MASK) as usize
    }

    fn alloc_node(&mut self, shift: u32, parent: u32, offset: u8) -> Result<u32, XaNoMemory> {
        if let Some(n) = self.free.pop() {
            self.nodes[n as usize] = XaNode::new(shift, parent, offset);
            return Ok(n);
        }
        // Room for the node, and for its number on the free list later,
        // so that freeing never allocates.
        self.nodes.try_reserve(1).map_err(|_| XaNoMemory)?;
        self.free.try_reserve(self.nodes.len() + 1 - self.free.len()).map_err(|_| XaNoMemory)?;
        self.nodes.push(XaNode::new(shift, parent, offset));
        Ok((self.nodes.len() - 1) as u32)
    }

    fn free_node(&mut self, n: u32) {
        self.free.push(n); // reserved in alloc_node
    }

    /// The leaf holding `index`, if the path to it exists.
    fn leaf(&self, index: u64) -> Option<u32> {
        if self.root == NIL || index > self.max_index() {
            return None;
        }
        let mut n = self.root;
        loop {
            let node = &self.nodes[n as usize];
            if node.shift == 0 {
                return Some(n);
            }
            let s = Self::slot_of(index, node.shift);
            if node.present & (1 << s) == 0 {
                return None;
            }
            n = node.slots[s] as u32;
        }
    }

    /// The entry at `index` (Linux: xa_load).
    pub fn load(&self, index: u64) -> Option<u64> {
        let n = self.leaf(index)?;
        let node = &self.nodes[n as usize];
        let s = Self::slot_of(index, 0);
        (node.present & (1 << s) != 0).then_some(node.slots[s])
    }

    /// Adds levels above the root until it reaches `index` (Linux:
    /// xas_expand). The old root becomes slot 0 of the new one.
    fn expand(&mut self, index: u64) -> Result<(), XaNoMemory> {
        if self.root == NIL {
            // The smallest tree reaching `index`.
            let mut shift = 0;
            while shift + XA_CHUNK_SHIFT < 64 && index >> (shift + XA_CHUNK_SHIFT) != 0 {
                shift += XA_CHUNK_SHIFT;
            }
            self.root = self.alloc_node(shift, NIL, 0)?;
            return Ok(());
        }
        while index > self.max_index() {
            let old = self.root;
            let shift = self.nodes[old as usize].shift + XA_CHUNK_SHIFT;
            let new = self.alloc_node(shift, NIL, 0)?;
            let marks: [bool; XA_MAX_MARKS] =
                core::array::from_fn(|m| self.nodes[old as usize].marks[m] != 0);
            let top = &mut self.nodes[new as usize];
            top.slots[0] = old as u64;
            top.present = 1;
            for (m, on) in marks.into_iter().enumerate() {
                if on {
                    top.marks[m] = 1;
                }
            }
            let o = &mut self.nodes[old as usize];
            o.parent = new;
            o.offset = 0;
            self.root = new;
        }
        Ok(())
    }

    /// Stores `entry` at `index`, returning what was there (Linux:
    /// xa_store). The entry keeps the marks of the one it replaces. Fails
    /// only if a node cannot be allocated; then nothing changed but,
    /// perhaps, empty levels the tree will reuse.
    pub fn store(&mut self, index: u64, entry: u64) -> Result<Option<u64>, XaNoMemory> {
        self.expand(index)?;
        let mut n = self.root;
        loop {
            let shift = self.nodes[n as usize].shift;
            let s = Self::slot_of(index, shift);
            if shift == 0 {
                let node = &mut self.nodes[n as usize];
                let old = (node.present & (1 << s) != 0).then_some(node.slots[s]);
                node.slots[s] = entry;
                node.present |= 1 << s;
                if old.is_none() {
                    self.len += 1;
                }
                return Ok(old);
            }
            if self.nodes[n as usize].present & (1 << s) == 0 {
                let child = self.alloc_node(shift - XA_CHUNK_SHIFT, n, s as u8)?;
                let node = &mut self.nodes[n as usize];
                node.slots[s] = child as u64;
                node.present |= 1 << s;
            }
            n = self.nodes[n as usize].slots[s] as u32;
        }
    }

    /// Removes the entry at `index` and its marks, returning it (Linux:
    /// xa_erase). Nodes left empty are freed and the tree shrinks.
    pub fn erase(&mut self, index: u64) -> Option<u64> {
        let n = self.leaf(index)?;
        let s = Self::slot_of(index, 0);
        let node = &self.nodes[n as usize];
        if node.present & (1 << s) == 0 {
            return None;
        }
        let old = node.slots[s];
        for m in 0..XA_MAX_MARKS {
            self.clear_mark(index, XaMark(m));
        }
        self.delete_slot(n, s);
        self.len -= 1;
        self.shrink();
        Some(old)
    }

    /// Empties slot `s` of node `n`, freeing `n` and emptying its slot in
    /// its parent if it was the last (Linux: xas_delete_node). The marks of
    /// the slot are already clear.
    fn delete_slot(&mut self, mut n: u32, mut s: usize) {
        loop {
            let node = &mut self.nodes[n as usize];
            node.present &= !(1 << s);
            node.slots[s] = 0;
            if node.present != 0 || n == self.root {
                return;
            }
            let (parent, offset) = (node.parent, node.offset as usize);
            self.free_node(n);
            n = parent;
            s = offset;
        }
    }

    /// Drops root levels whose only slot in use is the first (Linux:
    /// xas_shrink), and the root itself once nothing is stored.
    fn shrink(&mut self) {
        while self.root != NIL {
            let root = &self.nodes[self.root as usize];
            if root.present == 0 {
                let r = self.root;
                self.root = NIL;
                self.free_node(r);
                return;
            }
            if root.shift == 0 || root.present != 1 {
                return;
            }
            let (old, child) = (self.root, root.slots[0] as u32);
            self.nodes[child as usize].parent = NIL;
            self.root = child;
            self.free_node(old);
        }
    }

    /// Whether the entry at `index` has `mark` (Linux: xa_get_mark).
    pub fn get_mark(&self, index: u64, mark: XaMark) -> bool {
        let Some(n) = self.leaf(index) else { return false };
        let s = Self::slot_of(index, 0);
        let node = &self.nodes[n as usize];
        node.present & (1 << s) != 0 && node.marks[mark.0] & (1 << s) != 0
    }

    /// Marks the entry at `index`, and every node above it (Linux:
    /// xa_set_mark). Nothing happens if there is no entry.
    pub fn set_mark(&mut self, index: u64, mark: XaMark) {
        let Some(mut n) = self.leaf(index) else { return };
        let mut s = Self::slot_of(index, 0);
        if self.nodes[n as usize].present & (1 << s) == 0 {
            return;
        }
        loop {
            let node = &mut self.nodes[n as usize];
            if node.marks[mark.0] & (1 << s) != 0 {
                return; // already marked here, so above too
            }
            node.marks[mark.0] |= 1 << s;
            if node.parent == NIL {
                return;
            }
            (n, s) = (node.parent, node.offset as usize);
        }
    }

    /// Clears the mark of the entry at `index`, and of each node above it
    /// left with no marked slot (Linux: xa_clear_mark).
    pub fn clear_mark(&mut self, index: u64, mark: XaMark) {
        let Some(mut n) = self.leaf(index) else { return };
        let mut s = Self::slot_of(index, 0);
        loop {
            let node = &mut self.nodes[n as usize];
            node.marks[mark.0] &= !(1 << s);
            if node.marks[mark.0] != 0 || node.parent == NIL {
                return;
            }
            (n, s) = (node.parent, node.offset as usize);
        }
    }

    /// The first entry at an offset in `[index, max]`, with its offset;
    /// with `mark`, the first one carrying it (Linux: xa_find,
    /// xa_find_marked).
    pub fn find(&self, index: u64, max: u64, mark: Option<XaMark>) -> Option<(u64, u64)> {
        if self.root == NIL || index > max || index > self.max_index() {
            return None;
        }
        self.find_in(self.root, 0, index, max.min(self.max_index()), mark)
    }

    /// `find` below node `n`, which covers offsets from `base`.
    fn find_in(&self, n: u32, base: u64, index: u64, max: u64, mark: Option<XaMark>) -> Option<(u64, u64)> {
        let node = &self.nodes[n as usize];
        let bits = match mark {
            Some(m) => node.marks[m.0] & node.present,
            None => node.present,
        };
        let first = if index > base { Self::slot_of(index, node.shift) } else { 0 };
        let mut candidates = bits & (u64::MAX << first);
        while candidates != 0 {
            let s = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            let start = base + ((s as u64) << node.shift);
            if start > max {
                return None;
            }
            if node.shift == 0 {
                return Some((start, node.slots[s]));
            }
            if let Some(found) = self.find_in(node.slots[s] as u32, start, index.max(start), max, mark) {
                return Some(found);
            }
        }
        None
    }

    /// The entries of `[start, end]` in order, as (offset, entry)
    /// (Linux: xa_for_each_range).
    pub fn iter_range(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut at = Some(start);
        core::iter::from_fn(move || {
            let (i, e) = self.find(at?, end, None)?;
            at = i.checked_add(1);
            Some((i, e))
        })
    }

    /// Like `iter_range`, only the entries with `mark` (Linux:
    /// xa_for_each_marked).
    pub fn iter_marked(&self, start: u64, end: u64, mark: XaMark) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut at = Some(start);
        core::iter::from_fn(move || {
            let (i, e) = self.find(at?, end, Some(mark))?;
            at = i.checked_add(1);
            Some((i, e))
        })
    }

    /// Checks the structure: present bits match the children, marks of
    /// inner slots are the OR of the child's, parent links are right, no
    /// node but the root is empty, the count is right. For tests and
    /// `debug_vm`.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.root == NIL {
            return if self.len == 0 { Ok(()) } else { Err("empty tree with a count") };
        }
        if self.nodes[self.root as usize].parent != NIL {
            return Err("the root has a parent");
        }
        let mut entries = 0;
        self.validate_node(self.root, &mut entries)?;
        if entries != self.len {
            return Err("len differs from the entries found");
        }
        Ok(())
    }

    fn validate_node(&self, n: u32, entries: &mut usize) -> Result<[u64; XA_MAX_MARKS], &'static str> {
        let node = &self.nodes[n as usize];
        if node.present == 0 && n != self.root {
            return Err("an empty node was not freed");
        }
        for m in 0..XA_MAX_MARKS {
            if node.marks[m] & !node.present != 0 {
                return Err("a mark on an empty slot");
            }
        }
        if node.shift == 0 {
            *entries += node.present.count_ones() as usize;
        } else {
            let mut bits = node.present;
            while bits != 0 {
                let s = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let c = node.slots[s] as u32;
                let child = &self.nodes[c as usize];
                if child.parent != n
                    || child.offset as usize != s
                    || child.shift + XA_CHUNK_SHIFT != node.shift
                {
                    return Err("a child's parent link or shift is wrong");
                }
                let below = self.validate_node(c, entries)?;
                for (m, b) in below.iter().enumerate() {
                    if (*b != 0) != (node.marks[m] & (1 << s) != 0) {
                        return Err("an inner mark differs from the marks below it");
                    }
                }
            }
        }
        Ok(node.marks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A model: a sorted map from offset to (entry, marks).
    type Model = BTreeMap<u64, (u64, [bool; XA_MAX_MARKS])>;

    fn check(xa: &XArray, model: &Model, probe: &[u64]) {
        xa.validate().unwrap();
        assert_eq!(xa.len(), model.len());
        for &i in probe {
            assert_eq!(xa.load(i), model.get(&i).map(|e| e.0), "load({i})");
            for m in 0..XA_MAX_MARKS {
                assert_eq!(
                    xa.get_mark(i, XaMark(m)),
                    model.get(&i).is_some_and(|e| e.1[m]),
                    "mark {m} of {i}"
                );
            }
            let want = model.range(i..).next().map(|(&k, e)| (k, e.0));
            assert_eq!(xa.find(i, u64::MAX, None), want, "find({i})");
            let want = model.range(i..).find(|(_, e)| e.1[0]).map(|(&k, e)| (k, e.0));
            assert_eq!(xa.find(i, u64::MAX, Some(XaMark(0))), want, "find_marked({i})");
        }
        let all: Vec<_> = xa.iter_range(0, u64::MAX).collect();
        let want: Vec<_> = model.iter().map(|(&k, e)| (k, e.0)).collect();
        assert_eq!(all, want, "iteration in order");
    }

    #[test]
    fn store_load_erase_and_the_tree_grows_and_shrinks() {
        let mut xa = XArray::new();
        assert_eq!(xa.load(0), None);
        assert_eq!(xa.store(5, 50), Ok(None));
        assert_eq!(xa.nr_nodes(), 1, "one leaf holds offsets 0..63");
        assert_eq!(xa.store(5, 51), Ok(Some(50)));
        assert_eq!(xa.store(64 * 64 + 1, 7), Ok(None));
        assert_eq!(xa.nr_nodes(), 5, "a root of shift 12, and two nodes down to each leaf");
        assert_eq!(xa.load(64 * 64 + 1), Some(7));
        assert_eq!(xa.load(64 * 64), None);
        assert_eq!(xa.erase(64 * 64 + 1), Some(7));
        assert_eq!(xa.nr_nodes(), 1, "the path to the far entry went, and the tree shrank back");
        assert_eq!(xa.erase(5), Some(51));
        assert_eq!(xa.nr_nodes(), 0);
        assert!(xa.is_empty());
        xa.validate().unwrap();
        // Offsets near the top of the range.
        assert_eq!(xa.store(u64::MAX, 1), Ok(None));
        assert_eq!(xa.store(0, 2), Ok(None));
        assert_eq!(xa.iter_range(0, u64::MAX).collect::<Vec<_>>(), [(0, 2), (u64::MAX, 1)]);
        xa.validate().unwrap();
    }

    #[test]
    fn marks_propagate_up_and_find_skips_unmarked_subtrees() {
        let mut xa = XArray::new();
        for i in 0..10_000u64 {
            xa.store(i, i * 10).unwrap();
        }
        xa.set_mark(7777, PAGECACHE_TAG_DIRTY);
        xa.set_mark(42, PAGECACHE_TAG_DIRTY);
        xa.set_mark(9000, PAGECACHE_TAG_WRITEBACK);
        xa.validate().unwrap();
        let dirty: Vec<_> = xa.iter_marked(0, u64::MAX, PAGECACHE_TAG_DIRTY).collect();
        assert_eq!(dirty, [(42, 420), (7777, 77770)]);
        assert_eq!(xa.find(43, 7776, Some(PAGECACHE_TAG_DIRTY)), None, "bounded by max");
        xa.clear_mark(42, PAGECACHE_TAG_DIRTY);
        xa.erase(7777);
        xa.validate().unwrap();
        assert_eq!(xa.find(0, u64::MAX, Some(PAGECACHE_TAG_DIRTY)), None, "no mark left anywhere");
        assert_eq!(xa.find(0, u64::MAX, Some(PAGECACHE_TAG_WRITEBACK)), Some((9000, 90000)));
        // A replaced entry keeps its marks; marking a hole does nothing.
        xa.store(9000, 1).unwrap();
        assert!(xa.get_mark(9000, PAGECACHE_TAG_WRITEBACK));
        xa.set_mark(20_000, PAGECACHE_TAG_DIRTY);
        assert!(!xa.get_mark(20_000, PAGECACHE_TAG_DIRTY));
        xa.validate().unwrap();
    }

    /// Random stores, erases, marks and clears, in dense and sparse ranges,
    /// checked against the model after every step.
    #[test]
    fn random_operations_match_a_sorted_map() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for round in 0..8 {
            let mut xa = XArray::new();
            let mut model = Model::new();
            // Dense small files, then sparse huge offsets.
            let span = if round % 2 == 0 { 300 } else { 1 << 40 };
            for step in 0..3000 {
                let r = next();
                let index = if r & 0x100 == 0 { r >> 20 } else { next() } % span;
                match r % 7 {
                    0..=2 => {
                        let v = next() >> 1;
                        let old = xa.store(index, v).unwrap();
                        let prev = model.insert(index, (v, model.get(&index).map_or([false; 3], |e| e.1)));
                        assert_eq!(old, prev.map(|e| e.0));
                    }
                    3 | 4 => assert_eq!(xa.erase(index), model.remove(&index).map(|e| e.0)),
                    5 => {
                        // Mark an existing entry, most of the time.
                        let key = model.range(index..).next().map_or(index, |(&k, _)| k);
                        let m = (next() % 3) as usize;
                        xa.set_mark(key, XaMark(m));
                        if let Some(e) = model.get_mut(&key) {
                            e.1[m] = true;
                        }
                    }
                    _ => {
                        let key = model.range(index..).next().map_or(index, |(&k, _)| k);
                        let m = (next() % 3) as usize;
                        xa.clear_mark(key, XaMark(m));
                        if let Some(e) = model.get_mut(&key) {
                            e.1[m] = false;
                        }
                    }
                }
                if step % 50 == 0 || span <= 300 {
                    let probe: Vec<u64> =
                        (0..8).map(|_| next() % span).chain(model.keys().take(4).copied()).collect();
                    check(&xa, &model, &probe);
                }
            }
            // Empty it: every node goes.
            let keys: Vec<u64> = model.keys().copied().collect();
            for k in keys {
                assert!(xa.erase(k).is_some());
            }
            assert_eq!(xa.nr_nodes(), 0, "round {round}: nodes left after erasing everything");
            xa.validate().unwrap();
        }
    }
}
