//! Ordering across a connection's pool of links (§3.4), exactly as Go's `net/proto` does it.
//!
//! A sender picks, for each frame, a *link selector* (0 = round robin over the links, N = link
//! `N % links`) and a *header order* byte (byte 6) that tells the receiver which frames to
//! keep in sequence. Go derives both from process ids modulo 255 — so an id that is a multiple
//! of 255 yields 0, "unordered" (a quirk kept here: it is what a Go peer expects and does).
//! The receiver hashes the order byte to one of its decode queues ([`dispatch_queue`]).
//!
//! `keep_order` is Ergo's per-process `KeepNetworkOrder` (on by default); with it off, sends,
//! calls and responses are unordered (`Route::UNORDERED`). Exits, link/monitor requests and
//! their results ignore it, as in Go.

/// Where a frame goes: the link selector (for [`Route::link_index`]) and the header order
/// byte (for [`FrameWriter::write`](super::FrameWriter::write)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Route {
    /// 0: round robin over the links; N: link `N % links`.
    pub link: u8,
    /// The header's order byte (0 = unordered).
    pub order: u8,
}

impl Route {
    /// Round robin, unordered.
    pub const UNORDERED: Route = Route { link: 0, order: 0 };

    /// The index of the link to send on, among `links` (≥ 1) links. `round_robin` is the
    /// connection's counter, advanced (before use, as in Go) for each unordered frame.
    ///
    /// # Panics
    ///
    /// If `links` is 0 (there is no link to choose).
    pub fn link_index(self, links: usize, round_robin: &mut u32) -> usize {
        assert!(links > 0, "a connection without links has nowhere to send");
        if self.link == 0 {
            *round_robin = round_robin.wrapping_add(1);
            *round_robin as usize % links
        } else {
            self.link as usize % links
        }
    }
}

/// Go's ordering key of a process id: `id % 255` (0 for multiples of 255: unordered).
pub fn key(id: u64) -> u8 {
    // Lossless: the remainder is below 255.
    (id % 255) as u8
}

fn keep(keep_order: bool, route: Route) -> Route {
    if keep_order { route } else { Route::UNORDERED }
}

/// A send or call to a process by id (101, 121) and a response or error response (129, 130)
/// from `from` to `to`: link by the sender, order by the target.
pub fn to_pid(from: u64, to: u64, keep_order: bool) -> Route {
    keep(keep_order, Route { link: key(from), order: key(to) })
}

/// A send or call to an alias (104, 124): link by the sender, order by the alias's second id.
pub fn to_alias(from: u64, alias: [u64; 3], keep_order: bool) -> Route {
    keep(keep_order, Route { link: key(from), order: key(alias[1]) })
}

/// A send or call to a name (102/103, 122/123): link and order both by the sender.
pub fn to_name(from: u64, keep_order: bool) -> Route {
    keep(keep_order, Route { link: key(from), order: key(from) })
}

/// An event's message (105/106): link and order both by the publisher.
pub fn event(from: u64, keep_order: bool) -> Route {
    keep(keep_order, Route { link: key(from), order: key(from) })
}

/// An exit signal (107): always ordered, link by the sender, order by the target.
pub fn exit(from: u64, to: u64) -> Route {
    Route { link: key(from), order: key(to) }
}

/// Terminate frames (181–186): unordered.
pub fn terminate() -> Route {
    Route::UNORDERED
}

/// An important delivery's acknowledgement (130 with `[ack_id, 0, 0]`): unordered.
pub fn important_ack() -> Route {
    Route::UNORDERED
}

/// The target of a link or monitor request (`MessageAny`, 199), for its ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// A process id (`MessageLinkPID`, `MessageMonitorPID`, and the un-/de- forms).
    Pid(u64),
    /// An alias's ids.
    Alias([u64; 3]),
    /// A registered name (`…ProcessID`).
    Name,
    /// An event.
    Event,
}

/// A link or unlink request from process `source`: link by the source, order by a Pid or
/// alias target, 0 for names and events.
pub fn link_request(source: u64, target: Target) -> Route {
    let order = match target {
        Target::Pid(id) => key(id),
        Target::Alias(ids) => key(ids[1]),
        Target::Name | Target::Event => 0,
    };
    Route { link: key(source), order }
}

/// A monitor or demonitor request from process `source`: as [`link_request`], except that Go
/// sends a *Pid* target's (de)monitor with order 0 (**quirk**: its `MonitorPID` and
/// `DemonitorPID` pass no order; the captured session shows it).
pub fn monitor_request(source: u64, target: Target) -> Route {
    match target {
        Target::Pid(_) => Route { link: key(source), order: 0 },
        other => link_request(source, other),
    }
}

/// The `MessageResult` answering a link/unlink/monitor/demonitor request from `source` for
/// `target`: link by a Pid or alias target (round robin for names and events), order by the
/// requester so that the result follows its request's queue on the requester's side.
pub fn request_result(source: u64, target: Target) -> Route {
    let link = match target {
        Target::Pid(id) => key(id),
        Target::Alias(ids) => key(ids[1]),
        Target::Name | Target::Event => 0,
    };
    Route { link, order: key(source) }
}

/// A remote spawn or application start request: unordered (Go orders by the zero Pid).
pub fn spawn_request() -> Route {
    Route::UNORDERED
}

/// The result of a remote spawn: round robin, ordered by the requesting parent's id.
pub fn spawn_result(parent: u64) -> Route {
    Route { link: 0, order: key(parent) }
}

/// The results of an application start or a cache update: unordered.
pub fn other_result() -> Route {
    Route::UNORDERED
}

/// The receive side: which of a connection's `queues` decode queues a frame goes to. Go keeps
/// `4 × pool size` queues per connection, shared by all its links; a frame with a non-zero
/// order byte goes to queue `order % queues` (so same-order frames are decoded in sequence),
/// an unordered one round robin. `counter` is the receiving link's frame counter, advanced for
/// every frame (before use, as in Go).
///
/// # Panics
///
/// If `queues` is 0.
///
/// # Examples
///
/// ```
/// use ergors::net::proto::order::dispatch_queue;
/// let mut counter = 0;
/// assert_eq!(dispatch_queue(239, 12, &mut counter), 239 % 12);
/// assert_eq!(dispatch_queue(0, 12, &mut counter), 2);
/// ```
pub fn dispatch_queue(order: u8, queues: usize, counter: &mut u64) -> usize {
    assert!(queues > 0, "a connection needs at least one decode queue");
    *counter = counter.wrapping_add(1);
    if order > 0 { order as usize % queues } else { (*counter % queues as u64) as usize }
}
