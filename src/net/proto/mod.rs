//! ENP, Ergo's message protocol after the handshake: frames on a TCP link.
//!
//! This module owns the bytes *around* the EDF payloads: the 8-byte header, each opcode's fixed
//! fields, splitting a received byte stream into frames, building frames into a send buffer,
//! the ordering rules that spread frames over a pool of links, compression (opcode 200) and the
//! important-delivery acknowledgement. It never encodes or decodes an EDF value (payloads are
//! byte slices) and never touches a socket: the connection glue feeds it bytes.
//!
//! Receiving: push bytes into a [`FrameSplitter`] (or call [`frame_len`] on a buffer of your
//! own), take whole frames, [`Frame::parse`] each (zero copy), hand a [`Enp::Compressed`] frame to
//! [`inflate`] and parse what it returns. Sending: [`FrameWriter::write`] appends one frame to the
//! connection's send buffer and lets a closure write the payload in place.
//!
//! Errors split in two: a [`FrameError`] from the splitter (wrong magic or version, an impossible
//! or oversized length) means the stream can no longer be trusted and the link must close; a
//! [`FrameError::Truncated`] from [`Frame::parse`] or an [`InflateError`] spoils one frame, which
//! the caller drops and logs, as Go does.

mod build;
mod compress;
mod frame;
mod header;
pub mod order;
mod split;

pub use build::{Recipient, Terminated};
pub use compress::{
    Compression, CompressionLevel, CompressionType, DEFAULT_COMPRESSION_THRESHOLD, DEFAULT_INFLATE_CAP, InflateError,
    deflate, inflate,
};
pub use frame::{Enp, Frame, FrameWriter, Prio, ResponseCode, ack_id_of_ref, important_ack};
pub use header::{HEADER_LEN, Header, MAGIC, Opcode, VERSION};
pub use split::{FrameSplitter, frame_len};

use std::convert::Infallible;

/// Why a received ENP frame was refused.
///
/// [`closes_link`](FrameError::closes_link) tells which errors make the rest of the stream
/// unreadable (the link must close) and which spoil one frame only (drop it, log, go on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The first byte is not `'N'`: the stream is not ENP, or it lost its frame boundaries.
    #[error("not an ENP frame: magic byte {0:#04x}, expected 0x4e ('N')")]
    BadMagic(u8),
    /// The version byte is not 1.
    #[error("unsupported ENP version {0} (expected 1)")]
    BadVersion(u8),
    /// The length field is smaller than the header it includes.
    #[error("ENP frame length {0} is shorter than its 8-byte header")]
    LengthTooShort(u32),
    /// The frame is longer than the negotiated maximum message size.
    #[error("ENP frame of {len} bytes exceeds the maximum message size of {max} bytes")]
    TooLarge {
        /// The frame's length field.
        len: u32,
        /// The limit in force.
        max: u32,
    },
    /// [`Frame::parse`] was given a slice whose length is not the frame's length field.
    #[error("ENP frame says {declared} bytes but {actual} were given")]
    LengthMismatch {
        /// The frame's length field.
        declared: u32,
        /// The length of the slice.
        actual: usize,
    },
    /// The frame is too short for its opcode's fixed fields (Go logs such a frame as malformed
    /// and drops it; the link stays).
    #[error("ENP frame with opcode {opcode} is too short ({len} bytes) for its fixed fields")]
    Truncated {
        /// The opcode byte.
        opcode: u8,
        /// The frame's length.
        len: usize,
    },
}

impl FrameError {
    /// Whether the link must close (the stream is no longer framed) rather than drop one frame.
    pub fn closes_link(&self) -> bool {
        !matches!(self, FrameError::Truncated { .. })
    }
}

/// Why a frame (or a handshake frame, or a registrar packet) could not be built. The send
/// buffer is left as it was before the attempt.
#[derive(Debug, thiserror::Error)]
pub enum BuildError<E = Infallible> {
    /// The frame would exceed the peer's maximum message size (Go's `ErrTooLarge`), or the
    /// length field of its format.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The frame's length, or its payload's where the format limits the payload.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A name field is longer than its 1-byte length allows (255).
    #[error("name of {0} bytes is longer than 255")]
    NameTooLong(usize),
    /// The payload writer failed.
    #[error("payload: {0}")]
    Payload(#[source] E),
}
