//! One test per rule of the product documents, on a small fixture tenant.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use super::*;

const NOW: Timestamp = Timestamp::from_unix_millis(1_000_000);

fn t() -> TenantId {
    TenantId::parse("acme").unwrap()
}
fn crm() -> ServiceId {
    ServiceId::parse("crm-backup").unwrap()
}
fn iaas() -> ServiceId {
    ServiceId::parse("iaas-backup").unwrap()
}
fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}
fn obj(id: &str) -> ObjectId {
    ObjectId::parse(id).unwrap()
}
fn perm(p: &str) -> Permission {
    Permission::parse(p).unwrap()
}
fn new_user(id: &str, kind: UserKind) -> NewUser {
    NewUser {
        user: user(id),
        email: format!("{id}@acme.example"),
        display_name: id.to_owned(),
        kind,
    }
}

fn definition(demotion: DemotionPolicy) -> ServiceDefinition {
    let types = |name: &str, top: bool, contains: &[&str]| ObjectType {
        name: name.into(),
        top_level: top,
        may_contain: contains.iter().map(|s| (*s).to_owned()).collect(),
    };
    ServiceDefinition {
        display_name: "backup".into(),
        permissions: [
            "backup.run",
            "backup.view",
            "restore.run",
            "settings.edit",
            "export.run",
        ]
        .iter()
        .map(|p| perm(p))
        .collect(),
        object_types: vec![
            types("org", true, &["site", "container", "plan"]),
            types("container", true, &["site", "container"]),
            types("site", false, &[]),
            types("plan", true, &[]),
        ],
        demotion,
    }
}

/// A tenant `acme` owned by `owner`, subscribing to crm-backup (remove on demotion) and
/// iaas-backup (keep on demotion); active users `alice`, `bob` with access to crm-backup;
/// objects `org1` ⊃ `c1` ⊃ `site1`, `org1` ⊃ `site2`, `plan1` covering `site1`.
struct World {
    snapshot: Snapshot,
}

impl World {
    fn new() -> Self {
        let mut world = Self {
            snapshot: Snapshot::empty(),
        };
        world.ok(Mutation::RegisterService {
            service: crm(),
            definition: definition(DemotionPolicy::RemoveFromAdministrators),
        });
        world.ok(Mutation::RegisterService {
            service: iaas(),
            definition: definition(DemotionPolicy::KeepInAdministrators),
        });
        world.ok(Mutation::CreateTenant {
            tenant: t(),
            name: "Acme".into(),
            customer: None,
            owner: new_user("owner", UserKind::Local),
        });
        for service in [crm(), iaas()] {
            world.ok(Mutation::SubscribeService {
                tenant: t(),
                service,
            });
        }
        for id in ["alice", "bob"] {
            world.ok(Mutation::InviteUser {
                tenant: t(),
                user: new_user(id, UserKind::Local),
            });
            world.ok(Mutation::SetUserStatus {
                tenant: t(),
                user: user(id),
                status: UserStatus::Active,
            });
            world.ok(Mutation::GrantServiceAccess {
                tenant: t(),
                user: user(id),
                service: crm(),
            });
        }
        for (id, ty, parent, related) in [
            ("org1", "org", None, vec![]),
            ("c1", "container", Some("org1"), vec![]),
            ("site1", "site", Some("c1"), vec![]),
            ("site2", "site", Some("org1"), vec![]),
            ("plan1", "plan", None, vec!["site1"]),
        ] {
            world.ok(Mutation::CreateObject {
                tenant: t(),
                service: crm(),
                object: obj(id),
                object_type: ty.into(),
                name: id.into(),
                parent: parent.map(obj),
                related: related.into_iter().map(obj).collect(),
            });
        }
        world
    }

