//! Supervisors (Ergo's `act.Supervisor`): a process that starts children from a spec, restarts
//! them by its type and restart strategy, and gives up (stopping the rest in reverse order) when
//! they fail too often.
//!
//! A supervisor is an ordinary [`Actor`]: spawn [`Supervisor::new`] like any other process
//! (nested, named, linked, monitored, inspected). It runs on a worker and never blocks it: a
//! child is started with `spawn_wait` (only the supervisor waits for its `init`), and waiting for
//! a child to stop is a state of its message loop, bounded by a timer message (D82).

use super::Actor;
use super::context::Context;
use crate::error::Error;
use crate::message::{ExitReason, From, Message, MessageExit, Pid, Target, To};
use crate::node::{NodeHandle, SpawnOptions};
use crate::runtime::timer::TimerHandle;
use std::any::{Any, TypeId};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Level;

/// How a supervisor reacts when a child is to be restarted (Ergo's `SupervisorType`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SupervisorType {
    /// Only the child that ended is restarted.
    #[default]
    OneForOne,
    /// Every other child is stopped (in reverse start order), then all are started again in
    /// spec order.
    AllForOne,
    /// The children started after the one that ended are stopped (in reverse order), then it
    /// and they are started again in spec order.
    RestForOne,
    /// No child at start: each spec is a template, started any number of times on request
    /// ([`StartChild`]); instances are restarted one for one and not registered by name.
    SimpleOneForOne,
}

/// When a child that ended is restarted (Ergo's `SupervisorStrategy`; as in Ergo it is the
/// supervisor's, for all its children).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Restart {
    /// Restarted only when it ended abnormally: not for [`ExitReason::Normal`] nor
    /// [`ExitReason::Shutdown`]. Ergo's default.
    #[default]
    Transient,
    /// Never restarted.
    Temporary,
    /// Always restarted.
    Permanent,
}

/// Restarts allowed within [`DEFAULT_PERIOD`] unless the spec says otherwise (Ergo: 5).
pub const DEFAULT_INTENSITY: u16 = 5;
/// The window restarts are counted in (Ergo: 5 s).
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(5);
/// How long a child gets to end after its exit signal before it is killed (D82).
pub const DEFAULT_SHUTDOWN: Duration = Duration::from_secs(5);

/// Why a supervisor refused a request, or ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    /// The supervisor is restarting or stopping children; try again later (Ergo's
    /// `ErrSupervisorStrategyActive`).
    #[error("supervisor strategy is active")]
    StrategyActive,
    /// No child spec has that name.
    #[error("unknown child")]
    ChildUnknown,
    /// The child is running already.
    #[error("child process is already running")]
    ChildRunning,
    /// The child spec is disabled.
    #[error("child is disabled")]
    ChildDisabled,
    /// Another child spec has that name.
    #[error("duplicate child spec name")]
    ChildDuplicate,
    /// A child spec without a name.
    #[error("invalid child spec name")]
    BadChildName,
    /// A spec without children.
    #[error("children list can not be empty")]
    NoChildren,
    /// Children failed more often than the restart intensity allows: the supervisor's exit
    /// reason (as a custom reason: `reason.downcast_ref::<SupervisorError>()`).
    #[error("restart intensity exceeded")]
    RestartsExceeded,
    /// A child could not be started (its `init` failed, its name is taken, ...). A supervisor
    /// that fails to start or restart a child of its spec ends with this reason.
    #[error("child {child:?} failed to start: {error}")]
    StartFailed {
        /// The child spec's name.
        child: String,
        /// What `spawn_wait` returned.
        error: Error,
    },
    /// The request did not reach the supervisor or got no reply.
    #[error("supervisor request failed: {0}")]
    Request(Error),
    /// [`StartChildWith`] gave arguments of another type than the spec's
    /// ([`ChildSpec::with_args`]), or to a spec made without arguments.
    #[error("child {child:?} takes {expected} as arguments, not {given}")]
    ArgsMismatch {
        /// The child spec's name.
        child: String,
        /// The type the spec takes ("no arguments" for [`ChildSpec::new`]).
        expected: &'static str,
        /// The type given.
        given: &'static str,
    },
}

/// Arguments for one start, type-erased (see [`ChildSpec::with_args`]).
type Args = Arc<dyn Any + Send + Sync>;

type StartFuture<'a> = Pin<Box<dyn Future<Output = Result<Pid, Error>> + Send + 'a>>;
type StartFn = dyn for<'a> Fn(&'a mut Context, Option<&'a str>, Option<&'a (dyn Any + Send + Sync)>, SpawnOptions) -> StartFuture<'a>
    + Send
    + Sync;

/// Fixes the closure's signature (higher-ranked over the borrow of the context).
fn erase<F>(f: F) -> Arc<StartFn>
where
    F: for<'a> Fn(
            &'a mut Context,
            Option<&'a str>,
            Option<&'a (dyn Any + Send + Sync)>,
            SpawnOptions,
        ) -> StartFuture<'a>
        + Send
        + Sync
        + 'static,
{
    Arc::new(f)
}

/// Spawns `actor`, registered under `name` if there is one, and waits for its `init`.
fn spawn_child<'a, A: Actor>(
    ctx: &'a mut Context,
    name: Option<&'a str>,
    actor: A,
    opts: SpawnOptions,
) -> StartFuture<'a> {
    match name {
        Some(name) => Box::pin(ctx.spawn_register_wait(name, actor, opts)),
        None => Box::pin(ctx.spawn_wait(actor, opts)),
    }
}

