//! The node: starts the workers, owns the process table, routes messages, answers embedding
//! calls from plain threads, and stops everything in order.
//!
//! [`Node`] owns a running node (dropping it stops the node); [`NodeHandle`] is a cheap clone for
//! processes and other threads. Blocking methods (`call`, `stop`, `wait`) refuse to block a
//! worker thread.

mod events;
mod exit;
mod info;
mod log;
mod names;
mod routing;
mod watch;

pub use info::{NodeInfo, ProcessInfo, ProcessState};

pub(crate) use watch::Kind;

use crate::act::{Actor, run_actor};
use crate::error::{Error, StartError};
use crate::mailbox::Full;
use crate::message::{
    Addressed, Atom, Envelope, Event, EventOptions, ExitReason, Message, Name, Payload, Pid, Priority, ProcessId, Ref,
    To, Via,
};
use crate::process::context::{Context, Env, extend_env, layer_env};
use crate::process::entry::{EntryInit, ProcessEntry};
use crate::process::table::ProcessTable;
use crate::runtime::options::NodeOptions;
use crate::runtime::waker::notify;
use crate::runtime::worker::{Worker, WorkerShared, Workers, on_worker_thread, schedule};
use crate::sys::affinity;
use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How to spawn a process.
#[derive(Clone, Debug, Default)]
pub struct SpawnOptions {
    /// Capacity of each of the process's mailbox queues (default: the node's `mailbox_size`;
    /// `Some(0)` = unbounded).
    pub mailbox_size: Option<usize>,
    /// Priority of the messages this process sends (default Main).
    pub send_priority: Priority,
    /// Environment entries, added to (and overriding) what the process inherits.
    pub env: Vec<(String, String)>,
    /// The worker to run on, pinned there (other workers take the process only while that one
    /// is stalled). Default: the next worker round-robin, and free to move (an idle worker may
    /// take it from a busy one).
    pub worker: Option<usize>,
    /// Run on the spawning process's current worker, pinned there: for a chatty pair that should
    /// share a worker (ignored when the node spawns).
    pub colocate: bool,
    /// The group leader (default: the spawner's leader; the node's core Pid for the node). Its
    /// environment is layered between the node's and the parent's.
    pub leader: Option<Pid>,
    /// The registered name of the process that gets, wrapped in a
    /// [`MessageFallback`](crate::MessageFallback) with this tag, a message this process's full
    /// mailbox refused (Ergo's `ProcessOptions.Fallback`). Meaningless for an unbounded mailbox.
    pub fallback: Option<(Name, String)>,
}

impl SpawnOptions {
    /// Sets the mailbox capacity per queue.
    pub fn mailbox_size(mut self, n: usize) -> Self {
        self.mailbox_size = Some(n);
        self
    }
    /// Sets the default priority of the process's sends.
    pub fn send_priority(mut self, p: Priority) -> Self {
        self.send_priority = p;
        self
    }
    /// Adds an environment entry.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }
    /// Places the process on worker `index` (modulo the worker count) and pins it there.
    pub fn worker(mut self, index: usize) -> Self {
        self.worker = Some(index);
        self
    }
    /// Places the process on its spawner's current worker and pins it there (a chatty pair
    /// shares a worker: sends between them never cross cores).
    pub fn colocate(mut self) -> Self {
        self.colocate = true;
        self
    }
    /// Sets the group leader (Ergo's `ProcessOptions.Leader`; applications set it to themselves).
    pub fn leader(mut self, pid: Pid) -> Self {
        self.leader = Some(pid);
        self
    }
    /// Sends what a full mailbox refuses to the process registered as `name`, wrapped in a
    /// [`MessageFallback`](crate::MessageFallback) carrying `tag` (Ergo's
    /// `ProcessOptions.Fallback`). The sender then sees the outcome of that delivery. Requests
    /// (`call`) and messages already refused once are not redirected (D36).
    pub fn fallback(mut self, name: &str, tag: impl Into<String>) -> Self {
        self.fallback = Some((Name::from(name), tag.into()));
        self
    }
}

