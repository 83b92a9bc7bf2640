//! What the request-validation fuzz target (`fuzz/fuzz_targets/requests.rs`) runs: bytes
//! decoded as one of sixteen requests, then the conversions and checks its handler runs
//! (for a change, the very `changes.rs` function the handler calls), then, for a change,
//! the writer's pure part: authority and the engine's validation against a small fixed
//! state. No store, no server: a run costs microseconds.
//!
//! What a handler checks around its `changes.rs` call (the actor, an etag's or a request
//! id's bounds) is repeated here in its order; the hostile integration test
//! (`tests/it/hostile.rs`) covers the handlers themselves over gRPC.

use std::{collections::BTreeSet, sync::OnceLock};

use tonic::Status;

use super::{actor, changes};
use crate::{
    api::{bounds, check, codec, convert, paging, pb, status, watch},
    engine::{
        Actor, CheckQuery, DemotionPolicy, Mutation, NewUser, ObjectId, ObjectScope, ObjectType,
        PartnerId, Permission, PermissionSet, Revision, SecurityGroupId, ServiceDefinition,
        ServiceId, Snapshot, Subject, TenantId, Timestamp, UserId, UserKind, UserStatus,
        partner::PartnerChange,
    },
};

/// The time every run happens at.
const NOW: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

/// How many request kinds `validate` chooses from.
pub(crate) const KINDS: u8 = 16;

/// Decodes `bytes` as request kind `kind % KINDS` and validates it as its handler does;
/// the first refusal, or `Ok`.
pub(crate) fn validate(kind: u8, bytes: &[u8]) -> Result<(), Status> {
    let Some(Fixture { world, owner }) = fixture() else {
        return Ok(());
    };
    match kind % KINDS {
        0 => check_request(world, &codec::decode(bytes)?),
        1 => batch_check(world, &codec::decode(bytes)?),
        2 => lookup_objects(world, &codec::decode(bytes)?),
        3 => register_service(world, &codec::decode(bytes)?),
        4 => update_service(world, &codec::decode(bytes)?),
        5 => invite_user(world, &codec::decode(bytes)?),
        6 => update_user(world, owner, &codec::decode(bytes)?),
        7 => create_object(world, owner, &codec::decode(bytes)?),
        8 => create_security_group(world, owner, &codec::decode(bytes)?),
        9 => give_grant(world, owner, &codec::decode(bytes)?),
        10 => set_tenant_role(world, owner, &codec::decode(bytes)?),
        11 => create_customer_group(world, owner, &codec::decode(bytes)?),
        12 => create_partner_role(world, owner, &codec::decode(bytes)?),
        13 => create_customer_role(world, owner, &codec::decode(bytes)?),
        14 => create_tenant_role(world, owner, &codec::decode(bytes)?),
        _ => watch::filter(&codec::decode(bytes)?).map(drop),
    }
}

/// A change as the writer would meet it: the actor's authority (when there is one), then
/// the engine's validation; a refusal is mapped as the API maps it.
fn submit(world: &Snapshot, actor: Option<&UserId>, mutation: &Mutation) -> Result<(), Status> {
    use crate::app::WriteError;
    if let Some(actor) = actor {
        world
            .authorize(actor, mutation, NOW)
            .map_err(|err| crate::api::status::write_error(&WriteError::Unauthorized(err)))?;
    }
    world
        .apply(world.revision().next(), mutation, NOW)
        .map(drop)
        .map_err(|err| crate::api::status::write_error(&WriteError::Refused(err)))
}

/// Ids chosen for a request that leaves them empty: always the same, so that a run
/// repeats exactly (the server's differ per call).
struct FixedIds;

impl changes::IdSource for FixedIds {
    fn new_id(&self, prefix: &str) -> String {
        format!("{prefix}-0123456789abcdef")
    }
}

fn check_request(world: &Snapshot, request: &pb::CheckRequest) -> Result<(), Status> {
    let query = check::query(request)?;
    let explanation = world.explain(&query, NOW);
    let _ = convert::explanation(&explanation, &request.service);
    let _ = world.check(&query, NOW);
    Ok(())
}

