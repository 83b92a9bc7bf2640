//! Which ids a mutation touches: stored with nothing extra (it is derived from the
//! mutation itself), used to filter and index the change log by tenant, service, subject
//! and object.

use super::{
    ids::{ObjectId, ServiceId, TenantId},
    mutation::{GrantNode, Mutation, ObjectScope, Subject},
};

/// The ids a mutation names directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// The tenant, for tenant-level changes.
    pub tenant: Option<TenantId>,
    /// The service, for service-level changes (or a registration).
    pub service: Option<ServiceId>,
    /// Users and directory groups named.
    pub subjects: Vec<Subject>,
    /// Objects named.
    pub objects: Vec<ObjectId>,
}

impl Mutation {
    /// The tenant, service, subjects and objects this mutation names.
    pub fn touched(&self) -> Touched {
        let mut touched = Touched::default();
        match self {
            Self::CreatePartner { .. } | Self::CreateCustomer { .. } => {}
            Self::TenantRole(change) => {
                touched.tenant = Some(change.tenant().clone());
                if let super::tenant_roles::TenantRoleChange::AddMember { user, .. }
                | super::tenant_roles::TenantRoleChange::RemoveMember { user, .. } = change
                {
                    touched.subjects.push(Subject::User(user.clone()));
                }
            }
            // Partner users are not subjects of any tenant; a tenant link names its tenant.
            Self::Partner(change) => {
                if let super::partner::PartnerChange::SetTenantCustomer { tenant, .. } = change {
                    touched.tenant = Some(tenant.clone());
                }
            }
            // What its changes name; a service only when every change names the same one.
            Self::Batch { tenant, changes } => {
                touched.tenant = Some(tenant.clone());
                let first = changes.first().and_then(|change| change.touched().service);
                touched.service = first.filter(|first| {
                    changes
                        .iter()
                        .all(|change| change.touched().service.as_ref() == Some(first))
                });
                for change in changes {
                    let item = change.touched();
                    for subject in item.subjects {
                        if !touched.subjects.contains(&subject) {
                            touched.subjects.push(subject);
                        }
                    }
                    for object in item.objects {
                        if !touched.objects.contains(&object) {
                            touched.objects.push(object);
                        }
                    }
                }
            }
            Self::RegisterService { service, .. } | Self::UpdateService { service, .. } => {
                touched.service = Some(service.clone());
            }
            Self::CreateTenant { tenant, owner, .. } => {
                touched.tenant = Some(tenant.clone());
                touched.subjects.push(Subject::User(owner.user.clone()));
            }
            Self::InviteUser { tenant, user } => {
                touched.tenant = Some(tenant.clone());
                touched.subjects.push(Subject::User(user.user.clone()));
            }
            Self::ReportSignIn { tenant, user, .. }
            | Self::ResetMfa { tenant, user }
            | Self::SetUserStatus { tenant, user, .. }
            | Self::DeleteUser { tenant, user }
            | Self::SetTenantRole { tenant, user, .. }
            | Self::UpdateUser { tenant, user, .. }
            | Self::TransferOwnership {
                tenant,
                new_owner: user,
            } => {
                touched.tenant = Some(tenant.clone());
                touched.subjects.push(Subject::User(user.clone()));
            }
            Self::GrantServiceAccess {
                tenant,
                user,
                service,
            }
            | Self::RevokeServiceAccess {
                tenant,
                user,
                service,
            } => {
                touched.tenant = Some(tenant.clone());
                touched.service = Some(service.clone());
                touched.subjects.push(Subject::User(user.clone()));
            }
            Self::CreateGroup { tenant, group, .. }
            | Self::DeleteGroup { tenant, group }
            | Self::UpdateGroup { tenant, group, .. }
            | Self::SetGroupAdministers { tenant, group, .. } => {
                touched.tenant = Some(tenant.clone());
                touched.subjects.push(Subject::Group(group.clone()));
            }
            Self::AddGroupMember {
                tenant,
                group,
                member,
            }
            | Self::RemoveGroupMember {
                tenant,
                group,
                member,
            } => {
                touched.tenant = Some(tenant.clone());
                touched.subjects.push(Subject::Group(group.clone()));
                touched.subjects.push(member.clone());
            }
            Self::CreateObject {
                tenant,
                service,
                object,
                parent,
                related,
                ..
            } => {
                touched.tenant = Some(tenant.clone());
                touched.service = Some(service.clone());
                touched.objects.push(object.clone());
                touched.objects.extend(parent.iter().cloned());
                touched.objects.extend(related.iter().cloned());
            }
            Self::UpdateObject {
                tenant,
                service,
                object,
                related,
                ..
            } => {
                touched.tenant = Some(tenant.clone());
                touched.service = Some(service.clone());
                touched.objects.push(object.clone());
                touched.objects.extend(related.iter().cloned());
            }
            Self::MoveObject {
                tenant,
                service,
                object,
                new_parent,
                ..
            } => {
                touched.tenant = Some(tenant.clone());
                touched.service = Some(service.clone());
                touched.objects.push(object.clone());
                touched.objects.extend(new_parent.iter().cloned());
            }
            Self::DeleteObject {
                tenant,
                service,
                object,
                ..
            } => {
                touched.tenant = Some(tenant.clone());
                touched.service = Some(service.clone());
                touched.objects.push(object.clone());
            }
            Self::AddAdministrator {
                tenant,
                service,
                subject,
            }
            | Self::RemoveAdministrator {
                tenant,
                service,
                subject,
            }
            | Self::AddSecurityGroupMember {
                tenant,
                service,
                member: subject,
                ..
            }
            | Self::RemoveSecurityGroupMember {
                tenant,
                service,
                member: subject,
                ..
            } => {
                touched.tenant = Some(tenant.clone());
                touched.service = Some(service.clone());
                touched.subjects.push(subject.clone());
            }
            Self::PutSecurityGroup {
                tenant,
                service,
                scope,
                ..
            } => {
                touched.tenant = Some(tenant.clone());
                touched.service = Some(service.clone());
                if let ObjectScope::Objects(objects) = scope {
                    touched.objects.extend(objects.iter().cloned());
                }
            }
            Self::SubscribeService { tenant, service }
            | Self::DeleteSecurityGroup {
                tenant, service, ..
            }
            | Self::PutPermissionLevel {
                tenant, service, ..
            }
            | Self::DeletePermissionLevel {
                tenant, service, ..
            }
            | Self::RevokeGrant {
                tenant, service, ..
            } => {
                touched.tenant = Some(tenant.clone());
                touched.service = Some(service.clone());
            }
            Self::GiveGrant {
                tenant,
                service,
                subject,
                node,
                ..
            } => {
                touched.tenant = Some(tenant.clone());
                touched.service = Some(service.clone());
                touched.subjects.push(subject.clone());
                if let GrantNode::Object(object) = node {
                    touched.objects.push(object.clone());
                }
            }
        }
        touched
    }
}

