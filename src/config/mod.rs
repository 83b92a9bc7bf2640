//! Server configuration: defaults, a TOML file, `AUTHZD_*` environment variables and
//! command-line flags, merged with flags > environment > file > defaults.
//!
//! Every setting is described once in [`SETTINGS`]; each source yields raw text per setting,
//! and one parser per setting turns it into a typed value, so a bad value gets the same
//! message (naming the setting, where it came from and the rule) whatever its source.

use std::{
    collections::BTreeMap,
    fmt::{self, Write as _},
    net::SocketAddr,
    path::PathBuf,
    time::Duration,
};

mod duration;

use duration::duration_setting;
pub use duration::parse_duration;

/// Prefix of the environment variables that configure the server.
pub const ENV_PREFIX: &str = "AUTHZD_";

/// `AUTHZD_*` variables that are not settings (the config file's path; the client
/// subcommands' server, actor and credentials): the settings reader skips them instead of
/// calling them unknown.
pub const NON_SETTING_ENV: &[&str] = &[
    "AUTHZD_CONFIG",
    "AUTHZD_SERVER",
    "AUTHZD_ACTOR",
    "AUTHZD_TOKEN",
    "AUTHZD_TOKEN_FILE",
    "AUTHZD_ACTOR_TOKEN",
    "AUTHZD_CA_FILE",
    "AUTHZD_CERT_FILE",
    "AUTHZD_KEY_FILE",
];

/// One configurable setting.
#[derive(Debug, Clone, Copy)]
pub struct SettingSpec {
    /// Key in the TOML file and in `authzd config` output.
    pub key: &'static str,
    /// Environment variable.
    pub env: &'static str,
    /// Command-line flag, without the leading dashes.
    pub flag: &'static str,
    /// The default, as text in the syntax the parser accepts.
    pub default: &'static str,
    /// What it does and which values it accepts.
    pub help: &'static str,
}

