//! EHS frames (§2.1): `'W'`, version 1, u32 payload length (at most 65535), EDF payload.
//! Splitting and building only; the payload is a byte slice.

use crate::net::proto::BuildError;

/// First byte of a handshake frame: `'W'`.
pub const MAGIC: u8 = b'W';
/// Second byte: handshake protocol version 1.
pub const VERSION: u8 = 1;
/// Length of the frame header (magic, version, u32 length).
pub const HEADER_LEN: usize = 6;
/// The longest payload Go reads or writes in a handshake frame.
pub const MAX_PAYLOAD: usize = u16::MAX as usize;

/// Why bytes are not a handshake frame. The link must close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeFrameError {
    /// The first byte is not `'W'` (Go: "malformed handshake packet").
    #[error("not a handshake frame: magic byte {0:#04x}, expected 0x57 ('W')")]
    BadMagic(u8),
    /// The version is not 1 (Go: "mismatch handshake version").
    #[error("unsupported handshake version {0} (expected 1)")]
    BadVersion(u8),
    /// The payload length is above 65535 (Go: "too long handshake message").
    #[error("handshake frame payload of {0} bytes exceeds 65535")]
    TooLong(u32),
}

/// The payload of the handshake frame at the start of `buf` and the frame's whole length, or
/// `Ok(None)` while it has not fully arrived.
///
/// # Errors
///
/// [`HandshakeFrameError`]; checked as soon as the bytes concerned are there.
///
/// # Examples
///
/// ```
/// use ergors::net::handshake::read_frame;
/// let bytes = [b'W', 1, 0, 0, 0, 2, 0xab, 0xcd, b'N'];
/// assert_eq!(read_frame(&bytes[..7]), Ok(None));
/// assert_eq!(read_frame(&bytes), Ok(Some((&bytes[6..8], 8))));
/// ```
pub fn read_frame(buf: &[u8]) -> Result<Option<(&[u8], usize)>, HandshakeFrameError> {
    if let Some(&magic) = buf.first()
        && magic != MAGIC
    {
        return Err(HandshakeFrameError::BadMagic(magic));
    }
    if let Some(&version) = buf.get(1)
        && version != VERSION
    {
        return Err(HandshakeFrameError::BadVersion(version));
    }
    let Some(len) = buf.get(2..HEADER_LEN) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
    if len as usize > MAX_PAYLOAD {
        return Err(HandshakeFrameError::TooLong(len));
    }
    let end = HEADER_LEN + len as usize;
    Ok(buf.get(HEADER_LEN..end).map(|payload| (payload, end)))
}

/// Appends a handshake frame to `out`: the header, then whatever `payload` appends (an EDF
/// message without caches), then the length is patched. Returns the frame's length.
///
/// # Errors
///
/// [`BuildError::Payload`] if `payload` fails, [`BuildError::TooLarge`] if it wrote more than
/// 65535 bytes. `out` is left as it was on error.
pub fn write_frame<F, E>(out: &mut Vec<u8>, payload: F) -> Result<usize, BuildError<E>>
where
    F: FnOnce(&mut Vec<u8>) -> Result<(), E>,
{
    let start = out.len();
    out.extend_from_slice(&[MAGIC, VERSION, 0, 0, 0, 0]);
    if let Err(e) = payload(out) {
        out.truncate(start);
        return Err(BuildError::Payload(e));
    }
    let len = out.len() - start - HEADER_LEN;
    if len > MAX_PAYLOAD {
        out.truncate(start);
        return Err(BuildError::TooLarge { len, max: MAX_PAYLOAD });
    }
    // Lossless: `len` is at most 65535.
    out[start + 2..start + HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(HEADER_LEN + len)
}

/// A link's receive buffer during the handshake: yields whole handshake frames' payloads and,
/// once the handshake is over, the bytes that followed (the tail, the first ENP bytes).
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        FrameReader::default()
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame's payload, or `Ok(None)` while it has not fully arrived.
    ///
    /// # Errors
    ///
    /// As [`read_frame`]; the link must close.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, HandshakeFrameError> {
        match read_frame(&self.buf[self.start..])? {
            None => Ok(None),
            Some((_, len)) => {
                let begin = self.start + HEADER_LEN;
                self.start += len;
                Ok(Some(&self.buf[begin..self.start]))
            }
        }
    }

    /// The bytes received after the last frame returned.
    pub fn remaining(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}
