//! The load benchmark over gRPC on loopback (issue #21, point 5), printed as one markdown
//! table with every ratio: the real release `authzd serve` on the dataset generator's
//! default data (`DatasetSpec::standard(1)`), against a bare tonic server with only the
//! health service (the transport's ceiling), at 1, 16 and 64 calls in flight:
//!
//! - health on authzd and on the bare server, and Check with one repeated request: h2load
//!   (raw HTTP/2, one fixed request body); gRPC statuses are checked in authzd's own call
//!   counts (its metrics), since h2load sees HTTP statuses only;
//! - Check with one repeated request and with 100,000 distinct ones, `BatchCheck` of 100 and
//!   1,000 items, and durable writes (`UserService/UpdateUser`): a tonic client, every
//!   answer checked against the decision the dataset's state gives.
//!
//! `cargo bench --bench load`; `cargo bench --bench load -- replicas` measures the
//! PostgreSQL store against redb instead (`replicas.rs`), `-- writes` durable writes while
//! checkpoints are written (`writes.rs`), `-- prepare DIR` only writes the dataset's data
//! directory into `DIR` (to serve and profile by hand). On a machine with two or more cores the servers run pinned
//! to core 0 and the load (h2load, or this process's client) to core 1 (`taskset`), so
//! that client and server never take each other's core; `AUTHZD_LOAD_PIN=0` turns that
//! off. `AUTHZD_LOAD_SCALE` sets the dataset's scale (default 1; 3 holds about a million
//! grants and memberships). `AUTHZD_LOAD_SECS` sets the measured seconds of each cell (default 5, after a
//! warm-up of a fifth of that). `AUTHZD_LOAD_SMOKE=1` is CI's mode: a tiny dataset, half
//! a second per cell, the same checks of every answer, and no judgement of speed.
//! `AUTHZD_LOAD_BINARY=PATH` serves from another build of `authzd` (to compare two builds
//! with the same client, bare server and dataset).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

mod client;
mod h2load;
mod replicas;
mod servers;
mod writes;

use std::{
    collections::{HashMap, HashSet},
    fmt::Write as _,
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use authzd::{
    api::pb,
    dataset::{Dataset, DatasetSpec},
    engine::{CheckQuery, Snapshot},
};
use client::{Call, KnownBatch, KnownCheck};
use servers::Child;

/// Calls in flight of every workload.
const IN_FLIGHT: [usize; 3] = [1, 16, 64];
/// The rows h2load drives, in turns.
const H2LOAD_ROWS: [Row; 3] = [Row::HealthAuthzd, Row::HealthBare, Row::CheckRepeatedH2load];
/// Rounds of turns the h2load rows of one in-flight count take, each a share of the cell's
/// time: a single run of each, one after the other, left a cell's drift larger than the
/// gaps it measured (docs/benchmarks.md, "Load over gRPC").
const H2LOAD_ROUNDS: u32 = 5;
/// Distinct Check requests of the varied workload.
const VARIED_CHECKS: usize = 100_000;
/// Distinct requests per `BatchCheck` size.
const BATCHES: usize = 16;
/// The core the servers run on when pinned; the load runs on the next.
const SERVER_CPU: usize = 0;
const LOAD_CPU: usize = 1;

/// How calls are spread: `in_flight` at once over `connections` HTTP/2 connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) in_flight: usize,
    pub(crate) connections: usize,
}

impl Shape {
    fn new(in_flight: usize) -> Self {
        Self {
            in_flight,
            connections: in_flight.min(4),
        }
    }

    pub(crate) fn per_connection(self) -> usize {
        self.in_flight / self.connections
    }

    pub(crate) fn describe(self) -> String {
        format!("{} conn.", self.connections)
    }
}

