//! Callers over real gRPC: no answer without a credential, scopes, tenant confinement on
//! every method of the descriptor set, the recorded caller, limits and reloads.

use std::{sync::Arc, time::Duration};

use authzd::{
    api::pb::{
        self, check_service_client::CheckServiceClient,
        platform_service_client::PlatformServiceClient, watch_service_client::WatchServiceClient,
    },
    app::SystemClock,
};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor, Value};
use tonic::{Code, Request, Status, metadata::MetadataMap, transport::Channel};
use tonic_types::StatusExt as _;

use crate::{
    check::world,
    support::{
        callers::{TestCaller, write_callers},
        raw::{bearer, call, server_info},
        server::TestServer,
    },
};

const ADMIN: &str = "admin-token-0123456789abcdef";
const ACME_ONLY: &str = "acme-only-token-0123456789";
const CHECKER: &str = "checker-token-0123456789abcdef";
const SLOW: &str = "slow-token-0123456789abcdef";
const ONE_STREAM: &str = "one-stream-token-0123456789";
const ONE_CONNECTION: &str = "one-connection-token-0123456789";

fn callers() -> Vec<TestCaller> {
    vec![
        TestCaller::full("platform-admin", ADMIN),
        TestCaller {
            tenants: Some(&["acme"]),
            ..TestCaller::full("acme-portal", ACME_ONLY)
        },
        TestCaller {
            scopes: &["check"],
            ..TestCaller::full("restore-service", CHECKER)
        },
        TestCaller {
            scopes: &["check"],
            extra: "rate_per_second = 1\nburst = 2",
            ..TestCaller::full("slow-service", SLOW)
        },
        TestCaller {
            scopes: &["watch"],
            extra: "max_watch_streams = 1",
            ..TestCaller::full("one-sidecar", ONE_STREAM)
        },
        TestCaller {
            scopes: &["check"],
            extra: "max_connections = 1",
            ..TestCaller::full("one-connection", ONE_CONNECTION)
        },
    ]
}

/// A server with [`callers`] and the check world (tenant `acme`) plus a second tenant,
/// `globex`.
async fn secured() -> (tempfile::TempDir, TestServer, Channel) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_callers(dir.path(), "", &callers());
    let server = TestServer::start_with(
        Arc::new(SystemClock),
        &[("callers_file", path.to_str().unwrap())],
    )
    .await;
    let mut mutations = world();
    mutations.push(authzd::engine::Mutation::CreateTenant {
        tenant: authzd::engine::TenantId::parse("globex").unwrap(),
        name: "Globex".into(),
        customer: None,
        owner: authzd::engine::NewUser {
            user: authzd::engine::UserId::parse("gowner").unwrap(),
            email: "owner@globex.example".into(),
            display_name: "G".into(),
            kind: authzd::engine::UserKind::Local,
        },
    });
    server.apply(mutations).await;
    let channel = server.channel().await;
    (dir, server, channel)
}

fn pool() -> DescriptorPool {
    DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).unwrap()
}

/// Every method of every `authz.v1` service: (path, input, server-streaming).
fn methods() -> Vec<(String, MessageDescriptor, bool)> {
    pool()
        .services()
        .filter(|s| s.package_name() == "authz.v1")
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .map(|m| {
            (
                format!("{}/{}", m.parent_service().full_name(), m.name()),
                m.input(),
                m.is_server_streaming(),
            )
        })
        .collect()
}

fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

fn with_token<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    *request.metadata_mut() = bearer(token);
    request
}

/// A check the world allows: alice may restore site1 (through a security group).
fn alice_restores_site1() -> pb::CheckRequest {
    pb::CheckRequest {
        tenant: "acme".into(),
        service: "crm-backup".into(),
        user: "alice".into(),
        permission: "restore.run".into(),
        object: "site1".into(),
        ..Default::default()
    }
}

