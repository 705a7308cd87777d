//! I/O on the workers' rings: sockets a process awaits without blocking its worker.
//!
//! Every request goes to the io_uring of the worker running the process that makes it
//! (`driver`): accepts and receives are multishot where the kernel has them (one request
//! serves many completions; received bytes land in the ring's provided buffers and are copied
//! out at once), sends hold their buffer until the kernel is done with it (until the
//! notification of a zero-copy send). Awaiting suspends only the awaiting process; dropping
//! the future cancels the request.
//!
//! These types work inside processes (on worker threads); off a worker every operation fails
//! with an error saying so. Meta processes (`crate::meta`) build connections, servers and ports
//! on them.

pub(crate) mod driver;
pub mod fd;
pub mod net;
pub(crate) mod op;
mod raw;
pub mod tls;

pub use driver::IoFeatures;
