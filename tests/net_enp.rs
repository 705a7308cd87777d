//! ENP frames (§3): every frame of a real Go session parses and rebuilds byte for byte, a byte
//! stream splits into the same frames however it is chunked, broken streams close the link,
//! the ordering rules match what Go put on the wire, compressed frames from Go inflate (and a
//! bomb is refused without the memory), important acks match Go's bytes.

#[path = "support/capture.rs"]
mod capture;

use capture::{Captured, hex};
use ergors::net::proto::order::{self, Route, Target};
use ergors::net::proto::{
    BuildError, CompressionLevel, CompressionType, Enp, Frame, FrameError, FrameSplitter, FrameWriter, InflateError,
    Prio, ResponseCode, deflate, frame_len, important_ack, inflate,
};
use proptest::prelude::*;

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("number expected, got {v}"))
}

/// Checks the parsed fields against the capture's annotation of the same frame.
fn check_fields(c: &Captured, frame: &Frame<'_>) {
    let f = &c.fields;
    assert_eq!(frame.order as u64, u(&f["order"]), "order of frame {}", c.seq);
    assert_eq!(frame.enp.opcode() as u64, u(&f["opcode"]), "opcode of frame {}", c.seq);
    let ids = |v: &serde_json::Value| -> [u64; 3] {
        let a = v.as_array().expect("ids");
        [u(&a[0]), u(&a[1]), u(&a[2])]
    };
    match frame.enp {
        Enp::MessagePid { from, prio, impid, to } => {
            assert_eq!((from, to, impid), (u(&f["from_id"]), u(&f["to_id"]), u(&f["important_id"])));
            assert_eq!(prio.important(), f["important"].as_bool().unwrap());
            assert_eq!(prio.priority() as u64, u(&f["priority"]));
        }
        Enp::MessageName { from, prio, impid, name } => {
            assert_eq!((from, impid), (u(&f["from_id"]), u(&f["important_id"])));
            assert_eq!(name, f["to_name"].as_str().unwrap().as_bytes());
            assert_eq!(prio.important(), f["important"].as_bool().unwrap());
        }
        Enp::RequestPid { from, prio, reference, to } => {
            assert_eq!((from, to, reference), (u(&f["from_id"]), u(&f["to_id"]), ids(&f["ref_id"])));
            assert_eq!(prio.important(), f["important"].as_bool().unwrap());
        }
        Enp::RequestName { from, prio, reference, name } => {
            assert_eq!((from, reference), (u(&f["from_id"]), ids(&f["ref_id"])));
            assert_eq!(name, f["to_name"].as_str().unwrap().as_bytes());
            assert_eq!(prio.important(), f["important"].as_bool().unwrap());
        }
        Enp::MessageResponse { from, to, reference, .. } => {
            assert_eq!((from, to, reference), (u(&f["from_id"]), u(&f["to_id"]), ids(&f["ref_id"])));
        }
        Enp::MessageResponseError { from, to, reference, code, .. } => {
            assert_eq!((from, to, reference), (u(&f["from_id"]), u(&f["to_id"]), ids(&f["ref_id"])));
            assert_eq!(code as u64, u(&f["error_code"]));
            assert!(frame.payload.is_empty(), "codes below 255 carry no payload");
        }
        Enp::MessageExit { from, prio, to } => {
            assert_eq!((from, to, prio.priority() as u64), (u(&f["from_id"]), u(&f["to_id"]), u(&f["priority"])));
        }
        Enp::TerminatePid { prio, target } => {
            assert_eq!((target, prio.priority() as u64), (u(&f["target_id"]), u(&f["priority"])));
        }
        Enp::TerminateName { name, .. } => assert_eq!(name, f["target_name"].as_str().unwrap().as_bytes()),
        Enp::Compressed { kind, original_len } => {
            assert_eq!((kind as u64, original_len as u64), (u(&f["compression_type"]), u(&f["original_length"])));
        }
        Enp::MessageAny => {}
        other => panic!("frame {} parsed as an unexpected {other:?}", c.seq),
    }
}

