//! Customer groups and partner roles (`PartnerService`): which customers each partner
//! role reaches. Every change is one `Mutation::Partner`.

use std::collections::BTreeSet;

use tonic::Status;

use super::{
    IdSource, chosen_id, if_masked, mask_paths,
    partner::{partner_change, resource},
};
use crate::{
    api::{
        bounds,
        convert::{self, id},
        management::{partner_records, records},
        pb,
        status::{self, invalid_field, required},
    },
    engine::{
        CustomerGroupId, CustomerId, Mutation, PartnerId, PartnerRoleId, PermissionSet, ServiceId,
        Timestamp, UserId,
        partner::{
            Condition, CustomerAccess, CustomerGroupDetails, CustomerGroupRecord, CustomerScope,
            GroupRule, MAX_CONDITION_DEPTH, MAX_CONDITION_TERMS, MAX_GROUP_CUSTOMERS_PER_CALL,
            PartnerChange, PartnerRoleDetails, PartnerRoleRecord,
        },
    },
};

const CUSTOMER_GROUP_MASK: &[&str] = &["name", "description", "condition"];
const PARTNER_ROLE_MASK: &[&str] = &[
    "name",
    "description",
    "platform_permissions",
    "module_permissions",
    "access",
    "scope",
];

/// A change to one customer group (for a creation: the id chosen for it).
#[derive(Debug)]
pub(crate) struct CustomerGroupChange {
    pub(crate) partner: PartnerId,
    pub(crate) group: CustomerGroupId,
    pub(crate) mutation: Mutation,
}

/// A change to one partner role (for a creation: the id chosen for it).
#[derive(Debug)]
pub(crate) struct PartnerRoleChange {
    pub(crate) partner: PartnerId,
    pub(crate) role: PartnerRoleId,
    pub(crate) mutation: Mutation,
}

/// A dynamic group's condition, bounded as the engine bounds it (depth and terms), so
/// that a hostile nesting is refused before it is walked further.
pub(crate) fn condition(field: &str, message: &pb::GroupCondition) -> Result<Condition, Status> {
    let mut terms = 0;
    condition_at(field, message, 1, &mut terms)
}

fn condition_at(
    field: &str,
    message: &pb::GroupCondition,
    depth: usize,
    terms: &mut usize,
) -> Result<Condition, Status> {
    use pb::group_condition::Test;
    *terms += 1;
    if *terms > MAX_CONDITION_TERMS {
        return Err(invalid_field(
            field,
            format!("a condition has at most {MAX_CONDITION_TERMS} terms"),
        ));
    }
    let test = message.test.as_ref().ok_or_else(|| {
        invalid_field(
            field,
            "names no test: set `tag`, `data_centre`, `service`, `all` or `any`",
        )
    })?;
    let mut combined = |inner: &pb::GroupConditions, word: &str| {
        if depth >= MAX_CONDITION_DEPTH {
            return Err(invalid_field(
                field,
                format!("and/or nest at most {MAX_CONDITION_DEPTH} deep"),
            ));
        }
        inner
            .terms
            .iter()
            .enumerate()
            .map(|(i, term)| condition_at(&format!("{field}.{word}[{i}]"), term, depth + 1, terms))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match test {
        Test::Tag(tag) => {
            Condition::Tag(bounds::attribute(&format!("{field}.tag"), tag)?.to_owned())
        }
        Test::DataCentre(centre) => Condition::DataCentre(
            bounds::attribute(&format!("{field}.data_centre"), centre)?.to_owned(),
        ),
        Test::Service(service) => {
            Condition::Service(id(&format!("{field}.service"), service, ServiceId::parse)?)
        }
        Test::All(inner) => Condition::All(combined(inner, "all")?),
        Test::Any(inner) => Condition::Any(combined(inner, "any")?),
    })
}

fn group_rule(message: &pb::CustomerGroup) -> Result<GroupRule, Status> {
    Ok(match &message.condition {
        None => GroupRule::Static,
        Some(inner) => GroupRule::Dynamic(condition("customer_group.condition", inner)?),
    })
}

