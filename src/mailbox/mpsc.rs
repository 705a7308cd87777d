//! A lock-free, unbounded, multi-producer single-consumer queue (Dmitry Vyukov's intrusive design,
//! with one heap node per value and a stub node).
//!
//! Producers never wait: a push is one `swap` and one `store`. The single consumer pops without
//! locks. The price of the design is a short "inconsistent" window: a producer that has swapped
//! itself in as the newest node but not yet linked its predecessor hides every later node from the
//! consumer until it links. [`Queue::pop`] reports that window as empty. That is safe for the
//! mailbox wake protocol because every producer wakes the receiver *after* its push is complete
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

impl<T> Node<T> {
    fn alloc(value: MaybeUninit<T>) -> *mut Node<T> {
        Box::into_raw(Box::new(Node {
            next: AtomicPtr::new(ptr::null_mut()),
            value: UnsafeCell::new(value),
        }))
    }
}

/// The queue. `push` may be called from any thread; `pop` only by the one consumer, which the
/// owner of the queue guarantees (a mailbox is drained only by the worker running its process).
pub(crate) struct Queue<T> {
    /// The newest node; producers swap themselves in here.
    head: AtomicPtr<Node<T>>,
    /// The consumer's stub: the node before the oldest value. Only the consumer touches it.
    tail: UnsafeCell<*mut Node<T>>,
}

// SAFETY: values of `T` move from producer threads to the consumer thread, so `T: Send` suffices;
// the queue's own pointers are managed with atomics (head) or by the single consumer (tail).
unsafe impl<T: Send> Send for Queue<T> {}
// SAFETY: shared access is push (any thread, atomics only) and pop (the single consumer, whose
// exclusivity is the caller's contract, stated on `pop`).
unsafe impl<T: Send> Sync for Queue<T> {}

impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        let stub = Node::alloc(MaybeUninit::uninit());
        Queue {
            head: AtomicPtr::new(stub),
            tail: UnsafeCell::new(stub),
        }
    }

    /// Appends a value. Lock-free; safe from any thread.
    pub(crate) fn push(&self, value: T) {
        let node = Node::alloc(MaybeUninit::new(value));
        // AcqRel: Release publishes the node's contents to whoever links after us; Acquire
        // orders our later store into `prev` after the previous producer's initialisation.
        let prev = self.head.swap(node, AcqRel);
        // SAFETY: `prev` was the head, so it is alive: the consumer frees a node only after it has
        // moved past it, which requires `prev.next` to be non-null, which only we set, here.
        unsafe { (*prev).next.store(node, Release) };
    }

    /// Takes the oldest value, or `None` when the queue is empty or a producer is mid-push.
    ///
    /// # Safety
    /// Only one thread at a time may call `pop` (and `is_empty`) on a queue.
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        self.tail.with_mut(|tail_ptr| {
            // SAFETY: the caller guarantees we are the only consumer, so `tail` is ours.
            let tail = unsafe { *tail_ptr };
            // SAFETY: `tail` is the live stub node, freed only by this function below.
            let next = unsafe { (*tail).next.load(Acquire) };
            if next.is_null() {
                return None;
            }
            // SAFETY: `next` was published with Release by its producer and is read with Acquire,
            // so its value is initialised; we take it exactly once, as `next` becomes the new stub
            // whose value slot is treated as uninitialised from here on.
            let value = unsafe { (*next).value.with_mut(|v| (*v).assume_init_read()) };
            // SAFETY: single consumer (see above).
            unsafe { *tail_ptr = next };
            // SAFETY: the old stub is unreachable: head moved past it (its `next` is set) and the
            // tail now points at `next`. Its value slot is uninitialised, so nothing is dropped
            // twice (`MaybeUninit` has no drop glue).
            drop(unsafe { Box::from_raw(tail) });
            Some(value)
        })
    }

    /// True when a producer may still be linking a node (the inconsistent window) or a value is
    /// waiting: used only by diagnostics and tests.
    #[cfg(test)]
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
            drop(unsafe { Box::from_raw(*tail_ptr) });
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
