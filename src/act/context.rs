//! The [`Context`] a process's callbacks get: who it is, and how it sends, calls, spawns and sets
//! timers. Lives inside the process's future; used only on the process's home worker.
//!
//! In `act`, the top layer (D60): everything it does goes through the node. Never: blocks its
//! worker (a `call` suspends only this process).

use super::Actor;
use crate::error::Error;
use crate::message::{
    Alias, Envelope, Event, EventOptions, ExitReason, From, Message, MessageEvent, Name, Payload, Pid, Priority, Ref,
    Target, To,
};
use crate::node::Kind;
use crate::node::{NodeHandle, NodeInner, SpawnOptions};
use crate::process::call::{self, PendingCall};
use crate::process::entry::{ProcessEntry, Stats};
use crate::process::env::env_list;
use crate::process::init::InitWait;
use crate::process::room::{self, Hold, WaitRoom};
use crate::runtime::timer::{TimerAction, TimerHandle, TimerShared, WakeTimer};
use crate::runtime::worker::with_current;
use crate::sys::clock;
use std::any::Any;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// A process's view of itself and the node, handed to every [`Actor`] callback.
pub struct Context {
    pub(crate) entry: Arc<ProcessEntry>,
    node: NodeHandle,
    /// The last process this one sent to: repeated sends skip the table lookup.
    last_target: Option<Arc<ProcessEntry>>,
    send_priority: Priority,
    /// Messages handled since the process last slept or yielded (the per-turn budget, at most
    /// 1,000,000: a u32 keeps the idle process's state machine small). Added to the entry's
    /// `messages_in` when the turn ends.
    turn: u32,
    /// Messages sent and not yet added to the entry's `messages_out`: published when the turn
    /// ends or a call waits, so that a send writes no shared counter.
    sent: u32,
    /// Held back (D70): the long queue this process sent to in the current callback was noted
    /// by `push` (the hold itself lives in the entry's relations: most processes are never
    /// held, and every idle process carries this state).
    held: bool,
    /// Spawned by `spawn_wait`: `init`'s outcome is reported to the spawner (`process::init`).
    reports_init: bool,
    /// The ref id of the request `handle_call` is handling while this process still owes its
    /// reply; 0 once it was handed on (ref ids start at 1).
    current_request: u64,
    /// The queue the message being handled came from (a pool forwards only `Main`: D85). A
    /// byte in what was padding: the state machine does not grow.
    received: Priority,
    /// This process's log level, as `level_code` encodes it (a `tracing::Level` is a word wide;
    /// this keeps every idle process's state machine a word smaller).
    log_level: u8,
}

const LEVELS: [tracing::Level; 5] =
    [tracing::Level::ERROR, tracing::Level::WARN, tracing::Level::INFO, tracing::Level::DEBUG, tracing::Level::TRACE];

fn level_code(level: tracing::Level) -> u8 {
    LEVELS.iter().position(|l| *l == level).unwrap_or(2) as u8
}

impl Context {
    pub(crate) fn new(
        entry: Arc<ProcessEntry>,
        node: NodeHandle,
        send_priority: Priority,
        log_level: tracing::Level,
    ) -> Self {
        Context {
            entry,
            node,
            last_target: None,
            held: false,
            reports_init: false,
            send_priority,
            turn: 0,
            sent: 0,
            current_request: 0,
            received: Priority::Main,
            log_level: level_code(log_level),
        }
    }

    /// This process reports `init`'s outcome to its spawner (`spawn_wait`).
    pub(crate) fn set_reports_init(&mut self) {
        self.reports_init = true;
    }

    /// Takes the report of `init`'s outcome owed to a spawner waiting in `spawn_wait`, if any.
    fn take_init_report(&mut self) -> Option<crate::process::init::InitReport> {
        if std::mem::take(&mut self.reports_init) {
            self.entry.with_existing_rel(|r| r.init_report.take()).flatten()
        } else {
            None
        }
    }

    /// `init` succeeded: the spawner waiting for it goes on.
    pub(crate) fn report_init_ok(&mut self) {
        if let Some(report) = self.take_init_report() {
            report.send(None);
        }
    }

    /// The priority this process's sends use by default (`send`, `call`, events, `send_after`;
    /// Ergo's `SendPriority`).
    pub fn send_priority(&self) -> Priority {
        self.send_priority
    }

    /// Changes the default priority of this process's sends from now on (Ergo's
    /// `SetSendPriority`; initially `SpawnOptions::send_priority`).
    pub fn set_send_priority(&mut self, priority: Priority) {
        self.send_priority = priority;
    }

    /// How this process compresses what it sends to other nodes: its own setting
    /// (`SpawnOptions::compression`, the `set_compression*` methods), else the node's
    /// `NetworkOptions::compression` (Ergo's `Compression()` and friends).
    pub fn compression(&self) -> crate::net::Compression {
        self.node.inner.compression_setting(&self.entry)
    }

    /// Turns compression of this process's sends to other nodes on or off (Ergo's
    /// `SetCompression`): frames over the threshold then travel compressed (ENP 200).
    pub fn set_compression(&mut self, enabled: bool) {
        let c = crate::net::Compression { enabled, ..self.compression() };
        self.node.inner.set_compression(&self.entry, c);
    }

    /// Sets the algorithm this process compresses with (Ergo's `SetCompressionType`).
    pub fn set_compression_type(&mut self, kind: crate::net::CompressionType) {
        let c = crate::net::Compression { kind, ..self.compression() };
        self.node.inner.set_compression(&self.entry, c);
    }

