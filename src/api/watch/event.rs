//! A committed change as the wire's `ChangeEvent`, and the event kinds both ways.

use crate::api::{convert, management, pb};
use crate::engine::{
    ChangeContext, ChangeRecord, EventKind, GrantNode, Mutation, Subject, TenantRole, UserStatus,
    partner::PartnerChange, tenant_roles::TenantRoleChange,
};

/// A committed change as an event: its kind, ids and hint.
pub(super) fn event(record: &ChangeRecord) -> pb::ChangeEvent {
    let mut event = change_event(record, &record.mutation, &record.context);
    // A batch: each change as its own event, with the context it had (`context.items`).
    if let Mutation::Batch { changes, .. } = &record.mutation {
        event.items = changes
            .iter()
            .zip(&record.context.items)
            .map(|(change, context)| change_event(record, change, context))
            .collect();
    }
    event
}

/// One change of `record` (the record's own, or one of its batch's) as an event.
fn change_event(
    record: &ChangeRecord,
    mutation: &Mutation,
    context: &ChangeContext,
) -> pb::ChangeEvent {
    let mut event = pb::ChangeEvent {
        revision: record.revision.get(),
        committed_at: Some(convert::timestamp(record.committed_at)),
        kind: event_kind_to_pb(context.kind).into(),
        actor: record.actor.clone().unwrap_or_default(),
        actor_partner: record.actor_partner.clone().unwrap_or_default(),
        caller: record.caller.clone(),
        request_id: record.request_id.clone().unwrap_or_default(),
        tenant: context
            .tenant
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        service: context
            .service
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        notify: context.notify.iter().map(ToString::to_string).collect(),
        invalidations: context
            .invalidations
            .iter()
            .map(|i| pb::Invalidation {
                tenant: i.tenant.to_string(),
                service: i
                    .service
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                users: i.users.iter().map(ToString::to_string).collect(),
                objects: i.objects.iter().map(ToString::to_string).collect(),
                everyone: i.everyone,
            })
            .collect(),
        synced: context
            .synced
            .iter()
            .map(|change| pb::SyncedMembershipChange {
                service: change.service.to_string(),
                member: Some(convert::subject(&change.member)),
                rule: convert::sync_rule(change.rule).into(),
                joined: change.joined,
            })
            .collect(),
        partner: context
            .partner
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        memberships: context
            .memberships
            .iter()
            .map(|change| pb::CustomerGroupMembershipChange {
                customer: change.customer.to_string(),
                customer_group: change.group.to_string(),
                joined: change.joined,
            })
            .collect(),
        partner_users: context
            .partner_users
            .iter()
            .map(ToString::to_string)
            .collect(),
        synced_roles: convert::synced_roles(&context.synced_roles),
        ..Default::default()
    };
    describe(mutation, &mut event);
    // A lock by failed sign-ins lasts from the commit for the policy's duration.
    let lock_for_millis = match mutation {
        Mutation::ReportSignIn {
            lock_for_millis, ..
        }
        | Mutation::Partner(PartnerChange::ReportSignIn {
            lock_for_millis, ..
        }) => Some(*lock_for_millis),
        _ => None,
    };
    if let (EventKind::UserLocked, Some(lock_for_millis)) = (context.kind, lock_for_millis) {
        event.locked_until = Some(convert::timestamp(
            record.committed_at.plus_millis(lock_for_millis),
        ));
    }
    event
}