/// One child of a supervisor (Ergo's `SupervisorChildSpec`): a name, and a factory that makes a
/// fresh actor for every start.
#[derive(Clone)]
pub struct ChildSpec {
    name: String,
    significant: bool,
    shutdown: Duration,
    options: SpawnOptions,
    start: Arc<StartFn>,
    /// The type of the arguments the factory takes, if it takes any ([`ChildSpec::with_args`]).
    args: Option<(TypeId, &'static str)>,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("significant", &self.significant)
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A child named `name` (also its registered name, except under simple-one-for-one), made
    /// by `factory` at every start.
    ///
    /// # Examples
    /// ```no_run
    /// use ergors::supervisor::{ChildSpec, Restart, SupervisorSpec, Supervisor};
    /// use ergors::{Actor, Node, NodeOptions, SpawnOptions};
    /// use std::time::Duration;
    ///
    /// struct Worker;
    /// impl Actor for Worker {}
    ///
    /// let node = Node::start("demo@localhost", NodeOptions::from_env()?)?;
    /// let spec = SupervisorSpec::one_for_one()
    ///     .restart(Restart::Permanent)
    ///     .intensity(5, Duration::from_secs(5))
    ///     .child(ChildSpec::new("worker", || Worker));
    /// let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default())?;
    /// assert!(node.whereis("worker").is_some());
    /// # let _ = sup;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new<A: Actor, F>(name: &str, factory: F) -> ChildSpec
    where
        F: Fn() -> A + Send + Sync + 'static,
    {
        let start = erase(move |ctx, name, _args, opts| spawn_child(ctx, name, factory(), opts));
        ChildSpec {
            name: name.to_string(),
            significant: false,
            shutdown: DEFAULT_SHUTDOWN,
            options: SpawnOptions::default(),
            start,
            args: None,
        }
    }

    /// A child made by `factory` from arguments (Ergo's `Args`): `args` at every start, unless
    /// it was started by [`StartChildWith`] with others. Under simple-one-for-one each instance
    /// keeps the arguments it was started with, also for its restarts; otherwise the last
    /// arguments given replace the spec's (as Ergo's `StartChild(name, args...)`).
    ///
    /// # Examples
    /// ```no_run
    /// use ergors::supervisor::{self, ChildSpec, SupervisorSpec, Supervisor};
    /// use ergors::{Actor, Node, NodeOptions, SpawnOptions};
    ///
    /// struct Conn { port: u16 }
    /// impl Actor for Conn {}
    ///
    /// let node = Node::start("demo@localhost", NodeOptions::from_env()?)?;
    /// let spec = SupervisorSpec::simple_one_for_one()
    ///     .child(ChildSpec::with_args("conn", 80u16, |port| Conn { port }));
    /// let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default())?;
    /// let on_443 = supervisor::start_child_with(&node, sup, "conn", 443u16)?;
    /// # let _ = on_443;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_args<A: Actor, T, F>(name: &str, args: T, factory: F) -> ChildSpec
    where
        T: Clone + Send + Sync + 'static,
        F: Fn(T) -> A + Send + Sync + 'static,
    {
        let start = erase(move |ctx, name, given, opts| {
            // The type was checked when the arguments were given; the spec's are the fallback.
            let args = given.and_then(|a| a.downcast_ref::<T>()).unwrap_or(&args).clone();
            spawn_child(ctx, name, factory(args), opts)
        });
        ChildSpec {
            name: name.to_string(),
            significant: false,
            shutdown: DEFAULT_SHUTDOWN,
            options: SpawnOptions::default(),
            start,
            args: Some((TypeId::of::<T>(), std::any::type_name::<T>())),
        }
    }

    /// Marks the child significant (Ergo's `Significant`): when it ends and is not restarted
    /// (temporary, or transient ending normally), the supervisor stops the others and ends with
    /// its reason. Ignored for permanent restarts and simple-one-for-one.
    pub fn significant(mut self, on: bool) -> Self {
        self.significant = on;
        self
    }

    /// How long the child gets to end after the supervisor's exit signal before it is killed
    /// (default [`DEFAULT_SHUTDOWN`]).
    pub fn shutdown(mut self, timeout: Duration) -> Self {
        self.shutdown = timeout;
        self
    }

    /// Spawn options for the child; the supervisor adds `link_parent` and `link_child`.
    pub fn options(mut self, opts: SpawnOptions) -> Self {
        self.options = opts;
        self
    }

    /// The spec's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts one instance from inside `ctx`, registered as `name` if given, with the spec's
    /// own arguments (applications start their members with it).
    pub(crate) fn start_in<'a>(
        &self,
        ctx: &'a mut Context,
        name: Option<&'a str>,
        opts: SpawnOptions,
    ) -> StartFuture<'a> {
        (self.start)(ctx, name, None, opts)
    }

    /// The spawn options given with [`ChildSpec::options`].
    pub(crate) fn spawn_options(&self) -> &SpawnOptions {
        &self.options
    }

    /// The time the child gets to end before it is killed.
    pub(crate) fn shutdown_timeout(&self) -> Duration {
        self.shutdown
    }
}

/// What a supervisor supervises and how (Ergo's `SupervisorSpec` with its `SupervisorRestart`).
#[derive(Clone, Debug)]
pub struct SupervisorSpec {
    kind: SupervisorType,
    restart: Restart,
    intensity: u16,
    period: Duration,
    keep_order: bool,
    auto_shutdown: bool,
    handle_child: bool,
    children: Vec<ChildSpec>,
}

