//! Interop with a real Go Ergo node, both directions: the Go side is `ergo-bench peer`
//! (benches/go/interop.go). Runs where that program was built (scripts/bench-vs-go.sh builds it
//! to target/go-bench/ergo-bench; `ERGORS_GO_PEER` names another path) and skips with a message
//! otherwise: CI has no Go toolchain and no copy of Ergo.

mod support;

use ergors::net::NetworkOptions;
use ergors::net::edf::Value;
use ergors::{
    Actor, ApplicationError, ApplicationMode, ApplicationSpec, Atom, ChildSpec, Context, ExitReason, From, Message,
    Node, NodeOptions, Pid, ProcessId, SpawnOptions, Target,
};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use support::*;

fn go_peer() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("ERGORS_GO_PEER")
        .map(Into::into)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/go-bench/ergo-bench"));
    path.exists().then_some(path)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

struct GoNode {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl GoNode {
    fn start(path: &std::path::Path, port: u16, route: &str, route_port: u16, registrar_port: u16) -> GoNode {
        Self::start_with(path, port, route, route_port, registrar_port, &[])
    }

    /// As `start`, with more flags (`-tls`).
    fn start_with(
        path: &std::path::Path,
        port: u16,
        route: &str,
        route_port: u16,
        registrar_port: u16,
        extra: &[&str],
    ) -> GoNode {
        let mut child = Command::new(path)
            .args(["peer", "-name", "go@localhost", "-cookie", "interop", "-port", &port.to_string()])
            .args(["-route", route, "-route-port", &route_port.to_string()])
            .args(["-registrar-port", &registrar_port.to_string()])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the Go peer runs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut go = GoNode { child, stdin, lines };
        assert_eq!(go.next_line(), "READY");
        go
    }

    fn next_line(&mut self) -> String {
        self.lines.recv_timeout(PATIENCE * 2).expect("a line from the Go peer")
    }

    fn command(&mut self, line: &str) -> String {
        writeln!(self.stdin, "{line}").expect("the Go peer reads");
        self.next_line()
    }
}

impl Drop for GoNode {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.wait();
    }
}

/// Echoes strings back to their sender; answers calls.
struct Echo;

impl Actor for Echo {
    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(s) = msg.downcast::<String>() {
            ctx.send(from, format!("echo: {s}")).map_err(ExitReason::error)?;
        }
        Ok(())
    }
    async fn handle_call(&mut self, _: &mut Context, _: From, req: Message) -> Result<Option<Message>, ExitReason> {
        Ok(Some(match req.downcast::<String>() {
            Ok(s) => Message::new(format!("called: {s}")),
            Err(other) => other,
        }))
    }
}

/// Sends one string in init; reports what comes back.
struct Asker {
    to: ProcessId,
    report: Sender<(Pid, String)>,
}

impl Actor for Asker {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.send(self.to.clone(), String::from("hi")).map_err(ExitReason::error)
    }
    async fn handle_message(&mut self, _: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(s) = msg.downcast::<String>() {
            let _ = self.report.send((from, s));
        }
        Ok(())
    }
}

