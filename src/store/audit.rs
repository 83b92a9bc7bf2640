//! The audit trail: one record per management call, allowed or refused, in the order the
//! writer saw them. An allowed change's record is written in the same transaction as the
//! change itself; a refusal gets its own record.

use std::fmt::Write as _;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::{
    RedbStore, StoreError,
    changelog::{PRUNE_BATCH, prune_in_batches},
    codec,
    redb_store::AUDIT,
};
use crate::engine::Timestamp;

/// What became of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditOutcome {
    /// The change was made (or, for a retried request id, had been made).
    Allowed,
    /// The call was refused.
    Refused {
        /// The gRPC code it got, e.g. `PERMISSION_DENIED`.
        code: String,
        /// The rule that refused it, when one did (authority and invariant rules).
        rule: Option<String>,
        /// The message the caller got.
        message: String,
    },
}

/// One management call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the trail (assigned when written; strictly increasing).
    pub id: u64,
    /// When the writer (or the API, for a refusal before it) handled it.
    pub at: Timestamp,
    /// The tenant it was about, if any.
    pub tenant: Option<String>,
    /// The acting user; none for platform calls.
    pub actor: Option<String>,
    /// The partner whose user `actor` is, when a partner user acted in a tenant of one of
    /// the partner's customers; none for a tenant's own user. Added in codec version 5.
    #[serde(deserialize_with = "crate::engine::added_in_v5")]
    pub actor_partner: Option<String>,
    /// The calling service.
    pub caller: String,
    /// The gRPC method, e.g. `authz.v1.UserService/InviteUser`.
    pub method: String,
    /// What it acted on, e.g. `user bob`.
    pub target: String,
    /// Allowed or refused, and why.
    pub outcome: AuditOutcome,
    /// The caller's request id.
    pub request_id: Option<String>,
    /// For an allowed change, its revision; for a refusal, the revision it was judged at.
    pub revision: u64,
}

/// Longest id-like text an audit record keeps (tenant, actor, caller, method, target,
/// request id, code, rule), in bytes: twice the longest id, so a valid one is kept whole.
pub(crate) const MAX_AUDIT_TEXT: usize = 256;
/// Longest refusal message an audit record keeps, in bytes (the API's status messages are
/// at most 1 KiB already).
pub(crate) const MAX_AUDIT_MESSAGE: usize = 1024;

