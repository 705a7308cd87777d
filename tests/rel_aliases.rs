//! Aliases: many per process, send/call through them, deleted ones refused, released at the end.

mod support;

use ergors::{Alias, Error, ExitReason, MessageDown, Target};
use support::agent::*;
use support::*;

#[test]
fn send_and_call_through_aliases_until_deleted() {
    let node = node("alias1", 2);
    let h = node.handle();
    let (a, arx) = agent(&h, false);
    let x: Alias = on(&h, a, |ctx| ctx.create_alias()).unwrap();
    let y: Alias = on(&h, a, |ctx| ctx.create_alias()).unwrap();
    assert_ne!(x, y);
    assert_eq!(on(&h, a, |ctx| ctx.aliases().len()), 2);
    node.send(x, 1u32).unwrap();
    assert_eq!(next_msg::<u32>(&arx).1, 1);
    assert_eq!(node.call(y, 5u16).unwrap().downcast::<u16>().ok(), Some(5));
    // Someone watching the alias hears when it is deleted.
    let (w, wrx) = agent(&h, false);
    assert_eq!(on(&h, w, move |ctx| ctx.monitor(x)), Ok(()));
    assert_eq!(on(&h, a, move |ctx| ctx.delete_alias(x)), Ok(()));
    assert_eq!(
        next_msg::<MessageDown>(&wrx).1,
        MessageDown { target: Target::Alias(x), reason: ExitReason::Unregistered }
    );
    assert_eq!(node.send(x, 2u32), Err(Error::ProcessUnknown), "a deleted alias is an error at the sender");
    assert_eq!(on(&h, a, move |ctx| ctx.delete_alias(x)), Err(Error::AliasUnknown));
    let (b, _brx) = agent(&h, false);
    assert_eq!(on(&h, b, move |ctx| ctx.delete_alias(y)), Err(Error::AliasOwner));
    assert_eq!(on(&h, b, move |ctx| ctx.monitor(x)), Err(Error::AliasUnknown));
    node.send(y, 3u32).unwrap();
    assert_eq!(next_msg::<u32>(&arx).1, 3);
    node.stop();
}

#[test]
fn aliases_are_released_when_the_process_ends() {
    let node = node("alias2", 1);
    let h = node.handle();
    let (a, arx) = agent(&h, false);
    let x = on(&h, a, |ctx| ctx.create_alias()).unwrap();
    node.send(a, Stop(ExitReason::Normal)).unwrap();
    terminated(&arx);
    assert!(eventually(|| node.send(x, 1u8) == Err(Error::ProcessUnknown)));
    assert!(eventually(|| node.info().registered_aliases == 0));
    node.stop();
}
