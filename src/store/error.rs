//! Store errors: what went wrong with the database, in terms an operator can act on.

use std::path::PathBuf;

/// Why the store cannot be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the database file open.
    #[error(
        "database `{path}` is in use by another process (its file lock is held); stop that process or use another --data-dir"
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The operating system refused an operation on the data directory or file.
    #[error("cannot use `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is damaged or is not an authzd database.
    #[error("database `{path}` is corrupt or not an authzd database: {message}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What the check found.
        message: String,
    },
    /// The file was written by a newer authzd (or is of a format this build does not know).
    #[error(
        "database `{path}` has format version {found}; this authzd reads versions up to {supported}"
    )]
    UnsupportedFormat {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: u64,
        /// The newest version this build reads.
        supported: u64,
    },
    /// An earlier write failed and left the open database unusable: redb refuses every
    /// call until the file is closed and opened again (the writer does so when it recovers).
    #[error("database `{path}` failed an earlier write and must be reopened")]
    NeedsReopen {
        /// The database file.
        path: PathBuf,
    },
    /// The database is closed while the writer reopens it after a failed write.
    #[error("database `{path}` is being reopened after a failed write")]
    Reopening {
        /// The database file.
        path: PathBuf,
    },
    /// The file at the database's path is no longer the file this store opened: whatever
    /// is written now would not be found at the next start.
    #[error(
        "database `{path}` {loss} while the server had it open; writes are refused until the server restarts (see docs/durability.md)"
    )]
    FileLost {
        /// The database file.
        path: PathBuf,
        /// What became of it.
        loss: super::FileLoss,
    },
    /// Reopened after a failed write, the file holds fewer changes than this server
    /// acknowledged: it is not the file those changes were written to.
    #[error(
        "database `{path}` holds revision {found} but this server acknowledged revision {acknowledged}: acknowledged changes are missing from it"
    )]
    Behind {
        /// The database file.
        path: PathBuf,
        /// The revision the file holds.
        found: u64,
        /// The newest revision the server acknowledged.
        acknowledged: u64,
    },
    /// The PostgreSQL store failed: unreachable, a statement refused, a value unreadable.
    #[error(transparent)]
    Database(#[from] super::postgres::DatabaseError),
    /// Any other storage failure.
    #[error("storage failure on `{path}`: {message}")]
    Storage {
        /// The database file.
        path: PathBuf,
        /// The storage engine's message.
        message: String,
    },
}

impl StoreError {
    /// Whether the file at the database's path is not (or no longer) the one the server
    /// wrote: a state the server cannot recover from by itself.
    pub fn is_file_lost(&self) -> bool {
        matches!(self, Self::FileLost { .. } | Self::Behind { .. })
    }

    /// Classifies a redb error for the file at `path`.
    pub(crate) fn from_redb(path: PathBuf, err: impl Into<redb::Error>) -> Self {
        match err.into() {
            redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
                Self::Locked { path }
            }
            redb::Error::Io(source) => Self::Io { path, source },
            redb::Error::Corrupted(message) => Self::Corrupt { path, message },
            redb::Error::PreviousIo | redb::Error::DatabaseClosed => Self::NeedsReopen { path },
            redb::Error::UpgradeRequired(version) => Self::UnsupportedFormat {
                path,
                found: u64::from(version),
                supported: u64::from(super::FORMAT_VERSION),
            },
            other => Self::Storage {
                path,
                message: other.to_string(),
            },
        }
    }
}
