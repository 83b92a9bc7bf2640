//! Where the state's bytes go, printed as markdown tables: the in-memory snapshot structure
//! by structure, and the database after loading the dataset through the writer.
//!
//! `cargo bench --bench footprint`; `AUTHZD_BENCH_SCALE=10` multiplies the default
//! dataset's tenants; `AUTHZD_BENCH_PARTS=memory` or `database` runs one part;
//! `AUTHZD_BENCH_SMOKE=1` runs both on two tenants in seconds (CI, which judges no number).
//!
//! Memory: bytes are the heap's live bytes as the allocator was asked for them (the system
//! allocator, counted), so the table adds up to the snapshot; the resident size beside it
//! also holds the allocator's slack.
//!
//! Database: every change of the dataset is submitted to the writer as the management API
//! does (a caller, a request id, a method, so each is audited), each tenant's changes in
//! order and the tenants at once (group commit), with the default checkpoint interval and
//! retention, into a temporary directory; closing writes the last checkpoint. Then each
//! table is read back and summed (`RedbStore::footprint`). Then the release `authzd serve`
//! starts on it: how long until it listens, and its resident size then (the measure an
//! operator sees); `AUTHZD_BENCH_OTHER_BINARY=path` starts another build too, on the same
//! directory, for a before and after.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

use std::alloc::System;

use std::{sync::Arc, time::Instant};

