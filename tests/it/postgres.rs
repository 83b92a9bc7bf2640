//! The PostgreSQL store against a real PostgreSQL server (these tests need one: see
//! `support/postgres.rs`; `.ci/run` installs Debian's `postgresql` where missing):
//! `authzd migrate`, and the store's log, checkpoints, request ids and audit trail.

use std::process::Output;

use authzd::{
    dataset::{Dataset, DatasetSpec},
    engine::{ChangeContext, ChangeRecord, Revision, SnapshotBuilder, Timestamp},
    store::{
        AuditOutcome, AuditQuery, AuditRecord, Store,
        postgres::{DatabaseError, DatabaseTls, PgStore, SharedDatabase},
    },
};

use crate::support::{
    certs::{leaf, new_ca},
    postgres::PgServer,
    process::authzd,
};

/// The checkpointer's advisory lock key (`authzd`, then 3), as the store takes it.
const CHECKPOINTER_LOCK: i64 = 0x0061_7574_687a_6403;

fn migrate(args: &[&str]) -> Output {
    authzd().arg("migrate").args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A PostgreSQL server of the test's own and the store on it, migrated.
async fn server_and_store() -> (PgServer, PgStore) {
    let pg = PgServer::start();
    let store = PgStore::open(&pg.url(), &DatabaseTls::default())
        .await
        .unwrap();
    (pg, store)
}

/// A client of our own, its connection driven in the background.
async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// How PostgreSQL stores `table`'s `column` (`attstorage`: `e` is out of line without
/// compression).
async fn column_storage(url: &str, table: &str, column: &str) -> String {
    let client = client(url).await;
    let row = client
        .query_one(
            "SELECT attstorage::text FROM pg_attribute \
             WHERE attrelid = $1::text::regclass AND attname = $2",
            &[&table, &column],
        )
        .await
        .unwrap();
    row.get(0)
}

/// The applied schema versions and the authzd tables, read over a client of our own.
async fn schema(url: &str) -> (Vec<i32>, Vec<String>) {
    let client = client(url).await;
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
            "SELECT tablename::text FROM pg_tables WHERE tablename LIKE 'authzd_%' \
             ORDER BY tablename::text COLLATE \"C\"",
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
        "schema migrated to version 2 (applied 1, 2)\n"
    );
    // The URL may come from a file, as from a mounted secret.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("database-url");
    std::fs::write(&file, format!("{}\n", pg.url())).unwrap();
    let again = migrate(&["--database-url-file", file.to_str().unwrap()]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), "schema up to date at version 2\n");
    let (versions, tables) = schema(&pg.url()).await;
    assert_eq!(versions, [1, 2]);
    for (table, column) in [
        ("authzd_checkpoints", "snapshot"),
        ("authzd_checkpoint_parts", "bytes"),
    ] {
        assert_eq!(
            column_storage(&pg.url(), table, column).await,
            "e",
            "{table}.{column} is stored out of line, uncompressed"
        );
    }
    assert_eq!(
        tables,
        [
            "authzd_audit",
            "authzd_changes",
            "authzd_checkpoint_parts",
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
    assert_eq!(schema(&url).await.0, [1, 2]);
}

#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused_untouched() {
    let pg = PgServer::start();
    assert!(migrate(&["--database-url", &pg.url()]).status.success());
    let client = client(&pg.url()).await;
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
        stderr.contains("schema is version 99") && stderr.contains("up to 2"),
        "{stderr}"
    );
    assert_eq!(schema(&pg.url()).await.0, [1, 2, 99]);
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

/// A small generated world as change records, one per mutation, revisions from 1.
fn world_changes() -> (authzd::dataset::Dataset, Vec<ChangeRecord>) {
    let dataset = Dataset::generate(&DatasetSpec {
        scale: 1,
        tenants: 2,
        users_per_tenant: 40,
        objects_per_service: 60,
        grants_per_service: 40,
        seed: 7,
    });
    let at = Timestamp::from_unix_millis(1_900_000_000_000);
    let records = dataset
        .mutations
        .iter()
        .enumerate()
        .map(|(n, mutation)| ChangeRecord {
            revision: Revision::new(n as u64 + 1),
            committed_at: at,
            actor: None,
            actor_partner: None,
            caller: "test".into(),
            request_id: Some(format!("req-{n}")),
            context: ChangeContext::from_mutation(mutation),
            mutation: mutation.clone(),
        })
        .collect();
    (dataset, records)
}

