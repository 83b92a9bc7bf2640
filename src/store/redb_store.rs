//! The redb-backed store.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use arc_swap::ArcSwapOption;
use redb::{
    Builder, ConcurrencyMode, Database, ReadTransaction, ReadableDatabase, ReadableTable,
    TableDefinition, WriteTransaction,
};

use super::{StoreError, file_identity::FileIdentity};

/// Name of the database file inside the data directory.
pub const DB_FILE_NAME: &str = "authzd.redb";

/// The on-disk format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The change log: revision → encoded [`crate::engine::ChangeRecord`].
pub(super) const CHANGES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("changes");

/// The newest checkpoint: revision → the encoded engine snapshot at that revision, or the
/// note that it is stored in `checkpoint_parts`.
pub(super) const CHECKPOINTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("checkpoints");

/// The parts of checkpoints written a part at a time: (revision, part number) → that
/// slice of the encoded snapshot. `checkpoints` names the revision and the number of parts
/// once every part is stored (see `checkpoint.rs`).
pub(super) const CHECKPOINT_PARTS: TableDefinition<'_, (u64, u32), &[u8]> =
    TableDefinition::new("checkpoint_parts");

/// Request ids of committed changes: request id → the revision of the change its first
/// use made. Written in the same transaction as the change; pruned with the change log.
pub(super) const REQUESTS: TableDefinition<'_, &str, u64> = TableDefinition::new("requests");

/// The audit trail: sequence number → encoded [`super::AuditRecord`].
pub(super) const AUDIT: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("audit");

/// Store-wide facts: format version, current revision.
pub(super) const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
pub(super) const META_FORMAT_VERSION: &str = "format_version";
pub(super) const META_REVISION: &str = "revision";

/// redb's page cache. Its default, 1 GiB, kept every page a start or a checkpoint had read
/// or written: at start, the newest checkpoint's parts, some 40 MiB more resident memory
/// at 350 K grants+memberships. The writer reads few pages (the newest of the change log,
/// request ids, audit trail), and reads of the log beyond those are rare (a Watch resuming
/// from long ago), so a small cache costs little.
const CACHE_BYTES: usize = 16 << 20;

/// How processes share the file: this one writes; `authzd export` may read beside it.
const CONCURRENCY: ConcurrencyMode = ConcurrencyMode::SingleWriter;

/// The embedded redb database.
#[derive(Debug, Clone)]
pub struct RedbStore {
    // Arc: readers (export, serving), the checkpointer and the writer share one open file
    // (redb allows concurrent read transactions beside the single write transaction), and
    // every clone sees the database the writer reopens after a failed write
    // (`recovery.rs`). ArcSwapOption: each transaction takes the current database without a
    // lock; empty only while it is being reopened.
    pub(super) db: Arc<ArcSwapOption<Database>>,
    pub(super) path: PathBuf,
    /// The file this store opened: the periodic check and every commit compare the file at
    /// `path` with it, since writes to a deleted or replaced file would be lost.
    pub(super) identity: FileIdentity,
}

impl RedbStore {
    /// Opens (creating if missing) the database in `data_dir`, checking its format version.
    ///
    /// This is blocking file I/O: async callers run it under `spawn_blocking`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DB_FILE_NAME);
        let db = Builder::new()
            .set_concurrency_mode(CONCURRENCY)
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|err| StoreError::from_redb(path.clone(), err))?;
        let identity = FileIdentity::of(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let store = Self {
            db: Arc::new(ArcSwapOption::from_pointee(db)),
            path,
            identity,
        };
        store.check_format()?;
        Ok(store)
    }

    /// Opens the existing file at `path` again (never creating one), as [`Self::recover`]
    /// does after a failed write.
    pub(super) fn open_existing(path: &Path) -> Result<Database, StoreError> {
        Builder::new()
            .set_concurrency_mode(CONCURRENCY)
            .set_cache_size(CACHE_BYTES)
            .open(path)
            .map_err(|err| StoreError::from_redb(path.to_path_buf(), err))
    }

    /// The open database, or an error while it is being reopened.
    fn database(&self) -> Result<Arc<Database>, StoreError> {
        self.db.load_full().ok_or_else(|| StoreError::Reopening {
            path: self.path.clone(),
        })
    }

    /// Begins a write transaction on the open database.
    pub(super) fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        self.database()?
            .begin_write()
            .map_err(|e| self.redb_error(e))
    }

    /// Begins a read transaction on the open database.
    pub(super) fn begin_read(&self) -> Result<ReadTransaction, StoreError> {
        self.database()?
            .begin_read()
            .map_err(|e| self.redb_error(e))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn redb_error(&self, err: impl Into<redb::Error>) -> StoreError {
        StoreError::from_redb(self.path.clone(), err)
    }

    /// Records the format version in a new file; refuses a file of a newer version.
    pub(super) fn check_format(&self) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.redb_error(e))?;
            let found = meta
                .get(META_FORMAT_VERSION)
                .map_err(|e| self.redb_error(e))?
                .map(|v| v.value());
            // Opening in a write transaction creates a missing table: a database written
            // before the request-id table existed gains it here.
            txn.open_table(CHANGES).map_err(|e| self.redb_error(e))?;
            txn.open_table(CHECKPOINTS)
                .map_err(|e| self.redb_error(e))?;
            txn.open_table(CHECKPOINT_PARTS)
                .map_err(|e| self.redb_error(e))?;
            txn.open_table(REQUESTS).map_err(|e| self.redb_error(e))?;
            txn.open_table(AUDIT).map_err(|e| self.redb_error(e))?;
            match found {
                None => {
                    meta.insert(META_FORMAT_VERSION, u64::from(FORMAT_VERSION))
                        .map_err(|e| self.redb_error(e))?;
                    meta.insert(META_REVISION, 0)
                        .map_err(|e| self.redb_error(e))?;
                }
                Some(found) if found == u64::from(FORMAT_VERSION) => {}
                Some(found) => {
                    return Err(StoreError::UnsupportedFormat {
                        path: self.path.clone(),
                        found,
                        supported: u64::from(FORMAT_VERSION),
                    });
                }
            }
        }
        txn.commit().map_err(|e| self.redb_error(e))
    }

    /// The revision of the newest committed change (0 for a new database).
    pub fn revision(&self) -> Result<u64, StoreError> {
        let txn = self.begin_read()?;
        let meta = txn.open_table(META).map_err(|e| self.redb_error(e))?;
        let revision = meta
            .get(META_REVISION)
            .map_err(|e| self.redb_error(e))?
            .map_or(0, |v| v.value());
        Ok(revision)
    }
}

/// Opens an existing database file for reading only, beside a running server.
pub(super) fn open_read_only(path: &Path) -> Result<redb::ReadOnlyDatabase, StoreError> {
    Builder::new()
        .set_concurrency_mode(CONCURRENCY)
        .open_read_only(path)
        .map_err(|err| StoreError::from_redb(path.to_path_buf(), err))
}
