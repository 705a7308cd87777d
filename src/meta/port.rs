//! The Port meta (Ergo's `meta.CreatePort`): runs an external program, hands its stdout and
//! stderr to a process as messages, and writes what is sent to the meta's alias to its stdin.
//!
//! The program is started in `init` on the blocking pool (fork/exec never runs on a worker);
//! its pipes are read and written through the worker's ring (`io::fd`). Its exit status is
//! collected with non-blocking `waitpid` calls, so the meta alone decides when the pid is
//! reaped and a kill never reaches a reused pid. Never: blocks a worker, leaves a zombie, or
//! lets a program that stops reading its stdin hold up the meta's end (D150–D156).

use crate::act::context::Context;
use crate::codec::{ChunkError, ChunkOptions, ChunkOptionsError, Chunker, DEFAULT_MAX_LINE, LineError, LineSplitter};
use crate::error::Error;
use crate::io::fd::{FdReader, FdWriter};
use crate::message::{Alias, ExitReason, Message, Pid, To};
use crate::meta::{Meta, MetaContext, MetaOptions};
use std::future::{Future, poll_fn};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
use tracing::Level;

/// The default bound of the stdin write queue: the capacity of each of the meta's mailbox
/// queues ([`Port::meta_options`]).
pub const DEFAULT_WRITE_QUEUE: usize = 1024;

/// How long `terminate` waits for a killed program to be reapable before leaving the reaping
/// to a blocking job (a program stuck in the kernel does not hold up the meta's end).
const REAP_PATIENCE: Duration = Duration::from_secs(5);

/// How to run a program as a port (Ergo's `meta.PortOptions`), as a builder.
///
/// # Examples
/// ```
/// use ergors::codec::ChunkOptions;
/// use ergors::meta::port::{Port, PortOptions};
///
/// let port = Port::new(
///     PortOptions::new("sh")
///         .args(["-c", "exec cat"])
///         .env("LANG", "C")
///         .env_os(true)
///         .tag("echo")
///         .binary(ChunkOptions::header(4, 0, 4)),
/// )?;
/// // then, in a process: `ctx.spawn_meta(port, opts).await` with `opts = port.meta_options()`
/// # let _ = port;
/// # Ok::<(), ergors::meta::port::PortError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct PortOptions {
    cmd: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    env_os: bool,
    env_meta: bool,
    tag: String,
    handler: Option<To>,
    binary: Option<ChunkOptions>,
    max_line: Option<usize>,
    write_queue: Option<usize>,
}

impl PortOptions {
    /// Runs `cmd` (Ergo's `Cmd`): a path, or a name looked up in this node's `PATH`.
    pub fn new(cmd: impl Into<String>) -> Self {
        PortOptions { cmd: cmd.into(), ..Default::default() }
    }

    /// Adds one argument (Ergo's `Args`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments, in order.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets a variable of the program's environment (Ergo's `Env`); it wins over the OS's
    /// and the meta's.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Whether the program inherits this OS process's environment (Ergo's `EnableEnvOS`;
    /// default off: it gets only what is given).
    pub fn env_os(mut self, on: bool) -> Self {
        self.env_os = on;
        self
    }

    /// Whether the program gets the environment of the meta (its parent's, as
    /// [`Context::env_list`] shows it; Ergo's `EnableEnvMeta`).
    pub fn env_meta(mut self, on: bool) -> Self {
        self.env_meta = on;
        self
    }

