//! Users, their roles, access and sign-ins (`UserService`, `AccountService`, ownership
//! recovery) and directory groups (`GroupService`).

use tonic::Status;

use super::{IdSource, chosen_id, if_masked, mask_paths};
use crate::{
    api::{bounds, convert::id, management::records, pb, status::required},
    engine::{
        GroupId, Mutation, NewUser, ServiceId, Subject, TenantId, UserId, UserRecord, UserStatus,
    },
};

const USER_MASK: &[&str] = &["email", "display_name"];
const GROUP_MASK: &[&str] = &["name"];

/// A change to one user (for an invitation: the id chosen for it).
#[derive(Debug)]
pub(crate) struct UserChange {
    pub(crate) tenant: TenantId,
    pub(crate) user: UserId,
    pub(crate) mutation: Mutation,
}

/// A change to one directory group (for a creation: the id chosen for it).
#[derive(Debug)]
pub(crate) struct GroupChange {
    pub(crate) tenant: TenantId,
    pub(crate) group: GroupId,
    pub(crate) mutation: Mutation,
}

/// A member added to or removed from a directory group.
#[derive(Debug)]
pub(crate) struct MemberChange {
    pub(crate) tenant: TenantId,
    pub(crate) group: GroupId,
    pub(crate) member: Subject,
    pub(crate) mutation: Mutation,
}

/// The platform makes `user` the owner, as the owner's own transfer would.
pub(crate) fn recover_ownership(
    request: &pb::RecoverOwnershipRequest,
) -> Result<UserChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let user = id("user", &request.user, UserId::parse)?;
    Ok(transfer_to(tenant, user))
}

pub(crate) fn transfer_ownership(
    request: &pb::TransferOwnershipRequest,
) -> Result<UserChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let user = id("new_owner", &request.new_owner, UserId::parse)?;
    Ok(transfer_to(tenant, user))
}

fn transfer_to(tenant: TenantId, new_owner: UserId) -> UserChange {
    let mutation = Mutation::TransferOwnership {
        tenant: tenant.clone(),
        new_owner: new_owner.clone(),
    };
    UserChange {
        tenant,
        user: new_owner,
        mutation,
    }
}

/// A sign-in; `lock_after` failures in a row lock the user for `lock_for`.
pub(crate) fn report_sign_in(
    request: &pb::ReportSignInRequest,
    lock_after: u32,
    lock_for: std::time::Duration,
) -> Result<UserChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let user = id("user", &request.user, UserId::parse)?;
    let mutation = Mutation::ReportSignIn {
        tenant: tenant.clone(),
        user: user.clone(),
        success: request.success,
        lock_after,
        lock_for_millis: i64::try_from(lock_for.as_millis()).unwrap_or(i64::MAX),
    };
    Ok(UserChange {
        tenant,
        user,
        mutation,
    })
}

pub(crate) fn invite_user(
    request: &pb::InviteUserRequest,
    ids: &dyn IdSource,
) -> Result<UserChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    bounds::required_text("email", &request.email)?;
    bounds::required_text("display_name", &request.display_name)?;
    let user = chosen_id(ids, "id", &request.id, "user", UserId::parse)?;
    let invite = Mutation::InviteUser {
        tenant: tenant.clone(),
        user: NewUser {
            user: user.clone(),
            email: request.email.clone(),
            display_name: request.display_name.clone(),
            kind: records::user_kind(request.kind, "kind")?,
        },
    };
    // With a role or service access: one batch, all or none.
    let mutation = super::invitation_with_access(request, invite, &tenant, &user)?;
    Ok(UserChange {
        tenant,
        user,
        mutation,
    })
}

/// The user a [`pb::UserRefRequest`] names, and `mutation` made for it.
fn user_ref(
    request: &pb::UserRefRequest,
    mutation: impl FnOnce(TenantId, UserId) -> Mutation,
) -> Result<UserChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let user = id("user", &request.user, UserId::parse)?;
    let mutation = mutation(tenant.clone(), user.clone());
    Ok(UserChange {
        tenant,
        user,
        mutation,
    })
}

pub(crate) fn set_user_status(
    request: &pb::UserRefRequest,
    status: UserStatus,
) -> Result<UserChange, Status> {
    user_ref(request, |tenant, user| Mutation::SetUserStatus {
        tenant,
        user,
        status,
    })
}

pub(crate) fn reset_mfa(request: &pb::UserRefRequest) -> Result<UserChange, Status> {
    user_ref(request, |tenant, user| Mutation::ResetMfa { tenant, user })
}

pub(crate) fn delete_user(request: &pb::UserRefRequest) -> Result<UserChange, Status> {
    user_ref(request, |tenant, user| Mutation::DeleteUser {
        tenant,
        user,
    })
}

