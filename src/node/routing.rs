//! Routing: finding the live process a destination names, and pushing envelopes into mailboxes.
//!
//! Runs on any thread (a worker or a plain one). Never: blocks, or holds a registry lock while
//! pushing.

use super::NodeInner;
use crate::error::Error;
use crate::mailbox::Full;
use crate::message::{Addressed, Atom, Envelope, Message, MessageFallback, Payload, Pid, Priority, ProcessId, To, Via};
use crate::process::entry::ProcessEntry;
use crate::runtime::waker::notify;
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl NodeInner {
    /// Queues an envelope into a live process's mailbox and wakes it: the one way a message
    /// enters a mailbox. A request whose callee died in the meantime is answered at once.
    pub(crate) fn push(&self, target: &Arc<ProcessEntry>, priority: Priority, envelope: Envelope) -> Result<(), Error> {
        self.push_reporting(target, priority, envelope).map(drop)
    }

    /// As [`NodeInner::push`]; `Ok(true)` when the target's queue is over its limit (a process
    /// sender is then held back when its callback returns: D70).
    #[inline(always)]
    pub(crate) fn push_reporting(
        &self,
        target: &Arc<ProcessEntry>,
        priority: Priority,
        envelope: Envelope,
    ) -> Result<bool, Error> {
        if !target.is_alive() {
            return Err(Error::ProcessUnknown);
        }
        let request = envelope.payload.request_ref().map(|r| (envelope.from, r));
        let over = self.enqueue(target, priority, envelope, false, request.is_some())?;
        if let Some((from, ref_id)) = request {
            // The callee may have died after our liveness check and drained its mailbox before
            // our push: then nobody would answer and the caller would wait out its timeout. Our
            // push publishes with a SeqCst store and this load is SeqCst; the dying process's
            // `mark_dead` and its drain's loads are SeqCst too, so one of us sees the other
            // (D21). Answering twice is harmless: a call takes the first outcome for its ref.
            if !target.is_alive() {
                // Answering twice is harmless: a call takes the first outcome for its ref.
                self.fail_request(crate::message::From { pid: from, ref_id });
            }
        }
        Ok(over)
    }

    /// Queues a runtime signal regardless of the mailbox's capacity (and of liveness: a dead
    /// process's queues are dropped with it).
    pub(crate) fn push_forced(&self, target: &Arc<ProcessEntry>, priority: Priority, envelope: Envelope) {
        let _ = self.enqueue(target, priority, envelope, true, false);
    }

    #[inline(always)]
    fn enqueue(
        &self,
        target: &Arc<ProcessEntry>,
        priority: Priority,
        envelope: Envelope,
        forced: bool,
        sc: bool,
    ) -> Result<bool, Error> {
        match target.mailbox.push(priority, envelope, forced, sc) {
            Ok(over) => {
                notify(target);
                Ok(over)
            }
            Err(Full(envelope)) => self.mailbox_full(target, priority, envelope).map(|()| false),
        }
    }

    /// A full mailbox refused `envelope`: hand a plain message to the target's fallback process
    /// (`SpawnOptions::fallback`), if it has one, and report that delivery's outcome; otherwise
    /// (or for a request, or a message already redirected once) `MailboxFull`.
    #[cold]
    #[inline(never)]
    fn mailbox_full(&self, target: &Arc<ProcessEntry>, priority: Priority, envelope: Envelope) -> Result<(), Error> {
        let payload = match envelope.payload {
            Payload::Via(via) => via.payload,
            other => other,
        };
        let Payload::Message(message) = payload else { return Err(Error::MailboxFull) };
        // One hop: a fallback process whose own mailbox is full does not pass the message on
        // (two processes falling back to each other would loop).
        if message.is::<MessageFallback>() {
            return Err(Error::MailboxFull);
        }
        let Some((name, tag)) = target.with_existing_rel(|r| r.fallback.clone()).flatten() else {
            return Err(Error::MailboxFull);
        };
        // An unknown fallback (or the process itself): the sender learns what happened to its
        // message, a full mailbox, not that some other process is missing (D36).
        let fallback = match self.resolve(&ProcessId { name, node: self.name }.into()) {
            Ok(f) if !Arc::ptr_eq(&f, target) => f,
            _ => return Err(Error::MailboxFull),
        };
        let wrapped = MessageFallback { pid: target.pid, tag, message };
        self.push(
            &fallback,
            priority,
            Envelope { from: envelope.from, payload: Payload::Message(Message::new(wrapped)) },
        )
    }

    /// `envelope` as `target` should get it when sent to `to`: a message or request addressed by
    /// name or alias to a process that splits its handling carries the address (D37).
    pub(crate) fn addressed(to: &To, target: &ProcessEntry, envelope: Envelope) -> Envelope {
        if !target.split.load(Ordering::Relaxed) {
            return envelope;
        }
        let addressed = match to {
            To::Pid(_) => return envelope,
            To::Name(id) => Addressed::Name(id.name.clone()),
            To::Local(name) => Addressed::Name(name.clone()),
            To::Alias(a) => Addressed::Alias(*a),
        };
        match envelope.payload {
            payload @ (Payload::Message(_) | Payload::Request(..) | Payload::RequestWide(_)) => {
                Envelope { from: envelope.from, payload: Payload::Via(Box::new(Via { to: addressed, payload })) }
            }
            payload => Envelope { from: envelope.from, payload },
        }
    }

    /// Queues a signal ignoring mailbox capacity: exits, downs and notifications are never
    /// dropped because a mailbox is full.
    pub(crate) fn push_signal(&self, to: &Arc<ProcessEntry>, priority: Priority, envelope: Envelope) {
        if to.is_alive() {
            self.push_forced(to, priority, envelope);
        }
    }

    pub(super) fn check_local(&self, node: Atom) -> Result<(), Error> {
        if node == self.name { Ok(()) } else { Err(Error::NoConnection(node)) }
    }

    /// The live process a destination names.
    pub(crate) fn resolve(&self, to: &To) -> Result<Arc<ProcessEntry>, Error> {
        let found = match to {
            To::Pid(p) => self.table.get(p),
            To::Name(id) => {
                self.check_local(id.node)?;
                self.registry.entry_named(&id.name)
            }
            To::Local(name) => self.registry.entry_named(name),
            To::Alias(a) => self.registry.aliases.read(a).get(a).cloned(),
        };
        found.filter(|e| e.is_alive()).ok_or(Error::ProcessUnknown)
    }

    /// Resolves `to` now and delivers (a timer firing: the name or alias is looked up when it
    /// fires, as Ergo's `SendAfter` does).
    pub(crate) fn deliver_to(&self, from: Pid, to: &To, priority: Priority, payload: Payload) -> Result<(), Error> {
        let target = self.resolve(to)?;
        self.push(&target, priority, Envelope { from, payload })
    }
}
