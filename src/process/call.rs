//! The call protocol: a request goes out, one outcome comes back.
//!
//! Owns the caller's reply slot ([`CallSlot`]), the wait for the outcome ([`PendingCall`]), the
//! ways an outcome arrives (a reply through [`NodeInner::respond`], the timeout timer, the node's
//! stop, the callee's death), the callee side's duty to answer (the request a handler holds,
//! forwarding, failing a request nobody will answer) and calls from plain threads.
//!
//! The SeqCst pair that closes the race between a request and its callee's death stays in
//! `node/routing.rs` (`NodeInner::push`) and `node/exit.rs` (`process_ended`), beside the
//! accesses it orders (D21); it calls into this module to answer.
//!
//! Runs on workers (process side) and on plain threads (external calls); never blocks a worker.
//!
//! Rules (D10, D30–D32):
//! - A process has one call in flight: `Context::call` borrows the context until its future
//!   ends, so a second one cannot be started (Ergo's WaitResponse).
//! - The first outcome for a ref wins; anything later for it (a late reply, a second
//!   `Terminated`) is discarded, never delivered as a message.
//! - The outcome wakes the waker the call's future was last polled with, not the process as a
//!   whole: a call awaited inside a combinator (`join`, `select`, `FuturesUnordered`) completes.

use crate::error::Error;
use crate::message::{Envelope, From, Message, Payload, Pid, Priority, To};
use crate::node::NodeInner;
use crate::process::entry::ProcessEntry;
use crate::runtime::timer::{TimerAction, TimerKey, TimerOwner};
use crate::runtime::worker::{on_worker_thread, with_current};
use crate::sys::clock;
use std::sync::Arc;
use std::sync::mpsc::sync_channel;
use std::task::{Poll, Waker};
use std::time::Duration;

/// Where a pending `call` waits for its outcome (one per process: one call in flight).
pub(crate) enum CallSlot {
    Idle,
    /// Waiting for the outcome of the request with this ref id, and who to wake.
    Waiting(u64, Waiter),
    /// The outcome arrived (a reply, or a timeout / termination / stop error).
    Done(u64, Result<Message, Error>),
}

/// Who a call's outcome wakes.
pub(crate) enum Waiter {
    /// The call's future has not been polled yet (it finds the outcome when it is).
    Unpolled,
    /// The process's own task waker (the usual case: the call is awaited directly in a
    /// callback): the outcome notifies the process, with no waker stored or cloned.
    Own,
    /// Another waker (the call is awaited inside a combinator).
    Other(Waker),
}

impl CallSlot {
    pub(crate) fn is_waiting(&self) -> bool {
        matches!(self, CallSlot::Waiting(..))
    }
}

fn lock(entry: &ProcessEntry) -> std::sync::MutexGuard<'_, CallSlot> {
    entry.call.lock().unwrap_or_else(|p| p.into_inner())
}

/// Completes the pending call of `entry` with `outcome` if `matches` accepts its ref, and wakes
/// the waiting future. False when no such call waits (the outcome is then dropped).
fn complete_if(entry: &Arc<ProcessEntry>, matches: impl FnOnce(u64) -> bool, outcome: Result<Message, Error>) -> bool {
    let waiter = {
        let mut slot = lock(entry);
        match &mut *slot {
            CallSlot::Waiting(id, waiter) if matches(*id) => {
                let waiter = std::mem::replace(waiter, Waiter::Unpolled);
                *slot = CallSlot::Done(*id, outcome);
                entry.call_done.store(true, std::sync::atomic::Ordering::Release);
                waiter
            }
            _ => return false,
        }
    };
    // Woken outside the lock: a waker may run arbitrary code (a combinator's).
    match waiter {
        Waiter::Unpolled => {}
        Waiter::Own => crate::runtime::waker::notify(entry),
        Waiter::Other(w) => w.wake(),
    }
    true
}

impl ProcessEntry {
    /// Completes the pending call `ref_id` with `outcome`; false if no call with that ref waits
    /// (a late or foreign reply, which is then discarded).
    pub(crate) fn complete_call(self: &Arc<Self>, ref_id: u64, outcome: Result<Message, Error>) -> bool {
        complete_if(self, |id| id == ref_id, outcome)
    }

