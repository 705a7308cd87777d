//! Pools (Ergo's `act.Pool`): one process, one Pid, in front of a number of workers.
//!
//! What is sent or called at [`Priority::Main`] (the default) is handed on to the workers in
//! turn, round-robin: a message keeps its original sender, a request goes with
//! [`Context::forward_call`] so the worker's reply reaches the caller directly. What arrives at
//! [`Priority::System`] or [`Priority::Urgent`] (Ergo's High and Max) is the pool's own: it
//! goes to the pool's [`PoolBehavior`]. The requests of this module ([`AddWorkers`],
//! [`RemoveWorkers`], [`Workers`], [`Info`]) are answered by the pool at any priority (D86).
//!
//! A pool is an ordinary [`Actor`]: spawn [`Pool::new`] like any other process. Its workers are
//! its children, linked to it (`link_parent`: they end with it) and monitored by it: a worker
//! that ends is replaced by a fresh one in the same place of the rotation (D85).

use super::Actor;
use super::context::Context;
use crate::error::Error;
use crate::message::{ExitReason, From, Message, MessageDown, MessageEvent, Pid, Priority, Target, To};
use crate::node::{NodeHandle, SpawnOptions};
use crate::process::entry::ProcessEntry;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tracing::Level;

/// Workers a pool starts with when its spec says 0 (Ergo's `defaultPoolSize`).
pub const DEFAULT_POOL_SIZE: usize = 3;

/// Why a pool refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Fewer workers than asked to remove (Ergo's `ErrPoolEmpty`); none was removed.
    #[error("pool has not enough workers")]
    Empty,
    /// A worker could not be started (its `init` failed, ...): what `spawn_wait` returned.
    /// Workers started before it by the same request stay.
    #[error("worker failed to start: {0}")]
    StartFailed(Error),
    /// The request did not reach the pool or got no reply.
    #[error("pool request failed: {0}")]
    Request(Error),
}

type StartFuture<'a> = Pin<Box<dyn Future<Output = Result<Pid, Error>> + Send + 'a>>;
type StartFn = dyn for<'a> Fn(&'a mut Context, SpawnOptions) -> StartFuture<'a> + Send + Sync;

/// Fixes the closure's signature (higher-ranked over the borrow of the context).
fn erase<F>(f: F) -> Arc<StartFn>
where
    F: for<'a> Fn(&'a mut Context, SpawnOptions) -> StartFuture<'a> + Send + Sync + 'static,
{
    Arc::new(f)
}

/// What a pool does with its own messages and requests (those sent at `System` or `Urgent`
/// priority): Ergo's `PoolBehavior` callbacks. Every callback gets a [`PoolControl`], through
/// which it reaches the pool's [`Context`] and changes the number of workers. The defaults log
/// "unhandled", as Ergo's.
pub trait PoolBehavior: Send + 'static {
    /// Runs once the pool's workers have started, before any message is handled. An error
    /// ends the pool (and its workers, through their link).
    fn init(&mut self, pool: &mut PoolControl<'_>) -> impl Future<Output = Result<(), ExitReason>> + Send {
        let _ = pool;
        async { Ok(()) }
    }

    /// A message sent to the pool at `System` or `Urgent` priority.
    fn handle_message(
        &mut self,
        pool: &mut PoolControl<'_>,
        from: Pid,
        msg: Message,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        pool.ctx().log(Level::WARN, format_args!("pool: unhandled message from {from}: {msg:?}"));
        async { Ok(()) }
    }

    /// A request made to the pool at `System` or `Urgent` priority (not one of this module's
    /// requests). As [`Actor::handle_call`]: `Ok(Some(reply))`, or `Ok(None)` to reply later.
    fn handle_call(
        &mut self,
        pool: &mut PoolControl<'_>,
        from: From,
        request: Message,
    ) -> impl Future<Output = Result<Option<Message>, ExitReason>> + Send {
        pool.ctx().log(Level::WARN, format_args!("pool: unhandled request from {}: {request:?}", from.pid));
        async { Ok(None) }
    }

    /// An event message that reached the pool at `System` or `Urgent` priority.
    fn handle_event(
        &mut self,
        pool: &mut PoolControl<'_>,
        event: MessageEvent,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        pool.ctx().log(Level::WARN, format_args!("pool: unhandled event {event:?}"));
        async { Ok(()) }
    }

    /// Runs last, with the reason the pool is ending (its workers end after it, through their
    /// link).
    fn terminate(&mut self, pool: &mut PoolControl<'_>, reason: &ExitReason) -> impl Future<Output = ()> + Send {
        let _ = (pool, reason);
        async {}
    }
}

