//! Inspection: [`ProcessInfo`] and [`NodeInfo`], what an observer shows. Snapshots, racy by
//! nature; reading them takes the process's relations lock briefly and nothing else.

use crate::message::{Alias, Atom, Name, Pid, Target};
use crate::node::NodeInner;
use crate::process::entry::ProcessEntry;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// A process's life stage (Ergo's `gen.ProcessState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessState {
    /// Spawned; `init` has not completed.
    Init,
    /// Waiting for messages.
    Sleep,
    /// Being run by its worker.
    Running,
    /// Waiting for the reply to a `call`.
    WaitResponse,
    /// Ended.
    Terminated,
}

/// What a process is and holds (Ergo's `gen.ProcessInfo`).
#[derive(Clone, Debug)]
pub struct ProcessInfo {
    /// Its Pid.
    pub pid: Pid,
    /// Its registered name.
    pub name: Option<Name>,
    /// Its life stage.
    pub state: ProcessState,
    /// Who spawned it.
    pub parent: Pid,
    /// Its group leader.
    pub leader: Pid,
    /// Its aliases.
    pub aliases: Vec<Alias>,
    /// The aliases of the meta processes it spawned that still run (Ergo's `ProcessInfo.Metas`).
    pub metas: Vec<Alias>,
    /// Events it produces.
    pub events: Vec<Name>,
    /// What it links to.
    pub links: Vec<Target>,
    /// What it monitors.
    pub monitors: Vec<Target>,
    /// How many processes link to it (by Pid, name or alias).
    pub linked_by: usize,
    /// How many processes monitor it.
    pub monitored_by: usize,
    /// Messages waiting, per queue: Urgent, System, Main, Log.
    pub mailbox: [usize; 4],
    /// Messages it has taken from its mailbox. Published when the process ends a turn (sleeps,
    /// yields or waits on a `call`), so a busy process may show fewer; `Context::info` is exact.
    pub messages_in: u64,
    /// Messages and requests it has sent; published as `messages_in` is.
    pub messages_out: u64,
    /// Time its worker spent running it.
    pub running_time: Duration,
    /// Time it spent held back because a process it sent to had a long queue (D70).
    pub held_back: Duration,
    /// Time the processes sending to it spent held back by its long queues, summed.
    pub producers_held_back: Duration,
    /// The process whose long queue holds it back right now, if any.
    pub held_by: Option<Pid>,
    /// Time since it was spawned.
    pub uptime: Duration,
    /// The worker it runs on (processes not pinned may move to another worker).
    pub worker: usize,
    /// Its actor type.
    pub behaviour: &'static str,
    /// Its environment, sorted by name (docs/decisions.md D17: shown to local callers; remote
    /// inspection will be governed by a security option).
    pub env: Vec<(String, String)>,
}

/// What a node is running (Ergo's `gen.NodeInfo`).
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// The node's name.
    pub name: Atom,
    /// Time since start.
    pub uptime: Duration,
    /// Worker threads.
    pub workers: usize,
    /// Live processes.
    pub processes_total: usize,
    /// Of those: being run now, waiting on a call, still in `init`.
    pub processes_running: usize,
    /// Waiting on a call.
    pub processes_wait_response: usize,
    /// Still in `init`.
    pub processes_init: usize,
    /// Registered names, aliases and events.
    pub registered_names: usize,
    /// Registered aliases.
    pub registered_aliases: usize,
    /// Registered events.
    pub registered_events: usize,
    /// Resident memory of the OS process, in bytes (from /proc/self/statm).
    pub memory_rss: u64,
    /// Workers stuck in one poll longer than `ERGORS_STALL_MS` right now, with the process.
    pub stalled_workers: Vec<crate::runtime::watchdog::StalledWorker>,
    /// Stalls the watchdog has seen since the node started.
    pub stalls: u64,
    /// Times a worker took a process from another worker's queues (load balancing).
    pub migrations: u64,
    /// Times a process woken by a completed ring request moved to the worker of that ring (D225).
    pub adoptions: u64,
    /// Turns after which a process was held back by a long queue it sent to (D70).
    pub held_turns: u64,
    /// Holds that ended because `ERGORS_MAILBOX_HOLD_MAX_MS` passed, not because the queue drained.
    pub holds_expired: u64,
    /// What the workers' rings offer and use (multishot, zero-copy sends, buffers).
    pub io: crate::io::IoFeatures,
    /// Ring requests in flight on all workers (sockets waiting, sends not yet done).
    pub io_in_flight: usize,
    /// Threads of the blocking pool alive now (`ERGORS_META_THREADS` at most).
    pub blocking_threads: usize,
    /// Of those, running a job now.
    pub blocking_busy: usize,
    /// Jobs waiting for a blocking thread (`ERGORS_META_QUEUE` at most).
    pub blocking_queued: usize,
}

