//! Process identifiers: [`Atom`] (an interned node name), [`Name`] (a process or event name),
//! [`Pid`], [`Ref`] and [`From`].
//!
//! A `Pid` is `Copy` and 24 bytes: the node's name as an interned atom, a u64 id and the node's
//! creation. The id packs the process-table slot (low 32 bits) and the slot's generation (high 32
//! bits), so a stale `Pid` whose slot has been reused is recognised and refused; a slot whose
//! generation is exhausted is retired, never reused (docs/decisions.md D27).
//!
//! Node names are few and live as long as the program, so interning them (a global table, a
//! leaked string each) is cheap and makes a `Pid` `Copy`. Process and event names are not: a
//! program may register millions over its life, so they are [`Name`]s, which own their text and
//! free it with the last copy (D22).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

/// An interned string, for node names only (a bounded set). Equality is a pointer comparison;
/// each distinct string is stored once for the life of the OS process (interning takes a global
/// lock and leaks the text: never intern what a user or a peer can make up without bound; process
/// and event names are [`Name`]s). One word (a thin pointer), so a `Pid` is three words.
#[derive(Clone, Copy)]
pub struct Atom(&'static String);

/// Text → its one leaked copy (keyed by `&str` so that a lookup allocates nothing).
fn interner() -> &'static Mutex<HashMap<&'static str, &'static String>> {
    static TABLE: OnceLock<Mutex<HashMap<&'static str, &'static String>>> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The most distinct atoms one OS process interns through [`Atom::try_new`], the path for
/// names that come from outside (a peer's node names): the table never grows past it, so a
/// peer that sends ever new node names gets an error, not our memory (~100 bytes each).
pub const MAX_ATOMS: usize = 1 << 16;

/// [`Atom::try_new`] refused a new name: the atom table holds [`MAX_ATOMS`] already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the atom table is full ({MAX_ATOMS} distinct node names); refusing a new one")]
pub struct AtomTableFull;

impl Atom {
    /// Interns `name` (once per distinct string) and returns its atom. For names the program
    /// itself chooses (its node's name, its peers'); for names from outside use
    /// [`Atom::try_new`].
    pub fn new(name: &str) -> Atom {
        Atom::intern(name, usize::MAX).unwrap_or_else(|AtomTableFull| unreachable!("no cap"))
    }

    /// Interns `name` unless that would take the table past [`MAX_ATOMS`] distinct names: the
    /// form for names decoded from the network, so that they cannot grow it without bound.
    ///
    /// # Errors
    /// [`AtomTableFull`] when `name` is new and the table is full.
    pub fn try_new(name: &str) -> Result<Atom, AtomTableFull> {
        Atom::intern(name, MAX_ATOMS)
    }

    fn intern(name: &str, cap: usize) -> Result<Atom, AtomTableFull> {
        let mut table = interner().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = table.get(name) {
            return Ok(Atom(s));
        }
        if table.len() >= cap {
            return Err(AtomTableFull);
        }
        let s: &'static String = Box::leak(Box::new(name.to_owned()));
        table.insert(s.as_str(), s);
        Ok(Atom(s))
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

/// Longest name stored inline (without a heap allocation) in a [`Name`].
const INLINE: usize = 22;

/// A process, event or logger name: an immutable string compared, ordered and hashed by its
/// content, cheap to clone. Names of up to 22 bytes are stored inline (making one allocates
/// nothing); longer ones share one reference-counted copy. The text is freed with the last copy:
/// registering and unregistering any number of distinct names leaves nothing behind.
///
/// `Name` borrows as `str`, so maps keyed by `Name` are searched with a `&str` without building
/// a `Name`.
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Arc<str>),
}

impl Name {
    /// A name with the text `s`.
    pub fn new(s: &str) -> Name {
        if s.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Name(Repr::Inline { len: s.len() as u8, bytes })
        } else {
            Name(Repr::Heap(Arc::from(s)))
        }
    }

    /// The name's text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                let bytes = &bytes[..usize::from(*len)];
                // SAFETY: `bytes` is a prefix of the buffer that `new` copied from a `&str`, cut
                // at that string's length, so it is valid UTF-8; nothing mutates it afterwards.
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            Repr::Heap(s) => s,
        }
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}
impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}
impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}
impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Name {}
impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `str` hashes: required by `Borrow<str>` (lookups by `&str`).
        self.as_str().hash(state)
    }
}
impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}
impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'", self.as_str())
    }
}
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl std::convert::From<&str> for Name {
    fn from(s: &str) -> Name {
        Name::new(s)
    }
}
impl std::convert::From<String> for Name {
    fn from(s: String) -> Name {
        Name::new(&s)
    }
}

