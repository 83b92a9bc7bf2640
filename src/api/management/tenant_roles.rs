//! `TenantRoleService`: a tenant's roles of tenant-module permissions, its own and the
//! synced copies of customer roles, and their members.

use tonic::{Request, Response, Status};

use super::{
    Caller, ManagementApi,
    changes::{self, TenantRoleEdit},
    etag_matches, list_page, must_be_new, pb, records, reply,
};
use crate::{
    api::{bounds, convert::id, status},
    engine::{Actor, Mutation, Snapshot, TenantId, TenantRoleId, tenant_roles::TenantRoleChange},
};

/// Reads a tenant role's current etag.
fn tenant_role_etag(
    tenant: &TenantId,
    role: &TenantRoleId,
) -> impl FnOnce(&Snapshot) -> Option<String> + Send + 'static {
    let (tenant, role) = (tenant.clone(), role.clone());
    move |s| {
        s.tenant_role(&tenant, &role)
            .ok()
            .map(|r| records::etag(r.changed_at))
    }
}

impl ManagementApi {
    fn tenant_role_reply(
        &self,
        tenant: &TenantId,
        role: &TenantRoleId,
        revision: u64,
    ) -> Result<Response<pb::TenantModuleRoleResponse>, Status> {
        let record = self.after_partner_write(|s| s.tenant_role(tenant, role))?;
        reply(pb::TenantModuleRoleResponse {
            tenant_role: Some(records::tenant_module_role(tenant.as_str(), &record)),
            revision,
        })
    }

    /// Writes a change to one tenant role (with the client's etag, if any) and answers
    /// with the role as it is afterwards.
    async fn change_tenant_role(
        &self,
        caller: &Caller,
        actor: &Actor,
        edit: TenantRoleEdit,
        etag: &str,
    ) -> Result<Response<pb::TenantModuleRoleResponse>, Status> {
        let precondition = etag_matches(etag, tenant_role_etag(&edit.tenant, &edit.role))?;
        let written = self
            .write(caller, Some(actor), edit.mutation, "", precondition)
            .await?;
        self.tenant_role_reply(&edit.tenant, &edit.role, written.revision.get())
    }
}

#[tonic::async_trait]
impl pb::tenant_role_service_server::TenantRoleService for ManagementApi {
    async fn create_tenant_role(
        &self,
        request: Request<pb::CreateTenantRoleRequest>,
    ) -> Result<Response<pb::TenantModuleRoleResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let edit = changes::create_tenant_role(&request, self)?;
            let (tenant, role) = (edit.tenant.clone(), edit.role.clone());
            let free = must_be_new(
                "tenant role",
                move |s| s.tenant_role(&tenant, &role).is_ok(),
                edit.role.to_string(),
            );
            let written = self
                .write(
                    &caller,
                    Some(&actor),
                    edit.mutation.clone(),
                    &request.request_id,
                    Some(free),
                )
                .await?;
            let Mutation::TenantRole(TenantRoleChange::Put { role, .. }) =
                written.mutation(&edit.mutation)
            else {
                return Err(status::internal(
                    "retried change is not a tenant role creation",
                ));
            };
            self.tenant_role_reply(&edit.tenant, role, written.revision.get())
        })
        .await
    }

    async fn update_tenant_role(
        &self,
        request: Request<pb::UpdateTenantRoleRequest>,
    ) -> Result<Response<pb::TenantModuleRoleResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let update = changes::update_tenant_role(&request)?;
            let (tenant, role) = (update.tenant.clone(), update.role.clone());
            let (t, r) = (tenant.clone(), role.clone());
            let revision = self
                .update(
                    &caller,
                    &actor,
                    &request.etag,
                    move |s| {
                        let record = s.tenant_role(&t, &r).ok()?;
                        let etag = records::etag(record.changed_at);
                        Some((record, etag))
                    },
                    move |current| update.merge(current),
                )
                .await?;
            self.tenant_role_reply(&tenant, &role, revision.get())
        })
        .await
    }

    async fn get_tenant_role(
        &self,
        request: Request<pb::TenantRoleRefRequest>,
    ) -> Result<Response<pb::TenantModuleRoleResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let role = id("tenant_role", &request.tenant_role, TenantRoleId::parse)?;
            let snapshot = self.read_as(&tenant, &actor)?;
            let record = snapshot
                .tenant_role(&tenant, &role)
                .map_err(|err| status::mutation_refused(&err))?;
            reply(pb::TenantModuleRoleResponse {
                tenant_role: Some(records::tenant_module_role(tenant.as_str(), &record)),
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn list_tenant_roles(
        &self,
        request: Request<pb::ListTenantRolesRequest>,
    ) -> Result<Response<pb::ListTenantRolesResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let snapshot = self.read_as(&tenant, &actor)?;
            let roles = snapshot
                .tenant_roles(&tenant)
                .map_err(|err| status::mutation_refused(&err))?;
            let (page, next_page_token) = list_page(
                roles,
                request.page_size,
                &request.page_token,
                bounds::filter("filter", &request.filter)?,
                |r| r.id.to_string(),
                |r| vec![r.name.as_str(), r.description.as_str()],
            )?;
            reply(pb::ListTenantRolesResponse {
                tenant_roles: page
                    .iter()
                    .map(|r| records::tenant_module_role(tenant.as_str(), r))
                    .collect(),
                next_page_token,
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn delete_tenant_role(
        &self,
        request: Request<pb::TenantRoleRefRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let TenantRoleEdit {
                tenant,
                role,
                mutation,
            } = changes::tenant_role_ref(&request, |tenant, role| TenantRoleChange::Delete {
                tenant,
                role,
            })?;
            let precondition = etag_matches(&request.etag, tenant_role_etag(&tenant, &role))?;
            self.delete(&caller, &actor, mutation, precondition).await
        })
        .await
    }

    async fn add_tenant_role_member(
        &self,
        request: Request<pb::TenantRoleMemberRequest>,
    ) -> Result<Response<pb::TenantModuleRoleResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let edit = changes::tenant_role_member(&request, true)?;
            self.change_tenant_role(&caller, &actor, edit, "").await
        })
        .await
    }

    async fn remove_tenant_role_member(
        &self,
        request: Request<pb::TenantRoleMemberRequest>,
    ) -> Result<Response<pb::TenantModuleRoleResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let edit = changes::tenant_role_member(&request, false)?;
            self.change_tenant_role(&caller, &actor, edit, "").await
        })
        .await
    }

    async fn detach_tenant_role(
        &self,
        request: Request<pb::TenantRoleRefRequest>,
    ) -> Result<Response<pb::TenantModuleRoleResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let edit = changes::tenant_role_ref(&request, |tenant, role| {
                TenantRoleChange::Detach { tenant, role }
            })?;
            self.change_tenant_role(&caller, &actor, edit, &request.etag)
                .await
        })
        .await
    }
}
