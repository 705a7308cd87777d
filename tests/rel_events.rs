//! Events: a producer registers, publishes with its token; subscribers link or monitor and get
//! every message (one shared payload), the buffer on subscription, and exit/down when the
//! producer unregisters or ends; notify tells the producer about first and last subscribers.

mod support;

use ergors::{Error, EventOptions, ExitReason, MessageDown, MessageEventStart, MessageEventStop, MessageExit, Target};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    let buffered = on(&h, sub, {
        let ev = ev.clone();
        move |ctx| ctx.link_event(ev)
    })
    .unwrap();
    assert_eq!(buffered.iter().map(|m| *m.message::<u32>().unwrap()).collect::<Vec<_>>(), vec![1, 2]);
    let (mon, mrx) = agent(&h, false);
    on(&h, mon, {
        let ev = ev.clone();
        move |ctx| ctx.monitor_event(ev)
    })
    .unwrap();
    assert_eq!(
        on(&h, mon, {
            let ev = ev.clone();
            move |ctx| ctx.monitor_event(ev).map(|_| ())
        }),
        Err(Error::TargetExist)
    );
    // Both get the next one; the payload is one shared allocation.
    let payload = Arc::new(42u64);
    let p2 = payload.clone();
    on(&h, producer, move |ctx| ctx.send_event("ticks", token, p2)).unwrap();
    for rx in [&srx, &mrx] {
        match next(rx) {
            Seen::Event(m) => {
                assert_eq!(m.event(), &ev);
                assert!(Arc::ptr_eq(m.message::<Arc<u64>>().unwrap(), &payload));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // The wrong token is refused; a second producer cannot take the name.
    let bad = ergors::Ref { id: [token.id[0] + 1000, 0, 0], ..token };
    assert_eq!(on(&h, producer, move |ctx| ctx.send_event("ticks", bad, 0u8)), Err(Error::EventOwner));
    let (other, _orx) = agent(&h, false);
    assert_eq!(on(&h, other, |ctx| ctx.register_event("ticks", EventOptions::default())), Err(Error::Taken));
    // The producer ends: the linker (trapping) gets an exit, the monitor a down, with its reason.
    node.send(producer, Stop(ExitReason::error("producer gone"))).unwrap();
    terminated(&prx);
    let (_, exit) = next_msg::<MessageExit>(&srx);
    assert_eq!(exit, MessageExit { target: Target::Event(ev.clone()), reason: ExitReason::error("producer gone") });
    let (_, down) = next_msg::<MessageDown>(&mrx);
    assert_eq!(down, MessageDown { target: Target::Event(ev.clone()), reason: ExitReason::error("producer gone") });
    assert!(eventually(|| node.info().registered_events == 0));
    assert_eq!(
        on(&h, other, {
            let ev = ev.clone();
            move |ctx| ctx.link_event(ev).map(|_| ())
        }),
        Err(Error::EventUnknown)
    );
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
    on(&h, a, {
        let ev = ev.clone();
        move |ctx| ctx.monitor_event(ev)
    })
    .unwrap();
    assert_eq!(next_msg::<MessageEventStart>(&prx).1, MessageEventStart { event: ev.clone() });
    on(&h, b, {
        let ev = ev.clone();
        move |ctx| ctx.monitor_event(ev)
    })
    .unwrap();
    on(&h, a, {
        let ev = ev.clone();
        move |ctx| ctx.demonitor(ev)
    })
    .unwrap();
    assert!(quiet(&prx), "no stop while b still listens");
    // The last subscriber leaving by ending also counts (Ergo misses this case).
    node.send(b, Stop(ExitReason::Normal)).unwrap();
    terminated(&brx);
    assert_eq!(next_msg::<MessageEventStop>(&prx).1, MessageEventStop { event: ev.clone() });
    on(&h, a, {
        let ev = ev.clone();
        move |ctx| ctx.link_event(ev)
    })
    .unwrap();
    assert_eq!(next_msg::<MessageEventStart>(&prx).1, MessageEventStart { event: ev.clone() });
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
    on(&h, s, {
        let ev = ev.clone();
        move |ctx| ctx.monitor_event(ev)
    })
    .unwrap();
    node.send_event("boot", token, "ready").unwrap();
    match next(&srx) {
        Seen::Event(m) => assert_eq!(m.message::<&str>(), Some(&"ready")),
        other => panic!("unexpected {other:?}"),
    }
    node.unregister_event("boot").unwrap();
    assert_eq!(next_msg::<MessageDown>(&srx).1.reason, ExitReason::Unregistered);
    node.stop();
}

/// Spins until `flag` is set (bounded by the test patience).
fn spin_until(flag: &AtomicBool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !flag.load(Ordering::Acquire) {
        assert!(std::time::Instant::now() < deadline, "the other side never arrived");
        std::hint::spin_loop();
    }
}

/// A subscriber joining while messages are being published gets each message exactly once:
/// from the buffer it is handed, or in its mailbox (docs/decisions.md D24).
#[test]
fn a_subscriber_joining_during_publishing_gets_each_message_once() {
    const ROUNDS: usize = 300;
    const MESSAGES: u32 = 200;
    let node = node("ev-join-race", 2);
    let h = node.handle();
    let (sub, srx) = agent_with(&h, ergors::SpawnOptions::default().worker(1));
    let mut mixed = 0;
    for round in 0..ROUNDS {
        let name = format!("race-{round}");
        let token = node.register_event(&name, EventOptions { notify: false, buffer: MESSAGES as usize }).unwrap();
        let ev = node.event(&name);
        // Spinning, not a barrier: both sides leave the rendezvous within a cache-line transfer,
        // so the subscription lands among the messages rather than before or after all of them.
        let (ready, go) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let buffered = std::thread::scope(|s| {
            let (h2, ready2, go2, ev2) = (h.clone(), ready.clone(), go.clone(), ev.clone());
            let join = s.spawn(move || {
                on(&h2, sub, move |ctx| {
                    ready2.store(true, Ordering::Release);
                    spin_until(&go2);
                    let got = ctx.monitor_event(ev2).expect("subscribes");
                    got.iter().map(|m| *m.message::<u32>().expect("u32")).collect::<Vec<u32>>()
                })
            });
            spin_until(&ready);
            go.store(true, Ordering::Release);
            for i in 0..MESSAGES {
                node.send_event(&name, token, i).unwrap();
            }
            join.join().expect("the subscriber answers")
        });
        // The node's later request queues behind its events: once answered, all were handled.
        on(&h, sub, |_| ());
        if !buffered.is_empty() && buffered.len() < MESSAGES as usize {
            mixed += 1;
        }
        let mut got = buffered;
        while let Ok(seen) = srx.try_recv() {
            match seen {
                Seen::Event(m) if m.event() == &ev => got.push(*m.message::<u32>().expect("u32")),
                Seen::Msg(_, m) if m.is::<MessageDown>() => {}
                other => panic!("round {round}: unexpected {other:?}"),
            }
        }
        got.sort_unstable();
        assert_eq!(got, (0..MESSAGES).collect::<Vec<_>>(), "round {round}: lost or duplicated messages");
        node.unregister_event(&name).unwrap();
    }
    eprintln!("{mixed} of {ROUNDS} subscriptions landed between two messages");
    node.stop();
}
