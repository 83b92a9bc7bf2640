//! Checkpoints: the whole engine state at one revision, so that start-up reads one value and
//! replays only the changes after it, and so that the change log can be pruned.

use redb::ReadableTable;

use super::{
    RedbStore, StoreError,
    changelog::read_changes,
    codec,
    redb_store::{CHANGES, CHECKPOINT_PARTS, CHECKPOINTS},
};
use crate::engine::{ChangeRecord, Revision, Snapshot, SnapshotBuilder};

/// How many change records are decoded at a time while replaying.
pub(super) const REPLAY_CHUNK: usize = 10_000;

/// The size of each part of a checkpoint. Each part is its own transaction, so the writer
/// waits at most for one part between its commits instead of for the whole state. redb
/// gives a value its own run of pages whose size is a power of two; 4 KiB less than 256 KiB
/// leaves room for the page's header and key, where 256 KiB itself would take 512 KiB.
/// Small runs are also reused well once freed: after a bulk load at 350 K
/// grants+memberships (110 checkpoints) the file was 544 MiB with these parts, 813 MiB
/// with parts of 1 MiB and 918 MiB with 4 MiB.
const PART_BYTES: usize = (256 << 10) - (4 << 10);

/// How many parts of older checkpoints one transaction removes (2 MB of pages read).
const PARTS_REMOVED_AT_ONCE: usize = 8;

/// What `checkpoints` holds for a checkpoint stored in parts: this marker, then the number
/// of parts and the encoding's length (little-endian `u32` and `u64`). An encoded snapshot
/// starts with its version byte, far below `A`, so the two never look alike.
const IN_PARTS: &[u8; 8] = b"AZPARTS1";

impl RedbStore {
    /// Writes `snapshot` as the checkpoint, replacing older ones. The encoding is stored a
    /// part at a time, each part in its own transaction; once every part is read back, one
    /// transaction names them in `checkpoints` in place of the older checkpoints, so a
    /// reader sees the old checkpoint or the new one whole; then the older parts are
    /// removed, a few at a time. A checkpoint of a revision already checkpointed is not
    /// written again (a revision is one state).
    pub fn write_checkpoint(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.write_checkpoint_in_parts(snapshot, PART_BYTES)
    }

    pub(super) fn write_checkpoint_in_parts(
        &self,
        snapshot: &Snapshot,
        part_bytes: usize,
    ) -> Result<(), StoreError> {
        let revision = snapshot.revision().get();
        if self.checkpoint_revision()? == Some(snapshot.revision()) {
            return Ok(());
        }
        let mut parts = PartWriter {
            store: self,
            revision,
            part_bytes,
            buffer: Vec::with_capacity(part_bytes),
            parts: 0,
            length: 0,
            failure: None,
        };
        let encoded = codec::encode_into(snapshot, &mut parts);
        if let Some(failure) = parts.failure.take() {
            return Err(failure);
        }
        encoded.map_err(|err| StoreError::Storage {
            path: self.path.clone(),
            message: format!("cannot encode checkpoint {revision}: {err}"),
        })?;
        parts.store_part()?;
        let (count, length) = (parts.parts, parts.length);
        self.verify_parts(revision, count, length)?;
        let manifest = parts_manifest(count, length);
        // The transaction that makes it the checkpoint touches small values only: the
        // writer waits for it between two commits.
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
        self.remove_parts_except(revision, count)
    }

    /// Checks, before the parts become the checkpoint, that parts `0..count` of `revision`
    /// are stored and hold `length` bytes. Read in a read transaction: every part is read
    /// back, which under the writer's lock would hold up the writes for as long.
    fn verify_parts(&self, revision: u64, count: u32, length: u64) -> Result<(), StoreError> {
        let txn = self.begin_read()?;
        let parts = txn
            .open_table(CHECKPOINT_PARTS)
            .map_err(|e| self.redb_error(e))?;
        let unfinished = |message: String| StoreError::Storage {
            path: self.path.clone(),
            message: format!("checkpoint {revision}: {message}"),
        };
        let mut counted = PartsCount::new(count, length);
        for part in parts
            .range((revision, 0)..(revision, count))
            .map_err(|e| self.redb_error(e))?
        {
            let (key, value) = part.map_err(|e| self.redb_error(e))?;
            counted
                .push(key.value().1, value.value().len())
                .map_err(unfinished)?;
        }
        counted.finish().map_err(unfinished)
    }