use authzd::{
    app::{App, ChangeMeta, StoreOptions, SystemClock},
    dataset::{Dataset, DatasetSpec},
    engine::{Mutation, Timestamp, footprint},
    store::RedbStore,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const NOW: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

fn live_bytes() -> usize {
    // A reallocation is already counted in these two (its growth or its shrinking).
    let stats = GLOBAL.stats();
    stats
        .bytes_allocated
        .saturating_sub(stats.bytes_deallocated)
}

fn main() {
    let scale: u32 = std::env::var("AUTHZD_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let parts = std::env::var("AUTHZD_BENCH_PARTS").unwrap_or_else(|_| "memory,database".into());
    if parts.contains("memory") {
        memory(scale);
    }
    if parts.contains("database") {
        database(scale);
    }
}

fn memory(scale: u32) {
    let before = live_bytes();
    let rss_before = rss_kib();
    let dataset = Dataset::generate(&spec(scale));
    let stats = dataset.stats;
    let facts = stats.grants + stats.memberships;
    let snapshot = dataset.build(NOW).expect("the dataset applies");
    drop(dataset);
    let total = live_bytes().saturating_sub(before);
    let resident = rss_kib().saturating_sub(rss_before) * 1024;
    println!(
        "## memory at scale {scale}: {} tenants, {} users, {} objects, {facts} grants+memberships\n",
        stats.tenants, stats.users, stats.objects
    );
    let per_fact = |bytes: usize| bytes as f64 / facts as f64;
    println!("| structure | items | bytes | bytes per grant+membership | share |");
    println!("|---|---|---|---|---|");
    let mut live = live_bytes;
    for part in footprint(snapshot, &mut live) {
        println!(
            "| {} | {} {} | {} | {:.0} | {:.1}% |",
            part.name,
            part.count,
            part.items,
            mib(part.bytes),
            per_fact(part.bytes),
            part.bytes as f64 * 100.0 / total as f64
        );
    }
    println!(
        "| **snapshot** | | **{}** | **{:.0}** | |",
        mib(total),
        per_fact(total)
    );
    println!(
        "| resident growth (system allocator) | | {} | {:.0} | |",
        mib(usize::try_from(resident).unwrap_or(0)),
        per_fact(usize::try_from(resident).unwrap_or(0))
    );
}

fn database(scale: u32) {
    let dataset = Dataset::generate(&spec(scale));
    let facts = dataset.stats.grants + dataset.stats.memberships;
    let changes = dataset.mutations.len();
    let dir = tempfile::tempdir().unwrap();
    let runtime = authzd::server::runtime().unwrap();
    let started = Instant::now();
    runtime.block_on(load(dir.path(), dataset.mutations));
    let loaded = started.elapsed();
    let footprint = RedbStore::open(dir.path()).unwrap().footprint().unwrap();
    let (start_up, resident) = restarted_server(dir.path(), env!("CARGO_BIN_EXE_authzd").as_ref());
    // Another build on the same directory, for a before and after in one run.
    let other = std::env::var_os("AUTHZD_BENCH_OTHER_BINARY")
        .map(|binary| restarted_server(dir.path(), binary.as_ref()));
    let per_fact = |bytes: u64| bytes as f64 / facts as f64;
    println!(
        "\n## database at scale {scale}: {changes} changes loaded through the writer in {:.0} s, {facts} grants+memberships\n",
        loaded.as_secs_f64(),
    );
    println!(
        "`authzd serve` started on it served after {:.2} s, resident {} ({:.0} bytes per grant+membership)\n",
        start_up.as_secs_f64(),
        mib(usize::try_from(resident).unwrap_or(usize::MAX)),
        per_fact(resident)
    );
    if let Some((start_up, resident)) = other {
        println!(
            "`AUTHZD_BENCH_OTHER_BINARY` started on it served after {:.2} s, resident {} ({:.0} bytes per grant+membership)\n",
            start_up.as_secs_f64(),
            mib(usize::try_from(resident).unwrap_or(usize::MAX)),
            per_fact(resident)
        );
    }
    println!("| part | entries | bytes | bytes per grant+membership | share of the file |");
    println!("|---|---|---|---|---|");
    let share = |bytes: u64| bytes as f64 * 100.0 / footprint.file.max(1) as f64;
    for table in &footprint.tables {
        println!(
            "| table `{}` | {} | {} | {:.0} | {:.1}% |",
            table.name,
            table.entries,
            mib(usize::try_from(table.payload).unwrap_or(usize::MAX)),
            per_fact(table.payload),
            share(table.payload)
        );
    }
    let overhead = footprint.overhead();
    println!(
        "| redb pages, free space and space not given back | | {} | {:.0} | {:.1}% |",
        mib(usize::try_from(overhead).unwrap_or(usize::MAX)),
        per_fact(overhead),
        share(overhead)
    );
    println!(
        "| **file** | | **{}** | **{:.0}** | |",
        mib(usize::try_from(footprint.file).unwrap_or(usize::MAX)),
        per_fact(footprint.file)
    );
    println!(
        "\n| change kind | records | bytes per record | of which context | share of the log |"
    );
    println!("|---|---|---|---|---|");
    let log: u64 = footprint.changes.values().map(|k| k.bytes).sum();
    let mut kinds: Vec<_> = footprint.changes.iter().collect();
    kinds.sort_by_key(|(_, k)| std::cmp::Reverse(k.bytes));
    for (kind, k) in kinds {
        println!(
            "| {kind:?} | {} | {:.0} | {:.0} | {:.1}% |",
            k.records,
            k.bytes as f64 / k.records.max(1) as f64,
            k.context as f64 / k.records.max(1) as f64,
            k.bytes as f64 * 100.0 / log.max(1) as f64
        );
    }
}

/// Starts `binary serve` (the release build's, or another) on `data_dir` (its own allocator, as operators run it)
/// and returns how long it took to listen and its resident size then; stops it.
fn restarted_server(
    data_dir: &std::path::Path,
    binary: &std::path::Path,
) -> (std::time::Duration, u64) {
    use std::io::BufRead as _;
    let started = Instant::now();
    let mut command = std::process::Command::new(binary);
    for (name, _) in std::env::vars() {
        if name.starts_with("AUTHZD_") || name == "RUST_LOG" {
            // The bench's own variables would be read as the server's settings.
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--log-level", "info"])
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut log = Vec::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        let listening = line.contains("listening on ");
        log.push(line);
        if listening {
            break;
        }
    }
    let listening = log.last().is_some_and(|l| l.contains("listening on "));
    let took = started.elapsed();
    let resident = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024;
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "the server never listened:\n{}", log.join("\n"));
    (took, resident)
}

/// Submits every change as the API would: the platform's first, then each tenant's in
/// order, the tenants at once.
async fn load(dir: &std::path::Path, mutations: Vec<Mutation>) {
    let app = App::open(dir, Arc::new(SystemClock), StoreOptions::default()).unwrap();
    let mut chains: Vec<Vec<Mutation>> = vec![Vec::new()];
    for mutation in mutations {
        if matches!(mutation, Mutation::CreateTenant { .. }) {
            chains.push(Vec::new());
        }
        chains.last_mut().unwrap().push(mutation);
    }
    let mut chains = chains.into_iter();
    let platform = chains.next().unwrap_or_default();
    submit_all(&app, 0, platform).await;
    let mut tasks = Vec::new();
    for (n, chain) in chains.enumerate() {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            submit_all(&app, n + 1, chain).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    tokio::task::spawn_blocking(move || app.close())
        .await
        .unwrap();
}

async fn submit_all(app: &App, chain: usize, mutations: Vec<Mutation>) {
    for (n, mutation) in mutations.into_iter().enumerate() {
        let meta = ChangeMeta {
            actor: None,
            caller: "bench".into(),
            // As long as the UUIDs clients send.
            request_id: Some(format!("00000000-0000-4000-{chain:04}-{n:012}")),
            method: "authz.v1.UserService/InviteUser".into(),
        };
        app.submit(mutation, meta).await.unwrap();
    }
}

/// The default dataset at `scale`, or two of its tenants in smoke mode.
fn spec(scale: u32) -> DatasetSpec {
    if std::env::var("AUTHZD_BENCH_SMOKE").is_ok_and(|v| v == "1") {
        DatasetSpec {
            tenants: 2,
            ..DatasetSpec::standard(1)
        }
    } else {
        DatasetSpec::standard(scale)
    }
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}
