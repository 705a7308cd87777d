//! Links, as in Ergo: one-way (the process that links is told when the target ends), exits in the
//! Urgent queue, ending the linker unless it traps exits. Errors at once for missing targets.

mod support;

use ergors::{Error, ExitReason, MessageExit, Target};
use support::agent::*;
use support::*;

#[test]
fn linker_dies_with_the_target_unless_trapping() {
    let node = node("links1", 2);
    let h = node.handle();
    let (target, trx) = agent(&h, false);
    let (plain, prx) = agent(&h, false);
    let (trapper, xrx) = agent(&h, true);
    assert_eq!(on(&h, plain, move |ctx| ctx.link(target)), Ok(()));
    assert_eq!(on(&h, trapper, move |ctx| ctx.link(target)), Ok(()));
    let (watcher, wrx) = agent(&h, false);
    assert_eq!(on(&h, watcher, move |ctx| ctx.monitor(plain)), Ok(()));
    let reason = ExitReason::error("boom");
    node.send(target, Stop(reason.clone())).unwrap();
    assert_eq!(terminated(&trx), reason);
    // A non-trapping linker ends with the target's reason: its terminate sees it wrapped with
    // the target, and those watching it see the bare reason.
    let wrapped = ExitReason::Exit(Box::new(MessageExit { target: Target::Pid(target), reason: reason.clone() }));
    assert_eq!(terminated(&prx), wrapped, "a non-trapping linker ends with the target's reason");
    assert_eq!(next_msg::<ergors::MessageDown>(&wrx).1.reason, reason);
    let (from, exit) = next_msg::<MessageExit>(&xrx);
    assert_eq!(from, target);
    assert_eq!(exit, MessageExit { target: Target::Pid(target), reason });
    assert!(node.is_alive(trapper));
    assert!(quiet(&xrx), "exactly once");
    node.stop();
}

#[test]
fn links_are_one_way_and_normal_exits_still_propagate() {
    let node = node("links2", 1);
    let h = node.handle();
    let (a, arx) = agent(&h, false);
    let (b, brx) = agent(&h, false);
    on(&h, a, move |ctx| ctx.link(b)).unwrap();
    // a ends: b (the target) hears nothing.
    node.send(a, Stop(ExitReason::error("a fails"))).unwrap();
    terminated(&arx);
    assert!(quiet(&brx));
    assert!(node.is_alive(b));
    // Ergo: a normal exit ends a non-trapping linker too.
    let (c, crx) = agent(&h, false);
    on(&h, c, move |ctx| ctx.link(b)).unwrap();
    node.send(b, Stop(ExitReason::Normal)).unwrap();
    terminated(&brx);
    assert_eq!(terminated(&crx).bare(), &ExitReason::Normal);
    node.stop();
}

#[test]
fn link_errors_and_unlink() {
    let node = node("links3", 1);
    let h = node.handle();
    let (a, arx) = agent(&h, true);
    let (b, brx) = agent(&h, false);
    assert_eq!(on(&h, a, move |ctx| ctx.link(b)), Ok(()));
    assert_eq!(on(&h, a, move |ctx| ctx.link(b)), Err(Error::TargetExist));
    assert_eq!(on(&h, a, move |ctx| ctx.unlink(b)), Ok(()));
    assert_eq!(on(&h, a, move |ctx| ctx.unlink(b)), Err(Error::TargetUnknown));
    assert_eq!(on(&h, a, move |ctx| ctx.link(a)), Err(Error::NotAllowed("a process cannot link to or monitor itself")));
    let other = ergors::Atom::new("elsewhere@host");
    assert_eq!(on(&h, a, move |ctx| ctx.link(Target::Node(other))), Err(Error::NoConnection(other)));
    // Unlinked: b's end is not reported.
    node.send(b, Stop(ExitReason::Normal)).unwrap();
    terminated(&brx);
    assert!(quiet(&arx));
    // A target that no longer exists is an error at once (Ergo has no noproc message).
    assert_eq!(on(&h, a, move |ctx| ctx.link(b)), Err(Error::ProcessUnknown));
    assert_eq!(on(&h, a, |ctx| ctx.link(ctx.node().process_id("nobody"))), Err(Error::ProcessUnknown));
    node.stop();
}

#[test]
fn exits_overtake_queued_messages() {
    let node = node("links4", 2);
    let h = node.handle();
    let (watcher, wrx) = agent(&h, true); // worker 0
    let (target, trx) = agent(&h, false); // worker 1
    on(&h, watcher, move |ctx| ctx.link(target)).unwrap();
    // The watcher queues 1000 messages to itself, then holds its worker until told to go on.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let h2 = h.clone();
    let busy = std::thread::spawn(move || {
        on(&h2, watcher, move |ctx| {
            for i in 0..1000u32 {
                ctx.send(ctx.pid(), i).unwrap();
            }
            let _ = go_rx.recv();
        })
    });
    assert!(eventually(|| node.process_info(watcher).is_ok_and(|i| i.mailbox[2] == 1000)));
    node.send(target, Stop(ExitReason::Shutdown)).unwrap();
    terminated(&trx);
    assert!(eventually(|| node.process_info(watcher).is_ok_and(|i| i.mailbox[0] == 1)), "the exit waits in Urgent");
    go_tx.send(()).unwrap();
    busy.join().unwrap();
    match next(&wrx) {
        Seen::Msg(_, m) => assert!(m.is::<MessageExit>(), "the exit comes before the 1000 queued messages"),
        other => panic!("unexpected {other:?}"),
    }
    node.stop();
}

// Ported from Ergo's t006 (TestT6ActorLink): every target kind, every way a target goes.
#[test]
fn link_every_target_kind_for_every_reason() {
    let node = node("link-matrix", 2);
    support::matrix::every_case(&node.handle(), true);
    node.stop();
}

// Ported from Ergo's t006 (TestLinkUnknown): a target that does not exist is an error at once.
#[test]
fn linking_what_does_not_exist_fails_at_once() {
    let node = node("link-unknown", 1);
    let h = node.handle();
    let (w, _wrx) = agent(&h, true);
    let (gone, _grx) = agent(&h, false);
    let alias = on(&h, gone, |ctx| ctx.create_alias().unwrap());
    node.kill(gone).unwrap();
    assert!(eventually(|| !node.is_alive(gone)));
    assert_eq!(on(&h, w, move |ctx| ctx.link(gone)), Err(Error::ProcessUnknown));
    assert_eq!(on(&h, w, |ctx| ctx.link(ctx.node().process_id("test"))), Err(Error::ProcessUnknown));
    assert_eq!(on(&h, w, move |ctx| ctx.link(alias)), Err(Error::AliasUnknown));
    assert_eq!(on(&h, w, |ctx| ctx.link_event(ctx.node().event("test")).map(drop)), Err(Error::EventUnknown));
    assert_eq!(node.process_info(w).unwrap().links, Vec::new());
    node.stop();
}
