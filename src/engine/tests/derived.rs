//! The precomputed access records: kept current incrementally, always equal to a full
//! recomputation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::engine::effective::{kept_records, recomputed_records};

fn group_id(id: &str) -> GroupId {
    GroupId::parse(id).unwrap()
}

fn g(id: &str) -> Subject {
    Subject::Group(group_id(id))
}

fn assert_records_are_current(world: &World) {
    assert_eq!(
        kept_records(&world.snapshot),
        recomputed_records(&world.snapshot)
    );
}

#[test]
fn joining_a_group_nested_in_groups_with_access_gains_all_of_it() {
    let mut world = World::new();
    for id in ["outer", "middle", "inner"] {
        world.ok(Mutation::CreateGroup {
            tenant: t(),
            group: group_id(id),
            name: id.into(),
        });
    }
    // outer holds a grant, middle is an administrator; inner has alice, who holds only a
    // grant of her own (so that her record is extended, not computed afresh).
    world.grant("g-outer", g("outer"), &["restore.run"], on("c1"), None);
    world.grant("g-alice", u("alice"), &["backup.view"], on("site2"), None);
    world.ok(Mutation::AddAdministrator {
        tenant: t(),
        service: crm(),
        subject: g("middle"),
    });
    world.ok(Mutation::AddGroupMember {
        tenant: t(),
        group: group_id("inner"),
        member: u("alice"),
    });
    world.ok(Mutation::AddGroupMember {
        tenant: t(),
        group: group_id("outer"),
        member: g("middle"),
    });
    assert_records_are_current(&world);
    assert!(!world.check("alice", "restore.run", Some("site1")));
    // inner joins middle: alice now holds middle's and, through it, outer's access.
    world.ok(Mutation::AddGroupMember {
        tenant: t(),
        group: group_id("middle"),
        member: g("inner"),
    });
    assert_records_are_current(&world);
    assert!(world.check("alice", "settings.edit", None));
    world.ok(Mutation::RemoveAdministrator {
        tenant: t(),
        service: crm(),
        subject: g("middle"),
    });
    assert_records_are_current(&world);
    assert!(world.check("alice", "restore.run", Some("site1")));
    assert!(!world.check("alice", "restore.run", Some("site2")));
    assert!(!world.check("alice", "settings.edit", None));
}

#[test]
fn additions_leave_the_records_equal_to_a_full_recomputation() {
    let mut world = World::new();
    world.ok(Mutation::CreateGroup {
        tenant: t(),
        group: group_id("ops"),
        name: "ops".into(),
    });
    world.ok(Mutation::PutSecurityGroup {
        tenant: t(),
        service: crm(),
        group: SecurityGroupId::parse("sg-c1").unwrap(),
        name: "c1 operators".into(),
        description: String::new(),
        permissions: PermissionSet::parse(["backup.*"]).unwrap(),
        scope: ObjectScope::Objects([obj("c1"), obj("site2")].into_iter().collect()),
    });
    let steps = [
        Mutation::AddGroupMember {
            tenant: t(),
            group: group_id("ops"),
            member: u("bob"),
        },
        Mutation::AddSecurityGroupMember {
            tenant: t(),
            service: crm(),
            group: SecurityGroupId::parse("sg-c1").unwrap(),
            member: g("ops"),
        },
        Mutation::GiveGrant {
            tenant: t(),
            service: crm(),
            grant: GrantId::parse("g-expiring").unwrap(),
            subject: g("ops"),
            access: Access::Permissions(PermissionSet::parse(["restore.run"]).unwrap()),
            node: on("site1"),
            expires_at: Some(NOW.plus_millis(1_000)),
        },
        Mutation::GiveGrant {
            tenant: t(),
            service: crm(),
            grant: GrantId::parse("g-same-node").unwrap(),
            subject: u("bob"),
            access: Access::Permissions(PermissionSet::parse(["export.run"]).unwrap()),
            node: on("site1"),
            expires_at: Some(NOW.plus_millis(1_000)),
        },
        Mutation::AddGroupMember {
            tenant: t(),
            group: group_id("ops"),
            member: u("alice"),
        },
        Mutation::GrantServiceAccess {
            tenant: t(),
            user: user("alice"),
            service: iaas(),
        },
        Mutation::AddAdministrator {
            tenant: t(),
            service: iaas(),
            subject: u("alice"),
        },
    ];
    for step in steps {
        world.ok(step);
        assert_records_are_current(&world);
    }
    assert!(world.check("alice", "backup.run", Some("site1")));
    assert!(world.check("alice", "restore.run", Some("site1")));
    assert!(!world.check("alice", "export.run", Some("site1")));
    assert!(world.check("bob", "export.run", Some("site1")));
}
