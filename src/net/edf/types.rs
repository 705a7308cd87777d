//! The typed layer: the [`Edf`] trait, [`TypeDesc`] (a type description, §4.3) and the
//! implementations for Rust's scalars, strings, byte vectors, vectors, arrays and maps.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Arc;

use super::decoder::Decoder;
use super::encoder::Encoder;
use super::error::EdfError;
use super::tag;
use super::value::{ErrorValue, OrderedMap};
use crate::Name;

/// How a type is written at top level or in an `any` position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One tag byte, then the value (numbers, strings, atoms, identities, errors, time).
    Scalar,
    /// `0x82 · u16 n · description`, then the value (slices, arrays, maps).
    Composite,
    /// `0x83 · name` (or cache id), then the value.
    Registered,
    /// Go's `any`: the value carries its own type ([`Value`](super::Value)).
    Any,
}

/// A type description (§4.3): what follows `0x82`, and what a registered type's fields,
/// items and keys are made of.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TypeDesc {
    /// Go `any` (`0x84`): each value carries its own type.
    Any,
    /// `gen.Atom` (a [`Name`]).
    Atom,
    /// `string`.
    String,
    /// `[]byte`.
    Binary,
    /// `float32`.
    F32,
    /// `float64`.
    F64,
    /// `bool`.
    Bool,
    /// `int8`.
    I8,
    /// `int16`.
    I16,
    /// `int32`.
    I32,
    /// `int64`.
    I64,
    /// Go `int` (8 bytes; Rust `isize`).
    Int,
    /// `uint8`.
    U8,
    /// `uint16`.
    U16,
    /// `uint32`.
    U32,
    /// `uint64`.
    U64,
    /// Go `uint` (8 bytes; Rust `usize`).
    Uint,
    /// `error`.
    Error,
    /// `gen.PID`.
    Pid,
    /// `gen.ProcessID`.
    ProcessId,
    /// `gen.Alias`.
    Alias,
    /// `gen.Event`.
    Event,
    /// `gen.Ref`.
    Ref,
    /// `time.Time`.
    Time,
    /// `[]T`.
    Slice(Arc<TypeDesc>),
    /// `[n]T`.
    Array(u32, Arc<TypeDesc>),
    /// `map[K]V`.
    Map(Arc<TypeDesc>, Arc<TypeDesc>),
    /// A registered type, by its wire name.
    Reg(Arc<str>),
}

impl TypeDesc {
    /// The one-byte tag of a scalar type (or `any`); `None` for slices, arrays, maps and
    /// registered types.
    pub fn scalar_tag(&self) -> Option<u8> {
        Some(match self {
            TypeDesc::Any => tag::ANY,
            TypeDesc::Atom => tag::ATOM,
            TypeDesc::String => tag::STRING,
            TypeDesc::Binary => tag::BINARY,
            TypeDesc::F32 => tag::FLOAT32,
            TypeDesc::F64 => tag::FLOAT64,
            TypeDesc::Bool => tag::BOOL,
            TypeDesc::I8 => tag::INT8,
            TypeDesc::I16 => tag::INT16,
            TypeDesc::I32 => tag::INT32,
            TypeDesc::I64 => tag::INT64,
            TypeDesc::Int => tag::INT,
            TypeDesc::U8 => tag::UINT8,
            TypeDesc::U16 => tag::UINT16,
            TypeDesc::U32 => tag::UINT32,
            TypeDesc::U64 => tag::UINT64,
            TypeDesc::Uint => tag::UINT,
            TypeDesc::Error => tag::ERROR,
            TypeDesc::Pid => tag::PID,
            TypeDesc::ProcessId => tag::PROCESS_ID,
            TypeDesc::Alias => tag::ALIAS,
            TypeDesc::Event => tag::EVENT,
            TypeDesc::Ref => tag::REF,
            TypeDesc::Time => tag::TIME,
            TypeDesc::Slice(_) | TypeDesc::Array(..) | TypeDesc::Map(..) | TypeDesc::Reg(_) => return None,
        })
    }

