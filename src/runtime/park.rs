//! The park/wake handshake between a worker about to sleep in its ring and a thread that hands
//! it work. Built on the `sync` facade so loom can check it.
//!
//! Dekker-style: the worker writes "parked", fences, then re-reads its queue; the waker enqueues,
//! fences, then reads "parked". With both fences SeqCst, at least one side sees the other's
//! write: either the worker finds the work, or the waker wakes it. Exactly one waker wins the
//! flag (swap), so a parked worker gets one eventfd write, not one per message.

use crate::sync::{AtomicBool, fence};
use std::sync::atomic::Ordering::{AcqRel, Relaxed, SeqCst};

pub(crate) struct ParkFlag(AtomicBool);

impl ParkFlag {
    pub(crate) fn new() -> Self {
        ParkFlag(AtomicBool::new(false))
    }

    /// Worker: announce the intent to park. Re-check the queues after this, then park or cancel.
    pub(crate) fn prepare(&self) {
        self.0.store(true, Relaxed);
        fence(SeqCst);
    }

    /// Worker: not parking after all, or back from parking.
    pub(crate) fn clear(&self) {
        self.0.store(false, Relaxed);
    }

    /// Waker, after enqueuing: true when the caller must wake the worker.
    pub(crate) fn should_wake(&self) -> bool {
        fence(SeqCst);
        self.0.load(Relaxed) && self.0.swap(false, AcqRel)
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::mailbox::mpsc::Queue;
    use crate::sync::{Arc, AtomicUsize};
    use loom::thread;

    /// A worker that finds its queue empty and decides to park must either see the work pushed
    /// concurrently, or be woken for it: never both missed.
    #[test]
    fn loom_park_never_misses_work() {
        loom::model(|| {
            let queue = Arc::new(Queue::new(0));
            let flag = Arc::new(ParkFlag::new());
            let wakes = Arc::new(AtomicUsize::new(0));
            let waker = {
                let (queue, flag, wakes) = (queue.clone(), flag.clone(), wakes.clone());
                thread::spawn(move || {
                    queue.push(1u8, false);
                    if flag.should_wake() {
                        wakes.fetch_add(1, SeqCst);
                    }
                })
            };
            // SAFETY: the model's main thread is the only consumer.
            let mut got = unsafe { queue.pop() }.is_some();
            let mut parked = false;
            if !got {
                flag.prepare();
                // SAFETY: as above.
                got = unsafe { queue.pop() }.is_some();
                if got {
                    flag.clear();
                } else {
                    parked = true;
                }
            }
            waker.join().unwrap();
            if parked {
                assert_eq!(wakes.load(SeqCst), 1, "parked with work queued and no wake-up");
            }
            if got {
                assert!(wakes.load(SeqCst) <= 1);
            }
        });
    }
}
