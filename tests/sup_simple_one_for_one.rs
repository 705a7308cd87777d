//! Step 4, item 2: the simple-one-for-one supervisor, Ergo's t009 cases in our words: no child
//! at start, instances started on request (unregistered), restarted one for one, disabled as a
//! group, stopped in reverse start order.

mod support;

use ergors::supervisor;
use ergors::{ExitReason, MessageDown, Restart, SpawnOptions, Supervisor, SupervisorError, SupervisorSpec};
use support::agent::{agent, next_msg, on};
use support::sup::{Crash, Kit};
use support::{eventually, node};

#[test]
fn instances_start_on_request_and_restart_one_for_one() {
    let node = node("sup-sofo", 2);
    let kit = Kit::new();
    let spec = SupervisorSpec::simple_one_for_one().restart(Restart::Permanent).child(kit.child("w"));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    assert!(kit.quiet(), "nothing starts with the supervisor");
    let pids: Vec<_> = (0..3).map(|_| supervisor::start_child(&node, sup, "w").unwrap()).collect();
    for p in &pids {
        assert_eq!(kit.started("w"), *p);
    }
    assert_eq!(node.whereis("w"), None, "instances are not registered");
    let listed = supervisor::children(&node, sup).unwrap();
    assert_eq!(listed.iter().map(|c| c.pid.unwrap()).collect::<Vec<_>>(), pids);
    assert_eq!(supervisor::start_child(&node, sup, "x"), Err(SupervisorError::ChildUnknown));

    node.send(pids[1], Crash(ExitReason::error("boom"))).unwrap();
    kit.stopped("w");
    let again = kit.started("w");
    assert!(eventually(|| supervisor::children(&node, sup).unwrap().iter().any(|c| c.pid == Some(again))));
    assert_eq!(supervisor::children(&node, sup).unwrap().len(), 3);

    // Disabling the spec stops its instances; it cannot start until enabled again.
    supervisor::disable_child(&node, sup, "w").unwrap();
    for _ in 0..3 {
        assert_eq!(kit.stopped("w").1, ExitReason::Shutdown);
    }
    assert!(kit.quiet(), "a disabled spec is not restarted");
    assert_eq!(supervisor::start_child(&node, sup, "w"), Err(SupervisorError::ChildDisabled));
    assert_eq!(supervisor::enable_child(&node, sup, "w"), Ok(None));
    let p = supervisor::start_child(&node, sup, "w").unwrap();
    assert_eq!(kit.started("w"), p);
    assert!(node.is_alive(sup));
    node.stop();
}

#[test]
fn transient_and_temporary_instances_and_shutdown_order() {
    let node = node("sup-sofo-shutdown", 2);
    let kit = Kit::new();
    let spec = SupervisorSpec::simple_one_for_one().child(kit.child("t"));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    let (watcher, seen) = agent(&node, false);
    on(&node, watcher, move |ctx| ctx.monitor(sup)).unwrap();
    let first = supervisor::start_child(&node, sup, "t").unwrap();
    kit.started("t");
    // Transient: a normal end is not restarted, and the supervisor stays without children.
    node.send(first, Crash(ExitReason::Normal)).unwrap();
    kit.stopped("t");
    assert!(kit.quiet());
    assert!(node.is_alive(sup));
    let pids: Vec<_> = (0..3).map(|_| supervisor::start_child(&node, sup, "t").unwrap()).collect();
    for _ in 0..3 {
        kit.started("t");
    }
    node.send_exit(sup, ExitReason::error("bye")).unwrap();
    for p in pids.iter().rev() {
        assert_eq!(kit.stopped("t"), (*p, ExitReason::error("bye")));
    }
    assert_eq!(next_msg::<MessageDown>(&seen).1.reason, ExitReason::error("bye"));
    node.stop();
}
