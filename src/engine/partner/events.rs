//! What a partner-level change means to watchers: its kind, whom to notify, which customers
//! moved between groups, and whose decisions may have changed where.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    super::{
        events::{
            ChangeContext, EventKind, Invalidation, MembershipChange, SyncedRoleChange,
            SyncedRoleEffect,
        },
        ids::{CustomerId, PartnerId, TenantId, UserId},
        model::Snapshot,
    },
    PartnerChange,
};

impl PartnerChange {
    /// The kind of event it is.
    pub(crate) fn event_kind(&self) -> EventKind {
        use EventKind as K;
        match self {
            Self::Onboard { .. } => K::PartnerOnboarded,
            Self::InviteUser { .. } => K::PartnerUserInvited,
            Self::SetUserStatus { .. } => K::PartnerUserStatusChanged,
            Self::DeleteUser { .. } => K::PartnerUserDeleted,
            Self::TransferOwnership { .. } => K::PartnerOwnerTransferred,
            Self::PutCustomer { .. } => K::CustomerChanged,
            Self::DeleteCustomer { .. } => K::CustomerDeleted,
            Self::SetTenantCustomer { .. } => K::TenantCustomerChanged,
            Self::PutCustomerGroup { .. } => K::CustomerGroupChanged,
            Self::DeleteCustomerGroup { .. } => K::CustomerGroupDeleted,
            Self::SetGroupCustomers { .. } => K::CustomerGroupMembersChanged,
            Self::ResyncCustomerGroup { .. } => K::CustomerGroupResynced,
            Self::PutRole { .. } => K::PartnerRoleChanged,
            Self::DeleteRole { .. } => K::PartnerRoleDeleted,
            Self::AddRoleMember { .. } => K::PartnerRoleMemberAdded,
            Self::RemoveRoleMember { .. } => K::PartnerRoleMemberRemoved,
            Self::PutCustomerRole { .. } => K::CustomerRoleChanged,
            Self::DeleteCustomerRole { .. } => K::CustomerRoleDeleted,
            Self::SetCustomerRoleTenantSync { .. } => K::CustomerRoleTenantSyncChanged,
            // The same events as a tenant user's; the context names the partner.
            Self::ReportSignIn { success: true, .. } => K::SignInSucceeded,
            // Whether this failure locked the user shows after the change (`partner_context`).
            Self::ReportSignIn { .. } => K::SignInFailed,
            Self::ResetMfa { .. } => K::MfaReset,
        }
    }
}

