//! Step 4, item 2: what happens while a restart is in progress. A child that does not finish
//! stopping (`Block`: its `terminate` hangs until it is killed) holds an all-for-one restart open, so the test knows the strategy is
//! active: requests are refused with `StrategyActive`, a second child failing meanwhile is
//! folded into the same restart, and an exit from the parent turns the restart into a shutdown
//! that leaves nothing behind.

mod support;

use ergors::supervisor;
use ergors::{ExitReason, MessageDown, Pid, SpawnOptions, Supervisor, SupervisorError, SupervisorSpec};
use support::agent::{Stop, agent, next_msg, on};
use support::sup::{Block, Crash, Kit, Rec};
use support::{eventually, node};

#[test]
fn requests_while_a_restart_is_active_are_refused() {
    let node = node("sup-race-requests", 2);
    let kit = Kit::new();
    let spec = SupervisorSpec::all_for_one()
        .keep_order(true)
        .child(kit.child("a"))
        .child(kit.child("stuck").shutdown(support::PATIENCE * 2))
        .child(kit.child("c"));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let (_a, stuck, c) = (kit.started("a"), kit.started("stuck"), kit.started("c"));
    node.send(stuck, Block).unwrap();
    assert_eq!(kit.next(), Rec::Blocked("stuck".into(), stuck));
    node.send(c, Crash(ExitReason::error("boom"))).unwrap();
    kit.stopped("c");
    // Until the supervisor takes c's end, "a" is running; then the strategy is active.
    assert!(eventually(|| supervisor::start_child(&node, sup, "a") == Err(SupervisorError::StrategyActive)));
    assert_eq!(supervisor::disable_child(&node, sup, "a"), Err(SupervisorError::StrategyActive));
    assert_eq!(supervisor::enable_child(&node, sup, "a"), Err(SupervisorError::StrategyActive));
    assert_eq!(supervisor::add_child(&node, sup, kit.child("z")), Err(SupervisorError::StrategyActive));
    // Children can still be listed.
    assert_eq!(supervisor::children(&node, sup).unwrap().len(), 3);
    node.kill(stuck).unwrap();
    // Killed inside its `terminate` (begun with the exit, D168): a is stopped after it, then
    // all start.
    let (recs, stuck_stops) = records_besides_kill(&kit, stuck, 4);
    let rest: Vec<&Rec> = recs.iter().collect();
    assert!(matches!(rest[0], Rec::Stop(n, _, r) if n == "a" && *r == ExitReason::error("boom")), "{recs:?}");
    let starts: Vec<&str> = rest[1..]
        .iter()
        .map(|r| match r {
            Rec::Start(n, _) => n.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(starts, ["a", "stuck", "c"]);
    assert_stuck_stopped_once(&kit, stuck_stops);
    assert!(kit.quiet());
    assert!(supervisor::start_child(&node, sup, "a") == Err(SupervisorError::ChildRunning));
    node.stop();
}

#[test]
fn a_second_child_failing_during_all_for_one_joins_the_same_restart() {
    let node = node("sup-race-second", 2);
    let kit = Kit::new();
    let spec = SupervisorSpec::all_for_one()
        .keep_order(true)
        .child(kit.child("a"))
        .child(kit.child("b"))
        .child(kit.child("stuck").shutdown(support::PATIENCE * 2))
        .child(kit.child("d"));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let pids: Vec<_> = ["a", "b", "stuck", "d"].iter().map(|n| kit.started(n)).collect();
    node.send(pids[2], Block).unwrap();
    kit.next();
    node.send(pids[3], Crash(ExitReason::error("first"))).unwrap();
    kit.stopped("d");
    // The restart stops the others last to first: stuck takes its exit first, and hangs in its
    // `terminate` (the strategy stays active).
    assert_eq!(kit.stopped("stuck"), (pids[2], ExitReason::error("first")));
    assert!(eventually(|| supervisor::start_child(&node, sup, "a") == Err(SupervisorError::StrategyActive)));
    // a, not signalled yet, fails on its own.
    node.send(pids[0], Crash(ExitReason::error("second"))).unwrap();
    assert_eq!(kit.stopped("a"), (pids[0], ExitReason::error("second")));
    node.kill(pids[2]).unwrap();
    let (recs, _) = records_besides_kill(&kit, pids[2], 5);
    let stuck_stops = 1;
    let rest: Vec<&Rec> = recs.iter().collect();
    // b is stopped (with the first failure's reason); a is not stopped twice; all start once.
    assert!(matches!(rest[0], Rec::Stop(n, p, r) if n == "b" && *p == pids[1] && *r == ExitReason::error("first")));
    let starts: Vec<&str> = rest[1..]
        .iter()
        .map(|r| match r {
            Rec::Start(n, _) => n.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(starts, ["a", "b", "stuck", "d"]);
    assert_stuck_stopped_once(&kit, stuck_stops);
    assert!(kit.quiet());
    assert!(supervisor::children(&node, sup).unwrap().iter().all(|c| c.pid.is_some_and(|p| node.is_alive(p))));
    node.stop();
}

#[test]
fn an_exit_from_the_parent_during_a_restart_ends_everything() {
    let node = node("sup-race-parent", 2);
    let kit = Kit::new();
    let (parent, _) = agent(&node, false);
    let (watcher, seen) = agent(&node, false);
    let spec = SupervisorSpec::all_for_one()
        .keep_order(true)
        .child(kit.child("a"))
        .child(kit.child("stuck").shutdown(support::PATIENCE * 2))
        .child(kit.child("c"));
    let sup = on(&node, parent, move |ctx| {
        ctx.spawn(Supervisor::new(spec), SpawnOptions::default().link_parent().link_child())
    })
    .unwrap();
    on(&node, watcher, move |ctx| ctx.monitor(sup)).unwrap();
    let pids: Vec<_> = ["a", "stuck", "c"].iter().map(|n| kit.started(n)).collect();
    node.send(pids[1], Block).unwrap();
    kit.next();
    node.send(pids[2], Crash(ExitReason::error("boom"))).unwrap();
    kit.stopped("c");
    assert!(eventually(|| supervisor::start_child(&node, sup, "a") == Err(SupervisorError::StrategyActive)));
    // The parent ends: the restart becomes a shutdown.
    node.send(parent, Stop(ExitReason::error("parent gone"))).unwrap();
    assert!(eventually(|| !node.is_alive(parent)));
    node.kill(pids[1]).unwrap();
    let (recs, stuck_stops) = records_besides_kill(&kit, pids[1], 1);
    assert_stuck_stopped_once(&kit, stuck_stops);
    assert!(recs.iter().any(|r| matches!(r, Rec::Stop(n, ..) if n == "a")), "{recs:?}");
    assert!(recs.iter().all(|r| matches!(r, Rec::Stop(..))), "nothing restarts: {recs:?}");
    assert_eq!(next_msg::<MessageDown>(&seen).1.reason, ExitReason::error("parent gone"));
    assert!(kit.quiet());
    // Only the watcher is left; no name either.
    assert!(eventually(|| node.process_count() == 1));
    assert_eq!(node.info().registered_names, 0);
    node.stop();
}

/// The next `n` records, leaving out the stop of the killed process `killed` (its `terminate`
/// began when it took its exit signal, whenever its worker got to it); also how many of those
/// were seen.
fn records_besides_kill(kit: &Kit, killed: Pid, n: usize) -> (Vec<Rec>, usize) {
    let (mut recs, mut kills) = (Vec::new(), 0);
    while recs.len() < n {
        match kit.next() {
            Rec::Stop(_, p, _) if p == killed => kills += 1,
            other => recs.push(other),
        }
    }
    (recs, kills)
}

/// The killed child ran `terminate` exactly once (`seen` of those already read).
fn assert_stuck_stopped_once(kit: &Kit, seen: usize) {
    assert!(seen <= 1);
    if seen == 0 {
        assert!(matches!(kit.next(), Rec::Stop(n, ..) if n == "stuck"));
    }
}
