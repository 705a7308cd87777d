//! TCP as meta processes (Ergo's `meta.CreateTCPServer` / `meta.CreateTCPConnection`).
//!
//! A [`TcpServer`] meta accepts on the ring and starts one [`TcpConnection`] meta per client,
//! a sibling (its parent is the server's parent, as in Ergo, so connections outlive a stopped
//! listener until the parent ends). A connection tells its handler process
//! [`MessageTcpConnect`], then hands it what arrives as [`MessageTcp`] (one read, or one frame
//! when chunking is on), and [`MessageTcpDisconnect`] last; a [`MessageTcp`] (or a plain
//! `Vec<u8>`) sent to the connection's alias is written to the socket. The handler is the
//! parent, or one of a pool of processes taken in turn per connection (Ergo's `ProcessPool`).
//!
//! Flow control both ways: the reading loop sends with [`MetaContext::send_paced`], so a handler
//! that falls behind stops the reading (the peer is slowed by TCP's window) and memory stays
//! bounded; writes happen one message at a time in the connection's message half, so a peer
//! that stops reading stalls the writes, the connection's mailbox (bounded by
//! `write_queue`) fills, and senders get [`Error::MailboxFull`](crate::Error::MailboxFull).
//!
//! # Examples
//! ```no_run
//! use ergors::meta::tcp::{MessageTcp, TcpServer, TcpServerOptions};
//! use ergors::meta::MetaOptions;
//! use ergors::{Actor, Context, ExitReason, Message, Pid};
//!
//! /// Echoes every chunk back to the connection it came from.
//! struct Echo;
//! impl Actor for Echo {
//!     async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
//!         let server = TcpServer::bind(TcpServerOptions::new("127.0.0.1:7654".parse().unwrap()))
//!             .map_err(ExitReason::error)?;
//!         ctx.spawn_meta(server, MetaOptions::default()).await.map_err(ExitReason::error)?;
//!         Ok(())
//!     }
//!     async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
//!         if let Ok(m) = msg.downcast::<MessageTcp>() {
//!             let _ = ctx.send(m.id, MessageTcp { id: m.id, data: m.data });
//!         }
//!         Ok(())
//!     }
//! }
//! ```

use super::{Meta, MetaContext, MetaOptions};
use crate::act::context::Context;
use crate::codec::chunk::{ChunkOptions, ChunkOptionsError};
use crate::io::net::{TcpListener, TcpReader, TcpStream, TcpWriter};
use crate::io::tls::{ClientConfig, ServerConfig, TlsReader, TlsStream, TlsWriter};
use crate::message::{Alias, ExitReason, Message, Pid, To};
use crate::runtime::race::{Either, race};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tracing::Level;

/// A connection is up: the first message its handler gets (Ergo's `MessageTCPConnect`).
#[derive(Clone, Debug)]
pub struct MessageTcpConnect {
    /// The connection meta's alias: send [`MessageTcp`] to it to write.
    pub id: Alias,
    /// The peer's address.
    pub remote: SocketAddr,
    /// Our end's address.
    pub local: SocketAddr,
}

/// A connection ended: the last message its handler gets (Ergo's `MessageTCPDisconnect`).
#[derive(Clone, Debug)]
pub struct MessageTcpDisconnect {
    /// The connection meta's alias.
    pub id: Alias,
    /// `None` when the peer closed cleanly; otherwise why it ended (a read or write error, an
    /// over-long frame, a frame cut short, the meta ending for another reason).
    pub reason: Option<String>,
}

/// Bytes: from a connection to its handler (one read, or one whole frame with chunking), or to
/// a connection's alias to be written (Ergo's `MessageTCP`; `id` is ignored when writing).
#[derive(Clone, Debug)]
pub struct MessageTcp {
    /// The connection meta's alias.
    pub id: Alias,
    /// The bytes.
    pub data: Vec<u8>,
}

