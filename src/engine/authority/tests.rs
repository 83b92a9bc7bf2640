//! One test per actor rule of the product documents.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use super::*;
use crate::engine::{
    DemotionPolicy, GrantId, NewUser, ObjectType, PermissionSet, SecurityGroupId,
    ServiceDefinition, Subject, UserKind, UserStatus,
};

const NOW: Timestamp = Timestamp::from_unix_millis(1_000);

fn t() -> TenantId {
    TenantId::parse("acme").unwrap()
}
fn crm() -> ServiceId {
    ServiceId::parse("crm").unwrap()
}
fn iaas() -> ServiceId {
    ServiceId::parse("iaas").unwrap()
}
fn u(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}
fn functions(management: bool, auto_discovery: bool, administration: bool) -> AdminFunctions {
    AdminFunctions {
        management,
        auto_discovery,
        administration,
    }
}

/// A tenant with users in every rank:
/// `owner`; `sa` (service administrator); `all3` (customized, all functions); `mgmt` and
/// `mgmt2` (management); `mgmt_ad` (management + auto discovery); `ad` (auto discovery
/// only); `appadmin` (application administrator of crm); `std1`, `std2` (standard users
/// with crm access).
fn world() -> Snapshot {
    let mut snapshot = Snapshot::empty();
    let mut apply = |m: Mutation| {
        snapshot = snapshot
            .apply(snapshot.revision().next(), &m, NOW)
            .unwrap_or_else(|e| panic!("{m:?}: {e}"));
    };
    for service in [crm(), iaas()] {
        apply(Mutation::RegisterService {
            service,
            definition: ServiceDefinition {
                display_name: "svc".into(),
                permissions: ["backup.run", "restore.run", "settings.edit"]
                    .iter()
                    .map(|p| Permission::parse(p).unwrap())
                    .collect(),
                object_types: vec![ObjectType {
                    name: "org".into(),
                    top_level: true,
                    may_contain: BTreeSet::new(),
                }],
                demotion: DemotionPolicy::RemoveFromAdministrators,
            },
        });
    }
    let new_user = |id: &str| NewUser {
        user: u(id),
        email: format!("{id}@acme.example"),
        display_name: id.into(),
        kind: UserKind::Local,
    };
    apply(Mutation::CreateTenant {
        tenant: t(),
        name: "Acme".into(),
        customer: None,
        owner: new_user("owner"),
    });
    for service in [crm(), iaas()] {
        apply(Mutation::SubscribeService {
            tenant: t(),
            service,
        });
    }
    let roles = [
        ("sa", TenantRole::ServiceAdministrator),
        (
            "all3",
            TenantRole::CustomizedAdministrator(functions(true, true, true)),
        ),
        (
            "mgmt",
            TenantRole::CustomizedAdministrator(functions(true, false, false)),
        ),
        (
            "mgmt2",
            TenantRole::CustomizedAdministrator(functions(true, false, false)),
        ),
        (
            "mgmt_ad",
            TenantRole::CustomizedAdministrator(functions(true, true, false)),
        ),
        (
            "ad",
            TenantRole::CustomizedAdministrator(functions(false, true, false)),
        ),
        (
            "appadmin",
            TenantRole::ApplicationAdministrator(BTreeSet::from([crm()])),
        ),
        ("std1", TenantRole::StandardUser),
        ("std2", TenantRole::StandardUser),
    ];
    for (id, role) in roles {
        apply(Mutation::InviteUser {
            tenant: t(),
            user: new_user(id),
        });
        apply(Mutation::SetUserStatus {
            tenant: t(),
            user: u(id),
            status: UserStatus::Active,
        });
        apply(Mutation::SetTenantRole {
            tenant: t(),
            user: u(id),
            role,
        });
    }
    for id in ["std1", "std2"] {
        apply(Mutation::GrantServiceAccess {
            tenant: t(),
            user: u(id),
            service: crm(),
        });
    }
    apply(Mutation::CreateObject {
        tenant: t(),
        service: crm(),
        object: crate::engine::ObjectId::parse("org1").unwrap(),
        object_type: "org".into(),
        name: "org".into(),
        parent: None,
        related: BTreeSet::new(),
        description: String::new(),
        creator: None,
    });
    snapshot
}

fn set_role(target: &str, role: TenantRole) -> Mutation {
    Mutation::SetTenantRole {
        tenant: t(),
        user: u(target),
        role,
    }
}

fn rule(snapshot: &Snapshot, actor: &str, mutation: &Mutation) -> Option<&'static str> {
    snapshot
        .authorize(&u(actor), mutation, NOW)
        .err()
        .map(|e| e.rule())
}

#[test]
fn platform_calls_need_the_platform() {
    let world = world();
    let create = Mutation::SubscribeService {
        tenant: t(),
        service: crm(),
    };
    assert_eq!(rule(&world, "owner", &create), Some("platform_only"));
}