/// Fills the ids and details the mutation names.
fn describe(mutation: &Mutation, event: &mut pb::ChangeEvent) {
    let member = |subject: &Subject| Some(convert::subject(subject));
    match mutation {
        Mutation::Partner(change) => describe_partner(change, event),
        Mutation::TenantRole(change) => {
            event.tenant = change.tenant().to_string();
            event.tenant_role = change.role().to_string();
            if let TenantRoleChange::AddMember { user, .. }
            | TenantRoleChange::RemoveMember { user, .. } = change
            {
                event.user = user.to_string();
            }
        }
        Mutation::CreatePartner { partner, .. } => event.object = partner.to_string(),
        Mutation::CreateCustomer { customer, .. } => event.object = customer.to_string(),
        Mutation::RegisterService { service, .. } | Mutation::UpdateService { service, .. } => {
            event.service = service.to_string();
        }
        Mutation::CreateTenant { owner, .. } => {
            event.user = owner.user.to_string();
            event.email.clone_from(&owner.email);
        }
        Mutation::InviteUser { user, .. } => {
            event.user = user.user.to_string();
            event.email.clone_from(&user.email);
        }
        Mutation::SetUserStatus { user, status, .. } => {
            event.user = user.to_string();
            if let UserStatus::LockedUntil(until) = status {
                event.locked_until = Some(convert::timestamp(*until));
            }
        }
        Mutation::UpdateUser { user, email, .. } => {
            event.user = user.to_string();
            event.email.clone_from(email);
        }
        Mutation::DeleteUser { user, .. }
        | Mutation::TransferOwnership {
            new_owner: user, ..
        }
        | Mutation::GrantServiceAccess { user, .. }
        | Mutation::RevokeServiceAccess { user, .. } => event.user = user.to_string(),
        Mutation::SetTenantRole { user, role, .. } => {
            event.user = user.to_string();
            event.role = Some(management::role_to_pb(role));
        }
        Mutation::CreateGroup { group, .. }
        | Mutation::UpdateGroup { group, .. }
        | Mutation::DeleteGroup { group, .. } => event.group = group.to_string(),
        Mutation::SetGroupAdministers {
            group, services, ..
        } => {
            event.group = group.to_string();
            event.role = Some(management::role_to_pb(&group_role(services)));
        }
        Mutation::AddGroupMember {
            group, member: m, ..
        }
        | Mutation::RemoveGroupMember {
            group, member: m, ..
        } => {
            event.group = group.to_string();
            event.member = member(m);
        }
        Mutation::CreateObject { object, parent, .. } => {
            event.object = object.to_string();
            event.parent = parent.as_ref().map(ToString::to_string).unwrap_or_default();
        }
        Mutation::MoveObject {
            object, new_parent, ..
        } => {
            event.object = object.to_string();
            event.parent = new_parent
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
        }
        Mutation::UpdateObject { object, .. } | Mutation::DeleteObject { object, .. } => {
            event.object = object.to_string();
        }
        Mutation::AddAdministrator { subject, .. }
        | Mutation::RemoveAdministrator { subject, .. } => {
            crate::engine::ADMINISTRATORS_GROUP.clone_into(&mut event.security_group);
            event.member = member(subject);
        }
        Mutation::PutSecurityGroup { group, .. } | Mutation::DeleteSecurityGroup { group, .. } => {
            event.security_group = group.to_string();
        }
        Mutation::AddSecurityGroupMember {
            group, member: m, ..
        }
        | Mutation::RemoveSecurityGroupMember {
            group, member: m, ..
        } => {
            event.security_group = group.to_string();
            event.member = member(m);
        }
        Mutation::PutPermissionLevel { level, .. }
        | Mutation::DeletePermissionLevel { level, .. } => {
            event.permission_level = level.to_string();
        }
        Mutation::GiveGrant {
            grant,
            subject,
            node,
            access,
            ..
        } => {
            event.grant = grant.to_string();
            event.member = member(subject);
            if let GrantNode::Object(object) = node {
                event.object = object.to_string();
            }
            if let crate::engine::Access::Level(level) = access {
                event.permission_level = level.to_string();
            }
        }
        Mutation::RevokeGrant { grant, .. } => event.grant = grant.to_string(),
        Mutation::ReportSignIn { user, .. } | Mutation::ResetMfa { user, .. } => {
            event.user = user.to_string();
        }
        // A batch names what its items name (`event`).
        Mutation::SubscribeService { .. } | Mutation::Batch { .. } => {}
    }
}

