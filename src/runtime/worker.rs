//! A worker: one OS thread, optionally pinned, owning one io_uring ring, a local run queue and a
//! timer map. It runs processes, drains its injector (processes woken by other threads), fires
//! timers, spins briefly when idle, then parks in its ring until an eventfd write or a timer.
//!
//! Runs user futures; never blocks except in `io_uring_enter` when there is nothing to do.

use crate::message::{ExitReason, Payload};
use crate::node::NodeInner;
use crate::process::entry::{ProcessEntry, Stats};
use crate::runtime::park::ParkFlag;
use crate::runtime::timer::{FIRED, PENDING, TimerAction, Timers};
use crate::runtime::waker::waker_ref;
use crate::sys::clock;
use crate::sys::ring::{Ring, Waker};
use crossbeam_queue::SegQueue;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

/// The part of a worker other threads see.
pub(crate) struct WorkerShared {
    pub(crate) index: usize,
    injector: SegQueue<Arc<ProcessEntry>>,
    /// Set by the worker just before it parks; a remote scheduler that sees it writes the eventfd.
    parked: ParkFlag,
    shutdown: AtomicBool,
    waker: OnceLock<Arc<Waker>>,
}

impl WorkerShared {
    pub(crate) fn new(index: usize) -> Self {
        WorkerShared {
            index,
            injector: SegQueue::new(),
            parked: ParkFlag::new(),
            shutdown: AtomicBool::new(false),
            waker: OnceLock::new(),
        }
    }

    /// Queues a process from another thread and wakes the worker if it is parked (the handshake
    /// of `runtime::park`).
    fn push_remote(&self, entry: Arc<ProcessEntry>) {
        self.injector.push(entry);
        if self.parked.should_wake() {
            self.wake();
        }
    }

    fn wake(&self) {
        if let Some(w) = self.waker.get() {
            w.wake();
        }
    }

    pub(crate) fn request_shutdown(&self) {
        self.shutdown.store(true, Release);
        self.wake();
    }
}

/// The worker-thread-only state, reachable through the thread-local `CURRENT`.
/// The longest a worker sleeps in one `io_uring_enter` when a timer is pending.
const MAX_PARK: Duration = Duration::from_secs(3600);

