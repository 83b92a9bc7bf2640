//! `authzd watch`, the reference sidecar, as a real process against a real server: every
//! change printed once and in order across a server restart, resuming from its checkpoint
//! file, and a resume point older than the retained log refused loudly.

use std::{
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use authzd::api::pb::{
    self, group_service_client::GroupServiceClient, platform_service_client::PlatformServiceClient,
    user_service_client::UserServiceClient, watch_service_client::WatchServiceClient,
};
use tonic::{Code, Request, transport::Channel};

use crate::support::process::{PROCESS_TIMEOUT, ServerProcess, authzd};

const TOKEN: &str = "watch-cli-platform-token";
const TENANT: &str = "acme";
const OWNER: &str = "olivia";

/// A child process, killed (by its PID, through `Child`) on drop if still running, with
/// its stdout and stderr read line by line on their own threads so that neither pipe fills.
struct Proc {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    /// Every stderr line read so far, for failure messages.
    stderr_seen: Vec<String>,
}

impl Proc {
    fn spawn(mut command: std::process::Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn authzd");
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Self {
            child,
            stdout,
            stderr,
            stderr_seen: Vec::new(),
        }
    }

    fn signal(&self, name: &str) {
        let status = authzd_kill(name, self.child.id());
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the child to exit; returns its status, stdout lines and stderr.
    fn wait(mut self) -> (ExitStatus, Vec<String>, String) {
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the child did not exit in time; stderr:\n{}",
                self.drain_stderr()
            );
            // std's `Child` has no wait with a timeout, and a blocking `wait` could not be
            // given up on: asked again until the deadline.
            thread::sleep(Duration::from_millis(20));
        };
        // The reader threads end at EOF, which follows the exit.
        let stdout: Vec<String> = self.stdout.iter().collect();
        let stderr = self.drain_stderr_to_eof();
        (status, stdout, stderr)
    }

    fn drain_stderr(&mut self) -> String {
        self.stderr_seen.extend(self.stderr.try_iter());
        self.stderr_seen.join("\n")
    }

    fn drain_stderr_to_eof(&mut self) -> String {
        self.stderr_seen.extend(self.stderr.iter());
        self.stderr_seen.join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn authzd_kill(name: &str, pid: u32) -> ExitStatus {
    std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill")
}

/// The lines of a pipe, sent as they are read.
fn lines(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `authzd serve` on a chosen address (the restart test needs the same port twice).
struct Server {
    proc: Proc,
    addr: SocketAddr,
}

impl Server {
    /// Starts on `listen` and waits for `listening on`; a port still held by the previous
    /// run makes the child exit at once, and then it is tried again, a few times.
    fn start(data_dir: &Path, listen: &str) -> Self {
        let mut failures = Vec::new();
        for _ in 0..20 {
            let mut command = authzd();
            command
                .args(["serve", "--listen", listen])
                .arg("--data-dir")
                .arg(data_dir);
            let mut proc = Proc::spawn(command);
            let deadline = Instant::now() + PROCESS_TIMEOUT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match proc.stderr.recv_timeout(left) {
                    Ok(line) => {
                        if let Some(addr) = line
                            .split("listening on ")
                            .nth(1)
                            .and_then(|rest| rest.split_whitespace().next())
                            .and_then(|addr| addr.parse().ok())
                        {
                            return Self { proc, addr };
                        }
                        proc.stderr_seen.push(line);
                    }
                    // The child closed stderr: it exited (e.g. the port was not free yet).
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        panic!("authzd serve did not start:\n{}", proc.drain_stderr())
                    }
                }
            }
            let (status, _, stderr) = proc.wait();
            failures.push(format!("{status}: {stderr}"));
            // A pause before the next port, not a poll: the failed start is over.
            thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "authzd serve never started on {listen}:\n{}",
            failures.join("\n")
        );
    }

    fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGTERM, then waits for a clean exit. The wait runs off the test's runtime, which
    /// meanwhile closes the test's own connections when the server asks: otherwise the
    /// server would wait its whole shutdown grace period for them.
    async fn stop(self) {
        self.proc.signal("TERM");
        let (status, _, stderr) = tokio::task::spawn_blocking(move || self.proc.wait())
            .await
            .unwrap();
        assert!(status.success(), "server exit {status}:\n{stderr}");
    }
}

/// A running `authzd watch`.
struct Watcher {
    proc: Proc,
    /// The events printed so far.
    printed: Vec<serde_json::Value>,
}

impl Watcher {
    fn start(uri: &str, args: &[&str]) -> Self {
        let mut command = authzd();
        command.args(["watch", "--server", uri]).args(args);
        Self {
            proc: Proc::spawn(command),
            printed: Vec::new(),
        }
    }

    /// Reads printed lines until one has revision `last` or later.
    fn wait_for_revision(&mut self, last: u64) {
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        while self.printed.last().map(revision) < Some(last) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.proc.stdout.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "authzd watch never printed revision {last} (printed {:?}); stderr:\n{}",
                    self.printed.iter().map(revision).collect::<Vec<_>>(),
                    self.proc.drain_stderr()
                )
            });
            self.printed.push(parse(&line));
        }
    }

    /// SIGTERM, then the exit status, every event printed and the stderr.
    fn stop(self) -> (ExitStatus, Vec<serde_json::Value>, String) {
        self.proc.signal("TERM");
        self.finish()
    }

    /// Waits for the exit (after `--exit-after-idle` or a failure).
    fn finish(self) -> (ExitStatus, Vec<serde_json::Value>, String) {
        let mut printed = self.printed;
        let (status, rest, stderr) = self.proc.wait();
        printed.extend(rest.iter().map(|line| parse(line)));
        (status, printed, stderr)
    }
}

