//! Checkpoints of codec versions 1 and 2, decoded into today's state.
//!
//! These name the node of every access entry by object id and store no derived state: no
//! slots, no permission-set table, no gates. Decoding gives every object a slot anew
//! (`renumber`), looks up each entry's slot by id, interns its set and merges the entries
//! again; the tenant then restores the gates from its users. Version 1 differs from 2 only
//! in having no sign-in failures.

use std::{collections::BTreeMap, sync::Arc};

use serde::Deserialize;

use super::StoredTenantState;
use crate::engine::{
    bit_sets::{BitSets, BitsId},
    effective::{Computed, HeldEntry, NodeSlot, UserGate, merged},
    ids::{
        CustomerId, GrantId, ObjectId, PartnerId, PermissionLevelId, Revision, SecurityGroupId,
        ServiceId, TenantId, Timestamp, UserId,
    },
    model::{
        CowMap, FastMap, GrantState, LevelState, ObjectState, SecurityGroupState, ServiceState,
        Shared, Snapshot, SortedSet, TenantService, TenantState,
    },
    mutation::Subject,
    partner::{CustomerState, PartnerState},
    permission::PermissionBits,
    placement::NO_SLOT,
};

/// The layout of a snapshot in codec version 2.
#[derive(Debug, Deserialize)]
pub struct SnapshotV2 {
    revision: Revision,
    #[serde(deserialize_with = "super::partners")]
    partners: Arc<BTreeMap<PartnerId, Arc<PartnerState>>>,
    customers: CowMap<CustomerId, CustomerState>,
    services: Arc<FastMap<ServiceId, Arc<ServiceState>>>,
    tenants: FastMap<TenantId, TenantV2>,
    sign_in_failures: Arc<BTreeMap<(TenantId, UserId), u32>>,
}

/// The layout of a snapshot in codec version 1: version 2 without sign-in failures.
#[derive(Debug, Deserialize)]
pub struct SnapshotV1 {
    revision: Revision,
    #[serde(deserialize_with = "super::partners")]
    partners: Arc<BTreeMap<PartnerId, Arc<PartnerState>>>,
    customers: CowMap<CustomerId, CustomerState>,
    services: Arc<FastMap<ServiceId, Arc<ServiceState>>>,
    tenants: FastMap<TenantId, TenantV2>,
}

impl From<SnapshotV2> for Snapshot {
    fn from(old: SnapshotV2) -> Self {
        Self {
            revision: old.revision,
            partners: old.partners,
            customers: old.customers,
            services: old.services,
            tenants: Arc::new(old.tenants.into_iter().map(|(id, t)| (id, t.0)).collect()),
            sign_in_failures: old.sign_in_failures,
        }
    }
}

impl From<SnapshotV1> for Snapshot {
    fn from(old: SnapshotV1) -> Self {
        Self::from(SnapshotV2 {
            revision: old.revision,
            partners: old.partners,
            customers: old.customers,
            services: old.services,
            tenants: old.tenants,
            sign_in_failures: Arc::default(),
        })
    }
}

/// A tenant decoded from the version 2 layout.
#[derive(Debug, Deserialize)]
#[serde(from = "StoredTenantState<ServiceV2>")]
struct TenantV2(Arc<TenantState>);

impl From<StoredTenantState<ServiceV2>> for TenantV2 {
    fn from(stored: StoredTenantState<ServiceV2>) -> Self {
        Self(Arc::new(stored.into()))
    }
}

/// A tenant's service decoded from the version 2 layout.
#[derive(Deserialize)]
#[serde(from = "TenantServiceV2<'de>")]
pub(super) struct ServiceV2(Arc<TenantService>);

impl From<TenantServiceV2<'_>> for ServiceV2 {
    fn from(stored: TenantServiceV2<'_>) -> Self {
        Self(Arc::new(stored.into()))
    }
}

impl From<ServiceV2> for Arc<TenantService> {
    fn from(service: ServiceV2) -> Self {
        service.0
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

/// A tenant's service in the version 2 layout.
#[derive(Deserialize)]
struct TenantServiceV2<'a> {
    objects: CowMap<ObjectId, ObjectState>,
    children: CowMap<Option<ObjectId>, SortedSet<ObjectId>>,
    administrators: Arc<SortedSet<Subject>>,
    security_groups: CowMap<SecurityGroupId, Shared<SecurityGroupState>>,
    sg_by_member: CowMap<Subject, SortedSet<SecurityGroupId>>,
    levels: CowMap<PermissionLevelId, LevelState>,
    grants: CowMap<GrantId, Shared<GrantState>>,
    grants_by_subject: CowMap<Subject, SortedSet<GrantId>>,
    #[serde(borrow)]
    effective: CowMap<UserId, StoredAccess<'a>>,
}

impl From<TenantServiceV2<'_>> for TenantService {
    fn from(stored: TenantServiceV2<'_>) -> Self {
        let mut service = TenantService {
            objects: stored.objects,
            children: stored.children,
            administrators: stored.administrators,
            administrators_changed_at: Revision::ZERO,
            security_groups: stored.security_groups,
            sg_by_member: stored.sg_by_member,
            levels: stored.levels,
            grants: stored.grants,
            grants_by_subject: stored.grants_by_subject,
            effective: CowMap::default(),
            group_holdings: CowMap::default(),
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
        let mut last: Option<(PermissionBits, BitsId)> = None;
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
