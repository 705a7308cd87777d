//! A worker: one OS thread, optionally pinned, owning one io_uring ring, two run queues and a
//! timer map. It runs processes, drains its injector (processes woken by other threads), fires
//! timers, takes runnable processes from busy or stalled workers when it has none, spins briefly
//! when idle, then parks in its ring until an eventfd write or a timer.
//!
//! Run queues: `deque` holds processes any worker may take (crossbeam's work-stealing deque:
//! an idle worker steals half of a busy one's queue); `pinned` holds processes placed on this
//! worker on purpose (`SpawnOptions::worker`/`colocate`), which others take only while this
//! worker is stalled. A process may run on any worker, one at a time (its scheduling word's
//! Running state), because its mailbox does not depend on the thread (D40).
//!
//! Runs user futures; never blocks except in `io_uring_enter` when there is nothing to do.

use crate::io::driver::{Driver, IoConfig};
use crate::message::{ExitReason, Payload};
use crate::node::NodeInner;
use crate::process::entry::{ProcessEntry, Stats};
use crate::runtime::park::ParkFlag;
use crate::runtime::timer::{FIRED, PENDING, TimerAction, Timers};
use crate::runtime::waker::waker_ref;
use crate::sys::clock;
use crate::sys::ring::{Ring, Waker};
use crossbeam_deque::{Steal, Stealer, Worker as Deque};
use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

/// The node's workers, shared by every process entry (which names its home by index).
pub(crate) struct Workers {
    pub(crate) list: Vec<Arc<WorkerShared>>,
}

#[cfg(test)]
impl Workers {
    /// One worker's shared half, for unit tests that build process entries by hand.
    pub(crate) fn one() -> Arc<Workers> {
        Arc::new(Workers { list: vec![Arc::new(WorkerShared::new(0).0)] })
    }
}

/// The part of a worker other threads see.
pub(crate) struct WorkerShared {
    pub(crate) index: usize,
    /// Written by other threads (pushes) and read by this worker and by spinning thieves.
    injector: CachePadded<SegQueue<Arc<ProcessEntry>>>,
    stealer: Stealer<Arc<ProcessEntry>>,
    pinned_stealer: Stealer<Arc<ProcessEntry>>,
    /// Set by the worker just before it parks; a remote scheduler that sees it writes the eventfd.
    parked: ParkFlag,
    shutdown: AtomicBool,
    waker: OnceLock<Arc<Waker>>,
    /// What this worker is polling (written twice per poll by the worker alone, on a line of
    /// its own so that the writes do not slow the threads that push into the injector).
    pub(crate) poll: CachePadded<PollState>,
    /// Set by the watchdog while this worker is stuck in one poll: the others take its queues.
    pub(crate) stalled: AtomicBool,
    /// Ring requests to cancel, from threads other than this worker (a process that moved away
    /// dropped an op this ring holds).
    io_cancels: SegQueue<u64>,
    /// What this worker's ring offers (set once the ring is up).
    pub(crate) io_features: OnceLock<crate::io::IoFeatures>,
    /// Requests in flight on this worker's ring (for node info; written by the worker).
    pub(crate) io_in_flight: std::sync::atomic::AtomicUsize,
}

/// A worker's current poll, for the watchdog and for thieves.
pub(crate) struct PollState {
    /// Polls begun (the watchdog sees a stall as the same poll lasting too long).
    pub(crate) polls: AtomicU64,
    /// The id of the Pid being polled; 0 between polls.
    pub(crate) polling: AtomicU64,
}

/// The worker-thread halves of a worker's run queues, handed to its thread at start.
pub(crate) struct LocalQueues {
    deque: Deque<Arc<ProcessEntry>>,
    pinned: Deque<Arc<ProcessEntry>>,
}

impl WorkerShared {
    pub(crate) fn new(index: usize) -> (WorkerShared, LocalQueues) {
        let deque = Deque::new_fifo();
        let pinned = Deque::new_fifo();
        let shared = WorkerShared {
            index,
            injector: CachePadded::new(SegQueue::new()),
            stealer: deque.stealer(),
            pinned_stealer: pinned.stealer(),
            parked: ParkFlag::new(),
            shutdown: AtomicBool::new(false),
            waker: OnceLock::new(),
            poll: CachePadded::new(PollState { polls: AtomicU64::new(0), polling: AtomicU64::new(0) }),
            stalled: AtomicBool::new(false),
            io_cancels: SegQueue::new(),
            io_features: OnceLock::new(),
            io_in_flight: std::sync::atomic::AtomicUsize::new(0),
        };
        (shared, LocalQueues { deque, pinned })
    }

