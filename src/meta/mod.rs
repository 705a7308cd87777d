//! Meta processes (Ergo's `gen.MetaBehavior`): a loop that waits on something other than a
//! mailbox (a socket on the ring, blocking code on the blocking pool), beside a message half
//! that handles messages and requests like any process.
//!
//! A meta runs as a process of its own (a Pid, a mailbox, an entry in the table), spawned by a
//! process (its parent) and known to the world by an [`Alias`] made at spawn. Its one task polls
//! two futures: the usual message loop (`act::serve`, through an adapter [`Actor`]) and the
//! loop [`Meta::start`] returned; whichever ends first ends the meta, and the other is dropped.
//! It ends with its parent (an exit from the parent, which it cannot trap).
//!
//! In `meta`, beside `act` at the top (D60). Never: blocks a worker (blocking loops run on the
//! blocking pool through [`MetaContext::spawn_blocking`]).

pub mod port;
pub mod tcp;
pub mod udp;
pub mod web;

use crate::act::catch::CatchUnwind;
use crate::act::context::Context;
use crate::act::{Actor, serve, start as actor_start};
use crate::error::Error;
use crate::message::{Alias, Envelope, ExitReason, From, Message, MessageExit, Payload, Pid, Priority, Target, To};
use crate::node::{NodeHandle, NodeInner, SpawnHow, SpawnOptions};
use crate::process::entry::ProcessEntry;
use crate::process::init::InitWait;
use crate::runtime::blocking::BlockingJob;
use crate::runtime::worker::{on_worker_thread, panic_message};
use std::any::Any;
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
use tracing::Level;

/// The behaviour of a meta process (Ergo's `gen.MetaBehavior`).
///
/// [`Meta::start`] returns the loop, an owned future: it takes from `self` what it needs (a
/// shared socket, a channel's end) so that the message half keeps `&mut self`. The loop runs
/// concurrently with the message callbacks, in the same task (never two at once on two
/// threads), and its end ends the meta (`Ok` is [`ExitReason::Normal`]). Blocking code belongs
/// in [`MetaContext::spawn_blocking`], awaited by the loop.
///
/// # Examples
/// ```no_run
/// use ergors::meta::{Meta, MetaContext, MetaOptions};
/// use ergors::{Actor, Context, ExitReason, Message, Node, NodeOptions, Pid, SpawnOptions};
/// use std::time::Duration;
///
/// /// Sends its parent a tick every 100 ms.
/// struct Ticker;
/// impl Meta for Ticker {
///     fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
///         async move {
///             loop {
///                 ctx.sleep(Duration::from_millis(100)).await;
///                 ctx.send(ctx.parent(), "tick").map_err(|_| ExitReason::Normal)?;
///             }
///         }
///     }
/// }
///
/// struct Parent;
/// impl Actor for Parent {
///     async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
///         let alias = ctx.spawn_meta(Ticker, MetaOptions::default()).await.map_err(|_| ExitReason::Normal)?;
///         ctx.log(tracing::Level::INFO, format_args!("ticker {alias:?} started"));
///         Ok(())
///     }
///     async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
///         Ok(()) // a tick
///     }
/// }
///
/// let node = Node::start("demo@localhost", NodeOptions::from_env()?)?;
/// node.spawn(Parent, SpawnOptions::default())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Meta: Send + 'static {
    /// Runs as the meta's process starts, before the loop (Ergo's `Init`). An error (or a
    /// panic) fails `spawn_meta` with [`Error::InitFailed`]; `terminate` is then not called.
    fn init(&mut self, ctx: &mut Context) -> impl Future<Output = Result<(), ExitReason>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Returns the loop (Ergo's `Start`), polled from the moment `init` succeeded until it ends
    /// or the meta ends otherwise (then it is dropped: a ring operation it awaits is cancelled,
    /// a blocking job it awaits is detached).
    fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static;

    /// A message sent to the meta's alias (or Pid). An error ends the meta with that reason.
    fn handle_message(
        &mut self,
        ctx: &mut Context,
        from: Pid,
        msg: Message,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        ctx.log(Level::WARN, format_args!("meta handle_message: unhandled message from {from}: {msg:?}"));
        async { Ok(()) }
    }

    /// A request made to the meta's alias. `Ok(Some(reply))` replies now; `Ok(None)` keeps
    /// `from` for [`Context::send_response`] later.
    fn handle_call(
        &mut self,
        ctx: &mut Context,
        from: From,
        request: Message,
    ) -> impl Future<Output = Result<Option<Message>, ExitReason>> + Send {
        ctx.log(Level::WARN, format_args!("meta handle_call: unhandled request from {}: {request:?}", from.pid));
        async { Ok(None) }
    }

    /// Runs once, last, with the reason the meta ends (not after a failed `init`). The loop has
    /// been dropped, and [`MetaContext::is_terminating`] is true, by then.
    fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) -> impl Future<Output = ()> + Send {
        let _ = (ctx, reason);
        async {}
    }

    /// Answers [`Context::inspect_meta`] / [`NodeHandle::inspect_meta`] (Ergo's
    /// `HandleInspect`): name-value pairs describing the meta's state.
    fn handle_inspect(&mut self, ctx: &mut Context, from: Pid, items: &[String]) -> Vec<(String, String)> {
        let _ = (ctx, from, items);
        Vec::new()
    }
}