#[test]
fn every_captured_frame_parses_and_rebuilds_byte_for_byte() {
    let cap = capture::load();
    let mut seen = 0;
    for c in cap.enp() {
        let frame = Frame::parse(&c.bytes).unwrap_or_else(|e| panic!("frame {}: {e}", c.seq));
        check_fields(c, &frame);
        let mut rebuilt = vec![0xAA]; // something already in the send buffer stays
        let len = FrameWriter::new(0).write_bytes(&mut rebuilt, frame.order, &frame.enp, frame.payload).unwrap();
        assert_eq!(len, c.bytes.len());
        assert_eq!(&rebuilt[1..], &c.bytes[..], "frame {} rebuilt differently", c.seq);
        assert_eq!(rebuilt[0], 0xAA);
        seen += 1;
    }
    assert_eq!(seen, 28, "the capture has 28 ENP frames");
}

#[test]
fn worked_bytes_of_the_spec() {
    // §7: MessageName "hello" from 1004 to `echo`, order 1004 % 255, garbage impid kept.
    let cap = capture::load();
    let frame6 = cap.frame(6);
    let frame = Frame::parse(&frame6.bytes).unwrap();
    assert_eq!(frame.order, 239);
    assert_eq!(frame.enp, Enp::MessageName { from: 1004, prio: Prio(0), impid: 0x7276_6963_6573_2f65, name: b"echo" });
    assert_eq!(frame.payload, &hex("8d000568656c6c6f")[..]);
}

#[test]
fn a_stream_splits_into_the_same_frames_however_it_is_chunked() {
    let cap = capture::load();
    let frames: Vec<&Captured> = cap.enp().filter(|c| c.conn == 2 && c.from_dialer).collect();
    let stream: Vec<u8> = frames.iter().flat_map(|c| c.bytes.iter().copied()).collect();
    for chunk in [1, 2, 7, 8, 9, 100, stream.len()] {
        let mut splitter = FrameSplitter::new(0);
        let mut got: Vec<Vec<u8>> = Vec::new();
        for piece in stream.chunks(chunk) {
            splitter.extend(piece);
            while let Some(frame) = splitter.next_frame().unwrap() {
                got.push(frame.to_vec());
            }
        }
        assert_eq!(splitter.pending(), 0);
        let want: Vec<Vec<u8>> = frames.iter().map(|c| c.bytes.clone()).collect();
        assert_eq!(got, want, "chunks of {chunk}");
    }
}

#[test]
fn a_half_frame_waits_and_the_handshake_tail_comes_first() {
    let cap = capture::load();
    let bytes = &cap.frame(12).bytes;
    assert_eq!(frame_len(&bytes[..1], 0), Ok(None));
    assert_eq!(frame_len(&bytes[..bytes.len() - 1], 0), Ok(None));
    assert_eq!(frame_len(bytes, 0), Ok(Some(bytes.len())));
    let mut splitter = FrameSplitter::with_tail(0, &bytes[..10]);
    assert_eq!(splitter.next_frame(), Ok(None));
    splitter.extend(&bytes[10..]);
    assert_eq!(splitter.next_frame(), Ok(Some(&bytes[..])));
    assert_eq!(splitter.next_frame(), Ok(None));
}

#[test]
fn broken_streams_are_errors_that_close_the_link() {
    let ok = hex("4e0100000009 00c7 ff".replace(' ', "").as_str());
    assert_eq!(frame_len(&ok, 0), Ok(Some(9)));
    let cases: [(&str, FrameError); 4] = [
        ("57", FrameError::BadMagic(0x57)),
        ("4e02", FrameError::BadVersion(2)),
        ("4e01000000070065", FrameError::LengthTooShort(7)),
        ("4e010001000100c7", FrameError::TooLarge { len: 65537, max: 65536 }),
    ];
    for (bytes, want) in cases {
        let got = frame_len(&hex(bytes), 65536).unwrap_err();
        assert_eq!(got, want);
        assert!(got.closes_link());
        let mut splitter = FrameSplitter::new(65536);
        splitter.extend(&hex(bytes));
        assert_eq!(splitter.next_frame(), Err(want.clone()), "the splitter refuses too");
        assert_eq!(splitter.next_frame(), Err(want), "and keeps refusing");
    }
    // Exactly at the limit is fine.
    assert_eq!(frame_len(&hex("4e010001000000c7"), 65536), Ok(None));
}

