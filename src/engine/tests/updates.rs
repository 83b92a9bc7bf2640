//! Rules on updating services, users, directory groups and objects in place.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use super::*;

/// The fixture's definition with `edit` applied (remove-on-demotion, like crm-backup).
fn changed(edit: impl FnOnce(&mut ServiceDefinition)) -> ServiceDefinition {
    let mut def = definition(DemotionPolicy::RemoveFromAdministrators);
    edit(&mut def);
    def
}

fn without(permission: &str) -> ServiceDefinition {
    changed(|def| def.permissions.retain(|p| p.as_str() != permission))
}

fn update_crm(definition: ServiceDefinition) -> Mutation {
    Mutation::UpdateService {
        service: crm(),
        definition,
    }
}

fn sg(id: &str) -> SecurityGroupId {
    SecurityGroupId::parse(id).unwrap()
}

fn group(id: &str) -> GroupId {
    GroupId::parse(id).unwrap()
}

impl World {
    /// A crm-backup security group on every object, with `members`.
    fn security_group(&mut self, id: &str, set: &[&str], members: &[Subject]) {
        self.ok(Mutation::PutSecurityGroup {
            tenant: t(),
            service: crm(),
            group: sg(id),
            name: id.into(),
            description: String::new(),
            permissions: PermissionSet::parse(set.iter().copied()).unwrap(),
            scope: ObjectScope::AllObjects,
        });
        for member in members {
            self.ok(Mutation::AddSecurityGroupMember {
                tenant: t(),
                service: crm(),
                group: sg(id),
                member: member.clone(),
            });
        }
    }

    fn directory_group(&mut self, id: &str, members: &[Subject]) {
        self.ok(Mutation::CreateGroup {
            tenant: t(),
            group: group(id),
            name: id.into(),
        });
        for member in members {
            self.ok(Mutation::AddGroupMember {
                tenant: t(),
                group: group(id),
                member: member.clone(),
            });
        }
    }

    fn level(&mut self, id: &str, set: &[&str]) {
        self.ok(Mutation::PutPermissionLevel {
            tenant: t(),
            service: crm(),
            level: PermissionLevelId::parse(id).unwrap(),
            name: id.into(),
            description: String::new(),
            permissions: PermissionSet::parse(set.iter().copied()).unwrap(),
        });
    }

    fn grant_level(&mut self, id: &str, who: Subject, level: &str, node: GrantNode) {
        self.ok(Mutation::GiveGrant {
            tenant: t(),
            service: crm(),
            grant: GrantId::parse(id).unwrap(),
            subject: who,
            access: Access::Level(PermissionLevelId::parse(level).unwrap()),
            node,
            expires_at: None,
            dependencies: crate::engine::Dependencies::Unchecked,
        });
    }

    /// Refused, and the snapshot handed back by `apply_owned` is the one it was given.
    fn refused_unchanged(&mut self, mutation: &Mutation) -> MutationError {
        let before = format!("{:?}", self.snapshot);
        let Err((back, err)) = self
            .snapshot
            .clone()
            .apply_owned(Revision::new(999), mutation, NOW)
        else {
            panic!("{mutation:?} must be refused");
        };
        assert_eq!(
            format!("{back:?}"),
            before,
            "{mutation:?} changed the state"
        );
        assert_eq!(self.refused(mutation.clone()), err);
        assert_eq!(format!("{:?}", self.snapshot), before);
        err
    }
}

#[test]
fn update_service_new_permission_reaches_feature_wildcard_group() {
    let mut world = World::new();
    world.security_group("backup-ops", &["backup.*"], &[u("alice")]);
    assert!(world.check("alice", "backup.run", Some("site1")));
    assert!(!world.check("alice", "backup.delete", Some("site1")));
    world.ok(update_crm(changed(|def| {
        def.display_name = "CRM backup".into();
        def.permissions.push(perm("backup.delete"));
    })));
    assert_eq!(
        world.snapshot.services[&crm()].definition.display_name,
        "CRM backup"
    );
    assert!(world.check("alice", "backup.delete", Some("site1")));
    assert!(world.check("alice", "backup.run", Some("site1")));
    assert!(!world.check("alice", "restore.run", Some("site1")));
    assert!(!world.check("bob", "backup.delete", Some("site1")));
    // The other service keeps its catalog.
    assert!(
        !world.snapshot.services[&iaas()]
            .catalog
            .contains(&perm("backup.delete"))
    );
}

