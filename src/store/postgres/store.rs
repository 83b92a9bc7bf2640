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

use tokio_postgres::{Client, types::Type};
use tokio_stream::StreamExt as _;

use super::{DatabaseError, failed};
use crate::{
    engine::{ChangeRecord, Revision, Snapshot, Timestamp},
    store::{
        AuditQuery, AuditRecord, Retention,
        checkpoint::{self, REPLAY_CHUNK, Replay},
        codec,
    },
};

/// The advisory lock key that serialises writers across replicas (`authzd` in ASCII,
/// then 2): held by a replica's writer from catching up to committing its group, and by
/// every appending transaction.
const WRITER_LOCK: i64 = 0x0061_7574_687a_6402;

/// The most a checkpoint's part holds: rows of a few MB, far below PostgreSQL's limit of
/// 1 GB per value, each sent in one statement.
const PART_BYTES: usize = 4 << 20;

/// The advisory lock key of the checkpointer (`authzd`, then 3): one replica at a time
/// writes a checkpoint and prunes; the others skip their turn.
const CHECKPOINT_LOCK: i64 = 0x0061_7574_687a_6403;

/// The newest revision stored: of the change log, or of the checkpoint when the log holds
/// nothing newer (after an import, or once pruned).
const NEWEST_REVISION: &str = "SELECT GREATEST(
    (SELECT COALESCE(MAX(revision), 0) FROM authzd_changes),
    (SELECT COALESCE(MAX(revision), 0) FROM authzd_checkpoints))";

/// Change records after a revision (`$1`), ascending, at most `$2`.
const CHANGES_AFTER: &str =
    "SELECT revision, record FROM authzd_changes WHERE revision > $1 ORDER BY revision LIMIT $2";

/// Decodes rows of (revision, record).
fn decode_changes(rows: &[tokio_postgres::Row]) -> Result<Vec<ChangeRecord>, DatabaseError> {
    rows.iter()
        .map(|row| {
            let revision: i64 = row.get(0);
            codec::decode_change(row.get(1)).map_err(corrupt(format!("change {revision}")))
        })
        .collect()
}

/// Takes the writers' lock until the transaction ends.
const LOCK_WRITERS: &str = "SELECT pg_advisory_xact_lock($1)";

/// The audit trail's last id (0 for none).
const LAST_AUDIT_ID: &str = "SELECT COALESCE(MAX(id), 0) FROM authzd_audit";

/// The channel every commit notifies, with its newest revision: followers listen on it.
pub(crate) const CHANGES_CHANNEL: &str = "authzd_changes";

