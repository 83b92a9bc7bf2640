//! Where each object sits, as numbers, so that a check never walks parent links.
//!
//! Every object of a tenant's service has a slot: a small integer unique within that
//! service, given when the object is created and kept until it is deleted. Each object
//! stores the slots of itself and of every container above it (its ancestry), and each
//! precomputed access entry stores the slot of the node it was granted on. "Does a grant
//! on node N reach object O" is then a scan of a few integers kept inline with O, instead
//! of one hash lookup per container level.
//!
//! Checkpoints store each object's slot and the service's next slot, so that slots are
//! never given twice for the life of the state, across restarts too; ancestries are not
//! stored but rebuilt on decoding from each object's container (see `stored/`). A
//! checkpoint of an older format, which has no slots, gets them anew
//! (`TenantService::renumber`).

use std::{collections::BTreeSet, sync::Arc};

use super::{
    effective::{Computed, NodeSlot, merged, slot_bit},
    ids::{ObjectId, UserId},
    model::{CowMap, FastMap, ObjectState, TenantService},
    mutation::GrantNode,
};

/// The slot of no object: no ancestry contains it (slots are renumbered before the counter
/// gets there), so an entry whose node is gone reaches nothing.
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// The node of an access entry on the whole service (see `effective/`): neither an
/// object's slot (they stay below it, see [`TenantService::take_slot`]) nor `NO_SLOT`, so
/// that an entry names its node in one integer.
pub(crate) const SERVICE_NODE: u32 = NO_SLOT - 1;

/// How many slots an ancestry keeps inline; deeper objects spill to the heap.
const INLINE: usize = 7;

/// The slots of an object and its containers, nearest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ancestry {
    /// Up to `INLINE` levels, stored with the object: no pointer to follow on a check.
    Inline { len: u8, slots: [u32; INLINE] },
    /// Deeper chains.
    Spilled(Arc<[u32]>),
}

impl Default for Ancestry {
    fn default() -> Self {
        Self::Inline {
            len: 0,
            slots: [NO_SLOT; INLINE],
        }
    }
}

impl Ancestry {
    /// The ancestry of an object in slot `slot` under a container with ancestry `parent`.
    pub(crate) fn under(parent: Option<&Ancestry>, slot: u32) -> Self {
        let above = parent.map_or(&[][..], Ancestry::slots);
        let len = above.len() + 1;
        if len <= INLINE {
            let mut slots = [NO_SLOT; INLINE];
            for (to, from) in slots.iter_mut().zip(std::iter::once(&slot).chain(above)) {
                *to = *from;
            }
            #[expect(
                clippy::cast_possible_truncation,
                reason = "len is at most INLINE, which fits in u8"
            )]
            let len = len as u8;
            Self::Inline { len, slots }
        } else {
            Self::Spilled(std::iter::once(slot).chain(above.iter().copied()).collect())
        }
    }

    /// The slots, the object's own first.
    pub(crate) fn slots(&self) -> &[u32] {
        match self {
            Self::Inline { len, slots } => slots.get(..usize::from(*len)).unwrap_or(slots),
            Self::Spilled(slots) => slots,
        }
    }

    /// The object's own slot.
    pub(crate) fn slot(&self) -> u32 {
        self.slots().first().copied().unwrap_or(NO_SLOT)
    }

    /// Whether the node in `slot` is this object or one of its containers.
    pub(crate) fn contains(&self, slot: u32) -> bool {
        self.slots().contains(&slot)
    }

    /// The slots folded into 64 bits, as an access record summarises the nodes of its
    /// entries (see `effective/entries.rs`).
    pub(crate) fn folded_slots(&self) -> u64 {
        self.slots()
            .iter()
            .fold(0, |folded, slot| folded | slot_bit(*slot))
    }
}

/// The ancestry of the container `state` sits in, if any.
fn parent_ancestry(
    objects: &CowMap<ObjectId, ObjectState>,
    state: &ObjectState,
) -> Option<Ancestry> {
    state
        .parent
        .as_ref()
        .and_then(|p| objects.get(p))
        .map(|p| p.ancestry.clone())
}

impl TenantService {
    /// The node an entry granted on `node` names (an object that is gone gets `NO_SLOT`,
    /// which reaches nothing).
    pub(crate) fn node_slot(&self, node: &GrantNode) -> NodeSlot {
        match node {
            GrantNode::Service => NodeSlot::Service,
            GrantNode::Object(object) => NodeSlot::Object(self.object_slot(object)),
        }
    }

    /// The slot of `object`, `NO_SLOT` if there is no such object.
    pub(crate) fn object_slot(&self, object: &ObjectId) -> u32 {
        self.objects
            .get(object)
            .map_or(NO_SLOT, |o| o.ancestry.slot())
    }

