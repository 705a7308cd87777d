//! Sends and calls by every kind of address from inside a process, after Ergo's t003 (send) and
//! t004 (call) in `testing/tests/001_local`: by Pid, by registered name, by alias, to an unknown
//! name; a callee that replies and stops in the same handler (Ergo returns the reply together
//! with `TerminateReasonNormal`).

mod support;

use ergors::{Actor, Alias, Context, Error, ExitReason, From, Message, Pid, SpawnOptions, To};
use std::sync::mpsc::{Sender, channel};
use support::*;

/// Sends or calls what the test asks, and reports the outcome.
struct Asker(Sender<Result<Option<u64>, Error>>);
enum Ask {
    Send(To, u64),
    Call(To, u64),
}

impl Actor for Asker {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        let outcome = match msg.downcast::<Ask>() {
            Ok(Ask::Send(to, v)) => ctx.send(to, v).map(|()| None),
            Ok(Ask::Call(to, v)) => ctx.call(to, v).await.map(|m| m.downcast::<u64>().ok()),
            Err(_) => return Ok(()),
        };
        let _ = self.0.send(outcome);
        Ok(())
    }
}

/// Registers a name and makes an alias in `init`; reports what it receives with its sender;
/// answers a call with the request and then stops (in the same handler).
struct Pong {
    name: &'static str,
    got: Sender<(Pid, u64)>,
    alias: Sender<Alias>,
}

impl Actor for Pong {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.register_name(self.name).map_err(ExitReason::error)?;
        let alias = ctx.create_alias().map_err(ExitReason::error)?;
        let _ = self.alias.send(alias);
        Ok(())
    }
    async fn handle_message(&mut self, _ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(v) = msg.downcast::<u64>() {
            let _ = self.got.send((from, v));
        }
        Ok(())
    }
    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        ctx.send_response(from, req).map_err(ExitReason::error)?;
        Err(ExitReason::Normal)
    }
}

fn pong(node: &ergors::Node, name: &'static str, worker: usize) -> (Pid, Alias, std::sync::mpsc::Receiver<(Pid, u64)>) {
    let (got, rx) = channel();
    let (atx, arx) = channel();
    let pid = node.spawn(Pong { name, got, alias: atx }, SpawnOptions::default().worker(worker)).unwrap();
    (pid, arx.recv_timeout(PATIENCE).unwrap(), rx)
}

#[test]
fn sends_reach_a_process_by_pid_name_and_alias() {
    let node = node("t3send", 2);
    let (tx, outcomes) = channel();
    let asker = node.spawn(Asker(tx), SpawnOptions::default().worker(0)).unwrap();
    for worker in [0, 1] {
        let name = if worker == 0 { "pong-send-0" } else { "pong-send-1" };
        let (pid, alias, got) = pong(&node, name, worker);
        for (i, to) in
            [To::Pid(pid), To::from(name), To::Name(node.process_id(name)), To::Alias(alias)].into_iter().enumerate()
        {
            node.send(asker, Ask::Send(to, i as u64)).unwrap();
            assert_eq!(outcomes.recv_timeout(PATIENCE).unwrap(), Ok(None));
            assert_eq!(got.recv_timeout(PATIENCE).unwrap(), (asker, i as u64), "the sender is the asking process");
        }
    }
    node.send(asker, Ask::Send(To::from("unknown process"), 1)).unwrap();
    assert_eq!(outcomes.recv_timeout(PATIENCE).unwrap(), Err(Error::ProcessUnknown));
    node.stop();
}

#[test]
fn calls_by_pid_name_and_alias_and_the_callee_stops_after_replying() {
    let node = node("t4call", 2);
    let (tx, outcomes) = channel();
    let asker = node.spawn(Asker(tx), SpawnOptions::default().worker(0)).unwrap();
    for worker in [0, 1] {
        for kind in 0..3u64 {
            let name = ["pong-call-pid", "pong-call-name", "pong-call-alias"][kind as usize];
            let (pid, alias, _got) = pong(&node, name, worker);
            let to = match kind {
                0 => To::Pid(pid),
                1 => To::Name(node.process_id(name)),
                _ => To::Alias(alias),
            };
            node.send(asker, Ask::Call(to, 12 + kind)).unwrap();
            assert_eq!(outcomes.recv_timeout(PATIENCE).unwrap(), Ok(Some(12 + kind)), "worker {worker}, kind {kind}");
            // It replied and stopped in the same handler: gone, its name free again.
            assert!(eventually(|| node.process_info(pid).err() == Some(Error::ProcessUnknown)));
            assert!(eventually(|| node.whereis(name).is_none()));
        }
    }
    node.send(asker, Ask::Call(To::from("unknown process"), 1)).unwrap();
    assert_eq!(outcomes.recv_timeout(PATIENCE).unwrap(), Err(Error::ProcessUnknown));
    node.stop();
}
