//! TCP metas: a server handing connections to a pool of handlers, with chunked framing, for a
//! thousand concurrent clients; disconnect reasons (clean, over-long frame, cut frame); a client
//! connection; TLS; a peer that stops reading (writes back up into `MailboxFull`); the parent's
//! end closing every connection; UDP echo.

mod support;

use ergors::codec::chunk::ChunkOptions;
use ergors::io::net::TcpStream;
use ergors::meta::MetaOptions;
use ergors::meta::tcp::{
    MessageTcp, MessageTcpConnect, MessageTcpDisconnect, TcpConnection, TcpConnectionOptions, TcpServer,
    TcpServerOptions,
};
use ergors::meta::udp::{MessageUdp, UdpServer, UdpServerOptions};
use ergors::{Actor, Alias, Context, Error, ExitReason, Message, Pid, SpawnOptions};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;
use support::*;

/// Lets this test process hold a few thousand sockets whatever the shell's soft limit.
fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// What a handler saw.
#[derive(Debug)]
enum Seen {
    Connect(Alias),
    Data(Alias, Vec<u8>),
    Disconnect(Alias, Option<String>),
}

/// Echoes every `MessageTcp` back to its connection; reports connects, disconnects and (if
/// `report_data`) data.
struct Handler {
    tx: Sender<Seen>,
    report_data: bool,
}

impl Actor for Handler {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        let msg = match msg.downcast::<MessageTcp>() {
            Ok(m) => {
                if self.report_data {
                    let _ = self.tx.send(Seen::Data(m.id, m.data.clone()));
                }
                let _ = ctx.send(m.id, MessageTcp { id: m.id, data: m.data });
                return Ok(());
            }
            Err(msg) => msg,
        };
        let msg = match msg.downcast::<MessageTcpConnect>() {
            Ok(c) => {
                let _ = self.tx.send(Seen::Connect(c.id));
                return Ok(());
            }
            Err(msg) => msg,
        };
        if let Ok(d) = msg.downcast::<MessageTcpDisconnect>() {
            let _ = self.tx.send(Seen::Disconnect(d.id, d.reason));
        }
        Ok(())
    }
}

/// Spawns a server meta from a parent process (the parent runs `init` to do it) and returns the
/// parent's Pid and the server's address.
struct ServerParent {
    options: Option<TcpServerOptions>,
    addr: Sender<Result<SocketAddr, String>>,
}

impl Actor for ServerParent {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let options = self.options.take().expect("options");
        let server = match TcpServer::bind(options) {
            Ok(s) => s,
            Err(e) => {
                let _ = self.addr.send(Err(e.to_string()));
                return Ok(());
            }
        };
        let addr = server.local_addr();
        let spawned = ctx.spawn_meta(server, MetaOptions::default()).await;
        let _ = self.addr.send(spawned.map(|_| addr).map_err(|e| e.to_string()));
        Ok(())
    }
}

fn serve(node: &ergors::Node, options: TcpServerOptions) -> (Pid, SocketAddr) {
    let (tx, rx) = channel();
    let parent = node.spawn(ServerParent { options: Some(options), addr: tx }, SpawnOptions::default()).unwrap();
    (parent, rx.recv_timeout(PATIENCE).unwrap().expect("server up"))
}

/// A 4-byte big-endian length header, then the payload.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

/// Connects over the ring, sends `frames` framed payloads, reads the echo back.
struct Client {
    addr: SocketAddr,
    seed: usize,
    report: Sender<Result<(), String>>,
}

impl Client {
    async fn run(&self) -> std::io::Result<()> {
        let mut stream = TcpStream::connect(self.addr).await?;
        let mut sent = Vec::new();
        for k in 0..5 {
            let len = (self.seed * 7 + k * 131) % 1500 + 1;
            let payload: Vec<u8> = (0..len).map(|i| (i + self.seed + k) as u8).collect();
            let f = frame(&payload);
            sent.extend_from_slice(&f);
            stream.write_all(f).await?;
        }
        let mut got = Vec::new();
        while got.len() < sent.len() {
            if stream.read(&mut got).await? == 0 {
                return Err(std::io::Error::other("closed early"));
            }
        }
        if got != sent {
            return Err(std::io::Error::other("echo differs"));
        }
        Ok(())
    }
}