    /// The scalar type of a tag byte.
    pub fn from_scalar_tag(t: u8) -> Option<TypeDesc> {
        Some(match t {
            tag::ANY => TypeDesc::Any,
            tag::ATOM => TypeDesc::Atom,
            tag::STRING => TypeDesc::String,
            tag::BINARY => TypeDesc::Binary,
            tag::FLOAT32 => TypeDesc::F32,
            tag::FLOAT64 => TypeDesc::F64,
            tag::BOOL => TypeDesc::Bool,
            tag::INT8 => TypeDesc::I8,
            tag::INT16 => TypeDesc::I16,
            tag::INT32 => TypeDesc::I32,
            tag::INT64 => TypeDesc::I64,
            tag::INT => TypeDesc::Int,
            tag::UINT8 => TypeDesc::U8,
            tag::UINT16 => TypeDesc::U16,
            tag::UINT32 => TypeDesc::U32,
            tag::UINT64 => TypeDesc::U64,
            tag::UINT => TypeDesc::Uint,
            tag::ERROR => TypeDesc::Error,
            tag::PID => TypeDesc::Pid,
            tag::PROCESS_ID => TypeDesc::ProcessId,
            tag::ALIAS => TypeDesc::Alias,
            tag::EVENT => TypeDesc::Event,
            tag::REF => TypeDesc::Ref,
            tag::TIME => TypeDesc::Time,
            _ => return None,
        })
    }

    /// How a value of this type is written at top level.
    pub fn kind(&self) -> Kind {
        match self {
            TypeDesc::Any => Kind::Any,
            TypeDesc::Slice(_) | TypeDesc::Array(..) | TypeDesc::Map(..) => Kind::Composite,
            TypeDesc::Reg(_) => Kind::Registered,
            _ => Kind::Scalar,
        }
    }

    /// Writes the description (registered names through the encoder's cache).
    ///
    /// # Errors
    /// [`EdfError::TooLong`] for a registered name over 4095 bytes.
    pub fn write(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        if let Some(t) = self.scalar_tag() {
            enc.put_u8(t);
            return Ok(());
        }
        match self {
            TypeDesc::Slice(item) => {
                enc.put_u8(tag::SLICE);
                item.write(enc)
            }
            TypeDesc::Array(n, item) => {
                enc.put_u8(tag::ARRAY);
                enc.put_u32(*n);
                item.write(enc)
            }
            TypeDesc::Map(k, v) => {
                enc.put_u8(tag::MAP);
                k.write(enc)?;
                v.write(enc)
            }
            TypeDesc::Reg(name) => enc.put_reg_name(name),
            _ => Ok(()),
        }
    }

    /// Reads a description. A registered name must be known to the decoder's registry (as Go
    /// requires).
    ///
    /// # Errors
    /// [`EdfError::BadTag`], [`EdfError::UnknownRegType`], [`EdfError::TooDeep`],
    /// [`EdfError::Truncated`].
    pub fn read(dec: &mut Decoder<'_>) -> Result<TypeDesc, EdfError> {
        let t = dec.read_u8()?;
        if let Some(d) = TypeDesc::from_scalar_tag(t) {
            return Ok(d);
        }
        dec.enter()?;
        let d = match t {
            tag::SLICE => TypeDesc::Slice(Arc::new(TypeDesc::read(dec)?)),
            tag::ARRAY => {
                let n = dec.read_u32()?;
                TypeDesc::Array(n, Arc::new(TypeDesc::read(dec)?))
            }
            tag::MAP => {
                let k = TypeDesc::read(dec)?;
                TypeDesc::Map(Arc::new(k), Arc::new(TypeDesc::read(dec)?))
            }
            tag::REG => {
                let name = dec.read_reg_name()?;
                TypeDesc::Reg(dec.registry().lookup(name)?.name.clone())
            }
            other => return Err(EdfError::BadTag(other)),
        };
        dec.leave();
        Ok(d)
    }
}

/// How many of `n` announced items of type `T` to reserve room for up front. A count is checked
/// against the bytes left, but one byte of input may stand for a large `T`: beyond 64 KiB the
/// vector grows with the items actually decoded, so a lying count costs no more than the truth.
pub(crate) fn prealloc<T>(n: usize) -> usize {
    const MAX_PREALLOC: usize = 64 * 1024;
    n.min(MAX_PREALLOC / std::mem::size_of::<T>().max(1))
}

