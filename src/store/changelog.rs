//! The change log: every committed change by revision, appended in group commits and read
//! back in order (start-up replay, export, and later the Watch stream).

use redb::ReadableTable;

use super::{
    RedbStore, StoreError,
    audit::AuditRecord,
    codec,
    redb_store::{AUDIT, CHANGES, META, META_REVISION, REQUESTS},
};
use crate::engine::{ChangeRecord, Revision};

impl RedbStore {
    /// Appends change records (ascending revisions) in one durable transaction: when this
    /// returns `Ok` every record is on disk; on `Err` none is.
    pub fn append(&self, records: &[ChangeRecord]) -> Result<(), StoreError> {
        self.append_with_audit(records, &mut [])
    }

    /// Appends change records and the audit records of the calls that made them (and of
    /// calls refused beside them) in one durable transaction.
    pub fn append_with_audit(
        &self,
        records: &[ChangeRecord],
        audit: &mut [AuditRecord],
    ) -> Result<(), StoreError> {
        let Some(last) = records.last() else {
            return self.append_audit(audit);
        };
        let encoded = records
            .iter()
            .map(|record| {
                codec::encode(record).map_err(|err| StoreError::Storage {
                    path: self.path.clone(),
                    message: format!("cannot encode change {}: {err}", record.revision),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let txn = self.begin_write()?;
        {
            let mut changes = txn.open_table(CHANGES).map_err(|e| self.redb_error(e))?;
            for (record, bytes) in records.iter().zip(&encoded) {
                changes
                    .insert(record.revision.get(), bytes.as_slice())
                    .map_err(|e| self.redb_error(e))?;
            }
            let mut requests = txn.open_table(REQUESTS).map_err(|e| self.redb_error(e))?;
            for record in records {
                if let Some(id) = &record.request_id {
                    requests
                        .insert(id.as_str(), record.revision.get())
                        .map_err(|e| self.redb_error(e))?;
                }
            }
            let mut meta = txn.open_table(META).map_err(|e| self.redb_error(e))?;
            meta.insert(META_REVISION, last.revision.get())
                .map_err(|e| self.redb_error(e))?;
            let mut trail = txn.open_table(AUDIT).map_err(|e| self.redb_error(e))?;
            super::audit::write_audit(self, &mut trail, audit)?;
        }
        txn.commit().map_err(|e| self.redb_error(e))
    }

    /// The committed change an earlier request with this id made, while the change log
    /// still holds it.
    pub fn change_for_request(&self, request_id: &str) -> Result<Option<ChangeRecord>, StoreError> {
        let txn = self.begin_read()?;
        let requests = txn.open_table(REQUESTS).map_err(|e| self.redb_error(e))?;
        let Some(revision) = requests
            .get(request_id)
            .map_err(|e| self.redb_error(e))?
            .map(|v| v.value())
        else {
            return Ok(None);
        };
        let changes = txn.open_table(CHANGES).map_err(|e| self.redb_error(e))?;
        let mut found = read_changes(
            &changes,
            Revision::new(revision.saturating_sub(1)),
            1,
            &self.path,
        )?;
        Ok(found
            .pop()
            .filter(|record| record.revision.get() == revision))
    }

    /// Change records with revisions above `after`, ascending, at most `limit`.
    pub fn changes_after(
        &self,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let txn = self.begin_read()?;
        let changes = txn.open_table(CHANGES).map_err(|e| self.redb_error(e))?;
        read_changes(&changes, after, limit, &self.path)
    }

    /// The oldest revision still in the change log, if any.
    pub fn oldest_change(&self) -> Result<Option<Revision>, StoreError> {
        let txn = self.begin_read()?;
        let changes = txn.open_table(CHANGES).map_err(|e| self.redb_error(e))?;
        let first = changes.first().map_err(|e| self.redb_error(e))?;
        Ok(first.map(|(revision, _)| Revision::new(revision.value())))
    }
}

/// Reads up to `limit` records above `after` from an open change table.
pub(super) fn read_changes(
    changes: &impl ReadableTable<u64, &'static [u8]>,
    after: Revision,
    limit: usize,
    path: &std::path::Path,
) -> Result<Vec<ChangeRecord>, StoreError> {
    let storage = |err: redb::StorageError| StoreError::from_redb(path.to_path_buf(), err);
    let mut out = Vec::new();
    for entry in changes
        .range(after.get().saturating_add(1)..)
        .map_err(storage)?
        .take(limit)
    {
        let (revision, bytes) = entry.map_err(storage)?;
        let record: ChangeRecord =
            codec::decode_change(bytes.value()).map_err(|err| StoreError::Corrupt {
                path: path.to_path_buf(),
                message: format!("change {}: {err}", revision.value()),
            })?;
        out.push(record);
    }
    Ok(out)
}

/// Records deleted per transaction when pruning the change log or the audit trail: each
/// batch takes a few milliseconds, and the writer's commits run between batches.
pub(super) const PRUNE_BATCH: usize = 1_000;

/// Runs `batch` (one transaction deleting at most [`PRUNE_BATCH`] records, returning how
/// many) until one deletes fewer; the total deleted. Runs none unless `prunable` (a read
/// transaction looking at the oldest record) says the first would delete something: a
/// write transaction syncs the file even when it changes nothing, and this runs after
/// every checkpoint, while writers wait for each such transaction.
pub(super) fn prune_in_batches(
    prunable: impl FnOnce() -> Result<bool, StoreError>,
    mut batch: impl FnMut() -> Result<u64, StoreError>,
) -> Result<u64, StoreError> {
    if !prunable()? {
        return Ok(0);
    }
    let mut deleted = 0;
    loop {
        let done = batch()?;
        deleted += done;
        if done < PRUNE_BATCH as u64 {
            return Ok(deleted);
        }
    }
}

/// How long and how much of the change log and the audit trail to keep (independently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep changes younger than this many milliseconds.
    pub max_age_millis: i64,
    /// Keep at least the newest this many changes.
    pub min_count: u64,
    /// Keep at most the newest this many changes, however young (at least `min_count`).
    pub max_count: u64,
    /// Keep audit records younger than this many milliseconds.
    pub audit_max_age_millis: i64,
}

impl RedbStore {
    /// Deletes change records that the newest checkpoint already covers, that are outside
    /// the newest `min_count`, and that are older than the retention age or outside the
    /// newest `max_count`. Returns how many
    /// were deleted. The checkpoint makes them unnecessary for start-up; readers that want
    /// to resume from before the oldest kept revision get a clear error instead. Deletes
    /// at most [`PRUNE_BATCH`] records per transaction, so that the writer's commits wait
    /// for one batch at most.
    pub fn prune_changes(
        &self,
        retention: Retention,
        now: crate::engine::Timestamp,
    ) -> Result<u64, StoreError> {
        let Some(checkpoint) = self.checkpoint_revision()? else {
            return Ok(0);
        };
        let newest = self.revision()?;
        let by_count = newest.saturating_sub(retention.min_count);
        let limit = checkpoint.get().min(by_count);
        // Up to here the log goes whatever its age.
        let beyond_max = newest.saturating_sub(retention.max_count.max(retention.min_count));
        let cutoff = now.plus_millis(retention.max_age_millis.saturating_neg());
        let prunable = |revision: u64, committed_at| {
            revision <= limit && (revision <= beyond_max || committed_at < cutoff)
        };
        prune_in_batches(
            || {
                let oldest = self.changes_after(Revision::default(), 1)?;
                Ok(oldest
                    .first()
                    .is_some_and(|record| prunable(record.revision.get(), record.committed_at)))
            },
            || self.prune_change_batch(prunable),
        )
    }

    /// Deletes up to [`PRUNE_BATCH`] of the oldest change records while `prunable` (of
    /// their revision and commit time) holds, with their request ids, in one transaction.
    fn prune_change_batch(
        &self,
        prunable: impl Fn(u64, crate::engine::Timestamp) -> bool,
    ) -> Result<u64, StoreError> {
        let txn = self.begin_write()?;
        let mut deleted = 0;
        {
            let mut changes = txn.open_table(CHANGES).map_err(|e| self.redb_error(e))?;
            let mut doomed = Vec::new();
            for entry in changes
                .iter()
                .map_err(|e| self.redb_error(e))?
                .take(PRUNE_BATCH)
            {
                let (revision, bytes) = entry.map_err(|e| self.redb_error(e))?;
                let record: ChangeRecord =
                    codec::decode_change(bytes.value()).map_err(|err| StoreError::Corrupt {
                        path: self.path.clone(),
                        message: format!("change {}: {err}", revision.value()),
                    })?;
                if !prunable(revision.value(), record.committed_at) {
                    break;
                }
                doomed.push((revision.value(), record.request_id));
            }
            let mut requests = txn.open_table(REQUESTS).map_err(|e| self.redb_error(e))?;
            for (revision, request_id) in doomed {
                changes.remove(revision).map_err(|e| self.redb_error(e))?;
                if let Some(id) = request_id {
                    requests
                        .remove(id.as_str())
                        .map_err(|e| self.redb_error(e))?;
                }
                deleted += 1;
            }
        }
        txn.commit().map_err(|e| self.redb_error(e))?;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::engine::Timestamp;

    /// Change `revision`, with request id `r{revision}`, committed at `revision` ms.
    fn change(revision: u64) -> ChangeRecord {
        let mut record =
            super::super::recovery::tests::change(revision, Some(&format!("r{revision}")));
        record.committed_at = Timestamp::from_unix_millis(i64::try_from(revision).unwrap());
        record
    }

    #[test]
    fn pruning_more_changes_than_one_batch_takes_every_old_one_with_its_request_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();
        let records: Vec<ChangeRecord> = (1..=2_500).map(change).collect();
        store.append(&records).unwrap();
        // Pruning reads only the newest checkpoint's revision.
        let txn = store.begin_write().unwrap();
        txn.open_table(super::super::redb_store::CHECKPOINTS)
            .unwrap()
            .insert(2_500, b"a checkpoint".as_slice())
            .unwrap();
        txn.commit().unwrap();
        let retention = Retention {
            max_age_millis: 10_000 - 2_200,
            min_count: 0,
            max_count: u64::MAX,
            audit_max_age_millis: 0,
        };
        let pruned = store
            .prune_changes(retention, Timestamp::from_unix_millis(10_000))
            .unwrap();
        assert_eq!(pruned, 2_199);
        assert_eq!(store.oldest_change().unwrap(), Some(Revision::new(2_200)));
        assert!(store.change_for_request("r2199").unwrap().is_none());
        assert!(store.change_for_request("r2200").unwrap().is_some());

        // However young they are, changes beyond the newest `max_count` go; never those
        // within the newest `min_count`.
        let young = Retention {
            max_age_millis: 1_000_000,
            min_count: 100,
            max_count: 250,
            audit_max_age_millis: 0,
        };
        let now = Timestamp::from_unix_millis(10_000);
        assert_eq!(store.prune_changes(young, now).unwrap(), 51);
        assert_eq!(store.oldest_change().unwrap(), Some(Revision::new(2_251)));
        assert!(store.change_for_request("r2250").unwrap().is_none());
        let floor = Retention {
            max_count: 10,
            ..young
        };
        assert_eq!(store.prune_changes(floor, now).unwrap(), 150);
        assert_eq!(store.oldest_change().unwrap(), Some(Revision::new(2_401)));
    }

    #[test]
    fn pruning_with_nothing_to_prune_writes_nothing_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();
        let records: Vec<ChangeRecord> = (1..=20).map(change).collect();
        store.append(&records).unwrap();
        let txn = store.begin_write().unwrap();
        txn.open_table(super::super::redb_store::CHECKPOINTS)
            .unwrap()
            .insert(20, b"a checkpoint".as_slice())
            .unwrap();
        txn.commit().unwrap();
        let modified = || std::fs::metadata(store.path()).unwrap().modified().unwrap();
        let before = modified();
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Every change is young, and every audit record (none) too.
        let keep_all = Retention {
            max_age_millis: 1_000_000,
            min_count: 0,
            max_count: u64::MAX,
            audit_max_age_millis: 0,
        };
        let now = Timestamp::from_unix_millis(10_000);
        assert_eq!(store.prune_changes(keep_all, now).unwrap(), 0);
        assert_eq!(store.prune_audit(now).unwrap(), 0);
        assert_eq!(modified(), before, "an empty transaction was committed");
        assert_eq!(store.oldest_change().unwrap(), Some(Revision::new(1)));
    }
}
