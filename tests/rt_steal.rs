//! Balancing at run time: an idle worker takes runnable processes from a busy one, and per-sender
//! order holds while processes move between workers.

mod support;

use ergors::{Actor, Context, ExitReason, Message, NodeOptions, Pid, SpawnOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;
use support::*;

/// Keeps its worker busy (one long poll) until `release` is set.
struct Hog {
    busy: Sender<()>,
    release: Arc<AtomicBool>,
}

impl Actor for Hog {
    async fn handle_message(&mut self, _: &mut Context, _: Pid, _: Message) -> Result<(), ExitReason> {
        let _ = self.busy.send(());
        while !self.release.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        Ok(())
    }
}

/// Reports the worker that handled each message.
struct Echo(Sender<(Pid, usize)>);

impl Actor for Echo {
    async fn handle_message(&mut self, ctx: &mut Context, _: Pid, _: Message) -> Result<(), ExitReason> {
        let _ = self.0.send((ctx.pid(), ctx.info().worker));
        Ok(())
    }
}

fn quiet_node(name: &str, workers: usize) -> ergors::Node {
    // No watchdog: this is about stealing from a worker that is merely busy.
    let opts = NodeOptions::default()
        .workers(workers)
        .pin_workers(false)
        .spin(Duration::from_micros(50))
        .stall(Duration::ZERO);
    ergors::Node::start(&format!("{name}@localhost"), opts).unwrap()
}

#[test]
fn an_idle_worker_takes_processes_queued_behind_a_busy_one() {
    let node = quiet_node("steal1", 2);
    let release = Arc::new(AtomicBool::new(false));
    let (busy_tx, busy_rx) = channel();
    let hog = node.spawn(Hog { busy: busy_tx, release: release.clone() }, SpawnOptions::default().worker(0)).unwrap();
    let (tx, rx) = channel();
    // Movable processes, half of them at home on the worker the hog is about to occupy.
    let echoes: Vec<Pid> = (0..10).map(|_| node.spawn(Echo(tx.clone()), SpawnOptions::default()).unwrap()).collect();
    let homes: Vec<usize> = echoes.iter().map(|p| node.process_info(*p).unwrap().worker).collect();
    assert!(homes.contains(&0) && homes.contains(&1), "{homes:?}");
    node.send(hog, ()).unwrap();
    busy_rx.recv_timeout(PATIENCE).unwrap();
    for e in &echoes {
        node.send(*e, ()).unwrap();
    }
    // Every echo answers while worker 0 is still busy: those at home there were taken by worker 1.
    let mut seen = Vec::new();
    for _ in 0..echoes.len() {
        seen.push(rx.recv_timeout(PATIENCE).expect("a process queued on the busy worker was not taken"));
    }
    assert!(!release.load(Ordering::Acquire));
    assert!(seen.iter().all(|(_, w)| *w == 1), "{seen:?}");
    assert!(node.info().migrations >= homes.iter().filter(|w| **w == 0).count() as u64);
    release.store(true, Ordering::Release);
}

#[test]
fn pinned_processes_stay_with_a_busy_worker() {
    let node = quiet_node("steal2", 2);
    let release = Arc::new(AtomicBool::new(false));
    let (busy_tx, busy_rx) = channel();
    let hog = node.spawn(Hog { busy: busy_tx, release: release.clone() }, SpawnOptions::default().worker(0)).unwrap();
    let (tx, rx) = channel();
    let pinned = node.spawn(Echo(tx), SpawnOptions::default().worker(0)).unwrap();
    node.send(hog, ()).unwrap();
    busy_rx.recv_timeout(PATIENCE).unwrap();
    node.send(pinned, ()).unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "a pinned process moved off a busy worker");
    release.store(true, Ordering::Release);
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), (pinned, 0));
}

/// Sends `n` numbered messages to `to`, `batch` per turn, continuing by a message to itself.
struct Sender_ {
    to: Pid,
    n: u64,
    next: u64,
}

struct More;

impl Actor for Sender_ {
    async fn handle_message(&mut self, ctx: &mut Context, _: Pid, _: Message) -> Result<(), ExitReason> {
        let end = (self.next + 200).min(self.n);
        while self.next < end {
            ctx.send(self.to, (ctx.pid(), self.next)).map_err(ExitReason::error)?;
            self.next += 1;
        }
        if self.next < self.n {
            let me = ctx.pid();
            ctx.send(me, More).map_err(ExitReason::error)?;
        }
        Ok(())
    }
}

/// Checks each sender's numbers arrive in order, doing a little work per message (so that turns
/// end by budget and processes get taken between workers); reports when done.
struct Checker {
    expect: u64,
    next: std::collections::HashMap<Pid, u64>,
    got: u64,
    done: Sender<Result<(), String>>,
}

impl Actor for Checker {
    async fn handle_message(&mut self, _: &mut Context, _: Pid, msg: Message) -> Result<(), ExitReason> {
        let (from, seq) = msg.downcast::<(Pid, u64)>().map_err(|_| ExitReason::error("bad message"))?;
        let want = self.next.entry(from).or_insert(0);
        if seq != *want {
            let _ = self.done.send(Err(format!("from {from}: got {seq}, expected {want}")));
            return Err(ExitReason::Normal);
        }
        *want += 1;
        self.got += 1;
        let mut x = seq;
        for _ in 0..50 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        if self.got == self.expect {
            let _ = self.done.send(Ok(()));
        }
        Ok(())
    }
}

#[test]
fn per_sender_order_holds_while_processes_move() {
    const PAIRS: usize = 16;
    const N: u64 = 20_000;
    let node = quiet_node("steal3", 2);
    let (done_tx, done_rx) = channel();
    let mut senders = Vec::new();
    for _ in 0..PAIRS {
        let checker = Checker { expect: N * 2, next: Default::default(), got: 0, done: done_tx.clone() };
        let c = node.spawn(checker, SpawnOptions::default()).unwrap();
        // Two senders per checker, movable like their receivers.
        for _ in 0..2 {
            senders.push(node.spawn(Sender_ { to: c, n: N, next: 0 }, SpawnOptions::default()).unwrap());
        }
    }
    for s in &senders {
        node.send(*s, More).unwrap();
    }
    for _ in 0..PAIRS {
        done_rx.recv_timeout(PATIENCE * 3).expect("a checker did not finish").unwrap();
    }
}