impl SupervisorSpec {
    /// A spec of `kind` with no child yet, transient restarts, intensity 5 in 5 s.
    pub fn new(kind: SupervisorType) -> Self {
        SupervisorSpec {
            kind,
            restart: Restart::default(),
            intensity: DEFAULT_INTENSITY,
            period: DEFAULT_PERIOD,
            keep_order: false,
            auto_shutdown: true,
            handle_child: false,
            children: Vec::new(),
        }
    }
    /// `new(SupervisorType::OneForOne)`.
    pub fn one_for_one() -> Self {
        Self::new(SupervisorType::OneForOne)
    }
    /// `new(SupervisorType::AllForOne)`.
    pub fn all_for_one() -> Self {
        Self::new(SupervisorType::AllForOne)
    }
    /// `new(SupervisorType::RestForOne)`.
    pub fn rest_for_one() -> Self {
        Self::new(SupervisorType::RestForOne)
    }
    /// `new(SupervisorType::SimpleOneForOne)`.
    pub fn simple_one_for_one() -> Self {
        Self::new(SupervisorType::SimpleOneForOne)
    }
    /// The restart strategy for every child.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }
    /// At most `intensity` restarts within `period`; one more and the supervisor stops its
    /// children and ends with [`SupervisorError::RestartsExceeded`]. Zeros mean the defaults,
    /// as in Ergo.
    pub fn intensity(mut self, intensity: u16, period: Duration) -> Self {
        self.intensity = if intensity == 0 { DEFAULT_INTENSITY } else { intensity };
        self.period = if period.is_zero() { DEFAULT_PERIOD } else { period };
        self
    }
    /// All-for-one and rest-for-one: on a restart, stop one child at a time, each after the
    /// previous has ended (Ergo's `KeepOrder`); otherwise all are signalled at once.
    pub fn keep_order(mut self, on: bool) -> Self {
        self.keep_order = on;
        self
    }
    /// Keep running when no child is left (Ergo's `DisableAutoShutdown`). By default a
    /// supervisor whose children have all ended and will not be restarted ends too (not with
    /// permanent restarts, nor simple-one-for-one).
    pub fn disable_auto_shutdown(mut self) -> Self {
        self.auto_shutdown = false;
        self
    }
    /// Call the behaviour's [`SupervisorBehavior::handle_child_start`] and
    /// [`handle_child_terminate`](SupervisorBehavior::handle_child_terminate) for every child
    /// that started and ended (Ergo's `EnableHandleChild`). They run once the strategy is done
    /// with all children (after a restart has started them all, say), in the order things
    /// happened.
    pub fn enable_handle_child(mut self, on: bool) -> Self {
        self.handle_child = on;
        self
    }
    /// Adds a child; children start in the order they were added.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }
}

/// A child as [`Children`] reports it (Ergo's `SupervisorChild`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupervisorChild {
    /// The spec it was started from.
    pub spec: String,
    /// Its registered name (the spec's name, except under simple-one-for-one).
    pub name: Option<String>,
    /// Its Pid while it runs.
    pub pid: Option<Pid>,
    /// The spec is significant.
    pub significant: bool,
    /// The spec is disabled.
    pub disabled: bool,
}

/// A request a supervisor answers (sent with [`request`] or [`request_from`], or a plain
/// `call`: the reply is a `Result<Self::Reply, SupervisorError>`).
pub trait SupervisorRequest: Send + 'static {
    /// What a successful request returns.
    type Reply: Send + 'static;
}

/// Starts the child of this spec (Ergo's `StartChild`): one that is not running (it ended and
/// was not restarted), or, under simple-one-for-one, a new instance. Replies with its Pid.
#[derive(Clone, Debug)]
pub struct StartChild(pub String);
/// [`StartChild`] with arguments for the child's factory instead of the spec's (Ergo's
/// `StartChild(name, args...)`, see [`ChildSpec::with_args`]). Replies with its Pid, or
/// [`SupervisorError::ArgsMismatch`] when the spec takes other arguments.
#[derive(Clone)]
pub struct StartChildWith {
    name: String,
    args: Args,
    given: &'static str,
}

impl StartChildWith {
    /// Start the child of spec `name` with `args`.
    pub fn new<T: Send + Sync + 'static>(name: &str, args: T) -> Self {
        StartChildWith { name: name.to_string(), args: Arc::new(args), given: std::any::type_name::<T>() }
    }
}

impl fmt::Debug for StartChildWith {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartChildWith").field("name", &self.name).field("args", &self.given).finish()
    }
}

/// Adds a child spec and starts it (Ergo's `AddChild`; simple-one-for-one only adds it).
/// Replies with the Pid of the started child.
#[derive(Clone, Debug)]
pub struct AddChild(pub ChildSpec);
/// Enables a disabled spec and starts its child (Ergo's `EnableChild`; simple-one-for-one only
/// enables it).
#[derive(Clone, Debug)]
pub struct EnableChild(pub String);
/// Disables a spec and stops its child (its instances, under simple-one-for-one) with
/// [`ExitReason::Shutdown`] (Ergo's `DisableChild`). Replies once the exit signals are sent.
#[derive(Clone, Debug)]
pub struct DisableChild(pub String);
/// Lists the children in spec order (Ergo's `Children`).
#[derive(Clone, Copy, Debug)]
pub struct Children;

impl SupervisorRequest for StartChild {
    type Reply = Pid;
}
impl SupervisorRequest for StartChildWith {
    type Reply = Pid;
}
impl SupervisorRequest for AddChild {
    type Reply = Option<Pid>;
}
impl SupervisorRequest for EnableChild {
    type Reply = Option<Pid>;
}
impl SupervisorRequest for DisableChild {
    type Reply = ();
}
impl SupervisorRequest for Children {
    type Reply = Vec<SupervisorChild>;
}

fn decode<R: SupervisorRequest>(reply: Result<Message, Error>) -> Result<R::Reply, SupervisorError> {
    super::decode_reply(reply, SupervisorError::Request, "not a supervisor")
}

/// Sends `req` to the supervisor `sup` from a plain thread and waits for its answer.
///
/// # Errors
/// The supervisor's refusal, or [`SupervisorError::Request`] when the call failed (an unknown
/// process, a timeout, `WouldBlockWorker` on a worker thread) or `sup` is not a supervisor.
pub fn request<R: SupervisorRequest>(
    node: &NodeHandle,
    sup: impl Into<To>,
    req: R,
) -> Result<R::Reply, SupervisorError> {
    decode::<R>(node.call(sup, req))
}