#[tokio::test]
async fn the_store_keeps_the_log_checkpoints_and_request_ids_and_rebuilds_the_state() {
    let (pg, mut store) = server_and_store().await;
    assert_eq!(store.revision().await.unwrap(), Revision::new(0));
    let (dataset, records) = world_changes();
    let half = records.len() / 2;
    for group in records[..half].chunks(50) {
        store.append_with_audit(group, &mut []).await.unwrap();
    }
    // A checkpoint halfway, then the rest of the log after it.
    let mut builder = SnapshotBuilder::new();
    for record in &records[..half] {
        builder
            .apply(record.revision, &record.mutation, record.committed_at)
            .unwrap();
    }
    store.write_checkpoint(&builder.finish()).await.unwrap();
    for group in records[half..].chunks(50) {
        store.append_with_audit(group, &mut []).await.unwrap();
    }
    let newest = records.last().unwrap().revision;
    assert_eq!(store.revision().await.unwrap(), newest);
    let read = store.changes_after(Revision::new(10), 5).await.unwrap();
    assert_eq!(read, records[10..15]);
    let retried = store.change_for_request("req-42").await.unwrap().unwrap();
    assert_eq!(retried, records[42]);
    assert_eq!(store.change_for_request("req-none").await.unwrap(), None);

    // Rebuilt from the checkpoint and the changes after it, the state decides as the one
    // built directly; so does one rebuilt by a second store (another replica).
    let mut direct = SnapshotBuilder::new();
    for record in &records {
        direct
            .apply(record.revision, &record.mutation, record.committed_at)
            .unwrap();
    }
    let direct = direct.finish();
    let mut replica = PgStore::open(&pg.url(), &DatabaseTls::default())
        .await
        .unwrap();
    for loaded in [
        store.load_snapshot().await.unwrap(),
        replica.load_snapshot().await.unwrap(),
    ] {
        assert_eq!(loaded.revision(), newest);
        for query in dataset.queries(300, 3) {
            let now = Timestamp::from_unix_millis(1_900_000_000_000);
            assert_eq!(
                loaded.check(&query, now),
                direct.check(&query, now),
                "{query:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_replica_behind_the_log_cannot_append_and_leaves_no_trace() {
    let pg = PgServer::start();
    let mut first = PgStore::open(&pg.url(), &DatabaseTls::default())
        .await
        .unwrap();
    let mut second = PgStore::open(&pg.url(), &DatabaseTls::default())
        .await
        .unwrap();
    let (_, records) = world_changes();
    first
        .append_with_audit(&records[..3], &mut [])
        .await
        .unwrap();
    // The second replica still believes revision 3 is next: refused whole.
    let err = second
        .append_with_audit(&records[2..4], &mut [])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DatabaseError::Behind {
                newest: 3,
                first: 3
            }
        ),
        "{err}"
    );
    // A gap is refused too.
    let err = second
        .append_with_audit(&records[4..5], &mut [])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DatabaseError::Behind {
                newest: 3,
                first: 5
            }
        ),
        "{err}"
    );
    assert_eq!(first.revision().await.unwrap(), Revision::new(3));
    assert_eq!(
        first.changes_after(Revision::new(0), 10).await.unwrap(),
        records[..3]
    );
    // Racing appenders of the same revision: exactly one wins.
    let (a, b) = tokio::join!(
        first.append_with_audit(&records[3..4], &mut []),
        second.append_with_audit(&records[3..5], &mut []),
    );
    assert_eq!(u8::from(a.is_ok()) + u8::from(b.is_ok()), 1, "{a:?} {b:?}");
    let newest = first.revision().await.unwrap().get();
    assert!(newest == 4 || newest == 5, "{newest}");
}

