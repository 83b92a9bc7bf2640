//! The revision of each resource's last change, which codec version 4 stores with the
//! resource and older versions lack.
//!
//! Postcard reads a struct's fields in order with nothing between them, so a field that
//! an older layout does not have can be skipped by not reading it: while
//! [`without_stamps`] decodes, every stamp field reads nothing and is revision 0 ("changed
//! before stamps were kept"). A flag for the one decode, instead of a copy of every
//! resource type per layout: the layouts differ in these fields only.

use std::cell::Cell;

use serde::{Deserialize, Deserializer};

use crate::engine::ids::Revision;

thread_local! {
    /// Whether the value being decoded on this thread predates stamps.
    static UNSTAMPED_LAYOUT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `decode`, which decodes a layout older than codec version 4, with every stamp
/// left at revision 0.
pub fn without_stamps<T>(decode: impl FnOnce() -> T) -> T {
    /// Restores the flag also when `decode` unwinds.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            UNSTAMPED_LAYOUT.set(self.0);
        }
    }
    let _restore = Restore(UNSTAMPED_LAYOUT.replace(true));
    decode()
}

/// Decodes a stamp field: revision 0 without reading anything inside [`without_stamps`].
pub(crate) fn stamp<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Revision, D::Error> {
    if UNSTAMPED_LAYOUT.get() {
        Ok(Revision::ZERO)
    } else {
        Revision::deserialize(deserializer)
    }
}
