//! Watch benchmarks over real gRPC (server and subscribers in this process, on
//! 127.0.0.1), printed as markdown tables:
//! - commit-to-delivery latency (median, p99) with 1, 100 and 1,000 subscribers, at a
//!   steady write rate: from the writer's acknowledgement of the durable commit (the
//!   writer answers, then hands the commit to the stream) to the change's arrival at each
//!   subscriber; the submit-to-delivery time, which adds the commit itself, beside it;
//! - write throughput (64 concurrent writers) with no subscriber and with 1,000 sidecars
//!   each watching one tenant — ten per tenant over 100 tenants, and one per tenant over
//!   1,000 — in the same run; and, for scale, with 1,000 subscribers that each take every
//!   change;
//! - memory per idle subscriber (resident set growth over 1,000 open streams, server and
//!   client side together, divided by 1,000), measured first, on a fresh heap.
//!
//! Subscribers run in this process: on this machine they share its cores with the server.
//!
//! `cargo bench --bench watch`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_precision_loss
)]

use std::{
    collections::HashMap,
    time::{Duration, Instant},
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
/// Writers and changes per writer of the throughput runs.
const WRITERS: usize = 64;
const PER_WRITER: usize = 125;
/// Tenants every run creates; a run spreads its writes over the first `tenants` of them.
const TENANTS: usize = 1000;
/// Tenants of the latency runs' sidecars (10 sidecars each).
const LATENCY_TENANTS: usize = 100;
/// Streams per HTTP/2 connection.
const STREAMS_PER_CONNECTION: usize = 100;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "## watch ({} CPUs)\n",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    runtime.block_on(async {
        memory().await;
        println!();
        println!(
            "| subscribers | deliveries | commit-to-delivery median | p99 | submit-to-delivery median | p99 |"
        );
        println!("|---|---|---|---|---|---|");
        for subscribers in [1, 100, 1000] {
            latency(subscribers, false).await;
        }
        latency(1000, true).await;
        println!();
        throughput().await;
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

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut layers = Layers::default();
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

/// Opens `count` streams from the current revision (subscriber `n` watching tenant
/// `n % tenants` if `per_tenant`); each records when every event arrived, until it has
/// `expect` events.
async fn subscribe(
    addr: std::net::SocketAddr,
    count: usize,
    (per_tenant, tenants): (bool, usize),
    expect: usize,
) -> Vec<tokio::task::JoinHandle<Vec<(u64, Instant)>>> {
    let channels = channels(addr, count).await;
    let mut handles = Vec::new();
    for n in 0..count {
        let request = pb::WatchRequest {
            tenants: if per_tenant {
                vec![tenant_n(n % tenants).to_string()]
            } else {
                Vec::new()
            },
            ..Default::default()
        };
        let mut stream = WatchServiceClient::new(channels[n / STREAMS_PER_CONNECTION].clone())
            .watch(request)
            .await
            .unwrap()
            .into_inner();
        handles.push(tokio::spawn(async move {
            let mut arrivals = Vec::new();
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
    handles
}

/// With `per_tenant`, subscriber `n` watches tenant `n % LATENCY_TENANTS` (sidecars of
/// their tenant) and the writes go round those tenants; otherwise every subscriber takes
/// every change.
async fn latency(subscribers: usize, per_tenant: bool) {
    let running = start().await;
    let expect = if per_tenant {
        LATENCY_WRITES / LATENCY_TENANTS
    } else {
        LATENCY_WRITES
    };
    let handles = subscribe(
        running.addr,
        subscribers,
        (per_tenant, LATENCY_TENANTS),
        expect,
    )
    .await;
    let mut times: HashMap<u64, (Instant, Instant)> = HashMap::new();
    let mut pause = tokio::time::interval(LATENCY_PAUSE);
    for n in 0..LATENCY_WRITES {
        pause.tick().await;
        let before = Instant::now();
        let revision = running
            .app
            .submit(
                group(tenant_n(n % LATENCY_TENANTS), n),
                ChangeMeta::default(),
            )
            .await
            .unwrap();
        times.insert(revision.get(), (before, Instant::now()));
    }
    let mut from_commit = Vec::new();
    let mut from_submit = Vec::new();
    for handle in handles {
        for (revision, arrived) in handle.await.unwrap() {
            let (submitted, acknowledged) = times[&revision];
            // The stream may deliver before the writer's answer reaches the submitter.
            from_commit.push(arrived.saturating_duration_since(acknowledged));
            from_submit.push(arrived.duration_since(submitted));
        }
    }
    let (commit_median, commit_p99) = quantiles(&mut from_commit);
    let (submit_median, submit_p99) = quantiles(&mut from_submit);
    let who = if per_tenant {
        format!("{subscribers} (one tenant each)")
    } else {
        subscribers.to_string()
    };
    println!(
        "| {who} | {} | {commit_median:.2} ms | {commit_p99:.2} ms | {submit_median:.2} ms | {submit_p99:.2} ms |",
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

/// Changes per second from 64 concurrent writers, spread over the first `tenants`.
async fn write_rate(app: &App, offset: usize, tenants: usize) -> f64 {
    let started = Instant::now();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let app = app.clone();
        writers.push(tokio::spawn(async move {
            for n in 0..PER_WRITER {
                let n = offset + w * PER_WRITER + n;
                app.submit(group(tenant_n(n % tenants), n), ChangeMeta::default())
                    .await
                    .unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    (WRITERS * PER_WRITER) as f64 / started.elapsed().as_secs_f64()
}

async fn throughput() {
    let running = start().await;
    let batch = WRITERS * PER_WRITER;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!("| write throughput (64 writers) | changes/s | vs none, same run |");
    println!("|---|---|---|");
    let mut offset = 0;
    // 1,000 sidecars watching one tenant each: 10 per tenant over 100 tenants, or one per
    // tenant over 1,000. Runs without and with them alternate, so drift hits both.
    for tenants in [100, 1000] {
        let mut without = Vec::new();
        let mut with = Vec::new();
        for _ in 0..2 {
            without.push(write_rate(&running.app, offset, tenants).await);
            offset += batch;
            let handles = subscribe(running.addr, 1000, (true, tenants), batch / tenants).await;
            with.push(write_rate(&running.app, offset, tenants).await);
            offset += batch;
            let mut delivered = 0;
            for handle in handles {
                delivered += handle.await.unwrap().len();
            }
            assert_eq!(
                delivered,
                1000 * batch / tenants,
                "every sidecar got its tenant's"
            );
        }
        let base = mean(&without);
        let sidecars = mean(&with);
        println!("| no subscriber, writes over {tenants} tenants | {base:.0} | 1.00 |");
        println!(
            "| 1,000 sidecars over {tenants} tenants | {sidecars:.0} | {:.2} |",
            sidecars / base
        );
    }
    let base = write_rate(&running.app, offset, 100).await;
    offset += batch;
    let handles = subscribe(running.addr, 1000, (false, 0), batch).await;
    let everything = write_rate(&running.app, offset, 100).await;
    for handle in handles {
        assert_eq!(handle.await.unwrap().len(), batch);
    }
    println!("| no subscriber | {base:.0} | 1.00 |");
    println!(
        "| 1,000 subscribers taking every change | {everything:.0} | {:.2} |",
        everything / base
    );
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

async fn memory() {
    let running = start().await;
    let channels = channels(running.addr, 1000).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = resident_bytes();
    let mut streams = Vec::new();
    for n in 0..1000 {
        streams.push(
            WatchServiceClient::new(channels[n / STREAMS_PER_CONNECTION].clone())
                .watch(pb::WatchRequest::default())
                .await
                .unwrap()
                .into_inner(),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = resident_bytes();
    println!("| idle subscribers | resident growth | per subscriber |");
    println!("|---|---|---|");
    println!(
        "| 1,000 | {:.1} MB | {:.1} KB |",
        after.saturating_sub(before) as f64 / 1e6,
        after.saturating_sub(before) as f64 / 1000.0 / 1e3
    );
    drop(streams);
    running.stop().await;
}
