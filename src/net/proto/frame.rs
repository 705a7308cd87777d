//! Parsing and building one ENP frame: the header, the opcode's fixed fields and the payload
//! as a byte slice. Zero copy on receive (everything borrows the frame), in place on send
//! (the payload is written straight into the send buffer).

use super::header::{HEADER_LEN, Header, MAGIC, Opcode, VERSION};
use super::{BuildError, FrameError};
use std::convert::Infallible;

/// The priority byte of a frame: bits 0–1 the priority (Ergo's `MessagePriority`: 0 normal,
/// 1 high, 2 max), bit 7 "important". Kept whole, so a parsed frame rebuilds byte for byte
/// whatever the sender put in the other bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Prio(pub u8);

impl Prio {
    /// The important-delivery bit.
    pub const IMPORTANT: u8 = 0x80;

    /// A priority byte from Ergo's priority (0 normal, 1 high, 2 max; masked to 2 bits) and
    /// the important flag.
    pub fn new(priority: u8, important: bool) -> Prio {
        Prio((priority & 3) | if important { Prio::IMPORTANT } else { 0 })
    }

    /// Ergo's priority (0 normal, 1 high, 2 max; 3 is possible on the wire).
    pub fn priority(self) -> u8 {
        self.0 & 3
    }

    /// Whether the sender asked for important delivery (an acknowledgement, §3.5).
    pub fn important(self) -> bool {
        self.0 & Prio::IMPORTANT != 0
    }
}

/// The code of a [`Enp::MessageResponseError`] frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseCode {
    /// 0: no error (an important delivery's acknowledgement).
    Ok,
    /// 1: `unknown process`.
    UnknownProcess,
    /// 2: `process mailbox is full`.
    MailboxFull,
    /// 3: `process terminated`.
    ProcessTerminated,
    /// 255: the payload is an EDF error.
    Error,
    /// Any other byte (not sent by Go).
    Other(u8),
}

impl ResponseCode {
    /// The byte on the wire.
    pub fn byte(self) -> u8 {
        match self {
            ResponseCode::Ok => 0,
            ResponseCode::UnknownProcess => 1,
            ResponseCode::MailboxFull => 2,
            ResponseCode::ProcessTerminated => 3,
            ResponseCode::Error => 255,
            ResponseCode::Other(b) => b,
        }
    }
}

impl From<u8> for ResponseCode {
    fn from(byte: u8) -> Self {
        match byte {
            0 => ResponseCode::Ok,
            1 => ResponseCode::UnknownProcess,
            2 => ResponseCode::MailboxFull,
            3 => ResponseCode::ProcessTerminated,
            255 => ResponseCode::Error,
            b => ResponseCode::Other(b),
        }
    }
}

