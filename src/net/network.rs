//! The node's network: its options, its peers (one logical connection per remote node, made of
//! one or more TCP links), sending to remote processes and delivering what arrives.
//!
//! Sending runs on the sender's thread: the message is encoded (EDF, no caches) straight into
//! the send buffer of one of the peer's links, chosen from the sender's id as Go does so that one
//! sender's frames keep their order; the link's writer, woken if it was idle, takes the whole
//! buffer and writes it in one send (so sends from many processes in one ring turn share one
//! system call). Receiving runs in each link's loop ([`super::link`]): frames are parsed in place
//! from the receive buffer and pushed into local mailboxes through the same path as local sends,
//! in the order they arrived on that link.
//!
//! Runs on any thread. Never: blocks, or holds a lock while pushing into a mailbox.

use super::edf::{Decoder, EdfError, Encoder, ErrorValue, Registry};
use super::handshake::{Established, HandshakeConfig};
use super::proto::{BuildError, Enp, FrameWriter, Prio, Recipient, ResponseCode, order};
use crate::error::Error;
use crate::message::{Atom, Envelope, Message, Payload, Pid, Priority, To};
use crate::node::NodeInner;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::Waker;
use std::time::Duration;

/// Whether and how the node takes part in a network (Ergo's `NetworkMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// No acceptor, no connections (the default: an embedded runtime opens no port unasked;
    /// Ergo's default is `Enabled`, D203).
    #[default]
    Disabled,
    /// Accepts connections and dials peers.
    Enabled,
    /// Dials peers but registers nowhere (Ergo's hidden mode); it still accepts on its port.
    Hidden,
}

/// The network's settings (`NodeOptions::network`, `ERGORS_NET_*`).
#[derive(Clone)]
pub struct NetworkOptions {
    /// Disabled, enabled or hidden (`ERGORS_NET_MODE`).
    pub mode: NetworkMode,
    /// The shared secret of the handshake (`ERGORS_NET_COOKIE`).
    pub cookie: String,
    /// Where the acceptor listens (`ERGORS_NET_LISTEN`, default `127.0.0.1:11144`, Ergo's
    /// port; port 0 picks a free one). A busy port is scanned upward, as Go does, up to
    /// `port_range_end`.
    pub listen: SocketAddr,
    /// The last port the acceptor tries when the ones from `listen`'s are busy
    /// (`ERGORS_NET_PORT_RANGE`, default 50000: Go's `AcceptorOptions.PortRange`, which its code
    /// takes as the last port).
    pub port_range_end: u16,
    /// Links per connection the acceptor asks dialers for (`ERGORS_NET_POOL_SIZE`, default 3).
    pub pool_size: u32,
    /// The largest frame accepted, announced to peers; 0 = no limit
    /// (`ERGORS_NET_MAX_MESSAGE_SIZE`).
    pub max_message_size: u32,
    /// The heartbeat tick between ergors nodes (`ERGORS_NET_TICK_MS`, default 5000; 0 = off):
    /// a link with nothing to send for a tick sends a heartbeat, and one that hears nothing
    /// for three ticks is closed (a peer gone silently: powered off, cable cut). Go peers have
    /// no heartbeat; their links rely on TCP keep-alive, as Go's do.
    pub tick: Duration,
    /// Batches of at least this many bytes go out with zero-copy sends (`send_zc`), smaller
    /// ones with plain sends (`ERGORS_NET_ZC_THRESHOLD`, default 64 KiB; 0 = never).
    pub zc_threshold: usize,
    /// The port of the host's registrar (`ERGORS_NET_REGISTRAR_PORT`, default 4499, Go's): the
    /// node registers its acceptor there (hosting the registrar if the port is free) unless
    /// hidden, and resolves nodes without a static route through the registrar of their host.
    /// 0 = no registrar (static routes only).
    pub registrar_port: u16,
    /// Node name → acceptor address, used instead of a registrar (Ergo's static routes).
    pub routes: Vec<(String, SocketAddr)>,
    /// The types this node sends and receives (Ergo's and the EDF built-ins are always there).
    pub registry: Arc<Registry>,
    /// How processes compress their sends unless they choose otherwise
    /// (`ERGORS_NET_COMPRESSION`, default off; D217).
    pub compression: super::proto::Compression,
    /// TLS for the acceptor and for dialling TLS routes (`ERGORS_NET_TLS_*`; default: plain).
    pub tls: super::tls::NetworkTls,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            mode: NetworkMode::Disabled,
            cookie: String::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 11144)),
            pool_size: 3,
            max_message_size: 0,
            zc_threshold: 64 * 1024,
            registrar_port: super::registrar::DEFAULT_PORT,
            tick: Duration::from_secs(5),
            port_range_end: 50000,
            routes: Vec::new(),
            registry: Arc::new(Registry::new()),
            compression: super::proto::Compression::default(),
            tls: Default::default(),
        }
    }
}

impl std::fmt::Debug for NetworkOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkOptions")
            .field("mode", &self.mode)
            .field("cookie", &"<redacted>")
            .field("listen", &self.listen)
            .field("pool_size", &self.pool_size)
            .field("max_message_size", &self.max_message_size)
            .field("routes", &self.routes)
            .field("compression", &self.compression)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl NetworkOptions {
    /// Enabled, with `cookie`, listening on `listen`.
    pub fn enabled(cookie: impl Into<String>, listen: SocketAddr) -> Self {
        NetworkOptions { mode: NetworkMode::Enabled, cookie: cookie.into(), listen, ..Default::default() }
    }
    /// Adds a static route: `node` is reached at `addr`.
    pub fn route(mut self, node: impl Into<String>, addr: SocketAddr) -> Self {
        self.routes.push((node.into(), addr));
        self
    }
    /// Sets the type registry (build it with [`Registry::new`] and `register`).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Arc::new(registry);
        self
    }
    /// Sets the pool size the acceptor announces.
    pub fn pool_size(mut self, n: u32) -> Self {
        self.pool_size = n;
        self
    }
    /// Sets the registrar's port (0: none, static routes only).
    pub fn registrar_port(mut self, port: u16) -> Self {
        self.registrar_port = port;
        self
    }
    /// Sets the heartbeat tick (zero: none).
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }
    /// Sets the node's default compression of sends to other nodes.
    pub fn compression(mut self, c: super::proto::Compression) -> Self {
        self.compression = c;
        self
    }
    /// Sets the last port tried when the listening port is busy (Go's `PortRange`).
    pub fn port_range(mut self, last_port: u16) -> Self {
        self.port_range_end = last_port;
        self
    }
    /// Sets the largest frame accepted (0 = no limit).
    pub fn max_message_size(mut self, bytes: u32) -> Self {
        self.max_message_size = bytes;
        self
    }
    /// The acceptor serves TLS with this certificate chain (leaf first) and private key, PEM
    /// texts or files (as `ERGORS_NET_TLS_CERT` / `ERGORS_NET_TLS_KEY`); read when the node
    /// starts, which fails with `StartError::Tls` if they are unusable.
    pub fn tls(mut self, cert: super::tls::PemSource, key: super::tls::PemSource) -> Self {
        self.tls.cert = Some(cert);
        self.tls.key = Some(key);
        self
    }
    /// The certificates a dialled acceptor's chain must lead to (`ERGORS_NET_TLS_CA`; default:
    /// our own certificate chain).
    pub fn tls_roots(mut self, roots: super::tls::PemSource) -> Self {
        self.tls.roots = Some(roots);
        self
    }
    /// Dial TLS routes without checking the acceptor's certificate, as Go's
    /// `InsecureSkipVerify` (`ERGORS_NET_TLS_INSECURE`); the handshake's `DigestCert` still ties
    /// the certificate to the acceptor.
    pub fn tls_insecure_skip_verify(mut self, skip: bool) -> Self {
        self.tls.insecure_skip_verify = skip;
        self
    }
    /// Adds a static route to an acceptor that serves TLS: `node` is reached at `addr`.
    pub fn route_tls(mut self, node: impl Into<String>, addr: SocketAddr) -> Self {
        let node = node.into();
        self.tls.static_routes.push(node.clone());
        self.routes.push((node, addr));
        self
    }
}

