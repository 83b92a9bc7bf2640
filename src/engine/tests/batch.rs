//! Batches: all or none, at one revision, within one tenant, at most `MAX_BATCH` changes.

use super::*;

fn invite(id: &str) -> Mutation {
    Mutation::InviteUser {
        tenant: t(),
        user: new_user(id, UserKind::Local),
    }
}

fn access(id: &str, service: ServiceId) -> Mutation {
    Mutation::GrantServiceAccess {
        tenant: t(),
        user: user(id),
        service,
    }
}

fn batch(changes: Vec<Mutation>) -> Mutation {
    Mutation::Batch {
        tenant: t(),
        changes,
    }
}

#[test]
fn a_batch_applies_every_change_at_one_revision() {
    let mut world = World::new();
    let revision = world.snapshot.revision().next();
    world.ok(batch(vec![
        invite("carol"),
        Mutation::SetTenantRole {
            tenant: t(),
            user: user("carol"),
            role: TenantRole::ApplicationAdministrator(BTreeSet::from([crm()])),
        },
        access("carol", iaas()),
    ]));
    assert_eq!(world.snapshot.revision(), revision);
    let carol = world.snapshot.user_record(&t(), &user("carol")).unwrap();
    // Every change stamps what it alters with the batch's revision.
    assert_eq!(carol.changed_at, revision);
    assert!(world.administrators(&crm()).contains(&u("carol")));
}

#[test]
fn a_refused_change_refuses_the_whole_batch_and_leaves_the_state_as_it_was() {
    let mut world = World::new();
    let before = world.snapshot.clone();
    let err = world.refused(batch(vec![
        invite("carol"),
        access("carol", crm()),
        // Nobody of that id: the batch is refused for it.
        access("nobody", crm()),
    ]));
    assert!(matches!(err, MutationError::NotFound { what: "user", .. }));
    assert!(world.snapshot.user_record(&t(), &user("carol")).is_err());
    assert_eq!(world.snapshot.revision(), before.revision());
    assert!(!world.check("carol", "backup.run", None));
    // The same through the writer's call, which hands the snapshot back on a refusal.
    let revision = before.revision().next();
    let bad = batch(vec![invite("dora"), access("nobody", crm())]);
    let (unchanged, _) = before
        .clone()
        .apply_described(revision, &bad, NOW)
        .unwrap_err();
    assert!(unchanged.user_record(&t(), &user("dora")).is_err());
    assert_eq!(unchanged.revision(), before.revision());
}

#[test]
fn nested_cross_tenant_empty_and_oversized_batches_are_refused() {
    let mut world = World::new();
    world.ok(Mutation::CreateTenant {
        tenant: TenantId::parse("other").unwrap(),
        name: "Other".into(),
        customer: None,
        owner: new_user("otto", UserKind::Local),
    });
    let field = |err: MutationError| match err {
        MutationError::Invalid { field, rule } => (field, rule),
        other => panic!("not a batch refusal: {other}"),
    };
    let (f, rule) = field(world.refused(batch(vec![batch(vec![invite("carol")])])));
    assert_eq!(f, "changes");
    assert!(rule.contains("do not nest"), "{rule}");
    let elsewhere = Mutation::InviteUser {
        tenant: TenantId::parse("other").unwrap(),
        user: new_user("carol", UserKind::Local),
    };
    let (_, rule) = field(world.refused(batch(vec![invite("carol"), elsewhere])));
    assert!(rule.contains("stays in its tenant"), "{rule}");
    let platform = Mutation::CreatePartner {
        partner: PartnerId::parse("p").unwrap(),
        name: "P".into(),
    };
    let (_, rule) = field(world.refused(batch(vec![platform])));
    assert!(rule.contains("stays in its tenant"), "{rule}");
    let (_, rule) = field(world.refused(batch(Vec::new())));
    assert!(rule.contains("at least one"), "{rule}");
    let many = (0..=MAX_BATCH).map(|n| invite(&format!("u{n}"))).collect();
    let (_, rule) = field(world.refused(batch(many)));
    assert!(rule.contains("at most 100"), "{rule}");
    let most = (0..MAX_BATCH).map(|n| invite(&format!("u{n}"))).collect();
    world.ok(batch(most));
}

#[test]
fn a_batch_is_described_by_each_change_and_their_union() {
    let world = World::new();
    // Lock alice first, so that the batch's status change is an unlock.
    let locked = world
        .snapshot
        .apply(
            world.snapshot.revision().next(),
            &Mutation::SetUserStatus {
                tenant: t(),
                user: user("alice"),
                status: UserStatus::LockedUntil(NOW.plus_millis(60_000)),
            },
            NOW,
        )
        .unwrap();
    let changes = batch(vec![
        invite("carol"),
        Mutation::SetUserStatus {
            tenant: t(),
            user: user("alice"),
            status: UserStatus::Active,
        },
        access("carol", crm()),
    ]);
    let (_, context) = locked
        .clone()
        .apply_described(locked.revision().next(), &changes, NOW)
        .unwrap();
    assert_eq!(context.kind, EventKind::BatchApplied);
    let kinds: Vec<EventKind> = context.items.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::UserInvited,
            EventKind::UserUnlocked,
            EventKind::ServiceAccessGranted
        ]
    );
    assert_eq!(context.notify, [user("carol")]);
    let reached: BTreeSet<&UserId> = context
        .invalidations
        .iter()
        .flat_map(|i| &i.users)
        .collect();
    assert!(reached.contains(&user("alice")) && reached.contains(&user("carol")));
    // What the log replays: the same state through the builder.
    let mut builder = SnapshotBuilder::from_snapshot(locked.clone());
    builder
        .apply(locked.revision().next(), &changes, NOW)
        .unwrap();
    let replayed = builder.finish();
    assert_eq!(
        replayed.user_record(&t(), &user("carol")).unwrap(),
        locked
            .apply(locked.revision().next(), &changes, NOW)
            .unwrap()
            .user_record(&t(), &user("carol"))
            .unwrap()
    );
}
