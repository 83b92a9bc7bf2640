//! Keeping access records current after a mutation that only adds access: what it gives
//! is merged into the record of each user it reaches, without walking anyone's groups.

use super::{
    Computed, HeldEntry, Holdings, Mutation, Snapshot, Subject, UserId, UserSet, add_grant,
    add_holdings, add_security_group, compute, merged, services_of, users_under, write,
};
use crate::engine::ids::{GrantId, SecurityGroupId, ServiceId, TenantId};

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
    /// recomputation at a fraction of its cost: no user's groups are walked.
    pub(super) fn apply(&self, snapshot: &mut Snapshot) {
        let Some(state) = snapshot.tenants.get(self.tenant) else {
            return;
        };
        let mut users = UserSet::default();
        users_under(state, self.gainers, &mut users);
        let services = services_of(state, self.service);
        let mut updates = Vec::new();
        for service in services {
            let Some(objects) = state.services.get(&service) else {
                continue;
            };
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
                    add_holdings(objects, source, &mut gained);
                    for (group, _) in state.groups_of(source) {
                        add_holdings(objects, group, &mut gained);
                    }
                }
            }
            if !gained.administrator && gained.entries.is_empty() {
                continue;
            }
            let gained_entries = merged(gained.entries);
            let computed: Vec<(UserId, Option<Computed>)> = users
                .iter()
                .filter_map(|user| {
                    let record = state.users.get(user)?;
                    let current = objects.effective.get(user);
                    let next = match current {
                        Some(current) => {
                            let administrator = current.administrator || gained.administrator;
                            let held = objects.held(&current.entries);
                            let entries = merged_sorted(&held, &gained_entries);
                            if administrator == current.administrator && entries.is_none() {
                                return None;
                            }
                            Computed {
                                gate: current.gate,
                                administrator,
                                entries: entries.unwrap_or(held),
                            }
                        }
                        // It held nothing here before: compute what it holds now.
                        None => compute(state, objects, &service, user, record),
                    };
                    // Something changed (an unchanged record returned above; a new one
                    // holds at least what was gained).
                    Some((user.clone(), Some(next)))
                })
                .collect();
            if !computed.is_empty() {
                updates.push((service, computed));
            }
        }
        write(snapshot, self.tenant, updates);
    }
}

/// `kept` with `added` merged in, both already merged (sorted, one entry per node and
/// expiry), in one pass; `None` when `added` brings nothing `kept` does not hold.
fn merged_sorted(kept: &[HeldEntry], added: &[HeldEntry]) -> Option<Vec<HeldEntry>> {
    let key = |e: &HeldEntry| (e.node, e.expires_at);
    let mut out: Vec<HeldEntry> = Vec::with_capacity(kept.len() + added.len());
    let mut changed = false;
    let (mut kept, mut added) = (kept.iter().peekable(), added.iter().peekable());
    loop {
        let next = match (kept.peek(), added.peek()) {
            (None, None) => break,
            (Some(_), None) => kept.next().cloned(),
            (None, Some(_)) => {
                changed = true;
                added.next().cloned()
            }
            (Some(k), Some(a)) => match key(k).cmp(&key(a)) {
                std::cmp::Ordering::Less => kept.next().cloned(),
                std::cmp::Ordering::Greater => {
                    changed = true;
                    added.next().cloned()
                }
                std::cmp::Ordering::Equal => {
                    let bits = k.bits.union(a.bits);
                    changed |= bits != k.bits;
                    let entry = HeldEntry {
                        bits,
                        id: if bits == k.bits { k.id } else { None },
                        ..(*k).clone()
                    };
                    kept.next();
                    added.next();
                    Some(entry)
                }
            },
        };
        out.extend(next);
    }
    changed.then_some(out)
}
