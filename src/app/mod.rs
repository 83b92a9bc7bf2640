//! The application core between the API and the store.
//!
//! Readers take the current immutable engine snapshot without locks. Changes go through
//! one writer thread that validates them against the engine, makes them durable in the
//! store (many waiting changes in one transaction: group commit) and only then publishes
//! the next snapshot and answers the callers.

mod audit_queue;
mod checkpointer;
mod clock;
mod follower;
mod huge_pages;
mod store_monitor;
mod store_state;
mod watch;
mod writer;

use std::{path::Path, sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot};

/// The audit trail's records, as the API reads and writes them through the app.
pub use crate::store::{AuditOutcome, AuditQuery, AuditRecord};
pub use audit_queue::AuditUnavailable;
pub use checkpointer::StoreOptions;
pub use clock::{Clock, ManualClock, SystemClock};
pub use store_state::StoreState;
pub use watch::{SharedChange, Subscription, WatchError, WatchFilter, WatchItem, WatchOptions};
pub use writer::{BulkItem, BulkOutcome, ChangeMeta, Committed, Precondition, WriteError};

use crate::{
    engine::{Mutation, Revision, Snapshot},
    store::{RedbStore, Store, StoreError},
};

/// How many changes may wait for the writer before callers wait for room. Bounds memory
/// under a burst of writes; one group commit takes at most this many.
const WRITE_QUEUE: usize = 1024;

/// The running application. Cloning is cheap; every clone shares the same state.
#[derive(Debug, Clone)]
pub struct App {
    // Arc: every gRPC service holds a clone; the state is shared, not copied.
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    // ArcSwap: every check loads the current snapshot lock-free; only the writer stores.
    current: Arc<ArcSwap<Snapshot>>,
    // watch: wakes readers waiting for a minimum revision. It carries only the revision;
    // the snapshot itself is read from `current`.
    published: tokio::sync::watch::Receiver<Revision>,
    // watch: the server's health reporter follows whether the store accepts writes.
    store_state: tokio::sync::watch::Receiver<StoreState>,
    // Arc: the writer and the store monitor change it; audited reads look at it.
    status: Arc<store_state::StoreStatus>,
    // Bounded (WRITE_QUEUE): back-pressure on writers instead of unbounded memory.
    writes: mpsc::Sender<writer::Work>,
    // Arc: handlers push into it, the writer drains it with each group.
    audit_queue: Arc<audit_queue::AuditQueue>,
    // Dropped by `close` to stop the store monitor's thread.
    stop_monitor: store_monitor::StopMonitor,
    store: Store,
    // Arc: the writer publishes into it; every stream's registration points back to it.
    hub: Arc<watch::WatchHub>,
    clock: Arc<dyn Clock>,
    // Mutex: taken once, by `close`, to join the writer, stream dispatcher, checkpointer
    // and store monitor threads.
    threads: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
    options: StoreOptions,
}

/// A read asked for a revision the server has not reached in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "revision {wanted} not reached within {} ms; current revision is {current}",
    .waited.as_millis()
)]
pub struct RevisionNotReached {
    /// The minimum revision asked for.
    pub wanted: Revision,
    /// The newest revision the server has.
    pub current: Revision,
    /// How long the read waited.
    pub waited: Duration,
}

impl App {
    /// Opens the store in `data_dir`, loads its state into the engine and starts the
    /// writer. Blocking: run under `spawn_blocking` from async code.
    pub fn open(
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        Self::open_store(Store::Redb(RedbStore::open(data_dir)?), clock, options)
    }

