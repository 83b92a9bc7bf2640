//! Engine records ↔ protobuf resources, each with its etag.

use tonic::Status;

use super::super::{
    bounds,
    convert::{self, id, optional_id},
    pb,
    status::{invalid_field, required},
};
use crate::engine::{
    Access, AdminFunctions, DemotionPolicy, GrantNode, GrantRecord, GroupId, GroupRecord,
    LevelRecord, ObjectId, ObjectRecord, ObjectScope, ObjectType, PermissionSet, Revision,
    SecurityGroupRecord, ServiceDefinition, ServiceId, ServiceRecord, Subject, TenantRecord,
    TenantRole, Timestamp, UserId, UserKind, UserRecord, UserStatus,
    tenant_roles::TenantRoleRecord,
};

/// The etag of a resource: the revision of its last change. The engine stamps a resource
/// with every change that alters what a client sees of it, so the etag changes exactly
/// then, and reading it costs nothing.
pub(crate) fn etag(changed_at: Revision) -> String {
    format!("r{changed_at}")
}

fn ids<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

fn patterns(set: &PermissionSet) -> Vec<String> {
    set.0.iter().map(ToString::to_string).collect()
}

pub(crate) fn tenant(record: &TenantRecord) -> pb::Tenant {
    pb::Tenant {
        id: record.id.to_string(),
        name: record.name.clone(),
        customer: record
            .customer
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        owner: record.owner.to_string(),
        services: ids(&record.services),
        etag: etag(record.changed_at),
    }
}

pub(crate) fn service(record: &ServiceRecord) -> pb::ServiceDefinition {
    let definition = &record.definition;
    pb::ServiceDefinition {
        id: record.id.to_string(),
        display_name: definition.display_name.clone(),
        permissions: ids(&definition.permissions),
        object_types: definition
            .object_types
            .iter()
            .map(|t| pb::ObjectType {
                name: t.name.clone(),
                top_level: t.top_level,
                may_contain: t.may_contain.iter().cloned().collect(),
            })
            .collect(),
        demotion: match definition.demotion {
            DemotionPolicy::RemoveFromAdministrators => {
                pb::DemotionPolicy::RemoveFromAdministrators
            }
            DemotionPolicy::KeepInAdministrators => pb::DemotionPolicy::KeepInAdministrators,
        }
        .into(),
        etag: etag(record.changed_at),
    }
}