    /// Sets the compression level (gzip only; Ergo's `SetCompressionLevel`).
    pub fn set_compression_level(&mut self, level: crate::net::CompressionLevel) {
        let c = crate::net::Compression { level, ..self.compression() };
        self.node.inner.set_compression(&self.entry, c);
    }

    /// Sets the size (bytes, header included) above which a frame is compressed (Ergo's
    /// `SetCompressionThreshold`).
    ///
    /// # Errors
    /// [`Error::NotAllowed`] below 1024 bytes, Ergo's least threshold.
    pub fn set_compression_threshold(&mut self, threshold: usize) -> Result<(), Error> {
        if threshold < crate::net::proto::DEFAULT_COMPRESSION_THRESHOLD {
            return Err(Error::NotAllowed("a compression threshold below 1024 bytes"));
        }
        let c = crate::net::Compression { threshold, ..self.compression() };
        self.node.inner.set_compression(&self.entry, c);
        Ok(())
    }

    /// This process's log level (inherited from its parent; the node's `ERGORS_LOG` at the top).
    pub fn log_level(&self) -> tracing::Level {
        LEVELS[usize::from(self.log_level).min(LEVELS.len() - 1)]
    }

    /// Sets this process's log level; children spawned later inherit it.
    pub fn set_log_level(&mut self, level: tracing::Level) {
        self.log_level = level_code(level);
    }

    /// Logs `text` at `level` if this process's level lets it through: to `tracing`, with the
    /// node, the Pid and the registered name as fields, and to the node's process loggers.
    pub fn log(&self, level: tracing::Level, text: impl std::fmt::Display) {
        if level <= self.log_level() {
            self.node.inner.process_log(&self.entry, level, &text.to_string());
        }
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

    /// A value from this process's environment: the node's, under its leader's, under its
    /// parent's (as they were at spawn), plus the spawn options. Names are case-insensitive, as
    /// in Ergo.
    pub fn env(&self, name: &str) -> Option<String> {
        self.entry.with_env(|env| env.as_ref()?.get(&name.to_uppercase()).cloned())
    }

    /// Sets (`Some`) or removes (`None`) an environment variable of this process. Children spawned
    /// later inherit it; existing children are not affected.
    pub fn set_env(&mut self, name: &str, value: Option<&str>) {
        self.entry.with_env(|env| {
            let env = Arc::make_mut(env.get_or_insert_with(Default::default));
            match value {
                Some(v) => env.insert(name.to_uppercase(), v.to_string()),
                None => env.remove(&name.to_uppercase()),
            }
        });
    }

    /// The whole environment, sorted by name (names upper-cased).
    pub fn env_list(&self) -> Vec<(String, String)> {
        env_list(&self.entry.env())
    }

    /// Spawns a child on the next worker round-robin, free to move between workers (unless `opts`
    /// pins it: `worker(i)`, or `colocate()` for this process's worker). The child inherits
    /// this process's environment, log level and leader (unless `opts` names a leader). Its
    /// `init` runs on the child's first turn; an `init` error ends the child with that reason.
    ///
    /// # Errors
    /// [`Error::NodeStopped`] when the node is stopping.
    pub fn spawn<A: Actor>(&mut self, actor: A, opts: SpawnOptions) -> Result<Pid, Error> {
        self.node.inner.spawn_process(actor, &opts, Some(&self.entry), None, Some(self.log_level()), None)
    }

    /// As [`Context::spawn`], registering the child under `name` before its `init` runs.
    ///
    /// # Errors
    /// [`Error::Taken`], [`Error::BadName`], [`Error::NodeStopped`].
    pub fn spawn_register<A: Actor>(&mut self, name: &str, actor: A, opts: SpawnOptions) -> Result<Pid, Error> {
        self.node.inner.spawn_process(actor, &opts, Some(&self.entry), Some(name), Some(self.log_level()), None)
    }

    /// Spawns a child (as [`Context::spawn`]) and waits until its `init` has run, as Ergo's
    /// `Spawn` does: the Pid of a child that is up, or why it is not. Only this process waits
    /// (it handles no message meanwhile, as in a `call`). With `SpawnOptions::link_child` a
    /// child that fails `init` also sends this process its exit signal (the link is made
    /// before the child runs: D80).
    ///
    /// # Errors
    /// [`Error::InitFailed`] with the reason `init` returned (or its panic); the errors of
    /// [`Context::spawn`].
    pub fn spawn_wait<A: Actor>(
        &mut self,
        actor: A,
        opts: SpawnOptions,
    ) -> impl Future<Output = Result<Pid, Error>> + Send + '_ {
        self.spawn_wait_inner(actor, opts, None)
    }

