//! Compressed frames (opcode 200, §3.6): inflating what a peer sent, with a hard cap on the
//! inflated size, and deflating a built frame before it is sent.
//!
//! Layout after the 8-byte header: the compression type (100 LZW, 101 zlib, 102 gzip), the
//! u32 length of the inner frame, then the compressed bytes of the whole inner frame, its own
//! header included. The outer header's order byte is the inner frame's.

use super::frame::{Enp, Frame, FrameWriter};
use super::header::{HEADER_LEN, Opcode};
use super::{BuildError, FrameError};
use std::io::{self, Read, Write};

/// Frames longer than this are compressed when a process asks for compression (Ergo's
/// default `Compression.Threshold`).
pub const DEFAULT_COMPRESSION_THRESHOLD: usize = 1024;

/// The inflate cap to use when no maximum message size is set (Go has none and trusts the
/// declared length, which lets 13 bytes make it allocate 4 GiB).
pub const DEFAULT_INFLATE_CAP: usize = 64 << 20;

/// Compression algorithms of ENP (Ergo's `gen.CompressionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompressionType {
    /// 100: Go's `compress/lzw`, least significant bit first, 8-bit literals.
    Lzw,
    /// 101: zlib (RFC 1950).
    Zlib,
    /// 102: gzip (RFC 1952), Ergo's default.
    #[default]
    Gzip,
}

impl CompressionType {
    /// The type byte on the wire.
    pub fn byte(self) -> u8 {
        match self {
            CompressionType::Lzw => 100,
            CompressionType::Zlib => 101,
            CompressionType::Gzip => 102,
        }
    }

    /// The type for a byte, if it is one.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            100 => Some(CompressionType::Lzw),
            101 => Some(CompressionType::Zlib),
            102 => Some(CompressionType::Gzip),
            _ => None,
        }
    }
}

/// Ergo's compression levels (used by gzip; zlib and LZW have one level in Go).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompressionLevel {
    /// Ergo's 0.
    #[default]
    Default,
    /// Ergo's 1.
    BestSpeed,
    /// Ergo's 2.
    BestSize,
}

impl CompressionLevel {
    fn flate(self) -> flate2::Compression {
        match self {
            CompressionLevel::Default => flate2::Compression::default(),
            CompressionLevel::BestSpeed => flate2::Compression::fast(),
            CompressionLevel::BestSize => flate2::Compression::best(),
        }
    }
}

/// How a process compresses what it sends to other nodes (Ergo's `gen.Compression`): frames
/// longer than `threshold` bytes (header included, as Go counts) go out wrapped in a
/// compressed frame (opcode 200) when `enabled`. Set per process with
/// `Context::set_compression*` or `SpawnOptions::compression`; the node's default is
/// `NetworkOptions::compression` (`ERGORS_NET_COMPRESSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Compression {
    /// Compress at all (off by default, as in Ergo).
    pub enabled: bool,
    /// The algorithm (gzip by default).
    pub kind: CompressionType,
    /// The level (gzip only; zlib and LZW have one level, as in Go).
    pub level: CompressionLevel,
    /// Frames of at most this many bytes go out as they are (Ergo's default 1024, also its
    /// least accepted value).
    pub threshold: usize,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            enabled: false,
            kind: CompressionType::Gzip,
            level: CompressionLevel::Default,
            threshold: DEFAULT_COMPRESSION_THRESHOLD,
        }
    }
}

impl Compression {
    /// Compression on with `kind` and the default level and threshold.
    pub fn on(kind: CompressionType) -> Self {
        Compression { enabled: true, kind, ..Default::default() }
    }