/// The definition fields of a request's service, validated (`prefix` names the message).
pub(crate) fn service_definition(
    message: &pb::ServiceDefinition,
    prefix: &str,
) -> Result<ServiceDefinition, Status> {
    let field = |name: &str| format!("{prefix}.{name}");
    bounds::required_text(&field("display_name"), &message.display_name)?;
    let permissions = message
        .permissions
        .iter()
        .enumerate()
        .map(|(i, p)| convert::permission(&field(&format!("permissions[{i}]")), p))
        .collect::<Result<Vec<_>, _>>()?;
    let object_types = message
        .object_types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let name = field(&format!("object_types[{i}].name"));
            if t.name.is_empty() {
                return Err(required(&name));
            }
            bounds::at_most(&name, &t.name, bounds::MAX_OBJECT_TYPE_BYTES)?;
            for (j, contained) in t.may_contain.iter().enumerate() {
                bounds::at_most(
                    &field(&format!("object_types[{i}].may_contain[{j}]")),
                    contained,
                    bounds::MAX_OBJECT_TYPE_BYTES,
                )?;
            }
            Ok(ObjectType {
                name: t.name.clone(),
                top_level: t.top_level,
                may_contain: t.may_contain.iter().cloned().collect(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let demotion = match pb::DemotionPolicy::try_from(message.demotion) {
        Ok(pb::DemotionPolicy::Unspecified | pb::DemotionPolicy::RemoveFromAdministrators) => {
            DemotionPolicy::RemoveFromAdministrators
        }
        Ok(pb::DemotionPolicy::KeepInAdministrators) => DemotionPolicy::KeepInAdministrators,
        Err(_) => {
            return Err(invalid_field(
                &field("demotion"),
                format!("unknown value {}", message.demotion),
            ));
        }
    };
    Ok(ServiceDefinition {
        display_name: message.display_name.clone(),
        permissions,
        object_types,
        demotion,
    })
}

pub(crate) fn user_kind(kind: i32, field: &str) -> Result<UserKind, Status> {
    match pb::UserKind::try_from(kind) {
        Ok(pb::UserKind::Unspecified | pb::UserKind::Local) => Ok(UserKind::Local),
        Ok(pb::UserKind::Directory) => Ok(UserKind::Directory),
        Ok(pb::UserKind::Support) => Ok(UserKind::Support),
        Err(_) => Err(invalid_field(field, format!("unknown value {kind}"))),
    }
}

pub(crate) fn role(role: &TenantRole) -> pb::TenantRole {
    let kind = match role {
        TenantRole::Owner => pb::RoleKind::Owner,
        TenantRole::ServiceAdministrator => pb::RoleKind::ServiceAdministrator,
        TenantRole::CustomizedAdministrator(_) => pb::RoleKind::CustomizedAdministrator,
        TenantRole::StandardUser => pb::RoleKind::StandardUser,
        TenantRole::ApplicationAdministrator(_) => pb::RoleKind::ApplicationAdministrator,
    };
    let functions = match role {
        TenantRole::CustomizedAdministrator(f) => *f,
        _ => AdminFunctions::default(),
    };
    pb::TenantRole {
        kind: kind.into(),
        management: functions.management,
        auto_discovery: functions.auto_discovery,
        administration: functions.administration,
        services: match role {
            TenantRole::ApplicationAdministrator(services) => {
                services.iter().map(ToString::to_string).collect()
            }
            _ => Vec::new(),
        },
    }
}

/// A requested tenant role, validated.
pub(crate) fn tenant_role(message: Option<&pb::TenantRole>) -> Result<TenantRole, Status> {
    let message = message.ok_or_else(|| required("role"))?;
    let functions = AdminFunctions {
        management: message.management,
        auto_discovery: message.auto_discovery,
        administration: message.administration,
    };
    let kind = pb::RoleKind::try_from(message.kind)
        .map_err(|_| invalid_field("role.kind", format!("unknown value {}", message.kind)))?;
    let no_functions = || {
        if functions == AdminFunctions::default() {
            Ok(())
        } else {
            Err(invalid_field(
                "role",
                "administrator functions belong only to ROLE_KIND_CUSTOMIZED_ADMINISTRATOR",
            ))
        }
    };
    let no_services = || {
        if message.services.is_empty() {
            Ok(())
        } else {
            Err(invalid_field(
                "role.services",
                "services belong only to ROLE_KIND_APPLICATION_ADMINISTRATOR",
            ))
        }
    };
    match kind {
        pb::RoleKind::Unspecified => Err(required("role.kind")),
        pb::RoleKind::Owner => Err(invalid_field(
            "role.kind",
            "the owner changes only by TransferOwnership",
        )),
        pb::RoleKind::ServiceAdministrator => {
            no_functions()?;
            no_services()?;
            Ok(TenantRole::ServiceAdministrator)
        }
        pb::RoleKind::StandardUser => {
            no_functions()?;
            no_services()?;
            Ok(TenantRole::StandardUser)
        }
        pb::RoleKind::CustomizedAdministrator => {
            no_services()?;
            if functions == AdminFunctions::default() {
                return Err(invalid_field(
                    "role",
                    "a customized administrator needs at least one of management, auto_discovery, administration",
                ));
            }
            Ok(TenantRole::CustomizedAdministrator(functions))
        }
        pb::RoleKind::ApplicationAdministrator => {
            no_functions()?;
            if message.services.is_empty() {
                return Err(invalid_field(
                    "role.services",
                    "an application administrator administers at least one service",
                ));
            }
            let services = convert::ids("role.services", &message.services, ServiceId::parse)?;
            Ok(TenantRole::ApplicationAdministrator(services))
        }
    }
}

pub(crate) fn user_kind_to_pb(kind: UserKind) -> pb::UserKind {
    match kind {
        UserKind::Local => pb::UserKind::Local,
        UserKind::Directory => pb::UserKind::Directory,
        UserKind::Support => pb::UserKind::Support,
    }
}

pub(crate) fn user_status_to_pb(status: UserStatus) -> pb::UserStatus {
    match status {
        UserStatus::Invited => pb::UserStatus::Invited,
        UserStatus::Active => pb::UserStatus::Active,
        UserStatus::LockedUntil(_) => pb::UserStatus::Locked,
        UserStatus::Disabled => pb::UserStatus::Disabled,
    }
}

pub(crate) fn user(tenant: &str, record: &UserRecord) -> pb::User {
    let locked_until = match record.status {
        UserStatus::LockedUntil(until) => Some(convert::timestamp(until)),
        _ => None,
    };
    pb::User {
        tenant: tenant.to_owned(),
        id: record.id.to_string(),
        email: record.email.clone(),
        display_name: record.display_name.clone(),
        kind: user_kind_to_pb(record.kind).into(),
        status: user_status_to_pb(record.status).into(),
        locked_until,
        role: Some(role(&record.role)),
        services: ids(&record.services),
        etag: etag(record.changed_at),
        failed_sign_ins: record.failed_sign_ins,
    }
}

pub(crate) fn group(tenant: &str, record: &GroupRecord) -> pb::Group {
    pb::Group {
        tenant: tenant.to_owned(),
        id: record.id.to_string(),
        name: record.name.clone(),
        members: record.members.iter().map(convert::subject).collect(),
        etag: etag(record.changed_at),
        application_administrator_of: ids(&record.administers),
    }
}

pub(crate) fn object(tenant: &str, service: &str, record: &ObjectRecord) -> pb::Object {
    pb::Object {
        tenant: tenant.to_owned(),
        service: service.to_owned(),
        id: record.id.to_string(),
        r#type: record.object_type.clone(),
        name: record.name.clone(),
        parent: record
            .parent
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        related: ids(&record.related),
        etag: etag(record.changed_at),
        description: record.description.clone(),
        creator: record
            .creator
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}

pub(crate) fn tenant_module_role(tenant: &str, record: &TenantRoleRecord) -> pb::TenantModuleRole {
    pb::TenantModuleRole {
        tenant: tenant.to_owned(),
        id: record.id.to_string(),
        name: record.name.clone(),
        description: record.description.clone(),
        permissions: patterns(&record.permissions),
        synced_from: record.synced_from.as_ref().map(|from| pb::SyncedFrom {
            partner: from.partner.to_string(),
            customer_role: from.role.to_string(),
        }),
        members: ids(&record.members),
        etag: etag(record.changed_at),
    }
}

pub(crate) fn security_group(
    tenant: &str,
    service: &str,
    record: &SecurityGroupRecord,
) -> pb::SecurityGroup {
    pb::SecurityGroup {
        tenant: tenant.to_owned(),
        service: service.to_owned(),
        id: record.id.to_string(),
        name: record.name.clone(),
        description: record.description.clone(),
        permissions: patterns(&record.permissions),
        scope: Some(match &record.scope {
            ObjectScope::AllObjects => pb::ObjectScope {
                all_objects: true,
                objects: Vec::new(),
            },
            ObjectScope::Objects(objects) => pb::ObjectScope {
                all_objects: false,
                objects: objects.iter().map(ToString::to_string).collect(),
            },
        }),
        members: record.members.iter().map(convert::subject).collect(),
        built_in: record.built_in,
        synced_members: record
            .synced
            .iter()
            .map(|synced| pb::SyncedMember {
                member: Some(convert::subject(&synced.subject)),
                rule: convert::sync_rule(synced.rule).into(),
            })
            .collect(),
        etag: etag(record.changed_at),
    }
}

pub(crate) fn level(tenant: &str, service: &str, record: &LevelRecord) -> pb::PermissionLevel {
    pb::PermissionLevel {
        tenant: tenant.to_owned(),
        service: service.to_owned(),
        id: record.id.to_string(),
        name: record.name.clone(),
        description: record.description.clone(),
        permissions: patterns(&record.permissions),
        etag: etag(record.changed_at),
    }
}

pub(crate) fn grant(tenant: &str, service: &str, record: &GrantRecord) -> pb::Grant {
    let (level, permissions) = match &record.access {
        Access::Level(level) => (level.to_string(), Vec::new()),
        Access::Permissions(set) => (String::new(), patterns(set)),
    };
    pb::Grant {
        tenant: tenant.to_owned(),
        service: service.to_owned(),
        id: record.id.to_string(),
        subject: Some(convert::subject(&record.subject)),
        level,
        permissions,
        object: match &record.node {
            GrantNode::Service => String::new(),
            GrantNode::Object(object) => object.to_string(),
        },
        expires_at: record.expires_at.map(convert::timestamp),
        etag: etag(record.changed_at),
    }
}

/// A required subject (user or directory group).
pub(crate) fn subject(field: &str, message: Option<&pb::SubjectRef>) -> Result<Subject, Status> {
    let message = message.ok_or_else(|| required(field))?;
    match pb::SubjectKind::try_from(message.kind) {
        Ok(pb::SubjectKind::User) => {
            id(&format!("{field}.id"), &message.id, UserId::parse).map(Subject::User)
        }
        Ok(pb::SubjectKind::Group) => {
            id(&format!("{field}.id"), &message.id, GroupId::parse).map(Subject::Group)
        }
        _ => Err(invalid_field(
            &format!("{field}.kind"),
            "must be SUBJECT_KIND_USER or SUBJECT_KIND_GROUP",
        )),
    }
}

/// A permission set of patterns (`feature.operation`, `feature.*`, `*`), at least one.
pub(crate) fn permission_set(field: &str, patterns: &[String]) -> Result<PermissionSet, Status> {
    if patterns.is_empty() {
        return Err(invalid_field(field, "must hold at least one permission"));
    }
    for (i, pattern) in patterns.iter().enumerate() {
        bounds::at_most(
            &format!("{field}[{i}]"),
            pattern,
            bounds::MAX_PERMISSION_BYTES,
        )?;
    }
    PermissionSet::parse(patterns.iter().map(String::as_str))
        .map_err(|err| invalid_field(field, err))
}

/// An object scope.
pub(crate) fn object_scope(
    field: &str,
    message: Option<&pb::ObjectScope>,
) -> Result<ObjectScope, Status> {
    let message = message.ok_or_else(|| required(field))?;
    match (message.all_objects, message.objects.is_empty()) {
        (true, true) => Ok(ObjectScope::AllObjects),
        (true, false) => Err(invalid_field(
            field,
            "set `all_objects` or `objects`, not both",
        )),
        (false, true) => Err(invalid_field(
            field,
            "set `all_objects` or name at least one object",
        )),
        (false, false) => {
            object_ids(&format!("{field}.objects"), &message.objects).map(ObjectScope::Objects)
        }
    }
}

/// Object ids of a repeated field.
pub(crate) fn object_ids(
    field: &str,
    items: &[String],
) -> Result<std::collections::BTreeSet<ObjectId>, Status> {
    convert::ids(field, items, ObjectId::parse)
}

/// An optional expiry, which must lie in the future.
pub(crate) fn expiry(
    field: &str,
    at: Option<&prost_types::Timestamp>,
    now: Timestamp,
) -> Result<Option<Timestamp>, Status> {
    let Some(at) = convert::optional_time(field, at)? else {
        return Ok(None);
    };
    if at <= now {
        return Err(invalid_field(field, "must lie in the future"));
    }
    Ok(Some(at))
}

/// An optional id field as text → id.
pub(crate) fn optional_object(field: &str, text: &str) -> Result<Option<ObjectId>, Status> {
    optional_id(field, text, ObjectId::parse)
}
