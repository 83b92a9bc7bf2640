//! The dataset's state as plain facts per decision domain (one tenant's subscription to
//! one service), read from the very mutations the engine applies, so that every evaluator
//! is built from the same users, groups, containers, security groups, permission levels
//! and grants. The rules follow the product's definition of a check (DESIGN.md; the
//! reference model in `tests/it/reference.rs`), for the mutation kinds the dataset makes.

use std::collections::{BTreeMap, BTreeSet};

use authzd::engine::{
    Access, GrantId, GrantNode, GroupId, Mutation, ObjectId, ObjectScope, Permission,
    PermissionLevelId, PermissionSet, SecurityGroupId, ServiceId, Subject, TenantId, TenantRole,
    Timestamp, UserId, UserStatus,
};

/// One tenant's user.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) status: UserStatus,
    /// The owner and service administrators are allowed everything in every service.
    pub(crate) full_role: bool,
    /// The services the user may use at all (given, or through an administrator role).
    pub(crate) services: BTreeSet<ServiceId>,
}

impl User {
    /// Whether the user may act at `now` (an expired lock no longer holds).
    pub(crate) fn active(&self, now: Timestamp) -> bool {
        match self.status {
            UserStatus::Active => true,
            UserStatus::LockedUntil(until) => until <= now,
            UserStatus::Invited | UserStatus::Disabled => false,
        }
    }

    /// When a lock ends (`i64::MIN` without one), for evaluators that take the time.
    pub(crate) fn locked_until_millis(&self) -> i64 {
        match self.status {
            UserStatus::LockedUntil(until) => until.unix_millis(),
            _ => i64::MIN,
        }
    }

    /// Whether the status is one that can ever act (not invited or disabled).
    pub(crate) fn enabled(&self) -> bool {
        !matches!(self.status, UserStatus::Invited | UserStatus::Disabled)
    }
}

/// A security group of one service: a permission set over a scope, for its members.
#[derive(Debug, Clone)]
pub(crate) struct SecurityGroup {
    pub(crate) permissions: PermissionSet,
    pub(crate) scope: ObjectScope,
    pub(crate) members: BTreeSet<Subject>,
}

/// A direct grant.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) subject: Subject,
    pub(crate) access: Access,
    pub(crate) node: GrantNode,
    pub(crate) expires_at: Option<Timestamp>,
}

/// Everything a check in one (tenant, service) depends on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Domain {
    pub(crate) users: BTreeMap<UserId, User>,
    /// Each directory group's direct members.
    pub(crate) groups: BTreeMap<GroupId, BTreeSet<Subject>>,
    /// Each object's container (`None`: at the top of the service).
    pub(crate) objects: BTreeMap<ObjectId, Option<ObjectId>>,
    /// The service's Administrators group: everything in the service.
    pub(crate) administrators: BTreeSet<Subject>,
    pub(crate) security_groups: BTreeMap<SecurityGroupId, SecurityGroup>,
    pub(crate) levels: BTreeMap<PermissionLevelId, PermissionSet>,
    pub(crate) grants: BTreeMap<GrantId, Grant>,
}

/// The state of every domain, and the service catalogs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    pub(crate) catalogs: BTreeMap<ServiceId, Vec<Permission>>,
    /// Tenant-wide facts (users, directory groups) are copied into each of the tenant's
    /// domains, so that each domain stands alone, as each peer's store will.
    pub(crate) domains: BTreeMap<(TenantId, ServiceId), Domain>,
}

