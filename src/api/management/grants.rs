//! `GrantService`: permission levels and permission sets given on objects or services.

use tonic::{Request, Response, Status};

use super::{ManagementApi, changes, etag_matches, list_page, pb, records, reply};
use crate::{
    api::{convert::id, status},
    engine::{GrantId, Mutation, ServiceId, TenantId},
};

#[tonic::async_trait]
impl pb::grant_service_server::GrantService for ManagementApi {
    async fn give_grant(
        &self,
        request: Request<pb::GiveGrantRequest>,
    ) -> Result<Response<pb::GrantResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::give_grant(&request, self, self.app.now())?;
            let written = self
                .write(
                    &caller,
                    Some(&actor),
                    change.mutation.clone(),
                    &request.request_id,
                    None,
                )
                .await?;
            let Mutation::GiveGrant { grant, .. } = written.mutation(&change.mutation) else {
                return Err(status::internal("retried change is not a grant"));
            };
            let (tenant, service) = (&change.tenant, &change.service);
            let record = self.after_write(|s| s.grant_record(tenant, service, grant))?;
            reply(pb::GrantResponse {
                grant: Some(records::grant(tenant.as_str(), service.as_str(), &record)),
                revision: written.revision.get(),
            })
        })
        .await
    }

    async fn get_grant(
        &self,
        request: Request<pb::GrantRefRequest>,
    ) -> Result<Response<pb::GrantResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let service = id("service", &request.service, ServiceId::parse)?;
            let grant = id("grant", &request.grant, GrantId::parse)?;
            let snapshot = self.read_as(&tenant, &actor)?;
            let record = snapshot
                .grant_record(&tenant, &service, &grant)
                .map_err(|err| status::not_found(&err))?;
            reply(pb::GrantResponse {
                grant: Some(records::grant(tenant.as_str(), service.as_str(), &record)),
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn list_grants(
        &self,
        request: Request<pb::ListGrantsRequest>,
    ) -> Result<Response<pb::ListGrantsResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let service = id("service", &request.service, ServiceId::parse)?;
            let subject = request
                .subject
                .as_ref()
                .map(|s| records::subject("subject", Some(s)))
                .transpose()?;
            let object = records::optional_object("object", &request.object)?;
            let snapshot = self.read_as(&tenant, &actor)?;
            let grants = snapshot
                .grant_records(&tenant, &service, subject.as_ref(), object.as_ref())
                .map_err(|err| status::not_found(&err))?;
            let (page, next_page_token) = list_page(
                grants,
                request.page_size,
                &request.page_token,
                "",
                |g| g.id.to_string(),
                |_| Vec::new(),
            )?;
            reply(pb::ListGrantsResponse {
                grants: page
                    .iter()
                    .map(|g| records::grant(tenant.as_str(), service.as_str(), g))
                    .collect(),
                next_page_token,
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn revoke_grant(
        &self,
        request: Request<pb::RevokeGrantRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::revoke_grant(&request)?;
            let (t, s, g) = (
                change.tenant.clone(),
                change.service.clone(),
                change.grant.clone(),
            );
            let precondition = etag_matches(&request.etag, move |snapshot| {
                snapshot
                    .grant_record(&t, &s, &g)
                    .ok()
                    .map(|r| records::etag(r.changed_at))
            })?;
            self.delete(&caller, &actor, change.mutation, precondition)
                .await
        })
        .await
    }
}
