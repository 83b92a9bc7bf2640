//! Where the state's bytes go: the in-memory snapshot structure by structure, printed as a
//! markdown table.
//!
//! `cargo bench --bench footprint`; `AUTHZD_BENCH_SCALE=10` multiplies the default
//! dataset's tenants. Bytes are the heap's live bytes as the allocator was asked for them
//! (the system allocator, counted), so the table adds up to the snapshot; the resident size
//! beside it also holds the allocator's slack.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

use std::alloc::System;

use authzd::{
    dataset::{Dataset, DatasetSpec},
    engine::{Revision, SnapshotBuilder, Timestamp, footprint},
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
    let before = live_bytes();
    let rss_before = rss_kib();
    let dataset = Dataset::generate(&DatasetSpec::standard(scale));
    let stats = dataset.stats;
    let facts = stats.grants + stats.memberships;
    let mut builder = SnapshotBuilder::new();
    for (n, mutation) in dataset.mutations.iter().enumerate() {
        builder
            .apply(Revision::new(n as u64 + 1), mutation, NOW)
            .expect("the dataset applies");
    }
    let snapshot = builder.finish();
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
