//! Reading the managed resources back: owned, sorted copies of tenants, services, users,
//! groups, objects, security groups, permission levels and grants, as the management API
//! returns them.

use super::{
    authority::Actor,
    ids::{
        CustomerId, GrantId, GroupId, ObjectId, PermissionLevelId, Revision, SecurityGroupId,
        ServiceId, TenantId, Timestamp, UserId,
    },
    model::{Snapshot, TenantService, TenantState, UserState},
    mutation::{
        Access, GrantNode, ObjectScope, ServiceDefinition, Subject, TenantRole, UserKind,
        UserStatus,
    },
    permission::{PermissionPattern, PermissionSet},
    synced::SyncedMember,
};

/// Display name of the built-in Administrators group.
pub const ADMINISTRATORS_NAME: &str = "Administrators";

/// A resource that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{id}` does not exist")]
pub struct NotFound {
    /// Kind of resource.
    pub what: &'static str,
    /// Its id (with the ids that scope it).
    pub id: String,
}

fn not_found(what: &'static str, id: impl std::fmt::Display) -> NotFound {
    NotFound {
        what,
        id: id.to_string(),
    }
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    /// Id.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Owning customer.
    pub customer: Option<CustomerId>,
    /// The owner.
    pub owner: UserId,
    /// Subscribed services, sorted.
    pub services: Vec<ServiceId>,
    /// The revision of its last change (0: unchanged since before that was kept).
    pub changed_at: Revision,
}

/// A registered service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    /// Id.
    pub id: ServiceId,
    /// Its definition as registered.
    pub definition: ServiceDefinition,
    /// The revision of its last change (0: unchanged since before that was kept).
    pub changed_at: Revision,
}

/// A user of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Id.
    pub id: UserId,
    /// E-mail.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// How it signs in.
    pub kind: UserKind,
    /// Status.
    pub status: UserStatus,
    /// Tenant role.
    pub role: TenantRole,
    /// Services it was given access to, sorted.
    pub services: Vec<ServiceId>,
    /// Failed sign-ins in a row.
    pub failed_sign_ins: u32,
    /// The revision of its last change (0: unchanged since before that was kept).
    pub changed_at: Revision,
}

/// A directory group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// Id.
    pub id: GroupId,
    /// Display name.
    pub name: String,
    /// Direct members, sorted.
    pub members: Vec<Subject>,
    /// The services it is an application administrator of, sorted.
    pub administers: Vec<ServiceId>,
    /// The revision of its last change (0: unchanged since before that was kept).
    pub changed_at: Revision,
}

/// One subject's membership of a group, with what the answer to a change of it names of
/// the group: read without copying the members, so that it costs the same for any group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRecord {
    /// Whether the subject is a direct member.
    pub is_member: bool,
    /// How many direct members the group has.
    pub members: usize,
    /// The revision of the group's last change (its etag).
    pub changed_at: Revision,
}

/// An object or container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// Id.
    pub id: ObjectId,
    /// Catalog type.
    pub object_type: String,
    /// Display name.
    pub name: String,
    /// Container.
    pub parent: Option<ObjectId>,
    /// Related objects, sorted.
    pub related: Vec<ObjectId>,
    /// The revision of its last change (0: unchanged since before that was kept).
    pub changed_at: Revision,
    /// Free text (empty: none).
    pub description: String,
    /// The user whose call created it (none: the platform, or before creators were kept).
    pub creator: Option<UserId>,
}

/// A security group, or the built-in Administrators group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupRecord {
    /// Id ([`super::ADMINISTRATORS_GROUP`] for the built-in group).
    pub id: SecurityGroupId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Permission scope as written.
    pub permissions: PermissionSet,
    /// Object scope.
    pub scope: ObjectScope,
    /// Direct members, sorted (for the built-in group: those added by hand).
    pub members: Vec<Subject>,
    /// For the built-in group: the members synchronised into it by a rule, sorted.
    pub synced: Vec<SyncedMember>,
    /// Whether it is the built-in Administrators group.
    pub built_in: bool,
    /// The revision of its last change (0: unchanged since before that was kept).
    pub changed_at: Revision,
}

