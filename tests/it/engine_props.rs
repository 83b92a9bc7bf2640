//! Property tests: random mutation sequences go to the engine and to the naive reference
//! model (`reference.rs`); after every step both must agree on random checks, explain, the
//! user-based and object-based views, and both lookups. A refused mutation, and an
//! accepted one, must leave the previous snapshot answering exactly as before.

use std::collections::BTreeSet;

use authzd::engine::{
    Access, AdminFunctions, CheckQuery, DemotionPolicy, GrantId, GrantNode, GroupId, Mutation,
    MutationError, NewUser, ObjectId, ObjectScope, ObjectType, Permission, PermissionLevelId,
    PermissionSet, SecurityGroupId, ServiceDefinition, ServiceId, Snapshot, Subject, TenantId,
    TenantRole, Timestamp, UserId, UserKind, UserStatus,
};
use proptest::prelude::*;

use crate::reference::Reference;

pub(crate) const NOW: Timestamp = Timestamp::from_unix_millis(10_000_000);
pub(crate) const USERS: u8 = 6;
const GROUPS: u8 = 4;
const OBJECTS: u8 = 10;

pub(crate) fn tenant() -> TenantId {
    TenantId::parse("t").unwrap()
}
pub(crate) fn service(i: u8) -> ServiceId {
    ServiceId::parse(if i.is_multiple_of(2) { "crm" } else { "iaas" }).unwrap()
}
pub(crate) fn user(i: u8) -> UserId {
    UserId::parse(&format!("u{}", i % USERS)).unwrap()
}
pub(crate) fn group(i: u8) -> GroupId {
    GroupId::parse(&format!("g{}", i % GROUPS)).unwrap()
}
pub(crate) fn object(i: u8) -> ObjectId {
    ObjectId::parse(&format!("o{}", i % OBJECTS)).unwrap()
}
fn subject(i: u8) -> Subject {
    if i.is_multiple_of(3) {
        Subject::Group(group(i / 3))
    } else {
        Subject::User(user(i / 3))
    }
}
const CATALOG: [&str; 4] = ["a.x", "a.y", "b.x", "b.y"];
const PATTERNS: [&str; 7] = ["a.x", "a.y", "b.x", "b.y", "a.*", "b.*", "*"];
fn set(bits: u8) -> PermissionSet {
    let patterns: Vec<&str> = PATTERNS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, p)| *p)
        .collect();
    PermissionSet::parse(if patterns.is_empty() {
        vec!["a.x"]
    } else {
        patterns
    })
    .unwrap()
}

/// One random step, with small numbers that map onto the id pools.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Status(u8, u8),
    Role(u8, u8, u8),
    Transfer(u8),
    Access(u8, u8, bool),
    Group(u8, bool),
    Member(u8, u8, bool),
    Object(u8, u8, u8, Option<u8>, Vec<u8>),
    Move(u8, u8, Option<u8>),
    DeleteObject(u8, u8),
    Admin(u8, u8, bool),
    PutSg(u8, u8, u8, Option<Vec<u8>>),
    DeleteSg(u8, u8),
    SgMember(u8, u8, u8, bool),
    PutLevel(u8, u8, u8),
    DeleteLevel(u8, u8),
    Give(u8, u8, u8, Option<u8>, u8, Option<u8>, Option<i8>),
    Revoke(u8, u8),
    DeleteUser(u8),
    Invite(u8),
    GroupAdmin(u8, u8),
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    let n = any::<u8>;
    prop_oneof![
        1 => (n(), n()).prop_map(|(a, b)| Op::Status(a, b)),
        1 => (n(), n(), n()).prop_map(|(a, b, c)| Op::Role(a, b, c)),
        1 => n().prop_map(Op::Transfer),
        1 => (n(), n(), any::<bool>()).prop_map(|(a, b, c)| Op::Access(a, b, c)),
        1 => (n(), any::<bool>()).prop_map(|(a, b)| Op::Group(a, b)),
        3 => (n(), n(), any::<bool>()).prop_map(|(a, b, c)| Op::Member(a, b, c)),
        4 => (n(), n(), n(), proptest::option::of(n()), proptest::collection::vec(n(), 0..2))
            .prop_map(|(a, b, c, d, e)| Op::Object(a, b, c, d, e)),
        1 => (n(), n(), proptest::option::of(n())).prop_map(|(a, b, c)| Op::Move(a, b, c)),
        1 => (n(), n()).prop_map(|(a, b)| Op::DeleteObject(a, b)),
        1 => (n(), n(), any::<bool>()).prop_map(|(a, b, c)| Op::Admin(a, b, c)),
        2 => (n(), n(), n(), proptest::option::of(proptest::collection::vec(n(), 1..3)))
            .prop_map(|(a, b, c, d)| Op::PutSg(a, b, c, d)),
        1 => (n(), n()).prop_map(|(a, b)| Op::DeleteSg(a, b)),
        3 => (n(), n(), n(), any::<bool>()).prop_map(|(a, b, c, d)| Op::SgMember(a, b, c, d)),
        1 => (n(), n(), n()).prop_map(|(a, b, c)| Op::PutLevel(a, b, c)),
        1 => (n(), n()).prop_map(|(a, b)| Op::DeleteLevel(a, b)),
        5 => (n(), n(), n(), proptest::option::of(n()), n(), proptest::option::of(n()), proptest::option::of(any::<i8>()))
            .prop_map(|(a, b, c, d, e, f, g)| Op::Give(a, b, c, d, e, f, g)),
        2 => (n(), n()).prop_map(|(a, b)| Op::Revoke(a, b)),
        1 => n().prop_map(Op::DeleteUser),
        1 => n().prop_map(Op::Invite),
        1 => (n(), n()).prop_map(|(a, b)| Op::GroupAdmin(a, b)),
    ]
}

