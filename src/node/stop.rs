//! Stopping the node: every process ends with `shutdown`, deepest in the spawn tree first, within
//! the shutdown timeout; then the workers are joined (D12, D45).
//!
//! Blocks its caller (a plain thread: `NodeHandle::stop` on a worker hands the stop to a helper
//! thread). Never: runs on a worker thread.

use super::NodeInner;
use crate::error::Error;
use crate::message::{Envelope, ExitReason, Payload, Priority};
use crate::process::entry::ProcessEntry;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl NodeInner {
    /// Terminates every process (deepest in the spawn tree first, so children end before their
    /// parents), then stops and joins the workers. Waits at most `shutdown_timeout` for the
    /// processes: what is left then is abandoned (logged with the Pids), and a worker still stuck
    /// in a callback is left to finish it on its own (its thread is detached). Idempotent.
    pub(super) fn stop(self: &Arc<Self>) {
        if self.stopping.swap(true, Ordering::AcqRel) {
            self.wait_stopped();
            return;
        }
        std::sync::atomic::fence(Ordering::SeqCst);
        // No job runs once the processes are being stopped.
        self.cron.stop();
        let deadline = Instant::now() + self.options.shutdown_timeout;
        // Applications first (in reverse start order, each member bounded), then what is left.
        let hooks = self.extensions.stop_hooks();
        if !hooks.is_empty() {
            let handle = super::NodeHandle { inner: self.clone() };
            for hook in hooks {
                hook(&handle, deadline);
            }
        }
        let ended = self.stop_processes(deadline);
        let mut abandoned = Vec::new();
        if !ended {
            let left = self.table.entries();
            let pids: Vec<String> = left.iter().take(64).map(|e| e.pid.to_string()).collect();
            let more = if left.len() > 64 { format!(" and {} more", left.len() - 64) } else { String::new() };
            node_log!(
                self,
                WARN,
                "stop: {} processes did not end within {:?}; abandoned: {}{more}",
                left.len(),
                self.options.shutdown_timeout,
                pids.join(", ")
            );
            // Out of the table; their futures are dropped below, once the workers are gone.
            for e in &left {
                e.mark_dead();
                self.table.remove(&e.pid);
            }
            abandoned = left;
        }
        self.watchdog.stop();
        // After the processes: none waits for a job any more. A thread still in a job at the
        // deadline (a blocking loop that ignores its meta's end) is left to finish on its own.
        let detached = self.blocking.stop(deadline);
        if detached > 0 {
            node_log!(
                self,
                WARN,
                "stop: {detached} blocking thread(s) still running a job after {:?}; detached",
                self.options.shutdown_timeout
            );
        }
        for w in &self.workers.list {
            w.request_shutdown();
        }
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        // A worker stuck in a callback cannot be joined; give them until the deadline (plus a
        // moment to see the shutdown flag), then detach what is left.
        let join_by = deadline.max(Instant::now()) + Duration::from_millis(100);
        for t in threads {
            while !t.is_finished() && Instant::now() < join_by {
                std::thread::sleep(Duration::from_millis(1));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                node_log!(self, WARN, "stop: a worker thread is stuck in a callback; detached");
            }
        }
        // An abandoned process's future holds its context, which holds the process and the node:
        // drop the futures of those no worker is polling, or they would keep each other (and the
        // node) alive. One still being polled by a stuck worker is that worker's to drop.
        for e in abandoned {
            if e.sched.close_if_not_running() {
                // SAFETY: the process was closed from a state in which no thread polls it, and a
                // closed process is never polled again: the future is ours alone.
                let task = unsafe { e.take_task() };
                // Dropping user state may panic; the node is stopping regardless.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(task)));
            }
        }
        self.external_calls.lock().unwrap_or_else(|p| p.into_inner()).clear();
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.stopped_cv.notify_all();
    }

    /// Sends every process the shutdown, deepest first, waiting for each level; false if some
    /// were still alive at `deadline`.
    fn stop_processes(&self, deadline: Instant) -> bool {
        let core = self.core_pid();
        // New spawns are refused from now on; a spawn already past that check may still land,
        // so repeat until the table stays empty.
        while self.table.len() > 0 {
            let mut by_depth: Vec<Arc<ProcessEntry>> = self.table.entries();
            by_depth.sort_by_key(|e| std::cmp::Reverse(e.depth));
            let mut i = 0;
            while i < by_depth.len() {
                let depth = by_depth[i].depth;
                let end = by_depth[i..].iter().position(|e| e.depth != depth).map_or(by_depth.len(), |n| i + n);
                let level = &by_depth[i..end];
                for e in level {
                    let exit = Envelope { from: core, payload: Payload::Shutdown(ExitReason::Shutdown) };
                    self.push_forced(e, Priority::Urgent, exit);
                    // A process waiting on a call would see the shutdown only after its timeout.
                    e.fail_pending_call(Error::NodeStopped);
                }
                while level.iter().any(|e| e.is_alive()) {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                i = end;
            }
        }
        true
    }

    pub(super) fn wait_stopped(&self) {
        let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        while !*stopped {
            stopped = self.stopped_cv.wait(stopped).unwrap_or_else(|p| p.into_inner());
        }
    }
}
