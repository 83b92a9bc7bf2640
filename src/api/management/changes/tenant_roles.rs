//! Tenant roles (`TenantRoleService`): a tenant's own named sets of tenant-module
//! permissions, and the members of its roles, synced copies included. Every change is one
//! `Mutation::TenantRole`.

use tonic::Status;

use super::{
    IdSource, chosen_id, if_masked, mask_paths, partner::resource, partner_access::role_permissions,
};
use crate::{
    api::{bounds, convert::id, pb},
    engine::{
        Mutation, PermissionSet, TenantId, TenantRoleId, UserId,
        tenant_roles::{TenantRoleChange, TenantRoleRecord},
    },
};

const TENANT_ROLE_MASK: &[&str] = &["name", "description", "permissions"];

/// A change to one tenant role (for a creation: the id chosen for it).
#[derive(Debug)]
pub(crate) struct TenantRoleEdit {
    pub(crate) tenant: TenantId,
    pub(crate) role: TenantRoleId,
    pub(crate) mutation: Mutation,
}

fn permissions(message: &pb::TenantModuleRole) -> Result<PermissionSet, Status> {
    role_permissions("tenant_role.permissions", &message.permissions)
}

pub(crate) fn create_tenant_role(
    request: &pb::CreateTenantRoleRequest,
    ids: &dyn IdSource,
) -> Result<TenantRoleEdit, Status> {
    let message = resource("tenant_role", request.tenant_role.as_ref())?;
    let tenant = id("tenant_role.tenant", &message.tenant, TenantId::parse)?;
    let role = chosen_id(
        ids,
        "tenant_role.id",
        &message.id,
        "tenant-role",
        TenantRoleId::parse,
    )?;
    let mutation = Mutation::TenantRole(TenantRoleChange::Put {
        tenant: tenant.clone(),
        role: role.clone(),
        name: bounds::required_text("tenant_role.name", &message.name)?.to_owned(),
        description: bounds::text("tenant_role.description", &message.description)?.to_owned(),
        permissions: permissions(message)?,
    });
    Ok(TenantRoleEdit {
        tenant,
        role,
        mutation,
    })
}

/// An update of a tenant role: the fields the mask names (`Some`) are set, merged into
/// the role as it is when the writer applies it.
#[derive(Debug)]
pub(crate) struct TenantRoleUpdate {
    pub(crate) tenant: TenantId,
    pub(crate) role: TenantRoleId,
    name: Option<String>,
    description: Option<String>,
    permissions: Option<PermissionSet>,
}

pub(crate) fn update_tenant_role(
    request: &pb::UpdateTenantRoleRequest,
) -> Result<TenantRoleUpdate, Status> {
    let message = resource("tenant_role", request.tenant_role.as_ref())?;
    let tenant = id("tenant_role.tenant", &message.tenant, TenantId::parse)?;
    let role = id("tenant_role.id", &message.id, TenantRoleId::parse)?;
    let paths = mask_paths(
        bounds::mask(request.update_mask.as_ref())?,
        TENANT_ROLE_MASK,
    )?;
    Ok(TenantRoleUpdate {
        tenant,
        role,
        name: if_masked(&paths, "name", || {
            bounds::required_text("tenant_role.name", &message.name).map(str::to_owned)
        })
        .transpose()?,
        description: if_masked(&paths, "description", || {
            bounds::text("tenant_role.description", &message.description).map(str::to_owned)
        })
        .transpose()?,
        permissions: if_masked(&paths, "permissions", || permissions(message)).transpose()?,
    })
}

impl TenantRoleUpdate {
    /// The role as it is, with the masked fields set (a synced copy is refused by the
    /// engine, whatever the fields).
    pub(crate) fn merge(&self, current: TenantRoleRecord) -> Mutation {
        Mutation::TenantRole(TenantRoleChange::Put {
            tenant: self.tenant.clone(),
            role: self.role.clone(),
            name: self.name.clone().unwrap_or(current.name),
            description: self.description.clone().unwrap_or(current.description),
            permissions: self.permissions.clone().unwrap_or(current.permissions),
        })
    }
}

/// The role a [`pb::TenantRoleRefRequest`] names, and `change` made for it (a deletion or
/// a detachment).
pub(crate) fn tenant_role_ref(
    request: &pb::TenantRoleRefRequest,
    change: impl FnOnce(TenantId, TenantRoleId) -> TenantRoleChange,
) -> Result<TenantRoleEdit, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let role = id("tenant_role", &request.tenant_role, TenantRoleId::parse)?;
    let mutation = Mutation::TenantRole(change(tenant.clone(), role.clone()));
    Ok(TenantRoleEdit {
        tenant,
        role,
        mutation,
    })
}

/// Gives a tenant role to a user, or (`add` false) takes it away.
pub(crate) fn tenant_role_member(
    request: &pb::TenantRoleMemberRequest,
    add: bool,
) -> Result<TenantRoleEdit, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let role = id("tenant_role", &request.tenant_role, TenantRoleId::parse)?;
    let user = id("user", &request.user, UserId::parse)?;
    let (t, r) = (tenant.clone(), role.clone());
    let change = if add {
        TenantRoleChange::AddMember {
            tenant: t,
            role: r,
            user,
        }
    } else {
        TenantRoleChange::RemoveMember {
            tenant: t,
            role: r,
            user,
        }
    };
    Ok(TenantRoleEdit {
        tenant,
        role,
        mutation: Mutation::TenantRole(change),
    })
}