fn batch_check(world: &Snapshot, request: &pb::BatchCheckRequest) -> Result<(), Status> {
    let tenant = convert::id("tenant", &request.tenant, TenantId::parse)?;
    let service = convert::id("service", &request.service, ServiceId::parse)?;
    let queries: Vec<Result<CheckQuery, Status>> = match &request.shape {
        None => return Err(crate::api::status::required("shape")),
        Some(pb::batch_check_request::Shape::OneUser(batch)) => {
            let user = convert::id("one_user.user", &batch.user, UserId::parse)?;
            batch
                .items
                .iter()
                .take(100)
                .map(|item| {
                    Ok(CheckQuery {
                        tenant: tenant.clone(),
                        service: service.clone(),
                        user: user.clone(),
                        permission: convert::permission("permission", &item.permission)?,
                        object: convert::optional_id("object", &item.object, ObjectId::parse)?,
                    })
                })
                .collect()
        }
        Some(pb::batch_check_request::Shape::ManyUsers(batch)) => {
            let permission = convert::permission("many_users.permission", &batch.permission)?;
            let object = convert::optional_id("many_users.object", &batch.object, ObjectId::parse)?;
            batch
                .users
                .iter()
                .take(100)
                .map(|user| {
                    Ok(CheckQuery {
                        tenant: tenant.clone(),
                        service: service.clone(),
                        user: convert::id("many_users.users", user, UserId::parse)?,
                        permission: permission.clone(),
                        object: object.clone(),
                    })
                })
                .collect()
        }
    };
    for query in queries.into_iter().flatten() {
        let _ = world.check(&query, NOW);
    }
    Ok(())
}

fn lookup_objects(world: &Snapshot, request: &pb::LookupObjectsRequest) -> Result<(), Status> {
    let tenant = convert::id("tenant", &request.tenant, TenantId::parse)?;
    let service = convert::id("service", &request.service, ServiceId::parse)?;
    let user = convert::id("user", &request.user, UserId::parse)?;
    let permission: Permission = convert::permission("permission", &request.permission)?;
    let (size, after) = paging::request(request.page_size, &request.page_token)?;
    let objects = world
        .lookup_objects(&tenant, &service, &user, &permission, NOW)
        .map_err(|err| crate::api::status::view_error(&err))?;
    let _ = paging::page(objects, size, after.as_deref(), ToString::to_string);
    Ok(())
}

fn register_service(world: &Snapshot, request: &pb::RegisterServiceRequest) -> Result<(), Status> {
    let change = changes::register_service(request)?;
    submit(world, None, &change.mutation)
}

fn update_service(world: &Snapshot, request: &pb::UpdateServiceRequest) -> Result<(), Status> {
    let change = changes::update_service(request, world)?;
    bounds::etag("etag", &request.etag)?;
    submit(world, None, &change.mutation)
}

fn invite_user(world: &Snapshot, request: &pb::InviteUserRequest) -> Result<(), Status> {
    let actor = actor(&request.actor)?;
    let change = changes::invite_user(request, &FixedIds)?;
    bounds::request_id(&request.request_id)?;
    submit(world, Some(&actor), &change.mutation)
}

fn update_user(
    world: &Snapshot,
    owner: &UserId,
    request: &pb::UpdateUserRequest,
) -> Result<(), Status> {
    let actor = actor(&request.actor)?;
    let update = changes::update_user(request)?;
    bounds::etag("etag", &request.etag)?;
    let current = world
        .user_record(&update.tenant, &update.user)
        .map_err(|_| status::update_target_missing())?;
    let mutation = update.merge(current);
    submit(world, Some(&actor), &mutation)?;
    // The owner may make any such change: the engine's validation runs to the end.
    submit(world, Some(owner), &mutation)
}

fn create_object(
    world: &Snapshot,
    owner: &UserId,
    request: &pb::CreateObjectRequest,
) -> Result<(), Status> {
    let actor = actor(&request.actor)?;
    let change = changes::create_object(request, &Actor::tenant_user(actor.clone()), &FixedIds)?;
    submit(world, Some(&actor), &change.mutation)?;
    submit(world, Some(owner), &change.mutation)
}

fn create_security_group(
    world: &Snapshot,
    owner: &UserId,
    request: &pb::CreateSecurityGroupRequest,
) -> Result<(), Status> {
    let actor = actor(&request.actor)?;
    let change = changes::create_security_group(request, &FixedIds)?;
    submit(world, Some(&actor), &change.mutation)?;
    submit(world, Some(owner), &change.mutation)
}

fn give_grant(
    world: &Snapshot,
    owner: &UserId,
    request: &pb::GiveGrantRequest,
) -> Result<(), Status> {
    let actor = actor(&request.actor)?;
    let change = changes::give_grant(request, &FixedIds, NOW)?;
    submit(world, Some(&actor), &change.mutation)?;
    submit(world, Some(owner), &change.mutation)
}