/// Every setting the server reads. README.md's configuration table mirrors this list.
pub const SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: "listen",
        env: "AUTHZD_LISTEN",
        flag: "listen",
        default: "127.0.0.1:50051",
        help: "address to serve gRPC on, IP:PORT (port 0 picks a free port)",
    },
    SettingSpec {
        key: "metrics_listen",
        env: "AUTHZD_METRICS_LISTEN",
        flag: "metrics-listen",
        default: "",
        help: "address to serve Prometheus metrics on over plain HTTP (`GET /metrics`), \
               IP:PORT (port 0 picks a free port); empty: no metrics",
    },
    SettingSpec {
        key: "data_dir",
        env: "AUTHZD_DATA_DIR",
        flag: "data-dir",
        default: "",
        help: "directory holding the database; created if missing \
               (default: $XDG_DATA_HOME/authzd, else ~/.local/share/authzd)",
    },
    SettingSpec {
        key: "store",
        env: "AUTHZD_STORE",
        flag: "store",
        default: "redb",
        help: "where the state is kept: `redb` (a file under data_dir; one server) or \
               `postgres` (a PostgreSQL database several replicas share; needs database_url \
               or database_url_file)",
    },
    SettingSpec {
        key: "database_url",
        env: "AUTHZD_DATABASE_URL",
        flag: "database-url",
        default: "",
        help: "store = \"postgres\": the connection string, e.g. \
               postgres://authzd@db:5432/authz?sslmode=require (it may hold a password: \
               prefer database_url_file; never printed)",
    },
    SettingSpec {
        key: "database_url_file",
        env: "AUTHZD_DATABASE_URL_FILE",
        flag: "database-url-file",
        default: "",
        help: "store = \"postgres\": a file holding the connection string (a mounted \
               secret; a trailing newline is ignored)",
    },
    SettingSpec {
        key: "database_ca_file",
        env: "AUTHZD_DATABASE_CA_FILE",
        flag: "database-ca-file",
        default: "",
        help: "store = \"postgres\": PEM file of the CA certificates that sign the \
               database server's certificate (default: the system's roots); the URL's \
               sslmode says whether TLS is used",
    },
    SettingSpec {
        key: "database_poll_interval",
        env: "AUTHZD_DATABASE_POLL_INTERVAL",
        flag: "database-poll-interval",
        default: "1s",
        help: "store = \"postgres\": how often a replica looks for other replicas' \
               commits when no notification arrives (e.g. `200ms`, `1s`; 10ms to 1m)",
    },
    SettingSpec {
        key: "log_format",
        env: "AUTHZD_LOG_FORMAT",
        flag: "log-format",
        default: "text",
        help: "log format: `text` (human-readable) or `json` (one object per line)",
    },
    SettingSpec {
        key: "log_level",
        env: "AUTHZD_LOG_LEVEL",
        flag: "log-level",
        default: "info",
        help: "log filter in tracing's EnvFilter syntax, e.g. `info` or `authzd=debug,info`; \
               RUST_LOG is read when AUTHZD_LOG_LEVEL is unset",
    },
    SettingSpec {
        key: "shutdown_grace",
        env: "AUTHZD_SHUTDOWN_GRACE",
        flag: "shutdown-grace",
        default: "10s",
        help: "how long in-flight calls and streams may run after SIGINT/SIGTERM \
               (e.g. `500ms`, `10s`, `1m`; at most 1h)",
    },
    SettingSpec {
        key: "consistency_wait",
        env: "AUTHZD_CONSISTENCY_WAIT",
        flag: "consistency-wait",
        default: "5s",
        help: "how long a read without a deadline waits for the minimum revision it asks \
               for before FAILED_PRECONDITION (e.g. `100ms`, `5s`; at most 1m)",
    },
    SettingSpec {
        key: "checkpoint_every",
        env: "AUTHZD_CHECKPOINT_EVERY",
        flag: "checkpoint-every",
        default: "10000",
        help: "write a checkpoint of the whole state after this many changes (1 to 10000000); \
               start-up reads the newest checkpoint and replays only the changes after it",
    },
    SettingSpec {
        key: "changelog_retention_age",
        env: "AUTHZD_CHANGELOG_RETENTION_AGE",
        flag: "changelog-retention-age",
        default: "7d",
        help: "keep change-log entries at least this long (e.g. `12h`, `7d`; at most 3650d)",
    },
    SettingSpec {
        key: "changelog_retention_count",
        env: "AUTHZD_CHANGELOG_RETENTION_COUNT",
        flag: "changelog-retention-count",
        default: "100000",
        help: "always keep at least this many of the newest change-log entries",
    },
    SettingSpec {
        key: "changelog_retention_max_count",
        env: "AUTHZD_CHANGELOG_RETENTION_MAX_COUNT",
        flag: "changelog-retention-max-count",
        default: "1000000",
        help: "keep at most this many of the newest change-log entries, however young, once \
               a checkpoint covers them (at least changelog_retention_count): Watch resumes \
               from at most this far back, and the log's size stays bounded",
    },
    SettingSpec {
        key: "max_batch_items",
        env: "AUTHZD_MAX_BATCH_ITEMS",
        flag: "max-batch-items",
        default: "1000",
        help: "largest number of items one BatchCheck may carry (1 to 100000)",
    },
    SettingSpec {
        key: "watch_buffer",
        env: "AUTHZD_WATCH_BUFFER",
        flag: "watch-buffer",
        default: "1024",
        help: "messages buffered per Watch subscriber; one that falls further behind is ended \
               with RESOURCE_EXHAUSTED and resumes (1 to 1000000)",
    },
    SettingSpec {
        key: "watch_checkpoint_interval",
        env: "AUTHZD_WATCH_CHECKPOINT_INTERVAL",
        flag: "watch-checkpoint-interval",
        default: "5s",
        help: "how often a Watch stream gets a checkpoint, also when idle \
               (e.g. `500ms`, `5s`; 10ms to 1h)",
    },
    SettingSpec {
        key: "audit_retention_age",
        env: "AUTHZD_AUDIT_RETENTION_AGE",
        flag: "audit-retention-age",
        default: "365d",
        help: "keep audit records at least this long, independently of the change log \
               (e.g. `90d`, `365d`; 1h to 3650d); pruned after checkpoints",
    },
    SettingSpec {
        key: "lockout_threshold",
        env: "AUTHZD_LOCKOUT_THRESHOLD",
        flag: "lockout-threshold",
        default: "3",
        help: "failed sign-ins in a row (ReportSignIn) that lock a user (1 to 100)",
    },
    SettingSpec {
        key: "lockout_duration",
        env: "AUTHZD_LOCKOUT_DURATION",
        flag: "lockout-duration",
        default: "1h",
        help: "how long such a lock lasts (e.g. `15m`, `1h`; 1s to 30d)",
    },
    SettingSpec {
        key: "callers_file",
        env: "AUTHZD_CALLERS_FILE",
        flag: "callers-file",
        default: "",
        help: "TOML file of the callers allowed to call the API (names, token hashes or \
               token files, client-certificate subjects, scopes, tenants, limits); reloaded \
               when it changes and on SIGHUP; empty: no caller is authenticated, and the \
               server listens only on loopback addresses",
    },
    SettingSpec {
        key: "insecure_allow_unauthenticated",
        env: "AUTHZD_INSECURE_ALLOW_UNAUTHENTICATED",
        flag: "insecure-allow-unauthenticated",
        default: "false",
        help: "serve a non-loopback address with no callers file: anyone who reaches the \
               port may act as anyone (`true` or `false`; warned about at start and hourly)",
    },
    SettingSpec {
        key: "tls_cert_file",
        env: "AUTHZD_TLS_CERT_FILE",
        flag: "tls-cert-file",
        default: "",
        help: "PEM certificate chain of the server; set with tls_key_file to serve TLS \
               (reloaded when it changes); empty: plaintext",
    },
    SettingSpec {
        key: "tls_key_file",
        env: "AUTHZD_TLS_KEY_FILE",
        flag: "tls-key-file",
        default: "",
        help: "PEM private key of the server's certificate (reloaded when it changes)",
    },
    SettingSpec {
        key: "tls_client_ca_file",
        env: "AUTHZD_TLS_CLIENT_CA_FILE",
        flag: "tls-client-ca-file",
        default: "",
        help: "PEM bundle of the CAs that sign client certificates: set, every client must \
               present one (mTLS), and callers may be named by certificate subject",
    },
    SettingSpec {
        key: "reload_interval",
        env: "AUTHZD_RELOAD_INTERVAL",
        flag: "reload-interval",
        default: "5s",
        help: "how often the callers, key and certificate files are looked at for changes \
               (e.g. `1s`, `30s`; 100ms to 1h)",
    },
    SettingSpec {
        key: "max_request_bytes",
        env: "AUTHZD_MAX_REQUEST_BYTES",
        flag: "max-request-bytes",
        default: "1048576",
        help: "largest request message any service accepts, in bytes; larger ones are \
               refused with RESOURCE_EXHAUSTED (1024 to 16777216)",
    },
    SettingSpec {
        key: "max_concurrent_streams",
        env: "AUTHZD_MAX_CONCURRENT_STREAMS",
        flag: "max-concurrent-streams",
        default: "128",
        help: "calls (HTTP/2 streams) one connection may have open at once (1 to 10000)",
    },
    SettingSpec {
        key: "max_connections",
        env: "AUTHZD_MAX_CONNECTIONS",
        flag: "max-connections",
        default: "1024",
        help: "connections served at once; further ones wait to be accepted (1 to 100000)",
    },
    SettingSpec {
        key: "keepalive_interval",
        env: "AUTHZD_KEEPALIVE_INTERVAL",
        flag: "keepalive-interval",
        default: "60s",
        help: "how often an HTTP/2 ping checks that a connection's peer is alive; one that \
               does not answer within 20s is closed (e.g. `30s`; 1s to 1h)",
    },
    SettingSpec {
        key: "max_connection_age",
        env: "AUTHZD_MAX_CONNECTION_AGE",
        flag: "max-connection-age",
        default: "1h",
        help: "a connection older than this is closed gracefully, so clients rebalance and \
               idle ones go away (e.g. `30m`, `1h`; 1s to 7d)",
    },
];

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// The TOML file at this path.
    File(PathBuf),
    /// This environment variable.
    Env(String),
    /// This command-line flag.
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File(path) => write!(f, "config file {}", path.display()),
            Self::Env(var) => write!(f, "environment variable {var}"),
            Self::Flag(flag) => write!(f, "flag --{flag}"),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::Json => "json",
        })
    }
}

