//! TCP and UDP sockets on the workers' rings, for use inside processes.
//!
//! Binding, listening and socket options are plain (non-blocking) system calls; accepting,
//! connecting, receiving and sending are ring requests that suspend only the awaiting process.
//! A listener keeps one multishot accept armed and a reader one multishot receive (where the
//! kernel has them, `IoFeatures`), re-armed when the kernel ends them; a reader that falls
//! behind stops its receive once `RECV_HIGH` bytes wait (the peer's window then fills), and the
//! next read re-arms it.
//!
//! # Examples
//! ```no_run
//! use ergors::io::net::{TcpListener, TcpStream};
//! # async fn echo_once() -> std::io::Result<()> {
//! let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
//! let (mut conn, _peer) = listener.accept().await?;
//! let mut buf = Vec::new();
//! while conn.read(&mut buf).await? > 0 {
//!     buf = conn.write_all(buf).await?;
//!     buf.clear();
//! }
//! # Ok(()) }
//! ```

use crate::io::driver::IoFeatures;
use crate::io::fd::{self, Via};
use crate::io::op::{self, Kind, OpFuture, OpShared, not_on_worker};
use crate::io::raw::MsgBuf;
use crate::runtime::worker::with_current;
use crate::sys::bufring;
use io_uring::{opcode, types};
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::task::Poll;

/// Bytes a reader may have waiting before its multishot receive is stopped.
pub const RECV_HIGH: usize = 256 * 1024;

/// What the current worker's ring offers; `None` off a worker.
fn features() -> Option<IoFeatures> {
    with_current(|w| w.and_then(|w| w.io.try_borrow().ok().map(|d| d.features)))
}

fn new_socket(addr: &SocketAddr, ty: Type, proto: Protocol) -> io::Result<Socket> {
    Socket::new(Domain::for_address(*addr), ty.nonblocking().cloexec(), Some(proto))
}

fn local_addr_of(fd: &OwnedFd) -> io::Result<SocketAddr> {
    SockRef::from(fd).local_addr()?.as_socket().ok_or_else(|| io::Error::other("not an IP socket"))
}

/// A TCP listening socket.
pub struct TcpListener {
    fd: Arc<OwnedFd>,
    local: SocketAddr,
    /// The armed multishot accept, if any.
    accept: Option<Arc<OpShared>>,
}

impl TcpListener {
    /// Binds and listens on `addr` (port 0 picks a free port: see [`TcpListener::local_addr`]),
    /// with `SO_REUSEADDR` and a backlog of 1024.
    ///
    /// # Errors
    /// As `bind(2)` / `listen(2)`.
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        Self::bind_with_backlog(addr, 1024)
    }

    /// As [`TcpListener::bind`] with the listen backlog given.
    ///
    /// # Errors
    /// As `bind(2)` / `listen(2)`.
    pub fn bind_with_backlog(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
        let s = new_socket(&addr, Type::STREAM, Protocol::TCP)?;
        s.set_reuse_address(true)?;
        s.bind(&SockAddr::from(addr))?;
        s.listen(backlog)?;
        let fd = OwnedFd::from(s);
        let local = local_addr_of(&fd)?;
        Ok(TcpListener { fd: Arc::new(fd), local, accept: None })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits for the next connection.
    ///
    /// # Errors
    /// Off a worker thread; as `accept4(2)` (e.g. `EMFILE` when out of descriptors: the next
    /// call tries again).
    pub async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let fd = if features().ok_or_else(not_on_worker)?.multishot_accept {
            self.accept_multishot().await?
        } else {
            let entry = opcode::Accept::new(types::Fd(self.fd.as_raw_fd()), std::ptr::null_mut(), std::ptr::null_mut())
                .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
                .build();
            let (res, _) = OpFuture::new(Kind::Single, entry, Some(Box::new(self.fd.clone()))).await?;
            op::result(res)? as RawFd
        };
        // SAFETY: the kernel returned a new descriptor that nothing else owns.
        let stream = TcpStream::from_fd(unsafe { OwnedFd::from_raw_fd(fd) });
        let peer = stream.peer_addr()?;
        Ok((stream, peer))
    }

    async fn accept_multishot(&mut self) -> io::Result<RawFd> {
        poll_fn(|cx| {
            loop {
                let op = match &self.accept {
                    Some(op) => op.clone(),
                    None => {
                        let op = OpShared::new(Kind::AcceptMulti, Some(Box::new(self.fd.clone())));
                        let entry = opcode::AcceptMulti::new(types::Fd(self.fd.as_raw_fd()))
                            .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
                            .build();
                        op::submit(entry, &op)?;
                        self.accept = Some(op.clone());
                        op
                    }
                };
                let mut s = op.lock();
                if let Some((res, _)) = s.results.pop_front() {
                    let finished_empty = s.finished && s.results.is_empty();
                    drop(s);
                    if finished_empty {
                        self.accept = None;
                    }
                    return Poll::Ready(op::result(res).map(|fd| fd as RawFd));
                }
                if s.finished {
                    // The kernel ended the multishot (an error it reported, or a cancel): arm
                    // a new one.
                    drop(s);
                    self.accept = None;
                    continue;
                }
                OpShared::set_waker(&mut s, cx.waker());
                return Poll::Pending;
            }
        })
        .await
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        if let Some(op) = &self.accept {
            op::cancel(op);
        }
    }
}