    #[allow(
        clippy::needless_pass_by_value,
        reason = "tests build mutations inline"
    )]
    fn try_apply(&mut self, mutation: Mutation) -> Result<(), MutationError> {
        let revision = self.snapshot.revision().next();
        self.snapshot = self.snapshot.apply(revision, &mutation, NOW)?;
        Ok(())
    }

    fn ok(&mut self, mutation: Mutation) {
        let text = format!("{mutation:?}");
        self.try_apply(mutation)
            .unwrap_or_else(|err| panic!("{text} refused: {err}"));
    }

    fn refused(&mut self, mutation: Mutation) -> MutationError {
        let before = self.snapshot.revision();
        let err = self
            .try_apply(mutation)
            .expect_err("mutation must be refused");
        assert_eq!(self.snapshot.revision(), before);
        err
    }

    fn check(&self, who: &str, p: &str, object: Option<&str>) -> bool {
        self.check_at(who, p, object, NOW)
    }

    fn check_at(&self, who: &str, p: &str, object: Option<&str>, now: Timestamp) -> bool {
        let query = self.query(who, p, object);
        let allowed = self.snapshot.check(&query, now);
        assert_eq!(self.snapshot.explain(&query, now).is_allowed(), allowed);
        allowed
    }

    #[allow(clippy::unused_self, reason = "reads like the other helpers")]
    fn query(&self, who: &str, p: &str, object: Option<&str>) -> CheckQuery {
        CheckQuery {
            tenant: t(),
            service: crm(),
            user: user(who),
            permission: perm(p),
            object: object.map(obj),
        }
    }

    fn grant(
        &mut self,
        id: &str,
        who: Subject,
        set: &[&str],
        node: GrantNode,
        expires: Option<Timestamp>,
    ) {
        self.ok(Mutation::GiveGrant {
            tenant: t(),
            service: crm(),
            grant: GrantId::parse(id).unwrap(),
            subject: who,
            access: Access::Permissions(PermissionSet::parse(set.iter().copied()).unwrap()),
            node,
            expires_at: expires,
        });
    }

    fn administrators(&self, service: &ServiceId) -> BTreeSet<Subject> {
        self.snapshot.tenants[&t()].services[service]
            .administrators
            .as_ref()
            .clone()
    }
}

fn u(id: &str) -> Subject {
    Subject::User(user(id))
}
fn on(id: &str) -> GrantNode {
    GrantNode::Object(obj(id))
}

#[test]
fn owner_may_do_everything_in_every_subscribed_service() {
    let world = World::new();
    assert!(world.check("owner", "restore.run", Some("site1")));
    assert!(world.check("owner", "settings.edit", None));
}

#[test]
fn user_without_grant_is_denied_with_reason() {
    let world = World::new();
    let explanation = world
        .snapshot
        .explain(&world.query("alice", "backup.run", Some("site1")), NOW);
    assert_eq!(explanation, Explanation::Denied(Denial::NoGrant));
}

#[test]
fn grant_on_container_reaches_current_and_future_children() {
    let mut world = World::new();
    world.grant("g1", u("alice"), &["backup.*"], on("c1"), None);
    assert!(world.check("alice", "backup.run", Some("site1")));
    assert!(!world.check("alice", "backup.run", Some("site2")));
    world.ok(Mutation::CreateObject {
        tenant: t(),
        service: crm(),
        object: obj("site3"),
        object_type: "site".into(),
        name: "new".into(),
        parent: Some(obj("c1")),
        related: BTreeSet::new(),
    });
    assert!(world.check("alice", "backup.view", Some("site3")));
    assert!(!world.check("alice", "restore.run", Some("site3")));
}

#[test]
fn moving_object_out_of_container_drops_inherited_access() {
    let mut world = World::new();
    world.grant("g1", u("alice"), &["backup.run"], on("c1"), None);
    assert!(world.check("alice", "backup.run", Some("site1")));
    world.ok(Mutation::MoveObject {
        tenant: t(),
        service: crm(),
        object: obj("site1"),
        new_parent: Some(obj("org1")),
    });
    assert!(!world.check("alice", "backup.run", Some("site1")));
}

