//! Step 4, item 2: the one-for-one supervisor, Ergo's t010 cases in our words: children start in
//! spec order, each restart strategy against each way a child ends, restart intensity at and one
//! past its limit, a child failing `init`, significant children, auto-shutdown, ordered shutdown
//! (with a kill for a child that does not stop) and the dynamic requests.

mod support;

use ergors::supervisor::{self, SupervisorChild};
use ergors::{
    Error, ExitReason, MessageDown, MessageExit, Restart, SpawnOptions, Supervisor, SupervisorError, SupervisorSpec,
    Target,
};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;
use support::agent::{Seen, agent, next_msg, on};
use support::sup::{Block, Crash, Kit, Rec};
use support::{eventually, node};

/// A process that monitors `pid` (for the test to see how it ended).
fn watch(node: &ergors::NodeHandle, pid: ergors::Pid) -> std::sync::mpsc::Receiver<Seen> {
    let (watcher, rx) = agent(node, false);
    on(node, watcher, move |ctx| ctx.monitor(pid)).expect("monitor");
    rx
}

fn down(rx: &std::sync::mpsc::Receiver<Seen>) -> ExitReason {
    next_msg::<MessageDown>(rx).1.reason
}

#[test]
fn children_start_in_spec_order_registered_under_their_names() {
    let node = node("sup-ofo-start", 2);
    let kit = Kit::new();
    let spec = SupervisorSpec::one_for_one().child(kit.child("a")).child(kit.child("b")).child(kit.child("c"));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let pids: Vec<_> = ["a", "b", "c"].iter().map(|n| kit.started(n)).collect();
    for (n, pid) in ["a", "b", "c"].iter().zip(&pids) {
        assert_eq!(node.whereis(n), Some(*pid));
        let info = node.process_info(*pid).unwrap();
        assert_eq!(info.parent, sup);
        // Linked both ways.
        assert!(info.links.contains(&Target::Pid(sup)));
        assert!(node.process_info(sup).unwrap().links.contains(&Target::Pid(*pid)));
    }
    let listed = supervisor::children(&node, sup).unwrap();
    let expect: Vec<SupervisorChild> = ["a", "b", "c"]
        .iter()
        .zip(&pids)
        .map(|(n, p)| SupervisorChild {
            spec: n.to_string(),
            name: Some(n.to_string()),
            pid: Some(*p),
            significant: false,
            disabled: false,
        })
        .collect();
    assert_eq!(listed, expect);
    node.stop();
}

#[derive(Clone, Copy, Debug)]
enum End {
    Normal,
    Shutdown,
    Crash,
    Kill,
}

/// Every restart strategy against every way a child ends (Ergo's TestStrategy): transient
/// restarts what ended abnormally (a crash, a kill), permanent everything, temporary nothing.
#[test]
fn each_strategy_against_each_end() {
    let node = node("sup-ofo-strategy", 2);
    for restart in [Restart::Transient, Restart::Temporary, Restart::Permanent] {
        for end in [End::Normal, End::Shutdown, End::Crash, End::Kill] {
            let kit = Kit::new();
            let (a, b) = (format!("{restart:?}-{end:?}-a"), format!("{restart:?}-{end:?}-b"));
            let spec = SupervisorSpec::one_for_one().restart(restart).child(kit.child(&a)).child(kit.child(&b));
            let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
            let pid_a = kit.started(&a);
            kit.started(&b);
            let reason = match end {
                End::Normal => ExitReason::Normal,
                End::Shutdown => ExitReason::Shutdown,
                End::Crash => ExitReason::error("boom"),
                End::Kill => ExitReason::Kill,
            };
            match end {
                End::Kill => node.kill(pid_a).unwrap(),
                _ => node.send(pid_a, Crash(reason.clone())).unwrap(),
            }
            let restarted = match restart {
                Restart::Permanent => true,
                Restart::Temporary => false,
                Restart::Transient => matches!(end, End::Crash | End::Kill),
            };
            // A killed child's `terminate` runs after it was unregistered (D34): its restart
            // may come first.
            let mut seen = vec![kit.next()];
            if restarted {
                seen.push(kit.next());
            }
            assert!(seen.contains(&Rec::Stop(a.clone(), pid_a, reason)), "{seen:?}");
            if restarted {
                let again = seen.iter().find_map(|r| match r {
                    Rec::Start(n, p) if *n == a => Some(*p),
                    _ => None,
                });
                let again = again.expect("restarted");
                assert_ne!(again, pid_a);
                assert_eq!(node.whereis(&a), Some(again));
            } else {
                assert!(kit.quiet(), "{restart:?} {end:?}: nothing restarts");
                let listed = supervisor::children(&node, sup).unwrap();
                assert_eq!(listed[0].pid, None);
                assert!(listed[1].pid.is_some());
            }
            assert!(node.is_alive(sup));
        }
    }
    node.stop();
}

