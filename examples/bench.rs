//! Benchmarks that mirror github.com/ergo-services/benchmarks, run side by side with our Go
//! program in `benches/go` by `scripts/bench-vs-go.sh`. Each prints one machine-readable line per
//! metric: `RESULT name=<bench> value=<number> unit=<unit>`.
//!
//! ```text
//! cargo run --release --example bench -- ping11  [--n 3000000]     # Pong on the Ping's worker
//! cargo run --release --example bench -- ping11x [--n 3000000]     # Pong on the next worker
//! cargo run --release --example bench -- pingNN  [--n 1000000] [--pairs <nproc>]
//! cargo run --release --example bench -- call    [--n 1000000] [--pairs 1]   # server on the caller's worker
//! cargo run --release --example bench -- callx   [--n 1000000] [--pairs 1]   # server on the next worker
//! cargo run --release --example bench -- callNN  [--n 1000000] [--pairs <nproc>]
//! cargo run --release --example bench -- fanin   [--senders <nproc>] [--n 4000000/senders]
//! cargo run --release --example bench -- tree    [--children 10000] [--work-us 20]
//! cargo run --release --example bench -- memusage [--n 1000000]
//! cargo run --release --example bench -- pubsub  [--subs 100000] [--events 1]
//! cargo run --release --example bench -- restart [--n 100000] [--batch 50000]
//! cargo run --release --example bench -- pool    [--n 500000] [--callers <nproc>] [--size <nproc>]
//! cargo run --release --example bench -- overload [--n 100000000] [--senders 64] [--receivers 16] [--batch 2000] [--work-ns 100]
//! cargo run --release --example bench -- overload_unthrottled [...]   # the same, ERGORS_MAILBOX_HIGH_WATER=0
//! cargo run --release --example bench            # all of them, default sizes
//! ```
//! Placement: `ping11`/`pingNN`/`call`/`callNN` put both ends of a pair on one worker explicitly
//! (they measure the same-worker path whatever the default placement is); `ping11x`/`callx` put
//! the receiver on the next worker (with one worker that is the same worker). `fanin` puts sender
//! `i` on worker `i` and the receiver on worker 0. `tree` uses the default placement throughout:
//! it measures how the runtime spreads a parent's children. `ERGORS_BENCH_CALL_SPREAD=1` still
//! makes `call`/`callNN` put each server on the next worker (as `callx` does).
//!
//! Step 4 (D99): `restart` runs `n` crash-and-restart cycles of one child under one-for-one
//! supervisors (transient restarts, an abnormal reason), at most `batch` (≤ 65,535) under each
//! supervisor, with intensity 65,535 per 1 s: a supervisor never sees more restarts than its
//! intensity, so no rate trips it (the Go side does the same; Ergo's intensity is a `u16` and its
//! period whole seconds). A cycle: the instance, once running, reports to the driver; the driver
//! asks the supervisor for its child (`Children`), crashes that instance, the supervisor
//! restarts it. `pool` has `callers` callers (caller `i` on worker `i`) each making `n`
//! sequential calls to ONE `Pool` of `size` workers that answer with the request; the pool and
//! its workers have the default placement.
//!
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

/// Messages `fanin` sends in all by default, split evenly between the senders.
const FANIN_TOTAL: usize = 4_000_000;
/// Crash-and-restart cycles `restart` runs by default.
const RESTART_N: usize = 100_000;
/// Cycles under one supervisor of `restart` by default (at most [`RESTART_BATCH_MAX`]).
const RESTART_BATCH: usize = 50_000;
/// Calls each caller of `pool` makes by default.
const POOL_N: usize = 500_000;

fn fail(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(2)
}

