//! Network transparency: Ergo's wire protocols. The sans-IO layers are pure functions and state
//! machines over byte slices, with no sockets, no clocks of their own and no threads; the
//! io_uring glue that moves their bytes stays thin.
//!
//! - [`edf`]: EDF, the data format of every payload (values, registered types, caches).
//! - [`proto`]: ENP frames (the message protocol after the handshake): splitting a byte stream
//!   into frames, parsing and building each opcode's fixed fields, ordering, compression.
//! - [`handshake`]: EHS, the handshake that opens each TCP link: its frames, digests and the
//!   dialer and acceptor state machines.
//! - [`registrar`]: ESRD packet framing (the registrar that maps node names to ports).

pub(crate) mod compression;
pub mod edf;
pub(crate) mod events;
pub mod handshake;
pub(crate) mod link;
pub mod network;
pub mod proto;
pub mod registrar;
pub(crate) mod relations;
pub(crate) mod spawn;
pub mod tls;

pub use network::{NetworkMode, NetworkOptions, PeerInfo};
pub use proto::{Compression, CompressionLevel, CompressionType};
pub use tls::{NetworkTls, PemSource, TlsSetupError};
