//! The registrar server on the rings: a root process and, under it, a TCP accept meta (one
//! connection meta per registering node), and a UDP meta answering resolves. The table is
//! shared with the [`Registrar`](super::Registrar) handle, which registers the hosting node in
//! memory and answers resolves of its own host without a packet.
//!
//! Everything here runs on workers and never blocks: a slow or silent client costs its own
//! connection meta (bounded by the read deadline and the connection cap), garbage costs a log
//! record at debug level, and nothing received can make it panic.

use super::core::{Owner, RegisterOutcome, Table, serve_register, serve_resolve};
use crate::act::context::Context;
use crate::io::net::{TcpListener, TcpStream, UdpSocket};
use crate::message::ExitReason;
use crate::meta::{Meta, MetaContext, MetaOptions};
use crate::runtime::race::{Either, race};
use crate::{Actor, NodeHandle, Pid, SpawnOptions};
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tracing::Level;

/// How long a failed accept waits before the next (as the TCP meta: D114).
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// The server's state, shared by its metas and the registrar handle.
pub(crate) struct ServerShared {
    table: Mutex<Table>,
    connections: AtomicUsize,
    next_connection: AtomicU64,
    max_connections: usize,
    read_timeout: Duration,
    port: u16,
    root: Mutex<Option<Pid>>,
    /// False once the root has ended (stopped, the node stopping, or a meta failed).
    serving: AtomicBool,
}

impl ServerShared {
    /// The table (a poisoned lock is taken as is: the table's updates are single inserts and
    /// removals that leave it consistent).
    pub(crate) fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True while the server runs.
    pub(crate) fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    /// The port both sockets are bound to.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Live registration connections.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// Ends the server: its root process, and with it (D123) the metas and every connection,
    /// whose registrations go with them.
    pub(crate) fn stop(&self, node: &NodeHandle) {
        let root = self.root.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(pid) = root {
            // Unknown: it ended already (the node is stopping).
            let _ = node.send_exit(pid, ExitReason::Shutdown);
        }
    }

    /// Takes a connection slot, if the cap allows one.
    fn open_slot(self: &Arc<Self>) -> Option<Slot> {
        let taken = self
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max_connections).then_some(n + 1));
        taken.ok().map(|_| Slot(self.clone()))
    }
}

/// A connection slot, given back when the connection meta is dropped (however it ends).
struct Slot(Arc<ServerShared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The server's limits and deadline.
#[derive(Clone, Debug)]
pub(crate) struct ServerLimits {
    pub(crate) max_registrations: usize,
    pub(crate) max_connections: usize,
    pub(crate) read_timeout: Duration,
}

/// The server's two sockets, bound, not yet served.
pub(crate) struct Bound {
    tcp: TcpListener,
    udp: UdpSocket,
}

impl Bound {
    /// Binds TCP `127.0.0.1:port` and UDP `[::]:port` (all interfaces, both families; `0.0.0.0`
    /// where IPv6 is missing), as Go's `localhost:PORT` and `:PORT`. Port 0 picks a free port
    /// for both (tests). Either failing fails both: the caller is then a client.
    ///
    /// # Errors
    /// As `bind(2)` (`AddrInUse`: another process is the registrar).
    pub(crate) fn bind(port: u16) -> io::Result<Bound> {
        if port != 0 {
            let tcp = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
            let udp = bind_udp(port)?;
            return Ok(Bound { tcp, udp });
        }
        // Both sockets need the same number: take TCP's and try it for UDP, a few times.
        let mut last = io::Error::from(io::ErrorKind::AddrInUse);
        for _ in 0..16 {
            let tcp = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
            match bind_udp(tcp.local_addr().port()) {
                Ok(udp) => return Ok(Bound { tcp, udp }),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The port bound.
    pub(crate) fn port(&self) -> u16 {
        self.tcp.local_addr().port()
    }

    /// Starts serving: a root process (the node's child) whose `init` spawns the accept and
    /// resolve metas. Does not wait for them (callable on a worker or a plain thread).
    ///
    /// # Errors
    /// [`crate::Error::NodeStopped`].
    pub(crate) fn serve(self, node: &NodeHandle, limits: &ServerLimits) -> Result<Arc<ServerShared>, crate::Error> {
        let shared = Arc::new(ServerShared {
            table: Mutex::new(Table::new(limits.max_registrations)),
            connections: AtomicUsize::new(0),
            next_connection: AtomicU64::new(1),
            max_connections: limits.max_connections,
            read_timeout: limits.read_timeout,
            port: self.port(),
            root: Mutex::new(None),
            serving: AtomicBool::new(true),
        });
        let root = ServerRoot { bound: Some(self), shared: shared.clone() };
        let pid = node.spawn(root, SpawnOptions::default())?;
        *shared.root.lock().unwrap_or_else(|p| p.into_inner()) = Some(pid);
        Ok(shared)
    }
}

fn bind_udp(port: u16) -> io::Result<UdpSocket> {
    match UdpSocket::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(e),
        // No IPv6 here (a kernel or container without it): IPv4 only.
        Err(_) => UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))),
    }
}

