//! Who a mutation reaches: the users whose records may change and the directory groups
//! whose kept holdings may no longer hold, collected on the states before and after it,
//! then brought up to date (by an addition, or by recomputing everyone affected).

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    sync::Arc,
};

#[cfg(test)]
use super::UserAccess;
use super::{additions, refresh::refresh, refresh::services_of};
use crate::engine::{
    cow_map::CowMap,
    ids::{ObjectId, ServiceId, TenantId, UserId},
    model::{Snapshot, TenantService, TenantState},
    mutation::{Access, Dependencies, GrantNode, Mutation, ObjectScope, Subject},
};

/// A set of users, in no order.
pub(super) type UserSet = std::collections::HashSet<UserId, foldhash::fast::RandomState>;

/// A set of directory groups (as subjects), in no order.
pub(super) type GroupSet = HashSet<Subject, foldhash::fast::RandomState>;

/// Users whose access may have changed, per tenant and service (`None`: every service).
#[derive(Debug, Default)]
pub(crate) struct Affected {
    // Hash sets: collecting hundreds of users under a group into an ordered set compared
    // their ids over and over; the change context sorts once, at the end.
    entries: BTreeMap<(TenantId, Option<ServiceId>), UserSet>,
    /// Directory groups whose kept holdings may no longer hold, keyed the same way.
    stale_groups: BTreeMap<(TenantId, Option<ServiceId>), StaleGroups>,
}

/// Directory groups whose holdings a service must forget (see [`Affected::forget_groups`]).
#[derive(Debug)]
enum StaleGroups {
    All,
    These(GroupSet),
}

impl Affected {
    /// Adds what `mutation` affects, judged on `snapshot` (call it on the state before and
    /// after the mutation: memberships that a deletion removes are only visible before).
    pub(crate) fn collect(&mut self, snapshot: &Snapshot, mutation: &Mutation) {
        match mutation {
            Mutation::UpdateService { service, .. } => {
                self.collect_service(snapshot, service);
                return;
            }
            Mutation::Batch { changes, .. } => {
                for change in changes {
                    self.collect(snapshot, change);
                }
                return;
            }
            // Names, e-mails and related objects decide no check.
            Mutation::UpdateUser { .. }
            | Mutation::UpdateGroup { .. }
            | Mutation::UpdateObject { .. } => return,
            _ => {}
        }
        let touched = mutation.touched();
        let Some(tenant) = touched.tenant.clone() else {
            return;
        };
        let Some(state) = snapshot.tenants.get(&tenant) else {
            return;
        };
        // Tenant-level mutations (groups, users, roles) reach every service of the tenant.
        let service = match mutation {
            Mutation::AddGroupMember { .. }
            | Mutation::RemoveGroupMember { .. }
            | Mutation::DeleteGroup { .. }
            | Mutation::DeleteUser { .. }
            | Mutation::SetTenantRole { .. }
            | Mutation::SetGroupAdministers { .. } => None,
            _ => touched.service.clone(),
        };
        let mut subjects = match mutation {
            // Only the users under the member gain or lose the group and the groups above
            // it; everyone else under the group is in the same groups as before.
            Mutation::AddGroupMember { member, .. }
            | Mutation::RemoveGroupMember { member, .. } => {
                vec![member.clone()]
            }
            _ => touched.subjects,
        };
        let tenant_service = touched.service.as_ref().and_then(|s| state.services.get(s));
        if let Some(objects) = tenant_service {
            subjects.extend(extra_subjects(objects, mutation));
        }
        let mut users = UserSet::default();
        let mut groups = GroupSet::default();
        for subject in &subjects {
            users_and_groups_under(state, subject, &mut users, &mut groups);
        }
        if !groups.is_empty() {
            let forgotten = self
                .stale_groups
                .entry((tenant.clone(), service.clone()))
                .or_insert_with(|| StaleGroups::These(GroupSet::default()));
            if let StaleGroups::These(known) = forgotten {
                known.extend(groups);
            }
        }
        if !users.is_empty() {
            self.entries
                .entry((tenant, service))
                .or_default()
                .extend(users);
        }
    }

    /// Adds every user holding access in `service`, in every tenant subscribed to it: a
    /// catalog change re-resolves the bits of every permission set. A user without an
    /// entry holds nothing from any source, whatever the catalog, so it is left out.
    fn collect_service(&mut self, snapshot: &Snapshot, service: &ServiceId) {
        for (tenant, state) in snapshot.tenants.iter() {
            let Some(objects) = state.services.get(service) else {
                continue;
            };
            if !objects.group_holdings.is_empty() {
                self.stale_groups
                    .insert((tenant.clone(), Some(service.clone())), StaleGroups::All);
            }
            if objects.effective.is_empty() {
                continue;
            }
            self.entries
                .entry((tenant.clone(), Some(service.clone())))
                .or_default()
                .extend(objects.effective.keys().cloned());
        }
    }

