//! `PlatformService` (tenants, services, subscriptions, ownership recovery: the platform's
//! own calls) and `TenantService` (reading them as an actor).

use tonic::{Request, Response, Status};

use super::{ManagementApi, changes, etag_matches, list_page, pb, records, reply};
use crate::{
    api::{bounds, convert::id, status},
    engine::{Mutation, TenantId},
};

#[tonic::async_trait]
impl pb::platform_service_server::PlatformService for ManagementApi {
    async fn create_tenant(
        &self,
        request: Request<pb::CreateTenantRequest>,
    ) -> Result<Response<pb::TenantResponse>, Status> {
        self.serve(request, |caller, request| async move {
            let change = changes::create_tenant(&request, self)?;
            let written = self
                .write(
                    &caller,
                    None,
                    change.mutation.clone(),
                    &request.request_id,
                    None,
                )
                .await?;
            let Mutation::CreateTenant { tenant, .. } = written.mutation(&change.mutation) else {
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
            let change = changes::register_service(&request)?;
            let written = self
                .write(&caller, None, change.mutation, &request.request_id, None)
                .await?;
            let record = self.after_write(|s| s.service_record(&change.service))?;
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
            let change = changes::update_service(&request, &self.app.snapshot())?;
            let for_etag = change.service.clone();
            let precondition = etag_matches(&request.etag, move |s| {
                s.service_record(&for_etag)
                    .ok()
                    .map(|r| records::etag(r.changed_at))
            })?;
            let written = self
                .write(&caller, None, change.mutation, "", precondition)
                .await?;
            let record = self.after_write(|s| s.service_record(&change.service))?;
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
            let change = changes::subscribe_service(&request)?;
            let written = self.write(&caller, None, change.mutation, "", None).await?;
            let record = self.after_write(|s| s.tenant_record(&change.tenant))?;
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
            let change = changes::recover_ownership(&request)?;
            let written = self.write(&caller, None, change.mutation, "", None).await?;
            self.user_reply(&change.tenant, &change.user, written.revision.get())
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
