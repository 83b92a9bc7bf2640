//! `SecurityGroupService` (with the built-in Administrators group) and
//! `PermissionLevelService`: the `settings` of a tenant's service.

use tonic::{Request, Response, Status};

use super::{
    Caller, ManagementApi, actor, chosen_id, etag_matches, list_page, mask_paths, pb, records,
    reply,
};
use crate::{
    api::{
        bounds,
        convert::id,
        status::{self, required},
    },
    app::{Precondition, WriteError},
    engine::{
        ADMINISTRATORS_GROUP, MutationError, PermissionLevelId, SecurityGroupId, ServiceId,
        Snapshot, TenantId,
    },
    engine::{Mutation, Subject},
};

const SECURITY_GROUP_MASK: &[&str] = &["name", "description", "permissions", "scope"];
const LEVEL_MASK: &[&str] = &["name", "description", "permissions"];

/// Tenant and service of a settings call.
#[derive(Debug, Clone)]
struct Scope {
    tenant: TenantId,
    service: ServiceId,
}

impl Scope {
    fn parse(prefix: &str, tenant: &str, service: &str) -> Result<Self, Status> {
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
        let etag =
            records::security_group(self.tenant.as_str(), self.service.as_str(), &record).etag;
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
        let etag = records::level(self.tenant.as_str(), self.service.as_str(), &record).etag;
        Some((record, etag))
    }
}

/// A create must not replace: the id must still be free when the change is applied.
fn must_be_new(
    what: &'static str,
    exists: impl FnOnce(&Snapshot) -> bool + Send + 'static,
    id: String,
) -> Precondition {
    Precondition::new(move |state| {
        if exists(state) {
            Err(WriteError::Refused(MutationError::AlreadyExists {
                what,
                id,
            }))
        } else {
            Ok(())
        }
    })
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

    async fn security_group_member(
        &self,
        caller: Caller,
        request: pb::SecurityGroupMemberRequest,
        add: bool,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        let actor = actor(&request.actor)?;
        let scope = Scope::parse("", &request.tenant, &request.service)?;
        let group = id(
            "security_group",
            &request.security_group,
            SecurityGroupId::parse,
        )?;
        let member: Subject = records::subject("member", request.member.as_ref())?;
        let (tenant, service) = (scope.tenant.clone(), scope.service.clone());
        let mutation = match (group.as_str() == ADMINISTRATORS_GROUP, add) {
            (true, true) => Mutation::AddAdministrator {
                tenant,
                service,
                subject: member,
            },
            (true, false) => Mutation::RemoveAdministrator {
                tenant,
                service,
                subject: member,
            },
            (false, true) => Mutation::AddSecurityGroupMember {
                tenant,
                service,
                group: group.clone(),
                member,
            },
            (false, false) => Mutation::RemoveSecurityGroupMember {
                tenant,
                service,
                group: group.clone(),
                member,
            },
        };
        let written = self
            .write(&caller, Some(&actor), mutation, "", None)
            .await?;
        self.security_group_reply(&scope, &group, written.revision.get())
    }
}