/// The ops that decide whether a revoke is refused: objects (plans with related objects
/// among them), grants on few subjects and revokes.
fn revoke_op() -> impl Strategy<Value = Op> {
    let n = any::<u8>;
    prop_oneof![
        3 => (Just(0u8), n(), n(), proptest::option::of(n()), proptest::collection::vec(n(), 0..3))
            .prop_map(|(a, b, c, d, e)| Op::Object(a, b, c, d, e)),
        5 => (Just(0u8), n(), 0..2u8, proptest::option::of(n()), n(), proptest::option::of(n()), proptest::option::of(any::<i8>()))
            .prop_map(|(a, b, c, d, e, f, g)| Op::Give(a, b, c, d, e, f, g)),
        3 => (Just(0u8), n()).prop_map(|(a, b)| Op::Revoke(a, b)),
    ]
}

fn new_user(i: u8) -> NewUser {
    NewUser {
        user: user(i),
        email: format!("u{}@t.example", i % USERS),
        display_name: "user".into(),
        kind: if i % USERS == 5 {
            UserKind::Support
        } else {
            UserKind::Local
        },
    }
}

pub(crate) fn to_mutation(op: &Op) -> Mutation {
    let t = tenant();
    match op.clone() {
        Op::Status(u, s) => Mutation::SetUserStatus {
            tenant: t,
            user: user(u),
            status: match s % 5 {
                0 => UserStatus::Invited,
                1 => UserStatus::Disabled,
                2 => UserStatus::LockedUntil(NOW.plus_millis(1_000)),
                3 => UserStatus::LockedUntil(NOW.plus_millis(-1_000)),
                _ => UserStatus::Active,
            },
        },
        Op::Role(u, r, s) => Mutation::SetTenantRole {
            tenant: t,
            user: user(u),
            role: match r % 5 {
                0 => TenantRole::ServiceAdministrator,
                1 => TenantRole::CustomizedAdministrator(AdminFunctions {
                    management: s % 2 == 0,
                    ..AdminFunctions::default()
                }),
                2 | 3 => TenantRole::ApplicationAdministrator(BTreeSet::from([service(s)])),
                _ => TenantRole::StandardUser,
            },
        },
        Op::Transfer(u) => Mutation::TransferOwnership {
            tenant: t,
            new_owner: user(u),
        },
        Op::Access(u, s, give) => {
            if give {
                Mutation::GrantServiceAccess {
                    tenant: t,
                    user: user(u),
                    service: service(s),
                }
            } else {
                Mutation::RevokeServiceAccess {
                    tenant: t,
                    user: user(u),
                    service: service(s),
                }
            }
        }
        Op::Group(g, create) => {
            if create {
                Mutation::CreateGroup {
                    tenant: t,
                    group: group(g),
                    name: "group".into(),
                }
            } else {
                Mutation::DeleteGroup {
                    tenant: t,
                    group: group(g),
                }
            }
        }
        Op::Member(g, m, add) => {
            if add {
                Mutation::AddGroupMember {
                    tenant: t,
                    group: group(g),
                    member: subject(m),
                }
            } else {
                Mutation::RemoveGroupMember {
                    tenant: t,
                    group: group(g),
                    member: subject(m),
                }
            }
        }
        Op::Object(s, o, ty, parent, related) => Mutation::CreateObject {
            tenant: t,
            service: service(s),
            object: object(o),
            // Mostly types that fit where they go, sometimes not (the engine must refuse).
            object_type: match (parent.is_some(), ty % 8) {
                (_, 7) => "site",
                (false, n) if n % 2 == 0 => "org",
                (false, _) => "plan",
                (true, n) if n % 2 == 0 => "folder",
                (true, _) => "site",
            }
            .into(),
            name: "object".into(),
            parent: parent.map(object),
            related: related.into_iter().map(object).collect(),
            description: String::new(),
            creator: None,
        },
        Op::Move(s, o, parent) => Mutation::MoveObject {
            tenant: t,
            service: service(s),
            object: object(o),
            new_parent: parent.map(object),
            dependents: authzd::engine::Dependencies::Unchecked,
        },
        Op::DeleteObject(s, o) => Mutation::DeleteObject {
            tenant: t,
            service: service(s),
            object: object(o),
            dependents: authzd::engine::Dependencies::Unchecked,
        },
        Op::Admin(s, m, add) => {
            if add {
                Mutation::AddAdministrator {
                    tenant: t,
                    service: service(s),
                    subject: subject(m),
                }
            } else {
                Mutation::RemoveAdministrator {
                    tenant: t,
                    service: service(s),
                    subject: subject(m),
                }
            }
        }
        Op::PutSg(s, g, bits, scope) => Mutation::PutSecurityGroup {
            tenant: t,
            service: service(s),
            group: SecurityGroupId::parse(&format!("sg{}", g % 3)).unwrap(),
            name: format!("group {}", g % 3),
            description: String::new(),
            permissions: set(bits),
            scope: scope.map_or(ObjectScope::AllObjects, |o| {
                ObjectScope::Objects(o.into_iter().map(object).collect())
            }),
        },
        Op::DeleteSg(s, g) => Mutation::DeleteSecurityGroup {
            tenant: t,
            service: service(s),
            group: SecurityGroupId::parse(&format!("sg{}", g % 3)).unwrap(),
        },
        Op::SgMember(s, g, m, add) => {
            let group = SecurityGroupId::parse(&format!("sg{}", g % 3)).unwrap();
            if add {
                Mutation::AddSecurityGroupMember {
                    tenant: t,
                    service: service(s),
                    group,
                    member: subject(m),
                }
            } else {
                Mutation::RemoveSecurityGroupMember {
                    tenant: t,
                    service: service(s),
                    group,
                    member: subject(m),
                }
            }
        }
        Op::PutLevel(s, l, bits) => Mutation::PutPermissionLevel {
            tenant: t,
            service: service(s),
            level: PermissionLevelId::parse(&format!("l{}", l % 2)).unwrap(),
            name: format!("level {}", l % 2),
            description: String::new(),
            permissions: set(bits),
        },
        Op::DeleteLevel(s, l) => Mutation::DeletePermissionLevel {
            tenant: t,
            service: service(s),
            level: PermissionLevelId::parse(&format!("l{}", l % 2)).unwrap(),
        },
        Op::Give(s, g, who, level, bits, node, expiry) => Mutation::GiveGrant {
            tenant: t,
            service: service(s),
            grant: GrantId::parse(&format!("k{}", g % 12)).unwrap(),
            subject: subject(who),
            access: level.map_or_else(
                || Access::Permissions(set(bits)),
                |l| Access::Level(PermissionLevelId::parse(&format!("l{}", l % 2)).unwrap()),
            ),
            node: node.map_or(GrantNode::Service, |o| GrantNode::Object(object(o))),
            expires_at: expiry.map(|e| NOW.plus_millis(i64::from(e) * 100)),
            dependencies: authzd::engine::Dependencies::Unchecked,
        },
        Op::Revoke(s, g) => Mutation::RevokeGrant {
            tenant: t,
            service: service(s),
            grant: GrantId::parse(&format!("k{}", g % 12)).unwrap(),
            with_dependents: false,
        },
        Op::DeleteUser(u) => Mutation::DeleteUser {
            tenant: t,
            user: user(u),
        },
        Op::Invite(u) => Mutation::InviteUser {
            tenant: t,
            user: new_user(u),
        },
        // Bit 0: the first service, bit 1: the second.
        Op::GroupAdmin(g, services) => Mutation::SetGroupAdministers {
            tenant: t,
            group: group(g),
            services: (0..2u8)
                .filter(|bit| services & (1 << bit) != 0)
                .map(service)
                .collect(),
        },
    }
}

