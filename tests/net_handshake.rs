//! The handshake (EHS, §2): Go's digests recomputed from the captured session, 'W' frames,
//! and the dialer and acceptor state machines driven against each other with a fake clock —
//! both roles, wrong cookie, wrong names, TLS cert digests, timeouts, joins and replayed joins.

#[path = "support/capture.rs"]
mod capture;

use capture::{Captured, field};
use ergors::net::handshake::{
    Accept, Acceptor, CertFingerprint, Dialer, Established, Expecting, FrameReader, HandshakeConfig, HandshakeError,
    HandshakeFrameError, HandshakeMessage, Hello, Introduce, Join, JoinGuard, JoinRefusal, Joined, MAX_POOL_SIZE,
    NetworkFlags, Progress, digest, read_frame, write_frame,
};
use ergors::net::proto::BuildError;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn s(v: &serde_json::Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("string expected, got {v}"))
}

fn message(c: &Captured) -> &serde_json::Value {
    &c.fields["message"]
}

#[test]
fn go_digests_are_recomputed_from_the_capture() {
    let cap = capture::load();
    let cookie = cap.cookie.as_str();
    assert_eq!(cookie, "interop-cookie");
    let (hello_d, hello_a) = (message(cap.frame(0)), message(cap.frame(1)));
    let (salt_d, digest_d) = (s(field(hello_d, "Salt")), s(field(hello_d, "Digest")));
    let (salt_a, digest_a) = (s(field(hello_a, "Salt")), s(field(hello_a, "Digest")));
    assert_eq!(salt_d.len(), digest::SALT_LEN);
    assert_eq!(digest::dialer_hello(salt_d, cookie), digest_d);
    assert_eq!(digest::acceptor_hello(salt_a, digest_d, cookie), digest_a);
    assert_eq!(digest::dialer_introduce(salt_a, cookie), s(&cap.frame(2).fields["digest"]));
    assert_ne!(digest::dialer_hello(salt_d, "not-the-cookie"), digest_d);
    // The connection id the acceptor handed out, then both joins and their answers.
    let id = s(field(message(cap.frame(3)), "ID"));
    assert_eq!(id.len(), digest::CONNECTION_ID_LEN);
    for (join, answer) in [(8, 9), (10, 11)] {
        let join = message(cap.frame(join));
        assert_eq!(s(field(join, "ConnectionID")), id);
        let digest_j = s(field(join, "Digest"));
        assert_eq!(digest::join(id, s(field(join, "Salt")), cookie), digest_j);
        assert_eq!(digest::join_accept(digest_j, cookie), s(field(message(cap.frame(answer)), "Digest")));
    }
    assert!(digest::matches(digest_d, digest_d));
    assert!(!digest::matches(digest_d, digest_a));
    assert!(!digest::matches(digest_d, &digest_d[..63]));
}

#[test]
fn cert_digests_follow_the_formula() {
    // SHA-256 over the text and then the 20 raw bytes of SHA-1(DER).
    use sha2::{Digest, Sha256};
    let cert = CertFingerprint::of_der(b"not really DER");
    let mut h = Sha256::new();
    h.update(b"sa:sd:cookie");
    h.update(cert.0);
    let want: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(digest::acceptor_hello_cert("sa", "sd", "cookie", &cert), want);
    let mut h = Sha256::new();
    h.update(b"jd:sj:cookie");
    h.update(cert.0);
    let want: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(digest::join_accept_cert("jd", "sj", "cookie", &cert), want);
}

