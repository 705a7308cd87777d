//! The node: starts the workers, owns the process table and the registry, and ties the parts
//! together. [`Node`] owns a running node (dropping it stops the node); [`NodeHandle`] is a cheap
//! clone for processes and other threads.
//!
//! By role: `handle.rs` (the public API), `routing.rs` (resolving destinations, pushing into
//! mailboxes), `spawn.rs` (placement, a new process), `exit.rs` (a process ending: exit signals,
//! kill, releasing what it held), `stop.rs` (the node stopping), `names.rs` (registry, names,
//! aliases), `watch.rs` (links, monitors), `events.rs`, `log.rs`, `info.rs` (inspection),
//! `cron.rs` and `cron_parse.rs` (the cron).
//! Layering (docs/decisions.md D60): `node` may import every layer below it; it calls up into
//! `act` only for what a spawn needs (the `Actor` trait and the loop that runs one).

pub mod cron;
mod cron_parse;
mod events;
mod exit;
mod extensions;
mod handle;
mod info;
mod log;
mod names;
mod routing;
mod spawn;
mod stop;
pub(crate) mod watch;

pub use handle::NodeHandle;
pub use info::{NodeInfo, ProcessInfo, ProcessState};
pub(crate) use spawn::SpawnHow;
pub use spawn::SpawnOptions;

pub(crate) use watch::Kind;

use crate::error::{Error, StartError};
use crate::message::{Atom, Message, Pid, Ref};
use crate::process::env::{Env, extend_env};
use crate::process::table::ProcessTable;
use crate::runtime::options::NodeOptions;
use crate::runtime::worker::{Worker, WorkerShared, Workers};
use crate::sys::affinity;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// What a node shares between its handles, workers and processes. Each file of `node/` adds the
/// methods of its role.
pub(crate) struct NodeInner {
    pub(crate) name: Atom,
    pub(crate) creation: i64,
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
    /// Processes moved to the worker whose ring completed their I/O (D225).
    pub(crate) adoptions: AtomicU64,
    /// Turns after which a producer was held back, and holds that ran out (D70).
    pub(crate) held_turns: AtomicU64,
    pub(crate) holds_expired: AtomicU64,
    /// The stall watchdog's findings (node info) and its thread's wake-up.
    pub(crate) watchdog: crate::runtime::watchdog::Watchdog,
    /// The node's cron (its jobs, and the thread or manual clock that runs them).
    pub(crate) cron: Arc<cron::CronCore>,
    next_ref: AtomicU64,
    stopping: AtomicBool,
    /// Replies to `Node::call` from plain threads, by ref id (`process::call`).
    pub(crate) external_calls: Mutex<HashMap<u64, SyncSender<Result<Message, Error>>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stopped: Mutex<bool>,
    stopped_cv: Condvar,
    started: Instant,
    /// State and stop hooks of the layers above (applications).
    pub(crate) extensions: extensions::Extensions,
    /// Threads for blocking code (`spawn_blocking`, blocking meta loops).
    pub(crate) blocking: crate::runtime::blocking::BlockingPool,
    /// Peers and links (`NodeOptions::network`); `None` when the network is disabled.
    pub(crate) net: Option<Arc<crate::net::network::Network>>,
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
        Ref { node: self.name, creation: self.creation, id: [self.next_ref.fetch_add(1, Ordering::Relaxed), 0, 0] }
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
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
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
        let inner = Arc::new_cyclic(|me| NodeInner {
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
            adoptions: AtomicU64::new(0),
            held_turns: AtomicU64::new(0),
            holds_expired: AtomicU64::new(0),
            watchdog: Default::default(),
            cron: cron::CronCore::new(me.clone(), options.cron_clock.clone()),
            next_ref: AtomicU64::new(1),
            stopping: AtomicBool::new(false),
            external_calls: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
            stopped: Mutex::new(false),
            stopped_cv: Condvar::new(),
            started: Instant::now(),
            extensions: Default::default(),
            blocking: crate::runtime::blocking::BlockingPool::new(name, options.meta_threads, options.meta_queue),
            net: (options.network.mode != crate::net::network::NetworkMode::Disabled)
                .then(|| Arc::new(crate::net::network::Network::new(atom, creation, options.network.clone()))),
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
        if failure.is_none()
            && let Err(e) = inner.start_cron()
        {
            failure = Some(StartError::Cron(e));
        }
        let node = Node { handle: NodeHandle { inner } };
        if failure.is_none()
            && let Err(e) = crate::net::network::start(&node.handle)
        {
            failure = Some(e);
        }
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
        let ctx =
            crate::act::context::Context::new(entry.clone(), node.handle(), Default::default(), tracing::Level::INFO);
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