#[test]
fn revoking_site_collection_refused_while_plan_covers_it() {
    let mut world = World::new();
    world.grant("g-site", u("alice"), &["backup.run"], on("site1"), None);
    world.grant("g-plan", u("alice"), &["backup.run"], on("plan1"), None);
    let err = world.refused(Mutation::RevokeGrant {
        tenant: t(),
        service: crm(),
        grant: GrantId::parse("g-site").unwrap(),
        with_dependents: false,
    });
    assert!(
        matches!(&err, MutationError::DependentAccess { dependents, .. } if dependents == &vec![obj("plan1")])
    );
    assert!(err.to_string().contains("plan1"));
    // Asking to revoke both takes both away in one change.
    world.ok(Mutation::RevokeGrant {
        tenant: t(),
        service: crm(),
        grant: GrantId::parse("g-site").unwrap(),
        with_dependents: true,
    });
    assert!(!world.check("alice", "backup.run", Some("site1")));
    assert!(!world.check("alice", "backup.run", Some("plan1")));
}

#[test]
fn permission_level_in_use_cannot_be_deleted() {
    let mut world = World::new();
    let level = PermissionLevelId::parse("operators").unwrap();
    world.ok(Mutation::PutPermissionLevel {
        tenant: t(),
        service: crm(),
        level: level.clone(),
        name: "Operators".into(),
        description: String::new(),
        permissions: PermissionSet::parse(["backup.*"]).unwrap(),
    });
    world.ok(Mutation::GiveGrant {
        tenant: t(),
        service: crm(),
        grant: GrantId::parse("g1").unwrap(),
        subject: u("bob"),
        access: Access::Level(level.clone()),
        node: on("org1"),
        expires_at: None,
    });
    assert!(world.check("bob", "backup.run", Some("site2")));
    let err = world.refused(Mutation::DeletePermissionLevel {
        tenant: t(),
        service: crm(),
        level: level.clone(),
    });
    assert!(err.to_string().contains("user bob"), "{err}");
    // Editing the level changes what its grants give.
    world.ok(Mutation::PutPermissionLevel {
        tenant: t(),
        service: crm(),
        level,
        name: "Operators".into(),
        description: String::new(),
        permissions: PermissionSet::parse(["restore.run"]).unwrap(),
    });
    assert!(!world.check("bob", "backup.run", Some("site2")));
    assert!(world.check("bob", "restore.run", Some("site2")));
}

#[test]
fn administrators_group_cannot_be_deleted_or_edited() {
    let mut world = World::new();
    let admins = SecurityGroupId::parse(ADMINISTRATORS_GROUP).unwrap();
    let err = world.refused(Mutation::DeleteSecurityGroup {
        tenant: t(),
        service: crm(),
        group: admins.clone(),
    });
    assert!(matches!(
        err,
        MutationError::AdministratorsGroupImmutable { .. }
    ));
    let err = world.refused(Mutation::PutSecurityGroup {
        tenant: t(),
        service: crm(),
        group: admins,
        name: "Administrators".into(),
        description: String::new(),
        permissions: PermissionSet::parse(["backup.run"]).unwrap(),
        scope: ObjectScope::AllObjects,
    });
    assert!(matches!(
        err,
        MutationError::AdministratorsGroupImmutable { .. }
    ));
}

#[test]
fn application_administrators_are_synced_into_administrators_group() {
    let mut world = World::new();
    world.ok(Mutation::SetTenantRole {
        tenant: t(),
        user: user("alice"),
        role: TenantRole::ApplicationAdministrator([crm()].into()),
    });
    assert!(world.administrators(&crm()).contains(&u("alice")));
    assert!(world.check("alice", "settings.edit", Some("site1")));
}

#[test]
fn demotion_removes_from_administrators_group_when_policy_says_remove() {
    let mut world = World::new();
    world.ok(Mutation::SetTenantRole {
        tenant: t(),
        user: user("alice"),
        role: TenantRole::ApplicationAdministrator([crm()].into()),
    });
    world.ok(Mutation::SetTenantRole {
        tenant: t(),
        user: user("alice"),
        role: TenantRole::StandardUser,
    });
    assert!(!world.administrators(&crm()).contains(&u("alice")));
    assert!(!world.check("alice", "settings.edit", Some("site1")));
}

