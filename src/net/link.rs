//! One TCP link of a connection to another node, as a meta process: its loop dials (or was
//! accepted), runs the handshake (EHS) on the ring, then reads frames and delivers them while
//! a writer sends what local processes queued for that peer ([`super::network`]).
//!
//! The link ends when its socket fails or closes, when a frame breaks the stream, or with the
//! node; the last link of a peer takes the peer with it.

use super::edf::EdfError;
use super::handshake::{
    Acceptor, CertFingerprint, Dialer, Established, FrameReader, HandshakeError, HandshakeMessage, Progress,
    write_frame,
};
use super::network::{Inserted, LinkOut, Network, Peer};
use super::proto::{Frame, FrameSplitter};
use crate::act::context::Context;
use crate::io::net::{TcpReader, TcpStream, TcpWriter};
use crate::io::tls::{TlsReader, TlsStream, TlsWriter};
use crate::message::{ExitReason, Pid};
use crate::meta::{Meta, MetaContext};
use crate::node::NodeHandle;
use crate::runtime::race::{Either, race};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::Level;

/// How a link comes to be.
pub(crate) enum Stage {
    /// Accepted by our acceptor: we answer the handshake (a main one, or a join).
    Accepted(TcpStream, SocketAddr),
    /// We dial `node` at `addr`, over TLS checking the name given when `Some`.
    Dial(String, SocketAddr, Option<String>),
    /// We add a link to our connection `connection_id` with `node`, dialling `addr` (one of the
    /// pool addresses its acceptor gave), over TLS as the connection's first link.
    Join { node: String, connection_id: String, addr: SocketAddr, tls: Option<String> },
}

/// A link's socket: plain TCP, or TLS over it (rustls over the same ring I/O). Plain links pay
/// one match per read or write for the choice, nothing else.
enum LinkStream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl LinkStream {
    async fn read(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        match self {
            LinkStream::Plain(s) => s.read(buf).await,
            LinkStream::Tls(s) => s.read(buf).await,
        }
    }

    async fn write_all(&self, buf: Vec<u8>) -> std::io::Result<Vec<u8>> {
        match self {
            LinkStream::Plain(s) => s.write_all(buf).await,
            LinkStream::Tls(s) => s.write_all(buf).await,
        }
    }

    /// The fingerprint of the peer's TLS certificate (`None` on plain links), which the
    /// handshake's `DigestCert` must match.
    fn peer_cert(&self) -> Option<CertFingerprint> {
        match self {
            LinkStream::Plain(_) => None,
            LinkStream::Tls(s) => s.peer_certificate().map(|der| CertFingerprint::of_der(&der)),
        }
    }

    fn into_split(self) -> (LinkReader, LinkWriter) {
        match self {
            LinkStream::Plain(s) => {
                let (r, w) = s.into_split();
                (LinkReader::Plain(r), LinkWriter::Plain(w))
            }
            LinkStream::Tls(s) => {
                let (r, w) = s.into_split();
                (LinkReader::Tls(r), LinkWriter::Tls(w))
            }
        }
    }
}

enum LinkReader {
    Plain(TcpReader),
    Tls(TlsReader),
}

impl LinkReader {
    async fn read(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        match self {
            LinkReader::Plain(r) => r.read(buf).await,
            LinkReader::Tls(r) => r.read(buf).await,
        }
    }
}

enum LinkWriter {
    Plain(TcpWriter),
    Tls(TlsWriter),
}

impl LinkWriter {
    /// Ends our side of the stream (the peer's reads then end), keeping it open for reading.
    async fn shutdown(&self) {
        match self {
            LinkWriter::Plain(w) => drop(w.shutdown(std::net::Shutdown::Write)),
            LinkWriter::Tls(w) => drop(w.close_notify().await),
        }
    }

    /// Writes `buf`, large batches of a plain link with a zero-copy send (TLS encrypts into
    /// records of its own, so it has nothing to gain from one).
    async fn write_all(&self, buf: Vec<u8>, zc_threshold: usize) -> std::io::Result<Vec<u8>> {
        match self {
            LinkWriter::Plain(w) if zc_threshold > 0 && buf.len() >= zc_threshold => w.write_all_zc(buf).await,
            LinkWriter::Plain(w) => w.write_all(buf).await,
            LinkWriter::Tls(w) => w.write_all(buf).await,
        }
    }
}

