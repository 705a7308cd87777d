//! Messages and the plain data they carry: identifiers (`pid.rs`), addresses and the runtime's
//! own messages (`target.rs`, `log.rs`), exit reasons and priorities (here).
//!
//! A local message is moved from sender to receiver as a `Box<dyn Any + Send>`: never serialized,
//! never copied. The receiver downcasts it to the type it expects.
//!
//! The bottom layer with `sys` (docs/decisions.md D60): it imports nothing of ours but `sync`;
//! every other module may import it.

mod log;
mod pid;
mod target;
mod value;

pub use log::{LogSource, MessageLog};
pub use pid::{Atom, AtomTableFull, From, MAX_ATOMS, Name, Pid, Ref};
pub(crate) use target::EventData;
pub use target::{
    Alias, Event, EventOptions, MessageDown, MessageEvent, MessageEventStart, MessageEventStop, MessageExit,
    MessageFallback, ProcessId, Target, To,
};
pub use value::Message;

use std::fmt;
use std::sync::Arc;

/// Why a process ended (Ergo's termination reasons). Non-exhaustive: the network will add
/// reasons, so a `match` needs a catch-all arm.
///
/// Links and monitors report the bare reason. A process ended by an exit signal (a link firing,
/// `send_exit`) learns in its own `terminate` who sent it too: [`ExitReason::Exit`], as Ergo
/// wraps the reason with the sender there; [`ExitReason::bare`] unwraps it.
///
/// # Examples
/// ```
/// use ergors::ExitReason;
///
/// #[derive(Debug, PartialEq)]
/// struct DiskFull(u32);
/// impl std::fmt::Display for DiskFull {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "disk {} is full", self.0)
///     }
/// }
/// impl std::error::Error for DiskFull {}
///
/// let reason = ExitReason::custom(DiskFull(3));
/// assert_eq!(reason.downcast_ref::<DiskFull>(), Some(&DiskFull(3)));
/// assert_eq!(reason.to_string(), "disk 3 is full");
/// assert_eq!(reason, ExitReason::custom(DiskFull(3)), "same type, same text");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitReason {
    /// Finished its work (Ergo `TerminateReasonNormal`).
    Normal,
    /// Asked to stop by its node or supervisor (Ergo `TerminateReasonShutdown`).
    Shutdown,
    /// Killed; cannot be trapped (Ergo `TerminateReasonKill`).
    Kill,
    /// A callback panicked; the text is the panic's message (Ergo `TerminateReasonPanic`).
    Panic(String),
    /// A name, alias or event was unregistered (Ergo `ErrUnregistered`): the reason links and
    /// monitors on it report.
    Unregistered,
    /// The connection to a node was lost (Ergo `ErrNoConnection`).
    NoConnection,
    /// A user-defined reason, as text.
    Error(String),
    /// A user-defined reason carrying a typed error ([`ExitReason::custom`]); match it by type
    /// with [`ExitReason::downcast_ref`].
    Custom(CustomReason),
    /// Seen only in the ended process's own `terminate`: an exit signal ended it, from
    /// `target` (a linked target, or the sender of `send_exit`) with `reason`. Its links and
    /// monitors see the bare `reason`.
    Exit(Box<MessageExit>),
}

impl ExitReason {
    /// A user-defined reason from anything displayable.
    pub fn error(e: impl fmt::Display) -> ExitReason {
        ExitReason::Error(e.to_string())
    }

    /// A user-defined reason carrying `e` itself, to be matched by type later
    /// ([`ExitReason::downcast_ref`]).
    pub fn custom<E: std::error::Error + Send + Sync + 'static>(e: E) -> ExitReason {
        ExitReason::Custom(CustomReason { error: Arc::new(e), type_id: std::any::TypeId::of::<E> })
    }

    /// The reason without the exit-signal wrapper (Ergo's `errors.Unwrap`): for
    /// [`ExitReason::Exit`] the signal's reason, otherwise `self`.
    pub fn bare(&self) -> &ExitReason {
        match self {
            ExitReason::Exit(exit) => exit.reason.bare(),
            other => other,
        }
    }

    /// The typed error inside a [`ExitReason::Custom`] reason (also under an exit-signal
    /// wrapper), if it is an `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self.bare() {
            ExitReason::Custom(c) => c.error.downcast_ref::<E>(),
            _ => None,
        }
    }
}

/// The typed error of an [`ExitReason::Custom`], shared by every copy of the reason (links and
/// monitors get clones). Two are equal when they hold the same type with the same `Display`
/// text: a reason rebuilt from the same value compares equal, as the text reasons do.
#[derive(Clone)]
pub struct CustomReason {
    error: Arc<dyn std::error::Error + Send + Sync>,
    /// The concrete type's id (a function pointer: a word, where a `TypeId` is two, keeping
    /// `ExitReason` at four words).
    type_id: fn() -> std::any::TypeId,
}

