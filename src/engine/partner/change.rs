//! Changes at the partner level, as values (stored by variant index like every mutation:
//! new variants go last).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{
    super::{
        ids::{
            CustomerGroupId, CustomerId, CustomerRoleId, PartnerId, PartnerRoleId, ServiceId,
            TenantId, Timestamp, UserId,
        },
        mutation::{NewUser, UserStatus},
        permission::PermissionSet,
    },
    conditions::Condition,
    customer_roles::CustomerRoleDetails,
};

/// What a partner role gives in its customers' tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CustomerAccess {
    /// No access to the customers' services.
    None,
    /// A tenant user: what the role's module permissions give, no service permissions.
    TenantUser,
    /// A service administrator of every tenant of every customer in scope.
    ServiceAdministrator,
}

/// Which customers a partner role reaches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CustomerScope {
    /// Every customer of the partner, now and later.
    AllCustomers,
    /// The customers in any of these groups, as membership changes.
    Groups(BTreeSet<CustomerGroupId>),
}

/// What a partner role is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerRoleDetails {
    /// Display name, unique in the partner (ignoring case).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Permissions of the partner platform (from [`super::PLATFORM_PERMISSIONS`]).
    pub platform_permissions: PermissionSet,
    /// Tenant-level module permissions (from [`super::TENANT_MODULES`]).
    pub module_permissions: PermissionSet,
    /// What it gives in the customers' tenants.
    pub access: CustomerAccess,
    /// Which customers.
    pub scope: CustomerScope,
}

/// A customer's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerDetails {
    /// Display name.
    pub name: String,
    /// Contact e-mail.
    pub email: String,
    /// Free tags (dynamic groups select on them).
    pub tags: BTreeSet<String>,
    /// The data centre it is served from.
    pub data_centre: String,
    /// The services it subscribes to (registered services).
    pub services: BTreeSet<ServiceId>,
}

/// How a customer group gets its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupRule {
    /// Customers added and removed by hand.
    Static,
    /// Every customer of the partner meeting the condition, as attributes change.
    Dynamic(Condition),
}

/// What a customer group is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerGroupDetails {
    /// Display name, unique in the partner (ignoring case).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Static or dynamic.
    pub rule: GroupRule,
}

/// A change at the partner level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartnerChange {
    /// Creates a partner with its system account (active, its owner and an
    /// Administrator).
    Onboard {
        /// New partner id.
        partner: PartnerId,
        /// Display name.
        name: String,
        /// The system account.
        owner: NewUser,
    },
    /// Invites a partner user (status `invited`) with roles, each until an expiry or for
    /// good.
    InviteUser {
        /// Partner.
        partner: PartnerId,
        /// The user.
        user: NewUser,
        /// Its roles.
        roles: BTreeMap<PartnerRoleId, Option<Timestamp>>,
    },
    /// Sets a partner user's status (activate, lock, disable, enable, unlock).
    SetUserStatus {
        /// Partner.
        partner: PartnerId,
        /// User.
        user: UserId,
        /// New status.
        status: UserStatus,
    },
    /// Deletes a partner user with its role memberships.
    DeleteUser {
        /// Partner.
        partner: PartnerId,
        /// User.
        user: UserId,
    },
    /// Makes another partner user the owner (system account); the old owner stays an
    /// Administrator.
    TransferOwnership {
        /// Partner.
        partner: PartnerId,
        /// The new owner.
        new_owner: UserId,
    },
    /// Creates a customer of the partner, or replaces its attributes; group membership
    /// follows at once.
    PutCustomer {
        /// Partner.
        partner: PartnerId,
        /// Customer.
        customer: CustomerId,
        /// Its attributes.
        details: CustomerDetails,
    },
    /// Deletes a customer that owns no tenants.
    DeleteCustomer {
        /// Partner.
        partner: PartnerId,
        /// Customer.
        customer: CustomerId,
    },
    /// Links a tenant to a customer of the customer's partner, or unlinks it.
    SetTenantCustomer {
        /// Tenant.
        tenant: TenantId,
        /// The customer, or none.
        customer: Option<CustomerId>,
    },
    /// Creates or replaces a customer group; a dynamic one's members are recomputed.
    PutCustomerGroup {
        /// Partner.
        partner: PartnerId,
        /// Group.
        group: CustomerGroupId,
        /// What it is.
        details: CustomerGroupDetails,
    },
    /// Deletes a customer group no role's scope names.
    DeleteCustomerGroup {
        /// Partner.
        partner: PartnerId,
        /// Group.
        group: CustomerGroupId,
    },
    /// Adds customers to (or, with `remove`, takes them out of) a static group.
    SetGroupCustomers {
        /// Partner.
        partner: PartnerId,
        /// Group.
        group: CustomerGroupId,
        /// The customers.
        customers: BTreeSet<CustomerId>,
        /// Remove instead of add.
        remove: bool,
    },
    /// Recomputes a dynamic group's members from its condition (the change context
    /// reports who joined and who left).
    ResyncCustomerGroup {
        /// Partner.
        partner: PartnerId,
        /// Group.
        group: CustomerGroupId,
    },
    /// Creates or replaces a custom partner role.
    PutRole {
        /// Partner.
        partner: PartnerId,
        /// Role.
        role: PartnerRoleId,
        /// What it is.
        details: PartnerRoleDetails,
    },
    /// Deletes a custom partner role; its members lose it.
    DeleteRole {
        /// Partner.
        partner: PartnerId,
        /// Role.
        role: PartnerRoleId,
    },
    /// Makes a partner user a member of a role until `until` (or for good), or changes
    /// the expiry of its membership.
    AddRoleMember {
        /// Partner.
        partner: PartnerId,
        /// Role.
        role: PartnerRoleId,
        /// User.
        user: UserId,
        /// When the membership ends; `None`: never.
        until: Option<Timestamp>,
    },
    /// Takes a partner user out of a role.
    RemoveRoleMember {
        /// Partner.
        partner: PartnerId,
        /// Role.
        role: PartnerRoleId,
        /// User.
        user: UserId,
    },
    /// Creates or replaces a customer role; its synced copies follow at once (created,
    /// changed, or removed where the tenant left its scope or sync went off).
    PutCustomerRole {
        /// Partner.
        partner: PartnerId,
        /// Role.
        role: CustomerRoleId,
        /// What it is.
        details: CustomerRoleDetails,
    },
    /// Deletes a customer role with every synced copy.
    DeleteCustomerRole {
        /// Partner.
        partner: PartnerId,
        /// Role.
        role: CustomerRoleId,
    },
    /// Turns a customer role's sync off (its copy there is removed) or on again (the copy
    /// is made anew) for one tenant.
    SetCustomerRoleTenantSync {
        /// Partner.
        partner: PartnerId,
        /// Role.
        role: CustomerRoleId,
        /// Tenant.
        tenant: TenantId,
        /// On or off.
        enabled: bool,
    },
    /// The sign-in front end reports a partner user's sign-in: `lock_after` failures in a
    /// row lock the user for `lock_for_millis` (the policy travels with the change, so a
    /// replay decides the same); a success resets the count.
    ReportSignIn {
        /// Partner.
        partner: PartnerId,
        /// User.
        user: UserId,
        /// Whether the sign-in succeeded.
        success: bool,
        /// Consecutive failures that lock the user.
        lock_after: u32,
        /// How long a lock lasts, in milliseconds.
        lock_for_millis: i64,
    },
    /// Resets a local partner user's multi-factor authentication (the event tells the
    /// identity front end).
    ResetMfa {
        /// Partner.
        partner: PartnerId,
        /// User.
        user: UserId,
    },
}

