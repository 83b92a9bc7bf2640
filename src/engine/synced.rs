//! Who is synchronised into a service's built-in Administrators group, and by which rule.
//!
//! The owner, service administrators and customized administrators hold every permission
//! of every subscribed service through their tenant role; application administrators of a
//! service join its group's member set when they get the role (and leave it on demotion
//! as the service's policy says). An administrator reading the group sees all of them,
//! each with the rule that put it there, beside the members added by hand.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{
    ids::{Revision, ServiceId, UserId},
    model::{TenantService, TenantState},
    mutation::{Subject, TenantRole},
};

/// Why a subject is in the Administrators group without having been added by hand.
/// Stored by variant index (in change contexts): new rules go last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SyncRule {
    /// The tenant's owner.
    Owner,
    /// A service administrator of the tenant.
    ServiceAdministrator,
    /// A customized administrator of the tenant.
    CustomizedAdministrator,
    /// An application administrator of the service.
    ApplicationAdministrator,
}

impl SyncRule {
    /// The rule's name as clients see it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::ServiceAdministrator => "service_administrator",
            Self::CustomizedAdministrator => "customized_administrator",
            Self::ApplicationAdministrator => "application_administrator",
        }
    }
}

/// A member of the Administrators group by a rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SyncedMember {
    /// The member.
    pub subject: Subject,
    /// Why it is a member.
    pub rule: SyncRule,
}

/// A synced member that joined or left a service's Administrators group with a change
/// (a role given or taken, an owner transfer, a deletion, a subscription).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SyncedChange {
    /// The service whose group changed.
    pub service: ServiceId,
    /// The member.
    pub member: Subject,
    /// The rule it is (or was) a member by.
    pub rule: SyncRule,
    /// Joined (or left).
    pub joined: bool,
}

/// The rule by which a tenant role puts a user into every subscribed service's group.
fn full_access_rule(role: &TenantRole) -> Option<SyncRule> {
    match role {
        TenantRole::Owner => Some(SyncRule::Owner),
        TenantRole::ServiceAdministrator => Some(SyncRule::ServiceAdministrator),
        TenantRole::CustomizedAdministrator(_) => Some(SyncRule::CustomizedAdministrator),
        TenantRole::StandardUser | TenantRole::ApplicationAdministrator(_) => None,
    }
}

/// Whether `role` administers `service` as an application administrator.
fn administers(role: &TenantRole, service: &ServiceId) -> bool {
    matches!(role, TenantRole::ApplicationAdministrator(services) if services.contains(service))
}

impl TenantState {
    /// The synced members of `service`'s Administrators group, sorted.
    pub(crate) fn synced_administrators(
        &self,
        service: &ServiceId,
        tenant_service: &TenantService,
    ) -> Vec<SyncedMember> {
        let in_group = |subject: &Subject| tenant_service.administrators.contains(subject);
        let users = self.users.iter().filter_map(|(id, user)| {
            let subject = Subject::User(id.clone());
            let rule = full_access_rule(&user.role).or_else(|| {
                (administers(&user.role, service) && in_group(&subject))
                    .then_some(SyncRule::ApplicationAdministrator)
            })?;
            Some(SyncedMember { subject, rule })
        });
        let groups = self
            .groups
            .iter()
            .filter(|(_, group)| group.administers.contains(service))
            .map(|(id, _)| Subject::Group(id.clone()))
            .filter(|subject| in_group(subject))
            .map(|subject| SyncedMember {
                subject,
                rule: SyncRule::ApplicationAdministrator,
            });
        let mut synced: Vec<SyncedMember> = users.chain(groups).collect();
        synced.sort();
        synced
    }

    /// The services `user` administers through the directory groups it is in (nested)
    /// that are application administrators.
    pub(crate) fn administered_through_groups(&self, user: &UserId) -> BTreeSet<ServiceId> {
        let subject = Subject::User(user.clone());
        self.groups_of(&subject)
            .into_iter()
            .filter_map(|(group, _)| match group {
                Subject::Group(id) => self.groups.get(id),
                Subject::User(_) => None,
            })
            .flat_map(|group| group.administers.iter().cloned())
            .collect()
    }

    /// Whether `subject`, in the group's member set, is there by a rule rather than by
    /// hand.
    pub(crate) fn is_synced_administrator(&self, service: &ServiceId, subject: &Subject) -> bool {
        match subject {
            Subject::User(user) => self
                .users
                .get(user)
                .is_some_and(|u| administers(&u.role, service)),
            Subject::Group(group) => self
                .groups
                .get(group)
                .is_some_and(|g| g.administers.contains(service)),
        }
    }

    /// Stamps the Administrators groups whose synced members `user`'s role change from
    /// `old` to `new` alters: every subscribed service's for a full-access rule gained,
    /// lost or changed, and those of the services an application administrator gained or
    /// lost while a member of their group.
    pub(crate) fn role_changed_administrators(
        &mut self,
        user: &UserId,
        (old, new): (&TenantRole, &TenantRole),
        at: Revision,
    ) {
        if old == new {
            return;
        }
        // A customized administrator given other functions keeps its rule: no change.
        let everywhere = full_access_rule(old) != full_access_rule(new);
        let subject = Subject::User(user.clone());
        for (service, tenant_service) in &mut self.services {
            let moved = administers(old, service) != administers(new, service)
                && tenant_service.administrators.contains(&subject);
            if everywhere || moved {
                std::sync::Arc::make_mut(tenant_service).administrators_changed_at = at;
            }
        }
    }

    /// What changed in the synced members of every subscribed service's group between
    /// `before` (this tenant as it was) and `self`.
    pub(crate) fn synced_changes(&self, before: Option<&TenantState>) -> Vec<SyncedChange> {
        let mut out = Vec::new();
        for (service, tenant_service) in &self.services {
            let now = self.synced_administrators(service, tenant_service);
            let was = before
                .and_then(|b| {
                    let old = b.services.get(service)?;
                    Some(b.synced_administrators(service, old))
                })
                .unwrap_or_default();
            for member in was.iter().filter(|m| !now.contains(m)) {
                out.push(change(service, member, false));
            }
            for member in now.iter().filter(|m| !was.contains(m)) {
                out.push(change(service, member, true));
            }
        }
        out.sort();
        out
    }
}

fn change(service: &ServiceId, member: &SyncedMember, joined: bool) -> SyncedChange {
    SyncedChange {
        service: service.clone(),
        member: member.subject.clone(),
        rule: member.rule,
        joined,
    }
}
