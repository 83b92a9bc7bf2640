//! A deliberately naive reference model of the authorization rules, written straight from
//! the definitions in DESIGN.md: plain maps of facts, no indexes, group membership and
//! container chains recomputed by brute force on every question. The property tests in
//! `engine_props.rs` apply the same accepted mutations to it and to the engine and compare
//! their answers.

use std::collections::{BTreeMap, BTreeSet};

use authzd::engine::{
    Access, DemotionPolicy, GrantId, GrantNode, GroupId, Mutation, ObjectId, ObjectScope,
    Permission, PermissionLevelId, PermissionSet, SecurityGroupId, ServiceId, Subject, TenantId,
    TenantRole, Timestamp, UserId, UserStatus,
};

#[derive(Debug, Clone, Default)]
pub(crate) struct Reference {
    services: BTreeMap<ServiceId, (Vec<Permission>, DemotionPolicy)>,
    tenants: BTreeMap<TenantId, Tenant>,
}

#[derive(Debug, Clone, Default)]
struct Tenant {
    owner: Option<UserId>,
    users: BTreeMap<UserId, User>,
    groups: BTreeMap<GroupId, BTreeSet<Subject>>,
    /// The services each group is an application administrator of.
    group_administers: BTreeMap<GroupId, BTreeSet<ServiceId>>,
    subscribed: BTreeMap<ServiceId, Service>,
}

#[derive(Debug, Clone)]
struct User {
    status: UserStatus,
    role: TenantRole,
    services: BTreeSet<ServiceId>,
}

#[derive(Debug, Clone, Default)]
struct Service {
    objects: BTreeMap<ObjectId, (Option<ObjectId>, BTreeSet<ObjectId>)>,
    admins: BTreeSet<Subject>,
    security_groups: BTreeMap<SecurityGroupId, (PermissionSet, ObjectScope, BTreeSet<Subject>)>,
    levels: BTreeMap<PermissionLevelId, PermissionSet>,
    grants: BTreeMap<GrantId, (Subject, Access, GrantNode, Option<Timestamp>)>,
}

/// `pattern` covers `permission`: `*` all, `feature.*` the feature, else equality.
fn covers(set: &PermissionSet, permission: &Permission) -> bool {
    set.0.iter().any(|pattern| {
        let text = pattern.to_string();
        text == "*"
            || text
                .strip_suffix(".*")
                .is_some_and(|feature| permission.as_str().split('.').next() == Some(feature))
            || text == permission.as_str()
    })
}

fn full_role(role: &TenantRole) -> bool {
    matches!(
        role,
        TenantRole::Owner
            | TenantRole::ServiceAdministrator
            | TenantRole::CustomizedAdministrator(_)
    )
}

fn active(status: UserStatus, now: Timestamp) -> bool {
    match status {
        UserStatus::Active => true,
        UserStatus::LockedUntil(until) => until <= now,
        UserStatus::Invited | UserStatus::Disabled => false,
    }
}

impl Tenant {
    /// Every directory group that holds `subject`, through any depth.
    fn groups_holding(&self, subject: &Subject) -> BTreeSet<GroupId> {
        let mut found = BTreeSet::new();
        loop {
            let before = found.len();
            for (group, members) in &self.groups {
                let direct = members.contains(subject);
                let nested = members
                    .iter()
                    .any(|m| matches!(m, Subject::Group(g) if found.contains(g)));
                if direct || nested {
                    found.insert(group.clone());
                }
            }
            if found.len() == before {
                return found;
            }
        }
    }
}

impl User {
    fn reaches(&self, service: &ServiceId) -> bool {
        full_role(&self.role) || self.services.contains(service)
    }
}

impl Service {
    /// The object and every container above it.
    fn chain(&self, object: &ObjectId) -> Vec<ObjectId> {
        let mut chain = vec![object.clone()];
        let mut current = object.clone();
        while let Some((Some(parent), _)) = self.objects.get(&current) {
            if chain.contains(parent) {
                break;
            }
            chain.push(parent.clone());
            current = parent.clone();
        }
        chain
    }

