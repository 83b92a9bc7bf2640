//! Mutations: the only way the engine's state changes. The store persists these values and
//! the change stream carries them, so each is self-contained, with ids chosen by the caller.
//!
//! The store writes every enum here by variant index: new variants go last, never between
//! or instead of others (`docs/storage-format.md` says why and where the indexes are pinned).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{
    ids::{
        CustomerId, GrantId, GroupId, ObjectId, PartnerId, PermissionLevelId, SecurityGroupId,
        ServiceId, TenantId, Timestamp, UserId,
    },
    permission::{Permission, PermissionSet},
};

/// A user or a directory group: who a grant or membership names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Subject {
    /// A user.
    User(UserId),
    /// A directory group.
    Group(GroupId),
}

impl Subject {
    /// The user's or the group's id.
    pub fn id(&self) -> &str {
        match self {
            Self::User(user) => user.as_str(),
            Self::Group(group) => group.as_str(),
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User(user) => write!(f, "user `{user}`"),
            Self::Group(group) => write!(f, "group `{group}`"),
        }
    }
}

/// How a user signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UserKind {
    /// A local account of the platform.
    Local,
    /// A user of the customer's identity directory.
    Directory,
    /// The vendor's support staff, invited into the tenant.
    Support,
}

/// Whether a user may be allowed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UserStatus {
    /// Invited, not yet activated.
    Invited,
    /// Active: the only status that is ever allowed anything.
    Active,
    /// Locked until the given time; active again afterwards.
    LockedUntil(Timestamp),
    /// Disabled until re-enabled.
    Disabled,
}

/// The functions a customized administrator may reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AdminFunctions {
    /// Managing users and roles.
    pub management: bool,
    /// Managing auto discovery.
    pub auto_discovery: bool,
    /// Tenant administration settings.
    pub administration: bool,
}

/// A user's role in the administration of its tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TenantRole {
    /// The one tenant owner.
    Owner,
    /// Does what the owner does, except being the owner.
    ServiceAdministrator,
    /// Reaches only the listed functions.
    CustomizedAdministrator(AdminFunctions),
    /// A standard user.
    StandardUser,
    /// An application administrator of these services.
    ApplicationAdministrator(BTreeSet<ServiceId>),
}

/// How a change treats objects that depend on others (a plan on the site collections it
/// covers): a subject reaching an object must reach what it depends on. Stored by variant
/// index: new variants go last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dependencies {
    /// Not checked: how changes were made before the rule existed (a stored change is
    /// replayed as it was accepted).
    #[default]
    Unchecked,
    /// Refused if it would leave a grant reaching an object without what it depends on.
    Enforced,
    /// Carried along: a grant gives what its objects depend on too; a move revokes the
    /// grants it would leave without their dependency; a deletion drops the dependency.
    Cascade,
}

/// What a service does when one of its administrators is demoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DemotionPolicy {
    /// Remove the user from the Administrators group at once.
    RemoveFromAdministrators,
    /// Keep the user in the Administrators group until removed by hand.
    KeepInAdministrators,
}

/// An object type of a service's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectType {
    /// Type name, e.g. `site_collection`.
    pub name: String,
    /// Whether objects of this type may sit at the top of the service (no container).
    pub top_level: bool,
    /// The types objects of this type may contain.
    pub may_contain: BTreeSet<String>,
}

/// A service as registered by the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDefinition {
    /// Human-readable name.
    pub display_name: String,
    /// The permission catalog.
    pub permissions: Vec<Permission>,
    /// The object types and their containment.
    pub object_types: Vec<ObjectType>,
    /// What demotion does to Administrators group membership.
    pub demotion: DemotionPolicy,
}

/// What a grant gives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Access {
    /// The permissions of a permission level (following later edits of the level).
    Level(PermissionLevelId),
    /// A permission set given directly.
    Permissions(PermissionSet),
}

/// The node a grant applies to inside a tenant's service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GrantNode {
    /// The whole service: every object, present and future.
    Service,
    /// An object and, if it is a container, everything under it, present and future.
    Object(ObjectId),
}

/// The objects a security group's permissions apply to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectScope {
    /// Every object of the service.
    AllObjects,
    /// These objects and containers (and what containers hold).
    Objects(BTreeSet<ObjectId>),
}

/// The fields of a new user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// Its id.
    pub user: UserId,
    /// E-mail, unique in the tenant (case-insensitively).
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// How it signs in.
    pub kind: UserKind,
}