/// The behaviour of a pool that has none of its own: its own messages are logged and dropped.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoBehavior;

impl PoolBehavior for NoBehavior {}

/// A pool's configuration (Ergo's `PoolOptions`): a factory that makes a fresh worker actor for
/// every start, the number of workers, their spawn options and the pool's own behaviour.
pub struct PoolSpec<B = NoBehavior> {
    start: Arc<StartFn>,
    size: usize,
    options: SpawnOptions,
    behavior: B,
}

impl<B: Clone> Clone for PoolSpec<B> {
    fn clone(&self) -> Self {
        PoolSpec {
            start: self.start.clone(),
            size: self.size,
            options: self.options.clone(),
            behavior: self.behavior.clone(),
        }
    }
}

impl<B> fmt::Debug for PoolSpec<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolSpec").field("size", &self.size).finish_non_exhaustive()
    }
}

impl PoolSpec<NoBehavior> {
    /// A pool of [`DEFAULT_POOL_SIZE`] workers made by `factory`, without a behaviour of its own.
    ///
    /// # Examples
    /// ```no_run
    /// use ergors::pool::{self, Pool, PoolSpec};
    /// use ergors::{Actor, Node, NodeOptions, SpawnOptions};
    ///
    /// struct Worker;
    /// impl Actor for Worker {}
    ///
    /// let node = Node::start("demo@localhost", NodeOptions::from_env()?)?;
    /// let pool = node.spawn_wait(Pool::new(PoolSpec::new(|| Worker).size(4)), SpawnOptions::default())?;
    /// node.send(pool, "work")?; // handed on to one of the 4 workers
    /// assert_eq!(pool::add_workers(&node, pool, 2)?, 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new<A: Actor, F>(factory: F) -> Self
    where
        F: Fn() -> A + Send + Sync + 'static,
    {
        let start = erase(move |ctx, opts| {
            let actor = factory();
            let started: StartFuture<'_> = Box::pin(ctx.spawn_wait(actor, opts));
            started
        });
        PoolSpec { start, size: DEFAULT_POOL_SIZE, options: SpawnOptions::default(), behavior: NoBehavior }
    }
}

impl<B: PoolBehavior> PoolSpec<B> {
    /// The number of workers to start with; 0 means [`DEFAULT_POOL_SIZE`] (as Ergo).
    pub fn size(mut self, n: usize) -> Self {
        self.size = if n == 0 { DEFAULT_POOL_SIZE } else { n };
        self
    }

    /// Spawn options for every worker (Ergo's `WorkerMailboxSize` is `mailbox_size` here); the
    /// pool adds `link_parent`.
    pub fn worker_options(mut self, opts: SpawnOptions) -> Self {
        self.options = opts;
        self
    }

    /// The pool's own behaviour: what it does with messages and requests sent to it at `System`
    /// or `Urgent` priority.
    pub fn behavior<C: PoolBehavior>(self, behavior: C) -> PoolSpec<C> {
        PoolSpec { start: self.start, size: self.size, options: self.options, behavior }
    }
}

/// Counters of a pool, answered to [`Info`] (Ergo's pool inspection).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolInfo {
    /// Workers in the rotation now.
    pub size: usize,
    /// Messages, requests and events handed on to workers.
    pub forwarded: u64,
    /// Workers started in place of one that ended.
    pub restarts: u64,
    /// Messages and requests no worker could take (dropped; a caller waits for its timeout).
    pub unhandled: u64,
}

/// A request a pool answers (sent with [`request`] or [`request_from`], or a plain `call` at
/// any priority: the reply is a `Result<Self::Reply, PoolError>`).
pub trait PoolRequest: Send + 'static {
    /// What a successful request returns.
    type Reply: Send + 'static;
}

/// Starts this many more workers, added at the end of the rotation (Ergo's `AddWorkers`).
/// Replies with the number of workers now.
#[derive(Clone, Copy, Debug)]
pub struct AddWorkers(pub usize);
/// Stops this many workers, the next ones in the rotation, with [`ExitReason::Normal`] (Ergo's
/// `RemoveWorkers`). Replies with the number of workers now.
#[derive(Clone, Copy, Debug)]
pub struct RemoveWorkers(pub usize);
/// Lists the workers, the next in the rotation first.
#[derive(Clone, Copy, Debug)]
pub struct Workers;
/// The pool's counters.
#[derive(Clone, Copy, Debug)]
pub struct Info;

