//! ESRD, Ergo's registrar (PROTOCOL.md §1): which port a node `name@host` accepts on.
//!
//! - Packets (this file): a 4-byte header around an EDF payload, the same on TCP (register) and
//!   UDP (resolve), one message per datagram or per read.
//! - [`core`]: the logic without sockets: the server's bounded table, packet in → packet out
//!   for both exchanges, and the client's packets and reply readers.
//! - [`Registrar`]: a node's side, as Go's: [`Registrar::register`] hosts the server (TCP
//!   `127.0.0.1:PORT`, UDP `:PORT`, default 4499) when both ports are free and registers the
//!   node in memory, else registers with the process that holds them over a TCP connection
//!   kept open as long as the registration lives (lost: retried every second, taking the
//!   server over when the port is free); [`Registrar::resolve`] asks `host:PORT` over UDP
//!   (3 s), or its own table for its own host when it hosts the server.
//!
//! The server and the registration run as processes and metas of the node on the rings
//! (`server.rs`, `client.rs`): a silent client costs one connection meta until the 1 s read
//! deadline, connections and registrations are capped ([`RegistrarOptions`]), garbage is
//! dropped (a datagram) or closes its connection, as in Go.

mod client;
pub mod core;
mod handle;
mod server;

pub use handle::{DEFAULT_PORT, Registrar, RegistrarError, RegistrarInfo, RegistrarOptions};

use crate::net::proto::BuildError;

/// First byte of every packet: registrar protocol version 1.
pub const VERSION: u8 = 1;
/// Length of the packet header.
pub const HEADER_LEN: usize = 4;
/// The longest payload the u16 length field carries.
pub const MAX_PAYLOAD: usize = u16::MAX as usize;

/// The registrar's message types (byte 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// 44: register a node's routes (TCP, client → server).
    Register,
    /// 45: the answer to a Register.
    RegisterReply,
    /// 46: resolve a node name (UDP).
    Resolve,
    /// 47: the answer to a Resolve.
    ResolveReply,
}

impl PacketType {
    /// The byte on the wire.
    pub fn byte(self) -> u8 {
        match self {
            PacketType::Register => 44,
            PacketType::RegisterReply => 45,
            PacketType::Resolve => 46,
            PacketType::ResolveReply => 47,
        }
    }

    /// The type for a byte, if it is one.
    pub fn from_byte(byte: u8) -> Option<PacketType> {
        match byte {
            44 => Some(PacketType::Register),
            45 => Some(PacketType::RegisterReply),
            46 => Some(PacketType::Resolve),
            47 => Some(PacketType::ResolveReply),
            _ => None,
        }
    }
}

/// Why bytes are not a registrar packet (Go logs and drops such a datagram, and closes such a
/// TCP registration).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Fewer than 4 bytes.
    #[error("registrar packet of {0} bytes is shorter than its 4-byte header")]
    TooShort(usize),
    /// The version byte is not 1.
    #[error("registrar protocol version {0} (expected 1)")]
    BadVersion(u8),
    /// The type byte is none of 44–47.
    #[error("unknown registrar packet type {0}")]
    UnknownType(u8),
    /// The length field says more bytes than were received.
    #[error("registrar packet declares {declared} payload bytes but {available} follow the header")]
    BadLength {
        /// The length field.
        declared: u16,
        /// The bytes after the header.
        available: usize,
    },
}

/// A parsed registrar packet, borrowing the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The message type.
    pub kind: PacketType,
    /// The EDF payload (exactly the declared length; bytes beyond it are ignored, as in Go).
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Parses one packet (a UDP datagram, or one TCP read).
    ///
    /// # Errors
    ///
    /// [`PacketError`]: too short, wrong version, unknown type, or a length above what follows
    /// the header (the rule L ≤ received − 4).
    ///
    /// # Examples
    ///
    /// ```
    /// use ergors::net::registrar::{Packet, PacketType};
    /// let packet = Packet::parse(&[1, 45, 0, 2, 0xff, 0xff]).unwrap();
    /// assert_eq!((packet.kind, packet.payload), (PacketType::RegisterReply, &[0xff, 0xff][..]));
    /// ```
    pub fn parse(bytes: &'a [u8]) -> Result<Packet<'a>, PacketError> {
        let [version, kind, hi, lo, rest @ ..] = bytes else {
            return Err(PacketError::TooShort(bytes.len()));
        };
        if *version != VERSION {
            return Err(PacketError::BadVersion(*version));
        }
        let kind = PacketType::from_byte(*kind).ok_or(PacketError::UnknownType(*kind))?;
        let declared = u16::from_be_bytes([*hi, *lo]);
        let payload =
            rest.get(..declared as usize).ok_or(PacketError::BadLength { declared, available: rest.len() })?;
        Ok(Packet { kind, payload })
    }
}

/// Appends a packet to `out`: the header, then whatever `payload` appends (an EDF message
/// without caches), then the length is patched. Returns the packet's length.
///
/// # Errors
///
/// [`BuildError::Payload`] if `payload` fails, [`BuildError::TooLarge`] if it wrote more than
/// 65535 bytes. `out` is left as it was on error.
pub fn write_packet<F, E>(out: &mut Vec<u8>, kind: PacketType, payload: F) -> Result<usize, BuildError<E>>
where
    F: FnOnce(&mut Vec<u8>) -> Result<(), E>,
{
    let start = out.len();
    out.extend_from_slice(&[VERSION, kind.byte(), 0, 0]);
    if let Err(e) = payload(out) {
        out.truncate(start);
        return Err(BuildError::Payload(e));
    }
    let len = out.len() - start - HEADER_LEN;
    if len > MAX_PAYLOAD {
        out.truncate(start);
        return Err(BuildError::TooLarge { len, max: MAX_PAYLOAD });
    }
    // Lossless: `len` is at most 65535.
    out[start + 2..start + HEADER_LEN].copy_from_slice(&(len as u16).to_be_bytes());
    Ok(HEADER_LEN + len)
}
