//! `UserService` (users, tenant roles, service access) and `GroupService` (directory
//! groups and their members).

use tonic::{Request, Response, Status};

use super::{
    Caller, ManagementApi, chosen_id, etag_matches, list_page, mask_paths, pb, records, reply,
};
use crate::{
    api::{
        bounds,
        convert::id,
        status::{self, required},
    },
    engine::{GroupId, Mutation, NewUser, ServiceId, TenantId, UserId, UserStatus},
};

const USER_MASK: &[&str] = &["email", "display_name"];

/// The status a user must have now for a status change to apply, and the refusal when not.
pub(super) struct StatusNow {
    pub(super) holds: fn(UserStatus) -> bool,
    /// The refusal's reason.
    pub(super) reason: &'static str,
    /// The status, in words.
    pub(super) state: &'static str,
}

/// Only a disabled user is enabled.
const NOW_DISABLED: StatusNow = StatusNow {
    holds: |status| status == UserStatus::Disabled,
    reason: "USER_NOT_DISABLED",
    state: "disabled",
};
const GROUP_MASK: &[&str] = &["name"];

/// Reads a user's current etag.
fn user_etag(
    tenant: &TenantId,
    user: &UserId,
) -> impl FnOnce(&crate::engine::Snapshot) -> Option<String> + Send + 'static {
    let (tenant, user) = (tenant.clone(), user.clone());
    move |s| {
        s.user_record(&tenant, &user)
            .ok()
            .map(|r| records::user(tenant.as_str(), &r).etag)
    }
}

/// Reads a group's current etag.
fn group_etag(
    tenant: &TenantId,
    group: &GroupId,
) -> impl FnOnce(&crate::engine::Snapshot) -> Option<String> + Send + 'static {
    let (tenant, group) = (tenant.clone(), group.clone());
    move |s| {
        s.group_record(&tenant, &group)
            .ok()
            .map(|r| records::group(tenant.as_str(), &r).etag)
    }
}

impl ManagementApi {
    /// Writes a change to one user (with the client's etag, if any) and answers with the
    /// user as it is afterwards.
    pub(super) async fn change_user(
        &self,
        caller: &Caller,
        actor: &UserId,
        tenant: TenantId,
        user: UserId,
        etag: &str,
        mutation: Mutation,
    ) -> Result<Response<pb::UserResponse>, Status> {
        let precondition = etag_matches(etag, user_etag(&tenant, &user))?;
        let written = self
            .write(caller, Some(actor), mutation, "", precondition)
            .await?;
        self.user_reply(&tenant, &user, written.revision.get())
    }

    /// Sets a user's status; with `from`, only when the status the user has now allows
    /// it (read before the writer, like the etag check without an etag).
    pub(super) async fn set_user_status(
        &self,
        caller: &Caller,
        actor: &UserId,
        request: &pb::UserRefRequest,
        status: UserStatus,
        from: Option<&StatusNow>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        let tenant = id("tenant", &request.tenant, TenantId::parse)?;
        let user = id("user", &request.user, UserId::parse)?;
        if let Some(from) = from {
            let now = self
                .app
                .snapshot()
                .user_record(&tenant, &user)
                .map_err(|err| status::not_found(&err))?
                .status;
            if !(from.holds)(now) {
                return Err(status::state_refusal(
                    from.reason,
                    format!("user {user}"),
                    format!("user `{user}` is not {}", from.state),
                ));
            }
        }
        let mutation = Mutation::SetUserStatus {
            tenant: tenant.clone(),
            user: user.clone(),
            status,
        };
        self.change_user(caller, actor, tenant, user, &request.etag, mutation)
            .await
    }

    pub(super) fn user_reply(
        &self,
        tenant: &TenantId,
        user: &UserId,
        revision: u64,
    ) -> Result<Response<pb::UserResponse>, Status> {
        let record = self.after_write(|s| s.user_record(tenant, user))?;
        reply(pb::UserResponse {
            user: Some(records::user(tenant.as_str(), &record)),
            revision,
        })
    }

    fn group_reply(
        &self,
        tenant: &TenantId,
        group: &GroupId,
        revision: u64,
    ) -> Result<Response<pb::GroupResponse>, Status> {
        let record = self.after_write(|s| s.group_record(tenant, group))?;
        reply(pb::GroupResponse {
            group: Some(records::group(tenant.as_str(), &record)),
            revision,
        })
    }
}

