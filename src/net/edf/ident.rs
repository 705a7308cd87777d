//! EDF for the identities: [`Pid`], [`Ref`], [`Alias`], [`ProcessId`], [`Event`]. Node names are
//! interned [`Atom`]s through the bounded node-name table; process and event names are
//! [`Name`]s (freed with their last copy), so nothing a peer sends grows a table without bound.

use super::decoder::Decoder;
use super::encoder::Encoder;
use super::error::EdfError;
use super::tag;
use super::types::{Edf, Kind, TypeDesc};
use crate::{Alias, Atom, Event, Pid, ProcessId, Ref};

use std::cell::Cell;

/// How many recently decoded node names each thread remembers.
const RECENT: usize = 8;

thread_local! {
    // A peer's frames name the same few nodes over and over: remembering the last few atoms
    // spares the interner's global lock (and its lookup) on nearly every PID decoded.
    static RECENT_NODES: [Cell<Option<Atom>>; RECENT] = const { [const { Cell::new(None) }; RECENT] };
    static NEXT_SLOT: Cell<usize> = const { Cell::new(0) };
}

/// Interns a node name received from the network.
pub(crate) fn intern_node(name: &str) -> Result<Atom, EdfError> {
    let hit = RECENT_NODES.with(|r| r.iter().find_map(|c| c.get().filter(|a| a.as_str() == name)));
    if let Some(a) = hit {
        return Ok(a);
    }
    let a = Atom::try_new(name).map_err(|_| EdfError::AtomTableFull)?;
    let slot = NEXT_SLOT.with(|n| {
        let s = n.get();
        n.set((s + 1) % RECENT);
        s
    });
    RECENT_NODES.with(|r| r[slot].set(Some(a)));
    Ok(a)
}

macro_rules! ident_type {
    ($t:ty, $tag:ident, $desc:ident) => {
        const KIND: Kind = Kind::Scalar;
        fn edf_type() -> TypeDesc {
            TypeDesc::$desc
        }
        #[inline]
        fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
            enc.put_u8(tag::$tag);
            Ok(())
        }
        #[inline]
        fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
            dec.expect(tag::$tag)
        }
    };
}

/// `gen.PID`: atom node · u64 id · i64 creation.
impl Edf for Pid {
    ident_type!(Pid, PID, Pid);
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_atom(self.node.as_str())?;
        enc.put_u64(self.id);
        enc.put_u64(self.creation as u64);
        Ok(())
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Pid, EdfError> {
        let node = dec.read_node()?;
        let id = dec.read_u64()?;
        let creation = dec.read_u64()? as i64;
        Ok(Pid { node, id, creation })
    }
}

fn encode_ref(r: &Ref, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
    enc.put_atom(r.node.as_str())?;
    enc.put_u64(r.creation as u64);
    for w in r.id {
        enc.put_u64(w);
    }
    Ok(())
}

fn decode_ref(dec: &mut Decoder<'_>) -> Result<Ref, EdfError> {
    let node = dec.read_node()?;
    let creation = dec.read_u64()? as i64;
    let id = [dec.read_u64()?, dec.read_u64()?, dec.read_u64()?];
    Ok(Ref { node, creation, id })
}

/// `gen.Ref`: atom node · i64 creation · 3×u64 id.
impl Edf for Ref {
    ident_type!(Ref, REF, Ref);
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        encode_ref(self, enc)
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Ref, EdfError> {
        decode_ref(dec)
    }
}

/// `gen.Alias`: the same layout as a Ref.
impl Edf for Alias {
    ident_type!(Alias, ALIAS, Alias);
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        encode_ref(&self.0, enc)
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Alias, EdfError> {
        Ok(Alias(decode_ref(dec)?))
    }
}

/// `gen.ProcessID`: atom node, then atom name.
impl Edf for ProcessId {
    ident_type!(ProcessId, PROCESS_ID, ProcessId);
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_atom(self.node.as_str())?;
        enc.put_atom(self.name.as_str())
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<ProcessId, EdfError> {
        let node = dec.read_node()?;
        Ok(ProcessId { name: dec.read_name()?, node })
    }
}

/// `gen.Event`: atom node, then atom name.
impl Edf for Event {
    ident_type!(Event, EVENT, Event);
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_atom(self.node.as_str())?;
        enc.put_atom(self.name.as_str())
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Event, EdfError> {
        let node = dec.read_node()?;
        Ok(Event { name: dec.read_name()?, node })
    }
}
