//! The process table: a sharded slab of live processes, addressed by the slot and generation
//! packed in a [`Pid`]'s id.
//!
//! A slot's generation is bumped when its process leaves, so a stale Pid finds a different
//! generation and is refused (`Error::ProcessUnknown`) instead of reaching the slot's new
//! occupant. A slot whose generation reaches `u32::MAX` is retired rather than wrapped, so no
//! Pid ever names two processes (docs/decisions.md D27). Owns: `Arc`s of live entries. Never:
//! holds a lock while calling out.
//!
//! The table is generic over what it holds (a `ProcessEntry` in the node) only so that its loom
//! model can fill it with plain values; its locks and counters come from `crate::sync`.

use crate::message::{Atom, Pid};
use crate::process::entry::ProcessEntry;
use crate::sync::{AtomicUsize, RwLock};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Shards of the slab (fewer under loom, to keep the model small).
#[cfg(not(loom))]
const SHARDS: usize = 64;
#[cfg(loom)]
const SHARDS: usize = 2;

struct Slot<E> {
    generation: u32,
    entry: Option<Arc<E>>,
}

struct Shard<E> {
    slots: Vec<Slot<E>>,
    free: Vec<u32>,
}

/// Live processes by Pid (see the module documentation).
pub(crate) struct ProcessTable<E = ProcessEntry> {
    node: Atom,
    creation: i64,
    shards: Box<[RwLock<Shard<E>>]>,
    next_shard: AtomicUsize,
    count: AtomicUsize,
}

impl<E> ProcessTable<E> {
    pub(crate) fn new(node: Atom, creation: i64) -> Self {
        ProcessTable {
            node,
            creation,
            shards: (0..SHARDS).map(|_| RwLock::new(Shard { slots: Vec::new(), free: Vec::new() })).collect(),
            next_shard: AtomicUsize::new(0),
            count: AtomicUsize::new(0),
        }
    }

    /// Reserves a slot, builds the entry for its Pid with `make`, and publishes it.
    /// Returns `None` when the table is full (2^32 slots).
    pub(crate) fn insert(&self, make: impl FnOnce(Pid) -> E) -> Option<Arc<E>> {
        let s = self.next_shard.fetch_add(1, Ordering::Relaxed) % SHARDS;
        let mut shard = self.shards[s].write().unwrap_or_else(|p| p.into_inner());
        let local = match shard.free.pop() {
            Some(i) => i as usize,
            None => {
                shard.slots.push(Slot { generation: 1, entry: None });
                shard.slots.len() - 1
            }
        };
        let slot = u32::try_from(local * SHARDS + s).ok()?;
        let generation = shard.slots[local].generation;
        let entry = Arc::new(make(Pid::from_parts(self.node, self.creation, slot, generation)));
        shard.slots[local].entry = Some(entry.clone());
        self.count.fetch_add(1, Ordering::Relaxed);
        Some(entry)
    }

    /// The live process with this Pid, if any.
    pub(crate) fn get(&self, pid: &Pid) -> Option<Arc<E>> {
        if pid.node != self.node || pid.creation != self.creation {
            return None;
        }
        let slot = pid.slot() as usize;
        let shard = self.shards[slot % SHARDS].read().unwrap_or_else(|p| p.into_inner());
        let s = shard.slots.get(slot / SHARDS)?;
        if s.generation != pid.generation() {
            return None;
        }
        s.entry.clone()
    }

    /// Frees the process's slot (bumping its generation). Idempotent.
    pub(crate) fn remove(&self, pid: &Pid) -> Option<Arc<E>> {
        let slot = pid.slot() as usize;
        let mut shard = self.shards[slot % SHARDS].write().unwrap_or_else(|p| p.into_inner());
        let local = slot / SHARDS;
        let s = shard.slots.get_mut(local)?;
        if s.generation != pid.generation() || s.entry.is_none() {
            return None;
        }
        let entry = s.entry.take();
        // Wrapping would hand an old Pid's generation to a new process: a slot that has used
        // its last generation is retired (it keeps that generation and no entry, so every Pid
        // of it stays refused). That costs one empty slot per 4 billion processes through it.
        if let Some(next) = s.generation.checked_add(1) {
            s.generation = next;
            shard.free.push(local as u32);
        }
        self.count.fetch_sub(1, Ordering::Relaxed);
        entry
    }

    /// Sets the generation the free slot `slot` will issue next (to test exhaustion without
    /// four billion spawns).
    #[cfg(all(test, not(loom)))]
    fn force_generation(&self, slot: u32, generation: u32) {
        let slot = slot as usize;
        let mut shard = self.shards[slot % SHARDS].write().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = shard.slots.get_mut(slot / SHARDS) {
            s.generation = generation;
        }
    }

