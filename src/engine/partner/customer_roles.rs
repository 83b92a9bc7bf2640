//! Customer roles: a partner's tenant-module permission sets with a tenant scope, synced
//! as copies into every tenant in scope.
//!
//! The copies are derived state kept by [`Snapshot::sync_customer_roles`]: after every
//! change that can move a tenant into or out of a role's scope (the role itself, its sync
//! switches, a customer's groups, a tenant's customer), the copies of the tenants it
//! concerns are made to equal the role, created, or removed. A copy's members stay
//! through edits and go with the copy. A tenant whose sync is disabled, or whose copy was
//! detached, gets none; a tenant holding its own role with the role's id keeps it and gets
//! none either (the role's view names it as a conflict).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{
    super::{
        apply::check_text,
        error::MutationError,
        ids::{
            CustomerGroupId, CustomerId, CustomerRoleId, PartnerId, Revision, TenantId,
            TenantRoleId,
        },
        model::Snapshot,
        permission::PermissionSet,
        tenant_roles::{SyncedFrom, TenantRoleState, module_bits},
    },
    PartnerState,
};

/// Which tenants a customer role applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TenantScope {
    /// Every tenant of every customer of the partner, now and later.
    AllTenants,
    /// These tenants (each of a customer of the partner).
    Tenants(BTreeSet<TenantId>),
    /// Every tenant of these customers.
    Customers(BTreeSet<CustomerId>),
    /// Every tenant of the customers in any of these groups, as membership changes.
    CustomerGroups(BTreeSet<CustomerGroupId>),
}

/// What a customer role is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRoleDetails {
    /// Display name, unique in the partner (ignoring case).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Tenant-module permissions (from [`super::TENANT_MODULES`]).
    pub permissions: PermissionSet,
    /// Which tenants.
    pub scope: TenantScope,
    /// Whether copies exist in the tenants in scope.
    pub sync: bool,
}

/// A customer role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CustomerRoleState {
    pub(crate) details: CustomerRoleDetails,
    /// Tenants in scope that get no copy by choice (re-enabling makes the copy anew).
    pub(crate) sync_disabled: BTreeSet<TenantId>,
    /// Tenants whose copy was detached into a role of their own.
    pub(crate) detached: BTreeSet<TenantId>,
    /// Tenants holding a synced copy (derived: what the sync made).
    pub(crate) synced_to: BTreeSet<TenantId>,
    pub(crate) changed_at: Revision,
}

impl Snapshot {
    /// Creates or replaces a customer role; its copies follow at once.
    pub(crate) fn put_customer_role(
        &mut self,
        partner: &PartnerId,
        role: &CustomerRoleId,
        details: &CustomerRoleDetails,
    ) -> Result<(), MutationError> {
        let at = self.revision;
        let state = self.partner(partner)?;
        super::check_unique_name(
            "customer role",
            &details.name,
            role,
            state
                .customer_roles
                .iter()
                .map(|(id, r)| (id, r.details.name.as_str())),
        )?;
        check_text("description", &details.description)?;
        module_bits("permissions", &details.permissions)?;
        match &details.scope {
            TenantScope::AllTenants => {}
            TenantScope::Tenants(tenants) => {
                for tenant in tenants {
                    let of_partner = self
                        .tenant_place(tenant)
                        .is_some_and(|(_, p)| p.as_ref() == Some(partner));
                    if !of_partner {
                        return Err(MutationError::not_found("tenant of the partner", tenant));
                    }
                }
            }
            TenantScope::Customers(customers) => {
                for customer in customers {
                    self.customer_of(partner, customer)?;
                }
            }
            TenantScope::CustomerGroups(groups) => {
                if let Some(missing) = groups
                    .iter()
                    .find(|g| !state.customer_groups.contains_key(*g))
                {
                    return Err(MutationError::not_found("customer group", missing));
                }
            }
        }
        let previous = state.customer_roles.get(role);
        let next = CustomerRoleState {
            details: details.clone(),
            sync_disabled: previous
                .map(|r| r.sync_disabled.clone())
                .unwrap_or_default(),
            detached: previous.map(|r| r.detached.clone()).unwrap_or_default(),
            synced_to: previous.map(|r| r.synced_to.clone()).unwrap_or_default(),
            changed_at: at,
        };
        std::sync::Arc::make_mut(&mut self.partner_mut(partner)?.customer_roles)
            .insert(role.clone(), next);
        Ok(())
    }

