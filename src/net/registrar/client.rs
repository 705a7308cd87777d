//! The registrar client on the rings: the meta that keeps a node's registration (its TCP
//! connection to the server; on loss, a retry every interval, taking the server over when the
//! port is free, as Go's client does), and resolving over UDP.
//!
//! The keeper's loop and the async resolve run on workers and never block them; the blocking
//! resolve is for plain threads only.

use super::RegistrarError;
use super::core::{read_register_reply, read_resolve_reply, register_packet, resolve_packet};
use super::handle::Inner;
use crate::act::context::Context;
use crate::io::net::{TcpStream, UdpSocket};
use crate::message::ExitReason;
use crate::meta::{Meta, MetaContext};
use crate::net::edf::ergo_types::Route;
use crate::runtime::race::{Either, race};
use crate::runtime::timer::Sleep;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Level;

/// How long dialling the local registrar may take (Go's dialer keeps a 3 s keep-alive and no
/// deadline; on loopback a connect is answered at once, this only bounds a wedged one).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Go's `defaultKeepAlive` on the registration connection.
const KEEP_ALIVE: Duration = Duration::from_secs(3);
/// The largest reply read (Go reads replies into 4096 bytes).
const REPLY_MAX: usize = 4096;

/// Dials `localhost:port`, sends the Register packet in one write and reads the reply once
/// under the deadline (Go's `tryRegister`, client half). The connection is the registration.
pub(crate) async fn dial_register(inner: &Inner, routes: &[Route]) -> Result<TcpStream, RegistrarError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, inner.options.port));
    let packet = register_packet(inner.node.name().as_str(), routes)?;
    let mut stream = match race(std::pin::pin!(TcpStream::connect(addr)), Sleep::new(CONNECT_TIMEOUT)).await {
        Either::Left(connected) => connected?,
        Either::Right(()) => return Err(RegistrarError::Timeout(addr)),
    };
    // Best effort: a registration that outlives a dead server's host is noticed sooner.
    let keepalive = socket2::TcpKeepalive::new().with_time(KEEP_ALIVE).with_interval(KEEP_ALIVE);
    let _ = stream.socket().set_tcp_keepalive(&keepalive);
    stream.write_all(packet).await?;
    let mut reply = Vec::with_capacity(REPLY_MAX);
    match race(std::pin::pin!(stream.read(&mut reply)), Sleep::new(inner.options.register_timeout)).await {
        Either::Left(Ok(0)) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
        Either::Left(Ok(_)) => {}
        Either::Left(Err(e)) => return Err(e.into()),
        Either::Right(()) => return Err(RegistrarError::Timeout(addr)),
    }
    reply.truncate(REPLY_MAX);
    match read_register_reply(&reply)? {
        None => Ok(stream),
        Some(refused) => Err(RegistrarError::from_text(refused.as_str())),
    }
}

