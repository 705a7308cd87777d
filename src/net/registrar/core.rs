//! The registrar's logic without sockets (sans-IO): the server's table of registrations and the
//! functions that turn a received packet into the packet to send back, and the client's packets
//! and reply readers. No clock, no socket, no lock of its own: the server's metas and the client
//! call these with the bytes they moved, and the tests call them with the bytes Go sent.

use super::{Packet, PacketError, PacketType, write_packet};
use crate::Name;
use crate::net::edf::ergo_types::{
    MessageRegisterReply, MessageRegisterRoutes, MessageResolveReply, MessageResolveRoutes, Route,
};
use crate::net::edf::{Decoder, Edf, EdfError, Encoder, ErrorValue, Registry};
use crate::net::proto::BuildError;
use std::collections::HashMap;

/// Go's `gen.ErrTaken`: the name is registered already.
pub const ERR_TAKEN: &str = "resource is taken";
/// Go's `gen.ErrIncorrect`: a registration without routes (or a name without a host).
pub const ERR_INCORRECT: &str = "incorrect value or argument";
/// Go's `gen.ErrUnknown`: no node of that name is registered.
pub const ERR_UNKNOWN: &str = "unknown";
/// Ours (Go has no cap): the table holds as many registrations as it may.
pub const ERR_FULL: &str = "registrar is full";

/// The most bytes the server reads of a registration (Go reads once into 4096 bytes; what lies
/// beyond is never seen, so a longer packet fails its length check).
pub const REGISTER_READ_MAX: usize = 4096;
/// The most bytes the server reads of a resolve datagram (Go's buffer: 1024).
pub const RESOLVE_READ_MAX: usize = 1024;

/// Why bytes received by the registrar (or from it) are not the expected message. Go logs such
/// input and drops it (a datagram) or closes the connection (a registration).
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Not a registrar packet (short, wrong version, unknown type, bad length).
    #[error(transparent)]
    Packet(#[from] PacketError),
    /// A registrar packet of another type than the exchange expects.
    #[error("unexpected registrar packet {0:?}")]
    UnexpectedType(PacketType),
    /// The payload is not the expected EDF message.
    #[error("registrar message: {0}")]
    Edf(#[from] EdfError),
    /// A message too large for the 16-bit length field.
    #[error("registrar message of {0} bytes exceeds 65535")]
    TooLarge(usize),
}

/// Who holds a registration: the node hosting the server (in memory, no connection), or the
/// TCP connection the registration arrived on (it lasts as long as that connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// The node that hosts the server.
    Local,
    /// The server's connection with this id.
    Connection(u64),
}

/// Why the table refuses a registration (the text goes back as the reply's error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The name is registered already (Go's `ErrTaken`).
    #[error("resource is taken")]
    Taken,
    /// No routes (Go's `ErrIncorrect`).
    #[error("incorrect value or argument")]
    Incorrect,
    /// The table holds its maximum (ours).
    #[error("registrar is full")]
    Full,
}

impl Refusal {
    /// The error text on the wire.
    pub fn text(self) -> &'static str {
        match self {
            Refusal::Taken => ERR_TAKEN,
            Refusal::Incorrect => ERR_INCORRECT,
            Refusal::Full => ERR_FULL,
        }
    }
}

struct Registration {
    routes: Vec<Route>,
    owner: Owner,
}

/// The server's table: node name → routes, with who holds each registration, bounded.
pub struct Table {
    nodes: HashMap<Name, Registration>,
    max: usize,
}

impl Table {
    /// An empty table that holds at most `max` registrations.
    pub fn new(max: usize) -> Table {
        Table { nodes: HashMap::new(), max }
    }

    /// Registers `name` (Go's order of checks: taken, then no routes; then our cap).
    ///
    /// # Errors
    /// [`Refusal`].
    pub fn register(&mut self, name: &str, routes: Vec<Route>, owner: Owner) -> Result<(), Refusal> {
        if self.nodes.contains_key(name) {
            return Err(Refusal::Taken);
        }
        if routes.is_empty() {
            return Err(Refusal::Incorrect);
        }
        if self.nodes.len() >= self.max {
            return Err(Refusal::Full);
        }
        self.nodes.insert(Name::new(name), Registration { routes, owner });
        Ok(())
    }

    /// Removes `name` if `owner` holds it (a connection only ever removes its own registration);
    /// true if it was removed.
    pub fn unregister(&mut self, name: &str, owner: Owner) -> bool {
        if self.nodes.get(name).is_some_and(|r| r.owner == owner) {
            self.nodes.remove(name);
            return true;
        }
        false
    }

    /// The routes of `name`.
    pub fn resolve(&self, name: &str) -> Option<&[Route]> {
        self.nodes.get(name).map(|r| r.routes.as_slice())
    }

    /// How many nodes are registered.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when no node is registered.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// What the server does with a connection's first read.
#[derive(Debug, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// Registered: send `reply`, then keep the connection; unregister `node` when it closes.
    Registered {
        /// The node registered.
        node: String,
        /// The RegisterReply packet (no error).
        reply: Vec<u8>,
    },
    /// Refused: send `reply` (it carries the error), then close the connection.
    Refused {
        /// Why.
        refusal: Refusal,
        /// The RegisterReply packet.
        reply: Vec<u8>,
    },
}