#[test]
fn owner_and_service_administrators_may_do_everything_in_the_tenant() {
    let world = world();
    for actor in ["owner", "sa"] {
        assert_eq!(
            rule(
                &world,
                actor,
                &set_role("mgmt", TenantRole::ServiceAdministrator)
            ),
            None
        );
        assert_eq!(
            rule(
                &world,
                actor,
                &Mutation::TransferOwnership {
                    tenant: t(),
                    new_owner: u("std1")
                }
            ),
            None
        );
    }
}

#[test]
fn only_owner_or_service_administrator_transfers_ownership() {
    let world = world();
    let transfer = Mutation::TransferOwnership {
        tenant: t(),
        new_owner: u("std1"),
    };
    assert_eq!(rule(&world, "all3", &transfer), Some("role_does_not_allow"));
}

#[test]
fn customized_administrator_cannot_touch_service_administrator_or_owner() {
    let world = world();
    for target in ["sa", "owner"] {
        let demote = set_role(target, TenantRole::StandardUser);
        assert_eq!(
            rule(&world, "all3", &demote),
            Some("only_owner_and_service_administrators_act_on_those_ranks")
        );
        let delete = Mutation::DeleteUser {
            tenant: t(),
            user: u(target),
        };
        assert_eq!(
            rule(&world, "all3", &delete),
            Some("only_owner_and_service_administrators_act_on_those_ranks")
        );
    }
}

#[test]
fn customized_administrator_cannot_make_anyone_service_administrator() {
    let world = world();
    let promote = set_role("std1", TenantRole::ServiceAdministrator);
    assert_eq!(
        rule(&world, "all3", &promote),
        Some("only_owner_and_service_administrators_act_on_those_ranks")
    );
}

#[test]
fn customized_administrator_with_all_functions_changes_and_demotes_other_customized_administrators()
{
    let world = world();
    assert_eq!(
        rule(
            &world,
            "all3",
            &set_role("mgmt_ad", TenantRole::StandardUser)
        ),
        None
    );
    assert_eq!(
        rule(&world, "all3", &set_role("ad", TenantRole::StandardUser)),
        None
    );
}

#[test]
fn management_administrator_changes_management_peer_but_not_one_with_more() {
    let world = world();
    assert_eq!(
        rule(&world, "mgmt", &set_role("mgmt2", TenantRole::StandardUser)),
        None
    );
    assert_eq!(
        rule(
            &world,
            "mgmt",
            &set_role("mgmt_ad", TenantRole::StandardUser)
        ),
        Some("no_action_on_higher_permissions")
    );
    assert_eq!(
        rule(&world, "mgmt", &set_role("ad", TenantRole::StandardUser)),
        Some("no_action_on_higher_permissions")
    );
    assert_eq!(
        rule(&world, "mgmt", &set_role("std1", TenantRole::StandardUser)),
        None
    );
}

#[test]
fn management_administrator_cannot_grant_functions_it_lacks() {
    let world = world();
    let promote = set_role(
        "std1",
        TenantRole::CustomizedAdministrator(functions(true, true, false)),
    );
    assert_eq!(
        rule(&world, "mgmt", &promote),
        Some("no_action_on_higher_permissions")
    );
    let same = set_role(
        "std1",
        TenantRole::CustomizedAdministrator(functions(true, false, false)),
    );
    assert_eq!(rule(&world, "mgmt", &same), None);
}

#[test]
fn customized_administrator_without_management_cannot_manage_users() {
    let world = world();
    let delete = Mutation::DeleteUser {
        tenant: t(),
        user: u("std1"),
    };
    assert_eq!(
        rule(&world, "ad", &delete),
        Some("customized_administrator_function_required")
    );
}

#[test]
fn application_administrator_gives_only_services_it_administers() {
    let world = world();
    let give_crm = Mutation::GrantServiceAccess {
        tenant: t(),
        user: u("std2"),
        service: crm(),
    };
    let give_iaas = Mutation::GrantServiceAccess {
        tenant: t(),
        user: u("std2"),
        service: iaas(),
    };
    assert_eq!(rule(&world, "appadmin", &give_crm), None);
    assert_eq!(
        rule(&world, "appadmin", &give_iaas),
        Some("application_administrator_own_services_only")
    );
    let on_admin = Mutation::GrantServiceAccess {
        tenant: t(),
        user: u("mgmt"),
        service: crm(),
    };
    assert_eq!(
        rule(&world, "appadmin", &on_admin),
        Some("no_action_on_higher_permissions")
    );
}

#[test]
fn everyone_edits_their_own_display_name_but_not_their_e_mail_or_anyone_else() {
    let world = world();
    let update = |user: &str, email: &str, display_name: &str| Mutation::UpdateUser {
        tenant: t(),
        user: u(user),
        email: email.into(),
        display_name: display_name.into(),
    };
    for actor in ["std1", "appadmin", "ad"] {
        let own = update(actor, &format!("{actor}@acme.example"), "A new name");
        assert_eq!(rule(&world, actor, &own), None, "{actor}");
        let own_email = update(actor, "elsewhere@acme.example", actor);
        assert!(rule(&world, actor, &own_email).is_some(), "{actor}");
    }
    assert_eq!(
        rule(
            &world,
            "std1",
            &update("std2", "std2@acme.example", "Renamed")
        ),
        Some("role_does_not_allow")
    );
}

