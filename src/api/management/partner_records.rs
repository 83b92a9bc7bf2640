//! Partner-level engine records → protobuf resources, each with its etag (as
//! `records.rs` does for the tenant level).

use tonic::Status;

use super::{
    super::{convert, pb, status::invalid_field},
    records::{etag, user_kind_to_pb, user_status_to_pb},
};
use crate::engine::{
    Timestamp,
    partner::{
        Condition, CustomerAccess, CustomerGroupRecord, CustomerRecord, CustomerRoleRecord,
        CustomerScope, GroupMember, GroupRule, MemberReason, PartnerReach, PartnerRecord,
        PartnerRoleRecord, PartnerUserRecord, TenantScope,
    },
};

fn ids<T: ToString>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    items.into_iter().map(|item| item.to_string()).collect()
}

fn until(at: Option<Timestamp>) -> Option<prost_types::Timestamp> {
    at.map(convert::timestamp)
}

pub(crate) fn partner(record: &PartnerRecord) -> pb::Partner {
    pb::Partner {
        id: record.id.to_string(),
        name: record.name.clone(),
        owner: record
            .owner
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        customer_count: u32::try_from(record.customer_count).unwrap_or(u32::MAX),
        etag: etag(record.changed_at),
    }
}

pub(crate) fn partner_user(partner: &str, record: &PartnerUserRecord) -> pb::PartnerUser {
    pb::PartnerUser {
        partner: partner.to_owned(),
        id: record.id.to_string(),
        email: record.email.clone(),
        display_name: record.display_name.clone(),
        kind: user_kind_to_pb(record.kind).into(),
        status: user_status_to_pb(record.status).into(),
        owner: record.owner,
        administrator: record.administrator,
        roles: record
            .roles
            .iter()
            .map(|(role, at)| pb::PartnerRoleMembership {
                role: role.to_string(),
                until: until(*at),
            })
            .collect(),
        etag: etag(record.changed_at),
        locked_until: match record.status {
            crate::engine::UserStatus::LockedUntil(until) => Some(convert::timestamp(until)),
            _ => None,
        },
    }
}

pub(crate) fn customer(record: &CustomerRecord) -> pb::Customer {
    let details = &record.details;
    pb::Customer {
        partner: record
            .partner
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        id: record.id.to_string(),
        name: details.name.clone(),
        email: details.email.clone(),
        tags: details.tags.iter().cloned().collect(),
        data_centre: details.data_centre.clone(),
        services: ids(&details.services),
        groups: ids(&record.groups),
        tenants: ids(&record.tenants),
        etag: etag(record.changed_at),
    }
}

pub(crate) fn condition(condition: &Condition) -> pb::GroupCondition {
    use pb::group_condition::Test;
    let terms = |terms: &[Condition]| pb::GroupConditions {
        terms: terms.iter().map(self::condition).collect(),
    };
    pb::GroupCondition {
        test: Some(match condition {
            Condition::Tag(tag) => Test::Tag(tag.clone()),
            Condition::DataCentre(centre) => Test::DataCentre(centre.clone()),
            Condition::Service(service) => Test::Service(service.to_string()),
            Condition::All(inner) => Test::All(terms(inner)),
            Condition::Any(inner) => Test::Any(terms(inner)),
        }),
    }
}

pub(crate) fn customer_group(partner: &str, record: &CustomerGroupRecord) -> pb::CustomerGroup {
    pb::CustomerGroup {
        partner: partner.to_owned(),
        id: record.id.to_string(),
        name: record.name.clone(),
        description: record.description.clone(),
        condition: match &record.rule {
            GroupRule::Static => None,
            GroupRule::Dynamic(inner) => Some(condition(inner)),
        },
        customer_count: u32::try_from(record.member_count).unwrap_or(u32::MAX),
        etag: etag(record.changed_at),
    }
}

pub(crate) fn group_customer(member: &GroupMember) -> pb::GroupCustomer {
    let (added_by_hand, matched) = match &member.reason {
        MemberReason::Static => (true, Vec::new()),
        MemberReason::Matched(tests) => (false, tests.clone()),
    };
    pb::GroupCustomer {
        customer: member.customer.to_string(),
        name: member.name.clone(),
        added_by_hand,
        matched,
    }
}

fn access_to_pb(access: CustomerAccess) -> pb::CustomerAccess {
    match access {
        CustomerAccess::None => pb::CustomerAccess::None,
        CustomerAccess::TenantUser => pb::CustomerAccess::TenantUser,
        CustomerAccess::ServiceAdministrator => pb::CustomerAccess::ServiceAdministrator,
    }
}

/// A role's access from the wire (unset: none).
pub(crate) fn customer_access(access: i32, field: &str) -> Result<CustomerAccess, Status> {
    match pb::CustomerAccess::try_from(access) {
        Ok(pb::CustomerAccess::Unspecified | pb::CustomerAccess::None) => Ok(CustomerAccess::None),
        Ok(pb::CustomerAccess::TenantUser) => Ok(CustomerAccess::TenantUser),
        Ok(pb::CustomerAccess::ServiceAdministrator) => Ok(CustomerAccess::ServiceAdministrator),
        Err(_) => Err(invalid_field(field, format!("unknown value {access}"))),
    }
}

pub(crate) fn partner_role(partner: &str, record: &PartnerRoleRecord) -> pb::PartnerRole {
    let details = &record.details;
    pb::PartnerRole {
        partner: partner.to_owned(),
        id: record.id.to_string(),
        name: details.name.clone(),
        description: details.description.clone(),
        platform_permissions: ids(&details.platform_permissions.0),
        module_permissions: ids(&details.module_permissions.0),
        access: access_to_pb(details.access).into(),
        scope: Some(match &details.scope {
            CustomerScope::AllCustomers => pb::CustomerScope {
                all_customers: true,
                customer_groups: Vec::new(),
            },
            CustomerScope::Groups(groups) => pb::CustomerScope {
                all_customers: false,
                customer_groups: ids(groups),
            },
        }),
        built_in: record.built_in,
        members: record
            .members
            .iter()
            .map(|(user, at)| pb::PartnerRoleMember {
                user: user.to_string(),
                until: until(*at),
            })
            .collect(),
        etag: etag(record.changed_at),
    }
}

pub(crate) fn reach(reach: &PartnerReach) -> pb::PartnerReach {
    pb::PartnerReach {
        customer: reach.customer.to_string(),
        tenant: reach
            .tenant
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        partner_role: reach.role.to_string(),
        access: access_to_pb(reach.access).into(),
        customer_group: reach
            .customer_group
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        until: until(reach.until),
    }
}

pub(crate) fn customer_role(partner: &str, record: &CustomerRoleRecord) -> pb::CustomerRole {
    let details = &record.details;
    let mut scope = pb::TenantScope::default();
    match &details.scope {
        TenantScope::AllTenants => scope.all_tenants = true,
        TenantScope::Tenants(tenants) => scope.tenants = ids(tenants),
        TenantScope::Customers(customers) => scope.customers = ids(customers),
        TenantScope::CustomerGroups(groups) => scope.customer_groups = ids(groups),
    }
    pb::CustomerRole {
        partner: partner.to_owned(),
        id: record.id.to_string(),
        name: details.name.clone(),
        description: details.description.clone(),
        permissions: ids(&details.permissions.0),
        scope: Some(scope),
        sync: details.sync,
        synced_to: ids(&record.synced_to),
        sync_disabled: ids(&record.sync_disabled),
        detached: ids(&record.detached),
        conflicts: ids(&record.conflicts),
        etag: etag(record.changed_at),
    }
}
