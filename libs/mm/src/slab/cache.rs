//! kmem_cache: creation, the per-CPU array caches, the per-node slab lists,
//! growing, shrinking and reaping (Linux: mm/slab.c).

use super::debug::REDZONE;
use super::*;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use pagoda_klib::sync::SpinLockIrq;

/// End of a slab's freelist (Linux: BUFCTL_END).
const BUFCTL_END: u16 = u16::MAX;
/// Largest array cache (Linux: the limit for objects up to 256 bytes).
pub const ARRAY_CACHE_MAX: usize = 120;
/// Slabs of small objects use one page, bigger ones may use two
/// (Linux: slab_max_order = SLAB_MAX_ORDER_HI with enough memory).
const SLAB_MAX_ORDER: usize = 1;
/// Orders tried for objects that do not fit otherwise (8 KiB objects).
const MAX_GFP_ORDER: usize = 5;

/// The slab descriptor, followed by `num` u16 freelist entries
/// (Linux 2.6: struct slab + kmem_bufctl_t[]).
#[repr(C)]
pub(super) struct Slab {
    next: *mut Slab,
    prev: *mut Slab,
    /// Address of the slab's first page.
    page: usize,
    /// Address of object 0.
    s_mem: usize,
    /// Objects handed out.
    inuse: usize,
    /// Index of the first free object, or BUFCTL_END.
    free: u16,
    nid: u16,
    /// Which list the slab is on.
    list: u8,
}

const LIST_FULL: u8 = 0;
const LIST_PARTIAL: u8 = 1;
const LIST_FREE: u8 = 2;

impl Slab {
    fn freelist(this: *mut Slab) -> *mut u16 {
        // SAFETY: the freelist array directly follows the descriptor.
        unsafe { (this as *mut u8).add(core::mem::size_of::<Slab>()) as *mut u16 }
    }
}

/// An intrusive doubly linked list of slabs.
struct SlabList {
    head: *mut Slab,
    len: usize,
}

impl SlabList {
    const EMPTY: SlabList = SlabList { head: null_mut(), len: 0 };

    /// # Safety
    /// `s` is a live slab descriptor that is on no list.
    unsafe fn push(&mut self, s: *mut Slab, tag: u8) {
        // SAFETY: per the contract; the list owns its members' links.
        unsafe {
            (*s).prev = null_mut();
            (*s).next = self.head;
            (*s).list = tag;
            if !self.head.is_null() {
                (*self.head).prev = s;
            }
        }
        self.head = s;
        self.len += 1;
    }

    /// # Safety
    /// `s` is on this list.
    unsafe fn remove(&mut self, s: *mut Slab) {
        // SAFETY: per the contract.
        unsafe {
            if (*s).prev.is_null() {
                self.head = (*s).next;
            } else {
                (*(*s).prev).next = (*s).next;
            }
            if !(*s).next.is_null() {
                (*(*s).next).prev = (*s).prev;
            }
        }
        self.len -= 1;
    }
}

/// Per-node state (Linux: struct kmem_cache_node), under its list_lock.
struct KmemCacheNode {
    slabs_full: SlabList,
    slabs_partial: SlabList,
    slabs_free: SlabList,
    free_objects: usize,
    total_slabs: usize,
    /// Free objects kept in free slabs before empty slabs are released.
    free_limit: usize,
    free_touched: bool,
    colour_next: usize,
}

// SAFETY: the raw slab pointers are only followed under the node's lock.
unsafe impl Send for KmemCacheNode {}

impl KmemCacheNode {
    const EMPTY: KmemCacheNode = KmemCacheNode {
        slabs_full: SlabList::EMPTY,
        slabs_partial: SlabList::EMPTY,
        slabs_free: SlabList::EMPTY,
        free_objects: 0,
        total_slabs: 0,
        free_limit: 0,
        free_touched: false,
        colour_next: 0,
    };

    fn list(&mut self, tag: u8) -> &mut SlabList {
        match tag {
            LIST_FULL => &mut self.slabs_full,
            LIST_PARTIAL => &mut self.slabs_partial,
            _ => &mut self.slabs_free,
        }
    }