/// The statuses, role kinds and user kinds a user list is narrowed to (empty: any).
struct UserSelection {
    statuses: Vec<i32>,
    roles: Vec<i32>,
    kinds: Vec<i32>,
}

impl UserSelection {
    fn of(request: &pb::ListUsersRequest) -> Result<Self, Status> {
        fn known(
            field: &str,
            values: &[i32],
            is_known: impl Fn(i32) -> bool,
        ) -> Result<Vec<i32>, Status> {
            bounds::at_most_items(field, values.len())?;
            match values.iter().find(|v| **v == 0 || !is_known(**v)) {
                Some(value) => Err(status::invalid_field(
                    field,
                    format!("{value} is not a value to select by"),
                )),
                None => Ok(values.to_vec()),
            }
        }
        Ok(Self {
            statuses: known("statuses", &request.statuses, |v| {
                pb::UserStatus::try_from(v).is_ok()
            })?,
            roles: known("roles", &request.roles, |v| {
                pb::RoleKind::try_from(v).is_ok()
            })?,
            kinds: known("kinds", &request.kinds, |v| {
                pb::UserKind::try_from(v).is_ok()
            })?,
        })
    }

    fn selects(&self, user: &pb::User) -> bool {
        let within = |wanted: &[i32], value: i32| wanted.is_empty() || wanted.contains(&value);
        within(&self.statuses, user.status)
            && within(&self.roles, user.role.as_ref().map_or(0, |r| r.kind))
            && within(&self.kinds, user.kind)
    }
}

