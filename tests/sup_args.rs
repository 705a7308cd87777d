//! Step 4, item 2: per-start arguments (Ergo's `StartChild(name, args...)`): a child spec made
//! with `ChildSpec::with_args` starts from the spec's arguments or from those given with
//! `StartChildWith`; a simple-one-for-one instance keeps its own across restarts; arguments of
//! another type are refused with `ArgsMismatch`.

mod support;

use ergors::supervisor::{self, ChildSpec};
use ergors::{
    Actor, Context, ExitReason, Message, Pid, Restart, SpawnOptions, Supervisor, SupervisorError, SupervisorSpec,
};
use std::sync::mpsc::{Receiver, Sender, channel};
use support::{PATIENCE, eventually, node};

/// Reports (its argument, its Pid) when it starts; ends with a reason it is sent.
struct Port {
    port: u16,
    tx: Sender<(u16, Pid)>,
}

impl Actor for Port {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let _ = self.tx.send((self.port, ctx.pid()));
        Ok(())
    }
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        match msg.downcast::<ExitReason>() {
            Ok(reason) => Err(reason),
            Err(_) => Ok(()),
        }
    }
}

fn spec(name: &str, tx: &Sender<(u16, Pid)>) -> ChildSpec {
    let tx = tx.clone();
    ChildSpec::with_args(name, 80u16, move |port| Port { port, tx: tx.clone() })
}

fn started(rx: &Receiver<(u16, Pid)>) -> (u16, Pid) {
    rx.recv_timeout(PATIENCE).expect("a start")
}

#[test]
fn simple_one_for_one_instances_start_and_restart_with_their_own_arguments() {
    let node = node("sup-args-sofo", 2);
    let (tx, rx) = channel();
    let spec = SupervisorSpec::simple_one_for_one().restart(Restart::Permanent).child(spec("conn", &tx));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let plain = supervisor::start_child(&node, sup, "conn").unwrap();
    assert_eq!(started(&rx), (80, plain), "the spec's arguments");
    let tls = supervisor::start_child_with(&node, sup, "conn", 443u16).unwrap();
    assert_eq!(started(&rx), (443, tls));
    let again = supervisor::start_child(&node, sup, "conn").unwrap();
    assert_eq!(started(&rx), (80, again), "given arguments are for that instance only");
    // Restarts keep each instance's arguments.
    node.send(tls, ExitReason::error("boom")).unwrap();
    let (port, fresh) = started(&rx);
    assert_eq!(port, 443);
    assert_ne!(fresh, tls);
    node.send(plain, ExitReason::error("boom")).unwrap();
    assert_eq!(started(&rx).0, 80);
    node.send(fresh, ExitReason::error("boom")).unwrap();
    assert_eq!(started(&rx).0, 443);
    assert!(eventually(|| supervisor::children(&node, sup).unwrap().len() == 3));
    node.stop();
}

#[test]
fn arguments_of_another_type_are_refused() {
    let node = node("sup-args-mismatch", 2);
    let (tx, _rx) = channel();
    let tx2 = tx.clone();
    let spec = SupervisorSpec::simple_one_for_one()
        .child(spec("conn", &tx))
        .child(ChildSpec::new("plain", move || Port { port: 0, tx: tx2.clone() }));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    match supervisor::start_child_with(&node, sup, "conn", "443") {
        Err(SupervisorError::ArgsMismatch { child, expected, given }) => {
            assert_eq!(child, "conn");
            assert_eq!(expected, "u16");
            assert_eq!(given, "&str");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        supervisor::start_child_with(&node, sup, "plain", 1u16),
        Err(SupervisorError::ArgsMismatch { expected: "no arguments", .. })
    ));
    assert_eq!(supervisor::start_child_with(&node, sup, "nope", 1u16), Err(SupervisorError::ChildUnknown));
    assert!(supervisor::children(&node, sup).unwrap().is_empty(), "nothing started");
    node.stop();
}

/// One-for-one: as Ergo, the arguments given to a child started again replace the spec's, for
/// its later restarts too.
#[test]
fn one_for_one_arguments_replace_the_specs() {
    let node = node("sup-args-ofo", 2);
    let (tx, rx) = channel();
    let spec =
        SupervisorSpec::one_for_one().restart(Restart::Transient).disable_auto_shutdown().child(spec("conn", &tx));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let (port, first) = started(&rx);
    assert_eq!(port, 80);
    assert_eq!(supervisor::start_child_with(&node, sup, "conn", 1u16), Err(SupervisorError::ChildRunning));
    node.send(first, ExitReason::Normal).unwrap();
    assert!(eventually(|| supervisor::children(&node, sup).unwrap()[0].pid.is_none()));
    let second = supervisor::start_child_with(&node, sup, "conn", 8080u16).unwrap();
    assert_eq!(started(&rx), (8080, second));
    node.send(second, ExitReason::error("boom")).unwrap();
    assert_eq!(started(&rx).0, 8080, "restarted with the arguments it was last given");
    node.stop();
}
