//! Partner users acting inside a customer's tenant through the tenant management API.

use super::{
    super::super::{Actor, TenantId, TenantRole},
    *,
};

fn pia() -> Actor {
    Actor {
        user: user("pia"),
        partner: Some(south()),
    }
}

fn promote_alice() -> Mutation {
    Mutation::SetTenantRole {
        tenant: t(),
        user: user("alice"),
        role: TenantRole::ServiceAdministrator,
    }
}

fn rule(world: &World, actor: &Actor, mutation: &Mutation) -> Option<&'static str> {
    world
        .snapshot
        .authorize_actor(actor, mutation, NOW)
        .err()
        .map(|err| err.rule())
}

#[test]
fn a_partner_service_administrator_administers_the_customers_tenant() {
    let world = partner_world();
    let changes = [
        promote_alice(),
        Mutation::InviteUser {
            tenant: t(),
            user: new_user("carol", UserKind::Local),
        },
        Mutation::TransferOwnership {
            tenant: t(),
            new_owner: user("alice"),
        },
    ];
    for mutation in &changes {
        assert_eq!(rule(&world, &pia(), mutation), None, "{mutation:?}");
    }
    // A batch is judged change by change, as for a tenant's user.
    let batch = Mutation::Batch {
        tenant: t(),
        changes: changes[..2].to_vec(),
    };
    assert_eq!(rule(&world, &pia(), &batch), None);
    world.snapshot.authorize_reader(&t(), &pia(), NOW).unwrap();
    world.snapshot.authorize_auditor(&t(), &pia(), NOW).unwrap();
    // The same user id without its partner is no user of the tenant.
    assert_eq!(
        rule(&world, &Actor::tenant_user(user("pia")), &promote_alice()),
        Some("actor_must_be_a_tenant_user")
    );
}

#[test]
fn tenant_user_access_reads_the_tenant_but_changes_nothing() {
    let mut world = partner_world();
    world.ok(change(PartnerChange::PutRole {
        partner: south(),
        role: role("ops"),
        details: role_details(CustomerAccess::TenantUser, CustomerScope::AllCustomers),
    }));
    assert_eq!(
        rule(&world, &pia(), &promote_alice()),
        Some("partner_service_administrator_access_required")
    );
    world.snapshot.authorize_reader(&t(), &pia(), NOW).unwrap();
    assert_eq!(
        world
            .snapshot
            .authorize_auditor(&t(), &pia(), NOW)
            .unwrap_err()
            .rule(),
        "partner_service_administrator_access_required"
    );
}

#[test]
fn the_reach_ends_with_the_customer_leaving_the_group_or_the_membership_expiring() {
    let mut world = partner_world();
    world.ok(change(PartnerChange::PutCustomer {
        partner: south(),
        customer: customer("blue"),
        details: details(&["us"]),
    }));
    assert_eq!(
        rule(&world, &pia(), &promote_alice()),
        Some("partner_role_must_reach_the_tenant")
    );
    assert_eq!(
        world
            .snapshot
            .authorize_reader(&t(), &pia(), NOW)
            .unwrap_err()
            .rule(),
        "partner_role_must_reach_the_tenant"
    );

    let mut world = partner_world();
    let until = NOW.plus_millis(60_000);
    world.ok(change(PartnerChange::AddRoleMember {
        partner: south(),
        role: role("ops"),
        user: user("pia"),
        until: Some(until),
    }));
    let at = |now| {
        world
            .snapshot
            .authorize_actor(&pia(), &promote_alice(), now)
            .err()
            .map(|err| err.rule())
    };
    assert_eq!(at(NOW), None);
    assert_eq!(at(until), Some("partner_role_must_reach_the_tenant"));
}

#[test]
fn another_partner_an_unknown_or_inactive_user_and_platform_changes_are_refused() {
    let mut world = partner_world();
    let north = Actor {
        user: user("pia"),
        partner: Some(PartnerId::parse("north").unwrap()),
    };
    assert_eq!(
        rule(&world, &north, &promote_alice()),
        Some("tenant_must_belong_to_the_partners_customers")
    );
    let nobody = Actor {
        user: user("nobody"),
        partner: Some(south()),
    };
    assert_eq!(
        rule(&world, &nobody, &promote_alice()),
        Some("actor_must_be_a_partner_user")
    );
    let create_tenant = Mutation::CreateTenant {
        tenant: TenantId::parse("other").unwrap(),
        name: "Other".into(),
        customer: None,
        owner: new_user("o", UserKind::Local),
    };
    assert_eq!(rule(&world, &pia(), &create_tenant), Some("platform_only"));
    // A partner-level change is judged by the partner's rules, for its own partner only.
    let invite = change(PartnerChange::InviteUser {
        partner: PartnerId::parse("north").unwrap(),
        user: new_user("x", UserKind::Local),
        roles: BTreeMap::new(),
    });
    assert_eq!(
        rule(&world, &pia(), &invite),
        Some("actor_must_be_a_partner_user")
    );
    let sam = Actor {
        user: user("sam"),
        partner: Some(south()),
    };
    let own_invite = change(PartnerChange::InviteUser {
        partner: south(),
        user: new_user("x", UserKind::Local),
        roles: BTreeMap::new(),
    });
    assert_eq!(rule(&world, &sam, &own_invite), None);
    world.ok(change(PartnerChange::SetUserStatus {
        partner: south(),
        user: user("pia"),
        status: UserStatus::Disabled,
    }));
    assert_eq!(
        rule(&world, &pia(), &promote_alice()),
        Some("actor_must_be_active")
    );
    // Unlinking the tenant from its customer ends every partner user's reach.
    world.ok(change(PartnerChange::SetTenantCustomer {
        tenant: t(),
        customer: None,
    }));
    assert_eq!(
        rule(&world, &sam, &promote_alice()),
        Some("tenant_must_belong_to_the_partners_customers")
    );
}
