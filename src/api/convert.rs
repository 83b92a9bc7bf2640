//! Conversions between protobuf messages and engine values, written once.

use std::time::Duration;

use tonic::{Request, Status};

use super::{pb, status::invalid_field};
use crate::engine::{
    Denial, GrantNode, GrantSource, GrantTrace, IdError, Permission, Revision, Subject, SyncRule,
    SyncedRoleChange, SyncedRoleEffect, Timestamp, UserStatus,
};

/// Parses a required id field.
pub(crate) fn id<T>(
    field: &str,
    text: &str,
    parse: fn(&str) -> Result<T, IdError>,
) -> Result<T, Status> {
    if text.is_empty() {
        return Err(super::status::required(field));
    }
    parse(text).map_err(|err| invalid_field(field, err))
}

/// Parses every id of a repeated field, naming the one that fails as `field[i]`.
pub(crate) fn ids<T, C: FromIterator<T>>(
    field: &str,
    texts: &[String],
    parse: fn(&str) -> Result<T, IdError>,
) -> Result<C, Status> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| id(&format!("{field}[{i}]"), text, parse))
        .collect()
}

/// Parses an optional id field (empty means none).
pub(crate) fn optional_id<T>(
    field: &str,
    text: &str,
    parse: fn(&str) -> Result<T, IdError>,
) -> Result<Option<T>, Status> {
    if text.is_empty() {
        Ok(None)
    } else {
        id(field, text, parse).map(Some)
    }
}

/// Parses a required permission (`feature.operation`, no wildcards).
pub(crate) fn permission(field: &str, text: &str) -> Result<Permission, Status> {
    if text.is_empty() {
        return Err(super::status::required(field));
    }
    super::bounds::at_most(field, text, super::bounds::MAX_PERMISSION_BYTES)?;
    Permission::parse(text).map_err(|err| invalid_field(field, err))
}

/// The minimum revision a read asks for.
pub(crate) fn min_revision(consistency: Option<&pb::Consistency>) -> Revision {
    Revision::new(consistency.map_or(0, |c| c.min_revision))
}

