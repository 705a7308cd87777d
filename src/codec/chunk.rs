//! Cutting a byte stream into frames (Ergo's `meta.ChunkOptions`, used by the TCP and Port metas)
//! and, for a Port's text mode, into lines. Sans-IO: this module owns no socket or pipe and never
//! blocks; a meta pushes what it read and takes out whole frames. Nothing here panics on any
//! input: bad options and bad streams are typed errors.

use std::collections::VecDeque;

/// How a stream is cut into frames (Ergo's `meta.ChunkOptions`, same fields).
///
/// Disabled (the default) means pass-through: every non-empty read is one frame, as Ergo sends
/// each read as it came. Enabled, a frame is either `fixed_length` bytes, or (with
/// `fixed_length` 0) a header of `header_size` bytes carrying the frame's length as a big-endian
/// integer of `header_length_size` (1, 2 or 4) bytes at `header_length_position`; that length
/// counts the header too when `header_length_includes_header`, and a frame (header included)
/// longer than `max_length` (0: no limit) is an error.
///
/// # Examples
/// ```
/// use ergors::codec::ChunkOptions;
///
/// // A 4-byte header: a tag byte, a reserved byte, then a 2-byte payload length.
/// let mut chunker = ChunkOptions::header(4, 2, 2).max_length(1024).build()?;
/// chunker.push(&[7, 0, 0, 3, b'a', b'b'])?;
/// assert_eq!(chunker.next_frame(), None); // half a frame waits for the rest
/// chunker.push(&[b'c', 9])?;
/// assert_eq!(chunker.next_frame(), Some(vec![7, 0, 0, 3, b'a', b'b', b'c']));
/// assert_eq!(chunker.buffered(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkOptions {
    enable: bool,
    fixed_length: usize,
    header_size: usize,
    header_length_position: usize,
    header_length_size: usize,
    header_length_includes_header: bool,
    max_length: usize,
}

impl ChunkOptions {
    /// Chunking off: every read is passed on as it came.
    pub fn new() -> Self {
        Self::default()
    }

    /// Frames of exactly `length` bytes (enabled).
    pub fn fixed(length: usize) -> Self {
        Self::new().enable(true).fixed_length(length)
    }

    /// Frames led by a `size`-byte header whose length field of `length_size` bytes (1, 2 or 4,
    /// big-endian) starts at `length_position` (enabled). The length counts the payload only
    /// unless [`header_length_includes_header`](Self::header_length_includes_header) is set.
    pub fn header(size: usize, length_position: usize, length_size: usize) -> Self {
        Self::new()
            .enable(true)
            .header_size(size)
            .header_length_position(length_position)
            .header_length_size(length_size)
    }

    /// Turns chunking on or off (Ergo's `Enable`).
    pub fn enable(mut self, on: bool) -> Self {
        self.enable = on;
        self
    }

    /// Every frame is this many bytes; 0 means frames carry a length header (Ergo's `FixedLength`).
    pub fn fixed_length(mut self, length: usize) -> Self {
        self.fixed_length = length;
        self
    }

    /// The header's size in bytes (Ergo's `HeaderSize`).
    pub fn header_size(mut self, size: usize) -> Self {
        self.header_size = size;
        self
    }

    /// Where the length field starts within the header (Ergo's `HeaderLengthPosition`).
    pub fn header_length_position(mut self, position: usize) -> Self {
        self.header_length_position = position;
        self
    }

    /// The length field's size: 1, 2 or 4 bytes, big-endian (Ergo's `HeaderLengthSize`).
    pub fn header_length_size(mut self, size: usize) -> Self {
        self.header_length_size = size;
        self
    }

    /// Whether the length field counts the header too (Ergo's `HeaderLengthIncludesHeader`).
    pub fn header_length_includes_header(mut self, includes: bool) -> Self {
        self.header_length_includes_header = includes;
        self
    }

    /// The longest frame accepted, header included; 0 means no limit (Ergo's `MaxLength`).
    pub fn max_length(mut self, max: usize) -> Self {
        self.max_length = max;
        self
    }