    /// Queues a process from another thread and wakes the worker if it is parked (the handshake
    /// of `runtime::park`).
    fn push_remote(&self, entry: Arc<ProcessEntry>) {
        self.injector.push(entry);
        self.wake_if_parked();
    }

    /// Wakes the worker if it is parked (or about to); true if this call woke it.
    pub(crate) fn wake_if_parked(&self) -> bool {
        if self.parked.should_wake() {
            self.wake();
            return true;
        }
        false
    }

    fn wake(&self) {
        if let Some(w) = self.waker.get() {
            w.wake();
        }
    }

    /// True when the worker has processes waiting in its queues (a snapshot).
    pub(crate) fn has_queued(&self) -> bool {
        !self.injector.is_empty() || !self.stealer.is_empty() || !self.pinned_stealer.is_empty()
    }

    /// Asks this worker to cancel its ring's request `ud` (from another thread).
    pub(crate) fn cancel_io(&self, ud: u64) {
        self.io_cancels.push(ud);
        self.wake();
    }

    pub(crate) fn request_shutdown(&self) {
        self.shutdown.store(true, Release);
        self.wake();
    }
}

/// Rounds a process polls for a reply or a message before it sleeps when its worker has nothing
/// else to do (about a microsecond or two): a round trip across workers then costs cache-line
/// transfers instead of a wake-up through the run queues.
pub(crate) const WAIT_SPIN: u32 = 64;

/// The longest a worker sleeps in one `io_uring_enter` when a timer is pending.
const MAX_PARK: Duration = Duration::from_secs(3600);
/// Timers fired per loop round at most, so that a million call timeouts expiring together do not
/// keep the worker from its processes.
const TIMER_BATCH: usize = 1024;
/// Processes taken per round from a stalled worker's injector.
const INJECTOR_STEAL: usize = 64;

/// The worker-thread-only state, reachable through the thread-local `CURRENT`.
pub(crate) struct WorkerLocal {
    pub(crate) shared: Arc<WorkerShared>,
    pub(crate) node: Arc<NodeInner>,
    workers: Arc<Workers>,
    deque: Deque<Arc<ProcessEntry>>,
    pinned: Deque<Arc<ProcessEntry>>,
    pub(crate) timers: RefCell<Timers>,
    /// The ring and the I/O requests in flight on it. Borrowed by a process submitting or
    /// cancelling a request, and by the loop's I/O turn and park (never while a process runs).
    pub(crate) io: RefCell<Driver>,
    /// When the running process's turn ends (coarse clock, nanoseconds); 0 until the first time
    /// check of the turn reads the clock (most turns end before one).
    turn_deadline: Cell<u64>,
    /// Alternates the two run queues so neither starves.
    pinned_first: Cell<bool>,
    /// Set while this worker wakes the processes whose ring requests completed: a movable one
    /// that lives elsewhere comes here, to the ring that serves it (D225).
    adopting: Cell<bool>,
}

impl WorkerLocal {
    /// Queues a process on this worker (its home): placed here on purpose, or bound to this
    /// worker's ring (D227), it waits where only a stalled worker's rescuers take it.
    fn push_local(&self, entry: Arc<ProcessEntry>) {
        if entry.stays() { self.pinned.push(entry) } else { self.deque.push(entry) }
    }

    /// The next queued process, alternating between the two queues.
    fn pop_local(&self) -> Option<Arc<ProcessEntry>> {
        let pinned_first = self.pinned_first.get();
        self.pinned_first.set(!pinned_first);
        if pinned_first {
            self.pinned.pop().or_else(|| self.deque.pop())
        } else {
            self.deque.pop().or_else(|| self.pinned.pop())
        }
    }

    /// True when the running process may poll for what it waits on for a moment instead of
    /// sleeping: idle spinning is allowed (`ERGORS_SPIN_US` > 0) and no other process waits for
    /// this worker (its queues and injector are empty).
    pub(crate) fn may_spin(&self) -> bool {
        !self.node.options.spin.is_zero()
            && self.deque.is_empty()
            && self.pinned.is_empty()
            && self.shared.injector.is_empty()
    }