/// A Rust type with an EDF encoding. `encode`/`decode` handle the value bytes only (as inside a
/// struct, or as slice items); the type (tag, `0x82` header, `0x83` name) is written by the
/// top-level [`Encoder::encode`](super::Encoder::encode) through `write_type`/`read_type`.
///
/// Implemented for `bool`, the integers (`isize`/`usize` are Go's `int`/`uint`), `f32`, `f64`,
/// `String` (string), [`Name`] (atom), `Vec<u8>` (`[]byte`), `Vec<T>` and `Option<Vec<T>>`
/// (slices; `None` is nil), `[T; N]` (arrays), `HashMap`, `BTreeMap`, [`OrderedMap`] and their
/// `Option`s (maps), [`ErrorValue`] / `Option<ErrorValue>` (error), [`GoTime`](super::GoTime),
/// the identities ([`Pid`](crate::Pid), [`Ref`](crate::Ref), [`Alias`](crate::Alias),
/// [`ProcessId`](crate::ProcessId), [`Event`](crate::Event)) and [`Value`](super::Value) (`any`).
/// Registered types get it from [`edf_struct!`](crate::edf_struct).
pub trait Edf: Sized {
    /// How the type is written at top level.
    const KIND: Kind;

    /// The type's description (for registry shapes and dynamic decoding).
    fn edf_type() -> TypeDesc;

    /// Writes the type: a scalar's tag, `0x83` and a registered name, or a composite's
    /// description (without the `0x82` header).
    ///
    /// # Errors
    /// [`EdfError::TooLong`] for an over-long registered name.
    fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError>;

    /// Reads the type as `write_type` writes it and checks that it is this type.
    ///
    /// # Errors
    /// [`EdfError::BadTag`] or [`EdfError::TypeMismatch`] for another type.
    fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError>;

    /// Writes the value bytes (no type).
    ///
    /// # Errors
    /// [`EdfError::TooLong`] for a length that does not fit its field, and type-specific errors.
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError>;

    /// Reads the value bytes (no type).
    ///
    /// # Errors
    /// Any decoding error.
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, EdfError>;

    // Slices of this type. Overridden by `u8` alone: Go's `[]uint8` is `[]byte`, a binary.

    #[doc(hidden)]
    const SLICE_KIND: Kind = Kind::Composite;
    #[doc(hidden)]
    fn slice_edf_type() -> TypeDesc {
        TypeDesc::Slice(Arc::new(Self::edf_type()))
    }
    #[doc(hidden)]
    fn write_slice_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_u8(tag::SLICE);
        Self::write_type(enc)
    }
    #[doc(hidden)]
    fn read_slice_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
        dec.expect(tag::SLICE)?;
        Self::read_type(dec)
    }
    #[doc(hidden)]
    fn encode_slice(items: Option<&[Self]>, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        let Some(items) = items else {
            enc.put_u8(tag::NIL);
            return Ok(());
        };
        enc.put_u8(tag::SLICE);
        enc.put_count(items.len())?;
        items.iter().try_for_each(|i| i.encode(enc))
    }
    #[doc(hidden)]
    fn decode_slice(dec: &mut Decoder<'_>) -> Result<Option<Vec<Self>>, EdfError> {
        match dec.read_u8()? {
            tag::NIL => Ok(None),
            tag::SLICE => {
                let n = dec.read_count()?;
                let mut v = Vec::with_capacity(prealloc::<Self>(n));
                for _ in 0..n {
                    v.push(Self::decode(dec)?);
                }
                Ok(Some(v))
            }
            b => Err(EdfError::BadTag(b)),
        }
    }
}

macro_rules! scalar {
    ($t:ty, $tag:ident, $desc:ident, $enc:expr, $dec:expr) => {
        impl Edf for $t {
            const KIND: Kind = Kind::Scalar;
            fn edf_type() -> TypeDesc {
                TypeDesc::$desc
            }
            #[inline]
            fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
                enc.put_u8(tag::$tag);
                Ok(())
            }
            #[inline]
            fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
                dec.expect(tag::$tag)
            }
            #[inline]
            fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
                let f: fn(&$t, &mut Encoder<'_>) = $enc;
                f(self, enc);
                Ok(())
            }
            #[inline]
            fn decode(dec: &mut Decoder<'_>) -> Result<$t, EdfError> {
                let f: fn(&mut Decoder<'_>) -> Result<$t, EdfError> = $dec;
                f(dec)
            }
        }
    };
}

