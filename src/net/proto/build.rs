//! One builder per opcode family: each picks the opcode for its target, fills the fixed fields
//! as Go does (exit at priority max, terminates at high) and returns the [`Route`] Go would use
//! (§3.4), so a sender writes `writer.write(out, route.order, &enp, payload)` on link
//! `route.link_index(..)`.

use super::frame::{Enp, Prio, ResponseCode};
use super::order::{self, Route};

/// Who a send or a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient<'a> {
    /// A process of the peer, by id.
    Pid(u64),
    /// A registered name on the peer.
    Name(&'a [u8]),
    /// A registered name, as an id of *our* atom cache (only if we announced it).
    NameCache(u16),
    /// An alias of the peer, by its ids.
    Alias([u64; 3]),
}

/// What a terminate frame announces the end of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminated<'a> {
    /// One of our processes, by id.
    Pid(u64),
    /// One of our registered names.
    Name(&'a [u8]),
    /// One of our registered names, as an id of our atom cache.
    NameCache(u16),
    /// One of our aliases.
    Alias([u64; 3]),
    /// One of our events, by name.
    Event(&'a [u8]),
    /// One of our events, its name as an id of our atom cache.
    EventCache(u16),
}

/// Ergo's `MessagePriorityHigh`, which Go puts in terminate frames.
const PRIORITY_HIGH: u8 = 1;
/// Ergo's `MessagePriorityMax`, which Go puts in exit frames.
const PRIORITY_MAX: u8 = 2;

impl<'a> Enp<'a> {
    /// A message from process `from` (101–104). `impid` is the ack id when `prio.important()`
    /// (write 0 otherwise); `keep_order` is the sender's `KeepNetworkOrder`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ergors::net::proto::{Enp, Prio, Recipient};
    /// let (enp, route) = Enp::send(1004, Recipient::Name(b"echo"), Prio::default(), 0, true);
    /// assert!(matches!(enp, Enp::MessageName { from: 1004, name: b"echo", .. }));
    /// assert_eq!((route.link, route.order), (239, 239));
    /// ```
    pub fn send(from: u64, to: Recipient<'a>, prio: Prio, impid: u64, keep_order: bool) -> (Enp<'a>, Route) {
        match to {
            Recipient::Pid(to) => (Enp::MessagePid { from, prio, impid, to }, order::to_pid(from, to, keep_order)),
            Recipient::Name(name) => (Enp::MessageName { from, prio, impid, name }, order::to_name(from, keep_order)),
            Recipient::NameCache(cache_id) => {
                (Enp::MessageNameCache { from, prio, impid, cache_id }, order::to_name(from, keep_order))
            }
            Recipient::Alias(alias) => {
                (Enp::MessageAlias { from, prio, impid, alias }, order::to_alias(from, alias, keep_order))
            }
        }
    }

    /// A call from process `from` (121–124) with the caller's fresh `reference`.
    pub fn request(
        from: u64,
        to: Recipient<'a>,
        prio: Prio,
        reference: [u64; 3],
        keep_order: bool,
    ) -> (Enp<'a>, Route) {
        match to {
            Recipient::Pid(to) => (Enp::RequestPid { from, prio, reference, to }, order::to_pid(from, to, keep_order)),
            Recipient::Name(name) => {
                (Enp::RequestName { from, prio, reference, name }, order::to_name(from, keep_order))
            }
            Recipient::NameCache(cache_id) => {
                (Enp::RequestNameCache { from, prio, reference, cache_id }, order::to_name(from, keep_order))
            }
            Recipient::Alias(alias) => {
                (Enp::RequestAlias { from, prio, reference, alias }, order::to_alias(from, alias, keep_order))
            }
        }
    }

    /// A call's response (129) from `from` to the caller `to`, echoing the call's reference.
    pub fn response(from: u64, to: u64, prio: Prio, reference: [u64; 3], keep_order: bool) -> (Enp<'static>, Route) {
        (Enp::MessageResponse { from, prio, to, reference }, order::to_pid(from, to, keep_order))
    }

    /// A call's error response (130); the payload is an EDF error only for
    /// [`ResponseCode::Error`]. (An important delivery's ack is
    /// [`important_ack`](super::important_ack).)
    pub fn response_error(
        from: u64,
        to: u64,
        prio: Prio,
        reference: [u64; 3],
        code: ResponseCode,
        keep_order: bool,
    ) -> (Enp<'static>, Route) {
        let enp = Enp::MessageResponseError { from, prio, to, reference, code: code.byte() };
        (enp, order::to_pid(from, to, keep_order))
    }

    /// An exit signal (107) from `from` to the peer's process `to`, at priority max as Go sends
    /// it; the payload is the reason.
    pub fn exit(from: u64, to: u64) -> (Enp<'static>, Route) {
        (Enp::MessageExit { from, prio: Prio::new(PRIORITY_MAX, false), to }, order::exit(from, to))
    }

    /// An event's message (105) published by `from`; `timestamp` in nanoseconds.
    pub fn event(from: u64, prio: Prio, timestamp: i64, name: &'a [u8], keep_order: bool) -> (Enp<'a>, Route) {
        (Enp::MessageEvent { from, prio, timestamp, name }, order::event(from, keep_order))
    }

    /// An event's message (106), its name as an id of our atom cache.
    pub fn event_cached(
        from: u64,
        prio: Prio,
        timestamp: i64,
        cache_id: u16,
        keep_order: bool,
    ) -> (Enp<'static>, Route) {
        (Enp::MessageEventCache { from, prio, timestamp, cache_id }, order::event(from, keep_order))
    }

    /// A terminate frame (181–186), at priority high as Go sends them; the payload is the
    /// reason.
    pub fn terminate(target: Terminated<'a>) -> (Enp<'a>, Route) {
        let prio = Prio::new(PRIORITY_HIGH, false);
        let enp = match target {
            Terminated::Pid(target) => Enp::TerminatePid { prio, target },
            Terminated::Name(name) => Enp::TerminateName { prio, name },
            Terminated::NameCache(cache_id) => Enp::TerminateNameCache { prio, cache_id },
            Terminated::Alias(alias) => Enp::TerminateAlias { prio, alias },
            Terminated::Event(name) => Enp::TerminateEvent { prio, name },
            Terminated::EventCache(cache_id) => Enp::TerminateEventCache { prio, cache_id },
        };
        (enp, order::terminate())
    }
}
