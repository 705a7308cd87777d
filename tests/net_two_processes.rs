//! Two ergors nodes in two OS processes, over loopback TCP (issue 11: CI runs ergors↔ergors both
//! in-process and across processes). This test binary is both sides: run plainly it is the
//! parent, which starts itself again with `ERGORS_TWO_PROCESSES_CHILD` set as the child node.
//! Its own `main` (no libtest harness), so the child runs no tests.

mod support;

use ergors::net::NetworkOptions;
use ergors::{Actor, Atom, Context, ExitReason, From, Message, Node, NodeOptions, Pid, ProcessId, SpawnOptions};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Sender, channel};
use support::PATIENCE;

const CHILD: &str = "ERGORS_TWO_PROCESSES_CHILD";

/// Answers calls with "<node>: <request>".
struct Echo;

impl Actor for Echo {
    async fn handle_call(&mut self, ctx: &mut Context, _: From, req: Message) -> Result<Option<Message>, ExitReason> {
        let text = req.downcast::<String>().unwrap_or_default();
        Ok(Some(Message::new(format!("{}: {text}", ctx.node().name()))))
    }
}

/// Monitors its target in init; reports the down.
struct Watcher(ergors::Target, Sender<(ergors::Target, ExitReason)>);

impl Actor for Watcher {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.monitor(self.0.clone()).map_err(ExitReason::error)
    }
    async fn handle_message(&mut self, _: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(down) = msg.downcast::<ergors::MessageDown>() {
            let _ = self.1.send((down.target, down.reason));
        }
        Ok(())
    }
}

fn net(listen: &str) -> NetworkOptions {
    NetworkOptions::enabled("two-processes", listen.parse().expect("address")).registrar_port(0)
}

/// The child: a node with a route to the parent and an "echo"; it calls the parent's echo,
/// prints what came back, then lives until its stdin closes.
fn child() {
    let parent: std::net::SocketAddr =
        std::env::var(CHILD).ok().and_then(|a| a.parse().ok()).expect("the parent's address");
    let node = Node::start(
        "child@localhost",
        NodeOptions::default().workers(2).network(net("127.0.0.1:0").route("parent@localhost", parent)),
    )
    .expect("child node");
    node.spawn(Echo, SpawnOptions::default()).and_then(|p| node.register_name("echo", p)).expect("echo");
    let to = ProcessId { name: "echo".into(), node: Atom::new("parent@localhost") };
    match node.call(to, String::from("hello from the child")) {
        Ok(reply) => println!("REPLY {}", reply.downcast::<String>().unwrap_or_default()),
        Err(e) => println!("ERROR {e}"),
    }
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    // Ends without stopping the node: the parent sees the process go as a peer vanishing.
    std::process::exit(0);
}

fn parent() {
    let node = Node::start("parent@localhost", NodeOptions::default().workers(2).network(net("127.0.0.1:0")))
        .expect("parent node");
    node.spawn(Echo, SpawnOptions::default()).and_then(|p| node.register_name("echo", p)).expect("echo");
    let addr = node.handle().network_address().expect("the parent listens");
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .env(CHILD, addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the child runs");
    let (tx, lines) = channel();
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The child dialled us and its call came back through our process.
    assert_eq!(lines.recv_timeout(PATIENCE).expect("the child's line"), "REPLY parent@localhost: hello from the child");
    // Over the connection the child opened, we call its process by name, and watch it.
    let child_name = Atom::new("child@localhost");
    let to = ProcessId { name: "echo".into(), node: child_name };
    let reply = node.call(to.clone(), String::from("hello from the parent")).expect("the child answers");
    assert_eq!(reply.downcast::<String>().ok().as_deref(), Some("child@localhost: hello from the parent"));
    let (down_tx, down) = channel();
    node.spawn(Watcher(ergors::Target::Name(to.clone()), down_tx.clone()), SpawnOptions::default()).expect("w");
    node.spawn(Watcher(ergors::Target::Node(child_name), down_tx), SpawnOptions::default()).expect("w");
    // Both monitors are set up on the child's side before it goes (a round trip after them).
    assert!(support::eventually(|| node.call(to.clone(), String::from("sync")).is_ok()));
    // The child's process exits: its relations fire once each, with NoConnection.
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = writeln!(stdin, "quit");
    drop(stdin);
    let _ = child.wait();
    let mut fired = vec![down.recv_timeout(PATIENCE).expect("a down"), down.recv_timeout(PATIENCE).expect("a down")];
    fired.sort_by_key(|(t, _)| matches!(t, ergors::Target::Node(_)));
    assert_eq!(
        fired,
        vec![
            (ergors::Target::Name(to), ExitReason::NoConnection),
            (ergors::Target::Node(child_name), ExitReason::NoConnection),
        ]
    );
    assert!(support::eventually(|| node.peer_info(child_name).is_none()), "the parent forgot the child");
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    parent();
    println!("test two_ergors_nodes_in_two_os_processes ... ok");
}
