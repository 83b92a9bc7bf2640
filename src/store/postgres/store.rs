//! The PostgreSQL store's reads and writes: the records of redb's tables, in the same
//! encoding, in the tables of `migrations/`.
//!
//! Invariants:
//! - Revisions stay gap-free: a group's records are appended only right after the newest
//!   stored revision, checked inside the appending transaction under the writers' advisory
//!   lock, so a replica that is behind is refused (`Behind`) instead of forking the log.
//! - A group's change records, request ids and audit records commit together or not at
//!   all; audit ids continue the trail's, taken under the same lock.
//! - Values are decoded with the codec of every version (`store/codec.rs`), exactly as
//!   from redb; a value that does not decode is `Corrupt`, never skipped.

use tokio_postgres::{Client, Transaction};

use super::{DatabaseError, failed, locked_transaction};
use crate::{
    engine::{ChangeRecord, Revision, Snapshot, Timestamp},
    store::{
        AuditQuery, AuditRecord,
        checkpoint::{REPLAY_CHUNK, Replay},
        codec,
    },
};

/// The advisory lock key that serialises writers across replicas (`authzd` in ASCII,
/// then 2): held for one appending transaction.
const WRITER_LOCK: i64 = 0x0061_7574_687a_6402;

/// The PostgreSQL store: one connection, its schema migrated.
#[derive(Debug)]
pub struct PgStore {
    client: Client,
}

