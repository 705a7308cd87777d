//! A lock-free, unbounded, multi-producer single-consumer queue (Dmitry Vyukov's linked design,
//! one heap node per value), with no stub allocated up front: an idle queue is three null
//! pointers, which matters when a node holds a million idle processes with four queues each.
//!
//! Producers never wait: a push is one `swap` and one `store`. The very first push (the one that
//! swaps `head` from null) publishes its node through `first` instead of linking a predecessor.
//! The consumer treats the last node it took a value from as the stub and frees it when it moves
//! past it. The design has a short "inconsistent" window: a producer that has swapped itself in
//! as the newest node but not yet linked (or published) it hides every later node from the
//! consumer until it does. [`Queue::pop`] reports that window as empty. That is safe for the
//! mailbox wake protocol because every producer wakes the receiver *after* its push completes
//! (see `mailbox/mod.rs`), so the consumer is polled again once the link is visible.
//!
//! Owns: the nodes. Never: blocks, allocates on pop, or lets a value escape twice.

use crate::sync::{AtomicPtr, UnsafeCell};
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};

struct Node<T> {
    next: AtomicPtr<Node<T>>,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// The queue. `push` may be called from any thread; `pop` only by the one consumer, which the
/// owner of the queue guarantees (a mailbox is drained only by the worker running its process).
pub(crate) struct Queue<T> {
    /// The newest node; producers swap themselves in here. Null until the first push.
    head: AtomicPtr<Node<T>>,
    /// The first node ever pushed, published by the producer that found `head` null.
    first: AtomicPtr<Node<T>>,
    /// The consumer's stub: the last node whose value was taken. Null until the first pop.
    tail: UnsafeCell<*mut Node<T>>,
}

// SAFETY: values of `T` move from producer threads to the consumer thread, so `T: Send` suffices;
// the queue's own pointers are managed with atomics (head, first) or by the single consumer (tail).
unsafe impl<T: Send> Send for Queue<T> {}
// SAFETY: shared access is push (any thread, atomics only) and pop (the single consumer, whose
// exclusivity is the caller's contract, stated on `pop`).
unsafe impl<T: Send> Sync for Queue<T> {}

impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        Queue {
            head: AtomicPtr::new(ptr::null_mut()),
            first: AtomicPtr::new(ptr::null_mut()),
            tail: UnsafeCell::new(ptr::null_mut()),
        }
    }

    /// Appends a value. Lock-free; safe from any thread.
    pub(crate) fn push(&self, value: T) {
        let node = Box::into_raw(Box::new(Node {
            next: AtomicPtr::new(ptr::null_mut()),
            value: UnsafeCell::new(MaybeUninit::new(value)),
        }));
        // AcqRel: Release publishes the node's contents to whoever links after us; Acquire
        // orders our later store into `prev` after the previous producer's initialisation.
        let prev = self.head.swap(node, AcqRel);
        if prev.is_null() {
            // We are the first push ever: hand the node to the consumer directly.
            self.first.store(node, Release);
        } else {
            // SAFETY: `prev` was the head, so it is alive: the consumer frees a node only after
            // it has moved past it, which requires `prev.next` to be non-null, which only we set.
            unsafe { (*prev).next.store(node, Release) };
        }
    }

    /// Takes the oldest value, or `None` when the queue is empty or a producer is mid-push.
    ///
    /// # Safety
    /// Only one thread at a time may call `pop` on a queue.
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        self.tail.with_mut(|tail_ptr| {
            // SAFETY: the caller guarantees we are the only consumer, so `tail` is ours.
            let tail = unsafe { *tail_ptr };
            let next = if tail.is_null() {
                self.first.load(Acquire)
            } else {
                // SAFETY: `tail` is the live stub node, freed only by this function below.
                unsafe { (*tail).next.load(Acquire) }
            };
            if next.is_null() {
                return None;
            }
            // SAFETY: `next` was published with Release (via `first` or a predecessor's `next`)
            // and read with Acquire, so its value is initialised; we take it exactly once, as
            // `next` becomes the new stub whose value slot is uninitialised from here on.
            let value = unsafe { (*next).value.with_mut(|v| (*v).assume_init_read()) };
            // SAFETY: single consumer (see above).
            unsafe { *tail_ptr = next };
            if !tail.is_null() {
                // SAFETY: the old stub is unreachable: head moved past it (its `next` is set) and
                // the tail now points at `next`. Its value slot is uninitialised, so nothing is
                // dropped twice (`MaybeUninit` has no drop glue).
                drop(unsafe { Box::from_raw(tail) });
            }
            Some(value)
        })
    }

    /// True when a value is queued or a producer may still be linking a node; used by tests.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn head_moved(&self) -> bool {
        self.tail.with_mut(|tail_ptr| {
            // SAFETY: reading the pointer value only; tests call this from the consumer.
            let tail = unsafe { *tail_ptr };
            self.head.load(std::sync::atomic::Ordering::Relaxed) != tail
        })
    }
}

impl<T> Drop for Queue<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self` means no producer or consumer is active.
        while unsafe { self.pop() }.is_some() {}
        self.tail.with_mut(|tail_ptr| {
            // SAFETY: exclusive access; the stub's value is uninitialised and only freed here.
            let tail = unsafe { *tail_ptr };
            if !tail.is_null() {
                // SAFETY: as above: the last stub, owned by the queue alone now.
                drop(unsafe { Box::from_raw(tail) });
            }
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn fifo_single_thread() {
        let q = Queue::new();
        for i in 0..100 {
            q.push(i);
        }
        for i in 0..100 {
            // SAFETY: this test thread is the only consumer.
            assert_eq!(unsafe { q.pop() }, Some(i));
        }
        // SAFETY: as above.
        assert_eq!(unsafe { q.pop() }, None);
        assert!(!q.head_moved());
    }

    #[test]
    fn drop_frees_remaining_values() {
        let marker = Arc::new(());
        let q = Queue::new();
        for _ in 0..10 {
            q.push(marker.clone());
        }
        drop(q);
        assert_eq!(Arc::strong_count(&marker), 1);
    }

    #[test]
    fn per_producer_order_under_contention() {
        const PRODUCERS: usize = 4;
        const N: usize = 50_000;
        let q = Arc::new(Queue::new());
        let handles: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..N {
                        q.push((p, i));
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
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    #[test]
    fn loom_two_producers_one_consumer() {
        loom::model(|| {
            let q = Arc::new(Queue::new());
            let producers: Vec<_> = (0..2)
                .map(|p| {
                    let q = q.clone();
                    thread::spawn(move || {
                        q.push((p, 0));
                        q.push((p, 1));
                    })
                })
                .collect();
            let mut next = [0; 2];
            let mut seen = 0;
            // Pop what is visible while producers run, then the rest after joining.
            for _ in 0..2 {
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
}
