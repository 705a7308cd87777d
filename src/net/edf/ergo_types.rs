//! Ergo's own registered types that the handshake (EHS), the message protocol (ENP, opcode 199)
//! and the registrar (ESRD) carry, with their Go wire names and field order (PROTOCOL.md §1.3,
//! §2.1, §3.3, §4.4). Go `gen.Atom` fields are [`Name`]s, Go `int` fields `isize`, `error`
//! fields `Option<ErrorValue>`, `any` fields [`Value`]s, maps [`OrderedMap`]s (nil: `None`).
//! Remote spawn's and application start's (large option structs): [`super::ergo_spawn`].

use super::cache::{DecodeCaches, EncodeCaches};
use super::encoder::Encoder;
use super::error::EdfError;
use super::macros::EdfCustom;
use super::registry::Registry;
use super::value::{ErrorValue, OrderedMap, Value};
use crate::{Alias, Event, Name, Pid, ProcessId, Ref};

/// `gen.Version`: a protocol's or an application's name and release.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Version {
    /// Name (`"EHS"`, `"ENP"`, `"ESRD"`, or an application's).
    pub name: String,
    /// Release (`"R1"`).
    pub release: String,
    /// Commit (free text).
    pub commit: String,
    /// License (`"MIT"`).
    pub license: String,
}
crate::edf_struct!(Version = "#ergo.services/ergo/gen/Version" {
    name: String, release: String, commit: String, license: String,
});

/// `gen.NetworkFlags` (§2.4): what a node offers its peers. On the wire a u64 bit mask (its own
/// `MarshalEDF`); with `enable` off every other flag reads as off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NetworkFlags {
    /// Networking is enabled (bit 1).
    pub enable: bool,
    /// Peers may spawn processes here (bit 2).
    pub enable_remote_spawn: bool,
    /// Peers may start applications here (bit 4).
    pub enable_remote_application_start: bool,
    /// Fragmentation (bit 8; not implemented by Go).
    pub enable_fragmentation: bool,
    /// Proxy transit (bit 16; not implemented by Go).
    pub enable_proxy_transit: bool,
    /// Proxy accept (bit 32; not implemented by Go).
    pub enable_proxy_accept: bool,
    /// Important delivery (bit 64).
    pub enable_important_delivery: bool,
}

impl NetworkFlags {
    /// The bit mask Go writes.
    pub fn bits(&self) -> u64 {
        if !self.enable {
            return 0;
        }
        let flags = [
            (self.enable, 1),
            (self.enable_remote_spawn, 2),
            (self.enable_remote_application_start, 4),
            (self.enable_fragmentation, 8),
            (self.enable_proxy_transit, 16),
            (self.enable_proxy_accept, 32),
            (self.enable_important_delivery, 64),
        ];
        flags.iter().filter(|(on, _)| *on).map(|(_, bit)| bit).sum()
    }

    /// The flags of a bit mask (unknown bits ignored; all off without bit 1).
    pub fn from_bits(bits: u64) -> NetworkFlags {
        let on = |b: u64| bits & 1 != 0 && bits & b != 0;
        NetworkFlags {
            enable: on(1),
            enable_remote_spawn: on(2),
            enable_remote_application_start: on(4),
            enable_fragmentation: on(8),
            enable_proxy_transit: on(16),
            enable_proxy_accept: on(32),
            enable_important_delivery: on(64),
        }
    }
}

impl EdfCustom for NetworkFlags {
    fn marshal(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_u64(self.bits());
        Ok(())
    }
    fn unmarshal(bytes: &[u8]) -> Result<NetworkFlags, EdfError> {
        let b: [u8; 8] = bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| EdfError::Custom("NetworkFlags: fewer than 8 bytes".into()))?;
        Ok(NetworkFlags::from_bits(u64::from_be_bytes(b)))
    }
}
crate::edf_struct!(NetworkFlags = "#ergo.services/ergo/gen/NetworkFlags" custom);

/// `gen.Route`: how to reach a node (registrar replies).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Route {
    /// Host to dial; empty: the host part of the node name.
    pub host: String,
    /// Acceptor port.
    pub port: u16,
    /// Dial with TLS.
    pub tls: bool,
    /// The acceptor's handshake version.
    pub handshake_version: Version,
    /// The acceptor's protocol version.
    pub proto_version: Version,
}
crate::edf_struct!(Route = "#ergo.services/ergo/gen/Route" {
    host: String, port: u16, tls: bool, handshake_version: Version, proto_version: Version,
});

