//! EDF, Ergo's data format (PROTOCOL.md §4), sans-IO: encode into a caller's buffer, decode
//! from a borrowed slice. Owns the codec only; never touches a socket, never blocks.
//!
//! Two layers:
//!
//! * **typed**: the [`Edf`] trait, implemented for Rust's scalars, strings, vectors, arrays,
//!   maps, the identities ([`Pid`](crate::Pid), [`Ref`](crate::Ref), …), [`GoTime`] and
//!   [`ErrorValue`], and for registered types through [`edf_struct!`](crate::edf_struct).
//!   Encoding a scalar or a registered struct of scalars allocates nothing beyond the output
//!   buffer; length fields are reserved and patched in place.
//! * **dynamic**: [`Value`] decodes anything (a Go `any`, a type Rust does not know, Go's golden
//!   vectors) keeping map order, and re-encodes it byte for byte.
//!
//! Go type ↔ Rust type: `bool`, `int8`…`int64` ↔ `i8`…`i64`, Go `int`/`uint` ↔ `isize`/`usize`
//! (8 bytes on the wire), `uint8`…`uint64` ↔ `u8`…`u64`, `float32`/`float64` ↔ `f32`/`f64`,
//! `string` ↔ `String`, `[]byte` ↔ `Vec<u8>`, `gen.Atom` ↔ [`Name`](crate::Name), `[]T` ↔
//! `Vec<T>` / `Option<Vec<T>>` (nil), `[N]T` ↔ `[T; N]`, `map[K]V` ↔ `HashMap`/`BTreeMap`/
//! [`OrderedMap`] (and `Option`s for nil), `error` ↔ `Option<ErrorValue>`, `time.Time` ↔
//! [`GoTime`], `any` ↔ [`Value`].
//!
//! Connection dictionaries (§2.5): an [`Encoder`] writes short forms from the [`EncodeCaches`]
//! we advertised; a [`Decoder`] resolves the peer's ids through [`DecodeCaches`]. Either may be
//! absent: full forms are always written and always accepted.
//!
//! Hostile input: every decoder checks lengths before reading, a count larger than the bytes
//! left is refused before anything is allocated (so a decode allocates O(input)), nesting is
//! capped at [`MAX_DEPTH`], text must be UTF-8, and node names are interned through the bounded
//! node-name table, process and event names being reference-counted [`Name`](crate::Name)s.
//!
//! # Registering a type
//! ```
//! use ergors::net::edf::{Decoder, Encoder, ErrorValue, Registry, Value};
//!
//! // The Go side: `type Order struct { ID int; Items []string; Note any; Err error }`
//! // registered in package `shop` with `edf.RegisterTypeOf(Order{})`.
//! #[derive(Debug, PartialEq)]
//! pub struct Order {
//!     pub id: isize,
//!     pub items: Option<Vec<String>>,
//!     pub note: Value,
//!     pub err: Option<ErrorValue>,
//! }
//! ergors::edf_struct!(Order = "#shop/Order" {
//!     id: isize, items: Option<Vec<String>>, note: Value, err: Option<ErrorValue>,
//! });
//!
//! let mut reg = Registry::new();
//! reg.register::<Order>()?;
//!
//! let order = Order { id: 7, items: Some(vec!["tea".into()]), note: Value::Bool(true), err: None };
//! let mut buf = Vec::new();
//! Encoder::new(&mut buf).encode(&order)?;
//!
//! // Typed, when the receiver knows what to expect ...
//! assert_eq!(Decoder::new(&buf, &reg).decode::<Order>()?, order);
//! // ... or dynamic.
//! let Value::Reg(name, _) = Decoder::new(&buf, &reg).decode_value()? else { unreachable!() };
//! assert_eq!(&*name, "#shop/Order");
//! # Ok::<(), ergors::net::edf::EdfError>(())
//! ```

mod cache;
mod decoder;
mod encoder;
pub mod ergo_spawn;
pub mod ergo_types;
mod error;
mod ident;
mod macros;
mod registry;
mod time;
mod types;
mod value;

pub use cache::{DecodeCaches, EncodeCaches};
pub use decoder::Decoder;
pub use encoder::Encoder;
pub use error::{CacheKind, EdfError};
pub use macros::EdfCustom;
#[doc(hidden)]
pub use macros::{MapField, SliceField, decode_custom, encode_custom};
pub use registry::{EdfRegistered, RegShape, Registry};
pub use time::GoTime;
pub use types::{Edf, EdfMap, Kind, TypeDesc};
#[doc(hidden)]
pub use types::{decode_map, decode_reg_slice, encode_map, encode_reg_slice};
pub use value::{ErrorValue, OrderedMap, Value};

/// How deep values and type descriptions may nest when decoding (Go has no limit; without one a
/// hostile peer could overflow our stack with a few kilobytes of `[]any` in `[]any`).
pub const MAX_DEPTH: u32 = 100;

/// The type tags of §4.1.
pub mod tag {
    /// A type description follows (`u16 n` + n bytes).
    pub const TYPE: u8 = 0x82;
    /// A registered type: name or cache id; also the value marker of registered slices and maps.
    pub const REG: u8 = 0x83;
    /// `any` (in type descriptions).
    pub const ANY: u8 = 0x84;
    /// `gen.Atom`.
    pub const ATOM: u8 = 0x8c;
    /// `string`.
    pub const STRING: u8 = 0x8d;
    /// `[]byte`.
    pub const BINARY: u8 = 0x8e;
    /// `float32`.
    pub const FLOAT32: u8 = 0x8f;
    /// `float64`.
    pub const FLOAT64: u8 = 0x90;
    /// `bool`.
    pub const BOOL: u8 = 0x91;
    /// `int8`.
    pub const INT8: u8 = 0x92;
    /// `int16`.
    pub const INT16: u8 = 0x93;
    /// `int32`.
    pub const INT32: u8 = 0x94;
    /// `int64`.
    pub const INT64: u8 = 0x95;
    /// Go `int`.
    pub const INT: u8 = 0x96;
    /// `uint8`.
    pub const UINT8: u8 = 0x97;
    /// `uint16`.
    pub const UINT16: u8 = 0x98;
    /// `uint32`.
    pub const UINT32: u8 = 0x99;
    /// `uint64`.
    pub const UINT64: u8 = 0x9a;
    /// Go `uint`.
    pub const UINT: u8 = 0x9b;
    /// `error`.
    pub const ERROR: u8 = 0x9c;
    /// Slice (type and value marker).
    pub const SLICE: u8 = 0x9d;
    /// Array (type).
    pub const ARRAY: u8 = 0x9e;
    /// Map (type and value marker).
    pub const MAP: u8 = 0x9f;
    /// `gen.PID`.
    pub const PID: u8 = 0xaa;
    /// `gen.ProcessID`.
    pub const PROCESS_ID: u8 = 0xab;
    /// `gen.Alias`.
    pub const ALIAS: u8 = 0xac;
    /// `gen.Event`.
    pub const EVENT: u8 = 0xad;
    /// `gen.Ref`.
    pub const REF: u8 = 0xae;
    /// `time.Time`.
    pub const TIME: u8 = 0xaf;
    /// nil.
    pub const NIL: u8 = 0xff;
}
