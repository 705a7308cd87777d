//! [`EdfError`]: everything that can go wrong encoding or decoding EDF.

use thiserror::Error;

/// Which connection dictionary a cache id was looked up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheKind {
    /// The atom cache (ids 256 and up).
    Atom,
    /// The registered-type cache (ids 4096 and up).
    Reg,
    /// The error cache (ids 32768 and up).
    Error,
}

impl std::fmt::Display for CacheKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CacheKind::Atom => "atom",
            CacheKind::Reg => "registered type",
            CacheKind::Error => "error",
        })
    }
}

/// An EDF encoding or decoding failure. Decoding hostile input yields one of these, never a
/// panic.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EdfError {
    /// The input ended inside a value.
    #[error("EDF: truncated input")]
    Truncated,
    /// A type tag or value marker that is not valid where it was found.
    #[error("EDF: unexpected byte 0x{0:02x}")]
    BadTag(u8),
    /// A registered type name that the registry does not know (Go: "unknown reg type").
    #[error("EDF: unknown registered type {0:?}")]
    UnknownRegType(String),
    /// A cache id that the peer did not advertise.
    #[error("EDF: unknown {0} cache id {1}")]
    UnknownCacheId(CacheKind, u16),
    /// A value too long for its length field (atom > 255, string > 65535, error > 32767 bytes,
    /// type name > 4095, binary or count > u32).
    #[error("EDF: {0} too long")]
    TooLong(&'static str),
    /// A string, atom, name or error text that is not UTF-8.
    #[error("EDF: text is not UTF-8")]
    Utf8,
    /// A count (slice, map, array) larger than the bytes left: rejected before allocating.
    #[error("EDF: count {0} exceeds the remaining input")]
    CountTooLarge(u64),
    /// Values or type descriptions nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    #[error("EDF: nested too deep")]
    TooDeep,
    /// A node name could not be interned: the node-name table is full.
    #[error("EDF: node name table is full")]
    AtomTableFull,
    /// A value whose type differs from the one expected (a typed decode, or a [`Value`](super::Value)
    /// that does not fit its type description).
    #[error("EDF: type mismatch: expected {expected}, found {found}")]
    TypeMismatch {
        /// What the reader or the type description asked for.
        expected: String,
        /// What was there.
        found: String,
    },
    /// A nil where the type has none (a top-level nil, a nil non-optional error).
    #[error("EDF: unexpected nil")]
    UnexpectedNil,
    /// A Rust type with no EDF encoder in the registry (`Registry::encode_message`).
    #[error("EDF: type {0} is not registered")]
    NotRegistered(String),
    /// A type name registered twice (Go: `ErrTaken`).
    #[error("EDF: type name {0:?} is already registered")]
    Taken(String),
    /// A cache id outside its kind's range (atoms > 255, types > 4095, errors > 32767).
    #[error("EDF: {0} cache id {1} out of range")]
    BadCacheId(CacheKind, u16),
    /// Bytes after the value where none were expected (a type description longer than its
    /// type).
    #[error("EDF: {0} trailing bytes")]
    Trailing(usize),
    /// A custom (MarshalEDF / MarshalBinary) value refused its bytes.
    #[error("EDF: {0}")]
    Custom(String),
}
