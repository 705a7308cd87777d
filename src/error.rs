//! Typed errors, one enum per boundary: starting a node ([`StartError`]) and operating on
//! processes ([`Error`]).

use std::time::Duration;

/// Why `Node::start` failed. Non-exhaustive: later steps add causes (the network's listener).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// The rings' receive buffers could not be registered with the kernel.
    #[error("cannot register the io_uring receive buffers: {cause}; fix: {fix}")]
    IoBuffers {
        /// What failed, with the limit that was hit.
        cause: String,
        /// What the operator can do.
        fix: String,
    },
    /// Another system resource could not be set up (thread, eventfd, ...).
    #[error("cannot start the node: {0}")]
    Io(#[from] std::io::Error),
    /// A cron job given in the options was refused (`NodeOptions::cron_job`).
    #[error("cannot start the node's cron: {0}")]
    Cron(#[from] crate::node::cron::CronError),
    /// The network's TLS certificate, key or roots are unusable (`ERGORS_NET_TLS_*`).
    #[error("cannot set up the network's TLS: {0}")]
    Tls(#[from] crate::net::TlsSetupError),
}

/// Why an operation on a process failed. Non-exhaustive: the network will add variants, so a
/// `match` needs a catch-all arm.
///
/// ```compile_fail
/// fn describe(e: ergors::Error) -> &'static str {
///     match e {
///         ergors::Error::ProcessUnknown => "unknown",
///         ergors::Error::MailboxFull => "full",
///         ergors::Error::Timeout(_) => "timeout",
///         ergors::Error::NodeStopped => "stopped",
///         ergors::Error::Terminated => "terminated",
///         ergors::Error::WouldBlockWorker(_) => "would block",
///         ergors::Error::NotAllowed(_) => "not allowed",
///         ergors::Error::Taken => "taken",
///         ergors::Error::NameUnknown => "no name",
///         ergors::Error::AliasUnknown => "no alias",
///         ergors::Error::AliasOwner => "alias owner",
///         ergors::Error::EventUnknown => "no event",
///         ergors::Error::EventOwner => "event owner",
///         ergors::Error::TargetExist => "exists",
///         ergors::Error::TargetUnknown => "no target",
///         ergors::Error::NoConnection(_) => "no connection",
///         ergors::Error::BadName => "bad name",
///         ergors::Error::InitFailed(_) => "init failed",
///     } // error: the enum is non-exhaustive
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No live process has that identifier (it never existed, or it has ended).
    #[error("unknown process")]
    ProcessUnknown,
    /// The receiver's mailbox queue is at its capacity; the message was not delivered.
    #[error("mailbox is full")]
    MailboxFull,
    /// A call got no reply in time, or a `send_wait` found no room in time.
    #[error("timed out after {0:?}")]
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
    NoConnection(crate::message::Atom),

    /// A message bound for another node that cannot be encoded (no registered type describes it,
    /// or the frame is over the peer's size limit).
    #[error("cannot encode the message for the network: {0}")]
    Encode(String),

    /// An error a remote node reported, as its text.
    #[error("remote error: {0}")]
    Remote(String),
    /// A name longer than 255 bytes, or an empty one.
    #[error("name is empty or longer than 255 bytes")]
    BadName,
    /// The spawned process's `init` failed (returned this reason, or panicked); the process
    /// does not exist any more (`spawn_wait`; Ergo's `Spawn` error).
    #[error("init failed: {0}")]
    InitFailed(Box<crate::message::ExitReason>),
    /// Every thread of the blocking pool is busy and its queue is full (`ERGORS_META_THREADS`,
    /// `ERGORS_META_QUEUE`); the job was not run.
    #[error("the blocking pool is full (every thread busy, queue full)")]
    BlockingPoolFull,
    /// A job on the blocking pool panicked; the text is the panic's message. The pool's thread
    /// goes on.
    #[error("blocking job panicked: {0}")]
    BlockingPanicked(String),
    /// No meta process has that alias (it never existed, or it has ended).
    #[error("unknown meta process")]
    MetaUnknown,
}
