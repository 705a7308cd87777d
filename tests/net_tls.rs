//! Network links over TLS (Ergo's acceptor with a certificate, its dialer's verification or
//! `InsecureSkipVerify`, and the handshake's `DigestCert` tying the certificate to the
//! acceptor): two ergors nodes in one OS process over loopback, self-signed certificates made
//! by rcgen.

mod support;

use ergors::net::{NetworkOptions, PemSource, TlsSetupError};
use ergors::{Actor, Atom, Context, Error, ExitReason, From, Message, Node, NodeOptions, Pid, ProcessId, SpawnOptions};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use support::*;

/// A self-signed certificate for `localhost` and its key, as PEM texts.
#[derive(Clone)]
struct Identity {
    cert: String,
    key: String,
}

fn identity() -> Identity {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("a self-signed certificate");
    Identity { cert: made.cert.pem(), key: made.signing_key.serialize_pem() }
}

/// A test node's network: no registrar unless a test gives its own port.
fn net(cookie: &str) -> NetworkOptions {
    NetworkOptions::enabled(cookie, "127.0.0.1:0".parse().expect("an address")).registrar_port(0)
}

/// A node whose acceptor serves TLS with `id`.
fn tls_node(name: &str, id: &Identity) -> Node {
    let options = net("secret").tls(PemSource::Text(id.cert.clone()), PemSource::Text(id.key.clone()));
    Node::start(name, NodeOptions::default().workers(2).network(options)).expect("node starts")
}

fn start(name: &str, options: NetworkOptions) -> Node {
    Node::start(name, NodeOptions::default().workers(2).network(options)).expect("node starts")
}

/// Echoes strings to the sender; answers calls with what it got.
struct Echo;

impl Actor for Echo {
    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(s) = msg.downcast::<String>() {
            ctx.send(from, format!("echo: {s}")).map_err(ExitReason::error)?;
        }
        Ok(())
    }

    async fn handle_call(&mut self, _: &mut Context, _: From, req: Message) -> Result<Option<Message>, ExitReason> {
        match req.downcast::<String>() {
            Ok(s) => Ok(Some(Message::new(format!("called: {s}")))),
            Err(other) => Ok(Some(other)),
        }
    }
}

/// Sends one message to `to` in init and reports what comes back.
struct Asker {
    to: ergors::To,
    report: Sender<(Pid, Message)>,
}

impl Actor for Asker {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.send(self.to.clone(), String::from("hi")).map_err(ExitReason::error)
    }

    async fn handle_message(&mut self, _: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        let _ = self.report.send((from, msg));
        Ok(())
    }
}

fn echo_on(node: &Node, name: &str) -> ProcessId {
    node.spawn(Echo, SpawnOptions::default()).and_then(|p| node.register_name("echo", p)).expect("echo");
    ProcessId { name: "echo".into(), node: Atom::new(name) }
}

fn called(reply: Result<Message, Error>) -> Option<String> {
    reply.ok().and_then(|m| m.downcast::<String>().ok())
}

#[test]
fn two_nodes_send_and_call_over_tls_with_the_whole_pool_on_tls() {
    let id = identity();
    let a = tls_node("a-tls@localhost", &id);
    let addr = a.handle().network_address().expect("a listens");
    // b checks a's certificate against a's own (its only root) for the name "localhost".
    let b = start(
        "b-tls@localhost",
        net("secret").tls_roots(PemSource::Text(id.cert.clone())).route_tls("a-tls@localhost", addr),
    );
    let to = echo_on(&a, "a-tls@localhost");
    let (tx, rx) = channel();
    b.spawn(Asker { to: to.clone().into(), report: tx }, SpawnOptions::default()).expect("asker");
    let (from, msg) = rx.recv_timeout(PATIENCE).expect("a reply over TLS");
    assert_eq!(from.node, Atom::new("a-tls@localhost"));
    assert_eq!(msg.downcast::<String>().ok().as_deref(), Some("echo: hi"));
    // The acceptor serves TLS only, so each of the pool's joined links is TLS too.
    let a_name = Atom::new("a-tls@localhost");
    assert!(eventually(|| b.peer_info(a_name).is_some_and(|p| p.links == 3)), "{:?}", b.peer_info(a_name));
    let b_name = b.handle().name();
    assert!(eventually(|| a.peer_info(b_name).is_some_and(|p| p.links == 3)), "{:?}", a.peer_info(b_name));
    for i in 0..30 {
        assert_eq!(called(b.call(to.clone(), format!("n{i}"))), Some(format!("called: n{i}")));
    }
    // And back the other way, on the same connection.
    let back = echo_on(&b, "b-tls@localhost");
    assert_eq!(called(a.call(back, String::from("back"))), Some("called: back".into()));
}