/// Reads and drops what arrives until the connection ends (the server sends nothing after its
/// reply; Go's client does the same).
async fn drain(stream: &mut TcpStream) {
    let mut buf = Vec::with_capacity(64);
    loop {
        buf.clear();
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The meta that holds a node's registration with another process's server: its `init` makes
/// the first registration (so `Registrar::register` fails with the server's answer), its loop
/// keeps the connection and, when it closes, registers again every `retry_interval`, becoming
/// the server itself when the port is free (then it ends: the registration is in memory).
pub(crate) struct Keeper {
    pub(crate) inner: Arc<Inner>,
    pub(crate) routes: Vec<Route>,
    pub(crate) stream: Option<TcpStream>,
}

impl Meta for Keeper {
    async fn init(&mut self, _ctx: &mut Context) -> Result<(), ExitReason> {
        let stream = dial_register(&self.inner, &self.routes).await.map_err(ExitReason::custom)?;
        self.stream = Some(stream);
        Ok(())
    }

    fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
        let (inner, routes, stream) = (self.inner.clone(), self.routes.clone(), self.stream.take());
        async move {
            let mut stream = stream;
            loop {
                if let Some(mut s) = stream.take() {
                    drain(&mut s).await;
                    ctx.log(Level::WARN, "lost connection with the registrar");
                }
                loop {
                    if inner.is_stopped() {
                        return Ok(());
                    }
                    match inner.try_serve(&routes) {
                        Ok(true) => {
                            ctx.log(Level::INFO, "registered on the local registrar (this node hosts it now)");
                            return Ok(());
                        }
                        Ok(false) => {}
                        Err(e) => ctx.log(Level::WARN, format_args!("registrar server not started: {e}")),
                    }
                    match dial_register(&inner, &routes).await {
                        Ok(s) => {
                            ctx.log(Level::INFO, "registered on the registrar");
                            stream = Some(s);
                            break;
                        }
                        Err(e) => {
                            ctx.log(Level::WARN, format_args!("unable to register on the registrar: {e}"));
                            ctx.sleep(inner.options.retry_interval).await;
                        }
                    }
                }
            }
        }
    }
}

/// The registrar's address for `host`: literal addresses and `localhost` at once, other names
/// through the system's resolver (blocking: the async resolve runs it on the blocking pool).
fn literal_addr(host: &str, port: u16) -> Option<SocketAddr> {
    if host.eq_ignore_ascii_case("localhost") {
        return Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, port))
}

fn lookup(host: &str, port: u16) -> Result<SocketAddr, RegistrarError> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    // IPv4 first, as Go's dialer does for a name with both.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no address for {host}")).into())
}

fn unspecified_for(addr: &SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    }
}

fn answer(bytes: &[u8]) -> Result<Vec<Route>, RegistrarError> {
    read_resolve_reply(bytes)?.map_err(|e| RegistrarError::from_text(e.as_str()))
}

/// Resolves `name` with the registrar of `host` over UDP on the ring: one datagram, one reply
/// within the timeout (no retry, as Go). Datagrams from any other address are ignored.
pub(crate) async fn resolve_udp(inner: &Inner, name: &str, host: &str) -> Result<Vec<Route>, RegistrarError> {
    let port = inner.options.port;
    let addr = match literal_addr(host, port) {
        Some(addr) => addr,
        None => {
            let host = host.to_owned();
            inner.node.spawn_blocking(move || lookup(&host, port)).await.map_err(RegistrarError::Node)??
        }
    };
    let packet = resolve_packet(name)?;
    let socket = UdpSocket::bind(unspecified_for(&addr))?;
    let mut timer = pin!(Sleep::new(inner.options.resolve_timeout));
    socket.send_to(packet, addr).await?;
    let mut buf = vec![0; REPLY_MAX];
    loop {
        buf.resize(REPLY_MAX, 0);
        match race(std::pin::pin!(socket.recv_from(buf)), timer.as_mut()).await {
            Either::Right(()) => return Err(RegistrarError::Timeout(addr)),
            Either::Left(Err(e)) => return Err(e.into()),
            Either::Left(Ok((data, from))) if from == addr => return answer(&data),
            Either::Left(Ok((data, _))) => buf = data,
        }
    }
}

/// As [`resolve_udp`], on a plain thread with std's socket.
pub(crate) fn resolve_udp_blocking(inner: &Inner, name: &str, host: &str) -> Result<Vec<Route>, RegistrarError> {
    let port = inner.options.port;
    let addr = match literal_addr(host, port) {
        Some(addr) => addr,
        None => lookup(host, port)?,
    };
    let packet = resolve_packet(name)?;
    let socket = std::net::UdpSocket::bind(unspecified_for(&addr))?;
    // Connected: the kernel drops datagrams from any other address.
    socket.connect(addr)?;
    socket.send(&packet)?;
    let deadline = Instant::now() + inner.options.resolve_timeout;
    let mut buf = vec![0; REPLY_MAX];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RegistrarError::Timeout(addr));
        }
        socket.set_read_timeout(Some(left))?;
        match socket.recv(&mut buf) {
            Ok(n) => return answer(&buf[..n]),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(RegistrarError::Timeout(addr));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}