    /// True when a process woken from another thread waits in this worker's injector: a
    /// process polling for a message or a reply stops polling then (it would hold that one up).
    pub(crate) fn others_waiting(&self) -> bool {
        !self.shared.injector.is_empty()
    }

    /// True once the running process has used its turn's time.
    pub(crate) fn turn_expired(&self) -> bool {
        let now = clock::coarse_ns();
        let deadline = self.turn_deadline.get();
        if deadline == 0 {
            // The turn's first check: the budget counts from here (a few messages in).
            self.turn_deadline.set(now.saturating_add(self.node.options.turn_budget.as_nanos() as u64));
            return false;
        }
        now > deadline
    }
}

thread_local! {
    static CURRENT: Cell<Option<NonNull<WorkerLocal>>> = const { Cell::new(None) };
}

/// Runs `f` with this thread's worker, if the thread is a worker.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&WorkerLocal>) -> R) -> R {
    let ptr = CURRENT.with(|c| c.get());
    // SAFETY: CURRENT is set only by `Worker::run` to a WorkerLocal that lives on that thread's
    // stack for the whole loop, and cleared before it is dropped; the reference does not escape `f`.
    f(ptr.map(|p| unsafe { p.as_ref() }))
}

/// True on any worker thread (of any node).
pub(crate) fn on_worker_thread() -> bool {
    CURRENT.with(|c| c.get().is_some())
}

/// Queues a process that won its Idle → Notified transition: locally if we are its home worker,
/// otherwise through its home worker's injector.
pub(crate) fn schedule(entry: Arc<ProcessEntry>) {
    with_current(|w| match w {
        Some(w) if w.shared.index == entry.home() && Arc::ptr_eq(&w.workers, &entry.workers) => {
            if w.adopting.get() {
                entry.bind_to_ring();
            }
            w.push_local(entry)
        }
        Some(w) if w.adopting.get() && !entry.pinned() && Arc::ptr_eq(&w.workers, &entry.workers) => {
            // Woken by a completion on this worker's ring: run it here, where its I/O is, rather
            // than wake its home worker through the injector (D225), and keep it here (D227).
            entry.set_home(w.shared.index);
            w.node.adoptions.fetch_add(1, Relaxed);
            entry.bind_to_ring();
            w.push_local(entry)
        }
        _ => {
            let home = entry.workers.list[entry.home()].clone();
            home.push_remote(entry);
        }
    })
}

pub(crate) struct Worker {
    /// Shared (never `&mut`) so the thread-local pointer to it never aliases a unique borrow;
    /// its mutable parts are `RefCell`s and `Cell`s.
    local: std::rc::Rc<WorkerLocal>,
    /// The wakers of completed ring requests, between a reap and waking them (reused).
    woken: Vec<std::task::Waker>,
}

impl Worker {
    /// Builds the worker on its own thread (the ring must be created there).
    pub(crate) fn new(
        shared: Arc<WorkerShared>,
        queues: LocalQueues,
        workers: Arc<Workers>,
        node: Arc<NodeInner>,
    ) -> Result<Worker, crate::StartError> {
        let ring = Ring::new(node.options.ring_entries)?;
        let _ = shared.waker.set(ring.waker());
        node_log!(node, DEBUG, "worker {} ring ready ({:?})", shared.index, ring.features);
        let o = &node.options;
        let config = IoConfig {
            multishot: o.io_multishot,
            recv_buffers: o.io_buffers,
            recv_buffer_size: o.io_buffer_size,
            coalesce: o.io_coalesce,
        };
        let driver = Driver::new(ring, config)?;
        let _ = shared.io_features.set(driver.features);
        Ok(Worker {
            local: std::rc::Rc::new(WorkerLocal {
                shared,
                node,
                workers,
                deque: queues.deque,
                pinned: queues.pinned,
                timers: RefCell::new(Timers::default()),
                io: RefCell::new(driver),
                turn_deadline: Cell::new(0),
                pinned_first: Cell::new(false),
                adopting: Cell::new(false),
            }),
            woken: Vec::new(),
        })
    }

