//! The Web meta (Ergo's `meta.WebServer` + `meta.WebHandler`): an HTTP/1.1 server on the rings.
//!
//! A [`WebServer`] meta listens and accepts; each client gets a connection meta of its own
//! (spawned with [`MetaContext::spawn_meta`], so it has the server's parent as its parent). A
//! connection's loop reads and parses ([`ServerCodec`]); each complete request goes, in order,
//! to the connection's own message half, which routes it ([`Router`]), `call`s the handler
//! process with the [`WebRequest`] under the request timeout, turns the outcome into a response
//! ([`response_for`]: a handler that dies is a 500, one that is late a 504, never a hang) and
//! writes it. Requests of one connection are answered one at a time, in order (pipelining);
//! many connections run at once.
//!
//! Bad input, a client that stops reading, or one that goes away costs its own connection only:
//! an error status is written when there is someone to write it to, then the connection closes.
//! Memory per connection is bounded by the [`WebLimits`] (a head, a body, `queue` requests).

use crate::act::context::Context;
use crate::error::Error;
use crate::io::net::{TcpListener, TcpReader, TcpStream, TcpWriter};
use crate::io::tls::{ServerConfig, TlsReader, TlsStream, TlsWriter};
use crate::message::{ExitReason, Message, Pid};
use crate::meta::{Meta, MetaContext, MetaOptions};
use crate::runtime::race::{Either, race};
use crate::runtime::timer::Sleep;
use crate::web::{CONTINUE, Flow, Router, ServerCodec, WebError, WebLimits, WebRequest, WebResponse, response_for};
use std::future::{Future, poll_fn};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Poll, Waker};
use std::time::{Duration, SystemTime};
use tracing::Level;

/// How a [`WebServer`] listens and serves (Ergo's `WebServerOptions` and `WebHandlerOptions`).
///
/// # Examples
/// ```
/// use ergors::meta::web::WebServerOptions;
/// use ergors::web::{Router, WebLimits};
/// use std::time::Duration;
///
/// let mut router = Router::new();
/// router.handle("/", "site")?;
/// let opts = WebServerOptions::new("127.0.0.1:8080".parse()?, router)
///     .request_timeout(Duration::from_secs(2))
///     .limits(WebLimits::default().max_body(1 << 20))
///     .idle_timeout(Duration::from_secs(30));
/// # let _ = opts;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct WebServerOptions {
    addr: SocketAddr,
    router: Router,
    tls: Option<Arc<ServerConfig>>,
    request_timeout: Duration,
    limits: WebLimits,
    queue: usize,
    idle_timeout: Duration,
    write_timeout: Duration,
}

impl WebServerOptions {
    /// Listen on `addr` (port 0 picks a free one: see [`WebServer::local_addr`]) and route with
    /// `router`. Defaults: plain HTTP, request timeout 5 s (Ergo's), [`WebLimits::default`],
    /// queue 16, idle timeout 60 s, write timeout 30 s.
    pub fn new(addr: SocketAddr, router: Router) -> Self {
        WebServerOptions {
            addr,
            router,
            tls: None,
            request_timeout: Duration::from_secs(5),
            limits: WebLimits::default(),
            queue: 16,
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
        }
    }

    /// Serve HTTPS with this rustls configuration (the handshake runs in each connection's
    /// loop, under the idle timeout).
    pub fn tls(mut self, config: Arc<ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// How long a handler may take to answer a request; then the client gets 504 Gateway
    /// Timeout (a reply arriving later is dropped). `Duration::ZERO` keeps the default.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        if !timeout.is_zero() {
            self.request_timeout = timeout;
        }
        self
    }

    /// The limits on each request (head, header count, body). Its pipelining depth is set by
    /// [`queue`](Self::queue).
    pub fn limits(mut self, limits: WebLimits) -> Self {
        self.limits = limits;
        self
    }

    /// How many requests of one connection may be parsed and waiting for their responses (at
    /// least 1): beyond it the connection is not read until a response is written, so a client
    /// pipelining without end is held back, not buffered.
    pub fn queue(mut self, requests: usize) -> Self {
        self.queue = requests.max(1);
        self
    }

    /// How long a connection may stay silent while it owes nothing (between requests, in the
    /// middle of a request's bytes, or during the TLS handshake) before it is closed.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long writing one response may take (a client that stops reading holds the write):
    /// then the connection is closed.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout.max(Duration::from_millis(1));
        self
    }
}