/// The fixed fields of an ENP frame, one variant per opcode (§3.2), names and cache ids as the
/// peer sent them (resolving a cache id through the peer's atom cache is the caller's job).
///
/// Field meanings: `from` is the sender's process id (its node and creation are the peer's);
/// `to` a process id of the receiving node; `reference` the three ids of a `Ref` (the caller's
/// node for requests, the receiver's own for responses); `alias` the three ids of an alias;
/// `impid` the important-delivery ack id (garbage in Go's frames unless `prio.important()`);
/// `name` a name's bytes (at most 255).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // the fields are documented on the enum
pub enum Enp<'a> {
    /// 101: send to a process by id.
    MessagePid { from: u64, prio: Prio, impid: u64, to: u64 },
    /// 102: send to a process by name.
    MessageName { from: u64, prio: Prio, impid: u64, name: &'a [u8] },
    /// 103: send by name, the name as an atom-cache id.
    MessageNameCache { from: u64, prio: Prio, impid: u64, cache_id: u16 },
    /// 104: send to an alias.
    MessageAlias { from: u64, prio: Prio, impid: u64, alias: [u64; 3] },
    /// 105: an event's message; `timestamp` in nanoseconds; `prio` is not masked by Go here.
    MessageEvent { from: u64, prio: Prio, timestamp: i64, name: &'a [u8] },
    /// 106: an event's message, the event name as an atom-cache id.
    MessageEventCache { from: u64, prio: Prio, timestamp: i64, cache_id: u16 },
    /// 107: an exit signal; the payload is the reason (an EDF error). Go sends prio 2.
    MessageExit { from: u64, prio: Prio, to: u64 },
    /// 121: a call to a process by id.
    RequestPid { from: u64, prio: Prio, reference: [u64; 3], to: u64 },
    /// 122: a call by name.
    RequestName { from: u64, prio: Prio, reference: [u64; 3], name: &'a [u8] },
    /// 123: a call by name as an atom-cache id.
    RequestNameCache { from: u64, prio: Prio, reference: [u64; 3], cache_id: u16 },
    /// 124: a call to an alias.
    RequestAlias { from: u64, prio: Prio, reference: [u64; 3], alias: [u64; 3] },
    /// 129: a call's response.
    MessageResponse { from: u64, prio: Prio, to: u64, reference: [u64; 3] },
    /// 130: a call's error response or an important delivery's ack; the payload is an EDF
    /// error only when `code` is 255.
    MessageResponseError { from: u64, prio: Prio, to: u64, reference: [u64; 3], code: u8 },
    /// 181: a watched process terminated; payload: the reason. Go sends prio 1.
    TerminatePid { prio: Prio, target: u64 },
    /// 182: a watched name terminated.
    TerminateName { prio: Prio, name: &'a [u8] },
    /// 183: a watched name (as an atom-cache id) terminated.
    TerminateNameCache { prio: Prio, cache_id: u16 },
    /// 184: a watched alias is gone.
    TerminateAlias { prio: Prio, alias: [u64; 3] },
    /// 185: a watched event is gone.
    TerminateEvent { prio: Prio, name: &'a [u8] },
    /// 186: a watched event (name as an atom-cache id) is gone.
    TerminateEventCache { prio: Prio, cache_id: u16 },
    /// 199: the payload is a registered control struct (link, monitor, result …).
    MessageAny,
    /// 200: a compressed frame; `kind` is the compression type byte (100 LZW, 101 zlib,
    /// 102 gzip), `original_len` the inner frame's length; the payload is the compressed stream
    /// ([`inflate`](super::inflate)).
    Compressed { kind: u8, original_len: u32 },
    /// An opcode Go does not define, or one it reserves but does not implement (201–203);
    /// the payload is everything after the header. Drop and log.
    Unknown { opcode: u8 },
}

impl Enp<'_> {
    /// If this is an error response shaped like an important delivery's acknowledgement
    /// (§3.5: reference `[ack_id, 0, 0]`), its ack id and code. Real call references have a
    /// non-zero second id, but the caller still matches the id against the acks it awaits
    /// (as Go matches a call response).
    pub fn important_ack(&self) -> Option<(u64, ResponseCode)> {
        match *self {
            Enp::MessageResponseError { reference: [ack_id, 0, 0], code, .. } => Some((ack_id, code.into())),
            _ => None,
        }
    }

    /// The opcode byte of this frame.
    pub fn opcode(&self) -> u8 {
        use Enp::*;
        let op = match self {
            MessagePid { .. } => Opcode::MessagePid,
            MessageName { .. } => Opcode::MessageName,
            MessageNameCache { .. } => Opcode::MessageNameCache,
            MessageAlias { .. } => Opcode::MessageAlias,
            MessageEvent { .. } => Opcode::MessageEvent,
            MessageEventCache { .. } => Opcode::MessageEventCache,
            MessageExit { .. } => Opcode::MessageExit,
            RequestPid { .. } => Opcode::RequestPid,
            RequestName { .. } => Opcode::RequestName,
            RequestNameCache { .. } => Opcode::RequestNameCache,
            RequestAlias { .. } => Opcode::RequestAlias,
            MessageResponse { .. } => Opcode::MessageResponse,
            MessageResponseError { .. } => Opcode::MessageResponseError,
            TerminatePid { .. } => Opcode::TerminatePid,
            TerminateName { .. } => Opcode::TerminateName,
            TerminateNameCache { .. } => Opcode::TerminateNameCache,
            TerminateAlias { .. } => Opcode::TerminateAlias,
            TerminateEvent { .. } => Opcode::TerminateEvent,
            TerminateEventCache { .. } => Opcode::TerminateEventCache,
            MessageAny => Opcode::MessageAny,
            Compressed { .. } => Opcode::Compressed,
            Unknown { opcode } => return *opcode,
        };
        op.byte()
    }
}

/// A parsed ENP frame, borrowing the bytes it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The header's ordering key (0 = unordered).
    pub order: u8,
    /// The opcode and its fixed fields.
    pub enp: Enp<'a>,
    /// What follows the fixed fields: the EDF value (empty for a 130 ack), the compressed
    /// stream of a 200, everything after the header of an unknown opcode.
    pub payload: &'a [u8],
}

/// Reads fixed fields off the front of a frame body; `None` when the body is too short.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).and_then(|b| b.try_into().ok()).map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
    }
    fn prio(&mut self) -> Option<Prio> {
        self.u8().map(Prio)
    }
    fn ids(&mut self) -> Option<[u64; 3]> {
        Some([self.u64()?, self.u64()?, self.u64()?])
    }
    fn name(&mut self) -> Option<&'a [u8]> {
        let len = self.u8()?;
        self.take(len as usize)
    }
}

