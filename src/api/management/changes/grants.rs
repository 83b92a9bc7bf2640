//! Grants (`GrantService`).

use tonic::Status;

use super::{IdSource, chosen_id};
use crate::{
    api::{
        convert::id,
        management::records,
        pb,
        status::{invalid_field, required},
    },
    engine::{
        Access, Dependencies, GrantId, GrantNode, Mutation, PermissionLevelId, ServiceId, TenantId,
        Timestamp,
    },
};

/// A change to one grant (for a new one: the id chosen for it).
#[derive(Debug)]
pub(crate) struct GrantChange {
    pub(crate) tenant: TenantId,
    pub(crate) service: ServiceId,
    pub(crate) grant: GrantId,
    pub(crate) mutation: Mutation,
}

/// A new grant; its expiry must lie after `now`.
pub(crate) fn give_grant(
    request: &pb::GiveGrantRequest,
    ids: &dyn IdSource,
    now: Timestamp,
) -> Result<GrantChange, Status> {
    let message = request.grant.as_ref().ok_or_else(|| required("grant"))?;
    let tenant = id("grant.tenant", &message.tenant, TenantId::parse)?;
    let service = id("grant.service", &message.service, ServiceId::parse)?;
    let access = match (message.level.is_empty(), message.permissions.is_empty()) {
        (false, true) => {
            Access::Level(id("grant.level", &message.level, PermissionLevelId::parse)?)
        }
        (true, false) => Access::Permissions(records::permission_set(
            "grant.permissions",
            &message.permissions,
        )?),
        (false, false) => {
            return Err(invalid_field(
                "grant",
                "give either `level` or `permissions`, not both",
            ));
        }
        (true, true) => {
            return Err(invalid_field(
                "grant",
                "give a permission level (`level`) or a permission set (`permissions`)",
            ));
        }
    };
    let node = match records::optional_object("grant.object", &message.object)? {
        Some(object) => GrantNode::Object(object),
        None => GrantNode::Service,
    };
    let grant = chosen_id(ids, "grant.id", &message.id, "grant", GrantId::parse)?;
    let mutation = Mutation::GiveGrant {
        tenant: tenant.clone(),
        service: service.clone(),
        grant: grant.clone(),
        subject: records::subject("grant.subject", message.subject.as_ref())?,
        access,
        node,
        expires_at: records::expiry("grant.expires_at", message.expires_at.as_ref(), now)?,
        dependencies: if request.with_dependencies {
            Dependencies::Cascade
        } else {
            Dependencies::Enforced
        },
    };
    Ok(GrantChange {
        tenant,
        service,
        grant,
        mutation,
    })
}

pub(crate) fn revoke_grant(request: &pb::RevokeGrantRequest) -> Result<GrantChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let service = id("service", &request.service, ServiceId::parse)?;
    let grant = id("grant", &request.grant, GrantId::parse)?;
    let mutation = Mutation::RevokeGrant {
        tenant: tenant.clone(),
        service: service.clone(),
        grant: grant.clone(),
        with_dependents: request.with_dependents,
    };
    Ok(GrantChange {
        tenant,
        service,
        grant,
        mutation,
    })
}