    /// Loads the state of an open store into the engine and starts the writer; for a
    /// shared store, also the follower that applies other replicas' commits. Blocking.
    pub fn open_store(
        store: Store,
        clock: Arc<dyn Clock>,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let loading = std::time::Instant::now();
        let snapshot = huge_pages::on_small_pages(|| store.load_snapshot())?;
        tracing::info!(
            revision = %snapshot.revision(),
            elapsed_ms = loading.elapsed().as_millis(),
            "state loaded"
        );
        let last_checkpoint = store.checkpoint_revision()?.unwrap_or_default();
        let revision = snapshot.revision();
        let durable = store.durable(&snapshot)?;
        let current = Arc::new(ArcSwap::from_pointee(snapshot));
        let (published_tx, published) = tokio::sync::watch::channel(revision);
        let (status, store_state) = store_state::StoreStatus::new();
        let status = Arc::new(status);
        let (writes, requests) = mpsc::channel(WRITE_QUEUE);
        let audit_queue = Arc::new(audit_queue::AuditQueue::new());
        let hub = Arc::new(watch::WatchHub::new());
        let io_error = |source| StoreError::Io {
            path: store.location().into(),
            source,
        };
        let (checkpoints, checkpointer_thread) = checkpointer::spawn(
            store.clone(),
            Arc::clone(&current),
            Arc::clone(&clock),
            options,
            last_checkpoint.get(),
        )
        .map_err(io_error)?;
        let (dispatch, dispatcher_thread) =
            watch::spawn_dispatcher(Arc::clone(&hub)).map_err(io_error)?;
        let writer_thread = writer::spawn(writer::Writer {
            store: store.clone(),
            current: Arc::clone(&current),
            published: published_tx,
            status: Arc::clone(&status),
            durable,
            requests,
            audit_queue: Arc::clone(&audit_queue),
            flushes: Vec::new(),
            clock: Arc::clone(&clock),
            checkpoints,
            stream: dispatch,
        })
        .map_err(io_error)?;
        let (stop_monitor, monitor_thread) =
            store_monitor::spawn(store.clone(), Arc::clone(&status), writes.downgrade())
                .map_err(io_error)?;
        if let Store::Postgres(database) = &store {
            follower::spawn(
                database,
                options.follow_interval,
                Arc::clone(&status),
                writes.downgrade(),
                published.clone(),
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                current,
                published,
                store_state,
                status,
                writes,
                audit_queue,
                stop_monitor,
                store,
                hub,
                clock,
                // The writer first: the dispatcher ends when the writer has gone.
                threads: std::sync::Mutex::new(vec![
                    writer_thread,
                    dispatcher_thread,
                    checkpointer_thread,
                    monitor_thread,
                ]),
                options,
            }),
        })
    }

    /// Ends every change stream with a resumable error (at shutdown, before draining).
    pub fn stop_watchers(&self) {
        self.inner.hub.close();
    }

    /// Stops the writer once every queued change is committed and closes the database.
    /// Blocking. If other clones of the app are still alive, the database closes when the
    /// last of them is dropped instead.
    pub fn close(self) {
        // Replays hold the store open: end them and wait (at most 2 s) for their tasks to
        // go; each counts itself out when it stops.
        self.inner.hub.close();
        self.inner.hub.wait_for_replays(Duration::from_secs(2));
        let Ok(inner) = Arc::try_unwrap(self.inner) else {
            tracing::warn!("store stays open until the last reference is dropped");
            return;
        };
        let threads = inner
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        // Dropping the sender lets the writer drain its queue and stop; the writer's end
        // drops the checkpoint trigger, which stops the checkpointer.
        drop(inner.writes);
        drop(inner.stop_monitor);
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("a store thread panicked");
            }
        }
        let unstored = inner.audit_queue.len();
        if unstored > 0 {
            tracing::error!(
                records = unstored,
                state = ?inner.status.state(),
                "audit records of calls answered could not be stored before shutdown"
            );
        }
        // A final checkpoint makes the next start read one value instead of replaying; not
        // into a store that failed (its log already holds every acknowledged change) or a
        // lost file.
        if inner.status.state() != StoreState::Writable {
            return;
        }
        let snapshot = inner.current.load_full();
        let behind = inner
            .store
            .checkpoint_revision()
            .map_or(true, |last| last.unwrap_or_default() < snapshot.revision());
        if behind {
            checkpointer::checkpoint(
                &inner.store,
                &snapshot,
                inner.clock.now(),
                inner.options.retention,
            );
        }
    }

    /// The current snapshot: lock-free, never waits for the writer.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.current.load_full()
    }

    /// A snapshot at least as new as `min`, waiting up to `wait` for the writer to get
    /// there.
    pub async fn snapshot_at_least(
        &self,
        min: Revision,
        wait: Duration,
    ) -> Result<Arc<Snapshot>, RevisionNotReached> {
        let snapshot = self.snapshot();
        if snapshot.revision() >= min {
            return Ok(snapshot);
        }
        let mut published = self.inner.published.clone();
        let reached = tokio::time::timeout(wait, published.wait_for(|rev| *rev >= min)).await;
        match reached {
            Ok(Ok(_)) => Ok(self.snapshot()),
            _ => Err(RevisionNotReached {
                wanted: min,
                current: self.revision(),
                waited: wait,
            }),
        }
    }

    /// Follows whether the store accepts writes: failing after a failed commit until a
    /// retry succeeds, lost for good once its file is.
    pub fn store_health(&self) -> tokio::sync::watch::Receiver<StoreState> {
        self.inner.store_state.clone()
    }

    /// The revision of the newest published change.
    pub fn revision(&self) -> Revision {
        self.inner.current.load().revision()
    }

    /// The time now, by the application's clock.
    pub fn now(&self) -> crate::engine::Timestamp {
        self.inner.clock.now()
    }

    /// Validates `mutation`, makes it durable and publishes it; answers with its revision
    /// once it is on disk. A refused mutation leaves no trace.
    pub async fn submit(
        &self,
        mutation: Mutation,
        meta: ChangeMeta,
    ) -> Result<Revision, WriteError> {
        match self.submit_checked(mutation, meta, None).await? {
            Committed::New(revision) => Ok(revision),
            Committed::Retried(first) => Ok(first.revision),
        }
    }

    /// Like [`App::submit`], with the checks management calls need: the writer checks the
    /// meta's actor's authority and `precondition` against the state the change is applied
    /// to, and a request id already used answers with the change its first use made.
    pub async fn submit_checked(
        &self,
        mutation: Mutation,
        meta: ChangeMeta,
        precondition: Option<Precondition>,
    ) -> Result<Committed, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .writes
            .send(writer::Work::Change(Box::new(writer::WriteRequest {
                mutation,
                meta,
                precondition,
                reply,
            })))
            .await
            .map_err(|_| WriteError::WriterStopped)?;
        answer.await.map_err(|_| WriteError::WriterStopped)?
    }

    /// Submits the items of a bulk call in `tenant`: the writer decides each on its own
    /// (the meta's actor's authority, its precondition, the engine's rules) on the state the
    /// accepted ones before it leave, and commits the accepted ones as one batch at one
    /// revision; none accepted, nothing is written. Audited once, as one call.
    pub async fn submit_bulk(
        &self,
        tenant: crate::engine::TenantId,
        items: Vec<BulkItem>,
        meta: ChangeMeta,
    ) -> Result<BulkOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .writes
            .send(writer::Work::Bulk(Box::new(writer::BulkRequest {
                tenant,
                items,
                meta,
                reply,
            })))
            .await
            .map_err(|_| WriteError::WriterStopped)?;
        answer.await.map_err(|_| WriteError::WriterStopped)?
    }

    /// Records a management call the writer did not see (a refusal before it, or a read).
    /// Never waits on the writer: the record is queued and stored with the writer's next
    /// group, or once a failing store recovers. `Err` when it cannot be kept (the queue is
    /// full, or the database file is lost): the caller must not answer a read it could not
    /// record.
    pub fn audit_call(&self, record: AuditRecord) -> Result<(), AuditUnavailable> {
        if self.inner.status.state() == StoreState::FileLost {
            return Err(AuditUnavailable::StoreFileLost);
        }
        let nudge = self
            .inner
            .audit_queue
            .push(record)
            .map_err(|audit_queue::QueueFull| AuditUnavailable::QueueFull)?;
        if nudge {
            // A full channel means the writer is busy: it drains the queue with its next
            // group anyway.
            let _ = self.inner.writes.try_send(writer::Work::AuditPending);
        }
        Ok(())
    }

    /// Waits until every audit record queued so far is stored, so that a reader of the
    /// trail sees the calls made before its own; the store's error if they cannot be
    /// stored now.
    pub async fn flush_audit(&self) -> Result<(), WriteError> {
        let (done, stored) = oneshot::channel();
        self.inner
            .writes
            .send(writer::Work::Flush(done))
            .await
            .map_err(|_| WriteError::WriterStopped)?;
        stored.await.map_err(|_| WriteError::WriterStopped)?
    }

    /// Reads the audit trail: up to `limit` records matching `query` after position
    /// `after`. Blocking: run under `spawn_blocking`.
    pub fn audit_records(
        &self,
        query: &AuditQuery,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.store.audit_records(query, after, limit)
    }

    /// The committed change at `revision`, while the change log holds it: a handler reads
    /// back what its change did (who joined and left a customer group in its context).
    pub async fn committed_change(
        &self,
        revision: Revision,
    ) -> Result<Option<crate::engine::ChangeRecord>, StoreError> {
        let store = self.inner.store.clone();
        let before = Revision::new(revision.get().saturating_sub(1));
        // redb is blocking: read off the executor threads.
        let read = tokio::task::spawn_blocking(move || store.changes_after(before, 1)).await;
        let found = read.map_err(|err| StoreError::Storage {
            path: self.inner.store.location().into(),
            message: format!("reading the change log stopped: {err}"),
        })??;
        Ok(found
            .into_iter()
            .next()
            .filter(|record| record.revision == revision))
    }

    /// Where the store is, for messages: the database file, or the database server's
    /// host, port and name.
    pub fn store_location(&self) -> String {
        self.inner.store.location()
    }

    /// The database file, for the store-size metric; `None` for a database server.
    pub fn database_file(&self) -> Option<&Path> {
        self.inner.store.file()
    }
}
