//! What caller authentication costs, over real gRPC on 127.0.0.1, printed as markdown
//! tables. Everything is measured in one run, configurations alternating, so that the
//! ratios compare like with like on a machine whose speed drifts:
//!
//! - never-reading streams: one raw HTTP/2 connection (the `h2` crate) tries to open 1,000
//!   `WatchService/Watch` streams from revision 0 and never reads them; the server's
//!   resident growth after a few seconds, and how many streams it accepted. Measured
//!   first, on a fresh heap (memory freed by the other parts would hide growth).
//! - Check throughput at 64 calls in flight, for (a) no callers file (loopback, open),
//!   (b) a callers file of 20 callers, the client presenting the token of an unconfined
//!   `check` caller, (c) the same as a caller confined to 5 tenants (the guard then
//!   decodes each request to check its tenant); a, b, c alternate for 3 rounds.
//! - a refusal flood against a legitimate writer: one task writes as caller A
//!   (`UserService/UpdateUser`, a new display name each call, so each commits a change),
//!   one call at a time, alone and while 32 tasks flood (i) calls with a wrong token
//!   (refused by the guard) and (ii) `InviteUser` calls of a valid caller B, limited to
//!   100 calls/s, with an invalid e-mail (over the rate refused by the guard, within it by
//!   the writer, which audits each refusal); the writer's p50 and p99. For comparison, no
//!   target: (iii) the same flood from a caller C with no rate limit, which the server
//!   serves as fast as the cores allow.
//!
//! Client and server share this process and the machine's cores; the ratios are what the
//! bench is for. The servers' data directories are on tmpfs where there is one (see
//! `data_dir`). `cargo bench --bench auth`; `AUTHZD_BENCH_SECS` sets the seconds of each
//! measured run (default 5; the whole bench takes about 17 times as long, plus loading);
//! `AUTHZD_BENCH_PARTS` names the parts to run (`memory`, `check`, `flood`, separated by
//! commas; all by default).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation
)]