/// A TCP connection. Reading and writing can go to different owners with
/// [`TcpStream::into_split`] (a meta's loop reads while its message handler writes).
pub struct TcpStream {
    reader: TcpReader,
    writer: TcpWriter,
}

impl TcpStream {
    fn from_fd(fd: OwnedFd) -> TcpStream {
        Self::from_arc(Arc::new(fd))
    }

    fn from_arc(fd: Arc<OwnedFd>) -> TcpStream {
        TcpStream { reader: TcpReader::new(fd.clone()), writer: TcpWriter { fd } }
    }

    /// Connects to `addr`.
    ///
    /// # Errors
    /// Off a worker thread; as `connect(2)` (`ECONNREFUSED`, ...).
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let s = new_socket(&addr, Type::STREAM, Protocol::TCP)?;
        let fd = Arc::new(OwnedFd::from(s));
        let sa = Box::new(SockAddr::from(addr));
        let entry = opcode::Connect::new(types::Fd(fd.as_raw_fd()), sa.as_ptr().cast(), sa.len()).build();
        let (res, _) = OpFuture::new(Kind::Single, entry, Some(Box::new((sa, fd.clone())))).await?;
        op::result(res)?;
        Ok(TcpStream::from_arc(fd))
    }

    /// Appends the bytes that have arrived (at least one; waits until some do) to `out`;
    /// returns how many, 0 at the end of the stream.
    ///
    /// # Errors
    /// Off a worker thread; as `recv(2)` (`ECONNRESET`, ...).
    pub async fn read(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        self.reader.read(out).await
    }

    /// Writes all of `buf`; gives the buffer back for reuse.
    ///
    /// # Errors
    /// Off a worker thread; as `send(2)` (`EPIPE` once the peer closed, ...).
    pub async fn write_all(&self, buf: Vec<u8>) -> io::Result<Vec<u8>> {
        self.writer.write_all(buf).await
    }

    /// As [`TcpStream::write_all`] with zero-copy sends (worth it for large buffers).
    ///
    /// # Errors
    /// As [`TcpStream::write_all`].
    pub async fn write_all_zc(&self, buf: Vec<u8>) -> io::Result<Vec<u8>> {
        self.writer.write_all_zc(buf).await
    }

    /// Closes the connection through the ring (the descriptor is closed once the halves handed
    /// out with [`TcpStream::writer`] are gone too; dropping a stream closes it as well).
    ///
    /// # Errors
    /// Off a worker thread; as `close(2)`.
    pub async fn close(self) -> io::Result<()> {
        let TcpStream { reader, writer } = self;
        drop(reader);
        fd::close(writer.fd).await
    }

    /// Splits into a reading and a writing half (the socket closes when both are dropped).
    pub fn into_split(self) -> (TcpReader, TcpWriter) {
        (self.reader, self.writer)
    }

    /// The writing half, shared (for sending from elsewhere while this stream reads).
    pub fn writer(&self) -> TcpWriter {
        TcpWriter { fd: self.writer.fd.clone() }
    }

    /// The peer's address.
    ///
    /// # Errors
    /// As `getpeername(2)` (`ENOTCONN` once the connection is gone).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.writer.peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        local_addr_of(&self.writer.fd)
    }

    /// Shuts down reading, writing or both.
    ///
    /// # Errors
    /// As `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.writer.shutdown(how)
    }

    /// The socket, for options (`TCP_NODELAY`, keep-alive, buffer sizes: socket2's setters).
    pub fn socket(&self) -> SockRef<'_> {
        SockRef::from(&*self.writer.fd)
    }
}

