//! Links and monitors across nodes (PROTOCOL.md §3.3, Terminate opcodes 181–184).
//!
//! Both nodes keep tables, as in Ergo: the consumer's node records, per peer, which of its
//! processes watch which of the peer's targets ([`Peer::watchers`]); the target's node records
//! the remote consumer in the target's own relations (`linked_by`/`monitored_by` with a Pid of
//! the peer), so that the target's end — handled by the same code as for local watchers — sends
//! one Terminate frame per watching node. The consumer's node fans it out to its consumers. A
//! lost connection fires every relation on that peer's targets with `NoConnection`.
//!
//! Setting up is asynchronous (D205): `link`/`monitor` on a remote target record it at once and
//! send the request; a refusal from the peer fires the relation with the peer's reason, as a
//! link to a dead process does in Erlang.

use super::edf::{Decoder, Encoder, ErrorValue, Value, ergo_types as wire};
use super::network::{Network, Peer};
use super::proto::{Enp, Terminated, order};
use crate::error::Error;
use crate::message::{Atom, ExitReason, Message, Pid, ProcessId, Ref, Target, To};
use crate::node::NodeInner;
use crate::node::watch::{Kind, start_watching};
use std::sync::Arc;

/// The reason of a relation as Ergo's error text.
pub(crate) fn reason_text(reason: &ExitReason) -> String {
    match reason.bare() {
        ExitReason::Normal => "normal".into(),
        ExitReason::Shutdown => "shutdown".into(),
        ExitReason::Kill => "kill".into(),
        ExitReason::Panic(_) => "panic".into(),
        ExitReason::Unregistered => "unregistered".into(),
        ExitReason::NoConnection => "no connection".into(),
        other => other.to_string(),
    }
}

/// The reason an Ergo error text stands for.
pub(crate) fn reason_of(text: &str) -> ExitReason {
    match text {
        "normal" => ExitReason::Normal,
        "shutdown" => ExitReason::Shutdown,
        "kill" => ExitReason::Kill,
        "panic" => ExitReason::Panic("panic on a remote node".into()),
        "unregistered" => ExitReason::Unregistered,
        "no connection" => ExitReason::NoConnection,
        other => ExitReason::Error(other.to_string()),
    }
}

/// Writes `reason` as the EDF error an exit or terminate frame carries.
fn encode_reason(reason: &ExitReason, buf: &mut Vec<u8>) -> Result<(), super::edf::EdfError> {
    Encoder::new(buf).encode(&Some(ErrorValue::new(&reason_text(reason))))
}

/// A control request of ours waiting for its `MessageResult`.
pub(crate) struct ControlWait {
    pub(crate) consumer: Pid,
    pub(crate) kind: Kind,
    pub(crate) target: Target,
    /// The consumer held no other relation on the target when it asked: an event's buffered
    /// messages in the answer are delivered to it only then (once, not per relation; D215).
    pub(crate) first: bool,
}