impl Actor for Client {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let _ = self.report.send(self.run().await.map_err(|e| e.to_string()));
        Err(ExitReason::Normal)
    }
}

#[test]
fn a_thousand_clients_with_chunked_framing_through_a_pool_of_handlers() {
    raise_fd_limit();
    let node = node("tcp_many", 2);
    let (htx, hrx) = channel();
    let handlers: Vec<Pid> = (0..4)
        .map(|_| node.spawn(Handler { tx: htx.clone(), report_data: false }, SpawnOptions::default()).unwrap())
        .collect();
    let options = TcpServerOptions::new("127.0.0.1:0".parse().unwrap())
        .handlers(handlers.clone())
        .read_chunk(ChunkOptions::header(4, 0, 4).max_length(64 * 1024));
    let (_parent, addr) = serve(&node, options);
    let (tx, rx) = channel();
    const CLIENTS: usize = 1000;
    let clients: Vec<Pid> = (0..CLIENTS)
        .map(|seed| node.spawn(Client { addr, seed, report: tx.clone() }, SpawnOptions::default()).unwrap())
        .collect();
    // All connect before any starts talking: a thousand connections open at once.
    for c in &clients {
        node.send(*c, ()).unwrap();
    }
    for _ in 0..CLIENTS {
        assert_eq!(rx.recv_timeout(PATIENCE).expect("every client reports"), Ok(()));
    }
    // Every connection was announced and, once its client closed, ended cleanly.
    let (mut connects, mut clean) = (0, 0);
    while clean < CLIENTS {
        match hrx.recv_timeout(PATIENCE).expect("connects and disconnects") {
            Seen::Connect(_) => connects += 1,
            Seen::Disconnect(_, None) => clean += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(connects, CLIENTS);
    node.stop();
}

fn handler(node: &ergors::Node, report_data: bool) -> (Pid, Receiver<Seen>) {
    let (tx, rx) = channel();
    (node.spawn(Handler { tx, report_data }, SpawnOptions::default()).unwrap(), rx)
}

fn next_seen(rx: &Receiver<Seen>) -> Seen {
    rx.recv_timeout(PATIENCE).expect("the handler hears")
}

#[test]
fn disconnect_reasons_clean_over_long_and_cut_frames() {
    let node = node("tcp_reasons", 2);
    let (h, seen) = handler(&node, true);
    let options = TcpServerOptions::new("127.0.0.1:0".parse().unwrap())
        .handlers([h])
        .read_chunk(ChunkOptions::header(4, 0, 4).max_length(1000));
    let (_parent, addr) = serve(&node, options);

    // Clean: a frame, then close.
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(&frame(b"hello")).unwrap();
    let Seen::Connect(id) = next_seen(&seen) else { panic!("connect first") };
    assert!(matches!(next_seen(&seen), Seen::Data(i, d) if i == id && d == frame(b"hello")));
    let mut echo = [0u8; 9];
    c.read_exact(&mut echo).unwrap();
    assert_eq!(&echo[..], &frame(b"hello")[..]);
    drop(c);
    assert!(matches!(next_seen(&seen), Seen::Disconnect(i, None) if i == id));

    // A header announcing more than max_length: that connection ends, with the reason.
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(&frame(b"ok")).unwrap();
    c.write_all(&5000u32.to_be_bytes()).unwrap();
    let Seen::Connect(id) = next_seen(&seen) else { panic!("connect first") };
    assert!(matches!(next_seen(&seen), Seen::Data(i, _) if i == id), "the frame before the bad one arrives");
    match next_seen(&seen) {
        Seen::Disconnect(i, Some(reason)) => assert!(i == id && reason.contains("max_length"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // The server closed it (the echo of the good frame may or may not have made it first).
    let mut rest = Vec::new();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    match c.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty() || rest == frame(b"ok"), "{rest:?}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }

    // Half a frame, then close.
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(&10u32.to_be_bytes()).unwrap();
    c.write_all(b"abc").unwrap();
    let Seen::Connect(id) = next_seen(&seen) else { panic!("connect first") };
    drop(c);
    match next_seen(&seen) {
        Seen::Disconnect(i, Some(reason)) => assert!(i == id && reason.contains("middle of a frame"), "{reason}"),
        other => panic!("{other:?}"),
    }

    // The server is unharmed: a new client is served.
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(&frame(b"again")).unwrap();
    let mut echo = [0u8; 9];
    c.read_exact(&mut echo).unwrap();
    assert_eq!(&echo[..], &frame(b"again")[..]);
    node.stop();
}

/// Spawns a client connection meta in `init` and reports the outcome.
struct Dialer {
    options: Option<TcpConnectionOptions>,
    tx: Sender<Result<Alias, Error>>,
    seen: Sender<Seen>,
}

impl Actor for Dialer {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let conn = TcpConnection::connect(self.options.take().expect("options")).expect("valid options");
        let r = ctx.spawn_meta(conn, MetaOptions::default()).await;
        let _ = self.tx.send(r);
        Ok(())
    }
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        let msg = match msg.downcast::<MessageTcp>() {
            Ok(m) => {
                let _ = self.seen.send(Seen::Data(m.id, m.data));
                return Ok(());
            }
            Err(m) => m,
        };
        let msg = match msg.downcast::<MessageTcpConnect>() {
            Ok(c) => {
                let _ = self.seen.send(Seen::Connect(c.id));
                return Ok(());
            }
            Err(m) => m,
        };
        let msg = match msg.downcast::<MessageTcpDisconnect>() {
            Ok(d) => {
                let _ = self.seen.send(Seen::Disconnect(d.id, d.reason));
                return Ok(());
            }
            Err(m) => m,
        };
        // A command from the test: write this through the connection.
        if let Ok((id, data)) = msg.downcast::<(Alias, Vec<u8>)>() {
            let _ = ctx.send(id, MessageTcp { id, data });
        }
        Ok(())
    }
}

#[test]
fn a_client_connection_writes_what_it_is_sent_and_reports_what_arrives() {
    let node = node("tcp_client", 2);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = channel();
    let (stx, seen) = channel();
    let d = node
        .spawn(Dialer { options: Some(TcpConnectionOptions::new(addr)), tx, seen: stx }, SpawnOptions::default())
        .unwrap();
    let id = rx.recv_timeout(PATIENCE).unwrap().expect("connected");
    let (mut peer, _) = listener.accept().unwrap();
    assert!(matches!(next_seen(&seen), Seen::Connect(i) if i == id));
    node.send(d, (id, b"ping".to_vec())).unwrap();
    let mut buf = [0u8; 4];
    peer.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    peer.write_all(b"pong").unwrap();
    assert!(matches!(next_seen(&seen), Seen::Data(i, d) if i == id && d == b"pong"));
    drop(peer);
    assert!(matches!(next_seen(&seen), Seen::Disconnect(i, None) if i == id));

    // Nobody listens: the spawn fails.
    drop(listener);
    let (tx, rx) = channel();
    let (stx, _seen) = channel();
    node.spawn(Dialer { options: Some(TcpConnectionOptions::new(addr)), tx, seen: stx }, SpawnOptions::default())
        .unwrap();
    match rx.recv_timeout(PATIENCE).unwrap() {
        Err(Error::InitFailed(reason)) => assert!(reason.to_string().contains("refused"), "{reason}"),
        other => panic!("{other:?}"),
    }
    node.stop();
}

/// Floods a connection whose peer never reads; reports the first send error.
struct Flooder(Sender<Error>);

impl Actor for Flooder {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(c) = msg.downcast::<MessageTcpConnect>() {
            let chunk = vec![7u8; 64 * 1024];
            loop {
                if let Err(e) = ctx.send(c.id, MessageTcp { id: c.id, data: chunk.clone() }) {
                    let _ = self.0.send(e);
                    return Ok(());
                }
                // Let the connection write between sends.
                ctx.sleep(Duration::from_micros(200)).await;
            }
        }
        Ok(())
    }
}

#[test]
fn a_peer_that_stops_reading_backs_up_into_mailbox_full_and_the_parent_closes_it() {
    let node = node("tcp_slow", 2);
    let (etx, erx) = channel();
    let flooder = node.spawn(Flooder(etx), SpawnOptions::default()).unwrap();
    let options = TcpServerOptions::new("127.0.0.1:0".parse().unwrap()).handlers([flooder]).write_queue(4);
    let (parent, addr) = serve(&node, options);
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    // Never read: the socket buffers fill, the connection's writes wait, its queue fills.
    assert_eq!(erx.recv_timeout(PATIENCE).unwrap(), Error::MailboxFull);
    assert!(node.info().processes_total >= 4, "parent, server, connection, flooder");
    // The parent's end ends the server and the connection, although the connection is stuck
    // in a write the peer never drains (D116); the peer then sees the close.
    node.kill(parent).unwrap();
    assert!(eventually(|| node.info().processes_total == 1), "only the flooder is left");
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut sink = vec![0u8; 1 << 20];
    loop {
        match c.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) => panic!("the connection should close, got {e}"),
        }
    }
    node.stop();
}

