//! The 4-priority mailbox and the sleep/wake protocol of a process.
//!
//! A [`Mailbox`] is four lock-free MPSC queues (Urgent, System, Main, Log) drained in that order,
//! with an optional per-queue capacity. [`SchedState`] is the word that decides who schedules a
//! process: a sender that delivers into a sleeping process's mailbox wins the right to schedule it,
//! exactly once, and a message that arrives while the process is going to sleep is never lost.
//!
//! Owns: queued messages and the scheduling word. Never: blocks, or schedules anything itself (it
//! only tells the caller whether it must).

pub(crate) mod mpsc;

use crate::message::Priority;
use crate::sync::{AtomicPtr, AtomicU8, AtomicU32};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// Returned by [`Mailbox::push`] when the queue is at capacity; carries the value back.
pub(crate) struct Full<T>(pub(crate) T);

/// Four priority levels drained Urgent → System → Main → Log. Any thread pushes; one consumer
/// pops.
///
/// Each level has two queues: the lock-free MPSC queue for senders on other threads, and a plain
/// `VecDeque` for senders running on the receiver's own worker (the common case: a child starts
/// on its parent's worker). The local queue costs no atomic operation and no allocation per
/// message. Per-sender order holds because a sender never changes thread (a process never leaves
/// its worker). The consumer alternates between the two queues of a level so neither starves.
pub(crate) struct Mailbox<T> {
    /// The MPSC queues, allocated by the first sender from another thread (an idle process that
    /// never hears from another thread pays one pointer for them).
    remote: AtomicPtr<[mpsc::Queue<T>; 4]>,
    /// Same-worker queues, allocated on first use; touched only on the owner's worker thread.
    local: std::cell::UnsafeCell<Option<Box<[VecDeque<T>; 4]>>>,
    /// Consumer-only: which queue of a level to try first.
    prefer_local: std::cell::Cell<bool>,
    /// Messages in the MPSC queues, per level (producers add, the consumer subtracts).
    remote_lens: [AtomicU32; 4],
    /// Messages in the local queues, per level. Written only on the owner's thread (plain
    /// load + store, no read-modify-write); atomic so that other threads may read a snapshot.
    local_lens: [AtomicU32; 4],
    /// Capacity of each level; 0 = unbounded.
    capacity: u32,
}

// SAFETY: `remote` (set once, then read-only) and the counters are thread-safe. `local` and `prefer_local` are touched only
// on the owner's worker thread: by `push_local` (whose caller proves it runs there) and by `pop`
// (single consumer, on that worker). `T: Send` lets values cross threads through `queues`.
unsafe impl<T: Send> Sync for Mailbox<T> {}
// SAFETY: moving the mailbox moves its values; `T: Send` allows that.
unsafe impl<T: Send> Send for Mailbox<T> {}

fn counters() -> [AtomicU32; 4] {
    [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)]
}

/// Owner-thread-only increment/decrement: the single writer needs no read-modify-write.
fn bump(c: &AtomicU32, up: bool) {
    let v = c.load(Relaxed);
    c.store(if up { v + 1 } else { v - 1 }, Relaxed);
}

