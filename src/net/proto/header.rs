//! The 8-byte ENP frame header and the opcodes. Pure data; no I/O.

use zerocopy::byteorder::big_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// First byte of every ENP frame: `'N'`.
pub const MAGIC: u8 = b'N';
/// Second byte of every ENP frame: protocol version 1 (`ENP` release `R1`).
pub const VERSION: u8 = 1;
/// Length of the header, which the frame's length field includes.
pub const HEADER_LEN: usize = 8;

/// The ENP frame header, as it lies on the wire (big-endian length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Header {
    /// `'N'` ([`MAGIC`]).
    pub magic: u8,
    /// 1 ([`VERSION`]).
    pub version: u8,
    /// Total frame length, header included.
    pub length: U32,
    /// Ordering key for the receiver: 0 = unordered, else frames with the same key are
    /// dispatched in arrival order ([`order`](crate::net::proto::order)).
    pub order: u8,
    /// The opcode byte ([`Opcode`]; unknown values are legal on the wire).
    pub opcode: u8,
}

impl Header {
    /// A header for a frame of `length` bytes.
    pub fn new(length: u32, order: u8, opcode: u8) -> Self {
        Header { magic: MAGIC, version: VERSION, length: U32::new(length), order, opcode }
    }

    /// Reads the header at the start of `bytes`, or `None` if fewer than 8 bytes are there.
    /// Nothing is checked.
    pub fn peek(bytes: &[u8]) -> Option<Header> {
        Header::read_from_prefix(bytes).ok().map(|(h, _)| h)
    }
}

/// ENP opcodes: every one Go defines (`net/proto/types.go`).
///
/// Bytes that are none of these are legal on the wire: [`Frame::parse`](super::Frame::parse)
/// returns them as [`Enp::Unknown`](super::Enp::Unknown) for the caller to drop and log, as Go
/// does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// Send to a process by id.
    MessagePid = 101,
    /// Send to a process by name.
    MessageName = 102,
    /// Send to a process by name, the name as an atom-cache id.
    MessageNameCache = 103,
    /// Send to an alias.
    MessageAlias = 104,
    /// An event's message, for the receiver to fan out.
    MessageEvent = 105,
    /// An event's message, the event name as an atom-cache id.
    MessageEventCache = 106,
    /// An exit signal (`SendExit`).
    MessageExit = 107,
    /// A call to a process by id.
    RequestPid = 121,
    /// A call to a process by name.
    RequestName = 122,
    /// A call to a process by name, the name as an atom-cache id.
    RequestNameCache = 123,
    /// A call to an alias.
    RequestAlias = 124,
    /// A call's response.
    MessageResponse = 129,
    /// A call's error response, or an important delivery's acknowledgement.
    MessageResponseError = 130,
    /// A process the peer watched has terminated.
    TerminatePid = 181,
    /// A registered name the peer watched has terminated.
    TerminateName = 182,
    /// As [`TerminateName`](Opcode::TerminateName), the name as an atom-cache id.
    TerminateNameCache = 183,
    /// An alias the peer watched has gone.
    TerminateAlias = 184,
    /// An event the peer watched has gone.
    TerminateEvent = 185,
    /// As [`TerminateEvent`](Opcode::TerminateEvent), the name as an atom-cache id.
    TerminateEventCache = 186,
    /// A registered control struct (link, monitor, spawn, results).
    MessageAny = 199,
    /// A compressed frame.
    Compressed = 200,
    /// Reserved: encryption (not implemented by Go; never sent, dropped on receipt).
    Encrypted = 201,
    /// Reserved: fragmentation (not implemented by Go; never sent, dropped on receipt).
    Fragmented = 202,
    /// Reserved: proxy (not implemented by Go; never sent, dropped on receipt).
    Proxy = 203,
}

impl Opcode {
    /// The opcode for a byte, or `None` for a byte Go does not define.
    pub fn from_byte(byte: u8) -> Option<Opcode> {
        use Opcode::*;
        Some(match byte {
            101 => MessagePid,
            102 => MessageName,
            103 => MessageNameCache,
            104 => MessageAlias,
            105 => MessageEvent,
            106 => MessageEventCache,
            107 => MessageExit,
            121 => RequestPid,
            122 => RequestName,
            123 => RequestNameCache,
            124 => RequestAlias,
            129 => MessageResponse,
            130 => MessageResponseError,
            181 => TerminatePid,
            182 => TerminateName,
            183 => TerminateNameCache,
            184 => TerminateAlias,
            185 => TerminateEvent,
            186 => TerminateEventCache,
            199 => MessageAny,
            200 => Compressed,
            201 => Encrypted,
            202 => Fragmented,
            203 => Proxy,
            _ => return None,
        })
    }

    /// The byte on the wire.
    pub fn byte(self) -> u8 {
        self as u8
    }
}