/// Sends `req` to the supervisor `sup` from inside a process and waits (this process only) for
/// its answer.
///
/// # Errors
/// As for [`request`].
pub async fn request_from<R: SupervisorRequest>(
    ctx: &mut Context,
    sup: impl Into<To>,
    req: R,
) -> Result<R::Reply, SupervisorError> {
    decode::<R>(ctx.call(sup, req).await)
}

/// [`StartChild`] from a plain thread.
///
/// # Errors
/// As for [`request`]; [`SupervisorError::ChildUnknown`], `ChildRunning`, `ChildDisabled`,
/// `StrategyActive`, `StartFailed`.
pub fn start_child(node: &NodeHandle, sup: impl Into<To>, name: &str) -> Result<Pid, SupervisorError> {
    request(node, sup, StartChild(name.to_string()))
}

/// [`StartChildWith`] from a plain thread.
///
/// # Errors
/// As for [`start_child`]; [`SupervisorError::ArgsMismatch`].
pub fn start_child_with<T: Send + Sync + 'static>(
    node: &NodeHandle,
    sup: impl Into<To>,
    name: &str,
    args: T,
) -> Result<Pid, SupervisorError> {
    request(node, sup, StartChildWith::new(name, args))
}

/// [`AddChild`] from a plain thread.
///
/// # Errors
/// As for [`request`]; `ChildDuplicate`, `BadChildName`, `StrategyActive`, `StartFailed` (the
/// spec stays added).
pub fn add_child(node: &NodeHandle, sup: impl Into<To>, child: ChildSpec) -> Result<Option<Pid>, SupervisorError> {
    request(node, sup, AddChild(child))
}

/// [`EnableChild`] from a plain thread.
///
/// # Errors
/// As for [`request`]; `ChildUnknown`, `StrategyActive`, `StartFailed`.
pub fn enable_child(node: &NodeHandle, sup: impl Into<To>, name: &str) -> Result<Option<Pid>, SupervisorError> {
    request(node, sup, EnableChild(name.to_string()))
}

/// [`DisableChild`] from a plain thread.
///
/// # Errors
/// As for [`request`]; `ChildUnknown`, `StrategyActive`.
pub fn disable_child(node: &NodeHandle, sup: impl Into<To>, name: &str) -> Result<(), SupervisorError> {
    request(node, sup, DisableChild(name.to_string()))
}

/// [`Children`] from a plain thread.
///
/// # Errors
/// As for [`request`].
pub fn children(node: &NodeHandle, sup: impl Into<To>) -> Result<Vec<SupervisorChild>, SupervisorError> {
    request(node, sup, Children)
}

/// What a supervisor does besides supervising (Ergo's `SupervisorBehavior` callbacks): its own
/// messages and requests (those that are not this module's requests), its end, and, with
/// [`SupervisorSpec::enable_handle_child`], its children starting and ending. An `Err` from a
/// callback stops the children (in reverse order) and ends the supervisor with that reason, as
/// in Ergo. The defaults log "unhandled", as Ergo's.
pub trait SupervisorBehavior: Send + 'static {
    /// A child started (under simple-one-for-one, an instance; `name` is its spec's name).
    fn handle_child_start(
        &mut self,
        ctx: &mut Context,
        name: &str,
        pid: Pid,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        ctx.log(Level::WARN, format_args!("supervisor: unhandled child start {name} {pid}"));
        async { Ok(()) }
    }

    /// A child ended with `reason` (whether or not it is restarted).
    fn handle_child_terminate(
        &mut self,
        ctx: &mut Context,
        name: &str,
        pid: Pid,
        reason: &ExitReason,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        ctx.log(Level::WARN, format_args!("supervisor: unhandled child termination {name} {pid}: {reason}"));
        async { Ok(()) }
    }

    /// A message that is not the supervisor's own.
    fn handle_message(
        &mut self,
        ctx: &mut Context,
        from: Pid,
        msg: Message,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        ctx.log(Level::WARN, format_args!("supervisor: unhandled message from {from}: {msg:?}"));
        async { Ok(()) }
    }

    /// A request that is not one of this module's. As [`Actor::handle_call`]: `Ok(Some(reply))`,
    /// or `Ok(None)` to reply later.
    fn handle_call(
        &mut self,
        ctx: &mut Context,
        from: From,
        request: Message,
    ) -> impl Future<Output = Result<Option<Message>, ExitReason>> + Send {
        ctx.log(Level::WARN, format_args!("supervisor: unhandled request from {}: {request:?}", from.pid));
        async { Ok(None) }
    }

    /// Runs last, with the reason the supervisor ends (its children have been stopped, unless
    /// it was killed).
    fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) -> impl Future<Output = ()> + Send {
        let _ = (ctx, reason);
        async {}
    }
}

/// The behaviour of a supervisor that has none of its own: its own messages and requests are
/// logged and dropped.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoBehavior;

impl SupervisorBehavior for NoBehavior {}

/// A child start or end, kept for the behaviour until the strategy is done.
enum Notice {
    Started(usize, Pid),
    Ended(usize, Pid, ExitReason),
}

/// The timer message that bounds a child's stop: still running when it arrives, it is killed.
struct StopTimeout(Pid);

struct Slot {
    spec: ChildSpec,
    /// The running child (one-for-one, all-for-one, rest-for-one).
    pid: Option<Pid>,
    disabled: bool,
    /// Arguments given by the last [`StartChildWith`], used for later starts too (not under
    /// simple-one-for-one, where each instance keeps its own).
    args: Option<Args>,
}

/// What to do once the children being stopped have all ended.
enum Then {
    /// End the supervisor with this reason.
    Terminate(ExitReason),
    /// Start the children from this spec index on, in spec order.
    Restart(usize),
}

/// Children being stopped: the supervisor's strategy is active (Ergo's `supStateStrategy`).
struct Stopping {
    /// Not signalled yet, in stop order (with their shutdown timeout).
    pending: VecDeque<(Pid, Duration)>,
    /// Signalled, not ended yet; the timer kills them.
    waiting: Vec<(Pid, TimerHandle)>,
    /// One at a time: signal the next once the previous has ended.
    sequential: bool,
    reason: ExitReason,
    then: Then,
}