/// What one cell measured.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    /// Calls measured.
    pub(crate) calls: u64,
    /// Calls per second.
    pub(crate) rate: f64,
    /// Decisions per call (`BatchCheck`), else 1.
    pub(crate) items: u64,
    pub(crate) p50: u64,
    pub(crate) p99: u64,
    pub(crate) p999: u64,
    /// The slowest call.
    pub(crate) max: u64,
    /// Calls slower than [`SLOW_MICROS`].
    pub(crate) slow: u64,
    pub(crate) driver: String,
    /// The server's CPU time per call, in µs, where it was measured.
    pub(crate) server_cpu: Option<f64>,
}

/// Calls counted and timed over a measured time: one run, or several merged.
#[derive(Debug, Default)]
pub(crate) struct Sample {
    pub(crate) calls: u64,
    pub(crate) over: Duration,
    /// Each measured call's latency.
    pub(crate) micros: Vec<u64>,
}

impl Sample {
    pub(crate) fn rate(&self) -> f64 {
        self.calls as f64 / self.over.as_secs_f64()
    }

    pub(crate) fn add(&mut self, other: Self) {
        self.calls += other.calls;
        self.over += other.over;
        self.micros.extend(other.micros);
    }

    pub(crate) fn measured(self, driver: String) -> Measured {
        Measured::from_micros(self.calls, self.over, self.micros, driver)
    }
}

/// The server's CPU time over some calls it answered (from `/proc`, in ticks of 10 ms).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ServerCpu {
    seconds: f64,
    calls: u64,
}

impl ServerCpu {
    /// From the server's (user, system) CPU seconds before and after `calls`.
    pub(crate) fn between(before: (f64, f64), after: (f64, f64), calls: u64) -> Self {
        Self {
            seconds: (after.0 + after.1) - (before.0 + before.1),
            calls,
        }
    }

    fn add(&mut self, other: Self) {
        self.seconds += other.seconds;
        self.calls += other.calls;
    }

    /// µs per call, if any call was counted.
    fn per_call(self) -> Option<f64> {
        (self.calls > 0).then(|| self.seconds * 1e6 / self.calls as f64)
    }
}

/// A call slower than this counts as slow (issue #23: no write slower than 50 ms).
pub(crate) const SLOW_MICROS: u64 = 50_000;

impl Measured {
    pub(crate) fn from_micros(
        calls: u64,
        over: Duration,
        mut micros: Vec<u64>,
        driver: String,
    ) -> Self {
        micros.sort_unstable();
        let at = |q: f64| micros[((micros.len() as f64 * q) as usize).min(micros.len() - 1)];
        Self {
            calls,
            rate: calls as f64 / over.as_secs_f64(),
            items: 1,
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            max: micros.last().copied().unwrap_or_default(),
            slow: micros.iter().filter(|us| **us > SLOW_MICROS).count() as u64,
            driver,
            server_cpu: None,
        }
    }

    pub(crate) fn with_items(mut self, items: u64) -> Self {
        self.items = items;
        self
    }
}

/// The bench's settings, from the environment.
struct Settings {
    smoke: bool,
    measure: Duration,
    warm_up: Duration,
    /// (servers, load) cores, when pinned.
    pinned: Option<(usize, usize)>,
    h2load: bool,
    /// The machine's cores (before this process is pinned to one).
    cores: usize,
    /// The dataset's scale (`DatasetSpec::standard`).
    scale: u32,
}

