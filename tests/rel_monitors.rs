//! Monitors: a down message (System queue, `handle_message`) carrying the target and the reason,
//! for every target kind; demonitor; errors at once for missing targets.

mod support;

use ergors::{Error, ExitReason, MessageDown, Target};
use support::agent::*;
use support::*;

#[test]
fn down_by_pid_name_and_alias_each_once() {
    let node = node("mon1", 2);
    let h = node.handle();
    let (t, trx) = agent(&h, false);
    on(&h, t, |ctx| ctx.register_name("watched")).unwrap();
    let alias = on(&h, t, |ctx| ctx.create_alias()).unwrap();
    let (w, wrx) = agent(&h, false);
    let id = node.process_id("watched");
    assert_eq!(on(&h, w, move |ctx| ctx.monitor(t)), Ok(()));
    let watched = id.clone();
    assert_eq!(on(&h, w, move |ctx| ctx.monitor(watched)), Ok(()));
    assert_eq!(on(&h, w, move |ctx| ctx.monitor(alias)), Ok(()));
    assert_eq!(on(&h, w, move |ctx| ctx.monitor(t)), Err(Error::TargetExist));
    let reason = ExitReason::error("crashed");
    node.send(t, Stop(reason.clone())).unwrap();
    terminated(&trx);
    let mut got: Vec<Target> = (0..3)
        .map(|_| {
            let (_, d) = next_msg::<MessageDown>(&wrx);
            assert_eq!(d.reason, reason);
            d.target
        })
        .collect();
    got.sort_by_key(|t| format!("{t:?}"));
    let mut want = vec![Target::Pid(t), Target::Name(id), Target::Alias(alias)];
    want.sort_by_key(|t| format!("{t:?}"));
    assert_eq!(got, want);
    assert!(quiet(&wrx), "each monitor fires once");
    assert!(node.is_alive(w), "a down message does not end the monitoring process");
    // The monitor is gone with the target: monitoring again is an error, not a duplicate.
    assert_eq!(on(&h, w, move |ctx| ctx.demonitor(t)), Err(Error::TargetUnknown));
    node.stop();
}

#[test]
fn demonitor_stops_notifications() {
    let node = node("mon2", 1);
    let h = node.handle();
    let (t, trx) = agent(&h, false);
    let (w, wrx) = agent(&h, false);
    on(&h, w, move |ctx| ctx.monitor(t)).unwrap();
    assert_eq!(on(&h, w, move |ctx| ctx.demonitor(t)), Ok(()));
    node.send(t, Stop(ExitReason::Normal)).unwrap();
    terminated(&trx);
    assert!(quiet(&wrx));
    assert_eq!(on(&h, w, move |ctx| ctx.monitor(t)), Err(Error::ProcessUnknown));
    node.stop();
}

#[test]
fn watchers_that_end_first_are_forgotten() {
    let node = node("mon3", 1);
    let h = node.handle();
    let (t, _trx) = agent(&h, false);
    let (w, wrx) = agent(&h, false);
    on(&h, w, move |ctx| ctx.monitor(t)).unwrap();
    assert_eq!(node.process_info(t).unwrap().monitored_by, 1);
    node.send(w, Stop(ExitReason::Normal)).unwrap();
    terminated(&wrx);
    assert!(eventually(|| node.process_info(t).unwrap().monitored_by == 0), "the dead watcher is detached");
    node.stop();
}

// Ported from Ergo's t005 (TestT5ActorMonitor): every target kind, every way a target goes.
#[test]
fn monitor_every_target_kind_for_every_reason() {
    let node = node("monitor-matrix", 2);
    support::matrix::every_case(&node.handle(), false);
    node.stop();
}

// Ported from Ergo's t005 (TestMonitorUnknown): a target that does not exist is an error at once.
#[test]
fn monitoring_what_does_not_exist_fails_at_once() {
    let node = node("monitor-unknown", 1);
    let h = node.handle();
    let (w, _wrx) = agent(&h, true);
    let (gone, _grx) = agent(&h, false);
    let alias = on(&h, gone, |ctx| ctx.create_alias().unwrap());
    node.kill(gone).unwrap();
    assert!(eventually(|| !node.is_alive(gone)));
    assert_eq!(on(&h, w, move |ctx| ctx.monitor(gone)), Err(Error::ProcessUnknown));
    assert_eq!(on(&h, w, |ctx| ctx.monitor(ctx.node().process_id("test"))), Err(Error::ProcessUnknown));
    assert_eq!(on(&h, w, move |ctx| ctx.monitor(alias)), Err(Error::AliasUnknown));
    assert_eq!(on(&h, w, |ctx| ctx.monitor_event(ctx.node().event("test")).map(drop)), Err(Error::EventUnknown));
    assert_eq!(node.process_info(w).unwrap().monitors, Vec::new());
    node.stop();
}