/// Two services with the same small catalog, a tenant subscribing to both, its owner u0
/// and invited users.
pub(crate) fn setup() -> Vec<Mutation> {
    let object_type = |name: &str, top: bool, contains: &[&str]| ObjectType {
        name: name.into(),
        top_level: top,
        may_contain: contains.iter().map(|s| (*s).to_owned()).collect(),
    };
    let mut out = Vec::new();
    for (i, demotion) in [
        DemotionPolicy::RemoveFromAdministrators,
        DemotionPolicy::KeepInAdministrators,
    ]
    .into_iter()
    .enumerate()
    {
        out.push(Mutation::RegisterService {
            service: service(u8::try_from(i).unwrap()),
            definition: ServiceDefinition {
                display_name: "service".into(),
                permissions: CATALOG
                    .iter()
                    .map(|p| Permission::parse(p).unwrap())
                    .collect(),
                object_types: vec![
                    object_type("org", true, &["folder", "site"]),
                    object_type("folder", false, &["folder", "site"]),
                    object_type("site", false, &[]),
                    object_type("plan", true, &[]),
                ],
                demotion,
            },
        });
    }
    out.push(Mutation::CreateTenant {
        tenant: tenant(),
        name: "tenant".into(),
        customer: None,
        owner: new_user(0),
    });
    for s in 0..2 {
        out.push(Mutation::SubscribeService {
            tenant: tenant(),
            service: service(s),
        });
    }
    for u in 1..USERS {
        out.push(Mutation::InviteUser {
            tenant: tenant(),
            user: new_user(u),
        });
        out.push(Mutation::SetUserStatus {
            tenant: tenant(),
            user: user(u),
            status: UserStatus::Active,
        });
        for s in 0..2 {
            if u + s < 5 {
                out.push(Mutation::GrantServiceAccess {
                    tenant: tenant(),
                    user: user(u),
                    service: service(s),
                });
            }
        }
    }
    for g in 0..GROUPS {
        out.push(Mutation::CreateGroup {
            tenant: tenant(),
            group: group(g),
            name: "group".into(),
        });
    }
    for s in 0..2 {
        for (o, ty, parent) in [
            (0, "org", None),
            (1, "folder", Some(0)),
            (2, "site", Some(1)),
        ] {
            out.push(Mutation::CreateObject {
                tenant: tenant(),
                service: service(s),
                object: object(o),
                object_type: ty.into(),
                name: "object".into(),
                parent: parent.map(object),
                related: BTreeSet::new(),
                description: String::new(),
                creator: None,
            });
        }
    }
    out
}