#[test]
fn captured_handshake_frames_split_and_rebuild_and_leave_the_enp_tail() {
    let cap = capture::load();
    for c in cap.ehs() {
        let (payload, len) = read_frame(&c.bytes).unwrap().expect("a whole frame");
        assert_eq!(len, c.bytes.len());
        assert_eq!(payload.len() as u64, c.fields["payload_len"].as_u64().unwrap());
        assert_eq!(payload[0], 0x83, "a registered struct by name, no caches");
        let mut rebuilt = Vec::new();
        write_frame(&mut rebuilt, |b| {
            b.extend_from_slice(payload);
            Ok::<(), Infallible>(())
        })
        .unwrap();
        assert_eq!(rebuilt, c.bytes, "frame {}", c.seq);
    }
    // The dialer's side of the main link: three handshake frames, then ENP in the same stream.
    let stream: Vec<u8> = [0, 2, 5, 6].iter().flat_map(|&seq| cap.frame(seq).bytes.clone()).collect();
    let mut reader = FrameReader::new();
    let mut payloads = Vec::new();
    for piece in stream.chunks(1000) {
        reader.extend(piece);
        while payloads.len() < 3
            && let Some(p) = reader.next_frame().unwrap()
        {
            payloads.push(p.len());
        }
    }
    assert_eq!(payloads, [183, 7259, 65]);
    assert_eq!(reader.remaining(), &cap.frame(6).bytes[..], "the tail is the first ENP frame");
}

#[test]
fn flags_on_the_wire_are_gos_default() {
    let cap = capture::load();
    let intro = &cap.frame(2).bytes;
    // The NetworkFlags blob: u32 length 8, then the u64 mask.
    let blob = [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0x67];
    assert!(intro.windows(blob.len()).any(|w| w == blob));
    assert!(s(&cap.frame(2).fields["flags"]).contains("EnableImportantDelivery:true"));
    let flags = NetworkFlags::from_bits(0x67);
    assert_eq!(flags, NetworkFlags::GO_DEFAULT);
    assert!(flags.contains(NetworkFlags::IMPORTANT_DELIVERY | NetworkFlags::REMOTE_SPAWN));
    assert!(!flags.contains(NetworkFlags::FRAGMENTATION));
    assert_eq!(NetworkFlags::from_bits(0x66), NetworkFlags::NONE, "without Enable nothing counts");
    assert_eq!(NetworkFlags::from_bits(0xff01).bits(), 1, "unknown bits are dropped");
    assert_eq!(flags.without(NetworkFlags::ENABLE), NetworkFlags::NONE);
    assert_eq!(NetworkFlags::NONE.with(NetworkFlags::IMPORTANT_DELIVERY).bits(), 0x41);
}

#[test]
fn handshake_frames_refuse_what_go_refuses() {
    assert_eq!(read_frame(b"N"), Err(HandshakeFrameError::BadMagic(b'N')));
    assert_eq!(read_frame(&[b'W', 2]), Err(HandshakeFrameError::BadVersion(2)));
    assert_eq!(read_frame(&[b'W', 1, 0, 1, 0, 0]), Err(HandshakeFrameError::TooLong(65536)));
    assert_eq!(read_frame(&[b'W', 1, 0, 0, 0xff, 0xff]), Ok(None), "65535 is allowed, and waits");
    assert_eq!(read_frame(&[b'W', 1, 0, 0]), Ok(None));
    let mut out = b"x".to_vec();
    let err = write_frame(&mut out, |b| {
        b.resize(b.len() + 65536, 0);
        Ok::<(), Infallible>(())
    });
    assert!(matches!(err, Err(BuildError::TooLarge { len: 65536, max: 65535 })));
    assert_eq!(out, b"x");
}

// ---- the state machines ----

fn config(name: &str, cookie: &str, creation: i64) -> Arc<HandshakeConfig> {
    let mut c = HandshakeConfig::new(name, cookie, creation);
    c.atom_cache = BTreeMap::from([(256, name.to_owned())]);
    c.reg_cache = BTreeMap::from([(4096, "#ergo.services/ergo/net/proto/MessageResult".to_owned())]);
    c.err_cache = BTreeMap::from([(32768, "incorrect value or argument".to_owned())]);
    c.max_message_size = 1 << 20;
    Arc::new(c)
}

/// Moves every queued message of one side to the other, recording their kinds; stops at the
/// first outcome. `rest` (the bytes after a frame) is `tail` for every message.
struct Wire {
    log: Vec<(&'static str, &'static str)>,
}

