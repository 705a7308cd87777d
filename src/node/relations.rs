//! Names, aliases, events, links and monitors: the registry and the rules that keep them
//! consistent as processes come and go.
//!
//! A relation is stored on both sides: the consumer lists what it watches (`links`, `monitors`),
//! and the watched process lists who watches it (`linked_by`, `monitored_by`); event subscribers
//! live in the event. Both sides are updated under the owning process's relations lock, and a
//! process's relations are taken out exactly once when it ends (`take_rel` after `mark_dead`), so
//! every watcher registered before that gets exactly one exit or down, and nothing can be added
//! after it (`ProcessEntry::with_rel`).

use crate::error::Error;
use crate::message::{Envelope, ExitReason, Message, Payload, Priority};
use crate::node::NodeInner;
use crate::process::call::CallSlot;
use crate::process::entry::{ProcessEntry, Relations};
use crate::process::pid::{Atom, Pid, Ref};
use crate::process::target::{
    Alias, Event, EventData, EventOptions, MessageDown, MessageEvent, MessageEventStart, MessageEventStop, MessageExit,
    ProcessId, Target, To,
};
use crate::runtime::worker::schedule;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

/// Node-wide maps from names, aliases and event names to their owners.
#[derive(Default)]
pub(crate) struct Registry {
    names: RwLock<HashMap<Atom, Arc<ProcessEntry>>>,
    aliases: RwLock<HashMap<Alias, Arc<ProcessEntry>>>,
    events: Mutex<HashMap<Atom, Arc<EventEntry>>>,
}

impl Registry {
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        (
            self.names.read().unwrap_or_else(|p| p.into_inner()).len(),
            self.aliases.read().unwrap_or_else(|p| p.into_inner()).len(),
            self.events.lock().unwrap_or_else(|p| p.into_inner()).len(),
        )
    }
}

pub(crate) struct EventEntry {
    event: Event,
    token: Ref,
    /// The producing process; `None` for an event the node itself registered.
    producer: Option<Arc<ProcessEntry>>,
    notify: bool,
    state: Mutex<EventState>,
}

struct EventState {
    open: bool,
    buffer: VecDeque<MessageEvent>,
    capacity: usize,
    subscribers: HashMap<Pid, Subscriber>,
    /// Links plus monitors (a process may hold both): drives Start/Stop notifications.
    relations: usize,
}

struct Subscriber {
    entry: Arc<ProcessEntry>,
    link: bool,
    monitor: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn valid_name(name: &str) -> Result<Atom, Error> {
    if name.is_empty() || name.len() > 255 { Err(Error::BadName) } else { Ok(Atom::new(name)) }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Which list of a process a relation lives in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Link,
    Monitor,
}

impl Relations {
    fn watching(&mut self, kind: Kind) -> &mut Vec<Target> {
        match kind {
            Kind::Link => &mut self.links,
            Kind::Monitor => &mut self.monitors,
        }
    }
    fn watched_by(&mut self, kind: Kind) -> &mut Vec<(Pid, Target)> {
        match kind {
            Kind::Link => &mut self.linked_by,
            Kind::Monitor => &mut self.monitored_by,
        }
    }
}

fn remove_first<T: PartialEq>(v: &mut Vec<T>, x: &T) -> bool {
    match v.iter().position(|y| y == x) {
        Some(i) => {
            v.swap_remove(i);
            true
        }
        None => false,
    }
}

impl NodeInner {
    // ----- delivery of relation signals -----

    /// Queues a signal ignoring mailbox capacity: exits, downs and notifications are never
    /// dropped because a mailbox is full.
    pub(crate) fn push_signal(&self, to: &Arc<ProcessEntry>, priority: Priority, envelope: Envelope) {
        if to.is_alive() {
            self.push_forced(to, priority, envelope);
        }
    }

    fn signal(&self, consumer: Pid, kind: Kind, target: Target, reason: &ExitReason) {
        let Some(entry) = self.table.get(&consumer) else { return };
        // The relation has fired: the consumer no longer holds it.
        entry.with_existing_rel(|r| remove_first(r.watching(kind), &target));
        let from = match target {
            Target::Pid(p) => p,
            _ => self.core_pid(),
        };
        let reason = reason.clone();
        let (priority, payload) = match kind {
            Kind::Link => (Priority::Urgent, Payload::Exit(Box::new(MessageExit { target, reason }))),
            Kind::Monitor => (Priority::System, Payload::Message(Message::new(MessageDown { target, reason }))),
        };
        self.push_signal(&entry, priority, Envelope { from, payload });
    }