impl PoolRequest for AddWorkers {
    type Reply = usize;
}
impl PoolRequest for RemoveWorkers {
    type Reply = usize;
}
impl PoolRequest for Workers {
    type Reply = Vec<Pid>;
}
impl PoolRequest for Info {
    type Reply = PoolInfo;
}

fn decode<R: PoolRequest>(reply: Result<Message, Error>) -> Result<R::Reply, PoolError> {
    super::decode_reply(reply, PoolError::Request, "not a pool")
}

/// Sends `req` to the pool `pool` from a plain thread and waits for its answer.
///
/// # Errors
/// The pool's refusal, or [`PoolError::Request`] when the call failed (an unknown process, a
/// timeout, `WouldBlockWorker` on a worker thread) or `pool` is not a pool.
pub fn request<R: PoolRequest>(node: &NodeHandle, pool: impl Into<To>, req: R) -> Result<R::Reply, PoolError> {
    decode::<R>(node.call(pool, req))
}

/// Sends `req` to the pool `pool` from inside a process and waits (this process only) for its
/// answer.
///
/// # Errors
/// As for [`request`].
pub async fn request_from<R: PoolRequest>(
    ctx: &mut Context,
    pool: impl Into<To>,
    req: R,
) -> Result<R::Reply, PoolError> {
    decode::<R>(ctx.call(pool, req).await)
}

/// [`AddWorkers`] from a plain thread.
///
/// # Errors
/// As for [`request`]; [`PoolError::StartFailed`].
pub fn add_workers(node: &NodeHandle, pool: impl Into<To>, n: usize) -> Result<usize, PoolError> {
    request(node, pool, AddWorkers(n))
}

/// [`RemoveWorkers`] from a plain thread.
///
/// # Errors
/// As for [`request`]; [`PoolError::Empty`].
pub fn remove_workers(node: &NodeHandle, pool: impl Into<To>, n: usize) -> Result<usize, PoolError> {
    request(node, pool, RemoveWorkers(n))
}

/// [`Workers`] from a plain thread.
///
/// # Errors
/// As for [`request`].
pub fn workers(node: &NodeHandle, pool: impl Into<To>) -> Result<Vec<Pid>, PoolError> {
    request(node, pool, Workers)
}

/// [`Info`] from a plain thread.
///
/// # Errors
/// As for [`request`].
pub fn info(node: &NodeHandle, pool: impl Into<To>) -> Result<PoolInfo, PoolError> {
    request(node, pool, Info)
}

/// The workers and what starts them: the part of the pool its behaviour may change.
struct Rotation {
    start: Arc<StartFn>,
    options: SpawnOptions,
    /// The next worker to get a message first; its table entry, kept so that handing a
    /// message on looks nothing up.
    ring: VecDeque<Arc<ProcessEntry>>,
    /// Workers found dead and replaced before their down arrived: the down is dropped when it
    /// comes (every worker is monitored, so it does), not handed to the behaviour.
    retired: Vec<Pid>,
    info: PoolInfo,
}

impl Rotation {
    /// Starts one worker (its `init` done) and monitors it. Linked to the pool (`link_parent`):
    /// it ends with the pool. Monitored, not linked the other way: the pool would have to trap
    /// exits, and then an exit signal sent to the pool would no longer stop it (Ergo's pool
    /// does not trap exits either).
    async fn start_worker(&mut self, ctx: &mut Context) -> Result<Arc<ProcessEntry>, Error> {
        let opts = self.options.clone().link_parent();
        let pid = (self.start)(ctx, opts).await?;
        // One that ended already (right after its `init`) counts as failed to start: every
        // worker in the rotation is monitored, so its down is sure to come.
        ctx.monitor(pid)?;
        ctx.node().inner.table.get(&pid).ok_or(Error::ProcessUnknown)
    }

    fn pids(&self) -> Vec<Pid> {
        self.ring.iter().map(|e| e.pid).collect()
    }

    async fn add(&mut self, ctx: &mut Context, n: usize) -> Result<usize, PoolError> {
        for _ in 0..n {
            let worker = self.start_worker(ctx).await.map_err(PoolError::StartFailed)?;
            self.ring.push_back(worker);
        }
        Ok(self.ring.len())
    }

    fn remove(&mut self, ctx: &mut Context, n: usize) -> Result<usize, PoolError> {
        if n > self.ring.len() {
            return Err(PoolError::Empty);
        }
        for pid in self.ring.drain(..n).map(|e| e.pid).collect::<Vec<_>>() {
            // Not a death to replace: forget the monitor before the exit signal.
            let _ = ctx.demonitor(pid);
            let _ = ctx.send_exit(pid, ExitReason::Normal);
        }
        Ok(self.ring.len())
    }