    /// Removes every part but parts `0..count` of `revision`: the previous checkpoint's,
    /// and any a crash left behind. A few parts per transaction: removing a part reads its
    /// page (a whole part), and removing a whole checkpoint's at once held the writer up
    /// for some 70-90 ms at 1 M grants+memberships. Parts a failure leaves here are
    /// removed with the next checkpoint's.
    fn remove_parts_except(&self, revision: u64, count: u32) -> Result<(), StoreError> {
        loop {
            let txn = self.begin_write()?;
            let removed = {
                let mut parts = txn
                    .open_table(CHECKPOINT_PARTS)
                    .map_err(|e| self.redb_error(e))?;
                let mut stale = Vec::with_capacity(PARTS_REMOVED_AT_ONCE);
                for range in [
                    parts.range(..(revision, 0)),
                    parts.range((revision, count)..),
                ] {
                    for part in range
                        .map_err(|e| self.redb_error(e))?
                        .take(PARTS_REMOVED_AT_ONCE - stale.len())
                    {
                        stale.push(part.map_err(|e| self.redb_error(e))?.0.value());
                    }
                }
                for key in &stale {
                    parts.remove(key).map_err(|e| self.redb_error(e))?;
                }
                stale.len()
            };
            txn.commit().map_err(|e| self.redb_error(e))?;
            if removed < PARTS_REMOVED_AT_ONCE {
                return Ok(());
            }
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

/// Stores the encoding written to it a part at a time (see [`RedbStore::write_checkpoint`]).
struct PartWriter<'a> {
    store: &'a RedbStore,
    revision: u64,
    part_bytes: usize,
    buffer: Vec<u8>,
    /// Parts stored so far.
    parts: u32,
    /// Bytes stored so far.
    length: u64,
    /// Why storing a part failed: the encoder sees only that writing stopped.
    failure: Option<StoreError>,
}

impl PartWriter<'_> {
    /// Stores what is buffered as the next part, in a transaction of its own. (A commit
    /// that skips the flush would be cheaper, but redb refuses those on a file shared with
    /// another process, as `authzd export` shares it.)
    fn store_part(&mut self) -> Result<(), StoreError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let store = self.store;
        let txn = store.begin_write()?;
        {
            let mut parts = txn
                .open_table(CHECKPOINT_PARTS)
                .map_err(|e| store.redb_error(e))?;
            parts
                .insert((self.revision, self.parts), self.buffer.as_slice())
                .map_err(|e| store.redb_error(e))?;
        }
        txn.commit().map_err(|e| store.redb_error(e))?;
        self.parts = self.parts.saturating_add(1);
        self.length = self
            .length
            .saturating_add(u64::try_from(self.buffer.len()).unwrap_or(u64::MAX));
        self.buffer.clear();
        Ok(())
    }
}