    /// True while the call `ref_id` waits for its outcome.
    pub(crate) fn call_waits_for(&self, ref_id: u64) -> bool {
        matches!(*lock(self), CallSlot::Waiting(id, _) if id == ref_id)
    }

    /// Completes whatever call is pending with `error` (the node is stopping); true if one was.
    pub(crate) fn fail_pending_call(self: &Arc<Self>, error: Error) -> bool {
        complete_if(self, |_| true, Err(error))
    }
}

/// A call's timeout timer fired (on the caller's worker).
pub(crate) fn timed_out(entry: &Arc<ProcessEntry>, ref_id: u64, after: Duration) {
    entry.complete_call(ref_id, Err(Error::Timeout(after)));
}

/// The timeout a call uses: `Duration::ZERO` means the default, as a timeout ≤ 0 does in Ergo's
/// `CallWithTimeout` (D33).
pub(crate) fn effective_timeout(node: &NodeInner, timeout: Duration) -> Duration {
    if timeout.is_zero() { node.options.call_timeout } else { timeout }
}

/// A call in flight: where its outcome will land. Dropping it (the call ended, or its future was
/// dropped) clears the call slot and the timeout timer.
pub(crate) struct PendingCall {
    entry: Arc<ProcessEntry>,
    ref_id: u64,
    /// The timeout's key and the timer map (worker) that holds it.
    timer: Option<(TimerKey, Arc<TimerOwner>)>,
}

impl PendingCall {
    /// Claims the caller's slot for request `ref_id` (before the request leaves, so that no
    /// outcome can arrive before the slot waits for it).
    pub(crate) fn begin(entry: &Arc<ProcessEntry>, ref_id: u64) -> PendingCall {
        entry.call_done.store(false, std::sync::atomic::Ordering::Relaxed);
        *lock(entry) = CallSlot::Waiting(ref_id, Waiter::Unpolled);
        PendingCall { entry: entry.clone(), ref_id, timer: None }
    }

    /// Arms the timeout on the current worker (a process always runs on one).
    pub(crate) fn arm_timeout(&mut self, timeout: Duration) {
        let entry = self.entry.clone();
        let ref_id = self.ref_id;
        self.timer = with_current(|w| {
            w.map(|w| {
                let action = TimerAction::CallTimeout { entry, ref_id, after: timeout };
                let mut timers = w.timers.borrow_mut();
                (timers.add(clock::deadline_ns(timeout), action), timers.owner())
            })
        });
    }

    /// As [`PendingCall::poll_outcome`]; with `spin` (the first poll), when the worker has
    /// nothing else to do, first polls the slot for a moment: a reply from another worker then
    /// lands while this process still runs, without a wake-up through the run queues.
    pub(crate) fn poll_outcome_or_spin(&self, waker: &Waker, spin: bool) -> Poll<Result<Message, Error>> {
        if spin && with_current(|w| w.is_some_and(|w| w.may_spin())) {
            // A read-only look per round: the outcome's line moves here once, when it lands.
            for i in 0..crate::runtime::worker::WAIT_SPIN {
                std::hint::spin_loop();
                if self.entry.call_done.load(std::sync::atomic::Ordering::Acquire) {
                    break;
                }
                // A process woken onto this worker meanwhile goes first (D101).
                if i % 8 == 7 && with_current(|w| w.is_some_and(|w| w.others_waiting())) {
                    break;
                }
            }
        }
        self.poll_outcome(waker)
    }