#[tokio::test]
async fn audit_records_are_numbered_with_their_changes_read_by_tenant_and_pruned() {
    let (_pg, mut store) = server_and_store().await;
    let (_, records) = world_changes();
    let record = |at: i64, tenant: &str| AuditRecord {
        id: 0,
        at: Timestamp::from_unix_millis(at),
        tenant: Some(tenant.into()),
        actor: Some("olivia".into()),
        actor_partner: Some("msp".into()),
        caller: "portal".into(),
        method: "authz.v1.UserService/InviteUser".into(),
        target: "user dan".into(),
        outcome: AuditOutcome::Allowed,
        request_id: None,
        revision: 1,
    };
    let mut with_changes = [record(1_000, "a"), record(2_000, "b")];
    store
        .append_with_audit(&records[..1], &mut with_changes)
        .await
        .unwrap();
    let mut alone = [record(3_000, "a")];
    store.append_with_audit(&[], &mut alone).await.unwrap();
    assert_eq!(alone[0].id, 3);
    let all = store
        .audit_records(&AuditQuery::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(all[0], with_changes[0]);
    let tenant_a = AuditQuery {
        tenant: Some("a".into()),
        ..AuditQuery::default()
    };
    let page = store.audit_records(&tenant_a, 0, 1).await.unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), [1]);
    let rest = store.audit_records(&tenant_a, 1, 10).await.unwrap();
    assert_eq!(rest.iter().map(|r| r.id).collect::<Vec<_>>(), [3]);
    assert_eq!(
        store
            .prune_audit(Timestamp::from_unix_millis(2_500))
            .await
            .unwrap(),
        2
    );
    let left = store
        .audit_records(&AuditQuery::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(left.iter().map(|r| r.id).collect::<Vec<_>>(), [3]);
}

