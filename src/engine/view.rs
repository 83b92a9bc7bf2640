//! The user-based view, the object-based view and the two lookups. Each returns its whole
//! answer in a stable order; the API pages over it with a cursor on the sort key.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    check::is_active,
    decision::{GrantSource, GrantTrace},
    ids::{GroupId, ObjectId, ServiceId, TenantId, Timestamp, UserId},
    model::{ServiceState, Snapshot, TenantService, TenantState, full_access_role, group_chain},
    mutation::{Access, GrantNode, ObjectScope, Subject},
    permission::{Permission, PermissionBits},
};

/// Why a view or lookup cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// The tenant does not exist.
    #[error("tenant `{0}` does not exist")]
    UnknownTenant(TenantId),
    /// The service is not registered or not subscribed by the tenant.
    #[error("service `{0}` is not registered or not subscribed by the tenant")]
    UnknownService(ServiceId),
    /// The user does not exist in the tenant.
    #[error("user `{0}` does not exist in the tenant")]
    UnknownUser(UserId),
    /// The object does not exist in the tenant's service.
    #[error("object `{0}` does not exist in the tenant's service")]
    UnknownObject(ObjectId),
    /// The permission is not in the service's catalog.
    #[error("permission `{0}` is not in the service's catalog")]
    UnknownPermission(Permission),
}

/// One permission of a user on one node, with its sources (user-based view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPermission {
    /// Service.
    pub service: ServiceId,
    /// Node it applies to.
    pub node: GrantNode,
    /// Permission.
    pub permission: Permission,
    /// The grants behind it.
    pub sources: Vec<GrantTrace>,
}

/// One subject's permission on an object (object-based view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectAccess {
    /// Who (as named by the grant or membership: a user or a directory group).
    pub subject: Subject,
    /// Permission.
    pub permission: Permission,
    /// The grants behind it.
    pub sources: Vec<GrantTrace>,
}

/// A permission set on a node from one source, before expansion into permissions.
struct Held {
    bits: PermissionBits,
    node: GrantNode,
    trace: GrantTrace,
}

impl Snapshot {
    /// Everything `user` may do, per service (only `service` if given), each permission on
    /// each node with its sources. Ordered by service, node, permission. An inactive user
    /// may do nothing, so its view is empty.
    pub fn user_permissions(
        &self,
        tenant: &TenantId,
        user: &UserId,
        service: Option<&ServiceId>,
        now: Timestamp,
    ) -> Result<Vec<UserPermission>, ViewError> {
        let tenant_state = self.tenant_state(tenant)?;
        let user_state = tenant_state
            .users
            .get(user)
            .ok_or_else(|| ViewError::UnknownUser(user.clone()))?;
        if let Some(service) = service {
            self.service_pair(tenant_state, service)?;
        }
        let mut out = Vec::new();
        if !is_active(user_state.status, now) {
            return Ok(out);
        }
        let mut services: Vec<&ServiceId> = match service {
            Some(service) => vec![service],
            None => tenant_state.services.keys().collect(),
        };
        services.sort();
        let subject = Subject::User(user.clone());
        for service in services {
            let (definition, objects) = self.service_pair(tenant_state, service)?;
            if !user_state.reaches_service(service) {
                continue;
            }
            let mut held = Vec::new();
            if let Some(role) = full_access_role(&user_state.role) {
                held.push(Held {
                    bits: PermissionBits::ALL,
                    node: GrantNode::Service,
                    trace: role_trace(role),
                });
            }
            held.extend(held_by(tenant_state, objects, &subject, now));
            let mut merged: BTreeMap<(GrantNode, Permission), Vec<GrantTrace>> = BTreeMap::new();
            for h in held {
                for permission in definition.catalog.expand(h.bits) {
                    merged
                        .entry((h.node.clone(), permission.clone()))
                        .or_default()
                        .push(h.trace.clone());
                }
            }
            for ((node, permission), mut sources) in merged {
                sources.sort();
                sources.dedup();
                out.push(UserPermission {
                    service: service.clone(),
                    node,
                    permission,
                    sources,
                });
            }
        }
        Ok(out)
    }

