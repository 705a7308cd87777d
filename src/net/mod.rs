//! Network transparency, sans-IO: Ergo's wire protocols as pure functions and state machines
//! over byte slices, with no sockets, no clocks of their own and no threads. The io_uring glue
//! that moves their bytes lives elsewhere and stays thin.
//!
//! - [`proto`]: ENP frames (the message protocol after the handshake): splitting a byte stream
//!   into frames, parsing and building each opcode's fixed fields, ordering, compression.
//! - [`handshake`]: EHS, the handshake that opens each TCP link: its frames, digests and the
//!   dialer and acceptor state machines.
//! - [`registrar`]: ESRD packet framing (the registrar that maps node names to ports).
//!
//! Payloads inside all of them are EDF values, handled here as opaque byte slices.

pub mod handshake;
pub mod proto;
pub mod registrar;