    /// A tag carried by every message the port sends (Ergo's `Tag`).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = tag.into();
        self
    }

    /// Who gets the port's messages (Ergo's `Process`; default: the meta's parent). Resolved
    /// at each send.
    pub fn handler(mut self, to: impl Into<To>) -> Self {
        self.handler = Some(to.into());
        self
    }

    /// Binary mode (Ergo's `Binary.Enable`): stdout arrives as [`MessagePortData`], cut by
    /// `chunking` (Ergo's `Binary.ReadChunk`; [`ChunkOptions::new`] passes each read on as it
    /// came). Without it stdout arrives as text lines ([`MessagePortText`]).
    pub fn binary(mut self, chunking: ChunkOptions) -> Self {
        self.binary = Some(chunking);
        self
    }

    /// The longest line of stdout (text mode) and stderr, its `\n` included (default
    /// [`DEFAULT_MAX_LINE`], Go's scanner limit). A longer line ends the port.
    pub fn max_line(mut self, bytes: usize) -> Self {
        self.max_line = Some(bytes);
        self
    }

    /// How many writes to stdin may wait while the program does not read (default
    /// [`DEFAULT_WRITE_QUEUE`]): the capacity of the meta's mailbox queues, applied through
    /// [`Port::meta_options`]. Beyond it senders get [`Error::MailboxFull`].
    pub fn write_queue(mut self, messages: usize) -> Self {
        self.write_queue = Some(messages);
        self
    }
}

/// Why a port could not be made or started, or why it ended (in its exit reason, through
/// [`ExitReason::downcast_ref`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// No command was given.
    #[error("port: empty command")]
    EmptyCommand,
    /// The binary mode's chunking options are not valid.
    #[error("port: chunking option {}: {error}", .error.field())]
    Chunking {
        /// What is wrong with them.
        error: ChunkOptionsError,
    },
    /// The program could not be started (not found, not executable, ...).
    #[error("port: cannot start {cmd:?}: {message}")]
    Spawn {
        /// The command.
        cmd: String,
        /// What kind of failure (`NotFound` for a missing program).
        kind: io::ErrorKind,
        /// The OS's words.
        message: String,
    },
    /// A line of stdout or stderr is longer than the limit.
    #[error("port: {stream}: {error}")]
    Line {
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The splitter's error.
        error: LineError,
    },
    /// Stdout broke the binary framing.
    #[error("port: stdout: {0}")]
    Chunk(#[from] ChunkError),
    /// Reading a pipe failed.
    #[error("port: reading {stream}: {message}")]
    Read {
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The OS's words.
        message: String,
    },
    /// A message could not be delivered to the handler (gone, or its mailbox is full).
    #[error("port: cannot deliver to {to}: {error}")]
    Deliver {
        /// The handler.
        to: String,
        /// Why.
        error: Error,
    },
}

/// The program started (Ergo's `MessagePortStart`, plus its OS pid).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagePortStart {
    /// The port's alias.
    pub id: Alias,
    /// [`PortOptions::tag`].
    pub tag: String,
    /// The program's process id.
    pub os_pid: u32,
}

/// A line of the program's stdout, in text mode (Ergo's `MessagePortText`), without its line
/// end; bytes that are not UTF-8 become U+FFFD. Sent to the port, its `text` is written to
/// stdin as it is (no line end added).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagePortText {
    /// The port's alias.
    pub id: Alias,
    /// [`PortOptions::tag`].
    pub tag: String,
    /// The line.
    pub text: String,
}

/// A chunk of the program's stdout, in binary mode (Ergo's `MessagePortData`): a whole frame
/// (its header included) or, without chunking, one read. Sent to the port, its `data` is
/// written to stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagePortData {
    /// The port's alias.
    pub id: Alias,
    /// [`PortOptions::tag`].
    pub tag: String,
    /// The bytes.
    pub data: Vec<u8>,
}

/// A line of the program's stderr, or a problem with the program's pipes (Ergo's
/// `MessagePortError`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagePortError {
    /// The port's alias.
    pub id: Alias,
    /// [`PortOptions::tag`].
    pub tag: String,
    /// The stderr line, or what went wrong (`stdin: ...`, `port: ...`).
    pub error: String,
}