    pub(crate) fn run(mut self) {
        /// Clears `CURRENT` however `run_loop` ends (even by a panic), before `local` can drop.
        struct ClearCurrent;
        impl Drop for ClearCurrent {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(None));
            }
        }
        CURRENT.with(|c| c.set(Some(NonNull::from(&*self.local))));
        {
            let _clear = ClearCurrent;
            self.run_loop();
        }
        // Anything still queued belongs to processes that ended with the node (or were abandoned
        // by a stop that timed out). Dropping user state may panic; the worker is exiting
        // anyway, but must exit cleanly.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            while self.local.pop_local().is_some() {}
            while self.local.shared.injector.pop().is_some() {}
            *self.local.timers.borrow_mut() = Timers::default();
        }));
    }

    fn run_loop(&mut self) {
        let spin = self.local.node.options.spin;
        loop {
            let mut did_work = self.drain_injector();
            did_work |= self.run_ready();
            did_work |= self.fire_timers();
            did_work |= self.io_turn();
            if did_work {
                continue;
            }
            if self.local.shared.shutdown.load(Acquire) {
                return;
            }
            if self.steal() {
                continue;
            }
            // Idle: spin for a while (parking costs tens of µs on VMs), then park.
            if !spin.is_zero() && self.spin(spin) {
                continue;
            }
            self.park();
        }
    }

    /// Polls for work for up to `spin`; true if some arrived (or was taken from another worker).
    fn spin(&mut self, spin: Duration) -> bool {
        // Waiting on the network, the next work mostly comes from the kernel, in the context of
        // the threads that produce it (a client on this machine, the blocking pool): the spin
        // then yields the core each round to any of them that is runnable, so that it stays
        // awake for the answer without taking their CPU (D228).
        let io = self.local.io.borrow().in_flight() > 0;
        let spin = if io { spin.min(self.local.node.options.io_spin) } else { spin };
        if spin.is_zero() {
            return false;
        }
        let until = Instant::now() + spin;
        let mut round = 0u32;
        loop {
            if !self.local.shared.injector.is_empty() || self.due_now().is_some() || self.io_pending() {
                return true;
            }
            round = round.wrapping_add(1);
            if io {
                // sched_yield(2): back at once when no other thread wants this core.
                std::thread::yield_now();
            }
            if round.is_multiple_of(16) {
                if self.steal() {
                    return true;
                }
                if Instant::now() >= until || self.local.shared.shutdown.load(Acquire) {
                    return false;
                }
            }
            std::hint::spin_loop();
        }
    }

    /// Takes runnable processes from another worker that is busy running one: half of its
    /// stealable queue, and the movable processes woken in its injector; from one the watchdog
    /// found stalled, its pinned processes too. True if anything was taken.
    fn steal(&mut self) -> bool {
        let local = &*self.local;
        let me = local.shared.index;
        let n = local.workers.list.len();
        for k in 1..n {
            let victim = &local.workers.list[(me + k) % n];
            let stalled = victim.stalled.load(Relaxed);
            // Look at what there is to take first: those lines change only when processes are
            // queued, while the victim writes its poll state twice per poll (reading that on
            // every spin would pull the line away from a busy worker each time).
            let takeable = !victim.stealer.is_empty()
                || !victim.injector.is_empty()
                || (stalled && !victim.pinned_stealer.is_empty());
            if !takeable || (!stalled && victim.poll.polling.load(Relaxed) == 0) {
                // Nothing to take, or the victim is idle or between processes: it runs its own
                // queue soon enough.
                continue;
            }
            let mut took = steal_half(&victim.stealer, &local.deque);
            if stalled {
                took |= steal_half(&victim.pinned_stealer, &local.pinned);
            }
            // The injector holds processes woken from other threads; a pinned one stays with its
            // worker unless that worker is stalled (it goes back, behind the others).
            let waiting = victim.injector.len().min(INJECTOR_STEAL);
            let mut returned = false;
            for _ in 0..waiting {
                let Some(e) = victim.injector.pop() else { break };
                if e.stays() && !stalled {
                    victim.injector.push(e);
                    returned = true;
                } else {
                    local.push_local(e);
                    took = true;
                }
            }
            if returned {
                // The victim may have found its injector empty meanwhile and parked.
                victim.wake_if_parked();
            }
            if took {
                return true;
            }
        }
        false
    }

    /// Wakes one parked sibling, so that it comes to take some of our queued processes.
    fn wake_a_sibling(&self) {
        let local = &*self.local;
        let me = local.shared.index;
        let n = local.workers.list.len();
        for k in 1..n {
            if local.workers.list[(me + k) % n].wake_if_parked() {
                return;
            }
        }
    }

    /// The clock, if a timer is due by it. A timer due beyond the coarse clock's margin is ruled
    /// out with a coarse reading (a few ns); the precise clock is read only when one may be due.
    /// A worker running calls checks this on every loop, and each call arms a timeout. (Should
    /// the coarse clock lag beyond its margin, a timer is noticed late, never early; `park`
    /// decides with the precise clock.)
    fn due_now(&self) -> Option<u64> {
        let next = self.local.timers.borrow().next_deadline()?;
        if next > clock::coarse_ns().saturating_add(clock::coarse_margin_ns()) {
            return None;
        }
        let now = clock::now_ns();
        (next <= now).then_some(now)
    }

    fn park(&mut self) {
        // Timers cancelled from other threads are freed before idling (D25). That drops their
        // messages, which is user code: keep a panic off the worker, and look at the local queues
        // again afterwards (a `Drop` may have sent something).
        let _ = catch_unwind(AssertUnwindSafe(|| self.local.timers.borrow_mut().purge_if_due()));
        if !self.local.deque.is_empty() || !self.local.pinned.is_empty() {
            return;
        }
        let shared = &self.local.shared;
        shared.parked.prepare();
        if !shared.injector.is_empty() || shared.shutdown.load(Acquire) {
            shared.parked.clear();
            return;
        }
        // The precise clock decides here (the loop's coarse check may have missed a due timer).
        let next = self.local.timers.borrow().next_deadline();
        let timeout = match next {
            Some(d) => {
                let now = clock::now_ns();
                if d <= now {
                    shared.parked.clear();
                    self.fire_due(now);
                    return;
                }
                // Capped: the kernel adds the timeout to its clock and a centuries-long one
                // (`Duration::MAX` timers) overflows into "already expired", which would spin.
                // Waking early is harmless: the loop checks again.
                Some(Duration::from_nanos(d - now).min(MAX_PARK))
            }
            None => None,
        };
        {
            let mut io = self.local.io.borrow_mut();
            io.park(timeout, &mut self.woken);
            shared.io_in_flight.store(io.in_flight(), Relaxed);
        }
        shared.parked.clear();
        self.wake_completed();
    }

    /// Pushes waiting ring requests, reaps completions and wakes their processes; true if any
    /// completed (or a cancellation came).
    fn io_turn(&mut self) -> bool {
        let shared = &self.local.shared;
        if !self.io_pending() && shared.io_cancels.is_empty() {
            return false;
        }
        {
            let mut io = self.local.io.borrow_mut();
            io.turn(&shared.io_cancels, &mut self.woken);
            shared.io_in_flight.store(io.in_flight(), Relaxed);
        }
        let woke = !self.woken.is_empty();
        self.wake_completed();
        woke
    }

    /// Wakes the processes whose ring requests completed, adopting movable ones (D225).
    fn wake_completed(&mut self) {
        if self.woken.is_empty() {
            return;
        }
        self.local.adopting.set(true);
        wake_all(&mut self.woken);
        self.local.adopting.set(false);
    }

    /// True when the ring has requests to push or completions to reap.
    fn io_pending(&self) -> bool {
        self.local.io.borrow_mut().pending()
    }

    /// Moves processes woken by other threads to the local queues.
    fn drain_injector(&mut self) -> bool {
        let mut moved = false;
        for _ in 0..1024 {
            match self.local.shared.injector.pop() {
                Some(e) => {
                    self.local.push_local(e);
                    moved = true;
                }
                None => break,
            }
        }
        moved
    }

    /// Runs the processes queued now (not those they queue), so the injector and timers get
    /// their turn between rounds. With more than one waiting, a parked sibling is woken to share
    /// them.
    fn run_ready(&mut self) -> bool {
        let n = self.local.deque.len() + self.local.pinned.len();
        if n > 1 && self.local.deque.len() > 1 {
            self.wake_a_sibling();
        }
        for _ in 0..n {
            match self.local.pop_local() {
                Some(e) => run_process(&self.local, e),
                None => break,
            }
        }
        n > 0
    }

    /// Fires due timers (a batch at most per call).
    fn fire_timers(&mut self) -> bool {
        self.due_now().is_some_and(|now| self.fire_due(now))
    }

    /// Fires up to `TIMER_BATCH` timers due at `now`.
    fn fire_due(&mut self, now: u64) -> bool {
        let mut fired = false;
        for _ in 0..TIMER_BATCH {
            let action = self.local.timers.borrow_mut().pop_due(now);
            let Some(action) = action else { break };
            fired = true;
            // A cancelled or undeliverable message is dropped here; its Drop is user code.
            let _ = catch_unwind(AssertUnwindSafe(|| self.fire(action)));
        }
        fired
    }

    fn fire(&self, action: TimerAction) {
        match action {
            TimerAction::Send { from, to, priority, msg, timer } => {
                if timer.state.compare_exchange(PENDING, FIRED, AcqRel, Acquire).is_ok() {
                    // A failed delayed send has nobody to report to; Ergo drops it too.
                    if let Err(e) = self.local.node.deliver_to(from, &to, priority, Payload::Message(msg)) {
                        node_log!(self.local.node, DEBUG, "send_after to {to}: delivery failed: {e}");
                    }
                }
            }
            TimerAction::CallTimeout { entry, ref_id, after } => {
                crate::process::call::timed_out(&entry, ref_id, after);
            }
            TimerAction::Wake { waker, cancelled } => {
                if !cancelled.load(Acquire) {
                    waker.wake();
                }
            }
        }
    }
}

