//! Customers and their tenants over real gRPC: a tenant created for a customer is linked
//! to it, and what customers, tenants and roles still use is not deleted.

use tonic::Code;
use tonic_types::StatusExt;

use super::{OWNER, PARTNER, group_ref, reason, role_ref, started, tag_is};
use authzd::api::pb;

#[tokio::test]
async fn deleting_a_customer_with_tenants_is_refused_until_they_are_unlinked() {
    let (_server, mut p) = started().await;
    p.customer("contoso", &[]).await;
    p.tenant("contoso-prod", "contoso").await;
    let customer_ref = || pb::CustomerRefRequest {
        actor: OWNER.into(),
        partner: PARTNER.into(),
        customer: "contoso".into(),
        etag: String::new(),
    };
    let refused = p.api.delete_customer(customer_ref()).await;
    assert_eq!(
        reason(refused, Code::FailedPrecondition),
        "CUSTOMER_HAS_TENANTS"
    );
    let unlinked = p
        .api
        .set_tenant_customer(pb::SetTenantCustomerRequest {
            tenant: "contoso-prod".into(),
            customer: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(unlinked.tenant.unwrap().customer.is_empty());
    p.api.delete_customer(customer_ref()).await.unwrap();
}

#[tokio::test]
async fn deleting_a_group_a_role_uses_is_refused() {
    let (_server, mut p) = started().await;
    p.group("eu", Some(tag_is("eu"))).await;
    p.role(
        "eu-admins",
        pb::CustomerAccess::ServiceAdministrator,
        &["eu"],
    )
    .await;
    let refused = p.api.delete_customer_group(group_ref(OWNER, "eu")).await;
    let status = refused.unwrap_err();
    assert!(
        status.message().contains("eu-admins"),
        "{}",
        status.message()
    );
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "CUSTOMER_GROUP_IN_USE"
    );
    p.api
        .delete_partner_role(role_ref(OWNER, "eu-admins"))
        .await
        .unwrap();
    p.api
        .delete_customer_group(group_ref(OWNER, "eu"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_tenant_created_for_a_customer_is_linked_to_it_and_an_unknown_customer_is_refused() {
    let (_server, mut p) = started().await;
    p.customer("contoso", &[]).await;
    p.tenant("contoso-prod", "contoso").await;
    let customer = p
        .api
        .get_customer(pb::CustomerRefRequest {
            actor: OWNER.into(),
            partner: PARTNER.into(),
            customer: "contoso".into(),
            etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(customer.tenants, ["contoso-prod"]);
    let unknown = p
        .platform
        .create_tenant(pb::CreateTenantRequest {
            id: "nobody-prod".into(),
            name: "Nobody".into(),
            customer: "nobody".into(),
            owner_email: "owner@nobody.example".into(),
            owner_display_name: "Owner".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(reason(unknown, Code::NotFound), "NOT_FOUND");
}