impl Settings {
    fn from_env() -> Self {
        let smoke = std::env::var("AUTHZD_LOAD_SMOKE").is_ok_and(|v| v == "1");
        let secs: f64 = std::env::var("AUTHZD_LOAD_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|s: &f64| *s > 0.0)
            .unwrap_or(if smoke { 0.5 } else { 5.0 });
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let pin = std::env::var("AUTHZD_LOAD_PIN").map_or(true, |v| v != "0")
            && cores >= 2
            && Command::new("taskset").arg("--version").output().is_ok();
        Self {
            smoke,
            measure: Duration::from_secs_f64(secs),
            warm_up: Duration::from_secs_f64(secs / 5.0),
            pinned: pin.then_some((SERVER_CPU, LOAD_CPU)),
            h2load: h2load::available(),
            cores,
            scale: std::env::var("AUTHZD_LOAD_SCALE")
                .ok()
                .and_then(|s| s.parse().ok())
                .filter(|s| *s >= 1)
                .unwrap_or(1),
        }
    }

    fn server_cpu(&self) -> Option<usize> {
        self.pinned.map(|(server, _)| server)
    }

    fn load_cpu(&self) -> Option<usize> {
        self.pinned.map(|(_, load)| load)
    }
}

fn main() {
    if std::env::var_os(servers::BARE_ROLE).is_some() {
        servers::serve_bare();
        return;
    }
    let settings = Settings::from_env();
    if let Some(cpu) = settings.load_cpu() {
        // Before any thread starts: every thread of this process inherits the core.
        let pinned = Command::new("taskset")
            .args(["-a", "-p", "-c", &cpu.to_string()])
            .arg(std::process::id().to_string())
            .output()
            .unwrap();
        assert!(pinned.status.success(), "taskset could not pin the bench");
    }
    let spec = if settings.smoke {
        DatasetSpec {
            tenants: 3,
            users_per_tenant: 50,
            objects_per_service: 100,
            grants_per_service: 30,
            ..DatasetSpec::standard(1)
        }
    } else {
        DatasetSpec::standard(settings.scale)
    };
    if let Some(target) = std::env::args().skip_while(|arg| arg != "prepare").nth(1) {
        // Only the data directory, to serve and profile by hand.
        servers::prepare_data_dir(&Dataset::generate(&spec), std::path::Path::new(&target));
        println!("prepared {target}");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let started = Instant::now();
    let dataset = Dataset::generate(&spec);
    let snapshot = servers::prepare_data_dir(&dataset, &data_dir);
    let work = Workloads::new(&dataset, &snapshot, settings.smoke);
    let prepared = started.elapsed();
    if std::env::args().any(|arg| arg == "replicas") {
        replicas::run(&settings, &dataset, &snapshot, &work, &data_dir, dir.path());
        return;
    }
    if std::env::args().any(|arg| arg == "writes") {
        drop(snapshot);
        writes::run(&settings, &spec, &dataset, &work, &data_dir, dir.path());
        return;
    }
    drop(snapshot);
    let started = Instant::now();
    let mut authzd = Child::authzd(&data_dir, settings.server_cpu());
    let loaded = started.elapsed();
    let bare = Child::bare(settings.server_cpu());

    print_header(&settings, &dataset, &work, prepared, loaded);
    let mut table = Table::default();
    runtime.block_on(async {
        let authzd_channels = client::connect(authzd.addr, 4).await;
        let bare_channels = client::connect(bare.addr, 4).await;
        let health = client::health();
        let repeated = client::checks(Arc::new(vec![work.repeated.clone()]));
        let varied = client::checks(Arc::clone(&work.varied));
        let health_body = h2load::grpc_frame(&tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        });
        let check_body = h2load::grpc_frame(&work.repeated.request);
        for in_flight in IN_FLIGHT {
            let shape = Shape::new(in_flight);
            // Health on both servers and the repeated Check over h2load take turns, a
            // round at a time, so that the machine's drift hits all three alike.
            let rounds = if settings.smoke || !settings.h2load {
                1
            } else {
                H2LOAD_ROUNDS
            };
            let mut samples: HashMap<Row, (Sample, ServerCpu)> = HashMap::new();
            let mut round_rates: Vec<HashMap<Row, f64>> = Vec::new();
            for round in 0..rounds {
                let mut rates = HashMap::new();
                for turn in 0..H2LOAD_ROWS.len() {
                    let row = H2LOAD_ROWS[(round as usize + turn) % H2LOAD_ROWS.len()];
                    let on_authzd = row != Row::HealthBare;
                    let (addr, channels) = if on_authzd {
                        (authzd.addr, &authzd_channels)
                    } else {
                        (bare.addr, &bare_channels)
                    };
                    let (method, body, call) = if row == Row::CheckRepeatedH2load {
                        ("/authz.v1.CheckService/Check", &check_body, &repeated)
                    } else {
                        ("/grpc.health.v1.Health/Check", &health_body, &health)
                    };
                    // The same request over tonic first: the body h2load sends is answered
                    // right.
                    call(channels[0].clone(), 0, 0).await;
                    let (warm_up, measure) = (settings.warm_up / rounds, settings.measure / rounds);
                    let (sample, cpu) = if settings.h2load {
                        let before =
                            on_authzd.then(|| (authzd.calls(method), authzd.cpu_seconds()));
                        let url = format!("http://{addr}{method}");
                        let dir = dir.path();
                        let cpu = settings.load_cpu();
                        let sample = h2load::sample(&url, body, shape, warm_up, measure, cpu, dir);
                        let server = before.map(|(calls, cpu)| {
                            let ok = authzd.checked_calls(method, &calls, in_flight, sample.calls);
                            ServerCpu::between(cpu, authzd.cpu_seconds(), ok)
                        });
                        (sample, server.unwrap_or_default())
                    } else {
                        let sample =
                            client::drive_sample(channels, shape, call, warm_up, measure).await;
                        (sample, ServerCpu::default())
                    };
                    rates.insert(row, sample.rate());
                    let merged = samples.entry(row).or_default();
                    merged.0.add(sample);
                    merged.1.add(cpu);
                }
                round_rates.push(rates);
            }
            for row in H2LOAD_ROWS {
                let (sample, cpu) = samples.remove(&row).unwrap();
                let driver = if settings.h2load {
                    h2load::driver(shape)
                } else {
                    format!("tonic client, {}", shape.describe())
                };
                let mut measured = sample.measured(driver);
                measured.server_cpu = cpu.per_call();
                table.add(row, in_flight, measured);
            }
            table.add_rounds(in_flight, &round_rates);
            for (row, call, items) in [
                (Row::CheckRepeated, &repeated, 1),
                (Row::CheckVaried, &varied, 1),
                (Row::Batch100, &work.batch_100, 100),
                (Row::Batch1000, &work.batch_1000, 1000),
                (Row::Writes, &work.writes, 1),
            ] {
                let measured = client::drive(
                    &authzd_channels,
                    shape,
                    call,
                    settings.warm_up,
                    settings.measure,
                    items,
                )
                .await;
                table.add(row, in_flight, measured);
            }
            authzd.assert_running();
        }
    });
    print!("{}", table.render(settings.smoke));
    drop(authzd);
    drop(bare);
}

fn print_header(
    settings: &Settings,
    dataset: &Dataset,
    work: &Workloads,
    prepared: Duration,
    loaded: Duration,
) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    let cores = settings.cores;
    println!(
        "## load over gRPC{}\n",
        if settings.smoke { " (smoke)" } else { "" }
    );
    println!(
        "- machine: {} CPUs ({cpu}); {}",
        cores,
        match settings.pinned {
            Some((server, load)) =>
                format!("servers pinned to CPU {server}, load (h2load, tonic client) to CPU {load}"),
            None => "nothing pinned: servers and load share the cores".to_owned(),
        }
    );
    println!(
        "- dataset: {} tenants, {} users, {} grants, {} memberships, {} objects; \
         prepared as a checkpoint in {:.1} s, served after {:.1} s",
        dataset.stats.tenants,
        dataset.stats.users,
        dataset.stats.grants,
        dataset.stats.memberships,
        dataset.stats.objects,
        prepared.as_secs_f64(),
        loaded.as_secs_f64()
    );
    println!(
        "- varied checks: {} distinct requests ({:.0}% allowed); each cell {:.1} s after {:.1} s of warm-up",
        work.distinct_varied,
        work.allowed_share * 100.0,
        settings.measure.as_secs_f64(),
        settings.warm_up.as_secs_f64()
    );
    let repeated = &work.repeated.request;
    println!(
        "- the repeated check: tenant `{}`, service `{}`, user `{}`, permission `{}`, object `{}` (allowed)",
        repeated.tenant, repeated.service, repeated.user, repeated.permission, repeated.object
    );
    if !settings.h2load {
        println!(
            "- h2load is not installed (`apt-get install nghttp2-client`): its rows use the tonic client"
        );
    }
    println!();
}