/// The reading half of a [`TcpStream`].
pub struct TcpReader {
    fd: Arc<OwnedFd>,
    /// The armed multishot receive, if any.
    recv: Option<Arc<OpShared>>,
    /// The fallback's receive buffer, reused from read to read.
    spare: Vec<u8>,
    eof: bool,
}

impl TcpReader {
    fn new(fd: Arc<OwnedFd>) -> TcpReader {
        TcpReader { fd, recv: None, spare: Vec::new(), eof: false }
    }

    /// As [`TcpStream::read`].
    ///
    /// # Errors
    /// As [`TcpStream::read`].
    pub async fn read(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        let n = if features().ok_or_else(not_on_worker)?.multishot_recv {
            self.read_multishot(out).await?
        } else {
            self.read_single(out).await?
        };
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }

    async fn read_multishot(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        poll_fn(|cx| {
            loop {
                let op = match &self.recv {
                    Some(op) => op.clone(),
                    None => {
                        let op = OpShared::new(Kind::RecvMulti, Some(Box::new(self.fd.clone())));
                        op.lock().data_cap = RECV_HIGH;
                        let entry = opcode::RecvMulti::new(types::Fd(self.fd.as_raw_fd()), bufring::GROUP).build();
                        op::submit(entry, &op)?;
                        self.recv = Some(op.clone());
                        op
                    }
                };
                let mut s = op.lock();
                if !s.data.is_empty() {
                    let n = s.data.len();
                    if out.is_empty() {
                        // Hand over the bytes and leave the caller's (empty) vector to be
                        // filled next: no copy.
                        std::mem::swap(out, &mut s.data);
                    } else {
                        out.extend_from_slice(&s.data);
                        s.data.clear();
                    }
                    let rearm = s.finished && s.results.is_empty();
                    drop(s);
                    if rearm {
                        self.recv = None;
                    }
                    return Poll::Ready(Ok(n));
                }
                if let Some((res, _)) = s.results.pop_front() {
                    drop(s);
                    self.recv = None;
                    // 0: the peer closed; < 0: the error that ended the stream.
                    return Poll::Ready(op::result(res).map(|n| n as usize));
                }
                if s.finished {
                    // Stopped (out of buffers, or the reader was behind): receive again.
                    drop(s);
                    self.recv = None;
                    continue;
                }
                OpShared::set_waker(&mut s, cx.waker());
                return Poll::Pending;
            }
        })
        .await
    }

    async fn read_single(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        fd::read_once(&self.fd, &mut self.spare, out, Via::Socket).await
    }
}

impl Drop for TcpReader {
    fn drop(&mut self) {
        if let Some(op) = &self.recv {
            op::cancel(op);
        }
    }
}

/// The writing half of a [`TcpStream`] (cheap to clone: writers share the socket).
#[derive(Clone)]
pub struct TcpWriter {
    fd: Arc<OwnedFd>,
}

impl TcpWriter {
    /// As [`TcpStream::write_all`].
    ///
    /// # Errors
    /// As [`TcpStream::write_all`].
    pub async fn write_all(&self, buf: Vec<u8>) -> io::Result<Vec<u8>> {
        self.write(buf, false).await
    }

    /// As [`TcpStream::write_all_zc`]; plain sends where the kernel lacks zero-copy ones.
    ///
    /// # Errors
    /// As [`TcpStream::write_all`].
    pub async fn write_all_zc(&self, buf: Vec<u8>) -> io::Result<Vec<u8>> {
        let zc = features().ok_or_else(not_on_worker)?.send_zc;
        self.write(buf, zc).await
    }

    async fn write(&self, buf: Vec<u8>, zc: bool) -> io::Result<Vec<u8>> {
        fd::write_all(&self.fd, buf, if zc { Via::SocketZc } else { Via::Socket }).await
    }

    /// The peer's address.
    ///
    /// # Errors
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        SockRef::from(&*self.fd).peer_addr()?.as_socket().ok_or_else(|| io::Error::other("not an IP socket"))
    }

    /// Shuts down reading, writing or both.
    ///
    /// # Errors
    /// As `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        SockRef::from(&*self.fd).shutdown(how)
    }
}

