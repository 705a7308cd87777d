//! The raw memory some requests hand the kernel: a message header for datagrams, and address
//! conversions. Small on purpose: the `unsafe` of the socket types lives here.

use socket2::{SockAddr, SockAddrStorage};
use std::net::SocketAddr;

/// A datagram request's memory: the header, its one iovec, the peer address and the data, in
/// one box so that the header's pointers into it stay valid wherever the box is moved.
pub(crate) struct MsgBuf {
    pub(crate) hdr: libc::msghdr,
    iov: libc::iovec,
    addr: SockAddrStorage,
    pub(crate) buf: Vec<u8>,
}

// SAFETY: the raw pointers in `hdr` and `iov` point into this same box (its `iov`, `addr` and
// `buf`'s heap memory), never at anything shared; moving the box to another thread moves them
// all together.
unsafe impl Send for MsgBuf {}

impl MsgBuf {
    /// A header to receive one datagram into `buf` (its whole length) and its sender's address.
    pub(crate) fn for_recv(buf: Vec<u8>) -> Box<MsgBuf> {
        Self::build(buf, None)
    }

    /// A header to send `buf` to `to`.
    pub(crate) fn for_send(buf: Vec<u8>, to: SocketAddr) -> Box<MsgBuf> {
        Self::build(buf, Some(to))
    }

    fn build(buf: Vec<u8>, to: Option<SocketAddr>) -> Box<MsgBuf> {
        let (addr, addr_len) = match to {
            Some(to) => {
                let sa = SockAddr::from(to);
                let len = sa.len();
                (sa.as_storage(), len)
            }
            None => {
                let storage = SockAddrStorage::zeroed();
                let len = storage.size_of();
                (storage, len)
            }
        };
        // SAFETY: msghdr is a plain C struct for which all-zero is a valid value.
        let hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        // SAFETY: as above, for iovec.
        let iov: libc::iovec = unsafe { std::mem::zeroed() };
        let mut m = Box::new(MsgBuf { hdr, iov, addr, buf });
        m.iov.iov_base = m.buf.as_mut_ptr().cast();
        m.iov.iov_len = m.buf.len();
        m.hdr.msg_name = (&mut m.addr as *mut SockAddrStorage).cast();
        m.hdr.msg_namelen = addr_len;
        m.hdr.msg_iov = &mut m.iov;
        m.hdr.msg_iovlen = 1;
        m
    }

    /// The buffer, and the sender's address of a received datagram.
    pub(crate) fn into_parts(self: Box<Self>) -> (Vec<u8>, Option<SocketAddr>) {
        let MsgBuf { hdr, addr, buf, .. } = *self;
        // SAFETY: the kernel wrote a valid address of `msg_namelen` bytes into `addr` (a
        // sockaddr_storage, so large and aligned enough for any family).
        let sa = unsafe { SockAddr::new(addr, hdr.msg_namelen) };
        (buf, sa.as_socket())
    }
}