fn result(name: &str, value: f64, unit: &str) {
    // Whole numbers for rates; small values (milliseconds, percentages) keep two decimals.
    if value.abs() >= 1000.0 {
        println!("RESULT name={name} value={value:.0} unit={unit}");
    } else {
        println!("RESULT name={name} value={value:.2} unit={unit}");
    }
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

/// Spawns its pong as a child on its own worker plus `pong_offset` (0: the same worker), reports
/// ready, then on `Go` sends `n` messages to it.
struct Ping {
    n: usize,
    pong_offset: usize,
    pong: Option<Pid>,
    done: Sender<()>,
    ready: Sender<Pid>,
}

struct Go;

impl Actor for Ping {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let pong = Pong { got: 0, expect: self.n, done: self.done.clone() };
        // Explicit, not the default: the default placement of a child may change, and these
        // benchmarks must keep measuring the path they are named after. `worker` wraps modulo
        // the worker count.
        let worker = ctx.info().worker + self.pong_offset;
        self.pong = Some(ctx.spawn(pong, SpawnOptions::default().worker(worker)).map_err(ExitReason::error)?);
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

/// `pairs` ping/pong pairs, each Ping sending `n` messages; each Pong on its Ping's worker plus
/// `pong_offset`.
fn ping(name: &str, pairs: usize, n: usize, pong_offset: usize) {
    let node = start_node(name);
    let (done_tx, done_rx) = channel();
    let (ready_tx, ready_rx) = channel();
    for _ in 0..pairs {
        let p = Ping { n, pong_offset, pong: None, done: done_tx.clone(), ready: ready_tx.clone() };
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

/// `callers` caller/server pairs (each caller makes `n` sequential calls), caller `i` on worker
/// `i`; each server on its caller's worker plus `server_offset` (0: the same worker; 1 is what
/// `ERGORS_BENCH_CALL_SPREAD=1` also selects, kept for older scripts).
fn call(name: &str, n: usize, callers: usize, server_offset: usize) {
    let node = start_node(name);
    let spread = std::env::var("ERGORS_BENCH_CALL_SPREAD").is_ok_and(|v| v == "1");
    let server_offset = if spread { server_offset.max(1) } else { server_offset };
    let workers = node.options().get_workers();
    let (done_tx, done_rx) = channel();
    let mut pids = Vec::new();
    for i in 0..callers {
        let w = i % workers;
        let server_worker = (w + server_offset) % workers;
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

/// The crashing child of `restart`: once running, it tells the driver it is up; it crashes on
/// `Crash`.
struct Crasher {
    driver: Pid,
}

struct Up;
struct Crash;

impl Actor for Crasher {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        // Through a message to itself, as the Go side must (Ergo registers a process only once
        // its `Init` returned, so a crash answering a report from `Init` could find no one).
        let me = ctx.pid();
        ctx.send(me, Up).map_err(ExitReason::error)
    }
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Up>() {
            ctx.send(self.driver, Up).map_err(ExitReason::error)?;
        } else if msg.is::<Crash>() {
            // The name is dropped first, as the Go side must (Ergo sends a dying process's exit
            // signals before it releases its name, so a fast restart can find the name taken).
            ctx.unregister_name().map_err(ExitReason::error)?;
            // Abnormal: the transient supervisor restarts it.
            return Err(ExitReason::error("crash"));
        }
        Ok(())
    }
}

/// Most restarts one supervisor of `restart` sees: Ergo's intensity is a `u16`, and a supervisor
/// that never sees more restarts than its intensity cannot exceed it, whatever the rate.
const RESTART_BATCH_MAX: usize = u16::MAX as usize;

/// Drives `restart`: on `Go`, spawns a one-for-one supervisor with one transient `Crasher`, and
/// on each `Up` tells that instance to crash, until the supervisor has restarted it `batch`
/// times; then stops that supervisor and starts the next (child names differ per batch, so the
/// old child's name never stands in the new one's way), `batches` in all.
struct RestartDriver {
    batches: usize,
    batch: usize,
    started: usize,
    crashes: usize,
    sup: Option<Pid>,
    done: Sender<()>,
}

impl RestartDriver {
    fn next_batch(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        use ergors::supervisor::{ChildSpec, Restart, Supervisor, SupervisorSpec};
        if let Some(old) = self.sup.take() {
            ctx.send_exit(old, ExitReason::Shutdown).map_err(ExitReason::error)?;
        }
        if self.started == self.batches {
            let _ = self.done.send(());
            return Ok(());
        }
        let driver = ctx.pid();
        let spec = SupervisorSpec::one_for_one()
            .restart(Restart::Transient)
            .intensity(u16::MAX, Duration::from_secs(1))
            .child(ChildSpec::new(&format!("crasher{}", self.started), move || Crasher { driver }));
        self.started += 1;
        self.crashes = 0;
        self.sup = Some(ctx.spawn(Supervisor::new(spec), SpawnOptions::default()).map_err(ExitReason::error)?);
        Ok(())
    }
}

impl Actor for RestartDriver {
    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        use ergors::supervisor::{Children, request_from};
        if msg.is::<Go>() {
            return self.next_batch(ctx);
        }
        if msg.is::<Up>() {
            if self.crashes == self.batch {
                return self.next_batch(ctx);
            }
            // Asks the supervisor for its child first, as the Go side must (Ergo links the
            // supervisor to a new child only once the child runs; one that dies before is never
            // restarted). Ours links before the child runs (D80): here it is only the same work.
            let sup = self.sup.ok_or_else(|| ExitReason::error("no supervisor"))?;
            let children = request_from(ctx, sup, Children).await.map_err(ExitReason::error)?;
            if children.first().and_then(|c| c.pid) != Some(from) {
                return Err(ExitReason::error(format!("supervisor's child is not {from}: {children:?}")));
            }
            self.crashes += 1;
            ctx.send(from, Crash).map_err(ExitReason::error)?;
        }
        Ok(())
    }
}

/// `n` crash-and-restart cycles of one child under one-for-one supervisors (transient restart,
/// an abnormal reason), at most `batch` under each supervisor; cycles/s from the start signal
/// until the last restarted instance is up.
fn restart(n: usize, batch: usize) {
    if n == 0 || batch == 0 || batch > RESTART_BATCH_MAX {
        fail(&format!("restart needs --n above 0 and --batch from 1 to {RESTART_BATCH_MAX}"));
    }
    let node = start_node("restart");
    let (done_tx, done_rx) = channel();
    let batches = n.div_ceil(batch);
    let batch = n / batches; // even batches: n rounded down to a multiple of the batch count
    let driver = RestartDriver { batches, batch, started: 0, crashes: 0, sup: None, done: done_tx };
    let driver = node.spawn(driver, SpawnOptions::default()).unwrap_or_else(|e| fail(&e.to_string()));
    let start = Instant::now();
    node.send(driver, Go).unwrap_or_else(|e| fail(&e.to_string()));
    done_rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| fail("timed out"));
    let secs = start.elapsed().as_secs_f64();
    eprintln!("restart: {} cycles in {batches} batch(es) of {batch} in {secs:.3} s", batches * batch);
    result("restart", (batches * batch) as f64 / secs, "cycles/s");
    node.stop();
}

/// `callers` callers (caller `i` on worker `i`) each make `n` sequential calls to ONE pool of
/// `size` workers that answer with the request; calls/s in all.
fn pool(n: usize, callers: usize, size: usize) {
    use ergors::pool::{Pool, PoolSpec};
    if n == 0 || callers == 0 || size == 0 {
        fail("pool needs --n, --callers and --size above 0");
    }
    let node = start_node("pool");
    let workers = node.options().get_workers();
    let spec = PoolSpec::new(|| Server).size(size);
    let pool = node.spawn_wait(Pool::new(spec), SpawnOptions::default()).unwrap_or_else(|e| fail(&e.to_string()));
    let (done_tx, done_rx) = channel();
    let pids: Vec<Pid> = (0..callers)
        .map(|i| {
            let c = Caller { n, server: pool, done: done_tx.clone() };
            node.spawn(c, SpawnOptions::default().worker(i % workers)).unwrap_or_else(|e| fail(&e.to_string()))
        })
        .collect();
    let start = Instant::now();
    for p in &pids {
        node.send(*p, Go).unwrap_or_else(|e| fail(&e.to_string()));
    }
    for _ in 0..callers {
        done_rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| fail("timed out"));
    }
    let secs = start.elapsed().as_secs_f64();
    result("pool", (n * callers) as f64 / secs, "calls/s");
    node.stop();
}

/// Sends `n` messages (the integer 1) to `to` on `Go`.
struct Feeder {
    n: usize,
    to: Pid,
}

impl Actor for Feeder {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Go>() {
            for _ in 0..self.n {
                ctx.send(self.to, 1i64).map_err(ExitReason::error)?;
            }
        }
        Ok(())
    }
}

