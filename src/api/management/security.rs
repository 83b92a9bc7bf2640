//! `SecurityGroupService` (with the built-in Administrators group) and
//! `PermissionLevelService`: the `settings` of a tenant's service.

use tonic::{Request, Response, Status};

use super::{
    Caller, ManagementApi, changes, etag_matches, list_page, must_be_new, pb, records, reply,
};
use crate::{
    api::{bounds, convert::id, status},
    engine::{Actor, Mutation, PermissionLevelId, SecurityGroupId, ServiceId, Snapshot, TenantId},
};

/// Tenant and service of a settings call.
#[derive(Debug, Clone)]
pub(super) struct Scope {
    pub(super) tenant: TenantId,
    pub(super) service: ServiceId,
}

impl Scope {
    pub(super) fn parse(prefix: &str, tenant: &str, service: &str) -> Result<Self, Status> {
        Ok(Self {
            tenant: id(&format!("{prefix}tenant"), tenant, TenantId::parse)?,
            service: id(&format!("{prefix}service"), service, ServiceId::parse)?,
        })
    }

    fn security_group(
        &self,
        snapshot: &Snapshot,
        group: &SecurityGroupId,
    ) -> Option<(crate::engine::SecurityGroupRecord, String)> {
        let record = snapshot
            .security_group_record(&self.tenant, &self.service, group)
            .ok()?;
        let etag = records::etag(record.changed_at);
        Some((record, etag))
    }

    fn level(
        &self,
        snapshot: &Snapshot,
        level: &PermissionLevelId,
    ) -> Option<(crate::engine::LevelRecord, String)> {
        let record = snapshot
            .level_record(&self.tenant, &self.service, level)
            .ok()?;
        let etag = records::etag(record.changed_at);
        Some((record, etag))
    }
}

impl ManagementApi {
    fn security_group_reply(
        &self,
        scope: &Scope,
        group: &SecurityGroupId,
        revision: u64,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        let record =
            self.after_write(|s| s.security_group_record(&scope.tenant, &scope.service, group))?;
        reply(pb::SecurityGroupResponse {
            security_group: Some(records::security_group(
                scope.tenant.as_str(),
                scope.service.as_str(),
                &record,
            )),
            revision,
        })
    }

    fn level_reply(
        &self,
        scope: &Scope,
        level: &PermissionLevelId,
        revision: u64,
    ) -> Result<Response<pb::PermissionLevelResponse>, Status> {
        let record = self.after_write(|s| s.level_record(&scope.tenant, &scope.service, level))?;
        reply(pb::PermissionLevelResponse {
            permission_level: Some(records::level(
                scope.tenant.as_str(),
                scope.service.as_str(),
                &record,
            )),
            revision,
        })
    }

    /// Adds (`add`) or removes a member of a security group, the Administrators group
    /// included, answering with the membership: the member list is not copied or sent.
    async fn security_group_member(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::SecurityGroupMemberRequest,
        add: bool,
    ) -> Result<Response<pb::SecurityGroupMembershipResponse>, Status> {
        let change = changes::security_group_member(request, add)?;
        let written = self
            .write(caller, Some(actor), change.mutation, "", None)
            .await?;
        let (scope, member) = (&change.scope, &change.member);
        let membership = self.after_write(|s| {
            s.security_group_membership(&scope.tenant, &scope.service, &change.group, member)
        })?;
        reply(pb::SecurityGroupMembershipResponse {
            tenant: scope.tenant.to_string(),
            service: scope.service.to_string(),
            security_group: change.group.to_string(),
            member: Some(crate::api::convert::subject(member)),
            is_member: membership.is_member,
            member_count: u64::try_from(membership.members).unwrap_or(u64::MAX),
            etag: records::etag(membership.changed_at),
            revision: written.revision.get(),
        })
    }
}

