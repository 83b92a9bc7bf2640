//! Who may make which change: the actor rules of tenant administration, checked before a
//! mutation is applied (the mutation's own invariants are checked when it is applied).
//!
//! Ranks, highest first: the owner; service administrators; customized administrators
//! (each with some of `management`, `auto_discovery`, `administration`); application
//! administrators of some services; standard users. Nobody acts on someone who outranks
//! them or gives what they do not hold.

use std::{borrow::Cow, collections::BTreeSet};

use super::{
    check::is_active,
    decision::CheckQuery,
    ids::{PartnerId, ServiceId, TenantId, Timestamp, UserId},
    model::{Snapshot, TenantState, UserState},
    mutation::{Access, AdminFunctions, GrantNode, Mutation, ObjectScope, TenantRole},
    permission::Permission,
};

/// The permission that governs a service's security groups, permission levels, grants
/// and objects, for actors below the administrator ranks.
pub const SETTINGS_PERMISSION: &str = "settings.edit";

/// Why an actor may not make a change. Each variant is one rule; [`AuthorityError::rule`]
/// names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorityError {
    /// The change is the platform's to make (tenants, services, subscriptions).
    #[error("only the platform may {action}")]
    PlatformOnly {
        /// What was attempted.
        action: &'static str,
    },
    /// The actor is not a user of the tenant.
    #[error("actor `{actor}` is not a user of tenant `{tenant}`")]
    UnknownActor {
        /// The actor.
        actor: UserId,
        /// The tenant.
        tenant: TenantId,
    },
    /// The actor is not active.
    #[error("actor `{actor}` is not active")]
    ActorNotActive {
        /// The actor.
        actor: UserId,
    },
    /// The actor holds no administrative role that allows this.
    #[error("actor `{actor}` may not {action}")]
    NotAllowed {
        /// The actor.
        actor: UserId,
        /// What was attempted.
        action: &'static str,
    },
    /// Only the owner and service administrators act on the owner, on service
    /// administrators, or make someone a service administrator.
    #[error(
        "actor `{actor}` may not act on `{target}`, who is the owner or a service administrator, nor make anyone one"
    )]
    AboveCustomizedAdministrators {
        /// The actor.
        actor: UserId,
        /// The target user.
        target: UserId,
    },
    /// The target's permissions exceed the actor's.
    #[error(
        "actor `{actor}` may not act on `{target}`, whose administrative permissions exceed its own"
    )]
    TargetOutranksActor {
        /// The actor.
        actor: UserId,
        /// The target user.
        target: UserId,
    },
    /// A customized administrator without the needed function.
    #[error("actor `{actor}` lacks the `{function}` administrator function")]
    MissingFunction {
        /// The actor.
        actor: UserId,
        /// The function.
        function: &'static str,
    },
    /// An application administrator acting on a service it does not administer.
    #[error("actor `{actor}` does not administer service `{service}`")]
    ServiceNotAdministered {
        /// The actor.
        actor: UserId,
        /// The service.
        service: ServiceId,
    },
    /// Giving what the actor does not hold itself.
    #[error(
        "actor `{actor}` does not hold `{permission}` {place} in service `{service}`, so it cannot give it"
    )]
    NoEscalation {
        /// The actor.
        actor: UserId,
        /// The service.
        service: ServiceId,
        /// The permission.
        permission: String,
        /// Where ("on the service", "on object `x`").
        place: String,
    },
    /// The actor is not a user of the partner.
    #[error("actor `{actor}` is not a user of partner `{partner}`")]
    UnknownPartnerActor {
        /// The actor.
        actor: UserId,
        /// The partner.
        partner: PartnerId,
    },
    /// Only partner Administrators make this change.
    #[error("actor `{actor}` may not {action}: only partner Administrators may")]
    PartnerAdministratorsOnly {
        /// The actor.
        actor: UserId,
        /// What was attempted.
        action: &'static str,
    },
    /// A partner user acting in a tenant that is not one of its partner's customers'.
    #[error(
        "actor `{actor}` of partner `{partner}` may not act in tenant `{tenant}`: the tenant belongs to none of the partner's customers"
    )]
    TenantOutsidePartner {
        /// The actor.
        actor: UserId,
        /// The actor's partner.
        partner: PartnerId,
        /// The tenant.
        tenant: TenantId,
    },
    /// A partner user none of whose roles reaches the tenant's customer with any access.
    #[error("actor `{actor}` holds no partner role that reaches tenant `{tenant}`")]
    NoPartnerRoleReaches {
        /// The actor.
        actor: UserId,
        /// The tenant.
        tenant: TenantId,
    },
    /// A partner user whose roles reach the tenant only with tenant-user access, for a
    /// change or read that needs a service administrator.
    #[error(
        "actor `{actor}` may not {action} in tenant `{tenant}`: its partner roles give it tenant-user access there, not service-administrator access"
    )]
    PartnerTenantUserOnly {
        /// The actor.
        actor: UserId,
        /// The tenant.
        tenant: TenantId,
        /// What was attempted.
        action: &'static str,
    },
    /// No role of the actor holds the platform permission (for this customer).
    #[error("actor `{actor}` holds no partner role with `{permission}` that reaches this customer")]
    MissingPlatformPermission {
        /// The actor.
        actor: UserId,
        /// The permission.
        permission: &'static str,
    },
}

