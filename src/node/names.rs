//! Names and aliases: the node's [`Registry`] of who answers to a name, an alias or an event
//! name, and registering and dropping names and aliases.
//!
//! A send by name or alias read-locks one registry shard and nothing else. Owns: the registry
//! maps. Never: delivers anything itself (watchers of a dropped name are fired through
//! `watch.rs`), or holds a registry lock while calling into another process's entry except to
//! record the name there (the order is registry shard, then the process's relations lock).

use super::NodeInner;
use super::events::EventEntry;
use super::watch::remove_first;
use crate::error::Error;
use crate::message::{Alias, ExitReason, Name, Pid, ProcessId, Target};
use crate::process::entry::ProcessEntry;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Shards per registry map: a send by name or alias read-locks one shard, so senders to
/// different names touch different lock words, and registering a name blocks only the senders
/// whose names share its shard.
const REGISTRY_SHARDS: usize = 16;

/// A map split into independently locked shards by the key's hash.
pub(super) struct Sharded<K, V> {
    shards: Box<[RwLock<HashMap<K, V>>]>,
}

impl<K: Hash + Eq, V> Default for Sharded<K, V> {
    fn default() -> Self {
        Sharded { shards: (0..REGISTRY_SHARDS).map(|_| RwLock::new(HashMap::new())).collect() }
    }
}

impl<K: Hash + Eq, V> Sharded<K, V> {
    /// The shard holding `key`. A key and what it borrows as (`Name` and `str`) hash alike, so
    /// a lookup by `&str` finds the shard of the `Name`.
    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &RwLock<HashMap<K, V>> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        &self.shards[(h.finish() as usize) % REGISTRY_SHARDS]
    }
    pub(super) fn read<Q: Hash + ?Sized>(&self, key: &Q) -> RwLockReadGuard<'_, HashMap<K, V>> {
        self.shard(key).read().unwrap_or_else(|p| p.into_inner())
    }
    pub(super) fn write<Q: Hash + ?Sized>(&self, key: &Q) -> RwLockWriteGuard<'_, HashMap<K, V>> {
        self.shard(key).write().unwrap_or_else(|p| p.into_inner())
    }
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().unwrap_or_else(|p| p.into_inner()).len()).sum()
    }
}

/// Node-wide maps from names, aliases and event names to their owners. Keyed by content
/// (`Name`): nothing is interned, so a name's memory goes when its registration does, and
/// lookups by `&str` build nothing.
#[derive(Default)]
pub(crate) struct Registry {
    pub(super) names: Sharded<Name, Arc<ProcessEntry>>,
    pub(super) aliases: Sharded<Alias, Arc<ProcessEntry>>,
    pub(super) events: Sharded<Name, Arc<EventEntry>>,
}

impl Registry {
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        (self.names.len(), self.aliases.len(), self.events.len())
    }

    pub(super) fn entry_named(&self, name: &str) -> Option<Arc<ProcessEntry>> {
        self.names.read(name).get(name).cloned()
    }

    pub(super) fn event_named(&self, name: &str) -> Option<Arc<EventEntry>> {
        self.events.read(name).get(name).cloned()
    }
}

pub(super) fn valid_name(name: &str) -> Result<Name, Error> {
    if name.is_empty() || name.len() > 255 { Err(Error::BadName) } else { Ok(Name::new(name)) }
}

impl NodeInner {
    /// The Pid registered under `name`, if any.
    pub(crate) fn whereis(&self, name: &str) -> Option<Pid> {
        self.registry.entry_named(name).filter(|e| e.is_alive()).map(|e| e.pid)
    }

    pub(crate) fn register_name(&self, entry: &Arc<ProcessEntry>, name: &str) -> Result<(), Error> {
        let name = valid_name(name)?;
        let mut names = self.registry.names.write(&name);
        if names.contains_key(&name) {
            return Err(Error::Taken);
        }
        let set = entry.with_rel(|r| {
            if r.name.is_some() {
                return false;
            }
            r.name = Some(name.clone());
            true
        });
        match set {
            None => Err(Error::ProcessUnknown),
            Some(false) => Err(Error::Taken),
            Some(true) => {
                names.insert(name, entry.clone());
                Ok(())
            }
        }
    }

    /// Drops `entry`'s name (only if it is `expected`, when given); watchers of the name fire
    /// with `Unregistered`.
    pub(crate) fn unregister_name(&self, entry: &Arc<ProcessEntry>, expected: Option<&str>) -> Result<(), Error> {
        let name = entry
            .with_rel(|r| match (&r.name, expected) {
                (Some(n), Some(e)) if n.as_str() != e => None,
                _ => r.name.take(),
            })
            .flatten()
            .ok_or(Error::NameUnknown)?;
        self.drop_name(entry, &name);
        let id = ProcessId { name, node: self.name };
        self.fire_identity(entry, Target::Name(id), &ExitReason::Unregistered);
        Ok(())
    }

    /// Drops the registration of `name`, whichever process holds it (Ergo's
    /// `node.UnregisterName`); returns that process.
    pub(crate) fn unregister_name_of(&self, name: &str) -> Result<Pid, Error> {
        let entry = self.registry.entry_named(name).ok_or(Error::NameUnknown)?;
        self.unregister_name(&entry, Some(name))?;
        Ok(entry.pid)
    }

    pub(super) fn drop_name(&self, entry: &Arc<ProcessEntry>, name: &Name) {
        let mut names = self.registry.names.write(name);
        if names.get(name).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            names.remove(name);
        }
    }

    pub(crate) fn create_alias(&self, entry: &Arc<ProcessEntry>) -> Result<Alias, Error> {
        let alias = Alias(self.make_ref());
        let mut aliases = self.registry.aliases.write(&alias);
        entry.with_rel(|r| r.aliases.push(alias)).ok_or(Error::ProcessUnknown)?;
        aliases.insert(alias, entry.clone());
        Ok(alias)
    }

    pub(crate) fn delete_alias(&self, entry: &Arc<ProcessEntry>, alias: Alias) -> Result<(), Error> {
        {
            let mut aliases = self.registry.aliases.write(&alias);
            match aliases.get(&alias) {
                None => return Err(Error::AliasUnknown),
                Some(owner) if !Arc::ptr_eq(owner, entry) => return Err(Error::AliasOwner),
                Some(_) => {
                    aliases.remove(&alias);
                }
            }
        }
        entry.with_rel(|r| remove_first(&mut r.aliases, &alias));
        self.fire_identity(entry, Target::Alias(alias), &ExitReason::Unregistered);
        Ok(())
    }
}
