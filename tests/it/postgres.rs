//! `authzd migrate` against a real PostgreSQL server (these tests need one: see
//! `support/postgres.rs`; `.ci/run` installs Debian's `postgresql` where missing).

use std::process::Output;

use crate::support::{postgres::PgServer, process::authzd};

fn migrate(args: &[&str]) -> Output {
    authzd().arg("migrate").args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The applied schema versions and the authzd tables, read over a client of our own.
async fn schema(url: &str) -> (Vec<i32>, Vec<String>) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let versions = client
        .query(
            "SELECT version FROM authzd_schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let tables = client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE tablename LIKE 'authzd_%' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    (versions, tables)
}

#[tokio::test]
async fn migrate_creates_the_schema_once_and_then_finds_it_up_to_date() {
    let pg = PgServer::start();
    let first = migrate(&["--database-url", &pg.url()]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_eq!(
        text(&first.stdout),
        "schema migrated to version 1 (applied 1)\n"
    );
    // The URL may come from a file, as from a mounted secret.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("database-url");
    std::fs::write(&file, format!("{}\n", pg.url())).unwrap();
    let again = migrate(&["--database-url-file", file.to_str().unwrap()]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), "schema up to date at version 1\n");
    let (versions, tables) = schema(&pg.url()).await;
    assert_eq!(versions, [1]);
    assert_eq!(
        tables,
        [
            "authzd_audit",
            "authzd_changes",
            "authzd_checkpoints",
            "authzd_meta",
            "authzd_request_ids",
            "authzd_schema_migrations"
        ]
    );
}

#[tokio::test]
async fn replicas_migrating_at_once_apply_each_migration_exactly_once() {
    let pg = PgServer::start();
    let url = pg.url();
    let migrators: Vec<_> = (0..4)
        .map(|_| {
            authzd()
                .args(["migrate", "--database-url", &url])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = migrators
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect();
    for out in &outputs {
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let migrated = outputs
        .iter()
        .filter(|out| text(&out.stdout).starts_with("schema migrated"))
        .count();
    assert_eq!(migrated, 1, "exactly one migrator applies the schema");
    assert_eq!(schema(&url).await.0, [1]);
}

#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused_untouched() {
    let pg = PgServer::start();
    assert!(migrate(&["--database-url", &pg.url()]).status.success());
    let (client, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute(
            "INSERT INTO authzd_schema_migrations (version, name) VALUES (99, 'future')",
            &[],
        )
        .await
        .unwrap();
    let refused = migrate(&["--database-url", &pg.url()]);
    assert_eq!(refused.status.code(), Some(3));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("schema is version 99") && stderr.contains("up to 1"),
        "{stderr}"
    );
    assert_eq!(schema(&pg.url()).await.0, [1, 99]);
}

#[test]
fn an_unreachable_database_is_named_without_its_password_and_usage_errors_exit_2() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://authzd:s3cret@127.0.0.1:{port}/authz");
    let out = migrate(&["--database-url", &url]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}/authz")),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    let bad = migrate(&["--database-url", "postgres://authzd:s3cret@[::1/x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        !text(&bad.stderr).contains("s3cret"),
        "{}",
        text(&bad.stderr)
    );
    assert_eq!(migrate(&[]).status.code(), Some(2));
}