#[test]
fn tls_server_and_tls_client_connection() {
    let node = node("tcp_tls", 2);
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = ck.cert.der().clone();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der());
    let server_cfg = std::sync::Arc::new(
        rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(vec![cert.clone()], key.into()).unwrap(),
    );
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_cfg =
        std::sync::Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth());
    let (h, _hseen) = handler(&node, false);
    let options = TcpServerOptions::new("127.0.0.1:0".parse().unwrap()).handlers([h]).tls(server_cfg);
    let (_parent, addr) = serve(&node, options);
    let (tx, rx) = channel();
    let (stx, seen) = channel();
    let opts = TcpConnectionOptions::new(addr).tls(client_cfg, "localhost");
    let d = node.spawn(Dialer { options: Some(opts), tx, seen: stx }, SpawnOptions::default()).unwrap();
    let id = rx.recv_timeout(PATIENCE).unwrap().expect("TLS connected");
    assert!(matches!(next_seen(&seen), Seen::Connect(i) if i == id));
    node.send(d, (id, b"secret".to_vec())).unwrap();
    // The server's handler echoes; bytes may arrive split.
    let mut got = Vec::new();
    while got.len() < 6 {
        match next_seen(&seen) {
            Seen::Data(_, d) => got.extend(d),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, b"secret");
    node.stop();
}

/// Echoes datagrams back to their sender.
struct UdpEcho(Sender<SocketAddr>);

impl Actor for UdpEcho {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let server =
            UdpServer::bind(UdpServerOptions::new("127.0.0.1:0".parse().unwrap())).map_err(ExitReason::error)?;
        let addr = server.local_addr();
        ctx.spawn_meta(server, MetaOptions::default()).await.map_err(ExitReason::error)?;
        let _ = self.0.send(addr);
        Ok(())
    }
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(m) = msg.downcast::<MessageUdp>() {
            let _ = ctx.send(m.id, MessageUdp { id: m.id, addr: m.addr, data: m.data });
        }
        Ok(())
    }
}

#[test]
fn udp_server_meta_echoes_datagrams_to_their_senders() {
    let node = node("udp_meta", 2);
    let (tx, rx) = channel();
    node.spawn(UdpEcho(tx), SpawnOptions::default()).unwrap();
    let addr = rx.recv_timeout(PATIENCE).unwrap();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(PATIENCE)).unwrap();
    for i in 0..20 {
        let d = format!("datagram {i}");
        sock.send_to(d.as_bytes(), addr).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (d.as_bytes(), addr));
    }
    node.stop();
}