pub(crate) fn create_customer_group(
    request: &pb::CreateCustomerGroupRequest,
    ids: &dyn IdSource,
) -> Result<CustomerGroupChange, Status> {
    let message = resource("customer_group", request.customer_group.as_ref())?;
    let partner = id("customer_group.partner", &message.partner, PartnerId::parse)?;
    let group = chosen_id(
        ids,
        "customer_group.id",
        &message.id,
        "customer-group",
        CustomerGroupId::parse,
    )?;
    let details = CustomerGroupDetails {
        name: bounds::required_text("customer_group.name", &message.name)?.to_owned(),
        description: bounds::text("customer_group.description", &message.description)?.to_owned(),
        rule: group_rule(message)?,
    };
    let mutation = partner_change(PartnerChange::PutCustomerGroup {
        partner: partner.clone(),
        group: group.clone(),
        details,
    });
    Ok(CustomerGroupChange {
        partner,
        group,
        mutation,
    })
}

/// An update of a customer group: the fields the mask names (`Some`) are set, merged into
/// the group as it is when the writer applies it.
#[derive(Debug)]
pub(crate) struct CustomerGroupUpdate {
    pub(crate) partner: PartnerId,
    pub(crate) group: CustomerGroupId,
    name: Option<String>,
    description: Option<String>,
    rule: Option<GroupRule>,
}

pub(crate) fn update_customer_group(
    request: &pb::UpdateCustomerGroupRequest,
) -> Result<CustomerGroupUpdate, Status> {
    let message = resource("customer_group", request.customer_group.as_ref())?;
    let partner = id("customer_group.partner", &message.partner, PartnerId::parse)?;
    let group = id("customer_group.id", &message.id, CustomerGroupId::parse)?;
    let paths = mask_paths(
        bounds::mask(request.update_mask.as_ref())?,
        CUSTOMER_GROUP_MASK,
    )?;
    Ok(CustomerGroupUpdate {
        partner,
        group,
        name: if_masked(&paths, "name", || {
            bounds::required_text("customer_group.name", &message.name).map(str::to_owned)
        })
        .transpose()?,
        description: if_masked(&paths, "description", || {
            bounds::text("customer_group.description", &message.description).map(str::to_owned)
        })
        .transpose()?,
        rule: if_masked(&paths, "condition", || group_rule(message)).transpose()?,
    })
}

impl CustomerGroupUpdate {
    /// The group as it is, with the masked fields set.
    pub(crate) fn merge(&self, current: CustomerGroupRecord) -> Mutation {
        partner_change(PartnerChange::PutCustomerGroup {
            partner: self.partner.clone(),
            group: self.group.clone(),
            details: CustomerGroupDetails {
                name: self.name.clone().unwrap_or(current.name),
                description: self.description.clone().unwrap_or(current.description),
                rule: self.rule.clone().unwrap_or(current.rule),
            },
        })
    }
}

/// The group a [`pb::CustomerGroupRefRequest`] names, and `mutation` made for it.
pub(crate) fn customer_group_ref(
    request: &pb::CustomerGroupRefRequest,
    mutation: impl FnOnce(PartnerId, CustomerGroupId) -> PartnerChange,
) -> Result<CustomerGroupChange, Status> {
    let partner = id("partner", &request.partner, PartnerId::parse)?;
    let group = id(
        "customer_group",
        &request.customer_group,
        CustomerGroupId::parse,
    )?;
    let mutation = partner_change(mutation(partner.clone(), group.clone()));
    Ok(CustomerGroupChange {
        partner,
        group,
        mutation,
    })
}

pub(crate) fn delete_customer_group(
    request: &pb::CustomerGroupRefRequest,
) -> Result<CustomerGroupChange, Status> {
    customer_group_ref(request, |partner, group| {
        PartnerChange::DeleteCustomerGroup { partner, group }
    })
}

pub(crate) fn resync_customer_group(
    request: &pb::CustomerGroupRefRequest,
) -> Result<CustomerGroupChange, Status> {
    customer_group_ref(request, |partner, group| {
        PartnerChange::ResyncCustomerGroup { partner, group }
    })
}

