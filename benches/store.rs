//! Store benchmarks, printed as markdown tables: durable changes per second with one writer
//! at a time against 64 concurrent writers (group commit), time from start to serving for
//! generated datasets (replaying the change log, and from a checkpoint), and database size
//! per stored fact.
//!
//! `cargo bench --bench store`; `AUTHZD_BENCH_SCALES=1,3,10` picks the dataset scales for
//! start-up (default `1,3`: the engine's default dataset, and about 1M grants+memberships).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_precision_loss
)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use authzd::{
    app::{App, ChangeMeta, StoreOptions, SystemClock},
    dataset::{Dataset, DatasetSpec},
    engine::{
        Access, ChangeContext, ChangeRecord, GrantId, GrantNode, Mutation, PermissionSet, Revision,
        Subject, Timestamp,
    },
    store::{DB_FILE_NAME, RedbStore},
};

const SEQUENTIAL: usize = 1_000;
const CONCURRENT_WRITERS: usize = 64;
const PER_WRITER: usize = 200;

fn main() {
    // The server's own runtime, as `authzd serve` builds it.
    let runtime = authzd::server::runtime().unwrap();
    println!(
        "## store ({} CPUs)\n",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    runtime.block_on(group_commit());
    let scales: Vec<u32> = std::env::var("AUTHZD_BENCH_SCALES")
        .unwrap_or_else(|_| "1,3".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "\n| dataset | grants+memberships | change log | start (replay log) | start (checkpoint) | file | bytes per fact |"
    );
    println!("|---|---|---|---|---|---|---|");
    for scale in scales {
        start_up(scale);
    }
}

async fn group_commit() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), Arc::new(SystemClock), StoreOptions::default()).unwrap();
    let spec = DatasetSpec {
        tenants: 1,
        users_per_tenant: 100,
        objects_per_service: 100,
        grants_per_service: 10,
        ..DatasetSpec::standard(1)
    };
    let dataset = Dataset::generate(&spec);
    for mutation in dataset.mutations.clone() {
        app.submit(mutation, ChangeMeta::default()).await.unwrap();
    }
    let tenant = dataset.tenants[0].tenant.clone();
    let service = dataset.services[0].clone();
    let grant = move |name: String| Mutation::GiveGrant {
        tenant: tenant.clone(),
        service: service.clone(),
        grant: GrantId::parse(&name).unwrap(),
        subject: Subject::User(authzd::engine::UserId::parse("u0").unwrap()),
        access: Access::Permissions(PermissionSet::parse(["backup.run"]).unwrap()),
        node: GrantNode::Service,
        expires_at: None,
        dependencies: authzd::engine::Dependencies::Unchecked,
    };

    let started = Instant::now();
    for n in 0..SEQUENTIAL {
        app.submit(grant(format!("seq{n}")), ChangeMeta::default())
            .await
            .unwrap();
    }
    let sequential = SEQUENTIAL as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..CONCURRENT_WRITERS {
        let app = app.clone();
        let grant = grant.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..PER_WRITER {
                app.submit(grant(format!("c{w}-{n}")), ChangeMeta::default())
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let concurrent = (CONCURRENT_WRITERS * PER_WRITER) as f64 / started.elapsed().as_secs_f64();
    println!("| writers | durable changes per second | ratio |");
    println!("|---|---|---|");
    println!("| 1 at a time ({SEQUENTIAL} changes) | {sequential:.0} | 1.0× |");
    println!(
        "| {CONCURRENT_WRITERS} concurrent ({} changes) | {concurrent:.0} | {:.1}× |",
        CONCURRENT_WRITERS * PER_WRITER,
        concurrent / sequential
    );
    tokio::task::spawn_blocking(move || app.close())
        .await
        .unwrap();
}

fn start_up(scale: u32) {
    let dataset = Dataset::generate(&DatasetSpec::standard(scale));
    let facts = dataset.stats.grants + dataset.stats.memberships;
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(dir.path()).unwrap();
        let records: Vec<ChangeRecord> = dataset
            .mutations
            .iter()
            .enumerate()
            .map(|(n, mutation)| ChangeRecord {
                revision: Revision::new(n as u64 + 1),
                committed_at: Timestamp::from_unix_millis(1_700_000_000_000),
                actor: None,
                actor_partner: None,
                caller: "bench".into(),
                request_id: None,
                context: ChangeContext::from_mutation(mutation),
                mutation: mutation.clone(),
            })
            .collect();
        for chunk in records.chunks(20_000) {
            store.append(chunk).unwrap();
        }
    }
    drop(dataset);
    let log_size = file_size(dir.path());
    // Without a checkpoint: replay the whole change log.
    let (replay, app) = timed_open(dir.path());
    // Closing writes a checkpoint; the next start reads it.
    app.close();
    let (from_checkpoint, app) = timed_open(dir.path());
    app.close();
    let size = file_size(dir.path());
    println!(
        "| scale {scale} | {facts} | {:.0} MiB | {:.2} s | {:.2} s | {:.0} MiB | {:.0} |",
        log_size as f64 / 1_048_576.0,
        replay.as_secs_f64(),
        from_checkpoint.as_secs_f64(),
        size as f64 / 1_048_576.0,
        size as f64 / facts as f64
    );
}

fn timed_open(dir: &std::path::Path) -> (Duration, App) {
    let started = Instant::now();
    let app = App::open(dir, Arc::new(SystemClock), StoreOptions::default()).unwrap();
    (started.elapsed(), app)
}

fn file_size(dir: &std::path::Path) -> u64 {
    std::fs::metadata(dir.join(DB_FILE_NAME)).map_or(0, |m| m.len())
}