/// The application name ergors nodes announce in their Introduce (`Version.Name`): tells an
/// ergors peer, which takes heartbeats, from a Go one.
pub(crate) const ERGORS_VERSION_NAME: &str = "ergors";

/// The ENP opcode of our heartbeat frame (header only), sent only to ergors peers: Go has no
/// opcode 250.
pub(crate) const HEARTBEAT: u8 = 250;

/// Most bytes a link's send buffer holds before sends to that peer fail with
/// [`Error::MailboxFull`] (the peer, or the network, does not keep up).
const SEND_BUFFER_LIMIT: usize = 64 << 20;

/// The sending half of one TCP link: frames wait here for the link's writer.
pub(crate) struct LinkOut {
    /// The peer node (for the error a closed link gives).
    node: Atom,
    state: Mutex<OutState>,
}

#[derive(Default)]
struct OutState {
    buf: Vec<u8>,
    /// Something was queued since the heartbeat last looked.
    busy: bool,
    /// The writer, parked until there is something to write.
    waker: Option<Waker>,
    closed: bool,
}

impl LinkOut {
    pub(crate) fn new(node: Atom) -> LinkOut {
        LinkOut { node, state: Mutex::default() }
    }

    /// Appends one frame built by `build`, then wakes the writer.
    ///
    /// # Errors
    /// `NoConnection` once the link is closed or retired; `MailboxFull` over the send buffer's
    /// limit; what `build` returns.
    pub(crate) fn push(&self, build: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>) -> Result<(), Error> {
        let waker = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.closed {
                return Err(Error::NoConnection(self.node));
            }
            if s.buf.len() > SEND_BUFFER_LIMIT {
                return Err(Error::MailboxFull);
            }
            build(&mut s.buf)?;
            s.busy = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// The writer's side: everything queued (swapped with `spare`, which must be empty), or
    /// `Pending` with the waker kept; `None` once closed.
    pub(crate) fn poll_take(&self, spare: &mut Vec<u8>, waker: &Waker) -> std::task::Poll<Option<()>> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !s.buf.is_empty() {
            std::mem::swap(&mut s.buf, spare);
            return std::task::Poll::Ready(Some(()));
        }
        if s.closed {
            return std::task::Poll::Ready(None);
        }
        s.waker = Some(waker.clone());
        std::task::Poll::Pending
    }

