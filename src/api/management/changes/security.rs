//! Security groups, the Administrators group included (`SecurityGroupService`), and
//! permission levels (`PermissionLevelService`).

use tonic::Status;

use super::{IdSource, chosen_id, if_masked, mask_paths};
use crate::{
    api::{
        bounds,
        convert::id,
        management::{records, security::Scope},
        pb,
        status::required,
    },
    engine::{
        ADMINISTRATORS_GROUP, LevelRecord, Mutation, ObjectScope, PermissionLevelId, PermissionSet,
        SecurityGroupId, SecurityGroupRecord, Subject,
    },
};

const SECURITY_GROUP_MASK: &[&str] = &["name", "description", "permissions", "scope"];
const LEVEL_MASK: &[&str] = &["name", "description", "permissions"];

/// What a security group and a permission level both are, a name, a description and a
/// permission set, as an update sets them: the fields the mask names (`Some`); the others
/// stay as they are.
#[derive(Debug)]
struct NamedSetUpdate {
    name: Option<String>,
    description: Option<String>,
    permissions: Option<PermissionSet>,
}

impl NamedSetUpdate {
    /// The fields of the request's message `prefix` (`security_group`, `permission_level`).
    fn parse(
        prefix: &str,
        name: &str,
        description: &str,
        permissions: &[String],
        paths: &[&str],
    ) -> Result<Self, Status> {
        let field = |part: &str| format!("{prefix}.{part}");
        bounds::text(&field("name"), name)?;
        bounds::text(&field("description"), description)?;
        if paths.contains(&"name") && name.is_empty() {
            return Err(required(&field("name")));
        }
        Ok(Self {
            name: if_masked(paths, "name", || name.to_owned()),
            description: if_masked(paths, "description", || description.to_owned()),
            permissions: if_masked(paths, "permissions", || {
                records::permission_set(&field("permissions"), permissions)
            })
            .transpose()?,
        })
    }
}

/// A change to one security group (for a creation: the id chosen for it).
#[derive(Debug)]
pub(crate) struct SecurityGroupChange {
    pub(crate) scope: Scope,
    pub(crate) group: SecurityGroupId,
    pub(crate) mutation: Mutation,
}

/// A member added to or removed from a security group (the Administrators group too).
#[derive(Debug)]
pub(crate) struct SecurityMemberChange {
    pub(crate) scope: Scope,
    pub(crate) group: SecurityGroupId,
    pub(crate) member: Subject,
    pub(crate) mutation: Mutation,
}

/// A change to one permission level (for a creation: the id chosen for it).
#[derive(Debug)]
pub(crate) struct LevelChange {
    pub(crate) scope: Scope,
    pub(crate) level: PermissionLevelId,
    pub(crate) mutation: Mutation,
}

pub(crate) fn create_security_group(
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
pub(crate) struct SecurityGroupUpdate {
    pub(crate) scope: Scope,
    pub(crate) group: SecurityGroupId,
    set: NamedSetUpdate,
    object_scope: Option<ObjectScope>,
}

impl SecurityGroupUpdate {
    pub(crate) fn merge(&self, current: SecurityGroupRecord) -> Mutation {
        Mutation::PutSecurityGroup {
            tenant: self.scope.tenant.clone(),
            service: self.scope.service.clone(),
            group: self.group.clone(),
            name: self.set.name.clone().unwrap_or(current.name),
            description: self.set.description.clone().unwrap_or(current.description),
            permissions: self.set.permissions.clone().unwrap_or(current.permissions),
            scope: self.object_scope.clone().unwrap_or(current.scope),
        }
    }
}

pub(crate) fn update_security_group(
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
    let set = NamedSetUpdate::parse(
        "security_group",
        &message.name,
        &message.description,
        &message.permissions,
        &paths,
    )?;
    let object_scope = if_masked(&paths, "scope", || {
        records::object_scope("security_group.scope", message.scope.as_ref())
    })
    .transpose()?;
    Ok(SecurityGroupUpdate {
        scope,
        group,
        set,
        object_scope,
    })
}

pub(crate) fn delete_security_group(
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
pub(crate) fn security_group_member(
    request: &pb::SecurityGroupMemberRequest,
    add: bool,
) -> Result<SecurityMemberChange, Status> {
    let scope = Scope::parse("", &request.tenant, &request.service)?;
    let group = id(
        "security_group",
        &request.security_group,
        SecurityGroupId::parse,
    )?;
    let member = records::subject("member", request.member.as_ref())?;
    let (tenant, service, subject) = (scope.tenant.clone(), scope.service.clone(), member.clone());
    let mutation = match (group.as_str() == ADMINISTRATORS_GROUP, add) {
        (true, true) => Mutation::AddAdministrator {
            tenant,
            service,
            subject,
        },
        (true, false) => Mutation::RemoveAdministrator {
            tenant,
            service,
            subject,
        },
        (false, true) => Mutation::AddSecurityGroupMember {
            tenant,
            service,
            group: group.clone(),
            member: subject,
        },
        (false, false) => Mutation::RemoveSecurityGroupMember {
            tenant,
            service,
            group: group.clone(),
            member: subject,
        },
    };
    Ok(SecurityMemberChange {
        scope,
        group,
        member,
        mutation,
    })
}

pub(crate) fn create_permission_level(
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
pub(crate) struct LevelUpdate {
    pub(crate) scope: Scope,
    pub(crate) level: PermissionLevelId,
    set: NamedSetUpdate,
}

impl LevelUpdate {
    pub(crate) fn merge(&self, current: LevelRecord) -> Mutation {
        Mutation::PutPermissionLevel {
            tenant: self.scope.tenant.clone(),
            service: self.scope.service.clone(),
            level: self.level.clone(),
            name: self.set.name.clone().unwrap_or(current.name),
            description: self.set.description.clone().unwrap_or(current.description),
            permissions: self.set.permissions.clone().unwrap_or(current.permissions),
        }
    }
}

pub(crate) fn update_permission_level(
    request: &pb::UpdatePermissionLevelRequest,
) -> Result<LevelUpdate, Status> {
    let message = request
        .permission_level
        .as_ref()
        .ok_or_else(|| required("permission_level"))?;
    let scope = Scope::parse("permission_level.", &message.tenant, &message.service)?;
    let level = id("permission_level.id", &message.id, PermissionLevelId::parse)?;
    let paths = mask_paths(bounds::mask(request.update_mask.as_ref())?, LEVEL_MASK)?;
    let set = NamedSetUpdate::parse(
        "permission_level",
        &message.name,
        &message.description,
        &message.permissions,
        &paths,
    )?;
    Ok(LevelUpdate { scope, level, set })
}

pub(crate) fn delete_permission_level(
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
