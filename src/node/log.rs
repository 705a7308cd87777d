//! Logging: every record a process or the node logs goes to `tracing` (with the node, and for a
//! process its Pid and name, as fields) and to the node's process loggers — processes registered
//! with `NodeHandle::logger_add_pid` that receive [`MessageLog`]s in their Log queue (Ergo's
//! process loggers), so a user can ship logs anywhere.

use crate::error::Error;
use crate::message::{Atom, Envelope, LogSource, MessageLog, Name, Payload, Pid, Priority};
use crate::node::NodeInner;
use crate::process::entry::ProcessEntry;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tracing::Level;

pub(crate) struct ProcessLogger {
    name: Name,
    entry: Arc<ProcessEntry>,
    levels: Vec<Level>,
}

/// Hands `text` to `tracing` (whose macros want the level as a constant).
fn emit(level: Level, node: Atom, process: Option<(Pid, Option<&Name>)>, text: &str) {
    macro_rules! at {
        ($lvl:ident) => {
            match process {
                Some((pid, name)) => {
                    let name = name.map(|n| n.as_str()).unwrap_or("");
                    tracing::event!(Level::$lvl, %node, %pid, name, "{text}")
                }
                None => tracing::event!(Level::$lvl, %node, "{text}"),
            }
        };
    }
    match level {
        Level::TRACE => at!(TRACE),
        Level::DEBUG => at!(DEBUG),
        Level::INFO => at!(INFO),
        Level::WARN => at!(WARN),
        Level::ERROR => at!(ERROR),
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

impl NodeInner {
    /// Logs `text` for process `entry` at `level` (already filtered by the process's level).
    pub(crate) fn process_log(&self, entry: &ProcessEntry, level: Level, text: &str) {
        let name = entry.with_existing_rel(|r| r.name.clone()).flatten();
        emit(level, self.name, Some((entry.pid, name.as_ref())), text);
        self.ship(entry.pid, level, || LogSource::Process { pid: entry.pid, name }, text);
    }

    /// Logs a record of the node itself (already filtered by the node's level; see `node_log!`).
    pub(crate) fn node_log(&self, level: Level, text: &str) {
        emit(level, self.name, None, text);
        self.ship(self.core_pid(), level, || LogSource::Node(self.name), text);
    }

    /// Delivers a record to every process logger that takes `level`, unless a logger logged it.
    fn ship(&self, from: Pid, level: Level, source: impl FnOnce() -> LogSource, text: &str) {
        if self.logger_count.load(Ordering::Acquire) == 0 {
            return;
        }
        let loggers = self.loggers.read().unwrap_or_else(|p| p.into_inner());
        // A logger's own records go to `tracing` only: loggers that message each other (a
        // forwarder and a sink that warns about what it does not handle) must not feed a loop.
        if loggers.iter().any(|l| l.entry.pid == from) {
            return;
        }
        let record = MessageLog { time: now_ns(), level, source: source(), message: text.to_string() };
        for l in loggers.iter().filter(|l| l.levels.contains(&level)) {
            let envelope = Envelope { from, payload: Payload::Log(Box::new(record.clone())) };
            self.push_signal(&l.entry, Priority::Log, envelope);
        }
    }

    pub(crate) fn logger_add(&self, pid: Pid, name: &str, levels: &[Level]) -> Result<(), Error> {
        let entry = self.table.get(&pid).filter(|e| e.is_alive()).ok_or(Error::ProcessUnknown)?;
        let name = Name::new(name);
        let mut loggers = self.loggers.write().unwrap_or_else(|p| p.into_inner());
        if loggers.iter().any(|l| l.name == name) {
            return Err(Error::Taken);
        }
        if loggers.iter().any(|l| l.entry.pid == pid) {
            return Err(Error::NotAllowed("a process can be one logger only"));
        }
        let levels = if levels.is_empty() {
            vec![Level::TRACE, Level::DEBUG, Level::INFO, Level::WARN, Level::ERROR]
        } else {
            levels.to_vec()
        };
        loggers.push(ProcessLogger { name, entry, levels });
        self.logger_count.store(loggers.len(), Ordering::Release);
        Ok(())
    }

    /// Removes the logger called `name` (or, with `pid`, the one that process is).
    pub(crate) fn logger_remove(&self, name: Option<&str>, pid: Option<Pid>) -> bool {
        let mut loggers = self.loggers.write().unwrap_or_else(|p| p.into_inner());
        let before = loggers.len();
        loggers.retain(|l| Some(l.name.as_str()) != name && Some(l.entry.pid) != pid);
        self.logger_count.store(loggers.len(), Ordering::Release);
        loggers.len() != before
    }
}