/// The program ended and was reaped (Ergo's `MessagePortTerminate`, plus how it ended); the
/// port's last message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagePortTerminate {
    /// The port's alias.
    pub id: Alias,
    /// [`PortOptions::tag`].
    pub tag: String,
    /// Its exit status, if it exited.
    pub status: Option<i32>,
    /// The signal that ended it, if one did (9 when the port killed it).
    pub signal: Option<i32>,
}

/// Sent to a port: closes the program's stdin (it reads end-of-file) once the writes before
/// it are done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCloseStdin;

/// A write to stdin that has not finished; it owns a share of the pipe, so closing stdin
/// waits for it.
type PendingWrite = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// What the loop and the message half share.
struct PortShared {
    child: Mutex<Child>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// The loop sent `MessagePortTerminate`: `terminate` does not send another.
    reported: AtomicBool,
}

/// The program, once started by `init`.
struct Running {
    shared: Arc<PortShared>,
    os_pid: u32,
    handler: To,
    stdout: Option<FdReader>,
    stderr: Option<FdReader>,
    stdin: Option<FdWriter>,
    pending: Option<PendingWrite>,
}

/// The Port meta. Make it with [`Port::new`], spawn it with `spawn_meta` and
/// [`Port::meta_options`].
///
/// # Examples
/// ```no_run
/// use ergors::meta::port::{MessagePortText, Port, PortCloseStdin, PortOptions};
/// use ergors::{Actor, Context, ExitReason, Message, Pid};
///
/// struct Host;
/// impl Actor for Host {
///     async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
///         let port = Port::new(PortOptions::new("cat")).map_err(ExitReason::custom)?;
///         let opts = port.meta_options();
///         let alias = ctx.spawn_meta(port, opts).await.map_err(ExitReason::error)?;
///         ctx.send(alias, String::from("hello\n")).map_err(ExitReason::error)?;
///         ctx.send(alias, PortCloseStdin).map_err(ExitReason::error)?;
///         Ok(())
///     }
///     async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
///         if let Some(line) = msg.downcast_ref::<MessagePortText>() {
///             println!("cat says {}", line.text);
///         }
///         Ok(())
///     }
/// }
/// ```
pub struct Port {
    options: PortOptions,
    chunker: Option<Chunker>,
    run: Option<Running>,
    alias: Option<Alias>,
}

impl Port {
    /// Checks `options` (Ergo's `CreatePort`); the program starts when the meta does.
    ///
    /// # Errors
    /// [`PortError::EmptyCommand`]; [`PortError::Chunking`] for invalid binary chunking.
    pub fn new(options: PortOptions) -> Result<Port, PortError> {
        if options.cmd.is_empty() {
            return Err(PortError::EmptyCommand);
        }
        let chunker = options
            .binary
            .as_ref()
            .map(ChunkOptions::build)
            .transpose()
            .map_err(|error| PortError::Chunking { error })?;
        Ok(Port { options, chunker, run: None, alias: None })
    }

    /// The options to spawn this port with: each mailbox queue bounded by
    /// [`PortOptions::write_queue`].
    pub fn meta_options(&self) -> MetaOptions {
        MetaOptions::default().mailbox_size(self.options.write_queue.unwrap_or(DEFAULT_WRITE_QUEUE))
    }

    /// Sends `msg` to the handler from the message half.
    fn report<M: std::any::Any + Send>(&self, ctx: &mut Context, msg: M) {
        if let Some(run) = &self.run
            && let Err(e) = ctx.send(run.handler.clone(), msg)
        {
            ctx.log(Level::DEBUG, format_args!("port: cannot report to {}: {e}", run.handler));
        }
    }

    fn report_error(&self, ctx: &mut Context, error: String) {
        let Some(id) = self.id(ctx) else { return };
        let msg = MessagePortError { id, tag: self.options.tag.clone(), error };
        self.report(ctx, msg);
    }

    /// The meta's alias, known once the loop started.
    fn id(&self, _ctx: &Context) -> Option<Alias> {
        self.alias
    }

