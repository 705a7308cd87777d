//! The [`Context`] a process's callbacks get: who it is, and how it sends, calls, spawns and sets
//! timers. Lives inside the process's future; used only on the process's home worker.

use crate::act::Actor;
use crate::error::Error;
use crate::message::{Envelope, ExitReason, Message, Payload, Priority};
use crate::node::{NodeHandle, SpawnOptions};
use crate::process::entry::{CallSlot, ProcessEntry};
use crate::process::pid::{From, Pid};
use crate::runtime::timer::{PENDING, TimerAction, TimerHandle, TimerKey};
use crate::runtime::worker::with_current;
use std::any::Any;
use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::task::Poll;
use std::time::{Duration, Instant};

/// A process's view of itself and the node, handed to every [`Actor`] callback.
pub struct Context {
    pub(crate) entry: Arc<ProcessEntry>,
    node: NodeHandle,
    /// The last process this one sent to: repeated sends skip the table lookup.
    last_target: Option<Arc<ProcessEntry>>,
    send_priority: Priority,
    /// Shared with the parent until a spawn option adds to it (one pointer per process).
    env: Env,
    /// Messages handled since the process last slept or yielded (the per-turn budget).
    turn: usize,
}

impl Context {
    pub(crate) fn new(entry: Arc<ProcessEntry>, node: NodeHandle, send_priority: Priority, env: Env) -> Self {
        Context { entry, node, last_target: None, send_priority, env, turn: 0 }
    }

    /// This process's Pid.
    pub fn pid(&self) -> Pid {
        self.entry.pid
    }

    /// The process that spawned this one (the node's core Pid for processes the node spawned).
    pub fn parent(&self) -> Pid {
        self.entry.parent
    }

    /// The group leader (inherited from the parent; the node's core Pid at the top).
    pub fn leader(&self) -> Pid {
        self.entry.leader
    }

    /// The node this process runs on.
    pub fn node(&self) -> &NodeHandle {
        &self.node
    }

    /// A value from this process's environment (inherited from its parent, plus spawn options).
    pub fn env(&self, name: &str) -> Option<&str> {
        self.env.as_ref()?.get(name).map(String::as_str)
    }

    /// Spawns a child on this process's worker (unless `opts` names another). The child inherits
    /// this process's environment and leader. Its `init` runs on the child's first turn; an
    /// `init` error ends the child with that reason.
    ///
    /// # Errors
    /// [`Error::NodeStopped`] when the node is stopping.
    pub fn spawn<A: Actor>(&mut self, actor: A, opts: SpawnOptions) -> Result<Pid, Error> {
        let worker = opts.worker.unwrap_or(self.entry.worker.index);
        let env = extend_env(&self.env, &opts.env);
        self.node.inner.spawn_process(actor, &opts, env, Some(&self.entry), worker)
    }

