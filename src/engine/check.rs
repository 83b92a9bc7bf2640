//! `check` and `explain`.
//!
//! `check` reads the user's access record in the service (see `effective/`) and the
//! ancestry stored with the object (see `placement.rs`); `explain` walks every source
//! (roles, the Administrators group, security groups, grants, through the user's directory
//! groups) to name them. Neither walks the data: the cost grows with the container depth,
//! the group nesting and the user's own grants, never with the number of tenants, users,
//! objects or grants.

use super::{
    decision::{CheckQuery, Denial, Explanation, GrantSource, GrantTrace},
    effective::NodeSlot,
    ids::{ObjectId, Timestamp},
    model::{Snapshot, TenantService, TenantState, UserState, full_access_role, group_chain},
    mutation::{Access, GrantNode, ObjectScope, Subject, UserStatus},
    placement::Ancestry,
};

impl Snapshot {
    /// Whether the query is allowed at `now`.
    ///
    /// The hot path: one record of the user's precomputed access in the service (see
    /// `effective/`, which also copies the user's status and role into it) and the
    /// object's ancestry stored with the object (see `placement.rs`): a few hash lookups
    /// and a scan of integers, no walk. The record's summary of its entries answers many
    /// denials before the entries, one pointer further, are read. `explain` gives the same
    /// answer the long way, naming every source.
    pub fn check(&self, query: &CheckQuery, now: Timestamp) -> bool {
        let Some(tenant) = self.tenants.get(&query.tenant) else {
            return false;
        };
        let (Some(objects), Some(service_def)) = (
            tenant.services.get(&query.service),
            self.services.get(&query.service),
        ) else {
            return false;
        };
        let Some(bit) = service_def.catalog.bit(&query.permission) else {
            return false;
        };
        // Both lookups before either answer is used: they read unrelated memory, seldom in
        // a cache, so the CPU waits for the two at once instead of one after the other.
        let access = objects.effective.get(&query.user);
        let object = query
            .object
            .as_ref()
            .map(|object| objects.objects.get(object).map(|state| &state.ancestry));
        let ancestry = match object {
            Some(Some(ancestry)) => Some(ancestry),
            Some(None) => return false,
            None => None,
        };
        let Some(access) = access else {
            // No access from any source but the role: only a role that reaches everything
            // allows (such roles reach every subscribed service).
            return tenant
                .users
                .get(&query.user)
                .is_some_and(|u| is_active(u.status, now) && full_access_role(&u.role).is_some());
        };
        if !access.gate.admits(now) {
            return false;
        }
        if access.gate.full_access || access.administrator {
            return true;
        }
        if !access
            .entries
            .may_give(bit, ancestry.map(Ancestry::folded_slots))
        {
            return false;
        }
        // INVARIANT: an entry's slot is its node's, and an object's ancestry holds the
        // slots of the object and every container above it (see `placement.rs`).
        access.entries.iter().any(|entry| {
            entry.holds(bit, &objects.bit_sets)
                && entry.unexpired_at(now)
                && match (entry.node(), ancestry) {
                    (NodeSlot::Service, _) => true,
                    (NodeSlot::Object(_), None) => false,
                    (NodeSlot::Object(slot), Some(ancestry)) => ancestry.contains(slot),
                }
        })
    }

    /// Why `query` is denied, as far as a few lookups tell without walking any grant:
    /// what does not exist, a user who is not active or does not reach the service, or
    /// else `None` (no grant allows it: none at all, expired, or outside its scope, which
    /// only [`Snapshot::explain`] tells apart). For counting the denials of unexplained
    /// checks; call it only on a denial.
    pub fn denial_without_grants(&self, query: &CheckQuery, now: Timestamp) -> Option<Denial> {
        let context = match self.context(query, now) {
            Ok(context) => context,
            Err(denial) => return Some(denial),
        };
        context
            .service_def
            .catalog
            .bit(&query.permission)
            .is_none()
            .then_some(Denial::UnknownPermission)
    }

