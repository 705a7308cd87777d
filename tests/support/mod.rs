//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod agent;
pub mod matrix;
pub mod pool;
pub mod sup;
pub mod web;

use ergors::{Actor, Context, ExitReason, From, Message, Node, NodeOptions, Pid};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

/// A node with `workers` workers and short spinning, for tests.
pub fn node(name: &str, workers: usize) -> Node {
    let opts = NodeOptions::default().workers(workers).pin_workers(false).spin(Duration::from_micros(20));
    Node::start(&format!("{name}@localhost"), opts).expect("node starts")
}

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// An actor that forwards everything it receives to a test thread's channel, and answers calls
/// with the request itself (u64 requests only) so that tests can observe traffic.
pub struct Probe {
    pub tx: Sender<Event>,
}

#[derive(Debug)]
pub enum Event {
    Init(Pid),
    Msg(Pid, Message),
    Terminated(Pid, ExitReason),
}

pub fn probe() -> (Probe, Receiver<Event>) {
    let (tx, rx) = channel();
    (Probe { tx }, rx)
}

impl Actor for Probe {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let _ = self.tx.send(Event::Init(ctx.pid()));
        Ok(())
    }
    async fn handle_message(&mut self, _ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(r) = msg.downcast_ref::<ExitReason>() {
            return Err(r.clone());
        }
        let _ = self.tx.send(Event::Msg(from, msg));
        Ok(())
    }
    async fn handle_call(
        &mut self,
        _ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        Ok(Some(req))
    }
    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        let _ = self.tx.send(Event::Terminated(ctx.pid(), reason.clone()));
    }
}

/// Waits for the next message event and downcasts it.
pub fn recv_msg<T: 'static>(rx: &Receiver<Event>) -> (Pid, T) {
    loop {
        match rx.recv_timeout(PATIENCE).expect("event arrives") {
            Event::Msg(from, m) => match m.downcast::<T>() {
                Ok(v) => return (from, v),
                Err(_) => panic!("unexpected message type"),
            },
            Event::Init(_) => continue,
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// Waits until `pred` holds, polling.
pub fn eventually(mut pred: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + PATIENCE;
    while std::time::Instant::now() < deadline {
        if pred() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// A `tracing` writer that keeps everything written, for tests that check log records.
#[derive(Clone, Default)]
pub struct Capture(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Polls `a` and `b` until one completes (1 or 2), dropping the other: a two-way select.
pub async fn first_of<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> u8 {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    std::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(1);
        }
        if b.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(2);
        }
        std::task::Poll::Pending
    })
    .await
}

/// A TCP relay in front of `upstream` (a node's acceptor) for the network tests: it counts the
/// bytes upstream sends back, and can go silent (`mute`: it then reads and drops everything both
/// ways, never closing, as a peer powered off or a cable cut).
pub struct Relay {
    pub addr: std::net::SocketAddr,
    pub mute: std::sync::Arc<std::sync::atomic::AtomicBool>,
    down: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Relay {
    /// Bytes relayed from upstream to its clients so far.
    pub fn downstream(&self) -> u64 {
        self.down.load(std::sync::atomic::Ordering::Relaxed)
    }
}

pub fn counting_relay(upstream: std::net::SocketAddr) -> Relay {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering::Relaxed;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("relay");
    let relay = Relay {
        addr: listener.local_addr().expect("relay address"),
        mute: Default::default(),
        down: Default::default(),
    };
    let (mute, down) = (relay.mute.clone(), relay.down.clone());
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let Ok(server) = std::net::TcpStream::connect(upstream) else { return };
            let halves = [
                (client.try_clone().expect("clone"), server.try_clone().expect("clone"), None),
                (server, client, Some(down.clone())),
            ];
            for (mut from, mut to, count) in halves {
                let mute = mute.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if mute.load(Relaxed) {
                            continue;
                        }
                        if let Some(c) = &count {
                            c.fetch_add(n as u64, Relaxed);
                        }
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        }
    });
    relay
}

/// Links to (trapping exits) or monitors a target in init, and reports what fires.
pub struct Watcher {
    pub target: ergors::Target,
    pub link: bool,
    pub report: Sender<(ergors::Target, ExitReason)>,
}

impl Actor for Watcher {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        if self.link {
            ctx.set_trap_exit(true);
            ctx.link(self.target.clone()).map_err(ExitReason::error)
        } else {
            ctx.monitor(self.target.clone()).map_err(ExitReason::error)
        }
    }

    async fn handle_message(&mut self, _: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        let msg = match msg.downcast::<ergors::MessageDown>() {
            Ok(down) => {
                let _ = self.report.send((down.target, down.reason));
                return Ok(());
            }
            Err(m) => m,
        };
        if let Ok(exit) = msg.downcast::<ergors::MessageExit>() {
            let _ = self.report.send((exit.target, exit.reason));
        }
        Ok(())
    }
}

/// Starts a `Watcher` on `node`; returns once its relation is set up (or waiting for its dial).
pub fn watch(node: &Node, target: impl Into<ergors::Target>, link: bool) -> Receiver<(ergors::Target, ExitReason)> {
    let (tx, rx) = channel();
    let watcher = Watcher { target: target.into(), link, report: tx };
    node.spawn_wait(watcher, ergors::SpawnOptions::default()).expect("watcher");
    rx
}