/// How a handshake ended well.
enum Handshaked {
    /// A new connection.
    Main(Box<Established>),
    /// One more link of an existing connection (found by the acceptor; the dialer knows which
    /// it joined), and the first ENP bytes.
    Joined(Option<Arc<Peer>>, Vec<u8>),
}

/// A link's meta process.
pub(crate) struct Link {
    pub(crate) stage: Option<Stage>,
    pub(crate) net: Arc<Network>,
}

impl Meta for Link {
    fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
        let stage = self.stage.take();
        let net = self.net.clone();
        async move {
            let stage = stage.ok_or_else(|| ExitReason::error("link started twice"))?;
            match run(&ctx, &net, stage).await {
                Ok(()) => Ok(()),
                Err(why) => {
                    ctx.log(Level::INFO, format_args!("network link closed: {why}"));
                    Ok(())
                }
            }
        }
    }

    fn handle_inspect(&mut self, _ctx: &mut Context, _from: Pid, _items: &[String]) -> Vec<(String, String)> {
        vec![("peers".into(), self.net.peer_names().iter().map(|a| a.as_str()).collect::<Vec<_>>().join(","))]
    }
}

async fn dial(
    ctx: &MetaContext,
    net: &Network,
    node: &str,
    addr: SocketAddr,
    tls: Option<String>,
) -> Result<(LinkStream, Established), String> {
    let mut stream = connect(ctx, net, node, addr, tls).await?;
    let dialer = Dialer::connect(net.config.clone(), node, stream.peer_cert(), Instant::now())
        .map_err(|e| format!("handshake with {node}: {e}"))?;
    match handshake(ctx, net, &mut stream, Machine::Dialer(dialer)).await? {
        Handshaked::Main(est) => Ok((stream, *est)),
        Handshaked::Joined(..) => Err(format!("{node} answered our handshake as a join")),
    }
}

/// Dials one more link of the connection with `node` and joins it.
async fn join(
    ctx: &MetaContext,
    net: &Network,
    node: &str,
    connection_id: &str,
    addr: SocketAddr,
    tls: Option<String>,
) -> Result<(LinkStream, Arc<Peer>, Vec<u8>), String> {
    let mut stream = connect(ctx, net, node, addr, tls).await?;
    let dialer = Dialer::join(net.config.clone(), connection_id, stream.peer_cert(), Instant::now())
        .map_err(|e| format!("join {node}: {e}"))?;
    match handshake(ctx, net, &mut stream, Machine::Dialer(dialer)).await? {
        Handshaked::Joined(_, tail) => {
            let atom = crate::message::Atom::try_new(node).map_err(|e| e.to_string())?;
            let peer = net.peer(atom).filter(|p| p.connection_id == connection_id);
            let peer = peer.ok_or_else(|| format!("the connection with {node} ended before its join"))?;
            Ok((stream, peer, tail))
        }
        Handshaked::Main(_) => Err(format!("{node} answered our join as a new connection")),
    }
}

