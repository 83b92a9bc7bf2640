//! Why a stream cannot start or had to end, with where its subscriber resumes.

use crate::engine::Revision;

/// Why a stream cannot start or had to end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// The start revision is older than the retained change log.
    #[error(
        "revision {requested} is older than the retained change log: the oldest change kept is revision {oldest}, so resume from revision {} or later",
        oldest.get().saturating_sub(1)
    )]
    TooOld {
        /// The start revision asked for.
        requested: Revision,
        /// The oldest change still in the log.
        oldest: Revision,
    },
    /// The start revision is newer than the server's.
    #[error("revision {requested} is ahead of this server, which is at revision {current}")]
    Ahead {
        /// The start revision asked for.
        requested: Revision,
        /// The server's revision.
        current: Revision,
    },
    /// The subscriber fell behind and was ended; it resumes from `last_delivered`.
    #[error(
        "the subscriber fell behind by more than its buffer and was ended; resume from revision {last_delivered}"
    )]
    TooSlow {
        /// The last revision the subscriber was given (events and checkpoints).
        last_delivered: Revision,
    },
    /// The change log could not be read.
    #[error("the change log could not be read: {0}")]
    Store(String),
    /// The server is shutting down.
    #[error("the server is shutting down; resume from revision {last_delivered}")]
    ShuttingDown {
        /// The last revision the subscriber was given.
        last_delivered: Revision,
    },
}

impl WatchError {
    /// The error with its resume point no earlier than `delivered`: a stream that ends
    /// early may have given its subscriber a checkpoint past the last change it was sent.
    pub(super) fn resuming_after(self, delivered: Revision) -> Self {
        match self {
            Self::TooSlow { last_delivered } => Self::TooSlow {
                last_delivered: last_delivered.max(delivered),
            },
            Self::ShuttingDown { last_delivered } => Self::ShuttingDown {
                last_delivered: last_delivered.max(delivered),
            },
            other => other,
        }
    }
}