impl Wire {
    fn d_to_a(&mut self, d: &mut Dialer, a: &mut Acceptor, now: Instant, tail: &[u8]) -> Vec<Progress> {
        let mut out = Vec::new();
        while let Some(m) = d.poll_transmit() {
            self.log.push(("D", m.kind()));
            out.push(a.handle_message(now, m, tail).expect("acceptor takes it"));
        }
        out
    }
    fn a_to_d(&mut self, a: &mut Acceptor, d: &mut Dialer, now: Instant, tail: &[u8]) -> Vec<Progress> {
        let mut out = Vec::new();
        while let Some(m) = a.poll_transmit() {
            self.log.push(("A", m.kind()));
            out.push(d.handle_message(now, m, tail).expect("dialer takes it"));
        }
        out
    }
}

fn established(p: Vec<Progress>) -> Established {
    match p.into_iter().find(|p| *p != Progress::Continue) {
        Some(Progress::Established(e)) => *e,
        other => panic!("expected Established, got {other:?}"),
    }
}

fn main_handshake(
    dc: Arc<HandshakeConfig>,
    ac: Arc<HandshakeConfig>,
    cert: Option<CertFingerprint>,
) -> (Established, Established, Vec<(&'static str, &'static str)>) {
    let now = Instant::now();
    let mut d = Dialer::connect(dc, &ac.name, cert, now).unwrap();
    let mut a = Acceptor::new(ac, "127.0.0.1:11144", cert, now);
    let mut w = Wire { log: Vec::new() };
    w.d_to_a(&mut d, &mut a, now, b"");
    w.a_to_d(&mut a, &mut d, now, b"");
    w.d_to_a(&mut d, &mut a, now, b"");
    let at_dialer = established(w.a_to_d(&mut a, &mut d, now, b"enp bytes from alpha"));
    let at_acceptor = established(w.d_to_a(&mut d, &mut a, now, b"enp bytes from beta"));
    assert_eq!(d.poll_timeout(), None);
    assert_eq!(a.poll_timeout(), None);
    (at_dialer, at_acceptor, w.log)
}

#[test]
fn dialer_and_acceptor_establish_a_connection() {
    let beta = config("beta@localhost", "secret", 100);
    let mut alpha = (*config("alpha@localhost", "secret", 200)).clone();
    alpha.flags = NetworkFlags::ENABLE | NetworkFlags::IMPORTANT_DELIVERY;
    alpha.max_message_size = 0;
    let alpha = Arc::new(alpha);
    let (d, a, log) = main_handshake(beta.clone(), alpha.clone(), None);
    // Go's sequence of messages.
    assert_eq!(
        log,
        [
            ("D", "MessageHello"),
            ("A", "MessageHello"),
            ("D", "MessageIntroduce"),
            ("A", "MessageAccept"),
            ("A", "MessageIntroduce"),
            ("D", "MessageAccept"),
        ]
    );
    // The dialer learned the acceptor, and the acceptor the dialer.
    assert_eq!((d.peer.as_str(), d.peer_creation, d.peer_flags), ("alpha@localhost", 200, alpha.flags));
    assert_eq!((a.peer.as_str(), a.peer_creation, a.peer_flags), ("beta@localhost", 100, NetworkFlags::GO_DEFAULT));
    assert_eq!((d.peer_max_message_size, a.peer_max_message_size), (0, 1 << 20));
    assert_eq!(d.peer_atom_cache, alpha.atom_cache);
    assert_eq!(a.peer_reg_cache, beta.reg_cache);
    assert_eq!(a.peer_err_cache, beta.err_cache);
    assert_eq!(d.connection_id, a.connection_id);
    assert_eq!(d.connection_id.len(), 32);
    assert_eq!((d.pool_size, a.pool_size), (3, 3));
    assert_eq!(d.pool_dsn, ["127.0.0.1:11144"]);
    assert_eq!((d.tail.as_slice(), a.tail.as_slice()), (&b"enp bytes from alpha"[..], &b"enp bytes from beta"[..]));
    // Fresh salts and ids every time.
    let (d2, _, _) = main_handshake(beta, alpha, None);
    assert_ne!(d.connection_id, d2.connection_id);
}

