//! The registrar (ESRD, §1). Packets, header level: every captured request and reply parses
//! with its type and exact payload and rebuilds byte for byte; malformed packets are refused as
//! Go refuses them. The server's logic without sockets answers Go's captured requests with Go's
//! bytes. Then nodes on loopback (each test its own ephemeral port): registering, resolving, a
//! name taken, an unknown name, a registration that ends with its connection, a client taking
//! the server over when its node stops, caps, and garbage on both sockets.

#[path = "support/capture.rs"]
mod capture;
mod support;

use ergors::net::edf::ergo_types::{Route, Version};
use ergors::net::proto::BuildError;
use ergors::net::registrar::core::{
    Owner, Refusal, RegisterOutcome, Table, read_register_reply, read_resolve_reply, register_packet, resolve_packet,
    serve_register, serve_resolve,
};
use ergors::net::registrar::{
    Packet, PacketError, PacketType, Registrar, RegistrarError, RegistrarOptions, write_packet,
};
use ergors::{Actor, Context, ExitReason, Node, SpawnOptions};
use proptest::prelude::*;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;
use support::{PATIENCE, eventually};

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

fn version(name: &str) -> Version {
    Version { name: name.into(), release: "R1".into(), commit: String::new(), license: "MIT".into() }
}

fn route(port: u16) -> Route {
    Route { host: String::new(), port, tls: false, handshake_version: version("EHS"), proto_version: version("ENP") }
}

#[test]
fn the_server_core_answers_go_requests_with_go_bytes() {
    let cap = capture::load();
    let r = &cap.registrar;
    // The capture's server node, alpha, registered itself in memory with its acceptor's port.
    let mut table = Table::new(16);
    table.register("alpha@localhost", vec![route(37361)], Owner::Local).unwrap();

    assert_eq!(serve_resolve(&table, &r[0].request).unwrap(), r[0].reply, "{}", r[0].what);
    assert_eq!(serve_resolve(&table, &r[1].request).unwrap(), r[1].reply, "{}", r[1].what);
    match serve_register(&mut table, &r[2].request, Owner::Connection(7)).unwrap() {
        RegisterOutcome::Registered { node, reply } => {
            assert_eq!(node, "fake@localhost");
            assert_eq!(reply, r[2].reply, "{}", r[2].what);
        }
        other => panic!("refused: {other:?}"),
    }
    assert_eq!(serve_resolve(&table, &r[3].request).unwrap(), r[3].reply, "{}", r[3].what);
    // Another connection cannot drop it; its own connection's end does.
    assert!(!table.unregister("fake@localhost", Owner::Connection(8)));
    assert!(table.unregister("fake@localhost", Owner::Connection(7)));
    assert_eq!(serve_resolve(&table, &r[4].request).unwrap(), r[4].reply, "{}", r[4].what);

    // The client's side writes Go's requests and reads Go's replies.
    assert_eq!(register_packet("fake@localhost", &[route(15000)]).unwrap(), r[2].request);
    assert_eq!(resolve_packet("alpha@localhost").unwrap(), r[0].request);
    assert_eq!(read_register_reply(&r[2].reply).unwrap(), None);
    assert_eq!(read_resolve_reply(&r[0].reply).unwrap().unwrap(), vec![route(37361)]);
    assert_eq!(read_resolve_reply(&r[1].reply).unwrap().unwrap_err().as_str(), "unknown");
}