pub(crate) struct NodeInner {
    pub(crate) name: Atom,
    pub(crate) creation: u64,
    pub(crate) options: NodeOptions,
    pub(crate) table: ProcessTable,
    pub(crate) registry: names::Registry,
    /// The node's environment (`NodeOptions::env`, `ERGORS_ENV_*`, then `NodeHandle::set_env`):
    /// what processes spawned from now on start with.
    pub(crate) env: std::sync::RwLock<Env>,
    loggers: std::sync::RwLock<Vec<log::ProcessLogger>>,
    /// `loggers.len()`, readable without the lock on every log record.
    logger_count: AtomicUsize,
    pub(crate) workers: Arc<Workers>,
    next_worker: AtomicUsize,
    /// Processes a worker took from another one's queues (node info).
    pub(crate) migrations: AtomicU64,
    /// The stall watchdog's findings (node info) and its thread's wake-up.
    pub(crate) watchdog: crate::runtime::watchdog::Watchdog,
    next_ref: AtomicU64,
    stopping: AtomicBool,
    /// Replies to `Node::call` from plain threads, by ref id (`process::call`).
    pub(crate) external_calls: Mutex<HashMap<u64, SyncSender<Result<Message, Error>>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stopped: Mutex<bool>,
    stopped_cv: Condvar,
    started: Instant,
}

impl NodeInner {
    /// The Pid that stands for the node itself (parent of node-spawned processes and sender of
    /// the node's own messages). Slot 0, generation 0: never a table entry.
    pub(crate) fn core_pid(&self) -> Pid {
        Pid::from_parts(self.name, self.creation, 0, 0)
    }