/// Everything observable about one snapshot for a fixed set of questions, to prove a
/// snapshot does not change after later applies (accepted or refused).
pub(crate) fn fingerprint(snapshot: &Snapshot) -> Vec<bool> {
    let mut out = Vec::new();
    for s in 0..2 {
        for u in 0..=USERS {
            for o in 0..=OBJECTS {
                let query = CheckQuery {
                    tenant: tenant(),
                    service: service(s),
                    user: UserId::parse(&format!("u{u}")).unwrap(),
                    permission: Permission::parse("a.x").unwrap(),
                    object: (o < OBJECTS).then(|| object(o)),
                };
                out.push(snapshot.check(&query, NOW));
            }
        }
    }
    out
}

/// Compares engine and reference on every check of one service plus both views and both
/// lookups.
pub(crate) fn compare(snapshot: &Snapshot, reference: &Reference, s: u8, probe: u8) {
    let service = service(s);
    let t = tenant();
    let mut objects: Vec<Option<ObjectId>> = reference
        .objects(&t, &service)
        .into_iter()
        .map(Some)
        .collect();
    objects.push(None);
    objects.push(Some(ObjectId::parse("missing").unwrap()));
    let mut users = reference.users(&t);
    users.push(UserId::parse("nobody").unwrap());
    let permissions: Vec<Permission> = CATALOG
        .iter()
        .chain(["c.x"].iter())
        .map(|p| Permission::parse(p).unwrap())
        .collect();
    let permission = &permissions[usize::from(probe) % permissions.len()];
    for u in &users {
        for o in &objects {
            let query = CheckQuery {
                tenant: t.clone(),
                service: service.clone(),
                user: u.clone(),
                permission: permission.clone(),
                object: o.clone(),
            };
            let engine = snapshot.check(&query, NOW);
            let expected = reference.allowed(&t, &service, u, permission, o.as_ref(), NOW);
            assert_eq!(engine, expected, "check {query:?}");
            assert_eq!(
                snapshot.explain(&query, NOW).is_allowed(),
                engine,
                "explain {query:?}"
            );
        }
        if let Ok(found) = snapshot.lookup_objects(&t, &service, u, permission, NOW) {
            let expected: Vec<ObjectId> = objects
                .iter()
                .flatten()
                .filter(|o| reference.allowed(&t, &service, u, permission, Some(o), NOW))
                .cloned()
                .collect();
            assert_eq!(found, expected, "lookup_objects {u} {permission}");
        }
        if let Ok(view) = snapshot.user_permissions(&t, u, Some(&service), NOW) {
            let engine: BTreeSet<(GrantNode, Permission)> =
                view.into_iter().map(|e| (e.node, e.permission)).collect();
            assert_eq!(
                engine,
                reference.user_view(&t, &service, u, NOW),
                "user view {u}"
            );
        }
    }
    for o in &objects {
        if let Ok(found) = snapshot.lookup_subjects(&t, &service, o.as_ref(), permission, NOW) {
            let expected: Vec<UserId> = users
                .iter()
                .filter(|u| reference.allowed(&t, &service, u, permission, o.as_ref(), NOW))
                .cloned()
                .collect();
            assert_eq!(found, expected, "lookup_subjects {o:?} {permission}");
        }
        if let Some(o) = o
            && let Ok(view) = snapshot.object_access(&t, &service, o, NOW)
        {
            let engine: BTreeSet<(Subject, Permission)> = view
                .into_iter()
                .map(|e| (e.subject, e.permission))
                .collect();
            assert_eq!(
                engine,
                reference.object_view(&t, &service, o, NOW),
                "object view {o}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_agrees_with_the_reference(ops in proptest::collection::vec(op(), 1..60), probes in proptest::collection::vec(any::<u8>(), 60)) {
        agrees_with_the_reference(&ops, &probes)?;
    }

    /// Containers, related objects, grants and revokes only: enough grants per subject
    /// that revoking one often leaves a related object depending on what it gave.
    #[test]
    fn revokes_are_refused_exactly_where_related_objects_depend(ops in proptest::collection::vec(revoke_op(), 1..60), probes in proptest::collection::vec(any::<u8>(), 60)) {
        agrees_with_the_reference(&ops, &probes)?;
    }
}

/// Applies `ops` to the engine and the reference, comparing them after each (see
/// [`compare`]); a refused mutation must leave the snapshot as it was.
fn agrees_with_the_reference(ops: &[Op], probes: &[u8]) -> Result<(), TestCaseError> {
    let mut snapshot = Snapshot::empty();
    let mut reference = Reference::default();
    for mutation in setup() {
        snapshot = snapshot
            .apply(snapshot.revision().next(), &mutation, NOW)
            .unwrap();
        reference.apply(&mutation);
    }
    let mut accepted = 0;
    for (step, op) in ops.iter().enumerate() {
        let mutation = to_mutation(op);
        let before = fingerprint(&snapshot);
        let revision = snapshot.revision();
        let applied = snapshot.apply(revision.next(), &mutation, NOW);
        if let Mutation::RevokeGrant {
            tenant,
            service,
            grant,
            ..
        } = &mutation
        {
            // Refused for the related objects the definition names, and only for those.
            let blocking = reference.dependents_blocking_revoke(tenant, service, grant, NOW);
            let refused_for = match &applied {
                Err(MutationError::DependentAccess { dependents, .. }) => dependents.clone(),
                _ => Vec::new(),
            };
            prop_assert_eq!(refused_for, blocking);
        }
        if let Ok(next) = applied {
            reference.apply(&mutation);
            prop_assert_eq!(next.revision(), revision.next());
            // The old snapshot is untouched by building the new one.
            prop_assert_eq!(fingerprint(&snapshot), before);
            snapshot = next;
            accepted += 1;
        } else {
            prop_assert_eq!(snapshot.revision(), revision);
            prop_assert_eq!(fingerprint(&snapshot), before.clone());
            // Applying in place (as the writer does) and failing changes nothing either.
            let owned = snapshot.clone();
            let Err((unchanged, _)) = owned.apply_owned(revision.next(), &mutation, NOW) else {
                panic!("apply and apply_owned disagree on {mutation:?}");
            };
            prop_assert_eq!(fingerprint(&unchanged), before);
        }
        let probe = probes[step % probes.len()];
        compare(&snapshot, &reference, probe % 2, probe / 2);
    }
    prop_assert!(accepted <= ops.len());
    if std::env::var_os("AUTHZD_PROPS_STATS").is_some() {
        let allowed = fingerprint(&snapshot).iter().filter(|a| **a).count();
        eprintln!(
            "steps {} accepted {accepted} allowed-in-fingerprint {allowed}",
            ops.len()
        );
    }
    Ok(())
}