#[test]
fn update_service_refuses_dropping_permission_named_by_security_group() {
    let mut world = World::new();
    world.directory_group("ops", &[u("bob")]);
    world.security_group(
        "restorers",
        &["restore.run"],
        &[u("alice"), Subject::Group(group("ops"))],
    );
    let err = world.refused_unchanged(&update_crm(without("restore.run")));
    assert_eq!(
        err,
        MutationError::PermissionInUse {
            service: crm(),
            permission: "restore.run".into(),
            used_by: vec![
                "tenant acme: group ops".into(),
                "tenant acme: user alice".into()
            ],
        }
    );
    assert_eq!(err.kind(), MutationErrorKind::FailedPrecondition);
    assert!(err.to_string().contains("take it out of those first"));
    assert!(world.check("bob", "restore.run", Some("site1")));
}

#[test]
fn update_service_refuses_dropping_permission_of_level_or_grant() {
    let mut world = World::new();
    world.level("exporter", &["export.run", "backup.view"]);
    world.grant_level("gl", u("alice"), "exporter", on("c1"));
    world.grant_level("gl2", u("bob"), "exporter", GrantNode::Service);
    world.grant("gd", u("bob"), &["export.run"], on("site2"), None);
    let err = world.refused_unchanged(&update_crm(without("export.run")));
    assert_eq!(
        err,
        MutationError::PermissionInUse {
            service: crm(),
            permission: "export.run".into(),
            used_by: vec![
                "tenant acme: user alice".into(),
                "tenant acme: user bob".into()
            ],
        }
    );
    // A level nobody is granted is named itself.
    let mut world = World::new();
    world.level("exporter", &["export.run"]);
    let err = world.refused_unchanged(&update_crm(without("export.run")));
    assert!(
        matches!(&err, MutationError::PermissionInUse { used_by, .. }
            if used_by == &vec!["tenant acme: permission level exporter".to_owned()])
    );
}

#[test]
fn update_service_refuses_leaving_feature_wildcard_matching_nothing() {
    let mut world = World::new();
    world.security_group("exporters", &["export.*"], &[u("alice")]);
    let err = world.refused_unchanged(&update_crm(without("export.run")));
    assert!(matches!(
        &err,
        MutationError::PermissionInUse { permission, used_by, .. }
            if permission == "export.*" && used_by == &vec!["tenant acme: user alice".to_owned()]
    ));
}

#[test]
fn update_service_dropping_unused_permission_moves_bits_and_keeps_checks() {
    let mut world = World::new();
    // Bits today: backup.run 0, backup.view 1, export.run 2, restore.run 3, settings.edit 4.
    world.grant(
        "gs",
        u("alice"),
        &["settings.edit"],
        GrantNode::Service,
        None,
    );
    world.level("viewer", &["backup.view"]);
    world.grant_level("gl", u("alice"), "viewer", on("c1"));
    world.security_group("restorers", &["restore.*"], &[u("bob")]);
    world.security_group("everything", &["*"], &[]);
    world.ok(update_crm(without("backup.run")));
    let catalog = &world.snapshot.services[&crm()].catalog;
    assert_eq!(catalog.bit(&perm("settings.edit")), Some(3));
    assert_eq!(catalog.bit(&perm("backup.run")), None);
    assert!(world.check("alice", "settings.edit", None));
    assert!(world.check("alice", "backup.view", Some("site1")));
    assert!(!world.check("alice", "backup.view", Some("site2")));
    assert!(!world.check("alice", "export.run", None));
    assert!(!world.check("alice", "restore.run", Some("site1")));
    assert!(world.check("bob", "restore.run", Some("site1")));
    assert!(!world.check("bob", "settings.edit", None));
    assert!(!world.check("bob", "export.run", Some("site1")));
    assert!(!world.check("alice", "backup.run", Some("site1")));
    assert!(world.check("owner", "export.run", Some("site1")));
    // Adding it back moves the bits again; nobody gains it.
    world.ok(update_crm(definition(
        DemotionPolicy::RemoveFromAdministrators,
    )));
    assert!(world.check("alice", "settings.edit", None));
    assert!(world.check("bob", "restore.run", Some("site1")));
    assert!(!world.check("alice", "backup.run", Some("site1")));
    assert!(!world.check("bob", "backup.run", Some("site1")));
}

