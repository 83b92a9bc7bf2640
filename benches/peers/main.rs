//! The same decision workload answered in process by authzd's engine, by `cedar-policy`
//! and by `casbin`, printed as a markdown table: per-check time of each and how many times
//! slower each peer is than the engine, measured in one run.
//!
//! The workload is `authzd::dataset`'s: its mutations build the engine's snapshot, and the
//! same mutations, read as plain facts (`facts.rs`), are translated into Cedar entities and
//! policies (`cedar.rs`) and casbin RBAC-with-domains rules (`casbin.rs`). Before anything
//! is timed, all three answer every check of the list and must agree on each; the first
//! disagreement ends the run with the query, the three answers and the engine's
//! explanation.
//!
//! `cargo bench --bench peers` runs 4 tenants of the standard shape (1,000 users, 50
//! nested groups, 2 services of 2,000 objects, 20 security groups, 5 levels and 500 grants
//! each): the per-tenant shape is the standard one, so each peer's per-domain store is as
//! large as in the full dataset, while building the peers' stores stays within a minute.
//! `AUTHZD_BENCH_SMOKE=1` runs a tiny workload (one small tenant, a few hundred checks) in
//! seconds, to check the translation and the agreement in CI.
//!
//! Fairness: each peer gets one store per domain (tenant and service), pre-selected for
//! it, so it evaluates only that domain's policies; its requests are built before timing,
//! as the engine's queries are; only the decision call is timed (with `Instant`, whose
//! own ~25 ns is included for all three). casbin has no clock, so expiry and locks are
//! applied while translating it, which spares it work.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation
)]

mod casbin;
mod cedar;
mod facts;

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use authzd::{
    dataset::{Dataset, DatasetSpec},
    engine::Timestamp,
};

// As `authzd serve` runs (and as benches/engine.rs measures): on mimalloc. The peers run
// on it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

/// What one run measures.
struct Workload {
    spec: DatasetSpec,
    checks: usize,
    /// Timed passes over the check list per evaluator; their per-check times are pooled.
    rounds: usize,
}

fn workload() -> Workload {
    if std::env::var_os("AUTHZD_BENCH_SMOKE").is_some_and(|v| v == "1") {
        Workload {
            spec: DatasetSpec {
                tenants: 1,
                users_per_tenant: 60,
                objects_per_service: 120,
                grants_per_service: 40,
                ..DatasetSpec::standard(1)
            },
            checks: 300,
            rounds: 1,
        }
    } else {
        Workload {
            spec: DatasetSpec {
                tenants: 4,
                ..DatasetSpec::standard(1)
            },
            checks: 2_000,
            rounds: 3,
        }
    }
}

fn main() {
    let Workload {
        spec,
        checks,
        rounds,
    } = workload();
    let dataset = Dataset::generate(&spec);
    let stats = dataset.stats;

    let started = Instant::now();
    let snapshot = dataset.build(NOW).expect("the dataset applies");
    let engine_build = started.elapsed();

    let facts = facts::Facts::from_mutations(&dataset.mutations);
    let started = Instant::now();
    let cedar = cedar::Cedar::build(&facts);
    let cedar_build = started.elapsed();
    let started = Instant::now();
    let casbin = casbin::Casbin::build(&facts, NOW);
    let casbin_build = started.elapsed();

    let queries = dataset.queries(checks, 42);
    let cedar_checks: Vec<_> = queries.iter().map(|q| cedar.prepare(q, NOW)).collect();
    let casbin_checks: Vec<_> = queries.iter().map(|q| casbin.prepare(q)).collect();

    let mut allowed = 0;
    for (n, query) in queries.iter().enumerate() {
        let engine = snapshot.check(query, NOW);
        let by_cedar = cedar.decide(&cedar_checks[n]);
        let by_casbin = casbin.decide(&casbin_checks[n]);
        assert!(
            engine == by_cedar && engine == by_casbin,
            "check {n} disagrees: engine {engine}, cedar {by_cedar}, casbin {by_casbin}\n\
             query: {query:?}\nengine's explanation: {:?}",
            snapshot.explain(query, NOW)
        );
        allowed += usize::from(engine);
    }

    let engine = measure(rounds, &queries, |q| snapshot.check(q, NOW));
    let by_cedar = measure(rounds, &cedar_checks, |c| cedar.decide(c));
    let by_casbin = measure(rounds, &casbin_checks, |c| casbin.decide(c));

    println!(
        "{} tenants, {} users, {} groups, {} objects, {} grants, {} memberships; \
         {} checks ({allowed} allowed), all three agreeing on each; {rounds} timed pass(es)",
        stats.tenants,
        stats.users,
        stats.groups,
        stats.objects,
        stats.grants,
        stats.memberships,
        queries.len(),
    );
    println!(
        "built in: engine {engine_build:.2?}; cedar {cedar_build:.2?} ({} policies); \
         casbin {casbin_build:.2?} ({} p lines)\n",
        cedar.policy_count(),
        casbin.policy_count(),
    );
    println!("| evaluator | per-check median | p99 | checks/s, one core | median vs engine |");
    println!("|---|---|---|---|---|");
    for (name, timing) in [
        ("authzd engine", &engine),
        ("cedar-policy 4.14", &by_cedar),
        ("casbin 2.20 (RBAC with domains)", &by_casbin),
    ] {
        println!(
            "| {name} | {} | {} | {} | {:.0}× |",
            human(timing.median),
            human(timing.p99),
            per_second(timing.per_second),
            timing.median.as_secs_f64() / engine.median.as_secs_f64(),
        );
    }
}

/// Per-check times of one evaluator.
struct Timing {
    median: Duration,
    p99: Duration,
    per_second: f64,
}

/// Times `decide` on each item, `rounds` times over the list.
fn measure<T>(rounds: usize, items: &[T], decide: impl Fn(&T) -> bool) -> Timing {
    let mut times = Vec::with_capacity(rounds * items.len());
    let mut total = Duration::ZERO;
    for _ in 0..rounds {
        for item in items {
            let started = Instant::now();
            black_box(decide(black_box(item)));
            let elapsed = started.elapsed();
            total += elapsed;
            times.push(elapsed);
        }
    }
    times.sort_unstable();
    Timing {
        median: times[times.len() / 2],
        p99: times[times.len() * 99 / 100],
        per_second: times.len() as f64 / total.as_secs_f64(),
    }
}

fn human(time: Duration) -> String {
    let nanos = time.as_nanos();
    if nanos < 10_000 {
        format!("{nanos} ns")
    } else if nanos < 10_000_000 {
        format!("{:.1} µs", nanos as f64 / 1e3)
    } else {
        format!("{:.1} ms", nanos as f64 / 1e6)
    }
}

fn per_second(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.1} M", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1} K", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}
