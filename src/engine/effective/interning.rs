//! Computed records made into kept ones: each permission set a record holds is named by
//! its id in the service's table (`bit_sets.rs`), found there or interned; a refresh
//! compares what it computed with the kept record and leaves an unchanged one alone.

use std::sync::Arc;

use super::{AccessEntries, AccessEntry, GroupHoldings, HeldEntry, UserAccess, UserGate};
use crate::engine::{bit_sets::BitSets, model::TenantService};

/// Entries whose sets all have their ids (in `sets`), as a record keeps them. (The
/// fallback id is never taken.)
#[inline]
pub(super) fn kept_entries(entries: &[HeldEntry], sets: &BitSets) -> AccessEntries {
    let list = entries
        .iter()
        .map(|e| AccessEntry::new(e.node, e.id.unwrap_or_default(), e.expires_at))
        .collect();
    AccessEntries::new(list, sets)
}

/// A record as a refresh computes it, its entries still in the refresh's buffer.
#[derive(Debug, Clone, Copy)]
pub(super) struct ComputedParts<'a> {
    pub(super) gate: UserGate,
    pub(super) administrator: bool,
    pub(super) entries: &'a [HeldEntry],
}

/// A user's record as a refresh leaves it to be written.
pub(super) enum NewRecord {
    /// Every set has its id: the record as it is kept.
    Ready(UserAccess),
    /// A set is new to the service's table: interned when written.
    Pending(Computed),
    /// The user holds nothing here.
    Nothing,
}

/// A record as computed, before its sets are interned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Computed {
    pub(crate) gate: UserGate,
    pub(crate) administrator: bool,
    pub(crate) entries: Vec<HeldEntry>,
}

impl TenantService {
    /// The entries of a kept record with their sets.
    pub(crate) fn held(&self, entries: &[AccessEntry]) -> Vec<HeldEntry> {
        entries
            .iter()
            .map(|e| HeldEntry {
                node: e.node(),
                bits: self.bit_sets.get(e.bits),
                expires_at: e.expires_at(),
                id: Some(e.bits),
            })
            .collect()
    }

    /// A computed record as kept: its sets interned.
    pub(crate) fn keep(&mut self, mut computed: Computed) -> UserAccess {
        self.intern_new_sets(&mut computed.entries);
        UserAccess {
            gate: computed.gate,
            administrator: computed.administrator,
            entries: kept_entries(&computed.entries, &self.bit_sets),
        }
    }

    /// Gives every entry without an id that of its set, interning the sets new here.
    fn intern_new_sets(&mut self, entries: &mut [HeldEntry]) {
        for entry in entries.iter_mut().filter(|e| e.id.is_none()) {
            entry.id = Some(self.bit_sets.intern(entry.bits));
        }
    }

    /// The record of `gate`, `administrator` and `entries`, built at once when every set
    /// has its id (found in the table now, if not already known), so that writing it
    /// copies nothing; otherwise its entries are copied, to be interned when written.
    pub(super) fn prepared(
        &self,
        gate: UserGate,
        administrator: bool,
        entries: &mut [HeldEntry],
    ) -> NewRecord {
        for entry in entries.iter_mut() {
            if entry.id.is_none() {
                entry.id = self.bit_sets.id_of(&entry.bits);
            }
        }
        if entries.iter().any(|e| e.id.is_none()) {
            return NewRecord::Pending(Computed {
                gate,
                administrator,
                entries: entries.to_vec(),
            });
        }
        NewRecord::Ready(UserAccess {
            gate,
            administrator,
            entries: kept_entries(entries, &self.bit_sets),
        })
    }

    /// Gives every set of a group's kept holdings its id, interning the new ones: the
    /// records of users in the group then take those entries without a lookup.
    pub(super) fn intern_group_sets(&mut self, held: &mut GroupHoldings) {
        if held.entries.iter().any(|e| e.id.is_none()) {
            self.intern_new_sets(Arc::make_mut(&mut held.entries));
        }
    }

    /// Whether a kept record (or its absence) says what a computed one does.
    pub(super) fn keeps(
        &self,
        kept: Option<&UserAccess>,
        computed: Option<ComputedParts<'_>>,
    ) -> bool {
        match (kept, computed) {
            (None, None) => true,
            (Some(kept), Some(computed)) => {
                kept.gate == computed.gate
                    && kept.administrator == computed.administrator
                    && kept.entries.len() == computed.entries.len()
                    && kept.entries.iter().zip(computed.entries).all(|(k, c)| {
                        k.node() == c.node
                            && k.expires_at() == c.expires_at
                            && self.bit_sets.get(k.bits) == c.bits
                    })
            }
            _ => false,
        }
    }
}