    /// Queues `bytes` for stdin behind any unfinished write, then drives the writes.
    async fn write(&mut self, ctx: &mut Context, bytes: Vec<u8>) {
        let Some(run) = self.run.as_mut() else { return };
        let Some(writer) = run.stdin.clone() else {
            ctx.log(Level::WARN, format_args!("port: stdin is closed; {} bytes dropped", bytes.len()));
            return;
        };
        let before = run.pending.take();
        let shared = run.shared.clone();
        run.pending = Some(Box::pin(async move {
            if let Some(before) = before {
                before.await?;
            }
            let n = bytes.len() as u64;
            writer.write_all(bytes).await?;
            shared.bytes_out.fetch_add(n, Ordering::Relaxed);
            Ok(())
        }));
        self.drive(ctx).await;
    }

    /// Awaits the unfinished writes, unless an Urgent or System message (an exit signal, a
    /// kill) arrives first: then they stay pending and the message loop takes that message,
    /// so a program that never reads cannot keep the meta from ending (D153).
    async fn drive(&mut self, ctx: &mut Context) {
        let Some(run) = self.run.as_mut() else { return };
        let outcome = poll_fn(|cx| {
            let Some(pending) = run.pending.as_mut() else { return Poll::Ready(Ok(())) };
            if let Poll::Ready(done) = pending.as_mut().poll(cx) {
                run.pending = None;
                return Poll::Ready(done);
            }
            // A push to the mailbox wakes this task, so the check runs when it matters.
            let [urgent, system, _, _] = ctx.entry.mailbox.lens();
            if urgent + system > 0 {
                return Poll::Ready(Ok(()));
            }
            Poll::Pending
        })
        .await;
        if let Err(e) = outcome {
            // The program closed its stdin or ended: what is left cannot be written. Its end
            // (and MessagePortTerminate) follows through the loop.
            run.stdin = None;
            run.pending = None;
            ctx.log(Level::DEBUG, format_args!("port: writing stdin: {e}"));
            self.report_error(ctx, format!("stdin: {e}"));
        }
    }
}

