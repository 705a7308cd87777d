//! The blocking pool: `spawn_blocking` from processes and plain threads, saturation (cap and
//! queue), panics in jobs, detached jobs, and a node stop that never waits on a stuck job.

mod support;

use ergors::{Actor, Context, Error, ExitReason, From, Message, Node, NodeOptions, Pid, SpawnOptions};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{PATIENCE, eventually};

fn node_with(name: &str, workers: usize, threads: usize, queue: usize) -> Node {
    let opts = NodeOptions::default()
        .workers(workers)
        .pin_workers(false)
        .spin(Duration::from_micros(20))
        .meta_threads(threads)
        .meta_queue(queue);
    Node::start(&format!("{name}@localhost"), opts).expect("node starts")
}

/// A job that blocks its thread until the test lets it go, and says when it has started.
fn gated(started: Sender<()>, gate: Arc<Mutex<Receiver<()>>>) -> impl FnOnce() -> &'static str + Send + 'static {
    move || {
        let _ = started.send(());
        let _ = gate.lock().unwrap().recv_timeout(PATIENCE);
        "done"
    }
}

#[test]
fn saturation_cap_two_queue_one_third_waits_fourth_fails_all_complete() {
    let node = node_with("blocksat", 1, 2, 1);
    let (started_tx, started) = channel();
    let (open, gate) = channel();
    let gate = Arc::new(Mutex::new(gate));
    let first = node.spawn_blocking(gated(started_tx.clone(), gate.clone()));
    let second = node.spawn_blocking(gated(started_tx.clone(), gate.clone()));
    for _ in 0..2 {
        started.recv_timeout(PATIENCE).expect("both threads run a job");
    }
    let info = node.info();
    assert_eq!((info.blocking_threads, info.blocking_busy, info.blocking_queued), (2, 2, 0));

    // Every thread is busy: the third job waits in the queue...
    let third = node.spawn_blocking(gated(started_tx.clone(), gate.clone()));
    assert_eq!(node.info().blocking_queued, 1);
    assert!(!third.is_finished());
    // ...and the fourth finds the queue full.
    let fourth = node.spawn_blocking(|| "never");
    assert!(fourth.is_finished());
    assert_eq!(fourth.wait(), Err(Error::BlockingPoolFull));
    assert!(started.try_recv().is_err(), "the third job has not started");

    for _ in 0..3 {
        open.send(()).unwrap();
    }
    assert_eq!(first.wait(), Ok("done"));
    assert_eq!(second.wait(), Ok("done"));
    assert_eq!(third.wait(), Ok("done"));
    let info = node.info();
    assert!(info.blocking_threads <= 2 && info.blocking_queued == 0, "{info:?}");
    // Room again.
    assert_eq!(node.spawn_blocking(|| 5).wait(), Ok(5));
    node.stop();
}

#[test]
fn queue_zero_fails_at_once_when_every_thread_is_busy() {
    let node = node_with("blockq0", 1, 1, 0);
    let (started_tx, started) = channel();
    let (open, gate) = channel();
    let busy = node.spawn_blocking(gated(started_tx, Arc::new(Mutex::new(gate))));
    started.recv_timeout(PATIENCE).unwrap();
    assert_eq!(node.spawn_blocking(|| ()).wait(), Err(Error::BlockingPoolFull));
    open.send(()).unwrap();
    assert_eq!(busy.wait(), Ok("done"));
    node.stop();
}

#[test]
fn a_panic_in_a_job_is_its_error_and_the_pool_goes_on() {
    let node = node_with("blockpanic", 1, 1, 4);
    for i in 0..5u32 {
        let e = node.spawn_blocking(move || -> u32 { panic!("job {i} broke") }).wait();
        assert_eq!(e, Err(Error::BlockingPanicked(format!("job {i} broke"))));
    }
    // One thread, never lost: the next jobs run.
    assert_eq!(node.spawn_blocking(|| 42).wait(), Ok(42));
    // The outcome lands before the thread counts itself free again.
    assert!(eventually(|| node.info().blocking_busy == 0));
    assert_eq!(node.info().blocking_threads, 1);
    node.stop();
}

/// Awaits a job given by the test (through its closure) inside a callback and reports the result.
struct Waiter {
    out: Sender<Result<&'static str, Error>>,
    gate: Arc<Mutex<Receiver<()>>>,
    started: Sender<()>,
}

