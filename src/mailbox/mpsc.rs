//! A lock-free, unbounded, multi-producer single-consumer queue made of linked blocks of slots
//! (the design of tokio's and crossbeam's block lists, written for mailboxes).
//!
//! A push claims an index with one `fetch_add` on `tail` (its only read-modify-write), writes
//! the value into that index's slot and publishes it with a store to the slot's flag. No
//! allocation per value: blocks are allocated as the queue grows and recycled by the consumer
//! once every slot in them has been read. The consumer pops in index order; a slot whose
//! producer has claimed it but not yet published it reads as "not yet" ([`Queue::pop`] says so,
//! and the consumer comes back for it), and it does not hide the slots after it from
//! [`Queue::drain_ready`], which a dying process uses to answer every request it can see without
//! waiting for anybody.
//!
//! Memory per queue: the first block has two slots and each new block doubles, up to
//! [`MAX_CAP`], so a process that gets a few messages pays for a few slots, and a busy one
//! gets blocks of 32, recycled. A queue whose backlog grows gets blocks sized to a quarter of its
//! backlog (up to [`BIG_CAP`] slots, about 70 KiB of envelopes), allocated zeroed: a
//! million-message burst costs a thousand allocations instead of thirty thousand. Read blocks of
//! any size from `MAX_CAP` up are recycled like the blocks of 32, but only into a spare chain of
//! at most two blocks beyond the tail hint; the rest are freed. So when a burst drains the queue
//! keeps at most four big blocks (the one its head is in, the one before until the next block
//! boundary, and two spares): a process that once held a million messages keeps about three
//! hundred kilobytes, not the burst's megabytes. The spares are what a stream whose consumer
//! keeps falling behind (it sleeps, a backlog builds while it wakes, it catches up) needs for its
//! next backlog: freeing them and allocating fresh zeroed blocks each time cost the producer page
//! faults and zeroing on every such cycle (ping11x: 15 → 19 M msg/s with them kept).
//!
//! ## Reclaiming blocks (why no producer ever touches a freed block)
//! Producers find their block from the `tail_block` hint, walking `next` pointers forward. The
//! hint moves past a block only once every slot of that block is published (`is_final`), so a
//! producer whose slot is still unpublished always finds the hint at or before its block. The
//! producer that moves the hint past a block records the tail index it then sees
//! (`observed_tail`) and marks the block released. The consumer recycles a released block only
//! after it has read every index below `observed_tail`: every producer that might have loaded the
//! hint while it still pointed at that block claimed an index below `observed_tail` (the hint move
//! and the tail read are sequentially consistent, as are the producers' claim and hint load), so
//! it has published its slot, so it is done with the block.
//!
//! ## Pressure (Step 3b, docs/decisions.md D70)
//! A queue may have a *limit* (the mailbox's capacity or the node's high-water mark, whichever is
//! lower). The top bit of `tail` says "over the limit": every push learns it from the value its
//! claim returns, at no extra cost, and every 64th claim (fewer for small limits) measures the
//! length and sets or clears the bit. Whoever wants room — a producer held back at the end of its
//! callback, a `send_wait` — registers a `Waker` here and raises `watch` on the consumer's line;
//! the consumer, which reads that flag beside its own head on every pop, wakes them all once
//! the length is at or below the *low-water* mark (half the limit). A waiter re-reads the length
//! after raising `watch`, and then notifies the consumer's process, so the consumer runs at least
//! once after it can see the flag: no waiter sleeps on a queue that has already drained.
//!
//! Owns: the blocks and the values in them, and the waiters for room. Never: blocks, or lets a
//! value out twice.

use crate::sync::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, Mutex, UnsafeCell};
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::task::Waker;

/// Slots in the largest block.
pub(crate) const MAX_CAP: u64 = 32;
/// Slots in the largest block of a queue with a long backlog.
pub(crate) const BIG_CAP: u64 = 1 << 10;
/// The top bit of `tail`: the queue is over its limit (see the module notes). Claims add 1 to the
/// low bits, which never reach it.
const OVER: u64 = 1 << 63;
/// Slots in a queue's first block.
const FIRST_CAP: u64 = 2;
/// Slot flags.
const EMPTY: u8 = 0;
const WRITTEN: u8 = 1;
/// Taken out of order by `drain_ready` (so `Drop` leaves it alone).
const TAKEN: u8 = 2;
/// How many times the consumer tries to append a recycled block before freeing it.
const RECYCLE_TRIES: usize = 2;

struct Block<T> {
    /// Index of the first slot. Written before the block is published (allocation or recycling,
    /// through a Release store of a `next` pointer), read by whoever found it through one.
    start: AtomicU64,
    /// Number of slots (a power of two, at most `BIG_CAP`); fixed for the block's life.
    cap: u64,
    next: AtomicPtr<Block<T>>,
    /// Set once the tail hint has moved past the block (`observed_tail` is then valid).
    released: AtomicBool,
    /// The tail index seen by the producer that moved the hint past this block.
    observed_tail: AtomicU64,
    slots: Box<[Slot<T>]>,
}