use std::{
    fmt::Write as _,
    net::SocketAddr,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use authzd::{
    api::pb::{
        self, check_service_client::CheckServiceClient, user_service_client::UserServiceClient,
    },
    app::{App, ChangeMeta},
    config::Layers,
    dataset::{Dataset, DatasetSpec},
    server::BoundServer,
};
use prost::bytes::Bytes;
use tonic::{
    Request,
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};

/// Check calls in flight.
const CONCURRENCY: usize = 64;
/// Connections they share.
const CHANNELS: usize = 4;
/// Rounds of the alternating throughput runs.
const ROUNDS: usize = 3;
/// Rounds of the flood runs (each: alone, the three floods, alone again).
const FLOOD_ROUNDS: usize = 4;
/// Tasks flooding refused calls.
const FLOODERS: usize = 32;
/// Callers in the callers file.
const CALLERS: usize = 20;
/// Tenants the confined caller may reach; the checks of every configuration go to them.
const CONFINED_TENANTS: usize = 5;
/// Watch streams the memory part tries to open on one connection.
const STREAMS_TRIED: usize = 1000;
/// How long the memory part lets the server fill its buffers before measuring.
const STREAMS_SETTLE: Duration = Duration::from_secs(3);

/// Tokens of the callers the bench uses (the file holds their hashes).
const CHECK_TOKEN: &str = "bench-check-unconfined-0123456789";
const CONFINED_TOKEN: &str = "bench-check-confined-0123456789";
const WRITER_TOKEN: &str = "bench-writer-caller-a-0123456789";
const INVITER_TOKEN: &str = "bench-inviter-caller-b-012345678";
const UNLIMITED_TOKEN: &str = "bench-unlimited-caller-c-0123456";
/// Caller B's rate limit (calls per second, and its burst).
const INVITER_RATE: u32 = 100;
const WATCH_TOKEN: &str = "bench-watcher-0123456789abcdef";
const WRONG_TOKEN: &str = "bench-nobody-has-this-token-0123";

fn main() {
    let secs: f64 = std::env::var("AUTHZD_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| *s > 0.0)
        .unwrap_or(5.0);
    let measure = Duration::from_secs_f64(secs);
    let parts = std::env::var("AUTHZD_BENCH_PARTS").unwrap_or_default();
    let part = |name: &str| parts.is_empty() || parts.split(',').any(|p| p.trim() == name);
    // The server's own runtime, as `authzd serve` builds it.
    let runtime = authzd::server::runtime().unwrap();
    println!(
        "## auth ({} CPUs, {secs} s per measured run)\n",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    runtime.block_on(async {
        let dataset = Dataset::generate(&DatasetSpec {
            scale: 1,
            tenants: 6,
            users_per_tenant: 20,
            objects_per_service: 50,
            grants_per_service: 20,
            seed: 0x00a1_17bd,
        });
        let callers_dir = tempfile::tempdir().unwrap();
        let callers_file = write_callers(callers_dir.path(), &dataset);
        let loading = Instant::now();
        let open = Running::start(&dataset, None).await;
        let guarded = Running::start(&dataset, Some(&callers_file)).await;
        println!(
            "world: {} mutations per server ({} tenants, {} users, {} grants, {} objects), \
             loaded into both in {:.1} s\n",
            dataset.mutations.len(),
            dataset.stats.tenants,
            dataset.stats.users,
            dataset.stats.grants,
            dataset.stats.objects,
            loading.elapsed().as_secs_f64()
        );
        if part("memory") {
            memory(guarded.addr).await;
            println!();
        }
        let queries: Arc<Vec<pb::CheckRequest>> = Arc::new(
            dataset
                .queries_within(CONFINED_TENANTS, 10_000, 7)
                .into_iter()
                .map(|q| pb::CheckRequest {
                    tenant: q.tenant.to_string(),
                    service: q.service.to_string(),
                    user: q.user.to_string(),
                    permission: q.permission.to_string(),
                    object: q.object.map(|o| o.to_string()).unwrap_or_default(),
                    ..Default::default()
                })
                .collect(),
        );
        if part("check") {
            throughput(&open, &guarded, &queries, measure).await;
            println!();
        }
        if part("flood") {
            flood(&guarded, measure).await;
        }
        open.stop().await;
        guarded.stop().await;
    });
}

/// A data directory for a server: on tmpfs (`/dev/shm`) where there is one, so that the
/// disk's fsync time, which varies more from run to run than a flood changes anything,
/// does not hide what the flood costs the writer's cores.
fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap()
}

/// A server running in this process.
struct Running {
    app: App,
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Starts a server (with `callers_file`, if given) and loads the dataset into it.
    async fn start(dataset: &Dataset, callers_file: Option<&Path>) -> Self {
        let dir = data_dir();
        let mut layers = Layers::default();
        layers.flags.insert("listen", "127.0.0.1:0".to_owned());
        layers
            .flags
            .insert("data_dir", dir.path().display().to_string());
        layers.flags.insert("log_level", "warn".to_owned());
        if let Some(path) = callers_file {
            layers
                .flags
                .insert("callers_file", path.display().to_string());
        }
        let bound = BoundServer::bind(layers.resolve().unwrap()).await.unwrap();
        let addr = bound.local_addr().unwrap();
        let app = bound.app().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            bound
                .serve(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        for mutation in &dataset.mutations {
            app.submit(mutation.clone(), ChangeMeta::default())
                .await
                .unwrap();
        }
        Self {
            app,
            addr,
            stop,
            server,
            _dir: dir,
        }
    }

    /// Stops the server and waits until it has closed its store.
    async fn stop(self) {
        let _ = self.stop.send(());
        drop(self.app);
        self.server.await.unwrap();
    }

    async fn channels(&self, count: usize) -> Vec<Channel> {
        let mut channels = Vec::new();
        for _ in 0..count {
            channels.push(
                Channel::from_shared(format!("http://{}", self.addr))
                    .unwrap()
                    .connect()
                    .await
                    .unwrap(),
            );
        }
        channels
    }
}

/// Writes the callers file: the bench's five callers and 15 more, like a real deployment's.
fn write_callers(dir: &Path, dataset: &Dataset) -> std::path::PathBuf {
    let hash = authzd::auth::callers::token_sha256_hex;
    let confined: Vec<String> = dataset.tenants[..CONFINED_TENANTS]
        .iter()
        .map(|t| format!("\"{}\"", t.tenant))
        .collect();
    let mut text = String::new();
    let mut caller = |name: &str, token: &str, scopes: &str, extra: Option<String>| {
        let _ = writeln!(
            text,
            "[[callers]]\nname = \"{name}\"\ntoken_sha256 = \"{}\"\nscopes = [{scopes}]",
            hash(token)
        );
        if let Some(extra) = extra {
            let _ = writeln!(text, "{extra}");
        }
        text.push('\n');
    };
    caller("checker", CHECK_TOKEN, "\"check\"", None);
    caller(
        "confined-checker",
        CONFINED_TOKEN,
        "\"check\"",
        Some(format!("tenants = [{}]", confined.join(", "))),
    );
    caller("writer", WRITER_TOKEN, "\"manage\"", None);
    caller(
        "inviter",
        INVITER_TOKEN,
        "\"manage\"",
        Some(format!(
            "rate_per_second = {INVITER_RATE}\nburst = {INVITER_RATE}"
        )),
    );
    caller("unlimited-inviter", UNLIMITED_TOKEN, "\"manage\"", None);
    caller("watcher", WATCH_TOKEN, "\"watch\"", None);
    for n in 6..CALLERS {
        caller(
            &format!("service-{n}"),
            &format!("bench-other-caller-{n:02}-0123456789"),
            "\"check\", \"manage\", \"watch\"",
            None,
        );
    }
    let path = dir.join("callers.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn bearer(token: &str) -> MetadataValue<Ascii> {
    format!("Bearer {token}").parse().unwrap()
}

fn with_token<T>(message: T, token: Option<&MetadataValue<Ascii>>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", token.clone());
    }
    request
}

// ---------------------------------------------------------------------------------------
// Check throughput

/// One configuration of the throughput runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Config {
    Open,
    Unconfined,
    Confined,
}

impl Config {
    const ALL: [Self; 3] = [Self::Open, Self::Unconfined, Self::Confined];

    fn name(self) -> &'static str {
        match self {
            Self::Open => "a: no callers file",
            Self::Unconfined => "b: 20 callers, unconfined caller",
            Self::Confined => "c: 20 callers, caller confined to 5 tenants",
        }
    }

    fn token(self) -> Option<MetadataValue<Ascii>> {
        match self {
            Self::Open => None,
            Self::Unconfined => Some(bearer(CHECK_TOKEN)),
            Self::Confined => Some(bearer(CONFINED_TOKEN)),
        }
    }
}

/// Checks per second with `CONCURRENCY` calls in flight over `channels`, counted over
/// `measure` after `warm_up`. Every call must succeed.
async fn check_rate(
    channels: &[Channel],
    token: Option<MetadataValue<Ascii>>,
    queries: &Arc<Vec<pb::CheckRequest>>,
    warm_up: Duration,
    measure: Duration,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for task in 0..CONCURRENCY {
        let mut client = CheckServiceClient::new(channels[task % channels.len()].clone());
        let (done, failed, stop) = (done.clone(), failed.clone(), stop.clone());
        let (queries, token) = (Arc::clone(queries), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = task * queries.len() / CONCURRENCY;
            while !stop.load(Ordering::Relaxed) {
                let query = queries[n % queries.len()].clone();
                n += 1;
                match client.check(with_token(query, token.as_ref())).await {
                    Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(warm_up).await;
    let (before, started) = (done.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(measure).await;
    let (after, elapsed) = (done.load(Ordering::Relaxed), started.elapsed());
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "every check succeeds");
    (after - before) as f64 / elapsed.as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn throughput(
    open: &Running,
    guarded: &Running,
    queries: &Arc<Vec<pb::CheckRequest>>,
    measure: Duration,
) {
    let open_channels = open.channels(CHANNELS).await;
    let guarded_channels = guarded.channels(CHANNELS).await;
    let channels = |config| {
        if config == Config::Open {
            &open_channels
        } else {
            &guarded_channels
        }
    };
    // Both servers and both paths of the guard warm up once, then each run briefly.
    for config in Config::ALL {
        check_rate(
            channels(config),
            config.token(),
            queries,
            Duration::ZERO,
            Duration::from_secs(1),
        )
        .await;
    }
    println!(
        "| Check, {CONCURRENCY} in flight over {CHANNELS} connections | round | calls/s | vs a, same round |"
    );
    println!("|---|---|---|---|");
    let mut rates = [Vec::new(), Vec::new(), Vec::new()];
    for round in 1..=ROUNDS {
        for (i, config) in Config::ALL.into_iter().enumerate() {
            let rate = check_rate(
                channels(config),
                config.token(),
                queries,
                Duration::from_secs(1),
                measure,
            )
            .await;
            rates[i].push(rate);
            println!(
                "| {} | {round} | {rate:.0} | {:.3} |",
                config.name(),
                rate / rates[0][round - 1]
            );
        }
    }
    let ratios = |i: usize| -> Vec<f64> {
        rates[i]
            .iter()
            .zip(&rates[0])
            .map(|(rate, open)| rate / open)
            .collect()
    };
    let list = |values: &[f64]| {
        values
            .iter()
            .map(|v| format!("{v:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!();
    println!("| ratio | per round | median | target |");
    println!("|---|---|---|---|");
    for (i, name, target) in [(1, "b/a", "≥ 0.95"), (2, "c/a", "")] {
        let mut per_round = ratios(i);
        let listed = list(&per_round);
        println!(
            "| {name} | {listed} | {:.3} | {target} |",
            median(&mut per_round)
        );
    }
    let medians = rates.map(|mut r| median(&mut r));
    println!(
        "| median calls/s a, b, c | {:.0}, {:.0}, {:.0} | | |",
        medians[0], medians[1], medians[2]
    );
}

// ---------------------------------------------------------------------------------------
// Refusal flood against a legitimate writer

/// What floods the server while the writer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flood {
    None,
    WrongToken,
    InvalidInvitations,
    UnlimitedInvalidInvitations,
    /// No flood again: how far two runs of the writer alone differ on this machine.
    Control,
}

impl Flood {
    const ALL: [Self; 5] = [
        Self::None,
        Self::WrongToken,
        Self::InvalidInvitations,
        Self::UnlimitedInvalidInvitations,
        Self::Control,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::None => "alone",
            Self::WrongToken => "i: 32 tasks, wrong token (refused by the guard)",
            Self::InvalidInvitations => {
                "ii: 32 tasks, caller B (100 calls/s), InviteUser with an invalid e-mail (over the rate refused by the guard, within it by the writer, audited)"
            }
            Self::UnlimitedInvalidInvitations => {
                "iii: 32 tasks, caller C (no rate limit), InviteUser with an invalid e-mail (refused by the writer, audited)"
            }
            Self::Control => "control: alone again (the noise floor of these ratios)",
        }
    }
}

/// One run of the writer.
struct WriteRun {
    /// Each write's latency.
    latencies: Vec<Duration>,
    /// The flood's refused calls per second.
    refused_rate: f64,
    /// The flood's calls that failed otherwise (the connection dropped), and the first
    /// such error.
    failed: u64,
    first_failure: Option<String>,
}

/// The writer's latencies while `flood` runs.
async fn write_run(
    writer: &Channel,
    flooders: &Channel,
    flood: Flood,
    tenant: &str,
    measure: Duration,
    sequence: &mut u64,
) -> WriteRun {
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    // Calls that failed otherwise than refused, and the first such error.
    let failures = Arc::new(std::sync::Mutex::new((0_u64, None::<String>)));
    let mut tasks = Vec::new();
    if !matches!(flood, Flood::None | Flood::Control) {
        let (token, expected): (_, &[tonic::Code]) = match flood {
            Flood::WrongToken => (bearer(WRONG_TOKEN), &[tonic::Code::Unauthenticated]),
            Flood::InvalidInvitations => (
                bearer(INVITER_TOKEN),
                &[tonic::Code::InvalidArgument, tonic::Code::ResourceExhausted],
            ),
            _ => (bearer(UNLIMITED_TOKEN), &[tonic::Code::InvalidArgument]),
        };
        for _ in 0..FLOODERS {
            let mut client = UserServiceClient::new(flooders.clone());
            let (stop, refused, token) = (stop.clone(), refused.clone(), token.clone());
            let failures = failures.clone();
            let tenant = tenant.to_owned();
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let invitation = pb::InviteUserRequest {
                        actor: "u0".into(),
                        tenant: tenant.clone(),
                        email: "not-an-e-mail".into(),
                        display_name: "Nobody".into(),
                        ..Default::default()
                    };
                    let status = client
                        .invite_user(with_token(invitation, Some(&token)))
                        .await
                        .expect_err("the flood's calls are refused");
                    if expected.contains(&status.code()) {
                        refused.fetch_add(1, Ordering::Relaxed);
                    } else {
                        // The connection failed under the flood: the channel reconnects.
                        let mut first = failures.lock().unwrap();
                        first.0 += 1;
                        first.1.get_or_insert_with(|| error_chain(&status));
                    }
                }
            }));
        }
    }
    let mut client = UserServiceClient::new(writer.clone());
    let token = bearer(WRITER_TOKEN);
    let mut latencies = Vec::new();
    let started = Instant::now();
    let refused_before = refused.load(Ordering::Relaxed);
    while started.elapsed() < measure {
        *sequence += 1;
        let update = pb::UpdateUserRequest {
            actor: "u0".into(),
            user: Some(pb::User {
                tenant: tenant.to_owned(),
                id: "u1".into(),
                display_name: format!("Writer {sequence}"),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".into()],
            }),
            etag: String::new(),
        };
        let call = Instant::now();
        client
            .update_user(with_token(update, Some(&token)))
            .await
            .unwrap();
        latencies.push(call.elapsed());
    }
    let refused_rate =
        (refused.load(Ordering::Relaxed) - refused_before) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let (failed, first_failure) = failures.lock().unwrap().clone();
    WriteRun {
        latencies,
        refused_rate,
        failed,
        first_failure,
    }
}

/// A status with the chain of errors behind it.
fn error_chain(status: &tonic::Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        let _ = write!(text, ": {error}");
        source = error.source();
    }
    text
}

/// Median and p99 in milliseconds.
fn quantiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let at = |per_mille: usize| samples[(samples.len() - 1) * per_mille / 1000];
    (at(500).as_secs_f64() * 1e3, at(990).as_secs_f64() * 1e3)
}

async fn flood(guarded: &Running, measure: Duration) {
    let writer = guarded.channels(1).await.remove(0);
    let flooders = guarded.channels(1).await.remove(0);
    let tenant = "t0";
    let mut sequence = 0;
    println!(
        "| writer (caller A, UpdateUser, one at a time) | round | writes | p50 | p99 | p99 vs alone, same round | flood: refused calls/s | flood: calls failed otherwise |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    let mut pooled: [Vec<Duration>; Flood::ALL.len()] = std::array::from_fn(|_| Vec::new());
    let mut ratios: [Vec<f64>; Flood::ALL.len()] = std::array::from_fn(|_| Vec::new());
    for round in 1..=FLOOD_ROUNDS {
        let mut alone_p99 = 0.0;
        for (i, flood) in Flood::ALL.into_iter().enumerate() {
            let mut run =
                write_run(&writer, &flooders, flood, tenant, measure, &mut sequence).await;
            let (p50, p99) = quantiles(&mut run.latencies);
            if flood == Flood::None {
                alone_p99 = p99;
            }
            ratios[i].push(p99 / alone_p99);
            let (rate, failed) = if matches!(flood, Flood::None | Flood::Control) {
                (String::new(), String::new())
            } else {
                (format!("{:.0}", run.refused_rate), run.failed.to_string())
            };
            println!(
                "| {} | {round} | {} | {p50:.2} ms | {p99:.2} ms | {:.2} | {rate} | {failed} |",
                flood.name(),
                run.latencies.len(),
                p99 / alone_p99,
            );
            if let Some(first) = run.first_failure {
                failures.push(format!("{} (round {round}): {first}", flood.name()));
            }
            pooled[i].extend(run.latencies);
        }
    }
    println!();
    println!("| writer, all rounds pooled | writes | p50 | p99 | p99 flood/alone | target |");
    println!("|---|---|---|---|---|---|");
    let (_, alone_p99) = quantiles(&mut pooled[0]);
    for (i, flood) in Flood::ALL.into_iter().enumerate() {
        let (p50, p99) = quantiles(&mut pooled[i]);
        println!(
            "| {} | {} | {p50:.2} ms | {p99:.2} ms | {:.2} (per round: {}) | {} |",
            flood.name(),
            pooled[i].len(),
            p99 / alone_p99,
            ratios[i]
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            match flood {
                Flood::None | Flood::UnlimitedInvalidInvitations | Flood::Control => "",
                _ => "≤ 1.10",
            }
        );
    }
    for failure in failures {
        println!("\nfirst flood call failing otherwise than refused, {failure}");
    }
}

// ---------------------------------------------------------------------------------------
// Memory with never-reading streams

/// This process's resident memory, from `/proc/self/status` (`VmRSS`, in kB).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0)
        * 1024
}

/// One gRPC message frame: no compression, a 4-byte length, the message.
fn grpc_frame(message: &impl prost::Message) -> Bytes {
    let encoded = message.encode_to_vec();
    let mut framed = Vec::with_capacity(encoded.len() + 5);
    framed.push(0);
    framed.extend_from_slice(&u32::try_from(encoded.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(&encoded);
    Bytes::from(framed)
}

async fn memory(addr: SocketAddr) {
    let before = resident_bytes();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The client's default windows (64 KiB per stream and per connection): what the server
    // sends to streams nobody reads stays, beyond that, in the server's buffers.
    let (mut sender, connection) = h2::client::handshake(tcp).await.unwrap();
    let connection = tokio::spawn(connection);
    let body = grpc_frame(&pb::WatchRequest {
        start_revision: Some(0),
        ..Default::default()
    });
    let accepted = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut held = tokio::task::JoinSet::new();
    let mut sent = 0;
    for _ in 0..STREAMS_TRIED {
        // The client holds a stream back while the server has no room for it; once one is
        // held back, no more can be started on this connection.
        let ready = tokio::time::timeout(
            Duration::from_millis(500),
            std::future::poll_fn(|cx| sender.poll_ready(cx)),
        )
        .await;
        if !matches!(ready, Ok(Ok(()))) {
            break;
        }
        let request = tonic::codegen::http::Request::post(format!(
            "http://{addr}/authz.v1.WatchService/Watch"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {WATCH_TOKEN}"))
        .body(())
        .unwrap();
        let Ok((response, mut stream)) = sender.send_request(request, false) else {
            break;
        };
        stream.send_data(body.clone(), true).unwrap();
        sent += 1;
        let (accepted, refused) = (accepted.clone(), refused.clone());
        held.spawn(async move {
            match response.await {
                Ok(response) if response.status() == 200 => {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    // Never read: hold the stream open until the task is aborted.
                    let _body = response.into_body();
                    std::future::pending::<()>().await;
                }
                _ => {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    // Let the server replay into its buffers until the windows and buffers are full.
    let mut peak = 0;
    let settled = Instant::now();
    while settled.elapsed() < STREAMS_SETTLE {
        tokio::time::sleep(Duration::from_millis(250)).await;
        peak = peak.max(resident_bytes());
    }
    let after = resident_bytes();
    let mib = |bytes: u64| bytes.saturating_sub(before) as f64 / (1024.0 * 1024.0);
    let open = accepted.load(Ordering::Relaxed);
    println!(
        "| never-reading Watch streams from revision 0, one HTTP/2 connection | tried | started by the client | answered (open on the server) | refused | resident growth after {} s | peak | per open stream | target |",
        STREAMS_SETTLE.as_secs()
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} MiB resident before | {STREAMS_TRIED} | {sent} | {open} | {} | {:.1} MiB | {:.1} MiB | {:.2} MiB | < 300 MB |",
        before / (1024 * 1024),
        refused.load(Ordering::Relaxed),
        mib(after),
        mib(peak),
        mib(after) / open.max(1) as f64,
    );
    held.abort_all();
    while held.join_next().await.is_some() {}
    drop(sender);
    connection.abort();
}