/// The parent of the server's metas: ending it ends them all (D123); it is linked to the
/// accept and resolve metas, so a server with a dead half ends whole.
struct ServerRoot {
    bound: Option<Bound>,
    shared: Arc<ServerShared>,
}

impl Actor for ServerRoot {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let Some(Bound { tcp, udp }) = self.bound.take() else {
            return Err(ExitReason::error("registrar server started twice"));
        };
        let accept = AcceptLoop { listener: Some(tcp), shared: self.shared.clone() };
        let accept = ctx.spawn_meta(accept, MetaOptions::default()).await.map_err(ExitReason::error)?;
        ctx.link(accept).map_err(ExitReason::error)?;
        let resolve = ResolveMeta { socket: Arc::new(udp), shared: self.shared.clone() };
        let resolve = ctx.spawn_meta(resolve, MetaOptions::default()).await.map_err(ExitReason::error)?;
        ctx.link(resolve).map_err(ExitReason::error)?;
        ctx.log(Level::DEBUG, format_args!("registrar server on tcp and udp port {}", self.shared.port));
        Ok(())
    }

    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        self.shared.serving.store(false, Ordering::Release);
        if !matches!(reason.bare(), ExitReason::Normal | ExitReason::Shutdown | ExitReason::Kill) {
            ctx.log(Level::ERROR, format_args!("registrar server ended: {reason}"));
        }
    }
}

/// Accepts registration connections; one connection meta each, up to the cap (beyond it a
/// connection is closed at once: its node sees EOF and retries, as after a server's loss).
struct AcceptLoop {
    listener: Option<TcpListener>,
    shared: Arc<ServerShared>,
}

impl Meta for AcceptLoop {
    fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
        let (listener, shared) = (self.listener.take(), self.shared.clone());
        async move {
            let mut listener = listener.ok_or_else(|| ExitReason::error("registrar accept loop started twice"))?;
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) if crate::io::net::accept_error_is_transient(&e) => {
                        ctx.log(Level::WARN, format_args!("registrar accept failed: {e}; retrying"));
                        ctx.sleep(ACCEPT_RETRY).await;
                        continue;
                    }
                    Err(e) => return Err(ExitReason::error(format_args!("registrar accept failed: {e}"))),
                };
                let Some(slot) = shared.open_slot() else {
                    ctx.log(Level::WARN, format_args!("registrar: connection from {peer} closed: connection cap"));
                    continue;
                };
                let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
                let conn = Connection { stream: Some(stream), shared: shared.clone(), id, _slot: slot };
                if let Err(e) = ctx.spawn_meta(conn, MetaOptions::default()) {
                    ctx.log(Level::WARN, format_args!("registrar: connection from {peer} not served: {e}"));
                }
            }
        }
    }

    fn handle_inspect(&mut self, _ctx: &mut Context, _from: Pid, _items: &[String]) -> Vec<(String, String)> {
        vec![
            ("port".into(), self.shared.port.to_string()),
            ("registered".into(), self.shared.table().len().to_string()),
            ("connections".into(), self.shared.connections().to_string()),
        ]
    }
}

/// One registration connection: the first read (under the deadline) must be a Register; if it
/// is accepted the registration lasts until the connection closes, and what the node sends
/// after it is read and dropped.
struct Connection {
    stream: Option<TcpStream>,
    shared: Arc<ServerShared>,
    id: u64,
    _slot: Slot,
}

