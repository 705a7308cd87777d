//! [`Encoder`]: appends EDF to a caller's buffer (the connection's send buffer), writing length
//! fields in place and patching them afterwards, so encoding allocates nothing of its own.

use super::cache::EncodeCaches;
use super::error::EdfError;
use super::registry::Registry;
use super::tag;
use super::types::{Edf, Kind};
use super::value::Value;

/// Writes EDF values at the end of a `Vec<u8>` (it appends and never clears). Optional
/// [`EncodeCaches`] give the short forms of atoms, type names and errors; an optional
/// [`Registry`] is needed only to encode a [`Value`] holding a registered type.
///
/// The top-level writers ([`Encoder::encode`], [`Encoder::encode_value`]) leave the buffer as it
/// was when they fail. The `put_*` methods are the building blocks for [`Edf`] implementations.
pub struct Encoder<'b> {
    buf: &'b mut Vec<u8>,
    caches: Option<&'b EncodeCaches>,
    reg: Option<&'b Registry>,
}

impl<'b> Encoder<'b> {
    /// An encoder appending to `buf`, with no caches and no registry.
    pub fn new(buf: &'b mut Vec<u8>) -> Encoder<'b> {
        Encoder { buf, caches: None, reg: None }
    }

    /// Uses `caches` (the dictionaries we advertised) for short forms.
    pub fn with_caches(mut self, caches: &'b EncodeCaches) -> Encoder<'b> {
        self.caches = Some(caches);
        self
    }

    /// Uses `reg` for the shapes of registered types held in [`Value`]s.
    pub fn with_registry(mut self, reg: &'b Registry) -> Encoder<'b> {
        self.reg = Some(reg);
        self
    }

    pub(crate) fn registry(&self) -> Option<&'b Registry> {
        self.reg
    }

    /// Cuts the buffer back to `len` bytes (undoes a failed write).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// The bytes written so far (including whatever the buffer held before).
    pub fn buffer(&self) -> &[u8] {
        self.buf
    }

    /// Writes `value` at top level, with its type: the tag of a scalar, `0x83` and the name of a
    /// registered type, or `0x82` and the type description of a slice, array or map.
    ///
    /// # Errors
    /// Whatever `T::encode` fails with (e.g. [`EdfError::TooLong`]); the buffer is then as it
    /// was.
    pub fn encode<T: Edf>(&mut self, value: &T) -> Result<(), EdfError> {
        let start = self.buf.len();
        let r = self.encode_top(value);
        if r.is_err() {
            self.buf.truncate(start);
        }
        r
    }

    fn encode_top<T: Edf>(&mut self, value: &T) -> Result<(), EdfError> {
        match T::KIND {
            Kind::Composite => self.put_type_header(T::write_type)?,
            Kind::Scalar | Kind::Registered => T::write_type(self)?,
            // `Value` writes its own type.
            Kind::Any => {}
        }
        value.encode(self)
    }

    /// Writes a dynamic [`Value`] at top level (as Go writes an `any`: a nil is `0xff`).
    ///
    /// # Errors
    /// [`EdfError::TypeMismatch`] for a value that does not fit its own type description,
    /// [`EdfError::NotRegistered`] for a registered value whose name the registry lacks; the
    /// buffer is then as it was.
    pub fn encode_value(&mut self, value: &Value) -> Result<(), EdfError> {
        self.encode(value)
    }

    /// Appends one byte.
    #[inline]
    pub fn put_u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Appends a big-endian u16.
    #[inline]
    pub fn put_u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Appends a big-endian u32.
    #[inline]
    pub fn put_u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Appends a big-endian u64.
    #[inline]
    pub fn put_u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Appends raw bytes.
    #[inline]
    pub fn put_bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Appends a string: u16 length and the bytes.
    ///
    /// # Errors
    /// [`EdfError::TooLong`] beyond 65535 bytes.
    pub fn put_str(&mut self, s: &str) -> Result<(), EdfError> {
        let n = u16::try_from(s.len()).map_err(|_| EdfError::TooLong("string"))?;
        self.put_u16(n);
        self.put_bytes(s.as_bytes());
        Ok(())
    }

    /// Appends a binary: u32 length and the bytes.
    ///
    /// # Errors
    /// [`EdfError::TooLong`] at 4 GiB and beyond.
    pub fn put_binary(&mut self, b: &[u8]) -> Result<(), EdfError> {
        let n = u32::try_from(b.len()).ok().filter(|n| *n < u32::MAX).ok_or(EdfError::TooLong("binary"))?;
        self.put_u32(n);
        self.put_bytes(b);
        Ok(())
    }

    /// Appends an atom: its cache id if our atom cache has it, else u16 length and the bytes.
    ///
    /// # Errors
    /// [`EdfError::TooLong`] beyond 255 bytes.
    pub fn put_atom(&mut self, a: &str) -> Result<(), EdfError> {
        if let Some(id) = self.caches.and_then(|c| c.atom(a)) {
            self.put_u16(id);
            return Ok(());
        }
        let n = u8::try_from(a.len()).map_err(|_| EdfError::TooLong("atom"))?;
        self.put_u16(u16::from(n));
        self.put_bytes(a.as_bytes());
        Ok(())
    }

    /// Appends an error (without its tag): `ff ff` for nil, its cache id if our error cache has
    /// its text, else u16 length and the text.
    ///
    /// # Errors
    /// [`EdfError::TooLong`] beyond 32767 bytes.
    pub fn put_error(&mut self, text: Option<&str>) -> Result<(), EdfError> {
        let Some(text) = text else {
            self.put_u16(u16::MAX);
            return Ok(());
        };
        if let Some(id) = self.caches.and_then(|c| c.error(text)) {
            self.put_u16(id);
            return Ok(());
        }
        let n = u16::try_from(text.len()).ok().filter(|n| *n < 0x8000).ok_or(EdfError::TooLong("error"))?;
        self.put_u16(n);
        self.put_bytes(text.as_bytes());
        Ok(())
    }

    /// Appends `0x83` and a registered type's name (or its cache id).
    ///
    /// # Errors
    /// [`EdfError::TooLong`] beyond 4095 bytes.
    pub fn put_reg_name(&mut self, name: &str) -> Result<(), EdfError> {
        self.put_u8(tag::REG);
        if let Some(id) = self.caches.and_then(|c| c.reg(name)) {
            self.put_u16(id);
            return Ok(());
        }
        let n = u16::try_from(name.len()).ok().filter(|n| *n < 4096).ok_or(EdfError::TooLong("type name"))?;
        self.put_u16(n);
        self.put_bytes(name.as_bytes());
        Ok(())
    }

    /// Appends a u32 element count.
    ///
    /// # Errors
    /// [`EdfError::TooLong`] beyond u32.
    pub fn put_count(&mut self, n: usize) -> Result<(), EdfError> {
        let n = u32::try_from(n).map_err(|_| EdfError::TooLong("count"))?;
        self.put_u32(n);
        Ok(())
    }

    /// Reserves a u32 length field; [`Encoder::end_u32`] fills it with the bytes written since.
    pub fn begin_u32(&mut self) -> usize {
        let at = self.buf.len();
        self.put_u32(0);
        at
    }

    /// Patches the length field reserved at `mark`.
    ///
    /// # Errors
    /// [`EdfError::TooLong`] if more than u32::MAX − 1 bytes followed it.
    pub fn end_u32(&mut self, mark: usize, what: &'static str) -> Result<(), EdfError> {
        let n = self.buf.len() - mark - 4;
        let n = u32::try_from(n).ok().filter(|n| *n < u32::MAX).ok_or(EdfError::TooLong(what))?;
        self.buf[mark..mark + 4].copy_from_slice(&n.to_be_bytes());
        Ok(())
    }

    fn begin_u16(&mut self) -> usize {
        let at = self.buf.len();
        self.put_u16(0);
        at
    }

    fn end_u16(&mut self, mark: usize, what: &'static str) -> Result<(), EdfError> {
        let n = u16::try_from(self.buf.len() - mark - 2).map_err(|_| EdfError::TooLong(what))?;
        self.buf[mark..mark + 2].copy_from_slice(&n.to_be_bytes());
        Ok(())
    }

    /// Writes a composite's `0x82 · u16 n · description` header, `n` patched in place (for an
    /// `any` position holding a slice, array or map).
    pub(crate) fn put_type_header(
        &mut self,
        write: impl FnOnce(&mut Encoder<'b>) -> Result<(), EdfError>,
    ) -> Result<(), EdfError> {
        self.put_u8(tag::TYPE);
        let mark = self.begin_u16();
        write(self)?;
        self.end_u16(mark, "type description")
    }
}
