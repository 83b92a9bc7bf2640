//! Checks of partner users over real gRPC: they follow a dynamic group's membership and a
//! role membership's end at once, and explain names the role and the group.

use std::sync::Arc;

use authzd::{api::pb, app::ManualClock, engine::Timestamp};
use tonic::Code;
use tonic_types::StatusExt;

use super::{OWNER, decision, denial, group_ref, started, started_with, tag_is, timestamp};

#[tokio::test]
async fn a_dynamic_group_follows_a_customer_s_tags_and_checks_follow_the_group() {
    let (_server, mut p) = started().await;
    p.group("eu", Some(tag_is("eu"))).await;
    p.role(
        "eu-admins",
        pb::CustomerAccess::ServiceAdministrator,
        &["eu"],
    )
    .await;
    p.user("pat", &[("eu-admins", None)]).await;
    let contoso = p.customer("contoso", &["eu"]).await;
    assert_eq!(contoso.groups, ["eu"]);
    p.tenant("contoso-prod", "contoso").await;
    let allowed = p.check("contoso-prod", "pat").await;
    assert_eq!(decision(&allowed), pb::Decision::Allowed);
    // The customer leaves the group with its tag, at once.
    p.tag("contoso", &["us"]).await;
    let members = p
        .api
        .get_customer_group(group_ref(OWNER, "eu"))
        .await
        .unwrap()
        .into_inner()
        .customer_group
        .unwrap();
    assert_eq!(members.customer_count, 0);
    let denied = p.check("contoso-prod", "pat").await;
    assert_eq!(decision(&denied), pb::Decision::Denied);
    assert_eq!(denial(&denied), pb::DenialReason::NoPartnerRole);
    // A customer that joins later is reached at once.
    p.customer("fabrikam", &["eu"]).await;
    p.tenant("fabrikam-prod", "fabrikam").await;
    let later = p.check("fabrikam-prod", "pat").await;
    assert_eq!(decision(&later), pb::Decision::Allowed);
    // And the first one again when it gets the tag back.
    p.tag("contoso", &["eu", "us"]).await;
    let again = p.check("contoso-prod", "pat").await;
    assert_eq!(decision(&again), pb::Decision::Allowed);
}

#[tokio::test]
async fn a_time_bound_membership_ends_at_its_until_and_one_in_the_past_is_refused() {
    let start = Timestamp::from_unix_millis(1_900_000_000_000);
    let clock = Arc::new(ManualClock::new(start));
    let (_server, mut p) = started_with(clock.clone()).await;
    p.group("eu", Some(tag_is("eu"))).await;
    p.role(
        "eu-admins",
        pb::CustomerAccess::ServiceAdministrator,
        &["eu"],
    )
    .await;
    p.user("pat", &[]).await;
    p.customer("contoso", &["eu"]).await;
    p.tenant("contoso-prod", "contoso").await;
    let past = p
        .add_member("eu-admins", "pat", Some(start.plus_millis(-1)))
        .await;
    let status = past.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.get_details_bad_request().unwrap().field_violations[0].field,
        "until"
    );
    let until = start.plus_millis(60_000);
    let role = p.add_member("eu-admins", "pat", Some(until)).await.unwrap();
    assert_eq!(role.members[0].until, Some(timestamp(until)));
    let during = p.check("contoso-prod", "pat").await;
    assert_eq!(decision(&during), pb::Decision::Allowed);
    let trace = &during.explanation.unwrap().grants[0];
    assert_eq!(trace.expires_at, Some(timestamp(until)));
    clock.advance_millis(60_000);
    let after = p.check("contoso-prod", "pat").await;
    assert_eq!(decision(&after), pb::Decision::Denied);
    assert_eq!(denial(&after), pb::DenialReason::NoPartnerRole);
}

#[tokio::test]
async fn explain_names_the_partner_role_and_the_customer_group() {
    let (_server, mut p) = started().await;
    p.group("eu", Some(tag_is("eu"))).await;
    p.role(
        "eu-admins",
        pb::CustomerAccess::ServiceAdministrator,
        &["eu"],
    )
    .await;
    p.user("pat", &[("eu-admins", None)]).await;
    p.customer("contoso", &["eu"]).await;
    p.tenant("contoso-prod", "contoso").await;
    let allowed = p.check("contoso-prod", "pat").await;
    let grants = allowed.explanation.unwrap().grants;
    assert_eq!(grants.len(), 1, "{grants:?}");
    let source = grants[0].source.as_ref().unwrap();
    assert_eq!(
        pb::SourceKind::try_from(source.kind).unwrap(),
        pb::SourceKind::PartnerRole
    );
    assert_eq!(source.id, "eu-admins");
    assert_eq!(source.customer_group, "eu");
    // The owner holds the Administrator role, which reaches every customer.
    let owner = p.check("contoso-prod", OWNER).await;
    let source = owner.explanation.unwrap().grants[0].source.clone().unwrap();
    assert_eq!(source.id, "administrator");
    assert!(source.customer_group.is_empty());
}

#[tokio::test]
async fn a_partner_user_with_tenant_user_access_is_denied_service_permissions() {
    let (_server, mut p) = started().await;
    p.role("helpdesk", pb::CustomerAccess::TenantUser, &[])
        .await;
    p.user("tess", &[("helpdesk", None)]).await;
    p.customer("contoso", &[]).await;
    p.tenant("contoso-prod", "contoso").await;
    let denied = p.check("contoso-prod", "tess").await;
    assert_eq!(decision(&denied), pb::Decision::Denied);
    assert_eq!(denial(&denied), pb::DenialReason::PartnerTenantUserOnly);
}