/// How to spawn a meta process (Ergo's `gen.MetaOptions`).
#[derive(Clone, Debug, Default)]
pub struct MetaOptions {
    /// Capacity of each of its mailbox queues (default: the node's `mailbox_size`).
    pub mailbox_size: Option<usize>,
    /// The priority of what it sends, from its loop and its callbacks (default Main).
    pub send_priority: Priority,
    /// Its log level (default: its parent's).
    pub log_level: Option<Level>,
    /// Start on the worker of this process, free to move later ([`SpawnOptions::near`]): a
    /// connection next to its handler, so their messages stay on one core.
    pub near: Option<Pid>,
}

impl MetaOptions {
    /// Sets the capacity of each mailbox queue.
    pub fn mailbox_size(mut self, n: usize) -> Self {
        self.mailbox_size = Some(n);
        self
    }
    /// Sets the priority of its sends.
    pub fn send_priority(mut self, p: Priority) -> Self {
        self.send_priority = p;
        self
    }
    /// Sets its log level.
    pub fn log_level(mut self, level: Level) -> Self {
        self.log_level = Some(level);
        self
    }
    /// Starts it on the worker where `pid` runs now ([`MetaOptions::near`]).
    pub fn near(mut self, pid: Pid) -> Self {
        self.near = Some(pid);
        self
    }
}

/// What a meta's loop and the node share about it.
struct MetaShared {
    alias: Alias,
    pid: Pid,
    parent: Pid,
    priority: Priority,
    /// Set once the meta ends (its loop is being dropped): a blocking loop polls it.
    terminating: AtomicBool,
    /// Messages its loop sent (kept apart from the process's counters: the loop may send from a
    /// blocking thread).
    sent: AtomicU64,
    /// Blocking jobs its loop started that are still running.
    jobs: AtomicUsize,
}

/// The node's live metas, by alias (`meta_info`, `send_exit_meta`).
#[derive(Default)]
struct MetaRegistry {
    metas: Mutex<HashMap<Alias, Arc<MetaShared>>>,
}

impl MetaRegistry {
    fn of(node: &NodeHandle) -> Arc<MetaRegistry> {
        node.extension(|_| MetaRegistry::default())
    }
    fn get(&self, alias: &Alias) -> Option<Arc<MetaShared>> {
        self.metas.lock().unwrap_or_else(|p| p.into_inner()).get(alias).cloned()
    }
    fn insert(&self, shared: Arc<MetaShared>) {
        self.metas.lock().unwrap_or_else(|p| p.into_inner()).insert(shared.alias, shared);
    }
    fn remove(&self, alias: &Alias) {
        self.metas.lock().unwrap_or_else(|p| p.into_inner()).remove(alias);
    }
}

/// What a meta's loop gets (Ergo's `gen.MetaProcess`): who it is, and how it sends, sleeps and
/// runs blocking code. Cheap to clone, `Send + 'static`: move a clone into a blocking job.
#[derive(Clone)]
pub struct MetaContext {
    shared: Arc<MetaShared>,
    node: NodeHandle,
}