#[test]
fn ergors_and_go_ergo_send_and_call_each_other() {
    let Some(path) = go_peer() else {
        eprintln!(
            "SKIPPED: no Go peer (build benches/go to target/go-bench/ergo-bench, e.g. with scripts/bench-vs-go.sh, \
             or set ERGORS_GO_PEER)"
        );
        return;
    };
    let (rs_port, go_port) = (free_port(), free_port());
    let go_name = Atom::new("go@localhost");
    let net = NetworkOptions::enabled("interop", format!("127.0.0.1:{rs_port}").parse().unwrap())
        .route("go@localhost", format!("127.0.0.1:{go_port}").parse().unwrap())
        .registrar_port(0);
    let node = Node::start("rs@localhost", NodeOptions::default().workers(2).network(net)).expect("node");
    node.spawn(Echo, SpawnOptions::default()).and_then(|p| node.register_name("echo", p)).expect("echo");
    let mut go = GoNode::start(&path, go_port, "rs@localhost", rs_port, free_port());

    // ergors → Go: a call by name, then a send whose reply comes back to a Rust process's Pid.
    let echo = ProcessId { name: "echo".into(), node: go_name };
    let reply = node.call(echo.clone(), String::from("ping")).expect("Go answers the call");
    assert_eq!(reply.downcast::<String>().ok().as_deref(), Some("called: ping"));
    let (tx, rx) = channel();
    node.spawn(Asker { to: echo, report: tx }, SpawnOptions::default()).expect("asker");
    let (from, text) = rx.recv_timeout(PATIENCE).expect("Go's echo comes back");
    assert_eq!((from.node, text.as_str()), (go_name, "echo: hi"));

    // Go → ergors: a call and a send to our registered process, on the connection Go now has.
    assert_eq!(go.command("call rs@localhost echo hello"), "REPLY called: hello");
    assert_eq!(go.command("send rs@localhost echo hey"), "GOT 'rs@localhost' echo: hey");
    assert_eq!(go.command("call rs@localhost nobody x"), "ERROR unknown process");
    // An important message is acknowledged once delivered; one to nobody is refused.
    assert_eq!(go.command("important rs@localhost echo imp"), "DELIVERED");
    assert_eq!(go.next_line(), "GOT 'rs@localhost' echo: imp");
    assert_eq!(go.command("important rs@localhost nobody imp"), "ERROR unknown process");
    // A compressed frame (gzip, Go's default) is inflated and delivered.
    let echoed = go.command("zip rs@localhost echo 5000");
    assert_eq!(echoed, format!("GOT 'rs@localhost' echo: {}", "z".repeat(5000)));
}

#[test]
fn ergors_and_go_ergo_find_each_other_through_the_registrar() {
    let Some(path) = go_peer() else {
        eprintln!("SKIPPED: no Go peer (see the other test)");
        return;
    };
    let registrar = free_port();
    let (rs_port, go_port) = (free_port(), free_port());
    // Go starts first and hosts the registrar; ergors registers with it. No static routes.
    let mut go = GoNode::start(&path, go_port, "", 0, registrar);
    let net =
        NetworkOptions::enabled("interop", format!("127.0.0.1:{rs_port}").parse().unwrap()).registrar_port(registrar);
    let node = Node::start("rs2@localhost", NodeOptions::default().workers(2).network(net)).expect("node");
    node.spawn(Echo, SpawnOptions::default()).and_then(|p| node.register_name("echo", p)).expect("echo");
    let echo = ProcessId { name: "echo".into(), node: Atom::new("go@localhost") };
    let reply = node.call(echo, String::from("resolved")).expect("Go answers");
    assert_eq!(reply.downcast::<String>().ok().as_deref(), Some("called: resolved"));
    assert_eq!(go.command("call rs2@localhost echo found"), "REPLY called: found");
}

/// Publishes every string it is sent on its event "rsev" (buffer 2); `Unregister` ends it.
struct RsProducer(Option<ergors::Ref>);

struct Unregister;

impl Actor for RsProducer {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let options = ergors::EventOptions { notify: false, buffer: 2 };
        self.0 = Some(ctx.register_event("rsev", options).map_err(ExitReason::error)?);
        Ok(())
    }
    async fn handle_message(&mut self, ctx: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        let token = self.0.ok_or(ExitReason::Normal)?;
        match msg.downcast::<String>() {
            Ok(s) => ctx.send_event("rsev", token, s).map_err(ExitReason::error),
            Err(m) if m.is::<Unregister>() => ctx.unregister_event("rsev").map_err(ExitReason::error),
            Err(_) => Ok(()),
        }
    }
}

/// Monitors a remote event in init; reports its messages and its end.
struct RsConsumer {
    event: ergors::Event,
    report: Sender<String>,
}

impl Actor for RsConsumer {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.monitor_event(self.event.clone()).map(drop).map_err(ExitReason::error)
    }
    async fn handle_event(&mut self, _: &mut Context, event: ergors::MessageEvent) -> Result<(), ExitReason> {
        let text = event.message::<String>().cloned().unwrap_or_default();
        let _ = self.report.send(format!("EVENT {text}"));
        Ok(())
    }
    async fn handle_message(&mut self, _: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(down) = msg.downcast::<ergors::MessageDown>() {
            let _ = self.report.send(format!("DOWN {:?} {}", down.target, down.reason));
        }
        Ok(())
    }
}

