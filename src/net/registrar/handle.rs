//! [`Registrar`]: a node's side of ESRD, as Go's `registrar.client`: registering (hosting the
//! server when the port is free, else a client of whoever hosts it) and resolving.

use super::client::{Keeper, resolve_udp, resolve_udp_blocking};
use super::core::{ERR_FULL, ERR_INCORRECT, ERR_TAKEN, ERR_UNKNOWN, Owner, Refusal, WireError, host_of};
use super::server::{Bound, ServerLimits, ServerShared};
use crate::message::Alias;
use crate::meta::{MetaOptions, spawn_meta_inner};
use crate::net::edf::ergo_types::{Route, Version};
use crate::process::init::InitWait;
use crate::{Error, NodeHandle};
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tracing::Level;

/// Go's `registrar.defaultRegistrarPort`.
pub const DEFAULT_PORT: u16 = 4499;

/// A registrar's options (Go's `registrar.Options`, plus bounds and deadlines). Plain fields:
/// `RegistrarOptions { port, ..Default::default() }`.
#[derive(Clone, Debug)]
pub struct RegistrarOptions {
    /// The port of the server, TCP on `127.0.0.1` and UDP on every interface (default 4499).
    /// 0 picks a free port when this node hosts the server ([`Registrar::port`] tells which);
    /// for tests, since a client must be given the real one.
    pub port: u16,
    /// Never host the server, only be a client (Go's `DisableServer`).
    pub disable_server: bool,
    /// Server: the most nodes registered at once; beyond it a registration is refused with
    /// `"registrar is full"` (default 1024).
    pub max_registrations: usize,
    /// Server: the most registration connections open at once; beyond it a connection is
    /// closed on accept (default 1024).
    pub max_connections: usize,
    /// How long a registration's packet and its reply may take (Go: 1 s).
    pub register_timeout: Duration,
    /// How long a resolve waits for the reply (Go: 3 s).
    pub resolve_timeout: Duration,
    /// How often a client that lost its server tries again (Go: 1 s).
    pub retry_interval: Duration,
}

impl Default for RegistrarOptions {
    fn default() -> Self {
        RegistrarOptions {
            port: DEFAULT_PORT,
            disable_server: false,
            max_registrations: 1024,
            max_connections: 1024,
            register_timeout: Duration::from_secs(1),
            resolve_timeout: Duration::from_secs(3),
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// Why registering or resolving failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistrarError {
    /// The name is registered already (Go's `ErrTaken`).
    #[error("resource is taken")]
    Taken,
    /// No routes, or a name without a host (Go's `ErrIncorrect`).
    #[error("incorrect value or argument")]
    Incorrect,
    /// No node of that name is registered (Go's `ErrUnknown`).
    #[error("unknown")]
    Unknown,
    /// The server's table is full.
    #[error("registrar is full")]
    Full,
    /// The server answered with another error text.
    #[error("registrar refused: {0}")]
    Refused(String),
    /// The server's answer is not a registrar reply (Go's `ErrMalformed`).
    #[error("malformed registrar reply: {0}")]
    Malformed(String),
    /// No answer in time from the registrar at this address.
    #[error("no reply from the registrar at {0} in time")]
    Timeout(SocketAddr),
    /// A socket failed (refused, reset, no route, unknown host, ...).
    #[error("registrar I/O: {0}")]
    Io(Arc<io::Error>),
    /// The node refused: it is stopping, or the call would block a worker, or the lookup of a
    /// host name could not run on its blocking pool.
    #[error(transparent)]
    Node(Error),
    /// [`Registrar::register`] was called already.
    #[error("registered already")]
    AlreadyRegistered,
    /// [`Registrar::stop`] was called.
    #[error("registrar stopped")]
    Stopped,
}

impl RegistrarError {
    /// The error for a text a server sent (Go's errors are compared by text across the wire).
    pub fn from_text(text: &str) -> RegistrarError {
        match text {
            ERR_TAKEN => RegistrarError::Taken,
            ERR_INCORRECT => RegistrarError::Incorrect,
            ERR_UNKNOWN => RegistrarError::Unknown,
            ERR_FULL => RegistrarError::Full,
            other => RegistrarError::Refused(other.to_owned()),
        }
    }
}

/// Equal when the same failure: I/O errors compare by kind (an `io::Error` has no equality).
impl PartialEq for RegistrarError {
    fn eq(&self, other: &Self) -> bool {
        use RegistrarError::*;
        match (self, other) {
            (Refused(a), Refused(b)) | (Malformed(a), Malformed(b)) => a == b,
            (Timeout(a), Timeout(b)) => a == b,
            (Io(a), Io(b)) => a.kind() == b.kind(),
            (Node(a), Node(b)) => a == b,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl From<io::Error> for RegistrarError {
    fn from(e: io::Error) -> Self {
        RegistrarError::Io(Arc::new(e))
    }
}

impl From<WireError> for RegistrarError {
    fn from(e: WireError) -> Self {
        RegistrarError::Malformed(e.to_string())
    }
}

impl From<Refusal> for RegistrarError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Taken => RegistrarError::Taken,
            Refusal::Incorrect => RegistrarError::Incorrect,
            Refusal::Full => RegistrarError::Full,
        }
    }
}

/// What a registrar is doing (Go's `gen.RegistrarInfo`, the fields it fills).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrarInfo {
    /// This node hosts the server.
    pub embedded_server: bool,
    /// The port of the server this node uses.
    pub port: u16,
    /// Nodes registered, when this node hosts the server.
    pub registered: Option<usize>,
    /// Open registration connections, when this node hosts the server.
    pub connections: Option<usize>,
    /// ESRD/R1.
    pub version: Version,
}

/// The registrar's shared state: the handle's, the keeper meta's.
pub(crate) struct Inner {
    pub(crate) node: NodeHandle,
    pub(crate) options: RegistrarOptions,
    stopped: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    server: Option<Arc<ServerShared>>,
    keeper: Option<Alias>,
    registered: bool,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    fn limits(&self) -> ServerLimits {
        ServerLimits {
            max_registrations: self.options.max_registrations,
            max_connections: self.options.max_connections,
            read_timeout: self.options.register_timeout,
        }
    }

