//! Partners, partner users, customers and the link of tenants to customers
//! (`PartnerService`; `partner_access.rs` has customer groups and partner roles). Every
//! change is one `Mutation::Partner`.

use std::collections::{BTreeMap, BTreeSet};

use tonic::Status;

use super::{IdSource, chosen_id, if_masked, mask_paths};
use crate::{
    api::{
        bounds,
        convert::{self, id, optional_id},
        management::records,
        pb,
        status::{invalid_field, required},
    },
    engine::{
        CustomerId, Mutation, NewUser, PartnerId, PartnerRoleId, ServiceId, TenantId, Timestamp,
        UserId, UserStatus,
        partner::{CustomerDetails, CustomerRecord, MAX_TAGS, PartnerChange},
    },
};

const CUSTOMER_MASK: &[&str] = &["name", "email", "tags", "data_centre", "services"];

/// A change to one partner user (for an invitation: the id chosen for it).
#[derive(Debug)]
pub(crate) struct PartnerUserChange {
    pub(crate) partner: PartnerId,
    pub(crate) user: UserId,
    pub(crate) mutation: Mutation,
}

/// A change to one customer (for a creation: the id chosen for it).
#[derive(Debug)]
pub(crate) struct CustomerChange {
    pub(crate) partner: PartnerId,
    pub(crate) customer: CustomerId,
    pub(crate) mutation: Mutation,
}

/// A tenant linked to a customer, or unlinked.
#[derive(Debug)]
pub(crate) struct TenantCustomerChange {
    pub(crate) tenant: TenantId,
    pub(crate) mutation: Mutation,
}

pub(super) fn partner_change(change: PartnerChange) -> Mutation {
    Mutation::Partner(change)
}

/// The onboarding of a partner with its system account (ids the caller left empty are
/// chosen here; a retry finds them in the first change).
pub(crate) fn onboard_partner(
    request: &pb::OnboardPartnerRequest,
    ids: &dyn IdSource,
) -> Result<Mutation, Status> {
    let partner = chosen_id(ids, "id", &request.id, "partner", PartnerId::parse)?;
    bounds::required_text("name", &request.name)?;
    bounds::required_text("owner_email", &request.owner_email)?;
    bounds::required_text("owner_display_name", &request.owner_display_name)?;
    Ok(partner_change(PartnerChange::Onboard {
        partner,
        name: request.name.clone(),
        owner: NewUser {
            user: chosen_id(ids, "owner_id", &request.owner_id, "user", UserId::parse)?,
            email: request.owner_email.clone(),
            display_name: request.owner_display_name.clone(),
            kind: records::user_kind(request.owner_kind, "owner_kind")?,
        },
    }))
}

/// The roles of an invitation, each once, each with an expiry in the future (`now`).
fn memberships(
    field: &str,
    roles: &[pb::PartnerRoleMembership],
    now: Timestamp,
) -> Result<BTreeMap<PartnerRoleId, Option<Timestamp>>, Status> {
    let mut out = BTreeMap::new();
    for (i, membership) in roles.iter().enumerate() {
        let role = id(
            &format!("{field}[{i}].role"),
            &membership.role,
            PartnerRoleId::parse,
        )?;
        let until = records::expiry(
            &format!("{field}[{i}].until"),
            membership.until.as_ref(),
            now,
        )?;
        if out.insert(role, until).is_some() {
            return Err(invalid_field(
                &format!("{field}[{i}].role"),
                "names a role twice; each role is named once",
            ));
        }
    }
    Ok(out)
}

pub(crate) fn invite_partner_user(
    request: &pb::InvitePartnerUserRequest,
    ids: &dyn IdSource,
    now: Timestamp,
) -> Result<PartnerUserChange, Status> {
    let partner = id("partner", &request.partner, PartnerId::parse)?;
    bounds::required_text("email", &request.email)?;
    bounds::required_text("display_name", &request.display_name)?;
    let user = chosen_id(ids, "id", &request.id, "user", UserId::parse)?;
    let mutation = partner_change(PartnerChange::InviteUser {
        partner: partner.clone(),
        user: NewUser {
            user: user.clone(),
            email: request.email.clone(),
            display_name: request.display_name.clone(),
            kind: records::user_kind(request.kind, "kind")?,
        },
        roles: memberships("roles", &request.roles, now)?,
    });
    Ok(PartnerUserChange {
        partner,
        user,
        mutation,
    })
}