/// A change to the engine's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mutation {
    /// Adds a partner node.
    CreatePartner {
        /// New partner id.
        partner: PartnerId,
        /// Display name.
        name: String,
    },
    /// Adds a customer node, optionally under a partner.
    CreateCustomer {
        /// New customer id.
        customer: CustomerId,
        /// Owning partner.
        partner: Option<PartnerId>,
        /// Display name.
        name: String,
    },
    /// Registers a service platform-wide.
    RegisterService {
        /// New service id.
        service: ServiceId,
        /// Catalog, object types, policy.
        definition: ServiceDefinition,
    },
    /// Creates a tenant with its owner (active).
    CreateTenant {
        /// New tenant id.
        tenant: TenantId,
        /// Display name.
        name: String,
        /// Owning customer.
        customer: Option<CustomerId>,
        /// The first owner.
        owner: NewUser,
    },
    /// Subscribes a tenant to a service; its Administrators group is created.
    SubscribeService {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
    },
    /// Invites a user (status `invited`).
    InviteUser {
        /// Tenant.
        tenant: TenantId,
        /// The user.
        user: NewUser,
    },
    /// Sets a user's status (activate, lock, disable, unlock).
    SetUserStatus {
        /// Tenant.
        tenant: TenantId,
        /// User.
        user: UserId,
        /// New status.
        status: UserStatus,
    },
    /// Deletes a user with its memberships and grants.
    DeleteUser {
        /// Tenant.
        tenant: TenantId,
        /// User.
        user: UserId,
    },
    /// Sets a user's tenant role (any role but owner).
    SetTenantRole {
        /// Tenant.
        tenant: TenantId,
        /// User.
        user: UserId,
        /// New role.
        role: TenantRole,
    },
    /// Makes another user the owner; the old owner becomes a service administrator.
    TransferOwnership {
        /// Tenant.
        tenant: TenantId,
        /// The new owner.
        new_owner: UserId,
    },
    /// Gives a user access to a service.
    GrantServiceAccess {
        /// Tenant.
        tenant: TenantId,
        /// User.
        user: UserId,
        /// Service.
        service: ServiceId,
    },
    /// Takes a user's access to a service away.
    RevokeServiceAccess {
        /// Tenant.
        tenant: TenantId,
        /// User.
        user: UserId,
        /// Service.
        service: ServiceId,
    },
    /// Creates a directory group.
    CreateGroup {
        /// Tenant.
        tenant: TenantId,
        /// New group id.
        group: GroupId,
        /// Display name.
        name: String,
    },
    /// Deletes a directory group, its memberships and grants.
    DeleteGroup {
        /// Tenant.
        tenant: TenantId,
        /// Group.
        group: GroupId,
    },
    /// Adds a user or group to a directory group.
    AddGroupMember {
        /// Tenant.
        tenant: TenantId,
        /// Group.
        group: GroupId,
        /// New member.
        member: Subject,
    },
    /// Removes a member from a directory group.
    RemoveGroupMember {
        /// Tenant.
        tenant: TenantId,
        /// Group.
        group: GroupId,
        /// Member.
        member: Subject,
    },
    /// Creates an object, optionally in a container.
    CreateObject {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
        /// New object id.
        object: ObjectId,
        /// Catalog type.
        object_type: String,
        /// Display name.
        name: String,
        /// Container.
        parent: Option<ObjectId>,
        /// Objects this one depends on (a plan covers site collections).
        related: BTreeSet<ObjectId>,
        /// Free text shown and searched with the name (empty: none). Added in codec
        /// version 4, like `creator`: older records decode with none.
        #[serde(deserialize_with = "super::stored::added_in_v4")]
        description: String,
        /// The user whose call created it, set by the server from the call's actor (none:
        /// created by the platform, or before creators were kept).
        #[serde(deserialize_with = "super::stored::added_in_v4")]
        creator: Option<UserId>,
    },
    /// Moves an object to another container (or to the top).
    MoveObject {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
        /// Object.
        object: ObjectId,
        /// New container.
        new_parent: Option<ObjectId>,
        /// Grants on objects that depend on the moved ones and would no longer reach them:
        /// refused (`Enforced`), or revoked with the move (`Cascade`). Added in codec
        /// version 4.
        #[serde(deserialize_with = "super::stored::added_in_v4")]
        dependents: Dependencies,
    },
    /// Deletes an object without children, with the grants on it.
    DeleteObject {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
        /// Object.
        object: ObjectId,
        /// Objects that depend on it and are reached by grants: refused (`Enforced`), or
        /// they stop depending on it (`Cascade`). Added in codec version 4.
        #[serde(deserialize_with = "super::stored::added_in_v4")]
        dependents: Dependencies,
    },
    /// Adds a subject to a service's Administrators group by hand.
    AddAdministrator {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
        /// Subject.
        subject: Subject,
    },
    /// Removes a subject from a service's Administrators group by hand.
    RemoveAdministrator {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
        /// Subject.
        subject: Subject,
    },
    /// Creates or replaces a security group (members are kept on replace).
    PutSecurityGroup {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
        /// Group id.
        group: SecurityGroupId,
        /// Name, unique in the service case-insensitively.
        name: String,
        /// Description.
        description: String,
        /// Permission scope.
        permissions: PermissionSet,
        /// Object scope.
        scope: ObjectScope,
    },
    /// Deletes a security group.
    DeleteSecurityGroup {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
        /// Group.
        group: SecurityGroupId,
    },
    /// Adds a member to a security group.
    AddSecurityGroupMember {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
        /// Group.
        group: SecurityGroupId,
        /// Member.
        member: Subject,
    },
    /// Removes a member from a security group.
    RemoveSecurityGroupMember {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
        /// Group.
        group: SecurityGroupId,
        /// Member.
        member: Subject,
    },
    /// Creates or replaces a permission level.
    PutPermissionLevel {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
        /// Level id.
        level: PermissionLevelId,
        /// Name.
        name: String,
        /// Description.
        description: String,
        /// Its permissions.
        permissions: PermissionSet,
    },
    /// Deletes a permission level that no grant uses.
    DeletePermissionLevel {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
        /// Level.
        level: PermissionLevelId,
    },
    /// Gives a subject access on a node.
    GiveGrant {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
        /// New grant id.
        grant: GrantId,
        /// Who.
        subject: Subject,
        /// What.
        access: Access,
        /// Where.
        node: GrantNode,
        /// Until when (none: no expiry).
        expires_at: Option<Timestamp>,
        /// The objects that objects under `node` depend on: the subject must reach them
        /// (`Enforced`), or gets grants on them too (`Cascade`). Added in codec version 4.
        #[serde(deserialize_with = "super::stored::added_in_v4")]
        dependencies: Dependencies,
    },
    /// Takes a grant away. Refused while the subject keeps a grant on an object that depends
    /// on an object losing access, unless `with_dependents` also revokes those grants.
    RevokeGrant {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
        /// Grant.
        grant: GrantId,
        /// Also revoke the subject's grants on dependent objects.
        with_dependents: bool,
    },
    // New variants go last: the store and the change stream encode variants by index.
    /// Replaces a registered service's definition (display name, catalog, object types,
    /// demotion policy). Refused while a permission it drops is still named exactly by a
    /// security group, permission level or grant, or a permission set of a subscribed
    /// tenant would match nothing; while an object has a type it drops; or while an
    /// object's place no longer fits its containment.
    UpdateService {
        /// Service.
        service: ServiceId,
        /// The new catalog, object types, policy.
        definition: ServiceDefinition,
    },
    /// Changes a user's e-mail and display name.
    UpdateUser {
        /// Tenant.
        tenant: TenantId,
        /// User.
        user: UserId,
        /// New e-mail, unique in the tenant (case-insensitively).
        email: String,
        /// New display name.
        display_name: String,
    },
    /// Renames a directory group.
    UpdateGroup {
        /// Tenant.
        tenant: TenantId,
        /// Group.
        group: GroupId,
        /// New display name.
        name: String,
    },
    /// Renames an object, replaces the objects it depends on and its description.
    UpdateObject {
        /// Tenant.
        tenant: TenantId,
        /// Service.
        service: ServiceId,
        /// Object.
        object: ObjectId,
        /// New display name.
        name: String,
        /// The objects it now depends on (existing objects of the service, not itself).
        related: BTreeSet<ObjectId>,
        /// New description (added in codec version 4: an older record, written when
        /// objects had none, decodes with none).
        #[serde(deserialize_with = "super::stored::added_in_v4")]
        description: String,
    },
    /// The sign-in front end reports a sign-in. `lock_after` failures in a row lock the
    /// user for `lock_for_millis` (the deployment's policy travels with the change, so a
    /// replay decides the same); a success resets the count.
    ReportSignIn {
        /// Tenant.
        tenant: TenantId,
        /// User.
        user: UserId,
        /// Whether the sign-in succeeded.
        success: bool,
        /// Consecutive failures that lock the user.
        lock_after: u32,
        /// How long a lock lasts, in milliseconds.
        lock_for_millis: i64,
    },
    /// Resets a local user's multi-factor authentication (recorded; the event tells the
    /// identity front end).
    ResetMfa {
        /// Tenant.
        tenant: TenantId,
        /// User.
        user: UserId,
    },
    /// Makes a directory group an application administrator of exactly `services` (none:
    /// no longer one): it joins their Administrators groups, and every member, nested,
    /// administers them as a user with the role does.
    SetGroupAdministers {
        /// Tenant.
        tenant: TenantId,
        /// Group.
        group: GroupId,
        /// The services it administers from now on, each subscribed.
        services: BTreeSet<ServiceId>,
    },
    /// Several changes of one tenant made as one: applied in order, each on the state the
    /// ones before it left, all at the batch's revision; if any is refused, none is made.
    /// At most [`MAX_BATCH`] changes, none of them a batch, each of `tenant`.
    Batch {
        /// The tenant every change is in.
        tenant: TenantId,
        /// The changes, in the order they are applied.
        changes: Vec<Mutation>,
    },
    /// A change at the partner level (partners, their users, customers, customer groups
    /// and partner roles).
    Partner(super::partner::PartnerChange),
    /// A change to a tenant's roles (module permissions) and their members.
    TenantRole(super::tenant_roles::TenantRoleChange),
}

/// Most changes in one [`Mutation::Batch`] (the API's bulk calls take as many items).
pub const MAX_BATCH: usize = 100;