/// The PostgreSQL store: one connection, its schema migrated.
#[derive(Debug)]
pub struct PgStore {
    client: Client,
    /// The audit trail's last id, while a group's transaction is open on this connection
    /// ([`Self::begin_group`] until the append or [`Self::end_group`]).
    open_group: Option<u64>,
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
        Ok(Self {
            client,
            open_group: None,
        })
    }

    /// Connects to a database whose schema is already migrated.
    pub async fn connect(url: &str, tls: &super::DatabaseTls) -> Result<Self, DatabaseError> {
        Ok(Self {
            client: super::connect(url, tls).await?,
            open_group: None,
        })
    }

    /// Whether the connection has ended (the server went away or closed it).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The newest committed revision (0 before the first change).
    pub async fn revision(&self) -> Result<Revision, DatabaseError> {
        let row = self
            .client
            .query_typed_one(NEWEST_REVISION, &[])
            .await
            .map_err(failed("read the newest revision"))?;
        Ok(Revision::new(to_u64(row.get(0))))
    }

    /// Opens the transaction of a group: takes the writers' lock (waiting for the replica
    /// holding it), reads the audit trail's last id and the first `limit` changes after
    /// `after` (what other replicas committed since this one last read), in one round
    /// trip. From here until the group's append commits (or [`Self::end_group`] rolls
    /// back) no other replica appends, so what this one reads in between is the newest
    /// state. A lost connection releases the lock.
    pub async fn begin_group(
        &mut self,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>, DatabaseError> {
        if self.open_group.is_some() {
            return self.changes_after(after, limit).await;
        }
        let after = to_i64(after.get())?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let changes_params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 2] =
            [(&after, Type::INT8), (&limit, Type::INT8)];
        let begun = tokio::try_join!(
            self.client.batch_execute("BEGIN"),
            self.client
                .execute_typed(LOCK_WRITERS, &[(&WRITER_LOCK, Type::INT8)]),
            self.client.query_typed_one(LAST_AUDIT_ID, &[]),
            self.client.query_typed(CHANGES_AFTER, &changes_params),
        );
        let ((), _, last_audit, changes) =
            self.or_roll_back(begun, "take the writers' lock").await?;
        self.open_group = Some(to_u64(last_audit.get(0)));
        decode_changes(&changes)
    }

    /// `begun`, the outcome of statements that began a transaction; on failure the
    /// transaction (if it began) is rolled back, so that the connection is usable again.
    async fn or_roll_back<T>(
        &self,
        begun: Result<T, tokio_postgres::Error>,
        what: &'static str,
    ) -> Result<T, DatabaseError> {
        match begun {
            Ok(begun) => Ok(begun),
            Err(err) => {
                let _ = self.client.batch_execute("ROLLBACK").await;
                Err(failed(what)(err))
            }
        }
    }

    /// Rolls back a group's transaction the append did not end (nothing to do after it).
    pub async fn end_group(&mut self) -> Result<(), DatabaseError> {
        if self.open_group.take().is_none() {
            return Ok(());
        }
        self.client
            .batch_execute("ROLLBACK")
            .await
            .map_err(failed("end the group's transaction"))
    }

    /// Appends a group of change records (consecutive revisions, the first right after
    /// the newest stored one) with their request ids and the audit records of the calls
    /// that made them, in one transaction: on `Ok` all are durable, on `Err` none is.
    ///
    /// Inside a group's transaction ([`Self::begin_group`], which took the writers' lock
    /// before the writer caught up), one round trip: every insert, the notification and
    /// the commit, sent together (statements sent together run in order on the server; a
    /// failed one turns the commit into a rollback). Outside one, a round trip more first,
    /// for the lock and the newest revision, which must come right before the group.
    pub async fn append_with_audit(
        &mut self,
        records: &[ChangeRecord],
        audit: &mut [AuditRecord],
    ) -> Result<(), DatabaseError> {
        if self.open_group.is_none() && records.is_empty() && audit.is_empty() {
            return Ok(());
        }
        let encoded = records
            .iter()
            .map(|record| {
                codec::encode(record).map_err(corrupt(format!("change {}", record.revision)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let revisions = records
            .iter()
            .map(|record| to_i64(record.revision.get()))
            .collect::<Result<Vec<_>, _>>()?;
        let committed_at: Vec<i64> = records
            .iter()
            .map(|record| record.committed_at.unix_millis())
            .collect();
        let (request_ids, request_revisions): (Vec<&str>, Vec<i64>) = records
            .iter()
            .zip(&revisions)
            .filter_map(|(record, revision)| Some((record.request_id.as_deref()?, *revision)))
            .unzip();
        let last_audit = match self.open_group.take() {
            Some(last_audit) => last_audit,
            None => self.lock_for_append(records.first()).await?,
        };
        let audit = AuditRows::number(audit, last_audit)?;
        let notice = records.last().map(|last| last.revision.get().to_string());
        let client = &self.client;
        let written = tokio::try_join!(
            async {
                if records.is_empty() {
                    return Ok(0);
                }
                client
                    .execute_typed(
                        "INSERT INTO authzd_changes (revision, committed_at, record)
                         SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BYTEA[])",
                        &[
                            (&revisions, Type::INT8_ARRAY),
                            (&committed_at, Type::INT8_ARRAY),
                            (&encoded, Type::BYTEA_ARRAY),
                        ],
                    )
                    .await
            },
            async {
                if request_ids.is_empty() {
                    return Ok(0);
                }
                client
                    .execute_typed(
                        "INSERT INTO authzd_request_ids (request_id, revision)
                         SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[])",
                        &[
                            (&request_ids, Type::TEXT_ARRAY),
                            (&request_revisions, Type::INT8_ARRAY),
                        ],
                    )
                    .await
            },
            audit.insert(client),
            async {
                let Some(notice) = &notice else {
                    return Ok(0);
                };
                // Delivered to the listening replicas when (and only if) this commits.
                client
                    .execute_typed(
                        "SELECT pg_notify($1, $2)",
                        &[(&CHANGES_CHANNEL, Type::TEXT), (notice, Type::TEXT)],
                    )
                    .await
            },
            client.batch_execute("COMMIT"),
        );
        written
            .map(drop)
            .map_err(failed("commit the changes and audit records"))
    }

    /// Outside a group's transaction: begins one holding the writers' lock, checks that
    /// `first` (if any) comes right after the newest stored revision, and answers the audit
    /// trail's last id.
    async fn lock_for_append(&self, first: Option<&ChangeRecord>) -> Result<u64, DatabaseError> {
        let begun = tokio::try_join!(
            self.client.batch_execute("BEGIN"),
            self.client
                .execute_typed(LOCK_WRITERS, &[(&WRITER_LOCK, Type::INT8)]),
            // The checkpoint counts: an imported state has no change records.
            self.client.query_typed_one(NEWEST_REVISION, &[]),
            self.client.query_typed_one(LAST_AUDIT_ID, &[]),
        );
        let ((), _, newest, last_audit) = self
            .or_roll_back(begun, "take the writers' lock and read the newest revision")
            .await?;
        let newest = to_u64(newest.get(0));
        if let Some(first) = first
            && first.revision.get() != newest.saturating_add(1)
        {
            let _ = self.client.batch_execute("ROLLBACK").await;
            return Err(DatabaseError::Behind {
                newest,
                first: first.revision.get(),
            });
        }
        Ok(to_u64(last_audit.get(0)))
    }

    /// Change records with revisions above `after`, ascending, at most `limit`.
    pub async fn changes_after(
        &self,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>, DatabaseError> {
        let rows = self
            .client
            .query_typed(
                CHANGES_AFTER,
                &[
                    (&to_i64(after.get())?, Type::INT8),
                    (&i64::try_from(limit).unwrap_or(i64::MAX), Type::INT8),
                ],
            )
            .await
            .map_err(failed("read changes"))?;
        decode_changes(&rows)
    }

    /// The committed change an earlier request with this id made, while the log holds it.
    pub async fn change_for_request(
        &self,
        request_id: &str,
    ) -> Result<Option<ChangeRecord>, DatabaseError> {
        let row = self
            .client
            .query_typed_opt(
                "SELECT c.revision, c.record FROM authzd_request_ids r
                 JOIN authzd_changes c ON c.revision = r.revision WHERE r.request_id = $1",
                &[(&request_id, Type::TEXT)],
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
    /// `false` when another replica is writing one (it holds the checkpointer's lock) or
    /// a newer one exists: nothing is written then.
    pub async fn write_checkpoint(&mut self, snapshot: &Snapshot) -> Result<bool, DatabaseError> {
        let transaction = self
            .client
            .transaction()
            .await
            .map_err(failed("begin a transaction"))?;
        let written = checkpoint_in(&transaction, snapshot).await;
        if matches!(written, Ok(true)) {
            transaction
                .commit()
                .await
                .map_err(failed("commit the checkpoint"))?;
        } else {
            end_now(transaction, "end the checkpoint's transaction", &written).await?;
        }
        written
    }

    /// The revision of the newest checkpoint, if any.
    pub async fn checkpoint_revision(&self) -> Result<Option<Revision>, DatabaseError> {
        self.some_revision(
            "SELECT MAX(revision) FROM authzd_checkpoints",
            "read the newest checkpoint",
        )
        .await
    }

    /// The oldest revision still in the change log, if any.
    pub async fn oldest_change(&self) -> Result<Option<Revision>, DatabaseError> {
        self.some_revision(
            "SELECT MIN(revision) FROM authzd_changes",
            "read the oldest change",
        )
        .await
    }

    /// The revision `sql` selects, if any.
    async fn some_revision(
        &self,
        sql: &str,
        what: &'static str,
    ) -> Result<Option<Revision>, DatabaseError> {
        let revision: Option<i64> = self
            .client
            .query_typed_one(sql, &[])
            .await
            .map_err(failed(what))?
            .get(0);
        Ok(revision.map(|revision| Revision::new(to_u64(revision))))
    }

    /// Deletes the changes the newest checkpoint covers that are outside the newest
    /// `min_count` and older than the retention age or outside the newest `max_count`
    /// (their request ids with them); returns how many. The rule is redb's
    /// (`changelog.rs`).
    pub async fn prune_changes(
        &self,
        retention: Retention,
        now: Timestamp,
    ) -> Result<u64, DatabaseError> {
        let cutoff = now.plus_millis(retention.max_age_millis.saturating_neg());
        let min_count = i64::try_from(retention.min_count).unwrap_or(i64::MAX);
        let max_count =
            i64::try_from(retention.max_count.max(retention.min_count)).unwrap_or(i64::MAX);
        self.client
            .execute(
                // A prefix only, up to the first change young enough to keep: replicas'
                // clocks differ, so commit times need not rise with revisions, and a hole
                // in the log would break every replay through it.
                "DELETE FROM authzd_changes WHERE revision <= LEAST(
                    (SELECT COALESCE(MAX(revision), 0) FROM authzd_checkpoints),
                    (SELECT COALESCE(MAX(revision), 0) FROM authzd_changes) - $1,
                    GREATEST(
                        (SELECT COALESCE(MIN(revision) - 1, 9223372036854775807)
                           FROM authzd_changes WHERE committed_at >= $2),
                        (SELECT COALESCE(MAX(revision), 0) FROM authzd_changes) - $3))",
                &[&min_count, &cutoff.unix_millis(), &max_count],
            )
            .await
            .map_err(failed("prune the change log"))
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
        let loaded = load_in(&transaction).await;
        end_now(transaction, "end the read of the state", &loaded).await?;
        loaded
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

/// Audit records numbered after the trail's last id, as the columns of one insert.
struct AuditRows {
    ids: Vec<i64>,
    at: Vec<i64>,
    tenants: Vec<Option<String>>,
    encoded: Vec<Vec<u8>>,
}

impl AuditRows {
    /// Numbers `records` after `last` (writing their ids into them), bounding their texts.
    fn number(records: &mut [AuditRecord], last: u64) -> Result<Self, DatabaseError> {
        let mut rows = Self {
            ids: Vec::with_capacity(records.len()),
            at: Vec::with_capacity(records.len()),
            tenants: Vec::with_capacity(records.len()),
            encoded: Vec::with_capacity(records.len()),
        };
        for (n, record) in records.iter_mut().enumerate() {
            record.id = last + 1 + n as u64;
            record.bound_texts();
            rows.encoded.push(
                codec::encode(record).map_err(corrupt(format!("audit record {}", record.id)))?,
            );
            rows.ids.push(to_i64(record.id)?);
            rows.at.push(record.at.unix_millis());
            rows.tenants.push(record.tenant.clone());
        }
        Ok(rows)
    }

    /// Inserts them, in a transaction that holds the writers' lock.
    async fn insert(&self, client: &Client) -> Result<u64, tokio_postgres::Error> {
        if self.ids.is_empty() {
            return Ok(0);
        }
        client
            .execute_typed(
                "INSERT INTO authzd_audit (id, at, tenant, record)
                 SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::BYTEA[])",
                &[
                    (&self.ids, Type::INT8_ARRAY),
                    (&self.at, Type::INT8_ARRAY),
                    (&self.tenants, Type::TEXT_ARRAY),
                    (&self.encoded, Type::BYTEA_ARRAY),
                ],
            )
            .await
    }
}

/// Ends `transaction` with a rollback sent now. A dropped transaction's rollback waits
/// for the connection's next call (nothing drives a connection between calls, see
/// `shared.rs`), and until then the connection sits in its transaction: holding its
/// locks (the checkpointer's among them), and holding back `VACUUM` and any migration
/// that alters a table it read. When `outcome` already failed, that failure is the one
/// reported.
async fn end_now<T>(
    transaction: tokio_postgres::Transaction<'_>,
    what: &'static str,
    outcome: &Result<T, DatabaseError>,
) -> Result<(), DatabaseError> {
    let ended = transaction.rollback().await.map_err(failed(what));
    if outcome.is_err() { Ok(()) } else { ended }
}

/// [`PgStore::write_checkpoint`] inside its transaction: `true` once every statement of
/// the checkpoint succeeded (to be committed).
async fn checkpoint_in(
    transaction: &tokio_postgres::Transaction<'_>,
    snapshot: &Snapshot,
) -> Result<bool, DatabaseError> {
    let revision = to_i64(snapshot.revision().get())?;
    let ours: bool = transaction
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&CHECKPOINT_LOCK])
        .await
        .map_err(failed("take the checkpointer's lock"))?
        .get(0);
    let newer: bool = transaction
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM authzd_checkpoints WHERE revision >= $1)",
            &[&revision],
        )
        .await
        .map_err(failed("read the newest checkpoint"))?
        .get(0);
    if !ours || newer {
        return Ok(false);
    }
    let bytes = codec::encode(snapshot).map_err(corrupt(format!("checkpoint {revision}")))?;
    let count = bytes.len().div_ceil(PART_BYTES);
    let manifest = checkpoint::parts_manifest(
        u32::try_from(count).map_err(|_| DatabaseError::Corrupt {
            message: format!("checkpoint {revision}: {count} parts are too many"),
        })?,
        u64::try_from(bytes.len()).unwrap_or(u64::MAX),
    );
    // Older checkpoints first (their parts go with them), so that the new one's parts are
    // the only ones a reader can find.
    transaction
        .execute(
            "DELETE FROM authzd_checkpoints WHERE revision < $1",
            &[&revision],
        )
        .await
        .map_err(failed("drop older checkpoints"))?;
    transaction
        .execute(
            "INSERT INTO authzd_checkpoints (revision, snapshot) VALUES ($1, $2)",
            &[&revision, &manifest],
        )
        .await
        .map_err(failed("write a checkpoint"))?;
    let insert_part = transaction
        .prepare_typed(
            "INSERT INTO authzd_checkpoint_parts (revision, part, bytes) VALUES ($1, $2, $3)",
            &[Type::INT8, Type::INT4, Type::BYTEA],
        )
        .await
        .map_err(failed("write a checkpoint"))?;
    for (number, part) in (0i32..).zip(bytes.chunks(PART_BYTES)) {
        transaction
            .execute(&insert_part, &[&revision, &number, &part])
            .await
            .map_err(failed("write a checkpoint part"))?;
    }
    Ok(true)
}

