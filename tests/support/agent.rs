//! `Agent`: a scriptable process for tests. The test thread runs closures inside it
//! (`on(&node, pid, |ctx| ...)`, a blocking call) and watches everything it receives.
#![allow(dead_code)]

use ergors::{Actor, Context, ExitReason, From, Message, MessageEvent, NodeHandle, Pid, SpawnOptions};
use std::sync::mpsc::{Receiver, Sender, channel};

type Script = Box<dyn FnOnce(&mut Context) -> Message + Send>;

/// A closure to run inside the agent, sent with `call`.
pub struct Run(pub Script);

/// What an agent saw.
#[derive(Debug)]
pub enum Seen {
    Msg(Pid, Message),
    Event(MessageEvent),
    Terminated(Pid, ExitReason),
}

pub struct Agent {
    tx: Sender<Seen>,
    trap: bool,
}

impl Actor for Agent {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.set_trap_exit(self.trap);
        Ok(())
    }
    async fn handle_message(&mut self, _ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(r) = msg.downcast_ref::<Stop>() {
            return Err(r.0.clone());
        }
        if msg.is::<Panic>() {
            panic!("scripted panic");
        }
        let _ = self.tx.send(Seen::Msg(from, msg));
        Ok(())
    }
    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        match req.downcast::<Run>() {
            Ok(Run(f)) => Ok(Some(f(ctx))),
            Err(other) => Ok(Some(other)),
        }
    }
    async fn handle_event(&mut self, _ctx: &mut Context, event: MessageEvent) -> Result<(), ExitReason> {
        let _ = self.tx.send(Seen::Event(event));
        Ok(())
    }
    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        let _ = self.tx.send(Seen::Terminated(ctx.pid(), reason.clone()));
    }
}

/// Ends the agent that receives it with the reason inside.
pub struct Stop(pub ExitReason);

/// Makes the agent that receives it panic.
pub struct Panic;

/// Spawns an agent (trapping exits or not); returns its pid and what it sees.
pub fn agent(node: &NodeHandle, trap: bool) -> (Pid, Receiver<Seen>) {
    let (tx, rx) = channel();
    let pid = node.spawn(Agent { tx, trap }, SpawnOptions::default()).expect("spawn agent");
    (pid, rx)
}

/// Spawns a non-trapping agent from the node with `opts`.
pub fn agent_with(node: &NodeHandle, opts: SpawnOptions) -> (Pid, Receiver<Seen>) {
    let (tx, rx) = channel();
    let pid = node.spawn(Agent { tx, trap: false }, opts).expect("spawn agent");
    (pid, rx)
}

/// Spawns a non-trapping agent as a child of the process `ctx` belongs to.
pub fn child_agent(ctx: &mut Context, opts: SpawnOptions) -> (Pid, Receiver<Seen>) {
    let (tx, rx) = channel();
    let pid = ctx.spawn(Agent { tx, trap: false }, opts).expect("spawn child agent");
    (pid, rx)
}

/// Runs `f` inside the process `pid` and returns its result.
pub fn on<R: Send + 'static>(node: &NodeHandle, pid: Pid, f: impl FnOnce(&mut Context) -> R + Send + 'static) -> R {
    let script: Script = Box::new(move |ctx| Message::new(f(ctx)));
    match node.call(pid, Run(script)).expect("the agent answers").downcast::<R>() {
        Ok(r) => r,
        Err(_) => panic!("unexpected reply type"),
    }
}

/// The next thing the agent saw (panics after the test patience).
pub fn next(rx: &Receiver<Seen>) -> Seen {
    rx.recv_timeout(super::PATIENCE).expect("the agent saw something")
}

/// The next message the agent got, downcast to `T`.
pub fn next_msg<T: 'static>(rx: &Receiver<Seen>) -> (Pid, T) {
    match next(rx) {
        Seen::Msg(from, m) => match m.downcast::<T>() {
            Ok(v) => (from, v),
            Err(m) => panic!("unexpected message {m:?}"),
        },
        other => panic!("expected a message, saw {other:?}"),
    }
}

/// Waits for the agent's end and returns the reason.
pub fn terminated(rx: &Receiver<Seen>) -> ExitReason {
    loop {
        if let Seen::Terminated(_, r) = next(rx) {
            return r;
        }
    }
}

/// True if nothing arrives for a short while.
pub fn quiet(rx: &Receiver<Seen>) -> bool {
    rx.recv_timeout(std::time::Duration::from_millis(50)).is_err()
}