#[test]
fn ergors_and_go_ergo_consume_each_others_events() {
    let Some(path) = go_peer() else {
        eprintln!("SKIPPED: no Go peer (see the first test)");
        return;
    };
    let (rs_port, go_port) = (free_port(), free_port());
    let go_name = Atom::new("go@localhost");
    let net = NetworkOptions::enabled("interop", format!("127.0.0.1:{rs_port}").parse().unwrap())
        .route("go@localhost", format!("127.0.0.1:{go_port}").parse().unwrap())
        .registrar_port(0);
    let node = Node::start("rs3@localhost", NodeOptions::default().workers(2).network(net)).expect("node");
    let mut go = GoNode::start(&path, go_port, "rs3@localhost", rs_port, free_port());
    let _ = node.call(ProcessId { name: "echo".into(), node: go_name }, String::from("connect")).expect("connected");

    // Go produces, ergors consumes: the buffer arrives with the answer, then each message, then
    // the end with Go's reason.
    assert_eq!(go.command("publish - goev first"), "PUBLISHED");
    let (tx, rx) = channel();
    let event = ergors::Event { name: "goev".into(), node: go_name };
    node.spawn(RsConsumer { event: event.clone(), report: tx }, SpawnOptions::default()).expect("consumer");
    assert_eq!(rx.recv_timeout(PATIENCE).expect("buffered"), "EVENT first");
    assert_eq!(go.command("publish - goev second"), "PUBLISHED");
    assert_eq!(rx.recv_timeout(PATIENCE).expect("published"), "EVENT second");
    assert_eq!(go.command("unregister - goev -"), "UNREGISTERED");
    let down = rx.recv_timeout(PATIENCE).expect("down");
    assert_eq!(down, format!("DOWN {:?} unregistered", ergors::Target::Event(event)));

    // ergors produces, Go consumes: Go's MonitorEvent returns the buffer from our answer.
    let producer = node.spawn_wait(RsProducer(None), SpawnOptions::default()).expect("producer");
    node.send(producer, String::from("one")).expect("published");
    assert_eq!(go.command("monitorevent rs3@localhost rsev -"), "EVENTS [one]");
    node.send(producer, String::from("two")).expect("published");
    assert_eq!(go.next_line(), "EVENT 'rs3@localhost' two");
    node.send(producer, Unregister).expect("told");
    assert_eq!(go.next_line(), "DOWNEVENT 'rsev' unregistered");
}

/// Sends `text` to Go's echo in init (compressed as its spawn options say); reports the echo.
struct BigAsker {
    to: ProcessId,
    text: String,
    report: Sender<String>,
}

impl Actor for BigAsker {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.send(self.to.clone(), self.text.clone()).map_err(ExitReason::error)
    }
    async fn handle_message(&mut self, _: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(s) = msg.downcast::<String>() {
            let _ = self.report.send(s);
        }
        Ok(())
    }
}

#[test]
fn go_ergo_inflates_what_ergors_compresses() {
    use ergors::net::{Compression, CompressionType};
    let Some(path) = go_peer() else {
        eprintln!("SKIPPED: no Go peer (see the first test)");
        return;
    };
    let (rs_port, go_port) = (free_port(), free_port());
    let go_name = Atom::new("go@localhost");
    let net = NetworkOptions::enabled("interop", format!("127.0.0.1:{rs_port}").parse().unwrap())
        .route("go@localhost", format!("127.0.0.1:{go_port}").parse().unwrap())
        .registrar_port(0);
    let node = Node::start("rs4@localhost", NodeOptions::default().workers(2).network(net)).expect("node");
    let _go = GoNode::start(&path, go_port, "rs4@localhost", rs_port, free_port());
    let echo = ProcessId { name: "echo".into(), node: go_name };
    for kind in [CompressionType::Gzip, CompressionType::Zlib, CompressionType::Lzw] {
        let text = format!("{kind:?} ").repeat(2000);
        let (tx, rx) = channel();
        let opts = SpawnOptions::default().compression(Compression::on(kind));
        node.spawn(BigAsker { to: echo.clone(), text: text.clone(), report: tx }, opts).expect("asker");
        assert_eq!(rx.recv_timeout(PATIENCE).expect("Go's echo"), format!("echo: {text}"), "{kind:?}");
    }
}

