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
use crate::message::{
    Alias, Atom, Envelope, Event, EventData, EventOptions, ExitReason, Message, MessageDown, MessageEvent,
    MessageEventStart, MessageEventStop, MessageExit, Name, Payload, Pid, Priority, ProcessId, Ref, Target, To,
};
use crate::node::NodeInner;
use crate::process::call::CallSlot;
use crate::process::entry::{ProcessEntry, Relations};
use crate::runtime::worker::schedule;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Shards per registry map: a send by name or alias read-locks one shard, so senders to
/// different names touch different lock words, and registering a name blocks only the senders
/// whose names share its shard.
const REGISTRY_SHARDS: usize = 16;

/// A map split into independently locked shards by the key's hash.
struct Sharded<K, V> {
    shards: Box<[RwLock<HashMap<K, V>>]>,
}

impl<K: Hash + Eq, V> Default for Sharded<K, V> {
    fn default() -> Self {
        Sharded { shards: (0..REGISTRY_SHARDS).map(|_| RwLock::new(HashMap::new())).collect() }
    }
}

impl<K: Hash + Eq, V> Sharded<K, V> {
    /// The shard holding `key`. A key and what it borrows as (`Name` and `str`) hash alike, so
    /// a lookup by `&str` finds the shard of the `Name`.
    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &RwLock<HashMap<K, V>> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        &self.shards[(h.finish() as usize) % REGISTRY_SHARDS]
    }
    fn read<Q: Hash + ?Sized>(&self, key: &Q) -> RwLockReadGuard<'_, HashMap<K, V>> {
        self.shard(key).read().unwrap_or_else(|p| p.into_inner())
    }
    fn write<Q: Hash + ?Sized>(&self, key: &Q) -> RwLockWriteGuard<'_, HashMap<K, V>> {
        self.shard(key).write().unwrap_or_else(|p| p.into_inner())
    }
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().unwrap_or_else(|p| p.into_inner()).len()).sum()
    }
}

/// Node-wide maps from names, aliases and event names to their owners. Keyed by content
/// (`Name`): nothing is interned, so a name's memory goes when its registration does, and
/// lookups by `&str` build nothing.
#[derive(Default)]
pub(crate) struct Registry {
    names: Sharded<Name, Arc<ProcessEntry>>,
    aliases: Sharded<Alias, Arc<ProcessEntry>>,
    events: Sharded<Name, Arc<EventEntry>>,
}

impl Registry {
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        (self.names.len(), self.aliases.len(), self.events.len())
    }

    fn entry_named(&self, name: &str) -> Option<Arc<ProcessEntry>> {
        self.names.read(name).get(name).cloned()
    }

    fn event_named(&self, name: &str) -> Option<Arc<EventEntry>> {
        self.events.read(name).get(name).cloned()
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
    /// Copy-on-write: a publisher takes a pointer to the current set under the lock and fans out
    /// after releasing it. A join or leave while a fan-out holds the set copies it once (what
    /// follows changes the copy in place), so joins never wait for a fan-out (D24).
    subscribers: Arc<HashMap<Pid, Subscriber>>,
    /// Links plus monitors (a process may hold both): drives Start/Stop notifications.
    relations: usize,
}