/// Adds customers to a static group, or (`remove`) takes them out.
pub(crate) fn group_customers(
    request: &pb::GroupCustomersRequest,
    remove: bool,
) -> Result<CustomerGroupChange, Status> {
    let partner = id("partner", &request.partner, PartnerId::parse)?;
    let group = id(
        "customer_group",
        &request.customer_group,
        CustomerGroupId::parse,
    )?;
    let count = request.customers.len();
    if count == 0 || count > MAX_GROUP_CUSTOMERS_PER_CALL {
        return Err(status::bulk_items(
            "customers",
            count,
            MAX_GROUP_CUSTOMERS_PER_CALL,
        ));
    }
    let mut customers = BTreeSet::new();
    for (i, text) in request.customers.iter().enumerate() {
        let customer = id(&format!("customers[{i}]"), text, CustomerId::parse)?;
        if !customers.insert(customer) {
            let first = request
                .customers
                .iter()
                .position(|t| t == text)
                .unwrap_or(i);
            return Err(status::bulk_duplicate("customers", i, first));
        }
    }
    let mutation = partner_change(PartnerChange::SetGroupCustomers {
        partner: partner.clone(),
        group: group.clone(),
        customers,
        remove,
    });
    Ok(CustomerGroupChange {
        partner,
        group,
        mutation,
    })
}

/// Platform or module permissions of a role: patterns, possibly none.
pub(super) fn role_permissions(field: &str, patterns: &[String]) -> Result<PermissionSet, Status> {
    if patterns.is_empty() {
        return Ok(PermissionSet(Vec::new()));
    }
    records::permission_set(field, patterns)
}

fn customer_scope(message: Option<&pb::CustomerScope>) -> Result<CustomerScope, Status> {
    let field = "partner_role.scope";
    let message = message.ok_or_else(|| required(field))?;
    match (message.all_customers, message.customer_groups.is_empty()) {
        (true, true) => Ok(CustomerScope::AllCustomers),
        (true, false) => Err(invalid_field(
            field,
            "set `all_customers` or `customer_groups`, not both",
        )),
        (false, true) => Err(invalid_field(
            field,
            "set `all_customers` or name at least one customer group",
        )),
        (false, false) => convert::ids(
            "partner_role.scope.customer_groups",
            &message.customer_groups,
            CustomerGroupId::parse,
        )
        .map(CustomerScope::Groups),
    }
}

/// A role's whole definition from the message.
fn role_details(message: &pb::PartnerRole) -> Result<PartnerRoleDetails, Status> {
    Ok(PartnerRoleDetails {
        name: bounds::required_text("partner_role.name", &message.name)?.to_owned(),
        description: bounds::text("partner_role.description", &message.description)?.to_owned(),
        platform_permissions: role_permissions(
            "partner_role.platform_permissions",
            &message.platform_permissions,
        )?,
        module_permissions: role_permissions(
            "partner_role.module_permissions",
            &message.module_permissions,
        )?,
        access: partner_records::customer_access(message.access, "partner_role.access")?,
        scope: customer_scope(message.scope.as_ref())?,
    })
}

pub(crate) fn create_partner_role(
    request: &pb::CreatePartnerRoleRequest,
    ids: &dyn IdSource,
) -> Result<PartnerRoleChange, Status> {
    let message = resource("partner_role", request.partner_role.as_ref())?;
    let partner = id("partner_role.partner", &message.partner, PartnerId::parse)?;
    let role = chosen_id(
        ids,
        "partner_role.id",
        &message.id,
        "partner-role",
        PartnerRoleId::parse,
    )?;
    let mutation = partner_change(PartnerChange::PutRole {
        partner: partner.clone(),
        role: role.clone(),
        details: role_details(message)?,
    });
    Ok(PartnerRoleChange {
        partner,
        role,
        mutation,
    })
}

/// An update of a partner role: the fields the mask names (`Some`) are set, merged into
/// the role as it is when the writer applies it.
#[derive(Debug)]
pub(crate) struct PartnerRoleUpdate {
    pub(crate) partner: PartnerId,
    pub(crate) role: PartnerRoleId,
    name: Option<String>,
    description: Option<String>,
    platform_permissions: Option<PermissionSet>,
    module_permissions: Option<PermissionSet>,
    access: Option<CustomerAccess>,
    scope: Option<CustomerScope>,
}

