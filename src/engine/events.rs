//! What a committed change means to those who watch it: the kind of domain event, who is
//! to be notified, and whose decisions on which objects may have changed (the
//! invalidation hint a sidecar cache drops exactly).
//!
//! Computed by the writer from the states before and after the change, and stored with
//! the change, so that a replay from the log says the same as the live stream did.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{
    apply::check_batch,
    effective::Affected,
    error::MutationError,
    ids::{
        CustomerGroupId, CustomerId, CustomerRoleId, ObjectId, PartnerId, Revision, ServiceId,
        TenantId, Timestamp, UserId,
    },
    model::Snapshot,
    mutation::{Mutation, TenantRole, UserStatus},
    synced::SyncedChange,
    tenant_roles::TenantRoleChange,
};

/// The kind of a domain event. Stored by variant index: new kinds go last (see
/// `docs/storage-format.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    /// A partner node was created.
    PartnerCreated,
    /// A customer node was created.
    CustomerCreated,
    /// A service was registered.
    ServiceRegistered,
    /// A service's definition changed.
    ServiceUpdated,
    /// A tenant was created with its owner.
    TenantCreated,
    /// A tenant subscribed to a service.
    ServiceSubscribed,
    /// A user was invited (the e-mail sender's cue).
    UserInvited,
    /// An invited user was activated.
    UserActivated,
    /// A user was locked.
    UserLocked,
    /// A locked user was unlocked.
    UserUnlocked,
    /// A user was disabled.
    UserDisabled,
    /// A disabled user was enabled again.
    UserEnabled,
    /// A user's e-mail or name changed.
    UserUpdated,
    /// A user was deleted with its memberships and grants.
    UserDeleted,
    /// A user's tenant role changed.
    TenantRoleChanged,
    /// The tenant's ownership moved to another user.
    OwnerTransferred,
    /// A user was given access to a service.
    ServiceAccessGranted,
    /// A user's access to a service was taken away.
    ServiceAccessRevoked,
    /// A directory group was created.
    GroupCreated,
    /// A directory group was renamed.
    GroupUpdated,
    /// A directory group was deleted.
    GroupDeleted,
    /// A member joined a directory group.
    GroupMemberAdded,
    /// A member left a directory group.
    GroupMemberRemoved,
    /// An object was created.
    ObjectCreated,
    /// An object was renamed or its related objects changed.
    ObjectUpdated,
    /// An object moved to another container.
    ObjectMoved,
    /// An object was deleted.
    ObjectDeleted,
    /// A subject joined a service's Administrators group.
    AdministratorAdded,
    /// A subject left a service's Administrators group.
    AdministratorRemoved,
    /// A security group was created or changed.
    SecurityGroupChanged,
    /// A security group was deleted.
    SecurityGroupDeleted,
    /// A member joined a security group.
    SecurityGroupMemberAdded,
    /// A member left a security group.
    SecurityGroupMemberRemoved,
    /// A permission level was created or changed.
    PermissionLevelChanged,
    /// A permission level was deleted.
    PermissionLevelDeleted,
    /// A grant was given.
    GrantGiven,
    /// A grant was taken away.
    GrantRevoked,
    /// A sign-in succeeded (the failure count starts afresh).
    SignInSucceeded,
    /// A sign-in failed without locking the user.
    SignInFailed,
    /// A local user's MFA was reset.
    MfaReset,
    /// The services a directory group is an application administrator of changed.
    GroupRoleChanged,
    /// Several changes of one tenant were made as one (the context's `items` are theirs).
    BatchApplied,
    /// A partner was onboarded with its system account.
    PartnerOnboarded,
    /// A partner user was invited (the e-mail sender's cue).
    PartnerUserInvited,
    /// A partner user's status changed (activated, locked, unlocked, disabled, enabled).
    PartnerUserStatusChanged,
    /// A partner user was deleted with its role memberships.
    PartnerUserDeleted,
    /// The partner's ownership moved to another partner user (every partner
    /// Administrator is notified).
    PartnerOwnerTransferred,
    /// A customer was created or its attributes changed.
    CustomerChanged,
    /// A customer was deleted.
    CustomerDeleted,
    /// A tenant was linked to a customer or unlinked.
    TenantCustomerChanged,
    /// A customer group was created or changed.
    CustomerGroupChanged,
    /// A customer group was deleted.
    CustomerGroupDeleted,
    /// Customers were added to or removed from a static customer group by hand.
    CustomerGroupMembersChanged,
    /// A dynamic customer group was re-synced (the context's `memberships` say who moved).
    CustomerGroupResynced,
    /// A partner role was created or changed.
    PartnerRoleChanged,
    /// A partner role was deleted.
    PartnerRoleDeleted,
    /// A partner user joined a partner role (or its membership's expiry changed).
    PartnerRoleMemberAdded,
    /// A partner user left a partner role.
    PartnerRoleMemberRemoved,
    /// A customer role was created or changed (the context's `synced_roles` name each
    /// tenant whose copy was made, changed or removed).
    CustomerRoleChanged,
    /// A customer role was deleted with its copies (`synced_roles`).
    CustomerRoleDeleted,
    /// A customer role's sync was turned off or on for one tenant (`synced_roles`).
    CustomerRoleTenantSyncChanged,
    /// A tenant's own role was created or changed.
    TenantRoleDefined,
    /// A tenant's own role was deleted.
    TenantRoleDeleted,
    /// A user was given a tenant role.
    TenantRoleMemberAdded,
    /// A tenant role was taken from a user.
    TenantRoleMemberRemoved,
    /// A synced copy became the tenant's own role (`synced_roles`).
    TenantRoleDetached,
}