/// `senders` feeders, feeder `i` on worker `i` (modulo the worker count), each sending `n`
/// messages to one receiver on worker 0; msg/s measured at the receiver.
fn fanin(senders: usize, n: usize) {
    if senders == 0 || n == 0 {
        fail("fanin needs --senders and --n above 0");
    }
    let node = start_node("fanin");
    let (done_tx, done_rx) = channel();
    let sink = Pong { got: 0, expect: senders * n, done: done_tx };
    let sink = node.spawn(sink, SpawnOptions::default().worker(0)).unwrap_or_else(|e| fail(&e.to_string()));
    let feeders: Vec<Pid> = (0..senders)
        .map(|i| {
            let f = Feeder { n, to: sink };
            node.spawn(f, SpawnOptions::default().worker(i)).unwrap_or_else(|e| fail(&e.to_string()))
        })
        .collect();
    let start = Instant::now();
    for f in &feeders {
        node.send(*f, Go).unwrap_or_else(|e| fail(&e.to_string()));
    }
    done_rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| fail("timed out"));
    let secs = start.elapsed().as_secs_f64();
    result("fanin", (senders * n) as f64 / secs, "msg/s");
    node.stop();
}

/// Keeps the CPU busy for `work` of wall-clock time. A clock rather than a fixed computation, so
/// that the Go side does exactly the same work whatever either compiler makes of a loop.
fn busy(work: Duration) {
    let start = Instant::now();
    while start.elapsed() < work {
        std::hint::spin_loop();
    }
}

