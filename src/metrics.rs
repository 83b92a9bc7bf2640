//! Metrics in Prometheus text format, on their own plain-HTTP listener (`metrics_listen`).
//!
//! `api` and `app` record through the `metrics` facade (a no-op until a recorder is
//! installed, so a server without `metrics_listen` pays almost nothing); this module
//! installs the Prometheus recorder, describes every metric ([`names`], listed in
//! docs/metrics.md) and answers `GET /metrics`. The engine records nothing.

use std::{convert::Infallible, net::SocketAddr, path::PathBuf, sync::OnceLock};

use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    body::{Bytes, Incoming},
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// The name of every metric, so that recording and documenting cannot drift apart.
pub mod names {
    /// Counter: finished calls, by `method` and `code`.
    pub const RPC_REQUESTS: &str = "authzd_rpc_requests_total";
    /// Histogram: seconds to a call's response headers, by `method`.
    pub const RPC_DURATION: &str = "authzd_rpc_duration_seconds";
    /// Counter: check decisions (batch items included), by `outcome` and `reason`.
    pub const CHECK_DECISIONS: &str = "authzd_check_decisions_total";
    /// Histogram: changes committed per group commit.
    pub const WRITE_GROUP_SIZE: &str = "authzd_write_group_size";
    /// Histogram: seconds one group commit took (the store transaction and its fsync).
    pub const COMMIT_DURATION: &str = "authzd_commit_duration_seconds";
    /// Gauge: the revision of the published state.
    pub const REVISION: &str = "authzd_revision";
    /// Counter: audit records stored.
    pub const AUDIT_RECORDS_WRITTEN: &str = "authzd_audit_records_written_total";
    /// Gauge: the database file's size in bytes, read at each scrape.
    pub const STORE_FILE_SIZE: &str = "authzd_store_file_size_bytes";
    /// Gauge: the process's resident memory in bytes, read at each scrape.
    pub const RESIDENT_MEMORY: &str = "authzd_process_resident_memory_bytes";
    /// Counter: CPU seconds the process has used (user and system), read at each scrape.
    pub const CPU_SECONDS: &str = "authzd_process_cpu_seconds_total";
    /// Histogram: seconds one checkpoint took to write (pruning not included).
    pub const CHECKPOINT_DURATION: &str = "authzd_checkpoint_duration_seconds";
    /// Gauge: Unix time of the last checkpoint written; its age is `time() - this`.
    pub const CHECKPOINT_LAST: &str = "authzd_checkpoint_last_timestamp_seconds";
    /// Gauge: the revision of the last checkpoint written.
    pub const CHECKPOINT_REVISION: &str = "authzd_checkpoint_revision";
    /// Gauge: the oldest revision the change log still holds (0: empty).
    pub const CHANGELOG_OLDEST: &str = "authzd_changelog_oldest_revision";
    /// Gauge: changes the change log holds.
    pub const CHANGELOG_CHANGES: &str = "authzd_changelog_changes";
    /// Counter: audit records deleted past their retention.
    pub const AUDIT_RECORDS_PRUNED: &str = "authzd_audit_records_pruned_total";
    /// Gauge: open Watch streams.
    pub const WATCH_SUBSCRIBERS: &str = "authzd_watch_subscribers";
    /// Gauge: how many revisions the furthest-behind Watch stream still has to replay
    /// (0 when every stream is live), at the last commit published.
    pub const WATCH_MAX_LAG: &str = "authzd_watch_max_replay_lag_revisions";
    /// Histogram: with the PostgreSQL store, how long after another replica committed a
    /// change this replica applied it (per chunk caught up, by the newest change's commit
    /// time and this replica's clock).
    pub const FOLLOWER_LAG: &str = "authzd_follower_lag_seconds";
}

/// Sets [`names::REVISION`]: by the writer after each commit, and at start.
#[expect(
    clippy::cast_precision_loss,
    reason = "gauges are f64; revisions below 2^53 are exact"
)]
pub fn record_revision(revision: u64) {
    ::metrics::gauge!(names::REVISION).set(revision as f64);
}

/// Records in [`names::FOLLOWER_LAG`] how long ago (by this replica's clock) the newest
/// change just applied from another replica was committed.
#[expect(
    clippy::cast_precision_loss,
    reason = "histograms take f64; lags in milliseconds below 2^53 are exact"
)]
pub fn record_follower_lag(now: crate::engine::Timestamp, committed_at: crate::engine::Timestamp) {
    let lag_millis = now
        .unix_millis()
        .saturating_sub(committed_at.unix_millis())
        .max(0);
    ::metrics::histogram!(names::FOLLOWER_LAG).record(lag_millis as f64 / 1000.0);
}

/// The recorder is process-wide (the facade has one global slot): installed by the first
/// server that asks, shared by any later one in the same process (tests).
static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Latency buckets, in seconds: a check answers in microseconds, a commit in milliseconds.
const SECONDS_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// Group sizes: the writer commits up to 512 changes at once.
const GROUP_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Why metrics cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The recorder could not be installed.
    #[error("cannot install the metrics recorder: {0}")]
    Recorder(String),
    /// The metrics address could not be bound.
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Whether this process serves metrics (the recorder is installed): work done only to
/// label a metric is skipped otherwise.
pub fn served() -> bool {
    HANDLE.get().is_some_and(Result::is_ok)
}

/// Installs the Prometheus recorder (once per process) and returns its handle.
fn handle() -> Result<PrometheusHandle, MetricsError> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(names::WRITE_GROUP_SIZE.to_owned()),
                        GROUP_BUCKETS,
                    )
                })
                .map_err(|err| err.to_string())?;
            let handle = builder.install_recorder().map_err(|err| err.to_string())?;
            describe();
            Ok(handle)
        })
        .clone()
        .map_err(MetricsError::Recorder)
}

fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        names::RPC_REQUESTS,
        "Finished gRPC calls by full method path and gRPC status code."
    );
    describe_histogram!(
        names::RPC_DURATION,
        Unit::Seconds,
        "Time from a call's arrival to its response headers, by method."
    );
    describe_counter!(
        names::CHECK_DECISIONS,
        "Check decisions (Check and each BatchCheck item) by outcome and denial reason."
    );
    describe_histogram!(
        names::WRITE_GROUP_SIZE,
        Unit::Count,
        "Changes committed together in one group commit."
    );
    describe_histogram!(
        names::COMMIT_DURATION,
        Unit::Seconds,
        "Time one group commit took in the store, fsync included."
    );
    describe_counter!(
        names::AUDIT_RECORDS_WRITTEN,
        "Audit records stored (with a group commit)."
    );
    describe_gauge!(names::REVISION, "Revision of the state readers see.");
    describe_gauge!(
        names::STORE_FILE_SIZE,
        Unit::Bytes,
        "Size of the database file, read at each scrape."
    );
    describe_gauge!(
        names::RESIDENT_MEMORY,
        Unit::Bytes,
        "Resident memory of the process, read at each scrape."
    );
    describe_counter!(
        names::CPU_SECONDS,
        Unit::Seconds,
        "CPU time the process has used, user and system, read at each scrape."
    );
    describe_histogram!(
        names::CHECKPOINT_DURATION,
        Unit::Seconds,
        "Time one checkpoint took to write."
    );
    describe_gauge!(
        names::CHECKPOINT_LAST,
        Unit::Seconds,
        "Unix time of the last checkpoint written (its age: time() minus this)."
    );
    describe_gauge!(
        names::CHECKPOINT_REVISION,
        "Revision of the last checkpoint written."
    );
    describe_gauge!(
        names::CHANGELOG_OLDEST,
        "Oldest revision the change log holds (Watch resumes from here at the earliest)."
    );
    describe_gauge!(names::CHANGELOG_CHANGES, "Changes the change log holds.");
    describe_counter!(
        names::AUDIT_RECORDS_PRUNED,
        "Audit records deleted past their retention."
    );
    describe_gauge!(names::WATCH_SUBSCRIBERS, "Open Watch streams.");
    describe_gauge!(
        names::WATCH_MAX_LAG,
        "Revisions the furthest-behind Watch stream still replays (0: all live)."
    );
    describe_histogram!(
        names::FOLLOWER_LAG,
        Unit::Seconds,
        "PostgreSQL store: time from another replica's commit to this replica applying it."
    );
}

/// A bound metrics listener, not yet serving.
#[derive(Debug)]
pub struct MetricsListener {
    listener: TcpListener,
    handle: PrometheusHandle,
    database: Option<PathBuf>,
}

impl MetricsListener {
    /// Installs the recorder and binds `addr`; `database` is the file whose size is
    /// reported (none for a database server).
    pub async fn bind(addr: SocketAddr, database: Option<PathBuf>) -> Result<Self, MetricsError> {
        let handle = handle()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MetricsError::Bind { addr, source })?;
        Ok(Self {
            listener,
            handle,
            database,
        })
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `GET /metrics` until the task is dropped or aborted. Each connection is served
    /// by its own task over HTTP/1; a failed accept or connection is logged and skipped.
    pub async fn serve(self) {
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::debug!(%err, "metrics accept failed");
                    continue;
                }
            };
            let handle = self.handle.clone();
            let database = self.database.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let response = answer(&request, &handle, database.as_deref());
                    async move { Ok::<_, Infallible>(response) }
                });
                if let Err(err) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(%err, "metrics connection failed");
                }
            });
        }
    }
}

/// `GET /metrics` → the text exposition; anything else → 404 or 405.
fn answer(
    request: &Request<Incoming>,
    handle: &PrometheusHandle,
    database: Option<&std::path::Path>,
) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => {
            sample_process(database);
            (
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                handle.render(),
            )
        }
        (_, "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".to_owned(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "metrics are at /metrics\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

/// The gauges read at scrape time: the database file's size and the resident memory.
#[expect(
    clippy::cast_precision_loss,
    reason = "gauges are f64; byte counts below 2^53 are exact"
)]
fn sample_process(database: Option<&std::path::Path>) {
    if let Some(Ok(meta)) = database.map(std::fs::metadata) {
        ::metrics::gauge!(names::STORE_FILE_SIZE).set(meta.len() as f64);
    }
    if let Some(bytes) = resident_bytes() {
        ::metrics::gauge!(names::RESIDENT_MEMORY).set(bytes as f64);
    }
    if let Some(seconds) = cpu_seconds() {
        // The facade's counters hold whole numbers: whole seconds, rounded down.
        ::metrics::counter!(names::CPU_SECONDS).absolute(seconds);
    }
}

/// CPU seconds used by the process, from `/proc/self/stat` (user and system time, fields
/// 14 and 15, in clock ticks of `USER_HZ`, which Linux fixes at 100 for this interface).
fn cpu_seconds() -> Option<u64> {
    const USER_HZ: u64 = 100;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; the fields after it follow its `)`.
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user.saturating_add(system) / USER_HZ)
}

/// Resident memory from `/proc/self/status` (`VmRSS`, in kB, so no page size is assumed);
/// `None` where there is no such file.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_time_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(super::cpu_seconds().is_some());
        }
    }

    #[test]
    fn resident_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(super::resident_bytes().is_some_and(|bytes| bytes > 0));
        }
    }
}
