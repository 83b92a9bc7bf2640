//! Checkpoints: the whole engine state at one revision, so that start-up reads one value and
//! replays only the changes after it, and so that the change log can be pruned.

use redb::ReadableTable;

use super::{
    RedbStore, StoreError,
    changelog::read_changes,
    codec,
    redb_store::{CHANGES, CHECKPOINTS},
};
use crate::engine::{ChangeRecord, Revision, Snapshot, SnapshotBuilder};

/// How many change records are decoded at a time while replaying.
pub(super) const REPLAY_CHUNK: usize = 10_000;

impl RedbStore {
    /// Writes `snapshot` as the checkpoint (replacing older ones) in one transaction.
    pub fn write_checkpoint(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let bytes = codec::encode(snapshot).map_err(|err| StoreError::Storage {
            path: self.path.clone(),
            message: format!("cannot encode checkpoint {}: {err}", snapshot.revision()),
        })?;
        let txn = self.begin_write()?;
        {
            let mut checkpoints = txn
                .open_table(CHECKPOINTS)
                .map_err(|e| self.redb_error(e))?;
            checkpoints
                .retain(|revision, _| revision > snapshot.revision().get())
                .map_err(|e| self.redb_error(e))?;
            checkpoints
                .insert(snapshot.revision().get(), bytes.as_slice())
                .map_err(|e| self.redb_error(e))?;
        }
        txn.commit().map_err(|e| self.redb_error(e))
    }

    /// The revision of the newest checkpoint, if any.
    pub fn checkpoint_revision(&self) -> Result<Option<Revision>, StoreError> {
        let txn = self.begin_read()?;
        let checkpoints = txn
            .open_table(CHECKPOINTS)
            .map_err(|e| self.redb_error(e))?;
        let last = checkpoints.last().map_err(|e| self.redb_error(e))?;
        Ok(last.map(|(revision, _)| Revision::new(revision.value())))
    }

    /// The current state: the newest checkpoint plus every change after it, all read in
    /// one read transaction (a consistent view even while a writer commits).
    pub fn load_snapshot(&self) -> Result<Snapshot, StoreError> {
        let txn = self.begin_read()?;
        let checkpoints = txn
            .open_table(CHECKPOINTS)
            .map_err(|e| self.redb_error(e))?;
        let changes = txn.open_table(CHANGES).map_err(|e| self.redb_error(e))?;
        load_from(&checkpoints, &changes, &self.path)
    }
}

/// Rebuilds the state from open checkpoint and change tables.
pub(super) fn load_from(
    checkpoints: &impl ReadableTable<u64, &'static [u8]>,
    changes: &impl ReadableTable<u64, &'static [u8]>,
    path: &std::path::Path,
) -> Result<Snapshot, StoreError> {
    let storage = |err: redb::StorageError| StoreError::from_redb(path.to_path_buf(), err);
    let base = match checkpoints.last().map_err(storage)? {
        Some((revision, bytes)) => {
            codec::decode_snapshot(bytes.value()).map_err(|err| StoreError::Corrupt {
                path: path.to_path_buf(),
                message: format!("checkpoint {}: {err}", revision.value()),
            })?
        }
        None => Snapshot::empty(),
    };
    let after = base.revision();
    if let Some((first, _)) = changes.first().map_err(storage)?
        && first.value() > after.get().saturating_add(1)
    {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            message: format!(
                "the change log starts at revision {} but the checkpoint is at {after}: changes are missing",
                first.value()
            ),
        });
    }
    let mut replay = Replay::new(base);
    while replay
        .apply(&read_changes(changes, replay.after(), REPLAY_CHUNK, path)?)
        .map_err(|message| StoreError::Corrupt {
            path: path.to_path_buf(),
            message,
        })?
    {}
    Ok(replay.finish())
}

/// Rebuilds the state from a checkpoint and the change records after it, a chunk at a
/// time (of at most [`REPLAY_CHUNK`] records), whichever store reads them.
pub(super) struct Replay {
    builder: SnapshotBuilder,
    after: Revision,
}

impl Replay {
    pub(super) fn new(base: Snapshot) -> Self {
        Self {
            after: base.revision(),
            builder: SnapshotBuilder::from_snapshot(base),
        }
    }

    /// The revision the next chunk starts after.
    pub(super) fn after(&self) -> Revision {
        self.after
    }

    /// Applies the next chunk of records; `false` for an empty one (the replay is done).
    /// `Err` names a stored change that no longer applies.
    pub(super) fn apply(&mut self, chunk: &[ChangeRecord]) -> Result<bool, String> {
        let Some(last) = chunk.last() else {
            return Ok(false);
        };
        for record in chunk {
            self.builder
                .apply(record.revision, &record.mutation, record.committed_at)
                .map_err(|err| {
                    format!("stored change {} no longer applies: {err}", record.revision)
                })?;
        }
        self.after = last.revision;
        Ok(true)
    }

    pub(super) fn finish(self) -> Snapshot {
        self.builder.finish()
    }
}
