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