fn set_tenant_role(
    world: &Snapshot,
    owner: &UserId,
    request: &pb::SetTenantRoleRequest,
) -> Result<(), Status> {
    let actor = actor(&request.actor)?;
    let change = changes::set_tenant_role(request)?;
    bounds::etag("etag", &request.etag)?;
    submit(world, Some(&actor), &change.mutation)?;
    submit(world, Some(owner), &change.mutation)
}

/// A customer group, its nested condition above all (the owner of the fixture's partner
/// `msp` makes it to the end).
fn create_customer_group(
    world: &Snapshot,
    owner: &UserId,
    request: &pb::CreateCustomerGroupRequest,
) -> Result<(), Status> {
    let actor = actor(&request.actor)?;
    let change = changes::create_customer_group(request, &FixedIds)?;
    bounds::request_id(&request.request_id)?;
    submit(world, Some(&actor), &change.mutation)?;
    submit(world, Some(owner), &change.mutation)
}

fn create_partner_role(
    world: &Snapshot,
    owner: &UserId,
    request: &pb::CreatePartnerRoleRequest,
) -> Result<(), Status> {
    let actor = actor(&request.actor)?;
    let change = changes::create_partner_role(request, &FixedIds)?;
    bounds::request_id(&request.request_id)?;
    submit(world, Some(&actor), &change.mutation)?;
    submit(world, Some(owner), &change.mutation)
}

/// A customer role, its scope above all (the owner of the fixture's partner `msp` makes
/// it to the end).
fn create_customer_role(
    world: &Snapshot,
    owner: &UserId,
    request: &pb::CreateCustomerRoleRequest,
) -> Result<(), Status> {
    let actor = actor(&request.actor)?;
    let change = changes::create_customer_role(request, &FixedIds)?;
    bounds::request_id(&request.request_id)?;
    submit(world, Some(&actor), &change.mutation)?;
    submit(world, Some(owner), &change.mutation)
}

/// A tenant role, its module permissions above all (the tenant's owner makes it to the
/// end).
fn create_tenant_role(
    world: &Snapshot,
    owner: &UserId,
    request: &pb::CreateTenantRoleRequest,
) -> Result<(), Status> {
    let actor = actor(&request.actor)?;
    let change = changes::create_tenant_role(request, &FixedIds)?;
    bounds::request_id(&request.request_id)?;
    submit(world, Some(&actor), &change.mutation)?;
    submit(world, Some(owner), &change.mutation)
}

/// The state every change is validated against, and its owner.
struct Fixture {
    world: Snapshot,
    owner: UserId,
}

/// Built once: tenant `acme` (owner `owner`, users `alice` and `bob`), service
/// `crm-backup` with objects `org1` ⊃ `c1` ⊃ `site1` and security group `restorers`; partner
/// `msp`, whose owner is a partner user `owner` too.
/// `None` only if one of those ids stopped being valid.
fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture).as_ref()
}