/// The audit trail as the caller of `token` may read it.
async fn audit_events(channel: &Channel, token: &str) -> Vec<pb::AuditEvent> {
    pb::audit_service_client::AuditServiceClient::new(channel.clone())
        .list_audit_events(with_token(token, pb::ListAuditEventsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .events
}

#[tokio::test]
async fn every_method_but_health_answers_unauthenticated_without_a_credential() {
    let (_dir, server, channel) = secured().await;
    let before = server.app().revision();
    let methods = methods();
    assert!(methods.len() >= 59, "{} methods", methods.len());
    for (path, _, streaming) in &methods {
        // A connection of its own per method: one that keeps presenting bad credentials
        // is closed (see the next test).
        let channel = server.channel().await;
        for metadata in [MetadataMap::new(), bearer("not-the-token-of-anyone")] {
            let status = call(&channel, path, *streaming, Vec::new(), metadata)
                .await
                .expect_err(path);
            assert_eq!(status.code(), Code::Unauthenticated, "{path}: {status:?}");
            assert!(
                ["CREDENTIAL_MISSING", "CREDENTIAL_INVALID"].contains(&reason(&status).as_str()),
                "{path}: {status:?}"
            );
        }
    }
    // A malformed header is refused as such.
    let mut malformed = MetadataMap::new();
    malformed.insert("authorization", "Basic abc".parse().unwrap());
    let status = call(
        &channel,
        "authz.v1.ServerService/GetServerInfo",
        false,
        Vec::new(),
        malformed,
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&status), "CREDENTIAL_MALFORMED");
    // Health answers anyone: probes carry no credential.
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, 1, "SERVING");
    assert_eq!(server.app().revision(), before, "nothing was written");
}

#[tokio::test]
async fn a_connection_that_keeps_presenting_bad_credentials_is_answered_ever_more_slowly() {
    let (_dir, _server, channel) = secured().await;
    let info = |token: &'static str| {
        let channel = channel.clone();
        async move { server_info(&channel, Some(token)).await }
    };
    // Refusals in a row are answered as such, the first few at once and the later ones
    // held back (up to a second); sent together, they wait together.
    let refusals: Vec<_> = (0..63)
        .map(|_| tokio::spawn(info("not-the-token-of-anyone")))
        .collect();
    for refusal in refusals {
        assert_eq!(
            refusal.await.unwrap().unwrap_err().code(),
            Code::Unauthenticated
        );
    }
    // The next one waits a whole second.
    let sent = std::time::Instant::now();
    let status = info("not-the-token-of-anyone").await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(sent.elapsed() >= std::time::Duration::from_secs(1));
    // The connection stays open: a good caller on it is served.
    info(ADMIN).await.unwrap();
}

