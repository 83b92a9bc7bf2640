//! The redb-backed store.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{StoreError, codec};
use crate::engine::{ChangeRecord, Snapshot, SnapshotBuilder};

/// Name of the database file inside the data directory.
pub const DB_FILE_NAME: &str = "authzd.redb";

/// The on-disk format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The change log: revision → encoded change record.
const CHANGES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("changes");

/// Store-wide facts: format version, current revision.
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
const META_FORMAT_VERSION: &str = "format_version";
const META_REVISION: &str = "revision";

/// The embedded redb database.
#[derive(Debug, Clone)]
pub struct RedbStore {
    // Arc: readers (export, serving) and the writer share one open file; redb allows
    // concurrent read transactions beside the single write transaction.
    db: Arc<Database>,
    path: PathBuf,
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
        let db = Database::create(&path).map_err(|err| StoreError::from_redb(path.clone(), err))?;
        let store = Self {
            db: Arc::new(db),
            path,
        };
        store.check_format()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn redb_error(&self, err: impl Into<redb::Error>) -> StoreError {
        StoreError::from_redb(self.path.clone(), err)
    }

    /// Records the format version in a new file; refuses a file of a newer version.
    fn check_format(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.redb_error(e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.redb_error(e))?;
            let found = meta
                .get(META_FORMAT_VERSION)
                .map_err(|e| self.redb_error(e))?
                .map(|v| v.value());
            match found {
                None => {
                    txn.open_table(CHANGES).map_err(|e| self.redb_error(e))?;
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
        let txn = self.db.begin_read().map_err(|e| self.redb_error(e))?;
        let meta = txn.open_table(META).map_err(|e| self.redb_error(e))?;
        let revision = meta
            .get(META_REVISION)
            .map_err(|e| self.redb_error(e))?
            .map_or(0, |v| v.value());
        Ok(revision)
    }
}

impl RedbStore {
    /// Appends encoded change records, ascending by revision, in one durable transaction:
    /// when this returns `Ok`, every record is on disk; on `Err`, none is.
    pub(crate) fn append_encoded(&self, records: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        let Some((last, _)) = records.last() else {
            return Ok(());
        };
        let txn = self.db.begin_write().map_err(|e| self.redb_error(e))?;
        {
            let mut changes = txn.open_table(CHANGES).map_err(|e| self.redb_error(e))?;
            for (revision, bytes) in records {
                changes
                    .insert(*revision, bytes.as_slice())
                    .map_err(|e| self.redb_error(e))?;
            }
            let mut meta = txn.open_table(META).map_err(|e| self.redb_error(e))?;
            meta.insert(META_REVISION, *last)
                .map_err(|e| self.redb_error(e))?;
        }
        txn.commit().map_err(|e| self.redb_error(e))
    }

    /// Up to `limit` encoded change records with revisions above `after`, ascending.
    pub(crate) fn encoded_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.redb_error(e))?;
        let changes = txn.open_table(CHANGES).map_err(|e| self.redb_error(e))?;
        let mut out = Vec::new();
        let range = changes
            .range(after.saturating_add(1)..)
            .map_err(|e| self.redb_error(e))?;
        for entry in range.take(limit) {
            let (revision, bytes) = entry.map_err(|e| self.redb_error(e))?;
            out.push((revision.value(), bytes.value().to_vec()));
        }
        Ok(out)
    }
}

/// How many change records one read transaction loads at start-up.
const LOAD_CHUNK: usize = 10_000;

impl RedbStore {
    /// Appends change records (ascending revisions) in one durable transaction: when this
    /// returns `Ok` every record is on disk; on `Err` none is.
    pub fn append(&self, records: &[ChangeRecord]) -> Result<(), StoreError> {
        let encoded = records
            .iter()
            .map(|record| {
                codec::encode(record)
                    .map(|bytes| (record.revision.get(), bytes))
                    .map_err(|err| StoreError::Storage {
                        path: self.path.clone(),
                        message: format!("cannot encode change {}: {err}", record.revision),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.append_encoded(&encoded)
    }

    /// Change records with revisions above `after`, ascending, at most `limit`.
    pub fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        self.encoded_after(after, limit)?
            .into_iter()
            .map(|(revision, bytes)| {
                codec::decode(&bytes).map_err(|err| StoreError::Corrupt {
                    path: self.path.clone(),
                    message: format!("change {revision}: {err}"),
                })
            })
            .collect()
    }

    /// Rebuilds the engine state by replaying the change log in order.
    pub fn load_snapshot(&self) -> Result<Snapshot, StoreError> {
        let mut builder = SnapshotBuilder::new();
        let mut after = 0;
        loop {
            let chunk = self.changes_after(after, LOAD_CHUNK)?;
            let Some(last) = chunk.last() else { break };
            after = last.revision.get();
            for record in &chunk {
                builder
                    .apply(record.revision, &record.mutation, record.committed_at)
                    .map_err(|err| StoreError::Corrupt {
                        path: self.path.clone(),
                        message: format!(
                            "stored change {} no longer applies: {err}",
                            record.revision
                        ),
                    })?;
            }
        }
        Ok(builder.finish())
    }
}
