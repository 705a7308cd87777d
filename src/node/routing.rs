//! Routing: finding the live process a destination names, and pushing envelopes into mailboxes.
//!
//! Runs on any thread (a worker or a plain one). Never: blocks, or holds a registry lock while
//! pushing.

use super::NodeInner;
use crate::error::Error;
use crate::message::{Atom, Envelope, Payload, Pid, Priority, To};
use crate::process::entry::ProcessEntry;
use std::sync::Arc;

impl NodeInner {
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
