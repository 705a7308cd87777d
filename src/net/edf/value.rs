//! [`Value`]: any EDF value, for Go's `any` fields, for types Rust does not know, and for tests
//! against Go's bytes. Keeps map entries in wire order, so decoding and re-encoding gives the
//! same bytes. Also [`ErrorValue`] (Go's `error`) and [`OrderedMap`].

use std::fmt;
use std::sync::Arc;

use super::decoder::Decoder;
use super::encoder::Encoder;
use super::error::EdfError;
use super::registry::RegShape;
use super::tag;
use super::time::GoTime;
use super::types::{Edf, Kind, TypeDesc, prealloc};
use crate::{Alias, Event, Name, Pid, ProcessId, Ref};

/// Go's `error` as it travels: its text. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ErrorValue(Name);

impl ErrorValue {
    /// An error with the text `text`.
    pub fn new(text: &str) -> ErrorValue {
        ErrorValue(Name::new(text))
    }
    /// The error's text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for ErrorValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorValue({:?})", self.as_str())
    }
}
impl fmt::Display for ErrorValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl std::error::Error for ErrorValue {}

/// A map that keeps its entries in the order they were inserted or decoded (Go's maps are
/// written in random order; keeping what came lets a value be re-encoded byte for byte).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct OrderedMap<K, V>(pub Vec<(K, V)>);

/// Any EDF value. Composites carry their item types so that they can be written back (an empty
/// `[]int` and an empty `[]string` differ on the wire).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Go's nil: an `any` holding nothing, or a nil error.
    Nil,
    /// `bool`.
    Bool(bool),
    /// `int8`.
    I8(i8),
    /// `int16`.
    I16(i16),
    /// `int32`.
    I32(i32),
    /// `int64`.
    I64(i64),
    /// Go `int`.
    Int(i64),
    /// `uint8`.
    U8(u8),
    /// `uint16`.
    U16(u16),
    /// `uint32`.
    U32(u32),
    /// `uint64`.
    U64(u64),
    /// Go `uint`.
    Uint(u64),
    /// `float32`.
    F32(f32),
    /// `float64`.
    F64(f64),
    /// `gen.Atom`.
    Atom(Name),
    /// `string`.
    String(String),
    /// `[]byte` (a nil one decodes as empty, as in Go).
    Binary(Vec<u8>),
    /// A non-nil `error`.
    Error(ErrorValue),
    /// `gen.PID`.
    Pid(Pid),
    /// `gen.ProcessID`.
    ProcessId(ProcessId),
    /// `gen.Alias`.
    Alias(Alias),
    /// `gen.Event`.
    Event(Event),
    /// `gen.Ref`.
    Ref(Ref),
    /// `time.Time`.
    Time(GoTime),
    /// `[]T`; `items` is `None` for a nil slice.
    Slice {
        /// The items' type.
        item: Arc<TypeDesc>,
        /// The items, or `None` for nil.
        items: Option<Vec<Value>>,
    },
    /// `[n]T`.
    Array {
        /// The items' type.
        item: Arc<TypeDesc>,
        /// The items (their count is the array's length).
        items: Vec<Value>,
    },
    /// `map[K]V` in wire order; `entries` is `None` for a nil map.
    Map {
        /// The keys' type.
        key: Arc<TypeDesc>,
        /// The values' type.
        value: Arc<TypeDesc>,
        /// The entries, or `None` for nil.
        entries: Option<Vec<(Value, Value)>>,
    },
    /// A value of a registered type: its wire name and its content (a [`Value::Struct`] for a
    /// struct, a `Slice`/`Map` for a registered slice or map (nil: `items`/`entries` `None`),
    /// the underlying value for a named scalar or array, a [`Value::Binary`] with the opaque
    /// bytes of a `MarshalEDF`/`MarshalBinary` type).
    Reg(Arc<str>, Box<Value>),
    /// A registered struct's fields in declaration order (only inside [`Value::Reg`]).
    Struct(Vec<Value>),
}

impl Value {
    /// A slice of `item`s.
    pub fn slice(item: TypeDesc, items: Vec<Value>) -> Value {
        Value::Slice { item: Arc::new(item), items: Some(items) }
    }
    /// A map from `key` to `value`, entries in the order given.
    pub fn map(key: TypeDesc, value: TypeDesc, entries: Vec<(Value, Value)>) -> Value {
        Value::Map { key: Arc::new(key), value: Arc::new(value), entries: Some(entries) }
    }
    /// A value of the registered type `name`.
    pub fn reg(name: &str, inner: Value) -> Value {
        Value::Reg(Arc::from(name), Box::new(inner))
    }

