//! The VMA tree: an augmented red-black tree of non-overlapping address
//! ranges (Linux before the maple tree: mm->mm_rb with vma->rb_subtree_gap,
//! mm/mmap.c vma_compute_subtree_gap, find_vma, unmapped_area and
//! unmapped_area_topdown, lib/rbtree.c).
//!
//! Each node is a range `[start, end)` with a value (the VMA). Besides the
//! usual red-black links, every node knows
//!
//! - `gap`: the free space right before it, `start - prev.end` (or `start`
//!   for the lowest node), and
//! - `subtree_gap`: the largest `gap` in its subtree.
//!
//! so finding the lowest (or highest) hole of a given size skips every
//! subtree whose `subtree_gap` is too small: O(log n), where a list would
//! need O(n). Keeping the augmentation right is the lesson: a node's `gap`
//! changes when its predecessor changes (an insert or erase next to it),
//! and `subtree_gap` must then be recomputed up to the root, and for the
//! two nodes of every rotation.
//!
//! Nodes live in an arena (`Vec`) and link by index, so the tree is safe
//! Rust; a node's id stays valid until it is erased. Index 0 is the NIL
//! sentinel, black, as in CLRS (Introduction to Algorithms, ch. 13), whose
//! insert and delete this follows.

use alloc::vec::Vec;

/// A node's id in the tree.
pub type NodeId = usize;
const NIL: NodeId = 0;

#[derive(Debug, PartialEq, Eq)]
pub enum VmaTreeError {
    /// The range is empty or overlaps an existing one.
    Overlap,
    /// No memory for the node.
    NoMemory,
}

struct Node<T> {
    start: usize,
    end: usize,
    parent: NodeId,
    left: NodeId,
    right: NodeId,
    red: bool,
    gap: usize,
    subtree_gap: usize,
    value: Option<T>,
}

impl<T> Node<T> {
    const fn nil() -> Self {
        Node {
            start: 0,
            end: 0,
            parent: NIL,
            left: NIL,
            right: NIL,
            red: false,
            gap: 0,
            subtree_gap: 0,
            value: None,
        }
    }
}

/// Non-overlapping ranges, ordered by address, with free-gap search.
pub struct VmaTree<T> {
    nodes: Vec<Node<T>>,
    root: NodeId,
    free: Vec<NodeId>,
    len: usize,
}

