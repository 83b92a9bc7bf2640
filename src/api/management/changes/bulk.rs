//! Bulk requests → one mutation per item, each made as its single call makes it; an
//! invitation with a role and service access → one batch.

use tonic::Status;

use crate::{
    api::{bounds, convert::id, management::records, pb, status},
    engine::{GroupId, Mutation, ServiceId, TenantId, UserId},
};

/// The items of a bulk call, in request order, all in one tenant.
#[derive(Debug)]
pub(crate) struct BulkChange {
    pub(crate) tenant: TenantId,
    pub(crate) items: Vec<Mutation>,
}

/// What a bulk call over users does to each.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UserAction {
    /// `BulkDeleteUsers`: as `DeleteUser`.
    Delete,
    /// `BulkUnlockUsers`: as `UnlockUser` (the handler adds the check that each is locked).
    Unlock,
    /// `BulkResetMfa`: as `ResetMfa`.
    ResetMfa,
}

/// `BulkDeleteUsers`, `BulkUnlockUsers`, `BulkResetMfa`.
pub(crate) fn bulk_users(
    request: &pb::BulkUsersRequest,
    action: UserAction,
) -> Result<BulkChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let users = users(&request.users)?;
    let items = users
        .into_iter()
        .map(|user| {
            let tenant = tenant.clone();
            match action {
                UserAction::Delete => Mutation::DeleteUser { tenant, user },
                UserAction::Unlock => Mutation::SetUserStatus {
                    tenant,
                    user,
                    status: crate::engine::UserStatus::Active,
                },
                UserAction::ResetMfa => Mutation::ResetMfa { tenant, user },
            }
        })
        .collect();
    Ok(BulkChange { tenant, items })
}

/// `BulkSetTenantRole`: the same role for every user.
pub(crate) fn bulk_set_tenant_role(
    request: &pb::BulkSetTenantRoleRequest,
) -> Result<BulkChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let users = users(&request.users)?;
    let role = records::tenant_role(request.role.as_ref())?;
    let items = users
        .into_iter()
        .map(|user| Mutation::SetTenantRole {
            tenant: tenant.clone(),
            user,
            role: role.clone(),
        })
        .collect();
    Ok(BulkChange { tenant, items })
}

/// `BulkAddGroupMembers` (`add`) and `BulkRemoveGroupMembers`.
pub(crate) fn bulk_group_members(
    request: &pb::BulkGroupMembersRequest,
    add: bool,
) -> Result<BulkChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let group = id("group", &request.group, GroupId::parse)?;
    bounds::bulk_items("members", request.members.len())?;
    let members = request
        .members
        .iter()
        .enumerate()
        .map(|(n, member)| records::subject(&format!("members[{n}]"), Some(member)))
        .collect::<Result<Vec<_>, _>>()?;
    distinct("members", &members)?;
    let items = members
        .into_iter()
        .map(|member| {
            let (tenant, group) = (tenant.clone(), group.clone());
            if add {
                Mutation::AddGroupMember {
                    tenant,
                    group,
                    member,
                }
            } else {
                Mutation::RemoveGroupMember {
                    tenant,
                    group,
                    member,
                }
            }
        })
        .collect();
    Ok(BulkChange { tenant, items })
}

/// An invitation (`invite`, an `InviteUser` mutation) with the request's role and service
/// access: one batch of the invitation, the role, then each service, or the invitation
/// alone when the request asks for neither.
pub(crate) fn invitation_with_access(
    request: &pb::InviteUserRequest,
    invite: Mutation,
    tenant: &TenantId,
    user: &UserId,
) -> Result<Mutation, Status> {
    if request.role.is_none() && request.service_access.is_empty() {
        return Ok(invite);
    }
    // The invitation and the role take two of the batch's places.
    if request.service_access.len() > bounds::MAX_BULK_ITEMS - 2 {
        return Err(status::bulk_items(
            "service_access",
            request.service_access.len(),
            bounds::MAX_BULK_ITEMS - 2,
        ));
    }
    let role = request
        .role
        .as_ref()
        .map(|role| records::tenant_role(Some(role)))
        .transpose()?;
    let services = request
        .service_access
        .iter()
        .enumerate()
        .map(|(n, service)| id(&format!("service_access[{n}]"), service, ServiceId::parse))
        .collect::<Result<Vec<_>, _>>()?;
    distinct("service_access", &services)?;
    let mut changes = vec![invite];
    changes.extend(role.map(|role| Mutation::SetTenantRole {
        tenant: tenant.clone(),
        user: user.clone(),
        role,
    }));
    changes.extend(
        services
            .into_iter()
            .map(|service| Mutation::GrantServiceAccess {
                tenant: tenant.clone(),
                user: user.clone(),
                service,
            }),
    );
    Ok(Mutation::Batch {
        tenant: tenant.clone(),
        changes,
    })
}

/// The users of a bulk call: 1 to [`bounds::MAX_BULK_ITEMS`] well-formed ids, each once.
fn users(texts: &[String]) -> Result<Vec<UserId>, Status> {
    bounds::bulk_items("users", texts.len())?;
    let users = texts
        .iter()
        .enumerate()
        .map(|(n, text)| id(&format!("users[{n}]"), text, UserId::parse))
        .collect::<Result<Vec<_>, _>>()?;
    distinct("users", &users)?;
    Ok(users)
}

/// Refuses a list that names an item twice, naming the second place.
fn distinct<T: PartialEq>(field: &str, items: &[T]) -> Result<(), Status> {
    for (index, item) in items.iter().enumerate() {
        if let Some(first) = items.iter().take(index).position(|earlier| earlier == item) {
            return Err(status::bulk_duplicate(field, index, first));
        }
    }
    Ok(())
}

/// A bulk call's item as its reply names it: the user, or the member (`user:ID`).
pub(crate) fn item_name(item: &Mutation) -> String {
    match item {
        Mutation::AddGroupMember { member, .. } | Mutation::RemoveGroupMember { member, .. } => {
            match member {
                crate::engine::Subject::User(user) => format!("user:{user}"),
                crate::engine::Subject::Group(group) => format!("group:{group}"),
            }
        }
        other => other
            .touched()
            .subjects
            .first()
            .map(|subject| subject.id().to_owned())
            .unwrap_or_default(),
    }
}