    /// Whether collecting after `mutation` finds every user it affects, so that collecting
    /// before it is not needed: it only adds access (a grant, a membership, an
    /// administrator), which reaches everyone it reached before; or it takes a member out
    /// of a group, which leaves the users under the member as they were.
    pub(crate) fn found_after_alone(mutation: &Mutation) -> bool {
        additions::Addition::of(mutation).is_some()
            || matches!(mutation, Mutation::RemoveGroupMember { .. })
    }

    /// Brings derived access up to date after `mutation` was applied to `snapshot`: a
    /// mutation that only adds access adds it to each user it reaches; any other
    /// recomputes every affected user.
    pub(crate) fn refresh_after(&self, snapshot: &mut Snapshot, mutation: &Mutation) {
        match additions::Addition::of(mutation) {
            Some(addition) => {
                self.forget_groups(snapshot);
                addition.apply(snapshot);
            }
            None => self.refresh(snapshot),
        }
    }

    /// Drops the kept holdings of every group the collected changes can reach, so that
    /// the next refresh that needs them computes them again.
    fn forget_groups(&self, snapshot: &mut Snapshot) {
        for ((tenant, service), stale) in &self.stale_groups {
            let Some(state) = snapshot.tenants.get(tenant) else {
                continue;
            };
            let reaches = |objects: &TenantService| match stale {
                StaleGroups::All => !objects.group_holdings.is_empty(),
                StaleGroups::These(groups) => groups
                    .iter()
                    .any(|group| objects.group_holdings.contains_key(group)),
            };
            let services: Vec<ServiceId> = services_of(state, service.as_ref())
                .into_iter()
                .filter(|s| state.services.get(s).is_some_and(|o| reaches(o)))
                .collect();
            if services.is_empty() {
                continue;
            }
            let Ok(state) = snapshot.tenant_mut(tenant) else {
                continue;
            };
            for service in services {
                let Some(objects) = state.services.get_mut(&service).map(Arc::make_mut) else {
                    continue;
                };
                match stale {
                    StaleGroups::All => objects.group_holdings = CowMap::default(),
                    StaleGroups::These(groups) => {
                        for group in groups {
                            objects.group_holdings.remove(group);
                        }
                    }
                }
            }
        }
    }

    /// Adds what another change reached (the items of a batch reach their union).
    pub(crate) fn absorb(&mut self, other: Affected) {
        for (key, users) in other.entries {
            self.entries.entry(key).or_default().extend(users);
        }
        for (key, stale) in other.stale_groups {
            match (self.stale_groups.entry(key), stale) {
                (std::collections::btree_map::Entry::Vacant(slot), stale) => {
                    slot.insert(stale);
                }
                (std::collections::btree_map::Entry::Occupied(mut slot), StaleGroups::All) => {
                    slot.insert(StaleGroups::All);
                }
                (
                    std::collections::btree_map::Entry::Occupied(mut slot),
                    StaleGroups::These(more),
                ) => {
                    if let StaleGroups::These(groups) = slot.get_mut() {
                        groups.extend(more);
                    }
                }
            }
        }
    }

    /// The affected users per tenant and service (`None`: every service of the tenant).
    pub(crate) fn into_entries(
        self,
    ) -> impl Iterator<Item = ((TenantId, Option<ServiceId>), Vec<UserId>)> {
        self.entries.into_iter().map(|(key, users)| {
            let mut users: Vec<UserId> = users.into_iter().collect();
            users.sort_unstable();
            (key, users)
        })
    }

    /// Recomputes the access of every affected user in `snapshot`.
    pub(crate) fn refresh(&self, snapshot: &mut Snapshot) {
        self.forget_groups(snapshot);
        for ((tenant, service), users) in &self.entries {
            refresh(snapshot, tenant, service.as_ref(), users);
        }
    }
}

/// Every user's access records, recomputed from scratch: what the kept records must equal.
#[cfg(test)]
pub(crate) fn recomputed_records(
    snapshot: &Snapshot,
) -> BTreeMap<(TenantId, ServiceId, UserId), UserAccess> {
    let mut fresh = snapshot.clone();
    let mut everyone = Affected::default();
    for (tenant, state) in snapshot.tenants.iter() {
        everyone.entries.insert(
            (tenant.clone(), None),
            state.users.keys().cloned().collect(),
        );
        // Drop the kept records, so that only what the refresh computes remains.
        let Some(state) = Arc::make_mut(&mut fresh.tenants).get_mut(tenant) else {
            continue;
        };
        for objects in Arc::make_mut(state).services.values_mut() {
            let objects = Arc::make_mut(objects);
            objects.effective = CowMap::default();
            objects.group_holdings = CowMap::default();
        }
    }
    everyone.refresh(&mut fresh);
    kept_records(&fresh)
}

