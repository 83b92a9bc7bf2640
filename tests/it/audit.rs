//! The audit trail over real gRPC: a scripted session's calls, allowed and refused, and
//! exactly those, listed, paged, filtered and exported.

use std::sync::Arc;

use authzd::{
    api::pb::{
        self, audit_service_client::AuditServiceClient, group_service_client::GroupServiceClient,
        platform_service_client::PlatformServiceClient, user_service_client::UserServiceClient,
    },
    app::SystemClock,
};
use tonic::{Code, Request, transport::Channel};

use crate::support::{acme::user_ref, server::TestServer};

const TOKEN: &str = "platform-token-for-tests";

fn platform<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    request
}

fn invite(actor: &str, id: &str, email: &str) -> pb::InviteUserRequest {
    pb::InviteUserRequest {
        actor: actor.into(),
        tenant: "acme".into(),
        id: id.into(),
        email: email.into(),
        display_name: id.into(),
        ..Default::default()
    }
}

/// The session: (method, actor, target, outcome code or "" for allowed, rule).
async fn scripted_session(
    channel: &Channel,
) -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
)> {
    let mut platform_client = PlatformServiceClient::new(channel.clone());
    let mut users = UserServiceClient::new(channel.clone());
    let mut groups = GroupServiceClient::new(channel.clone());
    platform_client
        .register_service(platform(pb::RegisterServiceRequest {
            service: Some(pb::ServiceDefinition {
                id: "crm".into(),
                display_name: "CRM".into(),
                permissions: vec!["restore.run".into()],
                ..Default::default()
            }),
            request_id: String::new(),
        }))
        .await
        .unwrap();
    platform_client
        .create_tenant(platform(crate::support::acme::tenant_request()))
        .await
        .unwrap();
    users
        .invite_user(pb::InviteUserRequest {
            request_id: "req-1".into(),
            ..invite("olivia", "bob", "bob@acme.example")
        })
        .await
        .unwrap();
    // bob is only invited: he acts on nothing.
    let inactive = users
        .invite_user(invite("bob", "carl", "carl@acme.example"))
        .await
        .unwrap_err();
    assert_eq!(inactive.code(), Code::PermissionDenied);
    let bad_email = users
        .invite_user(invite("olivia", "dora", "no-at-sign"))
        .await
        .unwrap_err();
    assert_eq!(bad_email.code(), Code::InvalidArgument);
    let no_name = groups
        .create_group(pb::CreateGroupRequest {
            actor: "olivia".into(),
            tenant: "acme".into(),
            id: "ops".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(no_name.code(), Code::InvalidArgument);
    let stranger = users.get_user(user_ref("nobody", "bob")).await.unwrap_err();
    assert_eq!(stranger.code(), Code::PermissionDenied);
    // An allowed read is recorded too.
    users.get_user(user_ref("olivia", "bob")).await.unwrap();
    users
        .activate_user(user_ref("olivia", "bob"))
        .await
        .unwrap();
    vec![
        (
            "authz.v1.PlatformService/RegisterService",
            "",
            "service crm",
            "",
            "",
        ),
        (
            "authz.v1.PlatformService/CreateTenant",
            "",
            "tenant acme",
            "",
            "",
        ),
        (
            "authz.v1.UserService/InviteUser",
            "olivia",
            "user bob",
            "",
            "",
        ),
        (
            "authz.v1.UserService/InviteUser",
            "bob",
            "user carl",
            "PERMISSION_DENIED",
            "actor_must_be_active",
        ),
        (
            "authz.v1.UserService/InviteUser",
            "olivia",
            "user dora",
            "INVALID_ARGUMENT",
            "FIELD_INVALID",
        ),
        (
            "authz.v1.GroupService/CreateGroup",
            "olivia",
            "id ops",
            "INVALID_ARGUMENT",
            "FIELD_INVALID",
        ),
        (
            "authz.v1.UserService/GetUser",
            "nobody",
            "user bob",
            "PERMISSION_DENIED",
            "actor_must_be_a_tenant_user",
        ),
        ("authz.v1.UserService/GetUser", "olivia", "user bob", "", ""),
        (
            "authz.v1.UserService/ActivateUser",
            "olivia",
            "user bob",
            "",
            "",
        ),
    ]
}

fn summary(event: &pb::AuditEvent) -> (String, String, String, String, String) {
    (
        event.method.clone(),
        event.actor.clone(),
        event.target.clone(),
        event.code.clone(),
        event.rule.clone(),
    )
}

#[tokio::test]
async fn the_audit_trail_holds_exactly_the_calls_of_a_session_allowed_and_refused() {
    let server = TestServer::start_with(Arc::new(SystemClock), &[]).await;
    let channel = server.channel().await;
    let expected = scripted_session(&channel).await;
    let mut audit = AuditServiceClient::new(channel.clone());
    let events = audit
        .list_audit_events(platform(pb::ListAuditEventsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .events;
    let got: Vec<_> = events.iter().map(summary).collect();
    let expected: Vec<_> = expected
        .iter()
        .map(|(m, a, t, c, r)| {
            (
                (*m).to_owned(),
                (*a).to_owned(),
                (*t).to_owned(),
                (*c).to_owned(),
                (*r).to_owned(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    // Details of the records.
    assert!(events.windows(2).all(|w| w[0].id < w[1].id), "in order");
    assert!(events.iter().all(|e| e.allowed == e.code.is_empty()));
    // Nobody is authenticated here: every call is the anonymous caller's (the recorded
    // name of an authenticated caller is tested in `security`).
    assert_eq!(events[0].caller, "anonymous");
    assert_eq!(events[2].request_id, "req-1");
    assert_eq!(events[2].tenant, "acme");
    assert_eq!(events[2].revision, 3, "the change's revision");
    assert!(
        events[3].message.contains("not active"),
        "{}",
        events[3].message
    );
    assert!(events.iter().all(|e| e.at.is_some()));

    // Paging with a stable cursor gives the same records.
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = audit
            .list_audit_events(platform(pb::ListAuditEventsRequest {
                page_size: 4,
                page_token: token.clone(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        paged.extend(page.events.iter().map(|e| e.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(paged, events.iter().map(|e| e.id).collect::<Vec<_>>());

    // Filters: by actor and by target.
    let by_bob = audit
        .list_audit_events(platform(pb::ListAuditEventsRequest {
            filter: Some(pb::AuditFilter {
                by_actor: "bob".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(by_bob.len(), 1);
    assert_eq!(by_bob[0].target, "user carl");
    let about_bob = audit
        .list_audit_events(platform(pb::ListAuditEventsRequest {
            filter: Some(pb::AuditFilter {
                target: "user bob".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(about_bob.len(), 4);
    // Filters: a time range (everything happened within the last hour).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let range = |from: u64, until: u64| pb::AuditFilter {
        from: Some(prost_types::Timestamp {
            seconds: i64::try_from(from).unwrap(),
            nanos: 0,
        }),
        until: Some(prost_types::Timestamp {
            seconds: i64::try_from(until).unwrap(),
            nanos: 0,
        }),
        ..Default::default()
    };
    for (filter, expected) in [
        (range(now - 3600, now + 3600), events.len()),
        (range(now + 3600, now + 7200), 0),
        (range(now - 7200, now - 3600), 0),
    ] {
        let found = audit
            .list_audit_events(platform(pb::ListAuditEventsRequest {
                filter: Some(filter),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .events;
        assert_eq!(found.len(), expected);
    }

    // The owner reads its tenant's records; a standard user reads none.
    let as_owner = audit
        .list_audit_events(pb::ListAuditEventsRequest {
            actor: "olivia".into(),
            filter: Some(pb::AuditFilter {
                tenant: "acme".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(as_owner.iter().all(|e| e.tenant == "acme"));
    assert_eq!(as_owner.len(), 8, "all but the service registration");
    let refused = audit
        .list_audit_events(pb::ListAuditEventsRequest {
            actor: "bob".into(),
            filter: Some(pb::AuditFilter {
                tenant: "acme".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    // The export streams the same records to the end.
    let mut stream = audit
        .export_audit_events(platform(pb::ExportAuditEventsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let mut exported = Vec::new();
    while let Some(event) = stream.message().await.unwrap() {
        exported.push(event);
    }
    assert_eq!(exported, events);
}

#[tokio::test]
async fn audit_records_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in_with(dir.path(), &[]).await;
    let expected = scripted_session(&server.channel().await).await;
    server.stop().await;
    let server = TestServer::start_in_with(dir.path(), &[]).await;
    let events = AuditServiceClient::new(server.channel().await)
        .list_audit_events(platform(pb::ListAuditEventsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.len(), expected.len());
}