impl AuditRecord {
    /// Cuts every text a client could have chosen to its bound, so that a refused call
    /// costs the trail a bounded number of bytes whatever it sent (the API already refuses
    /// long values; this holds for every record, whoever made it).
    pub fn bound_texts(&mut self) {
        for text in [
            self.tenant.as_mut(),
            self.actor.as_mut(),
            self.actor_partner.as_mut(),
            Some(&mut self.caller),
            Some(&mut self.method),
            Some(&mut self.target),
            self.request_id.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            clip(text, MAX_AUDIT_TEXT);
        }
        if let AuditOutcome::Refused {
            code,
            rule,
            message,
        } = &mut self.outcome
        {
            clip(code, MAX_AUDIT_TEXT);
            if let Some(rule) = rule {
                clip(rule, MAX_AUDIT_TEXT);
            }
            clip(message, MAX_AUDIT_MESSAGE);
        }
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, ending it with `…(+N bytes)`
/// for the N bytes cut, so a reader sees that, and how much, is missing.
fn clip(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    // The suffix is counted in the bound; its number can only shrink as the cut grows, so
    // sizing it for the whole length is enough.
    let room = max.saturating_sub(format!("…(+{} bytes)", text.len()).len());
    let mut end = room;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    text.truncate(end);
    let _ = write!(text, "…(+{cut} bytes)");
}

/// Which audit records to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this tenant's.
    pub tenant: Option<String>,
    /// Only this actor's.
    pub actor: Option<String>,
    /// Only calls by users of this partner.
    pub actor_partner: Option<String>,
    /// Only calls whose target contains this text.
    pub target: Option<String>,
    /// Only at or after this time.
    pub from: Option<Timestamp>,
    /// Only before this time.
    pub until: Option<Timestamp>,
    /// Only records of these tenants (a caller confined to them reads no others; records
    /// without a tenant are not theirs); `None`: any.
    pub within: Option<std::collections::BTreeSet<String>>,
}

impl AuditQuery {
    pub(super) fn matches(&self, record: &AuditRecord) -> bool {
        let same = |wanted: &Option<String>, got: &Option<String>| {
            wanted.as_ref().is_none_or(|w| got.as_ref() == Some(w))
        };
        same(&self.tenant, &record.tenant)
            && same(&self.actor, &record.actor)
            && same(&self.actor_partner, &record.actor_partner)
            && self
                .target
                .as_ref()
                .is_none_or(|t| record.target.contains(t.as_str()))
            && self.from.is_none_or(|from| record.at >= from)
            && self.until.is_none_or(|until| record.at < until)
            && self
                .within
                .as_ref()
                .is_none_or(|within| record.tenant.as_ref().is_some_and(|t| within.contains(t)))
    }
}

impl RedbStore {
    /// Reads up to `limit` records matching `query` with ids above `after`, in order.
    pub fn audit_records(
        &self,
        query: &AuditQuery,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(AUDIT).map_err(|e| self.redb_error(e))?;
        let mut out = Vec::new();
        for entry in table
            .range(after.saturating_add(1)..)
            .map_err(|e| self.redb_error(e))?
        {
            let (id, bytes) = entry.map_err(|e| self.redb_error(e))?;
            let record = decode(id.value(), bytes.value(), &self.path)?;
            if query.matches(&record) {
                out.push(record);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Appends refusals in their own transaction.
    pub fn append_audit(&self, records: &mut [AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(AUDIT).map_err(|e| self.redb_error(e))?;
            write_audit(self, &mut table, records)?;
        }
        txn.commit().map_err(|e| self.redb_error(e))
    }

    /// Deletes audit records older than `before`. Returns how many. Deletes at most
    /// [`PRUNE_BATCH`] records per transaction, as pruning the change log does.
    pub fn prune_audit(&self, before: Timestamp) -> Result<u64, StoreError> {
        prune_in_batches(
            || {
                let oldest = self.audit_records(&AuditQuery::default(), 0, 1)?;
                Ok(oldest.first().is_some_and(|record| record.at < before))
            },
            || self.prune_audit_batch(before),
        )
    }

    /// Deletes up to [`PRUNE_BATCH`] of the oldest audit records older than `before`.
    fn prune_audit_batch(&self, before: Timestamp) -> Result<u64, StoreError> {
        let txn = self.begin_write()?;
        let mut deleted = 0;
        {
            let mut table = txn.open_table(AUDIT).map_err(|e| self.redb_error(e))?;
            let mut doomed = Vec::new();
            for entry in table
                .iter()
                .map_err(|e| self.redb_error(e))?
                .take(PRUNE_BATCH)
            {
                let (id, bytes) = entry.map_err(|e| self.redb_error(e))?;
                let record = decode(id.value(), bytes.value(), &self.path)?;
                // Ids follow time closely enough: stop at the first young record.
                if record.at >= before {
                    break;
                }
                doomed.push(id.value());
            }
            for id in doomed {
                table.remove(id).map_err(|e| self.redb_error(e))?;
                deleted += 1;
            }
        }
        txn.commit().map_err(|e| self.redb_error(e))?;
        Ok(deleted)
    }
}

/// Numbers `records` after the last id in `table` and inserts them.
pub(super) fn write_audit(
    store: &RedbStore,
    table: &mut redb::Table<'_, u64, &'static [u8]>,
    records: &mut [AuditRecord],
) -> Result<(), StoreError> {
    let last = table
        .last()
        .map_err(|e| store.redb_error(e))?
        .map_or(0, |(id, _)| id.value());
    for (n, record) in records.iter_mut().enumerate() {
        record.id = last + 1 + n as u64;
        record.bound_texts();
        let bytes = codec::encode(record).map_err(|err| StoreError::Storage {
            path: store.path.clone(),
            message: format!("cannot encode audit record: {err}"),
        })?;
        table
            .insert(record.id, bytes.as_slice())
            .map_err(|e| store.redb_error(e))?;
    }
    Ok(())
}

fn decode(id: u64, bytes: &[u8], path: &std::path::Path) -> Result<AuditRecord, StoreError> {
    codec::decode_audit(bytes).map_err(|err| StoreError::Corrupt {
        path: path.to_path_buf(),
        message: format!("audit record {id}: {err}"),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    fn record(at: i64, tenant: &str) -> AuditRecord {
        AuditRecord {
            id: 0,
            at: Timestamp::from_unix_millis(at),
            tenant: Some(tenant.to_owned()),
            actor: None,
            actor_partner: None,
            caller: "test".into(),
            method: "authz.v1.UserService/GetUser".into(),
            target: format!("user of {tenant}"),
            outcome: AuditOutcome::Allowed,
            request_id: None,
            revision: 0,
        }
    }

    #[test]
    fn stored_records_keep_bounded_texts_and_say_how_much_was_cut() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();
        let huge = "é".repeat(512 * 1024);
        let mut refused = AuditRecord {
            tenant: Some(huge.clone()),
            actor: Some(huge.clone()),
            actor_partner: None,
            caller: huge.clone(),
            method: huge.clone(),
            target: format!("user {huge}"),
            request_id: Some(huge.clone()),
            outcome: AuditOutcome::Refused {
                code: huge.clone(),
                rule: Some(huge.clone()),
                message: huge.clone(),
            },
            ..record(1_000, "t")
        };
        store
            .append_audit(std::slice::from_mut(&mut refused))
            .unwrap();
        let stored = store.audit_records(&AuditQuery::default(), 0, 10).unwrap();
        let stored = &stored[0];
        let AuditOutcome::Refused {
            code,
            rule,
            message,
        } = &stored.outcome
        else {
            panic!("not a refusal: {stored:?}");
        };
        let texts = [
            stored.tenant.as_deref().unwrap(),
            stored.actor.as_deref().unwrap(),
            &stored.caller,
            &stored.method,
            &stored.target,
            stored.request_id.as_deref().unwrap(),
            code,
            rule.as_deref().unwrap(),
        ];
        for text in texts {
            assert!(text.len() <= MAX_AUDIT_TEXT, "{} bytes", text.len());
            assert!(
                text.starts_with('é') || text.starts_with("user é"),
                "{text}"
            );
            let (kept, note) = text.split_once('…').unwrap();
            let cut: usize = note
                .strip_prefix("(+")
                .and_then(|n| n.strip_suffix(" bytes)"))
                .unwrap()
                .parse()
                .unwrap();
            let original = if kept.starts_with("user") { 5 } else { 0 } + huge.len();
            assert_eq!(kept.len() + cut, original, "{text}");
        }
        assert!(message.len() <= MAX_AUDIT_MESSAGE);
        assert!(message.ends_with(&format!(
            "…(+{} bytes)",
            huge.len() - message.split_once('…').unwrap().0.len()
        )));
        // What fits is kept as it is.
        let mut short = record(2_000, "t");
        let before = short.clone();
        short.bound_texts();
        assert_eq!(short, before);
        // The whole record stays small: a refusal with megabytes of input costs ~3 KiB.
        let encoded = codec::encode(stored).unwrap();
        assert!(encoded.len() < 4 * 1024, "{} bytes", encoded.len());
    }

    #[test]
    fn clipping_cuts_on_character_boundaries_within_the_bound() {
        let original = "aé🦀".repeat(20);
        for max in 16..original.len() {
            let mut text = original.clone();
            clip(&mut text, max);
            assert!(text.len() <= max, "{max}: {text}");
            let (kept, note) = text.split_once('…').unwrap();
            assert!(original.starts_with(kept));
            assert_eq!(note, format!("(+{} bytes)", original.len() - kept.len()));
        }
        let mut whole = original.clone();
        clip(&mut whole, original.len());
        assert_eq!(whole, original);
    }

    #[test]
    fn records_are_numbered_filtered_paged_and_pruned_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();
        store
            .append_audit(&mut [record(1_000, "a"), record(2_000, "b")])
            .unwrap();
        store.append_audit(&mut [record(3_000, "a")]).unwrap();
        let all = store.audit_records(&AuditQuery::default(), 0, 10).unwrap();
        assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2, 3]);
        let tenant_a = AuditQuery {
            tenant: Some("a".into()),
            ..AuditQuery::default()
        };
        let page = store.audit_records(&tenant_a, 0, 1).unwrap();
        assert_eq!(page[0].id, 1);
        let next = store.audit_records(&tenant_a, page[0].id, 1).unwrap();
        assert_eq!(next[0].id, 3);
        assert_eq!(
            store
                .prune_audit(Timestamp::from_unix_millis(2_500))
                .unwrap(),
            2
        );
        let kept = store.audit_records(&AuditQuery::default(), 0, 10).unwrap();
        assert_eq!(kept.iter().map(|r| r.id).collect::<Vec<_>>(), [3]);
        // Numbering goes on after the last id, even once older records are gone.
        store.append_audit(&mut [record(4_000, "b")]).unwrap();
        let last = store.audit_records(&AuditQuery::default(), 3, 10).unwrap();
        assert_eq!(last[0].id, 4);
    }

    #[test]
    fn pruning_more_records_than_one_batch_takes_every_old_one_and_no_young_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();
        let mut records: Vec<AuditRecord> = (0..2_500).map(|n| record(1_000 + n, "a")).collect();
        store.append_audit(&mut records).unwrap();
        assert_eq!(
            store
                .prune_audit(Timestamp::from_unix_millis(1_000 + 2_345))
                .unwrap(),
            2_345
        );
        let kept = store
            .audit_records(&AuditQuery::default(), 0, 1_000)
            .unwrap();
        assert_eq!(kept.len(), 155);
        assert_eq!(kept[0].id, 2_346);
    }
}
