//! Who may make which partner-level change. The actor is a user of the change's partner.
//!
//! Partner Administrators (the owner and members of the built-in role) manage users,
//! roles and customer groups; no one else does, so nobody gives a permission or a scope
//! they do not hold. Other roles act on customers with their platform permissions
//! (`customers.onboard`, `customers.edit`, `customers.manage_subscriptions`), and only on
//! customers their scope reaches.

use super::{
    super::{
        authority::AuthorityError,
        check::is_active,
        ids::{PartnerId, Timestamp, UserId},
        model::Snapshot,
        permission::Permission,
    },
    CustomerState, PartnerChange, PartnerState, platform_catalog,
};

impl Snapshot {
    /// Whether `actor`, a user of the change's partner, may make `change` at `now`.
    pub(crate) fn authorize_partner(
        &self,
        actor: &UserId,
        change: &PartnerChange,
        now: Timestamp,
    ) -> Result<(), AuthorityError> {
        let platform = |action| Err(AuthorityError::PlatformOnly { action });
        let partner_id = match change {
            PartnerChange::Onboard { .. } => return platform("onboard partners"),
            PartnerChange::ReportSignIn { .. } => return platform("report sign-ins"),
            PartnerChange::SetTenantCustomer { .. } => {
                return platform("link tenants to customers");
            }
            other => match other.partner() {
                Some(partner) => partner,
                None => return platform("make this change"),
            },
        };
        let partner = self
            .partners
            .get(partner_id)
            .ok_or_else(|| unknown(actor, partner_id))?;
        let user = partner
            .users
            .get(actor)
            .ok_or_else(|| unknown(actor, partner_id))?;
        if !is_active(user.status, now) {
            return Err(AuthorityError::ActorNotActive {
                actor: actor.clone(),
            });
        }
        if partner.is_administrator(actor) {
            return Ok(());
        }
        let administrators_only = |action| {
            Err(AuthorityError::PartnerAdministratorsOnly {
                actor: actor.clone(),
                action,
            })
        };
        match change {
            PartnerChange::PutCustomer {
                customer, details, ..
            } => {
                let Some(existing) = self
                    .customers
                    .get(customer)
                    .filter(|c| c.partner.as_ref() == Some(partner_id))
                else {
                    return holds(partner, actor, "customers.onboard", None, now);
                };
                holds(partner, actor, "customers.edit", Some(existing), now)?;
                if existing.services != details.services {
                    holds(
                        partner,
                        actor,
                        "customers.manage_subscriptions",
                        Some(existing),
                        now,
                    )?;
                }
                Ok(())
            }
            PartnerChange::InviteUser { .. } => administrators_only("invite partner users"),
            PartnerChange::ResetMfa { .. } => administrators_only("reset partner users' MFA"),
            PartnerChange::SetUserStatus { .. } => {
                administrators_only("change partner users' status")
            }
            PartnerChange::DeleteUser { .. } => administrators_only("delete partner users"),
            PartnerChange::TransferOwnership { .. } => {
                administrators_only("transfer the partner's ownership")
            }
            PartnerChange::DeleteCustomer { .. } => administrators_only("delete customers"),
            PartnerChange::PutCustomerGroup { .. }
            | PartnerChange::DeleteCustomerGroup { .. }
            | PartnerChange::SetGroupCustomers { .. }
            | PartnerChange::ResyncCustomerGroup { .. } => {
                administrators_only("manage customer groups")
            }
            PartnerChange::PutCustomerRole { .. }
            | PartnerChange::DeleteCustomerRole { .. }
            | PartnerChange::SetCustomerRoleTenantSync { .. } => {
                administrators_only("manage customer roles")
            }
            PartnerChange::PutRole { .. }
            | PartnerChange::DeleteRole { .. }
            | PartnerChange::AddRoleMember { .. }
            | PartnerChange::RemoveRoleMember { .. } => administrators_only("manage partner roles"),
            PartnerChange::Onboard { .. }
            | PartnerChange::SetTenantCustomer { .. }
            | PartnerChange::ReportSignIn { .. } => platform("make this change"),
        }
    }
}

fn unknown(actor: &UserId, partner: &PartnerId) -> AuthorityError {
    AuthorityError::UnknownPartnerActor {
        actor: actor.clone(),
        partner: partner.clone(),
    }
}

/// Whether one of `actor`'s roles holds `permission` with a scope that reaches `customer`
/// (`None`, for onboarding: the customer does not exist yet, so any scope will do).
fn holds(
    partner: &PartnerState,
    actor: &UserId,
    permission: &'static str,
    customer: Option<&CustomerState>,
    now: Timestamp,
) -> Result<(), AuthorityError> {
    let bit = Permission::parse(permission)
        .ok()
        .and_then(|p| platform_catalog().bit(&p));
    let holds = partner.roles_held(actor, now).any(|(_, role)| {
        customer.is_none_or(|customer| role.reaches(customer).is_some())
            && bit.is_some_and(|bit| {
                platform_catalog()
                    .resolve(&role.details.platform_permissions)
                    .is_ok_and(|bits| bits.contains(bit))
            })
    });
    if holds {
        Ok(())
    } else {
        Err(AuthorityError::MissingPlatformPermission {
            actor: actor.clone(),
            permission,
        })
    }
}
