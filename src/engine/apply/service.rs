//! Service definitions and the service-level permissions of a tenant: the Administrators
//! group, security groups, permission levels and grants.
//!
//! One file per resource family: `definition` (the service itself), `administrators`,
//! `security_groups`, `permission_levels`, `grants`; this file dispatches a mutation to its
//! family and holds the rules they share.

mod administrators;
mod definition;
pub(crate) mod dependencies;
mod grants;
mod permission_levels;
mod security_groups;

pub(super) use definition::update_service;
pub(crate) use definition::validate_definition;

use super::check_text;
use crate::engine::{
    error::MutationError,
    ids::{ServiceId, Timestamp},
    model::{ServiceState, Snapshot},
    mutation::{Mutation, Subject},
    permission::{PermissionBits, PermissionSet},
};

/// The reserved id of the built-in Administrators group in security-group calls.
pub(crate) const ADMINISTRATORS_GROUP: &str = "administrators";

/// Applies a change to a tenant's service-level permissions, in the file of its family.
pub(super) fn apply(
    snapshot: &mut Snapshot,
    mutation: &Mutation,
    now: Timestamp,
) -> Result<(), MutationError> {
    match mutation {
        Mutation::AddAdministrator { .. } | Mutation::RemoveAdministrator { .. } => {
            administrators::apply(snapshot, mutation)
        }
        Mutation::PutSecurityGroup { .. }
        | Mutation::DeleteSecurityGroup { .. }
        | Mutation::AddSecurityGroupMember { .. }
        | Mutation::RemoveSecurityGroupMember { .. } => security_groups::apply(snapshot, mutation),
        Mutation::PutPermissionLevel { .. } | Mutation::DeletePermissionLevel { .. } => {
            permission_levels::apply(snapshot, mutation)
        }
        Mutation::GiveGrant { .. } | Mutation::RevokeGrant { .. } => {
            grants::apply(snapshot, mutation, now)
        }
        _ => Ok(()),
    }
}

/// The bits of `set` in the service's catalog; a pattern the catalog lacks is refused.
fn resolve(
    definition: &ServiceState,
    service: &ServiceId,
    set: &PermissionSet,
) -> Result<PermissionBits, MutationError> {
    definition
        .catalog
        .resolve(set)
        .map_err(|pattern| MutationError::PermissionNotInCatalog {
            service: service.clone(),
            pattern: pattern.to_string(),
        })
}

/// A display name: not blank, and within the text bounds.
fn check_name(name: &str) -> Result<(), MutationError> {
    if name.trim().is_empty() {
        return Err(MutationError::Invalid {
            field: "name",
            rule: "must not be empty".into(),
        });
    }
    check_text("name", name)
}

/// A subject as a refusal names it: `user u1`, `group g1`.
pub(crate) fn subject_label(subject: &Subject) -> String {
    match subject {
        Subject::User(user) => format!("user {user}"),
        Subject::Group(group) => format!("group {group}"),
    }
}