    /// Whether chunking is on.
    pub fn is_enabled(&self) -> bool {
        self.enable
    }

    /// Checks the options (Ergo's `IsValid`), naming the field at fault.
    ///
    /// # Errors
    /// [`ChunkOptionsError`] when a header is needed but `header_size` is 0, when the length
    /// field does not fit in the header or is not 1, 2 or 4 bytes, or when `max_length` is set
    /// below the smallest possible frame (the header, or the fixed length).
    pub fn validate(&self) -> Result<(), ChunkOptionsError> {
        self.framing().map(|_| ())
    }

    /// Validates the options into a [`Chunker`] that cuts a stream with them.
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn build(&self) -> Result<Chunker, ChunkOptionsError> {
        Ok(Chunker { framing: self.framing()?, pending: Vec::new(), want: None, frames: VecDeque::new(), failed: None })
    }

    fn framing(&self) -> Result<Framing, ChunkOptionsError> {
        if !self.enable {
            return Ok(Framing::Off);
        }
        if self.fixed_length > 0 {
            // Ergo ignores `MaxLength` with a fixed length; a limit below it could only ever
            // fail, so it is refused here (D131).
            if self.max_length > 0 && self.fixed_length > self.max_length {
                return Err(ChunkOptionsError::MaxBelowFrame {
                    max_length: self.max_length,
                    smallest: self.fixed_length,
                });
            }
            return Ok(Framing::Fixed(self.fixed_length));
        }
        if self.header_size == 0 {
            return Err(ChunkOptionsError::HeaderSizeZero);
        }
        if !matches!(self.header_length_size, 1 | 2 | 4) {
            return Err(ChunkOptionsError::LengthSize(self.header_length_size));
        }
        let fits =
            self.header_length_position.checked_add(self.header_length_size).is_some_and(|end| end <= self.header_size);
        if !fits {
            return Err(ChunkOptionsError::LengthOutsideHeader {
                position: self.header_length_position,
                size: self.header_length_size,
                header_size: self.header_size,
            });
        }
        if self.max_length > 0 && self.max_length < self.header_size {
            return Err(ChunkOptionsError::MaxBelowFrame { max_length: self.max_length, smallest: self.header_size });
        }
        Ok(Framing::Header {
            size: self.header_size,
            position: self.header_length_position,
            length_size: self.header_length_size,
            includes_header: self.header_length_includes_header,
            max: self.max_length,
        })
    }
}

/// Why [`ChunkOptions`] are not acceptable; [`field`](Self::field) names the option at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkOptionsError {
    /// Neither a fixed length nor a header size was given.
    #[error("header_size must be non-zero when fixed_length is 0")]
    HeaderSizeZero,
    /// The length field is not 1, 2 or 4 bytes.
    #[error("header_length_size must be 1, 2 or 4 (got {0})")]
    LengthSize(usize),
    /// The length field reaches past the end of the header.
    #[error("header_length_position {position} + header_length_size {size} is beyond header_size {header_size}")]
    LengthOutsideHeader {
        /// `header_length_position`.
        position: usize,
        /// `header_length_size`.
        size: usize,
        /// `header_size`.
        header_size: usize,
    },
    /// `max_length` is below the smallest frame, so every frame would be refused.
    #[error("max_length {max_length} is below the smallest frame ({smallest} bytes)")]
    MaxBelowFrame {
        /// `max_length`.
        max_length: usize,
        /// The header size, or the fixed length.
        smallest: usize,
    },
}

impl ChunkOptionsError {
    /// The name of the option at fault, as its builder method is named.
    pub fn field(&self) -> &'static str {
        match self {
            ChunkOptionsError::HeaderSizeZero => "header_size",
            ChunkOptionsError::LengthSize(_) => "header_length_size",
            ChunkOptionsError::LengthOutsideHeader { .. } => "header_length_position",
            ChunkOptionsError::MaxBelowFrame { .. } => "max_length",
        }
    }
}