    /// The node's environment now (a shared pointer: cheap).
    pub(crate) fn node_env(&self) -> Env {
        self.env.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `Err(NodeStopped)` once the node has begun to stop.
    pub(crate) fn check_running(&self) -> Result<(), Error> {
        if self.stopping.load(Ordering::Acquire) { Err(Error::NodeStopped) } else { Ok(()) }
    }

    pub(crate) fn make_ref(&self) -> Ref {
        Ref { node: self.name, creation: self.creation, id: self.next_ref.fetch_add(1, Ordering::Relaxed) }
    }

    /// Queues an envelope into a live process's mailbox and wakes it: the one way a message
    /// enters a mailbox. A request whose callee died in the meantime is answered at once.
    pub(crate) fn push(&self, target: &Arc<ProcessEntry>, priority: Priority, envelope: Envelope) -> Result<(), Error> {
        if !target.is_alive() {
            return Err(Error::ProcessUnknown);
        }
        let request = envelope.payload.request_ref().map(|r| (envelope.from, r));
        self.enqueue(target, priority, envelope, false, request.is_some())?;
        if let Some((from, ref_id)) = request {
            // The callee may have died after our liveness check and drained its mailbox before
            // our push: then nobody would answer and the caller would wait out its timeout. Our
            // push publishes with a SeqCst store and this load is SeqCst; the dying process's
            // `mark_dead` and its drain's loads are SeqCst too, so one of us sees the other
            // (D21). Answering twice is harmless: a call takes the first outcome for its ref.
            if !target.is_alive() {
                // Answering twice is harmless: a call takes the first outcome for its ref.
                self.fail_queued_request(from, ref_id);
            }
        }
        Ok(())
    }

    /// Queues a runtime signal regardless of the mailbox's capacity (and of liveness: a dead
    /// process's queues are dropped with it).
    pub(crate) fn push_forced(&self, target: &Arc<ProcessEntry>, priority: Priority, envelope: Envelope) {
        let _ = self.enqueue(target, priority, envelope, true, false);
    }

    #[inline(always)]
    fn enqueue(
        &self,
        target: &Arc<ProcessEntry>,
        priority: Priority,
        envelope: Envelope,
        forced: bool,
        sc: bool,
    ) -> Result<(), Error> {
        if let Err(Full(envelope)) = target.mailbox.push(priority, envelope, forced, sc) {
            return self.mailbox_full(target, priority, envelope);
        }
        notify(target);
        Ok(())
    }

    /// A full mailbox refused `envelope`: hand a plain message to the target's fallback process
    /// (`SpawnOptions::fallback`), if it has one, and report that delivery's outcome; otherwise
    /// (or for a request, or a message already redirected once) `MailboxFull`.
    #[cold]
    #[inline(never)]
    fn mailbox_full(&self, target: &Arc<ProcessEntry>, priority: Priority, envelope: Envelope) -> Result<(), Error> {
        let payload = match envelope.payload {
            Payload::Via(via) => via.payload,
            other => other,
        };
        let Payload::Message(message) = payload else { return Err(Error::MailboxFull) };
        // One hop: a fallback process whose own mailbox is full does not pass the message on
        // (two processes falling back to each other would loop).
        if message.is::<crate::MessageFallback>() {
            return Err(Error::MailboxFull);
        }
        let Some((name, tag)) = target.with_existing_rel(|r| r.fallback.clone()).flatten() else {
            return Err(Error::MailboxFull);
        };
        // An unknown fallback (or the process itself): the sender learns what happened to its
        // message, a full mailbox, not that some other process is missing (D36).
        let fallback = match self.resolve(&ProcessId { name, node: self.name }.into()) {
            Ok(f) if !Arc::ptr_eq(&f, target) => f,
            _ => return Err(Error::MailboxFull),
        };
        let wrapped = crate::MessageFallback { pid: target.pid, tag, message };
        self.push(
            &fallback,
            priority,
            Envelope { from: envelope.from, payload: Payload::Message(Message::new(wrapped)) },
        )
    }

    /// `envelope` as `target` should get it when sent to `to`: a message or request addressed by
    /// name or alias to a process that splits its handling carries the address (D37).
    pub(crate) fn addressed(to: &To, target: &ProcessEntry, envelope: Envelope) -> Envelope {
        if !target.split.load(Ordering::Relaxed) {
            return envelope;
        }
        let addressed = match to {
            To::Pid(_) => return envelope,
            To::Name(id) => Addressed::Name(id.name.clone()),
            To::Local(name) => Addressed::Name(name.clone()),
            To::Alias(a) => Addressed::Alias(*a),
        };
        match envelope.payload {
            payload @ (Payload::Message(_) | Payload::Request(..)) => {
                Envelope { from: envelope.from, payload: Payload::Via(Box::new(Via { to: addressed, payload })) }
            }
            payload => Envelope { from: envelope.from, payload },
        }
    }

    /// Where a new process goes: `(worker, pinned)`.
    pub(crate) fn placement(&self, opts: &SpawnOptions, parent: Option<&ProcessEntry>) -> (usize, bool) {
        match (opts.worker, parent) {
            (Some(w), _) => (w % self.workers.list.len(), true),
            (None, Some(p)) if opts.colocate => (p.home(), true),
            _ => (self.next_worker(), false),
        }
    }

    pub(crate) fn spawn_process<A: Actor>(
        self: &Arc<Self>,
        actor: A,
        opts: &SpawnOptions,
        parent: Option<&ProcessEntry>,
        name: Option<&str>,
        log_level: Option<tracing::Level>,
    ) -> Result<Pid, Error> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(Error::NodeStopped);
        }
        let core = self.core_pid();
        let (parent_pid, leader, depth) = match parent {
            Some(p) => (p.pid, opts.leader.unwrap_or(p.leader), p.depth + 1),
            None => (core, opts.leader.unwrap_or(core), 0),
        };
        let env = self.spawn_env(parent, leader, &opts.env);
        let (home, pinned) = self.placement(opts, parent);
        let mailbox_size = opts.mailbox_size.unwrap_or(self.options.mailbox_size);
        let fallback = opts.fallback.clone();
        let entry = self
            .table
            .insert(|pid| {
                let spawned_at_ns = self.started.elapsed().as_nanos() as u64;
                ProcessEntry::new(EntryInit {
                    pid,
                    workers: self.workers.clone(),
                    home,
                    pinned,
                    behaviour: std::any::type_name::<A>,
                    parent: parent_pid,
                    leader,
                    depth,
                    mailbox_size,
                    spawned_at_ns,
                    env,
                })
            })
            .ok_or(Error::NotAllowed("process table is full"))?;
        if fallback.is_some() {
            entry.with_rel(|r| r.fallback = fallback);
        }
        if let Some(name) = name {
            // Registered before the process first runs (so before `init`), as Ergo's SpawnRegister.
            if let Err(e) = self.register_name(&entry, name) {
                entry.mark_dead();
                self.table.remove(&entry.pid);
                return Err(e);
            }
        }
        let log_level = log_level.unwrap_or(self.options.log_level);
        let ctx = Context::new(entry.clone(), NodeHandle { inner: self.clone() }, opts.send_priority, log_level);
        entry.set_task(Box::pin(run_actor(actor, ctx)));
        // `stop` sets `stopping` and then waits for the table to empty; we insert and then check
        // `stopping`. The fences make sure one of us sees the other (otherwise a process could
        // land after the workers are gone).
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.stopping.load(Ordering::Acquire) {
            entry.mark_dead();
            self.table.remove(&entry.pid);
            return Err(Error::NodeStopped);
        }
        let pid = entry.pid;
        schedule(entry);
        Ok(pid)
    }

    /// A new process's environment: the node's, under the leader's (when the leader is a live
    /// process of this node other than the parent), under the parent's, plus `extra`. The parent
    /// inherited the node's and its own leader's at its spawn, so the common case shares the
    /// parent's map without copying.
    fn spawn_env(&self, parent: Option<&ProcessEntry>, leader: Pid, extra: &[(String, String)]) -> Env {
        let inherited = parent.is_some_and(|p| p.pid == leader || p.leader == leader);
        let leader_env = if leader == self.core_pid() || inherited {
            None
        } else {
            self.table.get(&leader).filter(|e| e.is_alive()).and_then(|e| e.env())
        };
        let base = match parent {
            Some(p) => layer_env(leader_env, p.env()),
            None => layer_env(self.node_env(), leader_env),
        };
        extend_env(base, extra)
    }

    /// Releases what a process held. Called once per process, on its worker, by the process's
    /// own future as it ends (or by the worker if a panic escaped the future).
    pub(crate) fn process_ended(&self, entry: &Arc<ProcessEntry>, reason: &ExitReason) {
        // A killed process was unregistered by its killer already; its mailbox is drained here,
        // on its worker, all the same.
        self.unregister_process(entry, reason);
        self.fail_queued_requests(entry);
    }

    /// Marks a process dead and releases its Pid, name, aliases, events and relations (its
    /// watchers get their exit/down with `reason`). The first caller does it (the ending process
    /// itself, or its killer on any thread); false for later ones.
    pub(crate) fn unregister_process(&self, entry: &Arc<ProcessEntry>, reason: &ExitReason) -> bool {
        if !entry.mark_dead() {
            return false;
        }
        self.table.remove(&entry.pid);
        if self.logger_count.load(Ordering::Acquire) > 0 {
            self.logger_remove(None, Some(entry.pid));
        }
        self.release_relations(entry, reason);
        match reason {
            ExitReason::Normal | ExitReason::Shutdown => {
                node_log!(self, TRACE, "process {} terminated: {reason}", entry.pid)
            }
            _ => node_log!(self, WARN, "process {} terminated abnormally: {reason}", entry.pid),
        }
        true
    }

    /// Fails the requests left in a dead process's mailbox. Runs on the process's worker (the
    /// mailbox's consumer), after `unregister_process`.
    fn fail_queued_requests(&self, entry: &Arc<ProcessEntry>) {
        // Whoever still waits on a request to this process learns now that no reply will come.
        // A request whose sender is mid-push is not waited for: that sender re-checks liveness
        // after its push and answers itself (`push`; D21).
        // SAFETY: we run inside the process's run (its own future, or the worker's panic path),
        // so we are the mailbox's single consumer, and nothing pops after this.
        unsafe {
            entry.mailbox.drain_ready(|envelope| {
                if let Some(ref_id) = envelope.payload.request_ref() {
                    self.fail_queued_request(envelope.from, ref_id);
                }
            })
        };
    }

    fn next_worker(&self) -> usize {
        self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers.list.len()
    }

    /// Terminates every process (deepest in the spawn tree first, so children end before their
    /// parents), then stops and joins the workers. Waits at most `shutdown_timeout` for the
    /// processes: what is left then is abandoned (logged with the Pids), and a worker still stuck
    /// in a callback is left to finish it on its own (its thread is detached). Idempotent.
    fn stop(self: &Arc<Self>) {
        if self.stopping.swap(true, Ordering::AcqRel) {
            self.wait_stopped();
            return;
        }
        std::sync::atomic::fence(Ordering::SeqCst);
        let deadline = Instant::now() + self.options.shutdown_timeout;
        let ended = self.stop_processes(deadline);
        if !ended {
            let left = self.table.entries();
            let pids: Vec<String> = left.iter().take(64).map(|e| e.pid.to_string()).collect();
            let more = if left.len() > 64 { format!(" and {} more", left.len() - 64) } else { String::new() };
            node_log!(
                self,
                WARN,
                "stop: {} processes did not end within {:?}; abandoned: {}{more}",
                left.len(),
                self.options.shutdown_timeout,
                pids.join(", ")
            );
            // Out of the table, so that nothing the node owns keeps them (and, through their
            // contexts, the node) alive; a process still being polled is dropped by its worker.
            for e in left {
                e.mark_dead();
                self.table.remove(&e.pid);
            }
        }
        self.watchdog.stop();
        for w in &self.workers.list {
            w.request_shutdown();
        }
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        // A worker stuck in a callback cannot be joined; give them until the deadline (plus a
        // moment to see the shutdown flag), then detach what is left.
        let join_by = deadline.max(Instant::now()) + Duration::from_millis(100);
        for t in threads {
            while !t.is_finished() && Instant::now() < join_by {
                std::thread::sleep(Duration::from_millis(1));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                node_log!(self, WARN, "stop: a worker thread is stuck in a callback; detached");
            }
        }
        self.external_calls.lock().unwrap_or_else(|p| p.into_inner()).clear();
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.stopped_cv.notify_all();
    }

    /// Sends every process the shutdown, deepest first, waiting for each level; false if some
    /// were still alive at `deadline`.
    fn stop_processes(&self, deadline: Instant) -> bool {
        let core = self.core_pid();
        // New spawns are refused from now on; a spawn already past that check may still land,
        // so repeat until the table stays empty.
        while self.table.len() > 0 {
            let mut by_depth: Vec<Arc<ProcessEntry>> = self.table.entries();
            by_depth.sort_by_key(|e| std::cmp::Reverse(e.depth));
            let mut i = 0;
            while i < by_depth.len() {
                let depth = by_depth[i].depth;
                let end = by_depth[i..].iter().position(|e| e.depth != depth).map_or(by_depth.len(), |n| i + n);
                let level = &by_depth[i..end];
                for e in level {
                    let exit = Envelope { from: core, payload: Payload::Shutdown(ExitReason::Shutdown) };
                    self.push_forced(e, Priority::Urgent, exit);
                    // A process waiting on a call would see the shutdown only after its timeout.
                    e.fail_pending_call(Error::NodeStopped);
                }
                while level.iter().any(|e| e.is_alive()) {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                i = end;
            }
        }
        true
    }

    fn wait_stopped(&self) {
        let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        while !*stopped {
            stopped = self.stopped_cv.wait(stopped).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A cheap, cloneable handle to a running node, usable from processes and any thread.
#[derive(Clone)]
pub struct NodeHandle {
    pub(crate) inner: Arc<NodeInner>,
}

impl NodeHandle {
    /// The node's name (`name@host`).
    pub fn name(&self) -> Atom {
        self.inner.name
    }

    /// The node's creation (start time, nanoseconds since the Unix epoch).
    pub fn creation(&self) -> u64 {
        self.inner.creation
    }

    /// The options the node runs with.
    pub fn options(&self) -> &NodeOptions {
        &self.inner.options
    }

    /// Number of live processes.
    pub fn process_count(&self) -> usize {
        self.inner.table.len()
    }

    /// How long the node has been running.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// A snapshot of what the process is and holds.
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`], [`Error::NodeStopped`] once the node is stopping.
    pub fn process_info(&self, pid: Pid) -> Result<ProcessInfo, Error> {
        self.inner.check_running()?;
        let e = self.inner.table.get(&pid).ok_or(Error::ProcessUnknown)?;
        Ok(self.inner.process_info(&e))
    }

    /// A snapshot of the node: processes by state, registrations, memory.
    pub fn info(&self) -> NodeInfo {
        self.inner.node_info()
    }

    /// True if `pid` names a live process of this node.
    pub fn is_alive(&self, pid: Pid) -> bool {
        self.inner.table.get(&pid).is_some_and(|e| e.is_alive())
    }

    /// Spawns a process with the node as its parent, on the next worker round-robin (or
    /// `opts.worker`).
    ///
    /// # Errors
    /// [`Error::NodeStopped`] when the node is stopping.
    pub fn spawn<A: Actor>(&self, actor: A, opts: SpawnOptions) -> Result<Pid, Error> {
        self.inner.spawn_process(actor, &opts, None, None, None)
    }

    /// As [`NodeHandle::spawn`], registering the process under `name` before its `init` runs.
    ///
    /// # Errors
    /// [`Error::Taken`], [`Error::BadName`], [`Error::NodeStopped`].
    pub fn spawn_register<A: Actor>(&self, name: &str, actor: A, opts: SpawnOptions) -> Result<Pid, Error> {
        self.inner.spawn_process(actor, &opts, None, Some(name), None)
    }

    /// A value of the node's environment (Ergo's `Node.Env`). Names are case-insensitive.
    pub fn env(&self, name: &str) -> Option<String> {
        self.inner.node_env().as_ref()?.get(&name.to_uppercase()).cloned()
    }

    /// Sets (`Some`) or removes (`None`) a variable of the node's environment (Ergo's
    /// `Node.SetEnv`). Processes spawned later by the node start with it (and, through their
    /// parents, their children spawned later); running processes keep the environment they have.
    pub fn set_env(&self, name: &str, value: Option<&str>) {
        let mut env = self.inner.env.write().unwrap_or_else(|p| p.into_inner());
        let map = Arc::make_mut(env.get_or_insert_with(Default::default));
        match value {
            Some(v) => map.insert(name.to_uppercase(), v.to_string()),
            None => map.remove(&name.to_uppercase()),
        };
    }

    /// The node's whole environment, sorted by name (names upper-cased; Ergo's `Node.EnvList`).
    pub fn env_list(&self) -> Vec<(String, String)> {
        crate::process::context::env_list(&self.inner.node_env())
    }

    /// The Pid registered under `name` on this node, if any.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.inner.whereis(name)
    }

    /// Registers `name` for the local process `pid` (Ergo's `node.RegisterName`): as if the
    /// process had called `Context::register_name`.
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`] (no such live process), [`Error::Taken`] (the name is in use, or
    /// the process already has a name), [`Error::BadName`].
    pub fn register_name(&self, name: &str, pid: Pid) -> Result<(), Error> {
        let entry = self.inner.table.get(&pid).filter(|e| e.is_alive()).ok_or(Error::ProcessUnknown)?;
        self.inner.register_name(&entry, name)
    }

    /// Drops the registration of `name`, whichever local process holds it (Ergo's
    /// `node.UnregisterName`); links and monitors made on the name fire with
    /// [`ExitReason::Unregistered`]. Returns the process that held it.
    ///
    /// # Errors
    /// [`Error::NameUnknown`].
    pub fn unregister_name(&self, name: &str) -> Result<Pid, Error> {
        self.inner.unregister_name_of(name)
    }

    /// The Pids of every live process of this node, in no particular order (Ergo's
    /// `node.ProcessList`).
    pub fn processes(&self) -> Vec<Pid> {
        self.inner.table.entries().iter().filter(|e| e.is_alive()).map(|e| e.pid).collect()
    }

    /// The [`ProcessId`] for `name` on this node (for sends, calls, links and monitors by name).
    pub fn process_id(&self, name: &str) -> ProcessId {
        ProcessId { name: Name::new(name), node: self.inner.name }
    }

    /// The [`Event`] named `name` on this node (to link or monitor it).
    pub fn event(&self, name: &str) -> Event {
        Event { name: Name::new(name), node: self.inner.name }
    }

    /// Sends an exit signal to `to` from the node. A process the node spawned cannot trap it
    /// (the node is its parent); deeper processes that trap exits get a
    /// [`MessageExit`](crate::MessageExit).
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`].
    pub fn send_exit(&self, to: Pid, reason: ExitReason) -> Result<(), Error> {
        self.inner.send_exit(self.inner.core_pid(), &to, reason)
    }

    /// Ends `to` with reason `kill`, which cannot be trapped (Ergo's `Kill`). A process that is
    /// not running a callback is removed before this returns: no longer alive, its name free,
    /// `process_info` unknown, its links and monitors fired with `kill`; its `terminate` then runs
    /// with [`ExitReason::Kill`] on its worker. A process inside a callback ends with `kill` when
    /// the callback returns (a `call` it is waiting on fails at once with
    /// [`Error::Terminated`]), and its `terminate` runs too.
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`].
    pub fn kill(&self, to: Pid) -> Result<(), Error> {
        self.inner.kill(&to)
    }

    /// Registers an event produced by the node itself (it ends when unregistered or when the
    /// node stops); returns the token for `send_event`.
    ///
    /// # Errors
    /// [`Error::Taken`], [`Error::BadName`].
    pub fn register_event(&self, name: &str, opts: EventOptions) -> Result<Ref, Error> {
        self.inner.register_event(None, name, opts)
    }

    /// Unregisters an event the node registered.
    ///
    /// # Errors
    /// [`Error::EventUnknown`], [`Error::EventOwner`].
    pub fn unregister_event(&self, name: &str) -> Result<(), Error> {
        self.inner.unregister_event(None, name)
    }

    /// Publishes `msg` on event `name` (any holder of the token may publish).
    ///
    /// # Errors
    /// [`Error::EventUnknown`], [`Error::EventOwner`].
    pub fn send_event<M: Any + Send + Sync>(&self, name: &str, token: Ref, msg: M) -> Result<(), Error> {
        self.inner.send_event(self.inner.core_pid(), Priority::Main, name, token, Box::new(msg))
    }

    /// Sends `msg` to `to` (Main priority) from the node itself.
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`], [`Error::MailboxFull`], [`Error::NodeStopped`] once the node
    /// is stopping.
    pub fn send<M: Any + Send>(&self, to: impl Into<To>, msg: M) -> Result<(), Error> {
        self.send_with_priority(to, msg, Priority::Main)
    }

    /// Sends `msg` to `to` into the queue of `priority`.
    ///
    /// # Errors
    /// As for [`NodeHandle::send`].
    pub fn send_with_priority<M: Any + Send>(
        &self,
        to: impl Into<To>,
        msg: M,
        priority: Priority,
    ) -> Result<(), Error> {
        self.inner.check_running()?;
        let to = to.into();
        let target = self.inner.resolve(&to)?;
        let envelope = Envelope { from: self.inner.core_pid(), payload: Payload::Message(Message::new(msg)) };
        self.inner.push(&target, priority, NodeInner::addressed(&to, &target, envelope))
    }

    /// Makes a request from a plain thread and blocks it until the reply (default timeout).
    ///
    /// # Errors
    /// As [`Context::call`], plus [`Error::WouldBlockWorker`] when called on a worker thread and
    /// [`Error::NodeStopped`] once the node is stopping.
    pub fn call<M: Any + Send>(&self, to: impl Into<To>, request: M) -> Result<Message, Error> {
        self.call_timeout(to, request, self.inner.options.call_timeout)
    }

    /// As [`NodeHandle::call`] with an explicit timeout. `Duration::ZERO` means the node's
    /// default call timeout (Ergo treats a timeout ≤ 0 the same way), not "fail at once".
    ///
    /// # Errors
    /// As for [`NodeHandle::call`].
    pub fn call_timeout<M: Any + Send>(
        &self,
        to: impl Into<To>,
        request: M,
        timeout: Duration,
    ) -> Result<Message, Error> {
        self.inner.call_external(to.into(), Message::new(request), timeout)
    }

    /// Stops the node: every process ends with reason `shutdown` (children before parents), then
    /// the workers are joined. Blocks until done, except on a worker thread, where it starts the
    /// stop on a helper thread and returns at once.
    pub fn stop(&self) {
        if on_worker_thread() {
            let inner = self.inner.clone();
            let _ = std::thread::Builder::new().name("ergors-stop".into()).spawn(move || inner.stop());
            return;
        }
        self.inner.stop();
    }

    /// Blocks until the node has stopped (by `stop` from anywhere).
    ///
    /// # Errors
    /// [`Error::WouldBlockWorker`] on a worker thread.
    pub fn wait(&self) -> Result<(), Error> {
        if on_worker_thread() {
            return Err(Error::WouldBlockWorker("wait"));
        }
        self.inner.wait_stopped();
        Ok(())
    }

    /// Makes process `pid` a logger called `name`: every record a process logs at one of
    /// `levels` (all levels when empty) is delivered to it as a [`MessageLog`] in its Log queue
    /// (`Actor::handle_log`). A process is one logger at most; it is removed when it ends.
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`], [`Error::Taken`] (name in use), [`Error::NotAllowed`].
    pub fn logger_add_pid(&self, pid: Pid, name: &str, levels: &[tracing::Level]) -> Result<(), Error> {
        self.inner.logger_add(pid, name, levels)
    }

    /// Logs a record of the node itself (Ergo's `node.Log()`), if the node's level
    /// (`ERGORS_LOG`) lets it through: to `tracing` and to the process loggers, with
    /// [`LogSource::Node`].
    pub fn log(&self, level: tracing::Level, text: impl std::fmt::Display) {
        if self.inner.options.log_level >= level {
            self.inner.node_log(level, &text.to_string());
        }
    }

    /// Removes the process logger called `name`; false if there was none.
    pub fn logger_remove(&self, name: &str) -> bool {
        self.inner.logger_remove(Some(name), None)
    }

    /// True once `stop` has begun.
    pub fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::Acquire)
    }
}