/// The effective, validated configuration of the server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to serve gRPC on.
    pub listen: SocketAddr,
    /// Address to serve metrics on; `None`: no metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// Directory holding the database file.
    pub data_dir: PathBuf,
    /// Where the state is kept.
    pub store: StoreSettings,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log filter directive (tracing `EnvFilter` syntax).
    pub log_level: String,
    /// Grace period for in-flight calls after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Largest number of items in one batch check.
    pub max_batch_items: usize,
    /// How long a read without a deadline waits for its minimum revision.
    pub consistency_wait: Duration,
    /// Changes between checkpoints.
    pub checkpoint_every: u64,
    /// Minimum age of pruned change-log entries.
    pub changelog_retention_age: Duration,
    /// Newest change-log entries that are never pruned.
    pub changelog_retention_count: u64,
    /// Change-log entries beyond the newest this many are pruned whatever their age.
    pub changelog_retention_max_count: u64,
    /// Messages buffered per Watch subscriber.
    pub watch_buffer: usize,
    /// How often a Watch stream gets a checkpoint.
    pub watch_checkpoint_interval: Duration,
    /// Minimum age of pruned audit records.
    pub audit_retention_age: Duration,
    /// Failed sign-ins in a row that lock a user.
    pub lockout_threshold: u32,
    /// How long a lock by failed sign-ins lasts.
    pub lockout_duration: Duration,
    /// The callers file; `None`: no caller is authenticated.
    pub callers_file: Option<PathBuf>,
    /// Whether a non-loopback address may be served without callers.
    pub insecure_allow_unauthenticated: bool,
    /// The server's certificate and key; `None`: plaintext.
    pub tls: Option<TlsSettings>,
    /// How often the callers, key and certificate files are looked at.
    pub reload_interval: Duration,
    /// Largest request message.
    pub max_request_bytes: usize,
    /// HTTP/2 streams one connection may have open.
    pub max_concurrent_streams: u32,
    /// Connections served at once.
    pub max_connections: usize,
    /// Interval of HTTP/2 keep-alive pings.
    pub keepalive_interval: Duration,
    /// Age at which a connection is closed gracefully.
    pub max_connection_age: Duration,
    /// Where each setting came from, by key.
    pub sources: BTreeMap<&'static str, Source>,
}

