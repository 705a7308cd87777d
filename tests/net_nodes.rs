//! Two ergors nodes in one OS process, connected over loopback: the handshake on the rings,
//! then sends and calls to remote Pids and names, both ways (Ergo's 002_distributed basics).

mod support;

use ergors::net::edf::Registry;
use ergors::net::{NetworkMode, NetworkOptions};
use ergors::{Actor, Atom, Context, Error, ExitReason, From, Message, Node, NodeOptions, Pid, ProcessId, SpawnOptions};
use std::sync::mpsc::{Sender, channel};
use support::*;

/// A user type both nodes know by its Go name.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}
ergors::edf_struct!(Point = "#gopeer/types/Point" { x: i32, y: i32 });

/// The network options of a test node: no registrar (tests run in parallel, and CI may have port
/// 4499 in use) unless a test asks for its own.
fn test_net(cookie: &str, listen: std::net::SocketAddr) -> NetworkOptions {
    NetworkOptions::enabled(cookie, listen).registrar_port(0)
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register::<Point>().expect("register Point");
    r
}

fn start(name: &str, cookie: &str, routes: &[(&str, std::net::SocketAddr)]) -> Node {
    let mut net = test_net(cookie, "127.0.0.1:0".parse().unwrap()).registry(registry());
    for (n, a) in routes {
        net = net.route(*n, *a);
    }
    Node::start(name, NodeOptions::default().workers(2).network(net)).expect("node starts")
}

/// Echoes strings and points back to the sender; answers calls with what it got.
struct Echo;

impl Actor for Echo {
    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        let msg = match msg.downcast::<String>() {
            Ok(s) => return ctx.send(from, format!("echo: {s}")).map_err(ExitReason::error),
            Err(m) => m,
        };
        if let Ok(p) = msg.downcast::<Point>() {
            ctx.send(from, Point { x: p.y, y: p.x }).map_err(ExitReason::error)?;
        }
        Ok(())
    }

    async fn handle_call(
        &mut self,
        _ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        match req.downcast::<String>() {
            Ok(s) => Ok(Some(Message::new(format!("called: {s}")))),
            Err(other) => Ok(Some(other)),
        }
    }
}

/// Sends one message to `to` in init and reports what comes back (and from whom).
struct Asker {
    to: ergors::To,
    text: String,
    report: Sender<(Pid, Message)>,
}

impl Actor for Asker {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.send(self.to.clone(), self.text.clone()).map_err(ExitReason::error)
    }

    async fn handle_message(&mut self, _ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        let _ = self.report.send((from, msg));
        Ok(())
    }
}

fn pair(tag: &str) -> (Node, Node, Atom) {
    let a = start(&format!("a-{tag}@localhost"), "secret", &[]);
    let addr = a.handle().network_address().expect("a listens");
    let b = start(&format!("b-{tag}@localhost"), "secret", &[(&format!("a-{tag}@localhost"), addr)]);
    (a, b, Atom::new(&format!("a-{tag}@localhost")))
}

#[test]
fn a_message_by_name_reaches_the_other_node_and_the_reply_comes_back_by_pid() {
    let (a, b, a_name) = pair("name");
    a.spawn(Echo, SpawnOptions::default()).and_then(|p| a.register_name("echo", p)).expect("echo");
    let (tx, rx) = channel();
    let to = ProcessId { name: "echo".into(), node: a_name };
    b.spawn(Asker { to: to.into(), text: "hi".into(), report: tx }, SpawnOptions::default()).expect("asker");
    let (from, msg) = rx.recv_timeout(PATIENCE).expect("a reply from the other node");
    assert_eq!(from.node, a_name, "the reply comes from a process of node a");
    assert_eq!(msg.downcast::<String>().ok(), Some("echo: hi".to_string()));
    assert_eq!(b.handle().peers(), vec![a_name]);
    assert!(eventually(|| a.handle().peers().len() == 1), "a sees b connected too");
}

#[test]
fn a_call_to_a_remote_name_gets_the_reply() {
    let (a, b, a_name) = pair("call");
    a.spawn(Echo, SpawnOptions::default()).and_then(|p| a.register_name("echo", p)).expect("echo");
    let to = ProcessId { name: "echo".into(), node: a_name };
    let reply = b.call(to.clone(), String::from("ping")).expect("the call is answered");
    assert_eq!(reply.downcast::<String>().ok(), Some("called: ping".to_string()));
    // A registered user type crosses as itself.
    let reply = b.call(to, Point { x: 1, y: 2 }).expect("the call is answered");
    assert_eq!(reply.downcast::<Point>().ok(), Some(Point { x: 1, y: 2 }));
}