async fn run(ctx: &MetaContext, net: &Arc<Network>, stage: Stage) -> Result<(), String> {
    let dialed = matches!(stage, Stage::Dial(..));
    let (stream, est) = match stage {
        Stage::Dial(node, addr, tls) => match dial(ctx, net, &node, addr, tls.clone()).await {
            Ok((stream, est)) => {
                open_pool(ctx, net, &node, &est, tls);
                (stream, est)
            }
            Err(e) => {
                if e == CLOSED_IN_HANDSHAKE && net.config.name.as_str() > node.as_str() {
                    // The peer closed on us mid-handshake: it may have refused our dial because
                    // its own dial to us wins the tie-break (D206). The sends waiting here take
                    // that connection when it comes, within a moment (D226).
                    ctx.sleep(TIE_BREAK_GRACE).await;
                }
                net.dial_failed(&ctx.node().inner, &node);
                return Err(e);
            }
        },
        Stage::Join { node, connection_id, addr, tls } => {
            let (stream, peer, tail) = join(ctx, net, &node, &connection_id, addr, tls).await?;
            return serve(ctx, net, stream, peer, tail).await;
        }
        Stage::Accepted(stream, local) => {
            configure(&stream);
            // An acceptor with a certificate serves TLS only, as Go's TLS listener: a plain
            // dialer's handshake fails there, before EHS.
            let (mut stream, local_cert) = match net.tls.get().and_then(|t| t.server.clone()) {
                Some((config, cert)) => {
                    match race(std::pin::pin!(TlsStream::accept(stream, config)), ctx.sleep(CONNECT_TIMEOUT)).await {
                        Either::Left(Ok(tls)) => (LinkStream::Tls(Box::new(tls)), Some(cert)),
                        Either::Left(Err(e)) => return Err(format!("TLS handshake with a dialer: {e}")),
                        Either::Right(()) => return Err("a dialer did not finish its TLS handshake in time".into()),
                    }
                }
                None => (LinkStream::Plain(stream), None),
            };
            let acceptor = Acceptor::new(net.config.clone(), local.to_string(), local_cert, Instant::now());
            match handshake(ctx, net, &mut stream, Machine::Acceptor(acceptor)).await? {
                Handshaked::Main(est) => (stream, *est),
                Handshaked::Joined(Some(peer), tail) => return serve(ctx, net, stream, peer, tail).await,
                Handshaked::Joined(None, _) => return Err("an accepted join names no connection".into()),
            }
        }
    };
    let peer = Arc::new(Peer::new(&est, dialed).map_err(|e| format!("handshake with {}: {e}", est.peer))?);
    let peer = match net.insert_peer(peer) {
        Inserted::Fresh(peer) => peer,
        Inserted::Replaced { new, old } => {
            // The displaced connection hands what it carried over to this one and drains:
            // what is queued on it is written and what the peer still sends on it is read
            // (D226).
            old.hand_over_to(&new);
            new
        }
        Inserted::Existing(peer) => {
            // This link closes before carrying anything; sends waiting for a connection
            // take the one that stays.
            net.flush_dialing(&ctx.node().inner, peer.name);
            return Err(format!("already connected to {}", peer.name));
        }
    };
    ctx.log(Level::INFO, format_args!("connected to {} (creation {})", peer.name, peer.creation));
    serve(ctx, net, stream, peer, est.tail).await
}

/// Asks for the other links of a connection we dialled: `pool_size - 1` joins, over the pool
/// addresses the acceptor gave (Go's dialer does the same).
fn open_pool(ctx: &MetaContext, net: &Arc<Network>, node: &str, est: &Established, tls: Option<String>) {
    let addrs: Vec<SocketAddr> = est.pool_dsn.iter().filter_map(|a| a.parse().ok()).collect();
    if addrs.is_empty() {
        return;
    }
    for i in 1..est.pool_size.min(net.options.pool_size.max(1)) as usize {
        let stage = Stage::Join {
            node: node.to_string(),
            connection_id: est.connection_id.clone(),
            addr: addrs[i % addrs.len()],
            tls: tls.clone(),
        };
        let link = Link { stage: Some(stage), net: net.clone() };
        if let Err(e) = ctx.spawn_meta(link, crate::meta::MetaOptions::default()) {
            ctx.log(Level::WARN, format_args!("cannot open a pool link to {node}: {e}"));
        }
    }
}

/// Carries a handshaken link of `peer` until it ends: its reader delivers, its writer sends.
async fn serve(
    ctx: &MetaContext,
    net: &Arc<Network>,
    stream: LinkStream,
    peer: Arc<Peer>,
    tail: Vec<u8>,
) -> Result<(), String> {
    let out = Arc::new(LinkOut::new(peer.name));
    peer.add_link(out.clone());
    // However the link ends (even by the meta being killed mid-await), it leaves the peer, and
    // the last one takes the peer down.
    let _leave = Leave { net, node: ctx.node(), peer: &peer, out: &out };
    net.flush_dialing(&ctx.node().inner, peer.name);
    let (reader, writer) = stream.into_split();
    let node = ctx.node().clone();
    let heard = std::sync::atomic::AtomicU64::new(0);
    let mut reading = std::pin::pin!(read_loop(&node, &peer, reader, tail, &heard));
    let ended = {
        let writing = std::pin::pin!(write_loop(&out, &writer, net.options.zc_threshold));
        let io = race(reading.as_mut(), writing);
        match (peer.ticks, net.options.tick) {
            (true, tick) if !tick.is_zero() => {
                match race(std::pin::pin!(io), std::pin::pin!(tick_loop(ctx, &peer, &out, &heard, tick))).await {
                    Either::Left(e) => e,
                    Either::Right(e) => Either::Left(e),
                }
            }
            _ => io.await,
        }
    };
    match ended {
        Either::Right(Ok(())) if peer.retired() => {
            // Displaced by the other connection (D226): all that was queued here is written.
            // Say so, and read what the peer still sends here until it says the same.
            writer.shutdown().await;
            match race(reading.as_mut(), ctx.sleep(DRAIN_DEADLINE)).await {
                Either::Left(_) => Ok(()),
                Either::Right(()) => Err(format!("{} did not end its displaced connection", peer.name)),
            }
        }
        Either::Left(r) | Either::Right(r) => r,
    }
}