#[test]
fn a_frame_too_short_for_its_fields_is_dropped_not_fatal() {
    // A MessagePID whose `to` is cut off.
    let mut bytes = hex("4e0100000000ef6500000000000003ec00000000000000000000000003");
    let len = bytes.len() as u32;
    bytes[2..6].copy_from_slice(&len.to_be_bytes());
    let err = Frame::parse(&bytes).unwrap_err();
    assert_eq!(err, FrameError::Truncated { opcode: 101, len: bytes.len() });
    assert!(!err.closes_link());
    // A name whose length byte points past the end.
    let mut bytes = hex("4e010000000000b6010565636866");
    let len = bytes.len() as u32;
    bytes[2..6].copy_from_slice(&len.to_be_bytes());
    assert!(matches!(Frame::parse(&bytes), Err(FrameError::Truncated { opcode: 182, .. })));
    // A slice that is not exactly one frame.
    assert_eq!(
        Frame::parse(&hex("4e0100000009 00c7".replace(' ', "").as_str())),
        Err(FrameError::LengthMismatch { declared: 9, actual: 8 })
    );
}

#[test]
fn unknown_and_reserved_opcodes_are_values() {
    for opcode in [0u8, 100, 150, 201, 202, 203, 255] {
        let bytes = [0x4e, 1, 0, 0, 0, 11, 7, opcode, 1, 2, 3];
        let frame = Frame::parse(&bytes).unwrap();
        assert_eq!(frame.enp, Enp::Unknown { opcode });
        assert_eq!((frame.order, frame.payload), (7, &[1u8, 2, 3][..]));
    }
}

#[test]
fn every_opcode_round_trips_through_the_writer() {
    let prio = Prio::new(1, true);
    let r = [1, u64::MAX, 3];
    let all = [
        Enp::MessagePid { from: 1, prio, impid: 2, to: 3 },
        Enp::MessageName { from: 1, prio, impid: 2, name: b"name" },
        Enp::MessageNameCache { from: 1, prio, impid: 2, cache_id: 256 },
        Enp::MessageAlias { from: 1, prio, impid: 2, alias: r },
        Enp::MessageEvent { from: 1, prio, timestamp: -5, name: b"" },
        Enp::MessageEventCache { from: 1, prio, timestamp: i64::MAX, cache_id: 300 },
        Enp::MessageExit { from: 1, prio, to: 2 },
        Enp::RequestPid { from: 1, prio, reference: r, to: 4 },
        Enp::RequestName { from: 1, prio, reference: r, name: &[0xff; 255] },
        Enp::RequestNameCache { from: 1, prio, reference: r, cache_id: 1 },
        Enp::RequestAlias { from: 1, prio, reference: r, alias: [9, 8, 7] },
        Enp::MessageResponse { from: 1, prio, to: 2, reference: r },
        Enp::MessageResponseError { from: 1, prio, to: 2, reference: r, code: 255 },
        Enp::TerminatePid { prio, target: 5 },
        Enp::TerminateName { prio, name: b"n" },
        Enp::TerminateNameCache { prio, cache_id: 2 },
        Enp::TerminateAlias { prio, alias: r },
        Enp::TerminateEvent { prio, name: b"e" },
        Enp::TerminateEventCache { prio, cache_id: 3 },
        Enp::MessageAny,
        Enp::Compressed { kind: 102, original_len: 77 },
        Enp::Unknown { opcode: 42 },
    ];
    for enp in all {
        for payload in [&b""[..], b"\x8d\x00\x01x"] {
            let mut buf = Vec::new();
            FrameWriter::new(0).write_bytes(&mut buf, 3, &enp, payload).unwrap();
            let frame = Frame::parse(&buf).unwrap();
            assert_eq!((frame.order, frame.enp, frame.payload), (3, enp, payload));
        }
    }
}