#[test]
fn a_call_to_an_unknown_remote_name_fails_at_once() {
    let (_a, b, a_name) = pair("unknown");
    let to = ProcessId { name: "nobody".into(), node: a_name };
    let err = b.call(to, String::from("ping")).expect_err("nobody answers");
    assert_eq!(err, Error::ProcessUnknown, "the other node says so (not a timeout)");
}

#[test]
fn a_message_no_registered_type_describes_is_refused_at_the_sender() {
    #[derive(Debug)]
    struct Unregistered;
    let (_a, b, a_name) = pair("unregistered");
    let _ = b.call(ProcessId { name: "warmup".into(), node: a_name }, String::from("x"));
    let err = b.send(ProcessId { name: "echo".into(), node: a_name }, Unregistered).expect_err("cannot encode");
    assert!(matches!(err, Error::Encode(_)), "{err:?}");
}

#[test]
fn a_wrong_cookie_fails_the_connection_and_the_waiting_call() {
    let a = start("a-cookie@localhost", "secret", &[]);
    let addr = a.handle().network_address().expect("a listens");
    let b = start("b-cookie@localhost", "wrong", &[("a-cookie@localhost", addr)]);
    let to = ProcessId { name: "echo".into(), node: Atom::new("a-cookie@localhost") };
    let err = b.call(to, String::from("ping")).expect_err("no connection");
    assert_eq!(err, Error::NoConnection(Atom::new("a-cookie@localhost")));
    assert!(b.handle().peers().is_empty());
    assert!(a.handle().peers().is_empty());
}

#[test]
fn a_node_without_a_route_or_network_has_no_connection() {
    let plain = Node::start("plain@localhost", NodeOptions::default().workers(1)).expect("node");
    let to = ProcessId { name: "echo".into(), node: Atom::new("elsewhere@localhost") };
    assert_eq!(plain.send(to.clone(), String::from("x")), Err(Error::NoConnection(Atom::new("elsewhere@localhost"))));
    let net = start("lonely@localhost", "secret", &[]);
    assert_eq!(net.send(to, String::from("x")), Err(Error::NoConnection(Atom::new("elsewhere@localhost"))));
    assert_eq!(NetworkOptions::default().mode, NetworkMode::Disabled);
}

#[test]
fn a_connection_opens_its_pool_of_links_and_sends_spread_over_them() {
    let (a, b, a_name) = pair("pool");
    a.spawn(Echo, SpawnOptions::default()).and_then(|p| a.register_name("echo", p)).expect("echo");
    let to = ProcessId { name: "echo".into(), node: a_name };
    b.call(to.clone(), String::from("first")).expect("connected");
    // The dialer joins two more links (the acceptor's default pool of 3).
    assert!(eventually(|| b.peer_info(a_name).is_some_and(|p| p.links == 3)), "{:?}", b.peer_info(a_name));
    let b_name = b.handle().name();
    assert!(eventually(|| a.peer_info(b_name).is_some_and(|p| p.links == 3)), "{:?}", a.peer_info(b_name));
    // Calls from many processes go over every link and all come back.
    for i in 0..50 {
        let reply = b.call(to.clone(), format!("n{i}")).expect("answered");
        assert_eq!(reply.downcast::<String>().ok(), Some(format!("called: n{i}")));
    }
}

/// Keeps every request unanswered.
struct Silent;

impl Actor for Silent {
    async fn handle_call(&mut self, _: &mut Context, _: From, _: Message) -> Result<Option<Message>, ExitReason> {
        Ok(None)
    }
}

#[test]
fn a_call_waiting_on_a_node_that_goes_away_fails_with_no_connection() {
    let (a, b, a_name) = pair("gone");
    a.spawn(Silent, SpawnOptions::default()).and_then(|p| a.register_name("silent", p)).expect("silent");
    let to = ProcessId { name: "silent".into(), node: a_name };
    let caller = std::thread::spawn({
        let b = b.handle();
        move || b.call_timeout(to, String::from("anyone?"), std::time::Duration::from_secs(60))
    });
    assert!(eventually(|| b.peer_info(a_name).is_some()), "connected");
    drop(a);
    let outcome = caller.join().expect("the caller returns");
    assert_eq!(outcome.expect_err("no answer can come"), Error::NoConnection(a_name));
    assert!(eventually(|| b.peer_info(a_name).is_none()), "the peer is gone");
}

/// Ends with `boom` when told to.
struct Victim;

impl Actor for Victim {
    async fn handle_message(&mut self, _: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<&'static str>() { Err(ExitReason::error("boom")) } else { Ok(()) }
    }
}

