//! What processes address and watch: [`ProcessId`] (a registered name), [`Alias`], [`Event`],
//! the [`Target`] of a link or monitor, the destination of a send ([`To`]), and the messages that
//! relations produce ([`MessageExit`], [`MessageDown`], [`MessageEvent`], event start/stop).

use super::ExitReason;
use super::pid::{Atom, Name, Pid, Ref};
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// A registered process name on a node (Ergo's `gen.ProcessID`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ProcessId {
    /// The registered name.
    pub name: Name,
    /// The node it is registered on.
    pub node: Atom,
}

/// An alternative address of a process, made by `Context::create_alias` (Ergo's `gen.Alias`).
/// A process may hold many; each ends when deleted or when its process ends.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Alias(pub Ref);

/// A named event on a node that processes subscribe to by linking or monitoring it (Ergo's
/// `gen.Event`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Event {
    /// The event's name, unique per node.
    pub name: Name,
    /// The node it is registered on.
    pub node: Atom,
}

/// What a link or monitor watches.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Target {
    /// A process by Pid: fires when it ends.
    Pid(Pid),
    /// A registered name: fires when the process ends or unregisters the name.
    Name(ProcessId),
    /// An alias: fires when the alias is deleted or its process ends.
    Alias(Alias),
    /// An event: fires when its producer unregisters it or ends.
    Event(Event),
    /// A node: fires when the connection to it is lost (meaningful with networking).
    Node(Atom),
}

impl From<Pid> for Target {
    fn from(p: Pid) -> Target {
        Target::Pid(p)
    }
}
impl From<ProcessId> for Target {
    fn from(p: ProcessId) -> Target {
        Target::Name(p)
    }
}
impl From<Alias> for Target {
    fn from(a: Alias) -> Target {
        Target::Alias(a)
    }
}
impl From<Event> for Target {
    fn from(e: Event) -> Target {
        Target::Event(e)
    }
}
impl From<&Event> for Event {
    fn from(e: &Event) -> Event {
        e.clone()
    }
}
impl From<&ProcessId> for Target {
    fn from(p: &ProcessId) -> Target {
        Target::Name(p.clone())
    }
}
impl From<&Event> for Target {
    fn from(e: &Event) -> Target {
        Target::Event(e.clone())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Pid(p) => write!(f, "{p}"),
            Target::Name(p) => write!(f, "{}@{}", p.name, p.node),
            Target::Alias(a) => write!(f, "alias {:?}", a.0),
            Target::Event(e) => write!(f, "event {} on {}", e.name, e.node),
            Target::Node(n) => write!(f, "node {n}"),
        }
    }
}

/// Where a message goes: a Pid, a registered name, or an alias. A [`Name`], `&str` or `String`
/// means a name on the local node (a short one is converted without allocating).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum To {
    /// A process by Pid.
    Pid(Pid),
    /// A registered name.
    Name(ProcessId),
    /// An alias.
    Alias(Alias),
    /// A name on the local node (resolved with the sender's node).
    Local(Name),
}

impl fmt::Display for To {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            To::Pid(p) => write!(f, "{p}"),
            To::Name(p) => write!(f, "{}@{}", p.name, p.node),
            To::Alias(a) => write!(f, "alias {:?}", a.0),
            To::Local(n) => write!(f, "{n}"),
        }
    }
}

impl From<Pid> for To {
    fn from(p: Pid) -> To {
        To::Pid(p)
    }
}
impl From<ProcessId> for To {
    fn from(p: ProcessId) -> To {
        To::Name(p)
    }
}
impl From<Alias> for To {
    fn from(a: Alias) -> To {
        To::Alias(a)
    }
}
impl From<Name> for To {
    fn from(n: Name) -> To {
        To::Local(n)
    }
}
impl From<&Name> for To {
    fn from(n: &Name) -> To {
        To::Local(n.clone())
    }
}
impl From<&str> for To {
    fn from(s: &str) -> To {
        To::Local(Name::new(s))
    }
}
impl From<String> for To {
    fn from(s: String) -> To {
        To::Local(Name::from(s))
    }
}
impl From<&ProcessId> for To {
    fn from(p: &ProcessId) -> To {
        To::Name(p.clone())
    }
}
impl From<&Pid> for To {
    fn from(p: &Pid) -> To {
        To::Pid(*p)
    }
}

/// A linked target ended (Ergo's `MessageExit*`). Arrives in the Urgent queue. Unless the process
/// traps exits, it is not delivered: the process terminates with `reason`. Trapping, it arrives
/// in `handle_message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageExit {
    /// What ended (for `send_exit`: the sender's Pid).
    pub target: Target,
    /// Why.
    pub reason: ExitReason,
}

/// A message that a process's full mailbox refused, handed to its fallback process instead
/// (`SpawnOptions::fallback`; Ergo's `gen.MessageFallback`). Arrives in the fallback process's
/// `handle_message`, from the original sender.
#[derive(Debug)]
pub struct MessageFallback {
    /// The process whose mailbox was full.
    pub pid: Pid,
    /// The tag given with `SpawnOptions::fallback`, to tell sources apart.
    pub tag: String,
    /// The refused message.
    pub message: super::Message,
}

/// A monitored target ended (Ergo's `MessageDown*`). Arrives in the System queue, in
/// `handle_message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageDown {
    /// What ended.
    pub target: Target,
    /// Why.
    pub reason: ExitReason,
}

/// Sent to an event's producer (System queue, `handle_message`) when the event registered with
/// `notify` gets its first subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageEventStart {
    /// The event.
    pub event: Event,
}

/// Sent to an event's producer when the last subscriber of a `notify` event leaves (unlinks,
/// demonitors, or ends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageEventStop {
    /// The event.
    pub event: Event,
}

/// How an event behaves.
#[derive(Clone, Copy, Debug, Default)]
pub struct EventOptions {
    /// Tell the producer when the first subscriber arrives and the last leaves.
    pub notify: bool,
    /// Keep the last `buffer` published messages and hand them to each new subscriber.
    pub buffer: usize,
}

pub(crate) struct EventData {
    pub(crate) event: Event,
    pub(crate) timestamp: u64,
    pub(crate) message: Box<dyn Any + Send + Sync>,
}

/// One published event message, as each subscriber receives it (in `Actor::handle_event`). All
/// subscribers share one copy of the payload: publishing to a hundred thousand subscribers does
/// not copy it.
#[derive(Clone)]
pub struct MessageEvent(pub(crate) Arc<EventData>);

impl MessageEvent {
    /// The event it was published on.
    pub fn event(&self) -> &Event {
        &self.0.event
    }
    /// When it was published (nanoseconds since the Unix epoch).
    pub fn timestamp(&self) -> u64 {
        self.0.timestamp
    }
    /// The payload, if it is a `T`.
    pub fn message<T: Any>(&self) -> Option<&T> {
        self.0.message.downcast_ref::<T>()
    }
}

impl fmt::Debug for MessageEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageEvent").field("event", &self.0.event).field("timestamp", &self.0.timestamp).finish()
    }
}