fn control_message(kind: Kind, on: bool, source: Pid, target: &Target, r: Ref) -> Option<Message> {
    Some(match (kind, on, target) {
        (Kind::Link, true, Target::Pid(p)) => Message::new(wire::MessageLinkPid { source, target: *p, r#ref: r }),
        (Kind::Link, false, Target::Pid(p)) => Message::new(wire::MessageUnlinkPid { source, target: *p, r#ref: r }),
        (Kind::Monitor, true, Target::Pid(p)) => Message::new(wire::MessageMonitorPid { source, target: *p, r#ref: r }),
        (Kind::Monitor, false, Target::Pid(p)) => {
            Message::new(wire::MessageDemonitorPid { source, target: *p, r#ref: r })
        }
        (Kind::Link, true, Target::Name(id)) => {
            Message::new(wire::MessageLinkProcessId { source, target: id.clone(), r#ref: r })
        }
        (Kind::Link, false, Target::Name(id)) => {
            Message::new(wire::MessageUnlinkProcessId { source, target: id.clone(), r#ref: r })
        }
        (Kind::Monitor, true, Target::Name(id)) => {
            Message::new(wire::MessageMonitorProcessId { source, target: id.clone(), r#ref: r })
        }
        (Kind::Monitor, false, Target::Name(id)) => {
            Message::new(wire::MessageDemonitorProcessId { source, target: id.clone(), r#ref: r })
        }
        (Kind::Link, true, Target::Alias(a)) => Message::new(wire::MessageLinkAlias { source, target: *a, r#ref: r }),
        (Kind::Link, false, Target::Alias(a)) => {
            Message::new(wire::MessageUnlinkAlias { source, target: *a, r#ref: r })
        }
        (Kind::Monitor, true, Target::Alias(a)) => {
            Message::new(wire::MessageMonitorAlias { source, target: *a, r#ref: r })
        }
        (Kind::Monitor, false, Target::Alias(a)) => {
            Message::new(wire::MessageDemonitorAlias { source, target: *a, r#ref: r })
        }
        (Kind::Link, true, Target::Event(e)) => {
            Message::new(wire::MessageLinkEvent { source, target: e.clone(), r#ref: r })
        }
        (Kind::Link, false, Target::Event(e)) => {
            Message::new(wire::MessageUnlinkEvent { source, target: e.clone(), r#ref: r })
        }
        (Kind::Monitor, true, Target::Event(e)) => {
            Message::new(wire::MessageMonitorEvent { source, target: e.clone(), r#ref: r })
        }
        (Kind::Monitor, false, Target::Event(e)) => {
            Message::new(wire::MessageDemonitorEvent { source, target: e.clone(), r#ref: r })
        }
        _ => return None,
    })
}

fn order_target(target: &Target) -> order::Target {
    match target {
        Target::Pid(p) => order::Target::Pid(p.id),
        Target::Alias(a) => order::Target::Alias(a.0.id),
        Target::Event(_) => order::Target::Event,
        _ => order::Target::Name,
    }
}

/// Sends our link/monitor (`on`) or unlink/demonitor request for `target` to `peer`.
fn send_control(
    net: &Network,
    peer: &Peer,
    kind: Kind,
    on: bool,
    source: Pid,
    target: &Target,
    r: Ref,
) -> Result<(), Error> {
    let msg = control_message(kind, on, source, target, r)
        .ok_or(Error::NotAllowed("this target cannot be watched across nodes"))?;
    let route = match kind {
        Kind::Link => order::link_request(source.id, order_target(target)),
        Kind::Monitor => order::monitor_request(source.id, order_target(target)),
    };
    peer.push_frame(route, &Enp::MessageAny, |b| net.registry().encode_message(&msg, &mut Encoder::new(b)))
}

impl NodeInner {
    /// `consumer` starts to watch `target` of the connected node `node`.
    ///
    /// # Errors
    /// `NoConnection` when not connected (dial first: send to it, or `NodeHandle::connect`);
    /// `TargetExist`.
    pub(crate) fn watch_remote(
        &self,
        consumer: &Arc<crate::process::entry::ProcessEntry>,
        node: Atom,
        target: Target,
        kind: Kind,
    ) -> Result<(), Error> {
        let net = self.net.as_ref().ok_or(Error::NoConnection(node))?;
        let peer = net.peer(node).ok_or(Error::NoConnection(node))?;
        if let Target::Pid(p) = &target
            && p.creation != peer.creation
        {
            return Err(Error::ProcessUnknown);
        }
        start_watching(consumer, &target, kind)?;
        let other = match kind {
            Kind::Link => Kind::Monitor,
            Kind::Monitor => Kind::Link,
        };
        let first = consumer.with_rel(|r| !r.watching(other).contains(&target)).unwrap_or(true);
        peer.add_watcher(target.clone(), consumer.pid, kind);
        if matches!(target, Target::Node(_)) {
            return Ok(());
        }
        let r = self.make_ref();
        peer.await_control(r.id[0], ControlWait { consumer: consumer.pid, kind, target: target.clone(), first });
        if let Err(e) = send_control(net, &peer, kind, true, consumer.pid, &target, r) {
            peer.control_answered(r.id[0]);
            peer.remove_watcher(&target, consumer.pid, kind);
            consumer.with_rel(|r| crate::node::watch::remove_first(r.watching(kind), &target));
            return Err(e);
        }
        Ok(())
    }

    /// `consumer` no longer watches the remote `target` (it unlinked, or it ended).
    pub(crate) fn unwatch_remote(&self, consumer: Pid, target: &Target, kind: Kind) {
        let node = crate::node::watch::node_of(target);
        let Some(net) = self.net.as_ref() else { return };
        let Some(peer) = net.peer(node) else { return };
        peer.remove_watcher(target, consumer, kind);
        if !matches!(target, Target::Node(_)) {
            let _ = send_control(net, &peer, kind, false, consumer, target, self.make_ref());
        }
    }

    /// A control message (199) from `peer`.
    pub(crate) fn deliver_control(&self, peer: &Peer, msg: Message) -> Result<(), String> {
        let net = self.net.as_ref().ok_or("no network")?;
        macro_rules! watch {
            ($msg:ident, $($t:ty => $kind:expr, $on:expr, $target:expr;)*) => {{
                let m = $msg;
                $(
                    let m = match m.downcast::<$t>() {
                        Ok(c) => return self.remote_watch_request(net, peer, $kind, $on, c.source, $target(c.target), c.r#ref),
                        Err(m) => m,
                    };
                )*
                m
            }};
        }
        let msg = watch!(msg,
            wire::MessageLinkPid => Kind::Link, true, Target::Pid;
            wire::MessageUnlinkPid => Kind::Link, false, Target::Pid;
            wire::MessageMonitorPid => Kind::Monitor, true, Target::Pid;
            wire::MessageDemonitorPid => Kind::Monitor, false, Target::Pid;
            wire::MessageLinkProcessId => Kind::Link, true, Target::Name;
            wire::MessageUnlinkProcessId => Kind::Link, false, Target::Name;
            wire::MessageMonitorProcessId => Kind::Monitor, true, Target::Name;
            wire::MessageDemonitorProcessId => Kind::Monitor, false, Target::Name;
            wire::MessageLinkAlias => Kind::Link, true, Target::Alias;
            wire::MessageUnlinkAlias => Kind::Link, false, Target::Alias;
            wire::MessageMonitorAlias => Kind::Monitor, true, Target::Alias;
            wire::MessageDemonitorAlias => Kind::Monitor, false, Target::Alias;
            wire::MessageLinkEvent => Kind::Link, true, Target::Event;
            wire::MessageUnlinkEvent => Kind::Link, false, Target::Event;
            wire::MessageMonitorEvent => Kind::Monitor, true, Target::Event;
            wire::MessageDemonitorEvent => Kind::Monitor, false, Target::Event;
        );
        match msg.downcast::<wire::MessageResult>() {
            Ok(result) => {
                let Some(wait) = peer.control_answered(result.r#ref.id[0]) else { return Ok(()) };
                match (result.error, &wait.target) {
                    (Some(e), _) => {
                        // Refused (no such process, …): the relation fires at once with the reason.
                        peer.remove_watcher(&wait.target, wait.consumer, wait.kind);
                        self.signal(wait.consumer, wait.kind, wait.target, &reason_of(e.as_str()));
                    }
                    (None, Target::Event(e)) if wait.first => {
                        self.deliver_buffered(net, wait.consumer, e, result.result)
                    }
                    (None, _) => {}
                }
                Ok(())
            }
            Err(m) => Err(format!("control message {m:?} is not handled")),
        }
    }

    /// A peer's process `source` starts (or stops) watching our `target`; answered with a
    /// `MessageResult`.
    #[allow(clippy::too_many_arguments)]
    fn remote_watch_request(
        &self,
        net: &Network,
        peer: &Peer,
        kind: Kind,
        on: bool,
        source: Pid,
        target: Target,
        r: Ref,
    ) -> Result<(), String> {
        if let Target::Event(e) = &target {
            return self.remote_event_request(net, peer, kind, on, source, e, r);
        }
        let outcome = if on {
            self.watched_by_remote(source, target.clone(), kind)
        } else {
            self.detach(source, target.clone(), kind);
            Ok(())
        };
        let result = wire::MessageResult {
            error: outcome.as_ref().err().map(|e| ErrorValue::new(&super::network::error_text(e))),
            result: Value::Nil,
            r#ref: r,
        };
        let route = order::request_result(source.id, order_target(&target));
        let reply = Message::new(result);
        peer.push_frame(route, &Enp::MessageAny, |b| net.registry().encode_message(&reply, &mut Encoder::new(b)))
            .map_err(|e| format!("answering a watch request: {e}"))
    }

    /// Records the remote `consumer` on the watched side of our `target`.
    fn watched_by_remote(&self, consumer: Pid, target: Target, kind: Kind) -> Result<(), Error> {
        let watched = match &target {
            Target::Pid(p) if p.node == self.name => self.resolve(&To::Pid(*p))?,
            Target::Name(id) if id.node == self.name => self.resolve(&To::Local(id.name.clone()))?,
            Target::Alias(a) if a.0.node == self.name => self.resolve(&To::Alias(*a))?,
            _ => return Err(Error::ProcessUnknown),
        };
        let registered = watched.with_rel(|r| {
            let owned = match &target {
                Target::Name(id) => r.name.as_ref() == Some(&id.name),
                Target::Alias(a) => r.aliases.contains(a),
                _ => true,
            };
            if owned && !r.watched_by(kind).contains(&(consumer, target.clone())) {
                r.watched_by(kind).push((consumer, target.clone()));
            }
            owned
        });
        if registered == Some(true) { Ok(()) } else { Err(Error::ProcessUnknown) }
    }

    /// Tells `node` that our `target`, which some of its processes watch, is gone with `reason`
    /// (one frame per node and target: the peer fans it out).
    pub(crate) fn terminate_remote(&self, node: Atom, target: &Target, reason: &ExitReason) {
        let Some(net) = self.net.as_ref() else { return };
        let Some(peer) = net.peer(node) else { return };
        let name;
        let (enp, route) = Enp::terminate(match target {
            Target::Pid(p) => Terminated::Pid(p.id),
            Target::Name(id) => {
                name = id.name.clone();
                Terminated::Name(name.as_bytes())
            }
            Target::Alias(a) => Terminated::Alias(a.0.id),
            Target::Event(e) => {
                name = e.name.clone();
                Terminated::Event(name.as_bytes())
            }
            _ => return,
        });
        let sent = peer.push_frame(route, &enp, |b| encode_reason(reason, b));
        if let Err(e) = sent {
            tracing::debug!("network: cannot tell {node} that {target:?} ended: {e}");
        }
    }

    /// An exit signal from our `from` to the remote `to` (ENP 107).
    ///
    /// # Errors
    /// `NoConnection` when not connected; `ProcessUnknown` for a Pid of an earlier run of that
    /// node.
    pub(crate) fn send_exit_remote(&self, from: Pid, to: &Pid, reason: &ExitReason) -> Result<(), Error> {
        let net = self.net.as_ref().ok_or(Error::NoConnection(to.node))?;
        let peer = net.peer(to.node).ok_or(Error::NoConnection(to.node))?;
        if to.creation != peer.creation {
            return Err(Error::ProcessUnknown);
        }
        let (enp, route) = Enp::exit(from.id, to.id);
        peer.push_frame(route, &enp, |b| encode_reason(reason, b))
    }

    /// The reason an exit or terminate frame of `peer` carries (an EDF error; nil is `normal`).
    fn reason_in(&self, peer: &Peer, payload: &[u8]) -> Result<ExitReason, String> {
        let net = self.net.as_ref().ok_or("no network")?;
        let mut dec = Decoder::new(payload, net.registry()).with_caches(&peer.caches);
        match dec.decode::<Option<ErrorValue>>() {
            Ok(Some(e)) => Ok(reason_of(e.as_str())),
            Ok(None) => Ok(ExitReason::Normal),
            Err(e) => Err(e.to_string()),
        }
    }

    /// An exit signal from the peer's `from` to our process `to` (ENP 107).
    pub(crate) fn deliver_exit(&self, peer: &Peer, from: u64, to: u64, payload: &[u8]) -> Result<(), String> {
        let reason = self.reason_in(peer, payload).map_err(|e| format!("an exit frame's reason: {e}"))?;
        let to = Pid { node: self.name, id: to, creation: self.creation };
        self.send_exit(peer.pid(from), &to, reason).map_err(|e| format!("exit to {to}: {e}"))
    }

    /// A Terminate frame from `peer`: its `target` ended with the reason in `payload`.
    pub(crate) fn deliver_terminate(&self, peer: &Peer, target: Target, payload: &[u8]) -> Result<(), String> {
        let reason = self.reason_in(peer, payload).map_err(|e| format!("a terminate frame's reason: {e}"))?;
        for (consumer, kind) in peer.take_watchers(&target) {
            self.signal(consumer, kind, target.clone(), &reason);
        }
        Ok(())
    }

    /// The connection to `peer` is gone: every relation on its targets fires with
    /// `NoConnection` (a monitor of the node itself too).
    pub(crate) fn peer_down(&self, peer: &Peer) {
        for (target, consumer, kind) in peer.take_all_watchers() {
            self.signal(consumer, kind, target, &ExitReason::NoConnection);
        }
        self.peer_events_down(peer);
    }

    /// `Target::Pid` of the peer named by id, for a Terminate frame.
    pub(crate) fn peer_target_pid(peer: &Peer, id: u64) -> Target {
        Target::Pid(peer.pid(id))
    }

    /// `Target::Name` of the peer's process `name`.
    pub(crate) fn peer_target_name(peer: &Peer, name: &str) -> Target {
        Target::Name(ProcessId { name: name.into(), node: peer.name })
    }
}
