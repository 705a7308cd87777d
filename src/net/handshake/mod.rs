//! EHS, Ergo's handshake (§2): the first frames on each TCP link, which prove the shared
//! cookie both ways, exchange the nodes' identities and encoding dictionaries, and attach
//! additional pool links to a connection ("join").
//!
//! Sans-IO: [`read_frame`] / [`write_frame`] / [`FrameReader`] handle the `'W'` frames around
//! EDF payloads (as byte slices); [`Dialer`] and [`Acceptor`] are state machines fed with
//! *decoded* messages ([`HandshakeMessage`]) and an explicit `now`, producing messages to send,
//! a deadline, and finally an [`Established`] or [`Joined`]. Encoding the messages is the EDF
//! codec's job; moving bytes is the connection glue's.

pub mod digest;
mod flags;
mod frame;
mod machine;
mod messages;

pub use digest::CertFingerprint;
pub use flags::NetworkFlags;
pub use frame::{FrameReader, HEADER_LEN, HandshakeFrameError, MAGIC, MAX_PAYLOAD, VERSION, read_frame, write_frame};
pub use machine::{
    Acceptor, DEFAULT_POOL_SIZE, Dialer, Established, Expecting, HandshakeConfig, HandshakeError, JoinGuard,
    JoinRefusal, JoinRequest, Joined, MAX_JOINS_PER_CONNECTION, MAX_POOL_SIZE, MESSAGE_TIMEOUT, Progress,
};
pub use messages::{Accept, HandshakeMessage, Hello, Introduce, Join, Version};