#[test]
fn demotion_keeps_in_administrators_group_when_policy_says_keep() {
    let mut world = World::new();
    world.ok(Mutation::SetTenantRole {
        tenant: t(),
        user: user("alice"),
        role: TenantRole::ApplicationAdministrator([iaas()].into()),
    });
    world.ok(Mutation::SetTenantRole {
        tenant: t(),
        user: user("alice"),
        role: TenantRole::StandardUser,
    });
    assert!(world.administrators(&iaas()).contains(&u("alice")));
    // Removing by hand is what takes the access away.
    world.ok(Mutation::RemoveAdministrator {
        tenant: t(),
        service: iaas(),
        subject: u("alice"),
    });
    assert!(!world.administrators(&iaas()).contains(&u("alice")));
}

#[test]
fn security_group_scope_limits_objects_and_permissions() {
    let mut world = World::new();
    let sg = SecurityGroupId::parse("restorers").unwrap();
    world.ok(Mutation::PutSecurityGroup {
        tenant: t(),
        service: crm(),
        group: sg.clone(),
        name: "Restorers".into(),
        description: "restore in c1".into(),
        permissions: PermissionSet::parse(["restore.*", "backup.view"]).unwrap(),
        scope: ObjectScope::Objects([obj("c1")].into()),
    });
    world.ok(Mutation::AddSecurityGroupMember {
        tenant: t(),
        service: crm(),
        group: sg,
        member: u("bob"),
    });
    assert!(world.check("bob", "restore.run", Some("site1")));
    assert!(!world.check("bob", "restore.run", Some("site2")));
    assert!(!world.check("bob", "backup.run", Some("site1")));
    let denial = world
        .snapshot
        .explain(&world.query("bob", "restore.run", Some("site2")), NOW);
    assert_eq!(denial, Explanation::Denied(Denial::OutsideScope));
}

#[test]
fn security_group_name_is_unique_ignoring_case() {
    let mut world = World::new();
    let put = |id: &str, name: &str| Mutation::PutSecurityGroup {
        tenant: t(),
        service: crm(),
        group: SecurityGroupId::parse(id).unwrap(),
        name: name.into(),
        description: String::new(),
        permissions: PermissionSet::all(),
        scope: ObjectScope::AllObjects,
    };
    world.ok(put("a", "Operators"));
    let err = world.refused(put("b", "OPERATORS"));
    assert!(matches!(err, MutationError::NameTaken { .. }));
}

#[test]
fn user_without_service_access_is_denied_despite_group() {
    let mut world = World::new();
    world.ok(Mutation::InviteUser {
        tenant: t(),
        user: new_user("carol", UserKind::Directory),
    });
    world.ok(Mutation::SetUserStatus {
        tenant: t(),
        user: user("carol"),
        status: UserStatus::Active,
    });
    let sg = SecurityGroupId::parse("everyone").unwrap();
    world.ok(Mutation::PutSecurityGroup {
        tenant: t(),
        service: crm(),
        group: sg.clone(),
        name: "Everyone".into(),
        description: String::new(),
        permissions: PermissionSet::all(),
        scope: ObjectScope::AllObjects,
    });
    let err = world.refused(Mutation::AddSecurityGroupMember {
        tenant: t(),
        service: crm(),
        group: sg.clone(),
        member: u("carol"),
    });
    assert!(matches!(err, MutationError::NoServiceAccess { .. }));
    // Through a directory group the membership is allowed, but carol still gets nothing.
    let group = GroupId::parse("staff").unwrap();
    world.ok(Mutation::CreateGroup {
        tenant: t(),
        group: group.clone(),
        name: "Staff".into(),
    });
    world.ok(Mutation::AddGroupMember {
        tenant: t(),
        group: group.clone(),
        member: u("carol"),
    });
    world.ok(Mutation::AddSecurityGroupMember {
        tenant: t(),
        service: crm(),
        group: sg,
        member: Subject::Group(group),
    });
    let explanation = world
        .snapshot
        .explain(&world.query("carol", "backup.run", None), NOW);
    assert_eq!(explanation, Explanation::Denied(Denial::NoServiceAccess));
}

