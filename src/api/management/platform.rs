//! `PlatformService` (tenants, services, subscriptions, ownership recovery: the platform's
//! own calls) and `TenantService` (reading them as an actor).

use tonic::{Request, Response, Status};

use super::{ManagementApi, chosen_id, etag_matches, list_page, mask_paths, pb, records, reply};
use crate::{
    api::{
        bounds,
        convert::id,
        convert::optional_id,
        status::{self, required},
    },
    engine::{CustomerId, Mutation, NewUser, ServiceId, TenantId, UserId},
};

const SERVICE_MASK: &[&str] = &["display_name", "permissions", "object_types", "demotion"];

#[tonic::async_trait]
impl pb::platform_service_server::PlatformService for ManagementApi {
    async fn create_tenant(
        &self,
        request: Request<pb::CreateTenantRequest>,
    ) -> Result<Response<pb::TenantResponse>, Status> {
        self.serve(request, |caller, request| async move {
            let tenant = chosen_id(self, "id", &request.id, "tenant", TenantId::parse)?;
            bounds::required_text("name", &request.name)?;
            bounds::required_text("owner_email", &request.owner_email)?;
            bounds::required_text("owner_display_name", &request.owner_display_name)?;
            let mutation = Mutation::CreateTenant {
                tenant,
                name: request.name.clone(),
                customer: optional_id("customer", &request.customer, CustomerId::parse)?,
                owner: NewUser {
                    user: chosen_id(self, "owner_id", &request.owner_id, "user", UserId::parse)?,
                    email: request.owner_email.clone(),
                    display_name: request.owner_display_name.clone(),
                    kind: records::user_kind(request.owner_kind, "owner_kind")?,
                },
            };
            let written = self
                .write(&caller, None, mutation.clone(), &request.request_id, None)
                .await?;
            let Mutation::CreateTenant { tenant, .. } = written.mutation(&mutation) else {
                return Err(status::internal("retried change is not a tenant creation"));
            };
            let tenant = self.after_write(|s| s.tenant_record(tenant))?;
            reply(pb::TenantResponse {
                tenant: Some(records::tenant(&tenant)),
                revision: written.revision.get(),
            })
        })
        .await
    }

    async fn register_service(
        &self,
        request: Request<pb::RegisterServiceRequest>,
    ) -> Result<Response<pb::ServiceDefinitionResponse>, Status> {
        self.serve(request, |caller, request| async move {
            let message = request
                .service
                .as_ref()
                .ok_or_else(|| required("service"))?;
            let service = id("service.id", &message.id, ServiceId::parse)?;
            let definition = records::service_definition(message, "service")?;
            let mutation = Mutation::RegisterService {
                service: service.clone(),
                definition,
            };
            let written = self
                .write(&caller, None, mutation, &request.request_id, None)
                .await?;
            let record = self.after_write(|s| s.service_record(&service))?;
            reply(pb::ServiceDefinitionResponse {
                service: Some(records::service(&record)),
                revision: written.revision.get(),
            })
        })
        .await
    }

    async fn update_service(
        &self,
        request: Request<pb::UpdateServiceRequest>,
    ) -> Result<Response<pb::ServiceDefinitionResponse>, Status> {
        self.serve(request, |caller, request| async move {
            let message = request
                .service
                .as_ref()
                .ok_or_else(|| required("service"))?;
            let service = id("service.id", &message.id, ServiceId::parse)?;
            let paths = mask_paths(bounds::mask(request.update_mask.as_ref())?, SERVICE_MASK)?;
            let current = self
                .app
                .snapshot()
                .service_record(&service)
                .map_err(|err| status::not_found(&err))?;
            // Fill what the mask leaves out from the current definition, then validate the
            // whole.
            let mut merged = records::service(&current);
            for path in paths {
                match path {
                    "display_name" => merged.display_name.clone_from(&message.display_name),
                    "permissions" => merged.permissions.clone_from(&message.permissions),
                    "object_types" => merged.object_types.clone_from(&message.object_types),
                    _ => merged.demotion = message.demotion,
                }
            }
            let definition = records::service_definition(&merged, "service")?;
            let for_etag = service.clone();
            let precondition = etag_matches(&request.etag, move |s| {
                s.service_record(&for_etag)
                    .ok()
                    .map(|r| records::service(&r).etag)
            })?;
            let mutation = Mutation::UpdateService {
                service: service.clone(),
                definition,
            };
            let written = self
                .write(&caller, None, mutation, "", precondition)
                .await?;
            let record = self.after_write(|s| s.service_record(&service))?;
            reply(pb::ServiceDefinitionResponse {
                service: Some(records::service(&record)),
                revision: written.revision.get(),
            })
        })
        .await
    }

    async fn subscribe_service(
        &self,
        request: Request<pb::SubscribeServiceRequest>,
    ) -> Result<Response<pb::TenantResponse>, Status> {
        self.serve(request, |caller, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let service = id("service", &request.service, ServiceId::parse)?;
            let mutation = Mutation::SubscribeService {
                tenant: tenant.clone(),
                service,
            };
            let written = self.write(&caller, None, mutation, "", None).await?;
            let record = self.after_write(|s| s.tenant_record(&tenant))?;
            reply(pb::TenantResponse {
                tenant: Some(records::tenant(&record)),
                revision: written.revision.get(),
            })
        })
        .await
    }

    async fn recover_ownership(
        &self,
        request: Request<pb::RecoverOwnershipRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve(request, |caller, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let user = id("user", &request.user, UserId::parse)?;
            let mutation = Mutation::TransferOwnership {
                tenant: tenant.clone(),
                new_owner: user.clone(),
            };
            let written = self.write(&caller, None, mutation, "", None).await?;
            let record = self.after_write(|s| s.user_record(&tenant, &user))?;
            reply(pb::UserResponse {
                user: Some(records::user(tenant.as_str(), &record)),
                revision: written.revision.get(),
            })
        })
        .await
    }
}

#[tonic::async_trait]
impl pb::tenant_service_server::TenantService for ManagementApi {
    async fn get_tenant(
        &self,
        request: Request<pb::GetTenantRequest>,
    ) -> Result<Response<pb::TenantResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let snapshot = self.read_as(&tenant, &actor)?;
            let record = snapshot
                .tenant_record(&tenant)
                .map_err(|err| status::not_found(&err))?;
            reply(pb::TenantResponse {
                tenant: Some(records::tenant(&record)),
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn list_services(
        &self,
        request: Request<pb::ListServicesRequest>,
    ) -> Result<Response<pb::ListServicesResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let snapshot = self.read_as(&tenant, &actor)?;
            let (page, next_page_token) = list_page(
                snapshot.service_records(),
                request.page_size,
                &request.page_token,
                bounds::filter("filter", &request.filter)?,
                |r| r.id.to_string(),
                |r| vec![r.id.as_str(), r.definition.display_name.as_str()],
            )?;
            reply(pb::ListServicesResponse {
                services: page.iter().map(records::service).collect(),
                next_page_token,
                revision: snapshot.revision().get(),
            })
        })
        .await
    }
}
