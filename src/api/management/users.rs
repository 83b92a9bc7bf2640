//! `UserService` (users, tenant roles, service access) and `GroupService` (directory
//! groups and their members).

use tonic::{Request, Response, Status};

use super::{
    Caller, ManagementApi,
    changes::{self, GroupChange, UserChange},
    etag_matches, list_page, pb, records, reply,
    selection::{GroupSelection, UserSelection},
};
use crate::{
    api::{bounds, convert::id, status},
    app::{Precondition, WriteError},
    engine::{Actor, GroupId, Mutation, TenantId, UserId, UserStatus},
};

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

/// Reads a user's current etag.
fn user_etag(
    tenant: &TenantId,
    user: &UserId,
) -> impl FnOnce(&crate::engine::Snapshot) -> Option<String> + Send + 'static {
    let (tenant, user) = (tenant.clone(), user.clone());
    move |s| {
        s.user_record(&tenant, &user)
            .ok()
            .map(|r| records::etag(r.changed_at))
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
            .map(|r| records::etag(r.changed_at))
    }
}

/// The check, made by the writer on the state a bulk item meets, that the user it names
/// has a status `from` allows (a user it does not find is the change's own `NOT_FOUND`).
pub(super) fn status_now(mutation: &Mutation, from: &'static StatusNow) -> Option<Precondition> {
    let Mutation::SetUserStatus { tenant, user, .. } = mutation else {
        return None;
    };
    let (tenant, user) = (tenant.clone(), user.clone());
    Some(Precondition::new(move |state| {
        match state.user_record(&tenant, &user) {
            Ok(record) if !(from.holds)(record.status) => Err(WriteError::StateRefused {
                reason: from.reason,
                subject: format!("user {user}"),
                message: format!("user `{user}` is not {}", from.state),
            }),
            _ => Ok(()),
        }
    }))
}

impl ManagementApi {
    /// Writes a change to one user (with the client's etag, if any) and answers with the
    /// user as it is afterwards.
    pub(super) async fn change_user(
        &self,
        caller: &Caller,
        actor: &Actor,
        change: UserChange,
        etag: &str,
    ) -> Result<Response<pb::UserResponse>, Status> {
        let precondition = etag_matches(etag, user_etag(&change.tenant, &change.user))?;
        let written = self
            .write(caller, Some(actor), change.mutation, "", precondition)
            .await?;
        self.user_reply(&change.tenant, &change.user, written.revision.get())
    }

    /// Sets a user's status; with `from`, only when the status the user has when the
    /// writer applies the change allows it (no other change slips in between).
    pub(super) async fn set_user_status(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::UserRefRequest,
        status: UserStatus,
        from: Option<&'static StatusNow>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        let change = changes::set_user_status(request, status)?;
        let etag = etag_matches(&request.etag, user_etag(&change.tenant, &change.user))?;
        let status_now = from.and_then(|from| status_now(&change.mutation, from));
        let precondition = Precondition::both(etag, status_now);
        let written = self
            .write(caller, Some(actor), change.mutation, "", precondition)
            .await?;
        self.user_reply(&change.tenant, &change.user, written.revision.get())
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

    /// Writes a change to one group (with the client's etag precondition, if any) and
    /// answers with the group as it is afterwards.
    async fn change_group(
        &self,
        caller: &Caller,
        actor: &Actor,
        change: GroupChange,
        precondition: Option<crate::app::Precondition>,
    ) -> Result<Response<pb::GroupResponse>, Status> {
        let written = self
            .write(caller, Some(actor), change.mutation, "", precondition)
            .await?;
        self.group_reply(&change.tenant, &change.group, written.revision.get())
    }

    /// Adds (`add`) or removes a member of a directory group, answering with the
    /// membership: the group's member list, which may be long, is not copied or sent.
    async fn group_member(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::GroupMemberRequest,
        add: bool,
    ) -> Result<Response<pb::GroupMembershipResponse>, Status> {
        let change = changes::group_member(request, add)?;
        let written = self
            .write(caller, Some(actor), change.mutation, "", None)
            .await?;
        let member = change.member;
        let membership =
            self.after_write(|s| s.group_membership(&change.tenant, &change.group, &member))?;
        reply(pb::GroupMembershipResponse {
            tenant: change.tenant.to_string(),
            group: change.group.to_string(),
            member: Some(crate::api::convert::subject(&member)),
            is_member: membership.is_member,
            member_count: u64::try_from(membership.members).unwrap_or(u64::MAX),
            etag: records::etag(membership.changed_at),
            revision: written.revision.get(),
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

#[tonic::async_trait]
impl pb::user_service_server::UserService for ManagementApi {
    async fn invite_user(
        &self,
        request: Request<pb::InviteUserRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::invite_user(&request, self)?;
            let written = self
                .write(
                    &caller,
                    Some(&actor),
                    change.mutation.clone(),
                    &request.request_id,
                    None,
                )
                .await?;
            // The invitation, alone or first in the batch with its role and access.
            let invited = match written.mutation(&change.mutation) {
                Mutation::Batch { changes, .. } => changes.first(),
                alone => Some(alone),
            };
            let Some(Mutation::InviteUser { user, .. }) = invited else {
                return Err(status::internal("retried change is not an invitation"));
            };
            self.user_reply(&change.tenant, &user.user, written.revision.get())
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
                .filter(|u| wanted.reaches(&snapshot, &tenant, &u.id))
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
            let update = changes::update_user(&request)?;
            let (tenant, user) = (update.tenant.clone(), update.user.clone());
            let (t, u) = (tenant.clone(), user.clone());
            let revision = self
                .update(
                    &caller,
                    &actor,
                    &request.etag,
                    move |s| {
                        let record = s.user_record(&t, &u).ok()?;
                        let etag = records::etag(record.changed_at);
                        Some((record, etag))
                    },
                    move |current| update.merge(current),
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
            let change = changes::delete_user(&request)?;
            let precondition =
                etag_matches(&request.etag, user_etag(&change.tenant, &change.user))?;
            self.delete(&caller, &actor, change.mutation, precondition)
                .await
        })
        .await
    }

    async fn set_tenant_role(
        &self,
        request: Request<pb::SetTenantRoleRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::set_tenant_role(&request)?;
            self.change_user(&caller, &actor, change, &request.etag)
                .await
        })
        .await
    }

    async fn transfer_ownership(
        &self,
        request: Request<pb::TransferOwnershipRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::transfer_ownership(&request)?;
            self.change_user(&caller, &actor, change, "").await
        })
        .await
    }

