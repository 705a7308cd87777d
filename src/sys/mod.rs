//! The only code that talks to the kernel: io_uring setup and probe, the worker's wake-up eventfd,
//! and CPU pinning.

pub(crate) mod affinity;
pub(crate) mod ring;