#[test]
fn ergors_and_go_ergo_talk_over_tls_both_ways() {
    let Some(path) = go_peer() else {
        eprintln!("SKIPPED: no Go peer (see the first test)");
        return;
    };
    use ergors::net::PemSource;
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("a certificate");
    let (cert, key) = (PemSource::Text(made.cert.pem()), PemSource::Text(made.signing_key.serialize_pem()));
    let (rs_port, go_port) = (free_port(), free_port());
    let go_name = Atom::new("go@localhost");
    let go_addr: std::net::SocketAddr = format!("127.0.0.1:{go_port}").parse().unwrap();
    // Our acceptor serves TLS; Go (self-signed certificate, InsecureSkipVerify) dials it first,
    // checking our DigestCert.
    let net = NetworkOptions::enabled("interop", format!("127.0.0.1:{rs_port}").parse().unwrap())
        .tls(cert, key)
        .tls_insecure_skip_verify(true)
        .route_tls("go@localhost", go_addr)
        .registrar_port(0);
    let node = Node::start("rstls@localhost", NodeOptions::default().workers(2).network(net)).expect("node");
    node.spawn(Echo, SpawnOptions::default()).and_then(|p| node.register_name("echo", p)).expect("echo");
    let mut go = GoNode::start_with(&path, go_port, "rstls@localhost", rs_port, free_port(), &["-tls"]);
    assert_eq!(go.command("call rstls@localhost echo over tls"), "REPLY called: over tls");
    assert_eq!(go.command("send rstls@localhost echo hey"), "GOT 'rstls@localhost' echo: hey");
    let echo = ProcessId { name: "echo".into(), node: go_name };
    let reply = node.call(echo.clone(), String::from("back")).expect("Go answers on its connection");
    assert_eq!(reply.downcast::<String>().ok().as_deref(), Some("called: back"));

    // Another ergors node dials Go's TLS acceptor, without a certificate of its own, skipping
    // verification and checking Go's DigestCert.
    let net = NetworkOptions::enabled("interop", "127.0.0.1:0".parse().unwrap())
        .tls_insecure_skip_verify(true)
        .route_tls("go@localhost", go_addr)
        .registrar_port(0);
    let dialer = Node::start("rstls2@localhost", NodeOptions::default().workers(1).network(net)).expect("node");
    let reply = dialer.call(echo, String::from("dialled")).expect("Go answers over TLS");
    assert_eq!(reply.downcast::<String>().ok().as_deref(), Some("called: dialled"));
    assert!(eventually(|| dialer.peer_info(go_name).is_some_and(|p| p.links == 3)), "{:?}", dialer.peer_info(go_name));
}

/// Starts `rs_name` and the Go peer with static routes to each other (no registrar).
fn start_pair(path: &std::path::Path, rs_name: &str) -> (Node, GoNode, Atom) {
    let (rs_port, go_port) = (free_port(), free_port());
    let net = NetworkOptions::enabled("interop", format!("127.0.0.1:{rs_port}").parse().unwrap())
        .route("go@localhost", format!("127.0.0.1:{go_port}").parse().unwrap())
        .registrar_port(0);
    let node = Node::start(rs_name, NodeOptions::default().workers(2).network(net)).expect("node");
    let go = GoNode::start(path, go_port, rs_name, rs_port, free_port());
    (node, go, Atom::new("go@localhost"))
}

/// Answers a call with its greeting and the text it got (made by remote spawns).
struct Greeter(String);

impl Actor for Greeter {
    async fn handle_call(&mut self, _: &mut Context, _: From, req: Message) -> Result<Option<Message>, ExitReason> {
        let text = req.downcast::<String>().unwrap_or_default();
        Ok(Some(Message::new(format!("{} {text}", self.0))))
    }
}

