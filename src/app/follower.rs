//! The follower of a shared store: wakes the writer to apply what other replicas commit,
//! when the database notifies a commit and every poll interval in case a notification was
//! lost; and marks the store failing when the database cannot be reached, so that health
//! says so even while nobody writes.

use std::{sync::Arc, time::Duration};

use tokio::sync::mpsc;

use super::{
    store_state::{StoreEvent, StoreStatus},
    writer::Work,
};
use crate::{engine::Revision, store::postgres::SharedDatabase};

/// Starts following on the database's runtime; it stops once the writer has gone.
pub(super) fn spawn(
    database: &SharedDatabase,
    poll: Duration,
    status: Arc<StoreStatus>,
    // Weak: the writer ends when the app's senders are gone; the follower must not keep it.
    writer: mpsc::WeakSender<Work>,
    // The revision this replica has published: a notification of it (this replica's own
    // commit, mostly) needs no catching up.
    published: tokio::sync::watch::Receiver<Revision>,
) {
    let location = database.location();
    database.follow(
        poll,
        move |revision| {
            let Some(writer) = writer.upgrade() else {
                return false;
            };
            if revision.is_some_and(|revision| revision <= published.borrow().get()) {
                return true;
            }
            // A full queue means the writer is busy: it catches up before its next group
            // anyway, under the writers' lock.
            let _ = writer.try_send(Work::CatchUp);
            true
        },
        move |err| {
            let cause = err.to_string();
            if status.record(StoreEvent::CommitFailed, &cause).is_some() {
                tracing::error!(
                    database = %location,
                    %cause,
                    "database unreachable: checks are answered from memory, writes are refused until it returns"
                );
            }
        },
    );
}
