//! Remote spawn and remote application start (ENP 199 `MessageSpawn` / `MessageApplicationStart`,
//! answered by a `MessageResult`; PROTOCOL.md §3.3), and connecting to a node on request:
//! `connect`, and links and monitors on a node not connected yet, which wait for its dial.
//!
//! The node that allows a spawn keeps, per name, the factory and the nodes allowed (Ergo's
//! `EnableSpawn`); the requester books its request in the peer's call book (a lost connection
//! fails it with `NoConnection`, as it fails calls: D204) and waits as a call does; the answer
//! finds its waiter by the request's ref. Applications are started the same way, by name.
//!
//! Runs on any thread (a link's reader delivers here). Never blocks: a spawn is answered when
//! the child's `init` has run (a waker on its init report), an application starts on the
//! blocking pool.

use super::edf::ergo_spawn::{
    ApplicationMode as WireMode, ApplicationOptions, ApplicationOptionsExtra, Compression, Env, LogLevel,
    MessageApplicationStart, MessagePriority, MessageSpawn, ProcessFallback, ProcessOptions, ProcessOptionsExtra,
};
use super::edf::ergo_types::MessageResult;
use super::edf::{Encoder, ErrorValue, OrderedMap, Value};
use super::handshake::NetworkFlags;
use super::network::{Network, Peer, PeerInfo, error_from_text, error_text};
use super::proto::{Enp, order};
use crate::act::Actor;
use crate::act::application::{ApplicationError, ApplicationMode};
use crate::act::context::Context;
use crate::error::Error;
use crate::message::{Atom, ExitReason, From, Message, Name, Pid, Target};
use crate::node::watch::{Kind, remove_first, start_watching};
use crate::node::{NodeHandle, NodeInner, SpawnOptions};
use crate::process::entry::ProcessEntry;
use crate::process::init::InitWait;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::task::{Poll, Wake, Waker};
use std::time::Duration;

/// How long `connect` waits at most: a dial gives up after 3 s (D209), a registrar query after
/// 3 s, each handshake message after 1 s; this only bounds a wait nothing else ends.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a remote spawn or application start waits for its answer (Go's
/// `DefaultRequestTimeout`, 5 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Makes the actor a remote spawn asked for and spawns it (registered under the name given, if
/// any), reporting its `init` to the wait.
type Factory = Arc<
    dyn Fn(
            &Arc<NodeInner>,
            Vec<Value>,
            &SpawnOptions,
            Option<&str>,
            Option<tracing::Level>,
            Arc<InitWait>,
        ) -> Result<Pid, Error>
        + Send
        + Sync,
>;

/// Which nodes may use one name (Ergo's per-name node list): any, or only those listed, minus
/// those disabled.
#[derive(Default)]
struct Allowed {
    /// `None`: any node.
    only: Option<HashSet<Atom>>,
    denied: HashSet<Atom>,
}

impl Allowed {
    /// Ergo's `Enable…(name, nodes…)`: no node = any node; else these are added to the list.
    fn enable(&mut self, nodes: &[Atom]) {
        if nodes.is_empty() {
            *self = Allowed::default();
            return;
        }
        for n in nodes {
            self.denied.remove(n);
            self.only.get_or_insert_with(HashSet::new).insert(*n);
        }
    }

    /// Ergo's `Disable…(name, nodes…)` for some nodes: they are refused, others keep their right
    /// (Go turns "any node" into "no node" here: D221).
    fn disable(&mut self, nodes: &[Atom]) {
        for n in nodes {
            if let Some(only) = &mut self.only {
                only.remove(n);
            }
            self.denied.insert(*n);
        }
    }

    fn allows(&self, node: Atom) -> bool {
        !self.denied.contains(&node) && self.only.as_ref().is_none_or(|o| o.contains(&node))
    }
}

struct Spawnable {
    factory: Factory,
    allowed: Allowed,
}

/// What waits for a node's connection to come up.
enum Waiter {
    /// A `connect`: answered through `NodeInner::respond`.
    Connect(From),
    /// A link or monitor set up while the node was not connected.
    Watch(Pid, Target, Kind),
}

