//! Step 4, item 2: a simple-one-for-one supervisor with 10,000 dynamic children: started from a
//! plain thread, spread over every worker, a batch of them crashed and restarted, then the
//! supervisor stopped with nothing left behind.

mod support;

use ergors::supervisor::{self, ChildSpec};
use ergors::{
    Actor, Context, ExitReason, Message, MessageDown, Pid, Restart, SpawnOptions, Supervisor, SupervisorSpec,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::agent::{agent, next_msg, on};
use support::{eventually, node};

const CHILDREN: usize = 10_000;
const WORKERS: usize = 4;

/// Counts its starts; ends with the reason it is sent.
struct Instance {
    starts: Arc<AtomicUsize>,
}

impl Actor for Instance {
    async fn init(&mut self, _ctx: &mut Context) -> Result<(), ExitReason> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        match msg.downcast::<ExitReason>() {
            Ok(reason) => Err(reason),
            Err(_) => Ok(()),
        }
    }
}

#[test]
fn ten_thousand_instances_spread_restart_and_stop_without_leftovers() {
    let node = node("sup-many", WORKERS);
    let (watcher, seen) = agent(&node, false);
    let baseline = node.process_count();
    let starts = Arc::new(AtomicUsize::new(0));
    let counter = starts.clone();
    let spec = SupervisorSpec::simple_one_for_one()
        .restart(Restart::Permanent)
        .intensity(u16::MAX, Duration::from_secs(3600))
        .child(ChildSpec::new("inst", move || Instance { starts: counter.clone() }));
    let sup = node.spawn_wait(Supervisor::new(spec), SpawnOptions::default()).unwrap();
    on(&node, watcher, move |ctx| ctx.monitor(sup)).unwrap();

    let pids: Vec<Pid> = (0..CHILDREN).map(|_| supervisor::start_child(&node, sup, "inst").unwrap()).collect();
    assert_eq!(starts.load(Ordering::SeqCst), CHILDREN);
    // Default placement is round-robin over the workers, from the supervisor too.
    let mut per_worker = [0usize; WORKERS];
    for p in &pids {
        per_worker[node.process_info(*p).unwrap().worker] += 1;
    }
    assert!(per_worker.iter().all(|n| *n > 0), "instances on every worker: {per_worker:?}");

    // Crash every tenth; each comes back as a fresh instance.
    let crashed: HashSet<Pid> = pids.iter().step_by(10).copied().collect();
    for p in &crashed {
        node.send(*p, ExitReason::error("batch")).unwrap();
    }
    assert!(eventually(|| starts.load(Ordering::SeqCst) == CHILDREN + crashed.len()));
    assert!(eventually(|| {
        let listed = supervisor::children(&node, sup).unwrap();
        listed.len() == CHILDREN && listed.iter().all(|c| c.pid.is_some_and(|p| !crashed.contains(&p)))
    }));
    let listed = supervisor::children(&node, sup).unwrap();
    assert!(listed.iter().all(|c| node.is_alive(c.pid.unwrap())));

    node.send_exit(sup, ExitReason::Shutdown).unwrap();
    assert_eq!(next_msg::<MessageDown>(&seen).1.reason, ExitReason::Shutdown);
    assert!(eventually(|| node.process_count() == baseline), "{} processes left", node.process_count());
    assert_eq!(starts.load(Ordering::SeqCst), CHILDREN + crashed.len(), "nothing restarted while stopping");
    node.stop();
}
