//! Change-making requests → engine mutations: every check and conversion of a request's
//! fields that a change needs, in the order the client's mistakes are reported.
//!
//! The handlers and the request fuzz target (`fuzz.rs`) both call these, so fuzzing runs
//! exactly the conversions a call runs. What a change needs from the server rather than
//! the request comes in as an argument: ids the caller left empty ([`IdSource`]), the
//! time, the lockout settings, the state an update is merged into. Etags, request ids and
//! reading the result back stay with the handlers.

use std::collections::BTreeSet;

use tonic::Status;

use super::{objects::ObjectKey, pb, records, security::Scope};
use crate::{
    api::{
        bounds,
        convert::{id, optional_id},
        status::{self, invalid_field, required},
    },
    engine::{
        ADMINISTRATORS_GROUP, Access, CustomerId, GrantId, GrantNode, GroupId, IdError,
        LevelRecord, Mutation, NewUser, ObjectId, ObjectRecord, ObjectScope, PermissionLevelId,
        PermissionSet, SecurityGroupId, SecurityGroupRecord, ServiceId, Snapshot, TenantId,
        Timestamp, UserId, UserRecord, UserStatus,
    },
};

const SERVICE_MASK: &[&str] = &["display_name", "permissions", "object_types", "demotion"];
const USER_MASK: &[&str] = &["email", "display_name"];
const GROUP_MASK: &[&str] = &["name"];
const OBJECT_MASK: &[&str] = &["name", "related"];
const SECURITY_GROUP_MASK: &[&str] = &["name", "description", "permissions", "scope"];
const LEVEL_MASK: &[&str] = &["name", "description", "permissions"];

/// Where the id of a resource comes from when the caller leaves it for the server.
pub(super) trait IdSource {
    /// A new id: `prefix-` and a suffix no other call gets.
    fn new_id(&self, prefix: &str) -> String;
}

/// An id the caller may leave empty for the server to choose.
fn chosen_id<T>(
    ids: &dyn IdSource,
    field: &str,
    text: &str,
    prefix: &str,
    parse: fn(&str) -> Result<T, IdError>,
) -> Result<T, Status> {
    if text.is_empty() {
        let generated = ids.new_id(prefix);
        parse(&generated).map_err(|err| status::internal(format!("generated id: {err}")))
    } else {
        id(field, text, parse)
    }
}

/// The paths of an update mask, each one of `allowed`; an empty mask means all of them.
fn mask_paths(
    mask: Option<&prost_types::FieldMask>,
    allowed: &'static [&'static str],
) -> Result<Vec<&'static str>, Status> {
    let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        return Ok(allowed.to_vec());
    }
    paths
        .iter()
        .map(|path| {
            allowed
                .iter()
                .find(|a| **a == path.as_str())
                .copied()
                .ok_or_else(|| {
                    invalid_field(
                        "update_mask",
                        format!(
                            "`{path}` cannot be updated; allowed: {}",
                            allowed.join(", ")
                        ),
                    )
                })
        })
        .collect()
}

/// `value` when the mask names `path`: the field an update sets; `None` keeps it as it is.
fn if_masked<T>(paths: &[&str], path: &str, value: impl FnOnce() -> T) -> Option<T> {
    paths.contains(&path).then(value)
}

/// A change to a tenant (for a creation: the id chosen for it).
#[derive(Debug)]
pub(super) struct TenantChange {
    pub(super) tenant: TenantId,
    pub(super) mutation: Mutation,
}

/// A change to a service's definition.
#[derive(Debug)]
pub(super) struct ServiceChange {
    pub(super) service: ServiceId,
    pub(super) mutation: Mutation,
}

/// A change to one user (for an invitation: the id chosen for it).
#[derive(Debug)]
pub(super) struct UserChange {
    pub(super) tenant: TenantId,
    pub(super) user: UserId,
    pub(super) mutation: Mutation,
}

