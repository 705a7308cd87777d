//! Remote spawn, remote application start and connecting on request, between two ergors nodes
//! in one OS process (Ergo's 002_distributed spawn / application cases, in our words).

mod support;

use ergors::net::NetworkOptions;
use ergors::net::edf::Value;
use ergors::{
    Actor, ApplicationError, ApplicationMode, ApplicationSpec, Atom, ChildSpec, Context, Error, ExitReason, From,
    Message, Node, NodeOptions, Pid, ProcessId, SpawnOptions, Target,
};
use std::sync::mpsc::{Sender, channel};
use support::*;

fn start(name: &str, routes: &[(&str, std::net::SocketAddr)]) -> Node {
    let mut net = NetworkOptions::enabled("secret", "127.0.0.1:0".parse().unwrap()).registrar_port(0);
    for (n, a) in routes {
        net = net.route(*n, *a);
    }
    Node::start(name, NodeOptions::default().workers(2).network(net)).expect("node starts")
}

/// `a` and `b`, where `b` has a route to `a` (and is not connected yet).
fn pair(tag: &str) -> (Node, Node, Atom) {
    let a_name = format!("a-{tag}@localhost");
    let a = start(&a_name, &[]);
    let addr = a.handle().network_address().expect("a listens");
    let b = start(&format!("b-{tag}@localhost"), &[(&a_name, addr)]);
    (a, b, Atom::new(&a_name))
}

/// Answers a call with its greeting and the text it got; ends on "die" with `boom`.
struct Greeter {
    greeting: String,
}

impl Actor for Greeter {
    async fn handle_message(&mut self, _: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        match msg.downcast::<String>() {
            Ok(s) if s == "die" => Err(ExitReason::error("boom")),
            _ => Ok(()),
        }
    }
    async fn handle_call(&mut self, _: &mut Context, _: From, req: Message) -> Result<Option<Message>, ExitReason> {
        let text = req.downcast::<String>().unwrap_or_default();
        Ok(Some(Message::new(format!("{} {text}", self.greeting))))
    }
}

/// The factory remote spawns use: the first argument, if a string, is the greeting.
fn greeter(args: Vec<Value>) -> Greeter {
    let greeting = match args.first() {
        Some(Value::String(s)) => s.clone(),
        _ => "hello".to_string(),
    };
    Greeter { greeting }
}

#[test]
fn a_remote_spawn_starts_the_enabled_process_which_then_answers_calls() {
    let (a, b, a_name) = pair("spawn");
    a.enable_spawn("greeter", greeter, &[]).expect("enabled");
    // Not connected yet: the spawn connects first, as Ergo's does.
    let pid = b.remote_spawn(a_name, "greeter", SpawnOptions::default(), vec![]).expect("spawned");
    assert_eq!(pid.node, a_name, "the process lives on a");
    assert!(a.is_alive(pid));
    let reply = b.call(pid, String::from("world")).expect("it answers");
    assert_eq!(reply.downcast::<String>().ok().as_deref(), Some("hello world"));
    // Arguments reach the factory; the options' environment reaches the process. (Go's case
    // also checks parent and leader: ours are a's core, D220.)
    let args = vec![Value::String("bonjour".into())];
    let opts = SpawnOptions::default().env("colour", "blue");
    let pid = b.remote_spawn(a_name, "greeter", opts, args).expect("spawned");
    let reply = b.call(pid, String::from("monde")).expect("it answers");
    assert_eq!(reply.downcast::<String>().ok().as_deref(), Some("bonjour monde"));
    let env = a.process_info(pid).expect("alive").env;
    assert!(env.contains(&("COLOUR".to_string(), "blue".to_string())), "{env:?}");
    // Its parent is a's core, as for a process a's node spawns (not the remote caller: D220).
    let local = a.spawn(Greeter { greeting: String::new() }, SpawnOptions::default()).expect("local");
    let parent = |p: Pid| a.process_info(p).map(|i| i.parent);
    assert_eq!(parent(pid), parent(local));
}

#[test]
fn a_remote_spawn_registers_the_name_asked_for_once() {
    let (a, b, a_name) = pair("spawnreg");
    a.enable_spawn("greeter", greeter, &[]).expect("enabled");
    let pid = b.remote_spawn_register(a_name, "greeter", "hi", SpawnOptions::default(), vec![]).expect("spawned");
    assert_eq!(a.whereis("hi"), Some(pid));
    let reply = b.call(ProcessId { name: "hi".into(), node: a_name }, String::from("there")).expect("answers");
    assert_eq!(reply.downcast::<String>().ok().as_deref(), Some("hello there"));
    let again = b.remote_spawn_register(a_name, "greeter", "hi", SpawnOptions::default(), vec![]);
    assert_eq!(again, Err(Error::Taken));
}