/// The requests of every workload, with the answers the dataset's state gives.
struct Workloads {
    repeated: KnownCheck,
    varied: Arc<Vec<KnownCheck>>,
    distinct_varied: usize,
    allowed_share: f64,
    batch_100: Call,
    batch_1000: Call,
    writes: Call,
    /// The (tenant, user) each writer renames.
    write_targets: Arc<Vec<(String, String)>>,
}

impl Workloads {
    fn new(dataset: &Dataset, snapshot: &Snapshot, smoke: bool) -> Self {
        let now = servers::now();
        let known = |query: &CheckQuery| KnownCheck {
            request: pb::CheckRequest {
                tenant: query.tenant.to_string(),
                service: query.service.to_string(),
                user: query.user.to_string(),
                permission: query.permission.to_string(),
                object: query
                    .object
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                ..Default::default()
            },
            allowed: snapshot.check(query, now),
        };
        let count = if smoke { 2_000 } else { VARIED_CHECKS };
        let varied: Vec<KnownCheck> = dataset.queries(count, 11).iter().map(known).collect();
        let distinct_varied = varied
            .iter()
            .map(|c| format!("{:?}", c.request))
            .collect::<HashSet<_>>()
            .len();
        let allowed = varied.iter().filter(|c| c.allowed).count();
        // An allowed check on an object: the common question of a product service.
        let repeated = varied
            .iter()
            .find(|c| c.allowed && !c.request.object.is_empty())
            .expect("an allowed check on an object")
            .clone();
        let batches = |size: usize| {
            let batches: Vec<KnownBatch> = (0..BATCHES)
                .map(|b| {
                    let tenant = &dataset.tenants[b * 7 % dataset.tenants.len()];
                    let service_index = b % dataset.services.len();
                    let objects = &tenant.objects[service_index];
                    let user = &tenant.users[(b * 13 + 5) % tenant.users.len()];
                    let queries: Vec<CheckQuery> = (0..size)
                        .map(|i| CheckQuery {
                            tenant: tenant.tenant.clone(),
                            service: dataset.services[service_index].clone(),
                            user: user.clone(),
                            permission: dataset.permissions
                                [(i * 7 + b) % dataset.permissions.len()]
                            .clone(),
                            object: Some(objects[(i * 31 + b * 17) % objects.len()].clone()),
                        })
                        .collect();
                    KnownBatch {
                        request: pb::BatchCheckRequest {
                            tenant: tenant.tenant.to_string(),
                            service: dataset.services[service_index].to_string(),
                            shape: Some(pb::batch_check_request::Shape::OneUser(
                                pb::OneUserManyChecks {
                                    user: user.to_string(),
                                    items: queries
                                        .iter()
                                        .map(|q| pb::PermissionOnObject {
                                            permission: q.permission.to_string(),
                                            object: q
                                                .object
                                                .as_ref()
                                                .map(ToString::to_string)
                                                .unwrap_or_default(),
                                        })
                                        .collect(),
                                },
                            )),
                            ..Default::default()
                        },
                        allowed: queries.iter().map(|q| snapshot.check(q, now)).collect(),
                    }
                })
                .collect();
            client::batches(Arc::new(batches))
        };
        // One (tenant, user) per writer of the 64, each renamed by its tenant's owner.
        let targets: Vec<(String, String)> = (0..64)
            .map(|w| {
                let tenant = &dataset.tenants[w % dataset.tenants.len()];
                let user =
                    &tenant.users[1 + (w / dataset.tenants.len()) % (tenant.users.len() - 1)];
                (tenant.tenant.to_string(), user.to_string())
            })
            .collect();
        Self {
            repeated,
            allowed_share: allowed as f64 / varied.len() as f64,
            varied: Arc::new(varied),
            distinct_varied,
            batch_100: batches(100),
            batch_1000: batches(1000),
            writes: client::renames(Arc::new(targets.clone())),
            write_targets: Arc::new(targets),
        }
    }
}

