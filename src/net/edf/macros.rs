//! [`edf_struct!`](crate::edf_struct): registration of an existing Rust type under a Go wire
//! name, with the helper traits its expansions use.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use super::decoder::Decoder;
use super::encoder::Encoder;
use super::error::EdfError;
use super::types::EdfMap;
use super::value::OrderedMap;

/// A type with its own binary form (Go's `MarshalEDF`/`UnmarshalEDF` or
/// `MarshalBinary`/`UnmarshalBinary`): on the wire, u32 length and these bytes. Register it with
/// `edf_struct!(T = "#pkg/T" custom)`.
pub trait EdfCustom: Sized {
    /// Writes the bytes (the length in front is patched in afterwards).
    ///
    /// # Errors
    /// Whatever the type refuses to write.
    fn marshal(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError>;
    /// Reads the bytes back.
    ///
    /// # Errors
    /// [`EdfError::Custom`] (or another) for bytes it does not accept.
    fn unmarshal(bytes: &[u8]) -> Result<Self, EdfError>;
}

#[doc(hidden)]
pub fn encode_custom<T: EdfCustom>(v: &T, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
    let mark = enc.begin_u32();
    v.marshal(enc)?;
    enc.end_u32(mark, "custom value")
}

#[doc(hidden)]
pub fn decode_custom<T: EdfCustom>(dec: &mut Decoder<'_>) -> Result<T, EdfError> {
    T::unmarshal(dec.read_binary()?)
}

/// The field of a registered slice newtype: `Vec<T>` (nil reads as empty) or `Option<Vec<T>>`.
#[doc(hidden)]
pub trait SliceField<T>: Sized {
    fn items(&self) -> Option<&[T]>;
    fn from_items(items: Option<Vec<T>>) -> Self;
}

impl<T> SliceField<T> for Vec<T> {
    fn items(&self) -> Option<&[T]> {
        Some(self)
    }
    fn from_items(items: Option<Vec<T>>) -> Self {
        items.unwrap_or_default()
    }
}

impl<T> SliceField<T> for Option<Vec<T>> {
    fn items(&self) -> Option<&[T]> {
        self.as_deref()
    }
    fn from_items(items: Option<Vec<T>>) -> Self {
        items
    }
}

/// The field of a registered map newtype: a [`HashMap`], [`BTreeMap`] or [`OrderedMap`] (nil
/// reads as empty), or an `Option` of one.
#[doc(hidden)]
pub trait MapField<K, V>: Sized {
    type Map: EdfMap<K, V>;
    fn map(&self) -> Option<&Self::Map>;
    fn from_map(m: Option<Self::Map>) -> Self;
}

macro_rules! map_field {
    ($m:ident, $($bound:tt)*) => {
        impl<K: $($bound)*, V> MapField<K, V> for $m<K, V> {
            type Map = $m<K, V>;
            fn map(&self) -> Option<&Self::Map> {
                Some(self)
            }
            fn from_map(m: Option<Self::Map>) -> Self {
                m.unwrap_or_else(|| <Self::Map as EdfMap<K, V>>::with_capacity(0))
            }
        }
        impl<K: $($bound)*, V> MapField<K, V> for Option<$m<K, V>> {
            type Map = $m<K, V>;
            fn map(&self) -> Option<&Self::Map> {
                self.as_ref()
            }
            fn from_map(m: Option<Self::Map>) -> Self {
                m
            }
        }
    };
}

map_field!(HashMap, Eq + Hash);
map_field!(BTreeMap, Ord);
map_field!(OrderedMap, Sized);

/// Registers an existing Rust type under a Go wire name: implements
/// [`Edf`](crate::net::edf::Edf) and [`EdfRegistered`](crate::net::edf::EdfRegistered) for it.
/// Then add it to a [`Registry`](crate::net::edf::Registry) with `register::<T>()`.
///
/// The wire name is `"#" + Go package path + "/" + Go type name`; the Go side must register a
/// type of that name and the same shape. Forms:
///
/// * a struct, fields in the Go declaration order with their EDF types:
///   `edf_struct!(Point = "#gopeer/types/Point" { x: i32, y: i32 });`
///   (a Go `any` field is a [`Value`](crate::net::edf::Value), an `error` field an
///   `Option<ErrorValue>`, Go `int` is `isize`);
/// * a named scalar or array (`type Celsius float32`), a newtype over the underlying type:
///   `edf_struct!(Celsius = "#gopeer/types/Celsius" (f32));`
/// * a named slice (`type Names []string`), a newtype over `Vec<T>` or `Option<Vec<T>>`:
///   `edf_struct!(Names = "#gopeer/types/Names" [String]);`
/// * a named map, a newtype over a `HashMap`, `BTreeMap`, `OrderedMap` or an `Option` of one:
///   `edf_struct!(Scores = "#gopeer/types/Scores" map {String => i64});`
/// * a type with its own bytes (Go `MarshalEDF`/`MarshalBinary`), which implements
///   [`EdfCustom`](crate::net::edf::EdfCustom): `edf_struct!(Flags = "#pkg/Flags" custom);`
///
/// # Examples
/// ```
/// use ergors::net::edf::{Decoder, Encoder, Registry};
///
/// #[derive(Debug, PartialEq)]
/// pub struct Celsius(pub f32);
/// ergors::edf_struct!(Celsius = "#gopeer/types/Celsius" (f32));
///
/// let mut buf = Vec::new();
/// Encoder::new(&mut buf).encode(&Celsius(36.6))?;
/// let back: Celsius = Decoder::new(&buf, Registry::builtin()).decode()?;
/// assert_eq!(back, Celsius(36.6));
/// # Ok::<(), ergors::net::edf::EdfError>(())
/// ```
#[macro_export]
macro_rules! edf_struct {
    ($name:ident = $wire:literal custom) => {
        $crate::edf_struct!(@registered $name, $wire, $crate::net::edf::RegShape::Custom,
            |v, enc| $crate::net::edf::encode_custom(v, enc),
            |dec| $crate::net::edf::decode_custom(dec));
    };
    ($name:ident = $wire:literal map { $k:ty => $v:ty }) => {
        $crate::edf_struct!(@registered $name, $wire,
            $crate::net::edf::RegShape::Map(
                ::std::sync::Arc::new(<$k as $crate::net::edf::Edf>::edf_type()),
                ::std::sync::Arc::new(<$v as $crate::net::edf::Edf>::edf_type()),
            ),
            |v, enc| $crate::net::edf::encode_map::<$k, $v, _>(
                $crate::net::edf::MapField::<$k, $v>::map(&v.0), 0x83, enc),
            |dec| Ok($name($crate::net::edf::MapField::<$k, $v>::from_map(
                $crate::net::edf::decode_map::<$k, $v, _>(0x83, dec)?))));
    };
    ($name:ident = $wire:literal [ $item:ty ]) => {
        $crate::edf_struct!(@registered $name, $wire,
            $crate::net::edf::RegShape::Slice(::std::sync::Arc::new(<$item as $crate::net::edf::Edf>::edf_type())),
            |v, enc| $crate::net::edf::encode_reg_slice::<$item>(
                $crate::net::edf::SliceField::<$item>::items(&v.0), enc),
            |dec| Ok($name($crate::net::edf::SliceField::<$item>::from_items(
                $crate::net::edf::decode_reg_slice::<$item>(dec)?))));
    };
    ($name:ident = $wire:literal ( $inner:ty )) => {
        $crate::edf_struct!(@registered $name, $wire,
            $crate::net::edf::RegShape::Named(<$inner as $crate::net::edf::Edf>::edf_type()),
            |v, enc| <$inner as $crate::net::edf::Edf>::encode(&v.0, enc),
            |dec| Ok($name(<$inner as $crate::net::edf::Edf>::decode(dec)?)));
    };
    ($name:ident = $wire:literal { $($field:ident : $ty:ty),* $(,)? }) => {
        $crate::edf_struct!(@registered $name, $wire,
            $crate::net::edf::RegShape::Struct(::std::vec![
                $((::core::stringify!($field), <$ty as $crate::net::edf::Edf>::edf_type())),*
            ]),
            |v, enc| {
                $(<$ty as $crate::net::edf::Edf>::encode(&v.$field, enc)?;)*
                let _ = (v, &enc);
                Ok(())
            },
            |dec| {
                $(let $field = <$ty as $crate::net::edf::Edf>::decode(dec)?;)*
                let _ = &dec;
                Ok($name { $($field),* })
            });
    };
    (@registered $name:ident, $wire:literal, $shape:expr, $enc:expr, $dec:expr) => {
        impl $crate::net::edf::Edf for $name {
            const KIND: $crate::net::edf::Kind = $crate::net::edf::Kind::Registered;
            fn edf_type() -> $crate::net::edf::TypeDesc {
                $crate::net::edf::TypeDesc::Reg(::std::sync::Arc::from($wire))
            }
            fn write_type(enc: &mut $crate::net::edf::Encoder<'_>) -> ::core::result::Result<(), $crate::net::edf::EdfError> {
                enc.put_reg_name($wire)
            }
            fn read_type(dec: &mut $crate::net::edf::Decoder<'_>) -> ::core::result::Result<(), $crate::net::edf::EdfError> {
                dec.expect_reg_name($wire)
            }
            fn encode(&self, enc: &mut $crate::net::edf::Encoder<'_>) -> ::core::result::Result<(), $crate::net::edf::EdfError> {
                let f: fn(&$name, &mut $crate::net::edf::Encoder<'_>) -> ::core::result::Result<(), $crate::net::edf::EdfError> = $enc;
                f(self, enc)
            }
            fn decode(dec: &mut $crate::net::edf::Decoder<'_>) -> ::core::result::Result<$name, $crate::net::edf::EdfError> {
                let f: fn(&mut $crate::net::edf::Decoder<'_>) -> ::core::result::Result<$name, $crate::net::edf::EdfError> = $dec;
                dec.enter()?;
                let v = f(dec)?;
                dec.leave();
                ::core::result::Result::Ok(v)
            }
        }
        impl $crate::net::edf::EdfRegistered for $name {
            const NAME: &'static str = $wire;
            fn shape() -> $crate::net::edf::RegShape {
                $shape
            }
        }
    };
}
