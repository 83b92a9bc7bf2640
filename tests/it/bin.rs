//! The real `authzd` binary: serve, health, reflection, shutdown, configuration, locking.

use std::time::Duration;

use authzd::api::pb;
use tokio_stream::StreamExt;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::support::process::{ServerProcess, authzd};

async fn channel(uri: &str) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(uri.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn wait_serving(uri: &str) {
    // Health's Watch sends the status now and at every change: no polling.
    let mut health = HealthClient::new(channel(uri).await);
    let mut statuses = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let serving = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(answer) = statuses.next().await {
            if answer.unwrap().status == ServingStatus::Serving as i32 {
                return true;
            }
        }
        false
    })
    .await;
    assert!(matches!(serving, Ok(true)), "health never reported SERVING");
}

async fn reflected_services(uri: &str) -> Vec<String> {
    let mut client = ServerReflectionClient::new(channel(uri).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

#[tokio::test]
async fn serve_reports_health_lists_services_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let uri = server.uri();
    wait_serving(&uri).await;

    let services = reflected_services(&uri).await;
    for expected in ["authz.v1.ServerService", "grpc.health.v1.Health"] {
        assert!(
            services.iter().any(|s| s == expected),
            "{expected} missing from {services:?}"
        );
    }
    // Health answers for every served service by name, not only for the server as a whole.
    let authz_services: Vec<&String> = services
        .iter()
        .filter(|name| name.starts_with("authz.v1."))
        .collect();
    assert_eq!(authz_services.len(), 15, "{services:?}");
    let mut health = HealthClient::new(channel(&uri).await);
    for service in authz_services {
        let status = health
            .check(HealthCheckRequest {
                service: service.clone(),
            })
            .await
            .unwrap_or_else(|status| panic!("health of {service}: {status:?}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "health of {service}");
    }

    let mut info = pb::server_service_client::ServerServiceClient::connect(uri.clone())
        .await
        .unwrap();
    let info = info
        .get_server_info(pb::GetServerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.store_format_version, authzd::store::FORMAT_VERSION);

    server.signal("TERM");
    let (status, _) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");

    // The database file is intact: redb opens it again, and so does authzd.
    let path = dir.path().join(authzd::store::DB_FILE_NAME);
    drop(redb::Database::open(&path).expect("database reopens"));
    let again = ServerProcess::start(dir.path(), &[]);
    wait_serving(&again.uri()).await;
}

/// `pid`'s `GLIBC_TUNABLES`, if its environment has one.
fn glibc_tunables(pid: u32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    environ
        .split(|byte| *byte == 0)
        .find_map(|var| var.strip_prefix(b"GLIBC_TUNABLES=".as_slice()))
        .map(|tunables| String::from_utf8_lossy(tunables).into_owned())
}

/// `serve` runs as it was started: it no longer starts itself again to put the heap on
/// huge pages (operators set `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, as the Helm chart
/// does), and a tunable it is given is kept.
#[test]
fn serve_runs_with_the_environment_it_was_given() {
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        // Set by whoever runs the tests: nothing to tell apart.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plain = ServerProcess::start(&dir.path().join("plain"), &[]);
    assert_eq!(glibc_tunables(plain.pid()), None);
    let huge = ServerProcess::start_with_env(
        &dir.path().join("huge"),
        &[],
        &[("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")],
    );
    assert_eq!(
        glibc_tunables(huge.pid()).as_deref(),
        Some("glibc.malloc.hugetlb=1")
    );
}

#[test]
fn second_server_on_the_same_data_dir_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let _first = ServerProcess::start(dir.path(), &[]);
    let output = authzd()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "stderr: {stderr}");
    assert!(
        stderr.contains("in use by another process"),
        "stderr: {stderr}"
    );
}

#[test]
fn bad_config_value_exits_2_naming_the_setting() {
    let output = authzd()
        .args(["serve", "--shutdown-grace", "soon"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("setting `shutdown_grace`"),
        "stderr: {stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authzd.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:1\"\nlisten_port = 5\n").unwrap();
    let output = authzd()
        .arg("config")
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("unknown setting `listen_port`"),
        "stderr: {stderr}"
    );

    let output = authzd()
        .arg("config")
        .env("AUTHZD_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("setting `log_format`") && stderr.contains("AUTHZD_LOG_FORMAT"),
        "stderr: {stderr}"
    );
}

#[test]
fn flag_beats_env_beats_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authzd.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:1001\"\nlog_format = \"json\"\nshutdown_grace = \"3s\"\n",
    )
    .unwrap();
    let output = authzd()
        .args(["config", "--listen", "127.0.0.1:1003", "--config"])
        .arg(&file)
        .env("AUTHZD_LISTEN", "127.0.0.1:1002")
        .env("AUTHZD_LOG_FORMAT", "text")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = |key: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("{key} missing in:\n{stdout}"))
            .to_owned()
    };
    assert!(
        line("listen").contains("\"127.0.0.1:1003\"") && line("listen").contains("flag --listen")
    );
    assert!(
        line("log_format").contains("\"text\"") && line("log_format").contains("AUTHZD_LOG_FORMAT")
    );
    assert!(
        line("shutdown_grace").contains("\"3000ms\"")
            && line("shutdown_grace").contains("config file")
    );
    assert!(line("max_batch_items").contains("# default"));
}

/// Starts `authzd serve` on `data_dir` expecting it to fail at once; returns its stderr.
fn serve_fails(data_dir: &std::path::Path) -> (Option<i32>, String) {
    let output = authzd()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_corrupt_database_file_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(authzd::store::DB_FILE_NAME),
        vec![0x5a; 64 * 1024],
    )
    .unwrap();
    let (code, stderr) = serve_fails(dir.path());
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("authzd.redb"), "{stderr}");
}

#[tokio::test]
async fn a_truncated_database_file_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    wait_serving(&server.uri()).await;
    server.signal("TERM");
    let (status, _) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert!(status.success());
    let path = dir.path().join(authzd::store::DB_FILE_NAME);
    let length = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(length / 3).unwrap();
    drop(file);
    let (code, stderr) = serve_fails(dir.path());
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("authzd.redb"), "{stderr}");
}

#[test]
fn an_unusable_data_dir_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"x").unwrap();
    let (code, stderr) = serve_fails(&file.join("data"));
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot use") && stderr.contains("not-a-directory"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_open_stream_is_served_to_its_end_after_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let uri = server.uri();
    wait_serving(&uri).await;
    let mut client = ServerReflectionClient::new(channel(&uri).await);
    let (requests, outgoing) = tokio::sync::mpsc::channel(4);
    let list = || ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    requests.send(list()).await.unwrap();
    let mut responses = client
        .server_reflection_info(tokio_stream::wrappers::ReceiverStream::new(outgoing))
        .await
        .unwrap()
        .into_inner();
    responses.next().await.unwrap().unwrap();

    // The stream is open; shutdown begins. It keeps being served until it ends.
    server.signal("TERM");
    server.wait_for_log("draining in-flight calls");
    requests.send(list()).await.unwrap();
    let answer = responses.next().await.unwrap().unwrap();
    assert!(matches!(
        answer.message_response,
        Some(MessageResponse::ListServicesResponse(_))
    ));
    drop(requests);
    assert!(responses.next().await.is_none());

    let (status, _) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