    fn level_or_set<'a>(&'a self, access: &'a Access) -> Option<&'a PermissionSet> {
        match access {
            Access::Permissions(set) => Some(set),
            Access::Level(level) => self.levels.get(level),
        }
    }

    fn scope_reaches(scope: &ObjectScope, chain: &[ObjectId]) -> bool {
        match scope {
            ObjectScope::AllObjects => true,
            ObjectScope::Objects(set) => chain.iter().any(|o| set.contains(o)),
        }
    }

    fn node_reaches(node: &GrantNode, chain: &[ObjectId]) -> bool {
        match node {
            GrantNode::Service => true,
            GrantNode::Object(o) => chain.contains(o),
        }
    }
}

impl Reference {
    /// Records a mutation the engine accepted.
    pub(crate) fn apply(&mut self, mutation: &Mutation) {
        match mutation.clone() {
            Mutation::RegisterService {
                service,
                definition,
            }
            | Mutation::UpdateService {
                service,
                definition,
            } => {
                self.services
                    .insert(service, (definition.permissions, definition.demotion));
            }
            Mutation::CreateTenant { tenant, owner, .. } => {
                let mut state = Tenant {
                    owner: Some(owner.user.clone()),
                    ..Tenant::default()
                };
                state.users.insert(
                    owner.user,
                    User {
                        status: UserStatus::Active,
                        role: TenantRole::Owner,
                        services: BTreeSet::new(),
                    },
                );
                self.tenants.insert(tenant, state);
            }
            Mutation::SubscribeService { tenant, service } => {
                let t = self.tenant(&tenant);
                let admins = t
                    .users
                    .iter()
                    .filter(|(_, u)| matches!(&u.role, TenantRole::ApplicationAdministrator(s) if s.contains(&service)))
                    .map(|(id, _)| Subject::User(id.clone()))
                    .collect();
                t.subscribed.insert(
                    service,
                    Service {
                        admins,
                        ..Service::default()
                    },
                );
            }
            Mutation::InviteUser { tenant, user } => {
                self.tenant(&tenant).users.insert(
                    user.user,
                    User {
                        status: UserStatus::Invited,
                        role: TenantRole::StandardUser,
                        services: BTreeSet::new(),
                    },
                );
            }
            Mutation::SetUserStatus {
                tenant,
                user,
                status,
            } => {
                if let Some(u) = self.tenant(&tenant).users.get_mut(&user) {
                    u.status = status;
                }
            }
            Mutation::DeleteUser { tenant, user } => {
                let t = self.tenant(&tenant);
                t.users.remove(&user);
                forget(t, &Subject::User(user));
            }
            Mutation::SetTenantRole { tenant, user, role } => {
                let policies: BTreeMap<ServiceId, DemotionPolicy> = self
                    .services
                    .iter()
                    .map(|(s, (_, p))| (s.clone(), *p))
                    .collect();
                let t = self.tenant(&tenant);
                let admin_of = |role: &TenantRole| match role {
                    TenantRole::ApplicationAdministrator(s) => s.clone(),
                    _ => BTreeSet::new(),
                };
                let old = t
                    .users
                    .get(&user)
                    .map(|u| admin_of(&u.role))
                    .unwrap_or_default();
                let new = admin_of(&role);
                sync_administrators(t, &policies, &Subject::User(user.clone()), &old, &new);
                if let Some(u) = t.users.get_mut(&user) {
                    u.services.extend(new);
                    u.role = role;
                }
            }
            Mutation::SetGroupAdministers {
                tenant,
                group,
                services: new,
            } => {
                let policies: BTreeMap<ServiceId, DemotionPolicy> = self
                    .services
                    .iter()
                    .map(|(s, (_, p))| (s.clone(), *p))
                    .collect();
                let t = self.tenant(&tenant);
                let old = t.group_administers.remove(&group).unwrap_or_default();
                sync_administrators(t, &policies, &Subject::Group(group.clone()), &old, &new);
                t.group_administers.insert(group, new);
            }
            Mutation::TransferOwnership { tenant, new_owner } => {
                let t = self.tenant(&tenant);
                if let Some(old) = t.owner.clone().and_then(|o| t.users.get_mut(&o)) {
                    old.role = TenantRole::ServiceAdministrator;
                }
                if let Some(new) = t.users.get_mut(&new_owner) {
                    new.role = TenantRole::Owner;
                }
                t.owner = Some(new_owner);
            }
            Mutation::GrantServiceAccess {
                tenant,
                user,
                service,
            } => {
                if let Some(u) = self.tenant(&tenant).users.get_mut(&user) {
                    u.services.insert(service);
                }
            }
            Mutation::RevokeServiceAccess {
                tenant,
                user,
                service,
            } => {
                if let Some(u) = self.tenant(&tenant).users.get_mut(&user) {
                    u.services.remove(&service);
                }
            }
            Mutation::CreateGroup { tenant, group, .. } => {
                self.tenant(&tenant).groups.insert(group, BTreeSet::new());
            }
            Mutation::DeleteGroup { tenant, group } => {
                let t = self.tenant(&tenant);
                t.groups.remove(&group);
                t.group_administers.remove(&group);
                forget(t, &Subject::Group(group));
            }
            Mutation::AddGroupMember {
                tenant,
                group,
                member,
            } => {
                if let Some(members) = self.tenant(&tenant).groups.get_mut(&group) {
                    members.insert(member);
                }
            }
            Mutation::RemoveGroupMember {
                tenant,
                group,
                member,
            } => {
                if let Some(members) = self.tenant(&tenant).groups.get_mut(&group) {
                    members.remove(&member);
                }
            }
            Mutation::CreateObject {
                tenant,
                service,
                object,
                parent,
                related,
                ..
            } => {
                self.service(&tenant, &service)
                    .objects
                    .insert(object, (parent, related));
            }
            Mutation::MoveObject {
                tenant,
                service,
                object,
                new_parent,
                ..
            } => {
                if let Some(entry) = self.service(&tenant, &service).objects.get_mut(&object) {
                    entry.0 = new_parent;
                }
            }
            Mutation::DeleteObject {
                tenant,
                service,
                object,
                ..
            } => {
                let s = self.service(&tenant, &service);
                s.objects.remove(&object);
                for (_, related) in s.objects.values_mut() {
                    related.remove(&object);
                }
                for (_, scope, _) in s.security_groups.values_mut() {
                    if let ObjectScope::Objects(set) = scope {
                        set.remove(&object);
                    }
                }
                s.grants
                    .retain(|_, (_, _, node, _)| *node != GrantNode::Object(object.clone()));
            }
            Mutation::AddAdministrator {
                tenant,
                service,
                subject,
            } => {
                self.service(&tenant, &service).admins.insert(subject);
            }
            Mutation::RemoveAdministrator {
                tenant,
                service,
                subject,
            } => {
                self.service(&tenant, &service).admins.remove(&subject);
            }
            Mutation::PutSecurityGroup {
                tenant,
                service,
                group,
                permissions,
                scope,
                ..
            } => {
                let s = self.service(&tenant, &service);
                let members = s
                    .security_groups
                    .get(&group)
                    .map(|(_, _, m)| m.clone())
                    .unwrap_or_default();
                s.security_groups
                    .insert(group, (permissions, scope, members));
            }
            Mutation::DeleteSecurityGroup {
                tenant,
                service,
                group,
            } => {
                self.service(&tenant, &service)
                    .security_groups
                    .remove(&group);
            }
            Mutation::AddSecurityGroupMember {
                tenant,
                service,
                group,
                member,
            } => {
                let s = self.service(&tenant, &service);
                if group.as_str() == authzd::engine::ADMINISTRATORS_GROUP {
                    s.admins.insert(member);
                } else if let Some((_, _, members)) = s.security_groups.get_mut(&group) {
                    members.insert(member);
                }
            }
            Mutation::RemoveSecurityGroupMember {
                tenant,
                service,
                group,
                member,
            } => {
                let s = self.service(&tenant, &service);
                if group.as_str() == authzd::engine::ADMINISTRATORS_GROUP {
                    s.admins.remove(&member);
                } else if let Some((_, _, members)) = s.security_groups.get_mut(&group) {
                    members.remove(&member);
                }
            }
            Mutation::PutPermissionLevel {
                tenant,
                service,
                level,
                permissions,
                ..
            } => {
                self.service(&tenant, &service)
                    .levels
                    .insert(level, permissions);
            }
            Mutation::DeletePermissionLevel {
                tenant,
                service,
                level,
            } => {
                self.service(&tenant, &service).levels.remove(&level);
            }
            Mutation::GiveGrant {
                tenant,
                service,
                grant,
                subject,
                access,
                node,
                expires_at,
                ..
            } => {
                self.service(&tenant, &service)
                    .grants
                    .insert(grant, (subject, access, node, expires_at));
            }
            Mutation::RevokeGrant {
                tenant,
                service,
                grant,
                with_dependents,
            } => {
                assert!(!with_dependents, "the generator revokes single grants only");
                self.service(&tenant, &service).grants.remove(&grant);
            }
            Mutation::UpdateObject {
                tenant,
                service,
                object,
                related,
                ..
            } => {
                if let Some(entry) = self.service(&tenant, &service).objects.get_mut(&object) {
                    entry.1 = related;
                }
            }
            // Names and e-mails decide nothing the reference checks; the generator makes no
            // sign-in reports or MFA resets (the lockout has its own tests), no
            // partner-level changes and no tenant roles (they have their own reference
            // test, `partner_props`).
            Mutation::CreatePartner { .. }
            | Mutation::CreateCustomer { .. }
            | Mutation::UpdateUser { .. }
            | Mutation::UpdateGroup { .. }
            | Mutation::ReportSignIn { .. }
            | Mutation::ResetMfa { .. }
            | Mutation::Partner(_)
            | Mutation::TenantRole(_) => {}
            // A batch the engine accepted: each of its changes, in order.
            Mutation::Batch { changes, .. } => {
                for change in &changes {
                    self.apply(change);
                }
            }
        }
    }