#[tonic::async_trait]
impl pb::user_service_server::UserService for ManagementApi {
    async fn invite_user(
        &self,
        request: Request<pb::InviteUserRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            bounds::required_text("email", &request.email)?;
            bounds::required_text("display_name", &request.display_name)?;
            let mutation = Mutation::InviteUser {
                tenant: tenant.clone(),
                user: NewUser {
                    user: chosen_id(self, "id", &request.id, "user", UserId::parse)?,
                    email: request.email.clone(),
                    display_name: request.display_name.clone(),
                    kind: records::user_kind(request.kind, "kind")?,
                },
            };
            let written = self
                .write(
                    &caller,
                    Some(&actor),
                    mutation.clone(),
                    &request.request_id,
                    None,
                )
                .await?;
            let Mutation::InviteUser { user, .. } = written.mutation(&mutation) else {
                return Err(status::internal("retried change is not an invitation"));
            };
            self.user_reply(&tenant, &user.user, written.revision.get())
        })
        .await
    }

    async fn activate_user(
        &self,
        request: Request<pb::UserRefRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.set_user_status(&caller, &actor, &request, UserStatus::Active, None)
                .await
        })
        .await
    }

    async fn disable_user(
        &self,
        request: Request<pb::UserRefRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.set_user_status(&caller, &actor, &request, UserStatus::Disabled, None)
                .await
        })
        .await
    }

    async fn enable_user(
        &self,
        request: Request<pb::UserRefRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.set_user_status(
                &caller,
                &actor,
                &request,
                UserStatus::Active,
                Some(&NOW_DISABLED),
            )
            .await
        })
        .await
    }

    async fn get_user(
        &self,
        request: Request<pb::UserRefRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let user = id("user", &request.user, UserId::parse)?;
            let snapshot = self.read_as(&tenant, &actor)?;
            let record = snapshot
                .user_record(&tenant, &user)
                .map_err(|err| status::not_found(&err))?;
            reply(pb::UserResponse {
                user: Some(records::user(tenant.as_str(), &record)),
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let snapshot = self.read_as(&tenant, &actor)?;
            let wanted = UserSelection::of(&request)?;
            let users = snapshot
                .user_records(&tenant)
                .map_err(|err| status::not_found(&err))?
                .iter()
                .map(|u| records::user(tenant.as_str(), u))
                .filter(|u| wanted.selects(u))
                .collect();
            let (users, next_page_token) = list_page(
                users,
                request.page_size,
                &request.page_token,
                bounds::filter("filter", &request.filter)?,
                |u| u.id.clone(),
                |u| vec![u.email.as_str(), u.display_name.as_str()],
            )?;
            reply(pb::ListUsersResponse {
                users,
                next_page_token,
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let message = request.user.as_ref().ok_or_else(|| required("user"))?;
            let tenant = id("user.tenant", &message.tenant, TenantId::parse)?;
            let user = id("user.id", &message.id, UserId::parse)?;
            let paths = mask_paths(bounds::mask(request.update_mask.as_ref())?, USER_MASK)?;
            for path in &paths {
                let text = match *path {
                    "email" => &message.email,
                    _ => &message.display_name,
                };
                bounds::required_text(&format!("user.{path}"), text)?;
            }
            let (t, u) = (tenant.clone(), user.clone());
            let (message, merged) = (message.clone(), (tenant.clone(), user.clone()));
            let revision = self
                .update(
                    &caller,
                    &actor,
                    &request.etag,
                    move |s| {
                        let record = s.user_record(&t, &u).ok()?;
                        let etag = records::user(t.as_str(), &record).etag;
                        Some((record, etag))
                    },
                    move |current| {
                        let mut email = current.email;
                        let mut display_name = current.display_name;
                        for path in &paths {
                            match *path {
                                "email" => email.clone_from(&message.email),
                                _ => display_name.clone_from(&message.display_name),
                            }
                        }
                        Mutation::UpdateUser {
                            tenant: merged.0.clone(),
                            user: merged.1.clone(),
                            email,
                            display_name,
                        }
                    },
                )
                .await?;
            self.user_reply(&tenant, &user, revision.get())
        })
        .await
    }

    async fn delete_user(
        &self,
        request: Request<pb::UserRefRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let user = id("user", &request.user, UserId::parse)?;
            let precondition = etag_matches(&request.etag, user_etag(&tenant, &user))?;
            let mutation = Mutation::DeleteUser { tenant, user };
            let written = self
                .write(&caller, Some(&actor), mutation, "", precondition)
                .await?;
            reply(pb::DeleteResponse {
                revision: written.revision.get(),
            })
        })
        .await
    }

    async fn set_tenant_role(
        &self,
        request: Request<pb::SetTenantRoleRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let user = id("user", &request.user, UserId::parse)?;
            let role = records::tenant_role(request.role.as_ref())?;
            let mutation = Mutation::SetTenantRole {
                tenant: tenant.clone(),
                user: user.clone(),
                role,
            };
            self.change_user(&caller, &actor, tenant, user, &request.etag, mutation)
                .await
        })
        .await
    }

    async fn transfer_ownership(
        &self,
        request: Request<pb::TransferOwnershipRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let user = id("new_owner", &request.new_owner, UserId::parse)?;
            let mutation = Mutation::TransferOwnership {
                tenant: tenant.clone(),
                new_owner: user.clone(),
            };
            self.change_user(&caller, &actor, tenant, user, "", mutation)
                .await
        })
        .await
    }

    async fn grant_service_access(
        &self,
        request: Request<pb::ServiceAccessRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.service_access(request, true).await
    }

    async fn revoke_service_access(
        &self,
        request: Request<pb::ServiceAccessRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.service_access(request, false).await
    }
}

impl ManagementApi {
    /// Gives (`grant`) or takes away a user's access to a service.
    async fn service_access(
        &self,
        request: Request<pb::ServiceAccessRequest>,
        grant: bool,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let user = id("user", &request.user, UserId::parse)?;
            let service = id("service", &request.service, ServiceId::parse)?;
            let (t, u) = (tenant.clone(), user.clone());
            let mutation = if grant {
                Mutation::GrantServiceAccess {
                    tenant: t,
                    user: u,
                    service,
                }
            } else {
                Mutation::RevokeServiceAccess {
                    tenant: t,
                    user: u,
                    service,
                }
            };
            self.change_user(&caller, &actor, tenant, user, "", mutation)
                .await
        })
        .await
    }
}