/// Where the state is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// The embedded redb file under `data_dir`.
    Redb,
    /// A PostgreSQL database shared by replicas.
    Postgres {
        /// Where the connection string comes from.
        url: DatabaseUrl,
        /// CA certificates to verify the database server with, instead of the system's.
        ca_file: Option<PathBuf>,
        /// How often other replicas' commits are looked for without a notification.
        poll_interval: Duration,
    },
}

/// The PostgreSQL connection string, or the file that holds it.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// Given directly (it may hold a password).
    Inline(String),
    /// A file to read at start.
    File(PathBuf),
}

impl fmt::Debug for DatabaseUrl {
    // By hand: the URL may hold a password, and settings are logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline(not shown)"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// The server's TLS material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
    /// PEM bundle of client-certificate CAs; set: mTLS.
    pub client_ca_file: Option<PathBuf>,
}

/// A configuration that cannot be used. The process exits with status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file `{path}`: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("config file `{path}` is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A key or variable that names no setting.
    #[error("unknown setting `{name}` in {origin}; known settings: {known}")]
    UnknownKey {
        /// The unknown key or variable.
        name: String,
        /// Where it was found.
        origin: Source,
        /// The known names for that source.
        known: String,
    },
    /// A value that breaks its setting's rule.
    #[error("invalid value `{value}` for setting `{key}` (from {origin}): {rule}")]
    InvalidValue {
        /// The setting.
        key: &'static str,
        /// The offending text.
        value: String,
        /// Where it came from.
        origin: Source,
        /// The rule it breaks.
        rule: String,
    },
}

/// Raw text values of settings from one source, by key.
pub type RawValues = BTreeMap<&'static str, String>;

/// Reads a TOML config file into raw values; unknown keys are an error.
pub fn read_file(path: &std::path::Path) -> Result<RawValues, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    parse_file(path, &text)
}

