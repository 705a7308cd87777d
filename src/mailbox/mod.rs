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
use crate::sync::{AtomicPtr, AtomicU8};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, SeqCst};

/// Returned by [`Mailbox::push`] when the queue is at capacity; carries the value back.
pub(crate) struct Full<T>(pub(crate) T);

/// Four priority levels drained Urgent → System → Main → Log. Any thread pushes; one consumer
/// (whichever worker holds the process's Running state) pops.
///
/// One lock-free queue per level serves every sender, on the receiver's worker or not: per-sender
/// order holds because a sender's pushes are ordered (program order, or the hand-off of a
/// process between workers) and each claims its slot with a read-modify-write on the queue's
/// tail. Nothing depends on which worker runs the sender or the receiver, so processes can move
/// between workers freely (docs/decisions.md D40).
pub(crate) struct Mailbox<T> {
    /// One queue per level, allocated by the first push to it (an idle process pays four null
    /// pointers).
    queues: [AtomicPtr<mpsc::Queue<T>>; 4],
    /// Capacity of each level; 0 = unbounded.
    capacity: u32,
    /// Length at which a level counts as over its limit (the lower of the capacity and the
    /// node's high-water mark; 0 = none): pushes then report pressure (D70).
    limit: u32,
}

// SAFETY: the queues are thread-safe (`mpsc::Queue` is Sync for `T: Send`), the pointers are set
// once and then only read, and the consumer methods state their exclusivity contract.
unsafe impl<T: Send> Sync for Mailbox<T> {}
// SAFETY: moving the mailbox moves its values; `T: Send` allows that.
unsafe impl<T: Send> Send for Mailbox<T> {}

impl<T> Mailbox<T> {
    /// A mailbox whose levels hold at most `capacity` messages each (0 = unbounded; values above
    /// `u32::MAX - 1` are treated as unbounded), and report pressure from `high_water` messages
    /// (0 = never; a bounded level reports it when full too).
    pub(crate) fn new(capacity: usize, high_water: usize) -> Self {
        let bound = |n: usize| u32::try_from(n).ok().filter(|c| *c < u32::MAX).unwrap_or(0);
        let (capacity, high_water) = (bound(capacity), bound(high_water));
        let limit = match (capacity, high_water) {
            (0, h) => h,
            (c, 0) => c,
            (c, h) => c.min(h),
        };
        Mailbox { queues: [0, 1, 2, 3].map(|_| AtomicPtr::new(std::ptr::null_mut())), capacity, limit }
    }

