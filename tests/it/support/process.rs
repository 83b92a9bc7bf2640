//! Runs the real `authzd` binary as a child process.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// How long a child may take to start listening or to exit.
pub(crate) const PROCESS_TIMEOUT: Duration = Duration::from_secs(30);

/// A `Command` for the binary with a clean `AUTHZD_*` and `OTEL_*` environment.
pub(crate) fn authzd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authzd"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AUTHZD_") || name.starts_with("OTEL_") || name == "RUST_LOG" {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// A running `authzd serve`, killed on drop if still running.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Child,
    /// The address it listens on.
    pub(crate) addr: SocketAddr,
    stderr_lines: mpsc::Receiver<String>,
}

impl ServerProcess {
    /// Starts `authzd serve --listen 127.0.0.1:0 --data-dir DIR` plus `extra` args and waits
    /// for its `listening on` line.
    pub(crate) fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(data_dir, extra, &[])
    }

    /// As [`Self::start`], with these environment variables set.
    #[allow(
        clippy::zombie_processes,
        reason = "the child is reaped by Drop or wait"
    )]
    pub(crate) fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = authzd()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn authzd");
        let stderr = child.stderr.take().expect("stderr piped");
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "authzd did not report `listening on`; its output:\n{}",
                    seen.join("\n")
                );
            };
            if let Some(addr) = listening_addr(&line) {
                return Self {
                    child,
                    addr,
                    stderr_lines: lines,
                };
            }
            seen.push(line);
        }
    }

    /// The gRPC endpoint URI.
    pub(crate) fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A gRPC channel to it.
    pub(crate) async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Channel::from_shared(self.uri())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (e.g. `TERM`) to the child by its PID.
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits until the child logs a line containing `needle`, and returns that line.
    pub(crate) fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .stderr_lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("authzd never logged `{needle}`"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Waits for the child to exit and returns its status and the rest of its stderr.
    pub(crate) fn wait(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let rest: Vec<String> = self.stderr_lines.try_iter().collect();
                return (status, rest.join("\n"));
            }
            assert!(Instant::now() < deadline, "authzd did not exit in time");
            // std's `Child` has no wait with a timeout, and a blocking `wait` could not be
            // given up on: asked again until the deadline.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Extracts ADDR from a log line containing `listening on ADDR`.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split("listening on ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}