    /// Go's `tryStartServer` then its in-memory registration: binds both sockets, serves, and
    /// registers this node with `routes`. `Ok(false)`: a port is taken (or serving is disabled),
    /// be a client.
    pub(crate) fn try_serve(&self, routes: &[Route]) -> Result<bool, RegistrarError> {
        if self.options.disable_server {
            return Ok(false);
        }
        let bound = match Bound::bind(self.options.port) {
            Ok(bound) => bound,
            Err(e) => {
                self.node.log(Level::TRACE, format_args!("registrar: port {} busy ({e}), a client", self.options.port));
                return Ok(false);
            }
        };
        let shared = bound.serve(&self.node, &self.limits()).map_err(RegistrarError::Node)?;
        let name = self.node.name();
        if let Err(refused) = shared.table().register(name.as_str(), routes.to_vec(), Owner::Local) {
            shared.stop(&self.node);
            return Err(refused.into());
        }
        let mut state = self.state();
        if self.is_stopped() {
            drop(state);
            shared.stop(&self.node);
            return Err(RegistrarError::Stopped);
        }
        state.server = Some(shared);
        Ok(true)
    }
}

/// A node's registrar (Go's `registrar.Create` + `Register`/`Resolve`): cheap to clone.
///
/// [`Registrar::register`] first tries to host the server (bind TCP `127.0.0.1:PORT` and UDP
/// `:PORT`) and registers the node in memory; if either port is taken it registers with the
/// process that holds them, over a TCP connection kept open as long as the registration lives,
/// and when that connection is lost it tries again every second, taking the server over when
/// the port is free. [`Registrar::resolve`] asks the registrar of the name's host over UDP (its
/// own host's in memory when it hosts the server).
///
/// # Examples
/// ```no_run
/// use ergors::net::edf::ergo_types::{Route, Version};
/// use ergors::net::registrar::{Registrar, RegistrarOptions};
/// use ergors::{Node, NodeOptions};
///
/// let node = Node::start("demo@localhost", NodeOptions::default())?;
/// let registrar = Registrar::start(&node, RegistrarOptions::default());
/// let version = |name: &str| Version { name: name.into(), release: "R1".into(), commit: String::new(), license: "MIT".into() };
/// let route = Route { host: String::new(), port: 11144, tls: false, handshake_version: version("EHS"), proto_version: version("ENP") };
/// registrar.register(vec![route])?;                // from a plain thread (node start)
/// let routes = registrar.resolve_blocking("other@localhost");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Registrar {
    inner: Arc<Inner>,
}

