//! Why the engine refused a mutation. A refused mutation changes nothing.

use std::fmt::Write as _;

use super::{
    echo::echo,
    ids::{
        CustomerGroupId, CustomerId, GrantId, ObjectId, PartnerId, PartnerRoleId,
        PermissionLevelId, ServiceId, TenantId, TenantRoleId, UserId,
    },
    mutation::Subject,
};

/// How a refusal is classified (the API maps each class to one status code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutationErrorKind {
    /// Something named does not exist.
    NotFound,
    /// The id or a unique name is taken.
    AlreadyExists,
    /// A value breaks a syntax or catalog rule.
    InvalidArgument,
    /// The state forbids it (an invariant or a dependency).
    FailedPrecondition,
}

/// A refused mutation, naming the rule and the ids involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MutationError {
    /// Something named does not exist.
    #[error("{what} `{id}` does not exist")]
    NotFound {
        /// Kind of thing.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The id is taken.
    #[error("{what} `{id}` already exists")]
    AlreadyExists {
        /// Kind of thing.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The e-mail belongs to another user of the tenant.
    #[error(
        "e-mail `{}` is already used by user `{user}` (e-mails are unique per tenant, ignoring case)",
        echo(.email)
    )]
    EmailTaken {
        /// The e-mail.
        email: String,
        /// Its user.
        user: UserId,
    },
    /// The name belongs to another security group or permission level of the service.
    #[error(
        "{what} name `{}` is already used by `{existing}` (names are unique per service, ignoring case)",
        echo(.name)
    )]
    NameTaken {
        /// Kind of thing.
        what: &'static str,
        /// The name.
        name: String,
        /// Who has it.
        existing: String,
    },
    /// A field value is malformed.
    #[error("{field}: {rule}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The rule.
        rule: String,
    },
    /// The permission pattern matches nothing in the service's catalog.
    #[error("permission `{}` is not in the catalog of service `{service}`", echo(.pattern))]
    PermissionNotInCatalog {
        /// Service.
        service: ServiceId,
        /// Pattern.
        pattern: String,
    },
    /// The object type does not fit the catalog's containment.
    #[error("object type `{}` may not be placed {place} in service `{service}`", echo(.child))]
    ContainmentNotAllowed {
        /// Service.
        service: ServiceId,
        /// The child type.
        child: String,
        /// Where (e.g. "at the top level", "in a `plan`").
        place: String,
    },
    /// Moving an object under itself.
    #[error("object `{object}` cannot move into `{target}`, which is inside it")]
    ContainmentCycle {
        /// The object.
        object: ObjectId,
        /// The target container.
        target: ObjectId,
    },
    /// A container still holds objects.
    #[error("object `{object}` still contains {}; delete or move them first", listed(.children))]
    ContainerNotEmpty {
        /// The container.
        object: ObjectId,
        /// Some of its children.
        children: Vec<ObjectId>,
    },
    /// Directory groups may not contain themselves, directly or not.
    #[error("adding `{member}` to group `{group}` would make a cycle of directory groups")]
    GroupCycle {
        /// The group.
        group: String,
        /// The member.
        member: String,
    },
    /// The owner and support accounts are protected.
    #[error("user `{user}` is {protection}; {action} is not allowed")]
    ProtectedUser {
        /// The user.
        user: UserId,
        /// "the tenant owner" or "a support account".
        protection: &'static str,
        /// What was attempted.
        action: &'static str,
    },
    /// The user is not in the state the change needs (invited, locked or disabled).
    #[error("user `{user}` must be active to {purpose}")]
    UserNotActive {
        /// The user.
        user: UserId,
        /// What it would have done.
        purpose: &'static str,
    },
    /// Ownership goes to the user who has it already.
    #[error("user `{user}` already owns tenant `{tenant}`")]
    AlreadyOwner {
        /// The user.
        user: UserId,
        /// Tenant.
        tenant: TenantId,
    },
    /// Ownership changes only by an explicit transfer.
    #[error("the owner role is given only by an ownership transfer (tenant `{tenant}`)")]
    OwnerOnlyByTransfer {
        /// Tenant.
        tenant: TenantId,
    },
    /// The Administrators group cannot be deleted or have its permissions edited.
    #[error(
        "the Administrators group of service `{service}` is built in: it cannot be deleted or edited"
    )]
    AdministratorsGroupImmutable {
        /// Service.
        service: ServiceId,
    },
    /// The tenant does not subscribe to the service.
    #[error("tenant `{tenant}` does not subscribe to service `{service}`")]
    ServiceNotSubscribed {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
    },
    /// Security group members must have access to the service.
    #[error(
        "user `{user}` has no access to service `{service}`; give access before adding it to the service's security groups"
    )]
    NoServiceAccess {
        /// User.
        user: UserId,
        /// Service.
        service: ServiceId,
    },
    /// A permission level in use cannot be deleted.
    #[error(
        "permission level `{level}` is used by {}; take those grants away first",
        listed(.used_by)
    )]
    PermissionLevelInUse {
        /// The level.
        level: PermissionLevelId,
        /// Subjects (and grants) using it.
        used_by: Vec<String>,
    },
    /// Revoking would leave dependent objects reachable without what they cover.
    #[error(
        "revoking grant `{grant}` would leave {subject} with access to {}, which depend on objects losing access; revoke those too (with_dependents) or first",
        listed(.dependents)
    )]
    DependentAccess {
        /// The grant.
        grant: GrantId,
        /// Its subject.
        subject: Subject,
        /// The dependent objects still reached.
        dependents: Vec<ObjectId>,
    },
    /// A grant would reach objects without the objects they depend on.
    #[error(
        "grant `{grant}` would give {subject} access to {}, which depend on {} that it does not reach; give access to those first, or with this grant (with_dependencies)",
        listed(.dependents),
        listed(.missing)
    )]
    DependencyNotReached {
        /// The grant.
        grant: GrantId,
        /// Its subject.
        subject: Subject,
        /// The objects it would reach that depend on others.
        dependents: Vec<ObjectId>,
        /// What they depend on that the subject does not reach.
        missing: Vec<ObjectId>,
    },
    /// Moving or deleting an object would leave grants on objects that depend on it
    /// without access to it.
    #[error(
        "{action} object `{object}` would leave access to {}, which depend on it, without access to it; {remedy} (cascade)",
        listed(.dependents)
    )]
    ObjectDependedOn {
        /// The object.
        object: ObjectId,
        /// "moving" or "deleting".
        action: &'static str,
        /// The objects reached that depend on it.
        dependents: Vec<ObjectId>,
        /// What `cascade` would do instead.
        remedy: &'static str,
    },
    /// A service update drops a permission (or leaves a pattern matching nothing) that a
    /// security group, permission level or grant of a subscribed tenant still names.
    #[error(
        "permission `{}` of service `{service}` is still used by {}; take it out of those first",
        echo(.permission),
        listed(.used_by)
    )]
    PermissionInUse {
        /// Service.
        service: ServiceId,
        /// The permission, or the pattern that would match nothing.
        permission: String,
        /// Who is concerned ("tenant t: user u", "tenant t: group g"), sorted.
        used_by: Vec<String>,
    },
    /// A service update drops an object type that an object still has.
    #[error(
        "object type `{}` of service `{service}` is still the type of object `{object}`; delete those objects first",
        echo(.object_type)
    )]
    ObjectTypeInUse {
        /// Service.
        service: ServiceId,
        /// The object type.
        object_type: String,
        /// An object of that type.
        object: ObjectId,
    },
    /// Ownership of a partner goes to the user who has it already.
    #[error("user `{user}` already owns partner `{partner}`")]
    AlreadyPartnerOwner {
        /// The user.
        user: UserId,
        /// Partner.
        partner: PartnerId,
    },
    /// A customer that owns tenants cannot be deleted.
    #[error(
        "customer `{customer}` still owns tenants {}; link them to another customer first",
        listed(.tenants)
    )]
    CustomerHasTenants {
        /// The customer.
        customer: CustomerId,
        /// Its tenants.
        tenants: Vec<String>,
    },
    /// A customer group that a role's scope names cannot be deleted.
    #[error(
        "customer group `{group}` is in the scope of {}; take it out of those first",
        listed(.used_by)
    )]
    CustomerGroupInUse {
        /// The group.
        group: CustomerGroupId,
        /// The roles naming it.
        used_by: Vec<String>,
    },
    /// Customers are added to and removed from static groups only.
    #[error(
        "customer group `{group}` is dynamic: its members follow its condition, not changes by hand"
    )]
    CustomerGroupDynamic {
        /// The group.
        group: CustomerGroupId,
    },
    /// A synced copy of a customer role changes only with it.
    #[error(
        "tenant role `{role}` is a synced copy of a customer role: it changes only with that role (detach it first)"
    )]
    TenantRoleSynced {
        /// The role.
        role: TenantRoleId,
    },
    /// The built-in Administrator role cannot be edited or deleted.
    #[error(
        "partner role `{role}` is the built-in Administrator role: it cannot be edited or deleted"
    )]
    PartnerRoleBuiltIn {
        /// The role.
        role: PartnerRoleId,
    },
}

