//! The only code that talks to the kernel: io_uring setup and probe, the worker's wake-up eventfd,
//! CPU pinning and the timers' clock.

pub(crate) mod affinity;
pub(crate) mod bufring;
pub(crate) mod clock;
pub(crate) mod ring;