    /// The type this value is written with in an `any` position; `None` for [`Value::Nil`] and a
    /// bare [`Value::Struct`].
    pub fn type_desc(&self) -> Option<TypeDesc> {
        Some(match self {
            Value::Nil | Value::Struct(_) => return None,
            Value::Bool(_) => TypeDesc::Bool,
            Value::I8(_) => TypeDesc::I8,
            Value::I16(_) => TypeDesc::I16,
            Value::I32(_) => TypeDesc::I32,
            Value::I64(_) => TypeDesc::I64,
            Value::Int(_) => TypeDesc::Int,
            Value::U8(_) => TypeDesc::U8,
            Value::U16(_) => TypeDesc::U16,
            Value::U32(_) => TypeDesc::U32,
            Value::U64(_) => TypeDesc::U64,
            Value::Uint(_) => TypeDesc::Uint,
            Value::F32(_) => TypeDesc::F32,
            Value::F64(_) => TypeDesc::F64,
            Value::Atom(_) => TypeDesc::Atom,
            Value::String(_) => TypeDesc::String,
            Value::Binary(_) => TypeDesc::Binary,
            Value::Error(_) => TypeDesc::Error,
            Value::Pid(_) => TypeDesc::Pid,
            Value::ProcessId(_) => TypeDesc::ProcessId,
            Value::Alias(_) => TypeDesc::Alias,
            Value::Event(_) => TypeDesc::Event,
            Value::Ref(_) => TypeDesc::Ref,
            Value::Time(_) => TypeDesc::Time,
            Value::Slice { item, .. } => TypeDesc::Slice(item.clone()),
            Value::Array { item, items } => TypeDesc::Array(u32::try_from(items.len()).ok()?, item.clone()),
            Value::Map { key, value, .. } => TypeDesc::Map(key.clone(), value.clone()),
            Value::Reg(name, _) => TypeDesc::Reg(name.clone()),
        })
    }

    /// A short name of the value's variant, for error messages.
    fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::I8(_) => "int8",
            Value::I16(_) => "int16",
            Value::I32(_) => "int32",
            Value::I64(_) => "int64",
            Value::Int(_) => "int",
            Value::U8(_) => "uint8",
            Value::U16(_) => "uint16",
            Value::U32(_) => "uint32",
            Value::U64(_) => "uint64",
            Value::Uint(_) => "uint",
            Value::F32(_) => "float32",
            Value::F64(_) => "float64",
            Value::Atom(_) => "atom",
            Value::String(_) => "string",
            Value::Binary(_) => "binary",
            Value::Error(_) => "error",
            Value::Pid(_) => "PID",
            Value::ProcessId(_) => "ProcessID",
            Value::Alias(_) => "Alias",
            Value::Event(_) => "Event",
            Value::Ref(_) => "Ref",
            Value::Time(_) => "time",
            Value::Slice { .. } => "slice",
            Value::Array { .. } => "array",
            Value::Map { .. } => "map",
            Value::Reg(..) => "registered",
            Value::Struct(_) => "struct",
        }
    }
}

fn mismatch(expected: &TypeDesc, found: &Value) -> EdfError {
    EdfError::TypeMismatch { expected: format!("{expected:?}"), found: found.kind_name().to_owned() }
}

/// Writes `v` as Go writes an `any`: `0xff` for nil, else its type then its value.
pub(crate) fn encode_any(v: &Value, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
    match v {
        Value::Nil => {
            enc.put_u8(tag::NIL);
            Ok(())
        }
        Value::Reg(name, inner) => {
            enc.put_reg_name(name)?;
            encode_reg(name, inner, enc)
        }
        Value::Struct(_) => Err(EdfError::TypeMismatch { expected: "a typed value".into(), found: "struct".into() }),
        _ => {
            let Some(desc) = v.type_desc() else {
                return Err(EdfError::TooLong("array"));
            };
            match desc.scalar_tag() {
                Some(t) => enc.put_u8(t),
                None => enc.put_type_header(|e| desc.write(e))?,
            }
            encode_as(&desc, v, enc)
        }
    }
}