/// The table's rows, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Row {
    HealthAuthzd,
    HealthBare,
    CheckRepeatedH2load,
    CheckRepeated,
    CheckVaried,
    Batch100,
    Batch1000,
    Writes,
}

impl Row {
    const ALL: [Self; 8] = [
        Self::HealthAuthzd,
        Self::HealthBare,
        Self::CheckRepeatedH2load,
        Self::CheckRepeated,
        Self::CheckVaried,
        Self::Batch100,
        Self::Batch1000,
        Self::Writes,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::HealthAuthzd => "health, authzd",
            Self::HealthBare => "health, bare tonic server",
            Self::CheckRepeatedH2load | Self::CheckRepeated => "Check, one repeated request",
            Self::CheckVaried => "Check, 100 K distinct requests",
            Self::Batch100 => "BatchCheck, 100 items",
            Self::Batch1000 => "BatchCheck, 1,000 items",
            Self::Writes => "durable writes (UpdateUser), one per writer",
        }
    }
}

#[derive(Default)]
struct Table {
    cells: Vec<(Row, usize, Measured)>,
    /// Per in-flight count, the rate of each h2load row in each round.
    rounds: Vec<(usize, Vec<HashMap<Row, f64>>)>,
}

impl Table {
    fn add(&mut self, row: Row, in_flight: usize, measured: Measured) {
        self.cells.push((row, in_flight, measured));
    }

