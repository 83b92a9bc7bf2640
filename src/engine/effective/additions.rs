//! Keeping access records current after a mutation that only adds access: what it gives
//! is merged into the record of each user it reaches, without walking anyone's groups.

use std::sync::Arc;

use super::{
    AccessEntries, AccessEntry, Computed, UserAccess, UserGate,
    affected::{UserSet, users_under},
    group_holdings::{Holder, Holdings, SharedHoldings, add_grant, add_security_group},
    merge::{join_sorted, merged},
    refresh::{compute, services_of},
};
use crate::engine::{
    bit_sets::BitSets,
    ids::{GrantId, SecurityGroupId, ServiceId, TenantId, UserId},
    model::{Snapshot, TenantService, TenantState},
    mutation::{Dependencies, Mutation, Subject},
};

/// A mutation that only adds access: everyone under `gainers` comes to hold `gain`.
pub(super) struct Addition<'a> {
    tenant: &'a TenantId,
    /// `None`: every service of the tenant.
    service: Option<&'a ServiceId>,
    gainers: &'a Subject,
    gain: Gain<'a>,
}

/// What the users under an addition's `gainers` come to hold.
enum Gain<'a> {
    /// One grant.
    Grant(&'a GrantId),
    /// One security group's permissions on its scope.
    SecurityGroup(&'a SecurityGroupId),
    /// Membership of the Administrators group.
    Administrator,
    /// Everything this group and every group above it hold.
    Groups(Subject),
}

impl<'a> Addition<'a> {
    pub(super) fn of(mutation: &'a Mutation) -> Option<Self> {
        match mutation {
            // A grant that brings grants on its dependencies adds more than itself: the
            // subject's record is computed again instead.
            Mutation::GiveGrant {
                dependencies: Dependencies::Cascade,
                ..
            } => None,
            Mutation::GiveGrant {
                tenant,
                service,
                subject,
                grant,
                ..
            } => Some(Self {
                tenant,
                service: Some(service),
                gainers: subject,
                gain: Gain::Grant(grant),
            }),
            Mutation::AddSecurityGroupMember {
                tenant,
                service,
                member,
                group,
            } => Some(Self {
                tenant,
                service: Some(service),
                gainers: member,
                gain: Gain::SecurityGroup(group),
            }),
            Mutation::AddAdministrator {
                tenant,
                service,
                subject,
            } => Some(Self {
                tenant,
                service: Some(service),
                gainers: subject,
                gain: Gain::Administrator,
            }),
            Mutation::AddGroupMember {
                tenant,
                group,
                member,
            } => Some(Self {
                tenant,
                service: None,
                gainers: member,
                gain: Gain::Groups(Subject::Group(group.clone())),
            }),
            _ => None,
        }
    }

    /// Adds what is gained to the record of each user under `gainers`. Merging entries is
    /// idempotent and everything gained is now held, so the result equals a full
    /// recomputation at a fraction of its cost: no user's groups are walked, and what is
    /// gained is interned once per service, not once per user.
    pub(super) fn apply(&self, snapshot: &mut Snapshot) {
        let Some(state) = snapshot.tenants.get(self.tenant) else {
            return;
        };
        let mut users = UserSet::default();
        users_under(state, self.gainers, &mut users);
        // What each service gives, and the full records of users who held nothing there
        // before (computed while the tenant is only read).
        let mut gains = Vec::new();
        for service in services_of(state, self.service) {
            let Some(objects) = state.services.get(&service) else {
                continue;
            };
            let mut shared = SharedHoldings::default();
            let gained = self.gained_in(state, objects, &mut shared);
            if !gained.administrator && gained.entries.is_empty() {
                continue;
            }
            let first_records: Vec<(UserId, Computed)> = users
                .iter()
                .filter(|user| !objects.effective.contains_key(*user))
                .filter_map(|user| {
                    let record = state.users.get(user)?;
                    Some((
                        user.clone(),
                        compute(
                            state,
                            objects,
                            UserGate::of(record, &service),
                            &Holder::of(state, objects, Subject::User(user.clone())),
                            &mut shared,
                        ),
                    ))
                })
                .collect();
            gains.push((service, gained, first_records));
        }
        if gains.is_empty() {
            return;
        }
        let Ok(state) = snapshot.tenant_mut(self.tenant) else {
            return;
        };
        for (service, gained, first_records) in gains {
            let Some(objects) = state.services.get_mut(&service).map(Arc::make_mut) else {
                continue;
            };
            let TenantService {
                effective,
                bit_sets,
                ..
            } = objects;
            let gained_entries: Vec<AccessEntry> = merged(gained.entries)
                .into_iter()
                .map(|e| AccessEntry::new(e.node, bit_sets.intern(e.bits), e.expires_at))
                .collect();
            for user in &users {
                let Some(current) = effective.get(user) else {
                    continue;
                };
                let administrator = current.administrator || gained.administrator;
                let entries = merged_kept(&current.entries, &gained_entries, bit_sets);
                if administrator == current.administrator && entries.is_none() {
                    continue;
                }
                let next = UserAccess {
                    gate: current.gate,
                    administrator,
                    entries: match entries {
                        Some(entries) => AccessEntries::new(entries, bit_sets),
                        None => current.entries.clone(),
                    },
                };
                effective.insert(user.clone(), next);
            }
            // Written last, so that the merge above skips them.
            for (user, computed) in first_records {
                let kept = objects.keep(computed);
                objects.effective.insert(user, kept);
            }
        }
    }

    /// What the users under `gainers` come to hold in one service.
    fn gained_in(
        &self,
        state: &TenantState,
        objects: &TenantService,
        shared: &mut SharedHoldings,
    ) -> Holdings {
        let mut gained = Holdings::default();
        match &self.gain {
            Gain::Grant(grant) => {
                if let Some(grant) = objects.grants.get(*grant) {
                    add_grant(objects, grant, &mut gained);
                }
            }
            Gain::SecurityGroup(group) => {
                if let Some(group) = objects.security_groups.get(*group) {
                    add_security_group(objects, group, &mut gained);
                }
            }
            Gain::Administrator => gained.administrator = true,
            Gain::Groups(source) => {
                shared.learn(state, objects, source);
                if let Some(held) = shared.group(source) {
                    gained.administrator = held.administrator;
                    gained.entries = held.entries.to_vec();
                }
            }
        }
        gained
    }
}

/// `kept` with `added` merged in, both sorted as [`merged`] leaves them (by node, then
/// expiry, one entry for each), in one pass over plain entries; `None` when `added`
/// brings nothing `kept` does not hold. Only a set that grows on a node both hold is
/// looked up and interned.
fn merged_kept(
    kept: &[AccessEntry],
    added: &[AccessEntry],
    bit_sets: &mut BitSets,
) -> Option<Vec<AccessEntry>> {
    let mut grew = false;
    let out = join_sorted(
        kept,
        added,
        |e| (e.node(), e.expires_at()),
        |k, a| {
            if k.bits == a.bits {
                return *k;
            }
            let held = bit_sets.get(k.bits);
            let bits = held.union(bit_sets.get(a.bits));
            if bits == held {
                return *k;
            }
            grew = true;
            AccessEntry::new(k.node(), bit_sets.intern(bits), k.expires_at())
        },
    );
    // Longer: `added` had an entry on a node and expiry `kept` lacked.
    (grew || out.len() > kept.len()).then_some(out)
}
