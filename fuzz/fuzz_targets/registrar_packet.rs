//! ESRD packets (`net::registrar`) on any datagram.
//!
//! Checks, beyond "no panic": a parsed packet's payload is exactly the declared length within
//! the datagram, and rebuilding it gives the datagram's bytes up to the payload's end.
#![no_main]

use ergors::net::registrar::{Packet, write_packet};
use libfuzzer_sys::fuzz_target;
use std::convert::Infallible;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::parse(data) {
        assert_eq!(u16::from_be_bytes([data[2], data[3]]) as usize, packet.payload.len());
        let mut out = Vec::new();
        write_packet(&mut out, packet.kind, |b| {
            b.extend_from_slice(packet.payload);
            Ok::<(), Infallible>(())
        })
        .expect("a payload that was read fits");
        assert_eq!(&out[..], &data[..out.len()]);
    }
});