pub(crate) struct WorkerLocal {
    pub(crate) shared: Arc<WorkerShared>,
    pub(crate) node: Arc<NodeInner>,
    run_queue: RefCell<VecDeque<Arc<ProcessEntry>>>,
    pub(crate) timers: RefCell<Timers>,
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

/// True when the calling thread is `entry`'s home worker.
pub(crate) fn on_home_worker(entry: &ProcessEntry) -> bool {
    with_current(|w| w.is_some_and(|w| Arc::ptr_eq(&w.shared, &entry.worker)))
}

/// Queues a process that won its Idle → Scheduled transition: locally if we are its home worker,
/// otherwise through its worker's injector.
pub(crate) fn schedule(entry: Arc<ProcessEntry>) {
    with_current(|w| match w {
        Some(w) if Arc::ptr_eq(&w.shared, &entry.worker) => w.run_queue.borrow_mut().push_back(entry),
        _ => {
            let worker = entry.worker.clone();
            worker.push_remote(entry);
        }
    })
}

pub(crate) struct Worker {
    /// Shared (never `&mut`) so the thread-local pointer to it never aliases a unique borrow;
    /// its mutable parts are `RefCell`s.
    local: std::rc::Rc<WorkerLocal>,
    ring: Ring,
}

impl Worker {
    /// Builds the worker on its own thread (the ring must be created there).
    pub(crate) fn new(shared: Arc<WorkerShared>, node: Arc<NodeInner>) -> Result<Worker, crate::StartError> {
        let ring = Ring::new(node.options.ring_entries)?;
        let _ = shared.waker.set(ring.waker());
        node_log!(node, DEBUG, "worker {} ring ready ({:?})", shared.index, ring.features);
        Ok(Worker {
            local: std::rc::Rc::new(WorkerLocal {
                shared,
                node,
                run_queue: RefCell::new(VecDeque::with_capacity(256)),
                timers: RefCell::new(Timers::default()),
            }),
            ring,
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
        // Anything still queued belongs to processes that ended with the node. Dropping user
        // state may panic; the worker is exiting anyway, but must exit cleanly.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            self.local.run_queue.borrow_mut().clear();
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
            if did_work {
                continue;
            }
            if self.local.shared.shutdown.load(Acquire) {
                return;
            }
            // Idle: spin for a while (parking costs tens of µs on VMs), then park.
            if !spin.is_zero() {
                let until = Instant::now() + spin;
                while self.local.shared.injector.is_empty() && Instant::now() < until && self.due_now().is_none() {
                    std::hint::spin_loop();
                }
                if !self.local.shared.injector.is_empty() || self.due_now().is_some() {
                    continue;
                }
            }
            self.park();
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
        self.ring.park(timeout);
        shared.parked.clear();
    }

    /// Moves processes woken by other threads to the local queue.
    fn drain_injector(&mut self) -> bool {
        let mut moved = false;
        let mut rq = self.local.run_queue.borrow_mut();
        for _ in 0..1024 {
            match self.local.shared.injector.pop() {
                Some(e) => {
                    rq.push_back(e);
                    moved = true;
                }
                None => break,
            }
        }
        moved
    }

    /// Runs the processes queued now (not those they queue), so the injector and timers get
    /// their turn between rounds.
    fn run_ready(&mut self) -> bool {
        let n = self.local.run_queue.borrow().len();
        for _ in 0..n {
            let next = self.local.run_queue.borrow_mut().pop_front();
            match next {
                Some(e) => run_process(&self.local.node, e),
                None => break,
            }
        }
        n > 0
    }

    /// Fires due timers.
    fn fire_timers(&mut self) -> bool {
        self.due_now().is_some_and(|now| self.fire_due(now))
    }

    /// Fires the timers due at `now`.
    fn fire_due(&mut self, now: u64) -> bool {
        let mut fired = false;
        loop {
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
            TimerAction::Send { from, to, priority, msg, state } => {
                if state.compare_exchange(PENDING, FIRED, AcqRel, Acquire).is_ok() {
                    // A failed delayed send has nobody to report to; Ergo drops it too.
                    if let Err(e) = self.local.node.deliver(from, &to, priority, Payload::Message(msg)) {
                        node_log!(self.local.node, DEBUG, "send_after to {to}: delivery failed: {e}");
                    }
                }
            }
            TimerAction::CallTimeout { entry, ref_id, after } => {
                crate::process::call::timed_out(&entry, ref_id, after);
            }
        }
    }
}

/// Polls one process once, isolating panics: a panic ends that process with a panic reason and
/// the worker goes on.
fn run_process(node: &Arc<NodeInner>, entry: Arc<ProcessEntry>) {
    if !entry.sched.begin_run() {
        // A killer holds it for a moment (`Node::kill`); it enqueues nothing itself when it
        // finds the process queued, so this queue entry must not be lost.
        if entry.sched.is_killing() {
            schedule(entry);
        }
        return;
    }
    let waker = waker_ref(&entry);
    let mut cx = std::task::Context::from_waker(&waker);
    // Two clock reads per poll cost ~25 % of a same-worker call round trip here: opt-in.
    let started = node.options.process_timing.then(Instant::now);
    // SAFETY: `begin_run` succeeded, so this thread holds the Running state until end_run/close.
    let polled = catch_unwind(AssertUnwindSafe(|| unsafe { entry.poll_task(&mut cx) }));
    if let Some(t) = started {
        Stats::add(&entry.stats.running_ns, t.elapsed().as_nanos() as u64);
    }
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
