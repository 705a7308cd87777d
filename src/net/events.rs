//! Events across nodes (Ergo's `LinkEvent`/`MonitorEvent` on another node's event, ENP 105
//! and 185; D215, D216).
//!
//! Both nodes keep tables, as for process relations ([`super::relations`]): the consumer's
//! node records its processes in [`Peer::watchers`](super::network::Peer) under the event,
//! the producer's node records the remote consumer in the event itself (`node::events`), and
//! a publish sends one frame per consuming node, which fans it out to its own consumers. The
//! event's end sends one Terminate per node. Setting up is asynchronous as for Pids (D205):
//! the buffered messages the producer's answer carries reach the consumer as ordinary event
//! messages, ahead of the messages published after it subscribed.
//!
//! Runs on the publisher's thread (sending) and in a link's loop (receiving). Never: blocks.

use super::edf::{Decoder, EdfRegistered, Encoder, ErrorValue, Registry, TypeDesc, Value, ergo_types as wire};
use super::network::{Network, Peer, priority_byte, priority_of};
use super::proto::{Enp, Prio, order};
use crate::error::Error;
use crate::message::{Atom, Envelope, Event, EventData, Message, MessageEvent, Name, Payload, Pid, Priority, Ref};
use crate::node::NodeInner;
use crate::node::watch::Kind;
use std::collections::VecDeque;
use std::sync::Arc;

/// The buffered messages of an event as Go answers a `LinkEvent`/`MonitorEvent`: a
/// `[]gen.MessageEvent`. A message whose type cannot travel is left out (it could not have
/// been published to this node either).
fn buffered_value(reg: &Registry, buffer: &VecDeque<MessageEvent>) -> Value {
    let name = <wire::MessageEvent as EdfRegistered>::NAME;
    let items = buffer
        .iter()
        .filter_map(|m| {
            let mut bytes = Vec::new();
            reg.encode_shared(&*m.0.message, &mut Encoder::new(&mut bytes).with_registry(reg)).ok()?;
            let message = Decoder::new(&bytes, reg).decode_value().ok()?;
            let fields = vec![Value::Event(m.0.event.clone()), Value::I64(m.0.timestamp as i64), message];
            Some(Value::reg(name, Value::Struct(fields)))
        })
        .collect();
    Value::slice(TypeDesc::Reg(Arc::from(name)), items)
}

/// The messages of a `[]gen.MessageEvent` answer (see [`buffered_value`]), each back as the
/// Rust type the registry gives it (as a 105 frame's payload would be).
fn buffered_messages(reg: &Registry, event: &Event, result: Value) -> Vec<MessageEvent> {
    let Value::Slice { items: Some(items), .. } = result else { return Vec::new() };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Reg(_, inner) = item else { continue };
        let Value::Struct(mut fields) = *inner else { continue };
        let (Some(message), Some(Value::I64(timestamp))) = (fields.pop(), fields.pop()) else { continue };
        let mut bytes = Vec::new();
        if Encoder::new(&mut bytes).with_registry(reg).encode(&message).is_err() {
            continue;
        }
        let Ok(msg) = reg.decode_message(&mut Decoder::new(&bytes, reg)) else { continue };
        let Ok(message) = shared_payload(reg, msg) else { continue };
        out.push(MessageEvent(Arc::new(EventData { event: event.clone(), timestamp: timestamp as u64, message })));
    }
    out
}

/// A payload as every consumer of an event shares it.
fn shared_payload(reg: &Registry, msg: Message) -> Result<Box<dyn std::any::Any + Send + Sync>, String> {
    reg.share(msg).map_err(|m| format!("an event's payload of type {} cannot be shared", m.type_name()))
}

impl NodeInner {
    /// Sends one published message to each of `nodes`, which have consumers of its event.
    pub(crate) fn publish_remote(&self, nodes: &[Atom], from: Pid, priority: Priority, published: &MessageEvent) {
        let Some(net) = self.net.as_ref() else { return };
        let reg = net.registry();
        // Encoded once for every node.
        let mut body = Vec::new();
        if let Err(e) = reg.encode_shared(&*published.0.message, &mut Encoder::new(&mut body).with_registry(reg)) {
            tracing::warn!("network: an event message of {} cannot travel: {e}", published.0.event.name);
            return;
        }
        let name = published.0.event.name.as_bytes();
        let prio = Prio::new(priority_byte(priority), false);
        let (enp, route) = Enp::event(from.id, prio, published.0.timestamp as i64, name, true);
        let compression = self.compression_for(net, from);
        for node in nodes {
            // No connection: the consumers there have had their NoConnection already.
            let Some(peer) = net.peer(*node) else { continue };
            let payload = |b: &mut Vec<u8>| {
                b.extend_from_slice(&body);
                Ok(())
            };
            let sent = peer.push_frame_with(route, &enp, payload, compression.as_ref());
            if let Err(e) = sent {
                tracing::debug!("network: an event message to {node} failed: {e}");
            }
        }
    }