struct Work;

/// Does `work` once, on its one `Work` message, and ticks `done`.
struct Leaf {
    work: Duration,
    done: std::sync::Arc<Countdown>,
}

impl Actor for Leaf {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Work>() {
            busy(self.work);
            self.done.tick();
        }
        Ok(())
    }
}

/// On `Go`, spawns `children` leaves with the default options and sends each one `Work`.
struct Root {
    children: usize,
    work: Duration,
    done: std::sync::Arc<Countdown>,
}

impl Actor for Root {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Go>() {
            for _ in 0..self.children {
                let leaf = Leaf { work: self.work, done: self.done.clone() };
                let pid = ctx.spawn(leaf, SpawnOptions::default()).map_err(ExitReason::error)?;
                ctx.send(pid, Work).map_err(ExitReason::error)?;
            }
        }
        Ok(())
    }
}

/// One process spawns `children` children (default placement), each busy for `work_us` µs on
/// its one message. Reports the time from the start signal until every child has done its work,
/// and that time as a percentage of the ideal `work × children / workers`.
fn tree(children: usize, work_us: usize) {
    if children == 0 || work_us == 0 {
        fail("tree needs --children and --work-us above 0");
    }
    let node = start_node("tree");
    let workers = node.options().get_workers();
    let work = Duration::from_micros(work_us as u64);
    let (done, done_rx) = Countdown::new(children);
    let root = Root { children, work, done };
    let root = node.spawn(root, SpawnOptions::default()).unwrap_or_else(|e| fail(&e.to_string()));
    let start = Instant::now();
    node.send(root, Go).unwrap_or_else(|e| fail(&e.to_string()));
    done_rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| fail("timed out"));
    let elapsed = start.elapsed().as_secs_f64();
    let ideal = work.as_secs_f64() * children as f64 / workers as f64;
    eprintln!("tree: {children} children x {work_us} us on {workers} workers: ideal {:.1} ms", ideal * 1e3);
    result("tree", elapsed * 1e3, "ms");
    result("tree", elapsed / ideal * 100.0, "ideal_pct");
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

/// Continue streaming (a sender's message to itself).
struct Next;

/// One sender of `overload`: `batch` sequence-numbered messages to `to` per turn, then a `Next`
/// to itself, until it has sent `n`.
struct Streamer {
    id: usize,
    to: Pid,
    n: u64,
    sent: u64,
    batch: u64,
}

impl Actor for Streamer {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Go>() || msg.is::<Next>() {
            let end = (self.sent + self.batch).min(self.n);
            for seq in self.sent..end {
                ctx.send(self.to, (self.id, seq)).map_err(ExitReason::error)?;
            }
            self.sent = end;
            if self.sent < self.n {
                let me = ctx.pid();
                ctx.send(me, Next).map_err(ExitReason::error)?;
            }
        }
        Ok(())
    }
}

/// A receiver of `overload`: checks that each sender's messages arrive in order and counts them.
struct Ordered {
    /// Busy time per message (a consumer slower than its producers).
    work: Duration,
    next: Vec<u64>,
    got: u64,
    expect: u64,
    done: Sender<()>,
}

impl Actor for Ordered {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(&(id, seq)) = msg.downcast_ref::<(usize, u64)>() {
            if self.next[id] != seq {
                fail(&format!("sender {id}: got message {seq}, expected {}", self.next[id]));
            }
            self.next[id] += 1;
            self.got += 1;
            if !self.work.is_zero() {
                busy(self.work);
            }
            if self.got == self.expect {
                let _ = self.done.send(());
            }
        }
        Ok(())
    }
}