    /// # Safety
    /// `s` is a slab of this node.
    unsafe fn move_to(&mut self, s: *mut Slab, tag: u8) {
        // SAFETY: per the contract.
        unsafe {
            let from = (*s).list;
            if from != tag {
                self.list(from).remove(s);
                self.list(tag).push(s, tag);
            }
        }
    }
}

/// One CPU's stack of free objects (Linux: struct array_cache).
pub(super) struct ArrayCache {
    avail: usize,
    limit: usize,
    batchcount: usize,
    touched: bool,
    /// Objects allocated and freed on this CPU (statistics, summed on read).
    allocs: usize,
    frees: usize,
    entry: [usize; ARRAY_CACHE_MAX],
}

impl ArrayCache {
    const EMPTY: ArrayCache = ArrayCache {
        avail: 0,
        limit: 0,
        batchcount: 0,
        touched: false,
        allocs: 0,
        frees: 0,
        entry: [0; ARRAY_CACHE_MAX],
    };
}

/// What /proc/slabinfo shows for a cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlabInfo {
    pub active_objs: usize,
    pub num_objs: usize,
    pub active_slabs: usize,
    pub num_slabs: usize,
    /// Objects sitting in array caches.
    pub cached_objs: usize,
}

/// A slab cache (Linux: struct kmem_cache).
pub struct KmemCache {
    pub name: &'static str,
    /// Bytes the user asked for.
    pub object_size: usize,
    /// Stride between objects: object plus red zones, aligned.
    pub size: usize,
    pub align: usize,
    pub flags: SlabFlags,
    /// Offset of the user pointer within an object (red zone 1).
    pub(super) obj_offset: usize,
    ctor: Option<fn(*mut u8)>,
    pub gfporder: usize,
    /// Objects per slab.
    pub num: usize,
    /// Number of distinct colours, and the step between them.
    pub colour: usize,
    pub colour_off: usize,
    /// Descriptor + freelist kept outside the slab.
    pub off_slab: bool,
    /// Bytes of descriptor + freelist.
    mgmt_size: usize,
    mgmt_cache: Option<&'static KmemCache>,
    pub limit: usize,
    pub batchcount: usize,
    cpu: [SpinLockIrq<ArrayCache>; SLAB_NR_CPUS],
    node: [SpinLockIrq<KmemCacheNode>; SLAB_MAX_NUMNODES],
    backend: &'static dyn SlabBackend,
    /// Debug findings reported (double frees, overwrites, use after free).
    pub errors: AtomicUsize,
    /// Slabs grown / destroyed.
    pub grown: AtomicUsize,
    pub destroyed: AtomicUsize,
}

/// (objects per slab, bytes left over) for `size`-byte objects in
/// 2^gfporder pages (Linux: cache_estimate).
fn cache_estimate(gfporder: usize, size: usize, align: usize, off_slab: bool) -> (usize, usize) {
    let slab_bytes = PAGE_SIZE << gfporder;
    let hdr = core::mem::size_of::<Slab>();
    if off_slab {
        let num = (slab_bytes / size).min(BUFCTL_END as usize - 1);
        return (num, slab_bytes - num * size);
    }
    // Descriptor, one u16 per object, then objects from an aligned start.
    let mut num = (slab_bytes.saturating_sub(hdr)) / (size + 2);
    while num > 0 && (hdr + 2 * num).next_multiple_of(align) + num * size > slab_bytes {
        num -= 1;
    }
    let mgmt = (hdr + 2 * num).next_multiple_of(align);
    (num, slab_bytes - mgmt - num * size)
}

/// Array-cache size for an object size (Linux: enable_cpucache).
fn cpucache_limit(size: usize) -> usize {
    match size {
        s if s > 131_072 => 1,
        s if s > PAGE_SIZE => 8,
        s if s > 1024 => 24,
        s if s > 256 => 54,
        _ => ARRAY_CACHE_MAX,
    }
}

