//! The store monitor: a thread that looks at the database file every second, so that a
//! file deleted, moved away or replaced under the running server is noticed even when
//! nobody writes, and that asks the writer to try a failing store again.

use std::{
    sync::{Arc, mpsc as std_mpsc},
    time::Duration,
};

use tokio::sync::mpsc;

use super::{
    store_state::{StoreEvent, StoreState, StoreStatus},
    writer::Work,
};
use crate::store::Store;

/// How often the file is looked at and a failing store tried again: a lost file is noticed
/// within about this long, and a cleared fault ends as soon.
pub(super) const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Stops the monitor when dropped: its thread waits on the other end of this channel
/// between checks and ends as soon as it disconnects.
#[derive(Debug)]
pub(super) struct StopMonitor {
    // Never sent on; held only to be dropped.
    _stop: std_mpsc::Sender<()>,
}

/// Starts the monitor thread.
pub(super) fn spawn(
    store: Store,
    status: Arc<StoreStatus>,
    // Weak: the writer ends when the app's senders are gone; the monitor must not keep it.
    writer: mpsc::WeakSender<Work>,
) -> std::io::Result<(StopMonitor, std::thread::JoinHandle<()>)> {
    let (stop, stopped) = std_mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("authzd-store-monitor".into())
        .spawn(move || {
            let mut unverifiable = false;
            while let Err(std_mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(CHECK_INTERVAL)
            {
                check(&store, &status, &mut unverifiable);
                if status.state() == StoreState::Failing && status.request_recovery() {
                    let sent = writer
                        .upgrade()
                        .is_some_and(|writer| writer.try_send(Work::Recover).is_ok());
                    if !sent {
                        // The writer's queue is full (it answers those changes at once
                        // while failing): nudge again on the next tick.
                        status.recovery_started();
                    }
                }
            }
        })?;
    Ok((StopMonitor { _stop: stop }, thread))
}

/// Looks at the file once. A path that cannot be examined is reported once, not every
/// second, and changes nothing: it proves neither loss nor presence.
fn check(store: &Store, status: &StoreStatus, unverifiable: &mut bool) {
    if status.state() == StoreState::FileLost {
        return;
    }
    match store.check_file() {
        Ok(()) => *unverifiable = false,
        Err(err) if err.is_file_lost() => {
            if status
                .record(StoreEvent::FileLost, &err.to_string())
                .is_some()
            {
                tracing::error!(
                    database = %store.location(),
                    %err,
                    "database file lost under the running server; writes are refused until restart"
                );
            }
        }
        Err(err) => {
            if !std::mem::replace(unverifiable, true) {
                tracing::warn!(%err, "cannot check that the database file is still in place");
            }
        }
    }
}
