//! A turn ends on a time budget, not only after `process_budget` messages: a process working
//! through a backlog of slow messages lets the others on its worker run.

mod support;

use ergors::{Actor, Context, ExitReason, Message, NodeOptions, Pid, SpawnOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant};
use support::*;

/// Each message costs 300 µs of CPU.
struct Slow(Arc<AtomicUsize>);

impl Actor for Slow {
    async fn handle_message(&mut self, _: &mut Context, _: Pid, _: Message) -> Result<(), ExitReason> {
        let t = Instant::now();
        while t.elapsed() < Duration::from_micros(300) {
            std::hint::spin_loop();
        }
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Reports how many messages `Slow` had handled when it got to run.
struct Quick(Arc<AtomicUsize>, Sender<usize>);

impl Actor for Quick {
    async fn handle_message(&mut self, _: &mut Context, _: Pid, _: Message) -> Result<(), ExitReason> {
        let _ = self.1.send(self.0.load(Ordering::Relaxed));
        Ok(())
    }
}

#[test]
fn a_long_turn_yields_on_its_time_budget() {
    const BACKLOG: usize = 200;
    let opts = NodeOptions::default()
        .workers(1)
        .pin_workers(false)
        .process_budget(1_000_000)
        .turn_budget(Duration::from_micros(500));
    let node = ergors::Node::start("turn@localhost", opts).unwrap();
    let handled = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = channel();
    let slow = node.spawn(Slow(handled.clone()), SpawnOptions::default()).unwrap();
    let quick = node.spawn(Quick(handled.clone(), tx), SpawnOptions::default()).unwrap();
    for _ in 0..BACKLOG {
        node.send(slow, ()).unwrap();
    }
    node.send(quick, ()).unwrap();
    let seen = rx.recv_timeout(PATIENCE).unwrap();
    // With only the message budget (a million) the backlog would be handled in one turn first.
    assert!(seen < BACKLOG, "quick ran only after the whole backlog ({seen})");
    assert!(support::eventually(|| handled.load(Ordering::Relaxed) == BACKLOG));
}
