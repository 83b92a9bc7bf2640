//! The partner level: a managed-service provider (partner) with its own users, the
//! customers it serves (each owning tenants), groups of customers (static, or dynamic by
//! conditions on the customers' attributes) and partner roles that reach chosen customers.
//!
//! A partner user is not a user of any tenant. It reaches a tenant through its partner
//! roles: a role whose customer scope covers the tenant's customer and whose access type
//! is service administrator makes it one in every tenant of that customer (see
//! `check.rs`). Group membership is kept on each customer and follows every change of its
//! attributes or of a group's conditions at once, so a check reads it without evaluating
//! any condition.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use serde::{Deserialize, Serialize};

use super::{
    ids::{
        CustomerGroupId, CustomerId, CustomerRoleId, PartnerRoleId, Revision, ServiceId, TenantId,
        Timestamp,
    },
    model::FastMap,
    mutation::{UserKind, UserStatus},
    permission::{Catalog, Permission, PermissionSet},
};

mod acting;
mod apply;
mod authority;
mod change;
mod check;
mod conditions;
mod customer_roles;
mod events;
mod resources;
#[cfg(test)]
mod tests;

pub use apply::{MAX_GROUP_CUSTOMERS_PER_CALL, MAX_TAGS};
pub use change::{
    CustomerAccess, CustomerDetails, CustomerGroupDetails, CustomerScope, GroupRule, PartnerChange,
    PartnerRoleDetails,
};
pub use conditions::{Condition, MAX_ATTRIBUTE_LEN, MAX_CONDITION_DEPTH, MAX_CONDITION_TERMS};
pub(crate) use customer_roles::CustomerRoleState;
pub use customer_roles::{CustomerRoleDetails, CustomerRoleRecord, TenantScope};
pub use resources::{
    CustomerGroupRecord, CustomerRecord, GroupMember, MemberReason, PartnerReach, PartnerRecord,
    PartnerRoleRecord, PartnerUserRecord,
};

/// The id of every partner's built-in Administrator role.
pub const ADMINISTRATOR_ROLE: &str = "administrator";

/// One partner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PartnerState {
    pub(crate) name: String,
    /// Its system account: always an Administrator, never deleted, roles never changed.
    /// `None` only for a partner created before partners had users (codec version 4).
    pub(crate) owner: Option<super::ids::UserId>,
    // Each behind its own `Arc`: a change copies the one collection it alters.
    // Hash maps: a partner user's check looks up the user and its roles (listings sort).
    pub(crate) users: Arc<FastMap<super::ids::UserId, PartnerUserState>>,
    /// Lowercased e-mail → user, for uniqueness.
    pub(crate) emails: Arc<BTreeMap<String, super::ids::UserId>>,
    pub(crate) roles: Arc<FastMap<PartnerRoleId, PartnerRoleState>>,
    pub(crate) customer_groups: Arc<BTreeMap<CustomerGroupId, CustomerGroupState>>,
    pub(crate) customer_roles: Arc<BTreeMap<CustomerRoleId, CustomerRoleState>>,
    /// Its customers (the reverse of each customer's `partner`).
    pub(crate) customers: Arc<BTreeSet<CustomerId>>,
    pub(crate) changed_at: Revision,
}

impl PartnerState {
    /// A partner with its owner, an Administrator, and the built-in Administrator role.
    pub(crate) fn new(
        name: String,
        owner: super::ids::UserId,
        owner_state: PartnerUserState,
        email: String,
        at: Revision,
    ) -> Self {
        let mut roles = FastMap::default();
        roles.insert(administrator_role_id(), PartnerRoleState::administrator(at));
        Self {
            name,
            owner: Some(owner.clone()),
            users: Arc::new(FastMap::from_iter([(owner.clone(), owner_state)])),
            emails: Arc::new(BTreeMap::from([(email, owner)])),
            roles: Arc::new(roles),
            customer_groups: Arc::new(BTreeMap::new()),
            customer_roles: Arc::new(BTreeMap::new()),
            customers: Arc::new(BTreeSet::new()),
            changed_at: at,
        }
    }

    /// A partner as codec version 4 and older kept it: a name only.
    pub(crate) fn named(name: String) -> Self {
        Self {
            name,
            owner: None,
            users: Arc::default(),
            emails: Arc::default(),
            roles: Arc::new(FastMap::from_iter([(
                administrator_role_id(),
                PartnerRoleState::administrator(Revision::ZERO),
            )])),
            customer_groups: Arc::default(),
            customer_roles: Arc::default(),
            customers: Arc::default(),
            changed_at: Revision::ZERO,
        }
    }

    /// Whether `user` is a partner Administrator: the owner, or a member of the built-in
    /// role (membership of it never expires).
    pub(crate) fn is_administrator(&self, user: &super::ids::UserId) -> bool {
        self.owner.as_ref() == Some(user)
            || self
                .users
                .get(user)
                .is_some_and(|u| u.roles.contains_key(&administrator_role_id()))
    }