/// The network's part for remote spawn, application start and connecting (`Network::spawn`).
#[derive(Default)]
pub(crate) struct SpawnState {
    /// The node, for spawning from a link's reader (set when the network starts).
    node: OnceLock<Weak<NodeInner>>,
    spawns: RwLock<HashMap<String, Spawnable>>,
    apps: RwLock<HashMap<String, Allowed>>,
    waiting: Mutex<HashMap<Atom, Vec<Waiter>>>,
}

impl SpawnState {
    /// Remembers the node (the network's start does this once).
    pub(crate) fn set_node(&self, node: &NodeHandle) {
        let _ = self.node.set(Arc::downgrade(&node.inner));
    }

    fn node(&self) -> Option<Arc<NodeInner>> {
        self.node.get().and_then(Weak::upgrade)
    }

    fn wait_for(&self, node: Atom, waiter: Waiter) {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).entry(node).or_default().push(waiter);
    }

    fn take(&self, node: Atom) -> Vec<Waiter> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&node).unwrap_or_default()
    }

    /// A connection to `node` is up: connects are answered, waiting links and monitors are set
    /// up on it.
    pub(crate) fn connected(&self, inner: &NodeInner, node: Atom) {
        for waiter in self.take(node) {
            match waiter {
                Waiter::Connect(from) => {
                    let _ = inner.respond(from, Ok(Message::new(())));
                }
                Waiter::Watch(consumer, target, kind) => {
                    let Some(entry) = inner.table.get(&consumer) else { continue };
                    // Still wanted (not unlinked meanwhile)? Then set up as if connected before.
                    let wanted = entry.with_rel(|r| remove_first(r.watching(kind), &target)).unwrap_or(false);
                    if !wanted {
                        continue;
                    }
                    if let Err(e) = inner.watch_remote(&entry, node, target.clone(), kind) {
                        let reason = super::relations::reason_of(&error_text(&e));
                        entry.with_rel(|r| r.watching(kind).push(target.clone()));
                        inner.signal(consumer, kind, target, &reason);
                    }
                }
            }
        }
    }

    /// `node` could not be reached: connects fail, waiting links and monitors fire with
    /// `NoConnection`.
    pub(crate) fn unreachable(&self, inner: &NodeInner, node: Atom) {
        for waiter in self.take(node) {
            match waiter {
                Waiter::Connect(from) => {
                    let _ = inner.respond(from, Err(Error::NoConnection(node)));
                }
                Waiter::Watch(consumer, target, kind) => {
                    let wanted = inner
                        .table
                        .get(&consumer)
                        .and_then(|e| e.with_rel(|r| r.watching(kind).contains(&target)))
                        .unwrap_or(false);
                    if wanted {
                        inner.signal(consumer, kind, target, &ExitReason::NoConnection);
                    }
                }
            }
        }
    }
}

fn network(inner: &NodeInner, node: Atom) -> Result<&Arc<Network>, Error> {
    inner.net.as_ref().ok_or(Error::NoConnection(node))
}

/// Has `node` dialled (unless connected) and `waiter` wait for the outcome.
fn dial_for(inner: &NodeInner, node: Atom, waiter: Waiter) -> Result<(), Error> {
    let net = network(inner, node)?;
    if net.peer(node).is_none() {
        net.start_dial(inner, node)?;
    }
    net.spawn.wait_for(node, waiter);
    // The dial may have ended before we waited: a connection is registered before its dial's
    // entry goes, a failed dial's entry goes before its waiters are told. Either way, tell now
    // (taking the waiters makes telling twice harmless).
    if net.peer(node).is_some() {
        net.spawn.connected(inner, node);
    } else if !net.dialing_to(node) {
        net.spawn.unreachable(inner, node);
    }
    Ok(())
}

/// Starts a connect whose outcome goes to `from`.
fn begin_connect(inner: &NodeInner, node: Atom, from: From) -> Result<(), Error> {
    if node == inner.name {
        return Err(Error::NotAllowed("a node cannot connect to itself"));
    }
    dial_for(inner, node, Waiter::Connect(from))
}