#[test]
fn ergors_and_go_ergo_spawn_processes_on_each_other() {
    let Some(path) = go_peer() else {
        eprintln!("SKIPPED: no Go peer (see the first test)");
        return;
    };
    let (node, mut go, go_name) = start_pair(&path, "rs3@localhost");
    node.enable_spawn(
        "greeter",
        |args: Vec<Value>| match args.first() {
            Some(Value::String(s)) => Greeter(s.clone()),
            _ => Greeter("hello".into()),
        },
        &[],
    )
    .expect("enabled");
    // Go spawns on ergors (its argument reaches our factory), then calls the new process.
    assert_eq!(go.command("spawn rs3@localhost greeter hola"), "SPAWNED hola go");
    assert_eq!(go.command("spawn rs3@localhost nothing x"), "ERROR unknown name");
    // ergors spawns on Go, then calls the new process.
    let pid = node.remote_spawn(go_name, "goecho", SpawnOptions::default(), vec![]).expect("spawned on Go");
    assert_eq!(pid.node, go_name);
    let reply = node.call(pid, String::from("x")).expect("it answers");
    assert_eq!(reply.downcast::<String>().ok().as_deref(), Some("called: x"));
    let refused = node.remote_spawn(go_name, "nothing", SpawnOptions::default(), vec![]);
    assert_eq!(refused, Err(ergors::Error::NameUnknown));
}

#[test]
fn ergors_and_go_ergo_start_applications_on_each_other() {
    let Some(path) = go_peer() else {
        eprintln!("SKIPPED: no Go peer (see the first test)");
        return;
    };
    let (node, mut go, go_name) = start_pair(&path, "rs5@localhost");
    let spec = ApplicationSpec::new("rsapp").member(ChildSpec::new("rsappclerk", || Greeter("hi".into())));
    node.application_load(spec).expect("loaded");
    node.enable_application_start("rsapp", &[]).expect("enabled");
    // Go starts ours (transient); a second start finds it running.
    assert_eq!(go.command("appstart rs5@localhost rsapp -"), "STARTED");
    assert_eq!(node.applications_running(), vec!["rsapp".to_string()]);
    assert_eq!(go.command("call rs5@localhost rsappclerk go"), "REPLY hi go");
    assert_eq!(go.command("appstart rs5@localhost rsapp -"), "ERROR application is in running/stopping state");
    assert_eq!(go.command("appstart rs5@localhost other -"), "ERROR unknown name");
    // We start Go's; its member answers.
    node.remote_application_start(go_name, "goapp", Some(ApplicationMode::Transient)).expect("started on Go");
    let reply = node.call(ProcessId { name: "goappecho".into(), node: go_name }, String::from("x")).expect("answers");
    assert_eq!(reply.downcast::<String>().ok().as_deref(), Some("called: x"));
    let unknown = node.remote_application_start(go_name, "other", None);
    assert_eq!(unknown, Err(ApplicationError::Node(ergors::Error::NameUnknown)));
}

/// Answers a call with its own Pid; ends with `boom` on "die".
struct Victim;

impl Actor for Victim {
    async fn handle_message(&mut self, _: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        match msg.downcast::<String>() {
            Ok(s) if s == "die" => Err(ExitReason::error("boom")),
            _ => Ok(()),
        }
    }
    async fn handle_call(&mut self, ctx: &mut Context, _: From, _: Message) -> Result<Option<Message>, ExitReason> {
        Ok(Some(Message::new(ctx.pid())))
    }
}

/// Links to (trapping exits) or monitors `target` on a Go node, then calls the Go process for
/// its Pid (a round trip after the request) and reports it; then reports what fires. With
/// `kill`, it links to that Pid too and sends it "die" itself (the same link and order as the
/// link request, so Go handles the link first).
struct GoWatcher {
    target: Target,
    link: bool,
    kill: bool,
    report: Sender<Result<Pid, (Target, ExitReason)>>,
}