    /// Whether anything was queued since the last call (the heartbeat's question).
    pub(crate) fn take_busy(&self) -> bool {
        std::mem::take(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()).busy)
    }

    /// Refuses further frames and wakes the writer so that it ends, dropping what is queued.
    pub(crate) fn close(&self) {
        self.end(true);
    }

    /// Refuses further frames; the writer writes what is queued, then ends (D226).
    pub(crate) fn retire(&self) {
        self.end(false);
    }

    fn end(&self, drop_queued: bool) {
        let waker = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.closed = true;
            if drop_queued {
                s.buf = Vec::new();
            }
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// One remote node we are connected to: what its handshake told us and its links.
pub(crate) struct Peer {
    pub(crate) name: Atom,
    pub(crate) creation: i64,
    /// The peer is an ergors node (its Introduce says so): it sends and expects heartbeats.
    pub(crate) ticks: bool,
    /// What the peer offers (remote spawn, application start: `super::spawn`).
    pub(crate) flags: super::handshake::NetworkFlags,
    /// The connection's id (joins name it).
    pub(crate) connection_id: String,
    /// We dialled this connection (else the peer did): the tie-break of D206 needs it.
    pub(crate) dialed_by_us: bool,
    /// The joins this connection admitted (a replayed join is refused: D184).
    pub(crate) joins: Mutex<super::handshake::JoinGuard>,
    pub(crate) writer: FrameWriter,
    /// The dictionaries the peer encodes with (decode its frames with them).
    pub(crate) caches: super::edf::DecodeCaches,
    links: RwLock<Vec<Arc<LinkOut>>>,
    /// `close_links` was called: a link that joins later closes at once (a pool link still
    /// joining when the connection is closed must not keep it alive).
    closing: std::sync::atomic::AtomicBool,
    round_robin: AtomicU32,
    /// Our calls waiting for this peer's answer: ref word → caller. Failed with
    /// `NoConnection` when the connection goes; swept of calls nobody waits for any more.
    calls: Mutex<CallBook>,
    /// Our processes watching this peer's targets (links, monitors, the node itself).
    watchers: Mutex<HashMap<crate::message::Target, Vec<(Pid, crate::node::watch::Kind)>>>,
    /// Our link/monitor requests waiting for their `MessageResult`, by ref word.
    controls: Mutex<HashMap<u64, super::relations::ControlWait>>,
    /// The connection that displaced this one (D206): it took over the calls, relations and
    /// requests booked here, and frames for this peer go there while this one drains (D226).
    successor: std::sync::OnceLock<Arc<Peer>>,
    /// Our events this peer's processes consume (dropped from them when it goes, D215).
    consumed_events: Mutex<std::collections::HashSet<crate::message::Name>>,
}

/// The calls in flight towards one peer (see [`Peer::calls`]).
#[derive(Default)]
struct CallBook {
    waiting: HashMap<u64, Pid>,
    /// Sweep when `waiting` grows past this (doubling), so the book stays proportional to the
    /// calls really waiting even if the peer never answers some.
    sweep_at: usize,
    /// The connection is gone: no call is booked any more.
    closed: bool,
}

impl Peer {
    pub(crate) fn new(est: &Established, dialed_by_us: bool) -> Result<Peer, EdfError> {
        let mut caches = super::edf::DecodeCaches::new();
        for (id, a) in &est.peer_atom_cache {
            caches.insert_atom(*id, a)?;
        }
        for (id, r) in &est.peer_reg_cache {
            caches.insert_reg(*id, r)?;
        }
        for (id, e) in &est.peer_err_cache {
            caches.insert_error(*id, e)?;
        }
        Ok(Peer {
            name: Atom::try_new(&est.peer).map_err(|_| EdfError::AtomTableFull)?,
            creation: est.peer_creation,
            connection_id: est.connection_id.clone(),
            dialed_by_us,
            ticks: est.peer_version.name == ERGORS_VERSION_NAME,
            flags: est.peer_flags,
            joins: Mutex::new(super::handshake::JoinGuard::new()),
            writer: FrameWriter::new(est.peer_max_message_size),
            caches,
            links: RwLock::new(Vec::new()),
            closing: Default::default(),
            round_robin: AtomicU32::new(0),
            calls: Mutex::new(CallBook { waiting: HashMap::new(), sweep_at: 1024, closed: false }),
            watchers: Mutex::new(HashMap::new()),
            controls: Mutex::new(HashMap::new()),
            successor: std::sync::OnceLock::new(),
            consumed_events: Mutex::new(std::collections::HashSet::new()),
        })
    }

    pub(crate) fn add_link(&self, link: Arc<LinkOut>) {
        let mut links = self.links.write().unwrap_or_else(|p| p.into_inner());
        // Checked under the links' lock, which `close_links` takes after setting the flag.
        if self.closing.load(Ordering::Acquire) {
            link.close();
        } else if self.retired() {
            // A pool link joining a displaced connection: it drains like the others (D226).
            link.retire();
        }
        links.push(link);
    }

    /// Forgets `link`; true if it was the last one (the peer is then gone).
    pub(crate) fn remove_link(&self, link: &Arc<LinkOut>) -> bool {
        let mut links = self.links.write().unwrap_or_else(|p| p.into_inner());
        links.retain(|l| !Arc::ptr_eq(l, link));
        links.is_empty()
    }

    /// The link a frame with `route` goes on.
    fn link(&self, route: order::Route) -> Option<Arc<LinkOut>> {
        let links = self.links.read().unwrap_or_else(|p| p.into_inner());
        if links.is_empty() {
            return None;
        }
        let mut rr = self.round_robin.load(Ordering::Relaxed);
        let i = route.link_index(links.len(), &mut rr);
        if route.link == 0 {
            self.round_robin.store(rr, Ordering::Relaxed);
        }
        links.get(i).cloned()
    }

    /// Books our call `n` from `caller`, about to leave for this peer (booked first, so that a
    /// connection lost meanwhile fails it).
    ///
    /// # Errors
    /// `NoConnection` once the connection is gone.
    pub(crate) fn book_call(&self, inner: &NodeInner, n: u64, caller: Pid) -> Result<(), Error> {
        self.current(
            |p| &p.calls,
            |peer, book| {
                if book.closed {
                    return Err(Error::NoConnection(peer.name));
                }
                book.waiting.insert(n, caller);
                if book.waiting.len() >= book.sweep_at {
                    book.waiting.retain(|n, caller| inner.call_waits(*caller, *n));
                    book.sweep_at = (book.waiting.len() * 2).max(1024);
                }
                Ok(())
            },
        )
    }

    /// Our call `n` is answered: off the book.
    fn call_answered(&self, n: u64) {
        self.current(|p| &p.calls, |_, book| book.waiting.remove(&n));
    }

    /// Our request `n` (a remote spawn or application start) is answered: its caller, if booked.
    pub(crate) fn take_call(&self, n: u64) -> Option<Pid> {
        self.current(|p| &p.calls, |_, book| book.waiting.remove(&n))
    }

    /// Fails every call still waiting for this peer (its connection is gone).
    pub(crate) fn fail_calls(&self, inner: &NodeInner) {
        let waiting = {
            let mut book = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            book.closed = true;
            std::mem::take(&mut book.waiting)
        };
        for (n, caller) in waiting {
            let _ = inner
                .respond(crate::message::From { pid: caller, ref_id: [n, 0, 0] }, Err(Error::NoConnection(self.name)));
        }
    }

    pub(crate) fn add_watcher(&self, target: crate::message::Target, consumer: Pid, kind: crate::node::watch::Kind) {
        self.current(|p| &p.watchers, |_, w| w.entry(target).or_default().push((consumer, kind)));
    }

    pub(crate) fn remove_watcher(
        &self,
        target: &crate::message::Target,
        consumer: Pid,
        kind: crate::node::watch::Kind,
    ) {
        self.current(
            |p| &p.watchers,
            |_, w| {
                if let Some(list) = w.get_mut(target) {
                    crate::node::watch::remove_first(list, &(consumer, kind));
                    if list.is_empty() {
                        w.remove(target);
                    }
                }
            },
        );
    }

    /// Everyone watching `target` (it ended): they are no longer watching.
    pub(crate) fn take_watchers(&self, target: &crate::message::Target) -> Vec<(Pid, crate::node::watch::Kind)> {
        self.current(|p| &p.watchers, |_, w| w.remove(target).unwrap_or_default())
    }

    /// Hands this connection over to `next`, which displaced it (D206, D226): what our
    /// processes watch, the calls and link/monitor requests waiting for answers move there, and
    /// whatever is booked or sent through this one from now on goes there too. This
    /// connection's links write what they have queued, then end.
    pub(crate) fn hand_over_to(&self, next: &Arc<Peer>) {
        if self.successor.set(next.clone()).is_err() {
            return;
        }
        let watched = std::mem::take(&mut *self.watchers.lock().unwrap_or_else(|p| p.into_inner()));
        {
            let mut theirs = next.watchers.lock().unwrap_or_else(|p| p.into_inner());
            for (target, list) in watched {
                theirs.entry(target).or_default().extend(list);
            }
        }
        let calls = {
            let mut book = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            book.closed = true;
            std::mem::take(&mut book.waiting)
        };
        next.calls.lock().unwrap_or_else(|p| p.into_inner()).waiting.extend(calls);
        let controls = std::mem::take(&mut *self.controls.lock().unwrap_or_else(|p| p.into_inner()));
        next.controls.lock().unwrap_or_else(|p| p.into_inner()).extend(controls);
        for name in self.take_consumed_events() {
            next.note_consumed_event(name);
        }
        for link in self.links.read().unwrap_or_else(|p| p.into_inner()).iter() {
            link.retire();
        }
    }

    /// Closes every link (a `disconnect`): each link's loop ends, dropping what is queued, and a
    /// link that joins later closes at once.
    pub(crate) fn close_links(&self) {
        self.closing.store(true, Ordering::Release);
        for link in self.links.read().unwrap_or_else(|p| p.into_inner()).iter() {
            link.close();
        }
    }

    /// This connection was displaced by another one (its links are draining).
    pub(crate) fn retired(&self) -> bool {
        self.successor.get().is_some()
    }

    /// The connection that displaced this one, if one did.
    pub(crate) fn successor(&self) -> Option<&Arc<Peer>> {
        self.successor.get()
    }

    /// Every relation on this peer's targets (the connection is gone), the node's own included.
    pub(crate) fn take_all_watchers(&self) -> Vec<(crate::message::Target, Pid, crate::node::watch::Kind)> {
        let all = std::mem::take(&mut *self.watchers.lock().unwrap_or_else(|p| p.into_inner()));
        self.controls.lock().unwrap_or_else(|p| p.into_inner()).clear();
        all.into_iter().flat_map(|(t, list)| list.into_iter().map(move |(c, k)| (t.clone(), c, k))).collect()
    }

    /// Our processes consuming `target` (an event of this peer), each once.
    pub(crate) fn consumers_of(&self, target: &crate::message::Target) -> Vec<Pid> {
        let mut pids: Vec<Pid> = self.current(
            |p| &p.watchers,
            |_, w| w.get(target).map(|l| l.iter().map(|(p, _)| *p).collect()).unwrap_or_default(),
        );
        // A process that both links and monitors gets each message once.
        pids.sort_unstable_by_key(|p| p.id);
        pids.dedup();
        pids
    }

    /// This peer's processes consume our event `name`.
    pub(crate) fn note_consumed_event(&self, name: crate::message::Name) -> bool {
        self.current(|p| &p.consumed_events, |_, names| names.insert(name))
    }

    /// Forgets `name` noted by [`Peer::note_consumed_event`] for a subscription that failed.
    pub(crate) fn forget_consumed_event(&self, name: &crate::message::Name) {
        self.current(|p| &p.consumed_events, |_, names| names.remove(name));
    }

    /// Our events this peer's processes consumed (the connection is gone).
    pub(crate) fn take_consumed_events(&self) -> Vec<crate::message::Name> {
        std::mem::take(&mut *self.consumed_events.lock().unwrap_or_else(|p| p.into_inner())).into_iter().collect()
    }

    pub(crate) fn await_control(&self, n: u64, wait: super::relations::ControlWait) {
        self.current(|p| &p.controls, |_, c| c.insert(n, wait));
    }

    pub(crate) fn control_answered(&self, n: u64) -> Option<super::relations::ControlWait> {
        self.current(|p| &p.controls, |_, c| c.remove(&n))
    }

    /// Runs `f` on the table `field` picks of the connection that carries this peer's traffic
    /// now: this one, or the one that displaced it (D226). The successor is looked at under that
    /// table's lock, which `hand_over_to` takes after setting it: nothing lands in a table it
    /// has already emptied, and nothing is looked up in one.
    fn current<T, R>(&self, field: fn(&Peer) -> &Mutex<T>, f: impl FnOnce(&Peer, &mut T) -> R) -> R {
        let mut peer = self;
        loop {
            let mut guard = field(peer).lock().unwrap_or_else(|p| p.into_inner());
            match peer.successor.get() {
                Some(next) => {
                    drop(guard);
                    peer = next;
                }
                None => return f(peer, &mut guard),
            }
        }
    }

    /// Queues one frame with `enp`'s fixed fields and the payload `payload` writes, on the link
    /// `route` picks.
    ///
    /// # Errors
    /// `NoConnection` without a link; `Encode` if the payload cannot be written; `MailboxFull`
    /// over the send buffer's limit.
    pub(crate) fn push_frame(
        &self,
        route: order::Route,
        enp: &Enp<'_>,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), EdfError>,
    ) -> Result<(), Error> {
        self.push_frame_with(route, enp, payload, None)
    }

    /// [`push_frame`](Peer::push_frame), compressed as `compression` asks when given (D217);
    /// on the connection that displaced this one, if one did (D226).
    ///
    /// # Errors
    /// As `push_frame`.
    pub(crate) fn push_frame_with(
        &self,
        route: order::Route,
        enp: &Enp<'_>,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), EdfError>,
        compression: Option<&super::proto::Compression>,
    ) -> Result<(), Error> {
        if let Some(next) = self.successor.get() {
            return next.push_frame_with(route, enp, payload, compression);
        }
        let link = self.link(route).ok_or(Error::NoConnection(self.name))?;
        match compression {
            None => link.push(|buf| self.writer.write(buf, route.order, enp, payload).map(drop).map_err(build_error)),
            Some(c) => super::compression::push_compressed(&link, &self.writer, route, enp, payload, c),
        }
    }

    /// The Pid `id` of this peer.
    pub(crate) fn pid(&self, id: u64) -> Pid {
        Pid { node: self.name, id, creation: self.creation }
    }
}

/// What a node knows of one connected peer (`NodeHandle::peer_info`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// Its name.
    pub name: Atom,
    /// Its creation (its Pids carry it).
    pub creation: i64,
    /// TCP links the connection has now (the pool).
    pub links: usize,
}