/// `consumer` links to / monitors `target` on `node`, which is not connected: the relation is
/// recorded and set up once the connection is (or fires with `NoConnection` if it cannot be):
/// Ergo's `LinkNode`/`MonitorNode` (and its process links) connect first.
///
/// # Errors
/// `TargetExist`; `NoConnection` without a route to the node (or without a network).
pub(crate) fn watch_unconnected(
    inner: &NodeInner,
    consumer: &Arc<ProcessEntry>,
    node: Atom,
    target: Target,
    kind: Kind,
) -> Result<(), Error> {
    start_watching(consumer, &target, kind)?;
    if let Err(e) = dial_for(inner, node, Waiter::Watch(consumer.pid, target.clone(), kind)) {
        consumer.with_rel(|r| remove_first(r.watching(kind), &target));
        return Err(e);
    }
    Ok(())
}

/// Sends `msg` (a spawn or application start request for the caller `from`) to `node`, booked
/// so that its result (or the connection's loss) reaches `from`.
fn send_request(inner: &NodeInner, node: Atom, from: From, flag: NetworkFlags, msg: Message) -> Result<(), Error> {
    let net = network(inner, node)?;
    let peer = net.peer(node).ok_or(Error::NoConnection(node))?;
    // Go's check: a peer that announces its flags and leaves this one off refuses.
    if peer.flags.contains(NetworkFlags::ENABLE) && !peer.flags.contains(flag) {
        return Err(Error::NotAllowed("the remote node does not allow this"));
    }
    let n = from.ref_id[0];
    peer.book_call(inner, n, from.pid)?;
    let sent = peer.push_frame(order::spawn_request(), &Enp::MessageAny, |b| {
        net.registry().encode_message(&msg, &mut Encoder::new(b))
    });
    if sent.is_err() {
        peer.take_call(n);
    }
    sent
}