/// The deadline the caller set (the `grpc-timeout` header), if any.
pub(crate) fn deadline<T>(request: &Request<T>) -> Option<Duration> {
    let value = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// An optional protobuf time of a request field, to the millisecond.
pub(crate) fn optional_time(
    field: &str,
    at: Option<&prost_types::Timestamp>,
) -> Result<Option<Timestamp>, Status> {
    at.map(|at| {
        at.seconds
            .checked_mul(1000)
            .and_then(|ms| ms.checked_add(i64::from(at.nanos) / 1_000_000))
            .filter(|_| (0..1_000_000_000).contains(&at.nanos))
            .map(Timestamp::from_unix_millis)
            .ok_or_else(|| invalid_field(field, "is not a valid timestamp"))
    })
    .transpose()
}

pub(crate) fn timestamp(at: Timestamp) -> prost_types::Timestamp {
    let millis = at.unix_millis();
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

pub(crate) fn node(node: &GrantNode, service: &str) -> pb::NodeRef {
    match node {
        GrantNode::Service => pb::NodeRef {
            kind: pb::NodeKind::Service.into(),
            id: service.to_owned(),
        },
        GrantNode::Object(object) => pb::NodeRef {
            kind: pb::NodeKind::Object.into(),
            id: object.to_string(),
        },
    }
}

/// Why a member is in an Administrators group, as the wire names it.
pub(crate) fn sync_rule(rule: SyncRule) -> pb::SyncRule {
    match rule {
        SyncRule::Owner => pb::SyncRule::Owner,
        SyncRule::ServiceAdministrator => pb::SyncRule::ServiceAdministrator,
        SyncRule::CustomizedAdministrator => pb::SyncRule::CustomizedAdministrator,
        SyncRule::ApplicationAdministrator => pb::SyncRule::ApplicationAdministrator,
    }
}

pub(crate) fn subject(subject: &Subject) -> pb::SubjectRef {
    match subject {
        Subject::User(user) => pb::SubjectRef {
            kind: pb::SubjectKind::User.into(),
            id: user.to_string(),
        },
        Subject::Group(group) => pb::SubjectRef {
            kind: pb::SubjectKind::Group.into(),
            id: group.to_string(),
        },
    }
}

pub(crate) fn trace(trace: &GrantTrace, service: &str) -> pb::GrantTrace {
    let mut customer_group = String::new();
    let (kind, source_id) = match &trace.source {
        GrantSource::PartnerRole {
            role,
            customer_group: group,
        } => {
            customer_group = group.as_ref().map(ToString::to_string).unwrap_or_default();
            (pb::SourceKind::PartnerRole, role.to_string())
        }
        GrantSource::Role(role) => (pb::SourceKind::Role, (*role).to_owned()),
        GrantSource::AdministratorsGroup => (
            pb::SourceKind::AdministratorsGroup,
            crate::engine::ADMINISTRATORS_GROUP.to_owned(),
        ),
        GrantSource::SecurityGroup(group) => (pb::SourceKind::SecurityGroup, group.to_string()),
        GrantSource::PermissionLevel(level) => (pb::SourceKind::PermissionLevel, level.to_string()),
        GrantSource::DirectGrant => (
            pb::SourceKind::DirectGrant,
            trace
                .grant
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
    };
    pb::GrantTrace {
        grant: trace
            .grant
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        source: Some(pb::GrantSource {
            kind: kind.into(),
            id: source_id,
            customer_group,
        }),
        node: Some(node(&trace.node, service)),
        group_chain: trace.group_chain.iter().map(ToString::to_string).collect(),
        expires_at: trace.expires_at.map(timestamp),
    }
}

/// What gives a tenant-module permission, as a grant on the tenant.
pub(crate) fn module_trace(
    source: &crate::engine::tenant_roles::ModuleSource,
    tenant: &crate::engine::TenantId,
) -> pb::GrantTrace {
    use crate::engine::tenant_roles::ModuleSource;
    let (kind, id, customer_group) = match source {
        ModuleSource::TenantRole(role) => (pb::SourceKind::Role, (*role).to_owned(), String::new()),
        ModuleSource::Role(role) => (pb::SourceKind::TenantRole, role.to_string(), String::new()),
        ModuleSource::PartnerRole {
            role,
            customer_group,
        } => (
            pb::SourceKind::PartnerRole,
            role.to_string(),
            customer_group
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
    };
    pb::GrantTrace {
        grant: String::new(),
        source: Some(pb::GrantSource {
            kind: kind.into(),
            id,
            customer_group,
        }),
        node: Some(pb::NodeRef {
            kind: pb::NodeKind::Tenant.into(),
            id: tenant.to_string(),
        }),
        group_chain: Vec::new(),
        expires_at: None,
    }
}

pub(crate) fn denial(denial: &Denial, service: &str) -> pb::Denial {
    use pb::DenialReason as R;
    let reason = match denial {
        Denial::UnknownTenant => R::UnknownTenant,
        Denial::UnknownService | Denial::ServiceNotSubscribed => R::UnknownService,
        Denial::UnknownUser => R::UnknownUser,
        Denial::UnknownObject => R::UnknownObject,
        Denial::UserNotActive(_) => R::UserNotActive,
        Denial::NoServiceAccess => R::NoServiceAccess,
        Denial::UnknownPermission => R::UnknownPermission,
        Denial::NoGrant => R::NoGrant,
        Denial::GrantExpired(_) => R::GrantExpired,
        Denial::OutsideScope => R::OutsideScope,
        Denial::TenantWithoutPartner => R::TenantWithoutPartner,
        Denial::UnknownPartnerUser => R::UnknownPartnerUser,
        Denial::NoPartnerRoleReaches => R::NoPartnerRole,
        Denial::PartnerTenantUserOnly => R::PartnerTenantUserOnly,
    };
    pb::Denial {
        reason: reason.into(),
        message: denial.to_string(),
        locked_until: match denial {
            Denial::UserNotActive(UserStatus::LockedUntil(until)) => Some(timestamp(*until)),
            _ => None,
        },
        expired_grants: match denial {
            Denial::GrantExpired(grants) => grants.iter().map(|g| trace(g, service)).collect(),
            _ => Vec::new(),
        },
    }
}

pub(crate) fn explanation(
    explanation: &crate::engine::Explanation,
    service: &str,
) -> pb::Explanation {
    match explanation {
        crate::engine::Explanation::Allowed(grants) => pb::Explanation {
            grants: grants.iter().map(|g| trace(g, service)).collect(),
            denial: None,
        },
        crate::engine::Explanation::Denied(reason) => pb::Explanation {
            grants: Vec::new(),
            denial: Some(denial(reason, service)),
        },
    }
}

pub(crate) fn decision(allowed: bool) -> i32 {
    if allowed {
        pb::Decision::Allowed.into()
    } else {
        pb::Decision::Denied.into()
    }
}

/// Synced copies of customer roles a change made, changed, removed or detached, each
/// naming its tenant (a Watch event's and a customer-role change's `synced_roles`).
pub(crate) fn synced_roles(changes: &[SyncedRoleChange]) -> Vec<pb::SyncedRoleChange> {
    changes
        .iter()
        .map(|change| pb::SyncedRoleChange {
            tenant: change.tenant.to_string(),
            customer_role: change.role.to_string(),
            effect: match change.effect {
                SyncedRoleEffect::Created => pb::SyncedRoleEffect::Created,
                SyncedRoleEffect::Updated => pb::SyncedRoleEffect::Updated,
                SyncedRoleEffect::Removed => pb::SyncedRoleEffect::Removed,
                SyncedRoleEffect::Detached => pb::SyncedRoleEffect::Detached,
            }
            .into(),
        })
        .collect()
}