/// How many checkpoint parts wait for the decoding at most: the rows are read while the
/// parts before them are decoded, and no more than these are held besides.
const PARTS_AHEAD: usize = 2;

/// Decodes the checkpoint at `revision` whose `count` parts hold `length` bytes, each part
/// decoded on a blocking thread as its row arrives (see `checkpoint::PartsReader`): the
/// database sends the next rows while the state is rebuilt. `Ok(Err(why))` when the parts
/// do not decode or are not the ones the manifest names; `Err` when they cannot be read.
async fn decode_parts_as_read(
    transaction: &tokio_postgres::Transaction<'_>,
    revision: i64,
    count: u32,
    length: u64,
) -> Result<Result<Snapshot, String>, DatabaseError> {
    let rows = transaction
        .query_raw(
            "SELECT part, bytes FROM authzd_checkpoint_parts
             WHERE revision = $1 ORDER BY part",
            [&revision],
        )
        .await
        .map_err(failed("read the newest checkpoint's parts"))?;
    let mut rows = std::pin::pin!(rows);
    let (parts, mut to_decode) = tokio::sync::mpsc::channel(PARTS_AHEAD);
    let decoding = tokio::task::spawn_blocking(move || {
        checkpoint::decode_parts(
            count,
            length,
            std::iter::from_fn(|| to_decode.blocking_recv().map(Ok)),
        )
    });
    let mut unread = None;
    while let Some(row) = rows.next().await {
        let row = match row {
            Ok(row) => row,
            Err(err) => {
                unread = Some(err);
                break;
            }
        };
        let number: i32 = row.get(0);
        let bytes: &[u8] = row.get(1);
        let part = (u32::try_from(number).unwrap_or(u32::MAX), bytes.to_vec());
        if parts.send(part).await.is_err() {
            // The decoding has stopped: it failed, and says why.
            break;
        }
    }
    // Ends the decoding's parts: short of the manifest's, if a row could not be read.
    drop(parts);
    let decoded = decoding.await.map_err(|err| DatabaseError::Corrupt {
        message: format!("checkpoint {revision}: its decoding stopped: {err}"),
    });
    if let Some(err) = unread {
        return Err(failed("read the newest checkpoint's parts")(err));
    }
    decoded
}

/// [`PgStore::load_snapshot`] inside its read transaction.
async fn load_in(transaction: &tokio_postgres::Transaction<'_>) -> Result<Snapshot, DatabaseError> {
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
            let stored: &[u8] = row.get(1);
            let corrupt_checkpoint = |message: String| DatabaseError::Corrupt {
                message: format!("checkpoint {revision}: {message}"),
            };
            match checkpoint::read_parts_manifest(stored) {
                None => codec::decode_snapshot(stored)
                    .map_err(corrupt(format!("checkpoint {revision}")))?,
                Some(manifest) => {
                    let (count, length) = manifest.map_err(corrupt_checkpoint)?;
                    decode_parts_as_read(transaction, revision, count, length)
                        .await?
                        .map_err(corrupt_checkpoint)?
                }
            }
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