/// `gen.MessageEvent` as it travels (an event's message with its event and time stamp).
#[derive(Clone, Debug, PartialEq)]
pub struct MessageEvent {
    /// The event.
    pub event: Event,
    /// Nanoseconds since the Unix epoch.
    pub timestamp: i64,
    /// The message.
    pub message: Value,
}
crate::edf_struct!(MessageEvent = "#ergo.services/ergo/gen/MessageEvent" {
    event: Event, timestamp: i64, message: Value,
});

/// EHS `MessageHello` (§2.3).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MessageHello {
    /// 64 random characters.
    pub salt: String,
    /// Hex SHA-256 digest.
    pub digest: String,
    /// TLS certificate digest (acceptor, TLS only).
    pub digest_cert: String,
}
crate::edf_struct!(MessageHello = "#ergo.services/ergo/net/handshake/MessageHello" {
    salt: String, digest: String, digest_cert: String,
});

/// EHS `MessageJoin` (§2.6): an extra pool link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageJoin {
    /// The dialer's node name.
    pub node: Name,
    /// The connection id from the acceptor's Accept.
    pub connection_id: String,
    /// Salt.
    pub salt: String,
    /// Digest.
    pub digest: String,
}
crate::edf_struct!(MessageJoin = "#ergo.services/ergo/net/handshake/MessageJoin" {
    node: Name, connection_id: String, salt: String, digest: String,
});

/// EHS `MessageIntroduce` (§2.3): a node's identity and the dictionaries it will encode with.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageIntroduce {
    /// The node's name.
    pub node: Name,
    /// The application version.
    pub version: Version,
    /// Network flags.
    pub flags: NetworkFlags,
    /// Node start time, Unix seconds.
    pub creation: i64,
    /// Largest frame the node accepts; 0 = unlimited.
    pub max_message_size: isize,
    /// Atom dictionary (ids ≥ 256).
    pub atom_cache: Option<OrderedMap<u16, Name>>,
    /// Registered-type dictionary (ids ≥ 4096).
    pub reg_cache: Option<OrderedMap<u16, String>>,
    /// Error dictionary (ids ≥ 32768).
    pub err_cache: Option<OrderedMap<u16, Option<ErrorValue>>>,
    /// Digest (dialer only).
    pub digest: String,
}
crate::edf_struct!(MessageIntroduce = "#ergo.services/ergo/net/handshake/MessageIntroduce" {
    node: Name, version: Version, flags: NetworkFlags, creation: i64, max_message_size: isize,
    atom_cache: Option<OrderedMap<u16, Name>>, reg_cache: Option<OrderedMap<u16, String>>,
    err_cache: Option<OrderedMap<u16, Option<ErrorValue>>>, digest: String,
});

impl MessageIntroduce {
    /// The dictionaries to decode this node's frames with (it encodes with what it advertised).
    ///
    /// # Errors
    /// [`EdfError::BadCacheId`] for an id outside its kind's range, [`EdfError::UnexpectedNil`]
    /// for a nil error entry.
    pub fn decode_caches(&self) -> Result<DecodeCaches, EdfError> {
        let mut c = DecodeCaches::new();
        for (id, a) in self.atom_cache.iter().flat_map(|m| &m.0) {
            c.insert_atom(*id, a)?;
        }
        for (id, r) in self.reg_cache.iter().flat_map(|m| &m.0) {
            c.insert_reg(*id, r)?;
        }
        for (id, e) in self.err_cache.iter().flat_map(|m| &m.0) {
            c.insert_error(*id, e.as_ref().ok_or(EdfError::UnexpectedNil)?.as_str())?;
        }
        Ok(c)
    }

    /// The dictionaries to encode our frames with, when this is the Introduce we sent.
    ///
    /// # Errors
    /// As [`MessageIntroduce::decode_caches`].
    pub fn encode_caches(&self) -> Result<EncodeCaches, EdfError> {
        let mut c = EncodeCaches::new();
        for (id, a) in self.atom_cache.iter().flat_map(|m| &m.0) {
            c.insert_atom(a, *id)?;
        }
        for (id, r) in self.reg_cache.iter().flat_map(|m| &m.0) {
            c.insert_reg(r, *id)?;
        }
        for (id, e) in self.err_cache.iter().flat_map(|m| &m.0) {
            c.insert_error(e.as_ref().ok_or(EdfError::UnexpectedNil)?.as_str(), *id)?;
        }
        Ok(c)
    }
}

