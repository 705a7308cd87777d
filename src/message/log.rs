//! The record a process logger receives ([`MessageLog`]) and who logged it ([`LogSource`]).
//!
//! Plain data: the node builds these (`node/log.rs`) and delivers them in the Log queue.

use super::pid::{Atom, Name, Pid};
use tracing::Level;

/// Who logged a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogSource {
    /// A process.
    Process {
        /// Its Pid.
        pid: Pid,
        /// Its registered name, if any.
        name: Option<Name>,
    },
    /// The node itself.
    Node(Atom),
}

/// One log record, as a process logger receives it (`Actor::handle_log`, Log queue).
#[derive(Clone, Debug)]
pub struct MessageLog {
    /// When, in nanoseconds since the Unix epoch.
    pub time: u64,
    /// Its level.
    pub level: Level,
    /// Who logged it.
    pub source: LogSource,
    /// The text.
    pub message: String,
}