/// What [`Network::insert_peer`] did.
pub(crate) enum Inserted {
    /// The first connection to that node.
    Fresh(Arc<Peer>),
    /// It displaced `old` (the tie-break of simultaneous dials).
    Replaced { new: Arc<Peer>, old: Arc<Peer> },
    /// One was there and stays.
    Existing(Arc<Peer>),
}

/// The node's network state, shared by its links and every sender.
pub(crate) struct Network {
    pub(crate) options: NetworkOptions,
    pub(crate) config: Arc<HandshakeConfig>,
    peers: RwLock<HashMap<Atom, Arc<Peer>>>,
    /// Where the acceptor listens, once it does.
    pub(crate) local: std::sync::OnceLock<SocketAddr>,
    /// The network process (it dials and owns the links).
    pub(crate) core: std::sync::OnceLock<Pid>,
    /// The host's registrar, when `registrar_port` is set.
    pub(crate) registrar: std::sync::OnceLock<super::registrar::Registrar>,
    /// Sends waiting for a connection being dialled, per node (connect on first send).
    dialing: Mutex<HashMap<Atom, Vec<Waiting>>>,
    /// Some sender may compress: the node's default is on, or a process turned it on (D217).
    pub(crate) compress_any: std::sync::atomic::AtomicBool,
    /// The TLS configurations, built at start.
    pub(crate) tls: std::sync::OnceLock<super::tls::LinkTls>,
    /// Remote spawn and application start, connects and node watches waiting for a dial.
    pub(crate) spawn: super::spawn::SpawnState,
}

/// A send waiting for its node's connection: the destination, its priority and the envelope.
type Waiting = (To, Priority, Envelope);

/// Most sends that wait for one node's connection to come up; beyond, `MailboxFull`.
const DIALING_LIMIT: usize = 64 * 1024;

impl Network {
    pub(crate) fn new(name: Atom, creation: i64, options: NetworkOptions) -> Network {
        let mut config = HandshakeConfig::new(name.as_str(), options.cookie.clone(), creation);
        config.max_message_size = i64::from(options.max_message_size);
        config.pool_size = options.pool_size.max(1);
        config.version = super::handshake::Version {
            name: ERGORS_VERSION_NAME.into(),
            release: env!("CARGO_PKG_VERSION").into(),
            commit: String::new(),
            license: "MIT OR Apache-2.0".into(),
        };
        Network {
            compress_any: std::sync::atomic::AtomicBool::new(options.compression.enabled),
            options,
            config: Arc::new(config),
            peers: RwLock::new(HashMap::new()),
            local: Default::default(),
            core: Default::default(),
            registrar: Default::default(),
            dialing: Mutex::new(HashMap::new()),
            tls: Default::default(),
            spawn: Default::default(),
        }
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.options.registry
    }

    pub(crate) fn peer(&self, node: Atom) -> Option<Arc<Peer>> {
        self.peers.read().unwrap_or_else(|p| p.into_inner()).get(&node).cloned()
    }

    /// Makes `peer` the connection to its node unless one is there already (two nodes that
    /// dialled each other at once): then the existing one, and `false`.
    ///
    /// Two connections made by dials from both sides at once are told apart by who dialled:
    /// the one dialled by the node whose name sorts first stays, on both nodes alike (D206);
    /// then `Replaced` hands back the connection it displaced, to close.
    pub(crate) fn insert_peer(&self, peer: Arc<Peer>) -> Inserted {
        let mut peers = self.peers.write().unwrap_or_else(|p| p.into_inner());
        let Some(existing) = peers.get(&peer.name).cloned() else {
            peers.insert(peer.name, peer.clone());
            return Inserted::Fresh(peer);
        };
        let ours = self.config.name.as_str() < peer.name.as_str();
        let wins = |p: &Peer| p.dialed_by_us == ours;
        if existing.dialed_by_us != peer.dialed_by_us
            && existing.creation == peer.creation
            && wins(&peer)
            && !wins(&existing)
        {
            peers.insert(peer.name, peer.clone());
            return Inserted::Replaced { new: peer, old: existing };
        }
        Inserted::Existing(existing)
    }

    /// Forgets `peer` (its last link closed).
    pub(crate) fn remove_peer(&self, peer: &Arc<Peer>) {
        let mut peers = self.peers.write().unwrap_or_else(|p| p.into_inner());
        if peers.get(&peer.name).is_some_and(|p| Arc::ptr_eq(p, peer)) {
            peers.remove(&peer.name);
        }
    }

