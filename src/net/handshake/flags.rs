//! `gen.NetworkFlags`: what a node offers its peers, exchanged in Introduce (§2.4).

use std::fmt;
use std::ops::BitOr;

/// A node's network flags, as the u64 bitmask Go puts on the wire (inside an EDF blob, which
/// the EDF codec writes).
///
/// As in Go, a mask without [`ENABLE`](NetworkFlags::ENABLE) means "nothing" (every other bit is
/// ignored), and bits Go does not know are dropped, so a value read from the wire compares
/// equal to what Go would re-encode.
///
/// # Examples
///
/// ```
/// use ergors::net::handshake::NetworkFlags;
/// let go = NetworkFlags::from_bits(0x67);
/// assert_eq!(go, NetworkFlags::GO_DEFAULT);
/// assert!(go.contains(NetworkFlags::IMPORTANT_DELIVERY));
/// assert_eq!(NetworkFlags::from_bits(0x66), NetworkFlags::NONE); // no Enable bit
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NetworkFlags(u64);

impl NetworkFlags {
    /// No flag (what Go encodes when `Enable` is false).
    pub const NONE: NetworkFlags = NetworkFlags(0);
    /// `Enable`: the other flags mean something.
    pub const ENABLE: NetworkFlags = NetworkFlags(1);
    /// `EnableRemoteSpawn`.
    pub const REMOTE_SPAWN: NetworkFlags = NetworkFlags(2);
    /// `EnableRemoteApplicationStart`.
    pub const REMOTE_APPLICATION_START: NetworkFlags = NetworkFlags(4);
    /// `EnableFragmentation` (not implemented by Go).
    pub const FRAGMENTATION: NetworkFlags = NetworkFlags(8);
    /// `EnableProxyTransit` (not implemented by Go).
    pub const PROXY_TRANSIT: NetworkFlags = NetworkFlags(16);
    /// `EnableProxyAccept` (not implemented by Go).
    pub const PROXY_ACCEPT: NetworkFlags = NetworkFlags(32);
    /// `EnableImportantDelivery`: the node acknowledges important messages (§3.5).
    pub const IMPORTANT_DELIVERY: NetworkFlags = NetworkFlags(64);
    /// What a Go node announces by default: Enable, RemoteSpawn, RemoteApplicationStart,
    /// ProxyAccept, ImportantDelivery (`0x67`).
    pub const GO_DEFAULT: NetworkFlags = NetworkFlags(0x67);

    const KNOWN: u64 = 0x7f;

    /// Flags from the wire's bitmask, read as Go reads them.
    pub fn from_bits(bits: u64) -> NetworkFlags {
        if bits & 1 == 0 { NetworkFlags::NONE } else { NetworkFlags(bits & NetworkFlags::KNOWN) }
    }

    /// The bitmask to put on the wire.
    pub fn bits(self) -> u64 {
        self.0
    }

    /// Whether every flag of `other` is set (and, unless `other` is empty, Enable too).
    pub fn contains(self, other: NetworkFlags) -> bool {
        self.0 & other.0 == other.0 && (other.0 == 0 || self.0 & 1 == 1)
    }

    /// These flags with `other`'s added (and Enable, which they imply).
    pub fn with(self, other: NetworkFlags) -> NetworkFlags {
        if other.0 == 0 { self } else { NetworkFlags(self.0 | other.0 | 1) }
    }

    /// These flags without `other`'s (removing Enable removes everything).
    pub fn without(self, other: NetworkFlags) -> NetworkFlags {
        NetworkFlags::from_bits(self.0 & !other.0)
    }
}

impl BitOr for NetworkFlags {
    type Output = NetworkFlags;
    fn bitor(self, rhs: NetworkFlags) -> NetworkFlags {
        self.with(rhs)
    }
}

impl fmt::Debug for NetworkFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 7] = [
            "Enable",
            "RemoteSpawn",
            "RemoteApplicationStart",
            "Fragmentation",
            "ProxyTransit",
            "ProxyAccept",
            "ImportantDelivery",
        ];
        let set: Vec<&str> =
            NAMES.iter().enumerate().filter(|(i, _)| self.0 & (1 << i) != 0).map(|(_, n)| *n).collect();
        write!(f, "NetworkFlags({:#x}: {})", self.0, set.join("|"))
    }
}
