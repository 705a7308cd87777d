//! Splitting a received byte stream into whole ENP frames. Never allocates more than the bytes
//! it is given; never decides anything about a frame's contents.

use super::FrameError;
use super::header::{HEADER_LEN, Header, MAGIC, VERSION};

/// The length of the whole frame at the start of `buf`, `Ok(None)` if more bytes are needed to
/// know or to have it all.
///
/// `max_message_size` is our own limit (0 = none, as in Go; the u32 length field then bounds a
/// frame at 4 GiB, so a node should set one).
///
/// # Errors
///
/// Every error means the stream is unusable and the link must close: [`FrameError::BadMagic`],
/// [`FrameError::BadVersion`], [`FrameError::LengthTooShort`] (a length below the 8-byte
/// header), [`FrameError::TooLarge`]. Magic and version are checked as soon as their bytes are
/// there, before the rest of the header.
///
/// # Examples
///
/// ```
/// use ergors::net::proto::frame_len;
/// let frame = [0x4e, 1, 0, 0, 0, 9, 0, 199, 0xff];
/// assert_eq!(frame_len(&frame[..5], 0), Ok(None));
/// assert_eq!(frame_len(&frame, 0), Ok(Some(9)));
/// ```
pub fn frame_len(buf: &[u8], max_message_size: u32) -> Result<Option<usize>, FrameError> {
    if let Some(&magic) = buf.first()
        && magic != MAGIC
    {
        return Err(FrameError::BadMagic(magic));
    }
    if let Some(&version) = buf.get(1)
        && version != VERSION
    {
        return Err(FrameError::BadVersion(version));
    }
    let Some(header) = Header::peek(buf) else {
        return Ok(None);
    };
    let len = header.length.get();
    if (len as usize) < HEADER_LEN {
        return Err(FrameError::LengthTooShort(len));
    }
    if max_message_size > 0 && len > max_message_size {
        return Err(FrameError::TooLarge { len, max: max_message_size });
    }
    if buf.len() < len as usize {
        return Ok(None);
    }
    Ok(Some(len as usize))
}

/// A link's receive buffer that yields whole ENP frames.
///
/// Push what the socket delivered with [`extend`](FrameSplitter::extend), then take frames
/// with [`next_frame`](FrameSplitter::next_frame) until it returns `Ok(None)` (a partial frame
/// waits for more bytes). Consumed bytes are dropped at the next `extend`, so the buffer holds
/// at most one partial frame plus what was pushed since.
#[derive(Debug, Default)]
pub struct FrameSplitter {
    buf: Vec<u8>,
    start: usize,
    max_message_size: u32,
}

impl FrameSplitter {
    /// A splitter refusing frames above `max_message_size` bytes (0 = no limit but the
    /// length field's).
    pub fn new(max_message_size: u32) -> Self {
        FrameSplitter { buf: Vec::new(), start: 0, max_message_size }
    }

    /// A splitter starting with the handshake's tail (the bytes that followed the last
    /// handshake frame in the same read).
    pub fn with_tail(max_message_size: u32, tail: &[u8]) -> Self {
        FrameSplitter { buf: tail.to_vec(), start: 0, max_message_size }
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame (header included), or `Ok(None)` if it has not fully arrived.
    ///
    /// # Errors
    ///
    /// As [`frame_len`]; the link must close. The splitter keeps returning the error.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let rest = &self.buf[self.start..];
        match frame_len(rest, self.max_message_size)? {
            None => Ok(None),
            Some(len) => {
                let frame = &self.buf[self.start..self.start + len];
                self.start += len;
                Ok(Some(frame))
            }
        }
    }

    /// Bytes received but not yet returned as a frame.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}
