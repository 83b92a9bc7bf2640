//! Fields that codec version 4 added to stored values: the revision of each resource's
//! last change in snapshots, and the synced Administrators members a change moved in
//! change contexts.
//!
//! Postcard reads a struct's fields in order with nothing between them, so a field that an
//! older layout does not have can be skipped by not reading it: while [`before_v4`]
//! decodes, every such field reads nothing and takes its default (revision 0: "changed
//! before it was kept"; no synced changes). A flag for the one decode, instead of a copy
//! of every type per layout: the layouts differ in these fields only.

use std::cell::Cell;

use serde::{Deserialize, Deserializer};

thread_local! {
    /// Whether the value being decoded on this thread predates version 4.
    static BEFORE_V4: Cell<bool> = const { Cell::new(false) };
}

/// Runs `decode`, which decodes a layout older than codec version 4, with every field that
/// version 4 added left at its default.
pub fn before_v4<T>(decode: impl FnOnce() -> T) -> T {
    /// Restores the flag also when `decode` unwinds.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            BEFORE_V4.set(self.0);
        }
    }
    let _restore = Restore(BEFORE_V4.replace(true));
    decode()
}

/// Decodes a field added in version 4: its default, reading nothing, inside
/// [`before_v4`].
pub(crate) fn added_in_v4<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    if BEFORE_V4.get() {
        Ok(T::default())
    } else {
        T::deserialize(deserializer)
    }
}
