//! The load generator of the `tcpecho` and `http` benchmarks, the same program against either
//! server (ergors' metas, or Go Ergo's): `conns` connections, each sending one request and
//! waiting for its answer before the next. `--proto tcp`: a small framed message (a 4-byte
//! big-endian length, then `--size` bytes) and its echo; `--proto http`: `GET / HTTP/1.1` on a
//! keep-alive connection and the whole response (its `Content-Length` body). It measures round
//! trips per second and their 99th percentile.
//!
//! Built like `wrk`: each of `--threads` threads (default 1) drives its share of the
//! connections from one epoll loop with non-blocking sockets — a read and a write per round trip,
//! nothing else — so that the client takes as little of the machine as it can and the figures
//! measure the server (docs/decisions.md D201). A client written on ergors itself took about half
//! of a 2-core machine's CPU and compressed every server's result towards its own cost.
//!
//! Protocol with the server program that runs it: once every connection is up it prints
//! `CONNECTED <n>` and waits for a line on stdin (the server measures its memory meanwhile), then
//! runs for `--seconds` and prints `RESULT name=<name> value=<per second> unit=<msg/s or req/s>`
//! and `RESULT name=<name> value=<µs> unit=p99_us`.
//!
//! Usage: `loadgen --addr 127.0.0.1:7000 [--proto tcp|http] [--conns 100] [--seconds 5]
//! [--size 64] [--threads 1] [--name tcpecho100]`

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
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

/// One connection's state: the bytes of the answer so far and when its request left.
struct Conn {
    stream: TcpStream,
    got: Vec<u8>,
    sent_at: Instant,
}

/// A minimal epoll set (the only `unsafe` of this program: three libc calls).
struct Epoll(i32);

impl Epoll {
    fn new() -> std::io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; a negative return is an error, checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 { Err(std::io::Error::last_os_error()) } else { Ok(Epoll(fd)) }
    }

    fn add(&self, fd: i32, token: u64) -> std::io::Result<()> {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: token };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call; both fds are open.
        if unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> std::io::Result<usize> {
        // SAFETY: `events` is a writable array of `events.len()` epoll_event, as the kernel
        // requires; the return value says how many it filled.
        let n = unsafe { libc::epoll_wait(self.0, events.as_mut_ptr(), events.len() as i32, timeout_ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return if e.kind() == ErrorKind::Interrupted { Ok(0) } else { Err(e) };
        }
        Ok(n as usize)
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: the fd is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

/// Drives `conns` until `stop`: returns the round trips done and their histogram.
fn drive(
    mut conns: Vec<Conn>,
    proto: Proto,
    msg: &[u8],
    start: Instant,
    stop: Instant,
) -> std::io::Result<(u64, Vec<u64>)> {
    let want = msg.len();
    let epoll = Epoll::new()?;
    for (i, c) in conns.iter_mut().enumerate() {
        epoll.add(c.stream.as_raw_fd(), i as u64)?;
    }
    let mut hist = vec![0u64; BUCKETS];
    let mut done = 0u64;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; conns.len().max(1)];
    let mut buf = vec![0u8; 64 * 1024];
    let now = Instant::now();
    if now < start {
        std::thread::sleep(start - now);
    }
    for c in conns.iter_mut() {
        c.sent_at = Instant::now();
        c.stream.write_all(msg)?;
    }
    while Instant::now() < stop {
        let n = epoll.wait(&mut events, 100)?;
        for ev in &events[..n] {
            let c = &mut conns[ev.u64 as usize];
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => return Err(std::io::Error::other("server closed the connection")),
                    Ok(k) => c.got.extend_from_slice(&buf[..k]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            if let Some(len) = answer_len(proto, want, &c.got) {
                c.got.drain(..len);
                let us = c.sent_at.elapsed().as_micros() as usize;
                hist[us.min(BUCKETS - 1)] += 1;
                done += 1;
                c.sent_at = Instant::now();
                // Small requests into an idle socket's send buffer: never a short write in
                // practice; `write_all` keeps it correct if one happens.
                write_blocking(&mut c.stream, msg)?;
            }
        }
    }
    Ok((done, hist))
}

/// Writes all of `msg` to a non-blocking socket, waiting out a full send buffer.
fn write_blocking(stream: &mut TcpStream, mut msg: &[u8]) -> std::io::Result<()> {
    while !msg.is_empty() {
        match stream.write(msg) {
            Ok(k) => msg = &msg[k..],
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::yield_now()
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn fail(msg: String) -> ! {
    eprintln!("loadgen: {msg}");
    std::process::exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(addr) = args.iter().position(|a| a == "--addr").and_then(|i| args.get(i + 1)) else {
        eprintln!(
            "usage: loadgen --addr HOST:PORT [--proto tcp|http] [--conns N] [--seconds S] [--size BYTES] \
             [--threads T] [--name NAME]"
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
    let threads: usize = arg(&args, "--threads", 1usize).clamp(1, conns.max(1));
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
    let msg = match proto {
        Proto::Tcp => {
            let mut m = (size as u32).to_be_bytes().to_vec();
            m.extend(std::iter::repeat_n(b'x', size));
            m
        }
        Proto::Http => format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes(),
    };

    let mut groups: Vec<Vec<Conn>> = (0..threads).map(|_| Vec::new()).collect();
    for i in 0..conns {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .unwrap_or_else(|e| fail(format!("connection {i} of {conns} failed: {e}")));
        stream.set_nodelay(true).and_then(|()| stream.set_nonblocking(true)).unwrap_or_else(|e| fail(e.to_string()));
        groups[i % threads].push(Conn { stream, got: Vec::with_capacity(2 * msg.len()), sent_at: Instant::now() });
    }
    println!("CONNECTED {conns}");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);

    let start = Instant::now() + Duration::from_millis(10);
    let stop = start + Duration::from_secs_f64(seconds);
    let handles: Vec<_> = groups
        .into_iter()
        .map(|group| {
            let msg = msg.clone();
            std::thread::spawn(move || drive(group, proto, &msg, start, stop))
        })
        .collect();
    let (mut total, mut hist) = (0u64, vec![0u64; BUCKETS]);
    for h in handles {
        match h.join() {
            Ok(Ok((n, h))) => {
                total += n;
                for (a, b) in hist.iter_mut().zip(h) {
                    *a += b;
                }
            }
            Ok(Err(e)) => fail(format!("a connection failed: {e}")),
            Err(_) => fail("a client thread panicked".into()),
        }
    }
    let target = (total as f64 * 0.99).ceil() as u64;
    let mut seen = 0u64;
    let p99 = hist.iter().position(|&c| {
        seen += c;
        seen >= target
    });
    // Each thread counts the round trips completed between `start` and `stop`.
    println!("RESULT name={name} value={:.0} unit={unit}", total as f64 / seconds);
    println!("RESULT name={name} value={} unit=p99_us", p99.unwrap_or(BUCKETS - 1));
}