    /// The roles `user` holds at `now` (the owner holds the Administrator role).
    pub(crate) fn roles_held<'a>(
        &'a self,
        user: &'a super::ids::UserId,
        now: Timestamp,
    ) -> impl Iterator<Item = (&'a PartnerRoleId, &'a PartnerRoleState)> + 'a {
        let owner_role = (self.owner.as_ref() == Some(user))
            .then(|| self.roles.get_key_value(&administrator_role_id()))
            .flatten();
        let member_roles = self
            .users
            .get(user)
            .into_iter()
            .flat_map(|u| u.roles.iter())
            .filter(move |(_, until)| until.is_none_or(|until| now < until))
            .filter_map(|(role, _)| self.roles.get_key_value(role));
        owner_role.into_iter().chain(member_roles)
    }
}

pub(crate) fn administrator_role_id() -> PartnerRoleId {
    // INVARIANT: the constant is a valid id (a unit test parses it).
    PartnerRoleId::parse(ADMINISTRATOR_ROLE).unwrap_or_else(|_| unreachable!())
}

/// A user of a partner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PartnerUserState {
    pub(crate) email: String,
    pub(crate) display_name: String,
    pub(crate) kind: UserKind,
    pub(crate) status: UserStatus,
    /// The roles it is a member of, each until an expiry time or for good.
    pub(crate) roles: BTreeMap<PartnerRoleId, Option<Timestamp>>,
    /// Failed sign-ins in a row (a success or a lock starts the count afresh).
    pub(crate) sign_in_failures: u32,
    pub(crate) changed_at: Revision,
}

/// A partner role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PartnerRoleState {
    pub(crate) details: PartnerRoleDetails,
    /// The built-in Administrator role: everything, never edited or deleted.
    pub(crate) built_in: bool,
    pub(crate) changed_at: Revision,
}

impl PartnerRoleState {
    fn administrator(at: Revision) -> Self {
        Self {
            details: PartnerRoleDetails {
                name: "Administrator".into(),
                description: "Everything on the platform and in every customer's tenants".into(),
                platform_permissions: PermissionSet::all(),
                module_permissions: PermissionSet::all(),
                access: CustomerAccess::ServiceAdministrator,
                scope: CustomerScope::AllCustomers,
            },
            built_in: true,
            changed_at: at,
        }
    }

    /// How this role reaches `customer`, if its scope covers it.
    pub(crate) fn reaches<'a>(&'a self, customer: &'a CustomerState) -> Option<Reach<'a>> {
        match &self.details.scope {
            CustomerScope::AllCustomers => Some(Reach::AllCustomers),
            CustomerScope::Groups(groups) => {
                // Both sorted and short: walk the smaller.
                let found = if groups.len() <= customer.groups.len() {
                    groups.iter().find(|g| customer.groups.contains(*g))
                } else {
                    customer.groups.iter().find(|g| groups.contains(*g))
                };
                found.map(Reach::Group)
            }
        }
    }
}

/// How a partner role's scope covers a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach<'a> {
    /// The role reaches every customer.
    AllCustomers,
    /// Through this customer group, which the customer is in.
    Group(&'a CustomerGroupId),
}

impl Reach<'_> {
    /// The group it reaches through, if any.
    pub(crate) fn group(self) -> Option<CustomerGroupId> {
        match self {
            Self::AllCustomers => None,
            Self::Group(group) => Some(group.clone()),
        }
    }
}

/// A group of customers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CustomerGroupState {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) rule: GroupRule,
    pub(crate) changed_at: Revision,
}

/// A customer: owns tenants, belongs to a partner (or stands alone when created before
/// partners had users).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CustomerState {
    pub(crate) name: String,
    pub(crate) partner: Option<super::ids::PartnerId>,
    /// Contact e-mail (fields from here on were added in codec version 5).
    #[serde(deserialize_with = "super::stored::added_in_v5")]
    pub(crate) email: String,
    #[serde(deserialize_with = "super::stored::added_in_v5")]
    pub(crate) tags: BTreeSet<String>,
    #[serde(deserialize_with = "super::stored::added_in_v5")]
    pub(crate) data_centre: String,
    /// The services it subscribes to.
    #[serde(deserialize_with = "super::stored::added_in_v5")]
    pub(crate) services: BTreeSet<ServiceId>,
    /// The partner's customer groups it is in (static and dynamic alike).
    #[serde(deserialize_with = "super::stored::added_in_v5")]
    pub(crate) groups: BTreeSet<CustomerGroupId>,
    /// Its tenants (the reverse of each tenant's `customer`).
    #[serde(deserialize_with = "super::stored::added_in_v5")]
    pub(crate) tenants: BTreeSet<TenantId>,
    #[serde(deserialize_with = "super::stored::added_in_v5")]
    pub(crate) changed_at: Revision,
}

