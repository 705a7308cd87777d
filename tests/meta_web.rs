//! The Web meta against real clients (std sockets speaking HTTP/1.1, rustls for HTTPS, curl when
//! installed): routing to web workers and pools, 404/500/504, concurrency, keep-alive,
//! pipelining, and hostile clients that cost their own connection only (Ergo's suite has no web
//! tests beyond its examples; these follow the list).

mod support;

use ergors::meta::MetaOptions;
use ergors::meta::web::{WebServer, WebServerOptions};
use ergors::pool::PoolSpec;
use ergors::web::{Router, WebLimits, WebRequest, WebResponse};
use ergors::{Alias, Context, ExitReason, Node, Pid, Pool, SpawnOptions, WebWorker, WebWorkerBehavior};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::web::{Client, exchange};
use support::*;

const BIG: usize = 256 * 1024;

/// The test site: a few paths with known behaviour.
struct Site;

impl WebWorkerBehavior for Site {
    async fn handle_get(&mut self, ctx: &mut Context, _from: Pid, req: WebRequest) -> Result<WebResponse, ExitReason> {
        match req.path.as_str() {
            "/panic" => panic!("a bug in the handler"),
            "/slow" => {
                ctx.sleep(Duration::from_secs(10)).await;
                Ok(WebResponse::text(200, "late"))
            }
            "/big" => Ok(WebResponse::new(200).body(vec![b'x'; BIG])),
            "/huge" => Ok(WebResponse::new(200).body(vec![b'x'; 8 * 1024 * 1024])),
            "/who" => Ok(WebResponse::text(200, &ctx.pid().to_string())),
            path => Ok(WebResponse::text(200, &format!("hello {path}"))),
        }
    }

    async fn handle_head(&mut self, ctx: &mut Context, from: Pid, req: WebRequest) -> Result<WebResponse, ExitReason> {
        self.handle_get(ctx, from, req).await
    }

    async fn handle_post(
        &mut self,
        _ctx: &mut Context,
        _from: Pid,
        req: WebRequest,
    ) -> Result<WebResponse, ExitReason> {
        Ok(WebResponse::new(200).header("Content-Type", "application/octet-stream").body(req.body))
    }
}

/// A node, a `Site` worker behind `/` (others behind `/panic`, which dies, and `/slow`), a server
/// on a free port made with `opts`; the server's alias and address.
fn serve(opts: impl FnOnce(WebServerOptions) -> WebServerOptions) -> (Node, Alias, SocketAddr) {
    let node = node("web", 2);
    let site = node.spawn(WebWorker::new(Site), SpawnOptions::default()).expect("site");
    let doomed = node.spawn(WebWorker::new(Site), SpawnOptions::default()).expect("doomed");
    let sleepy = node.spawn(WebWorker::new(Site), SpawnOptions::default()).expect("sleepy");
    let mut router = Router::new();
    router.handle("/", site).unwrap().handle("/panic", doomed).unwrap().handle("/slow", sleepy).unwrap();
    router.handle("/nowhere/", "nobody").unwrap();
    let server = WebServer::new(opts(WebServerOptions::new("127.0.0.1:0".parse().unwrap(), router))).expect("bind");
    let addr = server.local_addr();
    let alias = node.spawn_meta(server, MetaOptions::default()).expect("server");
    (node, alias, addr)
}

/// Waits until the server reports `n` open connections (a connection meta ends when its client
/// is dealt with).
fn wait_connections(node: &Node, server: Alias, n: usize) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let info = node.inspect_meta(server, &[]).expect("inspect");
        let open = info.iter().find(|(k, _)| k == "connections").map(|(_, v)| v.clone());
        if open.as_deref() == Some(n.to_string().as_str()) {
            return;
        }
        assert!(Instant::now() < deadline, "still {open:?} connections, waited for {n}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn get_post_404_and_keep_alive() {
    let (node, server, addr) = serve(|o| o);
    let mut c = Client::connect(addr);
    let r = c.get("/hello?x=1");
    assert_eq!((r.status, r.text().as_str()), (200, "hello /hello\n"));
    assert!(r.header("date").is_some(), "the server dates its responses");
    let r = c.post("/echo", b"some bytes");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"some bytes"[..]));
    // Nothing routed (the router refuses `..` too): 404, and the connection stays.
    assert_eq!(c.get("/a/../panic").status, 404);
    assert_eq!(c.get("/hello").status, 200);
    // HEAD: the length, no body.
    c.send(b"HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = c.reply_bodiless().expect("a response");
    assert_eq!((head.status, head.header("content-length")), (200, Some("9")));
    assert_eq!(c.get("/again").text(), "hello /again\n", "the connection stays open");
    drop(c);

    // HTTP/1.0 and `Connection: close`: one response, then the server closes.
    for req in ["GET /a HTTP/1.0\r\n\r\n", "GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"] {
        let mut c = Client::connect(addr);
        c.send(req.as_bytes());
        assert_eq!(c.reply().expect("a response").status, 200);
        assert!(c.closed(), "{req:?}: closed after the response");
    }
    wait_connections(&node, server, 0);
}