fn build_fixture() -> Option<Fixture> {
    let user = |text: &str| UserId::parse(text).ok();
    let object = |text: &str| ObjectId::parse(text).ok();
    let tenant = TenantId::parse("acme").ok()?;
    let service = ServiceId::parse("crm-backup").ok()?;
    let (owner, alice, bob) = (user("owner")?, user("alice")?, user("bob")?);
    let (org1, c1, site1) = (object("org1")?, object("c1")?, object("site1")?);
    let new_user = |user: &UserId| NewUser {
        user: user.clone(),
        email: format!("{user}@acme.example"),
        display_name: user.to_string(),
        kind: UserKind::Local,
    };
    let object_type = |name: &str, top_level: bool, contains: &[&str]| ObjectType {
        name: name.to_owned(),
        top_level,
        may_contain: contains.iter().map(|c| (*c).to_owned()).collect(),
    };
    let permissions = ["backup.run", "restore.run", "restore.view", "settings.edit"]
        .iter()
        .filter_map(|p| Permission::parse(p).ok())
        .collect();
    let mut mutations = vec![
        Mutation::RegisterService {
            service: service.clone(),
            definition: ServiceDefinition {
                display_name: "CRM backup".to_owned(),
                permissions,
                object_types: vec![
                    object_type("org", true, &["container", "site"]),
                    object_type("container", false, &["site"]),
                    object_type("site", false, &[]),
                ],
                demotion: DemotionPolicy::RemoveFromAdministrators,
            },
        },
        Mutation::CreateTenant {
            tenant: tenant.clone(),
            name: "Acme".to_owned(),
            customer: None,
            owner: new_user(&owner),
        },
        Mutation::SubscribeService {
            tenant: tenant.clone(),
            service: service.clone(),
        },
    ];
    for user in [&alice, &bob] {
        mutations.extend([
            Mutation::InviteUser {
                tenant: tenant.clone(),
                user: new_user(user),
            },
            Mutation::SetUserStatus {
                tenant: tenant.clone(),
                user: user.clone(),
                status: UserStatus::Active,
            },
            Mutation::GrantServiceAccess {
                tenant: tenant.clone(),
                user: user.clone(),
                service: service.clone(),
            },
        ]);
    }
    for (id, object_type, parent) in [
        (&org1, "org", None),
        (&c1, "container", Some(&org1)),
        (&site1, "site", Some(&c1)),
    ] {
        mutations.push(Mutation::CreateObject {
            tenant: tenant.clone(),
            service: service.clone(),
            object: id.clone(),
            object_type: object_type.to_owned(),
            name: id.to_string(),
            parent: parent.cloned(),
            related: BTreeSet::new(),
            description: String::new(),
            creator: None,
        });
    }
    let group = SecurityGroupId::parse("restorers").ok()?;
    let restore = PermissionSet::parse(["restore.*"]).ok()?;
    mutations.extend([
        Mutation::PutSecurityGroup {
            tenant: tenant.clone(),
            service: service.clone(),
            group: group.clone(),
            name: "Restorers".to_owned(),
            description: "restore in c1".to_owned(),
            permissions: restore,
            scope: ObjectScope::Objects([c1].into()),
        },
        Mutation::AddSecurityGroupMember {
            tenant,
            service,
            group,
            member: Subject::User(alice),
        },
        Mutation::Partner(PartnerChange::Onboard {
            partner: PartnerId::parse("msp").ok()?,
            name: "MSP".to_owned(),
            owner: new_user(&owner),
        }),
    ]);
    let mut builder = crate::engine::SnapshotBuilder::new();
    for (n, mutation) in (1..).zip(&mutations) {
        // A fixture change refused would leave a smaller world: still a valid one to fuzz
        // against, and the fuzz target's own test checks the world is whole.
        let _ = builder.apply(Revision::new(n), mutation, NOW);
    }
    Some(Fixture {
        world: builder.finish(),
        owner,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use prost::Message as _;

    #[test]
    fn the_world_is_whole() {
        let world = &fixture().unwrap().world;
        let tenant = TenantId::parse("acme").unwrap();
        assert_eq!(world.user_records(&tenant).unwrap().len(), 3);
        let query = CheckQuery {
            tenant,
            service: ServiceId::parse("crm-backup").unwrap(),
            user: UserId::parse("alice").unwrap(),
            permission: Permission::parse("restore.run").unwrap(),
            object: Some(ObjectId::parse("site1").unwrap()),
        };
        assert!(world.check(&query, NOW));
        let partner = PartnerId::parse("msp").unwrap();
        assert!(
            world
                .partner_user(&partner, &UserId::parse("owner").unwrap())
                .is_ok()
        );
    }

    #[test]
    fn a_valid_change_passes_and_a_bad_one_is_refused_as_the_api_refuses_it() {
        let invite = |actor: &str, email: &str| pb::InviteUserRequest {
            actor: actor.into(),
            tenant: "acme".into(),
            email: email.into(),
            display_name: "Dora".into(),
            ..Default::default()
        };
        assert!(validate(5, &invite("owner", "dora@acme.example").encode_to_vec()).is_ok());
        let err = validate(5, &invite("bob", "dora@acme.example").encode_to_vec()).unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        let err = validate(5, &invite("owner", "not an e-mail").encode_to_vec()).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        let err = validate(0, &[0xff, 0xff]).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn a_customer_group_passes_and_a_condition_nested_too_deep_is_refused() {
        use pb::group_condition::Test;
        let group = |actor: &str, condition: pb::GroupCondition| pb::CreateCustomerGroupRequest {
            actor: actor.into(),
            customer_group: Some(pb::CustomerGroup {
                partner: "msp".into(),
                name: "EU".into(),
                condition: Some(condition),
                ..Default::default()
            }),
            request_id: String::new(),
        };
        let eu = pb::GroupCondition {
            test: Some(Test::Tag("eu".into())),
        };
        assert!(validate(11, &group("owner", eu.clone()).encode_to_vec()).is_ok());
        let err = validate(11, &group("alice", eu.clone()).encode_to_vec()).unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        let mut deep = eu;
        for _ in 0..crate::engine::partner::MAX_CONDITION_DEPTH {
            deep = pb::GroupCondition {
                test: Some(Test::Any(pb::GroupConditions { terms: vec![deep] })),
            };
        }
        let err = validate(11, &group("owner", deep).encode_to_vec()).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }
}