/// Connects `b` to `a` (a call to a name nobody has is answered at once).
fn connect(b: &Node, a_name: Atom) {
    let _ = b.call(ProcessId { name: "nobody".into(), node: a_name }, String::from("hello"));
    assert!(b.peer_info(a_name).is_some(), "connected");
}

#[test]
fn a_monitor_and_a_link_on_a_remote_pid_fire_with_its_reason() {
    let (a, b, a_name) = pair("watchpid");
    connect(&b, a_name);
    let victim = a.spawn(Victim, SpawnOptions::default()).expect("victim");
    let monitor = watch(&b, victim, false);
    let link = watch(&b, victim, true);
    // Both relations are recorded on a before the victim goes (a's side answers the requests).
    assert!(eventually(|| a.process_info(victim).is_ok_and(|i| i.monitored_by + i.linked_by == 2)));
    a.send(victim, "die").expect("told");
    let boom = ExitReason::error("boom");
    assert_eq!(monitor.recv_timeout(PATIENCE).expect("down"), (ergors::Target::Pid(victim), boom.clone()));
    assert_eq!(link.recv_timeout(PATIENCE).expect("exit"), (ergors::Target::Pid(victim), boom));
}

#[test]
fn a_monitor_on_a_remote_name_fires_when_its_process_ends() {
    let (a, b, a_name) = pair("watchname");
    connect(&b, a_name);
    let victim = a.spawn(Victim, SpawnOptions::default()).and_then(|p| a.register_name("victim", p).map(|()| p));
    let victim = victim.expect("victim");
    let target = ProcessId { name: "victim".into(), node: a_name };
    let down = watch(&b, target.clone(), false);
    assert!(eventually(|| a.process_info(victim).is_ok_and(|i| i.monitored_by == 1)));
    a.send(victim, "die").expect("told");
    assert_eq!(down.recv_timeout(PATIENCE).expect("down"), (ergors::Target::Name(target), ExitReason::error("boom")));
}

#[test]
fn a_monitor_on_a_remote_pid_that_is_gone_fires_at_once() {
    let (a, b, a_name) = pair("watchgone");
    connect(&b, a_name);
    let gone = a.spawn(Victim, SpawnOptions::default()).expect("victim");
    a.send(gone, "die").expect("told");
    assert!(eventually(|| a.process_info(gone).is_err()));
    let down = watch(&b, gone, false);
    let (target, reason) = down.recv_timeout(PATIENCE).expect("down");
    assert_eq!((target, reason), (ergors::Target::Pid(gone), ExitReason::Error("unknown process".into())));
}

#[test]
fn relations_on_a_node_that_goes_away_fire_with_no_connection() {
    let (a, b, a_name) = pair("watchnode");
    connect(&b, a_name);
    let victim = a.spawn(Victim, SpawnOptions::default()).expect("victim");
    let on_pid = watch(&b, victim, false);
    let on_node = watch(&b, ergors::Target::Node(a_name), false);
    assert!(eventually(|| a.process_info(victim).is_ok_and(|i| i.monitored_by == 1)));
    drop(a);
    assert_eq!(on_pid.recv_timeout(PATIENCE).expect("down"), (ergors::Target::Pid(victim), ExitReason::NoConnection));
    assert_eq!(on_node.recv_timeout(PATIENCE).expect("down"), (ergors::Target::Node(a_name), ExitReason::NoConnection));
}

#[test]
fn links_that_end_with_their_network_process_leave_no_stale_connection_behind() {
    let (a, b, a_name) = pair("corekilled");
    connect(&b, a_name);
    let b_name = b.name();
    assert!(eventually(|| a.peers() == vec![b_name]));
    let target = b.spawn(Victim, SpawnOptions::default()).expect("a process on b");
    let down = watch(&a, target, false);
    assert!(eventually(|| b.process_info(target).is_ok_and(|i| i.monitored_by == 1)));
    // The link metas end with their parent, the network process, mid-await: the connection is
    // taken down as if it were lost, not left registered with no one writing to it.
    let core = a
        .processes()
        .into_iter()
        .find(|p| a.process_info(*p).is_ok_and(|i| i.behaviour.ends_with("NetCore")))
        .expect("the network process");
    a.kill(core).expect("killed");
    assert_eq!(down.recv_timeout(PATIENCE).expect("down"), (ergors::Target::Pid(target), ExitReason::NoConnection));
    assert!(eventually(|| a.peers().is_empty()), "a forgot b");
    assert!(eventually(|| b.peers().is_empty()), "b saw the connection go");
}

