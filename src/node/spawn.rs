//! Spawning: [`SpawnOptions`], where a new process goes (placement), what environment it starts
//! with, and putting it in the table and on its worker's run queue.
//!
//! Runs on any thread. Never: runs the new process (its `init` is its first step on its worker,
//! D9), or blocks on it.

use super::{NodeHandle, NodeInner};
use crate::act::context::Context;
use crate::act::{Actor, run_actor};
use crate::error::Error;
use crate::message::{Name, Pid, Priority, Target};
use crate::node::Kind;
use crate::process::entry::{EntryInit, ProcessEntry};
use crate::process::env::{Env, extend_env, layer_env};
use crate::process::init::{InitReport, InitWait};
use crate::runtime::worker::schedule;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// How to spawn a process.
#[derive(Clone, Debug, Default)]
pub struct SpawnOptions {
    /// Capacity of each of the process's mailbox queues (default: the node's `mailbox_size`;
    /// `Some(0)` = unbounded).
    pub mailbox_size: Option<usize>,
    /// The backpressure threshold of the process's mailbox queues (default: the node's
    /// `mailbox_high_water`; `Some(0)` = no backpressure towards this process).
    pub mailbox_high_water: Option<usize>,
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
    /// Start on the worker where this (local, live) process runs now, free to move later: for
    /// a process that will talk mostly to that one (a connection and its handler). Ignored when
    /// `worker` or `colocate` is set, or the process is unknown (then round-robin).
    pub near: Option<Pid>,
    /// The group leader (default: the spawner's leader; the node's core Pid for the node). Its
    /// environment is layered between the node's and the parent's.
    pub leader: Option<Pid>,
    /// Link the new process to its parent before it first runs (Ergo's `LinkParent`): it gets
    /// an exit signal when the parent ends. Ignored when the node spawns.
    pub link_parent: bool,
    /// Link the parent to the new process before it first runs (Ergo's `LinkChild`): the parent
    /// gets an exit signal when the child ends, even in `init`. Ignored when the node spawns.
    pub link_child: bool,
    /// The registered name of the process that gets, wrapped in a
    /// [`MessageFallback`](crate::MessageFallback) with this tag, a message this process's full
    /// mailbox refused (Ergo's `ProcessOptions.Fallback`). Meaningless for an unbounded mailbox.
    pub fallback: Option<(Name, String)>,
    /// How the process compresses what it sends to other nodes (Ergo's
    /// `ProcessOptions.Compression`; default: the node's `NetworkOptions::compression`).
    pub compression: Option<crate::net::Compression>,
}

impl SpawnOptions {
    /// Sets the mailbox capacity per queue.
    pub fn mailbox_size(mut self, n: usize) -> Self {
        self.mailbox_size = Some(n);
        self
    }
    /// Sets the backpressure threshold of the process's queues (0 = none; D70).
    pub fn mailbox_high_water(mut self, n: usize) -> Self {
        self.mailbox_high_water = Some(n);
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
    /// Starts the process on the worker where `pid` runs now, not pinned (`SpawnOptions::near`).
    pub fn near(mut self, pid: Pid) -> Self {
        self.near = Some(pid);
        self
    }
    /// Links the new process to its parent before it runs (`SpawnOptions::link_parent`).
    pub fn link_parent(mut self) -> Self {
        self.link_parent = true;
        self
    }
    /// Links the parent to the new process before it runs (`SpawnOptions::link_child`).
    pub fn link_child(mut self) -> Self {
        self.link_child = true;
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
    /// Sets how the process compresses its sends to other nodes (`SpawnOptions::compression`).
    pub fn compression(mut self, c: crate::net::Compression) -> Self {
        self.compression = Some(c);
        self
    }
}

/// What a spawn needs besides the process's future.
pub(crate) struct SpawnHow<'a> {
    pub(crate) opts: &'a SpawnOptions,
    pub(crate) parent: Option<&'a Arc<ProcessEntry>>,
    pub(crate) name: Option<&'a str>,
    pub(crate) log_level: Option<tracing::Level>,
    pub(crate) init: Option<Arc<InitWait>>,
    /// The behaviour's type name, for inspection and the watchdog.
    pub(crate) behaviour: fn() -> &'static str,
}

impl NodeInner {
    /// Where a new process goes: `(worker, pinned)`.
    pub(crate) fn placement(&self, opts: &SpawnOptions, parent: Option<&ProcessEntry>) -> (usize, bool) {
        match (opts.worker, parent) {
            (Some(w), _) => (w % self.workers.list.len(), true),
            (None, Some(p)) if opts.colocate => (p.home(), true),
            _ => match opts.near.and_then(|pid| self.table.get(&pid)) {
                Some(e) => (e.home(), false),
                None => (self.next_worker(), false),
            },
        }
    }

    fn next_worker(&self) -> usize {
        self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers.list.len()
    }