    /// A new slot. In the (practically unreachable) case that the counter runs out, every
    /// slot is given anew first, which keeps them unique.
    pub(crate) fn take_slot(&mut self) -> u32 {
        // INVARIANT: slots stay below `SERVICE_NODE` and `NO_SLOT`, which entries give
        // meanings of their own.
        if self.next_slot >= SERVICE_NODE {
            self.renumber();
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        slot
    }

    /// The ancestry a new object in `slot` gets under `parent`.
    pub(crate) fn ancestry_under(&self, parent: Option<&ObjectId>, slot: u32) -> Ancestry {
        let parent = parent
            .and_then(|p| self.objects.get(p))
            .map(|o| &o.ancestry);
        Ancestry::under(parent, slot)
    }

    /// Recomputes the ancestry of `object` and of everything under it, after a move.
    pub(crate) fn replace_ancestries_under(&mut self, object: &ObjectId) {
        let subtree = self.subtree(&GrantNode::Object(object.clone()));
        // `subtree` lists a container before what it contains, so each parent is already
        // up to date when its children are computed.
        let objects = &mut self.objects;
        for id in subtree {
            let Some(state) = objects.get(&id) else {
                continue;
            };
            let ancestry = Ancestry::under(
                parent_ancestry(objects, state).as_ref(),
                state.ancestry.slot(),
            );
            if let Some(state) = objects.get_mut(&id) {
                state.ancestry = ancestry;
            }
        }
    }

    /// Gives every object a new slot and ancestry (containers first) and moves every
    /// access entry to its node's new slot.
    pub(crate) fn renumber(&mut self) {
        let mut order = self.subtree(&GrantNode::Service);
        // Objects the containment index does not reach (it always should) still get a
        // slot of their own, so that no two objects share one.
        let reached: BTreeSet<&ObjectId> = order.iter().collect();
        let unreached: Vec<ObjectId> = self
            .objects
            .keys()
            .filter(|id| !reached.contains(id))
            .cloned()
            .collect();
        order.extend(unreached);
        let mut renamed: FastMap<u32, u32> = FastMap::default();
        let mut next: u32 = 0;
        let objects = &mut self.objects;
        for id in &order {
            let Some(state) = objects.get(id) else {
                continue;
            };
            let old = state.ancestry.slot();
            let ancestry = Ancestry::under(parent_ancestry(objects, state).as_ref(), next);
            if old != NO_SLOT {
                renamed.insert(old, next);
            }
            // Stays below `SERVICE_NODE`: a service cannot hold four billion objects in
            // memory (each takes over a hundred bytes).
            next = next.saturating_add(1);
            if let Some(state) = objects.get_mut(id) {
                state.ancestry = ancestry;
            }
        }
        self.next_slot = next;
        if renamed.is_empty() {
            return;
        }
        // Their entries name the old slots; computed again when next needed.
        self.group_holdings = CowMap::default();
        let users: Vec<UserId> = self.effective.keys().cloned().collect();
        for user in users {
            let Some(access) = self.effective.get(&user) else {
                continue;
            };
            let mut held = self.held(&access.entries);
            for entry in &mut held {
                if let NodeSlot::Object(old) = entry.node {
                    entry.node = NodeSlot::Object(renamed.get(&old).copied().unwrap_or(NO_SLOT));
                }
            }
            // Merged again: the order of entries follows their slots.
            let computed = Computed {
                gate: access.gate,
                administrator: access.administrator,
                entries: merged(held),
            };
            let kept = self.keep(computed);
            self.effective.insert(user, kept);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_ancestry_lists_the_object_then_its_containers_inline_or_spilled() {
        let mut ancestry = Ancestry::under(None, 0);
        for level in 1..12_usize {
            let slot = u32::try_from(level).unwrap();
            ancestry = Ancestry::under(Some(&ancestry), slot);
            assert_eq!(ancestry.slot(), slot);
            assert_eq!(ancestry.slots().len(), level + 1);
            assert!((0..=slot).all(|s| ancestry.contains(s)));
            assert!(!ancestry.contains(slot + 1));
            assert!(!ancestry.contains(NO_SLOT));
            assert_eq!(matches!(ancestry, Ancestry::Inline { .. }), level < INLINE);
        }
    }

    #[test]
    fn an_ancestry_follows_its_objects_key_in_the_map() {
        use crate::engine::{ids::ObjectId, model::ObjectState};
        assert_eq!(std::mem::offset_of!(ObjectState, ancestry), 0);
        assert_eq!(
            std::mem::offset_of!((ObjectId, ObjectState), 1),
            std::mem::size_of::<ObjectId>()
        );
    }

    #[test]
    fn an_objects_details_fit_an_allocation_of_160_bytes_with_their_counts() {
        // 16 bytes of reference counts before them (see `ObjectDetails`).
        assert_eq!(
            std::mem::size_of::<crate::engine::model::ObjectDetails>(),
            128
        );
    }

    #[test]
    fn slots_never_reach_the_service_node() {
        let mut service = TenantService {
            next_slot: SERVICE_NODE - 1,
            ..TenantService::default()
        };
        assert_eq!(service.take_slot(), SERVICE_NODE - 1);
        // The counter ran out: every slot is given anew (there are no objects).
        assert_eq!(service.take_slot(), 0);
        assert_eq!(service.next_slot, 1);
    }
}