impl Meta for Port {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let options = self.options.clone();
        let meta_env = if options.env_meta { ctx.env_list() } else { Vec::new() };
        let spawned =
            ctx.spawn_blocking(move || command(&options, meta_env).spawn()).await.map_err(ExitReason::error)?;
        let spawn_error =
            |e: io::Error| PortError::Spawn { cmd: self.options.cmd.clone(), kind: e.kind(), message: e.to_string() };
        let mut child = spawned.map_err(|e| ExitReason::custom(spawn_error(e)))?;
        let os_pid = child.id();
        let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (Some(stdin), Some(stdout), Some(stderr)) = pipes else {
            // Cannot happen (all three are piped); the program must not outlive the meta.
            let _ = child.kill();
            let _ = child.wait();
            return Err(ExitReason::error("port: the program's pipes are missing"));
        };
        let handler = self.options.handler.clone().unwrap_or(To::Pid(ctx.parent()));
        let shared = Arc::new(PortShared {
            child: Mutex::new(child),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            reported: AtomicBool::new(false),
        });
        self.run = Some(Running {
            shared,
            os_pid,
            handler,
            stdout: Some(FdReader::new(OwnedFd::from(stdout))),
            stderr: Some(FdReader::new(OwnedFd::from(stderr))),
            stdin: Some(FdWriter::new(OwnedFd::from(stdin))),
            pending: None,
        });
        Ok(())
    }

    fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
        let tag = self.options.tag.clone();
        let limit = self.options.max_line.unwrap_or(DEFAULT_MAX_LINE);
        let stdout_decoder = match self.chunker.take() {
            Some(chunker) => Decoder::Chunks(chunker),
            None => Decoder::Lines(LineSplitter::with_limit(limit), "stdout"),
        };
        self.alias = Some(ctx.id());
        let run = self
            .run
            .as_mut()
            .map(|r| (r.shared.clone(), r.os_pid, r.handler.clone(), r.stdout.take(), r.stderr.take()));
        async move {
            let Some((shared, os_pid, handler, Some(stdout), Some(stderr))) = run else {
                return Err(ExitReason::error("port: started without a program"));
            };
            let out = Out { ctx: ctx.clone(), to: handler.clone(), tag: tag.clone(), shared: shared.clone() };
            out.send(MessagePortStart { id: ctx.id(), tag: tag.clone(), os_pid }).await?;
            let stdout = pump(out.clone(), stdout, stdout_decoder, "stdout");
            let stderr = pump(out.clone(), stderr, Decoder::Lines(LineSplitter::with_limit(limit), "stderr"), "stderr");
            both(stdout, stderr).await?;
            // Both pipes are closed: the program has ended, or is about to.
            let status = wait_exit(&ctx, &shared).await;
            shared.reported.store(true, Ordering::Release);
            let (status, signal) = split_status(status);
            // The handler may be gone: the port ends anyway.
            let _ = out.send(MessagePortTerminate { id: ctx.id(), tag, status, signal }).await;
            Ok(())
        }
    }

    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        let msg = match stdin_bytes(msg) {
            Ok(bytes) => {
                self.write(ctx, bytes).await;
                return Ok(());
            }
            Err(msg) => msg,
        };
        if msg.is::<PortCloseStdin>() {
            if let Some(run) = self.run.as_mut() {
                // The pipe closes once the unfinished writes, which share it, are done.
                run.stdin = None;
            }
            self.drive(ctx).await;
            return Ok(());
        }
        ctx.log(Level::WARN, format_args!("port: unsupported message from {from}: {msg:?}; ignored"));
        Ok(())
    }

    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        let Some(run) = self.run.as_mut() else { return };
        run.pending = None;
        run.stdin = None;
        let status = kill_and_reap(ctx, &run.shared).await;
        if !run.shared.reported.swap(true, Ordering::AcqRel) {
            let (status, signal) = split_status(status);
            if let Some(id) = self.id(ctx) {
                let msg = MessagePortTerminate { id, tag: self.options.tag.clone(), status, signal };
                self.report(ctx, msg);
            }
        }
        if !matches!(reason.bare(), ExitReason::Normal | ExitReason::Shutdown) {
            ctx.log(Level::WARN, format_args!("port {:?}: ended: {reason}", self.options.cmd));
        }
    }

    fn handle_inspect(&mut self, _ctx: &mut Context, _from: Pid, _items: &[String]) -> Vec<(String, String)> {
        let o = &self.options;
        let mut out = vec![
            ("tag".to_string(), o.tag.clone()),
            ("cmd".to_string(), o.cmd.clone()),
            ("args".to_string(), format!("{:?}", o.args)),
            ("binary".to_string(), o.binary.is_some().to_string()),
            ("binary.read_chunk".to_string(), o.binary.as_ref().is_some_and(ChunkOptions::is_enabled).to_string()),
            // Names only: values may be secrets.
            ("env".to_string(), format!("{:?}", o.env.iter().map(|(k, _)| k).collect::<Vec<_>>())),
        ];
        if let Some(run) = &self.run {
            out.push(("os_pid".to_string(), run.os_pid.to_string()));
            out.push(("bytes_in".to_string(), run.shared.bytes_in.load(Ordering::Relaxed).to_string()));
            out.push(("bytes_out".to_string(), run.shared.bytes_out.load(Ordering::Relaxed).to_string()));
            out.push(("stdin".to_string(), if run.stdin.is_some() { "open" } else { "closed" }.to_string()));
            out.push(("writes_pending".to_string(), run.pending.is_some().to_string()));
        }
        out
    }
}

