//! Step 4, item 2: a supervisor's own behaviour (Ergo's `SupervisorBehavior`): its messages,
//! requests and end, and with `enable_handle_child` its children's starts and ends, handed over
//! once the strategy is done and in the order they happened; an error from a callback stops the
//! children and ends the supervisor.

mod support;

use ergors::supervisor::{self, Supervisor, SupervisorBehavior};
use ergors::{Context, ExitReason, From, Message, MessageDown, Pid, Restart, SpawnOptions, SupervisorSpec};
use std::sync::mpsc::{Receiver, Sender, channel};
use support::PATIENCE;
use support::agent::{agent, next_msg, on};
use support::node;
use support::sup::{Crash, Kit};

#[derive(Debug, PartialEq)]
enum Seen {
    Start(String, Pid),
    Ended(String, Pid, ExitReason),
    Msg(String),
    Terminate(ExitReason),
}

/// Notes everything; answers a `&str` request with its length; a child ending with reason
/// "fatal" makes it fail.
struct Watcher(Sender<Seen>);

impl SupervisorBehavior for Watcher {
    async fn handle_child_start(&mut self, _ctx: &mut Context, name: &str, pid: Pid) -> Result<(), ExitReason> {
        let _ = self.0.send(Seen::Start(name.to_string(), pid));
        Ok(())
    }
    async fn handle_child_terminate(
        &mut self,
        _ctx: &mut Context,
        name: &str,
        pid: Pid,
        reason: &ExitReason,
    ) -> Result<(), ExitReason> {
        let _ = self.0.send(Seen::Ended(name.to_string(), pid, reason.clone()));
        if *reason == ExitReason::error("fatal") { Err(ExitReason::error("behaviour gave up")) } else { Ok(()) }
    }
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(s) = msg.downcast_ref::<String>() {
            let _ = self.0.send(Seen::Msg(s.clone()));
        }
        Ok(())
    }
    async fn handle_call(
        &mut self,
        _ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        Ok(req.downcast_ref::<&str>().map(|s| Message::new(s.len())))
    }
    async fn terminate(&mut self, _ctx: &mut Context, reason: &ExitReason) {
        let _ = self.0.send(Seen::Terminate(reason.bare().clone()));
    }
}

fn next(rx: &Receiver<Seen>) -> Seen {
    rx.recv_timeout(PATIENCE).expect("the behaviour saw something")
}

#[test]
fn child_starts_and_ends_reach_the_behaviour_after_the_strategy() {
    let node = node("sup-behavior-children", 2);
    let kit = Kit::new();
    let (tx, rx) = channel();
    let spec = SupervisorSpec::all_for_one()
        .keep_order(true)
        .enable_handle_child(true)
        .child(kit.child("a"))
        .child(kit.child("b"))
        .child(kit.child("c"));
    let sup = node.spawn_wait(Supervisor::with_behavior(spec, Watcher(tx)), SpawnOptions::default()).unwrap();
    let pids: Vec<Pid> = ["a", "b", "c"].iter().map(|n| kit.started(n)).collect();
    for (n, p) in ["a", "b", "c"].iter().zip(&pids) {
        assert_eq!(next(&rx), Seen::Start(n.to_string(), *p));
    }
    node.send(pids[1], Crash(ExitReason::error("boom"))).unwrap();
    // The whole restart happens first; then the behaviour hears of it in order.
    assert_eq!(next(&rx), Seen::Ended("b".into(), pids[1], ExitReason::error("boom")));
    let fresh: Vec<Pid> = supervisor::children(&node, sup).unwrap().iter().map(|c| c.pid.unwrap()).collect();
    for p in &fresh {
        assert!(!pids.contains(p), "all restarted before the first notice");
    }
    assert!(matches!(next(&rx), Seen::Ended(n, p, _) if n == "c" && p == pids[2]));
    assert!(matches!(next(&rx), Seen::Ended(n, p, _) if n == "a" && p == pids[0]));
    for (n, p) in ["a", "b", "c"].iter().zip(&fresh) {
        assert_eq!(next(&rx), Seen::Start(n.to_string(), *p));
    }
    node.stop();
}

