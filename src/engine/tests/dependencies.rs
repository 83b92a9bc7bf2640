//! Rules on objects that depend on others (`plan1` depends on `site1`, which sits in
//! `c1` under `org1`): a subject reaching an object through its grants reaches what the
//! object depends on, when a grant is given and when a depended-on object moves or goes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::*;

fn give(id: &str, who: &str, node: GrantNode, dependencies: Dependencies) -> Mutation {
    Mutation::GiveGrant {
        tenant: t(),
        service: crm(),
        grant: GrantId::parse(id).unwrap(),
        subject: u(who),
        access: Access::Permissions(PermissionSet::parse(["backup.run"]).unwrap()),
        node,
        expires_at: None,
        dependencies,
    }
}

fn move_site1_to_org1(dependents: Dependencies) -> Mutation {
    Mutation::MoveObject {
        tenant: t(),
        service: crm(),
        object: obj("site1"),
        new_parent: Some(obj("org1")),
        dependents,
    }
}

fn delete_site1(dependents: Dependencies) -> Mutation {
    Mutation::DeleteObject {
        tenant: t(),
        service: crm(),
        object: obj("site1"),
        dependents,
    }
}

#[test]
fn rule_a_grant_on_an_object_needs_access_to_what_it_depends_on_or_gives_it() {
    let mut world = World::new();
    let err = world.refused(give("g1", "alice", on("plan1"), Dependencies::Enforced));
    let MutationError::DependencyNotReached {
        dependents,
        missing,
        ..
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        (dependents, missing),
        (vec![obj("plan1")], vec![obj("site1")])
    );
    // Reaching the site through its container is enough.
    world.ok(give("g0", "alice", on("c1"), Dependencies::Enforced));
    world.ok(give("g1", "alice", on("plan1"), Dependencies::Enforced));
    // Asked to, the grant brings a grant like it on what is missing, in the same change.
    world.ok(give("g2", "bob", on("plan1"), Dependencies::Cascade));
    let brought = world
        .snapshot
        .grant_record(&t(), &crm(), &GrantId::parse("g2:site1").unwrap())
        .unwrap();
    assert_eq!(brought.node, on("site1"));
    assert!(world.check("bob", "backup.run", Some("site1")));
    assert!(world.check("bob", "backup.run", Some("plan1")));
    // A whole-service grant reaches everything anything depends on.
    world.ok(give(
        "g3",
        "bob",
        GrantNode::Service,
        Dependencies::Enforced,
    ));
    // Changes stored before the rule replay unchecked.
    let mut legacy = World::new();
    legacy.ok(give("g1", "alice", on("plan1"), Dependencies::Unchecked));
}

#[test]
fn rule_moving_a_depended_on_object_out_of_reach_is_refused_unless_it_cascades() {
    let mut world = World::new();
    world.ok(give("g0", "alice", on("c1"), Dependencies::Enforced));
    world.ok(give("g1", "alice", on("plan1"), Dependencies::Enforced));
    // site1 leaves c1: alice would reach plan1 without site1.
    let err = world.refused(move_site1_to_org1(Dependencies::Enforced));
    assert!(
        matches!(&err, MutationError::ObjectDependedOn { dependents, action: "moving", .. } if *dependents == [obj("plan1")]),
        "{err:?}"
    );
    // Cascading revokes alice's grant on the plan with the move.
    world.ok(move_site1_to_org1(Dependencies::Cascade));
    assert!(!world.check("alice", "backup.run", Some("plan1")));
    assert!(!world.check("alice", "backup.run", Some("site1")));
    assert!(
        world
            .snapshot
            .grant_record(&t(), &crm(), &GrantId::parse("g1").unwrap())
            .is_err()
    );
}

#[test]
fn rule_a_move_that_keeps_the_dependency_reached_is_not_refused() {
    let mut world = World::new();
    world.ok(give("g0", "alice", on("org1"), Dependencies::Enforced));
    world.ok(give("g1", "alice", on("plan1"), Dependencies::Enforced));
    // Still under org1: alice still reaches site1.
    world.ok(move_site1_to_org1(Dependencies::Enforced));
    assert!(world.check("alice", "backup.run", Some("plan1")));
}

#[test]
fn rule_deleting_a_depended_on_object_is_refused_unless_it_cascades() {
    let mut world = World::new();
    world.ok(give("g0", "alice", on("site1"), Dependencies::Enforced));
    world.ok(give("g1", "alice", on("plan1"), Dependencies::Enforced));
    let err = world.refused(delete_site1(Dependencies::Enforced));
    assert!(
        matches!(
            &err,
            MutationError::ObjectDependedOn {
                action: "deleting",
                ..
            }
        ),
        "{err:?}"
    );
    world.ok(delete_site1(Dependencies::Cascade));
    let plan = world
        .snapshot
        .object_record(&t(), &crm(), &obj("plan1"))
        .unwrap();
    assert!(plan.related.is_empty());
    assert!(world.check("alice", "backup.run", Some("plan1")));
}