#[test]
fn standard_user_cannot_administer() {
    let world = world();
    let invite = Mutation::InviteUser {
        tenant: t(),
        user: NewUser {
            user: u("new"),
            email: "new@acme.example".into(),
            display_name: "new".into(),
            kind: UserKind::Local,
        },
    };
    assert_eq!(rule(&world, "std1", &invite), Some("role_does_not_allow"));
    let put = Mutation::PutSecurityGroup {
        tenant: t(),
        service: crm(),
        group: SecurityGroupId::parse("sg").unwrap(),
        name: "sg".into(),
        description: String::new(),
        permissions: PermissionSet::parse(["backup.run"]).unwrap(),
        scope: ObjectScope::AllObjects,
    };
    assert_eq!(rule(&world, "std1", &put), Some("no_escalation"));
}

#[test]
fn settings_holder_cannot_give_what_it_does_not_hold() {
    let mut world = world();
    // std1 may edit settings and run backups, not restores.
    world = world
        .apply(
            world.revision().next(),
            &Mutation::GiveGrant {
                tenant: t(),
                service: crm(),
                grant: GrantId::parse("g-settings").unwrap(),
                subject: Subject::User(u("std1")),
                access: Access::Permissions(
                    PermissionSet::parse(["settings.edit", "backup.run"]).unwrap(),
                ),
                node: GrantNode::Service,
                expires_at: None,
                dependencies: crate::engine::Dependencies::Unchecked,
            },
            NOW,
        )
        .unwrap();
    let give = |set: &str| Mutation::GiveGrant {
        tenant: t(),
        service: crm(),
        grant: GrantId::parse("g-new").unwrap(),
        subject: Subject::User(u("std2")),
        access: Access::Permissions(PermissionSet::parse([set]).unwrap()),
        node: GrantNode::Service,
        expires_at: None,
        dependencies: crate::engine::Dependencies::Unchecked,
    };
    assert_eq!(rule(&world, "std1", &give("backup.run")), None);
    assert_eq!(
        rule(&world, "std1", &give("restore.run")),
        Some("no_escalation")
    );
    assert_eq!(rule(&world, "std1", &give("*")), Some("no_escalation"));
}

#[test]
fn inactive_or_unknown_actor_is_refused() {
    let mut world = world();
    world = world
        .apply(
            world.revision().next(),
            &Mutation::SetUserStatus {
                tenant: t(),
                user: u("all3"),
                status: UserStatus::Disabled,
            },
            NOW,
        )
        .unwrap();
    let demote = set_role("std1", TenantRole::StandardUser);
    assert_eq!(rule(&world, "all3", &demote), Some("actor_must_be_active"));
    assert_eq!(
        rule(&world, "ghost", &demote),
        Some("actor_must_be_a_tenant_user")
    );
}

#[test]
fn each_change_of_a_batch_is_judged_on_the_state_the_ones_before_it_leave() {
    let world = world();
    let newcomer = crate::engine::NewUser {
        user: u("newcomer"),
        email: "newcomer@acme.example".into(),
        display_name: "Newcomer".into(),
        kind: UserKind::Local,
    };
    let invite = Mutation::InviteUser {
        tenant: t(),
        user: newcomer,
    };
    let give = |service: ServiceId| Mutation::GrantServiceAccess {
        tenant: t(),
        user: u("newcomer"),
        service,
    };
    let batch = |changes: Vec<Mutation>| Mutation::Batch {
        tenant: t(),
        changes,
    };
    // An application administrator invites a tenant user and gives it its own service.
    assert_eq!(
        rule(
            &world,
            "appadmin",
            &batch(vec![invite.clone(), give(crm())])
        ),
        None
    );
    // … but not a service it does not administer: the batch is refused for that change.
    assert_eq!(
        rule(
            &world,
            "appadmin",
            &batch(vec![invite.clone(), give(iaas())])
        ),
        Some("application_administrator_own_services_only")
    );
    // A role for the invited user is judged on that user as the batch leaves it: a
    // management administrator may make it a standard user, never a service administrator.
    let role = |role| Mutation::SetTenantRole {
        tenant: t(),
        user: u("newcomer"),
        role,
    };
    assert_eq!(
        rule(
            &world,
            "mgmt",
            &batch(vec![invite.clone(), role(TenantRole::StandardUser)])
        ),
        None
    );
    assert!(
        rule(
            &world,
            "mgmt",
            &batch(vec![invite, role(TenantRole::ServiceAdministrator)])
        )
        .is_some()
    );
}