impl<T> Default for VmaTree<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> VmaTree<T> {
    pub fn new() -> Self {
        VmaTree { nodes: alloc::vec![Node::nil()], root: NIL, free: Vec::new(), len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The range of a node.
    pub fn range(&self, id: NodeId) -> (usize, usize) {
        (self.nodes[id].start, self.nodes[id].end)
    }

    pub fn get(&self, id: NodeId) -> Option<&T> {
        self.nodes.get(id).and_then(|n| n.value.as_ref())
    }

    pub fn get_mut(&mut self, id: NodeId) -> Option<&mut T> {
        self.nodes.get_mut(id).and_then(|n| n.value.as_mut())
    }

    // --- order -------------------------------------------------------------

    fn minimum(&self, mut x: NodeId) -> NodeId {
        while self.nodes[x].left != NIL {
            x = self.nodes[x].left;
        }
        x
    }

    fn maximum(&self, mut x: NodeId) -> NodeId {
        while self.nodes[x].right != NIL {
            x = self.nodes[x].right;
        }
        x
    }

    /// The next node by address (Linux: rb_next, vma->vm_next).
    pub fn next(&self, x: NodeId) -> Option<NodeId> {
        let n = &self.nodes[x];
        if n.right != NIL {
            return Some(self.minimum(n.right));
        }
        let (mut x, mut p) = (x, n.parent);
        while p != NIL && x == self.nodes[p].right {
            x = p;
            p = self.nodes[p].parent;
        }
        (p != NIL).then_some(p)
    }

    /// The previous node by address (Linux: rb_prev, vma->vm_prev).
    pub fn prev(&self, x: NodeId) -> Option<NodeId> {
        let n = &self.nodes[x];
        if n.left != NIL {
            return Some(self.maximum(n.left));
        }
        let (mut x, mut p) = (x, n.parent);
        while p != NIL && x == self.nodes[p].left {
            x = p;
            p = self.nodes[p].parent;
        }
        (p != NIL).then_some(p)
    }

    /// The lowest node.
    pub fn first(&self) -> Option<NodeId> {
        (self.root != NIL).then(|| self.minimum(self.root))
    }

    /// The highest node.
    pub fn last(&self) -> Option<NodeId> {
        (self.root != NIL).then(|| self.maximum(self.root))
    }

    /// Every node in address order.
    pub fn iter(&self) -> impl Iterator<Item = NodeId> + '_ {
        core::iter::successors(self.first(), move |&x| self.next(x))
    }

    // --- lookups -----------------------------------------------------------

    /// The lowest node with `end > addr` (Linux: find_vma): the range
    /// containing `addr`, or else the first one above it.
    pub fn find(&self, addr: usize) -> Option<NodeId> {
        let (mut x, mut best) = (self.root, None);
        while x != NIL {
            let n = &self.nodes[x];
            if n.end > addr {
                best = Some(x);
                if n.start <= addr {
                    break;
                }
                x = n.left;
            } else {
                x = n.right;
            }
        }
        best
    }

    /// The lowest node overlapping `[start, end)` (Linux: find_vma_intersection).
    pub fn find_intersection(&self, start: usize, end: usize) -> Option<NodeId> {
        self.find(start).filter(|&x| self.nodes[x].start < end)
    }

    // --- the augmentation --------------------------------------------------

    fn prev_end(&self, x: NodeId) -> usize {
        self.prev(x).map_or(0, |p| self.nodes[p].end)
    }

    /// Linux: vma_compute_subtree_gap.
    fn compute_subtree_gap(&self, x: NodeId) -> usize {
        let n = &self.nodes[x];
        n.gap.max(self.nodes[n.left].subtree_gap).max(self.nodes[n.right].subtree_gap)
    }

    /// Recomputes subtree_gap from `x` up to the root (Linux:
    /// vma_gap_callbacks_propagate).
    fn propagate(&mut self, mut x: NodeId) {
        while x != NIL {
            self.nodes[x].subtree_gap = self.compute_subtree_gap(x);
            x = self.nodes[x].parent;
        }
    }

    /// Sets the gap before `x` from its predecessor and propagates it
    /// (Linux: vma_gap_update).
    fn update_gap(&mut self, x: NodeId) {
        self.nodes[x].gap = self.nodes[x].start - self.prev_end(x);
        self.propagate(x);
    }

    // --- rotations -----------------------------------------------------------

    fn rotate_left(&mut self, x: NodeId) {
        let y = self.nodes[x].right;
        let yl = self.nodes[y].left;
        self.nodes[x].right = yl;
        if yl != NIL {
            self.nodes[yl].parent = x;
        }
        let xp = self.nodes[x].parent;
        self.nodes[y].parent = xp;
        self.replace_child(xp, x, y);
        self.nodes[y].left = x;
        self.nodes[x].parent = y;
        // x now sits below y: recompute it first (Linux: augment_rotate).
        self.nodes[x].subtree_gap = self.compute_subtree_gap(x);
        self.nodes[y].subtree_gap = self.compute_subtree_gap(y);
    }

    fn rotate_right(&mut self, x: NodeId) {
        let y = self.nodes[x].left;
        let yr = self.nodes[y].right;
        self.nodes[x].left = yr;
        if yr != NIL {
            self.nodes[yr].parent = x;
        }
        let xp = self.nodes[x].parent;
        self.nodes[y].parent = xp;
        self.replace_child(xp, x, y);
        self.nodes[y].right = x;
        self.nodes[x].parent = y;
        self.nodes[x].subtree_gap = self.compute_subtree_gap(x);
        self.nodes[y].subtree_gap = self.compute_subtree_gap(y);
    }

    /// Makes `new` the child of `parent` where `old` was (the root if
    /// `parent` is NIL).
    fn replace_child(&mut self, parent: NodeId, old: NodeId, new: NodeId) {
        if parent == NIL {
            self.root = new;
        } else if self.nodes[parent].left == old {
            self.nodes[parent].left = new;
        } else {
            self.nodes[parent].right = new;
        }
    }

    // --- insert ----------------------------------------------------------------

    fn alloc_node(&mut self, start: usize, end: usize, value: T) -> Result<NodeId, VmaTreeError> {
        let node = Node {
            start,
            end,
            parent: NIL,
            left: NIL,
            right: NIL,
            red: true,
            gap: 0,
            subtree_gap: 0,
            value: Some(value),
        };
        if let Some(id) = self.free.pop() {
            self.nodes[id] = node;
            return Ok(id);
        }
        // Room for the node and for its later return to the free list, so
        // that erase never allocates.
        if self.nodes.try_reserve(1).is_err() || self.free.try_reserve(self.nodes.len()).is_err() {
            return Err(VmaTreeError::NoMemory);
        }
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    /// Inserts `[start, end)` with `value` (Linux: vma_link ->
    /// __vma_link_rb). Fails if the range is empty or overlaps another.
    pub fn insert(&mut self, start: usize, end: usize, value: T) -> Result<NodeId, VmaTreeError> {
        if start >= end || self.find_intersection(start, end).is_some() {
            return Err(VmaTreeError::Overlap);
        }
        let z = self.alloc_node(start, end, value)?;
        let (mut y, mut x) = (NIL, self.root);
        while x != NIL {
            y = x;
            x = if start < self.nodes[x].start { self.nodes[x].left } else { self.nodes[x].right };
        }
        self.nodes[z].parent = y;
        if y == NIL {
            self.root = z;
        } else if start < self.nodes[y].start {
            self.nodes[y].left = z;
        } else {
            self.nodes[y].right = z;
        }
        self.len += 1;
        // The new node's gap, and its successor's, which it now precedes.
        self.update_gap(z);
        if let Some(n) = self.next(z) {
            self.update_gap(n);
        }
        self.insert_fixup(z);
        Ok(z)
    }

    fn insert_fixup(&mut self, mut z: NodeId) {
        while self.nodes[self.nodes[z].parent].red {
            let p = self.nodes[z].parent;
            let g = self.nodes[p].parent;
            if p == self.nodes[g].left {
                let u = self.nodes[g].right;
                if self.nodes[u].red {
                    self.nodes[p].red = false;
                    self.nodes[u].red = false;
                    self.nodes[g].red = true;
                    z = g;
                } else {
                    if z == self.nodes[p].right {
                        z = p;
                        self.rotate_left(z);
                    }
                    let p = self.nodes[z].parent;
                    let g = self.nodes[p].parent;
                    self.nodes[p].red = false;
                    self.nodes[g].red = true;
                    self.rotate_right(g);
                }
            } else {
                let u = self.nodes[g].left;
                if self.nodes[u].red {
                    self.nodes[p].red = false;
                    self.nodes[u].red = false;
                    self.nodes[g].red = true;
                    z = g;
                } else {
                    if z == self.nodes[p].left {
                        z = p;
                        self.rotate_right(z);
                    }
                    let p = self.nodes[z].parent;
                    let g = self.nodes[p].parent;
                    self.nodes[p].red = false;
                    self.nodes[g].red = true;
                    self.rotate_left(g);
                }
            }
        }
        let r = self.root;
        self.nodes[r].red = false;
    }

    // --- erase -----------------------------------------------------------------

    /// Moves `v` into `u`'s place (CLRS: RB-TRANSPLANT; v may be NIL, whose
    /// parent is then set, as the delete fixup needs).
    fn transplant(&mut self, u: NodeId, v: NodeId) {
        let up = self.nodes[u].parent;
        self.replace_child(up, u, v);
        self.nodes[v].parent = up;
    }

    /// Removes node `z` and returns its value (Linux: vma_rb_erase). Never
    /// allocates.
    pub fn erase(&mut self, z: NodeId) -> Option<T> {
        if z == NIL || self.nodes.get(z).is_none_or(|n| n.value.is_none()) {
            return None;
        }
        let succ = self.next(z);
        let mut y = z;
        let mut y_red = self.nodes[y].red;
        let x;
        let x_parent;
        if self.nodes[z].left == NIL {
            x = self.nodes[z].right;
            x_parent = self.nodes[z].parent;
            self.transplant(z, x);
        } else if self.nodes[z].right == NIL {
            x = self.nodes[z].left;
            x_parent = self.nodes[z].parent;
            self.transplant(z, x);
        } else {
            y = self.minimum(self.nodes[z].right);
            y_red = self.nodes[y].red;
            x = self.nodes[y].right;
            if self.nodes[y].parent == z {
                x_parent = y;
                self.nodes[x].parent = y;
            } else {
                x_parent = self.nodes[y].parent;
                self.transplant(y, x);
                self.nodes[y].right = self.nodes[z].right;
                let yr = self.nodes[y].right;
                self.nodes[yr].parent = y;
            }
            self.transplant(z, y);
            self.nodes[y].left = self.nodes[z].left;
            let yl = self.nodes[y].left;
            self.nodes[yl].parent = y;
            self.nodes[y].red = self.nodes[z].red;
        }
        // The subtree sums changed below x's parent and at y's new place.
        self.propagate(x_parent);
        if y != z {
            self.propagate(y);
        }
        if !y_red {
            self.erase_fixup(x, x_parent);
        }
        self.nodes[NIL] = Node::nil();
        self.len -= 1;
        let value = self.nodes[z].value.take();
        self.nodes[z] = Node::nil();
        self.free.push(z); // room reserved by alloc_node
                           // The successor's gap now starts at z's predecessor.
        if let Some(s) = succ {
            self.update_gap(s);
        }
        value
    }

    fn erase_fixup(&mut self, mut x: NodeId, mut parent: NodeId) {
        while x != self.root && !self.nodes[x].red {
            if x == self.nodes[parent].left {
                let mut w = self.nodes[parent].right;
                if self.nodes[w].red {
                    self.nodes[w].red = false;
                    self.nodes[parent].red = true;
                    self.rotate_left(parent);
                    w = self.nodes[parent].right;
                }
                if !self.nodes[self.nodes[w].left].red && !self.nodes[self.nodes[w].right].red {
                    self.nodes[w].red = true;
                    x = parent;
                    parent = self.nodes[x].parent;
                } else {
                    if !self.nodes[self.nodes[w].right].red {
                        let wl = self.nodes[w].left;
                        self.nodes[wl].red = false;
                        self.nodes[w].red = true;
                        self.rotate_right(w);
                        w = self.nodes[parent].right;
                    }
                    self.nodes[w].red = self.nodes[parent].red;
                    self.nodes[parent].red = false;
                    let wr = self.nodes[w].right;
                    self.nodes[wr].red = false;
                    self.rotate_left(parent);
                    x = self.root;
                    parent = NIL;
                }
            } else {
                let mut w = self.nodes[parent].left;
                if self.nodes[w].red {
                    self.nodes[w].red = false;
                    self.nodes[parent].red = true;
                    self.rotate_right(parent);
                    w = self.nodes[parent].left;
                }
                if !self.nodes[self.nodes[w].right].red && !self.nodes[self.nodes[w].left].red {
                    self.nodes[w].red = true;
                    x = parent;
                    parent = self.nodes[x].parent;
                } else {
                    if !self.nodes[self.nodes[w].left].red {
                        let wr = self.nodes[w].right;
                        self.nodes[wr].red = false;
                        self.nodes[w].red = true;
                        self.rotate_left(w);
                        w = self.nodes[parent].left;
                    }
                    self.nodes[w].red = self.nodes[parent].red;
                    self.nodes[parent].red = false;
                    let wl = self.nodes[w].left;
                    self.nodes[wl].red = false;
                    self.rotate_right(parent);
                    x = self.root;
                    parent = NIL;
                }
            }
        }
        self.nodes[x].red = false;
    }

    /// Changes a node's range in place, keeping its place in the order
    /// (Linux: vma_adjust for a split or merge that moves a boundary). The
    /// new range must not overlap a neighbour.
    pub fn adjust(&mut self, x: NodeId, start: usize, end: usize) -> Result<(), VmaTreeError> {
        let prev_end = self.prev_end(x);
        let next_start = self.next(x).map_or(usize::MAX, |n| self.nodes[n].start);
        if start >= end || start < prev_end || end > next_start {
            return Err(VmaTreeError::Overlap);
        }
        self.nodes[x].start = start;
        self.nodes[x].end = end;
        self.update_gap(x);
        if let Some(n) = self.next(x) {
            self.update_gap(n);
        }
        Ok(())
    }

    // --- free-area search --------------------------------------------------------

    /// The lowest `addr` with `[addr, addr + len)` free, `addr >= low` and
    /// `addr + len <= high` (Linux: unmapped_area).
    pub fn unmapped_area(&self, len: usize, low: usize, high: usize) -> Option<usize> {
        if len == 0 || high < len || high - len < low {
            return None;
        }
        if let Some(a) = self.search(self.root, len, low, high, false) {
            return Some(a);
        }
        // The space above the highest node.
        let top = self.last().map_or(0, |l| self.nodes[l].end).max(low);
        (top.checked_add(len).is_some_and(|e| e <= high)).then_some(top)
    }

    /// The highest `addr` with `[addr, addr + len)` free, `addr >= low` and
    /// `addr + len <= high` (Linux: unmapped_area_topdown).
    pub fn unmapped_area_topdown(&self, len: usize, low: usize, high: usize) -> Option<usize> {
        if len == 0 || high < len || high - len < low {
            return None;
        }
        // The space above the highest node comes first.
        let top = self.last().map_or(0, |l| self.nodes[l].end).max(low);
        if top.checked_add(len).is_some_and(|e| e <= high) {
            return Some(high - len);
        }
        self.search(self.root, len, low, high, true)
    }

    /// Searches the gaps before the nodes of `x`'s subtree, skipping every
    /// subtree whose largest gap is too small; highest first if `topdown`.
    fn search(&self, x: NodeId, len: usize, low: usize, high: usize, topdown: bool) -> Option<usize> {
        let n = &self.nodes[x];
        if x == NIL || n.subtree_gap < len {
            return None;
        }
        let own = || {
            // The gap before n: [prev_end, n.start), clipped to [low, high).
            let gap_start = (n.start - n.gap).max(low);
            let gap_end = n.start.min(high);
            (gap_end >= gap_start && gap_end - gap_start >= len).then(|| {
                if topdown {
                    gap_end - len
                } else {
                    gap_start
                }
            })
        };
        let (first, second) = if topdown { (n.right, n.left) } else { (n.left, n.right) };
        // Nodes above `high` (topdown) or below `low` only matter through
        // their left (right) subtrees.
        self.search(first, len, low, high, topdown)
            .or_else(own)
            .or_else(|| self.search(second, len, low, high, topdown))
    }

    // --- checking ------------------------------------------------------------------

    /// Checks every invariant: order without overlap, red-black rules, and
    /// every `gap` and `subtree_gap` (Linux: validate_mm_rb under
    /// CONFIG_DEBUG_VM_RB). Returns a description of the first violation.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.nodes[self.root].red {
            return Err("red root");
        }
        self.check(self.root).map(|_| ())?;
        let mut prev_end = 0;
        let mut count = 0;
        for x in self.iter() {
            let n = &self.nodes[x];
            if n.start < prev_end || n.start >= n.end {
                return Err("ranges overlap, are empty, or are out of order");
            }
            if n.gap != n.start - prev_end {
                return Err("a node's gap is stale");
            }
            prev_end = n.end;
            count += 1;
        }
        if count != self.len {
            return Err("len does not match the nodes");
        }
        Ok(())
    }