/// Peak resident memory of this process so far (VmHWM).
fn peak_rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Producers faster than their consumers (Step 3b): `senders` streamers on worker 0 send `n`
/// messages in all to `receivers` receivers on the next worker (fan-in of senders/receivers),
/// `batch` per turn. Reports msg/s and the process's peak RSS; with `unthrottled`, the node's
/// high-water mark is 0 (no backpressure) whatever the environment says.
fn overload(name: &str, n: usize, senders: usize, receivers: usize, batch: usize, work_ns: usize, unthrottled: bool) {
    if senders == 0 || receivers == 0 || batch == 0 || n < senders {
        fail("overload needs --senders, --receivers, --batch above 0 and --n of at least --senders");
    }
    let mut opts = NodeOptions::from_env().unwrap_or_else(|e| fail(&e.to_string()));
    if unthrottled {
        opts = opts.mailbox_high_water(0);
    }
    let high_water = opts.get_mailbox_high_water();
    let node = Node::start(&format!("{name}@localhost"), opts).unwrap_or_else(|e| fail(&e.to_string()));
    let per_sender = (n / senders) as u64;
    let (done_tx, done_rx) = channel();
    let sinks: Vec<Pid> = (0..receivers)
        .map(|r| {
            // Receiver r gets senders r, r + receivers, ...
            let expect = (r..senders).step_by(receivers).count() as u64 * per_sender;
            let work = Duration::from_nanos(work_ns as u64);
            let sink = Ordered { work, next: vec![0; senders], got: 0, expect, done: done_tx.clone() };
            node.spawn(sink, SpawnOptions::default().worker(1)).unwrap_or_else(|e| fail(&e.to_string()))
        })
        .collect();
    let streamers: Vec<Pid> = (0..senders)
        .map(|id| {
            let s = Streamer { id, to: sinks[id % receivers], n: per_sender, sent: 0, batch: batch as u64 };
            node.spawn(s, SpawnOptions::default().worker(0)).unwrap_or_else(|e| fail(&e.to_string()))
        })
        .collect();
    let start = Instant::now();
    for s in &streamers {
        node.send(*s, Go).unwrap_or_else(|e| fail(&e.to_string()));
    }
    // Receivers that no sender feeds (more receivers than senders) have nothing to wait for.
    for _ in 0..receivers.min(senders) {
        done_rx.recv_timeout(Duration::from_secs(600)).unwrap_or_else(|_| fail("timed out"));
    }
    let secs = start.elapsed().as_secs_f64();
    let total = per_sender * senders as u64;
    let info = node.info();
    eprintln!(
        "{name}: high water {high_water}, {total} messages in {secs:.2} s, held turns {}, holds expired {}",
        info.held_turns, info.holds_expired
    );
    result(name, total as f64 / secs, "msg/s");
    result(&format!("{name}_peak_rss"), peak_rss_bytes() as f64 / (1024.0 * 1024.0), "MiB");
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

// ---------------------------------------------------------------------------------------------
// tcpecho (Step 5): the TCP meta under ping-pong load from `loadgen`.

/// Echoes every frame back to the connection it came from.
struct TcpEchoHandler;

impl Actor for TcpEchoHandler {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(m) = msg.downcast::<ergors::meta::tcp::MessageTcp>() {
            let _ = ctx.send(m.id, ergors::meta::tcp::MessageTcp { id: m.id, data: m.data });
        }
        Ok(())
    }
}

/// Starts the TCP server meta with a pool of echo handlers; reports its address.
struct TcpEchoServer {
    handlers: usize,
    addr: std::sync::mpsc::Sender<std::net::SocketAddr>,
}

impl Actor for TcpEchoServer {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        use ergors::meta::tcp::{TcpServer, TcpServerOptions};
        let mut pool = Vec::new();
        for _ in 0..self.handlers {
            pool.push(ctx.spawn(TcpEchoHandler, SpawnOptions::default()).map_err(ExitReason::error)?);
        }
        let options = TcpServerOptions::new("127.0.0.1:0".parse().expect("address"))
            .handlers(pool)
            .read_chunk(ergors::codec::chunk::ChunkOptions::header(4, 0, 4));
        let server = TcpServer::bind(options).map_err(ExitReason::error)?;
        let addr = server.local_addr();
        ctx.spawn_meta(server, ergors::meta::MetaOptions::default()).await.map_err(ExitReason::error)?;
        let _ = self.addr.send(addr);
        Ok(())
    }
}

/// The `loadgen` program: `LOADGEN`, or beside this binary.
fn loadgen_path() -> std::path::PathBuf {
    std::env::var_os("LOADGEN").map(Into::into).unwrap_or_else(|| {
        let me = std::env::current_exe().unwrap_or_default();
        me.with_file_name("loadgen")
    })
}