#[tonic::async_trait]
impl pb::security_group_service_server::SecurityGroupService for ManagementApi {
    async fn create_security_group(
        &self,
        request: Request<pb::CreateSecurityGroupRequest>,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::create_security_group(&request, self)?;
            let reader = change.scope.clone();
            let probe = change.group.clone();
            let precondition = must_be_new(
                "security group",
                move |s| reader.security_group(s, &probe).is_some(),
                change.group.to_string(),
            );
            let written = self
                .write(
                    &caller,
                    Some(&actor),
                    change.mutation.clone(),
                    &request.request_id,
                    Some(precondition),
                )
                .await?;
            let Mutation::PutSecurityGroup { group, .. } = written.mutation(&change.mutation)
            else {
                return Err(status::internal("retried change is not a security group"));
            };
            self.security_group_reply(&change.scope, group, written.revision.get())
        })
        .await
    }

    async fn get_security_group(
        &self,
        request: Request<pb::SecurityGroupRefRequest>,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let scope = Scope::parse("", &request.tenant, &request.service)?;
            let group = id(
                "security_group",
                &request.security_group,
                SecurityGroupId::parse,
            )?;
            let snapshot = self.read_as(&scope.tenant, &actor)?;
            let record = snapshot
                .security_group_record(&scope.tenant, &scope.service, &group)
                .map_err(|err| status::not_found(&err))?;
            reply(pb::SecurityGroupResponse {
                security_group: Some(records::security_group(
                    scope.tenant.as_str(),
                    scope.service.as_str(),
                    &record,
                )),
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn list_security_groups(
        &self,
        request: Request<pb::ListSecurityGroupsRequest>,
    ) -> Result<Response<pb::ListSecurityGroupsResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let scope = Scope::parse("", &request.tenant, &request.service)?;
            let snapshot = self.read_as(&scope.tenant, &actor)?;
            let groups = snapshot
                .security_group_records(&scope.tenant, &scope.service)
                .map_err(|err| status::not_found(&err))?;
            let (page, next_page_token) = list_page(
                groups,
                request.page_size,
                &request.page_token,
                bounds::filter("filter", &request.filter)?,
                |g| g.id.to_string(),
                |g| vec![g.name.as_str(), g.description.as_str()],
            )?;
            reply(pb::ListSecurityGroupsResponse {
                security_groups: page
                    .iter()
                    .map(|g| {
                        records::security_group(scope.tenant.as_str(), scope.service.as_str(), g)
                    })
                    .collect(),
                next_page_token,
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn update_security_group(
        &self,
        request: Request<pb::UpdateSecurityGroupRequest>,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let update = changes::update_security_group(&request)?;
            let (scope, group) = (update.scope.clone(), update.group.clone());
            let (reader, probe) = (scope.clone(), group.clone());
            let revision = self
                .update(
                    &caller,
                    &actor,
                    &request.etag,
                    move |s| reader.security_group(s, &probe),
                    move |current| update.merge(current),
                )
                .await?;
            self.security_group_reply(&scope, &group, revision.get())
        })
        .await
    }

    async fn delete_security_group(
        &self,
        request: Request<pb::SecurityGroupRefRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::delete_security_group(&request)?;
            let (reader, probe) = (change.scope.clone(), change.group.clone());
            let precondition = etag_matches(&request.etag, move |s| {
                reader.security_group(s, &probe).map(|(_, etag)| etag)
            })?;
            self.delete(&caller, &actor, change.mutation, precondition)
                .await
        })
        .await
    }

    async fn add_security_group_member(
        &self,
        request: Request<pb::SecurityGroupMemberRequest>,
    ) -> Result<Response<pb::SecurityGroupMembershipResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.security_group_member(&caller, &actor, &request, true)
                .await
        })
        .await
    }

    async fn remove_security_group_member(
        &self,
        request: Request<pb::SecurityGroupMemberRequest>,
    ) -> Result<Response<pb::SecurityGroupMembershipResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.security_group_member(&caller, &actor, &request, false)
                .await
        })
        .await
    }
}

#[tonic::async_trait]
impl pb::permission_level_service_server::PermissionLevelService for ManagementApi {
    async fn create_permission_level(
        &self,
        request: Request<pb::CreatePermissionLevelRequest>,
    ) -> Result<Response<pb::PermissionLevelResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::create_permission_level(&request, self)?;
            let (reader, probe) = (change.scope.clone(), change.level.clone());
            let precondition = must_be_new(
                "permission level",
                move |s| reader.level(s, &probe).is_some(),
                change.level.to_string(),
            );
            let written = self
                .write(
                    &caller,
                    Some(&actor),
                    change.mutation.clone(),
                    &request.request_id,
                    Some(precondition),
                )
                .await?;
            let Mutation::PutPermissionLevel { level, .. } = written.mutation(&change.mutation)
            else {
                return Err(status::internal("retried change is not a permission level"));
            };
            self.level_reply(&change.scope, level, written.revision.get())
        })
        .await
    }

    async fn get_permission_level(
        &self,
        request: Request<pb::PermissionLevelRefRequest>,
    ) -> Result<Response<pb::PermissionLevelResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let scope = Scope::parse("", &request.tenant, &request.service)?;
            let level = id(
                "permission_level",
                &request.permission_level,
                PermissionLevelId::parse,
            )?;
            let snapshot = self.read_as(&scope.tenant, &actor)?;
            let record = snapshot
                .level_record(&scope.tenant, &scope.service, &level)
                .map_err(|err| status::not_found(&err))?;
            reply(pb::PermissionLevelResponse {
                permission_level: Some(records::level(
                    scope.tenant.as_str(),
                    scope.service.as_str(),
                    &record,
                )),
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn list_permission_levels(
        &self,
        request: Request<pb::ListPermissionLevelsRequest>,
    ) -> Result<Response<pb::ListPermissionLevelsResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let scope = Scope::parse("", &request.tenant, &request.service)?;
            let snapshot = self.read_as(&scope.tenant, &actor)?;
            let levels = snapshot
                .level_records(&scope.tenant, &scope.service)
                .map_err(|err| status::not_found(&err))?;
            let (page, next_page_token) = list_page(
                levels,
                request.page_size,
                &request.page_token,
                bounds::filter("filter", &request.filter)?,
                |l| l.id.to_string(),
                |l| vec![l.name.as_str(), l.description.as_str()],
            )?;
            reply(pb::ListPermissionLevelsResponse {
                permission_levels: page
                    .iter()
                    .map(|l| records::level(scope.tenant.as_str(), scope.service.as_str(), l))
                    .collect(),
                next_page_token,
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn update_permission_level(
        &self,
        request: Request<pb::UpdatePermissionLevelRequest>,
    ) -> Result<Response<pb::PermissionLevelResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let update = changes::update_permission_level(&request)?;
            let (scope, level) = (update.scope.clone(), update.level.clone());
            let (reader, probe) = (scope.clone(), level.clone());
            let revision = self
                .update(
                    &caller,
                    &actor,
                    &request.etag,
                    move |s| reader.level(s, &probe),
                    move |current| update.merge(current),
                )
                .await?;
            self.level_reply(&scope, &level, revision.get())
        })
        .await
    }

    async fn delete_permission_level(
        &self,
        request: Request<pb::PermissionLevelRefRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::delete_permission_level(&request)?;
            let (reader, probe) = (change.scope.clone(), change.level.clone());
            let precondition = etag_matches(&request.etag, move |s| {
                reader.level(s, &probe).map(|(_, etag)| etag)
            })?;
            self.delete(&caller, &actor, change.mutation, precondition)
                .await
        })
        .await
    }
}
