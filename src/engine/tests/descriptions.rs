//! Rules on an object's description and creator: both kept as created, the description
//! changed only by an update that carries it, the creator never.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::*;

fn plan(world: &World, id: &str) -> ObjectRecord {
    world
        .snapshot
        .object_record(&t(), &crm(), &obj(id))
        .unwrap()
}

fn create_described(world: &mut World) {
    world.ok(Mutation::CreateObject {
        tenant: t(),
        service: crm(),
        object: obj("plan2"),
        object_type: "plan".into(),
        name: "Weekly".into(),
        parent: None,
        related: BTreeSet::from([obj("site1")]),
        description: "Sundays, every mailbox".into(),
        creator: Some(user("alice")),
    });
}

#[test]
fn an_object_keeps_its_description_and_creator() {
    let mut world = World::new();
    create_described(&mut world);
    let created = plan(&world, "plan2");
    assert_eq!(created.description, "Sundays, every mailbox");
    assert_eq!(created.creator, Some(user("alice")));
    assert_eq!(created.changed_at, world.snapshot.revision());
    // Objects created without them (the platform's, or before they were kept) have none.
    let older = plan(&world, "plan1");
    assert_eq!((older.description.as_str(), older.creator), ("", None));
}

#[test]
fn an_update_keeps_the_creator_and_sets_the_description_it_carries() {
    let mut world = World::new();
    create_described(&mut world);
    let current = plan(&world, "plan2");
    // An update whose mask leaves the description out carries the current one (the API
    // merges it): the object keeps it, and the creator, while its name changes.
    world.ok(Mutation::UpdateObject {
        tenant: t(),
        service: crm(),
        object: obj("plan2"),
        name: "Weekly plan".into(),
        related: current.related.iter().cloned().collect(),
        description: current.description.clone(),
    });
    let renamed = plan(&world, "plan2");
    assert_eq!(renamed.name, "Weekly plan");
    assert_eq!(renamed.description, "Sundays, every mailbox");
    assert_eq!(renamed.creator, Some(user("alice")));
    assert_eq!(renamed.changed_at, world.snapshot.revision());
    world.ok(Mutation::UpdateObject {
        tenant: t(),
        service: crm(),
        object: obj("plan2"),
        name: "Weekly plan".into(),
        related: BTreeSet::new(),
        description: String::new(),
    });
    let cleared = plan(&world, "plan2");
    assert_eq!(cleared.description, "");
    assert_eq!(cleared.creator, Some(user("alice")));
}

#[test]
fn a_description_is_one_bounded_line() {
    let mut world = World::new();
    for description in ["two\nlines".to_owned(), "x".repeat(MAX_TEXT + 1)] {
        let err = world.refused(Mutation::UpdateObject {
            tenant: t(),
            service: crm(),
            object: obj("plan1"),
            name: "plan1".into(),
            related: BTreeSet::new(),
            description,
        });
        assert_eq!(err.kind(), MutationErrorKind::InvalidArgument);
    }
    assert_eq!(plan(&world, "plan1").description, "");
}