#[test]
fn update_service_moving_bits_reaches_what_directory_groups_hold() {
    let mut world = World::new();
    world.directory_group("ops", &[u("alice")]);
    world.directory_group("night", &[u("alice")]);
    world.security_group("restorers", &["restore.*"], &[Subject::Group(group("ops"))]);
    // Leaving and joining night again: alice's record is computed afresh, from what ops
    // holds, which the service then keeps.
    let night = |add: bool| {
        let (tenant, group, member) = (t(), group("night"), u("alice"));
        if add {
            Mutation::AddGroupMember {
                tenant,
                group,
                member,
            }
        } else {
            Mutation::RemoveGroupMember {
                tenant,
                group,
                member,
            }
        }
    };
    world.ok(night(false));
    world.ok(night(true));
    assert!(world.check("alice", "restore.run", Some("site1")));
    // restore.run moves from bit 3 to bit 2, where settings.edit was: what ops holds must
    // follow, in alice's record now and whenever it is computed again.
    world.ok(update_crm(without("backup.run")));
    assert!(world.check("alice", "restore.run", Some("site1")));
    assert!(!world.check("alice", "settings.edit", Some("site1")));
    world.ok(night(false));
    assert!(world.check("alice", "restore.run", Some("site1")));
    assert!(!world.check("alice", "settings.edit", Some("site1")));
    assert_eq!(
        crate::engine::effective::kept_records(&world.snapshot),
        crate::engine::effective::recomputed_records(&world.snapshot)
    );
}

#[test]
fn update_service_refuses_dropping_object_type_in_use() {
    let mut world = World::new();
    let err = world.refused_unchanged(&update_crm(changed(|def| {
        def.object_types.retain(|t| t.name != "plan");
        for t in &mut def.object_types {
            t.may_contain.remove("plan");
        }
    })));
    assert_eq!(
        err,
        MutationError::ObjectTypeInUse {
            service: crm(),
            object_type: "plan".into(),
            object: obj("plan1"),
        }
    );
    assert_eq!(err.kind(), MutationErrorKind::FailedPrecondition);
    // An object type nothing has may go.
    world.ok(Mutation::DeleteObject {
        tenant: t(),
        service: crm(),
        object: obj("plan1"),
        dependents: crate::engine::Dependencies::Unchecked,
    });
    world.ok(update_crm(changed(|def| {
        def.object_types.retain(|t| t.name != "plan");
        for t in &mut def.object_types {
            t.may_contain.remove("plan");
        }
    })));
}

#[test]
fn update_service_refuses_containment_existing_objects_break() {
    let mut world = World::new();
    let err = world.refused_unchanged(&update_crm(changed(|def| {
        for t in &mut def.object_types {
            if t.name == "container" {
                t.may_contain.remove("site");
            }
        }
    })));
    assert!(
        matches!(&err, MutationError::ContainmentNotAllowed { child, place, .. }
            if child == "site" && place.contains("site1")),
        "{err}"
    );
    let err = world.refused_unchanged(&update_crm(changed(|def| {
        for t in &mut def.object_types {
            if t.name == "plan" {
                t.top_level = false;
            }
        }
    })));
    assert!(
        matches!(&err, MutationError::ContainmentNotAllowed { child, place, .. }
            if child == "plan" && place.contains("plan1")),
        "{err}"
    );
}