/// A UDP socket.
pub struct UdpSocket {
    fd: Arc<OwnedFd>,
    local: SocketAddr,
}

impl UdpSocket {
    /// Binds to `addr` (port 0 picks a free port).
    ///
    /// # Errors
    /// As `bind(2)`.
    pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        let s = new_socket(&addr, Type::DGRAM, Protocol::UDP)?;
        s.bind(&SockAddr::from(addr))?;
        let fd = OwnedFd::from(s);
        let local = local_addr_of(&fd)?;
        Ok(UdpSocket { fd: Arc::new(fd), local })
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits for one datagram; returns it in `buf` (cut to its length; a datagram longer than
    /// `buf`'s length is truncated, as `recvfrom(2)` does) and the sender's address.
    ///
    /// # Errors
    /// Off a worker thread; as `recvmsg(2)`.
    pub async fn recv_from(&self, mut buf: Vec<u8>) -> io::Result<(Vec<u8>, SocketAddr)> {
        if buf.is_empty() {
            buf.resize(64 * 1024, 0);
        }
        let msg = MsgBuf::for_recv(buf);
        let entry = opcode::RecvMsg::new(types::Fd(self.fd.as_raw_fd()), &msg.hdr as *const _ as *mut _).build();
        let mut fut = OpFuture::new(Kind::Single, entry, Some(Box::new((msg, self.fd.clone()))));
        let (res, _) = (&mut fut).await?;
        let (msg, _fd) = fut
            .take_keep::<(Box<MsgBuf>, Arc<OwnedFd>)>()
            .ok_or_else(|| io::Error::other("receive finished without its buffer"))?;
        let n = op::result(res)? as usize;
        let (mut buf, peer) = msg.into_parts();
        buf.truncate(n);
        Ok((buf, peer.ok_or_else(|| io::Error::other("datagram without an IP sender"))?))
    }

    /// Sends `buf` as one datagram to `to`; gives the buffer back.
    ///
    /// # Errors
    /// Off a worker thread; as `sendmsg(2)` (`EMSGSIZE` for a datagram too large, ...).
    pub async fn send_to(&self, buf: Vec<u8>, to: SocketAddr) -> io::Result<Vec<u8>> {
        let msg = MsgBuf::for_send(buf, to);
        let entry = opcode::SendMsg::new(types::Fd(self.fd.as_raw_fd()), &msg.hdr as *const _)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build();
        let mut fut = OpFuture::new(Kind::Single, entry, Some(Box::new((msg, self.fd.clone()))));
        let (res, _) = (&mut fut).await?;
        let (msg, _fd) = fut
            .take_keep::<(Box<MsgBuf>, Arc<OwnedFd>)>()
            .ok_or_else(|| io::Error::other("send finished without its buffer"))?;
        op::result(res)?;
        Ok(msg.into_parts().0)
    }

    /// The socket, for options (buffer sizes, broadcast: socket2's setters).
    pub fn socket(&self) -> SockRef<'_> {
        SockRef::from(&*self.fd)
    }
}

/// Waits for `d` with a ring timeout request (`IORING_OP_TIMEOUT`) rather than the worker's
/// timer map; for code that wants the kernel's timer (and for testing cancellation of requests
/// in flight: dropping the future cancels the request).
///
/// # Errors
/// Off a worker thread.
pub async fn ring_timeout(d: std::time::Duration) -> io::Result<()> {
    let ts = Box::new(types::Timespec::from(d));
    let entry = opcode::Timeout::new(&*ts as *const types::Timespec).build();
    let (res, _) = OpFuture::new(Kind::Single, entry, Some(Box::new(ts))).await?;
    match res {
        r if r == -libc::ETIME || r >= 0 => Ok(()),
        r => op::result(r).map(drop),
    }
}

/// Whether an `accept` error concerns one connection or a passing shortage (descriptors,
/// buffers, memory, a connection reset before it was taken, an interrupted call), not the
/// listener: an acceptor logs it, waits a moment and goes on; any other error ends it.
pub fn accept_error_is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EMFILE
                | libc::ENFILE
                | libc::ENOBUFS
                | libc::ENOMEM
                | libc::ECONNABORTED
                | libc::ECONNRESET
                | libc::EPERM
                | libc::EINTR
                | libc::EAGAIN
                | libc::EPROTO
        )
    )
}