/// Intensity 3 in a minute: three restarts are fine; the fourth failure stops the other children
/// and ends the supervisor with `RestartsExceeded`, which its linked parent sees.
#[test]
fn intensity_at_the_limit_and_one_past_it() {
    let node = node("sup-ofo-intensity", 2);
    let kit = Kit::new();
    let (parent, seen) = agent(&node, true);
    let spec = SupervisorSpec::one_for_one()
        .restart(Restart::Permanent)
        .intensity(3, Duration::from_secs(60))
        .child(kit.child("a"))
        .child(kit.child("b"));
    let sup =
        on(&node, parent, move |ctx| ctx.spawn(Supervisor::new(spec), SpawnOptions::default().link_child())).unwrap();
    let mut a = kit.started("a");
    let b = kit.started("b");
    for _ in 0..3 {
        node.send(a, Crash(ExitReason::error("again"))).unwrap();
        kit.stopped("a");
        a = kit.started("a");
    }
    assert!(node.is_alive(sup), "three restarts are within the intensity");
    node.send(a, Crash(ExitReason::error("again"))).unwrap();
    kit.stopped("a");
    let (pid, reason) = kit.stopped("b");
    assert_eq!(pid, b);
    assert_eq!(reason.downcast_ref::<SupervisorError>(), Some(&SupervisorError::RestartsExceeded));
    let (_, exit) = next_msg::<MessageExit>(&seen);
    assert_eq!(exit.target, Target::Pid(sup));
    assert_eq!(exit.reason.downcast_ref::<SupervisorError>(), Some(&SupervisorError::RestartsExceeded));
    assert!(kit.quiet());
    node.stop();
}

/// A child whose `init` fails fails the supervisor's own `init` (as Ergo's Spawn): the children
/// started before it end, the ones after it never start.
#[test]
fn a_child_failing_init_fails_the_supervisor() {
    let node = node("sup-ofo-initfail", 2);
    let kit = Kit::new();
    let fail = Arc::new(AtomicUsize::new(1));
    let spec = SupervisorSpec::one_for_one().child(kit.child("a")).child(kit.failing("b", fail)).child(kit.child("c"));
    let err = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap_err();
    let Error::InitFailed(reason) = err else { panic!("{err:?}") };
    assert_eq!(
        reason.downcast_ref::<SupervisorError>(),
        Some(&SupervisorError::StartFailed {
            child: "b".into(),
            error: Error::InitFailed(Box::new(ExitReason::error("init refused")))
        })
    );
    let a = kit.started("a");
    assert_eq!(kit.stopped("a").0, a);
    assert!(kit.quiet());
    assert!(eventually(|| node.processes().is_empty()));
    node.stop();
}

/// A restart whose `init` fails ends the supervisor (after it stopped the others).
#[test]
fn a_restart_failing_init_ends_the_supervisor() {
    let node = node("sup-ofo-restartfail", 2);
    let kit = Kit::new();
    let fail = Arc::new(AtomicUsize::new(0));
    let spec = SupervisorSpec::one_for_one().child(kit.failing("a", fail.clone())).child(kit.child("b"));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let watched = watch(&node, sup);
    let a = kit.started("a");
    kit.started("b");
    fail.store(1, std::sync::atomic::Ordering::SeqCst);
    node.send(a, Crash(ExitReason::error("boom"))).unwrap();
    kit.stopped("a");
    kit.stopped("b");
    let reason = down(&watched);
    assert!(
        matches!(reason.downcast_ref::<SupervisorError>(), Some(SupervisorError::StartFailed { child, .. }) if child == "a")
    );
    node.stop();
}

/// An exit signal from the parent (here the node) stops the children one at a time in reverse
/// order, and then the supervisor, with the signal's reason.
#[test]
fn exit_from_the_parent_stops_children_in_reverse_order() {
    let node = node("sup-ofo-shutdown", 2);
    let kit = Kit::new();
    let spec = SupervisorSpec::one_for_one().child(kit.child("a")).child(kit.child("b")).child(kit.child("c"));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let watched = watch(&node, sup);
    for n in ["a", "b", "c"] {
        kit.started(n);
    }
    node.send_exit(sup, ExitReason::error("bye")).unwrap();
    for n in ["c", "b", "a"] {
        assert_eq!(kit.stopped(n).1, ExitReason::error("bye"));
    }
    assert_eq!(down(&watched), ExitReason::error("bye"));
    node.stop();
}

/// A child that does not end within its shutdown timeout is killed; the next one is stopped after it.
#[test]
fn a_child_that_does_not_stop_in_time_is_killed() {
    let node = node("sup-ofo-kill", 2);
    let kit = Kit::new();
    let spec = SupervisorSpec::one_for_one()
        .child(kit.child("a"))
        .child(kit.child("stuck").shutdown(Duration::from_millis(50)));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let watched = watch(&node, sup);
    kit.started("a");
    let stuck = kit.started("stuck");
    let stuck_watch = watch(&node, stuck);
    node.send(stuck, Block).unwrap();
    assert_eq!(kit.next(), Rec::Blocked("stuck".into(), stuck));
    node.send_exit(sup, ExitReason::Shutdown).unwrap();
    assert_eq!(down(&stuck_watch), ExitReason::Kill);
    // The stuck child took the exit (its `terminate` began with it, D168) but did not finish
    // within its shutdown timeout: killed, then a is stopped.
    let stops = vec![kit.next(), kit.next()];
    assert!(matches!(&stops[0], Rec::Stop(n, p, ExitReason::Shutdown) if n == "stuck" && *p == stuck), "{stops:?}");
    assert!(matches!(&stops[1], Rec::Stop(n, _, ExitReason::Shutdown) if n == "a"), "{stops:?}");
    assert_eq!(down(&watched), ExitReason::Shutdown);
    node.stop();
}

