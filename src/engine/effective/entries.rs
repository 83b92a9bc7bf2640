//! The entries of an access record as kept, with a summary a check reads first.

use std::{ops::Deref, sync::Arc};

use super::{AccessEntry, NodeSlot};
use crate::engine::bit_sets::BitSets;

/// The entries of an access record, with a summary of what they hold where.
///
/// The summary sits in the record itself, which a check has already loaded to find the
/// list, while the list is one more pointer away, elsewhere in memory. Most checks that
/// reach the entries are denials (a user holds sets on a few nodes, seldom on the queried
/// object's ancestry), and the summary answers many of those without that miss (in the
/// benchmark's dataset it leaves a third fewer lists to read): it tells which permissions
/// entries on the whole service hold, which ones entries on objects hold, and which slots
/// (folded into 64 bits) those objects have.
// repr(C): the summary before the pointer, in the order a check reads them (see
// `UserAccess`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct AccessEntries {
    /// Every permission below 64 that some entry on the whole service holds: the union of
    /// their first words.
    service_words: u64,
    /// The same for entries on objects.
    object_words: u64,
    /// Bit `slot % 64` for the slot of every object some entry is on.
    object_slots: u64,
    /// Arc: copying a record (when the shard holding it is copied) copies no entries.
    list: Arc<[AccessEntry]>,
}

/// The bit that stands for `slot` in a set of slots folded into 64 bits.
pub(crate) fn slot_bit(slot: u32) -> u64 {
    1 << (slot % 64)
}

impl AccessEntries {
    /// Whether some entry may give permission `bit` on an object whose ancestry holds the
    /// slots in `ancestry_slots` (folded by [`slot_bit`]), or on the whole service for
    /// `None`: false only if none does, so that a check reads the entries only then.
    pub(crate) fn may_give(&self, bit: u16, ancestry_slots: Option<u64>) -> bool {
        if bit >= 64 {
            // Past the first word only the entries' sets tell.
            return !self.list.is_empty();
        }
        let permission = 1 << bit;
        self.service_words & permission != 0
            || (self.object_words & permission != 0
                && ancestry_slots.is_some_and(|slots| self.object_slots & slots != 0))
    }
}

impl Deref for AccessEntries {
    type Target = [AccessEntry];

    fn deref(&self) -> &[AccessEntry] {
        &self.list
    }
}

impl AccessEntries {
    /// The entries with their summary, their sets read from the service's table `sets`.
    /// Moves the entries over in one copy.
    pub(crate) fn new(entries: Vec<AccessEntry>, sets: &BitSets) -> Self {
        let list: Arc<[AccessEntry]> = entries.into();
        let (mut service_words, mut object_words, mut object_slots) = (0, 0, 0);
        for entry in list.iter() {
            let first_word = sets.first_word(entry.bits);
            match entry.node() {
                NodeSlot::Service => service_words |= first_word,
                NodeSlot::Object(slot) => {
                    object_words |= first_word;
                    object_slots |= slot_bit(slot);
                }
            }
        }
        Self {
            service_words,
            object_words,
            object_slots,
            list,
        }
    }
}