#[tonic::async_trait]
impl pb::security_group_service_server::SecurityGroupService for ManagementApi {
    async fn create_security_group(
        &self,
        request: Request<pb::CreateSecurityGroupRequest>,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let message = request
                .security_group
                .as_ref()
                .ok_or_else(|| required("security_group"))?;
            let scope = Scope::parse("security_group.", &message.tenant, &message.service)?;
            bounds::required_text("security_group.name", &message.name)?;
            bounds::text("security_group.description", &message.description)?;
            let group = chosen_id(
                self,
                "security_group.id",
                &message.id,
                "sg",
                SecurityGroupId::parse,
            )?;
            let mutation = Mutation::PutSecurityGroup {
                tenant: scope.tenant.clone(),
                service: scope.service.clone(),
                group: group.clone(),
                name: message.name.clone(),
                description: message.description.clone(),
                permissions: records::permission_set(
                    "security_group.permissions",
                    &message.permissions,
                )?,
                scope: records::object_scope("security_group.scope", message.scope.as_ref())?,
            };
            let reader = scope.clone();
            let probe = group.clone();
            let precondition = must_be_new(
                "security group",
                move |s| reader.security_group(s, &probe).is_some(),
                group.to_string(),
            );
            let written = self
                .write(
                    &caller,
                    Some(&actor),
                    mutation.clone(),
                    &request.request_id,
                    Some(precondition),
                )
                .await?;
            let Mutation::PutSecurityGroup { group, .. } = written.mutation(&mutation) else {
                return Err(status::internal("retried change is not a security group"));
            };
            self.security_group_reply(&scope, group, written.revision.get())
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
            let message = request
                .security_group
                .as_ref()
                .ok_or_else(|| required("security_group"))?;
            let scope = Scope::parse("security_group.", &message.tenant, &message.service)?;
            let group = id("security_group.id", &message.id, SecurityGroupId::parse)?;
            let paths = mask_paths(
                bounds::mask(request.update_mask.as_ref())?,
                SECURITY_GROUP_MASK,
            )?;
            bounds::text("security_group.name", &message.name)?;
            bounds::text("security_group.description", &message.description)?;
            if paths.contains(&"name") && message.name.is_empty() {
                return Err(required("security_group.name"));
            }
            let permissions = if paths.contains(&"permissions") {
                Some(records::permission_set(
                    "security_group.permissions",
                    &message.permissions,
                )?)
            } else {
                None
            };
            let object_scope = if paths.contains(&"scope") {
                Some(records::object_scope(
                    "security_group.scope",
                    message.scope.as_ref(),
                )?)
            } else {
                None
            };
            let (reader, probe) = (scope.clone(), group.clone());
            let (message, merged) = (message.clone(), (scope.clone(), group.clone()));
            let revision = self
                .update(
                    &caller,
                    &actor,
                    &request.etag,
                    move |s| reader.security_group(s, &probe),
                    move |current| {
                        let mut name = current.name;
                        let mut description = current.description;
                        for path in &paths {
                            match *path {
                                "name" => name.clone_from(&message.name),
                                "description" => description.clone_from(&message.description),
                                _ => {}
                            }
                        }
                        Mutation::PutSecurityGroup {
                            tenant: merged.0.tenant.clone(),
                            service: merged.0.service.clone(),
                            group: merged.1.clone(),
                            name,
                            description,
                            permissions: permissions.clone().unwrap_or(current.permissions),
                            scope: object_scope.clone().unwrap_or(current.scope),
                        }
                    },
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
            let scope = Scope::parse("", &request.tenant, &request.service)?;
            let group = id(
                "security_group",
                &request.security_group,
                SecurityGroupId::parse,
            )?;
            let (reader, probe) = (scope.clone(), group.clone());
            let precondition = etag_matches(&request.etag, move |s| {
                reader.security_group(s, &probe).map(|(_, etag)| etag)
            })?;
            let mutation = Mutation::DeleteSecurityGroup {
                tenant: scope.tenant,
                service: scope.service,
                group,
            };
            let written = self
                .write(&caller, Some(&actor), mutation, "", precondition)
                .await?;
            reply(pb::DeleteResponse {
                revision: written.revision.get(),
            })
        })
        .await
    }

    async fn add_security_group_member(
        &self,
        request: Request<pb::SecurityGroupMemberRequest>,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        self.serve(request, |caller, request| {
            self.security_group_member(caller, request, true)
        })
        .await
    }

    async fn remove_security_group_member(
        &self,
        request: Request<pb::SecurityGroupMemberRequest>,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        self.serve(request, |caller, request| {
            self.security_group_member(caller, request, false)
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
            let message = request
                .permission_level
                .as_ref()
                .ok_or_else(|| required("permission_level"))?;
            let scope = Scope::parse("permission_level.", &message.tenant, &message.service)?;
            bounds::required_text("permission_level.name", &message.name)?;
            bounds::text("permission_level.description", &message.description)?;
            let level = chosen_id(
                self,
                "permission_level.id",
                &message.id,
                "level",
                PermissionLevelId::parse,
            )?;
            let mutation = Mutation::PutPermissionLevel {
                tenant: scope.tenant.clone(),
                service: scope.service.clone(),
                level: level.clone(),
                name: message.name.clone(),
                description: message.description.clone(),
                permissions: records::permission_set(
                    "permission_level.permissions",
                    &message.permissions,
                )?,
            };
            let (reader, probe) = (scope.clone(), level.clone());
            let precondition = must_be_new(
                "permission level",
                move |s| reader.level(s, &probe).is_some(),
                level.to_string(),
            );
            let written = self
                .write(
                    &caller,
                    Some(&actor),
                    mutation.clone(),
                    &request.request_id,
                    Some(precondition),
                )
                .await?;
            let Mutation::PutPermissionLevel { level, .. } = written.mutation(&mutation) else {
                return Err(status::internal("retried change is not a permission level"));
            };
            self.level_reply(&scope, level, written.revision.get())
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
            let message = request
                .permission_level
                .as_ref()
                .ok_or_else(|| required("permission_level"))?;
            let scope = Scope::parse("permission_level.", &message.tenant, &message.service)?;
            let level = id("permission_level.id", &message.id, PermissionLevelId::parse)?;
            let paths = mask_paths(bounds::mask(request.update_mask.as_ref())?, LEVEL_MASK)?;
            bounds::text("permission_level.name", &message.name)?;
            bounds::text("permission_level.description", &message.description)?;
            if paths.contains(&"name") && message.name.is_empty() {
                return Err(required("permission_level.name"));
            }
            let permissions = if paths.contains(&"permissions") {
                Some(records::permission_set(
                    "permission_level.permissions",
                    &message.permissions,
                )?)
            } else {
                None
            };
            let (reader, probe) = (scope.clone(), level.clone());
            let (message, merged) = (message.clone(), (scope.clone(), level.clone()));
            let revision = self
                .update(
                    &caller,
                    &actor,
                    &request.etag,
                    move |s| reader.level(s, &probe),
                    move |current| {
                        let mut name = current.name;
                        let mut description = current.description;
                        for path in &paths {
                            match *path {
                                "name" => name.clone_from(&message.name),
                                "description" => description.clone_from(&message.description),
                                _ => {}
                            }
                        }
                        Mutation::PutPermissionLevel {
                            tenant: merged.0.tenant.clone(),
                            service: merged.0.service.clone(),
                            level: merged.1.clone(),
                            name,
                            description,
                            permissions: permissions.clone().unwrap_or(current.permissions),
                        }
                    },
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
            let scope = Scope::parse("", &request.tenant, &request.service)?;
            let level = id(
                "permission_level",
                &request.permission_level,
                PermissionLevelId::parse,
            )?;
            let (reader, probe) = (scope.clone(), level.clone());
            let precondition = etag_matches(&request.etag, move |s| {
                reader.level(s, &probe).map(|(_, etag)| etag)
            })?;
            let mutation = Mutation::DeletePermissionLevel {
                tenant: scope.tenant,
                service: scope.service,
                level,
            };
            let written = self
                .write(&caller, Some(&actor), mutation, "", precondition)
                .await?;
            reply(pb::DeleteResponse {
                revision: written.revision.get(),
            })
        })
        .await
    }
}
