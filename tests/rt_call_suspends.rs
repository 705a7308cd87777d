//! A `call` suspends only the calling process: other processes on the same worker keep running
//! while it waits (Ergo's WaitResponse state, without blocking the worker).

mod support;

use ergors::{Actor, Context, ExitReason, From, Message, Pid, SpawnOptions};
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;
use support::*;

/// Never answers: holds every request.
struct BlackHole(Vec<From>);

impl Actor for BlackHole {
    async fn handle_call(
        &mut self,
        _ctx: &mut Context,
        from: From,
        _req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        self.0.push(from);
        Ok(None)
    }
}

/// Calls the black hole with a long timeout, reporting when the call started and ended.
struct Waiter {
    hole: Pid,
    tx: Sender<&'static str>,
}

impl Actor for Waiter {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let _ = self.tx.send("calling");
        let r = ctx.call_timeout(self.hole, (), Duration::from_millis(500)).await;
        let _ = self.tx.send(if r.is_err() { "call ended" } else { "unexpected reply" });
        Ok(())
    }
}

#[test]
fn other_processes_on_the_callers_worker_keep_running() {
    let node = node("susp1", 1);
    let hole = node.spawn(BlackHole(vec![]), SpawnOptions::default()).unwrap();
    let (tx, rx) = channel();
    let waiter = node.spawn(Waiter { hole, tx }, SpawnOptions::default()).unwrap();
    let (p, prx) = probe();
    let bystander = node.spawn(p, SpawnOptions::default()).unwrap();
    node.send(waiter, ()).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "calling");
    // One worker only: if the call blocked it, the bystander could not answer before the call ends.
    for i in 0..100u32 {
        node.send(bystander, i).unwrap();
        assert_eq!(recv_msg::<u32>(&prx).1, i);
    }
    assert!(rx.try_recv().is_err(), "the call is still waiting");
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "call ended");
    node.stop();
}