/// Takes a link off its peer when the link's loop ends; the last link takes the peer down: its
/// calls fail and its relations fire with `NoConnection`.
struct Leave<'a> {
    net: &'a Network,
    node: &'a NodeHandle,
    peer: &'a Arc<Peer>,
    out: &'a Arc<LinkOut>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let Leave { net, node, peer, out } = self;
        out.close();
        if peer.remove_link(out) {
            net.remove_peer(peer);
            peer.fail_calls(&node.inner);
            node.inner.peer_down(peer);
            if peer.retired() {
                tracing::debug!(node = %node.name(), "a displaced connection to {} is drained", peer.name);
            } else {
                tracing::info!(node = %node.name(), "disconnected from {}", peer.name);
            }
        }
    }
}

/// How a handshake fails when the peer closes the connection (as a refused dial does).
const CLOSED_IN_HANDSHAKE: &str = "the peer closed the connection during the handshake";

/// How long a node whose dial may have lost the tie-break keeps the sends waiting for that dial,
/// for the winning connection from the other side (D226).
const TIE_BREAK_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a displaced connection may take to drain (D226).
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

/// How long a TCP connect to a peer may take (Go's 3 s): a blackholed address fails the dial,
/// and the sends waiting for it, instead of holding them until the kernel gives up.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Connects to `node` at `addr` within [`CONNECT_TIMEOUT`], configured as every link is, then
/// runs TLS over it (checking the certificate for the name in `tls`) within as long again.
async fn connect(
    ctx: &MetaContext,
    net: &Network,
    node: &str,
    addr: SocketAddr,
    tls: Option<String>,
) -> Result<LinkStream, String> {
    let connecting = race(std::pin::pin!(TcpStream::connect(addr)), ctx.sleep(CONNECT_TIMEOUT)).await;
    let stream = match connecting {
        Either::Left(Ok(stream)) => stream,
        Either::Left(Err(e)) => return Err(format!("dial {node} at {addr}: {e}")),
        Either::Right(()) => return Err(format!("dial {node} at {addr}: no answer within {CONNECT_TIMEOUT:?}")),
    };
    configure(&stream);
    let Some(name) = tls else { return Ok(LinkStream::Plain(stream)) };
    let config = net.tls.get().map(|t| t.client.clone()).ok_or("the network's TLS is not set up")?;
    match race(std::pin::pin!(TlsStream::connect(stream, config, &name)), ctx.sleep(CONNECT_TIMEOUT)).await {
        Either::Left(Ok(tls)) => Ok(LinkStream::Tls(Box::new(tls))),
        Either::Left(Err(e)) => Err(format!("TLS with {node} at {addr}: {e}")),
        Either::Right(()) => Err(format!("TLS with {node} at {addr}: no handshake within {CONNECT_TIMEOUT:?}")),
    }
}

/// Every link: no Nagle delay (frames are batched already), and TCP keep-alive after 15 s idle
/// as Go sets it (the only liveness check towards Go peers, which have no heartbeat).
fn configure(stream: &TcpStream) {
    let _ = stream.socket().set_tcp_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new().with_time(std::time::Duration::from_secs(15));
    let _ = stream.socket().set_tcp_keepalive(&keepalive);
}