    fn add_rounds(&mut self, in_flight: usize, rates: &[HashMap<Row, f64>]) {
        self.rounds.push((in_flight, rates.to_vec()));
    }

    /// The lowest and highest of `row`'s rate over `other`'s in the rounds at `in_flight`.
    fn round_spread(&self, row: Row, other: Row, in_flight: usize) -> (f64, f64) {
        self.rounds
            .iter()
            .filter(|(n, _)| *n == in_flight)
            .flat_map(|(_, rounds)| rounds)
            .map(|rates| rates[&row] / rates[&other])
            .fold((f64::INFINITY, 0.0), |(low, high), ratio| {
                (low.min(ratio), high.max(ratio))
            })
    }

    /// `row`'s rate over `other`'s at `in_flight`, with the spread over the rounds when
    /// there were several.
    fn rate_ratio(&self, row: Row, other: Row, in_flight: usize) -> (f64, String) {
        let ratio = self.get(row, in_flight).rate / self.get(other, in_flight).rate;
        let (low, high) = self.round_spread(row, other, in_flight);
        let spread = if low < high {
            format!(" (rounds {low:.2}–{high:.2}×)")
        } else {
            String::new()
        };
        (ratio, spread)
    }

    /// Server CPU per call of `row` and of `other`, as text, when both were measured.
    fn cpu_ratio(&self, row: Row, other: Row, in_flight: usize) -> String {
        match (
            self.get(row, in_flight).server_cpu,
            self.get(other, in_flight).server_cpu,
        ) {
            (Some(this), Some(that)) => format!(
                "; server CPU per call {this:.1} µs against {that:.1} µs: {:.2}× the rate",
                that / this
            ),
            _ => String::new(),
        }
    }

    fn get(&self, row: Row, in_flight: usize) -> &Measured {
        &self
            .cells
            .iter()
            .find(|(r, n, _)| *r == row && *n == in_flight)
            .unwrap()
            .2
    }

