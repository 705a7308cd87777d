//! [`Registry`]: registered types by wire name (their shape, for [`Value`] decoding, and a
//! decoder into a [`Message`]) and by Rust `TypeId` (an encoder of a [`Message`] holding that
//! type). Built at start-up, then shared read-only by every connection.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use super::decoder::Decoder;
use super::encoder::Encoder;
use super::error::EdfError;
use super::tag;
use super::time::GoTime;
use super::types::{Edf, TypeDesc};
use super::value::{self, ErrorValue, Value};
use crate::{Alias, Event, Message, Name, Pid, ProcessId, Ref};

/// What a registered type is made of (§4.4), for decoding it into a [`Value`] without its Rust
/// type.
#[derive(Clone, Debug, PartialEq)]
pub enum RegShape {
    /// A struct: its fields' names (for reading only; the wire has none) and types, in
    /// declaration order.
    Struct(Vec<(&'static str, TypeDesc)>),
    /// A named scalar or array (`type Celsius float32`): the underlying value bytes.
    Named(TypeDesc),
    /// A named slice: marker `0x83` (not `0x9d`), count, items.
    Slice(Arc<TypeDesc>),
    /// A named map: marker `0x83` (not `0x9f`), count, entries.
    Map(Arc<TypeDesc>, Arc<TypeDesc>),
    /// A `MarshalEDF`/`MarshalBinary` type: u32 length and opaque bytes.
    Custom,
}

/// A Rust type registered under a Go wire name. Implemented by [`edf_struct!`](crate::edf_struct).
pub trait EdfRegistered: Edf + Send + Sync + 'static {
    /// The wire name: `"#"` + Go package path + `"/"` + Go type name.
    const NAME: &'static str;
    /// The type's shape.
    fn shape() -> RegShape;
}

type DecodeMessage = fn(&mut Decoder<'_>) -> Result<Message, EdfError>;
type EncodeMessage = fn(&Message, &mut Encoder<'_>) -> Result<(), EdfError>;
/// An encoder of a shared value (an event's payload, which all its subscribers share).
type EncodeShared = fn(&(dyn Any + Send + Sync), &mut Encoder<'_>) -> Result<(), EdfError>;
/// Moves a decoded message's value into a shareable box (an event's payload).
type IntoShared = fn(Message) -> Result<Box<dyn Any + Send + Sync>, Message>;

/// A registered name.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) name: Arc<str>,
    pub(crate) shape: RegShape,
    /// Decodes the value (after its name) into the Rust type; `None` for a shape without one
    /// (decoded as a [`Value`]).
    decode: Option<DecodeMessage>,
}

/// The registered types of a node: Ergo's own (the handshake, ENP and registrar structs,
/// `gen.Version`, `gen.NetworkFlags`, …) and the application's.
///
/// A type must be registered, with the same name and shape, on both sides before it can travel
/// (Go refuses an unregistered name). Register a Rust type with [`Registry::register`] after
/// [`edf_struct!`](crate::edf_struct); describe a Go type that has no Rust counterpart with
/// [`Registry::register_shape`] (it decodes to a [`Value`]).
///
/// # Examples
/// ```
/// use ergors::net::edf::{Encoder, Decoder, Registry};
/// use ergors::Message;
///
/// #[derive(Debug, PartialEq)]
/// pub struct Point { pub x: i32, pub y: i32 }
/// ergors::edf_struct!(Point = "#gopeer/types/Point" { x: i32, y: i32 });
///
/// let mut reg = Registry::new();
/// reg.register::<Point>()?;
///
/// let mut buf = Vec::new();
/// reg.encode_message(&Message::new(Point { x: 1, y: -2 }), &mut Encoder::new(&mut buf))?;
/// assert_eq!(&buf[..3], &[0x83, 0x00, 0x13]); // registered, 19-byte name follows
///
/// let msg = reg.decode_message(&mut Decoder::new(&buf, &reg))?;
/// assert_eq!(msg.downcast::<Point>().ok(), Some(Point { x: 1, y: -2 }));
/// # Ok::<(), ergors::net::edf::EdfError>(())
/// ```
#[derive(Debug)]
pub struct Registry {
    by_name: HashMap<Arc<str>, Entry>,
    by_type: HashMap<TypeId, EncodeMessage>,
    /// The same encoders for shared values, and the way back (events across nodes, D216).
    shared: HashMap<TypeId, (EncodeShared, IntoShared)>,
}

fn encode_msg<T: Edf + Send + 'static>(m: &Message, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
    let v = m.downcast_ref::<T>().ok_or_else(|| EdfError::NotRegistered(m.type_name().to_owned()))?;
    enc.encode(v)
}

fn encode_shared<T: Edf + Send + Sync + 'static>(
    v: &(dyn Any + Send + Sync),
    enc: &mut Encoder<'_>,
) -> Result<(), EdfError> {
    let v = v.downcast_ref::<T>().ok_or_else(|| EdfError::NotRegistered(std::any::type_name::<T>().to_owned()))?;
    enc.encode(v)
}

fn into_shared<T: Send + Sync + 'static>(m: Message) -> Result<Box<dyn Any + Send + Sync>, Message> {
    m.downcast::<T>().map(|v| Box::new(v) as Box<dyn Any + Send + Sync>)
}