impl Facts {
    /// Reads the dataset's mutations; panics on a kind the dataset does not make (the
    /// translation would silently miss its effect).
    pub(crate) fn from_mutations(mutations: &[Mutation]) -> Self {
        let mut facts = Self::default();
        // Tenant-wide facts first; copied into the domains at the end.
        let mut users: BTreeMap<TenantId, BTreeMap<UserId, User>> = BTreeMap::new();
        let mut groups: BTreeMap<TenantId, BTreeMap<GroupId, BTreeSet<Subject>>> = BTreeMap::new();
        for mutation in mutations {
            match mutation.clone() {
                Mutation::RegisterService {
                    service,
                    definition,
                } => {
                    facts.catalogs.insert(service, definition.permissions);
                }
                Mutation::CreateTenant { tenant, owner, .. } => {
                    let user = User {
                        status: UserStatus::Active,
                        full_role: true,
                        services: BTreeSet::new(),
                    };
                    users.entry(tenant).or_default().insert(owner.user, user);
                }
                Mutation::SubscribeService { tenant, service } => {
                    facts.domains.insert((tenant, service), Domain::default());
                }
                Mutation::InviteUser { tenant, user } => {
                    let invited = User {
                        status: UserStatus::Invited,
                        full_role: false,
                        services: BTreeSet::new(),
                    };
                    users.entry(tenant).or_default().insert(user.user, invited);
                }
                Mutation::SetUserStatus {
                    tenant,
                    user,
                    status,
                } => user_mut(&mut users, &tenant, &user).status = status,
                Mutation::SetTenantRole { tenant, user, role } => match role {
                    TenantRole::ServiceAdministrator => {
                        user_mut(&mut users, &tenant, &user).full_role = true;
                    }
                    // An application administrator joins the Administrators group of each
                    // service it administers, and may use those services.
                    TenantRole::ApplicationAdministrator(services) => {
                        for service in &services {
                            facts
                                .domain(&tenant, service)
                                .administrators
                                .insert(Subject::User(user.clone()));
                        }
                        user_mut(&mut users, &tenant, &user)
                            .services
                            .extend(services);
                    }
                    other => panic!("the dataset makes no {other:?} role"),
                },
                Mutation::GrantServiceAccess {
                    tenant,
                    user,
                    service,
                } => {
                    user_mut(&mut users, &tenant, &user)
                        .services
                        .insert(service);
                }
                Mutation::CreateGroup { tenant, group, .. } => {
                    groups
                        .entry(tenant)
                        .or_default()
                        .insert(group, BTreeSet::new());
                }
                Mutation::AddGroupMember {
                    tenant,
                    group,
                    member,
                } => {
                    groups
                        .get_mut(&tenant)
                        .and_then(|g| g.get_mut(&group))
                        .expect("the group exists")
                        .insert(member);
                }
                Mutation::CreateObject {
                    tenant,
                    service,
                    object,
                    parent,
                    ..
                } => {
                    facts
                        .domain(&tenant, &service)
                        .objects
                        .insert(object, parent);
                }
                Mutation::PutSecurityGroup {
                    tenant,
                    service,
                    group,
                    permissions,
                    scope,
                    ..
                } => {
                    let security_group = SecurityGroup {
                        permissions,
                        scope,
                        members: BTreeSet::new(),
                    };
                    facts
                        .domain(&tenant, &service)
                        .security_groups
                        .insert(group, security_group);
                }
                Mutation::AddSecurityGroupMember {
                    tenant,
                    service,
                    group,
                    member,
                } => {
                    facts
                        .domain(&tenant, &service)
                        .security_groups
                        .get_mut(&group)
                        .expect("the security group exists")
                        .members
                        .insert(member);
                }
                Mutation::PutPermissionLevel {
                    tenant,
                    service,
                    level,
                    permissions,
                    ..
                } => {
                    facts
                        .domain(&tenant, &service)
                        .levels
                        .insert(level, permissions);
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
                    let given = Grant {
                        subject,
                        access,
                        node,
                        expires_at,
                    };
                    facts.domain(&tenant, &service).grants.insert(grant, given);
                }
                other => panic!("the peers bench does not translate {other:?}"),
            }
        }
        for ((tenant, _), domain) in &mut facts.domains {
            domain.users = users.get(tenant).cloned().unwrap_or_default();
            domain.groups = groups.get(tenant).cloned().unwrap_or_default();
        }
        facts
    }

    fn domain(&mut self, tenant: &TenantId, service: &ServiceId) -> &mut Domain {
        self.domains
            .get_mut(&(tenant.clone(), service.clone()))
            .expect("the tenant subscribes to the service")
    }
}

fn user_mut<'a>(
    users: &'a mut BTreeMap<TenantId, BTreeMap<UserId, User>>,
    tenant: &TenantId,
    user: &UserId,
) -> &'a mut User {
    users
        .get_mut(tenant)
        .and_then(|u| u.get_mut(user))
        .expect("the user exists")
}

impl Domain {
    /// The directory groups `subject` (a user or a group) is a direct member of.
    pub(crate) fn group_parents(&self, subject: &Subject) -> Vec<GroupId> {
        self.groups
            .iter()
            .filter(|(_, members)| members.contains(subject))
            .map(|(group, _)| group.clone())
            .collect()
    }

    /// The security groups (Administrators as `None`) `subject` is a direct member of.
    pub(crate) fn security_groups_of(&self, subject: &Subject) -> Vec<Option<SecurityGroupId>> {
        let administrators = self
            .administrators
            .contains(subject)
            .then_some(None)
            .into_iter();
        let groups = self
            .security_groups
            .iter()
            .filter(|(_, group)| group.members.contains(subject))
            .map(|(id, _)| Some(id.clone()));
        administrators.chain(groups).collect()
    }
}
