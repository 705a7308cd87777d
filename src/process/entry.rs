//! The table entry of one process: its mailbox, scheduling word, running future and the slot a
//! pending `call` waits on.
//!
//! Shared by every thread that sends to the process; the future inside is touched only by the
//! home worker while it holds the Running state (see `mailbox::SchedState`).

use crate::mailbox::{Mailbox, SchedState};
use crate::message::{Alias, Envelope, Name, Pid, Target};
use crate::process::call::CallSlot;
use crate::process::env::Env;
use crate::runtime::worker::Workers;
use std::cell::UnsafeCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a process holds and who watches it.
#[derive(Default)]
pub(crate) struct Relations {
    pub(crate) name: Option<Name>,
    pub(crate) aliases: Vec<Alias>,
    /// Events this process registered (it is their producer).
    pub(crate) events: Vec<Name>,
    /// Targets this process links to / monitors (it is the consumer).
    pub(crate) links: Vec<Target>,
    pub(crate) monitors: Vec<Target>,
    /// Consumers watching this process, and by which of its identities.
    pub(crate) linked_by: Vec<(Pid, Target)>,
    pub(crate) monitored_by: Vec<(Pid, Target)>,
    /// Where a message refused by a full mailbox goes, and its tag (`SpawnOptions::fallback`).
    /// Here, not in the entry: read only when the mailbox is full, and most processes have none.
    pub(crate) fallback: Option<(crate::message::Name, String)>,
    /// The hold on this process by a long queue it sent to, and the time it has been held back
    /// in all (D70). Here: touched once or twice per held turn, and most processes are never
    /// held.
    pub(crate) hold: Option<crate::process::room::Hold>,
    pub(crate) held_ns: u64,
    /// The process whose queue this one waits for room in (a hold or a `send_wait`), for
    /// cycle detection (`room::block_closes_cycle`).
    pub(crate) blocked_on: Option<Arc<ProcessEntry>>,
    /// Where `init`'s outcome goes, for a process spawned by `spawn_wait` (taken on its first
    /// turn).
    pub(crate) init_report: Option<crate::process::init::InitReport>,
    /// The aliases of the meta processes this process spawned and that still run: each gets an
    /// exit signal with this process's reason when it ends (`meta`).
    pub(crate) metas: Vec<Alias>,
    /// How this process compresses its sends to other nodes, when it chose (D217): here, not
    /// in the entry, since only senders on a node where some process compresses read it.
    pub(crate) compression: Option<crate::net::Compression>,
}

/// What a process holds that other threads read or change.
struct Held {
    /// Names, aliases, events, links and monitors: allocated on first use (most processes have
    /// none), closed when the process ends so nothing can be added after its cleanup.
    rel: Option<Box<Relations>>,
    /// The environment (shared with the parent until either changes it). Here rather than in
    /// the `Context` so that the node handle and later spawns (as leader) can read it.
    env: Env,
}

/// Counters for inspection. Each is written by one thread (the process's worker), so plain
/// load + store suffices; other threads read snapshots.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) running_ns: AtomicU64,
    /// When the process was spawned, in nanoseconds since the node started.
    pub(crate) spawned_at_ns: u64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }
}

/// `ProcessEntry::placement`: placed on its worker on purpose.
const PINNED: u8 = 1;
/// `ProcessEntry::placement`: bound to its worker's ring (D227).
const RING_BOUND: u8 = 2;

pub(crate) struct ProcessEntry {
    pub(crate) pid: Pid,
    /// The node's workers; `home` indexes them.
    pub(crate) workers: Arc<Workers>,
    /// The worker whose run queue this process joins when woken from elsewhere. A worker that
    /// takes the process from another one's queue (stealing) makes itself the home.
    home: AtomicU32,
    /// How the process stays on its worker (`PINNED`, `RING_BOUND`): other workers take such a
    /// process only when its worker is stalled.
    placement: AtomicU8,
    /// The actor's type name (for the stall watchdog and inspection).
    pub(crate) behaviour: fn() -> &'static str,
    pub(crate) parent: Pid,
    pub(crate) leader: Pid,
    /// Distance from the node in the spawn tree (node-spawned = 0): stop goes deepest first.
    pub(crate) depth: u32,
    pub(crate) sched: SchedState,
    pub(crate) mailbox: Mailbox<Envelope>,
    pub(crate) call: Mutex<CallSlot>,
    /// Relations and environment, under one lock (one lock word less per process).
    held: Mutex<Held>,
    pub(crate) stats: Stats,
    /// Set once `init` has returned successfully (beside the other small fields, which the
    /// compiler packs into one word).
    pub(crate) initialized: AtomicBool,
    /// Split handling is on (`Context::set_split_handle`): senders that address the process by
    /// name or alias say so in the envelope. Read by senders, written by the process.
    pub(crate) split: AtomicBool,
    /// Set when the pending call's outcome lands in `call` (cleared when a call begins): a caller
    /// waiting across workers polls this flag, read-only, instead of the slot's lock, whose
    /// line would otherwise move back and forth under the replier's feet.
    pub(crate) call_done: AtomicBool,
    /// Why a callback suspended in this process must be abandoned (`INTERRUPT_*` bits): a kill
    /// of a process suspended on something other than a call (I/O, a sleep, a blocking job:
    /// the process ends with `Kill`, D111), or an exit signal it does not trap (the message
    /// loop starts again and takes the signal, D116, D168). Read on every poll through the
    /// process's own waker (`act::Killable`), so nothing is stored in the idle future.
    pub(crate) interrupt: AtomicU8,
    /// The process traps exit signals (`TRAP_*` bits), as `Context::set_trap_exit` set it: read
    /// by the senders of exit signals, which interrupt only a process that does not trap them.
    trap: AtomicU8,
    alive: Alive,
    task: UnsafeCell<Option<Task>>,
}

