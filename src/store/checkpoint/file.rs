//! Checkpoint files: the encoded state at one revision in a file of its own beside the
//! database, `checkpoints/<revision>.azck` under the data directory.
//!
//! Stored in redb, a checkpoint of 1 M grants+memberships was some 600 transactions of one
//! part each: every one took redb's write lock and synced the database file between the
//! writer's commits, so the writer now and then waited behind one (a 118 ms commit in the
//! writes bench), and every checkpoint's pages, freed by the next, left the file larger
//! than what it held. A file is written without the database: only the small transaction
//! that names it, at the end, is the writer's business.
//!
//! Written under a temporary name, synced every few MiB (so that no sync at the end has
//! the whole state to flush while the writer syncs its own commits), synced, renamed and
//! its directory synced; only then does `checkpoints` name it (see
//! [`RedbStore::write_checkpoint`]). A crash before that leaves a file nothing names, which
//! the next checkpoint removes or reuses.
//!
//! The replaced checkpoint's file is kept as the spare the next one is written over,
//! rather than removed: on a file system mounted with `discard` (as this project's
//! machines are), removing a 150 MB file sends its freed blocks to the disk with the next
//! journal commit, which held a concurrent sync of the database up for 17 ms in a test,
//! where writing over a file's blocks held it up for 2 ms (and allocates none). The data
//! directory holds two checkpoints' bytes for it.

use std::{
    fs::File,
    io::{Read as _, Write as _},
    path::{Path, PathBuf},
};

use super::super::{RedbStore, StoreError, codec};
#[cfg(test)]
use crate::engine::Revision;
use crate::engine::Snapshot;

/// The directory of checkpoint files, under the data directory.
pub const CHECKPOINT_DIR: &str = "checkpoints";

/// The first bytes of a checkpoint file; its revision (little-endian `u64`) and the
/// encoded snapshot follow.
const FILE_MAGIC: &[u8; 8] = b"AZCKPT01";

/// The bytes before the encoding: the magic and the revision.
const HEADER: usize = 16;

/// What `checkpoints` holds for a checkpoint kept in a file: this marker, then the file's
/// length (little-endian `u64`). The file's name is the revision's.
const IN_FILE: &[u8; 8] = b"AZFILE01";

/// How much is written between two syncs of the file's data.
const SYNC_EVERY: usize = 4 << 20;

/// How much the writer gathers before writing (the encoder writes a few bytes at a time).
const WRITE_BUFFER: usize = 1 << 20;

/// The file extension of a finished checkpoint file.
const EXTENSION: &str = "azck";

/// The file extension of a checkpoint file being written.
const PARTIAL: &str = "partial";

/// The name of the replaced checkpoint's file, kept to write the next one over.
const SPARE: &str = "spare.partial";

/// The directory of checkpoint files beside the database file `db_path`.
pub(crate) fn checkpoint_dir(db_path: &Path) -> PathBuf {
    db_path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(CHECKPOINT_DIR)
}

/// The file of the checkpoint at `revision` in `dir`.
fn file_of(dir: &Path, revision: u64) -> PathBuf {
    dir.join(format!("{revision:020}.{EXTENSION}"))
}

/// The `checkpoints` value naming a checkpoint file of `length` bytes.
pub(super) fn file_manifest(length: u64) -> Vec<u8> {
    let mut manifest = IN_FILE.to_vec();
    manifest.extend_from_slice(&length.to_le_bytes());
    manifest
}

/// The file length a `checkpoints` value names, `None` for a checkpoint not kept in a
/// file, or why the value is malformed.
pub(super) fn read_file_manifest(stored: &[u8]) -> Option<Result<u64, String>> {
    let manifest = stored.strip_prefix(IN_FILE.as_slice())?;
    Some(
        manifest
            .first_chunk::<8>()
            .map(|length| u64::from_le_bytes(*length))
            .ok_or_else(|| "its file's length is cut short".to_owned()),
    )
}

impl RedbStore {
    /// Writes `snapshot` to its checkpoint file, synced and under its final name, and
    /// returns the file's length. Nothing names it yet.
    pub(super) fn write_checkpoint_file(&self, snapshot: &Snapshot) -> Result<u64, StoreError> {
        let dir = checkpoint_dir(&self.path);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let revision = snapshot.revision().get();
        let done = file_of(&dir, revision);
        let partial = done.with_extension(PARTIAL);
        // Over the spare's blocks if there is one (see the module's notes), else new.
        let file = match std::fs::rename(dir.join(SPARE), &partial) {
            Ok(()) => std::fs::OpenOptions::new().write(true).open(&partial),
            Err(_) => File::create(&partial),
        }
        .map_err(io(&partial))?;
        let mut writer = SyncingWriter {
            file,
            buffer: Vec::with_capacity(WRITE_BUFFER),
            unsynced: 0,
            length: 0,
        };
        writer.write_all(&header(revision)).map_err(io(&partial))?;
        if let Err(err) = codec::encode_into(snapshot, &mut writer) {
            // The encoder reports a failed write as its own error: the file's error, if
            // any, is the one to report.
            let _ = std::fs::remove_file(&partial);
            return Err(StoreError::Storage {
                path: partial,
                message: format!("cannot write checkpoint {revision}: {err}"),
            });
        }
        let length = writer.finish().map_err(io(&partial))?;
        std::fs::rename(&partial, &done).map_err(io(&done))?;
        File::open(&dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io(&dir))?;
        Ok(length)
    }