struct Slot<T> {
    value: UnsafeCell<MaybeUninit<T>>,
    /// `EMPTY` until the producer publishes the value (`WRITTEN`); `TAKEN` after an out-of-order
    /// take. Reset to `EMPTY` when the block is recycled.
    state: AtomicU8,
}

impl<T> Block<T> {
    fn alloc(start: u64, cap: u64) -> *mut Block<T> {
        let slots = Self::slots(cap);
        Box::into_raw(Box::new(Block {
            start: AtomicU64::new(start),
            cap,
            next: AtomicPtr::new(ptr::null_mut()),
            released: AtomicBool::new(false),
            observed_tail: AtomicU64::new(0),
            slots,
        }))
    }

    /// `cap` empty slots.
    #[cfg(not(loom))]
    fn slots(cap: u64) -> Box<[Slot<T>]> {
        let cap = cap as usize;
        let layout = std::alloc::Layout::array::<Slot<T>>(cap)
            .unwrap_or_else(|_| std::alloc::handle_alloc_error(std::alloc::Layout::new::<u8>()));
        if layout.size() == 0 {
            return (0..cap)
                .map(|_| Slot { value: UnsafeCell::new(MaybeUninit::uninit()), state: AtomicU8::new(EMPTY) })
                .collect();
        }
        // SAFETY: a non-zero-sized layout. All-zero bytes are a valid `Slot<T>`: an `AtomicU8` of
        // 0 (`EMPTY`) and a `MaybeUninit` (any bytes). Zeroed memory from the allocator is, for a
        // large block, the kernel's untouched pages: nothing is written until a slot is used.
        unsafe {
            let p = std::alloc::alloc_zeroed(layout).cast::<Slot<T>>();
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            Box::from_raw(ptr::slice_from_raw_parts_mut(p, cap))
        }
    }

    /// `cap` empty slots (loom's atomics are not plain bytes).
    #[cfg(loom)]
    fn slots(cap: u64) -> Box<[Slot<T>]> {
        (0..cap).map(|_| Slot { value: UnsafeCell::new(MaybeUninit::uninit()), state: AtomicU8::new(EMPTY) }).collect()
    }

    /// Every slot published (checked by a producer walking past the block: once per block).
    fn is_final(&self) -> bool {
        self.slots.iter().all(|s| s.state.load(Acquire) != EMPTY)
    }
}

/// The queue. `push` may be called from any thread; the consumer methods only by one thread at a
/// time, which the owner of the queue guarantees (a mailbox is drained only by the worker that
/// holds its process's Running state).
pub(crate) struct Queue<T> {
    /// Producers' line.
    tx: Line<Tx<T>>,
    /// Consumer's line: written on every pop, so kept off the producers' line (a stream across
    /// cores would otherwise move one line back and forth per message).
    rxl: Line<RxLine<T>>,
    /// Who waits for room (cold: touched only under pressure).
    waiters: Mutex<Waiters>,
    /// Time producers spent held back by this queue, in ns (added when each hold ends).
    held_ns: AtomicU64,
}

/// A cache line of its own (64 bytes: the unit of transfer between cores here).
#[repr(align(64))]
struct Line<T>(T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

struct Tx<T> {
    /// Next index to claim, and the `OVER` bit.
    tail: AtomicU64,
    /// A block at or before the one holding the oldest unpublished claimed index (see above).
    tail_block: AtomicPtr<Block<T>>,
    /// The length at which the queue is over its limit; 0 = no limit (fixed at creation).
    limit: u64,
    /// The length at or below which waiters for room are woken (fixed).
    low: u64,
    /// A claim whose index has none of these bits set measures the length (fixed).
    sample_mask: u64,
}

struct RxLine<T> {
    /// Next index to read, published for `len` (a snapshot).
    head_pub: AtomicU64,
    /// Somebody waits for room (`waiters` is not empty): set by waiters, cleared by the consumer.
    watch: AtomicBool,
    /// Consumer-only state.
    rx: UnsafeCell<Rx<T>>,
}

struct Rx<T> {
    head: u64,
    /// The block holding `head` (or the last one before it, when `head` is a block's end).
    head_block: *mut Block<T>,
    /// The oldest block not yet recycled.
    free_head: *mut Block<T>,
    /// While `head` is below this the length is above the low-water mark (a lower bound the
    /// consumer computed; claims only make the queue longer), so `watch` needs no look at `tail`.
    relieve_at: u64,
}

/// The wakers of those waiting for room.
#[derive(Default)]
struct Waiters {
    list: Vec<Waker>,
    /// The consumer is gone: nobody is registered any more.
    closed: bool,
}

/// Whether a producer may go on after asking for room (`Queue::wait_for_room`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Room {
    /// At or below the low-water mark already, or the consumer is gone: nothing was registered.
    Now,
    /// Registered: the waker is woken once the queue is at or below the low-water mark. `fresh`
    /// when this call added it (the caller must then notify the consumer's process).
    Later { fresh: bool },
}

