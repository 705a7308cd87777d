//! Waiting for room in a mailbox: `Context::send_wait` (suspends the sending process) and
//! `NodeHandle::send_wait` (blocks a plain thread, with a timeout). Step 3b, D72.
//!
//! A wait is a [`WaitRoom`] polled with the waiter's `Waker`: it pushes the message as soon as
//! the target's queue is below its limit (its capacity or its high-water mark, whichever is
//! lower), and otherwise registers with the queue, which wakes it once it is down to half the
//! limit. Never blocks a worker: the blocking variant refuses to run on one.

use crate::error::Error;
use crate::mailbox::mpsc::Room;
use crate::message::{Envelope, Priority};
use crate::node::NodeInner;
use crate::process::entry::ProcessEntry;
use crate::runtime::timer::WakeTimer;
use crate::runtime::waker::notify;
use crate::sys::clock;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// A producer held back by a long queue it sent to (D70), kept in its relations between polls.
pub(crate) struct Hold {
    pub(crate) target: Arc<ProcessEntry>,
    pub(crate) priority: Priority,
    /// When the hold began (monotonic ns); 0 while only noted (the callback still runs).
    pub(crate) since: u64,
    /// When the hold ends even if the queue does not drain.
    pub(crate) deadline: u64,
    pub(crate) timer: Option<WakeTimer>,
}

impl Hold {
    /// A send in the running callback found `target`'s queue at `priority` over its limit.
    pub(crate) fn noted(target: Arc<ProcessEntry>, priority: Priority) -> Hold {
        Hold { target, priority, since: 0, deadline: 0, timer: None }
    }

    /// The process holding this one back, once the hold has begun.
    pub(crate) fn held_by(&self) -> Option<crate::message::Pid> {
        (self.since != 0).then_some(self.target.pid)
    }
}

/// One message waiting for room in one target's queue.
pub(crate) struct WaitRoom {
    target: Arc<ProcessEntry>,
    priority: Priority,
    envelope: Option<Envelope>,
    /// Monotonic ns after which the wait fails with `Timeout`; `u64::MAX` = none.
    deadline: u64,
    /// The timeout the deadline came from (for the error).
    timeout: Duration,
    timer: Option<WakeTimer>,
    /// The waker registered with the target's queue, to take back when done.
    registered: Option<Waker>,
}

impl WaitRoom {
    /// A wait that gives up after `timeout` (`None`: never).
    pub(crate) fn new(
        target: Arc<ProcessEntry>,
        priority: Priority,
        envelope: Envelope,
        timeout: Option<Duration>,
    ) -> Self {
        let deadline = timeout.map_or(u64::MAX, clock::deadline_ns);
        let timeout = timeout.unwrap_or(Duration::MAX);
        WaitRoom { target, priority, envelope: Some(envelope), deadline, timeout, timer: None, registered: None }
    }

    /// Pushes the message if there is room; otherwise waits (registered with the queue, and
    /// with a timer when there is a deadline and we are on a worker).
    pub(crate) fn poll(&mut self, node: &NodeInner, waker: &Waker) -> Poll<Result<(), Error>> {
        // A queue whose length bounces at its limit could send us round more than once; each
        // round either pushes, fails, or registers.
        loop {
            if !self.target.is_alive() {
                return Poll::Ready(Err(Error::ProcessUnknown));
            }
            if self.target.mailbox.has_room(self.priority) {
                let Some(envelope) = self.envelope.take() else { return Poll::Ready(Ok(())) };
                match node.push_or_return(&self.target, self.priority, envelope) {
                    Ok(None) => return Poll::Ready(Ok(())),
                    // A bounded queue filled up between our look and our push.
                    Ok(Some(back)) => self.envelope = Some(back),
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            if clock::now_ns() >= self.deadline {
                return Poll::Ready(Err(Error::Timeout(self.timeout)));
            }
            match self.target.mailbox.wait_for_room(self.priority, waker) {
                Room::Now => continue,
                Room::Later { fresh } => {
                    self.registered = Some(waker.clone());
                    if fresh {
                        // The consumer runs at least once more and sees that we wait.
                        notify(&self.target);
                    }
                    if self.timer.is_none() && self.deadline != u64::MAX {
                        self.timer = WakeTimer::arm(self.deadline, waker);
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for WaitRoom {
    fn drop(&mut self) {
        if let Some(w) = self.registered.take() {
            self.target.mailbox.forget_waiter(self.priority, &w);
        }
        if let Some(t) = self.timer.take() {
            t.disarm();
        }
    }
}

/// A waker that unparks a plain thread.
struct ThreadWaker(std::thread::Thread);

impl std::task::Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl NodeInner {
    /// For `send_wait`: queues a message unless its level is full, handing it back then
    /// (`Ok(Some(envelope))`).
    pub(crate) fn push_or_return(
        &self,
        target: &Arc<ProcessEntry>,
        priority: Priority,
        envelope: Envelope,
    ) -> Result<Option<Envelope>, Error> {
        if !target.is_alive() {
            return Err(Error::ProcessUnknown);
        }
        match target.mailbox.push(priority, envelope, false, false) {
            Ok(_) => {
                notify(target);
                Ok(None)
            }
            Err(crate::mailbox::Full(e)) => Ok(Some(e)),
        }
    }

    /// The blocking wait of a plain thread (`NodeHandle::send_wait`).
    pub(crate) fn send_wait_blocking(&self, mut wait: WaitRoom) -> Result<(), Error> {
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        loop {
            if let Poll::Ready(r) = wait.poll(self, &waker) {
                return r;
            }
            let left = wait.deadline.saturating_sub(clock::now_ns());
            // Spurious unparks are fine: the next poll looks again.
            std::thread::park_timeout(Duration::from_nanos(left));
            self.check_running()?;
        }
    }
}
