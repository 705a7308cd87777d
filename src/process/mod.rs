//! Processes: the process table, the table entry of a live process, its environment and the call
//! protocol, and waiting for room in a mailbox. (Their identifiers live in `message`; the `Context` handlers get, in `act`.)

pub(crate) mod call;
pub(crate) mod entry;
pub(crate) mod env;
pub(crate) mod room;
pub(crate) mod table;
