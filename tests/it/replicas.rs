//! Several real `authzd serve` processes on one real PostgreSQL server (`store =
//! "postgres"`), called over gRPC: what one replica commits every replica serves, the
//! rules hold across replicas writing at once, and neither a replica's crash nor a
//! database restart loses an acknowledged change.

use std::time::Duration;

use authzd::api::pb::{
    self, check_service_client::CheckServiceClient, server_service_client::ServerServiceClient,
    user_service_client::UserServiceClient, watch_service_client::WatchServiceClient,
};
use tokio_stream::StreamExt;
use tonic::{Code, transport::Channel};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_types::StatusExt;

use crate::support::acme::user_ref;
use crate::support::{
    acme::{health, invite, invite_request, tenant},
    postgres::PgServer,
    process::ServerProcess,
};

/// How long a replica may take to apply another's commit, or to notice the database
/// going and coming back: notifications arrive at once, polls every 100 ms here, and the
/// store monitor retries every second.
const NOTICE: Duration = Duration::from_secs(10);

/// Starts a replica serving from the database at `url`, with a data directory of its own
/// that it does not use.
fn replica(url: &str, dir: &tempfile::TempDir) -> ServerProcess {
    ServerProcess::start(
        dir.path(),
        &[
            "--store",
            "postgres",
            "--database-url",
            url,
            "--database-poll-interval",
            "100ms",
        ],
    )
}

/// A PostgreSQL server and `n` replicas on it.
struct Cluster {
    pg: PgServer,
    replicas: Vec<ServerProcess>,
    channels: Vec<Channel>,
    // Held only to be removed when the cluster goes.
    dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    async fn start(n: usize) -> Self {
        let pg = PgServer::start();
        let mut cluster = Self {
            pg,
            replicas: Vec::new(),
            channels: Vec::new(),
            dirs: Vec::new(),
        };
        for _ in 0..n {
            cluster.add().await;
        }
        cluster
    }

    /// Starts one more replica.
    async fn add(&mut self) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let replica = replica(&self.pg.url(), &dir);
        self.channels.push(replica.channel().await);
        self.replicas.push(replica);
        self.dirs.push(dir);
        self.replicas.len() - 1
    }
}

/// The revision a replica serves.
async fn revision(channel: &Channel) -> u64 {
    ServerServiceClient::new(channel.clone())
        .get_server_info(pb::GetServerInfoRequest {})
        .await
        .unwrap()
        .into_inner()
        .revision
}