fn parse(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
}

/// An event's revision (proto JSON writes 64-bit integers as strings).
fn revision(event: &serde_json::Value) -> u64 {
    event["revision"]
        .as_str()
        .unwrap_or_else(|| panic!("no revision in {event}"))
        .parse()
        .unwrap()
}

fn revisions(events: &[serde_json::Value]) -> Vec<u64> {
    events.iter().map(revision).collect()
}

async fn channel(uri: &str) -> Channel {
    Channel::from_shared(uri.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn platform<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    request
}

/// Creates the tenant (one change).
async fn create_tenant(uri: &str) {
    PlatformServiceClient::new(channel(uri).await)
        .create_tenant(platform(pb::CreateTenantRequest {
            id: TENANT.into(),
            name: "Acme".into(),
            owner_id: OWNER.into(),
            owner_email: "olivia@acme.example".into(),
            owner_display_name: "Olivia Owner".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
}

/// Invites users `u{from}`.. `u{to - 1}` (one change each).
async fn invite_users(uri: &str, range: std::ops::Range<u32>) {
    let mut users = UserServiceClient::new(channel(uri).await);
    for n in range {
        users
            .invite_user(pb::InviteUserRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                id: format!("u{n}"),
                email: format!("u{n}@acme.example"),
                display_name: format!("User {n}"),
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

/// Creates groups `g{from}`.. (one change each).
async fn create_groups(uri: &str, range: std::ops::Range<u32>) {
    let mut groups = GroupServiceClient::new(channel(uri).await);
    for n in range {
        groups
            .create_group(pb::CreateGroupRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                id: format!("g{n}"),
                name: format!("Group {n}"),
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

/// The change log from the start, as (revision, kind) pairs, read through a fresh Watch.
async fn change_log(uri: &str, last: u64) -> Vec<(u64, String)> {
    let mut stream = WatchServiceClient::new(channel(uri).await)
        .watch(pb::WatchRequest {
            start_revision: Some(0),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut log = Vec::new();
    loop {
        let message = tokio::time::timeout(PROCESS_TIMEOUT, stream.message())
            .await
            .expect("the watch stalled")
            .unwrap()
            .expect("the watch ended");
        match message.message.unwrap() {
            pb::watch_response::Message::Event(event) => {
                let kind = pb::EventKind::try_from(event.kind).unwrap();
                log.push((event.revision, kind.as_str_name().to_owned()));
                if event.revision >= last {
                    return log;
                }
            }
            pb::watch_response::Message::Checkpoint(checkpoint) => {
                if checkpoint.revision >= last {
                    return log;
                }
            }
        }
    }
}

fn checkpoint(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

#[tokio::test]
async fn watch_cli_prints_every_change_once_in_order_across_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("watch.checkpoint");
    let server = Server::start(&data, "127.0.0.1:0");
    let addr = server.addr;
    let uri = server.uri();
    let mut watcher = Watcher::start(
        &uri,
        &[
            "--from",
            "0",
            "--checkpoint-file",
            file.to_str().unwrap(),
            "--max-backoff",
            "500ms",
        ],
    );

    create_tenant(&uri).await;
    invite_users(&uri, 1..30).await;
    // The stream is live; the restart comes while it is in use.
    watcher.wait_for_revision(1);
    server.stop().await;
    let server = Server::start(&data, &addr.to_string());
    assert_eq!(server.addr, addr);
    create_groups(&uri, 1..31).await;
    let last = 60;
    watcher.wait_for_revision(last);
    let (status, printed, stderr) = watcher.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM; stderr:\n{stderr}"
    );

    assert_eq!(
        revisions(&printed),
        (1..=last).collect::<Vec<_>>(),
        "every change once, in order; stderr:\n{stderr}"
    );
    let printed_log: Vec<(u64, String)> = printed
        .iter()
        .map(|event| (revision(event), event["kind"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(printed_log, change_log(&uri, last).await);
    assert_eq!(printed[0]["kind"], "EVENT_KIND_TENANT_CREATED");
    assert_eq!(printed[1]["user"], "u1");
    assert_eq!(printed[1]["email"], "u1@acme.example");
    assert_eq!(printed[59]["group"], "g30");
    assert_eq!(checkpoint(&file), last.to_string());
    assert!(
        stderr.contains("reconnected"),
        "the restart is logged:\n{stderr}"
    );
    server.stop().await;
}

#[tokio::test]
async fn watch_cli_resumes_after_its_checkpoint_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("watch.checkpoint");
    let server = ServerProcess::start(&dir.path().join("data"), &[]);
    let uri = server.uri();
    create_tenant(&uri).await;
    invite_users(&uri, 1..5).await;
    let args = ["--from", "0", "--checkpoint-file", file.to_str().unwrap()];

    let mut first = Watcher::start(&uri, &args);
    first.wait_for_revision(5);
    let (status, printed, stderr) = first.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM; stderr:\n{stderr}"
    );
    assert_eq!(revisions(&printed), [1, 2, 3, 4, 5]);
    assert_eq!(checkpoint(&file), "5");

    // The next run starts after the file's revision (`--from 0` is for a first run only).
    invite_users(&uri, 5..8).await;
    let mut second = Watcher::start(&uri, &args);
    second.wait_for_revision(8);
    let (status, printed, stderr) = second.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(revisions(&printed), [6, 7, 8], "nothing printed twice");
    assert_eq!(printed[0]["user"], "u5");
    assert_eq!(checkpoint(&file), "8");

    // With checkpoints printed too, and a filter that matches nothing new: the file still
    // moves on with them.
    let mut with_checkpoints = args.to_vec();
    with_checkpoints.extend([
        "--include-checkpoints",
        "--kind",
        "group-created",
        "--exit-after-idle",
        "3s",
    ]);
    invite_users(&uri, 8..9).await;
    let (status, printed, stderr) = Watcher::start(&uri, &with_checkpoints).finish();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!printed.is_empty(), "no checkpoint line");
    assert!(
        printed
            .iter()
            .all(|line| line["checkpoint"]["revision"] == "9"),
        "{printed:?}"
    );
    assert_eq!(checkpoint(&file), "9");
}

#[tokio::test]
async fn watch_cli_resumes_without_gap_after_being_ended_as_too_slow() {
    let dir = tempfile::tempdir().unwrap();
    // A one-message buffer: a group commit of several changes overflows it at once.
    let server = ServerProcess::start(&dir.path().join("data"), &["--watch-buffer", "1"]);
    let uri = server.uri();
    let mut watcher = Watcher::start(&uri, &["--from", "0", "--max-backoff", "200ms"]);
    create_tenant(&uri).await;
    watcher.wait_for_revision(1);
    let users = UserServiceClient::new(channel(&uri).await);
    let mut last = 1;
    for burst in 0..20 {
        // Concurrent writes, so that the writer commits them in groups.
        let calls: Vec<_> = (0..40)
            .map(|i| {
                let mut users = users.clone();
                let n = burst * 40 + i;
                tokio::spawn(async move {
                    users
                        .invite_user(pb::InviteUserRequest {
                            actor: OWNER.into(),
                            tenant: TENANT.into(),
                            id: format!("u{n}"),
                            email: format!("u{n}@acme.example"),
                            display_name: format!("User {n}"),
                            ..Default::default()
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        for call in calls {
            call.await.unwrap();
        }
        last += 40;
        watcher.wait_for_revision(last);
        if watcher.proc.drain_stderr().contains("RESOURCE_EXHAUSTED") {
            break;
        }
    }
    let (status, printed, stderr) = watcher.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("RESOURCE_EXHAUSTED") && stderr.contains("reconnected"),
        "the watcher was never ended as too slow:\n{stderr}"
    );
    assert_eq!(
        revisions(&printed),
        (1..=last).collect::<Vec<_>>(),
        "every change once, in order; stderr:\n{stderr}"
    );
}

#[tokio::test]
async fn watch_cli_exits_1_when_its_resume_point_was_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        &dir.path().join("data"),
        &[
            "--checkpoint-every",
            "1",
            "--changelog-retention-count",
            "2",
            "--changelog-retention-age",
            "0s",
        ],
    );
    let uri = server.uri();
    create_tenant(&uri).await;
    invite_users(&uri, 1..10).await;
    // Pruning follows checkpoints in the background: wait until revision 0 is refused.
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    loop {
        let answer = WatchServiceClient::new(channel(&uri).await)
            .watch(pb::WatchRequest {
                start_revision: Some(0),
                ..Default::default()
            })
            .await;
        if matches!(&answer, Err(status) if status.code() == Code::OutOfRange) {
            break;
        }
        assert!(Instant::now() < deadline, "the log was never pruned");
        // The server prunes in the background and signals nothing to a client: asked again.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (status, printed, stderr) = Watcher::start(&uri, &["--from", "0"]).finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(printed.is_empty(), "{printed:?}");
    assert!(
        stderr.contains("OUT_OF_RANGE") && stderr.contains("older than the retained change log"),
        "{stderr}"
    );
}

#[test]
fn watch_cli_usage_errors_exit_2() {
    for args in [
        &["--kind", "user-exploded"][..],
        &["--kind", "unspecified"],
        &["--max-backoff", "0s"],
        &["--exit-after-idle", "soon"],
        &["--from", "-1"],
        &["--server", "not a uri"],
    ] {
        let mut command = authzd();
        command.arg("watch").args(args);
        let (status, _, stderr) = Proc::spawn(command).wait();
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(args[0]) || stderr.contains(args[1]),
            "{args:?}: {stderr}"
        );
    }
}
