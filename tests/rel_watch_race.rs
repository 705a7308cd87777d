//! A link or monitor made on a name or an alias while that name is unregistered (or the alias
//! deleted) on another thread either fails or fires with `unregistered`: it never outlives the
//! identity it was made on (docs/decisions.md D23).

mod support;

use ergors::{Error, ExitReason, MessageDown, MessageExit, SpawnOptions, Target};
use std::sync::{Arc, Barrier};
use support::agent::*;
use support::*;

const ROUNDS: usize = 2000;

#[test]
fn watching_a_name_or_alias_racing_its_removal_never_outlives_it() {
    let node = node("watch-race", 2);
    let h = node.handle();
    // The owner and the watcher on different workers, so that the two sides really race.
    let (owner, _orx) = agent_with(&h, SpawnOptions::default().worker(0));
    let (watcher, wrx) = agent_with(&h, SpawnOptions::default().worker(1));
    on(&h, watcher, |ctx| ctx.set_trap_exit(true));
    // The watcher already watches many other things, so adding one more relation takes a while
    // (its own list is searched for a duplicate between resolving the target and registering
    // with it): this widens the window the race needs, without any timing in the test.
    let (helper, _hrx) = agent(&h, false);
    let others = on(&h, helper, |ctx| (0..20_000).map(|_| ctx.create_alias().unwrap()).collect::<Vec<_>>());
    on(&h, watcher, move |ctx| {
        for a in others {
            ctx.monitor(a).unwrap();
        }
    });
    let mut established = 0;
    for round in 0..ROUNDS {
        let by_alias = round % 2 == 1;
        let link = round % 4 >= 2;
        let target = if by_alias {
            Target::Alias(on(&h, owner, |ctx| ctx.create_alias().unwrap()))
        } else {
            let name = format!("race-{round}");
            h.register_name(&name, owner).unwrap();
            Target::Name(h.process_id(&name))
        };
        let go = Arc::new(Barrier::new(2));
        let watched = target.clone();
        let result = std::thread::scope(|s| {
            let (h2, go2) = (h.clone(), go.clone());
            let watch = s.spawn(move || {
                on(&h2, watcher, move |ctx| {
                    go2.wait();
                    if link { ctx.link(watched) } else { ctx.monitor(watched) }
                })
            });
            go.wait();
            match &target {
                Target::Alias(a) => {
                    let a = *a;
                    assert_eq!(on(&h, owner, move |ctx| ctx.delete_alias(a)), Ok(()));
                }
                Target::Name(id) => assert_eq!(h.unregister_name(&id.name), Ok(owner)),
                _ => unreachable!(),
            }
            watch.join().expect("the watcher's call returns")
        });
        match result {
            Ok(()) => established += 1,
            Err(Error::ProcessUnknown | Error::AliasUnknown) => {}
            Err(e) => panic!("round {round}: unexpected error {e:?}"),
        }
        // Both operations are done: whatever was established has fired already (the signal is
        // queued, and the watcher no longer holds the relation), and the owner is watched by
        // nobody.
        let info = h.process_info(owner).unwrap();
        assert_eq!(
            (info.linked_by, info.monitored_by),
            (0, 0),
            "round {round} ({target}): a relation outlived its identity"
        );
        let w = h.process_info(watcher).unwrap();
        assert!(
            !w.links.contains(&target) && !w.monitors.contains(&target),
            "round {round} ({target}): the watcher still holds the relation"
        );
        if result.is_ok() {
            let (_, reason, got) = if link {
                let (_, exit) = next_msg::<MessageExit>(&wrx);
                (0, exit.reason, exit.target)
            } else {
                let (_, down) = next_msg::<MessageDown>(&wrx);
                (0, down.reason, down.target)
            };
            assert_eq!((got, reason), (target.clone(), ExitReason::Unregistered), "round {round}");
        }
    }
    assert!(quiet(&wrx), "no signal beyond one per established relation");
    eprintln!("{established} of {ROUNDS} relations were established before the removal");
    node.stop();
}
