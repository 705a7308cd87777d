//! The load generator of the `tcpecho` and `http` benchmarks, the same program against either
//! server (ergors' metas, or Go Ergo's): `conns` connections, each a process on an ergors node of
//! its own, sending one request and waiting for its answer before the next. `--proto tcp`: a small
//! framed message (a 4-byte big-endian length, then `--size` bytes) and its echo; `--proto http`:
//! `GET / HTTP/1.1` on a keep-alive connection and the whole response (its `Content-Length`
//! body). It measures round trips per second and their 99th percentile.
//!
//! Protocol with the server program that runs it: once every connection is up it prints
//! `CONNECTED <n>` and waits for a line on stdin (the server measures its memory meanwhile), then
//! runs for `--seconds` and prints `RESULT name=<name> value=<per second> unit=<msg/s or req/s>`
//! and `RESULT name=<name> value=<µs> unit=p99_us`.
//!
//! Usage: `loadgen --addr 127.0.0.1:7000 [--proto tcp|http] [--conns 100] [--seconds 5]
//! [--size 64] [--name tcpecho100]`

use ergors::io::net::TcpStream;
use ergors::{Actor, Context, ExitReason, Message, Node, NodeOptions, Pid, SpawnOptions};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A histogram of round trips in 1 µs buckets up to 100 ms (one overflow bucket beyond).
const BUCKETS: usize = 100_001;

#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Tcp,
    Http,
}

/// How many bytes of `got` make one whole answer, once they have all arrived.
fn answer_len(proto: Proto, want: usize, got: &[u8]) -> Option<usize> {
    match proto {
        Proto::Tcp => (got.len() >= want).then_some(want),
        Proto::Http => {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            let httparse::Status::Complete(head) = resp.parse(got).ok()? else { return None };
            let body = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse::<usize>().ok())
                .unwrap_or(0);
            (got.len() >= head + body).then_some(head + body)
        }
    }
}

struct Conn {
    addr: SocketAddr,
    proto: Proto,
    size: usize,
    connected: Arc<AtomicUsize>,
    go: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    report: Sender<Result<(u64, Vec<u32>), String>>,
}

impl Conn {
    async fn run(&self, ctx: &Context) -> std::io::Result<(u64, Vec<u32>)> {
        let mut stream = TcpStream::connect(self.addr).await?;
        stream.socket().set_tcp_nodelay(true)?;
        self.connected.fetch_add(1, Ordering::SeqCst);
        while !self.go.load(Ordering::Acquire) {
            ctx.sleep(Duration::from_millis(1)).await;
        }
        let msg = match self.proto {
            Proto::Tcp => {
                let mut m = (self.size as u32).to_be_bytes().to_vec();
                m.extend(std::iter::repeat_n(b'x', self.size));
                m
            }
            Proto::Http => format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr).into_bytes(),
        };
        let want = msg.len();
        let mut hist = vec![0u32; BUCKETS];
        let mut got = Vec::with_capacity(want * 2);
        let mut n = 0u64;
        let mut out = msg.clone();
        while !self.stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            out = stream.write_all(out).await?;
            got.clear();
            while answer_len(self.proto, want, &got).is_none() {
                if stream.read(&mut got).await? == 0 {
                    return Err(std::io::Error::other("server closed the connection"));
                }
            }
            let us = t.elapsed().as_micros() as usize;
            hist[us.min(BUCKETS - 1)] += 1;
            n += 1;
        }
        Ok((n, hist))
    }
}

impl Actor for Conn {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let outcome = self.run(ctx).await.map_err(|e| e.to_string());
        let _ = self.report.send(outcome);
        Err(ExitReason::Normal)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(addr) = args.iter().position(|a| a == "--addr").and_then(|i| args.get(i + 1)) else {
        eprintln!(
            "usage: loadgen --addr HOST:PORT [--proto tcp|http] [--conns N] [--seconds S] [--size BYTES] [--name NAME]"
        );
        std::process::exit(2);
    };
    let addr: SocketAddr = addr.parse().unwrap_or_else(|e| {
        eprintln!("loadgen: bad --addr: {e}");
        std::process::exit(2)
    });
    let conns: usize = arg(&args, "--conns", 100);
    let seconds: f64 = arg(&args, "--seconds", 5.0);
    let size: usize = arg(&args, "--size", 64);
    let proto = match arg(&args, "--proto", String::from("tcp")).as_str() {
        "tcp" => Proto::Tcp,
        "http" => Proto::Http,
        other => {
            eprintln!("loadgen: --proto is tcp or http, not {other:?}");
            std::process::exit(2);
        }
    };
    let name: String = arg(&args, "--name", format!("{}{conns}", if proto == Proto::Tcp { "tcpecho" } else { "http" }));
    let unit = if proto == Proto::Tcp { "msg/s" } else { "req/s" };
    // Fixed options, not the environment's: the client must be the same whatever the server is
    // tuned with. It does not spin when idle, leaving the cores to the server between replies.
    let options = NodeOptions::default().workers(2).pin_workers(false).spin(Duration::ZERO);
    let node = Node::start("loadgen@localhost", options).expect("node starts");
    let (connected, go, stop) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (tx, rx) = channel();
    for _ in 0..conns {
        let c = Conn {
            addr,
            proto,
            size,
            connected: connected.clone(),
            go: go.clone(),
            stop: stop.clone(),
            report: tx.clone(),
        };
        let pid = node.spawn(c, SpawnOptions::default()).expect("spawn");
        node.send(pid, ()).expect("send");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while connected.load(Ordering::SeqCst) < conns {
        if Instant::now() > deadline {
            eprintln!("loadgen: only {} of {conns} connections came up", connected.load(Ordering::SeqCst));
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("CONNECTED {conns}");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    let start = Instant::now();
    go.store(true, Ordering::Release);
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let (mut total, mut hist) = (0u64, vec![0u64; BUCKETS]);
    for _ in 0..conns {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok((n, h))) => {
                total += n;
                for (a, b) in hist.iter_mut().zip(h) {
                    *a += b as u64;
                }
            }
            Ok(Err(e)) => {
                eprintln!("loadgen: a connection failed: {e}");
                std::process::exit(1);
            }
            Err(_) => {
                eprintln!("loadgen: a connection did not report");
                std::process::exit(1);
            }
        }
    }
    let target = (total as f64 * 0.99).ceil() as u64;
    let mut seen = 0u64;
    let p99 = hist.iter().position(|&c| {
        seen += c;
        seen >= target
    });
    println!("RESULT name={name} value={:.0} unit={unit}", total as f64 / elapsed);
    println!("RESULT name={name} value={} unit=p99_us", p99.unwrap_or(BUCKETS - 1));
    node.stop();
}