#[test]
fn tls_cert_digests_are_checked() {
    let cert = CertFingerprint::of_der(b"alpha's certificate");
    let (d, _, _) = main_handshake(config("b@h", "c", 1), config("a@h", "c", 2), Some(cert));
    assert_eq!(d.peer, "a@h");
    // The acceptor's handshake does not match the certificate the dialer sees.
    let now = Instant::now();
    let seen = CertFingerprint::of_der(b"a man in the middle's certificate");
    let mut d = Dialer::connect(config("b@h", "c", 1), "a@h", Some(seen), now).unwrap();
    let mut a = Acceptor::new(config("a@h", "c", 2), "127.0.0.1:1", Some(cert), now);
    a.handle_message(now, d.poll_transmit().unwrap(), b"").unwrap();
    let err = d.handle_message(now, a.poll_transmit().unwrap(), b"").unwrap_err();
    assert!(matches!(err, HandshakeError::CertDigest("MessageHello")), "{err}");
}

#[test]
fn a_wrong_cookie_is_refused_by_both_sides() {
    let now = Instant::now();
    // The acceptor refuses a dialer with another cookie at its Hello.
    let mut d = Dialer::connect(config("b@h", "guess", 1), "a@h", None, now).unwrap();
    let mut a = Acceptor::new(config("a@h", "secret", 2), "127.0.0.1:1", None, now);
    let err = a.handle_message(now, d.poll_transmit().unwrap(), b"").unwrap_err();
    assert!(matches!(err, HandshakeError::Digest("MessageHello")));
    assert!(a.poll_transmit().is_none(), "nothing is answered");
    // The dialer refuses an acceptor that cannot prove the cookie (it echoes a made-up digest).
    let mut d = Dialer::connect(config("b@h", "secret", 1), "a@h", None, now).unwrap();
    let HandshakeMessage::Hello(hello) = d.poll_transmit().unwrap() else { panic!("hello") };
    let fake = Hello { salt: "0".repeat(64), digest: hello.digest.clone(), digest_cert: String::new() };
    let err = d.handle_message(now, HandshakeMessage::Hello(fake), b"").unwrap_err();
    assert!(matches!(err, HandshakeError::Digest("MessageHello")));
    // An eavesdropper replaying the dialer's Hello gets an answer but cannot Introduce itself.
    let mut a = Acceptor::new(config("a@h", "secret", 2), "127.0.0.1:1", None, now);
    a.handle_message(now, HandshakeMessage::Hello(hello), b"").unwrap();
    let intro = Introduce {
        node: "evil@h".into(),
        digest: digest::dialer_introduce(&"0".repeat(64), "guess"),
        ..Default::default()
    };
    let err = a.handle_message(now, HandshakeMessage::Introduce(Box::new(intro)), b"").unwrap_err();
    assert!(matches!(err, HandshakeError::Digest("MessageIntroduce")));
}

#[test]
fn names_are_checked() {
    let now = Instant::now();
    // The node dialled answers with another name.
    let mut d = Dialer::connect(config("b@h", "c", 1), "gamma@h", None, now).unwrap();
    let mut a = Acceptor::new(config("a@h", "c", 2), "127.0.0.1:1", None, now);
    let mut w = Wire { log: Vec::new() };
    w.d_to_a(&mut d, &mut a, now, b"");
    w.a_to_d(&mut a, &mut d, now, b"");
    w.d_to_a(&mut d, &mut a, now, b"");
    d.handle_message(now, a.poll_transmit().unwrap(), b"").unwrap();
    let err = d.handle_message(now, a.poll_transmit().unwrap(), b"").unwrap_err();
    assert!(
        matches!(&err, HandshakeError::WrongPeer { dialled, introduced } if dialled == "gamma@h" && introduced == "a@h")
    );
    assert!(d.poll_transmit().is_none(), "no final Accept");
    // A dialer with the acceptor's own name.
    let mut d = Dialer::connect(config("a@h", "c", 1), "a@h", None, now).unwrap();
    let mut a = Acceptor::new(config("a@h", "c", 2), "127.0.0.1:1", None, now);
    w.d_to_a(&mut d, &mut a, now, b"");
    w.a_to_d(&mut a, &mut d, now, b"");
    let err = a.handle_message(now, d.poll_transmit().unwrap(), b"").unwrap_err();
    assert!(matches!(err, HandshakeError::SameName(name) if name == "a@h"));
}

