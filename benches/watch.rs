//! Watch benchmarks over real gRPC on 127.0.0.1, printed as markdown tables:
//! - commit-to-delivery latency (median, p99) with 1, 100 and 1,000 subscribers, at a
//!   steady write rate (200 changes/s; 1,000 subscribers taking every change also at 50,
//!   since at 200 their deliveries load a small machine most of the way): from the writer's acknowledgement of the durable commit (the
//!   writer answers, then hands the commit to the stream) to the change's arrival at each
//!   subscriber; the submit-to-delivery time, which adds the commit itself, beside it;
//! - write throughput (64 concurrent writers) with no subscriber and with 1,000 sidecars
//!   each watching one tenant — ten per tenant over 100 tenants, and one per tenant over
//!   1,000 — runs with and without alternating; and, for scale, with 1,000 subscribers
//!   that each take every change;
//! - memory per idle subscriber: the server's resident growth over 1,000 open streams,
//!   divided by 1,000, measured first, on a fresh heap.
//!
//! The subscribers run in a child process (this binary again, told so by
//! `AUTHZD_WATCH_BENCH_SUBSCRIBERS`), so the server's figures are its own. On a small
//! machine the two processes still share the cores: the throughput runs are made twice,
//! once with the subscriber process at the same priority as the server (it competes for
//! the cores, as no remote sidecar would) and once at the lowest (`nice -n 19`: it reads
//! in the time the server leaves, standing in for sidecars on other machines; every
//! subscriber must still get all its events). Arrival times cross the process boundary
//! as wall-clock nanoseconds, which both processes read from the same clock.
//!
//! `cargo bench --bench watch`; `AUTHZD_WATCH_BENCH=latency,throughput,memory` picks
//! the parts (default all).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation
)]