/// The bytes a message to the port carries for stdin, or the message back.
fn stdin_bytes(msg: Message) -> Result<Vec<u8>, Message> {
    let msg = match msg.downcast::<MessagePortData>() {
        Ok(m) => return Ok(m.data),
        Err(msg) => msg,
    };
    let msg = match msg.downcast::<MessagePortText>() {
        Ok(m) => return Ok(m.text.into_bytes()),
        Err(msg) => msg,
    };
    let msg = match msg.downcast::<Vec<u8>>() {
        Ok(bytes) => return Ok(bytes),
        Err(msg) => msg,
    };
    let msg = match msg.downcast::<String>() {
        Ok(text) => return Ok(text.into_bytes()),
        Err(msg) => msg,
    };
    msg.downcast::<&'static str>().map(|text| text.as_bytes().to_vec())
}

/// Where the loop's messages go.
#[derive(Clone)]
struct Out {
    ctx: MetaContext,
    to: To,
    tag: String,
    shared: Arc<PortShared>,
}

impl Out {
    /// Sends paced by the handler (`MetaContext::send_paced`): a handler that falls behind stops
    /// the pipe's reading, and the program blocks on its full pipe.
    async fn send<M: std::any::Any + Send>(&self, msg: M) -> Result<(), ExitReason> {
        self.ctx
            .send_paced(self.to.clone(), msg)
            .await
            .map_err(|error| ExitReason::custom(PortError::Deliver { to: self.to.to_string(), error }))
    }

    async fn error(&self, error: String) -> Result<(), ExitReason> {
        self.send(MessagePortError { id: self.ctx.id(), tag: self.tag.clone(), error }).await
    }
}

/// How a pipe's bytes become messages.
enum Decoder {
    /// Lines: [`MessagePortText`] for stdout, [`MessagePortError`] for stderr.
    Lines(LineSplitter, &'static str),
    /// Frames of stdout: [`MessagePortData`].
    Chunks(Chunker),
}

impl Decoder {
    /// Sends what `bytes` completes; `None` bytes: the end of the stream.
    async fn feed(&mut self, out: &Out, bytes: Option<&[u8]>) -> Result<(), ExitReason> {
        match self {
            Decoder::Lines(lines, stream) => {
                let stream = *stream;
                let pushed = match bytes {
                    Some(bytes) => lines.push(bytes),
                    None => Ok(()),
                };
                while let Some(line) = lines.next_line() {
                    send_line(out, stream, line).await?;
                }
                if bytes.is_none()
                    && let Some(line) = lines.finish()
                {
                    send_line(out, stream, line).await?;
                }
                if let Err(error) = pushed {
                    let err = PortError::Line { stream, error };
                    out.error(err.to_string()).await?;
                    return Err(ExitReason::custom(err));
                }
                Ok(())
            }
            Decoder::Chunks(chunker) => {
                let pushed = match bytes {
                    Some(bytes) => chunker.push(bytes),
                    None => Ok(()),
                };
                while let Some(data) = chunker.next_frame() {
                    out.send(MessagePortData { id: out.ctx.id(), tag: out.tag.clone(), data }).await?;
                }
                if bytes.is_none() && chunker.buffered() > 0 {
                    // Ergo drops it silently; say so at least.
                    out.ctx.log(
                        Level::WARN,
                        format_args!("port: stdout ended inside a frame ({} bytes dropped)", chunker.buffered()),
                    );
                }
                if let Err(e) = pushed {
                    let err = PortError::Chunk(e);
                    out.error(err.to_string()).await?;
                    return Err(ExitReason::custom(err));
                }
                Ok(())
            }
        }
    }
}

async fn send_line(out: &Out, stream: &str, line: Vec<u8>) -> Result<(), ExitReason> {
    let text = match String::from_utf8(line) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    if stream == "stderr" {
        out.error(text).await
    } else {
        out.send(MessagePortText { id: out.ctx.id(), tag: out.tag.clone(), text }).await
    }
}

/// Reads one pipe to its end, sending what it carries.
async fn pump(out: Out, mut reader: FdReader, mut decoder: Decoder, stream: &'static str) -> Result<(), ExitReason> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = match reader.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                let err = PortError::Read { stream, message: e.to_string() };
                out.error(err.to_string()).await?;
                return Err(ExitReason::custom(err));
            }
        };
        if n == 0 {
            return decoder.feed(&out, None).await;
        }
        out.shared.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        decoder.feed(&out, Some(&buf)).await?;
    }
}

