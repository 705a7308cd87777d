//! EDF (`net::edf`) on any bytes, as a peer's payload is.
//!
//! Checks, beyond "no panic": a value that decodes re-encodes, and the re-encoded bytes decode
//! to the same value and re-encode to the same bytes (decode → encode is a fixed point), and
//! decoding into a `Message` (the receive path) never panics either.
#![no_main]

use ergors::net::edf::{Decoder, Encoder, Registry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reg = Registry::builtin();
    let _ = reg.decode_message(&mut Decoder::new(data, reg));
    let Ok(value) = Decoder::new(data, reg).decode_value() else { return };
    let mut once = Vec::new();
    if Encoder::new(&mut once).encode_value(&value).is_err() {
        return;
    }
    let again = Decoder::new(&once, reg).decode_value().expect("our own encoding decodes");
    let mut twice = Vec::new();
    Encoder::new(&mut twice).encode_value(&again).expect("it encoded once");
    assert_eq!(once, twice);
});