    /// Black height of `x`'s subtree, checking red-black rules, parent
    /// links and subtree_gap on the way.
    fn check(&self, x: NodeId) -> Result<usize, &'static str> {
        if x == NIL {
            return Ok(1);
        }
        let n = &self.nodes[x];
        for c in [n.left, n.right] {
            if c != NIL && self.nodes[c].parent != x {
                return Err("a child's parent link is wrong");
            }
            if n.red && self.nodes[c].red {
                return Err("a red node has a red child");
            }
        }
        if n.subtree_gap != self.compute_subtree_gap(x) {
            return Err("a subtree_gap is stale");
        }
        let (l, r) = (self.check(n.left)?, self.check(n.right)?);
        if l != r {
            return Err("black heights differ");
        }
        Ok(l + !n.red as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagoda_klib::rand::XorShift64;

    const P: usize = 4096;

    /// A brute-force model: sorted (start, end) pairs.
    fn model_lowest(model: &[(usize, usize)], len: usize, low: usize, high: usize) -> Option<usize> {
        let mut cand = low;
        for &(s, e) in model {
            if cand + len <= s.min(high) && cand + len <= high {
                return Some(cand);
            }
            cand = cand.max(e);
        }
        (cand.checked_add(len).is_some_and(|e| e <= high)).then_some(cand)
    }

    fn model_highest(model: &[(usize, usize)], len: usize, low: usize, high: usize) -> Option<usize> {
        let mut cand_end = high;
        for &(s, e) in model.iter().rev() {
            if e <= cand_end && cand_end >= low + len && cand_end - len >= e.max(low) {
                return Some(cand_end - len);
            }
            cand_end = cand_end.min(s);
        }
        (cand_end >= low + len).then(|| cand_end - len)
    }

    #[test]
    fn find_and_intersection_follow_linux_find_vma() {
        let mut t = VmaTree::new();
        let a = t.insert(0x1000, 0x3000, 'a').unwrap();
        let b = t.insert(0x8000, 0x9000, 'b').unwrap();
        assert_eq!(t.find(0x0), Some(a), "below every range: the first one above");
        assert_eq!(t.find(0x2fff), Some(a));
        assert_eq!(t.find(0x3000), Some(b), "end is exclusive");
        assert_eq!(t.find(0x9000), None);
        assert_eq!(t.find_intersection(0x3000, 0x8000), None);
        assert_eq!(t.find_intersection(0x3000, 0x8001), Some(b));
        assert_eq!(t.insert(0x2000, 0x4000, 'x'), Err(VmaTreeError::Overlap));
        assert_eq!(t.insert(0x5000, 0x5000, 'x'), Err(VmaTreeError::Overlap), "empty");
        assert_eq!(t.next(a), Some(b));
        assert_eq!(t.prev(b), Some(a));
        assert_eq!(t.erase(a), Some('a'));
        assert_eq!(t.erase(a), None, "erased twice");
        assert_eq!(t.first(), Some(b));
        t.validate().unwrap();
    }

    #[test]
    fn gap_search_finds_the_lowest_and_the_highest_hole() {
        let mut t = VmaTree::new();
        for (s, e) in [(0x10, 0x20), (0x30, 0x38), (0x40, 0x80), (0x90, 0x100)] {
            t.insert(s * P, e * P, ()).unwrap();
        }
        t.validate().unwrap();
        // Holes: [0, 0x10), [0x20, 0x30), [0x38, 0x40), [0x80, 0x90), [0x100, ..).
        assert_eq!(t.unmapped_area(0x10 * P, 0, usize::MAX), Some(0));
        assert_eq!(t.unmapped_area(0x10 * P, P, usize::MAX), Some(0x20 * P));
        assert_eq!(t.unmapped_area(0x11 * P, 0, usize::MAX), Some(0x100 * P));
        assert_eq!(t.unmapped_area_topdown(0x8 * P, 0, 0x100 * P), Some(0x88 * P));
        assert_eq!(t.unmapped_area_topdown(0x8 * P, 0, 0x200 * P), Some(0x1f8 * P));
        assert_eq!(t.unmapped_area_topdown(0x11 * P, 0, 0x100 * P), None);
        assert_eq!(
            t.unmapped_area_topdown(0x8 * P, 0x39 * P, 0x40 * P),
            None,
            "the hole is too small once clipped"
        );
        assert_eq!(t.unmapped_area(0, 0, usize::MAX), None);
    }

    /// Thousands of random inserts, erases and adjusts, checked against a
    /// brute-force model after each: the red-black rules, every gap and
    /// subtree_gap, and both free-area searches.
    #[test]
    fn random_operations_keep_every_invariant_and_match_a_model() {
        let mut rng = XorShift64::new(42);
        let mut t = VmaTree::new();
        let mut ids: Vec<(NodeId, usize, usize)> = Vec::new();
        let (mut found, mut not_found) = (0, 0);
        for step in 0..4000 {
            match rng.below(10) {
                0..=4 => {
                    let s = rng.below(1 << 12) * P;
                    let e = s + (1 + rng.below(16)) * P;
                    if let Ok(id) = t.insert(s, e, step) {
                        ids.push((id, s, e));
                    }
                }
                5..=7 if !ids.is_empty() => {
                    let (id, _, _) = ids.swap_remove(rng.below(ids.len()));
                    assert!(t.erase(id).is_some());
                }
                8 if !ids.is_empty() => {
                    let i = rng.below(ids.len());
                    let (id, s, e) = ids[i];
                    let ns = s + P * rng.below(2);
                    let ne = (e - P * rng.below(2)).max(ns + P);
                    t.adjust(id, ns, ne).unwrap();
                    ids[i] = (id, ns, ne);
                }
                _ => {}
            }
            t.validate().unwrap_or_else(|e| panic!("step {step}: {e}"));
            let mut model: Vec<(usize, usize)> = ids.iter().map(|&(_, s, e)| (s, e)).collect();
            model.sort();
            let len = (1 + rng.below(24)) * P;
            let low = rng.below(1 << 11) * P;
            // Narrow windows as often as wide ones, so both answers happen.
            let span = if rng.below(2) == 0 { 8 } else { 1 << 12 };
            let high = low + rng.below(span) * P + len;
            let lowest = model_lowest(&model, len, low, high);
            assert_eq!(t.unmapped_area(len, low, high), lowest, "step {step}");
            if lowest.is_some() {
                found += 1;
            } else {
                not_found += 1;
            }
            assert_eq!(
                t.unmapped_area_topdown(len, low, high),
                model_highest(&model, len, low, high),
                "step {step}"
            );
            let a = rng.below(1 << 12) * P;
            let want = model.iter().find(|&&(_, e)| e > a).map(|&(s, _)| s);
            assert_eq!(t.find(a).map(|x| t.range(x).0), want, "find_vma at step {step}");
        }
        assert_eq!(t.len(), ids.len());
        assert!(
            found > 1000 && not_found > 50,
            "the searches were not exercised: {found} found, {not_found} not"
        );
    }
}
