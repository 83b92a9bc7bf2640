//! Which file the store has open, and whether the data directory still holds it.
//!
//! redb writes through the file descriptor it opened. If the file is deleted, moved away,
//! or another file is put in its place (with the data directory itself, for instance),
//! every commit still succeeds, into a file nobody will open again: the next start finds
//! nothing, or something else. Comparing the device and inode found at the path with the
//! ones opened is how the server notices.

use std::{io, os::unix::fs::MetadataExt as _, path::Path};

/// A file's device and inode: what stays the same however the file is written, and differs
/// for any other file. (An inode number is given again only once its file is gone for good;
/// the store holds its file open, so no other file can take its number meanwhile.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileIdentity {
    device: u64,
    inode: u64,
}

impl FileIdentity {
    /// The identity of the file at `path` now (following symbolic links, as opening it
    /// did).
    pub(crate) fn of(path: &Path) -> io::Result<Self> {
        let metadata = std::fs::metadata(path)?;
        Ok(Self {
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }
}

/// What became of the database file, as seen from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FileLoss {
    /// Nothing is at the path (the file or its directory was deleted or moved away).
    #[error("was deleted or moved away (with its directory, perhaps)")]
    Missing,
    /// Another file is at the path.
    #[error("was replaced by another file")]
    Replaced,
}

/// Compares the file opened with what `found` at its path: `Ok(Some(loss))` when the path no
/// longer leads to the opened file, `Ok(None)` when it does, `Err` when the path could not
/// be examined (permission denied, for instance), which proves nothing either way.
pub(crate) fn compare(
    opened: FileIdentity,
    found: io::Result<FileIdentity>,
) -> io::Result<Option<FileLoss>> {
    match found {
        Ok(found) if found == opened => Ok(None),
        Ok(_) => Ok(Some(FileLoss::Replaced)),
        // A directory on the path replaced by a file reads as "not a directory".
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(Some(FileLoss::Missing))
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const OPENED: FileIdentity = FileIdentity {
        device: 8,
        inode: 42,
    };

    #[test]
    fn the_same_device_and_inode_is_the_opened_file() {
        assert_eq!(compare(OPENED, Ok(OPENED)).unwrap(), None);
    }

    #[test]
    fn another_inode_or_device_is_a_replacement() {
        for other in [
            FileIdentity {
                device: 8,
                inode: 43,
            },
            FileIdentity {
                device: 9,
                inode: 42,
            },
        ] {
            assert_eq!(
                compare(OPENED, Ok(other)).unwrap(),
                Some(FileLoss::Replaced)
            );
        }
    }

    #[test]
    fn a_missing_file_or_directory_is_missing() {
        for kind in [io::ErrorKind::NotFound, io::ErrorKind::NotADirectory] {
            assert_eq!(
                compare(OPENED, Err(kind.into())).unwrap(),
                Some(FileLoss::Missing)
            );
        }
    }

    #[test]
    fn a_path_that_cannot_be_examined_proves_nothing() {
        let found = compare(OPENED, Err(io::ErrorKind::PermissionDenied.into()));
        assert_eq!(found.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn a_real_file_keeps_its_identity_until_it_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        std::fs::write(&path, b"first").unwrap();
        let opened = FileIdentity::of(&path).unwrap();
        std::fs::write(&path, b"rewritten in place").unwrap();
        assert_eq!(compare(opened, FileIdentity::of(&path)).unwrap(), None);
        let other = dir.path().join("other");
        std::fs::write(&other, b"another file").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_eq!(
            compare(opened, FileIdentity::of(&path)).unwrap(),
            Some(FileLoss::Replaced)
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            compare(opened, FileIdentity::of(&path)).unwrap(),
            Some(FileLoss::Missing)
        );
    }
}
