//! Messages and exit reasons.
//!
//! A local message is moved from sender to receiver as a `Box<dyn Any + Send>`: never serialized,
//! never copied. The receiver downcasts it to the type it expects.

use crate::process::pid::{Pid, Ref};
use std::any::Any;
use std::fmt;

/// A message in flight: any `Send` value, moved, not copied.
///
/// # Examples
/// ```
/// use ergors::Message;
/// let m = Message::new(42u32);
/// assert!(m.is::<u32>());
/// assert_eq!(m.downcast::<u32>().ok(), Some(42));
/// ```
pub struct Message(Box<dyn Any + Send>);

impl Message {
    /// Wraps a value. A `Message` passed in is kept as it is (not boxed twice).
    pub fn new<T: Any + Send>(value: T) -> Message {
        let mut slot = Some(value);
        if let Some(m) = (&mut slot as &mut dyn Any).downcast_mut::<Option<Message>>() {
            if let Some(m) = m.take() {
                return m;
            }
        }
        match slot {
            Some(v) => Message(Box::new(v)),
            // `slot` is emptied only when T is Message, and that branch returned above.
            None => unreachable!("message slot emptied without a Message inside"),
        }
    }

    /// Takes the value out if it is a `T`; gives the message back otherwise.
    pub fn downcast<T: Any>(self) -> Result<T, Message> {
        match self.0.downcast::<T>() {
            Ok(v) => Ok(*v),
            Err(b) => Err(Message(b)),
        }
    }

    /// Borrows the value if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }

    /// True if the value is a `T`.
    pub fn is<T: Any>(&self) -> bool {
        self.0.is::<T>()
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Message(..)")
    }
}

/// Why a process ended (Ergo's termination reasons).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// Finished its work (Ergo `TerminateReasonNormal`).
    Normal,
    /// Asked to stop by its node or supervisor (Ergo `TerminateReasonShutdown`).
    Shutdown,
    /// Killed; cannot be trapped (Ergo `TerminateReasonKill`).
    Kill,
    /// A callback panicked; the text is the panic's message (Ergo `TerminateReasonPanic`).
    Panic(String),
    /// A user-defined reason.
    Error(String),
}

impl ExitReason {
    /// A user-defined reason from anything displayable.
    pub fn error(e: impl fmt::Display) -> ExitReason {
        ExitReason::Error(e.to_string())
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Kill => f.write_str("kill"),
            ExitReason::Panic(m) => write!(f, "panic: {m}"),
            ExitReason::Error(m) => f.write_str(m),
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
    Request(Ref, Message),
    /// An exit request (from the node's shutdown or a `send_exit`).
    Exit(ExitReason),
}

pub(crate) struct Envelope {
    pub(crate) from: Pid,
    pub(crate) payload: Payload,
}
