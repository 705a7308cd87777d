//! Processes: the process table, the table entry of a live process, its environment and the call
//! protocol, waiting for room in a mailbox, and waiting for a child's `init`. (Their identifiers live in `message`; the `Context` handlers get, in `act`.)

pub(crate) mod call;
pub(crate) mod entry;
pub(crate) mod env;
pub(crate) mod init;
pub(crate) mod room;
pub(crate) mod table;
