//! How a tenant and its services are stored in checkpoints, and rebuilt from them.
//!
//! In memory, a service keeps derived state that names objects by slot (see
//! `placement.rs`) and copies each user's status into its access records (see
//! `effective/`). Slots are not stable across processes, so checkpoints keep the layout
//! they always had: access entries name their node by id, and neither slots nor gates are
//! written. Encoding translates slots back to ids; decoding gives slots anew and restores
//! the gates from the tenant's users.

use std::{collections::BTreeSet, sync::Arc};

use serde::{Deserialize, Serialize, Serializer, ser::SerializeMap, ser::SerializeStruct};

use super::{
    bit_sets::BitSets,
    effective::{Computed, HeldEntry, NodeSlot, UserGate, merged, restore_gates},
    ids::{
        CustomerId, GrantId, GroupId, ObjectId, PermissionLevelId, SecurityGroupId, ServiceId,
        Timestamp, UserId,
    },
    model::{
        CowMap, FastMap, GrantState, GroupState, LevelState, ObjectState, SecurityGroupState,
        TenantService, TenantState, UserState,
    },
    mutation::Subject,
    permission::PermissionBits,
    placement::NO_SLOT,
};

/// An access entry as stored: its node by id.
#[derive(Serialize)]
#[serde(rename = "AccessEntry")]
struct EntryRef<'a> {
    node: NodeRef<'a>,
    bits: PermissionBits,
    expires_at: Option<Timestamp>,
}

/// `GrantNode`, borrowed: the same variants in the same order, so the same encoding.
#[derive(Serialize)]
#[serde(rename = "GrantNode")]
enum NodeRef<'a> {
    Service,
    Object(&'a ObjectId),
}

/// A user's access record as stored (no gate).
#[derive(Serialize)]
#[serde(rename = "UserAccess")]
struct AccessRef<'a> {
    administrator: bool,
    entries: Vec<EntryRef<'a>>,
}

/// The access records of a service, entries naming their nodes by id.
struct EffectiveRef<'a> {
    service: &'a TenantService,
    /// Slot → object id.
    names: FastMap<u32, &'a ObjectId>,
}

impl Serialize for EffectiveRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.service.effective.len()))?;
        for (user, access) in self.service.effective.iter() {
            let entries = access
                .entries
                .iter()
                .filter_map(|entry| {
                    let node = match entry.node {
                        NodeSlot::Service => NodeRef::Service,
                        // An entry on a vanished object reaches nothing; leave it out.
                        NodeSlot::Object(slot) => NodeRef::Object(self.names.get(&slot)?),
                    };
                    Some(EntryRef {
                        node,
                        bits: self.service.bit_sets.get(entry.bits),
                        expires_at: entry.expires_at,
                    })
                })
                .collect();
            let stored = AccessRef {
                administrator: access.administrator,
                entries,
            };
            map.serialize_entry(user, &stored)?;
        }
        map.end()
    }
}

impl Serialize for TenantService {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let names = self
            .objects
            .iter()
            .map(|(id, state)| (state.ancestry.slot(), id))
            .collect();
        let mut stored = serializer.serialize_struct("TenantService", 9)?;
        stored.serialize_field("objects", &self.objects)?;
        stored.serialize_field("children", &self.children)?;
        stored.serialize_field("administrators", &self.administrators)?;
        stored.serialize_field("security_groups", &self.security_groups)?;
        stored.serialize_field("sg_by_member", &self.sg_by_member)?;
        stored.serialize_field("levels", &self.levels)?;
        stored.serialize_field("grants", &self.grants)?;
        stored.serialize_field("grants_by_subject", &self.grants_by_subject)?;
        stored.serialize_field(
            "effective",
            &EffectiveRef {
                service: self,
                names,
            },
        )?;
        stored.end()
    }
}

/// An access entry as stored.
#[derive(Clone, Deserialize)]
struct StoredEntry<'a> {
    /// Borrowed from the stored bytes: millions of entries need no string of their own,
    /// only a lookup of their slot.
    #[serde(borrow)]
    node: StoredNode<'a>,
    bits: PermissionBits,
    expires_at: Option<Timestamp>,
}

/// A user's access record as stored.
#[derive(Clone, Deserialize)]
struct StoredAccess<'a> {
    administrator: bool,
    #[serde(borrow)]
    entries: Vec<StoredEntry<'a>>,
}