    /// Sends `msg` to `to` at this process's default send priority.
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`] if `to` is not alive; [`Error::MailboxFull`] if its queue is at
    /// capacity (the message is dropped and nothing is queued).
    pub fn send<M: Any + Send>(&mut self, to: Pid, msg: M) -> Result<(), Error> {
        self.send_with_priority(to, msg, self.send_priority)
    }

    /// Sends `msg` to `to` into the queue of `priority`.
    ///
    /// # Errors
    /// As for [`Context::send`].
    pub fn send_with_priority<M: Any + Send>(&mut self, to: Pid, msg: M, priority: Priority) -> Result<(), Error> {
        let envelope = Envelope { from: self.entry.pid, payload: Payload::Message(Message::new(msg)) };
        self.push(&to, priority, envelope)
    }

    /// Delivers through the one-entry target cache (repeated sends skip the table lookup).
    fn push(&mut self, to: &Pid, priority: Priority, envelope: Envelope) -> Result<(), Error> {
        // Liveness is checked by `NodeInner::push`.
        let cached = self.last_target.as_ref().is_some_and(|t| t.pid == *to);
        if !cached {
            self.last_target = Some(self.node.inner.table.get(to).ok_or(Error::ProcessUnknown)?);
        }
        match &self.last_target {
            // A process runs only on its home worker, so sharing it means running on it.
            Some(target) => {
                let same_worker = Arc::ptr_eq(&target.worker, &self.entry.worker);
                self.node.inner.push_from(same_worker, target, priority, envelope)
            }
            None => Err(Error::ProcessUnknown),
        }
    }

    /// Makes a request and waits for the reply, up to the node's default call timeout (5 s
    /// unless `ERGORS_CALL_TIMEOUT_MS` says otherwise). Only this process waits; its worker runs
    /// other processes meanwhile, and this process handles no other message until the call ends
    /// (Ergo's WaitResponse state).
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`], [`Error::MailboxFull`], [`Error::Timeout`] (a reply arriving
    /// later is discarded), [`Error::Terminated`] if the callee ends without replying,
    /// [`Error::NotAllowed`] for a call to itself.
    pub async fn call<M: Any + Send>(&mut self, to: Pid, request: M) -> Result<Message, Error> {
        let timeout = self.node.inner.options.call_timeout;
        self.call_timeout(to, request, timeout).await
    }

    /// As [`Context::call`] with an explicit timeout.
    ///
    /// # Errors
    /// As for [`Context::call`].
    pub async fn call_timeout<M: Any + Send>(
        &mut self,
        to: Pid,
        request: M,
        timeout: Duration,
    ) -> Result<Message, Error> {
        if to == self.entry.pid {
            return Err(Error::NotAllowed("a process cannot call itself"));
        }
        let reference = self.node.inner.make_ref();
        let ref_id = reference.id;
        *self.entry.call.lock().unwrap_or_else(|p| p.into_inner()) = CallSlot::Waiting(ref_id);
        let entry = self.entry.clone();
        let guard = PendingCall::new(&entry, ref_id);
        let from = entry.pid;
        let envelope = Envelope { from, payload: Payload::Request(reference.id, Message::new(request)) };
        self.push(&to, self.send_priority, envelope)?;
        let key = with_current(|w| {
            w.map(|w| {
                let action = TimerAction::CallTimeout { entry: entry.clone(), ref_id, after: timeout };
                w.timers.borrow_mut().add(Instant::now() + timeout, action)
            })
        });
        let guard = guard.with_timer(key);
        let outcome = poll_fn(|_| {
            let mut slot = entry.call.lock().unwrap_or_else(|p| p.into_inner());
            match std::mem::replace(&mut *slot, CallSlot::Idle) {
                CallSlot::Done(id, outcome) if id == ref_id => Poll::Ready(outcome),
                other => {
                    *slot = other;
                    Poll::Pending
                }
            }
        })
        .await;
        drop(guard);
        outcome
    }

    /// Replies to a request received in `handle_call` (now or later).
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`] if the caller is gone. A caller that gave up (timed out) is not
    /// an error: the late reply is discarded there.
    pub fn send_response<M: Any + Send>(&mut self, to: From, reply: M) -> Result<(), Error> {
        self.node.inner.respond(to, Ok(Message::new(reply)))
    }

    /// Tells a caller that its request will never be answered (this process is ending).
    pub(crate) fn fail_request(&mut self, to: From) {
        let _ = self.node.inner.respond(to, Err(Error::Terminated));
    }

    /// Sends `msg` to `to` after `after`, unless cancelled first through the returned handle.
    pub fn send_after<M: Any + Send>(&mut self, to: Pid, msg: M, after: Duration) -> TimerHandle {
        let state = Arc::new(AtomicU8::new(PENDING));
        let action = TimerAction::Send {
            from: self.entry.pid,
            to,
            priority: self.send_priority,
            msg: Message::new(msg),
            state: state.clone(),
        };
        with_current(|w| match w {
            Some(w) => {
                w.timers.borrow_mut().add(Instant::now() + after, action);
            }
            // Processes are polled only on workers; reaching here is a bug, reported loudly.
            None => {
                node_log!(self.node.inner, ERROR, pid = %self.entry.pid, "send_after outside a worker thread; timer dropped")
            }
        });
        TimerHandle { state }
    }

    /// The next message by priority, yielding the worker after `process_budget`
    /// messages in a row.
    ///
    /// A poll function rather than an `async fn`, to keep the process's state machine small.
    pub(crate) fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Envelope> {
        if self.turn >= self.node.inner.options.process_budget {
            self.turn = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // SAFETY: this runs only inside the process's own task, polled by its home worker
        // holding the Running state: we are the mailbox's single consumer.
        match unsafe { self.entry.mailbox.pop() } {
            Some(e) => {
                self.turn += 1;
                Poll::Ready(e)
            }
            None => {
                self.turn = 0;
                Poll::Pending
            }
        }
    }

    /// The process is ending: release everything it holds.
    pub(crate) fn finish(&mut self, reason: &ExitReason) {
        self.last_target = None;
        self.node.inner.process_ended(&self.entry, reason);
    }
}

/// A process environment: name → value, shared between processes until one adds to it.
pub(crate) type Env = Option<Arc<HashMap<String, String>>>;

/// `base` plus `extra` (later entries win); shares `base` when there is nothing to add.
pub(crate) fn extend_env(base: &Env, extra: &[(String, String)]) -> Env {
    if extra.is_empty() {
        return base.clone();
    }
    let mut env = base.as_deref().cloned().unwrap_or_default();
    env.extend(extra.iter().cloned());
    Some(Arc::new(env))
}

/// Clears the call slot and the timeout timer when a call ends or its future is dropped.
struct PendingCall<'a> {
    entry: &'a ProcessEntry,
    ref_id: u64,
    timer: Option<TimerKey>,
}

impl<'a> PendingCall<'a> {
    fn new(entry: &'a ProcessEntry, ref_id: u64) -> Self {
        PendingCall { entry, ref_id, timer: None }
    }
    fn with_timer(mut self, key: Option<TimerKey>) -> Self {
        self.timer = key;
        self
    }
}

impl Drop for PendingCall<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.timer.take() {
            with_current(|w| {
                if let Some(w) = w {
                    w.timers.borrow_mut().remove(&key);
                }
            });
        }
        let mut slot = self.entry.call.lock().unwrap_or_else(|p| p.into_inner());
        let ours = match &*slot {
            CallSlot::Waiting(id) | CallSlot::Done(id, _) => *id == self.ref_id,
            CallSlot::Idle => false,
        };
        if ours {
            *slot = CallSlot::Idle;
        }
    }
}
