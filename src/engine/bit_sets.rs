//! The distinct permission sets of a tenant's service, each stored once.
//!
//! Access records hold many entries (one per node a user holds something on), and a set
//! of permissions as bits is 32 bytes. Entries name their set by a 4-byte id into this
//! table instead, which makes records about half the size: fewer cache lines for a check
//! to scan and less memory to copy. A service has few distinct sets (its security groups,
//! levels, the direct grants' sets and their unions), so the table stays small and hot.
//!
//! The table only grows while the process runs (a set no entry uses any more keeps its
//! id). A checkpoint stores only the sets in use, numbered anew in order of first use
//! ([`SetsInUse`]), and entries name them by that number: decoding reads the table back
//! as it is and needs to intern nothing (see `stored/`).

use std::sync::Arc;

use super::{model::FastMap, permission::PermissionBits};

/// The id of a permission set in a service's [`BitSets`]. The default is the first id,
/// a filler where a value is needed before the real one is known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct BitsId(u32);

/// Interned permission sets. Cloning shares them (two reference counts).
#[derive(Debug, Clone, Default)]
pub(crate) struct BitSets {
    // Arc: snapshots share the table; a write that adds a set copies it (it is small).
    sets: Arc<Vec<PermissionBits>>,
    ids: Arc<FastMap<PermissionBits, BitsId>>,
}

impl BitSets {
    /// How many sets the table holds.
    pub(crate) fn len(&self) -> usize {
        self.sets.len()
    }

    /// The set named by `id`, if this table gave it.
    #[inline]
    fn set(&self, id: BitsId) -> Option<&PermissionBits> {
        usize::try_from(id.0)
            .ok()
            .and_then(|index| self.sets.get(index))
    }

    /// The set named by `id`; no permission at all for an id this table never gave.
    pub(crate) fn get(&self, id: BitsId) -> PermissionBits {
        self.set(id).copied().unwrap_or_default()
    }

    /// Whether the set named by `id` holds permission `bit` (reads the one word it needs).
    #[inline]
    pub(crate) fn holds(&self, id: BitsId, bit: u16) -> bool {
        self.set(id).is_some_and(|set| set.contains(bit))
    }

    /// The first 64 bits of the set named by `id` (none for an id this table never gave).
    #[inline]
    pub(crate) fn first_word(&self, id: BitsId) -> u64 {
        self.set(id).map_or(0, PermissionBits::first_word)
    }

    /// The id of `bits`, if it has one.
    pub(crate) fn id_of(&self, bits: &PermissionBits) -> Option<BitsId> {
        self.ids.get(bits).copied()
    }

    /// The id of `bits`, given now if it has none.
    pub(crate) fn intern(&mut self, bits: PermissionBits) -> BitsId {
        if let Some(id) = self.id_of(&bits) {
            return id;
        }
        // Beyond u32::MAX distinct sets (never, in practice) the last id is reused for
        // the empty set, which allows nothing: a denial, never a wrong allow.
        let Ok(next) = u32::try_from(self.sets.len()) else {
            return BitsId(u32::MAX);
        };
        let id = BitsId(next);
        Arc::make_mut(&mut self.sets).push(bits);
        Arc::make_mut(&mut self.ids).insert(bits, id);
        id
    }

    /// The table a checkpoint stored (see [`SetsInUse`]): each set's id is its position.
    pub(crate) fn from_stored(sets: Vec<PermissionBits>) -> Self {
        let mut ids = FastMap::default();
        ids.reserve(sets.len());
        // A set stored twice (never written so) keeps its first id for new entries; an
        // entry naming the other still reads the same set.
        for (bits, index) in sets.iter().zip(0..) {
            ids.entry(*bits).or_insert(BitsId(index));
        }
        Self {
            sets: Arc::new(sets),
            ids: Arc::new(ids),
        }
    }

    /// The id at position `index` with its set, if the table has a set there.
    pub(crate) fn at(&self, index: u32) -> Option<(BitsId, PermissionBits)> {
        let bits = self.sets.get(usize::try_from(index).ok()?)?;
        Some((BitsId(index), *bits))
    }
}

/// The sets some access entries use, numbered densely in order of first use: what a
/// checkpoint stores of a service's table, so that sets no entry uses any more are left
/// behind instead of being carried from checkpoint to checkpoint.
#[derive(Debug)]
pub(crate) struct SetsInUse {
    sets: Vec<PermissionBits>,
    /// Table id → stored number, `None` for a set no entry uses.
    numbers: Vec<Option<u32>>,
    /// The number of the empty set that stands for an id the table never gave (see
    /// [`BitSets::get`]).
    outside: Option<u32>,
}

impl SetsInUse {
    /// Numbers the sets of `table` that `used` names.
    pub(crate) fn of(table: &BitSets, used: impl IntoIterator<Item = BitsId>) -> Self {
        let mut sets = Vec::new();
        let mut numbers = vec![None; table.sets.len()];
        let mut outside = None;
        for id in used {
            let number = match usize::try_from(id.0).ok().and_then(|i| numbers.get_mut(i)) {
                Some(number) => number,
                None => &mut outside,
            };
            if number.is_none() {
                // Fewer sets than the table holds, so the count fits in a u32 as ids do.
                *number = Some(u32::try_from(sets.len()).unwrap_or(u32::MAX));
                sets.push(table.get(id));
            }
        }
        Self {
            sets,
            numbers,
            outside,
        }
    }

