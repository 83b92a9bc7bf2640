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
    /// Classifies a redb error for the file at `path`.
    pub(crate) fn from_redb(path: PathBuf, err: impl Into<redb::Error>) -> Self {
        match err.into() {
            redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
                Self::Locked { path }
            }
            redb::Error::Io(source) => Self::Io { path, source },
            redb::Error::Corrupted(message) => Self::Corrupt { path, message },
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