/// Items of a refusal, quoted: the first few, and how many more.
fn listed(items: &[impl std::fmt::Display]) -> String {
    const SHOWN: usize = 5;
    let mut text = items
        .iter()
        .take(SHOWN)
        .map(|item| format!("`{}`", echo(&item.to_string())))
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        let _ = write!(text, " and {} more", items.len() - SHOWN);
    }
    text
}

impl MutationError {
    /// The rule the refusal is for, as a stable name clients and the audit trail can
    /// branch on (the `reason` of the status's `google.rpc.ErrorInfo`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "NOT_FOUND",
            Self::AlreadyExists { .. } => "ALREADY_EXISTS",
            Self::EmailTaken { .. } => "EMAIL_TAKEN",
            Self::NameTaken { .. } => "NAME_TAKEN",
            Self::Invalid { .. } => "FIELD_INVALID",
            Self::PermissionNotInCatalog { .. } => "PERMISSION_NOT_IN_CATALOG",
            Self::ContainmentNotAllowed { .. } => "CONTAINMENT_NOT_ALLOWED",
            Self::ContainmentCycle { .. } => "CONTAINMENT_CYCLE",
            Self::ContainerNotEmpty { .. } => "CONTAINER_NOT_EMPTY",
            Self::GroupCycle { .. } => "GROUP_CYCLE",
            Self::ProtectedUser { .. } => "USER_PROTECTED",
            Self::UserNotActive { .. } => "USER_NOT_ACTIVE",
            Self::AlreadyOwner { .. } | Self::AlreadyPartnerOwner { .. } => "USER_ALREADY_OWNER",
            Self::OwnerOnlyByTransfer { .. } => "OWNER_ONLY_BY_TRANSFER",
            Self::AdministratorsGroupImmutable { .. } => "ADMINISTRATORS_GROUP_BUILT_IN",
            Self::ServiceNotSubscribed { .. } => "SERVICE_NOT_SUBSCRIBED",
            Self::NoServiceAccess { .. } => "NO_SERVICE_ACCESS",
            Self::PermissionLevelInUse { .. } => "PERMISSION_LEVEL_IN_USE",
            Self::DependentAccess { .. } => "DEPENDENT_ACCESS",
            Self::DependencyNotReached { .. } => "DEPENDENCY_NOT_REACHED",
            Self::ObjectDependedOn { .. } => "OBJECT_DEPENDED_ON",
            Self::PermissionInUse { .. } => "PERMISSION_IN_USE",
            Self::ObjectTypeInUse { .. } => "OBJECT_TYPE_IN_USE",
            Self::CustomerHasTenants { .. } => "CUSTOMER_HAS_TENANTS",
            Self::CustomerGroupInUse { .. } => "CUSTOMER_GROUP_IN_USE",
            Self::CustomerGroupDynamic { .. } => "CUSTOMER_GROUP_DYNAMIC",
            Self::PartnerRoleBuiltIn { .. } => "PARTNER_ROLE_BUILT_IN",
            Self::TenantRoleSynced { .. } => "TENANT_ROLE_SYNCED",
        }
    }

    /// The ids the refusal is about, by what they are (the `metadata` of its
    /// `ErrorInfo`). Client values are cut as in messages.
    pub fn metadata(&self) -> Vec<(&'static str, String)> {
        let quoted = |text: &str| echo(text);
        match self {
            Self::NotFound { what, id } | Self::AlreadyExists { what, id } => {
                vec![("kind", (*what).to_owned()), ("id", quoted(id))]
            }
            Self::EmailTaken { user, .. }
            | Self::ProtectedUser { user, .. }
            | Self::UserNotActive { user, .. } => vec![("user", user.to_string())],
            Self::AlreadyOwner { user, tenant } => {
                vec![("user", user.to_string()), ("tenant", tenant.to_string())]
            }
            Self::NameTaken { what, existing, .. } => {
                vec![("kind", (*what).to_owned()), ("id", quoted(existing))]
            }
            Self::Invalid { field, .. } => vec![("field", (*field).to_owned())],
            Self::PermissionNotInCatalog { service, pattern } => vec![
                ("service", service.to_string()),
                ("permission", quoted(pattern)),
            ],
            Self::ContainmentNotAllowed { service, child, .. } => vec![
                ("service", service.to_string()),
                ("object_type", quoted(child)),
            ],
            Self::ContainmentCycle { object, target } => vec![
                ("object", object.to_string()),
                ("target", target.to_string()),
            ],
            Self::ContainerNotEmpty { object, .. } | Self::ObjectDependedOn { object, .. } => {
                vec![("object", object.to_string())]
            }
            Self::GroupCycle { group, member } => {
                vec![("group", quoted(group)), ("member", quoted(member))]
            }
            Self::OwnerOnlyByTransfer { tenant } => vec![("tenant", tenant.to_string())],
            Self::AdministratorsGroupImmutable { service } => {
                vec![("service", service.to_string())]
            }
            Self::ServiceNotSubscribed { tenant, service } => vec![
                ("tenant", tenant.to_string()),
                ("service", service.to_string()),
            ],
            Self::NoServiceAccess { user, service } => {
                vec![("user", user.to_string()), ("service", service.to_string())]
            }
            Self::PermissionLevelInUse { level, .. } => {
                vec![("permission_level", level.to_string())]
            }
            Self::DependentAccess { grant, .. } => vec![("grant", grant.to_string())],
            Self::DependencyNotReached { grant, subject, .. } => vec![
                ("grant", grant.to_string()),
                ("subject", subject.to_string()),
            ],
            Self::PermissionInUse {
                service,
                permission,
                ..
            } => vec![
                ("service", service.to_string()),
                ("permission", quoted(permission)),
            ],
            Self::ObjectTypeInUse {
                service,
                object_type,
                object,
            } => vec![
                ("service", service.to_string()),
                ("object_type", quoted(object_type)),
                ("object", object.to_string()),
            ],
            Self::AlreadyPartnerOwner { user, partner } => {
                vec![("user", user.to_string()), ("partner", partner.to_string())]
            }
            Self::CustomerHasTenants { customer, .. } => vec![("customer", customer.to_string())],
            Self::CustomerGroupInUse { group, .. } | Self::CustomerGroupDynamic { group } => {
                vec![("customer_group", group.to_string())]
            }
            Self::PartnerRoleBuiltIn { role } => vec![("partner_role", role.to_string())],
            Self::TenantRoleSynced { role } => vec![("tenant_role", role.to_string())],
        }
    }

    /// The class of the refusal.
    pub fn kind(&self) -> MutationErrorKind {
        match self {
            Self::NotFound { .. } => MutationErrorKind::NotFound,
            Self::AlreadyExists { .. } | Self::EmailTaken { .. } | Self::NameTaken { .. } => {
                MutationErrorKind::AlreadyExists
            }
            Self::Invalid { .. }
            | Self::PermissionNotInCatalog { .. }
            | Self::ContainmentNotAllowed { .. } => MutationErrorKind::InvalidArgument,
            Self::ContainmentCycle { .. }
            | Self::ContainerNotEmpty { .. }
            | Self::GroupCycle { .. }
            | Self::ProtectedUser { .. }
            | Self::UserNotActive { .. }
            | Self::AlreadyOwner { .. }
            | Self::OwnerOnlyByTransfer { .. }
            | Self::AdministratorsGroupImmutable { .. }
            | Self::ServiceNotSubscribed { .. }
            | Self::NoServiceAccess { .. }
            | Self::PermissionLevelInUse { .. }
            | Self::DependentAccess { .. }
            | Self::DependencyNotReached { .. }
            | Self::ObjectDependedOn { .. }
            | Self::PermissionInUse { .. }
            | Self::ObjectTypeInUse { .. }
            | Self::AlreadyPartnerOwner { .. }
            | Self::CustomerHasTenants { .. }
            | Self::CustomerGroupInUse { .. }
            | Self::CustomerGroupDynamic { .. }
            | Self::PartnerRoleBuiltIn { .. }
            | Self::TenantRoleSynced { .. } => MutationErrorKind::FailedPrecondition,
        }
    }

    #[allow(
        clippy::needless_pass_by_value,
        reason = "call sites pass ids and fresh strings alike"
    )]
    pub(crate) fn not_found(what: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            what,
            id: id.to_string(),
        }
    }

    #[allow(
        clippy::needless_pass_by_value,
        reason = "call sites pass ids and fresh strings alike"
    )]
    pub(crate) fn exists(what: &'static str, id: impl ToString) -> Self {
        Self::AlreadyExists {
            what,
            id: id.to_string(),
        }
    }
}