/// The supervisor process. Spawn it with any spawn function; its `init` starts the children
/// (in spec order, each after the previous one's `init` succeeded), so with `spawn_wait` the
/// spawner learns whether they all started.
pub struct Supervisor<B = NoBehavior> {
    kind: SupervisorType,
    restart: Restart,
    intensity: u16,
    period: Duration,
    keep_order: bool,
    auto_shutdown: bool,
    slots: Vec<Slot>,
    /// Simple-one-for-one instances, in start order: (spec index, Pid).
    instances: Vec<(usize, Pid)>,
    /// When the restarts within the period happened.
    restarts: VecDeque<Instant>,
    stopping: Option<Stopping>,
    /// Reasons of children that failed `init`: their exit signal (D80) still arrives, from a
    /// Pid we never learnt, and must not be taken for an exit from outside (D83).
    strays: Vec<ExitReason>,
    behavior: B,
    /// Child starts and ends for the behaviour (only with `enable_handle_child`).
    handle_child: bool,
    notices: VecDeque<Notice>,
    /// Simple-one-for-one instances started with their own arguments (most have none).
    instance_args: Vec<(Pid, Args)>,
    /// The arguments for the next start under simple-one-for-one (a request's, or those of
    /// the instance being restarted).
    next_args: Option<Args>,
    /// The arguments of the simple-one-for-one instance `forget` just removed.
    ended_args: Option<Args>,
}

impl Supervisor<NoBehavior> {
    /// A supervisor for `spec`, without a behaviour of its own.
    pub fn new(spec: SupervisorSpec) -> Self {
        Supervisor::with_behavior(spec, NoBehavior)
    }
}

impl<B: SupervisorBehavior> Supervisor<B> {
    /// A supervisor for `spec` whose own messages, requests and end (and, with
    /// [`SupervisorSpec::enable_handle_child`], its children's starts and ends) go to `behavior`.
    pub fn with_behavior(spec: SupervisorSpec, behavior: B) -> Self {
        Supervisor {
            kind: spec.kind,
            restart: spec.restart,
            intensity: spec.intensity,
            period: spec.period,
            keep_order: spec.keep_order,
            auto_shutdown: spec.auto_shutdown,
            slots: spec
                .children
                .into_iter()
                .map(|spec| Slot { spec, pid: None, disabled: false, args: None })
                .collect(),
            instances: Vec::new(),
            restarts: VecDeque::new(),
            stopping: None,
            strays: Vec::new(),
            behavior,
            handle_child: spec.handle_child,
            notices: VecDeque::new(),
            instance_args: Vec::new(),
            next_args: None,
            ended_args: None,
        }
    }

    /// Hands the kept child starts and ends to the behaviour, unless the strategy is active
    /// (then they wait until it is done, as in Ergo). An error ends the supervisor.
    async fn notify(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        while self.stopping.is_none() {
            let Some(notice) = self.notices.pop_front() else { break };
            let done = match &notice {
                Notice::Started(i, pid) => self.behavior.handle_child_start(ctx, &self.slots[*i].spec.name, *pid).await,
                Notice::Ended(i, pid, reason) => {
                    self.behavior.handle_child_terminate(ctx, &self.slots[*i].spec.name, *pid, reason).await
                }
            };
            if let Err(reason) = done {
                return self.shutdown(ctx, reason.clone(), reason).await;
            }
        }
        Ok(())
    }

    /// The outcome of handling one event, then the behaviour's notices.
    async fn then_notify(&mut self, ctx: &mut Context, outcome: Result<(), ExitReason>) -> Result<(), ExitReason> {
        outcome?;
        if self.notices.is_empty() { Ok(()) } else { self.notify(ctx).await }
    }

    fn simple(&self) -> bool {
        self.kind == SupervisorType::SimpleOneForOne
    }

    /// Auto-shutdown applies (Ergo: not with permanent restarts, nor simple-one-for-one).
    fn auto_shutdown(&self) -> bool {
        self.auto_shutdown && self.restart != Restart::Permanent && !self.simple()
    }

    /// The running children in start order: (spec index, Pid).
    fn running(&self) -> Vec<(usize, Pid)> {
        if self.simple() {
            self.instances.clone()
        } else {
            self.slots.iter().enumerate().filter_map(|(i, s)| s.pid.map(|p| (i, p))).collect()
        }
    }

    /// Whether any child runs (without listing them: this is asked on every restart).
    fn any_running(&self) -> bool {
        if self.simple() { !self.instances.is_empty() } else { self.slots.iter().any(|s| s.pid.is_some()) }
    }

    /// Forgets a child that ended; its spec index, or `None` for a process that is not ours.
    fn forget(&mut self, pid: Pid) -> Option<usize> {
        if self.simple() {
            // From the newest: a shutdown stops the newest first, so it is found at once.
            let pos = self.instances.iter().rposition(|(_, p)| *p == pid)?;
            if let Some(k) = self.instance_args.iter().position(|(p, _)| *p == pid) {
                // Kept for its restart, if it has one (`on_exit` takes it at once).
                self.ended_args = Some(self.instance_args.swap_remove(k).1);
            }
            return Some(self.instances.remove(pos).0);
        }
        let i = self.slots.iter().position(|s| s.pid == Some(pid))?;
        self.slots[i].pid = None;
        Some(i)
    }

    fn take_stray(&mut self, reason: &ExitReason) -> bool {
        match self.strays.iter().position(|r| r == reason) {
            Some(pos) => {
                self.strays.swap_remove(pos);
                true
            }
            None => false,
        }
    }

    fn slot(&self, name: &str) -> Result<usize, SupervisorError> {
        self.slots.iter().position(|s| s.spec.name == name).ok_or(SupervisorError::ChildUnknown)
    }

