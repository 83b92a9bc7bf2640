//! Property test: a resource's etag is the revision of its last change, so after every
//! random mutation each resource a client can read must carry that mutation's revision
//! exactly when what it looks like changed. A missed stamp would let a client's stale etag
//! pass; a stray one would make clients re-read resources nobody touched.

use std::collections::BTreeMap;

use authzd::engine::{Mutation, ObjectId, Revision, Snapshot};
use proptest::prelude::*;

use crate::engine_props::{
    NOW, Op, USERS, group, object, op, service, setup, tenant, to_mutation, user,
};

/// A step: the reference test's mutations, plus the edits that only change what a
/// resource looks like (they decide nothing, so the reference model has no use for them).
#[derive(Debug, Clone)]
enum Step {
    Decisive(Op),
    RenameUser(u8, bool),
    RenameGroup(u8, bool),
    /// An object's related objects and description (described or none).
    Relate(u8, u8, Vec<u8>, bool),
    SignIn(u8, bool),
    GroupAdministers(u8, u8),
}

fn step() -> impl Strategy<Value = Step> {
    let n = any::<u8>;
    prop_oneof![
        8 => op().prop_map(Step::Decisive),
        // Deletions that reach into other resources: objects in security groups' scopes
        // and in related sets.
        2 => (n(), n(), n(), proptest::collection::vec(n(), 1..4))
            .prop_map(|(s, g, bits, scope)| Step::Decisive(Op::PutSg(s, g, bits, Some(scope)))),
        2 => (n(), n()).prop_map(|(s, o)| Step::Decisive(Op::DeleteObject(s, o))),
        1 => (n(), any::<bool>()).prop_map(|(u, renamed)| Step::RenameUser(u, renamed)),
        1 => (n(), any::<bool>()).prop_map(|(g, renamed)| Step::RenameGroup(g, renamed)),
        1 => (n(), n(), proptest::collection::vec(n(), 0..3), any::<bool>())
            .prop_map(|(s, o, r, described)| Step::Relate(s, o, r, described)),
        1 => (n(), any::<bool>()).prop_map(|(u, success)| Step::SignIn(u, success)),
        2 => (n(), n()).prop_map(|(g, services)| Step::GroupAdministers(g, services)),
    ]
}

fn name(renamed: bool) -> String {
    if renamed { "renamed" } else { "user" }.to_owned()
}

fn to_change(step: &Step) -> Mutation {
    match step {
        Step::Decisive(op) => to_mutation(op),
        Step::RenameUser(u, renamed) => Mutation::UpdateUser {
            tenant: tenant(),
            user: user(*u),
            email: format!("u{}@t.example", u % USERS),
            display_name: name(*renamed),
        },
        Step::RenameGroup(g, renamed) => Mutation::UpdateGroup {
            tenant: tenant(),
            group: group(*g),
            name: name(*renamed),
        },
        Step::Relate(s, o, related, described) => Mutation::UpdateObject {
            tenant: tenant(),
            service: service(*s),
            object: object(*o),
            name: "object".into(),
            related: related.iter().map(|r| object(*r)).collect(),
            description: if *described { "described" } else { "" }.to_owned(),
        },
        Step::GroupAdministers(g, services) => Mutation::SetGroupAdministers {
            tenant: tenant(),
            group: group(*g),
            // Bit 0: the first service, bit 1: the second.
            services: (0..2u8)
                .filter(|bit| services & (1 << bit) != 0)
                .map(service)
                .collect(),
        },
        Step::SignIn(u, success) => Mutation::ReportSignIn {
            tenant: tenant(),
            user: user(*u),
            success: *success,
            lock_after: 3,
            lock_for_millis: 60_000,
        },
    }
}