/// Why a TCP meta could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TcpError {
    /// The chunking options are invalid.
    #[error("invalid read_chunk options: {0}")]
    Chunk(#[from] ChunkOptionsError),
    /// Binding, listening or connecting failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What every connection of a server, or a client connection, is set up with.
#[derive(Clone)]
struct ConnOptions {
    read_chunk: ChunkOptions,
    keep_alive: Option<Duration>,
    nodelay: bool,
    recv_buffer: Option<usize>,
    send_buffer: Option<usize>,
    write_queue: usize,
    handshake_timeout: Duration,
}

impl Default for ConnOptions {
    fn default() -> Self {
        ConnOptions {
            read_chunk: ChunkOptions::default(),
            keep_alive: None,
            // As Go's net package: small writes leave at once.
            nodelay: true,
            recv_buffer: None,
            send_buffer: None,
            write_queue: DEFAULT_WRITE_QUEUE,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Messages a connection holds to write, by default, before senders get `MailboxFull`.
pub const DEFAULT_WRITE_QUEUE: usize = 1024;

macro_rules! conn_setters {
    () => {
        /// Splits the byte stream into frames before handing it to the handler (Ergo's
        /// `ReadChunk`): fixed length or a length header. Off by default: each read is one
        /// message.
        pub fn read_chunk(mut self, chunk: ChunkOptions) -> Self {
            self.conn.read_chunk = chunk;
            self
        }
        /// TCP keep-alive probes after this idle time (Ergo's `KeepAlivePeriod`; off by
        /// default).
        pub fn keep_alive(mut self, idle: Duration) -> Self {
            self.conn.keep_alive = Some(idle);
            self
        }
        /// `TCP_NODELAY` (default on, as Go's).
        pub fn nodelay(mut self, on: bool) -> Self {
            self.conn.nodelay = on;
            self
        }
        /// The kernel's receive buffer (`SO_RCVBUF`) per connection.
        pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
            self.conn.recv_buffer = Some(bytes);
            self
        }
        /// The kernel's send buffer (`SO_SNDBUF`) per connection.
        pub fn send_buffer_size(mut self, bytes: usize) -> Self {
            self.conn.send_buffer = Some(bytes);
            self
        }
        /// Messages a connection holds to write before senders get `MailboxFull` (its
        /// mailbox's capacity; default [`DEFAULT_WRITE_QUEUE`]).
        pub fn write_queue(mut self, messages: usize) -> Self {
            self.conn.write_queue = messages.max(1);
            self
        }
        /// How long a TLS handshake may take (default 10 s); a peer that stalls it is dropped.
        pub fn handshake_timeout(mut self, d: Duration) -> Self {
            self.conn.handshake_timeout = d;
            self
        }
    };
}

/// A TCP server's options (Ergo's `TCPServerOptions`).
#[derive(Clone)]
pub struct TcpServerOptions {
    addr: SocketAddr,
    backlog: i32,
    handlers: Vec<To>,
    tls: Option<Arc<ServerConfig>>,
    conn: ConnOptions,
}

impl TcpServerOptions {
    /// Listens on `addr` (port 0: any free port, see [`TcpServer::local_addr`]); connections
    /// go to the spawning process.
    pub fn new(addr: SocketAddr) -> Self {
        TcpServerOptions { addr, backlog: 1024, handlers: Vec::new(), tls: None, conn: ConnOptions::default() }
    }
    /// Hands connections to these processes in turn instead of the parent (Ergo's
    /// `ProcessPool`; names, aliases or Pids).
    pub fn handlers(mut self, handlers: impl IntoIterator<Item = impl Into<To>>) -> Self {
        self.handlers = handlers.into_iter().map(Into::into).collect();
        self
    }
    /// The listen backlog (default 1024).
    pub fn backlog(mut self, n: i32) -> Self {
        self.backlog = n;
        self
    }
    /// Serves TLS with this rustls configuration.
    pub fn tls(mut self, config: Arc<ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }
    conn_setters!();
}

/// A TCP client connection's options (Ergo's `TCPConnectionOptions`).
#[derive(Clone)]
pub struct TcpConnectionOptions {
    addr: SocketAddr,
    handler: Option<To>,
    tls: Option<(Arc<ClientConfig>, String)>,
    conn: ConnOptions,
}

impl TcpConnectionOptions {
    /// Connects to `addr`; what arrives goes to the spawning process.
    pub fn new(addr: SocketAddr) -> Self {
        TcpConnectionOptions { addr, handler: None, tls: None, conn: ConnOptions::default() }
    }
    /// Hands what arrives to this process instead of the parent (Ergo's `Process`).
    pub fn handler(mut self, to: impl Into<To>) -> Self {
        self.handler = Some(to.into());
        self
    }
    /// Speaks TLS with this rustls configuration, checking the server's certificate for
    /// `server_name`.
    pub fn tls(mut self, config: Arc<ClientConfig>, server_name: &str) -> Self {
        self.tls = Some((config, server_name.to_string()));
        self
    }
    conn_setters!();
}

fn configure(stream: &TcpStream, o: &ConnOptions) {
    let s = stream.socket();
    // Options are tuning: a refusal is logged, not fatal.
    let mut failed = Vec::new();
    if s.set_tcp_nodelay(o.nodelay).is_err() {
        failed.push("TCP_NODELAY");
    }
    if let Some(idle) = o.keep_alive {
        let ka = socket2::TcpKeepalive::new().with_time(idle).with_interval(idle);
        if s.set_tcp_keepalive(&ka).is_err() {
            failed.push("SO_KEEPALIVE");
        }
    }
    if let Some(n) = o.recv_buffer
        && s.set_recv_buffer_size(n).is_err()
    {
        failed.push("SO_RCVBUF");
    }
    if let Some(n) = o.send_buffer
        && s.set_send_buffer_size(n).is_err()
    {
        failed.push("SO_SNDBUF");
    }
    if !failed.is_empty() {
        tracing::debug!(options = ?failed, "TCP socket options refused");
    }
}

/// A TCP server meta: accepts connections and starts a [`TcpConnection`] meta for each.
pub struct TcpServer {
    listener: Option<TcpListener>,
    local: SocketAddr,
    options: TcpServerOptions,
    accepted: Arc<AtomicU64>,
}

impl TcpServer {
    /// Validates the options and binds the listening socket now (so an address in use is an
    /// error here, as Ergo's `CreateTCPServer` returns it).
    ///
    /// # Errors
    /// Invalid chunk options; as `bind(2)` / `listen(2)`.
    pub fn bind(options: TcpServerOptions) -> Result<TcpServer, TcpError> {
        options.conn.read_chunk.validate()?;
        let listener = TcpListener::bind_with_backlog(options.addr, options.backlog)?;
        let local = listener.local_addr();
        Ok(TcpServer { listener: Some(listener), local, options, accepted: Arc::new(AtomicU64::new(0)) })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Meta for TcpServer {
    fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
        let listener = self.listener.take();
        let options = self.options.clone();
        let accepted = self.accepted.clone();
        async move {
            let mut listener = listener.ok_or_else(|| ExitReason::error("TCP server started twice"))?;
            let mut next = 0usize;
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) if crate::io::net::accept_error_is_transient(&e) => {
                        ctx.log(Level::WARN, format_args!("accept failed: {e}; retrying"));
                        ctx.sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                    Err(e) => return Err(ExitReason::error(format_args!("accept failed: {e}"))),
                };
                accepted.fetch_add(1, Relaxed);
                configure(&stream, &options.conn);
                let handler = match options.handlers.len() {
                    0 => To::Pid(ctx.parent()),
                    n => options.handlers[next % n].clone(),
                };
                next = next.wrapping_add(1);
                let conn = TcpConnection {
                    stage: Stage::Accepted(stream, options.tls.clone()),
                    peer,
                    handler: Some(handler),
                    options: options.conn.clone(),
                    shared: Arc::new(ConnShared::default()),
                    writer: None,
                };
                let mut opts = MetaOptions::default().mailbox_size(options.conn.write_queue);
                // Next to its handler: the bytes and the replies then never cross cores (the
                // handlers themselves are spread however their spawner placed them).
                if let Some(To::Pid(pid)) = &conn.handler {
                    opts = opts.near(*pid);
                }
                if let Err(e) = ctx.spawn_meta(conn, opts) {
                    ctx.log(Level::WARN, format_args!("cannot start a connection for {peer}: {e}"));
                }
            }
        }
    }

    fn handle_inspect(&mut self, _ctx: &mut Context, _from: Pid, _items: &[String]) -> Vec<(String, String)> {
        vec![("listener".into(), self.local.to_string()), ("accepted".into(), self.accepted.load(Relaxed).to_string())]
    }
}

/// Where a connection is in its setup.
enum Stage {
    /// Accepted by a server; TLS (if any) is negotiated in `init`.
    Accepted(TcpStream, Option<Arc<ServerConfig>>),
    /// To be dialled in `init`.
    Dial(SocketAddr, Option<(Arc<ClientConfig>, String)>),
    /// Connected: the reading half waits for the loop.
    Ready(Reader, SocketAddr),
    /// The loop has it.
    Running,
}

enum Reader {
    Plain(TcpReader),
    Tls(TlsReader),
}

impl Reader {
    async fn read(&mut self, out: &mut Vec<u8>) -> std::io::Result<usize> {
        match self {
            Reader::Plain(r) => r.read(out).await,
            Reader::Tls(r) => r.read(out).await,
        }
    }
}

enum Writer {
    Plain(TcpWriter),
    Tls(TlsWriter),
}

impl Writer {
    async fn write_all(&self, buf: Vec<u8>) -> std::io::Result<Vec<u8>> {
        match self {
            Writer::Plain(w) => w.write_all(buf).await,
            Writer::Tls(w) => w.write_all(buf).await,
        }
    }
}

/// What a connection's loop and message half share.
#[derive(Default)]
struct ConnShared {
    /// The meta's alias, once its loop runs.
    id: std::sync::OnceLock<Alias>,
    disconnect_sent: AtomicBool,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// A TCP connection meta: accepted by a [`TcpServer`], or dialled with
/// [`TcpConnection::connect`].
pub struct TcpConnection {
    stage: Stage,
    peer: SocketAddr,
    /// Set in `init` to the parent when the options name none.
    handler: Option<To>,
    options: ConnOptions,
    shared: Arc<ConnShared>,
    writer: Option<Writer>,
}

impl TcpConnection {
    /// A client connection to be spawned with `spawn_meta`; it connects (and runs the TLS
    /// handshake) in `init`, so a refused connection fails the spawn.
    ///
    /// # Errors
    /// Invalid chunk options.
    pub fn connect(options: TcpConnectionOptions) -> Result<TcpConnection, TcpError> {
        options.conn.read_chunk.validate()?;
        Ok(TcpConnection {
            stage: Stage::Dial(options.addr, options.tls),
            peer: options.addr,
            handler: options.handler,
            options: options.conn,
            shared: Arc::new(ConnShared::default()),
            writer: None,
        })
    }

    async fn establish(&mut self, ctx: &mut Context) -> std::io::Result<()> {
        let stage = std::mem::replace(&mut self.stage, Stage::Running);
        let (reader, writer, local) = match stage {
            Stage::Accepted(stream, tls) => {
                let local = stream.local_addr()?;
                match tls {
                    None => {
                        let (r, w) = stream.into_split();
                        (Reader::Plain(r), Writer::Plain(w), local)
                    }
                    Some(config) => {
                        let tls = with_timeout(ctx, self.options.handshake_timeout, TlsStream::accept(stream, config))
                            .await?;
                        let (r, w) = tls.into_split();
                        (Reader::Tls(r), Writer::Tls(w), local)
                    }
                }
            }
            Stage::Dial(addr, tls) => {
                let stream = TcpStream::connect(addr).await?;
                configure(&stream, &self.options);
                let local = stream.local_addr()?;
                match tls {
                    None => {
                        let (r, w) = stream.into_split();
                        (Reader::Plain(r), Writer::Plain(w), local)
                    }
                    Some((config, name)) => {
                        let tls = with_timeout(
                            ctx,
                            self.options.handshake_timeout,
                            TlsStream::connect(stream, config, &name),
                        )
                        .await?;
                        let (r, w) = tls.into_split();
                        (Reader::Tls(r), Writer::Tls(w), local)
                    }
                }
            }
            other => {
                self.stage = other;
                return Ok(());
            }
        };
        self.writer = Some(writer);
        self.stage = Stage::Ready(reader, local);
        Ok(())
    }

    /// Who hears from this connection: set in `init`, the parent when the options name none.
    fn handler(&self, parent: Pid) -> To {
        self.handler.clone().unwrap_or(To::Pid(parent))
    }
}

/// Runs `fut`, failing with `TimedOut` after `limit`.
async fn with_timeout<T>(
    ctx: &Context,
    limit: Duration,
    fut: impl Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    match race(std::pin::pin!(fut), ctx.sleep(limit)).await {
        Either::Left(r) => r,
        Either::Right(()) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the TLS handshake took too long")),
    }
}

impl Meta for TcpConnection {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        if self.handler.is_none() {
            self.handler = Some(To::Pid(ctx.parent()));
        }
        if let Err(e) = self.establish(ctx).await {
            let what = format!("connection with {} not established: {e}", self.peer);
            ctx.log(Level::DEBUG, &what);
            return Err(ExitReason::error(what));
        }
        Ok(())
    }

    fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
        let stage = std::mem::replace(&mut self.stage, Stage::Running);
        let (handler, peer, chunk, shared) =
            (self.handler(ctx.parent()), self.peer, self.options.read_chunk.clone(), self.shared.clone());
        async move {
            let Stage::Ready(mut reader, local) = stage else {
                return Err(ExitReason::error("TCP connection started without a socket"));
            };
            let id = ctx.id();
            let _ = shared.id.set(id);
            ctx.send(handler.clone(), MessageTcpConnect { id, remote: peer, local })
                .map_err(|e| ExitReason::error(format_args!("MessageTcpConnect to {handler}: {e}")))?;
            let reason = read_loop(&ctx, &mut reader, &handler, chunk, &shared).await;
            if !shared.disconnect_sent.swap(true, Relaxed)
                && let Err(e) = ctx.send(handler.clone(), MessageTcpDisconnect { id, reason: reason.clone() })
            {
                tracing::debug!(error = %e, "MessageTcpDisconnect not delivered");
            }
            match reason {
                None => Ok(()),
                Some(r) => Err(ExitReason::error(r)),
            }
        }
    }

    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        let data = match msg.downcast::<MessageTcp>() {
            Ok(m) => m.data,
            Err(msg) => match msg.downcast::<Vec<u8>>() {
                Ok(v) => v,
                Err(msg) => {
                    ctx.log(Level::WARN, format_args!("TCP connection: ignored {msg:?} from {from}"));
                    return Ok(());
                }
            },
        };
        let Some(writer) = &self.writer else { return Ok(()) };
        let n = data.len() as u64;
        match writer.write_all(data).await {
            Ok(_) => {
                self.shared.bytes_out.fetch_add(n, Relaxed);
                Ok(())
            }
            Err(e) => Err(ExitReason::error(format_args!("write to {} failed: {e}", self.peer))),
        }
    }

    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        // The loop was dropped (a write failed, the parent ended, an exit came): the handler
        // still learns that the connection is gone.
        let why = (!matches!(reason, ExitReason::Normal)).then(|| reason.to_string());
        if let Some(id) = self.shared.id.get().copied()
            && !self.shared.disconnect_sent.swap(true, Relaxed)
        {
            let _ = ctx.send(self.handler(ctx.parent()), MessageTcpDisconnect { id, reason: why });
        }
    }

    fn handle_inspect(&mut self, ctx: &mut Context, _from: Pid, _items: &[String]) -> Vec<(String, String)> {
        vec![
            ("peer".into(), self.peer.to_string()),
            ("handler".into(), self.handler(ctx.parent()).to_string()),
            ("bytes_in".into(), self.shared.bytes_in.load(Relaxed).to_string()),
            ("bytes_out".into(), self.shared.bytes_out.load(Relaxed).to_string()),
        ]
    }
}