/// Why a stream (or a payload to encode) cannot be framed. After a stream error the
/// [`Chunker`] refuses further bytes: the peer's framing is lost, so the connection should end
/// (Ergo's meta ends with `ErrTooLarge`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// A frame's length (header included) is beyond `max_length`.
    #[error("frame of {length} bytes exceeds max_length {max}")]
    TooLong {
        /// The frame's length, header included.
        length: u64,
        /// The limit.
        max: usize,
    },
    /// A header whose length counts the header announces fewer bytes than the header itself.
    #[error("frame length {length} is shorter than its {header_size}-byte header")]
    ShorterThanHeader {
        /// The length read.
        length: u64,
        /// The header size.
        header_size: usize,
    },
    /// A payload to encode does not have the fixed length.
    #[error("payload of {length} bytes for frames of fixed length {fixed}")]
    NotFixedLength {
        /// The payload's length.
        length: usize,
        /// The fixed length.
        fixed: usize,
    },
    /// A payload to encode is too long for the header's length field.
    #[error("frame of {length} bytes does not fit a {length_size}-byte length field")]
    LengthFieldOverflow {
        /// The value that would have been written.
        length: u64,
        /// The length field's size.
        length_size: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Off,
    Fixed(usize),
    Header { size: usize, position: usize, length_size: usize, includes_header: bool, max: usize },
}

/// A frame's first allocation when its length is announced: a header claiming 4 GiB (no
/// `max_length`) must not reserve 4 GiB before the bytes arrive.
const FIRST_RESERVE: usize = 64 * 1024;

/// Cuts a byte stream into frames, as configured by [`ChunkOptions`]. Feed it with
/// [`push`](Self::push), take frames with [`next_frame`](Self::next_frame) or
/// [`frames`](Self::frames).
///
/// Each byte is copied once: from the slice pushed into the frame it belongs to (a frame
/// completed across pushes grows in place and is handed out without another copy). What is
/// held between pushes is at most one partial frame, so its size is bounded by `max_length`.
#[derive(Debug)]
pub struct Chunker {
    framing: Framing,
    /// The partial frame (possibly only part of its header).
    pending: Vec<u8>,
    /// The length of the frame in `pending`, once its header is in.
    want: Option<usize>,
    frames: VecDeque<Vec<u8>>,
    failed: Option<ChunkError>,
}