// SAFETY: every field but `task` is Sync by itself. `task` holds a `Send` future that is accessed
// only through `poll_task`/`drop_task`, whose callers hold the Running state of `sched`, which
// at most one thread holds at a time.
unsafe impl Sync for ProcessEntry {}

pub(crate) struct EntryInit {
    pub(crate) pid: Pid,
    pub(crate) workers: Arc<Workers>,
    pub(crate) home: usize,
    pub(crate) pinned: bool,
    pub(crate) behaviour: fn() -> &'static str,
    pub(crate) parent: Pid,
    pub(crate) leader: Pid,
    pub(crate) depth: u32,
    pub(crate) mailbox_size: usize,
    pub(crate) high_water: usize,
    pub(crate) spawned_at_ns: u64,
    pub(crate) env: Env,
}

#[cfg(test)]
impl EntryInit {
    /// A process of its own at the top of the tree, with no mailbox bound and no environment
    /// (for unit tests that build entries by hand).
    pub(crate) fn standalone(pid: Pid, workers: Arc<Workers>) -> EntryInit {
        EntryInit {
            pid,
            workers,
            home: 0,
            pinned: false,
            behaviour: || "test",
            parent: pid,
            leader: pid,
            depth: 0,
            mailbox_size: 0,
            high_water: 0,
            spawned_at_ns: 0,
            env: None,
        }
    }
}

impl ProcessEntry {
    pub(crate) fn new(i: EntryInit) -> ProcessEntry {
        ProcessEntry {
            pid: i.pid,
            workers: i.workers,
            home: AtomicU32::new(i.home as u32),
            placement: AtomicU8::new(if i.pinned { PINNED } else { 0 }),
            behaviour: i.behaviour,
            parent: i.parent,
            leader: i.leader,
            depth: i.depth,
            sched: SchedState::new_scheduled(),
            mailbox: Mailbox::new(i.mailbox_size, i.high_water),
            call: Mutex::new(CallSlot::Idle),
            held: Mutex::new(Held { rel: None, env: i.env }),
            stats: Stats { spawned_at_ns: i.spawned_at_ns, ..Default::default() },
            initialized: AtomicBool::new(false),
            split: AtomicBool::new(false),
            call_done: AtomicBool::new(false),
            interrupt: AtomicU8::new(0),
            trap: AtomicU8::new(0),
            alive: Alive::new(),
            task: UnsafeCell::new(None),
        }
    }

    /// Runs `f` on this process's relations (created on first use). `None` once the process has
    /// ended, so that nothing is added after its relations were released.
    ///
    /// Why checking `is_alive` under the lock suffices: the ending process marks itself dead and
    /// *then* takes its relations under this lock (`take_rel`). A caller whose critical section
    /// comes before that one may add (and is then released with the rest); one that comes after
    /// synchronizes with it, so it sees the process dead.
    pub(crate) fn with_rel<R>(&self, f: impl FnOnce(&mut Relations) -> R) -> Option<R> {
        let mut held = self.held();
        if !self.is_alive() {
            return None;
        }
        Some(f(held.rel.get_or_insert_with(Default::default)))
    }

    /// Like `with_rel`, without creating the relations when there are none.
    pub(crate) fn with_existing_rel<R>(&self, f: impl FnOnce(&mut Relations) -> R) -> Option<R> {
        self.held().rel.as_deref_mut().map(f)
    }

    /// Takes the relations out for release, and drops the environment; called once the process
    /// is marked dead.
    pub(crate) fn take_rel(&self) -> Option<Box<Relations>> {
        let mut held = self.held();
        held.env = None;
        held.rel.take()
    }

    /// The environment (a shared pointer: cheap).
    pub(crate) fn env(&self) -> Env {
        self.held().env.clone()
    }