/// Builds a packet of `kind` around the top-level EDF encoding of `msg`.
fn packet<T: Edf>(kind: PacketType, msg: &T) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(128);
    match write_packet(&mut out, kind, |buf| Encoder::new(buf).encode(msg)) {
        Ok(_) => Ok(out),
        Err(BuildError::Payload(e)) => Err(WireError::Edf(e)),
        Err(BuildError::TooLarge { len, .. }) => Err(WireError::TooLarge(len)),
        Err(BuildError::NameTooLong(len)) => Err(WireError::TooLarge(len)),
    }
}

/// Parses `bytes` as a packet of `kind` and decodes its message (bytes after the message are
/// ignored, as Go's decoder returns and drops them).
fn read<T: Edf>(bytes: &[u8], kind: PacketType) -> Result<T, WireError> {
    let packet = Packet::parse(bytes)?;
    if packet.kind != kind {
        return Err(WireError::UnexpectedType(packet.kind));
    }
    Ok(Decoder::new(packet.payload, Registry::builtin()).decode::<T>()?)
}

fn error_of(text: Option<&str>) -> Option<ErrorValue> {
    text.map(ErrorValue::new)
}

/// The server's answer to a connection's first read: a Register packet registers the node
/// under `owner` (or is refused, with the reason in the reply).
///
/// # Errors
/// [`WireError`] for anything but a Register packet: the server closes the connection without
/// a reply, as Go does.
pub fn serve_register(table: &mut Table, bytes: &[u8], owner: Owner) -> Result<RegisterOutcome, WireError> {
    let bytes = &bytes[..bytes.len().min(REGISTER_READ_MAX)];
    let msg: MessageRegisterRoutes = read(bytes, PacketType::Register)?;
    let node = msg.node.as_str().to_owned();
    match table.register(&node, msg.routes.unwrap_or_default(), owner) {
        Ok(()) => {
            let reply = packet(PacketType::RegisterReply, &MessageRegisterReply { error: None })?;
            Ok(RegisterOutcome::Registered { node, reply })
        }
        Err(refusal) => {
            // Written before the refusal is returned: should encoding fail (it cannot for these
            // small messages), the connection is closed as for garbage.
            let reply =
                packet(PacketType::RegisterReply, &MessageRegisterReply { error: error_of(Some(refusal.text())) })?;
            Ok(RegisterOutcome::Refused { refusal, reply })
        }
    }
}

/// The server's answer to a resolve datagram: the routes, or `"unknown"` with nil routes.
///
/// # Errors
/// [`WireError`] for anything but a Resolve packet: the server drops the datagram, as Go does.
pub fn serve_resolve(table: &Table, bytes: &[u8]) -> Result<Vec<u8>, WireError> {
    let bytes = &bytes[..bytes.len().min(RESOLVE_READ_MAX)];
    let msg: MessageResolveRoutes = read(bytes, PacketType::Resolve)?;
    let reply = match table.resolve(msg.node.as_str()) {
        Some(routes) => MessageResolveReply { routes: Some(routes.to_vec()), error: None },
        None => MessageResolveReply { routes: None, error: error_of(Some(ERR_UNKNOWN)) },
    };
    packet(PacketType::ResolveReply, &reply)
}

/// The client's Register packet.
///
/// # Errors
/// [`WireError::TooLarge`] for routes beyond a packet's 65535 bytes.
pub fn register_packet(node: &str, routes: &[Route]) -> Result<Vec<u8>, WireError> {
    packet(PacketType::Register, &MessageRegisterRoutes { node: Name::new(node), routes: Some(routes.to_vec()) })
}

/// Reads the server's RegisterReply: `Ok(None)` registered, `Ok(Some(error))` refused.
///
/// # Errors
/// [`WireError`] if the bytes are not a RegisterReply.
pub fn read_register_reply(bytes: &[u8]) -> Result<Option<ErrorValue>, WireError> {
    Ok(read::<MessageRegisterReply>(bytes, PacketType::RegisterReply)?.error)
}

/// The client's Resolve packet.
///
/// # Errors
/// [`WireError::TooLarge`] (a name cannot be that long in practice).
pub fn resolve_packet(node: &str) -> Result<Vec<u8>, WireError> {
    packet(PacketType::Resolve, &MessageResolveRoutes { node: Name::new(node) })
}

/// Reads the server's ResolveReply: the routes (nil reads as none), or the error it carries.
///
/// # Errors
/// [`WireError`] if the bytes are not a ResolveReply.
pub fn read_resolve_reply(bytes: &[u8]) -> Result<Result<Vec<Route>, ErrorValue>, WireError> {
    let reply: MessageResolveReply = read(bytes, PacketType::ResolveReply)?;
    Ok(match reply.error {
        Some(e) => Err(e),
        None => Ok(reply.routes.unwrap_or_default()),
    })
}

/// The host part of a node name, as Go's `Atom.Host`: what follows the `@` of a name with
/// exactly one, else empty.
pub fn host_of(node: &str) -> &str {
    match node.split_once('@') {
        Some((_, host)) if !host.contains('@') => host,
        _ => "",
    }
}
