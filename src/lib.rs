//! ergors: an actor runtime in the manner of Ergo (Go), on io_uring, thread-per-core.
//!
//! Start a [`Node`], spawn processes that implement [`Actor`], and talk to them with `send` and
//! `call` from inside processes ([`Context`]) or from any thread ([`NodeHandle`]).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

/// Emits a `tracing` event if the node's log level (`ERGORS_LOG`) lets it through; every record
/// carries the node's name.
macro_rules! node_log {
    ($inner:expr, $lvl:ident, $($arg:tt)+) => {{
        let inner: &$crate::node::NodeInner = &$inner;
        if inner.options.log_level >= ::tracing::Level::$lvl {
            ::tracing::event!(::tracing::Level::$lvl, node = %inner.name, $($arg)+);
        }
    }};
}

mod act;
mod error;
mod mailbox;
mod message;
mod node;
mod process;
mod runtime;
mod sync;
mod sys;

pub use act::Actor;
pub use error::{Error, StartError};
pub use message::{ExitReason, Message, Priority};
pub use node::{LogSource, MessageLog, Node, NodeHandle, NodeInfo, ProcessInfo, ProcessState, SpawnOptions};
pub use process::context::Context;
pub use process::pid::{Atom, From, Pid, Ref};
pub use process::target::{
    Alias, Event, EventOptions, MessageDown, MessageEvent, MessageEventStart, MessageEventStop, MessageExit, ProcessId,
    Target, To,
};
pub use runtime::options::NodeOptions;
pub use runtime::timer::TimerHandle;