    /// Runs `f` on the environment under its lock.
    pub(crate) fn with_env<R>(&self, f: impl FnOnce(&mut Env) -> R) -> R {
        f(&mut self.held().env)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// SeqCst: a request's sender re-checks this after its push, and the dying process drains
    /// after `mark_dead`; in the single order of SeqCst operations one of them sees the other
    /// (docs/decisions.md D21).
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.is_alive()
    }

    /// Marks the process dead; true for the one caller that did it.
    pub(crate) fn mark_dead(&self) -> bool {
        self.alive.mark_dead()
    }

    /// Records whether the process traps exit signals, and whether it traps its parent's too
    /// (written by the process itself).
    pub(crate) fn set_trap(&self, exit: bool, parent: bool) {
        let bits = if exit { TRAP_EXIT } else { 0 } | if parent { TRAP_PARENT } else { 0 };
        self.trap.store(bits, Ordering::Relaxed);
    }

    /// Whether the process traps exit signals (`Context::set_trap_exit`).
    pub(crate) fn traps_exit(&self) -> bool {
        self.trap.load(Ordering::Relaxed) & TRAP_EXIT != 0
    }

    /// Whether exits from the parent arrive as messages too (with `traps_exit`).
    pub(crate) fn traps_parent_exit(&self) -> bool {
        self.trap.load(Ordering::Relaxed) & TRAP_PARENT != 0
    }

    /// Whether an exit signal (from the parent or not) ends this process rather than arrive as
    /// a message: the rule the message loop applies when it takes the signal (`act::serve`).
    pub(crate) fn exit_ends(&self, from_parent: bool) -> bool {
        (from_parent && !self.traps_parent_exit()) || !self.traps_exit()
    }

    /// An exit signal that ends this process was queued: a callback suspended in it is
    /// abandoned so that the signal is taken now, not when the callback returns (D168). Call
    /// after the push, so that the restarted loop finds the signal.
    pub(crate) fn interrupt_for_exit(self: &Arc<Self>, from_parent: bool) {
        let bit = if from_parent { INTERRUPT_PARENT_EXIT } else { INTERRUPT_EXIT };
        self.interrupt.fetch_or(bit, Ordering::Release);
        crate::runtime::waker::notify(self);
    }

    /// Placed on a worker on purpose (`SpawnOptions::worker`/`colocate`).
    pub(crate) fn pinned(&self) -> bool {
        self.placement.load(Ordering::Relaxed) & PINNED != 0
    }

    /// Stays on its worker unless the worker stalls: pinned, or bound to its ring (D227).
    pub(crate) fn stays(&self) -> bool {
        self.placement.load(Ordering::Relaxed) != 0
    }

    /// Woken by a completion on its worker's ring: it does its I/O there, and stays (D227).
    /// Called by that worker only.
    pub(crate) fn bind_to_ring(&self) {
        if self.placement.load(Ordering::Relaxed) == 0 {
            self.placement.store(RING_BOUND, Ordering::Relaxed);
        }
    }

    /// The worker this process is queued on when woken from another thread.
    pub(crate) fn home(&self) -> usize {
        self.home.load(Ordering::Relaxed) as usize
    }

    /// Moves the process's home (a worker took it from another one's queue).
    pub(crate) fn set_home(&self, worker: usize) {
        self.home.store(worker as u32, Ordering::Relaxed);
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
    /// As for [`ProcessEntry::poll_task`], or the caller closed the process from a state in which
    /// no thread polls it (`SchedState::close_if_not_running`).
    pub(crate) unsafe fn take_task(&self) -> Option<Task> {
        // SAFETY: exclusive access per the caller's contract.
        unsafe { (*self.task.get()).take() }
    }
}

/// `ProcessEntry::interrupt`: killed while suspended in a callback (D111).
pub(crate) const INTERRUPT_KILL: u8 = 1;
/// `ProcessEntry::interrupt`: an exit signal from another process than the parent is queued.
pub(crate) const INTERRUPT_EXIT: u8 = 2;
/// `ProcessEntry::interrupt`: an exit signal from the parent is queued.
pub(crate) const INTERRUPT_PARENT_EXIT: u8 = 4;
/// `ProcessEntry::trap`: exit signals arrive as messages.
const TRAP_EXIT: u8 = 1;
/// `ProcessEntry::trap`: so do the parent's (a supervisor's, D81).
const TRAP_PARENT: u8 = 2;

/// A process's liveness flag: SeqCst, because a request's sender re-checks it after its push
/// while the dying process drains its mailbox after marking itself dead, and in the single order
/// of SeqCst operations one of them sees the other (D21; the loom model in `mailbox`).
pub(crate) struct Alive(crate::sync::AtomicBool);

impl Alive {
    pub(crate) fn new() -> Self {
        Alive(crate::sync::AtomicBool::new(true))
    }

    pub(crate) fn is_alive(&self) -> bool {
        crate::sync::loom_sc_order();
        self.0.load(Ordering::SeqCst)
    }

    /// True for the one caller that marked it dead.
    pub(crate) fn mark_dead(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}