    /// Everyone with a permission on `object`, directly or inherited from its containers
    /// or the service: users and directory groups as grants and memberships name them
    /// (users only while active and with access to the service). Ordered by subject, then
    /// permission.
    pub fn object_access(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
        object: &ObjectId,
        now: Timestamp,
    ) -> Result<Vec<ObjectAccess>, ViewError> {
        let tenant_state = self.tenant_state(tenant)?;
        let (definition, objects) = self.service_pair(tenant_state, service)?;
        if !objects.objects.contains_key(object) {
            return Err(ViewError::UnknownObject(object.clone()));
        }
        let chain: Vec<&ObjectId> = objects.chain(object).collect();
        let mut merged: BTreeMap<(Subject, Permission), Vec<GrantTrace>> = BTreeMap::new();
        let mut add = |subject: &Subject, bits: PermissionBits, trace: GrantTrace| {
            for permission in definition.catalog.expand(bits) {
                merged
                    .entry((subject.clone(), permission.clone()))
                    .or_default()
                    .push(trace.clone());
            }
        };
        for (user, state) in tenant_state.users.iter() {
            if let Some(role) = full_access_role(&state.role) {
                add(
                    &Subject::User(user.clone()),
                    PermissionBits::ALL,
                    role_trace(role),
                );
            }
        }
        for subject in objects.administrators.iter() {
            add(subject, PermissionBits::ALL, admin_trace(Vec::new()));
        }
        for (id, sg) in objects.security_groups.iter() {
            if let Some(node) = scope_node(&sg.scope, &chain) {
                for member in &sg.members {
                    add(member, sg.bits, sg_trace(id, node.clone(), Vec::new()));
                }
            }
        }
        for (id, grant) in objects.grants.iter() {
            let on_chain = match &grant.node {
                GrantNode::Service => true,
                GrantNode::Object(n) => chain.contains(&n),
            };
            if on_chain && grant.expires_at.is_none_or(|t| t > now) {
                add(
                    &grant.subject,
                    objects.grant_bits(grant),
                    grant_trace(id, grant, Vec::new()),
                );
            }
        }
        let effective_user = |user: &UserId| {
            tenant_state
                .users
                .get(user)
                .is_some_and(|u| is_active(u.status, now) && u.reaches_service(service))
        };
        Ok(merged
            .into_iter()
            .filter(|((subject, _), _)| match subject {
                Subject::User(user) => effective_user(user),
                Subject::Group(_) => true,
            })
            .map(|((subject, permission), mut sources)| {
                sources.sort();
                sources.dedup();
                ObjectAccess {
                    subject,
                    permission,
                    sources,
                }
            })
            .collect())
    }

    /// The objects of `service` on which `user` may do `permission`, ascending.
    pub fn lookup_objects(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
        user: &UserId,
        permission: &Permission,
        now: Timestamp,
    ) -> Result<Vec<ObjectId>, ViewError> {
        let tenant_state = self.tenant_state(tenant)?;
        let (definition, objects) = self.service_pair(tenant_state, service)?;
        let user_state = tenant_state
            .users
            .get(user)
            .ok_or_else(|| ViewError::UnknownUser(user.clone()))?;
        let bit = definition
            .catalog
            .bit(permission)
            .ok_or_else(|| ViewError::UnknownPermission(permission.clone()))?;
        if !is_active(user_state.status, now) || !user_state.reaches_service(service) {
            return Ok(Vec::new());
        }
        let mut nodes: Vec<GrantNode> = Vec::new();
        if full_access_role(&user_state.role).is_some() {
            nodes.push(GrantNode::Service);
        }
        nodes.extend(
            held_by(tenant_state, objects, &Subject::User(user.clone()), now)
                .into_iter()
                .filter(|h| h.bits.contains(bit))
                .map(|h| h.node),
        );
        if nodes.contains(&GrantNode::Service) {
            let mut all: Vec<ObjectId> = objects.objects.keys().cloned().collect();
            all.sort();
            return Ok(all);
        }
        let mut found = BTreeSet::new();
        for node in nodes {
            found.extend(objects.subtree(&node));
        }
        Ok(found.into_iter().collect())
    }

