//! Spawning that returns `init`'s outcome (Ergo's `Spawn` does; Step 4, D80).
//!
//! `init` runs on the child's first turn, on its worker (D9); a spawner that wants its outcome
//! waits on an [`InitWait`] the child reports to. The child holds an [`InitReport`] in its
//! relations (taken on its first turn, so a process that never waits pays nothing); the report
//! is sent once, when `init` succeeds or once a failed child is gone, and dropping it unsent
//! (the child was killed, or abandoned by a stopping node, before it could run `init`) reports
//! `InitFailed(Kill)`.
//!
//! Runs on workers (process side) and on plain threads (the blocking wait); never blocks a
//! worker.

use crate::error::Error;
use crate::message::ExitReason;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// Where a child's `init` outcome lands, and who to wake.
#[derive(Default)]
pub(crate) struct InitWait {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    outcome: Option<Result<(), Error>>,
    waker: Option<Waker>,
}

impl InitWait {
    pub(crate) fn new() -> Arc<InitWait> {
        Arc::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The outcome once reported; otherwise remembers `waker`.
    pub(crate) fn poll(&self, waker: &Waker) -> Poll<Result<(), Error>> {
        let mut s = self.state();
        if let Some(outcome) = s.outcome.take() {
            return Poll::Ready(outcome);
        }
        if !s.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            s.waker = Some(waker.clone());
        }
        Poll::Pending
    }

    fn report(&self, outcome: Result<(), Error>) {
        let waker = {
            let mut s = self.state();
            if s.outcome.is_some() {
                return;
            }
            s.outcome = Some(outcome);
            s.waker.take()
        };
        // Woken outside the lock: a waker may run arbitrary code.
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The child's side: reports `init`'s outcome once.
pub(crate) struct InitReport(Option<Arc<InitWait>>);

impl InitReport {
    pub(crate) fn new(wait: Arc<InitWait>) -> InitReport {
        InitReport(Some(wait))
    }

    /// `None`: `init` succeeded; otherwise the reason the process ended with.
    pub(crate) fn send(mut self, failed: Option<&ExitReason>) {
        if let Some(w) = self.0.take() {
            w.report(match failed {
                None => Ok(()),
                Some(reason) => Err(Error::InitFailed(Box::new(reason.clone()))),
            });
        }
    }
}

impl Drop for InitReport {
    fn drop(&mut self) {
        // Dropped with the relations of a process that never ran `init`: killed (or abandoned
        // by a stopping node) before its first turn.
        if let Some(w) = self.0.take() {
            w.report(Err(Error::InitFailed(Box::new(ExitReason::Kill))));
        }
    }
}

/// Blocks a plain thread until the outcome arrives.
pub(crate) fn wait_blocking(wait: &InitWait) -> Result<(), Error> {
    let waker = crate::runtime::waker::thread_waker();
    loop {
        if let Poll::Ready(outcome) = wait.poll(&waker) {
            return outcome;
        }
        // Spurious unparks are fine: the next poll looks again.
        std::thread::park();
    }
}
