//! UDP as a meta process (Ergo's `meta.CreateUDPServer`).
//!
//! A [`UdpServer`] meta hands each datagram to its handler as a [`MessageUdp`] carrying the
//! peer's address; a [`MessageUdp`] sent to its alias goes out as one datagram to the address
//! it names. Receiving is paced by the handler ([`MetaContext::send_paced`]): while the handler
//! is behind, datagrams wait in the kernel's buffer (and past it are dropped by the kernel, as
//! UDP does), not in memory.

use super::{Meta, MetaContext};
use crate::act::context::Context;
use crate::io::net::UdpSocket;
use crate::message::{Alias, ExitReason, Message, Pid, To};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use tracing::Level;

/// A datagram: from the server to its handler (with the sender's address), or to the server's
/// alias to be sent to `addr` (Ergo's `MessageUDP`; `id` is ignored when sending).
#[derive(Clone, Debug)]
pub struct MessageUdp {
    /// The server meta's alias.
    pub id: Alias,
    /// The peer: who sent it, or where to send it.
    pub addr: SocketAddr,
    /// The payload.
    pub data: Vec<u8>,
}

/// A UDP server's options (Ergo's `UDPServerOptions`).
#[derive(Clone, Debug)]
pub struct UdpServerOptions {
    addr: SocketAddr,
    handler: Option<To>,
    buffer_size: usize,
}

impl UdpServerOptions {
    /// Binds `addr` (port 0: any free port); datagrams go to the spawning process.
    pub fn new(addr: SocketAddr) -> Self {
        UdpServerOptions { addr, handler: None, buffer_size: 65_535 }
    }
    /// Hands datagrams to this process instead of the parent (Ergo's `Process`).
    pub fn handler(mut self, to: impl Into<To>) -> Self {
        self.handler = Some(to.into());
        self
    }
    /// The largest datagram received whole (default 65535; longer ones are cut, as
    /// `recvfrom(2)` does; Ergo's `BufferSize`).
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = bytes.clamp(1, 65_535);
        self
    }
}

/// A UDP server meta.
pub struct UdpServer {
    socket: Arc<UdpSocket>,
    options: UdpServerOptions,
    counts: Arc<[AtomicU64; 2]>,
}

impl UdpServer {
    /// Binds the socket now (an address in use is an error here).
    ///
    /// # Errors
    /// As `bind(2)`.
    pub fn bind(options: UdpServerOptions) -> std::io::Result<UdpServer> {
        let socket = Arc::new(UdpSocket::bind(options.addr)?);
        Ok(UdpServer { socket, options, counts: Arc::new([AtomicU64::new(0), AtomicU64::new(0)]) })
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr()
    }
}

impl Meta for UdpServer {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        if self.options.handler.is_none() {
            self.options.handler = Some(To::Pid(ctx.parent()));
        }
        Ok(())
    }

    fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
        let (socket, size, counts) = (self.socket.clone(), self.options.buffer_size, self.counts.clone());
        let handler = self.options.handler.clone().unwrap_or(To::Pid(ctx.parent()));
        async move {
            let id = ctx.id();
            loop {
                let (data, addr) = socket
                    .recv_from(vec![0; size])
                    .await
                    .map_err(|e| ExitReason::error(format_args!("UDP receive failed: {e}")))?;
                counts[0].fetch_add(1, Relaxed);
                ctx.send_paced(handler.clone(), MessageUdp { id, addr, data })
                    .await
                    .map_err(|e| ExitReason::error(format_args!("cannot deliver to {handler}: {e}")))?;
            }
        }
    }

    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        let Ok(m) = msg.downcast::<MessageUdp>() else {
            ctx.log(Level::WARN, format_args!("UDP server: ignored a message from {from}"));
            return Ok(());
        };
        // One datagram's failure (no route, too large, refused) is that datagram's: logged,
        // and the server goes on.
        match self.socket.send_to(m.data, m.addr).await {
            Ok(_) => {
                self.counts[1].fetch_add(1, Relaxed);
            }
            Err(e) => ctx.log(Level::DEBUG, format_args!("UDP send to {} failed: {e}", m.addr)),
        }
        Ok(())
    }

    fn handle_inspect(&mut self, _ctx: &mut Context, _from: Pid, _items: &[String]) -> Vec<(String, String)> {
        vec![
            ("local".into(), self.socket.local_addr().to_string()),
            ("datagrams_in".into(), self.counts[0].load(Relaxed).to_string()),
            ("datagrams_out".into(), self.counts[1].load(Relaxed).to_string()),
        ]
    }
}