    /// The outcome if it has arrived; otherwise remembers `waker` to be woken when it does.
    pub(crate) fn poll_outcome(&self, waker: &Waker) -> Poll<Result<Message, Error>> {
        let mut slot = lock(&self.entry);
        match std::mem::replace(&mut *slot, CallSlot::Idle) {
            CallSlot::Done(id, outcome) if id == self.ref_id => Poll::Ready(outcome),
            CallSlot::Waiting(id, waiter) if id == self.ref_id => {
                // The process's own waker is the usual one: no clone, no stored waker.
                let waiter = if waker.will_wake(&crate::runtime::waker::waker_ref(&self.entry)) {
                    Waiter::Own
                } else {
                    match waiter {
                        Waiter::Other(w) if w.will_wake(waker) => Waiter::Other(w),
                        _ => Waiter::Other(waker.clone()),
                    }
                };
                *slot = CallSlot::Waiting(id, waiter);
                Poll::Pending
            }
            other => {
                // Not ours (cannot happen while we hold the only call of this process); leave it.
                *slot = other;
                Poll::Pending
            }
        }
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        let mut slot = lock(&self.entry);
        let ours = match &*slot {
            CallSlot::Waiting(id, _) | CallSlot::Done(id, _) => *id == self.ref_id,
            CallSlot::Idle => false,
        };
        if ours {
            *slot = CallSlot::Idle;
        }
        drop(slot);
        if let Some((key, owner)) = self.timer.take() {
            // The process may have moved to another worker since it armed the timeout: remove it
            // only from the map that holds it; otherwise count it, and that worker's next purge
            // drops it (the call no longer waits for it).
            let removed = with_current(|w| {
                w.is_some_and(|w| {
                    let mut timers = w.timers.borrow_mut();
                    Arc::ptr_eq(&timers.owner(), &owner) && timers.remove(&key).is_some()
                })
            });
            if !removed {
                owner.count_cancel();
            }
        }
    }
}

/// The request a `handle_call` is running for, held across the handler (D20, D31).
///
/// The handler's normal end forgets the guard; it is dropped only when the handler unwinds (the
/// process is ending with a panic) or is abandoned (a kill or, for a meta, an exit signal while
/// it was suspended: D111, D116). Either way the caller is told at once that no reply will come.
/// Even a request handed on before is failed (the guard cannot see the context); the first
/// outcome wins, so a reply from the new holder is then discarded.
pub(crate) struct HeldRequest {
    pub(crate) from: From,
}

impl Drop for HeldRequest {
    fn drop(&mut self) {
        // Processes run on workers; the worker knows the node.
        with_current(|w| {
            if let Some(w) = w {
                w.node.fail_request(self.from);
            }
        });
    }
}