    /// The users who may do `permission` on `object` (or the service as a whole),
    /// directory groups expanded, ascending.
    pub fn lookup_subjects(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
        object: Option<&ObjectId>,
        permission: &Permission,
        now: Timestamp,
    ) -> Result<Vec<UserId>, ViewError> {
        let tenant_state = self.tenant_state(tenant)?;
        let (definition, objects) = self.service_pair(tenant_state, service)?;
        let bit = definition
            .catalog
            .bit(permission)
            .ok_or_else(|| ViewError::UnknownPermission(permission.clone()))?;
        let chain: Vec<&ObjectId> = match object {
            Some(object) if !objects.objects.contains_key(object) => {
                return Err(ViewError::UnknownObject(object.clone()));
            }
            Some(object) => objects.chain(object).collect(),
            None => Vec::new(),
        };
        let mut subjects: BTreeSet<Subject> = objects.administrators.iter().cloned().collect();
        for sg in objects.security_groups.values() {
            if sg.bits.contains(bit) && scope_node(&sg.scope, &chain).is_some() {
                subjects.extend(sg.members.iter().cloned());
            }
        }
        for grant in objects.grants.values() {
            let on_chain = match &grant.node {
                GrantNode::Service => true,
                GrantNode::Object(n) => chain.contains(&n),
            };
            if on_chain
                && grant.expires_at.is_none_or(|t| t > now)
                && objects.grant_bits(grant).contains(bit)
            {
                subjects.insert(grant.subject.clone());
            }
        }
        let mut users: BTreeSet<UserId> = tenant_state
            .users
            .iter()
            .filter(|(_, u)| full_access_role(&u.role).is_some())
            .map(|(id, _)| id.clone())
            .collect();
        users.extend(expand_users(tenant_state, subjects));
        Ok(users
            .into_iter()
            .filter(|user| {
                tenant_state
                    .users
                    .get(user)
                    .is_some_and(|u| is_active(u.status, now) && u.reaches_service(service))
            })
            .collect())
    }

    fn tenant_state(&self, tenant: &TenantId) -> Result<&TenantState, ViewError> {
        self.tenants
            .get(tenant)
            .map(AsRef::as_ref)
            .ok_or_else(|| ViewError::UnknownTenant(tenant.clone()))
    }

    fn service_pair<'a>(
        &'a self,
        tenant_state: &'a TenantState,
        service: &ServiceId,
    ) -> Result<(&'a ServiceState, &'a TenantService), ViewError> {
        let definition = self
            .services
            .get(service)
            .ok_or_else(|| ViewError::UnknownService(service.clone()))?;
        let objects = tenant_state
            .services
            .get(service)
            .ok_or_else(|| ViewError::UnknownService(service.clone()))?;
        Ok((definition, objects))
    }
}