/// Reads until the stream ends; `None` for a clean end, else why it ended.
async fn read_loop(
    ctx: &MetaContext,
    reader: &mut Reader,
    handler: &To,
    chunk: ChunkOptions,
    shared: &ConnShared,
) -> Option<String> {
    let id = ctx.id();
    let mut chunker = match chunk.build() {
        Ok(c) if chunk.is_enabled() => Some(c),
        Ok(_) => None,
        Err(e) => return Some(format!("invalid chunk options: {e}")),
    };
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read(&mut buf).await {
            Ok(0) => {
                return match &chunker {
                    Some(c) if c.buffered() > 0 => {
                        Some(format!("closed in the middle of a frame ({} bytes of it received)", c.buffered()))
                    }
                    _ => None,
                };
            }
            Ok(n) => {
                shared.bytes_in.fetch_add(n as u64, Relaxed);
            }
            Err(e) => return Some(format!("read failed: {e}")),
        }
        let delivered = match chunker.as_mut() {
            None => ctx.send_paced(handler.clone(), MessageTcp { id, data: std::mem::take(&mut buf) }).await,
            Some(c) => {
                if let Err(e) = c.push(&buf) {
                    // The frames before the bad one still go.
                    while let Some(frame) = c.next_frame() {
                        let _ = ctx.send_paced(handler.clone(), MessageTcp { id, data: frame }).await;
                    }
                    return Some(e.to_string());
                }
                let mut outcome = Ok(());
                while let Some(frame) = c.next_frame() {
                    outcome = ctx.send_paced(handler.clone(), MessageTcp { id, data: frame }).await;
                    if outcome.is_err() {
                        break;
                    }
                }
                outcome
            }
        };
        if let Err(e) = delivered {
            return Some(format!("cannot deliver to {handler}: {e}"));
        }
    }
}
