//! The values evaluation returns: decisions, the grants behind them, reasons for denial.

use super::{
    ids::{
        CustomerGroupId, GrantId, GroupId, ObjectId, PartnerRoleId, PermissionLevelId,
        SecurityGroupId, ServiceId, TenantId, Timestamp, UserId,
    },
    mutation::{GrantNode, UserStatus},
    permission::Permission,
};

/// One check: may `user` of `tenant` do `permission` in `service`, on `object` (or on the
/// service as a whole)?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckQuery {
    /// Tenant.
    pub tenant: TenantId,
    /// Service.
    pub service: ServiceId,
    /// User.
    pub user: UserId,
    /// Permission.
    pub permission: Permission,
    /// Object; `None` for the service as a whole.
    pub object: Option<ObjectId>,
}

/// Where a grant comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantSource {
    /// The user's tenant role (owner, service administrator, customized administrator).
    Role(&'static str),
    /// The service's built-in Administrators group.
    AdministratorsGroup,
    /// A security group the subject is a member of.
    SecurityGroup(SecurityGroupId),
    /// A grant of a permission level.
    PermissionLevel(PermissionLevelId),
    /// A grant of a permission set.
    DirectGrant,
    /// A partner role of a partner user, reaching the tenant's customer through a
    /// customer group (`None`: the role reaches every customer).
    PartnerRole {
        /// The role.
        role: PartnerRoleId,
        /// The group.
        customer_group: Option<CustomerGroupId>,
    },
}

/// One grant behind a decision.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantTrace {
    /// Where it comes from.
    pub source: GrantSource,
    /// The stored grant, if it is one.
    pub grant: Option<GrantId>,
    /// The node it applies to.
    pub node: GrantNode,
    /// The directory groups through which the user holds it, outermost first; empty when
    /// the user holds it directly.
    pub group_chain: Vec<GroupId>,
    /// When it stops applying.
    pub expires_at: Option<Timestamp>,
}

/// Why a check was denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The tenant does not exist.
    UnknownTenant,
    /// The service is not registered.
    UnknownService,
    /// The tenant does not subscribe to the service.
    ServiceNotSubscribed,
    /// The user does not exist in the tenant.
    UnknownUser,
    /// The object does not exist in the tenant's service.
    UnknownObject,
    /// The user is not active.
    UserNotActive(UserStatus),
    /// The user was not given access to the service.
    NoServiceAccess,
    /// The permission is not in the service's catalog.
    UnknownPermission,
    /// No grant gives the permission here.
    NoGrant,
    /// Only expired grants would give it.
    GrantExpired(Vec<GrantTrace>),
    /// Grants give the permission, but on other objects.
    OutsideScope,
    /// The tenant belongs to no partner's customer, so no partner user reaches it.
    TenantWithoutPartner,
    /// The user is not a user of the partner of the tenant's customer.
    UnknownPartnerUser,
    /// No partner role of the user reaches the tenant's customer with service access.
    NoPartnerRoleReaches,
    /// The partner user's roles reach the customer as a tenant user only, which gives no
    /// service permissions.
    PartnerTenantUserOnly,
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownTenant => f.write_str("the tenant does not exist"),
            Self::UnknownService => f.write_str("the service is not registered"),
            Self::ServiceNotSubscribed => {
                f.write_str("the tenant does not subscribe to the service")
            }
            Self::UnknownUser => f.write_str("the user does not exist in the tenant"),
            Self::UnknownObject => f.write_str("the object does not exist in the tenant's service"),
            Self::UserNotActive(UserStatus::Invited) => {
                f.write_str("the user is invited and has not activated the account")
            }
            Self::UserNotActive(UserStatus::LockedUntil(until)) => {
                write!(f, "the user is locked until {until}")
            }
            Self::UserNotActive(UserStatus::Disabled) => f.write_str("the user is disabled"),
            Self::UserNotActive(UserStatus::Active) => f.write_str("the user is active"),
            Self::NoServiceAccess => f.write_str("the user has no access to the service"),
            Self::UnknownPermission => {
                f.write_str("the permission is not in the service's catalog")
            }
            Self::NoGrant => f.write_str("no grant gives the permission"),
            Self::GrantExpired(grants) => write!(
                f,
                "the grants that gave the permission have expired: {}",
                grants
                    .iter()
                    .filter_map(|g| g.grant.as_ref())
                    .map(|grant| format!("`{}`", grant.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::OutsideScope => f.write_str("grants give the permission only on other objects"),
            Self::TenantWithoutPartner => {
                f.write_str("the tenant belongs to no customer of a partner")
            }
            Self::UnknownPartnerUser => {
                f.write_str("the user is not a user of the tenant's partner")
            }
            Self::NoPartnerRoleReaches => f.write_str(
                "no partner role of the user reaches the tenant's customer with service access",
            ),
            Self::PartnerTenantUserOnly => f.write_str(
                "the user's partner roles reach the customer as a tenant user, which gives no service permissions",
            ),
        }
    }
}

/// A decision with its reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Explanation {
    /// Allowed by these grants (at least one).
    Allowed(Vec<GrantTrace>),
    /// Denied for this reason.
    Denied(Denial),
}

impl Explanation {
    /// Whether it is an allow.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed(_))
    }
}
