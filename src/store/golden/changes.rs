//! The change records of the golden file, written out as values: one per [`Mutation`]
//! variant in declaration order, then more for the nested variants and event kinds the
//! first pass leaves out. Each is a literal, not something the engine computed, so a
//! change of engine behaviour cannot move them; only a change of the stored format can
//! make them disagree with the golden bytes.
//!
//! Append only: the golden file holds these in this order, and the writer refuses to
//! change a record already written (see `mod.rs`).

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::{
    Access, AdminFunctions, ChangeContext, ChangeRecord, CustomerGroupId, CustomerId,
    CustomerRoleId, DemotionPolicy, Dependencies, EventKind, GrantId, GrantNode, GroupId,
    Invalidation, MembershipChange, Mutation, NewUser, ObjectId, ObjectScope, ObjectType,
    PartnerId, PartnerRoleId, Permission, PermissionLevelId, PermissionSet, Revision,
    SecurityGroupId, ServiceDefinition, ServiceId, Subject, SyncRule, SyncedChange,
    SyncedRoleChange, SyncedRoleEffect, TenantId, TenantRole, TenantRoleId, Timestamp, UserId,
    UserKind, UserStatus,
    partner::{
        Condition, CustomerAccess, CustomerDetails, CustomerGroupDetails, CustomerRoleDetails,
        CustomerScope, GroupRule, PartnerChange, PartnerRoleDetails, TenantScope,
    },
    tenant_roles::TenantRoleChange,
};

/// 2026-01-01T00:00:00Z: every golden time is this plus a few seconds.
pub(super) const EPOCH: Timestamp = Timestamp::from_unix_millis(1_767_225_600_000);

pub(super) fn acme() -> TenantId {
    TenantId::parse("acme").unwrap()
}
pub(super) fn crm() -> ServiceId {
    ServiceId::parse("crm-backup").unwrap()
}
pub(super) fn iaas() -> ServiceId {
    ServiceId::parse("iaas-backup").unwrap()
}
pub(super) fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}
pub(super) fn obj(id: &str) -> ObjectId {
    ObjectId::parse(id).unwrap()
}
pub(super) fn group(id: &str) -> GroupId {
    GroupId::parse(id).unwrap()
}
pub(super) fn security_group(id: &str) -> SecurityGroupId {
    SecurityGroupId::parse(id).unwrap()
}
pub(super) fn level(id: &str) -> PermissionLevelId {
    PermissionLevelId::parse(id).unwrap()
}
pub(super) fn grant(id: &str) -> GrantId {
    GrantId::parse(id).unwrap()
}
pub(super) fn permissions(patterns: &[&str]) -> PermissionSet {
    PermissionSet::parse(patterns.iter().copied()).unwrap()
}
pub(super) fn objects(ids: &[&str]) -> BTreeSet<ObjectId> {
    ids.iter().map(|id| obj(id)).collect()
}
pub(super) fn new_user(id: &str, kind: UserKind) -> NewUser {
    NewUser {
        user: user(id),
        email: format!("{id}@acme.example"),
        display_name: format!("User {id}"),
        kind,
    }
}

/// A backup service's catalog: five permissions, four object types.
pub(super) fn definition(display_name: &str, demotion: DemotionPolicy) -> ServiceDefinition {
    let object_type = |name: &str, top_level: bool, may_contain: &[&str]| ObjectType {
        name: name.into(),
        top_level,
        may_contain: may_contain.iter().map(|s| (*s).to_owned()).collect(),
    };
    ServiceDefinition {
        display_name: display_name.into(),
        permissions: [
            "backup.run",
            "backup.view",
            "restore.run",
            "settings.edit",
            "export.run",
        ]
        .into_iter()
        .map(|p| Permission::parse(p).unwrap())
        .collect(),
        object_types: vec![
            object_type("org", true, &["folder", "site", "plan"]),
            object_type("folder", true, &["folder", "site"]),
            object_type("site", false, &[]),
            object_type("plan", true, &[]),
        ],
        demotion,
    }
}

/// A context with no one to notify and no invalidation.
fn context(kind: EventKind, tenant: Option<TenantId>, service: Option<ServiceId>) -> ChangeContext {
    ChangeContext {
        kind,
        tenant,
        service,
        notify: Vec::new(),
        invalidations: Vec::new(),
        synced: Vec::new(),
        items: Vec::new(),
        partner: None,
        memberships: Vec::new(),
        partner_users: Vec::new(),
        synced_roles: Vec::new(),
    }
}

/// The context of a change in `acme` (and `service`) whose decisions changed for `users`.
fn for_users(kind: EventKind, service: Option<ServiceId>, users: &[&str]) -> ChangeContext {
    ChangeContext {
        invalidations: vec![Invalidation {
            tenant: acme(),
            service: service.clone(),
            users: users.iter().map(|id| user(id)).collect(),
            objects: Vec::new(),
            everyone: false,
        }],
        ..context(kind, Some(acme()), service)
    }
}

