//! Engine benchmarks on the generated dataset (`authzd::dataset`), printed as a markdown
//! table: check latency percentiles and throughput, explain, views, lookups, applying one
//! mutation, building the whole snapshot (its memory: `benches/footprint.rs`).
//!
//! `cargo bench --bench engine` runs the default dataset; `AUTHZD_BENCH_SCALE=10` multiplies
//! its tenants. Latencies are timed per call with `Instant` (its own cost, ~20-30 ns here,
//! is included); throughput is a tight loop without per-call timing.
//!
//! `AUTHZD_BENCH_CHECK_LOOP=N` builds the snapshot and then only runs N checks in
//! [`check_loop`] (after N others to warm the caches), for a cache simulator, which counts
//! instructions and misses exactly where this shared machine's timings drift:
//! `valgrind --tool=callgrind --cache-sim=yes --collect-atstart=no
//! --toggle-collect='*check_loop*' --toggle-collect='*request_copy*'
//! target/release/deps/engine-…`, and divide by N.
//! `AUTHZD_BENCH_TENANTS=K` draws those queries from the first K tenants. Before the
//! checks it prints `built` and reads a line (or the end) of standard input, so that a
//! script can start valgrind with `--instr-atstart=no` and switch it on after the build
//! (`callgrind_control -i on`), which fully instrumented takes many minutes.
//!
//! `AUTHZD_BENCH_APPLY_ONLY=1` builds the snapshot and then only measures applying
//! mutations (the same `built` handshake first; `--toggle-collect='engine::apply_rows'`);
//! `AUTHZD_BENCH_APPLY_KIND=K` makes every sample mutation the K-th kind of
//! [`SAMPLE_KINDS`] (counting from 0), to profile that one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::{hint::black_box, io::Write as _, time::Instant};

use authzd::{
    dataset::{Dataset, DatasetSpec},
    engine::{
        Access, CheckQuery, GrantId, GrantNode, GroupId, Mutation, NewUser, ObjectId, Permission,
        PermissionSet, SecurityGroupId, ServiceId, Snapshot, Subject, TenantId, Timestamp, UserId,
        UserKind,
    },
};

// As `authzd serve` runs: on mimalloc, which puts the heap on transparent huge pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