scalar!(bool, BOOL, Bool, |v, e| e.put_u8(u8::from(*v)), |d| Ok(d.read_u8()? == 1));
scalar!(i8, INT8, I8, |v, e| e.put_u8(*v as u8), |d| Ok(d.read_u8()? as i8));
scalar!(i16, INT16, I16, |v, e| e.put_u16(*v as u16), |d| Ok(d.read_u16()? as i16));
scalar!(i32, INT32, I32, |v, e| e.put_u32(*v as u32), |d| Ok(d.read_u32()? as i32));
scalar!(i64, INT64, I64, |v, e| e.put_u64(*v as u64), |d| Ok(d.read_u64()? as i64));
scalar!(isize, INT, Int, |v, e| e.put_u64(*v as i64 as u64), |d| Ok(d.read_u64()? as i64 as isize));
scalar!(u16, UINT16, U16, |v, e| e.put_u16(*v), |d| d.read_u16());
scalar!(u32, UINT32, U32, |v, e| e.put_u32(*v), |d| d.read_u32());
scalar!(u64, UINT64, U64, |v, e| e.put_u64(*v), |d| d.read_u64());
scalar!(usize, UINT, Uint, |v, e| e.put_u64(*v as u64), |d| Ok(d.read_u64()? as usize));
scalar!(f32, FLOAT32, F32, |v, e| e.put_u32(v.to_bits()), |d| Ok(f32::from_bits(d.read_u32()?)));
scalar!(f64, FLOAT64, F64, |v, e| e.put_u64(v.to_bits()), |d| Ok(f64::from_bits(d.read_u64()?)));

impl Edf for u8 {
    const KIND: Kind = Kind::Scalar;
    fn edf_type() -> TypeDesc {
        TypeDesc::U8
    }
    fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_u8(tag::UINT8);
        Ok(())
    }
    fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
        dec.expect(tag::UINT8)
    }
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_u8(*self);
        Ok(())
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<u8, EdfError> {
        dec.read_u8()
    }

    // `[]uint8` is Go's `[]byte`: a binary, whose nil is written as empty.
    const SLICE_KIND: Kind = Kind::Scalar;
    fn slice_edf_type() -> TypeDesc {
        TypeDesc::Binary
    }
    fn write_slice_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_u8(tag::BINARY);
        Ok(())
    }
    fn read_slice_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
        dec.expect(tag::BINARY)
    }
    fn encode_slice(items: Option<&[u8]>, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_binary(items.unwrap_or_default())
    }
    fn decode_slice(dec: &mut Decoder<'_>) -> Result<Option<Vec<u8>>, EdfError> {
        Ok(Some(dec.read_binary()?.to_vec()))
    }
}

impl Edf for String {
    const KIND: Kind = Kind::Scalar;
    fn edf_type() -> TypeDesc {
        TypeDesc::String
    }
    fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_u8(tag::STRING);
        Ok(())
    }
    fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
        dec.expect(tag::STRING)
    }
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_str(self)
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<String, EdfError> {
        Ok(dec.read_str()?.to_owned())
    }
}

/// Go's `gen.Atom`.
impl Edf for Name {
    const KIND: Kind = Kind::Scalar;
    fn edf_type() -> TypeDesc {
        TypeDesc::Atom
    }
    fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_u8(tag::ATOM);
        Ok(())
    }
    fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
        dec.expect(tag::ATOM)
    }
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_atom(self.as_str())
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Name, EdfError> {
        dec.read_name()
    }
}

/// A non-nil error; decoding a nil one fails with [`EdfError::UnexpectedNil`]
/// (`Option<ErrorValue>` accepts it).
impl Edf for ErrorValue {
    const KIND: Kind = Kind::Scalar;
    fn edf_type() -> TypeDesc {
        TypeDesc::Error
    }
    fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_u8(tag::ERROR);
        Ok(())
    }
    fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
        dec.expect(tag::ERROR)
    }
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_error(Some(self.as_str()))
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<ErrorValue, EdfError> {
        dec.read_error()?.ok_or(EdfError::UnexpectedNil)
    }
}

/// Go's `error`, `None` being nil (`ff ff`).
impl Edf for Option<ErrorValue> {
    const KIND: Kind = Kind::Scalar;
    fn edf_type() -> TypeDesc {
        TypeDesc::Error
    }
    fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_u8(tag::ERROR);
        Ok(())
    }
    fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
        dec.expect(tag::ERROR)
    }
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_error(self.as_ref().map(ErrorValue::as_str))
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Option<ErrorValue>, EdfError> {
        dec.read_error()
    }
}