    /// What we know of `node`, if connected.
    pub(crate) fn peer_info(&self, node: Atom) -> Option<PeerInfo> {
        let peer = self.peer(node)?;
        let links = peer.links.read().unwrap_or_else(|p| p.into_inner()).len();
        Some(PeerInfo { name: peer.name, creation: peer.creation, links })
    }

    /// The names of the connected nodes.
    pub(crate) fn peer_names(&self) -> Vec<Atom> {
        self.peers.read().unwrap_or_else(|p| p.into_inner()).keys().copied().collect()
    }

    /// Queues a send to `node`, which has no connection yet, and has it dialled unless that is
    /// under way.
    fn queue_for_dial(&self, inner: &NodeInner, node: Atom, item: Waiting) -> Result<(), Error> {
        self.dial_with(inner, node, Some(item))
    }

    /// Has `node` dialled unless that is under way (`NodeHandle::connect`); the outcome reaches
    /// [`super::spawn`]'s waiters.
    ///
    /// # Errors
    /// `NoConnection` without a static route or a registrar to find the node.
    pub(crate) fn start_dial(&self, inner: &NodeInner, node: Atom) -> Result<(), Error> {
        self.dial_with(inner, node, None)
    }

    fn dial_with(&self, inner: &NodeInner, node: Atom, item: Option<Waiting>) -> Result<(), Error> {
        // A static route, or a name for the registrar to resolve (the network process asks).
        let addr = self.static_route(node);
        if addr.is_none() && self.registrar.get().is_none() {
            return Err(Error::NoConnection(node));
        }
        let core = *self.core.get().ok_or(Error::NoConnection(node))?;
        let first = {
            let mut dialing = self.dialing.lock().unwrap_or_else(|p| p.into_inner());
            let first = !dialing.contains_key(&node);
            let queue = dialing.entry(node).or_default();
            if let Some(item) = item {
                if queue.len() >= DIALING_LIMIT {
                    return Err(Error::MailboxFull);
                }
                queue.push(item);
            }
            first
        };
        if first {
            let dial = super::link::Dial { node: node.as_str().to_string(), addr };
            let sent = inner.resolve(&To::Pid(core)).and_then(|e| {
                inner.push(
                    &e,
                    Priority::System,
                    Envelope { from: inner.core_pid(), payload: Payload::Message(Message::new(dial)) },
                )
            });
            if let Err(e) = sent {
                self.dial_failed(inner, node.as_str());
                return Err(e);
            }
        }
        Ok(())
    }

    /// A connection to `node` came up: the sends that waited for it go out, in their order.
    pub(crate) fn flush_dialing(&self, inner: &NodeInner, node: Atom) {
        let queued = self.dialing.lock().unwrap_or_else(|p| p.into_inner()).remove(&node).unwrap_or_default();
        self.spawn.connected(inner, node);
        for (to, priority, envelope) in queued {
            let from = envelope.from;
            let request = envelope.payload.request_ref();
            if let Err(e) = inner.push_remote(node, &to, priority, envelope) {
                tracing::debug!("network: a send to {to} that waited for the connection failed: {e}");
                if let Some(n) = request {
                    let _ = inner.respond(crate::message::From { pid: from, ref_id: n }, Err(e));
                }
            }
        }
    }

    /// Whether we are dialling `node` now.
    pub(crate) fn dialing_to(&self, node: Atom) -> bool {
        self.dialing.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&node)
    }

    /// Whether we are dialling the node named `node`, without making an atom of the name.
    pub(crate) fn dialing_to_name(&self, node: &str) -> bool {
        self.dialing.lock().unwrap_or_else(|p| p.into_inner()).keys().any(|a| a.as_str() == node)
    }

    /// Dialling `node` failed: the sends that waited are dropped, their calls failed at once —
    /// unless a connection came up the other way meanwhile (both nodes dialled at once and
    /// theirs won): then they take that one.
    pub(crate) fn dial_failed(&self, inner: &NodeInner, node: &str) {
        let Ok(atom) = Atom::try_new(node) else { return };
        if self.peer(atom).is_some() {
            self.flush_dialing(inner, atom);
            return;
        }
        let queued = self.dialing.lock().unwrap_or_else(|p| p.into_inner()).remove(&atom).unwrap_or_default();
        self.spawn.unreachable(inner, atom);
        for (_, _, envelope) in queued {
            if let Some(n) = envelope.payload.request_ref() {
                let _ = inner
                    .respond(crate::message::From { pid: envelope.from, ref_id: n }, Err(Error::NoConnection(atom)));
            }
        }
    }

    /// The static route to `node`, if one was given.
    pub(crate) fn static_route(&self, node: Atom) -> Option<SocketAddr> {
        self.options.routes.iter().find(|(n, _)| n == node.as_str()).map(|(_, a)| *a)
    }
}

/// Ergo's error texts for our errors, and back (Go compares errors by these texts).
pub(crate) fn error_text(e: &Error) -> String {
    match e {
        Error::ProcessUnknown => "unknown process".into(),
        Error::NameUnknown => "unknown name".into(),
        Error::Timeout(_) => "timed out".into(),
        Error::Terminated => "process terminated".into(),
        Error::NotAllowed(_) => "not allowed".into(),
        Error::MailboxFull => "process mailbox is full".into(),
        Error::Taken => "resource is taken".into(),
        other => other.to_string(),
    }
}

/// Our error for an error text from a peer.
pub(crate) fn error_from_text(node: Atom, text: &str) -> Error {
    match text {
        "unknown process" => Error::ProcessUnknown,
        "unknown name" => Error::NameUnknown,
        "process terminated" => Error::Terminated,
        "process mailbox is full" => Error::MailboxFull,
        "timed out" => Error::Timeout(Duration::ZERO),
        "no connection" => Error::NoConnection(node),
        "not allowed" => Error::NotAllowed("refused by the remote node"),
        "resource is taken" => Error::Taken,
        other => Error::Remote(other.to_string()),
    }
}

/// A frame's destination, for log lines.
fn frame_target(enp: &Enp<'_>) -> String {
    match enp {
        Enp::MessagePid { to, .. } | Enp::RequestPid { to, .. } => format!("process id {to}"),
        Enp::MessageName { name, .. } | Enp::RequestName { name, .. } => {
            format!("name {:?}", String::from_utf8_lossy(name))
        }
        Enp::MessageAlias { alias, .. } | Enp::RequestAlias { alias, .. } => format!("alias {alias:?}"),
        other => format!("opcode {}", other.opcode()),
    }
}

pub(crate) fn priority_byte(p: Priority) -> u8 {
    match p {
        Priority::Urgent => 2,
        Priority::System => 1,
        _ => 0,
    }
}

/// The priority of a frame's `prio` byte.
pub(crate) fn priority_of(prio: Prio) -> Priority {
    priority_from_byte(prio.priority())
}

/// The priority Ergo numbers `byte` (as frames and `gen.MessagePriority` carry it).
pub(crate) fn priority_from_byte(byte: u8) -> Priority {
    match byte {
        2 => Priority::Urgent,
        1 => Priority::System,
        _ => Priority::Main,
    }
}

fn encode_payload(reg: &Registry, msg: &Message, buf: &mut Vec<u8>) -> Result<(), EdfError> {
    reg.encode_message(msg, &mut Encoder::new(buf).with_registry(reg))
}

fn build_error(e: BuildError<EdfError>) -> Error {
    match e {
        BuildError::Payload(e) => Error::Encode(e.to_string()),
        other => Error::Encode(other.to_string()),
    }
}

