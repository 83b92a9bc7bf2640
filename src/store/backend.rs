//! The one store interface the rest of the server sees: the embedded redb file, or a
//! PostgreSQL database shared by several replicas. Every call blocks (run it off the
//! executor threads), whichever store answers it.

use std::path::Path;

use super::{
    AuditQuery, AuditRecord, Durable, RedbStore, Retention, StoreError,
    postgres::{Role, STATE_TIMEOUT, SharedDatabase},
    recovery::Recovered,
};
use crate::engine::{ChangeRecord, Revision, Snapshot, Timestamp};

/// The durable store of one server.
#[derive(Debug, Clone)]
pub enum Store {
    /// The embedded database file: this process is its only writer.
    Redb(RedbStore),
    /// A PostgreSQL database: other replicas may write to it too.
    Postgres(SharedDatabase),
}

impl Store {
    /// Whether other replicas may append to the change log: the writer then takes the
    /// writers' lock and catches up before each group, and follows their commits.
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// Where the store is, for messages: the file's path, or the database's host, port
    /// and name (never a password).
    pub fn location(&self) -> String {
        match self {
            Self::Redb(store) => store.path().display().to_string(),
            Self::Postgres(database) => database.location(),
        }
    }

    /// The database file, for the store-size metric; `None` for a database server.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::Redb(store) => Some(store.path()),
            Self::Postgres(_) => None,
        }
    }

    /// Appends change records and the audit records of the calls that made them (and of
    /// calls refused beside them) in one durable transaction: on `Ok` all are durable, on
    /// `Err` none is.
    pub fn append_with_audit(
        &self,
        records: &[ChangeRecord],
        audit: &mut [AuditRecord],
    ) -> Result<(), StoreError> {
        match self {
            Self::Redb(store) => store.append_with_audit(records, audit),
            Self::Postgres(database) => Ok(database.run(Role::Writer, async |store| {
                store.append_with_audit(records, audit).await
            })?),
        }
    }

    /// Opens a group: takes the writers' lock, so that no other replica appends until
    /// the group's append commits or [`Self::end_group`] gives it up; reads made by the
    /// writer in between see the newest state. Nothing to take for redb, whose only writer
    /// is this process.
    ///
    /// Answers the first `limit` changes after `after` (what other replicas committed
    /// since; read with the lock, in the same round trip).
    pub fn begin_group(
        &self,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        match self {
            Self::Redb(_) => Ok(Vec::new()),
            Self::Postgres(database) => Ok(database.run(Role::Writer, async |store| {
                store.begin_group(after, limit).await
            })?),
        }
    }

    /// Gives up a group the append did not end (after a failure before it).
    pub fn end_group(&self) -> Result<(), StoreError> {
        match self {
            Self::Redb(_) => Ok(()),
            Self::Postgres(database) => {
                Ok(database.run(Role::Writer, async |store| store.end_group().await)?)
            }
        }
    }

    /// The committed change an earlier request with this id made, while the log holds it.
    /// On the writer's connection: asked while it holds the writers' lock.
    pub fn change_for_request(&self, request_id: &str) -> Result<Option<ChangeRecord>, StoreError> {
        match self {
            Self::Redb(store) => store.change_for_request(request_id),
            Self::Postgres(database) => Ok(database.run(Role::Writer, async |store| {
                store.change_for_request(request_id).await
            })?),
        }
    }

    /// Change records with revisions above `after`, ascending, at most `limit`.
    pub fn changes_after(
        &self,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        self.changes_after_as(Role::Reader, after, limit)
    }

    /// [`Self::changes_after`] for the writer catching up, on its own connection.
    pub fn changes_for_writer(
        &self,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        self.changes_after_as(Role::Writer, after, limit)
    }

    fn changes_after_as(
        &self,
        role: Role,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        match self {
            Self::Redb(store) => store.changes_after(after, limit),
            Self::Postgres(database) => {
                Ok(database.run(role, async |store| store.changes_after(after, limit).await)?)
            }
        }
    }

    /// The oldest revision still in the change log, if any.
    pub fn oldest_change(&self) -> Result<Option<Revision>, StoreError> {
        match self {
            Self::Redb(store) => store.oldest_change(),
            Self::Postgres(database) => {
                Ok(database.run(Role::Reader, async |store| store.oldest_change().await)?)
            }
        }
    }

    /// Writes `snapshot` as the checkpoint, replacing older ones. `false` when it was
    /// not written because another replica is writing one or has written a newer one.
    pub fn write_checkpoint(&self, snapshot: &Snapshot) -> Result<bool, StoreError> {
        match self {
            Self::Redb(store) => store.write_checkpoint(snapshot).map(|()| true),
            Self::Postgres(database) => Ok(database.run_within(
                Role::Checkpointer,
                STATE_TIMEOUT,
                async |store| store.write_checkpoint(snapshot).await,
            )?),
        }
    }

    /// The revision of the newest checkpoint, if any.
    pub fn checkpoint_revision(&self) -> Result<Option<Revision>, StoreError> {
        match self {
            Self::Redb(store) => store.checkpoint_revision(),
            Self::Postgres(database) => Ok(database.run(Role::Checkpointer, async |store| {
                store.checkpoint_revision().await
            })?),
        }
    }

    /// Deletes the change records past retention that the newest checkpoint covers.
    pub fn prune_changes(&self, retention: Retention, now: Timestamp) -> Result<u64, StoreError> {
        match self {
            Self::Redb(store) => store.prune_changes(retention, now),
            Self::Postgres(database) => Ok(database.run(Role::Checkpointer, async |store| {
                store.prune_changes(retention, now).await
            })?),
        }
    }

    /// The current state: the newest checkpoint plus every change after it.
    pub fn load_snapshot(&self) -> Result<Snapshot, StoreError> {
        match self {
            Self::Redb(store) => store.load_snapshot(),
            Self::Postgres(database) => Ok(database.run_within(
                Role::Writer,
                STATE_TIMEOUT,
                async |store| store.load_snapshot().await,
            )?),
        }
    }

    /// Up to `limit` audit records matching `query` with ids above `after`, in order.
    pub fn audit_records(
        &self,
        query: &AuditQuery,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        match self {
            Self::Redb(store) => store.audit_records(query, after, limit),
            Self::Postgres(database) => Ok(database.run(Role::Reader, async |store| {
                store.audit_records(query, after, limit).await
            })?),
        }
    }

    /// Deletes audit records older than `before`; returns how many.
    pub fn prune_audit(&self, before: Timestamp) -> Result<u64, StoreError> {
        match self {
            Self::Redb(store) => store.prune_audit(before),
            Self::Postgres(database) => Ok(database.run(Role::Checkpointer, async |store| {
                store.prune_audit(before).await
            })?),
        }
    }

    /// Whether the store is still the one opened: redb's file still at its path. A
    /// database server has no file to lose.
    pub fn check_file(&self) -> Result<(), StoreError> {
        match self {
            Self::Redb(store) => store.check_file(),
            Self::Postgres(_) => Ok(()),
        }
    }

    /// What the store holds durably at start: the newest revision of `snapshot` and the
    /// last audit id (redb's recovery removes anything beyond them after a failed commit).
    pub fn durable(&self, snapshot: &Snapshot) -> Result<Durable, StoreError> {
        Ok(Durable {
            revision: snapshot.revision().get(),
            last_audit_id: match self {
                Self::Redb(store) => store.last_audit_id()?,
                // PostgreSQL commits a group whole or not at all: nothing to reconcile.
                Self::Postgres(_) => 0,
            },
        })
    }

    /// Makes the store writable again after a failed commit. For PostgreSQL, whose
    /// transactions leave nothing behind when they fail, that is a working connection.
    pub fn recover(&self, durable: Durable) -> Result<Recovered, StoreError> {
        match self {
            Self::Redb(store) => store.recover(durable),
            Self::Postgres(database) => {
                database.run(Role::Writer, async |store| store.revision().await)?;
                Ok(Recovered::default())
            }
        }
    }
}