    /// The decision with every grant that allows it, or the reason it is denied.
    pub fn explain(&self, query: &CheckQuery, now: Timestamp) -> Explanation {
        let context = match self.context(query, now) {
            Ok(context) => context,
            Err(denial) => return Explanation::Denied(denial),
        };
        let Some(bit) = context.service_def.catalog.bit(&query.permission) else {
            return Explanation::Denied(Denial::UnknownPermission);
        };
        let mut allowed = Vec::new();
        if let Some(role) = full_access_role(&context.user.role) {
            allowed.push(GrantTrace {
                source: GrantSource::Role(role),
                grant: None,
                node: GrantNode::Service,
                group_chain: Vec::new(),
                expires_at: None,
            });
        }
        let user_subject = Subject::User(query.user.clone());
        let groups = context.tenant.groups_of(&user_subject);
        let subjects = std::iter::once((&user_subject, None))
            .chain(groups.iter().map(|(g, _)| (*g, Some(*g))));
        let chain: Vec<&ObjectId> = query
            .object
            .as_ref()
            .map(|o| context.objects.chain(o).collect())
            .unwrap_or_default();
        let covers = |node: &GrantNode| match node {
            GrantNode::Service => true,
            GrantNode::Object(n) => chain.contains(&n),
        };
        let mut expired = Vec::new();
        let mut outside = false;
        for (subject, via) in subjects {
            let chain_of =
                |via: Option<&Subject>| via.map(|g| group_chain(&groups, g)).unwrap_or_default();
            if context.objects.administrators.contains(subject) {
                allowed.push(GrantTrace {
                    source: GrantSource::AdministratorsGroup,
                    grant: None,
                    node: GrantNode::Service,
                    group_chain: chain_of(via),
                    expires_at: None,
                });
            }
            for sg_id in context
                .objects
                .sg_by_member
                .get(subject)
                .into_iter()
                .flatten()
            {
                let Some(sg) = context.objects.security_groups.get(sg_id) else {
                    continue;
                };
                if !sg.bits.contains(bit) {
                    continue;
                }
                let node = match &sg.scope {
                    ObjectScope::AllObjects => Some(GrantNode::Service),
                    ObjectScope::Objects(set) => chain
                        .iter()
                        .find(|o| set.contains(**o))
                        .map(|o| GrantNode::Object((*o).clone())),
                };
                let Some(node) = node else {
                    outside = true;
                    continue;
                };
                allowed.push(GrantTrace {
                    source: GrantSource::SecurityGroup(sg_id.clone()),
                    grant: None,
                    node,
                    group_chain: chain_of(via),
                    expires_at: None,
                });
            }
            for grant_id in context
                .objects
                .grants_by_subject
                .get(subject)
                .into_iter()
                .flatten()
            {
                let Some(grant) = context.objects.grants.get(grant_id) else {
                    continue;
                };
                if !context.objects.grant_bits(grant).contains(bit) {
                    continue;
                }
                if !covers(&grant.node) {
                    outside = true;
                    continue;
                }
                let trace = GrantTrace {
                    source: match &grant.access {
                        Access::Level(level) => GrantSource::PermissionLevel(level.clone()),
                        Access::Permissions(_) => GrantSource::DirectGrant,
                    },
                    grant: Some(grant_id.clone()),
                    node: grant.node.clone(),
                    group_chain: chain_of(via),
                    expires_at: grant.expires_at,
                };
                if grant.expires_at.is_some_and(|t| t <= now) {
                    expired.push(trace);
                    continue;
                }
                allowed.push(trace);
            }
        }
        if !allowed.is_empty() {
            allowed.sort();
            return Explanation::Allowed(allowed);
        }
        Explanation::Denied(if !expired.is_empty() {
            expired.sort();
            Denial::GrantExpired(expired)
        } else if outside {
            Denial::OutsideScope
        } else {
            Denial::NoGrant
        })
    }

    /// Resolves the tenant, service, user and object of a query, with the denials that
    /// come before any grant is looked at.
    fn context<'a>(&'a self, query: &CheckQuery, now: Timestamp) -> Result<Context<'a>, Denial> {
        let tenant = self
            .tenants
            .get(&query.tenant)
            .ok_or(Denial::UnknownTenant)?;
        let service_def = self
            .services
            .get(&query.service)
            .ok_or(Denial::UnknownService)?;
        let objects = tenant
            .services
            .get(&query.service)
            .ok_or(Denial::ServiceNotSubscribed)?;
        let user = tenant.users.get(&query.user).ok_or(Denial::UnknownUser)?;
        if !is_active(user.status, now) {
            return Err(Denial::UserNotActive(user.status));
        }
        if !user.reaches_service(&query.service) {
            return Err(Denial::NoServiceAccess);
        }
        if let Some(object) = &query.object
            && !objects.objects.contains_key(object)
        {
            return Err(Denial::UnknownObject);
        }
        Ok(Context {
            tenant,
            service_def,
            objects,
            user,
        })
    }
}

struct Context<'a> {
    tenant: &'a TenantState,
    service_def: &'a super::model::ServiceState,
    objects: &'a TenantService,
    user: &'a UserState,
}

/// Only active users are allowed anything; a lock ends by itself when its time passes.
pub(crate) fn is_active(status: UserStatus, now: Timestamp) -> bool {
    match status {
        UserStatus::Active => true,
        UserStatus::LockedUntil(until) => until <= now,
        UserStatus::Invited | UserStatus::Disabled => false,
    }
}