    /// Deletes a customer role with its copies.
    pub(crate) fn delete_customer_role(
        &mut self,
        partner: &PartnerId,
        role: &CustomerRoleId,
    ) -> Result<(), MutationError> {
        let state = self.partner(partner)?;
        let mut found = state
            .customer_roles
            .get(role)
            .ok_or_else(|| MutationError::not_found("customer role", role))?
            .clone();
        // As if sync were off: the copies go; then the role.
        found.details.sync = false;
        let roles = std::sync::Arc::make_mut(&mut self.partner_mut(partner)?.customer_roles);
        roles.insert(role.clone(), found);
        self.sync_customer_roles(partner, Some(&BTreeSet::from([role.clone()])), None);
        std::sync::Arc::make_mut(&mut self.partner_mut(partner)?.customer_roles).remove(role);
        Ok(())
    }

    /// Turns sync on or off for one tenant of a role's scope.
    pub(crate) fn set_customer_role_tenant_sync(
        &mut self,
        partner: &PartnerId,
        role: &CustomerRoleId,
        tenant: &TenantId,
        enabled: bool,
    ) -> Result<(), MutationError> {
        let at = self.revision;
        let state = self.partner(partner)?;
        if !state.customer_roles.contains_key(role) {
            return Err(MutationError::not_found("customer role", role));
        }
        let of_partner = self
            .tenant_place(tenant)
            .is_some_and(|(_, p)| p.as_ref() == Some(partner));
        if !of_partner {
            return Err(MutationError::not_found("tenant of the partner", tenant));
        }
        let roles = std::sync::Arc::make_mut(&mut self.partner_mut(partner)?.customer_roles);
        if let Some(found) = roles.get_mut(role) {
            let changed = if enabled {
                found.sync_disabled.remove(tenant)
            } else {
                found.sync_disabled.insert(tenant.clone())
            };
            if changed {
                found.changed_at = at;
            }
        }
        Ok(())
    }

    /// Records that the copy of `from` in `tenant` was detached: the role makes no copy
    /// there any more.
    pub(crate) fn note_detached(&mut self, from: &SyncedFrom, tenant: &TenantId) {
        let at = self.revision;
        let Ok(partner) = self.partner_mut(&from.partner) else {
            return;
        };
        if let Some(role) =
            std::sync::Arc::make_mut(&mut partner.customer_roles).get_mut(&from.role)
        {
            role.synced_to.remove(tenant);
            role.detached.insert(tenant.clone());
            role.changed_at = at;
        }
    }

    /// Makes every copy of `partner`'s customer roles in `tenants` (all the partner's
    /// tenants when `None`) what the roles say, for the roles `only` names (all when
    /// `None`). The change context finds what moved by comparing the tenants.
    pub(crate) fn sync_customer_roles(
        &mut self,
        partner: &PartnerId,
        only: Option<&BTreeSet<CustomerRoleId>>,
        tenants: Option<&BTreeSet<TenantId>>,
    ) {
        let Some(state) = self.partners.get(partner).cloned() else {
            return;
        };
        for (role_id, role) in state.customer_roles.iter() {
            if only.is_some_and(|only| !only.contains(role_id)) {
                continue;
            }
            let desired = self.desired_copies(&state, role, tenants);
            let held: BTreeSet<TenantId> = role
                .synced_to
                .iter()
                .filter(|t| tenants.is_none_or(|only| only.contains(*t)))
                .cloned()
                .collect();
            let mut synced_to = role.synced_to.clone();
            for tenant in held.difference(&desired) {
                self.remove_copy(partner, role_id, tenant);
                synced_to.remove(tenant);
            }
            for tenant in &desired {
                if self.write_copy(partner, role_id, role, tenant) {
                    synced_to.insert(tenant.clone());
                }
            }
            let at = self.revision;
            if synced_to != role.synced_to
                && let Ok(partner) = self.partner_mut(partner)
                && let Some(kept) =
                    std::sync::Arc::make_mut(&mut partner.customer_roles).get_mut(role_id)
            {
                // Where its copies are is part of what the API shows of the role.
                kept.synced_to = synced_to;
                kept.changed_at = at;
            }
        }
    }

    /// The tenants (of `within`, or all) that should hold a copy of `role`.
    fn desired_copies(
        &self,
        partner: &PartnerState,
        role: &CustomerRoleState,
        within: Option<&BTreeSet<TenantId>>,
    ) -> BTreeSet<TenantId> {
        if !role.details.sync {
            return BTreeSet::new();
        }
        let in_scope: BTreeSet<TenantId> = match &role.details.scope {
            TenantScope::AllTenants => self.tenants_of_customers(partner.customers.iter()),
            TenantScope::Tenants(tenants) => tenants
                .iter()
                .filter(|t| {
                    self.tenant_place(t)
                        .and_then(|(customer, _)| customer)
                        .is_some_and(|c| partner.customers.contains(&c))
                })
                .cloned()
                .collect(),
            TenantScope::Customers(customers) => self
                .tenants_of_customers(customers.iter().filter(|c| partner.customers.contains(*c))),
            TenantScope::CustomerGroups(groups) => {
                self.tenants_of_customers(partner.customers.iter().filter(|c| {
                    self.customers
                        .get(*c)
                        .is_some_and(|c| c.groups.iter().any(|g| groups.contains(g)))
                }))
            }
        };
        in_scope
            .into_iter()
            .filter(|t| within.is_none_or(|w| w.contains(t)))
            .filter(|t| !role.sync_disabled.contains(t) && !role.detached.contains(t))
            .collect()
    }

