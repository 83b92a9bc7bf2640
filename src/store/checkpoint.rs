//! Checkpoints: the whole engine state at one revision, so that start-up reads it and
//! replays only the changes after it, and so that the change log can be pruned.
//!
//! The `checkpoints` table names the newest checkpoint; its encoding is in a file of its
//! own (`file.rs`). Builds before that stored it in the table itself, whole or in parts in
//! `checkpoint_parts` (as the PostgreSQL store still does): those still load, and the next
//! checkpoint removes them.

use std::borrow::Cow;

use redb::ReadableTable;

use super::{
    RedbStore, StoreError,
    changelog::read_changes,
    codec,
    redb_store::{CHANGES, CHECKPOINT_PARTS, CHECKPOINTS},
};
use crate::engine::{ChangeRecord, Revision, Snapshot, SnapshotBuilder};

mod file;

pub use file::CHECKPOINT_DIR;
use file::{file_manifest, read_checkpoint_file, read_file_manifest};

/// How many change records are decoded at a time while replaying.
pub(super) const REPLAY_CHUNK: usize = 10_000;

/// How many parts of checkpoints stored in redb (by builds before checkpoint files) one
/// transaction removes (2 MB of pages read: removing a part reads its page).
const PARTS_REMOVED_AT_ONCE: usize = 8;

/// What `checkpoints` holds for a checkpoint stored in parts: this marker, then the number
/// of parts and the encoding's length (little-endian `u32` and `u64`). An encoded snapshot
/// starts with its version byte, far below `A`, so the two never look alike.
const IN_PARTS: &[u8; 8] = b"AZPARTS1";

impl RedbStore {
    /// Writes `snapshot` as the checkpoint, replacing older ones. The encoding goes to a
    /// file of its own (see `checkpoint/file.rs`); once it is synced, one small transaction
    /// names it in `checkpoints` in place of the older checkpoints, so a reader sees the
    /// old checkpoint or the new one whole; then the older file is kept as the spare the
    /// next checkpoint is written over, and the parts of a
    /// checkpoint an older build stored in the database, are removed. A checkpoint of a
    /// revision already checkpointed is not written again (a revision is one state).
    pub fn write_checkpoint(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let revision = snapshot.revision().get();
        if self.checkpoint_revision()? == Some(snapshot.revision()) {
            return Ok(());
        }
        let length = self.write_checkpoint_file(snapshot)?;
        let manifest = file_manifest(length);
        // The one transaction of a checkpoint touches small values only: the writer waits
        // for it between two commits.
        let txn = self.begin_write()?;
        {
            let mut checkpoints = txn
                .open_table(CHECKPOINTS)
                .map_err(|e| self.redb_error(e))?;
            checkpoints
                .retain(|of, _| of > revision)
                .map_err(|e| self.redb_error(e))?;
            checkpoints
                .insert(revision, manifest.as_slice())
                .map_err(|e| self.redb_error(e))?;
        }
        txn.commit().map_err(|e| self.redb_error(e))?;
        let newest = self.checkpoint_revision()?.map_or(revision, Revision::get);
        self.retire_checkpoint_files_except(newest)?;
        self.remove_stored_parts()
    }

    /// Removes the parts of checkpoints an older build stored in the database, a few per
    /// transaction: removing a part reads its page (a whole part), and removing a whole
    /// checkpoint's at once held the writer up for some 70-90 ms at 1 M
    /// grants+memberships. Looked for first in a read transaction, since there are none
    /// once removed, and a write transaction syncs the file even when it changes nothing.
    fn remove_stored_parts(&self) -> Result<(), StoreError> {
        loop {
            let any = {
                let txn = self.begin_read()?;
                let parts = txn
                    .open_table(CHECKPOINT_PARTS)
                    .map_err(|e| self.redb_error(e))?;
                parts.first().map_err(|e| self.redb_error(e))?.is_some()
            };
            if !any {
                return Ok(());
            }
            let txn = self.begin_write()?;
            {
                let mut parts = txn
                    .open_table(CHECKPOINT_PARTS)
                    .map_err(|e| self.redb_error(e))?;
                let stale = parts
                    .iter()
                    .map_err(|e| self.redb_error(e))?
                    .take(PARTS_REMOVED_AT_ONCE)
                    .map(|part| part.map(|(key, _)| key.value()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| self.redb_error(e))?;
                for key in &stale {
                    parts.remove(key).map_err(|e| self.redb_error(e))?;
                }
            }
            txn.commit().map_err(|e| self.redb_error(e))?;
        }
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
        let parts = txn
            .open_table(CHECKPOINT_PARTS)
            .map_err(|e| self.redb_error(e))?;
        let changes = txn.open_table(CHANGES).map_err(|e| self.redb_error(e))?;
        load_from(&checkpoints, Some(&parts), &changes, &self.path)
    }
}

/// The `checkpoints` value of a checkpoint stored in `count` parts holding `length` bytes
/// (see [`IN_PARTS`]), as the PostgreSQL store writes it.
pub(super) fn parts_manifest(count: u32, length: u64) -> Vec<u8> {
    let mut manifest = IN_PARTS.to_vec();
    manifest.extend_from_slice(&count.to_le_bytes());
    manifest.extend_from_slice(&length.to_le_bytes());
    manifest
}

/// The number of parts and the length a `checkpoints` value names, `None` for a
/// checkpoint stored whole, or why the value is malformed.
pub(super) fn read_parts_manifest(stored: &[u8]) -> Option<Result<(u32, u64), String>> {
    let manifest = stored.strip_prefix(IN_PARTS.as_slice())?;
    Some(
        manifest
            .split_first_chunk::<4>()
            .and_then(|(count, rest)| Some((count, rest.first_chunk::<8>()?)))
            .map(|(count, length)| (u32::from_le_bytes(*count), u64::from_le_bytes(*length)))
            .ok_or_else(|| "its list of parts is cut short".to_owned()),
    )
}

/// What a checkpoint's parts must be, checked as they are read in order: parts
/// `0..count` holding `length` bytes in all.
struct PartsCount {
    count: u32,
    length: u64,
    found: u32,
    bytes: u64,
}

impl PartsCount {
    fn new(count: u32, length: u64) -> Self {
        Self {
            count,
            length,
            found: 0,
            bytes: 0,
        }
    }

