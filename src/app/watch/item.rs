//! What a subscriber receives: changes, each shared by every subscriber it goes to with
//! the first wire encoding made of it, and checkpoints.

use std::sync::{Arc, OnceLock};

use crate::engine::{ChangeRecord, Revision};

/// A committed change as the stream hands it out: one allocation shared by every
/// subscriber it goes to. It keeps the first encoding a transport makes of it, so that a
/// change going to a thousand subscribers is encoded once, not a thousand times.
#[derive(Debug)]
pub struct SharedChange {
    pub(super) record: ChangeRecord,
    // OnceLock: the first subscriber to send the change encodes it; the others, on other
    // threads, wait for that encoding or read it.
    encoded: OnceLock<Box<[u8]>>,
}

impl SharedChange {
    /// A committed change, not yet encoded.
    pub fn new(record: ChangeRecord) -> Self {
        Self {
            record,
            encoded: OnceLock::new(),
        }
    }

    /// The change's encoding for the wire: made by `encode` the first time it is asked
    /// for, then shared. The server has one wire encoding of changes, so every caller
    /// passes the same `encode`.
    pub fn encoded(&self, encode: impl FnOnce(&ChangeRecord) -> Vec<u8>) -> &[u8] {
        self.encoded
            .get_or_init(|| encode(&self.record).into_boxed_slice())
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum WatchItem {
    /// A committed change that matches the filter.
    Change(Arc<SharedChange>),
    /// Nothing at or below this revision is still to come.
    Checkpoint(Revision),
}

impl WatchItem {
    /// The revision the item is at: the change's, or the checkpoint's.
    pub(super) fn revision(&self) -> Revision {
        match self {
            Self::Change(change) => change.record.revision,
            Self::Checkpoint(revision) => *revision,
        }
    }
}