#[test]
fn insecure_skip_verify_takes_a_certificate_no_root_vouches_for() {
    let a = tls_node("a-skip@localhost", &identity());
    let addr = a.handle().network_address().expect("a listens");
    let to = echo_on(&a, "a-skip@localhost");
    // Verifying against a root that is not a's: refused.
    let stranger = identity();
    let b = start(
        "b-skip@localhost",
        net("secret").tls_roots(PemSource::Text(stranger.cert)).route_tls("a-skip@localhost", addr),
    );
    assert_eq!(b.call(to.clone(), String::from("x")).err(), Some(Error::NoConnection(Atom::new("a-skip@localhost"))));
    // Skipping verification (Go's InsecureSkipVerify): the DigestCert check is what holds.
    let c = start("c-skip@localhost", net("secret").tls_insecure_skip_verify(true).route_tls("a-skip@localhost", addr));
    assert_eq!(called(c.call(to, String::from("x"))), Some("called: x".into()));
}

#[test]
fn a_plain_dialer_fails_cleanly_against_a_tls_acceptor() {
    let id = identity();
    let a = tls_node("a-plain@localhost", &id);
    let addr = a.handle().network_address().expect("a listens");
    let to = echo_on(&a, "a-plain@localhost");
    let b = start("b-plain@localhost", net("secret").route("a-plain@localhost", addr));
    assert_eq!(b.call(to.clone(), String::from("x")).err(), Some(Error::NoConnection(Atom::new("a-plain@localhost"))));
    assert!(b.handle().peers().is_empty());
    assert!(a.handle().peers().is_empty());
    // The acceptor is unharmed: a TLS dialer gets through.
    let c = start(
        "c-plain@localhost",
        net("secret").tls_roots(PemSource::Text(id.cert)).route_tls("a-plain@localhost", addr),
    );
    assert_eq!(called(c.call(to, String::from("x"))), Some("called: x".into()));
}

#[test]
fn a_wrong_cookie_over_tls_is_refused() {
    let id = identity();
    let a = tls_node("a-tcookie@localhost", &id);
    let addr = a.handle().network_address().expect("a listens");
    let to = echo_on(&a, "a-tcookie@localhost");
    let b = start(
        "b-tcookie@localhost",
        net("wrong").tls_roots(PemSource::Text(id.cert)).route_tls("a-tcookie@localhost", addr),
    );
    assert_eq!(b.call(to, String::from("x")).err(), Some(Error::NoConnection(Atom::new("a-tcookie@localhost"))));
    assert!(b.handle().peers().is_empty());
    assert!(a.handle().peers().is_empty());
}

#[test]
fn a_tls_acceptor_registers_a_tls_route_and_is_dialled_over_tls() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
    let id = identity();
    let with_registrar = |name: &str, options: NetworkOptions| start(name, options.registrar_port(port));
    let a = with_registrar(
        "a-treg@localhost",
        net("secret").tls(PemSource::Text(id.cert.clone()), PemSource::Text(id.key.clone())),
    );
    let b = with_registrar("b-treg@localhost", net("secret").tls_roots(PemSource::Text(id.cert)));
    let to = echo_on(&a, "a-treg@localhost");
    // b has no static route: the registrar says a's route is TLS, and b dials it so (a plain
    // dial would fail at a's TLS-only acceptor).
    assert_eq!(called(b.call(to, String::from("found"))), Some("called: found".into()));
}

#[test]
fn a_certificate_that_does_not_match_the_handshake_is_refused() {
    // A TLS terminator between b and a, which dials a itself: b sees the terminator's
    // certificate, a's DigestCert is for a's, and b refuses. Through the same terminator showing
    // a's own certificate, the connection works (so the refusal is the fingerprint's doing).
    let id = identity();
    let a = tls_node("a-mitm@localhost", &id);
    let addr = a.handle().network_address().expect("a listens");
    let to = echo_on(&a, "a-mitm@localhost");
    let a_name = Atom::new("a-mitm@localhost");

    let other = terminator(addr, &identity(), &id.cert);
    let b =
        start("b-mitm@localhost", net("secret").tls_insecure_skip_verify(true).route_tls("a-mitm@localhost", other));
    assert_eq!(b.call(to.clone(), String::from("x")).err(), Some(Error::NoConnection(a_name)));
    assert!(b.handle().peers().is_empty());

    let same = terminator(addr, &id, &id.cert);
    let c = start("c-mitm@localhost", net("secret").tls_insecure_skip_verify(true).route_tls("a-mitm@localhost", same));
    assert_eq!(called(c.call(to, String::from("x"))), Some("called: x".into()));
}

