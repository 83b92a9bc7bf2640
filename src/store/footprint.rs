//! Where the database's bytes go: each table's keys and values, the change log by kind of
//! change (with the part its stored context takes), and what the file holds beyond them.

use std::collections::BTreeMap;

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};

use super::{
    RedbStore, StoreError,
    codec::decode_change,
    redb_store::{AUDIT, CHANGES, CHECKPOINTS, META, REQUESTS},
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
        let txn = self.begin_read()?;
        let table = txn.open_table(CHANGES).map_err(|e| self.redb_error(e))?;
        let mut log = TableFootprint {
            name: "changes",
            ..TableFootprint::default()
        };
        for entry in table.iter().map_err(|e| self.redb_error(e))? {
            let (revision, value) = entry.map_err(|e| self.redb_error(e))?;
            let bytes = value.value();
            log.entries += 1;
            log.payload += 8 + len(bytes);
            let record = decode_change(bytes).map_err(|err| StoreError::Corrupt {
                path: self.path().to_path_buf(),
                message: format!("change {}: {err}", revision.value()),
            })?;
            let context = postcard::to_allocvec(&record.context).map_or(0, |c| len(&c));
            let kind = changes.entry(record.context.kind).or_default();
            kind.records += 1;
            kind.bytes += len(bytes);
            kind.context += context;
        }
        let tables = vec![
            log,
            self.byte_table("checkpoints", CHECKPOINTS)?,
            self.byte_table("audit", AUDIT)?,
            self.text_table("requests", REQUESTS)?,
            self.text_table("meta", META)?,
        ];
        Ok(StoreFootprint {
            file,
            tables,
            changes,
        })
    }

    /// A table of numbered byte values.
    fn byte_table(
        &self,
        name: &'static str,
        definition: TableDefinition<'_, u64, &[u8]>,
    ) -> Result<TableFootprint, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(definition).map_err(|e| self.redb_error(e))?;
        let mut footprint = TableFootprint {
            name,
            entries: table.len().map_err(|e| self.redb_error(e))?,
            payload: 0,
        };
        for entry in table.iter().map_err(|e| self.redb_error(e))? {
            let (_, value) = entry.map_err(|e| self.redb_error(e))?;
            footprint.payload += 8 + len(value.value());
        }
        Ok(footprint)
    }

    /// A table of texts mapped to numbers.
    fn text_table(
        &self,
        name: &'static str,
        definition: TableDefinition<'_, &str, u64>,
    ) -> Result<TableFootprint, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(definition).map_err(|e| self.redb_error(e))?;
        let mut footprint = TableFootprint {
            name,
            entries: table.len().map_err(|e| self.redb_error(e))?,
            payload: 0,
        };
        for entry in table.iter().map_err(|e| self.redb_error(e))? {
            let (key, _) = entry.map_err(|e| self.redb_error(e))?;
            footprint.payload += len(key.value().as_bytes()) + 8;
        }
        Ok(footprint)
    }
}

fn len(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}