fn encode_reg(name: &str, inner: &Value, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
    let reg = enc.registry().ok_or_else(|| EdfError::NotRegistered(name.to_owned()))?;
    let entry = reg.lookup(name).map_err(|_| EdfError::NotRegistered(name.to_owned()))?;
    match (&entry.shape, inner) {
        (RegShape::Struct(fields), Value::Struct(values)) if fields.len() == values.len() => {
            fields.iter().zip(values).try_for_each(|((_, d), v)| encode_as(d, v, enc))
        }
        (RegShape::Named(d), v) => encode_as(d, v, enc),
        (RegShape::Slice(_), Value::Nil | Value::Slice { items: None, .. }) | (RegShape::Map(..), Value::Nil) => {
            enc.put_u8(tag::NIL);
            Ok(())
        }
        (RegShape::Slice(d), Value::Slice { items: Some(items), .. }) => {
            enc.put_u8(tag::REG);
            enc.put_count(items.len())?;
            items.iter().try_for_each(|v| encode_as(d, v, enc))
        }
        (RegShape::Map(..), Value::Map { entries: None, .. }) => {
            enc.put_u8(tag::NIL);
            Ok(())
        }
        (RegShape::Map(kd, vd), Value::Map { entries: Some(entries), .. }) => {
            enc.put_u8(tag::REG);
            enc.put_count(entries.len())?;
            entries.iter().try_for_each(|(k, v)| {
                encode_as(kd, k, enc)?;
                encode_as(vd, v, enc)
            })
        }
        (RegShape::Custom, Value::Binary(b)) => enc.put_binary(b),
        (_, v) => Err(EdfError::TypeMismatch { expected: name.to_owned(), found: v.kind_name().to_owned() }),
    }
}

/// Writes `v`'s value bytes as a value of type `desc` (no type).
pub(crate) fn encode_as(desc: &TypeDesc, v: &Value, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
    match (desc, v) {
        (TypeDesc::Any, v) => encode_any(v, enc),
        (TypeDesc::Bool, Value::Bool(x)) => x.encode(enc),
        (TypeDesc::I8, Value::I8(x)) => x.encode(enc),
        (TypeDesc::I16, Value::I16(x)) => x.encode(enc),
        (TypeDesc::I32, Value::I32(x)) => x.encode(enc),
        (TypeDesc::I64, Value::I64(x)) | (TypeDesc::Int, Value::Int(x)) => {
            enc.put_u64(*x as u64);
            Ok(())
        }
        (TypeDesc::U8, Value::U8(x)) => x.encode(enc),
        (TypeDesc::U16, Value::U16(x)) => x.encode(enc),
        (TypeDesc::U32, Value::U32(x)) => x.encode(enc),
        (TypeDesc::U64, Value::U64(x)) | (TypeDesc::Uint, Value::Uint(x)) => {
            enc.put_u64(*x);
            Ok(())
        }
        (TypeDesc::F32, Value::F32(x)) => x.encode(enc),
        (TypeDesc::F64, Value::F64(x)) => x.encode(enc),
        (TypeDesc::Atom, Value::Atom(x)) => x.encode(enc),
        (TypeDesc::String, Value::String(x)) => enc.put_str(x),
        (TypeDesc::Binary, Value::Binary(x)) => enc.put_binary(x),
        (TypeDesc::Binary, Value::Nil) => enc.put_binary(&[]),
        (TypeDesc::Error, Value::Error(e)) => enc.put_error(Some(e.as_str())),
        (TypeDesc::Error, Value::Nil) => enc.put_error(None),
        (TypeDesc::Pid, Value::Pid(x)) => x.encode(enc),
        (TypeDesc::ProcessId, Value::ProcessId(x)) => x.encode(enc),
        (TypeDesc::Alias, Value::Alias(x)) => x.encode(enc),
        (TypeDesc::Event, Value::Event(x)) => x.encode(enc),
        (TypeDesc::Ref, Value::Ref(x)) => x.encode(enc),
        (TypeDesc::Time, Value::Time(x)) => x.encode(enc),
        (TypeDesc::Slice(_), Value::Nil | Value::Slice { items: None, .. }) => {
            enc.put_u8(tag::NIL);
            Ok(())
        }
        (TypeDesc::Slice(d), Value::Slice { items: Some(items), .. }) => {
            enc.put_u8(tag::SLICE);
            enc.put_count(items.len())?;
            items.iter().try_for_each(|v| encode_as(d, v, enc))
        }
        (TypeDesc::Array(n, d), Value::Array { items, .. }) if items.len() as u64 == u64::from(*n) => {
            items.iter().try_for_each(|v| encode_as(d, v, enc))
        }
        (TypeDesc::Map(..), Value::Nil | Value::Map { entries: None, .. }) => {
            enc.put_u8(tag::NIL);
            Ok(())
        }
        (TypeDesc::Map(kd, vd), Value::Map { entries: Some(entries), .. }) => {
            enc.put_u8(tag::MAP);
            enc.put_count(entries.len())?;
            entries.iter().try_for_each(|(k, v)| {
                encode_as(kd, k, enc)?;
                encode_as(vd, v, enc)
            })
        }
        (TypeDesc::Reg(name), Value::Reg(found, inner)) if name == found => encode_reg(name, inner, enc),
        // A registered slice or map's nil inside a struct or slice of that type.
        (TypeDesc::Reg(name), Value::Nil) => encode_reg(name, &Value::Nil, enc),
        (d, v) => Err(mismatch(d, v)),
    }
}