#[test]
fn update_service_needs_a_registered_service_and_register_stays_create_only() {
    let mut world = World::new();
    let err = world.refused_unchanged(&Mutation::UpdateService {
        service: ServiceId::parse("unknown").unwrap(),
        definition: definition(DemotionPolicy::KeepInAdministrators),
    });
    assert_eq!(err.kind(), MutationErrorKind::NotFound);
    let err = world.refused_unchanged(&Mutation::RegisterService {
        service: crm(),
        definition: definition(DemotionPolicy::KeepInAdministrators),
    });
    assert_eq!(err.kind(), MutationErrorKind::AlreadyExists);
    // An invalid definition is refused as at registration.
    let err = world.refused_unchanged(&update_crm(changed(|def| {
        def.object_types[0].may_contain.insert("nothing".into());
    })));
    assert_eq!(err.kind(), MutationErrorKind::InvalidArgument);
    // The demotion policy follows the update.
    world.ok(update_crm(definition(DemotionPolicy::KeepInAdministrators)));
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
    assert!(world.administrators(&crm()).contains(&u("alice")));
}

#[test]
fn update_user_keeps_emails_unique_per_tenant() {
    let mut world = World::new();
    let update = |email: &str| Mutation::UpdateUser {
        tenant: t(),
        user: user("alice"),
        email: email.into(),
        display_name: "Alice A.".into(),
    };
    let err = world.refused_unchanged(&update("BOB@acme.example"));
    assert_eq!(
        err,
        MutationError::EmailTaken {
            email: "BOB@acme.example".into(),
            user: user("bob"),
        }
    );
    let err = world.refused_unchanged(&update("not an e-mail"));
    assert_eq!(err.kind(), MutationErrorKind::InvalidArgument);
    // Her own address in another case is hers.
    world.ok(update("ALICE@acme.example"));
    world.ok(update("Alice.New@acme.example"));
    let alice = &world.snapshot.tenants[&t()]
        .users
        .get(&user("alice"))
        .unwrap();
    assert_eq!(
        (alice.email.as_str(), alice.display_name.as_str()),
        ("Alice.New@acme.example", "Alice A.")
    );
    // The old address is free again; the new one is taken.
    world.ok(Mutation::InviteUser {
        tenant: t(),
        user: NewUser {
            email: "alice@acme.example".into(),
            ..new_user("carol", UserKind::Local)
        },
    });
    let err = world.refused_unchanged(&Mutation::InviteUser {
        tenant: t(),
        user: NewUser {
            email: "alice.new@ACME.example".into(),
            ..new_user("dave", UserKind::Local)
        },
    });
    assert!(matches!(err, MutationError::EmailTaken { user: taken, .. } if taken == user("alice")));
    let emails = &world.snapshot.tenants[&t()].emails;
    assert_eq!(emails.len(), world.snapshot.tenants[&t()].users.len());
    // Access does not change.
    assert!(world.check("owner", "backup.run", None));
    let err = world.refused_unchanged(&Mutation::UpdateUser {
        tenant: t(),
        user: user("nobody"),
        email: "nobody@acme.example".into(),
        display_name: String::new(),
    });
    assert_eq!(err.kind(), MutationErrorKind::NotFound);
}

#[test]
fn update_group_renames_and_keeps_members() {
    let mut world = World::new();
    world.directory_group("ops", &[u("alice")]);
    world.grant(
        "g",
        Subject::Group(group("ops")),
        &["backup.run"],
        on("c1"),
        None,
    );
    world.ok(Mutation::UpdateGroup {
        tenant: t(),
        group: group("ops"),
        name: "Operations".into(),
    });
    let ops = &world.snapshot.tenants[&t()]
        .groups
        .get(&group("ops"))
        .unwrap();
    assert_eq!(ops.name, "Operations");
    assert!(ops.members.contains(&u("alice")));
    assert!(world.check("alice", "backup.run", Some("site1")));
    let err = world.refused_unchanged(&Mutation::UpdateGroup {
        tenant: t(),
        group: group("missing"),
        name: "x".into(),
    });
    assert_eq!(err.kind(), MutationErrorKind::NotFound);
    let err = world.refused_unchanged(&Mutation::UpdateGroup {
        tenant: t(),
        group: group("ops"),
        name: "bad\nname".into(),
    });
    assert_eq!(err.kind(), MutationErrorKind::InvalidArgument);
}

