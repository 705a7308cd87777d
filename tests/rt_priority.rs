//! Priorities: in a backed-up mailbox, Urgent overtakes System, which overtakes Main, which
//! overtakes Log; within one priority, order is kept.

mod support;

use ergors::{Actor, Context, ExitReason, Message, Pid, Priority, SpawnOptions};
use std::sync::mpsc::{Sender, channel};
use support::*;

/// Blocks its worker-side handling until told to go (by sleeping in a handler while the test
/// fills the mailbox), then records the order of everything it received.
struct Recorder {
    tx: Sender<(Priority, u32)>,
}

/// Says it is holding, then holds until told to go.
struct Hold(Sender<()>, std::sync::mpsc::Receiver<()>);

impl Actor for Recorder {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        match msg.downcast::<Hold>() {
            // Blocking here is deliberate: it holds the mailbox back so it fills up. The test
            // runs this process alone on its worker.
            Ok(Hold(holding, go)) => {
                let _ = holding.send(());
                let _ = go.recv();
            }
            Err(m) => {
                if let Ok(v) = m.downcast::<(Priority, u32)>() {
                    let _ = self.tx.send(v);
                }
            }
        }
        Ok(())
    }
}

#[test]
fn urgent_overtakes_main_in_a_backed_up_mailbox() {
    let node = node("prio1", 2);
    let (tx, rx) = channel();
    let p = node.spawn(Recorder { tx }, SpawnOptions::default().worker(1)).unwrap();
    let (go_tx, go_rx) = channel();
    let (holding_tx, holding_rx) = channel();
    node.send(p, Hold(holding_tx, go_rx)).unwrap();
    // Fill the mailbox only once the process holds (else it could take some before the Hold).
    holding_rx.recv_timeout(PATIENCE).unwrap();
    let order = [Priority::Log, Priority::Main, Priority::System, Priority::Urgent];
    for i in 0..50u32 {
        for prio in order {
            node.send_with_priority(p, (prio, i), prio).unwrap();
        }
    }
    go_tx.send(()).unwrap();
    let got: Vec<(Priority, u32)> = (0..200).map(|_| rx.recv_timeout(PATIENCE).unwrap()).collect();
    let expect: Vec<(Priority, u32)> = [Priority::Urgent, Priority::System, Priority::Main, Priority::Log]
        .iter()
        .flat_map(|p| (0..50).map(move |i| (*p, i)))
        .collect();
    assert_eq!(got, expect);
    node.stop();
}

/// Sends a burst to a sibling on its own worker at mixed priorities (the same-worker path).
struct LocalSender {
    to: Pid,
}

impl Actor for LocalSender {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        for i in 0..50u32 {
            ctx.send_with_priority(self.to, (Priority::Main, i), Priority::Main).map_err(ExitReason::error)?;
            ctx.send_with_priority(self.to, (Priority::Urgent, i), Priority::Urgent).map_err(ExitReason::error)?;
        }
        Ok(())
    }
}

#[test]
fn priorities_hold_on_the_same_worker_path() {
    let node = node("prio2", 1);
    let (tx, rx) = channel();
    let p = node.spawn(Recorder { tx }, SpawnOptions::default()).unwrap();
    let s = node.spawn(LocalSender { to: p }, SpawnOptions::default()).unwrap();
    node.send(s, ()).unwrap();
    let got: Vec<(Priority, u32)> = (0..100).map(|_| rx.recv_timeout(PATIENCE).unwrap()).collect();
    // The whole burst is queued before the receiver runs (same worker), so every urgent
    // message comes first.
    let expect: Vec<(Priority, u32)> =
        [Priority::Urgent, Priority::Main].iter().flat_map(|p| (0..50).map(move |i| (*p, i))).collect();
    assert_eq!(got, expect);
    node.stop();
}

/// In one callback, sends `(Main, 1)`, switches its send priority to Urgent, sends
/// `(Urgent, 2)`, and reports the priority it now has.
struct Switcher(Pid, Sender<Priority>);

impl Actor for Switcher {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let _ = self.1.send(ctx.send_priority());
        ctx.send(self.0, (Priority::Main, 1u32)).map_err(ExitReason::error)?;
        ctx.set_send_priority(Priority::Urgent);
        ctx.send(self.0, (Priority::Urgent, 2u32)).map_err(ExitReason::error)?;
        let _ = self.1.send(ctx.send_priority());
        Ok(())
    }
}

#[test]
fn the_send_priority_changes_at_run_time() {
    let node = node("prio9", 1);
    let (tx, rx) = channel();
    // Same worker: the receiver cannot run before the sender's callback ends, so both messages
    // wait in its mailbox and the later, urgent one is taken first.
    let r = node.spawn(Recorder { tx }, SpawnOptions::default().worker(0)).unwrap();
    let (ptx, prx) = channel();
    let s = node.spawn(Switcher(r, ptx), SpawnOptions::default().worker(0).send_priority(Priority::Main)).unwrap();
    node.send(s, ()).unwrap();
    assert_eq!(prx.recv_timeout(PATIENCE).unwrap(), Priority::Main);
    assert_eq!(prx.recv_timeout(PATIENCE).unwrap(), Priority::Urgent);
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), (Priority::Urgent, 2));
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), (Priority::Main, 1));
    node.stop();
}
