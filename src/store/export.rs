//! Backup and restore, and moving between stores: `authzd export` writes the state at one
//! revision to a file while the server (or the replicas) keep serving, from either store;
//! `authzd import` loads such a file into an empty data directory or an empty PostgreSQL
//! database.
//!
//! File format: the 8 bytes [`EXPORT_MAGIC`], then the engine snapshot in the store's
//! versioned encoding (one version byte, then postcard). The snapshot carries its revision,
//! so a round trip reproduces both the state and the revision.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use redb::ReadableDatabase;

use super::{
    DB_FILE_NAME, RedbStore, Store, StoreError,
    checkpoint::load_from,
    codec,
    postgres::{DatabaseError, Role, SharedDatabase},
    redb_store::{CHANGES, CHECKPOINT_PARTS, CHECKPOINTS, META, META_REVISION, open_read_only},
};
use crate::engine::{Revision, Snapshot};

/// The first bytes of every export file.
pub const EXPORT_MAGIC: &[u8; 8] = b"AUTHZDX1";

/// What an export or import moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    /// The revision of the state in the file.
    pub revision: Revision,
    /// The file's size in bytes.
    pub bytes: u64,
}

/// Writes the state of the database in `data_dir` to `out`, from one read transaction: a
/// consistent revision even while a server writes. The file appears only when complete.
pub fn export_database(data_dir: &Path, out: &Path) -> Result<ExportSummary, StoreError> {
    let path = data_dir.join(DB_FILE_NAME);
    if !path.exists() {
        return Err(StoreError::Io {
            path,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no database here"),
        });
    }
    let db = open_read_only(&path)?;
    let redb_error = |err: redb::Error| StoreError::from_redb(path.clone(), err);
    let txn = db.begin_read().map_err(|e| redb_error(e.into()))?;
    let checkpoints = txn
        .open_table(CHECKPOINTS)
        .map_err(|e| redb_error(e.into()))?;
    // A file no build with checkpoint parts has written to lacks their table.
    let parts = match txn.open_table(CHECKPOINT_PARTS) {
        Ok(parts) => Some(parts),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(err) => return Err(redb_error(err.into())),
    };
    let changes = txn.open_table(CHANGES).map_err(|e| redb_error(e.into()))?;
    let snapshot = load_from(&checkpoints, parts.as_ref(), &changes, &path)?;
    write_export(&snapshot, out)
}

/// Writes `snapshot` to the export file `out`.
fn write_export(snapshot: &Snapshot, out: &Path) -> Result<ExportSummary, StoreError> {
    let bytes = codec::encode(snapshot).map_err(|err| StoreError::Storage {
        path: out.to_path_buf(),
        message: format!("cannot encode the export: {err}"),
    })?;
    write_atomically(out, &bytes)?;
    Ok(ExportSummary {
        revision: snapshot.revision(),
        bytes: u64::try_from(bytes.len() + EXPORT_MAGIC.len()).unwrap_or(u64::MAX),
    })
}

/// Writes the state of the PostgreSQL store to `out`, read in one repeatable-read
/// transaction: a consistent revision even while replicas write.
pub fn export_postgres(database: &SharedDatabase, out: &Path) -> Result<ExportSummary, StoreError> {
    let snapshot = Store::Postgres(database.clone()).load_snapshot()?;
    write_export(&snapshot, out)
}

/// Loads an export file into a PostgreSQL database that holds no state yet (no change and
/// no checkpoint): the state becomes its checkpoint, and replicas continue from its
/// revision.
pub fn import_into_postgres(
    file: &Path,
    database: &SharedDatabase,
) -> Result<ExportSummary, StoreError> {
    let (snapshot, bytes) = read_export(file)?;
    let held = database.run(Role::Writer, async |store| store.revision().await)?;
    if held.get() > 0 {
        return Err(StoreError::Database(DatabaseError::NotEmpty {
            revision: held.get(),
        }));
    }
    if !Store::Postgres(database.clone()).write_checkpoint(&snapshot)? {
        return Err(StoreError::Database(DatabaseError::NotEmpty {
            revision: 0,
        }));
    }
    Ok(ExportSummary {
        revision: snapshot.revision(),
        bytes,
    })
}

/// Reads and decodes an export file; the snapshot and the file's size.
fn read_export(file: &Path) -> Result<(Snapshot, u64), StoreError> {
    let content = std::fs::read(file).map_err(|source| StoreError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let corrupt = |message: String| StoreError::Corrupt {
        path: file.to_path_buf(),
        message,
    };
    let body = content
        .strip_prefix(EXPORT_MAGIC.as_slice())
        .ok_or_else(|| corrupt("not an authzd export (wrong magic bytes)".into()))?;
    let snapshot: Snapshot = codec::decode_snapshot(body)
        .map_err(|err| corrupt(format!("the export does not decode: {err}")))?;
    Ok((snapshot, u64::try_from(content.len()).unwrap_or(u64::MAX)))
}

/// Loads an export file into `data_dir`, which must not hold a database yet.
pub fn import_into(file: &Path, data_dir: &Path) -> Result<ExportSummary, StoreError> {
    let target = data_dir.join(DB_FILE_NAME);
    if target.exists() {
        return Err(StoreError::Io {
            path: target,
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a database already exists here; import needs an empty data directory",
            ),
        });
    }
    let (snapshot, bytes) = read_export(file)?;
    let store = RedbStore::open(data_dir)?;
    store.write_checkpoint(&snapshot)?;
    store.set_revision(snapshot.revision())?;
    Ok(ExportSummary {
        revision: snapshot.revision(),
        bytes,
    })
}

impl RedbStore {
    /// Records `revision` as the newest (after an import, which has no change records).
    fn set_revision(&self, revision: Revision) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.redb_error(e))?;
            meta.insert(META_REVISION, revision.get())
                .map_err(|e| self.redb_error(e))?;
        }
        txn.commit().map_err(|e| self.redb_error(e))
    }
}

/// Writes `MAGIC + bytes` to a temporary file beside `out`, syncs it and renames it over
/// `out`, so a reader never sees half a file.
fn write_atomically(out: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    let mut temp = PathBuf::from(out);
    temp.as_mut_os_string().push(".partial");
    let mut file = std::fs::File::create(&temp).map_err(io(&temp))?;
    file.write_all(EXPORT_MAGIC).map_err(io(&temp))?;
    file.write_all(bytes).map_err(io(&temp))?;
    file.sync_all().map_err(io(&temp))?;
    drop(file);
    std::fs::rename(&temp, out).map_err(io(out))
}