#[tonic::async_trait]
impl pb::group_service_server::GroupService for ManagementApi {
    async fn create_group(
        &self,
        request: Request<pb::CreateGroupRequest>,
    ) -> Result<Response<pb::GroupResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            bounds::required_text("name", &request.name)?;
            let mutation = Mutation::CreateGroup {
                tenant: tenant.clone(),
                group: chosen_id(self, "id", &request.id, "group", GroupId::parse)?,
                name: request.name.clone(),
            };
            let written = self
                .write(
                    &caller,
                    Some(&actor),
                    mutation.clone(),
                    &request.request_id,
                    None,
                )
                .await?;
            let Mutation::CreateGroup { group, .. } = written.mutation(&mutation) else {
                return Err(status::internal("retried change is not a group creation"));
            };
            self.group_reply(&tenant, group, written.revision.get())
        })
        .await
    }

    async fn get_group(
        &self,
        request: Request<pb::GroupRefRequest>,
    ) -> Result<Response<pb::GroupResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let group = id("group", &request.group, GroupId::parse)?;
            let snapshot = self.read_as(&tenant, &actor)?;
            let record = snapshot
                .group_record(&tenant, &group)
                .map_err(|err| status::not_found(&err))?;
            reply(pb::GroupResponse {
                group: Some(records::group(tenant.as_str(), &record)),
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let snapshot = self.read_as(&tenant, &actor)?;
            let groups = snapshot
                .group_records(&tenant)
                .map_err(|err| status::not_found(&err))?;
            let (page, next_page_token) = list_page(
                groups,
                request.page_size,
                &request.page_token,
                bounds::filter("filter", &request.filter)?,
                |g| g.id.to_string(),
                |g| vec![g.name.as_str()],
            )?;
            reply(pb::ListGroupsResponse {
                groups: page
                    .iter()
                    .map(|g| records::group(tenant.as_str(), g))
                    .collect(),
                next_page_token,
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn update_group(
        &self,
        request: Request<pb::UpdateGroupRequest>,
    ) -> Result<Response<pb::GroupResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let message = request.group.as_ref().ok_or_else(|| required("group"))?;
            let tenant = id("group.tenant", &message.tenant, TenantId::parse)?;
            let group = id("group.id", &message.id, GroupId::parse)?;
            mask_paths(bounds::mask(request.update_mask.as_ref())?, GROUP_MASK)?;
            bounds::required_text("group.name", &message.name)?;
            let precondition = etag_matches(&request.etag, group_etag(&tenant, &group))?;
            let mutation = Mutation::UpdateGroup {
                tenant: tenant.clone(),
                group: group.clone(),
                name: message.name.clone(),
            };
            let written = self
                .write(&caller, Some(&actor), mutation, "", precondition)
                .await?;
            self.group_reply(&tenant, &group, written.revision.get())
        })
        .await
    }

    async fn delete_group(
        &self,
        request: Request<pb::GroupRefRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let group = id("group", &request.group, GroupId::parse)?;
            let precondition = etag_matches(&request.etag, group_etag(&tenant, &group))?;
            let mutation = Mutation::DeleteGroup { tenant, group };
            let written = self
                .write(&caller, Some(&actor), mutation, "", precondition)
                .await?;
            reply(pb::DeleteResponse {
                revision: written.revision.get(),
            })
        })
        .await
    }

    async fn add_group_member(
        &self,
        request: Request<pb::GroupMemberRequest>,
    ) -> Result<Response<pb::GroupResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let group = id("group", &request.group, GroupId::parse)?;
            let member = records::subject("member", request.member.as_ref())?;
            let mutation = Mutation::AddGroupMember {
                tenant: tenant.clone(),
                group: group.clone(),
                member,
            };
            let written = self
                .write(&caller, Some(&actor), mutation, "", None)
                .await?;
            self.group_reply(&tenant, &group, written.revision.get())
        })
        .await
    }

    async fn remove_group_member(
        &self,
        request: Request<pb::GroupMemberRequest>,
    ) -> Result<Response<pb::GroupResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let group = id("group", &request.group, GroupId::parse)?;
            let member = records::subject("member", request.member.as_ref())?;
            let mutation = Mutation::RemoveGroupMember {
                tenant: tenant.clone(),
                group: group.clone(),
                member,
            };
            let written = self
                .write(&caller, Some(&actor), mutation, "", None)
                .await?;
            self.group_reply(&tenant, &group, written.revision.get())
        })
        .await
    }
}