/// A change to one directory group (for a creation: the id chosen for it).
#[derive(Debug)]
pub(super) struct GroupChange {
    pub(super) tenant: TenantId,
    pub(super) group: GroupId,
    pub(super) mutation: Mutation,
}

/// A change to one object (for a creation: the id chosen for it).
#[derive(Debug)]
pub(super) struct ObjectChange {
    pub(super) key: ObjectKey,
    pub(super) mutation: Mutation,
}

/// A change to one security group (for a creation: the id chosen for it).
#[derive(Debug)]
pub(super) struct SecurityGroupChange {
    pub(super) scope: Scope,
    pub(super) group: SecurityGroupId,
    pub(super) mutation: Mutation,
}

/// A change to one permission level (for a creation: the id chosen for it).
#[derive(Debug)]
pub(super) struct LevelChange {
    pub(super) scope: Scope,
    pub(super) level: PermissionLevelId,
    pub(super) mutation: Mutation,
}

/// A change to one grant (for a new one: the id chosen for it).
#[derive(Debug)]
pub(super) struct GrantChange {
    pub(super) tenant: TenantId,
    pub(super) service: ServiceId,
    pub(super) grant: GrantId,
    pub(super) mutation: Mutation,
}

pub(super) fn create_tenant(
    request: &pb::CreateTenantRequest,
    ids: &dyn IdSource,
) -> Result<TenantChange, Status> {
    let tenant = chosen_id(ids, "id", &request.id, "tenant", TenantId::parse)?;
    bounds::required_text("name", &request.name)?;
    bounds::required_text("owner_email", &request.owner_email)?;
    bounds::required_text("owner_display_name", &request.owner_display_name)?;
    let mutation = Mutation::CreateTenant {
        tenant: tenant.clone(),
        name: request.name.clone(),
        customer: optional_id("customer", &request.customer, CustomerId::parse)?,
        owner: NewUser {
            user: chosen_id(ids, "owner_id", &request.owner_id, "user", UserId::parse)?,
            email: request.owner_email.clone(),
            display_name: request.owner_display_name.clone(),
            kind: records::user_kind(request.owner_kind, "owner_kind")?,
        },
    };
    Ok(TenantChange { tenant, mutation })
}

pub(super) fn register_service(
    request: &pb::RegisterServiceRequest,
) -> Result<ServiceChange, Status> {
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
    Ok(ServiceChange { service, mutation })
}

/// The whole new definition: what the mask leaves out comes from the service as it is in
/// `current` (the writer replaces definitions whole).
pub(super) fn update_service(
    request: &pb::UpdateServiceRequest,
    current: &Snapshot,
) -> Result<ServiceChange, Status> {
    let message = request
        .service
        .as_ref()
        .ok_or_else(|| required("service"))?;
    let service = id("service.id", &message.id, ServiceId::parse)?;
    let paths = mask_paths(bounds::mask(request.update_mask.as_ref())?, SERVICE_MASK)?;
    let record = current
        .service_record(&service)
        .map_err(|err| status::not_found(&err))?;
    // Fill what the mask leaves out from the current definition, then validate the whole.
    let mut merged = records::service(&record);
    for path in paths {
        match path {
            "display_name" => merged.display_name.clone_from(&message.display_name),
            "permissions" => merged.permissions.clone_from(&message.permissions),
            "object_types" => merged.object_types.clone_from(&message.object_types),
            _ => merged.demotion = message.demotion,
        }
    }
    let definition = records::service_definition(&merged, "service")?;
    let mutation = Mutation::UpdateService {
        service: service.clone(),
        definition,
    };
    Ok(ServiceChange { service, mutation })
}

pub(super) fn subscribe_service(
    request: &pb::SubscribeServiceRequest,
) -> Result<TenantChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let service = id("service", &request.service, ServiceId::parse)?;
    let mutation = Mutation::SubscribeService {
        tenant: tenant.clone(),
        service,
    };
    Ok(TenantChange { tenant, mutation })
}

