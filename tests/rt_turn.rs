//! A turn ends on a time budget, not only after `process_budget` messages: a process working
//! through a backlog of slow messages lets the others on its worker run; and timers that fall due
//! together fire in batches, processes running in between.

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

/// Arms `N` timers due at once, then watches (one sample per turn) how many have fired.
struct Armer {
    handles: Vec<ergors::TimerHandle>,
    samples: Vec<usize>,
    target: Pid,
    armed: Sender<()>,
    done: Sender<Vec<usize>>,
}

struct Arm;
struct Tick;

impl Actor for Armer {
    async fn handle_message(&mut self, ctx: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Arm>() {
            for i in 0..TIMERS {
                self.handles.push(ctx.send_after(self.target, i, Duration::from_millis(300)));
            }
            let _ = self.armed.send(());
        }
        let fired = self.handles.iter().filter(|h| h.is_fired()).count();
        self.samples.push(fired);
        if fired == TIMERS {
            let _ = self.done.send(std::mem::take(&mut self.samples));
        } else {
            let me = ctx.pid();
            ctx.send(me, Tick).map_err(ExitReason::error)?;
        }
        Ok(())
    }
}

/// Holds its worker for a while (so that every timer falls due before the worker gets back).
struct Blocker;

impl Actor for Blocker {
    async fn handle_message(&mut self, _: &mut Context, _: Pid, _: Message) -> Result<(), ExitReason> {
        std::thread::sleep(Duration::from_millis(600));
        Ok(())
    }
}

struct Sink;
impl Actor for Sink {
    async fn handle_message(&mut self, _: &mut Context, _: Pid, _: Message) -> Result<(), ExitReason> {
        Ok(())
    }
}

const TIMERS: usize = 100_000;

#[test]
fn timers_falling_due_together_fire_in_batches_between_turns() {
    // No watchdog: the blocker must not make the other worker take the armer away.
    let opts = NodeOptions::default().workers(2).pin_workers(false).stall(Duration::ZERO);
    let node = ergors::Node::start("timers@localhost", opts).unwrap();
    let sink = node.spawn(Sink, SpawnOptions::default().worker(1)).unwrap();
    let (armed_tx, armed_rx) = channel();
    let (done_tx, done_rx) = channel();
    let armer = Armer { handles: Vec::new(), samples: Vec::new(), target: sink, armed: armed_tx, done: done_tx };
    let armer = node.spawn(armer, SpawnOptions::default().worker(0)).unwrap();
    let blocker = node.spawn(Blocker, SpawnOptions::default().worker(0)).unwrap();
    node.send(armer, Arm).unwrap();
    armed_rx.recv_timeout(PATIENCE).unwrap();
    node.send(blocker, ()).unwrap();
    let samples = done_rx.recv_timeout(PATIENCE).expect("every timer fires");
    // The armer ran between batches of due timers, not only before and after all of them.
    assert!(samples.iter().any(|n| *n > 0 && *n < TIMERS), "the worker fired every timer in one go: {samples:?}");
}