#[test]
fn a_remote_spawn_of_a_name_not_enabled_or_not_for_this_node_is_refused() {
    let (a, b, a_name) = pair("spawnno");
    let none = b.remote_spawn(a_name, "greeter", SpawnOptions::default(), vec![]);
    assert_eq!(none, Err(Error::NameUnknown), "nothing enabled under that name");
    // Only for another node.
    a.enable_spawn("greeter", greeter, &[Atom::new("c-spawnno@localhost")]).expect("enabled");
    let other = b.remote_spawn(a_name, "greeter", SpawnOptions::default(), vec![]);
    assert!(matches!(other, Err(Error::NotAllowed(_))), "{other:?}");
    // Then for b too; then b alone is disabled again.
    let b_name = b.handle().name();
    a.enable_spawn("greeter", greeter, &[b_name]).expect("enabled");
    assert!(b.remote_spawn(a_name, "greeter", SpawnOptions::default(), vec![]).is_ok());
    a.disable_spawn("greeter", &[b_name]).expect("disabled");
    let refused = b.remote_spawn(a_name, "greeter", SpawnOptions::default(), vec![]);
    assert!(matches!(refused, Err(Error::NotAllowed(_))), "{refused:?}");
    // Disabled for everybody: the name is gone.
    a.disable_spawn("greeter", &[]).expect("disabled");
    assert_eq!(b.remote_spawn(a_name, "greeter", SpawnOptions::default(), vec![]), Err(Error::NameUnknown));
    assert_eq!(a.disable_spawn("greeter", &[]), Err(Error::NameUnknown));
}

/// Fails its `init`.
struct Refuser;

impl Actor for Refuser {
    async fn init(&mut self, _: &mut Context) -> Result<(), ExitReason> {
        Err(ExitReason::error("not today"))
    }
}

#[test]
fn a_remote_spawn_whose_init_fails_returns_the_reason() {
    let (a, b, a_name) = pair("spawninit");
    a.enable_spawn("refuser", |_| Refuser, &[]).expect("enabled");
    let failed = b.remote_spawn(a_name, "refuser", SpawnOptions::default(), vec![]);
    assert_eq!(failed, Err(Error::Remote("not today".into())));
}

/// Spawns a greeter on `node` from inside a process (linked to it), calls it, reports.
struct Spawner {
    node: Atom,
    report: Sender<Result<(Pid, String), Error>>,
}

