//! The per-connection dictionaries of §2.5: [`EncodeCaches`] (value → id, the dictionaries WE
//! advertised in our Introduce) and [`DecodeCaches`] (id → value, from the PEER's Introduce).
//! Both are built once per connection and only read afterwards.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use super::error::{CacheKind, EdfError};
use super::value::ErrorValue;
use crate::{Atom, Name};

/// Smallest id of each cache (ids below are lengths on the wire).
pub(crate) const ATOM_MIN: u16 = 256;
pub(crate) const REG_MIN: u16 = 4096;
pub(crate) const ERR_MIN: u16 = 32768;

fn check(kind: CacheKind, id: u16, min: u16) -> Result<(), EdfError> {
    // 0xffff is the nil error; never a cache id.
    if id < min || (kind == CacheKind::Error && id == u16::MAX) {
        return Err(EdfError::BadCacheId(kind, id));
    }
    Ok(())
}

/// The dictionaries an encoder may use for short forms: atoms (ids ≥ 256), registered type names
/// (≥ 4096) and error texts (≥ 32768). They must be the ones this side advertised to the peer;
/// anything not in them is written in full. Empty by default (everything in full).
#[derive(Clone, Debug, Default)]
pub struct EncodeCaches {
    atoms: HashMap<Box<str>, u16>,
    regs: HashMap<Box<str>, u16>,
    errors: HashMap<Box<str>, u16>,
}

impl EncodeCaches {
    /// Empty dictionaries.
    pub fn new() -> EncodeCaches {
        EncodeCaches::default()
    }

    /// Writes `atom` as the two bytes of `id` from now on.
    ///
    /// # Errors
    /// [`EdfError::BadCacheId`] if `id` ≤ 255.
    pub fn insert_atom(&mut self, atom: &str, id: u16) -> Result<(), EdfError> {
        check(CacheKind::Atom, id, ATOM_MIN)?;
        self.atoms.insert(atom.into(), id);
        Ok(())
    }

    /// Writes the registered type `name` as `0x83` + `id` from now on.
    ///
    /// # Errors
    /// [`EdfError::BadCacheId`] if `id` ≤ 4095.
    pub fn insert_reg(&mut self, name: &str, id: u16) -> Result<(), EdfError> {
        check(CacheKind::Reg, id, REG_MIN)?;
        self.regs.insert(name.into(), id);
        Ok(())
    }

    /// Writes errors with the text `text` as `id` from now on.
    ///
    /// # Errors
    /// [`EdfError::BadCacheId`] if `id` ≤ 32767 or is 0xffff (the nil error).
    pub fn insert_error(&mut self, text: &str, id: u16) -> Result<(), EdfError> {
        check(CacheKind::Error, id, ERR_MIN)?;
        self.errors.insert(text.into(), id);
        Ok(())
    }

    pub(crate) fn atom(&self, atom: &str) -> Option<u16> {
        self.atoms.get(atom).copied()
    }
    pub(crate) fn reg(&self, name: &str) -> Option<u16> {
        self.regs.get(name).copied()
    }
    pub(crate) fn error(&self, text: &str) -> Option<u16> {
        self.errors.get(text).copied()
    }
}

/// One atom of the peer's dictionary: its text, and the interned node atom made from it the
/// first time it names a node (so a PID from a cached node costs no interning after the first).
#[derive(Debug)]
pub(crate) struct CachedAtom {
    pub(crate) name: Name,
    node: OnceLock<Atom>,
}

impl CachedAtom {
    pub(crate) fn node(&self) -> Result<Atom, EdfError> {
        if let Some(a) = self.node.get() {
            return Ok(*a);
        }
        let a = super::ident::intern_node(self.name.as_str())?;
        Ok(*self.node.get_or_init(|| a))
    }
}

/// The peer's dictionaries (from its Introduce), for decoding short forms. A decoder without
/// them, or an id they lack, fails with [`EdfError::UnknownCacheId`].
#[derive(Debug, Default)]
pub struct DecodeCaches {
    atoms: HashMap<u16, CachedAtom>,
    regs: HashMap<u16, Arc<str>>,
    errors: HashMap<u16, ErrorValue>,
}

impl DecodeCaches {
    /// Empty dictionaries.
    pub fn new() -> DecodeCaches {
        DecodeCaches::default()
    }

    /// Reads atom id `id` as `atom`.
    ///
    /// # Errors
    /// [`EdfError::BadCacheId`] if `id` ≤ 255.
    pub fn insert_atom(&mut self, id: u16, atom: &str) -> Result<(), EdfError> {
        check(CacheKind::Atom, id, ATOM_MIN)?;
        self.atoms.insert(id, CachedAtom { name: Name::new(atom), node: OnceLock::new() });
        Ok(())
    }

    /// Reads registered-type id `id` as the type named `name`.
    ///
    /// # Errors
    /// [`EdfError::BadCacheId`] if `id` ≤ 4095.
    pub fn insert_reg(&mut self, id: u16, name: &str) -> Result<(), EdfError> {
        check(CacheKind::Reg, id, REG_MIN)?;
        self.regs.insert(id, Arc::from(name));
        Ok(())
    }

    /// Reads error id `id` as an error with the text `text`.
    ///
    /// # Errors
    /// [`EdfError::BadCacheId`] if `id` ≤ 32767 or is 0xffff.
    pub fn insert_error(&mut self, id: u16, text: &str) -> Result<(), EdfError> {
        check(CacheKind::Error, id, ERR_MIN)?;
        self.errors.insert(id, ErrorValue::new(text));
        Ok(())
    }

    pub(crate) fn atom(&self, id: u16) -> Result<&CachedAtom, EdfError> {
        self.atoms.get(&id).ok_or(EdfError::UnknownCacheId(CacheKind::Atom, id))
    }
    pub(crate) fn reg(&self, id: u16) -> Result<&str, EdfError> {
        self.regs.get(&id).map(|s| &**s).ok_or(EdfError::UnknownCacheId(CacheKind::Reg, id))
    }
    pub(crate) fn error(&self, id: u16) -> Result<&ErrorValue, EdfError> {
        self.errors.get(&id).ok_or(EdfError::UnknownCacheId(CacheKind::Error, id))
    }
}