/// A running node. Dropping it stops the node (as [`NodeHandle::stop`]).
pub struct Node {
    handle: NodeHandle,
}

impl std::ops::Deref for Node {
    type Target = NodeHandle;
    fn deref(&self) -> &NodeHandle {
        &self.handle
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.handle.stop();
    }
}

fn valid_name(name: &str) -> bool {
    let mut parts = name.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(n), Some(h), None) if !n.is_empty() && !h.is_empty())
        && name.len() <= 255
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl Node {
    /// Starts a node named `name@host` with one worker thread (and io_uring ring) per
    /// `options.workers`.
    ///
    /// # Errors
    /// [`StartError::InvalidName`], [`StartError::InvalidOption`],
    /// [`StartError::IoUringUnavailable`] (naming the cause and the fix), [`StartError::Io`].
    ///
    /// # Examples
    /// ```no_run
    /// let node = ergors::Node::start("demo@localhost", ergors::NodeOptions::from_env()?)?;
    /// node.stop();
    /// # Ok::<(), ergors::StartError>(())
    /// ```
    pub fn start(name: &str, options: NodeOptions) -> Result<Node, StartError> {
        if !valid_name(name) {
            return Err(StartError::InvalidName(name.to_string()));
        }
        options.validate()?;
        let creation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        let atom = Atom::new(name);
        let mut list = Vec::with_capacity(options.workers);
        let mut queues = Vec::with_capacity(options.workers);
        for i in 0..options.workers {
            let (shared, q) = WorkerShared::new(i);
            list.push(Arc::new(shared));
            queues.push(q);
        }
        let workers = Arc::new(Workers { list });
        let inner = Arc::new(NodeInner {
            name: atom,
            creation,
            table: ProcessTable::new(atom, creation),
            registry: Default::default(),
            env: std::sync::RwLock::new(extend_env(None, &options.env)),
            loggers: Default::default(),
            logger_count: AtomicUsize::new(0),
            workers: workers.clone(),
            next_worker: AtomicUsize::new(0),
            migrations: AtomicU64::new(0),
            watchdog: Default::default(),
            next_ref: AtomicU64::new(1),
            stopping: AtomicBool::new(false),
            external_calls: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
            stopped: Mutex::new(false),
            stopped_cv: Condvar::new(),
            started: Instant::now(),
            options,
        });
        let cpus = affinity::allowed_cpus();
        let (ready_tx, ready_rx) = sync_channel::<Result<(), StartError>>(workers.list.len());
        let mut threads = Vec::new();
        let mut failure = None;
        for (shared, queues) in workers.list.iter().cloned().zip(queues) {
            let node = inner.clone();
            let workers = workers.clone();
            let ready = ready_tx.clone();
            let cpu = (inner.options.pin_workers && !cpus.is_empty()).then(|| cpus[shared.index % cpus.len()]);
            let spawned = std::thread::Builder::new().name(format!("ergors-w{}", shared.index)).spawn(move || {
                if let Some(cpu) = cpu
                    && let Err(e) = affinity::pin_current_thread(cpu)
                {
                    node_log!(node, WARN, "cannot pin a worker to cpu {cpu}: {e}; running unpinned");
                }
                match Worker::new(shared, queues, workers, node) {
                    Ok(w) => {
                        let _ = ready.send(Ok(()));
                        w.run();
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                }
            });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    failure = Some(StartError::Io(e));
                    break;
                }
            }
        }
        drop(ready_tx);
        for _ in 0..threads.len() {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    failure.get_or_insert(e);
                }
                Err(_) => {
                    failure.get_or_insert(StartError::Io(std::io::Error::other("a worker thread died during start")));
                }
            }
        }
        *inner.threads.lock().unwrap_or_else(|p| p.into_inner()) = threads;
        if failure.is_none()
            && let Err(e) = crate::runtime::watchdog::Watchdog::start(&inner)
        {
            failure = Some(StartError::Io(e));
        }
        let node = Node { handle: NodeHandle { inner } };
        if let Some(e) = failure {
            node.handle.inner.stop();
            return Err(e);
        }
        node_log!(node.handle.inner, INFO, "node started with {} workers", node.handle.inner.options.workers);
        Ok(node)
    }

    /// A cloneable handle for other threads.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }
}
#[cfg(test)]
mod footprint {
    //! The memory of an idle process is the entry plus its boxed future plus a table slot; the
    //! budget (ARCHITECTURE.md: a few hundred bytes) is guarded here, deterministically.

