//! The small world of the golden checkpoint, built from mutations, and the view that
//! compares two snapshots of it field by field.
//!
//! A snapshot keeps hash maps, each with its own random seed, so two encodings of the same
//! state list map entries in different orders: the checkpoint is compared as this view
//! (every managed resource, sorted, the object slots, and the decision and explanation of
//! every check), not byte for byte.

use std::collections::BTreeMap;

use super::changes::{
    EPOCH, acme, crm, definition, grant, group, iaas, level, new_user, obj, objects, permissions,
    security_group, user,
};
use crate::engine::{
    Access, AdminFunctions, CheckQuery, CustomerId, DemotionPolicy, Explanation, GrantNode,
    GrantRecord, GroupRecord, LevelRecord, Mutation, ObjectRecord, ObjectScope, PartnerId,
    Permission, Revision, SecurityGroupRecord, ServiceId, ServiceRecord, Snapshot, SnapshotBuilder,
    Subject, TenantRecord, TenantRole, Timestamp, UserId, UserKind, UserRecord, UserStatus,
};

/// When the world was built and is checked.
pub(super) const NOW: Timestamp = EPOCH;

/// The mutations that build the world: a partner and a customer; two services (one per
/// demotion policy); tenant `acme` with users of every kind, status and role; nested
/// directory groups; objects three deep and a deleted one (its slot is never given
/// again); security groups of both scopes; a level; grants of both kinds on both nodes, to
/// users and groups, one expiring; an extra administrator; a failed sign-in.
#[allow(clippy::too_many_lines, reason = "one literal per mutation")]
fn mutations() -> Vec<Mutation> {
    let tenant = acme;
    let mut out = vec![
        Mutation::CreatePartner {
            partner: PartnerId::parse("p-north").unwrap(),
            name: "North Partners".into(),
        },
        Mutation::CreateCustomer {
            customer: CustomerId::parse("c-acme").unwrap(),
            partner: Some(PartnerId::parse("p-north").unwrap()),
            name: "Acme Holdings".into(),
        },
        Mutation::RegisterService {
            service: crm(),
            definition: definition("CRM backup", DemotionPolicy::RemoveFromAdministrators),
        },
        Mutation::RegisterService {
            service: iaas(),
            definition: definition("IaaS backup", DemotionPolicy::KeepInAdministrators),
        },
        Mutation::CreateTenant {
            tenant: tenant(),
            name: "Acme".into(),
            customer: Some(CustomerId::parse("c-acme").unwrap()),
            owner: new_user("olivia", UserKind::Local),
        },
        Mutation::SubscribeService {
            tenant: tenant(),
            service: crm(),
        },
        Mutation::SubscribeService {
            tenant: tenant(),
            service: iaas(),
        },
    ];
    let users = [
        ("alice", UserKind::Local, None),
        (
            "dan",
            UserKind::Directory,
            Some(TenantRole::ServiceAdministrator),
        ),
        (
            "erin",
            UserKind::Local,
            Some(TenantRole::CustomizedAdministrator(AdminFunctions {
                management: true,
                auto_discovery: false,
                administration: false,
            })),
        ),
        (
            "frank",
            UserKind::Local,
            Some(TenantRole::ApplicationAdministrator([iaas()].into())),
        ),
        ("sky", UserKind::Support, None),
    ];
    for (id, kind, role) in users {
        out.push(Mutation::InviteUser {
            tenant: tenant(),
            user: new_user(id, kind),
        });
        // `sky` stays invited.
        if id == "sky" {
            continue;
        }
        out.push(Mutation::SetUserStatus {
            tenant: tenant(),
            user: user(id),
            status: UserStatus::Active,
        });
        out.push(Mutation::GrantServiceAccess {
            tenant: tenant(),
            user: user(id),
            service: crm(),
        });
        if let Some(role) = role {
            out.push(Mutation::SetTenantRole {
                tenant: tenant(),
                user: user(id),
                role,
            });
        }
    }
    out.extend([
        Mutation::SetUserStatus {
            tenant: tenant(),
            user: user("erin"),
            status: UserStatus::Disabled,
        },
        Mutation::SetUserStatus {
            tenant: tenant(),
            user: user("frank"),
            status: UserStatus::LockedUntil(NOW.plus_millis(3_600_000)),
        },
        Mutation::CreateGroup {
            tenant: tenant(),
            group: group("ops"),
            name: "Operations".into(),
        },
        Mutation::CreateGroup {
            tenant: tenant(),
            group: group("staff"),
            name: "Staff".into(),
        },
        Mutation::AddGroupMember {
            tenant: tenant(),
            group: group("ops"),
            member: Subject::User(user("alice")),
        },
        Mutation::AddGroupMember {
            tenant: tenant(),
            group: group("staff"),
            member: Subject::Group(group("ops")),
        },
    ]);
    for (id, object_type, parent, related) in [
        ("org-1", "org", None, &[][..]),
        ("folder-1", "folder", Some("org-1"), &[][..]),
        ("site-1", "site", Some("folder-1"), &[][..]),
        ("site-2", "site", Some("org-1"), &[][..]),
        ("gone", "site", Some("org-1"), &[][..]),
        ("plan-1", "plan", None, &["site-1"][..]),
    ] {
        out.push(Mutation::CreateObject {
            tenant: tenant(),
            service: crm(),
            object: obj(id),
            object_type: object_type.into(),
            name: format!("Object {id}"),
            parent: parent.map(obj),
            related: objects(related),
            // Version 4: one object with a description and its creator.
            description: if id == "plan-1" {
                "Nightly, every site".into()
            } else {
                String::new()
            },
            creator: (id == "plan-1").then(|| user("olivia")),
        });
    }
    out.extend([
        Mutation::DeleteObject {
            tenant: tenant(),
            service: crm(),
            object: obj("gone"),
            dependents: crate::engine::Dependencies::Unchecked,
        },
        Mutation::PutSecurityGroup {
            tenant: tenant(),
            service: crm(),
            group: security_group("restorers"),
            name: "Restorers".into(),
            description: "May restore under folder-1".into(),
            permissions: permissions(&["restore.*"]),
            scope: ObjectScope::Objects(objects(&["folder-1"])),
        },
        Mutation::PutSecurityGroup {
            tenant: tenant(),
            service: crm(),
            group: security_group("viewers"),
            name: "Viewers".into(),
            description: String::new(),
            permissions: permissions(&["backup.view"]),
            scope: ObjectScope::AllObjects,
        },
        Mutation::AddSecurityGroupMember {
            tenant: tenant(),
            service: crm(),
            group: security_group("restorers"),
            member: Subject::User(user("alice")),
        },
        Mutation::AddSecurityGroupMember {
            tenant: tenant(),
            service: crm(),
            group: security_group("viewers"),
            member: Subject::Group(group("staff")),
        },
        Mutation::PutPermissionLevel {
            tenant: tenant(),
            service: crm(),
            level: level("operator"),
            name: "Operator".into(),
            description: "Runs backups".into(),
            permissions: permissions(&["backup.run", "backup.view"]),
        },
        Mutation::GiveGrant {
            tenant: tenant(),
            service: crm(),
            grant: grant("g-level"),
            subject: Subject::User(user("alice")),
            access: Access::Level(level("operator")),
            node: GrantNode::Object(obj("site-2")),
            expires_at: None,
            dependencies: crate::engine::Dependencies::Unchecked,
        },
        Mutation::GiveGrant {
            tenant: tenant(),
            service: crm(),
            grant: grant("g-service"),
            subject: Subject::Group(group("ops")),
            access: Access::Permissions(permissions(&["export.run"])),
            node: GrantNode::Service,
            expires_at: Some(NOW.plus_millis(86_400_000)),
            dependencies: crate::engine::Dependencies::Unchecked,
        },
        Mutation::GrantServiceAccess {
            tenant: tenant(),
            user: user("alice"),
            service: iaas(),
        },
        Mutation::AddAdministrator {
            tenant: tenant(),
            service: iaas(),
            subject: Subject::User(user("alice")),
        },
        Mutation::ReportSignIn {
            tenant: tenant(),
            user: user("alice"),
            success: false,
            lock_after: 5,
            lock_for_millis: 900_000,
        },
    ]);
    // Version 4 and later: appended, so that the world of an older golden is a prefix.
    out.extend([Mutation::SetGroupAdministers {
        tenant: tenant(),
        group: group("staff"),
        services: [iaas()].into(),
    }]);
    out
}