    /// Parses the `ERGORS_NET_COMPRESSION` form: `off`, or `<type>[:<level>][:<threshold>]`
    /// with type `gzip`, `zlib` or `lzw`, level `default`, `best-speed` or `best-size`, and a
    /// threshold of at least 1024 bytes. `None` for anything else.
    pub fn parse(s: &str) -> Option<Compression> {
        if s == "off" {
            return Some(Compression::default());
        }
        let mut parts = s.split(':');
        let kind = match parts.next()? {
            "gzip" => CompressionType::Gzip,
            "zlib" => CompressionType::Zlib,
            "lzw" => CompressionType::Lzw,
            _ => return None,
        };
        let mut c = Compression::on(kind);
        for part in parts {
            match part {
                "default" => c.level = CompressionLevel::Default,
                "best-speed" => c.level = CompressionLevel::BestSpeed,
                "best-size" => c.level = CompressionLevel::BestSize,
                n => {
                    c.threshold = n.parse().ok().filter(|t| *t >= DEFAULT_COMPRESSION_THRESHOLD)?;
                }
            }
        }
        Some(c)
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.enabled {
            return f.write_str("off");
        }
        let kind = match self.kind {
            CompressionType::Gzip => "gzip",
            CompressionType::Zlib => "zlib",
            CompressionType::Lzw => "lzw",
        };
        let level = match self.level {
            CompressionLevel::Default => "default",
            CompressionLevel::BestSpeed => "best-speed",
            CompressionLevel::BestSize => "best-size",
        };
        write!(f, "{kind}:{level}:{}", self.threshold)
    }
}