#[test]
fn nested_groups_grant_with_chain() {
    let mut world = World::new();
    let (outer, inner) = (
        GroupId::parse("outer").unwrap(),
        GroupId::parse("inner").unwrap(),
    );
    for g in [&outer, &inner] {
        world.ok(Mutation::CreateGroup {
            tenant: t(),
            group: g.clone(),
            name: g.to_string(),
        });
    }
    world.ok(Mutation::AddGroupMember {
        tenant: t(),
        group: outer.clone(),
        member: Subject::Group(inner.clone()),
    });
    world.ok(Mutation::AddGroupMember {
        tenant: t(),
        group: inner.clone(),
        member: u("alice"),
    });
    world.grant(
        "g1",
        Subject::Group(outer.clone()),
        &["export.run"],
        GrantNode::Service,
        None,
    );
    let Explanation::Allowed(grants) = world
        .snapshot
        .explain(&world.query("alice", "export.run", Some("site2")), NOW)
    else {
        panic!("expected allow");
    };
    assert_eq!(grants[0].group_chain, vec![outer, inner]);
    assert_eq!(grants[0].source, GrantSource::DirectGrant);
}

#[test]
fn group_cycle_is_rejected() {
    let mut world = World::new();
    let (a, b) = (GroupId::parse("a").unwrap(), GroupId::parse("b").unwrap());
    for g in [&a, &b] {
        world.ok(Mutation::CreateGroup {
            tenant: t(),
            group: g.clone(),
            name: g.to_string(),
        });
    }
    world.ok(Mutation::AddGroupMember {
        tenant: t(),
        group: a.clone(),
        member: Subject::Group(b.clone()),
    });
    let err = world.refused(Mutation::AddGroupMember {
        tenant: t(),
        group: b,
        member: Subject::Group(a.clone()),
    });
    assert!(matches!(err, MutationError::GroupCycle { .. }));
    let err = world.refused(Mutation::AddGroupMember {
        tenant: t(),
        group: a.clone(),
        member: Subject::Group(a),
    });
    assert!(matches!(err, MutationError::GroupCycle { .. }));
}

#[test]
fn locked_user_is_denied_until_lock_expires() {
    let mut world = World::new();
    world.grant("g1", u("alice"), &["*"], GrantNode::Service, None);
    let until = NOW.plus_millis(3_600_000);
    world.ok(Mutation::SetUserStatus {
        tenant: t(),
        user: user("alice"),
        status: UserStatus::LockedUntil(until),
    });
    let explanation = world
        .snapshot
        .explain(&world.query("alice", "backup.run", None), NOW);
    assert_eq!(
        explanation,
        Explanation::Denied(Denial::UserNotActive(UserStatus::LockedUntil(until)))
    );
    assert!(world.check_at("alice", "backup.run", None, until));
}

#[test]
fn invited_and_disabled_users_are_denied() {
    let mut world = World::new();
    world.ok(Mutation::SetTenantRole {
        tenant: t(),
        user: user("bob"),
        role: TenantRole::ServiceAdministrator,
    });
    assert!(world.check("bob", "backup.run", None));
    world.ok(Mutation::SetUserStatus {
        tenant: t(),
        user: user("bob"),
        status: UserStatus::Disabled,
    });
    assert!(!world.check("bob", "backup.run", None));
    world.ok(Mutation::SetUserStatus {
        tenant: t(),
        user: user("bob"),
        status: UserStatus::Invited,
    });
    assert!(!world.check("bob", "backup.run", None));
}