/// The error of a stored value that does not decode.
fn corrupt(what: String) -> impl Fn(codec::CodecError) -> DatabaseError {
    move |err| DatabaseError::Corrupt {
        message: format!("{what}: {err}"),
    }
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

fn to_i64(value: u64) -> Result<i64, DatabaseError> {
    i64::try_from(value).map_err(|_| DatabaseError::Corrupt {
        message: format!("{value} is beyond PostgreSQL's BIGINT"),
    })
}

impl PgStore {
    /// Connects to the database at `url` and applies its pending migrations.
    pub async fn open(url: &str, tls: &super::DatabaseTls) -> Result<Self, DatabaseError> {
        let mut client = super::connect(url, tls).await?;
        super::migrate(&mut client).await?;
        Ok(Self { client })
    }

    /// The newest committed revision (0 before the first change).
    pub async fn revision(&self) -> Result<Revision, DatabaseError> {
        let row = self
            .client
            .query_one(
                "SELECT GREATEST(
                    (SELECT COALESCE(MAX(revision), 0) FROM authzd_changes),
                    (SELECT COALESCE(MAX(revision), 0) FROM authzd_checkpoints))",
                &[],
            )
            .await
            .map_err(failed("read the newest revision"))?;
        Ok(Revision::new(to_u64(row.get(0))))
    }

    /// Appends a group of change records (consecutive revisions, the first right after
    /// the newest stored one) with their request ids and the audit records of the calls
    /// that made them, in one transaction: on `Ok` all are durable, on `Err` none is.
    pub async fn append_with_audit(
        &mut self,
        records: &[ChangeRecord],
        audit: &mut [AuditRecord],
    ) -> Result<(), DatabaseError> {
        let encoded = records
            .iter()
            .map(|record| {
                codec::encode(record).map_err(corrupt(format!("change {}", record.revision)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let transaction = locked_transaction(&mut self.client, WRITER_LOCK).await?;
        if let Some(first) = records.first() {
            let newest: i64 = transaction
                .query_one("SELECT COALESCE(MAX(revision), 0) FROM authzd_changes", &[])
                .await
                .map_err(failed("read the newest revision"))?
                .get(0);
            if first.revision.get() != to_u64(newest).saturating_add(1) {
                return Err(DatabaseError::Behind {
                    newest: to_u64(newest),
                    first: first.revision.get(),
                });
            }
        }
        for (record, bytes) in records.iter().zip(&encoded) {
            let revision = to_i64(record.revision.get())?;
            transaction
                .execute(
                    "INSERT INTO authzd_changes (revision, committed_at, record) VALUES ($1, $2, $3)",
                    &[&revision, &record.committed_at.unix_millis(), bytes],
                )
                .await
                .map_err(failed("append a change"))?;
            if let Some(id) = &record.request_id {
                transaction
                    .execute(
                        "INSERT INTO authzd_request_ids (request_id, revision) VALUES ($1, $2)",
                        &[id, &revision],
                    )
                    .await
                    .map_err(failed("record a request id"))?;
            }
        }
        write_audit(&transaction, audit).await?;
        transaction
            .commit()
            .await
            .map_err(failed("commit the changes"))
    }

    /// Change records with revisions above `after`, ascending, at most `limit`.
    pub async fn changes_after(
        &self,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>, DatabaseError> {
        let rows = self
            .client
            .query(
                "SELECT revision, record FROM authzd_changes WHERE revision > $1 ORDER BY revision LIMIT $2",
                &[&to_i64(after.get())?, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .await
            .map_err(failed("read changes"))?;
        rows.iter()
            .map(|row| {
                let revision: i64 = row.get(0);
                codec::decode_change(row.get(1)).map_err(corrupt(format!("change {revision}")))
            })
            .collect()
    }

    /// The committed change an earlier request with this id made, while the log holds it.
    pub async fn change_for_request(
        &self,
        request_id: &str,
    ) -> Result<Option<ChangeRecord>, DatabaseError> {
        let row = self
            .client
            .query_opt(
                "SELECT c.revision, c.record FROM authzd_request_ids r
                 JOIN authzd_changes c ON c.revision = r.revision WHERE r.request_id = $1",
                &[&request_id],
            )
            .await
            .map_err(failed("look up a request id"))?;
        row.map(|row| {
            let revision: i64 = row.get(0);
            codec::decode_change(row.get(1)).map_err(corrupt(format!("change {revision}")))
        })
        .transpose()
    }

    /// Writes `snapshot` as the checkpoint, replacing older ones, in one transaction.
    pub async fn write_checkpoint(&mut self, snapshot: &Snapshot) -> Result<(), DatabaseError> {
        let revision = snapshot.revision();
        let bytes = codec::encode(snapshot).map_err(corrupt(format!("checkpoint {revision}")))?;
        let revision = to_i64(revision.get())?;
        let transaction = self
            .client
            .transaction()
            .await
            .map_err(failed("begin a transaction"))?;
        transaction
            .execute(
                "INSERT INTO authzd_checkpoints (revision, snapshot) VALUES ($1, $2)
                 ON CONFLICT (revision) DO NOTHING",
                &[&revision, &bytes],
            )
            .await
            .map_err(failed("write a checkpoint"))?;
        transaction
            .execute(
                "DELETE FROM authzd_checkpoints WHERE revision < $1",
                &[&revision],
            )
            .await
            .map_err(failed("drop older checkpoints"))?;
        transaction
            .commit()
            .await
            .map_err(failed("commit the checkpoint"))
    }

    /// The current state: the newest checkpoint plus every change after it, read in one
    /// repeatable-read transaction (a consistent view while other replicas append).
    pub async fn load_snapshot(&mut self) -> Result<Snapshot, DatabaseError> {
        let transaction = self
            .client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(failed("begin a transaction"))?;
        let checkpoint = transaction
            .query_opt(
                "SELECT revision, snapshot FROM authzd_checkpoints ORDER BY revision DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(failed("read the newest checkpoint"))?;
        let base = match checkpoint {
            Some(row) => {
                let revision: i64 = row.get(0);
                codec::decode_snapshot(row.get(1))
                    .map_err(corrupt(format!("checkpoint {revision}")))?
            }
            None => Snapshot::empty(),
        };
        let first: Option<i64> = transaction
            .query_one("SELECT MIN(revision) FROM authzd_changes", &[])
            .await
            .map_err(failed("read the oldest change"))?
            .get(0);
        if let Some(first) = first
            && to_u64(first) > base.revision().get().saturating_add(1)
        {
            return Err(DatabaseError::Corrupt {
                message: format!(
                    "the change log starts at revision {first} but the checkpoint is at {}: changes are missing",
                    base.revision()
                ),
            });
        }
        let mut replay = Replay::new(base);
        loop {
            let rows = transaction
                .query(
                    "SELECT revision, record FROM authzd_changes WHERE revision > $1 ORDER BY revision LIMIT $2",
                    &[
                        &to_i64(replay.after().get())?,
                        &i64::try_from(REPLAY_CHUNK).unwrap_or(i64::MAX),
                    ],
                )
                .await
                .map_err(failed("read changes"))?;
            let chunk = rows
                .iter()
                .map(|row| {
                    let revision: i64 = row.get(0);
                    codec::decode_change(row.get(1)).map_err(corrupt(format!("change {revision}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if !replay
                .apply(&chunk)
                .map_err(|message| DatabaseError::Corrupt { message })?
            {
                break;
            }
        }
        Ok(replay.finish())
    }

    /// Appends audit records (refusals the writer made no change for) on their own.
    pub async fn append_audit(&mut self, records: &mut [AuditRecord]) -> Result<(), DatabaseError> {
        if records.is_empty() {
            return Ok(());
        }
        let transaction = locked_transaction(&mut self.client, WRITER_LOCK).await?;
        write_audit(&transaction, records).await?;
        transaction
            .commit()
            .await
            .map_err(failed("commit the audit records"))
    }

    /// Up to `limit` audit records matching `query` with ids above `after`, in order.
    pub async fn audit_records(
        &self,
        query: &AuditQuery,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, DatabaseError> {
        let mut out = Vec::new();
        let mut after = to_i64(after)?;
        // The tenant is a column: a tenant's records are read by its index; the other
        // conditions are checked on the decoded records, as redb's reader does.
        loop {
            let rows = self
                .client
                .query(
                    "SELECT id, record FROM authzd_audit
                     WHERE id > $1 AND ($2::TEXT IS NULL OR tenant = $2)
                     ORDER BY id LIMIT 500",
                    &[&after, &query.tenant],
                )
                .await
                .map_err(failed("read the audit trail"))?;
            let Some(last) = rows.last() else {
                return Ok(out);
            };
            after = last.get(0);
            for row in &rows {
                let id: i64 = row.get(0);
                let record = codec::decode_audit(row.get(1))
                    .map_err(corrupt(format!("audit record {id}")))?;
                if query.matches(&record) {
                    out.push(record);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
    }

    /// Deletes audit records older than `before`; returns how many.
    pub async fn prune_audit(&self, before: Timestamp) -> Result<u64, DatabaseError> {
        self.client
            .execute(
                "DELETE FROM authzd_audit WHERE at < $1",
                &[&before.unix_millis()],
            )
            .await
            .map_err(failed("prune the audit trail"))
    }
}

/// Writes audit records after the trail's last id (numbering them), inside a transaction
/// that holds the writers' lock.
async fn write_audit(
    transaction: &Transaction<'_>,
    records: &mut [AuditRecord],
) -> Result<(), DatabaseError> {
    if records.is_empty() {
        return Ok(());
    }
    let last: i64 = transaction
        .query_one("SELECT COALESCE(MAX(id), 0) FROM authzd_audit", &[])
        .await
        .map_err(failed("read the audit trail's last id"))?
        .get(0);
    for (n, record) in records.iter_mut().enumerate() {
        record.id = to_u64(last) + 1 + n as u64;
        record.bound_texts();
        let bytes =
            codec::encode(record).map_err(corrupt(format!("audit record {}", record.id)))?;
        transaction
            .execute(
                "INSERT INTO authzd_audit (id, at, tenant, record) VALUES ($1, $2, $3, $4)",
                &[
                    &to_i64(record.id)?,
                    &record.at.unix_millis(),
                    &record.tenant,
                    &bytes,
                ],
            )
            .await
            .map_err(failed("append an audit record"))?;
    }
    Ok(())
}