    fn tenant(&mut self, tenant: &TenantId) -> &mut Tenant {
        self.tenants.entry(tenant.clone()).or_default()
    }

    fn service(&mut self, tenant: &TenantId, service: &ServiceId) -> &mut Service {
        self.tenant(tenant)
            .subscribed
            .entry(service.clone())
            .or_default()
    }

    /// The objects that keep the revoke of `grant` from going through (DESIGN.md: a
    /// subject may not lose access to an object while it keeps access to a related object
    /// that depends on it), by brute force: every object the subject still reaches through
    /// its other unexpired grants, one of whose related objects it no longer would.
    /// Empty for an unknown grant.
    pub(crate) fn dependents_blocking_revoke(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
        grant: &GrantId,
        now: Timestamp,
    ) -> Vec<ObjectId> {
        let Some(s) = self
            .tenants
            .get(tenant)
            .and_then(|t| t.subscribed.get(service))
        else {
            return Vec::new();
        };
        let Some((subject, _, revoked_node, _)) = s.grants.get(grant) else {
            return Vec::new();
        };
        let remaining: Vec<&GrantNode> = s
            .grants
            .iter()
            .filter(|(id, (holder, _, _, expires_at))| {
                *id != grant && holder == subject && expires_at.is_none_or(|t| t > now)
            })
            .map(|(_, (_, _, node, _))| node)
            .collect();
        let still_reached = |object: &ObjectId| {
            let chain = s.chain(object);
            remaining
                .iter()
                .any(|node| Service::node_reaches(node, &chain))
        };
        let losing = |object: &ObjectId| {
            s.objects.contains_key(object)
                && Service::node_reaches(revoked_node, &s.chain(object))
                && !still_reached(object)
        };
        s.objects
            .iter()
            .filter(|(object, (_, related))| still_reached(object) && related.iter().any(losing))
            .map(|(object, _)| object.clone())
            .collect()
    }