impl Chunker {
    /// Takes the bytes of one read. Complete frames become available in order; a partial one
    /// waits for the rest. An empty slice does nothing.
    ///
    /// # Errors
    /// [`ChunkError::TooLong`] when a header announces a frame beyond `max_length`, or
    /// [`ChunkError::ShorterThanHeader`] for an impossible length. The frames completed before
    /// the bad header can still be taken; every later push returns the same error.
    pub fn push(&mut self, mut data: &[u8]) -> Result<(), ChunkError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.framing == Framing::Off {
            if !data.is_empty() {
                self.frames.push_back(data.to_vec());
            }
            return Ok(());
        }
        while !data.is_empty() {
            if self.pending.is_empty() {
                // Fast path: frames lying whole in `data` go straight into their own vectors.
                let Some(len) = self.checked(frame_len(self.framing, data))? else {
                    self.pending.extend_from_slice(data);
                    return Ok(());
                };
                if data.len() >= len {
                    self.frames.push_back(data[..len].to_vec());
                    data = &data[len..];
                    continue;
                }
                self.want = Some(len);
                self.pending.reserve_exact(data.len().max(len.min(FIRST_RESERVE)));
                self.pending.extend_from_slice(data);
                return Ok(());
            }
            let want = match self.want {
                Some(want) => want,
                None => {
                    // Only part of a header is held: complete it first.
                    let header = self.header_size();
                    let take = (header - self.pending.len()).min(data.len());
                    self.pending.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    let Some(len) = self.checked(frame_len(self.framing, &self.pending))? else {
                        return Ok(());
                    };
                    self.want = Some(len);
                    len
                }
            };
            let take = (want - self.pending.len()).min(data.len());
            grow_towards(&mut self.pending, take, want);
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < want {
                return Ok(());
            }
            self.frames.push_back(std::mem::take(&mut self.pending));
            self.want = None;
        }
        Ok(())
    }

    /// The next complete frame, in stream order.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        self.frames.pop_front()
    }

    /// Takes every complete frame, in stream order.
    pub fn frames(&mut self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.frames.drain(..)
    }

    /// How many bytes of an incomplete frame are held (what is lost if the stream ends now;
    /// Ergo drops it silently).
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    /// Frames `payload` for a peer that cuts with the same options, appending to `out`: with a
    /// header, a header of zeros but for its length field, then the payload; with a fixed
    /// length, the payload as it is (it must have that length); with chunking off, the payload.
    /// Ergo has no encoder (senders frame their data themselves); this one is for senders and
    /// tests. Other header bytes (tags, versions) can be set in `out` afterwards.
    ///
    /// # Errors
    /// [`ChunkError::NotFixedLength`], [`ChunkError::TooLong`] (beyond `max_length`) or
    /// [`ChunkError::LengthFieldOverflow`]; `out` is unchanged then.
    pub fn encode(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), ChunkError> {
        match self.framing {
            Framing::Off => {}
            Framing::Fixed(fixed) => {
                if payload.len() != fixed {
                    return Err(ChunkError::NotFixedLength { length: payload.len(), fixed });
                }
            }
            Framing::Header { size, position, length_size, includes_header, max } => {
                let total = (payload.len() as u64).saturating_add(size as u64);
                if max > 0 && total > max as u64 {
                    return Err(ChunkError::TooLong { length: total, max });
                }
                let value = if includes_header { total } else { payload.len() as u64 };
                let limit = match length_size {
                    1 => u64::from(u8::MAX),
                    2 => u64::from(u16::MAX),
                    _ => u64::from(u32::MAX),
                };
                if value > limit {
                    return Err(ChunkError::LengthFieldOverflow { length: value, length_size });
                }
                let start = out.len();
                out.resize(start + size, 0);
                let field = &mut out[start + position..start + position + length_size];
                field.copy_from_slice(&value.to_be_bytes()[8 - length_size..]);
            }
        }
        out.extend_from_slice(payload);
        Ok(())
    }

    fn header_size(&self) -> usize {
        match self.framing {
            Framing::Header { size, .. } => size,
            Framing::Off | Framing::Fixed(_) => 0,
        }
    }

    fn checked<T>(&mut self, outcome: Result<T, ChunkError>) -> Result<T, ChunkError> {
        outcome.map_err(|err| self.fail(err))
    }

    fn fail(&mut self, err: ChunkError) -> ChunkError {
        self.pending = Vec::new();
        self.want = None;
        self.failed = Some(err.clone());
        err
    }
}

/// The length of the frame starting at `head`, or `None` while its header is incomplete.
fn frame_len(framing: Framing, head: &[u8]) -> Result<Option<usize>, ChunkError> {
    let (size, position, length_size, includes_header, max) = match framing {
        Framing::Off => return Ok(None),
        Framing::Fixed(fixed) => return Ok(Some(fixed)),
        Framing::Header { size, position, length_size, includes_header, max } => {
            (size, position, length_size, includes_header, max)
        }
    };
    if head.len() < size {
        return Ok(None);
    }
    let value = head[position..position + length_size].iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let length = if includes_header { value } else { value + size as u64 };
    if includes_header && value < size as u64 {
        return Err(ChunkError::ShorterThanHeader { length: value, header_size: size });
    }
    if max > 0 && length > max as u64 {
        return Err(ChunkError::TooLong { length, max });
    }
    // A length beyond the address space (only on 32-bit targets) cannot be held either.
    usize::try_from(length).map(Some).map_err(|_| ChunkError::TooLong { length, max: usize::MAX })
}

/// Makes room for `take` more bytes in a partial frame of final length `want`: doubling, as a
/// vector grows, but never past `want`, so a frame's buffer stays within `max_length`.
fn grow_towards(buf: &mut Vec<u8>, take: usize, want: usize) {
    let need = buf.len() + take;
    if need > buf.capacity() {
        let target = need.max(buf.capacity().saturating_mul(2)).min(want);
        buf.reserve_exact(target - buf.len());
    }
}

