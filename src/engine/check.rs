//! `check` and `explain`: one evaluation, which stops at the first allowing grant for a
//! check and collects every grant for an explanation.
//!
//! The cost grows with the object's container depth and the user's group nesting, never
//! with the number of tenants, users, objects or grants: every step is a keyed lookup.

use super::{
    decision::{CheckQuery, Denial, Explanation, GrantSource, GrantTrace},
    ids::{ObjectId, Timestamp},
    model::{Snapshot, TenantService, TenantState, UserState, group_chain},
    mutation::{Access, GrantNode, ObjectScope, Subject, TenantRole, UserStatus},
};

impl Snapshot {
    /// Whether the query is allowed at `now`.
    pub fn check(&self, query: &CheckQuery, now: Timestamp) -> bool {
        matches!(self.evaluate(query, now, false), Explanation::Allowed(_))
    }

    /// The decision with every grant that allows it, or the reason it is denied.
    pub fn explain(&self, query: &CheckQuery, now: Timestamp) -> Explanation {
        self.evaluate(query, now, true)
    }

    fn evaluate(&self, query: &CheckQuery, now: Timestamp, collect: bool) -> Explanation {
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
            if !collect {
                return Explanation::Allowed(allowed);
            }
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
                if !collect {
                    return Explanation::Allowed(allowed);
                }
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
                if !collect {
                    return Explanation::Allowed(allowed);
                }
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
                if !collect {
                    return Explanation::Allowed(allowed);
                }
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

/// The tenant roles that reach every permission of every subscribed service.
pub(crate) fn full_access_role(role: &TenantRole) -> Option<&'static str> {
    match role {
        TenantRole::Owner => Some("owner"),
        TenantRole::ServiceAdministrator => Some("service_administrator"),
        TenantRole::CustomizedAdministrator(_) => Some("customized_administrator"),
        TenantRole::StandardUser | TenantRole::ApplicationAdministrator(_) => None,
    }
}