fn main() {
    let scale: u32 = std::env::var("AUTHZD_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let spec = DatasetSpec::standard(scale);
    let dataset = Dataset::generate(&spec);
    let stats = dataset.stats;

    let started = Instant::now();
    let snapshot = dataset.build(NOW).expect("the dataset applies");
    let build = started.elapsed();
    let rss_after = rss_kib();
    let huge_after = status_kib("/proc/self/smaps_rollup", "AnonHugePages:");

    if let Some(checks) = env_number("AUTHZD_BENCH_CHECK_LOOP") {
        let tenants = env_number("AUTHZD_BENCH_TENANTS").unwrap_or(dataset.tenants.len());
        let queries = |seed| request_queries(&dataset, tenants, checks, seed);
        let warm_up = queries(7);
        let measured = queries(42);
        wait_for_go();
        black_box(warm_up.iter().filter(|q| snapshot.check(q, NOW)).count());
        let allowed = check_loop(&snapshot, &measured);
        println!(
            "{checks} checks over the first {} tenants at scale {scale}: {allowed} allowed",
            tenants.min(dataset.tenants.len())
        );
        return;
    }

    if std::env::var_os("AUTHZD_BENCH_APPLY_ONLY").is_some() {
        wait_for_go();
        let rows = apply_rows(&snapshot, &dataset);
        println!("| measure | median | p99 | p99.9 | note |");
        println!("|---|---|---|---|---|");
        print_apply_rows(&rows);
        return;
    }

    let queries = request_queries(&dataset, dataset.tenants.len(), 1_000_000, 42);
    let allowed = queries.iter().filter(|q| snapshot.check(q, NOW)).count();
    let (check, round_medians) = check_rounds(&snapshot, &queries);
    // The same checks over a fixed working set: the first 100 tenants (the whole default
    // dataset) and one tenant (its state fits in the CPU's last-level cache). Each reads
    // as much memory at every scale, so what differs between scales here is what a check
    // computes, not how far its memory is.
    let fixed_sets: Vec<(usize, Percentiles, Vec<u64>)> = [100, 1]
        .into_iter()
        .map(|tenants| {
            let queries = request_queries(&dataset, tenants, 1_000_000, 42);
            let (p, medians) = check_rounds(&snapshot, &queries);
            (tenants, p, medians)
        })
        .collect();
    let mut throughputs: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            let mut yes = 0usize;
            for q in &queries {
                yes += usize::from(black_box(snapshot.check(black_box(q), NOW)));
            }
            black_box(yes);
            queries.len() as f64 / started.elapsed().as_secs_f64()
        })
        .collect();
    throughputs.sort_by(f64::total_cmp);
    let throughput = throughputs[throughputs.len() / 2];

    let explain = percentiles(
        queries[..100_000]
            .iter()
            .map(|q| time(|| snapshot.explain(q, NOW)))
            .collect(),
    );
    let user_view = percentiles(
        queries[..10_000]
            .iter()
            .map(|q| time(|| snapshot.user_permissions(&q.tenant, &q.user, None, NOW)))
            .collect(),
    );
    let objects: Vec<_> = queries
        .iter()
        .filter(|q| q.object.is_some())
        .take(10_000)
        .collect();
    let object_view = percentiles(
        objects
            .iter()
            .map(|q| {
                time(|| {
                    snapshot.object_access(&q.tenant, &q.service, q.object.as_ref().unwrap(), NOW)
                })
            })
            .collect(),
    );
    let lookup_objects = percentiles(
        queries[..2_000]
            .iter()
            .map(|q| {
                time(|| snapshot.lookup_objects(&q.tenant, &q.service, &q.user, &q.permission, NOW))
            })
            .collect(),
    );
    let lookup_subjects = percentiles(
        objects[..2_000]
            .iter()
            .map(|q| {
                time(|| {
                    snapshot.lookup_subjects(
                        &q.tenant,
                        &q.service,
                        q.object.as_ref(),
                        &q.permission,
                        NOW,
                    )
                })
            })
            .collect(),
    );
    let apply = apply_rows(&snapshot, &dataset);

    println!(
        "## engine, scale {scale} ({} CPUs, {} MiB of the heap on huge pages after the build)\n",
        std::thread::available_parallelism().map_or(1, usize::from),
        huge_after / 1024,
    );
    println!(
        "dataset: {} tenants, {} users, {} groups, {} memberships, {} grants, {} objects, {} mutations\n",
        stats.tenants,
        stats.users,
        stats.groups,
        stats.memberships,
        stats.grants,
        stats.objects,
        dataset.mutations.len()
    );
    println!("| measure | median | p99 | p99.9 | note |");
    println!("|---|---|---|---|---|");
    row(
        "check",
        &check,
        &format!(
            "{:.1}% allowed of {} queries; median of {ROUNDS} rounds (round medians {}–{})",
            allowed as f64 * 100.0 / queries.len() as f64,
            queries.len(),
            human(round_medians[0]),
            human(round_medians[round_medians.len() - 1]),
        ),
    );
    for (tenants, p, medians) in &fixed_sets {
        let what = if *tenants == 1 {
            "one tenant".to_owned()
        } else {
            format!("first {tenants} tenants")
        };
        row(
            &format!("check, {what}"),
            p,
            &format!(
                "fixed working set, the same at every scale; round medians {}–{}",
                human(medians[0]),
                human(medians[medians.len() - 1]),
            ),
        );
    }
    println!(
        "| checks per second, one core | {throughput:.0} | | | tight loop; median of {ROUNDS} rounds ({:.0}–{:.0}) |",
        throughputs[0],
        throughputs[throughputs.len() - 1]
    );
    row("explain", &explain, "100k queries");
    row("user view (all services)", &user_view, "10k users");
    row("object view", &object_view, "10k objects");
    row("lookup objects", &lookup_objects, "2k");
    row("lookup subjects", &lookup_subjects, "2k");
    print_apply_rows(&apply);
    println!(
        "| build whole snapshot | {:.2} s | | | {} mutations |",
        build.as_secs_f64(),
        dataset.mutations.len()
    );
    // The baseline a check's misses are judged by: one random read that waits for the one
    // before it, over as much memory as the process holds (the snapshot, and the dataset
    // it was built from: the resident growth of the build alone understates the snapshot,
    // since the heap reuses the pages of what the build freed; `benches/footprint.rs`
    // measures the snapshot itself), measured in the same run.
    let resident_bytes = usize::try_from(rss_after * 1024).unwrap();
    let read = dependent_read_nanos(resident_bytes);
    println!(
        "| baseline: dependent random read | {read:.0} ns | | | one cache line at a time over {:.0} MiB, the process's resident size; check median = {:.1} reads |",
        resident_bytes as f64 / 1024.0 / 1024.0,
        check.median as f64 / read
    );
}