/// The longest line a [`LineSplitter`] takes by default, its `\n` included: Go's
/// `bufio.MaxScanTokenSize`, which Ergo's Port uses.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// Why a [`LineSplitter`] stopped: a line longer than its limit (Go's `bufio.ErrTooLong`, which
/// ends Ergo's Port meta).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// No `\n` within the limit.
    #[error("line longer than {limit} bytes")]
    TooLong {
        /// The limit, the line's `\n` included.
        limit: usize,
    },
}

/// Splits a text stream into lines as Go's `bufio.Scanner` with `ScanLines` does for Ergo's
/// Port (stdout in text mode, and stderr): a line ends at `\n`, which is dropped, and so is one
/// `\r` before it; an empty line is a line; at the end of the stream what remains, if anything,
/// is a last line ([`finish`](Self::finish)). A line must fit in the limit with its `\n`;
/// one that does not is an error, and the splitter stops, as the Scanner does.
///
/// Lines come out as bytes: the Port meta decides how to turn them into text (Go strings may
/// hold any bytes).
///
/// # Examples
/// ```
/// use ergors::codec::LineSplitter;
///
/// let mut lines = LineSplitter::new();
/// lines.push(b"one\r\ntw")?;
/// lines.push(b"o\n\nthree")?;
/// let got: Vec<Vec<u8>> = lines.lines().collect();
/// assert_eq!(got, [b"one".to_vec(), b"two".to_vec(), b"".to_vec()]);
/// assert_eq!(lines.finish(), Some(b"three".to_vec()));
/// # Ok::<(), ergors::codec::LineError>(())
/// ```
#[derive(Debug)]
pub struct LineSplitter {
    limit: usize,
    partial: Vec<u8>,
    lines: VecDeque<Vec<u8>>,
    failed: bool,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl LineSplitter {
    /// A splitter with Go's default limit, [`DEFAULT_MAX_LINE`].
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_MAX_LINE)
    }

    /// A splitter taking lines of up to `limit` bytes, the `\n` included (at least 1: then
    /// only empty lines pass).
    pub fn with_limit(limit: usize) -> Self {
        LineSplitter { limit: limit.max(1), partial: Vec::new(), lines: VecDeque::new(), failed: false }
    }

    /// Takes the bytes of one read; complete lines become available in order.
    ///
    /// # Errors
    /// [`LineError::TooLong`] when a line does not fit the limit; the lines before it can still
    /// be taken, and every later push fails the same way.
    pub fn push(&mut self, data: &[u8]) -> Result<(), LineError> {
        let too_long = LineError::TooLong { limit: self.limit };
        if self.failed {
            return Err(too_long);
        }
        for piece in data.split_inclusive(|&b| b == b'\n') {
            let Some((&last, body)) = piece.split_last() else {
                continue;
            };
            if last != b'\n' {
                // The stream's tail with no end yet: Go fails once its buffer (the limit) is
                // full without a `\n` in it.
                if self.partial.len() + piece.len() >= self.limit {
                    return Err(self.fail(too_long));
                }
                self.partial.extend_from_slice(piece);
                continue;
            }
            if self.partial.len() + piece.len() > self.limit {
                return Err(self.fail(too_long));
            }
            let mut line = if self.partial.is_empty() {
                body.to_vec()
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(body);
                line
            };
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.lines.push_back(line);
        }
        Ok(())
    }

    /// The next complete line.
    pub fn next_line(&mut self) -> Option<Vec<u8>> {
        self.lines.pop_front()
    }

    /// Takes every complete line, in order.
    pub fn lines(&mut self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.lines.drain(..)
    }

    /// The stream ended: the unterminated rest, if any, is the last line (one trailing `\r`
    /// dropped), as Go's `ScanLines` returns it at EOF.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        if self.failed || self.partial.is_empty() {
            return None;
        }
        let mut line = std::mem::take(&mut self.partial);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(line)
    }

    /// How many bytes of an unterminated line are held (always below the limit).
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    fn fail(&mut self, err: LineError) -> LineError {
        self.failed = true;
        self.partial = Vec::new();
        err
    }
}
