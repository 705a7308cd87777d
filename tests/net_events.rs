//! Events across nodes (Ergo's LinkEvent/MonitorEvent on another node's event: ENP 105 and
//! 185) and compression on send (ENP 200), between two ergors nodes in one OS process.

mod support;

use ergors::net::{Compression, CompressionType, NetworkOptions};
use ergors::{
    Actor, Atom, Context, Error, Event, EventOptions, ExitReason, From, Message, MessageEvent, Node, NodeOptions, Pid,
    ProcessId, Ref, SpawnOptions, Target,
};
use std::sync::mpsc::{Receiver, Sender, channel};
use support::*;

fn start(name: &str, routes: &[(&str, std::net::SocketAddr)], compression: Compression) -> Node {
    let mut net =
        NetworkOptions::enabled("secret", "127.0.0.1:0".parse().unwrap()).registrar_port(0).compression(compression);
    for (n, a) in routes {
        net = net.route(*n, *a);
    }
    Node::start(name, NodeOptions::default().workers(2).network(net)).expect("node starts")
}

/// Node a (the producer's) and node b (the consumers'), b connected to a.
fn pair(tag: &str) -> (Node, Node, Atom) {
    pair_with(tag, Compression::default())
}

fn pair_with(tag: &str, compression: Compression) -> (Node, Node, Atom) {
    let a_name = format!("a-ev-{tag}@localhost");
    let a = start(&a_name, &[], compression);
    let addr = a.handle().network_address().expect("a listens");
    let b = start(&format!("b-ev-{tag}@localhost"), &[(&a_name, addr)], compression);
    let a_atom = Atom::new(&a_name);
    let _ = b.call(ProcessId { name: "nobody".into(), node: a_atom }, String::from("hello"));
    assert!(b.peer_info(a_atom).is_some(), "connected");
    (a, b, a_atom)
}

/// Registers an event in init and publishes every `u64` it is sent; `"unregister"` and
/// `"die"` end the event; reports the start/stop notifications.
struct Producer {
    name: &'static str,
    options: EventOptions,
    token: Option<Ref>,
    report: Sender<&'static str>,
}

impl Actor for Producer {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        self.token = Some(ctx.register_event(self.name, self.options).map_err(ExitReason::error)?);
        Ok(())
    }

    async fn handle_message(&mut self, ctx: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        let token = self.token.ok_or(ExitReason::Normal)?;
        let msg = match msg.downcast::<u64>() {
            Ok(n) => return ctx.send_event(self.name, token, n).map_err(ExitReason::error),
            Err(m) => m,
        };
        let msg = match msg.downcast::<String>() {
            Ok(text) => return ctx.send_event(self.name, token, text).map_err(ExitReason::error),
            Err(m) => m,
        };
        if msg.is::<ergors::MessageEventStart>() {
            let _ = self.report.send("start");
        } else if msg.is::<ergors::MessageEventStop>() {
            let _ = self.report.send("stop");
        } else if let Ok(cmd) = msg.downcast::<&'static str>() {
            match cmd {
                "unregister" => ctx.unregister_event(self.name).map_err(ExitReason::error)?,
                "die" => return Err(ExitReason::error("boom")),
                _ => {}
            }
        }
        Ok(())
    }

    /// Answered after everything sent before (a sync point for the tests).
    async fn handle_call(&mut self, _: &mut Context, _: From, _: Message) -> Result<Option<Message>, ExitReason> {
        Ok(Some(Message::new(())))
    }
}

fn producer(node: &Node, name: &'static str, buffer: usize, notify: bool) -> (Pid, Receiver<&'static str>) {
    let (tx, rx) = channel();
    let p = Producer { name, options: EventOptions { notify, buffer }, token: None, report: tx };
    (node.spawn_wait(p, SpawnOptions::default()).expect("producer"), rx)
}

#[derive(Debug, PartialEq)]
enum Seen {
    Event(u64),
    Text(String),
    Down(Target, ExitReason),
    Exit(Target, ExitReason),
    Marker,
}

/// Links to (trapping exits) and/or monitors an event in init; reports what arrives. `"unlink"`
/// and `"demonitor"` take the relations down.
struct Consumer {
    event: Event,
    link: bool,
    monitor: bool,
    report: Sender<Seen>,
}