#[test]
fn each_message_has_a_deadline_on_the_explicit_clock() {
    let t0 = Instant::now();
    let second = Duration::from_secs(1);
    let mut d = Dialer::connect(config("b@h", "c", 1), "a@h", None, t0).unwrap();
    assert_eq!(d.poll_timeout(), Some(t0 + second));
    d.handle_timeout(t0 + second - Duration::from_millis(1)).unwrap();
    let err = d.handle_timeout(t0 + second).unwrap_err();
    assert!(matches!(err, HandshakeError::Timeout(Expecting::Hello)));
    assert_eq!(d.poll_timeout(), None);
    // The deadline restarts with each message awaited.
    let mut d = Dialer::connect(config("b@h", "c", 1), "a@h", None, t0).unwrap();
    let mut a = Acceptor::new(config("a@h", "c", 2), "127.0.0.1:1", None, t0);
    let t1 = t0 + Duration::from_millis(900);
    a.handle_message(t1, d.poll_transmit().unwrap(), b"").unwrap();
    assert_eq!(a.poll_timeout(), Some(t1 + second));
    d.handle_message(t1, a.poll_transmit().unwrap(), b"").unwrap();
    assert_eq!(d.poll_timeout(), Some(t1 + second));
    // A message that arrives after the deadline is a timeout, and then the machine is over.
    let late = t1 + second;
    let err = a.handle_message(late, d.poll_transmit().unwrap(), b"").unwrap_err();
    assert!(matches!(err, HandshakeError::Timeout(Expecting::Introduce)));
    let again = a.handle_message(late, HandshakeMessage::Accept(Accept::default()), b"").unwrap_err();
    assert!(matches!(again, HandshakeError::Over));
    // An acceptor whose dialer never speaks.
    let mut a = Acceptor::new(config("a@h", "c", 2), "127.0.0.1:1", None, t0);
    assert!(matches!(a.handle_timeout(t0 + second), Err(HandshakeError::Timeout(Expecting::HelloOrJoin))));
}

#[test]
fn messages_out_of_turn_fail_the_handshake() {
    let now = Instant::now();
    let mut a = Acceptor::new(config("a@h", "c", 2), "127.0.0.1:1", None, now);
    let err = a.handle_message(now, HandshakeMessage::Accept(Accept::default()), b"").unwrap_err();
    assert!(matches!(err, HandshakeError::Unexpected { expected: Expecting::HelloOrJoin, received: "MessageAccept" }));
    let mut d = Dialer::connect(config("b@h", "c", 1), "a@h", None, now).unwrap();
    let err = d.handle_message(now, HandshakeMessage::Introduce(Box::default()), b"").unwrap_err();
    assert!(matches!(err, HandshakeError::Unexpected { expected: Expecting::Hello, .. }));
}

#[test]
fn a_hostile_accept_cannot_make_us_dial_without_end() {
    let now = Instant::now();
    for (announced, used) in [(1i64 << 40, MAX_POOL_SIZE), (-5, 1), (0, 1), (7, 7)] {
        let mut d = Dialer::connect(config("b@h", "c", 1), "a@h", None, now).unwrap();
        let mut a = Acceptor::new(config("a@h", "c", 2), "127.0.0.1:1", None, now);
        a.handle_message(now, d.poll_transmit().unwrap(), b"").unwrap();
        d.handle_message(now, a.poll_transmit().unwrap(), b"").unwrap();
        let accept = Accept { id: "x".repeat(32), pool_size: announced, ..Default::default() };
        d.handle_message(now, HandshakeMessage::Accept(accept), b"").unwrap();
        let intro = Introduce { node: "a@h".into(), max_message_size: -1, ..Default::default() };
        let e = established(vec![d.handle_message(now, HandshakeMessage::Introduce(Box::new(intro)), b"").unwrap()]);
        assert_eq!(e.pool_size, used);
        assert_eq!(e.peer_max_message_size, 0, "a negative limit is no limit, as in Go");
    }
}

// ---- joins ----

