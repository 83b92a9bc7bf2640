//! How a tenant and its services are stored in checkpoints, and rebuilt from them.
//!
//! In memory, a service keeps derived state: every object's slot and ancestry (see
//! `placement.rs`), a table of the distinct permission sets (see `bit_sets.rs`), and each
//! user's access record, whose entries name their node by slot and their set by id (see
//! `effective/`). Codec version 3 stores that state as it is, so that decoding rebuilds
//! nothing per entry:
//!
//! - each object with its slot, containers before what they contain, so that one pass
//!   gives every object its ancestry from its container's, and the service's next slot;
//!   slots stay those of memory, so a new object after a restart never takes a slot an
//!   entry still names;
//! - the permission sets the entries use, numbered densely ([`SetsInUse`]), and each
//!   record's entries in their order in memory, naming their node by slot and their set by
//!   its number: decoding builds each entry as it is kept, without lookups, interning or
//!   merging.
//!
//! Decoding checks what it reads instead of trusting it: a next slot past the last an
//! object may take (`SERVICE_NODE`, which entries on the service keep as their node), a
//! slot at or past the next slot (which a later object would get), a slot two objects
//! share, a set number outside the stored table or entries out of order make the
//! checkpoint malformed. The gates (the
//! copies of each user's status in its records) are not stored: the tenant sets them from
//! its users ([`restore_gates`]), one user lookup per record, about 1% of what decoding
//! costs (measured with callgrind) and nothing for a damaged checkpoint to get wrong.
//!
//! Older checkpoints (versions 1 and 2, which name nodes by id and store no derived state)
//! decode through `v2.rs`.

mod added_fields;
mod v2;

use std::{collections::BTreeMap, sync::Arc};

use serde::{
    Deserialize, Serialize, Serializer,
    ser::{SerializeSeq, SerializeStruct},
};

pub(crate) use added_fields::{added_in_v4, added_in_v5};
pub use added_fields::{before_v4, before_v5};
pub use v2::{SnapshotV1, SnapshotV2};

use super::{
    bit_sets::{BitSets, SetsInUse},
    effective::{AccessEntries, AccessEntry, NodeSlot, UserAccess, UserGate, restore_gates},
    ids::{
        CustomerId, GrantId, GroupId, ObjectId, PermissionLevelId, Revision, SecurityGroupId,
        ServiceId, Timestamp, UserId,
    },
    model::{
        CowMap, FastMap, GrantState, GroupState, LevelState, ObjectState, SecurityGroupState,
        Shared, SortedSet, TenantService, TenantState, UserState,
    },
    mutation::Subject,
    partner::PartnerState,
    permission::PermissionBits,
    placement::{NO_SLOT, SERVICE_NODE},
};

#[cfg(test)]
mod tests;

/// Why a stored service is refused. Postcard keeps no message of a decoding error (it
/// reports only that the value does not decode), so the reasons name no ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Inconsistent {
    #[error("the service's next slot is past the last slot an object may take")]
    NextSlotPastLast,
    #[error("an object's slot is not below the service's next slot")]
    ObjectSlotPastNext,
    #[error("two objects share a slot")]
    SharedSlot,
    #[error("an object is stored twice")]
    ObjectTwice,
    #[error("an access entry names a slot not below the service's next slot")]
    EntrySlotPastNext,
    #[error("an access entry names a permission set past the stored table")]
    SetPastTable,
    #[error("access entries are out of order")]
    EntriesOutOfOrder,
}

/// Serializes the `len` items a function's iterator yields as a sequence, without
/// collecting them (postcard writes the length first).
struct Sequence<F> {
    len: usize,
    items: F,
}

impl<F, I> Serialize for Sequence<F>
where
    F: Fn() -> I,
    I: IntoIterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sequence = serializer.serialize_seq(Some(self.len))?;
        for item in (self.items)() {
            sequence.serialize_element(&item)?;
        }
        sequence.end()
    }
}

/// An object as stored: its id and slot, then what memory keeps of it but its ancestry.
#[derive(Serialize)]
#[serde(rename = "StoredObject")]
struct ObjectRef<'a> {
    id: &'a ObjectId,
    slot: u32,
    state: &'a ObjectState,
}

/// An object as decoded.
#[derive(Deserialize)]
struct StoredObject {
    id: ObjectId,
    slot: u32,
    state: ObjectState,
}

/// A user's access record as stored: no gate.
#[derive(Serialize, Deserialize)]
#[serde(rename = "StoredAccess")]
struct StoredAccess<Entries> {
    administrator: bool,
    entries: Entries,
}

/// An access entry as stored: its set by number in the stored table.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct StoredEntry {
    node: StoredNode,
    set: u32,
    expires_at: Option<Timestamp>,
}