#[test]
fn unusable_tls_settings_fail_the_start_with_a_typed_error() {
    let start_with =
        |options: NetworkOptions| Node::start("bad-tls@localhost", NodeOptions::default().workers(1).network(options));
    let missing = PemSource::File("/nonexistent/ergors/cert.pem".into());
    let err = start_with(net("s").tls(missing.clone(), missing)).err().expect("a missing file fails the start");
    assert!(matches!(err, ergors::StartError::Tls(TlsSetupError::Read { .. })), "{err:?}");

    let garbage = PemSource::Text("not PEM at all".into());
    let err = start_with(net("s").tls(garbage.clone(), garbage)).err().expect("no certificate fails the start");
    assert!(matches!(err, ergors::StartError::Tls(TlsSetupError::Pem { .. })), "{err:?}");

    let id = identity();
    let mut half = net("s");
    half.tls.cert = Some(PemSource::Text(id.cert.clone()));
    let err = start_with(half).err().expect("a certificate without its key fails the start");
    assert!(matches!(err, ergors::StartError::Tls(TlsSetupError::Incomplete)), "{err:?}");

    // A key that is not the certificate's.
    let err = start_with(net("s").tls(PemSource::Text(id.cert), PemSource::Text(identity().key)))
        .err()
        .expect("a mismatched key fails the start");
    assert!(matches!(err, ergors::StartError::Tls(TlsSetupError::Rustls(_))), "{err:?}");
}

#[test]
fn the_tls_settings_come_from_the_environment() {
    let vars = |name: &str| match name {
        "ERGORS_NET_TLS_CERT" => Some("/etc/ergors/cert.pem".to_string()),
        "ERGORS_NET_TLS_KEY" => Some("/etc/ergors/key.pem".to_string()),
        "ERGORS_NET_TLS_CA" => Some("/etc/ergors/ca.pem".to_string()),
        "ERGORS_NET_TLS_INSECURE" => Some("yes".to_string()),
        _ => None,
    };
    let options = NodeOptions::from_lookup(vars).expect("accepted");
    let tls = &options.get_network().tls;
    assert_eq!(tls.cert, Some(PemSource::File("/etc/ergors/cert.pem".into())));
    assert_eq!(tls.key, Some(PemSource::File("/etc/ergors/key.pem".into())));
    assert_eq!(tls.roots, Some(PemSource::File("/etc/ergors/ca.pem".into())));
    assert!(tls.insecure_skip_verify);
    let bad = NodeOptions::from_lookup(|n| (n == "ERGORS_NET_TLS_INSECURE").then(|| "maybe".to_string()));
    assert!(matches!(bad, Err(ergors::StartError::InvalidOption { var: "ERGORS_NET_TLS_INSECURE", .. })));
    // Written files work as the environment names them.
    let id = identity();
    let dir = std::env::temp_dir().join(format!("ergors-net-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &id.cert).expect("cert written");
    std::fs::write(&key, &id.key).expect("key written");
    let a = start("a-files@localhost", net("secret").tls(PemSource::File(cert), PemSource::File(key)));
    let _ = std::fs::remove_dir_all(&dir);
    let addr = a.handle().network_address().expect("a listens");
    let to = echo_on(&a, "a-files@localhost");
    let b = start(
        "b-files@localhost",
        net("secret").tls_roots(PemSource::Text(id.cert)).route_tls("a-files@localhost", addr),
    );
    assert_eq!(called(b.call(to, String::from("x"))), Some("called: x".into()));
}

/// A TLS terminator in front of `upstream`: it serves TLS with `shown`, dials `upstream` over
/// TLS (trusting `upstream_cert`) and copies the plaintext both ways. Returns where it listens.
fn terminator(upstream: SocketAddr, shown: &Identity, upstream_cert: &str) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(shown.cert.as_bytes()).collect::<Result<_, _>>().expect("cert");
    let key = PrivateKeyDer::from_pem_slice(shown.key.as_bytes()).expect("key");
    let server = Arc::new(
        rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).expect("server config"),
    );
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(upstream_cert.as_bytes()) {
        roots.add(cert.expect("cert")).expect("a root");
    }
    let client = Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for down in listener.incoming() {
            let Ok(down) = down else { return };
            let (server, client) = (server.clone(), client.clone());
            std::thread::spawn(move || {
                let Ok(up) = std::net::TcpStream::connect(upstream) else { return };
                let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
                let (Ok(s), Ok(c)) =
                    (rustls::ServerConnection::new(server), rustls::ClientConnection::new(client, name))
                else {
                    return;
                };
                let tick = Some(std::time::Duration::from_millis(5));
                let _ = (down.set_read_timeout(tick), up.set_read_timeout(tick));
                let mut down = rustls::StreamOwned::new(s, down);
                let mut up = rustls::StreamOwned::new(c, up);
                let until = std::time::Instant::now() + PATIENCE;
                while std::time::Instant::now() < until {
                    if !copy(&mut down, &mut up) || !copy(&mut up, &mut down) {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Moves what `from` has (waiting a moment at most) to `to`; false once either side ended.
fn copy(from: &mut impl std::io::Read, to: &mut impl std::io::Write) -> bool {
    let mut buf = [0u8; 16 * 1024];
    match from.read(&mut buf) {
        Ok(0) => false,
        Ok(n) => to.write_all(&buf[..n]).and_then(|()| to.flush()).is_ok(),
        Err(e) => matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}
