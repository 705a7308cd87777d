//! Processes: identifiers, the process table, the table entry of a live process, and the
//! [`Context`](context::Context) its handlers get.

pub(crate) mod call;
pub(crate) mod context;
pub(crate) mod entry;
pub(crate) mod pid;
pub(crate) mod table;
pub(crate) mod target;
