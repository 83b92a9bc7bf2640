//! Fields that codec versions 4 and 5 added to stored values (version 5: the partner
//! level, see `partners`). Version 4 added: the revision of each resource's
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
    /// Whether the value being decoded on this thread predates version 5.
    static BEFORE_V5: Cell<bool> = const { Cell::new(false) };
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
    before_v5(decode)
}

/// Runs `decode`, which decodes a layout older than codec version 5, with every field that
/// version 5 added left at its default (and the partners in their older form).
pub fn before_v5<T>(decode: impl FnOnce() -> T) -> T {
    /// Restores the flag also when `decode` unwinds.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            BEFORE_V5.set(self.0);
        }
    }
    let _restore = Restore(BEFORE_V5.replace(true));
    decode()
}

/// Whether a layout older than version 5 is being decoded on this thread.
pub(crate) fn decoding_before_v5() -> bool {
    BEFORE_V5.get()
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

/// Decodes a field added in version 5: its default, reading nothing, inside
/// [`before_v5`].
pub(crate) fn added_in_v5<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    if BEFORE_V5.get() {
        Ok(T::default())
    } else {
        T::deserialize(deserializer)
    }
}
