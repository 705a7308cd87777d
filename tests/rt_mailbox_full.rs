//! Bounded mailboxes: a full queue is an error at the sender, never a silent drop; what was
//! accepted is delivered (delivered + rejected == sent).

mod support;

use ergors::{Actor, Context, Error, ExitReason, Message, NodeOptions, Pid, Priority, SpawnOptions};
use std::sync::mpsc::{Receiver, Sender, channel};
use support::*;

const HOLDING: u32 = u32::MAX;

struct Gate {
    hold: Option<Receiver<()>>,
    count: Sender<u32>,
}

impl Actor for Gate {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(rx) = self.hold.take() {
            // Deliberately holds its (dedicated) worker so the mailbox fills.
            let _ = self.count.send(HOLDING);
            let _ = rx.recv();
        }
        if let Ok(v) = msg.downcast::<u32>() {
            let _ = self.count.send(v);
        }
        Ok(())
    }
}

#[test]
fn full_mailbox_rejects_at_sender_and_loses_nothing() {
    let node = node("full1", 2);
    let (go_tx, go_rx) = channel();
    let (tx, rx) = channel();
    let opts = SpawnOptions::default().mailbox_size(100).worker(1);
    let p = node.spawn(Gate { hold: Some(go_rx), count: tx }, opts).unwrap();
    node.send(p, 0u32).unwrap(); // taken at once; its handler now holds the worker
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), HOLDING);
    let (mut sent, mut rejected) = (0u32, 0u32);
    for i in 1..=1000u32 {
        match node.send(p, i) {
            Ok(()) => sent += 1,
            Err(Error::MailboxFull) => rejected += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(sent, 100, "exactly the capacity was accepted");
    assert_eq!(rejected, 900);
    // Other priorities have their own capacity.
    assert!(node.send_with_priority(p, 5000u32, Priority::Urgent).is_ok());
    go_tx.send(()).unwrap();
    let got: Vec<u32> = (0..sent + 2).map(|_| rx.recv_timeout(PATIENCE).unwrap()).collect();
    let mains: Vec<u32> = got.iter().copied().filter(|v| (1..=1000).contains(v)).collect();
    assert_eq!(mains, (1..=100).collect::<Vec<_>>(), "accepted messages delivered in order");
    assert!(rx.recv_timeout(std::time::Duration::from_millis(50)).is_err(), "nothing beyond what was accepted");
    node.stop();
}

#[test]
fn node_default_mailbox_size_applies() {
    let opts = NodeOptions::default().workers(1).pin_workers(false).mailbox_size(1);
    let node = ergors::Node::start("full2@localhost", opts).unwrap();
    let (go_tx, go_rx) = channel();
    let (tx, _rx) = channel();
    let p = node.spawn(Gate { hold: Some(go_rx), count: tx }, SpawnOptions::default()).unwrap();
    node.send(p, 0u32).unwrap();
    // One of these may land while the first is still queued; at most one more is accepted.
    let results: Vec<_> = (0..3).map(|i| node.send(p, i + 1)).collect();
    assert!(results.contains(&Err(Error::MailboxFull)));
    go_tx.send(()).unwrap();
    node.stop();
}

/// Reports every `MessageFallback` it gets: (sender, the full process, tag, value).
struct Sink(Sender<(Pid, Pid, String, u32)>);

impl Actor for Sink {
    async fn handle_message(&mut self, _ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(fb) = msg.downcast::<ergors::MessageFallback>() {
            let v = fb.message.downcast::<u32>().unwrap_or(u32::MAX);
            let _ = self.0.send((from, fb.pid, fb.tag, v));
        }
        Ok(())
    }
}

#[test]
fn a_full_mailbox_hands_messages_to_its_fallback() {
    let node = node("full3", 2);
    let (stx, srx) = channel();
    node.spawn_register("overflow", Sink(stx), SpawnOptions::default().worker(0)).unwrap();
    let (go_tx, go_rx) = channel();
    let (tx, rx) = channel();
    let opts = SpawnOptions::default().mailbox_size(1).worker(1).fallback("overflow", "gate-1");
    let p = node.spawn(Gate { hold: Some(go_rx), count: tx }, opts).unwrap();
    node.send(p, 0u32).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), HOLDING);
    node.send(p, 1u32).unwrap(); // fills the Main queue
    // Refused by the full mailbox: the sender sees the fallback's delivery (Ok), and the
    // fallback gets it wrapped, from the original sender, with the tag.
    assert_eq!(node.send(p, 2u32), Ok(()));
    let core = node.process_info(p).unwrap().parent; // the node's own Pid sent it
    assert_eq!(srx.recv_timeout(PATIENCE).unwrap(), (core, p, "gate-1".to_string(), 2));
    // A request is not redirected: the caller learns the mailbox is full.
    assert_eq!(node.call(p, 3u32).unwrap_err(), Error::MailboxFull);
    // With no process registered under the fallback name: the sender sees the full mailbox,
    // not an unknown process.
    let (go2_tx, go2_rx) = channel();
    let (tx2, rx2) = channel();
    let opts = SpawnOptions::default().mailbox_size(1).worker(1).fallback("nobody", "t");
    let q = node.spawn(Gate { hold: Some(go2_rx), count: tx2 }, opts).unwrap();
    go_tx.send(()).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), 0);
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), 1);
    node.send(q, 0u32).unwrap();
    assert_eq!(rx2.recv_timeout(PATIENCE).unwrap(), HOLDING);
    node.send(q, 1u32).unwrap();
    assert_eq!(node.send(q, 2u32), Err(Error::MailboxFull));
    go2_tx.send(()).unwrap();
    assert!(srx.recv_timeout(std::time::Duration::from_millis(50)).is_err(), "nothing more reached the fallback");
    node.stop();
}
