//! Registered names: unique per node, one per process, send/call by name, released at the end.

mod support;

use ergors::{Error, ExitReason, MessageDown, SpawnOptions, Target};
use support::agent::*;
use support::*;

#[test]
fn register_lookup_send_and_call_by_name() {
    let node = node("names1", 2);
    let h = node.handle();
    let (a, arx) = agent(&h, false);
    assert_eq!(on(&h, a, |ctx| ctx.register_name("alpha")), Ok(()));
    assert_eq!(node.whereis("alpha"), Some(a));
    assert_eq!(on(&h, a, |ctx| ctx.name().map(|n| n.to_string())), Some("alpha".to_string()));
    node.send("alpha", 1u32).unwrap();
    assert_eq!(next_msg::<u32>(&arx).1, 1);
    node.send(node.process_id("alpha"), 2u32).unwrap();
    assert_eq!(next_msg::<u32>(&arx).1, 2);
    assert_eq!(node.call("alpha", 7u8).unwrap().downcast::<u8>().ok(), Some(7));
    // From another process, by name.
    let (b, _brx) = agent(&h, false);
    assert_eq!(on(&h, b, |ctx| ctx.send("alpha", 3u32)), Ok(()));
    assert_eq!(next_msg::<u32>(&arx), (b, 3));
    node.stop();
}

#[test]
fn names_are_unique_and_one_per_process() {
    let node = node("names2", 1);
    let h = node.handle();
    let (a, _arx) = agent(&h, false);
    let (b, _brx) = agent(&h, false);
    assert_eq!(on(&h, a, |ctx| ctx.register_name("x")), Ok(()));
    assert_eq!(on(&h, b, |ctx| ctx.register_name("x")), Err(Error::Taken));
    assert_eq!(on(&h, a, |ctx| ctx.register_name("y")), Err(Error::Taken), "one name per process");
    assert_eq!(on(&h, b, |ctx| ctx.register_name("")), Err(Error::BadName));
    assert_eq!(on(&h, b, |ctx| ctx.register_name(&"n".repeat(256))), Err(Error::BadName));
    assert_eq!(on(&h, a, |ctx| ctx.unregister_name()), Ok(()));
    assert_eq!(on(&h, a, |ctx| ctx.unregister_name()), Err(Error::NameUnknown));
    assert_eq!(node.whereis("x"), None);
    assert_eq!(node.send("x", 1u8), Err(Error::ProcessUnknown));
    assert_eq!(on(&h, b, |ctx| ctx.register_name("x")), Ok(()), "free again");
    node.stop();
}

#[test]
fn name_is_released_when_its_process_ends() {
    let node = node("names3", 1);
    let h = node.handle();
    let (a, arx) = agent(&h, false);
    on(&h, a, |ctx| ctx.register_name("short-lived")).unwrap();
    node.send(a, Stop(ExitReason::Normal)).unwrap();
    assert_eq!(terminated(&arx), ExitReason::Normal);
    assert!(eventually(|| node.whereis("short-lived").is_none()));
    let (b, _brx) = agent(&h, false);
    assert_eq!(on(&h, b, |ctx| ctx.register_name("short-lived")), Ok(()));
    node.stop();
}

#[test]
fn spawn_register_and_watchers_of_a_name() {
    let node = node("names4", 2);
    let h = node.handle();
    let (tx, _rx) = std::sync::mpsc::channel();
    let p = node.spawn_register("service", support::Probe { tx }, SpawnOptions::default()).unwrap();
    assert_eq!(node.whereis("service"), Some(p));
    let (tx2, _rx2) = std::sync::mpsc::channel();
    assert_eq!(node.spawn_register("service", support::Probe { tx: tx2 }, SpawnOptions::default()), Err(Error::Taken));
    // A monitor on the name fires with `unregistered` when the name goes, though the process lives.
    let (w, wrx) = agent(&h, false);
    let id = node.process_id("service");
    let watched = id.clone();
    assert_eq!(on(&h, w, move |ctx| ctx.monitor(watched)), Ok(()));
    node.send(p, ExitReason::Normal).unwrap(); // the probe stops on an ExitReason message
    let (_, down) = next_msg::<MessageDown>(&wrx);
    assert_eq!(down, MessageDown { target: Target::Name(id), reason: ExitReason::Normal });
    assert!(quiet(&wrx));
    node.stop();
}

