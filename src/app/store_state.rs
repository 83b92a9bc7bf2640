//! Whether the store takes writes, shared by the writer, the store monitor, the API (which
//! refuses audited reads it could never record) and the health reporter.

use std::sync::{
    Mutex, PoisonError,
    atomic::{AtomicBool, Ordering},
};

use tokio::sync::watch;

/// Whether the store takes writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreState {
    /// Commits succeed.
    Writable,
    /// A commit failed (a full disk, a file that cannot be written): writes are refused
    /// while the writer tries the store again every second, reopening the database if it
    /// must. Audit records wait in memory meanwhile.
    Failing,
    /// The file at the database's path is not the one the server writes (deleted, moved
    /// away or replaced), or holds fewer changes than were acknowledged: anything written
    /// now would be lost, so writes are refused until the server restarts.
    FileLost,
}

/// What happened to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StoreEvent {
    /// A commit failed.
    CommitFailed,
    /// A commit after a failure proved the store writable again.
    Recovered,
    /// The file at the database's path is not the one written.
    FileLost,
}

impl StoreState {
    /// The state after `event`. Losing the file is final: the file written is no longer
    /// the one on disk, and only a restart opens the file that is.
    pub(super) fn after(self, event: StoreEvent) -> Self {
        match (self, event) {
            (Self::FileLost, _) | (_, StoreEvent::FileLost) => Self::FileLost,
            (_, StoreEvent::CommitFailed) => Self::Failing,
            (_, StoreEvent::Recovered) => Self::Writable,
        }
    }
}

/// The store's state and why it is not writable.
#[derive(Debug)]
pub(super) struct StoreStatus {
    // watch: health follows every change; the writer and the monitor send, readers borrow.
    state: watch::Sender<StoreState>,
    // Mutex: written only when the state changes or a retry fails differently; read for
    // each refusal's message.
    cause: Mutex<String>,
    /// Set while a `Recover` nudge is on its way to the writer: at most one at a time,
    /// however long a retry takes.
    pub(super) recovery_requested: AtomicBool,
}

impl StoreStatus {
    pub(super) fn new() -> (Self, watch::Receiver<StoreState>) {
        let (state, receiver) = watch::channel(StoreState::Writable);
        let status = Self {
            state,
            cause: Mutex::new(String::new()),
            recovery_requested: AtomicBool::new(false),
        };
        (status, receiver)
    }

    /// The state now.
    pub(super) fn state(&self) -> StoreState {
        *self.state.borrow()
    }

    /// Why the store is not writable (empty while it is).
    pub(super) fn cause(&self) -> String {
        self.cause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records `event` with its cause; the state it leads to if that is a change.
    pub(super) fn record(&self, event: StoreEvent, cause: &str) -> Option<StoreState> {
        // Held while the state changes: whoever sees the new state and then asks for the
        // cause waits for it instead of reading the old (empty) one.
        let mut kept = self.cause.lock().unwrap_or_else(PoisonError::into_inner);
        let mut changed = None;
        self.state.send_if_modified(|state| {
            let next = state.after(event);
            if next == *state {
                return false;
            }
            *state = next;
            changed = Some(next);
            true
        });
        // A lost file stays the cause: nothing later makes the store writable again.
        if changed.is_some() || self.state() == StoreState::Failing {
            cause.clone_into(&mut kept);
        }
        changed
    }

    /// Marks a `Recover` nudge as sent; `false` if one is already waiting.
    pub(super) fn request_recovery(&self) -> bool {
        !self.recovery_requested.swap(true, Ordering::AcqRel)
    }

    /// Lets the next nudge be sent (the writer is handling this one).
    pub(super) fn recovery_started(&self) {
        self.recovery_requested.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::{StoreEvent as Event, StoreState as State, *};

    #[test]
    fn a_failed_commit_makes_a_writable_store_failing_until_it_recovers() {
        assert_eq!(State::Writable.after(Event::CommitFailed), State::Failing);
        assert_eq!(State::Failing.after(Event::CommitFailed), State::Failing);
        assert_eq!(State::Failing.after(Event::Recovered), State::Writable);
        assert_eq!(State::Writable.after(Event::Recovered), State::Writable);
    }

    #[test]
    fn a_lost_file_is_final() {
        for state in [State::Writable, State::Failing, State::FileLost] {
            assert_eq!(state.after(Event::FileLost), State::FileLost);
        }
        assert_eq!(State::FileLost.after(Event::Recovered), State::FileLost);
        assert_eq!(State::FileLost.after(Event::CommitFailed), State::FileLost);
    }

    #[test]
    fn health_hears_of_changes_only_and_the_cause_of_the_last_failure_is_kept() {
        let (status, mut health) = StoreStatus::new();
        assert_eq!(status.record(Event::Recovered, ""), None);
        assert!(!health.has_changed().unwrap_or(true));
        assert_eq!(
            status.record(Event::CommitFailed, "disk full"),
            Some(State::Failing)
        );
        assert_eq!(*health.borrow_and_update(), State::Failing);
        assert_eq!(status.record(Event::CommitFailed, "still full"), None);
        assert_eq!(status.cause(), "still full");
        assert_eq!(
            status.record(Event::FileLost, "file deleted"),
            Some(State::FileLost)
        );
        assert_eq!(status.record(Event::CommitFailed, "later failure"), None);
        assert_eq!(status.record(Event::Recovered, ""), None);
        assert_eq!(status.cause(), "file deleted");
        assert_eq!(*health.borrow_and_update(), State::FileLost);
    }

    #[test]
    fn one_recovery_nudge_waits_at_a_time() {
        let (status, _health) = StoreStatus::new();
        assert!(status.request_recovery());
        assert!(!status.request_recovery());
        status.recovery_started();
        assert!(status.request_recovery());
    }
}
