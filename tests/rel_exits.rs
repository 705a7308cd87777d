//! Exit signals: `send_exit` ends a process unless it traps exits; exits from the parent and
//! `kill` cannot be trapped (its `terminate` runs with `kill`, as in Ergo).

mod support;

use ergors::{Actor, Context, Error, ExitReason, Message, MessageExit, Pid, SpawnOptions, Target};
use std::sync::mpsc::{Sender, channel};
use support::agent::*;
use support::*;

#[test]
fn send_exit_ends_or_is_trapped() {
    let node = node("exit1", 2);
    let h = node.handle();
    let (sender, _srx) = agent(&h, false);
    let (plain, prx) = agent(&h, false);
    let (trapper, trx) = agent(&h, true);
    let reason = ExitReason::error("go away");
    let r = reason.clone();
    assert_eq!(on(&h, sender, move |ctx| ctx.send_exit(plain, r)), Ok(()));
    // Its terminate learns who sent the signal (Ergo wraps the reason with the sender there).
    let wrapped = ExitReason::Exit(Box::new(MessageExit { target: Target::Pid(sender), reason: reason.clone() }));
    assert_eq!(terminated(&prx), wrapped);
    let r = reason.clone();
    assert_eq!(on(&h, sender, move |ctx| ctx.send_exit(trapper, r)), Ok(()));
    assert_eq!(next_msg::<MessageExit>(&trx), (sender, MessageExit { target: Target::Pid(sender), reason }));
    assert!(node.is_alive(trapper));
    // Even `kill` sent as an exit signal is trappable (Ergo); only `Node::kill` is absolute.
    assert_eq!(on(&h, sender, move |ctx| ctx.send_exit(trapper, ExitReason::Kill)), Ok(()));
    assert_eq!(next_msg::<MessageExit>(&trx).1.reason, ExitReason::Kill);
    assert_eq!(
        on(&h, sender, |ctx| ctx.send_exit(ctx.pid(), ExitReason::Normal)),
        Err(Error::NotAllowed("send_exit to itself, its parent or its leader"))
    );
    node.stop();
}

#[test]
fn kill_cannot_be_trapped() {
    let node = node("exit2", 1);
    let h = node.handle();
    let (trapper, trx) = agent(&h, true);
    let (w, wrx) = agent(&h, true);
    on(&h, w, move |ctx| ctx.link(trapper)).unwrap();
    assert_eq!(node.kill(trapper), Ok(()));
    // Its linker learns the reason `kill`; the process itself only in `terminate`.
    let (_, exit) = next_msg::<MessageExit>(&wrx);
    assert_eq!(exit, MessageExit { target: Target::Pid(trapper), reason: ExitReason::Kill });
    assert_eq!(terminated(&trx), ExitReason::Kill);
    assert!(!node.is_alive(trapper));
    assert_eq!(node.kill(trapper), Err(Error::ProcessUnknown));
    node.stop();
}

/// Spawns a trapping child and reports its terminate reason.
struct Parent {
    report: Sender<(Pid, ExitReason)>,
    child: Option<Pid>,
}

struct Child(Sender<(Pid, ExitReason)>);

impl Actor for Child {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.set_trap_exit(true);
        Ok(())
    }
    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        let _ = self.0.send((ctx.pid(), reason.clone()));
    }
}

impl Actor for Parent {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        self.child = Some(ctx.spawn(Child(self.report.clone()), SpawnOptions::default()).map_err(ExitReason::error)?);
        Ok(())
    }
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let child = self.child.ok_or(ExitReason::error("no child"))?;
        ctx.send_exit(child, ExitReason::error("from parent")).map_err(ExitReason::error)
    }
}

#[test]
fn exits_from_the_parent_cannot_be_trapped() {
    let node = node("exit3", 1);
    let (tx, rx) = channel();
    let p = node.spawn(Parent { report: tx, child: None }, SpawnOptions::default()).unwrap();
    node.send(p, ()).unwrap();
    let (_, reason) = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(reason.bare(), &ExitReason::error("from parent"));
    assert!(matches!(reason, ExitReason::Exit(e) if e.target == Target::Pid(p)));
    node.stop();
}
