//! Processes: the process table, the table entry of a live process, the call protocol and the
//! [`Context`](context::Context) its handlers get. (Their identifiers live in `message`.)

pub(crate) mod call;
pub(crate) mod context;
pub(crate) mod entry;
pub(crate) mod table;