// SAFETY: values of `T` move from producer threads to the consumer thread, so `T: Send`
// suffices; the shared state is atomics, and `rx` is touched only by the single consumer.
unsafe impl<T: Send> Send for Queue<T> {}
// SAFETY: as above; consumer exclusivity is the contract stated on the consumer methods.
unsafe impl<T: Send> Sync for Queue<T> {}

/// The claim index in a value of `tail`.
#[inline(always)]
fn index_of(tail: u64) -> u64 {
    tail & !OVER
}

impl<T> Queue<T> {
    /// An empty queue that counts itself over its limit at `limit` values (0 = never).
    pub(crate) fn new(limit: u64) -> Self {
        let first = Block::alloc(0, FIRST_CAP);
        let limit = limit.min(OVER - 1);
        // Measure often enough to notice the limit within an eighth of it, at most every 64th
        // claim; with no limit, only the first claim looks (and finds nothing to do).
        let sample_mask = if limit == 0 { u64::MAX } else { (limit / 8).clamp(1, 64).next_power_of_two() - 1 };
        Queue {
            tx: Line(Tx {
                tail: AtomicU64::new(0),
                tail_block: AtomicPtr::new(first),
                limit,
                low: limit / 2,
                sample_mask,
            }),
            rxl: Line(RxLine {
                head_pub: AtomicU64::new(0),
                watch: AtomicBool::new(false),
                rx: UnsafeCell::new(Rx { head: 0, head_block: first, free_head: first, relieve_at: 0 }),
            }),
            waiters: Mutex::new(Waiters::default()),
            held_ns: AtomicU64::new(0),
        }
    }

    /// Values queued (claimed and not yet read); a snapshot, racy by nature.
    pub(crate) fn len(&self) -> u64 {
        let tail = index_of(self.tx.tail.load(Relaxed));
        tail.saturating_sub(self.rxl.head_pub.load(Relaxed))
    }

    /// Appends a value. Lock-free; safe from any thread. `sc` publishes it with a sequentially
    /// consistent store (for a request, whose sender then re-checks that the receiver lives:
    /// D21); otherwise a release store suffices. Returns true when the queue is over its limit
    /// (as of the last measurement: see the module notes).
    ///
    /// The claim is a SeqCst read-modify-write: the wake protocol (`SchedState`) orders it
    /// before the sender's look at the receiver's state, and the consumer's `has_unpublished`
    /// after its own.
    #[inline(always)]
    pub(crate) fn push(&self, value: T, sc: bool) -> bool {
        let tail = self.tx.tail.fetch_add(1, SeqCst);
        let i = index_of(tail);
        self.write(i, value, sc);
        if i & self.tx.sample_mask == 0 {
            return self.measure(i + 1);
        }
        tail & OVER != 0
    }

    /// Appends a value unless `len() >= cap` (exactly: the claim is a compare-and-swap against a
    /// head that only grows), handing it back otherwise. `Ok(over)` as for `push`.
    pub(crate) fn push_bounded(&self, value: T, cap: u64, sc: bool) -> Result<bool, T> {
        let mut tail = self.tx.tail.load(Relaxed);
        loop {
            if index_of(tail).saturating_sub(self.rxl.head_pub.load(Acquire)) >= cap {
                self.mark(true);
                return Err(value);
            }
            match self.tx.tail.compare_exchange_weak(tail, tail + 1, SeqCst, Relaxed) {
                Ok(_) => break,
                Err(now) => tail = now,
            }
        }
        let i = index_of(tail);
        self.write(i, value, sc);
        if self.tx.limit != 0
            && (i & self.tx.sample_mask == 0 || (i + 1).saturating_sub(self.rxl.head_pub.load(Relaxed)) >= cap)
        {
            return Ok(self.measure(i + 1));
        }
        Ok(tail & OVER != 0)
    }

    /// Measures the length with `claimed` values claimed, sets or clears the `OVER` bit to match
    /// (with hysteresis: set at the limit, cleared at the low-water mark), returns whether over.
    #[cold]
    #[inline(never)]
    fn measure(&self, claimed: u64) -> bool {
        let tx = &self.tx;
        if tx.limit == 0 {
            return false;
        }
        let len = claimed.saturating_sub(self.rxl.head_pub.load(Relaxed));
        if len >= tx.limit {
            self.mark(true);
            true
        } else if len <= tx.low {
            self.mark(false);
            false
        } else {
            tx.tail.load(Relaxed) & OVER != 0
        }
    }

    /// Sets or clears the `OVER` bit (a read first: the bit rarely changes, and a write would
    /// take the producers' line).
    fn mark(&self, over: bool) {
        let tail = &self.tx.tail;
        if self.tx.limit == 0 || (tail.load(Relaxed) & OVER != 0) == over {
            return;
        }
        if over {
            tail.fetch_or(OVER, Relaxed);
        } else {
            tail.fetch_and(!OVER, Relaxed);
        }
    }

