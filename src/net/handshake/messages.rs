//! The four handshake messages (§2.1) as plain Rust values, and their EDF form (registered
//! structs `#ergo.services/ergo/net/handshake/Message*` in [`ergo_types`](wire)). `Version` and
//! `Hello` are the EDF types themselves; `Join`, `Introduce` and `Accept` keep the machine's
//! shapes (plain strings, maps without Go's nil, our flags) and convert at the codec's edge.

use super::flags::NetworkFlags;
use crate::net::edf::{Decoder, EdfError, Encoder, ErrorValue, OrderedMap, Registry, ergo_types as wire};
use std::collections::BTreeMap;

/// `gen.Version` (`#ergo.services/ergo/gen/Version`): the EDF type itself.
pub use crate::net::edf::ergo_types::Version;

/// `MessageHello`: the first message each way on a main link (`DigestCert`: the acceptor's, on
/// TLS links only; empty otherwise). The EDF type itself.
pub use crate::net::edf::ergo_types::MessageHello as Hello;

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

impl HandshakeMessage {
    /// Appends the message's EDF form (top-level, as Go writes it) to `buf`: the payload of a
    /// handshake frame.
    ///
    /// # Errors
    /// A value EDF cannot carry (a node name too long for an atom, say).
    pub fn encode(&self, buf: &mut Vec<u8>) -> Result<(), EdfError> {
        let mut enc = Encoder::new(buf);
        match self {
            HandshakeMessage::Hello(h) => enc.encode(h),
            HandshakeMessage::Join(j) => enc.encode(&wire::MessageJoin {
                node: crate::message::Name::new(&j.node),
                connection_id: j.connection_id.clone(),
                salt: j.salt.clone(),
                digest: j.digest.clone(),
            }),
            HandshakeMessage::Introduce(i) => enc.encode(&wire::MessageIntroduce {
                node: crate::message::Name::new(&i.node),
                version: i.version.clone(),
                flags: wire::NetworkFlags::from_bits(i.flags.bits()),
                creation: i.creation,
                max_message_size: i.max_message_size as isize,
                atom_cache: Some(OrderedMap(
                    i.atom_cache.iter().map(|(k, v)| (*k, crate::message::Name::new(v))).collect(),
                )),
                reg_cache: Some(OrderedMap(i.reg_cache.iter().map(|(k, v)| (*k, v.clone())).collect())),
                err_cache: Some(OrderedMap(i.err_cache.iter().map(|(k, v)| (*k, Some(ErrorValue::new(v)))).collect())),
                digest: i.digest.clone(),
            }),
            HandshakeMessage::Accept(a) => enc.encode(&wire::MessageAccept {
                id: a.id.clone(),
                pool_size: a.pool_size as isize,
                // Go sends nil for an empty list.
                pool_dsn: if a.pool_dsn.is_empty() { None } else { Some(a.pool_dsn.clone()) },
                digest: a.digest.clone(),
                digest_cert: a.digest_cert.clone(),
            }),
        }
    }

    /// A handshake frame's EDF payload as its message (`registry` knows Ergo's types, as every
    /// node's does).
    ///
    /// # Errors
    /// Bytes that are not EDF, or a value that is not one of the four messages.
    pub fn decode(registry: &Registry, payload: &[u8]) -> Result<HandshakeMessage, EdfError> {
        let msg = registry.decode_message(&mut Decoder::new(payload, registry))?;
        let msg = match msg.downcast::<wire::MessageHello>() {
            Ok(h) => return Ok(HandshakeMessage::Hello(h)),
            Err(m) => m,
        };
        let msg = match msg.downcast::<wire::MessageJoin>() {
            Ok(j) => {
                return Ok(HandshakeMessage::Join(Join {
                    node: j.node.to_string(),
                    connection_id: j.connection_id,
                    salt: j.salt,
                    digest: j.digest,
                }));
            }
            Err(m) => m,
        };
        let msg = match msg.downcast::<wire::MessageIntroduce>() {
            Ok(i) => {
                let names = |m: Option<OrderedMap<u16, crate::message::Name>>| {
                    m.map(|m| m.0).unwrap_or_default().into_iter().map(|(k, v)| (k, v.to_string())).collect()
                };
                let errors = i.err_cache.map(|m| m.0).unwrap_or_default();
                return Ok(HandshakeMessage::Introduce(Box::new(Introduce {
                    node: i.node.to_string(),
                    version: i.version,
                    flags: NetworkFlags::from_bits(i.flags.bits()),
                    creation: i.creation,
                    max_message_size: i.max_message_size as i64,
                    atom_cache: names(i.atom_cache),
                    reg_cache: i.reg_cache.map(|m| m.0).unwrap_or_default().into_iter().collect(),
                    // A nil error in the dictionary names nothing: left out.
                    err_cache: errors.into_iter().filter_map(|(k, v)| Some((k, v?.as_str().to_string()))).collect(),
                    digest: i.digest,
                })));
            }
            Err(m) => m,
        };
        match msg.downcast::<wire::MessageAccept>() {
            Ok(a) => Ok(HandshakeMessage::Accept(Accept {
                id: a.id,
                pool_size: a.pool_size as i64,
                pool_dsn: a.pool_dsn.unwrap_or_default(),
                digest: a.digest,
                digest_cert: a.digest_cert,
            })),
            Err(m) => Err(EdfError::Custom(format!("not a handshake message: {m:?}"))),
        }
    }
}
