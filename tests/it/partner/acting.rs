//! Partner users acting inside a customer's tenant through the tenant management API,
//! over real gRPC: the actor-partner header makes the actor a user of that partner; it
//! acts as the service administrator its roles make it, and the tenant's audit trail and
//! Watch name its partner.

use authzd::api::{
    ACTOR_PARTNER_HEADER,
    pb::{self, audit_service_client::AuditServiceClient, user_service_client::UserServiceClient},
};
use tonic::{Code, Request};

use super::{OWNER, PARTNER, Partners, reason, started};

const TENANT: &str = "contoso-prod";
const TENANT_OWNER: &str = "contoso-prod-owner";

/// A request made by `actor`, as a user of `partner` when one is given.
fn as_actor<T>(message: T, partner: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(partner) = partner {
        request
            .metadata_mut()
            .insert(ACTOR_PARTNER_HEADER, partner.parse().unwrap());
    }
    request
}

fn invite(actor: &str, id: &str) -> pb::InviteUserRequest {
    pb::InviteUserRequest {
        actor: actor.into(),
        tenant: TENANT.into(),
        id: id.into(),
        email: format!("{id}@contoso.example"),
        display_name: format!("User {id}"),
        ..Default::default()
    }
}

fn get_user(actor: &str, user: &str) -> pb::UserRefRequest {
    pb::UserRefRequest {
        actor: actor.into(),
        tenant: TENANT.into(),
        user: user.into(),
        etag: String::new(),
    }
}

/// A partner with customer `contoso` (tenant `contoso-prod`); `pat` holds a service
/// administrator role over every customer, `tina` a tenant-user role.
async fn partner_with_a_tenant(p: &mut Partners) {
    p.role("admins", pb::CustomerAccess::ServiceAdministrator, &[])
        .await;
    p.role("viewers", pb::CustomerAccess::TenantUser, &[]).await;
    p.user("pat", &[("admins", None)]).await;
    p.user("tina", &[("viewers", None)]).await;
    p.customer("contoso", &[]).await;
    p.tenant(TENANT, "contoso").await;
}

#[tokio::test]
async fn a_partner_service_administrator_acts_in_the_tenant_and_the_trail_names_its_partner() {
    let (server, mut p) = started().await;
    partner_with_a_tenant(&mut p).await;
    let channel = server.channel().await;
    let mut users = UserServiceClient::new(channel.clone());
    let invited = users
        .invite_user(as_actor(invite("pat", "dana"), Some(PARTNER)))
        .await
        .unwrap()
        .into_inner();
    let revision = invited.revision;
    // Partner actors read the tenant's data too.
    let dana = users
        .get_user(as_actor(get_user("pat", "dana"), Some(PARTNER)))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(dana.id, "dana");

    // The tenant's owner sees the partner's action in the tenant's audit trail.
    let mut audit = AuditServiceClient::new(channel);
    let list = |by_actor_partner: &str| pb::ListAuditEventsRequest {
        actor: TENANT_OWNER.into(),
        filter: Some(pb::AuditFilter {
            tenant: TENANT.into(),
            by_actor_partner: by_actor_partner.into(),
            ..Default::default()
        }),
        page_size: 100,
        page_token: String::new(),
    };
    let events = audit
        .list_audit_events(list(""))
        .await
        .unwrap()
        .into_inner()
        .events;
    let by_pat = events
        .iter()
        .find(|e| e.method == "authz.v1.UserService/InviteUser")
        .expect("the invitation is in the tenant's trail");
    assert_eq!(by_pat.actor, "pat");
    assert_eq!(by_pat.actor_partner, PARTNER);
    assert!(by_pat.allowed);
    assert_eq!(by_pat.revision, revision);
    let only_partner = audit
        .list_audit_events(list(PARTNER))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(!only_partner.is_empty());
    assert!(only_partner.iter().all(|e| e.actor_partner == PARTNER));
    // The partner user reads the trail as a service administrator would.
    let mut as_pat = list("");
    as_pat.actor = "pat".into();
    audit
        .list_audit_events(as_actor(as_pat, Some(PARTNER)))
        .await
        .unwrap();

    // Watch carries the partner too.
    let event = p.first_event_after(revision - 1, &[]).await;
    assert_eq!(event.revision, revision);
    assert_eq!(event.actor, "pat");
    assert_eq!(event.actor_partner, PARTNER);
}

#[tokio::test]
async fn partner_actors_are_refused_by_the_rule_that_stops_them() {
    let (server, mut p) = started().await;
    partner_with_a_tenant(&mut p).await;
    let mut users = UserServiceClient::new(server.channel().await);
    // Without the header `pat` would be a user of the tenant, which it is not.
    let result = users.invite_user(as_actor(invite("pat", "u1"), None)).await;
    assert_eq!(
        reason(result, Code::PermissionDenied),
        "actor_must_be_a_tenant_user"
    );
    // A partner whose customers do not own the tenant.
    let result = users
        .invite_user(as_actor(invite("pat", "u2"), Some("other-msp")))
        .await;
    assert_eq!(
        reason(result, Code::PermissionDenied),
        "tenant_must_belong_to_the_partners_customers"
    );
    // Tenant-user access: reads, no changes.
    let result = users
        .invite_user(as_actor(invite("tina", "u3"), Some(PARTNER)))
        .await;
    assert_eq!(
        reason(result, Code::PermissionDenied),
        "partner_service_administrator_access_required"
    );
    users
        .get_user(as_actor(get_user("tina", TENANT_OWNER), Some(PARTNER)))
        .await
        .unwrap();
    // Not a user of the partner.
    let result = users
        .invite_user(as_actor(invite("nobody", "u4"), Some(PARTNER)))
        .await;
    assert_eq!(
        reason(result, Code::PermissionDenied),
        "actor_must_be_a_partner_user"
    );
    // The role taken away: the reach ends at once.
    p.api
        .remove_partner_role_member(pb::PartnerRoleMemberRequest {
            actor: OWNER.into(),
            partner: PARTNER.into(),
            partner_role: "admins".into(),
            user: "pat".into(),
            until: None,
        })
        .await
        .unwrap();
    let result = users
        .invite_user(as_actor(invite("pat", "u5"), Some(PARTNER)))
        .await;
    assert_eq!(
        reason(result, Code::PermissionDenied),
        "partner_role_must_reach_the_tenant"
    );
    // A header that is no partner id names the header and the rule.
    let result = users
        .invite_user(as_actor(invite("pat", "u6"), Some("Not An Id!")))
        .await;
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains(ACTOR_PARTNER_HEADER),
        "{status:?}"
    );
    // None of the refused invitations left a trace.
    for id in ["u1", "u2", "u3", "u4", "u5", "u6"] {
        let result = users
            .get_user(as_actor(get_user(TENANT_OWNER, id), None))
            .await;
        assert_eq!(result.unwrap_err().code(), Code::NotFound, "{id}");
    }
}
