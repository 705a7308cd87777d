//! Send and receive: from the node and between processes, on the same and on different workers.

mod support;

use ergors::{Actor, Context, ExitReason, Message, Pid, SpawnOptions};
use support::*;

#[test]
fn node_send_reaches_process_with_node_as_sender() {
    let node = node("send1", 2);
    let (p, rx) = probe();
    let pid = node.spawn(p, SpawnOptions::default()).unwrap();
    node.send(pid, 7u32).unwrap();
    let (from, v) = recv_msg::<u32>(&rx);
    assert_eq!(v, 7);
    assert_ne!(from, pid);
    assert_eq!(from.node, node.name());
    node.stop();
}

/// Forwards every u64 it gets to `to`, tagged with its own pid.
struct Relay {
    to: Pid,
}

impl Actor for Relay {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        let v = msg.downcast::<u64>().map_err(|_| ExitReason::error("not a u64"))?;
        ctx.send(self.to, (ctx.pid(), v)).map_err(ExitReason::error)
    }
}

#[test]
fn process_to_process_across_workers() {
    let node = node("send2", 2);
    let (p, rx) = probe();
    let sink = node.spawn(p, SpawnOptions::default().worker(0)).unwrap();
    let same = node.spawn(Relay { to: sink }, SpawnOptions::default().worker(0)).unwrap();
    let other = node.spawn(Relay { to: sink }, SpawnOptions::default().worker(1)).unwrap();
    for i in 0..1000u64 {
        node.send(same, i).unwrap();
        node.send(other, i).unwrap();
    }
    let mut next = std::collections::HashMap::from([(same, 0u64), (other, 0u64)]);
    for _ in 0..2000 {
        let (_, (relay, v)) = recv_msg::<(Pid, u64)>(&rx);
        let n = next.get_mut(&relay).expect("a known relay");
        assert_eq!(*n, v, "per-pair order from {relay}");
        *n += 1;
    }
    node.stop();
}

#[test]
fn send_to_unknown_pid_is_an_error() {
    let node = node("send3", 1);
    let (p, rx) = probe();
    let pid = node.spawn(p, SpawnOptions::default()).unwrap();
    node.send(pid, ExitReason::Normal).unwrap();
    assert!(eventually(|| !node.is_alive(pid)));
    assert_eq!(node.send(pid, 1u8), Err(ergors::Error::ProcessUnknown));
    drop(rx);
    node.stop();
}