fn join_via(
    d: &mut Dialer,
    a: &mut Acceptor,
    guard: &mut JoinGuard,
    now: Instant,
) -> Result<(Joined, Joined), HandshakeError> {
    let join = d.poll_transmit().expect("the Join");
    let Progress::JoinRequest(req) = a.handle_message(now, join, b"first enp")? else { panic!("a join request") };
    let at_acceptor = a.accept_join(guard)?;
    assert_eq!(
        (req.peer.as_str(), req.connection_id.as_str()),
        (at_acceptor.peer.as_str(), at_acceptor.connection_id.as_str())
    );
    let Progress::Joined(at_dialer) = d.handle_message(now, a.poll_transmit().expect("the Accept"), b"")? else {
        panic!("joined")
    };
    Ok((at_dialer, at_acceptor))
}

#[test]
fn pool_links_join_the_established_connection() {
    let (beta, alpha) = (config("beta@h", "c", 1), config("alpha@h", "c", 2));
    let (at_beta, _, _) = main_handshake(beta.clone(), alpha.clone(), None);
    let mut guard = JoinGuard::new();
    let now = Instant::now();
    for _ in 1..at_beta.pool_size {
        let mut d = Dialer::join(beta.clone(), &at_beta.connection_id, None, now).unwrap();
        let mut a = Acceptor::new(alpha.clone(), "127.0.0.1:1", None, now);
        let (at_dialer, at_acceptor) = join_via(&mut d, &mut a, &mut guard, now).unwrap();
        assert_eq!(at_dialer.connection_id, at_beta.connection_id);
        assert_eq!(at_acceptor.peer, "beta@h");
        assert_eq!(at_acceptor.tail, b"first enp");
    }
    assert_eq!(guard.admitted(), 2);
    // With TLS, the join's answer carries a cert digest that the dialer checks.
    let cert = CertFingerprint::of_der(b"alpha cert");
    let mut d = Dialer::join(beta.clone(), &at_beta.connection_id, Some(cert), now).unwrap();
    let mut a = Acceptor::new(alpha.clone(), "127.0.0.1:1", Some(cert), now);
    join_via(&mut d, &mut a, &mut guard, now).unwrap();
    let mut d = Dialer::join(beta, &at_beta.connection_id, Some(CertFingerprint([0; 20])), now).unwrap();
    let mut a = Acceptor::new(alpha, "127.0.0.1:1", Some(cert), now);
    assert!(matches!(join_via(&mut d, &mut a, &mut guard, now), Err(HandshakeError::CertDigest("MessageAccept"))));
}

#[test]
fn a_join_with_a_wrong_cookie_or_an_unknown_connection_is_refused() {
    let now = Instant::now();
    let mut d = Dialer::join(config("b@h", "guess", 1), "0123456789abcdef0123456789abcdef", None, now).unwrap();
    let mut a = Acceptor::new(config("a@h", "c", 2), "127.0.0.1:1", None, now);
    let err = a.handle_message(now, d.poll_transmit().unwrap(), b"").unwrap_err();
    assert!(matches!(err, HandshakeError::Digest("MessageJoin")));
    // The owner finds no such connection and rejects: nothing is sent, the machine is over.
    let mut d = Dialer::join(config("b@h", "c", 1), "no such id", None, now).unwrap();
    let mut a = Acceptor::new(config("a@h", "c", 2), "127.0.0.1:1", None, now);
    assert!(matches!(a.handle_message(now, d.poll_transmit().unwrap(), b""), Ok(Progress::JoinRequest(_))));
    a.reject_join();
    assert!(a.poll_transmit().is_none());
    assert!(matches!(a.accept_join(&mut JoinGuard::new()), Err(HandshakeError::Over)));
    // The dialer refuses an answer that does not prove the cookie.
    let fake = Accept { digest: "f".repeat(64), ..Default::default() };
    assert!(matches!(d.handle_message(now, HandshakeMessage::Accept(fake), b""), Err(HandshakeError::Digest(_))));
}

