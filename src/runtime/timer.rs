//! Per-worker timers: `send_after` and call timeouts.
//!
//! An ordered map keyed by (deadline, sequence) so that the earliest deadline is the ring's park
//! timeout and a timer owned by the same worker (a call's timeout, a cancelled `send_after`) is
//! removed in O(log n) when it is no longer needed. Deadlines are nanoseconds of the monotonic
//! clock (`sys::clock`). The map runs on its worker only and never blocks; a `send_after`
//! cancelled from another thread is counted, and the worker purges cancelled entries once they
//! are more than half of its map (docs/decisions.md D25).

use crate::message::{Message, Pid, Priority, To};
use crate::process::entry::ProcessEntry;
use crate::runtime::worker::with_current;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

/// (deadline in monotonic nanoseconds, sequence).
pub(crate) type TimerKey = (u64, u64);

pub(crate) const PENDING: u8 = 0;
pub(crate) const FIRED: u8 = 1;
pub(crate) const CANCELLED: u8 = 2;

pub(crate) enum TimerAction {
    /// `send_after`: deliver `msg` to `to` (resolved when the timer fires) unless cancelled
    /// first.
    Send { from: Pid, to: To, priority: Priority, msg: Message, timer: Arc<TimerShared> },
    /// A `call` waited too long: complete it with a timeout error.
    CallTimeout { entry: Arc<ProcessEntry>, ref_id: u64, after: Duration },
    /// Wake a future that waits with a deadline (a producer's hold, a `send_wait`) unless it
    /// stopped waiting (`cancelled`); waking it late or needlessly is harmless (it looks at its
    /// own state).
    Wake { waker: std::task::Waker, cancelled: Arc<std::sync::atomic::AtomicBool> },
}

/// Identifies one worker's timer map and counts the entries cancelled from other threads that
/// are still in it.
#[derive(Default)]
pub(crate) struct TimerOwner {
    cancelled: AtomicUsize,
}

impl TimerOwner {
    /// An entry of this map was given up from another worker: the next purge may drop it.
    pub(crate) fn count_cancel(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a `send_after` shares with its handle.
pub(crate) struct TimerShared {
    pub(crate) state: AtomicU8,
    key: TimerKey,
    owner: Arc<TimerOwner>,
}

impl TimerShared {
    /// The state of a timer that was never armed (it reports itself cancelled).
    pub(crate) fn detached() -> Arc<TimerShared> {
        Arc::new(TimerShared { state: AtomicU8::new(CANCELLED), key: (0, 0), owner: Arc::new(TimerOwner::default()) })
    }
}

pub(crate) struct Timers {
    map: BTreeMap<TimerKey, TimerAction>,
    seq: u64,
    owner: Arc<TimerOwner>,
}

impl Default for Timers {
    fn default() -> Self {
        Timers { map: BTreeMap::new(), seq: 0, owner: Arc::new(TimerOwner::default()) }
    }
}

impl Timers {
    pub(crate) fn add(&mut self, deadline: u64, action: TimerAction) -> TimerKey {
        self.purge_if_due();
        self.seq += 1;
        let key = (deadline, self.seq);
        self.map.insert(key, action);
        key
    }

    /// Arms a `send_after` built by `make` from the timer's shared state.
    pub(crate) fn add_send(
        &mut self,
        deadline: u64,
        make: impl FnOnce(Arc<TimerShared>) -> TimerAction,
    ) -> Arc<TimerShared> {
        let key = (deadline, self.seq + 1);
        let shared = Arc::new(TimerShared { state: AtomicU8::new(PENDING), key, owner: self.owner.clone() });
        let added = self.add(deadline, make(shared.clone()));
        debug_assert_eq!(added, key);
        shared
    }

    /// This map's identity, for handles that cancel from elsewhere.
    pub(crate) fn owner(&self) -> Arc<TimerOwner> {
        self.owner.clone()
    }

    pub(crate) fn remove(&mut self, key: &TimerKey) -> Option<TimerAction> {
        self.map.remove(key)
    }

    /// Removes the timer `key` if this map is `owner`'s (the caller may have moved to another
    /// worker since it armed it: then it fires there, harmlessly).
    pub(crate) fn remove_if_owned(&mut self, key: &TimerKey, owner: &Arc<TimerOwner>) -> Option<TimerAction> {
        if Arc::ptr_eq(&self.owner, owner) { self.map.remove(key) } else { None }
    }

    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.map.first_key_value().map(|(k, _)| k.0)
    }

    /// Timers in the map (pending, and cancelled ones not yet purged).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Drops the entries cancelled from other threads once they are more than half the map:
    /// each purge is paid for by as many cancels as the entries it keeps, so O(1) amortised.
    pub(crate) fn purge_if_due(&mut self) {
        let cancelled = self.owner.cancelled.load(Ordering::Relaxed);
        if cancelled == 0 || cancelled * 2 <= self.map.len() {
            return;
        }
        // Cancels counted after this swap are counted for the next purge (and some of them
        // removed by this one: over-counting only makes a purge come early).
        self.owner.cancelled.swap(0, Ordering::Relaxed);
        // Dropping a message is user code; the only thing it could do to this map is cancel
        // another timer, which finds the map borrowed and counts instead.
        self.map.retain(|_, action| match action {
            TimerAction::Send { timer, .. } => timer.state.load(Ordering::Acquire) != CANCELLED,
            // A call given up on another worker (its process moved) no longer waits for it.
            TimerAction::CallTimeout { entry, ref_id, .. } => entry.call_waits_for(*ref_id),
            TimerAction::Wake { cancelled, .. } => !cancelled.load(Ordering::Acquire),
        });
    }

    /// Removes and returns the first timer due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<TimerAction> {
        let entry = self.map.first_entry()?;
        if entry.key().0 <= now { Some(entry.remove()) } else { None }
    }
}

