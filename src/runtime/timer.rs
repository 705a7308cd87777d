//! Per-worker timers: `send_after` and call timeouts.
//!
//! An ordered map keyed by (deadline, sequence) so that the earliest deadline is the ring's park
//! timeout and a timer owned by the same worker (a call's timeout) is removed in O(log n) when it
//! is no longer needed. Deadlines are nanoseconds of the monotonic clock (`sys::clock`). Runs on
//! its worker only; never blocks.

use crate::message::{Message, Priority};
use crate::process::entry::ProcessEntry;
use crate::process::pid::Pid;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// (deadline in monotonic nanoseconds, sequence).
pub(crate) type TimerKey = (u64, u64);

pub(crate) const PENDING: u8 = 0;
pub(crate) const FIRED: u8 = 1;
pub(crate) const CANCELLED: u8 = 2;

pub(crate) enum TimerAction {
    /// `send_after`: deliver `msg` unless cancelled first.
    Send { from: Pid, to: Pid, priority: Priority, msg: Message, state: Arc<AtomicU8> },
    /// A `call` waited too long: complete it with a timeout error.
    CallTimeout { entry: Arc<ProcessEntry>, ref_id: u64, after: Duration },
}

#[derive(Default)]
pub(crate) struct Timers {
    map: BTreeMap<TimerKey, TimerAction>,
    seq: u64,
}

impl Timers {
    pub(crate) fn add(&mut self, deadline: u64, action: TimerAction) -> TimerKey {
        self.seq += 1;
        let key = (deadline, self.seq);
        self.map.insert(key, action);
        key
    }

    pub(crate) fn remove(&mut self, key: &TimerKey) -> Option<TimerAction> {
        self.map.remove(key)
    }

    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.map.first_key_value().map(|(k, _)| k.0)
    }

    /// Removes and returns the first timer due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<TimerAction> {
        let entry = self.map.first_entry()?;
        if entry.key().0 <= now { Some(entry.remove()) } else { None }
    }
}

/// Cancels a pending `send_after`. Dropping the handle does not cancel.
#[derive(Clone, Debug)]
pub struct TimerHandle {
    pub(crate) state: Arc<AtomicU8>,
}

impl TimerHandle {
    /// Cancels the timer. Returns true if the message had not been sent yet and now never will
    /// be; false if it was already sent or already cancelled.
    pub fn cancel(&self) -> bool {
        self.state.compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// True once the message has been handed to the receiver's mailbox (or the send failed).
    pub fn is_fired(&self) -> bool {
        self.state.load(Ordering::Acquire) == FIRED
    }
}
