//! A stored service comes back with its derived state exactly as memory kept it, and one
//! that contradicts itself is refused.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::*;
use crate::engine::{
    ids::TenantId,
    model::Snapshot,
    mutation::{GrantNode, Mutation},
    tests::{NOW, World, crm, obj, on, t, u, user},
};

/// The fixture with entries on the service and on objects, an expiry, a chain of
/// containers deeper than an ancestry keeps inline, a deleted object (its slot is never
/// given again) and a revoked grant (its set is no longer used).
fn world() -> World {
    let mut world = World::new();
    let later = NOW.plus_millis(1_000);
    world.grant("g1", u("alice"), &["backup.run"], on("c1"), None);
    world.grant("g2", u("alice"), &["restore.run"], on("site2"), Some(later));
    world.grant("g3", u("bob"), &["backup.*"], GrantNode::Service, None);
    world.grant("g4", u("bob"), &["export.run"], on("site1"), None);
    world.grant("g5", u("bob"), &["settings.edit"], on("plan1"), None);
    world.ok(Mutation::RevokeGrant {
        tenant: t(),
        service: crm(),
        grant: GrantId::parse("g5").unwrap(),
        with_dependents: false,
    });
    let mut parent = obj("org1");
    for depth in 0..9 {
        let id = obj(&format!("deep{depth}"));
        world.ok(create(&id, "container", Some(&parent)));
        parent = id;
    }
    world.ok(create(&obj("deep-site"), "site", Some(&parent)));
    world.grant("g6", u("alice"), &["export.run"], on("deep1"), None);
    world.ok(create(&obj("gone"), "site", Some(&obj("c1"))));
    world.grant("g7", u("bob"), &["restore.run"], on("gone"), None);
    world.ok(Mutation::DeleteObject {
        tenant: t(),
        service: crm(),
        object: obj("gone"),
        dependents: crate::engine::Dependencies::Unchecked,
    });
    world
}

fn create(object: &ObjectId, object_type: &str, parent: Option<&ObjectId>) -> Mutation {
    Mutation::CreateObject {
        tenant: t(),
        service: crm(),
        object: object.clone(),
        object_type: object_type.into(),
        name: object.to_string(),
        parent: parent.cloned(),
        related: BTreeSet::new(),
        description: String::new(),
        creator: None,
    }
}

fn crm_of(snapshot: &Snapshot) -> &TenantService {
    &snapshot.tenants[&t()].services[&crm()]
}

fn decoded(snapshot: &Snapshot) -> Snapshot {
    postcard::from_bytes(&postcard::to_allocvec(snapshot).unwrap()).unwrap()
}

/// An entry with its set read from the table: what it means, whatever the set's id.
type Resolved = (NodeSlot, PermissionBits, Option<Timestamp>);

/// An access record with its entries resolved: its gate, the Administrators flag, entries.
type ResolvedAccess = (UserGate, bool, Vec<Resolved>);

/// Every access record with its entries resolved.
fn records(snapshot: &Snapshot) -> BTreeMap<(TenantId, ServiceId, UserId), ResolvedAccess> {
    let mut out = BTreeMap::new();
    for (tenant, state) in snapshot.tenants.iter() {
        for (id, service) in &state.services {
            for (user, access) in service.effective.iter() {
                let entries = access
                    .entries
                    .iter()
                    .map(|e| {
                        let bits = service.bit_sets.get(e.bits);
                        (e.node(), bits, e.expires_at())
                    })
                    .collect();
                let key = (tenant.clone(), id.clone(), user.clone());
                out.insert(key, (access.gate, access.administrator, entries));
            }
        }
    }
    out
}

#[test]
fn a_decoded_snapshot_keeps_slots_ancestries_and_records_as_memory_kept_them() {
    let world = world();
    let back = decoded(&world.snapshot);
    for (id, state) in &world.snapshot.tenants[&t()].services {
        let service = &back.tenants[&t()].services[id];
        assert_eq!(service.next_slot, state.next_slot);
        assert_eq!(service.objects.len(), state.objects.len());
        for (object, kept) in state.objects.iter() {
            assert_eq!(service.objects.get(object).unwrap().ancestry, kept.ancestry);
        }
    }
    let deep = &crm_of(&back)
        .objects
        .get(&obj("deep-site"))
        .unwrap()
        .ancestry;
    assert!(matches!(
        deep,
        crate::engine::placement::Ancestry::Spilled(_)
    ));
    // Gates included: the tenant restores them from its users.
    assert_eq!(records(&back), records(&world.snapshot));
}

#[test]
fn a_stored_table_holds_only_the_sets_entries_use() {
    let world = world();
    let service = crm_of(&world.snapshot);
    let in_use: HashSet<PermissionBits> = service
        .effective
        .values()
        .flat_map(|access| access.entries.iter())
        .map(|entry| service.bit_sets.get(entry.bits))
        .collect();
    let count = u32::try_from(in_use.len()).unwrap();
    // The revoked grant's set keeps its id in memory.
    assert!(service.bit_sets.at(count).is_some());
    let back = decoded(&world.snapshot);
    let table = &crm_of(&back).bit_sets;
    assert!(table.at(count - 1).is_some());
    assert_eq!(table.at(count), None);
}