/// Why a compressed frame could not be inflated. The frame is dropped (Go logs and ignores
/// it); the link stays.
#[derive(Debug, thiserror::Error)]
pub enum InflateError {
    /// The frame is not a compressed one.
    #[error("frame with opcode {0} is not compressed")]
    NotCompressed(u8),
    /// The compression type byte is none of 100, 101, 102.
    #[error("unknown compression type {0}")]
    UnknownType(u8),
    /// The declared inner length is above the cap.
    #[error("compressed frame declares {declared} bytes, above the cap of {cap}")]
    TooLarge {
        /// The declared inner length.
        declared: u32,
        /// The cap in force.
        cap: usize,
    },
    /// The stream inflated to more or fewer bytes than declared (more: reading stopped at
    /// the declared length plus one).
    #[error("compressed frame declares {declared} bytes but inflates to {actual}{more}", more = if *.actual > *.declared as usize { " or more" } else { "" })]
    SizeMismatch {
        /// The declared inner length.
        declared: u32,
        /// What was read.
        actual: usize,
    },
    /// The compressed stream is corrupt.
    #[error("corrupt compressed stream: {0}")]
    Corrupt(#[source] io::Error),
    /// The inner frame is itself compressed (Go would inflate again; we refuse a second
    /// round, so one frame's work stays bounded by one cap).
    #[error("compressed frame inside a compressed frame")]
    Nested,
    /// The inner bytes are not one ENP frame.
    #[error("inner frame: {0}")]
    Inner(#[source] FrameError),
}

/// Inflates a [`Enp::Compressed`] frame into `out` (cleared first): afterwards `out` holds the
/// inner frame, header included, ready for [`Frame::parse`].
///
/// `cap` bounds the inflated size; pass our maximum message size, or
/// [`DEFAULT_INFLATE_CAP`] without one. Memory grows with the bytes actually inflated, never
/// with the declared length alone.
///
/// # Errors
///
/// [`InflateError`]: not a compressed frame, unknown type, declared length above `cap`, a
/// corrupt stream, a length other than declared, a nested compressed frame, or inner bytes
/// whose header is not a frame of exactly that length.
pub fn inflate(frame: &Frame<'_>, cap: usize, out: &mut Vec<u8>) -> Result<(), InflateError> {
    let Enp::Compressed { kind, original_len } = frame.enp else {
        return Err(InflateError::NotCompressed(frame.enp.opcode()));
    };
    let kind = CompressionType::from_byte(kind).ok_or(InflateError::UnknownType(kind))?;
    if original_len as usize > cap {
        return Err(InflateError::TooLarge { declared: original_len, cap });
    }
    out.clear();
    // Reserve for the common case, but never on the say-so of the declared length alone.
    out.reserve((original_len as usize).min(frame.payload.len().saturating_mul(64)).min(1 << 20));
    // One byte more than declared is enough to tell "too long" without inflating a bomb.
    let limit = u64::from(original_len) + 1;
    let data = frame.payload;
    match kind {
        CompressionType::Gzip => {
            flate2::read::MultiGzDecoder::new(data).take(limit).read_to_end(out).map_err(InflateError::Corrupt)?;
        }
        CompressionType::Zlib => {
            flate2::read::ZlibDecoder::new(data).take(limit).read_to_end(out).map_err(InflateError::Corrupt)?;
        }
        CompressionType::Lzw => lzw_inflate(data, limit as usize, out)?,
    }
    if out.len() != original_len as usize {
        return Err(InflateError::SizeMismatch { declared: original_len, actual: out.len() });
    }
    match Frame::parse(out) {
        Ok(inner) if inner.enp.opcode() == Opcode::Compressed.byte() => Err(InflateError::Nested),
        Ok(_) | Err(FrameError::Truncated { .. }) => Ok(()),
        Err(e) => Err(InflateError::Inner(e)),
    }
}

fn lzw_inflate(mut data: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), InflateError> {
    let corrupt = |what: &str| InflateError::Corrupt(io::Error::new(io::ErrorKind::InvalidData, what.to_owned()));
    let mut decoder = weezl::decode::Decoder::new(weezl::BitOrder::Lsb, 8);
    let mut chunk = [0u8; 4096];
    loop {
        let room = (limit - out.len().min(limit)).min(chunk.len());
        let result = decoder.decode_bytes(data, &mut chunk[..room]);
        data = &data[result.consumed_in..];
        out.extend_from_slice(&chunk[..result.consumed_out]);
        match result.status {
            Ok(weezl::LzwStatus::Done) => return Ok(()),
            Err(e) => return Err(corrupt(&e.to_string())),
            // Out of room: the stream is longer than declared; the caller reports the size.
            _ if out.len() >= limit => return Ok(()),
            Ok(weezl::LzwStatus::NoProgress) => return Err(corrupt("LZW stream ends without its end code")),
            Ok(weezl::LzwStatus::Ok) if result.consumed_in == 0 && result.consumed_out == 0 => {
                return Err(corrupt("LZW stream ends without its end code"));
            }
            Ok(weezl::LzwStatus::Ok) => {}
        }
    }
}

/// Appends to `out` a compressed frame (opcode 200) wrapping `inner`, a whole frame built by
/// [`FrameWriter::write`]: its header's order byte is copied, as Go does. Returns the
/// compressed frame's length. Call it for frames longer than the process's threshold
/// ([`DEFAULT_COMPRESSION_THRESHOLD`]); the uncompressed frame can then be dropped.
///
/// # Errors
///
/// [`BuildError::TooLarge`] if the compressed frame exceeds `writer`'s limit (Go checks the
/// frame as sent, after compression), [`BuildError::Payload`] if the compressor fails or
/// `inner` is shorter than a header. `out` is left as it was on error.
pub fn deflate(
    writer: &FrameWriter,
    out: &mut Vec<u8>,
    inner: &[u8],
    kind: CompressionType,
    level: CompressionLevel,
) -> Result<usize, BuildError<io::Error>> {
    if inner.len() < HEADER_LEN {
        return Err(BuildError::Payload(io::Error::new(io::ErrorKind::InvalidInput, "inner frame without header")));
    }
    let original_len =
        u32::try_from(inner.len()).map_err(|_| BuildError::TooLarge { len: inner.len(), max: u32::MAX as usize })?;
    let enp = Enp::Compressed { kind: kind.byte(), original_len };
    writer.write(out, inner[6], &enp, |buf| match kind {
        CompressionType::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(buf, level.flate());
            encoder.write_all(inner)?;
            encoder.finish().map(drop)
        }
        CompressionType::Zlib => {
            let mut encoder = flate2::write::ZlibEncoder::new(buf, flate2::Compression::default());
            encoder.write_all(inner)?;
            encoder.finish().map(drop)
        }
        CompressionType::Lzw => {
            let mut encoder = weezl::encode::Encoder::new(weezl::BitOrder::Lsb, 8);
            let result = encoder.into_vec(buf).encode_all(inner);
            result.status.map(drop).map_err(|e| io::Error::other(e.to_string()))
        }
    })
}