/// Runs `loadgen` (`proto`: tcp or http) against `addr` with `conns` connections, reporting
/// under `name`: per-connection memory of this process (RSS growth once they are up), then its
/// throughput and p99 lines, passed through.
fn run_loadgen(name: &str, proto: &str, addr: std::net::SocketAddr, conns: usize, seconds: f64) {
    use std::io::{BufRead, Write};
    let base = rss_bytes();
    let mut child = std::process::Command::new(loadgen_path())
        .args(["--addr", &addr.to_string(), "--conns", &conns.to_string(), "--seconds", &seconds.to_string()])
        .args(["--name", name, "--proto", proto])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("cannot run {}: {e}", loadgen_path().display())));
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        if line.starts_with("CONNECTED") {
            // Let the connection metas settle, then measure.
            std::thread::sleep(std::time::Duration::from_millis(200));
            let grown = rss_bytes().saturating_sub(base);
            result(name, grown as f64 / conns as f64, "B/conn");
            let _ = writeln!(stdin);
        } else if line.starts_with("RESULT") {
            println!("{line}");
        }
    }
    let _ = child.wait();
}

fn tcpecho(conns: &[usize], seconds: f64) {
    let node = start_node("tcpecho");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let (tx, rx) = std::sync::mpsc::channel();
    node.spawn(TcpEchoServer { handlers: cores, addr: tx }, SpawnOptions::default()).expect("spawn");
    let addr = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap_or_else(|_| fail("server did not start"));
    for &n in conns {
        run_loadgen(&format!("tcpecho{n}"), "tcp", addr, n, seconds);
    }
    let info = node.info();
    eprintln!("tcpecho: {} migrations, {} adoptions", info.migrations, info.adoptions);
    node.stop();
}

// ---------------------------------------------------------------------------------------------
// http (Step 5): the Web meta answering GET / with "hello" from a pool of web workers, under
// keep-alive load from `loadgen --proto http`.

struct Hello;

impl ergors::WebWorkerBehavior for Hello {
    async fn handle_get(
        &mut self,
        _ctx: &mut Context,
        _from: Pid,
        _request: ergors::web::WebRequest,
    ) -> Result<ergors::web::WebResponse, ExitReason> {
        Ok(ergors::web::WebResponse::text(200, "hello"))
    }
}

/// Starts the pool of web workers and the Web meta routing `/` to it; reports its address.
struct HelloServer {
    workers: usize,
    addr: std::sync::mpsc::Sender<std::net::SocketAddr>,
}

impl Actor for HelloServer {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        use ergors::meta::web::{WebServer, WebServerOptions};
        use ergors::pool::{Pool, PoolSpec};
        let spec = PoolSpec::new(|| ergors::WebWorker::new(Hello)).size(self.workers);
        let pool = ctx.spawn(Pool::new(spec), SpawnOptions::default()).map_err(ExitReason::error)?;
        let mut router = ergors::web::Router::new();
        router.handle("/", pool).map_err(ExitReason::error)?;
        let options = WebServerOptions::new("127.0.0.1:0".parse().expect("address"), router);
        let server = WebServer::new(options).map_err(ExitReason::error)?;
        let addr = server.local_addr();
        ctx.spawn_meta(server, ergors::meta::MetaOptions::default()).await.map_err(ExitReason::error)?;
        let _ = self.addr.send(addr);
        Ok(())
    }
}

fn http(conns: usize, seconds: f64) {
    let node = start_node("http");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let (tx, rx) = std::sync::mpsc::channel();
    node.spawn(HelloServer { workers: cores, addr: tx }, SpawnOptions::default()).expect("spawn");
    let addr = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap_or_else(|_| fail("server did not start"));
    run_loadgen("http", "http", addr, conns, seconds);
    node.stop();
}

// ---------------------------------------------------------------------------------------------
// netping / netcall (Step 6): ping11 and call with the receiver on another node of this OS
// process, over loopback TCP (each node on its own ERGORS_WORKERS workers).

/// Two networked nodes: `b` listens, `a` has a route to it.
fn net_pair(name: &str) -> (Node, Node) {
    use ergors::net::NetworkOptions;
    let opts = || NodeOptions::from_env().unwrap_or_else(|e| fail(&e.to_string()));
    let listen = "127.0.0.1:0".parse().expect("address");
    let b_name = format!("{name}-b@localhost");
    // A static route, no registrar: the pair measures the message path, and a host's port 4499
    // may be anything.
    let net = || NetworkOptions::enabled("bench", listen).registrar_port(0);
    let b = Node::start(&b_name, opts().network(net())).unwrap_or_else(|e| fail(&e.to_string()));
    let addr = b.handle().network_address().unwrap_or_else(|| fail("no acceptor"));
    let a = Node::start(&format!("{name}-a@localhost"), opts().network(net().route(&b_name, addr)))
        .unwrap_or_else(|e| fail(&e.to_string()));
    (a, b)
}