// Ported from Ergo's t000 (TestT0NodeBasic): the node registers and unregisters names for any
// local process, and lists its processes.
#[test]
fn the_node_registers_and_unregisters_names_for_any_process() {
    let node = node("names-node", 2);
    let h = node.handle();
    let (a, arx) = agent(&h, false);
    assert_eq!(node.register_name("test", a), Ok(()));
    assert_eq!(node.register_name("test", a), Err(Error::Taken));
    let (b, _brx) = agent(&h, false);
    assert_eq!(node.register_name("test", b), Err(Error::Taken), "the name is in use");
    assert_eq!(node.register_name("other", a), Err(Error::Taken), "one name per process");
    assert_eq!(node.register_name("", b), Err(Error::BadName));
    assert_eq!(node.whereis("test"), Some(a));
    assert_eq!(node.process_info(a).unwrap().name.as_deref(), Some("test"));
    assert_eq!(on(&h, a, |ctx| ctx.name().map(|n| n.to_string())), Some("test".to_string()));
    assert_eq!(node.info().registered_names, 1);
    node.send("test", 5u8).unwrap();
    assert_eq!(next_msg::<u8>(&arx).1, 5);

    // A monitor on the name fires with `unregistered` when the node drops it.
    let id = node.process_id("test");
    let watched = id.clone();
    assert_eq!(on(&h, b, move |ctx| ctx.monitor(watched)), Ok(()));
    assert_eq!(node.unregister_name("test"), Ok(a));
    assert_eq!(node.unregister_name("test"), Err(Error::NameUnknown));
    assert_eq!(node.whereis("test"), None);
    assert_eq!(node.send("test", 1u8), Err(Error::ProcessUnknown));
    assert_eq!(node.process_info(a).unwrap().name, None);
    assert!(quiet(&arx), "the process itself is not signalled");
    drop(_brx);

    // A process that ended cannot be given a name.
    node.send(a, Stop(ExitReason::Normal)).unwrap();
    assert_eq!(terminated(&arx), ExitReason::Normal);
    // `terminate` runs before the process is marked ended.
    assert!(eventually(|| !node.is_alive(a)));
    assert_eq!(node.register_name("late", a), Err(Error::ProcessUnknown));
    let (c, _crx) = agent(&h, false);
    assert_eq!(on(&h, c, |ctx| ctx.register_name("test")), Ok(()), "the name is free again");
    assert_eq!(node.unregister_name("test"), Ok(c));
    node.stop();
}

#[test]
fn unregistering_by_node_fires_the_watchers_of_the_name() {
    let node = node("names-node-watch", 2);
    let h = node.handle();
    let (a, _arx) = agent(&h, false);
    let (w, wrx) = agent(&h, false);
    node.register_name("svc", a).unwrap();
    let id = node.process_id("svc");
    let watched = id.clone();
    assert_eq!(on(&h, w, move |ctx| ctx.monitor(&watched)), Ok(()));
    assert_eq!(node.unregister_name("svc"), Ok(a));
    let (_, down) = next_msg::<MessageDown>(&wrx);
    assert_eq!(down, MessageDown { target: Target::Name(id), reason: ExitReason::Unregistered });
    assert!(node.is_alive(a));
    node.stop();
}

// Ergo's t000: `node.ProcessList`.
#[test]
fn the_node_lists_its_processes() {
    let node = node("names-list", 2);
    let h = node.handle();
    assert!(node.processes().is_empty());
    let (a, _arx) = agent(&h, false);
    let (b, _brx) = agent(&h, false);
    let mut list = node.processes();
    list.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(list, want);
    node.kill(a).unwrap();
    assert!(eventually(|| node.processes() == vec![b]));
    node.stop();
    assert!(node.processes().is_empty());
}
