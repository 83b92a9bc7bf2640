//! Users, roles, service access and directory groups.

use std::{collections::BTreeSet, sync::Arc};

use super::{check_text, new_group, new_user_state, normalized_email};
use crate::engine::{
    error::MutationError,
    ids::{Revision, ServiceId, TenantId, UserId},
    model::{FastMap, ServiceState, Shared, Snapshot, TenantState, index_insert, index_remove},
    mutation::{DemotionPolicy, Mutation, Subject, TenantRole, UserKind, UserStatus},
};

pub(super) fn apply(snapshot: &mut Snapshot, mutation: &Mutation) -> Result<(), MutationError> {
    // What a change makes look different is stamped with it.
    let at = snapshot.revision;
    match mutation {
        Mutation::InviteUser { tenant, user } => {
            let email = normalized_email(&user.email)?;
            check_text("display_name", &user.display_name)?;
            let state = snapshot.tenant_mut(tenant)?;
            if state.users.contains_key(&user.user) {
                return Err(MutationError::exists("user", &user.user));
            }
            if let Some(existing) = state.emails.get(email.as_str()) {
                return Err(MutationError::EmailTaken {
                    email: user.email.clone(),
                    user: existing.clone(),
                });
            }
            state.users.insert(
                user.user.clone(),
                new_user_state(user, UserStatus::Invited, TenantRole::StandardUser, at),
            );
            state.emails.insert(email.into(), user.user.clone());
            Ok(())
        }
        Mutation::SetUserStatus {
            tenant,
            user,
            status,
        } => {
            let state = snapshot.tenant_mut(tenant)?;
            if *status == UserStatus::Disabled {
                protect(state, user, "disabling it")?;
            }
            let user_state = state
                .users
                .get_mut(user)
                .ok_or_else(|| MutationError::not_found("user", user))?;
            user_state.status = *status;
            user_state.changed_at = at;
            // Unlocking (or any status set by hand) starts the failure count afresh.
            snapshot.forget_sign_in_failures(tenant, user);
            Ok(())
        }
        Mutation::DeleteUser { tenant, user } => {
            let state = snapshot.tenant_mut(tenant)?;
            protect(state, user, "deletion")?;
            let removed = state
                .users
                .remove(user)
                .ok_or_else(|| MutationError::not_found("user", user))?;
            state.emails.remove(removed.email.to_lowercase().as_str());
            state.role_changed_administrators(user, (&removed.role, &TenantRole::StandardUser), at);
            forget_subject(state, &Subject::User(user.clone()), at);
            for role in state.roles.values_mut() {
                if role.members.remove(user) {
                    role.changed_at = at;
                }
            }
            snapshot.forget_sign_in_failures(tenant, user);
            Ok(())
        }
        Mutation::SetTenantRole { tenant, user, role } => {
            let services = snapshot.services.clone();
            let state = snapshot.tenant_mut(tenant)?;
            if *role == TenantRole::Owner {
                return Err(MutationError::OwnerOnlyByTransfer {
                    tenant: tenant.clone(),
                });
            }
            protect(state, user, "changing roles")?;
            if let TenantRole::ApplicationAdministrator(admin_of) = role {
                for service in admin_of {
                    state.subscribed(tenant, service)?;
                }
            }
            let old = state
                .users
                .get(user)
                .map(|u| u.role.clone())
                .ok_or_else(|| MutationError::not_found("user", user))?;
            let old_admin_of = app_admin_services(&old);
            let new_admin_of = app_admin_services(role);
            let subject = Subject::User(user.clone());
            sync_administrators(
                state,
                &services,
                tenant,
                &subject,
                (&old_admin_of, &new_admin_of),
                at,
            )?;
            if let Some(user_state) = state.users.get_mut(user) {
                // Administering a service includes reaching it.
                user_state.services.extend(new_admin_of.iter().cloned());
                user_state.role = role.clone();
                user_state.changed_at = at;
            }
            state.role_changed_administrators(user, (&old, role), at);
            Ok(())
        }
        Mutation::TransferOwnership { tenant, new_owner } => {
            let state = snapshot.tenant_mut(tenant)?;
            let candidate = state
                .users
                .get(new_owner)
                .ok_or_else(|| MutationError::not_found("user", new_owner))?;
            if candidate.kind == UserKind::Support {
                return Err(MutationError::ProtectedUser {
                    user: new_owner.clone(),
                    protection: "a support account",
                    action: "making it the owner",
                });
            }
            if candidate.status != UserStatus::Active {
                return Err(MutationError::UserNotActive {
                    user: new_owner.clone(),
                    purpose: "become the owner",
                });
            }
            if *new_owner == state.owner {
                return Err(MutationError::AlreadyOwner {
                    user: new_owner.clone(),
                    tenant: tenant.clone(),
                });
            }
            let old_owner = state.owner.clone();
            let new_owner_role = candidate.role.clone();
            state.role_changed_administrators(new_owner, (&new_owner_role, &TenantRole::Owner), at);
            let users = &mut state.users;
            // INVARIANT: exactly one owner — the old one becomes a service administrator in
            // the same change that makes the new one owner.
            if let Some(old) = users.get_mut(&old_owner) {
                old.role = TenantRole::ServiceAdministrator;
                old.changed_at = at;
            }
            if let Some(new) = users.get_mut(new_owner) {
                new.role = TenantRole::Owner;
                new.changed_at = at;
            }
            state.owner = new_owner.clone();
            state.changed_at = at;
            Ok(())
        }
        Mutation::GrantServiceAccess {
            tenant,
            user,
            service,
        } => {
            let state = snapshot.tenant_mut(tenant)?;
            state.subscribed(tenant, service)?;
            let user_state = state
                .users
                .get_mut(user)
                .ok_or_else(|| MutationError::not_found("user", user))?;
            if !user_state.services.insert(service.clone()) {
                return Err(MutationError::exists(
                    "service access",
                    format!("{user}/{service}"),
                ));
            }
            user_state.changed_at = at;
            Ok(())
        }
        Mutation::RevokeServiceAccess {
            tenant,
            user,
            service,
        } => {
            let state = snapshot.tenant_mut(tenant)?;
            let user_state = state
                .users
                .get_mut(user)
                .ok_or_else(|| MutationError::not_found("user", user))?;
            if !user_state.services.remove(service) {
                return Err(MutationError::not_found(
                    "service access",
                    format!("{user}/{service}"),
                ));
            }
            user_state.changed_at = at;
            Ok(())
        }
        Mutation::CreateGroup {
            tenant,
            group,
            name,
        } => {
            check_text("name", name)?;
            let state = snapshot.tenant_mut(tenant)?;
            if state.groups.contains_key(group) {
                return Err(MutationError::exists("group", group));
            }
            state
                .groups
                .insert(group.clone(), Shared::new(new_group(name, at)));
            Ok(())
        }
        Mutation::DeleteGroup { tenant, group } => {
            let state = snapshot.tenant_mut(tenant)?;
            let removed = state
                .groups
                .remove(group)
                .ok_or_else(|| MutationError::not_found("group", group))?;
            let member_of = &mut state.member_of;
            let as_subject = Subject::Group(group.clone());
            for member in &removed.members {
                index_remove(member_of, member, &as_subject);
            }
            forget_subject(state, &Subject::Group(group.clone()), at);
            Ok(())
        }
        Mutation::AddGroupMember {
            tenant,
            group,
            member,
        } => {
            let state = snapshot.tenant_mut(tenant)?;
            if !state.groups.contains_key(group) {
                return Err(MutationError::not_found("group", group));
            }
            state.subject_exists(member)?;
            if let Subject::Group(inner) = member {
                // A cycle appears if `group` already sits (transitively) inside `inner`.
                let outer = Subject::Group(group.clone());
                let inside =
                    inner == group || state.groups_of(&outer).iter().any(|(g, _)| *g == member);
                if inside {
                    return Err(MutationError::GroupCycle {
                        group: group.to_string(),
                        member: inner.to_string(),
                    });
                }
            }
            let group_state = state
                .groups
                .get_mut(group)
                .ok_or_else(|| MutationError::not_found("group", group))?;
            if !group_state.members.insert(member.clone()) {
                return Err(MutationError::exists(
                    "group membership",
                    format!("{} in {group}", member.id()),
                ));
            }
            group_state.changed_at = at;
            index_insert(
                &mut state.member_of,
                member.clone(),
                Subject::Group(group.clone()),
            );
            Ok(())
        }
        Mutation::RemoveGroupMember {
            tenant,
            group,
            member,
        } => {
            let state = snapshot.tenant_mut(tenant)?;
            let group_state = state
                .groups
                .get_mut(group)
                .ok_or_else(|| MutationError::not_found("group", group))?;
            if !group_state.members.remove(member) {
                return Err(MutationError::not_found(
                    "group membership",
                    format!("{} in {group}", member.id()),
                ));
            }
            group_state.changed_at = at;
            index_remove(&mut state.member_of, member, &Subject::Group(group.clone()));
            Ok(())
        }
        Mutation::UpdateUser {
            tenant,
            user,
            email,
            display_name,
        } => {
            let normalized = normalized_email(email)?;
            check_text("display_name", display_name)?;
            let state = snapshot.tenant_mut(tenant)?;
            let old_email = state
                .users
                .get(user)
                .map(|u| u.email.to_lowercase())
                .ok_or_else(|| MutationError::not_found("user", user))?;
            if let Some(existing) = state.emails.get(normalized.as_str())
                && existing != user
            {
                return Err(MutationError::EmailTaken {
                    email: email.clone(),
                    user: existing.clone(),
                });
            }
            if old_email != normalized {
                let emails = &mut state.emails;
                emails.remove(old_email.as_str());
                emails.insert(normalized.into(), user.clone());
            }
            if let Some(user_state) = state.users.get_mut(user) {
                user_state.email.clone_from(email);
                user_state.display_name.clone_from(display_name);
                user_state.changed_at = at;
            }
            Ok(())
        }
        Mutation::SetGroupAdministers {
            tenant,
            group,
            services: administers,
        } => {
            let services = snapshot.services.clone();
            let state = snapshot.tenant_mut(tenant)?;
            for service in administers {
                state.subscribed(tenant, service)?;
            }
            let old = state
                .groups
                .get(group)
                .map(|g| g.administers.iter().cloned().collect::<BTreeSet<_>>())
                .ok_or_else(|| MutationError::not_found("group", group))?;
            sync_administrators(
                state,
                &services,
                tenant,
                &Subject::Group(group.clone()),
                (&old, administers),
                at,
            )?;
            // The group's synced membership shows in every service it gained or lost,
            // also where the policy keeps it as a member (no longer by the rule).
            let subject = Subject::Group(group.clone());
            for service in old.symmetric_difference(administers) {
                if let Ok(tenant_service) = state.subscribed_mut(tenant, service)
                    && tenant_service.administrators.contains(&subject)
                {
                    tenant_service.administrators_changed_at = at;
                }
            }
            if let Some(group_state) = state.groups.get_mut(group)
                && !group_state.administers.iter().eq(administers)
            {
                group_state.administers = administers.iter().cloned().collect();
                group_state.changed_at = at;
            }
            Ok(())
        }
        Mutation::UpdateGroup {
            tenant,
            group,
            name,
        } => {
            check_text("name", name)?;
            let state = snapshot.tenant_mut(tenant)?;
            let group_state = state
                .groups
                .get_mut(group)
                .ok_or_else(|| MutationError::not_found("group", group))?;
            group_state.name.clone_from(name);
            group_state.changed_at = at;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Refuses `action` on the owner and on support accounts.
fn protect(state: &TenantState, user: &UserId, action: &'static str) -> Result<(), MutationError> {
    if *user == state.owner {
        return Err(MutationError::ProtectedUser {
            user: user.clone(),
            protection: "the tenant owner",
            action,
        });
    }
    if state
        .users
        .get(user)
        .is_some_and(|u| u.kind == UserKind::Support)
    {
        return Err(MutationError::ProtectedUser {
            user: user.clone(),
            protection: "a support account",
            action,
        });
    }
    Ok(())
}

/// Moves an application administrator (a user or a group) from administering `old` to
/// administering `new`: it joins the Administrators group of each service it gains; for
/// each it loses, the service's registered policy decides whether it leaves the group now
/// or stays until removed by hand.
fn sync_administrators(
    state: &mut TenantState,
    services: &FastMap<ServiceId, Arc<ServiceState>>,
    tenant: &TenantId,
    subject: &Subject,
    (old, new): (&BTreeSet<ServiceId>, &BTreeSet<ServiceId>),
    at: Revision,
) -> Result<(), MutationError> {
    for service in new.difference(old) {
        let tenant_service = state.subscribed_mut(tenant, service)?;
        if Arc::make_mut(&mut tenant_service.administrators).insert(subject.clone()) {
            tenant_service.administrators_changed_at = at;
        }
    }
    for service in old.difference(new) {
        let policy = services.get(service).map(|s| s.definition.demotion);
        if policy == Some(DemotionPolicy::RemoveFromAdministrators)
            && let Ok(tenant_service) = state.subscribed_mut(tenant, service)
            && Arc::make_mut(&mut tenant_service.administrators).remove(subject)
        {
            tenant_service.administrators_changed_at = at;
        }
    }
    Ok(())
}

fn app_admin_services(role: &TenantRole) -> BTreeSet<ServiceId> {
    match role {
        TenantRole::ApplicationAdministrator(services) => services.clone(),
        _ => BTreeSet::new(),
    }
}

/// Removes every membership and grant naming `subject` (its deletion at `at`, which the
/// groups and security groups it leaves change at).
fn forget_subject(state: &mut TenantState, subject: &Subject, at: Revision) {
    if let Some(parents) = state.member_of.remove(subject) {
        let groups = &mut state.groups;
        for parent in parents {
            let Subject::Group(parent) = parent else {
                continue;
            };
            if let Some(group) = groups.get_mut(&parent) {
                group.members.remove(subject);
                group.changed_at = at;
            }
        }
    }
    for tenant_service in state.services.values_mut() {
        let names_subject = tenant_service.administrators.contains(subject)
            || tenant_service.sg_by_member.contains_key(subject)
            || tenant_service.grants_by_subject.contains_key(subject);
        if !names_subject {
            continue;
        }
        let tenant_service = Arc::make_mut(tenant_service);
        if tenant_service.administrators.contains(subject) {
            Arc::make_mut(&mut tenant_service.administrators).remove(subject);
            tenant_service.administrators_changed_at = at;
        }
        if let Some(groups) = tenant_service.sg_by_member.remove(subject) {
            let security_groups = &mut tenant_service.security_groups;
            for group in groups {
                if let Some(sg) = security_groups.get_mut(&group) {
                    sg.members.remove(subject);
                    sg.changed_at = at;
                }
            }
        }
        if let Some(grants) = tenant_service.grants_by_subject.remove(subject) {
            let all = &mut tenant_service.grants;
            for grant in grants {
                all.remove(&grant);
            }
        }
    }
}
