//! Spawn options: environment (set and inherited by children), default send priority, worker
//! placement, parent and leader.

mod support;

use ergors::{Actor, Context, ExitReason, Message, Pid, Priority, SpawnOptions};
use std::sync::mpsc::{Sender, channel};
use support::*;

#[derive(Debug, PartialEq)]
struct Seen {
    me: Pid,
    parent: Pid,
    leader: Pid,
    color: Option<String>,
    size: Option<String>,
}

/// Reports what it sees; when `spawn_child`, spawns a child with an extra env entry first.
struct Looker {
    tx: Sender<Seen>,
    spawn_child: bool,
}

impl Actor for Looker {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let seen = Seen {
            me: ctx.pid(),
            parent: ctx.parent(),
            leader: ctx.leader(),
            color: ctx.env("color"),
            size: ctx.env("size"),
        };
        let _ = self.tx.send(seen);
        if self.spawn_child {
            let child = Looker { tx: self.tx.clone(), spawn_child: false };
            ctx.spawn(child, SpawnOptions::default().env("size", "small").env("color", "red"))
                .map_err(ExitReason::error)?;
            let plain = Looker { tx: self.tx.clone(), spawn_child: false };
            ctx.spawn(plain, SpawnOptions::default()).map_err(ExitReason::error)?;
        }
        Ok(())
    }
}

#[test]
fn env_is_set_and_inherited_and_family_is_recorded() {
    let node = node("opts1", 2);
    let (tx, rx) = channel();
    let parent = node.spawn(Looker { tx, spawn_child: true }, SpawnOptions::default().env("color", "blue")).unwrap();
    let first = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(first.me, parent);
    assert_eq!(first.color.as_deref(), Some("blue"));
    assert_eq!(first.size, None);
    assert_eq!(first.parent.node, node.name(), "the node is the parent of node-spawned processes");
    assert_eq!(first.leader, first.parent);
    let mut children = vec![rx.recv_timeout(PATIENCE).unwrap(), rx.recv_timeout(PATIENCE).unwrap()];
    children.sort_by_key(|s| s.size.is_none());
    // The child with its own entries: its values win, the rest is inherited.
    assert_eq!(children[0].color.as_deref(), Some("red"));
    assert_eq!(children[0].size.as_deref(), Some("small"));
    // The plain child inherits its parent's environment as it is.
    assert_eq!(children[1].color.as_deref(), Some("blue"));
    assert_eq!(children[1].size, None);
    for c in &children {
        assert_eq!(c.parent, parent);
        assert_eq!(c.leader, first.leader, "leader is inherited");
    }
    node.stop();
}

/// Sends one message to `to` with its default priority.
struct Sender1 {
    to: Pid,
    sent: Sender<()>,
}

impl Actor for Sender1 {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        let v = msg.downcast::<u32>().map_err(|_| ExitReason::error("u32 expected"))?;
        ctx.send(self.to, v).map_err(ExitReason::error)?;
        let _ = self.sent.send(());
        Ok(())
    }
}

/// Holds its worker until told, then records arrival order.
struct Blocked {
    tx: Sender<u32>,
    hold: Option<std::sync::mpsc::Receiver<()>>,
}

impl Actor for Blocked {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(rx) = self.hold.take() {
            let _ = self.tx.send(0);
            let _ = rx.recv();
            return Ok(());
        }
        if let Ok(v) = msg.downcast::<u32>() {
            let _ = self.tx.send(v);
        }
        Ok(())
    }
}

#[test]
fn send_priority_option_routes_a_processs_sends() {
    let node = node("opts2", 2);
    let (tx, rx) = channel();
    let (go_tx, go_rx) = channel();
    let sink = node.spawn(Blocked { tx, hold: Some(go_rx) }, SpawnOptions::default().worker(1)).unwrap();
    node.send(sink, ()).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), 0, "sink holds its worker");
    let (sent_tx, sent_rx) = channel();
    let normal = node.spawn(Sender1 { to: sink, sent: sent_tx.clone() }, SpawnOptions::default().worker(0)).unwrap();
    let urgent_opts = SpawnOptions::default().worker(0).send_priority(Priority::Urgent);
    let urgent = node.spawn(Sender1 { to: sink, sent: sent_tx }, urgent_opts).unwrap();
    node.send(normal, 1u32).unwrap();
    sent_rx.recv_timeout(PATIENCE).unwrap();
    node.send(urgent, 2u32).unwrap();
    sent_rx.recv_timeout(PATIENCE).unwrap();
    // Both wait in the sink's mailbox now: the urgent one must be handled first.
    go_tx.send(()).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), 2, "the urgent sender's message overtakes");
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), 1);
    node.stop();
}
