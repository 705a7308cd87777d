//! Links and monitors (Ergo's one-way links and monitors on a Pid, name, alias, event or node):
//! setting them up, taking them down, and firing them as exits and downs.
//!
//! A relation is stored on both sides: the consumer lists what it watches (`links`, `monitors`),
//! and the watched process lists who watches it (`linked_by`, `monitored_by`); event subscribers
//! live in the event (`events.rs`). Both sides are updated under the owning process's relations
//! lock, and a process's relations are taken out exactly once when it ends (`take_rel` after
//! `mark_dead`, `exit.rs`), so every watcher registered before that gets exactly one exit or
//! down, and nothing can be added after it (`ProcessEntry::with_rel`). Never: holds two
//! processes' relations locks at once.

use super::NodeInner;
use crate::error::Error;
use crate::message::{
    Envelope, ExitReason, Message, MessageDown, MessageEvent, MessageExit, Payload, Pid, Priority, Target, To,
};
use crate::process::entry::{ProcessEntry, Relations};
use std::sync::Arc;

/// Which list of a process a relation lives in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Link,
    Monitor,
}

impl Relations {
    pub(crate) fn watching(&mut self, kind: Kind) -> &mut Vec<Target> {
        match kind {
            Kind::Link => &mut self.links,
            Kind::Monitor => &mut self.monitors,
        }
    }
    pub(crate) fn watched_by(&mut self, kind: Kind) -> &mut Vec<(Pid, Target)> {
        match kind {
            Kind::Link => &mut self.linked_by,
            Kind::Monitor => &mut self.monitored_by,
        }
    }
}

/// Records on `consumer`'s side that it watches `target` now.
///
/// # Errors
/// `TargetExist` if it does already; `ProcessUnknown` if the consumer has ended.
pub(crate) fn start_watching(consumer: &ProcessEntry, target: &Target, kind: Kind) -> Result<(), Error> {
    let added = consumer
        .with_rel(|r| {
            let list = r.watching(kind);
            if list.contains(target) {
                false
            } else {
                list.push(target.clone());
                true
            }
        })
        .ok_or(Error::ProcessUnknown)?;
    if added { Ok(()) } else { Err(Error::TargetExist) }
}

/// Removes the first `x` from `v` (order does not matter); false if there was none.
pub(crate) fn remove_first<T: PartialEq>(v: &mut Vec<T>, x: &T) -> bool {
    match v.iter().position(|y| y == x) {
        Some(i) => {
            v.swap_remove(i);
            true
        }
        None => false,
    }
}

impl NodeInner {
    /// Fires one relation: `consumer` gets an exit (a link: Urgent) or a down (a monitor:
    /// System) about `target`, and no longer holds the relation.
    pub(crate) fn signal(&self, consumer: Pid, kind: Kind, target: Target, reason: &ExitReason) {
        if consumer.node != self.name {
            // A process of another node watches it: that node hears it, and tells its own.
            self.terminate_remote(consumer.node, &target, reason);
            return;
        }
        let Some(entry) = self.table.get(&consumer) else { return };
        // The relation has fired: the consumer no longer holds it.
        entry.with_existing_rel(|r| remove_first(r.watching(kind), &target));
        let from = match &target {
            Target::Pid(p) => *p,
            _ => self.core_pid(),
        };
        let reason = reason.clone();
        // An exit from the parent (a Pid target: the rule `act::serve` applies).
        let from_parent = matches!(&target, Target::Pid(p) if *p == entry.parent);
        let (priority, payload) = match kind {
            Kind::Link => (Priority::Urgent, Payload::Exit(Box::new(MessageExit { target, reason }))),
            Kind::Monitor => (Priority::System, Payload::Message(Message::new(MessageDown { target, reason }))),
        };
        self.push_signal(&entry, priority, Envelope { from, payload });
        if kind == Kind::Link {
            // Ended by it: taken now even if a callback is suspended (D168).
            if entry.exit_ends(from_parent) {
                entry.interrupt_for_exit(from_parent);
            }
        }
    }

    /// Fires every link and monitor on one identity of a live process (a name or an alias that
    /// goes away while the process lives on).
    pub(super) fn fire_identity(&self, entry: &Arc<ProcessEntry>, identity: Target, reason: &ExitReason) {
        let fired = entry
            .with_rel(|r| {
                let mut out = Vec::new();
                for kind in [Kind::Link, Kind::Monitor] {
                    r.watched_by(kind).retain(|(consumer, t)| {
                        if *t == identity {
                            out.push((*consumer, kind));
                            false
                        } else {
                            true
                        }
                    });
                }
                out
            })
            .unwrap_or_default();
        for (consumer, kind) in fired {
            self.signal(consumer, kind, identity.clone(), reason);
        }
    }