#[tokio::test]
async fn tls_to_the_database_verifies_the_server_against_the_given_ca() {
    let ca = new_ca();
    let (cert, key) = leaf(&ca, &["127.0.0.1"], "postgres", false);
    let pg = PgServer::start_with_tls(Some((&cert, &key)));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let tls = DatabaseTls {
        ca_file: Some(ca_file.clone()),
    };
    // The connection is encrypted, as the server itself reports.
    let client = authzd::store::postgres::connect(&pg.url_with_sslmode("require"), &tls)
        .await
        .unwrap();
    let encrypted: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted);
    let migrated = migrate(&[
        "--database-url",
        &pg.url_with_sslmode("require"),
        "--database-ca-file",
        ca_file.to_str().unwrap(),
    ]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    // Another CA's certificate is not trusted: no connection, and the reason says so.
    let other_ca = new_ca();
    let other_file = dir.path().join("other-ca.crt");
    std::fs::write(&other_file, other_ca.pem()).unwrap();
    let refused = migrate(&[
        "--database-url",
        &pg.url_with_sslmode("require"),
        "--database-ca-file",
        other_file.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(
        text(&refused.stderr).contains("certificate"),
        "{}",
        text(&refused.stderr)
    );
    // A CA file that is not PEM is a usage error, before any connection.
    let garbage = dir.path().join("garbage.crt");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let bad = migrate(&[
        "--database-url",
        &pg.url_with_sslmode("require"),
        "--database-ca-file",
        garbage.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
}

#[tokio::test]
async fn a_checkpoint_is_stored_in_parts_of_at_most_4_mib_and_a_newer_one_replaces_them() {
    let (pg, mut store) = server_and_store().await;
    // Some 6 MB encoded: more than one part.
    let dataset = Dataset::generate(&DatasetSpec {
        tenants: 12,
        ..DatasetSpec::standard(1)
    });
    let now = Timestamp::from_unix_millis(1_900_000_000_000);
    let (last, all) = dataset.mutations.split_last().unwrap();
    let mut builder = SnapshotBuilder::new();
    for (mutation, revision) in all.iter().zip(1..) {
        builder
            .apply(Revision::new(revision), mutation, now)
            .unwrap();
    }
    let older = builder.finish();
    let mut builder = SnapshotBuilder::from_snapshot(older.clone());
    let newest = Revision::new(older.revision().get() + 1);
    builder.apply(newest, last, now).unwrap();
    let newer = builder.finish();

    let client = client(&pg.url()).await;
    let parts =
        || async {
            client
            .query(
                "SELECT revision, part, length(bytes) FROM authzd_checkpoint_parts ORDER BY 1, 2",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get::<_, i64>(0), row.get::<_, i32>(1), row.get::<_, i32>(2)))
            .collect::<Vec<_>>()
        };
    assert!(store.write_checkpoint(&older).await.unwrap());
    let stored = parts().await;
    let older_revision = i64::try_from(older.revision().get()).unwrap();
    assert!(stored.len() >= 2, "{stored:?}");
    assert!(
        stored
            .iter()
            .enumerate()
            .all(|(n, (revision, part, bytes))| *revision == older_revision
                && usize::try_from(*part).unwrap() == n
                && *bytes <= 4 << 20),
        "{stored:?}"
    );
    let loaded = store.load_snapshot().await.unwrap();
    assert_eq!(loaded.revision(), older.revision());
    let queries = dataset.queries(500, 7);
    let decide = |snapshot: &authzd::engine::Snapshot| -> Vec<bool> {
        queries
            .iter()
            .map(|query| snapshot.check(query, now))
            .collect()
    };
    let decisions = decide(&older);
    assert!(decisions.contains(&true) && decisions.contains(&false));
    assert_eq!(decide(&loaded), decisions);

    assert!(store.write_checkpoint(&newer).await.unwrap());
    let stored = parts().await;
    assert!(!stored.is_empty());
    assert!(
        stored
            .iter()
            .all(|(revision, _, _)| *revision == older_revision + 1),
        "the older checkpoint's parts are gone: {stored:?}"
    );
    assert_eq!(store.load_snapshot().await.unwrap().revision(), newest);

    // The parts are decoded as the rows arrive: one gone is named, whatever was decoded.
    client
        .execute("DELETE FROM authzd_checkpoint_parts WHERE part = 0", &[])
        .await
        .unwrap();
    let refused = store.load_snapshot().await.unwrap_err().to_string();
    assert!(
        refused.ends_with(&format!("checkpoint {newest}: its part 0 is missing")),
        "{refused}"
    );
}

/// A replica's connections are driven only while it calls them: a read or a skipped
/// checkpoint must end its transaction before returning, not leave the connection idle in
/// it (holding locks and the read's snapshot) until its next call.
#[test]
fn reading_the_state_or_skipping_a_checkpoint_leaves_no_transaction_open() {
    let pg = PgServer::start();
    let url = pg.url();
    let store = Store::Postgres(SharedDatabase::open(&url, &DatabaseTls::default()).unwrap());
    let dataset = Dataset::generate(&DatasetSpec {
        tenants: 1,
        users_per_tenant: 20,
        objects_per_service: 10,
        grants_per_service: 5,
        ..DatasetSpec::standard(1)
    });
    let snapshot = dataset
        .build(Timestamp::from_unix_millis(1_900_000_000_000))
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(client(&url));
    let open_transactions = || {
        runtime.block_on(async {
            client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()",
                    &[],
                )
                .await
                .unwrap()
                .get::<_, i64>(0)
        })
    };
    let checkpointer_lock_free = || {
        runtime.block_on(async {
            let free: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&CHECKPOINTER_LOCK])
                .await
                .unwrap()
                .get(0);
            if free {
                client
                    .execute("SELECT pg_advisory_unlock($1)", &[&CHECKPOINTER_LOCK])
                    .await
                    .unwrap();
            }
            free
        })
    };

    assert!(store.write_checkpoint(&snapshot).unwrap());
    assert_eq!(
        store.load_snapshot().unwrap().revision(),
        snapshot.revision()
    );
    assert_eq!(open_transactions(), 0, "the read of the state ended");
    // The same revision again: skipped, after taking the checkpointer's lock.
    assert!(!store.write_checkpoint(&snapshot).unwrap());
    assert_eq!(open_transactions(), 0, "the skipped checkpoint ended");
    assert!(
        checkpointer_lock_free(),
        "the checkpointer's lock is not held"
    );
}