/// Reads frames until the stream ends or breaks, delivering each in arrival order.
/// Keeps an idle link to an ergors peer alive and notices a silent one: a heartbeat frame when
/// nothing else left in a tick; the link closes after three ticks without a byte from the peer.
async fn tick_loop(
    ctx: &MetaContext,
    peer: &Peer,
    out: &LinkOut,
    heard: &std::sync::atomic::AtomicU64,
    tick: std::time::Duration,
) -> Result<(), String> {
    let (mut seen, mut silent) = (heard.load(std::sync::atomic::Ordering::Relaxed), 0u32);
    loop {
        ctx.sleep(tick).await;
        let now = heard.load(std::sync::atomic::Ordering::Relaxed);
        if now == seen {
            silent += 1;
            if silent >= 3 {
                return Err(format!("{} was silent for three heartbeat ticks ({tick:?} each)", peer.name));
            }
        } else {
            (seen, silent) = (now, 0);
        }
        if !out.take_busy() {
            let beat = super::proto::Enp::Unknown { opcode: super::network::HEARTBEAT };
            let _ = out.push(|buf| {
                peer.writer
                    .write(buf, 0, &beat, |_| Ok::<(), EdfError>(()))
                    .map(drop)
                    .map_err(|e| crate::Error::Encode(e.to_string()))
            });
            out.take_busy();
        }
    }
}

async fn read_loop(
    node: &NodeHandle,
    peer: &Peer,
    mut reader: LinkReader,
    tail: Vec<u8>,
    heard: &std::sync::atomic::AtomicU64,
) -> Result<(), String> {
    let max = node.inner.net.as_ref().map_or(0, |n| n.options.max_message_size);
    let mut splitter = FrameSplitter::with_tail(max, &tail);
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        while let Some(bytes) = splitter.next_frame().map_err(|e| format!("from {}: {e}", peer.name))? {
            match Frame::parse(bytes) {
                Ok(frame) => {
                    if let Err(e) = node.inner.deliver_frame(peer, &frame) {
                        tracing::debug!("network: a frame from {} was dropped: {e}", peer.name);
                    }
                }
                Err(e) if e.closes_link() => return Err(format!("from {}: {e}", peer.name)),
                Err(e) => tracing::debug!("network: a frame from {} was dropped: {e}", peer.name),
            }
        }
        buf.clear();
        match reader.read(&mut buf).await {
            Ok(0) => return Err(format!("{} closed the connection", peer.name)),
            Ok(_) => {
                heard.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                splitter.extend(&buf);
            }
            Err(e) => return Err(format!("reading from {}: {e}", peer.name)),
        }
    }
}

/// Writes whatever senders queued, one write per batch, until the link closes.
async fn write_loop(out: &LinkOut, writer: &LinkWriter, zc_threshold: usize) -> Result<(), String> {
    let mut spare = Vec::new();
    loop {
        match std::future::poll_fn(|cx| out.poll_take(&mut spare, cx.waker())).await {
            None => return Ok(()),
            Some(()) => {
                spare = writer.write_all(spare, zc_threshold).await.map_err(|e| format!("writing: {e}"))?;
                spare.clear();
            }
        }
    }
}

/// The two roles of the handshake, driven alike.
enum Machine {
    Dialer(Dialer),
    Acceptor(Acceptor),
}

impl Machine {
    fn poll_transmit(&mut self) -> Option<HandshakeMessage> {
        match self {
            Machine::Dialer(m) => m.poll_transmit(),
            Machine::Acceptor(m) => m.poll_transmit(),
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Machine::Dialer(m) => m.poll_timeout(),
            Machine::Acceptor(m) => m.poll_timeout(),
        }
    }
    fn handle_timeout(&mut self, now: Instant) -> Result<(), HandshakeError> {
        match self {
            Machine::Dialer(m) => m.handle_timeout(now),
            Machine::Acceptor(m) => m.handle_timeout(now),
        }
    }
    fn handle_message(&mut self, now: Instant, msg: HandshakeMessage, rest: &[u8]) -> Result<Progress, HandshakeError> {
        match self {
            Machine::Dialer(m) => m.handle_message(now, msg, rest),
            Machine::Acceptor(m) => m.handle_message(now, msg, rest),
        }
    }
}

