//! The PostgreSQL store against redb (issue #22), over gRPC on loopback, in one run:
//! `cargo bench --bench load -- replicas`. The same dataset is served by a single server on
//! redb and by replicas on a real PostgreSQL server (started here, in a temporary
//! directory), and each target is measured against its baseline in the same run:
//!
//! - a new replica serving after start, with the whole dataset in the database (a
//!   checkpoint, as after an import): right after the import, and again after the other
//!   cells (the follower-lag cell's second replica);
//! - Check (one repeated request, h2load, 64 in flight) of a replica against redb mode;
//! - durable writes (`UpdateUser`, 1 and 64 writers) on PostgreSQL against redb;
//! - follower lag: writes paced at 1,000/s through one replica, timed until another
//!   replica streams each (Watch), which is after it applied it.
//!
//! Servers run on the servers' core, the load on the other; PostgreSQL is not pinned (it
//! shares the machine with both).

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use authzd::{
    api::pb::{
        self, user_service_client::UserServiceClient, watch_service_client::WatchServiceClient,
    },
    dataset::Dataset,
    engine::Snapshot,
    store::{
        Store,
        postgres::{DatabaseTls, SharedDatabase},
    },
};
use tokio_stream::StreamExt as _;

use crate::{
    Measured, Settings, Shape, Workloads, client, h2load, micros, servers::Child, thousands,
};

#[path = "../../tests/it/support/postgres.rs"]
#[allow(dead_code, reason = "the tests' server; the bench uses part of it")]
mod postgres;

/// Writes per second the follower-lag cell paces itself to.
const PACED_WRITES: u64 = 1_000;
/// Writers of the paced cell; each writes every `PACED_WRITERS / PACED_WRITES` seconds.
const PACED_WRITERS: u64 = 32;

/// Runs every cell and prints the table.
pub(crate) fn run(
    settings: &Settings,
    dataset: &Dataset,
    snapshot: &Snapshot,
    work: &Workloads,
    redb_dir: &std::path::Path,
    scratch: &std::path::Path,
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pg = postgres::PgServer::start();
    let url = pg.url();
    let started = Instant::now();
    let database = SharedDatabase::open(&url, &DatabaseTls::default()).unwrap();
    assert!(
        Store::Postgres(database.clone())
            .write_checkpoint(snapshot)
            .unwrap()
    );
    drop(database);
    let imported = started.elapsed();
    let facts = dataset.stats.grants + dataset.stats.memberships;

    let started = Instant::now();
    let redb = Child::authzd(redb_dir, settings.server_cpu());
    let redb_start = started.elapsed();
    let started = Instant::now();
    let replica_dir = scratch.join("replica-a");
    let replica = Child::authzd_with(&replica_dir, settings.server_cpu(), &replica_args(&url));
    let replica_start = started.elapsed();
    // What each start cost the server, from its own accounting and log.
    let start_report = |name: &str, child: &Child, serving_after: Duration| {
        let (user, system) = child.cpu_seconds();
        println!(
            "- {name}: serving after {:.2} s, with {user:.2} s of user and {system:.2} s of \
             system CPU time; its log: {}",
            serving_after.as_secs_f64(),
            child.log_line("state loaded").unwrap_or_default()
        );
    };

    println!(
        "## PostgreSQL store against redb{}\n",
        if settings.smoke { " (smoke)" } else { "" }
    );
    println!(
        "- dataset: {} grants + memberships; written into PostgreSQL as a checkpoint in {:.1} s",
        thousands(facts as f64),
        imported.as_secs_f64()
    );
    start_report("redb", &redb, redb_start);
    start_report("a new PostgreSQL replica", &replica, replica_start);
    println!();

    let mut rows: Vec<(String, Measured, Measured)> = Vec::new();
    let check_body = h2load::grpc_frame(&work.repeated.request);
    let repeated = client::checks(Arc::new(vec![work.repeated.clone()]));
    runtime.block_on(async {
        let redb_channels = client::connect(redb.addr, 4).await;
        let replica_channels = client::connect(replica.addr, 4).await;
        let shape = Shape::new(64);
        let check = |addr: std::net::SocketAddr, channels: Vec<tonic::transport::Channel>| {
            let (body, repeated) = (&check_body, &repeated);
            async move {
                repeated(channels[0].clone(), 0, 0).await;
                if settings.h2load {
                    h2load::sample(
                        &format!("http://{addr}/authz.v1.CheckService/Check"),
                        body,
                        shape,
                        settings.warm_up,
                        settings.measure,
                        settings.load_cpu(),
                        scratch,
                    )
                    .measured(h2load::driver(shape))
                } else {
                    client::drive(
                        &channels,
                        shape,
                        repeated,
                        settings.warm_up,
                        settings.measure,
                        1,
                    )
                    .await
                }
            }
        };
        let on_redb = check(redb.addr, redb_channels.clone()).await;
        let on_replica = check(replica.addr, replica_channels.clone()).await;
        rows.push((
            "Check, one repeated request, 64 in flight".into(),
            on_redb,
            on_replica,
        ));
        for writers in [1, 64] {
            let shape = Shape::new(writers);
            let on_redb = client::drive(
                &redb_channels,
                shape,
                &work.writes,
                settings.warm_up,
                settings.measure,
                1,
            )
            .await;
            let on_replica = client::drive(
                &replica_channels,
                shape,
                &work.writes,
                settings.warm_up,
                settings.measure,
                1,
            )
            .await;
            rows.push((
                format!("durable writes (UpdateUser), {writers} writers"),
                on_redb,
                on_replica,
            ));
        }
    });
    drop(redb);

    let follower_dir = scratch.join("replica-b");
    let started = Instant::now();
    let follower = Child::authzd_with(&follower_dir, settings.server_cpu(), &replica_args(&url));
    let starts = [replica_start, started.elapsed()];
    start_report(
        "a second new replica, started after the cells above",
        &follower,
        starts[1],
    );
    let lags = runtime.block_on(follower_lag(
        replica.addr,
        follower.addr,
        work,
        if settings.smoke {
            Duration::from_secs(1)
        } else {
            settings.measure
        },
    ));
    println!();
    print_table(&rows, &lags, starts, facts, settings.smoke);
    drop(follower);
    drop(replica);
    drop(pg);
}