fn parse_file(path: &std::path::Path, text: &str) -> Result<RawValues, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|err| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: err.message().to_owned(),
    })?;
    let mut raw = RawValues::new();
    for (name, value) in table {
        let spec = SETTINGS
            .iter()
            .find(|spec| spec.key == name)
            .ok_or_else(|| ConfigError::UnknownKey {
                name: name.clone(),
                origin: Source::File(path.to_path_buf()),
                known: SETTINGS
                    .iter()
                    .map(|s| s.key)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let text = match value {
            toml::Value::String(text) => text,
            other => other.to_string(),
        };
        raw.insert(spec.key, text);
    }
    Ok(raw)
}

/// Reads the `AUTHZD_*` variables (and `RUST_LOG` for the log level) from `vars`;
/// an `AUTHZD_` variable that names no setting is an error, so typos do not pass silently.
pub fn read_env(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<&'static str, (String, String)>, ConfigError> {
    let mut raw = BTreeMap::new();
    let mut rust_log = None;
    for (name, value) in vars {
        if name == "RUST_LOG" {
            rust_log = Some(value);
            continue;
        }
        if !name.starts_with(ENV_PREFIX) || NON_SETTING_ENV.contains(&name.as_str()) {
            continue;
        }
        let spec = SETTINGS
            .iter()
            .find(|spec| spec.env == name)
            .ok_or_else(|| ConfigError::UnknownKey {
                name: name.clone(),
                origin: Source::Env(name.clone()),
                known: SETTINGS
                    .iter()
                    .map(|s| s.env)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        raw.insert(spec.key, (name, value));
    }
    if let Some(value) = rust_log {
        raw.entry("log_level")
            .or_insert_with(|| ("RUST_LOG".to_owned(), value));
    }
    Ok(raw)
}

/// The sources of one configuration, lowest precedence first after the defaults.
#[derive(Debug, Default)]
pub struct Layers {
    /// The config file and its values, if one was given.
    pub file: Option<(PathBuf, RawValues)>,
    /// Environment values: key → (variable, value).
    pub env: BTreeMap<&'static str, (String, String)>,
    /// Flag values by key.
    pub flags: RawValues,
}

impl Layers {
    /// Merges the layers (flags > env > file > defaults) and validates every value.
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        let mut chosen: BTreeMap<&'static str, (String, Source)> = BTreeMap::new();
        for spec in SETTINGS {
            let value = if let Some(value) = self.flags.get(spec.key) {
                (value.clone(), Source::Flag(spec.flag.to_owned()))
            } else if let Some((var, value)) = self.env.get(spec.key) {
                (value.clone(), Source::Env(var.clone()))
            } else if let Some(value) = self
                .file
                .as_ref()
                .and_then(|(path, raw)| raw.get(spec.key).map(|v| (path, v)))
            {
                (value.1.clone(), Source::File(value.0.clone()))
            } else {
                (spec.default.to_owned(), Source::Default)
            };
            chosen.insert(spec.key, value);
        }
        let take = |key: &'static str| {
            chosen
                .get(key)
                .cloned()
                .unwrap_or_else(|| (String::new(), Source::Default))
        };
        let invalid = |key: &'static str, (value, origin): (String, Source), rule: String| {
            ConfigError::InvalidValue {
                key,
                value,
                origin,
                rule,
            }
        };

        let listen = take("listen");
        let listen_addr = listen.0.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "listen",
                listen.clone(),
                "expected IP:PORT, e.g. 127.0.0.1:50051".into(),
            )
        })?;

        let metrics = take("metrics_listen");
        let metrics_listen = if metrics.0.trim().is_empty() {
            None
        } else {
            Some(metrics.0.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "metrics_listen",
                    metrics.clone(),
                    "expected IP:PORT, e.g. 127.0.0.1:9090, or empty for no metrics".into(),
                )
            })?)
        };

        let data_dir = take("data_dir");
        let data_dir_path = if data_dir.1 == Source::Default {
            default_data_dir()
        } else if data_dir.0.trim().is_empty() {
            return Err(invalid("data_dir", data_dir, "must not be empty".into()));
        } else {
            PathBuf::from(&data_dir.0)
        };

        let store = store_settings(&take, &invalid)?;

        let log_format = take("log_format");
        let log_format_value = match log_format.0.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                return Err(invalid(
                    "log_format",
                    log_format,
                    "expected `text` or `json`".into(),
                ));
            }
        };

        let log_level = take("log_level");
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&log_level.0) {
            return Err(invalid(
                "log_level",
                log_level,
                format!("not a valid log filter: {err}"),
            ));
        }

        let grace_value = duration_setting(
            &take,
            &invalid,
            "shutdown_grace",
            Duration::ZERO..=Duration::from_hours(1),
            "like `500ms`, `10s` or `1m`, at most 1h",
        )?;

        let batch = take("max_batch_items");
        let batch_value = batch
            .0
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100_000).contains(n))
            .ok_or_else(|| {
                invalid(
                    "max_batch_items",
                    batch.clone(),
                    "expected a whole number from 1 to 100000".into(),
                )
            })?;

        let wait_value = duration_setting(
            &take,
            &invalid,
            "consistency_wait",
            Duration::ZERO..=Duration::from_mins(1),
            "like `100ms` or `5s`, at most 1m",
        )?;
        let every = take("checkpoint_every");
        let every_value = every
            .0
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=10_000_000).contains(n))
            .ok_or_else(|| {
                invalid(
                    "checkpoint_every",
                    every.clone(),
                    "expected a whole number from 1 to 10000000".into(),
                )
            })?;
        let age_value = duration_setting(
            &take,
            &invalid,
            "changelog_retention_age",
            Duration::ZERO..=Duration::from_hours(24 * 3650),
            "like `12h` or `7d`, at most 3650d",
        )?;
        let count = take("changelog_retention_count");
        let count_value = count.0.parse::<u64>().map_err(|_| {
            invalid(
                "changelog_retention_count",
                count.clone(),
                "expected a whole number".into(),
            )
        })?;
        let max_count = take("changelog_retention_max_count");
        let max_count_value = max_count
            .0
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= count_value.max(1))
            .ok_or_else(|| {
                invalid(
                    "changelog_retention_max_count",
                    max_count.clone(),
                    format!(
                        "expected a whole number of at least 1 and at least changelog_retention_count ({count_value})"
                    ),
                )
            })?;

        let buffer = take("watch_buffer");
        let watch_buffer = buffer
            .0
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| {
                invalid(
                    "watch_buffer",
                    buffer.clone(),
                    "expected a whole number from 1 to 1000000".into(),
                )
            })?;
        let watch_checkpoint_interval = duration_setting(
            &take,
            &invalid,
            "watch_checkpoint_interval",
            Duration::from_millis(10)..=Duration::from_hours(1),
            "like `500ms` or `5s`, from 10ms to 1h",
        )?;
        let audit_retention_age = duration_setting(
            &take,
            &invalid,
            "audit_retention_age",
            Duration::from_hours(1)..=Duration::from_hours(24 * 3650),
            "like `90d` or `365d`, from 1h to 3650d",
        )?;
        let threshold = take("lockout_threshold");
        let lockout_threshold = threshold
            .0
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                invalid(
                    "lockout_threshold",
                    threshold.clone(),
                    "expected a whole number from 1 to 100".into(),
                )
            })?;
        let lockout_duration = duration_setting(
            &take,
            &invalid,
            "lockout_duration",
            Duration::from_secs(1)..=Duration::from_hours(24 * 30),
            "like `15m` or `1h`, from 1s to 30d",
        )?;
        let callers = take("callers_file");
        let callers_file = Some(PathBuf::from(&callers.0)).filter(|_| !callers.0.trim().is_empty());
        let insecure = take("insecure_allow_unauthenticated");
        let insecure_allow_unauthenticated = match insecure.0.as_str() {
            "true" => true,
            "false" => false,
            _ => {
                return Err(invalid(
                    "insecure_allow_unauthenticated",
                    insecure,
                    "expected `true` or `false`".into(),
                ));
            }
        };
        let tls = tls_settings(&take, &invalid)?;
        let reload_interval = duration_setting(
            &take,
            &invalid,
            "reload_interval",
            Duration::from_millis(100)..=Duration::from_hours(1),
            "like `1s` or `30s`, from 100ms to 1h",
        )?;
        let max_request_bytes = whole_number(&take, &invalid, "max_request_bytes", 1024, 16 << 20)?;
        let max_concurrent_streams = u32::try_from(whole_number(
            &take,
            &invalid,
            "max_concurrent_streams",
            1,
            10_000,
        )?)
        .unwrap_or(u32::MAX);
        let max_connections = whole_number(&take, &invalid, "max_connections", 1, 100_000)?;
        let keepalive_interval = duration_setting(
            &take,
            &invalid,
            "keepalive_interval",
            Duration::from_secs(1)..=Duration::from_hours(1),
            "like `30s` or `1m`, from 1s to 1h",
        )?;
        let max_connection_age = duration_setting(
            &take,
            &invalid,
            "max_connection_age",
            Duration::from_secs(1)..=Duration::from_hours(24 * 7),
            "like `30m` or `1h`, from 1s to 7d",
        )?;

        Ok(Settings {
            audit_retention_age,
            lockout_threshold,
            lockout_duration,
            watch_buffer,
            watch_checkpoint_interval,
            callers_file,
            insecure_allow_unauthenticated,
            tls,
            reload_interval,
            max_request_bytes,
            max_concurrent_streams,
            max_connections,
            keepalive_interval,
            max_connection_age,
            listen: listen_addr,
            metrics_listen,
            data_dir: data_dir_path,
            store,
            log_format: log_format_value,
            log_level: log_level.0,
            shutdown_grace: grace_value,
            max_batch_items: batch_value,
            consistency_wait: wait_value,
            checkpoint_every: every_value,
            changelog_retention_age: age_value,
            changelog_retention_count: count_value,
            changelog_retention_max_count: max_count_value,
            sources: chosen.into_iter().map(|(k, (_, s))| (k, s)).collect(),
        })
    }
}