impl Actor for GoWatcher {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.set_trap_exit(true);
        let name = match &self.target {
            Target::Name(id) => id.clone(),
            _ => return Err(ExitReason::error("a GoWatcher starts from a name")),
        };
        if self.link {
            ctx.link(self.target.clone()).map_err(ExitReason::error)?;
        } else if !self.kill {
            ctx.monitor(self.target.clone()).map_err(ExitReason::error)?;
        }
        let reply = ctx.call(name.clone(), String::from("pid")).await.map_err(ExitReason::error)?;
        let pid = reply.downcast::<Pid>().map_err(|_| ExitReason::error("not a Pid"))?;
        if self.kill {
            ctx.link(pid).map_err(ExitReason::error)?;
            ctx.send(pid, String::from("die")).map_err(ExitReason::error)?;
        }
        let _ = self.report.send(Ok(pid));
        Ok(())
    }
    async fn handle_message(&mut self, _: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        let msg = match msg.downcast::<ergors::MessageDown>() {
            Ok(down) => {
                let _ = self.report.send(Err((down.target, down.reason)));
                return Ok(());
            }
            Err(m) => m,
        };
        if let Ok(exit) = msg.downcast::<ergors::MessageExit>() {
            let _ = self.report.send(Err((exit.target, exit.reason)));
        }
        Ok(())
    }
}

fn go_watch(node: &Node, target: Target, link: bool, kill: bool) -> Receiver<Result<Pid, (Target, ExitReason)>> {
    let (tx, rx) = channel();
    node.spawn(GoWatcher { target, link, kill, report: tx }, SpawnOptions::default()).expect("watcher");
    rx
}

#[test]
fn links_and_monitors_between_ergors_and_go_processes_fire_with_the_reason() {
    let Some(path) = go_peer() else {
        eprintln!("SKIPPED: no Go peer (see the first test)");
        return;
    };
    let (node, mut go, go_name) = start_pair(&path, "rs4@localhost");

    // ergors watches a Go process by name: its end reaches both watchers with its reason (182).
    assert_eq!(go.command("victim v1 - -"), "VICTIM");
    let v1 = Target::Name(ProcessId { name: "v1".into(), node: go_name });
    let monitor = go_watch(&node, v1.clone(), false, false);
    let link = go_watch(&node, v1.clone(), true, false);
    let pid = monitor.recv_timeout(PATIENCE).expect("set up").expect("a Pid");
    assert_eq!(link.recv_timeout(PATIENCE).expect("set up"), Ok(pid));
    node.send(ProcessId { name: "v1".into(), node: go_name }, String::from("die")).expect("told");
    let boom = ExitReason::error("boom");
    assert_eq!(monitor.recv_timeout(PATIENCE).expect("down"), Err((v1.clone(), boom.clone())));
    assert_eq!(link.recv_timeout(PATIENCE).expect("exit"), Err((v1, boom)));

    // Go watches ergors processes by name and by Pid: their ends reach Go (182, 181).
    let victim = node.spawn(Victim, SpawnOptions::default()).expect("victim");
    node.register_name("victim", victim).expect("registered");
    assert_eq!(go.command("monitor rs4@localhost victim -"), "MONITORING");
    node.send(victim, String::from("die")).expect("told");
    assert_eq!(go.next_line(), "DOWN name 'victim' boom");
    let victim = node.spawn(Victim, SpawnOptions::default()).expect("victim");
    node.register_name("victim2", victim).expect("registered");
    assert_eq!(go.command("monitorpid rs4@localhost victim2 -"), "MONITORING");
    node.send(victim, String::from("die")).expect("told");
    assert_eq!(go.next_line(), "DOWN pid boom");

    // ergors links to a Go process by Pid: Go never sends us 181 (its creation check compares
    // its own Pid's creation with ours: PROTOCOL.md §3.2 quirk), so the link fires only when
    // the connection goes, with `NoConnection`, not with the process's reason.
    assert_eq!(go.command("victim v2 - -"), "VICTIM");
    let v2 = Target::Name(ProcessId { name: "v2".into(), node: go_name });
    let by_pid = go_watch(&node, v2, false, true);
    let pid = by_pid.recv_timeout(PATIENCE).expect("set up").expect("a Pid");
    // The victim is gone on Go's side before the connection closes.
    assert_eq!(go.command("gone v2 - -"), "GONE");
    drop(go);
    assert_eq!(by_pid.recv_timeout(PATIENCE).expect("exit"), Err((Target::Pid(pid), ExitReason::NoConnection)));
}