    /// A worker ended: a fresh one takes its place in the rotation. A worker that cannot be
    /// started leaves the rotation (Ergo logs and goes on with the others).
    async fn replace(&mut self, ctx: &mut Context, dead: Pid) -> Option<Arc<ProcessEntry>> {
        let i = self.ring.iter().position(|e| e.pid == dead)?;
        match self.start_worker(ctx).await {
            Ok(worker) => {
                self.ring[i] = worker.clone();
                self.info.restarts += 1;
                Some(worker)
            }
            Err(e) => {
                ctx.log(Level::ERROR, format_args!("pool: unable to start a worker in place of {dead}: {e}"));
                self.ring.remove(i);
                None
            }
        }
    }

    /// The next worker that can take a message at `Main` now: live (a dead one is replaced in
    /// its place first) and with room in its queue (a full one is skipped, as Ergo). Moves it to
    /// the end of the rotation.
    async fn next(&mut self, ctx: &mut Context) -> Option<Arc<ProcessEntry>> {
        for _ in 0..self.ring.len() {
            let front = self.ring.front()?;
            let worker = if !front.is_alive() {
                // Its down is on its way (D85).
                let dead = front.pid;
                self.retired.push(dead);
                match self.replace(ctx, dead).await {
                    Some(fresh) => fresh,
                    None => continue,
                }
            } else if front.mailbox.has_room(Priority::Main) {
                front.clone()
            } else {
                self.ring.rotate_left(1);
                continue;
            };
            self.ring.rotate_left(1);
            return Some(worker);
        }
        None
    }

    fn unhandled(&mut self, ctx: &mut Context, what: &str, from: Pid) {
        self.info.unhandled += 1;
        ctx.log(Level::ERROR, format_args!("pool: no worker available, {what} from {from} dropped"));
    }
}

/// Gives a [`PoolBehavior`] the pool's context and its workers.
pub struct PoolControl<'a> {
    ctx: &'a mut Context,
    rotation: &'a mut Rotation,
}

impl PoolControl<'_> {
    /// The pool process's context (to send, reply, link, ...).
    pub fn ctx(&mut self) -> &mut Context {
        self.ctx
    }

    /// The number of workers in the rotation.
    pub fn size(&self) -> usize {
        self.rotation.ring.len()
    }

    /// The workers, the next in the rotation first.
    pub fn workers(&self) -> Vec<Pid> {
        self.rotation.pids()
    }

    /// The pool's counters.
    pub fn info(&self) -> PoolInfo {
        PoolInfo { size: self.rotation.ring.len(), ..self.rotation.info }
    }

    /// Starts `n` more workers (each after the previous one's `init`), at the end of the
    /// rotation; returns the number of workers now (Ergo's `AddWorkers`).
    ///
    /// # Errors
    /// [`PoolError::StartFailed`]: the workers started before the failure stay.
    pub async fn add_workers(&mut self, n: usize) -> Result<usize, PoolError> {
        self.rotation.add(self.ctx, n).await
    }

    /// Stops the next `n` workers of the rotation (exit signal, [`ExitReason::Normal`]);
    /// returns the number of workers now (Ergo's `RemoveWorkers`).
    ///
    /// # Errors
    /// [`PoolError::Empty`] when there are fewer than `n` workers (none is removed).
    pub fn remove_workers(&mut self, n: usize) -> Result<usize, PoolError> {
        self.rotation.remove(self.ctx, n)
    }
}

/// The pool process. Spawn it with any spawn function; its `init` starts the workers (each
/// after the previous one's `init` succeeded), so with `spawn_wait` the spawner learns whether
/// they all started.
pub struct Pool<B = NoBehavior> {
    size: usize,
    rotation: Rotation,
    behavior: B,
}

impl<B: PoolBehavior> Pool<B> {
    /// A pool for `spec`.
    pub fn new(spec: PoolSpec<B>) -> Self {
        Pool {
            size: spec.size,
            rotation: Rotation {
                start: spec.start,
                options: spec.options,
                ring: VecDeque::with_capacity(spec.size),
                retired: Vec::new(),
                info: PoolInfo::default(),
            },
            behavior: spec.behavior,
        }
    }

    fn control<'a>(rotation: &'a mut Rotation, ctx: &'a mut Context) -> PoolControl<'a> {
        PoolControl { ctx, rotation }
    }

