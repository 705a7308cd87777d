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
/// Dropping it (the hold ended, or the process did) takes back its registration and its timer.
pub(crate) struct Hold {
    pub(crate) target: Arc<ProcessEntry>,
    pub(crate) priority: Priority,
    /// When the hold began (monotonic ns); 0 while only noted (the callback still runs).
    pub(crate) since: u64,
    /// When the hold ends even if the queue does not drain.
    pub(crate) deadline: u64,
    pub(crate) timer: Option<WakeTimer>,
    /// The waker registered with the target's queue.
    pub(crate) registered: Option<Waker>,
}

impl Hold {
    /// A send in the running callback found `target`'s queue at `priority` over its limit.
    pub(crate) fn noted(target: Arc<ProcessEntry>, priority: Priority) -> Hold {
        Hold { target, priority, since: 0, deadline: 0, timer: None, registered: None }
    }

    /// The process holding this one back, once the hold has begun.
    pub(crate) fn held_by(&self) -> Option<crate::message::Pid> {
        (self.since != 0).then_some(self.target.pid)
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(w) = self.registered.take() {
            self.target.mailbox.forget_waiter(self.priority, &w);
        }
    }
}

/// The longest chain of waiting processes `block_closes_cycle` follows.
const MAX_CHAIN: usize = 64;

/// Records that `me` waits for room in `target`'s queue (a hold, or a `send_wait`), then
/// follows who waits for whom from `target`: true when the chain comes back to `me`, so that
/// waiting would close a cycle of processes each waiting for the next, which nobody could
/// drain (D70). The caller then does not wait, and calls [`unblock`].
///
/// Publishing before looking is what makes two processes that start waiting on each other at
/// the same moment see each other: each one's record and look are under the relations locks,
/// so the later of the two looks sees the earlier's record (at least one of them goes on).
pub(crate) fn block_closes_cycle(me: &ProcessEntry, target: &Arc<ProcessEntry>) -> bool {
    if me.with_rel(|r| r.blocked_on = Some(target.clone())).is_none() {
        return true;
    }
    let mut next = target.clone();
    for _ in 0..MAX_CHAIN {
        if std::ptr::eq(&*next, me) {
            return true;
        }
        match next.with_existing_rel(|r| r.blocked_on.clone()).flatten() {
            Some(n) => next = n,
            None => return false,
        }
    }
    // A chain this long is treated as a cycle: at worst one producer goes on unthrottled.
    true
}

/// Registers `waker` to be woken when `target`'s queue at `priority` is down to its low-water
/// mark and, when the registration is fresh, notifies the target's process: the consumer then
/// runs at least once more and sees the waiter (the wake protocol's half on the waiter's side:
/// D70). False when there is room already (nothing is registered).
pub(crate) fn register_for_room(target: &Arc<ProcessEntry>, priority: Priority, waker: &Waker) -> bool {
    match target.mailbox.wait_for_room(priority, waker) {
        Room::Now => false,
        Room::Later { fresh } => {
            if fresh {
                notify(target);
            }
            true
        }
    }
}

/// `me` no longer waits for room anywhere.
pub(crate) fn unblock(me: &ProcessEntry) {
    me.with_existing_rel(|r| r.blocked_on = None);
}

/// One message waiting for room in one target's queue.
pub(crate) struct WaitRoom {
    /// The sending process (`None` from a plain thread): a wait ends when it is killed, and
    /// its waits take part in cycle detection.
    sender: Option<Arc<ProcessEntry>>,
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
        sender: Option<Arc<ProcessEntry>>,
        target: Arc<ProcessEntry>,
        priority: Priority,
        envelope: Envelope,
        timeout: Option<Duration>,
    ) -> Self {
        let deadline = timeout.map_or(u64::MAX, clock::deadline_ns);
        let timeout = timeout.unwrap_or(Duration::MAX);
        WaitRoom {
            sender,
            target,
            priority,
            envelope: Some(envelope),
            deadline,
            timeout,
            timer: None,
            registered: None,
        }
    }

    /// Pushes the message if there is room; otherwise waits (registered with the queue, and
    /// with a timer when there is a deadline and we are on a worker).
    pub(crate) fn poll(&mut self, node: &NodeInner, waker: &Waker) -> Poll<Result<(), Error>> {
        let outcome = self.poll_inner(node, waker);
        if outcome.is_ready() {
            self.done();
        }
        outcome
    }

    fn poll_inner(&mut self, node: &NodeInner, waker: &Waker) -> Poll<Result<(), Error>> {
        if self.sender.as_ref().is_some_and(|s| !s.is_alive()) {
            // Killed while waiting (D34): it waits no more, and sends nothing.
            return Poll::Ready(Err(Error::Terminated));
        }
        // Woken by the consumer (our waker taken): our turn, whatever the length now.
        let woken = self.registered.as_ref().is_some_and(|w| !self.target.mailbox.is_waiting(self.priority, w));
        if woken {
            self.registered = None;
        }
        // A queue whose length bounces at its limit could send us round more than once; each
        // round either pushes, fails, or registers.
        loop {
            if !self.target.is_alive() {
                return Poll::Ready(Err(Error::ProcessUnknown));
            }
            if woken || self.target.mailbox.has_room(self.priority) {
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
            if let Some(sender) = &self.sender
                && block_closes_cycle(sender, &self.target)
            {
                // The target waits (through others, perhaps) for room with us: waiting would
                // never end. Over a high-water mark, send anyway; a full mailbox refuses.
                let Some(envelope) = self.envelope.take() else { return Poll::Ready(Ok(())) };
                return Poll::Ready(match node.push_or_return(&self.target, self.priority, envelope)? {
                    None => Ok(()),
                    Some(_) => Err(Error::MailboxFull),
                });
            }
            if !register_for_room(&self.target, self.priority, waker) {
                continue;
            }
            self.registered = Some(waker.clone());
            if self.timer.is_none() && self.deadline != u64::MAX {
                self.timer = WakeTimer::arm(self.deadline, waker);
            }
            return Poll::Pending;
        }
    }

    /// The wait is over: take back the registration, the timer and the blocked mark.
    fn done(&mut self) {
        if let Some(w) = self.registered.take() {
            self.target.mailbox.forget_waiter(self.priority, &w);
        }
        self.timer = None;
        if let Some(s) = &self.sender {
            unblock(s);
        }
    }
}

impl Drop for WaitRoom {
    fn drop(&mut self) {
        self.done();
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
        let waker = crate::runtime::waker::thread_waker();
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
