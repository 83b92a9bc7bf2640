//! The built-in Administrators group of a tenant's service: its members hold every
//! permission of the service. Members are added by hand or through the group's reserved
//! security-group id, by one rule.

use std::sync::Arc;

use crate::engine::{
    error::MutationError,
    ids::{Revision, ServiceId},
    model::{Snapshot, TenantService},
    mutation::{Mutation, Subject},
};

/// Applies a change to the Administrators group.
pub(super) fn apply(snapshot: &mut Snapshot, mutation: &Mutation) -> Result<(), MutationError> {
    match mutation {
        Mutation::AddAdministrator {
            tenant,
            service,
            subject,
        } => {
            let at = snapshot.revision;
            let state = snapshot.tenant_mut(tenant)?;
            state.subscribed(tenant, service)?;
            state.may_hold_access(subject, service)?;
            add_administrator(state.subscribed_mut(tenant, service)?, service, subject, at)
        }
        Mutation::RemoveAdministrator {
            tenant,
            service,
            subject,
        } => {
            let at = snapshot.revision;
            let state = snapshot.tenant_mut(tenant)?;
            remove_administrator(state.subscribed_mut(tenant, service)?, service, subject, at)
        }
        _ => Ok(()),
    }
}

/// Adds a member to the built-in Administrators group (by hand, or through its reserved
/// security-group id: one rule for both), at revision `at`.
pub(super) fn add_administrator(
    tenant_service: &mut TenantService,
    service: &ServiceId,
    subject: &Subject,
    at: Revision,
) -> Result<(), MutationError> {
    if !Arc::make_mut(&mut tenant_service.administrators).insert(subject.clone()) {
        return Err(MutationError::exists(
            "administrator",
            format!("{} of {service}", subject.id()),
        ));
    }
    tenant_service.administrators_changed_at = at;
    Ok(())
}

/// Removes a member from the built-in Administrators group, at revision `at`.
pub(super) fn remove_administrator(
    tenant_service: &mut TenantService,
    service: &ServiceId,
    subject: &Subject,
    at: Revision,
) -> Result<(), MutationError> {
    if !Arc::make_mut(&mut tenant_service.administrators).remove(subject) {
        return Err(MutationError::not_found(
            "administrator",
            format!("{} of {service}", subject.id()),
        ));
    }
    tenant_service.administrators_changed_at = at;
    Ok(())
}
