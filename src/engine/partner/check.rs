//! Checks for partner users: what a partner user may do inside a customer's tenant,
//! through its partner roles.
//!
//! The path is tenant → its customer → the customer's partner → the partner user → its
//! roles, each with its customer scope read against the customer's group memberships
//! (kept up to date by every change, never evaluated here). A few lookups in small maps,
//! whatever the number of customers, tenants or users.

use super::{
    super::{
        check::is_active,
        decision::{CheckQuery, Denial, Explanation, GrantSource, GrantTrace},
        ids::Timestamp,
        model::Snapshot,
        mutation::GrantNode,
    },
    CustomerAccess, CustomerState, PartnerState, PartnerUserState,
};

impl Snapshot {
    /// Whether the partner user `query.user` may do `query.permission` in the tenant's
    /// service at `now`: only as a service administrator (through a role with that access
    /// whose scope covers the tenant's customer), which allows every permission of every
    /// subscribed service on every object.
    pub fn check_partner_user(&self, query: &CheckQuery, now: Timestamp) -> bool {
        let Ok(place) = self.partner_place(query, now) else {
            return false;
        };
        place.partner.roles_held(&query.user, now).any(|(_, role)| {
            role.details.access == CustomerAccess::ServiceAdministrator
                && role.reaches(place.customer).is_some()
        })
    }

    /// [`Snapshot::check_partner_user`], naming every partner role (and the customer group
    /// through which it reaches the customer) behind an allow, or the reason for a deny.
    pub fn explain_partner_user(&self, query: &CheckQuery, now: Timestamp) -> Explanation {
        let place = match self.partner_place(query, now) {
            Ok(place) => place,
            Err(denial) => return Explanation::Denied(denial),
        };
        let mut allowed = Vec::new();
        let mut reaches_as_tenant_user = false;
        for (id, role) in place.partner.roles_held(&query.user, now) {
            let Some(reach) = role.reaches(place.customer) else {
                continue;
            };
            match role.details.access {
                CustomerAccess::ServiceAdministrator => allowed.push(GrantTrace {
                    source: GrantSource::PartnerRole {
                        role: id.clone(),
                        customer_group: reach.group(),
                    },
                    grant: None,
                    node: GrantNode::Service,
                    group_chain: Vec::new(),
                    expires_at: place.user.roles.get(id).copied().flatten(),
                }),
                CustomerAccess::TenantUser => reaches_as_tenant_user = true,
                CustomerAccess::None => {}
            }
        }
        if !allowed.is_empty() {
            allowed.sort();
            return Explanation::Allowed(allowed);
        }
        Explanation::Denied(if reaches_as_tenant_user {
            Denial::PartnerTenantUserOnly
        } else {
            Denial::NoPartnerRoleReaches
        })
    }

    /// Resolves the tenant, service, object, customer, partner and partner user of a
    /// query, with the denials that come before any role is looked at.
    fn partner_place(&self, query: &CheckQuery, now: Timestamp) -> Result<Place<'_>, Denial> {
        let tenant = self
            .tenants
            .get(&query.tenant)
            .ok_or(Denial::UnknownTenant)?;
        let service_def = self
            .services
            .get(&query.service)
            .ok_or(Denial::UnknownService)?;
        let objects = tenant
            .services
            .get(&query.service)
            .ok_or(Denial::ServiceNotSubscribed)?;
        let customer = tenant
            .customer
            .as_ref()
            .and_then(|customer| self.customers.get(customer))
            .ok_or(Denial::TenantWithoutPartner)?;
        let partner = customer
            .partner
            .as_ref()
            .and_then(|partner| self.partners.get(partner))
            .ok_or(Denial::TenantWithoutPartner)?;
        let user = partner
            .users
            .get(&query.user)
            .ok_or(Denial::UnknownPartnerUser)?;
        if !is_active(user.status, now) {
            return Err(Denial::UserNotActive(user.status));
        }
        if service_def.catalog.bit(&query.permission).is_none() {
            return Err(Denial::UnknownPermission);
        }
        if let Some(object) = &query.object
            && !objects.objects.contains_key(object)
        {
            return Err(Denial::UnknownObject);
        }
        Ok(Place {
            customer,
            partner,
            user,
        })
    }
}

struct Place<'a> {
    customer: &'a CustomerState,
    partner: &'a PartnerState,
    user: &'a PartnerUserState,
}
