//! The runtime: configuration, per-core workers (run queues, timers, parking in the ring) and the
//! waker that turns "something arrived" into "schedule this process".

pub(crate) mod blocking;
pub(crate) mod options;
pub(crate) mod park;
pub(crate) mod race;
pub(crate) mod timer;
pub(crate) mod waker;
pub(crate) mod watchdog;
pub(crate) mod worker;
