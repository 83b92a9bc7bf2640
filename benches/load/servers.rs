//! The two servers under load, each a child process pinned to the server's core: the real
//! release `authzd serve` on a data directory prepared from the dataset, and a bare tonic
//! server with nothing but the health service (this bench binary run again in that role).
//! Both are started under `timeout`, so that they stop by themselves even if the bench is
//! killed; dropping a [`Child`] stops it with SIGTERM.

use std::{
    collections::BTreeMap,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    path::Path,
    process::{Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant, SystemTime},
};

use authzd::{
    dataset::Dataset,
    engine::{Snapshot, Timestamp},
    store::RedbStore,
};

/// The environment variable that makes this binary serve as the bare tonic server.
pub(crate) const BARE_ROLE: &str = "AUTHZD_LOAD_BARE_SERVER";
/// The longest a child server lives (`timeout`'s limit), whatever happens to the bench.
const CHILD_LIFETIME: &str = "1800";
/// How long a child may take to report its address.
const START_TIMEOUT: Duration = Duration::from_mins(2);

/// The time checks are decided at, as the server's clock gives it (the dataset's expiries
/// are far from now either way).
pub(crate) fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    Timestamp::from_unix_millis(i64::try_from(millis).unwrap())
}

/// Builds the dataset's state in memory and writes it into `data_dir` as the store's
/// checkpoint, as `authzd serve` would after applying every mutation: loading a million
/// facts through the API would take longer than the whole benchmark. With
/// `AUTHZD_LOAD_BINARY`, that build imports the state instead (from an export of it), so
/// that the directory is in the format that build writes.
pub(crate) fn prepare_data_dir(dataset: &Dataset, data_dir: &Path) -> Snapshot {
    let at = now();
    let snapshot = dataset
        .build(at)
        .unwrap_or_else(|(n, err)| panic!("dataset mutation {n} refused: {err}"));
    let Some(binary) = std::env::var_os("AUTHZD_LOAD_BINARY") else {
        RedbStore::open(data_dir)
            .unwrap()
            .write_checkpoint(&snapshot)
            .unwrap();
        return snapshot;
    };
    let mut staging = data_dir.as_os_str().to_owned();
    staging.push(".staging");
    let staging = std::path::PathBuf::from(staging);
    RedbStore::open(&staging)
        .unwrap()
        .write_checkpoint(&snapshot)
        .unwrap();
    let export = staging.join("state.authzd");
    authzd::store::export_database(&staging, &export).unwrap();
    let imported = Command::new(binary)
        .arg("import")
        .arg(&export)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "the other build's import failed: {}",
        String::from_utf8_lossy(&imported.stderr)
    );
    std::fs::remove_dir_all(&staging).unwrap();
    snapshot
}

/// A child server: its address, and its standard error's last lines for a failure report.
pub(crate) struct Child {
    process: std::process::Child,
    pub(crate) addr: SocketAddr,
    /// `GET /metrics` (authzd only).
    pub(crate) metrics: Option<SocketAddr>,
    log_tail: Arc<Mutex<Vec<String>>>,
}

/// The command prefix that bounds a child's life and pins it to `cpu` (if any).
fn bounded(cpu: Option<usize>) -> Command {
    let mut command = Command::new("timeout");
    command.args(["--kill-after=10", CHILD_LIFETIME]);
    if let Some(cpu) = cpu {
        command.args(["taskset", "-c", &cpu.to_string()]);
    }
    command
}

impl Child {
    /// Starts the release `authzd serve` on `data_dir`, metrics on (the bench reads the
    /// server's own count of calls by status from them), and waits for both addresses.
    pub(crate) fn authzd(data_dir: &Path, cpu: Option<usize>) -> Self {
        Self::authzd_with(data_dir, cpu, &[])
    }

    /// As [`Self::authzd`], with more arguments for `serve` (another store, say).
    pub(crate) fn authzd_with(data_dir: &Path, cpu: Option<usize>, extra: &[String]) -> Self {
        let mut command = bounded(cpu);
        // Another build may be compared against this one's bare server and client.
        let binary = std::env::var_os("AUTHZD_LOAD_BINARY")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_authzd").into());
        command
            .arg(binary)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--metrics-listen", "127.0.0.1:0", "--log-level", "info"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra);
        for (name, _) in std::env::vars() {
            if name.starts_with("AUTHZD_") || name == "RUST_LOG" {
                // The server's own settings come from the flags above only.
                command.env_remove(name);
            }
        }
        Self::start(command, true)
    }

    /// Starts this binary as the bare tonic server.
    pub(crate) fn bare(cpu: Option<usize>) -> Self {
        let mut command = bounded(cpu);
        command
            .arg(std::env::current_exe().unwrap())
            .env(BARE_ROLE, "1");
        Self::start(command, false)
    }

