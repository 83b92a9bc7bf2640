//! Customer roles (`PartnerService`): a partner's tenant-module permissions with a tenant
//! scope, synced as copies into the tenants in scope. Every change is one
//! `Mutation::Partner`.

use tonic::Status;

use super::{
    IdSource, chosen_id, if_masked, mask_paths,
    partner::{partner_change, resource},
    partner_access::role_permissions,
};
use crate::{
    api::{
        bounds,
        convert::{self, id},
        pb,
        status::{invalid_field, required},
    },
    engine::{
        CustomerGroupId, CustomerId, CustomerRoleId, Mutation, PartnerId, PermissionSet, TenantId,
        partner::{CustomerRoleDetails, CustomerRoleRecord, PartnerChange, TenantScope},
    },
};

const CUSTOMER_ROLE_MASK: &[&str] = &["name", "description", "permissions", "scope", "sync"];

/// A change to one customer role (for a creation: the id chosen for it).
#[derive(Debug)]
pub(crate) struct CustomerRoleChange {
    pub(crate) partner: PartnerId,
    pub(crate) role: CustomerRoleId,
    pub(crate) mutation: Mutation,
}

/// A role's scope: `all_tenants`, or exactly one list.
fn tenant_scope(message: Option<&pb::TenantScope>) -> Result<TenantScope, Status> {
    let field = "customer_role.scope";
    let message = message.ok_or_else(|| required(field))?;
    let lists = [
        !message.tenants.is_empty(),
        !message.customers.is_empty(),
        !message.customer_groups.is_empty(),
    ];
    let named = usize::from(message.all_tenants) + lists.iter().filter(|set| **set).count();
    if named != 1 {
        return Err(invalid_field(
            field,
            "set exactly one of `all_tenants`, `tenants`, `customers`, `customer_groups`",
        ));
    }
    Ok(if message.all_tenants {
        TenantScope::AllTenants
    } else if !message.tenants.is_empty() {
        TenantScope::Tenants(convert::ids(
            &format!("{field}.tenants"),
            &message.tenants,
            TenantId::parse,
        )?)
    } else if !message.customers.is_empty() {
        TenantScope::Customers(convert::ids(
            &format!("{field}.customers"),
            &message.customers,
            CustomerId::parse,
        )?)
    } else {
        TenantScope::CustomerGroups(convert::ids(
            &format!("{field}.customer_groups"),
            &message.customer_groups,
            CustomerGroupId::parse,
        )?)
    })
}

fn permissions(message: &pb::CustomerRole) -> Result<PermissionSet, Status> {
    role_permissions("customer_role.permissions", &message.permissions)
}

pub(crate) fn create_customer_role(
    request: &pb::CreateCustomerRoleRequest,
    ids: &dyn IdSource,
) -> Result<CustomerRoleChange, Status> {
    let message = resource("customer_role", request.customer_role.as_ref())?;
    let partner = id("customer_role.partner", &message.partner, PartnerId::parse)?;
    let role = chosen_id(
        ids,
        "customer_role.id",
        &message.id,
        "customer-role",
        CustomerRoleId::parse,
    )?;
    let details = CustomerRoleDetails {
        name: bounds::required_text("customer_role.name", &message.name)?.to_owned(),
        description: bounds::text("customer_role.description", &message.description)?.to_owned(),
        permissions: permissions(message)?,
        scope: tenant_scope(message.scope.as_ref())?,
        sync: message.sync,
    };
    let mutation = partner_change(PartnerChange::PutCustomerRole {
        partner: partner.clone(),
        role: role.clone(),
        details,
    });
    Ok(CustomerRoleChange {
        partner,
        role,
        mutation,
    })
}

/// An update of a customer role: the fields the mask names (`Some`) are set, merged into
/// the role as it is when the writer applies it.
#[derive(Debug)]
pub(crate) struct CustomerRoleUpdate {
    pub(crate) partner: PartnerId,
    pub(crate) role: CustomerRoleId,
    name: Option<String>,
    description: Option<String>,
    permissions: Option<PermissionSet>,
    scope: Option<TenantScope>,
    sync: Option<bool>,
}

pub(crate) fn update_customer_role(
    request: &pb::UpdateCustomerRoleRequest,
) -> Result<CustomerRoleUpdate, Status> {
    let message = resource("customer_role", request.customer_role.as_ref())?;
    let partner = id("customer_role.partner", &message.partner, PartnerId::parse)?;
    let role = id("customer_role.id", &message.id, CustomerRoleId::parse)?;
    let paths = mask_paths(
        bounds::mask(request.update_mask.as_ref())?,
        CUSTOMER_ROLE_MASK,
    )?;
    Ok(CustomerRoleUpdate {
        partner,
        role,
        name: if_masked(&paths, "name", || {
            bounds::required_text("customer_role.name", &message.name).map(str::to_owned)
        })
        .transpose()?,
        description: if_masked(&paths, "description", || {
            bounds::text("customer_role.description", &message.description).map(str::to_owned)
        })
        .transpose()?,
        permissions: if_masked(&paths, "permissions", || permissions(message)).transpose()?,
        scope: if_masked(&paths, "scope", || tenant_scope(message.scope.as_ref())).transpose()?,
        sync: if_masked(&paths, "sync", || message.sync),
    })
}

impl CustomerRoleUpdate {
    /// The role as it is, with the masked fields set.
    pub(crate) fn merge(&self, current: CustomerRoleRecord) -> Mutation {
        let current = current.details;
        partner_change(PartnerChange::PutCustomerRole {
            partner: self.partner.clone(),
            role: self.role.clone(),
            details: CustomerRoleDetails {
                name: self.name.clone().unwrap_or(current.name),
                description: self.description.clone().unwrap_or(current.description),
                permissions: self.permissions.clone().unwrap_or(current.permissions),
                scope: self.scope.clone().unwrap_or(current.scope),
                sync: self.sync.unwrap_or(current.sync),
            },
        })
    }
}

/// Deletes the customer role a [`pb::CustomerRoleRefRequest`] names.
pub(crate) fn delete_customer_role(
    request: &pb::CustomerRoleRefRequest,
) -> Result<CustomerRoleChange, Status> {
    let partner = id("partner", &request.partner, PartnerId::parse)?;
    let role = id(
        "customer_role",
        &request.customer_role,
        CustomerRoleId::parse,
    )?;
    let mutation = partner_change(PartnerChange::DeleteCustomerRole {
        partner: partner.clone(),
        role: role.clone(),
    });
    Ok(CustomerRoleChange {
        partner,
        role,
        mutation,
    })
}

/// Turns a customer role's sync on or off for one tenant.
pub(crate) fn set_customer_role_tenant_sync(
    request: &pb::SetCustomerRoleTenantSyncRequest,
) -> Result<CustomerRoleChange, Status> {
    let partner = id("partner", &request.partner, PartnerId::parse)?;
    let role = id(
        "customer_role",
        &request.customer_role,
        CustomerRoleId::parse,
    )?;
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let mutation = partner_change(PartnerChange::SetCustomerRoleTenantSync {
        partner: partner.clone(),
        role: role.clone(),
        tenant,
        enabled: request.enabled,
    });
    Ok(CustomerRoleChange {
        partner,
        role,
        mutation,
    })
}