/// The time of one read from a random cache line of a `bytes`-large heap, when the address
/// comes from the read before (so no two overlap): the median of [`ROUNDS`] passes of a
/// walk through every line in one random cycle. A check's own misses depend on each
/// other like that (the user's record, then its entries), so as the state grows past the
/// caches and the TLB's reach, a check slows down by as many of these as it misses.
fn dependent_read_nanos(bytes: usize) -> f64 {
    const WORDS_PER_LINE: usize = 8;
    const STEPS: usize = 2_000_000;
    let lines = (bytes / 64).max(2);
    // Sattolo's shuffle: a permutation that is one cycle through every line.
    let mut next: Vec<u32> = (0..u32::try_from(lines).unwrap()).collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for i in (1..lines).rev() {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let j = ((seed >> 33) as usize) % i;
        next.swap(i, j);
    }
    let mut heap = vec![0u64; lines * WORDS_PER_LINE];
    for (line, to) in next.iter().enumerate() {
        heap[line * WORDS_PER_LINE] = u64::from(*to);
    }
    drop(next);
    let mut at = 0usize;
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..STEPS {
                at = heap[at * WORDS_PER_LINE] as usize;
            }
            started.elapsed().as_nanos() as f64 / STEPS as f64
        })
        .collect();
    black_box(at);
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