/// Every user's access records as the snapshot keeps them.
#[cfg(test)]
pub(crate) fn kept_records(
    snapshot: &Snapshot,
) -> BTreeMap<(TenantId, ServiceId, UserId), UserAccess> {
    let mut out = BTreeMap::new();
    for (tenant, state) in snapshot.tenants.iter() {
        for (service, objects) in &state.services {
            for (user, access) in objects.effective.iter() {
                out.insert(
                    (tenant.clone(), service.clone(), user.clone()),
                    access.clone(),
                );
            }
        }
    }
    out
}

/// Subjects a mutation affects without naming them: members of a changed security group,
/// holders of grants using a changed level, the subject of a revoked grant, holders of
/// access to a deleted object, administrators of a new subscription.
fn extra_subjects(objects: &TenantService, mutation: &Mutation) -> Vec<Subject> {
    match mutation {
        Mutation::PutSecurityGroup { group, .. } | Mutation::DeleteSecurityGroup { group, .. } => {
            objects
                .security_groups
                .get(group)
                .map(|sg| sg.members.iter().cloned().collect())
                .unwrap_or_default()
        }
        Mutation::PutPermissionLevel { level, .. } => objects
            .grants
            .values()
            .filter(|g| matches!(&g.access, Access::Level(l) if l == level))
            .map(|g| g.subject.clone())
            .collect(),
        Mutation::RevokeGrant { grant, .. } => objects
            .grants
            .get(grant)
            .map(|g| vec![g.subject.clone()])
            .unwrap_or_default(),
        Mutation::DeleteObject { object, .. } => {
            let node = GrantNode::Object(object.clone());
            let mut out: Vec<Subject> = objects
                .grants
                .values()
                .filter(|g| g.node == node)
                .map(|g| g.subject.clone())
                .collect();
            for sg in objects.security_groups.values() {
                if matches!(&sg.scope, ObjectScope::Objects(set) if set.contains(object)) {
                    out.extend(sg.members.iter().cloned());
                }
            }
            out
        }
        Mutation::SubscribeService { .. } => objects.administrators.iter().cloned().collect(),
        // A move that cascades revokes grants placed on objects depending on the moved
        // ones: everyone with such a grant (a superset of those revoked).
        Mutation::MoveObject {
            object,
            dependents: Dependencies::Cascade,
            ..
        } => {
            let moved: BTreeSet<ObjectId> = objects
                .subtree(&GrantNode::Object(object.clone()))
                .into_iter()
                .collect();
            let dependent: BTreeSet<&ObjectId> = objects
                .objects
                .iter()
                .filter(|(_, o)| o.related.iter().any(|r| moved.contains(r)))
                .map(|(id, _)| id)
                .collect();
            objects
                .grants
                .values()
                .filter(|g| matches!(&g.node, GrantNode::Object(o) if dependent.contains(o)))
                .map(|g| g.subject.clone())
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Adds every user `subject` stands for: itself, or everyone under a directory group.
#[inline]
pub(super) fn users_under(state: &TenantState, subject: &Subject, users: &mut UserSet) {
    users_and_groups_under(state, subject, users, &mut GroupSet::default());
}

/// Adds every user `subject` stands for to `users`, and to `groups` the directory groups
/// it reaches: itself if it is one, and every group nested in it at any depth (the groups
/// whose holdings a change to `subject` reaches). A group already in `groups` is not
/// walked again: its users were added with it.
fn users_and_groups_under(
    state: &TenantState,
    subject: &Subject,
    users: &mut UserSet,
    groups: &mut GroupSet,
) {
    // Gathered first and put into the set at once: inserting one by one made the set
    // grow, rehashing everyone, about as often as it doubled.
    let mut found = Vec::new();
    let mut stack = vec![subject];
    while let Some(next) = stack.pop() {
        match next {
            Subject::User(user) => found.push(user),
            Subject::Group(group) => {
                if groups.insert(next.clone())
                    && let Some(state) = state.groups.get(group)
                {
                    stack.extend(state.members.iter());
                }
            }
        }
    }
    users.reserve(found.len());
    users.extend(found.into_iter().cloned());
}