    /// The definition of a check.
    pub(crate) fn allowed(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
        user: &UserId,
        permission: &Permission,
        object: Option<&ObjectId>,
        now: Timestamp,
    ) -> bool {
        let Some(t) = self.tenants.get(tenant) else {
            return false;
        };
        let Some((catalog, _)) = self.services.get(service) else {
            return false;
        };
        let Some(s) = t.subscribed.get(service) else {
            return false;
        };
        let Some(u) = t.users.get(user) else {
            return false;
        };
        if !active(u.status, now) || !u.reaches(service) || !catalog.contains(permission) {
            return false;
        }
        if object.is_some_and(|o| !s.objects.contains_key(o)) {
            return false;
        }
        if full_role(&u.role) {
            return true;
        }
        let subjects = subjects_of(t, user);
        let chain = object.map(|o| s.chain(o)).unwrap_or_default();
        let admin = s.admins.iter().any(|a| subjects.contains(a));
        let by_group = s.security_groups.values().any(|(set, scope, members)| {
            members.iter().any(|m| subjects.contains(m))
                && covers(set, permission)
                && (matches!(scope, ObjectScope::AllObjects)
                    || Service::scope_reaches(scope, &chain))
        });
        let by_grant = s.grants.values().any(|(subject, access, node, expires)| {
            subjects.contains(subject)
                && expires.is_none_or(|t| t > now)
                && s.level_or_set(access)
                    .is_some_and(|set| covers(set, permission))
                && (matches!(node, GrantNode::Service) || Service::node_reaches(node, &chain))
        });
        admin || by_group || by_grant
    }

