//! Crash safety: a child process runs the real server and its write path with concurrent
//! writers, printing each change only after it is acknowledged (durable); the parent kills
//! it with SIGKILL at random moments, many rounds, then checks the store: every
//! acknowledged change is there with its revision, revisions have no gaps or duplicates,
//! and the state rebuilds (nothing half-applied).
//!
//! The writers use `App::submit`, the path every write RPC takes; the management API will
//! let this test drive them over gRPC instead.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use authzd::{
    app::ChangeMeta,
    engine::{Access, GrantId, GrantNode, Mutation, PermissionSet, Revision, Subject, UserId},
    store::RedbStore,
};

use crate::{check::world, support::server::TestServer};

const CHILD_DIR: &str = "AUTHZD_CRASH_CHILD_DIR";
const CHILD_ROUND: &str = "AUTHZD_CRASH_CHILD_ROUND";
const WRITERS: usize = 16;
const ROUNDS: u64 = 12;

/// The child: serves from the directory it is given and writes until it is killed.
#[tokio::test]
#[ignore = "run by `acknowledged_changes_survive_kill_9`, not on its own"]
async fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let round: u64 = std::env::var(CHILD_ROUND).unwrap().parse().unwrap();
    let server = TestServer::start_in_with(
        std::path::Path::new(&dir),
        &[("checkpoint_every", "10000000")],
    )
    .await;
    if server.app().revision() == Revision::ZERO {
        server.apply(world()).await;
    }
    println!("READY");
    let app = server.app().clone();
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let app = app.clone();
        writers.push(tokio::spawn(async move {
            for n in 0.. {
                let grant = format!("r{round}-w{writer}-n{n}");
                let mutation = Mutation::GiveGrant {
                    tenant: crate::check::tenant(),
                    service: crate::check::service(),
                    grant: GrantId::parse(&grant).unwrap(),
                    subject: Subject::User(UserId::parse("bob").unwrap()),
                    access: Access::Permissions(PermissionSet::parse(["backup.run"]).unwrap()),
                    node: GrantNode::Service,
                    expires_at: None,
                    dependencies: authzd::engine::Dependencies::Unchecked,
                };
                let revision = app.submit(mutation, ChangeMeta::default()).await.unwrap();
                // Printed only once durable: the parent counts it as acknowledged.
                println!("ACK {grant} {revision}");
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
}

#[test]
fn acknowledged_changes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut acknowledged: BTreeMap<String, u64> = BTreeMap::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..ROUNDS {
        if started.elapsed() > Duration::from_mins(1) {
            break;
        }
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash::crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait until it serves, then let it write for a random while before the crash.
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(30))
                .expect("child never became ready");
            if line.ends_with("READY") {
                break;
            }
        }
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // The behaviour under test: the kill lands at a random point of the writes.
        std::thread::sleep(Duration::from_millis(20 + (seed >> 33) % 300));
        // SIGKILL: no shutdown path runs, as in a crash.
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        for line in lines.try_iter() {
            let mut words = line.split_whitespace();
            if words.next() == Some("ACK") {
                let grant = words.next().unwrap().to_owned();
                let revision: u64 = words.next().unwrap().parse().unwrap();
                assert!(acknowledged.insert(grant, revision).is_none());
            }
        }
        verify(dir.path(), &acknowledged);
    }
    assert!(
        acknowledged.len() > 100,
        "only {} changes acknowledged",
        acknowledged.len()
    );
}

/// Every acknowledged grant is in the log at its revision; revisions run 1..=newest with
/// no gap; and the whole log still rebuilds into a state holding every logged grant.
fn verify(dir: &std::path::Path, acknowledged: &BTreeMap<String, u64>) {
    let store = RedbStore::open(dir).unwrap();
    let records = store.changes_after(Revision::ZERO, usize::MAX).unwrap();
    for (expected, record) in (1..).zip(&records) {
        assert_eq!(
            record.revision.get(),
            expected,
            "revisions must have no gaps"
        );
    }
    let logged: BTreeMap<String, u64> = records
        .iter()
        .filter_map(|r| match &r.mutation {
            Mutation::GiveGrant { grant, .. } => Some((grant.to_string(), r.revision.get())),
            _ => None,
        })
        .collect();
    for (grant, revision) in acknowledged {
        assert_eq!(
            logged.get(grant),
            Some(revision),
            "acknowledged grant {grant} lost or moved"
        );
    }
    let snapshot = store.load_snapshot().unwrap();
    assert_eq!(
        snapshot.revision(),
        records.last().map_or(Revision::ZERO, |r| r.revision)
    );
    let bob = UserId::parse("bob").unwrap();
    let view = snapshot
        .user_permissions(
            &crate::check::tenant(),
            &bob,
            None,
            authzd::engine::Timestamp::from_unix_millis(0),
        )
        .unwrap();
    let granted = logged.len();
    assert!(
        granted == 0 || !view.is_empty(),
        "logged grants must be in the rebuilt state"
    );
}