    /// A restart happened now: whether it is one too many within the period.
    fn exceeded(&mut self) -> bool {
        let now = Instant::now();
        self.restarts.push_back(now);
        while self.restarts.front().is_some_and(|t| now.duration_since(*t) > self.period) {
            self.restarts.pop_front();
        }
        self.restarts.len() > usize::from(self.intensity)
    }

    /// Starts the child of spec `i` (linked both ways before it runs) and waits for its `init`.
    async fn start_slot(&mut self, ctx: &mut Context, i: usize) -> Result<Pid, Error> {
        let register = !self.simple();
        let args = if register { self.slots[i].args.clone() } else { self.next_args.take() };
        let spec = &self.slots[i].spec;
        let opts = spec.options.clone().link_parent().link_child();
        let started = (spec.start)(ctx, register.then_some(spec.name.as_str()), args.as_deref(), opts).await;
        if let (Some(args), Ok(pid)) = (args, &started)
            && !register
        {
            self.instance_args.push((*pid, args));
        }
        if self.handle_child
            && let Ok(pid) = &started
        {
            self.notices.push_back(Notice::Started(i, *pid));
        }
        match &started {
            Ok(pid) if self.simple() => self.instances.push((i, *pid)),
            Ok(pid) => self.slots[i].pid = Some(*pid),
            Err(Error::InitFailed(reason)) => self.strays.push((**reason).clone()),
            Err(_) => {}
        }
        started
    }

    fn start_failed(&self, i: usize, error: Error) -> ExitReason {
        ExitReason::custom(SupervisorError::StartFailed { child: self.slots[i].spec.name.clone(), error })
    }

    /// Starts the children from spec index `from` on, in spec order; a failure ends the
    /// supervisor (after it stopped the others), as in Ergo.
    async fn start_from(&mut self, ctx: &mut Context, from: usize) -> Result<(), ExitReason> {
        for i in from..self.slots.len() {
            if self.slots[i].disabled || self.slots[i].pid.is_some() {
                continue;
            }
            if let Err(e) = self.start_slot(ctx, i).await {
                let reason = self.start_failed(i, e);
                return self.shutdown(ctx, reason.clone(), reason).await;
            }
        }
        Ok(())
    }

    /// Stops every running child, in reverse start order, one at a time, then ends with `end`.
    async fn shutdown(&mut self, ctx: &mut Context, reason: ExitReason, end: ExitReason) -> Result<(), ExitReason> {
        let victims: Vec<(usize, Pid)> = self.running().into_iter().rev().collect();
        self.begin_stop(ctx, victims, true, reason, Then::Terminate(end)).await
    }

    async fn begin_stop(
        &mut self,
        ctx: &mut Context,
        victims: Vec<(usize, Pid)>,
        sequential: bool,
        reason: ExitReason,
        then: Then,
    ) -> Result<(), ExitReason> {
        let pending = victims.into_iter().map(|(i, p)| (p, self.slots[i].spec.shutdown)).collect();
        self.stopping = Some(Stopping { pending, waiting: Vec::new(), sequential, reason, then });
        self.advance(ctx).await
    }

    /// Signals the next children to stop; once none is left, does what was to follow.
    async fn advance(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let Some(st) = self.stopping.as_mut() else { return Ok(()) };
        while !st.sequential || st.waiting.is_empty() {
            let Some((pid, timeout)) = st.pending.pop_front() else { break };
            // A child that is gone already has its exit signal on the way (the link): it is
            // waited for all the same.
            let _ = ctx.send_exit(pid, st.reason.clone());
            let me = ctx.pid();
            let timer = ctx.send_after(me, StopTimeout(pid), timeout);
            st.waiting.push((pid, timer));
        }
        if !st.waiting.is_empty() {
            return Ok(());
        }
        match self.stopping.take().map(|st| st.then) {
            Some(Then::Terminate(reason)) => Err(reason),
            // Boxed: a failed start stops the others again, through here (a recursive future).
            Some(Then::Restart(from)) => Box::pin(self.start_from(ctx, from)).await,
            None => Ok(()),
        }
    }

    /// An exit signal arrived (children are linked both ways; the parent's is trapped too).
    async fn on_exit(&mut self, ctx: &mut Context, exit: MessageExit) -> Result<(), ExitReason> {
        let pid = match exit.target {
            Target::Pid(p) => Some(p),
            _ => None,
        };
        let child = pid.and_then(|p| self.forget(p));
        let args = self.ended_args.take();
        if self.handle_child
            && let (Some(i), Some(p)) = (child, pid)
        {
            self.notices.push_back(Notice::Ended(i, p, exit.reason.clone()));
        }
        if self.stopping.is_some() {
            return self.exit_while_stopping(ctx, pid, child, exit).await;
        }
        match child {
            Some(i) => self.child_ended(ctx, i, exit.reason, args).await,
            None if self.take_stray(&exit.reason) => Ok(()),
            None => {
                // From outside (the parent, a `send_exit`): stop the children, then end (Ergo).
                let reason = exit.reason.clone();
                self.shutdown(ctx, reason, ExitReason::Exit(Box::new(exit))).await
            }
        }
    }