/// A significant child that ends and is not restarted takes the supervisor down (after the
/// others); without significant children, the supervisor ends when the last child has ended,
/// unless auto-shutdown is disabled (Ergo's TestSignificant and DisableAutoShutdown).
#[test]
fn significant_children_and_auto_shutdown() {
    let node = node("sup-ofo-significant", 2);
    let kit = Kit::new();
    let spec = SupervisorSpec::one_for_one().child(kit.child("a").significant(true)).child(kit.child("b"));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let watched = watch(&node, sup);
    let a = kit.started("a");
    kit.started("b");
    node.send(a, Crash(ExitReason::Normal)).unwrap();
    kit.stopped("a");
    assert_eq!(kit.stopped("b").1, ExitReason::Normal);
    assert_eq!(down(&watched), ExitReason::Normal);

    // Temporary, nothing significant: the supervisor ends with the last child.
    let spec = SupervisorSpec::one_for_one().restart(Restart::Temporary).child(kit.child("c")).child(kit.child("d"));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let watched = watch(&node, sup);
    let c = kit.started("c");
    let d = kit.started("d");
    node.send(c, Crash(ExitReason::error("x"))).unwrap();
    kit.stopped("c");
    // The supervisor has taken c's end before d ends (otherwise d's end may be taken first).
    assert!(eventually(|| supervisor::children(&node, sup).unwrap()[0].pid.is_none()));
    assert!(node.is_alive(sup));
    node.send(d, Crash(ExitReason::error("y"))).unwrap();
    kit.stopped("d");
    assert_eq!(down(&watched), ExitReason::error("y"));

    // The same with auto-shutdown disabled: it stays.
    let spec = SupervisorSpec::one_for_one().restart(Restart::Temporary).disable_auto_shutdown().child(kit.child("e"));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let e = kit.started("e");
    node.send(e, Crash(ExitReason::Normal)).unwrap();
    kit.stopped("e");
    assert!(kit.quiet());
    assert!(node.is_alive(sup));
    node.stop();
}

/// Start, add, disable and enable children by request (Ergo's StartChild, AddChild,
/// DisableChild, EnableChild, Children).
#[test]
fn dynamic_children() {
    let node = node("sup-ofo-dynamic", 2);
    let kit = Kit::new();
    let spec = SupervisorSpec::one_for_one().restart(Restart::Temporary).child(kit.child("a")).child(kit.child("b"));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let a = kit.started("a");
    let b = kit.started("b");
    assert_eq!(supervisor::start_child(&node, sup, "a"), Err(SupervisorError::ChildRunning));
    assert_eq!(supervisor::start_child(&node, sup, "zz"), Err(SupervisorError::ChildUnknown));

    supervisor::disable_child(&node, sup, "b").unwrap();
    assert_eq!(kit.stopped("b"), (b, ExitReason::Shutdown));
    assert!(eventually(|| supervisor::children(&node, sup).unwrap()[1].pid.is_none()));
    assert_eq!(supervisor::start_child(&node, sup, "b"), Err(SupervisorError::ChildDisabled));
    let listed = supervisor::children(&node, sup).unwrap();
    assert!(listed[1].disabled && listed[1].pid.is_none());
    let b = supervisor::enable_child(&node, sup, "b").unwrap().unwrap();
    assert_eq!(kit.started("b"), b);

    // Temporary: not restarted, but may be started again by request.
    node.send(a, Crash(ExitReason::error("gone"))).unwrap();
    kit.stopped("a");
    // Its `terminate` has run; the supervisor learns of its end just after.
    assert!(eventually(|| supervisor::children(&node, sup).unwrap()[0].pid.is_none()));
    let a2 = supervisor::start_child(&node, sup, "a").unwrap();
    assert_eq!(kit.started("a"), a2);

    let c = supervisor::add_child(&node, sup, kit.child("c")).unwrap().unwrap();
    assert_eq!(kit.started("c"), c);
    assert_eq!(node.whereis("c"), Some(c));
    assert_eq!(supervisor::add_child(&node, sup, kit.child("c")), Err(SupervisorError::ChildDuplicate));
    let names: Vec<_> = supervisor::children(&node, sup).unwrap().into_iter().map(|c| (c.spec, c.pid)).collect();
    assert_eq!(names, vec![("a".into(), Some(a2)), ("b".into(), Some(b)), ("c".into(), Some(c))]);

    // A request to a process that is not a supervisor.
    let (other, _) = agent(&node, false);
    assert!(matches!(supervisor::children(&node, other), Err(SupervisorError::Request(_))));
    node.stop();
}