/// Pairs of engine and wire event kinds, written once for both directions.
const EVENT_KINDS: &[(EventKind, pb::EventKind)] = &[
    (EventKind::PartnerCreated, pb::EventKind::PartnerCreated),
    (EventKind::CustomerCreated, pb::EventKind::CustomerCreated),
    (
        EventKind::ServiceRegistered,
        pb::EventKind::ServiceRegistered,
    ),
    (EventKind::ServiceUpdated, pb::EventKind::ServiceUpdated),
    (EventKind::TenantCreated, pb::EventKind::TenantCreated),
    (
        EventKind::ServiceSubscribed,
        pb::EventKind::ServiceSubscribed,
    ),
    (EventKind::UserInvited, pb::EventKind::UserInvited),
    (EventKind::UserActivated, pb::EventKind::UserActivated),
    (EventKind::UserLocked, pb::EventKind::UserLocked),
    (EventKind::UserUnlocked, pb::EventKind::UserUnlocked),
    (EventKind::UserDisabled, pb::EventKind::UserDisabled),
    (EventKind::UserEnabled, pb::EventKind::UserEnabled),
    (EventKind::UserUpdated, pb::EventKind::UserUpdated),
    (EventKind::UserDeleted, pb::EventKind::UserDeleted),
    (
        EventKind::TenantRoleChanged,
        pb::EventKind::TenantRoleChanged,
    ),
    (EventKind::OwnerTransferred, pb::EventKind::OwnerTransferred),
    (
        EventKind::ServiceAccessGranted,
        pb::EventKind::ServiceAccessGranted,
    ),
    (
        EventKind::ServiceAccessRevoked,
        pb::EventKind::ServiceAccessRevoked,
    ),
    (EventKind::GroupCreated, pb::EventKind::GroupCreated),
    (EventKind::GroupUpdated, pb::EventKind::GroupUpdated),
    (EventKind::GroupDeleted, pb::EventKind::GroupDeleted),
    (EventKind::GroupMemberAdded, pb::EventKind::GroupMemberAdded),
    (
        EventKind::GroupMemberRemoved,
        pb::EventKind::GroupMemberRemoved,
    ),
    (EventKind::ObjectCreated, pb::EventKind::ObjectCreated),
    (EventKind::ObjectUpdated, pb::EventKind::ObjectUpdated),
    (EventKind::ObjectMoved, pb::EventKind::ObjectMoved),
    (EventKind::ObjectDeleted, pb::EventKind::ObjectDeleted),
    (
        EventKind::AdministratorAdded,
        pb::EventKind::AdministratorAdded,
    ),
    (
        EventKind::AdministratorRemoved,
        pb::EventKind::AdministratorRemoved,
    ),
    (
        EventKind::SecurityGroupChanged,
        pb::EventKind::SecurityGroupChanged,
    ),
    (
        EventKind::SecurityGroupDeleted,
        pb::EventKind::SecurityGroupDeleted,
    ),
    (
        EventKind::SecurityGroupMemberAdded,
        pb::EventKind::SecurityGroupMemberAdded,
    ),
    (
        EventKind::SecurityGroupMemberRemoved,
        pb::EventKind::SecurityGroupMemberRemoved,
    ),
    (
        EventKind::PermissionLevelChanged,
        pb::EventKind::PermissionLevelChanged,
    ),
    (
        EventKind::PermissionLevelDeleted,
        pb::EventKind::PermissionLevelDeleted,
    ),
    (EventKind::GrantGiven, pb::EventKind::GrantGiven),
    (EventKind::GrantRevoked, pb::EventKind::GrantRevoked),
    (EventKind::SignInSucceeded, pb::EventKind::SignInSucceeded),
    (EventKind::SignInFailed, pb::EventKind::SignInFailed),
    (EventKind::MfaReset, pb::EventKind::MfaReset),
    (EventKind::GroupRoleChanged, pb::EventKind::GroupRoleChanged),
    (EventKind::BatchApplied, pb::EventKind::BatchApplied),
    (EventKind::PartnerOnboarded, pb::EventKind::PartnerOnboarded),
    (
        EventKind::PartnerUserInvited,
        pb::EventKind::PartnerUserInvited,
    ),
    (
        EventKind::PartnerUserStatusChanged,
        pb::EventKind::PartnerUserStatusChanged,
    ),
    (
        EventKind::PartnerUserDeleted,
        pb::EventKind::PartnerUserDeleted,
    ),
    (
        EventKind::PartnerOwnerTransferred,
        pb::EventKind::PartnerOwnerTransferred,
    ),
    (EventKind::CustomerChanged, pb::EventKind::CustomerChanged),
    (EventKind::CustomerDeleted, pb::EventKind::CustomerDeleted),
    (
        EventKind::TenantCustomerChanged,
        pb::EventKind::TenantCustomerChanged,
    ),
    (
        EventKind::CustomerGroupChanged,
        pb::EventKind::CustomerGroupChanged,
    ),
    (
        EventKind::CustomerGroupDeleted,
        pb::EventKind::CustomerGroupDeleted,
    ),
    (
        EventKind::CustomerGroupMembersChanged,
        pb::EventKind::CustomerGroupMembersChanged,
    ),
    (
        EventKind::CustomerGroupResynced,
        pb::EventKind::CustomerGroupResynced,
    ),
    (
        EventKind::PartnerRoleChanged,
        pb::EventKind::PartnerRoleChanged,
    ),
    (
        EventKind::PartnerRoleDeleted,
        pb::EventKind::PartnerRoleDeleted,
    ),
    (
        EventKind::PartnerRoleMemberAdded,
        pb::EventKind::PartnerRoleMemberAdded,
    ),
    (
        EventKind::PartnerRoleMemberRemoved,
        pb::EventKind::PartnerRoleMemberRemoved,
    ),
    (
        EventKind::CustomerRoleChanged,
        pb::EventKind::CustomerRoleChanged,
    ),
    (
        EventKind::CustomerRoleDeleted,
        pb::EventKind::CustomerRoleDeleted,
    ),
    (
        EventKind::CustomerRoleTenantSyncChanged,
        pb::EventKind::CustomerRoleTenantSyncChanged,
    ),
    (
        EventKind::TenantRoleDefined,
        pb::EventKind::TenantRoleDefined,
    ),
    (
        EventKind::TenantRoleDeleted,
        pb::EventKind::TenantRoleDeleted,
    ),
    (
        EventKind::TenantRoleMemberAdded,
        pb::EventKind::TenantRoleMemberAdded,
    ),
    (
        EventKind::TenantRoleMemberRemoved,
        pb::EventKind::TenantRoleMemberRemoved,
    ),
    (
        EventKind::TenantRoleDetached,
        pb::EventKind::TenantRoleDetached,
    ),
];