impl KmemCache {
    /// Creates a cache (Linux: kmem_cache_create). `mgmt_cache` provides
    /// off-slab descriptors for big objects; without it every slab is
    /// on-slab. The cache structure itself takes whole pages from `backend`.
    pub fn create(
        name: &'static str,
        size: usize,
        align: usize,
        flags: SlabFlags,
        ctor: Option<fn(*mut u8)>,
        backend: &'static dyn SlabBackend,
        mgmt_cache: Option<&'static KmemCache>,
    ) -> Result<&'static KmemCache, SlabError> {
        if size == 0 || size > (PAGE_SIZE << MAX_GFP_ORDER) / 2 || (align != 0 && !align.is_power_of_two()) {
            return Err(SlabError::InvalidSize);
        }
        let mut flags = flags;
        if ctor.is_some() {
            flags.remove(SlabFlags::POISON); // poisoning would destroy constructed state
        }
        // Alignment: at least a word; a cache line with HWCACHE_ALIGN if the
        // object is not tiny (Linux: calculate_alignment).
        let mut align = align.max(8);
        if flags.contains(SlabFlags::HWCACHE_ALIGN) {
            let mut ralign = CACHE_LINE_SIZE;
            while size <= ralign / 2 {
                ralign /= 2;
            }
            align = align.max(ralign);
        }
        let debug = flags.contains(SlabFlags::RED_ZONE);
        // The user part starts aligned, with red zone 1 just before it.
        let obj_offset = if debug { align.max(REDZONE) } else { 0 };
        let stride =
            (obj_offset + size.next_multiple_of(8) + if debug { REDZONE } else { 0 }).next_multiple_of(align);
        let off_slab = stride >= PAGE_SIZE / 8 && mgmt_cache.is_some();
        // Smallest order with acceptable waste (Linux: calculate_slab_order).
        let mut chosen = None;
        for gfporder in 0..=MAX_GFP_ORDER {
            let (num, left) = cache_estimate(gfporder, stride, align, off_slab);
            if num == 0 {
                continue;
            }
            chosen = Some((gfporder, num, left));
            if gfporder >= SLAB_MAX_ORDER || left * 8 <= PAGE_SIZE << gfporder {
                break;
            }
        }
        let (gfporder, num, left) = chosen.ok_or(SlabError::InvalidSize)?;
        let mgmt_size = core::mem::size_of::<Slab>() + 2 * num;
        let mgmt_cache = if off_slab {
            let m = mgmt_cache.unwrap();
            if m.object_size < mgmt_size {
                return Err(SlabError::InvalidSize);
            }
            Some(m)
        } else {
            None
        };
        let colour_off = CACHE_LINE_SIZE.max(align);
        let limit = cpucache_limit(stride);
        let batchcount = limit.div_ceil(2);