#[test]
fn the_writer_refuses_without_leaving_half_a_frame() {
    let mut buf = b"earlier frames".to_vec();
    let enp = Enp::MessagePid { from: 1, prio: Prio::default(), impid: 0, to: 2 };
    // 33 bytes of fixed fields + 8 of payload = 41 > 40.
    let err = FrameWriter::new(40).write_bytes(&mut buf, 0, &enp, &[0; 8]).unwrap_err();
    assert!(matches!(err, BuildError::TooLarge { len: 41, max: 40 }));
    assert_eq!(buf, b"earlier frames");
    assert_eq!(FrameWriter::new(41).write_bytes(&mut buf, 0, &enp, &[0; 8]).unwrap(), 41);

    let mut buf = Vec::new();
    let long = [b'a'; 256];
    let err = FrameWriter::new(0).write_bytes(&mut buf, 0, &Enp::TerminateName { prio: Prio(1), name: &long }, &[]);
    assert!(matches!(err, Err(BuildError::NameTooLong(256))));
    let err = FrameWriter::new(0).write(&mut buf, 0, &enp, |b| {
        b.extend_from_slice(b"half an EDF value");
        Err("encoder failed")
    });
    assert!(matches!(err, Err(BuildError::Payload("encoder failed"))));
    assert!(buf.is_empty());
}

#[test]
fn go_order_bytes_on_the_wire_match_the_ordering_rules() {
    let cap = capture::load();
    let order_of = |seq: u64| Frame::parse(&cap.frame(seq).bytes).unwrap().order;
    // Client pid 1004 on beta; echo 1004, producer 1005, victim 1006 on alpha.
    assert_eq!(order_of(6), order::to_name(1004, true).order);
    assert_eq!(order_of(7), order::to_pid(1004, 1004, true).order);
    assert_eq!(order_of(26), order::to_pid(1004, 1005, true).order);
    assert_eq!(order_of(26), 240);
    assert_eq!(order_of(14), order::to_name(1004, true).order);
    assert_eq!(order_of(15), order::to_pid(1004, 1004, true).order);
    assert_eq!(order_of(34), order::exit(1004, 1006).order);
    assert_eq!(order_of(34), 241);
    assert_eq!(order_of(18), order::monitor_request(1004, Target::Pid(1004)).order, "MonitorPID: 0 (quirk)");
    assert_eq!(order_of(18), 0);
    assert_eq!(order_of(20), order::link_request(1004, Target::Pid(1004)).order);
    assert_eq!(order_of(20), 239);
    assert_eq!(order_of(22), order::monitor_request(1004, Target::Name).order);
    assert_eq!(order_of(24), order::monitor_request(1004, Target::Event).order);
    for result in [19, 21, 23, 25] {
        assert_eq!(order_of(result), order::request_result(1004, Target::Pid(1004)).order);
    }
    assert_eq!(order_of(28), order::important_ack().order);
    assert_eq!(order_of(36), order::terminate().order);
    assert_eq!(order_of(37), order::terminate().order);
}

#[test]
fn ordering_quirks_and_link_choice() {
    // An id that is a multiple of 255 is "unordered".
    assert_eq!(order::to_pid(510, 255, true), Route { link: 0, order: 0 });
    assert_eq!(order::to_alias(7, [1, 256, 3], true), Route { link: 7, order: 1 });
    assert_eq!(order::to_pid(7, 8, false), Route::UNORDERED);
    assert_eq!(order::exit(300, 301), Route { link: 45, order: 46 });
    assert_eq!(order::request_result(9, Target::Name), Route { link: 0, order: 9 });
    // Link choice: the selector modulo the pool, or round robin advanced before use.
    let mut rr = 0;
    assert_eq!(Route { link: 239, order: 0 }.link_index(3, &mut rr), 239 % 3);
    assert_eq!(rr, 0);
    let picks: Vec<usize> = (0..4).map(|_| Route::UNORDERED.link_index(3, &mut rr)).collect();
    assert_eq!(picks, [1, 2, 0, 1]);
    // Receive side: same order byte, same queue, whatever the counter; order 0 spreads.
    let mut counter = 0;
    let a = order::dispatch_queue(239, 12, &mut counter);
    let b = order::dispatch_queue(239, 12, &mut counter);
    assert_eq!((a, b), (239 % 12, 239 % 12));
    let spread: Vec<usize> = (0..3).map(|_| order::dispatch_queue(0, 12, &mut counter)).collect();
    assert_eq!(spread, [3, 4, 5]);
}

