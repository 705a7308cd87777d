//! Registrar packets (ESRD, §1.2), header level: every captured request and reply parses with
//! its type and exact payload and rebuilds byte for byte; malformed packets are refused as Go
//! refuses them.

#[path = "support/capture.rs"]
mod capture;

use ergors::net::proto::BuildError;
use ergors::net::registrar::{Packet, PacketError, PacketType, write_packet};
use proptest::prelude::*;
use std::convert::Infallible;

fn rebuild(packet: &Packet<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    write_packet(&mut out, packet.kind, |b| {
        b.extend_from_slice(packet.payload);
        Ok::<(), Infallible>(())
    })
    .unwrap();
    out
}

#[test]
fn captured_registrar_packets_parse_and_rebuild() {
    let cap = capture::load();
    assert_eq!(cap.registrar.len(), 5);
    for r in &cap.registrar {
        let (want_request, want_reply) = match r.transport.as_str() {
            "udp" => (PacketType::Resolve, PacketType::ResolveReply),
            "tcp" => (PacketType::Register, PacketType::RegisterReply),
            other => panic!("transport {other}"),
        };
        for (bytes, want) in [(&r.request, want_request), (&r.reply, want_reply)] {
            let packet = Packet::parse(bytes).unwrap_or_else(|e| panic!("{}: {e}", r.what));
            assert_eq!(packet.kind, want, "{}", r.what);
            assert_eq!(packet.payload.len(), bytes.len() - 4, "one message fills the packet");
            assert_eq!(packet.payload[0], 0x83, "a registered struct by name");
            assert_eq!(rebuild(&packet), *bytes, "{}", r.what);
        }
        // The wire type name inside says the same as the header.
        let name = match want_request {
            PacketType::Resolve => &b"MessageResolveRoutes"[..],
            _ => b"MessageRegisterRoutes",
        };
        assert!(r.request.windows(name.len()).any(|w| w == name));
    }
}

#[test]
fn malformed_packets_are_refused() {
    assert_eq!(Packet::parse(&[1, 46, 0]), Err(PacketError::TooShort(3)));
    assert_eq!(Packet::parse(&[2, 46, 0, 0]), Err(PacketError::BadVersion(2)));
    assert_eq!(Packet::parse(&[1, 48, 0, 0]), Err(PacketError::UnknownType(48)));
    // L must be at most the bytes after the header.
    assert_eq!(Packet::parse(&[1, 46, 0, 3, 9, 9]), Err(PacketError::BadLength { declared: 3, available: 2 }));
    // Extra bytes after the declared payload are ignored, as Go ignores them.
    let p = Packet::parse(&[1, 47, 0, 1, 0xff, 0xee]).unwrap();
    assert_eq!(p.payload, [0xff]);
    let empty = Packet::parse(&[1, 45, 0, 0]).unwrap();
    assert!(empty.payload.is_empty());
}

#[test]
fn oversized_payloads_are_not_written() {
    let mut out = b"kept".to_vec();
    let err = write_packet(&mut out, PacketType::Register, |b| {
        b.resize(b.len() + 65536, 0);
        Ok::<(), Infallible>(())
    });
    assert!(matches!(err, Err(BuildError::TooLarge { len: 65536, max: 65535 })));
    let err = write_packet(&mut out, PacketType::Register, |b| {
        b.push(1);
        Err("encoder failed")
    });
    assert!(matches!(err, Err(BuildError::Payload("encoder failed"))));
    assert_eq!(out, b"kept");
}

proptest! {
    #[test]
    fn random_packets_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        if let Ok(p) = Packet::parse(&bytes) {
            prop_assert!(p.payload.len() + 4 <= bytes.len());
            let rebuilt = rebuild(&p);
            prop_assert_eq!(&rebuilt[..], &bytes[..4 + p.payload.len()]);
        }
    }
}