    /// Level `i`'s queue, if anything was ever pushed to it.
    #[inline(always)]
    fn queue(&self, i: usize) -> Option<&mpsc::Queue<T>> {
        // SeqCst (a plain load on x86 and ARMv8): `has_unpublished` and `drain_ready` must see a
        // queue installed before a sender's SeqCst claim or publication (D21, D40).
        let p = self.queues[i].load(SeqCst);
        // SAFETY: once set, a queue pointer stays valid until the mailbox is dropped.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Level `i`'s queue, allocating it on first use (a racing loser frees its copy).
    #[inline(always)]
    fn queue_or_new(&self, i: usize) -> &mpsc::Queue<T> {
        if let Some(q) = self.queue(i) {
            return q;
        }
        self.install(i)
    }

    #[cold]
    fn install(&self, i: usize) -> &mpsc::Queue<T> {
        let fresh = Box::into_raw(Box::new(mpsc::Queue::new(u64::from(self.limit))));
        match self.queues[i].compare_exchange(std::ptr::null_mut(), fresh, SeqCst, Acquire) {
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

    /// Queues `value` at `priority` from any thread, or hands it back if that level is full.
    /// The caller must then notify the owner's [`SchedState`]. `Ok(true)` when the level is over
    /// its limit (the sender should hold back: D70).
    ///
    /// `forced` skips the capacity check: for the runtime's own signals (exits, downs, shutdown),
    /// which must never be dropped. `sc` publishes with a SeqCst store (requests: D21).
    #[inline(always)]
    pub(crate) fn push(&self, priority: Priority, value: T, forced: bool, sc: bool) -> Result<bool, Full<T>> {
        let q = self.queue_or_new(priority as usize);
        if forced || self.capacity == 0 {
            Ok(q.push(value, sc))
        } else {
            q.push_bounded(value, u64::from(self.capacity), sc).map_err(Full)
        }
    }

    /// True when level `priority` can take a message now without going over its limit.
    pub(crate) fn has_room(&self, priority: Priority) -> bool {
        self.queue(priority as usize).is_none_or(mpsc::Queue::has_room)
    }

    /// True when level `priority` is at or below its low-water mark (half its limit).
    pub(crate) fn is_relieved(&self, priority: Priority) -> bool {
        self.queue(priority as usize).is_none_or(mpsc::Queue::is_relieved)
    }

    /// Asks to be woken when level `priority` is at or below its low-water mark
    /// (`mpsc::Queue::wait_for_room`).
    pub(crate) fn wait_for_room(&self, priority: Priority, waker: &std::task::Waker) -> mpsc::Room {
        match self.queue(priority as usize) {
            Some(q) => q.wait_for_room(waker),
            None => mpsc::Room::Now,
        }
    }

    /// True while `waker` waits for room at `priority` (false once the consumer woke it).
    pub(crate) fn is_waiting(&self, priority: Priority, waker: &std::task::Waker) -> bool {
        self.queue(priority as usize).is_some_and(|q| q.is_waiting(waker))
    }

    /// Stops waiting for room at `priority`.
    pub(crate) fn forget_waiter(&self, priority: Priority, waker: &std::task::Waker) {
        if let Some(q) = self.queue(priority as usize) {
            q.forget_waiter(waker);
        }
    }

    /// Counts time a producer spent held back by level `priority`.
    pub(crate) fn add_held(&self, priority: Priority, ns: u64) {
        if let Some(q) = self.queue(priority as usize) {
            q.add_held(ns);
        }
    }

    /// Time producers spent held back by this mailbox, in ns.
    pub(crate) fn held_ns(&self) -> u64 {
        (0..4).filter_map(|i| self.queue(i)).map(mpsc::Queue::held_ns).sum()
    }

    /// Wakes everybody waiting for room (the process is ending).
    pub(crate) fn wake_all_waiters(&self) {
        for i in 0..4 {
            if let Some(q) = self.queue(i) {
                q.wake_all_waiters();
            }
        }
    }

    /// True when a message was claimed that `pop` could not take yet (its sender is mid-push):
    /// the consumer must not go to sleep on an empty `pop` then (see [`SchedState`]).
    ///
    /// # Safety
    /// As for [`Mailbox::pop`].
    pub(crate) unsafe fn has_unpublished(&self) -> bool {
        crate::sync::loom_sc_order();
        // SAFETY: forwarded from the caller.
        (0..4).any(|i| self.queue(i).is_some_and(|q| unsafe { q.has_unpublished() }))
    }

    /// The next value by priority.
    ///
    /// # Safety
    /// Only the mailbox's single consumer (the worker running its process) may call this.
    #[inline(always)]
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        let mut level = Priority::Main;
        // SAFETY: forwarded from the caller.
        unsafe { self.pop_noting(&mut level) }
    }

    /// As [`Mailbox::pop`], noting in `level` the level the value came from (a pool forwards
    /// only what arrived at `Main`: D85). An out-parameter rather than a tuple: the value is a
    /// cache line, and a pair around it costs a copy on the receive path.
    ///
    /// # Safety
    /// As for [`Mailbox::pop`].
    #[inline(always)]
    pub(crate) unsafe fn pop_noting(&self, level: &mut Priority) -> Option<T> {
        const LEVELS: [Priority; 4] = [Priority::Urgent, Priority::System, Priority::Main, Priority::Log];
        for (i, l) in LEVELS.into_iter().enumerate() {
            if let Some(q) = self.queue(i) {
                // SAFETY: forwarded from the caller: we are the single consumer.
                if let Some(v) = unsafe { q.pop() } {
                    *level = l;
                    return Some(v);
                }
            }
        }
        None
    }

    /// The next value of one level only (a held-back process still takes its Urgent queue).
    ///
    /// # Safety
    /// As for [`Mailbox::pop`].
    pub(crate) unsafe fn pop_at(&self, priority: Priority) -> Option<T> {
        // SAFETY: forwarded from the caller: we are the single consumer.
        self.queue(priority as usize).and_then(|q| unsafe { q.pop() })
    }

    /// As [`Mailbox::has_unpublished`], for one level.
    ///
    /// # Safety
    /// As for [`Mailbox::pop`].
    pub(crate) unsafe fn has_unpublished_at(&self, priority: Priority) -> bool {
        crate::sync::loom_sc_order();
        // SAFETY: forwarded from the caller.
        self.queue(priority as usize).is_some_and(|q| unsafe { q.has_unpublished() })
    }

    /// Hands every published message to `f`, by priority, without waiting for producers that
    /// are mid-push (for a process that is ending; `mpsc::Queue::drain_ready`).
    ///
    /// # Safety
    /// As for [`Mailbox::pop`], and `pop` is not called afterwards.
    pub(crate) unsafe fn drain_ready(&self, mut f: impl FnMut(T)) {
        crate::sync::loom_sc_order();
        for i in 0..4 {
            if let Some(q) = self.queue(i) {
                // SAFETY: forwarded from the caller.
                unsafe { q.drain_ready(&mut f) };
            }
        }
    }

    /// Queued messages per level (Urgent, System, Main, Log); a snapshot, racy by nature.
    pub(crate) fn lens(&self) -> [usize; 4] {
        [0, 1, 2, 3].map(|i| self.queue(i).map_or(0, |q| q.len() as usize))
    }
}

impl<T> Drop for Mailbox<T> {
    fn drop(&mut self) {
        for q in &self.queues {
            let p = q.load(Acquire);
            if !p.is_null() {
                // SAFETY: `&mut self`: no sender or consumer remains; each queue was boxed by
                // `install` and is freed once, here.
                drop(unsafe { Box::from_raw(p) });
            }
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
/// The memory-ordering argument. A producer's push claims its slot with a sequentially
/// consistent read-modify-write of the queue's tail, writes and publishes the value (a release
/// store), then calls [`SchedState::notify`], which first *loads* the word (SeqCst) and returns
/// at once when Notified is already set, and otherwise sets it with a SeqCst `fetch_or`. The
/// consumer's `begin_run` is a SeqCst read-modify-write of the word; when a `pop` then finds
/// nothing, the consumer loads the tails (SeqCst, [`Mailbox::has_unpublished`]) before it may
/// sleep. All SeqCst operations are in one total order, so for every push either
/// - the notify's load (or RMW) comes before `begin_run`: then the claim does too, and the
///   consumer sees the message, or sees its claim and comes back for it (it yields instead of
///   sleeping) until the publication is visible; a load that saw Notified may therefore skip the
///   RMW, because that Notified belongs to a queued run that has not begun; or
/// - it comes after `begin_run`: it finds Running without Notified and must set Notified by RMW
///   (which orders the publication before it); either `end_run` then fails and requeues the
///   process, or the notify comes after `end_run`, finds Idle and its caller queues the process.
///
/// The skip is what keeps a stream cheap: while the receiver waits in a run queue, each send
/// costs its producer a load of this word, not a write to a line the consumer reads. A skip on
/// Running alone would be wrong (the consumer may already have looked at an empty queue and be
/// about to go Idle); the loom models below check both.
///
/// Exactly one notify can win Idle → Notified, so a process is never queued twice.
pub(crate) struct SchedState(AtomicU8);

impl SchedState {
    /// A new process is created queued: its spawner enqueues it for its first run.
    pub(crate) fn new_scheduled() -> Self {
        SchedState(AtomicU8::new(NOTIFIED))
    }

    /// Something arrived for the process (after the push). Returns true when the caller must
    /// enqueue it.
    #[inline(always)]
    pub(crate) fn notify(&self) -> bool {
        crate::sync::loom_sc_order();
        if self.0.load(SeqCst) & (NOTIFIED | CLOSED) != 0 {
            return false;
        }
        self.0.fetch_or(NOTIFIED, SeqCst) == IDLE
    }

    /// The worker is about to poll the queued process. Returns false if the process is closed
    /// or a killer holds it (the worker uses [`SchedState::begin_run_or_requeue`]).
    #[cfg(test)]
    pub(crate) fn begin_run(&self) -> bool {
        self.begin_run_or_requeue().is_ok()
    }

    /// The poll returned Pending. Returns true when the process must be enqueued again (a notify
    /// arrived during the run).
    #[inline(always)]
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

    /// True while a killer holds the process.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_killing(&self) -> bool {
        self.0.load(Acquire) & KILLING != 0
    }

    /// The worker is about to poll the queued process (Notified → Running; while queued the word
    /// is exactly Notified: notifies only set that bit again, and only the running thread
    /// closes). On failure, says whether a killer held the process at that
    /// very moment (decided on the value the exchange failed on, not on a later load: the killer
    /// may let go in between, counting on this queue entry): then the caller must put the
    /// process back in a run queue; otherwise it is closed and is dropped.
    #[inline(always)]
    pub(crate) fn begin_run_or_requeue(&self) -> Result<(), bool> {
        match self.0.compare_exchange(NOTIFIED, RUNNING, SeqCst, Acquire) {
            Ok(_) => Ok(()),
            Err(s) => Err(s & KILLING != 0),
        }
    }

    /// Closes a process that no thread is polling (Idle or Notified, not being killed), for a stop
    /// that abandons it; true if it did. A closed process is never polled again.
    pub(crate) fn close_if_not_running(&self) -> bool {
        let mut s = self.0.load(Acquire);
        loop {
            if s & (RUNNING | CLOSED | KILLING) != 0 {
                return false;
            }
            match self.0.compare_exchange(s, CLOSED, AcqRel, Acquire) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
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
        let mb = Mailbox::new(0, 0);
        let _ = mb.push(Priority::Log, "log", false, false);
        let _ = mb.push(Priority::Main, "main1", false, false);
        let _ = mb.push(Priority::System, "system", false, false);
        let _ = mb.push(Priority::Main, "main2", false, false);
        let _ = mb.push(Priority::Urgent, "urgent", false, false);
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
    fn capacity_is_per_queue_and_hands_value_back() {
        let mb = Mailbox::new(2, 0);
        assert!(mb.push(Priority::Main, 1, false, false).is_ok());
        assert!(mb.push(Priority::Main, 2, false, false).is_ok());
        match mb.push(Priority::Main, 3, false, false) {
            Err(Full(v)) => assert_eq!(v, 3),
            Ok(_) => panic!("third push must fail"),
        }
        assert!(mb.push(Priority::Urgent, 4, false, false).is_ok());
        // SAFETY: single consumer.
        assert_eq!(unsafe { mb.pop() }, Some(4));
        // SAFETY: single consumer.
        assert_eq!(unsafe { mb.pop() }, Some(1));
        assert!(mb.push(Priority::Main, 5, false, false).is_ok());
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
            assert!(self.mb.push(priority, v, false, false).is_ok());
            if self.state.notify() {
                let before = self.queued.fetch_add(1, SeqCst);
                assert_eq!(before, 0, "process enqueued twice");
            }
        }

        /// One worker turn if the process is queued: drain, then go to sleep, unless a claimed
        /// message is not published yet (then come back: notify ourselves, as `poll_recv` does
        /// with `wake_by_ref`). Returns false if the process was not queued.
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
            // SAFETY: as above.
            if unsafe { self.mb.has_unpublished() } {
                // A notify while Running sets Notified, so end_run requeues.
                assert!(!self.state.notify());
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
            let p = Arc::new(Proc {
                mb: Mailbox::new(0, 0),
                state: SchedState::new_scheduled(),
                queued: AtomicUsize::new(1),
            });
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
            let p = Arc::new(Proc {
                mb: Mailbox::new(0, 0),
                state: SchedState::new_scheduled(),
                queued: AtomicUsize::new(1),
            });
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

    /// D21: a request pushed while its receiver dies is answered by one side at least: the
    /// sender re-checks liveness after its push (the real `push` path: SeqCst publication, then
    /// `Alive::is_alive`), the dying receiver marks itself dead and then drains what it can see
    /// without waiting (`drain_ready`).
    #[test]
    fn loom_request_racing_death_is_answered() {
        use crate::process::entry::Alive;
        loom::model(|| {
            let mb = Arc::new(Mailbox::<usize>::new(0, 0));
            let alive = Arc::new(Alive::new());
            let answered = Arc::new(AtomicUsize::new(0));
            let sender = {
                let (mb, alive, answered) = (mb.clone(), alive.clone(), answered.clone());
                thread::spawn(move || {
                    if !alive.is_alive() {
                        return false; // refused at once: ProcessUnknown
                    }
                    assert!(mb.push(Priority::Main, 7, false, true).is_ok());
                    if !alive.is_alive() {
                        answered.fetch_add(1, SeqCst);
                    }
                    true
                })
            };
            assert!(alive.mark_dead());
            // SAFETY: the model's main thread is the only consumer.
            unsafe {
                mb.drain_ready(|_| {
                    answered.fetch_add(1, SeqCst);
                })
            };
            let pushed = sender.join().unwrap();
            if pushed {
                assert!(answered.load(SeqCst) >= 1, "a request racing its receiver's death was never answered");
            }
        });
    }

    /// The hand-off of a process between workers: two workers race to take it from a shared run
    /// queue (stealing) while a sender wakes it. It never runs on two workers at once, is never
    /// queued twice, and every message is handled.
    #[test]
    fn loom_two_workers_share_a_process() {
        use loom::sync::Mutex;
        use std::collections::VecDeque;
        struct Shared {
            p: Proc,
            running: loom::sync::atomic::AtomicBool,
            rq: Mutex<VecDeque<()>>,
            got: Mutex<Vec<usize>>,
        }
        impl Shared {
            fn enqueue(&self) {
                let mut rq = self.rq.lock().unwrap();
                assert!(rq.is_empty(), "process queued twice");
                rq.push_back(());
            }
            fn try_run(&self) -> bool {
                if self.rq.lock().unwrap().pop_front().is_none() {
                    return false;
                }
                assert!(self.p.state.begin_run());
                assert!(!self.running.swap(true, SeqCst), "running on two workers at once");
                // SAFETY: this thread holds the Running state: the only consumer now.
                while let Some(v) = unsafe { self.p.mb.pop() } {
                    self.got.lock().unwrap().push(v);
                }
                // SAFETY: as above.
                if unsafe { self.p.mb.has_unpublished() } {
                    assert!(!self.p.state.notify());
                }
                self.running.store(false, SeqCst);
                if self.p.state.end_run() {
                    self.enqueue();
                }
                true
            }
        }
        loom::model(|| {
            let s = Arc::new(Shared {
                p: Proc { mb: Mailbox::new(0, 0), state: SchedState::new_scheduled(), queued: AtomicUsize::new(0) },
                running: loom::sync::atomic::AtomicBool::new(false),
                rq: Mutex::new(VecDeque::from([()])),
                got: Mutex::new(Vec::new()),
            });
            let sender = {
                let s = s.clone();
                thread::spawn(move || {
                    assert!(s.p.mb.push(Priority::Main, 1, false, false).is_ok());
                    if s.p.state.notify() {
                        s.enqueue();
                    }
                })
            };
            let thief = {
                let s = s.clone();
                thread::spawn(move || {
                    s.try_run();
                })
            };
            s.try_run();
            sender.join().unwrap();
            thief.join().unwrap();
            while s.try_run() {}
            assert_eq!(*s.got.lock().unwrap(), vec![1], "the message was lost or duplicated");
        });
    }

    /// A worker pops the queued process while a killer holds it and lets go (`end_kill` or
    /// `cancel_kill` with `queued`, so the killer enqueues nothing): the worker's failed
    /// `begin_run` must keep the queue entry, whatever the killer does in between.
    #[test]
    fn loom_a_worker_keeps_the_entry_of_a_process_a_killer_lets_go() {
        for end in [true, false] {
            loom::model(move || {
                let s = Arc::new(SchedState::new_scheduled());
                let killer = {
                    let s = s.clone();
                    thread::spawn(move || {
                        // Queued: the killer counts on the worker's entry and enqueues nothing. (If
                        // the worker ran first, the process is asleep and not the worker's concern.)
                        if let Some(queued) = s.begin_kill() {
                            let _ = if end { s.end_kill(queued) } else { s.cancel_kill(queued) };
                        }
                    })
                };
                // The worker holds the process's only queue entry.
                let mut entries = 1;
                let mut ran = false;
                while entries > 0 && !ran {
                    entries -= 1;
                    match s.begin_run_or_requeue() {
                        Ok(()) => {
                            ran = true;
                            let _ = s.end_run();
                        }
                        Err(true) => entries += 1,
                        Err(false) => {}
                    }
                    if entries > 0 {
                        thread::yield_now();
                    }
                }
                killer.join().unwrap();
                assert!(ran || entries > 0, "the process's only queue entry was dropped");
            });
        }
    }
}