#[test]
fn a_captured_join_from_go_is_admitted_once_and_its_replay_refused() {
    let cap = capture::load();
    let cookie = cap.cookie.clone();
    let alpha = Arc::new(HandshakeConfig::new("alpha@localhost", cookie, 1795786401));
    let mut guard = JoinGuard::new(); // the connection's
    for (seq, answer) in [(8, 9), (10, 11)] {
        let m = message(cap.frame(seq));
        let join = Join {
            node: s(field(m, "Node")).into(),
            connection_id: s(field(m, "ConnectionID")).into(),
            salt: s(field(m, "Salt")).into(),
            digest: s(field(m, "Digest")).into(),
        };
        let now = Instant::now();
        let mut a = Acceptor::new(alpha.clone(), "127.0.0.1:37361", None, now);
        let Progress::JoinRequest(req) = a.handle_message(now, HandshakeMessage::Join(join.clone()), b"").unwrap()
        else {
            panic!("Go's join proves the cookie")
        };
        assert_eq!(req.peer, "beta@localhost");
        a.accept_join(&mut guard).unwrap();
        let Some(HandshakeMessage::Accept(accept)) = a.poll_transmit() else { panic!("an Accept") };
        assert_eq!(accept.digest, s(field(message(cap.frame(answer)), "Digest")), "the answer Go sent");
        // The same bytes again, on another link: the digest still verifies (Go would admit
        // it), but the connection remembers the salt.
        let mut replay = Acceptor::new(alpha.clone(), "127.0.0.1:37361", None, now);
        assert!(matches!(replay.handle_message(now, HandshakeMessage::Join(join), b""), Ok(Progress::JoinRequest(_))));
        let err = replay.accept_join(&mut guard).unwrap_err();
        assert!(matches!(err, HandshakeError::JoinRefused(JoinRefusal::Replayed)));
        assert!(replay.poll_transmit().is_none(), "a replay gets no answer");
    }
}

#[test]
fn the_join_memory_is_bounded() {
    let mut guard = JoinGuard::with_limit(2);
    let join = |salt: &str| Join { salt: salt.into(), ..Default::default() };
    guard.admit(&join("a")).unwrap();
    guard.admit(&join("b")).unwrap();
    assert_eq!(guard.admit(&join("a")), Err(JoinRefusal::Replayed));
    assert_eq!(guard.admit(&join("c")), Err(JoinRefusal::TooMany));
    assert_eq!(guard.admitted(), 2);
}

#[test]
fn the_cookie_stays_out_of_debug_output() {
    let c = HandshakeConfig::new("a@h", "hunter2", 1);
    assert!(!format!("{c:?}").contains("hunter2"));
}

proptest! {
    #[test]
    fn random_bytes_never_panic_the_frame_reader(bytes in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..300) {
        let mut bytes = bytes;
        if bytes.len() >= 6 && cut % 2 == 0 {
            bytes[0] = b'W';
            bytes[1] = 1;
            let len = (bytes.len() - 6) as u32;
            bytes[2..6].copy_from_slice(&len.to_be_bytes());
        }
        let _ = read_frame(&bytes);
        let mut reader = FrameReader::new();
        let (a, b) = bytes.split_at(cut.min(bytes.len()));
        for piece in [a, b] {
            reader.extend(piece);
            while let Ok(Some(p)) = reader.next_frame() {
                prop_assert!(p.len() <= bytes.len());
            }
            prop_assert!(reader.remaining().len() <= bytes.len());
        }
    }
}

#[test]
fn every_captured_handshake_message_decodes_and_encodes_back_as_go_wrote_it() {
    let cap = capture::load();
    let registry = ergors::net::edf::Registry::new();
    let mut kinds = std::collections::BTreeSet::new();
    for c in cap.ehs() {
        let (payload, _) = read_frame(&c.bytes).unwrap().expect("a whole frame");
        let msg = HandshakeMessage::decode(&registry, payload).unwrap_or_else(|e| panic!("frame {}: {e}", c.seq));
        kinds.insert(msg.kind());
        let mut again = Vec::new();
        msg.encode(&mut again).expect("encodes");
        match msg {
            // Go's maps come in Go's order; ours are sorted: the same message, maybe not the
            // same bytes.
            HandshakeMessage::Introduce(_) => {
                assert_eq!(HandshakeMessage::decode(&registry, &again).expect("decodes"), msg, "frame {}", c.seq)
            }
            _ => assert_eq!(again, payload, "frame {} ({})", c.seq, msg.kind()),
        }
    }
    assert_eq!(kinds.len(), 4, "all four messages are in the capture: {kinds:?}");
    let garbage = HandshakeMessage::decode(&registry, &[0x83, 0xff]);
    assert!(garbage.is_err());
}
