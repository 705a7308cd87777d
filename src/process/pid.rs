//! Process identifiers: [`Atom`] (an interned name), [`Pid`], [`Ref`] and [`From`].
//!
//! A `Pid` is `Copy` and 24 bytes: the node's name as an interned atom, a u64 id and the node's
//! creation. The id packs the process-table slot (low 32 bits) and the slot's generation (high 32
//! bits), so a stale `Pid` whose slot has been reused is recognised and refused.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// An interned string: node names and, later, process and event names. Equality is a pointer
/// comparison; each distinct string is stored once for the life of the OS process. One word
/// (a thin pointer), so a `Pid` is three words.
#[derive(Clone, Copy)]
pub struct Atom(&'static String);

fn interner() -> &'static Mutex<HashSet<&'static String>> {
    static TABLE: OnceLock<Mutex<HashSet<&'static String>>> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(HashSet::new()))
}

impl Atom {
    /// Interns `name` (once per distinct string) and returns its atom.
    pub fn new(name: &str) -> Atom {
        let mut table = interner().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = table.get(&name.to_string()) {
            return Atom(s);
        }
        let s: &'static String = Box::leak(Box::new(name.to_owned()));
        table.insert(s);
        Atom(s)
    }

    /// The atom's text.
    pub fn as_str(&self) -> &'static str {
        self.0.as_str()
    }
}

impl PartialEq for Atom {
    fn eq(&self, other: &Atom) -> bool {
        // Interned: one address per distinct string.
        std::ptr::eq(self.0, other.0)
    }
}
impl Eq for Atom {}
impl std::hash::Hash for Atom {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::ptr::hash(self.0, state)
    }
}
impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Atom) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Atom {
    fn cmp(&self, other: &Atom) -> std::cmp::Ordering {
        self.0.as_str().cmp(other.0.as_str())
    }
}
impl fmt::Debug for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'", self.0)
    }
}
impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A process identifier. Works the same whether the process is local or (later) remote.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid {
    /// The node the process lives on.
    pub node: Atom,
    /// Slot (low 32 bits) and generation (high 32 bits) in the node's process table.
    pub id: u64,
    /// The node's creation (its start time): a Pid from an earlier run of a node never matches.
    pub creation: u64,
}

impl Pid {
    pub(crate) fn from_parts(node: Atom, creation: u64, slot: u32, generation: u32) -> Pid {
        Pid { node, id: (u64::from(generation) << 32) | u64::from(slot), creation }
    }
    pub(crate) fn slot(&self) -> u32 {
        self.id as u32
    }
    pub(crate) fn generation(&self) -> u32 {
        (self.id >> 32) as u32
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Ergo prints <CRC32(node).id>; we print the node name, the slot and the generation.
        write!(f, "<{}.{}.{}>", self.node, self.slot(), self.generation())
    }
}

/// A unique reference: identifies one request (a `call`) and, later, aliases and timers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref {
    /// The node that made the reference.
    pub node: Atom,
    /// That node's creation.
    pub creation: u64,
    /// Unique within the node's run.
    pub id: u64,
}

impl Ref {
    /// The ref `id` made on `pid`'s node (a request carries only the id; the rest is the
    /// caller's).
    pub(crate) fn made_by(pid: Pid, id: u64) -> Ref {
        Ref { node: pid.node, creation: pid.creation, id }
    }
}

impl fmt::Debug for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ref#<{}.{}>", self.node, self.id)
    }
}

/// Who made a request: the caller's Pid and the request's [`Ref`]. Keep it to reply later with
/// `Context::send_response`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct From {
    /// The calling process (or the node's embedding pseudo-process for `Node::call`).
    pub pid: Pid,
    /// Identifies this request; a reply carrying any other ref is discarded by the caller.
    pub reference: Ref,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_intern() {
        let a = Atom::new("n1@host");
        let b = Atom::new(&String::from("n1@host"));
        assert_eq!(a, b);
        assert_ne!(a, Atom::new("n2@host"));
        assert_eq!(a.as_str(), "n1@host");
    }

    #[test]
    fn pid_packs_slot_and_generation() {
        let p = Pid::from_parts(Atom::new("x@y"), 7, 12345, 9);
        assert_eq!(p.slot(), 12345);
        assert_eq!(p.generation(), 9);
        assert_eq!(p.to_string(), "<x@y.12345.9>");
    }
}