/// A slice (`Vec<u8>`: a binary). Decoding a nil slice gives an empty vector.
impl<T: Edf> Edf for Vec<T> {
    const KIND: Kind = T::SLICE_KIND;
    fn edf_type() -> TypeDesc {
        T::slice_edf_type()
    }
    fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        T::write_slice_type(enc)
    }
    fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
        T::read_slice_type(dec)
    }
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        T::encode_slice(Some(self), enc)
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Vec<T>, EdfError> {
        Ok(T::decode_slice(dec)?.unwrap_or_default())
    }
}

/// A slice that may be nil (`None`).
impl<T: Edf> Edf for Option<Vec<T>> {
    const KIND: Kind = T::SLICE_KIND;
    fn edf_type() -> TypeDesc {
        T::slice_edf_type()
    }
    fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        T::write_slice_type(enc)
    }
    fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
        T::read_slice_type(dec)
    }
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        T::encode_slice(self.as_deref(), enc)
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Option<Vec<T>>, EdfError> {
        T::decode_slice(dec)
    }
}

/// An array: the items only (the length is in the type).
impl<T: Edf, const N: usize> Edf for [T; N] {
    const KIND: Kind = Kind::Composite;
    fn edf_type() -> TypeDesc {
        TypeDesc::Array(N as u32, Arc::new(T::edf_type()))
    }
    fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_u8(tag::ARRAY);
        enc.put_u32(u32::try_from(N).map_err(|_| EdfError::TooLong("array"))?);
        T::write_type(enc)
    }
    fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
        dec.expect(tag::ARRAY)?;
        let n = dec.read_u32()?;
        if n as usize != N {
            return Err(EdfError::TypeMismatch { expected: format!("[{N}]"), found: format!("[{n}]") });
        }
        T::read_type(dec)
    }
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        self.iter().try_for_each(|i| i.encode(enc))
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<[T; N], EdfError> {
        dec.check_count(N as u64)?;
        let mut v = Vec::with_capacity(prealloc::<T>(N));
        for _ in 0..N {
            v.push(T::decode(dec)?);
        }
        v.try_into().map_err(|_| EdfError::Truncated)
    }
}

/// Maps from the Rust side: [`HashMap`], [`BTreeMap`] and [`OrderedMap`] (which keeps the order
/// of the wire).
pub trait EdfMap<K, V>: Sized {
    /// Entries in the order they are written.
    fn entries<'m>(&'m self) -> impl Iterator<Item = (&'m K, &'m V)>
    where
        K: 'm,
        V: 'm;
    /// How many entries.
    fn len(&self) -> usize;
    /// True if there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// An empty map with room for `n` entries.
    fn with_capacity(n: usize) -> Self;
    /// Adds an entry (a repeated key: the last wins, as in Go).
    fn insert_entry(&mut self, k: K, v: V);
}

impl<K: Eq + Hash, V> EdfMap<K, V> for HashMap<K, V> {
    fn entries<'m>(&'m self) -> impl Iterator<Item = (&'m K, &'m V)>
    where
        K: 'm,
        V: 'm,
    {
        self.iter()
    }
    fn len(&self) -> usize {
        HashMap::len(self)
    }
    fn with_capacity(n: usize) -> Self {
        HashMap::with_capacity(n)
    }
    fn insert_entry(&mut self, k: K, v: V) {
        self.insert(k, v);
    }
}

impl<K: Ord, V> EdfMap<K, V> for BTreeMap<K, V> {
    fn entries<'m>(&'m self) -> impl Iterator<Item = (&'m K, &'m V)>
    where
        K: 'm,
        V: 'm,
    {
        self.iter()
    }
    fn len(&self) -> usize {
        BTreeMap::len(self)
    }
    fn with_capacity(_: usize) -> Self {
        BTreeMap::new()
    }
    fn insert_entry(&mut self, k: K, v: V) {
        self.insert(k, v);
    }
}

impl<K, V> EdfMap<K, V> for OrderedMap<K, V> {
    fn entries<'m>(&'m self) -> impl Iterator<Item = (&'m K, &'m V)>
    where
        K: 'm,
        V: 'm,
    {
        self.0.iter().map(|(k, v)| (k, v))
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn with_capacity(n: usize) -> Self {
        OrderedMap(Vec::with_capacity(n))
    }
    fn insert_entry(&mut self, k: K, v: V) {
        self.0.push((k, v));
    }
}