/// Applying each of 2,100 sample mutations to the full snapshot, each on its own: overall,
/// per kind, and the time to free the snapshot each one made (measured apart: the server
/// answers a write before it frees the version the write replaced).
struct ApplyRows {
    overall: Percentiles,
    by_kind: Vec<(&'static str, Percentiles)>,
    free: Percentiles,
}

fn apply_rows(snapshot: &Snapshot, dataset: &Dataset) -> ApplyRows {
    let mutations = sample_mutations(dataset, 2_100);
    let next = snapshot.revision().next();
    let (apply_times, free_times): (Vec<u64>, Vec<u64>) = mutations
        .iter()
        .map(|m| {
            let started = Instant::now();
            let applied = black_box(
                snapshot
                    .apply(next, m, NOW)
                    .expect("sample mutation applies"),
            );
            let applying = started.elapsed();
            (nanos(applying), time(|| drop(applied)))
        })
        .unzip();
    let by_kind = SAMPLE_KINDS
        .iter()
        .enumerate()
        .map(|(kind, name)| {
            let times = apply_times
                .iter()
                .skip(kind)
                .step_by(SAMPLE_KINDS.len())
                .copied()
                .collect();
            (*name, percentiles(times))
        })
        .collect();
    ApplyRows {
        overall: percentiles(apply_times),
        by_kind,
        free: percentiles(free_times),
    }
}

fn print_apply_rows(rows: &ApplyRows) {
    row(
        "apply one mutation",
        &rows.overall,
        "2,100 varied mutations on the full snapshot",
    );
    for (name, p) in &rows.by_kind {
        row(&format!("apply: {name}"), p, "300 of them");
    }
    row(
        "free the version a mutation replaced",
        &rows.free,
        "the same 2,100; the server does it after answering",
    );
}

/// What `sample_mutations` makes, in its order.
const SAMPLE_KINDS: [&str; 7] = [
    "give a group a grant on an object",
    "nest a directory group",
    "add a security-group member",
    "move an object",
    "invite a user",
    "take a nested group out of its parent",
    "revoke a grant",
];

/// A mix of writes the management API makes, each valid on the full dataset.
fn sample_mutations(dataset: &Dataset, count: usize) -> Vec<Mutation> {
    let mut out = Vec::with_capacity(count);
    let service = dataset.services[0].clone();
    // For profiling one kind (its place in SAMPLE_KINDS); the rows then all show that one.
    let only_kind = env_number("AUTHZD_BENCH_APPLY_KIND");
    for n in 0..count {
        let t = &dataset.tenants[n % dataset.tenants.len()];
        let object = t.objects[0][n % t.objects[0].len()].clone();
        let tenant = t.tenant.clone();
        out.push(match only_kind.unwrap_or(n % SAMPLE_KINDS.len()) {
            0 => Mutation::GiveGrant {
                tenant,
                service: service.clone(),
                grant: GrantId::parse(&format!("bench{n}")).unwrap(),
                subject: Subject::Group(GroupId::parse("g3").unwrap()),
                access: Access::Permissions(PermissionSet::parse(["backup.*"]).unwrap()),
                node: GrantNode::Object(object),
                expires_at: None,
                dependencies: authzd::engine::Dependencies::Unchecked,
            },
            1 => Mutation::AddGroupMember {
                tenant,
                group: GroupId::parse("g49").unwrap(),
                member: Subject::Group(GroupId::parse("g0").unwrap()),
            },
            2 => Mutation::AddSecurityGroupMember {
                tenant,
                service: service.clone(),
                group: SecurityGroupId::parse("sg0").unwrap(),
                // The owner is never a generated security-group member.
                member: Subject::User(UserId::parse("u0").unwrap()),
            },
            3 => Mutation::MoveObject {
                tenant,
                service: service.clone(),
                object: ObjectId::parse("o1500").unwrap(),
                new_parent: Some(ObjectId::parse("o3").unwrap()),
                dependents: authzd::engine::Dependencies::Unchecked,
            },
            5 => Mutation::RemoveGroupMember {
                tenant,
                group: GroupId::parse("g0").unwrap(),
                member: Subject::Group(GroupId::parse("g10").unwrap()),
            },
            6 => Mutation::RevokeGrant {
                tenant,
                service: service.clone(),
                grant: GrantId::parse(&format!("grant{}", n % 500)).unwrap(),
                with_dependents: true,
            },
            _ => Mutation::InviteUser {
                tenant,
                user: NewUser {
                    user: UserId::parse(&format!("new{n}")).unwrap(),
                    email: format!("new{n}@bench.example"),
                    display_name: "new".into(),
                    kind: UserKind::Local,
                },
            },
        });
    }
    out
}

/// Says `built` and waits for a line (or the end) of standard input: a script can then
/// switch a cache simulator's instrumentation on for what follows only.
fn wait_for_go() {
    println!("built");
    std::io::stdout().flush().unwrap();
    std::io::stdin().read_line(&mut String::new()).unwrap();
}

/// A number from the environment variable `name`, if it is set to one.
fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// `count` queries over the first `tenants` tenants, as the API hands them over: every id
/// parsed from the request into a new allocation, not shared with the snapshot (a shared
/// id would compare by pointer, and its text would sit cold in the snapshot's memory
/// instead of fresh from the request).
fn request_queries(dataset: &Dataset, tenants: usize, count: usize, seed: u64) -> Vec<CheckQuery> {
    dataset
        .queries_within(tenants, count, seed)
        .iter()
        .map(as_request)
        .collect()
}

/// The checks a cache simulator counts (see the module documentation): kept out of line,
/// so that it can be told where to start and stop.
#[inline(never)]
fn check_loop(snapshot: &Snapshot, queries: &[CheckQuery]) -> usize {
    let Some(mut query) = queries.first().cloned() else {
        return 0;
    };
    let mut allowed = 0;
    for next in queries {
        request_copy(&mut query, next);
        allowed += usize::from(snapshot.check(black_box(&query), NOW));
    }
    allowed
}

/// Copies the next query where a server has its request: in the CPU caches, fresh from
/// parsing. Read from the large vector instead, a query costs the simulator (which has
/// no prefetcher) misses that neither a server nor the timed loop pays; out of line, so
/// that the simulator can leave it out (`--toggle-collect='*request_copy*'`).
#[inline(never)]
fn request_copy(to: &mut CheckQuery, from: &CheckQuery) {
    to.clone_from(from);
}

/// The check latencies: each percentile the median over ROUNDS passes over every query,
/// since this shared machine's speed drifts by tens of percent from one second to the
/// next; with the round medians, sorted, to show the spread.
fn check_rounds(snapshot: &Snapshot, queries: &[CheckQuery]) -> (Percentiles, Vec<u64>) {
    let rounds: Vec<Percentiles> = (0..ROUNDS)
        .map(|_| {
            percentiles(
                queries
                    .iter()
                    .map(|q| time(|| snapshot.check(q, NOW)))
                    .collect(),
            )
        })
        .collect();
    let mut medians: Vec<u64> = rounds.iter().map(|p| p.median).collect();
    medians.sort_unstable();
    (median_of(&rounds), medians)
}

/// The query with every id parsed anew from its text, as the API builds it from a request.
fn as_request(query: &CheckQuery) -> CheckQuery {
    CheckQuery {
        tenant: TenantId::parse(query.tenant.as_str()).unwrap(),
        service: ServiceId::parse(query.service.as_str()).unwrap(),
        user: UserId::parse(query.user.as_str()).unwrap(),
        permission: Permission::parse(query.permission.as_str()).unwrap(),
        object: query
            .object
            .as_ref()
            .map(|o| ObjectId::parse(o.as_str()).unwrap()),
    }
}

fn time<T>(f: impl FnOnce() -> T) -> u64 {
    let started = Instant::now();
    black_box(f());
    nanos(started.elapsed())
}

fn nanos(elapsed: std::time::Duration) -> u64 {
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}

struct Percentiles {
    median: u64,
    p99: u64,
    p999: u64,
}

fn percentiles(mut nanos: Vec<u64>) -> Percentiles {
    nanos.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() - 1) as f64 * q) as usize];
    Percentiles {
        median: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
    }
}