/// [`NodeSlot`] as stored.
#[derive(Clone, Copy, Serialize, Deserialize)]
enum StoredNode {
    Service,
    Object(u32),
}

impl StoredEntry {
    fn of(entry: &AccessEntry, sets: &SetsInUse) -> Self {
        Self {
            node: match entry.node() {
                NodeSlot::Service => StoredNode::Service,
                NodeSlot::Object(slot) => StoredNode::Object(slot),
            },
            set: sets.number(entry.bits),
            expires_at: entry.expires_at(),
        }
    }
}

impl Serialize for TenantService {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let sets = SetsInUse::of(
            &self.bit_sets,
            self.effective
                .values()
                .flat_map(|access| access.entries.iter().map(|entry| entry.bits)),
        );
        let mut objects: Vec<(&ObjectId, &ObjectState)> = self.objects.iter().collect();
        // INVARIANT: an object's ancestry is one longer than its container's, so this puts
        // every container before what it contains, which decoding relies on.
        objects.sort_unstable_by_key(|(_, state)| state.ancestry.slots().len());
        let objects = Sequence {
            len: objects.len(),
            items: || {
                objects.iter().map(|(id, state)| ObjectRef {
                    id,
                    slot: state.ancestry.slot(),
                    state,
                })
            },
        };
        let effective = Sequence {
            len: self.effective.len(),
            items: || {
                self.effective.iter().map(|(user, access)| {
                    let entries = Sequence {
                        len: access.entries.len(),
                        items: || {
                            access
                                .entries
                                .iter()
                                .map(|entry| StoredEntry::of(entry, &sets))
                        },
                    };
                    let stored = StoredAccess {
                        administrator: access.administrator,
                        entries,
                    };
                    (user, stored)
                })
            },
        };
        let mut stored = serializer.serialize_struct("TenantService", 12)?;
        stored.serialize_field("objects", &objects)?;
        stored.serialize_field("next_slot", &self.next_slot)?;
        stored.serialize_field("children", &self.children)?;
        stored.serialize_field("administrators", &self.administrators)?;
        stored.serialize_field("administrators_changed_at", &self.administrators_changed_at)?;
        stored.serialize_field("security_groups", &self.security_groups)?;
        stored.serialize_field("sg_by_member", &self.sg_by_member)?;
        stored.serialize_field("levels", &self.levels)?;
        stored.serialize_field("grants", &self.grants)?;
        stored.serialize_field("grants_by_subject", &self.grants_by_subject)?;
        stored.serialize_field("bit_sets", sets.sets())?;
        stored.serialize_field("effective", &effective)?;
        stored.end()
    }
}

/// A tenant's service as stored.
#[derive(Deserialize)]
pub(crate) struct StoredTenantService {
    objects: Vec<StoredObject>,
    next_slot: u32,
    children: CowMap<Option<ObjectId>, SortedSet<ObjectId>>,
    administrators: Arc<SortedSet<Subject>>,
    #[serde(deserialize_with = "added_in_v4")]
    administrators_changed_at: Revision,
    security_groups: CowMap<SecurityGroupId, Shared<SecurityGroupState>>,
    sg_by_member: CowMap<Subject, SortedSet<SecurityGroupId>>,
    levels: CowMap<PermissionLevelId, LevelState>,
    grants: CowMap<GrantId, Shared<GrantState>>,
    grants_by_subject: CowMap<Subject, SortedSet<GrantId>>,
    bit_sets: Vec<PermissionBits>,
    effective: Vec<(UserId, StoredAccess<Vec<StoredEntry>>)>,
}

impl TryFrom<StoredTenantService> for TenantService {
    type Error = Inconsistent;

    fn try_from(stored: StoredTenantService) -> Result<Self, Inconsistent> {
        // Every slot is checked to be below the next slot, which makes it no slot an
        // entry on the service could be read as.
        if stored.next_slot > SERVICE_NODE {
            return Err(Inconsistent::NextSlotPastLast);
        }
        let mut service = TenantService {
            objects: CowMap::with_capacity(stored.objects.len()),
            children: stored.children,
            administrators: stored.administrators,
            administrators_changed_at: stored.administrators_changed_at,
            security_groups: stored.security_groups,
            sg_by_member: stored.sg_by_member,
            levels: stored.levels,
            grants: stored.grants,
            grants_by_subject: stored.grants_by_subject,
            effective: CowMap::with_capacity(stored.effective.len()),
            group_holdings: CowMap::default(),
            next_slot: stored.next_slot,
            bit_sets: BitSets::from_stored(stored.bit_sets),
        };
        service.place(stored.objects)?;
        for (user, access) in stored.effective {
            let access = service.stored_access(&access)?;
            service.effective.insert(user, access);
        }
        Ok(service)
    }
}