/// How many of [`mutations`] the world of the version 3 golden was built from.
const VERSION_3_MUTATIONS: usize = 46;

/// The world at its last revision, built from [`mutations`].
pub(super) fn build() -> Snapshot {
    build_from(mutations())
}

/// The world as the version 3 golden holds it: the mutations before version 4's.
pub(super) fn build_version_3() -> Snapshot {
    build_from(mutations().into_iter().take(VERSION_3_MUTATIONS).collect())
}

fn build_from(mutations: Vec<Mutation>) -> Snapshot {
    let mut builder = SnapshotBuilder::new();
    for (revision, mutation) in (1..).map(Revision::new).zip(mutations) {
        builder
            .apply(revision, &mutation, NOW)
            .unwrap_or_else(|err| panic!("{mutation:?} refused: {err}"));
    }
    builder.finish()
}

/// Everything a snapshot of the world holds, in a form that compares.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct View {
    revision: Revision,
    partners: BTreeMap<PartnerId, String>,
    customers: BTreeMap<CustomerId, (String, Option<PartnerId>)>,
    services: Vec<ServiceRecord>,
    tenant: TenantRecord,
    users: Vec<UserRecord>,
    groups: Vec<GroupRecord>,
    subscriptions: Vec<Subscription>,
    decisions: Vec<(CheckQuery, bool, Explanation)>,
}