/// A permission level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelRecord {
    /// Id.
    pub id: PermissionLevelId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Its permissions as written.
    pub permissions: PermissionSet,
    /// The revision of its last change (0: unchanged since before that was kept).
    pub changed_at: Revision,
}

/// A grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    /// Id.
    pub id: GrantId,
    /// Who.
    pub subject: Subject,
    /// What.
    pub access: Access,
    /// Where.
    pub node: GrantNode,
    /// Until when.
    pub expires_at: Option<Timestamp>,
    /// The revision of its last change (0: unchanged since before that was kept).
    pub changed_at: Revision,
}

fn sorted<T: Ord + Clone>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut items: Vec<T> = items.into_iter().collect();
    items.sort();
    items
}

fn sorted_by_id<T>(mut items: Vec<T>, id: impl Fn(&T) -> &str) -> Vec<T> {
    items.sort_by(|a, b| id(a).cmp(id(b)));
    items
}

impl Snapshot {
    /// Whether `actor` may read the tenant's administration data: an active user of it, or
    /// a partner user whose roles reach it (see `partner/acting.rs`).
    pub fn authorize_reader(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<(), super::AuthorityError> {
        if let Some(partner) = &actor.partner {
            return self.authorize_partner_reader(partner, &actor.user, tenant, false, now);
        }
        self.active_tenant_user(tenant, &actor.user, now)
            .map(|_| ())
    }

    /// Whether `actor` may read the tenant's audit trail: its owner or a service
    /// administrator (a partner user with service-administrator access there), active.
    pub fn authorize_auditor(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<(), super::AuthorityError> {
        if let Some(partner) = &actor.partner {
            return self.authorize_partner_reader(partner, &actor.user, tenant, true, now);
        }
        let user = self.active_tenant_user(tenant, &actor.user, now)?;
        if matches!(
            user.role,
            TenantRole::Owner | TenantRole::ServiceAdministrator
        ) {
            Ok(())
        } else {
            Err(super::AuthorityError::NotAllowed {
                actor: actor.user.clone(),
                action: "read the audit trail",
            })
        }
    }

    /// `actor`, an active user of `tenant`.
    fn active_tenant_user(
        &self,
        tenant: &TenantId,
        actor: &UserId,
        now: Timestamp,
    ) -> Result<&UserState, super::AuthorityError> {
        let user = self
            .tenants
            .get(tenant)
            .and_then(|t| t.users.get(actor))
            .ok_or_else(|| super::AuthorityError::UnknownActor {
                actor: actor.clone(),
                tenant: tenant.clone(),
            })?;
        if super::check::is_active(user.status, now) {
            Ok(user)
        } else {
            Err(super::AuthorityError::ActorNotActive {
                actor: actor.clone(),
            })
        }
    }

    fn resource_tenant(&self, tenant: &TenantId) -> Result<&TenantState, NotFound> {
        self.tenants
            .get(tenant)
            .map(AsRef::as_ref)
            .ok_or_else(|| not_found("tenant", tenant))
    }

    fn tenant_service(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
    ) -> Result<&TenantService, NotFound> {
        self.resource_tenant(tenant)?
            .services
            .get(service)
            .map(AsRef::as_ref)
            .ok_or_else(|| not_found("service subscription", format!("{tenant}/{service}")))
    }

    /// A tenant.
    pub fn tenant_record(&self, tenant: &TenantId) -> Result<TenantRecord, NotFound> {
        let state = self.resource_tenant(tenant)?;
        Ok(TenantRecord {
            id: tenant.clone(),
            name: state.name.clone(),
            customer: state.customer.clone(),
            owner: state.owner.clone(),
            services: sorted(state.services.keys().cloned()),
            changed_at: state.changed_at,
        })
    }

    /// A registered service.
    pub fn service_record(&self, service: &ServiceId) -> Result<ServiceRecord, NotFound> {
        self.services
            .get(service)
            .map(|state| ServiceRecord {
                id: service.clone(),
                definition: state.definition.clone(),
                changed_at: state.changed_at,
            })
            .ok_or_else(|| not_found("service", service))
    }

    /// Every registered service, by id.
    pub fn service_records(&self) -> Vec<ServiceRecord> {
        let records = self
            .services
            .iter()
            .map(|(id, state)| ServiceRecord {
                id: id.clone(),
                definition: state.definition.clone(),
                changed_at: state.changed_at,
            })
            .collect();
        sorted_by_id(records, |r| r.id.as_str())
    }

    /// A user of a tenant.
    pub fn user_record(&self, tenant: &TenantId, user: &UserId) -> Result<UserRecord, NotFound> {
        let state = self.resource_tenant(tenant)?;
        let found = state
            .users
            .get(user)
            .ok_or_else(|| not_found("user", format!("{tenant}/{user}")))?;
        Ok(user_record(
            user,
            found,
            self.sign_in_failures(tenant, user),
        ))
    }

    /// Whether a user of a tenant reaches any of `services` (the notion checks use: given
    /// access, or a role that reaches every service the tenant subscribes to). A service
    /// the tenant does not subscribe to is reached by no one; an unknown user reaches none.
    pub fn user_reaches_any_service(
        &self,
        tenant: &TenantId,
        user: &UserId,
        services: &[ServiceId],
    ) -> bool {
        let Some(state) = self.tenants.get(tenant) else {
            return false;
        };
        state.users.get(user).is_some_and(|found| {
            services
                .iter()
                .any(|s| state.services.contains_key(s) && found.reaches_service(s))
        })
    }

    /// The users of a tenant, by id.
    pub fn user_records(&self, tenant: &TenantId) -> Result<Vec<UserRecord>, NotFound> {
        let state = self.resource_tenant(tenant)?;
        let records = state
            .users
            .iter()
            .map(|(id, u)| user_record(id, u, self.sign_in_failures(tenant, id)))
            .collect();
        Ok(sorted_by_id(records, |r| r.id.as_str()))
    }

    /// A directory group.
    pub fn group_record(
        &self,
        tenant: &TenantId,
        group: &GroupId,
    ) -> Result<GroupRecord, NotFound> {
        let state = self.resource_tenant(tenant)?;
        let found = state
            .groups
            .get(group)
            .ok_or_else(|| not_found("group", format!("{tenant}/{group}")))?;
        Ok(GroupRecord {
            id: group.clone(),
            name: found.name.clone(),
            members: sorted(found.members.iter().cloned()),
            administers: found.administers.iter().cloned().collect(),
            changed_at: found.changed_at,
        })
    }

    /// Whether `member` is a direct member of a directory group, and the group's size and
    /// last change.
    pub fn group_membership(
        &self,
        tenant: &TenantId,
        group: &GroupId,
        member: &Subject,
    ) -> Result<MembershipRecord, NotFound> {
        let state = self.resource_tenant(tenant)?;
        let found = state
            .groups
            .get(group)
            .ok_or_else(|| not_found("group", format!("{tenant}/{group}")))?;
        Ok(MembershipRecord {
            is_member: found.members.contains(member),
            members: found.members.len(),
            changed_at: found.changed_at,
        })
    }

    /// The directory groups of a tenant, by id.
    pub fn group_records(&self, tenant: &TenantId) -> Result<Vec<GroupRecord>, NotFound> {
        let state = self.resource_tenant(tenant)?;
        let records = state
            .groups
            .iter()
            .map(|(id, g)| GroupRecord {
                id: id.clone(),
                name: g.name.clone(),
                members: sorted(g.members.iter().cloned()),
                administers: g.administers.iter().cloned().collect(),
                changed_at: g.changed_at,
            })
            .collect();
        Ok(sorted_by_id(records, |r| r.id.as_str()))
    }

    /// An object of a tenant's service.
    pub fn object_record(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
        object: &ObjectId,
    ) -> Result<ObjectRecord, NotFound> {
        let objects = self.tenant_service(tenant, service)?;
        let found = objects
            .objects
            .get(object)
            .ok_or_else(|| not_found("object", format!("{tenant}/{service}/{object}")))?;
        Ok(object_record(object, found))
    }

    /// The objects of a tenant's service (only the direct children of `parent` when it is
    /// given), by id.
    pub fn object_records(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
        parent: Option<&ObjectId>,
    ) -> Result<Vec<ObjectRecord>, NotFound> {
        let objects = self.tenant_service(tenant, service)?;
        if let Some(parent) = parent
            && !objects.objects.contains_key(parent)
        {
            return Err(not_found("object", format!("{tenant}/{service}/{parent}")));
        }
        let records = objects
            .objects
            .iter()
            .filter(|(_, o)| parent.is_none_or(|p| o.parent.as_ref() == Some(p)))
            .map(|(id, o)| object_record(id, o))
            .collect();
        Ok(sorted_by_id(records, |r| r.id.as_str()))
    }

    /// Whether `member` is a direct member of a security group (the built-in
    /// Administrators group by its reserved id), and the group's size (for the built-in
    /// group, its members added by hand) and last change.
    pub fn security_group_membership(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
        group: &SecurityGroupId,
        member: &Subject,
    ) -> Result<MembershipRecord, NotFound> {
        let objects = self.tenant_service(tenant, service)?;
        if group.as_str() == super::ADMINISTRATORS_GROUP {
            // Counted as the group's record lists its members: those added by hand (the
            // synced ones follow from roles, and counting them would walk every user).
            let state = self.resource_tenant(tenant)?;
            let by_hand = objects
                .administrators
                .iter()
                .filter(|subject| !state.is_synced_administrator(service, subject))
                .count();
            return Ok(MembershipRecord {
                is_member: objects.administrators.contains(member),
                members: by_hand,
                changed_at: objects.administrators_changed_at,
            });
        }
        let found = objects
            .security_groups
            .get(group)
            .ok_or_else(|| not_found("security group", format!("{tenant}/{service}/{group}")))?;
        Ok(MembershipRecord {
            is_member: found.members.contains(member),
            members: found.members.len(),
            changed_at: found.changed_at,
        })
    }

    /// A security group, or the built-in Administrators group by its reserved id.
    pub fn security_group_record(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
        group: &SecurityGroupId,
    ) -> Result<SecurityGroupRecord, NotFound> {
        let objects = self.tenant_service(tenant, service)?;
        if group.as_str() == super::ADMINISTRATORS_GROUP {
            return Ok(administrators_record(
                self.resource_tenant(tenant)?,
                service,
                objects,
            ));
        }
        let found = objects
            .security_groups
            .get(group)
            .ok_or_else(|| not_found("security group", format!("{tenant}/{service}/{group}")))?;
        Ok(SecurityGroupRecord {
            id: group.clone(),
            name: found.name.clone(),
            description: found.description.clone(),
            permissions: found.permissions.clone(),
            scope: found.scope.clone(),
            members: sorted(found.members.iter().cloned()),
            synced: Vec::new(),
            built_in: false,
            changed_at: found.changed_at,
        })
    }

    /// The security groups of a tenant's service by id, the built-in group among them.
    pub fn security_group_records(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
    ) -> Result<Vec<SecurityGroupRecord>, NotFound> {
        let objects = self.tenant_service(tenant, service)?;
        let mut records: Vec<SecurityGroupRecord> = objects
            .security_groups
            .iter()
            .map(|(id, sg)| SecurityGroupRecord {
                id: id.clone(),
                name: sg.name.clone(),
                description: sg.description.clone(),
                permissions: sg.permissions.clone(),
                scope: sg.scope.clone(),
                members: sorted(sg.members.iter().cloned()),
                synced: Vec::new(),
                built_in: false,
                changed_at: sg.changed_at,
            })
            .collect();
        records.push(administrators_record(
            self.resource_tenant(tenant)?,
            service,
            objects,
        ));
        Ok(sorted_by_id(records, |r| r.id.as_str()))
    }

    /// A permission level.
    pub fn level_record(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
        level: &PermissionLevelId,
    ) -> Result<LevelRecord, NotFound> {
        let objects = self.tenant_service(tenant, service)?;
        let found = objects
            .levels
            .get(level)
            .ok_or_else(|| not_found("permission level", format!("{tenant}/{service}/{level}")))?;
        Ok(LevelRecord {
            id: level.clone(),
            name: found.name.clone(),
            description: found.description.clone(),
            permissions: found.permissions.clone(),
            changed_at: found.changed_at,
        })
    }

    /// The permission levels of a tenant's service, by id.
    pub fn level_records(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
    ) -> Result<Vec<LevelRecord>, NotFound> {
        let objects = self.tenant_service(tenant, service)?;
        let records = objects
            .levels
            .iter()
            .map(|(id, l)| LevelRecord {
                id: id.clone(),
                name: l.name.clone(),
                description: l.description.clone(),
                permissions: l.permissions.clone(),
                changed_at: l.changed_at,
            })
            .collect();
        Ok(sorted_by_id(records, |r| r.id.as_str()))
    }

    /// A grant.
    pub fn grant_record(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
        grant: &GrantId,
    ) -> Result<GrantRecord, NotFound> {
        let objects = self.tenant_service(tenant, service)?;
        let found = objects
            .grants
            .get(grant)
            .ok_or_else(|| not_found("grant", format!("{tenant}/{service}/{grant}")))?;
        Ok(grant_record(grant, found))
    }

    /// The grants of a tenant's service by id, optionally only those naming `subject` or
    /// given on `object`.
    pub fn grant_records(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
        subject: Option<&Subject>,
        object: Option<&ObjectId>,
    ) -> Result<Vec<GrantRecord>, NotFound> {
        let objects = self.tenant_service(tenant, service)?;
        let records = objects
            .grants
            .iter()
            .filter(|(_, g)| subject.is_none_or(|s| &g.subject == s))
            .filter(|(_, g)| object.is_none_or(|o| g.node == GrantNode::Object(o.clone())))
            .map(|(id, g)| grant_record(id, g))
            .collect();
        Ok(sorted_by_id(records, |r| r.id.as_str()))
    }
}

fn user_record(id: &UserId, user: &super::model::UserState, failed_sign_ins: u32) -> UserRecord {
    UserRecord {
        id: id.clone(),
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        kind: user.kind,
        status: user.status,
        role: user.role.clone(),
        services: sorted(user.services.iter().cloned()),
        failed_sign_ins,
        changed_at: user.changed_at,
    }
}

fn object_record(id: &ObjectId, object: &super::model::ObjectState) -> ObjectRecord {
    ObjectRecord {
        id: id.clone(),
        object_type: object.object_type.to_string(),
        name: object.name.to_string(),
        parent: object.parent.clone(),
        related: sorted(object.related.iter().cloned()),
        changed_at: object.changed_at,
        description: object.description.to_string(),
        creator: object.creator.clone(),
    }
}

fn grant_record(id: &GrantId, grant: &super::model::GrantState) -> GrantRecord {
    GrantRecord {
        id: id.clone(),
        subject: grant.subject.clone(),
        access: grant.access.clone(),
        node: grant.node.clone(),
        expires_at: grant.expires_at,
        changed_at: grant.changed_at,
    }
}

/// The built-in group: its members added by hand (and those kept after a demotion), and
/// its synced members with their rules.
fn administrators_record(
    tenant: &TenantState,
    service: &ServiceId,
    objects: &TenantService,
) -> SecurityGroupRecord {
    let by_hand = objects
        .administrators
        .iter()
        .filter(|subject| !tenant.is_synced_administrator(service, subject))
        .cloned();
    SecurityGroupRecord {
        id: SecurityGroupId::parse(super::ADMINISTRATORS_GROUP)
            .unwrap_or_else(|_| unreachable!("the reserved id is a valid id")),
        name: ADMINISTRATORS_NAME.to_owned(),
        description: "built in: every permission of the service on every object".to_owned(),
        permissions: PermissionSet(vec![PermissionPattern::All]),
        scope: ObjectScope::AllObjects,
        members: sorted(by_hand),
        synced: tenant.synced_administrators(service, objects),
        built_in: true,
        changed_at: objects.administrators_changed_at,
    }
}