#[test]
fn an_exit_signal_reaches_a_process_of_another_node() {
    let (a, b, a_name) = pair("exit");
    connect(&b, a_name);
    let victim = a.spawn(Victim, SpawnOptions::default()).expect("victim");
    let down = watch(&a, victim, false);
    assert!(eventually(|| a.process_info(victim).is_ok_and(|i| i.monitored_by == 1)), "watched");
    b.send_exit(victim, ExitReason::error("go away")).expect("sent");
    assert_eq!(down.recv_timeout(PATIENCE).expect("down"), (ergors::Target::Pid(victim), ExitReason::error("go away")));
}

#[test]
fn pids_of_a_restarted_node_earlier_run_are_unknown() {
    let a = start("a-restart@localhost", "secret", &[]);
    let addr = a.handle().network_address().expect("a listens");
    let b = start("b-restart@localhost", "secret", &[("a-restart@localhost", addr)]);
    let a_name = Atom::new("a-restart@localhost");
    let old = a.spawn(Echo, SpawnOptions::default()).expect("echo");
    assert_eq!(
        b.call(old, String::from("x")).ok().and_then(|m| m.downcast::<String>().ok()).as_deref(),
        Some("called: x")
    );
    drop(a);
    assert!(eventually(|| b.peer_info(a_name).is_none()), "b saw a go");
    let net = test_net("secret", addr).registry(registry());
    let a = Node::start("a-restart@localhost", NodeOptions::default().workers(2).network(net)).expect("a again");
    let new = a.spawn(Echo, SpawnOptions::default()).expect("echo");
    assert_eq!(b.call(old, String::from("x")).expect_err("the old run's pid"), Error::ProcessUnknown);
    assert!(b.call(new, String::from("y")).is_ok(), "the new run's pid answers");
    assert_ne!(b.peer_info(a_name).map(|p| p.creation), Some(old.creation));
}

#[test]
fn two_nodes_dialling_each_other_at_once_end_with_one_working_connection() {
    for round in 0..5 {
        let (pa, pb) = (free_addr(), free_addr());
        let (na, nb) = (format!("a-both{round}@localhost"), format!("b-both{round}@localhost"));
        let a = Node::start(
            &na,
            NodeOptions::default().workers(2).network(test_net("secret", pa).registry(registry()).route(&nb, pb)),
        )
        .expect("a");
        let b = Node::start(
            &nb,
            NodeOptions::default().workers(2).network(test_net("secret", pb).registry(registry()).route(&na, pa)),
        )
        .expect("b");
        a.spawn(Echo, SpawnOptions::default()).and_then(|p| a.register_name("echo", p)).expect("echo a");
        b.spawn(Echo, SpawnOptions::default()).and_then(|p| b.register_name("echo", p)).expect("echo b");
        let (to_a, to_b) = (
            ProcessId { name: "echo".into(), node: Atom::new(&na) },
            ProcessId { name: "echo".into(), node: Atom::new(&nb) },
        );
        let (ha, hb) = (a.handle(), b.handle());
        let ta = std::thread::spawn(move || ha.call(to_b, String::from("from a")));
        let tb = std::thread::spawn(move || hb.call(to_a, String::from("from b")));
        let (ra, rb) = (ta.join().expect("a's caller"), tb.join().expect("b's caller"));
        // Neither call is lost to the tie-break (D206): a dial refused by the winner leaves its
        // sends for the winning connection, and a displaced connection hands its calls over and
        // drains (D226). Both nodes settle on the same single connection.
        for r in [&ra, &rb] {
            assert!(r.is_ok(), "round {round}: {ra:?} {rb:?}");
        }
        let (to_a, to_b) = (
            ProcessId { name: "echo".into(), node: Atom::new(&na) },
            ProcessId { name: "echo".into(), node: Atom::new(&nb) },
        );
        assert!(eventually(|| a.call(to_b.clone(), String::from("again")).is_ok()), "round {round}");
        assert!(eventually(|| b.call(to_a.clone(), String::from("again")).is_ok()), "round {round}");
        assert_eq!(a.peers().len(), 1);
        assert_eq!(b.peers().len(), 1);
    }
}

fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port")
}

#[test]
fn a_large_message_crosses_with_zero_copy_sends_and_comes_back_whole() {
    let (a, b, a_name) = pair("large");
    a.spawn(Echo, SpawnOptions::default()).and_then(|p| a.register_name("echo", p)).expect("echo");
    let to = ProcessId { name: "echo".into(), node: a_name };
    // Over the 64 KiB zero-copy threshold both ways (the echo answers with the request itself).
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let reply = b.call(to, big.clone()).expect("answered");
    assert_eq!(reply.downcast::<Vec<u8>>().ok(), Some(big));
}