/// Sends `n` messages to `to` on `Go`.
struct NetSender {
    to: Pid,
    n: usize,
}

impl Actor for NetSender {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Go>() {
            for _ in 0..self.n {
                ctx.send(self.to, 1i64).map_err(ExitReason::error)?;
            }
        }
        Ok(())
    }
}

fn netping(n: usize) {
    let (a, b) = net_pair("netping");
    let (done_tx, done_rx) = channel();
    let pong = b
        .spawn(Pong { got: 0, expect: n + 1, done: done_tx }, SpawnOptions::default())
        .unwrap_or_else(|e| fail(&e.to_string()));
    // One message first: the connection (and its pool) comes up outside the clock.
    a.send(pong, 0i64).unwrap_or_else(|e| fail(&e.to_string()));
    std::thread::sleep(Duration::from_millis(300));
    let sender = a.spawn(NetSender { to: pong, n }, SpawnOptions::default()).unwrap_or_else(|e| fail(&e.to_string()));
    let start = Instant::now();
    a.send(sender, Go).unwrap_or_else(|e| fail(&e.to_string()));
    done_rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| fail("timed out"));
    result("netping", n as f64 / start.elapsed().as_secs_f64(), "msg/s");
    a.stop();
    b.stop();
}

fn netcall(n: usize) {
    let (a, b) = net_pair("netcall");
    let server = b.spawn(Server, SpawnOptions::default()).unwrap_or_else(|e| fail(&e.to_string()));
    a.call(server, 0i64).unwrap_or_else(|e| fail(&format!("first call: {e}")));
    let (done_tx, done_rx) = channel();
    let caller =
        a.spawn(Caller { n, server, done: done_tx }, SpawnOptions::default()).unwrap_or_else(|e| fail(&e.to_string()));
    let start = Instant::now();
    a.send(caller, Go).unwrap_or_else(|e| fail(&e.to_string()));
    done_rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| fail("timed out"));
    result("netcall", n as f64 / start.elapsed().as_secs_f64(), "calls/s");
    a.stop();
    b.stop();
}