impl NodeInner {
    /// The node a remote destination names, if `to` is one (not this node).
    pub(crate) fn remote_node(&self, to: &To) -> Option<Atom> {
        let node = match to {
            To::Pid(p) => p.node,
            To::Name(id) => id.node,
            To::Alias(a) => a.0.node,
            To::Local(_) => return None,
        };
        (node != self.name).then_some(node)
    }

    /// Sends `envelope` (a message or a request) to a process of another node.
    ///
    /// # Errors
    /// [`Error::NoConnection`] without a network or a connection to that node;
    /// [`Error::Encode`] for a message no registered type describes; [`Error::MailboxFull`]
    /// when the link's send buffer is over its limit.
    pub(crate) fn push_remote(&self, node: Atom, to: &To, priority: Priority, envelope: Envelope) -> Result<(), Error> {
        let net = self.net.as_ref().ok_or(Error::NoConnection(node))?;
        let Some(peer) = net.peer(node) else {
            return net.queue_for_dial(self, node, (to.clone(), priority, envelope));
        };
        // A Pid of an earlier run of that node names nobody now (Go: ErrProcessIncarnation).
        if let To::Pid(p) = to
            && p.creation != peer.creation
        {
            return Err(Error::ProcessUnknown);
        }
        let from = envelope.from.id;
        let prio = Prio::new(priority_byte(priority), false);
        let (msg, reference) = match &envelope.payload {
            Payload::Message(m) => (m, None),
            Payload::Request(n, m) => (m, Some([*n, 0, 0])),
            Payload::RequestWide(w) => (&w.request, Some(w.ref_id)),
            _ => return Err(Error::NotAllowed("only messages and requests travel to other nodes")),
        };
        let recipient = match to {
            To::Pid(p) => Recipient::Pid(p.id),
            To::Name(id) => Recipient::Name(id.name.as_bytes()),
            To::Alias(a) => Recipient::Alias(a.0.id),
            To::Local(_) => return Err(Error::NoConnection(node)),
        };
        let (enp, route) = match reference {
            None => Enp::send(from, recipient, prio, 0, true),
            Some(r) => Enp::request(from, recipient, prio, r, true),
        };
        let reg = net.registry();
        let booked = match envelope.payload {
            Payload::Request(n, _) => {
                peer.book_call(self, n, envelope.from)?;
                Some(n)
            }
            _ => None,
        };
        let compression = self.compression_for(net, envelope.from);
        let pushed = peer.push_frame_with(route, &enp, |b| encode_payload(reg, msg, b), compression.as_ref());
        if let (Err(_), Some(n)) = (&pushed, booked) {
            peer.call_answered(n);
        }
        pushed
    }

