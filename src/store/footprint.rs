//! Where the database's bytes go: each table's keys and values, the change log by kind of
//! change (with the part its stored context takes), and what the file holds beyond them.

use std::collections::BTreeMap;

use redb::{AccessGuard, Key, ReadableTable, ReadableTableMetadata, TableDefinition, Value};

use super::{
    RedbStore, StoreError,
    codec::decode_change,
    redb_store::{AUDIT, CHANGES, CHECKPOINT_PARTS, CHECKPOINTS, META, REQUESTS},
};
use crate::engine::EventKind;

/// What one table holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableFootprint {
    /// The table's name.
    pub name: &'static str,
    /// Its entries.
    pub entries: u64,
    /// The bytes of their keys and values, as encoded.
    pub payload: u64,
}

/// What the change records of one kind hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeKindFootprint {
    /// Records of this kind.
    pub records: u64,
    /// Their encoded bytes.
    pub bytes: u64,
    /// Of those, the bytes of their context (whom to notify, whose decisions changed, what
    /// moved with the change).
    pub context: u64,
}

/// Where a database file's bytes go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreFootprint {
    /// The file's size.
    pub file: u64,
    /// Each table.
    pub tables: Vec<TableFootprint>,
    /// The change log by kind of change.
    pub changes: BTreeMap<EventKind, ChangeKindFootprint>,
}

impl StoreFootprint {
    /// What the file holds beyond the tables' keys and values: redb's pages, their free
    /// space and the space it has not given back.
    pub fn overhead(&self) -> u64 {
        self.file
            .saturating_sub(self.tables.iter().map(|t| t.payload).sum())
    }
}

impl RedbStore {
    /// Reads every table once and sums what it holds. As long as a full export: for a
    /// benchmark or an operator's inspection, never on a serving path.
    pub fn footprint(&self) -> Result<StoreFootprint, StoreError> {
        let file = std::fs::metadata(self.path())
            .map_err(|source| StoreError::Io {
                path: self.path().to_path_buf(),
                source,
            })?
            .len();
        let mut changes = BTreeMap::<EventKind, ChangeKindFootprint>::new();
        let log = self.table("changes", CHANGES, |revision, value| {
            let bytes = value.value();
            let record = decode_change(bytes).map_err(|err| StoreError::Corrupt {
                path: self.path().to_path_buf(),
                message: format!("change {}: {err}", revision.value()),
            })?;
            let kind = changes.entry(record.context.kind).or_default();
            kind.records += 1;
            kind.bytes += len(bytes);
            kind.context += postcard::to_allocvec(&record.context).map_or(0, |c| len(&c));
            Ok(8 + len(bytes))
        })?;
        let numbered =
            |_: AccessGuard<'_, u64>, value: AccessGuard<'_, &[u8]>| Ok(8 + len(value.value()));
        let texts = |key: AccessGuard<'_, &str>, _: AccessGuard<'_, u64>| {
            Ok(len(key.value().as_bytes()) + 8)
        };
        let tables = vec![
            log,
            self.table("checkpoints", CHECKPOINTS, numbered)?,
            self.table("checkpoint_parts", CHECKPOINT_PARTS, |_, value| {
                Ok(12 + len(value.value()))
            })?,
            self.table("audit", AUDIT, numbered)?,
            self.table("requests", REQUESTS, texts)?,
            self.table("meta", META, texts)?,
        ];
        Ok(StoreFootprint {
            file,
            tables,
            changes,
        })
    }

    /// Sums `size` (the bytes of one entry's key and value) over a table's entries.
    fn table<K: Key + 'static, V: Value + 'static>(
        &self,
        name: &'static str,
        definition: TableDefinition<'_, K, V>,
        mut size: impl FnMut(AccessGuard<'_, K>, AccessGuard<'_, V>) -> Result<u64, StoreError>,
    ) -> Result<TableFootprint, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(definition).map_err(|e| self.redb_error(e))?;
        let mut footprint = TableFootprint {
            name,
            entries: table.len().map_err(|e| self.redb_error(e))?,
            payload: 0,
        };
        for entry in table.iter().map_err(|e| self.redb_error(e))? {
            let (key, value) = entry.map_err(|e| self.redb_error(e))?;
            footprint.payload += size(key, value)?;
        }
        Ok(footprint)
    }
}

fn len(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}
