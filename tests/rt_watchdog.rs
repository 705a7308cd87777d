//! The stall watchdog: a worker stuck in one poll is reported once per stall (a warn record and
//! node info, with the process and its behaviour), and its queued processes, pinned ones
//! included, are run by the other workers meanwhile.

mod support;

use ergors::{Actor, Context, ExitReason, From, Message, NodeOptions, Pid, SpawnOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;
use support::*;

/// Blocks its worker (as a careless handler would) until `release` is set.
struct Sleeper {
    release: Arc<AtomicBool>,
    started: Sender<()>,
}

impl Actor for Sleeper {
    async fn handle_message(&mut self, _: &mut Context, _: Pid, _: Message) -> Result<(), ExitReason> {
        let _ = self.started.send(());
        while !self.release.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }
}

struct Echo;

impl Actor for Echo {
    async fn handle_call(&mut self, ctx: &mut Context, _: From, req: Message) -> Result<Option<Message>, ExitReason> {
        let _ = req;
        Ok(Some(Message::new(ctx.info().worker)))
    }
}

#[test]
fn a_stalled_worker_is_reported_and_its_processes_run_elsewhere() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).init();

    let opts = NodeOptions::default().workers(2).pin_workers(false).stall(Duration::from_millis(50));
    let node = ergors::Node::start("stall@localhost", opts).unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = channel();
    let sleeper = node
        .spawn_register(
            "sleepy",
            Sleeper { release: release.clone(), started: started_tx },
            SpawnOptions::default().worker(0),
        )
        .unwrap();
    // Pinned to the worker that is about to stall.
    let echo = node.spawn(Echo, SpawnOptions::default().worker(0)).unwrap();
    node.send(sleeper, ()).unwrap();
    started_rx.recv_timeout(PATIENCE).unwrap();

    assert!(eventually(|| !node.info().stalled_workers.is_empty()), "the stall was not noticed");
    let info = node.info();
    let stall = &info.stalled_workers[0];
    assert_eq!(stall.worker, 0);
    assert_eq!(stall.pid, sleeper);
    assert_eq!(stall.name.as_ref().map(|n| n.as_str()), Some("sleepy"));
    assert!(stall.behaviour.ends_with("Sleeper"), "{}", stall.behaviour);
    assert!(stall.stuck_for >= Duration::from_millis(50));
    assert_eq!(info.stalls, 1);

    // The pinned process queued on the stalled worker is served by the other one.
    let served_on = node.call(echo, ()).expect("served while its worker is stalled").downcast::<usize>().unwrap();
    assert_eq!(served_on, 1);

    let text = capture.text();
    let line = text.lines().find(|l| l.contains("stalled")).expect("a warn record");
    assert!(line.contains("WARN") && line.contains(&sleeper.to_string()) && line.contains("Sleeper"), "{line}");
    assert_eq!(text.matches("worker 0 stalled").count(), 1, "reported once per stall");

    release.store(true, Ordering::Release);
    assert!(eventually(|| node.info().stalled_workers.is_empty()), "the stall did not clear");
    assert_eq!(node.info().stalls, 1);
}