impl Registrar {
    /// A registrar for `node`. Binds nothing yet: as in Go, the server is tried when the node
    /// registers, so a hidden node (one that never registers) never hosts it.
    pub fn start(node: &NodeHandle, options: RegistrarOptions) -> Registrar {
        let inner = Inner { node: node.clone(), options, stopped: AtomicBool::new(false), state: Default::default() };
        Registrar { inner: Arc::new(inner) }
    }

    /// The registrar's version as routes and handshakes name it (ESRD, R1, MIT).
    pub fn version() -> Version {
        Version { name: "ESRD".into(), release: "R1".into(), commit: String::new(), license: "MIT".into() }
    }

    /// Registers the node with `routes` (Go's `Register`): hosts the server if the port is free
    /// (the registration is then in memory), else registers with the server over TCP and keeps
    /// the connection (a meta of the node; see the type's docs). No routes: a hidden node,
    /// nothing registered (Go). Blocks this plain thread until the server answered; in a
    /// process, use [`Registrar::register_async`].
    ///
    /// # Errors
    /// [`RegistrarError::Taken`] (the name is registered), [`RegistrarError::Full`], the
    /// connection's errors ([`RegistrarError::Io`] when nothing listens, `Timeout`,
    /// `Malformed`), [`RegistrarError::AlreadyRegistered`], [`RegistrarError::Stopped`];
    /// [`RegistrarError::Node`] with [`Error::WouldBlockWorker`] on a worker thread (when the
    /// node is a client), or [`Error::NodeStopped`].
    pub fn register(&self, routes: Vec<Route>) -> Result<(), RegistrarError> {
        self.claim()?;
        let outcome = match self.prepare(routes) {
            Ok(Some(keeper)) => {
                let spawned = self.inner.node.spawn_meta(keeper, MetaOptions::default());
                self.keep(spawned)
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        self.settle(outcome)
    }

    /// As [`Registrar::register`], awaited on a worker (in a process or a meta's loop): only
    /// the awaiting process waits. The registration's meta is the node's, not the caller's: it
    /// outlives the caller.
    ///
    /// # Errors
    /// As [`Registrar::register`] (never `WouldBlockWorker`).
    pub async fn register_async(&self, routes: Vec<Route>) -> Result<(), RegistrarError> {
        self.claim()?;
        let outcome = match self.prepare(routes) {
            Ok(Some(keeper)) => {
                let wait = InitWait::new();
                let spawned =
                    spawn_meta_inner(&self.inner.node, None, keeper, &MetaOptions::default(), None, wait.clone());
                let spawned = match spawned {
                    Ok(alias) => poll_fn(|cx| wait.poll(cx.waker())).await.map(|()| alias),
                    Err(e) => Err(e),
                };
                self.keep(spawned)
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        self.settle(outcome)
    }

    /// Marks the registrar as registering (once only).
    fn claim(&self) -> Result<(), RegistrarError> {
        if self.inner.is_stopped() {
            return Err(RegistrarError::Stopped);
        }
        let mut state = self.inner.state();
        if state.registered {
            return Err(RegistrarError::AlreadyRegistered);
        }
        state.registered = true;
        Ok(())
    }

    /// Lets a failed registration be tried again.
    fn settle(&self, outcome: Result<(), RegistrarError>) -> Result<(), RegistrarError> {
        if outcome.is_err() {
            self.inner.state().registered = false;
        }
        outcome
    }

    /// Go's `tryRegister`, first half: nothing to do for a hidden node, the in-memory
    /// registration when this node can host the server; else the keeper meta to spawn.
    fn prepare(&self, routes: Vec<Route>) -> Result<Option<Keeper>, RegistrarError> {
        if routes.is_empty() || self.inner.try_serve(&routes)? {
            return Ok(None);
        }
        Ok(Some(Keeper { inner: self.inner.clone(), routes, stream: None }))
    }

    /// Records the keeper once its `init` registered; or the server's answer, typed, if not.
    fn keep(&self, spawned: Result<Alias, Error>) -> Result<(), RegistrarError> {
        let inner = &self.inner;
        match spawned {
            Ok(alias) => {
                let mut state = inner.state();
                state.keeper = Some(alias);
                if inner.is_stopped() {
                    drop(state);
                    let _ = inner.node.send_exit_meta(alias, crate::ExitReason::Shutdown);
                    return Err(RegistrarError::Stopped);
                }
                Ok(())
            }
            Err(Error::InitFailed(reason)) => Err(reason
                .downcast_ref::<RegistrarError>()
                .cloned()
                .unwrap_or_else(|| RegistrarError::Node(Error::InitFailed(reason)))),
            Err(e) => Err(RegistrarError::Node(e)),
        }
    }

    /// The routes of `name` (`node@host`), from the registrar of `host` over UDP, or from this
    /// node's table when it hosts the server and `host` is its own. On a worker (inside a
    /// process or a meta's loop); only the awaiting process waits.
    ///
    /// # Errors
    /// [`RegistrarError::Unknown`] (not registered there), [`RegistrarError::Incorrect`] (no
    /// host in the name), [`RegistrarError::Timeout`] (no answer within `resolve_timeout`),
    /// [`RegistrarError::Io`] (off a worker, an unknown host, ...), `Malformed`, `Stopped`.
    pub async fn resolve(&self, name: &str) -> Result<Vec<Route>, RegistrarError> {
        let host = match self.resolve_local(name) {
            Ok(Some(routes)) => return Ok(routes),
            Ok(None) => host_of(name),
            Err(e) => return Err(e),
        };
        resolve_udp(&self.inner, name, host).await
    }

    /// As [`Registrar::resolve`], blocking this (plain) thread.
    ///
    /// # Errors
    /// As [`Registrar::resolve`].
    pub fn resolve_blocking(&self, name: &str) -> Result<Vec<Route>, RegistrarError> {
        match self.resolve_local(name)? {
            Some(routes) => Ok(routes),
            None => resolve_udp_blocking(&self.inner, name, host_of(name)),
        }
    }

    /// The answer from memory, if it is ours to give; `None`: ask over UDP.
    fn resolve_local(&self, name: &str) -> Result<Option<Vec<Route>>, RegistrarError> {
        let inner = &self.inner;
        if inner.is_stopped() {
            return Err(RegistrarError::Stopped);
        }
        let host = host_of(name);
        if host.is_empty() {
            return Err(RegistrarError::Incorrect);
        }
        let server = inner.state().server.clone();
        match server {
            Some(server) if server.is_serving() && host == host_of(inner.node.name().as_str()) => {
                server.table().resolve(name).map(|r| Some(r.to_vec())).ok_or(RegistrarError::Unknown)
            }
            _ => Ok(None),
        }
    }

    /// True while this node hosts the server (from `register`, or since it took it over,
    /// until it ends).
    pub fn is_server(&self) -> bool {
        self.inner.state().server.as_ref().is_some_and(|s| s.is_serving())
    }

    /// The server's port: the one bound when this node hosts it (so the port 0 chose), else the
    /// option's.
    pub fn port(&self) -> u16 {
        self.inner.state().server.as_ref().map_or(self.inner.options.port, |s| s.port())
    }

    /// What the registrar is doing.
    pub fn info(&self) -> RegistrarInfo {
        let server = self.inner.state().server.clone();
        let server = server.filter(|s| s.is_serving());
        RegistrarInfo {
            embedded_server: server.is_some(),
            port: self.port(),
            registered: server.as_ref().map(|s| s.table().len()),
            connections: server.as_ref().map(|s| s.connections()),
            version: Registrar::version(),
        }
    }

    /// Stops (Go's `Terminate`): the server, if hosted (its clients then see their connections
    /// close and re-register elsewhere), and the registration connection, if a client. The
    /// node's stop does the same.
    pub fn stop(&self) {
        let inner = &self.inner;
        inner.stopped.store(true, Ordering::Release);
        let (server, keeper) = {
            let mut state = inner.state();
            (state.server.take(), state.keeper.take())
        };
        if let Some(server) = server {
            server.stop(&inner.node);
        }
        if let Some(keeper) = keeper {
            // Unknown: it ended already (took the server over, or the node stopped).
            let _ = inner.node.send_exit_meta(keeper, crate::ExitReason::Shutdown);
        }
    }
}
