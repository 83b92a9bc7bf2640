//! Metrics over the real binary: its own process, so its recorder counts only its calls.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
};

use authzd::api::pb::{
    self, check_service_client::CheckServiceClient, platform_service_client::PlatformServiceClient,
    watch_service_client::WatchServiceClient,
};
use tonic::transport::Channel;

use crate::{
    check::world,
    support::{process::ServerProcess, server::TestServer},
};

/// `GET /metrics` over plain HTTP/1.0 (the server closes the connection after answering).
fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: authzd\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_owned()
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A revision as a sample value (small in tests, so exact).
fn as_f64(revision: u64) -> f64 {
    f64::from(u32::try_from(revision).unwrap())
}

fn check(user: &str, object: &str) -> pb::CheckRequest {
    pb::CheckRequest {
        tenant: "acme".into(),
        service: "crm-backup".into(),
        user: user.into(),
        permission: "restore.run".into(),
        object: object.into(),
        explain: true,
        consistency: None,
        partner_user: String::new(),
    }
}

#[tokio::test]
async fn metrics_count_calls_decisions_and_the_revision() {
    let dir = tempfile::tempdir().unwrap();
    let setup = TestServer::start_in(dir.path()).await;
    let revision = setup.apply(world()).await.get();
    setup.stop().await;

    // A checkpoint after every change, so that the write below makes one.
    let server = ServerProcess::start(
        dir.path(),
        &["--metrics-listen", "127.0.0.1:0", "--checkpoint-every", "1"],
    );
    let line = server.wait_for_log("serving metrics on http://");
    let metrics_addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .parse()
        .unwrap();
    let before = scrape(metrics_addr);
    assert_eq!(
        sample(&before, "authzd_revision"),
        Some(as_f64(revision)),
        "{before}"
    );

    let channel = Channel::from_shared(server.uri())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut checks = CheckServiceClient::new(channel.clone());
    let allowed = checks.check(check("alice", "site3")).await.unwrap();
    assert_eq!(allowed.into_inner().decision(), pb::Decision::Allowed);
    let denied = checks.check(check("alice", "site9")).await.unwrap();
    assert_eq!(denied.into_inner().decision(), pb::Decision::Denied);
    // Unexplained denials are classed after the fact: a user that does not exist, and
    // one without a grant that allows it.
    for (user, object) in [("nobody", "site3"), ("alice", "site9")] {
        let fast = pb::CheckRequest {
            explain: false,
            ..check(user, object)
        };
        let denied = checks.check(fast).await.unwrap();
        assert_eq!(denied.into_inner().decision(), pb::Decision::Denied);
    }
    // An open Watch stream is counted (it replays nothing: no start revision).
    let _stream = WatchServiceClient::new(channel.clone())
        .watch(pb::WatchRequest::default())
        .await
        .unwrap();
    let written = PlatformServiceClient::new(channel)
        .create_tenant(pb::CreateTenantRequest {
            id: "beta".into(),
            name: "Beta".into(),
            owner_id: "olivia".into(),
            owner_email: "olivia@beta.example".into(),
            owner_display_name: "Olivia".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .revision;
    assert_eq!(written, revision + 1);

    let text = scrape(metrics_addr);
    let expect = |series: &str, value: f64| {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    };
    expect(
        r#"authzd_rpc_requests_total{method="/authz.v1.CheckService/Check",code="OK"}"#,
        4.0,
    );
    expect(
        r#"authzd_rpc_requests_total{method="/authz.v1.PlatformService/CreateTenant",code="OK"}"#,
        1.0,
    );
    expect(
        r#"authzd_rpc_duration_seconds_count{method="/authz.v1.CheckService/Check"}"#,
        4.0,
    );
    expect(
        r#"authzd_check_decisions_total{outcome="allowed",reason="none"}"#,
        1.0,
    );
    expect(
        r#"authzd_check_decisions_total{outcome="denied",reason="unknown_user"}"#,
        1.0,
    );
    expect(
        r#"authzd_check_decisions_total{outcome="denied",reason="not_granted"}"#,
        1.0,
    );
    expect(
        r#"authzd_check_decisions_total{outcome="denied",reason="outside_scope"}"#,
        1.0,
    );
    expect("authzd_revision", as_f64(revision + 1));
    expect("authzd_write_group_size_count", 1.0);
    expect("authzd_commit_duration_seconds_count", 1.0);
    assert!(
        sample(&text, "authzd_process_resident_memory_bytes").is_some_and(|bytes| bytes > 0.0),
        "{text}"
    );
    assert!(
        sample(&text, "authzd_store_file_size_bytes").is_some_and(|bytes| bytes > 0.0),
        "{text}"
    );
    assert!(text.contains("# HELP authzd_rpc_requests_total"), "{text}");
    assert!(
        sample(&text, "authzd_process_cpu_seconds_total").is_some(),
        "{text}"
    );
    expect("authzd_watch_subscribers", 1.0);
    // The checkpointer writes in the background: its metrics come when it has. Nothing
    // to await from outside but the metrics themselves, so they are read until then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let text = loop {
        let text = scrape(metrics_addr);
        if sample(&text, "authzd_checkpoint_revision") == Some(as_f64(revision + 1))
            || std::time::Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(
        sample(&text, "authzd_checkpoint_revision"),
        Some(as_f64(revision + 1)),
        "{text}"
    );
    assert_eq!(
        sample(&text, "authzd_checkpoint_duration_seconds_count"),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "authzd_changelog_changes").is_some_and(|held| held >= 1.0),
        "{text}"
    );
}

#[test]
fn without_metrics_listen_metrics_are_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    server.wait_for_log("metrics off (metrics_listen is not set)");
}