/// Runs a main handshake on `stream` to its end.
async fn handshake(
    ctx: &MetaContext,
    net: &Network,
    stream: &mut LinkStream,
    mut machine: Machine,
) -> Result<Handshaked, String> {
    let mut frames = FrameReader::new();
    let mut buf = Vec::with_capacity(4096);
    loop {
        let mut out = Vec::new();
        while let Some(msg) = machine.poll_transmit() {
            write_frame(&mut out, |b| msg.encode(b)).map_err(|e| format!("handshake: {e}"))?;
        }
        if !out.is_empty() {
            stream.write_all(out).await.map_err(|e| format!("handshake: {e}"))?;
        }
        // Every message is answered within its deadline, or the handshake fails.
        let deadline = machine.poll_timeout().unwrap_or_else(|| Instant::now() + net.config.timeout);
        let wait = deadline.saturating_duration_since(Instant::now());
        buf.clear();
        let read = race(std::pin::pin!(stream.read(&mut buf)), ctx.sleep(wait)).await;
        match read {
            Either::Left(Ok(0)) => return Err(CLOSED_IN_HANDSHAKE.into()),
            Either::Left(Ok(_)) => frames.extend(&buf),
            Either::Left(Err(e)) => return Err(format!("handshake: {e}")),
            Either::Right(()) => {
                machine.handle_timeout(Instant::now()).map_err(|e| format!("handshake: {e}"))?;
                continue;
            }
        }
        while let Some(payload) = frames.next_frame().map_err(|e| format!("handshake: {e}"))? {
            let msg = HandshakeMessage::decode(net.registry(), payload).map_err(|e| format!("handshake: {e}"))?;
            if let (Machine::Acceptor(_), HandshakeMessage::Introduce(intro)) = (&machine, &msg) {
                refuse_losing_dial(net, &intro.node)?;
            }
            let rest = frames.remaining().to_vec();
            let done =
                match machine.handle_message(Instant::now(), msg, &rest).map_err(|e| format!("handshake: {e}"))? {
                    Progress::Continue => continue,
                    Progress::Established(est) => Handshaked::Main(est),
                    // A dialer's join is over: the caller finds the connection it joined.
                    Progress::Joined(j) => Handshaked::Joined(None, j.tail),
                    Progress::JoinRequest(req) => {
                        let Machine::Acceptor(acceptor) = &mut machine else {
                            return Err("a join request reached a dialer".into());
                        };
                        let peer = crate::message::Atom::try_new(&req.peer)
                            .ok()
                            .and_then(|a| net.peer(a))
                            .filter(|p| p.connection_id == req.connection_id);
                        let Some(peer) = peer else {
                            acceptor.reject_join();
                            return Err(format!("a join from {} names no connection of ours", req.peer));
                        };
                        let joined = acceptor.accept_join(&mut peer.joins.lock().unwrap_or_else(|p| p.into_inner()));
                        let joined = joined.map_err(|e| format!("join from {}: {e}", req.peer))?;
                        Handshaked::Joined(Some(peer), joined.tail)
                    }
                };
            let mut out = Vec::new();
            while let Some(msg) = machine.poll_transmit() {
                write_frame(&mut out, |b| msg.encode(b)).map_err(|e| format!("handshake: {e}"))?;
            }
            if !out.is_empty() {
                stream.write_all(out).await.map_err(|e| format!("handshake: {e}"))?;
            }
            return Ok(done);
        }
    }
}

/// Both nodes dialled each other at once: the dial of the node whose name sorts first wins,
/// decided alike on both sides (D206). When ours wins, the acceptor refuses theirs as soon as
/// it knows who dials, before its `Accept`, so that the dialer never takes that connection for
/// established and sends nothing on it; the dialer keeps its waiting sends for our dial (D226).
fn refuse_losing_dial(net: &Network, dialer: &str) -> Result<(), String> {
    // Before the cookie is checked: the name is compared, never interned (an unauthenticated
    // peer must not grow the atom table).
    if net.config.name.as_str() < dialer && net.dialing_to_name(dialer) {
        return Err(format!("{dialer} dialled us while we dial it; our connection stays"));
    }
    Ok(())
}