#[test]
fn a_handler_that_panics_is_a_500_and_the_connection_lives_on() {
    let (_node, _server, addr) = serve(|o| o);
    let mut c = Client::connect(addr);
    let r = c.get("/panic");
    assert_eq!(r.status, 500);
    // The handler is gone now: its route answers 502 (no one to ask; 500 while its end is still
    // being recorded), the rest still works.
    let again = c.get("/panic").status;
    assert!(again == 502 || again == 500, "{again}");
    assert_eq!(c.get("/nowhere/x").status, 502);
    assert_eq!(c.get("/fine").status, 200);
}

#[test]
fn a_late_handler_is_a_504() {
    let (_node, _server, addr) = serve(|o| o.request_timeout(Duration::from_millis(200)));
    let mut c = Client::connect(addr);
    assert_eq!(c.get("/slow").status, 504);
    // Its late reply is dropped, and the next request on the connection gets its own answer.
    let r = c.get("/after");
    assert_eq!((r.status, r.text().as_str()), (200, "hello /after\n"));
}

#[test]
fn a_pool_of_web_workers_behind_one_route_and_many_clients_at_once() {
    let node = node("webpool", 2);
    let pool = node.spawn_wait(Pool::new(PoolSpec::new(|| WebWorker::new(Site)).size(4)), SpawnOptions::default());
    let mut router = Router::new();
    router.handle("/", pool.expect("pool")).unwrap();
    let server = WebServer::new(WebServerOptions::new("127.0.0.1:0".parse().unwrap(), router)).expect("bind");
    let addr = server.local_addr();
    node.spawn_meta(server, MetaOptions::default()).expect("server");

    let clients: Vec<_> = (0..64)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut workers = Vec::new();
                for j in 0..3 {
                    let r = c.post(&format!("/p/{i}"), format!("{i}-{j}").as_bytes());
                    assert_eq!((r.status, r.text()), (200, format!("{i}-{j}")));
                    workers.push(c.get("/who").text());
                }
                workers
            })
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for c in clients {
        seen.extend(c.join().expect("a client"));
    }
    assert!(seen.len() > 1, "the pool spread the requests: {seen:?}");
}