pub(crate) fn set_tenant_role(request: &pb::SetTenantRoleRequest) -> Result<UserChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let user = id("user", &request.user, UserId::parse)?;
    let role = records::tenant_role(request.role.as_ref())?;
    let mutation = Mutation::SetTenantRole {
        tenant: tenant.clone(),
        user: user.clone(),
        role,
    };
    Ok(UserChange {
        tenant,
        user,
        mutation,
    })
}

/// Gives (`grant`) or takes away a user's access to a service.
pub(crate) fn service_access(
    request: &pb::ServiceAccessRequest,
    grant: bool,
) -> Result<UserChange, Status> {
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
    Ok(UserChange {
        tenant,
        user,
        mutation,
    })
}

/// An update of a user's e-mail and display name: the fields the mask names (`Some`) are
/// set, merged into the user as it is when the writer applies it.
#[derive(Debug)]
pub(crate) struct UserUpdate {
    pub(crate) tenant: TenantId,
    pub(crate) user: UserId,
    email: Option<String>,
    display_name: Option<String>,
}

impl UserUpdate {
    pub(crate) fn merge(&self, current: UserRecord) -> Mutation {
        Mutation::UpdateUser {
            tenant: self.tenant.clone(),
            user: self.user.clone(),
            email: self.email.clone().unwrap_or(current.email),
            display_name: self.display_name.clone().unwrap_or(current.display_name),
        }
    }
}

pub(crate) fn update_user(request: &pb::UpdateUserRequest) -> Result<UserUpdate, Status> {
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
    Ok(UserUpdate {
        tenant,
        user,
        email: if_masked(&paths, "email", || message.email.clone()),
        display_name: if_masked(&paths, "display_name", || message.display_name.clone()),
    })
}

pub(crate) fn create_group(
    request: &pb::CreateGroupRequest,
    ids: &dyn IdSource,
) -> Result<GroupChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    bounds::required_text("name", &request.name)?;
    let group = chosen_id(ids, "id", &request.id, "group", GroupId::parse)?;
    let mutation = Mutation::CreateGroup {
        tenant: tenant.clone(),
        group: group.clone(),
        name: request.name.clone(),
    };
    Ok(GroupChange {
        tenant,
        group,
        mutation,
    })
}

/// A group's name is all an update sets, so the request makes the whole change.
pub(crate) fn update_group(request: &pb::UpdateGroupRequest) -> Result<GroupChange, Status> {
    let message = request.group.as_ref().ok_or_else(|| required("group"))?;
    let tenant = id("group.tenant", &message.tenant, TenantId::parse)?;
    let group = id("group.id", &message.id, GroupId::parse)?;
    mask_paths(bounds::mask(request.update_mask.as_ref())?, GROUP_MASK)?;
    bounds::required_text("group.name", &message.name)?;
    let mutation = Mutation::UpdateGroup {
        tenant: tenant.clone(),
        group: group.clone(),
        name: message.name.clone(),
    };
    Ok(GroupChange {
        tenant,
        group,
        mutation,
    })
}

pub(crate) fn delete_group(request: &pb::GroupRefRequest) -> Result<GroupChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let group = id("group", &request.group, GroupId::parse)?;
    let mutation = Mutation::DeleteGroup {
        tenant: tenant.clone(),
        group: group.clone(),
    };
    Ok(GroupChange {
        tenant,
        group,
        mutation,
    })
}

/// The services a directory group administers from now on.
pub(crate) fn group_role(request: &pb::SetGroupRoleRequest) -> Result<GroupChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let group = id("group", &request.group, GroupId::parse)?;
    let services = &request.application_administrator_of;
    bounds::at_most_items("application_administrator_of", services.len())?;
    let services =
        crate::api::convert::ids("application_administrator_of", services, ServiceId::parse)?;
    let mutation = Mutation::SetGroupAdministers {
        tenant: tenant.clone(),
        group: group.clone(),
        services,
    };
    Ok(GroupChange {
        tenant,
        group,
        mutation,
    })
}

/// Adds (`add`) or removes a member of a directory group.
pub(crate) fn group_member(
    request: &pb::GroupMemberRequest,
    add: bool,
) -> Result<MemberChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let group = id("group", &request.group, GroupId::parse)?;
    let member = records::subject("member", request.member.as_ref())?;
    let (t, g, m) = (tenant.clone(), group.clone(), member.clone());
    let mutation = if add {
        Mutation::AddGroupMember {
            tenant: t,
            group: g,
            member: m,
        }
    } else {
        Mutation::RemoveGroupMember {
            tenant: t,
            group: g,
            member: m,
        }
    };
    Ok(MemberChange {
        tenant,
        group,
        member,
        mutation,
    })
}
