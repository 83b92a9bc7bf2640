//! Security groups of a tenant's service: named permission sets on a scope (the whole
//! service or listed objects), held by their members.

use std::collections::BTreeSet;

use super::{ADMINISTRATORS_GROUP, administrators, check_name, resolve};
use crate::engine::{
    apply::check_text,
    error::MutationError,
    ids::{ObjectId, SecurityGroupId, ServiceId},
    model::{SecurityGroupState, Shared, Snapshot, TenantService, index_insert, index_remove},
    mutation::{Mutation, ObjectScope},
};

/// Applies a change to a security group or its members.
pub(super) fn apply(snapshot: &mut Snapshot, mutation: &Mutation) -> Result<(), MutationError> {
    match mutation {
        Mutation::PutSecurityGroup {
            tenant,
            service,
            group,
            name,
            description,
            permissions,
            scope,
        } => {
            refuse_administrators(group, service)?;
            check_name(name)?;
            check_text("description", description)?;
            let definition = snapshot.service_state(service)?;
            let bits = resolve(&definition, service, permissions)?;
            let at = snapshot.revision;
            let state = snapshot.tenant_mut(tenant)?;
            let tenant_service = state.subscribed_mut(tenant, service)?;
            if name.eq_ignore_ascii_case("administrators") {
                return Err(MutationError::NameTaken {
                    what: "security group",
                    name: name.clone(),
                    existing: ADMINISTRATORS_GROUP.into(),
                });
            }
            if let Some((existing, _)) = tenant_service
                .security_groups
                .iter()
                .find(|(id, sg)| *id != group && sg.name.to_lowercase() == name.to_lowercase())
            {
                return Err(MutationError::NameTaken {
                    what: "security group",
                    name: name.clone(),
                    existing: existing.to_string(),
                });
            }
            if let ObjectScope::Objects(objects) = scope {
                check_objects_exist(tenant_service, objects)?;
            }
            let members = tenant_service
                .security_groups
                .get(group)
                .map(|sg| sg.members.clone())
                .unwrap_or_default();
            tenant_service.security_groups.insert(
                group.clone(),
                Shared::new(SecurityGroupState {
                    name: name.clone(),
                    description: description.clone(),
                    permissions: permissions.clone(),
                    bits,
                    scope: scope.clone(),
                    members,
                    changed_at: at,
                }),
            );
            Ok(())
        }
        Mutation::DeleteSecurityGroup {
            tenant,
            service,
            group,
        } => {
            refuse_administrators(group, service)?;
            let state = snapshot.tenant_mut(tenant)?;
            let tenant_service = state.subscribed_mut(tenant, service)?;
            let removed = tenant_service
                .security_groups
                .remove(group)
                .ok_or_else(|| MutationError::not_found("security group", group))?;
            let by_member = &mut tenant_service.sg_by_member;
            for member in &removed.members {
                index_remove(by_member, member, group);
            }
            Ok(())
        }
        Mutation::AddSecurityGroupMember {
            tenant,
            service,
            group,
            member,
        } => {
            let at = snapshot.revision;
            let state = snapshot.tenant_mut(tenant)?;
            state.subscribed(tenant, service)?;
            state.may_hold_access(member, service)?;
            let tenant_service = state.subscribed_mut(tenant, service)?;
            if group.as_str() == ADMINISTRATORS_GROUP {
                return administrators::add_administrator(tenant_service, service, member, at);
            }
            let sg = tenant_service
                .security_groups
                .get_mut(group)
                .ok_or_else(|| MutationError::not_found("security group", group))?;
            if !sg.members.insert(member.clone()) {
                return Err(MutationError::exists(
                    "security group member",
                    format!("{} in {group}", member.id()),
                ));
            }
            sg.changed_at = at;
            index_insert(
                &mut tenant_service.sg_by_member,
                member.clone(),
                group.clone(),
            );
            Ok(())
        }
        Mutation::RemoveSecurityGroupMember {
            tenant,
            service,
            group,
            member,
        } => {
            let at = snapshot.revision;
            let state = snapshot.tenant_mut(tenant)?;
            let tenant_service = state.subscribed_mut(tenant, service)?;
            if group.as_str() == ADMINISTRATORS_GROUP {
                return administrators::remove_administrator(tenant_service, service, member, at);
            }
            let sg = tenant_service
                .security_groups
                .get_mut(group)
                .ok_or_else(|| MutationError::not_found("security group", group))?;
            if !sg.members.remove(member) {
                return Err(MutationError::not_found(
                    "security group member",
                    format!("{} in {group}", member.id()),
                ));
            }
            sg.changed_at = at;
            index_remove(&mut tenant_service.sg_by_member, member, group);
            Ok(())
        }
        _ => Ok(()),
    }
}

fn refuse_administrators(
    group: &SecurityGroupId,
    service: &ServiceId,
) -> Result<(), MutationError> {
    if group.as_str() == ADMINISTRATORS_GROUP {
        return Err(MutationError::AdministratorsGroupImmutable {
            service: service.clone(),
        });
    }
    Ok(())
}

fn check_objects_exist(
    tenant_service: &TenantService,
    objects: &BTreeSet<ObjectId>,
) -> Result<(), MutationError> {
    match objects
        .iter()
        .find(|o| !tenant_service.objects.contains_key(*o))
    {
        Some(missing) => Err(MutationError::not_found("object", missing)),
        None => Ok(()),
    }
}