    /// As [`Context::spawn_wait`], registering the child under `name` before its `init` runs.
    ///
    /// # Errors
    /// As for [`Context::spawn_wait`] and [`Context::spawn_register`].
    pub fn spawn_register_wait<'a, A: Actor>(
        &'a mut self,
        name: &str,
        actor: A,
        opts: SpawnOptions,
    ) -> impl Future<Output = Result<Pid, Error>> + Send + 'a {
        self.spawn_wait_inner(actor, opts, Some(name))
    }

    fn spawn_wait_inner<A: Actor>(
        &mut self,
        actor: A,
        opts: SpawnOptions,
        name: Option<&str>,
    ) -> impl Future<Output = Result<Pid, Error>> + Send + '_ {
        // Spawned now, as `spawn` does; the future only waits (and holds no actor).
        let wait = InitWait::new();
        let spawned = self.node.inner.spawn_process(
            actor,
            &opts,
            Some(&self.entry),
            name,
            Some(self.log_level()),
            Some(wait.clone()),
        );
        async move {
            let pid = spawned?;
            poll_fn(|cx| wait.poll(cx.waker())).await?;
            Ok(pid)
        }
    }

    /// Sends `msg` to `to` at this process's default send priority.
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`] if `to` is not alive; [`Error::MailboxFull`] if its queue is at
    /// capacity (the message is dropped and nothing is queued).
    pub fn send<M: Any + Send>(&mut self, to: impl Into<To>, msg: M) -> Result<(), Error> {
        self.send_with_priority(to, msg, self.send_priority)
    }

    /// Sends `msg` to `to` into the queue of `priority`.
    ///
    /// # Errors
    /// As for [`Context::send`].
    pub fn send_with_priority<M: Any + Send>(
        &mut self,
        to: impl Into<To>,
        msg: M,
        priority: Priority,
    ) -> Result<(), Error> {
        let envelope = Envelope { from: self.entry.pid, payload: Payload::Message(Message::new(msg)) };
        self.push(&to.into(), priority, envelope)
    }

    /// Sends `msg` to `to`, first waiting (this process only: its worker runs others meanwhile)
    /// while the target's queue is at its limit: its capacity, or its high-water mark
    /// (`ERGORS_MAILBOX_HIGH_WATER`), whichever is lower. Once waiting, it goes on when the queue
    /// is down to half of that. For producers that would rather wait than get
    /// [`Error::MailboxFull`] or be held back after their callback; `send` stays non-blocking.
    /// Towards itself it does not wait (nobody else would drain the queue).
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`] if `to` is not alive or ends while we wait;
    /// [`Error::Terminated`] if this process is killed while it waits; [`Error::MailboxFull`]
    /// towards itself at capacity, or at once when waiting would close a cycle (the target
    /// waits, perhaps through others, for room in this process's queues: D72).
    pub fn send_wait<M: Any + Send>(
        &mut self,
        to: impl Into<To>,
        msg: M,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        self.send_wait_until(to.into(), Message::new(msg), None)
    }

    /// As [`Context::send_wait`], giving up after `timeout` with [`Error::Timeout`] (the message
    /// is then not sent). `Duration::ZERO` means the node's default call timeout, as for `call`.
    ///
    /// # Errors
    /// As for [`Context::send_wait`], plus [`Error::Timeout`].
    pub fn send_wait_timeout<M: Any + Send>(
        &mut self,
        to: impl Into<To>,
        msg: M,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        let timeout = call::effective_timeout(&self.node.inner, timeout);
        self.send_wait_until(to.into(), Message::new(msg), Some(timeout))
    }

    fn send_wait_until(
        &mut self,
        to: To,
        msg: Message,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        let envelope = Envelope { from: self.entry.pid, payload: Payload::Message(msg) };
        // Resolved now, as `call` does; the future then only waits.
        let start = self.node.inner.resolve(&to).map(|target| {
            if Arc::ptr_eq(&target, &self.entry) {
                Err((to, envelope))
            } else {
                let envelope = NodeInner::addressed(&to, &target, envelope);
                Ok(WaitRoom::new(Some(self.entry.clone()), target, self.send_priority, envelope, timeout))
            }
        });
        async move {
            let mut wait = match start? {
                Ok(wait) => wait,
                Err((to, envelope)) => return self.push(&to, self.send_priority, envelope),
            };
            let sent = poll_fn(|cx| wait.poll(&self.node.inner, cx.waker())).await;
            if sent.is_ok() {
                self.count_sent();
            }
            sent
        }
    }

    /// Finds the target (a Pid through the one-entry cache, so repeated sends skip the table
    /// and the reference count; names and aliases through the registry) and delivers.
    fn push(&mut self, to: &To, priority: Priority, mut envelope: Envelope) -> Result<(), Error> {
        let resolved;
        let target = match to {
            To::Pid(pid) => {
                // Liveness is checked by `NodeInner::push_from`.
                if self.last_target.as_ref().is_none_or(|t| t.pid != *pid) {
                    match self.node.inner.table.get(pid) {
                        Some(t) => self.last_target = Some(t),
                        None => return self.push_remote(to, priority, envelope),
                    }
                }
                self.last_target.as_ref().ok_or(Error::ProcessUnknown)?
            }
            other if self.node.inner.remote_node(other).is_some() => return self.push_remote(to, priority, envelope),
            other => {
                resolved = self.node.inner.resolve(other)?;
                envelope = NodeInner::addressed(other, &resolved, envelope);
                &resolved
            }
        };
        let request = envelope.payload.is_request();
        let over = self.node.inner.push_reporting(target, priority, envelope)?;
        if over && !request && !self.held {
            let target = target.clone();
            self.note_pressure(target, priority);
        }
        self.count_sent();
        Ok(())
    }

    /// A send to another node's process (or to a Pid of this node that is gone).
    #[cold]
    #[inline(never)]
    fn push_remote(&mut self, to: &To, priority: Priority, envelope: Envelope) -> Result<(), Error> {
        let node = self.node.inner.remote_node(to).ok_or(Error::ProcessUnknown)?;
        self.node.inner.push_remote(node, to, priority, envelope)?;
        self.count_sent();
        Ok(())
    }

    /// A send found its target's queue over its limit: this process is held back when the
    /// callback returns (D70). Not for sends to itself (it could never drain them), nor for
    /// requests (a caller waits for its reply anyway).
    #[cold]
    #[inline(never)]
    fn note_pressure(&mut self, target: Arc<ProcessEntry>, priority: Priority) {
        if Arc::ptr_eq(&target, &self.entry) {
            return;
        }
        self.held = self.entry.with_rel(|r| r.hold = Some(Hold::noted(target, priority))).is_some();
    }

    /// Makes a request and waits for the reply, up to the node's default call timeout (5 s
    /// unless `ERGORS_CALL_TIMEOUT_MS` says otherwise). Only this process waits; its worker runs
    /// other processes meanwhile, and this process handles no other message until the call ends
    /// (Ergo's WaitResponse state).
    ///
    /// The request leaves when `call` is invoked; the returned future waits for the reply (it
    /// borrows the context, so a process has one call in flight at a time). Dropping it abandons
    /// the call: a reply arriving later is discarded.
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`], [`Error::MailboxFull`], [`Error::Timeout`] (a reply arriving
    /// later is discarded), [`Error::Terminated`] if the callee ends without replying (or this
    /// process is killed while it waits),
    /// [`Error::NotAllowed`] for a call to itself.
    pub fn call<M: Any + Send>(
        &mut self,
        to: impl Into<To>,
        request: M,
    ) -> impl Future<Output = Result<Message, Error>> + Send + '_ {
        let timeout = self.node.inner.options.call_timeout;
        self.call_timeout(to, request, timeout)
    }

    /// As [`Context::call`] with an explicit timeout. `Duration::ZERO` means the node's default
    /// call timeout (Ergo treats a timeout ≤ 0 the same way), not "fail at once".
    ///
    /// # Errors
    /// As for [`Context::call`].
    pub fn call_timeout<M: Any + Send>(
        &mut self,
        to: impl Into<To>,
        request: M,
        timeout: Duration,
    ) -> impl Future<Output = Result<Message, Error>> + Send + '_ {
        // Not an `async fn`: its state would hold the target and the request across the wait,
        // and every caller's state machine would carry (and copy) that.
        let pending = self.start_call(to.into(), Message::new(request), timeout);
        async move {
            let pending = pending?;
            let mut first = true;
            poll_fn(|cx| {
                let spin = std::mem::take(&mut first);
                pending.poll_outcome_or_spin(cx.waker(), spin)
            })
            .await
        }
    }

    /// Sends a request and arms its timeout; the returned guard waits for the outcome.
    fn start_call(&mut self, to: To, request: Message, timeout: Duration) -> Result<PendingCall, Error> {
        let to_self = match &to {
            To::Pid(p) => *p == self.entry.pid,
            other if self.node.inner.remote_node(other).is_some() => false,
            other => Arc::ptr_eq(&self.node.inner.resolve(other)?, &self.entry),
        };
        if to_self {
            return Err(Error::NotAllowed("a process cannot call itself"));
        }
        let timeout = call::effective_timeout(&self.node.inner, timeout);
        let ref_id = self.node.inner.make_ref().local_id();
        // From here on, dropping `pending` clears the slot (and the timer, once armed).
        let mut pending = PendingCall::begin(&self.entry, ref_id);
        let envelope = Envelope { from: self.entry.pid, payload: Payload::Request(ref_id, request) };
        self.push(&to, self.send_priority, envelope)?;
        // Waiting on a reply ends this turn: the worker runs other processes meanwhile.
        self.end_turn();
        pending.arm_timeout(timeout);
        Ok(pending)
    }

    /// Waits, as a call does, for the one outcome that `start` arranges to reach this process
    /// through `NodeInner::respond` addressed to the given `From` (a remote spawn's result, a
    /// connection coming up): the network's requests that are not ENP calls.
    pub(crate) fn await_outcome(
        &mut self,
        timeout: Duration,
        start: impl FnOnce(&Arc<NodeInner>, From) -> Result<(), Error>,
    ) -> impl Future<Output = Result<Message, Error>> + Send + '_ {
        let timeout = call::effective_timeout(&self.node.inner, timeout);
        let ref_id = self.node.inner.make_ref().local_id();
        // Claimed before `start`, so that no outcome can arrive before the slot waits for it.
        let mut pending = PendingCall::begin(&self.entry, ref_id);
        let from = From { pid: self.entry.pid, ref_id: [ref_id, 0, 0] };
        let started = start(&self.node.inner, from);
        let started = started.map(|()| {
            self.end_turn();
            pending.arm_timeout(timeout);
            pending
        });
        async move {
            let pending = started?;
            poll_fn(|cx| pending.poll_outcome(cx.waker())).await
        }
    }

    /// Hands a request received in `handle_call` on to `to` (Ergo's "forward the request, reply
    /// from elsewhere"): `to` gets it in its `handle_call` as a call from the original caller and
    /// its reply goes straight to that caller. This process no longer owes a reply, so it may
    /// return anything from `handle_call`, even `Err` to stop (D31).
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`], [`Error::MailboxFull`], [`Error::NotAllowed`] towards the
    /// caller itself. On an error the request is still this process's to answer.
    pub fn forward_call<M: Any + Send>(&mut self, from: From, to: impl Into<To>, request: M) -> Result<(), Error> {
        let to = to.into();
        self.node.inner.forward_request(from, &to, self.send_priority, Message::new(request))?;
        self.count_sent();
        self.keep_request(from);
        Ok(())
    }

    /// The queue the message or request being handled arrived in (for the pool, which hands on
    /// only what came at `Main`: D85).
    pub(crate) fn received_priority(&self) -> Priority {
        self.received
    }

    /// Hands a message on to `target` as if `from` had sent it (the pool's workers see the
    /// original sender: D85), at `priority`, through the same path as `send` (held back by a
    /// long queue). `target` was looked up before: the pool keeps its workers' entries, so no
    /// table lookup and no reference count is touched per message.
    pub(crate) fn forward_message_to(
        &mut self,
        from: Pid,
        target: &Arc<ProcessEntry>,
        msg: Message,
        priority: Priority,
    ) -> Result<(), Error> {
        let envelope = Envelope { from, payload: Payload::Message(msg) };
        let over = self.node.inner.push_reporting(target, priority, envelope)?;
        if over && !self.held {
            self.note_pressure(target.clone(), priority);
        }
        self.count_sent();
        Ok(())
    }

    /// As `forward_call`, at `Main`, to a process already looked up (the pool).
    pub(crate) fn forward_call_to(
        &mut self,
        from: From,
        target: &Arc<ProcessEntry>,
        request: Message,
    ) -> Result<(), Error> {
        self.node.inner.forward_request_to(from, target, Priority::Main, request)?;
        self.count_sent();
        self.keep_request(from);
        Ok(())
    }

    /// Hands an event message on to `to` at `priority` (the pool: D85).
    pub(crate) fn forward_event(&mut self, to: Pid, event: MessageEvent, priority: Priority) -> Result<(), Error> {
        let envelope = Envelope { from: self.entry.pid, payload: Payload::Event(event) };
        self.push(&To::Pid(to), priority, envelope)
    }

    /// Declares that `from` (the request `handle_call` is handling) is held elsewhere: another
    /// process got it (inside a message) and will reply. Then the request is not failed with
    /// [`Error::Terminated`] when this handler returns `Err` (D31). A request answered
    /// `Ok(None)` is kept without this call.
    pub fn keep_request(&mut self, from: From) {
        if self.current_request == from.local_id() {
            self.current_request = 0;
        }
    }

    /// Starts handling the request `ref_id` (it is this process's to answer until kept).
    pub(crate) fn hold_request(&mut self, ref_id: u64) {
        self.current_request = ref_id;
    }

    /// Whether the request being handled is still this process's to answer (not forwarded or
    /// kept elsewhere); clears the mark.
    pub(crate) fn release_request(&mut self) -> bool {
        std::mem::replace(&mut self.current_request, 0) != 0
    }

    /// Replies to a request received in `handle_call` (now or later).
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`] if the caller is gone. A caller that gave up (timed out) is not
    /// an error: the late reply is discarded there.
    pub fn send_response<M: Any + Send>(&mut self, to: From, reply: M) -> Result<(), Error> {
        // Answered: the handler may now stop without the request being failed (D31).
        self.keep_request(to);
        self.node.inner.respond_from(self.entry.pid, to, Ok(Message::new(reply)))
    }

    /// A snapshot of this process (as [`NodeHandle::process_info`]).
    pub fn info(&self) -> crate::ProcessInfo {
        let mut info = self.node.inner.process_info(&self.entry);
        // This turn's counts are not published yet.
        info.messages_in += u64::from(self.turn);
        info.messages_out += u64::from(self.sent);
        info
    }

    /// Registers this process under `name` (one name per process, unique on the node).
    ///
    /// # Errors
    /// [`Error::Taken`] (the name is in use, or this process already has one), [`Error::BadName`].
    pub fn register_name(&mut self, name: &str) -> Result<(), Error> {
        self.node.inner.register_name(&self.entry, name)
    }

    /// Drops this process's name; links and monitors made on the name fire with
    /// [`ExitReason::Unregistered`].
    ///
    /// # Errors
    /// [`Error::NameUnknown`] if it has none.
    pub fn unregister_name(&mut self) -> Result<(), Error> {
        self.node.inner.unregister_name(&self.entry, None)
    }

    /// This process's registered name, if any.
    pub fn name(&self) -> Option<Name> {
        self.entry.with_existing_rel(|r| r.name.clone()).flatten()
    }

    /// Makes a new alias for this process: another address that sends and calls reach until it
    /// is deleted or the process ends.
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`] if the process is ending.
    pub fn create_alias(&mut self) -> Result<Alias, Error> {
        self.node.inner.create_alias(&self.entry)
    }

    /// Deletes an alias of this process; links and monitors made on it fire with
    /// [`ExitReason::Unregistered`], and later sends to it fail with [`Error::ProcessUnknown`].
    ///
    /// # Errors
    /// [`Error::AliasUnknown`], [`Error::AliasOwner`].
    pub fn delete_alias(&mut self, alias: Alias) -> Result<(), Error> {
        self.node.inner.delete_alias(&self.entry, alias)
    }

    /// This process's aliases.
    pub fn aliases(&self) -> Vec<Alias> {
        self.entry.with_existing_rel(|r| r.aliases.clone()).unwrap_or_default()
    }

    /// Links this process to `target` (one-way, as in Ergo): when the target ends (or, for a name,
    /// alias or event, is unregistered), this process gets a [`MessageExit`](crate::MessageExit) in its Urgent queue,
    /// which ends it with the same reason unless it traps exits.
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`] / [`Error::AliasUnknown`] / [`Error::EventUnknown`] when the
    /// target does not exist (Ergo reports it at once; there is no noproc message),
    /// [`Error::TargetExist`] when already linked, [`Error::NotAllowed`] for itself,
    /// [`Error::NoConnection`] for another node.
    pub fn link(&mut self, target: impl Into<Target>) -> Result<(), Error> {
        self.node.inner.watch(&self.entry, target.into(), Kind::Link).map(drop)
    }

    /// Removes a link.
    ///
    /// # Errors
    /// [`Error::TargetUnknown`] if there is no such link.
    pub fn unlink(&mut self, target: impl Into<Target>) -> Result<(), Error> {
        self.node.inner.unwatch(&self.entry, target.into(), Kind::Link)
    }

    /// Monitors `target`: when it ends (or is unregistered) this process gets a [`MessageDown`](crate::MessageDown)
    /// in its System queue, delivered to `handle_message`.
    ///
    /// # Errors
    /// As for [`Context::link`].
    pub fn monitor(&mut self, target: impl Into<Target>) -> Result<(), Error> {
        self.node.inner.watch(&self.entry, target.into(), Kind::Monitor).map(drop)
    }

    /// Removes a monitor.
    ///
    /// # Errors
    /// [`Error::TargetUnknown`] if there is no such monitor.
    pub fn demonitor(&mut self, target: impl Into<Target>) -> Result<(), Error> {
        self.node.inner.unwatch(&self.entry, target.into(), Kind::Monitor)
    }

    /// Subscribes to an event by linking it; returns the messages its buffer holds, oldest first.
    ///
    /// # Errors
    /// As for [`Context::link`].
    pub fn link_event(&mut self, event: impl Into<Event>) -> Result<Vec<MessageEvent>, Error> {
        self.node.inner.watch(&self.entry, Target::Event(event.into()), Kind::Link)
    }

    /// Subscribes to an event by monitoring it; returns the buffered messages, oldest first.
    ///
    /// # Errors
    /// As for [`Context::link`].
    pub fn monitor_event(&mut self, event: impl Into<Event>) -> Result<Vec<MessageEvent>, Error> {
        self.node.inner.watch(&self.entry, Target::Event(event.into()), Kind::Monitor)
    }

    /// Splits handling by address (Ergo's `SetSplitHandle`): messages and requests sent to this
    /// process's registered name arrive in [`Actor::handle_message_name`] /
    /// [`Actor::handle_call_name`], those sent to one of its aliases in
    /// [`Actor::handle_message_alias`] / [`Actor::handle_call_alias`]; those sent to its Pid in
    /// the plain callbacks. Off by default. Applies to what is sent from now on.
    pub fn set_split_handle(&mut self, on: bool) {
        self.entry.split.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// True when this process splits its handling by address.
    pub fn split_handle(&self) -> bool {
        self.entry.split.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether exit signals (from links and `send_exit`) arrive as [`MessageExit`](crate::MessageExit) messages
    /// instead of ending this process (Ergo's `SetTrapExit`). Exits from the parent and node
    /// shutdown cannot be trapped.
    pub fn set_trap_exit(&mut self, on: bool) {
        // On the entry: senders of exit signals read it, to interrupt a callback only when the
        // signal ends the process (D168).
        self.entry.set_trap(on, self.entry.traps_parent_exit());
    }

    /// True when this process traps exits.
    pub fn trap_exit(&self) -> bool {
        self.entry.traps_exit()
    }

    /// Lets an exit signal from the parent arrive as a message too, while trapping exits (a
    /// supervisor stops its children in order before it ends, as Ergo's does: D81).
    pub(crate) fn set_trap_parent_exit(&mut self, on: bool) {
        self.entry.set_trap(self.entry.traps_exit(), on);
    }

    /// Sends an exit signal to `to` (Ergo's `SendExit`): it ends with `reason` unless it traps
    /// exits (then it gets a [`MessageExit`](crate::MessageExit) whose target is this process).
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`]; [`Error::NotAllowed`] towards itself, its parent or its leader.
    pub fn send_exit(&mut self, to: Pid, reason: ExitReason) -> Result<(), Error> {
        if to == self.entry.pid || to == self.entry.parent || to == self.entry.leader {
            return Err(Error::NotAllowed("send_exit to itself, its parent or its leader"));
        }
        self.node.inner.send_exit(self.entry.pid, &to, reason)
    }

    /// Registers an event produced by this process; returns the token that authorizes
    /// `send_event`. The event ends when unregistered or when this process ends.
    ///
    /// # Errors
    /// [`Error::Taken`], [`Error::BadName`].
    pub fn register_event(&mut self, name: &str, opts: EventOptions) -> Result<Ref, Error> {
        self.node.inner.register_event(Some(&self.entry), name, opts)
    }

    /// Unregisters an event of this process; subscribers get exit/down with
    /// [`ExitReason::Unregistered`].
    ///
    /// # Errors
    /// [`Error::EventUnknown`], [`Error::EventOwner`].
    pub fn unregister_event(&mut self, name: &str) -> Result<(), Error> {
        self.node.inner.unregister_event(Some(&self.entry), name)
    }

    /// Publishes `msg` on event `name` to every subscriber (one shared copy, not one each).
    ///
    /// # Errors
    /// [`Error::EventUnknown`], [`Error::EventOwner`] (wrong token).
    pub fn send_event<M: Any + Send + Sync>(&mut self, name: &str, token: Ref, msg: M) -> Result<(), Error> {
        self.node.inner.send_event(self.entry.pid, self.send_priority, name, token, Box::new(msg))
    }

    /// Sends `msg` to `to` (a Pid, a name or an alias) after `after`, with this process's
    /// send priority, unless cancelled first through the returned handle. A name or alias is
    /// resolved when the timer fires, as in Ergo: the message goes to whoever holds it then, and
    /// is dropped if nobody does.
    pub fn send_after<M: Any + Send>(&mut self, to: impl Into<To>, msg: M, after: Duration) -> TimerHandle {
        let priority = self.send_priority;
        self.send_after_with_priority(to, msg, after, priority)
    }

    /// As [`Context::send_after`], into the receiver's queue of `priority`.
    pub fn send_after_with_priority<M: Any + Send>(
        &mut self,
        to: impl Into<To>,
        msg: M,
        after: Duration,
        priority: Priority,
    ) -> TimerHandle {
        let (from, to, msg) = (self.entry.pid, to.into(), Message::new(msg));
        let make = |timer| TimerAction::Send { from, to, priority, msg, timer };
        let shared = with_current(|w| w.map(|w| w.timers.borrow_mut().add_send(clock::deadline_ns(after), make)));
        let shared = shared.unwrap_or_else(|| {
            // Processes are polled only on workers; reaching here is a bug, reported loudly.
            self.log(tracing::Level::ERROR, "send_after outside a worker thread; timer dropped");
            TimerShared::detached()
        });
        TimerHandle { shared }
    }

    /// Waits for `after` (Ergo processes would use `SendAfter` to themselves for this): only
    /// this process waits; it handles no message meanwhile, as with `call`. Inside
    /// `select`-style combinators it is a plain timer future.
    pub fn sleep(&self, after: Duration) -> crate::runtime::timer::Sleep {
        crate::runtime::timer::Sleep::new(after)
    }

    /// Runs `f` on the node's blocking pool (never on a worker) and returns its outcome as a
    /// future: awaiting it suspends only this process, which handles no message meanwhile, as
    /// with `call`. Dropping the future detaches the job (it runs to its end; its outcome is
    /// discarded). A panic in `f` is the job's `Err`, not this process's end.
    ///
    /// # Errors
    /// The job's outcome: [`Error::BlockingPoolFull`] (every thread busy and the queue full:
    /// `ERGORS_META_THREADS`, `ERGORS_META_QUEUE`), [`Error::BlockingPanicked`],
    /// [`Error::NodeStopped`].
    pub fn spawn_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> crate::runtime::blocking::BlockingJob<T> {
        self.node.inner.blocking.spawn(f)
    }

    /// Timers held by this process's worker (pending, and cancelled ones not yet purged): for
    /// tests that check cancelled timers are freed.
    #[doc(hidden)]
    pub fn worker_timers(&self) -> usize {
        with_current(|w| w.map_or(0, |w| w.timers.borrow().len()))
    }

    /// The next message by priority, yielding the worker after `process_budget`
    /// messages in a row, or once the turn has run for `turn_budget` (checked every
    /// `TIME_CHECK` messages on the coarse clock).
    ///
    /// A poll function rather than an `async fn`, to keep the process's state machine small.
    pub(crate) fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Envelope> {
        // Killed while asleep (`Node::kill` unregistered it): this run only ends it. A kill
        // finds a process asleep only between turns, so the first receive of a turn suffices.
        if self.turn == 0 && !self.entry.is_alive() {
            return Poll::Ready(Envelope { from: self.entry.pid, payload: Payload::Shutdown(ExitReason::Kill) });
        }
        if self.held
            && let Some(polled) = self.poll_hold(cx)
        {
            return polled;
        }
        const TIME_CHECK: u32 = 8;
        if self.turn as usize >= self.node.inner.options.process_budget
            || (self.turn != 0
                && self.turn.is_multiple_of(TIME_CHECK)
                && with_current(|w| w.is_some_and(|w| w.turn_expired())))
        {
            self.end_turn();
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // SAFETY: this runs only inside the process's own task, polled by the worker holding
        // its Running state: we are the mailbox's single consumer.
        if let Some(e) = unsafe { self.entry.mailbox.pop_noting(&mut self.received) } {
            self.turn += 1;
            return Poll::Ready(e);
        }
        self.recv_idle(cx)
    }

    /// The mailbox is empty. When nothing else waits for this worker, look again for a moment
    /// before going to sleep: a stream or a round trip from another worker then costs its sender
    /// a store instead of a wake-up through the run queues (the worker would spin idle anyway).
    #[cold]
    fn recv_idle(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Envelope> {
        if with_current(|w| w.is_some_and(|w| w.may_spin())) {
            for i in 0..crate::runtime::worker::WAIT_SPIN {
                std::hint::spin_loop();
                // SAFETY: as in `poll_recv`.
                if let Some(e) = unsafe { self.entry.mailbox.pop_noting(&mut self.received) } {
                    self.turn += 1;
                    return Poll::Ready(e);
                }
                // A process woken onto this worker meanwhile goes first (D101).
                if i % 8 == 7 && with_current(|w| w.is_some_and(|w| w.others_waiting())) {
                    break;
                }
            }
        }
        // Killed while suspended in a callback on a future of its own (D34): it ends here rather
        // than sleep forever, unreachable.
        if !self.entry.is_alive() {
            return Poll::Ready(Envelope { from: self.entry.pid, payload: Payload::Shutdown(ExitReason::Kill) });
        }
        self.end_turn();
        // SAFETY: as in `poll_recv`.
        if unsafe { self.entry.mailbox.has_unpublished() } {
            // A sender is between its claim and its publication, and may have skipped waking us
            // (it saw us queued): come back for its message (SchedState).
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// The callback that sent to a long queue has returned: this process does not run again until
    /// the queue's consumer has worked it down to its low-water mark (and woken us), the
    /// consumer is gone, or `ERGORS_MAILBOX_HOLD_MAX_MS` has passed. A hold that would close a
    /// cycle of processes each waiting for the next is not taken (D70). Meanwhile only the
    /// Urgent and System queues (exit signals, downs) are served. `None` when the hold is over
    /// (the caller goes on as usual).
    #[cold]
    #[inline(never)]
    fn poll_hold(&mut self, cx: &mut std::task::Context<'_>) -> Option<Poll<Envelope>> {
        let Some(mut hold) = self.entry.with_rel(|r| r.hold.take()).flatten() else {
            self.held = false;
            return None;
        };
        let now = clock::now_ns();
        if hold.since == 0 {
            if !hold.target.is_alive()
                || hold.target.mailbox.is_relieved(hold.priority)
                || room::block_closes_cycle(&self.entry, &hold.target)
            {
                self.end_hold(hold, now, false);
                return None;
            }
            if !room::register_for_room(&hold.target, hold.priority, cx.waker()) {
                self.end_hold(hold, now, false);
                return None;
            }
            hold.registered = Some(cx.waker().clone());
            self.end_turn();
            hold.since = now;
            hold.deadline = now.saturating_add(self.node.inner.options.hold_max.as_nanos() as u64);
            hold.timer = WakeTimer::arm(hold.deadline, cx.waker());
            self.node.inner.held_turns.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        } else if !hold.target.is_alive() || !hold.target.mailbox.is_waiting(hold.priority, cx.waker()) {
            // The consumer has woken us (taken our waker), or is gone: we go, whatever the
            // length now. The producers it woke together may have filled the queue again before
            // we ran, and waiting again would let the quicker ones starve us.
            self.end_hold(hold, now, false);
            return None;
        } else if now >= hold.deadline {
            self.end_hold(hold, now, true);
            return None;
        }
        // Still registered: nothing to do but wait (put back for the next poll, and for
        // inspection: `held_by`).
        self.entry.with_rel(|r| r.hold = Some(hold));
        // Exit signals (Urgent) and downs (System) are never held up.
        for level in [Priority::Urgent, Priority::System] {
            // SAFETY: as in `poll_recv`: we are the mailbox's single consumer.
            if let Some(e) = unsafe { self.entry.mailbox.pop_at(level) } {
                self.turn += 1;
                self.received = level;
                return Some(Poll::Ready(e));
            }
            // SAFETY: as above.
            if unsafe { self.entry.mailbox.has_unpublished_at(level) } {
                cx.waker().wake_by_ref();
            }
        }
        if !self.entry.is_alive() {
            // Killed while held (`Node::kill` found it asleep and queued its last run).
            return Some(Poll::Ready(Envelope { from: self.entry.pid, payload: Payload::Shutdown(ExitReason::Kill) }));
        }
        Some(Poll::Pending)
    }

    /// The hold is over (or was never taken): its time is added to both processes' counters;
    /// dropping it takes back its registration and its timer.
    fn end_hold(&mut self, hold: Hold, now: u64, expired: bool) {
        self.held = false;
        room::unblock(&self.entry);
        if hold.since == 0 {
            return;
        }
        let held = now.saturating_sub(hold.since);
        self.entry.with_rel(|r| r.held_ns = r.held_ns.saturating_add(held));
        hold.target.mailbox.add_held(hold.priority, held);
        if expired {
            self.node.inner.holds_expired.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            node_log!(
                self.node.inner,
                DEBUG,
                "{} held back for {:?} by {} (queue {:?}), running anyway",
                self.entry.pid,
                Duration::from_nanos(held),
                hold.target.pid,
                hold.target.mailbox.lens()
            );
        }
    }

    /// Counts a send (a u32 keeps every process's state a word smaller; a callback that sends
    /// 2^32 messages publishes them as it wraps).
    #[inline(always)]
    fn count_sent(&mut self) {
        self.sent = self.sent.wrapping_add(1);
        if self.sent == 0 {
            Stats::add(&self.entry.stats.messages_out, 1 << 32);
        }
    }

    /// Publishes the turn's counts for inspection and starts a new turn.
    fn end_turn(&mut self) {
        Stats::add(&self.entry.stats.messages_in, u64::from(self.turn));
        self.turn = 0;
        if self.sent != 0 {
            Stats::add(&self.entry.stats.messages_out, u64::from(self.sent));
            self.sent = 0;
        }
    }

    /// The process is ending: release everything it holds.
    pub(crate) fn finish(&mut self, reason: &ExitReason) {
        // Still owed: `init` failed (or never ran). Told once the process is gone, so that the
        // spawner never sees a failed child alive.
        let init_report = self.take_init_report();
        self.end_turn();
        self.last_target = None;
        // A hold cut short by the end (a kill, an exit signal) gives back its registration and
        // timer as it drops.
        drop(self.entry.with_existing_rel(|r| r.hold.take()));
        self.node.inner.process_ended(&self.entry, reason);
        if let Some(report) = init_report {
            report.send(Some(reason));
        }
    }
}
