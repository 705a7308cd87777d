//! The four handshake messages (§2.1) as plain Rust values. Their EDF encoding (registered
//! structs `#ergo.services/ergo/net/handshake/Message*`, fields in this order) is the EDF
//! codec's business; these types only carry the fields.

use super::flags::NetworkFlags;
use std::collections::BTreeMap;

/// `gen.Version` (`#ergo.services/ergo/gen/Version`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Version {
    /// `Name`.
    pub name: String,
    /// `Release`.
    pub release: String,
    /// `Commit`.
    pub commit: String,
    /// `License`.
    pub license: String,
}

impl Version {
    /// The handshake's version as Go announces it: `EHS`, `R1`, no commit, `MIT`. Routes match
    /// only on exactly this.
    pub fn ehs() -> Version {
        Version { name: "EHS".into(), release: "R1".into(), commit: String::new(), license: "MIT".into() }
    }

    /// The message protocol's version: `ENP`, `R1`, no commit, `MIT`.
    pub fn enp() -> Version {
        Version { name: "ENP".into(), release: "R1".into(), commit: String::new(), license: "MIT".into() }
    }
}

/// `MessageHello`: the first message each way on a main link.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hello {
    /// `Salt`: 64 random hex characters.
    pub salt: String,
    /// `Digest` (§2.2).
    pub digest: String,
    /// `DigestCert`: the acceptor's, on TLS links only; empty otherwise.
    pub digest_cert: String,
}

/// `MessageJoin`: the dialer's only message on an additional pool link.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Join {
    /// `Node` (an atom): the dialer's name.
    pub node: String,
    /// `ConnectionID`: the id the acceptor gave in the main link's Accept.
    pub connection_id: String,
    /// `Salt`: chosen by the dialer.
    pub salt: String,
    /// `Digest`: `H(connectionID:salt:cookie)`.
    pub digest: String,
}

/// `MessageIntroduce`: a node's identity and its encoding dictionaries.
///
/// Caches map ids to values as the sender advertises them (§2.5): atoms (ids from 256), wire
/// type names (from 4096), error texts (from 32768). Go sends them as EDF maps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Introduce {
    /// `Node` (an atom).
    pub node: String,
    /// `Version`: the application's version (free text).
    pub version: Version,
    /// `Flags`.
    pub flags: NetworkFlags,
    /// `Creation`: the node's start time in Unix seconds.
    pub creation: i64,
    /// `MaxMessageSize` (Go `int`): 0 (or less) = unlimited.
    pub max_message_size: i64,
    /// `AtomCache` (`map[uint16]gen.Atom`).
    pub atom_cache: BTreeMap<u16, String>,
    /// `RegCache` (`map[uint16]string`).
    pub reg_cache: BTreeMap<u16, String>,
    /// `ErrCache` (`map[uint16]error`, the errors' texts).
    pub err_cache: BTreeMap<u16, String>,
    /// `Digest`: the dialer's `H(saltA:cookie)`; empty in the acceptor's.
    pub digest: String,
}

/// `MessageAccept`: the acceptor's connection parameters, the dialer's final "ok" (all fields
/// empty), or the acceptor's answer to a Join (digests only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accept {
    /// `ID`: the connection id (32 random hex characters).
    pub id: String,
    /// `PoolSize` (Go `int`): how many links the dialer should open in all.
    pub pool_size: i64,
    /// `PoolDSN`: addresses to dial the pool's other links (Go sends `nil` when empty).
    pub pool_dsn: Vec<String>,
    /// `Digest`: only in the answer to a Join.
    pub digest: String,
    /// `DigestCert`: only in the answer to a Join, on TLS links.
    pub digest_cert: String,
}

/// One handshake message, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeMessage {
    /// `MessageHello`.
    Hello(Hello),
    /// `MessageJoin`.
    Join(Join),
    /// `MessageIntroduce`.
    Introduce(Box<Introduce>),
    /// `MessageAccept`.
    Accept(Accept),
}

impl HandshakeMessage {
    /// The Go name of the message's type, for errors and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            HandshakeMessage::Hello(_) => "MessageHello",
            HandshakeMessage::Join(_) => "MessageJoin",
            HandshakeMessage::Introduce(_) => "MessageIntroduce",
            HandshakeMessage::Accept(_) => "MessageAccept",
        }
    }
}