/// Passes over the queries for the check figures.
const ROUNDS: usize = 5;

/// Each percentile's median over rounds.
fn median_of(rounds: &[Percentiles]) -> Percentiles {
    let median = |pick: fn(&Percentiles) -> u64| {
        let mut values: Vec<u64> = rounds.iter().map(pick).collect();
        values.sort_unstable();
        values[values.len() / 2]
    };
    Percentiles {
        median: median(|p| p.median),
        p99: median(|p| p.p99),
        p999: median(|p| p.p999),
    }
}

fn row(name: &str, p: &Percentiles, note: &str) {
    println!(
        "| {name} | {} | {} | {} | {note} |",
        human(p.median),
        human(p.p99),
        human(p.p999)
    );
}

fn human(nanos: u64) -> String {
    if nanos < 10_000 {
        format!("{nanos} ns")
    } else if nanos < 10_000_000 {
        format!("{:.1} µs", nanos as f64 / 1e3)
    } else {
        format!("{:.1} ms", nanos as f64 / 1e6)
    }
}

/// Resident set size of this process, in KiB (0 where /proc is missing).
fn rss_kib() -> u64 {
    status_kib("/proc/self/status", "VmRSS:")
}

/// The kibibytes on the line starting with `field` of a `/proc` file such as
/// `/proc/self/status`, or 0 where there is none.
fn status_kib(file: &str, field: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