/// Sends a `MessageResult` to `node` (whichever connection to it is current).
fn send_result(net: &Network, node: Atom, route: order::Route, error: Option<String>, result: Value, r: crate::Ref) {
    let Some(peer) = net.peer(node) else { return };
    let msg = Message::new(MessageResult { error: error.map(|e| ErrorValue::new(&e)), result, r#ref: r });
    let sent = peer.push_frame(route, &Enp::MessageAny, |b| net.registry().encode_message(&msg, &mut Encoder::new(b)));
    if let Err(e) = sent {
        tracing::debug!("network: cannot answer {node}'s request: {e}");
    }
}

/// A 199 control message from `peer`: spawn and application start requests, and the results of
/// ours, are handled here; anything else is handed back (for `relations`).
pub(crate) fn deliver(inner: &NodeInner, peer: &Peer, msg: Message) -> Option<Message> {
    let Some(net) = inner.net.as_ref() else { return Some(msg) };
    let msg = match msg.downcast::<MessageSpawn>() {
        Ok(m) => {
            spawn_requested(net, peer, m);
            return None;
        }
        Err(m) => m,
    };
    let msg = match msg.downcast::<MessageApplicationStart>() {
        Ok(m) => {
            application_start_requested(net, peer, m);
            return None;
        }
        Err(m) => m,
    };
    let Some(n) = msg.downcast_ref::<MessageResult>().map(|r| r.r#ref.id[0]) else { return Some(msg) };
    // Ours if booked: link and monitor results are not (they stay with `relations`).
    let Some(caller) = peer.take_call(n) else { return Some(msg) };
    let Ok(result) = msg.downcast::<MessageResult>() else { return None };
    let outcome = match result.error {
        Some(e) => Err(error_from_text(peer.name, e.as_str())),
        None => Ok(match result.result {
            Value::Pid(pid) => Message::new(pid),
            _ => Message::new(()),
        }),
    };
    let _ = inner.respond(From { pid: caller, ref_id: [n, 0, 0] }, outcome);
    None
}

/// Answers a spawn once the child's `init` has run (woken by its init report).
struct SpawnReply {
    wait: Arc<InitWait>,
    child: Pid,
    net: Arc<Network>,
    node: Weak<NodeInner>,
    peer: Atom,
    parent: Pid,
    link_parent: bool,
    r: crate::Ref,
}

impl Wake for SpawnReply {
    fn wake(self: Arc<Self>) {
        let waker = Waker::from(self.clone());
        let Poll::Ready(outcome) = self.wait.poll(&waker) else { return };
        let route = order::spawn_result(self.parent.id);
        match outcome {
            Ok(()) => {
                // Ergo links the child to its (remote) parent once `init` succeeded.
                if self.link_parent
                    && let Some(inner) = self.node.upgrade()
                    && let Some(entry) = inner.table.get(&self.child)
                    && let Err(e) = inner.watch_remote(&entry, self.parent.node, Target::Pid(self.parent), Kind::Link)
                {
                    tracing::debug!("network: a remotely spawned process cannot link to its parent: {e}");
                }
                send_result(&self.net, self.peer, route, None, Value::Pid(self.child), self.r);
            }
            Err(e) => {
                let text = match e {
                    Error::InitFailed(reason) => super::relations::reason_text(&reason),
                    other => error_text(&other),
                };
                send_result(&self.net, self.peer, route, Some(text), Value::Nil, self.r);
            }
        }
    }
}

fn spawn_requested(net: &Arc<Network>, peer: &Peer, m: MessageSpawn) {
    let MessageSpawn { name, options, r#ref: r } = m;
    let route = order::spawn_result(options.parent_pid.id);
    let refuse = |text: &str| send_result(net, peer.name, route, Some(text.to_string()), Value::Nil, r);
    // Go stays silent here (its caller times out); we answer, so ours learns at once (D221).
    if !net.config.flags.contains(NetworkFlags::REMOTE_SPAWN) {
        return refuse("not allowed");
    }
    let factory = match net.spawn.spawns.read().unwrap_or_else(|p| p.into_inner()).get(name.as_str()) {
        None => return refuse("unknown name"),
        Some(s) if !s.allowed.allows(peer.name) => return refuse("not allowed"),
        Some(s) => s.factory.clone(),
    };
    let Some(node) = net.spawn.node() else { return refuse("node terminated") };
    let opts = spawn_options(&options);
    let level = level_of(options.process_options.log_level).or_else(|| level_of(options.parent_log_level));
    let register = (!options.register.as_str().is_empty()).then(|| options.register.as_str().to_string());
    let wait = InitWait::new();
    let args = options.args.clone().unwrap_or_default();
    // The factory is user code fed by the peer's arguments, running on this link's reader: a
    // panic in it refuses the spawn instead of taking the connection down.
    let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        factory(&node, args, &opts, register.as_deref(), level, wait.clone())
    }));
    match made {
        Err(_) => refuse("the spawn factory panicked"),
        Ok(Err(e)) => refuse(&error_text(&e)),
        Ok(Ok(child)) => {
            let reply = Arc::new(SpawnReply {
                wait,
                child,
                net: net.clone(),
                node: Arc::downgrade(&node),
                peer: peer.name,
                parent: options.parent_pid,
                link_parent: options.process_options.link_parent,
                r,
            });
            reply.wake();
        }
    }
}

/// Our spawn options for the options a remote spawn carries (what has a counterpart: D221).
fn spawn_options(extra: &ProcessOptionsExtra) -> SpawnOptions {
    let o = &extra.process_options;
    let mut opts = SpawnOptions::default();
    if o.mailbox_size > 0 {
        opts.mailbox_size = usize::try_from(o.mailbox_size).ok();
    }
    opts.send_priority = super::network::priority_from_byte(u8::try_from(o.send_priority.0).unwrap_or(0));
    // The parent's environment first, the options' own over it (Go's order).
    for env in [&extra.parent_env, &o.env].into_iter().flatten() {
        for (k, v) in &env.0 {
            opts.env.push((k.0.clone(), env_text(v)));
        }
    }
    if o.fallback.enable {
        opts.fallback = Some((o.fallback.name.clone(), o.fallback.tag.clone()));
    }
    opts
}

/// An environment value as our environment holds it (text).
fn env_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Atom(a) => a.as_str().to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) | Value::I64(i) => i.to_string(),
        Value::Uint(u) | Value::U64(u) => u.to_string(),
        Value::F64(f) => f.to_string(),
        other => format!("{other:?}"),
    }
}

/// Go's `gen.LogLevel` as ours (`None`: default, inherit).
fn level_of(l: LogLevel) -> Option<tracing::Level> {
    Some(match l.0 {
        -2 => tracing::Level::TRACE,
        -1 => tracing::Level::DEBUG,
        1 => tracing::Level::INFO,
        2 => tracing::Level::WARN,
        3 | 4 => tracing::Level::ERROR,
        _ => return None,
    })
}

fn wire_level(l: tracing::Level) -> LogLevel {
    LogLevel(match l {
        tracing::Level::TRACE => -2,
        tracing::Level::DEBUG => -1,
        tracing::Level::INFO => 1,
        tracing::Level::WARN => 2,
        _ => 3,
    })
}

