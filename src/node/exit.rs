//! How a process ends: exit signals (`send_exit`), `kill`, and releasing what a dead process
//! held (its name, aliases, events and relations), each exactly once.
//!
//! Runs on any thread. Never: runs a process's callbacks (a killed process's `terminate` runs on
//! its own worker).

use super::NodeInner;
use super::watch::Kind;
use crate::error::Error;
use crate::message::{Envelope, ExitReason, From, MessageExit, Payload, Pid, Priority, Target, To};
use crate::process::call::CallSlot;
use crate::process::entry::{INTERRUPT_KILL, ProcessEntry};
use crate::runtime::worker::schedule;
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl NodeInner {
    /// Releases what a process held. Called once per process, on its worker, by the process's
    /// own future as it ends (or by the worker if a panic escaped the future).
    pub(crate) fn process_ended(&self, entry: &Arc<ProcessEntry>, reason: &ExitReason) {
        // A killed process was unregistered by its killer already; its mailbox is drained here,
        // on its worker, all the same.
        self.unregister_process(entry, reason);
        self.fail_queued_requests(entry);
    }

    /// Marks a process dead and releases its Pid, name, aliases, events and relations (its
    /// watchers get their exit/down with `reason`). The first caller does it (the ending process
    /// itself, or its killer on any thread); false for later ones.
    pub(crate) fn unregister_process(&self, entry: &Arc<ProcessEntry>, reason: &ExitReason) -> bool {
        if !entry.mark_dead() {
            return false;
        }
        // Nobody will read this mailbox again: whoever waits for room in it goes on, and finds
        // the process gone (the queues refuse new waiters from now on).
        entry.mailbox.wake_all_waiters();
        self.table.remove(&entry.pid);
        if self.logger_count.load(Ordering::Acquire) > 0 {
            self.logger_remove(None, Some(entry.pid));
        }
        self.release_relations(entry, reason);
        match reason {
            ExitReason::Normal | ExitReason::Shutdown => {
                node_log!(self, TRACE, "process {} terminated: {reason}", entry.pid)
            }
            _ => node_log!(self, WARN, "process {} terminated abnormally: {reason}", entry.pid),
        }
        true
    }

    /// Fails the requests left in a dead process's mailbox. Runs on the process's worker (the
    /// mailbox's consumer), after `unregister_process`.
    fn fail_queued_requests(&self, entry: &Arc<ProcessEntry>) {
        // Whoever still waits on a request to this process learns now that no reply will come.
        // A request whose sender is mid-push is not waited for: that sender re-checks liveness
        // after its push and answers itself (`push`; D21).
        // SAFETY: we run inside the process's run (its own future, or the worker's panic path),
        // so we are the mailbox's single consumer, and nothing pops after this.
        unsafe {
            entry.mailbox.drain_ready(|envelope| {
                if let Some(ref_id) = envelope.payload.request_ref() {
                    self.fail_request(From { pid: envelope.from, ref_id });
                }
            })
        };
    }

    /// An exit signal from `from` to `to` (Ergo's `SendExit`): trappable by the receiver,
    /// unless it comes from the receiver's parent.
    pub(crate) fn send_exit(&self, from: Pid, to: &Pid, reason: ExitReason) -> Result<(), Error> {
        if to.node != self.name {
            return self.send_exit_remote(from, to, &reason);
        }
        let entry = self.resolve(&To::Pid(*to))?;
        let payload = Payload::Exit(Box::new(MessageExit { target: Target::Pid(from), reason }));
        self.push_forced(&entry, Priority::Urgent, Envelope { from, payload });
        // Ended by it: taken now even if a callback is suspended (D168).
        let from_parent = from == entry.parent;
        if entry.exit_ends(from_parent) {
            entry.interrupt_for_exit(from_parent);
        }
        Ok(())
    }

    /// Ends a process with reason `kill` (Ergo's `Kill`), which cannot be trapped.
    ///
    /// A process that is not running (asleep or queued) is unregistered here, before this
    /// returns: dead, its name free, its watchers told `kill`. It then runs once more on its
    /// worker, only to run `terminate(Kill)` (not `init`, if that never ran) and end. A process
    /// inside a callback ends when the callback returns; if it waits on a call, that call fails
    /// at once with `Terminated` (D34).
    pub(crate) fn kill(&self, to: &Pid) -> Result<(), Error> {
        let entry = self.resolve(&To::Pid(*to))?;
        if let Some(queued) = entry.sched.begin_kill() {
            // Not running, and no worker can start it now. Suspended inside a callback (a call
            // in flight or its outcome not yet taken) counts as running, as Ergo's WaitResponse.
            let in_call = !matches!(*entry.call.lock().unwrap_or_else(|p| p.into_inner()), CallSlot::Idle);
            if !in_call {
                // Asleep between messages, or suspended in a callback on I/O, a sleep or a
                // blocking job: either way its next poll ends it.
                entry.interrupt.fetch_or(INTERRUPT_KILL, Ordering::Relaxed);
                self.unregister_process(&entry, &ExitReason::Kill);
                if entry.sched.end_kill(queued) {
                    schedule(entry);
                }
                return Ok(());
            }
            if entry.sched.cancel_kill(queued) {
                schedule(entry.clone());
            }
        }
        let envelope = Envelope { from: self.core_pid(), payload: Payload::Shutdown(ExitReason::Kill) };
        self.push_forced(&entry, Priority::Urgent, envelope);
        // Queued first: the callback resumes with the failed call and the kill is next. A
        // callback suspended on anything else is abandoned at its next poll (it may be waiting
        // for a socket that never speaks): woken now for that.
        if !entry.fail_pending_call(Error::Terminated) {
            entry.interrupt.fetch_or(INTERRUPT_KILL, Ordering::Relaxed);
            crate::runtime::waker::notify(&entry);
        }
        Ok(())
    }

    /// Releases a dead process's relations: its name, aliases and events go; its watchers get
    /// their exit/down (exactly once: the relations are taken out once); it stops watching.
    pub(crate) fn release_relations(&self, entry: &Arc<ProcessEntry>, reason: &ExitReason) {
        let Some(rel) = entry.take_rel() else { return };
        if let Some(name) = &rel.name {
            self.drop_name(entry, name);
        }
        for a in &rel.aliases {
            self.registry.aliases.write(a).remove(a);
        }
        for name in &rel.events {
            let event = self.registry.events.write(name).remove(name);
            if let Some(event) = event {
                self.close_event(&event, reason);
            }
        }
        // Its meta processes end with it, with its reason, whether they trap exits or not: the
        // exit comes from their parent (Ergo: "send exit signal to the meta processes").
        for alias in &rel.metas {
            let meta = self.registry.aliases.read(alias).get(alias).cloned();
            if let Some(meta) = meta {
                let exit = MessageExit { target: Target::Pid(entry.pid), reason: reason.clone() };
                let envelope = Envelope { from: entry.pid, payload: Payload::Exit(Box::new(exit)) };
                self.push_forced(&meta, Priority::Urgent, envelope);
                // Taken even by a meta suspended in a callback (D116).
                meta.interrupt_for_exit(true);
            }
        }
        for (consumer, target) in rel.linked_by {
            self.signal(consumer, Kind::Link, target, reason);
        }
        for (consumer, target) in rel.monitored_by {
            self.signal(consumer, Kind::Monitor, target, reason);
        }
        for target in rel.links {
            self.detach(entry.pid, target, Kind::Link);
        }
        for target in rel.monitors {
            self.detach(entry.pid, target, Kind::Monitor);
        }
    }
}
