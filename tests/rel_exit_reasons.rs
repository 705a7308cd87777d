//! Exit reasons: a custom reason carries a typed error that watchers can match by type; the
//! ended process's own `terminate` learns who sent the exit signal, watchers see the bare reason.

mod support;

use ergors::{ExitReason, MessageDown, MessageExit, Target};
use support::agent::*;
use support::*;

#[derive(Debug, PartialEq)]
struct OutOfCoffee {
    cups: u32,
}

impl std::fmt::Display for OutOfCoffee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "out of coffee after {} cups", self.cups)
    }
}

impl std::error::Error for OutOfCoffee {}

#[derive(Debug)]
struct Other;
impl std::fmt::Display for Other {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("out of coffee after 3 cups")
    }
}
impl std::error::Error for Other {}

#[test]
fn a_typed_reason_reaches_watchers_and_matches_by_type() {
    let node = node("reasons1", 2);
    let h = node.handle();
    let (target, trx) = agent(&h, false);
    let (watcher, wrx) = agent(&h, false);
    let (linker, lrx) = agent(&h, false);
    let (trapper, xrx) = agent(&h, true);
    on(&h, watcher, move |ctx| ctx.monitor(target)).unwrap();
    on(&h, linker, move |ctx| ctx.link(target)).unwrap();
    on(&h, trapper, move |ctx| ctx.link(target)).unwrap();
    node.send(target, Stop(ExitReason::custom(OutOfCoffee { cups: 3 }))).unwrap();
    // The process itself, its monitor and a trapping linker: the bare typed reason.
    assert_eq!(terminated(&trx).downcast_ref::<OutOfCoffee>(), Some(&OutOfCoffee { cups: 3 }));
    let down = next_msg::<MessageDown>(&wrx).1;
    assert_eq!(down.reason.downcast_ref::<OutOfCoffee>(), Some(&OutOfCoffee { cups: 3 }));
    assert!(down.reason.downcast_ref::<Other>().is_none(), "matched by type, not by text");
    let exit = next_msg::<MessageExit>(&xrx).1;
    assert_eq!(exit.reason, ExitReason::custom(OutOfCoffee { cups: 3 }), "same type and text: equal");
    assert_ne!(exit.reason, ExitReason::custom(Other), "same text, other type: not equal");
    assert_ne!(exit.reason, ExitReason::error("out of coffee after 3 cups"));
    // The non-trapping linker ends with it; its terminate sees who sent it, and still matches.
    let own = terminated(&lrx);
    assert!(matches!(&own, ExitReason::Exit(e) if e.target == Target::Pid(target)));
    assert_eq!(own.downcast_ref::<OutOfCoffee>(), Some(&OutOfCoffee { cups: 3 }));
    assert_eq!(own.to_string(), format!("{target}: out of coffee after 3 cups"));
    node.stop();
}