/// What every connection of a server shares.
struct Served {
    router: Router,
    tls: Option<Arc<ServerConfig>>,
    request_timeout: Duration,
    limits: WebLimits,
    queue: usize,
    idle_timeout: Duration,
    write_timeout: Duration,
    /// Connections open now.
    open: AtomicUsize,
    /// Connections accepted since the start.
    accepted: AtomicU64,
}

/// The listening meta (Ergo's `meta.CreateWebServer`): binds when made, accepts in its loop,
/// and spawns one connection meta per client. Spawn it with `ctx.spawn_meta(server, ..)`; the
/// connections have the same parent, so they end with it (not with the server: a server that
/// ends stops accepting, and the open connections finish their work).
///
/// # Examples
/// ```no_run
/// use ergors::meta::MetaOptions;
/// use ergors::meta::web::{WebServer, WebServerOptions};
/// use ergors::web::{Router, WebRequest, WebResponse};
/// use ergors::{Context, ExitReason, Node, NodeOptions, Pid, SpawnOptions, WebWorker, WebWorkerBehavior};
///
/// struct Hello;
/// impl WebWorkerBehavior for Hello {
///     async fn handle_get(&mut self, _ctx: &mut Context, _from: Pid, req: WebRequest) -> Result<WebResponse, ExitReason> {
///         Ok(WebResponse::text(200, &format!("hello, {}", req.path)))
///     }
/// }
///
/// let node = Node::start("web@localhost", NodeOptions::from_env()?)?;
/// let worker = node.spawn(WebWorker::new(Hello), SpawnOptions::default())?;
/// let mut router = Router::new();
/// router.handle("/", worker)?;
/// let server = WebServer::new(WebServerOptions::new("127.0.0.1:8080".parse()?, router))?;
/// node.spawn_meta(server, MetaOptions::default())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WebServer {
    listener: Option<TcpListener>,
    addr: SocketAddr,
    served: Arc<Served>,
}

