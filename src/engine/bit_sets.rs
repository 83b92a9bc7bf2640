//! The distinct permission sets of a tenant's service, each stored once.
//!
//! Access records hold many entries (one per node a user holds something on), and a set
//! of permissions as bits is 32 bytes. Entries name their set by a 4-byte id into this
//! table instead, which makes records about half the size: fewer cache lines for a check
//! to scan and less memory to copy. A service has few distinct sets (its security groups,
//! levels, the direct grants' sets and their unions), so the table stays small and hot.
//!
//! Ids are derived, like slots: never stored, given anew when a checkpoint is decoded.
//! The table only grows while the process runs (a set no entry uses any more keeps its
//! id); decoding a checkpoint keeps only the sets in use.

use std::sync::Arc;

use super::{model::FastMap, permission::PermissionBits};

/// The id of a permission set in a service's [`BitSets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct BitsId(u32);

/// Interned permission sets. Cloning shares them (two reference counts).
#[derive(Debug, Clone, Default)]
pub(crate) struct BitSets {
    // Arc: snapshots share the table; a write that adds a set copies it (it is small).
    sets: Arc<Vec<PermissionBits>>,
    ids: Arc<FastMap<PermissionBits, BitsId>>,
}

impl BitSets {
    /// The set named by `id`; no permission at all for an id this table never gave.
    pub(crate) fn get(&self, id: BitsId) -> PermissionBits {
        usize::try_from(id.0)
            .ok()
            .and_then(|index| self.sets.get(index))
            .copied()
            .unwrap_or_default()
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
    fn an_entry_reads_low_permissions_inline_and_the_rest_from_the_table() {
        use crate::engine::effective::{AccessEntry, NodeSlot};
        let permissions: Vec<crate::engine::Permission> = (0..100)
            .map(|n| crate::engine::Permission::parse(&format!("f{n:03}.run")).unwrap())
            .collect();
        let catalog = Catalog::new(&permissions).unwrap();
        let bits = catalog
            .resolve(&PermissionSet::parse(["f003.run", "f080.run"]).unwrap())
            .unwrap();
        let mut table = BitSets::default();
        let entry = AccessEntry {
            node: NodeSlot::Service,
            first_word: bits.first_word(),
            bits: table.intern(bits),
            expires_at: None,
        };
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
    fn an_access_entry_stays_40_bytes() {
        assert_eq!(
            std::mem::size_of::<crate::engine::effective::AccessEntry>(),
            40
        );
    }
}