/// Every resource a client can read, by a key naming it: what it looks like (its record
/// without the stamp, as text) and its stamp.
fn resources(snapshot: &Snapshot) -> BTreeMap<String, (String, Revision)> {
    let mut out = BTreeMap::new();
    let mut put = |key: String, stamp: Revision, looks: String| {
        out.insert(key, (looks, stamp));
    };
    macro_rules! keep {
        ($key:expr, $record:expr) => {{
            let key = $key;
            let mut record = $record;
            let stamp = std::mem::replace(&mut record.changed_at, Revision::ZERO);
            put(key, stamp, format!("{record:?}"));
        }};
    }
    for record in snapshot.service_records() {
        keep!(format!("service {}", record.id), record);
    }
    let tenant = tenant();
    let Ok(tenant_record) = snapshot.tenant_record(&tenant) else {
        return out;
    };
    let services = tenant_record.services.clone();
    keep!(format!("tenant {tenant}"), tenant_record);
    for record in snapshot.user_records(&tenant).unwrap() {
        keep!(format!("user {}", record.id), record);
    }
    for record in snapshot.group_records(&tenant).unwrap() {
        keep!(format!("group {}", record.id), record);
    }
    for service in &services {
        for record in snapshot.object_records(&tenant, service, None).unwrap() {
            keep!(format!("object {service}/{}", record.id), record);
        }
        for record in snapshot.security_group_records(&tenant, service).unwrap() {
            keep!(format!("security group {service}/{}", record.id), record);
        }
        for record in snapshot.level_records(&tenant, service).unwrap() {
            keep!(format!("level {service}/{}", record.id), record);
        }
        for record in snapshot
            .grant_records(&tenant, service, None, None)
            .unwrap()
        {
            keep!(format!("grant {service}/{}", record.id), record);
        }
    }
    out
}

/// The resource a mutation writes as a whole, which it may write with the values it
/// already has: then it is stamped though nothing changed (a fresh etag for a rewrite).
fn rewritten(mutation: &Mutation) -> Option<String> {
    let object =
        |service: &dyn std::fmt::Display, object: &ObjectId| format!("object {service}/{object}");
    Some(match mutation {
        Mutation::SetUserStatus { user, .. }
        | Mutation::SetTenantRole { user, .. }
        | Mutation::UpdateUser { user, .. } => format!("user {user}"),
        Mutation::UpdateGroup { group, .. } | Mutation::SetGroupAdministers { group, .. } => {
            format!("group {group}")
        }
        Mutation::UpdateObject {
            service, object: o, ..
        }
        | Mutation::MoveObject {
            service, object: o, ..
        } => object(service, o),
        Mutation::PutSecurityGroup { service, group, .. } => {
            format!("security group {service}/{group}")
        }
        Mutation::PutPermissionLevel { service, level, .. } => {
            format!("level {service}/{level}")
        }
        _ => return None,
    })
}

fn stamps_follow_changes(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut snapshot = Snapshot::empty();
    for mutation in setup() {
        snapshot = snapshot
            .apply(snapshot.revision().next(), &mutation, NOW)
            .unwrap();
    }
    for step in steps {
        let mutation = to_change(step);
        let revision = snapshot.revision().next();
        let Ok(next) = snapshot.apply(revision, &mutation, NOW) else {
            continue;
        };
        let before = resources(&snapshot);
        let after = resources(&next);
        let rewritten = rewritten(&mutation);
        for (key, (looks, stamp)) in &after {
            match before.get(key) {
                None => prop_assert_eq!(*stamp, revision, "{} is new after {:?}", key, mutation),
                Some((looked, _)) if looked != looks => prop_assert_eq!(
                    *stamp,
                    revision,
                    "{} changed under {:?} but kept its etag",
                    key,
                    mutation
                ),
                Some((_, was)) if rewritten.as_ref() != Some(key) => prop_assert_eq!(
                    stamp,
                    was,
                    "{} did not change under {:?} but got a new etag",
                    key,
                    mutation
                ),
                Some(_) => {}
            }
        }
        snapshot = next;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_resource_gets_a_new_etag_exactly_when_it_changes(steps in proptest::collection::vec(step(), 1..60)) {
        stamps_follow_changes(&steps)?;
    }
}