impl Actor for Waiter {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let outcome = ctx.spawn_blocking(gated(self.started.clone(), self.gate.clone())).await;
        let _ = self.out.send(outcome);
        Ok(())
    }
}

struct Echo;
impl Actor for Echo {
    async fn handle_call(
        &mut self,
        _ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        Ok(Some(req))
    }
}

#[test]
fn a_process_awaiting_a_job_suspends_only_itself() {
    // One worker: the echo process answers while the waiter waits on its job.
    let node = node_with("blockawait", 1, 2, 0);
    let (out, results) = channel();
    let (started_tx, started) = channel();
    let (open, gate) = channel();
    let waiter = node
        .spawn(Waiter { out, gate: Arc::new(Mutex::new(gate)), started: started_tx }, SpawnOptions::default())
        .unwrap();
    let echo = node.spawn(Echo, SpawnOptions::default()).unwrap();
    node.send(waiter, ()).unwrap();
    started.recv_timeout(PATIENCE).unwrap();
    assert_eq!(node.call(echo, 7u32).unwrap().downcast::<u32>().ok(), Some(7));
    assert!(results.try_recv().is_err());
    open.send(()).unwrap();
    assert_eq!(results.recv_timeout(PATIENCE).unwrap(), Ok("done"));
    node.stop();
}

/// Starts a job and drops its future at once; reports that the callback went on.
struct Dropper {
    ran: Arc<AtomicBool>,
    out: Sender<Result<(), Error>>,
}

impl Actor for Dropper {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let ran = self.ran.clone();
        drop(ctx.spawn_blocking(move || ran.store(true, Ordering::SeqCst)));
        // Blocking `wait` on a worker is refused.
        let refused = ctx.spawn_blocking(|| ()).wait();
        let _ = self.out.send(refused);
        Ok(())
    }
}

#[test]
fn a_dropped_job_still_runs_and_wait_is_refused_on_a_worker() {
    let node = node_with("blockdrop", 1, 2, 4);
    let ran = Arc::new(AtomicBool::new(false));
    let (out, results) = channel();
    let p = node.spawn(Dropper { ran: ran.clone(), out }, SpawnOptions::default()).unwrap();
    node.send(p, ()).unwrap();
    assert_eq!(results.recv_timeout(PATIENCE).unwrap(), Err(Error::WouldBlockWorker("BlockingJob::wait")));
    assert!(eventually(|| ran.load(Ordering::SeqCst)), "the detached job ran");
    node.stop();
}

#[test]
fn spawn_blocking_from_a_plain_thread() {
    let node = node_with("blockplain", 1, 4, 16);
    let handle = node.handle();
    let jobs: Vec<_> = (0..8u64).map(|i| handle.spawn_blocking(move || i * i)).collect();
    let squares: Vec<u64> = jobs.into_iter().map(|j| j.wait().unwrap()).collect();
    assert_eq!(squares, (0..8u64).map(|i| i * i).collect::<Vec<_>>());
    assert!(node.info().blocking_threads <= 4);
    node.stop();
    assert_eq!(handle.spawn_blocking(|| 1).wait(), Err(Error::NodeStopped));
}

#[test]
fn stop_detaches_a_stuck_job_with_a_warning_and_returns() {
    let capture = support::Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let opts = NodeOptions::default()
        .workers(1)
        .pin_workers(false)
        .meta_threads(2)
        .meta_queue(4)
        .shutdown_timeout(Duration::from_millis(200));
    let node = Node::start("blockstuck@localhost", opts).unwrap();
    let (started_tx, started) = channel();
    let (open, gate) = channel();
    // Never awaited: a job that ignores the node's end, blocked until the test lets it go.
    let stuck = node.spawn_blocking(gated(started_tx, Arc::new(Mutex::new(gate))));
    started.recv_timeout(PATIENCE).unwrap();
    let queued_behind = node.spawn_blocking(|| 1);
    let stopper = std::thread::spawn(move || node.stop());
    assert!(eventually(|| stopper.is_finished()), "stop returned");
    stopper.join().unwrap();
    let text = capture.text();
    assert!(text.contains("1 blocking thread(s) still running a job") && text.contains("WARN"), "{text}");
    // The second thread ran the queued job before the stop, or the stop dropped it.
    assert!(matches!(queued_behind.wait(), Ok(1) | Err(Error::NodeStopped)));
    open.send(()).unwrap();
    assert_eq!(stuck.wait(), Ok("done"));
}
