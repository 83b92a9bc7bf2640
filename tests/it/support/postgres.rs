//! A real PostgreSQL server for the tests that need one: `initdb` in a temporary
//! directory, `postgres` on a free port of 127.0.0.1, stopped when dropped.
//!
//! It finds the server binaries in `/usr/lib/postgresql/<version>/bin` (Debian's
//! `postgresql` package; `.ci/run` installs it where missing) or on the PATH. PostgreSQL
//! refuses to run as root, so as root (as CI runs) it runs as the `postgres` system user
//! (`setpriv`, which execs, so that the process started is the server). The server runs
//! under `timeout`, so that it stops by itself even if the test process is killed.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_mins(1);
/// The longest a test server lives, whatever happens to the test.
const LIFETIME_SECS: u64 = 900;
/// The superuser `initdb` creates (trust authentication on 127.0.0.1 only).
const USER: &str = "authzd";

/// A running PostgreSQL server with one database, `postgres`.
#[derive(Debug)]
pub(crate) struct PgServer {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    /// How to start the server again (after [`Self::stop`]) on the same data and port.
    start: Vec<std::ffi::OsString>,
    bin: PathBuf,
}

impl PgServer {
    /// Creates a cluster in a temporary directory and starts its server.
    pub(crate) fn start() -> Self {
        Self::start_with_tls(None)
    }

    /// As [`Self::start`], serving TLS with this (certificate PEM, key PEM) when given.
    pub(crate) fn start_with_tls(tls: Option<(&str, &str)>) -> Self {
        let bin = binaries();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut tls_settings = Vec::new();
        if let Some((cert, key)) = tls {
            let (cert_file, key_file) =
                (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::write(&cert_file, cert).unwrap();
            std::fs::write(&key_file, key).unwrap();
            // PostgreSQL refuses a key others may read.
            std::fs::set_permissions(
                &key_file,
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            )
            .unwrap();
            tls_settings = vec![
                "ssl=on".to_owned(),
                format!("ssl_cert_file={}", cert_file.display()),
                format!("ssl_key_file={}", key_file.display()),
            ];
        }
        let as_root = is_root();
        if as_root {
            // The server's user must own its directory (and reach it).
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()));
        }
        let mut initdb = as_server_user(&bin.join("initdb"), as_root);
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync"]);
        run(&mut initdb);
        let port = free_port();
        let mut start: Vec<std::ffi::OsString> = vec![
            "--kill-after=10".into(),
            LIFETIME_SECS.to_string().into(),
            bin.join("postgres").into(),
            "-D".into(),
            data.into(),
            "-p".into(),
            port.to_string().into(),
            "-c".into(),
            "listen_addresses=127.0.0.1".into(),
            "-k".into(),
            dir.path().into(),
        ];
        for setting in tls_settings {
            start.extend(["-c".into(), setting.into()]);
        }
        let child = spawn_server(&start);
        let pg = Self {
            child,
            dir,
            port,
            start,
            bin,
        };
        pg.wait_until_ready();
        pg
    }

    /// Stops the server (fast shutdown: open connections are ended), keeping its data.
    pub(crate) fn stop(&mut self) {
        // SIGINT to `timeout`, which passes it on: PostgreSQL's fast shutdown.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the stopped server again, on the same data and port.
    pub(crate) fn restart(&mut self) {
        self.child = spawn_server(&self.start);
        self.wait_until_ready();
    }

    /// The connection string of its `postgres` database.
    pub(crate) fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/postgres", self.port)
    }

    /// The connection string with an `sslmode`.
    pub(crate) fn url_with_sslmode(&self, mode: &str) -> String {
        format!("{}?sslmode={mode}", self.url())
    }

    fn wait_until_ready(&self) {
        let started = Instant::now();
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if ready {
                return;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "postgres did not accept connections within {START_TIMEOUT:?} (directory {})",
                self.dir.path().display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `postgres` under `timeout` with these arguments, as the server's user.
fn spawn_server(args: &[std::ffi::OsString]) -> Child {
    as_server_user(Path::new("timeout"), is_root())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start postgres")
}

/// The directory of `initdb`, `postgres` and `pg_isready`: the newest Debian version, or
/// the PATH's.
fn binaries() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("postgres").exists())
        .collect();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    versions.pop().unwrap_or_else(|| {
        let found = Command::new("sh")
            .args(["-c", "command -v postgres"])
            .output()
            .expect("run sh");
        let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
        assert!(
            !path.is_empty(),
            "these tests need a PostgreSQL server: install Debian's `postgresql` package (.ci/run does)"
        );
        Path::new(&path).parent().unwrap().to_path_buf()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `program` run as the `postgres` system user when this process is root.
fn as_server_user(program: &Path, as_root: bool) -> Command {
    if !as_root {
        return Command::new(program);
    }
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--reset-env",
        ])
        .arg(program);
    command
}

fn run(command: &mut Command) {
    let out = command.output().expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port nobody listens on now (the OS's choice for port 0).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