impl Actor for Consumer {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        if self.link {
            ctx.set_trap_exit(true);
            let buffered = ctx.link_event(self.event.clone()).map_err(ExitReason::error)?;
            assert!(buffered.is_empty(), "a remote event's buffer arrives as messages");
        }
        if self.monitor {
            let buffered = ctx.monitor_event(self.event.clone()).map_err(ExitReason::error)?;
            assert!(buffered.is_empty(), "a remote event's buffer arrives as messages");
        }
        Ok(())
    }

    async fn handle_event(&mut self, _: &mut Context, event: MessageEvent) -> Result<(), ExitReason> {
        assert_eq!(event.event(), &self.event);
        if let Some(n) = event.message::<u64>() {
            let _ = self.report.send(Seen::Event(*n));
        }
        if let Some(text) = event.message::<String>() {
            let _ = self.report.send(Seen::Text(text.clone()));
        }
        Ok(())
    }

    async fn handle_message(&mut self, ctx: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        let msg = match msg.downcast::<ergors::MessageDown>() {
            Ok(down) => {
                let _ = self.report.send(Seen::Down(down.target, down.reason));
                return Ok(());
            }
            Err(m) => m,
        };
        let msg = match msg.downcast::<ergors::MessageExit>() {
            Ok(exit) => {
                let _ = self.report.send(Seen::Exit(exit.target, exit.reason));
                return Ok(());
            }
            Err(m) => m,
        };
        match msg.downcast::<&'static str>() {
            Ok("marker") => {
                let _ = self.report.send(Seen::Marker);
            }
            Ok("unlink") => ctx.unlink(self.event.clone()).map_err(ExitReason::error)?,
            Ok("demonitor") => ctx.demonitor(self.event.clone()).map_err(ExitReason::error)?,
            _ => {}
        }
        Ok(())
    }
}

fn consumer(node: &Node, event: &Event, link: bool, monitor: bool) -> (Pid, Receiver<Seen>) {
    let (tx, rx) = channel();
    let c = Consumer { event: event.clone(), link, monitor, report: tx };
    (node.spawn(c, SpawnOptions::default()).expect("consumer"), rx)
}

#[track_caller]
fn next(rx: &Receiver<Seen>) -> Seen {
    rx.recv_timeout(PATIENCE).expect("something arrives")
}

#[test]
fn remote_consumers_get_the_buffer_then_every_message_in_order() {
    let (a, b, a_name) = pair("order");
    let (p, _) = producer(&a, "news", 2, false);
    for n in 1..=3u64 {
        a.send(p, n).expect("published");
    }
    a.call(p, ()).expect("all three published");
    let event = Event { name: "news".into(), node: a_name };
    let consumers =
        [consumer(&b, &event, false, true), consumer(&b, &event, true, false), consumer(&b, &event, true, true)];
    // Each gets the last two buffered messages as its subscription is answered.
    for (_, rx) in &consumers {
        assert_eq!((next(rx), next(rx)), (Seen::Event(2), Seen::Event(3)));
    }
    for n in 4..=200u64 {
        a.send(p, n).expect("published");
    }
    // Every consumer, the one that both links and monitors too, gets each message once, in order.
    for (_, rx) in &consumers {
        for n in 4..=200u64 {
            assert_eq!(next(rx), Seen::Event(n));
        }
    }
}

#[test]
fn an_unregistered_event_brings_each_remote_consumer_its_down_or_exit() {
    let (a, b, a_name) = pair("unreg");
    let (p, _) = producer(&a, "feed", 1, false);
    a.send(p, 0u64).expect("published");
    let event = Event { name: "feed".into(), node: a_name };
    let (_, monitor) = consumer(&b, &event, false, true);
    let (_, link) = consumer(&b, &event, true, false);
    assert_eq!(next(&monitor), Seen::Event(0));
    assert_eq!(next(&link), Seen::Event(0));
    a.send(p, "unregister").expect("told");
    let target = Target::Event(event);
    assert_eq!(next(&monitor), Seen::Down(target.clone(), ExitReason::Unregistered));
    assert_eq!(next(&link), Seen::Exit(target, ExitReason::Unregistered));
}

#[test]
fn a_producer_that_ends_ends_its_event_with_its_reason() {
    let (a, b, a_name) = pair("death");
    let (p, _) = producer(&a, "beat", 1, false);
    a.send(p, 0u64).expect("published");
    let event = Event { name: "beat".into(), node: a_name };
    let (_, monitor) = consumer(&b, &event, false, true);
    assert_eq!(next(&monitor), Seen::Event(0));
    a.send(p, "die").expect("told");
    assert_eq!(next(&monitor), Seen::Down(Target::Event(event), ExitReason::error("boom")));
}

