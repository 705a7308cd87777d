//! Benchmarks that mirror github.com/ergo-services/benchmarks, run side by side with our Go
//! program in `benches/go` by `scripts/bench-vs-go.sh`. Each prints one machine-readable line:
//! `RESULT name=<bench> value=<number> unit=<unit>`.
//!
//! ```text
//! cargo run --release --example bench -- ping11 [--n 3000000]
//! cargo run --release --example bench -- pingNN [--n 1000000] [--pairs <nproc>]
//! cargo run --release --example bench -- call   [--n 1000000] [--pairs 1]
//! cargo run --release --example bench -- callNN [--n 1000000] [--pairs <nproc>]
//! cargo run --release --example bench -- memusage [--n 1000000]
//! cargo run --release --example bench -- pubsub [--subs 100000] [--events 1]
//! cargo run --release --example bench            # all of them, default sizes
//! ```
//! Node options come from `ERGORS_*` variables (README), e.g. `ERGORS_WORKERS=2`.

use ergors::{Actor, Context, ExitReason, From, Message, Node, NodeOptions, Pid, SpawnOptions};
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.windows(2)
        .find(|w| w[0] == name)
        .map(|w| w[1].parse().unwrap_or_else(|_| fail(&format!("{name} takes a number, got {:?}", w[1]))))
        .unwrap_or(default)
}

fn fail(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(2)
}

fn result(name: &str, value: f64, unit: &str) {
    println!("RESULT name={name} value={value:.0} unit={unit}");
}

fn start_node(name: &str) -> Node {
    let opts = NodeOptions::from_env().unwrap_or_else(|e| fail(&e.to_string()));
    Node::start(&format!("{name}@localhost"), opts).unwrap_or_else(|e| fail(&e.to_string()))
}

/// Counts messages; tells the driver when `expect` have arrived.
struct Pong {
    got: usize,
    expect: usize,
    done: Sender<()>,
}

impl Actor for Pong {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        self.got += 1;
        if self.got == self.expect {
            let _ = self.done.send(());
        }
        Ok(())
    }
}

/// Spawns its pong as a child (so on its own worker, the ergors default), reports ready, then on
/// `Go` sends `n` messages to it.
struct Ping {
    n: usize,
    pong: Option<Pid>,
    done: Sender<()>,
    ready: Sender<Pid>,
}

struct Go;

impl Actor for Ping {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let pong = Pong { got: 0, expect: self.n, done: self.done.clone() };
        self.pong = Some(ctx.spawn(pong, SpawnOptions::default()).map_err(ExitReason::error)?);
        let _ = self.ready.send(ctx.pid());
        Ok(())
    }
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Go>() {
            let pong = self.pong.ok_or_else(|| ExitReason::error("no pong"))?;
            for _ in 0..self.n {
                ctx.send(pong, 1i64).map_err(ExitReason::error)?;
            }
        }
        Ok(())
    }
}

fn ping(name: &str, pairs: usize, n: usize) {
    let node = start_node(name);
    let (done_tx, done_rx) = channel();
    let (ready_tx, ready_rx) = channel();
    for _ in 0..pairs {
        let p = Ping { n, pong: None, done: done_tx.clone(), ready: ready_tx.clone() };
        node.spawn(p, SpawnOptions::default()).unwrap_or_else(|e| fail(&e.to_string()));
    }
    let pings: Vec<Pid> = (0..pairs).map(|_| ready_rx.recv().unwrap_or_else(|_| fail("ping died"))).collect();
    let start = Instant::now();
    for p in &pings {
        node.send(*p, Go).unwrap_or_else(|e| fail(&e.to_string()));
    }
    for _ in 0..pairs {
        done_rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| fail("timed out"));
    }
    let secs = start.elapsed().as_secs_f64();
    result(name, (pairs * n) as f64 / secs, "msg/s");
    node.stop();
}

/// Replies to every call at once.
struct Server;

impl Actor for Server {
    async fn handle_call(
        &mut self,
        _ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        Ok(Some(req))
    }
}

/// Makes `n` sequential calls to its server on `Go`.
struct Caller {
    n: usize,
    server: Pid,
    done: Sender<()>,
}

impl Actor for Caller {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Go>() {
            for i in 0..self.n {
                ctx.call(self.server, i as i64).await.map_err(ExitReason::error)?;
            }
            let _ = self.done.send(());
        }
        Ok(())
    }
}

/// `callers` caller/server pairs (each caller makes `n` sequential calls); each server on the caller's worker (the ergors default for a
/// chatty pair) unless `ERGORS_BENCH_CALL_SPREAD=1` puts it on the next worker.
fn call(name: &str, n: usize, callers: usize) {
    let node = start_node(name);
    let spread = std::env::var("ERGORS_BENCH_CALL_SPREAD").is_ok_and(|v| v == "1");
    let workers = node.options().get_workers();
    let (done_tx, done_rx) = channel();
    let mut pids = Vec::new();
    for i in 0..callers {
        let w = i % workers;
        let server_worker = if spread { (w + 1) % workers } else { w };
        let server =
            node.spawn(Server, SpawnOptions::default().worker(server_worker)).unwrap_or_else(|e| fail(&e.to_string()));
        let c = Caller { n, server, done: done_tx.clone() };
        pids.push(node.spawn(c, SpawnOptions::default().worker(w)).unwrap_or_else(|e| fail(&e.to_string())));
    }
    let start = Instant::now();
    for p in &pids {
        node.send(*p, Go).unwrap_or_else(|e| fail(&e.to_string()));
    }
    for _ in 0..callers {
        done_rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| fail("timed out"));
    }
    let secs = start.elapsed().as_secs_f64();
    result(name, (n * callers) as f64 / secs, "calls/s");
    node.stop();
}