#[test]
fn important_ack_is_what_go_sends() {
    let cap = capture::load();
    // Frame 27: an important send, ack id 229916; frame 28: alpha's ack, code 0, order 0.
    let sent = Frame::parse(&cap.frame(27).bytes).unwrap();
    let Enp::MessagePid { from, prio, impid, to } = sent.enp else { panic!("a MessagePid") };
    assert!(prio.important());
    let ack = important_ack(to, from, impid, prio.priority(), ResponseCode::Ok);
    let mut buf = Vec::new();
    FrameWriter::new(0).write_bytes(&mut buf, order::important_ack().order, &ack, &[]).unwrap();
    assert_eq!(buf, cap.frame(28).bytes);
    let received = Frame::parse(&cap.frame(28).bytes).unwrap();
    assert_eq!(received.enp.important_ack(), Some((229916, ResponseCode::Ok)));
    assert_eq!(Frame::parse(&cap.frame(15).bytes).unwrap().enp.important_ack(), None, "a call response");
    // Frame 31: an important call of an unknown name is answered with code 1 from id 0.
    let failed = Frame::parse(&cap.frame(31).bytes).unwrap();
    let Enp::MessageResponseError { code, reference, from: 0, .. } = failed.enp else { panic!("an error response") };
    assert_eq!(ResponseCode::from(code), ResponseCode::UnknownProcess);
    assert_eq!(reference, [204398, 25519, 0]);
    assert_eq!(ergors::net::proto::ack_id_of_ref([204397, 25519, 0]), 229916);
}

#[test]
fn gzip_frame_from_go_inflates_to_the_original() {
    let cap = capture::load();
    let c = cap.frame(32);
    let frame = Frame::parse(&c.bytes).unwrap();
    assert_eq!(frame.order, 239, "the order byte of the inner frame");
    let mut inner = Vec::new();
    inflate(&frame, 1 << 20, &mut inner).unwrap();
    assert_eq!(inner, hex(c.fields["inner_hex"].as_str().unwrap()));
    let parsed = Frame::parse(&inner).unwrap();
    assert!(matches!(parsed.enp, Enp::MessagePid { from: 1004, to: 1004, .. }));
}

/// Frames compressed by Go's `compress/lzw` (LSB, 8) and `compress/zlib` (made with
/// Go 1.27 for this test, wrapped as Ergo wraps them).
const GO_INNER: &str = "4e010000027cef6500000000000003ec00000000000000000000000000000003ec8d0258";
const GO_LZW: &str = include_str!("data/go-lzw-frame.hex");
const GO_ZLIB: &str = include_str!("data/go-zlib-frame.hex");

fn go_inner() -> Vec<u8> {
    let mut inner = hex(GO_INNER);
    inner.extend(b"ab".repeat(300));
    inner
}

#[test]
fn lzw_and_zlib_frames_from_go_inflate() {
    for (kind, text) in [(100, GO_LZW), (101, GO_ZLIB)] {
        let bytes = hex(text.trim());
        let frame = Frame::parse(&bytes).unwrap();
        assert!(matches!(frame.enp, Enp::Compressed { kind: k, original_len: 636 } if k == kind));
        let mut inner = Vec::new();
        inflate(&frame, 1 << 20, &mut inner).unwrap();
        assert_eq!(inner, go_inner(), "compression type {kind}");
    }
}

#[test]
fn deflate_then_inflate_for_every_type_keeps_the_order_byte() {
    let inner = go_inner();
    for kind in [CompressionType::Gzip, CompressionType::Zlib, CompressionType::Lzw] {
        for level in [CompressionLevel::Default, CompressionLevel::BestSpeed, CompressionLevel::BestSize] {
            let mut out = b"x".to_vec();
            let len = deflate(&FrameWriter::new(0), &mut out, &inner, kind, level).unwrap();
            assert_eq!(len, out.len() - 1);
            assert!(len < inner.len(), "{kind:?} compresses a repetitive frame");
            let frame = Frame::parse(&out[1..]).unwrap();
            assert_eq!(frame.order, 239);
            let mut back = Vec::new();
            inflate(&frame, inner.len(), &mut back).unwrap();
            assert_eq!(back, inner);
        }
    }
    // Compressed, the frame must still fit the peer's limit.
    let mut out = Vec::new();
    let err = deflate(&FrameWriter::new(20), &mut out, &inner, CompressionType::Gzip, CompressionLevel::Default);
    assert!(matches!(err, Err(BuildError::TooLarge { .. })));
    assert!(out.is_empty());
}

