//! The blocking pool: plain threads, per node, that run the code a process must not run on its
//! worker (file and DNS calls, C libraries, a meta process's blocking loop).
//!
//! Threads start when a job finds none free, up to the cap (`ERGORS_META_THREADS`), and exit
//! after [`KEEP_ALIVE`] without work. When every thread is busy a job waits in a queue of at most
//! `ERGORS_META_QUEUE` jobs; beyond that it fails at once with [`Error::BlockingPoolFull`].
//! A job's outcome goes to its [`BlockingJob`], a future (for processes) that can also be waited
//! on from a plain thread. A panic in a job is caught and becomes that job's `Err`: the thread
//! goes on and the pool's counts stay right.
//!
//! Owns: its threads, its queue. Never: runs on a worker thread, or is joined forever (a thread
//! still in a job when the node stops is detached: [`BlockingPool::stop`]).

use crate::error::Error;
use crate::runtime::worker::{on_worker_thread, panic_message};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// How long a thread with nothing to do waits for a job before it exits.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Threads started and not yet exited.
    alive: usize,
    /// Of those, running a job now.
    busy: usize,
    stopping: bool,
}

impl State {
    /// Threads that will take a queued job without a new thread: idle, starting, or between
    /// two jobs.
    fn free(&self) -> usize {
        self.alive - self.busy
    }

    /// Jobs that wait for a thread to become free (what the queue bound counts).
    fn waiting(&self) -> usize {
        self.queue.len().saturating_sub(self.free())
    }
}

struct Shared {
    state: Mutex<State>,
    /// Idle threads wait here for a job or for the stop; `stop` waits here for busy threads.
    work: Condvar,
    done: Condvar,
    threads: usize,
    queue: usize,
    keep_alive: Duration,
    /// For thread names.
    node: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A node's pool of blocking threads.
pub(crate) struct BlockingPool {
    shared: Arc<Shared>,
}

/// The pool's counts, for node info.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BlockingCounts {
    pub(crate) alive: usize,
    pub(crate) busy: usize,
    pub(crate) queued: usize,
}

impl BlockingPool {
    /// A pool of at most `threads` threads (at least 1) and `queue` waiting jobs; no thread
    /// starts before the first job.
    pub(crate) fn new(node: &str, threads: usize, queue: usize) -> BlockingPool {
        Self::with_keep_alive(node, threads, queue, KEEP_ALIVE)
    }

