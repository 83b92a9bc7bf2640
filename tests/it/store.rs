//! Durability around the store: checkpoints and pruning, export beside a running server,
//! import into a fresh data directory.

use authzd::{
    api::pb::{self, check_service_client::CheckServiceClient},
    store::RedbStore,
};

use crate::{check::world, support::process::authzd, support::server::TestServer};

async fn decision(server: &TestServer, user: &str, object: &str) -> (pb::Decision, u64) {
    let mut client = CheckServiceClient::new(server.channel().await);
    let response = client
        .check(pb::CheckRequest {
            tenant: "acme".into(),
            service: "crm-backup".into(),
            user: user.into(),
            permission: "restore.run".into(),
            object: object.into(),
            explain: false,
            consistency: None,
            partner_user: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    (response.decision(), response.revision)
}

#[tokio::test]
async fn checkpoints_prune_the_log_and_restarts_read_them() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        ("checkpoint_every", "5"),
        ("changelog_retention_age", "0s"),
        ("changelog_retention_count", "3"),
    ];
    let server = TestServer::start_in_with(dir.path(), &settings).await;
    let revision = server.apply(world()).await;
    assert!(revision.get() > 10);
    server.stop().await;

    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(store.checkpoint_revision().unwrap(), Some(revision));
    let oldest = store.oldest_change().unwrap().unwrap();
    assert!(
        oldest.get() > 1,
        "the covered log was pruned, oldest is {oldest}"
    );
    assert!(
        oldest.get() + 3 <= revision.get() + 1,
        "the newest 3 are kept"
    );
    drop(store);

    let server = TestServer::start_in(dir.path()).await;
    assert_eq!(server.app().revision(), revision);
    assert_eq!(
        decision(&server, "alice", "site3").await,
        (pb::Decision::Allowed, revision.get())
    );
}

#[tokio::test]
async fn export_beside_a_running_server_then_import_reproduces_state_and_revision() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path()).await;
    let revision = server.apply(world()).await;
    let file = dir.path().join("backup.authzd");

    let output = authzd()
        .arg("export")
        .arg("--out")
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(&format!("revision {revision}")), "{stdout}");
    // The server kept serving while the export read.
    assert_eq!(
        decision(&server, "alice", "site3").await.0,
        pb::Decision::Allowed
    );

    let restored = tempfile::tempdir().unwrap();
    let output = authzd()
        .arg("import")
        .arg(&file)
        .arg("--data-dir")
        .arg(restored.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Importing twice into the same directory is refused.
    let again = authzd()
        .arg("import")
        .arg(&file)
        .arg("--data-dir")
        .arg(restored.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let copy = TestServer::start_in(restored.path()).await;
    assert_eq!(copy.app().revision(), revision);
    for (user, object) in [
        ("alice", "site3"),
        ("alice", "site9"),
        ("bob", "site1"),
        ("owner", "site1"),
    ] {
        assert_eq!(
            decision(&copy, user, object).await,
            decision(&server, user, object).await
        );
    }
}

#[test]
fn import_refuses_a_file_that_is_not_an_export() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junk");
    std::fs::write(&file, b"definitely not an export").unwrap();
    let output = authzd()
        .arg("import")
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not an authzd export"));
}