    /// The sets in the order of their numbers.
    pub(crate) fn sets(&self) -> &[PermissionBits] {
        &self.sets
    }

    /// The number of the set `id` names; `u32::MAX`, which no stored table reaches, for an
    /// id that was not among those numbered.
    pub(crate) fn number(&self, id: BitsId) -> u32 {
        let number = match usize::try_from(id.0).ok().and_then(|i| self.numbers.get(i)) {
            Some(number) => *number,
            None => self.outside,
        };
        number.unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::engine::permission::{Catalog, PermissionSet};

    #[test]
    fn each_set_is_stored_once_and_read_back() {
        let permissions: Vec<crate::engine::Permission> =
            ["backup.run", "backup.view", "restore.run"]
                .iter()
                .map(|p| crate::engine::Permission::parse(p).unwrap())
                .collect();
        let catalog = Catalog::new(&permissions).unwrap();
        let bits = |patterns: &[&str]| {
            catalog
                .resolve(&PermissionSet::parse(patterns.iter().copied()).unwrap())
                .unwrap()
        };
        let mut table = BitSets::default();
        let backup = table.intern(bits(&["backup.*"]));
        let restore = table.intern(bits(&["restore.run"]));
        assert_ne!(backup, restore);
        assert_eq!(table.intern(bits(&["backup.run", "backup.view"])), backup);
        let shared = table.clone();
        let all = table.intern(bits(&["*"]));
        assert_eq!(table.get(all), bits(&["*"]));
        assert_eq!(shared.id_of(&bits(&["*"])), None);
        assert_eq!(table.get(backup), bits(&["backup.*"]));
        assert_eq!(table.get(BitsId(99)), PermissionBits::default());
    }

    #[test]
    fn a_stored_table_keeps_the_sets_in_use_numbered_densely_and_reads_back() {
        let permissions: Vec<crate::engine::Permission> = ["a.run", "b.run", "c.run"]
            .iter()
            .map(|p| crate::engine::Permission::parse(p).unwrap())
            .collect();
        let catalog = Catalog::new(&permissions).unwrap();
        let bits = |pattern: &str| catalog.resolve(&PermissionSet::parse([pattern]).unwrap());
        let (a, b, c) = (
            bits("a.run").unwrap(),
            bits("b.run").unwrap(),
            bits("c.run").unwrap(),
        );
        let mut table = BitSets::default();
        let (id_a, id_b, id_c) = (table.intern(a), table.intern(b), table.intern(c));
        // `b` is no longer used; `c` is used first.
        let in_use = SetsInUse::of(&table, [id_c, id_a, id_c, BitsId(77)]);
        assert_eq!(in_use.sets(), &[c, a, PermissionBits::default()]);
        assert_eq!(
            [id_a, id_b, id_c, BitsId(77)].map(|id| in_use.number(id)),
            [1, u32::MAX, 0, 2]
        );
        let stored = BitSets::from_stored(in_use.sets().to_vec());
        let (id, set) = stored.at(in_use.number(id_a)).unwrap();
        assert_eq!((stored.get(id), set), (a, a));
        assert_eq!(stored.id_of(&c), Some(stored.at(0).unwrap().0));
        assert_eq!(stored.at(3), None);
        assert_eq!(stored.at(u32::MAX), None);
    }

    #[test]
    fn an_entry_reads_its_permissions_from_the_table() {
        use crate::engine::effective::{AccessEntry, NodeSlot};
        let permissions: Vec<crate::engine::Permission> = (0..100)
            .map(|n| crate::engine::Permission::parse(&format!("f{n:03}.run")).unwrap())
            .collect();
        let catalog = Catalog::new(&permissions).unwrap();
        let bits = catalog
            .resolve(&PermissionSet::parse(["f003.run", "f080.run"]).unwrap())
            .unwrap();
        let mut table = BitSets::default();
        let entry = AccessEntry::new(NodeSlot::Service, table.intern(bits), None);
        let bit = |name: &str| {
            catalog
                .bit(&crate::engine::Permission::parse(name).unwrap())
                .unwrap()
        };
        assert!(entry.holds(bit("f003.run"), &table));
        assert!(entry.holds(bit("f080.run"), &table));
        assert!(!entry.holds(bit("f004.run"), &table));
        assert!(!entry.holds(bit("f081.run"), &table));
        assert!(!entry.holds(bit("f080.run"), &BitSets::default()));
    }

    /// The record layout is a memory budget: millions of entries (see `effective/`).
    #[test]
    fn an_access_entry_stays_16_bytes() {
        assert_eq!(
            std::mem::size_of::<crate::engine::effective::AccessEntry>(),
            16
        );
    }
}