impl<'a> Frame<'a> {
    /// Parses one whole frame (as returned by the splitter), without copying.
    ///
    /// # Errors
    ///
    /// [`FrameError::BadMagic`], [`FrameError::BadVersion`] and [`FrameError::LengthMismatch`]
    /// if `bytes` is not exactly one frame; [`FrameError::Truncated`] if it is too short for
    /// its opcode's fixed fields (drop that frame). An unknown opcode is not an error
    /// ([`Enp::Unknown`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ergors::net::proto::{Enp, Frame};
    /// // TerminatePID of process 1004, reason "crash" (a frame Go sent).
    /// let bytes = [
    ///     0x4e, 1, 0, 0, 0, 25, 0, 181, 1, 0, 0, 0, 0, 0, 0, 3, 0xec, 0x9c, 0, 5, b'c', b'r', b'a',
    ///     b's', b'h',
    /// ];
    /// let frame = Frame::parse(&bytes).unwrap();
    /// assert!(matches!(frame.enp, Enp::TerminatePid { target: 1004, .. }));
    /// assert_eq!(frame.payload, &bytes[17..]);
    /// ```
    pub fn parse(bytes: &'a [u8]) -> Result<Frame<'a>, FrameError> {
        let header = Header::peek(bytes).ok_or(FrameError::Truncated { opcode: 0, len: bytes.len() })?;
        if header.magic != MAGIC {
            return Err(FrameError::BadMagic(header.magic));
        }
        if header.version != VERSION {
            return Err(FrameError::BadVersion(header.version));
        }
        let declared = header.length.get();
        if declared as usize != bytes.len() {
            return Err(FrameError::LengthMismatch { declared, actual: bytes.len() });
        }
        let opcode = header.opcode;
        let truncated = FrameError::Truncated { opcode, len: bytes.len() };
        let mut f = Fields(&bytes[HEADER_LEN..]);
        let enp = Self::fields(opcode, &mut f).ok_or(truncated)?;
        Ok(Frame { order: header.order, enp, payload: f.0 })
    }

    fn fields(opcode: u8, f: &mut Fields<'a>) -> Option<Enp<'a>> {
        let Some(op) = Opcode::from_byte(opcode) else {
            return Some(Enp::Unknown { opcode });
        };
        Some(match op {
            Opcode::MessagePid => Enp::MessagePid { from: f.u64()?, prio: f.prio()?, impid: f.u64()?, to: f.u64()? },
            Opcode::MessageName => {
                Enp::MessageName { from: f.u64()?, prio: f.prio()?, impid: f.u64()?, name: f.name()? }
            }
            Opcode::MessageNameCache => {
                Enp::MessageNameCache { from: f.u64()?, prio: f.prio()?, impid: f.u64()?, cache_id: f.u16()? }
            }
            Opcode::MessageAlias => {
                Enp::MessageAlias { from: f.u64()?, prio: f.prio()?, impid: f.u64()?, alias: f.ids()? }
            }
            Opcode::MessageEvent => {
                Enp::MessageEvent { from: f.u64()?, prio: f.prio()?, timestamp: f.u64()? as i64, name: f.name()? }
            }
            Opcode::MessageEventCache => Enp::MessageEventCache {
                from: f.u64()?,
                prio: f.prio()?,
                timestamp: f.u64()? as i64,
                cache_id: f.u16()?,
            },
            Opcode::MessageExit => Enp::MessageExit { from: f.u64()?, prio: f.prio()?, to: f.u64()? },
            Opcode::RequestPid => {
                Enp::RequestPid { from: f.u64()?, prio: f.prio()?, reference: f.ids()?, to: f.u64()? }
            }
            Opcode::RequestName => {
                Enp::RequestName { from: f.u64()?, prio: f.prio()?, reference: f.ids()?, name: f.name()? }
            }
            Opcode::RequestNameCache => {
                Enp::RequestNameCache { from: f.u64()?, prio: f.prio()?, reference: f.ids()?, cache_id: f.u16()? }
            }
            Opcode::RequestAlias => {
                Enp::RequestAlias { from: f.u64()?, prio: f.prio()?, reference: f.ids()?, alias: f.ids()? }
            }
            Opcode::MessageResponse => {
                Enp::MessageResponse { from: f.u64()?, prio: f.prio()?, to: f.u64()?, reference: f.ids()? }
            }
            Opcode::MessageResponseError => Enp::MessageResponseError {
                from: f.u64()?,
                prio: f.prio()?,
                to: f.u64()?,
                reference: f.ids()?,
                code: f.u8()?,
            },
            Opcode::TerminatePid => Enp::TerminatePid { prio: f.prio()?, target: f.u64()? },
            Opcode::TerminateName => Enp::TerminateName { prio: f.prio()?, name: f.name()? },
            Opcode::TerminateNameCache => Enp::TerminateNameCache { prio: f.prio()?, cache_id: f.u16()? },
            Opcode::TerminateAlias => Enp::TerminateAlias { prio: f.prio()?, alias: f.ids()? },
            Opcode::TerminateEvent => Enp::TerminateEvent { prio: f.prio()?, name: f.name()? },
            Opcode::TerminateEventCache => Enp::TerminateEventCache { prio: f.prio()?, cache_id: f.u16()? },
            Opcode::MessageAny => Enp::MessageAny,
            Opcode::Compressed => Enp::Compressed { kind: f.u8()?, original_len: f.u32()? },
            Opcode::Encrypted | Opcode::Fragmented | Opcode::Proxy => Enp::Unknown { opcode },
        })
    }
}

fn put_name(out: &mut Vec<u8>, name: &[u8]) {
    // The length was checked by `check_names` before anything was written.
    out.push(name.len() as u8);
    out.extend_from_slice(name);
}

fn put_ids(out: &mut Vec<u8>, ids: &[u64; 3]) {
    for id in ids {
        out.extend_from_slice(&id.to_be_bytes());
    }
}

fn put_fields(out: &mut Vec<u8>, enp: &Enp<'_>) {
    use Enp::*;
    let u64s = |out: &mut Vec<u8>, v: u64| out.extend_from_slice(&v.to_be_bytes());
    match *enp {
        MessagePid { from, prio, impid, to } => {
            u64s(out, from);
            out.push(prio.0);
            u64s(out, impid);
            u64s(out, to);
        }
        MessageName { from, prio, impid, name } => {
            u64s(out, from);
            out.push(prio.0);
            u64s(out, impid);
            put_name(out, name);
        }
        MessageNameCache { from, prio, impid, cache_id } => {
            u64s(out, from);
            out.push(prio.0);
            u64s(out, impid);
            out.extend_from_slice(&cache_id.to_be_bytes());
        }
        MessageAlias { from, prio, impid, alias } => {
            u64s(out, from);
            out.push(prio.0);
            u64s(out, impid);
            put_ids(out, &alias);
        }
        MessageEvent { from, prio, timestamp, name } => {
            u64s(out, from);
            out.push(prio.0);
            u64s(out, timestamp as u64);
            put_name(out, name);
        }
        MessageEventCache { from, prio, timestamp, cache_id } => {
            u64s(out, from);
            out.push(prio.0);
            u64s(out, timestamp as u64);
            out.extend_from_slice(&cache_id.to_be_bytes());
        }
        MessageExit { from, prio, to } => {
            u64s(out, from);
            out.push(prio.0);
            u64s(out, to);
        }
        RequestPid { from, prio, reference, to } => {
            u64s(out, from);
            out.push(prio.0);
            put_ids(out, &reference);
            u64s(out, to);
        }
        RequestName { from, prio, reference, name } => {
            u64s(out, from);
            out.push(prio.0);
            put_ids(out, &reference);
            put_name(out, name);
        }
        RequestNameCache { from, prio, reference, cache_id } => {
            u64s(out, from);
            out.push(prio.0);
            put_ids(out, &reference);
            out.extend_from_slice(&cache_id.to_be_bytes());
        }
        RequestAlias { from, prio, reference, alias } => {
            u64s(out, from);
            out.push(prio.0);
            put_ids(out, &reference);
            put_ids(out, &alias);
        }
        MessageResponse { from, prio, to, reference } => {
            u64s(out, from);
            out.push(prio.0);
            u64s(out, to);
            put_ids(out, &reference);
        }
        MessageResponseError { from, prio, to, reference, code } => {
            u64s(out, from);
            out.push(prio.0);
            u64s(out, to);
            put_ids(out, &reference);
            out.push(code);
        }
        TerminatePid { prio, target } => {
            out.push(prio.0);
            u64s(out, target);
        }
        TerminateName { prio, name } | TerminateEvent { prio, name } => {
            out.push(prio.0);
            put_name(out, name);
        }
        TerminateNameCache { prio, cache_id } | TerminateEventCache { prio, cache_id } => {
            out.push(prio.0);
            out.extend_from_slice(&cache_id.to_be_bytes());
        }
        TerminateAlias { prio, alias } => {
            out.push(prio.0);
            put_ids(out, &alias);
        }
        MessageAny | Unknown { .. } => {}
        Compressed { kind, original_len } => {
            out.push(kind);
            out.extend_from_slice(&original_len.to_be_bytes());
        }
    }
}

fn name_of<'n>(enp: &Enp<'n>) -> Option<&'n [u8]> {
    match *enp {
        Enp::MessageName { name, .. }
        | Enp::MessageEvent { name, .. }
        | Enp::RequestName { name, .. }
        | Enp::TerminateName { name, .. }
        | Enp::TerminateEvent { name, .. } => Some(name),
        _ => None,
    }
}