/// Waits until the replica serves `at_least`.
async fn wait_for_revision(channel: &Channel, at_least: u64) {
    let reached = tokio::time::timeout(NOTICE, async {
        while revision(channel).await < at_least {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "replica never reached revision {at_least}");
}

/// A check for the owner, at `min_revision` at least when given.
fn owner_check(min_revision: Option<u64>) -> pb::CheckRequest {
    pb::CheckRequest {
        tenant: "acme".into(),
        service: "crm-backup".into(),
        user: "olivia".into(),
        permission: "backup.run".into(),
        object: String::new(),
        explain: false,
        consistency: min_revision.map(|min_revision| pb::Consistency { min_revision }),
        partner_user: String::new(),
    }
}

/// An invited and activated user.
async fn active_user(channel: &Channel, user: &str) -> u64 {
    invite(channel, user).await.unwrap();
    UserServiceClient::new(channel.clone())
        .activate_user(user_ref("olivia", user))
        .await
        .unwrap()
        .into_inner()
        .revision
}

/// The ids of `acme`'s users as the replica serves them, with the owner's.
async fn users(channel: &Channel, actor: &str) -> (Vec<String>, Vec<String>) {
    let listed = UserServiceClient::new(channel.clone())
        .list_users(pb::ListUsersRequest {
            actor: actor.into(),
            tenant: "acme".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .users;
    let owners = listed
        .iter()
        .filter(|user| {
            user.role
                .as_ref()
                .is_some_and(|role| role.kind == i32::from(pb::RoleKind::Owner))
        })
        .map(|user| user.id.clone())
        .collect();
    let mut ids: Vec<String> = listed.into_iter().map(|user| user.id).collect();
    ids.sort();
    (ids, owners)
}

/// Waits until the replica's health for `service` is `expected`.
async fn wait_for_health(channel: &Channel, service: &str, expected: ServingStatus) {
    let reached = tokio::time::timeout(NOTICE, async {
        while health(channel, service).await != expected {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        reached.is_ok(),
        "health of `{service}` never reported {expected:?}"
    );
}

#[tokio::test]
async fn writes_through_any_replica_are_served_by_every_replica_at_their_revision() {
    let cluster = Cluster::start(3).await;
    let created = tenant(&cluster.channels[0]).await;
    // Each replica writes in turn: each must first apply what the others committed.
    let mut last = created;
    for (n, user) in ["ann", "ben", "cat", "dan", "eve", "fay"]
        .iter()
        .enumerate()
    {
        let revision = invite(&cluster.channels[n % 3], user).await.unwrap();
        assert_eq!(
            revision,
            last + 1,
            "revisions stay gap-free across replicas"
        );
        last = revision;
    }
    for channel in &cluster.channels {
        // A check that asks for the newest revision is answered at it, by every replica.
        let answer = CheckServiceClient::new(channel.clone())
            .check(owner_check(Some(last)))
            .await
            .unwrap()
            .into_inner();
        assert!(answer.revision >= last, "{answer:?}");
        let (ids, owners) = users(channel, "olivia").await;
        assert_eq!(
            ids,
            ["ann", "ben", "cat", "dan", "eve", "fay", "olivia"],
            "every replica serves every user"
        );
        assert_eq!(owners, ["olivia"]);
    }
}

#[tokio::test]
async fn a_transfer_and_a_deletion_on_different_replicas_leave_exactly_one_owner() {
    let cluster = Cluster::start(3).await;
    tenant(&cluster.channels[0]).await;
    let last = active_user(&cluster.channels[0], "nora").await;
    for channel in &cluster.channels {
        wait_for_revision(channel, last).await;
    }
    // Judged on the same stale state, both would pass and leave the tenant owned by a
    // deleted user; judged one after the other, the second is refused.
    let (mut first, mut second) = (
        UserServiceClient::new(cluster.channels[1].clone()),
        UserServiceClient::new(cluster.channels[2].clone()),
    );
    let (transferred, deleted) = tokio::join!(
        first.transfer_ownership(pb::TransferOwnershipRequest {
            actor: "olivia".into(),
            tenant: "acme".into(),
            new_owner: "nora".into(),
        }),
        second.delete_user(user_ref("olivia", "nora")),
    );
    assert!(
        transferred.is_ok() != deleted.is_ok(),
        "exactly one of them is made: {transferred:?} / {deleted:?}"
    );
    let newest = revision(&cluster.channels[1])
        .await
        .max(revision(&cluster.channels[2]).await);
    let expected_owner = if transferred.is_ok() {
        "nora"
    } else {
        "olivia"
    };
    for channel in &cluster.channels {
        wait_for_revision(channel, newest).await;
        let (ids, owners) = users(channel, "olivia").await;
        assert_eq!(
            owners,
            [expected_owner],
            "exactly one owner, on every replica"
        );
        assert!(ids.contains(&expected_owner.to_owned()));
    }
}

#[tokio::test]
async fn an_etag_is_checked_against_the_newest_state_whichever_replica_judges_it() {
    let cluster = Cluster::start(2).await;
    tenant(&cluster.channels[0]).await;
    let last = active_user(&cluster.channels[0], "carla").await;
    wait_for_revision(&cluster.channels[1], last).await;
    let etag = UserServiceClient::new(cluster.channels[1].clone())
        .get_user(user_ref("olivia", "carla"))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap()
        .etag;
    let with_etag = pb::UserRefRequest {
        etag,
        ..user_ref("olivia", "carla")
    };
    let (mut first, mut second) = (
        UserServiceClient::new(cluster.channels[0].clone()),
        UserServiceClient::new(cluster.channels[1].clone()),
    );
    let (a, b) = tokio::join!(
        first.disable_user(with_etag.clone()),
        second.disable_user(with_etag.clone()),
    );
    assert!(a.is_ok() != b.is_ok(), "one wins: {a:?} / {b:?}");
    let refused = a.err().or(b.err()).unwrap();
    assert_eq!(refused.code(), Code::Aborted, "{refused:?}");
    assert_eq!(
        refused.get_details_error_info().unwrap().reason,
        "ETAG_STALE"
    );
}

#[tokio::test]
async fn a_request_id_used_on_one_replica_answers_with_its_first_change_on_another() {
    let cluster = Cluster::start(2).await;
    tenant(&cluster.channels[0]).await;
    let (mut on_first, mut on_second) = (
        UserServiceClient::new(cluster.channels[0].clone()),
        UserServiceClient::new(cluster.channels[1].clone()),
    );
    let (first, second) = tokio::join!(
        on_first.invite_user(invite_request("ivan", "invite-ivan-1")),
        on_second.invite_user(invite_request("ivan", "invite-ivan-1")),
    );
    let (first, second) = (first.unwrap().into_inner(), second.unwrap().into_inner());
    assert_eq!(
        first.revision, second.revision,
        "one change, answered to both"
    );
    // A different request for the same id is a new change, refused on the state after it.
    let again = UserServiceClient::new(cluster.channels[1].clone())
        .invite_user(invite_request("ivan", "invite-ivan-2"))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");
}

#[tokio::test]
async fn a_replica_killed_during_writes_loses_no_acknowledged_change() {
    let mut cluster = Cluster::start(2).await;
    tenant(&cluster.channels[0]).await;
    let writer = cluster.channels[0].clone();
    let acknowledged = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for n in 0..10_000 {
            let user = format!("u{n:05}");
            let twin = format!("{user}b");
            // Some writes run concurrently, so that the kill lands inside group commits.
            let (a, b) = tokio::join!(invite(&writer, &user), invite(&writer, &twin));
            match (a, b) {
                (Ok(_), Ok(_)) => acknowledged.extend([user, twin]),
                (a, b) => {
                    if a.is_ok() {
                        acknowledged.push(user);
                    }
                    if b.is_ok() {
                        acknowledged.push(twin);
                    }
                    break;
                }
            }
        }
        acknowledged
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.replicas[0].signal("KILL");
    let acknowledged = acknowledged.await.unwrap();
    assert!(
        acknowledged.len() > 10,
        "the writer got going: {}",
        acknowledged.len()
    );
    // The surviving replica, and a new one started from the database, serve every
    // acknowledged change.
    let fresh = cluster.add().await;
    for channel in [&cluster.channels[1], &cluster.channels[fresh]] {
        let newest = revision(&cluster.channels[fresh]).await;
        wait_for_revision(channel, newest).await;
        let (ids, _) = users(channel, "olivia").await;
        for user in &acknowledged {
            assert!(ids.contains(user), "acknowledged {user} is missing");
        }
        // And it takes writes.
        invite(channel, &format!("after-{}", ids.len()))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_database_restart_keeps_checks_answering_refuses_writes_then_recovers() {
    let mut cluster = Cluster::start(2).await;
    let created = tenant(&cluster.channels[0]).await;
    let check = |channel: Channel| async move {
        CheckServiceClient::new(channel)
            .check(owner_check(None))
            .await
    };
    // A follower that has not yet applied the tenant when the database goes would rightly
    // answer from an older revision, so every replica first catches up.
    for channel in &cluster.channels {
        wait_for_revision(channel, created).await;
    }
    cluster.pg.stop();
    for channel in &cluster.channels {
        wait_for_health(channel, "authz.v1.UserService", ServingStatus::NotServing).await;
        assert_eq!(
            health(channel, "authz.v1.CheckService").await,
            ServingStatus::Serving
        );
        let answer = check(channel.clone()).await.unwrap().into_inner();
        assert!(
            answer.revision >= created,
            "checks answer from memory, naming their revision"
        );
        let refused = invite(channel, "wendy").await.unwrap_err();
        assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
        let info = refused.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(info.reason, "STORE_UNAVAILABLE");
    }
    cluster.pg.restart();
    for channel in &cluster.channels {
        wait_for_health(channel, "authz.v1.UserService", ServingStatus::Serving).await;
    }
    let written = invite(&cluster.channels[1], "wendy").await.unwrap();
    wait_for_revision(&cluster.channels[0], written).await;
    let (ids, _) = users(&cluster.channels[0], "olivia").await;
    assert_eq!(ids, ["olivia", "wendy"]);
}

/// The change events of a Watch from after `after` until (and with) revision `through`.
async fn watch(channel: &Channel, after: u64, through: u64) -> Vec<pb::ChangeEvent> {
    let mut stream = WatchServiceClient::new(channel.clone())
        .watch(pb::WatchRequest {
            start_revision: Some(after),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    let done = tokio::time::timeout(NOTICE, async {
        while let Some(message) = stream.next().await {
            if let Some(pb::watch_response::Message::Event(event)) = message.unwrap().message {
                let revision = event.revision;
                events.push(event);
                if revision >= through {
                    return;
                }
            }
        }
    })
    .await;
    assert!(done.is_ok(), "the stream never reached revision {through}");
    events
}

#[tokio::test]
async fn watch_across_a_replica_switch_equals_the_change_log() {
    let cluster = Cluster::start(3).await;
    tenant(&cluster.channels[0]).await;
    let mut last = 0;
    for n in 0..12 {
        last = invite(&cluster.channels[n % 3], &format!("w{n:02}"))
            .await
            .unwrap();
    }
    let middle = last / 2;
    // A subscriber reads half from one replica, then resumes on another.
    let mut switched = watch(&cluster.channels[0], 0, middle).await;
    switched.extend(watch(&cluster.channels[1], middle, last).await);
    let whole = watch(&cluster.channels[2], 0, last).await;
    let revisions: Vec<u64> = whole.iter().map(|event| event.revision).collect();
    assert_eq!(
        revisions,
        (1..=last).collect::<Vec<_>>(),
        "gap-free, in order"
    );
    assert_eq!(switched, whole);
}

/// Runs `authzd` with `args`; its exit code and what it printed (stdout, stderr).
fn run_authzd(args: &[&str]) -> (i32, String, String) {
    let out = crate::support::process::authzd()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_state_moves_from_redb_to_postgres_and_back_by_export_and_import() {
    let files = tempfile::tempdir().unwrap();
    let path = |name: &str| files.path().join(name).display().to_string();
    // A single server on redb, with some state.
    let redb_dir = tempfile::tempdir().unwrap();
    let single = ServerProcess::start(redb_dir.path(), &[]);
    let channel = single.channel().await;
    tenant(&channel).await;
    let on_redb = invite(&channel, "rhea").await.unwrap();
    let redb_dir_arg = redb_dir.path().display().to_string();
    let (code, out, err) = run_authzd(&[
        "export",
        "--data-dir",
        &redb_dir_arg,
        "--out",
        &path("from-redb"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("revision {on_redb}")), "{out}");
    drop(single);

    // Into PostgreSQL: replicas continue from its revision.
    let pg = PgServer::start();
    let url = pg.url();
    let (code, out, err) = run_authzd(&["import", &path("from-redb"), "--database-url", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("revision {on_redb}")), "{out}");
    let (code, _, err) = run_authzd(&["import", &path("from-redb"), "--database-url", &url]);
    assert_eq!(code, 3, "a second import is refused: {err}");
    assert!(err.contains("already holds state"), "{err}");
    assert!(
        !err.contains("postgres://authzd@"),
        "the URL is not echoed: {err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let replica = replica(&url, &dir);
    let channel = replica.channel().await;
    assert_eq!(revision(&channel).await, on_redb);
    let on_postgres = invite(&channel, "paul").await.unwrap();
    assert_eq!(on_postgres, on_redb + 1);

    // And back, from PostgreSQL while the replica serves.
    let (code, out, err) = run_authzd(&[
        "export",
        "--database-url",
        &url,
        "--out",
        &path("from-postgres"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("revision {on_postgres}")), "{out}");
    let back_dir = tempfile::tempdir().unwrap();
    let back_dir_arg = back_dir.path().join("data").display().to_string();
    let (code, _, err) = run_authzd(&[
        "import",
        &path("from-postgres"),
        "--data-dir",
        &back_dir_arg,
    ]);
    assert_eq!(code, 0, "{err}");
    let single = ServerProcess::start(&back_dir.path().join("data"), &[]);
    let channel = single.channel().await;
    assert_eq!(revision(&channel).await, on_postgres);
    let (ids, owners) = users(&channel, "olivia").await;
    assert_eq!(ids, ["olivia", "paul", "rhea"]);
    assert_eq!(owners, ["olivia"]);
}

#[test]
fn store_settings_are_checked_and_the_database_url_is_never_shown() {
    // PostgreSQL without a URL, with two, or a URL that is not one: usage errors naming
    // the setting, the URL itself not echoed.
    for (args, expected) in [
        (
            &["serve", "--store", "postgres"][..],
            "needs database_url or database_url_file",
        ),
        (
            &[
                "serve",
                "--store",
                "postgres",
                "--database-url",
                "postgres://u:s3cret@db/x",
                "--database-url-file",
                "/nonexistent",
            ][..],
            "not both",
        ),
        (
            &[
                "serve",
                "--store",
                "postgres",
                "--database-url",
                "postgres://u:s3cret@db:notaport/x",
            ][..],
            "not a PostgreSQL connection string",
        ),
        (
            &["serve", "--database-url", "postgres://u:s3cret@db/x"][..],
            "is for store = \"postgres\"",
        ),
        (
            &["serve", "--store", "mysql"][..],
            "expected `redb` or `postgres`",
        ),
    ] {
        let (code, _, err) = run_authzd(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(
            !err.contains("s3cret"),
            "{args:?} echoed the password: {err}"
        );
    }
    // `authzd config` shows that a URL is set, never the URL.
    let (code, out, err) = run_authzd(&[
        "config",
        "--store",
        "postgres",
        "--database-url",
        "postgres://u:s3cret@db/x",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("store = \"postgres\""), "{out}");
    assert!(out.contains("database_url = \"(set, not shown)\""), "{out}");
    assert!(!out.contains("s3cret"), "{out}");
    // An unreachable database stops the server with exit status 3, naming the server.
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_authzd(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &dir.path().display().to_string(),
        "--store",
        "postgres",
        "--database-url",
        "postgres://u:s3cret@127.0.0.1:1/authz",
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("127.0.0.1:1/authz"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}