    /// A published message of the peer's event `name` (ENP 105): to every local consumer of it.
    pub(crate) fn deliver_event(
        &self,
        peer: &Peer,
        from: u64,
        prio: Prio,
        timestamp: i64,
        name: &[u8],
        payload: &[u8],
    ) -> Result<(), String> {
        let net = self.net.as_ref().ok_or("no network")?;
        let name = std::str::from_utf8(name).map_err(|_| "an event name is not UTF-8".to_string())?;
        let event = Event { name: Name::new(name), node: peer.name };
        let consumers = peer.consumers_of(&crate::message::Target::Event(event.clone()));
        if consumers.is_empty() {
            // Published before our unsubscription reached the producer.
            return Ok(());
        }
        let mut dec = Decoder::new(payload, net.registry()).with_caches(&peer.caches);
        let msg = net.registry().decode_message(&mut dec).map_err(|e| format!("an event's payload: {e}"))?;
        let message = shared_payload(net.registry(), msg)?;
        let published = MessageEvent(Arc::new(EventData { event, timestamp: timestamp as u64, message }));
        let from = peer.pid(from);
        for pid in consumers {
            if let Some(entry) = self.table.get(&pid) {
                let envelope = Envelope { from, payload: Payload::Event(published.clone()) };
                self.push_signal(&entry, priority_of(prio), envelope);
            }
        }
        Ok(())
    }

    /// The peer answered our process `consumer`'s subscription to its event `event` with the
    /// buffered messages in `result`: they go to the consumer, oldest first.
    pub(crate) fn deliver_buffered(&self, net: &Network, consumer: Pid, event: &Event, result: Value) {
        let Some(entry) = self.table.get(&consumer) else { return };
        for published in buffered_messages(net.registry(), event, result) {
            let envelope = Envelope { from: self.core_pid(), payload: Payload::Event(published) };
            self.push_signal(&entry, Priority::Main, envelope);
        }
    }

    /// A peer's process `source` starts (`on`) or stops watching our event `event`; answered
    /// with a `MessageResult` (the buffered messages for a start, as Go answers).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn remote_event_request(
        &self,
        net: &Network,
        peer: &Peer,
        kind: Kind,
        on: bool,
        source: Pid,
        event: &Event,
        r: Ref,
    ) -> Result<(), String> {
        let reg = net.registry();
        let push = |route: order::Route, result: wire::MessageResult| {
            let reply = Message::new(result);
            peer.push_frame(route, &Enp::MessageAny, |b| {
                reg.encode_message(&reply, &mut Encoder::new(b).with_registry(reg))
            })
            .map_err(|e| format!("answering an event request: {e}"))
        };
        let route = order::request_result(source.id, order::Target::Event);
        if source.node != peer.name {
            // Only the peer's own processes subscribe through its connection: a consumer named
            // on another node would outlive this connection in the producer's tables.
            let error =
                Some(ErrorValue::new(&super::network::error_text(&Error::NotAllowed("a consumer of another node"))));
            return push(route, wire::MessageResult { error, result: Value::Nil, r#ref: r });
        }
        if !on {
            if event.node == self.name {
                self.detach(source, crate::message::Target::Event(event.clone()), kind);
            }
            return push(route, wire::MessageResult { error: None, result: Value::Nil, r#ref: r });
        }
        // Noted before subscribing: a connection lost meanwhile then drops the consumer too.
        let noted = peer.note_consumed_event(event.name.clone());
        let mut answered = None;
        let outcome = if event.node == self.name {
            self.subscribe_remote(source, &event.name, kind, |producer, buffer| {
                // On the link the event's messages take, so the answer comes first (D215).
                let route = order::Route { link: order::key(producer.id), order: order::key(source.id) };
                let result = wire::MessageResult { error: None, result: buffered_value(reg, buffer), r#ref: r };
                answered = Some(push(route, result));
            })
        } else {
            Err(Error::EventUnknown)
        };
        match outcome {
            Ok(()) => answered.unwrap_or(Ok(())),
            Err(e) => {
                if noted {
                    // Names of events that were never consumed do not pile up (a peer asking
                    // for made-up ones).
                    peer.forget_consumed_event(&event.name);
                }
                let error = Some(ErrorValue::new(&super::network::error_text(&e)));
                push(route, wire::MessageResult { error, result: Value::Nil, r#ref: r })
            }
        }
    }

    /// The connection to `peer` is gone: its processes no longer consume our events — unless
    /// the connection that displaced it (D206, D226) carries them on.
    pub(crate) fn peer_events_down(&self, peer: &Peer) {
        let names = peer.take_consumed_events();
        if names.is_empty() {
            return;
        }
        if let Some(next) = peer.successor() {
            for name in names {
                next.note_consumed_event(name);
            }
            return;
        }
        self.drop_remote_consumers(peer.name, &names);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Atom;

    #[test]
    fn buffered_messages_travel_in_a_result_as_go_sends_them() {
        let reg = Registry::builtin();
        let event = Event { name: Name::new("news"), node: Atom::new("a@localhost") };
        let buffer: VecDeque<MessageEvent> =
            [Box::new(7u64) as Box<dyn std::any::Any + Send + Sync>, Box::new(String::from("x"))]
                .into_iter()
                .map(|message| MessageEvent(Arc::new(EventData { event: event.clone(), timestamp: 5, message })))
                .collect();
        let result = wire::MessageResult {
            error: None,
            result: buffered_value(reg, &buffer),
            r#ref: Ref { node: event.node, creation: 1, id: [1, 2, 3] },
        };
        let mut bytes = Vec::new();
        reg.encode_message(&Message::new(result), &mut Encoder::new(&mut bytes).with_registry(reg)).unwrap();
        let back = reg.decode_message(&mut Decoder::new(&bytes, reg)).unwrap();
        let back = back.downcast::<wire::MessageResult>().ok().unwrap();
        let got = buffered_messages(reg, &event, back.result);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].message::<u64>(), Some(&7));
        assert_eq!(got[1].message::<String>().map(String::as_str), Some("x"));
        assert_eq!((got[0].timestamp(), got[0].event()), (5, &event));
    }
}