    fn start(mut command: Command, wants_metrics: bool) -> Self {
        let mut process = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a server (needs `timeout` and `taskset`)");
        let stderr = process.stderr.take().unwrap();
        let (lines_tx, lines) = mpsc::channel::<String>();
        let log_tail = Arc::new(Mutex::new(Vec::new()));
        let tail = Arc::clone(&log_tail);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut tail = tail.lock().unwrap();
                if tail.len() == 50 {
                    tail.remove(0);
                }
                tail.push(line.clone());
                let _ = lines_tx.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let (mut addr, mut metrics) = (None, None);
        while addr.is_none() || (wants_metrics && metrics.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                let _ = process.kill();
                panic!(
                    "the server did not report its addresses:\n{}",
                    log_tail.lock().unwrap().join("\n")
                );
            };
            addr = addr.or_else(|| address_after(&line, "listening on "));
            metrics = metrics.or_else(|| address_after(&line, "serving metrics on http://"));
        }
        Self {
            process,
            addr: addr.unwrap(),
            metrics,
            log_tail,
        }
    }

    /// Panics with the server's last log lines if it has exited.
    pub(crate) fn assert_running(&mut self) {
        if let Some(status) = self.process.try_wait().unwrap() {
            panic!(
                "the server exited ({status}):\n{}",
                self.log_tail.lock().unwrap().join("\n")
            );
        }
    }

    /// The server's count of finished calls of `method`, by gRPC code name.
    pub(crate) fn calls(&self, method: &str) -> BTreeMap<String, u64> {
        let text = self.scrape();
        let label = format!("method=\"{method}\"");
        let mut calls = BTreeMap::new();
        for line in text.lines() {
            if line.starts_with(authzd::metrics::names::RPC_REQUESTS) && line.contains(&label) {
                let count: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
                let code = line
                    .split("code=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                *calls.entry(code.to_owned()).or_default() += count;
            }
        }
        calls
    }
}

impl Child {
    /// The calls of `method` the server answered OK since it counted `before`, after
    /// checking that it answered none otherwise, but for the few a load tool cuts off when
    /// its time is up (at most `in_flight`), and at least the `driven` the tool counted.
    pub(crate) fn checked_calls(
        &self,
        method: &str,
        before: &BTreeMap<String, u64>,
        in_flight: usize,
        driven: u64,
    ) -> u64 {
        let mut after = self.calls(method);
        let ok = after.remove("OK").unwrap_or(0) - before.get("OK").copied().unwrap_or(0);
        after.retain(|code, n| before.get(code) != Some(n));
        for (code, n) in &mut after {
            *n -= before.get(code).copied().unwrap_or(0);
        }
        // h2load closes its connections when its time is up, cutting off the calls in
        // flight; the server sees their bodies end early.
        let cut_off: u64 = after
            .iter()
            .filter(|(code, _)| *code == "UNKNOWN" || *code == "CANCELLED")
            .map(|(_, n)| n)
            .sum();
        assert!(
            cut_off == after.values().sum::<u64>() && cut_off <= in_flight as u64,
            "authzd answered {method} with {after:?}"
        );
        assert!(
            ok >= driven,
            "authzd counted {ok} OK calls, the load tool {driven}"
        );
        ok
    }

    /// The server's metrics, as Prometheus text.
    pub(crate) fn scrape(&self) -> String {
        let addr = self.metrics.expect("authzd serves metrics");
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }

    /// The server's resident memory now (`VmRSS`), in bytes.
    pub(crate) fn resident(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.server_pid()))
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .unwrap_or(0)
            * 1024
    }

    /// The server's CPU time so far, user and system, in seconds.
    pub(crate) fn cpu_seconds(&self) -> (f64, f64) {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.server_pid()))
            .unwrap_or_default();
        // The fields after the command's closing parenthesis; utime and stime are the
        // 14th and 15th of the whole line, in clock ticks of 1/100 s.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |n: usize| {
            fields
                .get(n)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) / 100.0, ticks(12) / 100.0)
    }

    /// The server's last log line containing `text`, if it is still among the lines kept.
    pub(crate) fn log_line(&self, text: &str) -> Option<String> {
        let tail = self.log_tail.lock().unwrap();
        tail.iter().rev().find(|line| line.contains(text)).cloned()
    }

    /// The pid of `authzd` itself: the child is `timeout`, which runs it (through
    /// `taskset`, which execs it) as its only child.
    fn server_pid(&self) -> u32 {
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.process.id()))
            .ok()
            .and_then(|children| children.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| self.process.id())
    }

    /// The value of the unlabelled metric `name` (0 when the server has not recorded it).
    pub(crate) fn metric(&self, name: &str) -> f64 {
        self.scrape()
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_default()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.process.try_wait() {
            // `timeout` passes SIGTERM on: authzd drains and closes its store.
            let _ = Command::new("kill")
                .args(["-TERM", &self.process.id().to_string()])
                .status();
            let _ = self.process.wait();
        }
    }
}

fn address_after(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = line.split(marker).nth(1)?;
    rest.split(|c: char| c.is_whitespace() || c == '/')
        .next()?
        .parse()
        .ok()
}

/// The bare tonic server: the health service alone, on tonic's and tokio's defaults (as
/// `#[tokio::main]` and `Server::builder()` give them), until its standard input closes.
pub(crate) fn serve_bare() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // As `serve(addr)` would, with port 0: tonic's listener, Nagle's algorithm off.
        let incoming = tonic::transport::server::TcpIncoming::bind(([127, 0, 0, 1], 0).into())
            .unwrap()
            .with_nodelay(Some(true));
        eprintln!("listening on {}", incoming.local_addr().unwrap());
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read(&mut [0_u8; 1]);
        });
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stdin_closed.await;
            })
            .await
            .unwrap();
    });
}