impl AuthorityError {
    /// The rule's stable name, for audit records and clients.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::PlatformOnly { .. } => "platform_only",
            Self::UnknownActor { .. } => "actor_must_be_a_tenant_user",
            Self::ActorNotActive { .. } => "actor_must_be_active",
            Self::NotAllowed { .. } => "role_does_not_allow",
            Self::AboveCustomizedAdministrators { .. } => {
                "only_owner_and_service_administrators_act_on_those_ranks"
            }
            Self::TargetOutranksActor { .. } => "no_action_on_higher_permissions",
            Self::MissingFunction { .. } => "customized_administrator_function_required",
            Self::ServiceNotAdministered { .. } => "application_administrator_own_services_only",
            Self::NoEscalation { .. } => "no_escalation",
            Self::UnknownPartnerActor { .. } => "actor_must_be_a_partner_user",
            Self::PartnerAdministratorsOnly { .. } => "partner_administrators_only",
            Self::MissingPlatformPermission { .. } => "platform_permission_required",
            Self::TenantOutsidePartner { .. } => "tenant_must_belong_to_the_partners_customers",
            Self::NoPartnerRoleReaches { .. } => "partner_role_must_reach_the_tenant",
            Self::PartnerTenantUserOnly { .. } => "partner_service_administrator_access_required",
        }
    }
}

/// The administrative standing of a user, from its role and its directory groups.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rank<'a> {
    Owner,
    ServiceAdministrator,
    Customized(AdminFunctions),
    /// Of these services: by its own role, by its groups' (nested), or both.
    ApplicationAdministrator(Cow<'a, BTreeSet<ServiceId>>),
    Standard,
}

fn rank<'a>(state: &TenantState, id: &UserId, user: &'a UserState) -> Rank<'a> {
    let own = match &user.role {
        TenantRole::Owner => return Rank::Owner,
        TenantRole::ServiceAdministrator => return Rank::ServiceAdministrator,
        TenantRole::CustomizedAdministrator(functions) => return Rank::Customized(*functions),
        TenantRole::ApplicationAdministrator(services) => Some(services),
        TenantRole::StandardUser => None,
    };
    let through_groups = state.administered_through_groups(id);
    match own {
        Some(own) if through_groups.is_empty() => {
            Rank::ApplicationAdministrator(Cow::Borrowed(own))
        }
        Some(own) => Rank::ApplicationAdministrator(Cow::Owned(
            own.union(&through_groups).cloned().collect(),
        )),
        None if through_groups.is_empty() => Rank::Standard,
        None => Rank::ApplicationAdministrator(Cow::Owned(through_groups)),
    }
}

/// `inner` grants nothing `outer` lacks.
fn functions_within(inner: AdminFunctions, outer: AdminFunctions) -> bool {
    (!inner.management || outer.management)
        && (!inner.auto_discovery || outer.auto_discovery)
        && (!inner.administration || outer.administration)
}

fn all_functions(f: AdminFunctions) -> bool {
    f.management && f.auto_discovery && f.administration
}

/// Whom a management change or read is made for: a user of the tenant, or a user of a
/// partner acting in a tenant of one of the partner's customers (as the service
/// administrator its partner roles make it there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user: of the tenant, or of `partner`.
    pub user: UserId,
    /// The partner whose user acts; `None` for a tenant's own user.
    pub partner: Option<PartnerId>,
}

