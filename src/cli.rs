//! The `authzd` command line: `serve` runs the server, `config` prints the effective
//! configuration; the client commands (`status`, `user invite`, `check`, `watch`, …) are
//! in [`client`].

use std::{path::PathBuf, process::ExitCode};

use clap::{Arg, ArgMatches, Args, Command, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::{
    client,
    config::{self, ConfigError, Layers, RawValues, SETTINGS, Settings},
    server::{self, BoundServer, ServeError},
    store::{self, StoreError},
    telemetry,
};

/// Exit status for a bad command line or configuration.
pub const EXIT_USAGE: u8 = 2;
/// Exit status of `serve`, `export` and `import` when the store cannot be opened (locked,
/// unreadable, corrupt, too new). No client command opens a store, so among them 3 means
/// only [`EXIT_DENIED`].
pub const EXIT_STORE: u8 = 3;
/// Exit status of `authzd check` when the decision is a denial (an allow exits 0). No
/// other client command and no other failure of `check` exits 3.
pub const EXIT_DENIED: u8 = 3;
/// Exit status for any other failure.
pub const EXIT_FAILURE: u8 = 1;

/// authzd: authorization for multi-tenant `SaaS` administration, over gRPC.
#[derive(Debug, Parser)]
#[command(name = "authzd", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run the gRPC server.
    ///
    /// Settings come from flags, then AUTHZD_* environment variables, then the --config
    /// file, then defaults. Exit status: 0 after a clean shutdown, 2 for a bad setting,
    /// 3 when the database cannot be opened (e.g. another process holds it), 1 otherwise.
    Serve(SettingsArgs),
    /// Print the effective configuration (as TOML, each value with its source) and exit.
    Config(SettingsArgs),
    /// Write the state of a data directory, at one revision, to a file (safe while the
    /// server runs: it reads beside it).
    Export {
        /// The file to write (replaced atomically when complete).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The data directory to read [default: as for `serve`].
        #[arg(long, value_name = "DIR", env = "AUTHZD_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Read the PostgreSQL store instead (a consistent revision while replicas write).
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Load an export file into an empty data directory (the server must not run on it), or
    /// into an empty PostgreSQL database: the way to move between stores.
    Import {
        /// The export file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The data directory to create [default: as for `serve`].
        #[arg(long, value_name = "DIR", env = "AUTHZD_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Load into the PostgreSQL store instead (its schema is migrated first).
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Apply the PostgreSQL schema's pending migrations and exit (safe to run from several
    /// machines at once; a schema newer than this build is refused untouched).
    ///
    /// Exit status: 0 when the schema is up to date, 2 for a usage error (a malformed
    /// URL included), 3 when the database cannot be reached or refuses.
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Ask a running server for its health and version (a client call over gRPC).
    Status {
        /// The server's gRPC endpoint.
        #[arg(long, default_value = "http://127.0.0.1:50051", env = "AUTHZD_SERVER")]
        server: String,
        /// The caller's credentials (`GetServerInfo` needs any caller; health needs none).
        #[command(flatten)]
        credentials: client::CredentialArgs,
    },
    /// Stream changes from a running server as JSON lines, resuming after restarts (the
    /// reference sidecar of WatchService/Watch).
    ///
    /// Prints each change as one proto JSON line on stdout and keeps the last revision seen
    /// in --checkpoint-file. Reconnects with back-off on `UNAVAILABLE`,
    /// `RESOURCE_EXHAUSTED` or a lost connection, resuming after that revision. Exit
    /// status: 0 after SIGINT/SIGTERM or --exit-after-idle; 1 when the server refuses the
    /// stream for good (`OUT_OF_RANGE`: the resume point is older than the retained log;
    /// `INVALID_ARGUMENT`), printing its message; 2 for a usage error.
    Watch(client::WatchArgs),
    /// Write the audit trail (the user activity report) as JSON lines, one management call
    /// per line, oldest first (AuditService/ExportAuditEvents).
    ///
    /// A caller with the audit scope (--token-file) reads its tenants' records; a tenant's
    /// owner or a service administrator (--actor with --tenant) reads that tenant's. Exit status: 0
    /// when the export is complete; 1 when the server refuses or fails; 2 for a usage error.
    AuditExport(client::AuditExportArgs),
}

/// Where the PostgreSQL store is, for the commands that use it directly. (The fields are
/// named as their flags, which all start with `--database-`.)
#[derive(Debug, Clone, Default, clap::Args)]
#[expect(
    clippy::struct_field_names,
    reason = "the field names are the flags' names"
)]
pub struct DatabaseArgs {
    /// The database's connection string (`postgres://user:password@host:port/db`).
    /// Prefer --database-url-file: a flag shows in process lists.
    #[arg(
        long,
        value_name = "URL",
        env = "AUTHZD_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// A file holding the connection string (a trailing newline is ignored).
    #[arg(
        long,
        value_name = "FILE",
        env = "AUTHZD_DATABASE_URL_FILE",
        conflicts_with = "database_url"
    )]
    database_url_file: Option<PathBuf>,
    /// PEM file of the CA certificates that sign the database server's certificate
    /// (default: the system's roots). TLS is used as the URL's `sslmode` says:
    /// `require`, `prefer` (the default: when the server offers it) or `disable`.
    #[arg(long, value_name = "FILE", env = "AUTHZD_DATABASE_CA_FILE")]
    database_ca_file: Option<PathBuf>,
}