/// A context in `acme` and crm-backup with nobody's decisions changed.
fn in_crm(kind: EventKind) -> ChangeContext {
    context(kind, Some(acme()), Some(crm()))
}

/// A context in `acme` (no service) with nobody's decisions changed.
fn in_acme(kind: EventKind) -> ChangeContext {
    context(kind, Some(acme()), None)
}

/// The records, numbered from revision 1 in the order they are pushed.
#[derive(Debug, Default)]
struct History {
    records: Vec<ChangeRecord>,
}

impl History {
    /// Records `mutation` at the next revision, `revision` seconds after [`EPOCH`]; platform
    /// changes have no actor, odd revisions carry a request id.
    fn push(&mut self, actor: Option<&str>, mutation: Mutation, context: ChangeContext) {
        let revision = self.records.len() as u64 + 1;
        let seconds = i64::try_from(revision).unwrap();
        self.records.push(ChangeRecord {
            revision: Revision::new(revision),
            committed_at: EPOCH.plus_millis(seconds * 1_000),
            actor: actor.map(str::to_owned),
            actor_partner: None,
            caller: if matches!(mutation, Mutation::ReportSignIn { .. }) {
                "sign-in-frontend".into()
            } else {
                "admin-console".into()
            },
            request_id: (revision % 2 == 1).then(|| format!("req-{revision:04}")),
            mutation,
            context,
        });
    }
}