/// Every permission set `subject` holds in the service through the Administrators group,
/// security groups and non-expired grants, itself or through its directory groups.
fn held_by(
    tenant_state: &TenantState,
    objects: &TenantService,
    subject: &Subject,
    now: Timestamp,
) -> Vec<Held> {
    let groups = tenant_state.groups_of(subject);
    let subjects =
        std::iter::once((subject, None)).chain(groups.iter().map(|(g, _)| (*g, Some(*g))));
    let mut held = Vec::new();
    for (holder, via) in subjects {
        let chain = via
            .map(|g: &Subject| group_chain(&groups, g))
            .unwrap_or_default();
        if objects.administrators.contains(holder) {
            held.push(Held {
                bits: PermissionBits::ALL,
                node: GrantNode::Service,
                trace: admin_trace(chain.clone()),
            });
        }
        for sg_id in objects.sg_by_member.get(holder).into_iter().flatten() {
            let Some(sg) = objects.security_groups.get(sg_id) else {
                continue;
            };
            let nodes: Vec<GrantNode> = match &sg.scope {
                ObjectScope::AllObjects => vec![GrantNode::Service],
                ObjectScope::Objects(set) => set.iter().cloned().map(GrantNode::Object).collect(),
            };
            for node in nodes {
                held.push(Held {
                    bits: sg.bits,
                    trace: sg_trace(sg_id, node.clone(), chain.clone()),
                    node,
                });
            }
        }
        for grant_id in objects.grants_by_subject.get(holder).into_iter().flatten() {
            let Some(grant) = objects.grants.get(grant_id) else {
                continue;
            };
            if grant.expires_at.is_some_and(|t| t <= now) {
                continue;
            }
            held.push(Held {
                bits: objects.grant_bits(grant),
                node: grant.node.clone(),
                trace: grant_trace(grant_id, grant, chain.clone()),
            });
        }
    }
    held
}

/// The users in `subjects`, with directory groups expanded through nested groups.
fn expand_users(tenant_state: &TenantState, subjects: BTreeSet<Subject>) -> BTreeSet<UserId> {
    let mut users = BTreeSet::new();
    let mut seen_groups = BTreeSet::new();
    let mut stack: Vec<Subject> = subjects.into_iter().collect();
    while let Some(subject) = stack.pop() {
        match subject {
            Subject::User(user) => {
                users.insert(user);
            }
            Subject::Group(group) => {
                if !seen_groups.insert(group.clone()) {
                    continue;
                }
                if let Some(state) = tenant_state.groups.get(&group) {
                    stack.extend(state.members.iter().cloned());
                }
            }
        }
    }
    users
}

/// The node through which a security group's scope reaches an object chain (`None` for the
/// service as a whole unless the scope is every object).
fn scope_node(scope: &ObjectScope, chain: &[&ObjectId]) -> Option<GrantNode> {
    match scope {
        ObjectScope::AllObjects => Some(GrantNode::Service),
        ObjectScope::Objects(set) => chain
            .iter()
            .find(|o| set.contains(**o))
            .map(|o| GrantNode::Object((*o).clone())),
    }
}

fn role_trace(role: &'static str) -> GrantTrace {
    GrantTrace {
        source: GrantSource::Role(role),
        grant: None,
        node: GrantNode::Service,
        group_chain: Vec::new(),
        expires_at: None,
    }
}

fn admin_trace(group_chain: Vec<GroupId>) -> GrantTrace {
    GrantTrace {
        source: GrantSource::AdministratorsGroup,
        grant: None,
        node: GrantNode::Service,
        group_chain,
        expires_at: None,
    }
}

fn sg_trace(
    id: &super::ids::SecurityGroupId,
    node: GrantNode,
    group_chain: Vec<GroupId>,
) -> GrantTrace {
    GrantTrace {
        source: GrantSource::SecurityGroup(id.clone()),
        grant: None,
        node,
        group_chain,
        expires_at: None,
    }
}

fn grant_trace(
    id: &super::ids::GrantId,
    grant: &super::model::GrantState,
    group_chain: Vec<GroupId>,
) -> GrantTrace {
    GrantTrace {
        source: match &grant.access {
            Access::Level(level) => GrantSource::PermissionLevel(level.clone()),
            Access::Permissions(_) => GrantSource::DirectGrant,
        },
        grant: Some(id.clone()),
        node: grant.node.clone(),
        group_chain,
        expires_at: grant.expires_at,
    }
}