    /// True when the queue holds fewer values than its limit (always, with no limit).
    pub(crate) fn has_room(&self) -> bool {
        self.tx.limit == 0 || self.len() < self.tx.limit
    }

    /// True when the queue is at or below its low-water mark (always, with no limit).
    pub(crate) fn is_relieved(&self) -> bool {
        self.tx.limit == 0 || self.len() <= self.tx.low
    }

    /// Asks to be woken once the queue is at or below its low-water mark: registers `waker`
    /// (once: a waker that is already there is not added again) and raises `watch`, then looks
    /// at the length again. See [`Room`] for what the caller must do.
    pub(crate) fn wait_for_room(&self, waker: &Waker) -> Room {
        if self.is_relieved() {
            self.mark(false);
            return Room::Now;
        }
        let fresh = {
            let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            if w.closed {
                return Room::Now;
            }
            let fresh = !w.list.iter().any(|x| x.will_wake(waker));
            if fresh {
                w.list.push(waker.clone());
            }
            fresh
        };
        // SeqCst, then the length: a consumer whose last pop this read misses sees the flag in
        // the run that the caller's notify gives it.
        self.rxl.watch.store(true, SeqCst);
        if self.is_relieved() {
            self.forget_waiter(waker);
            self.mark(false);
            return Room::Now;
        }
        Room::Later { fresh }
    }

    /// Counts time a producer spent held back by this queue.
    pub(crate) fn add_held(&self, ns: u64) {
        self.held_ns.fetch_add(ns, Relaxed);
    }

    /// Time producers spent held back by this queue.
    pub(crate) fn held_ns(&self) -> u64 {
        self.held_ns.load(Relaxed)
    }