    fn with_keep_alive(node: &str, threads: usize, queue: usize, keep_alive: Duration) -> BlockingPool {
        BlockingPool {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                done: Condvar::new(),
                threads: threads.max(1),
                queue,
                keep_alive,
                node: node.to_string(),
            }),
        }
    }

    /// Runs `f` on a pool thread; its outcome (or its panic's text) goes to the returned job.
    pub(crate) fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> BlockingJob<T> {
        let slot = Arc::new(Slot::default());
        let filler = Filler(slot.clone());
        let job: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .map_err(|p| Error::BlockingPanicked(panic_message(&*p)));
            filler.fill(outcome);
        });
        match self.submit(job) {
            Ok(()) => BlockingJob { slot: Some(slot), failed: None },
            Err(e) => BlockingJob { slot: None, failed: Some(e) },
        }
    }

    fn submit(&self, job: Job) -> Result<(), Error> {
        let mut st = self.shared.lock();
        if st.stopping {
            return Err(Error::NodeStopped);
        }
        let needs_thread = st.queue.len() >= st.free();
        if needs_thread && st.alive >= self.shared.threads && st.waiting() >= self.shared.queue {
            return Err(Error::BlockingPoolFull);
        }
        st.queue.push_back(job);
        if !needs_thread {
            self.shared.work.notify_one();
            return Ok(());
        }
        if st.alive < self.shared.threads {
            st.alive += 1;
            let index = st.alive;
            drop(st);
            let shared = self.shared.clone();
            let started =
                std::thread::Builder::new().name(format!("ergors-meta{index}")).spawn(move || run_thread(&shared));
            if started.is_err() {
                let mut st = self.shared.lock();
                st.alive -= 1;
                // Nobody could ever run it: take it back. With other threads alive it waits.
                if st.alive == 0 {
                    st.queue.pop_back();
                    tracing::warn!(node = %self.shared.node, "cannot start a blocking thread");
                    return Err(Error::BlockingPoolFull);
                }
            }
        }
        Ok(())
    }

    /// Threads alive, busy, and jobs waiting for one.
    pub(crate) fn counts(&self) -> BlockingCounts {
        let st = self.shared.lock();
        BlockingCounts { alive: st.alive, busy: st.busy, queued: st.waiting() }
    }

    /// Refuses new jobs, drops the queued ones (their jobs fail with `NodeStopped`), lets idle
    /// threads exit, and waits until `deadline` for the busy ones. Returns how many were still in
    /// a job then: they are detached (they exit when their job returns).
    pub(crate) fn stop(&self, deadline: Instant) -> usize {
        let mut st = self.shared.lock();
        st.stopping = true;
        // Dropping a queued job drops its slot's filler: its waiter learns the node stopped.
        let queued = std::mem::take(&mut st.queue);
        self.shared.work.notify_all();
        drop(st);
        drop(queued);
        let mut st = self.shared.lock();
        loop {
            if st.alive == 0 {
                return 0;
            }
            let now = Instant::now();
            if now >= deadline {
                return st.busy;
            }
            st = self.shared.done.wait_timeout(st, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

fn run_thread(shared: &Shared) {
    let mut st = shared.lock();
    loop {
        if let Some(job) = st.queue.pop_front() {
            st.busy += 1;
            drop(st);
            // Panics were caught inside the job.
            job();
            st = shared.lock();
            st.busy -= 1;
            continue;
        }
        if st.stopping {
            break;
        }
        let (next, waited) = shared.work.wait_timeout(st, shared.keep_alive).unwrap_or_else(|p| p.into_inner());
        st = next;
        if waited.timed_out() && st.queue.is_empty() && !st.stopping {
            break;
        }
    }
    st.alive -= 1;
    drop(st);
    shared.done.notify_all();
}

/// A job's outcome once it is known, and the waker of the process awaiting it.
type Outcome<T> = (Option<Result<T, Error>>, Option<Waker>);

/// Where a job's outcome lands.
struct Slot<T> {
    state: Mutex<Outcome<T>>,
    ready: Condvar,
    /// Set when the job ran (or was dropped unrun): no outcome will ever come after this.
    finished: std::sync::atomic::AtomicBool,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot { state: Mutex::new((None, None)), ready: Condvar::new(), finished: Default::default() }
    }
}

/// The pool's side of a job's slot. Dropped without filling it (the job was dropped unrun when
/// the pool stopped), it tells the waiter the node stopped.
struct Filler<T>(Arc<Slot<T>>);

impl<T> Filler<T> {
    fn fill(&self, outcome: Result<T, Error>) {
        self.put(Some(outcome));
    }

    fn put(&self, outcome: Option<Result<T, Error>>) {
        let slot = &self.0;
        let waker = {
            let mut st = slot.state.lock().unwrap_or_else(|p| p.into_inner());
            if slot.finished.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            st.0 = Some(outcome.unwrap_or(Err(Error::NodeStopped)));
            slot.finished.store(true, std::sync::atomic::Ordering::Release);
            st.1.take()
        };
        slot.ready.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Filler<T> {
    fn drop(&mut self) {
        self.put(None);
    }
}

/// A job on the node's blocking pool ([`Context::spawn_blocking`](crate::Context::spawn_blocking),
/// [`NodeHandle::spawn_blocking`](crate::NodeHandle::spawn_blocking)): a future of the job's
/// outcome, or [`BlockingJob::wait`] from a plain thread. Dropping it detaches the job: it runs
/// to its end and its outcome is discarded.
///
/// # Errors
/// The outcome is `Err` with [`Error::BlockingPoolFull`] (every thread busy and the queue full),
/// [`Error::BlockingPanicked`] (the job panicked; the text is the panic's message),
/// [`Error::NodeStopped`] (the node stopped before the job ran).
#[must_use = "a job's outcome is only seen by awaiting or waiting on it"]
pub struct BlockingJob<T> {
    slot: Option<Arc<Slot<T>>>,
    failed: Option<Error>,
}

impl<T> BlockingJob<T> {
    fn take(&mut self) -> Option<Result<T, Error>> {
        if let Some(e) = self.failed.take() {
            return Some(Err(e));
        }
        let slot = self.slot.as_ref()?;
        let mut st = slot.state.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = st.0.take();
        drop(st);
        if outcome.is_some() {
            self.slot = None;
        }
        outcome
    }

    /// True once the job has ended (its outcome is ready), or never started.
    pub fn is_finished(&self) -> bool {
        self.failed.is_some()
            || self.slot.as_ref().is_none_or(|s| s.finished.load(std::sync::atomic::Ordering::Acquire))
    }

    /// Blocks this plain thread until the job's outcome.
    ///
    /// # Errors
    /// As for the future; [`Error::WouldBlockWorker`] on a worker thread (await it instead).
    pub fn wait(mut self) -> Result<T, Error> {
        if on_worker_thread() {
            return Err(Error::WouldBlockWorker("BlockingJob::wait"));
        }
        if let Some(outcome) = self.take() {
            return outcome;
        }
        let Some(slot) = self.slot.take() else { return Err(Error::NodeStopped) };
        // The filler sets the outcome exactly once, even when the job is dropped unrun.
        let mut st = slot.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(outcome) = st.0.take() {
                return outcome;
            }
            st = slot.ready.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl<T> Future for BlockingJob<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        // No field is pinned: `BlockingJob` is Unpin.
        let this = self.get_mut();
        if let Some(outcome) = this.take() {
            return Poll::Ready(outcome);
        }
        let Some(slot) = &this.slot else { return Poll::Ready(Err(Error::NodeStopped)) };
        let mut st = slot.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(outcome) = st.0.take() {
            drop(st);
            this.slot = None;
            return Poll::Ready(outcome);
        }
        if st.1.as_ref().is_none_or(|w| !w.will_wake(cx.waker())) {
            st.1 = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(threads: usize, queue: usize) -> BlockingPool {
        BlockingPool::with_keep_alive("t@h", threads, queue, Duration::from_millis(50))
    }

    #[test]
    fn runs_jobs_and_reports_panics() {
        let p = pool(2, 4);
        assert_eq!(p.spawn(|| 7).wait(), Ok(7));
        let e = p.spawn(|| -> u8 { panic!("boom") }).wait();
        assert_eq!(e, Err(Error::BlockingPanicked("boom".into())));
        assert_eq!(p.spawn(|| 8).wait(), Ok(8));
        assert_eq!(p.stop(Instant::now() + Duration::from_secs(5)), 0);
    }

    #[test]
    fn idle_threads_exit_after_keep_alive() {
        let p = pool(2, 0);
        assert_eq!(p.spawn(|| 1).wait(), Ok(1));
        let deadline = Instant::now() + Duration::from_secs(20);
        while p.counts().alive > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(p.counts().alive, 0);
        assert_eq!(p.spawn(|| 2).wait(), Ok(2));
    }

    #[test]
    fn stop_detaches_a_busy_thread_and_fails_queued_jobs() {
        let p = pool(1, 1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let stuck = p.spawn(move || {
            let _ = started_tx.send(());
            let _ = rx.recv();
        });
        started_rx.recv().unwrap();
        let queued = p.spawn(|| 1);
        assert_eq!(p.stop(Instant::now() + Duration::from_millis(20)), 1);
        assert_eq!(queued.wait(), Err(Error::NodeStopped));
        assert!(matches!(p.spawn(|| 1).wait(), Err(Error::NodeStopped)));
        drop(tx);
        assert_eq!(stuck.wait(), Ok(()));
    }
}