/// EHS `MessageAccept` (§2.3, §2.6).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MessageAccept {
    /// Connection id (32 characters) for Joins.
    pub id: String,
    /// How many links the dialer should open.
    pub pool_size: isize,
    /// Where to open them (`ip:port`); nil in the dialer's final Accept.
    pub pool_dsn: Option<Vec<String>>,
    /// Digest (Join reply).
    pub digest: String,
    /// TLS certificate digest (Join reply, TLS).
    pub digest_cert: String,
}
crate::edf_struct!(MessageAccept = "#ergo.services/ergo/net/handshake/MessageAccept" {
    id: String, pool_size: isize, pool_dsn: Option<Vec<String>>, digest: String, digest_cert: String,
});

macro_rules! control {
    ($(#[$doc:meta] $name:ident = $wire:literal, $target:ty;)*) => {$(
        #[$doc]
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name {
            /// The requesting process.
            pub source: Pid,
            /// What it links to / monitors.
            pub target: $target,
            /// The request's reference (answered in [`MessageResult`]'s `ref`).
            pub r#ref: Ref,
        }
        crate::edf_struct!($name = $wire { source: Pid, target: $target, r#ref: Ref });
    )*};
}

control! {
    /// ENP `MessageLinkPID`.
    MessageLinkPid = "#ergo.services/ergo/net/proto/MessageLinkPID", Pid;
    /// ENP `MessageUnlinkPID`.
    MessageUnlinkPid = "#ergo.services/ergo/net/proto/MessageUnlinkPID", Pid;
    /// ENP `MessageLinkProcessID`.
    MessageLinkProcessId = "#ergo.services/ergo/net/proto/MessageLinkProcessID", ProcessId;
    /// ENP `MessageUnlinkProcessID`.
    MessageUnlinkProcessId = "#ergo.services/ergo/net/proto/MessageUnlinkProcessID", ProcessId;
    /// ENP `MessageLinkAlias`.
    MessageLinkAlias = "#ergo.services/ergo/net/proto/MessageLinkAlias", Alias;
    /// ENP `MessageUnlinkAlias`.
    MessageUnlinkAlias = "#ergo.services/ergo/net/proto/MessageUnlinkAlias", Alias;
    /// ENP `MessageLinkEvent`.
    MessageLinkEvent = "#ergo.services/ergo/net/proto/MessageLinkEvent", Event;
    /// ENP `MessageUnlinkEvent`.
    MessageUnlinkEvent = "#ergo.services/ergo/net/proto/MessageUnlinkEvent", Event;
    /// ENP `MessageMonitorPID`.
    MessageMonitorPid = "#ergo.services/ergo/net/proto/MessageMonitorPID", Pid;
    /// ENP `MessageDemonitorPID`.
    MessageDemonitorPid = "#ergo.services/ergo/net/proto/MessageDemonitorPID", Pid;
    /// ENP `MessageMonitorProcessID`.
    MessageMonitorProcessId = "#ergo.services/ergo/net/proto/MessageMonitorProcessID", ProcessId;
    /// ENP `MessageDemonitorProcessID`.
    MessageDemonitorProcessId = "#ergo.services/ergo/net/proto/MessageDemonitorProcessID", ProcessId;
    /// ENP `MessageMonitorAlias`.
    MessageMonitorAlias = "#ergo.services/ergo/net/proto/MessageMonitorAlias", Alias;
    /// ENP `MessageDemonitorAlias`.
    MessageDemonitorAlias = "#ergo.services/ergo/net/proto/MessageDemonitorAlias", Alias;
    /// ENP `MessageMonitorEvent`.
    MessageMonitorEvent = "#ergo.services/ergo/net/proto/MessageMonitorEvent", Event;
    /// ENP `MessageDemonitorEvent`.
    MessageDemonitorEvent = "#ergo.services/ergo/net/proto/MessageDemonitorEvent", Event;
}

/// ENP `MessageUpdateCache` (Go never sends it yet; a receiver merges the entries).
#[derive(Clone, Debug, PartialEq)]
pub struct MessageUpdateCache {
    /// New atom ids.
    pub atom_cache: Option<OrderedMap<u16, Name>>,
    /// Atom renames.
    pub atom_mapping: Option<OrderedMap<Name, Name>>,
    /// New registered-type ids.
    pub reg_cache: Option<OrderedMap<u16, String>>,
    /// New error ids.
    pub err_cache: Option<OrderedMap<u16, Option<ErrorValue>>>,
    /// The request's reference.
    pub r#ref: Ref,
}
crate::edf_struct!(MessageUpdateCache = "#ergo.services/ergo/net/proto/MessageUpdateCache" {
    atom_cache: Option<OrderedMap<u16, Name>>, atom_mapping: Option<OrderedMap<Name, Name>>,
    reg_cache: Option<OrderedMap<u16, String>>, err_cache: Option<OrderedMap<u16, Option<ErrorValue>>>,
    r#ref: Ref,
});

/// ENP `MessageResult`: the answer to a control request (`error` nil = success).
#[derive(Clone, Debug, PartialEq)]
pub struct MessageResult {
    /// Why the request failed; `None` on success.
    pub error: Option<ErrorValue>,
    /// A result (a PID for a spawn, `[]gen.MessageEvent` for an event link); usually nil.
    pub result: Value,
    /// The request's reference.
    pub r#ref: Ref,
}
crate::edf_struct!(MessageResult = "#ergo.services/ergo/net/proto/MessageResult" {
    error: Option<ErrorValue>, result: Value, r#ref: Ref,
});

/// ESRD `MessageRegisterRoutes` (44).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRegisterRoutes {
    /// The node registering.
    pub node: Name,
    /// Its routes.
    pub routes: Option<Vec<Route>>,
}
crate::edf_struct!(MessageRegisterRoutes = "#ergo.services/ergo/net/registrar/MessageRegisterRoutes" {
    node: Name, routes: Option<Vec<Route>>,
});

/// ESRD `MessageRegisterReply` (45).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRegisterReply {
    /// `None`: registered.
    pub error: Option<ErrorValue>,
}
crate::edf_struct!(MessageRegisterReply = "#ergo.services/ergo/net/registrar/MessageRegisterReply" {
    error: Option<ErrorValue>,
});

