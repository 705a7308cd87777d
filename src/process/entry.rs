//! The table entry of one process: its mailbox, scheduling word, running future and the slot a
//! pending `call` waits on.
//!
//! Shared by every thread that sends to the process; the future inside is touched only by the
//! home worker while it holds the Running state (see `mailbox::SchedState`).

use crate::error::Error;
use crate::mailbox::{Mailbox, SchedState};
use crate::message::{Envelope, Message};
use crate::process::pid::Pid;
use crate::runtime::worker::WorkerShared;
use std::cell::UnsafeCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where a pending `call` waits for its reply.
pub(crate) enum CallSlot {
    Idle,
    /// Waiting for the reply to the request with this ref id.
    Waiting(u64),
    /// The outcome arrived (a reply, or a timeout / termination error).
    Done(u64, Result<Message, Error>),
}

pub(crate) struct ProcessEntry {
    pub(crate) pid: Pid,
    /// The worker that runs this process (its home; processes never migrate).
    pub(crate) worker: Arc<WorkerShared>,
    pub(crate) parent: Pid,
    pub(crate) leader: Pid,
    /// Distance from the node in the spawn tree (node-spawned = 0): stop goes deepest first.
    pub(crate) depth: u32,
    pub(crate) sched: SchedState,
    pub(crate) mailbox: Mailbox<Envelope>,
    pub(crate) call: Mutex<CallSlot>,
    alive: AtomicBool,
    task: UnsafeCell<Option<Task>>,
}

// SAFETY: every field but `task` is Sync by itself. `task` holds a `Send` future that is accessed
// only through `poll_task`/`drop_task`, whose callers hold the Running state of `sched`, which
// at most one thread holds at a time.
unsafe impl Sync for ProcessEntry {}

pub(crate) struct EntryInit {
    pub(crate) pid: Pid,
    pub(crate) worker: Arc<WorkerShared>,
    pub(crate) parent: Pid,
    pub(crate) leader: Pid,
    pub(crate) depth: u32,
    pub(crate) mailbox_size: usize,
}

impl ProcessEntry {
    pub(crate) fn new(i: EntryInit) -> ProcessEntry {
        ProcessEntry {
            pid: i.pid,
            worker: i.worker,
            parent: i.parent,
            leader: i.leader,
            depth: i.depth,
            sched: SchedState::new_scheduled(),
            mailbox: Mailbox::new(i.mailbox_size),
            call: Mutex::new(CallSlot::Idle),
            alive: AtomicBool::new(true),
            task: UnsafeCell::new(None),
        }
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Marks the process dead; true for the one caller that did it.
    pub(crate) fn mark_dead(&self) -> bool {
        self.alive.swap(false, Ordering::AcqRel)
    }

    /// Installs the future before the process is first scheduled.
    pub(crate) fn set_task(&self, task: Task) {
        // SAFETY: called once by the spawner before the entry is published to a run queue, so no
        // other thread can be polling it.
        unsafe { *self.task.get() = Some(task) };
    }

    /// Polls the process's future.
    ///
    /// # Safety
    /// The caller holds the Running state (`sched.begin_run()` returned true and `end_run` has
    /// not yet been called), so no other thread touches `task`.
    pub(crate) unsafe fn poll_task(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        // SAFETY: exclusive access per the caller's contract.
        let slot = unsafe { &mut *self.task.get() };
        match slot {
            Some(t) => t.as_mut().poll(cx),
            None => std::task::Poll::Ready(()),
        }
    }

    /// Takes the finished (or panicked) future out, to be dropped by the caller.
    ///
    /// # Safety
    /// As for [`ProcessEntry::poll_task`].
    pub(crate) unsafe fn take_task(&self) -> Option<Task> {
        // SAFETY: exclusive access per the caller's contract.
        unsafe { (*self.task.get()).take() }
    }

    /// Completes the pending call `ref_id` with `outcome`; false if no call with that ref waits
    /// (a late or foreign reply, which is then discarded).
    pub(crate) fn complete_call(&self, ref_id: u64, outcome: Result<Message, Error>) -> bool {
        let mut slot = self.call.lock().unwrap_or_else(|p| p.into_inner());
        match *slot {
            CallSlot::Waiting(r) if r == ref_id => {
                *slot = CallSlot::Done(ref_id, outcome);
                true
            }
            _ => false,
        }
    }
}