/// netcallmany: `callers` processes on one node (placed as spawns are, over every worker) call
/// `servers` processes on the other, each caller `n / callers` sequential calls: the fan-in of
/// an RPC server node, with the calls of many processes sharing the connection's links.
fn netcallmany(n: usize, callers: usize, servers: usize) {
    let (a, b) = net_pair("netcallmany");
    let servers: Vec<Pid> = (0..servers.max(1))
        .map(|_| b.spawn(Server, SpawnOptions::default()).unwrap_or_else(|e| fail(&e.to_string())))
        .collect();
    for s in &servers {
        a.call(*s, 0i64).unwrap_or_else(|e| fail(&format!("first call: {e}")));
    }
    let (done_tx, done_rx) = channel();
    let each = n / callers.max(1);
    let pids: Vec<Pid> = (0..callers.max(1))
        .map(|i| {
            let c = Caller { n: each, server: servers[i % servers.len()], done: done_tx.clone() };
            a.spawn(c, SpawnOptions::default()).unwrap_or_else(|e| fail(&e.to_string()))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    for p in &pids {
        a.send(*p, Go).unwrap_or_else(|e| fail(&e.to_string()));
    }
    for _ in &pids {
        done_rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| fail("timed out"));
    }
    result("netcallmany", (each * pids.len()) as f64 / start.elapsed().as_secs_f64(), "calls/s");
    a.stop();
    b.stop();
}

/// linelat: the physical floor under every cross-worker row, measured in the same run. Two
/// threads pinned to CPUs 0 and 1 pass one cache line back and forth; reports the round trip in
/// ns (two line transfers). The host may place the two vCPUs near or far apart (PERFORMANCE.md),
/// and the cross-worker rows move with this number.
fn linelat(rounds: u64) {
    #[repr(align(128))]
    struct Line(std::sync::atomic::AtomicU64);
    fn pin(cpu: usize) {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within it, and
        // sched_setaffinity reads it for the calling thread (pid 0). Failure leaves it unpinned.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
    use std::sync::atomic::Ordering::{Acquire, Release};
    let line = std::sync::Arc::new(Line(std::sync::atomic::AtomicU64::new(0)));
    let other = line.clone();
    let echo = std::thread::spawn(move || {
        pin(1);
        for i in 0..rounds {
            while other.0.load(Acquire) != 2 * i + 1 {
                std::hint::spin_loop();
            }
            other.0.store(2 * i + 2, Release);
        }
    });
    pin(0);
    let start = Instant::now();
    for i in 0..rounds {
        line.0.store(2 * i + 1, Release);
        while line.0.load(Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / rounds as f64;
    let _ = echo.join();
    result("linelat", ns, "ns_rtt");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    // fanin's total stays the same whatever the core count, so its run time does too.
    let fanin_n = |senders: usize| FANIN_TOTAL / senders.max(1);
    match args.first().map(String::as_str) {
        Some("ping11") => ping("ping11", 1, arg(&args, "--n", 3_000_000), 0),
        Some("ping11x") => ping("ping11x", 1, arg(&args, "--n", 3_000_000), 1),
        Some("pingNN") => ping("pingNN", arg(&args, "--pairs", cores), arg(&args, "--n", 1_000_000), 0),
        Some("call") => call("call", arg(&args, "--n", 1_000_000), arg(&args, "--pairs", 1), 0),
        Some("callx") => call("callx", arg(&args, "--n", 1_000_000), arg(&args, "--pairs", 1), 1),
        Some("callNN") => call("callNN", arg(&args, "--n", 1_000_000), arg(&args, "--pairs", cores), 0),
        Some("fanin") => {
            let senders = arg(&args, "--senders", cores);
            fanin(senders, arg(&args, "--n", fanin_n(senders)))
        }
        Some("tree") => tree(arg(&args, "--children", 10_000), arg(&args, "--work-us", 20)),
        Some("memusage") => memusage(arg(&args, "--n", 1_000_000)),
        Some("pubsub") => pubsub(arg(&args, "--subs", 100_000), arg(&args, "--events", 1)),
        Some("restart") => restart(arg(&args, "--n", RESTART_N), arg(&args, "--batch", RESTART_BATCH)),
        Some("pool") => pool(arg(&args, "--n", POOL_N), arg(&args, "--callers", cores), arg(&args, "--size", cores)),
        Some(name @ ("overload" | "overload_unthrottled")) => overload(
            name,
            arg(&args, "--n", 100_000_000),
            arg(&args, "--senders", 64),
            arg(&args, "--receivers", 16),
            arg(&args, "--batch", 2000),
            arg(&args, "--work-ns", 100),
            name == "overload_unthrottled",
        ),
        Some("tcpecho100") => tcpecho(&[100], arg(&args, "--seconds", 5) as f64),
        Some("tcpecho1000") => tcpecho(&[1000], arg(&args, "--seconds", 5) as f64),
        Some("tcpecho") => tcpecho(&[100, 1000], arg(&args, "--seconds", 5) as f64),
        Some("http") => http(arg(&args, "--conns", 100), arg(&args, "--seconds", 5) as f64),
        Some("netping") => netping(arg(&args, "--n", 1_000_000)),
        Some("netcall") => netcall(arg(&args, "--n", 100_000)),
        Some("linelat") => linelat(arg(&args, "--n", 2_000_000) as u64),
        Some("netcallmany") => {
            netcallmany(arg(&args, "--n", 400_000), arg(&args, "--callers", 100), arg(&args, "--servers", cores))
        }
        Some(other) => fail(&format!(
            "unknown benchmark {other:?}; try ping11, ping11x, pingNN, call, callx, callNN, fanin, tree, memusage, pubsub, restart, pool, overload, overload_unthrottled, tcpecho100, tcpecho1000, http, netping, netcall, netcallmany"
        )),
        // No arguments: the demo run of the README, every benchmark once at its default size.
        None => {
            ping("ping11", 1, 3_000_000, 0);
            ping("ping11x", 1, 3_000_000, 1);
            ping("pingNN", cores, 1_000_000, 0);
            call("call", 1_000_000, 1, 0);
            call("callx", 1_000_000, 1, 1);
            call("callNN", 1_000_000, cores, 0);
            fanin(cores, fanin_n(cores));
            tree(10_000, 20);
            memusage(1_000_000);
            pubsub(100_000, 1);
            restart(RESTART_N, RESTART_BATCH);
            pool(POOL_N, cores, cores);
            // A tenth of the benchmark's size: the unthrottled run's memory grows with it.
            overload("overload", 10_000_000, 64, 16, 2000, 100, false);
            netping(1_000_000);
            netcall(100_000);
            netcallmany(400_000, 100, cores);
        }
    }
}