/// One subscribed service of the tenant: its resources and the slots checkpoints keep.
#[derive(Debug, PartialEq, Eq)]
struct Subscription {
    service: ServiceId,
    objects: Vec<ObjectRecord>,
    security_groups: Vec<SecurityGroupRecord>,
    levels: Vec<LevelRecord>,
    grants: Vec<GrantRecord>,
    next_slot: u32,
    slots: BTreeMap<String, u32>,
}

impl View {
    /// How many of its checks are allowed, of how many.
    pub(super) fn allowed_of_all(&self) -> (usize, usize) {
        let allowed = self.decisions.iter().filter(|(_, allowed, _)| *allowed);
        (allowed.count(), self.decisions.len())
    }

    /// The view of `snapshot`, which must hold the world's tenant.
    pub(super) fn of(snapshot: &Snapshot) -> Self {
        let tenant = acme();
        let tenant_record = snapshot.tenant_record(&tenant).unwrap();
        let users = snapshot.user_records(&tenant).unwrap();
        let subscriptions = tenant_record
            .services
            .iter()
            .map(|service| {
                // Slots are what version 3 added to checkpoints: read where memory keeps
                // them (the engine's own fields, visible in the crate).
                let kept = &snapshot.tenants[&tenant].services[service];
                Subscription {
                    service: service.clone(),
                    objects: snapshot.object_records(&tenant, service, None).unwrap(),
                    security_groups: snapshot.security_group_records(&tenant, service).unwrap(),
                    levels: snapshot.level_records(&tenant, service).unwrap(),
                    grants: snapshot
                        .grant_records(&tenant, service, None, None)
                        .unwrap(),
                    next_slot: kept.next_slot,
                    slots: kept
                        .objects
                        .iter()
                        .map(|(id, object)| (id.to_string(), object.ancestry.slot()))
                        .collect(),
                }
            })
            .collect();
        Self {
            revision: snapshot.revision(),
            partners: snapshot
                .partners
                .iter()
                .map(|(id, p)| (id.clone(), p.name.clone()))
                .collect(),
            customers: snapshot
                .customers
                .iter()
                .map(|(id, c)| (id.clone(), (c.name.clone(), c.partner.clone())))
                .collect(),
            services: snapshot.service_records(),
            decisions: decisions(snapshot, &tenant_record.services, &users),
            tenant: tenant_record,
            groups: snapshot.group_records(&tenant).unwrap(),
            users,
            subscriptions,
        }
    }
}

impl View {
    /// This view as a checkpoint older than version 4 decodes: every resource's last
    /// change unknown (revision 0), and objects without a description or creator.
    pub(super) fn with_unknown_changes(mut self) -> Self {
        let unknown = Revision::ZERO;
        for service in &mut self.services {
            service.changed_at = unknown;
        }
        self.tenant.changed_at = unknown;
        for user in &mut self.users {
            user.changed_at = unknown;
        }
        for group in &mut self.groups {
            group.changed_at = unknown;
        }
        for subscription in &mut self.subscriptions {
            for object in &mut subscription.objects {
                object.changed_at = unknown;
                object.description.clear();
                object.creator = None;
            }
            for group in &mut subscription.security_groups {
                group.changed_at = unknown;
            }
            for level in &mut subscription.levels {
                level.changed_at = unknown;
            }
            for grant in &mut subscription.grants {
                grant.changed_at = unknown;
            }
        }
        self
    }
}

/// Every check in the tenant: each user, each catalog permission, the whole service and
/// each object; its decision and explanation.
fn decisions(
    snapshot: &Snapshot,
    services: &[ServiceId],
    users: &[UserRecord],
) -> Vec<(CheckQuery, bool, Explanation)> {
    let mut out = Vec::new();
    for service in services {
        let definition = snapshot.service_record(service).unwrap().definition;
        let objects = snapshot.object_records(&acme(), service, None).unwrap();
        let nodes = std::iter::once(None).chain(objects.iter().map(|o| Some(o.id.clone())));
        for object in nodes {
            for user in users.iter().map(|u| u.id.clone()).chain([stranger()]) {
                for permission in definition.permissions.iter().chain([&unknown_permission()]) {
                    let query = CheckQuery {
                        tenant: acme(),
                        service: service.clone(),
                        user: user.clone(),
                        permission: permission.clone(),
                        object: object.clone(),
                    };
                    let allowed = snapshot.check(&query, NOW);
                    let explanation = snapshot.explain(&query, NOW);
                    out.push((query, allowed, explanation));
                }
            }
        }
    }
    out
}

/// A user the world does not have.
fn stranger() -> UserId {
    user("stranger")
}

/// A permission no catalog has.
fn unknown_permission() -> Permission {
    Permission::parse("nothing.here").unwrap()
}