    /// True while `waker` is registered (false once the consumer has woken it: its turn to go).
    pub(crate) fn is_waiting(&self, waker: &Waker) -> bool {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner()).list.iter().any(|x| x.will_wake(waker))
    }

    /// Removes `waker` from the waiters (it stopped waiting for another reason).
    pub(crate) fn forget_waiter(&self, waker: &Waker) {
        let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        w.list.retain(|x| !x.will_wake(waker));
    }

    /// The consumer saw `watch`: if the length is at or below the low-water mark, wakes every
    /// waiter; otherwise computes how many pops that needs at least.
    #[cold]
    #[inline(never)]
    fn relieve(&self, rx: &mut Rx<T>) {
        let tail = index_of(self.tx.tail.load(SeqCst));
        let len = tail.saturating_sub(rx.head);
        if len > self.tx.low {
            rx.relieve_at = rx.head + (len - self.tx.low);
            return;
        }
        self.rxl.watch.store(false, SeqCst);
        self.mark(false);
        let woken = std::mem::take(&mut self.waiters.lock().unwrap_or_else(|p| p.into_inner()).list);
        // Woken outside the lock: a waker may run arbitrary code.
        for w in woken {
            w.wake();
        }
    }

    /// Wakes every waiter whatever the length, and refuses new ones (the consumer is gone:
    /// nobody will read). Any thread.
    pub(crate) fn wake_all_waiters(&self) {
        self.rxl.watch.store(false, SeqCst);
        let woken = {
            let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            w.closed = true;
            std::mem::take(&mut w.list)
        };
        for w in woken {
            w.wake();
        }
    }

    fn write(&self, index: u64, value: T, sc: bool) {
        let block = self.find_block(index);
        // SAFETY: `find_block` returns the live block holding `index` (see the module notes: it
        // cannot be recycled before this slot is published), and the claim on `index` is ours
        // alone, so nobody else touches this slot until we publish it.
        unsafe {
            let b = &*block;
            let slot = &b.slots[(index - b.start.load(Relaxed)) as usize];
            slot.value.with_mut(|v| (*v).write(value));
            slot.state.store(WRITTEN, if sc { SeqCst } else { Release });
        }
    }

    /// The block holding `index`, growing the list when needed and moving the tail hint past
    /// blocks that are full.
    fn find_block(&self, index: u64) -> *mut Block<T> {
        let mut block = self.tx.tail_block.load(SeqCst);
        let mut try_advance = true;
        loop {
            // SAFETY: the hint and every block reachable from it by `next` stay allocated while
            // our slot is unpublished (module notes).
            let b = unsafe { &*block };
            let start = b.start.load(Relaxed);
            debug_assert!(start <= index, "the tail hint passed an unpublished slot");
            if index < start + b.cap {
                return block;
            }
            let mut next = b.next.load(Acquire);
            if next.is_null() {
                next = self.grow(b);
            }
            if try_advance && b.is_final() {
                if self.tx.tail_block.compare_exchange(block, next, SeqCst, Relaxed).is_ok() {
                    let observed = index_of(self.tx.tail.load(SeqCst));
                    b.observed_tail.store(observed, Relaxed);
                    b.released.store(true, Release);
                } else {
                    try_advance = false;
                }
            } else {
                try_advance = false;
            }
            block = next;
        }
    }

    /// Appends a block after `last` (whose `next` was null); returns whatever block follows it.
    fn grow(&self, last: &Block<T>) -> *mut Block<T> {
        let start = last.start.load(Relaxed) + last.cap;
        let cap = if last.cap < MAX_CAP {
            last.cap * 2
        } else {
            // A long backlog gets big blocks: few allocations, all freed as they are read.
            (self.len() / 4).next_power_of_two().clamp(MAX_CAP, BIG_CAP)
        };
        let fresh = Block::alloc(start, cap);
        // SeqCst: a dying consumer's `drain_ready` reaches the block through this pointer and must
        // see it once it sees a later SeqCst publication in it (D21).
        match last.next.compare_exchange(ptr::null_mut(), fresh, SeqCst, Acquire) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: `fresh` was never shared.
                drop(unsafe { Box::from_raw(fresh) });
                winner
            }
        }
    }

    /// Takes the oldest value, or `None` when the queue is empty or the oldest claimed slot is not
    /// published yet (then [`Queue::has_unpublished`] is true).
    ///
    /// # Safety
    /// Only one thread at a time may call the consumer methods (`pop`, `drain_ready`).
    #[inline(always)]
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        self.rxl.rx.with_mut(|rx| {
            // SAFETY: the caller guarantees we are the only consumer, so `rx` is ours.
            let rx = unsafe { &mut *rx };
            // SAFETY: `head_block` is live: only this consumer recycles blocks, and never the
            // one holding (or just before) `head`.
            let mut b = unsafe { &*rx.head_block };
            let mut start = b.start.load(Relaxed);
            if rx.head >= start + b.cap {
                let next = b.next.load(Acquire);
                if next.is_null() {
                    self.check_watch_idle(rx);
                    return None;
                }
                rx.head_block = next;
                // SAFETY: published by a Release CAS or store, read with Acquire.
                b = unsafe { &*next };
                start = b.start.load(Relaxed);
                self.reclaim(rx);
            }
            let slot = &b.slots[(rx.head - start) as usize];
            if slot.state.load(Acquire) != WRITTEN {
                self.check_watch_idle(rx);
                return None;
            }
            // SAFETY: the slot is published: its producer wrote the value before the store we
            // synchronized with; the consumer takes it exactly once (head moves past it).
            let value = slot.value.with_mut(|v| unsafe { (*v).assume_init_read() });
            rx.head += 1;
            self.rxl.head_pub.store(rx.head, Release);
            self.check_watch(rx);
            Some(value)
        })
    }

    /// On every pop: a load of the consumer's own line, unless somebody waits for room.
    #[inline(always)]
    fn check_watch(&self, rx: &mut Rx<T>) {
        if self.rxl.watch.load(Relaxed) && rx.head >= rx.relieve_at {
            self.relieve(rx);
        }
    }

    /// On a pop that finds nothing (the consumer may be about to sleep): a SeqCst load, so that
    /// a waiter whose SeqCst `watch` store comes before it in the single order is seen, whether
    /// or not the waiter's notify had to write the scheduling word (a plain load on x86).
    #[inline(always)]
    fn check_watch_idle(&self, rx: &mut Rx<T>) {
        if self.rxl.watch.load(SeqCst) && rx.head >= rx.relieve_at {
            self.relieve(rx);
        }
    }

    /// True when a value has been claimed that `pop` could not take yet: its producer is between
    /// its claim and its publication, and will not wake the consumer again if it saw it queued
    /// (`SchedState::notify`), so the consumer must come back for it.
    ///
    /// # Safety
    /// As for [`Queue::pop`].
    pub(crate) unsafe fn has_unpublished(&self) -> bool {
        // SAFETY: single consumer (caller's contract).
        let head = self.rxl.rx.with_mut(|rx| unsafe { (*rx).head });
        index_of(self.tx.tail.load(SeqCst)) > head
    }

    /// Takes every published value not yet read, in index order, skipping claimed slots that are
    /// not published yet (their producers are mid-push). For a process that is ending: it waits
    /// for nobody. Taken slots are unmarked so that `Drop` does not drop them again; skipped ones
    /// are dropped by `Drop` once published.
    ///
    /// # Safety
    /// As for [`Queue::pop`]; and `pop` must not be called afterwards.
    pub(crate) unsafe fn drain_ready(&self, mut f: impl FnMut(T)) {
        let tail = index_of(self.tx.tail.load(SeqCst));
        self.rxl.rx.with_mut(|rx| {
            // SAFETY: single consumer (caller's contract).
            let rx = unsafe { &mut *rx };
            let mut block = rx.head_block;
            let mut index = rx.head;
            while index < tail && !block.is_null() {
                // SAFETY: blocks from `head_block` on are live (only this consumer frees them).
                let b = unsafe { &*block };
                let start = b.start.load(Relaxed);
                if index >= start + b.cap {
                    block = b.next.load(SeqCst);
                    continue;
                }
                let slot = &b.slots[(index - start) as usize];
                // SeqCst: pairs with a request's SeqCst publication (`push`, D21).
                if slot.state.load(SeqCst) == WRITTEN {
                    // SAFETY: published and not taken before (taken slots are marked, and `head`
                    // only moves past slots taken in order).
                    let value = slot.value.with_mut(|v| unsafe { (*v).assume_init_read() });
                    slot.state.store(TAKEN, Relaxed);
                    f(value);
                }
                index += 1;
            }
        });
    }

    /// Recycles (or frees) released blocks the consumer has read past.
    fn reclaim(&self, rx: &mut Rx<T>) {
        while rx.free_head != rx.head_block {
            // SAFETY: blocks between `free_head` and `head_block` are live and fully read.
            let b = unsafe { &*rx.free_head };
            if !b.released.load(Acquire) {
                return;
            }
            if b.observed_tail.load(Relaxed) > rx.head {
                return;
            }
            let next = b.next.load(Acquire);
            let old = rx.free_head;
            rx.free_head = next;
            self.recycle(old);
        }
    }

    /// Appends a block nobody can reach any more to the end of the list for reuse, or frees it.
    /// Big blocks too (see the module notes): the reset below costs one store per slot, as the
    /// producers' writes do, where a fresh zeroed block costs the allocator's zeroing or the
    /// kernel's page faults.
    fn recycle(&self, block: *mut Block<T>) {
        // SAFETY: unreachable by producers (see `reclaim`), owned by the consumer now.
        let b = unsafe { &*block };
        if b.cap >= MAX_CAP {
            // Only a short spare chain is kept beyond the tail hint: a drained burst gives its
            // blocks back to the allocator instead of parking them all at the end. The slots are
            // reset only once there is a place to append to (a block about to be freed is not).
            let mut last = self.tx.tail_block.load(Acquire);
            let mut reset = false;
            for _ in 0..RECYCLE_TRIES {
                // SAFETY: blocks at or after the tail hint are live; only this consumer frees.
                let l = unsafe { &*last };
                let next = l.next.load(Acquire);
                if !next.is_null() {
                    last = next;
                    continue;
                }
                if !reset {
                    b.released.store(false, Relaxed);
                    for s in b.slots.iter() {
                        s.state.store(EMPTY, Relaxed);
                    }
                    b.next.store(ptr::null_mut(), Relaxed);
                    reset = true;
                }
                b.start.store(l.start.load(Relaxed) + l.cap, Relaxed);
                match l.next.compare_exchange(ptr::null_mut(), block, SeqCst, Acquire) {
                    Ok(_) => return,
                    Err(other) => last = other,
                }
            }
        }
        // SAFETY: nobody can reach the block (see `reclaim`); it is freed once.
        drop(unsafe { Box::from_raw(block) });
    }
}