/// Whose decisions may have changed in one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invalidation {
    /// The tenant.
    pub tenant: TenantId,
    /// The service; `None`: every service of the tenant.
    pub service: Option<ServiceId>,
    /// Users whose decisions may have changed (on `objects`, or anywhere if `objects` is
    /// empty).
    pub users: Vec<UserId>,
    /// Objects (each with everything under it) whose decisions may have changed for
    /// `users`; empty: every object.
    pub objects: Vec<ObjectId>,
    /// Every user of the tenant (or service) may be affected: `users` is not the whole
    /// list.
    pub everyone: bool,
}

/// The meaning of one committed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeContext {
    /// The domain event.
    pub kind: EventKind,
    /// The tenant it happened in (none for platform-wide changes).
    pub tenant: Option<TenantId>,
    /// The service it happened in (none for tenant-level or platform-wide changes).
    pub service: Option<ServiceId>,
    /// Users to notify (for an owner transfer: every administrator of the tenant).
    pub notify: Vec<UserId>,
    /// Whose decisions may have changed.
    pub invalidations: Vec<Invalidation>,
    /// Members synchronised into (or out of) services' Administrators groups by this
    /// change (added in codec version 4).
    #[serde(deserialize_with = "super::stored::added_in_v4")]
    pub synced: Vec<SyncedChange>,
    /// For a batch (`BatchApplied`): the context of each of its changes, in order; the
    /// fields above are their union. Empty for any other change (added in codec version 4).
    #[serde(deserialize_with = "super::stored::added_in_v4")]
    pub items: Vec<ChangeContext>,
    /// Partner users whose decisions may have changed in every tenant of the partner's
    /// customers (added in codec version 5).
    #[serde(deserialize_with = "super::stored::added_in_v5")]
    pub partner_users: Vec<UserId>,
    /// The partner it happened at, for partner-level changes (added in codec version 5).
    #[serde(deserialize_with = "super::stored::added_in_v5")]
    pub partner: Option<PartnerId>,
    /// Customers that joined or left customer groups by this change, by hand or because
    /// their attributes or a group's condition changed (added in codec version 5).
    #[serde(deserialize_with = "super::stored::added_in_v5")]
    pub memberships: Vec<MembershipChange>,
    /// Synced copies of customer roles this change made, changed, removed or detached,
    /// each naming its tenant (added in codec version 5).
    #[serde(deserialize_with = "super::stored::added_in_v5")]
    pub synced_roles: Vec<SyncedRoleChange>,
}

/// A synced copy of a customer role made, changed, removed or detached in a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncedRoleChange {
    /// The tenant.
    pub tenant: TenantId,
    /// The customer role.
    pub role: CustomerRoleId,
    /// What happened to its copy there.
    pub effect: SyncedRoleEffect,
}

