//! Typed errors, one enum per boundary: starting a node ([`StartError`]) and operating on
//! processes ([`Error`]).

use std::time::Duration;

/// Why `Node::start` failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An `ERGORS_*` variable (or builder value) is not acceptable.
    #[error("invalid value {value:?} for {var}: expected {accepted}")]
    InvalidOption {
        /// The variable's name, e.g. `ERGORS_WORKERS`.
        var: &'static str,
        /// The value given.
        value: String,
        /// What would have been accepted.
        accepted: &'static str,
    },
    /// The node name is not of the form `name@host`.
    #[error("invalid node name {0:?}: expected name@host")]
    InvalidName(String),
    /// io_uring cannot be used here.
    #[error("io_uring is unavailable: {cause}; fix: {fix}")]
    IoUringUnavailable {
        /// What the kernel said and what it means.
        cause: String,
        /// What the operator can do.
        fix: String,
    },
    /// Another system resource could not be set up (thread, eventfd, ...).
    #[error("cannot start the node: {0}")]
    Io(#[from] std::io::Error),
}

/// Why an operation on a process failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No live process has that identifier (it never existed, or it has ended).
    #[error("unknown process")]
    ProcessUnknown,
    /// The receiver's mailbox queue is at its capacity; the message was not delivered.
    #[error("mailbox is full")]
    MailboxFull,
    /// A call got no reply in time.
    #[error("call timed out after {0:?}")]
    Timeout(Duration),
    /// The node is stopping or stopped.
    #[error("node is stopped")]
    NodeStopped,
    /// The process ended while the call was waiting (it will never reply).
    #[error("process terminated before replying")]
    Terminated,
    /// A blocking `Node` method was called on a worker thread, where it would stall every
    /// process on that worker; use the `Context` method from inside a process instead.
    #[error("blocking Node::{0} called on a worker thread; use the Context method from inside a process")]
    WouldBlockWorker(&'static str),
    /// The caller is not allowed to do this (e.g. a reply for a request it did not receive).
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
    /// The name (or event name) is already registered, or the process already has a name.
    #[error("taken")]
    Taken,
    /// No such registered name.
    #[error("unknown name")]
    NameUnknown,
    /// No such alias.
    #[error("unknown alias")]
    AliasUnknown,
    /// The alias belongs to another process.
    #[error("the alias belongs to another process")]
    AliasOwner,
    /// No such event.
    #[error("unknown event")]
    EventUnknown,
    /// The event belongs to another process, or the token does not match.
    #[error("not the event's owner")]
    EventOwner,
    /// This link or monitor already exists.
    #[error("target already linked or monitored")]
    TargetExist,
    /// No such link or monitor.
    #[error("no such link or monitor")]
    TargetUnknown,
    /// No connection to that node (networking comes in a later step).
    #[error("no connection to node {0}")]
    NoConnection(crate::Atom),
    /// A name longer than 255 bytes, or an empty one.
    #[error("name is empty or longer than 255 bytes")]
    BadName,
}