/// Reads an `any`: a type (tag, `0x82` header or `0x83` name) then its value; `0xff` is nil.
pub(crate) fn decode_any(dec: &mut Decoder<'_>) -> Result<Value, EdfError> {
    let t = dec.read_u8()?;
    match t {
        tag::NIL => Ok(Value::Nil),
        tag::TYPE => {
            let n = usize::from(dec.read_u16()?);
            let bytes = dec.take(n)?;
            let mut sub = dec.sub(bytes);
            let desc = TypeDesc::read(&mut sub)?;
            if !sub.remaining().is_empty() {
                return Err(EdfError::Trailing(sub.remaining().len()));
            }
            decode_as(&desc, dec)
        }
        tag::REG => {
            let name = dec.read_reg_name()?;
            let name = dec.registry().lookup(name)?.name.clone();
            decode_reg(name, dec)
        }
        t => match TypeDesc::from_scalar_tag(t) {
            Some(TypeDesc::Any) | None => Err(EdfError::BadTag(t)),
            Some(d) => decode_as(&d, dec),
        },
    }
}

/// Reads the value of the registered type `name` (after its name) as a [`Value::Reg`].
pub(crate) fn decode_reg(name: Arc<str>, dec: &mut Decoder<'_>) -> Result<Value, EdfError> {
    let reg = dec.registry();
    let entry = reg.lookup(&name)?;
    dec.enter()?;
    let inner = match &entry.shape {
        RegShape::Struct(fields) => {
            let mut values = Vec::with_capacity(fields.len());
            for (_, d) in fields {
                values.push(decode_as(d, dec)?);
            }
            Value::Struct(values)
        }
        RegShape::Named(d) => decode_as(d, dec)?,
        RegShape::Slice(d) => {
            let item = d.clone();
            match dec.read_u8()? {
                tag::NIL => Value::Slice { item, items: None },
                tag::REG => {
                    let n = dec.read_count()?;
                    let mut items = Vec::with_capacity(prealloc::<Value>(n));
                    for _ in 0..n {
                        items.push(decode_as(d, dec)?);
                    }
                    Value::Slice { item, items: Some(items) }
                }
                b => return Err(EdfError::BadTag(b)),
            }
        }
        RegShape::Map(kd, vd) => {
            let (key, value) = (kd.clone(), vd.clone());
            match dec.read_u8()? {
                tag::NIL => Value::Map { key, value, entries: None },
                tag::REG => {
                    let n = dec.read_count()?;
                    let mut entries = Vec::with_capacity(prealloc::<(Value, Value)>(n));
                    for _ in 0..n {
                        let k = decode_as(kd, dec)?;
                        entries.push((k, decode_as(vd, dec)?));
                    }
                    Value::Map { key, value, entries: Some(entries) }
                }
                b => return Err(EdfError::BadTag(b)),
            }
        }
        RegShape::Custom => Value::Binary(dec.read_binary()?.to_vec()),
    };
    dec.leave();
    Ok(Value::Reg(name, Box::new(inner)))
}

