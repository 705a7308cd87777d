//! Placement: children spread over the workers by default; `colocate()` and `worker(i)` pin.

mod support;

use ergors::{Actor, Context, ExitReason, Message, Pid, SpawnOptions};
use std::sync::mpsc::{Sender, channel};
use support::*;

struct Idle;
impl Actor for Idle {}

/// Spawns `n` children with `opts` in `init` and reports (its own worker, the children's workers).
struct Parent {
    n: usize,
    opts: SpawnOptions,
    report: Sender<(usize, Vec<usize>)>,
}

impl Actor for Parent {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let mut kids = Vec::new();
        for _ in 0..self.n {
            kids.push(ctx.spawn(Idle, self.opts.clone()).map_err(ExitReason::error)?);
        }
        let workers =
            kids.iter().map(|k| ctx.node().process_info(*k).map(|i| i.worker).unwrap_or(usize::MAX)).collect();
        let _ = self.report.send((ctx.info().worker, workers));
        Ok(())
    }
    async fn handle_message(&mut self, _: &mut Context, _: Pid, _: Message) -> Result<(), ExitReason> {
        Ok(())
    }
}

fn spawn_parent(workers: usize, opts: SpawnOptions) -> (usize, Vec<usize>) {
    let node = node("place", workers);
    let (tx, rx) = channel();
    node.spawn(Parent { n: 8, opts, report: tx }, SpawnOptions::default()).unwrap();
    rx.recv_timeout(PATIENCE).expect("parent reports")
}

#[test]
fn children_spread_over_every_worker_by_default() {
    let (_, kids) = spawn_parent(2, SpawnOptions::default());
    assert_eq!(kids.iter().filter(|w| **w == 0).count(), 4, "{kids:?}");
    assert_eq!(kids.iter().filter(|w| **w == 1).count(), 4, "{kids:?}");
}

#[test]
fn colocated_children_share_their_parents_worker() {
    let (parent, kids) = spawn_parent(2, SpawnOptions::default().colocate());
    assert!(kids.iter().all(|w| *w == parent), "parent on {parent}, children on {kids:?}");
}

#[test]
fn an_explicit_worker_places_the_child_there() {
    let (_, kids) = spawn_parent(3, SpawnOptions::default().worker(2));
    assert!(kids.iter().all(|w| *w == 2), "{kids:?}");
    let (_, kids) = spawn_parent(2, SpawnOptions::default().worker(5));
    assert!(kids.iter().all(|w| *w == 1), "worker index is taken modulo the worker count: {kids:?}");
}

#[test]
fn a_child_spawned_near_a_process_starts_on_that_process_worker() {
    let node = node("near", 3);
    let anchor = node.spawn(Idle, SpawnOptions::default().worker(2)).unwrap();
    for _ in 0..4 {
        let pid = node.spawn(Idle, SpawnOptions::default().near(anchor)).unwrap();
        assert_eq!(node.process_info(pid).unwrap().worker, 2);
    }
    // An unknown process: round-robin, as without the option.
    node.kill(anchor).unwrap();
    assert!(eventually(|| node.process_info(anchor).is_err()));
    let spread: std::collections::HashSet<usize> = (0..6)
        .map(|_| {
            let pid = node.spawn(Idle, SpawnOptions::default().near(anchor)).unwrap();
            node.process_info(pid).unwrap().worker
        })
        .collect();
    assert_eq!(spread.len(), 3, "{spread:?}");
}