impl Actor {
    /// A user of the tenant.
    pub fn tenant_user(user: UserId) -> Self {
        Self {
            user,
            partner: None,
        }
    }
}

/// The tenant a change an actor may make is made in; the platform's changes (and any
/// that names no tenant) are refused.
pub(super) fn tenant_change(mutation: &Mutation) -> Result<TenantId, AuthorityError> {
    if let Some(action) = platform_only(mutation) {
        return Err(AuthorityError::PlatformOnly { action });
    }
    mutation
        .touched()
        .tenant
        .ok_or(AuthorityError::PlatformOnly {
            action: "make this change",
        })
}

/// The changes only the platform makes, with what they attempt; `None` for the others.
fn platform_only(mutation: &Mutation) -> Option<&'static str> {
    Some(match mutation {
        Mutation::CreatePartner { .. } | Mutation::CreateCustomer { .. } => {
            "create partners and customers"
        }
        Mutation::RegisterService { .. } => "register services",
        Mutation::UpdateService { .. } => "update services",
        Mutation::ReportSignIn { .. } => "report sign-ins",
        Mutation::CreateTenant { .. } => "create tenants",
        Mutation::SubscribeService { .. } => "subscribe tenants to services",
        _ => return None,
    })
}

impl Snapshot {
    /// Whether `actor` may make `mutation` at `now`: a tenant user by its rank in the
    /// mutation's tenant, a partner user by the access its partner roles give it there.
    pub fn authorize_actor(
        &self,
        actor: &Actor,
        mutation: &Mutation,
        now: Timestamp,
    ) -> Result<(), AuthorityError> {
        match &actor.partner {
            None => self.authorize(&actor.user, mutation, now),
            Some(partner) => self.authorize_partner_actor(partner, &actor.user, mutation, now),
        }
    }

    /// Whether `actor`, a user of the mutation's tenant, may make `mutation` at `now`.
    pub fn authorize(
        &self,
        actor: &UserId,
        mutation: &Mutation,
        now: Timestamp,
    ) -> Result<(), AuthorityError> {
        if let Mutation::Batch { changes, .. } = mutation {
            return self.authorize_each(changes, now, |state, change| {
                state.authorize(actor, change, now)
            });
        }
        if let Mutation::Partner(change) = mutation {
            return self.authorize_partner(actor, change, now);
        }
        let tenant = tenant_change(mutation)?;
        let state = self
            .tenants
            .get(&tenant)
            .ok_or_else(|| AuthorityError::UnknownActor {
                actor: actor.clone(),
                tenant: tenant.clone(),
            })?;
        let actor_state = state
            .users
            .get(actor)
            .ok_or_else(|| AuthorityError::UnknownActor {
                actor: actor.clone(),
                tenant: tenant.clone(),
            })?;
        if !is_active(actor_state.status, now) {
            return Err(AuthorityError::ActorNotActive {
                actor: actor.clone(),
            });
        }
        let actor_rank = rank(state, actor, actor_state);
        if matches!(actor_rank, Rank::Owner | Rank::ServiceAdministrator) {
            return Ok(());
        }
        let ctx = Ranked {
            snapshot: self,
            tenant: &tenant,
            state,
            id: actor,
            rank: actor_rank,
            now,
        };
        ctx.authorize(mutation)
    }

    /// Whether the actor `judge` checks may make each of a batch's changes, each judged on
    /// the state the ones before it leave (a role for a user the batch invites is judged on
    /// that user), found by applying them to a copy. A change the copy refuses ends the
    /// judging: the batch itself is then refused for it.
    pub(super) fn authorize_each(
        &self,
        changes: &[Mutation],
        now: Timestamp,
        judge: impl Fn(&Self, &Mutation) -> Result<(), AuthorityError>,
    ) -> Result<(), AuthorityError> {
        let revision = self.revision.next();
        let mut state = self.clone();
        for (index, change) in changes.iter().enumerate() {
            judge(&state, change)?;
            if index + 1 < changes.len() {
                match state.apply_owned(revision, change, now) {
                    Ok(next) => state = next,
                    Err(_) => return Ok(()),
                }
            }
        }
        Ok(())
    }
}