    /// The bytes of every file in the checkpoint directory.
    pub(crate) fn checkpoint_files_size(&self) -> Result<u64, StoreError> {
        let dir = checkpoint_dir(&self.path);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => return Err(StoreError::Io { path: dir, source }),
        };
        let mut bytes = 0;
        for entry in entries {
            let entry = entry.map_err(|source| StoreError::Io {
                path: dir.clone(),
                source,
            })?;
            bytes += entry.metadata().map_or(0, |meta| meta.len());
        }
        Ok(bytes)
    }

    /// Keeps one checkpoint file other than `revision`'s as the spare the next checkpoint
    /// is written over, and removes the rest (left by a crash).
    pub(super) fn retire_checkpoint_files_except(&self, revision: u64) -> Result<(), StoreError> {
        let dir = checkpoint_dir(&self.path);
        let keep = file_of(&dir, revision);
        let spare = dir.join(SPARE);
        let mut have_spare = spare.exists();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(StoreError::Io { path: dir, source }),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let ours = path
                .extension()
                .is_some_and(|ext| ext == EXTENSION || ext == PARTIAL);
            if !ours || path == keep || path == spare {
                continue;
            }
            let io = |source| StoreError::Io {
                path: path.clone(),
                source,
            };
            if have_spare {
                std::fs::remove_file(&path).map_err(io)?;
            } else {
                std::fs::rename(&path, &spare).map_err(io)?;
                have_spare = true;
            }
        }
        Ok(())
    }
}

/// The first bytes of the checkpoint file of `revision`.
fn header(revision: u64) -> [u8; HEADER] {
    let mut header = [0; HEADER];
    let (magic, number) = header.split_at_mut(FILE_MAGIC.len());
    magic.copy_from_slice(FILE_MAGIC);
    number.copy_from_slice(&revision.to_le_bytes());
    header
}

/// Reads the encoded snapshot of the checkpoint at `revision` from its file beside the
/// database `db_path`, checking it is the `length` bytes `checkpoints` names.
///
/// A reader beside the server (`authzd export`) may have opened the file just before it
/// became the spare that the next checkpoint is written over, from its first bytes on:
/// the header read again once the rest is read tells whether that began meanwhile.
pub(super) fn read_checkpoint_file(
    db_path: &Path,
    revision: u64,
    length: u64,
) -> Result<Vec<u8>, StoreError> {
    let path = file_of(&checkpoint_dir(db_path), revision);
    let corrupt = |message: String| StoreError::Corrupt {
        path: path.clone(),
        message: format!("checkpoint {revision}: {message}"),
    };
    let mut file = File::open(&path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            corrupt("its file is missing".into())
        } else {
            StoreError::Io {
                path: path.clone(),
                source,
            }
        }
    })?;
    let io = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    let found = file.metadata().map_err(io)?.len();
    if found != length {
        return Err(corrupt(format!(
            "its file holds {found} bytes, not the {length} written"
        )));
    }
    let expected = header(revision);
    let mut first = [0; HEADER];
    if file.read_exact(&mut first).is_err() || !first.starts_with(FILE_MAGIC) {
        return Err(corrupt(
            "its file does not start as a checkpoint file".into(),
        ));
    }
    if first != expected {
        return Err(corrupt("its file holds another revision".into()));
    }
    // The encoding alone, read into a buffer of its size.
    let encoding_length = length.saturating_sub(HEADER as u64);
    let mut bytes = Vec::with_capacity(usize::try_from(encoding_length).unwrap_or_default());
    file.read_to_end(&mut bytes).map_err(io)?;
    let mut again = [0; HEADER];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut again, 0).map_err(io)?;
    if again != expected || bytes.len() as u64 != encoding_length {
        return Err(corrupt("its file was replaced while it was read".into()));
    }
    Ok(bytes)
}

/// Writes to a file through a buffer, syncing its data every [`SYNC_EVERY`] bytes.
struct SyncingWriter {
    file: File,
    buffer: Vec<u8>,
    /// Bytes written since the last sync.
    unsynced: usize,
    /// Bytes written in all.
    length: u64,
}

impl SyncingWriter {
    fn write_buffer(&mut self) -> std::io::Result<()> {
        self.file.write_all(&self.buffer)?;
        self.unsynced += self.buffer.len();
        self.length += u64::try_from(self.buffer.len()).unwrap_or(u64::MAX);
        self.buffer.clear();
        if self.unsynced >= SYNC_EVERY {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(())
    }

    /// Writes the rest, cuts what a spare held beyond it and syncs the file; returns its
    /// length.
    fn finish(mut self) -> std::io::Result<u64> {
        self.write_buffer()?;
        self.file.set_len(self.length)?;
        self.file.sync_all()?;
        Ok(self.length)
    }
}

impl std::io::Write for SyncingWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.buffer.len() + bytes.len() > WRITE_BUFFER {
            self.write_buffer()?;
        }
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The revision a checkpoint file's name gives, for listing them.
#[cfg(test)]
pub(super) fn revision_of_file(path: &Path) -> Option<Revision> {
    let stem = path.file_stem()?.to_str()?;
    (path.extension()? == EXTENSION)
        .then(|| stem.parse().ok().map(Revision::new))
        .flatten()
}