fn decode_msg<T: Edf + Send + 'static>(dec: &mut Decoder<'_>) -> Result<Message, EdfError> {
    Ok(Message::new(T::decode(dec)?))
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new()
    }
}

impl Registry {
    /// A registry with the built-in messages (scalars, `String`, `Name`, `Vec<u8>`, the
    /// identities, [`ErrorValue`], [`GoTime`], [`Value`]) and Ergo's registered types
    /// ([`ergo_types`](super::ergo_types)).
    pub fn new() -> Registry {
        let mut reg = Registry { by_name: HashMap::new(), by_type: HashMap::new(), shared: HashMap::new() };
        reg.register_message::<bool>();
        reg.register_message::<i8>();
        reg.register_message::<i16>();
        reg.register_message::<i32>();
        reg.register_message::<i64>();
        reg.register_message::<isize>();
        reg.register_message::<u8>();
        reg.register_message::<u16>();
        reg.register_message::<u32>();
        reg.register_message::<u64>();
        reg.register_message::<usize>();
        reg.register_message::<f32>();
        reg.register_message::<f64>();
        reg.register_message::<String>();
        reg.register_message::<Name>();
        reg.register_message::<Vec<u8>>();
        reg.register_message::<ErrorValue>();
        reg.register_message::<GoTime>();
        reg.register_message::<Pid>();
        reg.register_message::<Ref>();
        reg.register_message::<Alias>();
        reg.register_message::<ProcessId>();
        reg.register_message::<Event>();
        reg.register_message::<Value>();
        reg.by_type.insert(TypeId::of::<&'static str>(), encode_static_str);
        reg.shared.insert(TypeId::of::<&'static str>(), (encode_shared_static_str, into_shared::<&'static str>));
        super::ergo_types::register_all(&mut reg);
        super::ergo_spawn::register_all(&mut reg);
        reg
    }

