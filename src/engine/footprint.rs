//! Where a snapshot's memory goes, structure by structure.
//!
//! The engine cannot see the heap, so the caller measures it: [`footprint`] takes the only
//! owner of a snapshot and a function that tells how many bytes the process has live, and
//! takes the snapshot apart one kind of structure at a time, reading the live bytes after
//! each. What each step frees is what that structure held, its maps' tables included (the
//! allocator's own slack is not: compare the total with the resident size for that).

use std::sync::Arc;

use super::model::{CowMap, Snapshot, TenantState};

/// What one kind of structure holds: the bytes freed by taking it away, and how many
/// items it has (records, entries, objects … as [`Part::items`] names them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The structure, in domain words.
    pub name: &'static str,
    /// What its items are.
    pub items: &'static str,
    /// How many items it has.
    pub count: usize,
    /// Bytes freed when it was taken away.
    pub bytes: usize,
}

/// Takes `snapshot` apart and reports what each kind of structure held, in the order they
/// were taken away; the last part is what remained (tenants' and services' shells, the
/// partner level). `live_bytes` reads the bytes the process has allocated now. The
/// snapshot must be the only owner of its maps, or nothing is freed.
pub fn footprint(mut snapshot: Snapshot, live_bytes: &mut dyn FnMut() -> usize) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut step = |snapshot: &mut Snapshot,
                    name: &'static str,
                    items: &'static str,
                    take: &mut dyn FnMut(&mut TenantState) -> usize| {
        let before = live_bytes();
        let mut count = 0;
        for tenant in Arc::make_mut(&mut snapshot.tenants).values_mut() {
            count += take(Arc::make_mut(tenant));
        }
        let after = live_bytes();
        parts.push(Part {
            name,
            items,
            count,
            bytes: before.saturating_sub(after),
        });
    };
    step(
        &mut snapshot,
        "access records: entry lists",
        "entries",
        &mut |tenant| {
            each_service(tenant, |service| {
                let entries = service.effective.values().map(|a| a.entries.len()).sum();
                for (_, access) in service.effective.iter_mut() {
                    access.entries = super::effective::AccessEntries::default();
                }
                entries
            })
        },
    );
    step(
        &mut snapshot,
        "access records: per user and service",
        "records",
        &mut |tenant| each_service(tenant, |service| take_map(&mut service.effective)),
    );
    step(
        &mut snapshot,
        "group holdings (derived cache)",
        "groups",
        &mut |tenant| each_service(tenant, |service| take_map(&mut service.group_holdings)),
    );
    step(
        &mut snapshot,
        "permission-set tables",
        "sets",
        &mut |tenant| {
            each_service(tenant, |service| {
                let sets = service.bit_sets.len();
                service.bit_sets = super::bit_sets::BitSets::default();
                sets
            })
        },
    );
    step(
        &mut snapshot,
        "grants and their subject index",
        "grants",
        &mut |tenant| {
            each_service(tenant, |service| {
                take_map(&mut service.grants_by_subject);
                take_map(&mut service.grants)
            })
        },
    );
    step(
        &mut snapshot,
        "security groups, members and member index",
        "memberships",
        &mut |tenant| {
            each_service(tenant, |service| {
                take_map(&mut service.sg_by_member);
                service.administrators = Arc::default();
                let members = service
                    .security_groups
                    .values()
                    .map(|g| g.members.len())
                    .sum();
                take_map(&mut service.security_groups);
                take_map(&mut service.levels);
                members
            })
        },
    );
    step(
        &mut snapshot,
        "objects, ancestries and container index",
        "objects",
        &mut |tenant| {
            each_service(tenant, |service| {
                take_map(&mut service.children);
                take_map(&mut service.objects)
            })
        },
    );
    step(
        &mut snapshot,
        "directory groups, members and member index",
        "memberships",
        &mut |tenant| {
            take_map(&mut tenant.member_of);
            let members = tenant.groups.values().map(|g| g.members.len()).sum();
            take_map(&mut tenant.groups);
            members
        },
    );
    step(
        &mut snapshot,
        "users and e-mail index",
        "users",
        &mut |tenant| {
            take_map(&mut tenant.emails);
            take_map(&mut tenant.users)
        },
    );
    let before = live_bytes();
    let tenants = snapshot.tenants.len();
    drop(snapshot);
    parts.push(Part {
        name: "the rest (tenants, services, partner level)",
        items: "tenants",
        count: tenants,
        bytes: before.saturating_sub(live_bytes()),
    });
    parts
}

/// Runs `take` on every service of the tenant, summing the counts it returns.
fn each_service(
    tenant: &mut TenantState,
    mut take: impl FnMut(&mut super::model::TenantService) -> usize,
) -> usize {
    tenant
        .services
        .values_mut()
        .map(|service| take(Arc::make_mut(service)))
        .sum()
}

/// Empties a map, returning how many entries it had.
fn take_map<K, V>(map: &mut CowMap<K, V>) -> usize {
    let len = map.len();
    *map = CowMap::default();
    len
}