#[test]
fn objects_created_after_decoding_take_fresh_slots_and_are_reached() {
    let mut world = world();
    let next = crm_of(&world.snapshot).next_slot;
    world.snapshot = decoded(&world.snapshot);
    world.ok(create(&obj("fresh"), "site", Some(&obj("deep8"))));
    world.grant("g8", u("bob"), &["backup.view"], on("fresh"), None);
    let service = crm_of(&world.snapshot);
    let fresh = service.objects.get(&obj("fresh")).unwrap().ancestry.slot();
    assert_eq!(fresh, next);
    let slots: BTreeSet<u32> = service
        .objects
        .values()
        .map(|o| o.ancestry.slot())
        .collect();
    assert_eq!(slots.len(), service.objects.len());
    assert!(world.check("bob", "backup.view", Some("fresh")));
    assert!(!world.check("alice", "backup.view", Some("fresh")));
    // Through the decoded ancestry, nine containers up.
    assert!(world.check("alice", "export.run", Some("fresh")));
    assert!(world.check("alice", "export.run", Some("deep-site")));
    assert!(world.check("alice", "restore.run", Some("site2")));
    assert!(!world.check_at(
        "alice",
        "restore.run",
        Some("site2"),
        NOW.plus_millis(5_000)
    ));
}

/// The stored form of the fixture's crm-backup service, changed by `change`, decoded.
fn refused(change: impl FnOnce(&mut StoredTenantService)) -> Option<Inconsistent> {
    let world = world();
    let bytes = postcard::to_allocvec(crm_of(&world.snapshot)).unwrap();
    let mut stored: StoredTenantService = postcard::from_bytes(&bytes).unwrap();
    change(&mut stored);
    TenantService::try_from(stored).err()
}

/// The entries of `who`'s stored record.
fn entries_of<'a>(stored: &'a mut StoredTenantService, who: &str) -> &'a mut Vec<StoredEntry> {
    let (_, access) = stored
        .effective
        .iter_mut()
        .find(|(id, _)| *id == user(who))
        .unwrap();
    &mut access.entries
}

#[test]
fn a_stored_service_that_contradicts_itself_is_refused() {
    assert_eq!(refused(|_| {}), None);
    assert_eq!(
        refused(|s| s.objects[0].slot = s.next_slot),
        Some(Inconsistent::ObjectSlotPastNext)
    );
    assert_eq!(
        refused(|s| s.next_slot = 1),
        Some(Inconsistent::ObjectSlotPastNext)
    );
    // The node of entries on the service is no slot, whatever the stored next slot.
    assert_eq!(
        refused(|s| s.next_slot = SERVICE_NODE + 1),
        Some(Inconsistent::NextSlotPastLast)
    );
    assert_eq!(
        refused(|s| {
            s.next_slot = SERVICE_NODE;
            entries_of(s, "bob").last_mut().unwrap().node = StoredNode::Object(SERVICE_NODE);
        }),
        Some(Inconsistent::EntrySlotPastNext)
    );
    assert_eq!(
        refused(|s| s.objects[1].slot = s.objects[0].slot),
        Some(Inconsistent::SharedSlot)
    );
    assert_eq!(
        refused(|s| {
            let again = StoredObject {
                id: s.objects[0].id.clone(),
                slot: s.next_slot - 1,
                state: s.objects[0].state.clone(),
            };
            s.objects.push(again);
        }),
        Some(Inconsistent::ObjectTwice)
    );
    assert_eq!(
        refused(|s| {
            let next = s.next_slot;
            entries_of(s, "bob").last_mut().unwrap().node = StoredNode::Object(next);
        }),
        Some(Inconsistent::EntrySlotPastNext)
    );
    // An entry on an object that was gone when it was computed reaches nothing.
    assert_eq!(
        refused(|s| entries_of(s, "bob").last_mut().unwrap().node = StoredNode::Object(NO_SLOT)),
        None
    );
    assert_eq!(
        refused(|s| {
            let past = u32::try_from(s.bit_sets.len()).unwrap();
            entries_of(s, "alice")[0].set = past;
        }),
        Some(Inconsistent::SetPastTable)
    );
    assert_eq!(
        refused(|s| entries_of(s, "alice").swap(0, 1)),
        Some(Inconsistent::EntriesOutOfOrder)
    );
    assert_eq!(
        refused(|s| {
            let entries = entries_of(s, "alice");
            entries.push(*entries.last().unwrap());
        }),
        Some(Inconsistent::EntriesOutOfOrder)
    );
}

/// An entry keeps an expiry at the last instant as none: merged with one on the same node
/// that never expires, so that the record still decodes (two entries reading back alike
/// would be out of order).
#[test]
fn a_grant_expiring_at_the_last_instant_merges_with_one_that_never_expires() {
    let mut world = world();
    let last = Timestamp::from_unix_millis(i64::MAX);
    world.grant("g9", u("alice"), &["restore.run"], on("c1"), Some(last));
    let service = crm_of(&world.snapshot);
    let on_c1 = service.object_slot(&obj("c1"));
    let alice = service.effective.get(&user("alice")).unwrap();
    let held: Vec<_> = alice
        .entries
        .iter()
        .filter(|e| e.node() == NodeSlot::Object(on_c1))
        .map(AccessEntry::expires_at)
        .collect();
    assert_eq!(held, vec![None]);
    let back = decoded(&world.snapshot);
    assert_eq!(records(&back), records(&world.snapshot));
    assert_eq!(
        crate::engine::effective::recomputed_records(&back),
        crate::engine::effective::kept_records(&back)
    );
    world.snapshot = back;
    assert!(world.check("alice", "restore.run", Some("c1")));
    assert!(world.check("alice", "backup.run", Some("c1")));
}