impl DatabaseArgs {
    /// The connection string given (read from its file), `Ok(None)` when none is; the exit
    /// status after saying why when the file cannot be read.
    fn url(&self) -> Result<Option<String>, ExitCode> {
        match (&self.database_url, &self.database_url_file) {
            (Some(url), _) => Ok(Some(url.clone())),
            (None, Some(file)) => match store::postgres::read_url_file(file) {
                Ok(url) => Ok(Some(url)),
                Err(err) => {
                    eprintln!(
                        "authzd: cannot read --database-url-file `{}`: {err}",
                        file.display()
                    );
                    Err(ExitCode::from(EXIT_USAGE))
                }
            },
            (None, None) => Ok(None),
        }
    }

    fn tls(&self) -> store::postgres::DatabaseTls {
        store::postgres::DatabaseTls {
            ca_file: self.database_ca_file.clone(),
        }
    }

    /// Opens the PostgreSQL store (migrating its schema) and runs `work` on it; the exit
    /// status of a database that cannot be used.
    fn with_database(
        &self,
        url: &str,
        work: impl FnOnce(&store::postgres::SharedDatabase) -> ExitCode,
    ) -> ExitCode {
        match store::postgres::SharedDatabase::open(url, &self.tls()) {
            Ok(database) => work(&database),
            Err(err) => database_failed(&err),
        }
    }
}

/// The exit status (after saying why) of a database that cannot be used: 2 for what the
/// user gave (a malformed URL, an unusable CA file), 3 for the database itself.
fn database_failed(err: &store::postgres::DatabaseError) -> ExitCode {
    eprintln!("authzd: {err}");
    match err {
        store::postgres::DatabaseError::BadUrl(_) | store::postgres::DatabaseError::Tls(_) => {
            ExitCode::from(EXIT_USAGE)
        }
        _ => ExitCode::from(EXIT_STORE),
    }
}

/// The configuration flags shared by `serve` and `config`, one per setting of
/// [`config::SETTINGS`], plus `--config`.
#[derive(Debug, Clone, Default)]
pub struct SettingsArgs {
    config: Option<PathBuf>,
    flags: RawValues,
}

impl SettingsArgs {
    /// Reads the file and the environment and merges them with the flags.
    fn resolve(&self) -> Result<Settings, ConfigError> {
        let file = match &self.config {
            Some(path) => Some((path.clone(), config::read_file(path)?)),
            None => None,
        };
        Layers {
            file,
            env: config::read_env(std::env::vars())?,
            flags: self.flags.clone(),
        }
        .resolve()
    }
}