    /// Whether `caller` (a process, or the node for `Node::call`) still waits for its call `n`.
    fn call_waits(&self, caller: Pid, n: u64) -> bool {
        if caller == self.core_pid() {
            return self.external_calls.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&n);
        }
        self.table.get(&caller).is_some_and(|e| e.call_waits_for(n))
    }

    /// Answers the remote caller `to` with `outcome`.
    pub(crate) fn respond_remote(
        &self,
        from: Pid,
        to: crate::message::From,
        outcome: Result<Message, Error>,
    ) -> Result<(), Error> {
        let node = to.pid.node;
        let net = self.net.as_ref().ok_or(Error::NoConnection(node))?;
        let peer = net.peer(node).ok_or(Error::NoConnection(node))?;
        let prio = Prio::new(0, false);
        let reg = net.registry();
        match &outcome {
            Ok(msg) => {
                let (enp, route) = Enp::response(from.id, to.pid.id, prio, to.ref_id, true);
                let compression = self.compression_for(net, from);
                peer.push_frame_with(route, &enp, |b| encode_payload(reg, msg, b), compression.as_ref())
            }
            Err(e) => {
                let (code, text) = match e {
                    Error::ProcessUnknown | Error::NameUnknown => (ResponseCode::UnknownProcess, None),
                    Error::MailboxFull => (ResponseCode::MailboxFull, None),
                    Error::Terminated => (ResponseCode::ProcessTerminated, None),
                    other => (ResponseCode::Error, Some(error_text(other))),
                };
                let (enp, route) = Enp::response_error(from.id, to.pid.id, prio, to.ref_id, code, true);
                peer.push_frame(route, &enp, |b| match &text {
                    Some(t) => Encoder::new(b).encode(&Some(ErrorValue::new(t.as_str()))),
                    None => Ok(()),
                })
            }
        }
    }

    /// Delivers one frame that arrived from `peer` (a link's loop calls this for each frame,
    /// in arrival order). Errors spoil this frame only; they are logged by the caller.
    pub(crate) fn deliver_frame(&self, peer: &Peer, frame: &super::proto::Frame<'_>) -> Result<(), String> {
        let net = self.net.as_ref().ok_or("no network")?;
        let decode = || -> Result<Message, String> {
            let mut dec = Decoder::new(frame.payload, net.registry()).with_caches(&peer.caches);
            net.registry().decode_message(&mut dec).map_err(|e| format!("cannot decode the payload: {e}"))
        };
        let local = |id: u64| Pid { node: self.name, id, creation: self.creation };
        let name_of = |b: &[u8]| -> Result<crate::message::Name, String> {
            std::str::from_utf8(b).map(crate::message::Name::new).map_err(|_| "a name is not UTF-8".to_string())
        };
        // The name-by-cache forms (103/106/123/183/186): an id in the atom cache the peer
        // announced in its handshake.
        let cached = |id: u16| -> Result<crate::message::Name, String> {
            peer.caches.atom(id).map(|a| a.name.clone()).map_err(|e| format!("a cached name: {e}"))
        };
        match frame.enp {
            Enp::MessagePid { from, prio, impid, to } => {
                self.deliver_message(peer, from, prio, impid, &To::Pid(local(to)), to, decode, frame)
            }
            Enp::MessageName { from, prio, impid, name } => {
                let to = To::Local(name_of(name)?);
                self.deliver_message(peer, from, prio, impid, &to, 0, decode, frame)
            }
            Enp::MessageNameCache { from, prio, impid, cache_id } => {
                let to = To::Local(cached(cache_id)?);
                self.deliver_message(peer, from, prio, impid, &to, 0, decode, frame)
            }
            Enp::MessageAlias { from, prio, impid, alias } => {
                let to = To::Alias(crate::message::Alias(crate::message::Ref {
                    node: self.name,
                    creation: self.creation,
                    id: alias,
                }));
                self.deliver_message(peer, from, prio, impid, &to, 0, decode, frame)
            }
            Enp::Compressed { .. } => {
                let cap = match net.options.max_message_size {
                    0 => super::proto::DEFAULT_INFLATE_CAP,
                    n => n as usize,
                };
                let mut inner = Vec::new();
                super::proto::inflate(frame, cap, &mut inner).map_err(|e| format!("a compressed frame: {e}"))?;
                let inner = super::proto::Frame::parse(&inner).map_err(|e| format!("a compressed frame: {e}"))?;
                if matches!(inner.enp, Enp::Compressed { .. }) {
                    return Err("a compressed frame inside a compressed frame".into());
                }
                self.deliver_frame(peer, &inner)
            }
            Enp::RequestPid { from, prio, reference, to } => {
                self.deliver_request(peer, from, reference, &To::Pid(local(to)), priority_of(prio), decode)
            }
            Enp::RequestName { from, prio, reference, name } => {
                let to = To::Local(name_of(name)?);
                self.deliver_request(peer, from, reference, &to, priority_of(prio), decode)
            }
            Enp::RequestNameCache { from, prio, reference, cache_id } => {
                let to = To::Local(cached(cache_id)?);
                self.deliver_request(peer, from, reference, &to, priority_of(prio), decode)
            }
            Enp::RequestAlias { from, prio, reference, alias } => {
                let to = To::Alias(crate::message::Alias(crate::message::Ref {
                    node: self.name,
                    creation: self.creation,
                    id: alias,
                }));
                self.deliver_request(peer, from, reference, &to, priority_of(prio), decode)
            }
            Enp::MessageResponse { to, reference, .. } => {
                peer.call_answered(reference[0]);
                let outcome = decode();
                self.complete_remote_call(local(to), reference, outcome.map_err(Error::Remote));
                Ok(())
            }
            Enp::MessageResponseError { to, reference, code, .. } => {
                peer.call_answered(reference[0]);
                let error = match ResponseCode::from(code) {
                    ResponseCode::UnknownProcess => Error::ProcessUnknown,
                    ResponseCode::MailboxFull => Error::MailboxFull,
                    ResponseCode::ProcessTerminated => Error::Terminated,
                    _ => {
                        let mut dec = Decoder::new(frame.payload, net.registry()).with_caches(&peer.caches);
                        match dec.decode::<Option<ErrorValue>>() {
                            Ok(Some(e)) => error_from_text(peer.name, e.as_str()),
                            _ => Error::Remote(format!("response error code {code}")),
                        }
                    }
                };
                self.complete_remote_call(local(to), reference, Err(error));
                Ok(())
            }
            Enp::MessageAny => match super::spawn::deliver(self, peer, decode()?) {
                Some(other) => self.deliver_control(peer, other),
                None => Ok(()),
            },
            Enp::MessageExit { from, to, .. } => self.deliver_exit(peer, from, to, frame.payload),
            Enp::TerminatePid { target, .. } => {
                self.deliver_terminate(peer, NodeInner::peer_target_pid(peer, target), frame.payload)
            }
            Enp::TerminateName { name, .. } => {
                let name = std::str::from_utf8(name).map_err(|_| "a name is not UTF-8".to_string())?;
                self.deliver_terminate(peer, NodeInner::peer_target_name(peer, name), frame.payload)
            }
            Enp::TerminateNameCache { cache_id, .. } => {
                let name = cached(cache_id)?;
                self.deliver_terminate(peer, NodeInner::peer_target_name(peer, name.as_str()), frame.payload)
            }
            Enp::TerminateAlias { alias, .. } => {
                let target = crate::message::Target::Alias(crate::message::Alias(crate::message::Ref {
                    node: peer.name,
                    creation: peer.creation,
                    id: alias,
                }));
                self.deliver_terminate(peer, target, frame.payload)
            }
            Enp::MessageEvent { from, prio, timestamp, name } => {
                self.deliver_event(peer, from, prio, timestamp, name, frame.payload)
            }
            Enp::MessageEventCache { from, prio, timestamp, cache_id } => {
                let name = cached(cache_id)?;
                self.deliver_event(peer, from, prio, timestamp, name.as_bytes(), frame.payload)
            }
            Enp::TerminateEvent { name, .. } => {
                let name = name_of(name)?;
                let event = crate::message::Event { name, node: peer.name };
                self.deliver_terminate(peer, crate::message::Target::Event(event), frame.payload)
            }
            Enp::TerminateEventCache { cache_id, .. } => {
                let event = crate::message::Event { name: cached(cache_id)?, node: peer.name };
                self.deliver_terminate(peer, crate::message::Target::Event(event), frame.payload)
            }
            Enp::Unknown { opcode: HEARTBEAT } => Ok(()),
            other => Err(format!("opcode {} is not handled yet", other.opcode())),
        }
    }

    /// A message from the peer's `from` to `to`; an important one (prio bit 0x80) is
    /// acknowledged with its outcome (§3.5: `ack_from` is the target's id for a Pid, else 0).
    #[allow(clippy::too_many_arguments)]
    fn deliver_message(
        &self,
        peer: &Peer,
        from: u64,
        prio: Prio,
        impid: u64,
        to: &To,
        ack_from: u64,
        decode: impl FnOnce() -> Result<Message, String>,
        frame: &super::proto::Frame<'_>,
    ) -> Result<(), String> {
        let outcome = decode()
            .map_err(Error::Remote)
            .and_then(|m| self.deliver_remote(peer.pid(from), to, priority_of(prio), Payload::Message(m)));
        if prio.important() {
            let code = match &outcome {
                Ok(()) => ResponseCode::Ok,
                Err(Error::MailboxFull) => ResponseCode::MailboxFull,
                Err(Error::ProcessUnknown | Error::NameUnknown | Error::AliasUnknown) => ResponseCode::UnknownProcess,
                Err(_) => ResponseCode::Error,
            };
            let ack = super::proto::important_ack(ack_from, from, impid, prio.priority(), code);
            let text = outcome.as_ref().err().map(error_text);
            let sent = peer.push_frame(order::important_ack(), &ack, |b| match (&text, code) {
                (Some(t), ResponseCode::Error) => Encoder::new(b).encode(&Some(ErrorValue::new(t))),
                _ => Ok(()),
            });
            if let Err(e) = sent {
                tracing::debug!("network: cannot acknowledge an important message to {}: {e}", peer.name);
            }
        }
        outcome.map_err(|e| format!("to {}: {e}", frame_target(&frame.enp)))
    }

    fn deliver_remote(&self, from: Pid, to: &To, priority: Priority, payload: Payload) -> Result<(), Error> {
        let target = self.resolve(to)?;
        let envelope = NodeInner::addressed(to, &target, Envelope { from, payload });
        self.push(&target, priority, envelope)
    }

    fn deliver_request(
        &self,
        peer: &Peer,
        from: u64,
        reference: [u64; 3],
        to: &To,
        priority: Priority,
        decode: impl FnOnce() -> Result<Message, String>,
    ) -> Result<(), String> {
        let caller = crate::message::From { pid: peer.pid(from), ref_id: reference };
        let outcome = decode()
            .map_err(Error::Remote)
            .and_then(|req| self.deliver_remote(caller.pid, to, priority, Payload::request(&caller, req)));
        // Go answers a failed routing only for an important call; we always do, so the caller
        // learns at once instead of at its timeout (harmless to Go: it takes the first outcome).
        if let Err(e) = outcome {
            let me = match to {
                To::Pid(p) => *p,
                _ => self.core_pid(),
            };
            let text = format!("request to {to}: {e}");
            let _ = self.respond_remote(me, caller, Err(e));
            return Err(text);
        }
        Ok(())
    }

    fn complete_remote_call(&self, caller: Pid, reference: [u64; 3], outcome: Result<Message, Error>) {
        let [n, 0, 0] = reference else { return };
        let _ = self.respond(crate::message::From { pid: caller, ref_id: [n, 0, 0] }, outcome);
    }
}

