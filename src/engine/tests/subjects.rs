//! Rules on users, directory groups, roles and the Administrators group.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::*;

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

/// The Administrators group as an administrator reads it: who is in it by which rule, and
/// who was added by hand (or kept there after a demotion).
fn administrators_view(
    world: &World,
    service: &ServiceId,
) -> (Vec<Subject>, Vec<(String, SyncRule)>) {
    let admins = SecurityGroupId::parse(ADMINISTRATORS_GROUP).unwrap();
    let record = world
        .snapshot
        .security_group_record(&t(), service, &admins)
        .unwrap();
    let synced = record
        .synced
        .into_iter()
        .map(|m| (m.subject.id().to_string(), m.rule))
        .collect();
    (record.members, synced)
}

#[test]
fn rule_the_administrators_group_shows_its_synced_members_by_rule_beside_those_added_by_hand() {
    let mut world = World::new();
    world.ok(Mutation::SetTenantRole {
        tenant: t(),
        user: user("alice"),
        role: TenantRole::ApplicationAdministrator([crm(), iaas()].into()),
    });
    world.ok(Mutation::SetTenantRole {
        tenant: t(),
        user: user("bob"),
        role: TenantRole::ServiceAdministrator,
    });
    world.ok(Mutation::CreateGroup {
        tenant: t(),
        group: GroupId::parse("ops").unwrap(),
        name: "Ops".into(),
    });
    world.ok(Mutation::AddAdministrator {
        tenant: t(),
        service: crm(),
        subject: Subject::Group(GroupId::parse("ops").unwrap()),
    });
    let (by_hand, synced) = administrators_view(&world, &crm());
    assert_eq!(
        by_hand,
        vec![Subject::Group(GroupId::parse("ops").unwrap())]
    );
    assert_eq!(
        synced,
        vec![
            ("alice".to_owned(), SyncRule::ApplicationAdministrator),
            ("bob".to_owned(), SyncRule::ServiceAdministrator),
            ("owner".to_owned(), SyncRule::Owner),
        ]
    );
    // Demoted where the policy keeps: no longer synced, still a member (by hand now).
    world.ok(Mutation::SetTenantRole {
        tenant: t(),
        user: user("alice"),
        role: TenantRole::StandardUser,
    });
    let (by_hand, synced) = administrators_view(&world, &iaas());
    assert_eq!(by_hand, vec![u("alice")]);
    assert_eq!(
        synced,
        vec![
            ("bob".to_owned(), SyncRule::ServiceAdministrator),
            ("owner".to_owned(), SyncRule::Owner),
        ]
    );
    // Where the policy removes, the demoted user is gone altogether.
    let (by_hand, _) = administrators_view(&world, &crm());
    assert!(!by_hand.contains(&u("alice")));
}