    /// A shared registry with the built-ins and Ergo's types only (for the handshake, the
    /// registrar and tests).
    pub fn builtin() -> &'static Registry {
        static REG: OnceLock<Registry> = OnceLock::new();
        REG.get_or_init(Registry::new)
    }

    /// Registers `T` under its wire name: its shape, a decoder into a `Message` holding a `T`,
    /// and an encoder of such messages.
    ///
    /// # Errors
    /// [`EdfError::Taken`] if the name is registered already.
    pub fn register<T: super::EdfRegistered>(&mut self) -> Result<(), EdfError> {
        self.insert(T::NAME, T::shape(), Some(decode_msg::<T>))?;
        self.register_message::<T>();
        Ok(())
    }

    /// Registers the shape of a Go type that has no Rust type here: it decodes to a
    /// [`Value::Reg`], and [`Value`]s of it encode.
    ///
    /// # Errors
    /// [`EdfError::Taken`] if the name is registered already; [`EdfError::TooLong`] for a name
    /// over 4095 bytes.
    pub fn register_shape(&mut self, name: &str, shape: RegShape) -> Result<(), EdfError> {
        self.insert(name, shape, None)
    }

    /// Lets messages holding a `T` (any [`Edf`] type: `Vec<i32>`, a map, …) be encoded by
    /// [`Registry::encode_message`]. (Decoding gives the dynamic form for composites.)
    pub fn register_message<T: Edf + Send + Sync + 'static>(&mut self) {
        self.by_type.insert(TypeId::of::<T>(), encode_msg::<T>);
        self.shared.insert(TypeId::of::<T>(), (encode_shared::<T>, into_shared::<T>));
    }

    fn insert(&mut self, name: &str, shape: RegShape, decode: Option<DecodeMessage>) -> Result<(), EdfError> {
        if name.len() > 4095 {
            return Err(EdfError::TooLong("type name"));
        }
        if self.by_name.contains_key(name) {
            return Err(EdfError::Taken(name.to_owned()));
        }
        let name: Arc<str> = Arc::from(name);
        self.by_name.insert(name.clone(), Entry { name, shape, decode });
        Ok(())
    }

    pub(crate) fn lookup(&self, name: &str) -> Result<&Entry, EdfError> {
        self.by_name.get(name).ok_or_else(|| EdfError::UnknownRegType(name.to_owned()))
    }

    /// The shape registered under `name`.
    pub fn shape(&self, name: &str) -> Option<&RegShape> {
        self.by_name.get(name).map(|e| &e.shape)
    }

    /// Writes the value in `msg` at top level with the encoder registered for its Rust type.
    ///
    /// # Errors
    /// [`EdfError::NotRegistered`] (with the Rust type's name) if there is none; the encoder's
    /// errors. The buffer is unchanged on error.
    pub fn encode_message(&self, msg: &Message, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        let f = self
            .by_type
            .get(&msg.value_type_id())
            .ok_or_else(|| EdfError::NotRegistered(msg.type_name().to_owned()))?;
        f(msg, enc)
    }

    /// Writes a shared value (an event's payload) at top level, as [`Registry::encode_message`]
    /// writes a message holding it.
    ///
    /// # Errors
    /// [`EdfError::NotRegistered`] if no encoder is registered for its type; the encoder's
    /// errors.
    pub(crate) fn encode_shared(&self, v: &(dyn Any + Send + Sync), enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        // Through `dyn Any`: the concrete value's type, never the trait object's.
        let any: &dyn Any = v;
        let (f, _) = self.shared.get(&any.type_id()).ok_or(EdfError::NotRegistered("an event's payload".to_owned()))?;
        f(v, enc)
    }

    /// Moves a decoded message's value into a box every subscriber of an event can share;
    /// the message back if its type is not one the registry knows.
    pub(crate) fn share(&self, m: Message) -> Result<Box<dyn Any + Send + Sync>, Message> {
        match self.shared.get(&m.value_type_id()) {
            Some((_, f)) => f(m),
            None => Err(m),
        }
    }

    /// Reads a top-level value into a `Message`: a registered Rust type as itself, a scalar as
    /// the Rust scalar (`bool`, `i8`…`i64`, `isize` for Go `int`, `u8`…`u64`, `usize` for Go
    /// `uint`, `f32`, `f64`, `String`, [`Name`] for an atom, `Vec<u8>`, [`ErrorValue`],
    /// [`GoTime`], the identities), anything else (slices, maps, registered shapes without a
    /// Rust type, nil) as a [`Value`].
    ///
    /// # Errors
    /// [`EdfError::UnknownRegType`] and the other decoding errors.
    pub fn decode_message(&self, dec: &mut Decoder<'_>) -> Result<Message, EdfError> {
        let t = dec.peek_u8()?;
        Ok(match t {
            tag::REG => {
                dec.read_u8()?;
                let name = dec.read_reg_name()?;
                let entry = self.lookup(name)?;
                match entry.decode {
                    Some(f) => {
                        dec.enter()?;
                        let m = f(dec)?;
                        dec.leave();
                        m
                    }
                    None => Message::new(value::decode_reg(entry.name.clone(), dec)?),
                }
            }
            tag::BOOL => Message::new(dec.decode::<bool>()?),
            tag::INT8 => Message::new(dec.decode::<i8>()?),
            tag::INT16 => Message::new(dec.decode::<i16>()?),
            tag::INT32 => Message::new(dec.decode::<i32>()?),
            tag::INT64 => Message::new(dec.decode::<i64>()?),
            tag::INT => Message::new(dec.decode::<isize>()?),
            tag::UINT8 => Message::new(dec.decode::<u8>()?),
            tag::UINT16 => Message::new(dec.decode::<u16>()?),
            tag::UINT32 => Message::new(dec.decode::<u32>()?),
            tag::UINT64 => Message::new(dec.decode::<u64>()?),
            tag::UINT => Message::new(dec.decode::<usize>()?),
            tag::FLOAT32 => Message::new(dec.decode::<f32>()?),
            tag::FLOAT64 => Message::new(dec.decode::<f64>()?),
            tag::STRING => Message::new(dec.decode::<String>()?),
            tag::ATOM => Message::new(dec.decode::<Name>()?),
            tag::BINARY => Message::new(dec.decode::<Vec<u8>>()?),
            tag::ERROR => match dec.decode::<Option<ErrorValue>>()? {
                Some(e) => Message::new(e),
                None => Message::new(Value::Nil),
            },
            tag::TIME => Message::new(dec.decode::<GoTime>()?),
            tag::PID => Message::new(dec.decode::<Pid>()?),
            tag::REF => Message::new(dec.decode::<Ref>()?),
            tag::ALIAS => Message::new(dec.decode::<Alias>()?),
            tag::PROCESS_ID => Message::new(dec.decode::<ProcessId>()?),
            tag::EVENT => Message::new(dec.decode::<Event>()?),
            _ => Message::new(dec.decode_value()?),
        })
    }
}

fn encode_shared_static_str(v: &(dyn Any + Send + Sync), enc: &mut Encoder<'_>) -> Result<(), EdfError> {
    let s = v.downcast_ref::<&'static str>().ok_or_else(|| EdfError::NotRegistered("&str".to_owned()))?;
    enc.encode(&(*s).to_string())
}

/// `Message::new("text")` holds a `&'static str`: written as a string.
fn encode_static_str(m: &Message, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
    let s = m.downcast_ref::<&'static str>().ok_or_else(|| EdfError::NotRegistered(m.type_name().to_owned()))?;
    let start = enc.buffer().len();
    enc.put_u8(tag::STRING);
    let r = enc.put_str(s);
    if r.is_err() {
        enc.truncate(start);
    }
    r
}