impl Actor for Spawner {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.set_trap_exit(true);
        let opts = SpawnOptions::default().link_child();
        let outcome = match ctx.remote_spawn(self.node, "greeter", opts, vec![]).await {
            Ok(pid) => match ctx.call(pid, String::from("parent")).await {
                Ok(reply) => Ok((pid, reply.downcast::<String>().unwrap_or_default())),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let _ = self.report.send(outcome);
        Ok(())
    }
    async fn handle_message(&mut self, _: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(exit) = msg.downcast::<ergors::MessageExit>() {
            let _ = self.report.send(Err(Error::Remote(format!("exit {:?} {}", exit.target, exit.reason))));
        }
        Ok(())
    }
}

#[test]
fn a_process_spawns_remotely_calls_the_child_and_hears_its_end_through_the_link() {
    let (a, b, a_name) = pair("spawnctx");
    a.enable_spawn("greeter", greeter, &[]).expect("enabled");
    let (tx, rx) = channel();
    b.spawn(Spawner { node: a_name, report: tx }, SpawnOptions::default()).expect("spawner");
    let (child, reply) = rx.recv_timeout(PATIENCE).expect("a report").expect("spawned and called");
    assert_eq!(reply, "hello parent");
    assert!(eventually(|| a.process_info(child).is_ok_and(|i| i.linked_by == 1)), "the parent's link is on a");
    a.send(child, String::from("die")).expect("told");
    let exit = rx.recv_timeout(PATIENCE).expect("the link fires");
    assert_eq!(exit, Err(Error::Remote(format!("exit {:?} boom", Target::Pid(child)))));
}

#[test]
fn an_application_enabled_for_remote_start_is_started_by_the_other_node() {
    let (a, b, a_name) = pair("app");
    let spec = ApplicationSpec::new("shop").member(ChildSpec::new("clerk", || Greeter { greeting: "hi".into() }));
    a.application_load(spec).expect("loaded");
    // Loaded, not enabled for remote start.
    let refused = b.remote_application_start(a_name, "shop", None);
    assert_eq!(refused, Err(ApplicationError::Node(Error::NameUnknown)));
    a.enable_application_start("shop", &[]).expect("enabled");
    a.enable_application_start("depot", &[]).expect("enabled");
    b.remote_application_start(a_name, "shop", Some(ApplicationMode::Transient)).expect("started");
    assert_eq!(a.applications_running(), vec!["shop".to_string()]);
    assert!(a.whereis("clerk").is_some(), "its member runs");
    // Running already; enabled but not loaded.
    assert_eq!(b.remote_application_start(a_name, "shop", None), Err(ApplicationError::Running("shop".into())));
    assert_eq!(b.remote_application_start(a_name, "depot", None), Err(ApplicationError::Unknown("depot".into())));
}

#[test]
fn connect_brings_the_connection_up_and_disconnect_takes_it_down() {
    let (_a, b, a_name) = pair("connect");
    assert!(b.peer_info(a_name).is_none());
    let info = b.connect(a_name).expect("connected");
    assert_eq!(info.name, a_name);
    assert_eq!(b.peers(), vec![a_name]);
    // Connected already: at once.
    assert_eq!(b.connect(a_name).map(|i| i.name), Ok(a_name));
    let on_node = watch(&b, Target::Node(a_name), false);
    b.disconnect(a_name).expect("disconnected");
    assert_eq!(on_node.recv_timeout(PATIENCE).expect("down"), (Target::Node(a_name), ExitReason::NoConnection));
    assert!(eventually(|| b.peer_info(a_name).is_none()));
    assert_eq!(b.disconnect(a_name), Err(Error::NoConnection(a_name)));
    // And up again on request.
    assert_eq!(b.connect(a_name).map(|i| i.name), Ok(a_name));
}

#[test]
fn connecting_to_a_node_without_a_route_or_that_is_gone_fails_with_no_connection() {
    let (a, b, a_name) = pair("connectfail");
    let nobody = Atom::new("nobody@localhost");
    assert_eq!(b.connect(nobody), Err(Error::NoConnection(nobody)), "no route, no registrar");
    drop(a);
    assert_eq!(b.connect(a_name), Err(Error::NoConnection(a_name)), "a route to a closed port");
    assert_eq!(b.connect(b.handle().name()).map(drop), Err(Error::NotAllowed("a node cannot connect to itself")));
}

#[test]
fn a_monitor_on_a_node_not_connected_connects_first_and_fires_when_it_goes() {
    let (a, b, a_name) = pair("monnode");
    let on_node = watch(&b, Target::Node(a_name), false);
    let linked = watch(&b, Target::Node(a_name), true);
    assert!(eventually(|| b.peer_info(a_name).is_some()), "the monitor connected b to a");
    drop(a);
    assert_eq!(on_node.recv_timeout(PATIENCE).expect("down"), (Target::Node(a_name), ExitReason::NoConnection));
    assert_eq!(linked.recv_timeout(PATIENCE).expect("exit"), (Target::Node(a_name), ExitReason::NoConnection));
}

#[test]
fn a_monitor_on_a_name_of_a_node_not_connected_is_set_up_once_connected() {
    let (a, b, a_name) = pair("monname");
    let victim = a.spawn(Greeter { greeting: String::new() }, SpawnOptions::default()).expect("victim");
    a.register_name("victim", victim).expect("registered");
    let target = Target::Name(ProcessId { name: "victim".into(), node: a_name });
    let down = watch(&b, target.clone(), false);
    assert!(eventually(|| a.process_info(victim).is_ok_and(|i| i.monitored_by == 1)), "set up on a");
    a.send(victim, String::from("die")).expect("told");
    assert_eq!(down.recv_timeout(PATIENCE).expect("down"), (target, ExitReason::error("boom")));
}

#[test]
fn a_monitor_on_a_node_that_cannot_be_reached_fires_with_no_connection() {
    let (a, b, a_name) = pair("monfail");
    drop(a);
    let on_node = watch(&b, Target::Node(a_name), false);
    assert_eq!(on_node.recv_timeout(PATIENCE).expect("down"), (Target::Node(a_name), ExitReason::NoConnection));
}

/// Monitors its target in init and takes the monitor back at once (before the target's node is
/// connected); reports any down.
struct Fickle(Target, Sender<(Target, ExitReason)>);

impl Actor for Fickle {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.monitor(self.0.clone()).map_err(ExitReason::error)?;
        ctx.demonitor(self.0.clone()).map_err(ExitReason::error)
    }
    async fn handle_message(&mut self, _: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(down) = msg.downcast::<ergors::MessageDown>() {
            let _ = self.1.send((down.target, down.reason));
        }
        Ok(())
    }
}

#[test]
fn a_monitor_taken_back_before_its_node_is_connected_is_never_set_up() {
    let (a, b, a_name) = pair("moncancel");
    let victim = a.spawn(Greeter { greeting: "hi".into() }, SpawnOptions::default()).expect("victim");
    a.register_name("victim", victim).expect("registered");
    let to = ProcessId { name: "victim".into(), node: a_name };
    let (tx, _downs) = channel();
    let fickle = b.spawn_wait(Fickle(Target::Name(to.clone()), tx), SpawnOptions::default()).expect("fickle");
    // The dial its monitor started comes up; the cancelled request never reaches a (a round
    // trip to the victim after the connection is up).
    assert!(eventually(|| b.peer_info(a_name).is_some()), "connected");
    assert_eq!(
        b.call(to, String::from("there")).ok().and_then(|m| m.downcast::<String>().ok()).as_deref(),
        Some("hi there")
    );
    assert_eq!(a.process_info(victim).expect("alive").monitored_by, 0);
    assert!(b.process_info(fickle).expect("alive").monitors.is_empty());
}
