//! One test per partner-level rule, on the engine's fixture tenant (`acme`, see
//! `engine/tests`) put under a customer of partner `south`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use super::{
    super::{
        AuthorityError, CheckQuery, CustomerGroupId, CustomerId, Denial, Explanation, GrantSource,
        Mutation, MutationError, PartnerId, PartnerRoleId, Timestamp, UserId, UserKind, UserStatus,
        permission::PermissionSet,
        tests::{NOW, World, crm, new_user, perm, t, user},
    },
    Condition, CustomerAccess, CustomerDetails, CustomerGroupDetails, CustomerScope, GroupRule,
    MemberReason, PartnerChange, PartnerRoleDetails, administrator_role_id, module_catalog,
    platform_catalog,
};

fn south() -> PartnerId {
    PartnerId::parse("south").unwrap()
}
fn customer(id: &str) -> CustomerId {
    CustomerId::parse(id).unwrap()
}
fn group(id: &str) -> CustomerGroupId {
    CustomerGroupId::parse(id).unwrap()
}
fn role(id: &str) -> PartnerRoleId {
    PartnerRoleId::parse(id).unwrap()
}
fn change(change: PartnerChange) -> Mutation {
    Mutation::Partner(change)
}
fn details(tags: &[&str]) -> CustomerDetails {
    CustomerDetails {
        name: "Blue".into(),
        email: "it@blue.example".into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        data_centre: "eu-west".into(),
        services: BTreeSet::new(),
    }
}
fn role_details(access: CustomerAccess, scope: CustomerScope) -> PartnerRoleDetails {
    PartnerRoleDetails {
        name: "Ops".into(),
        description: String::new(),
        platform_permissions: PermissionSet::parse(["customers.*"]).unwrap(),
        module_permissions: PermissionSet::parse(["user_management.view"]).unwrap(),
        access,
        scope,
    }
}

/// The fixture tenant under customer `blue` of partner `south` (owner `sam`); partner
/// user `pia` active; dynamic group `eu` (tag `eu`); role `ops` (service administrator,
/// scope `eu`) with `pia` as member.
fn partner_world() -> World {
    let mut world = World::new();
    world.ok(change(PartnerChange::Onboard {
        partner: south(),
        name: "South".into(),
        owner: new_user("sam", UserKind::Local),
    }));
    world.ok(change(PartnerChange::InviteUser {
        partner: south(),
        user: new_user("pia", UserKind::Local),
        roles: BTreeMap::new(),
    }));
    world.ok(change(PartnerChange::SetUserStatus {
        partner: south(),
        user: user("pia"),
        status: UserStatus::Active,
    }));
    world.ok(change(PartnerChange::PutCustomer {
        partner: south(),
        customer: customer("blue"),
        details: details(&["eu"]),
    }));
    world.ok(change(PartnerChange::SetTenantCustomer {
        tenant: t(),
        customer: Some(customer("blue")),
    }));
    world.ok(change(PartnerChange::PutCustomerGroup {
        partner: south(),
        group: group("eu"),
        details: CustomerGroupDetails {
            name: "Europe".into(),
            description: String::new(),
            rule: GroupRule::Dynamic(Condition::Tag("eu".into())),
        },
    }));
    world.ok(change(PartnerChange::PutRole {
        partner: south(),
        role: role("ops"),
        details: role_details(
            CustomerAccess::ServiceAdministrator,
            CustomerScope::Groups([group("eu")].into()),
        ),
    }));
    world.ok(change(PartnerChange::AddRoleMember {
        partner: south(),
        role: role("ops"),
        user: user("pia"),
        until: None,
    }));
    world
}

fn partner_query(who: &str) -> CheckQuery {
    CheckQuery {
        tenant: t(),
        service: crm(),
        user: user(who),
        permission: perm("restore.run"),
        object: None,
    }
}

/// The partner user's decision, checked against its explanation.
fn partner_check(world: &World, who: &str, now: Timestamp) -> bool {
    let query = partner_query(who);
    let allowed = world.snapshot.check_partner_user(&query, now);
    assert_eq!(
        world
            .snapshot
            .explain_partner_user(&query, now)
            .is_allowed(),
        allowed
    );
    allowed
}

fn authorize(world: &World, actor: &str, mutation: &Mutation) -> Result<(), AuthorityError> {
    world.snapshot.authorize(&user(actor), mutation, NOW)
}