/// `GrantNode` as stored (the same variants in the same order), its object id borrowed.
#[derive(Clone, Copy, Deserialize)]
#[serde(rename = "GrantNode")]
enum StoredNode<'a> {
    Service,
    Object(&'a str),
}

/// A tenant's service as stored.
#[derive(Deserialize)]
pub(crate) struct StoredTenantService<'a> {
    objects: CowMap<ObjectId, ObjectState>,
    children: CowMap<Option<ObjectId>, BTreeSet<ObjectId>>,
    administrators: Arc<BTreeSet<Subject>>,
    security_groups: CowMap<SecurityGroupId, SecurityGroupState>,
    sg_by_member: CowMap<Subject, BTreeSet<SecurityGroupId>>,
    levels: CowMap<PermissionLevelId, LevelState>,
    grants: CowMap<GrantId, GrantState>,
    grants_by_subject: CowMap<Subject, BTreeSet<GrantId>>,
    #[serde(borrow)]
    effective: CowMap<UserId, StoredAccess<'a>>,
}

impl From<StoredTenantService<'_>> for TenantService {
    fn from(stored: StoredTenantService<'_>) -> Self {
        let mut service = TenantService {
            objects: stored.objects,
            children: stored.children,
            administrators: stored.administrators,
            security_groups: stored.security_groups,
            sg_by_member: stored.sg_by_member,
            levels: stored.levels,
            grants: stored.grants,
            grants_by_subject: stored.grants_by_subject,
            effective: CowMap::default(),
            next_slot: 0,
            bit_sets: BitSets::default(),
        };
        service.renumber();
        let mut service_sets = BitSets::default();
        // Every entry names its node by id: look the slots up in a small dense map of this
        // service's objects rather than in the object records, and remember the last set
        // interned (a user's entries often share one), which is most of what decoding costs.
        let mut slots: FastMap<&str, u32> = FastMap::default();
        slots.reserve(service.objects.len());
        slots.extend(
            service
                .objects
                .iter()
                .map(|(id, state)| (id.as_str(), state.ancestry.slot())),
        );
        let mut last: Option<(PermissionBits, super::bit_sets::BitsId)> = None;
        let mut decoded: Vec<(UserId, Computed)> = Vec::with_capacity(stored.effective.len());
        for (user, access) in stored.effective.iter() {
            let entries = access
                .entries
                .iter()
                .map(|entry| HeldEntry {
                    node: match entry.node {
                        StoredNode::Service => NodeSlot::Service,
                        StoredNode::Object(object) => {
                            NodeSlot::Object(slots.get(object).copied().unwrap_or(NO_SLOT))
                        }
                    },
                    bits: entry.bits,
                    expires_at: entry.expires_at,
                    id: match last {
                        Some((bits, id)) if bits == entry.bits => Some(id),
                        _ => {
                            let id = service_sets.intern(entry.bits);
                            last = Some((entry.bits, id));
                            Some(id)
                        }
                    },
                })
                .collect();
            let computed = Computed {
                // Restored by the tenant (see `StoredTenantState`).
                gate: UserGate::default(),
                administrator: access.administrator,
                entries: merged(entries),
            };
            decoded.push((user.clone(), computed));
        }
        drop(slots);
        service.bit_sets = service_sets;
        for (user, computed) in decoded {
            let kept = service.keep(computed);
            service.effective.insert(user, kept);
        }
        service
    }
}

/// A tenant as stored: the same fields, decoded before its services' access records get
/// their gates from its users.
#[derive(Deserialize)]
pub(crate) struct StoredTenantState {
    name: String,
    customer: Option<CustomerId>,
    owner: UserId,
    users: CowMap<UserId, UserState>,
    emails: CowMap<String, UserId>,
    groups: CowMap<GroupId, GroupState>,
    member_of: CowMap<Subject, BTreeSet<Subject>>,
    services: FastMap<ServiceId, Arc<TenantService>>,
}

impl From<StoredTenantState> for TenantState {
    fn from(stored: StoredTenantState) -> Self {
        let mut state = Self {
            name: stored.name,
            customer: stored.customer,
            owner: stored.owner,
            users: stored.users,
            emails: stored.emails,
            groups: stored.groups,
            member_of: stored.member_of,
            services: stored.services,
        };
        restore_gates(&mut state);
        state
    }
}
