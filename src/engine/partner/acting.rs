//! A partner user acting inside a customer's tenant through the tenant management API.
//!
//! It acts there as what its partner roles make it: a service administrator where a role
//! with that access reaches the tenant's customer (every tenant-level change and read,
//! the audit trail included), a tenant user where a role reaches it with tenant-user
//! access only (reads of the tenant's administration data, no changes). The tenant must
//! belong to a customer of the actor's partner; the actor must be an active user of that
//! partner. Platform changes stay the platform's, and partner-level changes are judged
//! as on `PartnerService` (by the partner's own rules, for the actor's partner only).

use super::{
    super::{
        authority::{AuthorityError, tenant_change},
        check::is_active,
        ids::{PartnerId, TenantId, Timestamp, UserId},
        model::Snapshot,
        mutation::Mutation,
    },
    CustomerAccess,
};

impl Snapshot {
    /// Whether `user` of `partner` may make `mutation` at `now` in the mutation's tenant.
    pub(crate) fn authorize_partner_actor(
        &self,
        partner: &PartnerId,
        user: &UserId,
        mutation: &Mutation,
        now: Timestamp,
    ) -> Result<(), AuthorityError> {
        if let Mutation::Batch { changes, .. } = mutation {
            return self.authorize_each(changes, now, |state, change| {
                state.authorize_partner_actor(partner, user, change, now)
            });
        }
        if let Mutation::Partner(change) = mutation {
            if change.partner() != Some(partner) {
                return Err(AuthorityError::UnknownPartnerActor {
                    actor: user.clone(),
                    partner: change.partner().cloned().unwrap_or_else(|| partner.clone()),
                });
            }
            return self.authorize_partner(user, change, now);
        }
        let tenant = tenant_change(mutation)?;
        match self.partner_access_in(partner, user, &tenant, now)? {
            CustomerAccess::ServiceAdministrator => Ok(()),
            _ => Err(AuthorityError::PartnerTenantUserOnly {
                actor: user.clone(),
                tenant,
                action: "change the tenant's administration",
            }),
        }
    }

    /// Whether `user` of `partner` may read `tenant`'s administration data at `now`: any
    /// role of it reaches the tenant's customer with tenant-user or service-administrator
    /// access. With `audit`, the tenant's audit trail: service-administrator access only.
    pub(crate) fn authorize_partner_reader(
        &self,
        partner: &PartnerId,
        user: &UserId,
        tenant: &TenantId,
        audit: bool,
        now: Timestamp,
    ) -> Result<(), AuthorityError> {
        match self.partner_access_in(partner, user, tenant, now)? {
            CustomerAccess::ServiceAdministrator => Ok(()),
            _ if audit => Err(AuthorityError::PartnerTenantUserOnly {
                actor: user.clone(),
                tenant: tenant.clone(),
                action: "read the audit trail",
            }),
            _ => Ok(()),
        }
    }

    /// The highest access `user` of `partner` has in `tenant` at `now` through its roles
    /// (never [`CustomerAccess::None`]: no access is refused with the reason).
    fn partner_access_in(
        &self,
        partner: &PartnerId,
        user: &UserId,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<CustomerAccess, AuthorityError> {
        let outside = || AuthorityError::TenantOutsidePartner {
            actor: user.clone(),
            partner: partner.clone(),
            tenant: tenant.clone(),
        };
        let customer = self
            .tenants
            .get(tenant)
            .and_then(|state| state.customer.as_ref())
            .and_then(|customer| self.customers.get(customer))
            .filter(|customer| customer.partner.as_ref() == Some(partner))
            .ok_or_else(outside)?;
        let partner_state = self.partners.get(partner).ok_or_else(outside)?;
        let user_state =
            partner_state
                .users
                .get(user)
                .ok_or_else(|| AuthorityError::UnknownPartnerActor {
                    actor: user.clone(),
                    partner: partner.clone(),
                })?;
        if !is_active(user_state.status, now) {
            return Err(AuthorityError::ActorNotActive {
                actor: user.clone(),
            });
        }
        let mut best = CustomerAccess::None;
        for (_, role) in partner_state.roles_held(user, now) {
            if role.reaches(customer).is_none() {
                continue;
            }
            match role.details.access {
                CustomerAccess::ServiceAdministrator => {
                    return Ok(CustomerAccess::ServiceAdministrator);
                }
                CustomerAccess::TenantUser => best = CustomerAccess::TenantUser,
                CustomerAccess::None => {}
            }
        }
        if best == CustomerAccess::None {
            return Err(AuthorityError::NoPartnerRoleReaches {
                actor: user.clone(),
                tenant: tenant.clone(),
            });
        }
        Ok(best)
    }
}
