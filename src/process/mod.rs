//! Processes: the process table, the table entry of a live process, its environment and the call
//! protocol. (Their identifiers live in `message`; the `Context` handlers get, in `act`.)

pub(crate) mod call;
pub(crate) mod entry;
pub(crate) mod env;
pub(crate) mod table;