#[test]
fn the_server_core_refuses_as_go_does() {
    let mut table = Table::new(2);
    let reg = |table: &mut Table, name: &str, routes: &[Route], id| {
        serve_register(table, &register_packet(name, routes).unwrap(), Owner::Connection(id)).unwrap()
    };
    assert!(matches!(reg(&mut table, "a@h", &[route(1)], 1), RegisterOutcome::Registered { .. }));
    for (name, routes, want, text) in [
        ("a@h", &[route(2)][..], Refusal::Taken, "resource is taken"),
        ("b@h", &[][..], Refusal::Incorrect, "incorrect value or argument"),
    ] {
        match reg(&mut table, name, routes, 2) {
            RegisterOutcome::Refused { refusal, reply } => {
                assert_eq!(refusal, want);
                assert_eq!(read_register_reply(&reply).unwrap().unwrap().as_str(), text);
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(matches!(reg(&mut table, "b@h", &[route(3)], 3), RegisterOutcome::Registered { .. }));
    match reg(&mut table, "c@h", &[route(4)], 4) {
        RegisterOutcome::Refused { refusal: Refusal::Full, .. } => {}
        other => panic!("past the cap: {other:?}"),
    }
    // A resolve on the TCP side, a register on the UDP side, garbage: refused, nothing answered.
    assert!(serve_register(&mut table, &resolve_packet("a@h").unwrap(), Owner::Connection(9)).is_err());
    assert!(serve_resolve(&table, &register_packet("z@h", &[route(1)]).unwrap()).is_err());
    assert!(serve_resolve(&table, &[1, 46, 0, 2, 0x83, 0x00]).is_err());
    assert_eq!(table.len(), 2);
}

proptest! {
    #[test]
    fn random_bytes_never_panic_the_server_core(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut table = Table::new(4);
        let _ = serve_resolve(&table, &bytes);
        let _ = serve_register(&mut table, &bytes, Owner::Connection(1));
        let mut with_header = vec![1, 46];
        with_header.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        with_header.extend_from_slice(&bytes);
        let _ = serve_resolve(&table, &with_header);
        with_header[1] = 44;
        let _ = serve_register(&mut table, &with_header, Owner::Connection(2));
    }
}

/// Options for one test: its own port, short deadlines (they bound the test, nothing measures them).
fn opts(port: u16) -> RegistrarOptions {
    RegistrarOptions {
        port,
        retry_interval: Duration::from_millis(100),
        resolve_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

/// A node hosting a registrar server on a free port.
fn server_node(name: &str, options: RegistrarOptions) -> (Node, Registrar) {
    let node = support::node(name, 1);
    let registrar = Registrar::start(&node, RegistrarOptions { port: 0, ..options });
    registrar.register(vec![route(11144)]).expect("the server node registers");
    assert!(registrar.is_server());
    (node, registrar)
}

/// A raw TCP registration, as a Go node makes it: the connection is the registration.
fn raw_register(port: u16, name: &str) -> (TcpStream, Option<String>) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    conn.write_all(&register_packet(name, &[route(15000)]).unwrap()).unwrap();
    let mut buf = [0u8; 4096];
    let n = conn.read(&mut buf).unwrap();
    let error = read_register_reply(&buf[..n]).unwrap().map(|e| e.as_str().to_owned());
    (conn, error)
}

fn closed(conn: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(conn.read(&mut buf), Ok(0) | Err(_))
}

/// Resolves inside a process (the ring path) and reports to the test.
struct AsyncResolve {
    registrar: Registrar,
    name: String,
    tx: Sender<Result<Vec<Route>, RegistrarError>>,
}

impl Actor for AsyncResolve {
    async fn init(&mut self, _ctx: &mut Context) -> Result<(), ExitReason> {
        let _ = self.tx.send(self.registrar.resolve(&self.name).await);
        Err(ExitReason::Normal)
    }
}

/// Registers inside a process (the ring path), first trying the blocking call there.
struct AsyncRegister {
    registrar: Registrar,
    tx: Sender<(Result<(), RegistrarError>, Result<(), RegistrarError>)>,
}

impl Actor for AsyncRegister {
    async fn init(&mut self, _ctx: &mut Context) -> Result<(), ExitReason> {
        let blocking = self.registrar.register(vec![route(20003)]);
        let awaited = self.registrar.register_async(vec![route(20003)]).await;
        let _ = self.tx.send((blocking, awaited));
        Err(ExitReason::Normal)
    }
}

fn resolve_in_process(node: &Node, registrar: &Registrar, name: &str) -> Result<Vec<Route>, RegistrarError> {
    let (tx, rx) = channel();
    let actor = AsyncResolve { registrar: registrar.clone(), name: name.into(), tx };
    node.spawn(actor, SpawnOptions::default()).unwrap();
    rx.recv_timeout(PATIENCE).expect("the resolve ends")
}

#[test]
fn nodes_register_and_resolve_each_other() {
    let (alpha, server) = server_node("alpha", opts(0));
    let port = server.port();
    assert_ne!(port, 0);
    let beta = support::node("beta", 1);
    let client = Registrar::start(&beta, opts(port));
    client.register(vec![route(20001), route(20002)]).unwrap();
    assert!(!client.is_server());
    assert!(matches!(client.register(vec![route(1)]), Err(RegistrarError::AlreadyRegistered)));

    // The server answers its own host from memory, the client asks over UDP.
    assert_eq!(server.resolve_blocking("beta@localhost").unwrap(), vec![route(20001), route(20002)]);
    assert_eq!(client.resolve_blocking("alpha@localhost").unwrap(), vec![route(11144)]);
    assert_eq!(resolve_in_process(&beta, &client, "alpha@localhost").unwrap(), vec![route(11144)]);
    assert_eq!(resolve_in_process(&alpha, &server, "beta@localhost").unwrap().len(), 2);
    // A name given by IP reaches the same server.
    assert_eq!(client.resolve_blocking("alpha@127.0.0.1"), Err(RegistrarError::Unknown));

    // From inside a process: the blocking call is refused there, the async one registers, and
    // the registration outlives the process that made it.
    let gamma = support::node("gamma", 1);
    let third = Registrar::start(&gamma, opts(port));
    let (tx, rx) = channel();
    gamma.spawn(AsyncRegister { registrar: third.clone(), tx }, SpawnOptions::default()).unwrap();
    let (blocking, awaited) = rx.recv_timeout(PATIENCE).unwrap();
    assert!(matches!(blocking, Err(RegistrarError::Node(ergors::Error::WouldBlockWorker(_)))));
    assert_eq!(awaited, Ok(()));
    assert_eq!(server.resolve_blocking("gamma@localhost").unwrap(), vec![route(20003)]);

    let info = server.info();
    assert!(info.embedded_server);
    assert_eq!((info.registered, info.connections), (Some(3), Some(2)));
    assert_eq!(info.version.name, "ESRD");
    drop((alpha, beta, gamma));
}

#[test]
fn unknown_names_and_names_without_host() {
    let (alpha, server) = server_node("alpha", opts(0));
    let beta = support::node("beta", 1);
    let client = Registrar::start(&beta, opts(server.port()));
    assert_eq!(server.resolve_blocking("nobody@localhost"), Err(RegistrarError::Unknown));
    assert_eq!(client.resolve_blocking("nobody@localhost"), Err(RegistrarError::Unknown));
    assert_eq!(resolve_in_process(&beta, &client, "nobody@localhost"), Err(RegistrarError::Unknown));
    assert_eq!(client.resolve_blocking("nohost"), Err(RegistrarError::Incorrect));
    drop((alpha, beta));
}

#[test]
fn a_taken_name_is_refused() {
    let (_alpha, server) = server_node("alpha", opts(0));
    let port = server.port();
    let (mut first, error) = raw_register(port, "twin@localhost");
    assert_eq!(error, None);
    // A second registration of the name: refused, and its connection closed.
    let (mut second, error) = raw_register(port, "twin@localhost");
    assert_eq!(error.as_deref(), Some("resource is taken"));
    assert!(closed(&mut second));
    // So is a node of that name, and the server's own name.
    let twin = support::node("twin", 1);
    assert_eq!(Registrar::start(&twin, opts(port)).register(vec![route(1)]), Err(RegistrarError::Taken));
    let (_c, error) = raw_register(port, "alpha@localhost");
    assert_eq!(error.as_deref(), Some("resource is taken"));
    // The first registration is untouched.
    assert_eq!(server.resolve_blocking("twin@localhost").unwrap(), vec![route(15000)]);
    let _ = first.write_all(b"noise is read and dropped");
    assert_eq!(server.resolve_blocking("twin@localhost").unwrap(), vec![route(15000)]);
}

#[test]
fn a_registration_ends_with_its_connection() {
    let (_alpha, server) = server_node("alpha", opts(0));
    let port = server.port();
    let (conn, error) = raw_register(port, "fake@localhost");
    assert_eq!(error, None);
    assert_eq!(server.resolve_blocking("fake@localhost").unwrap(), vec![route(15000)]);
    drop(conn);
    assert!(eventually(|| server.resolve_blocking("fake@localhost") == Err(RegistrarError::Unknown)));

    // A node's registration: it ends when the node's registrar stops, and when the node stops.
    let beta = support::node("beta", 1);
    let client = Registrar::start(&beta, opts(port));
    client.register(vec![route(20001)]).unwrap();
    assert!(server.resolve_blocking("beta@localhost").is_ok());
    client.stop();
    assert!(eventually(|| server.resolve_blocking("beta@localhost") == Err(RegistrarError::Unknown)));
    let gamma = support::node("gamma", 1);
    Registrar::start(&gamma, opts(port)).register(vec![route(20002)]).unwrap();
    assert!(server.resolve_blocking("gamma@localhost").is_ok());
    gamma.stop();
    assert!(eventually(|| server.resolve_blocking("gamma@localhost") == Err(RegistrarError::Unknown)));
    assert!(eventually(|| server.info().connections == Some(0)));
}

#[test]
fn a_client_takes_the_server_over_when_its_node_stops() {
    let (alpha, server) = server_node("alpha", opts(0));
    let port = server.port();
    let beta = support::node("beta", 1);
    let client = Registrar::start(&beta, opts(port));
    client.register(vec![route(20001)]).unwrap();
    assert!(!client.is_server());

    alpha.stop();
    assert!(!server.is_server(), "alpha's server ended with its node");
    assert!(eventually(|| client.is_server()), "beta hosts the registrar now");
    assert_eq!(client.port(), port);
    // Beta registered itself in its own table; a third node finds it there, and not alpha.
    let gamma = support::node("gamma", 1);
    let third = Registrar::start(&gamma, RegistrarOptions { disable_server: true, ..opts(port) });
    assert_eq!(third.resolve_blocking("beta@localhost").unwrap(), vec![route(20001)]);
    assert_eq!(resolve_in_process(&gamma, &third, "alpha@localhost"), Err(RegistrarError::Unknown));
    // And registers with beta's server.
    third.register(vec![route(20003)]).unwrap();
    assert_eq!(client.resolve_blocking("gamma@localhost").unwrap(), vec![route(20003)]);
    drop(server);
}

#[test]
fn the_server_is_bounded() {
    // Registrations: alpha itself is one; one more fits, the next is refused as full.
    let (_alpha, server) = server_node("alpha", RegistrarOptions { max_registrations: 2, ..opts(0) });
    let (_a, error) = raw_register(server.port(), "a@localhost");
    assert_eq!(error, None);
    let (mut b, error) = raw_register(server.port(), "b@localhost");
    assert_eq!(error.as_deref(), Some("registrar is full"));
    assert!(closed(&mut b));

    // Connections: two at most; a third is closed unanswered while two are open.
    let (_beta, server) = server_node("beta", RegistrarOptions { max_connections: 2, ..opts(0) });
    let port = server.port();
    let (_a, _) = raw_register(port, "a@localhost");
    let (b, _) = raw_register(port, "b@localhost");
    let mut extra = TcpStream::connect(("127.0.0.1", port)).unwrap();
    extra.set_read_timeout(Some(PATIENCE)).unwrap();
    let _ = extra.write_all(&register_packet("c@localhost", &[route(1)]).unwrap());
    assert!(closed(&mut extra));
    assert_eq!(server.resolve_blocking("c@localhost"), Err(RegistrarError::Unknown));
    // A slot comes back when a connection ends; one that never registers is closed at the
    // read deadline, freeing its slot.
    drop(b);
    assert!(eventually(|| server.info().connections == Some(1)));
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    idle.set_read_timeout(Some(PATIENCE)).unwrap();
    assert!(closed(&mut idle));
    assert!(eventually(|| server.info().connections == Some(1)));
    assert_eq!(raw_register(port, "c@localhost").1, None);
}

#[test]
fn garbage_is_dropped_and_the_server_goes_on() {
    let (_alpha, server) = server_node("alpha", opts(0));
    let port = server.port();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.connect(("127.0.0.1", port)).unwrap();
    udp.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut good = resolve_packet("alpha@localhost").unwrap();
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![1],
        vec![1, 46, 0],
        vec![2, 46, 0, 0],
        vec![1, 99, 0, 0],
        vec![1, 46, 0, 200, 0x83],
        vec![1, 46, 0, 3, 0x83, 0x00, 0x01],
        register_packet("x@localhost", &[route(1)]).unwrap(),
        vec![0xff; 2000],
        {
            let mut cut = good.clone();
            cut.truncate(good.len() - 3);
            cut
        },
    ];
    for g in &garbage {
        udp.send(g).unwrap();
    }
    // One reply comes, to the one resolve: the server answered none of the garbage.
    udp.send(&good).unwrap();
    let mut buf = [0u8; 4096];
    let n = udp.recv(&mut buf).unwrap();
    assert_eq!(read_resolve_reply(&buf[..n]).unwrap().unwrap(), vec![route(11144)]);
    good = resolve_packet("nobody@localhost").unwrap();
    udp.send(&good).unwrap();
    let n = udp.recv(&mut buf).unwrap();
    assert_eq!(read_resolve_reply(&buf[..n]).unwrap().unwrap_err().as_str(), "unknown");

    // Garbage or a short packet on a registration connection closes it, unanswered.
    for g in [&b"GET / HTTP/1.0\r\n\r\n"[..], &[1u8, 44][..], &resolve_packet("a@localhost").unwrap()[..]] {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.set_read_timeout(Some(PATIENCE)).unwrap();
        conn.write_all(g).unwrap();
        assert!(closed(&mut conn));
    }
    assert_eq!(raw_register(port, "after@localhost").1, None);
}

#[test]
fn resolve_fails_typed() {
    // Nothing answers on this port: the resolve times out (short, for the test).
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let node = support::node("lonely", 1);
    let options = RegistrarOptions { disable_server: true, resolve_timeout: Duration::from_millis(200), ..opts(port) };
    let registrar = Registrar::start(&node, options);
    assert!(matches!(registrar.resolve_blocking("x@127.0.0.1"), Err(RegistrarError::Timeout(_))));
    assert!(matches!(resolve_in_process(&node, &registrar, "x@localhost"), Err(RegistrarError::Timeout(_))));
    // Nobody to register with: an I/O error; a hidden node (no routes) registers nothing.
    drop(silent);
    // (Io when nothing listens on the TCP port; should another program hold it, it does not answer.)
    assert!(matches!(
        registrar.register(vec![route(1)]),
        Err(RegistrarError::Io(_) | RegistrarError::Timeout(_) | RegistrarError::Malformed(_))
    ));
    assert_eq!(registrar.register(vec![]), Ok(()));
    assert!(!registrar.is_server());
    registrar.stop();
    assert_eq!(registrar.resolve_blocking("x@localhost"), Err(RegistrarError::Stopped));
}