impl CustomReason {
    /// The error itself.
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.error
    }
}

impl PartialEq for CustomReason {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.error, &other.error)
            || ((self.type_id)() == (other.type_id)() && self.error.to_string() == other.error.to_string())
    }
}

impl Eq for CustomReason {}

impl fmt::Debug for CustomReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.error)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Kill => f.write_str("kill"),
            ExitReason::Panic(m) => write!(f, "panic: {m}"),
            ExitReason::Unregistered => f.write_str("unregistered"),
            ExitReason::NoConnection => f.write_str("no connection"),
            ExitReason::Error(m) => f.write_str(m),
            ExitReason::Custom(c) => write!(f, "{}", c.error),
            ExitReason::Exit(exit) => write!(f, "{}: {}", exit.target, exit.reason),
        }
    }
}

/// Delivery priority: which of the receiver's four queues a message goes to. Drained in the order
/// Urgent, System, Main, Log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Priority {
    /// Ergo `MessagePriorityMax`: overtakes everything else waiting.
    Urgent = 0,
    /// Ergo `MessagePriorityHigh`: signals (exit, down) and high-priority messages.
    System = 1,
    /// Ergo `MessagePriorityNormal`: the default.
    #[default]
    Main = 2,
    /// Log records for logger processes.
    Log = 3,
}

/// What travels in a mailbox.
pub(crate) enum Payload {
    Message(Message),
    /// A `call`: the request's ref id (the Ref's node and creation are the sender's).
    Request(u64, Message),
    /// A `call` whose ref uses more than its first word (a remote caller's: Go fills two):
    /// boxed, so the envelope of every other message stays one cache line.
    RequestWide(Box<WideRequest>),
    /// An exit signal from a link or `send_exit`: trappable, unless it comes from the parent.
    Exit(Box<MessageExit>),
    /// A stop that cannot be trapped (node shutdown, kill).
    Shutdown(ExitReason),
    /// A published event message.
    Event(MessageEvent),
    /// A log record for a process logger (Log queue).
    Log(Box<MessageLog>),
    /// A message or request addressed by name or alias to a process that splits its handling
    /// by address (`Context::set_split_handle`). Boxed: only such sends pay for it, and the
    /// envelope stays one cache line.
    Via(Box<Via>),
}

/// How a message reached a split-handling process, and the message itself.
pub(crate) struct Via {
    pub(crate) to: Addressed,
    /// A `Message` or a `Request`.
    pub(crate) payload: Payload,
}

/// The address a message was sent to, other than the Pid.
pub(crate) enum Addressed {
    Name(Name),
    Alias(Alias),
}

/// A request with all three words of its ref.
pub(crate) struct WideRequest {
    pub(crate) ref_id: [u64; 3],
    pub(crate) request: Message,
}

impl Payload {
    /// The ref words if this is a request (also when addressed through `Via`).
    pub(crate) fn request_ref(&self) -> Option<[u64; 3]> {
        match self {
            Payload::Request(n, _) => Some([*n, 0, 0]),
            Payload::RequestWide(w) => Some(w.ref_id),
            Payload::Via(via) => via.payload.request_ref(),
            _ => None,
        }
    }

    /// A request from `from` (its ref in the narrow form when it fits).
    pub(crate) fn request(from: &From, request: Message) -> Payload {
        match from.ref_id {
            [n, 0, 0] => Payload::Request(n, request),
            ref_id => Payload::RequestWide(Box::new(WideRequest { ref_id, request })),
        }
    }

    /// A request's caller and body; `self` must be a request.
    pub(crate) fn into_request(self, from: Pid) -> (From, Message) {
        match self {
            Payload::Request(n, request) => (From::local(from, n), request),
            Payload::RequestWide(w) => (From { pid: from, ref_id: w.ref_id }, w.request),
            _ => unreachable!("into_request on a payload that is not a request"),
        }
    }

    /// Whether this is a request, narrow or wide.
    pub(crate) fn is_request(&self) -> bool {
        matches!(self, Payload::Request(..) | Payload::RequestWide(_))
    }
}

pub(crate) struct Envelope {
    pub(crate) from: Pid,
    pub(crate) payload: Payload,
}
#[cfg(test)]
mod size_tests {
    /// What every message in a mailbox costs: a `Pid` is three words, a `Message` three, an
    /// envelope one cache line. Growing any of these costs memory bandwidth on every send.
    #[test]
    fn envelope_fits_a_cache_line() {
        assert_eq!(size_of::<super::Pid>(), 24);
        assert_eq!(size_of::<super::Message>(), 24);
        assert!(size_of::<super::ExitReason>() <= 32, "exit reason is {} bytes", size_of::<super::ExitReason>());
        assert!(size_of::<super::Envelope>() <= 64, "envelope is {} bytes", size_of::<super::Envelope>());
    }
}
