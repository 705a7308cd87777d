//! The stall watchdog: a plain thread (not a worker: it may sleep) that samples every worker
//! a few times per `ERGORS_STALL_MS` and notices one stuck in a single poll of a single process
//! for longer than that. It reports each stall once (a `warn` record naming the worker, the
//! process and its behaviour, and an entry in node info while it lasts), marks the worker
//! stalled so that the other workers take its queued processes (`Worker::steal`), and wakes
//! them if they are parked. Costs the workers nothing but two relaxed stores per poll.

use crate::message::{Name, Pid};
use crate::node::NodeInner;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A worker stuck in one poll (node info).
#[derive(Clone, Debug)]
pub struct StalledWorker {
    /// The worker's index.
    pub worker: usize,
    /// The process it is stuck in.
    pub pid: Pid,
    /// That process's registered name, if any.
    pub name: Option<Name>,
    /// That process's actor type.
    pub behaviour: &'static str,
    /// How long the poll had lasted when last sampled.
    pub stuck_for: Duration,
}

#[derive(Default)]
struct State {
    stopping: bool,
    stalled: Vec<StalledWorker>,
    total: u64,
}

/// The watchdog's shared half: its findings and the means to stop its thread.
#[derive(Default)]
pub(crate) struct Watchdog {
    state: Mutex<State>,
    cv: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What the watchdog last saw of one worker.
#[derive(Clone, Copy)]
struct Sample {
    polls: u64,
    since: Instant,
    reported: bool,
}

impl Watchdog {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Workers stalled now, and stalls seen since the node started.
    pub(crate) fn snapshot(&self) -> (Vec<StalledWorker>, u64) {
        let s = self.state();
        (s.stalled.clone(), s.total)
    }

    /// Starts the watchdog thread (when `ERGORS_STALL_MS` is not zero).
    pub(crate) fn start(node: &Arc<NodeInner>) -> std::io::Result<()> {
        let stall = node.options.stall;
        if stall.is_zero() {
            return Ok(());
        }
        let n = node.clone();
        let t = std::thread::Builder::new().name("ergors-watchdog".into()).spawn(move || run(&n, stall))?;
        *node.watchdog.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
        Ok(())
    }

    /// Stops and joins the thread.
    pub(crate) fn stop(&self) {
        self.state().stopping = true;
        self.cv.notify_all();
        let t = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = t {
            let _ = t.join();
        }
    }
}

fn run(node: &Arc<NodeInner>, stall: Duration) {
    let period = (stall / 4).max(Duration::from_millis(1));
    let workers = node.workers.clone();
    let start = Instant::now();
    let mut samples: Vec<Sample> = vec![Sample { polls: 0, since: start, reported: false }; workers.list.len()];
    loop {
        {
            let state = node.watchdog.state();
            let (state, _) =
                node.watchdog.cv.wait_timeout_while(state, period, |s| !s.stopping).unwrap_or_else(|p| p.into_inner());
            if state.stopping {
                return;
            }
        }
        let now = Instant::now();
        for (i, w) in workers.list.iter().enumerate() {
            let polls = w.poll.polls.load(Relaxed);
            let polling = w.poll.polling.load(Relaxed);
            let sample = &mut samples[i];
            if polling == 0 || polls != sample.polls {
                *sample = Sample { polls, since: now, reported: false };
                if w.stalled.swap(false, Relaxed) {
                    node.watchdog.state().stalled.retain(|s| s.worker != i);
                    node_log!(node, INFO, "worker {i} is running again");
                }
                continue;
            }
            let stuck_for = now - sample.since;
            if stuck_for < stall {
                continue;
            }
            let pid = Pid { node: node.name, id: polling, creation: node.creation };
            if !sample.reported {
                sample.reported = true;
                let entry = node.table.get(&pid);
                let name = entry.as_ref().and_then(|e| e.with_existing_rel(|r| r.name.clone()).flatten());
                let behaviour = entry.as_ref().map_or("?", |e| (e.behaviour)());
                w.stalled.store(true, Relaxed);
                let named = name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default();
                {
                    let mut state = node.watchdog.state();
                    state.total += 1;
                    state.stalled.push(StalledWorker { worker: i, pid, name, behaviour, stuck_for });
                }
                node_log!(
                    node,
                    WARN,
                    "worker {i} stalled: process {pid}{named} [{behaviour}] has run one poll for over {stuck_for:?}; \
                     other workers take its queued processes"
                );
            } else if let Some(s) = node.watchdog.state().stalled.iter_mut().find(|s| s.worker == i) {
                s.stuck_for = stuck_for;
            }
            // Processes queued on the stalled worker need another worker to run them.
            if w.has_queued() {
                for (j, other) in workers.list.iter().enumerate() {
                    if j != i && other.wake_if_parked() {
                        break;
                    }
                }
            }
        }
    }
}