    /// The ratio each row is judged by, as text.
    fn ratio(&self, row: Row, in_flight: usize) -> String {
        let this = self.get(row, in_flight);
        let rate_vs = |other: Row, what: &str| {
            format!("{:.2}× {what}", this.rate / self.get(other, in_flight).rate)
        };
        let rounds_vs = |other: Row, what: &str| {
            let (ratio, spread) = self.rate_ratio(row, other, in_flight);
            format!("{ratio:.2}× {what}{spread}")
        };
        match row {
            Row::HealthAuthzd => rounds_vs(Row::HealthBare, "bare tonic health"),
            Row::HealthBare => "1 (the transport's ceiling)".to_owned(),
            Row::CheckRepeatedH2load => format!(
                "{}{}",
                rounds_vs(Row::HealthAuthzd, "authzd health"),
                self.cpu_ratio(row, Row::HealthAuthzd, in_flight)
            ),
            Row::CheckRepeated => rate_vs(Row::CheckRepeatedH2load, "the same over h2load"),
            Row::CheckVaried => {
                let repeated = self.get(Row::CheckRepeated, in_flight);
                format!(
                    "p99 {:.2}× repeated (tonic); rate {:.2}×",
                    this.p99 as f64 / repeated.p99 as f64,
                    this.rate / repeated.rate
                )
            }
            Row::Batch100 | Row::Batch1000 => format!(
                "{:.2}× repeated Check's decisions/s",
                this.rate * this.items as f64 / self.get(Row::CheckRepeated, in_flight).rate
            ),
            Row::Writes => {
                let one = self.get(Row::Writes, 1).rate;
                format!("{:.1}× one writer", this.rate / one)
            }
        }
    }

    fn render(&self, smoke: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| workload | driver | in flight | calls/s | decisions/s | p50 | p99 | p99.9 | ratio |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
        for row in Row::ALL {
            for in_flight in IN_FLIGHT {
                let m = self.get(row, in_flight);
                let decisions =
                    if row == Row::Writes || row == Row::HealthAuthzd || row == Row::HealthBare {
                        "–".to_owned()
                    } else {
                        thousands(m.rate * m.items as f64)
                    };
                let _ = writeln!(
                    out,
                    "| {} | {} | {in_flight} | {} | {decisions} | {} | {} | {} | {} |",
                    row.name(),
                    m.driver,
                    thousands(m.rate),
                    micros(m.p50),
                    micros(m.p99),
                    micros(m.p999),
                    self.ratio(row, in_flight)
                );
            }
        }
        let _ = writeln!(out);
        if smoke {
            let _ = writeln!(
                out,
                "Smoke mode: every answer was checked; speeds are not judged."
            );
            return out;
        }
        let (health, health_spread) = self.rate_ratio(Row::HealthAuthzd, Row::HealthBare, 64);
        let (check, check_spread) =
            self.rate_ratio(Row::CheckRepeatedH2load, Row::HealthAuthzd, 64);
        let check_cpu = self.cpu_ratio(Row::CheckRepeatedH2load, Row::HealthAuthzd, 64);
        let tail =
            self.get(Row::CheckVaried, 16).p99 as f64 / self.get(Row::CheckRepeated, 16).p99 as f64;
        let batch = [Row::Batch100, Row::Batch1000]
            .iter()
            .flat_map(|row| IN_FLIGHT.map(|n| self.get(*row, n)))
            .map(|m| m.rate * m.items as f64)
            .fold(0.0, f64::max);
        let met = |ok: bool| if ok { "met" } else { "**not met**" };
        let _ = writeln!(out, "| target | measured | |");
        let _ = writeln!(out, "|---|---|---|");
        let _ = writeln!(
            out,
            "| authzd health ≥ 0.9× bare tonic health (64 in flight) | {health:.2}×{health_spread} | {} |",
            met(health >= 0.9)
        );
        let _ = writeln!(
            out,
            "| Check (repeated) ≥ 0.9× authzd health (64 in flight) | {check:.2}×{check_spread}{check_cpu} | {} |",
            met(check >= 0.9)
        );
        let _ = writeln!(
            out,
            "| varied-check p99 ≤ 2× repeated-check p99 (16 in flight) | {tail:.2}× | {} |",
            met(tail <= 2.0)
        );
        let _ = writeln!(
            out,
            "| BatchCheck ≥ 1 M decisions/s (best cell) | {} | {} |",
            thousands(batch),
            met(batch >= 1e6)
        );
        out
    }
}

fn thousands(value: f64) -> String {
    let whole = value.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn micros(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else if us >= 1000 {
        format!("{:.2} ms", us as f64 / 1000.0)
    } else {
        format!("{us} µs")
    }
}
