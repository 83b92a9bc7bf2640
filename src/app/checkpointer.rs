//! The checkpointer: writes the published snapshot as a checkpoint every so many changes,
//! then prunes the change log it covers, on its own thread so writers never wait for it.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
    mpsc,
};

use arc_swap::ArcSwap;

use super::Clock;
use crate::{
    engine::Snapshot,
    metrics::names,
    store::{Retention, Store},
};

/// When to checkpoint and what to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Changes between checkpoints.
    pub checkpoint_every: u64,
    /// What the change log keeps.
    pub retention: Retention,
    /// With a shared store: how often the follower looks for other replicas' commits
    /// when no notification comes.
    pub follow_interval: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            checkpoint_every: 10_000,
            retention: Retention {
                max_age_millis: 7 * 24 * 3_600_000,
                min_count: 100_000,
                max_count: 1_000_000,
                audit_max_age_millis: 365 * 24 * 3_600_000,
            },
            follow_interval: std::time::Duration::from_secs(1),
        }
    }
}

/// The writer's side: asks for a checkpoint when enough changes have accumulated.
#[derive(Debug)]
pub(super) struct CheckpointTrigger {
    every: u64,
    // Atomic: the checkpointer thread records what it wrote; the writer reads it.
    last: Arc<AtomicU64>,
    // Capacity 1 and try_send: requests coalesce while a checkpoint is being written.
    requests: mpsc::SyncSender<()>,
}

impl CheckpointTrigger {
    /// Called by the writer after each commit.
    pub(super) fn committed(&self, revision: u64) {
        if revision.saturating_sub(self.last.load(Ordering::Relaxed)) >= self.every {
            let _ = self.requests.try_send(());
        }
    }
}

/// Starts the checkpointer thread; it ends when the trigger is dropped.
pub(super) fn spawn(
    store: Store,
    current: Arc<ArcSwap<Snapshot>>,
    clock: Arc<dyn Clock>,
    options: StoreOptions,
    last_checkpoint: u64,
) -> std::io::Result<(CheckpointTrigger, std::thread::JoinHandle<()>)> {
    let last = Arc::new(AtomicU64::new(last_checkpoint));
    let (requests, receiver) = mpsc::sync_channel(1);
    let thread_last = Arc::clone(&last);
    let thread = std::thread::Builder::new()
        .name("authzd-checkpointer".into())
        .spawn(move || {
            yield_to_serving();
            while receiver.recv().is_ok() {
                let snapshot = current.load_full();
                checkpoint(&store, &snapshot, clock.now(), options.retention);
                thread_last.store(snapshot.revision().get(), Ordering::Relaxed);
            }
        })?;
    Ok((
        CheckpointTrigger {
            every: options.checkpoint_every,
            last,
            requests,
        },
        thread,
    ))
}

/// The checkpointer's nice value. Encoding a large state takes seconds of CPU; at this
/// priority, on a busy machine, the writer and the calls get about nine tenths of the CPU
/// and a checkpoint takes longer, instead of every write waiting behind it. On an idle
/// machine it runs at full speed.
const CHECKPOINTER_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`CHECKPOINTER_NICE`] (Linux, where a
/// thread's nice value is its own; elsewhere it keeps the process's).
fn yield_to_serving() {
    #[cfg(target_os = "linux")]
    if let Err(err) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), CHECKPOINTER_NICE)
    {
        tracing::warn!(%err, "the checkpointer keeps the process's priority");
    }
}

/// Writes one checkpoint and prunes; failures are logged (the change log still holds
/// everything, so nothing is lost, start-up only replays more).
pub(super) fn checkpoint(
    store: &Store,
    snapshot: &Snapshot,
    now: crate::engine::Timestamp,
    retention: Retention,
) {
    let started = std::time::Instant::now();
    match store.write_checkpoint(snapshot) {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(revision = %snapshot.revision(), "another replica checkpoints; skipped");
            return;
        }
        Err(err) => {
            tracing::error!(%err, revision = %snapshot.revision(), "checkpoint failed");
            return;
        }
    }
    let took = started.elapsed();
    match store.prune_changes(retention, now) {
        Ok(pruned) => tracing::info!(
            revision = %snapshot.revision(),
            pruned,
            elapsed_ms = started.elapsed().as_millis(),
            "checkpoint written"
        ),
        Err(err) => tracing::error!(%err, "pruning the change log failed"),
    }
    if let Ok(oldest) = store.oldest_change() {
        record_change_log(oldest, snapshot.revision());
    }
    // Last: a scrape that sees this checkpoint sees the change log it pruned.
    record_checkpoint(snapshot.revision(), took, now);
    match store.prune_audit(now.plus_millis(retention.audit_max_age_millis.saturating_neg())) {
        Ok(0) => {}
        Ok(pruned) => {
            ::metrics::counter!(names::AUDIT_RECORDS_PRUNED).increment(pruned);
            tracing::info!(pruned, "audit records past retention deleted");
        }
        Err(err) => tracing::error!(%err, "pruning the audit trail failed"),
    }
}

/// The checkpoint metrics: how long it took, when, at which revision.
#[expect(
    clippy::cast_precision_loss,
    reason = "gauges are f64; revisions and Unix seconds below 2^53 are exact"
)]
fn record_checkpoint(
    revision: crate::engine::Revision,
    took: std::time::Duration,
    now: crate::engine::Timestamp,
) {
    ::metrics::histogram!(names::CHECKPOINT_DURATION).record(took.as_secs_f64());
    ::metrics::gauge!(names::CHECKPOINT_LAST).set(now.unix_millis() as f64 / 1000.0);
    ::metrics::gauge!(names::CHECKPOINT_REVISION).set(revision.get() as f64);
}

/// The change log's extent after pruning: its oldest revision and how many it holds (the
/// log is gap-free up to the newest).
#[expect(
    clippy::cast_precision_loss,
    reason = "gauges are f64; revisions below 2^53 are exact"
)]
fn record_change_log(oldest: Option<crate::engine::Revision>, newest: crate::engine::Revision) {
    let (oldest, held) = match oldest {
        Some(oldest) => (
            oldest.get(),
            newest.get().saturating_sub(oldest.get()).saturating_add(1),
        ),
        None => (0, 0),
    };
    ::metrics::gauge!(names::CHANGELOG_OLDEST).set(oldest as f64);
    ::metrics::gauge!(names::CHANGELOG_CHANGES).set(held as f64);
}