    // ----- resolution -----

    fn check_local(&self, node: Atom) -> Result<(), Error> {
        if node == self.name { Ok(()) } else { Err(Error::NoConnection(node)) }
    }

    /// The live process a destination names.
    pub(crate) fn resolve(&self, to: &To) -> Result<Arc<ProcessEntry>, Error> {
        let found = match to {
            To::Pid(p) => self.table.get(p),
            To::Name(id) => {
                self.check_local(id.node)?;
                self.registry.names.read().unwrap_or_else(|p| p.into_inner()).get(&id.name).cloned()
            }
            To::Local(name) => self.registry.names.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned(),
            To::Alias(a) => self.registry.aliases.read().unwrap_or_else(|p| p.into_inner()).get(a).cloned(),
        };
        found.filter(|e| e.is_alive()).ok_or(Error::ProcessUnknown)
    }

    /// The Pid registered under `name`, if any.
    pub(crate) fn whereis(&self, name: Atom) -> Option<Pid> {
        self.registry.names.read().unwrap_or_else(|p| p.into_inner()).get(&name).filter(|e| e.is_alive()).map(|e| e.pid)
    }

    // ----- names -----

    pub(crate) fn register_name(&self, entry: &Arc<ProcessEntry>, name: &str) -> Result<(), Error> {
        let name = valid_name(name)?;
        let mut names = self.registry.names.write().unwrap_or_else(|p| p.into_inner());
        if names.contains_key(&name) {
            return Err(Error::Taken);
        }
        let set = entry.with_rel(|r| {
            if r.name.is_some() {
                return false;
            }
            r.name = Some(name);
            true
        });
        match set {
            None => Err(Error::ProcessUnknown),
            Some(false) => Err(Error::Taken),
            Some(true) => {
                names.insert(name, entry.clone());
                Ok(())
            }
        }
    }

    pub(crate) fn unregister_name(&self, entry: &Arc<ProcessEntry>) -> Result<(), Error> {
        let name = entry.with_rel(|r| r.name.take()).flatten().ok_or(Error::NameUnknown)?;
        self.drop_name(entry, name);
        let id = ProcessId { name, node: self.name };
        self.fire_identity(entry, Target::Name(id), &ExitReason::Unregistered);
        Ok(())
    }

    fn drop_name(&self, entry: &Arc<ProcessEntry>, name: Atom) {
        let mut names = self.registry.names.write().unwrap_or_else(|p| p.into_inner());
        if names.get(&name).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            names.remove(&name);
        }
    }