#[test]
fn an_unknown_remote_event_fires_the_relation_at_once() {
    let (_a, b, a_name) = pair("unknown");
    let event = Event { name: "nothing".into(), node: a_name };
    let (_, monitor) = consumer(&b, &event, false, true);
    assert_eq!(next(&monitor), Seen::Down(Target::Event(event), ExitReason::Error("unknown event".into())));
}

#[test]
fn a_lost_connection_fires_each_relation_once_with_no_connection() {
    let (a, b, a_name) = pair("lost");
    let (p, _) = producer(&a, "pulse", 1, false);
    a.send(p, 0u64).expect("published");
    let event = Event { name: "pulse".into(), node: a_name };
    let (c, both) = consumer(&b, &event, true, true);
    assert_eq!(next(&both), Seen::Event(0));
    drop(a);
    let target = Target::Event(event);
    let mut fired = vec![next(&both), next(&both)];
    fired.sort_by_key(|s| matches!(s, Seen::Exit(..)));
    assert_eq!(
        fired,
        vec![Seen::Down(target.clone(), ExitReason::NoConnection), Seen::Exit(target, ExitReason::NoConnection)]
    );
    // Nothing more fired before a message sent after the loss.
    b.send(c, "marker").expect("sent");
    assert_eq!(next(&both), Seen::Marker);
}

#[test]
fn the_producer_forgets_remote_consumers_that_leave_or_whose_node_goes() {
    let (a, b, a_name) = pair("forget");
    let (p, notes) = producer(&a, "ticks", 1, true);
    a.send(p, 0u64).expect("published");
    let event = Event { name: "ticks".into(), node: a_name };
    // A consumer that unlinks: the producer hears the first arrive and the last leave.
    let (c, rx) = consumer(&b, &event, true, false);
    assert_eq!(next(&rx), Seen::Event(0));
    assert_eq!(notes.recv_timeout(PATIENCE), Ok("start"));
    b.send(c, "unlink").expect("sent");
    assert_eq!(notes.recv_timeout(PATIENCE), Ok("stop"));
    // A consumer whose node goes away: dropped from the event's tables with its connection.
    let (_, rx) = consumer(&b, &event, false, true);
    assert_eq!(next(&rx), Seen::Event(0));
    assert_eq!(notes.recv_timeout(PATIENCE), Ok("start"));
    drop(b);
    assert_eq!(notes.recv_timeout(PATIENCE), Ok("stop"));
    // Publishing goes on, to nobody.
    a.send(p, 1u64).expect("published");
    assert!(a.process_info(p).is_ok());
}

/// Answers calls with what it got, and sends back whatever it is sent.
struct Echo;

impl Actor for Echo {
    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(s) = msg.downcast::<String>() {
            ctx.send(from, s).map_err(ExitReason::error)?;
        }
        Ok(())
    }

    async fn handle_call(&mut self, _: &mut Context, _: From, req: Message) -> Result<Option<Message>, ExitReason> {
        Ok(Some(req))
    }
}

/// Sets its compression in init (and checks what it reads back), then calls and sends `texts`
/// to `to`, reporting every answer and echo.
struct Compressing {
    to: ProcessId,
    kind: CompressionType,
    texts: Vec<String>,
    report: Sender<Result<String, Error>>,
}

impl Actor for Compressing {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.set_compression(true);
        ctx.set_compression_type(self.kind);
        assert_eq!(
            ctx.set_compression_threshold(100),
            Err(Error::NotAllowed("a compression threshold below 1024 bytes"))
        );
        ctx.set_compression_threshold(2048).map_err(ExitReason::error)?;
        let c = ctx.compression();
        assert!(c.enabled && c.kind == self.kind && c.threshold == 2048, "{c:?}");
        for text in self.texts.clone() {
            let answer =
                ctx.call(self.to.clone(), text.clone()).await.map(|m| m.downcast::<String>().unwrap_or_default());
            let _ = self.report.send(answer);
            ctx.send(self.to.clone(), text).map_err(ExitReason::error)?;
        }
        Ok(())
    }

    async fn handle_message(&mut self, _: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        let _ = self.report.send(msg.downcast::<String>().map_err(|_| Error::ProcessUnknown));
        Ok(())
    }
}

fn texts() -> Vec<String> {
    // Below the threshold, just above it, and far above (compressible and not).
    let noise: String = (0..40_000u32).map(|i| char::from(b'a' + ((i * 7919 + i / 13) % 26) as u8)).collect();
    vec!["short".into(), "x".repeat(2100), "abc".repeat(15_000), noise]
}

