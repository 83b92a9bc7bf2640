//! The audit records of calls the writer did not handle (refused before it, or reads),
//! waiting for the writer to store them with its next group.

use std::{
    collections::VecDeque,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use crate::store::AuditRecord;

/// The queue, kept apart from the changes: a flood of refused calls neither waits on the
/// writer nor takes the changes' place in its queue. Bounded: a record that finds it full
/// is not kept ([`AuditQueue::push`] says so, and the API refuses a read it cannot audit).
/// Records a failed commit could not store go back to its front, in their order.
#[derive(Debug)]
pub(super) struct AuditQueue {
    // Mutex: handlers push, the writer takes; each holds it for a push or a drain.
    records: Mutex<VecDeque<AuditRecord>>,
    // Set while an `AuditPending` nudge is on its way to the writer: at most one at a time.
    nudged: AtomicBool,
    dropped: AtomicU64,
}

/// Most audit records waiting for the writer. While the store fails this is what a server
/// keeps: at about 300 bytes a record, some 5 MiB.
pub(super) const AUDIT_QUEUE: usize = 16_384;

/// A record the queue could not keep: it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct QueueFull;

/// Why a call cannot be recorded in the audit trail: a read that cannot be recorded is not
/// answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuditUnavailable {
    /// The records waiting to be stored fill the queue (the store has been failing for a
    /// while, or calls come faster than the writer stores them).
    #[error(
        "the audit trail cannot take this call's record now: {AUDIT_QUEUE} records are waiting to be stored; retry later"
    )]
    QueueFull,
    /// The database file is lost: no record is stored until the server restarts.
    #[error(
        "the audit trail cannot record this call: the database file was lost under the running server; writes and audited reads are refused until it restarts"
    )]
    StoreFileLost,
}

impl AuditQueue {
    pub(super) fn new() -> Self {
        Self {
            records: Mutex::new(VecDeque::new()),
            nudged: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, VecDeque<AuditRecord>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a record: `Ok(true)` if the writer must be nudged to store it, `Err` if the
    /// queue is full and the record was not kept (counted, with a warning).
    pub(super) fn push(&self, record: AuditRecord) -> Result<bool, QueueFull> {
        {
            let mut records = self.records();
            if records.len() >= AUDIT_QUEUE {
                drop(records);
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped,
                        "audit queue full: records of refused calls are dropped and audited reads refused"
                    );
                }
                return Err(QueueFull);
            }
            records.push_back(record);
        }
        Ok(!self.nudged.swap(true, Ordering::AcqRel))
    }

    /// Takes up to `limit` records, oldest first.
    pub(super) fn take(&self, limit: usize) -> Vec<AuditRecord> {
        self.nudged.store(false, Ordering::Release);
        let mut records = self.records();
        let n = records.len().min(limit);
        records.drain(..n).collect()
    }

    /// Puts back records taken by [`Self::take`] that a failed commit did not store, ahead
    /// of the rest and in their order. Not bounded: they were in the queue a moment ago,
    /// and the writer's own refusals beside them are at most one group.
    pub(super) fn put_back(&self, taken: Vec<AuditRecord>) {
        let mut records = self.records();
        for record in taken.into_iter().rev() {
            records.push_front(record);
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.records().is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.records().len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{engine::Timestamp, store::AuditOutcome};

    fn record(target: &str) -> AuditRecord {
        AuditRecord {
            id: 0,
            at: Timestamp::from_unix_millis(0),
            tenant: None,
            actor: None,
            actor_partner: None,
            caller: "tests".into(),
            method: "authz.v1.UserService/GetUser".into(),
            target: target.into(),
            outcome: AuditOutcome::Allowed,
            request_id: None,
            revision: 0,
        }
    }

    fn targets(records: &[AuditRecord]) -> Vec<&str> {
        records.iter().map(|r| r.target.as_str()).collect()
    }

    #[test]
    fn records_put_back_come_first_in_their_order() {
        let queue = AuditQueue::new();
        for target in ["a", "b", "c"] {
            queue.push(record(target)).unwrap();
        }
        let taken = queue.take(2);
        assert_eq!(targets(&taken), ["a", "b"]);
        queue.push(record("d")).unwrap();
        queue.put_back(taken);
        assert_eq!(targets(&queue.take(10)), ["a", "b", "c", "d"]);
        assert!(queue.is_empty());
    }

    #[test]
    fn one_nudge_until_the_writer_takes() {
        let queue = AuditQueue::new();
        assert_eq!(queue.push(record("a")), Ok(true));
        assert_eq!(queue.push(record("b")), Ok(false));
        queue.take(1);
        assert_eq!(queue.push(record("c")), Ok(true));
    }

    #[test]
    fn a_full_queue_keeps_no_more_until_the_writer_takes() {
        let queue = AuditQueue::new();
        for n in 0..AUDIT_QUEUE {
            queue.push(record(&n.to_string())).unwrap();
        }
        assert_eq!(queue.push(record("one too many")), Err(QueueFull));
        queue.take(1);
        assert!(queue.push(record("room again")).is_ok());
    }
}