impl WebServer {
    /// Binds `options`' address now (so that the port is known before the meta is spawned).
    ///
    /// # Errors
    /// As `bind(2)` / `listen(2)` (the address is in use, not local, ...).
    pub fn new(options: WebServerOptions) -> io::Result<WebServer> {
        let listener = TcpListener::bind(options.addr)?;
        let addr = listener.local_addr();
        let served = Served {
            router: options.router,
            tls: options.tls,
            request_timeout: options.request_timeout,
            limits: options.limits.max_pipelined(options.queue),
            queue: options.queue,
            idle_timeout: options.idle_timeout,
            write_timeout: options.write_timeout,
            open: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
        };
        Ok(WebServer { listener: Some(listener), addr, served: Arc::new(served) })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Meta for WebServer {
    fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
        let listener = self.listener.take();
        let served = self.served.clone();
        async move {
            let Some(mut listener) = listener else {
                return Err(ExitReason::Error("web server started twice".into()));
            };
            // Requests in flight, a Continue, a failure, and the replies of its calls.
            let mailbox = served.queue + 8;
            loop {
                match listener.accept().await {
                    Ok((tcp, peer)) => {
                        // Responses are written whole: send them at once.
                        let _ = tcp.socket().set_tcp_nodelay(true);
                        served.accepted.fetch_add(1, Ordering::Relaxed);
                        let conn = WebConnection::new(tcp, peer, served.clone());
                        match ctx.spawn_meta(conn, MetaOptions::default().mailbox_size(mailbox)) {
                            Ok(_) => {}
                            Err(e @ (Error::ProcessUnknown | Error::NodeStopped)) => {
                                ctx.log(Level::DEBUG, format_args!("web server stops accepting: {e}"));
                                return Ok(());
                            }
                            Err(e) => ctx.log(Level::WARN, format_args!("web connection from {peer} refused: {e}")),
                        }
                    }
                    Err(e) => {
                        // Out of descriptors, or a connection reset before it was taken: the
                        // next accept tries again, after a pause so as not to spin.
                        ctx.log(Level::WARN, format_args!("web server accept: {e}"));
                        ctx.sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }
    }

    fn handle_inspect(&mut self, _ctx: &mut Context, _from: Pid, _items: &[String]) -> Vec<(String, String)> {
        vec![
            ("address".into(), self.addr.to_string()),
            ("tls".into(), self.served.tls.is_some().to_string()),
            ("connections".into(), self.served.open.load(Ordering::Relaxed).to_string()),
            ("accepted".into(), self.served.accepted.load(Ordering::Relaxed).to_string()),
        ]
    }
}

/// The writing side of a connection, plain or TLS.
enum Writer {
    Tcp(TcpWriter),
    Tls(TlsWriter),
}

impl Writer {
    async fn write_all(&self, buf: Vec<u8>) -> io::Result<Vec<u8>> {
        match self {
            Writer::Tcp(w) => w.write_all(buf).await,
            Writer::Tls(w) => w.write_all(buf).await,
        }
    }

    /// Ends the stream after what was written: FIN (plain), close_notify (TLS).
    async fn finish(&self) {
        let _ = match self {
            Writer::Tcp(w) => w.shutdown(Shutdown::Write),
            Writer::Tls(w) => w.close_notify().await,
        };
    }
}

enum Reader {
    Tcp(TcpReader),
    Tls(TlsReader),
}

impl Reader {
    async fn read(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Reader::Tcp(r) => r.read(out).await,
            Reader::Tls(r) => r.read(out).await,
        }
    }
}

/// What a connection's loop sends its message half (its own Pid is the sender).
enum Item {
    /// A complete request, to answer in the order received.
    Request(WebRequest),
    /// The client waits for `100 Continue` before sending the body.
    Continue,
    /// The input is not HTTP we accept: answer the error, then close.
    Failed(WebError),
}

/// The parsing state the loop and the message half share (never locked across an await).
struct Parse {
    codec: ServerCodec,
    /// The input failed and the failure was handed on (the codec repeats it).
    failure_sent: bool,
}

/// A connection's shared state.
struct Conn {
    parse: Mutex<Parse>,
    writer: OnceLock<Writer>,
    /// The message half wrote its last response: the loop drains and ends.
    closing: AtomicBool,
    /// The client ended its side: nothing more will come.
    peer_done: AtomicBool,
    wake: Wake,
}

impl Conn {
    fn parse(&self) -> MutexGuard<'_, Parse> {
        self.parse.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes every complete request out of the codec and hands it to `send` (in order, under the
    /// lock: the loop and the message half both drain, and the mailbox must see the order
    /// received).
    fn drain(&self, mut send: impl FnMut(Item) -> Result<(), Error>) -> Result<(), Error> {
        let mut parse = self.parse();
        loop {
            match parse.codec.next_request() {
                Ok(Some(request)) => send(Item::Request(request))?,
                Ok(None) => {
                    if parse.codec.take_continue() {
                        send(Item::Continue)?;
                    }
                    return Ok(());
                }
                Err(err) => {
                    if !std::mem::replace(&mut parse.failure_sent, true) {
                        send(Item::Failed(err))?;
                    }
                    return Ok(());
                }
            }
        }
    }
}

/// A one-slot wake-up for the loop, from the message half (same task, but the halves are
/// separate futures).
#[derive(Default)]
struct Wake {
    flag: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Wake {
    fn notify(&self) {
        self.flag.store(true, Ordering::Release);
        if let Some(w) = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            w.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.flag.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
            if self.flag.swap(false, Ordering::AcqRel) { Poll::Ready(()) } else { Poll::Pending }
        })
        .await
    }
}

/// How long a closing connection keeps reading (and dropping) what the client still sends, so
/// that closing with unread bytes does not reset the connection before the client has read the
/// last response (Go's "lingering close").
const LINGER: Duration = Duration::from_secs(2);
/// At most this much is read and dropped while lingering.
const LINGER_BYTES: usize = 256 * 1024;

/// The largest buffer a connection keeps between reads or responses; a larger one (a large
/// request or response) is given back.
const KEEP_BUFFER: usize = 16 * 1024;

/// One client's connection: its loop reads and parses, its message half answers.
struct WebConnection {
    tcp: Option<TcpStream>,
    peer: SocketAddr,
    served: Arc<Served>,
    conn: Arc<Conn>,
    out: Vec<u8>,
}

impl WebConnection {
    fn new(tcp: TcpStream, peer: SocketAddr, served: Arc<Served>) -> Self {
        served.open.fetch_add(1, Ordering::Relaxed);
        let conn = Conn {
            parse: Mutex::new(Parse { codec: ServerCodec::new(served.limits), failure_sent: false }),
            writer: OnceLock::new(),
            closing: AtomicBool::new(false),
            peer_done: AtomicBool::new(false),
            wake: Wake::default(),
        };
        WebConnection { tcp: Some(tcp), peer, served, conn: Arc::new(conn), out: Vec::new() }
    }

    /// Writes `self.out` under the write timeout. `Err` ends the connection.
    async fn write_out(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let Some(writer) = self.conn.writer.get() else {
            return Err(ExitReason::Normal);
        };
        let buf = std::mem::take(&mut self.out);
        match race(pin!(writer.write_all(buf)), Sleep::new(self.served.write_timeout)).await {
            Either::Left(Ok(mut buf)) => {
                // Kept for the next response unless a large one grew it (an idle connection
                // holds no large buffer: D167).
                if buf.capacity() <= KEEP_BUFFER {
                    buf.clear();
                    self.out = buf;
                }
                Ok(())
            }
            Either::Left(Err(e)) => {
                ctx.log(Level::DEBUG, format_args!("web {}: write failed ({e}); closing", self.peer));
                Err(ExitReason::Normal)
            }
            Either::Right(()) => {
                ctx.log(
                    Level::INFO,
                    format_args!(
                        "web {}: the client did not read a response within {:?}; closing",
                        self.peer, self.served.write_timeout
                    ),
                );
                Err(ExitReason::Normal)
            }
        }
    }

    /// After the last response: end the stream and let the loop linger, then end.
    async fn close(&mut self) {
        if let Some(writer) = self.conn.writer.get() {
            // Bounded like any write: a TLS close_notify is a write.
            let _ = race(pin!(writer.finish()), Sleep::new(self.served.write_timeout)).await;
        }
        self.conn.closing.store(true, Ordering::Release);
        self.conn.wake.notify();
    }

    async fn answer(&mut self, ctx: &mut Context, request: WebRequest) -> WebResponse {
        let to = match self.served.router.dispatch(&request) {
            Ok(to) => to.clone(),
            Err(not_found) => return not_found,
        };
        let outcome = ctx.call_timeout(to, request, self.served.request_timeout).await;
        if let Err(e) = &outcome {
            ctx.log(Level::DEBUG, format_args!("web {}: handler failed: {e}", self.peer));
        }
        response_for(outcome)
    }
}

impl Drop for WebConnection {
    fn drop(&mut self) {
        self.served.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Meta for WebConnection {
    fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
        let tcp = self.tcp.take();
        let served = self.served.clone();
        let conn = self.conn.clone();
        let peer = self.peer;
        async move {
            let Some(tcp) = tcp else {
                return Err(ExitReason::Error("web connection started twice".into()));
            };
            let mut reader = match &served.tls {
                None => {
                    let (r, w) = tcp.into_split();
                    let _ = conn.writer.set(Writer::Tcp(w));
                    Reader::Tcp(r)
                }
                Some(config) => {
                    // Boxed: a handshake's state is large and needed once, while the loop's
                    // state lives as long as the connection (memory per connection, D167).
                    let handshake =
                        race(Box::pin(TlsStream::accept(tcp, config.clone())), Sleep::new(served.idle_timeout));
                    match handshake.await {
                        Either::Left(Ok(tls)) => {
                            let (r, w) = tls.into_split();
                            let _ = conn.writer.set(Writer::Tls(w));
                            Reader::Tls(r)
                        }
                        Either::Left(Err(e)) => {
                            ctx.log(Level::DEBUG, format_args!("web {peer}: TLS handshake failed: {e}"));
                            return Ok(());
                        }
                        Either::Right(()) => {
                            ctx.log(Level::DEBUG, format_args!("web {peer}: TLS handshake timed out"));
                            return Ok(());
                        }
                    }
                }
            };
            let mut buf = Vec::new();
            let mut lingered = 0usize;
            loop {
                if conn.closing.load(Ordering::Acquire) {
                    // The last response is written: read and drop until the client closes.
                    buf.clear();
                    match race(pin!(reader.read(&mut buf)), Sleep::new(LINGER)).await {
                        Either::Left(Ok(n)) if n > 0 && lingered < LINGER_BYTES => lingered += n,
                        _ => return Ok(()),
                    }
                    continue;
                }
                let wants = conn.parse().codec.wants_more();
                if !wants || conn.peer_done.load(Ordering::Acquire) {
                    // Responses are owed (or the connection is closing): wait for the message
                    // half to write one.
                    conn.wake.wait().await;
                    continue;
                }
                buf.clear();
                let read =
                    race(race(pin!(reader.read(&mut buf)), pin!(conn.wake.wait())), Sleep::new(served.idle_timeout))
                        .await;
                let n = match read {
                    Either::Left(Either::Left(Ok(n))) => n,
                    Either::Left(Either::Left(Err(e))) => {
                        ctx.log(Level::DEBUG, format_args!("web {peer}: read failed ({e}); closing"));
                        return Ok(());
                    }
                    // The message half changed something: look again.
                    Either::Left(Either::Right(())) => continue,
                    Either::Right(()) => {
                        if conn.parse().codec.owed() == 0 {
                            ctx.log(
                                Level::DEBUG,
                                format_args!("web {peer}: idle for {:?}; closing", served.idle_timeout),
                            );
                            return Ok(());
                        }
                        continue;
                    }
                };
                if n == 0 {
                    if conn.parse().codec.owed() == 0 {
                        // Gone between requests, or in the middle of one: nothing to answer.
                        ctx.log(Level::DEBUG, format_args!("web {peer}: closed by the client"));
                        return Ok(());
                    }
                    // Half-closed with responses owed: the message half writes them, then ends.
                    conn.peer_done.store(true, Ordering::Release);
                    continue;
                }
                conn.parse().codec.push(&buf);
                if buf.capacity() > KEEP_BUFFER {
                    buf = Vec::new();
                }
                if let Err(e) = conn.drain(|item| ctx.send(ctx.pid(), item)) {
                    ctx.log(Level::WARN, format_args!("web {peer}: cannot queue a request ({e}); closing"));
                    return Ok(());
                }
            }
        }
    }

    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        if self.conn.closing.load(Ordering::Acquire) {
            // The last response is out (an error, or one that closed): nothing more is answered.
            return Ok(());
        }
        let item = match msg.downcast::<Item>() {
            Ok(item) if from == ctx.pid() => item,
            Ok(_) | Err(_) => {
                ctx.log(Level::WARN, format_args!("web {}: unexpected message from {from}", self.peer));
                return Ok(());
            }
        };
        match item {
            Item::Continue => {
                self.out.extend_from_slice(CONTINUE);
                self.write_out(ctx).await?;
            }
            Item::Failed(err) => {
                ctx.log(Level::INFO, format_args!("web {}: bad request: {err}; closing", self.peer));
                self.conn.parse().codec.encode_error(&err, &mut self.out);
                self.write_out(ctx).await?;
                self.close().await;
            }
            Item::Request(request) => {
                let mut response = self.answer(ctx, request).await;
                if response.header_value("date").is_none() {
                    response.headers.push(("Date".into(), crate::web::http_date(SystemTime::now())));
                }
                let flow = self.conn.parse().codec.encode_response(&response, &mut self.out);
                self.write_out(ctx).await?;
                let owed = self.conn.parse().codec.owed();
                if flow == Flow::Close || (owed == 0 && self.conn.peer_done.load(Ordering::Acquire)) {
                    self.close().await;
                    return Ok(());
                }
                // A slot is free: parse what pipelining held back, and let the loop read again.
                let pid = ctx.pid();
                let conn = self.conn.clone();
                if let Err(e) = conn.drain(|item| ctx.send(pid, item)) {
                    ctx.log(Level::WARN, format_args!("web {}: cannot queue a request ({e}); closing", self.peer));
                    return Err(ExitReason::Normal);
                }
                self.conn.wake.notify();
            }
        }
        Ok(())
    }

    fn handle_inspect(&mut self, _ctx: &mut Context, _from: Pid, _items: &[String]) -> Vec<(String, String)> {
        vec![("peer".into(), self.peer.to_string()), ("owed".into(), self.conn.parse().codec.owed().to_string())]
    }
}