    /// Live processes.
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// A snapshot of every live entry.
    pub(crate) fn entries(&self) -> Vec<Arc<E>> {
        let mut out = Vec::with_capacity(self.len());
        for shard in self.shards.iter() {
            let shard = shard.read().unwrap_or_else(|p| p.into_inner());
            out.extend(shard.slots.iter().filter_map(|s| s.entry.clone()));
        }
        out
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::process::entry::EntryInit;

    fn entry(pid: Pid) -> ProcessEntry {
        ProcessEntry::new(EntryInit::standalone(pid, crate::runtime::worker::Workers::one()))
    }

    #[test]
    fn stale_pid_never_reaches_reused_slot() {
        let t = ProcessTable::new(Atom::new("t@h"), 1);
        // Fill every shard once so the next insert reuses a freed slot deterministically.
        let first: Vec<_> = (0..SHARDS).map(|_| t.insert(entry).unwrap().pid).collect();
        let old = first[0];
        assert!(t.remove(&old).is_some());
        assert!(t.get(&old).is_none());
        // Insert until slot reuse happens in the shard of `old`.
        let mut reused = None;
        for _ in 0..SHARDS {
            let p = t.insert(entry).unwrap().pid;
            if p.slot() == old.slot() {
                reused = Some(p);
            }
        }
        let new = reused.expect("slot reused");
        assert_ne!(new.generation(), old.generation());
        assert!(t.get(&old).is_none(), "stale pid must not resolve");
        assert_eq!(t.get(&new).unwrap().pid, new);
        assert!(t.remove(&old).is_none(), "stale remove is a no-op");
        assert_eq!(t.len(), SHARDS * 2 - 1);
    }

    #[test]
    fn an_exhausted_slot_is_retired_never_wrapped() {
        let t = ProcessTable::new(Atom::new("t@h"), 1);
        // The first Pid of a slot: generation 1.
        let ancient = t.insert(entry).unwrap().pid;
        assert_eq!(ancient.generation(), 1);
        // Every other shard once, so that the next insert lands in `ancient`'s shard again.
        for _ in 1..SHARDS {
            t.insert(entry).unwrap();
        }
        assert!(t.remove(&ancient).is_some());
        // Four billion processes later: the slot issues its last generation.
        t.force_generation(ancient.slot(), u32::MAX);
        let last = t.insert(entry).unwrap().pid;
        assert_eq!((last.slot(), last.generation()), (ancient.slot(), u32::MAX));
        assert!(t.remove(&last).is_some());
        // The slot is never handed out again; fresh slots are.
        let later: Vec<Pid> = (0..SHARDS * 2).map(|_| t.insert(entry).unwrap().pid).collect();
        assert!(later.iter().all(|p| p.slot() != ancient.slot()), "an exhausted slot was reused");
        assert!(t.get(&ancient).is_none(), "a first-generation Pid resolved to a later process");
        assert!(t.get(&last).is_none());
        assert!(t.remove(&last).is_none());
        assert_eq!(t.len(), SHARDS - 1 + SHARDS * 2);
    }

    #[test]
    fn foreign_node_or_creation_is_unknown() {
        let t = ProcessTable::new(Atom::new("t@h"), 1);
        let p = t.insert(entry).unwrap().pid;
        let other_node = Pid { node: Atom::new("u@h"), ..p };
        let other_creation = Pid { creation: 2, ..p };
        assert!(t.get(&other_node).is_none());
        assert!(t.get(&other_creation).is_none());
        assert!(t.get(&p).is_some());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! RELIABILITY.md R6, slot reuse: a Pid resolved while its process leaves and a new one takes
    //! its slot reaches the old entry or nothing, never the new occupant. The entries are the
    //! Pids they were made for, so a lookup shows whom it reached.

    use super::*;
    use loom::thread;

    #[test]
    fn loom_stale_pid_never_reaches_the_slots_new_occupant() {
        loom::model(|| {
            let table = loom::sync::Arc::new(ProcessTable::<Pid>::new(Atom::new("loom@h"), 1));
            let old = *table.insert(|pid| pid).expect("room");
            // The other shard once, so that the next insert lands in `old`'s shard again and
            // takes its slot when it is free.
            table.insert(|pid| pid).expect("room");
            let replacer = {
                let table = table.clone();
                thread::spawn(move || {
                    assert!(table.remove(&old).is_some());
                    *table.insert(|pid| pid).expect("room")
                })
            };
            let seen = table.get(&old).map(|e| *e);
            let new = replacer.join().expect("replacer");
            assert_eq!(new.slot(), old.slot(), "the model must reuse the slot");
            assert_ne!(new, old);
            assert!(seen.is_none() || seen == Some(old), "the stale Pid {old} reached {seen:?}");
            assert!(table.get(&old).is_none(), "a stale Pid resolves after its slot was reused");
            assert_eq!(table.get(&new).map(|e| *e), Some(new));
        });
    }
}