/// Builds ENP frames into a connection's send buffer, refusing frames above the peer's
/// maximum message size (Go's `ErrTooLarge`).
///
/// # Examples
///
/// ```
/// use ergors::net::proto::{Enp, Frame, FrameWriter, Prio};
/// let writer = FrameWriter::new(0);
/// let mut send_buffer = Vec::new();
/// let enp = Enp::MessagePid { from: 1004, prio: Prio::new(0, false), impid: 0, to: 1005 };
/// let hello = [0x8d, 0, 5, b'h', b'e', b'l', b'l', b'o']; // an EDF string, encoded elsewhere
/// writer.write_bytes(&mut send_buffer, 240, &enp, &hello).unwrap();
/// let frame = Frame::parse(&send_buffer).unwrap();
/// assert_eq!((frame.order, frame.enp, frame.payload), (240, enp, &hello[..]));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameWriter {
    peer_max_message_size: u32,
}

impl FrameWriter {
    /// A writer for a peer that announced `peer_max_message_size` in its Introduce (0 = no
    /// limit but the u32 length field's).
    pub fn new(peer_max_message_size: u32) -> Self {
        FrameWriter { peer_max_message_size }
    }

    /// The largest frame this writer builds.
    pub fn limit(&self) -> usize {
        if self.peer_max_message_size == 0 { u32::MAX as usize } else { self.peer_max_message_size as usize }
    }