impl TenantService {
    /// Puts the stored objects in place with their slots and ancestries.
    fn place(&mut self, objects: Vec<StoredObject>) -> Result<(), Inconsistent> {
        let mut slots: Vec<u32> = Vec::with_capacity(objects.len());
        for StoredObject {
            id,
            slot,
            mut state,
        } in objects
        {
            // Below the next slot, so never NO_SLOT, and never a later object's.
            if slot >= self.next_slot {
                return Err(Inconsistent::ObjectSlotPastNext);
            }
            // Its container came first. One that did not (a damaged checkpoint) leaves the
            // object's ancestry at itself: grants on containers do not reach it, a denial,
            // never a wrong allow.
            state.ancestry = self.ancestry_under(state.parent.as_ref(), slot);
            slots.push(slot);
            if self.objects.insert(id, state).is_some() {
                return Err(Inconsistent::ObjectTwice);
            }
        }
        let count = slots.len();
        slots.sort_unstable();
        slots.dedup();
        if slots.len() != count {
            return Err(Inconsistent::SharedSlot);
        }
        Ok(())
    }

    /// A stored access record as kept, its gate left to the tenant (see
    /// [`StoredTenantState`]).
    fn stored_access(
        &self,
        stored: &StoredAccess<Vec<StoredEntry>>,
    ) -> Result<UserAccess, Inconsistent> {
        let mut previous = None;
        let entries = stored
            .entries
            .iter()
            .map(|entry| {
                let node = match entry.node {
                    StoredNode::Service => NodeSlot::Service,
                    // NO_SLOT names an object that was gone when the entry was computed.
                    StoredNode::Object(slot) if slot < self.next_slot || slot == NO_SLOT => {
                        NodeSlot::Object(slot)
                    }
                    StoredNode::Object(_) => return Err(Inconsistent::EntrySlotPastNext),
                };
                let (bits, _) = self
                    .bit_sets
                    .at(entry.set)
                    .ok_or(Inconsistent::SetPastTable)?;
                let kept = AccessEntry::new(node, bits, entry.expires_at);
                // INVARIANT: entries are sorted by node and expiry, one per pair (see
                // `merged`); additions merge into them in that order. Compared as kept,
                // since an expiry at the last instant is kept as none.
                let key = (kept.node(), kept.expires_at());
                if previous.is_some_and(|previous| previous >= key) {
                    return Err(Inconsistent::EntriesOutOfOrder);
                }
                previous = Some(key);
                Ok(kept)
            })
            .collect::<Result<_, _>>()?;
        Ok(UserAccess {
            gate: UserGate::default(),
            administrator: stored.administrator,
            entries: AccessEntries::new(entries, &self.bit_sets),
        })
    }
}

/// A tenant as stored, its services in the form of their codec version: the same fields,
/// decoded before its services' access records get their gates from its users.
#[derive(Deserialize)]
pub(crate) struct StoredTenantState<Service> {
    name: String,
    customer: Option<CustomerId>,
    owner: UserId,
    users: CowMap<UserId, Shared<UserState>>,
    emails: CowMap<Arc<str>, UserId>,
    groups: CowMap<GroupId, Shared<GroupState>>,
    member_of: CowMap<Subject, SortedSet<Subject>>,
    services: FastMap<ServiceId, Service>,
    #[serde(deserialize_with = "added_in_v4")]
    changed_at: Revision,
    #[serde(deserialize_with = "added_in_v5")]
    roles: BTreeMap<super::ids::TenantRoleId, super::tenant_roles::TenantRoleState>,
}

impl<Service: Into<Arc<TenantService>>> From<StoredTenantState<Service>> for TenantState {
    fn from(stored: StoredTenantState<Service>) -> Self {
        let mut state = Self {
            name: stored.name,
            customer: stored.customer,
            owner: stored.owner,
            users: stored.users,
            emails: stored.emails,
            groups: stored.groups,
            member_of: stored.member_of,
            services: stored
                .services
                .into_iter()
                .map(|(id, service)| (id, service.into()))
                .collect(),
            changed_at: stored.changed_at,
            roles: stored.roles,
        };
        restore_gates(&mut state);
        state
    }
}

/// Decodes the partners of a snapshot: from version 5 with their users, roles and
/// customer groups; before, a name each (such a partner has no owner until the platform
/// gives it one).
pub(crate) fn partners<'de, D>(
    deserializer: D,
) -> Result<Arc<BTreeMap<super::ids::PartnerId, Arc<PartnerState>>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    if added_fields::decoding_before_v5() {
        let named = BTreeMap::<super::ids::PartnerId, String>::deserialize(deserializer)?;
        return Ok(Arc::new(
            named
                .into_iter()
                .map(|(id, name)| (id, Arc::new(PartnerState::named(name))))
                .collect(),
        ));
    }
    Deserialize::deserialize(deserializer)
}