/// The platform makes `user` the owner, as the owner's own transfer would.
pub(super) fn recover_ownership(
    request: &pb::RecoverOwnershipRequest,
) -> Result<UserChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let user = id("user", &request.user, UserId::parse)?;
    Ok(transfer_to(tenant, user))
}

pub(super) fn transfer_ownership(
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
pub(super) fn report_sign_in(
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

pub(super) fn invite_user(
    request: &pb::InviteUserRequest,
    ids: &dyn IdSource,
) -> Result<UserChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    bounds::required_text("email", &request.email)?;
    bounds::required_text("display_name", &request.display_name)?;
    let user = chosen_id(ids, "id", &request.id, "user", UserId::parse)?;
    let mutation = Mutation::InviteUser {
        tenant: tenant.clone(),
        user: NewUser {
            user: user.clone(),
            email: request.email.clone(),
            display_name: request.display_name.clone(),
            kind: records::user_kind(request.kind, "kind")?,
        },
    };
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

pub(super) fn set_user_status(
    request: &pb::UserRefRequest,
    status: UserStatus,
) -> Result<UserChange, Status> {
    user_ref(request, |tenant, user| Mutation::SetUserStatus {
        tenant,
        user,
        status,
    })
}

pub(super) fn reset_mfa(request: &pb::UserRefRequest) -> Result<UserChange, Status> {
    user_ref(request, |tenant, user| Mutation::ResetMfa { tenant, user })
}

pub(super) fn delete_user(request: &pb::UserRefRequest) -> Result<UserChange, Status> {
    user_ref(request, |tenant, user| Mutation::DeleteUser {
        tenant,
        user,
    })
}

pub(super) fn set_tenant_role(request: &pb::SetTenantRoleRequest) -> Result<UserChange, Status> {
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
pub(super) fn service_access(
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
pub(super) struct UserUpdate {
    pub(super) tenant: TenantId,
    pub(super) user: UserId,
    email: Option<String>,
    display_name: Option<String>,
}

impl UserUpdate {
    pub(super) fn merge(&self, current: UserRecord) -> Mutation {
        Mutation::UpdateUser {
            tenant: self.tenant.clone(),
            user: self.user.clone(),
            email: self.email.clone().unwrap_or(current.email),
            display_name: self.display_name.clone().unwrap_or(current.display_name),
        }
    }
}

pub(super) fn update_user(request: &pb::UpdateUserRequest) -> Result<UserUpdate, Status> {
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

pub(super) fn create_group(
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
pub(super) fn update_group(request: &pb::UpdateGroupRequest) -> Result<GroupChange, Status> {
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

pub(super) fn delete_group(request: &pb::GroupRefRequest) -> Result<GroupChange, Status> {
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

/// Adds (`add`) or removes a member of a directory group.
pub(super) fn group_member(
    request: &pb::GroupMemberRequest,
    add: bool,
) -> Result<GroupChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let group = id("group", &request.group, GroupId::parse)?;
    let member = records::subject("member", request.member.as_ref())?;
    let (t, g) = (tenant.clone(), group.clone());
    let mutation = if add {
        Mutation::AddGroupMember {
            tenant: t,
            group: g,
            member,
        }
    } else {
        Mutation::RemoveGroupMember {
            tenant: t,
            group: g,
            member,
        }
    };
    Ok(GroupChange {
        tenant,
        group,
        mutation,
    })
}

pub(super) fn create_object(
    request: &pb::CreateObjectRequest,
    ids: &dyn IdSource,
) -> Result<ObjectChange, Status> {
    let message = request.object.as_ref().ok_or_else(|| required("object"))?;
    let tenant = id("object.tenant", &message.tenant, TenantId::parse)?;
    let service = id("object.service", &message.service, ServiceId::parse)?;
    if message.r#type.is_empty() {
        return Err(required("object.type"));
    }
    bounds::at_most(
        "object.type",
        &message.r#type,
        bounds::MAX_OBJECT_TYPE_BYTES,
    )?;
    bounds::required_text("object.name", &message.name)?;
    let key = ObjectKey {
        tenant,
        service,
        object: chosen_id(ids, "object.id", &message.id, "object", ObjectId::parse)?,
    };
    let mutation = Mutation::CreateObject {
        tenant: key.tenant.clone(),
        service: key.service.clone(),
        object: key.object.clone(),
        object_type: message.r#type.clone(),
        name: message.name.clone(),
        parent: records::optional_object("object.parent", &message.parent)?,
        related: records::object_ids("object.related", &message.related)?,
    };
    Ok(ObjectChange { key, mutation })
}

/// An update of an object's name and related objects: the fields the mask names (`Some`)
/// are set, merged into the object as it is when the writer applies it.
#[derive(Debug)]
pub(super) struct ObjectUpdate {
    pub(super) key: ObjectKey,
    name: Option<String>,
    related: Option<BTreeSet<ObjectId>>,
}

impl ObjectUpdate {
    pub(super) fn merge(&self, current: ObjectRecord) -> Mutation {
        Mutation::UpdateObject {
            tenant: self.key.tenant.clone(),
            service: self.key.service.clone(),
            object: self.key.object.clone(),
            name: self.name.clone().unwrap_or(current.name),
            related: self
                .related
                .clone()
                .unwrap_or_else(|| current.related.into_iter().collect()),
        }
    }
}

pub(super) fn update_object(request: &pb::UpdateObjectRequest) -> Result<ObjectUpdate, Status> {
    let message = request.object.as_ref().ok_or_else(|| required("object"))?;
    let key = ObjectKey::parse("object.", &message.tenant, &message.service, &message.id)?;
    let paths = mask_paths(bounds::mask(request.update_mask.as_ref())?, OBJECT_MASK)?;
    bounds::text("object.name", &message.name)?;
    if paths.contains(&"name") && message.name.is_empty() {
        return Err(required("object.name"));
    }
    // Checked whether or not the mask names it: a bad id is the client's mistake either way.
    let related = records::object_ids("object.related", &message.related)?;
    Ok(ObjectUpdate {
        key,
        name: if_masked(&paths, "name", || message.name.clone()),
        related: if_masked(&paths, "related", || related),
    })
}

pub(super) fn move_object(request: &pb::MoveObjectRequest) -> Result<ObjectChange, Status> {
    let key = ObjectKey::parse("", &request.tenant, &request.service, &request.object)?;
    let mutation = Mutation::MoveObject {
        tenant: key.tenant.clone(),
        service: key.service.clone(),
        object: key.object.clone(),
        new_parent: records::optional_object("new_parent", &request.new_parent)?,
    };
    Ok(ObjectChange { key, mutation })
}

pub(super) fn delete_object(request: &pb::ObjectRefRequest) -> Result<ObjectChange, Status> {
    let key = ObjectKey::parse("", &request.tenant, &request.service, &request.object)?;
    let mutation = Mutation::DeleteObject {
        tenant: key.tenant.clone(),
        service: key.service.clone(),
        object: key.object.clone(),
    };
    Ok(ObjectChange { key, mutation })
}

pub(super) fn create_security_group(
    request: &pb::CreateSecurityGroupRequest,
    ids: &dyn IdSource,
) -> Result<SecurityGroupChange, Status> {
    let message = request
        .security_group
        .as_ref()
        .ok_or_else(|| required("security_group"))?;
    let scope = Scope::parse("security_group.", &message.tenant, &message.service)?;
    bounds::required_text("security_group.name", &message.name)?;
    bounds::text("security_group.description", &message.description)?;
    let group = chosen_id(
        ids,
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
        permissions: records::permission_set("security_group.permissions", &message.permissions)?,
        scope: records::object_scope("security_group.scope", message.scope.as_ref())?,
    };
    Ok(SecurityGroupChange {
        scope,
        group,
        mutation,
    })
}

/// An update of a security group: the fields the mask names (`Some`) are set, merged into
/// the group as it is when the writer applies it.
#[derive(Debug)]
pub(super) struct SecurityGroupUpdate {
    pub(super) scope: Scope,
    pub(super) group: SecurityGroupId,
    name: Option<String>,
    description: Option<String>,
    permissions: Option<PermissionSet>,
    object_scope: Option<ObjectScope>,
}

impl SecurityGroupUpdate {
    pub(super) fn merge(&self, current: SecurityGroupRecord) -> Mutation {
        Mutation::PutSecurityGroup {
            tenant: self.scope.tenant.clone(),
            service: self.scope.service.clone(),
            group: self.group.clone(),
            name: self.name.clone().unwrap_or(current.name),
            description: self.description.clone().unwrap_or(current.description),
            permissions: self.permissions.clone().unwrap_or(current.permissions),
            scope: self.object_scope.clone().unwrap_or(current.scope),
        }
    }
}

pub(super) fn update_security_group(
    request: &pb::UpdateSecurityGroupRequest,
) -> Result<SecurityGroupUpdate, Status> {
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
    let permissions = if_masked(&paths, "permissions", || {
        records::permission_set("security_group.permissions", &message.permissions)
    })
    .transpose()?;
    let object_scope = if_masked(&paths, "scope", || {
        records::object_scope("security_group.scope", message.scope.as_ref())
    })
    .transpose()?;
    Ok(SecurityGroupUpdate {
        scope,
        group,
        name: if_masked(&paths, "name", || message.name.clone()),
        description: if_masked(&paths, "description", || message.description.clone()),
        permissions,
        object_scope,
    })
}

pub(super) fn delete_security_group(
    request: &pb::SecurityGroupRefRequest,
) -> Result<SecurityGroupChange, Status> {
    let scope = Scope::parse("", &request.tenant, &request.service)?;
    let group = id(
        "security_group",
        &request.security_group,
        SecurityGroupId::parse,
    )?;
    let mutation = Mutation::DeleteSecurityGroup {
        tenant: scope.tenant.clone(),
        service: scope.service.clone(),
        group: group.clone(),
    };
    Ok(SecurityGroupChange {
        scope,
        group,
        mutation,
    })
}

/// Adds (`add`) or removes a member; the built-in Administrators group has changes of its
/// own, since its members administer the service rather than hold a permission set.
pub(super) fn security_group_member(
    request: &pb::SecurityGroupMemberRequest,
    add: bool,
) -> Result<SecurityGroupChange, Status> {
    let scope = Scope::parse("", &request.tenant, &request.service)?;
    let group = id(
        "security_group",
        &request.security_group,
        SecurityGroupId::parse,
    )?;
    let member = records::subject("member", request.member.as_ref())?;
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
    Ok(SecurityGroupChange {
        scope,
        group,
        mutation,
    })
}

pub(super) fn create_permission_level(
    request: &pb::CreatePermissionLevelRequest,
    ids: &dyn IdSource,
) -> Result<LevelChange, Status> {
    let message = request
        .permission_level
        .as_ref()
        .ok_or_else(|| required("permission_level"))?;
    let scope = Scope::parse("permission_level.", &message.tenant, &message.service)?;
    bounds::required_text("permission_level.name", &message.name)?;
    bounds::text("permission_level.description", &message.description)?;
    let level = chosen_id(
        ids,
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
        permissions: records::permission_set("permission_level.permissions", &message.permissions)?,
    };
    Ok(LevelChange {
        scope,
        level,
        mutation,
    })
}

/// An update of a permission level: the fields the mask names (`Some`) are set, merged
/// into the level as it is when the writer applies it.
#[derive(Debug)]
pub(super) struct LevelUpdate {
    pub(super) scope: Scope,
    pub(super) level: PermissionLevelId,
    name: Option<String>,
    description: Option<String>,
    permissions: Option<PermissionSet>,
}

impl LevelUpdate {
    pub(super) fn merge(&self, current: LevelRecord) -> Mutation {
        Mutation::PutPermissionLevel {
            tenant: self.scope.tenant.clone(),
            service: self.scope.service.clone(),
            level: self.level.clone(),
            name: self.name.clone().unwrap_or(current.name),
            description: self.description.clone().unwrap_or(current.description),
            permissions: self.permissions.clone().unwrap_or(current.permissions),
        }
    }
}

pub(super) fn update_permission_level(
    request: &pb::UpdatePermissionLevelRequest,
) -> Result<LevelUpdate, Status> {
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
    let permissions = if_masked(&paths, "permissions", || {
        records::permission_set("permission_level.permissions", &message.permissions)
    })
    .transpose()?;
    Ok(LevelUpdate {
        scope,
        level,
        name: if_masked(&paths, "name", || message.name.clone()),
        description: if_masked(&paths, "description", || message.description.clone()),
        permissions,
    })
}

pub(super) fn delete_permission_level(
    request: &pb::PermissionLevelRefRequest,
) -> Result<LevelChange, Status> {
    let scope = Scope::parse("", &request.tenant, &request.service)?;
    let level = id(
        "permission_level",
        &request.permission_level,
        PermissionLevelId::parse,
    )?;
    let mutation = Mutation::DeletePermissionLevel {
        tenant: scope.tenant.clone(),
        service: scope.service.clone(),
        level: level.clone(),
    };
    Ok(LevelChange {
        scope,
        level,
        mutation,
    })
}

/// A new grant; its expiry must lie after `now`.
pub(super) fn give_grant(
    request: &pb::GiveGrantRequest,
    ids: &dyn IdSource,
    now: Timestamp,
) -> Result<GrantChange, Status> {
    let message = request.grant.as_ref().ok_or_else(|| required("grant"))?;
    let tenant = id("grant.tenant", &message.tenant, TenantId::parse)?;
    let service = id("grant.service", &message.service, ServiceId::parse)?;
    let access = match (message.level.is_empty(), message.permissions.is_empty()) {
        (false, true) => {
            Access::Level(id("grant.level", &message.level, PermissionLevelId::parse)?)
        }
        (true, false) => Access::Permissions(records::permission_set(
            "grant.permissions",
            &message.permissions,
        )?),
        (false, false) => {
            return Err(invalid_field(
                "grant",
                "give either `level` or `permissions`, not both",
            ));
        }
        (true, true) => {
            return Err(invalid_field(
                "grant",
                "give a permission level (`level`) or a permission set (`permissions`)",
            ));
        }
    };
    let node = match records::optional_object("grant.object", &message.object)? {
        Some(object) => GrantNode::Object(object),
        None => GrantNode::Service,
    };
    let grant = chosen_id(ids, "grant.id", &message.id, "grant", GrantId::parse)?;
    let mutation = Mutation::GiveGrant {
        tenant: tenant.clone(),
        service: service.clone(),
        grant: grant.clone(),
        subject: records::subject("grant.subject", message.subject.as_ref())?,
        access,
        node,
        expires_at: records::expiry("grant.expires_at", message.expires_at.as_ref(), now)?,
    };
    Ok(GrantChange {
        tenant,
        service,
        grant,
        mutation,
    })
}

pub(super) fn revoke_grant(request: &pb::RevokeGrantRequest) -> Result<GrantChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let service = id("service", &request.service, ServiceId::parse)?;
    let grant = id("grant", &request.grant, GrantId::parse)?;
    let mutation = Mutation::RevokeGrant {
        tenant: tenant.clone(),
        service: service.clone(),
        grant: grant.clone(),
        with_dependents: request.with_dependents,
    };
    Ok(GrantChange {
        tenant,
        service,
        grant,
        mutation,
    })
}