/// Every golden change record, in file order.
#[allow(clippy::too_many_lines, reason = "one literal per stored record")]
pub(super) fn expected() -> Vec<ChangeRecord> {
    use EventKind as K;
    let mut history = History::default();
    let owner = Some("olivia");
    let mut h = |actor: Option<&str>, mutation: Mutation, context: ChangeContext| {
        history.push(actor, mutation, context);
    };

    // One record per `Mutation` variant, in declaration (index) order.
    h(
        None,
        Mutation::CreatePartner {
            partner: PartnerId::parse("p-north").unwrap(),
            name: "North Partners".into(),
        },
        context(K::PartnerCreated, None, None),
    );
    h(
        None,
        Mutation::CreateCustomer {
            customer: CustomerId::parse("c-acme").unwrap(),
            partner: Some(PartnerId::parse("p-north").unwrap()),
            name: "Acme Holdings".into(),
        },
        context(K::CustomerCreated, None, None),
    );
    h(
        None,
        Mutation::RegisterService {
            service: crm(),
            definition: definition("CRM backup", DemotionPolicy::RemoveFromAdministrators),
        },
        context(K::ServiceRegistered, None, Some(crm())),
    );
    h(
        None,
        Mutation::CreateTenant {
            tenant: acme(),
            name: "Acme".into(),
            customer: Some(CustomerId::parse("c-acme").unwrap()),
            owner: new_user("olivia", UserKind::Local),
        },
        in_acme(K::TenantCreated),
    );
    h(
        None,
        Mutation::SubscribeService {
            tenant: acme(),
            service: crm(),
        },
        for_users(K::ServiceSubscribed, Some(crm()), &["olivia"]),
    );
    h(
        owner,
        Mutation::InviteUser {
            tenant: acme(),
            user: new_user("dan", UserKind::Directory),
        },
        ChangeContext {
            notify: vec![user("dan")],
            ..in_acme(K::UserInvited)
        },
    );
    h(
        owner,
        Mutation::SetUserStatus {
            tenant: acme(),
            user: user("dan"),
            status: UserStatus::Active,
        },
        for_users(K::UserActivated, None, &["dan"]),
    );
    h(
        owner,
        Mutation::DeleteUser {
            tenant: acme(),
            user: user("sam"),
        },
        for_users(K::UserDeleted, None, &["sam"]),
    );
    h(
        owner,
        Mutation::SetTenantRole {
            tenant: acme(),
            user: user("dan"),
            role: TenantRole::StandardUser,
        },
        for_users(K::TenantRoleChanged, None, &["dan"]),
    );
    // The full context: several to notify, a tenant-wide and a service invalidation.
    h(
        owner,
        Mutation::TransferOwnership {
            tenant: acme(),
            new_owner: user("ava"),
        },
        ChangeContext {
            kind: K::OwnerTransferred,
            tenant: Some(acme()),
            service: None,
            notify: vec![user("ava"), user("olivia"), user("zoe")],
            synced: Vec::new(),
            items: Vec::new(),
            partner: None,
            memberships: Vec::new(),
            partner_users: Vec::new(),
            synced_roles: Vec::new(),
            invalidations: vec![
                Invalidation {
                    tenant: acme(),
                    service: None,
                    users: vec![user("ava"), user("olivia")],
                    objects: Vec::new(),
                    everyone: false,
                },
                Invalidation {
                    tenant: acme(),
                    service: Some(crm()),
                    users: vec![user("ava")],
                    objects: vec![obj("org-1"), obj("plan-1")],
                    everyone: true,
                },
            ],
        },
    );
    h(
        owner,
        Mutation::GrantServiceAccess {
            tenant: acme(),
            user: user("dan"),
            service: crm(),
        },
        for_users(K::ServiceAccessGranted, Some(crm()), &["dan"]),
    );
    h(
        owner,
        Mutation::RevokeServiceAccess {
            tenant: acme(),
            user: user("dan"),
            service: iaas(),
        },
        for_users(K::ServiceAccessRevoked, Some(iaas()), &["dan"]),
    );
    h(
        owner,
        Mutation::CreateGroup {
            tenant: acme(),
            group: group("ops"),
            name: "Operations".into(),
        },
        in_acme(K::GroupCreated),
    );
    h(
        owner,
        Mutation::DeleteGroup {
            tenant: acme(),
            group: group("old-team"),
        },
        for_users(K::GroupDeleted, Some(crm()), &["dan", "zoe"]),
    );
    h(
        owner,
        Mutation::AddGroupMember {
            tenant: acme(),
            group: group("ops"),
            member: Subject::User(user("dan")),
        },
        for_users(K::GroupMemberAdded, Some(crm()), &["dan"]),
    );
    h(
        owner,
        Mutation::RemoveGroupMember {
            tenant: acme(),
            group: group("ops"),
            member: Subject::Group(group("interns")),
        },
        for_users(K::GroupMemberRemoved, Some(crm()), &["ian", "ivy"]),
    );
    h(
        owner,
        Mutation::CreateObject {
            tenant: acme(),
            service: crm(),
            object: obj("plan-1"),
            object_type: "plan".into(),
            name: "Nightly plan".into(),
            parent: None,
            related: objects(&["site-1", "site-2"]),
            description: String::new(),
            creator: None,
        },
        in_crm(K::ObjectCreated),
    );
    h(
        owner,
        Mutation::MoveObject {
            tenant: acme(),
            service: crm(),
            object: obj("site-1"),
            new_parent: Some(obj("folder-2")),
            dependents: Dependencies::Unchecked,
        },
        ChangeContext {
            invalidations: vec![Invalidation {
                tenant: acme(),
                service: Some(crm()),
                users: Vec::new(),
                objects: vec![obj("site-1")],
                everyone: true,
            }],
            ..in_crm(K::ObjectMoved)
        },
    );
    h(
        owner,
        Mutation::DeleteObject {
            tenant: acme(),
            service: crm(),
            object: obj("site-3"),
            dependents: Dependencies::Unchecked,
        },
        in_crm(K::ObjectDeleted),
    );
    h(
        owner,
        Mutation::AddAdministrator {
            tenant: acme(),
            service: crm(),
            subject: Subject::Group(group("ops")),
        },
        for_users(K::AdministratorAdded, Some(crm()), &["dan"]),
    );
    h(
        owner,
        Mutation::RemoveAdministrator {
            tenant: acme(),
            service: crm(),
            subject: Subject::User(user("dan")),
        },
        for_users(K::AdministratorRemoved, Some(crm()), &["dan"]),
    );
    h(
        owner,
        Mutation::PutSecurityGroup {
            tenant: acme(),
            service: crm(),
            group: security_group("restorers"),
            name: "Restorers".into(),
            description: "May restore under org-1".into(),
            permissions: permissions(&["restore.*"]),
            scope: ObjectScope::Objects(objects(&["org-1"])),
        },
        in_crm(K::SecurityGroupChanged),
    );
    h(
        owner,
        Mutation::DeleteSecurityGroup {
            tenant: acme(),
            service: crm(),
            group: security_group("auditors"),
        },
        in_crm(K::SecurityGroupDeleted),
    );
    h(
        owner,
        Mutation::AddSecurityGroupMember {
            tenant: acme(),
            service: crm(),
            group: security_group("restorers"),
            member: Subject::User(user("dan")),
        },
        for_users(K::SecurityGroupMemberAdded, Some(crm()), &["dan"]),
    );
    h(
        owner,
        Mutation::RemoveSecurityGroupMember {
            tenant: acme(),
            service: crm(),
            group: security_group("restorers"),
            member: Subject::Group(group("ops")),
        },
        for_users(K::SecurityGroupMemberRemoved, Some(crm()), &["dan"]),
    );
    h(
        owner,
        Mutation::PutPermissionLevel {
            tenant: acme(),
            service: crm(),
            level: level("viewer"),
            name: "Viewer".into(),
            description: "Sees backups".into(),
            permissions: permissions(&["backup.view", "export.run"]),
        },
        in_crm(K::PermissionLevelChanged),
    );
    h(
        owner,
        Mutation::DeletePermissionLevel {
            tenant: acme(),
            service: crm(),
            level: level("editor"),
        },
        in_crm(K::PermissionLevelDeleted),
    );
    h(
        owner,
        Mutation::GiveGrant {
            tenant: acme(),
            service: crm(),
            grant: grant("g-1"),
            subject: Subject::User(user("dan")),
            access: Access::Level(level("viewer")),
            node: GrantNode::Object(obj("site-1")),
            expires_at: None,
            dependencies: Dependencies::Unchecked,
        },
        for_users(K::GrantGiven, Some(crm()), &["dan"]),
    );
    h(
        owner,
        Mutation::RevokeGrant {
            tenant: acme(),
            service: crm(),
            grant: grant("g-0"),
            with_dependents: true,
        },
        for_users(K::GrantRevoked, Some(crm()), &["dan"]),
    );
    h(
        None,
        Mutation::UpdateService {
            service: crm(),
            definition: definition("CRM backup v2", DemotionPolicy::KeepInAdministrators),
        },
        ChangeContext {
            invalidations: vec![Invalidation {
                tenant: acme(),
                service: Some(crm()),
                users: Vec::new(),
                objects: Vec::new(),
                everyone: true,
            }],
            ..context(K::ServiceUpdated, None, Some(crm()))
        },
    );
    h(
        owner,
        Mutation::UpdateUser {
            tenant: acme(),
            user: user("dan"),
            email: "daniel@acme.example".into(),
            display_name: "Daniel Ø".into(),
        },
        in_acme(K::UserUpdated),
    );
    h(
        owner,
        Mutation::UpdateGroup {
            tenant: acme(),
            group: group("ops"),
            name: "Operations team".into(),
        },
        in_acme(K::GroupUpdated),
    );
    h(
        owner,
        Mutation::UpdateObject {
            tenant: acme(),
            service: crm(),
            object: obj("plan-1"),
            name: "Nightly plan (all sites)".into(),
            related: objects(&["site-1"]),
            description: String::new(),
        },
        in_crm(K::ObjectUpdated),
    );
    h(
        None,
        Mutation::ReportSignIn {
            tenant: acme(),
            user: user("dan"),
            success: false,
            lock_after: 5,
            lock_for_millis: 900_000,
        },
        in_acme(K::SignInFailed),
    );
    h(
        owner,
        Mutation::ResetMfa {
            tenant: acme(),
            user: user("olivia"),
        },
        in_acme(K::MfaReset),
    );

    // The nested variants and event kinds the first pass leaves out.
    for (status, kind) in [
        (
            UserStatus::LockedUntil(EPOCH.plus_millis(3_600_000)),
            K::UserLocked,
        ),
        (UserStatus::Active, K::UserUnlocked),
        (UserStatus::Disabled, K::UserDisabled),
        (UserStatus::Active, K::UserEnabled),
    ] {
        h(
            owner,
            Mutation::SetUserStatus {
                tenant: acme(),
                user: user("dan"),
                status,
            },
            for_users(kind, None, &["dan"]),
        );
    }
    for role in [
        TenantRole::ServiceAdministrator,
        TenantRole::CustomizedAdministrator(AdminFunctions {
            management: true,
            auto_discovery: false,
            administration: true,
        }),
        TenantRole::ApplicationAdministrator([crm(), iaas()].into()),
    ] {
        h(
            owner,
            Mutation::SetTenantRole {
                tenant: acme(),
                user: user("dan"),
                role,
            },
            for_users(K::TenantRoleChanged, None, &["dan"]),
        );
    }
    h(
        owner,
        Mutation::InviteUser {
            tenant: acme(),
            user: new_user("sky", UserKind::Support),
        },
        ChangeContext {
            notify: vec![user("sky")],
            ..in_acme(K::UserInvited)
        },
    );
    h(
        owner,
        Mutation::GiveGrant {
            tenant: acme(),
            service: crm(),
            grant: grant("g-2"),
            subject: Subject::Group(group("ops")),
            access: Access::Permissions(permissions(&["backup.*", "export.run"])),
            node: GrantNode::Service,
            expires_at: Some(EPOCH.plus_millis(86_400_000)),
            dependencies: Dependencies::Unchecked,
        },
        for_users(K::GrantGiven, Some(crm()), &["dan", "zoe"]),
    );
    h(
        owner,
        Mutation::PutSecurityGroup {
            tenant: acme(),
            service: crm(),
            group: security_group("everything"),
            name: "Everything".into(),
            description: String::new(),
            permissions: PermissionSet::all(),
            scope: ObjectScope::AllObjects,
        },
        in_crm(K::SecurityGroupChanged),
    );
    h(
        None,
        Mutation::ReportSignIn {
            tenant: acme(),
            user: user("dan"),
            success: true,
            lock_after: 5,
            lock_for_millis: 900_000,
        },
        in_acme(K::SignInSucceeded),
    );
    // A failure that locked the user: the kind is judged after the change.
    h(
        None,
        Mutation::ReportSignIn {
            tenant: acme(),
            user: user("dan"),
            success: false,
            lock_after: 1,
            lock_for_millis: i64::MAX,
        },
        for_users(K::UserLocked, None, &["dan"]),
    );
    // Version 4: dependent objects checked (a grant bringing its dependencies, a move
    // refused where it would strand them).
    h(
        owner,
        Mutation::GiveGrant {
            tenant: acme(),
            service: crm(),
            grant: grant("g-plan"),
            subject: Subject::User(user("dan")),
            access: Access::Level(level("viewer")),
            node: GrantNode::Object(obj("plan-1")),
            expires_at: None,
            dependencies: Dependencies::Cascade,
        },
        for_users(K::GrantGiven, Some(crm()), &["dan"]),
    );
    h(
        owner,
        Mutation::MoveObject {
            tenant: acme(),
            service: crm(),
            object: obj("site-1"),
            new_parent: None,
            dependents: Dependencies::Enforced,
        },
        ChangeContext {
            invalidations: vec![Invalidation {
                tenant: acme(),
                service: Some(crm()),
                users: Vec::new(),
                objects: vec![obj("site-1")],
                everyone: true,
            }],
            ..in_crm(K::ObjectMoved)
        },
    );
    // Version 4: a group as an application administrator.
    h(
        owner,
        Mutation::SetGroupAdministers {
            tenant: acme(),
            group: group("ops"),
            services: [crm(), iaas()].into(),
        },
        ChangeContext {
            synced: vec![SyncedChange {
                service: crm(),
                member: Subject::Group(group("ops")),
                rule: SyncRule::ApplicationAdministrator,
                joined: true,
            }],
            ..for_users(K::GroupRoleChanged, None, &["dan", "zoe"])
        },
    );
    // Version 4: the synced members a change moves, by every rule.
    let synced = |service: ServiceId, who: &str, rule: SyncRule, joined: bool| SyncedChange {
        service,
        member: Subject::User(user(who)),
        rule,
        joined,
    };
    h(
        owner,
        Mutation::TransferOwnership {
            tenant: acme(),
            new_owner: user("dan"),
        },
        ChangeContext {
            notify: vec![user("dan"), user("olivia")],
            synced: vec![
                synced(crm(), "dan", SyncRule::Owner, true),
                synced(crm(), "dan", SyncRule::ServiceAdministrator, false),
                synced(crm(), "olivia", SyncRule::Owner, false),
                synced(crm(), "olivia", SyncRule::ServiceAdministrator, true),
                synced(iaas(), "erin", SyncRule::CustomizedAdministrator, true),
                synced(iaas(), "frank", SyncRule::ApplicationAdministrator, false),
            ],
            ..for_users(K::OwnerTransferred, None, &["dan", "olivia"])
        },
    );
    // Version 4: an object's description and creator.
    h(
        owner,
        Mutation::CreateObject {
            tenant: acme(),
            service: crm(),
            object: obj("plan-2"),
            object_type: "plan".into(),
            name: "Weekly plan".into(),
            parent: None,
            related: objects(&["site-1"]),
            description: "Sundays, all mailboxes".into(),
            creator: Some(user("olivia")),
        },
        in_crm(K::ObjectCreated),
    );
    h(
        owner,
        Mutation::UpdateObject {
            tenant: acme(),
            service: crm(),
            object: obj("plan-2"),
            name: "Weekly plan".into(),
            related: objects(&["site-1"]),
            description: "Sundays, every mailbox".into(),
        },
        in_crm(K::ObjectUpdated),
    );
    // A batch: an invitation with its role and service access, each change's context
    // kept in `items`, their union around them.
    h(
        owner,
        Mutation::Batch {
            tenant: acme(),
            changes: vec![
                Mutation::InviteUser {
                    tenant: acme(),
                    user: new_user("nina", UserKind::Local),
                },
                Mutation::SetTenantRole {
                    tenant: acme(),
                    user: user("nina"),
                    role: TenantRole::StandardUser,
                },
                Mutation::GrantServiceAccess {
                    tenant: acme(),
                    user: user("nina"),
                    service: crm(),
                },
            ],
        },
        ChangeContext {
            notify: vec![user("nina")],
            items: vec![
                ChangeContext {
                    notify: vec![user("nina")],
                    ..for_users(K::UserInvited, None, &["nina"])
                },
                in_acme(K::TenantRoleChanged),
                for_users(K::ServiceAccessGranted, Some(crm()), &["nina"]),
            ],
            invalidations: vec![
                Invalidation {
                    tenant: acme(),
                    service: None,
                    users: vec![user("nina")],
                    objects: Vec::new(),
                    everyone: false,
                },
                Invalidation {
                    tenant: acme(),
                    service: Some(crm()),
                    users: vec![user("nina")],
                    objects: Vec::new(),
                    everyone: false,
                },
            ],
            ..in_acme(K::BatchApplied)
        },
    );
    // Version 5: the partner level. The changes that build the golden world's partner,
    // then the rest of its variants.
    let at_south = |kind: EventKind| ChangeContext {
        partner: Some(south()),
        ..context(kind, None, None)
    };
    let kinds = [
        K::PartnerOnboarded,
        K::PartnerUserInvited,
        K::PartnerUserStatusChanged,
        K::CustomerChanged,
        K::CustomerGroupChanged,
        K::CustomerGroupChanged,
        K::CustomerGroupMembersChanged,
        K::PartnerRoleChanged,
        K::PartnerRoleChanged,
        K::PartnerRoleMemberAdded,
        K::PartnerRoleMemberAdded,
        K::TenantCustomerChanged,
        K::CustomerRoleChanged,
        K::TenantRoleMemberAdded,
        K::CustomerRoleChanged,
        K::TenantRoleDetached,
        K::CustomerRoleChanged,
        K::CustomerRoleTenantSyncChanged,
        K::TenantRoleDefined,
    ];
    let world = partner_world();
    assert_eq!(world.len(), kinds.len());
    for (mutation, kind) in world.into_iter().zip(kinds) {
        let context = match kind {
            // The full partner context: who moved between groups, whose decisions
            // changed everywhere under the partner and in which tenant.
            K::CustomerGroupMembersChanged => ChangeContext {
                memberships: vec![MembershipChange {
                    customer: blue(),
                    group: customer_group("g-key"),
                    joined: true,
                }],
                partner_users: vec![user("pia")],
                invalidations: vec![Invalidation {
                    tenant: acme(),
                    service: None,
                    users: Vec::new(),
                    objects: Vec::new(),
                    everyone: true,
                }],
                ..at_south(kind)
            },
            K::TenantCustomerChanged => ChangeContext {
                tenant: Some(acme()),
                ..at_south(kind)
            },
            K::CustomerRoleChanged => ChangeContext {
                synced_roles: vec![SyncedRoleChange {
                    tenant: acme(),
                    role: customer_role("helpdesk"),
                    effect: SyncedRoleEffect::Created,
                }],
                ..at_south(kind)
            },
            K::TenantRoleDetached => ChangeContext {
                partner: None,
                tenant: Some(acme()),
                synced_roles: vec![SyncedRoleChange {
                    tenant: acme(),
                    role: customer_role("audit"),
                    effect: SyncedRoleEffect::Detached,
                }],
                ..at_south(kind)
            },
            K::TenantRoleMemberAdded | K::TenantRoleDefined => ChangeContext {
                partner: None,
                tenant: Some(acme()),
                ..at_south(kind)
            },
            _ => at_south(kind),
        };
        h(OWNER_SOUTH, mutation, context);
    }
    let partner_change = |change: PartnerChange| Mutation::Partner(change);
    h(
        OWNER_SOUTH,
        partner_change(PartnerChange::InviteUser {
            partner: south(),
            user: new_user("sup", UserKind::Support),
            roles: BTreeMap::new(),
        }),
        at_south(K::PartnerUserInvited),
    );
    h(
        OWNER_SOUTH,
        partner_change(PartnerChange::TransferOwnership {
            partner: south(),
            new_owner: user("pia"),
        }),
        ChangeContext {
            notify: vec![user("pia"), user("sam")],
            ..at_south(K::PartnerOwnerTransferred)
        },
    );
    h(
        OWNER_SOUTH,
        partner_change(PartnerChange::ResyncCustomerGroup {
            partner: south(),
            group: customer_group("g-eu"),
        }),
        ChangeContext {
            memberships: vec![MembershipChange {
                customer: blue(),
                group: customer_group("g-eu"),
                joined: false,
            }],
            ..at_south(K::CustomerGroupResynced)
        },
    );
    h(
        OWNER_SOUTH,
        partner_change(PartnerChange::PutRole {
            partner: south(),
            role: partner_role("r-none"),
            details: PartnerRoleDetails {
                name: "Reports".into(),
                description: String::new(),
                platform_permissions: permissions(&["reports.*"]),
                module_permissions: PermissionSet::default(),
                access: CustomerAccess::None,
                scope: CustomerScope::AllCustomers,
            },
        }),
        at_south(K::PartnerRoleChanged),
    );
    h(
        OWNER_SOUTH,
        partner_change(PartnerChange::RemoveRoleMember {
            partner: south(),
            role: partner_role("r-help"),
            user: user("pia"),
        }),
        ChangeContext {
            partner_users: vec![user("pia")],
            ..at_south(K::PartnerRoleMemberRemoved)
        },
    );
    h(
        OWNER_SOUTH,
        partner_change(PartnerChange::DeleteRole {
            partner: south(),
            role: partner_role("r-none"),
        }),
        at_south(K::PartnerRoleDeleted),
    );
    h(
        OWNER_SOUTH,
        partner_change(PartnerChange::DeleteCustomerGroup {
            partner: south(),
            group: customer_group("g-key"),
        }),
        at_south(K::CustomerGroupDeleted),
    );
    h(
        OWNER_SOUTH,
        partner_change(PartnerChange::DeleteCustomer {
            partner: south(),
            customer: CustomerId::parse("c-gone").unwrap(),
        }),
        at_south(K::CustomerDeleted),
    );
    h(
        OWNER_SOUTH,
        partner_change(PartnerChange::DeleteUser {
            partner: south(),
            user: user("sup"),
        }),
        at_south(K::PartnerUserDeleted),
    );
    h(
        OWNER_SOUTH,
        partner_change(PartnerChange::PutCustomerRole {
            partner: south(),
            role: customer_role("helpdesk"),
            details: CustomerRoleDetails {
                name: "Help desk".into(),
                description: "Reads users everywhere".into(),
                permissions: permissions(&["user_management.view"]),
                scope: TenantScope::AllTenants,
                sync: true,
            },
        }),
        ChangeContext {
            synced_roles: vec![SyncedRoleChange {
                tenant: acme(),
                role: customer_role("helpdesk"),
                effect: SyncedRoleEffect::Updated,
            }],
            ..at_south(K::CustomerRoleChanged)
        },
    );
    h(
        OWNER_SOUTH,
        partner_change(PartnerChange::DeleteCustomerRole {
            partner: south(),
            role: customer_role("helpdesk"),
        }),
        ChangeContext {
            synced_roles: vec![SyncedRoleChange {
                tenant: acme(),
                role: customer_role("helpdesk"),
                effect: SyncedRoleEffect::Removed,
            }],
            ..at_south(K::CustomerRoleDeleted)
        },
    );
    h(
        owner,
        Mutation::TenantRole(TenantRoleChange::RemoveMember {
            tenant: acme(),
            role: tenant_role("own"),
            user: user("alice"),
        }),
        ChangeContext {
            tenant: Some(acme()),
            ..context(K::TenantRoleMemberRemoved, Some(acme()), None)
        },
    );
    h(
        owner,
        Mutation::TenantRole(TenantRoleChange::Delete {
            tenant: acme(),
            role: tenant_role("own"),
        }),
        context(K::TenantRoleDeleted, Some(acme()), None),
    );
    // A partner user's sign-ins: the failure that locks, and an MFA reset.
    h(
        None,
        Mutation::Partner(PartnerChange::ReportSignIn {
            partner: south(),
            user: user("pia"),
            success: false,
            lock_after: 3,
            lock_for_millis: 3_600_000,
        }),
        ChangeContext {
            partner_users: vec![user("pia")],
            ..at_south(K::UserLocked)
        },
    );
    h(
        OWNER_SOUTH,
        Mutation::Partner(PartnerChange::ResetMfa {
            partner: south(),
            user: user("pia"),
        }),
        at_south(K::MfaReset),
    );
    // A partner user acting in its customer's tenant: the record names the partner.
    h(
        Some("pia"),
        Mutation::GrantServiceAccess {
            tenant: acme(),
            user: user("dan"),
            service: iaas(),
        },
        for_users(K::ServiceAccessGranted, Some(iaas()), &["dan"]),
    );
    if let Some(last) = history.records.last_mut() {
        last.actor_partner = Some(south().to_string());
    }
    history.records
}

