//! One test per rule of the product documents, on a small fixture tenant: the fixture
//! here, the rules on places and grants in `places.rs`, on subjects and roles in
//! `subjects.rs`, on updating services, users, groups and objects in `updates.rs`, on an
//! object's description and creator in `descriptions.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use super::*;

mod batch;
mod dependencies;
mod derived;
mod descriptions;
mod places;
mod subjects;
mod updates;

pub(super) const NOW: Timestamp = Timestamp::from_unix_millis(1_000_000);

pub(super) fn t() -> TenantId {
    TenantId::parse("acme").unwrap()
}
pub(super) fn crm() -> ServiceId {
    ServiceId::parse("crm-backup").unwrap()
}
pub(super) fn iaas() -> ServiceId {
    ServiceId::parse("iaas-backup").unwrap()
}
pub(super) fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}
pub(super) fn obj(id: &str) -> ObjectId {
    ObjectId::parse(id).unwrap()
}
pub(super) fn perm(p: &str) -> Permission {
    Permission::parse(p).unwrap()
}
pub(super) fn new_user(id: &str, kind: UserKind) -> NewUser {
    NewUser {
        user: user(id),
        email: format!("{id}@acme.example"),
        display_name: id.to_owned(),
        kind,
    }
}

pub(super) fn definition(demotion: DemotionPolicy) -> ServiceDefinition {
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
pub(super) struct World {
    pub(super) snapshot: Snapshot,
}

impl World {
    pub(super) fn new() -> Self {
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
                description: String::new(),
                creator: None,
            });
        }
        world
    }

    #[allow(
        clippy::needless_pass_by_value,
        reason = "tests build mutations inline"
    )]
    pub(super) fn try_apply(&mut self, mutation: Mutation) -> Result<(), MutationError> {
        let revision = self.snapshot.revision().next();
        self.snapshot = self.snapshot.apply(revision, &mutation, NOW)?;
        Ok(())
    }

    pub(super) fn ok(&mut self, mutation: Mutation) {
        let text = format!("{mutation:?}");
        self.try_apply(mutation)
            .unwrap_or_else(|err| panic!("{text} refused: {err}"));
    }

    pub(super) fn refused(&mut self, mutation: Mutation) -> MutationError {
        let before = self.snapshot.revision();
        let err = self
            .try_apply(mutation)
            .expect_err("mutation must be refused");
        assert_eq!(self.snapshot.revision(), before);
        err
    }

    pub(super) fn check(&self, who: &str, p: &str, object: Option<&str>) -> bool {
        self.check_at(who, p, object, NOW)
    }

    pub(super) fn check_at(
        &self,
        who: &str,
        p: &str,
        object: Option<&str>,
        now: Timestamp,
    ) -> bool {
        let query = self.query(who, p, object);
        let allowed = self.snapshot.check(&query, now);
        assert_eq!(self.snapshot.explain(&query, now).is_allowed(), allowed);
        allowed
    }

    #[allow(clippy::unused_self, reason = "reads like the other helpers")]
    pub(super) fn query(&self, who: &str, p: &str, object: Option<&str>) -> CheckQuery {
        CheckQuery {
            tenant: t(),
            service: crm(),
            user: user(who),
            permission: perm(p),
            object: object.map(obj),
        }
    }

    pub(super) fn grant(
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
            dependencies: crate::engine::Dependencies::Unchecked,
        });
    }

    pub(super) fn administrators(&self, service: &ServiceId) -> BTreeSet<Subject> {
        self.snapshot.tenants[&t()].services[service]
            .administrators
            .iter()
            .cloned()
            .collect()
    }
}

pub(super) fn u(id: &str) -> Subject {
    Subject::User(user(id))
}
pub(super) fn on(id: &str) -> GrantNode {
    GrantNode::Object(obj(id))
}