impl<T> Drop for Queue<T> {
    fn drop(&mut self) {
        let tail = index_of(self.tx.tail.load(Relaxed));
        self.rxl.rx.with_mut(|rx| {
            // SAFETY: `&mut self`: no producer or consumer is active.
            let rx = unsafe { &mut *rx };
            let mut block = rx.free_head;
            while !block.is_null() {
                // SAFETY: exclusive access; every block of the list is live until freed here.
                let b = unsafe { Box::from_raw(block) };
                let start = b.start.load(Relaxed);
                for (i, slot) in b.slots.iter().enumerate() {
                    let index = start + i as u64;
                    if index >= rx.head && index < tail && slot.state.load(Relaxed) == WRITTEN {
                        // SAFETY: a published value not read by the consumer: dropped once.
                        slot.value.with_mut(|v| unsafe { (*v).assume_init_drop() });
                    }
                }
                block = b.next.load(Relaxed);
            }
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn fifo_single_thread_across_blocks() {
        let q = Queue::new(0);
        for round in 0..3 {
            for i in 0..1000 {
                q.push(round * 1000 + i, false);
            }
            assert_eq!(q.len(), 1000);
            for i in 0..1000 {
                // SAFETY: this test thread is the only consumer.
                assert_eq!(unsafe { q.pop() }, Some(round * 1000 + i));
            }
            // SAFETY: as above.
            assert_eq!(unsafe { q.pop() }, None);
            assert_eq!(q.len(), 0);
        }
    }

    #[test]
    fn bounded_push_is_exact() {
        let q = Queue::new(0);
        for i in 0..5 {
            assert!(q.push_bounded(i, 5, false).is_ok());
        }
        assert_eq!(q.push_bounded(5, 5, false), Err(5));
        // SAFETY: single consumer.
        assert_eq!(unsafe { q.pop() }, Some(0));
        assert!(q.push_bounded(6, 5, false).is_ok());
    }

    #[test]
    fn drop_frees_remaining_values() {
        let marker = Arc::new(());
        let q = Queue::new(0);
        for _ in 0..100 {
            q.push(marker.clone(), false);
        }
        for _ in 0..37 {
            // SAFETY: single consumer.
            drop(unsafe { q.pop() });
        }
        drop(q);
        assert_eq!(Arc::strong_count(&marker), 1);
    }

    #[test]
    fn drain_ready_takes_everything_published_once() {
        let marker = Arc::new(());
        let q = Queue::new(0);
        for _ in 0..70 {
            q.push(marker.clone(), false);
        }
        // SAFETY: single consumer.
        drop(unsafe { q.pop() });
        let mut n = 0;
        // SAFETY: single consumer; no pop afterwards.
        unsafe {
            q.drain_ready(|v| {
                n += 1;
                drop(v)
            })
        };
        assert_eq!(n, 69);
        assert_eq!(Arc::strong_count(&marker), 1);
        q.push(marker.clone(), false);
        drop(q);
        assert_eq!(Arc::strong_count(&marker), 1);
    }

    #[test]
    fn per_producer_order_under_contention() {
        const PRODUCERS: usize = 4;
        const N: usize = 200_000;
        let q = Arc::new(Queue::new(0));
        let handles: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..N {
                        q.push((p, i), false);
                    }
                })
            })
            .collect();
        let mut next = [0usize; PRODUCERS];
        let mut got = 0;
        while got < PRODUCERS * N {
            // SAFETY: this test thread is the only consumer.
            if let Some((p, i)) = unsafe { q.pop() } {
                assert_eq!(next[p], i, "producer {p} out of order");
                next[p] += 1;
                got += 1;
            } else {
                std::hint::spin_loop();
            }
        }
        for h in handles {
            h.join().unwrap();
        }
        // SAFETY: as above.
        assert!(unsafe { q.pop() }.is_none());
    }

    #[test]
    fn blocks_are_recycled_not_leaked() {
        // A long stream through a short queue keeps reusing the same few blocks: the list stays
        // short (counted by walking it).
        let q = Queue::new(0);
        for i in 0..100_000u64 {
            q.push(i, false);
            q.push(i, true);
            // SAFETY: single consumer.
            assert_eq!(unsafe { q.pop() }, Some(i));
            // SAFETY: as above.
            assert_eq!(unsafe { q.pop() }, Some(i));
        }
        let mut blocks = 0;
        q.rxl.rx.with_mut(|rx| {
            // SAFETY: single-threaded test, consumer side.
            let mut b = unsafe { (*rx).free_head };
            while !b.is_null() {
                blocks += 1;
                // SAFETY: live blocks of the list.
                b = unsafe { &*b }.next.load(Relaxed);
            }
        });
        assert!(blocks <= 8, "{blocks} blocks in the list");
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Two producers fill past the first two blocks (2 + 4 slots) while the consumer pops: order
    /// per producer, nothing lost, and blocks recycled concurrently with producers walking.
    #[test]
    fn loom_two_producers_one_consumer() {
        loom::model(|| {
            let q = Arc::new(Queue::new(0));
            let producers: Vec<_> = (0..2)
                .map(|p| {
                    let q = q.clone();
                    thread::spawn(move || {
                        for i in 0..2 {
                            q.push((p, i), false);
                        }
                    })
                })
                .collect();
            let mut next = [0; 2];
            let mut seen = 0;
            for _ in 0..3 {
                // SAFETY: the model's main thread is the only consumer.
                if let Some((p, i)) = unsafe { q.pop() } {
                    assert_eq!(next[p], i);
                    next[p] += 1;
                    seen += 1;
                }
            }
            for h in producers {
                h.join().unwrap();
            }
            // SAFETY: as above.
            while let Some((p, i)) = unsafe { q.pop() } {
                assert_eq!(next[p], i);
                next[p] += 1;
                seen += 1;
            }
            assert_eq!(seen, 4);
        });
    }

    /// A waiter for room registers while the consumer drains to the low-water mark: either the
    /// waiter sees the room itself (`Room::Now`), or the consumer wakes it, at the latest in the
    /// run that the waiter's notify gives it after a fresh registration (modelled as one more
    /// pop after the waiter is done).
    #[test]
    fn loom_waiter_for_room_is_never_forgotten() {
        use std::sync::atomic::{AtomicUsize as StdCount, Ordering as O};
        struct Count(StdCount);
        impl std::task::Wake for Count {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, O::SeqCst);
            }
        }
        loom::model(|| {
            let q = Arc::new(Queue::new(4));
            for i in 0..4 {
                q.push(i, false);
            }
            let count = std::sync::Arc::new(Count(StdCount::new(0)));
            let waiter = {
                let (q, count) = (q.clone(), count.clone());
                thread::spawn(move || q.wait_for_room(&std::task::Waker::from(count)))
            };
            for _ in 0..2 {
                // SAFETY: the model's main thread is the only consumer.
                assert!(unsafe { q.pop() }.is_some());
            }
            let room = waiter.join().unwrap();
            if room == (Room::Later { fresh: true }) {
                // The waiter's notify runs the consumer once more.
                // SAFETY: as above.
                let _ = unsafe { q.pop() };
            }
            let woken = count.0.load(O::SeqCst);
            match room {
                // Registered, then saw the room itself: a wake may have come meanwhile
                // (harmless: the waiter looks at its own state).
                Room::Now => assert!(woken <= 1),
                Room::Later { .. } => assert_eq!(woken, 1, "a waiter for room was never woken"),
            }
        });
    }

    /// A consumer ending while a producer pushes: `drain_ready` takes what is published, and the
    /// rest is dropped by `Drop`; nothing twice, nothing leaked.
    #[test]
    fn loom_drain_ready_races_a_push() {
        loom::model(|| {
            let q = Arc::new(Queue::new(0));
            let marker = Arc::new(());
            q.push(marker.clone(), false);
            let producer = {
                let (q, m) = (q.clone(), marker.clone());
                thread::spawn(move || {
                    q.push(m.clone(), true);
                    q.push(m, false);
                })
            };
            // SAFETY: single consumer; no pop afterwards.
            unsafe { q.drain_ready(drop) };
            producer.join().unwrap();
            drop(q);
            assert_eq!(Arc::strong_count(&marker), 1);
        });
    }
}