    /// Fires every link and monitor on one identity of a live process (a name or an alias that
    /// goes away while the process lives on).
    fn fire_identity(&self, entry: &Arc<ProcessEntry>, identity: Target, reason: &ExitReason) {
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
            self.signal(consumer, kind, identity, reason);
        }
    }

    // ----- aliases -----

    pub(crate) fn create_alias(&self, entry: &Arc<ProcessEntry>) -> Result<Alias, Error> {
        let alias = Alias(self.make_ref());
        let mut aliases = self.registry.aliases.write().unwrap_or_else(|p| p.into_inner());
        entry.with_rel(|r| r.aliases.push(alias)).ok_or(Error::ProcessUnknown)?;
        aliases.insert(alias, entry.clone());
        Ok(alias)
    }

    pub(crate) fn delete_alias(&self, entry: &Arc<ProcessEntry>, alias: Alias) -> Result<(), Error> {
        {
            let mut aliases = self.registry.aliases.write().unwrap_or_else(|p| p.into_inner());
            match aliases.get(&alias) {
                None => return Err(Error::AliasUnknown),
                Some(owner) if !Arc::ptr_eq(owner, entry) => return Err(Error::AliasOwner),
                Some(_) => {
                    aliases.remove(&alias);
                }
            }
        }
        entry.with_rel(|r| remove_first(&mut r.aliases, &alias));
        self.fire_identity(entry, Target::Alias(alias), &ExitReason::Unregistered);
        Ok(())
    }

    // ----- links and monitors -----

    /// `consumer` starts to link to / monitor `target`. Returns the event's buffered messages for
    /// an event target (empty otherwise).
    pub(crate) fn watch(
        &self,
        consumer: &Arc<ProcessEntry>,
        target: Target,
        kind: Kind,
    ) -> Result<Vec<MessageEvent>, Error> {
        let watched = match target {
            Target::Event(e) => return self.subscribe(consumer, e, kind),
            Target::Node(n) => {
                return Err(if n == self.name {
                    Error::NotAllowed("a process cannot link to or monitor its own node")
                } else {
                    Error::NoConnection(n)
                });
            }
            Target::Pid(p) => self.resolve(&To::Pid(p))?,
            Target::Name(id) => self.resolve(&To::Name(id))?,
            Target::Alias(a) => self.resolve(&To::Alias(a)).map_err(|_| Error::AliasUnknown)?,
        };
        if Arc::ptr_eq(&watched, consumer) {
            return Err(Error::NotAllowed("a process cannot link to or monitor itself"));
        }
        let added = consumer
            .with_rel(|r| {
                let list = r.watching(kind);
                if list.contains(&target) {
                    false
                } else {
                    list.push(target);
                    true
                }
            })
            .ok_or(Error::ProcessUnknown)?;
        if !added {
            return Err(Error::TargetExist);
        }
        if watched.with_rel(|r| r.watched_by(kind).push((consumer.pid, target))).is_none() {
            // The target ended between the lookup and now: it never saw us; undo our side.
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
    fn detach(&self, consumer: Pid, target: Target, kind: Kind) {
        let watched = match target {
            Target::Event(e) => {
                self.unsubscribe(consumer, e, kind);
                return;
            }
            Target::Node(_) => return,
            Target::Pid(p) => self.table.get(&p),
            Target::Name(id) => self.resolve(&To::Name(id)).ok(),
            Target::Alias(a) => self.resolve(&To::Alias(a)).ok(),
        };
        if let Some(w) = watched {
            w.with_existing_rel(|r| remove_first(r.watched_by(kind), &(consumer, target)));
        }
    }

    // ----- exits -----

    /// An exit signal from `from` to `to` (Ergo's `SendExit`): trappable by the receiver,
    /// unless it comes from the receiver's parent.
    pub(crate) fn send_exit(&self, from: Pid, to: &Pid, reason: ExitReason) -> Result<(), Error> {
        let entry = self.resolve(&To::Pid(*to))?;
        let payload = Payload::Exit(Box::new(MessageExit { target: Target::Pid(from), reason }));
        self.push_forced(&entry, Priority::Urgent, Envelope { from, payload });
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
        // Queued first: the callback resumes with the failed call and the kill is next.
        entry.fail_pending_call(Error::Terminated);
        Ok(())
    }

    // ----- events -----

    pub(crate) fn register_event(
        &self,
        producer: Option<&Arc<ProcessEntry>>,
        name: &str,
        opts: EventOptions,
    ) -> Result<Ref, Error> {
        let name = valid_name(name)?;
        let mut events = lock(&self.registry.events);
        if events.contains_key(&name) {
            return Err(Error::Taken);
        }
        if let Some(p) = producer {
            p.with_rel(|r| r.events.push(name)).ok_or(Error::ProcessUnknown)?;
        }
        let token = self.make_ref();
        let entry = EventEntry {
            event: Event { name, node: self.name },
            token,
            producer: producer.cloned(),
            notify: opts.notify,
            state: Mutex::new(EventState {
                open: true,
                buffer: VecDeque::with_capacity(opts.buffer.min(1024)),
                capacity: opts.buffer,
                subscribers: HashMap::new(),
                relations: 0,
            }),
        };
        events.insert(name, Arc::new(entry));
        Ok(token)
    }

    fn producer_matches(event: &EventEntry, producer: Option<&Arc<ProcessEntry>>) -> bool {
        match (&event.producer, producer) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    pub(crate) fn unregister_event(&self, producer: Option<&Arc<ProcessEntry>>, name: &str) -> Result<(), Error> {
        let name = Atom::new(name);
        let event = {
            let mut events = lock(&self.registry.events);
            let e = events.get(&name).ok_or(Error::EventUnknown)?;
            if !Self::producer_matches(e, producer) {
                return Err(Error::EventOwner);
            }
            events.remove(&name).ok_or(Error::EventUnknown)?
        };
        if let Some(p) = producer {
            p.with_rel(|r| remove_first(&mut r.events, &name));
        }
        self.close_event(&event, &ExitReason::Unregistered);
        Ok(())
    }

    /// Ends an event: every subscriber gets an exit (link) or down (monitor) with `reason`.
    fn close_event(&self, event: &EventEntry, reason: &ExitReason) {
        let subscribers = {
            let mut state = lock(&event.state);
            state.open = false;
            state.relations = 0;
            state.buffer.clear();
            std::mem::take(&mut state.subscribers)
        };
        let target = Target::Event(event.event);
        for (pid, sub) in subscribers {
            if sub.link {
                self.signal(pid, Kind::Link, target, reason);
            }
            if sub.monitor {
                self.signal(pid, Kind::Monitor, target, reason);
            }
        }
    }

    pub(crate) fn send_event(
        &self,
        from: Pid,
        priority: Priority,
        name: &str,
        token: Ref,
        message: Box<dyn std::any::Any + Send + Sync>,
    ) -> Result<(), Error> {
        let name = Atom::new(name);
        let event = lock(&self.registry.events).get(&name).cloned().ok_or(Error::EventUnknown)?;
        if event.token != token {
            return Err(Error::EventOwner);
        }
        let published = MessageEvent(Arc::new(EventData { event: event.event, timestamp: now_nanos(), message }));
        let mut state = lock(&event.state);
        if !state.open {
            return Err(Error::EventUnknown);
        }
        if state.capacity > 0 {
            if state.buffer.len() == state.capacity {
                state.buffer.pop_front();
            }
            state.buffer.push_back(published.clone());
        }
        // Delivered under the event's lock so that a subscriber joining now gets this message
        // either from the buffer or in its mailbox, never both and never neither.
        for sub in state.subscribers.values() {
            let envelope = Envelope { from, payload: Payload::Event(published.clone()) };
            self.push_signal(&sub.entry, priority, envelope);
        }
        Ok(())
    }

    fn subscribe(&self, consumer: &Arc<ProcessEntry>, e: Event, kind: Kind) -> Result<Vec<MessageEvent>, Error> {
        self.check_local(e.node)?;
        let event = lock(&self.registry.events).get(&e.name).cloned().ok_or(Error::EventUnknown)?;
        let target = Target::Event(e);
        let mut state = lock(&event.state);
        if !state.open {
            return Err(Error::EventUnknown);
        }
        let sub = state.subscribers.entry(consumer.pid).or_insert_with(|| Subscriber {
            entry: consumer.clone(),
            link: false,
            monitor: false,
        });
        let flag = match kind {
            Kind::Link => &mut sub.link,
            Kind::Monitor => &mut sub.monitor,
        };
        if *flag {
            return Err(Error::TargetExist);
        }
        if consumer.with_rel(|r| r.watching(kind).push(target)).is_none() {
            if !sub.link && !sub.monitor {
                state.subscribers.remove(&consumer.pid);
            }
            return Err(Error::ProcessUnknown);
        }
        *flag = true;
        state.relations += 1;
        if state.relations == 1 && event.notify {
            self.notify_producer(&event, Message::new(MessageEventStart { event: e }));
        }
        Ok(state.buffer.iter().cloned().collect())
    }

    fn unsubscribe(&self, consumer: Pid, e: Event, kind: Kind) {
        let Some(event) = lock(&self.registry.events).get(&e.name).cloned() else { return };
        let mut state = lock(&event.state);
        let Some(sub) = state.subscribers.get_mut(&consumer) else { return };
        let flag = match kind {
            Kind::Link => &mut sub.link,
            Kind::Monitor => &mut sub.monitor,
        };
        if !*flag {
            return;
        }
        *flag = false;
        if !sub.link && !sub.monitor {
            state.subscribers.remove(&consumer);
        }
        state.relations -= 1;
        if state.relations == 0 && event.notify {
            self.notify_producer(&event, Message::new(MessageEventStop { event: e }));
        }
    }

    fn notify_producer(&self, event: &EventEntry, msg: Message) {
        if let Some(p) = &event.producer {
            let envelope = Envelope { from: self.core_pid(), payload: Payload::Message(msg) };
            self.push_signal(p, Priority::System, envelope);
        }
    }

    // ----- the end of a process -----

    /// Releases a dead process's relations: its name, aliases and events go; its watchers get
    /// their exit/down (exactly once: the relations are taken out once); it stops watching.
    pub(crate) fn release_relations(&self, entry: &Arc<ProcessEntry>, reason: &ExitReason) {
        let Some(rel) = entry.take_rel() else { return };
        if let Some(name) = rel.name {
            self.drop_name(entry, name);
        }
        if !rel.aliases.is_empty() {
            let mut aliases = self.registry.aliases.write().unwrap_or_else(|p| p.into_inner());
            for a in &rel.aliases {
                aliases.remove(a);
            }
        }
        for name in &rel.events {
            let event = lock(&self.registry.events).remove(name);
            if let Some(event) = event {
                self.close_event(&event, reason);
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
