//! EDF inside a real session between two Go Ergo nodes. `tests/data/session-capture.json` is a
//! verbatim copy of `shared/interop/session-capture.json` (every EHS/ENP frame and registrar
//! packet of a Go 3.1.0 session, beta dialling alpha). Each node encodes with the dictionaries
//! it advertised in its Introduce (its node name as atom 256/257, ~128 registered types, 15
//! errors): we decode every EDF payload with the sender's dictionaries, typed where we have the
//! type, and re-encode it with the same dictionaries to Go's bytes.

use ergors::net::edf::ergo_types::{
    MessageIntroduce, MessageMonitorPid, MessageRegisterReply, MessageRegisterRoutes, MessageResolveReply,
    MessageResolveRoutes, MessageResult,
};
use ergors::net::edf::{DecodeCaches, Decoder, Edf, EncodeCaches, Encoder, ErrorValue, Registry, Value};
use ergors::{Atom, Name, Ref};
use serde_json::Value as Json;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn capture() -> Json {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/session-capture.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Decodes `bytes` as a `T` (all of them), re-encodes it, and checks Go's bytes come back.
fn typed<T: Edf>(bytes: &[u8], dc: Option<&DecodeCaches>, ec: Option<&EncodeCaches>) -> T {
    let reg = Registry::builtin();
    let mut dec = Decoder::new(bytes, reg);
    if let Some(dc) = dc {
        dec = dec.with_caches(dc);
    }
    let v: T = dec.decode().unwrap();
    assert!(dec.remaining().is_empty(), "{} bytes left", dec.remaining().len());
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out);
    if let Some(ec) = ec {
        enc = enc.with_caches(ec);
    }
    enc.encode(&v).unwrap();
    assert_eq!(out, bytes, "re-encoded as Go did");
    v
}

struct Peer {
    intro: MessageIntroduce,
    dc: DecodeCaches,
    ec: EncodeCaches,
}

/// The Introduce in EHS frame `seq` (payload after the 6-byte header) and its dictionaries.
fn peer(frames: &[Json], seq: usize) -> Peer {
    let bytes = unhex(frames[seq]["hex"].as_str().unwrap());
    let intro: MessageIntroduce = typed(&bytes[6..], None, None);
    let dc = intro.decode_caches().unwrap();
    let ec = intro.encode_caches().unwrap();
    Peer { intro, dc, ec }
}

/// Where an ENP frame's EDF payload starts (PROTOCOL.md §3.2), if it has one.
fn payload_at(frame: &[u8]) -> Option<usize> {
    let name_end = |at: usize| at + 1 + usize::from(frame[at]);
    Some(match frame[7] {
        101 => 33,
        102 => name_end(25),
        121 | 129 => 49,
        122 => name_end(41),
        107 => 25,
        181 => 17,
        182 => name_end(9),
        199 => 8,
        _ => return None, // 130 (no payload unless code 255), 200 (compressed)
    })
}

/// The session's program registered `#gopeer/types/Point` and `Sample`; we have no Rust types
/// for them here, only their shapes (they decode to `Value`s).
fn gopeer_shapes() -> Registry {
    use ergors::net::edf::{RegShape, TypeDesc};
    use std::sync::Arc;
    let point = "#gopeer/types/Point";
    let mut reg = Registry::new();
    reg.register_shape(point, RegShape::Struct(vec![("X", TypeDesc::I32), ("Y", TypeDesc::I32)])).unwrap();
    let sample = RegShape::Struct(vec![
        ("ID", TypeDesc::Int),
        ("Name", TypeDesc::String),
        ("Tags", TypeDesc::Slice(Arc::new(TypeDesc::String))),
        ("Scores", TypeDesc::Map(Arc::new(TypeDesc::String), Arc::new(TypeDesc::Int))),
        ("Owner", TypeDesc::Pid),
        ("Where", TypeDesc::Reg(point.into())),
        ("Valid", TypeDesc::Bool),
        ("Ratio", TypeDesc::F64),
        ("Blob", TypeDesc::Binary),
        ("Reason", TypeDesc::Error),
    ]);
    reg.register_shape("#gopeer/types/Sample", sample).unwrap();
    reg
}

#[test]
fn both_introduces_decode_and_re_encode_with_go_map_order() {
    let cap = capture();
    let frames = cap["frames"].as_array().unwrap();
    let beta = peer(frames, 2);
    let alpha = peer(frames, 4);
    assert_eq!(beta.intro.node, Name::new("beta@localhost"));
    assert_eq!(alpha.intro.node, Name::new("alpha@localhost"));
    let atoms = |p: &Peer| p.intro.atom_cache.as_ref().unwrap().0.clone();
    assert_eq!(atoms(&beta), vec![(256, Name::new("alpha@localhost")), (257, Name::new("beta@localhost"))]);
    assert_eq!(beta.intro.reg_cache.as_ref().unwrap().0.len(), 128);
    assert_eq!(beta.intro.err_cache.as_ref().unwrap().0.len(), 15);
    assert!(beta.intro.flags.enable_important_delivery);
    assert_eq!(beta.intro.creation, 1_795_786_401);
}