/// A tenant user below the administrator ranks, with what its checks read.
struct Ranked<'a> {
    snapshot: &'a Snapshot,
    tenant: &'a TenantId,
    state: &'a TenantState,
    id: &'a UserId,
    rank: Rank<'a>,
    now: Timestamp,
}

impl Ranked<'_> {
    fn refuse(&self, action: &'static str) -> Result<(), AuthorityError> {
        Err(AuthorityError::NotAllowed {
            actor: self.id.clone(),
            action,
        })
    }

    fn authorize(&self, mutation: &Mutation) -> Result<(), AuthorityError> {
        match mutation {
            Mutation::TransferOwnership { .. } => self.refuse("transfer the tenant's ownership"),
            // Tenant roles give module permissions: the owner's, service administrators'
            // and those of customized administrators with `management`.
            Mutation::TenantRole(_) => match &self.rank {
                Rank::Customized(f) if f.management => Ok(()),
                Rank::Customized(_) => self.missing("management"),
                _ => self.refuse("manage tenant roles"),
            },
            Mutation::SetTenantRole { user, role, .. } => self.set_role(user, role),
            Mutation::InviteUser { .. } => match &self.rank {
                Rank::Customized(f) if !f.management => self.missing("management"),
                Rank::Customized(_) | Rank::ApplicationAdministrator(_) => Ok(()),
                _ => self.refuse("invite users"),
            },
            Mutation::GrantServiceAccess { user, service, .. }
            | Mutation::RevokeServiceAccess { user, service, .. } => match &self.rank {
                Rank::ApplicationAdministrator(services) => {
                    if !services.contains(service) {
                        return Err(AuthorityError::ServiceNotAdministered {
                            actor: self.id.clone(),
                            service: service.clone(),
                        });
                    }
                    self.act_on_tenant_user(user)
                }
                _ => self.manage_user(user),
            },
            // Everyone edits their own profile: the name they are shown by. The e-mail they
            // sign in with stays an administrator's to change.
            Mutation::UpdateUser { user, email, .. }
                if user == self.id
                    && self
                        .state
                        .users
                        .get(user)
                        .is_some_and(|me| me.email == *email) =>
            {
                Ok(())
            }
            Mutation::SetUserStatus { user, .. }
            | Mutation::DeleteUser { user, .. }
            | Mutation::UpdateUser { user, .. } => self.manage_user(user),
            Mutation::CreateGroup { .. }
            | Mutation::UpdateGroup { .. }
            | Mutation::DeleteGroup { .. }
            | Mutation::AddGroupMember { .. }
            | Mutation::RemoveGroupMember { .. }
            | Mutation::SetGroupAdministers { .. } => match &self.rank {
                Rank::Customized(f) if f.management => Ok(()),
                Rank::Customized(_) => self.missing("management"),
                _ => self.refuse("manage directory groups"),
            },
            _ => self.service_change(mutation),
        }
    }

    fn missing(&self, function: &'static str) -> Result<(), AuthorityError> {
        Err(AuthorityError::MissingFunction {
            actor: self.id.clone(),
            function,
        })
    }

    /// Acting on a user as a customized administrator with `management`.
    fn manage_user(&self, target: &UserId) -> Result<(), AuthorityError> {
        let Rank::Customized(mine) = self.rank else {
            return self.refuse("manage users");
        };
        if !mine.management {
            return self.missing("management");
        }
        match self
            .state
            .users
            .get(target)
            .map(|u| rank(self.state, target, u))
        {
            Some(Rank::Owner | Rank::ServiceAdministrator) => {
                Err(AuthorityError::AboveCustomizedAdministrators {
                    actor: self.id.clone(),
                    target: target.clone(),
                })
            }
            Some(Rank::Customized(theirs))
                if !(all_functions(mine)
                    || theirs.management && functions_within(theirs, mine)) =>
            {
                Err(AuthorityError::TargetOutranksActor {
                    actor: self.id.clone(),
                    target: target.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    /// An application administrator may act only on tenant users.
    fn act_on_tenant_user(&self, target: &UserId) -> Result<(), AuthorityError> {
        match self
            .state
            .users
            .get(target)
            .map(|u| rank(self.state, target, u))
        {
            Some(Rank::Standard | Rank::ApplicationAdministrator(_)) | None => Ok(()),
            Some(_) => Err(AuthorityError::TargetOutranksActor {
                actor: self.id.clone(),
                target: target.clone(),
            }),
        }
    }

    fn set_role(&self, target: &UserId, role: &TenantRole) -> Result<(), AuthorityError> {
        let Rank::Customized(mine) = self.rank else {
            return self.refuse("change tenant roles");
        };
        if matches!(role, TenantRole::Owner | TenantRole::ServiceAdministrator) {
            return Err(AuthorityError::AboveCustomizedAdministrators {
                actor: self.id.clone(),
                target: target.clone(),
            });
        }
        self.manage_user(target)?;
        if let TenantRole::CustomizedAdministrator(theirs) = role
            && !functions_within(*theirs, mine)
        {
            return Err(AuthorityError::TargetOutranksActor {
                actor: self.id.clone(),
                target: target.clone(),
            });
        }
        Ok(())
    }

    /// Service-level changes: customized administrators act as service administrators in
    /// services; others need `settings.edit` on the service and must hold what they give.
    fn service_change(&self, mutation: &Mutation) -> Result<(), AuthorityError> {
        if matches!(self.rank, Rank::Customized(_)) {
            return Ok(());
        }
        let Some(service) = mutation.touched().service else {
            return self.refuse("make this change");
        };
        self.holds(&service, SETTINGS_PERMISSION, None)?;
        match mutation {
            Mutation::GiveGrant { access, node, .. } => {
                let object = match node {
                    GrantNode::Service => None,
                    GrantNode::Object(object) => Some(object.clone()),
                };
                for permission in self.permissions_of(&service, access) {
                    self.holds(&service, permission.as_str(), object.clone())?;
                }
                Ok(())
            }
            Mutation::PutSecurityGroup {
                permissions, scope, ..
            } => {
                let nodes: Vec<Option<super::ids::ObjectId>> = match scope {
                    ObjectScope::AllObjects => vec![None],
                    ObjectScope::Objects(objects) => objects.iter().cloned().map(Some).collect(),
                };
                for permission in
                    self.permissions_of(&service, &Access::Permissions(permissions.clone()))
                {
                    for node in &nodes {
                        self.holds(&service, permission.as_str(), node.clone())?;
                    }
                }
                Ok(())
            }
            Mutation::AddAdministrator { .. } | Mutation::RemoveAdministrator { .. } => {
                // Only those who hold everything in the service manage who holds everything.
                for permission in self.catalog(&service) {
                    self.holds(&service, permission.as_str(), None)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn catalog(&self, service: &ServiceId) -> Vec<Permission> {
        self.snapshot
            .services
            .get(service)
            .map(|s| s.catalog.permissions().cloned().collect())
            .unwrap_or_default()
    }

    /// The catalog permissions an access gives (a level's current set).
    fn permissions_of(&self, service: &ServiceId, access: &Access) -> Vec<Permission> {
        let Some(definition) = self.snapshot.services.get(service) else {
            return Vec::new();
        };
        let bits = match access {
            Access::Permissions(set) => definition.catalog.resolve(set).ok(),
            Access::Level(level) => self
                .state
                .services
                .get(service)
                .and_then(|s| s.levels.get(level))
                .map(|l| l.bits),
        };
        bits.map(|bits| definition.catalog.expand(bits).cloned().collect())
            .unwrap_or_default()
    }

    fn holds(
        &self,
        service: &ServiceId,
        permission: &str,
        object: Option<super::ids::ObjectId>,
    ) -> Result<(), AuthorityError> {
        let place = object.as_ref().map_or_else(
            || "on the service".to_owned(),
            |o| format!("on object `{o}`"),
        );
        let refused = || AuthorityError::NoEscalation {
            actor: self.id.clone(),
            service: service.clone(),
            permission: permission.to_owned(),
            place: place.clone(),
        };
        let permission = Permission::parse(permission).map_err(|_| refused())?;
        let query = CheckQuery {
            tenant: self.tenant.clone(),
            service: service.clone(),
            user: self.id.clone(),
            permission,
            object,
        };
        if self.snapshot.check(&query, self.now) {
            Ok(())
        } else {
            Err(refused())
        }
    }
}

#[cfg(test)]
mod tests;