fn state_of(e: &ProcessEntry) -> ProcessState {
    if !e.is_alive() {
        ProcessState::Terminated
    } else if !e.initialized.load(Relaxed) {
        ProcessState::Init
    } else if e.call.lock().unwrap_or_else(|p| p.into_inner()).is_waiting() {
        ProcessState::WaitResponse
    } else if e.sched.is_running() {
        ProcessState::Running
    } else {
        ProcessState::Sleep
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf with a valid name has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

impl NodeInner {
    pub(crate) fn process_info(&self, e: &ProcessEntry) -> ProcessInfo {
        let ((name, aliases, events, links, monitors, linked_by, monitored_by), (held_by, held_ns), metas) = e
            .with_existing_rel(|r| {
                (
                    (
                        r.name.clone(),
                        r.aliases.clone(),
                        r.events.clone(),
                        r.links.clone(),
                        r.monitors.clone(),
                        r.linked_by.len(),
                        r.monitored_by.len(),
                    ),
                    (r.hold.as_ref().and_then(crate::process::room::Hold::held_by), r.held_ns),
                    r.metas.clone(),
                )
            })
            .unwrap_or_default();
        let now = self.started.elapsed();
        ProcessInfo {
            pid: e.pid,
            name,
            state: state_of(e),
            parent: e.parent,
            leader: e.leader,
            aliases,
            metas,
            events,
            links,
            monitors,
            linked_by,
            monitored_by,
            mailbox: e.mailbox.lens(),
            messages_in: e.stats.messages_in.load(Relaxed),
            messages_out: e.stats.messages_out.load(Relaxed),
            running_time: Duration::from_nanos(e.stats.running_ns.load(Relaxed)),
            held_back: Duration::from_nanos(held_ns),
            producers_held_back: Duration::from_nanos(e.mailbox.held_ns()),
            held_by,
            uptime: now.saturating_sub(Duration::from_nanos(e.stats.spawned_at_ns)),
            worker: e.home(),
            behaviour: (e.behaviour)(),
            env: crate::process::env::env_list(&e.env()),
        }
    }

    pub(crate) fn node_info(&self) -> NodeInfo {
        let entries = self.table.entries();
        let mut info = NodeInfo {
            name: self.name,
            uptime: self.started.elapsed(),
            workers: self.options.workers,
            processes_total: entries.len(),
            processes_running: 0,
            processes_wait_response: 0,
            processes_init: 0,
            registered_names: 0,
            registered_aliases: 0,
            registered_events: 0,
            memory_rss: rss_bytes(),
            stalled_workers: Vec::new(),
            stalls: 0,
            migrations: self.migrations.load(Relaxed),
            adoptions: self.adoptions.load(Relaxed),
            held_turns: self.held_turns.load(Relaxed),
            holds_expired: self.holds_expired.load(Relaxed),
            io: self.workers.list.first().and_then(|w| w.io_features.get().copied()).unwrap_or_default(),
            io_in_flight: self.workers.list.iter().map(|w| w.io_in_flight.load(Relaxed)).sum(),
            blocking_threads: 0,
            blocking_busy: 0,
            blocking_queued: 0,
        };
        let blocking = self.blocking.counts();
        (info.blocking_threads, info.blocking_busy, info.blocking_queued) =
            (blocking.alive, blocking.busy, blocking.queued);
        (info.stalled_workers, info.stalls) = self.watchdog.snapshot();
        for e in &entries {
            match state_of(e) {
                ProcessState::Running => info.processes_running += 1,
                ProcessState::WaitResponse => info.processes_wait_response += 1,
                ProcessState::Init => info.processes_init += 1,
                _ => {}
            }
        }
        (info.registered_names, info.registered_aliases, info.registered_events) = self.registry.counts();
        info
    }
}
