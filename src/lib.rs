//! ergors: an actor runtime in the manner of Ergo (Go), on io_uring, thread-per-core.
//!
//! Start a [`Node`], spawn processes that implement [`Actor`], and talk to them with `send` and
//! `call` from inside processes ([`Context`]) or from any thread ([`NodeHandle`]).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

/// Logs a record of the node itself (`format!` arguments) if the node's log level
/// (`ERGORS_LOG`) lets it through: to `tracing`, with the node's name as a field, and to the
/// process loggers as a `MessageLog` from `LogSource::Node`. Nothing is formatted when filtered.
macro_rules! node_log {
    ($inner:expr, $lvl:ident, $($fmt:tt)+) => {{
        let inner: &$crate::node::NodeInner = &$inner;
        if inner.options.log_level >= ::tracing::Level::$lvl {
            inner.node_log(::tracing::Level::$lvl, &::std::format!($($fmt)+));
        }
    }};
}

mod act;
pub mod codec;
mod error;
pub mod io;
mod mailbox;
mod message;
pub mod meta;
pub mod net;
mod node;
mod process;
mod runtime;
mod sync;
mod sys;
pub mod web;

pub use act::Actor;
pub use act::application;
pub use act::application::{
    Application, ApplicationError, ApplicationInfo, ApplicationMode, ApplicationSpec, ApplicationState,
};
pub use act::context::Context;
pub use act::pool;
pub use act::pool::{Pool, PoolBehavior, PoolControl, PoolError, PoolSpec};
pub use act::supervisor;
pub use act::supervisor::{
    ChildSpec, Restart, Supervisor, SupervisorBehavior, SupervisorError, SupervisorSpec, SupervisorType,
};
pub use act::web_worker::{WebWorker, WebWorkerBehavior};
pub use error::{Error, StartError};
pub use message::{
    Alias, Atom, CustomReason, Event, EventOptions, ExitReason, From, LogSource, Message, MessageDown, MessageEvent,
    MessageEventStart, MessageEventStop, MessageExit, MessageFallback, MessageLog, Name, Pid, Priority, ProcessId, Ref,
    Target, To,
};
pub use meta::{Meta, MetaContext, MetaInfo, MetaOptions, MetaState};
pub use node::cron;
pub use node::cron::{Cron, CronJob, CronMessage};
pub use node::{Node, NodeHandle, NodeInfo, ProcessInfo, ProcessState, SpawnOptions};
pub use runtime::blocking::BlockingJob;
pub use runtime::options::NodeOptions;
pub use runtime::timer::{Sleep, TimerHandle};
pub use runtime::watchdog::StalledWorker;