fn replica_args(url: &str) -> Vec<String> {
    [
        "--store",
        "postgres",
        "--database-url",
        url,
        "--database-poll-interval",
        "1s",
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .collect()
}

/// What the follower-lag cell measured.
struct Lags {
    writes: usize,
    rate: f64,
    /// Per write, from the writer's answer to the other replica streaming it, in µs.
    sorted_micros: Vec<u64>,
}

impl Lags {
    fn at(&self, q: f64) -> u64 {
        let n = self.sorted_micros.len();
        self.sorted_micros[((n as f64 * q) as usize).min(n - 1)]
    }
}

/// Writes paced at [`PACED_WRITES`] per second through `writer`; the other replica's Watch
/// stream says when it has each revision.
async fn follower_lag(
    writer: std::net::SocketAddr,
    follower: std::net::SocketAddr,
    work: &Workloads,
    measure: Duration,
) -> Lags {
    let follower_channel = client::connect(follower, 1).await.remove(0);
    let mut stream = WatchServiceClient::new(follower_channel)
        .watch(pb::WatchRequest::default())
        .await
        .unwrap()
        .into_inner();
    // Mutex: the stream's task records, this one reads once the writes are done.
    let seen = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let recorder = Arc::clone(&seen);
    let watcher = tokio::spawn(async move {
        while let Some(message) = stream.next().await {
            let Ok(message) = message else { break };
            if let Some(pb::watch_response::Message::Event(event)) = message.message {
                recorder
                    .lock()
                    .unwrap()
                    .entry(event.revision)
                    .or_insert_with(Instant::now);
            }
        }
    });
    let channels = client::connect(writer, 4).await;
    let period = Duration::from_micros(1_000_000 * PACED_WRITERS / PACED_WRITES);
    let until = Instant::now() + measure;
    let mut tasks = Vec::new();
    for task in 0..PACED_WRITERS as usize {
        let channel = channels[task % channels.len()].clone();
        let (tenant, user) = work.write_targets[task % work.write_targets.len()].clone();
        tasks.push(tokio::spawn(async move {
            // Staggered, so that the writes spread over each period.
            tokio::time::sleep(period * task as u32 / PACED_WRITERS as u32).await;
            let mut ticks = tokio::time::interval(period);
            // A write slower than the period is made up for at once, so the writers keep
            // the rate (delaying every later tick instead lost a sixth of it on a busy
            // machine: 823–838 writes/s).
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut answered = Vec::new();
            let mut n = 0_u64;
            while Instant::now() < until {
                ticks.tick().await;
                n += 1;
                let reply = UserServiceClient::new(channel.clone())
                    .update_user(client::rename(
                        tenant.clone(),
                        user.clone(),
                        format!("Paced {task} {n}"),
                    ))
                    .await
                    .unwrap_or_else(|status| panic!("write failed: {status}"))
                    .into_inner();
                answered.push((reply.revision, Instant::now()));
            }
            answered
        }));
    }
    let started = Instant::now();
    let mut answered = Vec::new();
    for task in tasks {
        answered.extend(task.await.unwrap());
    }
    let took = started.elapsed();
    // The follower has streamed the last write within a second of its answer, or the
    // cell fails below (a missing revision).
    tokio::time::sleep(Duration::from_secs(1)).await;
    watcher.abort();
    let seen = seen.lock().unwrap();
    let mut sorted_micros: Vec<u64> = answered
        .iter()
        .map(|(revision, at)| {
            let streamed = seen
                .get(revision)
                .unwrap_or_else(|| panic!("the follower never streamed revision {revision}"));
            streamed.saturating_duration_since(*at).as_micros() as u64
        })
        .collect();
    sorted_micros.sort_unstable();
    Lags {
        writes: answered.len(),
        rate: answered.len() as f64 / took.as_secs_f64(),
        sorted_micros,
    }
}

fn print_table(
    rows: &[(String, Measured, Measured)],
    lags: &Lags,
    replica_starts: [Duration; 2],
    facts: u64,
    smoke: bool,
) {
    println!(
        "| workload | redb: calls/s | p50 | p99 | PostgreSQL replica: calls/s | p50 | p99 | replica ÷ redb |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, redb, replica) in rows {
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {:.2}× |",
            thousands(redb.rate),
            micros(redb.p50),
            micros(redb.p99),
            thousands(replica.rate),
            micros(replica.p50),
            micros(replica.p99),
            replica.rate / redb.rate
        );
    }
    println!();
    println!(
        "Follower lag: {} writes through one replica at {} writes/s ({PACED_WRITERS} writers \
         paced to {PACED_WRITES}/s); from each write's answer to the other replica streaming it: \
         p50 {}, p99 {}, p99.9 {}, worst {}.",
        lags.writes,
        thousands(lags.rate),
        micros(lags.at(0.5)),
        micros(lags.at(0.99)),
        micros(lags.at(0.999)),
        micros(lags.at(1.0)),
    );
    println!();
    if smoke {
        println!("Smoke mode: every answer was checked; speeds are not judged.");
        return;
    }
    let met = |ok: bool| if ok { "met" } else { "**not met**" };
    let check = rows[0].2.rate / rows[0].1.rate;
    let writes = rows[2].2.rate / rows[2].1.rate;
    let lag_p99 = lags.at(0.99);
    println!("| target | measured | |");
    println!("|---|---|---|");
    println!(
        "| durable writes/s on PostgreSQL, 64 writers ≥ 0.5× redb's | {writes:.2}× | {} |",
        met(writes >= 0.5)
    );
    println!(
        "| follower lag p99 ≤ 50 ms at 1,000 writes/s | {} at {} writes/s | {} |",
        micros(lag_p99),
        thousands(lags.rate),
        met(lag_p99 <= 50_000 && lags.rate >= 0.95 * PACED_WRITES as f64)
    );
    println!(
        "| Check throughput of a replica within 5% of redb mode | {check:.2}× | {} |",
        met(check >= 0.95)
    );
    let slowest_start = replica_starts.iter().max().copied().unwrap_or_default();
    println!(
        "| a new replica serving within 5 s with {} grants + memberships | {:.2} s right after the import, {:.2} s later | {} |",
        thousands(facts as f64),
        replica_starts[0].as_secs_f64(),
        replica_starts[1].as_secs_f64(),
        met(slowest_start <= Duration::from_secs(5) && facts >= 1_000_000)
    );
}
