//! Step 4, item 2: all-for-one and rest-for-one supervisors, Ergo's t011 cases in our words: who
//! is stopped (in reverse order) and restarted (in spec order) when a child fails, with and
//! without `keep_order`, the strategies, and intensity.

mod support;

use ergors::supervisor;
use ergors::{ExitReason, MessageDown, Restart, SpawnOptions, Supervisor, SupervisorError, SupervisorSpec};
use std::collections::HashSet;
use support::agent::{agent, next_msg, on};
use support::sup::{Crash, Kit, Rec};
use support::{eventually, node};

fn four(kit: &Kit, spec: SupervisorSpec, prefix: &str) -> SupervisorSpec {
    ["a", "b", "c", "d"].iter().fold(spec, |s, n| s.child(kit.child(&format!("{prefix}{n}"))))
}

/// The names in a batch of `n` stop records, in the order seen.
fn stops(kit: &Kit, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| match kit.next() {
            Rec::Stop(name, _, _) => name,
            other => panic!("expected a stop, got {other:?}"),
        })
        .collect()
}

fn starts(kit: &Kit, names: &[&str]) {
    for n in names {
        kit.started(n);
    }
}

#[test]
fn all_for_one_keep_order_stops_the_others_in_reverse_then_starts_all_in_order() {
    let node = node("sup-afo-order", 2);
    let kit = Kit::new();
    let spec = four(&kit, SupervisorSpec::all_for_one().keep_order(true), "");
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let pids: Vec<_> = ["a", "b", "c", "d"].iter().map(|n| kit.started(n)).collect();
    node.send(pids[1], Crash(ExitReason::error("boom"))).unwrap();
    assert_eq!(kit.stopped("b").1, ExitReason::error("boom"));
    // The siblings get the failed child's reason (as in Ergo).
    assert_eq!(kit.stopped("d").1, ExitReason::error("boom"));
    assert_eq!(kit.stopped("c").1, ExitReason::error("boom"));
    assert_eq!(kit.stopped("a").1, ExitReason::error("boom"));
    starts(&kit, &["a", "b", "c", "d"]);
    assert!(kit.quiet());
    assert!(supervisor::children(&node, sup).unwrap().iter().all(|c| c.pid.is_some()));
    node.stop();
}

#[test]
fn all_for_one_without_keep_order_stops_all_at_once_then_starts_in_order() {
    let node = node("sup-afo-parallel", 2);
    let kit = Kit::new();
    let spec = four(&kit, SupervisorSpec::all_for_one(), "");
    node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let pids: Vec<_> = ["a", "b", "c", "d"].iter().map(|n| kit.started(n)).collect();
    node.send(pids[3], Crash(ExitReason::error("boom"))).unwrap();
    assert_eq!(kit.stopped("d").1, ExitReason::error("boom"));
    let stopped: HashSet<String> = stops(&kit, 3).into_iter().collect();
    assert_eq!(stopped, ["a", "b", "c"].iter().map(|s| s.to_string()).collect());
    starts(&kit, &["a", "b", "c", "d"]);
    assert!(kit.quiet());
    node.stop();
}

#[test]
fn rest_for_one_restarts_the_child_and_those_after_it() {
    for keep_order in [true, false] {
        let node = node("sup-rfo", 2);
        let kit = Kit::new();
        let spec = four(&kit, SupervisorSpec::rest_for_one().keep_order(keep_order), "");
        node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
        let pids: Vec<_> = ["a", "b", "c", "d"].iter().map(|n| kit.started(n)).collect();
        node.send(pids[1], Crash(ExitReason::error("boom"))).unwrap();
        kit.stopped("b");
        let stopped = stops(&kit, 2);
        if keep_order {
            assert_eq!(stopped, vec!["d", "c"]);
        } else {
            assert_eq!(stopped.into_iter().collect::<HashSet<_>>(), ["c", "d"].iter().map(|s| s.to_string()).collect());
        }
        starts(&kit, &["b", "c", "d"]);
        assert!(kit.quiet(), "a is untouched");
        assert_eq!(node.whereis("a"), Some(pids[0]));
        // The last child: only it restarts.
        let d = node.whereis("d").unwrap();
        node.send(d, Crash(ExitReason::error("again"))).unwrap();
        kit.stopped("d");
        kit.started("d");
        assert!(kit.quiet());
        node.stop();
    }
}

/// Temporary children are never restarted, transient ones only after an abnormal end; then the
/// siblings are left alone.
#[test]
fn strategies_decide_whether_siblings_restart() {
    let node = node("sup-afo-strategy", 2);
    let kit = Kit::new();
    let spec = four(&kit, SupervisorSpec::all_for_one().restart(Restart::Temporary), "t-");
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let pids: Vec<_> = ["t-a", "t-b", "t-c", "t-d"].iter().map(|n| kit.started(n)).collect();
    node.send(pids[0], Crash(ExitReason::error("boom"))).unwrap();
    kit.stopped("t-a");
    assert!(kit.quiet());
    assert!(node.is_alive(sup));

    let spec = four(&kit, SupervisorSpec::rest_for_one().restart(Restart::Transient), "n-");
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let pids: Vec<_> = ["n-a", "n-b", "n-c", "n-d"].iter().map(|n| kit.started(n)).collect();
    node.send(pids[1], Crash(ExitReason::Normal)).unwrap();
    kit.stopped("n-b");
    assert!(kit.quiet());
    assert!(eventually(|| supervisor::children(&node, sup).unwrap()[1].pid.is_none()));
    node.stop();
}

/// One failure past the intensity stops every child in reverse order and ends the supervisor.
#[test]
fn intensity_exceeded_stops_everything() {
    let node = node("sup-afo-intensity", 2);
    let kit = Kit::new();
    let spec =
        four(&kit, SupervisorSpec::all_for_one().keep_order(true).intensity(1, std::time::Duration::from_secs(60)), "");
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let (watcher, seen) = agent(&node, false);
    on(&node, watcher, move |ctx| ctx.monitor(sup)).unwrap();
    starts(&kit, &["a", "b", "c", "d"]);
    node.send(node.whereis("a").unwrap(), Crash(ExitReason::error("1"))).unwrap();
    kit.stopped("a");
    assert_eq!(stops(&kit, 3), vec!["d", "c", "b"]);
    starts(&kit, &["a", "b", "c", "d"]);
    node.send(node.whereis("c").unwrap(), Crash(ExitReason::error("2"))).unwrap();
    kit.stopped("c");
    assert_eq!(stops(&kit, 3), vec!["d", "b", "a"]);
    let reason = next_msg::<MessageDown>(&seen).1.reason;
    assert_eq!(reason.downcast_ref::<SupervisorError>(), Some(&SupervisorError::RestartsExceeded));
    assert!(kit.quiet());
    node.stop();
}