impl<T> Mailbox<T> {
    /// A mailbox whose levels hold at most `capacity` messages each (0 = unbounded; values above
    /// `u32::MAX - 1` are treated as unbounded).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = u32::try_from(capacity).ok().filter(|c| *c < u32::MAX).unwrap_or(0);
        Mailbox {
            remote: AtomicPtr::new(std::ptr::null_mut()),
            local: std::cell::UnsafeCell::new(None),
            prefer_local: std::cell::Cell::new(true),
            remote_lens: counters(),
            local_lens: counters(),
            capacity,
        }
    }

    /// The MPSC queues, allocating them on first use (a racing loser frees its copy).
    fn remote_queues(&self) -> &[mpsc::Queue<T>; 4] {
        let p = self.remote.load(Acquire);
        if !p.is_null() {
            // SAFETY: once set, `remote` points at queues that live until the mailbox is dropped.
            return unsafe { &*p };
        }
        let fresh =
            Box::into_raw(Box::new([mpsc::Queue::new(), mpsc::Queue::new(), mpsc::Queue::new(), mpsc::Queue::new()]));
        match self.remote.compare_exchange(std::ptr::null_mut(), fresh, AcqRel, Acquire) {
            // SAFETY: we installed `fresh`; it lives as long as the mailbox.
            Ok(_) => unsafe { &*fresh },
            Err(existing) => {
                // SAFETY: `fresh` was never shared; `existing` was installed by the winner and
                // lives as long as the mailbox.
                unsafe {
                    drop(Box::from_raw(fresh));
                    &*existing
                }
            }
        }
    }

    fn full(&self, i: usize) -> bool {
        self.capacity != 0 && self.remote_lens[i].load(Relaxed) + self.local_lens[i].load(Relaxed) >= self.capacity
    }

    /// Queues `value` at `priority` from any thread, or hands it back if that level is full.
    /// The caller must then notify the owner's [`SchedState`].
    ///
    /// `forced` skips the capacity check: for the runtime's own signals (exits, downs, shutdown),
    /// which must never be dropped.
    pub(crate) fn push(&self, priority: Priority, value: T, forced: bool) -> Result<(), Full<T>> {
        let i = priority as usize;
        let before = self.remote_lens[i].fetch_add(1, Relaxed);
        if !forced && self.capacity != 0 && before + self.local_lens[i].load(Relaxed) >= self.capacity {
            self.remote_lens[i].fetch_sub(1, Relaxed);
            return Err(Full(value));
        }
        self.remote_queues()[i].push(value);
        Ok(())
    }

    /// As [`Mailbox::push`], for a sender on the owner's worker thread.
    ///
    /// # Safety
    /// The caller runs on the thread that consumes this mailbox (the process's home worker).
    #[inline(always)]
    pub(crate) unsafe fn push_local(&self, priority: Priority, value: T, forced: bool) -> Result<(), Full<T>> {
        let i = priority as usize;
        if !forced && self.full(i) {
            return Err(Full(value));
        }
        // SAFETY: only the owner's worker thread touches `local` (caller's contract), and no
        // reference into it outlives this call or `pop`.
        let local = unsafe { &mut *self.local.get() };
        local.get_or_insert_with(Default::default)[i].push_back(value);
        bump(&self.local_lens[i], true);
        Ok(())
    }

    /// The next value by priority.
    ///
    /// # Safety
    /// Only the mailbox's single consumer (the worker running its process) may call this.
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        for i in 0..4 {
            let has_local = self.local_lens[i].load(Relaxed) != 0;
            let has_remote = self.remote_lens[i].load(Relaxed) != 0;
            if !has_local && !has_remote {
                continue;
            }
            let take_local = has_local && (!has_remote || self.prefer_local.get());
            // SAFETY: forwarded from the caller: we are the single consumer.
            let mut v = unsafe { self.pop_level(i, take_local) };
            if v.is_none() && has_local && has_remote {
                // The chosen queue came up empty (a remote counter can run ahead of its queue;
                // a rejected push into a full level counts for an instant): try the other one
                // rather than report an empty mailbox with messages in it.
                // SAFETY: as above.
                v = unsafe { self.pop_level(i, !take_local) };
            }
            if v.is_some() {
                if has_local && has_remote {
                    self.prefer_local.set(!take_local);
                }
                return v;
            }
        }
        None
    }

    /// Pops level `i` of the local or of the remote queue.
    ///
    /// # Safety
    /// As for [`Mailbox::pop`].
    #[inline(always)]
    unsafe fn pop_level(&self, i: usize, local: bool) -> Option<T> {
        if local {
            // SAFETY: the consumer runs on the owner's worker thread; see `push_local`.
            let q = &mut unsafe { &mut *self.local.get() }.as_mut()?[i];
            let v = q.pop_front()?;
            if q.is_empty() && q.capacity() > 1024 {
                // Give back a burst's memory once it has drained.
                q.shrink_to(64);
            }
            bump(&self.local_lens[i], false);
            Some(v)
        } else {
            let queues = self.remote.load(Acquire);
            if queues.is_null() {
                return None;
            }
            // SAFETY: forwarded from the caller: we are the single consumer; a non-null `remote`
            // stays valid until drop. The counter may run ahead of the queue (a producer counted,
            // then is mid-push): then `None`, and that producer's notify will run us again.
            let v = unsafe { (*queues)[i].pop() }?;
            self.remote_lens[i].fetch_sub(1, Relaxed);
            Some(v)
        }
    }

    /// Queued messages per level (Urgent, System, Main, Log); a snapshot, racy by nature.
    pub(crate) fn lens(&self) -> [usize; 4] {
        [0, 1, 2, 3].map(|i| (self.remote_lens[i].load(Relaxed) + self.local_lens[i].load(Relaxed)) as usize)
    }
}

