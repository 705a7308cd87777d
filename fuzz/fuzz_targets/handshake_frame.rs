//! EHS (`net::handshake`): the 'W' frame reader on any stream in any cuts, and the acceptor
//! and dialer state machines fed any sequence of messages at any times.
//!
//! Checks, beyond "no panic": the reader's payloads are the same whatever the cuts and
//! rebuild byte for byte; without the cookie (the fuzzer cannot compute SHA-256 preimages) an
//! acceptor never establishes nor admits a join, and a dialer never establishes; once a
//! machine has failed it only says `Over` and has no deadline.
#![no_main]

use ergors::net::handshake::{
    Accept, Acceptor, Dialer, FrameReader, HandshakeConfig, HandshakeError, HandshakeMessage, Hello, Introduce, Join,
    Progress, write_frame,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let _ = run(Unstructured::new(data));
});

fn frames(stream: &[u8], cut: usize) -> (Vec<Vec<u8>>, bool, Vec<u8>) {
    let mut reader = FrameReader::new();
    let mut out = Vec::new();
    let cut = cut % (stream.len() + 1);
    for piece in [&stream[..cut], &stream[cut..]] {
        reader.extend(piece);
        loop {
            match reader.next_frame() {
                Ok(Some(p)) => out.push(p.to_vec()),
                Ok(None) => break,
                Err(_) => return (out, true, Vec::new()),
            }
        }
    }
    (out, false, reader.remaining().to_vec())
}

fn string(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => String::new(),
        1 => "a@h".into(),
        2 => "0".repeat(64),
        _ => u.arbitrary()?,
    })
}

fn message(u: &mut Unstructured<'_>) -> Result<HandshakeMessage> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => HandshakeMessage::Hello(Hello { salt: string(u)?, digest: string(u)?, digest_cert: string(u)? }),
        1 => HandshakeMessage::Join(Join {
            node: string(u)?,
            connection_id: string(u)?,
            salt: string(u)?,
            digest: string(u)?,
        }),
        2 => HandshakeMessage::Introduce(Box::new(Introduce {
            node: string(u)?,
            creation: u.arbitrary()?,
            max_message_size: u.arbitrary()?,
            digest: string(u)?,
            ..Introduce::default()
        })),
        _ => HandshakeMessage::Accept(Accept {
            id: string(u)?,
            pool_size: u.arbitrary()?,
            pool_dsn: vec![string(u)?],
            digest: string(u)?,
            digest_cert: string(u)?,
        }),
    })
}

fn run(mut u: Unstructured<'_>) -> Result<()> {
    let t0 = Instant::now();
    let config = Arc::new(HandshakeConfig::new("b@h", "the cookie", 1));
    let mut acceptor = Acceptor::new(config.clone(), "127.0.0.1:1", None, t0);
    let mut dialer = if u.arbitrary()? {
        Dialer::connect(config, "a@h", None, t0)
    } else {
        Dialer::join(config, "0123456789abcdef0123456789abcdef", None, t0)
    }
    .expect("random salts");
    let (mut a_failed, mut d_failed) = (false, false);
    for _ in 0..u.int_in_range(0..=8u8)? {
        let now = t0 + Duration::from_millis(u.int_in_range(0..=1500u64)?);
        let m = message(&mut u)?;
        match acceptor.handle_message(now, m.clone(), b"") {
            Ok(Progress::Continue) => assert!(!a_failed),
            Ok(p) => panic!("an acceptor progressed without the cookie: {p:?}"),
            Err(e) => {
                assert!(!a_failed || matches!(e, HandshakeError::Over));
                a_failed = true;
                assert_eq!(acceptor.poll_timeout(), None);
            }
        }
        match dialer.handle_message(now, m, b"") {
            Ok(Progress::Continue) => assert!(!d_failed),
            Ok(p) => panic!("a dialer progressed without the cookie: {p:?}"),
            Err(e) => {
                assert!(!d_failed || matches!(e, HandshakeError::Over));
                d_failed = true;
            }
        }
        while acceptor.poll_transmit().is_some() {}
        while dialer.poll_transmit().is_some() {}
    }
    let cut: usize = u.arbitrary()?;
    let stream = u.take_rest();
    let (payloads, failed, rest) = frames(stream, cut);
    assert_eq!(frames(stream, 0), (payloads.clone(), failed, rest.clone()), "cuts change nothing");
    let mut rebuilt = Vec::new();
    for p in &payloads {
        write_frame(&mut rebuilt, |b| {
            b.extend_from_slice(p);
            Ok::<(), Infallible>(())
        })
        .expect("a payload that was read fits");
    }
    if !failed {
        rebuilt.extend_from_slice(&rest);
        assert_eq!(rebuilt, stream);
    }
    Ok(())
}