    async fn exit_while_stopping(
        &mut self,
        ctx: &mut Context,
        pid: Option<Pid>,
        child: Option<usize>,
        exit: MessageExit,
    ) -> Result<(), ExitReason> {
        let simple = self.simple();
        // Fields, not methods, below: `st` borrows `self.stopping`. Nothing is listed in the
        // common case (a child being stopped ended), which a large shutdown takes per child.
        let Some(st) = self.stopping.as_mut() else { return Ok(()) };
        if let Some(p) = pid
            && let Some(pos) = st.waiting.iter().position(|(w, _)| *w == p)
        {
            st.waiting.swap_remove(pos).1.cancel();
        } else if let Some(i) = child {
            // A child we were not (yet) stopping ended meanwhile: no longer to stop, and under
            // rest-for-one the restart now begins at it, so the children after it stop too.
            st.pending.retain(|(p, _)| Some(*p) != pid);
            if let Then::Restart(from) = &mut st.then
                && i < *from
            {
                // Restarts are all-for-one / rest-for-one only: the children are the slots'.
                let old = std::mem::replace(from, i);
                for slot in self.slots[i..old].iter().rev() {
                    if let Some(p) = slot.pid
                        && !slot.disabled
                    {
                        st.pending.push_back((p, slot.spec.shutdown));
                    }
                }
            }
        } else if !self.strays.contains(&exit.reason) {
            // Asked to stop while restarting: stop everything left, then end.
            if !matches!(st.then, Then::Terminate(_)) {
                let queued: Vec<Pid> =
                    st.pending.iter().map(|(p, _)| *p).chain(st.waiting.iter().map(|(p, _)| *p)).collect();
                let running: Vec<(usize, Pid)> = if simple {
                    self.instances.clone()
                } else {
                    self.slots.iter().enumerate().filter_map(|(i, s)| s.pid.map(|p| (i, p))).collect()
                };
                for (j, p) in running.iter().rev() {
                    if !queued.contains(p) {
                        st.pending.push_back((*p, self.slots[*j].spec.shutdown));
                    }
                }
                st.sequential = true;
                st.then = Then::Terminate(ExitReason::Exit(Box::new(exit)));
            }
        } else {
            self.take_stray(&exit.reason);
        }
        self.advance(ctx).await
    }

    /// A running child ended: restart it (and its siblings, by type), or not, by the strategy.
    async fn child_ended(
        &mut self,
        ctx: &mut Context,
        i: usize,
        reason: ExitReason,
        args: Option<Args>,
    ) -> Result<(), ExitReason> {
        let none_left = !self.any_running();
        if self.slots[i].disabled {
            return if none_left && self.auto_shutdown() { Err(reason) } else { Ok(()) };
        }
        let normal = matches!(reason, ExitReason::Normal | ExitReason::Shutdown);
        let restart = match self.restart {
            Restart::Temporary => false,
            Restart::Transient => !normal,
            Restart::Permanent => true,
        };
        if !restart {
            if self.simple() {
                return Ok(());
            }
            if self.slots[i].spec.significant {
                return self.shutdown(ctx, reason.clone(), reason).await;
            }
            return if none_left && self.auto_shutdown() { Err(reason) } else { Ok(()) };
        }
        if self.exceeded() {
            ctx.log(Level::WARN, format_args!("supervisor: restart intensity exceeded ({})", self.slots[i].spec.name));
            let reason = ExitReason::custom(SupervisorError::RestartsExceeded);
            return self.shutdown(ctx, reason.clone(), reason).await;
        }
        match self.kind {
            SupervisorType::OneForOne | SupervisorType::SimpleOneForOne => {
                // A simple-one-for-one instance comes back with the arguments it had.
                self.next_args = args;
                match self.start_slot(ctx, i).await {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        let reason = self.start_failed(i, e);
                        self.shutdown(ctx, reason.clone(), reason).await
                    }
                }
            }
            SupervisorType::AllForOne | SupervisorType::RestForOne => {
                let from = if self.kind == SupervisorType::AllForOne { 0 } else { i };
                let victims: Vec<(usize, Pid)> =
                    self.running().into_iter().rev().filter(|(j, _)| *j >= from && !self.slots[*j].disabled).collect();
                let sequential = self.keep_order;
                self.begin_stop(ctx, victims, sequential, reason, Then::Restart(from)).await
            }
        }
    }

    /// The stop timeout of `pid` ran out: kill it (its exit signal, `kill`, follows).
    fn on_timeout(&mut self, ctx: &mut Context, pid: Pid) {
        let waited = self.stopping.as_ref().is_some_and(|st| st.waiting.iter().any(|(p, _)| *p == pid));
        let disabled = self.slots.iter().any(|s| s.disabled && s.pid == Some(pid))
            || self.instances.iter().any(|(i, p)| *p == pid && self.slots[*i].disabled);
        if (waited || disabled) && ctx.node().kill(pid).is_ok() {
            ctx.log(Level::INFO, format_args!("supervisor: killed {pid}, which did not stop in time"));
        }
    }

    async fn start_child(&mut self, ctx: &mut Context, name: &str) -> Result<Pid, SupervisorError> {
        if self.stopping.is_some() {
            return Err(SupervisorError::StrategyActive);
        }
        let i = self.slot(name)?;
        if self.slots[i].disabled {
            self.next_args = None;
            return Err(SupervisorError::ChildDisabled);
        }
        if self.slots[i].pid.is_some() {
            return Err(SupervisorError::ChildRunning);
        }
        self.start_slot(ctx, i).await.map_err(|error| SupervisorError::StartFailed { child: name.to_string(), error })
    }

    async fn start_child_with(&mut self, ctx: &mut Context, req: StartChildWith) -> Result<Pid, SupervisorError> {
        if self.stopping.is_some() {
            return Err(SupervisorError::StrategyActive);
        }
        let i = self.slot(&req.name)?;
        let spec = &self.slots[i].spec;
        let expected = spec.args.map(|(t, _)| t);
        if expected != Some(Any::type_id(&*req.args)) {
            let expected = spec.args.map_or("no arguments", |(_, n)| n);
            return Err(SupervisorError::ArgsMismatch { child: req.name, expected, given: req.given });
        }
        if self.simple() {
            self.next_args = Some(req.args);
        } else if !self.slots[i].disabled && self.slots[i].pid.is_none() {
            self.slots[i].args = Some(req.args);
        }
        self.start_child(ctx, &req.name).await
    }

    async fn add_child(&mut self, ctx: &mut Context, spec: ChildSpec) -> Result<Option<Pid>, SupervisorError> {
        if self.stopping.is_some() {
            return Err(SupervisorError::StrategyActive);
        }
        if spec.name.is_empty() {
            return Err(SupervisorError::BadChildName);
        }
        if self.slot(&spec.name).is_ok() {
            return Err(SupervisorError::ChildDuplicate);
        }
        let name = spec.name.clone();
        self.slots.push(Slot { spec, pid: None, disabled: false, args: None });
        if self.simple() {
            return Ok(None);
        }
        self.start_child(ctx, &name).await.map(Some)
    }

    async fn enable_child(&mut self, ctx: &mut Context, name: &str) -> Result<Option<Pid>, SupervisorError> {
        if self.stopping.is_some() {
            return Err(SupervisorError::StrategyActive);
        }
        let i = self.slot(name)?;
        if !self.slots[i].disabled {
            return Ok(None);
        }
        self.slots[i].disabled = false;
        if self.simple() || self.slots[i].pid.is_some() {
            return Ok(None);
        }
        self.start_child(ctx, name).await.map(Some)
    }

    fn disable_child(&mut self, ctx: &mut Context, name: &str) -> Result<(), SupervisorError> {
        if self.stopping.is_some() {
            return Err(SupervisorError::StrategyActive);
        }
        let i = self.slot(name)?;
        if self.slots[i].disabled {
            return Ok(());
        }
        self.slots[i].disabled = true;
        let victims: Vec<Pid> = if self.simple() {
            self.instances.iter().filter(|(j, _)| *j == i).map(|(_, p)| *p).collect()
        } else {
            self.slots[i].pid.into_iter().collect()
        };
        let timeout = self.slots[i].spec.shutdown;
        for pid in victims {
            // Its end is handled as any child's (a disabled spec is not restarted); the timer
            // kills it if it lingers.
            let _ = ctx.send_exit(pid, ExitReason::Shutdown);
            let me = ctx.pid();
            ctx.send_after(me, StopTimeout(pid), timeout);
        }
        Ok(())
    }

    fn children(&self) -> Vec<SupervisorChild> {
        let entry = |s: &Slot, pid| SupervisorChild {
            spec: s.spec.name.clone(),
            name: (!self.simple()).then(|| s.spec.name.clone()),
            pid,
            significant: s.spec.significant,
            disabled: s.disabled,
        };
        if self.simple() {
            let mut list: Vec<(usize, Pid)> = self.instances.clone();
            list.sort_by_key(|(i, p)| (*i, p.id));
            list.into_iter().map(|(i, p)| entry(&self.slots[i], Some(p))).collect()
        } else {
            self.slots.iter().map(|s| entry(s, s.pid)).collect()
        }
    }
}