impl NodeInner {
    /// Routes an outcome to whoever made the request: a waiting process or an embedding thread.
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`] if the calling process is gone.
    pub(crate) fn respond(&self, to: From, outcome: Result<Message, Error>) -> Result<(), Error> {
        self.respond_from(self.core_pid(), to, outcome)
    }

    /// As [`NodeInner::respond`], naming the responder (a remote caller's frame carries it).
    pub(crate) fn respond_from(&self, responder: Pid, to: From, outcome: Result<Message, Error>) -> Result<(), Error> {
        if to.pid.node != self.name {
            return self.respond_remote(responder, to, outcome);
        }
        if to.pid == self.core_pid() {
            let waiter = self.external_calls.lock().unwrap_or_else(|p| p.into_inner()).remove(&to.local_id());
            if let Some(tx) = waiter {
                let _ = tx.try_send(outcome);
            }
            return Ok(());
        }
        let caller = self.table.get(&to.pid).ok_or(Error::ProcessUnknown)?;
        caller.complete_call(to.local_id(), outcome);
        Ok(())
    }

    /// Tells a caller that its request will never be answered (its holder is ending).
    pub(crate) fn fail_request(&self, to: From) {
        let _ = self.respond(to, Err(Error::Terminated));
    }

    /// Fails a request found in a dying process's mailbox (nobody ever held it).
    /// Hands a request on to `to`, which handles it as a call from the original caller and
    /// replies to it directly.
    ///
    /// # Errors
    /// [`Error::NotAllowed`] towards the caller itself, and as for a send.
    pub(crate) fn forward_request(
        &self,
        from: From,
        to: &To,
        priority: Priority,
        request: Message,
    ) -> Result<(), Error> {
        let target = self.resolve(to)?;
        if target.pid == from.pid {
            return Err(Error::NotAllowed("a request cannot be forwarded to its caller"));
        }
        let envelope = Envelope { from: from.pid, payload: Payload::request(&from, request) };
        let envelope = NodeInner::addressed(to, &target, envelope);
        self.push(&target, priority, envelope)
    }

    /// As `forward_request`, to a process already looked up (the pool keeps its workers').
    pub(crate) fn forward_request_to(
        &self,
        from: From,
        target: &Arc<ProcessEntry>,
        priority: Priority,
        request: Message,
    ) -> Result<(), Error> {
        if target.pid == from.pid {
            return Err(Error::NotAllowed("a request cannot be forwarded to its caller"));
        }
        let envelope = Envelope { from: from.pid, payload: Payload::request(&from, request) };
        self.push(target, priority, envelope)
    }

    /// A call from a plain thread: blocks it until the outcome or `timeout` (D11).
    ///
    /// # Errors
    /// As `Context::call`, plus [`Error::WouldBlockWorker`] on a worker thread and
    /// [`Error::NodeStopped`] once the node is stopping.
    pub(crate) fn call_external(&self, to: To, request: Message, timeout: Duration) -> Result<Message, Error> {
        let timeout = effective_timeout(self, timeout);
        self.wait_external("call", timeout, |from| {
            let envelope = Envelope { from: from.pid, payload: Payload::Request(from.ref_id[0], request) };
            match self.remote_node(&to) {
                Some(node) => self.push_remote(node, &to, Priority::Main, envelope),
                None => {
                    let target = self.resolve(&to)?;
                    self.push(&target, Priority::Main, NodeInner::addressed(&to, &target, envelope))
                }
            }
        })
    }

    /// Blocks a plain thread until the outcome that `start` arranges for the node's embedding
    /// pseudo-process (a request from the `From` it is given) arrives, or `timeout` (D11).
    /// `what` names the operation in the error a worker thread gets.
    ///
    /// # Errors
    /// What `start` returns; [`Error::Timeout`]; [`Error::WouldBlockWorker`] on a worker thread;
    /// [`Error::NodeStopped`] once the node is stopping.
    pub(crate) fn wait_external(
        &self,
        what: &'static str,
        timeout: Duration,
        start: impl FnOnce(From) -> Result<(), Error>,
    ) -> Result<Message, Error> {
        if on_worker_thread() {
            return Err(Error::WouldBlockWorker(what));
        }
        self.check_running()?;
        let n = self.make_ref().local_id();
        let (tx, rx) = sync_channel(1);
        self.external_calls.lock().unwrap_or_else(|p| p.into_inner()).insert(n, tx);
        let forget = || self.external_calls.lock().unwrap_or_else(|p| p.into_inner()).remove(&n);
        if let Err(e) = start(From { pid: self.core_pid(), ref_id: [n, 0, 0] }) {
            forget();
            return Err(e);
        }
        match rx.recv_timeout(timeout) {
            Ok(outcome) => outcome,
            Err(_) => {
                // A reply racing the timeout finds no waiter and is dropped.
                forget();
                self.check_running()?;
                Err(Error::Timeout(timeout))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn an_outcome_wakes_the_waker_the_call_was_polled_with_once() {
        let pid = Pid::from_parts(crate::Atom::new("call@test"), 1, 1, 1);
        let workers = crate::runtime::worker::Workers::one();
        let entry = Arc::new(ProcessEntry::new(crate::process::entry::EntryInit::standalone(pid, workers)));
        let pending = PendingCall::begin(&entry, 7);
        let first = Arc::new(Count(AtomicUsize::new(0)));
        let second = Arc::new(Count(AtomicUsize::new(0)));
        assert!(pending.poll_outcome(&Waker::from(first.clone())).is_pending());
        // Polled again from elsewhere (a combinator moved it): the new waker replaces the old.
        assert!(pending.poll_outcome(&Waker::from(second.clone())).is_pending());
        assert!(!entry.complete_call(8, Ok(Message::new(1u8))), "a foreign ref is discarded");
        assert!(entry.complete_call(7, Ok(Message::new(2u8))));
        assert!(!entry.complete_call(7, Err(Error::Terminated)), "the first outcome wins");
        assert_eq!((first.0.load(SeqCst), second.0.load(SeqCst)), (0, 1));
        match pending.poll_outcome(&Waker::from(second.clone())) {
            Poll::Ready(Ok(m)) => assert_eq!(m.downcast::<u8>().ok(), Some(2)),
            _ => panic!("the reply is ready"),
        }
        entry.mark_dead();
    }
}