    /// Every object of the service, sorted.
    pub(crate) fn objects(&self, tenant: &TenantId, service: &ServiceId) -> Vec<ObjectId> {
        self.tenants
            .get(tenant)
            .and_then(|t| t.subscribed.get(service))
            .map(|s| s.objects.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every user of the tenant, sorted.
    pub(crate) fn users(&self, tenant: &TenantId) -> Vec<UserId> {
        self.tenants
            .get(tenant)
            .map(|t| t.users.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The (node, permission) pairs of the user-based view for one service.
    pub(crate) fn user_view(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
        user: &UserId,
        now: Timestamp,
    ) -> BTreeSet<(GrantNode, Permission)> {
        let mut out = BTreeSet::new();
        let (Some(t), Some((catalog, _))) = (self.tenants.get(tenant), self.services.get(service))
        else {
            return out;
        };
        let (Some(s), Some(u)) = (t.subscribed.get(service), t.users.get(user)) else {
            return out;
        };
        if !active(u.status, now) || !u.reaches(service) {
            return out;
        }
        let all = |node: GrantNode,
                   out: &mut BTreeSet<(GrantNode, Permission)>,
                   set: Option<&PermissionSet>| {
            for p in catalog {
                if set.is_none_or(|set| covers(set, p)) {
                    out.insert((node.clone(), p.clone()));
                }
            }
        };
        let subjects = subjects_of(t, user);
        if full_role(&u.role) || s.admins.iter().any(|a| subjects.contains(a)) {
            all(GrantNode::Service, &mut out, None);
        }
        for (set, scope, members) in s.security_groups.values() {
            if members.iter().any(|m| subjects.contains(m)) {
                match scope {
                    ObjectScope::AllObjects => all(GrantNode::Service, &mut out, Some(set)),
                    ObjectScope::Objects(objects) => {
                        for o in objects {
                            all(GrantNode::Object(o.clone()), &mut out, Some(set));
                        }
                    }
                }
            }
        }
        for (subject, access, node, expires) in s.grants.values() {
            if subjects.contains(subject) && expires.is_none_or(|t| t > now) {
                all(
                    node.clone(),
                    &mut out,
                    Some(s.level_or_set(access).unwrap_or(&PermissionSet::default())),
                );
            }
        }
        out
    }

    /// The (subject, permission) pairs of the object-based view.
    pub(crate) fn object_view(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
        object: &ObjectId,
        now: Timestamp,
    ) -> BTreeSet<(Subject, Permission)> {
        let mut out = BTreeSet::new();
        let (Some(t), Some((catalog, _))) = (self.tenants.get(tenant), self.services.get(service))
        else {
            return out;
        };
        let Some(s) = t.subscribed.get(service) else {
            return out;
        };
        let chain = s.chain(object);
        let mut add = |subject: &Subject, set: Option<&PermissionSet>| {
            for p in catalog {
                if set.is_none_or(|set| covers(set, p)) {
                    out.insert((subject.clone(), p.clone()));
                }
            }
        };
        for (id, u) in &t.users {
            if full_role(&u.role) {
                add(&Subject::User(id.clone()), None);
            }
        }
        for admin in &s.admins {
            add(admin, None);
        }
        for (set, scope, members) in s.security_groups.values() {
            if Service::scope_reaches(scope, &chain) {
                for m in members {
                    add(m, Some(set));
                }
            }
        }
        for (subject, access, node, expires) in s.grants.values() {
            if Service::node_reaches(node, &chain) && expires.is_none_or(|t| t > now) {
                add(
                    subject,
                    Some(s.level_or_set(access).unwrap_or(&PermissionSet::default())),
                );
            }
        }
        out.retain(|(subject, _)| match subject {
            Subject::User(u) => t
                .users
                .get(u)
                .is_some_and(|user| active(user.status, now) && user.reaches(service)),
            Subject::Group(_) => true,
        });
        out
    }
}

fn subjects_of(t: &Tenant, user: &UserId) -> BTreeSet<Subject> {
    let me = Subject::User(user.clone());
    let mut subjects: BTreeSet<Subject> = t
        .groups_holding(&me)
        .into_iter()
        .map(Subject::Group)
        .collect();
    subjects.insert(me);
    subjects
}

/// Removes every membership and grant naming `subject`.
fn forget(t: &mut Tenant, subject: &Subject) {
    for members in t.groups.values_mut() {
        members.remove(subject);
    }
    for s in t.subscribed.values_mut() {
        s.admins.remove(subject);
        for (_, _, members) in s.security_groups.values_mut() {
            members.remove(subject);
        }
        s.grants.retain(|_, (who, _, _, _)| who != subject);
    }
}

/// An application administrator (user or group) that administered `old` and now `new`:
/// it joins the Administrators group of each service gained, and leaves those lost where
/// the service's policy removes.
fn sync_administrators(
    t: &mut Tenant,
    policies: &BTreeMap<ServiceId, DemotionPolicy>,
    subject: &Subject,
    old: &BTreeSet<ServiceId>,
    new: &BTreeSet<ServiceId>,
) {
    for service in new.difference(old) {
        if let Some(s) = t.subscribed.get_mut(service) {
            s.admins.insert(subject.clone());
        }
    }
    for service in old.difference(new) {
        if policies.get(service) == Some(&DemotionPolicy::RemoveFromAdministrators)
            && let Some(s) = t.subscribed.get_mut(service)
        {
            s.admins.remove(subject);
        }
    }
}