/// What happened to a synced copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SyncedRoleEffect {
    /// The copy was made.
    Created,
    /// The copy follows an edit of the role.
    Updated,
    /// The copy was removed (the role deleted, sync turned off, the tenant out of scope).
    Removed,
    /// The copy became the tenant's own role.
    Detached,
}

/// A customer joining or leaving a customer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipChange {
    /// The customer.
    pub customer: CustomerId,
    /// The group.
    pub group: CustomerGroupId,
    /// Joined (`true`) or left.
    pub joined: bool,
}

impl ChangeContext {
    /// The context of a change recorded without one (by an older version): the kind its
    /// mutation names, and every user of the tenant (or service) it touched as possibly
    /// affected.
    pub fn from_mutation(mutation: &Mutation) -> Self {
        let touched = mutation.touched();
        Self {
            items: match mutation {
                Mutation::Batch { changes, .. } => {
                    changes.iter().map(Self::from_mutation).collect()
                }
                _ => Vec::new(),
            },
            kind: Snapshot::empty().event_kind(mutation),
            tenant: touched.tenant.clone(),
            service: touched.service.clone(),
            synced: Vec::new(),
            partner: match mutation {
                Mutation::Partner(change) => change.partner().cloned(),
                _ => None,
            },
            memberships: Vec::new(),
            partner_users: Vec::new(),
            synced_roles: Vec::new(),
            notify: Vec::new(),
            invalidations: touched
                .tenant
                .map(|tenant| Invalidation {
                    tenant,
                    service: touched.service,
                    users: Vec::new(),
                    objects: Vec::new(),
                    everyone: true,
                })
                .into_iter()
                .collect(),
        }
    }
}