impl PartnerChange {
    /// The partner it changes (`None`: a tenant link, whose partner is the customer's).
    pub fn partner(&self) -> Option<&PartnerId> {
        match self {
            Self::Onboard { partner, .. }
            | Self::InviteUser { partner, .. }
            | Self::SetUserStatus { partner, .. }
            | Self::DeleteUser { partner, .. }
            | Self::TransferOwnership { partner, .. }
            | Self::PutCustomer { partner, .. }
            | Self::DeleteCustomer { partner, .. }
            | Self::PutCustomerGroup { partner, .. }
            | Self::DeleteCustomerGroup { partner, .. }
            | Self::SetGroupCustomers { partner, .. }
            | Self::ResyncCustomerGroup { partner, .. }
            | Self::PutRole { partner, .. }
            | Self::DeleteRole { partner, .. }
            | Self::AddRoleMember { partner, .. }
            | Self::RemoveRoleMember { partner, .. }
            | Self::PutCustomerRole { partner, .. }
            | Self::DeleteCustomerRole { partner, .. }
            | Self::SetCustomerRoleTenantSync { partner, .. }
            | Self::ReportSignIn { partner, .. }
            | Self::ResetMfa { partner, .. } => Some(partner),
            Self::SetTenantCustomer { .. } => None,
        }
    }

    /// A short description for logs and audit targets.
    pub fn target(&self) -> String {
        match self {
            Self::Onboard { partner, .. } => format!("partner {partner}"),
            Self::InviteUser { partner, user, .. } => {
                format!("partner {partner} user {}", user.user)
            }
            Self::SetUserStatus { partner, user, .. }
            | Self::DeleteUser { partner, user }
            | Self::ReportSignIn { partner, user, .. }
            | Self::ResetMfa { partner, user } => format!("partner {partner} user {user}"),
            Self::TransferOwnership { partner, new_owner } => {
                format!("partner {partner} user {new_owner}")
            }
            Self::PutCustomer {
                partner, customer, ..
            }
            | Self::DeleteCustomer { partner, customer } => {
                format!("partner {partner} customer {customer}")
            }
            Self::SetTenantCustomer { tenant, .. } => format!("tenant {tenant}"),
            Self::PutCustomerGroup { partner, group, .. }
            | Self::DeleteCustomerGroup { partner, group }
            | Self::SetGroupCustomers { partner, group, .. }
            | Self::ResyncCustomerGroup { partner, group } => {
                format!("partner {partner} customer group {group}")
            }
            Self::PutRole { partner, role, .. } | Self::DeleteRole { partner, role } => {
                format!("partner {partner} role {role}")
            }
            Self::AddRoleMember {
                partner,
                role,
                user,
                ..
            }
            | Self::RemoveRoleMember {
                partner,
                role,
                user,
                ..
            } => format!("partner {partner} role {role} user {user}"),
            Self::PutCustomerRole { partner, role, .. }
            | Self::DeleteCustomerRole { partner, role } => {
                format!("partner {partner} customer role {role}")
            }
            Self::SetCustomerRoleTenantSync {
                partner,
                role,
                tenant,
                ..
            } => format!("partner {partner} customer role {role} tenant {tenant}"),
        }
    }
}