#[test]
fn compressed_sends_and_calls_round_trip_with_each_algorithm() {
    let (a, b, a_name) = pair("zip");
    let echo = a.spawn(Echo, SpawnOptions::default()).expect("echo");
    a.register_name("echo", echo).expect("named");
    // The echo compresses its answers too (gzip, best size, from its spawn options).
    let answering =
        Compression { level: ergors::net::CompressionLevel::BestSize, ..Compression::on(CompressionType::Gzip) };
    let echo2 = a.spawn(Echo, SpawnOptions::default().compression(answering)).expect("echo");
    a.register_name("echo2", echo2).expect("named");
    for (kind, name) in
        [(CompressionType::Gzip, "echo"), (CompressionType::Zlib, "echo2"), (CompressionType::Lzw, "echo")]
    {
        let (tx, rx) = channel();
        let to = ProcessId { name: name.into(), node: a_name };
        b.spawn(Compressing { to, kind, texts: texts(), report: tx }, SpawnOptions::default()).expect("sender");
        // Each text comes back from its call, then (handled after init) as messages, in order.
        for text in texts() {
            assert_eq!(rx.recv_timeout(PATIENCE).expect("answer"), Ok(text), "{kind:?} call");
        }
        for text in texts() {
            assert_eq!(rx.recv_timeout(PATIENCE).expect("echo"), Ok(text), "{kind:?} send");
        }
    }
}

#[test]
fn a_node_default_compression_applies_to_every_process_and_to_events() {
    let (a, b, a_name) = pair_with("zipnode", Compression::on(CompressionType::Zlib));
    let echo = a.spawn(Echo, SpawnOptions::default()).expect("echo");
    a.register_name("echo", echo).expect("named");
    let to = ProcessId { name: "echo".into(), node: a_name };
    for text in texts() {
        let answer = b.call(to.clone(), text.clone()).expect("answered");
        assert_eq!(answer.downcast::<String>().ok(), Some(text));
    }
    // Events from a producer on a compressing node reach the other node.
    let (p, _) = producer(&a, "zipped", 1, false);
    a.send(p, 7u64).expect("published");
    let (_, rx) = consumer(&b, &Event { name: "zipped".into(), node: a_name }, false, true);
    assert_eq!(next(&rx), Seen::Event(7));
    a.send(p, 8u64).expect("published");
    assert_eq!(next(&rx), Seen::Event(8));
}

#[test]
fn a_remote_consumer_that_ends_leaves_the_event() {
    let (a, b, a_name) = pair("leave");
    let (p, notes) = producer(&a, "bell", 1, true);
    a.send(p, 0u64).expect("published");
    let (c, rx) = consumer(&b, &Event { name: "bell".into(), node: a_name }, false, true);
    assert_eq!(next(&rx), Seen::Event(0));
    assert_eq!(notes.recv_timeout(PATIENCE), Ok("start"));
    b.kill(c).expect("killed");
    assert_eq!(notes.recv_timeout(PATIENCE), Ok("stop"));
}

#[test]
fn a_compressing_producer_sends_its_large_events_compressed_on_the_wire() {
    // One link (pool of 1), through a relay that counts what a sends to b.
    let zlib = Compression::on(CompressionType::Zlib);
    let a_name = "a-ev-zipwire@localhost";
    let net = NetworkOptions::enabled("secret", "127.0.0.1:0".parse().unwrap())
        .registrar_port(0)
        .pool_size(1)
        .compression(zlib);
    let a = Node::start(a_name, NodeOptions::default().workers(2).network(net)).expect("a");
    let relay = counting_relay(a.handle().network_address().expect("a listens"));
    let b = start("b-ev-zipwire@localhost", &[(a_name, relay.addr)], Compression::default());
    let (p, started) = producer(&a, "zipwire", 0, true);
    b.connect(Atom::new(a_name)).expect("connected through the relay");
    let (_, rx) = consumer(&b, &Event { name: "zipwire".into(), node: Atom::new(a_name) }, false, true);
    assert_eq!(started.recv_timeout(PATIENCE).expect("subscribed"), "start");
    assert!(relay.downstream() > 0);
    let before = relay.downstream();
    // Under EDF's 65,535-byte limit for a string.
    let text = "z".repeat(60_000);
    a.send(p, text.clone()).expect("published");
    assert_eq!(next(&rx), Seen::Text(text));
    let carried = relay.downstream() - before;
    assert!(carried < 6_000, "60,000 bytes of one letter took {carried} bytes on the wire");
}