#[test]
fn expired_grant_gives_nothing_and_is_named() {
    let mut world = World::new();
    world.grant("temp", u("alice"), &["restore.run"], on("site1"), Some(NOW));
    let explanation = world
        .snapshot
        .explain(&world.query("alice", "restore.run", Some("site1")), NOW);
    let Explanation::Denied(Denial::GrantExpired(grants)) = explanation else {
        panic!("expected expiry, got {explanation:?}");
    };
    assert_eq!(grants[0].grant, Some(GrantId::parse("temp").unwrap()));
    assert!(world.check_at("alice", "restore.run", Some("site1"), NOW.plus_millis(-1)));
}

#[test]
fn permissions_must_exist_in_the_catalog() {
    let mut world = World::new();
    let err = world.refused(Mutation::GiveGrant {
        tenant: t(),
        service: crm(),
        grant: GrantId::parse("g").unwrap(),
        subject: u("alice"),
        access: Access::Permissions(PermissionSet::parse(["compare.*"]).unwrap()),
        node: GrantNode::Service,
        expires_at: None,
    });
    assert!(matches!(err, MutationError::PermissionNotInCatalog { .. }));
    let explanation = world
        .snapshot
        .explain(&world.query("owner", "compare.run", None), NOW);
    assert_eq!(explanation, Explanation::Denied(Denial::UnknownPermission));
}

#[test]
fn containment_must_fit_the_catalog() {
    let mut world = World::new();
    let create = |object: &str, ty: &str, parent: Option<&str>| Mutation::CreateObject {
        tenant: t(),
        service: crm(),
        object: obj(object),
        object_type: ty.into(),
        name: object.into(),
        parent: parent.map(obj),
        related: BTreeSet::new(),
    };
    assert!(matches!(
        world.refused(create("x", "site", None)),
        MutationError::ContainmentNotAllowed { .. }
    ));
    assert!(matches!(
        world.refused(create("x", "org", Some("c1"))),
        MutationError::ContainmentNotAllowed { .. }
    ));
    assert!(matches!(
        world.refused(create("x", "mailbox", None)),
        MutationError::Invalid { .. }
    ));
    let err = world.refused(Mutation::MoveObject {
        tenant: t(),
        service: crm(),
        object: obj("org1"),
        new_parent: Some(obj("c1")),
    });
    assert!(matches!(
        err,
        MutationError::ContainmentCycle { .. } | MutationError::ContainmentNotAllowed { .. }
    ));
}

#[test]
fn exactly_one_owner_after_transfer() {
    let mut world = World::new();
    world.ok(Mutation::TransferOwnership {
        tenant: t(),
        new_owner: user("alice"),
    });
    let owners: Vec<_> = world.snapshot.tenants[&t()]
        .users
        .iter()
        .filter(|(_, u)| u.role == TenantRole::Owner)
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(owners, vec![user("alice")]);
    assert_eq!(
        world.snapshot.tenants[&t()].users[&user("owner")].role,
        TenantRole::ServiceAdministrator
    );
    let err = world.refused(Mutation::SetTenantRole {
        tenant: t(),
        user: user("bob"),
        role: TenantRole::Owner,
    });
    assert!(matches!(err, MutationError::OwnerOnlyByTransfer { .. }));
}

#[test]
fn owner_and_support_accounts_cannot_be_deleted_or_change_roles() {
    let mut world = World::new();
    world.ok(Mutation::InviteUser {
        tenant: t(),
        user: new_user("support1", UserKind::Support),
    });
    for who in ["owner", "support1"] {
        let err = world.refused(Mutation::DeleteUser {
            tenant: t(),
            user: user(who),
        });
        assert!(matches!(err, MutationError::ProtectedUser { .. }), "{err}");
        let err = world.refused(Mutation::SetTenantRole {
            tenant: t(),
            user: user(who),
            role: TenantRole::StandardUser,
        });
        assert!(matches!(err, MutationError::ProtectedUser { .. }), "{err}");
    }
}

