//! [`NodeHandle`]: the node's public API for processes and plain threads (spawn, send, call,
//! names, events, exits, environment, logging, inspection, stop).
//!
//! Each method is thin: it checks its arguments and calls the node's machinery (`routing.rs`,
//! `spawn.rs`, `names.rs`, `events.rs`, `exit.rs`, `stop.rs`). Never: blocks a worker thread
//! (`call` and `wait` refuse with `WouldBlockWorker`; `stop` hands off to a helper thread).

use super::info::{NodeInfo, ProcessInfo};
use super::{NodeInner, SpawnOptions};
use crate::act::Actor;
use crate::error::Error;
use crate::message::{
    Atom, Envelope, Event, EventOptions, ExitReason, Message, Name, Payload, Pid, Priority, ProcessId, Ref, To,
};
use crate::process::init::InitWait;
use crate::process::room::WaitRoom;
use crate::runtime::options::NodeOptions;
use crate::runtime::worker::on_worker_thread;
use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

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

    /// Where the node's network acceptor listens; `None` when the network is disabled.
    pub fn network_address(&self) -> Option<std::net::SocketAddr> {
        self.inner.net.as_ref().and_then(|n| n.local.get().copied())
    }

    /// The nodes this one is connected to now (Ergo's `Network().Nodes()`).
    pub fn peers(&self) -> Vec<Atom> {
        self.inner.net.as_ref().map(|n| n.peer_names()).unwrap_or_default()
    }

    /// What this node knows of the connected node `node`; `None` when not connected.
    pub fn peer_info(&self, node: Atom) -> Option<crate::net::PeerInfo> {
        self.inner.net.as_ref().and_then(|n| n.peer_info(node))
    }

    /// The node's creation (start time, nanoseconds since the Unix epoch; Ergo's `Creation`).
    pub fn creation(&self) -> i64 {
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
        self.inner.spawn_process(actor, &opts, None, None, None, None)
    }

    /// As [`NodeHandle::spawn`], registering the process under `name` before its `init` runs.
    ///
    /// # Errors
    /// [`Error::Taken`], [`Error::BadName`], [`Error::NodeStopped`].
    pub fn spawn_register<A: Actor>(&self, name: &str, actor: A, opts: SpawnOptions) -> Result<Pid, Error> {
        self.inner.spawn_process(actor, &opts, None, Some(name), None, None)
    }

    /// Spawns a process and blocks this plain thread until its `init` has run (Ergo's `Spawn`):
    /// the Pid of a process that is up, or why it is not.
    ///
    /// # Errors
    /// [`Error::InitFailed`] with the reason `init` returned (or its panic); the errors of
    /// [`NodeHandle::spawn`]; [`Error::WouldBlockWorker`] on a worker thread.
    pub fn spawn_wait<A: Actor>(&self, actor: A, opts: SpawnOptions) -> Result<Pid, Error> {
        self.spawn_wait_inner(actor, opts, None)
    }

    /// As [`NodeHandle::spawn_wait`], registering the process under `name` before its `init`.
    ///
    /// # Errors
    /// As for [`NodeHandle::spawn_wait`] and [`NodeHandle::spawn_register`].
    pub fn spawn_register_wait<A: Actor>(&self, name: &str, actor: A, opts: SpawnOptions) -> Result<Pid, Error> {
        self.spawn_wait_inner(actor, opts, Some(name))
    }

    fn spawn_wait_inner<A: Actor>(&self, actor: A, opts: SpawnOptions, name: Option<&str>) -> Result<Pid, Error> {
        if on_worker_thread() {
            return Err(Error::WouldBlockWorker("spawn_wait"));
        }
        let wait = InitWait::new();
        let pid = self.inner.spawn_process(actor, &opts, None, name, None, Some(wait.clone()))?;
        crate::process::init::wait_blocking(&wait)?;
        Ok(pid)
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
        crate::process::env::env_list(&self.inner.node_env())
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
        let envelope = Envelope { from: self.inner.core_pid(), payload: Payload::Message(Message::new(msg)) };
        if let Some(node) = self.inner.remote_node(&to) {
            return self.inner.push_remote(node, &to, priority, envelope);
        }
        let target = self.inner.resolve(&to)?;
        self.inner.push(&target, priority, NodeInner::addressed(&to, &target, envelope))
    }

    /// Sends `msg` to `to` (Main priority) from a plain thread, first blocking it while the
    /// target's queue is at its limit (its capacity or its high-water mark, whichever is lower),
    /// up to `timeout` (`Duration::ZERO`: the node's default call timeout). The blocking twin of
    /// [`Context::send_wait`](crate::Context::send_wait).
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`], [`Error::Timeout`] (the message is not sent),
    /// [`Error::WouldBlockWorker`] on a worker thread, [`Error::NodeStopped`].
    pub fn send_wait<M: Any + Send>(&self, to: impl Into<To>, msg: M, timeout: Duration) -> Result<(), Error> {
        if on_worker_thread() {
            return Err(Error::WouldBlockWorker("send_wait"));
        }
        self.inner.check_running()?;
        let to = to.into();
        let target = self.inner.resolve(&to)?;
        let envelope = Envelope { from: self.inner.core_pid(), payload: Payload::Message(Message::new(msg)) };
        let envelope = NodeInner::addressed(&to, &target, envelope);
        let timeout = crate::process::call::effective_timeout(&self.inner, timeout);
        self.inner.send_wait_blocking(WaitRoom::new(None, target, Priority::Main, envelope, Some(timeout)))
    }

    /// Makes a request from a plain thread and blocks it until the reply (default timeout).
    ///
    /// # Errors
    /// As [`Context::call`](crate::Context::call), plus [`Error::WouldBlockWorker`] when called on a worker thread and
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
    /// `levels` (all levels when empty) is delivered to it as a [`MessageLog`](crate::MessageLog) in its Log queue
    /// (`Actor::handle_log`). A process is one logger at most; it is removed when it ends.
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`], [`Error::Taken`] (name in use), [`Error::NotAllowed`].
    pub fn logger_add_pid(&self, pid: Pid, name: &str, levels: &[tracing::Level]) -> Result<(), Error> {
        self.inner.logger_add(pid, name, levels)
    }

    /// Logs a record of the node itself (Ergo's `node.Log()`), if the node's level
    /// (`ERGORS_LOG`) lets it through: to `tracing` and to the process loggers, with
    /// [`LogSource::Node`](crate::LogSource::Node).
    pub fn log(&self, level: tracing::Level, text: impl std::fmt::Display) {
        if self.inner.options.log_level >= level {
            self.inner.node_log(level, &text.to_string());
        }
    }

    /// Removes the process logger called `name`; false if there was none.
    pub fn logger_remove(&self, name: &str) -> bool {
        self.inner.logger_remove(Some(name), None)
    }

    /// Runs `f` on the node's blocking pool, for code outside processes: await the returned job,
    /// or [`BlockingJob::wait`](crate::BlockingJob::wait) on it from a plain thread. Dropping it
    /// detaches the job (it runs; its outcome is discarded).
    ///
    /// # Errors
    /// The job's outcome: [`Error::BlockingPoolFull`], [`Error::BlockingPanicked`],
    /// [`Error::NodeStopped`].
    pub fn spawn_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> crate::runtime::blocking::BlockingJob<T> {
        self.inner.blocking.spawn(f)
    }

    /// True once `stop` has begun.
    pub fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::Acquire)
    }
}