#[test]
fn the_built_in_catalogs_are_valid() {
    assert_eq!(
        platform_catalog().permissions().count(),
        super::PLATFORM_PERMISSIONS.len()
    );
    assert_eq!(
        module_catalog().permissions().count(),
        super::TENANT_MODULES.len() * super::MODULE_OPERATIONS.len()
    );
    assert_eq!(administrator_role_id().as_str(), super::ADMINISTRATOR_ROLE);
}

#[test]
fn a_service_administrator_role_reaches_every_tenant_of_a_customer_in_its_group() {
    let world = partner_world();
    assert!(partner_check(&world, "pia", NOW));
    let Explanation::Allowed(grants) = world
        .snapshot
        .explain_partner_user(&partner_query("pia"), NOW)
    else {
        panic!("allowed")
    };
    assert_eq!(
        grants[0].source,
        GrantSource::PartnerRole {
            role: role("ops"),
            customer_group: Some(group("eu")),
        }
    );
    // Tenant users are untouched: the partner user is no tenant user.
    assert!(!world.snapshot.check(&partner_query("pia"), NOW));
}

#[test]
fn a_customer_leaving_the_group_is_no_longer_reached_and_one_joining_is() {
    let mut world = partner_world();
    world.ok(change(PartnerChange::PutCustomer {
        partner: south(),
        customer: customer("blue"),
        details: details(&["us"]),
    }));
    assert!(!partner_check(&world, "pia", NOW));
    assert_eq!(
        world
            .snapshot
            .explain_partner_user(&partner_query("pia"), NOW),
        Explanation::Denied(Denial::NoPartnerRoleReaches)
    );
    world.ok(change(PartnerChange::PutCustomer {
        partner: south(),
        customer: customer("blue"),
        details: details(&["us", "eu"]),
    }));
    assert!(partner_check(&world, "pia", NOW));
}

#[test]
fn a_group_condition_change_moves_its_members_at_once() {
    let mut world = partner_world();
    world.ok(change(PartnerChange::PutCustomerGroup {
        partner: south(),
        group: group("eu"),
        details: CustomerGroupDetails {
            name: "Europe".into(),
            description: String::new(),
            rule: GroupRule::Dynamic(Condition::All(vec![
                Condition::Tag("eu".into()),
                Condition::Service(crm()),
            ])),
        },
    }));
    assert!(!partner_check(&world, "pia", NOW));
    let mut subscribed = details(&["eu"]);
    subscribed.services.insert(crm());
    world.ok(change(PartnerChange::PutCustomer {
        partner: south(),
        customer: customer("blue"),
        details: subscribed,
    }));
    assert!(partner_check(&world, "pia", NOW));
    let members = world
        .snapshot
        .customer_group_members(&south(), &group("eu"))
        .unwrap();
    assert_eq!(
        members[0].reason,
        MemberReason::Matched(vec!["tag = eu".into(), "service = crm-backup".into()])
    );
}

#[test]
fn a_time_bound_membership_ends_by_itself() {
    let mut world = partner_world();
    let until = NOW.plus_millis(60_000);
    world.ok(change(PartnerChange::AddRoleMember {
        partner: south(),
        role: role("ops"),
        user: user("pia"),
        until: Some(until),
    }));
    assert!(partner_check(&world, "pia", NOW));
    assert!(!partner_check(&world, "pia", until));
    let err = world.refused(change(PartnerChange::AddRoleMember {
        partner: south(),
        role: role("ops"),
        user: user("pia"),
        until: Some(NOW),
    }));
    assert_eq!(err.reason(), "FIELD_INVALID");
}

#[test]
fn tenant_user_access_gives_no_service_permissions() {
    let mut world = partner_world();
    world.ok(change(PartnerChange::PutRole {
        partner: south(),
        role: role("ops"),
        details: role_details(CustomerAccess::TenantUser, CustomerScope::AllCustomers),
    }));
    assert!(!partner_check(&world, "pia", NOW));
    assert_eq!(
        world
            .snapshot
            .explain_partner_user(&partner_query("pia"), NOW),
        Explanation::Denied(Denial::PartnerTenantUserOnly)
    );
}