#[tokio::test]
async fn one_replica_at_a_time_checkpoints_and_pruning_removes_only_a_covered_prefix() {
    let (pg, mut store) = server_and_store().await;
    let (_, mut records) = world_changes();
    // Older changes first: committed an hour apart from the rest.
    let old = Timestamp::from_unix_millis(1_900_000_000_000);
    for record in &mut records[20..] {
        record.committed_at = old.plus_millis(3_600_000);
    }
    store.append_with_audit(&records, &mut []).await.unwrap();
    let mut builder = SnapshotBuilder::new();
    for record in &records[..30] {
        builder
            .apply(record.revision, &record.mutation, record.committed_at)
            .unwrap();
    }
    let at_30 = builder.finish();

    // Another replica holds the checkpointer's lock: this one skips its turn.
    let mut other = authzd::store::postgres::connect(&pg.url(), &DatabaseTls::default())
        .await
        .unwrap();
    let checkpointing = other.transaction().await.unwrap();
    checkpointing
        .execute("SELECT pg_advisory_xact_lock($1)", &[&CHECKPOINTER_LOCK])
        .await
        .unwrap();
    assert!(!store.write_checkpoint(&at_30).await.unwrap());
    assert_eq!(store.checkpoint_revision().await.unwrap(), None);
    checkpointing.rollback().await.unwrap();
    assert!(store.write_checkpoint(&at_30).await.unwrap());
    assert_eq!(
        store.checkpoint_revision().await.unwrap(),
        Some(Revision::new(30))
    );
    // An older state never replaces a newer checkpoint.
    let mut older = SnapshotBuilder::new();
    for record in &records[..10] {
        older
            .apply(record.revision, &record.mutation, record.committed_at)
            .unwrap();
    }
    assert!(!store.write_checkpoint(&older.finish()).await.unwrap());

    // Past a retention of 30 minutes, keeping at least 5: only the old changes, and of
    // them only those the checkpoint covers, from the oldest on.
    let retention = authzd::store::Retention {
        max_age_millis: 1_800_000,
        min_count: 5,
        max_count: u64::MAX,
        audit_max_age_millis: 0,
    };
    let now = old.plus_millis(3_600_000 + 60_000);
    assert_eq!(store.prune_changes(retention, now).await.unwrap(), 20);
    assert_eq!(
        store.oldest_change().await.unwrap(),
        Some(Revision::new(21))
    );
    assert_eq!(store.change_for_request("req-3").await.unwrap(), None);
    assert_eq!(
        store.change_for_request("req-25").await.unwrap(),
        Some(records[25].clone())
    );
    // However young, changes beyond the newest `max_count` go, up to the checkpoint.
    let newest = records.last().unwrap().revision.get();
    let bounded = authzd::store::Retention {
        max_count: newest - 25,
        ..retention
    };
    assert_eq!(store.prune_changes(bounded, now).await.unwrap(), 5);
    assert_eq!(
        store.oldest_change().await.unwrap(),
        Some(Revision::new(26))
    );
    assert_eq!(store.change_for_request("req-24").await.unwrap(), None);
    let past_the_checkpoint = authzd::store::Retention {
        max_count: 5,
        ..retention
    };
    assert_eq!(
        store.prune_changes(past_the_checkpoint, now).await.unwrap(),
        5
    );
    assert_eq!(
        store.oldest_change().await.unwrap(),
        Some(Revision::new(31))
    );
    // The state still loads: the checkpoint and the changes after it.
    let loaded = store.load_snapshot().await.unwrap();
    assert_eq!(loaded.revision(), records.last().unwrap().revision);
}