const FULL_CHILD_DIR: &str = "AUTHZD_DISK_FULL_CHILD_DIR";

/// The child of `a_full_disk_fails_writes_cleanly`: once its state is set up, it limits
/// its own file size a little above the database's current size and writes until the
/// store refuses.
#[tokio::test]
#[ignore = "run by `a_full_disk_fails_writes_cleanly`, not on its own"]
async fn disk_full_child() {
    let Ok(dir) = std::env::var(FULL_CHILD_DIR) else {
        return;
    };
    authzd::server::survive_file_size_limit().unwrap();
    let dir = std::path::PathBuf::from(dir);
    let server = TestServer::start_in_with(&dir, &[("checkpoint_every", "10000000")]).await;
    server.apply(world()).await;
    // A file-size limit stands in for a full disk: the database cannot grow past it.
    let size = std::fs::metadata(dir.join(authzd::store::DB_FILE_NAME))
        .unwrap()
        .len();
    let limited = Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--fsize={}", size + 256 * 1024))
        .status()
        .unwrap();
    assert!(limited.success());
    println!("READY");
    let app = server.app().clone();
    let mut health = app.store_health();
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..16 {
        let app = app.clone();
        writers.spawn(async move {
            for n in 0.. {
                let user = format!("w{writer}-{n}");
                let mutation = Mutation::InviteUser {
                    tenant: crate::check::tenant(),
                    user: authzd::engine::NewUser {
                        user: UserId::parse(&user).unwrap(),
                        email: format!("{user}@acme.example"),
                        display_name: "x".repeat(250),
                        kind: authzd::engine::UserKind::Local,
                    },
                };
                match app.submit(mutation, ChangeMeta::default()).await {
                    Ok(revision) => println!("ACK {user} {revision}"),
                    Err(err) => return err.to_string(),
                }
            }
            unreachable!()
        });
    }
    let error = writers.join_next().await.unwrap().unwrap();
    writers.abort_all();
    println!("ERROR {error}");
    let unhealthy = tokio::time::timeout(
        Duration::from_secs(10),
        health.wait_for(|state| *state != authzd::app::StoreState::Writable),
    )
    .await;
    println!("HEALTHY {}", !matches!(unhealthy, Ok(Ok(_))));
}

#[test]
fn a_full_disk_fails_writes_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash::disk_full_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(FULL_CHILD_DIR, dir.path())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("READY"), "{stdout}");
    let error = stdout
        .lines()
        .find(|l| l.starts_with("ERROR "))
        .unwrap_or_else(|| {
            panic!(
                "no write failed:\n{}",
                &stdout[stdout.len().saturating_sub(500)..]
            )
        });
    assert!(error.contains("could not be stored"), "{error}");
    assert!(
        stdout.contains("HEALTHY false"),
        "health must turn NOT_SERVING:\n{stdout}"
    );
    // Every acknowledged write survived; the failed ones left no trace.
    let acknowledged: Vec<(String, u64)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ACK "))
        .map(|l| {
            let mut words = l.split_whitespace();
            (
                words.next().unwrap().to_owned(),
                words.next().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert!(!acknowledged.is_empty());
    let store = RedbStore::open(dir.path()).unwrap();
    let records = store.changes_after(Revision::ZERO, usize::MAX).unwrap();
    for (expected, record) in (1..).zip(&records) {
        assert_eq!(
            record.revision.get(),
            expected,
            "revisions must have no gaps"
        );
    }
    for (user, revision) in &acknowledged {
        let record = &records[usize::try_from(*revision).unwrap() - 1];
        assert!(
            matches!(&record.mutation, Mutation::InviteUser { user: new, .. } if new.user.as_str() == user),
            "acknowledged {user} missing at {revision}"
        );
    }
    let newest = acknowledged.iter().map(|(_, r)| *r).max().unwrap();
    assert_eq!(
        store.load_snapshot().unwrap().revision().get(),
        newest,
        "nothing unacknowledged was kept"
    );
}