impl CustomerState {
    pub(crate) fn details(&self) -> CustomerDetails {
        CustomerDetails {
            name: self.name.clone(),
            email: self.email.clone(),
            tags: self.tags.clone(),
            data_centre: self.data_centre.clone(),
            services: self.services.clone(),
        }
    }
}

impl super::model::Snapshot {
    /// The tenants of `customers` (those that exist).
    pub(crate) fn tenants_of_customers<'a>(
        &self,
        customers: impl IntoIterator<Item = &'a CustomerId>,
    ) -> BTreeSet<TenantId> {
        customers
            .into_iter()
            .filter_map(|c| self.customers.get(c))
            .flat_map(|c| c.tenants.iter().cloned())
            .collect()
    }

    /// Rebuilds the indexes codec version 4 and older did not keep: each customer's
    /// tenants and each partner's customers.
    pub(crate) fn index_customers(&mut self) {
        let links: Vec<(CustomerId, TenantId)> = self
            .tenants
            .iter()
            .filter_map(|(id, tenant)| tenant.customer.clone().map(|c| (c, id.clone())))
            .collect();
        for (customer, tenant) in links {
            if let Some(state) = self.customers.get_mut(&customer) {
                state.tenants.insert(tenant);
            }
        }
        let owned: Vec<(super::ids::PartnerId, CustomerId)> = self
            .customers
            .iter()
            .filter_map(|(id, c)| c.partner.clone().map(|p| (p, id.clone())))
            .collect();
        let partners = Arc::make_mut(&mut self.partners);
        for (partner, customer) in owned {
            if let Some(state) = partners.get_mut(&partner) {
                Arc::make_mut(&mut Arc::make_mut(state).customers).insert(customer);
            }
        }
    }
}

/// The permissions of the partner platform itself, as one catalog: what partner users may
/// do in the partner portal besides reaching customers' tenants.
pub const PLATFORM_PERMISSIONS: &[&str] = &[
    "customers.view",
    "customers.edit",
    "customers.manage_subscriptions",
    "customers.onboard",
    "nitro.manage",
    "reports.customer_operations",
    "reports.subscription_usage",
    "reports.storage_consumption",
    "reports.subscription_expiration",
    "integrations.manage",
    "settings.feedback",
    "settings.email_notifications",
    "settings.invite_support",
];

/// The tenant-level modules a role's module permissions name, each with a view and a
/// manage operation (`user_management.view`, `workflows.manage`, …).
pub const TENANT_MODULES: &[&str] = &[
    "marketplace",
    "user_management",
    "workspace_management",
    "azure_security_management",
    "risk_management",
    "device_management",
    "change_management_communication",
    "baseline_management",
    "workflows",
    "tenant_settings",
    "functional_roles",
    "security",
];

/// The operations of each tenant module.
pub const MODULE_OPERATIONS: &[&str] = &["view", "manage"];

fn catalog_of(permissions: impl Iterator<Item = String>) -> Catalog {
    let permissions: Vec<Permission> = permissions
        .filter_map(|text| Permission::parse(&text).ok())
        .collect();
    // INVARIANT: the built-in lists are valid permissions, well under the catalog's limit
    // (a unit test checks both).
    Catalog::new(&permissions).unwrap_or_default()
}

/// The catalog of [`PLATFORM_PERMISSIONS`].
pub fn platform_catalog() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| catalog_of(PLATFORM_PERMISSIONS.iter().map(|p| (*p).to_owned())))
}

/// The catalog of the tenant modules' permissions.
pub fn module_catalog() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| {
        catalog_of(TENANT_MODULES.iter().flat_map(|module| {
            MODULE_OPERATIONS
                .iter()
                .map(move |operation| format!("{module}.{operation}"))
        }))
    })
}

/// Checks a partner-level resource's display name: text rules, not blank, and unique among
/// `others` (each id with its name) ignoring case; `own` is the resource's own id.
pub(crate) fn check_unique_name<'a, Id: PartialEq + std::fmt::Display + 'a>(
    what: &'static str,
    name: &str,
    own: &Id,
    others: impl IntoIterator<Item = (&'a Id, &'a str)>,
) -> Result<(), super::error::MutationError> {
    super::apply::check_text("name", name)?;
    if name.trim().is_empty() {
        return Err(super::error::MutationError::Invalid {
            field: "name",
            rule: "must not be empty".into(),
        });
    }
    let lower = name.to_lowercase();
    match others
        .into_iter()
        .find(|(id, other)| *id != own && other.to_lowercase() == lower)
    {
        Some((existing, _)) => Err(super::error::MutationError::NameTaken {
            what,
            name: name.to_owned(),
            existing: existing.to_string(),
        }),
        None => Ok(()),
    }
}