/// ESRD `MessageResolveRoutes` (46).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageResolveRoutes {
    /// The node to resolve.
    pub node: Name,
}
crate::edf_struct!(MessageResolveRoutes = "#ergo.services/ergo/net/registrar/MessageResolveRoutes" {
    node: Name,
});

/// ESRD `MessageResolveReply` (47).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageResolveReply {
    /// The node's routes (nil when unknown).
    pub routes: Option<Vec<Route>>,
    /// `None`: resolved.
    pub error: Option<ErrorValue>,
}
crate::edf_struct!(MessageResolveReply = "#ergo.services/ergo/net/registrar/MessageResolveReply" {
    routes: Option<Vec<Route>>, error: Option<ErrorValue>,
});

/// Registers every type of this module (called by [`Registry::new`]).
pub(crate) fn register_all(reg: &mut Registry) {
    macro_rules! all {
        ($($t:ty),* $(,)?) => {$(
            // A fresh registry holds none of these names: registration cannot fail.
            let _ = reg.register::<$t>();
        )*};
    }
    all!(
        Version,
        NetworkFlags,
        Route,
        MessageEvent,
        MessageHello,
        MessageJoin,
        MessageIntroduce,
        MessageAccept,
        MessageLinkPid,
        MessageUnlinkPid,
        MessageLinkProcessId,
        MessageUnlinkProcessId,
        MessageLinkAlias,
        MessageUnlinkAlias,
        MessageLinkEvent,
        MessageUnlinkEvent,
        MessageMonitorPid,
        MessageDemonitorPid,
        MessageMonitorProcessId,
        MessageDemonitorProcessId,
        MessageMonitorAlias,
        MessageDemonitorAlias,
        MessageMonitorEvent,
        MessageDemonitorEvent,
        MessageUpdateCache,
        MessageResult,
        MessageRegisterRoutes,
        MessageRegisterReply,
        MessageResolveRoutes,
        MessageResolveReply,
    );
}