/// Cancels a pending `send_after`. Dropping the handle does not cancel.
#[derive(Clone)]
pub struct TimerHandle {
    pub(crate) shared: Arc<TimerShared>,
}

impl std::fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.shared.state.load(Ordering::Acquire) {
            PENDING => "pending",
            FIRED => "fired",
            _ => "cancelled",
        };
        f.debug_struct("TimerHandle").field("state", &state).finish()
    }
}

impl TimerHandle {
    /// Cancels the timer. Returns true if the message had not been sent yet and now never will
    /// be; false if it was already sent or already cancelled.
    ///
    /// On the worker that holds the timer (inside the process that set it, say) the timer and
    /// its message are freed at once; from another thread, when that worker next purges (at its
    /// next timer or before it goes idle, once cancelled timers are half of its map).
    pub fn cancel(&self) -> bool {
        let shared = &self.shared;
        if shared.state.compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return false;
        }
        let removed = with_current(|w| {
            let mut timers = w?.timers.try_borrow_mut().ok()?;
            if !Arc::ptr_eq(&timers.owner, &shared.owner) {
                return None;
            }
            Some(timers.remove(&shared.key))
        });
        match removed {
            // Dropped here, outside the map's borrow: the message's `Drop` is user code.
            Some(action) => drop(action),
            None => {
                shared.owner.cancelled.fetch_add(1, Ordering::Relaxed);
            }
        }
        true
    }

    /// True once the message has been handed to the receiver's mailbox (or the send failed).
    pub fn is_fired(&self) -> bool {
        self.shared.state.load(Ordering::Acquire) == FIRED
    }
}

/// A wake-up armed on the current worker's timers at a deadline (a producer's hold, a
/// `send_wait`): disarmed when dropped, or left to fire harmlessly if its owner moved to another
/// worker meanwhile (or the map is busy).
pub(crate) struct WakeTimer {
    key: TimerKey,
    owner: Arc<TimerOwner>,
    cancelled: Arc<std::sync::atomic::AtomicBool>,
}

impl WakeTimer {
    /// Arms a timer that wakes `waker` at `deadline_ns`; `None` off a worker thread.
    pub(crate) fn arm(deadline_ns: u64, waker: &std::task::Waker) -> Option<WakeTimer> {
        with_current(|w| {
            let mut timers = w?.timers.try_borrow_mut().ok()?;
            let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let key = timers.add(deadline_ns, TimerAction::Wake { waker: waker.clone(), cancelled: cancelled.clone() });
            Some(WakeTimer { key, owner: timers.owner(), cancelled })
        })
    }
}

impl Drop for WakeTimer {
    /// Removes the timer if it is still in this worker's map; otherwise marks it cancelled for
    /// its worker's next purge (it holds a waker, and so its process's entry).
    fn drop(&mut self) {
        let removed = with_current(|w| {
            let mut timers = w?.timers.try_borrow_mut().ok()?;
            timers.remove_if_owned(&self.key, &self.owner)
        });
        if removed.is_none() {
            self.cancelled.store(true, Ordering::Release);
            self.owner.count_cancel();
        }
        // Dropped outside the map's borrow (a waker's drop may be arbitrary code).
        drop(removed);
    }
}

/// A future that completes at a deadline ([`Context::sleep`](crate::Context::sleep)): only the
/// process awaiting it waits, its worker runs others meanwhile. The wake-up is a timer on the
/// worker that polled it, removed when the future is dropped early. Polled off a worker (which
/// processes never are) it falls back to a thread that sleeps and wakes it.
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    deadline_ns: u64,
    armed: Option<(WakeTimer, std::task::Waker)>,
}

impl Sleep {
    pub(crate) fn new(after: Duration) -> Sleep {
        Sleep { deadline_ns: crate::sys::clock::deadline_ns(after), armed: None }
    }

    /// The time left before it completes (zero once due).
    pub fn remaining(&self) -> Duration {
        Duration::from_nanos(self.deadline_ns.saturating_sub(crate::sys::clock::now_ns()))
    }
}

impl std::future::Future for Sleep {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if crate::sys::clock::now_ns() >= self.deadline_ns {
            self.armed = None;
            return std::task::Poll::Ready(());
        }
        // Armed again only when polled with another waker (a combinator moved it).
        if self.armed.as_ref().is_some_and(|(_, w)| w.will_wake(cx.waker())) {
            return std::task::Poll::Pending;
        }
        match WakeTimer::arm(self.deadline_ns, cx.waker()) {
            Some(timer) => self.armed = Some((timer, cx.waker().clone())),
            None => {
                let (waker, left) = (cx.waker().clone(), self.remaining());
                std::thread::spawn(move || {
                    std::thread::sleep(left);
                    waker.wake();
                });
            }
        }
        std::task::Poll::Pending
    }
}