/// Go's zero `gen.PID` (an unset leader).
fn zero_pid() -> Pid {
    Pid { node: Atom::new(""), id: 0, creation: 0 }
}

/// The request a remote spawn sends for `opts`, from `parent` (led by `leader`).
fn spawn_message(
    name: &str,
    register: Option<&str>,
    opts: &SpawnOptions,
    args: Vec<Value>,
    parent: (Pid, Pid, tracing::Level),
    from: &From,
) -> Message {
    let env = (!opts.env.is_empty())
        .then(|| OrderedMap(opts.env.iter().map(|(k, v)| (Env(k.to_uppercase()), Value::String(v.clone()))).collect()));
    let (fallback_name, fallback_tag) = opts.fallback.clone().unwrap_or_else(|| (Name::new(""), String::new()));
    let process_options = ProcessOptions {
        mailbox_size: opts.mailbox_size.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX)),
        leader: opts.leader.unwrap_or_else(zero_pid),
        env,
        compression: Compression::default(),
        send_priority: MessagePriority(super::network::priority_byte(opts.send_priority).into()),
        important_delivery: false,
        fallback: ProcessFallback { enable: opts.fallback.is_some(), name: fallback_name, tag: fallback_tag },
        link_parent: opts.link_parent,
        link_child: opts.link_child,
        log_level: LogLevel(0),
    };
    let options = ProcessOptionsExtra {
        process_options,
        parent_pid: parent.0,
        parent_leader: parent.1,
        parent_env: None,
        parent_log_level: wire_level(parent.2),
        register: Name::new(register.unwrap_or("")),
        application: Name::new(""),
        args: (!args.is_empty()).then_some(args),
    };
    Message::new(MessageSpawn { name: Name::new(name), options, r#ref: from.reference() })
}

fn application_start_requested(net: &Arc<Network>, peer: &Peer, m: MessageApplicationStart) {
    let route = order::other_result();
    let (peer_name, r) = (peer.name, m.r#ref);
    let refuse = |text: &str| send_result(net, peer_name, route, Some(text.to_string()), Value::Nil, r);
    if !net.config.flags.contains(NetworkFlags::REMOTE_APPLICATION_START) {
        return refuse("not allowed");
    }
    match net.spawn.apps.read().unwrap_or_else(|p| p.into_inner()).get(m.name.as_str()) {
        None => return refuse("unknown name"),
        Some(a) if !a.allows(peer.name) => return refuse("not allowed"),
        Some(_) => {}
    }
    let Some(node) = net.spawn.node() else { return refuse("node terminated") };
    let mode = match m.mode.0 {
        1 => Some(ApplicationMode::Temporary),
        2 => Some(ApplicationMode::Transient),
        3 => Some(ApplicationMode::Permanent),
        _ => None,
    };
    let handle = NodeHandle { inner: node };
    let name = m.name.as_str().to_string();
    let net2 = net.clone();
    // Starting blocks until the members are up: not on the link's worker.
    let job = handle.clone().spawn_blocking(move || {
        let started = match mode {
            Some(mode) => handle.application_start_mode(&name, mode),
            None => handle.application_start(&name),
        };
        let error = started.err().map(|e| application_error_text(&e));
        send_result(&net2, peer_name, route, error, Value::Nil, r);
    });
    // Detached: it runs and answers by itself.
    drop(job);
}

/// Ergo's error text for an application error.
fn application_error_text(e: &ApplicationError) -> String {
    match e {
        ApplicationError::Unknown(_) => "unknown application".into(),
        ApplicationError::Running(_) | ApplicationError::Busy(..) => "application is in running/stopping state".into(),
        ApplicationError::Node(e) => error_text(e),
        other => other.to_string(),
    }
}

/// Our error for an application start refused by `node`.
fn application_error(name: &str, e: Error) -> ApplicationError {
    match &e {
        Error::Remote(text) if text == "unknown application" => ApplicationError::Unknown(name.to_string()),
        Error::Remote(text) if text == "application is in running/stopping state" => {
            ApplicationError::Running(name.to_string())
        }
        _ => ApplicationError::Node(e),
    }
}

fn application_message(name: &str, mode: Option<ApplicationMode>, core: Pid, from: &From) -> Message {
    let mode = WireMode(match mode {
        Some(ApplicationMode::Temporary) => 1,
        Some(ApplicationMode::Transient) => 2,
        Some(ApplicationMode::Permanent) => 3,
        None => 0,
    });
    let options = ApplicationOptionsExtra {
        application_options: ApplicationOptions { env: None, log_level: LogLevel(0) },
        core_pid: core,
        core_env: None,
        core_log_level: LogLevel(0),
    };
    Message::new(MessageApplicationStart { name: Name::new(name), mode, options, r#ref: from.reference() })
}

/// The Pid a spawn result carries.
fn spawned(msg: Message) -> Result<Pid, Error> {
    msg.downcast::<Pid>().map_err(|_| Error::Remote("a remote spawn answered without a Pid".into()))
}

impl NodeHandle {
    /// Lets other nodes spawn processes made by `factory` under `name` (Ergo's `EnableSpawn`):
    /// `factory` gets the arguments the request carries and returns the actor. With `nodes`
    /// empty any node may; otherwise these nodes are added to the ones that may. Enabling a
    /// name again replaces its factory.
    ///
    /// # Errors
    /// [`Error::NotAllowed`] when the network is disabled; [`Error::BadName`] for an empty name.
    pub fn enable_spawn<A, F>(&self, name: &str, factory: F, nodes: &[Atom]) -> Result<(), Error>
    where
        A: Actor,
        F: Fn(Vec<Value>) -> A + Send + Sync + 'static,
    {
        let net = self.inner.net.as_ref().ok_or(Error::NotAllowed("the network is disabled"))?;
        if name.is_empty() {
            return Err(Error::BadName);
        }
        let factory: Factory = Arc::new(move |inner, args, opts, register, level, wait| {
            inner.spawn_process(factory(args), opts, None, register, level, Some(wait))
        });
        let mut spawns = net.spawn.spawns.write().unwrap_or_else(|p| p.into_inner());
        match spawns.get_mut(name) {
            Some(s) => {
                s.factory = factory;
                s.allowed.enable(nodes);
            }
            None => {
                let mut allowed = Allowed::default();
                allowed.enable(nodes);
                spawns.insert(name.to_string(), Spawnable { factory, allowed });
            }
        }
        Ok(())
    }

    /// Ergo's `DisableSpawn`: with `nodes` empty, nobody may spawn `name` any more; otherwise
    /// these nodes may not (the others keep their right).
    ///
    /// # Errors
    /// [`Error::NameUnknown`] if `name` was not enabled.
    pub fn disable_spawn(&self, name: &str, nodes: &[Atom]) -> Result<(), Error> {
        let net = self.inner.net.as_ref().ok_or(Error::NameUnknown)?;
        let mut spawns = net.spawn.spawns.write().unwrap_or_else(|p| p.into_inner());
        if nodes.is_empty() {
            return spawns.remove(name).map(drop).ok_or(Error::NameUnknown);
        }
        spawns.get_mut(name).ok_or(Error::NameUnknown)?.allowed.disable(nodes);
        Ok(())
    }

    /// Lets other nodes start the loaded application `name` (Ergo's `EnableApplicationStart`);
    /// `nodes` as for [`NodeHandle::enable_spawn`].
    ///
    /// # Errors
    /// [`Error::NotAllowed`] when the network is disabled.
    pub fn enable_application_start(&self, name: &str, nodes: &[Atom]) -> Result<(), Error> {
        let net = self.inner.net.as_ref().ok_or(Error::NotAllowed("the network is disabled"))?;
        net.spawn.apps.write().unwrap_or_else(|p| p.into_inner()).entry(name.to_string()).or_default().enable(nodes);
        Ok(())
    }

    /// Ergo's `DisableApplicationStart`, as [`NodeHandle::disable_spawn`].
    ///
    /// # Errors
    /// [`Error::NameUnknown`] if `name` was not enabled.
    pub fn disable_application_start(&self, name: &str, nodes: &[Atom]) -> Result<(), Error> {
        let net = self.inner.net.as_ref().ok_or(Error::NameUnknown)?;
        let mut apps = net.spawn.apps.write().unwrap_or_else(|p| p.into_inner());
        if nodes.is_empty() {
            return apps.remove(name).map(drop).ok_or(Error::NameUnknown);
        }
        apps.get_mut(name).ok_or(Error::NameUnknown)?.disable(nodes);
        Ok(())
    }

    /// Connects to `node` (through its static route or the registrar) and blocks this plain
    /// thread until the connection is up (Ergo's `Network().GetNode`); at once if it is.
    ///
    /// # Errors
    /// [`Error::NoConnection`] when the node cannot be reached (no route, unknown to the
    /// registrar, refused, a failed handshake); [`Error::NotAllowed`] for this node itself;
    /// [`Error::WouldBlockWorker`] on a worker thread (use [`Context::connect`]).
    pub fn connect(&self, node: Atom) -> Result<PeerInfo, Error> {
        self.inner.wait_external("connect", CONNECT_TIMEOUT, |from| begin_connect(&self.inner, node, from))?;
        self.peer_info(node).ok_or(Error::NoConnection(node))
    }

    /// Closes the connection to `node` (Ergo's `RemoteNode.Disconnect`): its links and monitors
    /// fire with `NoConnection`, as when the peer goes.
    ///
    /// # Errors
    /// [`Error::NoConnection`] when not connected.
    pub fn disconnect(&self, node: Atom) -> Result<(), Error> {
        let peer = self.inner.net.as_ref().and_then(|n| n.peer(node)).ok_or(Error::NoConnection(node))?;
        peer.close_links();
        Ok(())
    }

    /// Spawns on `node` the process it enabled under `name` (Ergo's `RemoteNode.Spawn`), with
    /// the node as its parent, connecting first if needed; blocks this plain thread until the
    /// process has run its `init`. `args` go to the remote factory. A plain thread links to
    /// nothing: `SpawnOptions::link_child` takes effect only from a process
    /// ([`Context::remote_spawn`](crate::Context::remote_spawn)).
    ///
    /// # Errors
    /// [`Error::NameUnknown`] (nothing enabled under `name` there), [`Error::NotAllowed`] (not
    /// for this node, or the node allows no remote spawn), [`Error::Taken`] (a registered name),
    /// [`Error::Remote`] with the reason its `init` failed, [`Error::NoConnection`],
    /// [`Error::Timeout`] (5 s), [`Error::WouldBlockWorker`] on a worker thread.
    pub fn remote_spawn(&self, node: Atom, name: &str, opts: SpawnOptions, args: Vec<Value>) -> Result<Pid, Error> {
        self.remote_spawn_inner(node, name, None, opts, args)
    }

    /// As [`NodeHandle::remote_spawn`], registering the process there under `register`.
    ///
    /// # Errors
    /// As for [`NodeHandle::remote_spawn`].
    pub fn remote_spawn_register(
        &self,
        node: Atom,
        name: &str,
        register: &str,
        opts: SpawnOptions,
        args: Vec<Value>,
    ) -> Result<Pid, Error> {
        self.remote_spawn_inner(node, name, Some(register), opts, args)
    }

    fn remote_spawn_inner(
        &self,
        node: Atom,
        name: &str,
        register: Option<&str>,
        opts: SpawnOptions,
        args: Vec<Value>,
    ) -> Result<Pid, Error> {
        if self.peer_info(node).is_none() {
            self.connect(node)?;
        }
        let core = self.inner.core_pid();
        let level = tracing::Level::INFO;
        let msg = self.inner.wait_external("remote_spawn", REQUEST_TIMEOUT, |from| {
            let msg = spawn_message(name, register, &opts, args, (core, core, level), &from);
            send_request(&self.inner, node, from, NetworkFlags::REMOTE_SPAWN, msg)
        })?;
        spawned(msg)
    }

    /// Starts the application `name` loaded on `node` (Ergo's `RemoteNode.ApplicationStart…`),
    /// in `mode` (`None`: its spec's), connecting first if needed; blocks this plain thread
    /// until it has started there.
    ///
    /// # Errors
    /// [`ApplicationError::Unknown`] (not loaded there), [`ApplicationError::Running`],
    /// [`ApplicationError::Node`] with [`Error::NameUnknown`] (not enabled for remote start),
    /// [`Error::NotAllowed`], [`Error::NoConnection`], [`Error::Timeout`], or
    /// [`Error::Remote`] with the other node's reason.
    pub fn remote_application_start(
        &self,
        node: Atom,
        name: &str,
        mode: Option<ApplicationMode>,
    ) -> Result<(), ApplicationError> {
        if self.peer_info(node).is_none() {
            self.connect(node)?;
        }
        let core = self.inner.core_pid();
        self.inner
            .wait_external("remote_application_start", REQUEST_TIMEOUT, |from| {
                let msg = application_message(name, mode, core, &from);
                send_request(&self.inner, node, from, NetworkFlags::REMOTE_APPLICATION_START, msg)
            })
            .map(drop)
            .map_err(|e| application_error(name, e))
    }
}

impl Context {
    /// Connects to `node` and waits (this process only, as in a call) until the connection is
    /// up; at once if it is. See [`NodeHandle::connect`].
    ///
    /// # Errors
    /// As [`NodeHandle::connect`] (never `WouldBlockWorker`), [`Error::Timeout`].
    pub fn connect(&mut self, node: Atom) -> impl Future<Output = Result<PeerInfo, Error>> + Send + '_ {
        let handle = self.node().clone();
        let waiting = self.await_outcome(CONNECT_TIMEOUT, move |inner, from| begin_connect(inner, node, from));
        async move {
            waiting.await?;
            handle.peer_info(node).ok_or(Error::NoConnection(node))
        }
    }

    /// Spawns on `node` the process it enabled under `name` (Ergo's `RemoteSpawn`), this
    /// process its parent; connects first if needed; waits (this process only) until the new
    /// process has run its `init`. `args` go to the remote factory. With
    /// `SpawnOptions::link_child` this process links to the new one (Go links it here too);
    /// with `link_parent` the new one links to this process.
    ///
    /// # Errors
    /// As [`NodeHandle::remote_spawn`] (never `WouldBlockWorker`).
    pub fn remote_spawn(
        &mut self,
        node: Atom,
        name: &str,
        opts: SpawnOptions,
        args: Vec<Value>,
    ) -> impl Future<Output = Result<Pid, Error>> + Send + '_ {
        self.remote_spawn_inner(node, name.to_string(), None, opts, args)
    }

    /// As [`Context::remote_spawn`], registering the process there under `register`.
    ///
    /// # Errors
    /// As for [`Context::remote_spawn`].
    pub fn remote_spawn_register(
        &mut self,
        node: Atom,
        name: &str,
        register: &str,
        opts: SpawnOptions,
        args: Vec<Value>,
    ) -> impl Future<Output = Result<Pid, Error>> + Send + '_ {
        self.remote_spawn_inner(node, name.to_string(), Some(register.to_string()), opts, args)
    }

    async fn remote_spawn_inner(
        &mut self,
        node: Atom,
        name: String,
        register: Option<String>,
        opts: SpawnOptions,
        args: Vec<Value>,
    ) -> Result<Pid, Error> {
        if self.node().peer_info(node).is_none() {
            self.connect(node).await?;
        }
        let parent = (self.pid(), self.leader(), self.log_level());
        let link_child = opts.link_child;
        let msg = self
            .await_outcome(REQUEST_TIMEOUT, |inner, from| {
                let msg = spawn_message(&name, register.as_deref(), &opts, args, parent, &from);
                send_request(inner, node, from, NetworkFlags::REMOTE_SPAWN, msg)
            })
            .await?;
        let pid = spawned(msg)?;
        if link_child {
            self.link(pid)?;
        }
        Ok(pid)
    }

    /// Starts the application `name` loaded on `node`, as [`NodeHandle::remote_application_start`],
    /// waiting (this process only) until it has started there.
    ///
    /// # Errors
    /// As [`NodeHandle::remote_application_start`].
    pub fn remote_application_start(
        &mut self,
        node: Atom,
        name: &str,
        mode: Option<ApplicationMode>,
    ) -> impl Future<Output = Result<(), ApplicationError>> + Send + '_ {
        let name = name.to_string();
        async move {
            if self.node().peer_info(node).is_none() {
                self.connect(node).await?;
            }
            let core = self.node().inner.core_pid();
            self.await_outcome(REQUEST_TIMEOUT, |inner, from| {
                let msg = application_message(&name, mode, core, &from);
                send_request(inner, node, from, NetworkFlags::REMOTE_APPLICATION_START, msg)
            })
            .await
            .map(drop)
            .map_err(|e| application_error(&name, e))
        }
    }
}