fn gzip_frame(inner: &[u8], declared: u32) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(inner).unwrap();
    let z = z.finish().unwrap();
    let mut frame = vec![0x4e, 1, 0, 0, 0, 0, 0, 200, 102];
    frame.extend(declared.to_be_bytes());
    frame.extend(z);
    let len = frame.len() as u32;
    frame[2..6].copy_from_slice(&len.to_be_bytes());
    frame
}

#[test]
fn a_zip_bomb_is_an_error_not_an_allocation() {
    // 16 MiB of zeros in a few KiB, declaring 1000 bytes: reading stops at 1001.
    let bomb = gzip_frame(&vec![0; 16 << 20], 1000);
    assert!(bomb.len() < 64 << 10);
    let mut out = Vec::new();
    let err = inflate(&Frame::parse(&bomb).unwrap(), 1 << 20, &mut out).unwrap_err();
    assert!(matches!(err, InflateError::SizeMismatch { declared: 1000, actual: 1001 }), "{err}");
    assert!(out.capacity() < 1 << 20);
    // Declaring more than the cap is refused before inflating anything.
    let honest = gzip_frame(&vec![0; 16 << 20], 16 << 20);
    let err = inflate(&Frame::parse(&honest).unwrap(), 1 << 20, &mut out).unwrap_err();
    assert!(matches!(err, InflateError::TooLarge { declared, cap: 1048576 } if declared == 16 << 20));
    // Declaring 4 GiB (gzip, no stream) allocates nothing of it.
    let liar = hex("4e010000000d00c866ffffffff");
    let mut out = Vec::new();
    assert!(inflate(&Frame::parse(&liar).unwrap(), usize::MAX, &mut out).is_err());
    assert!(out.capacity() < 1 << 20);
}

#[test]
fn malformed_compressed_frames_are_dropped() {
    let inner = go_inner();
    let mut out = Vec::new();
    // A declared length that differs from what the stream holds.
    let short = gzip_frame(&inner, inner.len() as u32 + 5);
    assert!(matches!(
        inflate(&Frame::parse(&short).unwrap(), 1 << 20, &mut out),
        Err(InflateError::SizeMismatch { actual: 636, .. })
    ));
    // A corrupt stream.
    let mut corrupt = gzip_frame(&inner, inner.len() as u32);
    let n = corrupt.len();
    corrupt[20..n - 8].iter_mut().for_each(|b| *b ^= 0x5a);
    assert!(inflate(&Frame::parse(&corrupt).unwrap(), 1 << 20, &mut out).is_err());
    // Compression inside compression.
    let mut once = Vec::new();
    deflate(&FrameWriter::new(0), &mut once, &inner, CompressionType::Gzip, CompressionLevel::Default).unwrap();
    let mut twice = Vec::new();
    deflate(&FrameWriter::new(0), &mut twice, &once, CompressionType::Zlib, CompressionLevel::Default).unwrap();
    assert!(matches!(inflate(&Frame::parse(&twice).unwrap(), 1 << 20, &mut out), Err(InflateError::Nested)));
    // Not a compressed frame at all.
    let cap = capture::load();
    assert!(matches!(
        inflate(&Frame::parse(&cap.frame(7).bytes).unwrap(), 1 << 20, &mut out),
        Err(InflateError::NotCompressed(101))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic_and_memory_stays_bounded(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        cut in 0usize..600,
    ) {
        // Make the header plausible half the time, so that the field parsers run.
        let mut bytes = bytes;
        if bytes.len() >= 8 && cut % 2 == 0 {
            bytes[0] = 0x4e;
            bytes[1] = 1;
            let len = bytes.len() as u32;
            bytes[2..6].copy_from_slice(&len.to_be_bytes());
        }
        let _ = frame_len(&bytes, 0);
        if let Ok(frame) = Frame::parse(&bytes) {
            let mut rebuilt = Vec::new();
            FrameWriter::new(0).write_bytes(&mut rebuilt, frame.order, &frame.enp, frame.payload).unwrap();
            prop_assert_eq!(&rebuilt, &bytes);
            let mut out = Vec::new();
            let _ = inflate(&frame, 4096, &mut out);
            prop_assert!(out.len() <= 4097);
        }
        let mut splitter = FrameSplitter::new(1 << 16);
        let (a, b) = bytes.split_at(cut.min(bytes.len()));
        for piece in [a, b] {
            splitter.extend(piece);
            while let Ok(Some(frame)) = splitter.next_frame() {
                let _ = Frame::parse(frame);
            }
            prop_assert!(splitter.pending() <= bytes.len());
        }
    }

    #[test]
    fn built_frames_split_back_out_of_a_stream(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..10),
        chunk in 1usize..50,
    ) {
        let writer = FrameWriter::new(0);
        let mut stream = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            let enp = Enp::MessagePid { from: i as u64, prio: Prio::default(), impid: 0, to: 1 };
            writer.write_bytes(&mut stream, i as u8, &enp, p).unwrap();
        }
        let mut splitter = FrameSplitter::new(0);
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            splitter.extend(piece);
            while let Some(frame) = splitter.next_frame().unwrap() {
                got.push(Frame::parse(frame).unwrap().payload.to_vec());
            }
        }
        prop_assert_eq!(got, payloads);
    }
}

