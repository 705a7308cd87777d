//! Split handling by address (Ergo's `SetSplitHandle`, after Ergo's t008): with splitting on,
//! what is sent to the registered name or to an alias reaches the `_name` / `_alias`
//! callbacks, what is sent to the Pid the plain ones; with it off (the default), everything
//! reaches the plain callbacks. Unsplit defaults fall back to the plain callbacks.

mod support;

use ergors::{Actor, Alias, Context, ExitReason, From, Message, Name, Pid, SpawnOptions, To};
use std::sync::mpsc::{Sender, channel};
use support::*;

/// Which callback saw a message or request.
#[derive(Debug, PartialEq, Clone)]
enum Via {
    Pid(Pid),
    Name(Name),
    Alias(Alias),
}

struct Target {
    split: bool,
    seen: Sender<Via>,
    alias: Sender<Alias>,
}

impl Actor for Target {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        assert!(!ctx.split_handle(), "off by default");
        ctx.set_split_handle(self.split);
        assert_eq!(ctx.split_handle(), self.split);
        let alias = ctx.create_alias().map_err(ExitReason::error)?;
        let _ = self.alias.send(alias);
        Ok(())
    }
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let _ = self.seen.send(Via::Pid(ctx.pid()));
        Ok(())
    }
    async fn handle_message_name(
        &mut self,
        _c: &mut Context,
        name: Name,
        _f: Pid,
        _m: Message,
    ) -> Result<(), ExitReason> {
        let _ = self.seen.send(Via::Name(name));
        Ok(())
    }
    async fn handle_message_alias(
        &mut self,
        _c: &mut Context,
        alias: Alias,
        _f: Pid,
        _m: Message,
    ) -> Result<(), ExitReason> {
        let _ = self.seen.send(Via::Alias(alias));
        Ok(())
    }
    async fn handle_call(&mut self, ctx: &mut Context, _f: From, _r: Message) -> Result<Option<Message>, ExitReason> {
        Ok(Some(Message::new(Via::Pid(ctx.pid()))))
    }
    async fn handle_call_name(
        &mut self,
        _c: &mut Context,
        name: Name,
        _f: From,
        _r: Message,
    ) -> Result<Option<Message>, ExitReason> {
        Ok(Some(Message::new(Via::Name(name))))
    }
    async fn handle_call_alias(
        &mut self,
        _c: &mut Context,
        alias: Alias,
        _f: From,
        _r: Message,
    ) -> Result<Option<Message>, ExitReason> {
        Ok(Some(Message::new(Via::Alias(alias))))
    }
}

/// Sends and calls `to` from inside a process; reports the call's reply.
struct Sender2(Sender<Via>);
struct Both(To);

impl Actor for Sender2 {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(Both(to)) = msg.downcast::<Both>() {
            ctx.send(to.clone(), "test").map_err(ExitReason::error)?;
            let reply = ctx.call(to, "test").await.map_err(ExitReason::error)?;
            let _ = self.0.send(reply.downcast::<Via>().map_err(|_| ExitReason::error("reply type"))?);
        }
        Ok(())
    }
}

#[test]
fn split_handling_routes_by_address() {
    let node = node("split1", 2);
    let (rtx, replies) = channel();
    let sender = node.spawn(Sender2(rtx), SpawnOptions::default().worker(0)).unwrap();
    for split in [false, true] {
        for worker in [0, 1] {
            let name = format!("split-{split}-{worker}");
            let (seen_tx, seen) = channel();
            let (atx, arx) = channel();
            let target = Target { split, seen: seen_tx, alias: atx };
            let pid = node.spawn_register(&name, target, SpawnOptions::default().worker(worker)).unwrap();
            let alias = arx.recv_timeout(PATIENCE).unwrap();
            let name = Name::from(name.as_str());
            let cases = [
                (To::Pid(pid), Via::Pid(pid)),
                (To::Local(name.clone()), Via::Name(name)),
                (To::Alias(alias), Via::Alias(alias)),
            ];
            for (to, want) in cases {
                let want = if split { want } else { Via::Pid(pid) };
                // From a process...
                node.send(sender, Both(to.clone())).unwrap();
                assert_eq!(seen.recv_timeout(PATIENCE).unwrap(), want, "send to {to:?}, split {split}");
                assert_eq!(replies.recv_timeout(PATIENCE).unwrap(), want, "call to {to:?}, split {split}");
                // ...and from the node handle.
                node.send(to.clone(), "test").unwrap();
                assert_eq!(seen.recv_timeout(PATIENCE).unwrap(), want);
                assert_eq!(node.call(to, "test").unwrap().downcast::<Via>().ok(), Some(want));
            }
        }
    }
    node.stop();
}

/// Splits, but implements only the plain callbacks: the split ones fall back to them.
struct Plain(Sender<&'static str>);

impl Actor for Plain {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.set_split_handle(true);
        Ok(())
    }
    async fn handle_message(&mut self, _c: &mut Context, _f: Pid, _m: Message) -> Result<(), ExitReason> {
        let _ = self.0.send("message");
        Ok(())
    }
    async fn handle_call(&mut self, _c: &mut Context, _f: From, r: Message) -> Result<Option<Message>, ExitReason> {
        if r.downcast_ref::<&str>() == Some(&"stop") {
            return Err(ExitReason::Normal);
        }
        Ok(Some(Message::new("call")))
    }
}

#[test]
fn unimplemented_split_callbacks_fall_back_to_the_plain_ones() {
    let node = node("split2", 1);
    let (tx, rx) = channel();
    node.spawn_register("plain", Plain(tx), SpawnOptions::default()).unwrap();
    node.send("plain", 1u8).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "message");
    assert_eq!(node.call("plain", 1u8).unwrap().downcast::<&str>().ok(), Some("call"));
    // A request that arrived by name and ends its handler unanswered fails at once, as any.
    assert_eq!(node.call("plain", "stop").unwrap_err(), ergors::Error::Terminated);
    node.stop();
}
