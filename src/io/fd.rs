//! Reading and writing any stream descriptor on the ring (a pipe to a child program, a
//! character device), and the single-shot read and the write loop that the sockets share.

use crate::io::op::{self, Kind, OpFuture};
use io_uring::{opcode, types};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

/// Bytes one single-shot read asks for.
pub(crate) const READ_CHUNK: usize = 16 * 1024;

/// How a stream request is issued.
#[derive(Clone, Copy)]
pub(crate) enum Via {
    /// `recv(2)` / `send(2)` (with `MSG_NOSIGNAL`): sockets.
    Socket,
    /// Zero-copy `send(2)`: sockets, large buffers.
    SocketZc,
    /// `read(2)` / `write(2)` at the current position: pipes and other streams.
    File,
}

/// One read request into `spare` (reused from call to call); appends what came to `out`.
pub(crate) async fn read_once(
    fd: &Arc<OwnedFd>,
    spare: &mut Vec<u8>,
    out: &mut Vec<u8>,
    via: Via,
) -> io::Result<usize> {
    let mut buf = std::mem::take(spare);
    if buf.len() < READ_CHUNK {
        buf = vec![0; READ_CHUNK];
    }
    let raw = types::Fd(fd.as_raw_fd());
    let (ptr, len) = (buf.as_mut_ptr(), buf.len() as u32);
    let entry = match via {
        Via::Socket | Via::SocketZc => opcode::Recv::new(raw, ptr, len).build(),
        // -1: the current position (a pipe has no other).
        Via::File => opcode::Read::new(raw, ptr, len).offset(u64::MAX).build(),
    };
    let mut fut = OpFuture::new(Kind::Single, entry, Some(Box::new((buf, fd.clone()))));
    let (res, _) = (&mut fut).await?;
    if let Some((buf, _fd)) = fut.take_keep::<(Vec<u8>, Arc<OwnedFd>)>() {
        *spare = buf;
    }
    let n = op::result(res)? as usize;
    out.extend_from_slice(&spare[..n.min(spare.len())]);
    Ok(n)
}

/// Writes all of `buf` with as many requests as the kernel needs; gives the buffer back.
pub(crate) async fn write_all(fd: &Arc<OwnedFd>, mut buf: Vec<u8>, via: Via) -> io::Result<Vec<u8>> {
    let mut done = 0usize;
    while done < buf.len() {
        let ptr = buf[done..].as_ptr();
        let len = (buf.len() - done).min(u32::MAX as usize) as u32;
        let raw = types::Fd(fd.as_raw_fd());
        let (kind, entry) = match via {
            Via::SocketZc => (Kind::SendZc, opcode::SendZc::new(raw, ptr, len).flags(libc::MSG_NOSIGNAL).build()),
            Via::Socket => (Kind::Single, opcode::Send::new(raw, ptr, len).flags(libc::MSG_NOSIGNAL).build()),
            Via::File => (Kind::Single, opcode::Write::new(raw, ptr, len).offset(u64::MAX).build()),
        };
        let mut fut = OpFuture::new(kind, entry, Some(Box::new((buf, fd.clone()))));
        let (res, _) = (&mut fut).await?;
        // Finished: the kernel no longer reads the buffer (for a zero-copy send, its
        // notification came), so it comes back.
        buf = match fut.take_keep::<(Vec<u8>, Arc<OwnedFd>)>() {
            Some((buf, _fd)) => buf,
            None => return Err(io::Error::other("write finished without its buffer")),
        };
        let n = op::result(res)? as usize;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        done += n;
    }
    Ok(buf)
}

/// The reading end of a pipe (or any stream descriptor), read through the ring.
pub struct FdReader {
    fd: Arc<OwnedFd>,
    spare: Vec<u8>,
}

impl FdReader {
    /// Reads `fd` through the ring from now on.
    pub fn new(fd: OwnedFd) -> FdReader {
        FdReader { fd: Arc::new(fd), spare: Vec::new() }
    }

    /// Appends what can be read now (waits until something can) to `out`; 0 at the end (the
    /// writing end closed).
    ///
    /// # Errors
    /// Off a worker thread; as `read(2)`.
    pub async fn read(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        read_once(&self.fd, &mut self.spare, out, Via::File).await
    }
}

/// The writing end of a pipe (or any stream descriptor), written through the ring.
#[derive(Clone)]
pub struct FdWriter {
    fd: Arc<OwnedFd>,
}

impl FdWriter {
    /// Writes to `fd` through the ring from now on.
    pub fn new(fd: OwnedFd) -> FdWriter {
        FdWriter { fd: Arc::new(fd) }
    }

    /// Writes all of `buf`; gives it back.
    ///
    /// # Errors
    /// Off a worker thread; as `write(2)` (`EPIPE` once the reader is gone).
    pub async fn write_all(&self, buf: Vec<u8>) -> io::Result<Vec<u8>> {
        write_all(&self.fd, buf, Via::File).await
    }
}

/// Closes `fd` through the ring (`IORING_OP_CLOSE`) once no other owner holds it; otherwise
/// just drops this owner's share.
///
/// # Errors
/// Off a worker thread; as `close(2)`.
pub(crate) async fn close(fd: Arc<OwnedFd>) -> io::Result<()> {
    let Ok(fd) = Arc::try_unwrap(fd) else { return Ok(()) };
    let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
    let entry = opcode::Close::new(types::Fd(raw)).build();
    let (res, _) = OpFuture::new(Kind::Single, entry, None).await?;
    op::result(res).map(drop)
}
