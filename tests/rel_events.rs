//! Events: a producer registers, publishes with its token; subscribers link or monitor and get
//! every message (one shared payload), the buffer on subscription, and exit/down when the
//! producer unregisters or ends; notify tells the producer about first and last subscribers.

mod support;

use ergors::{Error, EventOptions, ExitReason, MessageDown, MessageEventStart, MessageEventStop, MessageExit, Target};
use std::sync::Arc;
use support::agent::*;
use support::*;

#[test]
fn publish_subscribe_buffer_and_producer_end() {
    let node = node("ev1", 2);
    let h = node.handle();
    let (producer, prx) = agent(&h, false);
    let opts = EventOptions { notify: false, buffer: 2 };
    let token = on(&h, producer, move |ctx| ctx.register_event("ticks", opts)).unwrap();
    let ev = node.event("ticks");
    for i in 0..3u32 {
        on(&h, producer, move |ctx| ctx.send_event("ticks", token, i)).unwrap();
    }
    // A late subscriber gets the last two published messages, oldest first.
    let (sub, srx) = agent(&h, true);
    let buffered = on(&h, sub, move |ctx| ctx.link_event(ev)).unwrap();
    assert_eq!(buffered.iter().map(|m| *m.message::<u32>().unwrap()).collect::<Vec<_>>(), vec![1, 2]);
    let (mon, mrx) = agent(&h, false);
    on(&h, mon, move |ctx| ctx.monitor_event(ev)).unwrap();
    assert_eq!(on(&h, mon, move |ctx| ctx.monitor_event(ev).map(|_| ())), Err(Error::TargetExist));
    // Both get the next one; the payload is one shared allocation.
    let payload = Arc::new(42u64);
    let p2 = payload.clone();
    on(&h, producer, move |ctx| ctx.send_event("ticks", token, p2)).unwrap();
    for rx in [&srx, &mrx] {
        match next(rx) {
            Seen::Event(m) => {
                assert_eq!(m.event(), ev);
                assert!(Arc::ptr_eq(m.message::<Arc<u64>>().unwrap(), &payload));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // The wrong token is refused; a second producer cannot take the name.
    let bad = ergors::Ref { id: token.id + 1000, ..token };
    assert_eq!(on(&h, producer, move |ctx| ctx.send_event("ticks", bad, 0u8)), Err(Error::EventOwner));
    let (other, _orx) = agent(&h, false);
    assert_eq!(on(&h, other, |ctx| ctx.register_event("ticks", EventOptions::default())), Err(Error::Taken));
    // The producer ends: the linker (trapping) gets an exit, the monitor a down, with its reason.
    node.send(producer, Stop(ExitReason::error("producer gone"))).unwrap();
    terminated(&prx);
    let (_, exit) = next_msg::<MessageExit>(&srx);
    assert_eq!(exit, MessageExit { target: Target::Event(ev), reason: ExitReason::error("producer gone") });
    let (_, down) = next_msg::<MessageDown>(&mrx);
    assert_eq!(down, MessageDown { target: Target::Event(ev), reason: ExitReason::error("producer gone") });
    assert!(eventually(|| node.info().registered_events == 0));
    assert_eq!(on(&h, other, move |ctx| ctx.link_event(ev).map(|_| ())), Err(Error::EventUnknown));
    node.stop();
}

#[test]
fn unregister_and_notify() {
    let node = node("ev2", 1);
    let h = node.handle();
    let (producer, prx) = agent(&h, false);
    let opts = EventOptions { notify: true, buffer: 0 };
    on(&h, producer, move |ctx| ctx.register_event("news", opts)).unwrap();
    let ev = node.event("news");
    let (a, arx) = agent(&h, false);
    let (b, brx) = agent(&h, false);
    on(&h, a, move |ctx| ctx.monitor_event(ev)).unwrap();
    assert_eq!(next_msg::<MessageEventStart>(&prx).1, MessageEventStart { event: ev });
    on(&h, b, move |ctx| ctx.monitor_event(ev)).unwrap();
    on(&h, a, move |ctx| ctx.demonitor(ev)).unwrap();
    assert!(quiet(&prx), "no stop while b still listens");
    // The last subscriber leaving by ending also counts (Ergo misses this case).
    node.send(b, Stop(ExitReason::Normal)).unwrap();
    terminated(&brx);
    assert_eq!(next_msg::<MessageEventStop>(&prx).1, MessageEventStop { event: ev });
    on(&h, a, move |ctx| ctx.link_event(ev)).unwrap();
    assert_eq!(next_msg::<MessageEventStart>(&prx).1, MessageEventStart { event: ev });
    assert_eq!(on(&h, a, |ctx| ctx.unregister_event("news")), Err(Error::EventOwner));
    assert_eq!(on(&h, producer, |ctx| ctx.unregister_event("news")), Ok(()));
    // a is linked and not trapping: the unregistration ends it with reason `unregistered`,
    // which its terminate sees wrapped with the event it came from.
    let reason = terminated(&arx);
    assert_eq!(reason.bare(), &ExitReason::Unregistered);
    assert!(matches!(reason, ExitReason::Exit(ref e) if e.target == ergors::Target::Event(ev)));
    node.stop();
}

#[test]
fn node_level_events() {
    let node = node("ev3", 1);
    let h = node.handle();
    let token = node.register_event("boot", EventOptions::default()).unwrap();
    let (s, srx) = agent(&h, false);
    let ev = node.event("boot");
    on(&h, s, move |ctx| ctx.monitor_event(ev)).unwrap();
    node.send_event("boot", token, "ready").unwrap();
    match next(&srx) {
        Seen::Event(m) => assert_eq!(m.message::<&str>(), Some(&"ready")),
        other => panic!("unexpected {other:?}"),
    }
    node.unregister_event("boot").unwrap();
    assert_eq!(next_msg::<MessageDown>(&srx).1.reason, ExitReason::Unregistered);
    node.stop();
}