    /// Appends one frame to `out`: the header (length patched at the end), `enp`'s fixed
    /// fields, then whatever `payload` appends (an EDF value, encoded in place). Returns the
    /// frame's length.
    ///
    /// # Errors
    ///
    /// [`BuildError::NameTooLong`] for a name over 255 bytes, [`BuildError::Payload`] if
    /// `payload` fails, [`BuildError::TooLarge`] if the frame exceeds the peer's limit. On any
    /// error `out` is truncated back to its length before the call.
    pub fn write<F, E>(&self, out: &mut Vec<u8>, order: u8, enp: &Enp<'_>, payload: F) -> Result<usize, BuildError<E>>
    where
        F: FnOnce(&mut Vec<u8>) -> Result<(), E>,
    {
        if let Some(name) = name_of(enp)
            && name.len() > u8::MAX as usize
        {
            return Err(BuildError::NameTooLong(name.len()));
        }
        let start = out.len();
        out.extend_from_slice(zerocopy::IntoBytes::as_bytes(&Header::new(0, order, enp.opcode())));
        put_fields(out, enp);
        if let Err(e) = payload(out) {
            out.truncate(start);
            return Err(BuildError::Payload(e));
        }
        let len = out.len() - start;
        if len > self.limit() {
            out.truncate(start);
            return Err(BuildError::TooLarge { len, max: self.limit() });
        }
        // Lossless: `len` is at most `limit()`, which is at most u32::MAX.
        out[start + 2..start + 6].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(len)
    }

    /// [`write`](FrameWriter::write) with a payload that is already encoded.
    ///
    /// # Errors
    ///
    /// As [`write`](FrameWriter::write) (never `Payload`).
    pub fn write_bytes(
        &self,
        out: &mut Vec<u8>,
        order: u8,
        enp: &Enp<'_>,
        payload: &[u8],
    ) -> Result<usize, BuildError> {
        self.write(out, order, enp, |buf| {
            buf.extend_from_slice(payload);
            Ok::<(), Infallible>(())
        })
    }
}

/// The fixed fields of an important delivery's acknowledgement (§3.5): a
/// [`Enp::MessageResponseError`] from the target (`from`: the target process id for a send to
/// a Pid, 0 for a name or alias) to the sender, `reference` = `[ack_id, 0, 0]`, the message's
/// priority, and `code` ([`ResponseCode::Ok`] when delivered). Send it with order 0
/// ([`order::important_ack`](super::order::important_ack)) and an empty payload (or an EDF
/// error when `code` is [`ResponseCode::Error`]).
pub fn important_ack(from: u64, to: u64, ack_id: u64, priority: u8, code: ResponseCode) -> Enp<'static> {
    Enp::MessageResponseError {
        from,
        prio: Prio::new(priority, false),
        to,
        reference: [ack_id, 0, 0],
        code: code.byte(),
    }
}

/// The ack id a sender puts in `impid` for an important delivery, from a fresh `Ref`'s ids:
/// their wrapping sum (what Go puts there; the ack's reference is then `[ack_id, 0, 0]`).
pub fn ack_id_of_ref(ids: [u64; 3]) -> u64 {
    ids[0].wrapping_add(ids[1]).wrapping_add(ids[2])
}