#[test]
fn rule_a_role_change_reports_the_synced_members_it_moves() {
    let world = World::new();
    let revision = world.snapshot.revision().next();
    let (after, context) = world
        .snapshot
        .clone()
        .apply_described(
            revision,
            &Mutation::SetTenantRole {
                tenant: t(),
                user: user("alice"),
                role: TenantRole::ServiceAdministrator,
            },
            NOW,
        )
        .unwrap();
    let joined: Vec<_> = context
        .synced
        .iter()
        .map(|c| (c.service.clone(), c.member.clone(), c.rule, c.joined))
        .collect();
    assert_eq!(
        joined,
        vec![
            (crm(), u("alice"), SyncRule::ServiceAdministrator, true),
            (iaas(), u("alice"), SyncRule::ServiceAdministrator, true),
        ]
    );
    // And back: she leaves both.
    let (_, context) = after
        .apply_described(
            revision.next(),
            &Mutation::SetTenantRole {
                tenant: t(),
                user: user("alice"),
                role: TenantRole::StandardUser,
            },
            NOW,
        )
        .unwrap();
    assert!(
        context
            .synced
            .iter()
            .all(|c| !c.joined && c.member == u("alice"))
    );
    assert_eq!(context.synced.len(), 2);
    // A change that moves no synced member reports none.
    let (_, context) = world
        .snapshot
        .clone()
        .apply_described(
            revision,
            &Mutation::AddAdministrator {
                tenant: t(),
                service: crm(),
                subject: u("bob"),
            },
            NOW,
        )
        .unwrap();
    assert!(context.synced.is_empty());
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
fn rule_a_user_who_cannot_sign_in_gets_no_sign_in_reports() {
    let mut world = World::new();
    world.ok(Mutation::InviteUser {
        tenant: t(),
        user: new_user("carol", UserKind::Local),
    });
    let report = |who: &str| Mutation::ReportSignIn {
        tenant: t(),
        user: user(who),
        success: false,
        lock_after: 1,
        lock_for_millis: 60_000,
    };
    // Invited, never activated: refused, so no lock (and no later unlock) activates her.
    let err = world.refused(report("carol"));
    assert!(
        matches!(err, MutationError::UserNotActive { .. }),
        "{err:?}"
    );
    world.ok(Mutation::SetUserStatus {
        tenant: t(),
        user: user("bob"),
        status: UserStatus::Disabled,
    });
    assert!(matches!(
        world.refused(report("bob")),
        MutationError::UserNotActive { .. }
    ));
    // An active user is locked by the report.
    world.ok(report("alice"));
    assert!(!world.check("alice", "backup.run", None));
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
        world.snapshot.tenants[&t()]
            .users
            .get(&user("owner"))
            .unwrap()
            .role,
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
    assert!(tenant.groups.get(&group).unwrap().members.is_empty());
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

/// Directory group `ops` holding alice, inside `staff`, which becomes an application
/// administrator of `services`.
fn staff_administers(world: &mut World, services: &[ServiceId]) {
    for (id, name) in [("ops", "Ops"), ("staff", "Staff")] {
        world.ok(Mutation::CreateGroup {
            tenant: t(),
            group: GroupId::parse(id).unwrap(),
            name: name.into(),
        });
    }
    world.ok(Mutation::AddGroupMember {
        tenant: t(),
        group: GroupId::parse("ops").unwrap(),
        member: u("alice"),
    });
    world.ok(Mutation::AddGroupMember {
        tenant: t(),
        group: GroupId::parse("staff").unwrap(),
        member: g("ops"),
    });
    world.ok(Mutation::SetGroupAdministers {
        tenant: t(),
        group: GroupId::parse("staff").unwrap(),
        services: services.iter().cloned().collect(),
    });
}

fn g(id: &str) -> Subject {
    Subject::Group(GroupId::parse(id).unwrap())
}

#[test]
fn rule_a_group_as_application_administrator_is_synced_and_its_nested_members_hold_everything() {
    let mut world = World::new();
    assert!(!world.check("alice", "settings.edit", Some("site1")));
    staff_administers(&mut world, &[crm()]);
    assert!(world.administrators(&crm()).contains(&g("staff")));
    let (by_hand, synced) = administrators_view(&world, &crm());
    assert!(by_hand.is_empty());
    assert!(synced.contains(&("staff".to_owned(), SyncRule::ApplicationAdministrator)));
    assert!(world.check("alice", "settings.edit", Some("site1")));
    // The explanation names the groups it comes through, outermost first.
    let Explanation::Allowed(traces) = world
        .snapshot
        .explain(&world.query("alice", "settings.edit", Some("site1")), NOW)
    else {
        panic!("allowed");
    };
    let through: Vec<_> = traces
        .iter()
        .filter(|t| t.source == GrantSource::AdministratorsGroup)
        .map(|t| t.group_chain.clone())
        .collect();
    assert_eq!(
        through,
        [vec![
            GroupId::parse("staff").unwrap(),
            GroupId::parse("ops").unwrap()
        ]]
    );
    // Leaving the group ends it.
    world.ok(Mutation::RemoveGroupMember {
        tenant: t(),
        group: GroupId::parse("ops").unwrap(),
        member: u("alice"),
    });
    assert!(!world.check("alice", "settings.edit", Some("site1")));
}

#[test]
fn rule_a_groups_members_administer_its_services_as_users_with_the_role_do() {
    let mut world = World::new();
    staff_administers(&mut world, &[crm()]);
    // alice is a standard user; through `staff` she may invite users and give them crm,
    // never iaas, and never act on an administrator.
    world.ok(Mutation::InviteUser {
        tenant: t(),
        user: new_user("carol", UserKind::Local),
    });
    let grant = |service: ServiceId| Mutation::GrantServiceAccess {
        tenant: t(),
        user: user("carol"),
        service,
    };
    let snapshot = &world.snapshot;
    assert!(
        snapshot
            .authorize(&user("alice"), &grant(crm()), NOW)
            .is_ok()
    );
    assert!(matches!(
        snapshot.authorize(&user("alice"), &grant(iaas()), NOW),
        Err(AuthorityError::ServiceNotAdministered { .. })
    ));
    // bob, outside the group, may do neither.
    assert!(
        snapshot
            .authorize(&user("bob"), &grant(crm()), NOW)
            .is_err()
    );
    // Making a group an administrator is the owner's (and administrators') to do.
    let promote = Mutation::SetGroupAdministers {
        tenant: t(),
        group: GroupId::parse("ops").unwrap(),
        services: [iaas()].into(),
    };
    assert!(snapshot.authorize(&user("alice"), &promote, NOW).is_err());
    assert!(snapshot.authorize(&user("owner"), &promote, NOW).is_ok());
}

#[test]
fn rule_a_group_demoted_leaves_or_stays_in_the_administrators_group_per_policy() {
    let mut world = World::new();
    staff_administers(&mut world, &[crm(), iaas()]);
    world.ok(Mutation::SetGroupAdministers {
        tenant: t(),
        group: GroupId::parse("staff").unwrap(),
        services: BTreeSet::new(),
    });
    // crm removes on demotion; iaas keeps the group, now as a member by hand.
    assert!(!world.administrators(&crm()).contains(&g("staff")));
    let (by_hand, synced) = administrators_view(&world, &iaas());
    assert_eq!(by_hand, [g("staff")]);
    assert!(!synced.iter().any(|(id, _)| id == "staff"));
    // Services must be subscribed, the group must exist.
    let err = world.refused(Mutation::SetGroupAdministers {
        tenant: t(),
        group: GroupId::parse("nobody").unwrap(),
        services: [crm()].into(),
    });
    assert!(matches!(err, MutationError::NotFound { .. }));
}

#[test]
fn rule_a_user_reaches_the_services_given_and_administrators_every_subscribed_one() {
    let mut world = World::new();
    let other = ServiceId::parse("other").unwrap();
    world.ok(Mutation::RegisterService {
        service: other.clone(),
        definition: definition(DemotionPolicy::KeepInAdministrators),
    });
    world.ok(Mutation::SetTenantRole {
        tenant: t(),
        user: user("bob"),
        role: TenantRole::CustomizedAdministrator(AdminFunctions {
            management: true,
            auto_discovery: false,
            administration: false,
        }),
    });
    let reaches = |who: &str, services: &[ServiceId]| {
        world
            .snapshot
            .user_reaches_any_service(&t(), &user(who), services)
    };
    // Alice was given crm-backup only; the owner and a customized administrator reach
    // every service the tenant subscribes to, and none it does not.
    assert!(reaches("alice", &[crm()]));
    assert!(!reaches("alice", &[iaas()]));
    assert!(reaches("alice", &[iaas(), crm()]));
    for admin in ["owner", "bob"] {
        assert!(reaches(admin, &[iaas()]));
        assert!(!reaches(admin, std::slice::from_ref(&other)));
    }
    assert!(!reaches("nobody", &[crm()]));
    assert!(!reaches("alice", &[]));
}

#[test]
fn a_denial_is_classed_without_walking_grants() {
    let query = |who: &str, permission: &str| CheckQuery {
        tenant: t(),
        service: crm(),
        user: user(who),
        permission: perm(permission),
        object: Some(obj("site1")),
    };
    let mut world = World::new();
    assert_eq!(
        world
            .snapshot
            .denial_without_grants(&query("nobody", "backup.run"), NOW),
        Some(Denial::UnknownUser)
    );
    // Alice reaches the service but holds nothing: no lookup says why, a walk would.
    assert_eq!(
        world
            .snapshot
            .denial_without_grants(&query("alice", "backup.run"), NOW),
        None
    );
    world.ok(Mutation::SetUserStatus {
        tenant: t(),
        user: user("alice"),
        status: UserStatus::Disabled,
    });
    assert_eq!(
        world
            .snapshot
            .denial_without_grants(&query("alice", "backup.run"), NOW),
        Some(Denial::UserNotActive(UserStatus::Disabled))
    );
}