        let struct_pages = core::mem::size_of::<KmemCache>().div_ceil(PAGE_SIZE);
        let order = struct_pages.next_power_of_two().trailing_zeros() as usize;
        let mem = backend
            .alloc_slab_pages(order, Gfp::GFP_KERNEL, backend.this_node())
            .ok_or(SlabError::NoMemory)?;
        let cache = KmemCache {
            name,
            object_size: size,
            size: stride,
            align,
            flags,
            obj_offset,
            ctor,
            gfporder,
            num,
            colour: left / colour_off,
            colour_off,
            off_slab,
            mgmt_size,
            mgmt_cache,
            limit,
            batchcount,
            cpu: [const { SpinLockIrq::new(ArrayCache::EMPTY) }; SLAB_NR_CPUS],
            node: [const { SpinLockIrq::new(KmemCacheNode::EMPTY) }; SLAB_MAX_NUMNODES],
            backend,
            errors: AtomicUsize::new(0),
            grown: AtomicUsize::new(0),
            destroyed: AtomicUsize::new(0),
        };
        for ac in cache.cpu.iter() {
            let mut ac = ac.lock();
            ac.limit = limit;
            ac.batchcount = batchcount;
        }
        for n in cache.node.iter() {
            // Linux: (1 + nr_cpus) * batchcount + num.
            n.lock().free_limit = 2 * batchcount + num;
        }
        // SAFETY: fresh pages, large enough and page aligned, owned by the cache for good.
        unsafe {
            let p = mem as *mut KmemCache;
            p.write(cache);
            Ok(&*p)
        }
    }

    pub(super) fn bad(&self, msg: core::fmt::Arguments) {
        self.errors.fetch_add(1, Relaxed);
        self.backend.report(msg);
    }

    /// A new slab for node `nid` (Linux: cache_grow / alloc_slabmgmt /
    /// cache_init_objs). Called without the node lock.
    fn cache_grow(&self, gfp: Gfp, nid: usize) -> Option<*mut Slab> {
        let page = self.backend.alloc_slab_pages(self.gfporder, gfp, nid)?;
        let nid = self.backend.page_nid(page);
        let colouroff = {
            let mut n = self.node[nid].lock();
            let c = n.colour_next;
            n.colour_next = if self.colour == 0 { 0 } else { (c + 1) % self.colour };
            c * self.colour_off
        };
        let (slab, s_mem) = if self.off_slab {
            let m = self.mgmt_cache.unwrap();
            let Some(d) = m.alloc(gfp) else {
                self.backend.free_slab_pages(page, self.gfporder);
                return None;
            };
            (d as *mut Slab, page + colouroff)
        } else {
            let s_mem = (page + colouroff + self.mgmt_size).next_multiple_of(self.align);
            ((page + colouroff) as *mut Slab, s_mem)
        };
        // SAFETY: the descriptor and freelist fit where cache_estimate put them.
        unsafe {
            slab.write(Slab {
                next: null_mut(),
                prev: null_mut(),
                page,
                s_mem,
                inuse: 0,
                free: 0,
                nid: nid as u16,
                list: LIST_FREE,
            });
            let fl = Slab::freelist(slab);
            for i in 0..self.num {
                fl.add(i).write(if i + 1 == self.num { BUFCTL_END } else { (i + 1) as u16 });
                let obj = s_mem + i * self.size;
                self.debug_init_obj(obj);
                if let Some(ctor) = self.ctor {
                    ctor((obj + self.obj_offset) as *mut u8);
                }
            }
        }
        self.backend.set_slab_owner(
            page,
            self.gfporder,
            Some(SlabOwner { cache: self as *const _ as usize, slab: slab as usize }),
        );
        self.backend.account_slab_pages(
            nid,
            self.flags.contains(SlabFlags::RECLAIM_ACCOUNT),
            1 << self.gfporder,
        );
        self.grown.fetch_add(1, Relaxed);
        Some(slab)
    }

    /// Returns a slab's pages (and off-slab descriptor). Not on any list.
    fn slab_destroy(&self, slab: *mut Slab) {
        // SAFETY: the slab was just taken off its list and has no live objects.
        let (page, nid) = unsafe { ((*slab).page, (*slab).nid as usize) };
        self.backend.set_slab_owner(page, self.gfporder, None);
        if self.off_slab {
            self.mgmt_cache.unwrap().free(slab as *mut u8);
        }
        self.backend.free_slab_pages(page, self.gfporder);
        self.backend.account_slab_pages(
            nid,
            self.flags.contains(SlabFlags::RECLAIM_ACCOUNT),
            -(1 << self.gfporder),
        );
        self.destroyed.fetch_add(1, Relaxed);
    }

    /// Takes up to `want` objects from node `nid`'s slabs into `out`
    /// (Linux: cache_alloc_refill, the part under the node's list_lock).
    // The slow path: kept out of line so the fast path stays small.
    #[cold]
    #[inline(never)]
    fn refill(&self, out: &mut ArrayCache, want: usize, nid: usize) {
        let mut n = self.node[nid].lock();
        while out.avail < want {
            let s = if !n.slabs_partial.head.is_null() { n.slabs_partial.head } else { n.slabs_free.head };
            if s.is_null() {
                break;
            }
            // SAFETY: `s` is on this node's lists, under its lock.
            unsafe {
                while (*s).inuse < self.num && out.avail < want {
                    let idx = (*s).free as usize;
                    (*s).free = *Slab::freelist(s).add(idx);
                    (*s).inuse += 1;
                    out.entry[out.avail] = (*s).s_mem + idx * self.size;
                    out.avail += 1;
                    n.free_objects -= 1;
                }
                n.move_to(s, if (*s).inuse == self.num { LIST_FULL } else { LIST_PARTIAL });
            }
        }
        n.free_touched = true;
    }

    /// Adds one new slab to its node's free list (Linux: cache_grow_begin +
    /// cache_grow_end). Called with no slab lock held, because the page
    /// allocator may sleep for a GFP_KERNEL request: Linux re-enables
    /// interrupts around kmem_getpages for the same reason.
    #[cold]
    #[inline(never)]
    fn grow(&self, gfp: Gfp, nid: usize) -> bool {
        let Some(s) = self.cache_grow(gfp, nid) else { return false };
        // SAFETY: the new slab belongs to the node it was allocated on.
        let snid = unsafe { (*s).nid as usize };
        let mut n = self.node[snid].lock();
        // SAFETY: a new slab is on no list yet.
        unsafe { n.slabs_free.push(s, LIST_FREE) };
        n.free_objects += self.num;
        n.total_slabs += 1;
        true
    }

    fn free_block(&self, objs: &[usize]) {
        let mut to_destroy: [*mut Slab; 16] = [null_mut(); 16];
        let mut nd = 0;
        for &obj in objs {
            let Some(owner) = self.backend.slab_owner(obj) else { continue };
            let s = owner.slab as *mut Slab;
            // SAFETY: the owner record names this object's slab.
            let nid = unsafe { (*s).nid as usize };
            let mut n = self.node[nid].lock();
            // SAFETY: under the node lock; obj lies in the slab.
            unsafe {
                let idx = (obj - (*s).s_mem) / self.size;
                *Slab::freelist(s).add(idx) = (*s).free;
                (*s).free = idx as u16;
                (*s).inuse -= 1;
                n.free_objects += 1;
                if (*s).inuse == 0 {
                    if n.free_objects > n.free_limit && nd < to_destroy.len() {
                        n.list((*s).list).remove(s);
                        n.free_objects -= self.num;
                        n.total_slabs -= 1;
                        to_destroy[nd] = s;
                        nd += 1;
                    } else {
                        n.move_to(s, LIST_FREE);
                    }
                } else {
                    n.move_to(s, LIST_PARTIAL);
                }
            }
        }
        for &s in &to_destroy[..nd] {
            self.slab_destroy(s);
        }
    }

    /// Allocates one object (Linux: kmem_cache_alloc).
    ///
    /// Fast path: pop from this CPU's array cache. Slow path: refill it
    /// from the node's slabs; if they are empty too, drop the lock, grow
    /// the cache by one slab and try again (the CPU may have changed if the
    /// page allocator slept, so `this_cpu` is read again).
    pub fn alloc(&self, gfp: Gfp) -> Option<*mut u8> {
        let mut grows = 0;
        let obj = loop {
            let cpu = self.backend.this_cpu() % SLAB_NR_CPUS;
            let mut ac = self.cpu[cpu].lock();
            if ac.avail == 0 {
                let want = ac.batchcount;
                self.refill(&mut ac, want, self.backend.this_node());
            }
            if ac.avail > 0 {
                ac.touched = true;
                ac.allocs += 1;
                ac.avail -= 1;
                break ac.entry[ac.avail];
            }
            drop(ac);
            // Another CPU may take the new slab's objects first; one more
            // grow is allowed, then the allocation fails rather than spin.
            if grows == 2 || !self.grow(gfp, self.backend.this_node()) {
                return None;
            }
            grows += 1;
        };
        if self.flags.intersects(SlabFlags::DEBUG) {
            // SAFETY: `obj` is an object of this cache, now ours.
            unsafe { self.debug_check_alloc(obj) };
        }
        let p = (obj + self.obj_offset) as *mut u8;
        if gfp.contains(Gfp::__GFP_ZERO) {
            // SAFETY: the user part of the object is ours.
            unsafe { core::ptr::write_bytes(p, 0, self.object_size) };
        }
        Some(p)
    }

    /// Checks that `p` is the user pointer of an object of this cache.
    fn object_of(&self, p: usize) -> Option<usize> {
        self.object_in(p, self.backend.slab_owner(p)?)
    }

    /// Like `object_of`, with the page's owner record already looked up.
    fn object_in(&self, p: usize, owner: SlabOwner) -> Option<usize> {
        if owner.cache != self as *const _ as usize {
            return None;
        }
        // SAFETY: the owner record names a live slab of this cache.
        let s_mem = unsafe { (*(owner.slab as *const Slab)).s_mem };
        let obj = p.checked_sub(self.obj_offset)?;
        (obj >= s_mem && (obj - s_mem) % self.size == 0 && (obj - s_mem) / self.size < self.num)
            .then_some(obj)
    }

    /// Frees an object (Linux: kmem_cache_free). With debugging on, a
    /// pointer that is not an object of this cache is reported and ignored;
    /// without it, as in Linux, the fast path trusts the caller (kfree
    /// checks ownership before it gets here).
    pub fn free(&self, p: *mut u8) {
        let obj = if self.flags.intersects(SlabFlags::DEBUG) {
            let Some(obj) = self.object_of(p as usize) else {
                self.bad(format_args!(
                    "kmem_cache_free: {:#x} is not an object of cache `{}'",
                    p as usize, self.name
                ));
                return;
            };
            // SAFETY: `obj` is an object of this cache.
            if !unsafe { self.debug_check_free(obj) } {
                return;
            }
            obj
        } else {
            p as usize - self.obj_offset
        };
        let cpu = self.backend.this_cpu() % SLAB_NR_CPUS;
        let mut guard = self.cpu[cpu].lock();
        let ac = &mut *guard;
        ac.frees += 1;
        if ac.avail == ac.limit {
            self.flush_array(ac);
        }
        ac.entry[ac.avail] = obj;
        ac.avail += 1;
    }

    /// The array cache is full: the oldest `batchcount` objects (the bottom
    /// of the stack) go back to their slabs (Linux: cache_flusharray).
    #[cold]
    #[inline(never)]
    fn flush_array(&self, ac: &mut ArrayCache) {
        let n = ac.batchcount.min(ac.avail);
        let mut batch = [0usize; ARRAY_CACHE_MAX];
        batch[..n].copy_from_slice(&ac.entry[..n]);
        ac.entry.copy_within(n..ac.avail, 0);
        ac.avail -= n;
        self.free_block(&batch[..n]);
    }

    /// Empties every CPU's array cache into the slabs (Linux: drain_cpu_caches).
    pub fn drain_cpu_caches(&self) {
        for cpu in self.cpu.iter() {
            let mut ac = cpu.lock();
            let n = ac.avail;
            let batch = ac.entry;
            ac.avail = 0;
            self.free_block(&batch[..n]);
        }
    }

    /// Releases up to `max` free slabs of every node; returns slabs freed
    /// (Linux: drain_freelist).
    fn drain_freelist(&self, max: usize) -> usize {
        let mut freed = 0;
        for node in self.node.iter() {
            while freed < max {
                let s = {
                    let mut n = node.lock();
                    let s = n.slabs_free.head;
                    if s.is_null() {
                        break;
                    }
                    // SAFETY: `s` is on the free list of this node.
                    unsafe { n.slabs_free.remove(s) };
                    n.free_objects -= self.num;
                    n.total_slabs -= 1;
                    s
                };
                self.slab_destroy(s);
                freed += 1;
            }
        }
        freed
    }

    /// Gives back everything that is free: array caches and empty slabs.
    /// Returns the pages freed (Linux: kmem_cache_shrink / __kmem_cache_shrink).
    pub fn shrink(&self) -> usize {
        self.drain_cpu_caches();
        self.drain_freelist(usize::MAX) << self.gfporder
    }

    /// One periodic reaping pass (Linux: cache_reap): array caches not used
    /// since the last pass give back a fifth of their objects, and a fifth of
    /// the free slabs go if the free lists were not touched. Returns pages freed.
    pub fn reap(&self) -> usize {
        for cpu in self.cpu.iter() {
            let mut guard = cpu.lock();
            let ac = &mut *guard;
            if ac.touched {
                ac.touched = false;
            } else if ac.avail > 0 {
                let n = ac.avail.min(ac.limit.div_ceil(5));
                let mut batch = [0usize; ARRAY_CACHE_MAX];
                batch[..n].copy_from_slice(&ac.entry[..n]);
                ac.entry.copy_within(n..ac.avail, 0);
                ac.avail -= n;
                self.free_block(&batch[..n]);
            }
        }
        let mut slabs = 0;
        for node in self.node.iter() {
            let mut n = node.lock();
            if n.free_touched {
                n.free_touched = false;
            } else {
                slabs += n.slabs_free.len.div_ceil(5);
            }
        }
        self.drain_freelist(slabs) << self.gfporder
    }

    /// Destroys an empty cache (Linux: kmem_cache_destroy). Refused while
    /// objects are live.
    ///
    /// # Safety
    /// No one may use the cache afterwards.
    pub unsafe fn destroy(&'static self) -> Result<(), SlabError> {
        self.shrink();
        if self.node.iter().any(|n| n.lock().total_slabs > 0) {
            self.backend
                .report(format_args!("kmem_cache_destroy {}: Slab cache still has objects", self.name));
            return Err(SlabError::Busy);
        }
        let struct_pages = core::mem::size_of::<KmemCache>().div_ceil(PAGE_SIZE);
        let order = struct_pages.next_power_of_two().trailing_zeros() as usize;
        self.backend.free_slab_pages(self as *const _ as usize, order);
        Ok(())
    }

    /// The /proc/slabinfo numbers.
    pub fn info(&self) -> SlabInfo {
        let mut i = SlabInfo::default();
        for node in self.node.iter() {
            let n = node.lock();
            i.num_slabs += n.total_slabs;
            i.num_objs += n.total_slabs * self.num;
            i.active_objs += n.total_slabs * self.num - n.free_objects;
            i.active_slabs += n.slabs_full.len + n.slabs_partial.len;
        }
        i.cached_objs = self.cpu.iter().map(|c| c.lock().avail).sum();
        i
    }

    /// Objects in this CPU's array cache (for tests and slabinfo).
    pub fn array_avail(&self, cpu: usize) -> usize {
        self.cpu[cpu % SLAB_NR_CPUS].lock().avail
    }

    /// Objects allocated and freed over the cache's life.
    pub fn allocs(&self) -> usize {
        self.cpu.iter().map(|c| c.lock().allocs).sum()
    }
    pub fn frees(&self) -> usize {
        self.cpu.iter().map(|c| c.lock().frees).sum()
    }

    /// Whether `p`, whose slab page has owner record `owner`, is the user
    /// pointer of an object of this cache (kfree checks this before freeing).
    pub fn owns(&self, p: *const u8, owner: SlabOwner) -> bool {
        self.object_in(p as usize, owner).is_some()
    }

    /// Usable size of an object (Linux: ksize).
    pub fn ksize(&self) -> usize {
        self.object_size
    }

    /// Checks the cache's slabs: counts, list membership and freelists.
    pub fn check(&self) -> Result<(), &'static str> {
        for node in self.node.iter() {
            let n = node.lock();
            let mut total = 0;
            let mut free = 0;
            for (tag, list) in
                [(LIST_FULL, &n.slabs_full), (LIST_PARTIAL, &n.slabs_partial), (LIST_FREE, &n.slabs_free)]
            {
                let mut s = list.head;
                let mut len = 0;
                while !s.is_null() {
                    // SAFETY: walking this node's list under its lock.
                    unsafe {
                        if (*s).list != tag {
                            return Err("slab on the wrong list");
                        }
                        let inuse = (*s).inuse;
                        let want = match tag {
                            LIST_FULL => inuse == self.num,
                            LIST_PARTIAL => inuse > 0 && inuse < self.num,
                            _ => inuse == 0,
                        };
                        if !want {
                            return Err("slab's inuse does not match its list");
                        }
                        let mut k = 0;
                        let mut idx = (*s).free;
                        while idx != BUFCTL_END {
                            if idx as usize >= self.num || k > self.num {
                                return Err("corrupt freelist");
                            }
                            idx = *Slab::freelist(s).add(idx as usize);
                            k += 1;
                        }
                        if k != self.num - inuse {
                            return Err("freelist length differs from free count");
                        }
                        free += k;
                        s = (*s).next;
                    }
                    len += 1;
                }
                if len != list.len {
                    return Err("list length mismatch");
                }
                total += len;
            }
            if total != n.total_slabs || free != n.free_objects {
                return Err("node counters mismatch");
            }
        }
        Ok(())
    }
}

// SAFETY: all mutable state is behind the per-CPU and per-node locks.
unsafe impl Sync for KmemCache {}
// SAFETY: as above.
unsafe impl Send for KmemCache {}
