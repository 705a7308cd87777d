//! Network transparency, sans-IO: the codecs and state machines that speak Ergo's wire protocol.
//! Nothing here touches a socket; the I/O glue feeds bytes in and takes bytes out.

pub mod edf;