/// Writes a map's value with `marker` (`0x9f`, or `0x83` for a registered map type); `None` is
/// nil.
#[doc(hidden)]
pub fn encode_map<K: Edf, V: Edf, M: EdfMap<K, V>>(
    m: Option<&M>,
    marker: u8,
    enc: &mut Encoder<'_>,
) -> Result<(), EdfError> {
    let Some(m) = m else {
        enc.put_u8(tag::NIL);
        return Ok(());
    };
    enc.put_u8(marker);
    enc.put_count(m.len())?;
    for (k, v) in m.entries() {
        k.encode(enc)?;
        v.encode(enc)?;
    }
    Ok(())
}

/// Reads a map's value written with `marker`; `None` is nil.
#[doc(hidden)]
pub fn decode_map<K: Edf, V: Edf, M: EdfMap<K, V>>(marker: u8, dec: &mut Decoder<'_>) -> Result<Option<M>, EdfError> {
    match dec.read_u8()? {
        tag::NIL => Ok(None),
        b if b == marker => {
            let n = dec.read_count()?;
            let mut m = M::with_capacity(prealloc::<(K, V)>(n));
            for _ in 0..n {
                let k = K::decode(dec)?;
                m.insert_entry(k, V::decode(dec)?);
            }
            Ok(Some(m))
        }
        b => Err(EdfError::BadTag(b)),
    }
}

/// Writes a slice's value with `marker` (`0x83` for a registered slice type); `None` is nil.
#[doc(hidden)]
pub fn encode_reg_slice<T: Edf>(items: Option<&[T]>, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
    let Some(items) = items else {
        enc.put_u8(tag::NIL);
        return Ok(());
    };
    enc.put_u8(tag::REG);
    enc.put_count(items.len())?;
    items.iter().try_for_each(|i| i.encode(enc))
}

/// Reads a registered slice type's value; `None` is nil.
#[doc(hidden)]
pub fn decode_reg_slice<T: Edf>(dec: &mut Decoder<'_>) -> Result<Option<Vec<T>>, EdfError> {
    match dec.read_u8()? {
        tag::NIL => Ok(None),
        tag::REG => {
            let n = dec.read_count()?;
            let mut v = Vec::with_capacity(prealloc::<T>(n));
            for _ in 0..n {
                v.push(T::decode(dec)?);
            }
            Ok(Some(v))
        }
        b => Err(EdfError::BadTag(b)),
    }
}

fn write_map_type<K: Edf, V: Edf>(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
    enc.put_u8(tag::MAP);
    K::write_type(enc)?;
    V::write_type(enc)
}

fn read_map_type<K: Edf, V: Edf>(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
    dec.expect(tag::MAP)?;
    K::read_type(dec)?;
    V::read_type(dec)
}

macro_rules! map_impl {
    ($m:ident, $($bound:tt)*) => {
        /// A map; decoding a nil map gives an empty one.
        impl<K: Edf + $($bound)*, V: Edf> Edf for $m<K, V> {
            const KIND: Kind = Kind::Composite;
            fn edf_type() -> TypeDesc {
                TypeDesc::Map(Arc::new(K::edf_type()), Arc::new(V::edf_type()))
            }
            fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
                write_map_type::<K, V>(enc)
            }
            fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
                read_map_type::<K, V>(dec)
            }
            fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
                encode_map::<K, V, Self>(Some(self), tag::MAP, enc)
            }
            fn decode(dec: &mut Decoder<'_>) -> Result<Self, EdfError> {
                Ok(decode_map::<K, V, Self>(tag::MAP, dec)?.unwrap_or_else(|| Self::with_capacity(0)))
            }
        }

        /// A map that may be nil (`None`).
        impl<K: Edf + $($bound)*, V: Edf> Edf for Option<$m<K, V>> {
            const KIND: Kind = Kind::Composite;
            fn edf_type() -> TypeDesc {
                TypeDesc::Map(Arc::new(K::edf_type()), Arc::new(V::edf_type()))
            }
            fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
                write_map_type::<K, V>(enc)
            }
            fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
                read_map_type::<K, V>(dec)
            }
            fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
                encode_map::<K, V, $m<K, V>>(self.as_ref(), tag::MAP, enc)
            }
            fn decode(dec: &mut Decoder<'_>) -> Result<Self, EdfError> {
                decode_map::<K, V, $m<K, V>>(tag::MAP, dec)
            }
        }
    };
}

map_impl!(HashMap, Eq + Hash);
map_impl!(BTreeMap, Ord);
map_impl!(OrderedMap, Sized);