#[test]
fn every_enp_payload_decodes_with_the_senders_dictionaries_and_re_encodes_to_go_bytes() {
    let cap = capture();
    let frames = cap["frames"].as_array().unwrap();
    let (beta, alpha) = (peer(frames, 2), peer(frames, 4));
    let reg = &gopeer_shapes();
    let mut seen = 0;
    for f in frames.iter().filter(|f| f["layer"] == "ENP") {
        let bytes = unhex(f["hex"].as_str().unwrap());
        let Some(at) = payload_at(&bytes) else { continue };
        // beta dials: dialer->acceptor frames are beta's, encoded with beta's dictionaries.
        let sender = if f["dir"] == "dialer->acceptor" { &beta } else { &alpha };
        let payload = &bytes[at..];
        let mut dec = Decoder::new(payload, reg).with_caches(&sender.dc);
        let v = dec.decode_value().unwrap_or_else(|e| panic!("frame {}: {e}", f["seq"]));
        assert!(dec.remaining().is_empty(), "frame {}", f["seq"]);
        let mut out = Vec::new();
        Encoder::new(&mut out).with_caches(&sender.ec).with_registry(reg).encode_value(&v).unwrap();
        assert_eq!(out, payload, "frame {} re-encoded as Go did", f["seq"]);
        seen += 1;
    }
    assert!(seen >= 25, "{seen} payloads");
}

#[test]
fn control_structs_and_errors_from_the_session_decode_as_rust_types() {
    let cap = capture();
    let frames = cap["frames"].as_array().unwrap();
    let (beta, alpha) = (peer(frames, 2), peer(frames, 4));
    let payload = |seq: usize| {
        let b = unhex(frames[seq]["hex"].as_str().unwrap());
        let at = payload_at(&b).unwrap();
        b[at..].to_vec()
    };
    let beta_ref = |n: u64| Ref { node: Atom::new("beta@localhost"), creation: 1_795_786_401, id: [n, 25519, 0] };

    // Frame 18: beta asks to monitor alpha's echo (type and node names from the caches).
    let m: MessageMonitorPid = typed(&payload(18), Some(&beta.dc), Some(&beta.ec));
    assert_eq!((m.source.node.as_str(), m.source.id), ("beta@localhost", 1004));
    assert_eq!((m.target.node.as_str(), m.target.id), ("alpha@localhost", 1004));
    assert_eq!(m.r#ref, beta_ref(204_393));
    // Frame 19: alpha's MessageResult, `83 1076` + a Ref whose node is atom 257.
    let r: MessageResult = typed(&payload(19), Some(&alpha.dc), Some(&alpha.ec));
    assert_eq!(r, MessageResult { error: None, result: Value::Nil, r#ref: beta_ref(204_393) });
    // Frame 25: an error Go does not register travels as text.
    let r: MessageResult = typed(&payload(25), Some(&alpha.dc), Some(&alpha.ec));
    assert_eq!(r.error, Some(ErrorValue::new("unknown event")));
    // Frames 34 and 36: exit and termination reasons.
    assert_eq!(typed::<ErrorValue>(&payload(34), Some(&beta.dc), Some(&beta.ec)), ErrorValue::new("bye"));
    assert_eq!(typed::<ErrorValue>(&payload(36), Some(&alpha.dc), Some(&alpha.ec)), ErrorValue::new("crash"));
    assert_eq!(typed::<String>(&payload(6), Some(&beta.dc), Some(&beta.ec)), "hello");
}

#[test]
fn registrar_packets_decode_and_re_encode() {
    let cap = capture();
    for r in cap["registrar"].as_array().unwrap() {
        let what = r["what"].as_str().unwrap();
        let req = unhex(r["request_hex"].as_str().unwrap());
        let reply = unhex(r["reply_hex"].as_str().unwrap());
        // Byte 1 is the packet type; the EDF payload follows the 4-byte header.
        match req[1] {
            44 => {
                let m: MessageRegisterRoutes = typed(&req[4..], None, None);
                assert_eq!(m.node, Name::new("fake@localhost"), "{what}");
                let rep: MessageRegisterReply = typed(&reply[4..], None, None);
                assert_eq!(rep.error, None, "{what}");
            }
            46 => {
                let _: MessageResolveRoutes = typed(&req[4..], None, None);
                let rep: MessageResolveReply = typed(&reply[4..], None, None);
                match rep.error {
                    None => {
                        let routes = rep.routes.unwrap();
                        assert_eq!(routes[0].handshake_version.name, "EHS", "{what}");
                        assert_eq!(routes[0].proto_version.name, "ENP", "{what}");
                    }
                    Some(e) => {
                        assert_eq!(e.as_str(), "unknown", "{what}");
                        assert_eq!(rep.routes, None, "{what}");
                    }
                }
            }
            t => panic!("{what}: packet type {t}"),
        }
    }
}