impl Snapshot {
    /// Like [`Snapshot::apply_owned`], and also says what the change means to watchers:
    /// its event kind (judged on the state before), whom to notify and whose decisions may
    /// have changed (the users whose access the change refreshed).
    #[allow(
        clippy::result_large_err,
        reason = "the snapshot comes back by value on a refusal, as from apply_owned"
    )]
    pub fn apply_described(
        mut self,
        revision: Revision,
        mutation: &Mutation,
        now: Timestamp,
    ) -> Result<(Snapshot, ChangeContext), (Snapshot, MutationError)> {
        match self.describe_in_place(revision, mutation, now) {
            Ok(context) => Ok((self, context)),
            Err(err) => Err((self, err)),
        }
    }

    /// [`Snapshot::apply_described`] on this value; on error it is as it was.
    fn describe_in_place(
        &mut self,
        revision: Revision,
        mutation: &Mutation,
        now: Timestamp,
    ) -> Result<ChangeContext, MutationError> {
        if let Mutation::Batch { tenant, changes } = mutation {
            // Each change is described on the state it meets, as if it came alone (an
            // unlock is an unlock only while the user is locked); see `apply/batch.rs`.
            check_batch(tenant, changes)?;
            let before = self.clone();
            let mut items = Vec::with_capacity(changes.len());
            for change in changes {
                match self.describe_in_place(revision, change, now) {
                    Ok(context) => items.push(context),
                    Err(err) => {
                        *self = before;
                        return Err(err);
                    }
                }
            }
            return Ok(ChangeContext::batch(mutation, items));
        }
        let kind = self.event_kind(mutation);
        if let Mutation::Partner(change) = mutation {
            // Shared, not copied: the change copies what it alters.
            let before = self.clone();
            self.apply_in_place(revision, mutation, now)?;
            return Ok(self.partner_context(&before, change, kind));
        }
        if let Mutation::TenantRole(change) = mutation {
            let before = self.clone();
            self.apply_in_place(revision, mutation, now)?;
            return Ok(self.tenant_role_context(&before, change, kind));
        }
        let status_before = match mutation {
            Mutation::ReportSignIn { tenant, user, .. } => self.user_status(tenant, user),
            _ => None,
        };
        // The tenant as it was, where the change may move synced administrators (shared,
        // not copied: the change copies what it alters).
        let tenant_before = moves_synced_administrators(mutation)
            .and_then(|tenant| self.tenants.get(tenant).cloned());
        let affected = self.apply_in_place(revision, mutation, now)?;
        let mut context = describe(self, mutation, kind, status_before, affected);
        if let Some(tenant) = moves_synced_administrators(mutation)
            && let Some(after) = self.tenants.get(tenant)
        {
            context.synced = after.synced_changes(tenant_before.as_deref());
        }
        Ok(context)
    }

    fn event_kind(&self, mutation: &Mutation) -> EventKind {
        use EventKind as K;
        match mutation {
            Mutation::CreatePartner { .. } => K::PartnerCreated,
            Mutation::CreateCustomer { .. } => K::CustomerCreated,
            Mutation::RegisterService { .. } => K::ServiceRegistered,
            Mutation::UpdateService { .. } => K::ServiceUpdated,
            Mutation::CreateTenant { .. } => K::TenantCreated,
            Mutation::SubscribeService { .. } => K::ServiceSubscribed,
            Mutation::InviteUser { .. } => K::UserInvited,
            Mutation::SetUserStatus {
                tenant,
                user,
                status,
            } => {
                let before = self
                    .tenants
                    .get(tenant)
                    .and_then(|t| t.users.get(user))
                    .map(|u| u.status);
                match (status, before) {
                    (UserStatus::LockedUntil(_), _) => K::UserLocked,
                    (UserStatus::Disabled, _) => K::UserDisabled,
                    (UserStatus::Active, Some(UserStatus::LockedUntil(_))) => K::UserUnlocked,
                    (UserStatus::Active, Some(UserStatus::Disabled)) => K::UserEnabled,
                    (UserStatus::Active | UserStatus::Invited, _) => K::UserActivated,
                }
            }
            Mutation::UpdateUser { .. } => K::UserUpdated,
            Mutation::DeleteUser { .. } => K::UserDeleted,
            Mutation::SetTenantRole { .. } => K::TenantRoleChanged,
            Mutation::TransferOwnership { .. } => K::OwnerTransferred,
            Mutation::GrantServiceAccess { .. } => K::ServiceAccessGranted,
            Mutation::RevokeServiceAccess { .. } => K::ServiceAccessRevoked,
            Mutation::CreateGroup { .. } => K::GroupCreated,
            Mutation::UpdateGroup { .. } => K::GroupUpdated,
            Mutation::DeleteGroup { .. } => K::GroupDeleted,
            Mutation::AddGroupMember { .. } => K::GroupMemberAdded,
            Mutation::RemoveGroupMember { .. } => K::GroupMemberRemoved,
            Mutation::CreateObject { .. } => K::ObjectCreated,
            Mutation::UpdateObject { .. } => K::ObjectUpdated,
            Mutation::MoveObject { .. } => K::ObjectMoved,
            Mutation::DeleteObject { .. } => K::ObjectDeleted,
            Mutation::AddAdministrator { .. } => K::AdministratorAdded,
            Mutation::RemoveAdministrator { .. } => K::AdministratorRemoved,
            Mutation::PutSecurityGroup { .. } => K::SecurityGroupChanged,
            Mutation::DeleteSecurityGroup { .. } => K::SecurityGroupDeleted,
            Mutation::AddSecurityGroupMember { .. } => K::SecurityGroupMemberAdded,
            Mutation::RemoveSecurityGroupMember { .. } => K::SecurityGroupMemberRemoved,
            Mutation::PutPermissionLevel { .. } => K::PermissionLevelChanged,
            Mutation::DeletePermissionLevel { .. } => K::PermissionLevelDeleted,
            Mutation::GiveGrant { .. } => K::GrantGiven,
            Mutation::RevokeGrant { .. } => K::GrantRevoked,
            Mutation::ReportSignIn { success: true, .. } => K::SignInSucceeded,
            // Whether this failure locked the user shows after the change (`finish`).
            Mutation::ReportSignIn { .. } => K::SignInFailed,
            Mutation::ResetMfa { .. } => K::MfaReset,
            Mutation::SetGroupAdministers { .. } => K::GroupRoleChanged,
            Mutation::Batch { .. } => K::BatchApplied,
            Mutation::Partner(change) => change.event_kind(),
            Mutation::TenantRole(change) => match change {
                TenantRoleChange::Put { .. } => K::TenantRoleDefined,
                TenantRoleChange::Delete { .. } => K::TenantRoleDeleted,
                TenantRoleChange::AddMember { .. } => K::TenantRoleMemberAdded,
                TenantRoleChange::RemoveMember { .. } => K::TenantRoleMemberRemoved,
                TenantRoleChange::Detach { .. } => K::TenantRoleDetached,
            },
        }
    }

    fn user_status(&self, tenant: &TenantId, user: &UserId) -> Option<UserStatus> {
        self.tenants
            .get(tenant)
            .and_then(|t| t.users.get(user))
            .map(|u| u.status)
    }

    /// The administrators of a tenant (owner, service and customized administrators), by
    /// id.
    fn tenant_administrators(&self, tenant: &TenantId) -> Vec<UserId> {
        let mut admins: Vec<UserId> = self
            .tenants
            .get(tenant)
            .map(|t| {
                t.users
                    .iter()
                    .filter(|(_, u)| {
                        matches!(
                            u.role,
                            TenantRole::Owner
                                | TenantRole::ServiceAdministrator
                                | TenantRole::CustomizedAdministrator(_)
                        )
                    })
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default();
        admins.sort();
        admins
    }
}

/// The tenant in which `mutation` may move members into or out of the Administrators
/// groups by a rule: role changes, deletions, subscriptions and the group's own members.
fn moves_synced_administrators(mutation: &Mutation) -> Option<&TenantId> {
    match mutation {
        Mutation::SetTenantRole { tenant, .. }
        | Mutation::TransferOwnership { tenant, .. }
        | Mutation::DeleteUser { tenant, .. }
        | Mutation::SubscribeService { tenant, .. }
        | Mutation::AddAdministrator { tenant, .. }
        | Mutation::RemoveAdministrator { tenant, .. }
        | Mutation::AddSecurityGroupMember { tenant, .. }
        | Mutation::RemoveSecurityGroupMember { tenant, .. }
        | Mutation::SetGroupAdministers { tenant, .. } => Some(tenant),
        _ => None,
    }
}

/// The context of `mutation`, now applied to `after`.
fn describe(
    after: &Snapshot,
    mutation: &Mutation,
    mut kind: EventKind,
    status_before: Option<UserStatus>,
    affected: Affected,
) -> ChangeContext {
    // Whether a failed sign-in locked the user shows only after the change.
    if let Mutation::ReportSignIn { tenant, user, .. } = mutation
        && kind == EventKind::SignInFailed
        && after.user_status(tenant, user) != status_before
    {
        kind = EventKind::UserLocked;
    }
    let touched = mutation.touched();
    let notify = match mutation {
        Mutation::TransferOwnership { tenant, .. } => after.tenant_administrators(tenant),
        Mutation::InviteUser { user, .. } => vec![user.user.clone()],
        _ => Vec::new(),
    };
    // Objects whose decisions change for everyone who reaches them: a move changes
    // what the object inherits, a deletion ends it. Other changes are about subjects.
    let objects: Vec<ObjectId> = match mutation {
        Mutation::MoveObject { object, .. } | Mutation::DeleteObject { object, .. } => {
            vec![object.clone()]
        }
        _ => Vec::new(),
    };
    let mut invalidations: Vec<Invalidation> = affected
        .into_entries()
        .map(|((tenant, service), users)| Invalidation {
            tenant,
            service,
            users: users.into_iter().collect(),
            objects: objects.clone(),
            everyone: false,
        })
        .collect();
    // Changes that reach every user who reaches an object: its place changed.
    if let (true, Some(tenant)) = (!objects.is_empty(), touched.tenant.clone()) {
        mark_everyone(
            &mut invalidations,
            tenant,
            touched.service.clone(),
            &objects,
        );
    }
    // A catalog change reaches every user of every subscribed tenant.
    if let Mutation::UpdateService { service, .. } = mutation {
        let subscribed: BTreeSet<&TenantId> = after
            .tenants
            .iter()
            .filter(|(_, t)| t.services.contains_key(service))
            .map(|(id, _)| id)
            .collect();
        for tenant in subscribed {
            mark_everyone(
                &mut invalidations,
                tenant.clone(),
                Some(service.clone()),
                &[],
            );
        }
    }
    invalidations.sort_by(|a, b| (&a.tenant, &a.service).cmp(&(&b.tenant, &b.service)));
    ChangeContext {
        kind,
        tenant: touched.tenant,
        service: touched.service,
        notify,
        invalidations,
        synced: Vec::new(),
        items: Vec::new(),
        partner: None,
        memberships: Vec::new(),
        partner_users: Vec::new(),
        synced_roles: Vec::new(),
    }
}

impl ChangeContext {
    /// The context of `batch`, whose changes had the contexts `items`: the union of theirs
    /// (whom to notify, whose decisions may have changed, synced members), with each kept
    /// in `items` so that a watcher sees every change.
    pub fn batch(batch: &Mutation, items: Vec<ChangeContext>) -> Self {
        let touched = batch.touched();
        let mut notify: Vec<UserId> = Vec::new();
        let mut synced = Vec::new();
        // Hints with the same objects merge; others stay apart, since a hint with objects
        // is narrower than one without.
        let mut invalidations: Vec<Invalidation> = Vec::new();
        for item in &items {
            for user in &item.notify {
                if !notify.contains(user) {
                    notify.push(user.clone());
                }
            }
            synced.extend(item.synced.iter().cloned());
            for hint in &item.invalidations {
                match invalidations.iter_mut().find(|i| {
                    i.tenant == hint.tenant
                        && i.service == hint.service
                        && i.objects == hint.objects
                }) {
                    Some(merged) => {
                        merged.users.extend(hint.users.iter().cloned());
                        merged.everyone |= hint.everyone;
                    }
                    None => invalidations.push(hint.clone()),
                }
            }
        }
        for hint in &mut invalidations {
            hint.users.sort_unstable();
            hint.users.dedup();
        }
        invalidations.sort_by(|a, b| {
            (&a.tenant, &a.service, &a.objects).cmp(&(&b.tenant, &b.service, &b.objects))
        });
        Self {
            kind: EventKind::BatchApplied,
            tenant: touched.tenant,
            service: touched.service,
            notify,
            invalidations,
            synced,
            items,
            partner: None,
            memberships: Vec::new(),
            partner_users: Vec::new(),
            synced_roles: Vec::new(),
        }
    }
}

/// Marks the invalidation of (tenant, service) as reaching every user, adding it if absent.
fn mark_everyone(
    invalidations: &mut Vec<Invalidation>,
    tenant: TenantId,
    service: Option<ServiceId>,
    objects: &[ObjectId],
) {
    match invalidations
        .iter_mut()
        .find(|i| i.tenant == tenant && i.service == service)
    {
        Some(existing) => existing.everyone = true,
        None => invalidations.push(Invalidation {
            tenant,
            service,
            users: Vec::new(),
            objects: objects.to_vec(),
            everyone: true,
        }),
    }
}

impl Snapshot {
    /// The context of a change to a tenant's roles: whose module permissions may have
    /// changed (the role's members), and for a detached copy, which customer role it was.
    fn tenant_role_context(
        &self,
        before: &Snapshot,
        change: &TenantRoleChange,
        kind: EventKind,
    ) -> ChangeContext {
        let tenant = change.tenant();
        let role = change.role();
        let role_before = before.tenants.get(tenant).and_then(|t| t.roles.get(role));
        let role_after = self.tenants.get(tenant).and_then(|t| t.roles.get(role));
        let mut users: Vec<UserId> = match change {
            TenantRoleChange::AddMember { user, .. }
            | TenantRoleChange::RemoveMember { user, .. } => {
                vec![user.clone()]
            }
            _ => role_before
                .into_iter()
                .chain(role_after)
                .flat_map(|r| r.members.iter().cloned())
                .collect(),
        };
        users.sort_unstable();
        users.dedup();
        let synced_roles = match (change, role_before.and_then(|r| r.synced_from.as_ref())) {
            (TenantRoleChange::Detach { .. }, Some(from)) => vec![SyncedRoleChange {
                tenant: tenant.clone(),
                role: from.role.clone(),
                effect: SyncedRoleEffect::Detached,
            }],
            _ => Vec::new(),
        };
        ChangeContext {
            kind,
            tenant: Some(tenant.clone()),
            service: None,
            notify: Vec::new(),
            invalidations: (!users.is_empty())
                .then(|| Invalidation {
                    tenant: tenant.clone(),
                    service: None,
                    users,
                    objects: Vec::new(),
                    everyone: false,
                })
                .into_iter()
                .collect(),
            synced: Vec::new(),
            items: Vec::new(),
            partner: None,
            memberships: Vec::new(),
            partner_users: Vec::new(),
            synced_roles,
        }
    }
}