pub(super) fn south() -> PartnerId {
    PartnerId::parse("p-south").unwrap()
}
fn blue() -> CustomerId {
    CustomerId::parse("c-blue").unwrap()
}
fn customer_group(id: &str) -> CustomerGroupId {
    CustomerGroupId::parse(id).unwrap()
}
fn partner_role(id: &str) -> PartnerRoleId {
    PartnerRoleId::parse(id).unwrap()
}
/// The actor of the partner world's changes.
const OWNER_SOUTH: Option<&str> = Some("sam");

/// The partner of the golden world, as the changes that build it (valid in this order
/// after the tenant world): a partner with an active user, a customer in a dynamic and a
/// static group, a role scoped to the dynamic group with a time-bound member, a role
/// reaching every customer as a tenant user, and `acme` linked to the customer.
pub(super) fn partner_world() -> Vec<Mutation> {
    let change = Mutation::Partner;
    vec![
        change(PartnerChange::Onboard {
            partner: south(),
            name: "South Services".into(),
            owner: new_user("sam", UserKind::Local),
        }),
        change(PartnerChange::InviteUser {
            partner: south(),
            user: new_user("pia", UserKind::Directory),
            roles: BTreeMap::new(),
        }),
        change(PartnerChange::SetUserStatus {
            partner: south(),
            user: user("pia"),
            status: UserStatus::Active,
        }),
        change(PartnerChange::PutCustomer {
            partner: south(),
            customer: blue(),
            details: CustomerDetails {
                name: "Blue Retail".into(),
                email: "it@blue.example".into(),
                tags: ["eu".to_owned(), "gold".to_owned()].into(),
                data_centre: "eu-west".into(),
                services: [crm()].into(),
            },
        }),
        change(PartnerChange::PutCustomerGroup {
            partner: south(),
            group: customer_group("g-eu"),
            details: CustomerGroupDetails {
                name: "Europe".into(),
                description: "EU customers on crm".into(),
                rule: GroupRule::Dynamic(Condition::All(vec![
                    Condition::Tag("eu".into()),
                    Condition::Any(vec![
                        Condition::DataCentre("eu-west".into()),
                        Condition::Service(crm()),
                    ]),
                ])),
            },
        }),
        change(PartnerChange::PutCustomerGroup {
            partner: south(),
            group: customer_group("g-key"),
            details: CustomerGroupDetails {
                name: "Key accounts".into(),
                description: String::new(),
                rule: GroupRule::Static,
            },
        }),
        change(PartnerChange::SetGroupCustomers {
            partner: south(),
            group: customer_group("g-key"),
            customers: [blue()].into(),
            remove: false,
        }),
        change(PartnerChange::PutRole {
            partner: south(),
            role: partner_role("r-ops"),
            details: PartnerRoleDetails {
                name: "Operations".into(),
                description: "Service administrators of European customers".into(),
                platform_permissions: permissions(&["customers.view", "customers.edit"]),
                module_permissions: permissions(&["user_management.*"]),
                access: CustomerAccess::ServiceAdministrator,
                scope: CustomerScope::Groups([customer_group("g-eu")].into()),
            },
        }),
        change(PartnerChange::PutRole {
            partner: south(),
            role: partner_role("r-help"),
            details: PartnerRoleDetails {
                name: "Help desk".into(),
                description: String::new(),
                platform_permissions: permissions(&["customers.view"]),
                module_permissions: permissions(&["workflows.view"]),
                access: CustomerAccess::TenantUser,
                scope: CustomerScope::AllCustomers,
            },
        }),
        change(PartnerChange::AddRoleMember {
            partner: south(),
            role: partner_role("r-ops"),
            user: user("pia"),
            until: Some(EPOCH.plus_millis(86_400_000)),
        }),
        change(PartnerChange::AddRoleMember {
            partner: south(),
            role: partner_role("r-help"),
            user: user("pia"),
            until: None,
        }),
        change(PartnerChange::SetTenantCustomer {
            tenant: acme(),
            customer: Some(blue()),
        }),
        // Customer roles: one synced through a group with a member in `acme`, one
        // detached there, one with sync off for `acme`; and a role of `acme`'s own.
        change(PartnerChange::PutCustomerRole {
            partner: south(),
            role: customer_role("helpdesk"),
            details: CustomerRoleDetails {
                name: "Help desk".into(),
                description: "Reads users".into(),
                permissions: permissions(&["user_management.view"]),
                scope: TenantScope::CustomerGroups([customer_group("g-eu")].into()),
                sync: true,
            },
        }),
        Mutation::TenantRole(TenantRoleChange::AddMember {
            tenant: acme(),
            role: tenant_role("helpdesk"),
            user: user("alice"),
        }),
        change(PartnerChange::PutCustomerRole {
            partner: south(),
            role: customer_role("audit"),
            details: CustomerRoleDetails {
                name: "Audit".into(),
                description: String::new(),
                permissions: permissions(&["security.view", "tenant_settings.view"]),
                scope: TenantScope::Tenants([acme()].into()),
                sync: true,
            },
        }),
        Mutation::TenantRole(TenantRoleChange::Detach {
            tenant: acme(),
            role: tenant_role("audit"),
        }),
        change(PartnerChange::PutCustomerRole {
            partner: south(),
            role: customer_role("reports"),
            details: CustomerRoleDetails {
                name: "Reports".into(),
                description: String::new(),
                permissions: permissions(&["workflows.*"]),
                scope: TenantScope::Customers([blue()].into()),
                sync: true,
            },
        }),
        change(PartnerChange::SetCustomerRoleTenantSync {
            partner: south(),
            role: customer_role("reports"),
            tenant: acme(),
            enabled: false,
        }),
        Mutation::TenantRole(TenantRoleChange::Put {
            tenant: acme(),
            role: tenant_role("own"),
            name: "Own".into(),
            description: "Acme's own".into(),
            permissions: permissions(&["baseline_management.manage"]),
        }),
    ]
}

fn customer_role(id: &str) -> CustomerRoleId {
    CustomerRoleId::parse(id).unwrap()
}
fn tenant_role(id: &str) -> TenantRoleId {
    TenantRoleId::parse(id).unwrap()
}