#[test]
fn the_family_builders_make_gos_frames() {
    use ergors::net::proto::{Recipient, Terminated};
    let cap = capture::load();
    let writer = FrameWriter::new(0);
    let build = |seq: u64, (enp, route): (Enp<'_>, Route)| {
        let original = &cap.frame(seq).bytes;
        let payload = Frame::parse(original).unwrap().payload;
        let mut out = Vec::new();
        writer.write_bytes(&mut out, route.order, &enp, payload).unwrap();
        assert_eq!(&out, original, "frame {seq}");
        route
    };
    let garbage = 0x7276_6963_6573_2f65; // Go's unimportant impid in these frames
    let p0 = Prio::default();
    assert_eq!(build(6, Enp::send(1004, Recipient::Name(b"echo"), p0, garbage, true)).link, 239);
    build(7, Enp::send(1004, Recipient::Pid(1004), p0, garbage, true));
    build(26, Enp::send(1004, Recipient::Pid(1005), p0, 4312147165184, true));
    build(27, Enp::send(1004, Recipient::Pid(1004), Prio::new(0, true), 229916, true));
    build(14, Enp::request(1004, Recipient::Name(b"echo"), p0, [204391, 25519, 0], true));
    build(16, Enp::request(1004, Recipient::Pid(1004), p0, [204392, 25519, 0], true));
    build(30, Enp::request(1004, Recipient::Name(b"nobody"), Prio::new(0, true), [204398, 25519, 0], true));
    build(15, Enp::response(1004, 1004, p0, [204391, 25519, 0], true));
    assert_eq!(build(34, Enp::exit(1004, 1006)), Route { link: 239, order: 241 });
    build(36, Enp::terminate(Terminated::Pid(1004)));
    build(37, Enp::terminate(Terminated::Name(b"echo")));
    // Without KeepNetworkOrder, sends and calls are unordered.
    assert_eq!(Enp::send(1004, Recipient::Pid(1), p0, 0, false).1, Route::UNORDERED);
    assert_eq!(Enp::request(1004, Recipient::Alias([1, 2, 3]), p0, [0; 3], false).1, Route::UNORDERED);
    let (enp, route) = Enp::response_error(5, 6, p0, [7, 8, 9], ResponseCode::Error, true);
    assert!(matches!(enp, Enp::MessageResponseError { code: 255, .. }));
    assert_eq!(route, Route { link: 5, order: 6 });
    assert!(matches!(
        Enp::event(3, p0, 42, b"news", true),
        (Enp::MessageEvent { timestamp: 42, .. }, Route { link: 3, order: 3 })
    ));
}
