//! A subscriber's replay of the change log, from a start revision in the past up to what
//! the dispatcher has handed out, after which it hands the subscriber to the dispatcher.

use std::sync::{Arc, atomic::Ordering};

use tokio::sync::watch;

use super::{
    SharedChange, WatchError, WatchItem,
    hub::{Feed, Handover, WatchHub},
};
use crate::store::{Store, StoreError};

/// Change records read from the log per replay step.
const REPLAY_BATCH: usize = 256;

/// Empty log reads in a row, each followed by finding the dispatcher further on, after
/// which a replay gives up. One is a race (the read began just before a commit was handed
/// out); many mean the log lacks what was handed out.
const EMPTY_READS: usize = 100;

/// A subscriber's replay of the log: a task of its own, because reading the log blocks
/// and the subscriber may read slowly. It holds what it reads, not the app, so that
/// closing the app is not held up by it.
pub(super) struct Replay {
    pub(super) hub: Arc<WatchHub>,
    pub(super) store: Store,
    pub(super) closing: watch::Receiver<bool>,
    pub(super) id: u64,
}

/// Why a replay stopped.
enum Stop {
    /// The subscriber went away.
    Gone,
    /// The stream ends with this error.
    End(WatchError),
}

impl Replay {
    /// Replays the log into the subscriber's buffer until it has read every commit the
    /// dispatcher has handed out, then hands the subscriber to the dispatcher.
    pub(super) async fn run(mut self, mut feed: Feed) {
        let mut empty_reads = 0;
        loop {
            let read = match self.replay_batch(&mut feed).await {
                Ok(read) => read,
                Err(Stop::Gone) => break,
                Err(Stop::End(err)) => {
                    feed.state.end_with(err);
                    break;
                }
            };
            empty_reads = if read == 0 { empty_reads + 1 } else { 0 };
            if read == REPLAY_BATCH {
                continue;
            }
            if empty_reads > EMPTY_READS {
                feed.state.end_with(WatchError::Store(format!(
                    "the change log ends at revision {}, before the newest change handed out",
                    feed.replayed_through
                )));
                break;
            }
            match self.hub.hand_over(self.id, feed) {
                Handover::Done => break,
                Handover::Behind(behind) => feed = behind,
                Handover::Closed(closed) => {
                    closed.state.end_with(closed.shutting_down());
                    break;
                }
            }
        }
        self.hub.replay_ended();
    }

    /// Reads the next batch of the log after what `feed` has replayed and forwards what
    /// matches, waiting for room in the buffer. Returns how many records it read.
    async fn replay_batch(&mut self, feed: &mut Feed) -> Result<usize, Stop> {
        if *self.closing.borrow() {
            return Err(Stop::End(feed.shutting_down()));
        }
        let store = self.store.clone();
        let after = feed.replayed_through;
        let batch = tokio::task::spawn_blocking(move || store.changes_after(after, REPLAY_BATCH))
            .await
            .map_err(|err| Stop::End(WatchError::Store(err.to_string())))?
            .map_err(|err: StoreError| Stop::End(WatchError::Store(err.to_string())))?;
        let read = batch.len();
        for record in batch {
            if record.revision != feed.replayed_through.next() {
                // Pruned while we read: the start is no longer retained.
                return Err(Stop::End(WatchError::TooOld {
                    requested: feed.replayed_through,
                    oldest: record.revision,
                }));
            }
            feed.replayed_through = record.revision;
            if feed.filter.matches(&record) {
                let revision = record.revision;
                let change = WatchItem::Change(Arc::new(SharedChange::new(record)));
                tokio::select! {
                    sent = feed.items.send(change) => sent.map_err(|_| Stop::Gone)?,
                    _ = self.closing.wait_for(|closing| *closing) => {
                        return Err(Stop::End(feed.shutting_down()));
                    }
                }
                feed.last_delivered = revision;
            }
            feed.state
                .replayed
                .store(feed.replayed_through.get(), Ordering::Relaxed);
        }
        Ok(read)
    }
}