impl FromArgMatches for SettingsArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = Self::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        if let Some(path) = matches.get_one::<PathBuf>("config") {
            self.config = Some(path.clone());
        }
        for spec in SETTINGS {
            if let Some(value) = matches.get_one::<String>(spec.key) {
                self.flags.insert(spec.key, value.clone());
            }
        }
        Ok(())
    }
}

impl Args for SettingsArgs {
    fn augment_args(cmd: Command) -> Command {
        let cmd = cmd.arg(
            Arg::new("config")
                .long("config")
                .value_name("PATH")
                .env("AUTHZD_CONFIG")
                .value_parser(clap::value_parser!(PathBuf))
                .help("TOML file with settings (keys as in `authzd config`; unknown keys are an error)"),
        );
        SETTINGS.iter().fold(cmd, |cmd, spec| {
            let default = if spec.default.is_empty() {
                String::new()
            } else {
                format!(" [default: {}]", spec.default)
            };
            let arg = Arg::new(spec.key).long(spec.flag).value_name("VALUE");
            // An on/off switch reads naturally without a value: `--insecure-allow-…`.
            let arg = if spec.default == "false" {
                arg.num_args(0..=1).default_missing_value("true")
            } else {
                arg
            };
            cmd.arg(arg.help(format!(
                "{}{default} [env: {}] [file key: {}]",
                spec.help, spec.env, spec.key
            )))
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// Runs the command line and returns the process exit status.
pub fn main() -> ExitCode {
    // The client commands are built at run time from their table and the descriptor set;
    // the rest of the tree is derived from `Cli`.
    let client = match client::Client::load() {
        Ok(client) => client,
        Err(err) => {
            eprintln!("authzd: internal: {err}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let matches = match client.augment(Cli::command()).try_get_matches() {
        Ok(matches) => matches,
        Err(err) => return clap_exit(&err),
    };
    if let Some(code) = client.run(&matches) {
        return code;
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => return clap_exit(&err),
    };
    match cli.command {
        Commands::Config(args) => match args.resolve() {
            Ok(settings) => {
                print!("{}", settings.to_toml());
                ExitCode::SUCCESS
            }
            Err(err) => usage_error(&err),
        },
        Commands::Serve(args) => match args.resolve() {
            Ok(settings) => serve(settings),
            Err(err) => usage_error(&err),
        },
        Commands::Status {
            server,
            credentials,
        } => client::status(&server, &credentials),
        Commands::Watch(args) => client::watch(&args),
        Commands::AuditExport(args) => client::audit_export(&args),
        Commands::Migrate { database } => migrate(&database),
        Commands::Export {
            out,
            data_dir,
            database,
        } => match database.url() {
            Err(exit) => exit,
            Ok(Some(url)) => database.with_database(&url, |db| {
                report(
                    store::export_postgres(db, &out),
                    &format!("exported {} to {}", db.location(), out.display()),
                )
            }),
            Ok(None) => {
                let data_dir = data_dir.unwrap_or_else(config::default_data_dir);
                report(
                    store::export_database(&data_dir, &out),
                    &format!("exported {} to {}", data_dir.display(), out.display()),
                )
            }
        },
        Commands::Import {
            file,
            data_dir,
            database,
        } => match database.url() {
            Err(exit) => exit,
            Ok(Some(url)) => database.with_database(&url, |db| {
                report(
                    store::import_into_postgres(&file, db),
                    &format!("imported {} into {}", file.display(), db.location()),
                )
            }),
            Ok(None) => {
                let data_dir = data_dir.unwrap_or_else(config::default_data_dir);
                report(
                    store::import_into(&file, &data_dir),
                    &format!("imported {} into {}", file.display(), data_dir.display()),
                )
            }
        },
    }
}

/// Prints what clap has to say (help and the version on stdout, a usage error on stderr)
/// and returns its exit status (0, or 2 for a usage error): as `clap::Error::exit` does,
/// but returned up to `main` instead of ending the process here.
fn clap_exit(err: &clap::Error) -> ExitCode {
    // Nothing is left to tell if even the message cannot be written.
    let _ = err.print();
    u8::try_from(err.exit_code()).map_or(ExitCode::from(EXIT_USAGE), ExitCode::from)
}

fn report(result: Result<store::ExportSummary, StoreError>, done: &str) -> ExitCode {
    match result {
        Ok(summary) => {
            println!(
                "{done}: revision {}, {} bytes",
                summary.revision, summary.bytes
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("authzd: {err}");
            ExitCode::from(EXIT_STORE)
        }
    }
}

/// `authzd migrate`: connects with the URL given (or read from its file) and applies the
/// pending migrations.
fn migrate(database: &DatabaseArgs) -> ExitCode {
    let url = match database.url() {
        Ok(Some(url)) => url,
        Ok(None) => {
            eprintln!("authzd: migrate needs --database-url or --database-url-file");
            return ExitCode::from(EXIT_USAGE);
        }
        Err(exit) => return exit,
    };
    let tls = &database.tls();
    let Some(runtime) = client::one_thread_runtime() else {
        return ExitCode::from(EXIT_FAILURE);
    };
    let migrated = runtime.block_on(async {
        let mut client = store::postgres::connect(&url, tls).await?;
        store::postgres::migrate(&mut client).await
    });
    match migrated {
        Ok(migrated) if migrated.applied.is_empty() => {
            println!("schema up to date at version {}", migrated.version);
            ExitCode::SUCCESS
        }
        Ok(migrated) => {
            let applied: Vec<String> = migrated.applied.iter().map(ToString::to_string).collect();
            println!(
                "schema migrated to version {} (applied {})",
                migrated.version,
                applied.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(err) => database_failed(&err),
    }
}

fn usage_error(err: &ConfigError) -> ExitCode {
    eprintln!("authzd: {err}");
    ExitCode::from(EXIT_USAGE)
}

fn serve(settings: Settings) -> ExitCode {
    let traces = match telemetry::TraceExport::from_env() {
        Ok(traces) => traces,
        Err(err) => {
            eprintln!("authzd: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match server::runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("authzd: cannot start the async runtime: {err}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    // The exporter's connection is made on this runtime.
    let telemetry = {
        let _entered = runtime.enter();
        telemetry::init(settings.log_format, &settings.log_level, traces.as_ref())
    };
    let telemetry = match telemetry {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("authzd: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let code = serve_on(&runtime, settings);
    // After the drain, with the runtime still running the exporter's connection.
    telemetry.shutdown();
    code
}

fn serve_on(runtime: &tokio::runtime::Runtime, settings: Settings) -> ExitCode {
    let result = runtime.block_on(async {
        let shutdown = server::shutdown_signal().map_err(|err| {
            tracing::error!(%err, "cannot install signal handlers");
        });
        let Ok(shutdown) = shutdown else {
            return Err(None);
        };
        if let Err(err) = server::survive_file_size_limit() {
            tracing::warn!(%err, "cannot handle SIGXFSZ; a file-size limit would end the process");
        }
        let bound = BoundServer::bind(settings).await.map_err(Some)?;
        bound.serve(shutdown).await.map_err(Some)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(None) => ExitCode::from(EXIT_FAILURE),
        Err(Some(err)) => {
            tracing::error!("{err}");
            eprintln!("authzd: {err}");
            match err {
                // A malformed database URL, an unusable CA file or an unreadable URL file.
                ServeError::Store(StoreError::Database(
                    store::postgres::DatabaseError::BadUrl(_)
                    | store::postgres::DatabaseError::Tls(_),
                ))
                | ServeError::DatabaseUrlFile { .. } => ExitCode::from(EXIT_USAGE),
                ServeError::Store(
                    StoreError::Locked { .. }
                    | StoreError::Io { .. }
                    | StoreError::Corrupt { .. }
                    | StoreError::UnsupportedFormat { .. }
                    | StoreError::Storage { .. }
                    | StoreError::Database(_),
                ) => ExitCode::from(EXIT_STORE),
                // Settings that name unusable files, or an unprotected address.
                ServeError::Auth(_) | ServeError::Tls(_) | ServeError::Unauthenticated { .. } => {
                    ExitCode::from(EXIT_USAGE)
                }
                _ => ExitCode::from(EXIT_FAILURE),
            }
        }
    }
}