    /// `consumer` starts to link to / monitor `target`. Returns the event's buffered messages for
    /// an event target (empty otherwise).
    pub(crate) fn watch(
        &self,
        consumer: &Arc<ProcessEntry>,
        target: Target,
        kind: Kind,
    ) -> Result<Vec<MessageEvent>, Error> {
        let node = node_of(&target);
        if node != self.name {
            // Not connected: Ergo connects first; here the relation waits for the dial (D222).
            if !matches!(target, Target::Event(_)) && self.net.as_ref().is_some_and(|n| n.peer(node).is_none()) {
                return crate::net::spawn::watch_unconnected(self, consumer, node, target, kind).map(|()| Vec::new());
            }
            return self.watch_remote(consumer, node, target, kind).map(|()| Vec::new());
        }
        let watched = match &target {
            Target::Event(e) => return self.subscribe(consumer, e, kind),
            Target::Node(_) => return Err(Error::NotAllowed("a process cannot link to or monitor its own node")),
            Target::Pid(p) => self.resolve(&To::Pid(*p))?,
            Target::Name(id) => self.resolve(&To::Name(id.clone()))?,
            Target::Alias(a) => self.resolve(&To::Alias(*a)).map_err(|_| Error::AliasUnknown)?,
        };
        if Arc::ptr_eq(&watched, consumer) {
            return Err(Error::NotAllowed("a process cannot link to or monitor itself"));
        }
        start_watching(consumer, &target, kind)?;
        // The name or alias was resolved without the owner's lock: it may have been unregistered
        // since, and its watchers fired. Checking, under the owner's lock, that the identity is
        // still its own orders us against the removal (which takes the identity away under the
        // same lock before firing): either we are registered before, and fired with the rest,
        // or we see it gone and fail. A relation never outlives its identity.
        let registered = watched.with_rel(|r| {
            let owned = match &target {
                Target::Name(id) => r.name.as_ref() == Some(&id.name),
                Target::Alias(a) => r.aliases.contains(a),
                _ => true,
            };
            if owned {
                r.watched_by(kind).push((consumer.pid, target.clone()));
            }
            owned
        });
        if registered != Some(true) {
            // The target ended, or lost the identity, between the lookup and now: it never saw
            // us; undo our side.
            consumer.with_rel(|r| remove_first(r.watching(kind), &target));
            return Err(match target {
                Target::Alias(_) => Error::AliasUnknown,
                _ => Error::ProcessUnknown,
            });
        }
        Ok(Vec::new())
    }

    /// `consumer` stops linking to / monitoring `target`.
    pub(crate) fn unwatch(&self, consumer: &Arc<ProcessEntry>, target: Target, kind: Kind) -> Result<(), Error> {
        let had = consumer.with_rel(|r| remove_first(r.watching(kind), &target)).unwrap_or(false);
        if !had {
            return Err(Error::TargetUnknown);
        }
        self.detach(consumer.pid, target, kind);
        Ok(())
    }

    /// Removes `consumer` from the watched side of `target`.
    pub(crate) fn detach(&self, consumer: Pid, target: Target, kind: Kind) {
        if consumer.node == self.name && node_of(&target) != self.name {
            self.unwatch_remote(consumer, &target, kind);
            return;
        }
        let watched = match &target {
            Target::Event(e) => {
                self.unsubscribe(consumer, e, kind);
                return;
            }
            Target::Node(_) => return,
            Target::Pid(p) => self.table.get(p),
            Target::Name(id) => self.resolve(&To::Name(id.clone())).ok(),
            Target::Alias(a) => self.resolve(&To::Alias(*a)).ok(),
        };
        if let Some(w) = watched {
            w.with_existing_rel(|r| remove_first(r.watched_by(kind), &(consumer, target)));
        }
    }
}

/// The node a relation's target lives on.
pub(crate) fn node_of(target: &Target) -> crate::message::Atom {
    match target {
        Target::Pid(p) => p.node,
        Target::Name(id) => id.node,
        Target::Alias(a) => a.0.node,
        Target::Event(e) => e.node,
        Target::Node(n) => *n,
    }
}