    /// This module's requests, answered by the pool itself; the request back if it is none.
    async fn own_request(&mut self, ctx: &mut Context, req: Message) -> Result<Message, Message> {
        let req = match req.downcast::<AddWorkers>() {
            Ok(AddWorkers(n)) => return Ok(Message::new(self.rotation.add(ctx, n).await)),
            Err(req) => req,
        };
        let req = match req.downcast::<RemoveWorkers>() {
            Ok(RemoveWorkers(n)) => return Ok(Message::new(self.rotation.remove(ctx, n))),
            Err(req) => req,
        };
        if req.is::<Workers>() {
            let list: Vec<Pid> = self.rotation.pids();
            return Ok(Message::new(Ok::<_, PoolError>(list)));
        }
        if req.is::<Info>() {
            let info = PoolInfo { size: self.rotation.ring.len(), ..self.rotation.info };
            return Ok(Message::new(Ok::<_, PoolError>(info)));
        }
        Err(req)
    }

    /// A down from a worker of ours: replaced (or already replaced). Anything else is not ours
    /// to take.
    async fn worker_down(&mut self, ctx: &mut Context, msg: Message) -> Result<(), Message> {
        let down = msg.downcast::<MessageDown>()?;
        let Target::Pid(pid) = down.target else { return Err(Message::new(down)) };
        if let Some(i) = self.rotation.retired.iter().position(|p| *p == pid) {
            self.rotation.retired.swap_remove(i);
            return Ok(());
        }
        if self.rotation.ring.iter().any(|e| e.pid == pid) {
            self.rotation.replace(ctx, pid).await;
            return Ok(());
        }
        Err(Message::new(down))
    }
}

impl<B: PoolBehavior> Actor for Pool<B> {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        // A failure fails this `init`: the workers started so far end through their link (as
        // a supervisor's children, D81).
        if let Err(e) = self.rotation.add(ctx, self.size).await {
            return Err(ExitReason::custom(e));
        }
        self.behavior.init(&mut Self::control(&mut self.rotation, ctx)).await
    }

    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        if ctx.received_priority() == Priority::Main {
            match self.rotation.next(ctx).await {
                Some(worker) => match ctx.forward_message_to(from, &worker, msg, Priority::Main) {
                    Ok(()) => self.rotation.info.forwarded += 1,
                    Err(_) => self.rotation.unhandled(ctx, "message", from),
                },
                None => self.rotation.unhandled(ctx, "message", from),
            }
            return Ok(());
        }
        // Downs arrive at System: those of our workers are the pool's business, not its
        // behaviour's.
        let msg = match self.worker_down(ctx, msg).await {
            Ok(()) => return Ok(()),
            Err(msg) => msg,
        };
        self.behavior.handle_message(&mut Self::control(&mut self.rotation, ctx), from, msg).await
    }

    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        let req = match self.own_request(ctx, req).await {
            Ok(reply) => return Ok(Some(reply)),
            Err(req) => req,
        };
        if ctx.received_priority() != Priority::Main {
            return self.behavior.handle_call(&mut Self::control(&mut self.rotation, ctx), from, req).await;
        }
        let Some(worker) = self.rotation.next(ctx).await else {
            self.rotation.unhandled(ctx, "request", from.pid);
            return Ok(None);
        };
        // Handed on at Main whatever this process's own send priority (Ergo forwards at
        // Normal).
        match ctx.forward_call_to(from, &worker, req) {
            Ok(()) => self.rotation.info.forwarded += 1,
            // The request was consumed: the caller waits for its timeout, as in Ergo.
            Err(_) => self.rotation.unhandled(ctx, "request", from.pid),
        }
        Ok(None)
    }

    async fn handle_event(&mut self, ctx: &mut Context, event: MessageEvent) -> Result<(), ExitReason> {
        if ctx.received_priority() != Priority::Main {
            return self.behavior.handle_event(&mut Self::control(&mut self.rotation, ctx), event).await;
        }
        let pid = ctx.pid();
        match self.rotation.next(ctx).await {
            Some(worker) => match ctx.forward_event(worker.pid, event, Priority::Main) {
                Ok(()) => self.rotation.info.forwarded += 1,
                Err(_) => self.rotation.unhandled(ctx, "event", pid),
            },
            None => self.rotation.unhandled(ctx, "event", pid),
        }
        Ok(())
    }

    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        self.behavior.terminate(&mut Self::control(&mut self.rotation, ctx), reason).await;
    }
}