#[test]
fn update_object_renames_and_validates_related_objects() {
    let mut world = World::new();
    let update = |object: &str, related: &[&str]| Mutation::UpdateObject {
        tenant: t(),
        service: crm(),
        object: obj(object),
        name: "Plan".into(),
        related: related.iter().map(|o| obj(o)).collect(),
        description: String::new(),
    };
    let err = world.refused_unchanged(&update("plan1", &["site1", "missing"]));
    assert_eq!(err, MutationError::not_found("related object", "missing"));
    let err = world.refused_unchanged(&update("plan1", &["plan1"]));
    assert_eq!(err.kind(), MutationErrorKind::InvalidArgument);
    let err = world.refused_unchanged(&update("missing", &[]));
    assert_eq!(err, MutationError::not_found("object", "missing"));
    world.ok(update("plan1", &["site2"]));
    let plan = &world.snapshot.tenants[&t()].services[&crm()]
        .objects
        .get(&obj("plan1"))
        .unwrap();
    assert_eq!(&*plan.name, "Plan");
    assert!(plan.related.iter().eq([obj("site2")].iter()));
    // The revocation rule follows the new dependency: site1 no longer blocks, site2 does.
    world.grant("g-site1", u("alice"), &["backup.run"], on("site1"), None);
    world.grant("g-site2", u("alice"), &["backup.run"], on("site2"), None);
    world.grant("g-plan", u("alice"), &["backup.run"], on("plan1"), None);
    world.ok(Mutation::RevokeGrant {
        tenant: t(),
        service: crm(),
        grant: GrantId::parse("g-site1").unwrap(),
        with_dependents: false,
    });
    let err = world.refused_unchanged(&Mutation::RevokeGrant {
        tenant: t(),
        service: crm(),
        grant: GrantId::parse("g-site2").unwrap(),
        with_dependents: false,
    });
    assert!(matches!(err, MutationError::DependentAccess { .. }));
}

#[test]
fn updates_follow_actor_rules() {
    let mut world = World::new();
    world.ok(Mutation::SetTenantRole {
        tenant: t(),
        user: user("alice"),
        role: TenantRole::CustomizedAdministrator(AdminFunctions {
            management: true,
            ..AdminFunctions::default()
        }),
    });
    let snapshot = &world.snapshot;
    let update_service = update_crm(definition(DemotionPolicy::KeepInAdministrators));
    assert!(matches!(
        snapshot.authorize(&user("owner"), &update_service, NOW),
        Err(AuthorityError::PlatformOnly { .. })
    ));
    let update_user = |who: &str| Mutation::UpdateUser {
        tenant: t(),
        user: user(who),
        email: format!("{who}@acme.example"),
        display_name: who.into(),
    };
    assert!(
        snapshot
            .authorize(&user("alice"), &update_user("bob"), NOW)
            .is_ok()
    );
    assert!(matches!(
        snapshot.authorize(&user("alice"), &update_user("owner"), NOW),
        Err(AuthorityError::AboveCustomizedAdministrators { .. })
    ));
    assert!(
        snapshot
            .authorize(&user("bob"), &update_user("alice"), NOW)
            .is_err()
    );
    let rename = Mutation::UpdateGroup {
        tenant: t(),
        group: group("ops"),
        name: "Ops".into(),
    };
    assert!(snapshot.authorize(&user("alice"), &rename, NOW).is_ok());
    assert!(snapshot.authorize(&user("bob"), &rename, NOW).is_err());
}

#[test]
fn update_mutations_touch_their_ids() {
    let touched = update_crm(definition(DemotionPolicy::KeepInAdministrators)).touched();
    assert_eq!((touched.tenant, touched.service), (None, Some(crm())));
    let touched = Mutation::UpdateObject {
        tenant: t(),
        service: crm(),
        object: obj("plan1"),
        name: String::new(),
        related: BTreeSet::from([obj("site2")]),
        description: String::new(),
    }
    .touched();
    assert_eq!(touched.objects, vec![obj("plan1"), obj("site2")]);
    let touched = Mutation::UpdateUser {
        tenant: t(),
        user: user("alice"),
        email: String::new(),
        display_name: String::new(),
    }
    .touched();
    assert_eq!(touched.subjects, vec![u("alice")]);
}
