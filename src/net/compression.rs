//! Compression on send (Ergo's per-process `gen.Compression`, ENP opcode 200): which setting a
//! sender has, and building a frame compressed when it is longer than the sender's threshold.
//!
//! The uncompressed path costs one branch: [`Network::compress_any`] stays false until the
//! node's default or some process turns compression on, and only then is the sender's setting
//! looked up. Runs on the sender's thread; never compresses under a link's lock.

use super::edf::EdfError;
use super::network::{LinkOut, Network};
use super::proto::{BuildError, Compression, Enp, FrameWriter, deflate, order};
use crate::error::Error;
use crate::message::Pid;
use crate::node::NodeInner;
use crate::process::entry::ProcessEntry;
use std::sync::atomic::Ordering;

/// Builds one frame into `out` as `c` asks: the plain frame when it is at most `c.threshold`
/// bytes long (or `c` is off), else a compressed frame (200) wrapping it. `writer` carries
/// the peer's size limit, checked on what is sent (after compression, as Go checks).
///
/// # Errors
/// `Encode` when the payload cannot be written, the compressor fails, or the frame sent is
/// over the peer's limit. `out` is unchanged on error.
pub(crate) fn write_frame(
    writer: &FrameWriter,
    out: &mut Vec<u8>,
    route: order::Route,
    enp: &Enp<'_>,
    payload: impl FnOnce(&mut Vec<u8>) -> Result<(), EdfError>,
    c: &Compression,
) -> Result<(), Error> {
    if !c.enabled {
        return writer.write(out, route.order, enp, payload).map(drop).map_err(build_error);
    }
    // The inner frame is limited only by the outer one's size.
    let mut inner = Vec::new();
    FrameWriter::new(0).write(&mut inner, route.order, enp, payload).map_err(build_error)?;
    // A threshold below Go's minimum (given through `SpawnOptions` or `NetworkOptions`, which
    // do not check it) acts as the minimum, as `set_compression_threshold` insists (D217).
    if inner.len() <= c.threshold.max(super::proto::DEFAULT_COMPRESSION_THRESHOLD) {
        if inner.len() > writer.limit() {
            return Err(Error::Encode(format!("a frame of {} bytes is over the peer's limit", inner.len())));
        }
        out.extend_from_slice(&inner);
        return Ok(());
    }
    deflate(writer, out, &inner, c.kind, c.level).map(drop).map_err(|e| Error::Encode(e.to_string()))
}

fn build_error(e: BuildError<EdfError>) -> Error {
    match e {
        BuildError::Payload(e) => Error::Encode(e.to_string()),
        other => Error::Encode(other.to_string()),
    }
}

/// Queues on `link` one frame built as [`write_frame`] builds it. The frame is built (and
/// compressed) before the link's lock is taken: compressing a large message must not hold up
/// the link's other senders.
///
/// # Errors
/// As [`write_frame`]; `MailboxFull` over the send buffer's limit; `ProcessUnknown` for a
/// closed link.
pub(crate) fn push_compressed(
    link: &LinkOut,
    writer: &FrameWriter,
    route: order::Route,
    enp: &Enp<'_>,
    payload: impl FnOnce(&mut Vec<u8>) -> Result<(), EdfError>,
    c: &Compression,
) -> Result<(), Error> {
    let mut frame = Vec::new();
    write_frame(writer, &mut frame, route, enp, payload, c)?;
    link.push(|buf| {
        buf.extend_from_slice(&frame);
        Ok(())
    })
}

impl Network {
    /// Whether any sender of this node may compress (the one branch of the plain path).
    #[inline]
    pub(crate) fn may_compress(&self) -> bool {
        self.compress_any.load(Ordering::Relaxed)
    }
}

impl NodeInner {
    /// How `from` (a process of ours, or the node itself) compresses, when compression is on for
    /// it; `None` for the plain path.
    #[inline]
    pub(crate) fn compression_for(&self, net: &Network, from: Pid) -> Option<Compression> {
        if !net.may_compress() {
            return None;
        }
        self.compression_of(net, from)
    }