/// Runs both pumps to their ends; the first error ends both.
async fn both(
    a: impl Future<Output = Result<(), ExitReason>>,
    b: impl Future<Output = Result<(), ExitReason>>,
) -> Result<(), ExitReason> {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut a_done, mut b_done) = (false, false);
    poll_fn(|cx| {
        if !a_done && let Poll::Ready(r) = a.as_mut().poll(cx) {
            r?;
            a_done = true;
        }
        if !b_done && let Poll::Ready(r) = b.as_mut().poll(cx) {
            r?;
            b_done = true;
        }
        if a_done && b_done { Poll::Ready(Ok(())) } else { Poll::Pending }
    })
    .await
}

/// The next pause between two `waitpid(WNOHANG)` checks: 1 ms, doubling to 64 ms.
fn backoff(pause: Duration) -> Duration {
    (pause * 2).min(Duration::from_millis(64))
}

/// Waits (suspending only the loop) until the program has ended, and reaps it.
async fn wait_exit(ctx: &MetaContext, shared: &PortShared) -> io::Result<ExitStatus> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = lock(&shared.child).try_wait()? {
            return Ok(status);
        }
        ctx.sleep(pause).await;
        pause = backoff(pause);
    }
}

/// Kills the program if it still runs and reaps it: its status, once reaped.
async fn kill_and_reap(ctx: &mut Context, shared: &Arc<PortShared>) -> io::Result<ExitStatus> {
    {
        let mut child = lock(&shared.child);
        // Not reaped yet (std keeps the status once it is), so the pid is still ours.
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        child.kill()?;
    }
    let mut pause = Duration::from_millis(1);
    let mut waited = Duration::ZERO;
    while waited < REAP_PATIENCE {
        if let Some(status) = lock(&shared.child).try_wait()? {
            return Ok(status);
        }
        ctx.sleep(pause).await;
        waited += pause;
        pause = backoff(pause);
    }
    // Stuck in the kernel: reaped whenever it finally goes, off the workers.
    let shared = shared.clone();
    drop(ctx.spawn_blocking(move || lock(&shared.child).wait()));
    ctx.log(Level::WARN, "port: the killed program has not ended yet; it is reaped in the background");
    Err(io::Error::from(io::ErrorKind::TimedOut))
}

fn lock(child: &Mutex<Child>) -> std::sync::MutexGuard<'_, Child> {
    child.lock().unwrap_or_else(|p| p.into_inner())
}

/// (exit status, signal) of a reaped program; both `None` if it could not be learnt.
fn split_status(status: io::Result<ExitStatus>) -> (Option<i32>, Option<i32>) {
    match status {
        Ok(s) => (s.code(), s.signal()),
        Err(_) => (None, None),
    }
}

/// The executable `program` names: itself if it has a `/`, else the first match in this
/// OS process's `PATH`.
fn lookup(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return None;
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The program's command line, environment and pipes. A bare name is looked up in this node's
/// `PATH` (as Go's `exec.Command` does), whatever the program's own environment (possibly none)
/// says. Touches the file system: run on the blocking pool.
fn command(options: &PortOptions, meta_env: Vec<(String, String)>) -> Command {
    let mut cmd = match lookup(&options.cmd) {
        Some(path) => Command::new(path),
        None => Command::new(&options.cmd),
    };
    cmd.args(&options.args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if !options.env_os {
        cmd.env_clear();
    }
    // Later settings win: the OS's, then the meta's, then the options'.
    cmd.envs(meta_env);
    cmd.envs(options.env.iter().map(|(k, v)| (k, v)));
    cmd
}
