//! Getting the store writable again after a failed commit, and noticing that its file is
//! gone.
//!
//! redb latches an I/O error: after one, every call on that `Database` fails with
//! `PreviousIo` until it is closed and opened again (opening then repairs the file from
//! its last durable commit). A commit that reported an error may nevertheless have reached
//! the file (its header written before a failed sync): reconciling removes what the server
//! never acknowledged, so that a failed change leaves no trace.

use std::sync::Arc;

use redb::ReadableTable;

use super::{
    RedbStore, StoreError,
    changelog::read_changes,
    file_identity::{FileIdentity, compare},
    redb_store::{AUDIT, CHANGES, META, META_REVISION, REQUESTS},
};
use crate::engine::Revision;

/// What the writer knows to be durable: what its successful commits wrote last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Durable {
    /// The newest revision acknowledged.
    pub revision: u64,
    /// The id of the last audit record stored (0 for none).
    pub last_audit_id: u64,
}

/// What recovering did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Whether the database had to be closed and opened again.
    pub reopened: bool,
    /// Changes of a commit reported as failed that had reached the file, removed.
    pub discarded_changes: u64,
    /// Audit records of such a commit, removed (they are written again, by the next
    /// commit, from the writer's queue).
    pub discarded_audit: u64,
}

impl RedbStore {
    /// Whether the file at the database's path is still the one this store opened.
    /// [`StoreError::FileLost`] if not; [`StoreError::Io`] if the path cannot be examined.
    pub fn check_file(&self) -> Result<(), StoreError> {
        match compare(self.identity, FileIdentity::of(&self.path)) {
            Ok(None) => Ok(()),
            Ok(Some(loss)) => Err(StoreError::FileLost {
                path: self.path.clone(),
                loss,
            }),
            Err(source) => Err(StoreError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// The id of the newest audit record (0 for none).
    pub fn last_audit_id(&self) -> Result<u64, StoreError> {
        let txn = self.begin_read()?;
        let trail = txn.open_table(AUDIT).map_err(|e| self.redb_error(e))?;
        let last = trail.last().map_err(|e| self.redb_error(e))?;
        Ok(last.map_or(0, |(id, _)| id.value()))
    }

    /// Makes the store writable again after a failed commit: reopens the database if the
    /// failure left it unusable, removes whatever reached the file beyond `durable`, and
    /// commits (durably) to prove that writing works again. Blocking.
    ///
    /// Fails as long as the fault lasts; [`StoreError::FileLost`] or
    /// [`StoreError::Behind`] if the file at the path is not the one written before (it
    /// is never opened, or is closed again at once).
    pub fn recover(&self, durable: Durable) -> Result<Recovered, StoreError> {
        self.check_file()?;
        match self.reconcile(durable) {
            Err(StoreError::NeedsReopen { .. } | StoreError::Reopening { .. }) => {}
            done => return done,
        }
        self.reopen()?;
        Ok(Recovered {
            reopened: true,
            ..self.reconcile(durable)?
        })
    }

    /// Closes the database and opens the same file again.
    fn reopen(&self) -> Result<(), StoreError> {
        if let Some(old) = self.db.swap(None) {
            match Arc::try_unwrap(old) {
                // Its error is the failure that made it unusable, already reported.
                Ok(old) => drop(old.close()),
                Err(in_use) => {
                    // A reader still holds it (the file lock with it): try again later
                    // rather than wait here with every write refused.
                    self.db.store(Some(in_use));
                    return Err(StoreError::Storage {
                        path: self.path.clone(),
                        message: "still in use by a reader; it is reopened on the next attempt"
                            .to_owned(),
                    });
                }
            }
        }
        // Opening repairs the file it finds: never open another file than ours.
        self.check_file()?;
        let db = Self::open_existing(&self.path)?;
        if let Err(err) = self.check_file() {
            drop(db.close());
            return Err(err);
        }
        self.db.store(Some(Arc::new(db)));
        Ok(())
    }

    /// In one durable transaction: removes changes above `durable.revision` (with their
    /// request ids) and audit records above `durable.last_audit_id`, and writes the
    /// revision. The write is also the proof that committing works: it dirties pages and
    /// syncs them like any commit.
    fn reconcile(&self, durable: Durable) -> Result<Recovered, StoreError> {
        let txn = self.begin_write()?;
        let mut recovered = Recovered::default();
        {
            let mut meta = txn.open_table(META).map_err(|e| self.redb_error(e))?;
            let found = meta
                .get(META_REVISION)
                .map_err(|e| self.redb_error(e))?
                .map_or(0, |v| v.value());
            if found < durable.revision {
                return Err(StoreError::Behind {
                    path: self.path.clone(),
                    found,
                    acknowledged: durable.revision,
                });
            }
            let mut changes = txn.open_table(CHANGES).map_err(|e| self.redb_error(e))?;
            let unacknowledged = read_changes(
                &changes,
                Revision::new(durable.revision),
                usize::MAX,
                &self.path,
            )?;
            let mut requests = txn.open_table(REQUESTS).map_err(|e| self.redb_error(e))?;
            for record in unacknowledged {
                changes
                    .remove(record.revision.get())
                    .map_err(|e| self.redb_error(e))?;
                if let Some(id) = &record.request_id {
                    requests
                        .remove(id.as_str())
                        .map_err(|e| self.redb_error(e))?;
                }
                recovered.discarded_changes += 1;
            }
            meta.insert(META_REVISION, durable.revision)
                .map_err(|e| self.redb_error(e))?;
            let mut trail = txn.open_table(AUDIT).map_err(|e| self.redb_error(e))?;
            let unstored: Vec<u64> = trail
                .range(durable.last_audit_id.saturating_add(1)..)
                .map_err(|e| self.redb_error(e))?
                .map(|entry| entry.map(|(id, _)| id.value()))
                .collect::<Result<_, _>>()
                .map_err(|e| self.redb_error(e))?;
            for id in unstored {
                trail.remove(id).map_err(|e| self.redb_error(e))?;
                recovered.discarded_audit += 1;
            }
        }
        txn.commit().map_err(|e| self.redb_error(e))?;
        Ok(recovered)
    }
}

#[cfg(test)]
pub(super) mod tests;