    struct Idle;
    impl crate::Actor for Idle {}

    fn size_of_future<F: std::future::Future>(_: &F) -> usize {
        std::mem::size_of::<F>()
    }

    #[test]
    fn idle_process_stays_small() {
        let node = crate::Node::start("footprint@h", crate::NodeOptions::default().workers(1)).unwrap();
        let entry = node
            .inner
            .table
            .insert(|pid| {
                crate::process::entry::ProcessEntry::new(crate::process::entry::EntryInit::standalone(
                    pid,
                    node.inner.workers.clone(),
                ))
            })
            .unwrap();
        let ctx = crate::process::context::Context::new(
            entry.clone(),
            node.handle(),
            Default::default(),
            tracing::Level::INFO,
        );
        let entry_size = size_of::<crate::process::entry::ProcessEntry>();
        let future_size = size_of_future(&crate::act::run_actor(Idle, ctx));
        eprintln!("idle process: entry {entry_size} B, future {future_size} B");
        // Remove before asserting: a never-run process in the table would hold up the stop.
        node.inner.table.remove(&entry.pid);
        entry.mark_dead();
        // The entry lives in an `Arc` (16 bytes of counts) that glibc serves from a 288-byte chunk
        // (request + 8, rounded up to 16) for any entry of 249..=264 bytes.
        assert!(entry_size <= 264, "process entry grew to {entry_size} bytes");
        assert!(future_size <= 256, "idle actor future grew to {future_size} bytes");
    }
}