/// The partner user a [`pb::PartnerUserRefRequest`] names, and `mutation` made for it.
fn partner_user_ref(
    request: &pb::PartnerUserRefRequest,
    mutation: impl FnOnce(PartnerId, UserId) -> PartnerChange,
) -> Result<PartnerUserChange, Status> {
    let partner = id("partner", &request.partner, PartnerId::parse)?;
    let user = id("user", &request.user, UserId::parse)?;
    let mutation = partner_change(mutation(partner.clone(), user.clone()));
    Ok(PartnerUserChange {
        partner,
        user,
        mutation,
    })
}

pub(crate) fn set_partner_user_status(
    request: &pb::PartnerUserRefRequest,
    status: UserStatus,
) -> Result<PartnerUserChange, Status> {
    partner_user_ref(request, |partner, user| PartnerChange::SetUserStatus {
        partner,
        user,
        status,
    })
}

pub(crate) fn reset_partner_user_mfa(
    request: &pb::PartnerUserRefRequest,
) -> Result<PartnerUserChange, Status> {
    partner_user_ref(request, |partner, user| PartnerChange::ResetMfa {
        partner,
        user,
    })
}

/// A sign-in report under the server's lockout policy, which travels with the change.
pub(crate) fn report_partner_sign_in(
    request: &pb::ReportPartnerSignInRequest,
    lock_after: u32,
    lock_for: std::time::Duration,
) -> Result<PartnerUserChange, Status> {
    let partner = id("partner", &request.partner, PartnerId::parse)?;
    let user = id("user", &request.user, UserId::parse)?;
    Ok(PartnerUserChange {
        mutation: Mutation::Partner(PartnerChange::ReportSignIn {
            partner: partner.clone(),
            user: user.clone(),
            success: request.success,
            lock_after,
            lock_for_millis: i64::try_from(lock_for.as_millis()).unwrap_or(i64::MAX),
        }),
        partner,
        user,
    })
}

pub(crate) fn delete_partner_user(
    request: &pb::PartnerUserRefRequest,
) -> Result<PartnerUserChange, Status> {
    partner_user_ref(request, |partner, user| PartnerChange::DeleteUser {
        partner,
        user,
    })
}

pub(crate) fn transfer_partner_ownership(
    request: &pb::TransferPartnerOwnershipRequest,
) -> Result<PartnerUserChange, Status> {
    let partner = id("partner", &request.partner, PartnerId::parse)?;
    let user = id("new_owner", &request.new_owner, UserId::parse)?;
    let mutation = partner_change(PartnerChange::TransferOwnership {
        partner: partner.clone(),
        new_owner: user.clone(),
    });
    Ok(PartnerUserChange {
        partner,
        user,
        mutation,
    })
}

/// A request's required resource message.
pub(super) fn resource<'a, T>(field: &str, message: Option<&'a T>) -> Result<&'a T, Status> {
    message.ok_or_else(|| required(field))
}

fn tags(field: &str, tags: &[String]) -> Result<BTreeSet<String>, Status> {
    if tags.len() > MAX_TAGS {
        return Err(invalid_field(
            field,
            format!("a customer has at most {MAX_TAGS} tags, got {}", tags.len()),
        ));
    }
    tags.iter()
        .enumerate()
        .map(|(i, tag)| bounds::attribute(&format!("{field}[{i}]"), tag).map(str::to_owned))
        .collect()
}

fn data_centre(field: &str, text: &str) -> Result<String, Status> {
    if text.is_empty() {
        return Ok(String::new());
    }
    bounds::attribute(field, text).map(str::to_owned)
}

/// A customer's attributes from the message (all of them: a creation, or a merge).
fn customer_details(message: &pb::Customer) -> Result<CustomerDetails, Status> {
    Ok(CustomerDetails {
        name: bounds::required_text("customer.name", &message.name)?.to_owned(),
        email: bounds::required_text("customer.email", &message.email)?.to_owned(),
        tags: tags("customer.tags", &message.tags)?,
        data_centre: data_centre("customer.data_centre", &message.data_centre)?,
        services: convert::ids("customer.services", &message.services, ServiceId::parse)?,
    })
}