#[tokio::test]
async fn a_caller_without_the_scope_is_denied_naming_it_and_one_with_it_is_answered() {
    let (_dir, _server, channel) = secured().await;
    let check = alice_restores_site1();
    let answer = CheckServiceClient::new(channel.clone())
        .check(with_token(CHECKER, check.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.decision, pb::Decision::Allowed as i32);
    let status = PlatformServiceClient::new(channel.clone())
        .register_service(with_token(CHECKER, pb::RegisterServiceRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason(&status), "SCOPE_MISSING");
    assert!(status.message().contains("`platform` scope"), "{status:?}");
    assert!(status.message().contains("restore-service"), "{status:?}");
    let status = WatchServiceClient::new(channel)
        .watch(with_token(CHECKER, pb::WatchRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "SCOPE_MISSING");
}

/// A message of `input` whose every tenant field (at any depth) names `tenant`.
fn naming_tenant(input: &MessageDescriptor, tenant: &str, depth: usize) -> Option<DynamicMessage> {
    let mut message = DynamicMessage::new(input.clone());
    let mut named = false;
    for field in input.fields() {
        let is_tenant = matches!(field.name(), "tenant" | "tenants")
            || (input.full_name() == "authz.v1.CreateTenantRequest" && field.name() == "id");
        match field.kind() {
            Kind::String if is_tenant => {
                let value = Value::String(tenant.to_owned());
                message.set_field(
                    &field,
                    if field.is_list() {
                        Value::List(vec![value])
                    } else {
                        value
                    },
                );
                named = true;
            }
            Kind::Message(inner) if depth < 4 && !field.is_list() && !field.is_map() => {
                if let Some(nested) = naming_tenant(&inner, tenant, depth + 1) {
                    message.set_field(&field, Value::Message(nested));
                    named = true;
                }
            }
            _ => {}
        }
    }
    named.then_some(message)
}

#[tokio::test]
async fn a_caller_confined_to_acme_gets_nothing_of_globex_from_any_method() {
    let (_dir, server, channel) = secured().await;
    let before = server.app().revision();
    let narrowed = [
        "authz.v1.ServerService/GetServerInfo",
        "authz.v1.WatchService/Watch",
        "authz.v1.AuditService/ListAuditEvents",
        "authz.v1.AuditService/ExportAuditEvents",
    ];
    let mut tenant_methods = 0;
    for (path, input, streaming) in methods() {
        let request = naming_tenant(&input, "globex", 0);
        let body = request
            .as_ref()
            .map(prost::Message::encode_to_vec)
            .unwrap_or_default();
        let answer = call(&channel, &path, streaming, body, bearer(ACME_ONLY)).await;
        if path.starts_with("authz.v1.PartnerService/") {
            // Partners lie beyond any tenant: refused whatever tenant the request names.
            let status = answer.expect_err(&path);
            assert_eq!(status.code(), Code::PermissionDenied, "{path}: {status:?}");
            assert_eq!(reason(&status), "PARTNERS_NOT_ALLOWED", "{path}");
        } else if request.is_some() {
            tenant_methods += 1;
            let status = answer.expect_err(&path);
            assert_eq!(status.code(), Code::PermissionDenied, "{path}: {status:?}");
            assert_eq!(reason(&status), "TENANT_NOT_ALLOWED", "{path}");
            assert!(status.message().contains("globex"), "{path}: {status:?}");
        } else if !narrowed.contains(&path.as_str()) {
            let status = answer.expect_err(&path);
            assert_eq!(reason(&status), "TENANT_REQUIRED", "{path}: {status:?}");
        }
    }
    assert!(
        tenant_methods >= 50,
        "{tenant_methods} methods name a tenant"
    );
    assert_eq!(server.app().revision(), before, "nothing was written");
}

#[tokio::test]
async fn a_confined_callers_unfiltered_stream_and_audit_reads_hold_only_its_tenants() {
    let (_dir, _server, channel) = secured().await;
    let mut platform = PlatformServiceClient::new(channel.clone());
    // A platform-wide change, then one in each tenant, made by the platform caller.
    platform
        .register_service(with_token(
            ADMIN,
            pb::RegisterServiceRequest {
                service: Some(pb::ServiceDefinition {
                    id: "exporter".into(),
                    display_name: "Exporter".into(),
                    permissions: vec!["export.run".into()],
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    for tenant in ["acme", "globex"] {
        platform
            .subscribe_service(with_token(
                ADMIN,
                pb::SubscribeServiceRequest {
                    tenant: tenant.into(),
                    service: "exporter".into(),
                },
            ))
            .await
            .unwrap();
    }
    let mut stream = WatchServiceClient::new(channel.clone())
        .watch(with_token(
            ACME_ONLY,
            pb::WatchRequest {
                start_revision: Some(0),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut tenants = Vec::new();
    let mut callers = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match message.message.unwrap() {
            pb::watch_response::Message::Event(event) => {
                tenants.push(event.tenant.clone());
                callers.push(event.caller.clone());
            }
            pb::watch_response::Message::Checkpoint(_) => break,
        }
    }
    assert!(!tenants.is_empty());
    assert!(tenants.iter().all(|t| t == "acme"), "{tenants:?}");
    // The change made through the API names the authenticated caller, not a header.
    assert_eq!(callers.last().map(String::as_str), Some("platform-admin"));

    let all = audit_events(&channel, ADMIN).await;
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all.iter().all(|e| e.caller == "platform-admin"));
    let mine = audit_events(&channel, ACME_ONLY).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].tenant, "acme");
}

#[tokio::test]
async fn a_header_naming_another_caller_changes_nothing_recorded() {
    let (_dir, _server, channel) = secured().await;
    let mut request = with_token(
        ADMIN,
        pb::SubscribeServiceRequest {
            tenant: "globex".into(),
            service: "crm-backup".into(),
        },
    );
    request
        .metadata_mut()
        .insert("x-authzd-caller", "someone-else".parse().unwrap());
    PlatformServiceClient::new(channel.clone())
        .subscribe_service(request)
        .await
        .unwrap();
    let events = audit_events(&channel, ADMIN).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].caller, "platform-admin");
}

#[tokio::test]
async fn a_caller_over_its_rate_is_told_when_to_retry_and_others_are_not_slowed() {
    let (_dir, _server, channel) = secured().await;
    let check = alice_restores_site1();
    let mut client = CheckServiceClient::new(channel.clone());
    let mut limited = None;
    // A burst of 2 and 1 per second: the fourth quick call cannot all pass.
    for _ in 0..4 {
        if let Err(status) = client.check(with_token(SLOW, check.clone())).await {
            limited = Some(status);
            break;
        }
    }
    let status = limited.expect("the bucket ran dry");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(reason(&status), "RATE_LIMITED");
    let retry = status.get_details_retry_info().expect("RetryInfo");
    assert!(retry.retry_delay.unwrap() <= Duration::from_secs(1));
    // Another caller's bucket is its own.
    client.check(with_token(CHECKER, check)).await.unwrap();
}

#[tokio::test]
async fn a_caller_holds_at_most_its_watch_streams_and_a_closed_one_frees_its_slot() {
    let (_dir, _server, channel) = secured().await;
    let mut client = WatchServiceClient::new(channel.clone());
    let first = client
        .watch(with_token(ONE_STREAM, pb::WatchRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let status = client
        .watch(with_token(ONE_STREAM, pb::WatchRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(reason(&status), "WATCH_STREAMS_EXHAUSTED");
    drop(first);
    // The server notices the reset stream asynchronously; the slot comes back. A client
    // gets no signal of it, so the call is tried again until it is admitted.
    let mut reopened = None;
    for _ in 0..200 {
        match client
            .watch(with_token(ONE_STREAM, pb::WatchRequest::default()))
            .await
        {
            Ok(stream) => {
                reopened = Some(stream);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    assert!(reopened.is_some(), "the slot was never freed");
}

#[tokio::test]
async fn a_request_over_the_size_limit_is_resource_exhausted() {
    let (_dir, server, channel) = secured().await;
    let before = server.app().revision();
    let huge = pb::CheckRequest {
        tenant: "acme".into(),
        user: "x".repeat(2 << 20),
        ..Default::default()
    };
    for token in [CHECKER, ACME_ONLY] {
        let status = call(
            &channel,
            "authz.v1.CheckService/Check",
            false,
            huge.encode_to_vec(),
            bearer(token),
        )
        .await
        .unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert_eq!(reason(&status), "REQUEST_TOO_LARGE");
    }
    assert_eq!(server.app().revision(), before);
}

#[tokio::test]
async fn a_changed_callers_file_is_picked_up_and_a_broken_one_keeps_the_old_callers() {
    let dir = tempfile::tempdir().unwrap();
    let first = [TestCaller::full("first", ADMIN)];
    let path = write_callers(dir.path(), "", &first);
    let server = TestServer::start_with(
        Arc::new(SystemClock),
        // Reloaded by the test alone, not by the timer.
        &[
            ("callers_file", path.to_str().unwrap()),
            ("reload_interval", "1h"),
        ],
    )
    .await;
    let channel = server.channel().await;
    let info = |token: &'static str| {
        let channel = channel.clone();
        async move { server_info(&channel, Some(token)).await }
    };
    info(ADMIN).await.unwrap();
    // Replaced by a file with another caller: the old token stops working, the new works.
    write_callers(dir.path(), "", &[TestCaller::full("second", CHECKER)]);
    assert!(server.auth().reload_if_changed().unwrap());
    info(CHECKER).await.unwrap();
    assert_eq!(info(ADMIN).await.unwrap_err().code(), Code::Unauthenticated);
    assert!(
        !server.auth().reload_if_changed().unwrap(),
        "nothing changed"
    );
    // A broken file: the callers in place stay.
    std::fs::write(&path, "[[callers]]\nname = \"x\"\nscopes = [\"nope\"]\n").unwrap();
    let err = server.auth().reload_if_changed().unwrap_err();
    assert!(err.to_string().contains("callers.toml"), "{err}");
    info(CHECKER).await.unwrap();
}

#[tokio::test]
async fn a_caller_uses_at_most_its_connections_and_a_closed_one_frees_its_place() {
    let (_dir, server, first) = secured().await;
    let info = |channel: Channel| async move { server_info(&channel, Some(ONE_CONNECTION)).await };
    info(first.clone()).await.unwrap();
    info(first.clone()).await.unwrap();
    let second = server.channel().await;
    let status = info(second.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(reason(&status), "CONNECTIONS_EXHAUSTED");
    // Other callers are not counted against it.
    server_info(&second, Some(ADMIN)).await.unwrap();
    drop(first);
    // The server sees the first connection close asynchronously; its place comes back. A
    // client gets no signal of it, so the call is tried again until it is admitted.
    let mut admitted = false;
    for _ in 0..200 {
        if info(second.clone()).await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(admitted, "the closed connection's place was never freed");
}
