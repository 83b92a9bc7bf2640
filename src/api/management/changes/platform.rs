//! Tenants and services (`PlatformService`).

use tonic::Status;

use super::{IdSource, chosen_id, mask_paths};
use crate::{
    api::{
        bounds,
        convert::{id, optional_id},
        management::records,
        pb,
        status::{self, required},
    },
    engine::{CustomerId, Mutation, NewUser, ServiceId, Snapshot, TenantId, UserId},
};

const SERVICE_MASK: &[&str] = &["display_name", "permissions", "object_types", "demotion"];

/// A change to a tenant (for a creation: the id chosen for it).
#[derive(Debug)]
pub(crate) struct TenantChange {
    pub(crate) tenant: TenantId,
    pub(crate) mutation: Mutation,
}

/// A change to a service's definition.
#[derive(Debug)]
pub(crate) struct ServiceChange {
    pub(crate) service: ServiceId,
    pub(crate) mutation: Mutation,
}

pub(crate) fn create_tenant(
    request: &pb::CreateTenantRequest,
    ids: &dyn IdSource,
) -> Result<TenantChange, Status> {
    let tenant = chosen_id(ids, "id", &request.id, "tenant", TenantId::parse)?;
    bounds::required_text("name", &request.name)?;
    bounds::required_text("owner_email", &request.owner_email)?;
    bounds::required_text("owner_display_name", &request.owner_display_name)?;
    let mutation = Mutation::CreateTenant {
        tenant: tenant.clone(),
        name: request.name.clone(),
        customer: optional_id("customer", &request.customer, CustomerId::parse)?,
        owner: NewUser {
            user: chosen_id(ids, "owner_id", &request.owner_id, "user", UserId::parse)?,
            email: request.owner_email.clone(),
            display_name: request.owner_display_name.clone(),
            kind: records::user_kind(request.owner_kind, "owner_kind")?,
        },
    };
    Ok(TenantChange { tenant, mutation })
}

pub(crate) fn register_service(
    request: &pb::RegisterServiceRequest,
) -> Result<ServiceChange, Status> {
    let (message, service) = service_message(request.service.as_ref())?;
    let definition = records::service_definition(message, "service")?;
    let mutation = Mutation::RegisterService {
        service: service.clone(),
        definition,
    };
    Ok(ServiceChange { service, mutation })
}

/// The whole new definition: what the mask leaves out comes from the service as it is in
/// `current` (the writer replaces definitions whole).
pub(crate) fn update_service(
    request: &pb::UpdateServiceRequest,
    current: &Snapshot,
) -> Result<ServiceChange, Status> {
    let (message, service) = service_message(request.service.as_ref())?;
    let paths = mask_paths(bounds::mask(request.update_mask.as_ref())?, SERVICE_MASK)?;
    let record = current
        .service_record(&service)
        .map_err(|err| status::not_found(&err))?;
    // Fill what the mask leaves out from the current definition, then validate the whole.
    let mut merged = records::service(&record);
    for path in paths {
        match path {
            "display_name" => merged.display_name.clone_from(&message.display_name),
            "permissions" => merged.permissions.clone_from(&message.permissions),
            "object_types" => merged.object_types.clone_from(&message.object_types),
            _ => merged.demotion = message.demotion,
        }
    }
    let definition = records::service_definition(&merged, "service")?;
    let mutation = Mutation::UpdateService {
        service: service.clone(),
        definition,
    };
    Ok(ServiceChange { service, mutation })
}

/// A request's required `service` message and the id it names.
fn service_message(
    message: Option<&pb::ServiceDefinition>,
) -> Result<(&pb::ServiceDefinition, ServiceId), Status> {
    let message = message.ok_or_else(|| required("service"))?;
    Ok((message, id("service.id", &message.id, ServiceId::parse)?))
}

pub(crate) fn subscribe_service(
    request: &pb::SubscribeServiceRequest,
) -> Result<TenantChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let service = id("service", &request.service, ServiceId::parse)?;
    let mutation = Mutation::SubscribeService {
        tenant: tenant.clone(),
        service,
    };
    Ok(TenantChange { tenant, mutation })
}
