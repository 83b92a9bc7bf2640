//! Store faults injected into the real `authzd serve`, called over gRPC.
//!
//! A full disk is the process's file-size limit lowered to 0 from outside (`prlimit --pid`,
//! util-linux): from then on every write the server makes to a file fails with `EFBIG`, as
//! on a disk with no room left, and raising the limit again clears the fault without
//! touching the server. (The binary turns `SIGXFSZ` into a log line, so the write fails
//! instead of killing it.) A lost database file is the file or the data directory deleted,
//! or another file renamed into its place.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use authzd::api::pb::{
    self, audit_service_client::AuditServiceClient, user_service_client::UserServiceClient,
};
use tokio_stream::StreamExt;
use tonic::{Code, Status, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_types::StatusExt;

use crate::support::{
    acme::{health, invite, tenant},
    process::ServerProcess,
};

/// How long the server may take to notice a fault or its end: the store monitor looks
/// every second.
const NOTICE: Duration = Duration::from_secs(5);

/// Sets the server's soft file-size limit (`0`: no byte may be written; `unlimited`).
fn limit_file_size(server: &ServerProcess, soft: &str) {
    let status = Command::new("prlimit")
        .arg("--pid")
        .arg(server.pid().to_string())
        .arg(format!("--fsize={soft}:"))
        .status()
        .expect("run prlimit (util-linux)");
    assert!(status.success(), "prlimit --fsize={soft}: failed");
}

/// Waits, by health's Watch stream (it sends the status now and at every change), until
/// `service` reports `expected`; panics after [`NOTICE`].
async fn wait_health(channel: &Channel, service: &str, expected: ServingStatus) {
    let mut health = HealthClient::new(channel.clone());
    let mut statuses = health
        .watch(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    let reached = tokio::time::timeout(NOTICE, async {
        while let Some(answer) = statuses.next().await {
            if answer.unwrap().status == expected as i32 {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        matches!(reached, Ok(true)),
        "health of `{service}` never reported {expected:?}"
    );
}

fn assert_unavailable(status: &Status, reason: &str) {
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let info = status.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(info.reason, reason, "{status:?}");
}

async fn get_user(channel: &Channel, user: &str) -> Result<pb::User, Status> {
    UserServiceClient::new(channel.clone())
        .get_user(pb::UserRefRequest {
            actor: "olivia".into(),
            tenant: "acme".into(),
            user: user.into(),
            etag: String::new(),
        })
        .await
        .map(|response| response.into_inner().user.unwrap())
}

async fn audit_trail(channel: &Channel) -> Result<Vec<pb::AuditEvent>, Status> {
    AuditServiceClient::new(channel.clone())
        .list_audit_events(pb::ListAuditEventsRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .map(|response| response.into_inner().events)
}

#[tokio::test]
async fn a_full_disk_refuses_writes_until_it_clears_then_the_server_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let channel = server.channel().await;
    let created = tenant(&channel).await;

    limit_file_size(&server, "0");

    let failed = invite(&channel, "mallory").await.unwrap_err();
    assert_unavailable(&failed, "STORE_UNAVAILABLE");
    wait_health(&channel, "", ServingStatus::NotServing).await;
    assert_eq!(
        health(&channel, "authz.v1.UserService").await,
        ServingStatus::NotServing
    );
    // Checks are answered from memory, whatever the store does.
    assert_eq!(
        health(&channel, "authz.v1.CheckService").await,
        ServingStatus::Serving
    );
    // Refused at once while the fault lasts, not tried against a failing disk.
    let refused = invite(&channel, "nora").await.unwrap_err();
    assert_unavailable(&refused, "STORE_UNAVAILABLE");
    assert!(
        refused.message().contains("until the store recovers"),
        "{refused:?}"
    );
    // Reads are answered from memory; their audit records wait for the store.
    let owner = get_user(&channel, "olivia").await.unwrap();
    assert_eq!(owner.id, "olivia");
    // The trail cannot be read now: it would miss the calls just made.
    assert_unavailable(
        &audit_trail(&channel).await.unwrap_err(),
        "STORE_UNAVAILABLE",
    );
    // The fault outlasts a retry of the store: the failed commit was the first write
    // beyond the limit, the retry (a second later) the next.
    for _ in 0..2 {
        server.wait_for_log("a write exceeded the file-size limit");
    }
    assert_unavailable(
        &invite(&channel, "nora").await.unwrap_err(),
        "STORE_UNAVAILABLE",
    );

    limit_file_size(&server, "unlimited");

    wait_health(&channel, "", ServingStatus::Serving).await;
    assert_eq!(
        health(&channel, "authz.v1.UserService").await,
        ServingStatus::Serving
    );
    let written = invite(&channel, "nora").await.unwrap();
    assert_eq!(written, created + 1, "the failed change took no revision");
    let missing = get_user(&channel, "mallory").await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");

    let trail = audit_trail(&channel).await.unwrap();
    let calls: Vec<(&str, &str, &str)> = trail
        .iter()
        .map(|e| (e.method.as_str(), e.target.as_str(), e.code.as_str()))
        .collect();
    for expected in [
        (
            "authz.v1.UserService/InviteUser",
            "user mallory",
            "UNAVAILABLE",
        ),
        (
            "authz.v1.UserService/InviteUser",
            "user nora",
            "UNAVAILABLE",
        ),
        ("authz.v1.UserService/GetUser", "user olivia", ""),
        ("authz.v1.UserService/InviteUser", "user nora", ""),
    ] {
        assert!(
            calls.contains(&expected),
            "{expected:?} missing from the trail: {calls:#?}"
        );
    }
    let refused_change = trail.iter().find(|e| e.target == "user mallory").unwrap();
    assert!(!refused_change.allowed);
    assert_eq!(refused_change.rule, "STORE_UNAVAILABLE");

    // What the server acknowledged, and only that, is in the file.
    server.signal("TERM");
    let (status, _) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let again = ServerProcess::start(dir.path(), &[]);
    let channel = again.channel().await;
    assert_eq!(get_user(&channel, "nora").await.unwrap().id, "nora");
    assert_eq!(
        get_user(&channel, "mallory").await.unwrap_err().code(),
        Code::NotFound
    );
}

/// How the database file is taken from under the server.
#[derive(Debug, Clone, Copy)]
enum Loss {
    DeleteFile,
    DeleteDataDirectory,
    RenameAnotherFileOverIt,
}

fn lose(data: &Path, loss: Loss) {
    let file = data.join(authzd::store::DB_FILE_NAME);
    match loss {
        Loss::DeleteFile => std::fs::remove_file(&file).unwrap(),
        Loss::DeleteDataDirectory => std::fs::remove_dir_all(data).unwrap(),
        Loss::RenameAnotherFileOverIt => {
            // A copy is a valid database with the same content: only its inode differs.
            let copy = data.join("restored.redb");
            std::fs::copy(&file, &copy).unwrap();
            std::fs::rename(&copy, &file).unwrap();
        }
    }
}

async fn a_lost_database_file_is_noticed_and_every_write_refused(loss: Loss) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(&data, &[]);
    let channel = server.channel().await;
    tenant(&channel).await;
    invite(&channel, "bob").await.unwrap();

    lose(&data, loss);
    let lost_at = Instant::now();

    // Noticed without any write: the monitor looks at the file every second.
    wait_health(&channel, "", ServingStatus::NotServing).await;
    assert!(lost_at.elapsed() < NOTICE, "{loss:?}");
    let logged = server.wait_for_log("database file lost");
    assert!(logged.contains("ERROR"), "{logged}");
    let path = data.join(authzd::store::DB_FILE_NAME);
    assert!(logged.contains(&path.display().to_string()), "{logged}");
    assert_eq!(
        health(&channel, "authz.v1.UserService").await,
        ServingStatus::NotServing
    );
    assert_eq!(
        health(&channel, "authz.v1.CheckService").await,
        ServingStatus::Serving
    );

    let refused = invite(&channel, "carol").await.unwrap_err();
    assert_unavailable(&refused, "STORE_FILE_LOST");
    assert!(refused.message().contains("restart"), "{refused:?}");
    // A read could never be audited now: refused rather than answered unaudited.
    let read = get_user(&channel, "bob").await.unwrap_err();
    assert_unavailable(&read, "AUDIT_UNAVAILABLE");
    // And it stays so: the file the server holds open is not the one on disk.
    assert_unavailable(
        &invite(&channel, "dave").await.unwrap_err(),
        "STORE_FILE_LOST",
    );
    if !matches!(loss, Loss::RenameAnotherFileOverIt) {
        assert!(!path.exists(), "the server must not create a new database");
    }
}

#[tokio::test]
async fn a_deleted_database_file_is_noticed_and_every_write_refused() {
    a_lost_database_file_is_noticed_and_every_write_refused(Loss::DeleteFile).await;
}

#[tokio::test]
async fn a_deleted_data_directory_is_noticed_and_every_write_refused() {
    a_lost_database_file_is_noticed_and_every_write_refused(Loss::DeleteDataDirectory).await;
}

#[tokio::test]
async fn a_database_file_replaced_by_another_is_noticed_and_every_write_refused() {
    a_lost_database_file_is_noticed_and_every_write_refused(Loss::RenameAnotherFileOverIt).await;
}

#[tokio::test]
async fn no_write_sent_after_the_file_is_deleted_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let channel = server.channel().await;
    tenant(&channel).await;

    // Writers keep writing while the file is deleted under them; each acknowledgement is
    // reported, so that the deletion comes once writes are flowing.
    let (deleted_tx, deleted) = tokio::sync::watch::channel(None::<Instant>);
    let (acknowledged_tx, mut acknowledged) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..4 {
        let channel = channel.clone();
        let deleted = deleted.clone();
        let acknowledged = acknowledged_tx.clone();
        writers.spawn(async move {
            let mut answers = Vec::new();
            for n in 0.. {
                let sent = Instant::now();
                let answer = invite(&channel, &format!("w{writer}-{n}")).await;
                if answer.is_ok() {
                    let _ = acknowledged.send(());
                }
                let refused = answer.is_err();
                answers.push((sent, answer));
                let since_deletion = *deleted.borrow();
                // Until a write sent after the deletion is answered: refused, or (wrongly)
                // acknowledged for as long as the server had to notice.
                if since_deletion.is_some_and(|at| sent > at && (refused || at.elapsed() > NOTICE))
                {
                    break;
                }
            }
            answers
        });
    }
    drop(acknowledged_tx);
    for _ in 0..20 {
        acknowledged.recv().await.expect("writes are acknowledged");
    }
    std::fs::remove_file(dir.path().join(authzd::store::DB_FILE_NAME)).unwrap();
    let deleted_at = Instant::now();
    deleted_tx.send_replace(Some(deleted_at));

    let mut acknowledged_before = 0;
    while let Some(answers) = writers.join_next().await {
        for (sent, answer) in answers.unwrap() {
            match answer {
                Ok(_) => {
                    assert!(
                        sent < deleted_at,
                        "a write sent after the deletion was acknowledged"
                    );
                    acknowledged_before += 1;
                }
                Err(status) => assert_unavailable(&status, "STORE_FILE_LOST"),
            }
        }
    }
    assert!(
        acknowledged_before > 0,
        "no write succeeded before the deletion"
    );
}