/// Wakes the processes whose ring requests completed; a waker is user code (a combinator's),
/// kept off the worker if it panics.
fn wake_all(wakers: &mut Vec<std::task::Waker>) {
    for w in wakers.drain(..) {
        let _ = catch_unwind(AssertUnwindSafe(|| w.wake()));
    }
}

/// Moves about half of `from`'s processes into `to`; true if any moved.
fn steal_half(from: &Stealer<Arc<ProcessEntry>>, to: &Deque<Arc<ProcessEntry>>) -> bool {
    loop {
        match from.steal_batch(to) {
            Steal::Success(()) => return true,
            Steal::Empty => return false,
            Steal::Retry => continue,
        }
    }
}

/// Polls one process once, isolating panics: a panic ends that process with a panic reason and
/// the worker goes on.
fn run_process(local: &WorkerLocal, entry: Arc<ProcessEntry>) {
    if let Err(killing) = entry.sched.begin_run_or_requeue() {
        // A killer holds it for a moment (`Node::kill`); it enqueues nothing itself when it
        // finds the process queued, so this queue entry must not be lost.
        if killing {
            schedule(entry);
        }
        return;
    }
    let shared = &*local.shared;
    if entry.home() != shared.index {
        // Taken from another worker: wake-ups come here from now on.
        entry.set_home(shared.index);
        local.node.migrations.fetch_add(1, Relaxed);
    }
    shared.poll.polls.store(shared.poll.polls.load(Relaxed).wrapping_add(1), Relaxed);
    shared.poll.polling.store(entry.pid.id, Relaxed);
    let node = &local.node;
    local.turn_deadline.set(0);
    let waker = waker_ref(&entry);
    let mut cx = std::task::Context::from_waker(&waker);
    // Two clock reads per poll cost ~25 % of a same-worker call round trip here: opt-in.
    let started = node.options.process_timing.then(Instant::now);
    // SAFETY: `begin_run` succeeded, so this thread holds the Running state until end_run/close.
    let polled = catch_unwind(AssertUnwindSafe(|| unsafe { entry.poll_task(&mut cx) }));
    if let Some(t) = started {
        Stats::add(&entry.stats.running_ns, t.elapsed().as_nanos() as u64);
    }
    shared.poll.polling.store(0, Relaxed);
    match polled {
        Ok(Poll::Pending) => {
            if entry.sched.end_run() {
                schedule(entry);
            }
        }
        Ok(Poll::Ready(())) => finish_task(node, &entry, None),
        Err(panic) => finish_task(node, &entry, Some(ExitReason::Panic(panic_message(&*panic)))),
    }
}

fn finish_task(node: &Arc<NodeInner>, entry: &Arc<ProcessEntry>, panicked: Option<ExitReason>) {
    // SAFETY: still in the Running state (no end_run happened).
    let task = unsafe { entry.take_task() };
    entry.sched.close();
    // Dropping user state may panic too; it must not take the worker with it.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(task)));
    if let Some(reason) = panicked {
        // The process future normally cleans up after itself; a panic that escaped it did not.
        // Releasing drops queued messages (user code): keep a panic there off the worker too.
        let _ = catch_unwind(AssertUnwindSafe(|| node.process_ended(entry, &reason)));
    }
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