    /// Counts part `number` of `len` bytes; why not, if it is not the next one.
    fn push(&mut self, number: u32, len: usize) -> Result<(), String> {
        if number != self.found {
            return Err(format!("its part {} is missing", self.found));
        }
        self.found = self.found.saturating_add(1);
        self.bytes = self
            .bytes
            .saturating_add(u64::try_from(len).unwrap_or(u64::MAX));
        Ok(())
    }

    /// Why not, if parts or bytes are missing.
    fn finish(&self) -> Result<(), String> {
        if self.found != self.count || self.bytes != self.length {
            return Err(format!(
                "{} of its {} parts hold {} of its {} bytes",
                self.found, self.count, self.bytes, self.length
            ));
        }
        Ok(())
    }
}

/// Puts a checkpoint's parts back together as they are read in order (see
/// [`PartsCount`]).
pub(super) struct JoinedParts {
    counted: PartsCount,
    encoding: Vec<u8>,
}

impl JoinedParts {
    pub(super) fn new(count: u32, length: u64) -> Self {
        Self {
            counted: PartsCount::new(count, length),
            encoding: Vec::with_capacity(usize::try_from(length).unwrap_or_default()),
        }
    }

    /// Appends part `number`; why not, if it is not the next one.
    pub(super) fn push(&mut self, number: u32, bytes: &[u8]) -> Result<(), String> {
        self.counted.push(number, bytes.len())?;
        self.encoding.extend_from_slice(bytes);
        Ok(())
    }

    /// The whole encoding; why not, if parts or bytes are missing.
    pub(super) fn finish(self) -> Result<Vec<u8>, String> {
        self.counted.finish()?;
        Ok(self.encoding)
    }
}

/// The encoded snapshot of the checkpoint at `revision` whose `checkpoints` value is
/// `stored`: its file beside the database `path`, that value itself, or its parts put
/// back together.
fn checkpoint_encoding<'a>(
    revision: u64,
    stored: &'a [u8],
    parts: Option<&impl ReadableTable<(u64, u32), &'static [u8]>>,
    path: &std::path::Path,
) -> Result<Cow<'a, [u8]>, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        message: format!("checkpoint {revision}: {message}"),
    };
    if let Some(manifest) = read_file_manifest(stored) {
        let length = manifest.map_err(corrupt)?;
        return Ok(Cow::Owned(read_checkpoint_file(path, revision, length)?));
    }
    let (count, length) = match read_parts_manifest(stored) {
        None => return Ok(Cow::Borrowed(stored)),
        Some(manifest) => manifest.map_err(corrupt)?,
    };
    let parts = parts.ok_or_else(|| corrupt("its parts' table is missing".into()))?;
    let storage = |err| StoreError::from_redb(path.to_path_buf(), err);
    let mut joined = JoinedParts::new(count, length);
    for part in parts
        .range((revision, 0)..(revision, count))
        .map_err(storage)?
    {
        let (key, bytes) = part.map_err(storage)?;
        joined.push(key.value().1, bytes.value()).map_err(corrupt)?;
    }
    Ok(Cow::Owned(joined.finish().map_err(corrupt)?))
}

/// Rebuilds the state from open checkpoint, checkpoint part and change tables (no parts
/// table: a file written before checkpoints were stored in parts, opened read-only).
pub(super) fn load_from(
    checkpoints: &impl ReadableTable<u64, &'static [u8]>,
    parts: Option<&impl ReadableTable<(u64, u32), &'static [u8]>>,
    changes: &impl ReadableTable<u64, &'static [u8]>,
    path: &std::path::Path,
) -> Result<Snapshot, StoreError> {
    let storage = |err: redb::StorageError| StoreError::from_redb(path.to_path_buf(), err);
    let base = match checkpoints.last().map_err(storage)? {
        Some((revision, bytes)) => {
            let revision = revision.value();
            let encoding = checkpoint_encoding(revision, bytes.value(), parts, path)?;
            let snapshot =
                codec::decode_snapshot(&encoding).map_err(|err| StoreError::Corrupt {
                    path: path.to_path_buf(),
                    message: format!("checkpoint {revision}: {err}"),
                })?;
            if snapshot.revision().get() != revision {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    message: format!(
                        "checkpoint {revision} holds the state at revision {}",
                        snapshot.revision()
                    ),
                });
            }
            snapshot
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

#[cfg(test)]
mod tests;