pub(crate) fn update_partner_role(
    request: &pb::UpdatePartnerRoleRequest,
) -> Result<PartnerRoleUpdate, Status> {
    let message = resource("partner_role", request.partner_role.as_ref())?;
    let partner = id("partner_role.partner", &message.partner, PartnerId::parse)?;
    let role = id("partner_role.id", &message.id, PartnerRoleId::parse)?;
    let paths = mask_paths(
        bounds::mask(request.update_mask.as_ref())?,
        PARTNER_ROLE_MASK,
    )?;
    Ok(PartnerRoleUpdate {
        partner,
        role,
        name: if_masked(&paths, "name", || {
            bounds::required_text("partner_role.name", &message.name).map(str::to_owned)
        })
        .transpose()?,
        description: if_masked(&paths, "description", || {
            bounds::text("partner_role.description", &message.description).map(str::to_owned)
        })
        .transpose()?,
        platform_permissions: if_masked(&paths, "platform_permissions", || {
            role_permissions(
                "partner_role.platform_permissions",
                &message.platform_permissions,
            )
        })
        .transpose()?,
        module_permissions: if_masked(&paths, "module_permissions", || {
            role_permissions(
                "partner_role.module_permissions",
                &message.module_permissions,
            )
        })
        .transpose()?,
        access: if_masked(&paths, "access", || {
            partner_records::customer_access(message.access, "partner_role.access")
        })
        .transpose()?,
        scope: if_masked(&paths, "scope", || customer_scope(message.scope.as_ref())).transpose()?,
    })
}

impl PartnerRoleUpdate {
    /// The role as it is, with the masked fields set.
    pub(crate) fn merge(&self, current: PartnerRoleRecord) -> Mutation {
        let current = current.details;
        partner_change(PartnerChange::PutRole {
            partner: self.partner.clone(),
            role: self.role.clone(),
            details: PartnerRoleDetails {
                name: self.name.clone().unwrap_or(current.name),
                description: self.description.clone().unwrap_or(current.description),
                platform_permissions: self
                    .platform_permissions
                    .clone()
                    .unwrap_or(current.platform_permissions),
                module_permissions: self
                    .module_permissions
                    .clone()
                    .unwrap_or(current.module_permissions),
                access: self.access.unwrap_or(current.access),
                scope: self.scope.clone().unwrap_or(current.scope),
            },
        })
    }
}

/// Deletes the custom role a [`pb::PartnerRoleRefRequest`] names.
pub(crate) fn delete_partner_role(
    request: &pb::PartnerRoleRefRequest,
) -> Result<PartnerRoleChange, Status> {
    let partner = id("partner", &request.partner, PartnerId::parse)?;
    let role = id("partner_role", &request.partner_role, PartnerRoleId::parse)?;
    let mutation = partner_change(PartnerChange::DeleteRole {
        partner: partner.clone(),
        role: role.clone(),
    });
    Ok(PartnerRoleChange {
        partner,
        role,
        mutation,
    })
}

/// Adds a member to a role until an expiry in the future (`now`), or (`add` false) takes
/// one out.
pub(crate) fn partner_role_member(
    request: &pb::PartnerRoleMemberRequest,
    add: bool,
    now: Timestamp,
) -> Result<PartnerRoleChange, Status> {
    let partner = id("partner", &request.partner, PartnerId::parse)?;
    let role = id("partner_role", &request.partner_role, PartnerRoleId::parse)?;
    let user = id("user", &request.user, UserId::parse)?;
    let (p, r) = (partner.clone(), role.clone());
    let change = if add {
        PartnerChange::AddRoleMember {
            partner: p,
            role: r,
            user,
            until: records::expiry("until", request.until.as_ref(), now)?,
        }
    } else {
        PartnerChange::RemoveRoleMember {
            partner: p,
            role: r,
            user,
        }
    };
    Ok(PartnerRoleChange {
        partner,
        role,
        mutation: partner_change(change),
    })
}