#[test]
fn pipelined_requests_are_answered_in_order_also_beyond_the_queue() {
    let (_node, _server, addr) = serve(|o| o.queue(2));
    let mut c = Client::connect(addr);
    let mut all = Vec::new();
    for i in 0..20 {
        all.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    all.extend_from_slice(b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nend");
    c.send(&all);
    for i in 0..20 {
        let r = c.reply().expect("a response");
        assert_eq!((r.status, r.text()), (200, format!("hello /{i}\n")));
    }
    assert_eq!(c.reply().expect("the POST's").body, b"end");
}

#[test]
fn expect_continue_and_a_client_that_half_closes() {
    let (node, server, addr) = serve(|o| o);
    let mut c = Client::connect(addr);
    c.send(b"POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    assert_eq!(c.reply().expect("an interim response").status, 100);
    c.send(b"body");
    assert_eq!(c.reply().expect("the response").body, b"body");
    drop(c);

    // A request, then the client's end of the stream: it is answered, then the server closes.
    let mut c = Client::connect(addr);
    c.send(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\nGET /y HTTP/1.1\r\nHost: t\r\n\r\n");
    c.stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(c.reply().expect("the first").text(), "hello /x\n");
    assert_eq!(c.reply().expect("the second").text(), "hello /y\n");
    assert!(c.closed());
    wait_connections(&node, server, 0);
}

#[test]
fn garbage_is_a_400_and_costs_its_connection_only() {
    let (node, server, addr) = serve(|o| o);
    let mut other = Client::connect(addr);
    assert_eq!(other.get("/before").status, 200);

    let mut c = Client::connect(addr);
    c.send(b"\x16\x03\x01\x02\x00 this is not HTTP\r\n\r\nmore garbage after it");
    let r = c.reply().expect("an error response");
    assert_eq!((r.status, r.header("connection")), (400, Some("close")));
    assert!(c.closed(), "closed after a 400");

    // A good request, then a bad one, pipelined: the first is answered, then the connection ends.
    let mut c = Client::connect(addr);
    c.send(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\nGET /x HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n");
    assert_eq!(c.reply().expect("the first").status, 200);
    assert!(c.reply().is_none_or(|r| r.status == 400));
    assert!(c.closed());

    assert_eq!(other.get("/after").status, 200, "another connection is untouched");
    drop(other);
    wait_connections(&node, server, 0);
}

#[test]
fn an_over_long_head_is_a_431_and_an_over_long_body_a_413() {
    let (_node, _server, addr) = serve(|o| o.limits(WebLimits::default().max_head(1024).max_body(100)));
    let long = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Long: {}\r\n\r\n", "a".repeat(4096));
    let r = exchange(addr, long.as_bytes());
    assert_eq!(r.status, 431);
    // A head that never ends, sent in pieces: refused once it passes the limit.
    let mut c = Client::connect(addr);
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n");
    for _ in 0..40 {
        if c.stream.write_all(&[b'X'; 64]).is_err() {
            break;
        }
    }
    assert_eq!(c.reply().expect("a response").status, 431);
    let r = exchange(addr, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n");
    assert_eq!(r.status, 413);
    assert_eq!(Client::connect(addr).get("/fine").status, 200);
}

#[test]
fn clients_that_disconnect_mid_request_leave_the_server_unharmed() {
    let (node, server, addr) = serve(|o| o);
    for partial in [
        &b"GET /half-a-he"[..],
        b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly ten..",
        b"POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ] {
        let mut c = Client::connect(addr);
        c.send(partial);
        drop(c);
    }
    // Gone while its handler works: the late answer has nowhere to go.
    let mut c = Client::connect(addr);
    c.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    drop(c);
    wait_connections(&node, server, 0);
    assert_eq!(Client::connect(addr).get("/next").status, 200);
}

#[test]
fn a_slow_client_byte_by_byte() {
    let (_node, _server, addr) = serve(|o| o);
    let mut c = Client::connect(addr);
    c.stream.set_nodelay(true).unwrap();
    for b in b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nslow!" {
        c.send(&[*b]);
    }
    assert_eq!(c.reply().expect("a response").body, b"slow!");
    // And reading a large response a byte at a time.
    c.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") || got.len() < BIG {
        assert_eq!(c.stream.read(&mut byte).expect("a byte"), 1);
        got.push(byte[0]);
        if got.ends_with(b"\r\n\r\n") && !got.starts_with(b"HTTP/1.1 200") {
            panic!("unexpected head: {}", String::from_utf8_lossy(&got));
        }
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n")
            && got.len() - at - 4 == BIG
        {
            break;
        }
    }
    assert_eq!(c.get("/then").status, 200);
}

#[test]
fn a_client_that_stops_reading_is_closed_after_the_write_timeout() {
    let (node, server, addr) = serve(|o| o.write_timeout(Duration::from_millis(300)));
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut stuck: std::net::TcpStream = sock.into();
    stuck.write_all(b"GET /huge HTTP/1.1\r\nHost: t\r\n\r\nGET /huge HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    // Meanwhile others are served.
    assert_eq!(Client::connect(addr).get("/other").status, 200);
    // The stuck connection is closed: its meta ends, and reading shows the end before 16 MiB.
    wait_connections(&node, server, 0);
    stuck.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stuck.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    assert!(total < 16 * 1024 * 1024, "the connection ended before both responses were read ({total} bytes)");
}

#[test]
fn idle_connections_are_closed() {
    let (node, server, addr) = serve(|o| o.idle_timeout(Duration::from_millis(200)));
    let mut c = Client::connect(addr);
    assert_eq!(c.get("/a").status, 200);
    assert!(c.closed(), "closed once idle");
    // A request begun and never finished (slowloris) ends the same way.
    let mut c = Client::connect(addr);
    c.send(b"GET /a HTTP/1.1\r\nHo");
    assert!(c.closed());
    wait_connections(&node, server, 0);
}

fn tls_configs() -> (Arc<ergors::io::tls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("self-signed cert");
    let cert = ck.cert.der().clone();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der());
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())
        .expect("server config");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let client = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

#[test]
fn https_with_a_self_signed_certificate() {
    let (server_config, client_config) = tls_configs();
    let (_node, _server, addr) = serve(|o| o.tls(server_config));
    let conn = rustls::ClientConnection::new(client_config, "localhost".try_into().unwrap()).unwrap();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /secure HTTP/1.1\r\nHost: t\r\n\r\nPOST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        .unwrap();
    let mut all = Vec::new();
    // The server ends the stream with close_notify after the second response.
    let _ = tls.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("hello /secure\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nok"), "{text}");
    // A client that speaks plain HTTP to it costs its own connection only.
    let mut plain = Client::connect(addr);
    plain.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(plain.closed());
}

/// curl, a client we did not write, when it is installed (skipped, saying so, when not).
#[test]
fn curl_gets_and_posts() {
    let (_node, _server, addr) = serve(|o| o);
    let run = |args: &[&str]| std::process::Command::new("curl").args(["-s", "--max-time", "20"]).args(args).output();
    let out = match run(&[&format!("http://{addr}/c1"), &format!("http://{addr}/c2")]) {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("curl is not installed: skipped");
            return;
        }
        Err(e) => panic!("curl: {e}"),
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello /c1\nhello /c2\n");
    let out = run(&["--data-binary", "posted", &format!("http://{addr}/e")]).unwrap();
    assert_eq!(out.stdout, b"posted");
    let out = run(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://{addr}/nowhere/x")]).unwrap();
    assert_eq!(out.stdout, b"502");
}