#[test]
fn heartbeats_keep_an_idle_link_up_and_a_silent_peer_is_dropped() {
    let tick = std::time::Duration::from_millis(50);
    let net = |cookie| test_net(cookie, "127.0.0.1:0".parse().unwrap()).registry(registry()).tick(tick);
    let a = Node::start("a-tick@localhost", NodeOptions::default().workers(1).network(net("secret").pool_size(1)))
        .expect("a");
    let relay = counting_relay(a.handle().network_address().expect("a listens"));
    let b = Node::start(
        "b-tick@localhost",
        NodeOptions::default().workers(1).network(net("secret").route("a-tick@localhost", relay.addr)),
    )
    .expect("b");
    let a_name = Atom::new("a-tick@localhost");
    connect(&b, a_name);
    // Idle for many ticks: the heartbeats keep it.
    std::thread::sleep(tick * 10);
    assert!(b.peer_info(a_name).is_some(), "an idle link with heartbeats stays");
    // The relay goes silent without closing: b drops the link after three silent ticks.
    relay.mute.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(eventually(|| b.peer_info(a_name).is_none()), "a silent peer is dropped");
}

#[test]
fn a_node_found_through_the_registrar_of_its_host() {
    let port = free_addr().port();
    let with_registrar = |name: &str| {
        let net = test_net("secret", "127.0.0.1:0".parse().unwrap()).registry(registry()).registrar_port(port);
        Node::start(name, NodeOptions::default().workers(2).network(net)).expect("node")
    };
    // The first node hosts the registrar (the port was free) and registers there; the second
    // registers with it; neither has a static route to the other.
    let a = with_registrar("a-reg@localhost");
    let b = with_registrar("b-reg@localhost");
    a.spawn(Echo, SpawnOptions::default()).and_then(|p| a.register_name("echo", p)).expect("echo a");
    b.spawn(Echo, SpawnOptions::default()).and_then(|p| b.register_name("echo", p)).expect("echo b");
    let on = |node: &str| ProcessId { name: "echo".into(), node: Atom::new(node) };
    let reply = b.call(on("a-reg@localhost"), String::from("via the registrar"));
    assert_eq!(reply.ok().and_then(|m| m.downcast::<String>().ok()).as_deref(), Some("called: via the registrar"));
    let reply = a.call(on("b-reg@localhost"), String::from("and back"));
    assert_eq!(reply.ok().and_then(|m| m.downcast::<String>().ok()).as_deref(), Some("called: and back"));
    // A name the registrar does not know: the call fails at once.
    let err = b.call(on("nobody-reg@localhost"), String::from("?")).expect_err("unknown");
    assert_eq!(err, Error::NoConnection(Atom::new("nobody-reg@localhost")));
    // A second node of an existing name is refused at start.
    let net = test_net("secret", "127.0.0.1:0".parse().unwrap()).registrar_port(port);
    assert!(Node::start("a-reg@localhost", NodeOptions::default().workers(1).network(net)).is_err());
}

#[test]
fn a_dial_to_an_address_that_never_answers_fails_the_waiting_call_with_no_connection() {
    // Not routable: the connect either fails at once or hangs until the 3 s connect timeout.
    let blackhole: std::net::SocketAddr = "10.255.255.1:11144".parse().unwrap();
    let b = start("b-blackhole@localhost", "secret", &[("far@localhost", blackhole)]);
    let to = ProcessId { name: "echo".into(), node: Atom::new("far@localhost") };
    let outcome = b.call_timeout(to, String::from("anyone?"), std::time::Duration::from_secs(60));
    assert_eq!(outcome.expect_err("nobody there"), Error::NoConnection(Atom::new("far@localhost")));
}

#[test]
fn a_busy_listening_port_is_scanned_upward_within_the_port_range() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("address").port();
    let listen: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // The range ends at the busy port: the start fails, naming the range.
    let net = test_net("secret", listen).port_range(port);
    let Err(err) = Node::start("a-range-none@localhost", NodeOptions::default().workers(1).network(net)) else {
        panic!("started with no free port in the range");
    };
    assert!(err.to_string().contains("no free port"), "{err}");
    // With room above it, the acceptor takes a port after the busy one, within the range.
    let net = test_net("secret", listen).port_range(port.saturating_add(50));
    let a = Node::start("a-range@localhost", NodeOptions::default().workers(1).network(net)).expect("started");
    let got = a.handle().network_address().expect("listening").port();
    assert!(got > port && got <= port.saturating_add(50), "{got} after {port}");
}
