//! Rules on places, objects, permissions and grants.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use super::*;

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
        description: String::new(),
        creator: None,
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
        dependents: crate::engine::Dependencies::Unchecked,
    });
    assert!(!world.check("alice", "backup.run", Some("site1")));
}

#[test]
fn grant_reaches_objects_nested_deeper_than_the_inline_chain_and_follows_moves() {
    let mut world = World::new();
    // c1 ⊃ d1 ⊃ d2 ⊃ … ⊃ d12 ⊃ deep: fourteen levels under org1.
    let mut parent = "c1".to_owned();
    for level in 1..=12 {
        let id = format!("d{level}");
        world.ok(Mutation::CreateObject {
            tenant: t(),
            service: crm(),
            object: obj(&id),
            object_type: "container".into(),
            name: id.clone(),
            parent: Some(obj(&parent)),
            related: BTreeSet::new(),
            description: String::new(),
            creator: None,
        });
        parent = id;
    }
    world.ok(Mutation::CreateObject {
        tenant: t(),
        service: crm(),
        object: obj("deep"),
        object_type: "site".into(),
        name: "deep".into(),
        parent: Some(obj("d12")),
        related: BTreeSet::new(),
        description: String::new(),
        creator: None,
    });
    world.grant("g-org", u("alice"), &["backup.run"], on("org1"), None);
    world.grant("g-d3", u("bob"), &["backup.run"], on("d3"), None);
    assert!(world.check("alice", "backup.run", Some("deep")));
    assert!(world.check("bob", "backup.run", Some("deep")));
    assert!(!world.check("bob", "backup.run", Some("d2")));
    // Moving d4 (with everything under it) to the top level takes it out of org1 and d3.
    world.ok(Mutation::MoveObject {
        tenant: t(),
        service: crm(),
        object: obj("d4"),
        new_parent: None,
        dependents: crate::engine::Dependencies::Unchecked,
    });
    assert!(!world.check("alice", "backup.run", Some("deep")));
    assert!(!world.check("bob", "backup.run", Some("deep")));
    assert!(world.check("bob", "backup.run", Some("d3")));
    // And back under d3.
    world.ok(Mutation::MoveObject {
        tenant: t(),
        service: crm(),
        object: obj("d4"),
        new_parent: Some(obj("d3")),
        dependents: crate::engine::Dependencies::Unchecked,
    });
    assert!(world.check("alice", "backup.run", Some("deep")));
    assert!(world.check("bob", "backup.run", Some("deep")));
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
        dependencies: crate::engine::Dependencies::Unchecked,
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
        dependencies: crate::engine::Dependencies::Unchecked,
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
        description: String::new(),
        creator: None,
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
        dependents: crate::engine::Dependencies::Unchecked,
    });
    assert!(matches!(
        err,
        MutationError::ContainmentCycle { .. } | MutationError::ContainmentNotAllowed { .. }
    ));
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
        dependencies: crate::engine::Dependencies::Unchecked,
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
