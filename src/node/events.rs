//! Events (Ergo's `gen.Event`): registering, publishing with a buffer, subscribing by link or
//! monitor, and the producer's start/stop notifications.
//!
//! Owns: each event's subscriber set and buffer. Never: delivers while holding an event's lock
//! (a fan-out works on a copy-on-write snapshot of the subscribers, D24).

use super::NodeInner;
use super::names::valid_name;
use super::watch::{Kind, remove_first};
use crate::error::Error;
use crate::message::{Atom, Name};
use crate::message::{
    Envelope, Event, EventData, EventOptions, ExitReason, Message, MessageEvent, MessageEventStart, MessageEventStop,
    Payload, Pid, Priority, Ref, Target,
};
use crate::process::entry::ProcessEntry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

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
    /// Consumers on other nodes (D215): link and monitor flags by Pid.
    remote: HashMap<Pid, (bool, bool)>,
    /// How many of `remote` live on each node: a publish sends one frame per node, which
    /// fans it out to its own consumers (as Go does).
    nodes: HashMap<Atom, usize>,
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

fn now_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

impl NodeInner {
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
                remote: HashMap::new(),
                nodes: HashMap::new(),
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
    pub(super) fn close_event(&self, event: &EventEntry, reason: &ExitReason) {
        let (subscribers, nodes) = {
            let mut state = lock(&event.state);
            state.open = false;
            state.relations = 0;
            state.buffer.clear();
            state.remote.clear();
            (std::mem::take(&mut state.subscribers), std::mem::take(&mut state.nodes))
        };
        // A fan-out may still hold the set: then iterate the shared copy.
        let subscribers = Arc::try_unwrap(subscribers).unwrap_or_else(|shared| (*shared).clone());
        let target = Target::Event(event.event.clone());
        // One Terminate per consuming node, which fans it out to its consumers.
        for node in nodes.into_keys() {
            self.terminate_remote(node, &target, reason);
        }
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
        let (subscribers, nodes) = {
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
            // Without remote consumers this allocates nothing.
            let nodes: Vec<Atom> = state.nodes.keys().copied().collect();
            (state.subscribers.clone(), nodes)
        };
        if !nodes.is_empty() {
            self.publish_remote(&nodes, from, priority, &published);
        }
        for sub in subscribers.values() {
            let envelope = Envelope { from, payload: Payload::Event(published.clone()) };
            self.push_signal(&sub.entry, priority, envelope);
            #[cfg(test)]
            tests::fanout_hook();
        }
        Ok(())
    }

    pub(super) fn subscribe(
        &self,
        consumer: &Arc<ProcessEntry>,
        e: &Event,
        kind: Kind,
    ) -> Result<Vec<MessageEvent>, Error> {
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

    pub(super) fn unsubscribe(&self, consumer: Pid, e: &Event, kind: Kind) {
        let Some(event) = self.registry.event_named(&e.name) else { return };
        let mut state = lock(&event.state);
        if consumer.node != self.name {
            let Some(flags) = state.remote.get_mut(&consumer) else { return };
            let flag = match kind {
                Kind::Link => &mut flags.0,
                Kind::Monitor => &mut flags.1,
            };
            if !std::mem::take(flag) {
                return;
            }
            if !flags.0 && !flags.1 {
                state.remote.remove(&consumer);
                forget_node(&mut state.nodes, consumer.node, 1);
            }
            state.relations -= 1;
            if state.relations == 0 && event.notify {
                self.notify_producer(&event, Message::new(MessageEventStop { event: e.clone() }));
            }
            return;
        }
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

    /// A process of another node starts to link to / monitor our event `name` (D215). On
    /// success `answer` runs with the buffered messages while the event is still locked, so
    /// that the answer is queued before any message published after this subscription.
    ///
    /// # Errors
    /// `EventUnknown` for no such open event; `TargetExist` if it watches it so already.
    pub(crate) fn subscribe_remote(
        &self,
        consumer: Pid,
        name: &str,
        kind: Kind,
        answer: impl FnOnce(Pid, &VecDeque<MessageEvent>),
    ) -> Result<(), Error> {
        let event = self.registry.event_named(name).ok_or(Error::EventUnknown)?;
        let mut state = lock(&event.state);
        if !state.open {
            return Err(Error::EventUnknown);
        }
        let fresh = !state.remote.contains_key(&consumer);
        let flags = state.remote.entry(consumer).or_insert((false, false));
        let flag = match kind {
            Kind::Link => &mut flags.0,
            Kind::Monitor => &mut flags.1,
        };
        if std::mem::replace(flag, true) {
            return Err(Error::TargetExist);
        }
        if fresh {
            *state.nodes.entry(consumer.node).or_default() += 1;
        }
        state.relations += 1;
        if state.relations == 1 && event.notify {
            self.notify_producer(&event, Message::new(MessageEventStart { event: event.event.clone() }));
        }
        let producer = event.producer.as_ref().map_or(self.core_pid(), |p| p.pid);
        answer(producer, &state.buffer);
        Ok(())
    }

    /// Forgets the consumers of `node` (its connection is gone) in the events `names`.
    pub(crate) fn drop_remote_consumers(&self, node: Atom, names: &[Name]) {
        for name in names {
            let Some(event) = self.registry.event_named(name) else { continue };
            let mut state = lock(&event.state);
            let mut relations = 0;
            state.remote.retain(|pid, (link, monitor)| {
                if pid.node == node {
                    relations += usize::from(*link) + usize::from(*monitor);
                    false
                } else {
                    true
                }
            });
            state.nodes.remove(&node);
            if relations == 0 {
                continue;
            }
            state.relations -= relations;
            if state.relations == 0 && event.notify {
                let e = event.event.clone();
                self.notify_producer(&event, Message::new(MessageEventStop { event: e }));
            }
        }
    }

    fn notify_producer(&self, event: &EventEntry, msg: Message) {
        if let Some(p) = &event.producer {
            let envelope = Envelope { from: self.core_pid(), payload: Payload::Message(msg) };
            self.push_signal(p, Priority::System, envelope);
        }
    }
}

/// One consumer of `node` less; the node is forgotten with its last.
fn forget_node(nodes: &mut HashMap<Atom, usize>, node: Atom, n: usize) {
    if let Some(count) = nodes.get_mut(&node) {
        *count = count.saturating_sub(n);
        if *count == 0 {
            nodes.remove(&node);
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