    /// Spawns `actor`: a table slot, its environment and placement, its name (registered before
    /// it first runs), then its first turn queued on its worker.
    pub(crate) fn spawn_process<A: Actor>(
        self: &Arc<Self>,
        actor: A,
        opts: &SpawnOptions,
        parent: Option<&Arc<ProcessEntry>>,
        name: Option<&str>,
        log_level: Option<tracing::Level>,
        init: Option<Arc<InitWait>>,
    ) -> Result<Pid, Error> {
        let how = SpawnHow { opts, parent, name, log_level, init, behaviour: std::any::type_name::<A> };
        self.spawn_task(how, |_, ctx| Ok(run_actor(actor, ctx)))
    }

    /// Spawns a process whose future `make` builds from its entry and context (an actor's loop,
    /// or a meta process's: `meta`), after its name and links are in place and before it can
    /// run. An error from `make` takes the spawn back.
    pub(crate) fn spawn_task<F: std::future::Future<Output = ()> + Send + 'static>(
        self: &Arc<Self>,
        how: SpawnHow<'_>,
        make: impl FnOnce(&Arc<ProcessEntry>, Context) -> Result<F, Error>,
    ) -> Result<Pid, Error> {
        let SpawnHow { opts, parent, name, log_level, init, behaviour } = how;
        if self.stopping.load(Ordering::Acquire) {
            return Err(Error::NodeStopped);
        }
        let core = self.core_pid();
        let (parent_pid, leader, depth) = match parent {
            Some(p) => (p.pid, opts.leader.unwrap_or(p.leader), p.depth + 1),
            None => (core, opts.leader.unwrap_or(core), 0),
        };
        let env = self.spawn_env(parent.map(|p| &**p), leader, &opts.env);
        let (home, pinned) = self.placement(opts, parent.map(|p| &**p));
        let mailbox_size = opts.mailbox_size.unwrap_or(self.options.mailbox_size);
        let high_water = opts.mailbox_high_water.unwrap_or(self.options.mailbox_high_water);
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
                    behaviour,
                    parent: parent_pid,
                    leader,
                    depth,
                    mailbox_size,
                    high_water,
                    spawned_at_ns,
                    env,
                })
            })
            .ok_or(Error::NotAllowed("process table is full"))?;
        if fallback.is_some() {
            entry.with_rel(|r| r.fallback = fallback);
        }
        if let Some(c) = opts.compression {
            self.set_compression(&entry, c);
        }
        if let Some(name) = name {
            // Registered before the process first runs (so before `init`), as Ergo's SpawnRegister.
            if let Err(e) = self.register_name(&entry, name) {
                self.undo_spawn(&entry);
                return Err(e);
            }
        }
        if let Some(parent) = parent
            && let Err(e) = self.link_at_spawn(&entry, parent, opts)
        {
            self.undo_spawn(&entry);
            return Err(e);
        }
        let log_level = log_level.unwrap_or(self.options.log_level);
        let mut ctx = Context::new(entry.clone(), NodeHandle { inner: self.clone() }, opts.send_priority, log_level);
        if let Some(wait) = init {
            entry.with_rel(|r| r.init_report = Some(InitReport::new(wait)));
            ctx.set_reports_init();
        }
        match make(&entry, ctx) {
            Ok(task) => entry.set_task(Box::pin(task)),
            Err(e) => {
                self.undo_spawn(&entry);
                return Err(e);
            }
        }
        // `stop` sets `stopping` and then waits for the table to empty; we insert and then check
        // `stopping`. The fences make sure one of us sees the other (otherwise a process could
        // land after the workers are gone).
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.stopping.load(Ordering::Acquire) {
            self.undo_spawn(&entry);
            return Err(Error::NodeStopped);
        }
        let pid = entry.pid;
        schedule(entry);
        Ok(pid)
    }

    /// The links `opts` asks for between a new process and its parent, made before the child
    /// can run, so that nothing it does (even dying in `init`) goes unseen.
    fn link_at_spawn(
        &self,
        child: &Arc<ProcessEntry>,
        parent: &Arc<ProcessEntry>,
        opts: &SpawnOptions,
    ) -> Result<(), Error> {
        if opts.link_parent {
            self.watch(child, Target::Pid(parent.pid), Kind::Link)?;
        }
        if opts.link_child {
            self.watch(parent, Target::Pid(child.pid), Kind::Link)?;
        }
        Ok(())
    }

    /// Takes back a process that never ran: dead, out of the table, its name and links released
    /// (nobody watches it yet but a parent linked by `link_child`, whose link goes quietly).
    fn undo_spawn(&self, entry: &Arc<ProcessEntry>) {
        entry.mark_dead();
        self.table.remove(&entry.pid);
        if let Some(rel) = entry.take_rel() {
            if let Some(name) = &rel.name {
                self.drop_name(entry, name);
            }
            for (consumer, target) in rel.linked_by {
                if let Some(c) = self.table.get(&consumer) {
                    c.with_existing_rel(|r| r.links.retain(|t| *t != target));
                }
            }
            for target in rel.links {
                self.detach(entry.pid, target, Kind::Link);
            }
            for a in &rel.aliases {
                self.registry.aliases.write(a).remove(a);
            }
        }
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
}