/// Starts the network of a node whose options enable it: binds the acceptor (scanning upward
/// from a busy port, as Go does) and spawns the network process.
pub(crate) fn start(node: &crate::node::NodeHandle) -> Result<(), crate::error::StartError> {
    let Some(net) = node.inner.net.clone() else { return Ok(()) };
    let tls = super::tls::LinkTls::load(&net.options.tls)?;
    let tls_acceptor = tls.server.is_some();
    let _ = net.tls.set(tls);
    let mut addr = net.options.listen;
    let listener = loop {
        match crate::io::net::TcpListener::bind(addr) {
            Ok(l) => break l,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && addr.port() != 0 => {
                if addr.port() >= net.options.port_range_end {
                    let text = format!(
                        "no free port for the acceptor from {} to {} (ERGORS_NET_LISTEN, ERGORS_NET_PORT_RANGE)",
                        net.options.listen,
                        net.options.port_range_end.max(net.options.listen.port())
                    );
                    return Err(crate::error::StartError::Io(std::io::Error::new(e.kind(), text)));
                }
                addr.set_port(addr.port() + 1);
            }
            Err(e) => return Err(crate::error::StartError::Io(e)),
        }
    };
    let _ = net.local.set(listener.local_addr());
    net.spawn.set_node(node);
    let core = super::link::NetCore { net: net.clone(), listener: Some(listener) };
    let pid = node
        .spawn(core, crate::SpawnOptions::default())
        .map_err(|e| crate::error::StartError::Io(std::io::Error::other(format!("network process: {e}"))))?;
    let _ = net.core.set(pid);
    if net.options.registrar_port != 0 {
        use super::registrar::{Registrar, RegistrarError, RegistrarOptions};
        let options = RegistrarOptions { port: net.options.registrar_port, ..Default::default() };
        let registrar = Registrar::start(node, options);
        if net.options.mode == NetworkMode::Enabled {
            let route = super::edf::ergo_types::Route {
                host: String::new(),
                port: net.local.get().map_or(0, |a| a.port()),
                tls: tls_acceptor,
                handshake_version: super::handshake::Version::ehs(),
                proto_version: super::handshake::Version::enp(),
            };
            match registrar.register(vec![route]) {
                Ok(()) => {}
                // Another node of this name runs on this host: Go refuses to start too.
                Err(RegistrarError::Taken) => {
                    return Err(crate::error::StartError::Io(std::io::Error::new(
                        std::io::ErrorKind::AddrInUse,
                        format!("the registrar already has a node named {}", node.name()),
                    )));
                }
                Err(e) => {
                    node_log!(node.inner, WARN, "cannot register with the registrar: {e}; peers need a static route")
                }
            }
        }
        let _ = net.registrar.set(registrar);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Target;
    use crate::node::watch::Kind;

    fn peer(connection_id: &str, dialed_by_us: bool) -> Arc<Peer> {
        peer_with_atoms(connection_id, dialed_by_us, Default::default())
    }

    fn peer_with_atoms(
        connection_id: &str,
        dialed_by_us: bool,
        atoms: std::collections::BTreeMap<u16, String>,
    ) -> Arc<Peer> {
        let est = Established {
            peer: "other@localhost".into(),
            peer_version: Default::default(),
            peer_creation: 7,
            peer_flags: Default::default(),
            peer_max_message_size: 0,
            peer_atom_cache: atoms,
            peer_reg_cache: Default::default(),
            peer_err_cache: Default::default(),
            connection_id: connection_id.into(),
            pool_size: 1,
            pool_dsn: Vec::new(),
            tail: Vec::new(),
        };
        Arc::new(Peer::new(&est, dialed_by_us).expect("peer"))
    }

    fn take(link: &LinkOut) -> std::task::Poll<Option<Vec<u8>>> {
        let mut spare = Vec::new();
        link.poll_take(&mut spare, std::task::Waker::noop()).map(|r| r.map(|()| spare))
    }

    fn beat(peer: &Peer) -> Result<(), Error> {
        peer.push_frame(order::Route { link: 0, order: 0 }, &Enp::Unknown { opcode: HEARTBEAT }, |_| Ok(()))
    }

    #[test]
    fn a_displaced_connection_hands_its_relations_over_and_writes_what_it_had_queued() {
        let (old, new) = (peer("old", true), peer("new", false));
        let (old_link, new_link) = (Arc::new(LinkOut::new(old.name)), Arc::new(LinkOut::new(new.name)));
        old.add_link(old_link.clone());
        new.add_link(new_link.clone());
        let me = Pid { node: Atom::new("me@localhost"), id: 1000, creation: 1 };
        let (t1, t2) = (Target::Pid(old.pid(1001)), Target::Pid(old.pid(1002)));
        old.add_watcher(t1.clone(), me, Kind::Monitor);
        beat(&old).expect("queued on the old connection");

        old.hand_over_to(&new);
        assert!(old.retired());
        // Watched before and after the hand-over, the relations live on the new connection.
        old.add_watcher(t2.clone(), me, Kind::Link);
        assert!(old.take_all_watchers().is_empty());
        assert_eq!(new.take_watchers(&t1), vec![(me, Kind::Monitor)]);
        assert_eq!(old.take_watchers(&t2), vec![(me, Kind::Link)], "asked through the old one, answered by the new");
        // What was queued on the old link is still written, then its writer ends; frames sent
        // through the old connection now leave on the new one.
        assert!(matches!(take(&old_link), std::task::Poll::Ready(Some(b)) if !b.is_empty()));
        assert!(matches!(take(&old_link), std::task::Poll::Ready(None)));
        beat(&old).expect("forwarded");
        assert!(matches!(take(&new_link), std::task::Poll::Ready(Some(b)) if !b.is_empty()));
        assert!(matches!(old_link.push(|_| Ok(())), Err(Error::NoConnection(_))));
    }

    /// Forwards the strings it gets to a test thread.
    struct Inbox(std::sync::mpsc::Sender<String>);

    impl crate::Actor for Inbox {
        async fn handle_message(
            &mut self,
            _: &mut crate::Context,
            _: Pid,
            msg: Message,
        ) -> Result<(), crate::ExitReason> {
            if let Ok(s) = msg.downcast::<String>() {
                let _ = self.0.send(s);
            }
            Ok(())
        }
    }

    #[test]
    fn a_name_given_by_the_peers_atom_cache_reaches_its_process() {
        let net = NetworkOptions::enabled("c", "127.0.0.1:0".parse().unwrap()).registrar_port(0);
        let node = crate::Node::start("cached@localhost", crate::NodeOptions::default().workers(1).network(net))
            .expect("node");
        let (tx, rx) = std::sync::mpsc::channel();
        let inbox = node.spawn(Inbox(tx), crate::SpawnOptions::default()).expect("inbox");
        node.register_name("inbox", inbox).expect("named");
        // The peer announced atom 300 = "inbox" in its handshake; 103 names the target by it.
        let peer = peer_with_atoms("c1", false, [(300, "inbox".to_string())].into());
        let enp = Enp::MessageNameCache { from: 5, prio: Prio::new(0, false), impid: 0, cache_id: 300 };
        let mut bytes = Vec::new();
        FrameWriter::new(0)
            .write(&mut bytes, 0, &enp, |b| Encoder::new(b).encode(&"by cache".to_string()))
            .expect("built");
        let frame = super::super::proto::Frame::parse(&bytes).expect("parsed");
        node.inner.deliver_frame(&peer, &frame).expect("delivered");
        assert_eq!(rx.recv_timeout(Duration::from_secs(20)).expect("arrived"), "by cache");
        // An id the peer never announced spoils that frame only.
        let enp = Enp::MessageNameCache { from: 5, prio: Prio::new(0, false), impid: 0, cache_id: 301 };
        let mut bytes = Vec::new();
        FrameWriter::new(0).write(&mut bytes, 0, &enp, |b| Encoder::new(b).encode(&"lost".to_string())).expect("built");
        let frame = super::super::proto::Frame::parse(&bytes).expect("parsed");
        assert!(node.inner.deliver_frame(&peer, &frame).is_err());
        node.stop();
    }
}