#[cfg(all(test, not(loom)))]
mod pressure_tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Count(AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn waiter_is_woken_at_low_water() {
        let q = Queue::new(64);
        let mut over = false;
        for i in 0..100u32 {
            over |= q.push(i, false);
        }
        assert!(over, "a push at the limit reports pressure");
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = std::task::Waker::from(count.clone());
        assert_eq!(q.wait_for_room(&waker), Room::Later { fresh: true });
        assert_eq!(q.wait_for_room(&waker), Room::Later { fresh: false });
        for i in 0..67u32 {
            // SAFETY: single consumer.
            assert_eq!(unsafe { q.pop() }, Some(i));
            assert_eq!(count.0.load(Ordering::SeqCst), 0, "woken at length {}", q.len());
        }
        // SAFETY: as above.
        assert_eq!(unsafe { q.pop() }, Some(67));
        assert_eq!(q.len(), 32);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken once at the low-water mark");
        assert!(!q.is_waiting(&waker));
        assert!(!q.push(1000, false), "pressure cleared");
    }

    /// Slots held by the queue's blocks (walked from the oldest unrecycled one).
    fn retained_slots<T>(q: &Queue<T>) -> u64 {
        let mut slots = 0;
        q.rxl.rx.with_mut(|rx| {
            // SAFETY: single-threaded test, consumer side.
            let mut b = unsafe { (*rx).free_head };
            while !b.is_null() {
                // SAFETY: live blocks of the list.
                let block = unsafe { &*b };
                slots += block.cap;
                b = block.next.load(Relaxed);
            }
        });
        slots
    }

    /// After a burst of a million messages drains, the queue keeps at most four big blocks (the
    /// one its head is in, the one before until the next block boundary, and two spares) and a
    /// couple of small ones, not the burst's memory.
    #[test]
    fn memory_comes_back_after_a_burst() {
        let q = Queue::new(0);
        for i in 0..1_000_000u64 {
            q.push(i, false);
        }
        assert!(retained_slots(&q) >= 1_000_000);
        for i in 0..1_000_000u64 {
            // SAFETY: single consumer.
            assert_eq!(unsafe { q.pop() }, Some(i));
        }
        // SAFETY: as above.
        assert_eq!(unsafe { q.pop() }, None);
        let kept = retained_slots(&q);
        assert!(kept <= 4 * BIG_CAP + 2 * MAX_CAP, "a drained queue keeps {kept} slots");
        // And the next stream keeps within that too.
        for round in 0..1000u64 {
            q.push(round, false);
            // SAFETY: as above.
            assert_eq!(unsafe { q.pop() }, Some(round));
        }
        assert!(retained_slots(&q) <= 4 * BIG_CAP + 2 * MAX_CAP);
    }

    /// A consumer that keeps falling behind (backlogs of a few thousand, drained each time), with
    /// big blocks recycled as spares: values come out in order, and what the queue keeps does not
    /// grow from one backlog to the next.
    #[test]
    fn repeated_backlogs_stay_bounded() {
        let q = Queue::new(0);
        let mut next_in = 0u64;
        let mut next_out = 0u64;
        let mut after_first = 0;
        for round in 0..20 {
            for _ in 0..5000 {
                q.push(next_in, false);
                next_in += 1;
            }
            for _ in 0..5000 {
                // SAFETY: single consumer.
                assert_eq!(unsafe { q.pop() }, Some(next_out));
                next_out += 1;
            }
            let kept = retained_slots(&q);
            assert!(kept <= 4 * BIG_CAP + 2 * MAX_CAP, "round {round}: {kept} slots");
            if round == 1 {
                after_first = kept;
            } else if round > 1 {
                assert!(kept <= after_first, "round {round}: {kept} slots, {after_first} after round 1");
            }
        }
    }
}