#[test]
fn the_owner_is_an_administrator_everywhere_and_inactive_users_are_denied() {
    let mut world = partner_world();
    assert!(partner_check(&world, "sam", NOW));
    world.ok(change(PartnerChange::SetUserStatus {
        partner: south(),
        user: user("pia"),
        status: UserStatus::Disabled,
    }));
    assert!(!partner_check(&world, "pia", NOW));
    assert!(!partner_check(&world, "nobody", NOW));
    assert_eq!(
        world
            .snapshot
            .explain_partner_user(&partner_query("nobody"), NOW),
        Explanation::Denied(Denial::UnknownPartnerUser)
    );
}

#[test]
fn a_tenant_without_a_partner_reaches_no_partner_user() {
    let mut world = partner_world();
    world.ok(change(PartnerChange::SetTenantCustomer {
        tenant: t(),
        customer: None,
    }));
    assert!(!partner_check(&world, "sam", NOW));
    assert_eq!(
        world
            .snapshot
            .explain_partner_user(&partner_query("sam"), NOW),
        Explanation::Denied(Denial::TenantWithoutPartner)
    );
}

#[test]
fn roles_are_never_given_to_or_taken_from_the_owner_or_support_accounts() {
    let mut world = partner_world();
    world.ok(change(PartnerChange::InviteUser {
        partner: south(),
        user: new_user("sup", UserKind::Support),
        roles: BTreeMap::new(),
    }));
    for who in ["sam", "sup"] {
        let err = world.refused(change(PartnerChange::AddRoleMember {
            partner: south(),
            role: role("ops"),
            user: user(who),
            until: None,
        }));
        assert_eq!(err.reason(), "USER_PROTECTED", "{who}");
        let err = world.refused(change(PartnerChange::RemoveRoleMember {
            partner: south(),
            role: administrator_role_id(),
            user: user(who),
        }));
        assert_eq!(err.reason(), "USER_PROTECTED", "{who}");
    }
    let err = world.refused(change(PartnerChange::DeleteUser {
        partner: south(),
        user: user("sam"),
    }));
    assert!(matches!(err, MutationError::ProtectedUser { .. }));
}

#[test]
fn the_built_in_administrator_role_cannot_be_edited_or_deleted() {
    let mut world = partner_world();
    let err = world.refused(change(PartnerChange::PutRole {
        partner: south(),
        role: administrator_role_id(),
        details: role_details(CustomerAccess::None, CustomerScope::AllCustomers),
    }));
    assert_eq!(err.reason(), "PARTNER_ROLE_BUILT_IN");
    let err = world.refused(change(PartnerChange::DeleteRole {
        partner: south(),
        role: administrator_role_id(),
    }));
    assert_eq!(err.reason(), "PARTNER_ROLE_BUILT_IN");
}

#[test]
fn only_partner_administrators_manage_roles_groups_and_users() {
    let mut world = partner_world();
    // `pia` holds every platform permission through `ops`, yet is no Administrator.
    world.ok(change(PartnerChange::PutRole {
        partner: south(),
        role: role("ops"),
        details: PartnerRoleDetails {
            platform_permissions: PermissionSet::all(),
            ..role_details(
                CustomerAccess::ServiceAdministrator,
                CustomerScope::AllCustomers,
            )
        },
    }));
    let escalations = [
        change(PartnerChange::PutRole {
            partner: south(),
            role: role("mine"),
            details: role_details(
                CustomerAccess::ServiceAdministrator,
                CustomerScope::AllCustomers,
            ),
        }),
        change(PartnerChange::AddRoleMember {
            partner: south(),
            role: administrator_role_id(),
            user: user("pia"),
            until: None,
        }),
        change(PartnerChange::PutCustomerGroup {
            partner: south(),
            group: group("eu"),
            details: CustomerGroupDetails {
                name: "Everyone".into(),
                description: String::new(),
                rule: GroupRule::Dynamic(Condition::All(Vec::new())),
            },
        }),
        change(PartnerChange::InviteUser {
            partner: south(),
            user: new_user("friend", UserKind::Local),
            roles: BTreeMap::new(),
        }),
    ];
    for mutation in &escalations {
        let err = authorize(&world, "pia", mutation).unwrap_err();
        assert_eq!(err.rule(), "partner_administrators_only", "{mutation:?}");
        authorize(&world, "sam", mutation).unwrap();
    }
    // Customers are theirs to edit within their scope.
    let edit = change(PartnerChange::PutCustomer {
        partner: south(),
        customer: customer("blue"),
        details: details(&["eu", "gold"]),
    });
    authorize(&world, "pia", &edit).unwrap();
    // A user of another partner, or none, is not an actor here.
    let err = authorize(&world, "stranger", &edit).unwrap_err();
    assert_eq!(err.rule(), "actor_must_be_a_partner_user");
}