    async fn bulk_delete_users(
        &self,
        request: Request<pb::BulkUsersRequest>,
    ) -> Result<Response<pb::BulkResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::bulk_users(&request, changes::UserAction::Delete)?;
            self.bulk(&caller, &actor, change, |_| None).await
        })
        .await
    }

    async fn bulk_set_tenant_role(
        &self,
        request: Request<pb::BulkSetTenantRoleRequest>,
    ) -> Result<Response<pb::BulkResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::bulk_set_tenant_role(&request)?;
            self.bulk(&caller, &actor, change, |_| None).await
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
            let change = changes::service_access(&request, grant)?;
            self.change_user(&caller, &actor, change, "").await
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
            let change = changes::create_group(&request, self)?;
            let written = self
                .write(
                    &caller,
                    Some(&actor),
                    change.mutation.clone(),
                    &request.request_id,
                    None,
                )
                .await?;
            let Mutation::CreateGroup { group, .. } = written.mutation(&change.mutation) else {
                return Err(status::internal("retried change is not a group creation"));
            };
            self.group_reply(&change.tenant, group, written.revision.get())
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
            let wanted = GroupSelection::of(&request)?;
            let mut groups = snapshot
                .group_records(&tenant)
                .map_err(|err| status::not_found(&err))?;
            groups.retain(|g| wanted.selects(g));
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
            let change = changes::update_group(&request)?;
            let precondition =
                etag_matches(&request.etag, group_etag(&change.tenant, &change.group))?;
            self.change_group(&caller, &actor, change, precondition)
                .await
        })
        .await
    }

    async fn delete_group(
        &self,
        request: Request<pb::GroupRefRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::delete_group(&request)?;
            let precondition =
                etag_matches(&request.etag, group_etag(&change.tenant, &change.group))?;
            self.delete(&caller, &actor, change.mutation, precondition)
                .await
        })
        .await
    }

    async fn add_group_member(
        &self,
        request: Request<pb::GroupMemberRequest>,
    ) -> Result<Response<pb::GroupMembershipResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.group_member(&caller, &actor, &request, true).await
        })
        .await
    }

    async fn remove_group_member(
        &self,
        request: Request<pb::GroupMemberRequest>,
    ) -> Result<Response<pb::GroupMembershipResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.group_member(&caller, &actor, &request, false).await
        })
        .await
    }

    async fn set_group_role(
        &self,
        request: Request<pb::SetGroupRoleRequest>,
    ) -> Result<Response<pb::GroupResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::group_role(&request)?;
            let precondition =
                etag_matches(&request.etag, group_etag(&change.tenant, &change.group))?;
            self.change_group(&caller, &actor, change, precondition)
                .await
        })
        .await
    }

    async fn bulk_add_group_members(
        &self,
        request: Request<pb::BulkGroupMembersRequest>,
    ) -> Result<Response<pb::BulkResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::bulk_group_members(&request, true)?;
            self.bulk(&caller, &actor, change, |_| None).await
        })
        .await
    }

    async fn bulk_remove_group_members(
        &self,
        request: Request<pb::BulkGroupMembersRequest>,
    ) -> Result<Response<pb::BulkResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::bulk_group_members(&request, false)?;
            self.bulk(&caller, &actor, change, |_| None).await
        })
        .await
    }
}