use std::{
    collections::HashMap,
    io::{BufRead as _, BufReader, Write as _},
    process::{Child, ChildStdout, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use authzd::{
    api::pb::{self, watch_service_client::WatchServiceClient},
    app::{App, ChangeMeta},
    config::Layers,
    engine::{GroupId, Mutation, NewUser, TenantId, UserId, UserKind},
    server::BoundServer,
};
use tonic::transport::Channel;

/// Changes written at a steady rate per latency run.
const LATENCY_WRITES: usize = 400;
/// Pause between two latency writes (about 200 changes per second).
const LATENCY_PAUSE: Duration = Duration::from_millis(5);
/// The same at a quarter of the rate, for 1,000 subscribers taking every change: at 200
/// changes per second they take 200,000 deliveries a second, most of a small machine.
const LATENCY_PAUSE_LIGHT: Duration = Duration::from_millis(20);
/// Writers and changes per writer of the throughput runs.
const WRITERS: usize = 64;
const PER_WRITER: usize = 500;
/// Changes per writer when 1,000 subscribers take every change: each buffers a whole
/// batch (see `throughput`), so the batch stays small.
const PER_WRITER_EVERY_CHANGE: usize = 125;
/// Tenants every run creates; a run spreads its writes over the first `tenants` of them.
const TENANTS: usize = 1000;
/// Tenants of the latency runs' sidecars (10 sidecars each).
const LATENCY_TENANTS: usize = 100;
/// Streams per HTTP/2 connection.
const STREAMS_PER_CONNECTION: usize = 100;
/// Names the subscriber process's task: "ADDR COUNT TENANTS EXPECT REPORT" (TENANTS 0:
/// every subscriber takes every change, otherwise subscriber n watches tenant
/// n % TENANTS; REPORT `times` or `count`).
const SUBSCRIBERS_ENV: &str = "AUTHZD_WATCH_BENCH_SUBSCRIBERS";

fn main() {
    if let Ok(task) = std::env::var(SUBSCRIBERS_ENV) {
        subscriber_process(&task);
        return;
    }
    let parts =
        std::env::var("AUTHZD_WATCH_BENCH").unwrap_or_else(|_| "latency,throughput,memory".into());
    // The server's own runtime, as `authzd serve` builds it.
    let runtime = authzd::server::runtime().unwrap();
    println!(
        "## watch ({} CPUs)\n",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    runtime.block_on(async {
        if parts.contains("memory") {
            memory().await;
            println!();
        }
        if parts.contains("latency") {
            println!(
                "| subscribers | changes/s | deliveries | commit-to-delivery median | p99 | submit-to-delivery median | p99 |"
            );
            println!("|---|---|---|---|---|---|---|");
            for subscribers in [1, 100, 1000] {
                latency(subscribers, false, LATENCY_PAUSE).await;
            }
            latency(1000, false, LATENCY_PAUSE_LIGHT).await;
            latency(1000, true, LATENCY_PAUSE).await;
            println!();
        }
        if parts.contains("throughput") {
            throughput().await;
        }
    });
}

struct Running {
    app: App,
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Stops the server and waits until it has closed its store.
    async fn stop(self) {
        let _ = self.stop.send(());
        drop(self.app);
        self.server.await.unwrap();
    }
}

/// Starts a server with the default settings but for `watch_buffer`, if given.
async fn start(watch_buffer: Option<usize>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut layers = Layers::default();
    if let Some(buffer) = watch_buffer {
        layers.flags.insert("watch_buffer", buffer.to_string());
    }
    layers.flags.insert("listen", "127.0.0.1:0".to_owned());
    layers
        .flags
        .insert("data_dir", dir.path().display().to_string());
    layers
        .flags
        .insert("watch_checkpoint_interval", "1h".to_owned());
    layers.flags.insert("log_level", "warn".to_owned());
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
    for n in 0..TENANTS {
        app.submit(
            Mutation::CreateTenant {
                tenant: tenant_n(n),
                name: format!("Bench {n}"),
                customer: None,
                owner: NewUser {
                    user: UserId::parse("owner").unwrap(),
                    email: "owner@bench.example".into(),
                    display_name: "Owner".into(),
                    kind: UserKind::Local,
                },
            },
            ChangeMeta::default(),
        )
        .await
        .unwrap();
    }
    Running {
        app,
        addr,
        stop,
        server,
        _dir: dir,
    }
}

fn tenant_n(n: usize) -> TenantId {
    TenantId::parse(&format!("bench{n}")).unwrap()
}

fn group(tenant: TenantId, n: usize) -> Mutation {
    Mutation::CreateGroup {
        tenant,
        group: GroupId::parse(&format!("g{n}")).unwrap(),
        name: format!("Group {n}"),
    }
}

/// Wall-clock nanoseconds: comparable between the server and the subscriber process.
fn wall_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Subscribers in a child process.
struct Subscribers {
    child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
}

impl Subscribers {
    /// Starts `count` subscribers from the current revision (subscriber `n` watching
    /// tenant `n % tenants`, or every change with `tenants` 0), each until it has `expect`
    /// events; returns once every stream is open.
    fn start(
        addr: std::net::SocketAddr,
        (count, tenants, expect): (usize, usize, usize),
        report: Report,
        lowest_priority: bool,
    ) -> Self {
        let exe = std::env::current_exe().unwrap();
        let mut command = if lowest_priority {
            let mut nice = Command::new("nice");
            nice.args(["-n", "19"]).arg(exe);
            nice
        } else {
            Command::new(exe)
        };
        let mut child = command
            .env(
                SUBSCRIBERS_ENV,
                format!("{addr} {count} {tenants} {expect} {}", report.name()),
            )
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        Self { child, lines }
    }

    /// Waits for every subscriber to have its events: (revision, wall-clock nanoseconds of
    /// arrival) of each delivery, as reported with [`Report::Times`].
    fn arrivals(mut self) -> Vec<(u64, u64)> {
        let arrivals = self
            .lines
            .by_ref()
            .map(|line| {
                let line = line.unwrap();
                let (revision, at) = line.split_once(' ').unwrap();
                (revision.parse().unwrap(), at.parse().unwrap())
            })
            .collect();
        assert!(self.child.wait().unwrap().success());
        arrivals
    }

    /// Waits for every subscriber to have its events: how many were delivered, as reported
    /// with [`Report::Count`].
    fn delivered(mut self) -> usize {
        let count = self.lines.next().unwrap().unwrap().parse().unwrap();
        assert!(self.child.wait().unwrap().success());
        count
    }
}

/// What the subscriber process reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    /// Every delivery's revision and arrival time.
    Times,
    /// Only the number of deliveries (millions of lines would cost more than the run).
    Count,
}

impl Report {
    fn name(self) -> &'static str {
        match self {
            Self::Times => "times",
            Self::Count => "count",
        }
    }
}

/// The subscriber process: opens the streams `task` names, says "ready", and once every
/// subscriber has its events prints one line `REVISION WALL_NANOS` per delivery, or only
/// their number.
fn subscriber_process(task: &str) {
    let fields: Vec<&str> = task.split_whitespace().collect();
    let addr: std::net::SocketAddr = fields[0].parse().unwrap();
    let count: usize = fields[1].parse().unwrap();
    let tenants: usize = fields[2].parse().unwrap();
    let expect: usize = fields[3].parse().unwrap();
    let report = if fields[4] == Report::Count.name() {
        Report::Count
    } else {
        Report::Times
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let arrivals = runtime.block_on(async {
        let streams = open_streams(addr, count, tenants).await;
        println!("ready");
        std::io::stdout().flush().unwrap();
        // Instants are cheap to take per arrival; convert them to wall time once, after.
        let (base_instant, base_wall) = (Instant::now(), wall_nanos());
        let mut handles = Vec::new();
        for mut stream in streams {
            handles.push(tokio::spawn(async move {
                let mut arrivals = Vec::with_capacity(expect);
                while arrivals.len() < expect {
                    let Ok(Some(message)) = stream.message().await else {
                        break;
                    };
                    if let Some(pb::watch_response::Message::Event(event)) = message.message {
                        arrivals.push((event.revision, Instant::now()));
                    }
                }
                arrivals
            }));
        }
        let mut all = Vec::new();
        for handle in handles {
            for (revision, at) in handle.await.unwrap() {
                let offset = at.saturating_duration_since(base_instant).as_nanos() as u64;
                all.push((revision, base_wall + offset));
            }
        }
        all
    });
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if report == Report::Count {
        writeln!(out, "{}", arrivals.len()).unwrap();
        return;
    }
    for (revision, at) in arrivals {
        writeln!(out, "{revision} {at}").unwrap();
    }
}

async fn channels(addr: std::net::SocketAddr, subscribers: usize) -> Vec<Channel> {
    let mut channels = Vec::new();
    for _ in 0..subscribers.div_ceil(STREAMS_PER_CONNECTION) {
        channels.push(
            Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    channels
}

/// Opens `count` streams from the current revision: subscriber `n` watches tenant
/// `n % tenants`, or every change with `tenants` 0.
async fn open_streams(
    addr: std::net::SocketAddr,
    count: usize,
    tenants: usize,
) -> Vec<tonic::Streaming<pb::WatchResponse>> {
    let channels = channels(addr, count).await;
    let mut streams = Vec::new();
    for n in 0..count {
        let request = pb::WatchRequest {
            tenants: if tenants > 0 {
                vec![tenant_n(n % tenants).to_string()]
            } else {
                Vec::new()
            },
            ..Default::default()
        };
        streams.push(
            WatchServiceClient::new(channels[n / STREAMS_PER_CONNECTION].clone())
                .watch(request)
                .await
                .unwrap()
                .into_inner(),
        );
    }
    streams
}

/// With `per_tenant`, subscriber `n` watches tenant `n % LATENCY_TENANTS` (sidecars of
/// their tenant) and the writes go round those tenants; otherwise every subscriber takes
/// every change.
async fn latency(subscribers: usize, per_tenant: bool, pause_between: Duration) {
    let running = start(None).await;
    let (tenants, expect) = if per_tenant {
        (LATENCY_TENANTS, LATENCY_WRITES / LATENCY_TENANTS)
    } else {
        (0, LATENCY_WRITES)
    };
    let process = Subscribers::start(
        running.addr,
        (subscribers, tenants, expect),
        Report::Times,
        false,
    );
    let mut times: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut pause = tokio::time::interval(pause_between);
    for n in 0..LATENCY_WRITES {
        pause.tick().await;
        let before = wall_nanos();
        let revision = running
            .app
            .submit(
                group(tenant_n(n % LATENCY_TENANTS), n),
                ChangeMeta::default(),
            )
            .await
            .unwrap();
        times.insert(revision.get(), (before, wall_nanos()));
    }
    let arrivals = tokio::task::spawn_blocking(move || process.arrivals())
        .await
        .unwrap();
    assert_eq!(
        arrivals.len(),
        subscribers * expect,
        "every delivery arrived"
    );
    let mut from_commit = Vec::new();
    let mut from_submit = Vec::new();
    for (revision, arrived) in arrivals {
        let (submitted, acknowledged) = times[&revision];
        // The stream may deliver before the writer's answer reaches the submitter.
        from_commit.push(Duration::from_nanos(arrived.saturating_sub(acknowledged)));
        from_submit.push(Duration::from_nanos(arrived.saturating_sub(submitted)));
    }
    let (commit_median, commit_p99) = quantiles(&mut from_commit);
    let (submit_median, submit_p99) = quantiles(&mut from_submit);
    let who = if per_tenant {
        format!("{subscribers} (one tenant each)")
    } else {
        subscribers.to_string()
    };
    println!(
        "| {who} | {:.0} | {} | {commit_median:.2} ms | {commit_p99:.2} ms | {submit_median:.2} ms | {submit_p99:.2} ms |",
        1.0 / pause_between.as_secs_f64(),
        from_commit.len(),
    );
    running.stop().await;
}

/// Median and p99 in milliseconds.
fn quantiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let at = |per_mille: usize| samples[(samples.len() - 1) * per_mille / 1000];
    (at(500).as_secs_f64() * 1e3, at(990).as_secs_f64() * 1e3)
}

/// One batch of writes: changes per second, and this process's CPU time per change in
/// microseconds (the server's work, fan-out included, and the in-process writers').
#[derive(Debug, Clone, Copy)]
struct Run {
    rate: f64,
    cpu_per_change: f64,
}

/// CPU seconds this process has used, user and system (from `/proc/self/stat`, in ticks
/// of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// 64 concurrent writers, spread over the first `tenants`.
async fn write_rate(app: &App, offset: usize, tenants: usize, per_writer: usize) -> Run {
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let app = app.clone();
        writers.push(tokio::spawn(async move {
            for n in 0..per_writer {
                let n = offset + w * per_writer + n;
                app.submit(group(tenant_n(n % tenants), n), ChangeMeta::default())
                    .await
                    .unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let changes = (WRITERS * per_writer) as f64;
    Run {
        rate: changes / started.elapsed().as_secs_f64(),
        cpu_per_change: (cpu_seconds() - cpu_before) * 1e6 / changes,
    }
}

/// The write rate with 1,000 subscribers attached (watching `tenants` as in
/// [`Subscribers::start`]), each of which must get all its events.
async fn rate_with_subscribers(
    running: &Running,
    offset: usize,
    tenants: usize,
    per_writer: usize,
    lowest_priority: bool,
) -> Run {
    let batch = WRITERS * per_writer;
    let expect = batch.checked_div(tenants).unwrap_or(batch);
    let process = Subscribers::start(
        running.addr,
        (1000, tenants, expect),
        Report::Count,
        lowest_priority,
    );
    let run = write_rate(&running.app, offset, tenants.max(100), per_writer).await;
    let delivered = tokio::task::spawn_blocking(move || process.delivered())
        .await
        .unwrap();
    assert_eq!(delivered, 1000 * expect, "every subscriber got its events");
    run
}

async fn throughput() {
    let mut running = start(None).await;
    let mean = |runs: &[Run]| Run {
        rate: runs.iter().map(|r| r.rate).sum::<f64>() / runs.len() as f64,
        cpu_per_change: runs.iter().map(|r| r.cpu_per_change).sum::<f64>() / runs.len() as f64,
    };
    println!(
        "| write throughput (64 writers) | subscriber process | changes/s | vs none, same run | server CPU per change | server CPU per delivery |"
    );
    println!("|---|---|---|---|---|---|");
    let mut offset = 0;
    // 1,000 sidecars watching one tenant each, 10 per tenant over 100 tenants or one per
    // tenant over 1,000, then 1,000 subscribers taking every change (tenants 0). Runs
    // without and with subscribers alternate, so drift hits both.
    for tenants in [100, 1000, 0] {
        let per_writer = if tenants == 0 {
            PER_WRITER_EVERY_CHANGE
        } else {
            PER_WRITER
        };
        let batch = WRITERS * per_writer;
        if tenants == 0 {
            // Subscribers taking every change from 64 writers fall thousands of changes
            // behind on this machine: with the default buffer they are ended as too slow
            // (as they should be). Give them room for a whole batch, to measure the rest.
            running.stop().await;
            running = start(Some(batch)).await;
        }
        let mut without = Vec::new();
        let mut same_priority = Vec::new();
        let mut lowest_priority = Vec::new();
        for _ in 0..2 {
            without.push(write_rate(&running.app, offset, tenants.max(100), per_writer).await);
            offset += batch;
            same_priority
                .push(rate_with_subscribers(&running, offset, tenants, per_writer, false).await);
            offset += batch;
            // Subscribers that take every change and read only in the time left would fall
            // more than their buffer behind the writers, and be ended as too slow.
            if tenants > 0 {
                lowest_priority
                    .push(rate_with_subscribers(&running, offset, tenants, per_writer, true).await);
                offset += batch;
            }
        }
        let base = mean(&without);
        let fan_out = 1000_usize.checked_div(tenants).unwrap_or(1000);
        let who = match tenants {
            0 => format!(
                "1,000 subscribers taking every change (writes over 100 tenants; buffer {batch})"
            ),
            100 => "1,000 sidecars, 10 per tenant over 100 tenants".to_owned(),
            n => format!("1,000 sidecars, one per tenant over {n} tenants"),
        };
        println!(
            "| none (writes over {} tenants) | | {:.0} | 1.00 | {:.1} µs | |",
            tenants.max(100),
            base.rate,
            base.cpu_per_change
        );
        for (priority, rates) in [
            ("same priority", &same_priority),
            ("lowest priority", &lowest_priority),
        ] {
            if rates.is_empty() {
                continue;
            }
            let run = mean(rates);
            // What the subscribers added, spread over the deliveries of one change.
            let per_delivery = (run.cpu_per_change - base.cpu_per_change) / fan_out as f64;
            println!(
                "| {who} | {priority} | {:.0} | {:.2} | {:.1} µs | {per_delivery:.1} µs |",
                run.rate,
                run.rate / base.rate,
                run.cpu_per_change
            );
        }
    }
    running.stop().await;
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The server's resident growth with 1,000 idle streams open.
async fn memory() {
    let running = start(None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = resident_bytes();
    // Each subscriber waits for one event that is written only after the measurement.
    let process = Subscribers::start(running.addr, (1000, 0, 1), Report::Count, false);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = resident_bytes();
    running
        .app
        .submit(group(tenant_n(0), 0), ChangeMeta::default())
        .await
        .unwrap();
    let delivered = tokio::task::spawn_blocking(move || process.delivered())
        .await
        .unwrap();
    assert_eq!(delivered, 1000);
    println!("| idle subscribers | server resident growth | per subscriber |");
    println!("|---|---|---|");
    println!(
        "| 1,000 | {:.1} MB | {:.1} KB |",
        after.saturating_sub(before) as f64 / 1e6,
        after.saturating_sub(before) as f64 / 1000.0 / 1e3
    );
    running.stop().await;
}