struct Idle;
impl Actor for Idle {}

/// Ticks `left` down; the tick that reaches zero reports on `done`.
struct Countdown {
    left: std::sync::atomic::AtomicUsize,
    done: std::sync::Mutex<Sender<()>>,
}

impl Countdown {
    fn new(n: usize) -> (std::sync::Arc<Countdown>, std::sync::mpsc::Receiver<()>) {
        let (tx, rx) = channel();
        (std::sync::Arc::new(Countdown { left: n.into(), done: std::sync::Mutex::new(tx) }), rx)
    }
    fn tick(&self) {
        if self.left.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            let _ = self.done.lock().map(|tx| tx.send(()));
        }
    }
}

/// Registers the event, then publishes `events` messages on `Go`.
struct Producer {
    events: usize,
    token: Option<ergors::Ref>,
    ready: Sender<()>,
}

impl Actor for Producer {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        self.token = Some(ctx.register_event("bench", ergors::EventOptions::default()).map_err(ExitReason::error)?);
        let _ = self.ready.send(());
        Ok(())
    }
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Go>() {
            let token = self.token.ok_or_else(|| ExitReason::error("no event"))?;
            for i in 0..self.events {
                ctx.send_event("bench", token, i as u64).map_err(ExitReason::error)?;
            }
        }
        Ok(())
    }
}

/// Monitors the event (subscribing from its first message, as the Go side must); counts
/// deliveries.
struct Subscriber {
    event: ergors::Event,
    subscribed: std::sync::Arc<Countdown>,
    received: std::sync::Arc<Countdown>,
}

struct SubscribeNow;

impl Actor for Subscriber {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let me = ctx.pid();
        ctx.send(me, SubscribeNow).map_err(ExitReason::error)
    }
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<SubscribeNow>() {
            ctx.monitor_event(&self.event).map_err(ExitReason::error)?;
            self.subscribed.tick();
        }
        Ok(())
    }
    async fn handle_event(&mut self, _ctx: &mut Context, _event: ergors::MessageEvent) -> Result<(), ExitReason> {
        self.received.tick();
        Ok(())
    }
}

/// Local run of ergo-services/benchmarks' distributed-pub-sub-1M: one producer, `subs`
/// subscribers, `events` events; deliveries/s from the publish signal until every subscriber
/// has handled every event.
fn pubsub(subs: usize, events: usize) {
    let node = start_node("pubsub");
    let (ready_tx, ready_rx) = channel();
    let p = Producer { events, token: None, ready: ready_tx };
    let producer = node.spawn(p, SpawnOptions::default()).unwrap_or_else(|e| fail(&e.to_string()));
    // `init` runs on the producer's first turn: wait for the event to exist before subscribing.
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| fail("producer did not start"));
    let event = node.event("bench");
    let (subscribed, subscribed_rx) = Countdown::new(subs);
    let (received, received_rx) = Countdown::new(subs * events);
    for _ in 0..subs {
        let s = Subscriber { event: event.clone(), subscribed: subscribed.clone(), received: received.clone() };
        node.spawn(s, SpawnOptions::default()).unwrap_or_else(|e| fail(&e.to_string()));
    }
    subscribed_rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| fail("subscribing timed out"));
    let start = Instant::now();
    node.send(producer, Go).unwrap_or_else(|e| fail(&e.to_string()));
    received_rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| {
        let left = received.left.load(std::sync::atomic::Ordering::Relaxed);
        fail(&format!("delivery timed out with {left} deliveries missing"))
    });
    let secs = start.elapsed().as_secs_f64();
    result("pubsub", (subs * events) as f64 / secs, "deliveries/s");
    node.stop();
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn memusage(n: usize) {
    let node = start_node("memusage");
    let before = rss_bytes();
    let start = Instant::now();
    for _ in 0..n {
        node.spawn(Idle, SpawnOptions::default()).unwrap_or_else(|e| fail(&e.to_string()));
    }
    let secs = start.elapsed().as_secs_f64();
    // Let every process run its init and go to sleep before measuring.
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_bytes();
    if node.process_count() != n {
        fail(&format!("expected {n} processes, found {}", node.process_count()));
    }
    result("memusage", after.saturating_sub(before) as f64 / n as f64, "bytes/proc");
    result("memusage", n as f64 / secs, "spawn/s");
    let stop = Instant::now();
    node.stop();
    eprintln!("stopped {n} processes in {:?}", stop.elapsed());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    match args.first().map(String::as_str) {
        Some("ping11") => ping("ping11", 1, arg(&args, "--n", 3_000_000)),
        Some("pingNN") => ping("pingNN", arg(&args, "--pairs", cores), arg(&args, "--n", 1_000_000)),
        Some("call") => call("call", arg(&args, "--n", 1_000_000), arg(&args, "--pairs", 1)),
        Some("callNN") => call("callNN", arg(&args, "--n", 1_000_000), arg(&args, "--pairs", cores)),
        Some("memusage") => memusage(arg(&args, "--n", 1_000_000)),
        Some("pubsub") => pubsub(arg(&args, "--subs", 100_000), arg(&args, "--events", 1)),
        Some(other) => {
            fail(&format!("unknown benchmark {other:?}; try ping11, pingNN, call, callNN, memusage, pubsub"))
        }
        // No arguments: the demo run of the README, every benchmark once at its default size.
        None => {
            ping("ping11", 1, 3_000_000);
            ping("pingNN", cores, 1_000_000);
            call("call", 1_000_000, 1);
            call("callNN", 1_000_000, cores);
            memusage(1_000_000);
            pubsub(100_000, 1);
        }
    }
}