pub(crate) fn create_customer(
    request: &pb::CreateCustomerRequest,
    ids: &dyn IdSource,
) -> Result<CustomerChange, Status> {
    let message = resource("customer", request.customer.as_ref())?;
    let partner = id("customer.partner", &message.partner, PartnerId::parse)?;
    let customer = chosen_id(
        ids,
        "customer.id",
        &message.id,
        "customer",
        CustomerId::parse,
    )?;
    let mutation = partner_change(PartnerChange::PutCustomer {
        partner: partner.clone(),
        customer: customer.clone(),
        details: customer_details(message)?,
    });
    Ok(CustomerChange {
        partner,
        customer,
        mutation,
    })
}

/// An update of a customer's attributes: the fields the mask names (`Some`) are set,
/// merged into the customer as it is when the writer applies it.
#[derive(Debug)]
pub(crate) struct CustomerUpdate {
    pub(crate) partner: PartnerId,
    pub(crate) customer: CustomerId,
    name: Option<String>,
    email: Option<String>,
    tags: Option<BTreeSet<String>>,
    data_centre: Option<String>,
    services: Option<BTreeSet<ServiceId>>,
}

pub(crate) fn update_customer(
    request: &pb::UpdateCustomerRequest,
) -> Result<CustomerUpdate, Status> {
    let message = resource("customer", request.customer.as_ref())?;
    let partner = id("customer.partner", &message.partner, PartnerId::parse)?;
    let customer = id("customer.id", &message.id, CustomerId::parse)?;
    let paths = mask_paths(bounds::mask(request.update_mask.as_ref())?, CUSTOMER_MASK)?;
    Ok(CustomerUpdate {
        partner,
        customer,
        name: if_masked(&paths, "name", || {
            bounds::required_text("customer.name", &message.name).map(str::to_owned)
        })
        .transpose()?,
        email: if_masked(&paths, "email", || {
            bounds::required_text("customer.email", &message.email).map(str::to_owned)
        })
        .transpose()?,
        tags: if_masked(&paths, "tags", || tags("customer.tags", &message.tags)).transpose()?,
        data_centre: if_masked(&paths, "data_centre", || {
            data_centre("customer.data_centre", &message.data_centre)
        })
        .transpose()?,
        services: if_masked(&paths, "services", || {
            convert::ids("customer.services", &message.services, ServiceId::parse)
        })
        .transpose()?,
    })
}

impl CustomerUpdate {
    /// The customer as it is, with the masked fields set.
    pub(crate) fn merge(&self, current: CustomerRecord) -> Mutation {
        let mut details = current.details;
        if let Some(name) = &self.name {
            details.name.clone_from(name);
        }
        if let Some(email) = &self.email {
            details.email.clone_from(email);
        }
        if let Some(tags) = &self.tags {
            details.tags.clone_from(tags);
        }
        if let Some(centre) = &self.data_centre {
            details.data_centre.clone_from(centre);
        }
        if let Some(services) = &self.services {
            details.services.clone_from(services);
        }
        partner_change(PartnerChange::PutCustomer {
            partner: self.partner.clone(),
            customer: self.customer.clone(),
            details,
        })
    }
}

pub(crate) fn delete_customer(request: &pb::CustomerRefRequest) -> Result<CustomerChange, Status> {
    let partner = id("partner", &request.partner, PartnerId::parse)?;
    let customer = id("customer", &request.customer, CustomerId::parse)?;
    let mutation = partner_change(PartnerChange::DeleteCustomer {
        partner: partner.clone(),
        customer: customer.clone(),
    });
    Ok(CustomerChange {
        partner,
        customer,
        mutation,
    })
}

pub(crate) fn set_tenant_customer(
    request: &pb::SetTenantCustomerRequest,
) -> Result<TenantCustomerChange, Status> {
    let tenant = id("tenant", &request.tenant, TenantId::parse)?;
    let customer = optional_id("customer", &request.customer, CustomerId::parse)?;
    let mutation = partner_change(PartnerChange::SetTenantCustomer {
        tenant: tenant.clone(),
        customer,
    });
    Ok(TenantCustomerChange { tenant, mutation })
}
