//! `Node::stop`: every process ends with reason shutdown, children before their parents, each
//! `terminate` runs once, the workers are joined; `wait` returns once stopped.

mod support;

use ergors::{Actor, Context, Error, ExitReason, Message, Pid, SpawnOptions};
use std::sync::mpsc::{Sender, channel};
use support::*;

/// Spawns a chain of `depth` descendants, then reports (pid, depth) on terminate.
struct Tree {
    depth: u32,
    fanout: u32,
    log: Sender<(Pid, u32, ExitReason)>,
}

impl Actor for Tree {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        if self.depth > 0 {
            for _ in 0..self.fanout {
                let child = Tree { depth: self.depth - 1, fanout: self.fanout, log: self.log.clone() };
                ctx.spawn(child, SpawnOptions::default()).map_err(ExitReason::error)?;
            }
        }
        Ok(())
    }
    async fn terminate(&mut self, _ctx: &mut Context, reason: &ExitReason) {
        let _ = self.log.send((_ctx.pid(), self.depth, reason.clone()));
    }
}

#[test]
fn stop_terminates_all_children_first_and_joins() {
    let node = node("stop1", 2);
    let (tx, rx) = channel();
    // 1 + 3 + 9 + 27 = 40 processes per tree, two trees.
    for _ in 0..2 {
        node.spawn(Tree { depth: 3, fanout: 3, log: tx.clone() }, SpawnOptions::default()).unwrap();
    }
    assert!(eventually(|| node.process_count() == 80));
    let handle = node.handle();
    let waiter = std::thread::spawn(move || handle.wait());
    node.stop();
    assert_eq!(node.process_count(), 0);
    let log: Vec<(Pid, u32, ExitReason)> = rx.try_iter().collect();
    assert_eq!(log.len(), 80, "each terminate ran exactly once");
    assert!(log.iter().all(|(_, _, r)| *r == ExitReason::Shutdown));
    // Leaves (depth 0) end before their parents (depth 1), and so on up.
    let depths: Vec<u32> = log.iter().map(|(_, d, _)| *d).collect();
    let mut sorted = depths.clone();
    sorted.sort();
    assert_eq!(depths, sorted, "children before parents");
    assert!(waiter.join().unwrap().is_ok());
    // A stopped node refuses new work.
    let (p, _rx) = probe();
    assert_eq!(node.spawn(p, SpawnOptions::default()).unwrap_err(), Error::NodeStopped);
    node.stop(); // idempotent
}

/// Asks its node to stop from inside a process (which must not deadlock the worker).
struct Stopper;

impl Actor for Stopper {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        ctx.node().stop();
        Ok(())
    }
}

#[test]
fn stop_from_inside_a_process() {
    let node = node("stop2", 1);
    let p = node.spawn(Stopper, SpawnOptions::default()).unwrap();
    node.send(p, ()).unwrap();
    let h = node.handle();
    let (tx, rx) = channel();
    std::thread::spawn(move || tx.send(h.wait()));
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Ok(()));
    assert!(node.is_stopping());
}

#[test]
fn dropping_the_node_stops_it() {
    let (tx, rx) = channel();
    {
        let node = node("stop3", 2);
        node.spawn(Tree { depth: 1, fanout: 2, log: tx }, SpawnOptions::default()).unwrap();
        assert!(eventually(|| node.process_count() == 3));
    }
    // Drop returned only after the stop completed, so every terminate has reported.
    let reasons: Vec<ExitReason> = rx.try_iter().map(|(_, _, r)| r).collect();
    assert_eq!(reasons, vec![ExitReason::Shutdown; 3]);
}

#[test]
fn stop_with_queued_messages_and_many_processes() {
    let node = node("stop4", 2);
    let (p, _rx) = probe();
    let busy = node.spawn(p, SpawnOptions::default()).unwrap();
    for i in 0..100_000u32 {
        node.send(busy, i).unwrap();
    }
    struct Idle;
    impl Actor for Idle {}
    for _ in 0..10_000 {
        node.spawn(Idle, SpawnOptions::default()).unwrap();
    }
    node.stop();
    assert_eq!(node.process_count(), 0);
}

/// Stuck in its handler until `release` is set: neither its worker nor the shutdown can end it.
struct Stuck {
    release: std::sync::Arc<std::sync::atomic::AtomicBool>,
    started: Sender<()>,
}

impl Actor for Stuck {
    async fn handle_message(&mut self, _: &mut Context, _: Pid, _: Message) -> Result<(), ExitReason> {
        let _ = self.started.send(());
        while !self.release.load(std::sync::atomic::Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Ok(())
    }
}

#[test]
fn stop_is_bounded_by_the_shutdown_timeout_and_dropping_never_hangs() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let opts = ergors::NodeOptions::default()
        .workers(2)
        .pin_workers(false)
        .shutdown_timeout(std::time::Duration::from_millis(100));
    let node = ergors::Node::start("stopbound@localhost", opts).unwrap();
    let release = std::sync::Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = channel();
    let stuck = node.spawn(Stuck { release: release.clone(), started: started_tx }, SpawnOptions::default()).unwrap();
    let (probe, probe_rx) = probe();
    node.spawn(probe, SpawnOptions::default()).unwrap();
    node.send(stuck, ()).unwrap();
    started_rx.recv_timeout(PATIENCE).unwrap();
    let (done_tx, done_rx) = channel();
    std::thread::spawn(move || {
        drop(node);
        let _ = done_tx.send(());
    });
    done_rx.recv_timeout(PATIENCE).expect("dropping the node hung on a stuck process");
    assert!(!release.load(Ordering::Acquire), "stop returned while the process was still stuck");
    // The others ended normally meanwhile.
    let mut ended = false;
    while let Ok(e) = probe_rx.recv_timeout(PATIENCE) {
        if let Event::Terminated(_, reason) = e {
            assert_eq!(reason, ExitReason::Shutdown);
            ended = true;
            break;
        }
    }
    assert!(ended, "the other process did not end with shutdown");
    release.store(true, Ordering::Release);
}