/// Reads a whole-number setting within `min..=max`.
fn whole_number(
    take: &impl Fn(&'static str) -> (String, Source),
    invalid: &impl Fn(&'static str, (String, Source), String) -> ConfigError,
    key: &'static str,
    min: usize,
    max: usize,
) -> Result<usize, ConfigError> {
    let value = take(key);
    value
        .0
        .parse::<usize>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            invalid(
                key,
                value.clone(),
                format!("expected a whole number from {min} to {max}"),
            )
        })
}

/// The TLS files: a certificate and a key together, or neither; a client CA only with them.
fn tls_settings(
    take: &impl Fn(&'static str) -> (String, Source),
    invalid: &impl Fn(&'static str, (String, Source), String) -> ConfigError,
) -> Result<Option<TlsSettings>, ConfigError> {
    let path = |value: &(String, Source)| {
        Some(PathBuf::from(&value.0)).filter(|_| !value.0.trim().is_empty())
    };
    let (cert, key, ca) = (
        take("tls_cert_file"),
        take("tls_key_file"),
        take("tls_client_ca_file"),
    );
    match (path(&cert), path(&key), path(&ca)) {
        (None, None, None) => Ok(None),
        (Some(cert_file), Some(key_file), client_ca_file) => Ok(Some(TlsSettings {
            cert_file,
            key_file,
            client_ca_file,
        })),
        (Some(_), None, _) => Err(invalid(
            "tls_key_file",
            take("tls_key_file"),
            "must be set when tls_cert_file is".into(),
        )),
        (None, Some(_), _) => Err(invalid(
            "tls_cert_file",
            cert,
            "must be set when tls_key_file is".into(),
        )),
        (None, None, Some(_)) => Err(invalid(
            "tls_client_ca_file",
            ca,
            "needs tls_cert_file and tls_key_file: client certificates are asked for only over TLS"
                .into(),
        )),
    }
}

/// The store settings: `redb`, or `postgres` with exactly one source of the URL. The URL
/// is never echoed in an error (it may hold a password).
fn store_settings(
    take: &impl Fn(&'static str) -> (String, Source),
    invalid: &impl Fn(&'static str, (String, Source), String) -> ConfigError,
) -> Result<StoreSettings, ConfigError> {
    let hidden = |(_, source): (String, Source)| ("(not shown)".to_owned(), source);
    let set = |value: &(String, Source)| !value.0.trim().is_empty();
    let (kind, url, url_file, ca_file) = (
        take("store"),
        take("database_url"),
        take("database_url_file"),
        take("database_ca_file"),
    );
    let poll_interval = duration_setting(
        take,
        invalid,
        "database_poll_interval",
        Duration::from_millis(10)..=Duration::from_mins(1),
        "like `200ms` or `1s`, from 10ms to 1m",
    )?;
    match kind.0.as_str() {
        "redb" => {
            for (key, value) in [
                ("database_url", url),
                ("database_url_file", url_file),
                ("database_ca_file", ca_file),
            ] {
                if set(&value) {
                    let shown = if key == "database_url" {
                        hidden(value)
                    } else {
                        value
                    };
                    return Err(invalid(
                        key,
                        shown,
                        "is for store = \"postgres\"; the store is redb".into(),
                    ));
                }
            }
            Ok(StoreSettings::Redb)
        }
        "postgres" => {
            let url = match (set(&url), set(&url_file)) {
                (true, true) => {
                    return Err(invalid(
                        "database_url",
                        hidden(url),
                        "give database_url or database_url_file, not both".into(),
                    ));
                }
                (false, false) => {
                    return Err(invalid(
                        "database_url",
                        url,
                        "store = \"postgres\" needs database_url or database_url_file".into(),
                    ));
                }
                (true, false) => {
                    if let Err(err) = crate::store::postgres::describe(&url.0) {
                        return Err(invalid("database_url", hidden(url), err.to_string()));
                    }
                    DatabaseUrl::Inline(url.0)
                }
                (false, true) => DatabaseUrl::File(PathBuf::from(url_file.0)),
            };
            Ok(StoreSettings::Postgres {
                url,
                ca_file: Some(PathBuf::from(&ca_file.0)).filter(|_| set(&ca_file)),
                poll_interval,
            })
        }
        _ => Err(invalid(
            "store",
            kind,
            "expected `redb` or `postgres`".into(),
        )),
    }
}

/// The default data directory: `$XDG_DATA_HOME/authzd`, else `~/.local/share/authzd`,
/// else `./authzd-data` when neither variable is set.
pub fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("authzd");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/authzd");
    }
    PathBuf::from("authzd-data")
}

impl Settings {
    /// Renders the effective configuration as TOML, each value annotated with its source.
    pub fn to_toml(&self) -> String {
        let path =
            |p: Option<&PathBuf>| quote(&p.map(|p| p.display().to_string()).unwrap_or_default());
        let tls = self.tls.as_ref();
        let (store, url, url_file, ca_file, poll) = match &self.store {
            StoreSettings::Redb => ("redb", None, None, None, Duration::from_secs(1)),
            StoreSettings::Postgres {
                url,
                ca_file,
                poll_interval,
            } => match url {
                DatabaseUrl::Inline(_) => (
                    "postgres",
                    Some("(set, not shown)"),
                    None,
                    ca_file.as_ref(),
                    *poll_interval,
                ),
                DatabaseUrl::File(file) => (
                    "postgres",
                    None,
                    Some(file),
                    ca_file.as_ref(),
                    *poll_interval,
                ),
            },
        };
        let values: [(&str, String); 33] = [
            ("listen", quote(&self.listen.to_string())),
            (
                "metrics_listen",
                quote(
                    &self
                        .metrics_listen
                        .map(|a| a.to_string())
                        .unwrap_or_default(),
                ),
            ),
            ("data_dir", quote(&self.data_dir.display().to_string())),
            ("store", quote(store)),
            ("database_url", quote(url.unwrap_or_default())),
            ("database_url_file", path(url_file)),
            ("database_ca_file", path(ca_file)),
            (
                "database_poll_interval",
                quote(&format!("{}ms", poll.as_millis())),
            ),
            ("log_format", quote(&self.log_format.to_string())),
            ("log_level", quote(&self.log_level)),
            (
                "shutdown_grace",
                quote(&format!("{}ms", self.shutdown_grace.as_millis())),
            ),
            ("max_batch_items", self.max_batch_items.to_string()),
            (
                "consistency_wait",
                quote(&format!("{}ms", self.consistency_wait.as_millis())),
            ),
            ("checkpoint_every", self.checkpoint_every.to_string()),
            (
                "changelog_retention_age",
                quote(&format!("{}s", self.changelog_retention_age.as_secs())),
            ),
            (
                "changelog_retention_count",
                self.changelog_retention_count.to_string(),
            ),
            (
                "changelog_retention_max_count",
                self.changelog_retention_max_count.to_string(),
            ),
            ("watch_buffer", self.watch_buffer.to_string()),
            (
                "audit_retention_age",
                quote(&format!("{}s", self.audit_retention_age.as_secs())),
            ),
            ("lockout_threshold", self.lockout_threshold.to_string()),
            (
                "lockout_duration",
                quote(&format!("{}s", self.lockout_duration.as_secs())),
            ),
            (
                "watch_checkpoint_interval",
                quote(&format!("{}ms", self.watch_checkpoint_interval.as_millis())),
            ),
            ("callers_file", path(self.callers_file.as_ref())),
            (
                "insecure_allow_unauthenticated",
                self.insecure_allow_unauthenticated.to_string(),
            ),
            ("tls_cert_file", path(tls.map(|t| &t.cert_file))),
            ("tls_key_file", path(tls.map(|t| &t.key_file))),
            (
                "tls_client_ca_file",
                path(tls.and_then(|t| t.client_ca_file.as_ref())),
            ),
            (
                "reload_interval",
                quote(&format!("{}ms", self.reload_interval.as_millis())),
            ),
            ("max_request_bytes", self.max_request_bytes.to_string()),
            (
                "max_concurrent_streams",
                self.max_concurrent_streams.to_string(),
            ),
            ("max_connections", self.max_connections.to_string()),
            (
                "keepalive_interval",
                quote(&format!("{}s", self.keepalive_interval.as_secs())),
            ),
            (
                "max_connection_age",
                quote(&format!("{}s", self.max_connection_age.as_secs())),
            ),
        ];
        let mut out =
            String::from("# effective authzd configuration; each value's source follows it\n");
        for (key, value) in values {
            let source = self
                .sources
                .get(key)
                .map_or_else(|| "default".to_owned(), ToString::to_string);
            let _ = writeln!(out, "{key} = {value}  # {source}");
        }
        out
    }
}

fn quote(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests;
