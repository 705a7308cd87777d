//! Messages and exit reasons.
//!
//! A local message is moved from sender to receiver as a `Box<dyn Any + Send>`: never serialized,
//! never copied. The receiver downcasts it to the type it expects.

mod value;

use crate::node::MessageLog;
use crate::process::pid::Pid;
use crate::process::target::{MessageEvent, MessageExit};
use std::fmt;
pub use value::Message;

/// Why a process ended (Ergo's termination reasons). Non-exhaustive: the network will add
/// reasons, so a `match` needs a catch-all arm.
///
/// ```compile_fail
/// fn normal(r: &ergors::ExitReason) -> bool {
///     match r {
///         ergors::ExitReason::Normal | ergors::ExitReason::Shutdown => true,
///         ergors::ExitReason::Kill
///         | ergors::ExitReason::Panic(_)
///         | ergors::ExitReason::Unregistered
///         | ergors::ExitReason::NoConnection
///         | ergors::ExitReason::Error(_) => false,
///     } // error: the enum is non-exhaustive
/// }
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
            ExitReason::Unregistered => f.write_str("unregistered"),
            ExitReason::NoConnection => f.write_str("no connection"),
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
    /// A `call`: the request's ref id (the Ref's node and creation are the sender's).
    Request(u64, Message),
    /// An exit signal from a link or `send_exit`: trappable, unless it comes from the parent.
    Exit(Box<MessageExit>),
    /// A stop that cannot be trapped (node shutdown, kill).
    Shutdown(ExitReason),
    /// A published event message.
    Event(MessageEvent),
    /// A log record for a process logger (Log queue).
    Log(Box<MessageLog>),
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
        assert_eq!(size_of::<crate::Pid>(), 24);
        assert_eq!(size_of::<super::Message>(), 24);
        assert!(size_of::<super::Envelope>() <= 64, "envelope is {} bytes", size_of::<super::Envelope>());
    }
}
