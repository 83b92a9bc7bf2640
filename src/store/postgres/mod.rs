//! The PostgreSQL store's database: connecting, and the versioned schema migrations that
//! `authzd migrate` applies (and, once replicas serve from PostgreSQL, every start).
//!
//! The tables mirror redb's (`migrations/0001_initial.sql`): the change log by revision,
//! checkpoints, request ids, the audit trail and counters, each value in the same
//! versioned encoding as on disk (`store/codec.rs`).
//!
//! Invariants:
//! - Migrations are applied in version order, all pending ones in one transaction, under
//!   a transaction-scoped advisory lock: replicas starting together apply each migration
//!   exactly once, and a failed migration leaves the schema as it was.
//! - A database whose schema is newer than this build knows is refused, never written.
//! - Errors never carry the connection URL (it may hold a password): only its host, port
//!   and database.

use std::fmt::Write as _;

use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

mod shared;
mod store;

pub use shared::{Role, STATE_TIMEOUT, SharedDatabase};
pub use store::PgStore;

/// One schema migration: applied once, in version order.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// Every migration this build knows, oldest first; a new one is appended, never edited.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "checkpoint parts",
        sql: include_str!("migrations/0002_checkpoint_parts.sql"),
    },
];

/// The advisory lock key that serialises migrators (`authzd` in ASCII, then 1).
const MIGRATION_LOCK: i64 = 0x0061_7574_687a_6401;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i32 = 2;

/// What went wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The URL is not a PostgreSQL connection string.
    #[error("the database URL is not a PostgreSQL connection string: {0}")]
    BadUrl(String),
    /// The TLS settings cannot be used (an unreadable or malformed CA file).
    #[error("TLS to the database cannot be set up: {0}")]
    Tls(String),
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to the database at {target}: {message}")]
    Unreachable {
        /// Host, port and database (never the password).
        target: String,
        /// The driver's description.
        message: String,
    },
    /// A statement failed.
    #[error("the database refused `{what}`: {message}")]
    Statement {
        /// What was being done.
        what: &'static str,
        /// The server's or driver's description.
        message: String,
    },
    /// A stored value does not decode, or the stored log is not whole.
    #[error("the database holds a value authzd cannot read: {message}")]
    Corrupt {
        /// What and why.
        message: String,
    },
    /// A group was to be appended after a revision other than the newest stored one: the
    /// appending replica is behind (another one committed since it last read the log).
    #[error(
        "the change log's newest revision is {newest}; a group starting at revision {first} cannot follow it"
    )]
    Behind {
        /// The newest stored revision.
        newest: u64,
        /// The first revision of the refused group.
        first: u64,
    },
    /// An import was asked into a database that already holds state.
    #[error("the database already holds state (revision {revision}); import needs an empty one")]
    NotEmpty {
        /// The newest revision it holds.
        revision: u64,
    },
    /// The schema was migrated by a newer authzd.
    #[error(
        "the database's schema is version {found}; this authzd knows versions up to {supported}: run a newer authzd"
    )]
    SchemaTooNew {
        /// The version recorded in the database.
        found: i32,
        /// The newest version this build knows.
        supported: i32,
    },
}

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The versions applied now (empty: the schema was up to date).
    pub applied: Vec<i32>,
    /// The schema version after it.
    pub version: i32,
}

/// How the connection to the database is secured. The URL's `sslmode` decides whether TLS
/// is used (`require`; `prefer`, the default, when the server offers it; `disable`); the
/// server's certificate is then always verified, against these CA certificates or the
/// system's roots, and the host name against it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseTls {
    /// A PEM file of the CA certificates to trust instead of the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
}

/// A connection to the database, to be driven by a task of its own.
type Connection = tokio_postgres::Connection<
    tokio_postgres::Socket,
    <MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>>::Stream,
>;

/// Opens a connection to the database at `url`: the client, the connection to drive, and
/// the database's host, port and name for messages.
async fn open(url: &str, tls: &DatabaseTls) -> Result<(Client, Connection, String), DatabaseError> {
    let config: Config = url
        .parse()
        .map_err(|err: tokio_postgres::Error| DatabaseError::BadUrl(err.to_string()))?;
    let target = target(&config);
    let client_config = crate::tls::client_config(tls.ca_file.as_deref())
        .map_err(|err| DatabaseError::Tls(err.to_string()))?;
    let (client, connection) = config
        .connect(MakeRustlsConnect::new(client_config))
        .await
        .map_err(|err| DatabaseError::Unreachable {
            target: target.clone(),
            message: cause(&err),
        })?;
    Ok((client, connection, target))
}

/// Connects to the database at `url` and drives the connection on the current tokio
/// runtime until the client is dropped.
pub async fn connect(url: &str, tls: &DatabaseTls) -> Result<Client, DatabaseError> {
    let (client, connection, target) = open(url, tls).await?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(database = %target, error = %cause(&err), "database connection ended");
        }
    });
    Ok(client)
}