#[derive(Clone)]
struct Subscriber {
    entry: Arc<ProcessEntry>,
    link: bool,
    monitor: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn valid_name(name: &str) -> Result<Name, Error> {
    if name.is_empty() || name.len() > 255 { Err(Error::BadName) } else { Ok(Name::new(name)) }
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
        let from = match &target {
            Target::Pid(p) => *p,
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

    /// The Pid registered under `name`, if any.
    pub(crate) fn whereis(&self, name: &str) -> Option<Pid> {
        self.registry.entry_named(name).filter(|e| e.is_alive()).map(|e| e.pid)
    }

    // ----- names -----

    pub(crate) fn register_name(&self, entry: &Arc<ProcessEntry>, name: &str) -> Result<(), Error> {
        let name = valid_name(name)?;
        let mut names = self.registry.names.write(&name);
        if names.contains_key(&name) {
            return Err(Error::Taken);
        }
        let set = entry.with_rel(|r| {
            if r.name.is_some() {
                return false;
            }
            r.name = Some(name.clone());
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

    /// Drops `entry`'s name (only if it is `expected`, when given); watchers of the name fire
    /// with `Unregistered`.
    pub(crate) fn unregister_name(&self, entry: &Arc<ProcessEntry>, expected: Option<&str>) -> Result<(), Error> {
        let name = entry
            .with_rel(|r| match (&r.name, expected) {
                (Some(n), Some(e)) if n.as_str() != e => None,
                _ => r.name.take(),
            })
            .flatten()
            .ok_or(Error::NameUnknown)?;
        self.drop_name(entry, &name);
        let id = ProcessId { name, node: self.name };
        self.fire_identity(entry, Target::Name(id), &ExitReason::Unregistered);
        Ok(())
    }

    /// Drops the registration of `name`, whichever process holds it (Ergo's
    /// `node.UnregisterName`); returns that process.
    pub(crate) fn unregister_name_of(&self, name: &str) -> Result<Pid, Error> {
        let entry = self.registry.entry_named(name).ok_or(Error::NameUnknown)?;
        self.unregister_name(&entry, Some(name))?;
        Ok(entry.pid)
    }

    fn drop_name(&self, entry: &Arc<ProcessEntry>, name: &Name) {
        let mut names = self.registry.names.write(name);
        if names.get(name).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            names.remove(name);
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
            self.signal(consumer, kind, identity.clone(), reason);
        }
    }

    // ----- aliases -----

    pub(crate) fn create_alias(&self, entry: &Arc<ProcessEntry>) -> Result<Alias, Error> {
        let alias = Alias(self.make_ref());
        let mut aliases = self.registry.aliases.write(&alias);
        entry.with_rel(|r| r.aliases.push(alias)).ok_or(Error::ProcessUnknown)?;
        aliases.insert(alias, entry.clone());
        Ok(alias)
    }

    pub(crate) fn delete_alias(&self, entry: &Arc<ProcessEntry>, alias: Alias) -> Result<(), Error> {
        {
            let mut aliases = self.registry.aliases.write(&alias);
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
        let watched = match &target {
            Target::Event(e) => return self.subscribe(consumer, e, kind),
            Target::Node(n) => {
                return Err(if *n == self.name {
                    Error::NotAllowed("a process cannot link to or monitor its own node")
                } else {
                    Error::NoConnection(*n)
                });
            }
            Target::Pid(p) => self.resolve(&To::Pid(*p))?,
            Target::Name(id) => self.resolve(&To::Name(id.clone()))?,
            Target::Alias(a) => self.resolve(&To::Alias(*a)).map_err(|_| Error::AliasUnknown)?,
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
                    list.push(target.clone());
                    true
                }
            })
            .ok_or(Error::ProcessUnknown)?;
        if !added {
            return Err(Error::TargetExist);
        }
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
    fn detach(&self, consumer: Pid, target: Target, kind: Kind) {
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
        let mut events = self.registry.events.write(&name);
        if events.contains_key(&name) {
            return Err(Error::Taken);
        }
        if let Some(p) = producer {
            p.with_rel(|r| r.events.push(name.clone())).ok_or(Error::ProcessUnknown)?;
        }
        let token = self.make_ref();
        let entry = EventEntry {
            event: Event { name: name.clone(), node: self.name },
            token,
            producer: producer.cloned(),
            notify: opts.notify,
            state: Mutex::new(EventState {
                open: true,
                buffer: VecDeque::with_capacity(opts.buffer.min(1024)),
                capacity: opts.buffer,
                subscribers: Arc::new(HashMap::new()),
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
        let event = {
            let mut events = self.registry.events.write(name);
            let e = events.get(name).ok_or(Error::EventUnknown)?;
            if !Self::producer_matches(e, producer) {
                return Err(Error::EventOwner);
            }
            events.remove(name).ok_or(Error::EventUnknown)?
        };
        if let Some(p) = producer {
            p.with_rel(|r| remove_first(&mut r.events, &event.event.name));
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
        // A fan-out may still hold the set: then iterate the shared copy.
        let subscribers = Arc::try_unwrap(subscribers).unwrap_or_else(|shared| (*shared).clone());
        let target = Target::Event(event.event.clone());
        for (pid, sub) in subscribers {
            if sub.link {
                self.signal(pid, Kind::Link, target.clone(), reason);
            }
            if sub.monitor {
                self.signal(pid, Kind::Monitor, target.clone(), reason);
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
        let event = self.registry.event_named(name).ok_or(Error::EventUnknown)?;
        if event.token != token {
            return Err(Error::EventOwner);
        }
        let published =
            MessageEvent(Arc::new(EventData { event: event.event.clone(), timestamp: now_nanos(), message }));
        // Buffering the message and taking the subscriber set happen in one critical section, and
        // a join takes the buffer and adds itself in one too: a subscriber joining concurrently
        // either comes before (it is in the set, and the buffer it got lacks this message) or
        // after (the buffer it got has the message, and the set we deliver to lacks it): never
        // both, never neither. The delivery itself runs without the lock, so a fan-out to a
        // hundred thousand subscribers blocks no other publisher or subscriber.
        let subscribers = {
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
            state.subscribers.clone()
        };
        for sub in subscribers.values() {
            let envelope = Envelope { from, payload: Payload::Event(published.clone()) };
            self.push_signal(&sub.entry, priority, envelope);
            #[cfg(test)]
            tests::fanout_hook();
        }
        Ok(())
    }

    fn subscribe(&self, consumer: &Arc<ProcessEntry>, e: &Event, kind: Kind) -> Result<Vec<MessageEvent>, Error> {
        self.check_local(e.node)?;
        let event = self.registry.event_named(&e.name).ok_or(Error::EventUnknown)?;
        let target = Target::Event(e.clone());
        let mut state = lock(&event.state);
        if !state.open {
            return Err(Error::EventUnknown);
        }
        let sub = Arc::make_mut(&mut state.subscribers).entry(consumer.pid).or_insert_with(|| Subscriber {
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
                Arc::make_mut(&mut state.subscribers).remove(&consumer.pid);
            }
            return Err(Error::ProcessUnknown);
        }
        *flag = true;
        state.relations += 1;
        if state.relations == 1 && event.notify {
            self.notify_producer(&event, Message::new(MessageEventStart { event: e.clone() }));
        }
        Ok(state.buffer.iter().cloned().collect())
    }

    fn unsubscribe(&self, consumer: Pid, e: &Event, kind: Kind) {
        let Some(event) = self.registry.event_named(&e.name) else { return };
        let mut state = lock(&event.state);
        if !state.subscribers.contains_key(&consumer) {
            return;
        }
        let Some(sub) = Arc::make_mut(&mut state.subscribers).get_mut(&consumer) else { return };
        let flag = match kind {
            Kind::Link => &mut sub.link,
            Kind::Monitor => &mut sub.monitor,
        };
        if !*flag {
            return;
        }
        *flag = false;
        if !sub.link && !sub.monitor {
            Arc::make_mut(&mut state.subscribers).remove(&consumer);
        }
        state.relations -= 1;
        if state.relations == 0 && event.notify {
            self.notify_producer(&event, Message::new(MessageEventStop { event: e.clone() }));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        /// Runs (once) on the publishing thread after the first subscriber of a fan-out got its
        /// message: lets a test act while a fan-out is in progress, without timing.
        static FANOUT_HOOK: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
    }

    pub(super) fn fanout_hook() {
        if let Some(f) = FANOUT_HOOK.with(|h| h.borrow_mut().take()) {
            f();
        }
    }

    struct Idle;
    impl crate::Actor for Idle {}

    #[test]
    fn a_subscriber_joins_while_a_fan_out_is_in_progress() {
        let node = crate::Node::start("fanout@h", crate::NodeOptions::default().workers(1).pin_workers(false))
            .expect("node starts");
        let inner = node.inner.clone();
        let token = node.register_event("wide", EventOptions { notify: false, buffer: 4 }).unwrap();
        let event = node.event("wide");
        let entry_of = |pid| inner.table.get(&pid).expect("live");
        for _ in 0..1000 {
            let pid = node.spawn(Idle, Default::default()).unwrap();
            inner.watch(&entry_of(pid), Target::Event(event.clone()), Kind::Monitor).unwrap();
        }
        let joiner = entry_of(node.spawn(Idle, Default::default()).unwrap());
        let joined = Arc::new(Mutex::new(None));
        {
            let (inner, event, joined, joiner) = (inner.clone(), event.clone(), joined.clone(), joiner.clone());
            FANOUT_HOOK.with(|h| {
                *h.borrow_mut() = Some(Box::new(move || {
                    let entry = inner.registry.event_named(&event.name).expect("registered");
                    // A join must not wait for the fan-out: the event's lock is free now.
                    let free = entry.state.try_lock().is_ok();
                    let buffered = free.then(|| inner.watch(&joiner, Target::Event(event), Kind::Monitor));
                    *lock(&joined) = Some((free, buffered));
                }))
            });
        }
        node.send_event("wide", token, 7u32).unwrap();
        let (free, buffered) = lock(&joined).take().expect("the hook ran during the fan-out");
        assert!(free, "the event's lock is held for the whole fan-out");
        // Joined mid-publish, after the message was buffered: it is handed over from the buffer
        // (and, the fan-out's subscriber list being the one from before the join, not delivered).
        let buffered = buffered.expect("joined").expect("the join succeeds");
        assert_eq!(buffered.iter().filter_map(|m| m.message::<u32>()).collect::<Vec<_>>(), vec![&7]);
        node.stop();
    }
}
