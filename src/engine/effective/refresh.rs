//! Recomputing the records of affected users in a tenant: every input looked up first,
//! so that their cache misses overlap, then each record computed and compared with the
//! kept one, and only the changed ones written (copying the map shards they land in).

use std::sync::Arc;

use super::{
    UserAccess, UserGate,
    affected::UserSet,
    group_holdings::{GroupHoldings, Holder, SharedHoldings},
    interning::{Computed, ComputedParts, NewRecord},
};
use crate::engine::{
    ids::{ServiceId, TenantId, UserId},
    model::{Snapshot, TenantService, TenantState},
    mutation::Subject,
};

/// One user's record and what it is computed from, as a refresh looks them up.
struct UserInputs<'a> {
    user: &'a UserId,
    /// What the user's own state decides, and what it holds itself; `None` for a user
    /// that is gone.
    found: Option<(UserGate, Holder<'a>)>,
    /// Its record as kept.
    kept: Option<&'a UserAccess>,
}

/// Recomputes the records of `users` in `service` (`None`: every service of the tenant),
/// writing only those that changed, and keeps the group holdings it computed.
pub(super) fn refresh(
    snapshot: &mut Snapshot,
    tenant: &TenantId,
    service: Option<&ServiceId>,
    users: &UserSet,
) {
    let Some(state) = snapshot.tenants.get(tenant) else {
        return;
    };
    let services = services_of(state, service);
    // Compute first, with shared borrows; then write, copying only what changes.
    let mut updates = Vec::new();
    for service in services {
        let Some(objects) = state.services.get(&service) else {
            continue;
        };
        let mut shared = SharedHoldings::default();
        // What every user's record is computed from, looked up for all of them before any
        // is computed: one user's lookups then need not wait for another's computation,
        // and their cache misses overlap.
        let inputs: Vec<UserInputs<'_>> = users
            .iter()
            .map(|user| UserInputs {
                user,
                found: state.users.get(user).map(|record| {
                    let holder = Holder::of(state, objects, Subject::User(user.clone()));
                    (UserGate::of(record, &service), holder)
                }),
                kept: objects.effective.get(user),
            })
            .collect();
        let records: Vec<(UserId, NewRecord)> = inputs
            .into_iter()
            .filter_map(|inputs| {
                let holds = inputs.found.and_then(|(gate, holder)| {
                    let administrator = compute_into(state, objects, &holder, &mut shared);
                    (administrator || !shared.joined.is_empty()).then_some((gate, administrator))
                });
                let parts = holds.map(|(gate, administrator)| ComputedParts {
                    gate,
                    administrator,
                    entries: &shared.joined,
                });
                if objects.keeps(inputs.kept, parts) {
                    return None;
                }
                let record = match holds {
                    Some((gate, administrator)) => {
                        objects.prepared(gate, administrator, &mut shared.joined)
                    }
                    None => NewRecord::Nothing,
                };
                Some((inputs.user.clone(), record))
            })
            .collect();
        let groups = shared.into_learned();
        if !records.is_empty() || !groups.is_empty() {
            updates.push(ServiceUpdates {
                service,
                records,
                groups,
            });
        }
    }
    write(snapshot, tenant, updates);
}

/// `service`, or every service of the tenant for `None`.
#[inline]
pub(super) fn services_of(state: &TenantState, service: Option<&ServiceId>) -> Vec<ServiceId> {
    match service {
        Some(service) => vec![service.clone()],
        None => state.services.keys().cloned().collect(),
    }
}

/// What a refresh computed in one service of a tenant.
struct ServiceUpdates {
    service: ServiceId,
    /// New access records.
    records: Vec<(UserId, NewRecord)>,
    /// Groups' holdings computed afresh, kept for later refreshes.
    groups: Vec<(Subject, GroupHoldings)>,
}

/// Stores computed records, copying only the shards of the maps they land in.
fn write(snapshot: &mut Snapshot, tenant: &TenantId, updates: Vec<ServiceUpdates>) {
    if updates.is_empty() {
        return;
    }
    let Ok(state) = snapshot.tenant_mut(tenant) else {
        return;
    };
    for update in updates {
        let Some(objects) = state.services.get_mut(&update.service).map(Arc::make_mut) else {
            continue;
        };
        for (group, mut held) in update.groups {
            objects.intern_group_sets(&mut held);
            objects.group_holdings.insert(group, held);
        }
        for (user, record) in update.records {
            match record {
                NewRecord::Ready(access) => {
                    objects.effective.insert(user, access);
                }
                NewRecord::Pending(computed) => {
                    let kept = objects.keep(computed);
                    objects.effective.insert(user, kept);
                }
                NewRecord::Nothing => {
                    objects.effective.remove(&user);
                }
            }
        }
    }
}

/// A user's access in one service from the Administrators group, security groups and
/// grants, directly or through its directory groups (what those and security groups
/// give taken from, and kept in, `shared`).
#[inline]
pub(super) fn compute(
    state: &TenantState,
    objects: &TenantService,
    gate: UserGate,
    holder: &Holder<'_>,
    shared: &mut SharedHoldings,
) -> Computed {
    let administrator = compute_into(state, objects, holder, shared);
    Computed {
        gate,
        administrator,
        entries: shared.joined.clone(),
    }
}

/// [`compute`] leaving the entries in `shared.joined`; returns the Administrators flag.
#[inline]
pub(super) fn compute_into(
    state: &TenantState,
    objects: &TenantService,
    holder: &Holder<'_>,
    shared: &mut SharedHoldings,
) -> bool {
    for group in holder.groups() {
        shared.learn(state, objects, group);
    }
    shared.held_by(objects, holder)
}
