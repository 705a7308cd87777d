//! [`Decoder`]: reads EDF from a borrowed slice. Every read checks the bytes left first; counts
//! are checked against the bytes left before anything is allocated; nesting is capped by
//! [`MAX_DEPTH`].

use super::MAX_DEPTH;
use super::cache::DecodeCaches;
use super::error::{CacheKind, EdfError};
use super::registry::Registry;
use super::tag;
use super::types::{Edf, Kind};
use super::value::{ErrorValue, Value};
use crate::{Atom, Name};

/// Reads EDF values from `&'a [u8]`, resolving short forms through the peer's [`DecodeCaches`]
/// and registered type names through a [`Registry`].
///
/// Top-level readers: [`Decoder::decode`] (a known Rust type) and [`Decoder::decode_value`]
/// (anything, as a [`Value`]). The `read_*` methods are the building blocks for [`Edf`]
/// implementations.
pub struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    caches: Option<&'a DecodeCaches>,
    reg: &'a Registry,
    depth: u32,
}

impl<'a> Decoder<'a> {
    /// A decoder of `input` with no caches (a cached id is then an error).
    pub fn new(input: &'a [u8], reg: &'a Registry) -> Decoder<'a> {
        Decoder { input, pos: 0, caches: None, reg, depth: 0 }
    }

    /// Resolves cached ids through `caches` (the peer's dictionaries).
    pub fn with_caches(mut self, caches: &'a DecodeCaches) -> Decoder<'a> {
        self.caches = Some(caches);
        self
    }

    /// A decoder of `input` sharing this one's caches, registry and depth (for a type
    /// description cut out of the input).
    pub(crate) fn sub(&self, input: &'a [u8]) -> Decoder<'a> {
        Decoder { input, pos: 0, caches: self.caches, reg: self.reg, depth: self.depth }
    }

    /// The registry this decoder resolves type names with.
    pub fn registry(&self) -> &'a Registry {
        self.reg
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        &self.input[self.pos..]
    }

    /// How many bytes have been read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Reads a top-level value of type `T` (with its type, as [`Encoder::encode`](super::Encoder::encode)
    /// writes it).
    ///
    /// # Errors
    /// [`EdfError::TypeMismatch`] or [`EdfError::BadTag`] if the input holds another type,
    /// [`EdfError::Truncated`] if it ends early, and the other decoding errors.
    pub fn decode<T: Edf>(&mut self) -> Result<T, EdfError> {
        match T::KIND {
            Kind::Composite => {
                self.expect(tag::TYPE)?;
                let n = usize::from(self.read_u16()?);
                let desc = self.take(n)?;
                let mut sub = self.sub(desc);
                T::read_type(&mut sub)?;
                if !sub.remaining().is_empty() {
                    return Err(EdfError::Trailing(sub.remaining().len()));
                }
            }
            Kind::Scalar | Kind::Registered => T::read_type(self)?,
            Kind::Any => {}
        }
        T::decode(self)
    }

    /// Reads a top-level value of any type as a [`Value`].
    ///
    /// # Errors
    /// [`EdfError::UnknownRegType`] for a registered name the registry lacks, and the other
    /// decoding errors.
    pub fn decode_value(&mut self) -> Result<Value, EdfError> {
        self.decode::<Value>()
    }

    /// Counts one level of nesting; [`Decoder::leave`] undoes it.
    ///
    /// # Errors
    /// [`EdfError::TooDeep`] beyond [`MAX_DEPTH`].
    pub fn enter(&mut self) -> Result<(), EdfError> {
        if self.depth >= MAX_DEPTH {
            return Err(EdfError::TooDeep);
        }
        self.depth += 1;
        Ok(())
    }

    /// Ends a level of nesting begun with [`Decoder::enter`].
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Takes the next `n` bytes.
    ///
    /// # Errors
    /// [`EdfError::Truncated`] if fewer are left.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], EdfError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.input.len()).ok_or(EdfError::Truncated)?;
        let b = &self.input[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], EdfError> {
        let b = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`EdfError::Truncated`].
    #[inline]
    pub fn read_u8(&mut self) -> Result<u8, EdfError> {
        let b = *self.input.get(self.pos).ok_or(EdfError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// Looks at the next byte without reading it.
    ///
    /// # Errors
    /// [`EdfError::Truncated`].
    #[inline]
    pub fn peek_u8(&self) -> Result<u8, EdfError> {
        self.input.get(self.pos).copied().ok_or(EdfError::Truncated)
    }

    /// Reads a big-endian u16.
    ///
    /// # Errors
    /// [`EdfError::Truncated`].
    #[inline]
    pub fn read_u16(&mut self) -> Result<u16, EdfError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    /// Reads a big-endian u32.
    ///
    /// # Errors
    /// [`EdfError::Truncated`].
    #[inline]
    pub fn read_u32(&mut self) -> Result<u32, EdfError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    /// Reads a big-endian u64.
    ///
    /// # Errors
    /// [`EdfError::Truncated`].
    #[inline]
    pub fn read_u64(&mut self) -> Result<u64, EdfError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads a byte and checks that it is `t`.
    ///
    /// # Errors
    /// [`EdfError::BadTag`] with the byte found, [`EdfError::Truncated`].
    #[inline]
    pub fn expect(&mut self, t: u8) -> Result<(), EdfError> {
        let b = self.read_u8()?;
        if b != t {
            return Err(EdfError::BadTag(b));
        }
        Ok(())
    }

    /// Reads a u32 element count and checks it against the bytes left (Go's sanity rule: each
    /// element takes at least one byte), so a hostile count cannot make us allocate.
    ///
    /// # Errors
    /// [`EdfError::CountTooLarge`], [`EdfError::Truncated`].
    pub fn read_count(&mut self) -> Result<usize, EdfError> {
        let n = self.read_u32()?;
        self.check_count(u64::from(n))
    }

    /// Checks a count taken from elsewhere (an array's length in its type) the same way.
    ///
    /// # Errors
    /// [`EdfError::CountTooLarge`].
    pub fn check_count(&self, n: u64) -> Result<usize, EdfError> {
        let left = (self.input.len() - self.pos) as u64;
        if n > left {
            return Err(EdfError::CountTooLarge(n));
        }
        // n ≤ the input's length, which is a usize.
        Ok(n as usize)
    }

    fn utf8(b: &[u8]) -> Result<&str, EdfError> {
        std::str::from_utf8(b).map_err(|_| EdfError::Utf8)
    }

    /// Reads a string (u16 length and UTF-8 bytes), borrowed from the input.
    ///
    /// # Errors
    /// [`EdfError::Utf8`], [`EdfError::Truncated`].
    pub fn read_str(&mut self) -> Result<&'a str, EdfError> {
        let n = usize::from(self.read_u16()?);
        Self::utf8(self.take(n)?)
    }

    /// Reads a binary (u32 length and bytes), borrowed from the input.
    ///
    /// # Errors
    /// [`EdfError::Truncated`].
    pub fn read_binary(&mut self) -> Result<&'a [u8], EdfError> {
        let n = self.read_u32()? as usize;
        self.take(n)
    }

    /// Reads an atom's text: u16 length ≤ 255 and bytes, or a cache id > 255. Borrowed from the
    /// input or the caches.
    ///
    /// # Errors
    /// [`EdfError::UnknownCacheId`], [`EdfError::Utf8`], [`EdfError::Truncated`].
    pub fn read_atom_str(&mut self) -> Result<&'a str, EdfError> {
        let n = self.read_u16()?;
        if n >= super::cache::ATOM_MIN {
            return Ok(self.cached_atom(n)?.name.as_str());
        }
        Self::utf8(self.take(usize::from(n))?)
    }

    fn cached_atom(&self, id: u16) -> Result<&'a super::cache::CachedAtom, EdfError> {
        self.caches.ok_or(EdfError::UnknownCacheId(CacheKind::Atom, id))?.atom(id)
    }

    /// Reads an atom as a [`Name`] (Go's `gen.Atom` in a name position: process, event names).
    /// A name owns its text and is freed with its last copy: nothing grows a global table.
    ///
    /// # Errors
    /// As [`Decoder::read_atom_str`].
    pub fn read_name(&mut self) -> Result<Name, EdfError> {
        let n = self.read_u16()?;
        if n >= super::cache::ATOM_MIN {
            return Ok(self.cached_atom(n)?.name.clone());
        }
        Ok(Name::new(Self::utf8(self.take(usize::from(n))?)?))
    }

    /// Reads an atom naming a node, interned as an [`Atom`] through the bounded node-name table.
    ///
    /// # Errors
    /// [`EdfError::AtomTableFull`] when the table is full, and as [`Decoder::read_atom_str`].
    pub fn read_node(&mut self) -> Result<Atom, EdfError> {
        let n = self.read_u16()?;
        if n >= super::cache::ATOM_MIN {
            return self.cached_atom(n)?.node();
        }
        super::ident::intern_node(Self::utf8(self.take(usize::from(n))?)?)
    }

    /// Reads an error (without its tag): `None` for nil (`ff ff`).
    ///
    /// # Errors
    /// [`EdfError::UnknownCacheId`], [`EdfError::Utf8`], [`EdfError::Truncated`].
    pub fn read_error(&mut self) -> Result<Option<ErrorValue>, EdfError> {
        let n = self.read_u16()?;
        if n == u16::MAX {
            return Ok(None);
        }
        if n >= super::cache::ERR_MIN {
            let c = self.caches.ok_or(EdfError::UnknownCacheId(CacheKind::Error, n))?;
            return Ok(Some(c.error(n)?.clone()));
        }
        Ok(Some(ErrorValue::new(Self::utf8(self.take(usize::from(n))?)?)))
    }

    /// Reads a registered type's name after its `0x83`: u16 length ≤ 4095 and the name, or a
    /// cache id > 4095.
    ///
    /// # Errors
    /// [`EdfError::UnknownCacheId`], [`EdfError::Utf8`], [`EdfError::Truncated`].
    pub fn read_reg_name(&mut self) -> Result<&'a str, EdfError> {
        let n = self.read_u16()?;
        if n >= super::cache::REG_MIN {
            let c = self.caches.ok_or(EdfError::UnknownCacheId(CacheKind::Reg, n))?;
            return c.reg(n);
        }
        Self::utf8(self.take(usize::from(n))?)
    }

    /// Reads `0x83` and a type name, and checks that it is `name`.
    ///
    /// # Errors
    /// [`EdfError::TypeMismatch`] for another name, [`EdfError::BadTag`] for another tag.
    pub fn expect_reg_name(&mut self, name: &str) -> Result<(), EdfError> {
        self.expect(tag::REG)?;
        let found = self.read_reg_name()?;
        if found != name {
            return Err(EdfError::TypeMismatch { expected: name.to_owned(), found: found.to_owned() });
        }
        Ok(())
    }
}