    /// Makes the copy of `role` in `tenant` equal it. Whether the tenant holds the copy
    /// now: not when it holds its own role with that id.
    fn write_copy(
        &mut self,
        partner: &PartnerId,
        role_id: &CustomerRoleId,
        role: &CustomerRoleState,
        tenant: &TenantId,
    ) -> bool {
        let at = self.revision;
        let id = copy_id(role_id);
        let from = SyncedFrom {
            partner: partner.clone(),
            role: role_id.clone(),
        };
        let Ok(bits) = module_bits("permissions", &role.details.permissions) else {
            return false;
        };
        let Some(existing) = self.tenants.get(tenant).map(|t| t.roles.get(&id)) else {
            return false;
        };
        match existing {
            Some(copy) if copy.synced_from.as_ref() != Some(&from) => return false,
            Some(copy)
                if copy.name == role.details.name
                    && copy.description == role.details.description
                    && copy.permissions == role.details.permissions =>
            {
                return true;
            }
            _ => {}
        }
        let Ok(state) = self.tenant_mut(tenant) else {
            return false;
        };
        let members = state
            .roles
            .get(&id)
            .map(|copy| copy.members.clone())
            .unwrap_or_default();
        state.roles.insert(
            id,
            TenantRoleState {
                name: role.details.name.clone(),
                description: role.details.description.clone(),
                permissions: role.details.permissions.clone(),
                bits,
                synced_from: Some(from),
                members,
                changed_at: at,
            },
        );
        true
    }

    fn remove_copy(&mut self, partner: &PartnerId, role: &CustomerRoleId, tenant: &TenantId) {
        let id = copy_id(role);
        let is_copy = self
            .tenants
            .get(tenant)
            .and_then(|t| t.roles.get(&id))
            .is_some_and(|copy| {
                copy.synced_from
                    .as_ref()
                    .is_some_and(|from| from.partner == *partner && from.role == *role)
            });
        if is_copy && let Ok(state) = self.tenant_mut(tenant) {
            state.roles.remove(&id);
        }
    }
}

/// The id of a customer role's copy in a tenant: the same text.
pub(crate) fn copy_id(role: &CustomerRoleId) -> TenantRoleId {
    // INVARIANT: both id types accept the same texts.
    TenantRoleId::parse(role.as_str()).unwrap_or_else(|_| unreachable!())
}

/// A customer role, with where its copies are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRoleRecord {
    /// Id (its copies have the same id in their tenants).
    pub id: CustomerRoleId,
    /// What it is.
    pub details: CustomerRoleDetails,
    /// Tenants holding a synced copy.
    pub synced_to: Vec<TenantId>,
    /// Tenants in scope with sync turned off.
    pub sync_disabled: Vec<TenantId>,
    /// Tenants whose copy was detached into a role of their own.
    pub detached: Vec<TenantId>,
    /// Tenants in scope that hold their own role with this id, so no copy.
    pub conflicts: Vec<TenantId>,
    /// The revision of its last change.
    pub changed_at: Revision,
}

impl Snapshot {
    /// The partner's customer roles, by id.
    pub fn customer_roles(
        &self,
        partner: &PartnerId,
    ) -> Result<Vec<CustomerRoleRecord>, MutationError> {
        let state = self.partner(partner)?;
        Ok(state
            .customer_roles
            .keys()
            .filter_map(|id| self.customer_role_record(state, id))
            .collect())
    }

    /// One customer role.
    pub fn customer_role(
        &self,
        partner: &PartnerId,
        role: &CustomerRoleId,
    ) -> Result<CustomerRoleRecord, MutationError> {
        let state = self.partner(partner)?;
        self.customer_role_record(state, role)
            .ok_or_else(|| MutationError::not_found("customer role", role))
    }

    fn customer_role_record(
        &self,
        partner: &PartnerState,
        id: &CustomerRoleId,
    ) -> Option<CustomerRoleRecord> {
        let role = partner.customer_roles.get(id)?;
        let conflicts = self
            .desired_copies(partner, role, None)
            .into_iter()
            .filter(|t| !role.synced_to.contains(t))
            .collect();
        Some(CustomerRoleRecord {
            id: id.clone(),
            details: role.details.clone(),
            synced_to: role.synced_to.iter().cloned().collect(),
            sync_disabled: role.sync_disabled.iter().cloned().collect(),
            detached: role.detached.iter().cloned().collect(),
            conflicts,
            changed_at: role.changed_at,
        })
    }
}