#[test]
fn a_scoped_role_edits_only_the_customers_it_reaches() {
    let mut world = partner_world();
    world.ok(change(PartnerChange::PutCustomer {
        partner: south(),
        customer: customer("red"),
        details: details(&["us"]),
    }));
    let edit = |id: &str| {
        change(PartnerChange::PutCustomer {
            partner: south(),
            customer: customer(id),
            details: details(&["eu", "gold"]),
        })
    };
    authorize(&world, "pia", &edit("blue")).unwrap();
    let err = authorize(&world, "pia", &edit("red")).unwrap_err();
    assert_eq!(err.rule(), "platform_permission_required");
}

#[test]
fn a_customer_with_tenants_and_a_group_in_a_scope_cannot_be_deleted() {
    let mut world = partner_world();
    let err = world.refused(change(PartnerChange::DeleteCustomer {
        partner: south(),
        customer: customer("blue"),
    }));
    assert_eq!(err.reason(), "CUSTOMER_HAS_TENANTS");
    let err = world.refused(change(PartnerChange::DeleteCustomerGroup {
        partner: south(),
        group: group("eu"),
    }));
    assert_eq!(err.reason(), "CUSTOMER_GROUP_IN_USE");
}

#[test]
fn dynamic_groups_take_no_customers_by_hand_and_static_ones_keep_theirs() {
    let mut world = partner_world();
    let err = world.refused(change(PartnerChange::SetGroupCustomers {
        partner: south(),
        group: group("eu"),
        customers: [customer("blue")].into(),
        remove: false,
    }));
    assert_eq!(err.reason(), "CUSTOMER_GROUP_DYNAMIC");
    world.ok(change(PartnerChange::PutCustomerGroup {
        partner: south(),
        group: group("key"),
        details: CustomerGroupDetails {
            name: "Key".into(),
            description: String::new(),
            rule: GroupRule::Static,
        },
    }));
    world.ok(change(PartnerChange::SetGroupCustomers {
        partner: south(),
        group: group("key"),
        customers: [customer("blue")].into(),
        remove: false,
    }));
    // Attribute changes leave static memberships alone.
    world.ok(change(PartnerChange::PutCustomer {
        partner: south(),
        customer: customer("blue"),
        details: details(&[]),
    }));
    let members = world
        .snapshot
        .customer_group_members(&south(), &group("key"))
        .unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].reason, MemberReason::Static);
    assert!(
        world
            .snapshot
            .customer_group_members(&south(), &group("eu"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_owner_transfer_keeps_the_old_owner_an_administrator_and_notifies_every_administrator() {
    let world = partner_world();
    let revision = world.snapshot.revision().next();
    let (after, context) = world
        .snapshot
        .clone()
        .apply_described(
            revision,
            &change(PartnerChange::TransferOwnership {
                partner: south(),
                new_owner: user("pia"),
            }),
            NOW,
        )
        .unwrap();
    assert_eq!(context.notify, vec![user("pia"), user("sam")]);
    let sam = after.partner_user(&south(), &user("sam")).unwrap();
    assert!(sam.administrator && !sam.owner);
    let pia = after.partner_user(&south(), &user("pia")).unwrap();
    assert!(pia.owner && pia.roles.is_empty());
}

#[test]
fn a_customer_moving_between_groups_is_in_the_change_context() {
    let world = partner_world();
    let revision = world.snapshot.revision().next();
    let (_, context) = world
        .snapshot
        .clone()
        .apply_described(
            revision,
            &change(PartnerChange::PutCustomer {
                partner: south(),
                customer: customer("blue"),
                details: details(&[]),
            }),
            NOW,
        )
        .unwrap();
    assert_eq!(context.partner, Some(south()));
    assert_eq!(context.memberships.len(), 1);
    assert!(!context.memberships[0].joined);
    // The customer's tenant is named, so a cache of its decisions drops them.
    assert_eq!(context.invalidations[0].tenant, t());
}

#[test]
fn the_reach_view_names_role_group_and_tenant() {
    let world = partner_world();
    let reach = world
        .snapshot
        .partner_user_reach(&south(), &user("pia"), NOW)
        .unwrap();
    assert_eq!(reach.len(), 1);
    assert_eq!(reach[0].tenant, Some(t()));
    assert_eq!(reach[0].customer_group, Some(group("eu")));
    assert_eq!(reach[0].access, CustomerAccess::ServiceAdministrator);
}

#[test]
fn conditions_are_bounded() {
    let mut deep = Condition::Tag("eu".into());
    for _ in 0..super::MAX_CONDITION_DEPTH {
        deep = Condition::All(vec![deep]);
    }
    let mut world = partner_world();
    let err = world.refused(change(PartnerChange::PutCustomerGroup {
        partner: south(),
        group: group("deep"),
        details: CustomerGroupDetails {
            name: "Deep".into(),
            description: String::new(),
            rule: GroupRule::Dynamic(deep),
        },
    }));
    assert_eq!(err.reason(), "FIELD_INVALID");
}

#[test]
fn partner_users_and_customers_stay_apart_from_other_partners() {
    let mut world = partner_world();
    world.ok(change(PartnerChange::Onboard {
        partner: PartnerId::parse("north").unwrap(),
        name: "North".into(),
        owner: new_user("nora", UserKind::Local),
    }));
    let err = world.refused(change(PartnerChange::PutCustomer {
        partner: PartnerId::parse("north").unwrap(),
        customer: customer("blue"),
        details: details(&["eu"]),
    }));
    assert_eq!(err.reason(), "ALREADY_EXISTS");
    // `nora` owns north, not south.
    let query = CheckQuery {
        user: UserId::parse("nora").unwrap(),
        ..partner_query("nora")
    };
    assert!(!world.snapshot.check_partner_user(&query, NOW));
}

mod customer_roles {
    use super::*;
    use crate::engine::{
        CustomerRoleId, TenantRoleId,
        partner::{CustomerRoleDetails, TenantScope},
        tenant_roles::{ModuleSource, TenantRoleChange},
    };

    fn customer_role(id: &str) -> CustomerRoleId {
        CustomerRoleId::parse(id).unwrap()
    }
    fn copy(id: &str) -> TenantRoleId {
        TenantRoleId::parse(id).unwrap()
    }
    fn helpdesk(scope: TenantScope, sync: bool) -> Mutation {
        change(PartnerChange::PutCustomerRole {
            partner: south(),
            role: customer_role("helpdesk"),
            details: CustomerRoleDetails {
                name: "Help desk".into(),
                description: String::new(),
                permissions: PermissionSet::parse(["user_management.view"]).unwrap(),
                scope,
                sync,
            },
        })
    }
    fn copies(world: &World) -> Vec<TenantRoleId> {
        world
            .snapshot
            .tenant_roles(&t())
            .unwrap()
            .into_iter()
            .filter(|r| r.synced_from.is_some())
            .map(|r| r.id)
            .collect()
    }
    fn module(world: &World, who: &str, permission: &str, partner_user: bool) -> bool {
        world
            .snapshot
            .check_module(&t(), &user(who), &perm(permission), partner_user, NOW)
    }

    #[test]
    fn a_synced_customer_role_has_a_copy_in_every_tenant_in_scope_that_follows_edits() {
        let mut world = partner_world();
        world.ok(helpdesk(
            TenantScope::CustomerGroups([group("eu")].into()),
            true,
        ));
        assert_eq!(copies(&world), vec![copy("helpdesk")]);
        world.ok(change(PartnerChange::PutCustomerRole {
            partner: south(),
            role: customer_role("helpdesk"),
            details: CustomerRoleDetails {
                name: "Help desk".into(),
                description: "now also workflows".into(),
                permissions: PermissionSet::parse(["user_management.view", "workflows.view"])
                    .unwrap(),
                scope: TenantScope::CustomerGroups([group("eu")].into()),
                sync: true,
            },
        }));
        let role = world.snapshot.tenant_role(&t(), &copy("helpdesk")).unwrap();
        assert_eq!(role.description, "now also workflows");
        // The customer leaves the group: the copy goes.
        world.ok(change(PartnerChange::PutCustomer {
            partner: south(),
            customer: customer("blue"),
            details: details(&[]),
        }));
        assert!(copies(&world).is_empty());
    }

    #[test]
    fn members_of_a_copy_hold_its_module_permissions_until_it_goes() {
        let mut world = partner_world();
        world.ok(helpdesk(TenantScope::AllTenants, true));
        world.ok(Mutation::TenantRole(TenantRoleChange::AddMember {
            tenant: t(),
            role: copy("helpdesk"),
            user: user("alice"),
        }));
        assert!(module(&world, "alice", "user_management.view", false));
        assert!(!module(&world, "alice", "workflows.view", false));
        assert!(!module(&world, "bob", "user_management.view", false));
        // The owner holds every module.
        assert!(module(&world, "owner", "workflows.manage", false));
        assert_eq!(
            world
                .snapshot
                .explain_module(
                    &t(),
                    &user("alice"),
                    &perm("user_management.view"),
                    false,
                    NOW
                )
                .unwrap(),
            vec![ModuleSource::Role(copy("helpdesk"))]
        );
        world.ok(helpdesk(TenantScope::AllTenants, false));
        assert!(copies(&world).is_empty());
        assert!(!module(&world, "alice", "user_management.view", false));
    }

    #[test]
    fn sync_disabled_for_a_tenant_removes_its_copy_and_enabling_makes_it_anew() {
        let mut world = partner_world();
        world.ok(helpdesk(
            TenantScope::Customers([customer("blue")].into()),
            true,
        ));
        let toggle = |enabled| {
            change(PartnerChange::SetCustomerRoleTenantSync {
                partner: south(),
                role: customer_role("helpdesk"),
                tenant: t(),
                enabled,
            })
        };
        world.ok(toggle(false));
        assert!(copies(&world).is_empty());
        let record = world
            .snapshot
            .customer_role(&south(), &customer_role("helpdesk"))
            .unwrap();
        assert_eq!(record.sync_disabled, vec![t()]);
        world.ok(toggle(true));
        assert_eq!(copies(&world), vec![copy("helpdesk")]);
    }

    #[test]
    fn a_detached_copy_stays_as_the_tenants_own_role_and_no_longer_follows() {
        let mut world = partner_world();
        world.ok(helpdesk(TenantScope::Tenants([t()].into()), true));
        world.ok(Mutation::TenantRole(TenantRoleChange::Detach {
            tenant: t(),
            role: copy("helpdesk"),
        }));
        world.ok(change(PartnerChange::DeleteCustomerRole {
            partner: south(),
            role: customer_role("helpdesk"),
        }));
        let own = world.snapshot.tenant_role(&t(), &copy("helpdesk")).unwrap();
        assert!(own.synced_from.is_none());
    }

    #[test]
    fn deleting_the_customer_role_removes_every_copy_and_names_each_tenant() {
        let mut world = partner_world();
        world.ok(helpdesk(TenantScope::AllTenants, true));
        let revision = world.snapshot.revision().next();
        let (after, context) = world
            .snapshot
            .clone()
            .apply_described(
                revision,
                &change(PartnerChange::DeleteCustomerRole {
                    partner: south(),
                    role: customer_role("helpdesk"),
                }),
                NOW,
            )
            .unwrap();
        assert_eq!(context.synced_roles.len(), 1);
        assert_eq!(context.synced_roles[0].tenant, t());
        assert_eq!(
            context.synced_roles[0].effect,
            crate::engine::SyncedRoleEffect::Removed
        );
        world.snapshot = after;
        assert!(copies(&world).is_empty());
    }

    #[test]
    fn a_copy_is_never_edited_or_deleted_in_the_tenant() {
        let mut world = partner_world();
        world.ok(helpdesk(TenantScope::AllTenants, true));
        let err = world.refused(Mutation::TenantRole(TenantRoleChange::Delete {
            tenant: t(),
            role: copy("helpdesk"),
        }));
        assert_eq!(err.reason(), "TENANT_ROLE_SYNCED");
    }

    #[test]
    fn a_tenant_user_access_partner_role_gives_its_module_permissions() {
        let mut world = partner_world();
        world.ok(change(PartnerChange::PutRole {
            partner: south(),
            role: role("ops"),
            details: role_details(CustomerAccess::TenantUser, CustomerScope::AllCustomers),
        }));
        assert!(module(&world, "pia", "user_management.view", true));
        assert!(!module(&world, "pia", "user_management.manage", true));
        assert!(!partner_check(&world, "pia", NOW));
    }

    #[test]
    fn only_partner_administrators_manage_customer_roles() {
        let world = partner_world();
        let err = authorize(&world, "pia", &helpdesk(TenantScope::AllTenants, true)).unwrap_err();
        assert_eq!(err.rule(), "partner_administrators_only");
        authorize(&world, "sam", &helpdesk(TenantScope::AllTenants, true)).unwrap();
    }
}

mod acting;
