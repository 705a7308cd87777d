//! Step 4, item 2: every supervisor type against every restart strategy and every way a child
//! ends (one-for-one has its own in sup_one_for_one.rs), intensity at and one past its limit as
//! the supervisor's parent sees it, significant children under all-for-one and rest-for-one, and
//! a child whose `init` fails at start and at a restart under each type. Ergo's t009..t011 in our
//! words; the order of stops and starts is read from one shared log.

mod support;

use ergors::supervisor::{self, SupervisorType};
use ergors::{
    Error, ExitReason, MessageDown, MessageExit, NodeHandle, Pid, Restart, SpawnOptions, Supervisor, SupervisorError,
    SupervisorSpec, Target,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::agent::{Seen, agent, next_msg, on};
use support::sup::{Crash, Kit, Rec};
use support::{eventually, node};

#[derive(Clone, Copy, Debug)]
enum End {
    Normal,
    Shutdown,
    Crash,
    Kill,
}

const ENDS: [End; 4] = [End::Normal, End::Shutdown, End::Crash, End::Kill];
const RESTARTS: [Restart; 3] = [Restart::Permanent, Restart::Transient, Restart::Temporary];

fn reason_of(end: End) -> ExitReason {
    match end {
        End::Normal => ExitReason::Normal,
        End::Shutdown => ExitReason::Shutdown,
        End::Crash => ExitReason::error("boom"),
        End::Kill => ExitReason::Kill,
    }
}

fn end_child(node: &NodeHandle, pid: Pid, end: End) {
    match end {
        End::Kill => node.kill(pid).unwrap(),
        _ => node.send(pid, Crash(reason_of(end))).unwrap(),
    }
}

/// Whether a child that ended so comes back (Ergo's strategies).
fn comes_back(restart: Restart, end: End) -> bool {
    match restart {
        Restart::Permanent => true,
        Restart::Temporary => false,
        Restart::Transient => matches!(end, End::Crash | End::Kill),
    }
}

/// The next `n` records.
fn take(kit: &Kit, n: usize) -> Vec<Rec> {
    (0..n).map(|_| kit.next()).collect()
}

fn stops_of(recs: &[Rec]) -> Vec<(String, ExitReason)> {
    recs.iter()
        .filter_map(|r| match r {
            Rec::Stop(n, _, reason) => Some((n.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

fn starts_of(recs: &[Rec]) -> Vec<String> {
    recs.iter()
        .filter_map(|r| match r {
            Rec::Start(n, _) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

/// All-for-one and rest-for-one, three children, the middle one ends: by strategy and end,
/// either nothing else happens, or the affected siblings are stopped (in reverse start order,
/// with the failed child's reason) and then all of the affected are started in spec order.
#[test]
fn all_for_one_and_rest_for_one_against_each_strategy_and_end() {
    let node = node("sup-matrix-arfo", 2);
    let mut case = 0;
    for kind in [SupervisorType::AllForOne, SupervisorType::RestForOne] {
        for restart in RESTARTS {
            for end in ENDS {
                case += 1;
                let kit = Kit::new();
                let names: Vec<String> = ["a", "b", "c"].iter().map(|n| format!("m{case}-{n}")).collect();
                let spec = names
                    .iter()
                    .fold(SupervisorSpec::new(kind).restart(restart).keep_order(true), |s, n| s.child(kit.child(n)));
                let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
                let pids: Vec<Pid> = names.iter().map(|n| kit.started(n)).collect();
                let what = format!("{kind:?} {restart:?} {end:?}");
                end_child(&node, pids[1], end);
                let reason = reason_of(end);
                if !comes_back(restart, end) {
                    assert_eq!(kit.stopped(&names[1]), (pids[1], reason), "{what}");
                    assert!(kit.quiet(), "{what}: nothing else happens");
                    assert!(eventually(|| supervisor::children(&node, sup).unwrap()[1].pid.is_none()), "{what}");
                    let listed = supervisor::children(&node, sup).unwrap();
                    assert_eq!(listed[0].pid, Some(pids[0]), "{what}");
                    assert_eq!(listed[2].pid, Some(pids[2]), "{what}");
                    continue;
                }
                let (stopped, started): (Vec<&String>, Vec<&String>) = match kind {
                    SupervisorType::AllForOne => (vec![&names[2], &names[0]], names.iter().collect()),
                    _ => (vec![&names[2]], vec![&names[1], &names[2]]),
                };
                let recs = take(&kit, 1 + stopped.len() + started.len());
                assert!(kit.quiet(), "{what}: {recs:?}");
                // The failed child's own stop (a killed one's `terminate` runs after it was
                // unregistered, so it may come late), then the siblings in reverse order.
                let stops = stops_of(&recs);
                assert!(stops.contains(&(names[1].clone(), reason.clone())), "{what}: {recs:?}");
                let siblings: Vec<_> = stops.iter().filter(|(n, _)| *n != names[1]).collect();
                assert_eq!(siblings.iter().map(|(n, _)| n).collect::<Vec<_>>(), stopped, "{what}: {recs:?}");
                assert!(siblings.iter().all(|(_, r)| *r == reason), "{what}: siblings get its reason");
                assert_eq!(starts_of(&recs).iter().collect::<Vec<_>>(), started, "{what}: {recs:?}");
                // Every sibling stop precedes the first start.
                let first_start = recs.iter().position(|r| matches!(r, Rec::Start(..))).unwrap();
                let last_sibling_stop =
                    recs.iter().rposition(|r| matches!(r, Rec::Stop(n, ..) if *n != names[1])).unwrap();
                assert!(last_sibling_stop < first_start, "{what}: {recs:?}");
                let listed = supervisor::children(&node, sup).unwrap();
                assert!(listed.iter().all(|c| c.pid.is_some()), "{what}");
                if kind == SupervisorType::RestForOne {
                    assert_eq!(listed[0].pid, Some(pids[0]), "{what}: the one before is untouched");
                }
                assert!(node.is_alive(sup));
            }
        }
    }
    node.stop();
}

/// Simple-one-for-one: only the instance that ended comes back (by strategy and end); its
/// siblings are untouched.
#[test]
fn simple_one_for_one_against_each_strategy_and_end() {
    let node = node("sup-matrix-sofo", 2);
    for restart in RESTARTS {
        for end in ENDS {
            let kit = Kit::new();
            let what = format!("{restart:?} {end:?}");
            let spec = SupervisorSpec::simple_one_for_one().restart(restart).child(kit.child("w"));
            let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
            let pids: Vec<Pid> = (0..3).map(|_| supervisor::start_child(&node, sup, "w").unwrap()).collect();
            for p in &pids {
                assert_eq!(kit.started("w"), *p);
            }
            end_child(&node, pids[1], end);
            let n = if comes_back(restart, end) { 2 } else { 1 };
            let recs = take(&kit, n);
            assert!(kit.quiet(), "{what}: {recs:?}");
            assert!(recs.contains(&Rec::Stop("w".into(), pids[1], reason_of(end))), "{what}: {recs:?}");
            let fresh = recs.iter().find_map(|r| match r {
                Rec::Start(_, p) => Some(*p),
                _ => None,
            });
            let expect: Vec<Pid> = [Some(pids[0]), Some(pids[2]), fresh].into_iter().flatten().collect();
            assert!(
                eventually(|| {
                    let mut now: Vec<Pid> =
                        supervisor::children(&node, sup).unwrap().iter().map(|c| c.pid.unwrap()).collect();
                    now.sort_by_key(|p| p.id);
                    let mut e = expect.clone();
                    e.sort_by_key(|p| p.id);
                    now == e
                }),
                "{what}"
            );
            // Simple-one-for-one never shuts itself down for lack of children.
            assert!(node.is_alive(sup), "{what}");
        }
    }
    node.stop();
}

/// A supervisor spawned by a parent that links to it and traps exits; returns the parent's view.
fn under_parent(node: &NodeHandle, spec: SupervisorSpec) -> (Pid, std::sync::mpsc::Receiver<Seen>) {
    let (parent, seen) = agent(node, true);
    let sup =
        on(node, parent, move |ctx| ctx.spawn(Supervisor::new(spec), SpawnOptions::default().link_child())).unwrap();
    (sup, seen)
}

fn exceeded(reason: &ExitReason) -> bool {
    reason.downcast_ref::<SupervisorError>() == Some(&SupervisorError::RestartsExceeded)
}

/// Rest-for-one, intensity 2: two restarts pass, the third failure stops everything (in reverse
/// order) and the supervisor's parent gets its exit with `RestartsExceeded`.
#[test]
fn rest_for_one_intensity_at_and_past_the_limit() {
    let node = node("sup-matrix-rfo-intensity", 2);
    let kit = Kit::new();
    let spec = SupervisorSpec::rest_for_one()
        .restart(Restart::Permanent)
        .keep_order(true)
        .intensity(2, Duration::from_secs(60))
        .child(kit.child("a"))
        .child(kit.child("b"))
        .child(kit.child("c"));
    let (sup, seen) = under_parent(&node, spec);
    for n in ["a", "b", "c"] {
        kit.started(n);
    }
    for _ in 0..2 {
        node.send(node.whereis("b").unwrap(), Crash(ExitReason::error("again"))).unwrap();
        kit.stopped("b");
        kit.stopped("c");
        kit.started("b");
        kit.started("c");
    }
    assert!(node.is_alive(sup), "two restarts are within the intensity");
    node.send(node.whereis("b").unwrap(), Crash(ExitReason::error("again"))).unwrap();
    kit.stopped("b");
    for n in ["c", "a"] {
        assert!(exceeded(&kit.stopped(n).1), "{n} is stopped with RestartsExceeded");
    }
    let (_, exit) = next_msg::<MessageExit>(&seen);
    assert_eq!(exit.target, Target::Pid(sup));
    assert!(exceeded(&exit.reason));
    assert!(kit.quiet());
    node.stop();
}

/// Simple-one-for-one, intensity 1: one restart passes, the second failure stops every
/// instance (the newest first) and the parent sees `RestartsExceeded`.
#[test]
fn simple_one_for_one_intensity_at_and_past_the_limit() {
    let node = node("sup-matrix-sofo-intensity", 2);
    let kit = Kit::new();
    let spec = SupervisorSpec::simple_one_for_one()
        .restart(Restart::Transient)
        .intensity(1, Duration::from_secs(60))
        .child(kit.child("w"));
    let (sup, seen) = under_parent(&node, spec);
    let pids: Vec<Pid> = (0..3).map(|_| supervisor::start_child(&node, sup, "w").unwrap()).collect();
    for _ in 0..3 {
        kit.started("w");
    }
    node.send(pids[0], Crash(ExitReason::error("1"))).unwrap();
    kit.stopped("w");
    let again = kit.started("w");
    assert!(node.is_alive(sup));
    node.send(pids[1], Crash(ExitReason::error("2"))).unwrap();
    assert_eq!(kit.stopped("w"), (pids[1], ExitReason::error("2")));
    // The rest in reverse start order: the restarted one is the newest.
    for p in [again, pids[2]] {
        let (pid, reason) = kit.stopped("w");
        assert_eq!(pid, p);
        assert!(exceeded(&reason));
    }
    let (_, exit) = next_msg::<MessageExit>(&seen);
    assert_eq!(exit.target, Target::Pid(sup));
    assert!(exceeded(&exit.reason));
    assert!(kit.quiet());
    node.stop();
}

/// A significant child under all-for-one and rest-for-one that ends for good (transient,
/// normal end) stops its siblings in reverse order and the supervisor ends with its reason;
/// one that is restarted (abnormal end) does not.
#[test]
fn significant_child_under_all_for_one_and_rest_for_one() {
    let node = node("sup-matrix-significant", 2);
    for (k, kind) in [SupervisorType::AllForOne, SupervisorType::RestForOne].into_iter().enumerate() {
        let kit = Kit::new();
        let names: Vec<String> = ["a", "b", "c"].iter().map(|n| format!("s{k}-{n}")).collect();
        let spec = SupervisorSpec::new(kind)
            .keep_order(true)
            .child(kit.child(&names[0]))
            .child(kit.child(&names[1]).significant(true))
            .child(kit.child(&names[2]));
        let (sup, seen) = under_parent(&node, spec);
        let b = names.iter().map(|n| kit.started(n)).collect::<Vec<_>>()[1];
        node.send(b, Crash(ExitReason::error("restart me"))).unwrap();
        let restarted = match kind {
            SupervisorType::AllForOne => 2 + 3,
            _ => 1 + 2,
        };
        let recs = take(&kit, 1 + restarted);
        assert!(node.is_alive(sup), "{kind:?}: an abnormal end is restarted: {recs:?}");
        let b = node.whereis(&names[1]).unwrap();
        node.send(b, Crash(ExitReason::Normal)).unwrap();
        assert_eq!(kit.stopped(&names[1]), (b, ExitReason::Normal));
        assert_eq!(kit.stopped(&names[2]).1, ExitReason::Normal);
        assert_eq!(kit.stopped(&names[0]).1, ExitReason::Normal);
        let (_, exit) = next_msg::<MessageExit>(&seen);
        assert_eq!((exit.target, exit.reason), (Target::Pid(sup), ExitReason::Normal));
        assert!(kit.quiet());
    }
    node.stop();
}

/// Auto-shutdown under all-for-one: temporary children ending one by one; the supervisor ends
/// with the last one's reason.
#[test]
fn auto_shutdown_when_the_last_child_is_gone() {
    let node = node("sup-matrix-auto", 2);
    let kit = Kit::new();
    let spec = SupervisorSpec::all_for_one().restart(Restart::Temporary).child(kit.child("x")).child(kit.child("y"));
    let (sup, seen) = under_parent(&node, spec);
    let x = kit.started("x");
    let y = kit.started("y");
    node.send(y, Crash(ExitReason::Shutdown)).unwrap();
    kit.stopped("y");
    // The supervisor has taken y's end before x ends (otherwise x's end may be taken first).
    assert!(eventually(|| supervisor::children(&node, sup).unwrap()[1].pid.is_none()));
    assert!(node.is_alive(sup));
    node.send(x, Crash(ExitReason::error("last"))).unwrap();
    kit.stopped("x");
    let (_, exit) = next_msg::<MessageExit>(&seen);
    assert_eq!((exit.target, exit.reason), (Target::Pid(sup), ExitReason::error("last")));
    node.stop();
}

fn start_failed(reason: &ExitReason, child: &str) -> bool {
    matches!(reason.downcast_ref::<SupervisorError>(), Some(SupervisorError::StartFailed { child: c, .. }) if c == child)
}

/// A child whose `init` fails while the supervisor starts fails the supervisor's `init` under
/// every type that starts children (the ones before it end, the ones after it never start).
#[test]
fn init_failure_at_start_under_each_type() {
    let node = node("sup-matrix-initfail", 2);
    for (k, kind) in [SupervisorType::AllForOne, SupervisorType::RestForOne].into_iter().enumerate() {
        let kit = Kit::new();
        let (a, b, c) = (format!("i{k}-a"), format!("i{k}-b"), format!("i{k}-c"));
        let spec = SupervisorSpec::new(kind)
            .child(kit.child(&a))
            .child(kit.failing(&b, Arc::new(AtomicUsize::new(1))))
            .child(kit.child(&c));
        let err = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap_err();
        let Error::InitFailed(reason) = err else { panic!("{err:?}") };
        assert!(start_failed(&reason, &b), "{kind:?}: {reason:?}");
        let pa = kit.started(&a);
        assert_eq!(kit.stopped(&a).0, pa);
        assert!(kit.quiet(), "{kind:?}: {c} never starts");
    }
    assert!(eventually(|| node.process_count() == 0));
    node.stop();
}

/// A restart whose `init` fails ends the supervisor with `StartFailed`, after stopping the
/// children it had started, under all-for-one (the failing one is a sibling restarted with the
/// failed child) and rest-for-one.
#[test]
fn init_failure_at_restart_under_all_for_one_and_rest_for_one() {
    let node = node("sup-matrix-restartfail", 2);
    for (k, kind) in [SupervisorType::AllForOne, SupervisorType::RestForOne].into_iter().enumerate() {
        let kit = Kit::new();
        let fail = Arc::new(AtomicUsize::new(0));
        let (a, b, c) = (format!("r{k}-a"), format!("r{k}-b"), format!("r{k}-c"));
        let spec = SupervisorSpec::new(kind)
            .keep_order(true)
            .child(kit.child(&a))
            .child(kit.child(&b))
            .child(kit.failing(&c, fail.clone()));
        let (sup, seen) = under_parent(&node, spec);
        let pb = [&a, &b, &c].iter().map(|n| kit.started(n)).collect::<Vec<_>>()[1];
        fail.store(1, Ordering::SeqCst);
        node.send(pb, Crash(ExitReason::error("boom"))).unwrap();
        kit.stopped(&b);
        kit.stopped(&c);
        if kind == SupervisorType::AllForOne {
            kit.stopped(&a);
            kit.started(&a);
        }
        // b starts again, c's `init` fails: the supervisor stops what runs (b, a) and ends.
        kit.started(&b);
        kit.stopped(&b);
        kit.stopped(&a);
        let (_, exit) = next_msg::<MessageExit>(&seen);
        assert_eq!(exit.target, Target::Pid(sup));
        assert!(start_failed(&exit.reason, &c), "{kind:?}: {:?}", exit.reason);
        assert!(kit.quiet());
    }
    assert!(eventually(|| node.processes().len() == 2), "only the two parents are left");
    node.stop();
}

/// Simple-one-for-one: an instance whose `init` fails is the caller's error and the supervisor
/// stays; an instance whose restart fails ends the supervisor (after the other instances).
#[test]
fn simple_one_for_one_init_failure_at_start_and_at_restart() {
    let node = node("sup-matrix-sofo-initfail", 2);
    let kit = Kit::new();
    let fail = Arc::new(AtomicUsize::new(1));
    let spec = SupervisorSpec::simple_one_for_one().restart(Restart::Permanent).child(kit.failing("w", fail.clone()));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let (watcher, seen) = agent(&node, false);
    on(&node, watcher, move |ctx| ctx.monitor(sup)).unwrap();
    match supervisor::start_child(&node, sup, "w") {
        Err(SupervisorError::StartFailed { child, error: Error::InitFailed(r) }) => {
            assert_eq!(child, "w");
            assert_eq!(*r, ExitReason::error("init refused"));
        }
        other => panic!("{other:?}"),
    }
    assert!(node.is_alive(sup), "a failed dynamic start is the caller's error");
    let first = supervisor::start_child(&node, sup, "w").unwrap();
    let second = supervisor::start_child(&node, sup, "w").unwrap();
    kit.started("w");
    kit.started("w");
    // The exit signal of the instance that failed `init` was not taken for one from outside.
    assert!(node.is_alive(sup));
    fail.store(1, Ordering::SeqCst);
    node.send(first, Crash(ExitReason::error("boom"))).unwrap();
    assert_eq!(kit.stopped("w").0, first);
    assert_eq!(kit.stopped("w").0, second);
    let reason = next_msg::<MessageDown>(&seen).1.reason;
    assert!(start_failed(&reason, "w"), "{reason:?}");
    node.stop();
}