/// Removes a registration when the connection's loop ends or is dropped (the meta ended).
struct Unregister {
    shared: Arc<ServerShared>,
    node: String,
    owner: Owner,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        self.shared.table().unregister(&self.node, self.owner);
    }
}

impl Meta for Connection {
    fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
        let (stream, shared, owner) = (self.stream.take(), self.shared.clone(), Owner::Connection(self.id));
        async move {
            let Some(mut stream) = stream else { return Ok(()) };
            let peer = stream.peer_addr().map_or_else(|_| "?".to_string(), |a| a.to_string());
            let mut buf = Vec::with_capacity(super::core::REGISTER_READ_MAX);
            let first = race(std::pin::pin!(stream.read(&mut buf)), ctx.sleep(shared.read_timeout)).await;
            match first {
                Either::Left(Ok(n)) if n > 0 => {}
                Either::Left(Ok(_)) => return Ok(()),
                Either::Left(Err(e)) => {
                    ctx.log(Level::DEBUG, format_args!("registrar: read from {peer} failed: {e}"));
                    return Ok(());
                }
                Either::Right(()) => {
                    ctx.log(Level::DEBUG, format_args!("registrar: no registration from {peer} in time"));
                    return Ok(());
                }
            }
            let outcome = serve_register(&mut shared.table(), &buf, owner);
            let (node, reply) = match outcome {
                Ok(RegisterOutcome::Registered { node, reply }) => (node, reply),
                Ok(RegisterOutcome::Refused { refusal, reply }) => {
                    ctx.log(Level::DEBUG, format_args!("registrar: registration from {peer} refused: {refusal}"));
                    // Closed right after the reply, whether it was written or not.
                    let _ = stream.write_all(reply).await;
                    return Ok(());
                }
                Err(e) => {
                    ctx.log(Level::DEBUG, format_args!("registrar: malformed registration from {peer}: {e}"));
                    return Ok(());
                }
            };
            let registration = Unregister { shared: shared.clone(), node, owner };
            if stream.write_all(reply).await.is_err() {
                return Ok(());
            }
            let mut warned = false;
            loop {
                buf.clear();
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return Ok(()),
                    Ok(n) if !warned => {
                        warned = true;
                        ctx.log(
                            Level::WARN,
                            format_args!(
                                "registrar: {} sent {n} bytes on its registration; ignored",
                                registration.node
                            ),
                        );
                    }
                    Ok(_) => {}
                }
            }
        }
    }
}

/// Answers resolve datagrams; garbage is dropped (logged at debug level).
struct ResolveMeta {
    socket: Arc<UdpSocket>,
    shared: Arc<ServerShared>,
}

impl Meta for ResolveMeta {
    fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
        let (socket, shared) = (self.socket.clone(), self.shared.clone());
        async move {
            let mut buf = vec![0; super::core::RESOLVE_READ_MAX];
            loop {
                buf.resize(super::core::RESOLVE_READ_MAX, 0);
                let (data, peer) = match socket.recv_from(buf).await {
                    Ok(got) => got,
                    Err(e) => {
                        // A receive error concerns one datagram; pause so a lasting one cannot spin.
                        ctx.log(Level::DEBUG, format_args!("registrar: UDP receive failed: {e}"));
                        ctx.sleep(ACCEPT_RETRY).await;
                        buf = Vec::new();
                        continue;
                    }
                };
                let reply = serve_resolve(&shared.table(), &data);
                buf = data;
                match reply {
                    Ok(reply) => {
                        if let Err(e) = socket.send_to(reply, peer).await {
                            ctx.log(Level::DEBUG, format_args!("registrar: resolve reply to {peer} failed: {e}"));
                        }
                    }
                    Err(e) => ctx.log(Level::DEBUG, format_args!("registrar: datagram from {peer} dropped: {e}")),
                }
            }
        }
    }

    fn handle_inspect(&mut self, _ctx: &mut Context, _from: Pid, _items: &[String]) -> Vec<(String, String)> {
        vec![("udp".into(), self.socket.local_addr().to_string())]
    }
}