/// The connection string in the file at `path` (a mounted secret): its text without the
/// trailing line break.
pub fn read_url_file(path: &std::path::Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// Host, port and database of the connection string `url`, for messages.
pub fn describe(url: &str) -> Result<String, DatabaseError> {
    let config: Config = url
        .parse()
        .map_err(|err: tokio_postgres::Error| DatabaseError::BadUrl(err.to_string()))?;
    Ok(target(&config))
}

/// Connects to the database at `url` and listens on `channel`: the receiver yields the
/// revision each notification carries (`None` for a payload that is not one) and ends
/// when the connection does. The client must be kept: dropping it ends the connection.
pub(super) async fn listen(
    url: &str,
    tls: &DatabaseTls,
    channel: &str,
) -> Result<(Client, tokio::sync::mpsc::UnboundedReceiver<Option<u64>>), DatabaseError> {
    let (client, mut connection, target) = open(url, tls).await?;
    let (notify, notifications) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Notifications arrive as messages of the connection itself, read as it is driven.
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(note)) => {
                    if notify.send(note.payload().parse().ok()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(database = %target, error = %cause(&err), "listening connection ended");
                    return;
                }
            }
        }
    });
    // The channel name is ours, a constant: quoted as an identifier all the same.
    client
        .batch_execute(&format!("LISTEN \"{}\"", channel.replace('"', "\"\"")))
        .await
        .map_err(failed("listen for commits"))?;
    Ok((client, notifications))
}

/// Applies every migration the database lacks, in one transaction, and answers with what
/// it applied. Safe to run from several processes at once.
pub async fn migrate(client: &mut Client) -> Result<Migrated, DatabaseError> {
    let transaction = locked_transaction(client, MIGRATION_LOCK).await?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS authzd_schema_migrations (
                version    INTEGER PRIMARY KEY,
                name       TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(failed("create the migrations table"))?;
    let current: i32 = transaction
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM authzd_schema_migrations",
            &[],
        )
        .await
        .map_err(failed("read the schema version"))?
        .get(0);
    if current > SCHEMA_VERSION {
        return Err(DatabaseError::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        transaction
            .batch_execute(migration.sql)
            .await
            .map_err(failed("apply a migration"))?;
        transaction
            .execute(
                "INSERT INTO authzd_schema_migrations (version, name) VALUES ($1, $2)",
                &[&migration.version, &migration.name],
            )
            .await
            .map_err(failed("record a migration"))?;
        applied.push(migration.version);
    }
    transaction
        .commit()
        .await
        .map_err(failed("commit the migrations"))?;
    Ok(Migrated {
        applied,
        version: SCHEMA_VERSION.max(current),
    })
}

/// A transaction holding the advisory lock `key` until it ends (commit, rollback or a lost
/// connection), so that whoever else takes the same lock waits for it.
pub(super) async fn locked_transaction(
    client: &mut Client,
    key: i64,
) -> Result<tokio_postgres::Transaction<'_>, DatabaseError> {
    let transaction = client
        .transaction()
        .await
        .map_err(failed("begin a transaction"))?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&key])
        .await
        .map_err(failed("take an advisory lock"))?;
    Ok(transaction)
}

/// The error of a statement doing `what`.
pub(super) fn failed(what: &'static str) -> impl Fn(tokio_postgres::Error) -> DatabaseError {
    move |err| DatabaseError::Statement {
        what,
        message: cause(&err),
    }
}

/// `host:port/database` of a connection string, for messages.
fn target(config: &Config) -> String {
    let mut target = String::new();
    for (n, host) in config.get_hosts().iter().enumerate() {
        if n > 0 {
            target.push(',');
        }
        match host {
            tokio_postgres::config::Host::Tcp(name) => target.push_str(name),
            tokio_postgres::config::Host::Unix(path) => {
                let _ = write!(target, "{}", path.display());
            }
        }
        if let Some(port) = config.get_ports().get(n).or(config.get_ports().first()) {
            let _ = write!(target, ":{port}");
        }
    }
    if let Some(database) = config.get_dbname() {
        let _ = write!(target, "/{database}");
    }
    target
}

/// The driver's error with its source (the server's message, or the I/O error).
fn cause(err: &tokio_postgres::Error) -> String {
    use std::error::Error as _;
    match err.source() {
        Some(source) => format!("{err}: {source}"),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_up_to_the_schema_version() {
        for (n, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, i32::try_from(n + 1).unwrap());
            assert!(!migration.sql.trim().is_empty());
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }

    #[test]
    fn messages_name_the_server_never_the_password() {
        let config: Config = "postgres://authzd:s3cret@db.example:5433/authz"
            .parse()
            .unwrap();
        assert_eq!(target(&config), "db.example:5433/authz");
        let bad = "postgres://authzd:s3cret@db.example:notaport/authz"
            .parse::<Config>()
            .map_err(|err| DatabaseError::BadUrl(err.to_string()))
            .unwrap_err();
        assert!(!bad.to_string().contains("s3cret"), "{bad}");
    }
}
