//! ergors: an actor runtime in the manner of Ergo (Go), on io_uring, thread-per-core.
//!
//! Start a [`Node`], spawn processes that implement [`Actor`], and talk to them with `send` and
//! `call` from inside processes ([`Context`]) or from any thread ([`NodeHandle`]).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

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
pub use node::{Node, NodeHandle, SpawnOptions};
pub use process::context::Context;
pub use process::pid::{Atom, From, Pid, Ref};
pub use runtime::options::NodeOptions;
pub use runtime::timer::TimerHandle;
