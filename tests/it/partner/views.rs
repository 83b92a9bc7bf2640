//! The partner level's views (a user's reach, a group's members with why), re-syncing a
//! dynamic group, and the API hygiene of partner resources: etags, request ids, paging,
//! validation, confined callers.

use std::sync::Arc;

use authzd::{
    api::pb,
    app::SystemClock,
    engine::{CustomerId, Mutation, PartnerId},
};
use tonic::Code;
use tonic_types::StatusExt;

use super::{
    ADMIN, OWNER, PARTNER, customer, group_ref, reason, role, started, tag_is, with_token,
};
use crate::support::{
    callers::{TestCaller, write_callers},
    server::TestServer,
};

fn list_group_customers(group: &str) -> pb::ListGroupCustomersRequest {
    pb::ListGroupCustomersRequest {
        actor: ADMIN.into(),
        partner: PARTNER.into(),
        customer_group: group.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn list_group_customers_says_why_each_customer_is_in() {
    let (_server, mut p) = started().await;
    p.group(
        "eu-gold",
        Some(pb::GroupCondition {
            test: Some(pb::group_condition::Test::All(pb::GroupConditions {
                terms: vec![
                    tag_is("eu"),
                    pb::GroupCondition {
                        test: Some(pb::group_condition::Test::Any(pb::GroupConditions {
                            terms: vec![tag_is("gold"), tag_is("platinum")],
                        })),
                    },
                ],
            })),
        }),
    )
    .await;
    p.group("hand-picked", None).await;
    p.customer("contoso", &["eu", "gold"]).await;
    p.customer("fabrikam", &["eu"]).await;
    p.customer("globex", &["eu", "platinum"]).await;
    p.api
        .add_group_customers(pb::GroupCustomersRequest {
            actor: OWNER.into(),
            partner: PARTNER.into(),
            customer_group: "hand-picked".into(),
            customers: vec!["fabrikam".into()],
        })
        .await
        .unwrap();
    let dynamic = p
        .api
        .list_group_customers(list_group_customers("eu-gold"))
        .await
        .unwrap()
        .into_inner()
        .customers;
    let why: Vec<(&str, Vec<&str>)> = dynamic
        .iter()
        .map(|c| {
            assert!(!c.added_by_hand);
            (
                c.customer.as_str(),
                c.matched.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        why,
        [
            ("contoso", vec!["tag = eu", "tag = gold"]),
            ("globex", vec!["tag = eu", "tag = platinum"]),
        ]
    );
    let by_hand = p
        .api
        .list_group_customers(list_group_customers("hand-picked"))
        .await
        .unwrap()
        .into_inner()
        .customers;
    assert_eq!(by_hand.len(), 1);
    assert!(by_hand[0].added_by_hand && by_hand[0].matched.is_empty());
    assert_eq!(by_hand[0].customer, "fabrikam");
    // Customers are added to static groups only.
    let to_dynamic = p
        .api
        .add_group_customers(pb::GroupCustomersRequest {
            actor: OWNER.into(),
            partner: PARTNER.into(),
            customer_group: "eu-gold".into(),
            customers: vec!["fabrikam".into()],
        })
        .await;
    assert_eq!(
        reason(to_dynamic, Code::FailedPrecondition),
        "CUSTOMER_GROUP_DYNAMIC"
    );
}

#[tokio::test]
async fn list_partner_user_reach_names_each_customer_tenant_role_and_group() {
    let (_server, mut p) = started().await;
    p.group("eu", Some(tag_is("eu"))).await;
    p.role(
        "eu-admins",
        pb::CustomerAccess::ServiceAdministrator,
        &["eu"],
    )
    .await;
    p.role("helpdesk", pb::CustomerAccess::TenantUser, &[])
        .await;
    p.user("pat", &[("eu-admins", None), ("helpdesk", None)])
        .await;
    p.customer("contoso", &["eu"]).await;
    p.customer("initech", &[]).await;
    p.tenant("contoso-dev", "contoso").await;
    p.tenant("contoso-prod", "contoso").await;
    let reach = |page_size: i32, page_token: String| pb::ListPartnerUserReachRequest {
        actor: ADMIN.into(),
        partner: PARTNER.into(),
        user: "pat".into(),
        page_size,
        page_token,
    };
    let all = p
        .api
        .list_partner_user_reach(reach(0, String::new()))
        .await
        .unwrap()
        .into_inner()
        .reach;
    let rows: Vec<(&str, &str, &str, &str)> = all
        .iter()
        .map(|r| {
            (
                r.customer.as_str(),
                r.tenant.as_str(),
                r.partner_role.as_str(),
                r.customer_group.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("contoso", "contoso-dev", "eu-admins", "eu"),
            ("contoso", "contoso-dev", "helpdesk", ""),
            ("contoso", "contoso-prod", "eu-admins", "eu"),
            ("contoso", "contoso-prod", "helpdesk", ""),
            ("initech", "", "helpdesk", ""),
        ]
    );
    assert_eq!(
        pb::CustomerAccess::try_from(all[0].access).unwrap(),
        pb::CustomerAccess::ServiceAdministrator
    );
    // Paged, the same rows in the same order, each once.
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = p
            .api
            .list_partner_user_reach(reach(2, token))
            .await
            .unwrap()
            .into_inner();
        paged.extend(page.reach);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(paged, all);
}

#[tokio::test]
async fn resync_reports_who_joined_and_is_refused_for_a_static_group() {
    let (server, mut p) = started().await;
    // Every customer: a condition of no terms always holds.
    p.group(
        "everyone",
        Some(pb::GroupCondition {
            test: Some(pb::group_condition::Test::All(
                pb::GroupConditions::default(),
            )),
        }),
    )
    .await;
    p.customer("contoso", &[]).await;
    // A customer recorded before customers had attributes joined no group: the one way a
    // dynamic group's members can differ from its condition, which a re-sync repairs.
    server
        .apply([Mutation::CreateCustomer {
            customer: CustomerId::parse("legacy").unwrap(),
            partner: Some(PartnerId::parse(PARTNER).unwrap()),
            name: "Legacy".into(),
        }])
        .await;
    let resynced = p
        .api
        .resync_customer_group(group_ref(OWNER, "everyone"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resynced.joined, ["legacy"]);
    assert!(resynced.left.is_empty());
    assert_eq!(resynced.customer_group.unwrap().customer_count, 2);
    let again = p
        .api
        .resync_customer_group(group_ref(OWNER, "everyone"))
        .await
        .unwrap()
        .into_inner();
    assert!(again.joined.is_empty() && again.left.is_empty());
    p.group("hand-picked", None).await;
    let static_group = p
        .api
        .resync_customer_group(group_ref(OWNER, "hand-picked"))
        .await;
    let status = static_group.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn etags_and_request_id_retries_work_on_partner_resources() {
    let (_server, mut p) = started().await;
    let create = || pb::CreateCustomerRequest {
        actor: OWNER.into(),
        customer: Some(pb::Customer {
            id: String::new(),
            ..customer("new", &["eu"])
        }),
        request_id: "create-customer-1".into(),
    };
    let first = p.api.create_customer(create()).await.unwrap().into_inner();
    let retried = p.api.create_customer(create()).await.unwrap().into_inner();
    let created = first.customer.unwrap();
    assert!(created.id.starts_with("customer-"), "{}", created.id);
    assert_eq!(
        retried.customer.unwrap().id,
        created.id,
        "no second customer"
    );
    assert_eq!(retried.revision, first.revision);
    // A create never replaces.
    let again = p
        .api
        .create_customer(pb::CreateCustomerRequest {
            actor: OWNER.into(),
            customer: Some(customer(&created.id, &[])),
            request_id: String::new(),
        })
        .await;
    assert_eq!(reason(again, Code::AlreadyExists), "ALREADY_EXISTS");
    let update = |etag: &str, name: &str| pb::UpdateCustomerRequest {
        actor: OWNER.into(),
        customer: Some(pb::Customer {
            name: name.into(),
            ..customer(&created.id, &[])
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["name".into()],
        }),
        etag: etag.into(),
    };
    let renamed = p
        .api
        .update_customer(update(&created.etag, "Renamed"))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(renamed.name, "Renamed");
    assert_eq!(renamed.tags, ["eu"], "fields outside the mask stay");
    assert_ne!(renamed.etag, created.etag);
    let stale = p.api.update_customer(update(&created.etag, "Again")).await;
    assert_eq!(reason(stale, Code::Aborted), "ETAG_STALE");
    // Roles and groups too.
    let made = p
        .api
        .create_partner_role(pb::CreatePartnerRoleRequest {
            actor: OWNER.into(),
            partner_role: Some(role("", pb::CustomerAccess::None, &[])),
            request_id: "create-role-1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .partner_role
        .unwrap();
    let retried_role = p
        .api
        .create_partner_role(pb::CreatePartnerRoleRequest {
            actor: OWNER.into(),
            partner_role: Some(role("", pb::CustomerAccess::None, &[])),
            request_id: "create-role-1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .partner_role
        .unwrap();
    assert_eq!(retried_role.id, made.id);
    p.add_member(&made.id, ADMIN, None).await.unwrap();
    let stale_delete = p
        .api
        .delete_partner_role(pb::PartnerRoleRefRequest {
            actor: OWNER.into(),
            partner: PARTNER.into(),
            partner_role: made.id.clone(),
            etag: made.etag.clone(),
        })
        .await;
    assert_eq!(reason(stale_delete, Code::Aborted), "ETAG_STALE");
    let group = p.group("g", None).await;
    let renamed_group = p
        .api
        .update_customer_group(pb::UpdateCustomerGroupRequest {
            actor: OWNER.into(),
            customer_group: Some(pb::CustomerGroup {
                partner: PARTNER.into(),
                id: "g".into(),
                name: "Renamed".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
            etag: group.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .customer_group
        .unwrap();
    assert_ne!(renamed_group.etag, group.etag);
    // A group's etag follows its customers: their count is part of what it shows.
    let joined = p
        .api
        .add_group_customers(pb::GroupCustomersRequest {
            actor: OWNER.into(),
            partner: PARTNER.into(),
            customer_group: "g".into(),
            customers: vec![created.id.clone()],
        })
        .await
        .unwrap()
        .into_inner()
        .customer_group
        .unwrap();
    assert_eq!(joined.customer_count, 1);
    assert_ne!(joined.etag, renamed_group.etag);
}

#[tokio::test]
async fn lists_of_partner_resources_page_and_filter() {
    let (_server, mut p) = started().await;
    for n in 0..5 {
        p.customer(&format!("c{n}"), if n % 2 == 0 { &["even"] } else { &[] })
            .await;
    }
    let list = |page_token: String, filter: &str, tags: &[&str]| pb::ListCustomersRequest {
        actor: ADMIN.into(),
        partner: PARTNER.into(),
        page_size: 2,
        page_token,
        filter: filter.into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        customer_groups: Vec::new(),
    };
    let mut ids = Vec::new();
    let mut token = String::new();
    loop {
        let page = p
            .api
            .list_customers(list(token, "", &[]))
            .await
            .unwrap()
            .into_inner();
        ids.extend(page.customers.into_iter().map(|c| c.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(ids, ["c0", "c1", "c2", "c3", "c4"]);
    let tagged = p
        .api
        .list_customers(pb::ListCustomersRequest {
            page_size: 0,
            ..list(String::new(), "CUSTOMER C", &["even"])
        })
        .await
        .unwrap()
        .into_inner();
    let tagged: Vec<String> = tagged.customers.into_iter().map(|c| c.id).collect();
    assert_eq!(tagged, ["c0", "c2", "c4"]);
    let users = p
        .api
        .list_partner_users(pb::ListPartnerUsersRequest {
            actor: ADMIN.into(),
            partner: PARTNER.into(),
            roles: vec!["administrator".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .users;
    let administrators: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        administrators,
        [ADMIN, OWNER],
        "the owner holds the role too"
    );
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field() {
    let (_server, mut p) = started().await;
    let field_of = |status: tonic::Status| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        status.get_details_bad_request().unwrap().field_violations[0]
            .field
            .clone()
    };
    let nameless = p
        .api
        .create_customer(pb::CreateCustomerRequest {
            actor: OWNER.into(),
            customer: Some(pb::Customer {
                name: String::new(),
                ..customer("c", &[])
            }),
            request_id: String::new(),
        })
        .await;
    assert_eq!(field_of(nameless.unwrap_err()), "customer.name");
    let long_tag = p
        .api
        .create_customer(pb::CreateCustomerRequest {
            actor: OWNER.into(),
            customer: Some(customer("c", &["ok", &"x".repeat(65)])),
            request_id: String::new(),
        })
        .await;
    assert_eq!(field_of(long_tag.unwrap_err()), "customer.tags[1]");
    let group = |condition: pb::GroupCondition| pb::CreateCustomerGroupRequest {
        actor: OWNER.into(),
        customer_group: Some(pb::CustomerGroup {
            partner: PARTNER.into(),
            name: "G".into(),
            condition: Some(condition),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let no_test = p
        .api
        .create_customer_group(group(pb::GroupCondition::default()))
        .await;
    assert_eq!(field_of(no_test.unwrap_err()), "customer_group.condition");
    let mut deep = tag_is("eu");
    for _ in 0..5 {
        deep = pb::GroupCondition {
            test: Some(pb::group_condition::Test::Any(pb::GroupConditions {
                terms: vec![deep],
            })),
        };
    }
    let too_deep = p.api.create_customer_group(group(deep)).await;
    assert!(
        field_of(too_deep.unwrap_err()).starts_with("customer_group.condition"),
        "names the nested condition"
    );
    let both_scopes = p
        .api
        .create_partner_role(pb::CreatePartnerRoleRequest {
            actor: OWNER.into(),
            partner_role: Some(pb::PartnerRole {
                scope: Some(pb::CustomerScope {
                    all_customers: true,
                    customer_groups: vec!["eu".into()],
                }),
                ..role("r", pb::CustomerAccess::None, &[])
            }),
            request_id: String::new(),
        })
        .await;
    assert_eq!(field_of(both_scopes.unwrap_err()), "partner_role.scope");
    let unknown_permission = p
        .api
        .create_partner_role(pb::CreatePartnerRoleRequest {
            actor: OWNER.into(),
            partner_role: Some(pb::PartnerRole {
                platform_permissions: vec!["tenants.delete".into()],
                ..role("r", pb::CustomerAccess::None, &[])
            }),
            request_id: String::new(),
        })
        .await;
    assert_eq!(
        field_of(unknown_permission.unwrap_err()),
        "platform_permissions"
    );
    let past = p
        .api
        .invite_partner_user(pb::InvitePartnerUserRequest {
            actor: OWNER.into(),
            partner: PARTNER.into(),
            email: "x@msp.example".into(),
            display_name: "X".into(),
            roles: vec![pb::PartnerRoleMembership {
                role: "administrator".into(),
                until: Some(prost_types::Timestamp {
                    seconds: 1,
                    nanos: 0,
                }),
            }],
            ..Default::default()
        })
        .await;
    assert_eq!(field_of(past.unwrap_err()), "roles[0].until");
    let no_customers = p
        .api
        .add_group_customers(pb::GroupCustomersRequest {
            actor: OWNER.into(),
            partner: PARTNER.into(),
            customer_group: "g".into(),
            customers: Vec::new(),
        })
        .await;
    assert_eq!(field_of(no_customers.unwrap_err()), "customers");
    let bad_mask = p
        .api
        .update_customer(pb::UpdateCustomerRequest {
            actor: OWNER.into(),
            customer: Some(customer("c", &[])),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["groups".into()],
            }),
            etag: String::new(),
        })
        .await;
    assert_eq!(field_of(bad_mask.unwrap_err()), "update_mask");
    let no_partner = p
        .api
        .get_partner(pb::GetPartnerRequest {
            actor: OWNER.into(),
            partner: String::new(),
        })
        .await;
    assert_eq!(field_of(no_partner.unwrap_err()), "partner");
}

#[tokio::test]
async fn a_caller_confined_to_tenants_is_refused_every_partner_call() {
    const CONFINED: &str = "confined-token-0123456789abcdef";
    let dir = tempfile::tempdir().unwrap();
    let confined = TestCaller {
        tenants: Some(&["acme"]),
        ..TestCaller::full("acme-portal", CONFINED)
    };
    let path = write_callers(dir.path(), "", &[confined]);
    let server = TestServer::start_with(
        Arc::new(SystemClock),
        &[("callers_file", path.to_str().unwrap())],
    )
    .await;
    let mut api = pb::partner_service_client::PartnerServiceClient::new(server.channel().await);
    let get = api
        .get_partner(with_token(
            pb::GetPartnerRequest {
                actor: OWNER.into(),
                partner: PARTNER.into(),
            },
            CONFINED,
        ))
        .await;
    assert_eq!(reason(get, Code::PermissionDenied), "PARTNERS_NOT_ALLOWED");
    // Even naming its own tenant: linking it to a customer opens it to the partner.
    let link = api
        .set_tenant_customer(with_token(
            pb::SetTenantCustomerRequest {
                tenant: "acme".into(),
                customer: "contoso".into(),
            },
            CONFINED,
        ))
        .await;
    assert_eq!(reason(link, Code::PermissionDenied), "PARTNERS_NOT_ALLOWED");
}