/// A process identifier. Works the same whether the process is local or (later) remote.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid {
    /// The node the process lives on.
    pub node: Atom,
    /// Slot (low 32 bits) and generation (high 32 bits) in the node's process table.
    pub id: u64,
    /// The node's creation (its start time; Ergo's `Creation`, an `int64` on the wire): a Pid
    /// from an earlier run of a node never matches.
    pub creation: i64,
}

impl Pid {
    pub(crate) fn from_parts(node: Atom, creation: i64, slot: u32, generation: u32) -> Pid {
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

/// A unique reference: identifies one request (a `call`), an alias, an event's token.
///
/// As wide as Ergo's `gen.Ref` (three 64-bit words) so that a reference made by any Ergo node
/// round-trips. This node makes `[n, 0, 0]` from one counter (unique within its run; the
/// creation tells runs apart), as Go Ergo does for the first 2^46 refs of a run; a peer's refs
/// may use all three words.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref {
    /// The node that made the reference.
    pub node: Atom,
    /// That node's creation.
    pub creation: i64,
    /// Unique within the node's run.
    pub id: [u64; 3],
}

impl Ref {
    /// The counter word of a ref this node made (see [`Ref`]).
    pub(crate) fn local_id(&self) -> u64 {
        self.id[0]
    }
}

impl fmt::Debug for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            [n, 0, 0] => write!(f, "Ref#<{}.{}>", self.node, n),
            [a, b, c] => write!(f, "Ref#<{}.{}.{}.{}>", self.node, a, b, c),
        }
    }
}

/// Who made a request: the caller's Pid and the request's [`Ref`]. Keep it to reply later with
/// `Context::send_response`.
///
/// A request's ref is always made on the caller's node (Ergo's too: ENP carries only its three
/// words, the connection implies the node), so `From` keeps the words and takes the node and
/// creation from the Pid: 48 bytes, which every process handling a call holds across its
/// callback.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct From {
    /// The calling process (or the node's embedding pseudo-process for `Node::call`).
    pub pid: Pid,
    /// The words of the request's ref ([`From::reference`]); a reply carrying any other ref
    /// is discarded by the caller.
    pub ref_id: [u64; 3],
}

impl From {
    /// The request `n` of this node's counter, made by `pid` (a local request carries only
    /// that word).
    pub(crate) fn local(pid: Pid, n: u64) -> From {
        From { pid, ref_id: [n, 0, 0] }
    }

    /// The request's reference (made on the caller's node).
    pub fn reference(&self) -> Ref {
        Ref { node: self.pid.node, creation: self.pid.creation, id: self.ref_id }
    }

    /// The counter word of a request made on this node (see [`Ref`]).
    pub(crate) fn local_id(&self) -> u64 {
        self.ref_id[0]
    }
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
    fn try_new_finds_known_atoms_and_caps_new_ones() {
        let a = Atom::new("known@host");
        assert_eq!(Atom::try_new("known@host"), Ok(a));
        assert_eq!(Atom::intern("surely-new@host", 0), Err(AtomTableFull), "a new name over the cap");
        assert_eq!(Atom::intern("known@host", 0), Ok(a), "a known name is found even at the cap");
    }

    #[test]
    fn names_compare_by_content_inline_or_shared() {
        let short = Name::new("worker-7");
        let long = Name::new("a name well beyond twenty-two bytes");
        assert_eq!(short, Name::from(String::from("worker-7")));
        assert_eq!(long, Name::from(String::from("a name well beyond twenty-two bytes")));
        assert_ne!(short, long);
        assert_eq!(short.as_str(), "worker-7");
        assert_eq!(Name::new("").as_str(), "");
        assert_eq!(Name::new(&"x".repeat(22)).as_str().len(), 22);
        assert_eq!(Name::new(&"é".repeat(12)).as_str(), "é".repeat(12));
        let mut map = std::collections::HashMap::new();
        map.insert(long.clone(), 1);
        map.insert(short.clone(), 2);
        assert_eq!(map.get("a name well beyond twenty-two bytes"), Some(&1));
        assert_eq!(map.get("worker-7"), Some(&2));
        assert_eq!(size_of::<Name>(), 24);
    }

    #[test]
    fn pid_packs_slot_and_generation() {
        let p = Pid::from_parts(Atom::new("x@y"), 7, 12345, 9);
        assert_eq!(p.slot(), 12345);
        assert_eq!(p.generation(), 9);
        assert_eq!(p.to_string(), "<x@y.12345.9>");
    }
}