#[test]
fn deleting_a_user_removes_memberships_and_grants() {
    let mut world = World::new();
    let group = GroupId::parse("staff").unwrap();
    world.ok(Mutation::CreateGroup {
        tenant: t(),
        group: group.clone(),
        name: "Staff".into(),
    });
    world.ok(Mutation::AddGroupMember {
        tenant: t(),
        group: group.clone(),
        member: u("bob"),
    });
    world.grant("g1", u("bob"), &["*"], GrantNode::Service, None);
    world.ok(Mutation::DeleteUser {
        tenant: t(),
        user: user("bob"),
    });
    let tenant = &world.snapshot.tenants[&t()];
    assert!(tenant.groups[&group].members.is_empty());
    assert!(tenant.services[&crm()].grants.is_empty());
    // The e-mail is free again.
    world.ok(Mutation::InviteUser {
        tenant: t(),
        user: new_user("bob", UserKind::Local),
    });
}

#[test]
fn email_is_unique_ignoring_case() {
    let mut world = World::new();
    let err = world.refused(Mutation::InviteUser {
        tenant: t(),
        user: NewUser {
            user: user("alice2"),
            email: "ALICE@acme.example".into(),
            display_name: "A".into(),
            kind: UserKind::Local,
        },
    });
    assert!(matches!(err, MutationError::EmailTaken { .. }));
}

#[test]
fn tenants_are_isolated() {
    let mut world = World::new();
    world.ok(Mutation::CreateTenant {
        tenant: TenantId::parse("other").unwrap(),
        name: "Other".into(),
        customer: None,
        owner: new_user("alice", UserKind::Local),
    });
    world.grant("g1", u("alice"), &["*"], GrantNode::Service, None);
    let query = CheckQuery {
        tenant: TenantId::parse("other").unwrap(),
        ..world.query("alice", "backup.run", None)
    };
    assert_eq!(
        world.snapshot.explain(&query, NOW),
        Explanation::Denied(Denial::ServiceNotSubscribed)
    );
}

#[test]
fn refused_mutation_leaves_snapshot_unchanged() {
    let mut world = World::new();
    let before = world.snapshot.clone();
    let mutation = Mutation::GiveGrant {
        tenant: t(),
        service: crm(),
        grant: GrantId::parse("g").unwrap(),
        subject: u("alice"),
        access: Access::Permissions(PermissionSet::all()),
        node: on("missing"),
        expires_at: None,
    };
    assert!(before.apply(Revision::new(99), &mutation, NOW).is_err());
    world.refused(mutation);
    assert!(
        !world
            .snapshot
            .check(&world.query("alice", "backup.run", None), NOW)
    );
    assert_eq!(before.revision(), world.snapshot.revision());
}

#[test]
fn views_and_lookups_agree_with_checks() {
    let mut world = World::new();
    world.grant("g1", u("alice"), &["backup.run"], on("c1"), None);
    let objects = world
        .snapshot
        .lookup_objects(&t(), &crm(), &user("alice"), &perm("backup.run"), NOW)
        .unwrap();
    assert_eq!(objects, vec![obj("c1"), obj("site1")]);
    let users = world
        .snapshot
        .lookup_subjects(&t(), &crm(), Some(&obj("site1")), &perm("backup.run"), NOW)
        .unwrap();
    assert_eq!(users, vec![user("alice"), user("owner")]);
    let view = world
        .snapshot
        .user_permissions(&t(), &user("alice"), None, NOW)
        .unwrap();
    assert_eq!(view.len(), 1);
    assert_eq!(
        (view[0].node.clone(), view[0].permission.clone()),
        (on("c1"), perm("backup.run"))
    );
    let access = world
        .snapshot
        .object_access(&t(), &crm(), &obj("site1"), NOW)
        .unwrap();
    assert!(
        access
            .iter()
            .any(|a| a.subject == u("alice") && a.permission == perm("backup.run"))
    );
    assert!(!access.iter().any(|a| a.subject == u("bob")));
}