/// Reads a value of type `desc` (no type on the wire).
pub(crate) fn decode_as(desc: &TypeDesc, dec: &mut Decoder<'_>) -> Result<Value, EdfError> {
    Ok(match desc {
        TypeDesc::Any => {
            dec.enter()?;
            let v = decode_any(dec)?;
            dec.leave();
            v
        }
        TypeDesc::Bool => Value::Bool(bool::decode(dec)?),
        TypeDesc::I8 => Value::I8(i8::decode(dec)?),
        TypeDesc::I16 => Value::I16(i16::decode(dec)?),
        TypeDesc::I32 => Value::I32(i32::decode(dec)?),
        TypeDesc::I64 => Value::I64(i64::decode(dec)?),
        TypeDesc::Int => Value::Int(dec.read_u64()? as i64),
        TypeDesc::U8 => Value::U8(dec.read_u8()?),
        TypeDesc::U16 => Value::U16(dec.read_u16()?),
        TypeDesc::U32 => Value::U32(dec.read_u32()?),
        TypeDesc::U64 => Value::U64(dec.read_u64()?),
        TypeDesc::Uint => Value::Uint(dec.read_u64()?),
        TypeDesc::F32 => Value::F32(f32::decode(dec)?),
        TypeDesc::F64 => Value::F64(f64::decode(dec)?),
        TypeDesc::Atom => Value::Atom(dec.read_name()?),
        TypeDesc::String => Value::String(dec.read_str()?.to_owned()),
        TypeDesc::Binary => Value::Binary(dec.read_binary()?.to_vec()),
        TypeDesc::Error => match dec.read_error()? {
            Some(e) => Value::Error(e),
            None => Value::Nil,
        },
        TypeDesc::Pid => Value::Pid(Pid::decode(dec)?),
        TypeDesc::ProcessId => Value::ProcessId(ProcessId::decode(dec)?),
        TypeDesc::Alias => Value::Alias(Alias::decode(dec)?),
        TypeDesc::Event => Value::Event(Event::decode(dec)?),
        TypeDesc::Ref => Value::Ref(Ref::decode(dec)?),
        TypeDesc::Time => Value::Time(GoTime::decode(dec)?),
        TypeDesc::Slice(d) => {
            let item = d.clone();
            match dec.read_u8()? {
                tag::NIL => Value::Slice { item, items: None },
                tag::SLICE => {
                    let n = dec.read_count()?;
                    dec.enter()?;
                    let mut items = Vec::with_capacity(prealloc::<Value>(n));
                    for _ in 0..n {
                        items.push(decode_as(d, dec)?);
                    }
                    dec.leave();
                    Value::Slice { item, items: Some(items) }
                }
                b => return Err(EdfError::BadTag(b)),
            }
        }
        TypeDesc::Array(n, d) => {
            // Go has no check here; an array longer than the input left is refused like a slice.
            let n = dec.check_count(u64::from(*n))?;
            dec.enter()?;
            let mut items = Vec::with_capacity(prealloc::<Value>(n));
            for _ in 0..n {
                items.push(decode_as(d, dec)?);
            }
            dec.leave();
            Value::Array { item: d.clone(), items }
        }
        TypeDesc::Map(kd, vd) => {
            let (key, value) = (kd.clone(), vd.clone());
            match dec.read_u8()? {
                tag::NIL => Value::Map { key, value, entries: None },
                tag::MAP => {
                    let n = dec.read_count()?;
                    dec.enter()?;
                    let mut entries = Vec::with_capacity(prealloc::<(Value, Value)>(n));
                    for _ in 0..n {
                        let k = decode_as(kd, dec)?;
                        entries.push((k, decode_as(vd, dec)?));
                    }
                    dec.leave();
                    Value::Map { key, value, entries: Some(entries) }
                }
                b => return Err(EdfError::BadTag(b)),
            }
        }
        TypeDesc::Reg(name) => decode_reg(name.clone(), dec)?,
    })
}

/// Go's `any`: the value carries its own type.
impl Edf for Value {
    const KIND: Kind = Kind::Any;
    fn edf_type() -> TypeDesc {
        TypeDesc::Any
    }
    fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_u8(tag::ANY);
        Ok(())
    }
    fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
        dec.expect(tag::ANY)
    }
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        encode_any(self, enc)
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Value, EdfError> {
        dec.enter()?;
        let v = decode_any(dec)?;
        dec.leave();
        Ok(v)
    }
}