impl<T> Drop for Mailbox<T> {
    fn drop(&mut self) {
        let p = self.remote.load(Acquire);
        if !p.is_null() {
            // SAFETY: `&mut self`: no sender or consumer remains; the queues were boxed by
            // `remote_queues` and are freed once, here.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

const IDLE: u8 = 0;
/// Set by a notify: "something arrived". With nothing else set it also means "queued to run".
const NOTIFIED: u8 = 1;
const RUNNING: u8 = 2;
const CLOSED: u8 = 4;
/// Held by a killer (`Node::kill`) while it unregisters a process that is not running: no
/// worker may run it meanwhile, and no notify may enqueue it (the killer does, if needed).
const KILLING: u8 = 8;

/// The scheduling word of a process: Idle (asleep) → Notified (in a run queue) → Running (being
/// polled) → Idle again, or Running|Notified when something arrived during the run.
///
/// The memory-ordering argument: a producer pushes its message (Release on the queue) and then
/// calls [`SchedState::notify`], which is *always* a read-modify-write (`fetch_or`), even when
/// the process is already queued. The consumer's `begin_run` and `end_run` are read-modify-writes
/// of the same word. All RMWs on one atomic are totally ordered, so for every notify either
/// - it comes before the consumer's `begin_run`: `begin_run` (AcqRel) synchronizes with it, so the
///   run sees the message; or
/// - it comes between `begin_run` and `end_run`: it sets Notified, `end_run` fails and requeues
///   the process, and the next `begin_run` sees the message; or
/// - it comes after `end_run`: it finds Idle and wins the Idle → Notified transition, so its
///   caller queues the process.
///
/// A plain load instead of the RMW would be wrong: a producer could read a stale "queued" state
/// while the consumer has already looked at an empty queue and gone to sleep (store→load
/// reordering), losing the message. The loom models below catch exactly that.
///
/// Exactly one notify can win Idle → Notified, so a process is never queued twice.
pub(crate) struct SchedState(AtomicU8);

impl SchedState {
    /// A new process is created queued: its spawner enqueues it for its first run.
    pub(crate) fn new_scheduled() -> Self {
        SchedState(AtomicU8::new(NOTIFIED))
    }

    /// Something arrived for the process. Returns true when the caller must enqueue it.
    pub(crate) fn notify(&self) -> bool {
        self.0.fetch_or(NOTIFIED, AcqRel) == IDLE
    }

    /// As [`SchedState::notify`], for a sender on the process's own worker thread, after a push
    /// into the local queue (which only this thread reads, so no cross-thread ordering is at
    /// stake). When the process is already queued, or is the running sender itself, nothing
    /// needs doing and no read-modify-write is spent; Idle still needs the RMW, because a remote
    /// notify may race for the same transition.
    pub(crate) fn notify_local(&self) -> bool {
        let s = self.0.load(Relaxed);
        if s & NOTIFIED != 0 || s & (RUNNING | CLOSED) != 0 {
            return false;
        }
        self.notify()
    }

    /// The worker is about to poll the queued process. Returns false if the process is closed.
    pub(crate) fn begin_run(&self) -> bool {
        // While queued, the word is exactly Notified: notifies only set that bit again, and only
        // the running thread closes.
        self.0.compare_exchange(NOTIFIED, RUNNING, AcqRel, Acquire).is_ok()
    }

    /// The poll returned Pending. Returns true when the process must be enqueued again (a notify
    /// arrived during the run).
    pub(crate) fn end_run(&self) -> bool {
        match self.0.compare_exchange(RUNNING, IDLE, AcqRel, Acquire) {
            Ok(_) => false,
            Err(_) => {
                // Running|Notified; notifiers only set Notified again, so a swap is exact.
                self.0.swap(NOTIFIED, AcqRel);
                true
            }
        }
    }

    /// True while a worker is polling the process (for inspection; racy by nature).
    pub(crate) fn is_running(&self) -> bool {
        self.0.load(Relaxed) & RUNNING != 0
    }

    /// A killer takes a process that is not running (asleep, or queued and not yet polled) out
    /// of the scheduler's hands: Idle or Notified → the same | Killing, from any thread. Returns
    /// `Some(queued)` (whether a run queue holds it) on success; `None` when it is running,
    /// closed or being killed already (then it must be stopped by a message instead).
    ///
    /// While Killing, `begin_run` fails (a worker that pops the queued process must requeue it:
    /// see [`SchedState::is_killing`]) and `notify` never returns true (a notify that finds the
    /// word not Idle does not enqueue), so the killer alone decides, in `end_kill` or
    /// `cancel_kill`, whether to enqueue it.
    pub(crate) fn begin_kill(&self) -> Option<bool> {
        let mut s = self.0.load(Acquire);
        loop {
            if s & (RUNNING | CLOSED | KILLING) != 0 {
                return None;
            }
            match self.0.compare_exchange(s, s | KILLING, AcqRel, Acquire) {
                Ok(_) => return Some(s & NOTIFIED != 0),
                Err(now) => s = now,
            }
        }
    }

    /// The killer has unregistered the process: it becomes Notified (queued) for one last run,
    /// in which it finds itself dead and runs `terminate`. Returns true when the caller must
    /// enqueue it (it was asleep at `begin_kill`, so no run queue holds it).
    ///
    /// The swap (Release) publishes the killer's work to the last run's `begin_run` (Acquire).
    pub(crate) fn end_kill(&self, queued: bool) -> bool {
        self.0.swap(NOTIFIED, AcqRel);
        !queued
    }

    /// The killer backs out (the process was inside a callback, waiting on a call): Killing is
    /// dropped. Returns true when the caller must enqueue it (it was asleep at `begin_kill` and
    /// something arrived meanwhile, whose notify could not enqueue it).
    pub(crate) fn cancel_kill(&self, queued: bool) -> bool {
        let prev = self.0.fetch_and(!KILLING, AcqRel);
        !queued && prev & NOTIFIED != 0
    }

    /// True while a killer holds the process (a worker that failed `begin_run` requeues it).
    pub(crate) fn is_killing(&self) -> bool {
        self.0.load(Acquire) & KILLING != 0
    }

    /// The process ended: later notifies do nothing.
    pub(crate) fn close(&self) {
        self.0.store(CLOSED, std::sync::atomic::Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn drains_by_priority() {
        let mb = Mailbox::new(0);
        let _ = mb.push(Priority::Log, "log", false);
        let _ = mb.push(Priority::Main, "main1", false);
        let _ = mb.push(Priority::System, "system", false);
        let _ = mb.push(Priority::Main, "main2", false);
        let _ = mb.push(Priority::Urgent, "urgent", false);
        assert_eq!(mb.lens(), [1, 1, 2, 1]);
        let mut got = vec![];
        // SAFETY: this test thread is the only consumer.
        while let Some(v) = unsafe { mb.pop() } {
            got.push(v);
        }
        assert_eq!(got, ["urgent", "system", "main1", "main2", "log"]);
        assert_eq!(mb.lens(), [0, 0, 0, 0]);
    }

    #[test]
    fn local_and_remote_queues_both_drain_by_priority() {
        let mb = Mailbox::new(0);
        // SAFETY: this test thread is the owner and the only consumer.
        unsafe {
            let _ = mb.push_local(Priority::Main, "local-main", false);
            let _ = mb.push(Priority::Main, "remote-main", false);
            let _ = mb.push_local(Priority::Urgent, "local-urgent", false);
            let _ = mb.push(Priority::Log, "remote-log", false);
        }
        let mut got = vec![];
        // SAFETY: single consumer.
        while let Some(v) = unsafe { mb.pop() } {
            got.push(v);
        }
        assert_eq!(got[0], "local-urgent");
        assert_eq!(got[3], "remote-log");
        assert!(got[1..3].contains(&"local-main") && got[1..3].contains(&"remote-main"));
    }

    #[test]
    fn capacity_is_per_queue_and_hands_value_back() {
        let mb = Mailbox::new(2);
        assert!(mb.push(Priority::Main, 1, false).is_ok());
        assert!(mb.push(Priority::Main, 2, false).is_ok());
        match mb.push(Priority::Main, 3, false) {
            Err(Full(v)) => assert_eq!(v, 3),
            Ok(()) => panic!("third push must fail"),
        }
        assert!(mb.push(Priority::Urgent, 4, false).is_ok());
        // SAFETY: single consumer.
        assert_eq!(unsafe { mb.pop() }, Some(4));
        // SAFETY: single consumer.
        assert_eq!(unsafe { mb.pop() }, Some(1));
        assert!(mb.push(Priority::Main, 5, false).is_ok());
    }

    #[test]
    fn sched_state_transitions() {
        let s = SchedState::new_scheduled();
        assert!(!s.notify(), "already scheduled");
        assert!(s.begin_run());
        assert!(!s.notify(), "running: mark notified, do not enqueue");
        assert!(s.end_run(), "notified during the run: enqueue again");
        assert!(s.begin_run());
        assert!(!s.end_run());
        assert!(s.notify(), "idle: the notifier enqueues");
        assert!(!s.notify(), "only once");
        s.close();
        assert!(!s.notify());
        assert!(!s.begin_run());
    }

    #[test]
    fn kill_transitions() {
        // Asleep: the killer holds it; notifies and runs are held off; the killer enqueues it.
        let s = SchedState::new_scheduled();
        assert!(s.begin_run());
        assert!(!s.end_run());
        assert_eq!(s.begin_kill(), Some(false));
        assert_eq!(s.begin_kill(), None, "one killer at a time");
        assert!(!s.notify(), "a notify cannot enqueue a process being killed");
        assert!(!s.begin_run(), "nobody runs it while killed");
        assert!(s.is_killing());
        assert!(s.end_kill(false), "it was asleep: the killer enqueues it");
        assert!(!s.is_killing());
        assert!(!s.notify(), "queued for its last run");
        assert!(s.begin_run(), "the last run");
        // Queued: a run queue already holds it; the killer must not enqueue it again.
        let s = SchedState::new_scheduled();
        assert_eq!(s.begin_kill(), Some(true));
        assert!(!s.begin_run());
        assert!(!s.end_kill(true));
        assert!(s.begin_run());
        // Running or closed: no.
        assert_eq!(s.begin_kill(), None);
        s.close();
        assert_eq!(s.begin_kill(), None);
        // Backing out of an asleep process: enqueued only if something arrived meanwhile.
        let s = SchedState::new_scheduled();
        assert!(s.begin_run());
        assert!(!s.end_run());
        assert_eq!(s.begin_kill(), Some(false));
        assert!(!s.cancel_kill(false), "nothing arrived: stays asleep");
        assert!(s.notify(), "asleep again: a notify enqueues it");
        let s = SchedState::new_scheduled();
        assert!(s.begin_run());
        assert!(!s.end_run());
        assert_eq!(s.begin_kill(), Some(false));
        assert!(!s.notify());
        assert!(s.cancel_kill(false), "a message arrived meanwhile: the killer enqueues it");
        assert!(s.begin_run());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Model checks of the wake protocol: `RUSTFLAGS="--cfg loom" cargo test --lib --release mailbox`.
    use super::*;
    use crate::sync::{Arc, AtomicUsize};
    use loom::sync::atomic::Ordering::SeqCst;
    use loom::thread;

    /// A process model: a mailbox, its scheduling word, and a run queue represented by a counter
    /// of pending enqueues (at most one may ever be outstanding).
    struct Proc {
        mb: Mailbox<usize>,
        state: SchedState,
        queued: AtomicUsize,
    }

    impl Proc {
        fn send(&self, priority: Priority, v: usize) {
            assert!(self.mb.push(priority, v, false).is_ok());
            if self.state.notify() {
                let before = self.queued.fetch_add(1, SeqCst);
                assert_eq!(before, 0, "process enqueued twice");
            }
        }

        /// One worker turn if the process is queued: drain, then go to sleep. Returns what it got.
        fn run_once(&self, got: &mut Vec<usize>) -> bool {
            if self.queued.load(SeqCst) == 0 {
                return false;
            }
            self.queued.fetch_sub(1, SeqCst);
            assert!(self.state.begin_run());
            // SAFETY: the model's worker thread is the only consumer.
            while let Some(v) = unsafe { self.mb.pop() } {
                got.push(v);
            }
            if self.state.end_run() {
                let before = self.queued.fetch_add(1, SeqCst);
                assert_eq!(before, 0, "process enqueued twice");
            }
            true
        }
    }

    fn model(senders: usize, per_sender: usize) {
        loom::model(move || {
            let p =
                Arc::new(Proc { mb: Mailbox::new(0), state: SchedState::new_scheduled(), queued: AtomicUsize::new(1) });
            let handles: Vec<_> = (0..senders)
                .map(|s| {
                    let p = p.clone();
                    thread::spawn(move || {
                        for i in 0..per_sender {
                            let prio = if i % 2 == 0 { Priority::Main } else { Priority::Urgent };
                            p.send(prio, s * 10 + i);
                        }
                    })
                })
                .collect();
            let mut got = Vec::new();
            // The worker runs concurrently with the senders...
            p.run_once(&mut got);
            for h in handles {
                h.join().unwrap();
            }
            // ...and after they are done, whoever was told to enqueue did: every message is
            // reachable by running the process while it is queued.
            while p.run_once(&mut got) {}
            got.sort();
            let mut want: Vec<usize> = (0..senders).flat_map(|s| (0..per_sender).map(move |i| s * 10 + i)).collect();
            want.sort();
            assert_eq!(got, want, "a message was lost or duplicated");
            assert_eq!(p.queued.load(SeqCst), 0);
        });
    }

    /// A killer takes an asleep process while a sender delivers to it: whichever goes first,
    /// the process is enqueued exactly once afterwards (for its last run, or to back out), and
    /// that run sees the message.
    fn kill_model(back_out: bool) {
        loom::model(move || {
            let p =
                Arc::new(Proc { mb: Mailbox::new(0), state: SchedState::new_scheduled(), queued: AtomicUsize::new(1) });
            // Its first run: it goes to sleep.
            let mut got = Vec::new();
            assert!(p.run_once(&mut got));
            let sender = {
                let p = p.clone();
                thread::spawn(move || p.send(Priority::Main, 7))
            };
            let queued = p.state.begin_kill().expect("not running: the killer takes it");
            let enqueue = if back_out { p.state.cancel_kill(queued) } else { p.state.end_kill(queued) };
            if enqueue {
                assert_eq!(p.queued.fetch_add(1, SeqCst), 0, "process enqueued twice");
            }
            sender.join().unwrap();
            if back_out {
                while p.run_once(&mut got) {}
                assert_eq!(got, vec![7], "the message was lost");
            } else {
                assert_eq!(p.queued.load(SeqCst), 1, "queued for its last run exactly once");
                p.run_once(&mut got);
                assert_eq!(got, vec![7]);
            }
        });
    }

    #[test]
    fn loom_kill_races_a_sender() {
        kill_model(false);
    }

    #[test]
    fn loom_kill_backs_out_while_a_sender_delivers() {
        kill_model(true);
    }

    #[test]
    fn loom_wake_one_sender() {
        model(1, 2);
    }

    #[test]
    fn loom_wake_two_senders() {
        model(2, 1);
    }

    #[test]
    fn loom_wake_two_senders_two_messages() {
        model(2, 2);
    }
}