#[test]
fn without_enable_handle_child_the_behaviour_hears_no_children() {
    let node = node("sup-behavior-off", 2);
    let kit = Kit::new();
    let (tx, rx) = channel();
    let spec = SupervisorSpec::simple_one_for_one().restart(Restart::Permanent).child(kit.child("w"));
    let sup = node.spawn_wait(Supervisor::with_behavior(spec, Watcher(tx)), SpawnOptions::default()).unwrap();
    let w = supervisor::start_child(&node, sup, "w").unwrap();
    kit.started("w");
    node.send(w, Crash(ExitReason::error("boom"))).unwrap();
    kit.stopped("w");
    kit.started("w");
    node.send(sup, "hello".to_string()).unwrap();
    assert_eq!(next(&rx), Seen::Msg("hello".into()), "only the message reaches it");
    node.stop();
}

#[test]
fn the_behaviour_handles_messages_requests_and_the_end() {
    let node = node("sup-behavior-own", 2);
    let kit = Kit::new();
    let (tx, rx) = channel();
    let spec = SupervisorSpec::simple_one_for_one().enable_handle_child(true).child(kit.child("w"));
    let sup = node.spawn_wait(Supervisor::with_behavior(spec, Watcher(tx)), SpawnOptions::default()).unwrap();
    let w = supervisor::start_child(&node, sup, "w").unwrap();
    assert_eq!(next(&rx), Seen::Start("w".into(), w));
    node.send(sup, "hello".to_string()).unwrap();
    assert_eq!(next(&rx), Seen::Msg("hello".into()));
    assert_eq!(node.call(sup, "four").unwrap().downcast::<usize>().ok(), Some(4));
    // The supervisor's own requests still work alongside.
    assert_eq!(supervisor::children(&node, sup).unwrap().len(), 1);
    node.send_exit(sup, ExitReason::error("bye")).unwrap();
    assert_eq!(kit.started("w"), w);
    kit.stopped("w");
    // Ended while stopping: no notice; then the end.
    assert_eq!(next(&rx), Seen::Terminate(ExitReason::error("bye")));
    node.stop();
}

#[test]
fn an_error_from_the_behaviour_stops_the_children_and_the_supervisor() {
    let node = node("sup-behavior-error", 2);
    let kit = Kit::new();
    let (tx, rx) = channel();
    let spec = SupervisorSpec::one_for_one()
        .enable_handle_child(true)
        .child(kit.child("a"))
        .child(kit.child("b"))
        .child(kit.child("c"));
    let (watcher, seen) = agent(&node, false);
    let sup = node.spawn_wait(Supervisor::with_behavior(spec, Watcher(tx)), SpawnOptions::default()).unwrap();
    on(&node, watcher, move |ctx| ctx.monitor(sup)).unwrap();
    let pids: Vec<Pid> = ["a", "b", "c"].iter().map(|n| kit.started(n)).collect();
    for _ in 0..3 {
        next(&rx);
    }
    node.send(pids[0], Crash(ExitReason::error("fatal"))).unwrap();
    kit.stopped("a");
    // Restarted first (one-for-one), then the behaviour fails on hearing of it.
    kit.started("a");
    assert_eq!(next(&rx), Seen::Ended("a".into(), pids[0], ExitReason::error("fatal")));
    for n in ["c", "b", "a"] {
        assert_eq!(kit.stopped(n).1, ExitReason::error("behaviour gave up"));
    }
    assert_eq!(next_msg::<MessageDown>(&seen).1.reason, ExitReason::error("behaviour gave up"));
    assert_eq!(next(&rx), Seen::Terminate(ExitReason::error("behaviour gave up")));
    node.stop();
}
