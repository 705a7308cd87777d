//! Where a Web connection's memory goes: opens `--conns` keep-alive connections to a Web meta
//! (after `--requests` requests each, 0 = connected only, as `bench http` measures), then
//! prints the heap bytes and allocations live per connection, by allocation size, and the RSS
//! growth per connection.
//!
//! ```text
//! cargo run --release --example web_memory -- [--conns 1000] [--requests 1] [--trace N]
//! ```
//! `--trace N` prints the stack of the first N allocations above 250 bytes made while the
//! connections open (what to look at when the figures grow). Run with `ulimit -n` above the
//! connection count. Found D167's savings.

use ergors::meta::MetaOptions;
use ergors::meta::web::{WebServer, WebServerOptions};
use ergors::web::{Router, WebRequest, WebResponse};
use ergors::{Context, ExitReason, Node, NodeOptions, Pid, SpawnOptions, WebWorker, WebWorkerBehavior};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

/// Live allocations and bytes per size class (class `i`: sizes up to `2^i`).
struct Counting;

const CLASSES: usize = 40;
static LIVE_BYTES: [AtomicIsize; CLASSES] = [const { AtomicIsize::new(0) }; CLASSES];
static LIVE_COUNT: [AtomicIsize; CLASSES] = [const { AtomicIsize::new(0) }; CLASSES];

fn class(size: usize) -> usize {
    (usize::BITS - size.saturating_sub(1).leading_zeros()) as usize % CLASSES
}

// SAFETY: forwards to the system allocator unchanged; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > 250 && TRACE.load(Ordering::Relaxed) > 0 {
            trace(layout.size());
        }
        LIVE_BYTES[class(layout.size())].fetch_add(layout.size() as isize, Ordering::Relaxed);
        LIVE_COUNT[class(layout.size())].fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the one `System.alloc` needs.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES[class(layout.size())].fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_COUNT[class(layout.size())].fetch_sub(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// How many more allocations to print the stack of (`--trace`).
static TRACE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    /// Inside `trace` (printing allocates: not traced).
    static IN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn trace(size: usize) {
    if IN.with(|i| i.replace(true)) {
        return;
    }
    if TRACE.fetch_sub(1, Ordering::Relaxed) > 0 {
        eprintln!("=== {size}\n{}", std::backtrace::Backtrace::force_capture());
    }
    IN.with(|i| i.set(false));
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn snapshot() -> Vec<(isize, isize)> {
    (0..CLASSES).map(|i| (LIVE_BYTES[i].load(Ordering::Relaxed), LIVE_COUNT[i].load(Ordering::Relaxed))).collect()
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse().ok()).unwrap_or(default)
}

struct Hello;

impl WebWorkerBehavior for Hello {
    async fn handle_get(
        &mut self,
        _ctx: &mut Context,
        _from: Pid,
        _req: WebRequest,
    ) -> Result<WebResponse, ExitReason> {
        Ok(WebResponse::text(200, "hello"))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let conns = arg(&args, "--conns", 1000);
    let requests = arg(&args, "--requests", 1);
    let node = Node::start("webmem@localhost", NodeOptions::from_env()?)?;
    let worker = node.spawn(WebWorker::new(Hello), SpawnOptions::default())?;
    let mut router = Router::new();
    router.handle("/", worker)?;
    let server = WebServer::new(WebServerOptions::new("127.0.0.1:0".parse()?, router))?;
    let addr = server.local_addr();
    node.spawn_meta(server, MetaOptions::default())?;
    // A first connection warms up what every connection shares (rings, buffers, pools).
    let mut warm = std::net::TcpStream::connect(addr)?;
    exchange(&mut warm)?;
    std::thread::sleep(Duration::from_millis(300));

    let (heap0, rss0) = (snapshot(), rss_bytes());
    let mut clients = Vec::with_capacity(conns);
    TRACE.store(arg(&args, "--trace", 0) as isize, Ordering::Relaxed);
    for _ in 0..conns {
        let mut c = std::net::TcpStream::connect(addr)?;
        for _ in 0..requests {
            exchange(&mut c)?;
        }
        clients.push(c);
    }
    std::thread::sleep(Duration::from_millis(500));
    let (heap1, rss1) = (snapshot(), rss_bytes());

    let n = conns as f64;
    let (mut bytes, mut count) = (0isize, 0isize);
    println!("size class       bytes/conn  allocs/conn");
    for i in 0..CLASSES {
        let (b, c) = (heap1[i].0 - heap0[i].0, heap1[i].1 - heap0[i].1);
        bytes += b;
        count += c;
        if b.unsigned_abs() as f64 / n >= 1.0 {
            println!("<= {:>10} {:>12.0} {:>12.2}", 1usize << i, b as f64 / n, c as f64 / n);
        }
    }
    println!("heap: {:.0} B/conn in {:.1} allocations", bytes as f64 / n, count as f64 / n);
    println!("rss: {:.0} B/conn", rss1.saturating_sub(rss0) as f64 / n);
    drop(clients);
    node.stop();
    Ok(())
}

/// One `GET /` and its whole response (read by `Content-Length`).
fn exchange(c: &mut std::net::TcpStream) -> std::io::Result<()> {
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = c.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::other("closed"));
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return Ok(());
            }
        }
    }
}