impl Mutation {
    /// What the change acts on, for audit records: `user bob`, `group ops member user:ann`,
    /// `object site-1`, `grant g7` …
    pub fn target(&self) -> String {
        let subject = |s: &Subject| match s {
            Subject::User(user) => format!("user:{user}"),
            Subject::Group(group) => format!("group:{group}"),
        };
        match self {
            Self::CreatePartner { partner, .. } => format!("partner {partner}"),
            Self::CreateCustomer { customer, .. } => format!("customer {customer}"),
            Self::Partner(change) => change.target(),
            Self::TenantRole(change) => format!("tenant role {}", change.role()),
            Self::RegisterService { service, .. } | Self::UpdateService { service, .. } => {
                format!("service {service}")
            }
            Self::CreateTenant { tenant, .. } => format!("tenant {tenant}"),
            Self::SubscribeService { service, .. } => format!("subscription {service}"),
            Self::InviteUser { user, .. } => format!("user {}", user.user),
            Self::SetUserStatus { user, .. }
            | Self::DeleteUser { user, .. }
            | Self::SetTenantRole { user, .. }
            | Self::UpdateUser { user, .. }
            | Self::ReportSignIn { user, .. }
            | Self::ResetMfa { user, .. }
            | Self::TransferOwnership {
                new_owner: user, ..
            } => format!("user {user}"),
            Self::GrantServiceAccess { user, service, .. }
            | Self::RevokeServiceAccess { user, service, .. } => {
                format!("user {user} service {service}")
            }
            Self::CreateGroup { group, .. }
            | Self::UpdateGroup { group, .. }
            | Self::DeleteGroup { group, .. }
            | Self::SetGroupAdministers { group, .. } => format!("group {group}"),
            Self::AddGroupMember { group, member, .. }
            | Self::RemoveGroupMember { group, member, .. } => {
                format!("group {group} member {}", subject(member))
            }
            Self::CreateObject { object, .. }
            | Self::UpdateObject { object, .. }
            | Self::MoveObject { object, .. }
            | Self::DeleteObject { object, .. } => format!("object {object}"),
            Self::AddAdministrator { subject: s, .. }
            | Self::RemoveAdministrator { subject: s, .. } => {
                format!("security group administrators member {}", subject(s))
            }
            Self::PutSecurityGroup { group, .. } | Self::DeleteSecurityGroup { group, .. } => {
                format!("security group {group}")
            }
            Self::AddSecurityGroupMember { group, member, .. }
            | Self::RemoveSecurityGroupMember { group, member, .. } => {
                format!("security group {group} member {}", subject(member))
            }
            Self::PutPermissionLevel { level, .. } | Self::DeletePermissionLevel { level, .. } => {
                format!("permission level {level}")
            }
            Self::GiveGrant { grant, .. } | Self::RevokeGrant { grant, .. } => {
                format!("grant {grant}")
            }
            Self::Batch { changes, .. } => format!(
                "{} changes: {}",
                changes.len(),
                changes
                    .iter()
                    .map(Mutation::target)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
}