impl Snapshot {
    /// The context of `change`, applied to `self`, which was `before`.
    pub(crate) fn partner_context(
        &self,
        before: &Snapshot,
        change: &PartnerChange,
        mut kind: EventKind,
    ) -> ChangeContext {
        if let PartnerChange::ReportSignIn { partner, user, .. } = change {
            let status = |snapshot: &Snapshot| {
                snapshot
                    .partners
                    .get(partner)
                    .and_then(|p| p.users.get(user))
                    .map(|u| u.status)
            };
            if kind == EventKind::SignInFailed && status(before) != status(self) {
                kind = EventKind::UserLocked;
            }
        }
        let partner = change.partner().cloned().or_else(|| match change {
            PartnerChange::SetTenantCustomer { tenant, .. } => self
                .tenant_place(tenant)
                .and_then(|(_, partner)| partner)
                .or_else(|| before.tenant_place(tenant).and_then(|(_, partner)| partner)),
            _ => None,
        });
        let notify = match change {
            PartnerChange::InviteUser { user, .. } => vec![user.user.clone()],
            PartnerChange::TransferOwnership { partner, .. } => {
                self.partner_administrators(partner)
            }
            _ => Vec::new(),
        };
        let moved: Vec<CustomerId> = match change {
            PartnerChange::PutCustomer { customer, .. } => vec![customer.clone()],
            PartnerChange::SetGroupCustomers { customers, .. } => {
                customers.iter().cloned().collect()
            }
            PartnerChange::PutCustomerGroup { partner, .. }
            | PartnerChange::DeleteCustomerGroup { partner, .. }
            | PartnerChange::ResyncCustomerGroup { partner, .. } => self
                .partners
                .get(partner)
                .map(|p| p.customers.iter().cloned().collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let memberships = memberships_moved(before, self, &moved);
        // Customers whose groups changed: every partner user reaching them may now reach
        // them differently, in every one of their tenants.
        let mut tenants: BTreeSet<TenantId> = memberships
            .iter()
            .filter_map(|m| self.customers.get(&m.customer))
            .flat_map(|c| c.tenants.iter().cloned())
            .collect();
        if let PartnerChange::SetTenantCustomer { tenant, .. } = change {
            tenants.insert(tenant.clone());
        }
        let synced_roles = partner
            .as_ref()
            .map(|partner| synced_roles_moved(before, self, partner, change))
            .unwrap_or_default();
        // A copy made, changed or removed changes its members' module permissions there.
        let mut copy_members: BTreeMap<TenantId, BTreeSet<UserId>> = BTreeMap::new();
        for moved in &synced_roles {
            let id = super::customer_roles::copy_id(&moved.role);
            let members = copy_members.entry(moved.tenant.clone()).or_default();
            for snapshot in [before, self] {
                if let Some(copy) = snapshot
                    .tenants
                    .get(&moved.tenant)
                    .and_then(|t| t.roles.get(&id))
                {
                    members.extend(copy.members.iter().cloned());
                }
            }
        }
        let mut invalidations: Vec<Invalidation> = tenants
            .into_iter()
            .map(|tenant| Invalidation {
                tenant,
                service: None,
                users: Vec::new(),
                objects: Vec::new(),
                everyone: true,
            })
            .collect();
        for (tenant, members) in copy_members {
            if members.is_empty() || invalidations.iter().any(|i| i.tenant == tenant) {
                continue;
            }
            invalidations.push(Invalidation {
                tenant,
                service: None,
                users: members.into_iter().collect(),
                objects: Vec::new(),
                everyone: false,
            });
        }
        invalidations.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        ChangeContext {
            kind,
            tenant: match change {
                PartnerChange::SetTenantCustomer { tenant, .. } => Some(tenant.clone()),
                _ => None,
            },
            service: None,
            notify,
            invalidations,
            synced: Vec::new(),
            items: Vec::new(),
            partner_users: partner_users_changed(before, self, change),
            partner,
            memberships,
            synced_roles,
        }
    }

    /// The partner's Administrators: its owner and the members of the built-in role.
    pub(crate) fn partner_administrators(&self, partner: &PartnerId) -> Vec<UserId> {
        let mut administrators: Vec<UserId> = self
            .partners
            .get(partner)
            .map(|state| {
                state
                    .users
                    .keys()
                    .filter(|user| state.is_administrator(user))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        administrators.sort_unstable();
        administrators
    }
}

/// The customers of `customers` whose groups differ between `before` and `after`, one
/// entry per group joined or left.
fn memberships_moved(
    before: &Snapshot,
    after: &Snapshot,
    customers: &[CustomerId],
) -> Vec<MembershipChange> {
    let mut out = Vec::new();
    let empty = BTreeSet::new();
    for customer in customers {
        let was = before.customers.get(customer).map_or(&empty, |c| &c.groups);
        let is = after.customers.get(customer).map_or(&empty, |c| &c.groups);
        out.extend(is.difference(was).map(|group| MembershipChange {
            customer: customer.clone(),
            group: group.clone(),
            joined: true,
        }));
        out.extend(was.difference(is).map(|group| MembershipChange {
            customer: customer.clone(),
            group: group.clone(),
            joined: false,
        }));
    }
    out
}

/// Partner users whose decisions may have changed in every tenant of the partner's
/// customers: those the change names, or the members of the role it changes.
fn partner_users_changed(
    before: &Snapshot,
    after: &Snapshot,
    change: &PartnerChange,
) -> Vec<UserId> {
    let members_of = |snapshot: &Snapshot, partner: &PartnerId, role| {
        snapshot
            .partners
            .get(partner)
            .map(|state| {
                state
                    .users
                    .iter()
                    .filter(|(_, user)| user.roles.contains_key(role))
                    .map(|(id, _)| id.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let mut users = match change {
        PartnerChange::SetUserStatus { user, .. }
        | PartnerChange::DeleteUser { user, .. }
        | PartnerChange::AddRoleMember { user, .. }
        | PartnerChange::RemoveRoleMember { user, .. }
        | PartnerChange::ReportSignIn { user, .. } => vec![user.clone()],
        PartnerChange::TransferOwnership { new_owner, .. } => vec![new_owner.clone()],
        PartnerChange::PutRole { partner, role, .. }
        | PartnerChange::DeleteRole { partner, role } => {
            let mut users = members_of(before, partner, role);
            users.extend(members_of(after, partner, role));
            users
        }
        _ => Vec::new(),
    };
    users.sort();
    users.dedup();
    users
}

/// The synced copies of `partner`'s customer roles that differ between `before` and
/// `after`, in the tenants `change` can have moved copies in, by tenant and role.
fn synced_roles_moved(
    before: &Snapshot,
    after: &Snapshot,
    partner: &PartnerId,
    change: &PartnerChange,
) -> Vec<SyncedRoleChange> {
    let has_roles = |snapshot: &Snapshot| {
        snapshot
            .partners
            .get(partner)
            .is_some_and(|state| !state.customer_roles.is_empty())
    };
    if !has_roles(before) && !has_roles(after) {
        return Vec::new();
    }
    let tenants = match change {
        PartnerChange::PutCustomer { customer, .. } => after.tenants_of_customers([customer]),
        PartnerChange::SetGroupCustomers { customers, .. } => after.tenants_of_customers(customers),
        PartnerChange::SetTenantCustomer { tenant, .. } => BTreeSet::from([tenant.clone()]),
        PartnerChange::PutCustomerRole { .. }
        | PartnerChange::DeleteCustomerRole { .. }
        | PartnerChange::SetCustomerRoleTenantSync { .. }
        | PartnerChange::PutCustomerGroup { .. }
        | PartnerChange::DeleteCustomerGroup { .. }
        | PartnerChange::ResyncCustomerGroup { .. } => {
            let all = |snapshot: &Snapshot| {
                snapshot
                    .partners
                    .get(partner)
                    .map(|state| snapshot.tenants_of_customers(state.customers.iter()))
                    .unwrap_or_default()
            };
            let mut tenants = all(before);
            tenants.extend(all(after));
            tenants
        }
        _ => BTreeSet::new(),
    };
    let mut out = Vec::new();
    for tenant in tenants {
        let (Some(was), Some(is)) = (before.tenants.get(&tenant), after.tenants.get(&tenant))
        else {
            continue;
        };
        // Untouched tenants are shared between the two states.
        if std::sync::Arc::ptr_eq(was, is) {
            continue;
        }
        let (was, is) = (copies_of(was, partner), copies_of(is, partner));
        for (role, copy) in &is {
            let effect = match was.get(role) {
                None => SyncedRoleEffect::Created,
                Some(old) if old.changed_at != copy.changed_at => SyncedRoleEffect::Updated,
                Some(_) => continue,
            };
            out.push(SyncedRoleChange {
                tenant: tenant.clone(),
                role: role.clone(),
                effect,
            });
        }
        out.extend(
            was.keys()
                .filter(|role| !is.contains_key(*role))
                .map(|role| SyncedRoleChange {
                    tenant: tenant.clone(),
                    role: role.clone(),
                    effect: SyncedRoleEffect::Removed,
                }),
        );
    }
    out
}

/// The synced copies of `partner`'s customer roles in a tenant, by customer role.
fn copies_of<'a>(
    state: &'a crate::engine::model::TenantState,
    partner: &PartnerId,
) -> BTreeMap<crate::engine::CustomerRoleId, &'a crate::engine::tenant_roles::TenantRoleState> {
    state
        .roles
        .values()
        .filter_map(|role| {
            role.synced_from
                .as_ref()
                .filter(|from| from.partner == *partner)
                .map(|from| (from.role.clone(), role))
        })
        .collect()
}