/// The node's network process: it owns the acceptor (a meta) and dials on request; every link
/// is one of its metas, so all of them end with it (and it ends with the node).
pub(crate) struct NetCore {
    pub(crate) net: Arc<Network>,
    pub(crate) listener: Option<crate::io::net::TcpListener>,
}

/// Asks the network process to dial `node` at `addr` (`None`: where the registrar of its host
/// says).
pub(crate) struct Dial {
    pub(crate) node: String,
    pub(crate) addr: Option<SocketAddr>,
}

impl crate::act::Actor for NetCore {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        if let Some(listener) = self.listener.take() {
            let acceptor = NetAcceptor { listener: Some(listener), net: self.net.clone() };
            ctx.spawn_meta(acceptor, crate::meta::MetaOptions::default()).await.map_err(ExitReason::error)?;
        }
        Ok(())
    }

    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: crate::Message) -> Result<(), ExitReason> {
        if let Ok(dial) = msg.downcast::<Dial>() {
            let (addr, tls) = match dial.addr {
                Some(addr) => {
                    let tls = self.net.options.tls.static_routes.contains(&dial.node);
                    (addr, tls.then(|| super::tls::server_name("", &dial.node, addr)))
                }
                None => match resolve(ctx, &self.net, &dial.node).await {
                    Ok(found) => found,
                    Err(e) => {
                        ctx.log(Level::INFO, format_args!("cannot reach {}: {e}", dial.node));
                        self.net.dial_failed(&ctx.node().inner, &dial.node);
                        return Ok(());
                    }
                },
            };
            let link = Link { stage: Some(Stage::Dial(dial.node.clone(), addr, tls)), net: self.net.clone() };
            if let Err(e) = ctx.spawn_meta(link, crate::meta::MetaOptions::default()).await {
                ctx.log(Level::WARN, format_args!("cannot dial {}: {e}", dial.node));
                self.net.dial_failed(&ctx.node().inner, &dial.node);
            }
        }
        Ok(())
    }
}

/// Where `node` accepts connections, from the registrar of its host: its first route (as Go
/// takes), dialled at the route's host or, when empty (as Go registers), the host part of the
/// name; with the name to check its certificate for when the route is TLS.
async fn resolve(ctx: &mut Context, net: &Network, node: &str) -> Result<(SocketAddr, Option<String>), String> {
    let registrar = net.registrar.get().ok_or("no registrar and no static route")?;
    let routes = registrar.resolve(node).await.map_err(|e| e.to_string())?;
    let route = routes.into_iter().next().ok_or("the registrar knows no route to it")?;
    let host = if route.host.is_empty() { node.split_once('@').map_or("", |(_, h)| h).to_string() } else { route.host };
    let (port, tls) = (route.port, route.tls);
    let name = host.clone();
    // Name lookups may block (DNS): on the blocking pool.
    let found = ctx
        .spawn_blocking(move || std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).map(|mut a| a.next()))
        .await
        .map_err(|e| e.to_string())?;
    let addr = found.map_err(|e| e.to_string())?.ok_or_else(|| "its host has no address".to_string())?;
    Ok((addr, tls.then(|| super::tls::server_name(&name, node, addr))))
}

/// Accepts connections and starts a link for each.
struct NetAcceptor {
    listener: Option<crate::io::net::TcpListener>,
    net: Arc<Network>,
}

impl Meta for NetAcceptor {
    fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
        let listener = self.listener.take();
        let net = self.net.clone();
        async move {
            let mut listener = listener.ok_or_else(|| ExitReason::error("acceptor started twice"))?;
            let local = listener.local_addr();
            loop {
                match listener.accept().await {
                    Ok((stream, _peer)) => {
                        let link = Link { stage: Some(Stage::Accepted(stream, local)), net: net.clone() };
                        if let Err(e) = ctx.spawn_meta(link, crate::meta::MetaOptions::default()) {
                            ctx.log(Level::WARN, format_args!("cannot start a network link: {e}"));
                        }
                    }
                    Err(e) if crate::io::net::accept_error_is_transient(&e) => {
                        ctx.log(Level::WARN, format_args!("network accept failed: {e}; retrying"));
                        ctx.sleep(std::time::Duration::from_millis(10)).await;
                    }
                    Err(e) => return Err(ExitReason::error(format_args!("network accept failed: {e}"))),
                }
            }
        }
    }
}