/// Fills the ids a partner-level change names.
fn describe_partner(change: &PartnerChange, event: &mut pb::ChangeEvent) {
    match change {
        PartnerChange::Onboard { owner, .. } => {
            event.user = owner.user.to_string();
            event.email.clone_from(&owner.email);
        }
        PartnerChange::InviteUser { user, .. } => {
            event.user = user.user.to_string();
            event.email.clone_from(&user.email);
        }
        PartnerChange::SetUserStatus { user, .. }
        | PartnerChange::DeleteUser { user, .. }
        | PartnerChange::ReportSignIn { user, .. }
        | PartnerChange::ResetMfa { user, .. } => {
            event.user = user.to_string();
        }
        PartnerChange::TransferOwnership { new_owner, .. } => event.user = new_owner.to_string(),
        PartnerChange::PutCustomer { customer, .. }
        | PartnerChange::DeleteCustomer { customer, .. } => event.customer = customer.to_string(),
        PartnerChange::SetTenantCustomer { tenant, customer } => {
            event.tenant = tenant.to_string();
            event.customer = customer
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
        }
        PartnerChange::PutCustomerGroup { group, .. }
        | PartnerChange::DeleteCustomerGroup { group, .. }
        | PartnerChange::SetGroupCustomers { group, .. }
        | PartnerChange::ResyncCustomerGroup { group, .. } => {
            event.customer_group = group.to_string();
        }
        PartnerChange::PutRole { role, .. } | PartnerChange::DeleteRole { role, .. } => {
            event.partner_role = role.to_string();
        }
        PartnerChange::AddRoleMember {
            role, user, until, ..
        } => {
            event.partner_role = role.to_string();
            event.user = user.to_string();
            event.until = until.map(convert::timestamp);
        }
        PartnerChange::RemoveRoleMember { role, user, .. } => {
            event.partner_role = role.to_string();
            event.user = user.to_string();
        }
        PartnerChange::PutCustomerRole { role, .. }
        | PartnerChange::DeleteCustomerRole { role, .. } => event.customer_role = role.to_string(),
        PartnerChange::SetCustomerRoleTenantSync { role, tenant, .. } => {
            event.customer_role = role.to_string();
            event.tenant = tenant.to_string();
        }
    }
}

/// A group's role as a tenant role: an application administrator of the services it
/// administers, or a standard user's when none.
fn group_role(services: &std::collections::BTreeSet<crate::engine::ServiceId>) -> TenantRole {
    if services.is_empty() {
        TenantRole::StandardUser
    } else {
        TenantRole::ApplicationAdministrator(services.clone())
    }
}

fn event_kind_to_pb(kind: EventKind) -> pb::EventKind {
    EVENT_KINDS
        .iter()
        .find(|(engine, _)| *engine == kind)
        .map_or(pb::EventKind::Unspecified, |(_, wire)| *wire)
}

pub(super) fn event_kind_from_pb(kind: pb::EventKind) -> Option<EventKind> {
    EVENT_KINDS
        .iter()
        .find(|(_, wire)| *wire == kind)
        .map(|(engine, _)| *engine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_event_kind_maps_to_one_engine_kind_and_back() {
        let wire: Vec<pb::EventKind> = (1..=1000)
            .filter_map(|n| pb::EventKind::try_from(n).ok())
            .collect();
        assert_eq!(wire.len(), EVENT_KINDS.len());
        for kind in wire {
            let engine = event_kind_from_pb(kind);
            assert!(engine.is_some(), "{kind:?} has no engine kind");
            assert_eq!(engine.map(event_kind_to_pb), Some(kind));
        }
    }
}