impl<B: SupervisorBehavior> Actor for Supervisor<B> {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.set_trap_exit(true);
        ctx.set_trap_parent_exit(true);
        if self.slots.is_empty() {
            return Err(ExitReason::custom(SupervisorError::NoChildren));
        }
        for (i, s) in self.slots.iter().enumerate() {
            if s.spec.name.is_empty() {
                return Err(ExitReason::custom(SupervisorError::BadChildName));
            }
            if self.slots[..i].iter().any(|o| o.spec.name == s.spec.name) {
                return Err(ExitReason::custom(SupervisorError::ChildDuplicate));
            }
        }
        if self.simple() {
            return Ok(());
        }
        // In spec order, each after the previous one's `init`. A failure fails this `init`: the
        // children started so far end with it through their link to us (D81).
        for i in 0..self.slots.len() {
            if let Err(e) = self.start_slot(ctx, i).await {
                return Err(self.start_failed(i, e));
            }
        }
        self.notify(ctx).await
    }

    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        let msg = match msg.downcast::<MessageExit>() {
            Ok(exit) => {
                let outcome = self.on_exit(ctx, exit).await;
                return self.then_notify(ctx, outcome).await;
            }
            Err(msg) => msg,
        };
        match msg.downcast::<StopTimeout>() {
            Ok(StopTimeout(pid)) => self.on_timeout(ctx, pid),
            Err(msg) => {
                // The behaviour's error stops the children first (Ergo).
                if let Err(reason) = self.behavior.handle_message(ctx, from, msg).await {
                    return self.shutdown(ctx, reason.clone(), reason).await;
                }
            }
        }
        Ok(())
    }

    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        self.behavior.terminate(ctx, reason).await;
    }

    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        let req = match req.downcast::<StartChild>() {
            Ok(StartChild(name)) => {
                let reply = Message::new(self.start_child(ctx, &name).await);
                return self.then_notify(ctx, Ok(())).await.map(|()| Some(reply));
            }
            Err(req) => req,
        };
        let req = match req.downcast::<StartChildWith>() {
            Ok(with) => {
                let reply = Message::new(self.start_child_with(ctx, with).await);
                return self.then_notify(ctx, Ok(())).await.map(|()| Some(reply));
            }
            Err(req) => req,
        };
        let req = match req.downcast::<AddChild>() {
            Ok(AddChild(spec)) => {
                let reply = Message::new(self.add_child(ctx, spec).await);
                return self.then_notify(ctx, Ok(())).await.map(|()| Some(reply));
            }
            Err(req) => req,
        };
        let req = match req.downcast::<EnableChild>() {
            Ok(EnableChild(name)) => {
                let reply = Message::new(self.enable_child(ctx, &name).await);
                return self.then_notify(ctx, Ok(())).await.map(|()| Some(reply));
            }
            Err(req) => req,
        };
        let req = match req.downcast::<DisableChild>() {
            Ok(DisableChild(name)) => return Ok(Some(Message::new(self.disable_child(ctx, &name)))),
            Err(req) => req,
        };
        if req.is::<Children>() {
            return Ok(Some(Message::new(Ok::<_, SupervisorError>(self.children()))));
        }
        match self.behavior.handle_call(ctx, from, req).await {
            Ok(reply) => Ok(reply),
            Err(reason) => self.shutdown(ctx, reason.clone(), reason).await.map(|()| None),
        }
    }
}