    #[cold]
    fn compression_of(&self, net: &Network, from: Pid) -> Option<Compression> {
        let own = self.table.get(&from).and_then(|e| e.with_existing_rel(|r| r.compression).flatten());
        Some(own.unwrap_or(net.options.compression)).filter(|c| c.enabled)
    }

    /// `entry`'s compression is `c` from now on.
    pub(crate) fn set_compression(&self, entry: &ProcessEntry, c: Compression) {
        if c.enabled
            && let Some(net) = &self.net
        {
            // Set before the setting is stored: the process's later sends (after this on its
            // thread, or after a move to another worker, which synchronizes) see the flag. A
            // send racing this from elsewhere may go out plain, as it could have just before.
            net.compress_any.store(true, Ordering::Relaxed);
        }
        entry.with_rel(|r| r.compression = Some(c));
    }

    /// `entry`'s compression: its own setting, else the node's default.
    pub(crate) fn compression_setting(&self, entry: &ProcessEntry) -> Compression {
        let default = self.net.as_ref().map(|n| n.options.compression).unwrap_or_default();
        entry.with_existing_rel(|r| r.compression).flatten().unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::edf::{Encoder, Registry};
    use crate::net::proto::{CompressionType, Frame, Prio, Recipient, inflate};

    fn frame(c: &Compression, body_len: usize) -> Vec<u8> {
        let (enp, route) = Enp::send(7, Recipient::Pid(9), Prio::new(0, false), 0, true);
        let body = "x".repeat(body_len);
        let mut out = Vec::new();
        write_frame(&FrameWriter::new(0), &mut out, route, &enp, |b| Encoder::new(b).encode(&body), c).unwrap();
        out
    }

    fn opcode(f: &[u8]) -> u8 {
        f[7]
    }

    #[test]
    fn below_threshold_or_off_goes_plain() {
        let plain = frame(&Compression::default(), 5000);
        assert_eq!(opcode(&plain), 101);
        assert_eq!(frame(&Compression::on(CompressionType::Gzip), 100), frame(&Compression::default(), 100));
    }

    #[test]
    fn above_threshold_is_wrapped_and_inflates_to_the_plain_frame() {
        let plain = frame(&Compression::default(), 5000);
        for kind in [CompressionType::Gzip, CompressionType::Zlib, CompressionType::Lzw] {
            let z = frame(&Compression::on(kind), 5000);
            assert_eq!(opcode(&z), 200);
            assert!(z.len() < plain.len());
            assert_eq!(z[6], plain[6], "the order byte is the inner frame's");
            let mut inner = Vec::new();
            inflate(&Frame::parse(&z).unwrap(), 1 << 20, &mut inner).unwrap();
            assert_eq!(inner, plain);
        }
        let _ = Registry::builtin();
    }

    #[test]
    fn the_peer_limit_applies_to_the_frame_sent() {
        let (enp, route) = Enp::send(7, Recipient::Pid(9), Prio::new(0, false), 0, true);
        let body = "x".repeat(60_000);
        let small = FrameWriter::new(4096);
        let mut out = Vec::new();
        let plain =
            write_frame(&small, &mut out, route, &enp, |b| Encoder::new(b).encode(&body), &Compression::default());
        assert!(plain.is_err() && out.is_empty());
        let on = Compression::on(CompressionType::Zlib);
        write_frame(&small, &mut out, route, &enp, |b| Encoder::new(b).encode(&body), &on).unwrap();
        assert_eq!(opcode(&out), 200);
    }

    #[test]
    fn the_knob_parses_gos_settings() {
        assert_eq!(Compression::parse("off"), Some(Compression::default()));
        let c = Compression::parse("zlib:best-speed:2048").unwrap();
        assert_eq!((c.enabled, c.kind, c.threshold), (true, CompressionType::Zlib, 2048));
        assert_eq!(Compression::parse(&c.to_string()), Some(c));
        assert_eq!(Compression::parse("gzip:100"), None, "Go refuses a threshold under 1024");
        assert_eq!(Compression::parse("brotli"), None);
    }
}