impl MetaContext {
    /// The meta's alias, its public identity.
    pub fn id(&self) -> Alias {
        self.shared.alias
    }

    /// The meta's own Pid (what its sends carry as `from`: D122).
    pub fn pid(&self) -> Pid {
        self.shared.pid
    }

    /// The process that spawned the meta.
    pub fn parent(&self) -> Pid {
        self.shared.parent
    }

    /// The node the meta runs on.
    pub fn node(&self) -> &NodeHandle {
        &self.node
    }

    /// Sends `msg` to `to` with the meta's send priority (`MetaOptions::send_priority`).
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`], [`Error::MailboxFull`], [`Error::NodeStopped`].
    pub fn send<M: Any + Send>(&self, to: impl Into<To>, msg: M) -> Result<(), Error> {
        self.send_with_priority(to, msg, self.shared.priority)
    }

    /// Sends `msg` to `to` into the queue of `priority`.
    ///
    /// # Errors
    /// As for [`MetaContext::send`].
    pub fn send_with_priority<M: Any + Send>(
        &self,
        to: impl Into<To>,
        msg: M,
        priority: Priority,
    ) -> Result<(), Error> {
        let inner = &self.node.inner;
        inner.check_running()?;
        let to = to.into();
        let envelope = Envelope { from: self.shared.pid, payload: Payload::Message(Message::new(msg)) };
        match inner.remote_node(&to) {
            Some(node) => inner.push_remote(node, &to, priority, envelope)?,
            None => {
                let target = inner.resolve(&to)?;
                inner.push(&target, priority, NodeInner::addressed(&to, &target, envelope))?;
            }
        }
        self.shared.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Sends as [`MetaContext::send`], then paces the loop by the receiver: a full bounded
    /// queue is waited on (the message is sent once there is room), and a queue past its
    /// high-water mark holds the loop until it is down to half or `ERGORS_MAILBOX_HOLD_MAX_MS`
    /// passes (D70, for a loop instead of a callback). A socket loop that sends this way stops
    /// reading while its handler is behind, so the kernel's window slows the peer and memory
    /// stays bounded.
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`] (also if the receiver ends while we wait),
    /// [`Error::NodeStopped`].
    pub async fn send_paced<M: Any + Send>(&self, to: impl Into<To>, msg: M) -> Result<(), Error> {
        let inner = &self.node.inner;
        inner.check_running()?;
        let to = to.into();
        let target = inner.resolve(&to)?;
        let priority = self.shared.priority;
        let envelope = Envelope { from: self.shared.pid, payload: Payload::Message(Message::new(msg)) };
        let envelope = NodeInner::addressed(&to, &target, envelope);
        // Sent at once if there is room, else once there is (no cycle is possible: the loop's
        // own message half keeps draining its mailbox while the loop waits).
        let mut wait = crate::process::room::WaitRoom::new(None, target.clone(), priority, envelope, None);
        poll_fn(|cx| wait.poll(inner, cx.waker())).await?;
        // Past half the high-water mark: wait until it is down to half (or the hold's limit).
        let deadline = crate::sys::clock::deadline_ns(inner.options.hold_max);
        let mut registered = false;
        let mut timer = None;
        poll_fn(|cx| {
            if !target.is_alive() || target.mailbox.is_relieved(priority) || crate::sys::clock::now_ns() >= deadline {
                return Poll::Ready(());
            }
            if !registered {
                if !crate::process::room::register_for_room(&target, priority, cx.waker()) {
                    return Poll::Ready(());
                }
                registered = true;
                timer = crate::runtime::timer::WakeTimer::arm(deadline, cx.waker());
            } else if !target.mailbox.is_waiting(priority, cx.waker()) {
                // Woken by the consumer: go, whatever the length now (as a held process does).
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await;
        drop(timer);
        self.shared.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// A future that completes after `after` (suspends only the loop).
    pub fn sleep(&self, after: Duration) -> crate::runtime::timer::Sleep {
        crate::runtime::timer::Sleep::new(after)
    }

    /// Runs `f` on the node's blocking pool (as [`Context::spawn_blocking`]). A job still running
    /// when the meta ends is detached, with a warning; `f` should look at
    /// [`MetaContext::is_terminating`] (through a clone of this context) to stop in time.
    ///
    /// # Errors
    /// The job's outcome: [`Error::BlockingPoolFull`], [`Error::BlockingPanicked`],
    /// [`Error::NodeStopped`].
    pub fn spawn_blocking<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> BlockingJob<T> {
        /// Counts the job as running until it is dropped: run, or refused.
        struct Running(Arc<MetaShared>);
        impl Drop for Running {
            fn drop(&mut self) {
                self.0.jobs.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.shared.jobs.fetch_add(1, Ordering::AcqRel);
        let running = Running(self.shared.clone());
        self.node.inner.blocking.spawn(move || {
            let _running = running;
            f()
        })
    }

    /// Spawns another meta with this meta's parent as its parent (Ergo's `MetaProcess.Spawn`):
    /// a server's loop starts one connection meta per client this way, and the connections
    /// live on if the server ends, until the parent does. Does not wait for its `init` (a loop
    /// accepting connections must not wait on each): a failed `init` is logged, and the new
    /// meta's watchers see it end.
    ///
    /// # Errors
    /// [`Error::ProcessUnknown`] once the parent has ended; [`Error::NodeStopped`].
    pub fn spawn_meta<M: Meta>(&self, meta: M, opts: MetaOptions) -> Result<Alias, Error> {
        if self.shared.parent == self.node.inner.core_pid() {
            // Spawned by the node (`NodeHandle::spawn_meta`): so is the sibling.
            return spawn_meta_inner(&self.node, None, meta, &opts, None, InitWait::new());
        }
        let parent = self.node.inner.table.get(&self.shared.parent).ok_or(Error::ProcessUnknown)?;
        spawn_meta_inner(&self.node, Some(&parent), meta, &opts, None, InitWait::new())
    }

    /// True once the meta is ending (its parent ended, a callback failed, it was sent an exit,
    /// the node is stopping, ...). A blocking loop checks it to return in time.
    pub fn is_terminating(&self) -> bool {
        self.shared.terminating.load(Ordering::Acquire)
    }

    /// Logs `text` at `level` as the node does (`ERGORS_LOG`), naming the meta.
    pub fn log(&self, level: Level, text: impl std::fmt::Display) {
        self.node.log(level, format_args!("meta {:?} ({}): {text}", self.shared.alias, self.shared.pid));
    }
}

/// A request for [`Meta::handle_inspect`], answered by the adapter before `handle_call`.
struct InspectMeta {
    items: Vec<String>,
}

/// The message half of a meta, as an [`Actor`] the usual loop (`act::serve`) runs.
struct MetaActor<M> {
    meta: M,
}

impl<M: Meta> Actor for MetaActor<M> {
    fn init(&mut self, ctx: &mut Context) -> impl Future<Output = Result<(), ExitReason>> + Send {
        self.meta.init(ctx)
    }

    fn handle_message(
        &mut self,
        ctx: &mut Context,
        from: Pid,
        msg: Message,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        self.meta.handle_message(ctx, from, msg)
    }

    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        from: From,
        request: Message,
    ) -> Result<Option<Message>, ExitReason> {
        match request.downcast::<InspectMeta>() {
            Ok(inspect) => Ok(Some(Message::new(self.meta.handle_inspect(ctx, from.pid, &inspect.items)))),
            Err(request) => self.meta.handle_call(ctx, from, request).await,
        }
    }
}

/// The whole life of a meta process: what its worker polls.
#[allow(clippy::manual_async_fn)] // as `run_actor`: one copy of the arguments in the state machine
fn run_meta<M: Meta>(
    meta: M,
    mut ctx: Context,
    shared: Arc<MetaShared>,
    registry: Arc<MetaRegistry>,
) -> impl Future<Output = ()> + Send {
    async move {
        let mut actor = MetaActor { meta };
        let reason = meta_life(&mut actor, &mut ctx, &shared).await;
        shared.terminating.store(true, Ordering::Release);
        // Forgotten before `finish` tells the watchers (and a spawner waiting on a failed
        // `init`): whoever learns of the end finds it gone from its parent and the registry.
        registry.remove(&shared.alias);
        if let Some(parent) = ctx.node().inner.table.get(&shared.parent) {
            parent.with_existing_rel(|r| {
                if let Some(i) = r.metas.iter().position(|a| *a == shared.alias) {
                    r.metas.swap_remove(i);
                }
            });
        }
        ctx.finish(reason.bare());
    }
}

async fn meta_life<M: Meta>(actor: &mut MetaActor<M>, ctx: &mut Context, shared: &Arc<MetaShared>) -> ExitReason {
    if let Some(reason) = actor_start(actor, ctx).await {
        return reason;
    }
    let mctx = MetaContext { shared: shared.clone(), node: ctx.node().clone() };
    // Boxed as it is made: passed by value, the loop's future would be held twice in this
    // state machine (here and as `race`'s argument), which every meta carries for its whole
    // life (a Web connection's loop is kilobytes).
    let started = || Box::pin(CatchUnwind::new(actor.meta.start(mctx)));
    let reason = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(started)) {
        Ok(looped) => race(actor, ctx, looped, shared).await,
        Err(panic) => ExitReason::Panic(panic_message(&*panic)),
    };
    shared.terminating.store(true, Ordering::Release);
    // A panic in terminate changes nothing: the meta is ending anyway.
    let _ = CatchUnwind::new(actor.meta.terminate(ctx, &reason)).await;
    reason
}

/// Polls the message loop and the meta's own loop until one ends; the reason the meta ends.
async fn race<M: Meta>(
    actor: &mut MetaActor<M>,
    ctx: &mut Context,
    mut looped: Pin<Box<CatchUnwind<impl Future<Output = Result<(), ExitReason>> + Send + 'static>>>,
    shared: &MetaShared,
) -> ExitReason {
    // Boxed, so that it can be dropped (detaching what it awaits) before `terminate` runs.
    let entry = ctx.entry.clone();
    let (reason, loop_ended) = loop {
        let outcome = {
            let mut served = std::pin::pin!(CatchUnwind::new(serve(actor, &mut *ctx)));
            poll_fn(|cx| {
                // The mailbox first: a kill or an exit signal wins over a loop that is also ready.
                if let Poll::Ready(r) = served.as_mut().poll(cx) {
                    return Poll::Ready(Some((r.unwrap_or_else(ExitReason::Panic), false)));
                }
                // Still inside a callback (a write to a peer that does not read, ...) while an
                // exit or a kill waits: abandon the callback (dropping it cancels what it
                // awaited) and serve again; the next receive takes the signal (D116).
                if entry.interrupt.swap(0, Ordering::AcqRel) != 0 {
                    return Poll::Ready(None);
                }
                match looped.as_mut().poll(cx) {
                    Poll::Ready(Ok(Ok(()))) => Poll::Ready(Some((ExitReason::Normal, true))),
                    Poll::Ready(Ok(Err(reason))) => Poll::Ready(Some((reason, true))),
                    Poll::Ready(Err(panic)) => Poll::Ready(Some((ExitReason::Panic(panic), true))),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await
        };
        if let Some(ended) = outcome {
            break ended;
        }
    };
    shared.terminating.store(true, Ordering::Release);
    drop(looped);
    let jobs = shared.jobs.load(Ordering::Acquire);
    if !loop_ended && jobs > 0 {
        ctx.log(
            Level::WARN,
            format_args!(
                "meta {:?}: ending ({}) while its loop still runs {jobs} blocking job(s); detached",
                shared.alias,
                reason.bare()
            ),
        );
    }
    reason
}

/// Spawns a meta under `parent` (`None`: the node); its alias once it is in the table (its
/// `init` is waited for by the callers through `wait`).
pub(crate) fn spawn_meta_inner<M: Meta>(
    node: &NodeHandle,
    parent: Option<&Arc<ProcessEntry>>,
    meta: M,
    opts: &MetaOptions,
    log_level: Option<Level>,
    wait: Arc<InitWait>,
) -> Result<Alias, Error> {
    let spawn_opts = SpawnOptions {
        mailbox_size: opts.mailbox_size,
        send_priority: opts.send_priority,
        near: opts.near,
        ..Default::default()
    };
    let registry = MetaRegistry::of(node);
    let how = SpawnHow {
        opts: &spawn_opts,
        parent,
        name: None,
        log_level: opts.log_level.or(log_level),
        init: Some(wait),
        behaviour: std::any::type_name::<M>,
    };
    let mut made = None;
    let spawned = node.inner.spawn_task(how, |entry, ctx| {
        let alias = node.inner.create_alias(entry)?;
        made = Some(alias);
        if let Some(parent) = parent {
            // Closed once the parent has ended: then the meta is not started.
            parent.with_rel(|r| r.metas.push(alias)).ok_or(Error::ProcessUnknown)?;
        }
        let shared = Arc::new(MetaShared {
            alias,
            pid: entry.pid,
            parent: entry.parent,
            priority: opts.send_priority,
            terminating: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            jobs: AtomicUsize::new(0),
        });
        registry.insert(shared.clone());
        Ok(run_meta(meta, ctx, shared, registry.clone()))
    });
    match (spawned, made) {
        (Ok(_), Some(alias)) => Ok(alias),
        (outcome, made) => {
            // Taken back after the alias was made (the node began to stop): forget it.
            if let Some(alias) = made {
                registry.remove(&alias);
                if let Some(parent) = parent {
                    parent.with_existing_rel(|r| r.metas.retain(|a| *a != alias));
                }
            }
            Err(outcome.err().unwrap_or(Error::ProcessUnknown))
        }
    }
}

/// A meta's life stage (Ergo's `gen.MetaState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaState {
    /// Its message half waits for messages (its loop may be running).
    Sleep,
    /// Being run by its worker.
    Running,
    /// Ended.
    Terminated,
}

/// What a meta is (Ergo's `gen.MetaInfo`).
#[derive(Clone, Debug)]
pub struct MetaInfo {
    /// Its alias.
    pub id: Alias,
    /// The Pid of its process.
    pub pid: Pid,
    /// The process that spawned it.
    pub parent: Pid,
    /// Its `Meta` type.
    pub behaviour: &'static str,
    /// Messages waiting, per queue: Urgent, System, Main, Log.
    pub mailbox: [usize; 4],
    /// Messages its message half took from its mailbox (published as `ProcessInfo`'s).
    pub messages_in: u64,
    /// Messages it sent, from its loop and its callbacks.
    pub messages_out: u64,
    /// Blocking jobs its loop runs now.
    pub blocking_jobs: usize,
    /// Time since it was spawned.
    pub uptime: Duration,
    /// Its life stage.
    pub state: MetaState,
}

impl Context {
    /// Spawns a meta process with this process as its parent (Ergo's `SpawnMeta`) and waits
    /// (this process only) until its `init` has run; its alias then. It ends when this process
    /// ends, with the same reason. Its sends carry its own Pid (D122).
    ///
    /// # Errors
    /// [`Error::InitFailed`] with what `init` returned (or its panic); [`Error::NodeStopped`].
    pub fn spawn_meta<M: Meta>(
        &mut self,
        meta: M,
        opts: MetaOptions,
    ) -> impl Future<Output = Result<Alias, Error>> + Send + 'static {
        let wait = InitWait::new();
        let level = Some(self.log_level());
        let spawned = spawn_meta_inner(self.node(), Some(&self.entry), meta, &opts, level, wait.clone());
        async move {
            let alias = spawned?;
            poll_fn(|cx| wait.poll(cx.waker())).await?;
            Ok(alias)
        }
    }

    /// Sends an exit signal to the meta `alias` (Ergo's `SendExitMeta`): it ends with
    /// `reason`, and its watchers see that reason.
    ///
    /// # Errors
    /// [`Error::MetaUnknown`].
    pub fn send_exit_meta(&mut self, alias: Alias, reason: ExitReason) -> Result<(), Error> {
        send_exit_meta(self.node(), self.pid(), alias, reason)
    }

    /// Asks the meta `alias` for its [`Meta::handle_inspect`] (Ergo's `InspectMeta`); only this
    /// process waits.
    ///
    /// # Errors
    /// [`Error::MetaUnknown`]; the errors of [`Context::call`].
    pub fn inspect_meta(
        &mut self,
        alias: Alias,
        items: &[&str],
    ) -> impl Future<Output = Result<Vec<(String, String)>, Error>> + Send + '_ {
        let known = MetaRegistry::of(self.node()).get(&alias).is_some();
        let request = InspectMeta { items: items.iter().map(|s| s.to_string()).collect() };
        async move {
            if !known {
                return Err(Error::MetaUnknown);
            }
            let reply = self.call(alias, request).await?;
            reply.downcast::<Vec<(String, String)>>().map_err(|_| Error::MetaUnknown)
        }
    }
}

fn send_exit_meta(node: &NodeHandle, from: Pid, alias: Alias, reason: ExitReason) -> Result<(), Error> {
    MetaRegistry::of(node).get(&alias).ok_or(Error::MetaUnknown)?;
    let entry = node.inner.resolve(&To::Alias(alias)).map_err(|_| Error::MetaUnknown)?;
    let exit = MessageExit { target: Target::Pid(from), reason };
    node.inner.push_forced(&entry, Priority::Urgent, Envelope { from, payload: Payload::Exit(Box::new(exit)) });
    // Taken even by a meta suspended in a callback (D116).
    entry.interrupt_for_exit(false);
    Ok(())
}

impl NodeHandle {
    /// Spawns a meta process with the node as its parent, blocking this plain thread until its
    /// `init` has run. It ends when the node stops (or as any meta does).
    ///
    /// # Errors
    /// As for [`Context::spawn_meta`]; [`Error::WouldBlockWorker`] on a worker thread.
    pub fn spawn_meta<M: Meta>(&self, meta: M, opts: MetaOptions) -> Result<Alias, Error> {
        if on_worker_thread() {
            return Err(Error::WouldBlockWorker("spawn_meta"));
        }
        let wait = InitWait::new();
        let alias = spawn_meta_inner(self, None, meta, &opts, None, wait.clone())?;
        crate::process::init::wait_blocking(&wait)?;
        Ok(alias)
    }

    /// Sends an exit signal from the node to the meta `alias` (as [`Context::send_exit_meta`]).
    ///
    /// # Errors
    /// [`Error::MetaUnknown`].
    pub fn send_exit_meta(&self, alias: Alias, reason: ExitReason) -> Result<(), Error> {
        send_exit_meta(self, self.inner.core_pid(), alias, reason)
    }

    /// What the meta `alias` is (Ergo's `MetaInfo`).
    ///
    /// # Errors
    /// [`Error::MetaUnknown`] (no such live meta).
    pub fn meta_info(&self, alias: Alias) -> Result<MetaInfo, Error> {
        let shared = MetaRegistry::of(self).get(&alias).ok_or(Error::MetaUnknown)?;
        let entry = self.inner.table.get(&shared.pid).ok_or(Error::MetaUnknown)?;
        let info = self.inner.process_info(&entry);
        let state = match info.state {
            crate::ProcessState::Terminated => MetaState::Terminated,
            crate::ProcessState::Running => MetaState::Running,
            _ => MetaState::Sleep,
        };
        Ok(MetaInfo {
            id: alias,
            pid: shared.pid,
            parent: shared.parent,
            behaviour: info.behaviour,
            mailbox: info.mailbox,
            messages_in: info.messages_in,
            messages_out: info.messages_out + shared.sent.load(Ordering::Relaxed),
            blocking_jobs: shared.jobs.load(Ordering::Relaxed),
            uptime: info.uptime,
            state,
        })
    }

    /// Asks the meta `alias` for its [`Meta::handle_inspect`] from a plain thread (blocks it).
    ///
    /// # Errors
    /// [`Error::MetaUnknown`]; the errors of [`NodeHandle::call`].
    pub fn inspect_meta(&self, alias: Alias, items: &[&str]) -> Result<Vec<(String, String)>, Error> {
        MetaRegistry::of(self).get(&alias).ok_or(Error::MetaUnknown)?;
        let request = InspectMeta { items: items.iter().map(|s| s.to_string()).collect() };
        let reply = self.call(alias, request)?;
        reply.downcast::<Vec<(String, String)>>().map_err(|_| Error::MetaUnknown)
    }
}