impl std::io::Write for PartWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let room = self.part_bytes.saturating_sub(self.buffer.len());
        let (taken, _) = bytes.split_at(bytes.len().min(room));
        self.buffer.extend_from_slice(taken);
        if self.buffer.len() >= self.part_bytes
            && let Err(err) = self.store_part()
        {
            self.failure = Some(err);
            return Err(std::io::Error::other(
                "a checkpoint part could not be stored",
            ));
        }
        Ok(taken.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `checkpoints` value of a checkpoint stored in `count` parts holding `length` bytes
/// (see [`IN_PARTS`]); both stores write it.
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

/// A checkpoint's encoding read from its parts as the decoding needs it, one part held at
/// a time, and checked as they come (see [`PartsCount`]). Putting the parts together first
/// held the whole encoding (160 MB at a million grants+memberships) beside the state being
/// rebuilt from it, every page of it touched once more at start.
pub(super) struct PartsReader<I> {
    parts: I,
    counted: PartsCount,
    current: Vec<u8>,
    /// How much of `current` is read.
    at: usize,
    /// A value that spans two or more parts, put together.
    spanning: Vec<u8>,
    /// Why the parts could not be read, once they could not.
    failure: Option<String>,
}

impl<I: Iterator<Item = Result<(u32, Vec<u8>), String>>> PartsReader<I> {
    /// Reads the parts `parts` yields (number and bytes, in order), which must be parts
    /// `0..count` holding `length` bytes.
    pub(super) fn new(count: u32, length: u64, parts: I) -> Self {
        Self {
            parts,
            counted: PartsCount::new(count, length),
            current: Vec::new(),
            at: 0,
            spanning: Vec::new(),
            failure: None,
        }
    }

    /// Makes the next part current; `false` at the end of the parts or once they failed.
    fn next_part(&mut self) -> bool {
        if self.failure.is_some() {
            return false;
        }
        let counted = match self.parts.next() {
            None => return false,
            Some(Err(why)) => Err(why),
            Some(Ok((number, bytes))) => self.counted.push(number, bytes.len()).map(|()| bytes),
        };
        match counted {
            Ok(bytes) => {
                self.current = bytes;
                self.at = 0;
                true
            }
            Err(why) => {
                self.failure = Some(why);
                false
            }
        }
    }

    /// After decoding: why the parts are not the ones their manifest names (a part
    /// missing or unreadable, too few bytes or too many), if they are not. Reads the parts
    /// the decoding left, to count them.
    pub(super) fn finish(mut self) -> Result<(), String> {
        while self.next_part() {}
        match self.failure.take() {
            Some(why) => Err(why),
            None => self.counted.finish(),
        }
    }
}

/// The bytes ran out (postcard has no error for a source that failed; the reader keeps
/// why).
const PARTS_ENDED: postcard::Error = postcard::Error::DeserializeUnexpectedEnd;

impl<'de, I> postcard::de_flavors::Flavor<'de> for &'de mut PartsReader<I>
where
    I: Iterator<Item = Result<(u32, Vec<u8>), String>>,
{
    type Remainder = ();
    type Source = ();

    fn pop(&mut self) -> postcard::Result<u8> {
        loop {
            if let Some(byte) = self.current.get(self.at) {
                self.at += 1;
                return Ok(*byte);
            }
            if !self.next_part() {
                return Err(PARTS_ENDED);
            }
        }
    }

    fn try_take_n(&mut self, _count: usize) -> postcard::Result<&'de [u8]> {
        // A value borrowed from the encoding would outlive the part it is in. Only the
        // layouts of versions 1 and 2 borrow, and the codec puts those together first;
        // the tests decode every stored version through this reader.
        Err(PARTS_ENDED)
    }

    fn try_take_n_temp<'a>(&'a mut self, count: usize) -> postcard::Result<&'a [u8]>
    where
        'de: 'a,
    {
        let end = self.at.saturating_add(count);
        if end <= self.current.len() {
            let start = std::mem::replace(&mut self.at, end);
            return self.current.get(start..end).ok_or(PARTS_ENDED);
        }
        // Spans parts. A corrupt length claims at most what the parts hold: they run out.
        self.spanning.clear();
        while self.spanning.len() < count {
            if self.at == self.current.len() && !self.next_part() {
                return Err(PARTS_ENDED);
            }
            let take = (count - self.spanning.len()).min(self.current.len() - self.at);
            let end = self.at + take;
            self.spanning
                .extend_from_slice(self.current.get(self.at..end).ok_or(PARTS_ENDED)?);
            self.at = end;
        }
        Ok(&self.spanning)
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Decodes the checkpoint whose parts `parts` yields (see [`PartsReader`]), or says why
/// it cannot: the parts' fault first, since a decoding that ran out of bytes only repeats
/// it.
pub(super) fn decode_parts(
    count: u32,
    length: u64,
    parts: impl Iterator<Item = Result<(u32, Vec<u8>), String>>,
) -> Result<Snapshot, String> {
    let mut reader = PartsReader::new(count, length, parts);
    let decoded = codec::decode_snapshot_from(&mut reader);
    reader.finish()?;
    decoded.map_err(|err| err.to_string())
}

/// Decodes the checkpoint at `revision` whose `checkpoints` value is `stored`: that value
/// itself, or its parts read one at a time.
fn decode_checkpoint(
    revision: u64,
    stored: &[u8],
    parts: Option<&impl ReadableTable<(u64, u32), &'static [u8]>>,
    path: &std::path::Path,
) -> Result<Snapshot, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        message: format!("checkpoint {revision}: {message}"),
    };
    let (count, length) = match read_parts_manifest(stored) {
        None => return codec::decode_snapshot(stored).map_err(|err| corrupt(err.to_string())),
        Some(manifest) => manifest.map_err(corrupt)?,
    };
    let parts = parts.ok_or_else(|| corrupt("its parts' table is missing".into()))?;
    let range = parts
        .range((revision, 0)..(revision, count))
        .map_err(|err| StoreError::from_redb(path.to_path_buf(), err))?;
    // A part that cannot be read makes the checkpoint unreadable, said as such.
    let read = range.map(|part| {
        part.map(|(key, bytes)| (key.value().1, bytes.value().to_vec()))
            .map_err(|err| format!("a part cannot be read: {err}"))
    });
    decode_parts(count, length, read).map_err(corrupt)
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
        Some((revision, bytes)) => decode_checkpoint(revision.value(), bytes.value(), parts, path)?,
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
